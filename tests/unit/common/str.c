/* Tests for common/str.c: slices, comparisons, integer parsing, cursor. */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"
#include "str.h"

Test(str, compare)
{
    cr_assert(str_eq(STR_LIT("abc"), str_from("abc")));
    cr_assert_not(str_eq(STR_LIT("abc"), STR_LIT("abd")));
    cr_assert(str_eq(STR_NULL, STR_LIT("")));
    cr_assert(str_eq_nocase(STR_LIT("Text/HTML"), STR_LIT("text/html")));
    cr_assert(str_eq_cstr(STR_LIT("x"), "x"));
    cr_assert(str_starts_with(STR_LIT("torch-2.5"), STR_LIT("torch")));
    cr_assert_not(str_starts_with(STR_LIT("to"), STR_LIT("torch")));
    cr_assert(str_ends_with(STR_LIT("a.whl"), STR_LIT(".whl")));
    cr_assert_not(str_ends_with(STR_LIT("whl"), STR_LIT(".whl")));
}

Test(str, trim_index_sub_dup)
{
    struct str t = str_trim(STR_LIT(" \t a b \r\n"));
    char *d;

    cr_assert(str_eq(t, STR_LIT("a b")));
    cr_assert(str_eq(str_trim(STR_LIT("   ")), STR_LIT("")));
    cr_assert_eq(str_index(STR_LIT("a=b=c"), '='), 1);
    cr_assert_eq(str_rindex(STR_LIT("a=b=c"), '='), 3);
    cr_assert_eq(str_index(STR_LIT("abc"), '='), -1);
    cr_assert_eq(str_rindex(STR_NULL, '='), -1);
    cr_assert(str_eq(str_sub(STR_LIT("abcdef"), 2, 4), STR_LIT("cd")));
    cr_assert(str_eq(str_sub(STR_LIT("abc"), 5, 9), STR_LIT("")));
    d = str_dup(STR_LIT("xyz"));
    cr_assert_str_eq(d, "xyz");
    free(d);
    d = str_dup(STR_NULL);
    cr_assert_str_eq(d, "");
    free(d);
}

Test(str, copy)
{
    static const struct {
        const char *src;
        size_t cap;
        const char *want;
    } cases[] = {
        {"", 1, ""},           {"abc", 1, ""},   {"abc", 3, "ab"},
        {"abc", 4, "abc"},     {"abc", 16, "abc"}, {"hit", 8, "hit"},
        {"pytorch-cu124", 8, "pytorch"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dst[32];
        memset(dst, 'x', sizeof(dst));
        cr_assert_eq(str_copy(dst, cases[i].cap, cases[i].src), strlen(cases[i].src), "case %zu", i);
        cr_assert_str_eq(dst, cases[i].want, "case %zu", i);
        cr_assert_eq(dst[cases[i].cap], 'x', "case %zu: wrote past cap", i); /* nothing beyond */
    }
}

Test(str, put_u64)
{
    static const struct {
        uint64_t v;
        const char *want;
    } cases[] = {
        {0, "0"}, {7, "7"}, {10, "10"}, {1234567890, "1234567890"},
        {UINT64_MAX, "18446744073709551615"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        memset(out, 'x', sizeof(out));
        char *end = str_put_u64(out, cases[i].v);
        cr_assert_eq((size_t)(end - out), strlen(cases[i].want), "case %zu", i);
        cr_assert_eq(*end, 'x', "case %zu: no NUL, nothing beyond", i);
        *end = '\0';
        cr_assert_str_eq(out, cases[i].want, "case %zu", i);
    }
}

Test(str, to_u64)
{
    uint64_t v = 7;
    cr_assert_eq(str_to_u64(STR_LIT("0"), 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(str_to_u64(STR_LIT("18446744073709551615"), UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(str_to_u64(STR_LIT("18446744073709551616"), UINT64_MAX, &v), IMX_ETOOLARGE);
    cr_assert_eq(str_to_u64(STR_LIT("11"), 10, &v), IMX_ETOOLARGE);
    cr_assert_eq(str_to_u64(STR_LIT("10"), 10, &v), 0);
    cr_assert_eq(str_to_u64(STR_LIT("9"), 5, &v), IMX_ETOOLARGE);
    cr_assert_eq(str_to_u64(STR_LIT(""), 10, &v), IMX_ESYNTAX);
    cr_assert_eq(str_to_u64(STR_LIT("1a"), 100, &v), IMX_ESYNTAX);
    cr_assert_eq(str_to_u64(STR_LIT("-1"), 100, &v), IMX_ESYNTAX);
    cr_assert_eq(v, 10, "out written only on success");
}

Test(str, cursor)
{
    struct str_cursor c = str_cursor(STR_LIT("bytes=  0-99,x"));
    struct str w;

    cr_assert(str_cur_lit(&c, "bytes="));
    cr_assert_not(str_cur_lit(&c, "zz"));
    str_cur_skip_ws(&c);
    w = str_cur_until(&c, ',');
    cr_assert(str_eq(w, STR_LIT("0-99")));
    cr_assert(str_cur_lit(&c, ","));
    w = str_cur_until(&c, ',');
    cr_assert(str_eq(w, STR_LIT("x")));
    cr_assert(str_cur_eof(&c));
}

Test(str, utf8_seq)
{
    static const struct {
        const char *in;
        size_t len;
        size_t want;
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},             /* é */
        {"\xe2\x82\xac", 3, 3},         /* € */
        {"\xf0\x9f\x90\x8d", 4, 4},     /* U+1F40D */
        {"\xc3", 1, 0},                 /* truncated */
        {"\xc0\x80", 2, 0},             /* overlong NUL */
        {"\xe0\x80\x80", 3, 0},         /* overlong */
        {"\xed\xa0\x80", 3, 0},         /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0},     /* beyond U+10FFFF */
        {"\xff", 1, 0},
        {"\x80", 1, 0},                 /* lone continuation */
        {"\xe2\x28\xa1", 3, 0},         /* bad continuation */
        {"", 1, 0},                     /* NUL */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        cr_assert_eq(str_utf8_seq((const unsigned char *)cases[i].in, cases[i].len), cases[i].want,
                     "case %zu", i);
    cr_assert_eq(str_utf8_seq((const unsigned char *)"a", 0), 0);
}
