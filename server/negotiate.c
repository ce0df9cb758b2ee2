/*
 * negotiate.c - Accept / Accept-Encoding parsing and PEP 691 type selection.
 *
 * Both headers are lists of members `token[/token] *( OWS ";" OWS name=value )`
 * separated by commas. parse_member() reads one member with a cursor and
 * reports its name slices and q (in thousandths, 0..1000); a member that
 * does not parse is skipped up to the next comma that is not inside a
 * quoted string, so one bad member never hides the others. Nothing is
 * copied: all slices point into the header. See negotiate.h for the rules.
 */
#include "compat.h"

#include "err.h"
#include "negotiate.h"
#include "str.h"

#define Q_MAX 1000

/* Specificity of the range that matched an offer. */
enum spec { SPEC_NONE = 0, SPEC_ANY, SPEC_TYPE, SPEC_EXACT };

struct member {
    struct str type;    /* media type, or the coding for Accept-Encoding */
    struct str subtype; /* empty for Accept-Encoding */
    int q;              /* 0..1000 */
};

/* RFC 9110 tchar, by table: this runs for every byte of every Accept header. */
static const bool tchar[256] = {
    ['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true, ['\''] = true,
    ['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true, ['^'] = true, ['_'] = true,
    ['`'] = true, ['|'] = true, ['~'] = true,
    ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true, ['5'] = true,
    ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
    ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true, ['F'] = true,
    ['G'] = true, ['H'] = true, ['I'] = true, ['J'] = true, ['K'] = true, ['L'] = true,
    ['M'] = true, ['N'] = true, ['O'] = true, ['P'] = true, ['Q'] = true, ['R'] = true,
    ['S'] = true, ['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true, ['X'] = true,
    ['Y'] = true, ['Z'] = true,
    ['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true, ['e'] = true, ['f'] = true,
    ['g'] = true, ['h'] = true, ['i'] = true, ['j'] = true, ['k'] = true, ['l'] = true,
    ['m'] = true, ['n'] = true, ['o'] = true, ['p'] = true, ['q'] = true, ['r'] = true,
    ['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true, ['w'] = true, ['x'] = true,
    ['y'] = true, ['z'] = true,
};

static struct str cur_token(struct str_cursor *c)
{
    const char *start = c->p;
    while (c->p < c->end && tchar[(unsigned char)*c->p])
        c->p++;
    return str_make(start, (size_t)(c->p - start));
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
static int parse_q(struct str v, int *out)
{
    int q;
    size_t i;
    int scale = 100;

    if (v.len == 0 || (v.p[0] != '0' && v.p[0] != '1'))
        return IMX_ESYNTAX;
    q = (v.p[0] - '0') * Q_MAX;
    if (v.len == 1)
        goto done;
    if (v.p[1] != '.' || v.len > 5)
        return IMX_ESYNTAX;
    for (i = 2; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return IMX_ESYNTAX;
        q += (v.p[i] - '0') * scale;
        scale /= 10;
    }
    if (q > Q_MAX)
        return IMX_ESYNTAX;
done:
    *out = q;
    return 0;
}

/* Consume a quoted-string (the opening quote is at c->p). */
static int cur_quoted(struct str_cursor *c, struct str *out)
{
    const char *start;

    c->p++;
    start = c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\') {
            c->p++;
            if (c->p >= c->end)
                return IMX_ESYNTAX;
        }
        c->p++;
    }
    if (c->p >= c->end)
        return IMX_ESYNTAX;
    *out = str_make(start, (size_t)(c->p - start));
    c->p++;
    return 0;
}

/* Skip the rest of a broken member: up to a comma outside quotes. */
static void skip_member(struct str_cursor *c)
{
    bool quoted = false;

    while (c->p < c->end) {
        char ch = *c->p;
        if (quoted && ch == '\\' && c->p + 1 < c->end) {
            c->p += 2;
            continue;
        }
        if (ch == '"')
            quoted = !quoted;
        else if (ch == ',' && !quoted)
            return;
        c->p++;
    }
}

/*
 * Parse one member at the cursor (leading OWS and commas already skipped).
 * On success the cursor stands at the separating comma or the end.
 * Returns 0 or IMX_ESYNTAX (the caller skips the member).
 */
static int parse_member(struct str_cursor *c, bool media, struct member *m)
{
    m->type = cur_token(c);
    m->subtype = STR_NULL;
    m->q = Q_MAX;
    if (m->type.len == 0)
        return IMX_ESYNTAX;
    if (media) {
        if (!str_cur_lit(c, "/"))
            return IMX_ESYNTAX;
        m->subtype = cur_token(c);
        if (m->subtype.len == 0)
            return IMX_ESYNTAX;
        if (str_eq_cstr(m->type, "*") && !str_eq_cstr(m->subtype, "*"))
            return IMX_ESYNTAX;
    }
    for (;;) {
        struct str name;
        struct str value;

        str_cur_skip_ws(c);
        if (str_cur_eof(c) || *c->p == ',')
            return 0;
        if (!str_cur_lit(c, ";"))
            return IMX_ESYNTAX;
        str_cur_skip_ws(c);
        if (str_cur_eof(c) || *c->p == ',')
            return 0; /* a dangling ';' is harmless */
        name = cur_token(c);
        if (name.len == 0 || !str_cur_lit(c, "="))
            return IMX_ESYNTAX;
        if (!str_cur_eof(c) && *c->p == '"') {
            if (cur_quoted(c, &value) != 0)
                return IMX_ESYNTAX;
        } else {
            value = cur_token(c);
            if (value.len == 0)
                return IMX_ESYNTAX;
        }
        if (str_eq_nocase(name, STR_LIT("q")) && parse_q(value, &m->q) != 0)
            return IMX_ESYNTAX;
    }
}

/*
 * Walk every member of a list header, calling fn for each one that parses.
 * Returns the number of members that parsed.
 */
static size_t each_member(struct str h, bool media,
                          void (*fn)(const struct member *m, void *ctx), void *ctx)
{
    struct str_cursor c = str_cursor(h);
    size_t n = 0;

    for (;;) {
        struct member m;

        while (!str_cur_eof(&c) && (*c.p == ',' || *c.p == ' ' || *c.p == '\t'))
            c.p++;
        if (str_cur_eof(&c))
            break;
        if (parse_member(&c, media, &m) != 0) {
            skip_member(&c);
            continue;
        }
        fn(&m, ctx);
        n++;
    }
    return n;
}

/* The offers in tie-break order for explicitly named types. */
static const char *const offer_types[] = {
    [NEG_JSON] = "application/vnd.pypi.simple.v1+json",
    [NEG_V1_HTML] = "application/vnd.pypi.simple.v1+html",
    [NEG_TEXT_HTML] = "text/html",
};

struct offer_score {
    enum spec spec;
    int q;
};

struct accept_ctx {
    struct offer_score score[3];
};

/* What one media range can match: classified once, then looked up per offer. */
enum range_class { RC_OTHER = 0, RC_ANY, RC_APP_ANY, RC_TEXT_ANY, RC_JSON, RC_V1_HTML, RC_TEXT_HTML };

static const enum spec class_spec[][3] = {
    [RC_OTHER] = {SPEC_NONE, SPEC_NONE, SPEC_NONE},
    [RC_ANY] = {SPEC_ANY, SPEC_ANY, SPEC_ANY},
    [RC_APP_ANY] = {[NEG_JSON] = SPEC_TYPE, [NEG_V1_HTML] = SPEC_TYPE, [NEG_TEXT_HTML] = SPEC_NONE},
    [RC_TEXT_ANY] = {[NEG_JSON] = SPEC_NONE, [NEG_V1_HTML] = SPEC_NONE, [NEG_TEXT_HTML] = SPEC_TYPE},
    [RC_JSON] = {[NEG_JSON] = SPEC_EXACT},
    [RC_V1_HTML] = {[NEG_V1_HTML] = SPEC_EXACT},
    [RC_TEXT_HTML] = {[NEG_TEXT_HTML] = SPEC_EXACT},
};

static enum range_class classify(const struct member *m)
{
    struct str sub = m->subtype;

    if (str_eq_cstr(m->type, "*"))
        return str_eq_cstr(sub, "*") ? RC_ANY : RC_OTHER; /* STAR/x never parses */
    if (str_eq_nocase(m->type, STR_LIT("text"))) {
        if (str_eq_cstr(sub, "*"))
            return RC_TEXT_ANY;
        return str_eq_nocase(sub, STR_LIT("html")) ? RC_TEXT_HTML : RC_OTHER;
    }
    if (!str_eq_nocase(m->type, STR_LIT("application")))
        return RC_OTHER;
    if (str_eq_cstr(sub, "*"))
        return RC_APP_ANY;
    if (str_eq_nocase(sub, STR_LIT("vnd.pypi.simple.v1+json")) ||
        str_eq_nocase(sub, STR_LIT("vnd.pypi.simple.latest+json")))
        return RC_JSON;
    if (str_eq_nocase(sub, STR_LIT("vnd.pypi.simple.v1+html")) ||
        str_eq_nocase(sub, STR_LIT("vnd.pypi.simple.latest+html")))
        return RC_V1_HTML;
    return RC_OTHER;
}

static void accept_member(const struct member *m, void *vctx)
{
    struct accept_ctx *ctx = vctx;
    const enum spec *specs = class_spec[classify(m)];

    for (int t = 0; t < 3; t++) {
        struct offer_score *s = &ctx->score[t];
        enum spec sp = specs[t];

        if (sp == SPEC_NONE || sp < s->spec)
            continue;
        if (sp > s->spec || m->q > s->q) {
            s->spec = sp;
            s->q = m->q;
        }
    }
}

static int format_type(const char *f, enum negotiate_type *out)
{
    if (strcmp(f, "application/vnd.pypi.simple.v1+json") == 0 ||
        strcmp(f, "application/vnd.pypi.simple.latest+json") == 0)
        *out = NEG_JSON;
    else if (strcmp(f, "application/vnd.pypi.simple.v1+html") == 0 ||
             strcmp(f, "application/vnd.pypi.simple.latest+html") == 0)
        *out = NEG_V1_HTML;
    else if (strcmp(f, "text/html") == 0)
        *out = NEG_TEXT_HTML;
    else
        return IMX_ENOTFOUND;
    return 0;
}

int negotiate_page(const char *accept, const char *format_param, enum negotiate_type *out)
{
    static const enum negotiate_type explicit_order[] = {NEG_JSON, NEG_V1_HTML, NEG_TEXT_HTML};
    static const enum negotiate_type any_order[] = {NEG_TEXT_HTML, NEG_V1_HTML, NEG_JSON};
    struct accept_ctx ctx;
    enum negotiate_type chosen = NEG_TEXT_HTML;
    size_t len;
    int best_q = 0;
    bool have_explicit = false;
    int rc = 0;

    assert(out != NULL);
    memset(&ctx, 0, sizeof(ctx));
    if (format_param && format_type(format_param, &chosen) == 0)
        goto out;
    chosen = NEG_TEXT_HTML;
    if (!accept)
        goto out;
    len = strnlen(accept, NEGOTIATE_ACCEPT_MAX + 1);
    if (len > NEGOTIATE_ACCEPT_MAX)
        goto out;
    if (each_member(str_make(accept, len), true, accept_member, &ctx) == 0)
        goto out;

    for (int t = 0; t < 3; t++) {
        if (ctx.score[t].spec != SPEC_NONE && ctx.score[t].q > best_q)
            best_q = ctx.score[t].q;
    }
    if (best_q == 0) {
        rc = IMX_EINVAL;
        goto out;
    }
    for (int t = 0; t < 3; t++) {
        if (ctx.score[t].q == best_q && ctx.score[t].spec >= SPEC_TYPE)
            have_explicit = true;
    }
    for (size_t i = 0; i < 3; i++) {
        enum negotiate_type t = have_explicit ? explicit_order[i] : any_order[i];
        const struct offer_score *s = &ctx.score[t];

        if (s->spec == SPEC_NONE || s->q != best_q)
            continue;
        if (have_explicit && s->spec < SPEC_TYPE)
            continue;
        chosen = t;
        break;
    }
out:
    if (rc == 0)
        *out = chosen;
    return rc;
}

const char *negotiate_content_type(enum negotiate_type t)
{
    if ((unsigned)t >= ARRAY_SIZE(offer_types))
        return offer_types[NEG_TEXT_HTML];
    return offer_types[t];
}

struct gzip_ctx {
    int gzip_q; /* -1: not listed */
    int star_q; /* -1: not listed */
};

static void gzip_member(const struct member *m, void *vctx)
{
    struct gzip_ctx *ctx = vctx;

    /* Several members for one coding: the highest q, so order never matters. */
    if (str_eq_nocase(m->type, STR_LIT("gzip")) || str_eq_nocase(m->type, STR_LIT("x-gzip"))) {
        if (m->q > ctx->gzip_q)
            ctx->gzip_q = m->q;
    } else if (str_eq_cstr(m->type, "*")) {
        if (m->q > ctx->star_q)
            ctx->star_q = m->q;
    }
}

bool negotiate_accepts_gzip(const char *accept_encoding)
{
    struct gzip_ctx ctx = {-1, -1};
    size_t len;

    if (!accept_encoding)
        return false;
    len = strnlen(accept_encoding, NEGOTIATE_ACCEPT_MAX + 1);
    if (len > NEGOTIATE_ACCEPT_MAX)
        return false;
    each_member(str_make(accept_encoding, len), false, gzip_member, &ctx);
    if (ctx.gzip_q >= 0)
        return ctx.gzip_q > 0;
    return ctx.star_q > 0;
}
