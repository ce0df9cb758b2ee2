/*
 * str.h - length-delimited string slices and a parsing cursor (habit 9).
 *
 * A struct str never owns its bytes and is never assumed NUL-terminated.
 * Parsers take (p, len) or a cursor and return slices into their input.
 */
#ifndef IMX_STR_H
#define IMX_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str {
    const char *p;
    size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
#define STR_NULL ((struct str){NULL, 0})
/* printf("%.*s", STR_FMT(s)) */
#define STR_FMT(s) (int)(s).len, (s).p

struct str str_from(const char *cstr); /* NULL gives STR_NULL */
struct str str_make(const char *p, size_t len);
bool str_eq(struct str a, struct str b);
bool str_eq_cstr(struct str a, const char *b);
bool str_eq_nocase(struct str a, struct str b);
bool str_starts_with(struct str s, struct str prefix);
bool str_ends_with(struct str s, struct str suffix);
/* Strip ASCII space and tab (and CR/LF) from both ends. */
struct str str_trim(struct str s);
/* Offset of the first c, or -1. */
ptrdiff_t str_index(struct str s, char c);
ptrdiff_t str_rindex(struct str s, char c);
struct str str_sub(struct str s, size_t from, size_t to);
/* Copy into fresh NUL-terminated memory (caller frees). */
char *str_dup(struct str s);
/*
 * Copy the C string src into dst[cap] (cap > 0), cut to cap - 1 bytes if
 * longer; dst is always NUL-terminated. Returns strlen(src), so a result
 * >= cap means it was cut (like snprintf, without parsing a format).
 */
size_t str_copy(char *dst, size_t cap, const char *src);
/* Write v in decimal at w (at most 20 bytes, no NUL); returns the end. */
char *str_put_u64(char *w, uint64_t v);
/*
 * Parse an unsigned decimal integer spanning the whole slice, at most `max`.
 * Returns 0, IMX_ESYNTAX (empty, non-digit) or IMX_ETOOLARGE (> max).
 */
int str_to_u64(struct str s, uint64_t max, uint64_t *out /* OUT */);

/*
 * Length (1..4) of the valid UTF-8 sequence at p (len bytes available), or 0
 * when it is invalid (bad lead or continuation byte, truncated, overlong, a
 * surrogate, beyond U+10FFFF) or a NUL.
 */
size_t str_utf8_seq(const unsigned char *p, size_t len);

/* A cursor over [p, end). */
struct str_cursor {
    const char *p;
    const char *end;
};

struct str_cursor str_cursor(struct str s);
bool str_cur_eof(const struct str_cursor *c);
/* Skip spaces and tabs. */
void str_cur_skip_ws(struct str_cursor *c);
/* If the input continues with `lit`, consume it and return true. */
bool str_cur_lit(struct str_cursor *c, const char *lit);
/* Consume bytes up to (not including) `delim` or the end; return them. */
struct str str_cur_until(struct str_cursor *c, char delim);

#endif
