/*
 * fuzz_marker.c - libFuzzer driver for resolver/pep/marker.c.
 *
 * Invariants, beyond not crashing: marker_to_string of a parsed tree
 * parses again to an equal tree (marker_equal) and renders identically;
 * evaluation is monotone under refinement: whenever a partial environment
 * gives a definite answer, every full environment consistent with it gives
 * the same one (checked for several nested pairs of environments).
 */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "marker.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "invariant failed: %s\n", #c);                                \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static const char *const full_values[][MV__COUNT] = {
    {"posix", "linux", "x86_64", "CPython", "6.1.0", "Linux", "#1 SMP", "3.11", "3.11.2",
     "cpython", "3.11.2", "gpu"},
    {"posix", "darwin", "arm64", "PyPy", "23.1.0", "Darwin", "Darwin Kernel", "3.10", "3.10.13",
     "pypy", "7.3.13", ""},
    {"nt", "win32", "AMD64", "CPython", "10", "Windows", "10.0.19045", "3.8", "3.8.10",
     "cpython", "3.8.10", "test"},
};

static void check_refinement(const struct marker *m)
{
    for (size_t f = 0; f < ARRAY_SIZE(full_values); f++) {
        struct marker_env full, partial, setenv;
        enum tri tf, tp, ts;

        marker_env_init(&full);
        marker_env_init(&partial);
        marker_env_init(&setenv);
        for (int v = 0; v < MV__COUNT; v++) {
            CHECK(marker_env_add(&full, (enum marker_var)v, full_values[f][v]) == 0);
            /* partial: only the platform variables known */
            if (v <= MV_PLATFORM_MACHINE || v == MV_PLATFORM_SYSTEM)
                CHECK(marker_env_add(&partial, (enum marker_var)v, full_values[f][v]) == 0);
            /* set: each variable one of the values of every full environment */
            for (size_t g = 0; g < ARRAY_SIZE(full_values); g++)
                CHECK(marker_env_add(&setenv, (enum marker_var)v, full_values[g][v]) == 0);
        }
        tf = marker_eval(m, &full);
        tp = marker_eval(m, &partial);
        ts = marker_eval(m, &setenv);
        CHECK(tf != TRI_UNKNOWN);
        CHECK(tp == TRI_UNKNOWN || tp == tf);
        CHECK(ts == TRI_UNKNOWN || ts == tf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct marker *m = NULL, *m2 = NULL;
    struct marker_env empty;
    struct buf b1, b2;
    char err[128];
    int rc;

    rc = marker_parse((const char *)data, size, &m, err, sizeof(err));
    CHECK(rc == 0 || rc == IMX_ESYNTAX || rc == IMX_ETOOLARGE);
    if (rc != 0)
        return 0;
    buf_init(&b1, BUF_NOMAX);
    buf_init(&b2, BUF_NOMAX);
    CHECK(marker_to_string(m, &b1) == 0);
    rc = marker_parse(b1.p, b1.len, &m2, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "rendered '%s' does not parse: %s\n", buf_cstr(&b1), err);
    CHECK(rc == 0);
    CHECK(marker_equal(m, m2));
    CHECK(marker_to_string(m2, &b2) == 0);
    CHECK(b1.len == b2.len && memcmp(b1.p, b2.p, b1.len) == 0);
    marker_env_init(&empty);
    (void)marker_eval(m, &empty);
    check_refinement(m);
    for (int v = 0; v < MV__COUNT; v++)
        (void)marker_uses(m, (enum marker_var)v);
    marker_free(m);
    marker_free(m2);
    buf_release(&b1);
    buf_release(&b2);
    return 0;
}
