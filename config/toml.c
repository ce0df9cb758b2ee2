/*
 * toml.c - TOML 1.0 parser (see toml.h), written for indexmux's config file.
 *
 * One pass over the input with a byte offset as cursor. The input is first
 * checked as a whole for UTF-8 validity and forbidden control characters
 * (TOML allows none but tab and newline anywhere, so one check covers
 * comments, strings and keys alike); after that the grammar code can treat
 * every byte >= 0x80 as part of a valid character.
 *
 * Redefinition rules are enforced with flags on table nodes:
 *   TF_IMPLICIT  created as an intermediate of a [header]: may later be
 *                defined once by its own header, never extended by dotted keys
 *   TF_EXPLICIT  defined by a [header]
 *   TF_DOTTED    created by a dotted key (a.b = 1): extensible by more dotted
 *                keys of the same section, may be traversed by a header that
 *                defines a sub-table, never defined by its own header
 *   TF_INLINE    an inline table: immutable once closed
 *   TF_AOT       (arrays) created by [[header]]: may be appended to by
 *                [[header]]; arrays written as values are static
 *
 * Positions are computed lazily from offsets (toml_pos) with a forward-only
 * cache, so the grammar code never tracks lines itself.
 *
 * Depth: every node carries its depth below the root; creating one deeper
 * than TOML_MAX_DEPTH fails, which bounds both the recursion of the value
 * parser and that of every tree walk.
 */
#include "compat.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "err.h"
#include "str.h"
#include "toml.h"
#include "xalloc.h"

enum {
    TF_IMPLICIT = 1u << 0,
    TF_EXPLICIT = 1u << 1,
    TF_DOTTED = 1u << 2,
    TF_INLINE = 1u << 3,
    TF_AOT = 1u << 4,
};

struct toml_parser {
    const char *p;
    size_t len;
    size_t off;
    struct buf *err;
    int depth_error; /* set when the failure was the depth limit */
    /* toml_pos cache: position of offset pc_off */
    size_t pc_off;
    unsigned pc_line, pc_col;
    struct toml_node *root;
    struct toml_node *cur; /* the table keyvals go into */
};

struct toml_keypart {
    char *s;
    size_t len;
    size_t off;
};

struct toml_key {
    struct toml_keypart *parts;
    size_t n, cap;
};

/* ---- positions and errors ---- */

static void toml_pos(struct toml_parser *ps, size_t off, unsigned *line, unsigned *col)
{
    size_t i;

    if (off > ps->len)
        off = ps->len;
    if (off < ps->pc_off) {
        ps->pc_off = 0;
        ps->pc_line = 1;
        ps->pc_col = 1;
    }
    for (i = ps->pc_off; i < off; i++) {
        unsigned char c = (unsigned char)ps->p[i];
        if (c == '\n') {
            ps->pc_line++;
            ps->pc_col = 1;
        } else if ((c & 0xC0) != 0x80 && c != '\r') {
            ps->pc_col++;
        }
    }
    ps->pc_off = off;
    *line = ps->pc_line;
    *col = ps->pc_col;
}

static int toml_fail(struct toml_parser *ps, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int toml_fail(struct toml_parser *ps, size_t off, const char *fmt, ...)
{
    unsigned line, col;
    va_list ap;

    if (!ps->err)
        return IMX_ESYNTAX;
    toml_pos(ps, off, &line, &col);
    buf_printf(ps->err, "%u:%u: ", line, col);
    va_start(ap, fmt);
    buf_vprintf(ps->err, fmt, ap);
    va_end(ap);
    return IMX_ESYNTAX;
}

static int toml_fail_depth(struct toml_parser *ps, size_t off)
{
    ps->depth_error = 1;
    return toml_fail(ps, off, "nesting deeper than %d levels", TOML_MAX_DEPTH);
}

/* ---- nodes ---- */

const char *toml_type_name(enum toml_type t)
{
    switch (t) {
    case TOML_TABLE:
        return "table";
    case TOML_ARRAY:
        return "array";
    case TOML_STRING:
        return "string";
    case TOML_INTEGER:
        return "integer";
    case TOML_FLOAT:
        return "float";
    case TOML_BOOL:
        return "boolean";
    case TOML_DATETIME:
        return "datetime";
    case TOML_DATETIME_LOCAL:
        return "local datetime";
    case TOML_DATE_LOCAL:
        return "local date";
    case TOML_TIME_LOCAL:
        return "local time";
    }
    return "unknown";
}

static struct toml_node *toml_node_new(struct toml_parser *ps, enum toml_type type, unsigned depth,
                                       size_t off)
{
    struct toml_node *n = xcalloc(1, sizeof(*n));

    n->type = type;
    n->depth_ = depth;
    toml_pos(ps, off, &n->line, &n->col);
    n->vline = n->line;
    n->vcol = n->col;
    return n;
}

void toml_free(struct toml_node *n)
{
    size_t i;

    if (!n)
        return;
    for (i = 0; i < n->nkids; i++)
        toml_free(n->kids[i]);
    free(n->kids);
    free(n->hash_);
    free(n->key);
    free(n->s);
    free(n);
}

static uint32_t toml_hash(const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

/* Small tables are searched linearly; large ones get an open-addressing index. */
#define TOML_HASH_MIN 16

static void toml_hash_insert(struct toml_node *t, size_t idx)
{
    size_t mask = t->hcap_ - 1;
    size_t h = toml_hash(t->kids[idx]->key, t->kids[idx]->keylen) & mask;

    while (t->hash_[h] != 0)
        h = (h + 1) & mask;
    t->hash_[h] = (uint32_t)(idx + 1);
}

static struct toml_node *toml_find(const struct toml_node *t, const char *key, size_t len)
{
    size_t i;

    if (t->hash_) {
        size_t mask = t->hcap_ - 1;
        size_t h = toml_hash(key, len) & mask;
        while (t->hash_[h] != 0) {
            struct toml_node *k = t->kids[t->hash_[h] - 1];
            if (k->keylen == len && memcmp(k->key, key, len) == 0)
                return k;
            h = (h + 1) & mask;
        }
        return NULL;
    }
    for (i = 0; i < t->nkids; i++) {
        struct toml_node *k = t->kids[i];
        if (k->keylen == len && memcmp(k->key, key, len) == 0)
            return k;
    }
    return NULL;
}

static void toml_append(struct toml_node *parent, struct toml_node *kid)
{
    parent->kids = xgrow(parent->kids, &parent->cap_, parent->nkids + 1, sizeof(*parent->kids));
    parent->kids[parent->nkids++] = kid;
    if (parent->type != TOML_TABLE || parent->nkids < TOML_HASH_MIN)
        return;
    if (parent->nkids * 2 > parent->hcap_) {
        size_t i;
        free(parent->hash_);
        parent->hcap_ = parent->hcap_ ? parent->hcap_ * 2 : 64;
        parent->hash_ = xcalloc(parent->hcap_, sizeof(*parent->hash_));
        for (i = 0; i < parent->nkids; i++)
            toml_hash_insert(parent, i);
    } else {
        toml_hash_insert(parent, parent->nkids - 1);
    }
}

/* Add `kid` under `key` (ownership of key->s moves to the node). */
static void toml_table_add(struct toml_node *t, struct toml_node *kid, struct toml_keypart *key)
{
    kid->key = key->s;
    kid->keylen = key->len;
    key->s = NULL;
    toml_append(t, kid);
}

const struct toml_node *toml_get(const struct toml_node *table, const char *key)
{
    if (!table || table->type != TOML_TABLE || !key)
        return NULL;
    return toml_find(table, key, strlen(key));
}

/* ---- input checks ---- */

/* Validate UTF-8 and reject control characters other than tab, LF and CRLF. */
static int toml_check_text(struct toml_parser *ps)
{
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t i = ps->off;
    size_t n = ps->len;

    while (i < n) {
        unsigned c = s[i];
        size_t need;

        if (c < 0x80) {
            if (c == '\r') {
                if (i + 1 >= n || s[i + 1] != '\n')
                    return toml_fail(ps, i, "carriage return not followed by newline");
            } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
                return toml_fail(ps, i, "control character U+%04X not allowed", c);
            }
            i++;
            continue;
        }
        need = str_utf8_seq(s + i, n - i);
        if (need == 0)
            return toml_fail(ps, i, "invalid UTF-8");
        i += need;
    }
    return 0;
}

/* ---- lexical helpers ---- */

static int toml_peek(const struct toml_parser *ps, size_t k)
{
    if (ps->off + k >= ps->len)
        return -1;
    return (unsigned char)ps->p[ps->off + k];
}

static bool toml_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool toml_is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || toml_is_digit(c) || c == '_' ||
           c == '-';
}

static void toml_skip_ws(struct toml_parser *ps)
{
    while (ps->off < ps->len && (ps->p[ps->off] == ' ' || ps->p[ps->off] == '\t'))
        ps->off++;
}

static bool toml_at_newline(const struct toml_parser *ps)
{
    int c = toml_peek(ps, 0);
    return c == '\n' || (c == '\r' && toml_peek(ps, 1) == '\n');
}

static void toml_skip_newline(struct toml_parser *ps)
{
    if (toml_peek(ps, 0) == '\r')
        ps->off++;
    ps->off++;
}

static void toml_skip_comment(struct toml_parser *ps)
{
    if (toml_peek(ps, 0) != '#')
        return;
    while (ps->off < ps->len && !toml_at_newline(ps))
        ps->off++;
}

/* Whitespace, newlines and comments (inside arrays). */
static void toml_skip_ws_nl(struct toml_parser *ps)
{
    for (;;) {
        toml_skip_ws(ps);
        toml_skip_comment(ps);
        if (!toml_at_newline(ps))
            return;
        toml_skip_newline(ps);
    }
}

/* After a keyval or header: optional comment, then a newline or the end. */
static int toml_end_of_line(struct toml_parser *ps, const char *what)
{
    toml_skip_ws(ps);
    toml_skip_comment(ps);
    if (ps->off >= ps->len)
        return 0;
    if (toml_at_newline(ps)) {
        toml_skip_newline(ps);
        return 0;
    }
    return toml_fail(ps, ps->off, "expected newline after %s", what);
}

/* ---- strings ---- */

static void toml_put_utf8(struct buf *b, uint32_t cp)
{
    char u[4];

    if (cp < 0x80) {
        u[0] = (char)cp;
        buf_append(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, u, 4);
    }
}

static int toml_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One escape sequence at ps->off (the backslash) of a basic string. */
static int toml_escape(struct toml_parser *ps, struct buf *b, bool multi)
{
    size_t start = ps->off;
    int e = toml_peek(ps, 1);
    uint32_t cp = 0;
    int ndig, k;

    switch (e) {
    case 'b':
        buf_putc(b, '\b');
        break;
    case 't':
        buf_putc(b, '\t');
        break;
    case 'n':
        buf_putc(b, '\n');
        break;
    case 'f':
        buf_putc(b, '\f');
        break;
    case 'r':
        buf_putc(b, '\r');
        break;
    case '"':
        buf_putc(b, '"');
        break;
    case '\\':
        buf_putc(b, '\\');
        break;
    case 'u':
    case 'U':
        ndig = e == 'u' ? 4 : 8;
        for (k = 0; k < ndig; k++) {
            int v = toml_hexval(toml_peek(ps, 2 + (size_t)k));
            if (v < 0)
                return toml_fail(ps, start, "\\%c escape needs %d hex digits", e, ndig);
            cp = (cp << 4) | (uint32_t)v;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return toml_fail(ps, start, "escape is not a unicode scalar value");
        toml_put_utf8(b, cp);
        ps->off += 2 + (size_t)ndig;
        return 0;
    default:
        if (multi && (e == ' ' || e == '\t' || e == '\n' || e == '\r')) {
            /* line-ending backslash: trim whitespace up to the next non-blank */
            ps->off++;
            toml_skip_ws(ps);
            if (!toml_at_newline(ps))
                return toml_fail(ps, start, "invalid escape sequence");
            for (;;) {
                toml_skip_ws(ps);
                if (!toml_at_newline(ps))
                    break;
                toml_skip_newline(ps);
            }
            return 0;
        }
        return toml_fail(ps, start, "invalid escape sequence");
    }
    ps->off += 2;
    return 0;
}

/*
 * A string of any of the four kinds at ps->off; keys may not be multi-line.
 * On success *out (NUL-terminated, caller frees) and *outlen.
 */
static int toml_string(struct toml_parser *ps, bool key, char **out, size_t *outlen)
{
    size_t start = ps->off;
    char q = ps->p[ps->off];
    bool multi = toml_peek(ps, 1) == q && toml_peek(ps, 2) == q;
    struct buf b;
    int rc = 0;

    buf_init(&b, BUF_NOMAX);
    if (multi && key)
        return toml_fail(ps, start, "multi-line string cannot be a key");
    if (multi) {
        ps->off += 3;
        if (toml_at_newline(ps))
            toml_skip_newline(ps);
    } else {
        ps->off++;
    }
    for (;;) {
        char c;

        if (ps->off >= ps->len) {
            rc = toml_fail(ps, start, "unterminated string");
            goto out;
        }
        c = ps->p[ps->off];
        if (c == q) {
            size_t n = 0;
            if (!multi) {
                ps->off++;
                break;
            }
            while (ps->off + n < ps->len && ps->p[ps->off + n] == q)
                n++;
            if (n >= 3) {
                if (n > 5) {
                    rc = toml_fail(ps, ps->off, "too many quotes at the end of a string");
                    goto out;
                }
                buf_append(&b, ps->p + ps->off, n - 3);
                ps->off += n;
                break;
            }
            buf_append(&b, ps->p + ps->off, n);
            ps->off += n;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (!multi) {
                rc = toml_fail(ps, ps->off, "newline in a single-line string");
                goto out;
            }
            toml_skip_newline(ps);
            buf_putc(&b, '\n');
            continue;
        }
        if (c == '\\' && q == '"') {
            rc = toml_escape(ps, &b, multi);
            if (rc)
                goto out;
            continue;
        }
        buf_putc(&b, c);
        ps->off++;
    }
    *out = buf_detach(&b, outlen);
out:
    buf_release(&b);
    return rc;
}

/* ---- keys ---- */

static void toml_key_release(struct toml_key *k)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        free(k->parts[i].s);
    free(k->parts);
    k->parts = NULL;
    k->n = 0;
    k->cap = 0;
}

/* A possibly dotted key at ps->off; stops before the whitespace that follows it. */
static int toml_key(struct toml_parser *ps, struct toml_key *k)
{
    for (;;) {
        struct toml_keypart part = {NULL, 0, ps->off};
        int c = toml_peek(ps, 0);
        int rc;

        if (c == '"' || c == '\'') {
            rc = toml_string(ps, true, &part.s, &part.len);
            if (rc)
                return rc;
        } else if (toml_is_bare(c)) {
            size_t s = ps->off;
            while (toml_is_bare(toml_peek(ps, 0)))
                ps->off++;
            part.s = xstrndup(ps->p + s, ps->off - s);
            part.len = ps->off - s;
        } else {
            return toml_fail(ps, ps->off, "expected a key");
        }
        if (k->n >= TOML_MAX_DEPTH) {
            free(part.s);
            return toml_fail_depth(ps, part.off);
        }
        k->parts = xgrow(k->parts, &k->cap, k->n + 1, sizeof(*k->parts));
        k->parts[k->n++] = part;
        {
            size_t save = ps->off;
            toml_skip_ws(ps);
            if (toml_peek(ps, 0) != '.') {
                ps->off = save;
                return 0;
            }
            ps->off++;
            toml_skip_ws(ps);
        }
    }
}

static void toml_key_name(const struct toml_key *k, size_t upto, struct buf *b)
{
    size_t i;

    for (i = 0; i <= upto && i < k->n; i++) {
        if (i)
            buf_putc(b, '.');
        buf_append(b, k->parts[i].s, k->parts[i].len);
    }
}

static int toml_fail_key(struct toml_parser *ps, const struct toml_key *k, size_t upto,
                         const char *msg)
{
    struct buf b;
    int rc;

    buf_init(&b, 4096);
    toml_key_name(k, upto, &b);
    rc = toml_fail(ps, k->parts[upto].off, "%s: %s", buf_cstr(&b), msg);
    buf_release(&b);
    return rc;
}

/* ---- numbers and dates ---- */

/*
 * Digits of `base` starting at t[*i], with single underscores allowed only
 * between digits. Returns the number of digits, or -1 for a misplaced '_'.
 */
static int toml_digits(const char *t, size_t n, size_t *i, int base)
{
    int count = 0;

    while (*i < n) {
        int c = (unsigned char)t[*i];
        int v = toml_hexval(c);
        if (c == '_') {
            if (count == 0 || *i + 1 >= n)
                return -1;
            v = toml_hexval((unsigned char)t[*i + 1]);
            if (v < 0 || v >= base)
                return -1;
            (*i)++;
            continue;
        }
        if (v < 0 || v >= base)
            break;
        count++;
        (*i)++;
    }
    return count;
}

static bool toml_accum(uint64_t *acc, int base, int digit, uint64_t limit)
{
    if (*acc > (limit - (uint64_t)digit) / (uint64_t)base)
        return false;
    *acc = *acc * (uint64_t)base + (uint64_t)digit;
    return true;
}

/* Classify and convert a number token [t, t+n) into node `v`. */
static int toml_number(struct toml_parser *ps, size_t off, const char *t, size_t n,
                       struct toml_node *v)
{
    size_t i = 0, j;
    bool neg = false, is_float = false;
    int base = 10;
    uint64_t acc = 0, limit;
    char tmp[128];
    size_t tl = 0;
    char *end = NULL;

    if (t[0] == '+' || t[0] == '-') {
        neg = t[0] == '-';
        i = 1;
    }
    if (n - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
        v->type = TOML_FLOAT;
        if (t[i] == 'i')
            v->f = neg ? -HUGE_VAL : HUGE_VAL;
        else
            v->f = neg ? -NAN : NAN;
        return 0;
    }
    if (n - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
        int nd;
        if (i != 0)
            return toml_fail(ps, off, "sign not allowed on a prefixed integer");
        base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        i = 2;
        j = i;
        nd = toml_digits(t, n, &i, base);
        if (nd <= 0 || i != n)
            return toml_fail(ps, off, "invalid integer");
        for (; j < n; j++) {
            if (t[j] == '_')
                continue;
            if (!toml_accum(&acc, base, toml_hexval((unsigned char)t[j]), INT64_MAX))
                return toml_fail(ps, off, "integer out of range");
        }
        v->type = TOML_INTEGER;
        v->i = (int64_t)acc;
        return 0;
    }
    j = i;
    if (toml_digits(t, n, &i, 10) <= 0)
        return toml_fail(ps, off, "invalid number");
    if (t[j] == '0' && i - j > 1)
        return toml_fail(ps, off, "leading zeros not allowed");
    if (i < n && t[i] == '.') {
        i++;
        is_float = true;
        if (toml_digits(t, n, &i, 10) <= 0)
            return toml_fail(ps, off, "invalid float");
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        is_float = true;
        if (i < n && (t[i] == '+' || t[i] == '-'))
            i++;
        if (toml_digits(t, n, &i, 10) <= 0)
            return toml_fail(ps, off, "invalid float exponent");
    }
    if (i != n)
        return toml_fail(ps, off, "invalid number");
    if (!is_float) {
        limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (i = neg || t[0] == '+' ? 1 : 0; i < n; i++) {
            if (t[i] == '_')
                continue;
            if (!toml_accum(&acc, 10, t[i] - '0', limit))
                return toml_fail(ps, off, "integer out of range");
        }
        v->type = TOML_INTEGER;
        v->i = neg ? (int64_t)(0 - acc) : (int64_t)acc;
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (t[i] == '_')
            continue;
        if (tl + 1 >= sizeof(tmp))
            return toml_fail(ps, off, "float too long");
        tmp[tl++] = t[i];
    }
    tmp[tl] = '\0';
    errno = 0;
    v->f = strtod(tmp, &end);
    if (end != tmp + tl)
        return toml_fail(ps, off, "invalid float");
    v->type = TOML_FLOAT;
    return 0;
}

/* `n` decimal digits at p into *out; false if any is not a digit. */
static bool toml_fixed(const char *p, size_t avail, size_t n, int *out)
{
    size_t i;
    int v = 0;

    if (avail < n)
        return false;
    for (i = 0; i < n; i++) {
        if (!toml_is_digit((unsigned char)p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* HH:MM:SS[.frac] at ps->off, appended to b. */
static int toml_time(struct toml_parser *ps, struct buf *b)
{
    const char *p = ps->p + ps->off;
    size_t avail = ps->len - ps->off;
    size_t start = ps->off, n;
    int hh, mm, ss;

    if (!toml_fixed(p, avail, 2, &hh) || avail < 8 || p[2] != ':' ||
        !toml_fixed(p + 3, avail - 3, 2, &mm) || p[5] != ':' ||
        !toml_fixed(p + 6, avail - 6, 2, &ss))
        return toml_fail(ps, start, "invalid time");
    if (hh > 23 || mm > 59 || ss > 60)
        return toml_fail(ps, start, "time out of range");
    n = 8;
    if (n < avail && p[n] == '.') {
        size_t f = n + 1;
        while (f < avail && toml_is_digit((unsigned char)p[f]))
            f++;
        if (f == n + 1)
            return toml_fail(ps, start, "invalid fractional seconds");
        n = f;
    }
    buf_append(b, p, n);
    ps->off += n;
    return 0;
}

static bool toml_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* A date, date-time or local time at ps->off. */
static int toml_datetime(struct toml_parser *ps, struct toml_node *v)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = ps->p + ps->off;
    size_t avail = ps->len - ps->off;
    size_t start = ps->off;
    struct buf b;
    int y, mo, d, rc = 0;

    buf_init(&b, BUF_NOMAX);
    if (avail >= 3 && p[2] == ':') {
        rc = toml_time(ps, &b);
        if (rc)
            goto out;
        v->type = TOML_TIME_LOCAL;
        goto done;
    }
    if (!toml_fixed(p, avail, 4, &y) || avail < 10 || p[4] != '-' ||
        !toml_fixed(p + 5, avail - 5, 2, &mo) || p[7] != '-' ||
        !toml_fixed(p + 8, avail - 8, 2, &d)) {
        rc = toml_fail(ps, start, "invalid date");
        goto out;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && toml_leap(y))) {
        rc = toml_fail(ps, start, "date out of range");
        goto out;
    }
    buf_append(&b, p, 10);
    ps->off += 10;
    v->type = TOML_DATE_LOCAL;
    {
        int c = toml_peek(ps, 0);
        if (!(c == 'T' || c == 't' ||
              (c == ' ' && toml_is_digit(toml_peek(ps, 1)) && toml_is_digit(toml_peek(ps, 2)) &&
               toml_peek(ps, 3) == ':')))
            goto done;
    }
    ps->off++;
    buf_putc(&b, 'T');
    rc = toml_time(ps, &b);
    if (rc)
        goto out;
    v->type = TOML_DATETIME_LOCAL;
    {
        int c = toml_peek(ps, 0);
        int oh, om;
        if (c == 'Z' || c == 'z') {
            buf_putc(&b, 'Z');
            ps->off++;
            v->type = TOML_DATETIME;
        } else if (c == '+' || c == '-') {
            p = ps->p + ps->off;
            avail = ps->len - ps->off;
            if (!toml_fixed(p + 1, avail - 1, 2, &oh) || avail < 6 || p[3] != ':' ||
                !toml_fixed(p + 4, avail - 4, 2, &om) || oh > 23 || om > 59) {
                rc = toml_fail(ps, ps->off, "invalid time offset");
                goto out;
            }
            buf_append(&b, p, 6);
            ps->off += 6;
            v->type = TOML_DATETIME;
        }
    }
done:
    v->s = buf_detach(&b, &v->slen);
out:
    buf_release(&b);
    return rc;
}

/* ---- values ---- */

static int toml_value(struct toml_parser *ps, unsigned depth, struct toml_node **out);
static int toml_keyval(struct toml_parser *ps, struct toml_node *table);

static int toml_array(struct toml_parser *ps, struct toml_node *arr)
{
    int rc;

    ps->off++; /* '[' */
    for (;;) {
        struct toml_node *v = NULL;

        toml_skip_ws_nl(ps);
        if (toml_peek(ps, 0) == ']') {
            ps->off++;
            return 0;
        }
        rc = toml_value(ps, arr->depth_ + 1, &v);
        if (rc)
            return rc;
        toml_append(arr, v);
        toml_skip_ws_nl(ps);
        if (toml_peek(ps, 0) == ',') {
            ps->off++;
            continue;
        }
        if (toml_peek(ps, 0) == ']') {
            ps->off++;
            return 0;
        }
        return toml_fail(ps, ps->off, "expected ',' or ']' in array");
    }
}

static int toml_inline_table(struct toml_parser *ps, struct toml_node *t)
{
    int rc;

    ps->off++; /* '{' */
    toml_skip_ws(ps);
    if (toml_peek(ps, 0) == '}') {
        ps->off++;
        goto done;
    }
    for (;;) {
        toml_skip_ws(ps);
        rc = toml_keyval(ps, t);
        if (rc)
            return rc;
        toml_skip_ws(ps);
        if (toml_peek(ps, 0) == ',') {
            ps->off++;
            continue;
        }
        if (toml_peek(ps, 0) == '}') {
            ps->off++;
            break;
        }
        return toml_fail(ps, ps->off, "expected ',' or '}' in inline table");
    }
done:
    t->flags_ |= TF_INLINE;
    return 0;
}

static int toml_value(struct toml_parser *ps, unsigned depth, struct toml_node **out)
{
    size_t start = ps->off;
    int c = toml_peek(ps, 0);
    struct toml_node *v = NULL;
    int rc = 0;

    if (depth > TOML_MAX_DEPTH)
        return toml_fail_depth(ps, start);
    v = toml_node_new(ps, TOML_STRING, depth, start);
    if (c == '"' || c == '\'') {
        rc = toml_string(ps, false, &v->s, &v->slen);
    } else if (c == '[') {
        v->type = TOML_ARRAY;
        rc = toml_array(ps, v);
    } else if (c == '{') {
        v->type = TOML_TABLE;
        rc = toml_inline_table(ps, v);
    } else if (c == 't' || c == 'f') {
        const char *lit = c == 't' ? "true" : "false";
        size_t n = strlen(lit);
        if (ps->len - ps->off < n || memcmp(ps->p + ps->off, lit, n) != 0) {
            rc = toml_fail(ps, start, "invalid value");
        } else {
            v->type = TOML_BOOL;
            v->b = c == 't';
            ps->off += n;
        }
    } else if (toml_is_digit(c) && toml_is_digit(toml_peek(ps, 1)) &&
               ((toml_peek(ps, 2) == ':') ||
                (toml_is_digit(toml_peek(ps, 2)) && toml_is_digit(toml_peek(ps, 3)) &&
                 toml_peek(ps, 4) == '-'))) {
        rc = toml_datetime(ps, v);
    } else if (toml_is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n') {
        size_t s = ps->off;
        while (ps->off < ps->len && (toml_is_bare(toml_peek(ps, 0)) || toml_peek(ps, 0) == '.' ||
                                     toml_peek(ps, 0) == '+'))
            ps->off++;
        rc = toml_number(ps, s, ps->p + s, ps->off - s, v);
    } else {
        rc = toml_fail(ps, start, "expected a value");
    }
    if (rc) {
        toml_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

/* key = value, into `table` (the current section or an inline table). */
static int toml_keyval(struct toml_parser *ps, struct toml_node *table)
{
    struct toml_key k = {NULL, 0, 0};
    struct toml_node *t = table;
    struct toml_node *v = NULL;
    size_t start = ps->off, i;
    int rc;

    rc = toml_key(ps, &k);
    if (rc)
        goto out;
    toml_skip_ws(ps);
    if (toml_peek(ps, 0) != '=') {
        rc = toml_fail(ps, ps->off, "expected '=' after key");
        goto out;
    }
    ps->off++;
    toml_skip_ws(ps);
    for (i = 0; i + 1 < k.n; i++) {
        struct toml_node *kid = toml_find(t, k.parts[i].s, k.parts[i].len);
        if (!kid) {
            if (t->depth_ + 1 > TOML_MAX_DEPTH) {
                rc = toml_fail_depth(ps, k.parts[i].off);
                goto out;
            }
            kid = toml_node_new(ps, TOML_TABLE, t->depth_ + 1, start);
            kid->flags_ = TF_DOTTED;
            toml_table_add(t, kid, &k.parts[i]);
        } else if (kid->type != TOML_TABLE || !(kid->flags_ & TF_DOTTED) ||
                   (kid->flags_ & TF_INLINE)) {
            rc = toml_fail_key(ps, &k, i, "cannot add keys to this value with a dotted key");
            goto out;
        }
        t = kid;
    }
    if (toml_find(t, k.parts[k.n - 1].s, k.parts[k.n - 1].len)) {
        rc = toml_fail_key(ps, &k, k.n - 1, "duplicate key");
        goto out;
    }
    {
        unsigned kl, kc;
        toml_pos(ps, start, &kl, &kc);
        rc = toml_value(ps, t->depth_ + 1, &v);
        if (rc)
            goto out;
        v->vline = v->line;
        v->vcol = v->col;
        v->line = kl;
        v->col = kc;
    }
    toml_table_add(t, v, &k.parts[k.n - 1]);
out:
    toml_key_release(&k);
    return rc;
}

/* [a.b] or [[a.b]] at ps->off. */
static int toml_header(struct toml_parser *ps)
{
    struct toml_key k = {NULL, 0, 0};
    struct toml_node *t = ps->root;
    struct toml_node *kid;
    size_t start = ps->off, i;
    bool aot = toml_peek(ps, 1) == '[';
    int rc;

    ps->off += aot ? 2 : 1;
    toml_skip_ws(ps);
    rc = toml_key(ps, &k);
    if (rc)
        goto out;
    toml_skip_ws(ps);
    if (toml_peek(ps, 0) != ']' || (aot && toml_peek(ps, 1) != ']')) {
        rc = toml_fail(ps, ps->off, "expected '%s' to close the table header", aot ? "]]" : "]");
        goto out;
    }
    ps->off += aot ? 2 : 1;
    for (i = 0; i + 1 < k.n; i++) {
        kid = toml_find(t, k.parts[i].s, k.parts[i].len);
        if (!kid) {
            if (t->depth_ + 1 > TOML_MAX_DEPTH) {
                rc = toml_fail_depth(ps, k.parts[i].off);
                goto out;
            }
            kid = toml_node_new(ps, TOML_TABLE, t->depth_ + 1, start);
            kid->flags_ = TF_IMPLICIT;
            toml_table_add(t, kid, &k.parts[i]);
        } else if (kid->type == TOML_TABLE && !(kid->flags_ & TF_INLINE)) {
            /* traverse */
        } else if (kid->type == TOML_ARRAY && (kid->flags_ & TF_AOT)) {
            kid = kid->kids[kid->nkids - 1];
        } else {
            rc = toml_fail_key(ps, &k, i, "is not a table");
            goto out;
        }
        t = kid;
    }
    kid = toml_find(t, k.parts[k.n - 1].s, k.parts[k.n - 1].len);
    if (aot) {
        struct toml_node *elem;
        if (!kid) {
            if (t->depth_ + 2 > TOML_MAX_DEPTH) {
                rc = toml_fail_depth(ps, start);
                goto out;
            }
            kid = toml_node_new(ps, TOML_ARRAY, t->depth_ + 1, start);
            kid->flags_ = TF_AOT;
            toml_table_add(t, kid, &k.parts[k.n - 1]);
        } else if (kid->type != TOML_ARRAY || !(kid->flags_ & TF_AOT)) {
            rc = toml_fail_key(ps, &k, k.n - 1, "cannot append to a value that is not an array "
                                                "of tables");
            goto out;
        }
        elem = toml_node_new(ps, TOML_TABLE, kid->depth_ + 1, start);
        elem->flags_ = TF_EXPLICIT;
        toml_append(kid, elem);
        ps->cur = elem;
    } else {
        if (!kid) {
            if (t->depth_ + 1 > TOML_MAX_DEPTH) {
                rc = toml_fail_depth(ps, start);
                goto out;
            }
            kid = toml_node_new(ps, TOML_TABLE, t->depth_ + 1, start);
            kid->flags_ = TF_EXPLICIT;
            toml_table_add(t, kid, &k.parts[k.n - 1]);
        } else if (kid->type == TOML_TABLE && kid->flags_ == TF_IMPLICIT) {
            kid->flags_ = TF_EXPLICIT;
            toml_pos(ps, start, &kid->line, &kid->col);
            kid->vline = kid->line;
            kid->vcol = kid->col;
        } else {
            rc = toml_fail_key(ps, &k, k.n - 1, "table already defined");
            goto out;
        }
        ps->cur = kid;
    }
out:
    toml_key_release(&k);
    return rc;
}

int toml_parse(const char *p, size_t len, struct toml_node **out, struct buf *err)
{
    struct toml_parser ps;
    int rc = 0;

    memset(&ps, 0, sizeof(ps));
    ps.p = p;
    ps.len = len;
    ps.err = err;
    ps.pc_line = 1;
    ps.pc_col = 1;
    if (len > TOML_MAX_INPUT) {
        if (err)
            buf_printf(err, "1:1: input larger than %zu bytes", TOML_MAX_INPUT);
        return IMX_ETOOLARGE;
    }
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        ps.off = 3;
    rc = toml_check_text(&ps);
    if (rc)
        return rc;
    ps.root = toml_node_new(&ps, TOML_TABLE, 0, 0);
    ps.root->flags_ = TF_EXPLICIT;
    ps.cur = ps.root;
    while (ps.off < ps.len) {
        int c;

        toml_skip_ws(&ps);
        c = toml_peek(&ps, 0);
        if (c < 0)
            break;
        if (c == '#' || toml_at_newline(&ps)) {
            rc = toml_end_of_line(&ps, "comment");
        } else if (c == '[') {
            rc = toml_header(&ps);
            if (!rc)
                rc = toml_end_of_line(&ps, "table header");
        } else {
            rc = toml_keyval(&ps, ps.cur);
            if (!rc)
                rc = toml_end_of_line(&ps, "value");
        }
        if (rc)
            break;
    }
    if (rc) {
        toml_free(ps.root);
        return ps.depth_error ? IMX_ETOOLARGE : rc;
    }
    *out = ps.root;
    return 0;
}
