/*
 * version.c - PEP 440 version parsing, ordering and normal form.
 *
 * The parser is a hand-written equivalent of packaging's VERSION_PATTERN,
 * which the differential test (tests/unit/resolver/pep/differential.py)
 * checks against packaging itself. The regex's optional separators are
 * consumed greedily here; for this grammar that accepts the same language,
 * because every part after a separator also accepts "no separator".
 *
 * Ordering follows packaging's _cmpkey without building a key: each part is
 * compared in turn, with the "absent" cases mapped to -inf/+inf by rank.
 */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>

#include "err.h"
#include "version.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_lalnum(char c)
{
    c = lower(c);
    return (c >= 'a' && c <= 'z') || is_digit(c);
}

static bool is_sep(char c)
{
    return c == '-' || c == '_' || c == '.';
}

/* Python's \s for ASCII. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

struct cur {
    const char *p;
    const char *end;
};

/* Case-insensitive keyword match at the cursor; consumes it on success. */
static bool take_kw(struct cur *c, const char *kw)
{
    size_t n = strlen(kw);

    if ((size_t)(c->end - c->p) < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lower(c->p[i]) != kw[i])
            return false;
    }
    c->p += n;
    return true;
}

static void take_sep(struct cur *c)
{
    if (c->p < c->end && is_sep(*c->p))
        c->p++;
}

/*
 * A run of digits into *out. Returns 0, IMX_ESYNTAX (no digit) or
 * IMX_ETOOLARGE (does not fit in 64 bits).
 */
static int take_num(struct cur *c, uint64_t *out)
{
    const char *s = c->p;
    int rc;

    while (c->p < c->end && is_digit(*c->p))
        c->p++;
    if (c->p == s)
        return IMX_ESYNTAX;
    rc = str_to_u64(str_make(s, (size_t)(c->p - s)), UINT64_MAX, out);
    return rc;
}

static bool at_digit(const struct cur *c)
{
    return c->p < c->end && is_digit(*c->p);
}

/* Optional number after a pre/post/dev keyword (and optional separator). */
static int take_opt_num(struct cur *c, uint64_t *out)
{
    *out = 0;
    take_sep(c);
    if (at_digit(c))
        return take_num(c, out);
    return 0;
}

static int parse_pre(struct cur *c, struct version *v)
{
    /* Longest spellings first, as in the regex alternation. */
    static const struct {
        const char *kw;
        enum version_pre kind;
    } kws[] = {
        {"alpha", VERSION_PRE_A},   {"a", VERSION_PRE_A},   {"beta", VERSION_PRE_B},
        {"b", VERSION_PRE_B},       {"preview", VERSION_PRE_RC}, {"pre", VERSION_PRE_RC},
        {"c", VERSION_PRE_RC},      {"rc", VERSION_PRE_RC},
    };
    struct cur save = *c;

    take_sep(c);
    for (size_t i = 0; i < ARRAY_SIZE(kws); i++) {
        if (take_kw(c, kws[i].kw)) {
            v->pre = kws[i].kind;
            return take_opt_num(c, &v->pre_n);
        }
    }
    *c = save;
    return 0;
}

static int parse_post(struct cur *c, struct version *v)
{
    static const char *const kws[] = {"post", "rev", "r"};
    struct cur save = *c;

    /* Implicit post release: "1.0-1". */
    if (c->p + 1 < c->end && c->p[0] == '-' && is_digit(c->p[1])) {
        c->p++;
        v->has_post = true;
        return take_num(c, &v->post);
    }
    take_sep(c);
    for (size_t i = 0; i < ARRAY_SIZE(kws); i++) {
        if (take_kw(c, kws[i])) {
            v->has_post = true;
            return take_opt_num(c, &v->post);
        }
    }
    *c = save;
    return 0;
}

static int parse_dev(struct cur *c, struct version *v)
{
    struct cur save = *c;

    take_sep(c);
    if (take_kw(c, "dev")) {
        v->has_dev = true;
        return take_opt_num(c, &v->dev);
    }
    *c = save;
    return 0;
}

static int parse_local(struct cur *c, struct version *v)
{
    if (c->p == c->end || *c->p != '+')
        return 0;
    c->p++;
    for (;;) {
        const char *s = c->p;
        while (c->p < c->end && is_lalnum(*c->p))
            c->p++;
        if (c->p == s)
            return IMX_ESYNTAX;
        if (v->nlocal == VERSION_MAX_LOCAL)
            return IMX_ETOOLARGE;
        v->local[v->nlocal++] = str_make(s, (size_t)(c->p - s));
        if (c->p + 1 < c->end && is_sep(*c->p) && is_lalnum(c->p[1]))
            c->p++;
        else
            return 0;
    }
}

int version_parse(const char *p, size_t len, struct version *out)
{
    struct version v;
    struct cur c = {p, p + len};
    uint64_t n;
    int rc;

    assert(p != NULL || len == 0);
    memset(&v, 0, sizeof(v));
    while (c.p < c.end && is_space(*c.p))
        c.p++;
    while (c.end > c.p && is_space(c.end[-1]))
        c.end--;
    if (c.p < c.end && lower(*c.p) == 'v')
        c.p++;

    /* Epoch or first release segment. */
    rc = take_num(&c, &n);
    if (rc != 0)
        goto out;
    if (c.p < c.end && *c.p == '!') {
        c.p++;
        v.epoch = n;
        rc = take_num(&c, &n);
        if (rc != 0)
            goto out;
    }
    v.release[v.nrelease++] = n;
    while (c.p + 1 < c.end && c.p[0] == '.' && is_digit(c.p[1])) {
        c.p++;
        if (v.nrelease == VERSION_MAX_RELEASE) {
            rc = IMX_ETOOLARGE;
            goto out;
        }
        rc = take_num(&c, &v.release[v.nrelease]);
        if (rc != 0)
            goto out;
        v.nrelease++;
    }
    rc = parse_pre(&c, &v);
    if (rc == 0)
        rc = parse_post(&c, &v);
    if (rc == 0)
        rc = parse_dev(&c, &v);
    if (rc == 0)
        rc = parse_local(&c, &v);
    if (rc != 0)
        goto out;
    if (c.p != c.end) {
        rc = IMX_ESYNTAX;
        goto out;
    }
    *out = v;
out:
    return rc;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static bool all_digits(struct str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (!is_digit(s.p[i]))
            return false;
    }
    return true;
}

static struct str strip_zeros(struct str s)
{
    while (s.len > 1 && s.p[0] == '0') {
        s.p++;
        s.len--;
    }
    return s;
}

/* One local segment: numbers compare as integers (of any size) and sort
 * after every alphanumeric segment; those compare case-insensitively. */
static int cmp_local_seg(struct str a, struct str b)
{
    bool an = all_digits(a), bn = all_digits(b);

    if (an != bn)
        return an ? 1 : -1;
    if (an) {
        a = strip_zeros(a);
        b = strip_zeros(b);
        if (a.len != b.len)
            return a.len < b.len ? -1 : 1;
        return memcmp(a.p, b.p, a.len) < 0 ? -1 : memcmp(a.p, b.p, a.len) > 0;
    }
    for (size_t i = 0; i < a.len && i < b.len; i++) {
        char x = lower(a.p[i]), y = lower(b.p[i]);
        if (x != y)
            return (unsigned char)x < (unsigned char)y ? -1 : 1;
    }
    return cmp_u64(a.len, b.len);
}

static int cmp_release(const struct version *a, const struct version *b)
{
    size_t n = a->nrelease > b->nrelease ? a->nrelease : b->nrelease;

    for (size_t i = 0; i < n; i++) {
        uint64_t x = i < a->nrelease ? a->release[i] : 0;
        uint64_t y = i < b->nrelease ? b->release[i] : 0;
        if (x != y)
            return cmp_u64(x, y);
    }
    return 0;
}

/* Rank of the pre-release part: a bare dev release sorts before every
 * pre-release, a version without pre-release after all of them. */
static int pre_rank(const struct version *v)
{
    if (v->pre == VERSION_PRE_NONE && !v->has_post && v->has_dev)
        return -1;
    if (v->pre == VERSION_PRE_NONE)
        return 100;
    return (int)v->pre;
}

int version_compare(const struct version *a, const struct version *b)
{
    int r;

    assert(a && b);
    r = cmp_u64(a->epoch, b->epoch);
    if (r == 0)
        r = cmp_release(a, b);
    if (r == 0)
        r = (pre_rank(a) > pre_rank(b)) - (pre_rank(a) < pre_rank(b));
    if (r == 0 && a->pre != VERSION_PRE_NONE)
        r = cmp_u64(a->pre_n, b->pre_n);
    if (r == 0 && a->has_post != b->has_post)
        r = a->has_post ? 1 : -1;
    if (r == 0 && a->has_post)
        r = cmp_u64(a->post, b->post);
    if (r == 0 && a->has_dev != b->has_dev)
        r = a->has_dev ? -1 : 1;
    if (r == 0 && a->has_dev)
        r = cmp_u64(a->dev, b->dev);
    for (size_t i = 0; r == 0 && i < a->nlocal && i < b->nlocal; i++)
        r = cmp_local_seg(a->local[i], b->local[i]);
    if (r == 0)
        r = cmp_u64(a->nlocal, b->nlocal);
    return r;
}

int version_compare_str(const char *a, size_t alen, const char *b, size_t blen, int *out)
{
    struct version va, vb;
    int rc;

    rc = version_parse(a, alen, &va);
    if (rc == 0)
        rc = version_parse(b, blen, &vb);
    if (rc == 0)
        *out = version_compare(&va, &vb);
    return rc;
}

static int format_into(const struct version *v, struct buf *b)
{
    static const char *const pre_names[] = {"", "a", "b", "rc"};
    int rc = 0;

    if (v->epoch)
        rc = buf_printf(b, "%" PRIu64 "!", v->epoch);
    for (size_t i = 0; rc == 0 && i < v->nrelease; i++)
        rc = buf_printf(b, i ? ".%" PRIu64 : "%" PRIu64, v->release[i]);
    if (rc == 0 && v->pre != VERSION_PRE_NONE)
        rc = buf_printf(b, "%s%" PRIu64, pre_names[v->pre], v->pre_n);
    if (rc == 0 && v->has_post)
        rc = buf_printf(b, ".post%" PRIu64, v->post);
    if (rc == 0 && v->has_dev)
        rc = buf_printf(b, ".dev%" PRIu64, v->dev);
    for (size_t i = 0; rc == 0 && i < v->nlocal; i++) {
        struct str s = v->local[i];
        rc = buf_putc(b, i ? '.' : '+');
        if (rc == 0 && all_digits(s)) {
            s = strip_zeros(s);
            rc = buf_append(b, s.p, s.len);
        } else {
            for (size_t j = 0; rc == 0 && j < s.len; j++)
                rc = buf_putc(b, lower(s.p[j]));
        }
    }
    return rc;
}

int version_format(const struct version *v, struct buf *out)
{
    struct buf tmp;
    int rc;

    /* Format aside so that a failure leaves `out` untouched. */
    buf_init(&tmp, out->max - out->len);
    rc = format_into(v, &tmp);
    if (rc == 0)
        rc = buf_append(out, tmp.p, tmp.len);
    buf_release(&tmp);
    return rc;
}

int version_normalize(const char *p, size_t len, struct buf *out)
{
    struct version v;
    int rc;

    rc = version_parse(p, len, &v);
    if (rc == 0)
        rc = version_format(&v, out);
    return rc;
}

bool version_is_prerelease(const struct version *v)
{
    return v->pre != VERSION_PRE_NONE || v->has_dev;
}

bool version_is_postrelease(const struct version *v)
{
    return v->has_post;
}

bool version_same_base(const struct version *a, const struct version *b)
{
    return a->epoch == b->epoch && cmp_release(a, b) == 0;
}
