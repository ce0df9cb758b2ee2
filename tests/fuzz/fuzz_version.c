/*
 * fuzz_version.c - libFuzzer driver for resolver/pep/version.c and
 * specifier.c.
 *
 * Invariants, beyond not crashing: for every input that parses,
 * version_normalize's output parses again, compares equal to the input
 * and is its own normal form; compare is reflexive. The input split at its
 * first newline gives two versions whose comparison is antisymmetric, and
 * a specifier (text before the newline) that either fails to parse or
 * answers for the version after it.
 */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "specifier.h"
#include "version.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "invariant failed: %s\n", #c);                                \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static void check_one(const char *p, size_t len)
{
    struct version v, v2;
    struct buf b1, b2;
    int rc = version_parse(p, len, &v);

    CHECK(rc == 0 || rc == IMX_ESYNTAX || rc == IMX_ETOOLARGE);
    if (rc != 0)
        return;
    CHECK(v.nrelease >= 1 && v.nrelease <= VERSION_MAX_RELEASE);
    CHECK(v.nlocal <= VERSION_MAX_LOCAL);
    for (size_t i = 0; i < v.nlocal; i++)
        CHECK(v.local[i].p >= p && v.local[i].p + v.local[i].len <= p + len);
    CHECK(version_compare(&v, &v) == 0);
    buf_init(&b1, BUF_NOMAX);
    buf_init(&b2, BUF_NOMAX);
    CHECK(version_format(&v, &b1) == 0);
    CHECK(version_parse(b1.p, b1.len, &v2) == 0);
    CHECK(version_compare(&v, &v2) == 0);
    CHECK(version_normalize(b1.p, b1.len, &b2) == 0);
    CHECK(b1.len == b2.len && memcmp(b1.p, b2.p, b1.len) == 0);
    buf_release(&b1);
    buf_release(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    struct version a, b;
    struct specifier_set set;

    check_one(p, size);
    if (!nl)
        return 0;
    check_one(p, (size_t)(nl - p));
    check_one(nl + 1, size - (size_t)(nl - p) - 1);
    if (version_parse(p, (size_t)(nl - p), &a) == 0 &&
        version_parse(nl + 1, size - (size_t)(nl - p) - 1, &b) == 0) {
        int ab = version_compare(&a, &b), ba = version_compare(&b, &a);
        CHECK((ab < 0) == (ba > 0) && (ab == 0) == (ba == 0));
    }
    if (specifier_parse(p, (size_t)(nl - p), &set) == 0) {
        CHECK(set.n <= SPECIFIER_MAX);
        if (version_parse(nl + 1, size - (size_t)(nl - p) - 1, &b) == 0)
            (void)specifier_contains(&set, &b);
    }
    return 0;
}
