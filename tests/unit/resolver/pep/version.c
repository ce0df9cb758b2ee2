/*
 * Tests for resolver/pep/version.c: the tests/vectors/versions.txt table
 * (ordering, equality, normal forms, invalid strings) plus edge cases.
 * Also hosts pep_vectors_read(), the vector-file reader the other PEP
 * language tests in this binary share.
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "version.h"
#include "xalloc.h"

char **pep_vectors_read(const char *name, size_t *n);
void pep_vectors_free(char **lines, size_t n);

/* Non-comment, non-empty lines of tests/vectors/<name> (newline stripped). */
char **pep_vectors_read(const char *name, size_t *n)
{
    const char *src = getenv("IMX_SOURCE_DIR");
    char *path = xasprintf("%s/tests/vectors/%s", src ? src : ".", name);
    FILE *f = fopen(path, "r");
    char **lines = NULL;
    size_t cap = 0, count = 0, lcap = 0;
    char *line = NULL;
    ssize_t len;

    cr_assert(f != NULL, "cannot open '%s' (is IMX_SOURCE_DIR set?)", path);
    while ((len = getline(&line, &lcap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        lines = xgrow(lines, &cap, count + 1, sizeof(*lines));
        lines[count++] = xstrdup(line);
    }
    free(line);
    fclose(f);
    free(path);
    *n = count;
    return lines;
}

void pep_vectors_free(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static struct str trimmed(const char *p, size_t len)
{
    return str_trim(str_make(p, len));
}

static int cmp(struct str a, struct str b)
{
    int r = 99;
    int rc = version_compare_str(a.p, a.len, b.p, b.len, &r);
    cr_assert_eq(rc, 0, "cannot parse '%.*s' or '%.*s'", STR_FMT(a), STR_FMT(b));
    return r;
}

Test(version, vectors)
{
    size_t n, nlt = 0, neq = 0, nnorm = 0, ninv = 0;
    char **lines = pep_vectors_read("versions.txt", &n);

    for (size_t i = 0; i < n; i++) {
        const char *l = lines[i];
        const char *sep;
        if ((sep = strstr(l, " < ")) != NULL) {
            struct str a = trimmed(l, (size_t)(sep - l)), b = str_trim(str_from(sep + 3));
            cr_expect(cmp(a, b) < 0, "%s", l);
            cr_expect(cmp(b, a) > 0, "%s (reversed)", l);
            nlt++;
        } else if ((sep = strstr(l, " == ")) != NULL) {
            struct str a = trimmed(l, (size_t)(sep - l)), b = str_trim(str_from(sep + 4));
            cr_expect(cmp(a, b) == 0, "%s", l);
            cr_expect(cmp(b, a) == 0, "%s (reversed)", l);
            neq++;
        } else if ((sep = strstr(l, " -> ")) != NULL) {
            struct buf b1, b2;
            struct str want = str_trim(str_from(sep + 4));
            buf_init(&b1, 1024);
            buf_init(&b2, 1024);
            cr_expect_eq(version_normalize(l, (size_t)(sep - l), &b1), 0, "%s", l);
            cr_expect(str_eq(str_make(buf_cstr(&b1), b1.len), want), "%s: got '%s'", l,
                      buf_cstr(&b1));
            /* The normal form is a fixed point. */
            cr_expect_eq(version_normalize(b1.p, b1.len, &b2), 0);
            cr_expect_str_eq(buf_cstr(&b2), buf_cstr(&b1));
            buf_release(&b1);
            buf_release(&b2);
            nnorm++;
        } else if (strncmp(l, "invalid ", 8) == 0) {
            struct version v;
            cr_expect_eq(version_parse(l + 8, strlen(l + 8), &v), IMX_ESYNTAX, "%s", l);
            ninv++;
        } else {
            cr_expect_fail("bad vector line '%s'", l);
        }
    }
    cr_assert_geq(nlt, 100);
    cr_assert_geq(neq, 20);
    cr_assert_geq(nnorm, 20);
    cr_assert_geq(ninv, 20);
    pep_vectors_free(lines, n);
}

Test(version, fields)
{
    struct version v;
    const char *s = "v1!2.3.4rc5.post6.dev7+Ubuntu-1";

    cr_assert_eq(version_parse(s, strlen(s), &v), 0);
    cr_expect_eq(v.epoch, 1);
    cr_expect_eq(v.nrelease, 3);
    cr_expect_eq(v.release[0], 2);
    cr_expect_eq(v.release[2], 4);
    cr_expect_eq(v.pre, VERSION_PRE_RC);
    cr_expect_eq(v.pre_n, 5);
    cr_expect(v.has_post && v.post == 6);
    cr_expect(v.has_dev && v.dev == 7);
    cr_expect_eq(v.nlocal, 2);
    /* Local segments are borrowed slices of the input. */
    cr_expect_eq(v.local[0].p, s + 23);
    cr_expect(str_eq(v.local[1], STR_LIT("1")));
    cr_expect(version_is_prerelease(&v));
    cr_expect(version_is_postrelease(&v));
}

Test(version, out_untouched_on_error)
{
    struct version v;
    int r = 42;

    memset(&v, 0x5a, sizeof(v));
    cr_expect_eq(version_parse("1.0+", 4, &v), IMX_ESYNTAX);
    cr_expect_eq(v.epoch, 0x5a5a5a5a5a5a5a5aULL);
    cr_expect_eq(version_compare_str("1.0", 3, "x", 1, &r), IMX_ESYNTAX);
    cr_expect_eq(r, 42);
}

Test(version, limits)
{
    struct buf b;
    struct version v;

    buf_init(&b, BUF_NOMAX);
    buf_appends(&b, "1");
    for (int i = 1; i < VERSION_MAX_RELEASE; i++)
        buf_appends(&b, ".1");
    cr_expect_eq(version_parse(b.p, b.len, &v), 0);
    cr_expect_eq(v.nrelease, VERSION_MAX_RELEASE);
    buf_appends(&b, ".1");
    cr_expect_eq(version_parse(b.p, b.len, &v), IMX_ETOOLARGE);
    buf_release(&b);

    cr_expect_eq(version_parse("18446744073709551615", 20, &v), 0);
    cr_expect_eq(version_parse("18446744073709551616", 20, &v), IMX_ETOOLARGE);
    cr_expect_eq(version_parse("1.0a18446744073709551616", 24, &v), IMX_ETOOLARGE);
    /* Local numbers are compared as digit strings: no limit. */
    cr_expect_eq(version_parse("1+99999999999999999999999", 25, &v), 0);
    cr_expect_eq(version_parse("1+1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", 35, &v), IMX_ETOOLARGE);
    /* Not NUL-terminated: the length is the whole truth. */
    cr_expect_eq(version_parse("1.0rc1", 3, &v), 0);
    cr_expect_eq(v.pre, VERSION_PRE_NONE);
    cr_expect_eq(v.nrelease, 2);
}

Test(version, format_capped)
{
    struct buf b;
    struct version v;

    buf_init(&b, 5);
    buf_appends(&b, "ab");
    cr_assert_eq(version_parse("1.0.post1", 9, &v), 0);
    cr_expect_eq(version_format(&v, &b), IMX_ETOOLARGE);
    cr_expect_str_eq(buf_cstr(&b), "ab");
    cr_expect_eq(version_normalize("1.0", 3, &b), 0);
    cr_expect_str_eq(buf_cstr(&b), "ab1.0");
    buf_release(&b);
}

Test(version, local_ordering)
{
    int r;

    cr_assert_eq(version_compare_str("2.5.1", 5, "2.5.1+cu124", 11, &r), 0);
    cr_expect_lt(r, 0);
    cr_assert_eq(version_compare_str("1.0+abc", 7, "1.0+9", 5, &r), 0);
    cr_expect_lt(r, 0, "numeric local segments sort after alphanumeric ones");
    cr_assert_eq(version_compare_str("1.0+0010", 8, "1.0+9", 5, &r), 0);
    cr_expect_gt(r, 0);
    cr_assert_eq(version_compare_str("1.0+a", 5, "1.0+a.0", 7, &r), 0);
    cr_expect_lt(r, 0);
}
