/*
 * Tests for storage/codec.c: typed page and file records round-trip through
 * the store (NULL fields included), and undecodable records of any shape
 * are IMX_ECORRUPT, never a crash.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "storage.h"
#include "unit/storage/helpers.h"
#include "xalloc.h"

static void assert_str_eq_or_null(const char *a, const char *b)
{
    if (b == NULL)
        cr_assert_null(a);
    else
        cr_assert_str_eq(a, b);
}

Test(codec, page_round_trip)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    const char body[] = "<html>\0binary\xff</html>";
    struct stg_page in = {
        .state = STG_PAGE_PRESENT,
        .fetched_at = 1700000000123LL,
        .etag = "\"abc\"",
        .last_modified = "Wed, 21 Oct 2015 07:28:00 GMT",
        .url = "https://pypi.org/simple/requests/",
        .body = (char *)body,
        .body_len = sizeof(body),
    };
    struct stg_page out;
    struct stg_page list;

    cr_assert_eq(stg_page_put(s, "pypi", "requests", &in), 0);
    cr_assert_eq(stg_page_get(s, "pypi", "requests", &out), 0);
    cr_assert_eq(out.state, STG_PAGE_PRESENT);
    cr_assert_eq(out.fetched_at, in.fetched_at);
    cr_assert_str_eq(out.etag, in.etag);
    cr_assert_str_eq(out.last_modified, in.last_modified);
    cr_assert_str_eq(out.url, in.url);
    cr_assert_eq(out.body_len, sizeof(body));
    cr_assert_arr_eq(out.body, body, sizeof(body));
    stg_page_release(&out);
    cr_assert_null(out.body);

    cr_assert_eq(stg_page_get(s, "pypi", "other", &out), IMX_ENOTFOUND);
    cr_assert_eq(stg_page_get(s, "corp", "requests", &out), IMX_ENOTFOUND);

    /* The project list: project "" and NULL are the same key. */
    in.body = "list";
    in.body_len = 4;
    cr_assert_eq(stg_page_put(s, "pypi", NULL, &in), 0);
    cr_assert_eq(stg_page_get(s, "pypi", "", &list), 0);
    cr_assert_eq(list.body_len, 4);
    cr_assert_str_eq(list.body, "list");
    stg_page_release(&list);
    stg_page_release(NULL);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, page_round_trip_null_fields)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_page in = {.state = STG_PAGE_ABSENT, .fetched_at = -5};
    struct stg_page out;

    cr_assert_eq(stg_page_put(s, "pypi", "nope", &in), 0);
    cr_assert_eq(stg_page_get(s, "pypi", "nope", &out), 0);
    cr_assert_eq(out.state, STG_PAGE_ABSENT);
    cr_assert_eq(out.fetched_at, -5);
    cr_assert_null(out.etag);
    cr_assert_null(out.last_modified);
    cr_assert_null(out.url);
    cr_assert_null(out.body);
    cr_assert_eq(out.body_len, 0);
    stg_page_release(&out);

    /* Empty strings stay empty strings, not NULL. */
    in.etag = "";
    in.body = "";
    cr_assert_eq(stg_page_put(s, "pypi", "empty", &in), 0);
    cr_assert_eq(stg_page_get(s, "pypi", "empty", &out), 0);
    cr_assert_str_eq(out.etag, "");
    cr_assert_not_null(out.body);
    cr_assert_eq(out.body_len, 0);
    stg_page_release(&out);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, page_put_rejects_bad_input)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_page bad_state = {.state = (enum stg_page_state)7};
    struct stg_page bad_body = {.state = STG_PAGE_PRESENT, .body = NULL, .body_len = 3};
    struct stg_page ok = {.state = STG_PAGE_PRESENT};
    struct stg_page out;

    cr_assert_eq(stg_page_put(s, "pypi", "x", &bad_state), IMX_EINVAL);
    cr_assert_eq(stg_page_put(s, "pypi", "x", &bad_body), IMX_EINVAL);
    cr_assert_eq(stg_page_put(s, "py\npi", "x", &ok), IMX_EINVAL);
    cr_assert_eq(stg_page_get(s, "py\npi", "x", &out), IMX_EINVAL);
    cr_assert_eq(stg_page_get(s, "pypi", "x", &out), IMX_ENOTFOUND);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, file_round_trip_and_touch)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file in = {
        .key = "3f2a",
        .index = "pypi",
        .url = "https://files.example/requests-2.31.0-py3-none-any.whl",
        .filename = "requests-2.31.0-py3-none-any.whl",
        .expected_sha256 = "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f",
        .sha256 = "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f",
        .size = 62574,
        .last_access = 1700000000,
        .metadata_sha256 = "aa",
        .metadata_expected_sha256 = "bb",
        .project = "requests",
    };
    struct stg_file out;

    cr_assert_eq(stg_file_put(s, &in), 0);
    cr_assert_eq(stg_file_get(s, "3f2a", &out), 0);
    cr_assert_str_eq(out.key, in.key);
    cr_assert_str_eq(out.index, in.index);
    cr_assert_str_eq(out.url, in.url);
    cr_assert_str_eq(out.filename, in.filename);
    cr_assert_str_eq(out.expected_sha256, in.expected_sha256);
    cr_assert_str_eq(out.sha256, in.sha256);
    cr_assert_eq(out.size, in.size);
    cr_assert_eq(out.last_access, in.last_access);
    cr_assert_str_eq(out.metadata_sha256, in.metadata_sha256);
    cr_assert_str_eq(out.metadata_expected_sha256, in.metadata_expected_sha256);
    cr_assert_str_eq(out.project, in.project);
    stg_file_release(&out);

    cr_assert_eq(stg_file_touch(s, "3f2a", 1800000000), 0);
    cr_assert_eq(stg_file_get(s, "3f2a", &out), 0);
    cr_assert_eq(out.last_access, 1800000000);
    cr_assert_str_eq(out.url, in.url, "touch keeps the other fields");
    cr_assert_str_eq(out.project, in.project);
    cr_assert_eq(out.size, in.size);
    stg_file_release(&out);

    cr_assert_eq(stg_file_touch(s, "nope", 1), IMX_ENOTFOUND);
    cr_assert_eq(stg_file_get(s, "nope", &out), IMX_ENOTFOUND);
    stg_file_release(NULL);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, file_round_trip_null_fields)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file in = {.key = "k", .size = -1};
    struct stg_file nokey = {.key = NULL};
    struct stg_file out;

    cr_assert_eq(stg_file_put(s, &in), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.key, "k");
    assert_str_eq_or_null(out.index, NULL);
    assert_str_eq_or_null(out.url, NULL);
    assert_str_eq_or_null(out.filename, NULL);
    assert_str_eq_or_null(out.expected_sha256, NULL);
    assert_str_eq_or_null(out.sha256, NULL);
    assert_str_eq_or_null(out.metadata_sha256, NULL);
    assert_str_eq_or_null(out.metadata_expected_sha256, NULL);
    assert_str_eq_or_null(out.project, NULL);
    cr_assert_eq(out.size, -1);
    cr_assert_eq(out.last_access, 0);
    stg_file_release(&out);
    cr_assert_eq(stg_file_put(s, &nokey), IMX_EINVAL);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, corrupt_records_are_ecorrupt)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_page pg = {.state = STG_PAGE_PRESENT};
    struct stg_file f = {.key = (char *)0x1};
    const char junk[] = "\x01garbage";

    cr_assert_eq(stg_put(s, STG_DB_PAGES, "pypi\nx", 6, junk, sizeof(junk) - 1), 0);
    cr_assert_eq(stg_page_get(s, "pypi", "x", &pg), IMX_ECORRUPT);
    cr_assert_eq(pg.state, STG_PAGE_PRESENT, "out untouched on failure");
    cr_assert_eq(stg_put(s, STG_DB_FILES, "k", 1, junk, sizeof(junk) - 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &f), IMX_ECORRUPT);
    cr_assert_eq(f.key, (char *)0x1, "out untouched on failure");
    cr_assert_eq(stg_file_touch(s, "k", 5), IMX_ECORRUPT);
    cr_assert_eq(stg_put(s, STG_DB_FILES, "e", 1, "", 0), 0);
    cr_assert_eq(stg_file_get(s, "e", &f), IMX_ECORRUPT, "empty value");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* Encode through the store and read the raw value back. */
static void raw_value(struct stg *s, enum stg_db db, const char *key, struct buf *out)
{
    cr_assert_eq(stg_get(s, db, key, strlen(key), out), 0);
}

Test(codec, every_truncation_and_extension_is_ecorrupt)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_page pin = {.state = STG_PAGE_PRESENT, .etag = "e", .url = "u", .body = "bb",
                           .body_len = 2};
    struct stg_file fin = {.key = "k", .url = "u", .sha256 = "s", .size = 3};
    struct stg_page pg;
    struct stg_file f;
    struct buf raw;
    char *ext;

    buf_init(&raw, BUF_NOMAX);
    cr_assert_eq(stg_page_put(s, "i", "p", &pin), 0);
    raw_value(s, STG_DB_PAGES, "i\np", &raw);
    cr_assert_eq(raw.p[0], 2, "version byte first (V2: with the body's sha256)");
    cr_assert_eq(stg_page_decode(raw.p, raw.len, &pg), 0);
    stg_page_release(&pg);
    for (size_t n = 0; n < raw.len; n++)
        cr_assert_eq(stg_page_decode(raw.p, n, &pg), IMX_ECORRUPT, "page cut at %zu", n);
    ext = xmalloc(raw.len + 1);
    memcpy(ext, raw.p, raw.len);
    ext[raw.len] = 0;
    cr_assert_eq(stg_page_decode(ext, raw.len + 1, &pg), IMX_ECORRUPT, "trailing byte");
    ext[0] = 3;
    cr_assert_eq(stg_page_decode(ext, raw.len, &pg), IMX_ECORRUPT, "unknown version");
    ext[0] = 1;
    cr_assert_eq(stg_page_decode(ext, raw.len, &pg), IMX_ECORRUPT, "V1 has no sha256 field");
    ext[0] = 2;
    ext[1] = 3;
    cr_assert_eq(stg_page_decode(ext, raw.len, &pg), IMX_ECORRUPT, "unknown state");
    free(ext);

    cr_assert_eq(stg_file_put(s, &fin), 0);
    raw_value(s, STG_DB_FILES, "k", &raw);
    cr_assert_eq(raw.p[0], 2, "version byte first (V2: with the project)");
    cr_assert_eq(stg_file_decode(raw.p, raw.len, &f), 0);
    stg_file_release(&f);
    for (size_t n = 0; n < raw.len; n++)
        cr_assert_eq(stg_file_decode(raw.p, n, &f), IMX_ECORRUPT, "file cut at %zu", n);
    /* A NUL inside a text field: key "k" becomes "\0". */
    ext = xmemdup(raw.p, raw.len);
    cr_assert_eq(ext[5], 'k');
    ext[5] = '\0';
    cr_assert_eq(stg_file_decode(ext, raw.len, &f), IMX_ECORRUPT, "NUL in a string");
    ext[5] = 'k';
    ext[0] = 1;
    cr_assert_eq(stg_file_decode(ext, raw.len, &f), IMX_ECORRUPT, "V1 has no project field");
    ext[0] = 3;
    cr_assert_eq(stg_file_decode(ext, raw.len, &f), IMX_ECORRUPT, "unknown version");
    free(ext);
    buf_release(&raw);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

static uint64_t rng_next(uint64_t *x)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ULL;
}

Test(codec, random_bytes_never_crash)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    uint8_t bytes[96];

    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(rng_next(&seed) % sizeof(bytes));
        struct stg_page pg;
        struct stg_file f;
        int rc;

        for (size_t i = 0; i < n; i++)
            bytes[i] = (uint8_t)rng_next(&seed);
        /* Bias towards plausible records so the decoders get deep. */
        if (n > 0 && (iter & 1))
            bytes[0] = 1;
        if (n > 1 && (iter & 2))
            bytes[1] = (uint8_t)(1 + (iter & 4 ? 1 : 0));
        for (size_t i = 2; i + 4 <= n && (iter & 8); i += 9) {
            bytes[i + 1] = 0;
            bytes[i + 2] = 0;
            bytes[i + 3] = 0;
            bytes[i] %= 8;
        }
        rc = stg_page_decode(bytes, n, &pg);
        cr_assert(rc == 0 || rc == IMX_ECORRUPT);
        if (rc == 0)
            stg_page_release(&pg);
        rc = stg_file_decode(bytes, n, &f);
        cr_assert(rc == 0 || rc == IMX_ECORRUPT);
        if (rc == 0)
            stg_file_release(&f);
    }
}

Test(codec, random_records_in_store_are_ecorrupt_or_ok)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    uint64_t seed = 12345;
    uint8_t bytes[64];

    for (int iter = 0; iter < 200; iter++) {
        size_t n = (size_t)(rng_next(&seed) % sizeof(bytes));
        struct stg_page pg;
        struct stg_file f;
        int rc;

        for (size_t i = 0; i < n; i++)
            bytes[i] = (uint8_t)rng_next(&seed);
        cr_assert_eq(stg_put(s, STG_DB_PAGES, "i\np", 3, bytes, n), 0);
        rc = stg_page_get(s, "i", "p", &pg);
        cr_assert(rc == 0 || rc == IMX_ECORRUPT);
        if (rc == 0)
            stg_page_release(&pg);
        cr_assert_eq(stg_put(s, STG_DB_FILES, "k", 1, bytes, n), 0);
        rc = stg_file_get(s, "k", &f);
        cr_assert(rc == 0 || rc == IMX_ECORRUPT);
        if (rc == 0)
            stg_file_release(&f);
    }
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, file_put_many_keeps_what_storage_learned)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";
    struct stg_file stored = {.key = "a", .url = "old", .expected_sha256 = (char *)h1,
                              .sha256 = (char *)h1, .size = 10, .last_access = 99,
                              .metadata_sha256 = (char *)h2,
                              .metadata_expected_sha256 = (char *)h2};
    struct stg_file conflict = {.key = "b", .expected_sha256 = (char *)h1,
                                .sha256 = (char *)h1, .size = 10, .last_access = 5};
    struct stg_file page[] = {
        /* refresh of a stored file: no local state in the page's view */
        {.key = "a", .url = "new", .expected_sha256 = (char *)h1, .size = -1,
         .metadata_expected_sha256 = (char *)h2},
        /* upstream now advertises another digest: the stored one is stale */
        {.key = "b", .url = "u", .expected_sha256 = (char *)h2, .size = 20},
        /* a new file */
        {.key = "c", .url = "u", .filename = "c.whl", .size = 7},
    };
    struct stg_file out;

    cr_assert_eq(stg_file_put(s, &stored), 0);
    cr_assert_eq(stg_file_put(s, &conflict), 0);
    cr_assert_eq(stg_file_put_many(s, page, ARRAY_SIZE(page)), 0);

    cr_assert_eq(stg_file_get(s, "a", &out), 0);
    cr_assert_str_eq(out.url, "new", "upstream fields replaced");
    cr_assert_str_eq(out.sha256, h1, "stored digest kept");
    cr_assert_str_eq(out.metadata_sha256, h2, "stored metadata digest kept");
    cr_assert_eq(out.last_access, 99);
    cr_assert_eq(out.size, 10);
    stg_file_release(&out);

    cr_assert_eq(stg_file_get(s, "b", &out), 0);
    cr_assert_null(out.sha256, "a digest the page contradicts is dropped");
    cr_assert_str_eq(out.expected_sha256, h2);
    cr_assert_eq(out.size, 20);
    cr_assert_eq(out.last_access, 5);
    stg_file_release(&out);

    cr_assert_eq(stg_file_get(s, "c", &out), 0);
    cr_assert_str_eq(out.filename, "c.whl");
    cr_assert_null(out.sha256);
    cr_assert_eq(out.size, 7);
    stg_file_release(&out);

    cr_assert_eq(stg_file_put_many(s, NULL, 0), 0, "nothing to do");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* A file record as the build before schema 3 wrote it: V1, no project. */
static void put_v1_file(struct stg *s, const char *key, const char *sha256)
{
    struct buf v1;
    const uint8_t nul[4] = {0xff, 0xff, 0xff, 0xff};
    const uint8_t le8[8] = {0x05, 0, 0, 0, 0, 0, 0, 0};
    uint8_t n4[4] = {0, 0, 0, 0};

    buf_init(&v1, BUF_NOMAX);
    buf_putc(&v1, 1);
    n4[0] = (uint8_t)strlen(key);
    buf_append(&v1, n4, 4);
    buf_appends(&v1, key);
    buf_append(&v1, "\x04\0\0\0pypi", 8);  /* index */
    buf_append(&v1, "\x01\0\0\0u", 5);     /* url */
    buf_append(&v1, "\x05\0\0\0a.whl", 9); /* filename */
    buf_append(&v1, nul, 4);                /* expected_sha256 */
    if (sha256 != NULL) {
        n4[0] = (uint8_t)strlen(sha256);
        buf_append(&v1, n4, 4);
        buf_appends(&v1, sha256);
    } else {
        buf_append(&v1, nul, 4);
    }
    buf_append(&v1, le8, 8); /* size 5 */
    buf_append(&v1, le8, 8); /* last_access 5 */
    buf_append(&v1, nul, 4); /* metadata_sha256 */
    buf_append(&v1, nul, 4); /* metadata_expected_sha256 */
    cr_assert_eq(stg_put(s, STG_DB_FILES, key, strlen(key), v1.p, v1.len), 0);
    buf_release(&v1);
}

Test(codec, v1_file_records_decode_with_no_project)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file page = {.key = "old", .url = "u2", .filename = "a.whl", .size = -1,
                            .project = "demo"};
    struct stg_file out;

    put_v1_file(s, "old", "abc");
    cr_assert_eq(stg_file_get(s, "old", &out), 0);
    cr_assert_str_eq(out.key, "old");
    cr_assert_str_eq(out.index, "pypi");
    cr_assert_str_eq(out.filename, "a.whl");
    cr_assert_str_eq(out.sha256, "abc");
    cr_assert_eq(out.size, 5);
    cr_assert_eq(out.last_access, 5);
    cr_assert_null(out.project, "written before projects were recorded: unknown");
    stg_file_release(&out);
    cr_assert_eq(stg_file_touch(s, "old", 77), 0, "read-modify-write of a V1 record");
    cr_assert_eq(stg_file_get(s, "old", &out), 0);
    cr_assert_eq(out.last_access, 77);
    cr_assert_null(out.project);
    stg_file_release(&out);

    /* Its page registering it again names the project. */
    cr_assert_eq(stg_file_put_many(s, &page, 1), 0);
    cr_assert_eq(stg_file_get(s, "old", &out), 0);
    cr_assert_str_eq(out.project, "demo");
    cr_assert_str_eq(out.sha256, "abc", "what storage learned is kept");
    cr_assert_str_eq(out.url, "u2");
    stg_file_release(&out);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, file_put_many_project_rule)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file f = {.key = "k", .url = "u", .size = -1, .project = "alpha"};
    struct stg_file out;

    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "alpha", "a new record takes the page's project");
    stg_file_release(&out);

    f.project = NULL;
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "alpha", "a page naming none keeps the stored one");
    stg_file_release(&out);

    f.project = "alpha";
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "alpha");
    stg_file_release(&out);

    /* Another project's page lists the same file: several projects, from then on. */
    f.project = "beta";
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "");
    stg_file_release(&out);
    f.project = "alpha";
    cr_assert_eq(stg_file_put_many(s, &f, 1), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "", "sticky");
    stg_file_release(&out);

    /* stg_file_put replaces the whole record, project included. */
    f.project = "gamma";
    cr_assert_eq(stg_file_put(s, &f), 0);
    cr_assert_eq(stg_file_get(s, "k", &out), 0);
    cr_assert_str_eq(out.project, "gamma");
    stg_file_release(&out);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(codec, file_put_many_is_all_or_nothing)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_file batch[] = {{.key = "x", .size = 1}, {.key = NULL}};
    struct stg_file out;

    cr_assert_eq(stg_put(s, STG_DB_FILES, "y", 1, "junk", 4), 0);
    cr_assert_eq(stg_file_put_many(s, batch, 2), IMX_EINVAL);
    cr_assert_eq(stg_file_get(s, "x", &out), IMX_ENOTFOUND, "first record rolled back");

    /* An undecodable stored record is replaced, not an error. */
    batch[1].key = "y";
    cr_assert_eq(stg_file_put_many(s, batch, 2), 0);
    cr_assert_eq(stg_file_get(s, "y", &out), 0);
    cr_assert_eq(out.size, 0);
    stg_file_release(&out);
    stg_close(s);
    th_rmrf(d);
    free(d);
}
