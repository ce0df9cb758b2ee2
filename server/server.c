/*
 * server.c - the libmicrohttpd daemon and request dispatch.
 *
 * Threading model
 * ---------------
 * Event threads: MHD_USE_INTERNAL_POLLING_THREAD with a thread pool
 * (MHD_OPTION_THREAD_POOL_SIZE, one per CPU) and epoll: every connection
 * belongs to one event thread, which parses requests and sends responses
 * for many connections. An event thread must never block, so a request is
 * first routed with req->nonblock set: the route hook answers what it can
 * from memory or with one LMDB read (cached pages, stored files, errors,
 * redirects) and returns IMX_EAGAIN for everything else.
 *
 * Workers: such a request is handed to a worker thread (struct srv_pool:
 * started on demand up to max_connections, idle ones exit after
 * WORKER_IDLE_SECONDS). The connection is suspended first
 * (MHD_suspend_connection), then queued; the worker routes it again with
 * nonblock false (it may block on an upstream), stores the response in
 * c->pending and resumes the connection; libmicrohttpd then calls the
 * access handler once more on the event thread, which queues it. Suspending
 * before queueing means a resume always follows its suspend.
 *
 * Readers: a streamed body (a file still downloading) is read on the event
 * thread with srv_reader callbacks that return SRV_READ_AGAIN instead of
 * blocking; respond.c then puts the connection to sleep (srv__waker_sleep)
 * until the download fires the waker. The wake lock orders the two: a fire
 * that comes before the suspend sets `pending` and the reader is simply
 * called again; one that comes after resumes. MHD_resume_connection is only
 * ever called on a connection this file suspended.
 *
 * Limits: MHD_OPTION_CONNECTION_LIMIT (max_connections); idle connections
 * are closed after MHD_OPTION_CONNECTION_TIMEOUT (client_timeout);
 * MHD_OPTION_CONNECTION_MEMORY_LIMIT caps the request line plus headers
 * (MHD answers oversized ones with 414/431 itself).
 *
 * Shared state: struct srv's opts are read-only after srv_new except
 * opts.cfg (cfg_mu); the sleeping-reader list and `stopping` are under
 * wake_mu; the job queue under pool.mu. A struct srv_conn belongs to its
 * event thread, or to one worker while its connection is suspended for it.
 *
 * Per-request lifecycle (struct srv_conn):
 *   uri_cb        MHD has the request line: allocate, keep the raw URI
 *   access_cb #1  headers complete (refusals are answered here)
 *   access_cb #2  request complete: answer, or suspend and queue a job
 *   access_cb #3  (after a worker resumed it) queue c->pending
 *   done_cb       request finished or aborted: free
 *
 * Shutdown (srv_free): set `stopping` (no more sleeping, jobs are answered
 * 503), resume every sleeping reader (it then aborts its response), drain
 * the worker pool (each worker resumes its connection), and only then
 * MHD_stop_daemon, which libmicrohttpd requires to find no connection
 * suspended.
 *
 * SIGPIPE: MHD sends with MSG_NOSIGNAL, but sendfile(2) can still raise
 * SIGPIPE when a client goes away; main() must ignore SIGPIPE.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "server.h"
#include "server_int.h"
#include "str.h"
#include "xalloc.h"

#define SRV_MAGIC 0x5e77e4a1u
#define CONN_MAGIC 0xc0aa5e11u
#define REQ_MAGIC 0x7e9e5700u

#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_CLIENT_TIMEOUT 60
#define DEFAULT_CONN_MEMORY (16 * 1024) /* request line + headers; MHD zeroes it per request */
#define DEFAULT_STACK (512 * 1024)
#define MAX_EVENT_THREADS 16
#define WORKER_IDLE_SECONDS 30
#define NOT_FOUND_PATH_MAX 256
#define HOST_MAX 255
#define LOG_PATH_MAX 1024

/* Worker threads for requests that may block (see the top of this file). */
struct srv_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;    /* a job was queued, or stopping */
    pthread_cond_t gone;    /* a worker exited */
    struct srv_conn *head;  /* queued jobs, via srv_conn.job_next */
    struct srv_conn *tail;
    unsigned queued;
    unsigned threads;       /* alive */
    unsigned idle;          /* alive and waiting for a job */
    unsigned max;
    bool stopping;
    pthread_t *exited;      /* to join: workers that ended */
    size_t nexited;
    size_t exited_cap;
};

struct srv {
    unsigned magic;
    struct MHD_Daemon *daemon;
    struct srv_pool pool;
    pthread_mutex_t wake_mu;
    struct srv_waker *sleeping; /* suspended readers, under wake_mu */
    bool stopping;              /* under wake_mu */
    struct srv_opts opts;
    char *listen_host; /* owned copy */
    bool v6;
    uint16_t port;
    pthread_mutex_t cfg_mu; /* opts.cfg: swapped by srv_set_config, read by landing() */
};

struct qpair {
    char *key;
    char *value;
};

struct srv_conn {
    unsigned magic;
    struct srv *srv;
    struct MHD_Connection *mhd;
    struct srv_request req;
    char *raw_url;
    char *raw_path;
    char *path;
    bool started; /* the first access_cb call returned without answering */
    bool queued;
    struct srv_response *pending; /* a worker's answer, queued by access_cb #3 */
    struct srv__hold hold;        /* a frozen response's: released in conn_free */
    struct srv_conn *job_next;    /* srv_pool queue */
    bool query_parsed;
    struct qpair *query; /* decoded, parsed on first srv_request_query */
    size_t nquery;
    size_t query_cap;
    /* for the access log and srv_stats (srv_request_note) */
    int64_t start_us;
    unsigned status;
    int64_t body_size;  /* -1: counted in `streamed` */
    uint64_t streamed;
    enum srv_kind kind;
    char method[16];
    char view[64];
    char cache[16];
    char upstream[64];
};

void srv_opts_from_config(struct srv_opts *opts, const struct config *cfg)
{
    assert(opts != NULL && cfg != NULL);
    opts->listen_host = cfg->server.listen_host;
    opts->listen_port = cfg->server.listen_port;
    opts->max_connections = cfg->server.max_connections;
    opts->client_timeout = cfg->server.client_timeout;
    opts->cfg = cfg;
}

/* ---- request helpers ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode %HH (malformed escapes are kept verbatim); '+' stays '+'. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int hi;
        int lo;

        if (s[i] == '%' && i + 2 < n) {
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[o++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

const char *srv_request_header(const struct srv_request *req, const char *name)
{
    CHECK_OBJ(req, REQ_MAGIC);
    CHECK_OBJ(req->conn, CONN_MAGIC);
    return MHD_lookup_connection_value(req->conn->mhd, MHD_HEADER_KIND, name);
}

static void parse_query(struct srv_conn *c)
{
    const char *q = strchr(c->raw_url, '?');

    c->query_parsed = true;
    if (!q)
        return;
    q++;
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t)(eq - q) : n;

        if (n > 0) {
            struct qpair *qp;

            c->query = xgrow(c->query, &c->query_cap, c->nquery + 1, sizeof(*c->query));
            qp = &c->query[c->nquery++];
            qp->key = pct_decode(q, klen);
            qp->value = eq ? pct_decode(eq + 1, n - klen - 1) : xstrdup("");
        }
        q += n;
        if (*q == '&')
            q++;
    }
}

const char *srv_request_query(const struct srv_request *req, const char *key)
{
    struct srv_conn *c;

    CHECK_OBJ(req, REQ_MAGIC);
    c = req->conn;
    CHECK_OBJ(c, CONN_MAGIC);
    if (!c->query_parsed)
        parse_query(c);
    for (size_t i = 0; i < c->nquery; i++) {
        if (strcmp(c->query[i].key, key) == 0)
            return c->query[i].value;
    }
    return NULL;
}

/* ---- MHD callbacks ---- */

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt,
                                                             va_list ap)
{
    char line[512];
    size_t n;

    UNUSED(cls);
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warnx("http: %s", line);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void srv_request_note(const struct srv_request *req, const char *view, enum srv_kind kind,
                      const char *cache, const char *upstream)
{
    struct srv_conn *c;

    CHECK_OBJ(req, REQ_MAGIC);
    c = req->conn;
    CHECK_OBJ(c, CONN_MAGIC);
    assert(kind < SRV_KIND__N);
    c->kind = kind;
    if (view)
        str_copy(c->view, sizeof(c->view), view);
    if (cache)
        str_copy(c->cache, sizeof(c->cache), cache);
    if (upstream)
        str_copy(c->upstream, sizeof(c->upstream), upstream);
}

void srv_request_add_bytes(const struct srv_request *req, uint64_t n)
{
    CHECK_OBJ(req, REQ_MAGIC);
    CHECK_OBJ(req->conn, CONN_MAGIC);
    req->conn->streamed += n;
}

/* A field of the text access line: printable, no spaces, "-" when empty. */
static void log_word(char *out, size_t outlen, const char *s, size_t max)
{
    size_t o = 0;

    if (!s || !*s)
        s = "-";
    for (; *s && o + 1 < outlen && o < max; s++)
        out[o++] = (*s > 0x20 && *s < 0x7f) ? *s : '?';
    out[o] = '\0';
}

/* One access line per answered request (text or JSON, common/log.h). */
static void access_log(struct srv *srv, struct srv_conn *c)
{
    int64_t ms = (mono_us() - c->start_us) / 1000;
    uint64_t bytes = c->req.head ? 0 : c->body_size >= 0 ? (uint64_t)c->body_size : c->streamed;
    char path[LOG_PATH_MAX + 1];
    char view[sizeof(c->view) + 1];
    char cache[sizeof(c->cache) + 1];
    char up[sizeof(c->upstream) + 1];
    char meth[sizeof(c->method) + 1];
    char text[LOG_PATH_MAX + 512];
    char json[4 * LOG_PATH_MAX + 1024];
    char epath[4 * LOG_PATH_MAX];
    char eview[4 * sizeof(c->view)];
    char eup[4 * sizeof(c->upstream)];
    char emeth[4 * sizeof(c->method)];

    srv_stats_bytes(srv->opts.stats, bytes);
    if (!log_enabled(LOG_LEVEL_INFO))
        return;
    log_word(meth, sizeof(meth), c->method, sizeof(meth));
    log_word(path, sizeof(path), c->raw_path, LOG_PATH_MAX);
    log_word(view, sizeof(view), c->view, sizeof(view));
    log_word(cache, sizeof(cache), c->cache, sizeof(cache));
    log_word(up, sizeof(up), c->upstream, sizeof(up));
    snprintf(text, sizeof(text), "access %s %s %u %llu %lldms cache=%s upstream=%s view=%s",
             meth, path, c->status, (unsigned long long)bytes,
             (long long)ms, cache, up, view);
    log_json_escape(path, epath, sizeof(epath));
    log_json_escape(meth, emeth, sizeof(emeth));
    log_json_escape(view, eview, sizeof(eview));
    log_json_escape(up, eup, sizeof(eup));
    snprintf(json, sizeof(json),
             "\"msg\":\"access\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%u,"
             "\"bytes\":%llu,\"ms\":%lld,\"cache\":\"%s\",\"upstream\":\"%s\",\"view\":\"%s\"",
             emeth, epath, c->status, (unsigned long long)bytes,
             (long long)ms, cache, eup, eview);
    log_record(LOG_LEVEL_INFO, text, json);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *mhd)
{
    struct srv_conn *c = xcalloc(1, sizeof(*c));
    const char *p = uri;
    size_t plen;

    INIT_OBJ(c, CONN_MAGIC);
    c->srv = cls;
    c->mhd = mhd;
    c->raw_url = xstrdup(uri);
    /* absolute-form (RFC 9112 3.2.2): keep only the path and query */
    if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
        p = strstr(p, "://") + 3;
        p += strcspn(p, "/?");
    }
    plen = strcspn(p, "?");
    c->raw_path = plen > 0 ? xstrndup(p, plen) : xstrdup("/");
    c->path = pct_decode(c->raw_path, strlen(c->raw_path));
    INIT_OBJ(&c->req, REQ_MAGIC);
    c->req.raw_url = c->raw_url;
    c->req.raw_path = c->raw_path;
    c->req.path = c->path;
    c->req.conn = c;
    c->kind = SRV_KIND_OTHER;
    c->start_us = mono_us();
    return c;
}

static void conn_free(struct srv_conn *c)
{
    if (!c)
        return;
    CHECK_OBJ(c, CONN_MAGIC);
    srv_response_free(c->pending);
    if (c->hold.release)
        c->hold.release(c->hold.ctx);
    for (size_t i = 0; i < c->nquery; i++) {
        free(c->query[i].key);
        free(c->query[i].value);
    }
    free(c->query);
    free(c->raw_url);
    free(c->raw_path);
    free(c->path);
    FINI_OBJ(&c->req);
    FINI_OBJ(c);
    free(c);
}

static void done_cb(void *cls, struct MHD_Connection *mhd, void **req_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct srv_conn *c = *req_cls;

    UNUSED(mhd);
    UNUSED(toe);
    if (c && c->queued)
        access_log(cls, c);
    conn_free(*req_cls);
    *req_cls = NULL;
}

/* Host header characters we are willing to echo into the landing page. */
static bool host_ok(const char *h)
{
    size_t n = 0;

    if (!h || !*h)
        return false;
    for (; *h; h++, n++) {
        char ch = *h;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || strchr(".-:[]_", ch) != NULL;
        if (!ok || n >= HOST_MAX)
            return false;
    }
    return true;
}

void srv_set_config(struct srv *srv, const struct config *cfg)
{
    CHECK_OBJ(srv, SRV_MAGIC);
    pthread_mutex_lock(&srv->cfg_mu);
    srv->opts.cfg = cfg;
    pthread_mutex_unlock(&srv->cfg_mu);
}

static struct srv_response *landing(struct srv *srv, const struct srv_request *req)
{
    const struct config *cfg;
    const char *host = srv_request_header(req, "Host");
    char *base;
    char *body;
    size_t len;
    struct srv_response *resp;
    struct buf extra;

    buf_init(&extra, BUF_NOMAX);
    if (srv->opts.landing_extra)
        srv->opts.landing_extra(srv->opts.landing_ctx, &extra);
    /* Held while rendering: srv_set_config waits before the old one is freed. */
    pthread_mutex_lock(&srv->cfg_mu);
    cfg = srv->opts.cfg;
    if (cfg && cfg->server.public_url)
        base = xstrdup(cfg->server.public_url);
    else if (host_ok(host))
        base = xasprintf("http://%s", host);
    else if (srv->v6)
        base = xasprintf("http://[%s]:%u", srv->listen_host, (unsigned)srv->port);
    else
        base = xasprintf("http://%s:%u", srv->listen_host, (unsigned)srv->port);
    body = srv_landing_render_extra(cfg, base, buf_cstr(&extra), &len);
    pthread_mutex_unlock(&srv->cfg_mu);
    buf_release(&extra);
    free(base);
    resp = srv_response_new_buf(200, "text/html; charset=utf-8", body, len);
    srv_response_add_header(resp, "Cache-Control", "no-cache");
    return resp;
}

static bool has_body(const struct srv_request *req)
{
    const char *cl = srv_request_header(req, "Content-Length");
    const char *te = srv_request_header(req, "Transfer-Encoding");

    return te != NULL || (cl != NULL && strcmp(cl, "0") != 0);
}

/*
 * Decide the response for a request whose headers are complete. With
 * c->req.nonblock (event thread), NULL means "may block: hand it to a worker".
 */
static struct srv_response *dispatch(struct srv *srv, struct srv_conn *c)
{
    struct srv_request *req = &c->req;
    struct srv_response *resp = NULL;
    int rc;

    /*
     * Both framings at once is how requests are smuggled past a proxy that
     * reads the other one (RFC 9112 6.1): refuse, and close the connection
     * so that nothing after these headers is read as a next request.
     */
    if (srv_request_header(req, "Content-Length") != NULL &&
        srv_request_header(req, "Transfer-Encoding") != NULL) {
        resp = srv_response_error(400, "Content-Length together with Transfer-Encoding");
        srv_response_add_header(resp, "Connection", "close");
        return resp;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        resp = srv_response_errorf(405, "method not allowed: %s", req->method);
        srv_response_add_header(resp, "Allow", "GET, HEAD");
        return resp;
    }
    if (has_body(req))
        return srv_response_error(413, "request bodies are not accepted");
    if (strcmp(req->raw_path, "/healthz") == 0)
        return srv_response_new_text(200, "text/plain; charset=utf-8", "ok\n");
    if (strcmp(req->raw_path, "/") == 0)
        return req->nonblock ? NULL : landing(srv, req); /* reads the store's figures */
    if (srv->opts.route) {
        rc = srv->opts.route(srv->opts.route_ctx, req, &resp);
        if (rc == 0 && ALWAYS(resp != NULL))
            return resp;
        if (rc == IMX_EAGAIN && req->nonblock)
            return NULL;
        if (rc != IMX_ENOTFOUND) {
            log_warnx("route failed for '%.*s': %s", NOT_FOUND_PATH_MAX, req->path,
                      imx_strerror(rc));
            return srv_response_errorf(500, "internal error: %s", imx_strerror(rc));
        }
    }
    return srv_response_errorf(404, "not found: %.*s", NOT_FOUND_PATH_MAX, req->path);
}

/* ---- sleeping readers (server_int.h) ---- */

void srv__waker_init(struct srv_waker *w, struct srv *srv, struct MHD_Connection *mhd)
{
    memset(w, 0, sizeof(*w));
    w->srv = srv;
    w->mhd = mhd;
}

static void sleeping_unlink(struct srv *srv, struct srv_waker *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        srv->sleeping = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

enum srv__sleep srv__waker_sleep(struct srv_waker *w)
{
    struct srv *srv = w->srv;
    enum srv__sleep r;

    pthread_mutex_lock(&srv->wake_mu);
    if (srv->stopping) {
        r = SRV__STOPPING;
    } else if (w->pending) {
        w->pending = false; /* fired before we got here: bytes are there */
        r = SRV__READ_AGAIN;
    } else {
        MHD_suspend_connection(w->mhd);
        w->suspended = true;
        w->next = srv->sleeping;
        if (w->next)
            w->next->prev = w;
        srv->sleeping = w;
        r = SRV__SLEEPING;
        srv_stats_sleep(srv->opts.stats);
    }
    pthread_mutex_unlock(&srv->wake_mu);
    return r;
}

void srv_waker_fire(void *arg)
{
    struct srv_waker *w = arg;
    struct srv *srv = w->srv;

    pthread_mutex_lock(&srv->wake_mu);
    if (w->suspended) {
        w->suspended = false;
        sleeping_unlink(srv, w);
        MHD_resume_connection(w->mhd);
    } else {
        w->pending = true;
    }
    pthread_mutex_unlock(&srv->wake_mu);
}

/* ---- worker pool ---- */

static void *worker_main(void *arg);

/* Start one more worker (pool.mu held). False when pthread_create failed. */
static bool pool_grow(struct srv *srv)
{
    struct srv_pool *pool = &srv->pool;
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    /* Join the ones that ended, so that their stacks go back. */
    for (size_t i = 0; i < pool->nexited; i++)
        pthread_join(pool->exited[i], NULL);
    pool->nexited = 0;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, srv->opts.thread_stack_size);
    rc = pthread_create(&t, &attr, worker_main, srv);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_warnx("cannot start a worker thread: %s", strerror(rc));
        return false;
    }
    pool->threads++;
    return true;
}

/*
 * Queue c (its connection already suspended) for a worker. False when the
 * server is stopping or no worker can run it: the caller answers itself.
 */
static bool pool_submit(struct srv *srv, struct srv_conn *c)
{
    struct srv_pool *pool = &srv->pool;
    bool ok = true;

    pthread_mutex_lock(&pool->mu);
    if (pool->stopping)
        ok = false;
    else if (pool->idle <= pool->queued && pool->threads < pool->max)
        ok = pool_grow(srv) || pool->threads > 0; /* else it waits for a busy one */
    if (ok) {
        c->job_next = NULL;
        if (pool->tail)
            pool->tail->job_next = c;
        else
            pool->head = c;
        pool->tail = c;
        pool->queued++;
        pthread_cond_signal(&pool->work);
    }
    pthread_mutex_unlock(&pool->mu);
    return ok;
}

static void run_job(struct srv *srv, struct srv_conn *c)
{
    bool stopping;

    pthread_mutex_lock(&srv->wake_mu);
    stopping = srv->stopping;
    pthread_mutex_unlock(&srv->wake_mu);
    c->req.nonblock = false;
    c->pending = stopping ? srv_response_error(503, "the server is shutting down")
                          : dispatch(srv, c);
    /* The event thread calls access_cb again and queues c->pending. */
    MHD_resume_connection(c->mhd);
}

static void *worker_main(void *arg)
{
    struct srv *srv = arg;
    struct srv_pool *pool = &srv->pool;

    pthread_mutex_lock(&pool->mu);
    for (;;) {
        struct srv_conn *c;

        while (!pool->head && !pool->stopping) {
            struct timespec ts;
            int rc;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += WORKER_IDLE_SECONDS;
            pool->idle++;
            rc = pthread_cond_timedwait(&pool->work, &pool->mu, &ts);
            pool->idle--;
            if (rc == ETIMEDOUT && !pool->head)
                break;
        }
        if (!pool->head)
            break; /* idle too long, or stopping with nothing queued */
        c = pool->head;
        pool->head = c->job_next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        pthread_mutex_unlock(&pool->mu);
        run_job(srv, c);
        pthread_mutex_lock(&pool->mu);
    }
    /* Joined by pool_grow or srv_free; srv outlives every worker. */
    pool->exited = xgrow(pool->exited, &pool->exited_cap, pool->nexited + 1,
                         sizeof(*pool->exited));
    pool->exited[pool->nexited++] = pthread_self();
    pool->threads--;
    pthread_cond_broadcast(&pool->gone);
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* ---- request dispatch ---- */

static enum MHD_Result queue(struct srv *srv, struct srv_conn *c, struct srv_response *resp)
{
    struct MHD_Response *m = NULL;
    unsigned status = 0;
    enum MHD_Result ret;

    c->queued = true;
    c->status = srv_response_status(resp);
    c->body_size = srv_response_body_size(resp);
    if (srv__response_build(resp, srv, c->mhd, &m, &status, &c->hold) != 0) {
        log_warnx("cannot build response for '%.*s'", NOT_FOUND_PATH_MAX, c->path);
        if (srv__response_build(srv_response_error(500, "internal error: cannot build response"),
                                srv, c->mhd, &m, &status, &c->hold) != 0)
            return MHD_NO;
    }
    c->status = status;
    srv_stats_request(srv->opts.stats, c->view, c->kind, c->status, c->cache);
    if (status == 405 && !c->hold.borrowed)
        MHD_add_response_header(m, "Allow", "GET, HEAD");
    ret = MHD_queue_response(c->mhd, status, m);
    if (!c->hold.borrowed)
        MHD_destroy_response(m);
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *mhd, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    struct srv *srv = cls;
    struct srv_conn *c = *req_cls;
    struct srv_response *resp;

    UNUSED(url);
    UNUSED(version);
    UNUSED(upload_data);
    CHECK_OBJ(srv, SRV_MAGIC);
    if (NEVER(c == NULL))
        return MHD_NO;
    CHECK_OBJ(c, CONN_MAGIC);
    if (c->queued) {
        /* A body we already refused: swallow it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->pending) {
        /* A worker answered and resumed the connection. */
        resp = c->pending;
        c->pending = NULL;
        return queue(srv, c, resp);
    }
    c->req.method = method;
    c->req.head = strcmp(method, "HEAD") == 0;
    if (!c->started) {
        c->started = true;
        /*
         * Answer a plain GET/HEAD on the second call: a response queued on
         * the first call (before MHD knows the request has no body) makes
         * MHD close the connection after it, which defeats keep-alive.
         * Requests we refuse (other methods, bodies) are answered at once,
         * and their connection closed.
         */
        if ((strcmp(method, "GET") == 0 || c->req.head) && !has_body(&c->req))
            return MHD_YES;
    }
    str_copy(c->method, sizeof(c->method), method);
    c->req.nonblock = true;
    resp = dispatch(srv, c);
    if (resp)
        return queue(srv, c, resp);
    /* It may block: a worker answers it while the connection sleeps. */
    srv_stats_worker(srv->opts.stats);
    MHD_suspend_connection(mhd);
    if (!pool_submit(srv, c)) {
        c->pending = srv_response_error(503, "the server is shutting down or out of threads");
        MHD_resume_connection(mhd);
    }
    return MHD_YES;
}

/* ---- lifecycle ---- */

static int make_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, bool *v6,
                     bool *dual)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    struct addrinfo hints;
    struct addrinfo *res = NULL;

    memset(ss, 0, sizeof(*ss));
    *v6 = false;
    *dual = false;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        goto port;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        goto port;
    }
    /* A host name: its first address (listen binds one socket). */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res ||
        res->ai_addrlen > sizeof(*ss)) {
        if (res)
            freeaddrinfo(res);
        return IMX_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
port:
    if (ss->ss_family == AF_INET6) {
        sin6->sin6_port = htons(port);
        *v6 = true;
        *dual = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
    } else {
        sin->sin_port = htons(port);
    }
    return 0;
}

int srv_new(const struct srv_opts *opts, struct srv **out)
{
    struct srv *srv = NULL;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    bool v6;
    bool dual;
    unsigned flags;
    unsigned event_threads;
    int rc = 0;

    assert(opts != NULL && out != NULL);
    srv = xcalloc(1, sizeof(*srv));
    INIT_OBJ(srv, SRV_MAGIC);
    srv->opts = *opts;
    pthread_mutex_init(&srv->cfg_mu, NULL);
    pthread_mutex_init(&srv->wake_mu, NULL);
    pthread_mutex_init(&srv->pool.mu, NULL);
    pthread_cond_init(&srv->pool.work, NULL);
    pthread_cond_init(&srv->pool.gone, NULL);
    srv->listen_host = xstrdup(opts->listen_host ? opts->listen_host : "127.0.0.1");
    srv->opts.listen_host = srv->listen_host;
    if (!srv->opts.max_connections)
        srv->opts.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (!srv->opts.client_timeout)
        srv->opts.client_timeout = DEFAULT_CLIENT_TIMEOUT;
    if (!srv->opts.conn_memory_limit)
        srv->opts.conn_memory_limit = DEFAULT_CONN_MEMORY;
    if (!srv->opts.thread_stack_size)
        srv->opts.thread_stack_size = DEFAULT_STACK;
    srv->pool.max = srv->opts.max_connections;
    {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        event_threads = cpus < 1 ? 1 : cpus > MAX_EVENT_THREADS ? MAX_EVENT_THREADS
                                                                 : (unsigned)cpus;
    }

    rc = make_addr(srv->listen_host, opts->listen_port, &ss, &v6, &dual);
    if (rc != 0) {
        log_warnx("cannot listen on '%s': not an address", srv->listen_host);
        goto out;
    }
    srv->v6 = v6;
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG;
    if (dual)
        flags |= MHD_USE_DUAL_STACK;
    else if (v6)
        flags |= MHD_USE_IPv6;

    /*
     * MHD_OPTION_EXTERNAL_LOGGER must come first to catch option errors.
     * MHD_OPTION_LISTENING_ADDRESS_REUSE is left unset on purpose: 1 means
     * SO_REUSEPORT, which would let a second indexmux bind the same port and
     * silently take half the connections, and 0 means "disallow", which also
     * drops SO_REUSEADDR so a restart fails while TIME_WAIT sockets remain.
     * Unset, MHD sets SO_REUSEADDR only.
     */
    srv->daemon = MHD_start_daemon(
        flags, opts->listen_port, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->opts.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->opts.client_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)srv->opts.conn_memory_limit,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)srv->opts.thread_stack_size,
        MHD_OPTION_THREAD_POOL_SIZE, event_threads,
        MHD_OPTION_URI_LOG_CALLBACK, uri_cb,
        srv, MHD_OPTION_NOTIFY_COMPLETED, done_cb, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        log_warnx("cannot start the http server on '%s' port %u", srv->listen_host,
                  (unsigned)opts->listen_port);
        rc = IMX_EIO;
        goto out;
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : opts->listen_port;
out:
    if (rc == 0) {
        *out = srv;
    } else {
        srv_free(srv);
    }
    return rc;
}

uint16_t srv_port(const struct srv *srv)
{
    CHECK_OBJ(srv, SRV_MAGIC);
    return srv->port;
}

/* Let every worker finish its job and end (see "Shutdown" at the top). */
static void pool_drain(struct srv_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work);
    while (pool->threads > 0)
        pthread_cond_wait(&pool->gone, &pool->mu);
    for (size_t i = 0; i < pool->nexited; i++)
        pthread_join(pool->exited[i], NULL);
    pool->nexited = 0;
    pthread_mutex_unlock(&pool->mu);
}

void srv_free(struct srv *srv)
{
    if (!srv)
        return;
    CHECK_OBJ(srv, SRV_MAGIC);
    if (srv->daemon) {
        pthread_mutex_lock(&srv->wake_mu);
        srv->stopping = true;
        while (srv->sleeping) {
            struct srv_waker *w = srv->sleeping;
            w->suspended = false;
            sleeping_unlink(srv, w);
            MHD_resume_connection(w->mhd); /* its reader then aborts: stopping */
        }
        pthread_mutex_unlock(&srv->wake_mu);
    }
    pool_drain(&srv->pool);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv->pool.exited);
    pthread_cond_destroy(&srv->pool.gone);
    pthread_cond_destroy(&srv->pool.work);
    pthread_mutex_destroy(&srv->pool.mu);
    pthread_mutex_destroy(&srv->wake_mu);
    free(srv->listen_host);
    pthread_mutex_destroy(&srv->cfg_mu);
    FINI_OBJ(srv);
    free(srv);
}
