/*
 * err.h - the one error vocabulary of indexmux (habit 4).
 *
 * Functions that can fail return int: 0 on success, a negative IMX_E* code
 * otherwise. Expected outcomes are codes too (IMX_ENOTFOUND for a cache miss
 * or an unknown project, IMX_ENOTMODIFIED for an upstream 304).
 */
#ifndef IMX_ERR_H
#define IMX_ERR_H

#define IMX_ERRNO_MAP(XX)                                                       \
    XX(EINVAL, "invalid argument")                                              \
    XX(ENOTFOUND, "not found")                                                  \
    XX(EAGAIN, "not ready yet")                                                 \
    XX(ENOTMODIFIED, "not modified")                                            \
    XX(ETOOLARGE, "too large")                                                  \
    XX(ESYNTAX, "syntax error")                                                 \
    XX(EIO, "i/o error")                                                        \
    XX(ENOSPC, "no space left on device")                                       \
    XX(EMAPFULL, "metadata store is full")                                      \
    XX(ECORRUPT, "stored data is corrupt")                                      \
    XX(EHASH, "hash mismatch")                                                  \
    XX(EUPSTREAM, "upstream error")                                             \
    XX(ETIMEDOUT, "timed out")                                                  \
    XX(EOFFLINE, "offline mode forbids upstream requests")                      \
    XX(EAUTH, "credentials missing")                                            \
    XX(ERANGE, "range not satisfiable")                                         \
    XX(EEXIST, "already exists")                                                \
    XX(ECONFIG, "configuration error")                                          \
    XX(ECANCELED, "canceled")

enum imx_err {
    IMX_OK = 0,
    IMX_ERR_BASE_ = -1000,
#define XX(code, _) IMX_##code,
    IMX_ERRNO_MAP(XX)
#undef XX
    IMX_ERR_MAX_
};

/*
 * Return a static, human-readable description of an IMX_E* code (or of 0).
 * Unknown codes give "unknown error". Never NULL; never to be freed.
 */
const char *imx_strerror(int rc);

#endif
