/* Tests for common/buf.c: growth, the hard cap, detach. */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"

Test(buf, append_and_cstr)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_str_eq(buf_cstr(&b), "");
    cr_assert_eq(buf_append(&b, "abc", 3), 0);
    cr_assert_eq(buf_appends(&b, "def"), 0);
    cr_assert_eq(buf_putc(&b, 'g'), 0);
    cr_assert_eq(buf_printf(&b, "-%d-", 42), 0);
    cr_assert_str_eq(buf_cstr(&b), "abcdefg-42-");
    cr_assert_eq(b.len, 11);
    buf_release(&b);
    cr_assert_null(b.p);
    cr_assert_eq(b.max, 100);
}

Test(buf, refuses_to_grow_past_cap)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append(&b, "12345678", 8), 0);
    cr_assert_eq(buf_append(&b, "9", 1), IMX_ETOOLARGE);
    cr_assert_eq(buf_printf(&b, "%s", "x"), IMX_ETOOLARGE);
    cr_assert_eq(b.len, 8, "a refused append leaves the buffer unchanged");
    cr_assert_str_eq(buf_cstr(&b), "12345678");
    buf_release(&b);
}

Test(buf, cap_checks_huge_lengths_without_overflow)
{
    struct buf b;
    buf_init(&b, 16);
    cr_assert_eq(buf_append(&b, "x", 1), 0);
    cr_assert_eq(buf_append(&b, "y", SIZE_MAX), IMX_ETOOLARGE);
    buf_release(&b);
}

Test(buf, grows_across_many_appends)
{
    struct buf b;
    buf_init(&b, BUF_NOMAX);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(buf_putc(&b, (char)('a' + i % 26)), 0);
    cr_assert_eq(b.len, 10000);
    cr_assert_eq(b.p[9999], (char)('a' + 9999 % 26));
    cr_assert_eq(b.p[10000], '\0');
    buf_release(&b);
}

Test(buf, detach_and_reset)
{
    struct buf b;
    size_t n = 0;
    char *p;

    buf_init(&b, 64);
    buf_appends(&b, "hello");
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_appends(&b, "world");
    p = buf_detach(&b, &n);
    cr_assert_str_eq(p, "world");
    cr_assert_eq(n, 5);
    cr_assert_null(b.p);
    free(p);
    p = buf_detach(&b, &n);
    cr_assert_str_eq(p, "");
    free(p);
    buf_release(NULL);
}

Test(buf, reserve_then_commit)
{
    static const struct {
        size_t max, have, reserve;
        int rc;
    } cases[] = {
        {BUF_NOMAX, 0, 0, 0},   {BUF_NOMAX, 0, 10, 0}, {BUF_NOMAX, 5, 1000, 0},
        {16, 0, 16, 0},         {16, 0, 17, IMX_ETOOLARGE}, {16, 10, 6, 0},
        {16, 10, 7, IMX_ETOOLARGE}, {16, 3, SIZE_MAX, IMX_ETOOLARGE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b;
        buf_init(&b, cases[i].max);
        for (size_t k = 0; k < cases[i].have; k++)
            cr_assert_eq(buf_putc(&b, 'h'), 0);
        cr_assert_eq(buf_reserve(&b, cases[i].reserve), cases[i].rc, "case %zu", i);
        if (cases[i].rc == 0 && cases[i].reserve > 0) {
            char *w = b.p + b.len;
            size_t n = cases[i].reserve < 40 ? cases[i].reserve : 40;
            void *before = b.p;
            memset(w, 'w', n);
            buf_commit(&b, n);
            cr_assert_eq(b.p, before, "case %zu: no reallocation", i);
            cr_assert_eq(b.len, cases[i].have + n);
            cr_assert_eq(b.p[b.len], '\0');
            cr_assert_eq(b.p[b.len - 1], 'w');
        } else {
            cr_assert_eq(b.len, cases[i].have, "case %zu: unchanged", i);
        }
        buf_commit(&b, 0);
        cr_assert_eq(b.len, cases[i].have + (cases[i].rc == 0 && cases[i].reserve > 0
                                                 ? (cases[i].reserve < 40 ? cases[i].reserve : 40)
                                                 : 0));
        buf_release(&b);
    }
}
