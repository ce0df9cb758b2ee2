/*
 * resolver.c - the resolver's public face: routes, the rendered-page cache,
 * link rewriting, and the project list of a route.
 *
 * Rendered pages are cached in memory per (route, project, format, depth)
 * with the stamps of their input pages and the time until which every input
 * is fresh. Until then a request costs one hash lookup and no LMDB or
 * upstream work. They are also kept in LMDB (stored.c), so a page the
 * memory cache lacks is looked for in this order:
 *
 *   1. memory, fresh and of the project's current files generation
 *      (storage.h: a file stored for another project does not move it):
 *      served;
 *   2. a stored rendering that still holds (one record head per input, no
 *      parsing, no merge): loaded into memory (one copy), served;
 *   3. the merge (project.c's cache policy: revalidation, stale-if-error);
 *      then, by the stamps it ends with, the memory entry or the stored
 *      rendering made from the same inputs (no rendering); else
 *   4. rendered, once per key at a time (render_sf: concurrent requests for
 *      the same page wait for it), kept in memory, and handed to the writer
 *      thread that gzips it and keeps it in LMDB (stored.c) after the
 *      request is answered.
 */
#include "compat.h"

#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <strings.h>
#include <zlib.h>

#include "err.h"
#include "log.h"
#include "metrics_int.h"
#include "pkgname.h"
#include "resolver_int.h"
#include "sha256.h"
#include "str.h"
#include "xalloc.h"

#define CACHE_SLOTS 4096
#define MAX_RENDERED_BYTES (512u << 20)

struct page_impl {
    struct rsv_page pub;     /* first: rsv_page_unref casts back */
    pthread_mutex_t mu;      /* serializes making the gzip */
    int refs;                /* atomic: every request takes and drops one */
    char *body;
    bool gz_tried;  /* atomic, set (release) once gz/gz_len are final */
    char *gz;       /* gzip of body, made on first use (rsv_page_gzip) */
    size_t gz_len;
    struct rsv_page_ext *ext[RSV_PAGE_EXT_SLOTS]; /* atomic, set once each (rsv_page_ext_set) */
};

struct cache_entry {
    char *key;
    struct page_impl *page;
    char *stamps;
    int64_t fresh_until;
    uint64_t gen;            /* the project's files generation (rsv__gen_kind) when the
                                inputs were read; 0 for lists */
    struct cache_entry *next;
};

struct rsv__cache {
    pthread_mutex_t mu;
    struct cache_entry *slots[CACHE_SLOTS];
    size_t count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void page_ref(struct page_impl *p)
{
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
}

struct rsv_page *rsv__page_ref(struct rsv_page *pub)
{
    page_ref((struct page_impl *)pub);
    return pub;
}

void rsv_page_unref(struct rsv_page *pub)
{
    struct page_impl *p = (struct page_impl *)pub;
    bool last;

    if (!p)
        return;
    last = __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0;
    if (!last)
        return;
    for (size_t i = 0; i < RSV_PAGE_EXT_SLOTS; i++) {
        struct rsv_page_ext *e = __atomic_load_n(&p->ext[i], __ATOMIC_ACQUIRE);
        if (e)
            e->free_fn(e);
    }
    pthread_mutex_destroy(&p->mu);
    free(p->body);
    free(p->gz);
    free(p);
}

struct rsv_page_ext *rsv_page_ext_get(struct rsv_page *pub, unsigned slot)
{
    struct page_impl *p = (struct page_impl *)pub;

    assert(slot < RSV_PAGE_EXT_SLOTS);
    return __atomic_load_n(&p->ext[slot], __ATOMIC_ACQUIRE);
}

struct rsv_page_ext *rsv_page_ext_set(struct rsv_page *pub, unsigned slot,
                                      struct rsv_page_ext *e)
{
    struct page_impl *p = (struct page_impl *)pub;
    struct rsv_page_ext *have = NULL;

    assert(slot < RSV_PAGE_EXT_SLOTS && e != NULL && e->free_fn != NULL);
    if (__atomic_compare_exchange_n(&p->ext[slot], &have, e, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return e;
    e->free_fn(e); /* another request made it first */
    return have;
}

/*
 * Wrap rendered bytes (taken) into a shared page. Its strong ETag hashes
 * `identity` when given (a string that determines the bytes: the resolver
 * instance, the cache key and the input stamps), which costs nothing on a
 * 1.6 MB page, else the bytes themselves.
 */
static struct page_impl *page_new(char *body, size_t len, const char *identity)
{
    struct page_impl *p = xcalloc(1, sizeof(*p));
    char hex[65];

    pthread_mutex_init(&p->mu, NULL);
    p->refs = 1;
    p->body = body;
    p->pub.body = body;
    p->pub.len = len;
    if (identity)
        sha256_hex(identity, strlen(identity), hex);
    else
        sha256_hex(body, len, hex);
    snprintf(p->pub.etag, sizeof(p->pub.etag), "\"%.40s\"", hex);
    return p;
}

/*
 * A page from a stored rendering: takes rec's body and gzip (NULLing them),
 * copies its ETag. NULL when the ETag does not fit (then it is a miss).
 */
static struct page_impl *page_from_stored(struct stg_rendered *rec)
{
    struct page_impl *p;

    if (strlen(rec->etag) >= sizeof(p->pub.etag) || !rec->body)
        return NULL;
    p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->refs = 1;
    p->body = rec->body;
    p->pub.body = rec->body;
    p->pub.len = rec->body_len;
    rec->body = NULL;
    p->gz = rec->gz;
    p->gz_len = rec->gz ? rec->gz_len : 0;
    p->gz_tried = rec->gz != NULL; /* none stored for a big page: made on first use */
    rec->gz = NULL;
    str_copy(p->pub.etag, sizeof(p->pub.etag), rec->etag);
    return p;
}

bool rsv_page_gzip(struct rsv_page *pub, const char **gz, size_t *gz_len)
{
    struct page_impl *p = (struct page_impl *)pub;

    if (pub->len < 512)
        return false;
    /* Compressed once, by the first client that asks; the others wait for it. */
    if (!__atomic_load_n(&p->gz_tried, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&p->mu);
        if (!p->gz_tried) {
            uLongf glen = compressBound((uLong)pub->len) + 32;
            z_stream zs;

            memset(&zs, 0, sizeof(zs));
            p->gz = xmalloc(glen);
            /* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip wants. */
            if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
                zs.next_in = (Bytef *)(uintptr_t)pub->body;
                zs.avail_in = (uInt)pub->len;
                zs.next_out = (Bytef *)p->gz;
                zs.avail_out = (uInt)glen;
                if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
                    p->gz_len = zs.total_out;
                deflateEnd(&zs);
            }
            if (!p->gz_len) {
                free(p->gz);
                p->gz = NULL;
            }
            __atomic_store_n(&p->gz_tried, true, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&p->mu);
    }
    /* gz and gz_len no longer change once gz_tried is seen set. */
    if (!p->gz)
        return false;
    *gz = p->gz;
    *gz_len = p->gz_len;
    return true;
}

bool rsv_page_gzip_tried(struct rsv_page *pub)
{
    struct page_impl *p = (struct page_impl *)pub;

    return pub->len < 512 || __atomic_load_n(&p->gz_tried, __ATOMIC_ACQUIRE);
}

static struct rsv__cache *cache_new(void)
{
    struct rsv__cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(struct cache_entry *e)
{
    free(e->key);
    free(e->stamps);
    rsv_page_unref(&e->page->pub);
    free(e);
}

static void cache_free(struct rsv__cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cache_entry *e = c->slots[i];
        while (e) {
            struct cache_entry *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/*
 * A fresh cached page for key, referenced, or NULL. A page rendered before
 * its project's files generation `gen` is not fresh: a file of that project
 * stored since may add a sha256 or PEP 658 metadata to it (or, offline, be
 * listed or not).
 */
static struct page_impl *cache_get_fresh(struct rsv__cache *c, const char *key, int64_t now,
                                         uint64_t gen)
{
    struct cache_entry *e;
    struct page_impl *p = NULL;

    pthread_mutex_lock(&c->mu);
    for (e = c->slots[hash_str(key) % CACHE_SLOTS]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            if (now < e->fresh_until && e->gen == gen) {
                p = e->page;
                page_ref(p);
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return p;
}

/* The cached page for key if its stamps equal `stamps` (then refreshed). */
static struct page_impl *cache_get_same(struct rsv__cache *c, const char *key,
                                        const char *stamps, int64_t fresh_until)
{
    struct cache_entry *e;
    struct page_impl *p = NULL;

    pthread_mutex_lock(&c->mu);
    for (e = c->slots[hash_str(key) % CACHE_SLOTS]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            if (strcmp(e->stamps, stamps) == 0) {
                e->fresh_until = fresh_until;
                p = e->page;
                page_ref(p);
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return p;
}

static void cache_put(struct rsv__cache *c, const char *key, struct page_impl *p,
                      const char *stamps, int64_t fresh_until, uint64_t gen)
{
    struct cache_entry **pp;
    struct cache_entry *e;
    size_t slot = hash_str(key) % CACHE_SLOTS;

    pthread_mutex_lock(&c->mu);
    for (pp = &c->slots[slot]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            e = *pp;
            *pp = e->next;
            entry_free(e);
            c->count--;
            break;
        }
    }
    /* Bounded: a chain longer than 8 drops its oldest entry. */
    {
        size_t depth = 0;
        for (pp = &c->slots[slot]; *pp; pp = &(*pp)->next) {
            if (++depth >= 8) {
                e = *pp;
                *pp = NULL;
                while (e) {
                    struct cache_entry *next = e->next;
                    entry_free(e);
                    c->count--;
                    e = next;
                }
                break;
            }
        }
    }
    e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->page = p;
    page_ref(p);
    e->stamps = xstrdup(stamps);
    e->fresh_until = fresh_until;
    e->gen = gen;
    e->next = c->slots[slot];
    c->slots[slot] = e;
    c->count++;
    pthread_mutex_unlock(&c->mu);
}

int rsv_new(const struct rsv_opts *opts, struct rsv **out)
{
    struct rsv *r;
    struct buf why;
    int rc;

    assert(opts && opts->cfg && opts->stg);
    buf_init(&why, 4096);
    r = xcalloc(1, sizeof(*r));
    INIT_OBJ(r, RSV_MAGIC);
    r->cfg = opts->cfg;
    r->stg = opts->stg;
    r->up = opts->up;
    r->offline = opts->offline || !opts->up;
    rc = rsv__markers_new(opts->cfg, &r->markers, &why);
    if (rc) {
        log_errorx("%s", buf_cstr(&why));
        buf_release(&why);
        free(r);
        return rc;
    }
    buf_release(&why);
    {
        /* Unique per instance: ETags of pages must change when a reload changes them. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(r->id, sizeof(r->id), "%llx.%lx.%p", (unsigned long long)ts.tv_sec,
                 (unsigned long)ts.tv_nsec, (void *)r);
    }
    r->pages_sf = rsv__sf_new();
    r->pcache = rsv__pcache_new();
    r->rendered = cache_new();
    r->render_sf = rsv__sf_new();
    r->files = rsv__files_new();
    rsv__metrics_attach(r, opts->metrics);
    r->writer = rsv__writer_new(r);
    *out = r;
    return 0;
}

void rsv_free(struct rsv *r)
{
    if (!r)
        return;
    CHECK_OBJ(r, RSV_MAGIC);
    rsv__files_free(r->files);
    rsv__writer_free(r->writer); /* writes what is queued: the next start finds it */
    cache_free(r->rendered);
    rsv__sf_free(r->render_sf);
    rsv__sf_free(r->pages_sf);
    rsv__pcache_free(r->pcache);
    rsv__markers_free(r->markers);
    rsv__metrics_detach(r);
    FINI_OBJ(r);
    free(r);
}

int rsv__find_route(const struct rsv *r, const char *name, struct rsv__route *out)
{
    const struct config_view *v = config_find_view(r->cfg, name);
    const struct config_index *ix;

    if (v) {
        *out = (struct rsv__route){v->name, v, NULL};
        return 0;
    }
    ix = config_find_index(r->cfg, name);
    if (ix) {
        *out = (struct rsv__route){ix->name, NULL, ix};
        return 0;
    }
    return IMX_ENOTFOUND;
}

bool rsv_route_exists(const struct rsv *r, const char *name)
{
    struct rsv__route rt;
    return rsv__find_route(r, name, &rt) == 0;
}

/*
 * Set "sha256" in a hash list of a merged file, as simple_hashes_set would
 * (value lower-cased, replacing or appended), but copy-on-write: the list
 * may be borrowed from a parsed page, so a new one is made in the arena.
 */
static void hashes_set_sha256(struct arena *a, struct simple_hashes *h, const char *value)
{
    size_t len = strlen(value);
    char *lower = arena_strndup(a, value, len);
    struct simple_hash *v;
    size_t n = h->n;
    size_t i;

    for (char *c = lower; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    }
    for (i = 0; i < n && strcmp(h->v[i].name, "sha256") != 0; i++)
        ;
    v = arena_alloc(a, (n + 1) * sizeof(*v));
    if (n)
        memcpy(v, h->v, n * sizeof(*v));
    if (i == n) {
        v[n].name = arena_strndup(a, "sha256", 6);
        n++;
    }
    v[i].value = lower;
    h->v = v;
    h->n = n;
}

/*
 * Point every file at this server: /files/<key>/<filename>, relative to the
 * page (so a reverse proxy may mount us under a prefix) or under public_url.
 * Files whose sha256 was computed on first download get it here, and
 * wheels whose upstream advertised no PEP 658 metadata get the metadata
 * fetch.c read out of the stored wheel. Offline, only files whose bytes are
 * stored are kept (SPEC section 7).
 *
 * The merged page borrows its files' strings (resolver_int.h): new links
 * and hash lists go to its arena. The key, the encoded filename and the
 * sha256 lookups were done once when the input page was parsed (parsed.c),
 * so a link costs three copies.
 */
static void rewrite_links(struct rsv *r, struct rsv__merged *m, unsigned depth)
{
    struct simple_project *p = &m->page;
    struct buf prefix;
    size_t kept = 0;

    buf_init(&prefix, BUF_NOMAX);
    if (r->cfg->server.public_url) {
        buf_appends(&prefix, r->cfg->server.public_url);
        buf_appends(&prefix, "/files/");
    } else {
        for (unsigned d = 0; d < depth; d++)
            buf_appends(&prefix, "../");
        buf_appends(&prefix, "files/");
    }
    for (size_t i = 0; i < p->nfiles; i++) {
        struct simple_file *f = &p->files[i];
        const struct rsv__pfile *pf = m->info[i];
        char *url;

        /*
         * PEP 658 metadata advertised without a sha256 cannot be fetched
         * through (fetch.c verifies what it keeps), and a client that is
         * promised .metadata fails hard on a 404: advertise only what we
         * can serve. A stored wheel's own METADATA may replace it below.
         */
        if (f->core_metadata && !pf->md_sha256)
            f->core_metadata = false;
        if (r->offline || !pf->sha256 || (!f->core_metadata && pf->is_wheel)) {
            struct stg_file rec = {0};
            bool stored = false;
            if (stg_file_get(r->stg, pf->key, &rec) == 0) {
                stored = rec.sha256 && stg_blob_exists(r->stg, rec.sha256);
                if (rec.sha256 && !pf->sha256)
                    hashes_set_sha256(&m->arena, &f->hashes, rec.sha256);
                if (!f->core_metadata && rec.metadata_sha256 && pf->is_wheel) {
                    f->core_metadata = true;
                    hashes_set_sha256(&m->arena, &f->core_metadata_hashes, rec.metadata_sha256);
                }
                if (r->offline && f->core_metadata &&
                    !(rec.metadata_sha256 && stg_blob_exists(r->stg, rec.metadata_sha256)))
                    f->core_metadata = false;
                stg_file_release(&rec);
            }
            if (r->offline && !stored)
                continue;
        }
        url = arena_alloc_bytes(&m->arena, prefix.len + 33 + pf->segment_len + 1);
        memcpy(url, prefix.p, prefix.len);
        memcpy(url + prefix.len, pf->key, 32);
        url[prefix.len + 32] = '/';
        memcpy(url + prefix.len + 33, pf->segment, pf->segment_len + 1);
        f->url = url;
        if (kept != i) {
            p->files[kept] = *f;
            m->origin[kept] = m->origin[i];
            m->info[kept] = m->info[i];
        }
        kept++;
    }
    p->nfiles = kept;
    buf_release(&prefix);
}

/*
 * A file its upstream gave no sha256 for gets one on first download
 * (fetch.c), which rewrite_links then adds to the page. The upstream page
 * does not change, so the merge stamps alone would keep serving the page
 * rendered before the download: make those computed hashes inputs too.
 */
static void computed_hash_stamps(struct rsv *r, const struct rsv__merged *m, struct buf *stamps)
{
    for (size_t i = 0; i < m->page.nfiles; i++) {
        const char *key = m->info[i]->key;
        struct stg_file rec = {0};

        if (m->info[i]->sha256)
            continue;
        if (stg_file_get(r->stg, key, &rec) != 0)
            continue;
        if (rec.sha256)
            buf_printf(stamps, "%s=%s;", key, rec.sha256);
        stg_file_release(&rec);
    }
}

static int render(const struct simple_project *p, const char *name, enum rsv_format fmt,
                  const char *identity, struct page_impl **out)
{
    struct buf b;
    size_t len = 0;
    char *body;
    int rc;

    buf_init(&b, MAX_RENDERED_BYTES);
    rc = fmt == RSV_FORMAT_JSON ? simple_render_json(p, name, &b) : simple_render_html(p, name, &b);
    if (rc) {
        buf_release(&b);
        return rc;
    }
    /*
     * The renderers grow the buffer by doubling: give the slack back, since
     * the rendering is kept (shrinking in place or by mremap, no copy).
     */
    if (b.cap - b.len > b.len / 16 + 4096) {
        b.p = xrealloc(b.p, b.len + 1);
        b.cap = b.len + 1;
    }
    body = buf_detach(&b, &len);
    *out = page_new(body, len, identity);
    return 0;
}

/*
 * The stored rendering of key made from `stamps`, as a page also put in the
 * memory cache (referenced), or NULL.
 */
static struct page_impl *stored_page(struct rsv *r, const char *key, const char *fp,
                                     enum stg_gen kind, const char *project, uint64_t gen,
                                     const char *stamps, int64_t fresh_until)
{
    struct stg_rendered rec;
    struct page_impl *p;

    if (rsv__stored_load(r, key, fp, kind, project, gen, stamps, &rec) != 0)
        return NULL;
    p = page_from_stored(&rec);
    stg_rendered_release(&rec);
    if (p)
        cache_put(r->rendered, key, p, stamps, fresh_until, gen);
    return p;
}

/* Loading one stored rendering into memory (stored_valid_page). */
struct load_job {
    struct rsv *r;
    const char *key, *fp, *stamps;
    enum stg_gen kind;
    const char *project; /* whose generation gen is; NULL for lists */
    uint64_t gen;
    int64_t fresh_until;
    bool ran;
    struct page_impl *page; /* OUT: referenced, or NULL */
};

static int load_job_run(void *arg)
{
    struct load_job *j = arg;

    j->ran = true;
    j->page = cache_get_same(j->r->rendered, j->key, j->stamps, j->fresh_until);
    if (!j->page) {
        j->page = stored_page(j->r, j->key, j->fp, j->kind, j->project, j->gen, j->stamps,
                              j->fresh_until);
        if (j->page)
            rsv__count_rendered(j->r, RSV_RENDERED_LOADED);
    }
    return 0;
}

/*
 * Step 2 of the lookup (top of file): a stored rendering that still holds,
 * without merging. The memory entry is reused when it has those bytes (its
 * inputs were only due for a check); else they are loaded, once per key at
 * a time (a herd after a restart makes one copy, not one each). NULL: none.
 */
static struct page_impl *stored_valid_page(struct rsv *r, const char *key, const char *fp,
                                           enum stg_gen kind, const char *project, uint64_t gen)
{
    struct stg_rendered head;
    struct load_job job = {r, key, fp, NULL, kind, project, gen, 0, false, NULL};
    char *flight;

    if (rsv__stored_valid(r, key, fp, kind, project, gen, &head, &job.fresh_until) != 0)
        return NULL;
    job.stamps = head.stamps;
    flight = xasprintf("load\n%s", key); /* never a render_sf key of a rendering */
    rsv__sf_do(r->render_sf, flight, load_job_run, &job);
    if (!job.ran)
        load_job_run(&job); /* waited: in memory now, unless that load failed */
    free(flight);
    stg_rendered_release(&head);
    return job.page;
}

/* One page to render from a merge (step 4 of the lookup). */
struct render_job {
    struct rsv *r;
    const char *key, *project, *fp;
    enum rsv_format fmt;
    unsigned depth;
    struct rsv__merged *m;
    const char *stamps;      /* the whole identity of the inputs */
    size_t inputs_len;       /* its first bytes: the merge's "<index>=<stamp>;" part */
    int64_t fresh_until;
    enum stg_gen kind;
    uint64_t gen;
    struct buf *why;
    bool ran;                /* render_job_run ran on this job */
    struct page_impl *page;  /* OUT: referenced */
};

/*
 * Render, cache in memory, store. Runs once per key at a time (render_sf);
 * a request that waited for another's run calls it afterwards, and finds
 * that page in memory unless its own inputs differ.
 */
static int render_job_run(void *arg)
{
    struct render_job *j = arg;
    struct rsv *r = j->r;
    char *identity;
    int rc;

    j->ran = true;
    j->page = cache_get_same(r->rendered, j->key, j->stamps, j->fresh_until);
    if (j->page)
        return 0;
    rewrite_links(r, j->m, j->depth);
    identity = xasprintf("%s\n%s\n%s", r->id, j->key, j->stamps);
    rc = render(&j->m->page, j->project, j->fmt, identity, &j->page);
    free(identity);
    if (rc) {
        buf_printf(j->why, "cannot render '%s': %s", j->project, imx_strerror(rc));
        return rc;
    }
    rsv__count_rendered(r, RSV_RENDERED_RENDERED);
    cache_put(r->rendered, j->key, j->page, j->stamps, j->fresh_until, j->gen);
    rsv__stored_keep(r, j->key, j->fp, j->kind, j->gen, j->stamps, j->inputs_len, j->project,
                     &j->page->pub);
    return 0;
}

/*
 * The key of a rendering in memory and in the store: "<route>\n<project>\n
 * <fmt>\n<depth>" for a project's page, "<route>\n\n<fmt>" for the list
 * (project NULL). Written without printf: rsv_get_cached makes one for
 * every cached page it answers. Caller frees.
 */
static char *page_key(const char *route, const char *project, enum rsv_format fmt,
                      unsigned depth)
{
    size_t rl = strlen(route);
    size_t pl = project ? strlen(project) : 0;
    char *key = xmalloc(rl + pl + 3 + 2 * 20 + 1);
    char *w = key;

    memcpy(w, route, rl);
    w += rl;
    *w++ = '\n';
    if (project)
        memcpy(w, project, pl);
    w += pl;
    *w++ = '\n';
    w = str_put_u64(w, (uint64_t)fmt);
    if (project) {
        *w++ = '\n';
        w = str_put_u64(w, depth);
    }
    *w = '\0';
    return key;
}

int rsv_get_page(struct rsv *r, const char *route, const char *project, enum rsv_format fmt,
                 unsigned depth, struct rsv_page **out, struct buf *why)
{
    struct rsv__route rt;
    struct rsv__merged m;
    struct buf stamps;
    struct page_impl *p = NULL;
    int64_t fresh_until = 0;
    enum stg_gen kind;
    uint64_t gen;
    size_t inputs_len;
    char fp[65];
    char *key;
    int rc;

    CHECK_OBJ(r, RSV_MAGIC);
    if (rsv__find_route(r, route, &rt) != 0)
        return IMX_EINVAL;
    key = page_key(route, project, fmt, depth);
    /*
     * Read before the inputs: a file of this project stored meanwhile makes
     * this page stale at once (files are registered under the normalized
     * name, which `project` is: the server redirects other spellings).
     */
    kind = rsv__gen_kind(r);
    gen = stg_files_gen(r->stg, kind, project);
    p = cache_get_fresh(r->rendered, key, rsv__now(), gen);
    if (p) {
        *out = &p->pub;
        free(key);
        return 0;
    }
    rsv__stored_fingerprint(r, &rt, project, fp);
    p = stored_valid_page(r, key, fp, kind, project, gen);
    if (p) {
        *out = &p->pub;
        free(key);
        return 0;
    }
    rsv__merged_init(&m);
    buf_init(&stamps, BUF_NOMAX);
    rc = rsv__merge(r, &rt, project, &m, &stamps, &fresh_until, NULL, why);
    if (rc)
        goto out;
    inputs_len = stamps.len;
    computed_hash_stamps(r, &m, &stamps);
    buf_printf(&stamps, "gen=%llu;", (unsigned long long)gen);
    p = cache_get_same(r->rendered, key, buf_cstr(&stamps), fresh_until);
    if (!p) {
        p = stored_page(r, key, fp, kind, project, gen, buf_cstr(&stamps), fresh_until);
        if (p)
            rsv__count_rendered(r, RSV_RENDERED_REUSED);
    }
    if (!p) {
        struct render_job job = {r,          key,   project,      fp,    fmt,  depth,
                                 &m,         buf_cstr(&stamps), inputs_len, fresh_until,
                                 kind,       gen,   why,          false, NULL};
        rc = rsv__sf_do(r->render_sf, key, render_job_run, &job);
        if (!job.ran)
            rc = render_job_run(&job); /* waited: the page is in memory unless inputs differ */
        if (rc)
            goto out;
        p = job.page;
    }
    *out = &p->pub;
out:
    rsv__merged_release(&m);
    buf_release(&stamps);
    free(key);
    return rc;
}

int rsv_get_cached(struct rsv *r, const char *route, const char *project, enum rsv_format fmt,
                   unsigned depth, struct rsv_page **out)
{
    struct page_impl *p;
    char *key;
    uint64_t gen = 0;

    CHECK_OBJ(r, RSV_MAGIC);
    /* The keys and generations of rsv_get_page and rsv_get_list. */
    key = page_key(route, project, fmt, depth);
    if (project)
        gen = stg_files_gen(r->stg, rsv__gen_kind(r), project);
    p = cache_get_fresh(r->rendered, key, rsv__now(), gen);
    free(key);
    if (!p)
        return IMX_EAGAIN;
    *out = &p->pub;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the normalized names of `src` to `dst` (duplicates removed later). */
static void add_names(struct simple_index *dst, const struct simple_index *src)
{
    struct buf n;
    buf_init(&n, 4096);
    for (size_t i = 0; i < src->n; i++) {
        buf_reset(&n);
        if (pkgname_normalize(src->names[i], strlen(src->names[i]), &n) == 0)
            simple_index_add(dst, n.p, n.len);
    }
    buf_release(&n);
}

int rsv_get_list(struct rsv *r, const char *route, enum rsv_format fmt, struct rsv_page **out,
                 struct buf *why)
{
    struct rsv__route rt;
    struct simple_index all;
    struct page_impl *p = NULL;
    struct buf b;
    struct buf stamps;
    int64_t fresh_until = INT64_MAX;
    char fp[65];
    char *key;
    size_t kept = 0;
    size_t len = 0;
    int rc = 0;

    CHECK_OBJ(r, RSV_MAGIC);
    if (rsv__find_route(r, route, &rt) != 0)
        return IMX_EINVAL;
    key = page_key(route, NULL, fmt, 0);
    p = cache_get_fresh(r->rendered, key, rsv__now(), 0);
    if (!p) {
        rsv__stored_fingerprint(r, &rt, NULL, fp);
        p = stored_valid_page(r, key, fp, STG_GEN_NONE, NULL, 0);
    }
    if (p) {
        *out = &p->pub;
        free(key);
        return 0;
    }
    simple_index_init(&all);
    buf_init(&b, MAX_RENDERED_BYTES);
    buf_init(&stamps, BUF_NOMAX);
    for (size_t i = 0; i < (rt.view ? rt.view->nindexes : 1); i++) {
        const struct config_index *ix =
            rt.view ? &r->cfg->indexes[rt.view->indexes[i]] : rt.index;
        struct simple_index one;
        char stamp[RSV_STAMP_SIZE];
        int64_t fu = 0;
        rc = rsv__index_list(r, ix, &one, &fu, stamp, why);
        if (rc)
            goto out;
        buf_printf(&stamps, "%s=%s;", ix->name, stamp);
        add_names(&all, &one);
        simple_index_release(&one);
        if (fu < fresh_until)
            fresh_until = fu;
    }
    /* The same lists as the page in memory or in the store: no sorting, no rendering. */
    p = cache_get_same(r->rendered, key, buf_cstr(&stamps), fresh_until);
    if (!p) {
        p = stored_page(r, key, fp, STG_GEN_NONE, NULL, 0, buf_cstr(&stamps), fresh_until);
        if (p)
            rsv__count_rendered(r, RSV_RENDERED_REUSED);
    }
    if (p) {
        *out = &p->pub;
        goto out;
    }
    for (size_t i = 0; rt.view && i < rt.view->npins; i++)
        simple_index_add(&all, rt.view->pins[i].project, strlen(rt.view->pins[i].project));
    qsort(all.names, all.n, sizeof(*all.names), cmp_names);
    for (size_t i = 0; i < all.n; i++) {
        if (kept > 0 && strcmp(all.names[kept - 1], all.names[i]) == 0) {
            free(all.names[i]);
            continue;
        }
        all.names[kept++] = all.names[i];
    }
    all.n = kept;
    rc = fmt == RSV_FORMAT_JSON ? simple_index_render_json(&all, &b)
                                : simple_index_render_html(&all, &b);
    if (rc)
        goto out;
    {
        char *body = buf_detach(&b, &len);
        p = page_new(body, len, NULL);
    }
    rsv__count_rendered(r, RSV_RENDERED_RENDERED);
    cache_put(r->rendered, key, p, buf_cstr(&stamps), fresh_until, 0);
    rsv__stored_keep(r, key, fp, STG_GEN_NONE, 0, buf_cstr(&stamps), stamps.len, "", &p->pub);
    *out = &p->pub;
out:
    simple_index_release(&all);
    buf_release(&b);
    buf_release(&stamps);
    free(key);
    return rc;
}
