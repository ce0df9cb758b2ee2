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
