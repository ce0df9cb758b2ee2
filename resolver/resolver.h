/*
 * resolver.h - what the server asks of the resolver: pages of routes (a
 * virtual index or a single upstream index) and package files.
 *
 * A "route" is a name served at /<name>/simple/: either a [virtual.*] view
 * (merging several upstreams by SPEC.md section 5) or an [[index]] served
 * alone (one upstream, no rules). Names share one namespace (config.h).
 *
 * The resolver owns the cache policy (fresh/stale/revalidate/negative, SPEC
 * section 6), the merge, the link rewriting to /files/<key>/<filename>, and
 * the single-flight download of files. It never holds an LMDB transaction
 * across network I/O.
 *
 * Threading: every function may be called from any thread concurrently;
 * most block while an upstream is asked. The server's event threads call
 * only the non-blocking ones (rsv_get_cached, rsv_page_gzip_tried,
 * rsv_open_stored, rsv_body_read_nb) and hand the rest to worker threads.
 *
 * Calling sequence: rsv_new -> rsv_* from any thread -> rsv_free (after the
 * server stopped; waits for background downloads to end).
 */
#ifndef IMX_RESOLVER_H
#define IMX_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct config;
struct stg;
struct upstream;
struct rsv;
struct rsv_metrics;

struct rsv_opts {
    const struct config *cfg; /* borrowed; must outlive the rsv */
    struct stg *stg;          /* borrowed */
    struct upstream *up;      /* borrowed; NULL only when cfg->server.offline */
    bool offline;             /* never contact upstreams (SPEC section 7) */
    struct rsv_metrics *metrics; /* borrowed, shared by generations (metrics.h);
                                    NULL: the rsv keeps private counters */
};

int rsv_new(const struct rsv_opts *opts, struct rsv **out /* OUT */);
void rsv_free(struct rsv *r); /* NULL-safe */

/* Is `name` a route (a view or an index)? */
bool rsv_route_exists(const struct rsv *r, const char *name);

enum rsv_format { RSV_FORMAT_HTML = 0, RSV_FORMAT_JSON };

/*
 * A rendered page, immutable once returned, shared between requests
 * (reference counted): release with rsv_page_unref.
 */
struct rsv_page {
    const char *body;     /* bytes (not NUL-terminated for clients' sake) */
    size_t len;
    char etag[48];        /* strong ETag with quotes: "\"<hex>\"" */
};

void rsv_page_unref(struct rsv_page *p); /* NULL-safe */

/*
 * Objects a caller hangs on a page, made once and freed with the page (the
 * server keeps the responses it made from the page here, so the next
 * request sends them as they are). An object starts with struct
 * rsv_page_ext; the page's last rsv_page_unref calls its free_fn, from
 * whichever thread drops that reference. Thread-safe, lock-free.
 */
#define RSV_PAGE_EXT_SLOTS 6
struct rsv_page_ext {
    void (*free_fn)(struct rsv_page_ext *e);
};
/* The object in slot (< RSV_PAGE_EXT_SLOTS), or NULL. Valid while p is referenced. */
struct rsv_page_ext *rsv_page_ext_get(struct rsv_page *p, unsigned slot);
/*
 * Put e (taken) in an empty slot. Returns the object the slot holds now: e,
 * or the one another thread put there first (then e was freed).
 */
struct rsv_page_ext *rsv_page_ext_set(struct rsv_page *p, unsigned slot,
                                      struct rsv_page_ext *e);

/*
 * The gzip encoding of a page, made on first use and kept with the page.
 * Returns true with the bytes in *gz (valid while the page is referenced),
 * or false when the page is too small to be worth it.
 */
bool rsv_page_gzip(struct rsv_page *p, const char **gz /* OUT */, size_t *len /* OUT */);

/*
 * rsv_page_gzip would not compress now: the gzip was made (or failed) or the
 * page is too small. For event loops, which must not spend milliseconds.
 */
bool rsv_page_gzip_tried(struct rsv_page *p);

/*
 * For event loops: the page rsv_get_page (project != NULL) or rsv_get_list
 * (project == NULL) would return, if it is in memory and fresh: no LMDB, no
 * upstream, no rendering. Returns 0 with *out, or IMX_EAGAIN: ask
 * rsv_get_page / rsv_get_list from a thread that may block.
 */
int rsv_get_cached(struct rsv *r, const char *route, const char *project, enum rsv_format fmt,
                   unsigned depth, struct rsv_page **out /* OUT */);

/*
 * The page of `project` (normalized) in route `route`, rendered in `fmt`.
 * `depth` says where the page is mounted so that relative file links work:
 * the number of path segments between the server root and the page's
 * directory ("/cu124/simple/torch/" = 3, "/simple/torch/" = 2).
 *
 * Returns 0 with *out, or:
 *   IMX_ENOTFOUND  no index of the route has the project (404)
 *   IMX_EUPSTREAM  an index whose answer decides the page cannot be read and
 *                  nothing is cached (502); `why` gets one line naming it
 *   IMX_EINVAL     unknown route
 */
int rsv_get_page(struct rsv *r, const char *route, const char *project, enum rsv_format fmt,
                 unsigned depth, struct rsv_page **out /* OUT */, struct buf *why);

/* The project list of a route (union of its indexes' lists and its pins). */
int rsv_get_list(struct rsv *r, const char *route, enum rsv_format fmt,
                 struct rsv_page **out /* OUT */, struct buf *why);

/*
 * A package file (or its PEP 658 metadata when `metadata`): either stored
 * (fd >= 0: serve with sendfile) or streaming from a download in progress
 * (read with rsv_body_read, which blocks until bytes arrive).
 */
struct rsv_body {
    int fd;               /* stored blob, opened read-only; -1 when streaming */
    int64_t size;         /* -1 when unknown (streaming without Content-Length) */
    char sha256[65];      /* "" when not yet known (streaming) */
    struct rsv__flight *flight; /* streaming source, NULL when stored */
    struct rsv_metrics *metrics; /* private: counts the streaming client */
    /* private, under the flight's lock: the wake-up armed by rsv_body_read_nb */
    bool wake_armed;
    void (*wake)(void *arg);
    void *wake_arg;
    struct rsv_body *wake_next;
};

/*
 * Open /files/<key>/<filename>[.metadata]. Returns 0 with *out, or:
 *   IMX_ENOTFOUND  the key is not in the file table (no page gave it), the
 *                  filename does not match, metadata not advertised, or
 *                  (offline) the bytes are not stored; no upstream request
 *   IMX_EUPSTREAM  the upstream could not be reached / answered an error;
 *                  `why` names it
 */
int rsv_open_file(struct rsv *r, const char *key, const char *filename, bool metadata,
                  struct rsv_body **out /* OUT */, struct buf *why);
/*
 * rsv_open_file for event loops: only what needs neither the network nor a
 * write transaction. Returns 0 with a stored body (fd >= 0), or IMX_EAGAIN
 * for everything else (not stored, not known, metadata not stored, or an
 * access time to record): call rsv_open_file from a thread that may block.
 */
int rsv_open_stored(struct rsv *r, const char *key, const char *filename, bool metadata,
                    struct rsv_body **out /* OUT */);
/*
 * Read up to n bytes at offset pos of a streaming body. Blocks until bytes
 * are there. Returns the count (> 0), 0 at the verified end, or a negative
 * IMX_E* code when the download failed (hash mismatch, upstream cut): the
 * client's transfer must then be aborted. The last byte of a file is only
 * released once its hash is verified, so a client never sees a
 * complete-looking body with wrong bytes.
 */
int64_t rsv_body_read(struct rsv_body *b, uint64_t pos, void *dst, size_t n);
/*
 * rsv_body_read for event loops: never blocks. When no byte at pos is
 * available yet it arms a one-shot wake-up and returns IMX_EAGAIN; the
 * download's thread then calls wake(arg) once, when bytes arrive or the
 * download ends (possibly before the caller has acted on IMX_EAGAIN: the
 * caller must tolerate an early wake-up). rsv_body_free disarms it: after it
 * returns, wake is never called. wake runs under the download's lock: it
 * must only signal, never call into the resolver.
 */
int64_t rsv_body_read_nb(struct rsv_body *b, uint64_t pos, void *dst, size_t n,
                         void (*wake)(void *arg), void *arg);
void rsv_body_free(struct rsv_body *b); /* NULL-safe; closes fd */

/*
 * Lazy reads of a file that is not stored (uv's HEAD + two range requests
 * for a wheel's central directory and METADATA, protocol-notes 4.4): they
 * are answered without downloading the whole file and start no download;
 * the file is still fetched once, on the first full GET (rsv_open_file).
 *
 * rsv_file_stored: is /files/<key>/<filename> in the blob store?
 * Returns 0 (stored: rsv_open_file serves it, ranges included),
 * IMX_EAGAIN (known but not stored: rsv_file_size / rsv_fetch_range apply),
 * IMX_ENOTFOUND (unknown key, another filename, or offline and not stored).
 * No upstream request.
 */
int rsv_file_stored(struct rsv *r, const char *key, const char *filename);
/*
 * The size of a file, without downloading it: the file table's (from the
 * page, or of the stored bytes), else asked of the upstream with a one-byte
 * range request (its Content-Range total; a 200 answer's Content-Length).
 * @param[out] size_out  written only on success
 * @return 0; IMX_ENOTFOUND (as rsv_file_stored); IMX_EUPSTREAM (no usable
 *         answer; `why` names the upstream)
 */
int rsv_file_size(struct rsv *r, const char *key, const char *filename,
                  uint64_t *size_out /* OUT */, struct buf *why);

#define RSV_MAX_RANGE_BYTES (64u << 20) /* cap on one forwarded range */

/* A forwarded range: what to answer the client. */
struct rsv_range {
    unsigned status;        /* 206, or 416 (range not satisfiable) */
    char content_range[80]; /* 206: "bytes a-b/total", exact; 416: "bytes * /total"
                               without the space, or "" when the upstream gave none */
    char *body;             /* 206: the bytes (malloc'd, owned; rsv_range_release) */
    size_t len;
};
/*
 * Forward one range of a file that is not stored to its upstream and check
 * the answer: a 206 must carry a Content-Range that matches the request
 * (start, end clipped to the total, the total the file table knows if any)
 * and exactly that many bytes; a 416 is passed on.
 *   range  [in] the client's Range header; forwarded only when it is one
 *          bounded range: "bytes=a-b" (a <= b) or "bytes=-n" (n > 0), of at
 *          most RSV_MAX_RANGE_BYTES
 *   out    [out] written only on success; release with rsv_range_release
 * @return 0; IMX_EINVAL (a range this does not forward: answer with the
 *         whole file instead); IMX_ENOTFOUND (as rsv_file_stored);
 *         IMX_EUPSTREAM (any other status, a wrong Content-Range or body
 *         length, a failed transfer: 502, `why` says which)
 */
int rsv_fetch_range(struct rsv *r, const char *key, const char *filename, const char *range,
                    struct rsv_range *out /* OUT */, struct buf *why);
void rsv_range_release(struct rsv_range *rg); /* NULL-safe; frees body */

#endif

/*
 * Explain the page of `project` in `route`: for every file of every
 * consulted index, kept or dropped and the rule that decided it. Appends a
 * text table to `text` and/or a JSON document to `json` (either may be
 * NULL). Returns 0, IMX_EINVAL (unknown route), IMX_ENOTFOUND,
 * IMX_EUPSTREAM (`why`).
 */
int rsv_explain(struct rsv *r, const char *route, const char *project, struct buf *text,
                struct buf *json, struct buf *why);

/*
 * The counters this resolver moves (metrics.h): opts.metrics, or its private
 * ones. Borrowed: valid while the rsv (or the caller's metrics) lives.
 */
struct rsv_metrics *rsv_metrics(const struct rsv *r);
/*
 * Bytes and count of the blobs in the store, recomputed at most every few
 * seconds (a scrape must stay cheap; stg_stat walks the blob directory).
 * Returns 0, or IMX_EIO (the previous figures are still written).
 */
int rsv_store_usage(struct rsv *r, uint64_t *bytes /* OUT */, uint64_t *blobs /* OUT */);
