/*
 * fuzz_pkgname.c - libFuzzer driver for resolver/pep/pkgname.c.
 *
 * Invariants: normalisation is idempotent, its output is reported
 * normalised and pkgname_eq to the input, never longer than the input,
 * and validity survives normalisation.
 */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "pkgname.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "invariant failed: %s\n", #c);                                \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct buf n1, n2;

    buf_init(&n1, BUF_NOMAX);
    buf_init(&n2, BUF_NOMAX);
    CHECK(pkgname_normalize(p, size, &n1) == 0);
    CHECK(n1.len <= size);
    CHECK(pkgname_normalize(n1.p, n1.len, &n2) == 0);
    CHECK(n1.len == n2.len && (n1.len == 0 || memcmp(n1.p, n2.p, n1.len) == 0));
    CHECK(pkgname_is_normalized(n1.p, n1.len));
    CHECK(pkgname_eq(p, size, n1.p, n1.len));
    CHECK(pkgname_is_normalized(p, size) == (n1.len == size && (size == 0 || memcmp(p, n1.p, size) == 0)));
    if (pkgname_valid(p, size))
        CHECK(pkgname_valid(n1.p, n1.len));
    buf_release(&n1);
    buf_release(&n2);
    return 0;
}
