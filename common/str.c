/* str.c - slice helpers and cursor; see str.h. */
#include "compat.h"

#include "err.h"
#include "str.h"
#include "xalloc.h"

struct str str_from(const char *cstr)
{
    if (!cstr)
        return STR_NULL;
    return (struct str){cstr, strlen(cstr)};
}

struct str str_make(const char *p, size_t len)
{
    return (struct str){p, len};
}

bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool str_eq_cstr(struct str a, const char *b)
{
    return str_eq(a, str_from(b));
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool str_eq_nocase(struct str a, struct str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        /* Equal bytes first: headers are mostly in the case they are compared with. */
        if (a.p[i] != b.p[i] && lower(a.p[i]) != lower(b.p[i]))
            return false;
    }
    return true;
}

bool str_starts_with(struct str s, struct str prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.p, prefix.p, prefix.len) == 0);
}

bool str_ends_with(struct str s, struct str suffix)
{
    return s.len >= suffix.len &&
           (suffix.len == 0 || memcmp(s.p + s.len - suffix.len, suffix.p, suffix.len) == 0);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct str str_trim(struct str s)
{
    while (s.len && is_ws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_ws(s.p[s.len - 1]))
        s.len--;
    return s;
}

ptrdiff_t str_index(struct str s, char c)
{
    const char *q = s.len ? memchr(s.p, c, s.len) : NULL;
    return q ? q - s.p : -1;
}

ptrdiff_t str_rindex(struct str s, char c)
{
    for (size_t i = s.len; i > 0; i--) {
        if (s.p[i - 1] == c)
            return (ptrdiff_t)(i - 1);
    }
    return -1;
}

struct str str_sub(struct str s, size_t from, size_t to)
{
    if (to > s.len)
        to = s.len;
    if (from > to)
        from = to;
    return (struct str){s.p + from, to - from};
}

char *str_dup(struct str s)
{
    return xstrndup(s.p ? s.p : "", s.len);
}

size_t str_copy(char *dst, size_t cap, const char *src)
{
    size_t n;
    size_t k;

    assert(dst != NULL && src != NULL && cap > 0);
    n = strlen(src);
    k = n < cap ? n : cap - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}

char *str_put_u64(char *w, uint64_t v)
{
    char num[24];
    size_t k = sizeof(num);

    do {
        num[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(w, num + k, sizeof(num) - k);
    return w + (sizeof(num) - k);
}

int str_to_u64(struct str s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s.len == 0)
        return IMX_ESYNTAX;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d;
        if (s.p[i] < '0' || s.p[i] > '9')
            return IMX_ESYNTAX;
        d = (unsigned)(s.p[i] - '0');
        if (v > max / 10 || (v == max / 10 && d > max % 10))
            return IMX_ETOOLARGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

size_t str_utf8_seq(const unsigned char *p, size_t len)
{
    unsigned char c;
    size_t n;
    uint32_t cp;

    if (len == 0 || p[0] == 0)
        return 0;
    c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* overlong, surrogate or beyond U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

struct str_cursor str_cursor(struct str s)
{
    return (struct str_cursor){s.p, s.p + s.len};
}

bool str_cur_eof(const struct str_cursor *c)
{
    return c->p >= c->end;
}

void str_cur_skip_ws(struct str_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

bool str_cur_lit(struct str_cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

struct str str_cur_until(struct str_cursor *c, char delim)
{
    const char *start = c->p;
    while (c->p < c->end && *c->p != delim)
        c->p++;
    return (struct str){start, (size_t)(c->p - start)};
}
