/*
 * stats.h - the HTTP-side counters and the /metrics exposition
 * (server/stats.c).
 *
 * struct srv_stats counts answered requests by view, kind and status, the
 * bytes sent, and each page request's cache outcome. It lives for the whole
 * process (main.c), like the resolver's struct rsv_metrics (metrics.h):
 * a configuration reload registers new view names but resets nothing.
 * srv_stats_render() turns both into the Prometheus text exposition format
 * 0.0.4 (every family with # HELP and # TYPE, names prefixed indexmux_).
 *
 * Label sets are bounded: views come from configurations (at most
 * SRV_STATS_MAX_VIEWS names, then "other"), kinds are enum srv_kind, and
 * statuses are one of a fixed list (anything else counts as "other").
 *
 * Concurrency: counts are relaxed atomics; srv_stats_request may run on any
 * thread while srv_stats_render runs on another.
 *
 * Calling sequence: srv_stats_new -> srv_stats_request* / srv_stats_render*
 * from any thread -> srv_stats_free once the server stopped.
 */
#ifndef IMX_SRV_STATS_H
#define IMX_SRV_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct rsv_metrics;
struct srv_stats;

enum srv_kind {
    SRV_KIND_PAGE = 0, /* a project page */
    SRV_KIND_LIST,     /* a project list */
    SRV_KIND_FILE,     /* /files/<key>/<filename> */
    SRV_KIND_METADATA, /* /files/<key>/<filename>.metadata */
    SRV_KIND_OTHER,    /* everything else (landing, healthz, metrics, errors) */
    SRV_KIND__N
};

extern const char *const srv_kind_names[SRV_KIND__N];

/* Figures computed at scrape time by the caller (cheap, cached). */
struct srv_stats_store {
    uint64_t bytes; /* blob bytes in the store */
    uint64_t blobs; /* blob count */
};

/* Allocate zeroed stats. Returns 0 with *out. */
int srv_stats_new(struct srv_stats **out /* OUT */);
void srv_stats_free(struct srv_stats *st); /* NULL-safe */

/*
 * Count one answered request when its response is queued (so a client that
 * has the response sees it counted); its bytes follow with srv_stats_bytes
 * once it was sent.
 *   view    [in] the view or index it addressed, NULL or "" for none ("-")
 *   kind    [in] what was asked
 *   status  [in] HTTP status sent
 *   cache   [in] for SRV_KIND_PAGE/LIST: the cache outcome word
 *                (rsv_trace_outcome: hit, miss, stale, revalidated, negative),
 *                else ignored; NULL ignored
 */
void srv_stats_request(struct srv_stats *st, const char *view, enum srv_kind kind,
                       unsigned status, const char *cache);
/* Count body bytes sent (st may be NULL). */
void srv_stats_bytes(struct srv_stats *st, uint64_t bytes);
/* A request handed to a worker thread (st may be NULL). */
void srv_stats_worker(struct srv_stats *st);
/* A streamed body's connection put to sleep until the download moves (st may be NULL). */
void srv_stats_sleep(struct srv_stats *st);

/*
 * Hit ratio for the landing page: (page + file cache hits) / (page + file
 * lookups) over the process lifetime, or a negative value when nothing was
 * asked yet. m may be NULL (pages only).
 */
double srv_stats_hit_ratio(const struct srv_stats *st, const struct rsv_metrics *m);

/*
 * Append the whole exposition (HTTP-side counters from st, resolver
 * counters from m, store figures from store) to out. st, m and store may
 * each be NULL: their families are then left out.
 */
void srv_stats_render(const struct srv_stats *st, const struct rsv_metrics *m,
                      const struct srv_stats_store *store, struct buf *out);

/* The Content-Type of the exposition. */
#define SRV_STATS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
