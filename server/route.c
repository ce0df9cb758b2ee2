/*
 * route.c - maps request paths onto the resolver (SPEC.md section 4).
 *
 *   /simple/                        project list of server.default
 *   /simple/<project>/              its project page
 *   /<route>/simple/[<project>/]    the same for a view or a single index
 *   /<view>/explain/<project>/      explain JSON (not part of the simple API)
 *   /files/<key>/<filename>         a package file (.metadata beside it)
 *
 * Redirects are relative ("foo/", "../foo-bar/") so that the server works
 * mounted under a path prefix behind a reverse proxy.
 */
#include "compat.h"

#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "negotiate.h"
#include "pkgname.h"
#include "range.h"
#include "resolver.h"
#include "route.h"
#include "stats.h"
#include "str.h"
#include "xalloc.h"

#define FILE_CACHE_CONTROL "max-age=365000000, immutable, public"

static struct srv_response *error_for(int rc, const char *what, struct buf *why)
{
    switch (rc) {
    case IMX_ENOTFOUND:
        return srv_response_errorf(404, "not found: %s", what);
    case IMX_EINVAL:
        return srv_response_errorf(404, "no such index: %s", what);
    default:
        return srv_response_errorf(502, "%s", why->len ? buf_cstr(why) : imx_strerror(rc));
    }
}

/* The ETag of a representation: the gzip one differs from the plain one. */
static void etag_of(const struct rsv_page *p, bool gz, char *out, size_t outlen)
{
    if (gz)
        snprintf(out, outlen, "%.*s-gz\"", (int)strlen(p->etag) - 1, p->etag);
    else
        str_copy(out, outlen, p->etag);
}

static bool etag_listed(const char *inm, const char *etag)
{
    const char *p;
    size_t n = strlen(etag);

    if (!inm)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    for (p = strstr(inm, etag); p; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ' || after == '\t')
            return true;
    }
    return false;
}

static void page_release(void *page)
{
    rsv_page_unref(page);
}

/* A page's frozen response, kept on the page (rsv_page_ext) and freed with it. */
struct page_frozen {
    struct rsv_page_ext ext; /* first: the page frees it through ext.free_fn */
    struct srv_frozen *f;
};

static void page_frozen_free(struct rsv_page_ext *e)
{
    struct page_frozen *pf = (struct page_frozen *)e;

    srv_frozen_free(pf->f);
    free(pf);
}

/* The headers every answer for a page carries, 200 or 304 (Content-Encoding aside). */
struct page_headers {
    char etag[64];
    char cc[64];
};

static void page_headers(const struct route_ctx *rc, const struct rsv_page *page, bool gz,
                         struct page_headers *h)
{
    etag_of(page, gz, h->etag, sizeof(h->etag));
    snprintf(h->cc, sizeof(h->cc), "max-age=%u, public", rc->cfg->server.page_max_age);
}

/*
 * The 200 response of a page as type t, gzip'd or not, made on first use
 * and kept on the page: later requests send it without building anything.
 */
static struct srv_frozen *page_frozen(const struct route_ctx *rc, struct rsv_page *page,
                                      enum negotiate_type t, const char *body, size_t len,
                                      bool gz)
{
    unsigned slot = (unsigned)t * 2 + (gz ? 1 : 0);
    struct page_frozen *pf = (struct page_frozen *)rsv_page_ext_get(page, slot);
    struct page_headers h;
    int bad = 0;

    _Static_assert(NEG_TEXT_HTML * 2 + 1 < RSV_PAGE_EXT_SLOTS, "a slot per type and encoding");
    if (pf)
        return pf->f;
    page_headers(rc, page, gz, &h);
    pf = xcalloc(1, sizeof(*pf));
    pf->ext.free_fn = page_frozen_free;
    pf->f = srv_frozen_new(200, negotiate_content_type(t), body, len);
    if (gz)
        bad |= srv_frozen_add_header(pf->f, "Content-Encoding", "gzip");
    bad |= srv_frozen_add_header(pf->f, "Vary", "Accept, Accept-Encoding");
    bad |= srv_frozen_add_header(pf->f, "Cache-Control", h.cc);
    bad |= srv_frozen_add_header(pf->f, "ETag", h.etag);
    (void)NEVER(bad != 0); /* fixed names, and values we made */
    pf = (struct page_frozen *)rsv_page_ext_set(page, slot, &pf->ext);
    return pf->f;
}

/*
 * The response for a page; takes over the caller's reference to `page`.
 * gz: the client accepts gzip (the encoding is made on first use).
 */
static struct srv_response *page_response(const struct route_ctx *rc, const struct srv_request *req,
                                          struct rsv_page *page, enum negotiate_type t, bool gz)
{
    const char *gz_body = NULL;
    size_t gz_len = 0;
    struct srv_response *resp;
    struct page_headers h;
    const char *inm = srv_request_header(req, "If-None-Match");

    gz = gz && rsv_page_gzip(page, &gz_body, &gz_len);
    /* The headers are made once per frozen response, and here only for a 304. */
    if (inm)
        page_headers(rc, page, gz, &h);
    if (!inm || !etag_listed(inm, h.etag)) {
        struct srv_frozen *f = page_frozen(rc, page, t, gz ? gz_body : page->body,
                                           gz ? gz_len : page->len, gz);
        /* The page's reference goes with the response: it keeps the bytes and f. */
        return srv_response_new_frozen(f, page_release, page);
    }
    resp = srv_response_new_buf(304, NULL, NULL, 0);
    srv_response_add_header(resp, "Vary", "Accept, Accept-Encoding");
    srv_response_add_header(resp, "Cache-Control", h.cc);
    srv_response_add_header(resp, "ETag", h.etag);
    rsv_page_unref(page);
    return resp;
}

static struct srv_response *serve_page(const struct route_ctx *rc, const struct srv_request *req,
                                       const char *route, const char *project, unsigned depth)
{
    enum negotiate_type t;
    struct rsv_page *page = NULL;
    struct srv_response *resp;
    struct rsv_trace trace;
    bool gz;
    struct buf why;
    int r;

    srv_request_note(req, route, project ? SRV_KIND_PAGE : SRV_KIND_LIST, NULL, NULL);
    if (negotiate_page(srv_request_header(req, "Accept"), srv_request_query(req, "format"), &t) !=
        0)
        return srv_response_error(406, "none of the offered types is acceptable: "
                                       "application/vnd.pypi.simple.v1+json, "
                                       "application/vnd.pypi.simple.v1+html, text/html");
    gz = negotiate_accepts_gzip(srv_request_header(req, "Accept-Encoding"));
    if (req->nonblock) {
        /* Only a fresh page in memory, whose gzip (if wanted) is made already. */
        enum rsv_format fmt = t == NEG_JSON ? RSV_FORMAT_JSON : RSV_FORMAT_HTML;
        if (rsv_get_cached(rc->rsv, route, project, fmt, depth, &page) != 0)
            return NULL;
        if (gz && !rsv_page_gzip_tried(page)) {
            rsv_page_unref(page);
            return NULL;
        }
        srv_request_note(req, route, project ? SRV_KIND_PAGE : SRV_KIND_LIST, "hit", NULL);
        return page_response(rc, req, page, t, gz);
    }
    buf_init(&why, 1024);
    rsv_trace_begin(&trace);
    r = project ? rsv_get_page(rc->rsv, route, project,
                               t == NEG_JSON ? RSV_FORMAT_JSON : RSV_FORMAT_HTML, depth, &page, &why)
                : rsv_get_list(rc->rsv, route, t == NEG_JSON ? RSV_FORMAT_JSON : RSV_FORMAT_HTML,
                               &page, &why);
    rsv_trace_end();
    srv_request_note(req, route, project ? SRV_KIND_PAGE : SRV_KIND_LIST,
                     r == 0 || r == IMX_ENOTFOUND ? rsv_trace_outcome(&trace, true)
                                                  : rsv_trace_outcome(&trace, false),
                     trace.upstream);
    if (r) {
        char what[512];
        snprintf(what, sizeof(what), "project '%s' in '%s'", project ? project : "(list)", route);
        resp = error_for(r, r == IMX_EINVAL ? route : what, &why);
    } else {
        resp = page_response(rc, req, page, t, gz);
    }
    buf_release(&why);
    return resp;
}

/* 301 to a relative location, keeping the query (?format= must survive). */
static struct srv_response *redirect(const struct srv_request *req, const char *location)
{
    const char *q = strchr(req->raw_url, '?');
    char *loc = xasprintf("%s%s", location, q ? q : "");
    struct srv_response *resp = srv_response_errorf(301, "moved to %s", loc);

    srv_response_add_header(resp, "Location", loc);
    free(loc);
    return resp;
}

/*
 * /<...>/simple/<rest>: rest is "" (the list), "<project>/", or something to
 * redirect. `depth` is the depth of the list ("/simple/" = 1).
 */
static struct srv_response *simple_routes(const struct route_ctx *rc, const struct srv_request *req,
                                          const char *route, const char *rest, unsigned depth)
{
    const char *slash = strchr(rest, '/');
    size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
    struct buf norm;
    struct srv_response *resp;

    if (rest[0] == '\0')
        return serve_page(rc, req, route, NULL, depth);
    if (slash && slash[1] != '\0')
        return srv_response_errorf(404, "not found: %s", req->path);
    if (!pkgname_valid(rest, nlen))
        return srv_response_errorf(404, "not a valid project name: %.*s", (int)nlen, rest);
    buf_init(&norm, 512);
    if (pkgname_normalize(rest, nlen, &norm) != 0) {
        buf_release(&norm);
        return srv_response_errorf(404, "not a valid project name: %.*s", (int)nlen, rest);
    }
    if (!slash || norm.len != nlen || memcmp(norm.p, rest, nlen) != 0) {
        /* Relative: "Foo" -> "foo/", "Foo_Bar/" -> "../foo-bar/". */
        char *loc = xasprintf("%s%s/", slash ? "../" : "", buf_cstr(&norm));
        resp = redirect(req, loc);
        free(loc);
    } else {
        resp = serve_page(rc, req, route, buf_cstr(&norm), depth + 1);
    }
    buf_release(&norm);
    return resp;
}

struct file_reader {
    struct rsv_body *body;
    const struct srv_request *req; /* valid while the response is sent: counts bytes */
    struct route_gen *gen;         /* the generation the body comes from */
};

static ssize_t file_read(void *ctx, uint64_t pos, char *dst, size_t max, struct srv_waker *w)
{
    struct file_reader *fr = ctx;
    int64_t n = rsv_body_read_nb(fr->body, pos, dst, max, srv_waker_fire, w);
    if (n > 0) {
        srv_request_add_bytes(fr->req, (uint64_t)n);
        return (ssize_t)n;
    }
    if (n == IMX_EAGAIN)
        return SRV_READ_AGAIN;
    return n == 0 ? SRV_READ_EOF : SRV_READ_ERROR;
}

static void file_reader_free(void *ctx)
{
    struct file_reader *fr = ctx;
    rsv_body_free(fr->body);
    route_gen_unref(fr->gen);
    free(fr);
}

static bool is_hex32(const char *p, size_t n)
{
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    }
    return true;
}

/* HEAD bodies are never read. */
static ssize_t no_body(void *ctx, uint64_t pos, char *dst, size_t max, struct srv_waker *w)
{
    UNUSED(w);
    UNUSED(ctx);
    UNUSED(pos);
    UNUSED(dst);
    UNUSED(max);
    return SRV_READ_ERROR;
}

/*
 * uv's lazy metadata reads (protocol-notes 4.4) of a file that is not
 * stored: a HEAD answers the size, one bounded Range is forwarded to the
 * upstream with its 206/416 passed on exactly; neither starts the download
 * (the first full GET does). NULL when this is not such a request (stored
 * file, no Range, If-Range we cannot check, an unbounded range): serve_file
 * goes on as for any GET.
 */
static struct srv_response *serve_unstored(const struct route_ctx *rc,
                                           const struct srv_request *req, const char *key,
                                           const char *filename, struct buf *why)
{
    const char *range = srv_request_header(req, "Range");
    struct srv_response *resp = NULL;
    struct rsv_range rg = {0};
    struct rsv_trace trace;
    uint64_t size = 0;
    int r;

    if (!req->head && (!range || srv_request_header(req, "If-Range")))
        return NULL;
    if (rsv_file_stored(rc->rsv, key, filename) != IMX_EAGAIN)
        return NULL;
    rsv_trace_begin(&trace);
    if (req->head)
        r = rsv_file_size(rc->rsv, key, filename, &size, why);
    else
        r = rsv_fetch_range(rc->rsv, key, filename, range, &rg, why);
    rsv_trace_end();
    if (r == IMX_EINVAL)
        return NULL;
    srv_request_note(req, NULL, SRV_KIND_FILE, rsv_trace_outcome(&trace, false), trace.upstream);
    if (r)
        return r == IMX_ENOTFOUND ? srv_response_errorf(404, "not found: %s", req->path)
                                  : srv_response_errorf(502, "%s", buf_cstr(why));
    if (req->head) {
        resp = srv_response_new_callback(200, (int64_t)size, no_body, NULL, NULL);
    } else if (rg.status == 416) {
        resp = srv_response_errorf(416, "range not satisfiable: %s", range);
        if (rg.content_range[0])
            srv_response_add_header(resp, "Content-Range", rg.content_range);
        return resp;
    } else {
        resp = srv_response_new_buf(206, NULL, rg.body, rg.len);
        rg.body = NULL;
        srv_response_add_header(resp, "Content-Range", rg.content_range);
    }
    srv_response_add_header(resp, "Content-Type", "application/octet-stream");
    srv_response_add_header(resp, "Accept-Ranges", "bytes");
    srv_response_add_header(resp, "Cache-Control", FILE_CACHE_CONTROL);
    rsv_range_release(&rg);
    return resp;
}

static struct srv_response *serve_file(const struct route_ctx *rc, const struct srv_request *req,
                                       const char *rest)
{
    const char *slash = strchr(rest, '/');
    char key[33];
    char *filename = NULL;
    bool metadata = false;
    struct rsv_body *body = NULL;
    struct srv_response *resp = NULL;
    struct rsv_trace trace;
    struct buf why;
    char etag[80];
    size_t flen;
    int r;

    if (!slash || !is_hex32(rest, (size_t)(slash - rest)) || slash[1] == '\0' ||
        strchr(slash + 1, '/'))
        return srv_response_errorf(404, "not found: %s", req->path);
    memcpy(key, rest, 32);
    key[32] = '\0';
    filename = xstrdup(slash + 1);
    flen = strlen(filename);
    if (flen > 9 && strcmp(filename + flen - 9, ".metadata") == 0) {
        metadata = true;
        filename[flen - 9] = '\0';
    }
    buf_init(&why, 1024);
    srv_request_note(req, NULL, metadata ? SRV_KIND_METADATA : SRV_KIND_FILE, NULL, NULL);
    if (!req->nonblock) {
        resp = metadata ? NULL : serve_unstored(rc, req, key, filename, &why);
        if (resp)
            goto out;
    }
    rsv_trace_begin(&trace);
    /* On an event thread stored files only; downloads and forwarded ranges on a worker. */
    r = req->nonblock ? rsv_open_stored(rc->rsv, key, filename, metadata, &body)
                      : rsv_open_file(rc->rsv, key, filename, metadata, &body, &why);
    rsv_trace_end();
    if (r == IMX_EAGAIN)
        goto out;
    srv_request_note(req, NULL, metadata ? SRV_KIND_METADATA : SRV_KIND_FILE,
                     rsv_trace_outcome(&trace, false), trace.upstream);
    if (r) {
        resp = r == IMX_ENOTFOUND ? srv_response_errorf(404, "not found: %s", req->path)
                                  : srv_response_errorf(502, "%s", buf_cstr(&why));
        goto out;
    }
    if (body->fd >= 0) {
        struct range rg;
        const char *range = srv_request_header(req, "Range");
        const char *if_range = srv_request_header(req, "If-Range");
        uint64_t size = (uint64_t)body->size;
        int fd = body->fd;

        snprintf(etag, sizeof(etag), "\"%s\"", body->sha256);
        body->fd = -1;
        if (range && if_range && !range_if_range_matches(if_range, etag))
            range = NULL;
        r = range ? range_parse(range, size, &rg) : IMX_ENOTFOUND;
        if (r == 0) {
            char cr[96];
            resp = srv_response_new_fd(206, fd, rg.start, rg.len);
            snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)rg.start,
                     (unsigned long long)(rg.start + rg.len - 1), (unsigned long long)size);
            srv_response_add_header(resp, "Content-Range", cr);
        } else if (r == IMX_ERANGE) {
            char cr[64];
            close(fd);
            resp = srv_response_errorf(416, "range not satisfiable: %s", range);
            snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
            srv_response_add_header(resp, "Content-Range", cr);
            goto out;
        } else {
            resp = srv_response_new_fd(200, fd, 0, size);
        }
        srv_response_add_header(resp, "ETag", etag);
    } else {
        /* Still downloading: stream; ranges are answered once it is stored. */
        struct file_reader *fr = xcalloc(1, sizeof(*fr));
        fr->body = body;
        fr->req = req;
        fr->gen = rc->gen;
        route_gen_ref(fr->gen);
        resp = srv_response_new_callback(200, body->size, file_read, fr, file_reader_free);
        body = NULL;
    }
    srv_response_add_header(resp, "Content-Type", "application/octet-stream");
    srv_response_add_header(resp, "Accept-Ranges", "bytes");
    srv_response_add_header(resp, "Cache-Control", FILE_CACHE_CONTROL);
out:
    rsv_body_free(body);
    buf_release(&why);
    free(filename);
    return resp;
}

static struct srv_response *serve_explain(const struct route_ctx *rc, const char *view,
                                          const char *rest)
{
    struct buf json;
    struct buf why;
    struct srv_response *resp;
    size_t n = strlen(rest);
    char *project;
    int r;

    if (n < 2 || rest[n - 1] != '/')
        return srv_response_errorf(404, "not found: explain/%s", rest);
    project = xstrndup(rest, n - 1);
    buf_init(&json, 64u << 20);
    buf_init(&why, 1024);
    r = rsv_explain(rc->rsv, view, project, NULL, &json, &why);
    if (r && r != IMX_ENOTFOUND) {
        resp = error_for(r, view, &why);
        buf_release(&json);
    } else {
        size_t len = 0;
        char *body = buf_detach(&json, &len);
        resp = srv_response_new_buf(200, "application/json", body, len);
    }
    buf_release(&why);
    free(project);
    return resp;
}

/* GET /metrics: the Prometheus exposition (server/stats.c). */
static struct srv_response *serve_metrics(const struct route_ctx *rc)
{
    struct srv_stats_store store = {0, 0};
    struct srv_response *resp;
    struct buf out;
    size_t len = 0;
    char *body;

    buf_init(&out, BUF_NOMAX);
    if (rsv_store_usage(rc->rsv, &store.bytes, &store.blobs) != 0)
        log_debug("cannot measure the store for /metrics");
    srv_stats_render(rc->stats, rsv_metrics(rc->rsv), &store, &out);
    body = buf_detach(&out, &len);
    resp = srv_response_new_buf(200, SRV_STATS_CONTENT_TYPE, body, len);
    srv_response_add_header(resp, "Cache-Control", "no-store");
    return resp;
}

static void put_html(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            buf_appends(b, "&amp;");
        else if (*s == '<')
            buf_appends(b, "&lt;");
        else if (*s == '>')
            buf_appends(b, "&gt;");
        else if (*s == '"')
            buf_appends(b, "&quot;");
        else if (*s == '\'')
            buf_appends(b, "&#39;");
        else
            buf_putc(b, *s);
    }
}

/* Cache figures for the landing page: store size, hit ratio, each upstream's last fetch. */
static void landing_figures(const struct route_ctx *rc, struct buf *html)
{
    struct rsv_metrics *m = rsv_metrics(rc->rsv);
    uint64_t bytes = 0;
    uint64_t blobs = 0;
    double ratio = srv_stats_hit_ratio(rc->stats, m);

    rsv_store_usage(rc->rsv, &bytes, &blobs);
    buf_appends(html, "<section id=\"cache\">\n<h2>Cache</h2>\n");
    buf_printf(html, "<p>Store: %.1f MiB in %llu file%s. Hit ratio: ",
               (double)bytes / (1024.0 * 1024.0), (unsigned long long)blobs, blobs == 1 ? "" : "s");
    if (ratio < 0)
        buf_appends(html, "no requests yet");
    else
        buf_printf(html, "%.1f%%", ratio * 100.0);
    buf_appends(html, "</p>\n<table>\n<tr><th>upstream</th><th>last fetch</th>"
                      "<th>result</th></tr>\n");
    for (size_t i = 0; i < rc->cfg->nindexes; i++) {
        const char *name = rc->cfg->indexes[i].name;
        int64_t when = 0;
        int64_t status = 0;
        char err[256] = "";
        char ts[32] = "never";

        rsv_metrics_last_fetch(m, name, &when, &status, err, sizeof(err));
        if (when > 0) {
            time_t t = (time_t)when;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%SZ", &tm);
        }
        buf_appends(html, "<tr><td><code>");
        put_html(html, name);
        buf_printf(html, "</code></td><td>%s</td><td>", ts);
        if (when == 0)
            buf_appends(html, "-");
        else if (err[0])
            put_html(html, err);
        else
            buf_printf(html, "HTTP %lld", (long long)status);
        buf_appends(html, "</td></tr>\n");
    }
    buf_appends(html, "</table>\n</section>\n");
}

/* ---- generations ---- */

#define GEN_MAGIC 0x47454e31u

struct route_gen {
    unsigned magic;
    int refs; /* atomic */
    struct config cfg;
    struct rsv *rsv;
};

int route_gen_new(struct config *cfg_take, struct route_gen **out)
{
    struct route_gen *g = xcalloc(1, sizeof(*g));

    INIT_OBJ(g, GEN_MAGIC);
    g->refs = 1;
    g->cfg = *cfg_take;
    memset(cfg_take, 0, sizeof(*cfg_take));
    *out = g;
    return 0;
}

const struct config *route_gen_config(const struct route_gen *g)
{
    CHECK_OBJ(g, GEN_MAGIC);
    return &g->cfg;
}

void route_gen_set_rsv(struct route_gen *g, struct rsv *rsv_take)
{
    CHECK_OBJ(g, GEN_MAGIC);
    assert(g->rsv == NULL);
    g->rsv = rsv_take;
}

void route_gen_ref(struct route_gen *g)
{
    CHECK_OBJ(g, GEN_MAGIC);
    __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}

void route_gen_unref(struct route_gen *g)
{
    if (!g)
        return;
    CHECK_OBJ(g, GEN_MAGIC);
    if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    rsv_free(g->rsv); /* waits for the downloads this generation started */
    config_release(&g->cfg);
    FINI_OBJ(g);
    free(g);
}

void route_root_init(struct route_root *root, struct route_gen *gen_take, struct srv_stats *stats)
{
    pthread_mutex_init(&root->mu, NULL);
    root->gen = gen_take;
    root->stats = stats;
}

void route_root_swap(struct route_root *root, struct route_gen *gen_take)
{
    struct route_gen *old;

    pthread_mutex_lock(&root->mu);
    old = root->gen;
    root->gen = gen_take;
    pthread_mutex_unlock(&root->mu);
    route_gen_unref(old);
}

void route_root_release(struct route_root *root)
{
    route_gen_unref(root->gen);
    root->gen = NULL;
    pthread_mutex_destroy(&root->mu);
}

/* A request's view of the current generation, with its own reference. */
static void root_enter(struct route_root *root, struct route_ctx *rc)
{
    pthread_mutex_lock(&root->mu);
    rc->gen = root->gen;
    route_gen_ref(rc->gen);
    pthread_mutex_unlock(&root->mu);
    rc->rsv = rc->gen->rsv;
    rc->cfg = &rc->gen->cfg;
    rc->stats = root->stats;
}

void route_landing_extra(void *ctx, struct buf *html)
{
    struct route_ctx rc;

    root_enter(ctx, &rc);
    landing_figures(&rc, html);
    route_gen_unref(rc.gen);
}

static int route_handle_gen(const struct route_ctx *rc, const struct srv_request *req,
                            struct srv_response **out);

int route_handle(void *ctx, const struct srv_request *req, struct srv_response **out)
{
    struct route_ctx rc;
    int r;

    root_enter(ctx, &rc);
    r = route_handle_gen(&rc, req, out);
    /* Buffered and fd bodies need nothing of the generation; streamed files hold their own. */
    route_gen_unref(rc.gen);
    return r;
}

static int route_handle_gen(const struct route_ctx *rc, const struct srv_request *req,
                            struct srv_response **out)
{
    const char *path = req->path;
    const char *seg_end;
    char name[256];

    /* Encoded slashes and NULs never name anything here. */
    if (strstr(req->raw_path, "%2F") || strstr(req->raw_path, "%2f") ||
        strstr(req->raw_path, "%00") || strstr(path, "/../") || strstr(path, "/./")) {
        *out = srv_response_errorf(404, "not found: %s", req->raw_path);
        return 0;
    }
    if (strcmp(req->raw_path, "/metrics") == 0) {
        if (req->nonblock)
            return IMX_EAGAIN; /* measures the store */
        *out = serve_metrics(rc);
        return 0;
    }
    if (strncmp(path, "/files/", 7) == 0) {
        *out = serve_file(rc, req, path + 7);
        return *out ? 0 : IMX_EAGAIN;
    }
    if (strcmp(path, "/simple") == 0) {
        *out = redirect(req, "simple/");
        return 0;
    }
    if (strncmp(path, "/simple/", 8) == 0) {
        if (!rc->cfg->server.default_view) {
            *out = srv_response_error(404, "no default view: set server.default");
            return 0;
        }
        *out = simple_routes(rc, req, rc->cfg->server.default_view, path + 8, 1);
        return *out ? 0 : IMX_EAGAIN;
    }
    seg_end = strchr(path + 1, '/');
    if (seg_end && (size_t)(seg_end - path - 1) < sizeof(name)) {
        memcpy(name, path + 1, (size_t)(seg_end - path - 1));
        name[seg_end - path - 1] = '\0';
        if (rsv_route_exists(rc->rsv, name)) {
            if (strcmp(seg_end, "/simple") == 0) {
                *out = redirect(req, "simple/");
                return 0;
            }
            if (strncmp(seg_end, "/simple/", 8) == 0) {
                *out = simple_routes(rc, req, name, seg_end + 8, 2);
                return *out ? 0 : IMX_EAGAIN;
            }
            if (strncmp(seg_end, "/explain/", 9) == 0) {
                if (req->nonblock)
                    return IMX_EAGAIN;
                *out = serve_explain(rc, name, seg_end + 9);
                return 0;
            }
        }
    }
    *out = srv_response_errorf(404, "not found: %s", path);
    return 0;
}
