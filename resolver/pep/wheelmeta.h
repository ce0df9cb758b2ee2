/*
 * wheelmeta.h - read a wheel's core metadata (`.dist-info/METADATA`) out of
 * the zip, for PEP 658 on upstreams that do not offer it.
 *
 * Pure: no I/O of its own. The caller supplies a read-at-offset callback
 * (pread on a stored blob, a memory buffer in tests and the fuzzer) and the
 * file size; every offset the zip claims is checked against that size and
 * against the structure it must lie in before anything is read, so a
 * hostile zip (truncated, overlapping, lying sizes, bogus ZIP64 records)
 * gives IMX_ECORRUPT, never a read outside [0, size).
 *
 * Calling sequence:
 *
 *   char *meta = NULL;
 *   size_t n = 0;
 *   rc = wheelmeta_extract(read_cb, ctx, size, &meta, &n);
 *   ... use meta[0..n) ...
 *   free(meta);
 *
 * What is accepted (and what pip does too, operations/wheel.py):
 *   - the End Of Central Directory record is searched in the last
 *     64 KiB + 22 bytes; a ZIP64 locator just before it switches to the
 *     ZIP64 EOCD record (entry counts, central directory size and offset);
 *     per-entry ZIP64 extra fields supply sizes/offsets saturated at
 *     0xffffffff; multi-disk archives are rejected;
 *   - exactly one top-level directory whose name ends in ".dist-info" (several
 *     are ambiguous: IMX_ECORRUPT), holding exactly one "METADATA" entry;
 *   - the entry stored (method 0) or deflated (method 8), not encrypted;
 *     its local header must name the same file, lie before the central
 *     directory, and the inflated bytes must match the central directory's
 *     size and CRC-32.
 */
#ifndef IMX_WHEELMETA_H
#define IMX_WHEELMETA_H

#include <stddef.h>
#include <stdint.h>

#define WHEELMETA_MAX_METADATA (16u << 20)     /* uncompressed METADATA */
#define WHEELMETA_MAX_CENTRAL_DIR (64u << 20)  /* bytes of central directory */
#define WHEELMETA_MAX_ENTRIES 1000000u         /* central directory entries */

/*
 * Read exactly `len` bytes at offset `off` into `dst`. wheelmeta only asks
 * for ranges inside [0, size). Return 0, or a negative IMX_E* code (IMX_EIO
 * for a failed or short read), which wheelmeta_extract passes on.
 */
typedef int (*wheelmeta_read_fn)(void *ctx, uint64_t off, void *dst, size_t len);

/*
 * Extract the METADATA of the wheel of `size` bytes that `read` reads.
 * @param[in]  read, ctx  the byte source (ctx is passed through)
 * @param[in]  size       the file size; nothing at or past it is read
 * @param[out] out        written only on success: the bytes, NUL-terminated
 *                        (not counted), malloc'd; the caller frees them
 * @param[out] out_len    written only on success: their length
 * @return 0;
 *         IMX_ENOTFOUND  a valid zip without a .dist-info/METADATA entry;
 *         IMX_ECORRUPT   not a zip, truncated, inconsistent or ambiguous
 *                        (several .dist-info directories or METADATA
 *                        entries), bad CRC, unsupported method/encryption,
 *                        multi-disk;
 *         IMX_ETOOLARGE  METADATA, the central directory or the entry count
 *                        above the WHEELMETA_MAX_* caps;
 *         any code `read` returns.
 */
int wheelmeta_extract(wheelmeta_read_fn read, void *ctx, uint64_t size, char **out /* OUT */,
                      size_t *out_len /* OUT */);

/*
 * A wheelmeta_read_fn over memory: ctx is a struct wheelmeta_mem.
 * Returns 0, or IMX_EIO when the range is outside the buffer.
 */
struct wheelmeta_mem {
    const unsigned char *p;
    size_t len;
};
int wheelmeta_read_mem(void *ctx, uint64_t off, void *dst, size_t len);

#endif
