/*
 * respond.c - response descriptions for route handlers, and their
 * translation into libmicrohttpd responses (server_int.h).
 *
 * A struct srv_response is only a description until the server queues it:
 * handlers build it without MHD, and srv__response_build() creates the
 * MHD_Response at the last moment. Lifecycle of one response:
 *
 *   phase        legal calls                          owner of body/fd/ctx
 *   built        srv_response_add_header, _status,    the srv_response
 *                srv_response_free
 *   handed over  (none: the server owns it)           the srv_response
 *   built by MHD (freed by srv__response_build)        the MHD_Response
 */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "server_int.h"
#include "xalloc.h"

#define RESP_MAGIC 0x52e5b0d1u
#define ERROR_REASON_MAX 512

#define FROZEN_MAGIC 0x5f7e2e11u

enum body_kind { BODY_BUF, BODY_FD, BODY_CALLBACK, BODY_FROZEN };

struct srv_frozen {
    unsigned magic;
    unsigned status;
    uint64_t len;
    struct MHD_Response *m; /* one use is ours; MHD adds one per queued request */
};

struct resp_header {
    char *name;
    char *value;
};

struct srv_response {
    unsigned magic;
    unsigned status;
    enum body_kind kind;
    char *buf; /* BODY_BUF */
    size_t buf_len;
    void (*release)(void *); /* BODY_FROZEN: what keeps its bytes, called when done */
    void *release_ctx;
    int fd; /* BODY_FD, -1 once handed to MHD */
    uint64_t offset;
    uint64_t len;
    srv_reader reader; /* BODY_CALLBACK */
    void *ctx;
    srv_reader_free free_fn;
    int64_t size;
    struct srv_frozen *frozen; /* BODY_FROZEN: borrowed */
    struct resp_header *headers;
    size_t nheaders;
    size_t headers_cap;
};

static struct srv_response *resp_alloc(unsigned status, enum body_kind kind)
{
    struct srv_response *r = xcalloc(1, sizeof(*r));

    assert(status >= 100 && status <= 999);
    INIT_OBJ(r, RESP_MAGIC);
    r->status = status;
    r->kind = kind;
    r->fd = -1;
    return r;
}

static void add_header_unchecked(struct srv_response *r, const char *name, const char *value)
{
    r->headers = xgrow(r->headers, &r->headers_cap, r->nheaders + 1, sizeof(*r->headers));
    r->headers[r->nheaders].name = xstrdup(name);
    r->headers[r->nheaders].value = xstrdup(value);
    r->nheaders++;
}

struct srv_response *srv_response_new_buf(unsigned status, const char *content_type,
                                          char *body_take, size_t len)
{
    struct srv_response *r = resp_alloc(status, BODY_BUF);

    assert(body_take != NULL || len == 0);
    r->buf = body_take;
    r->buf_len = len;
    if (content_type)
        add_header_unchecked(r, "Content-Type", content_type);
    return r;
}

struct srv_response *srv_response_new_text(unsigned status, const char *content_type,
                                           const char *text)
{
    size_t len = strlen(text);
    return srv_response_new_buf(status, content_type, xmemdup(text, len + 1), len);
}

struct srv_response *srv_response_new_fd(unsigned status, int fd_take, uint64_t offset,
                                         uint64_t len)
{
    struct srv_response *r = resp_alloc(status, BODY_FD);

    assert(fd_take >= 0);
    r->fd = fd_take;
    r->offset = offset;
    r->len = len;
    return r;
}

struct srv_response *srv_response_new_callback(unsigned status, int64_t size, srv_reader reader,
                                               void *ctx_take, srv_reader_free free_fn)
{
    struct srv_response *r = resp_alloc(status, BODY_CALLBACK);

    assert(reader != NULL && size >= -1);
    r->reader = reader;
    r->ctx = ctx_take;
    r->free_fn = free_fn;
    r->size = size;
    return r;
}

struct srv_response *srv_response_error(unsigned status, const char *reason)
{
    size_t n = strnlen(reason, ERROR_REASON_MAX);
    char *body = xmalloc(n + 2);
    struct srv_response *r;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)reason[i];
        body[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    body[n] = '\n';
    body[n + 1] = '\0';
    r = srv_response_new_buf(status, "text/plain; charset=utf-8", body, n + 1);
    add_header_unchecked(r, "Cache-Control", "no-store");
    return r;
}

struct srv_response *srv_response_errorf(unsigned status, const char *fmt, ...)
{
    char reason[ERROR_REASON_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return srv_response_error(status, reason);
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    return true;
}

static bool is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* A header a handler may set: a token name, a value without controls, not the framing ones. */
static bool header_ok(const char *name, const char *value)
{
    return is_token(name) && is_field_value(value) && strcasecmp(name, "Content-Length") != 0 &&
           strcasecmp(name, "Transfer-Encoding") != 0;
}

int srv_response_add_header(struct srv_response *resp, const char *name, const char *value)
{
    CHECK_OBJ(resp, RESP_MAGIC);
    if (resp->kind == BODY_FROZEN || !header_ok(name, value))
        return IMX_EINVAL;
    add_header_unchecked(resp, name, value);
    return 0;
}

struct srv_frozen *srv_frozen_new(unsigned status, const char *content_type, const char *body,
                                  size_t len)
{
    struct srv_frozen *f;
    struct MHD_Response *m;

    assert(status >= 100 && status <= 999 && (body != NULL || len == 0));
    m = MHD_create_response_from_buffer(len, (void *)(uintptr_t)(body ? body : ""),
                                        MHD_RESPMEM_PERSISTENT);
    if (!m) {
        /* Only an allocation fails here: like every constructor, abort (xalloc.h). */
        log_warnx("out of memory making a response of %zu bytes", len);
        abort();
    }
    f = xcalloc(1, sizeof(*f));
    INIT_OBJ(f, FROZEN_MAGIC);
    f->status = status;
    f->len = len;
    f->m = m;
    if (content_type)
        (void)NEVER(srv_frozen_add_header(f, "Content-Type", content_type) != 0);
    return f;
}

int srv_frozen_add_header(struct srv_frozen *f, const char *name, const char *value)
{
    CHECK_OBJ(f, FROZEN_MAGIC);
    if (!header_ok(name, value) || MHD_add_response_header(f->m, name, value) != MHD_YES)
        return IMX_EINVAL;
    return 0;
}

void srv_frozen_free(struct srv_frozen *f)
{
    if (!f)
        return;
    CHECK_OBJ(f, FROZEN_MAGIC);
    MHD_destroy_response(f->m);
    FINI_OBJ(f);
    free(f);
}

struct srv_response *srv_response_new_frozen(struct srv_frozen *f, void (*release)(void *ctx),
                                             void *ctx)
{
    struct srv_response *r;

    CHECK_OBJ(f, FROZEN_MAGIC);
    r = resp_alloc(f->status, BODY_FROZEN);
    r->frozen = f;
    r->buf_len = (size_t)f->len;
    r->release = release;
    r->release_ctx = ctx;
    return r;
}

unsigned srv_response_status(const struct srv_response *resp)
{
    CHECK_OBJ(resp, RESP_MAGIC);
    return resp->status;
}

int64_t srv_response_body_size(const struct srv_response *resp)
{
    CHECK_OBJ(resp, RESP_MAGIC);
    switch (resp->kind) {
    case BODY_FD:
        return (int64_t)resp->len;
    case BODY_CALLBACK:
        return -1;
    default:
        return (int64_t)resp->buf_len;
    }
}

/* Free the description; what it still owns (buf, fd, ctx) is released too. */
void srv_response_free(struct srv_response *resp)
{
    if (!resp)
        return;
    CHECK_OBJ(resp, RESP_MAGIC);
    free(resp->buf);
    if (resp->fd >= 0)
        close(resp->fd);
    if (resp->free_fn)
        resp->free_fn(resp->ctx);
    if (resp->release)
        resp->release(resp->release_ctx);
    for (size_t i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    FINI_OBJ(resp);
    free(resp);
}

/* The reader, its free function and its waker, kept together for MHD's callbacks. */
struct reader_ctx {
    srv_reader reader;
    void *ctx;
    srv_reader_free free_fn;
    struct srv_waker waker;
};

static ssize_t mhd_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct reader_ctx *rc = cls;

    for (;;) {
        ssize_t n = rc->reader(rc->ctx, pos, buf, max, &rc->waker);

        if (n > 0)
            return n;
        if (n == SRV_READ_EOF)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (n != SRV_READ_AGAIN)
            return MHD_CONTENT_READER_END_WITH_ERROR; /* 0 included: see respond.h */
        switch (srv__waker_sleep(&rc->waker)) {
        case SRV__SLEEPING:
            return 0; /* suspended: MHD calls again once resumed */
        case SRV__READ_AGAIN:
            continue;
        case SRV__STOPPING:
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void mhd_reader_free(void *cls)
{
    struct reader_ctx *rc = cls;

    if (rc->free_fn)
        rc->free_fn(rc->ctx);
    free(rc);
}

int srv__response_build(struct srv_response *resp, struct srv *srv, struct MHD_Connection *mhd,
                        struct MHD_Response **out, unsigned *status_out, struct srv__hold *hold)
{
    struct MHD_Response *m = NULL;
    struct reader_ctx *rctx = NULL;
    int rc = 0;

    CHECK_OBJ(resp, RESP_MAGIC);
    memset(hold, 0, sizeof(*hold));
    switch (resp->kind) {
    case BODY_FROZEN:
        /* Queued as it is; what keeps its bytes is released when the request is done. */
        *out = resp->frozen->m;
        *status_out = resp->status;
        hold->borrowed = true;
        hold->release = resp->release;
        hold->ctx = resp->release_ctx;
        resp->release = NULL;
        srv_response_free(resp);
        return 0;
    case BODY_BUF:
        /* MHD_RESPMEM_MUST_FREE releases with free(), matching xmalloc. */
        m = MHD_create_response_from_buffer(resp->buf_len, resp->buf ? resp->buf : (void *)"",
                                            resp->buf ? MHD_RESPMEM_MUST_FREE
                                                      : MHD_RESPMEM_PERSISTENT);
        if (m)
            resp->buf = NULL;
        break;
    case BODY_FD:
        m = MHD_create_response_from_fd_at_offset64(resp->len, resp->fd, resp->offset);
        if (m)
            resp->fd = -1;
        break;
    case BODY_CALLBACK:
        rctx = xmalloc(sizeof(*rctx));
        rctx->reader = resp->reader;
        rctx->ctx = resp->ctx;
        rctx->free_fn = resp->free_fn;
        srv__waker_init(&rctx->waker, srv, mhd);
        m = MHD_create_response_from_callback(resp->size < 0 ? MHD_SIZE_UNKNOWN
                                                             : (uint64_t)resp->size,
                                              256 * 1024, mhd_reader, rctx, mhd_reader_free);
        if (m) {
            resp->free_fn = NULL; /* now MHD's, via mhd_reader_free */
            resp->ctx = NULL;
        } else {
            free(rctx);
        }
        break;
    }
    if (!m) {
        rc = IMX_EIO;
        goto out;
    }
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (MHD_add_response_header(m, resp->headers[i].name, resp->headers[i].value) != MHD_YES) {
            rc = IMX_EIO;
            goto out;
        }
    }
out:
    if (rc == 0) {
        *out = m;
        *status_out = resp->status;
    } else if (m) {
        MHD_destroy_response(m);
    }
    srv_response_free(resp);
    return rc;
}
