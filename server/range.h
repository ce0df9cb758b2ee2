/*
 * range.h - the Range and If-Range request headers for package files
 * (RFC 9110 sections 14.2 and 13.1.5). Pure functions: no allocation, no
 * I/O, thread-safe.
 *
 * Only single byte ranges are honoured: `bytes=a-b`, `bytes=a-`, `bytes=-n`
 * (unit name case-insensitive, optional whitespace around the spec). Every
 * form RFC 9110 lets a server ignore is ignored, and the caller then sends
 * the whole file with 200: several ranges, other units, syntax errors,
 * a > b, numbers that do not fit in uint64_t.
 */
#ifndef IMX_RANGE_H
#define IMX_RANGE_H

#include <stdbool.h>
#include <stdint.h>

struct range {
    uint64_t start; /* first byte */
    uint64_t len;   /* > 0; start + len <= size */
};

/*
 * Resolve a Range header against a representation of `size` bytes.
 *   header  [in] the Range value, NULL when absent
 *   size    [in] the file size
 *   out     [out] written only when 0 is returned
 * Returns
 *   0              honour it: 206 with Content-Range: bytes start-(start+len-1)/size;
 *                  an end past the last byte is clamped to size-1
 *   IMX_ERANGE     syntactically fine but unsatisfiable (first byte >= size,
 *                  a suffix of 0 bytes, any range of an empty file):
 *                  416 with Content-Range: bytes STAR/size (STAR being '*')
 *   IMX_ENOTFOUND  no header, or one to ignore: send 200 with the whole file
 */
int range_parse(const char *header, uint64_t size, struct range *out /* OUT */);

/*
 * Whether a Range header may be honoured given If-Range.
 *   if_range [in] the If-Range value, NULL when absent
 *   etag     [in] the current strong ETag of the file including its quotes
 *            (e.g. "\"3f2a...\""), or NULL when the file has none
 * Returns true when if_range is NULL, or when it is a strong entity-tag equal
 * byte for byte to etag (strong comparison). A weak tag (W/"..."), an HTTP
 * date, a malformed value, or a NULL etag give false: send the whole file.
 */
bool range_if_range_matches(const char *if_range, const char *etag);

#endif
