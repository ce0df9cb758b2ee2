/*
 * resolver_int.h - private to the resolver/ sources (rsv__ prefix).
 */
#ifndef IMX_RESOLVER_INT_H
#define IMX_RESOLVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "resolver.h"
#include "simple.h"
#include "storage.h"
#include "upstream.h"

#define RSV_MAGIC 0x52535631u

struct rsv_metrics_index;
struct rsv_metrics_view;
#define RSV_MAX_FILES 200000
#define RSV_MAX_NAMES 2000000
/* Bytes of a project list page (PyPI's is tens of MB). */
#define RSV_MAX_LIST_BYTES (256u << 20)

/* ---- single flight: one computation per key, others wait (flight.c) ---- */

struct rsv__sf;

/* ---- upstream pages with cache policy (project.c) ---- */

/*
 * What one index says about one project, after the cache policy ran.
 *   RSV__PRESENT  page in `page` (resolved absolute URLs)
 *   RSV__ABSENT   the index does not have it (404/403, cached negatively)
 */
enum rsv__page_state { RSV__PRESENT = 1, RSV__ABSENT = 2 };

/*
 * What the merge and the link rewriting need of one file of a parsed page,
 * worked out once when the page is parsed (parsed.c) rather than for every
 * rendering. Strings are borrowed from the parsed page (its model or its
 * arena) and live as long as it.
 */
struct rsv__pfile {
    char key[33];           /* the /files/<key>/ component (rsv__file_key) */
    bool is_wheel;          /* the filename ends in ".whl", any case */
    const char *sha256;     /* the "sha256" of the file's hashes; NULL when none */
    const char *md_sha256;  /* the "sha256" of its core_metadata_hashes; NULL when none */
    const char *version;    /* normalized version of the filename (one pointer per
                               version in a page), NULL when the name has none */
    const char *segment;    /* filename percent-encoded as a last URL segment */
    size_t segment_len;
    uint64_t name_hash;     /* rsv__hash_str(filename) ("" when absent) */
};

/*
 * A parsed upstream page, immutable once built and shared (reference
 * counted) between the in-memory page cache and the requests merging it.
 */
struct rsv__parsed {
    int refs;                   /* atomic */
    struct simple_project page; /* file URLs resolved to absolute URLs */
    struct rsv__pfile *files;   /* page.nfiles entries */
    struct arena arena;         /* the strings of files[] */
};

/*
 * Build a shared parsed page of index `index` from `page` (taken over: it
 * is left initialised), with refs = 1 and files[] filled. Never fails.
 */
struct rsv__parsed *rsv__parsed_new_take(const char *index, struct simple_project *page);
/* Take one more reference; returns pp. */
struct rsv__parsed *rsv__parsed_ref(struct rsv__parsed *pp);
/* Drop a reference; the last one frees the page. NULL-safe. */
void rsv__parsed_unref(struct rsv__parsed *pp);
/* Bytes held by what parsed.c adds to the page model (files[] and the arena). */
size_t rsv__parsed_footprint(const struct rsv__parsed *pp);
/* FNV-1a of a C string. */
uint64_t rsv__hash_str(const char *s);
/* Append s percent-encoded as a last URL segment (unreserved bytes kept, '+' is %2B). */
void rsv__segment_encode(struct buf *out, const char *s);

struct rsv__ipage {
    enum rsv__page_state state;
    const struct simple_project *page; /* never NULL; empty when ABSENT */
    const struct rsv__pfile *files;    /* page->nfiles entries; NULL when ABSENT */
    struct rsv__parsed *parsed;        /* the reference that keeps page alive, or NULL */
    int64_t fetched_at;         /* when the upstream last confirmed it */
    int64_t fresh_until;        /* serve without asking before this time */
    bool stale;                 /* served stale because the upstream failed */
    char stamp[72];             /* changes whenever the content changes */
};

void rsv__ipage_release(struct rsv__ipage *p);

/* The in-memory cache of parsed upstream pages (project.c). */
struct rsv__pcache *rsv__pcache_new(void);
void rsv__pcache_free(struct rsv__pcache *pc);

/*
 * Get the page of `project` from index `ix` through the cache. Returns 0
 * (state set), IMX_EUPSTREAM / IMX_ETIMEDOUT (nothing usable cached; `why`
 * names the index), IMX_EOFFLINE never (offline: cached or ABSENT).
 */
int rsv__index_page(struct rsv *r, const struct config_index *ix, const char *project,
                    struct rsv__ipage *out /* OUT */, struct buf *why);

/*
 * The project list of an index (names as listed), the time until which it
 * is fresh, and the stamp of the record it came from. Same errors.
 */
#define RSV_STAMP_SIZE 24
int rsv__index_list(struct rsv *r, const struct config_index *ix,
                    struct simple_index *out /* OUT */, int64_t *fresh_until /* OUT */,
                    char stamp[RSV_STAMP_SIZE] /* OUT */, struct buf *why);

/*
 * The stamp of an upstream page record: "absent", or the first 23 hex
 * digits of its body's sha256 (storage.h: struct stg_page body_sha256). It
 * follows the content, not the write, so a 304 keeps renderings and ETags.
 */
void rsv__page_stamp(enum stg_page_state state, const char *body_sha256,
                     char out[RSV_STAMP_SIZE] /* OUT */);

/*
 * Whether the page of `project` ("" for the list) from `ix` is still what a
 * rendering read: its record is fresh under the cache policy (offline: any
 * age; offline and never fetched counts as "absent") and its stamp equals
 * `stamp`. Reads the record's head only: no parsing, no upstream request,
 * no page outcome counted. On true, *fresh_until gets when to look again.
 */
bool rsv__input_fresh(struct rsv *r, const struct config_index *ix, const char *project,
                      const char *stamp, int64_t *fresh_until /* OUT */);

/* The /files/ key of an upstream URL of an index: 32 hex digits. */
void rsv__file_key(const char *index, const char *url, char key[33]);

struct rsv {
    unsigned magic;
    const struct config *cfg;
    struct stg *stg;
    struct upstream *up;
    bool offline;
    struct rsv__sf *pages_sf;   /* single flight of upstream page fetches */
    struct rsv__pcache *pcache; /* parsed upstream pages (project.c) */
    char id[64];                /* this instance, in the identity behind page ETags */
    struct rsv__cache *rendered;/* rendered pages in memory (resolver.c) */
    struct rsv__sf *render_sf;  /* single flight of renderings, by cache key (resolver.c) */
    struct rsv__writer *writer; /* stores renderings in the background (stored.c); NULL when
                                   the store is read-only */
    struct rsv__files *files;   /* downloads in flight (fetch.c) */
    struct rsv__markers *markers; /* parsed pin markers (merge.c) */
    struct rsv_metrics *metrics; /* counters (metrics.c); shared unless own_metrics */
    bool own_metrics;
    struct rsv_metrics_index **ix_slots; /* parallel to cfg->indexes */
    struct rsv_metrics_view **view_slots; /* parallel to cfg->views */
};

/* flight.c: generic single flight keyed by string. */
struct rsv__sf *rsv__sf_new(void);
void rsv__sf_free(struct rsv__sf *sf);
/*
 * Run fn(ctx) for key unless another thread is already running it for the
 * same key; then wait for that run to end and return its result instead
 * (fn is not called). Callers must re-read shared state afterwards.
 */
int rsv__sf_do(struct rsv__sf *sf, const char *key, int (*fn)(void *ctx), void *ctx);

int64_t rsv__now(void);

#endif

/* ---- routes and the merge (merge.c) ---- */

/* A name served at /<name>/simple/: a view, or one index alone. */
struct rsv__route {
    const char *name;
    const struct config_view *view;   /* NULL for an index served alone */
    const struct config_index *index; /* set when view is NULL */
};

int rsv__find_route(const struct rsv *r, const char *name, struct rsv__route *out /* OUT */);

/* Where a consulted file went, for `indexmux explain` (explain.c). */
struct rsv__decision {
    const char *index;     /* borrowed from config */
    char *filename;
    bool kept;
    char *rule;            /* one line: which rule decided */
};

struct rsv__explain {
    struct rsv__decision *v;
    size_t n, cap;
};

void rsv__explain_add(struct rsv__explain *ex, const char *index, const char *filename, bool kept,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void rsv__explain_release(struct rsv__explain *ex);

/*
 * A merged page is a view over the parsed pages it was built from, not a
 * copy of them: page.files[] are shallow copies of the files kept, whose
 * strings and hash arrays are borrowed from the parsed pages that `inputs`
 * holds references to, or were made in `arena` (the links and the hashes
 * rewrite_links sets); page.versions[] strings and page.status(_reason) are
 * borrowed too. So the page must never be handed to simple_project_release
 * or simple_file_release, and its strings never freed or written to:
 * rsv__merged_release frees what the merged page owns (its arrays, its
 * references, its arena). Replace a string or a hash array of a file by
 * pointing it at new memory in `arena`.
 */
struct rsv__merged {
    struct simple_project page;
    const struct config_index **origin; /* page.nfiles entries: where each file came from */
    const struct rsv__pfile **info;     /* page.nfiles entries: their precomputed data (key...) */
    struct rsv__parsed **inputs;        /* the references that keep borrowed strings alive */
    size_t ninputs;
    struct arena arena;                 /* strings and arrays made for this page */
    size_t cap;
    size_t info_cap;
    size_t inputs_cap;
};

void rsv__merged_init(struct rsv__merged *m);
void rsv__merged_release(struct rsv__merged *m);

/*
 * Build the merged page of `project` in a route (SPEC.md section 5), with
 * upstream URLs still in the files. `stamps` receives a string that changes
 * whenever any input page changes: "<index>=<stamp>;" for each index
 * consulted, in order (stored.c reads the inputs of a stored rendering back
 * from it); *fresh_until the earliest time an input must be rechecked.
 * `ex` (may be NULL) records every decision.
 * Returns 0, IMX_ENOTFOUND (no consulted index has the project),
 * IMX_EUPSTREAM (an index that decides the page cannot be read; `why`).
 */
int rsv__merge(struct rsv *r, const struct rsv__route *route, const char *project,
               struct rsv__merged *out /* OUT */, struct buf *stamps, int64_t *fresh_until,
               struct rsv__explain *ex, struct buf *why);

/* Parsed markers of every pin source, in config order (merge.c). */
struct rsv__markers;
int rsv__markers_new(const struct config *cfg, struct rsv__markers **out, struct buf *why);
void rsv__markers_free(struct rsv__markers *m);

/* ---- rendered pages kept in LMDB (stored.c) ---- */

/*
 * The kind of files generation (storage.h) that pages of r depend on: what
 * online pages show of the file table moves STG_GEN_LEARNED; offline pages
 * also list only stored files, which any digest change moves
 * (STG_GEN_STORED). A project page reads its project's value
 * (stg_files_gen(stg, kind, project), with the normalized name the files
 * were registered under: project.c), so a file stored for another project
 * leaves it valid; project lists read no files (STG_GEN_NONE).
 */
enum stg_gen rsv__gen_kind(const struct rsv *r);

/*
 * The fingerprint of everything besides its inputs and the files
 * generation that a page of `project` in route rt (project NULL: the
 * route's project list) depends on: the code that renders it, offline
 * mode, public-url, the route's indexes (names, URLs, strategy) and the
 * pins of that project (sources and markers; for the list, the pinned
 * names). 64 hex digits, NUL-terminated.
 */
void rsv__stored_fingerprint(const struct rsv *r, const struct rsv__route *rt,
                             const char *project, char out[65] /* OUT */);

/*
 * A rendering stored under key that still holds, decided without parsing,
 * merging or asking an upstream: same fingerprint, gen_kind, project (the
 * one whose generation gen is; NULL with STG_GEN_NONE) and files_gen, and
 * every input page it read still fresh with the same stamp
 * (rsv__input_fresh). 0 with *out (read without the bytes: release with
 * stg_rendered_release) and *fresh_until (the earliest of its inputs'),
 * or IMX_ENOTFOUND (none, not valid, or undecodable).
 */
int rsv__stored_valid(struct rsv *r, const char *key, const char *fp, enum stg_gen kind,
                      const char *project, uint64_t gen, struct stg_rendered *out /* OUT */,
                      int64_t *fresh_until /* OUT */);

/*
 * The stored rendering of key made from exactly `stamps` (and fp, kind,
 * project, gen), with its bytes: the one copy out of LMDB. 0 with *out
 * (release with stg_rendered_release; body and gz may be taken),
 * IMX_ENOTFOUND.
 */
int rsv__stored_load(struct rsv *r, const char *key, const char *fp, enum stg_gen kind,
                     const char *project, uint64_t gen, const char *stamps,
                     struct stg_rendered *out /* OUT */);

/*
 * Store a new rendering of key, in the background: the page is referenced
 * and the strings copied (nothing is taken over), then r's writer thread
 * gzips it (rsv_page_gzip: clients share that encoding) and writes it, so
 * the request that rendered it does not wait for either. Its inputs are
 * read from the first `inputs_len` bytes of `stamps` ("<index>=<stamp>;"
 * each, all for `project`, "" for lists); `gen` is `project`'s value of
 * generation `kind` unless kind is STG_GEN_NONE. Written only when the store does
 * not already have it. A failure (queue full, too large, map full) is
 * logged and counted (RSV_RENDERED_UNWRITTEN), never returned: the page is
 * served from memory. Read-only stores: nothing.
 */
void rsv__stored_keep(struct rsv *r, const char *key, const char *fp, enum stg_gen kind,
                      uint64_t gen, const char *stamps, size_t inputs_len, const char *project,
                      struct rsv_page *page);

/*
 * The writer thread of r's renderings (stored.c). rsv__writer_new returns
 * NULL for a read-only store. rsv__writer_free (NULL-safe) writes what is
 * still queued, then joins the thread: call it before the store closes.
 */
struct rsv__writer *rsv__writer_new(struct rsv *r);
void rsv__writer_free(struct rsv__writer *w);

/* Another reference to a page (resolver.c); rsv_page_unref drops it. */
struct rsv_page *rsv__page_ref(struct rsv_page *p);

/* fetch.c */
struct rsv__files *rsv__files_new(void);
void rsv__files_free(struct rsv__files *fs);
