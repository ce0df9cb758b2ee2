/*
 * xalloc.h - allocation that never returns NULL (habit 8).
 *
 * Every allocation in indexmux goes through these. On out-of-memory they
 * print one line to stderr and abort(): a server that cannot allocate a few
 * bytes cannot do anything useful, and checking every call site hides the
 * real errors. What untrusted bytes can grow is capped elsewhere (buf.h).
 * All returned memory is owned by the caller and released with free().
 */
#ifndef IMX_XALLOC_H
#define IMX_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array of `*cap` elements of `size` bytes to hold at least `need`. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
/* Copy n bytes of s and NUL-terminate (s need not be terminated). */
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* printf into fresh memory. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
