/*
 * pkgname.c - PEP 503 name normalisation: re.sub(r"[-_.]+", "-", n).lower().
 *
 * The server routes /simple/<name>/ by the normal form and the resolver keys
 * its caches by it, so the two must agree byte for byte; both call here.
 */
#include "compat.h"

#include "err.h"
#include "pkgname.h"

static bool is_sep(char c)
{
    return c == '-' || c == '_' || c == '.';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * Produce the normal form one byte at a time, so normalize, is_normalized
 * and eq share one definition. *i is the input position; returns the next
 * output byte, or -1 at the end.
 */
static int next_norm(const char *p, size_t len, size_t *i)
{
    char c;

    if (*i >= len)
        return -1;
    c = p[*i];
    if (is_sep(c)) {
        while (*i < len && is_sep(p[*i]))
            (*i)++;
        return '-';
    }
    (*i)++;
    return (unsigned char)lower(c);
}

int pkgname_normalize(const char *p, size_t len, struct buf *out)
{
    size_t i = 0;
    size_t n = 0;
    int c;
    int rc = 0;

    assert(p != NULL || len == 0);
    /* Measure first so that a too-long name appends nothing. */
    while (next_norm(p, len, &i) >= 0)
        n++;
    if (n > out->max - out->len) {
        rc = IMX_ETOOLARGE;
        goto out;
    }
    i = 0;
    while ((c = next_norm(p, len, &i)) >= 0) {
        rc = buf_putc(out, (char)c);
        if (NEVER(rc != 0))
            goto out;
    }
out:
    return rc;
}

bool pkgname_is_normalized(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] >= 'A' && p[i] <= 'Z')
            return false;
        if (p[i] == '_' || p[i] == '.')
            return false;
        if (p[i] == '-' && i + 1 < len && is_sep(p[i + 1]))
            return false;
    }
    return true;
}

bool pkgname_valid(const char *p, size_t len)
{
    if (len == 0 || !is_alnum(p[0]) || !is_alnum(p[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_alnum(p[i]) && !is_sep(p[i]))
            return false;
    }
    return true;
}

bool pkgname_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;

    for (;;) {
        int ca = next_norm(a, alen, &i);
        int cb = next_norm(b, blen, &j);
        if (ca != cb)
            return false;
        if (ca < 0)
            return true;
    }
}
