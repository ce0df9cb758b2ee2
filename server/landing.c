/*
 * landing.c - the HTML page at "/": every view with copy-paste client
 * configuration (SPEC.md section 4). Reads struct config only; knows nothing
 * of HTTP beyond the base URL server.c gives it (public_url, or built from a
 * validated Host header), which is escaped like every other string here.
 */
#include "compat.h"

#include "buf.h"
#include "config.h"
#include "server.h"
#include "xalloc.h"

static void put_html(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            buf_appends(b, "&amp;");
            break;
        case '<':
            buf_appends(b, "&lt;");
            break;
        case '>':
            buf_appends(b, "&gt;");
            break;
        case '"':
            buf_appends(b, "&quot;");
            break;
        case '\'':
            buf_appends(b, "&#39;");
            break;
        default:
            buf_putc(b, *s);
        }
    }
}

/* A TOML basic string body (quotes and backslashes escaped), then HTML. */
static void put_toml_html(struct buf *b, const char *s)
{
    struct buf t;

    buf_init(&t, BUF_NOMAX);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(&t, '\\');
        buf_putc(&t, *s);
    }
    put_html(b, buf_cstr(&t));
    buf_release(&t);
}

/*
 * pip ignores plain-http indexes unless the host is trusted; localhost
 * addresses count as secure. Returns the host[:port] to trust, or NULL.
 */
static char *trusted_host(const char *base)
{
    const char *p;
    size_t n;
    char *host;

    if (strncmp(base, "http://", 7) != 0)
        return NULL;
    p = base + 7;
    n = strcspn(p, "/");
    host = xstrndup(p, n);
    if (strncmp(host, "localhost", 9) == 0 || strncmp(host, "127.0.0.1", 9) == 0 ||
        strncmp(host, "[::1]", 5) == 0) {
        free(host);
        return NULL;
    }
    return host;
}

static void put_view(struct buf *b, const struct config *cfg, const struct config_view *v,
                     const char *base, const char *trusted)
{
    bool is_default = cfg->server.default_view && strcmp(cfg->server.default_view, v->name) == 0;
    char *url = xasprintf("%s/%s/simple/", base, v->name);

    buf_appends(b, "<section>\n<h2>");
    put_html(b, v->name);
    buf_appends(b, is_default ? " <small>(default)</small></h2>\n" : "</h2>\n");
    buf_appends(b, "<p>Index URL: <a href=\"");
    put_html(b, url);
    buf_appends(b, "\"><code>");
    put_html(b, url);
    buf_appends(b, "</code></a>");
    if (is_default) {
        char *alt = xasprintf("%s/simple/", base);
        buf_appends(b, ", also <a href=\"");
        put_html(b, alt);
        buf_appends(b, "\"><code>");
        put_html(b, alt);
        buf_appends(b, "</code></a>");
        free(alt);
    }
    buf_appends(b, "</p>\n<p>Indexes, in order: ");
    for (size_t i = 0; i < v->nindexes; i++) {
        if (i > 0)
            buf_appends(b, ", ");
        buf_appends(b, "<code>");
        if (v->indexes[i] < cfg->nindexes)
            put_html(b, cfg->indexes[v->indexes[i]].name);
        buf_appends(b, "</code>");
    }
    if (v->nindexes == 0)
        buf_appends(b, "none");
    buf_printf(b, " (%s)", v->strategy == CONFIG_UNSAFE_BEST_MATCH ? "unsafe-best-match"
                                                                     : "first-index");
    if (v->npins > 0)
        buf_printf(b, "; %zu pinned project%s", v->npins, v->npins == 1 ? "" : "s");
    buf_appends(b, "</p>\n");

    buf_appends(b, "<p>pip:</p>\n<pre>pip install --index-url ");
    put_html(b, url);
    if (trusted) {
        buf_appends(b, " --trusted-host ");
        put_html(b, trusted);
    }
    buf_appends(b, " PKG</pre>\n<p><code>pip.conf</code>:</p>\n<pre>[global]\nindex-url = ");
    put_html(b, url);
    if (trusted) {
        buf_appends(b, "\ntrusted-host = ");
        put_html(b, trusted);
    }
    buf_appends(b, "</pre>\n<p><code>uv.toml</code>:</p>\n<pre>[[index]]\nurl = \"");
    put_toml_html(b, url);
    buf_appends(b, "\"\ndefault = true</pre>\n</section>\n");
    free(url);
}

char *srv_landing_render(const struct config *cfg, const char *base_url, size_t *len_out)
{
    return srv_landing_render_extra(cfg, base_url, NULL, len_out);
}

char *srv_landing_render_extra(const struct config *cfg, const char *base_url, const char *extra,
                               size_t *len_out)
{
    struct buf b;
    char *trusted = trusted_host(base_url);

    buf_init(&b, BUF_NOMAX);
    buf_appends(&b, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
                    "<title>indexmux</title>\n</head>\n<body>\n<h1>indexmux</h1>\n"
                    "<p>A caching Python package index. Each view below is a complete "
                    "index for pip and uv.</p>\n");
    if (!cfg || cfg->nviews == 0)
        buf_appends(&b, "<p>No views are configured.</p>\n");
    for (size_t i = 0; cfg && i < cfg->nviews; i++)
        put_view(&b, cfg, &cfg->views[i], base_url, trusted);
    if (extra)
        buf_appends(&b, extra);
    buf_appends(&b, "</body>\n</html>\n");
    free(trusted);
    return buf_detach(&b, len_out);
}
