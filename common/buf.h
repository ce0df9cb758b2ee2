/*
 * buf.h - growable byte buffer with a hard cap (curl's dynbuf, git's strbuf).
 *
 * Invariants: after buf_init(), `p` is either NULL (nothing appended yet) or
 * points at `len` bytes followed by a NUL that is not counted in `len`, so
 * a text buffer can be handed to printf-style functions. `len` never exceeds
 * `max`: an append that would pass it fails with IMX_ETOOLARGE and leaves
 * the buffer unchanged. Every buffer that upstream or client bytes can grow
 * is created with the limit that applies to those bytes.
 *
 * Calling sequence: buf_init -> buf_append* / buf_printf* -> buf_release
 * (or buf_detach to keep the bytes). buf_reset empties but keeps memory.
 *
 * Writing in place, for a renderer that knows the most it may write:
 * buf_reserve(b, n) makes room, the caller writes at most n bytes at
 * b->p + b->len, then buf_commit(b, written) adds them to the contents.
 * Nothing else may touch the buffer in between.
 */
#ifndef IMX_BUF_H
#define IMX_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *p;    /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the trailing NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len */
};

#define BUF_NOMAX ((size_t)-1)

void buf_init(struct buf *b, size_t max);
/* Free the memory and reinitialise with the same max. NULL-safe. */
void buf_release(struct buf *b);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Returns 0, or IMX_ETOOLARGE when len + n would exceed max (nothing appended). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appends(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Room for n more bytes (and the NUL after them) without reallocating.
 * Returns 0, or IMX_ETOOLARGE when len + n would exceed max (nothing changes).
 */
int buf_reserve(struct buf *b, size_t n);
/*
 * The n bytes written at p + len (n at most what the last buf_reserve
 * allowed) become part of the contents; the NUL is written after them.
 */
void buf_commit(struct buf *b, size_t n);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* The contents as a C string; "" when empty. Borrowed: valid until the next change. */
const char *buf_cstr(const struct buf *b);
/* Take ownership of the bytes (NUL-terminated, never NULL); the buffer is emptied. */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
