/*
 * metrics.h - the resolver's counters for /metrics, the access log and the
 * landing page (resolver/metrics.c).
 *
 * One struct rsv_metrics lives for the whole process: main.c creates it and
 * hands it to every resolver generation (rsv_opts.metrics), so a SIGHUP
 * reload does not reset counters. Indexes and views are registered by name
 * into fixed slots (RSV_METRICS_MAX_*): a name keeps its slot for the life
 * of the process, which bounds every label set to the names the
 * configurations ever had.
 *
 * Concurrency: every counter is a uint64_t updated with
 * __atomic_add_fetch(..., __ATOMIC_RELAXED) and read with __atomic_load_n;
 * readers (the /metrics renderer) may see counters a few increments apart,
 * never torn values. Slot registration takes a mutex (at generation start
 * only); a slot's name is written before `nindexes`/`nviews` is published
 * with release order, so readers load the count with acquire order and then
 * read names without a lock. The text of an upstream's last error is the
 * only field behind a mutex (rsv_metrics_last_fetch copies it out).
 *
 * Calling sequence:
 *   rsv_metrics_new(&m)                       main.c, before the first rsv
 *   rsv_new(&{.metrics = m, ...})             registers the config's names
 *   ... requests: the resolver counts; the server reads fields and calls
 *       rsv_metrics_last_fetch / rsv_store_usage ...
 *   rsv_metrics_free(m)                       after the last rsv is freed
 *
 * Request traces: a server thread that wants to know what the resolver did
 * for one request (the access log's cache outcome and upstream) brackets
 * its resolver calls with rsv_trace_begin(&t) / rsv_trace_end(). The
 * pointer is kept per thread (the resolver's calls are synchronous on the
 * caller's thread), which spares every internal function a trace
 * parameter; it is per-thread request state, not shared mutable state.
 */
#ifndef IMX_RSV_METRICS_H
#define IMX_RSV_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RSV_METRICS_MAX_INDEXES 128
#define RSV_METRICS_MAX_VIEWS 128
#define RSV_METRICS_NAME_MAX 64
/* Upstream latency histogram upper bounds in milliseconds (+Inf implied). */
#define RSV_LATENCY_BUCKETS_MS {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}
#define RSV_LATENCY_NBUCKETS 12

/* Outcome of one upstream page lookup through the cache (project.c). */
enum rsv_page_outcome {
    RSV_PAGE_HIT = 0,     /* fresh record served from the store */
    RSV_PAGE_MISS,        /* fetched from the upstream (no record, or it changed) */
    RSV_PAGE_STALE,       /* the upstream failed: a stale record was served */
    RSV_PAGE_REVALIDATED, /* stale record confirmed by a 304 */
    RSV_PAGE_NEGATIVE,    /* a fresh "not here" record was served */
    RSV_PAGE__N
};

/* Outcome of one /files/ open (fetch.c). */
enum rsv_file_outcome {
    RSV_FILE_HIT = 0, /* bytes stored: served from the blob store */
    RSV_FILE_MISS,    /* started a download */
    RSV_FILE_SHARED,  /* joined a download already in flight */
    RSV_FILE__N
};

/* Why the merge kept or dropped a file (merge.c, SPEC.md section 5). */
enum rsv_rule {
    RSV_RULE_SOURCE = 0,      /* kept: a source's marker is not false */
    RSV_RULE_MARKER_FALSE,    /* dropped: the source's marker is false */
    RSV_RULE_SHADOWED,        /* dropped: an earlier source is true for it */
    RSV_RULE_PINNED_AWAY,     /* dropped from the view's indexes: a source is true */
    RSV_RULE_FALLBACK,        /* kept from the view's indexes: no source is true */
    RSV_RULE_INDEX,           /* kept from the view's indexes (project not pinned) */
    RSV_RULE_DUPLICATE,       /* dropped: the same filename came earlier */
    RSV_RULE__N
};

/*
 * What became of a client page the in-memory rendered cache could not
 * answer (resolver.c, stored.c: renderings kept in LMDB).
 */
enum rsv_rendered_outcome {
    RSV_RENDERED_LOADED = 0, /* a stored rendering still held: served, nothing merged */
    RSV_RENDERED_REUSED,     /* inputs re-read, unchanged: the stored bytes reused */
    RSV_RENDERED_RENDERED,   /* rendered (then kept in memory and in the store) */
    RSV_RENDERED_WRITTEN,    /* a rendering written to the store */
    RSV_RENDERED_UNWRITTEN,  /* could not be stored (too large, map full, I/O): memory only */
    RSV_RENDERED__N
};

/* Label values, indexed by the enums above. */
extern const char *const rsv_page_outcome_names[RSV_PAGE__N];
extern const char *const rsv_file_outcome_names[RSV_FILE__N];
extern const char *const rsv_rule_names[RSV_RULE__N];
extern const char *const rsv_rendered_outcome_names[RSV_RENDERED__N];

struct rsv_metrics_index {
    char name[RSV_METRICS_NAME_MAX];
    uint64_t page[RSV_PAGE__N];
    uint64_t file[RSV_FILE__N];
    uint64_t up_requests;                         /* upstream HTTP requests made */
    uint64_t up_errors;                           /* no response, or a 5xx / unexpected one */
    uint64_t up_latency[RSV_LATENCY_NBUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
    uint64_t up_latency_sum_us;
    uint64_t bytes_fetched;                       /* body bytes received */
    int64_t last_time;                            /* unix seconds of the last answer, 0: none */
    int64_t last_status;                          /* its HTTP status, 0: failed */
    char last_error[256];                         /* under rsv_metrics.mu; "" when it worked */
};

struct rsv_metrics_view {
    char name[RSV_METRICS_NAME_MAX];
    uint64_t rules[RSV_RULE__N];
};

struct rsv_metrics {
    pthread_mutex_t mu;       /* slot registration, last_error */
    pthread_mutex_t store_mu; /* the store usage cache below */
    size_t nindexes;    /* published with release order */
    size_t nviews;
    struct rsv_metrics_index indexes[RSV_METRICS_MAX_INDEXES];
    struct rsv_metrics_view views[RSV_METRICS_MAX_VIEWS];
    uint64_t hash_mismatches;  /* downloaded bytes (or metadata) not matching the page */
    uint64_t hash_conflicts;   /* same filename, different sha256 between indexes */
    uint64_t rendered[RSV_RENDERED__N]; /* per enum rsv_rendered_outcome */
    uint64_t pages_parsed;     /* upstream page records parsed into memory (project.c) */
    uint64_t evictions;        /* blobs evicted to honour max-cache-size */
    uint64_t evicted_bytes;
    uint64_t transfers;        /* gauge: file downloads in flight */
    uint64_t transfer_clients; /* gauge: client bodies streaming from them */
    /* store usage cache (rsv_store_usage), under store_mu */
    int64_t store_at_ms;
    uint64_t store_bytes;
    uint64_t store_blobs;
};

/* Allocate zeroed metrics. Returns 0 with *out (never fails otherwise). */
int rsv_metrics_new(struct rsv_metrics **out /* OUT */);
void rsv_metrics_free(struct rsv_metrics *m); /* NULL-safe */

/*
 * The slot of an index / a view, registered on first use. Returns the slot
 * or NULL when every slot is taken (the name is then not counted).
 */
struct rsv_metrics_index *rsv_metrics_index_slot(struct rsv_metrics *m, const char *name);
struct rsv_metrics_view *rsv_metrics_view_slot(struct rsv_metrics *m, const char *name);

/* Count `n` evicted blobs of `bytes` in total (for the cache-care code). */
void rsv_metrics_evicted(struct rsv_metrics *m, uint64_t n, uint64_t bytes);

/*
 * Copy an index slot's last fetch result: *time (unix seconds, 0: never),
 * *status (HTTP status, 0: failed) and its error text into err (may be
 * NULL). Returns false when the index is unknown.
 */
bool rsv_metrics_last_fetch(struct rsv_metrics *m, const char *index, int64_t *time /* OUT */,
                            int64_t *status /* OUT */, char *err, size_t errlen);

/* What the resolver did for one request (see "Request traces" above). */
struct rsv_trace {
    unsigned pages;          /* bit (1 << enum rsv_page_outcome) per lookup seen */
    int file;                /* enum rsv_file_outcome, -1 when no file was opened */
    char upstream[RSV_METRICS_NAME_MAX]; /* first index asked over the network, "" none */
};

/* Start recording into t (zeroed here) on this thread; nests are not supported. */
void rsv_trace_begin(struct rsv_trace *t);
/* Stop recording on this thread. */
void rsv_trace_end(void);
/*
 * One word for a request's cache outcome: the file outcome when a file was
 * opened, else the worst page outcome (stale > miss > revalidated > hit >
 * negative); "hit" when pages were served without any lookup (rendered-page
 * cache), "-" when `page` is false and nothing was recorded.
 */
const char *rsv_trace_outcome(const struct rsv_trace *t, bool page);

#endif
