/* buf.c - capped growable buffer; see buf.h for the invariants. */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "xalloc.h"

void buf_init(struct buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    if (!b)
        return;
    free(b->p);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static int ensure(struct buf *b, size_t n)
{
    size_t need;

    if (n > b->max || b->len > b->max - n)
        return IMX_ETOOLARGE;
    need = b->len + n + 1;
    if (need > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < need)
            ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        b->p = xrealloc(b->p, ncap);
        b->cap = ncap;
    }
    return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    return ensure(b, n);
}

void buf_commit(struct buf *b, size_t n)
{
    assert(b->p != NULL || n == 0);
    assert(n < b->cap - b->len || (b->p == NULL && n == 0));
    b->len += n;
    if (b->p)
        b->p[b->len] = '\0';
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = ensure(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_appends(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    int rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return IMX_EINVAL;
    rc = ensure(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_cstr(const struct buf *b)
{
    return b->p ? b->p : "";
}

char *buf_detach(struct buf *b, size_t *len_out)
{
    char *p = b->p ? b->p : xstrdup("");
    if (len_out)
        *len_out = b->len;
    buf_init(b, b->max);
    return p;
}
