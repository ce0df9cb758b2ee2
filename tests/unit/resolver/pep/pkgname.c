/* Tests for resolver/pep/pkgname.c: PEP 503 normalisation and validity. */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "pkgname.h"

static const struct {
    const char *in;
    const char *norm;
    bool valid;
} cases[] = {
    {"torch", "torch", true},
    {"Django", "django", true},
    {"typing_extensions", "typing-extensions", true},
    {"zope.interface", "zope-interface", true},
    {"Foo__Bar.-_Baz", "foo-bar-baz", true},
    {"a", "a", true},
    {"A1", "a1", true},
    {"0-._.-._.-._.-._.-._.-._.-0", "0-0", true},
    {"-leading", "-leading", false},
    {"trailing_", "trailing-", false},
    {"", "", false},
    {"sp ace", "sp ace", false},
    {"ünï", "ünï", false},
    {"PyYAML", "pyyaml", true},
    {"ruamel.yaml.clib", "ruamel-yaml-clib", true},
};

Test(pkgname, table)
{
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b;
        size_t len = strlen(cases[i].in);

        buf_init(&b, 256);
        cr_expect_eq(pkgname_normalize(cases[i].in, len, &b), 0);
        cr_expect_str_eq(buf_cstr(&b), cases[i].norm, "%s", cases[i].in);
        cr_expect_eq(pkgname_valid(cases[i].in, len), cases[i].valid, "%s", cases[i].in);
        cr_expect(pkgname_is_normalized(b.p ? b.p : "", b.len), "%s", cases[i].norm);
        cr_expect_eq(pkgname_is_normalized(cases[i].in, len),
                     strcmp(cases[i].in, cases[i].norm) == 0, "%s", cases[i].in);
        cr_expect(pkgname_eq(cases[i].in, len, cases[i].norm, strlen(cases[i].norm)));
        buf_release(&b);
    }
}

Test(pkgname, eq)
{
    cr_expect(pkgname_eq("Foo.Bar", 7, "foo_bar", 7));
    cr_expect(pkgname_eq("a--b", 4, "A_B", 3));
    cr_expect_not(pkgname_eq("ab", 2, "a-b", 3));
    cr_expect_not(pkgname_eq("abc", 3, "ab", 2));
    cr_expect(pkgname_eq("", 0, "", 0));
}

Test(pkgname, capped)
{
    struct buf b;

    buf_init(&b, 6);
    buf_appends(&b, "x/");
    cr_expect_eq(pkgname_normalize("Hello", 5, &b), IMX_ETOOLARGE);
    cr_expect_str_eq(buf_cstr(&b), "x/");
    cr_expect_eq(pkgname_normalize("A__B", 4, &b), 0);
    cr_expect_str_eq(buf_cstr(&b), "x/a-b");
    buf_release(&b);
}
