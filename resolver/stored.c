/*
 * stored.c - rendered pages kept in LMDB (STG_DB_RENDERED), so that a page
 * the in-memory cache lacks (after a restart, a reload, an eviction) is
 * answered without reading, parsing or merging its inputs, and without
 * rendering or compressing it again.
 *
 * A stored rendering (storage.h, struct stg_rendered) is keyed like the
 * memory cache ("<route>\n<project>\n<format>\n<depth>"; lists
 * "<route>\n\n<format>") and holds the body, its gzip (made at store time
 * for pages of 512 bytes or more), the strong ETag, and what decides later
 * whether the bytes still hold:
 *
 *   fingerprint  sha256 of everything but the inputs the bytes depend on:
 *                the code (RSV_CODE_ID, a hash of the resolver, pep and
 *                common sources made by the build), offline mode,
 *                public-url, the route's indexes (name, URL, strategy),
 *                the project's pin (sources, indexes, markers) or, for a
 *                list, the pinned names. A configuration change across a
 *                restart or reload changes it exactly for the pages it
 *                touches.
 *   files_gen    the files generation (storage.h) of the page's project,
 *                read before the inputs: STG_GEN_LEARNED online,
 *                STG_GEN_STORED offline, none for lists. storage moves a
 *                project's in the transaction that changes a file record
 *                its page lists (every project's for a record of unknown
 *                project), and keeps them across restarts: storing a file
 *                of one project leaves the other projects' renderings
 *                valid.
 *   inputs       (index, project, stamp) of every upstream page the merge
 *                consulted, in order; the stamp follows the record's body
 *                (rsv__page_stamp), whose sha256 the record carries.
 *   stamps       the memory cache's identity string (inputs, computed
 *                hashes, generation), compared as a whole after a merge.
 *
 * Validation rule (rsv__stored_valid): same fingerprint, same generation
 * (kind, project and value), and every input record fresh under the cache policy of SPEC section 6
 * (any age offline) with the same stamp. It reads one record head per
 * input and nothing else: no parse, no merge, no upstream request. When an
 * input is stale the normal path runs (revalidation...), and if the stamps
 * it ends with equal the stored ones the stored bytes are reused
 * (rsv__stored_load) instead of rendering again.
 *
 * Writes happen only when a rendering is new (resolver.c renders once per
 * key at a time) and storage skips a record that already describes the
 * same bytes, so a herd of requests writes at most once. They happen on
 * one writer thread per resolver, after the request is answered: gzip of
 * numpy's 1.6 MB page (~30-45 ms here) and a durable LMDB commit would
 * otherwise triple the time of a new rendering. The queue is bounded and
 * drained at shutdown. Failing to write (queue full, map full, a page over
 * STG_RENDERED_MAX_BYTES, a read-only store) costs nothing but the next
 * restart's work.
 */
#include "compat.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "metrics_int.h"
#include "resolver_int.h"
#include "rsv_code_id.h"
#include "sha256.h"
#include "xalloc.h"

enum stg_gen rsv__gen_kind(const struct rsv *r)
{
    return r->offline ? STG_GEN_STORED : STG_GEN_LEARNED;
}

/* A length-prefixed string: no two configurations hash the same text. */
static void fp_str(struct sha256 *h, const char *tag, const char *s)
{
    char len[32];

    snprintf(len, sizeof(len), "%s %zu:", tag, s ? strlen(s) : (size_t)0);
    sha256_update(h, len, strlen(len));
    if (s)
        sha256_update(h, s, strlen(s));
    sha256_update(h, "\n", 1);
}

static void fp_index(struct sha256 *h, const struct config_index *ix)
{
    fp_str(h, "index", ix->name);
    fp_str(h, "url", ix->url);
}

void rsv__stored_fingerprint(const struct rsv *r, const struct rsv__route *rt,
                             const char *project, char out[65])
{
    const struct config *cfg = r->cfg;
    struct sha256 *h = sha256_new();
    char line[96];

    fp_str(h, "code", RSV_CODE_ID);
    snprintf(line, sizeof(line), "offline %d\n", r->offline ? 1 : 0);
    sha256_update(h, line, strlen(line));
    fp_str(h, "public-url", cfg->server.public_url);
    fp_str(h, "route", rt->name);
    if (!rt->view) {
        fp_index(h, rt->index);
    } else {
        const struct config_view *v = rt->view;
        snprintf(line, sizeof(line), "strategy %d\n", (int)v->strategy);
        sha256_update(h, line, strlen(line));
        for (size_t i = 0; i < v->nindexes; i++)
            fp_index(h, &cfg->indexes[v->indexes[i]]);
        if (project) {
            const struct config_pin *pin = config_find_pin(v, project);
            for (size_t k = 0; pin && k < pin->nsources; k++) {
                fp_index(h, &cfg->indexes[pin->sources[k].index]);
                fp_str(h, "marker", pin->sources[k].marker); /* NULL: none */
            }
        } else {
            for (size_t i = 0; i < v->npins; i++)
                fp_str(h, "pin", v->pins[i].project);
        }
    }
    sha256_final_hex(h, out);
    sha256_free(h);
}

/* A cache key fit for one log line ("route project format depth"). */
static const char *key_for_log(const char *key, char out[160])
{
    size_t i = 0;

    for (; key[i] && i < 159; i++)
        out[i] = key[i] == '\n' ? ' ' : key[i];
    out[i] = '\0';
    return out;
}

/* Same fingerprint and generation: the header part of both checks below. */
static bool same_basis(const struct stg_rendered *rec, const char *fp, enum stg_gen kind,
                       const char *project, uint64_t gen)
{
    if (rec->gen_kind != kind || rec->files_gen != gen || strcmp(rec->fingerprint, fp) != 0)
        return false;
    /* Another project's value, or (schema 2) none: no telling what moved. */
    return kind == STG_GEN_NONE ||
           (rec->project && project && strcmp(rec->project, project) == 0);
}

static int read_rendering(struct rsv *r, const char *key, bool with_body,
                          struct stg_rendered *out)
{
    int rc = stg_rendered_get(r->stg, key, with_body, out);
    char lk[160];

    if (rc == IMX_ECORRUPT)
        log_debug("stored rendering of '%s' does not decode: rendering again",
                  key_for_log(key, lk));
    return rc == 0 ? 0 : IMX_ENOTFOUND;
}

int rsv__stored_valid(struct rsv *r, const char *key, const char *fp, enum stg_gen kind,
                      const char *project, uint64_t gen, struct stg_rendered *out,
                      int64_t *fresh_until)
{
    struct stg_rendered rec;
    int64_t until = INT64_MAX;
    int rc;

    rc = read_rendering(r, key, false, &rec);
    if (rc != 0)
        return rc;
    if (!same_basis(&rec, fp, kind, project, gen) || rec.ninputs == 0)
        goto invalid;
    for (size_t i = 0; i < rec.ninputs; i++) {
        const struct stg_rendered_input *in = &rec.inputs[i];
        const struct config_index *ix = config_find_index(r->cfg, in->index);
        int64_t fu = 0;

        if (!ix || !rsv__input_fresh(r, ix, in->project, in->stamp, &fu))
            goto invalid;
        if (fu < until)
            until = fu;
    }
    *out = rec;
    *fresh_until = until;
    return 0;
invalid:
    stg_rendered_release(&rec);
    return IMX_ENOTFOUND;
}

int rsv__stored_load(struct rsv *r, const char *key, const char *fp, enum stg_gen kind,
                     const char *project, uint64_t gen, const char *stamps,
                     struct stg_rendered *out)
{
    struct stg_rendered rec;
    int rc;

    /* The head first: a mismatch must not cost a copy of the bytes. */
    rc = read_rendering(r, key, false, &rec);
    if (rc != 0)
        return rc;
    rc = same_basis(&rec, fp, kind, project, gen) && strcmp(rec.stamps, stamps) == 0
             ? 0
             : IMX_ENOTFOUND;
    stg_rendered_release(&rec);
    if (rc != 0)
        return rc;
    /* Rewritten meanwhile by another request or generation: checked again. */
    rc = read_rendering(r, key, true, &rec);
    if (rc != 0)
        return rc;
    if (!same_basis(&rec, fp, kind, project, gen) || strcmp(rec.stamps, stamps) != 0) {
        stg_rendered_release(&rec);
        return IMX_ENOTFOUND;
    }
    *out = rec;
    return 0;
}

/*
 * The inputs of a rendering from the merge's "<index>=<stamp>;" string.
 * False when it does not read as such (then the rendering is not kept).
 */
static bool parse_inputs(const char *s, size_t len, const char *project,
                         struct stg_rendered_input **out, size_t *n)
{
    struct stg_rendered_input *v = NULL;
    size_t cnt = 0, cap = 0;
    const char *end = s + len;

    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *eq = semi ? memchr(s, '=', (size_t)(semi - s)) : NULL;

        if (!eq || eq == s || eq + 1 == semi || cnt == STG_RENDERED_MAX_INPUTS)
            goto bad;
        v = xgrow(v, &cap, cnt + 1, sizeof(*v));
        v[cnt].index = xstrndup(s, (size_t)(eq - s));
        v[cnt].project = xstrdup(project);
        v[cnt].stamp = xstrndup(eq + 1, (size_t)(semi - eq - 1));
        cnt++;
        s = semi + 1;
    }
    *out = v;
    *n = cnt;
    return cnt > 0;
bad:
    for (size_t i = 0; i < cnt; i++) {
        free(v[i].index);
        free(v[i].project);
        free(v[i].stamp);
    }
    free(v);
    return false;
}

/* ---- the writer thread ---- */

/*
 * Renderings waiting to be stored. Bounded: past RSV_WRITE_QUEUE_MAX jobs a
 * new one is dropped (counted unwritten); each holds a page reference, so
 * the queue pins at most that many renderings beyond the memory cache.
 */
#define RSV_WRITE_QUEUE_MAX 64
#define WRITER_NICE 10

struct write_job {
    char *key, *fp, *stamps, *project;
    size_t inputs_len;
    enum stg_gen kind;
    uint64_t gen;
    struct rsv_page *page; /* referenced */
    struct write_job *next;
};

/*
 * Job states: queued (on the list, under mu) -> taken by the thread ->
 * written or failed (counted) -> freed. rsv__writer_free sets `stop`; the
 * thread empties the list before it exits, so a rendering made before a
 * shutdown is found by the next start.
 */
struct rsv__writer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct write_job *head, *tail; /* under mu */
    size_t n;                      /* under mu */
    bool stop;                     /* under mu */
    pthread_t thread;
    struct rsv *r;
};

static void job_free(struct write_job *j)
{
    if (!j)
        return;
    free(j->key);
    free(j->fp);
    free(j->stamps);
    free(j->project);
    rsv_page_unref(j->page);
    free(j);
}

/* Gzip (pages of 512 bytes or more) and write one rendering. */
static void write_one(struct rsv *r, const struct write_job *j)
{
    struct stg_rendered rec = {0};
    const char *gz = NULL;
    size_t gz_len = 0;
    char lk[160];
    int rc;

    if (!parse_inputs(j->stamps, j->inputs_len, j->project, &rec.inputs, &rec.ninputs)) {
        log_debug("rendering of '%s' not kept: its inputs do not read back",
                  key_for_log(j->key, lk));
        rsv__count_rendered(r, RSV_RENDERED_UNWRITTEN);
        return;
    }
    if (!rsv_page_gzip(j->page, &gz, &gz_len))
        gz = NULL;
    rec.rendered_at = rsv__now();
    rec.fingerprint = j->fp;
    rec.gen_kind = j->kind;
    rec.project = j->kind != STG_GEN_NONE ? j->project : NULL;
    rec.files_gen = j->gen;
    rec.stamps = j->stamps;
    rec.etag = j->page->etag;
    rec.body = (char *)j->page->body;
    rec.body_len = j->page->len;
    rec.gz = (char *)gz;
    rec.gz_len = gz ? gz_len : 0;
    rc = stg_rendered_put(r->stg, j->key, &rec);
    if (rc == 0) {
        rsv__count_rendered(r, RSV_RENDERED_WRITTEN);
    } else if (rc != IMX_EEXIST) {
        rsv__count_rendered(r, RSV_RENDERED_UNWRITTEN);
        /* storage logs map full (once a minute) and I/O errors with the path itself. */
        if (rc == IMX_ETOOLARGE || rc == IMX_EINVAL)
            log_debug("rendering of '%s' not kept (%zu bytes): %s", key_for_log(j->key, lk),
                      j->page->len, imx_strerror(rc));
    }
    for (size_t i = 0; i < rec.ninputs; i++) {
        free(rec.inputs[i].index);
        free(rec.inputs[i].project);
        free(rec.inputs[i].stamp);
    }
    free(rec.inputs);
}

static void *writer_main(void *arg)
{
    struct rsv__writer *w = arg;

    /*
     * Below the request threads: its gzip must not slow down the next
     * rendering a client waits for (Linux: nice is per thread).
     */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE) != 0)
        log_debug("cannot lower the rendered-page writer's priority");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct write_job *j;

        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        j = w->head;
        if (!j)
            break; /* stopping, and nothing left */
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->n--;
        pthread_mutex_unlock(&w->mu);
        write_one(w->r, j);
        job_free(j);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct rsv__writer *rsv__writer_new(struct rsv *r)
{
    struct rsv__writer *w;

    if (stg_read_only(r->stg))
        return NULL;
    w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->r = r;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        log_warnx("cannot start the rendered-page writer: renderings are stored by requests");
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

void rsv__writer_free(struct rsv__writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    assert(w->head == NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

void rsv__stored_keep(struct rsv *r, const char *key, const char *fp, enum stg_gen kind,
                      uint64_t gen, const char *stamps, size_t inputs_len, const char *project,
                      struct rsv_page *page)
{
    struct rsv__writer *w = r->writer;
    struct write_job *j;
    bool queued = false;

    if (stg_read_only(r->stg))
        return;
    j = xcalloc(1, sizeof(*j));
    j->key = xstrdup(key);
    j->fp = xstrdup(fp);
    j->stamps = xstrdup(stamps);
    j->project = xstrdup(project);
    j->inputs_len = inputs_len;
    j->kind = kind;
    j->gen = gen;
    j->page = rsv__page_ref(page);
    if (!w) {
        /* No thread (it could not start): the request writes it itself. */
        write_one(r, j);
        job_free(j);
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (w->n < RSV_WRITE_QUEUE_MAX && !w->stop) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->n++;
        queued = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (!queued) {
        char lk[160];
        log_debug("rendering of '%s' not kept: %d renderings already wait to be stored",
                  key_for_log(key, lk), RSV_WRITE_QUEUE_MAX);
        rsv__count_rendered(r, RSV_RENDERED_UNWRITTEN);
        job_free(j);
    }
}
