/*
 * fuzz_range.c - libFuzzer driver for server/range.c.
 *
 * Input: 8 bytes of size (little-endian, optional) then the Range header.
 * Invariant: range_parse returns 0, IMX_ERANGE or IMX_ENOTFOUND, and on 0
 * the range is inside the file: len > 0 and start + len <= size (checked
 * without overflow). Several sizes are tried for each header, including
 * 0, 1 and UINT64_MAX, because the edge cases live there.
 */
#include "compat.h"

#include "err.h"
#include "range.h"
#include "xalloc.h"

static void check(const char *h, uint64_t size)
{
    struct range r = {0, 0};
    int rc = range_parse(h, size, &r);

    if (rc == 0) {
        if (r.len == 0 || r.start >= size || r.len > size - r.start)
            abort();
    } else if (rc != IMX_ERANGE && rc != IMX_ENOTFOUND) {
        abort();
    }
    (void)range_if_range_matches(h, "\"abc\"");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t fsize = 1000;
    char *h;

    if (size >= 8) {
        fsize = 0;
        for (int i = 7; i >= 0; i--)
            fsize = (fsize << 8) | data[i];
        data += 8;
        size -= 8;
    }
    h = xstrndup((const char *)data, size);
    check(h, fsize);
    check(h, 0);
    check(h, 1);
    check(h, 1000);
    check(h, UINT64_MAX);
    check(h, UINT64_MAX - 1);
    free(h);
    return 0;
}
