/*
 * metrics.c - the resolver's counters (metrics.h) and the helpers that
 * project.c, fetch.c and merge.c call to move them (metrics_int.h).
 *
 * Counters are plain uint64_t moved with relaxed atomics: nothing orders on
 * them, a scrape only needs each value untorn. The per-index and per-view
 * slots are looked up once per resolver generation (rsv__metrics_attach)
 * and kept in arrays parallel to cfg->indexes / cfg->views, so a count is
 * an array index plus one atomic add on the request path.
 */
#include "compat.h"

#include <stdio.h>
#include <time.h>

#include "err.h"
#include "metrics_int.h"
#include "resolver_int.h"
#include "str.h"
#include "xalloc.h"

/* Store usage is recomputed at most this often (stg_stat walks blobs/). */
#define STORE_CACHE_MS 5000

const char *const rsv_page_outcome_names[RSV_PAGE__N] = {"hit", "miss", "stale", "revalidated",
                                                         "negative"};
const char *const rsv_file_outcome_names[RSV_FILE__N] = {"hit", "miss", "shared"};
const char *const rsv_rendered_outcome_names[RSV_RENDERED__N] = {"loaded", "reused", "rendered",
                                                                 "written", "unwritten"};
const char *const rsv_rule_names[RSV_RULE__N] = {"source",   "marker_false", "shadowed",
                                                 "pinned_away", "fallback", "index",
                                                 "duplicate"};

/* The request trace of the calling thread (see metrics.h), NULL: none. */
static _Thread_local struct rsv_trace *cur_trace;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void add(uint64_t *c, uint64_t n)
{
    __atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

int rsv_metrics_new(struct rsv_metrics **out)
{
    struct rsv_metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->store_mu, NULL);
    *out = m;
    return 0;
}

void rsv_metrics_free(struct rsv_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->store_mu);
    free(m);
}

struct rsv_metrics_index *rsv_metrics_index_slot(struct rsv_metrics *m, const char *name)
{
    struct rsv_metrics_index *slot = NULL;
    size_t n;

    pthread_mutex_lock(&m->mu);
    n = m->nindexes;
    for (size_t i = 0; i < n && !slot; i++) {
        if (strcmp(m->indexes[i].name, name) == 0)
            slot = &m->indexes[i];
    }
    if (!slot && n < RSV_METRICS_MAX_INDEXES) {
        slot = &m->indexes[n];
        str_copy(slot->name, sizeof(slot->name), name);
        __atomic_store_n(&m->nindexes, n + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m->mu);
    return slot;
}

struct rsv_metrics_view *rsv_metrics_view_slot(struct rsv_metrics *m, const char *name)
{
    struct rsv_metrics_view *slot = NULL;
    size_t n;

    pthread_mutex_lock(&m->mu);
    n = m->nviews;
    for (size_t i = 0; i < n && !slot; i++) {
        if (strcmp(m->views[i].name, name) == 0)
            slot = &m->views[i];
    }
    if (!slot && n < RSV_METRICS_MAX_VIEWS) {
        slot = &m->views[n];
        str_copy(slot->name, sizeof(slot->name), name);
        __atomic_store_n(&m->nviews, n + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m->mu);
    return slot;
}

void rsv_metrics_evicted(struct rsv_metrics *m, uint64_t n, uint64_t bytes)
{
    if (!m)
        return;
    add(&m->evictions, n);
    add(&m->evicted_bytes, bytes);
}

bool rsv_metrics_last_fetch(struct rsv_metrics *m, const char *index, int64_t *time,
                            int64_t *status, char *err, size_t errlen)
{
    size_t n = __atomic_load_n(&m->nindexes, __ATOMIC_ACQUIRE);

    for (size_t i = 0; i < n; i++) {
        struct rsv_metrics_index *s = &m->indexes[i];
        if (strcmp(s->name, index) != 0)
            continue;
        pthread_mutex_lock(&m->mu);
        *time = s->last_time;
        *status = s->last_status;
        if (err && errlen)
            str_copy(err, errlen, s->last_error);
        pthread_mutex_unlock(&m->mu);
        return true;
    }
    return false;
}

/* ---- traces ---- */

void rsv_trace_begin(struct rsv_trace *t)
{
    memset(t, 0, sizeof(*t));
    t->file = -1;
    cur_trace = t;
}

void rsv_trace_end(void)
{
    cur_trace = NULL;
}

const char *rsv_trace_outcome(const struct rsv_trace *t, bool page)
{
    static const enum rsv_page_outcome worst_first[] = {
        RSV_PAGE_STALE, RSV_PAGE_MISS, RSV_PAGE_REVALIDATED, RSV_PAGE_HIT, RSV_PAGE_NEGATIVE};

    if (t->file >= 0 && t->file < RSV_FILE__N)
        return rsv_file_outcome_names[t->file];
    for (size_t i = 0; i < ARRAY_SIZE(worst_first); i++) {
        if (t->pages & (1u << worst_first[i]))
            return rsv_page_outcome_names[worst_first[i]];
    }
    return page ? "hit" : "-";
}

static void trace_upstream(const char *index)
{
    if (cur_trace && !cur_trace->upstream[0])
        str_copy(cur_trace->upstream, sizeof(cur_trace->upstream), index);
}

/* ---- per-generation binding ---- */

int rsv__metrics_attach(struct rsv *r, struct rsv_metrics *m)
{
    const struct config *cfg = r->cfg;

    if (!m) {
        rsv_metrics_new(&m);
        r->own_metrics = true;
    }
    r->metrics = m;
    r->ix_slots = xcalloc(cfg->nindexes + 1, sizeof(*r->ix_slots));
    r->view_slots = xcalloc(cfg->nviews + 1, sizeof(*r->view_slots));
    for (size_t i = 0; i < cfg->nindexes; i++)
        r->ix_slots[i] = rsv_metrics_index_slot(m, cfg->indexes[i].name);
    for (size_t i = 0; i < cfg->nviews; i++)
        r->view_slots[i] = rsv_metrics_view_slot(m, cfg->views[i].name);
    return 0;
}

void rsv__metrics_detach(struct rsv *r)
{
    free(r->ix_slots);
    free(r->view_slots);
    r->ix_slots = NULL;
    r->view_slots = NULL;
    if (r->own_metrics)
        rsv_metrics_free(r->metrics);
    r->metrics = NULL;
}

static struct rsv_metrics_index *ix_slot(struct rsv *r, const struct config_index *ix)
{
    if (!r->ix_slots || !ix || ix < r->cfg->indexes || ix >= r->cfg->indexes + r->cfg->nindexes)
        return NULL;
    return r->ix_slots[ix - r->cfg->indexes];
}

static struct rsv_metrics_index *ix_slot_named(struct rsv *r, const char *index)
{
    return index ? ix_slot(r, config_find_index(r->cfg, index)) : NULL;
}

void rsv__count_page(struct rsv *r, const struct config_index *ix, enum rsv_page_outcome o)
{
    struct rsv_metrics_index *s = ix_slot(r, ix);

    if (cur_trace)
        cur_trace->pages |= 1u << o;
    if (s)
        add(&s->page[o], 1);
}

void rsv__count_file(struct rsv *r, const char *index, enum rsv_file_outcome o)
{
    struct rsv_metrics_index *s = ix_slot_named(r, index);

    if (cur_trace) {
        cur_trace->file = (int)o;
        if (o != RSV_FILE_HIT && index)
            trace_upstream(index);
    }
    if (s)
        add(&s->file[o], 1);
}

void rsv__count_rule(struct rsv *r, const struct config_view *v, enum rsv_rule rule)
{
    const struct config *cfg = r->cfg;

    if (!r->view_slots || !v || v < cfg->views || v >= cfg->views + cfg->nviews)
        return;
    if (r->view_slots[v - cfg->views])
        add(&r->view_slots[v - cfg->views]->rules[rule], 1);
}

void rsv__count_rules(struct rsv *r, const struct config_view *v, const uint64_t n[RSV_RULE__N])
{
    const struct config *cfg = r->cfg;
    struct rsv_metrics_view *slot;

    if (!r->view_slots || !v || v < cfg->views || v >= cfg->views + cfg->nviews)
        return;
    slot = r->view_slots[v - cfg->views];
    for (size_t i = 0; slot && i < RSV_RULE__N; i++) {
        if (n[i])
            add(&slot->rules[i], n[i]);
    }
}

void rsv__count_rendered(struct rsv *r, enum rsv_rendered_outcome o)
{
    if (r->metrics)
        add(&r->metrics->rendered[o], 1);
}

void rsv__count_page_parsed(struct rsv *r)
{
    if (r->metrics)
        add(&r->metrics->pages_parsed, 1);
}

void rsv__count_hash_mismatch(struct rsv *r)
{
    if (r->metrics)
        add(&r->metrics->hash_mismatches, 1);
}

void rsv__count_hash_conflict(struct rsv *r)
{
    if (r->metrics)
        add(&r->metrics->hash_conflicts, 1);
}

static void gauge(uint64_t *g, int delta)
{
    if (delta >= 0)
        __atomic_add_fetch(g, (uint64_t)delta, __ATOMIC_RELAXED);
    else
        __atomic_sub_fetch(g, (uint64_t)-delta, __ATOMIC_RELAXED);
}

void rsv__gauge_transfers(struct rsv *r, int delta)
{
    if (r->metrics)
        gauge(&r->metrics->transfers, delta);
}

void rsv__gauge_transfer_clients(struct rsv *r, int delta)
{
    if (r->metrics)
        gauge(&r->metrics->transfer_clients, delta);
}

/* ---- the upstream wrapper ---- */

struct timed {
    const struct upstream_request *orig;
    int64_t start_us;
    int64_t headers_us; /* 0 until the final headers came */
    uint64_t bytes;
};

static int timed_headers(void *ctx, long status, int64_t content_length)
{
    struct timed *t = ctx;

    t->headers_us = mono_us();
    if (t->orig->on_headers)
        return t->orig->on_headers(t->orig->ctx, status, content_length);
    return 0;
}

static int timed_data(void *ctx, const void *p, size_t n)
{
    struct timed *t = ctx;

    t->bytes += n;
    return t->orig->on_data(t->orig->ctx, p, n);
}

static void record_latency(struct rsv_metrics_index *s, int64_t us)
{
    static const int64_t bounds_ms[RSV_LATENCY_NBUCKETS] = RSV_LATENCY_BUCKETS_MS;
    size_t b = RSV_LATENCY_NBUCKETS;

    if (us < 0)
        us = 0;
    for (size_t i = 0; i < RSV_LATENCY_NBUCKETS; i++) {
        if (us <= bounds_ms[i] * 1000) {
            b = i;
            break;
        }
    }
    add(&s->up_latency[b], 1);
    add(&s->up_latency_sum_us, (uint64_t)us);
}

int rsv__upstream_fetch(struct rsv *r, const char *index, const struct upstream_request *req,
                        struct upstream_response *resp)
{
    struct rsv_metrics_index *s = ix_slot_named(r, index);
    struct upstream_request wrapped = *req;
    struct timed t = {req, mono_us(), 0, 0};
    bool failed;
    int rc;

    wrapped.on_headers = timed_headers;
    wrapped.on_data = req->on_data ? timed_data : NULL;
    wrapped.ctx = &t;
    if (index)
        trace_upstream(index);
    rc = upstream_fetch(r->up, &wrapped, resp);
    if (!s)
        return rc;
    failed = rc != 0 || resp->status == 0 || resp->status >= 500;
    add(&s->up_requests, 1);
    if (failed)
        add(&s->up_errors, 1);
    record_latency(s, (t.headers_us ? t.headers_us : mono_us()) - t.start_us);
    add(&s->bytes_fetched, req->on_data ? t.bytes : resp->body.len);
    pthread_mutex_lock(&r->metrics->mu);
    s->last_time = (int64_t)time(NULL);
    s->last_status = rc == 0 ? resp->status : 0;
    if (rc != 0)
        str_copy(s->last_error, sizeof(s->last_error),
                 resp->error[0] ? resp->error : imx_strerror(rc));
    else if (failed)
        snprintf(s->last_error, sizeof(s->last_error), "HTTP %ld", resp->status);
    else
        s->last_error[0] = '\0';
    pthread_mutex_unlock(&r->metrics->mu);
    return rc;
}

/* ---- public accessors on struct rsv ---- */

struct rsv_metrics *rsv_metrics(const struct rsv *r)
{
    CHECK_OBJ(r, RSV_MAGIC);
    return r->metrics;
}

int rsv_store_usage(struct rsv *r, uint64_t *bytes, uint64_t *blobs)
{
    struct rsv_metrics *m = r->metrics;
    int64_t now = mono_ms();
    int rc = 0;

    CHECK_OBJ(r, RSV_MAGIC);
    pthread_mutex_lock(&m->store_mu);
    if (m->store_at_ms == 0 || now - m->store_at_ms >= STORE_CACHE_MS) {
        struct stg_stats st;
        /* Under the mutex on purpose: concurrent scrapes share one walk. */
        rc = stg_stat(r->stg, &st);
        if (rc == 0) {
            m->store_bytes = st.blob_bytes;
            m->store_blobs = st.blobs;
            m->store_at_ms = now;
        }
    }
    *bytes = m->store_bytes;
    *blobs = m->store_blobs;
    pthread_mutex_unlock(&m->store_mu);
    return rc;
}
