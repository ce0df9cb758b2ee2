/*
 * pkgname.h - PEP 503 project-name normalisation and PEP 508 name validity.
 *
 * Pure functions over (p, len) slices; nothing here allocates except
 * pkgname_normalize, which appends to a caller-owned struct buf.
 */
#ifndef IMX_PKGNAME_H
#define IMX_PKGNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Append the PEP 503 normal form of the name [p, p+len) to `out`:
 * every run of '-', '_' and '.' becomes one '-', ASCII letters are
 * lower-cased; other bytes are copied unchanged (validity is a separate
 * question, see pkgname_valid).
 *
 * @param[in]     p, len  the name; need not be NUL-terminated
 * @param[in,out] out     initialised buffer; the normal form is appended
 * @return 0, or IMX_ETOOLARGE when `out` would pass its cap (then `out`
 *         holds exactly what it held before the call).
 */
int pkgname_normalize(const char *p, size_t len, struct buf *out);

/* True iff [p, p+len) equals its own PEP 503 normal form. */
bool pkgname_is_normalized(const char *p, size_t len);

/*
 * True iff the name matches PEP 508's name rule: non-empty, only ASCII
 * letters, digits, '.', '-' and '_', first and last byte alphanumeric.
 */
bool pkgname_valid(const char *p, size_t len);

/*
 * True iff a and b have the same PEP 503 normal form. Allocation-free.
 */
bool pkgname_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
