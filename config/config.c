/*
 * config.c - the configuration schema of SPEC.md section 2 on top of the
 * TOML tree of toml.c: defaults, type checks, cross references, and error
 * messages in the form `file:line:col: key.path: message`.
 *
 * Loading is two passes over the tree. Pass one reads [server], every
 * [[index]] and every [virtual.NAME] into a scratch struct config, checking
 * each value on its own (types, ranges, names, URLs, markers). Pass two
 * resolves the names views refer to, once all indexes are known. Every
 * problem is reported and counted; the scratch config becomes the caller's
 * only if the count is zero, so the caller never sees half a config.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "config.h"
#include "config_int.h"
#include "err.h"
#include "str.h"
#include "toml.h"
#include "xalloc.h"

struct config_ctx {
    const char *file;
    struct buf *err;
    struct buf *warn;
    const struct config_opts *opts;
    unsigned nerr;
    struct config *cfg;
};

/* ---- messages ---- */

static void config_vmsg(struct buf *b, const char *file, const struct toml_node *n,
                        const char *path, const char *fmt, va_list ap)
{
    if (!b)
        return;
    buf_printf(b, "%s:%u:%u: %s: ", file, n ? n->line : 1, n ? n->col : 1, path);
    buf_vprintf(b, fmt, ap);
    buf_putc(b, '\n');
}

static void config_error(struct config_ctx *c, const struct toml_node *n, const char *path,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void config_error(struct config_ctx *c, const struct toml_node *n, const char *path,
                         const char *fmt, ...)
{
    va_list ap;

    c->nerr++;
    va_start(ap, fmt);
    config_vmsg(c->err, c->file, n, path, fmt, ap);
    va_end(ap);
}

static void config_warn(struct config_ctx *c, const struct toml_node *n, const char *path,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void config_warn(struct config_ctx *c, const struct toml_node *n, const char *path,
                        const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    config_vmsg(c->warn, c->file, n, path, fmt, ap);
    va_end(ap);
}

/* ---- value parsers shared with main.c ---- */

int config_parse_listen(const char *s, char **host, uint16_t *port)
{
    const char *colon;
    const char *h;
    size_t hlen;
    uint64_t p;
    char addr[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];
    size_t i;

    if (!s)
        return IMX_EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return IMX_EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        if (hlen == 0 || hlen >= sizeof(addr))
            return IMX_EINVAL;
        memcpy(addr, h, hlen);
        addr[hlen] = '\0';
        if (inet_pton(AF_INET6, addr, bin) != 1)
            return IMX_EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s)
            return IMX_EINVAL;
        h = s;
        hlen = (size_t)(colon - s);
        /* an IPv4 literal or a host name; a bare IPv6 address needs brackets */
        for (i = 0; i < hlen; i++) {
            char ch = h[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '-'))
                return IMX_EINVAL;
        }
        if (hlen < sizeof(addr)) {
            bool numeric = true;
            memcpy(addr, h, hlen);
            addr[hlen] = '\0';
            for (i = 0; i < hlen; i++)
                numeric = numeric && ((addr[i] >= '0' && addr[i] <= '9') || addr[i] == '.');
            if (numeric && inet_pton(AF_INET, addr, bin) != 1)
                return IMX_EINVAL;
        }
    }
    if (str_to_u64(str_from(colon + 1), 65535, &p) != 0)
        return IMX_EINVAL;
    *host = xstrndup(h, hlen);
    *port = (uint16_t)p;
    return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1000ull},
        {"mb", 1000ull * 1000},
        {"gb", 1000ull * 1000 * 1000},
        {"tb", 1000ull * 1000 * 1000 * 1000},
        {"kib", 1ull << 10},
        {"mib", 1ull << 20},
        {"gib", 1ull << 30},
        {"tib", 1ull << 40},
    };
    const char *p = s;
    uint64_t n;
    size_t i;
    int rc;

    if (!s)
        return IMX_EINVAL;
    while (*p >= '0' && *p <= '9')
        p++;
    rc = str_to_u64(str_make(s, (size_t)(p - s)), UINT64_MAX, &n);
    if (rc == IMX_ESYNTAX)
        return IMX_EINVAL;
    if (rc)
        return rc;
    if (*p == ' ') {
        p++;
        if (*p == '\0')
            return IMX_EINVAL;
    }
    for (i = 0; i < ARRAY_SIZE(units); i++) {
        if (strcasecmp(p, units[i].unit) != 0)
            continue;
        if (n > UINT64_MAX / units[i].mul)
            return IMX_ETOOLARGE;
        *out = n * units[i].mul;
        return 0;
    }
    return IMX_EINVAL;
}

/* ---- names ---- */

/* [a-z0-9][a-z0-9._-]* */
static bool config_name_ok(const char *s)
{
    size_t i;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (i = 1; s[i]; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

/*
 * PEP 503 normalisation of a PEP 508 project name; NULL if `s` is not a
 * valid name (ASCII letters, digits, '.', '_', '-', starting and ending with
 * a letter or digit). Caller frees.
 */
static char *config_normalize_project(const char *s, size_t len)
{
    struct buf b;
    size_t i;

    if (len == 0 || memchr(s, '\0', len))
        return NULL;
    buf_init(&b, BUF_NOMAX);
    for (i = 0; i < len; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        bool sep = ch == '-' || ch == '_' || ch == '.';
        if (!alnum && !sep) {
            buf_release(&b);
            return NULL;
        }
        if ((i == 0 || i == len - 1) && !alnum) {
            buf_release(&b);
            return NULL;
        }
        if (sep) {
            if (b.len && b.p[b.len - 1] != '-')
                buf_putc(&b, '-');
            continue;
        }
        buf_putc(&b, (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch));
    }
    return buf_detach(&b, NULL);
}

/* ---- typed getters ---- */

static bool config_want(struct config_ctx *c, const struct toml_node *n, const char *path,
                        enum toml_type t)
{
    if (n->type == t)
        return true;
    config_error(c, n, path, "expected %s, got %s", toml_type_name(t), toml_type_name(n->type));
    return false;
}

/* A string without NUL bytes (they would silently truncate C strings). */
static bool config_string(struct config_ctx *c, const struct toml_node *n, const char *path)
{
    if (!config_want(c, n, path, TOML_STRING))
        return false;
    if (strlen(n->s) != n->slen) {
        config_error(c, n, path, "string contains a NUL character");
        return false;
    }
    return true;
}

static void config_set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static bool config_http_url(const char *u)
{
    const char *rest;

    if (strncasecmp(u, "https://", 8) == 0)
        rest = u + 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        rest = u + 7;
    else
        return false;
    return rest[0] != '\0' && rest[0] != '/';
}

/*
 * The schema of a table as a list of keys. Each kind has one reader that
 * stores into the struct at `off`; `lo`/`hi` bound integers and `choices`
 * lists the allowed strings of an enum-like string.
 */
enum config_kind {
    CK_STR,
    CK_BOOL,
    CK_UINT,
    CK_SIZE,
    CK_LISTEN,
    CK_URL,        /* http(s) URL, always ending with '/' */
    CK_PUBLIC_URL, /* http(s) URL, never ending with '/' */
    CK_CHOICE,
};

struct config_key {
    const char *name;
    enum config_kind kind;
    size_t off;
    uint64_t lo, hi;
    const char *const *choices;
};

static const char *const config_log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const config_log_formats[] = {"text", "json", NULL};

#define CK_S(name, kind, field) {name, kind, offsetof(struct config_server, field), 0, 0, NULL}
#define CK_SU(name, field, lo, hi)                                                           \
    {name, CK_UINT, offsetof(struct config_server, field), lo, hi, NULL}

static const struct config_key config_server_keys[] = {
    {"listen", CK_LISTEN, 0, 0, 0, NULL},
    CK_S("data-dir", CK_STR, data_dir),
    CK_S("default", CK_STR, default_view),
    CK_S("offline", CK_BOOL, offline),
    CK_S("max-cache-size", CK_SIZE, max_cache_size),
    CK_S("public-url", CK_PUBLIC_URL, public_url),
    CK_SU("connect-timeout", connect_timeout, 1, 86400),
    CK_SU("timeout", timeout, 1, 86400),
    CK_S("lmdb-map-size", CK_SIZE, lmdb_map_size),
    CK_SU("max-connections", max_connections, 1, 1000000),
    CK_SU("client-timeout", client_timeout, 1, 86400),
    CK_S("max-page-size", CK_SIZE, max_page_size),
    CK_SU("page-max-age", page_max_age, 0, 31536000),
    {"log-level", CK_CHOICE, offsetof(struct config_server, log_level), 0, 0, config_log_levels},
    {"log-format", CK_CHOICE, offsetof(struct config_server, log_format), 0, 0,
     config_log_formats},
};

#define CK_I(name, kind, field) {name, kind, offsetof(struct config_index, field), 0, 0, NULL}
#define CK_IU(name, field, lo, hi)                                                           \
    {name, CK_UINT, offsetof(struct config_index, field), lo, hi, NULL}

static const struct config_key config_index_keys[] = {
    CK_I("name", CK_STR, name),
    CK_I("url", CK_URL, url),
    CK_I("explicit", CK_BOOL, explicit_),
    CK_IU("ttl", ttl, 0, 31536000),
    CK_IU("negative-ttl", negative_ttl, 0, 31536000),
    CK_I("username", CK_STR, username),
    CK_I("password-env", CK_STR, password_env),
    CK_I("tls-verify", CK_BOOL, tls_verify),
    CK_I("ca-file", CK_STR, ca_file),
};

static const struct config_key *config_key_find(const struct config_key *keys, size_t nkeys,
                                                const struct toml_node *n)
{
    size_t i;

    for (i = 0; i < nkeys; i++) {
        if (strlen(keys[i].name) == n->keylen && memcmp(keys[i].name, n->key, n->keylen) == 0)
            return &keys[i];
    }
    return NULL;
}

/* Read one value per its schema entry into `base`. */
static void config_read_key(struct config_ctx *c, const struct config_key *k,
                            const struct toml_node *n, const char *path, void *base)
{
    char *field = (char *)base + k->off;
    const char *const *ch;
    uint64_t size;
    int rc;

    switch (k->kind) {
    case CK_STR:
        if (config_string(c, n, path))
            config_set_str((char **)(void *)field, n->s);
        return;
    case CK_BOOL:
        if (config_want(c, n, path, TOML_BOOL))
            *(bool *)(void *)field = n->b;
        return;
    case CK_UINT:
        if (!config_want(c, n, path, TOML_INTEGER))
            return;
        if (n->i < 0 || (uint64_t)n->i < k->lo || (uint64_t)n->i > k->hi) {
            config_error(c, n, path, "%lld is out of range %llu-%llu", (long long)n->i,
                         (unsigned long long)k->lo, (unsigned long long)k->hi);
            return;
        }
        *(unsigned *)(void *)field = (unsigned)n->i;
        return;
    case CK_SIZE:
        if (n->type == TOML_INTEGER) {
            if (n->i < 0) {
                config_error(c, n, path, "size must not be negative");
                return;
            }
            *(uint64_t *)(void *)field = (uint64_t)n->i;
            return;
        }
        if (!config_string(c, n, path))
            return;
        rc = config_parse_size(n->s, &size);
        if (rc) {
            config_error(c, n, path, "invalid size '%s' (e.g. \"200GiB\", \"500MB\" or bytes)",
                         n->s);
            return;
        }
        *(uint64_t *)(void *)field = size;
        return;
    case CK_LISTEN: {
        struct config_server *srv = base;
        char *host = NULL;
        uint16_t port = 0;
        if (!config_string(c, n, path))
            return;
        if (config_parse_listen(n->s, &host, &port) != 0) {
            config_error(c, n, path, "invalid address '%s' (ADDR:PORT or [V6ADDR]:PORT)", n->s);
            return;
        }
        free(srv->listen_host);
        srv->listen_host = host;
        srv->listen_port = port;
        return;
    }
    case CK_URL:
    case CK_PUBLIC_URL: {
        char **dst = (char **)(void *)field;
        size_t len;
        if (!config_string(c, n, path))
            return;
        if (!config_http_url(n->s)) {
            config_error(c, n, path, "'%s' is not an http or https URL", n->s);
            return;
        }
        free(*dst);
        len = n->slen;
        if (k->kind == CK_URL) {
            *dst = n->s[len - 1] == '/' ? xstrdup(n->s) : xasprintf("%s/", n->s);
        } else {
            while (len > 0 && n->s[len - 1] == '/')
                len--;
            *dst = xstrndup(n->s, len);
        }
        return;
    }
    case CK_CHOICE:
        if (!config_string(c, n, path))
            return;
        for (ch = k->choices; *ch; ch++) {
            if (strcmp(*ch, n->s) == 0) {
                config_set_str((char **)(void *)field, n->s);
                return;
            }
        }
        config_error(c, n, path, "invalid value '%s'", n->s);
        return;
    }
}

/* Read every member of `t` per `keys`; unknown keys are errors. */
static void config_read_table(struct config_ctx *c, const struct toml_node *t,
                              const struct config_key *keys, size_t nkeys, const char *prefix,
                              void *base)
{
    size_t i;

    for (i = 0; i < t->nkids; i++) {
        const struct toml_node *n = t->kids[i];
        const struct config_key *k = config_key_find(keys, nkeys, n);
        char *path = xasprintf("%s.%s", prefix, n->key);

        if (!k)
            config_error(c, n, path, "unknown key");
        else
            config_read_key(c, k, n, path, base);
        free(path);
    }
}

/* ---- [[index]] ---- */

static const char *config_env_lookup(char *const *envp, const char *name)
{
    size_t len = strlen(name);

    for (; envp && *envp; envp++) {
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    }
    return NULL;
}

/* Is `name` already used by an index or a view? */
static bool config_name_taken(const struct config *cfg, const char *name)
{
    size_t i;

    for (i = 0; i < cfg->nindexes; i++) {
        if (strcmp(cfg->indexes[i].name, name) == 0)
            return true;
    }
    for (i = 0; i < cfg->nviews; i++) {
        if (strcmp(cfg->views[i].name, name) == 0)
            return true;
    }
    return false;
}

static void config_index_release(struct config_index *ix)
{
    free(ix->name);
    free(ix->url);
    free(ix->username);
    free(ix->password_env);
    free(ix->password);
    free(ix->ca_file);
}

static void config_read_index(struct config_ctx *c, const struct toml_node *t, size_t pos,
                              size_t *cap)
{
    struct config_index ix;
    char *prefix = xasprintf("index[%zu]", pos);
    char *namepath = NULL;
    const struct toml_node *n;
    bool ok = true;

    memset(&ix, 0, sizeof(ix));
    ix.ttl = 600;
    ix.negative_ttl = 60;
    ix.tls_verify = true;
    ix.line = t->line;
    ix.col = t->col;
    if (!config_want(c, t, prefix, TOML_TABLE))
        goto out;
    config_read_table(c, t, config_index_keys, ARRAY_SIZE(config_index_keys), prefix, &ix);
    n = toml_get(t, "name");
    namepath = xasprintf("%s.name", prefix);
    if (!ix.name) {
        if (!n)
            config_error(c, t, prefix, "missing key 'name'");
        ok = false;
    } else if (!config_name_ok(ix.name)) {
        config_error(c, n, namepath, "invalid name '%s' (want [a-z0-9][a-z0-9._-]*)",
                     ix.name);
        ok = false;
    } else if (config_name_taken(c->cfg, ix.name)) {
        config_error(c, n, namepath, "duplicate name '%s'", ix.name);
        ok = false;
    }
    if (!ix.url) {
        if (!toml_get(t, "url"))
            config_error(c, t, prefix, "missing key 'url'");
        ok = false;
    }
    if (ix.password_env) {
        const char *v = config_env_lookup(c->opts ? c->opts->envp : NULL, ix.password_env);
        char *path = xasprintf("%s.password-env", prefix);
        if (v)
            ix.password = xstrdup(v);
        else
            config_warn(c, toml_get(t, "password-env"), path,
                        "environment variable '%s' is not set; no password is sent",
                        ix.password_env);
        free(path);
    }
    if (!ix.tls_verify) {
        char *path = xasprintf("%s.tls-verify", prefix);
        config_warn(c, toml_get(t, "tls-verify"), path,
                    "TLS certificate verification is disabled for '%s'", ix.url ? ix.url : "");
        free(path);
    }
    if (!ok)
        goto out;
    c->cfg->indexes = xgrow(c->cfg->indexes, cap, c->cfg->nindexes + 1, sizeof(ix));
    c->cfg->indexes[c->cfg->nindexes++] = ix;
    memset(&ix, 0, sizeof(ix));
out:
    config_index_release(&ix);
    free(namepath);
    free(prefix);
}

/* ---- markers ---- */

/*
 * The built-in marker check, used when no check_marker hook is given: a
 * small recursive-descent recogniser of PEP 508's marker grammar
 * (marker_or / marker_and / marker_expr) over known variable names.
 */
struct config_mtok {
    const char *p;
    const char *err;
    unsigned depth;
    bool uses_extra;
};

static const char *const config_marker_vars[] = {
    "python_version", "python_full_version", "os_name", "sys_platform", "platform_release",
    "platform_system", "platform_version", "platform_machine", "platform_python_implementation",
    "implementation_name", "implementation_version", "extra",
    /* legacy spellings that packaging still accepts */
    "os.name", "sys.platform", "platform.version", "platform.machine",
    "platform.python_implementation", "python_implementation",
};

static void config_m_ws(struct config_mtok *m)
{
    while (*m->p == ' ' || *m->p == '\t')
        m->p++;
}

static bool config_m_word(struct config_mtok *m, const char *w)
{
    size_t n = strlen(w);
    char next;

    config_m_ws(m);
    if (strncmp(m->p, w, n) != 0)
        return false;
    next = m->p[n];
    if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || next == '_' ||
        (next >= '0' && next <= '9'))
        return false;
    m->p += n;
    return true;
}

/* A quoted string or a known variable. */
static bool config_m_value(struct config_mtok *m)
{
    const char *s;
    size_t i;

    config_m_ws(m);
    if (*m->p == '\'' || *m->p == '"') {
        const char *close = strchr(m->p + 1, *m->p);
        if (!close) {
            m->err = "unterminated string";
            return false;
        }
        m->p = close + 1;
        return true;
    }
    s = m->p;
    while ((*m->p >= 'a' && *m->p <= 'z') || *m->p == '_' || *m->p == '.')
        m->p++;
    for (i = 0; i < ARRAY_SIZE(config_marker_vars); i++) {
        if (strlen(config_marker_vars[i]) == (size_t)(m->p - s) &&
            memcmp(config_marker_vars[i], s, (size_t)(m->p - s)) == 0) {
            if (strcmp(config_marker_vars[i], "extra") == 0)
                m->uses_extra = true;
            return true;
        }
    }
    m->err = m->p == s ? "expected a variable or a quoted string" : "unknown variable";
    return false;
}

static bool config_m_op(struct config_mtok *m)
{
    static const char *const ops[] = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};
    size_t i;

    config_m_ws(m);
    for (i = 0; i < ARRAY_SIZE(ops); i++) {
        if (strncmp(m->p, ops[i], strlen(ops[i])) == 0) {
            m->p += strlen(ops[i]);
            return true;
        }
    }
    if (config_m_word(m, "in"))
        return true;
    if (config_m_word(m, "not")) {
        if (config_m_word(m, "in"))
            return true;
    }
    m->err = "expected a comparison operator";
    return false;
}

static bool config_m_or(struct config_mtok *m);

static bool config_m_expr(struct config_mtok *m)
{
    config_m_ws(m);
    if (*m->p == '(') {
        if (++m->depth > 32) {
            m->err = "too deeply nested";
            return false;
        }
        m->p++;
        if (!config_m_or(m))
            return false;
        config_m_ws(m);
        if (*m->p != ')') {
            m->err = "unbalanced parentheses";
            return false;
        }
        m->p++;
        m->depth--;
        return true;
    }
    return config_m_value(m) && config_m_op(m) && config_m_value(m);
}

static bool config_m_and(struct config_mtok *m)
{
    if (!config_m_expr(m))
        return false;
    while (config_m_word(m, "and")) {
        if (!config_m_expr(m))
            return false;
    }
    return true;
}

static bool config_m_or(struct config_mtok *m)
{
    if (!config_m_and(m))
        return false;
    while (config_m_word(m, "or")) {
        if (!config_m_and(m))
            return false;
    }
    return true;
}

int config__check_marker(const char *marker, bool *uses_extra, char *err, size_t errlen)
{
    struct config_mtok m = {marker, NULL, 0, false};
    bool ok = config_m_or(&m);

    if (ok) {
        config_m_ws(&m);
        if (*m.p != '\0') {
            ok = false;
            m.err = *m.p == ')' ? "unbalanced parentheses" : "unexpected text after marker";
        }
    }
    *uses_extra = m.uses_extra;
    if (!ok) {
        snprintf(err, errlen, "%s at offset %zu", m.err, (size_t)(m.p - marker));
        return IMX_ESYNTAX;
    }
    return 0;
}

/* Does the marker mention the variable `extra` (outside quoted strings)? */
static bool config_marker_uses_extra(const char *s)
{
    char q = 0;
    size_t i;

    for (i = 0; s[i]; i++) {
        char ch = s[i];
        if (q) {
            if (ch == q)
                q = 0;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            q = ch;
            continue;
        }
        if (strncmp(s + i, "extra", 5) == 0) {
            char before = i ? s[i - 1] : ' ';
            char after = s[i + 5];
            bool wb = !((before >= 'a' && before <= 'z') || before == '_' || before == '.');
            bool wa = !((after >= 'a' && after <= 'z') || after == '_' ||
                        (after >= '0' && after <= '9'));
            if (wb && wa)
                return true;
        }
    }
    return false;
}

/* ---- [virtual.NAME] ---- */

static void config_view_release(struct config_view *v)
{
    size_t i, j;

    free(v->name);
    free(v->indexes);
    for (i = 0; i < v->npins; i++) {
        for (j = 0; j < v->pins[i].nsources; j++)
            free(v->pins[i].sources[j].marker);
        free(v->pins[i].sources);
        free(v->pins[i].project);
    }
    free(v->pins);
}

static long config_index_pos(const struct config *cfg, const char *name)
{
    size_t i;

    for (i = 0; i < cfg->nindexes; i++) {
        if (strcmp(cfg->indexes[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

/* One { index = "...", marker = "..." } of a pin. */
static void config_read_source(struct config_ctx *c, const struct toml_node *e, const char *path,
                               struct config_pin *pin, size_t *cap)
{
    struct config_source src = {0, NULL, e->line, e->col};
    const struct toml_node *ixn = NULL;
    const struct toml_node *mn = NULL;
    bool ok = true;
    size_t i;

    if (e->type != TOML_TABLE) {
        config_error(c, e, path, "expected { index = \"...\", marker = \"...\" }, got %s",
                     toml_type_name(e->type));
        return;
    }
    for (i = 0; i < e->nkids; i++) {
        const struct toml_node *n = e->kids[i];
        char *sub = xasprintf("%s.%s", path, n->key);
        if (strcmp(n->key, "index") == 0) {
            ixn = n;
            ok = config_string(c, n, sub) && ok;
        } else if (strcmp(n->key, "marker") == 0) {
            mn = n;
            ok = config_string(c, n, sub) && ok;
        } else {
            config_error(c, n, sub, "unknown key");
            ok = false;
        }
        free(sub);
    }
    if (!ixn) {
        config_error(c, e, path, "missing key 'index'");
        ok = false;
    } else if (ixn->type == TOML_STRING) {
        long pos = config_index_pos(c->cfg, ixn->s);
        char *sub = xasprintf("%s.index", path);
        if (pos < 0) {
            config_error(c, ixn, sub, "unknown index '%s'", ixn->s);
            ok = false;
        }
        src.index = pos < 0 ? 0 : (size_t)pos;
        free(sub);
    }
    if (mn && mn->type == TOML_STRING && strlen(mn->s) == mn->slen) {
        char *sub = xasprintf("%s.marker", path);
        char reason[256] = "";
        bool extra = false;
        int rc;

        src.line = mn->line;
        src.col = mn->col;
        if (c->opts && c->opts->check_marker) {
            rc = c->opts->check_marker(mn->s, reason, sizeof(reason));
            extra = config_marker_uses_extra(mn->s);
        } else {
            rc = config__check_marker(mn->s, &extra, reason, sizeof(reason));
        }
        if (rc != 0) {
            config_error(c, mn, sub, "invalid marker '%s': %s", mn->s, reason);
            ok = false;
        } else if (extra) {
            config_error(c, mn, sub,
                         "marker uses 'extra', which the server cannot know; use one virtual "
                         "index per extra");
            ok = false;
        }
        src.marker = xstrdup(mn->s);
        free(sub);
    }
    if (!ok) {
        free(src.marker);
        return;
    }
    pin->sources = xgrow(pin->sources, cap, pin->nsources + 1, sizeof(src));
    pin->sources[pin->nsources++] = src;
}

static int config_pin_cmp(const void *a, const void *b)
{
    const struct config_pin *x = a;
    const struct config_pin *y = b;
    return strcmp(x->project, y->project);
}

static void config_read_sources(struct config_ctx *c, const struct toml_node *t,
                                const char *prefix, struct config_view *v)
{
    size_t i, j, cap = 0;

    if (!config_want(c, t, prefix, TOML_TABLE))
        return;
    for (i = 0; i < t->nkids; i++) {
        const struct toml_node *n = t->kids[i];
        char *path = xasprintf("%s.%s", prefix, n->key);
        char *project = config_normalize_project(n->key, n->keylen);
        struct config_pin pin = {project, NULL, 0};
        size_t scap = 0;

        if (!project) {
            config_error(c, n, path, "invalid project name");
            goto next;
        }
        for (j = 0; j < v->npins; j++) {
            if (strcmp(v->pins[j].project, project) == 0) {
                config_error(c, n, path, "duplicate project '%s'", project);
                goto next;
            }
        }
        if (n->type == TOML_ARRAY) {
            for (j = 0; j < n->nkids; j++) {
                char *sub = xasprintf("%s[%zu]", path, j);
                config_read_source(c, n->kids[j], sub, &pin, &scap);
                free(sub);
            }
            if (n->nkids == 0)
                config_error(c, n, path, "empty list of sources");
        } else {
            config_read_source(c, n, path, &pin, &scap);
        }
        if (pin.nsources == 0)
            goto next;
        v->pins = xgrow(v->pins, &cap, v->npins + 1, sizeof(pin));
        v->pins[v->npins++] = pin;
        pin.project = NULL;
        pin.sources = NULL;
        pin.nsources = 0;
    next:
        for (j = 0; j < pin.nsources; j++)
            free(pin.sources[j].marker);
        free(pin.sources);
        free(pin.project);
        free(path);
    }
    if (v->npins > 1)
        qsort(v->pins, v->npins, sizeof(*v->pins), config_pin_cmp);
}

static void config_read_indexes(struct config_ctx *c, const struct toml_node *n, const char *path,
                                struct config_view *v)
{
    size_t i, j;

    if (!config_want(c, n, path, TOML_ARRAY))
        return;
    v->indexes = xcalloc(n->nkids ? n->nkids : 1, sizeof(*v->indexes));
    for (i = 0; i < n->nkids; i++) {
        const struct toml_node *e = n->kids[i];
        long pos;

        if (!config_string(c, e, path))
            continue;
        pos = config_index_pos(c->cfg, e->s);
        if (pos < 0) {
            config_error(c, e, path, "unknown index '%s'", e->s);
            continue;
        }
        if (c->cfg->indexes[pos].explicit_) {
            config_error(c, e, path,
                         "index '%s' is explicit and can only be used in sources", e->s);
            continue;
        }
        for (j = 0; j < v->nindexes; j++) {
            if (v->indexes[j] == (size_t)pos)
                break;
        }
        if (j < v->nindexes) {
            config_error(c, e, path, "index '%s' listed twice", e->s);
            continue;
        }
        v->indexes[v->nindexes++] = (size_t)pos;
    }
}

static void config_read_view(struct config_ctx *c, const struct toml_node *t, size_t *cap)
{
    struct config_view v;
    char *prefix = xasprintf("virtual.%s", t->key);
    size_t i;

    memset(&v, 0, sizeof(v));
    if (!config_want(c, t, prefix, TOML_TABLE))
        goto out;
    if (strlen(t->key) != t->keylen || !config_name_ok(t->key)) {
        config_error(c, t, prefix, "invalid name '%s' (want [a-z0-9][a-z0-9._-]*)", t->key);
        goto out;
    }
    if (config_name_taken(c->cfg, t->key)) {
        config_error(c, t, prefix, "duplicate name '%s'", t->key);
        goto out;
    }
    v.name = xstrdup(t->key);
    for (i = 0; i < t->nkids; i++) {
        const struct toml_node *n = t->kids[i];
        char *path = xasprintf("%s.%s", prefix, n->key);

        if (strcmp(n->key, "indexes") == 0) {
            config_read_indexes(c, n, path, &v);
        } else if (strcmp(n->key, "index-strategy") == 0) {
            if (config_string(c, n, path)) {
                if (strcmp(n->s, "first-index") == 0)
                    v.strategy = CONFIG_FIRST_INDEX;
                else if (strcmp(n->s, "unsafe-best-match") == 0)
                    v.strategy = CONFIG_UNSAFE_BEST_MATCH;
                else
                    config_error(c, n, path,
                                 "unknown strategy '%s' (first-index or unsafe-best-match)",
                                 n->s);
            }
        } else if (strcmp(n->key, "sources") == 0) {
            config_read_sources(c, n, path, &v);
        } else {
            config_error(c, n, path, "unknown key");
        }
        free(path);
    }
    c->cfg->views = xgrow(c->cfg->views, cap, c->cfg->nviews + 1, sizeof(v));
    c->cfg->views[c->cfg->nviews++] = v;
    memset(&v, 0, sizeof(v));
out:
    config_view_release(&v);
    free(prefix);
}

/* ---- load ---- */

static void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server.listen_host = xstrdup("127.0.0.1");
    cfg->server.listen_port = 3144;
    cfg->server.data_dir = xstrdup("./indexmux-data");
    cfg->server.max_cache_size = 200ull << 30;
    cfg->server.connect_timeout = 10;
    cfg->server.timeout = 30;
    cfg->server.lmdb_map_size = 64ull << 30;
    cfg->server.max_connections = 1024;
    cfg->server.client_timeout = 60;
    cfg->server.max_page_size = 64ull << 20;
    cfg->server.page_max_age = 600;
    cfg->server.log_level = xstrdup("info");
    cfg->server.log_format = xstrdup("text");
}

void config_release(struct config *cfg)
{
    size_t i;

    if (!cfg)
        return;
    free(cfg->server.listen_host);
    free(cfg->server.data_dir);
    free(cfg->server.default_view);
    free(cfg->server.public_url);
    free(cfg->server.log_level);
    free(cfg->server.log_format);
    for (i = 0; i < cfg->nindexes; i++)
        config_index_release(&cfg->indexes[i]);
    free(cfg->indexes);
    for (i = 0; i < cfg->nviews; i++)
        config_view_release(&cfg->views[i]);
    free(cfg->views);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

static void config_read_root(struct config_ctx *c, const struct toml_node *root)
{
    const struct toml_node *server = toml_get(root, "server");
    const struct toml_node *index = toml_get(root, "index");
    const struct toml_node *virt = toml_get(root, "virtual");
    const struct toml_node *dflt = NULL;
    size_t i, icap = 0, vcap = 0;
    bool default_set = false;

    for (i = 0; i < root->nkids; i++) {
        const struct toml_node *n = root->kids[i];
        if (n != server && n != index && n != virt)
            config_error(c, n, n->key, "unknown key");
    }
    if (server && config_want(c, server, "server", TOML_TABLE)) {
        config_read_table(c, server, config_server_keys, ARRAY_SIZE(config_server_keys),
                          "server", &c->cfg->server);
        dflt = toml_get(server, "default");
        default_set = dflt != NULL;
    }
    if (index && config_want(c, index, "index", TOML_ARRAY)) {
        for (i = 0; i < index->nkids; i++)
            config_read_index(c, index->kids[i], i, &icap);
    }
    /* views after all indexes: they refer to indexes by name */
    if (virt && config_want(c, virt, "virtual", TOML_TABLE)) {
        for (i = 0; i < virt->nkids; i++)
            config_read_view(c, virt->kids[i], &vcap);
    }
    if (c->cfg->server.default_view && !config_find_view(c->cfg, c->cfg->server.default_view)) {
        if (default_set && dflt->type == TOML_STRING) {
            config_error(c, dflt, "server.default", "no view named '%s'",
                         c->cfg->server.default_view);
        } else if (!default_set) {
            free(c->cfg->server.default_view);
            c->cfg->server.default_view = NULL;
        }
    }
}

int config_load_string(const char *name, const char *text, size_t len,
                       const struct config_opts *opts, struct config *out, struct buf *err,
                       struct buf *warnings)
{
    struct config cfg;
    struct config_ctx c;
    struct toml_node *root = NULL;
    struct buf terr;
    int rc;

    buf_init(&terr, 4096);
    config_defaults(&cfg);
    cfg.server.default_view = xstrdup("default");
    memset(&c, 0, sizeof(c));
    c.file = name;
    c.err = err;
    c.warn = warnings;
    c.opts = opts;
    c.cfg = &cfg;
    rc = toml_parse(text, len, &root, &terr);
    if (rc) {
        if (err)
            buf_printf(err, "%s:%s\n", name, buf_cstr(&terr));
        rc = IMX_ECONFIG;
        goto out;
    }
    config_read_root(&c, root);
    if (c.nerr) {
        rc = IMX_ECONFIG;
        goto out;
    }
    cfg.path = xstrdup(name);
    *out = cfg;
    memset(&cfg, 0, sizeof(cfg));
out:
    config_release(&cfg);
    toml_free(root);
    buf_release(&terr);
    return rc;
}

int config_load_file(const char *path, const struct config_opts *opts, struct config *out,
                     struct buf *err, struct buf *warnings)
{
    FILE *f = NULL;
    struct buf text;
    char chunk[8192];
    size_t n;
    int rc = 0;

    buf_init(&text, TOML_MAX_INPUT);
    f = fopen(path, "rb");
    if (!f) {
        if (err)
            buf_printf(err, "%s: cannot open: %s\n", path, strerror(errno));
        rc = IMX_EIO;
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&text, chunk, n) != 0) {
            if (err)
                buf_printf(err, "%s: larger than %zu bytes\n", path, TOML_MAX_INPUT);
            rc = IMX_ECONFIG;
            goto out;
        }
    }
    if (ferror(f)) {
        if (err)
            buf_printf(err, "%s: cannot read: %s\n", path, strerror(errno));
        rc = IMX_EIO;
        goto out;
    }
    rc = config_load_string(path, text.p ? text.p : "", text.len, opts, out, err, warnings);
out:
    if (f)
        fclose(f);
    buf_release(&text);
    return rc;
}

int config_load_default(const struct config_opts *opts, struct config *out, struct buf *err)
{
    const char *text = config_default_text();
    struct config cfg;
    int rc;

    rc = config_load_string("<default>", text, strlen(text), opts, &cfg, err, NULL);
    if (rc)
        return rc;
    *out = cfg;
    return 0;
}

/* ---- lookups ---- */

const struct config_view *config_find_view(const struct config *cfg, const char *name)
{
    size_t i;

    if (!cfg || !name)
        return NULL;
    for (i = 0; i < cfg->nviews; i++) {
        if (strcmp(cfg->views[i].name, name) == 0)
            return &cfg->views[i];
    }
    return NULL;
}

const struct config_index *config_find_index(const struct config *cfg, const char *name)
{
    long pos;

    if (!cfg || !name)
        return NULL;
    pos = config_index_pos(cfg, name);
    return pos < 0 ? NULL : &cfg->indexes[pos];
}

const struct config_pin *config_find_pin(const struct config_view *v, const char *project)
{
    struct config_pin key;

    if (!v || !project || v->npins == 0)
        return NULL;
    key.project = (char *)(uintptr_t)project;
    return bsearch(&key, v->pins, v->npins, sizeof(*v->pins), config_pin_cmp);
}
