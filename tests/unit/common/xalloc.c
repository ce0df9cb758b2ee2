/* Tests for common/xalloc.c: copies, growth, and abort on impossible sizes. */
#include "compat.h"

#include <signal.h>

#include <criterion/criterion.h>

#include "xalloc.h"

Test(xalloc, copies)
{
    char *s = xstrndup("abcdef", 3);
    char *t = xasprintf("%s-%d", s, 7);
    cr_assert_str_eq(s, "abc");
    cr_assert_str_eq(t, "abc-7");
    free(s);
    free(t);
}

Test(xalloc, grow)
{
    int *a = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 1000; i++) {
        a = xgrow(a, &cap, i + 1, sizeof(*a));
        a[i] = (int)i;
    }
    cr_assert_geq(cap, 1000);
    cr_assert_eq(a[999], 999);
    free(a);
}

Test(xalloc, aborts_on_oom, .signal = SIGABRT)
{
    void *p = xmalloc(SIZE_MAX / 2);
    free(p);
}
