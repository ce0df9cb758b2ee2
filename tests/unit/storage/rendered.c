/*
 * Tests for what storage keeps so that rendered pages survive a restart:
 * rendered records (codec.c: round trip, the write skipped when the same
 * rendering is stored, the size cap, undecodable records being a miss and
 * never a crash), page records V2 and their head (the body's sha256 stored
 * once, V1 records still read), and the files generations (meta.c: moved in
 * the same transaction as the file-record change, persistent, never for a
 * change pages cannot see).
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

    /* No gzip, an empty body, no inputs: all fine. */
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

    /* Any of the four differs: written. */
    in.stamps = (char *)"pypi=changed;gen=7;";
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
    in.files_gen = 8;
    cr_assert_eq(stg_rendered_put(s, "k", &in), 0);
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
    cr_assert_eq(raw.p[0], 1, "version byte first");
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
    ext[0] = 2;
    cr_assert_eq(stg_rendered_decode(ext, raw.len, true, &out), IMX_ECORRUPT, "version");
    ext[0] = 1;
    ext[1 + 8 + 4 + 4] = STG_GEN__N; /* gen_kind, after rendered_at and "fp-1" */
    cr_assert_eq(stg_rendered_decode(ext, raw.len, true, &out), IMX_ECORRUPT, "gen kind");
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
    buf_init(&v1, BUF_NOMAX);
    buf_append(&v1, "\x01\x01", 2);
    buf_append(&v1, "\x07\0\0\0\0\0\0\0", 8);
    buf_append(&v1, "\xff\xff\xff\xff\xff\xff\xff\xff\x01\0\0\0u", 13);
    buf_append(&v1, "\x03\0\0\0old", 7);
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

static void file_put(struct stg *s, const char *key, const char *expected, const char *sha,
                     const char *md_expected, const char *md_sha)
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
    cr_assert_eq(stg_file_put(s, &f), 0);
}

#define GEN(s, g) stg_files_gen((s), STG_GEN_##g)

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
