/* err.c - imx_strerror() generated from the IMX_ERRNO_MAP table in err.h. */
#include "compat.h"

#include "err.h"

const char *imx_strerror(int rc)
{
    switch (rc) {
    case IMX_OK:
        return "success";
#define XX(code, msg)                                                           \
    case IMX_##code:                                                            \
        return msg;
        IMX_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}
