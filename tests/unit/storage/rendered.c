/*
 * Tests for what storage keeps so that rendered pages survive a restart:
 * rendered records (codec.c: round trip, the write skipped when the same
 * rendering is stored, the size cap, undecodable records being a miss and
 * never a crash), page records V2 and their head (the body's sha256 stored
 * once, V1 records still read), and the files generations (meta.c: moved in
 * the same transaction as the file-record change, persistent, never for a
 * change pages cannot see, per project: a file of one project leaves the
 * others' alone).
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "sha256.h"
#include "storage.h"
#include "unit/storage/helpers.h"
#include "xalloc.h"

/* ---- rendered records ---- */

static struct stg_rendered_input two_inputs[] = {
    {(char *)"pytorch-cu124", (char *)"torch", (char *)"0123456789abcdef0123456"},
    {(char *)"pypi", (char *)"torch", (char *)"absent"},
};

static struct stg_rendered sample(const char *body, size_t body_len, const char *gz,
                                  size_t gz_len)
{
    struct stg_rendered r = {0};

    r.rendered_at = 1764460800;
    r.fingerprint = (char *)"fp-1";
    r.gen_kind = STG_GEN_LEARNED;
    r.project = (char *)"torch";
    r.files_gen = 7;
    r.stamps = (char *)"pytorch-cu124=0123456789abcdef0123456;pypi=absent;gen=7;";
    r.inputs = two_inputs;
    r.ninputs = 2;
    r.etag = (char *)"\"abc\"";
    r.body = (char *)body;
    r.body_len = body_len;
    r.gz = (char *)gz;
    r.gz_len = gz_len;
    return r;
}

static void assert_same_head(const struct stg_rendered *got, const struct stg_rendered *want)
{
    cr_assert_eq(got->rendered_at, want->rendered_at);
    cr_assert_str_eq(got->fingerprint, want->fingerprint);
    cr_assert_eq(got->gen_kind, want->gen_kind);
    if (want->gen_kind == STG_GEN_NONE)
        cr_assert_null(got->project, "no generation: no project kept");
    else
        cr_assert_str_eq(got->project, want->project);
    cr_assert_eq(got->files_gen, want->files_gen);
    cr_assert_str_eq(got->stamps, want->stamps);
    cr_assert_eq(got->ninputs, want->ninputs);
    for (size_t i = 0; i < want->ninputs; i++) {
        cr_assert_str_eq(got->inputs[i].index, want->inputs[i].index);
        cr_assert_str_eq(got->inputs[i].project, want->inputs[i].project);
        cr_assert_str_eq(got->inputs[i].stamp, want->inputs[i].stamp);
    }
    cr_assert_str_eq(got->etag, want->etag);
    cr_assert_eq(got->body_len, want->body_len);
    cr_assert_eq(got->gz_len, want->gz_len);
}

Test(rendered, round_trip_with_and_without_the_bytes)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    const char body[] = "{\"files\": []}\0binary\xff";
    const char gz[] = "\x1f\x8b\x08\0gz";
    struct stg_rendered in = sample(body, sizeof(body), gz, sizeof(gz));
    struct stg_rendered out;

    cr_assert_eq(stg_rendered_get(s, "cu124\ntorch\n1\n3", true, &out), IMX_ENOTFOUND);
    cr_assert_eq(stg_rendered_put(s, "cu124\ntorch\n1\n3", &in), 0);

    cr_assert_eq(stg_rendered_get(s, "cu124\ntorch\n1\n3", true, &out), 0);
    assert_same_head(&out, &in);
    cr_assert_arr_eq(out.body, body, sizeof(body));
    cr_assert_arr_eq(out.gz, gz, sizeof(gz));
    stg_rendered_release(&out);
    cr_assert_null(out.body);

    /* Without the bytes: every field but them, and their lengths. */
    cr_assert_eq(stg_rendered_get(s, "cu124\ntorch\n1\n3", false, &out), 0);
    assert_same_head(&out, &in);
    cr_assert_null(out.body);
    cr_assert_null(out.gz);
    stg_rendered_release(&out);

    /* No gzip, an empty body, no inputs, no generation (its project ignored): all fine. */
    in = sample("", 0, NULL, 0);
    in.ninputs = 0;
    in.inputs = NULL;
    in.gen_kind = STG_GEN_NONE;
    in.files_gen = 0;
    cr_assert_eq(stg_rendered_put(s, "k2", &in), 0);
    cr_assert_eq(stg_rendered_get(s, "k2", true, &out), 0);
    assert_same_head(&out, &in);
    cr_assert_not_null(out.body);
    cr_assert_null(out.gz);
    stg_rendered_release(&out);

    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, same_rendering_is_written_once)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_rendered in = sample("old bytes", 9, NULL, 0);
    struct stg_rendered out;

    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    /* Same fingerprint, generation and stamps: the bytes are the same; skipped. */
    in.body = (char *)"other bytes";
    in.body_len = 11;
    in.rendered_at++;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EEXIST);
    cr_assert_eq(stg_rendered_get(s, "k", true, &out), 0);
    cr_assert_eq(out.body_len, 9, "nothing was written");
    stg_rendered_release(&out);

    /* Any of the five differs: written. */
    in.stamps = (char *)"pypi=changed;gen=7;";
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    in.files_gen = 8;
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    in.project = (char *)"numpy";
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0, "another project's generation");
    in.gen_kind = STG_GEN_STORED;
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    in.fingerprint = (char *)"fp-2";
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EEXIST);
    cr_assert_eq(stg_rendered_get(s, "k", true, &out), 0);
    cr_assert_eq(out.body_len, 11);
    cr_assert_str_eq(out.fingerprint, "fp-2");
    stg_rendered_release(&out);

    /* A stored record that does not decode is replaced, never kept. */
    cr_assert_eq(stg_put(s, STG_DB_RENDERED, "k", 1, "\x01junk", 5), 0);
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, cap_and_bad_input)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 256ULL << 20, false);
    struct stg_rendered in = sample("b", 1, NULL, 0);
    struct stg_rendered_input many[STG_RENDERED_MAX_INPUTS + 1];
    struct stg_rendered out;
    char *big = xcalloc(1, STG_RENDERED_MAX_BYTES);
    char *longkey = xcalloc(1, STG_MAX_KEY + 2);

    /* The whole record must fit the cap: a body of exactly the cap does not. */
    in.body = big;
    in.body_len = STG_RENDERED_MAX_BYTES;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_ETOOLARGE);
    cr_assert_eq(stg_rendered_get(s, "k", false, &out), IMX_ENOTFOUND, "nothing stored");
    in.body_len = STG_RENDERED_MAX_BYTES / 2;
    in.gz = big;
    in.gz_len = STG_RENDERED_MAX_BYTES / 2;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_ETOOLARGE, "body and gzip count together");
    in.body_len = STG_RENDERED_MAX_BYTES - 4096;
    in.gz = NULL;
    in.gz_len = 0;
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0, "just under the cap fits");
    cr_assert_eq(stg_rendered_get(s, "k", true, &out), 0);
    cr_assert_eq(out.body_len, STG_RENDERED_MAX_BYTES - 4096);
    stg_rendered_release(&out);

    in = sample("b", 1, NULL, 0);
    for (size_t i = 0; i < ARRAY_SIZE(many); i++)
        many[i] = two_inputs[0];
    in.inputs = many;
    in.ninputs = STG_RENDERED_MAX_INPUTS + 1;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL, "too many inputs");
    in.ninputs = STG_RENDERED_MAX_INPUTS;
    in.stamps = (char *)"many";
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0, "the most inputs allowed");

    in = sample("b", 1, NULL, 0);
    in.fingerprint = NULL;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL);
    in = sample("b", 1, NULL, 0);
    in.stamps = NULL;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL);
    in = sample("b", 1, NULL, 0);
    in.etag = NULL;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL);
    in = sample(NULL, 0, NULL, 0);
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL, "no body");
    in = sample("b", 1, NULL, 3);
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL, "gz NULL with a length");
    in = sample("b", 1, NULL, 0);
    in.gen_kind = STG_GEN__N;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL);
    in = sample("b", 1, NULL, 0);
    in.project = NULL;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL, "a generation of no project");
    in = sample("b", 1, NULL, 0);
    many[0].stamp = NULL;
    in.inputs = many;
    in.ninputs = 1;
    cr_assert_eq(stg_rendered_put(s, "k", &in), IMX_EINVAL, "an input without stamp");
    in = sample("b", 1, NULL, 0);
    cr_assert_eq(stg_rendered_put(s, "", &in), IMX_EINVAL);
    memset(longkey, 'k', STG_MAX_KEY + 1);
    cr_assert_eq(stg_rendered_put(s, longkey, &in), IMX_EINVAL);
    cr_assert_eq(stg_rendered_get(s, longkey, true, &out), IMX_EINVAL);
    longkey[STG_MAX_KEY] = '\0';
    cr_assert_eq(stg_rendered_put(s, longkey, &in), 0, "the longest key");

    free(big);
    free(longkey);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, every_truncation_and_extension_is_a_miss)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_rendered in = sample("body", 4, "gz", 2);
    struct stg_rendered out = {.etag = (char *)0x1};
    struct buf raw;
    char *ext;

    buf_init(&raw, BUF_NOMAX);
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    cr_assert_eq(stg_get(s, STG_DB_RENDERED, "k", 1, &raw), 0);
    cr_assert_eq(raw.p[0], 2, "version byte first (V2: with the project)");
    for (size_t n = 0; n < raw.len; n++) {
        cr_assert_eq(stg_rendered_decode(raw.p, n, true, &out), IMX_ECORRUPT, "cut at %zu", n);
        cr_assert_eq(stg_rendered_decode(raw.p, n, false, &out), IMX_ECORRUPT, "cut at %zu", n);
        /* Through the store too: a truncated record is a miss, not a crash. */
        cr_assert_eq(stg_put(s, STG_DB_RENDERED, "t", 1, raw.p, n), 0);
        cr_assert_eq(stg_rendered_get(s, "t", true, &out), IMX_ECORRUPT);
    }
    cr_assert_eq(out.etag, (char *)0x1, "out untouched on failure");
    ext = xmalloc(raw.len + 1);
    memcpy(ext, raw.p, raw.len);
    ext[raw.len] = 0;
    cr_assert_eq(stg_rendered_decode(ext, raw.len + 1, true, &out), IMX_ECORRUPT, "trailing");
    ext[0] = 3;
    cr_assert_eq(stg_rendered_decode(ext, raw.len, true, &out), IMX_ECORRUPT, "version");
    ext[0] = 1;
    cr_assert_eq(stg_rendered_decode(ext, raw.len, true, &out), IMX_ECORRUPT, "V1: no project");
    ext[0] = 2;
    ext[1 + 8 + 4 + 4] = STG_GEN__N; /* gen_kind, after rendered_at and "fp-1" */
    cr_assert_eq(stg_rendered_decode(ext, raw.len, true, &out), IMX_ECORRUPT, "gen kind");
    ext[1 + 8 + 4 + 4] = STG_GEN_NONE;
    cr_assert_eq(stg_rendered_decode(ext, raw.len, true, &out), IMX_ECORRUPT,
                 "a project without a generation");
    free(ext);
    buf_release(&raw);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* A record claiming a huge input count is refused before allocating for it. */
Test(rendered, huge_counts_and_null_fields_are_corrupt)
{
    struct buf b;
    struct stg_rendered out;
    static const uint8_t nul[4] = {0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[4] = {0, 0, 0, 0};
    static const uint8_t le8[8] = {0};

    buf_init(&b, BUF_NOMAX);
    buf_putc(&b, 1);
    buf_append(&b, le8, 8);
    buf_append(&b, "\x02\0\0\0fp", 6);
    buf_putc(&b, 1);
    buf_append(&b, le8, 8);
    buf_append(&b, "\x01\0\0\0s", 5);
    buf_append(&b, "\xff\xff\xff\x7f", 4); /* 2^31 - 1 inputs */
    cr_assert_eq(stg_rendered_decode(b.p, b.len, true, &out), IMX_ECORRUPT);

    /* A NULL etag or a NULL body: corrupt even when the bytes are skipped. */
    b.len -= 4;
    buf_append(&b, zero, 4);
    buf_append(&b, nul, 4);   /* etag NULL */
    buf_append(&b, zero, 4);  /* body "" */
    buf_append(&b, nul, 4);   /* gz NULL */
    cr_assert_eq(stg_rendered_decode(b.p, b.len, false, &out), IMX_ECORRUPT);
    b.len -= 12;
    buf_append(&b, "\x01\0\0\0e", 5);
    buf_append(&b, nul, 4);   /* body NULL */
    buf_append(&b, nul, 4);
    cr_assert_eq(stg_rendered_decode(b.p, b.len, false, &out), IMX_ECORRUPT);
    cr_assert_eq(stg_rendered_decode(b.p, b.len, true, &out), IMX_ECORRUPT);
    b.len -= 8;
    buf_append(&b, zero, 4);
    buf_append(&b, nul, 4);
    cr_assert_eq(stg_rendered_decode(b.p, b.len, true, &out), 0, "the same with a body");
    cr_assert_eq(out.body_len, 0);
    stg_rendered_release(&out);
    buf_release(&b);
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ULL;
}

Test(rendered, random_bytes_never_crash)
{
    uint64_t seed = 0x5eed5eed12345678ULL;
    struct stg_rendered in = sample("body", 4, "gz", 2);
    struct buf good;
    uint8_t bytes[256];

    buf_init(&good, BUF_NOMAX);
    /* Mutations of a valid record get deep into the decoder. */
    cr_assert_eq(stg_rendered_decode("", 0, true, &in), IMX_ECORRUPT);
    in = sample("body", 4, "gz", 2);
    {
        char *dd = th_tmpdir();
        struct stg *s = th_open(dd, 0, false);
        cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
        cr_assert_eq(stg_get(s, STG_DB_RENDERED, "k", 1, &good), 0);
        stg_close(s);
        th_rmrf(dd);
        free(dd);
    }
    cr_assert_leq(good.len, sizeof(bytes));
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = good.len;
        struct stg_rendered out;
        int rc;

        memcpy(bytes, good.p, good.len);
        for (int k = 0; k < 1 + (iter % 4); k++)
            bytes[rng_next(&seed) % n] = (uint8_t)rng_next(&seed);
        if (iter & 1)
            n = (size_t)(rng_next(&seed) % (good.len + 1));
        rc = stg_rendered_decode(bytes, n, (iter & 2) != 0, &out);
        cr_assert(rc == 0 || rc == IMX_ECORRUPT);
        if (rc == 0)
            stg_rendered_release(&out);
    }
    buf_release(&good);
}

/* ---- pages V2 and their head ---- */

/* A V1 page record as the build before codec V2 wrote it: PRESENT, fetched_at 7, url "u", body "old". */
static void v1_page(struct buf *v1)
{
    buf_init(v1, BUF_NOMAX);
    buf_append(v1, "\x01\x01", 2);
    buf_append(v1, "\x07\0\0\0\0\0\0\0", 8);
    buf_append(v1, "\xff\xff\xff\xff\xff\xff\xff\xff\x01\0\0\0u", 13);
    buf_append(v1, "\x03\0\0\0old", 7);
}

Test(rendered, page_head_and_body_sha256)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_page in = {.state = STG_PAGE_PRESENT, .fetched_at = 1234, .url = "u",
                          .body = "the body", .body_len = 8};
    struct stg_page out;
    struct stg_page_head h = {.fetched_at = -1};
    char want[65];
    struct buf v1;

    sha256_hex("the body", 8, want);
    in.body_sha256[0] = 'x'; /* ignored: storage hashes the body itself */
    cr_assert_eq(stg_page_put(s, "pypi", "demo", &in), 0);
    cr_assert_eq(stg_page_get(s, "pypi", "demo", &out), 0);
    cr_assert_str_eq(out.body_sha256, want);
    stg_page_release(&out);
    cr_assert_eq(stg_page_head(s, "pypi", "demo", &h), 0);
    cr_assert_eq(h.state, STG_PAGE_PRESENT);
    cr_assert_eq(h.fetched_at, 1234);
    cr_assert_str_eq(h.body_sha256, want);

    /* An absent page: no body, the hash of nothing. */
    in = (struct stg_page){.state = STG_PAGE_ABSENT, .fetched_at = 99};
    cr_assert_eq(stg_page_put(s, "pypi", "gone", &in), 0);
    cr_assert_eq(stg_page_head(s, "pypi", "gone", &h), 0);
    cr_assert_eq(h.state, STG_PAGE_ABSENT);
    sha256_hex("", 0, want);
    cr_assert_str_eq(h.body_sha256, want);
    cr_assert_eq(stg_page_head(s, "pypi", "nope", &h), IMX_ENOTFOUND);

    /* A V1 record (written by the previous build) is read, its body hashed on read. */
    v1_page(&v1);
    cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nold", 8, v1.p, v1.len), 0);
    sha256_hex("old", 3, want);
    cr_assert_eq(stg_page_head(s, "pypi", "old", &h), 0);
    cr_assert_eq(h.fetched_at, 7);
    cr_assert_str_eq(h.body_sha256, want);
    cr_assert_eq(stg_page_get(s, "pypi", "old", &out), 0);
    cr_assert_str_eq(out.body_sha256, want);
    cr_assert_eq(out.body_len, 3);
    stg_page_release(&out);

    /* A V2 record with a malformed sha256 is corrupt, head and all. */
    v1.p[0] = 2;
    buf_append(&v1, "\x02\0\0\0ab", 6);
    cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nbad", 8, v1.p, v1.len), 0);
    h.fetched_at = -1;
    cr_assert_eq(stg_page_head(s, "pypi", "bad", &h), IMX_ECORRUPT);
    cr_assert_eq(h.fetched_at, -1, "out untouched on failure");
    cr_assert_eq(stg_page_get(s, "pypi", "bad", &out), IMX_ECORRUPT);
    cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nbad", 8, "\x02", 1), 0);
    cr_assert_eq(stg_page_head(s, "pypi", "bad", &h), IMX_ECORRUPT);
    buf_release(&v1);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* A revalidation's reads and write: the record without its body, and a new fetched_at only. */
Test(rendered, page_meta_and_touch)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_page in = {.state = STG_PAGE_PRESENT, .fetched_at = 1234, .etag = "\"e1\"",
                          .last_modified = "lm", .url = "u", .body = "the body", .body_len = 8};
    struct stg_page out;
    struct stg_page_head h;
    struct buf before, after, v1;
    char want[65];
    char other[65];

    buf_init(&before, BUF_NOMAX);
    buf_init(&after, BUF_NOMAX);
    sha256_hex("the body", 8, want);
    sha256_hex("another body", 12, other);
    cr_assert_eq(stg_page_put(s, "pypi", "demo", &in), 0);
    cr_assert_eq(stg_page_get_meta(s, "pypi", "demo", &out), 0);
    cr_assert_eq(out.state, STG_PAGE_PRESENT);
    cr_assert_eq(out.fetched_at, 1234);
    cr_assert_str_eq(out.etag, "\"e1\"");
    cr_assert_str_eq(out.last_modified, "lm");
    cr_assert_str_eq(out.url, "u");
    cr_assert_null(out.body);
    cr_assert_eq(out.body_len, 0);
    cr_assert_str_eq(out.body_sha256, want);
    stg_page_release(&out);
    cr_assert_eq(stg_page_get_meta(s, "pypi", "nope", &out), IMX_ENOTFOUND);

    /* Touch: only bytes 2-9 (fetched_at) of the record change. */
    cr_assert_eq(stg_get(s, STG_DB_PAGES, "pypi\ndemo", 9, &before), 0);
    cr_assert_eq(stg_page_touch(s, "pypi", "demo", want, 5678), 0);
    cr_assert_eq(stg_get(s, STG_DB_PAGES, "pypi\ndemo", 9, &after), 0);
    cr_assert_eq(after.len, before.len);
    cr_assert_arr_eq(after.p, before.p, 2);
    cr_assert_arr_eq(after.p + 10, before.p + 10, before.len - 10);
    cr_assert_eq(stg_page_get(s, "pypi", "demo", &out), 0);
    cr_assert_eq(out.fetched_at, 5678);
    cr_assert_eq(out.body_len, 8);
    cr_assert_arr_eq(out.body, "the body", 8);
    cr_assert_str_eq(out.etag, "\"e1\"");
    cr_assert_str_eq(out.body_sha256, want);
    stg_page_release(&out);

    /* Not that page any more, or none: left as it is. */
    cr_assert_eq(stg_page_touch(s, "pypi", "demo", other, 9999), IMX_ENOTFOUND);
    cr_assert_eq(stg_page_head(s, "pypi", "demo", &h), 0);
    cr_assert_eq(h.fetched_at, 5678);
    in = (struct stg_page){.state = STG_PAGE_ABSENT, .fetched_at = 99};
    cr_assert_eq(stg_page_put(s, "pypi", "gone", &in), 0);
    sha256_hex("", 0, other);
    cr_assert_eq(stg_page_touch(s, "pypi", "gone", other, 9999), IMX_ENOTFOUND, "absent");
    cr_assert_eq(stg_page_head(s, "pypi", "gone", &h), 0);
    cr_assert_eq(h.fetched_at, 99);
    cr_assert_eq(stg_page_touch(s, "pypi", "nope", want, 9999), IMX_ENOTFOUND);
    cr_assert_eq(stg_page_touch(s, "py\npi", "demo", want, 9999), IMX_EINVAL);

    /* A V1 record (no stored sha256) is touched and re-encoded as V2. */
    v1_page(&v1);
    cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nold", 8, v1.p, v1.len), 0);
    sha256_hex("old", 3, want);
    cr_assert_eq(stg_page_get_meta(s, "pypi", "old", &out), 0);
    cr_assert_str_eq(out.body_sha256, want, "V1: hashed where it lies");
    cr_assert_null(out.body);
    stg_page_release(&out);
    cr_assert_eq(stg_page_touch(s, "pypi", "old", want, 8), 0);
    buf_reset(&after);
    cr_assert_eq(stg_get(s, STG_DB_PAGES, "pypi\nold", 8, &after), 0);
    cr_assert_eq(after.p[0], 2);
    cr_assert_eq(stg_page_get(s, "pypi", "old", &out), 0);
    cr_assert_eq(out.fetched_at, 8);
    cr_assert_str_eq(out.body_sha256, want);
    cr_assert_str_eq(out.url, "u");
    cr_assert_eq(out.body_len, 3);
    cr_assert_arr_eq(out.body, "old", 3);
    stg_page_release(&out);

    /* A corrupt record (here: every truncation of a good one) is reported, not rewritten. */
    for (size_t n = 0; n < before.len; n++) {
        cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nbad", 8, before.p, n), 0);
        cr_assert_eq(stg_page_get_meta(s, "pypi", "bad", &out), IMX_ECORRUPT, "cut at %zu", n);
        cr_assert_eq(stg_page_touch(s, "pypi", "bad", want, 9), IMX_ECORRUPT, "cut at %zu", n);
    }
    buf_release(&v1);
    buf_release(&before);
    buf_release(&after);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* ---- the schema version ---- */

Test(rendered, older_schema_is_raised_by_a_writable_open_only)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct buf b;

    buf_init(&b, 64);
    cr_assert_eq(stg_put(s, STG_DB_META, "schema_version", 14, "1", 1), 0);
    stg_close(s);
    s = th_open(d, 0, true);
    cr_assert_eq(stg_get(s, STG_DB_META, "schema_version", 14, &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "1", "a read-only open changes nothing");
    stg_close(s);
    s = th_open(d, 0, false);
    cr_assert_eq(stg_get(s, STG_DB_META, "schema_version", 14, &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "3");
    buf_release(&b);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* ---- files generations ---- */

/* A file record of `project` (NULL: none, as records written before schema 3). */
static void file_put_in(struct stg *s, const char *key, const char *project,
                        const char *expected, const char *sha, const char *md_expected,
                        const char *md_sha)
{
    struct stg_file f = {0};

    f.key = (char *)key;
    f.index = (char *)"pypi";
    f.url = (char *)"https://up.example/x-1.0-py3-none-any.whl";
    f.filename = (char *)"x-1.0-py3-none-any.whl";
    f.expected_sha256 = (char *)expected;
    f.sha256 = (char *)sha;
    f.size = -1;
    f.metadata_expected_sha256 = (char *)md_expected;
    f.metadata_sha256 = (char *)md_sha;
    f.project = (char *)project;
    cr_assert_eq(stg_file_put(s, &f), 0);
}

static void file_put(struct stg *s, const char *key, const char *expected, const char *sha,
                     const char *md_expected, const char *md_sha)
{
    file_put_in(s, key, NULL, expected, sha, md_expected, md_sha);
}

/* Records of unknown project (file_put) move every project's: "x" stands for any. */
#define GEN(s, g) stg_files_gen((s), STG_GEN_##g, "x")

static void assert_gens(struct stg *s, uint64_t learned, uint64_t stored, const char *what)
{
    cr_assert_eq(GEN(s, LEARNED), learned, "%s: learned %llu", what,
                 (unsigned long long)GEN(s, LEARNED));
    cr_assert_eq(GEN(s, STORED), stored, "%s: stored %llu", what,
                 (unsigned long long)GEN(s, STORED));
    cr_assert_eq(GEN(s, NONE), 0);
}

Test(rendered, files_generations_move_with_what_pages_show)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file many[2] = {{0}};
    struct buf v;

    assert_gens(s, 0, 0, "new store");
    /* Registered from a page: no digest learned, nothing moves. */
    file_put(s, "adv", "aaa", NULL, "mmm", NULL);
    file_put(s, "bare", NULL, NULL, NULL, NULL);
    assert_gens(s, 0, 0, "registered");
    /* Stored bytes of a file whose page gave the sha256: offline pages change only. */
    file_put(s, "adv", "aaa", "aaa", "mmm", NULL);
    assert_gens(s, 0, 1, "advertised sha256 stored");
    file_put(s, "adv", "aaa", "aaa", "mmm", "mmm");
    assert_gens(s, 0, 2, "advertised metadata stored");
    /* A sha256 the page did not give: online pages show it. */
    file_put(s, "bare", NULL, "bbb", NULL, NULL);
    assert_gens(s, 1, 3, "computed sha256");
    file_put(s, "bare", NULL, "bbb", NULL, "ccc");
    assert_gens(s, 2, 4, "synthesized metadata");
    /* Rewriting the same digests, touching: nothing. */
    file_put(s, "bare", NULL, "bbb", NULL, "ccc");
    cr_assert_eq(stg_file_touch(s, "bare", 1000), 0);
    assert_gens(s, 2, 4, "same digests");
    /* A page that now advertises what was computed: the digests stay, nothing moves. */
    many[0].key = (char *)"bare";
    many[0].index = (char *)"pypi";
    many[0].url = (char *)"u";
    many[0].filename = (char *)"x-1.0-py3-none-any.whl";
    many[0].expected_sha256 = (char *)"bbb";
    many[0].size = -1;
    many[1] = many[0];
    many[1].key = (char *)"new";
    many[1].expected_sha256 = NULL;
    cr_assert_eq(stg_file_put_many(s, many, 2), 0);
    assert_gens(s, 2, 4, "digests kept when the page advertises them");
    /* Deleting a record with a digest; deleting one without. */
    cr_assert_eq(stg_del(s, STG_DB_FILES, "new", 3), 0);
    assert_gens(s, 2, 4, "deleted a bare record");
    cr_assert_eq(stg_del(s, STG_DB_FILES, "adv", 3), 0);
    assert_gens(s, 2, 5, "deleted a stored advertised file");
    cr_assert_eq(stg_del(s, STG_DB_FILES, "adv", 3), IMX_ENOTFOUND);
    /* A value that does not decode counts as any change. */
    cr_assert_eq(stg_put(s, STG_DB_FILES, "junk", 4, "\x09", 1), 0);
    assert_gens(s, 3, 6, "junk written");
    /* Other databases never move them. */
    cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nx", 6, "\x09", 1), 0);
    assert_gens(s, 3, 6, "a page");

    /* Persistent: a new open, read-write or read-only, starts from the stored values. */
    stg_close(s);
    s = th_open(d, 0, true);
    assert_gens(s, 3, 6, "read-only reopen");
    stg_close(s);
    s = th_open(d, 0, false);
    assert_gens(s, 3, 6, "reopen");
    buf_init(&v, 64);
    cr_assert_eq(stg_get(s, STG_DB_META, "files_gen", 9, &v), 0);
    cr_assert_eq(v.len, 16);
    buf_release(&v);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, a_failed_write_moves_nothing)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file f[2] = {{0}};

    f[0].key = (char *)"a";
    f[0].sha256 = (char *)"aaa";
    f[0].size = -1;
    f[1].key = NULL; /* refused: the whole batch is aborted */
    cr_assert_eq(stg_file_put_many(s, f, 2), IMX_EINVAL);
    assert_gens(s, 0, 0, "aborted batch");
    stg_close(s);
    s = th_open(d, 0, false);
    assert_gens(s, 0, 0, "aborted batch, reopened");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, unreadable_generations_drop_renderings)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_rendered in = sample("b", 1, NULL, 0);
    struct stg_rendered out;
    struct stg_stats st;

    file_put(s, "k", NULL, "aaa", NULL, NULL);
    cr_assert_eq(stg_rendered_put(s, "r", &in), 0);
    cr_assert_eq(stg_put(s, STG_DB_META, "files_gen", 9, "short", 5), 0);
    stg_close(s);
    s = th_open(d, 0, true);
    assert_gens(s, 0, 0, "read-only: zeros");
    cr_assert_eq(stg_rendered_get(s, "r", false, &out), 0, "read-only drops nothing");
    stg_rendered_release(&out);
    stg_close(s);
    s = th_open(d, 0, false);
    assert_gens(s, 0, 0, "reset");
    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.rendered, 0, "no rendering can be trusted against new counters");
    file_put(s, "k", NULL, "bbb", NULL, NULL);
    assert_gens(s, 1, 1, "counting again");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* ---- files generations per project ---- */

/* The projects below land in different buckets: what is asserted of one is about it alone. */
static void check_buckets(void)
{
    static const char *const names[] = {"numpy", "torch", "jinja2", "six"};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        for (size_t j = i + 1; j < ARRAY_SIZE(names); j++)
            cr_assert_neq(th_bucket_of(names[i]), th_bucket_of(names[j]), "%s and %s share a bucket",
                          names[i], names[j]);
    }
}

#define PGEN(s, g, p) stg_files_gen((s), STG_GEN_##g, (p))

static void assert_pgens(struct stg *s, const char *project, uint64_t learned, uint64_t stored,
                         const char *what)
{
    cr_assert_eq(PGEN(s, LEARNED, project), learned, "%s: %s learned %llu", what, project,
                 (unsigned long long)PGEN(s, LEARNED, project));
    cr_assert_eq(PGEN(s, STORED, project), stored, "%s: %s stored %llu", what, project,
                 (unsigned long long)PGEN(s, STORED, project));
    cr_assert_eq(PGEN(s, NONE, project), 0);
}

static void pfile_put(struct stg *s, const char *key, const char *project, const char *expected,
                      const char *sha, const char *md_sha)
{
    file_put_in(s, key, project, expected, sha, NULL, md_sha);
}

Test(rendered, a_file_moves_its_projects_generations_only)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);

    check_buckets();
    pfile_put(s, "n1", "numpy", NULL, NULL, NULL);
    pfile_put(s, "t1", "torch", "ttt", NULL, NULL);
    assert_pgens(s, "numpy", 0, 0, "registered");
    /* numpy's wheel downloaded (a sha256 its page did not give), then its metadata read. */
    pfile_put(s, "n1", "numpy", NULL, "nnn", NULL);
    assert_pgens(s, "numpy", 1, 1, "numpy stored");
    assert_pgens(s, "torch", 0, 0, "numpy stored");
    assert_pgens(s, "jinja2", 0, 0, "numpy stored");
    pfile_put(s, "n1", "numpy", NULL, "nnn", "mmm");
    assert_pgens(s, "numpy", 2, 2, "numpy metadata");
    assert_pgens(s, "torch", 0, 0, "numpy metadata");
    /* torch's advertised file stored: offline pages of torch only. */
    pfile_put(s, "t1", "torch", "ttt", "ttt", NULL);
    assert_pgens(s, "torch", 0, 1, "torch stored");
    assert_pgens(s, "numpy", 2, 2, "torch stored");
    /* Deleted, evicted (stg__update via touch does not count: no digest moves). */
    cr_assert_eq(stg_file_touch(s, "t1", 5), 0);
    assert_pgens(s, "torch", 0, 1, "touched");
    cr_assert_eq(stg_del(s, STG_DB_FILES, "t1", 2), 0);
    assert_pgens(s, "torch", 0, 2, "torch deleted");
    assert_pgens(s, "numpy", 2, 2, "torch deleted");
    /* The empty name is nobody's bucket: a NULL project reads as "". */
    cr_assert_eq(PGEN(s, LEARNED, NULL), PGEN(s, LEARNED, ""));
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, a_file_of_unknown_project_moves_every_projects)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file f = {.key = "old", .url = "u", .size = -1, .project = "six"};
    /* A V1 file record (schema 2): no project field. */
    static const char v1[] = "\x01"
                             "\x03\0\0\0old" "\x04\0\0\0pypi" "\x01\0\0\0u" "\x05\0\0\0a.whl"
                             "\xff\xff\xff\xff" "\x03\0\0\0abc"
                             "\x05\0\0\0\0\0\0\0" "\x05\0\0\0\0\0\0\0"
                             "\xff\xff\xff\xff" "\xff\xff\xff\xff";
    struct stg_file out;

    check_buckets();
    pfile_put(s, "n1", "numpy", NULL, "nnn", NULL);
    assert_pgens(s, "numpy", 1, 1, "numpy");
    /* Written by this build with no project: everyone's moves. */
    pfile_put(s, "anon", NULL, NULL, "aaa", NULL);
    assert_pgens(s, "numpy", 2, 2, "anonymous");
    assert_pgens(s, "torch", 1, 1, "anonymous");
    assert_pgens(s, "jinja2", 1, 1, "anonymous");
    /* "" (several projects list it): the same. */
    pfile_put(s, "shared", "", NULL, "sss", NULL);
    assert_pgens(s, "numpy", 3, 3, "shared");
    assert_pgens(s, "torch", 2, 2, "shared");

    /* A record of the previous build decodes with no project, and moves everyone's. */
    cr_assert_eq(stg_put(s, STG_DB_FILES, "old", 3, v1, sizeof(v1) - 1), 0);
    assert_pgens(s, "torch", 3, 3, "a V1 record with a sha256 inserted");
    cr_assert_eq(stg_file_get(s, "old", &out), 0);
    cr_assert_null(out.project);
    cr_assert_str_eq(out.sha256, "abc");
    stg_file_release(&out);
    /* Its page registers it again: it learns its project; no digest moved, nothing moves. */
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    assert_pgens(s, "torch", 3, 3, "project learned");
    assert_pgens(s, "six", 3, 3, "project learned");
    cr_assert_eq(stg_file_get(s, "old", &out), 0);
    cr_assert_str_eq(out.project, "six");
    stg_file_release(&out);
    /* From then on, six's only. */
    f.expected_sha256 = (char *)"zzz"; /* contradicts "abc": dropped */
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    assert_pgens(s, "six", 4, 4, "six's digest dropped");
    assert_pgens(s, "torch", 3, 3, "six's digest dropped");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, registering_under_another_project_moves_both)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file f = {.key = "k", .url = "u", .expected_sha256 = (char *)"aaa", .size = -1,
                         .project = "numpy"};
    struct stg_file out;

    check_buckets();
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    pfile_put(s, "k", "numpy", "aaa", "aaa", NULL); /* stored: offline pages of numpy */
    assert_pgens(s, "numpy", 0, 1, "stored");
    assert_pgens(s, "torch", 0, 0, "stored");
    /* torch's page lists the same file now: no digest changes, yet both move, all kinds. */
    f.project = "torch";
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "", "listed by several projects");
    cr_assert_str_eq(out.sha256, "aaa");
    stg_file_release(&out);
    cr_assert_geq(PGEN(s, LEARNED, "numpy"), 1, "numpy moved");
    cr_assert_geq(PGEN(s, STORED, "numpy"), 2);
    cr_assert_geq(PGEN(s, LEARNED, "torch"), 1, "torch moved");
    cr_assert_geq(PGEN(s, STORED, "torch"), 1);
    /* ... and from then on a change of it moves every project's (torch's page shows it too). */
    {
        uint64_t j = PGEN(s, STORED, "jinja2"), t = PGEN(s, STORED, "torch");
        cr_assert_eq(stg_del(s, STG_DB_FILES, "k", 1), 0);
        cr_assert_eq(PGEN(s, STORED, "jinja2"), j + 1);
        cr_assert_eq(PGEN(s, STORED, "torch"), t + 1);
    }

    /* stg_file_put naming another project: both move too, and only they. */
    pfile_put(s, "k2", "numpy", NULL, NULL, NULL);
    {
        uint64_t n = PGEN(s, LEARNED, "numpy"), t = PGEN(s, LEARNED, "torch");
        uint64_t j = PGEN(s, LEARNED, "jinja2");
        pfile_put(s, "k2", "torch", NULL, NULL, NULL);
        cr_assert_eq(PGEN(s, LEARNED, "numpy"), n + 1);
        cr_assert_eq(PGEN(s, LEARNED, "torch"), t + 1);
        cr_assert_eq(PGEN(s, LEARNED, "jinja2"), j);
    }
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, per_project_generations_survive_a_reopen)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct buf v;
    char key[32];

    check_buckets();
    pfile_put(s, "n1", "numpy", NULL, "nnn", NULL);
    pfile_put(s, "n1", "numpy", NULL, "nnn", "mmm");
    pfile_put(s, "t1", "torch", "ttt", "ttt", NULL);
    pfile_put(s, "anon", NULL, NULL, "aaa", NULL);
    assert_pgens(s, "numpy", 3, 3, "before");
    assert_pgens(s, "torch", 1, 2, "before");
    assert_pgens(s, "jinja2", 1, 1, "before");

    /* One small record per bucket that moved, beside the shared pair. */
    buf_init(&v, 64);
    snprintf(key, sizeof(key), "files_gen/%u", th_bucket_of("numpy"));
    cr_assert_eq(stg_get(s, STG_DB_META, key, strlen(key), &v), 0);
    cr_assert_eq(v.len, 16);
    snprintf(key, sizeof(key), "files_gen/%u", th_bucket_of("jinja2"));
    cr_assert_eq(stg_get(s, STG_DB_META, key, strlen(key), &v), IMX_ENOTFOUND,
                 "a bucket that never moved has no record");
    buf_release(&v);

    stg_close(s);
    s = th_open(d, 0, true);
    assert_pgens(s, "numpy", 3, 3, "read-only reopen");
    assert_pgens(s, "torch", 1, 2, "read-only reopen");
    assert_pgens(s, "jinja2", 1, 1, "read-only reopen");
    stg_close(s);
    s = th_open(d, 0, false);
    assert_pgens(s, "numpy", 3, 3, "reopen");
    assert_pgens(s, "torch", 1, 2, "reopen");
    assert_pgens(s, "jinja2", 1, 1, "reopen");
    /* ... and go on from there. */
    pfile_put(s, "t1", "torch", "ttt", NULL, NULL);
    assert_pgens(s, "torch", 1, 3, "after reopen");
    assert_pgens(s, "numpy", 3, 3, "after reopen");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, a_batch_of_many_projects_moves_everyones)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file f[40] = {{0}};
    char keys[40][8], names[40][16];

    check_buckets();
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        snprintf(names[i], sizeof(names[i]), "proj-%d", i);
        f[i].key = keys[i];
        f[i].url = (char *)"u";
        f[i].size = -1;
        f[i].sha256 = (char *)"abc";
        f[i].project = names[i];
    }
    /* Too many buckets for one write to move one by one: every project's moves instead. */
    cr_assert_eq(stg_file_put_many(s, f, 40), 0);
    for (int i = 0; i < 40; i++)
        cr_assert_geq(PGEN(s, STORED, names[i]), 1, "%s", names[i]);
    assert_pgens(s, "numpy", 1, 1, "a bystander of a big batch");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, a_bad_bucket_record_drops_renderings)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_rendered in = sample("b", 1, NULL, 0);
    struct stg_stats st;
    struct buf v;
    char key[32];

    check_buckets();
    pfile_put(s, "n1", "numpy", NULL, "nnn", NULL);
    pfile_put(s, "t1", "torch", NULL, "ttt", NULL);
    pfile_put(s, "t1", "torch", NULL, "ttt", "mmm");
    cr_assert_eq(stg_rendered_put(s, "r", &in), 0);
    snprintf(key, sizeof(key), "files_gen/%u", th_bucket_of("numpy"));
    cr_assert_eq(stg_put(s, STG_DB_META, key, strlen(key), "short", 5), 0);
    cr_assert_eq(stg_put(s, STG_DB_META, "files_gen/x", 11, "0123456789abcdef", 16), 0);
    stg_close(s);
    s = th_open(d, 0, true);
    assert_pgens(s, "numpy", 0, 0, "read-only: the bad bucket reads 0");
    assert_pgens(s, "torch", 2, 2, "read-only: the others as stored");
    stg_close(s);
    s = th_open(d, 0, false);
    assert_pgens(s, "numpy", 0, 0, "reset");
    assert_pgens(s, "torch", 2, 2, "kept");
    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.rendered, 0, "no rendering can be trusted against a reset bucket");
    buf_init(&v, 64);
    cr_assert_eq(stg_get(s, STG_DB_META, key, strlen(key), &v), IMX_ENOTFOUND, "deleted");
    cr_assert_eq(stg_get(s, STG_DB_META, "files_gen/x", 11, &v), IMX_ENOTFOUND, "deleted");
    buf_release(&v);
    pfile_put(s, "n1", "numpy", NULL, "nn2", NULL);
    assert_pgens(s, "numpy", 1, 1, "counting again");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, a_schema_2_rendering_is_never_taken_as_current)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_rendered in = sample("b", 1, NULL, 0);
    struct stg_rendered out;
    struct buf raw, v1;

    /* The same rendering as V1 would have written it: no project after files_gen. */
    buf_init(&raw, BUF_NOMAX);
    buf_init(&v1, BUF_NOMAX);
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    cr_assert_eq(stg_get(s, STG_DB_RENDERED, "k", 1, &raw), 0);
    buf_putc(&v1, 1);
    buf_append(&v1, raw.p + 1, 1 + 8 + 4 + 4 + 8 - 1 + 1);      /* up to files_gen */
    buf_append(&v1, raw.p + 26 + 4 + 5, raw.len - 26 - 4 - 5); /* after "torch" */
    cr_assert_eq(stg_put(s, STG_DB_RENDERED, "k", 1, v1.p, v1.len), 0);
    cr_assert_eq(stg_rendered_get(s, "k", false, &out), 0, "V1 decodes");
    cr_assert_eq(out.gen_kind, in.gen_kind);
    cr_assert_eq(out.files_gen, in.files_gen);
    cr_assert_str_eq(out.stamps, in.stamps);
    cr_assert_null(out.project);
    stg_rendered_release(&out);
    /* Same fingerprint, kind, value and stamps, but no project: not the same rendering. */
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0, "written over, not skipped");
    cr_assert_eq(stg_rendered_get(s, "k", false, &out), 0);
    cr_assert_str_eq(out.project, "torch");
    stg_rendered_release(&out);
    buf_release(&raw);
    buf_release(&v1);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(rendered, renderings_leave_the_last_quarter_of_the_map_to_pages)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 1u << 20, false);
    struct stg_rendered in = sample("b", 1, NULL, 0);
    struct stg_page pg = {.state = STG_PAGE_PRESENT, .url = "u"};
    struct stg_stats st;
    char *body = xcalloc(1, 16 << 10);
    char key[32];
    int i, stop, rc = 0;

    pg.body = body;
    pg.body_len = 16 << 10;
    cr_assert_eq(stg_rendered_put(s, "early", &in), 0);
    /* Fill past three quarters with pages. */
    for (i = 0; i < 1000; i++) {
        cr_assert_eq(stg_stat(s, &st), 0);
        if (st.map_used > st.map_size / 4 * 3 + 8192)
            break;
        snprintf(key, sizeof(key), "p%d", i);
        cr_assert_eq(stg_page_put(s, "pypi", key, &pg), 0);
    }
    cr_assert_lt(i, 1000);
    in.stamps = (char *)"another";
    cr_assert_eq(stg_rendered_put(s, "late", &in), IMX_EMAPFULL);
    cr_assert_eq(stg_rendered_put(s, "early", &in), IMX_EMAPFULL, "not even a replacement");
    /* ... while pages still go in until the map is really full. */
    stop = i;
    for (; i < 1000 && rc == 0; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        rc = stg_page_put(s, "pypi", key, &pg);
    }
    cr_assert_eq(rc, IMX_EMAPFULL);
    cr_assert_geq(i - stop, 4, "only %d pages stored after renderings stopped", i - stop - 1);
    free(body);
    stg_close(s);
    th_rmrf(d);
    free(d);
}
