/*
 * marker.c - PEP 508 markers: a recursive-descent parser into a small tree
 * and a three-valued evaluator over partial environments (see marker.h).
 *
 * Grammar (packaging's, which is PEP 508's plus legacy variable names):
 *   marker = and_expr ("or" and_expr)*
 *   and_expr = atom ("and" atom)*
 *   atom = "(" marker ")" | side op side
 *   side = variable | 'string' | "string"
 *   op = "===" | "==" | "~=" | "!=" | "<=" | ">=" | "<" | ">" | "in" | "not" WS "in"
 * "and"/"or" chains are built left-associative, which marker_to_string
 * relies on to print no more parentheses than needed.
 *
 * Evaluation never allocates: values live in the tree or in the env, and
 * the few scratch strings (extra normalisation, "op"+"version" specifier
 * text) use fixed stack buffers; inputs too long for them take the plain
 * string path, which is correct for anything that long.
 */
#include "compat.h"

#include <stdio.h>

#include "err.h"
#include "marker.h"
#include "specifier.h"
#include "version.h"
#include "xalloc.h"

enum node_kind {
    N_AND,
    N_OR,
    N_CMP,
};

struct side {
    bool is_var;
    enum marker_var var;
    char *lit; /* owned, NUL-terminated, `len` bytes */
    size_t len;
};

struct marker {
    enum node_kind kind;
    struct marker *l, *r; /* N_AND, N_OR */
    enum marker_op op;    /* N_CMP */
    struct side lhs, rhs; /* N_CMP */
};

static const char *const var_names[MV__COUNT] = {
    [MV_OS_NAME] = "os_name",
    [MV_SYS_PLATFORM] = "sys_platform",
    [MV_PLATFORM_MACHINE] = "platform_machine",
    [MV_PLATFORM_PYTHON_IMPLEMENTATION] = "platform_python_implementation",
    [MV_PLATFORM_RELEASE] = "platform_release",
    [MV_PLATFORM_SYSTEM] = "platform_system",
    [MV_PLATFORM_VERSION] = "platform_version",
    [MV_PYTHON_VERSION] = "python_version",
    [MV_PYTHON_FULL_VERSION] = "python_full_version",
    [MV_IMPLEMENTATION_NAME] = "implementation_name",
    [MV_IMPLEMENTATION_VERSION] = "implementation_version",
    [MV_EXTRA] = "extra",
};

static const char *const op_names[] = {
    [MO_LT] = "<",  [MO_LE] = "<=",         [MO_NE] = "!=",        [MO_EQ] = "==",
    [MO_GE] = ">=", [MO_GT] = ">",          [MO_COMPATIBLE] = "~=", [MO_ARBITRARY] = "===",
    [MO_IN] = "in", [MO_NOT_IN] = "not in",
};

/* ---- environment ---- */

void marker_env_init(struct marker_env *env)
{
    memset(env, 0, sizeof(*env));
}

int marker_env_addn(struct marker_env *env, enum marker_var v, const char *p, size_t len)
{
    size_t n;

    if ((unsigned)v >= MV__COUNT)
        return IMX_EINVAL;
    n = env->vars[v].n;
    for (size_t i = 0; i < n; i++) {
        if (str_eq(marker_env_value(env, v, i), str_make(p, len)))
            return 0;
    }
    if (n == MARKER_ENV_MAX_VALUES || len > MARKER_ENV_POOL - env->used)
        return IMX_ETOOLARGE;
    if (len)
        memcpy(env->pool + env->used, p, len);
    env->vars[v].off[n] = (uint16_t)env->used;
    env->vars[v].len[n] = (uint16_t)len;
    env->vars[v].n = (uint8_t)(n + 1);
    env->used += len;
    return 0;
}

int marker_env_add(struct marker_env *env, enum marker_var v, const char *value)
{
    return marker_env_addn(env, v, value, strlen(value));
}

void marker_env_forget(struct marker_env *env, enum marker_var v)
{
    if ((unsigned)v < MV__COUNT)
        env->vars[v].n = 0;
}

size_t marker_env_count(const struct marker_env *env, enum marker_var v)
{
    return (unsigned)v < MV__COUNT ? env->vars[v].n : 0;
}

struct str marker_env_value(const struct marker_env *env, enum marker_var v, size_t i)
{
    assert((unsigned)v < MV__COUNT && i < env->vars[v].n);
    return str_make(env->pool + env->vars[v].off[i], env->vars[v].len[i]);
}

const char *marker_var_name(enum marker_var v)
{
    return (unsigned)v < MV__COUNT ? var_names[v] : NULL;
}

int marker_var_from_name(const char *p, size_t len, enum marker_var *out)
{
    static const struct {
        const char *name;
        enum marker_var v;
    } legacy[] = {
        {"os.name", MV_OS_NAME},
        {"sys.platform", MV_SYS_PLATFORM},
        {"platform.version", MV_PLATFORM_VERSION},
        {"platform.machine", MV_PLATFORM_MACHINE},
        {"platform.python_implementation", MV_PLATFORM_PYTHON_IMPLEMENTATION},
        {"python_implementation", MV_PLATFORM_PYTHON_IMPLEMENTATION},
    };
    struct str s = str_make(p, len);

    for (size_t i = 0; i < MV__COUNT; i++) {
        if (str_eq_cstr(s, var_names[i])) {
            *out = (enum marker_var)i;
            return 0;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(legacy); i++) {
        if (str_eq_cstr(s, legacy[i].name)) {
            *out = legacy[i].v;
            return 0;
        }
    }
    return IMX_ENOTFOUND;
}

/* ---- tree ---- */

void marker_free(struct marker *m)
{
    if (!m)
        return;
    marker_free(m->l);
    marker_free(m->r);
    free(m->lhs.lit);
    free(m->rhs.lit);
    free(m);
}

/* ---- parser ---- */

struct parser {
    const char *start;
    const char *p;
    const char *end;
    char *err;
    size_t errlen;
    int depth;
    size_t ncmps;
};

static int fail(struct parser *ps, int rc, const char *msg)
{
    if (ps->err && ps->errlen)
        snprintf(ps->err, ps->errlen, "%s at column %zu", msg, (size_t)(ps->p - ps->start) + 1);
    return rc;
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
        ps->p++;
}

/* A keyword ("and", "in"...) as a whole word; consumed on success. */
static bool take_kw(struct parser *ps, const char *kw)
{
    size_t n = strlen(kw);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, kw, n) != 0)
        return false;
    if (ps->p + n < ps->end && is_word(ps->p[n]))
        return false;
    ps->p += n;
    return true;
}

static int parse_side(struct parser *ps, struct side *out)
{
    const char *s;
    char q;

    skip_ws(ps);
    if (ps->p < ps->end && (*ps->p == '\'' || *ps->p == '"')) {
        q = *ps->p++;
        s = ps->p;
        while (ps->p < ps->end && *ps->p != q)
            ps->p++;
        if (ps->p == ps->end)
            return fail(ps, IMX_ESYNTAX, "unterminated string");
        out->is_var = false;
        out->len = (size_t)(ps->p - s);
        out->lit = xstrndup(s, out->len);
        ps->p++;
        return 0;
    }
    s = ps->p;
    while (ps->p < ps->end && (is_word(*ps->p) || *ps->p == '.'))
        ps->p++;
    if (ps->p == s || marker_var_from_name(s, (size_t)(ps->p - s), &out->var) != 0) {
        ps->p = s;
        return fail(ps, IMX_ESYNTAX, "expected a marker variable or quoted string");
    }
    out->is_var = true;
    return 0;
}

static int parse_op(struct parser *ps, enum marker_op *out)
{
    static const struct {
        const char *lit;
        enum marker_op op;
    } ops[] = {
        {"===", MO_ARBITRARY}, {"==", MO_EQ}, {"~=", MO_COMPATIBLE}, {"!=", MO_NE},
        {"<=", MO_LE},         {">=", MO_GE}, {"<", MO_LT},          {">", MO_GT},
    };

    skip_ws(ps);
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        size_t n = strlen(ops[i].lit);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, ops[i].lit, n) == 0) {
            ps->p += n;
            *out = ops[i].op;
            return 0;
        }
    }
    if (take_kw(ps, "in")) {
        *out = MO_IN;
        return 0;
    }
    if (take_kw(ps, "not")) {
        const char *s = ps->p;
        skip_ws(ps);
        if (ps->p == s)
            return fail(ps, IMX_ESYNTAX, "expected whitespace after 'not'");
        if (!take_kw(ps, "in"))
            return fail(ps, IMX_ESYNTAX, "expected 'in' after 'not'");
        *out = MO_NOT_IN;
        return 0;
    }
    return fail(ps, IMX_ESYNTAX, "expected a marker operator");
}

static int parse_or(struct parser *ps, struct marker **out);

static int parse_atom(struct parser *ps, struct marker **out)
{
    struct marker *m = NULL;
    int rc;

    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '(') {
        if (ps->depth == MARKER_MAX_DEPTH)
            return fail(ps, IMX_ETOOLARGE, "markers nested too deeply");
        ps->p++;
        ps->depth++;
        rc = parse_or(ps, &m);
        ps->depth--;
        if (rc != 0)
            goto out;
        skip_ws(ps);
        if (ps->p == ps->end || *ps->p != ')') {
            rc = fail(ps, IMX_ESYNTAX, "expected ')'");
            goto out;
        }
        ps->p++;
        *out = m;
        m = NULL;
        goto out;
    }
    if (ps->ncmps == MARKER_MAX_CMPS)
        return fail(ps, IMX_ETOOLARGE, "too many comparisons");
    ps->ncmps++;
    m = xcalloc(1, sizeof(*m));
    m->kind = N_CMP;
    rc = parse_side(ps, &m->lhs);
    if (rc == 0)
        rc = parse_op(ps, &m->op);
    if (rc == 0)
        rc = parse_side(ps, &m->rhs);
    if (rc != 0)
        goto out;
    *out = m;
    m = NULL;
out:
    marker_free(m);
    return rc;
}

/* One level of "and" (kind N_AND, below "or") or "or" chains, left-associative. */
static int parse_chain(struct parser *ps, enum node_kind kind, struct marker **out)
{
    const char *kw = kind == N_AND ? "and" : "or";
    struct marker *acc = NULL, *rhs = NULL, *node;
    int rc;

    rc = kind == N_AND ? parse_atom(ps, &acc) : parse_chain(ps, N_AND, &acc);
    while (rc == 0) {
        skip_ws(ps);
        if (!take_kw(ps, kw))
            break;
        rc = kind == N_AND ? parse_atom(ps, &rhs) : parse_chain(ps, N_AND, &rhs);
        if (rc != 0)
            break;
        node = xcalloc(1, sizeof(*node));
        node->kind = kind;
        node->l = acc;
        node->r = rhs;
        acc = node;
        rhs = NULL;
    }
    if (rc == 0) {
        *out = acc;
        acc = NULL;
    }
    marker_free(acc);
    return rc;
}

static int parse_or(struct parser *ps, struct marker **out)
{
    return parse_chain(ps, N_OR, out);
}

int marker_parse(const char *p, size_t len, struct marker **out, char *err, size_t errlen)
{
    struct parser ps = {p, p, p + len, err, errlen, 0, 0};
    struct marker *m = NULL;
    int rc;

    assert(p != NULL || len == 0);
    rc = parse_or(&ps, &m);
    if (rc != 0)
        goto out;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        rc = fail(&ps, IMX_ESYNTAX, "expected 'and', 'or' or the end of the marker");
        goto out;
    }
    *out = m;
    m = NULL;
out:
    marker_free(m);
    return rc;
}

/* ---- evaluation ---- */

enum tri tri_and(enum tri a, enum tri b)
{
    if (a == TRI_FALSE || b == TRI_FALSE)
        return TRI_FALSE;
    if (a == TRI_UNKNOWN || b == TRI_UNKNOWN)
        return TRI_UNKNOWN;
    return TRI_TRUE;
}

enum tri tri_or(enum tri a, enum tri b)
{
    if (a == TRI_TRUE || b == TRI_TRUE)
        return TRI_TRUE;
    if (a == TRI_UNKNOWN || b == TRI_UNKNOWN)
        return TRI_UNKNOWN;
    return TRI_FALSE;
}

const char *tri_name(enum tri t)
{
    switch (t) {
    case TRI_FALSE:
        return "false";
    case TRI_TRUE:
        return "true";
    case TRI_UNKNOWN:
        break;
    }
    return "unknown";
}

#define SCRATCH 256

/* PEP 503 form of s into buf (SCRATCH bytes); false if it does not fit. */
static bool norm_name(struct str s, char *buf, struct str *out)
{
    size_t n = 0;

    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c == '-' || c == '_' || c == '.') {
            while (i + 1 < s.len && (s.p[i + 1] == '-' || s.p[i + 1] == '_' || s.p[i + 1] == '.'))
                i++;
            c = '-';
        } else if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (n == SCRATCH)
            return false;
        buf[n++] = c;
    }
    *out = str_make(buf, n);
    return true;
}

static int str_order(struct str a, struct str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.p, b.p, n) : 0;

    if (r != 0)
        return r < 0 ? -1 : 1;
    return (a.len > b.len) - (a.len < b.len);
}

static bool contains_sub(struct str hay, struct str needle)
{
    if (needle.len == 0)
        return true;
    for (size_t i = 0; i + needle.len <= hay.len; i++) {
        if (memcmp(hay.p + i, needle.p, needle.len) == 0)
            return true;
    }
    return false;
}

/*
 * Try packaging's version path: Specifier(op + rhs).contains(lhs).
 * Returns 1/0 for the answer, -1 when it does not apply.
 */
static int version_cmp_op(struct str l, enum marker_op op, struct str r)
{
    char text[SCRATCH];
    size_t n = strlen(op_names[op]);
    struct specifier spec;
    struct version v;

    if (r.len > sizeof(text) - n)
        return -1;
    memcpy(text, op_names[op], n);
    memcpy(text + n, r.p, r.len);
    if (specifier_parse_one(text, n + r.len, &spec) != 0)
        return -1;
    if (version_parse(l.p, l.len, &v) != 0)
        return -1;
    return specifier_matches(&spec, &v) ? 1 : 0;
}

static bool cmp_values(struct str l, enum marker_op op, struct str r, bool extra)
{
    char lb[SCRATCH], rb[SCRATCH];
    struct str ln, rn;
    int vr, o;

    if (extra && norm_name(l, lb, &ln) && norm_name(r, rb, &rn)) {
        l = ln;
        r = rn;
    }
    if (op == MO_IN)
        return contains_sub(r, l);
    if (op == MO_NOT_IN)
        return !contains_sub(r, l);
    vr = version_cmp_op(l, op, r);
    if (vr >= 0)
        return vr == 1;
    o = str_order(l, r);
    switch (op) {
    case MO_LT:
        return o < 0;
    case MO_LE:
        return o <= 0;
    case MO_NE:
        return o != 0;
    case MO_EQ:
    case MO_ARBITRARY:
        return o == 0;
    case MO_GE:
        return o >= 0;
    case MO_GT:
        return o > 0;
    case MO_COMPATIBLE:
    case MO_IN:
    case MO_NOT_IN:
        break;
    }
    return false;
}

/* The possible values of one side; false when unknown. */
static bool side_values(const struct side *s, const struct marker_env *env, struct str *vals,
                        size_t *n)
{
    if (!s->is_var) {
        vals[0] = str_make(s->lit, s->len);
        *n = 1;
        return true;
    }
    *n = marker_env_count(env, s->var);
    for (size_t i = 0; i < *n; i++)
        vals[i] = marker_env_value(env, s->var, i);
    return *n > 0;
}

static enum tri eval_cmp(const struct marker *m, const struct marker_env *env)
{
    struct str lv[MARKER_ENV_MAX_VALUES], rv[MARKER_ENV_MAX_VALUES];
    size_t ln, rn, t = 0, f = 0;
    bool extra = (m->lhs.is_var && m->lhs.var == MV_EXTRA) ||
                 (m->rhs.is_var && m->rhs.var == MV_EXTRA);

    if (!side_values(&m->lhs, env, lv, &ln) || !side_values(&m->rhs, env, rv, &rn))
        return TRI_UNKNOWN;
    for (size_t i = 0; i < ln; i++) {
        for (size_t j = 0; j < rn; j++) {
            if (cmp_values(lv[i], m->op, rv[j], extra))
                t++;
            else
                f++;
        }
    }
    if (f == 0)
        return TRI_TRUE;
    if (t == 0)
        return TRI_FALSE;
    return TRI_UNKNOWN;
}

enum tri marker_eval(const struct marker *m, const struct marker_env *env)
{
    enum tri a;

    assert(m && env);
    switch (m->kind) {
    case N_AND:
        a = marker_eval(m->l, env);
        if (a == TRI_FALSE)
            return TRI_FALSE;
        return tri_and(a, marker_eval(m->r, env));
    case N_OR:
        a = marker_eval(m->l, env);
        if (a == TRI_TRUE)
            return TRI_TRUE;
        return tri_or(a, marker_eval(m->r, env));
    case N_CMP:
        break;
    }
    return eval_cmp(m, env);
}

bool marker_uses(const struct marker *m, enum marker_var v)
{
    if (!m)
        return false;
    if (m->kind != N_CMP)
        return marker_uses(m->l, v) || marker_uses(m->r, v);
    return (m->lhs.is_var && m->lhs.var == v) || (m->rhs.is_var && m->rhs.var == v);
}

/* ---- rendering ---- */

static int render_side(const struct side *s, struct buf *b)
{
    char q;
    int rc;

    if (s->is_var)
        return buf_appends(b, var_names[s->var]);
    q = memchr(s->lit, '"', s->len) ? '\'' : '"';
    rc = buf_putc(b, q);
    if (rc == 0)
        rc = buf_append(b, s->lit, s->len);
    if (rc == 0)
        rc = buf_putc(b, q);
    return rc;
}

static int render(const struct marker *m, struct buf *b);

/* A child needs parentheses if it binds looser than its parent ("or" under
 * "and"), or if it is a right operand of the same kind (chains are
 * left-associative, so "a and (b and c)" is a different tree). */
static int render_child(const struct marker *parent, const struct marker *child, bool right,
                        struct buf *b)
{
    bool paren = child->kind != N_CMP &&
                 ((parent->kind == N_AND && child->kind == N_OR) ||
                  (right && child->kind == parent->kind));
    int rc = 0;

    if (paren)
        rc = buf_putc(b, '(');
    if (rc == 0)
        rc = render(child, b);
    if (rc == 0 && paren)
        rc = buf_putc(b, ')');
    return rc;
}

static int render(const struct marker *m, struct buf *b)
{
    int rc;

    if (m->kind == N_CMP) {
        rc = render_side(&m->lhs, b);
        if (rc == 0)
            rc = buf_printf(b, " %s ", op_names[m->op]);
        if (rc == 0)
            rc = render_side(&m->rhs, b);
        return rc;
    }
    rc = render_child(m, m->l, false, b);
    if (rc == 0)
        rc = buf_appends(b, m->kind == N_AND ? " and " : " or ");
    if (rc == 0)
        rc = render_child(m, m->r, true, b);
    return rc;
}

int marker_to_string(const struct marker *m, struct buf *out)
{
    struct buf tmp;
    int rc;

    assert(m);
    /* Render aside so that a failure leaves `out` untouched. */
    buf_init(&tmp, out->max - out->len);
    rc = render(m, &tmp);
    if (rc == 0)
        rc = buf_append(out, buf_cstr(&tmp), tmp.len);
    buf_release(&tmp);
    return rc;
}

static bool side_equal(const struct side *a, const struct side *b)
{
    if (a->is_var != b->is_var)
        return false;
    if (a->is_var)
        return a->var == b->var;
    return a->len == b->len && memcmp(a->lit, b->lit, a->len) == 0;
}

bool marker_equal(const struct marker *a, const struct marker *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return false;
    if (a->kind != N_CMP)
        return marker_equal(a->l, b->l) && marker_equal(a->r, b->r);
    return a->op == b->op && side_equal(&a->lhs, &b->lhs) && side_equal(&a->rhs, &b->rhs);
}
