/*
 * server.h - the HTTP daemon (libmicrohttpd, confined to server/).
 *
 * The skeleton listens, applies the connection limits, answers what needs
 * no index data itself, and hands every other GET/HEAD request to a route
 * hook (route.c) as a struct srv_request, getting a struct srv_response
 * (respond.h) back. Threading: a few event threads serve all connections
 * and hand requests that may block (an upstream fetch) to worker threads;
 * see req->nonblock and the comment at the top of server.c.
 *
 * Answered by the skeleton:
 *   GET/HEAD /healthz     200 "ok\n" (text/plain)
 *   GET/HEAD /            HTML landing page (landing.c): every view with
 *                         its pip / pip.conf / uv.toml lines
 *   other methods         405 with "Allow: GET, HEAD"
 *   a request body        413 (GET and HEAD must not carry one)
 *   route hook absent, or it returns IMX_ENOTFOUND:
 *                         404 "not found: <path>\n"
 *   route hook fails      500 "internal error: <imx_strerror>\n"
 *   oversized request line or headers: libmicrohttpd's own 414 / 431
 *
 * Calling sequence (main.c; SIGPIPE must be ignored first, because
 * sendfile(2) raises it when a client disconnects):
 *   struct srv_opts o = {0};  o.cfg = &cfg; o.route = route_fn; o.route_ctx = ...;
 *   srv_opts_from_config(&o, &cfg);     optional: copy limits from [server]
 *   rc = srv_new(&o, &srv);             listening and serving when it returns 0
 *   ... wait for a signal ...
 *   srv_free(srv);                      stops accepting, waits for handlers
 */
#ifndef IMX_SERVER_H
#define IMX_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "respond.h"
#include "stats.h"

struct config;
struct srv;

/*
 * One request as the route hook sees it. All strings are borrowed and valid
 * until the request completes (after the response has been sent), but the
 * struct itself must not be kept: copy into a reader context what the
 * reader needs.
 */
struct srv_request {
    unsigned magic;
    const char *method;   /* "GET" or "HEAD": the only methods routed */
    bool head;            /* method is HEAD: the body will not be sent */
    /*
     * The request-target exactly as the client sent it (origin form, still
     * percent-encoded, with the query), e.g. "/simple/a%2Bb/?format=x".
     */
    const char *raw_url;
    /* raw_url without the query: still percent-encoded, e.g. "/simple/a%2Bb/". */
    const char *raw_path;
    /*
     * The path after libmicrohttpd's percent-decoding (%HH only; '+' stays
     * '+'), without the query, e.g. "/simple/a+b/". An encoded "%00"
     * truncates it there and "%2F" becomes '/': route code that must tell
     * those apart uses raw_path.
     */
    const char *path;
    /*
     * Set while the hook runs on an event thread: it must not block (no
     * upstream request, no waiting for a download or a write transaction)
     * and returns IMX_EAGAIN instead; the server then calls it again with
     * nonblock false on a worker thread.
     */
    bool nonblock;
    struct srv_conn *conn; /* private to server.c */
};

/*
 * Route hook: answer req or decline.
 *   ctx  [in] srv_opts.route_ctx
 *   req  [in] the request (borrowed)
 *   out  [out] on 0, a response the server takes over (never NULL)
 * Returns 0, IMX_ENOTFOUND (the skeleton sends its 404), or any other
 * IMX_E* code (the skeleton logs it and sends 500), or IMX_EAGAIN when
 * req->nonblock and answering would block. Called concurrently for
 * different requests; may block only when !req->nonblock.
 */
typedef int (*srv_route_fn)(void *ctx, const struct srv_request *req,
                            struct srv_response **out /* OUT */);

struct srv_opts {
    const char *listen_host;     /* numeric IPv4/IPv6 ("127.0.0.1", "::1", "::",
                                    "0.0.0.0") or a host name (its first address);
                                    NULL = "127.0.0.1". "::" listens on IPv4 too
                                    (dual stack). */
    uint16_t listen_port;        /* 0 = an ephemeral port (see srv_port) */
    unsigned max_connections;    /* 0 = 1024 */
    unsigned client_timeout;     /* idle seconds per connection; 0 = 60 */
    size_t conn_memory_limit;    /* bytes per connection for the request line
                                    and headers; 0 = 16 KiB */
    size_t thread_stack_size;    /* per event and worker thread; 0 = 512 KiB */
    const struct config *cfg;    /* borrowed, must outlive the srv: views for
                                    the landing page; may be NULL (empty list) */
    srv_route_fn route;          /* may be NULL: everything else is 404 */
    void *route_ctx;
    struct srv_stats *stats;     /* borrowed, may be NULL: every answered request is
                                    counted here (srv_stats_request) */
    /*
     * Optional: append HTML (cache figures) to the landing page, after the
     * views. Called on a worker thread (it may block) with landing_ctx.
     */
    void (*landing_extra)(void *ctx, struct buf *html);
    void *landing_ctx;
};

/*
 * Fill listen_host/port, max_connections and client_timeout from
 * cfg->server (borrowing listen_host), and set opts->cfg = cfg.
 */
void srv_opts_from_config(struct srv_opts *opts, const struct config *cfg);

/*
 * Start listening and serving.
 *   opts [in] copied (cfg and route_ctx stay borrowed)
 *   out  [out] the running server, written only on success
 * Returns 0, IMX_EINVAL (listen_host is neither an address nor a resolvable
 * name), or IMX_EIO
 * (the daemon could not start, e.g. the port is in use; the reason is logged).
 */
int srv_new(const struct srv_opts *opts, struct srv **out /* OUT */);

/*
 * Replace the configuration the landing page renders (a SIGHUP reload).
 * Returns once no landing page is being rendered from the old one, so the
 * caller may free it afterwards. cfg is borrowed like srv_opts.cfg.
 */
void srv_set_config(struct srv *srv, const struct config *cfg);

/*
 * Annotate a request for the access log and srv_stats (route hooks call
 * this; the server writes the line when the request completes). Every
 * string is copied; NULL leaves a field as it was ("-" by default).
 *   view      the view or index addressed
 *   kind      what was asked (default SRV_KIND_OTHER)
 *   cache     cache outcome word (hit, miss, stale, revalidated, negative, shared)
 *   upstream  name of the upstream index asked over the network
 */
void srv_request_note(const struct srv_request *req, const char *view, enum srv_kind kind,
                      const char *cache, const char *upstream);
/* Count n body bytes sent by a reader-callback response (for the access log). */
void srv_request_add_bytes(const struct srv_request *req, uint64_t n);

/* The port actually bound (the ephemeral one when listen_port was 0). */
uint16_t srv_port(const struct srv *srv);

/*
 * Stop: cut the responses still waiting for a download (their readers
 * sleep; they are woken and aborted), let every worker finish the request it
 * runs (a handler blocked in an upstream fetch delays this until it returns:
 * those have timeouts), answer requests still queued for a worker with 503,
 * then stop accepting, close the connections and free. NULL-safe.
 */
void srv_free(struct srv *srv);

/*
 * A request header (name case-insensitive), or NULL. Borrowed: valid until
 * the request completes. With repeated headers, the first.
 */
const char *srv_request_header(const struct srv_request *req, const char *name);

/*
 * A query argument from raw_url, percent-decoded (%HH; '+' is kept as '+',
 * so ?format=application/vnd.pypi.simple.v1+json works unencoded), or NULL
 * when absent. "?a" gives "" for a. With repeated keys, the first. Borrowed:
 * valid until the request completes.
 */
const char *srv_request_query(const struct srv_request *req, const char *key);

/*
 * Render the landing page for cfg (landing.c): HTML listing every view at
 * base_url + "/<view>/simple/" (and "/simple/" for server.default_view) with
 * its indexes and copy-paste pip, pip.conf and uv.toml lines.
 *   cfg       [in] may be NULL (no views listed)
 *   base_url  [in] absolute URL without trailing slash, e.g.
 *             "http://host:3144" or server.public_url; HTML-escaped here
 *   len_out   [out] body length
 * Returns the page, owned by the caller (free()). Never NULL.
 */
char *srv_landing_render(const struct config *cfg, const char *base_url, size_t *len_out);
/* The same with `extra` (trusted HTML, may be NULL or "") before </body>. */
char *srv_landing_render_extra(const struct config *cfg, const char *base_url, const char *extra,
                               size_t *len_out);

#endif
