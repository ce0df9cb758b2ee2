/*
 * Tests for resolver/upstream.c: every behaviour of the libcurl wrapper,
 * driven against tests/unit/resolver/upstream_server.py, a scripted HTTP
 * server started on 127.0.0.1 (port 0) for each test and killed after it.
 * Criterion runs each test in its own process, so the fixture state below
 * is per test.
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "upstream.h"
#include "xalloc.h"

static const char PAGE[] = "<!DOCTYPE html><html><body><a href='x'>x</a></body></html>\n";

/* Fixture: the server process and a client. */
static pid_t srv_pid = -1;
static int srv_port;
static struct upstream *up;

/* Start upstream_server.py with extra arguments (NULL-terminated list, may be empty). */
static pid_t srv_spawn(const char *const *extra, int *port /* OUT */)
{
    const char *src = getenv("IMX_SOURCE_DIR");
    const char *py = getenv("PYTHON");
    char script[4096];
    char line[32];
    const char *argv[16];
    size_t argc = 0;
    int fds[2];
    pid_t pid;
    FILE *f;

    cr_assert(src != NULL, "IMX_SOURCE_DIR not set (run through ctest)");
    if (py == NULL)
        py = "python3";
    snprintf(script, sizeof(script), "%s/tests/unit/resolver/upstream_server.py", src);
    argv[argc++] = py;
    argv[argc++] = "-u";
    argv[argc++] = script;
    for (; extra != NULL && *extra != NULL && argc + 1 < ARRAY_SIZE(argv); extra++)
        argv[argc++] = *extra;
    argv[argc] = NULL;
    cr_assert(pipe(fds) == 0);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp(py, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    cr_assert(f != NULL);
    cr_assert(fgets(line, sizeof(line), f) != NULL, "test server did not start");
    fclose(f);
    *port = (int)strtol(line, NULL, 10);
    cr_assert(*port > 0);
    return pid;
}

static void srv_kill(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static void srv_start(void)
{
    srv_pid = srv_spawn(NULL, &srv_port);
}

static void srv_stop(void)
{
    srv_kill(srv_pid);
    srv_pid = -1;
}

static struct upstream *client(unsigned low_speed, unsigned max_transfers, bool offline)
{
    struct upstream_opts o = {
        .connect_timeout = 5,
        .low_speed_time = low_speed,
        .max_transfers = max_transfers,
        .user_agent = "imx-test/1",
        .offline = offline,
    };
    struct upstream *u = NULL;

    cr_assert_eq(upstream_new(&o, &u), 0);
    return u;
}

static void setup(void)
{
    /* Tests talk to 127.0.0.1 only: no proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("all_proxy");
    cr_assert_eq(upstream_global_init(), 0);
    srv_start();
    up = client(5, 0, false);
}

static void teardown(void)
{
    upstream_free(up);
    up = NULL;
    srv_stop();
    upstream_global_cleanup();
}

TestSuite(upstream, .init = setup, .fini = teardown, .timeout = 25);

static char *url_of(const char *path)
{
    return xasprintf("http://127.0.0.1:%d%s", srv_port, path);
}

static struct upstream_request req_for(const char *url)
{
    struct upstream_request q = {.url = url, .tls_verify = true};
    return q;
}

/* GET path with an otherwise default request. */
static int get(const char *path, struct upstream_response *r)
{
    char *url = url_of(path);
    struct upstream_request q = req_for(url);
    int rc = upstream_fetch(up, &q, r);

    free(url);
    return rc;
}

static long server_count(const char *what)
{
    struct upstream_response r;
    char key[64];
    const char *p;
    long n = -1;

    cr_assert_eq(get("/_count", &r), 0);
    snprintf(key, sizeof(key), "\"%s\": ", what);
    p = strstr(buf_cstr(&r.body), key);
    cr_assert(p != NULL, "%s", buf_cstr(&r.body));
    n = strtol(p + strlen(key), NULL, 10);
    upstream_response_release(&r);
    return n;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A port nobody listens on. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---------------------------------------------------------------------- */
/* a_: basic requests                                                     */

Test(upstream, a_page_200)
{
    struct upstream_response r;
    char *url = url_of("/page");

    cr_assert_eq(get("/page", &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(buf_cstr(&r.body), PAGE);
    cr_assert_str_eq(r.etag, "\"v1\"");
    cr_assert_str_eq(r.last_modified, "Wed, 01 Jan 2025 00:00:00 GMT");
    cr_assert_str_eq(r.content_type, "text/html");
    cr_assert_null(r.content_range);
    cr_assert_eq(r.content_length, (int64_t)strlen(PAGE));
    cr_assert_str_eq(r.effective_url, url);
    cr_assert_str_empty(r.error);
    upstream_response_release(&r);
    upstream_response_release(&r); /* idempotent */
    free(url);
}

Test(upstream, a_not_modified_304)
{
    struct upstream_response r;
    char *url = url_of("/page");
    struct upstream_request q = req_for(url);

    q.if_none_match = "\"v1\"";
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 304);
    cr_assert_eq(r.body.len, 0);
    cr_assert_str_eq(r.etag, "\"v1\"");
    upstream_response_release(&r);

    q.if_none_match = "\"v0\"";
    cr_assert_eq(upstream_fetch(up, &q, &r), 0);
    cr_assert_eq(r.status, 200);
    upstream_response_release(&r);
    free(url);
}

Test(upstream, a_error_statuses_are_responses)
{
    struct upstream_response r;

    cr_assert_eq(get("/status/404", &r), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(buf_cstr(&r.body), "status 404\n");
    upstream_response_release(&r);
    cr_assert_eq(get("/status/403", &r), 0);
    cr_assert_eq(r.status, 403);
    upstream_response_release(&r);
    cr_assert_eq(get("/status/503", &r), 0);
    cr_assert_eq(r.status, 503);
    upstream_response_release(&r);
}

Test(upstream, a_empty_body)
{
    struct upstream_response r;

    cr_assert_eq(get("/empty", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body.len, 0);
    cr_assert_str_eq(buf_cstr(&r.body), "");
    cr_assert_eq(r.content_length, 0);
    upstream_response_release(&r);
}

Test(upstream, a_range_206)
{
    struct upstream_response r;
    char *url = url_of("/range");
    struct upstream_request q = req_for(url);

    q.range = "bytes=2-4";
    cr_assert_eq(upstream_fetch(up, &q, &r), 0);
    cr_assert_eq(r.status, 206);
    cr_assert_str_eq(buf_cstr(&r.body), "cde");
    cr_assert_str_eq(r.content_range, "bytes 2-4/26");
    cr_assert_eq(r.content_length, 3);
    upstream_response_release(&r);
    free(url);
}

Test(upstream, a_request_headers_sent)
{
    struct upstream_response r;
    char *url = url_of("/echo");
    struct upstream_request q = req_for(url);
    const char *b;

    q.accept = "application/vnd.pypi.simple.v1+json";
    q.if_modified_since = "Wed, 01 Jan 2025 00:00:00 GMT";
    q.if_none_match = "\"abc\"";
    q.username = "alice";
    q.password = "s3cr3t";
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    b = buf_cstr(&r.body);
    cr_assert(strstr(b, "\"accept\": \"application/vnd.pypi.simple.v1+json\"") != NULL, "%s", b);
    cr_assert(strstr(b, "\"if-modified-since\": \"Wed, 01 Jan 2025 00:00:00 GMT\"") != NULL, "%s",
              b);
    cr_assert(strstr(b, "\"if-none-match\": \"\\\"abc\\\"\"") != NULL, "%s", b);
    /* base64("alice:s3cr3t") */
    cr_assert(strstr(b, "\"authorization\": \"Basic YWxpY2U6czNjcjN0\"") != NULL, "%s", b);
    cr_assert(strstr(b, "\"user-agent\": \"imx-test/1\"") != NULL, "%s", b);
    cr_assert(strstr(b, "accept-encoding") == NULL, "%s", b);
    cr_assert(strstr(b, "\"range\"") == NULL, "%s", b);
    upstream_response_release(&r);

    /* A bare request sends no Accept, validators, Range or credentials. */
    q = req_for(url);
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    b = buf_cstr(&r.body);
    cr_assert(strstr(b, "\"accept\"") == NULL, "%s", b);
    cr_assert(strstr(b, "\"if-") == NULL, "%s", b);
    cr_assert(strstr(b, "authorization") == NULL, "%s", b);
    upstream_response_release(&r);
    free(url);
}

Test(upstream, a_plus_sent_as_2b)
{
    struct upstream_response r;
    const char *b;

    cr_assert_eq(get("/echo/whl/cu124/torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl", &r), 0);
    b = buf_cstr(&r.body);
    cr_assert(strstr(b, "\"path\": \"/echo/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64"
                        ".whl\"") != NULL,
              "%s", b);
    upstream_response_release(&r);

    /* Already encoded stays as it is; only the path changes, not the query. */
    cr_assert_eq(get("/echo/a%2Bb+c?q=x+y#sha256=ab+cd", &r), 0);
    b = buf_cstr(&r.body);
    cr_assert(strstr(b, "\"path\": \"/echo/a%2Bb%2Bc?q=x+y\"") != NULL, "%s", b);
    upstream_response_release(&r);
}

Test(upstream, a_bad_requests)
{
    struct upstream_response r;
    struct upstream_request q = req_for("ftp://127.0.0.1/x");
    char *url = url_of("/page");

    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_EINVAL);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': not an http(s) url");
    upstream_response_release(&r);

    q = req_for(url);
    q.if_none_match = "\"x\"\r\nX-Evil: 1";
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_EINVAL);
    upstream_response_release(&r);
    free(url);
}

/* ---------------------------------------------------------------------- */
/* b_: encodings, redirects                                               */

Test(upstream, b_gzip_decoded_for_pages)
{
    struct upstream_response r;
    char *url = url_of("/gzip");
    struct upstream_request q = req_for(url);

    q.gzip = true;
    cr_assert_eq(upstream_fetch(up, &q, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body.len, 24 * 200);
    cr_assert(strncmp(buf_cstr(&r.body), "indexmux gzip test body\n", 24) == 0);
    cr_assert_lt(r.content_length, 24 * 200); /* the encoded size */
    upstream_response_release(&r);
    free(url);
}

Test(upstream, b_files_never_decoded)
{
    struct upstream_response r;

    /* No Accept-Encoding: the server sends identity. */
    cr_assert_eq(get("/gzip", &r), 0);
    cr_assert_eq(r.body.len, 24 * 200);
    upstream_response_release(&r);

    /* A server that gzips anyway: the bytes are kept as sent. */
    cr_assert_eq(get("/gzip-always", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq((int64_t)r.body.len, r.content_length);
    cr_assert_eq((unsigned char)r.body.p[0], 0x1f);
    cr_assert_eq((unsigned char)r.body.p[1], 0x8b);
    upstream_response_release(&r);
}

Test(upstream, b_redirect_chain)
{
    struct upstream_response r;
    char *final = url_of("/page");

    cr_assert_eq(get("/redirect/3", &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(buf_cstr(&r.body), PAGE);
    cr_assert_str_eq(r.etag, "\"v1\"");
    cr_assert_str_eq(r.last_modified, "Wed, 01 Jan 2025 00:00:00 GMT");
    cr_assert_str_eq(r.effective_url, final);
    upstream_response_release(&r);

    /* Ten hops are fine, eleven are not. */
    cr_assert_eq(get("/redirect/9", &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200);
    upstream_response_release(&r);
    cr_assert_eq(get("/redirect/10", &r), IMX_EUPSTREAM);
    upstream_response_release(&r);
    free(final);
}

Test(upstream, b_redirect_resets_headers)
{
    struct upstream_response r;

    /* The hop has ETag and Content-Range, the final /empty has neither. */
    cr_assert_eq(get("/redirect-to?u=/empty", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_null(r.etag);
    cr_assert_null(r.content_range);
    cr_assert_null(r.last_modified);
    cr_assert_eq(r.content_length, 0);
    upstream_response_release(&r);
}

Test(upstream, b_redirect_loop)
{
    struct upstream_response r;

    cr_assert_eq(get("/loop", &r), IMX_EUPSTREAM);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': more than 10 redirects");
    upstream_response_release(&r);
}

Test(upstream, b_redirect_to_other_protocols)
{
    struct upstream_response r;
    long before = server_count("requests");

    cr_assert_eq(get("/redirect-to?u=ftp://127.0.0.1/x", &r), IMX_EUPSTREAM);
    cr_assert(strstr(r.error, "forbidden protocol") != NULL, "%s", r.error);
    cr_assert(strncmp(r.error, "upstream '", 10) == 0, "%s", r.error);
    upstream_response_release(&r);

    cr_assert_eq(get("/redirect-to?u=file:///etc/passwd", &r), IMX_EUPSTREAM);
    cr_assert(strstr(r.error, "forbidden protocol") != NULL, "%s", r.error);
    cr_assert_eq(r.body.len, 0);
    upstream_response_release(&r);
    cr_assert_eq(server_count("requests"), before + 2);
}

Test(upstream, b_redirect_to_other_host_drops_auth)
{
    struct upstream_response r;
    char *target = xasprintf("http://localhost:%d/echo", srv_port);
    char *path = xasprintf("/redirect-to?u=%s", target);
    char *url = url_of(path);
    struct upstream_request q = req_for(url);

    q.username = "alice";
    q.password = "s3cr3t";
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(buf_cstr(&r.body), "authorization") == NULL, "%s", buf_cstr(&r.body));
    cr_assert_str_eq(r.effective_url, target);
    upstream_response_release(&r);
    free(url);
    free(path);
    free(target);
}

/* ---------------------------------------------------------------------- */
/* c_: connections and concurrency                                        */

Test(upstream, c_connection_reuse)
{
    struct upstream_response r;
    long before = server_count("connections");

    for (int i = 0; i < 5; i++) {
        cr_assert_eq(get("/page", &r), 0);
        upstream_response_release(&r);
    }
    /* /_count itself ran on the same connection. */
    cr_assert_eq(server_count("connections"), before);
}

struct worker {
    int ok;
    int n;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < w->n; i++) {
        struct upstream_response r;
        const char *path = i % 2 ? "/page" : "/echo/x+y";

        if (get(path, &r) == 0 && r.status == 200 && r.body.len > 0)
            w->ok++;
        upstream_response_release(&r);
    }
    return NULL;
}

static void run_workers(int nthreads, int per)
{
    pthread_t t[8];
    struct worker w[8];

    cr_assert_leq(nthreads, 8);
    for (int i = 0; i < nthreads; i++) {
        w[i].ok = 0;
        w[i].n = per;
        cr_assert_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].ok, per, "thread %d: %d of %d", i, w[i].ok, per);
    }
}

Test(upstream, c_concurrent_8_threads)
{
    long conns;

    run_workers(8, 25);
    conns = server_count("connections");
    /* Connections are pooled: far fewer than the 200 requests. */
    cr_assert_leq(conns, 16, "%ld connections", conns);
    cr_assert_eq(server_count("requests"), 200);
}

Test(upstream, c_concurrent_capped)
{
    double t0;

    upstream_free(up);
    up = client(5, 2, false);
    t0 = now_s();
    run_workers(8, 10);
    /* A freed slot starts the next queued job at once (not at the next poll tick). */
    cr_assert_lt(now_s() - t0, 0.8);
    cr_assert_leq(server_count("connections"), 2);
}

Test(upstream, c_connection_refused)
{
    struct upstream_response r;
    char *url = xasprintf("http://127.0.0.1:%d/page", closed_port());
    struct upstream_request q = req_for(url);

    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_EUPSTREAM);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': connection refused");
    cr_assert_eq(r.status, 0);
    upstream_response_release(&r);
    free(url);
}

Test(upstream, c_closed_without_response)
{
    struct upstream_response r;

    cr_assert_eq(get("/drop", &r), IMX_EUPSTREAM);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': connection closed without a response");
    upstream_response_release(&r);
}

Test(upstream, c_offline_opens_nothing)
{
    struct upstream *off = client(5, 0, true);
    struct upstream_response r;
    long req0 = server_count("requests");
    long conn0 = server_count("connections");
    char *url = url_of("/page");
    struct upstream_request q = req_for(url);

    cr_assert_eq(upstream_fetch(off, &q, &r), IMX_EOFFLINE);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': offline mode forbids upstream requests");
    cr_assert_eq(r.status, 0);
    upstream_response_release(&r);
    cr_assert_eq(server_count("requests"), req0);
    cr_assert_eq(server_count("connections"), conn0);
    upstream_free(off);
    free(url);
}

struct bg_fetch {
    const char *path;
    int rc;
};

static void *bg_main(void *arg)
{
    struct bg_fetch *b = arg;
    struct upstream_response r;

    b->rc = get(b->path, &r);
    upstream_response_release(&r);
    return NULL;
}

Test(upstream, c_free_cancels_pending)
{
    struct bg_fetch b[3] = {{"/stall-first?s=5", 1}, {"/stall-first?s=5", 1}, {"/page", 1}};
    pthread_t t[3];
    double t0;

    upstream_free(up);
    up = client(10, 1, false); /* one in flight, the others queued */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pthread_create(&t[i], NULL, bg_main, &b[i]), 0);
        usleep(50 * 1000);
    }
    usleep(300 * 1000);
    t0 = now_s();
    upstream_free(up);
    up = NULL;
    cr_assert_lt(now_s() - t0, 2.0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(b[i].rc, IMX_ECANCELED, "fetch %d: %d", i, b[i].rc);
    }
}

/* ---------------------------------------------------------------------- */
/* d_: faults: timeouts, truncation, caps                                 */

Test(upstream, d_stall_before_first_byte)
{
    struct upstream_response r;
    double t0;

    upstream_free(up);
    up = client(1, 0, false);
    t0 = now_s();
    cr_assert_eq(get("/stall-first?s=4", &r), IMX_ETIMEDOUT, "%s", r.error);
    cr_assert_lt(now_s() - t0, 3.5);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': timed out (no data for 1 s)");
    upstream_response_release(&r);
}

Test(upstream, d_stall_mid_body)
{
    struct upstream_response r;

    upstream_free(up);
    up = client(1, 0, false);
    cr_assert_eq(get("/stall-mid?s=6", &r), IMX_ETIMEDOUT, "%s", r.error);
    cr_assert_eq(r.status, 200);
    upstream_response_release(&r);
}

Test(upstream, d_total_timeout)
{
    struct upstream_response r;
    char *url = url_of("/stall-mid?s=4");
    struct upstream_request q = req_for(url);

    q.total_timeout = 1;
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_ETIMEDOUT);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': transfer timed out after 1 s");
    upstream_response_release(&r);
    free(url);
}

Test(upstream, d_short_body)
{
    struct upstream_response r;

    cr_assert_eq(get("/short", &r), IMX_EUPSTREAM);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': body shorter than content-length");
    upstream_response_release(&r);
}

Test(upstream, d_body_cap)
{
    struct upstream_response r;
    char *url;
    struct upstream_request q;

    /* Content-Length over the cap: refused before any body byte. */
    url = url_of("/huge?n=5000000");
    q = req_for(url);
    q.max_body = 100000;
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_ETOOLARGE);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': body larger than 100000 bytes");
    cr_assert_eq(r.body.len, 0);
    upstream_response_release(&r);
    free(url);

    /* No Content-Length: stopped when the cap is passed. */
    url = url_of("/huge-chunked?n=5000000");
    q = req_for(url);
    q.max_body = 100000;
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_ETOOLARGE);
    cr_assert_leq(r.body.len, 100000);
    upstream_response_release(&r);
    free(url);

    /* Exactly at the cap is fine. */
    url = url_of("/huge-chunked?n=100000");
    q = req_for(url);
    q.max_body = 100000;
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    cr_assert_eq(r.body.len, 100000);
    upstream_response_release(&r);
    free(url);

    /* The client still works afterwards. */
    cr_assert_eq(get("/page", &r), 0);
    upstream_response_release(&r);
}

Test(upstream, d_credentials_never_leak)
{
    struct upstream_response r;
    char *url;
    struct upstream_request q;

    /* In the URL itself. */
    url = xasprintf("http://alice:s3cr3t@127.0.0.1:%d/page", srv_port);
    q = req_for(url);
    cr_assert_eq(upstream_fetch(up, &q, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.effective_url, "s3cr3t") == NULL, "%s", r.effective_url);
    cr_assert(strstr(r.effective_url, "alice") == NULL, "%s", r.effective_url);
    upstream_response_release(&r);
    free(url);

    /* Failures: the error names the host only. */
    url = xasprintf("http://alice:s3cr3t@127.0.0.1:%d/secret/path", closed_port());
    q = req_for(url);
    q.username = "bob";
    q.password = "hunter2";
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_EUPSTREAM);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': connection refused");
    cr_assert(r.effective_url == NULL || strstr(r.effective_url, "s3cr3t") == NULL);
    upstream_response_release(&r);
    free(url);

    url = xasprintf("http://alice:s3cr3t@127.0.0.1:%d/loop", srv_port);
    q = req_for(url);
    q.username = "bob";
    q.password = "hunter2";
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_EUPSTREAM);
    cr_assert(strstr(r.error, "s3cr3t") == NULL && strstr(r.error, "hunter2") == NULL);
    cr_assert(strstr(r.error, "alice") == NULL && strstr(r.error, "bob") == NULL);
    cr_assert(strstr(r.effective_url, "s3cr3t") == NULL, "%s", r.effective_url);
    upstream_response_release(&r);
    free(url);
}

Test(upstream, d_tls_verification)
{
    char dir[] = "/tmp/imx-upstream-tls-XXXXXX";
    char cmd[1024];
    char cert[128];
    char key[128];
    char *url;
    const char *extra[4];
    struct upstream_request q;
    struct upstream_response r;
    pid_t pid;
    int port = 0;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        cr_skip_test("openssl cannot make a test certificate");
    extra[0] = "--tls";
    extra[1] = cert;
    extra[2] = key;
    extra[3] = NULL;
    pid = srv_spawn(extra, &port);
    url = xasprintf("https://127.0.0.1:%d/page", port);

    /* Verified by default against the system CAs: a self-signed server fails. */
    q = req_for(url);
    cr_assert_eq(upstream_fetch(up, &q, &r), IMX_EUPSTREAM);
    cr_assert_str_eq(r.error, "upstream '127.0.0.1': tls certificate verification failed");
    upstream_response_release(&r);

    /* The per-request CA file makes it trusted. */
    q.ca_file = cert;
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(buf_cstr(&r.body), PAGE);
    upstream_response_release(&r);

    /* Verification off only when asked. */
    q = req_for(url);
    q.tls_verify = false;
    cr_assert_eq(upstream_fetch(up, &q, &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200);
    upstream_response_release(&r);

    srv_kill(pid);
    free(url);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* ---------------------------------------------------------------------- */
/* e_: streaming callbacks                                                */

struct trace {
    char log[256];
    size_t len;
    long status;
    int64_t cl;
    int headers_calls;
    size_t bytes;
    int stop_headers;
    int stop_data;
};

static int trace_headers(void *ctx, long status, int64_t cl)
{
    struct trace *t = ctx;

    t->headers_calls++;
    t->status = status;
    t->cl = cl;
    if (t->len + 1 < sizeof(t->log))
        t->log[t->len++] = 'H';
    return t->stop_headers;
}

static int trace_data(void *ctx, const void *p, size_t n)
{
    struct trace *t = ctx;

    UNUSED(p);
    t->bytes += n;
    if (t->len + 1 < sizeof(t->log) && (t->len == 0 || t->log[t->len - 1] != 'D'))
        t->log[t->len++] = 'D';
    return t->stop_data;
}

static int stream(const char *path, struct trace *t, struct upstream_response *r)
{
    char *url = url_of(path);
    struct upstream_request q = req_for(url);
    int rc;

    q.on_headers = trace_headers;
    q.on_data = trace_data;
    q.ctx = t;
    rc = upstream_fetch(up, &q, r);
    free(url);
    return rc;
}

Test(upstream, e_stream_order)
{
    struct trace t = {0};
    struct upstream_response r;

    cr_assert_eq(stream("/huge?n=300000", &t, &r), 0, "%s", r.error);
    cr_assert_str_eq(t.log, "HD");
    cr_assert_eq(t.headers_calls, 1);
    cr_assert_eq(t.status, 200);
    cr_assert_eq(t.cl, 300000);
    cr_assert_eq(t.bytes, 300000);
    cr_assert_eq(r.body.len, 0); /* streamed, not collected */
    upstream_response_release(&r);
}

Test(upstream, e_stream_headers_after_redirects_only)
{
    struct trace t = {0};
    struct upstream_response r;

    cr_assert_eq(stream("/redirect/3", &t, &r), 0);
    cr_assert_str_eq(t.log, "HD");
    cr_assert_eq(t.headers_calls, 1);
    cr_assert_eq(t.status, 200);
    cr_assert_eq(t.cl, (int64_t)strlen(PAGE));
    cr_assert_eq(t.bytes, strlen(PAGE));
    upstream_response_release(&r);
}

Test(upstream, e_stream_empty_body_still_gets_headers)
{
    struct trace t = {0};
    struct upstream_response r;

    cr_assert_eq(stream("/empty", &t, &r), 0);
    cr_assert_str_eq(t.log, "H");
    cr_assert_eq(t.status, 200);
    cr_assert_eq(t.cl, 0);
    upstream_response_release(&r);

    memset(&t, 0, sizeof(t));
    cr_assert_eq(stream("/status/404", &t, &r), 0);
    cr_assert_str_eq(t.log, "HD");
    cr_assert_eq(t.status, 404);
    upstream_response_release(&r);
}

Test(upstream, e_stream_stop)
{
    struct trace t = {0};
    struct upstream_response r;

    t.stop_headers = 1;
    cr_assert_eq(stream("/huge?n=300000", &t, &r), IMX_ECANCELED);
    cr_assert_str_eq(t.log, "H");
    cr_assert_eq(t.bytes, 0);
    upstream_response_release(&r);

    memset(&t, 0, sizeof(t));
    t.stop_headers = 1;
    cr_assert_eq(stream("/empty", &t, &r), IMX_ECANCELED);
    upstream_response_release(&r);

    memset(&t, 0, sizeof(t));
    t.stop_data = 1;
    cr_assert_eq(stream("/huge?n=300000", &t, &r), IMX_ECANCELED);
    cr_assert_str_eq(t.log, "HD");
    cr_assert_lt(t.bytes, 300000);
    upstream_response_release(&r);

    /* The client is still usable. */
    cr_assert_eq(get("/page", &r), 0);
    upstream_response_release(&r);
}

/* ---------------------------------------------------------------------- */
/* f_: URL helpers (no server needed)                                     */

struct resolve_case {
    const char *base;
    const char *ref;
    const char *want; /* NULL: IMX_ESYNTAX */
};

Test(upstream, f_url_resolve)
{
    static const struct resolve_case cases[] = {
        {"https://download.pytorch.org/whl/cu124/torch/",
         "/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl#sha256=bf64",
         "https://download.pytorch.org/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl"
         "#sha256=bf64"},
        {"https://download.pytorch.org/whl/cu124/torch/", "/whl/cu124/x%2Bcu124.whl",
         "https://download.pytorch.org/whl/cu124/x%2Bcu124.whl"},
        {"https://download.pytorch.org/whl/cu124/", "torch/",
         "https://download.pytorch.org/whl/cu124/torch/"},
        {"https://h.example/a/b/", "../x", "https://h.example/a/x"},
        {"https://h.example/a/b", "../x", "https://h.example/x"},
        {"https://h.example/a/b/", "x", "https://h.example/a/b/x"},
        {"https://h.example/a/b", "x", "https://h.example/a/x"},
        {"https://pypi.org/simple/torch/",
         "https://files.pythonhosted.org/packages/ab/cd/torch-2.0.tar.gz#sha256=00",
         "https://files.pythonhosted.org/packages/ab/cd/torch-2.0.tar.gz#sha256=00"},
        {"https://pypi.org/simple/torch/", "//files.example.org/f.whl",
         "https://files.example.org/f.whl"},
        {"http://127.0.0.1:8080/simple/", "HTTP://Example.org/x", "http://Example.org/x"},
        {"https://pypi.org/simple/torch/", "javascript:alert(1)", NULL},
        {"https://pypi.org/simple/torch/", "ftp://example.org/x.whl", NULL},
        {"https://pypi.org/simple/torch/", "file:///etc/passwd", NULL},
        {"https://pypi.org/simple/torch/", "mailto:a@example.org", NULL},
        {"ftp://example.org/", "x", NULL},
        {"/relative/base/", "x", NULL},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = NULL;
        int rc = upstream_url_resolve(cases[i].base, cases[i].ref, &out);

        if (cases[i].want == NULL) {
            cr_expect_eq(rc, IMX_ESYNTAX, "%s + %s gave %s", cases[i].base, cases[i].ref,
                         out ? out : "?");
        } else {
            cr_expect_eq(rc, 0, "%s + %s", cases[i].base, cases[i].ref);
            if (rc == 0)
                cr_expect_str_eq(out, cases[i].want, "%s + %s", cases[i].base, cases[i].ref);
        }
        free(out);
    }
}

Test(upstream, f_url_host)
{
    char *h;

    h = upstream_url_host("https://user:pw@Files.Example.org:8443/a?b#c");
    cr_assert_str_eq(h, "Files.Example.org");
    free(h);
    h = upstream_url_host("http://[::1]:80/");
    cr_assert_str_eq(h, "[::1]");
    free(h);
    cr_assert_null(upstream_url_host("not a url"));
    cr_assert_null(upstream_url_host(NULL));
}
