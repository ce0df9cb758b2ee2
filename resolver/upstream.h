/*
 * upstream.h - HTTP client for upstream indexes and file hosts. The only
 * libcurl user (resolver/upstream.c). Knows nothing of PEP formats.
 *
 * Threading: one curl multi handle driven by its own thread, with connection
 * reuse (HTTP/2 where offered). upstream_fetch() may be called from any
 * number of threads at once; it hands the transfer to the curl thread and
 * blocks the caller until the transfer ends. Body callbacks run on the curl
 * thread: they must be quick and must not call upstream_fetch.
 *
 * Calling sequence: upstream_global_init (once, in main) -> upstream_new ->
 * upstream_fetch* (any thread) -> upstream_free -> upstream_global_cleanup.
 *
 * Every request: http/https only (redirects too), at most 10 redirects,
 * TLS verified unless the request says otherwise, no signals, '+' in the URL
 * path sent as %2B. Proxies follow libcurl's defaults (http_proxy, no_proxy
 * environment variables). Error texts name the host only: never the path,
 * never credentials.
 */
#ifndef IMX_UPSTREAM_H
#define IMX_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct upstream;

struct upstream_opts {
    unsigned connect_timeout; /* seconds (0: 10) */
    unsigned low_speed_time;  /* seconds without progress before failing (0: 30) */
    unsigned total_timeout;   /* seconds for a whole page transfer, 0: none (files) */
    unsigned max_transfers;   /* in-flight cap; more wait in a queue (0: 64) */
    const char *user_agent;   /* NULL: "indexmux/<version>" */
    bool offline;             /* every fetch fails with IMX_EOFFLINE, no socket opened */
    unsigned max_host_connections; /* connections per host (0: 16); HTTP/2 multiplexes */
};

/*
 * libcurl's process-wide set-up: call once from main() before any thread
 * starts (and upstream_global_cleanup once at the very end). Returns 0 or
 * IMX_EIO (logged).
 */
int upstream_global_init(void);
void upstream_global_cleanup(void);
/*
 * Create a client and start its curl thread. opts is copied (user_agent
 * too); zero fields take the defaults noted above. Returns 0 with *out
 * (free with upstream_free), or IMX_EIO (libcurl or thread creation failed).
 */
int upstream_new(const struct upstream_opts *opts, struct upstream **out /* OUT */);
/*
 * Stop the curl thread and free the client. NULL-safe. Queued requests and
 * transfers still running fail with IMX_ECANCELED; upstream_free returns
 * once every upstream_fetch call has returned. Later calls are a bug, and
 * so is calling it from an on_headers/on_data callback (it would wait for
 * itself).
 */
void upstream_free(struct upstream *u);

struct upstream_request {
    const char *url;               /* absolute http(s) URL; '+' is sent as %2B */
    const char *accept;            /* Accept header, NULL: none (not even libcurl's) */
    const char *if_none_match;     /* validators, NULL: not sent */
    const char *if_modified_since;
    const char *range;             /* e.g. "bytes=0-99", NULL: whole */
    const char *username;          /* basic auth, NULL: none */
    const char *password;
    bool tls_verify;               /* false only when configured explicitly */
    const char *ca_file;           /* NULL: system CA bundle */
    uint64_t max_body;             /* cap on body bytes (0: no cap); IMX_ETOOLARGE beyond */
    bool gzip;                     /* ask for and decode gzip (pages: true); false: no
                                      Accept-Encoding and the body is never decoded */
    unsigned total_timeout;        /* overrides opts.total_timeout when nonzero */
    /*
     * Streaming: when on_data is set the body is passed to it instead of
     * being collected in the response. on_headers runs once, after the final
     * response's headers (after redirects), before any on_data, also when
     * the body is empty; returning nonzero aborts the transfer
     * (IMX_ECANCELED). on_data returning nonzero aborts the transfer too.
     * Both run on the curl thread. content_length is the header's value
     * (-1: none; with gzip it counts encoded bytes).
     */
    int (*on_headers)(void *ctx, long status, int64_t content_length);
    int (*on_data)(void *ctx, const void *p, size_t n);
    void *ctx;
};

/*
 * Filled by upstream_fetch; all strings are owned by the response and freed
 * by upstream_response_release. Header fields are those of the final
 * response (a redirect's headers are forgotten).
 */
struct upstream_response {
    long status;          /* final HTTP status, 0 when no response */
    char *etag;           /* owned, NULL when absent */
    char *last_modified;
    char *content_type;
    char *content_range;
    char *effective_url;  /* final URL after redirects, without user:password@ */
    int64_t content_length; /* Content-Length header, -1 unknown */
    struct buf body;      /* collected body when on_data is NULL (cap = max_body) */
    char error[256];      /* one-line reason on failure; never contains credentials */
};

/* Empty response (content_length -1, uncapped body). upstream_fetch calls it itself. */
void upstream_response_init(struct upstream_response *r);
/* Free what a response owns and leave it empty. NULL-safe. */
void upstream_response_release(struct upstream_response *r);

/*
 * Perform one request, following up to 10 redirects (http and https only).
 * Returns 0 when an HTTP response was received (whatever its status: check
 * r->status), or: IMX_EUPSTREAM (connection failed, reset, bad redirect,
 * protocol error, body shorter/longer than Content-Length), IMX_ETIMEDOUT,
 * IMX_ETOOLARGE (max_body passed, or announced by Content-Length),
 * IMX_ECANCELED (a callback said stop, or upstream_free ran), IMX_EOFFLINE
 * (no socket opened), IMX_EINVAL (not an http(s) URL, or a header value with
 * a line break). On every failure r->error says what happened in one line
 * naming the host.
 *
 * r is an OUT parameter: it is initialised here (previous contents are not
 * freed) and must be released with upstream_response_release whatever the
 * result. req and r must stay valid until the call returns; r is written by
 * the curl thread meanwhile.
 */
int upstream_fetch(struct upstream *u, const struct upstream_request *req,
                   struct upstream_response *r /* OUT */);

/*
 * Resolve a reference (absolute, root-relative or relative) against a base
 * URL with libcurl's URL API (RFC 3986). The base must be an absolute
 * http(s) URL; only http and https results are accepted (javascript:, ftp:,
 * file: ... are refused). Percent-escapes are kept as they are. Returns 0
 * with a malloc'd URL in *out (caller frees), or IMX_ESYNTAX.
 */
int upstream_url_resolve(const char *base, const char *ref, char **out /* OUT */);
/* Host part of a URL, malloc'd (caller frees), or NULL when it does not parse. */
char *upstream_url_host(const char *url);

#endif
