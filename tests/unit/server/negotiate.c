/*
 * Tests for server/negotiate.c: the table in tests/vectors/accept.txt plus
 * the cases a table cannot express (size cap, permutation invariance,
 * Accept-Encoding).
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "negotiate.h"
#include "vectors.h"

static const char *name_of(int rc, enum negotiate_type t)
{
    if (rc == IMX_EINVAL)
        return "406";
    if (rc != 0)
        return "error";
    switch (t) {
    case NEG_JSON:
        return "json";
    case NEG_V1_HTML:
        return "v1html";
    case NEG_TEXT_HTML:
        return "text";
    }
    return "?";
}

Test(negotiate, vectors)
{
    FILE *f = vec_open("accept.txt");
    struct vec_row row = {0};
    unsigned n = 0;

    while (vec_next(f, &row)) {
        enum negotiate_type t = NEG_TEXT_HTML;
        int rc;

        cr_assert_eq(row.nfields, 3, "accept.txt:%u: want 3 fields", row.lineno);
        rc = negotiate_page(vec_value(row.field[0]), vec_value(row.field[1]), &t);
        cr_expect_str_eq(name_of(rc, t), row.field[2], "accept.txt:%u: Accept '%s' format '%s'",
                         row.lineno, row.field[0], row.field[1]);
        n++;
    }
    fclose(f);
    cr_assert_geq(n, 40, "only %u vectors", n);
}

Test(negotiate, content_types_are_exact)
{
    cr_assert_str_eq(negotiate_content_type(NEG_JSON), "application/vnd.pypi.simple.v1+json");
    cr_assert_str_eq(negotiate_content_type(NEG_V1_HTML), "application/vnd.pypi.simple.v1+html");
    cr_assert_str_eq(negotiate_content_type(NEG_TEXT_HTML), "text/html");
}

Test(negotiate, out_untouched_on_406)
{
    enum negotiate_type t = NEG_V1_HTML;
    cr_assert_eq(negotiate_page("image/png", NULL, &t), IMX_EINVAL);
    cr_assert_eq(t, NEG_V1_HTML);
}

Test(negotiate, oversized_accept_is_ignored)
{
    struct buf b;
    enum negotiate_type t = NEG_JSON;

    buf_init(&b, BUF_NOMAX);
    /* Under the cap, a header that excludes everything is a 406 ... */
    while (b.len < NEGOTIATE_ACCEPT_MAX - 100)
        cr_assert_eq(buf_appends(&b, "image/png, "), 0);
    cr_assert_eq(buf_appends(&b, "text/html;q=0"), 0);
    cr_assert_eq(negotiate_page(buf_cstr(&b), NULL, &t), IMX_EINVAL);
    /* ... over it, the header is treated as absent: text/html. */
    while (b.len <= NEGOTIATE_ACCEPT_MAX)
        cr_assert_eq(buf_appends(&b, ", image/png"), 0);
    cr_assert_eq(negotiate_page(buf_cstr(&b), NULL, &t), 0);
    cr_assert_eq(t, NEG_TEXT_HTML);
    buf_release(&b);
}

Test(negotiate, member_order_does_not_matter)
{
    static const char *const perms[] = {
        "application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5, */*;q=0.9",
        "text/html;q=0.5, */*;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5",
        "*/*;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5",
    };
    for (size_t i = 0; i < ARRAY_SIZE(perms); i++) {
        enum negotiate_type t = NEG_JSON;
        cr_assert_eq(negotiate_page(perms[i], NULL, &t), 0);
        cr_assert_eq(t, NEG_V1_HTML, "%s", perms[i]);
    }
}

Test(negotiate, accept_encoding)
{
    cr_assert(negotiate_accepts_gzip("gzip"));
    cr_assert(negotiate_accepts_gzip("gzip, deflate"));
    cr_assert(negotiate_accepts_gzip("gzip, deflate, zstd"));
    cr_assert(negotiate_accepts_gzip("deflate, gzip;q=0.5"));
    cr_assert(negotiate_accepts_gzip("GZIP"));
    cr_assert(negotiate_accepts_gzip("x-gzip"));
    cr_assert(negotiate_accepts_gzip("*"));
    cr_assert(negotiate_accepts_gzip("identity, *;q=0.1"));
    cr_assert(negotiate_accepts_gzip("gzip;q=0, gzip;q=0.3"), "highest q counts");
    cr_assert_not(negotiate_accepts_gzip(NULL));
    cr_assert_not(negotiate_accepts_gzip(""));
    cr_assert_not(negotiate_accepts_gzip("identity"));
    cr_assert_not(negotiate_accepts_gzip("deflate, br"));
    cr_assert_not(negotiate_accepts_gzip("gzip;q=0"));
    cr_assert_not(negotiate_accepts_gzip("gzip;q=0, *"));
    cr_assert_not(negotiate_accepts_gzip("*;q=0"));
    cr_assert_not(negotiate_accepts_gzip("gzipx"));
    cr_assert_not(negotiate_accepts_gzip("gzip;q=5"), "a bad member is dropped");
}
