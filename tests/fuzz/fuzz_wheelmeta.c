/*
 * fuzz_wheelmeta.c - libFuzzer driver for resolver/pep/wheelmeta.c.
 *
 * The input is the whole zip. Invariants: every read wheelmeta asks for lies
 * inside the input (the byte source aborts otherwise); on success the result
 * is within the METADATA cap, NUL-terminated, and extracting again gives the
 * same bytes; a failure is one of the documented codes.
 */
#include "compat.h"

#include <stdio.h>

#include "err.h"
#include "wheelmeta.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "invariant failed: %s\n", #c);                                \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

struct src {
    const uint8_t *p;
    size_t len;
};

static int read_checked(void *ctx, uint64_t off, void *dst, size_t len)
{
    const struct src *s = ctx;

    CHECK(off <= s->len && len <= s->len - off);
    memcpy(dst, s->p + off, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct src s = {data, size};
    char *meta = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    int rc = wheelmeta_extract(read_checked, &s, size, &meta, &n);

    CHECK(rc == 0 || rc == IMX_ECORRUPT || rc == IMX_ENOTFOUND || rc == IMX_ETOOLARGE);
    if (rc != 0) {
        CHECK(meta == NULL);
        return 0;
    }
    CHECK(meta != NULL && n <= WHEELMETA_MAX_METADATA && meta[n] == '\0');
    CHECK(wheelmeta_extract(read_checked, &s, size, &again, &n2) == 0);
    CHECK(n2 == n && memcmp(meta, again, n) == 0);
    free(again);
    free(meta);
    return 0;
}
