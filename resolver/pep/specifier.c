/*
 * specifier.c - PEP 440 specifier clauses and sets.
 *
 * The exclusive comparisons carry PEP 440's extra rules (<V excludes
 * pre-releases of V itself, >V excludes post-releases and local versions of
 * V), and == ignores the candidate's local label unless the clause has one,
 * so "torch==2.5.1" admits "2.5.1+cu124". Behaviour is checked against
 * packaging by the differential test.
 */
#include "compat.h"

#include "err.h"
#include "specifier.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static struct str trim(struct str s)
{
    while (s.len && is_space(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_space(s.p[s.len - 1]))
        s.len--;
    return s;
}

int specifier_parse_one(const char *p, size_t len, struct specifier *out)
{
    /* Longest operators first. */
    static const struct {
        const char *lit;
        enum specifier_op op;
    } ops[] = {
        {"===", SPECIFIER_ARBITRARY}, {"~=", SPECIFIER_COMPATIBLE}, {"==", SPECIFIER_EQ},
        {"!=", SPECIFIER_NE},         {"<=", SPECIFIER_LE},         {">=", SPECIFIER_GE},
        {"<", SPECIFIER_LT},          {">", SPECIFIER_GT},
    };
    struct specifier s;
    struct str t = trim(str_make(p, len));
    struct str vt;
    size_t i;
    int rc = IMX_ESYNTAX;

    memset(&s, 0, sizeof(s));
    for (i = 0; i < ARRAY_SIZE(ops); i++) {
        if (str_starts_with(t, str_from(ops[i].lit)))
            break;
    }
    if (i == ARRAY_SIZE(ops))
        goto out;
    s.op = ops[i].op;
    s.text = trim(str_sub(t, strlen(ops[i].lit), t.len));
    if (s.text.len == 0)
        goto out;
    if (s.op == SPECIFIER_ARBITRARY) {
        for (size_t j = 0; j < s.text.len; j++) {
            if (is_space(s.text.p[j]) || s.text.p[j] == ';' || s.text.p[j] == ')')
                goto out;
        }
        rc = 0;
        goto done;
    }
    vt = s.text;
    if ((s.op == SPECIFIER_EQ || s.op == SPECIFIER_NE) && str_ends_with(vt, STR_LIT(".*"))) {
        s.wildcard = true;
        vt.len -= 2;
    }
    rc = version_parse(vt.p, vt.len, &s.v);
    if (rc != 0)
        goto out;
    rc = IMX_ESYNTAX;
    if (s.wildcard && (s.v.pre || s.v.has_post || s.v.has_dev || s.v.nlocal))
        goto out;
    if (s.op != SPECIFIER_EQ && s.op != SPECIFIER_NE && s.v.nlocal)
        goto out;
    if (s.op == SPECIFIER_COMPATIBLE && s.v.nrelease < 2)
        goto out;
    rc = 0;
done:
    *out = s;
out:
    return rc;
}

int specifier_parse(const char *p, size_t len, struct specifier_set *out)
{
    struct specifier_set set;
    struct str rest = str_make(p, len);
    int rc = 0;

    set.n = 0;
    while (rest.len) {
        ptrdiff_t comma = str_index(rest, ',');
        struct str item = comma < 0 ? rest : str_sub(rest, 0, (size_t)comma);

        rest = comma < 0 ? STR_NULL : str_sub(rest, (size_t)comma + 1, rest.len);
        if (trim(item).len == 0)
            continue;
        if (set.n == SPECIFIER_MAX) {
            rc = IMX_ETOOLARGE;
            goto out;
        }
        rc = specifier_parse_one(item.p, item.len, &set.items[set.n]);
        if (rc != 0)
            goto out;
        set.n++;
    }
    *out = set;
out:
    return rc;
}

/* The release of v zero-padded (or cut) to n segments starts with prefix's release. */
static bool release_prefix(const struct version *v, const struct version *prefix)
{
    if (v->epoch != prefix->epoch)
        return false;
    for (size_t i = 0; i < prefix->nrelease; i++) {
        uint64_t x = i < v->nrelease ? v->release[i] : 0;
        if (x != prefix->release[i])
            return false;
    }
    return true;
}

static struct version public_of(const struct version *v)
{
    struct version p = *v;
    p.nlocal = 0;
    return p;
}

static bool match_eq(const struct specifier *s, const struct version *v)
{
    struct version pv;

    if (s->wildcard)
        return release_prefix(v, &s->v);
    if (s->v.nlocal == 0) {
        pv = public_of(v);
        return version_compare(&pv, &s->v) == 0;
    }
    return version_compare(v, &s->v) == 0;
}

static bool match_arbitrary(const struct specifier *s, const struct version *v)
{
    struct buf b;
    bool r;

    /* packaging compares str(Version(candidate)) with the clause text. */
    buf_init(&b, 4096);
    r = version_format(v, &b) == 0 && str_eq_nocase(str_make(buf_cstr(&b), b.len), s->text);
    buf_release(&b);
    return r;
}

bool specifier_matches(const struct specifier *s, const struct version *v)
{
    struct version pv = public_of(v);
    struct version prefix;

    switch (s->op) {
    case SPECIFIER_EQ:
        return match_eq(s, v);
    case SPECIFIER_NE:
        return !match_eq(s, v);
    case SPECIFIER_LE:
        return version_compare(&pv, &s->v) <= 0;
    case SPECIFIER_GE:
        return version_compare(&pv, &s->v) >= 0;
    case SPECIFIER_LT:
        if (version_compare(v, &s->v) >= 0)
            return false;
        /* "<3.0" must not admit 3.0a1. */
        return !(!version_is_prerelease(&s->v) && version_is_prerelease(v) &&
                 version_same_base(v, &s->v));
    case SPECIFIER_GT:
        if (version_compare(v, &s->v) <= 0)
            return false;
        /* ">3.0" must not admit 3.0.post1 nor 3.0+local. */
        if (!version_is_postrelease(&s->v) && version_is_postrelease(v) &&
            version_same_base(v, &s->v))
            return false;
        return !(v->nlocal && version_same_base(v, &s->v));
    case SPECIFIER_COMPATIBLE:
        /* ~=2.2.5 is >=2.2.5, ==2.2.* (the last release segment dropped). */
        if (version_compare(&pv, &s->v) < 0)
            return false;
        prefix = s->v;
        prefix.nrelease--;
        return release_prefix(v, &prefix);
    case SPECIFIER_ARBITRARY:
        return match_arbitrary(s, v);
    }
    return false;
}

bool specifier_contains(const struct specifier_set *set, const struct version *v)
{
    for (size_t i = 0; i < set->n; i++) {
        if (!specifier_matches(&set->items[i], v))
            return false;
    }
    return true;
}
