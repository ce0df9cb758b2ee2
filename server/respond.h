/*
 * respond.h - HTTP responses for route handlers, without libmicrohttpd.
 *
 * A struct srv_response describes what to send: status, headers, and one of
 * four body kinds (a heap buffer, a file descriptor range sent with
 * sendfile, a non-blocking reader callback, or a frozen response made once
 * and shared by requests, below). The libmicrohttpd object is built only
 * when the server queues it, so handlers never see MHD.
 *
 * Calling sequence (inside a route hook, see server.h):
 *   struct srv_response *r = srv_response_new_buf(200, "text/html", body, len);
 *   srv_response_add_header(r, "Cache-Control", "max-age=600, public");
 *   *out = r;            the server now owns r: it queues and frees it
 * A response that is not handed to the server is released with
 * srv_response_free(), which also releases what it took over (buffer, fd,
 * reader context).
 *
 * HEAD: return the same response as for GET. The server sends the headers
 * with the real Content-Length and no body (the buffer is not sent, the fd
 * is not read, the reader is never called; its free function still is).
 *
 * Constructors never fail: out-of-memory aborts (habit 8). Errors that only
 * the network layer can detect are reported when the server queues the
 * response (the client then gets a 500 or a closed connection).
 *
 * Thread safety: a response belongs to one request thread at a time.
 */
#ifndef IMX_RESPOND_H
#define IMX_RESPOND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct srv_response;

/* Return values of a srv_reader besides a byte count > 0. */
#define SRV_READ_EOF ((ssize_t)-1)   /* no more bytes (only valid for size -1) */
#define SRV_READ_ERROR ((ssize_t)-2) /* abort: the connection is closed */
#define SRV_READ_AGAIN ((ssize_t)-3) /* no byte yet: srv_waker_fire(waker) will follow */

/*
 * Wakes a reader that returned SRV_READ_AGAIN. Owned by the server, valid
 * until the reader's free function has returned.
 */
struct srv_waker;
/*
 * Thread-safe, callable from any thread (a download's), also before the
 * reader has returned SRV_READ_AGAIN: the server then calls the reader again
 * at once. Only signals; never calls the reader itself. `waker` is a struct
 * srv_waker (void * so that it can be passed as a plain callback).
 */
void srv_waker_fire(void *waker);

/*
 * Body reader for srv_response_new_callback. Called on a server event
 * thread, which must never block, with pos = bytes already delivered:
 * writes up to max bytes into buf and returns how many (> 0), SRV_READ_EOF,
 * SRV_READ_ERROR, or SRV_READ_AGAIN after arranging for
 * srv_waker_fire(waker) to be called once bytes are there (the connection
 * then sleeps until it is). It must never return 0 (treated as an error).
 */
typedef ssize_t (*srv_reader)(void *ctx, uint64_t pos, char *buf, size_t max,
                              struct srv_waker *waker);
/* Releases the reader context; called exactly once, also when never read. */
typedef void (*srv_reader_free)(void *ctx);

/*
 * A response whose body is `len` bytes at body_take.
 *   status        [in] HTTP status (100..999)
 *   content_type  [in] copied; NULL sends no Content-Type
 *   body_take     [in] malloc'd (xmalloc) buffer, owned by the response from
 *                 now on and released with free(); may be NULL when len is 0
 * Returns the new response (never NULL), owned by the caller until handed
 * to the server.
 */
struct srv_response *srv_response_new_buf(unsigned status, const char *content_type,
                                          char *body_take, size_t len);

/*
 * A frozen response: status, headers and borrowed body bytes made into
 * libmicrohttpd's form once, then queued for any number of requests, from
 * any thread, at the same time (MHD counts its uses). For the hot path of
 * cached pages: no allocation or header copy per request.
 *
 *   f = srv_frozen_new(200, "text/html", page_bytes, len);
 *   srv_frozen_add_header(f, "ETag", etag);      only before the first use
 *   ... per request: *out = srv_response_new_frozen(f, unref, page);
 *   srv_frozen_free(f)                           after the last use began
 *
 * The body bytes must outlive f. A request's use of f ends after its last
 * byte is sent: srv_response_new_frozen's release(ctx) is called then
 * (exactly once, also when the response is freed unsent), and whatever
 * keeps the bytes (and f) alive must be held until it is. srv_frozen_free
 * only drops the creator's use: requests still sending keep theirs.
 *
 * srv_frozen_new never fails (out of memory aborts, as for every
 * constructor here). srv_frozen_add_header: 0 or IMX_EINVAL (as
 * srv_response_add_header; also when MHD refuses the header).
 */
struct srv_frozen;
struct srv_frozen *srv_frozen_new(unsigned status, const char *content_type, const char *body,
                                  size_t len);
int srv_frozen_add_header(struct srv_frozen *f, const char *name, const char *value);
void srv_frozen_free(struct srv_frozen *f); /* NULL-safe */
struct srv_response *srv_response_new_frozen(struct srv_frozen *f, void (*release)(void *ctx),
                                             void *ctx);

/* Like srv_response_new_buf with a copy of the NUL-terminated text. */
struct srv_response *srv_response_new_text(unsigned status, const char *content_type,
                                           const char *text);

/*
 * A response that sends `len` bytes of fd_take starting at `offset`, with
 * sendfile where possible (206 ranges: pass the range's start and len).
 * fd_take is owned by the response from now on and closed when it is freed.
 * No Content-Type is set: add one.
 */
struct srv_response *srv_response_new_fd(unsigned status, int fd_take, uint64_t offset,
                                         uint64_t len);

/*
 * A response whose body comes from `reader`.
 *   size      [in] body length, or -1 when unknown (HTTP/1.1 chunked; for
 *             HTTP/1.0 clients the connection is closed after the body)
 *   reader    [in] see srv_reader
 *   ctx_take  [in] reader context, owned by the response; released with
 *             free_fn (may be NULL) exactly once
 * No Content-Type is set: add one.
 */
struct srv_response *srv_response_new_callback(unsigned status, int64_t size, srv_reader reader,
                                               void *ctx_take, srv_reader_free free_fn);

/*
 * A plain-text error: body is `reason` followed by "\n", Content-Type
 * "text/plain; charset=utf-8", Cache-Control "no-store". reason should be
 * one line; CR, LF and other control bytes in it are replaced by '?'.
 * For 405 the server adds "Allow: GET, HEAD" itself.
 */
struct srv_response *srv_response_error(unsigned status, const char *reason);
/* Same with a printf-style reason. */
struct srv_response *srv_response_errorf(unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Add a header (name and value copied). Content-Length and Transfer-Encoding
 * are computed by the server and must not be added. Adding the same name
 * twice sends it twice.
 * Returns 0, or IMX_EINVAL when name is empty or not a token, when value
 * contains CR, LF or NUL-level control bytes, or when name is
 * Content-Length / Transfer-Encoding (nothing is added).
 */
int srv_response_add_header(struct srv_response *resp, const char *name, const char *value);

/* The status given at creation. */
unsigned srv_response_status(const struct srv_response *resp);

/*
 * Body bytes the response will send (buffer length, fd range length), or -1
 * for a reader-callback body (the server counts those as they are read).
 */
int64_t srv_response_body_size(const struct srv_response *resp);

/* Release a response that was not handed to the server. NULL-safe. */
void srv_response_free(struct srv_response *resp);

#endif
