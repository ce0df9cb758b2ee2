/*
 * upstream.c - the HTTP client of indexmux: the only file that includes
 * <curl/curl.h> (STYLE.md habit 11). It fetches upstream pages and files and
 * knows nothing of PEP formats; see upstream.h for the contract.
 *
 * Threading (libcurl-thread.md: never share a handle between threads): one
 * CURLM multi handle is owned by one thread, the "curl thread", started by
 * upstream_new and joined by upstream_free. Every easy handle is created,
 * driven and cleaned up on that thread only. Other threads talk to it through
 * `struct upstream.lock`: upstream_fetch() puts a job on the queue, calls
 * curl_multi_wakeup() (the one multi function documented as callable from
 * any thread) and sleeps on the job's condition variable until the curl
 * thread marks it done. Connections live in the multi handle's pool, so they
 * are reused across jobs although each job gets a fresh easy handle.
 *
 * Job phases (who may touch a job in each):
 *
 *   phase      where                      owner        next
 *   ---------  -------------------------  -----------  -----------------------
 *   queued     u->queue (under u->lock)   lock holder  active, or done (cancel)
 *   active     u->active, in the multi    curl thread  done
 *   done       job->done = true           caller       (upstream_fetch returns)
 *
 * The job itself lives on the caller's stack: it stays valid until the
 * caller sees `done` under the lock, which is the last time the curl thread
 * touches it.
 *
 * Shutdown: upstream_free sets `stopping`; the curl thread fails queued jobs
 * and aborts active transfers with IMX_ECANCELED, then exits. upstream_free
 * joins it and waits until every caller has left upstream_fetch before it
 * destroys the lock and the multi handle.
 */
#include "compat.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "upstream.h"
#include "xalloc.h"

#ifndef IMX_VERSION
#define IMX_VERSION "0.1.0"
#endif

#define UPSTREAM_MAGIC 0x55505354u     /* "UPST" */
#define UPSTREAM_JOB_MAGIC 0x55504a42u /* "UPJB" */

#define UPSTREAM_MAX_REDIRS 10L
#define UPSTREAM_HEADER_MAX 8192 /* longer captured header values are dropped */

struct upstream_job {
    unsigned magic;
    struct upstream_job *next; /* queue or active list */
    const struct upstream_request *req;
    struct upstream_response *r;
    char *url;  /* as sent: '+' in the path re-encoded */
    char *host; /* for error messages */
    CURL *easy;
    struct curl_slist *headers;
    unsigned total_timeout;
    unsigned low_speed_time;
    /* response parsing, curl thread only */
    long hdr_status;       /* status line of the response being received */
    bool headers_done;     /* on_headers ran (or would have) for the final response */
    uint64_t received;     /* body bytes seen */
    int abort_rc;          /* why a callback stopped the transfer, 0: it did not */
    curl_off_t last_dlnow; /* bytes received at the last progress (upstream_progress_cb) */
    int64_t last_progress_ms; /* monotonic ms of that progress, 0: not started */
    /* completion, under u->lock */
    pthread_cond_t cv;
    bool done;
    int rc;
};

struct upstream {
    unsigned magic;
    struct upstream_opts opts; /* user_agent points at ua */
    char *ua;
    CURLM *multi;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t idle_cv; /* signalled when callers drops to 0 while stopping */
    struct upstream_job *queue_head;
    struct upstream_job *queue_tail;
    unsigned callers; /* threads inside upstream_fetch */
    bool stopping;

    /* curl thread only */
    struct upstream_job *active;
    unsigned inflight;
};

/* ------------------------------------------------------------------------ */
/* process-wide libcurl state                                               */

int upstream_global_init(void)
{
    CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (code != CURLE_OK) {
        log_errorx("cannot initialise libcurl: %s", curl_easy_strerror(code));
        return IMX_EIO;
    }
    return 0;
}

void upstream_global_cleanup(void)
{
    curl_global_cleanup();
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                     */

static bool upstream_scheme_ok(CURLU *h)
{
    char *scheme = NULL;
    char *host = NULL;
    bool ok = false;

    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
        goto out;
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
        goto out;
    ok = true;
out:
    curl_free(scheme);
    curl_free(host);
    return ok;
}

int upstream_url_resolve(const char *base, const char *ref, char **out)
{
    CURLU *h = NULL;
    char *url = NULL;
    int rc = IMX_ESYNTAX;

    assert(base != NULL && ref != NULL && out != NULL);
    h = curl_url();
    if (h == NULL)
        goto out;
    if (curl_url_set(h, CURLUPART_URL, base, 0) != CURLUE_OK || !upstream_scheme_ok(h))
        goto out;
    /* With a base set, libcurl resolves ref as RFC 3986 section 5 says. */
    if (curl_url_set(h, CURLUPART_URL, ref, 0) != CURLUE_OK || !upstream_scheme_ok(h))
        goto out;
    if (curl_url_get(h, CURLUPART_URL, &url, 0) != CURLUE_OK)
        goto out;
    *out = xstrdup(url);
    rc = 0;
out:
    curl_free(url);
    curl_url_cleanup(h);
    return rc;
}

char *upstream_url_host(const char *url)
{
    CURLU *h = NULL;
    char *host = NULL;
    char *res = NULL;

    if (url == NULL)
        return NULL;
    h = curl_url();
    if (h == NULL)
        goto out;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    res = xstrdup(host);
out:
    curl_free(host);
    curl_url_cleanup(h);
    return res;
}

/*
 * The URL to hand to libcurl: the request URL with every '+' in the path
 * sent as %2B (S3-backed hosts such as download.pytorch.org decode '+' as a
 * space and answer 403), nothing else changed. Only http(s) is accepted.
 * The path is rewritten in the URL text rather than with CURLUPART_PATH,
 * which would also lower-case every existing percent-escape.
 * Returns 0 with *out (malloc'd), or IMX_EINVAL.
 */
static int upstream_url_for_wire(const char *url, char **out /* OUT */)
{
    CURLU *h = NULL;
    char *norm = NULL;
    const char *p;
    struct buf b;
    int rc = IMX_EINVAL;

    buf_init(&b, BUF_NOMAX);
    h = curl_url();
    if (h == NULL)
        goto out;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK || !upstream_scheme_ok(h))
        goto out;
    /* The fragment (#sha256=...) is never sent anyway. */
    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_get(h, CURLUPART_URL, &norm, 0) != CURLUE_OK)
        goto out;
    /* norm is "scheme://authority/path?query": the authority has no '/', '?' or '#'. */
    p = strstr(norm, "://");
    if (p == NULL)
        goto out;
    p += 3;
    p += strcspn(p, "/?#");
    buf_append(&b, norm, (size_t)(p - norm));
    for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
        if (*p == '+')
            buf_appends(&b, "%2B");
        else
            buf_putc(&b, *p);
    }
    buf_appends(&b, p);
    *out = buf_detach(&b, NULL);
    rc = 0;
out:
    curl_free(norm);
    curl_url_cleanup(h);
    buf_release(&b);
    return rc;
}

/* A copy of url without user:password@ (and login options); NULL if it does not parse. */
static char *upstream_url_strip_userinfo(const char *url)
{
    CURLU *h = NULL;
    char *res = NULL;
    char *copy = NULL;

    h = curl_url();
    if (h == NULL)
        goto out;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    curl_url_set(h, CURLUPART_USER, NULL, 0);
    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(h, CURLUPART_OPTIONS, NULL, 0);
    if (curl_url_get(h, CURLUPART_URL, &res, 0) != CURLUE_OK)
        goto out;
    copy = xstrdup(res);
out:
    curl_free(res);
    curl_url_cleanup(h);
    return copy;
}

/* ------------------------------------------------------------------------ */
/* responses                                                                */

void upstream_response_init(struct upstream_response *r)
{
    assert(r != NULL);
    memset(r, 0, sizeof(*r));
    r->content_length = -1;
    buf_init(&r->body, BUF_NOMAX);
}

static void upstream_response_clear_headers(struct upstream_response *r)
{
    free(r->etag);
    free(r->last_modified);
    free(r->content_type);
    free(r->content_range);
    r->etag = NULL;
    r->last_modified = NULL;
    r->content_type = NULL;
    r->content_range = NULL;
    r->content_length = -1;
}

void upstream_response_release(struct upstream_response *r)
{
    if (r == NULL)
        return;
    upstream_response_clear_headers(r);
    free(r->effective_url);
    r->effective_url = NULL;
    buf_release(&r->body);
    r->status = 0;
    r->error[0] = '\0';
}

static void upstream_set_error(struct upstream_response *r, const char *host, const char *fmt,
                               ...) __attribute__((format(printf, 3, 4)));

static void upstream_set_error(struct upstream_response *r, const char *host, const char *fmt,
                               ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(r->error, sizeof(r->error), "upstream '%s': %s", host != NULL ? host : "?", what);
}

/* ------------------------------------------------------------------------ */
/* libcurl callbacks (curl thread)                                          */

static bool upstream_header_is(const char *line, size_t n, const char *name, size_t *vstart)
{
    size_t nl = strlen(name);

    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return false;
    *vstart = nl + 1;
    return true;
}

static char *upstream_header_value(const char *line, size_t n, size_t start)
{
    struct str v = str_trim(str_make(line + start, n - start));

    if (v.len > UPSTREAM_HEADER_MAX)
        return NULL;
    return str_dup(v);
}

static void upstream_header_take(char **slot, char *v)
{
    free(*slot);
    *slot = v;
}

/* Called once per header line of every response, redirects included. */
static size_t upstream_header_cb(char *line, size_t size, size_t nitems, void *arg)
{
    struct upstream_job *job = arg;
    struct upstream_response *r = job->r;
    size_t n = size * nitems;
    size_t vs = 0;

    CHECK_OBJ(job, UPSTREAM_JOB_MAGIC);
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response: forget the headers of the previous one (redirect, 1xx). */
        const char *sp = memchr(line, ' ', n);
        uint64_t code = 0;

        upstream_response_clear_headers(r);
        job->hdr_status = 0;
        if (sp != NULL && (size_t)(line + n - sp) > 3 &&
            str_to_u64(str_make(sp + 1, 3), 999, &code) == 0)
            job->hdr_status = (long)code;
        return n;
    }
    if (upstream_header_is(line, n, "etag", &vs)) {
        upstream_header_take(&r->etag, upstream_header_value(line, n, vs));
    } else if (upstream_header_is(line, n, "last-modified", &vs)) {
        upstream_header_take(&r->last_modified, upstream_header_value(line, n, vs));
    } else if (upstream_header_is(line, n, "content-type", &vs)) {
        upstream_header_take(&r->content_type, upstream_header_value(line, n, vs));
    } else if (upstream_header_is(line, n, "content-range", &vs)) {
        upstream_header_take(&r->content_range, upstream_header_value(line, n, vs));
    } else if (upstream_header_is(line, n, "content-length", &vs)) {
        uint64_t cl = 0;

        if (str_to_u64(str_trim(str_make(line + vs, n - vs)), INT64_MAX, &cl) == 0)
            r->content_length = (int64_t)cl;
    } else if (str_trim(str_make(line, n)).len == 0) {
        /*
         * End of a header block. Refuse early a body we would not keep.
         * 3xx are skipped: redirects are followed (their bodies ignored) and
         * a 304 may carry the Content-Length of the full representation.
         */
        bool final_like = job->hdr_status >= 200 && (job->hdr_status < 300 || job->hdr_status >= 400);

        if (final_like && job->req->max_body != 0 && r->content_length >= 0 &&
            (uint64_t)r->content_length > job->req->max_body) {
            job->abort_rc = IMX_ETOOLARGE;
            return 0;
        }
    }
    return n;
}

/* Runs the on_headers callback once; false when it asked to stop. */
static bool upstream_deliver_headers(struct upstream_job *job, long status)
{
    const struct upstream_request *req = job->req;

    if (job->headers_done)
        return true;
    job->headers_done = true;
    if (req->on_headers != NULL && req->on_headers(req->ctx, status, job->r->content_length) != 0) {
        job->abort_rc = IMX_ECANCELED;
        return false;
    }
    return true;
}

/* Body bytes of the final response only: libcurl skips redirect bodies. */
static size_t upstream_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct upstream_job *job = arg;
    const struct upstream_request *req = job->req;
    size_t n = size * nmemb;

    CHECK_OBJ(job, UPSTREAM_JOB_MAGIC);
    if (!upstream_deliver_headers(job, job->hdr_status))
        return 0;
    if (req->max_body != 0 && (job->received + n < job->received ||
                               job->received + n > req->max_body)) {
        job->abort_rc = IMX_ETOOLARGE;
        return 0;
    }
    job->received += n;
    if (req->on_data != NULL) {
        if (n > 0 && req->on_data(req->ctx, p, n) != 0) {
            job->abort_rc = IMX_ECANCELED;
            return 0;
        }
    } else if (buf_append(&job->r->body, p, n) != 0) {
        job->abort_rc = IMX_ETOOLARGE;
        return 0;
    }
    return n;
}

static int64_t upstream_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * "timeout": seconds without a received byte. CURLOPT_LOW_SPEED_TIME alone
 * does not bound that: libcurl averages the speed over its last ~5 s, so a
 * body that stalls after a burst failed only after timeout + 6 s. Time from
 * the last byte instead; the connect phase has CURLOPT_CONNECTTIMEOUT.
 */
static int upstream_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                                curl_off_t ultotal, curl_off_t ulnow)
{
    struct upstream_job *job = arg;
    curl_off_t connect_us = 0;
    int64_t now = upstream_now_ms();

    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    CHECK_OBJ(job, UPSTREAM_JOB_MAGIC);
    curl_easy_getinfo(job->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    if (job->last_progress_ms == 0 || dlnow != job->last_dlnow || connect_us == 0) {
        job->last_dlnow = dlnow;
        job->last_progress_ms = now;
        return 0;
    }
    if (job->low_speed_time != 0 &&
        now - job->last_progress_ms >= (int64_t)job->low_speed_time * 1000) {
        job->abort_rc = IMX_ETIMEDOUT;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* jobs (curl thread)                                                       */

static bool upstream_header_value_ok(const char *v)
{
    return strpbrk(v, "\r\n") == NULL;
}

static void upstream_add_header(struct upstream_job *job, const char *name, const char *value)
{
    struct curl_slist *l;
    char *line;

    if (value == NULL)
        return;
    /* "Name:" with nothing after the colon tells libcurl to send no such header. */
    line = value[0] != '\0' ? xasprintf("%s: %s", name, value) : xasprintf("%s:", name);
    l = curl_slist_append(job->headers, line);
    free(line);
    if (l == NULL) {
        fprintf(stderr, "indexmux: out of memory\n");
        abort();
    }
    job->headers = l;
}

#define SETOPT(opt, val)                                                                        \
    do {                                                                                        \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK)                                          \
            goto fail;                                                                          \
    } while (0)

/* Create and configure the easy handle of a job. 0 or IMX_EINVAL. */
static int upstream_job_setup(struct upstream *u, struct upstream_job *job)
{
    const struct upstream_request *req = job->req;
    CURL *e;

    e = curl_easy_init();
    if (e == NULL)
        return IMX_EIO;
    job->easy = e;
    SETOPT(CURLOPT_URL, job->url);
    SETOPT(CURLOPT_PRIVATE, (void *)job);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
    SETOPT(CURLOPT_MAXREDIRS, UPSTREAM_MAX_REDIRS);
    SETOPT(CURLOPT_CONNECTTIMEOUT, (long)u->opts.connect_timeout);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, (long)u->opts.low_speed_time);
    SETOPT(CURLOPT_TIMEOUT, (long)job->total_timeout);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SETOPT(CURLOPT_PIPEWAIT, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_USERAGENT, u->ua);
    if (req->gzip) {
        SETOPT(CURLOPT_ACCEPT_ENCODING, "gzip");
    } else {
        /* Files are stored byte for byte: never decode, whatever the server sends. */
        SETOPT(CURLOPT_HTTP_CONTENT_DECODING, 0L);
    }
    if (req->username != NULL) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, req->username);
        SETOPT(CURLOPT_PASSWORD, req->password != NULL ? req->password : "");
    }
    SETOPT(CURLOPT_SSL_VERIFYPEER, req->tls_verify ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, req->tls_verify ? 2L : 0L);
    if (req->ca_file != NULL)
        SETOPT(CURLOPT_CAINFO, req->ca_file);
    if (req->accept != NULL)
        upstream_add_header(job, "Accept", req->accept);
    else
        upstream_add_header(job, "Accept", ""); /* drop libcurl's default Accept */
    upstream_add_header(job, "If-None-Match", req->if_none_match);
    upstream_add_header(job, "If-Modified-Since", req->if_modified_since);
    upstream_add_header(job, "Range", req->range);
    if (job->headers != NULL)
        SETOPT(CURLOPT_HTTPHEADER, job->headers);
    SETOPT(CURLOPT_HEADERFUNCTION, upstream_header_cb);
    SETOPT(CURLOPT_HEADERDATA, (void *)job);
    SETOPT(CURLOPT_WRITEFUNCTION, upstream_write_cb);
    SETOPT(CURLOPT_WRITEDATA, (void *)job);
    SETOPT(CURLOPT_XFERINFOFUNCTION, upstream_progress_cb);
    SETOPT(CURLOPT_XFERINFODATA, (void *)job);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    /* Big reads for big files: fewer callbacks, fewer wake-ups downstream. */
    SETOPT(CURLOPT_BUFFERSIZE, 512L * 1024);
    return 0;
fail:
    return IMX_EINVAL;
}

#undef SETOPT

/* Mark a job done and wake its caller. The job must not be touched afterwards. */
static void upstream_job_done(struct upstream *u, struct upstream_job *job, int rc)
{
    if (job->easy != NULL) {
        curl_easy_cleanup(job->easy);
        job->easy = NULL;
    }
    curl_slist_free_all(job->headers);
    job->headers = NULL;
    pthread_mutex_lock(&u->lock);
    job->rc = rc;
    job->done = true;
    pthread_cond_signal(&job->cv);
    pthread_mutex_unlock(&u->lock);
}

static void upstream_job_start(struct upstream *u, struct upstream_job *job)
{
    int rc = upstream_job_setup(u, job);

    if (rc == 0 && curl_multi_add_handle(u->multi, job->easy) != CURLM_OK)
        rc = IMX_EIO;
    if (rc != 0) {
        upstream_set_error(job->r, job->host, "cannot set up the transfer");
        upstream_job_done(u, job, rc);
        return;
    }
    job->next = u->active;
    u->active = job;
    u->inflight++;
}

static void upstream_job_unlink(struct upstream *u, struct upstream_job *job)
{
    for (struct upstream_job **pp = &u->active; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            job->next = NULL;
            u->inflight--;
            return;
        }
    }
    assert(!"job not in the active list");
}

/* Map a finished transfer to an IMX code and r->error. */
static int upstream_job_result(struct upstream_job *job, CURLcode code)
{
    struct upstream_response *r = job->r;
    const char *host = job->host;
    char *eff = NULL;
    char *eff_host = NULL;
    long status = 0;
    long os_errno = 0;
    long redirects = 0;
    curl_off_t total_us = 0;
    curl_off_t connect_us = 0;
    int rc = 0;

    curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    if (curl_easy_getinfo(job->easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff != NULL) {
        r->effective_url = upstream_url_strip_userinfo(eff);
        eff_host = upstream_url_host(eff);
        if (eff_host != NULL)
            host = eff_host;
    }
    curl_easy_getinfo(job->easy, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(job->easy, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(job->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(job->easy, CURLINFO_CONNECT_TIME_T, &connect_us);

    if (job->abort_rc != 0) {
        rc = job->abort_rc;
        if (rc == IMX_ETOOLARGE)
            upstream_set_error(r, host, "body larger than %" PRIu64 " bytes", job->req->max_body);
        else if (rc == IMX_ETIMEDOUT)
            upstream_set_error(r, host, "timed out (no data for %u s)", job->low_speed_time);
        else
            upstream_set_error(r, host, "transfer stopped by the receiver");
        goto out;
    }
    switch (code) {
    case CURLE_OK:
        if (!upstream_deliver_headers(job, status)) {
            rc = IMX_ECANCELED;
            upstream_set_error(r, host, "transfer stopped by the receiver");
        }
        goto out;
    case CURLE_OPERATION_TIMEDOUT:
        rc = IMX_ETIMEDOUT;
        if (job->total_timeout != 0 && total_us >= (curl_off_t)job->total_timeout * 1000000 - 50000)
            upstream_set_error(r, host, "transfer timed out after %u s", job->total_timeout);
        else if (connect_us == 0)
            upstream_set_error(r, host, "connect timed out");
        else
            upstream_set_error(r, host, "timed out (no data for %u s)", job->low_speed_time);
        goto out;
    case CURLE_PARTIAL_FILE:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "body shorter than content-length");
        goto out;
    case CURLE_TOO_MANY_REDIRECTS:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "more than %ld redirects", UPSTREAM_MAX_REDIRS);
        goto out;
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, redirects > 0 || status >= 300
                                        ? "redirect to a forbidden protocol"
                                        : "unsupported protocol");
        goto out;
    case CURLE_COULDNT_RESOLVE_HOST:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "cannot resolve host");
        goto out;
    case CURLE_COULDNT_CONNECT:
        rc = IMX_EUPSTREAM;
        if (os_errno == ECONNREFUSED || os_errno == 0)
            upstream_set_error(r, host, "connection refused");
        else
            upstream_set_error(r, host, "cannot connect: %s", strerror((int)os_errno));
        goto out;
    case CURLE_GOT_NOTHING:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "connection closed without a response");
        goto out;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "connection reset");
        goto out;
    case CURLE_PEER_FAILED_VERIFICATION:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "tls certificate verification failed");
        goto out;
    case CURLE_BAD_CONTENT_ENCODING:
        rc = IMX_EUPSTREAM;
        upstream_set_error(r, host, "bad content encoding");
        goto out;
    case CURLE_FILESIZE_EXCEEDED:
        rc = IMX_ETOOLARGE;
        upstream_set_error(r, host, "body larger than %" PRIu64 " bytes", job->req->max_body);
        goto out;
    default:
        rc = IMX_EUPSTREAM;
        /* curl_easy_strerror is a fixed text: no URL, no credentials. */
        upstream_set_error(r, host, "%s", curl_easy_strerror(code));
        goto out;
    }
out:
    free(eff_host);
    return rc;
}

/* Collect finished transfers; returns how many. */
static unsigned upstream_reap(struct upstream *u)
{
    CURLMsg *msg;
    int left = 0;
    unsigned n = 0;

    while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
        struct upstream_job *job = NULL;
        int rc;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&job);
        CHECK_OBJ(job, UPSTREAM_JOB_MAGIC);
        /* msg is invalid after remove_handle: read the result first. */
        rc = upstream_job_result(job, msg->data.result);
        curl_multi_remove_handle(u->multi, job->easy);
        upstream_job_unlink(u, job);
        upstream_job_done(u, job, rc);
        n++;
    }
    return n;
}

/* Fail every queued and active job with IMX_ECANCELED (shutdown). */
static void upstream_cancel_all(struct upstream *u)
{
    struct upstream_job *queued;

    pthread_mutex_lock(&u->lock);
    queued = u->queue_head;
    u->queue_head = NULL;
    u->queue_tail = NULL;
    pthread_mutex_unlock(&u->lock);
    while (queued != NULL) {
        struct upstream_job *job = queued;

        queued = job->next;
        upstream_set_error(job->r, job->host, "client shutting down");
        upstream_job_done(u, job, IMX_ECANCELED);
    }
    while (u->active != NULL) {
        struct upstream_job *job = u->active;

        curl_multi_remove_handle(u->multi, job->easy);
        upstream_job_unlink(u, job);
        upstream_set_error(job->r, job->host, "client shutting down");
        upstream_job_done(u, job, IMX_ECANCELED);
    }
}

static void *upstream_thread(void *arg)
{
    struct upstream *u = arg;

    CHECK_OBJ(u, UPSTREAM_MAGIC);
    for (;;) {
        struct upstream_job *start = NULL;
        struct upstream_job **tail = &start;
        bool stop;
        int running = 0;

        /* Take as many queued jobs as the in-flight cap allows. */
        pthread_mutex_lock(&u->lock);
        stop = u->stopping;
        for (unsigned n = u->inflight; !stop && n < u->opts.max_transfers && u->queue_head; n++) {
            struct upstream_job *job = u->queue_head;

            u->queue_head = job->next;
            if (u->queue_head == NULL)
                u->queue_tail = NULL;
            job->next = NULL;
            *tail = job;
            tail = &job->next;
        }
        pthread_mutex_unlock(&u->lock);
        if (stop)
            break;
        while (start != NULL) {
            struct upstream_job *job = start;

            start = job->next;
            job->next = NULL;
            upstream_job_start(u, job);
        }
        curl_multi_perform(u->multi, &running);
        /* A finished transfer frees a slot: start queued jobs before sleeping. */
        if (upstream_reap(u) > 0)
            continue;
        /* Returns early on socket activity, a timer, or curl_multi_wakeup. */
        curl_multi_poll(u->multi, NULL, 0, 1000, NULL);
    }
    upstream_cancel_all(u);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* public API                                                               */

int upstream_new(const struct upstream_opts *opts, struct upstream **out)
{
    struct upstream *u = NULL;
    int rc = 0;

    assert(opts != NULL && out != NULL);
    u = xcalloc(1, sizeof(*u));
    INIT_OBJ(u, UPSTREAM_MAGIC);
    u->opts = *opts;
    if (u->opts.connect_timeout == 0)
        u->opts.connect_timeout = 10;
    if (u->opts.low_speed_time == 0)
        u->opts.low_speed_time = 30;
    if (u->opts.max_transfers == 0)
        u->opts.max_transfers = 64;
    if (u->opts.max_host_connections == 0)
        u->opts.max_host_connections = 16;
    u->ua = opts->user_agent != NULL ? xstrdup(opts->user_agent)
                                     : xstrdup("indexmux/" IMX_VERSION);
    u->opts.user_agent = u->ua;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->idle_cv, NULL);

    u->multi = curl_multi_init();
    if (u->multi == NULL) {
        rc = IMX_EIO;
        goto out;
    }
    curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)u->opts.max_host_connections);
    /* Keep enough idle connections for every in-flight transfer to reuse one. */
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)u->opts.max_transfers);

    if (pthread_create(&u->thread, NULL, upstream_thread, u) != 0) {
        log_errorx("cannot start the upstream thread");
        rc = IMX_EIO;
        goto out;
    }
    u->thread_started = true;
    *out = u;
    u = NULL;
out:
    if (u != NULL)
        upstream_free(u);
    return rc;
}

void upstream_free(struct upstream *u)
{
    if (u == NULL)
        return;
    CHECK_OBJ(u, UPSTREAM_MAGIC);
    pthread_mutex_lock(&u->lock);
    u->stopping = true;
    pthread_mutex_unlock(&u->lock);
    if (u->thread_started) {
        curl_multi_wakeup(u->multi);
        pthread_join(u->thread, NULL);
    }
    /* Callers still inside upstream_fetch use u->lock until they return. */
    pthread_mutex_lock(&u->lock);
    while (u->callers > 0)
        pthread_cond_wait(&u->idle_cv, &u->lock);
    pthread_mutex_unlock(&u->lock);
    if (u->multi != NULL)
        curl_multi_cleanup(u->multi);
    pthread_cond_destroy(&u->idle_cv);
    pthread_mutex_destroy(&u->lock);
    free(u->ua);
    FINI_OBJ(u);
    free(u);
}

static bool upstream_request_ok(const struct upstream_request *req)
{
    const char *hv[] = {req->accept, req->if_none_match, req->if_modified_since, req->range};

    for (size_t i = 0; i < ARRAY_SIZE(hv); i++) {
        if (hv[i] != NULL && !upstream_header_value_ok(hv[i]))
            return false;
    }
    return true;
}

int upstream_fetch(struct upstream *u, const struct upstream_request *req,
                   struct upstream_response *r)
{
    struct upstream_job job;
    int rc = 0;

    CHECK_OBJ(u, UPSTREAM_MAGIC);
    assert(req != NULL && req->url != NULL && r != NULL);
    upstream_response_init(r);
    memset(&job, 0, sizeof(job));
    INIT_OBJ(&job, UPSTREAM_JOB_MAGIC);
    job.req = req;
    job.r = r;
    job.total_timeout = req->total_timeout != 0 ? req->total_timeout : u->opts.total_timeout;
    job.low_speed_time = u->opts.low_speed_time;
    job.host = upstream_url_host(req->url);
    if (req->max_body != 0 && req->max_body < (uint64_t)SIZE_MAX)
        r->body.max = (size_t)req->max_body;

    if (u->opts.offline) {
        rc = IMX_EOFFLINE;
        upstream_set_error(r, job.host, "offline mode forbids upstream requests");
        goto out;
    }
    if (upstream_url_for_wire(req->url, &job.url) != 0) {
        rc = IMX_EINVAL;
        upstream_set_error(r, job.host, "not an http(s) url");
        goto out;
    }
    if (!upstream_request_ok(req)) {
        rc = IMX_EINVAL;
        upstream_set_error(r, job.host, "request header with a line break");
        goto out;
    }

    pthread_cond_init(&job.cv, NULL);
    pthread_mutex_lock(&u->lock);
    if (u->stopping) {
        pthread_mutex_unlock(&u->lock);
        pthread_cond_destroy(&job.cv);
        rc = IMX_ECANCELED;
        upstream_set_error(r, job.host, "client shutting down");
        goto out;
    }
    u->callers++;
    if (u->queue_tail != NULL)
        u->queue_tail->next = &job;
    else
        u->queue_head = &job;
    u->queue_tail = &job;
    pthread_mutex_unlock(&u->lock);

    curl_multi_wakeup(u->multi);

    pthread_mutex_lock(&u->lock);
    while (!job.done)
        pthread_cond_wait(&job.cv, &u->lock);
    rc = job.rc;
    u->callers--;
    if (u->callers == 0 && u->stopping)
        pthread_cond_signal(&u->idle_cv);
    pthread_mutex_unlock(&u->lock);
    pthread_cond_destroy(&job.cv);
out:
    free(job.url);
    free(job.host);
    FINI_OBJ(&job);
    return rc;
}
