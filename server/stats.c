/*
 * stats.c - HTTP-side counters and the Prometheus text exposition of
 * /metrics (stats.h). The resolver's counters (resolver/metrics.h) are read
 * here, never written: this file only renders them.
 *
 * Exposition format 0.0.4: per family one "# HELP", one "# TYPE", then
 * samples "name{label="value",...} value"; label values escape \, " and
 * newline; histogram buckets are cumulative and end with le="+Inf", equal
 * to _count. Series whose value is zero are left out where a label set
 * would otherwise multiply (requests by view x kind x status); families
 * with a small fixed label set are always emitted in full, so a scraper
 * sees them from the first scrape.
 */
#include "compat.h"

#include <pthread.h>
#include <stdio.h>

#include "metrics.h"
#include "stats.h"
#include "str.h"
#include "xalloc.h"

#define SRV_STATS_MAX_VIEWS 128

/* Statuses counted by value; anything else is "other" (the last slot). */
static const unsigned statuses[] = {200, 206, 301, 304, 400, 403, 404, 405, 406,
                                    413, 414, 416, 431, 500, 502, 503, 504};
#define NSTATUS (ARRAY_SIZE(statuses) + 1)

const char *const srv_kind_names[SRV_KIND__N] = {"page", "list", "file", "metadata", "other"};

struct view_slot {
    char name[RSV_METRICS_NAME_MAX];
    uint64_t count[SRV_KIND__N][NSTATUS];
};

struct srv_stats {
    pthread_mutex_t mu; /* view registration only */
    size_t nviews;      /* published with release order */
    struct view_slot views[SRV_STATS_MAX_VIEWS + 2]; /* + "-" and "other" */
    uint64_t bytes_served;
    uint64_t page_cache[RSV_PAGE__N]; /* per page/list request */
    uint64_t worker_requests; /* handed from an event thread to a worker */
    uint64_t reader_sleeps;   /* streamed bodies that waited for a download */
};

int srv_stats_new(struct srv_stats **out)
{
    struct srv_stats *st = xcalloc(1, sizeof(*st));

    pthread_mutex_init(&st->mu, NULL);
    snprintf(st->views[0].name, sizeof(st->views[0].name), "-");
    st->nviews = 1;
    *out = st;
    return 0;
}

void srv_stats_free(struct srv_stats *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static struct view_slot *view_slot(struct srv_stats *st, const char *view)
{
    size_t n = __atomic_load_n(&st->nviews, __ATOMIC_ACQUIRE);
    struct view_slot *slot = NULL;

    if (!view || !view[0])
        return &st->views[0];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(st->views[i].name, view) == 0)
            return &st->views[i];
    }
    pthread_mutex_lock(&st->mu);
    n = st->nviews;
    for (size_t i = 0; i < n && !slot; i++) {
        if (strcmp(st->views[i].name, view) == 0)
            slot = &st->views[i];
    }
    if (!slot && n < SRV_STATS_MAX_VIEWS + 1) {
        slot = &st->views[n];
        str_copy(slot->name, sizeof(slot->name), view);
        __atomic_store_n(&st->nviews, n + 1, __ATOMIC_RELEASE);
    } else if (!slot) {
        /* Full: one overflow slot named "other". */
        slot = &st->views[SRV_STATS_MAX_VIEWS + 1];
        if (!slot->name[0])
            snprintf(slot->name, sizeof(slot->name), "other");
    }
    pthread_mutex_unlock(&st->mu);
    return slot;
}

static size_t status_slot(unsigned status)
{
    for (size_t i = 0; i < ARRAY_SIZE(statuses); i++) {
        if (statuses[i] == status)
            return i;
    }
    return NSTATUS - 1;
}

void srv_stats_bytes(struct srv_stats *st, uint64_t bytes)
{
    if (st)
        __atomic_add_fetch(&st->bytes_served, bytes, __ATOMIC_RELAXED);
}

void srv_stats_worker(struct srv_stats *st)
{
    if (st)
        __atomic_add_fetch(&st->worker_requests, 1, __ATOMIC_RELAXED);
}

void srv_stats_sleep(struct srv_stats *st)
{
    if (st)
        __atomic_add_fetch(&st->reader_sleeps, 1, __ATOMIC_RELAXED);
}

void srv_stats_request(struct srv_stats *st, const char *view, enum srv_kind kind,
                       unsigned status, const char *cache)
{
    struct view_slot *vs;

    if (!st)
        return;
    assert(kind < SRV_KIND__N);
    vs = view_slot(st, view);
    __atomic_add_fetch(&vs->count[kind][status_slot(status)], 1, __ATOMIC_RELAXED);
    if (cache && (kind == SRV_KIND_PAGE || kind == SRV_KIND_LIST)) {
        for (size_t i = 0; i < RSV_PAGE__N; i++) {
            if (strcmp(cache, rsv_page_outcome_names[i]) == 0) {
                __atomic_add_fetch(&st->page_cache[i], 1, __ATOMIC_RELAXED);
                break;
            }
        }
    }
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

double srv_stats_hit_ratio(const struct srv_stats *st, const struct rsv_metrics *m)
{
    uint64_t hits = 0;
    uint64_t all = 0;

    for (size_t i = 0; st && i < RSV_PAGE__N; i++) {
        uint64_t v = load(&st->page_cache[i]);
        all += v;
        if (i == RSV_PAGE_HIT || i == RSV_PAGE_NEGATIVE)
            hits += v;
    }
    if (m) {
        size_t n = __atomic_load_n(&m->nindexes, __ATOMIC_ACQUIRE);
        for (size_t i = 0; i < n; i++) {
            for (size_t o = 0; o < RSV_FILE__N; o++) {
                uint64_t v = load(&m->indexes[i].file[o]);
                all += v;
                if (o == RSV_FILE_HIT)
                    hits += v;
            }
        }
    }
    return all ? (double)hits / (double)all : -1.0;
}

/* ---- rendering ---- */

static void label_value(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(out, '\\');
        if (*s == '\n') {
            buf_appends(out, "\\n");
            continue;
        }
        buf_putc(out, *s);
    }
}

static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} value; k2 may be NULL. */
static void sample2(struct buf *out, const char *name, const char *k1, const char *v1,
                    const char *k2, const char *v2, uint64_t value)
{
    buf_appends(out, name);
    if (k1) {
        buf_printf(out, "{%s=\"", k1);
        label_value(out, v1);
        buf_putc(out, '"');
        if (k2) {
            buf_printf(out, ",%s=\"", k2);
            label_value(out, v2);
            buf_putc(out, '"');
        }
        buf_putc(out, '}');
    }
    buf_printf(out, " %llu\n", (unsigned long long)value);
}

/* A family with one unlabelled sample. */
static void scalar(struct buf *out, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    family(out, name, type, help);
    sample2(out, name, NULL, NULL, NULL, NULL, value);
}

static void render_http(const struct srv_stats *st, struct buf *out)
{
    size_t n = __atomic_load_n(&st->nviews, __ATOMIC_ACQUIRE);
    char code[16];

    family(out, "indexmux_requests_total", "counter",
           "HTTP requests answered, by view (\"-\" for none), kind and status.");
    for (size_t v = 0; v < SRV_STATS_MAX_VIEWS + 2; v++) {
        const struct view_slot *vs = &st->views[v];
        if (v >= n && v != SRV_STATS_MAX_VIEWS + 1)
            continue;
        if (!vs->name[0])
            continue;
        for (size_t k = 0; k < SRV_KIND__N; k++) {
            for (size_t s = 0; s < NSTATUS; s++) {
                uint64_t c = load(&vs->count[k][s]);
                if (c == 0)
                    continue;
                if (s < ARRAY_SIZE(statuses))
                    snprintf(code, sizeof(code), "%u", statuses[s]);
                else
                    snprintf(code, sizeof(code), "other");
                buf_appends(out, "indexmux_requests_total{view=\"");
                label_value(out, vs->name);
                buf_printf(out, "\",kind=\"%s\",status=\"%s\"} %llu\n", srv_kind_names[k], code,
                           (unsigned long long)c);
            }
        }
    }
    scalar(out, "indexmux_served_bytes_total", "counter",
           "Response body bytes sent to clients.",
           load(&st->bytes_served));
    family(out, "indexmux_page_cache_total", "counter",
           "Page and project-list requests by cache outcome (hit includes rendered-page "
           "cache hits; the worst outcome of the upstream pages involved otherwise).");
    for (size_t i = 0; i < RSV_PAGE__N; i++)
        sample2(out, "indexmux_page_cache_total", "outcome", rsv_page_outcome_names[i], NULL,
                NULL, load(&st->page_cache[i]));
    scalar(out, "indexmux_worker_requests_total", "counter",
           "Requests an event thread handed to a worker thread because answering "
           "them may block (upstream fetches, first downloads, stale pages).",
           load(&st->worker_requests));
    scalar(out, "indexmux_reader_sleeps_total", "counter",
           "Times a client's connection slept until a download in progress had more bytes.",
           load(&st->reader_sleeps));
}

static void render_histogram(struct buf *out, const struct rsv_metrics_index *ix)
{
    static const int64_t bounds_ms[RSV_LATENCY_NBUCKETS] = RSV_LATENCY_BUCKETS_MS;
    uint64_t cum = 0;
    uint64_t sum_us = load(&ix->up_latency_sum_us);

    for (size_t b = 0; b <= RSV_LATENCY_NBUCKETS; b++) {
        cum += load(&ix->up_latency[b]);
        buf_appends(out, "indexmux_upstream_latency_seconds_bucket{index=\"");
        label_value(out, ix->name);
        if (b < RSV_LATENCY_NBUCKETS)
            buf_printf(out, "\",le=\"%g\"} %llu\n", (double)bounds_ms[b] / 1000.0,
                       (unsigned long long)cum);
        else
            buf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    buf_appends(out, "indexmux_upstream_latency_seconds_sum{index=\"");
    label_value(out, ix->name);
    buf_printf(out, "\"} %.6f\n", (double)sum_us / 1e6);
    sample2(out, "indexmux_upstream_latency_seconds_count", "index", ix->name, NULL, NULL, cum);
}

static void render_resolver(const struct rsv_metrics *m, struct buf *out)
{
    size_t ni = __atomic_load_n(&m->nindexes, __ATOMIC_ACQUIRE);
    size_t nv = __atomic_load_n(&m->nviews, __ATOMIC_ACQUIRE);

    family(out, "indexmux_index_page_cache_total", "counter",
           "Upstream page lookups through the page cache, by index and outcome.");
    for (size_t i = 0; i < ni; i++)
        for (size_t o = 0; o < RSV_PAGE__N; o++)
            sample2(out, "indexmux_index_page_cache_total", "index", m->indexes[i].name,
                    "outcome", rsv_page_outcome_names[o], load(&m->indexes[i].page[o]));
    family(out, "indexmux_file_cache_total", "counter",
           "File opens by index and outcome (shared: joined a download in flight).");
    for (size_t i = 0; i < ni; i++)
        for (size_t o = 0; o < RSV_FILE__N; o++)
            sample2(out, "indexmux_file_cache_total", "index", m->indexes[i].name, "outcome",
                    rsv_file_outcome_names[o], load(&m->indexes[i].file[o]));
    family(out, "indexmux_upstream_requests_total", "counter",
           "HTTP requests sent to each upstream index.");
    for (size_t i = 0; i < ni; i++)
        sample2(out, "indexmux_upstream_requests_total", "index", m->indexes[i].name, NULL, NULL,
                load(&m->indexes[i].up_requests));
    family(out, "indexmux_upstream_errors_total", "counter",
           "Upstream requests that got no response or a 5xx.");
    for (size_t i = 0; i < ni; i++)
        sample2(out, "indexmux_upstream_errors_total", "index", m->indexes[i].name, NULL, NULL,
                load(&m->indexes[i].up_errors));
    family(out, "indexmux_upstream_latency_seconds", "histogram",
           "Time from sending an upstream request to its final response headers.");
    for (size_t i = 0; i < ni; i++)
        render_histogram(out, &m->indexes[i]);
    family(out, "indexmux_fetched_bytes_total", "counter",
           "Body bytes received from each upstream index.");
    for (size_t i = 0; i < ni; i++)
        sample2(out, "indexmux_fetched_bytes_total", "index", m->indexes[i].name, NULL, NULL,
                load(&m->indexes[i].bytes_fetched));
    family(out, "indexmux_routing_decisions_total", "counter",
           "Files kept or dropped by the virtual-index rules, by view and rule.");
    for (size_t v = 0; v < nv; v++)
        for (size_t r = 0; r < RSV_RULE__N; r++)
            sample2(out, "indexmux_routing_decisions_total", "view", m->views[v].name, "rule",
                    rsv_rule_names[r], load(&m->views[v].rules[r]));
    family(out, "indexmux_rendered_pages_total", "counter",
           "Pages the in-memory cache lacked: loaded (a stored rendering still held, nothing "
           "merged), reused (inputs re-read, unchanged: stored bytes reused), rendered; and "
           "renderings written to the store or not (unwritten).");
    for (size_t o = 0; o < RSV_RENDERED__N; o++)
        sample2(out, "indexmux_rendered_pages_total", "outcome", rsv_rendered_outcome_names[o],
                NULL, NULL, load(&m->rendered[o]));
    scalar(out, "indexmux_transfers_in_flight", "gauge",
           "File downloads in progress.",
           load(&m->transfers));
    scalar(out, "indexmux_transfer_clients", "gauge",
           "Client responses streaming from downloads in progress.",
           load(&m->transfer_clients));
    scalar(out, "indexmux_pages_parsed_total", "counter",
           "Upstream page records parsed from the store into memory (first use, after a "
           "restart or an eviction, or a changed page; not an unchanged revalidation).",
           load(&m->pages_parsed));
    scalar(out, "indexmux_hash_mismatches_total", "counter",
           "Downloads (files or metadata) whose sha256 did not match their page.",
           load(&m->hash_mismatches));
    scalar(out, "indexmux_hash_conflicts_total", "counter",
           "Same filename with different sha256 from two indexes of a view.",
           load(&m->hash_conflicts));
    scalar(out, "indexmux_store_evictions_total", "counter",
           "Blobs evicted to keep the store under max-cache-size.",
           load(&m->evictions));
    scalar(out, "indexmux_store_evicted_bytes_total", "counter",
           "Bytes of the evicted blobs.",
           load(&m->evicted_bytes));
}

void srv_stats_render(const struct srv_stats *st, const struct rsv_metrics *m,
                      const struct srv_stats_store *store, struct buf *out)
{
    if (st)
        render_http(st, out);
    if (m)
        render_resolver(m, out);
    if (store) {
        scalar(out, "indexmux_store_bytes", "gauge",
               "Bytes of package files in the store.",
               store->bytes);
        scalar(out, "indexmux_store_blobs", "gauge",
               "Package files in the store.",
               store->blobs);
    }
}
