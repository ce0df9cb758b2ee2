/*
 * fuzz_accept.c - libFuzzer driver for server/negotiate.c.
 *
 * Invariants: negotiate_page never crashes on any Accept or ?format= value,
 * returns 0 or IMX_EINVAL, and, for headers without quoted strings (where a
 * comma always separates members), its answer does not depend on the order
 * of the comma-separated members: we compare the input with the same
 * members rotated and reversed.
 */
#include "compat.h"

#include <stdio.h>

#include "err.h"
#include "negotiate.h"
#include "xalloc.h"

#define MAX_MEMBERS 64

/* Rebuild s from its members in the order given by idx (same length). */
static char *rejoin(char *const *m, size_t n, const size_t *idx, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(m[idx[i]]);
        memcpy(out + o, m[idx[i]], l);
        o += l;
        if (i + 1 < n)
            out[o++] = ',';
    }
    out[o] = '\0';
    return out;
}

static void check_permutations(const char *s, int rc, enum negotiate_type t)
{
    char *copy = NULL;
    char *m[MAX_MEMBERS];
    size_t idx[MAX_MEMBERS];
    size_t n = 0;
    size_t len = strlen(s);
    char *p;

    if (strchr(s, '"'))
        return;
    copy = xstrdup(s);
    p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (n == MAX_MEMBERS)
            goto out;
        m[n++] = p;
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    for (int variant = 0; variant < 2; variant++) {
        enum negotiate_type t2 = NEG_TEXT_HTML;
        char *again;
        int rc2;

        for (size_t i = 0; i < n; i++)
            idx[i] = variant == 0 ? (i + 1) % n : n - 1 - i;
        again = rejoin(m, n, idx, len);
        rc2 = negotiate_page(again, NULL, &t2);
        if (rc2 != rc || (rc == 0 && t2 != t)) {
            fprintf(stderr, "order changed the answer:\n  '%s' -> %d/%d\n  '%s' -> %d/%d\n", s,
                    rc, (int)t, again, rc2, (int)t2);
            abort();
        }
        free(again);
    }
out:
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xstrndup((const char *)data, size);
    enum negotiate_type t = NEG_TEXT_HTML;
    int rc;

    rc = negotiate_page(s, NULL, &t);
    if (rc != 0 && rc != IMX_EINVAL)
        abort();
    if (rc == 0 && (unsigned)t > NEG_TEXT_HTML)
        abort();
    check_permutations(s, rc, t);

    /* The same bytes as a ?format= value (never 406 without Accept). */
    if (negotiate_page(NULL, s, &t) != 0)
        abort();
    (void)negotiate_accepts_gzip(s);
    free(s);
    return 0;
}
