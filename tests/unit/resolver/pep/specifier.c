/* Tests for resolver/pep/specifier.c: tests/vectors/specifiers.txt and API edges. */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"
#include "specifier.h"

char **pep_vectors_read(const char *name, size_t *n);
void pep_vectors_free(char **lines, size_t n);

/* Split "a | b | c" into trimmed fields; returns their number. */
static size_t fields(const char *l, struct str *f, size_t max)
{
    struct str rest = str_from(l);
    size_t n = 0;

    while (n < max) {
        ptrdiff_t bar = str_index(rest, '|');
        f[n++] = str_trim(bar < 0 ? rest : str_sub(rest, 0, (size_t)bar));
        if (bar < 0)
            break;
        rest = str_sub(rest, (size_t)bar + 1, rest.len);
    }
    return n;
}

Test(specifier, vectors)
{
    size_t n, count = 0;
    char **lines = pep_vectors_read("specifiers.txt", &n);

    for (size_t i = 0; i < n; i++) {
        struct str f[3];
        struct specifier_set set;
        struct version v;
        int rc;

        cr_assert_eq(fields(lines[i], f, 3), 3, "bad line '%s'", lines[i]);
        cr_assert_eq(version_parse(f[1].p, f[1].len, &v), 0, "%s", lines[i]);
        rc = specifier_parse(f[0].p, f[0].len, &set);
        if (str_eq_cstr(f[2], "invalid")) {
            cr_expect_neq(rc, 0, "%s", lines[i]);
        } else {
            cr_expect_eq(rc, 0, "%s", lines[i]);
            if (rc == 0)
                cr_expect_eq(specifier_contains(&set, &v), str_eq_cstr(f[2], "true"), "%s",
                             lines[i]);
        }
        count++;
    }
    cr_assert_geq(count, 60);
    pep_vectors_free(lines, n);
}

Test(specifier, parse_one)
{
    struct specifier s;

    cr_assert_eq(specifier_parse_one(" ~= 2.2 ", 8, &s), 0);
    cr_expect_eq(s.op, SPECIFIER_COMPATIBLE);
    cr_expect(str_eq_cstr(s.text, "2.2"));
    cr_assert_eq(specifier_parse_one("==1.0.*", 7, &s), 0);
    cr_expect(s.wildcard);
    cr_expect_eq(s.v.nrelease, 2);
    cr_assert_eq(specifier_parse_one("===foo", 6, &s), 0);
    cr_expect_eq(s.op, SPECIFIER_ARBITRARY);
    cr_expect_eq(specifier_parse_one("~=1", 3, &s), IMX_ESYNTAX);
    cr_expect_eq(specifier_parse_one(">=1.0+local", 11, &s), IMX_ESYNTAX);
    cr_expect_eq(specifier_parse_one(">=1.0.*", 7, &s), IMX_ESYNTAX);
    cr_expect_eq(specifier_parse_one("==1.0a1.*", 9, &s), IMX_ESYNTAX);
    cr_expect_eq(specifier_parse_one("1.0", 3, &s), IMX_ESYNTAX);
    cr_expect_eq(specifier_parse_one("==", 2, &s), IMX_ESYNTAX);
    cr_expect_eq(specifier_parse_one("=== a b", 7, &s), IMX_ESYNTAX);
}

Test(specifier, sets)
{
    struct specifier_set set;
    struct version v;

    cr_assert_eq(specifier_parse("", 0, &set), 0);
    cr_expect_eq(set.n, 0);
    cr_assert_eq(version_parse("0.1", 3, &v), 0);
    cr_expect(specifier_contains(&set, &v), "an empty set admits everything");
    cr_assert_eq(specifier_parse(",>=3.6,,", 8, &set), 0);
    cr_expect_eq(set.n, 1);
    const char *many = ">=1,<2,>=1,<2,>=1,<2,>=1,<2,>=1,<2,>=1,<2,>=1,<2,>=1,<2,>=1";
    cr_expect_eq(specifier_parse(many, strlen(many), &set), IMX_ETOOLARGE);
    cr_expect_eq(set.n, 1, "out untouched on error");
}
