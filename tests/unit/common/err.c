/* Tests for common/err.c: every code has its own message. */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"

Test(err, every_code_has_a_distinct_message)
{
    cr_assert_str_eq(imx_strerror(0), "success");
    cr_assert_str_eq(imx_strerror(IMX_ENOTFOUND), "not found");
    cr_assert_str_eq(imx_strerror(IMX_ETOOLARGE), "too large");
    cr_assert_str_eq(imx_strerror(12345), "unknown error");
    for (int a = IMX_ERR_BASE_ + 1; a < IMX_ERR_MAX_; a++) {
        cr_assert(a < 0, "codes are negative");
        cr_assert_str_neq(imx_strerror(a), "unknown error");
        for (int b = a + 1; b < IMX_ERR_MAX_; b++)
            cr_assert_str_neq(imx_strerror(a), imx_strerror(b));
    }
}
