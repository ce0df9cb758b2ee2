/*
 * Tests for server/server.c, respond.c and landing.c: a real daemon on
 * 127.0.0.1 with an ephemeral port, a hand-built two-view config and a stub
 * route hook, driven over plain sockets so every byte of the response can
 * be checked (status line, headers, HEAD without body).
 */
#include "compat.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "server.h"
#include "xalloc.h"

/* ---- a tiny config: indexes pypi, torch; views default and cu124 ---- */

static char pypi[] = "pypi", torch[] = "pytorch-cu124", vdef[] = "default", vcu[] = "cu124";
static size_t view0_idx[] = {0};
static size_t view1_idx[] = {0};
static struct config_index test_indexes[2];
static struct config_pin test_pins[1];
static char pin_torch[] = "torch";
static struct config_view test_views[2];
static struct config test_cfg;

static void build_config(void)
{
    memset(&test_cfg, 0, sizeof(test_cfg));
    test_indexes[0] = (struct config_index){.name = pypi, .url = "https://pypi.org/simple/"};
    test_indexes[1] = (struct config_index){.name = torch, .explicit_ = true};
    test_pins[0] = (struct config_pin){.project = pin_torch};
    test_views[0] = (struct config_view){.name = vdef, .indexes = view0_idx, .nindexes = 1};
    test_views[1] = (struct config_view){
        .name = vcu, .indexes = view1_idx, .nindexes = 1, .pins = test_pins, .npins = 1};
    test_cfg.indexes = test_indexes;
    test_cfg.nindexes = 2;
    test_cfg.views = test_views;
    test_cfg.nviews = 2;
    test_cfg.server.default_view = vdef;
}

/* ---- the stub route hook ---- */

struct route_state {
    char path[64];
};

static ssize_t count_reader(void *ctx, uint64_t pos, char *buf, size_t max, struct srv_waker *w)
{
    uint64_t *total = ctx;
    size_t n = 0;

    if (pos >= *total)
        return SRV_READ_EOF;
    while (n < max && pos + n < *total) {
        buf[n] = (char)('a' + (pos + n) % 26);
        n++;
    }
    UNUSED(w);
    return (ssize_t)n;
}

/*
 * A body that arrives in 10 steps, like a file still downloading: the
 * reader returns SRV_READ_AGAIN when it caught up. "late": a producer
 * thread adds a step every 10 ms and fires the waker (the connection
 * sleeps in between); "early": the reader itself adds a step and fires the
 * waker before returning SRV_READ_AGAIN (the race where the wake-up comes
 * before the suspend); "never": no byte ever comes (shutdown test).
 */
enum drip_mode { DRIP_LATE, DRIP_EARLY, DRIP_NEVER };

struct drip {
    pthread_mutex_t mu;
    uint64_t avail;
    uint64_t total;
    enum drip_mode mode;
    struct srv_waker *waker; /* armed by the reader, taken by the producer */
    bool stop;
    pthread_t producer;
    unsigned agains;
};

static void *drip_producer(void *arg)
{
    struct drip *d = arg;

    for (int i = 0; i < 10; i++) {
        struct srv_waker *w;
        bool stop;
        usleep(10000);
        pthread_mutex_lock(&d->mu);
        d->avail += d->total / 10;
        w = d->waker;
        d->waker = NULL;
        stop = d->stop;
        pthread_mutex_unlock(&d->mu);
        if (w)
            srv_waker_fire(w);
        if (stop)
            break;
    }
    return NULL;
}

static ssize_t drip_read(void *ctx, uint64_t pos, char *buf, size_t max, struct srv_waker *w)
{
    struct drip *d = ctx;
    size_t n = 0;

    pthread_mutex_lock(&d->mu);
    if (pos >= d->total) {
        pthread_mutex_unlock(&d->mu);
        return SRV_READ_EOF;
    }
    if (pos >= d->avail) {
        d->agains++;
        if (d->mode == DRIP_EARLY) {
            d->avail += d->total / 10;
            pthread_mutex_unlock(&d->mu);
            srv_waker_fire(w);
            return SRV_READ_AGAIN;
        }
        d->waker = w;
        pthread_mutex_unlock(&d->mu);
        return SRV_READ_AGAIN;
    }
    while (n < max && pos + n < d->avail) {
        buf[n] = (char)('a' + (pos + n) % 26);
        n++;
    }
    pthread_mutex_unlock(&d->mu);
    return (ssize_t)n;
}

static unsigned drip_agains; /* of the last drip freed (tests run one at a time) */

static void drip_free(void *ctx)
{
    struct drip *d = ctx;

    if (d->mode == DRIP_LATE) {
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        d->waker = NULL; /* never fire into a response being freed */
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->producer, NULL);
    }
    __atomic_store_n(&drip_agains, d->agains, __ATOMIC_SEQ_CST);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static struct srv_response *drip_response(enum drip_mode mode)
{
    struct drip *d = xcalloc(1, sizeof(*d));

    pthread_mutex_init(&d->mu, NULL);
    d->total = 100000;
    d->mode = mode;
    if (mode == DRIP_LATE)
        cr_assert_eq(pthread_create(&d->producer, NULL, drip_producer, d), 0);
    return srv_response_new_callback(200, (int64_t)d->total, drip_read, d, drip_free);
}

static int test_fd = -1;
static struct srv_frozen *test_frozen;
static int frozen_released; /* atomic: requests whose use of test_frozen ended */

static void frozen_release(void *ctx)
{
    __atomic_add_fetch((int *)ctx, 1, __ATOMIC_RELAXED);
}

static int stub_route(void *ctx, const struct srv_request *req, struct srv_response **out)
{
    struct route_state *st = ctx;
    const char *fmt;

    UNUSED(st);
    if (strcmp(req->raw_path, "/hook") == 0) {
        struct srv_response *r = srv_response_new_text(201, "text/plain", "hooked\n");
        cr_assert_eq(srv_response_add_header(r, "X-Test", "yes"), 0);
        cr_assert_eq(srv_response_add_header(r, "Bad Name", "x"), IMX_EINVAL);
        cr_assert_eq(srv_response_add_header(r, "X-Evil", "a\r\nInjected: 1"), IMX_EINVAL);
        cr_assert_eq(srv_response_add_header(r, "Content-Length", "5"), IMX_EINVAL);
        *out = r;
        return 0;
    }
    if (strncmp(req->raw_path, "/echo/", 6) == 0) {
        const char *accept = srv_request_header(req, "accept");
        fmt = srv_request_query(req, "format");
        *out = srv_response_errorf(200, "raw=%s path=%s format=%s empty=%s missing=%s accept=%s",
                                   req->raw_path, req->path, fmt ? fmt : "(null)",
                                   srv_request_query(req, "e") ? "yes" : "no",
                                   srv_request_query(req, "zz") ? "yes" : "no",
                                   accept ? accept : "(null)");
        return 0;
    }
    if (strcmp(req->raw_path, "/frozen") == 0) {
        *out = srv_response_new_frozen(test_frozen, frozen_release, &frozen_released);
        cr_assert_eq(srv_response_add_header(*out, "X-Late", "no"), IMX_EINVAL);
        return 0;
    }
    if (strcmp(req->raw_path, "/fd") == 0) {
        *out = srv_response_new_fd(206, dup(test_fd), 3, 4);
        srv_response_add_header(*out, "Content-Type", "application/octet-stream");
        return 0;
    }
    if (strcmp(req->raw_path, "/cb-known") == 0 || strcmp(req->raw_path, "/cb-unknown") == 0) {
        uint64_t *total = xmalloc(sizeof(*total));
        *total = 100000;
        *out = srv_response_new_callback(200, req->raw_path[4] == 'k' ? 100000 : -1,
                                         count_reader, total, free);
        return 0;
    }
    if (strcmp(req->raw_path, "/drip-late") == 0) {
        *out = drip_response(DRIP_LATE);
        return 0;
    }
    if (strcmp(req->raw_path, "/drip-early") == 0) {
        *out = drip_response(DRIP_EARLY);
        return 0;
    }
    if (strcmp(req->raw_path, "/drip-never") == 0) {
        *out = drip_response(DRIP_NEVER);
        return 0;
    }
    if (strcmp(req->raw_path, "/slow") == 0) {
        /* Blocks, so only on a worker: the event thread must hand it over. */
        if (req->nonblock)
            return IMX_EAGAIN;
        usleep(300000);
        *out = srv_response_new_text(200, "text/plain", "slow\n");
        return 0;
    }
    if (strcmp(req->raw_path, "/fail") == 0)
        return IMX_EIO;
    return IMX_ENOTFOUND;
}

/* ---- fixture ---- */

static struct srv *srv;
static struct route_state route_state;

static void start(void)
{
    struct srv_opts o = {0};
    char tmpl[] = "/tmp/imx-srv-test-XXXXXX";

    signal(SIGPIPE, SIG_IGN);
    build_config();
    test_fd = mkstemp(tmpl);
    cr_assert_geq(test_fd, 0);
    unlink(tmpl);
    cr_assert_eq(write(test_fd, "0123456789", 10), 10);
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.cfg = &test_cfg;
    o.route = stub_route;
    o.route_ctx = &route_state;
    test_frozen = srv_frozen_new(200, "text/plain", "frozen body\n", 12);
    cr_assert_not_null(test_frozen);
    cr_assert_eq(srv_frozen_add_header(test_frozen, "X-Frozen", "yes"), 0);
    cr_assert_eq(srv_frozen_add_header(test_frozen, "X-Evil", "a\r\nInjected: 1"), IMX_EINVAL);
    cr_assert_eq(srv_frozen_add_header(test_frozen, "Content-Length", "5"), IMX_EINVAL);
    frozen_released = 0;
    o.max_connections = 64;
    o.client_timeout = 5;
    cr_assert_eq(srv_new(&o, &srv), 0);
    cr_assert_gt(srv_port(srv), 0);
}

static void stop(void)
{
    srv_free(srv);
    srv = NULL;
    srv_frozen_free(test_frozen); /* after the server: no request uses it any more */
    test_frozen = NULL;
    close(test_fd);
}

/* ---- a raw HTTP/1.1 client ---- */

struct reply {
    int status;
    char *head; /* status line + headers */
    char *body;
    size_t body_len;
    char *raw;
};

static void reply_free(struct reply *r)
{
    free(r->raw);
    free(r->head);
    memset(r, 0, sizeof(*r));
}

/* Send `req` verbatim; read until the server closes. false on I/O error. */
static bool http_raw(uint16_t port, const char *req, struct reply *out)
{
    struct sockaddr_in sa = {0};
    struct buf b;
    char chunk[4096];
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *sep;

    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return false;
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return false;
    }
    for (size_t off = 0, len = strlen(req); off < len; off += (size_t)n) {
        n = write(fd, req + off, len - off);
        if (n <= 0) {
            close(fd);
            return false;
        }
    }
    buf_init(&b, BUF_NOMAX);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(&b, chunk, (size_t)n);
    close(fd);
    out->raw = buf_detach(&b, NULL);
    sep = strstr(out->raw, "\r\n\r\n");
    if (!sep)
        return false;
    out->head = xstrndup(out->raw, (size_t)(sep - out->raw) + 2);
    out->body = sep + 4;
    out->body_len = strlen(out->body);
    if (sscanf(out->raw, "HTTP/1.%*d %d", &out->status) != 1)
        return false;
    return true;
}

static struct reply get(const char *method, const char *target, const char *extra_headers)
{
    struct reply r;
    char *req = xasprintf("%s %s HTTP/1.1\r\nHost: example.test:8080\r\n%sConnection: close\r\n\r\n",
                          method, target, extra_headers ? extra_headers : "");
    cr_assert(http_raw(srv_port(srv), req, &r), "request '%s %s' failed", method, target);
    free(req);
    return r;
}

/* The value of header `name` in r (case-insensitive), or NULL. Static buffer. */
static const char *header(const struct reply *r, const char *name)
{
    static char val[1024];
    const char *p = strstr(r->head, "\r\n");
    size_t nl = strlen(name);

    while (p && p[2]) {
        const char *line = p + 2;
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(val, sizeof(val), "%.*s", (int)(end - v), v);
            return val;
        }
        p = end;
    }
    return NULL;
}

TestSuite(server, .init = start, .fini = stop, .timeout = 60);

Test(server, healthz)
{
    struct reply r = get("GET", "/healthz", NULL);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert_str_eq(r.body, "ok\n");
    cr_assert_str_eq(header(&r, "Content-Length"), "3");
    reply_free(&r);
}

Test(server, head_has_length_and_no_body)
{
    struct reply r = get("HEAD", "/healthz", NULL);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert_str_eq(header(&r, "Content-Length"), "3");
    cr_assert_eq(r.body_len, 0, "HEAD sent a body: '%s'", r.body);
    reply_free(&r);
}

Test(server, landing_lists_views_and_client_lines)
{
    struct reply r = get("GET", "/", NULL);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert_str_eq(header(&r, "Content-Type"), "text/html; charset=utf-8");
    cr_assert(strstr(r.body, "<!DOCTYPE html>"));
    cr_assert(strstr(r.body, "http://example.test:8080/default/simple/"), "%s", r.body);
    cr_assert(strstr(r.body, "http://example.test:8080/cu124/simple/"), "%s", r.body);
    cr_assert(strstr(r.body, "http://example.test:8080/simple/"), "default view alias");
    cr_assert(strstr(r.body, "pip install --index-url http://example.test:8080/cu124/simple/ "
                             "--trusted-host example.test:8080 PKG"),
              "%s", r.body);
    cr_assert(strstr(r.body, "[global]\nindex-url = http://example.test:8080/default/simple/"));
    cr_assert(strstr(r.body, "[[index]]\nurl = \"http://example.test:8080/cu124/simple/"
                             "\"\ndefault = true"),
              "%s", r.body);
    cr_assert(strstr(r.body, "<code>pypi</code>"));
    cr_assert(strstr(r.body, "1 pinned project"));
    reply_free(&r);
}

Test(server, landing_never_echoes_a_hostile_host)
{
    struct reply r;
    char *req = xasprintf("GET / HTTP/1.1\r\nHost: x\"><script>alert(1)</script>\r\n"
                          "Connection: close\r\n\r\n");
    cr_assert(http_raw(srv_port(srv), req, &r));
    free(req);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert_null(strstr(r.body, "<script>"));
    cr_assert(strstr(r.body, "http://127.0.0.1:"), "falls back to the listen address");
    cr_assert_null(strstr(r.body, "--trusted-host"), "127.0.0.1 is secure for pip");
    reply_free(&r);
}

Test(server, landing_uses_public_url)
{
    struct reply r;
    char pub[] = "https://pypi.corp.example/mirror";

    test_cfg.server.public_url = pub;
    r = get("GET", "/", NULL);
    cr_assert(strstr(r.body, "https://pypi.corp.example/mirror/cu124/simple/"), "%s", r.body);
    cr_assert_null(strstr(r.body, "example.test"));
    cr_assert_null(strstr(r.body, "--trusted-host"));
    reply_free(&r);
    test_cfg.server.public_url = NULL;
}

Test(server, unknown_path_is_404_with_one_line)
{
    struct reply r = get("GET", "/nope/x", NULL);
    cr_assert_eq(r.status, 404, "%s", r.raw);
    cr_assert_str_eq(r.body, "not found: /nope/x\n");
    cr_assert_str_eq(header(&r, "Content-Type"), "text/plain; charset=utf-8");
    reply_free(&r);
}

Test(server, long_404_path_is_capped)
{
    char target[1200];
    struct reply r;

    target[0] = '/';
    memset(target + 1, 'a', sizeof(target) - 2);
    target[sizeof(target) - 1] = '\0';
    r = get("GET", target, NULL);
    cr_assert_eq(r.status, 404);
    cr_assert_lt(r.body_len, 300);
    cr_assert_eq(r.body[r.body_len - 1], '\n');
    cr_assert_null(strchr(r.body, '\r'));
    reply_free(&r);
}

Test(server, control_bytes_in_404_are_replaced)
{
    struct reply r = get("GET", "/a%0d%0aInjected:%20x", NULL);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.body, "not found: /a??Injected: x\n");
    reply_free(&r);
}

Test(server, other_methods_are_405)
{
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
        struct reply r = get(methods[i], "/healthz", "Content-Length: 0\r\n");
        cr_assert_eq(r.status, 405, "%s: %s", methods[i], r.raw);
        cr_assert_str_eq(header(&r, "Allow"), "GET, HEAD");
        reply_free(&r);
    }
}

Test(server, post_with_body_is_405)
{
    struct reply r = get("POST", "/simple/", "Content-Length: 5\r\n\r\nhello");
    cr_assert_eq(r.status, 405, "%s", r.raw);
    reply_free(&r);
}

Test(server, get_with_body_is_413)
{
    struct reply r = get("GET", "/healthz", "Content-Length: 5\r\n\r\nhello");
    cr_assert_eq(r.status, 413, "%s", r.raw);
    reply_free(&r);
}

Test(server, route_hook_response_with_header)
{
    struct reply r = get("GET", "/hook", NULL);
    cr_assert_eq(r.status, 201, "%s", r.raw);
    cr_assert_str_eq(r.body, "hooked\n");
    cr_assert_str_eq(header(&r, "X-Test"), "yes");
    cr_assert_null(header(&r, "X-Evil"));
    cr_assert_null(header(&r, "Injected"));
    reply_free(&r);
}

Test(server, request_paths_queries_and_headers)
{
    struct reply r = get("GET", "/echo/a%2Bb+c%2fd/?format=application/vnd.pypi.simple.v1+json&e",
                         "Accept: text/html; q=0.5\r\n");
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert_str_eq(r.body, "raw=/echo/a%2Bb+c%2fd/ path=/echo/a+b+c/d/ "
                             "format=application/vnd.pypi.simple.v1+json empty=yes missing=no "
                             "accept=text/html; q=0.5\n");
    reply_free(&r);

    r = get("GET", "/echo/x?format=application%2Fvnd.pypi.simple.v1%2Bjson", NULL);
    cr_assert(strstr(r.body, "format=application/vnd.pypi.simple.v1+json "), "%s", r.body);
    reply_free(&r);
}

Test(server, absolute_form_target)
{
    struct reply r = get("GET", "http://example.test:8080/healthz", NULL);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    reply_free(&r);
}

Test(server, fd_response_at_offset)
{
    struct reply r = get("GET", "/fd", NULL);
    cr_assert_eq(r.status, 206, "%s", r.raw);
    cr_assert_str_eq(r.body, "3456");
    cr_assert_str_eq(header(&r, "Content-Length"), "4");
    reply_free(&r);

    r = get("HEAD", "/fd", NULL);
    cr_assert_eq(r.status, 206, "%s", r.raw);
    cr_assert_str_eq(header(&r, "Content-Length"), "4");
    cr_assert_eq(r.body_len, 0);
    reply_free(&r);
}

static void check_counted_body(const struct reply *r, size_t want)
{
    cr_assert_eq(r->body_len, want, "got %zu bytes", r->body_len);
    for (size_t i = 0; i < want; i++)
        cr_assert_eq(r->body[i], (char)('a' + i % 26), "byte %zu", i);
}

Test(server, callback_response_known_size)
{
    struct reply r = get("GET", "/cb-known", NULL);
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert_str_eq(header(&r, "Content-Length"), "100000");
    check_counted_body(&r, 100000);
    reply_free(&r);

    r = get("HEAD", "/cb-known", NULL);
    cr_assert_str_eq(header(&r, "Content-Length"), "100000");
    cr_assert_eq(r.body_len, 0);
    reply_free(&r);
}

Test(server, callback_response_unknown_size_http10)
{
    struct reply r;
    cr_assert(http_raw(srv_port(srv), "GET /cb-unknown HTTP/1.0\r\nHost: x\r\n\r\n", &r));
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert_null(header(&r, "Transfer-Encoding"));
    check_counted_body(&r, 100000);
    reply_free(&r);
}

Test(server, callback_response_unknown_size_chunked)
{
    struct reply r = get("GET", "/cb-unknown", NULL);
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert_str_eq(header(&r, "Transfer-Encoding"), "chunked");
    reply_free(&r);
}

Test(server, route_error_is_500)
{
    struct reply r = get("GET", "/fail", NULL);
    cr_assert_eq(r.status, 500, "%s", r.raw);
    cr_assert_str_eq(r.body, "internal error: i/o error\n");
    reply_free(&r);
}

Test(server, oversized_headers_are_refused)
{
    size_t n = 100 * 1024;
    char *big = xmalloc(n + 32);
    struct reply r;

    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', n);
    memcpy(big + 7 + n, "\r\n", 3);
    r = get("GET", "/healthz", big);
    cr_assert(r.status == 431 || r.status == 413, "%s", r.head);
    reply_free(&r);
    free(big);
}

static void *hammer(void *arg)
{
    uint16_t port = (uint16_t)(uintptr_t)arg;
    long ok = 0;

    for (int i = 0; i < 25; i++) {
        struct reply r;
        const char *path = i % 2 ? "/healthz" : "/hook";
        char *req = xasprintf("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
        if (http_raw(port, req, &r) && (r.status == 200 || r.status == 201))
            ok++;
        reply_free(&r);
        free(req);
    }
    return (void *)ok;
}

/* Run fn (25 requests, returns how many went right) on 8 threads at once: the total. */
static long hammer_8(void *(*fn)(void *))
{
    pthread_t th[8];
    long total = 0;

    for (size_t i = 0; i < ARRAY_SIZE(th); i++)
        cr_assert_eq(pthread_create(&th[i], NULL, fn, (void *)(uintptr_t)srv_port(srv)), 0);
    for (size_t i = 0; i < ARRAY_SIZE(th); i++) {
        void *ok;
        pthread_join(th[i], &ok);
        total += (long)ok;
    }
    return total;
}

Test(server, concurrent_requests)
{
    long total = hammer_8(hammer);

    cr_assert_eq(total, 200, "only %ld of 200 requests succeeded", total);
}

static void *hammer_frozen(void *arg)
{
    uint16_t port = (uint16_t)(uintptr_t)arg;
    long ok = 0;

    for (int i = 0; i < 25; i++) {
        struct reply r;
        const char *method = i % 5 ? "GET" : "HEAD";
        char *req = xasprintf("%s /frozen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              method);
        if (http_raw(port, req, &r) && r.status == 200 && strstr(r.head, "X-Frozen: yes") &&
            strstr(r.head, "Content-Length: 12") &&
            (i % 5 ? r.body_len == 12 && memcmp(r.body, "frozen body\n", 12) == 0
                   : r.body_len == 0))
            ok++;
        reply_free(&r);
        free(req);
    }
    return (void *)ok;
}

/* One frozen response sent to 200 requests at once; each request's release runs once. */
Test(server, frozen_response_shared_by_concurrent_requests)
{
    long total = hammer_8(hammer_frozen);

    cr_assert_eq(total, 200, "only %ld of 200 requests got the frozen response", total);
    /* The release runs when MHD reports the request done, just after the client has it all. */
    for (int i = 0; i < 200 && __atomic_load_n(&frozen_released, __ATOMIC_RELAXED) < 200; i++)
        usleep(10000);
    cr_assert_eq(__atomic_load_n(&frozen_released, __ATOMIC_RELAXED), 200);
}

Test(server, reader_that_sleeps_until_woken)
{
    struct reply r = get("GET", "/drip-late", NULL);
    cr_assert_eq(r.status, 200, "%s", r.head);
    check_counted_body(&r, 100000);
    reply_free(&r);
    cr_assert_geq(__atomic_load_n(&drip_agains, __ATOMIC_SEQ_CST), 5,
                  "the reader should have caught up and slept");
}

Test(server, reader_woken_before_it_sleeps)
{
    struct reply r = get("GET", "/drip-early", NULL);
    cr_assert_eq(r.status, 200, "%s", r.head);
    check_counted_body(&r, 100000);
    reply_free(&r);
    cr_assert_geq(__atomic_load_n(&drip_agains, __ATOMIC_SEQ_CST), 9);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *get_slow(void *arg)
{
    struct reply r;
    bool ok = http_raw((uint16_t)(uintptr_t)arg,
                       "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) &&
              r.status == 200 && strcmp(r.body, "slow\n") == 0;
    reply_free(&r);
    return (void *)(uintptr_t)ok;
}

Test(server, blocking_requests_run_on_workers)
{
    pthread_t th[20];
    double t0 = now_s();
    double healthz_s;
    struct reply r;

    /* 20 requests that block 300 ms each, at once: more than the event threads. */
    for (size_t i = 0; i < ARRAY_SIZE(th); i++)
        cr_assert_eq(pthread_create(&th[i], NULL, get_slow, (void *)(uintptr_t)srv_port(srv)), 0);
    usleep(50000);
    r = get("GET", "/healthz", NULL);
    healthz_s = now_s() - t0;
    cr_assert_eq(r.status, 200);
    reply_free(&r);
    for (size_t i = 0; i < ARRAY_SIZE(th); i++) {
        void *ok;
        pthread_join(th[i], &ok);
        cr_assert((uintptr_t)ok, "slow request %zu failed", i);
    }
    /* In parallel, not one after the other (20 x 0.3 s), and /healthz did not wait. */
    cr_assert_lt(now_s() - t0, 2.0, "took %.2f s", now_s() - t0);
    cr_assert_lt(healthz_s, 0.25, "healthz took %.3f s behind blocked requests", healthz_s);
}

static void *get_never(void *arg)
{
    struct reply r;
    /* The body never completes: the server must cut it at shutdown. */
    http_raw((uint16_t)(uintptr_t)arg,
             "GET /drip-never HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    reply_free(&r);
    return NULL;
}

Test(server_stop, stops_with_sleeping_readers_and_busy_workers)
{
    pthread_t never[3];
    pthread_t slow[3];
    double t0;

    start();
    for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
        cr_assert_eq(pthread_create(&never[i], NULL, get_never, (void *)(uintptr_t)srv_port(srv)), 0);
        cr_assert_eq(pthread_create(&slow[i], NULL, get_slow, (void *)(uintptr_t)srv_port(srv)), 0);
    }
    usleep(100000); /* readers asleep, workers inside /slow */
    t0 = now_s();
    stop();
    cr_assert_lt(now_s() - t0, 1.0, "shutdown took %.2f s", now_s() - t0);
    for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
        pthread_join(never[i], NULL);
        pthread_join(slow[i], NULL);
    }
}

Test(server_listen, ipv6_loopback_and_bad_host)
{
    struct srv_opts o = {0};
    struct srv *s6 = NULL;

    o.listen_host = "not a host!";
    cr_assert_eq(srv_new(&o, &s6), IMX_EINVAL);
    cr_assert_null(s6);
    o.listen_host = "::1";
    if (srv_new(&o, &s6) != 0)
        cr_skip_test("no IPv6 loopback here");
    cr_assert_gt(srv_port(s6), 0);
    srv_free(s6);
    srv_free(NULL);
}

Test(server_listen, port_in_use_is_eio)
{
    struct srv_opts o = {0};
    struct srv *a = NULL;
    struct srv *b = NULL;

    cr_assert_eq(srv_new(&o, &a), 0);
    o.listen_port = srv_port(a);
    cr_assert_eq(srv_new(&o, &b), IMX_EIO);
    srv_free(a);
}
