/*
 * project.c - upstream project pages and project lists through the cache
 * (SPEC.md section 6).
 *
 * Life of one (index, project) record in STG_DB_PAGES:
 *
 *   state      | how it is served                     | leaves the state when
 *   -----------+--------------------------------------+---------------------------------
 *   missing    | fetched (single flight per key)      | 200 -> PRESENT, 403/404 -> ABSENT
 *   PRESENT    | as is while now < fetched_at + ttl   | stale: revalidated with the
 *              |                                      | validators; 304 keeps the body,
 *              |                                      | 200 replaces it, 403/404 -> ABSENT,
 *              |                                      | any failure serves it stale
 *   ABSENT     | 404 while now < fetched_at + neg-ttl | then fetched again like missing
 *
 * Offline, records are served whatever their age and nothing is fetched.
 * The client's own Cache-Control never reaches this file: freshness is the
 * server's ttl only.
 *
 * Pages are stored parsed, in simple.h's store format, with every file URL
 * already resolved to an absolute URL (against <base href> or the final URL
 * after redirects), and every file registered in the file table so that
 * /files/<key>/ can be served (and nothing else: not an open proxy).
 */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>

#include "err.h"
#include "log.h"
#include "metrics_int.h"
#include "pkgname.h"
#include "resolver_int.h"
#include "sha256.h"
#include "str.h"
#include "xalloc.h"

#define ACCEPT_PAGE                                                                        \
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "     \
    "text/html;q=0.01"

/* What an absent page or a released ipage points at. */
static const struct simple_project empty_page;

void rsv__ipage_release(struct rsv__ipage *p)
{
    if (!p)
        return;
    rsv__parsed_unref(p->parsed);
    memset(p, 0, sizeof(*p));
    p->page = &empty_page;
}

/*
 * The parsed-page cache: what each (index, project) record holds, parsed,
 * so that a merge of numpy's 3,464 files does not re-read and re-parse
 * 1.7 MB of JSON. This process is the only writer of page records while it
 * runs (storage's lock), so dropping the entry whenever this file writes a
 * record keeps the cache exact; `writes` makes a reader that raced with a
 * write skip inserting what it read.
 */
#define PCACHE_SLOTS 4096
#define PCACHE_CHAIN 4

struct pcache_entry {
    char *key;
    enum stg_page_state state;
    int64_t fetched_at;
    char stamp[RSV_STAMP_SIZE];
    struct rsv__parsed *parsed; /* NULL when ABSENT */
    struct pcache_entry *next;
};

struct rsv__pcache {
    pthread_mutex_t mu;
    uint64_t writes;      /* page records written so far */
    struct pcache_entry *slots[PCACHE_SLOTS];
};

static uint64_t pc_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void pc_entry_free(struct pcache_entry *e)
{
    free(e->key);
    rsv__parsed_unref(e->parsed);
    free(e);
}

struct rsv__pcache *rsv__pcache_new(void)
{
    struct rsv__pcache *pc = xcalloc(1, sizeof(*pc));
    pthread_mutex_init(&pc->mu, NULL);
    return pc;
}

void rsv__pcache_free(struct rsv__pcache *pc)
{
    if (!pc)
        return;
    for (size_t i = 0; i < PCACHE_SLOTS; i++) {
        while (pc->slots[i]) {
            struct pcache_entry *e = pc->slots[i];
            pc->slots[i] = e->next;
            pc_entry_free(e);
        }
    }
    pthread_mutex_destroy(&pc->mu);
    free(pc);
}

/* Drop the entry of key (a record is about to change). */
static void pc_invalidate(struct rsv__pcache *pc, const char *key)
{
    struct pcache_entry **pp;

    pthread_mutex_lock(&pc->mu);
    pc->writes++;
    for (pp = &pc->slots[pc_hash(key) % PCACHE_SLOTS]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            struct pcache_entry *e = *pp;
            *pp = e->next;
            pc_entry_free(e);
            break;
        }
    }
    pthread_mutex_unlock(&pc->mu);
}

static uint64_t pc_writes(struct rsv__pcache *pc)
{
    uint64_t w;
    pthread_mutex_lock(&pc->mu);
    w = pc->writes;
    pthread_mutex_unlock(&pc->mu);
    return w;
}

/* Copy the entry of key into out (referenced). False when there is none. */
static bool pc_get(struct rsv__pcache *pc, const char *key, struct pcache_entry *out)
{
    struct pcache_entry *e;
    bool found = false;

    pthread_mutex_lock(&pc->mu);
    for (e = pc->slots[pc_hash(key) % PCACHE_SLOTS]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            *out = *e;
            if (out->parsed)
                rsv__parsed_ref(out->parsed);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return found;
}

/* Insert what a reader loaded, unless a record was written since it began. */
static void pc_put(struct rsv__pcache *pc, const char *key, uint64_t writes_seen,
                   enum stg_page_state state, int64_t fetched_at, struct rsv__parsed *parsed,
                   const char *stamp)
{
    struct pcache_entry **pp;
    struct pcache_entry *e;
    size_t slot = pc_hash(key) % PCACHE_SLOTS;
    size_t depth = 0;

    pthread_mutex_lock(&pc->mu);
    if (pc->writes != writes_seen) {
        pthread_mutex_unlock(&pc->mu);
        return;
    }
    for (pp = &pc->slots[slot]; *pp;) {
        if (strcmp((*pp)->key, key) == 0 || ++depth >= PCACHE_CHAIN) {
            e = *pp;
            *pp = e->next;
            pc_entry_free(e);
            continue;
        }
        pp = &(*pp)->next;
    }
    e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->state = state;
    e->fetched_at = fetched_at;
    str_copy(e->stamp, sizeof(e->stamp), stamp);
    e->parsed = parsed ? rsv__parsed_ref(parsed) : NULL;
    e->next = pc->slots[slot];
    pc->slots[slot] = e;
    pthread_mutex_unlock(&pc->mu);
}

void rsv__file_key(const char *index, const char *url, char key[33])
{
    char hex[65];
    struct sha256 *h = sha256_new();

    sha256_update(h, index, strlen(index));
    sha256_update(h, "\n", 1);
    sha256_update(h, url, strlen(url));
    sha256_final_hex(h, hex);
    sha256_free(h);
    memcpy(key, hex, 32);
    key[32] = '\0';
}

static char *page_url(const struct config_index *ix, const char *project)
{
    /* ix->url always ends with '/'; the trailing slash avoids PyTorch's 403. */
    if (project[0] == '\0')
        return xstrdup(ix->url);
    return xasprintf("%s%s/", ix->url, project);
}

/* Resolve every file URL against the page's base; drop what cannot resolve. */
static void resolve_urls(struct simple_project *p, const char *final_url)
{
    char *base = NULL;
    size_t kept = 0;

    if (p->base_url && upstream_url_resolve(final_url, p->base_url, &base) != 0)
        base = NULL;
    for (size_t i = 0; i < p->nfiles; i++) {
        struct simple_file *f = &p->files[i];
        char *abs = NULL;
        if (!f->url || upstream_url_resolve(base ? base : final_url, f->url, &abs) != 0) {
            log_debug("dropping link '%s' of '%s': not an http(s) URL", f->url ? f->url : "",
                      final_url);
            simple_file_release(f);
            continue;
        }
        free(f->url);
        f->url = abs;
        if (kept != i)
            p->files[kept] = *f;
        kept++;
    }
    p->nfiles = kept;
    free(base);
}

/*
 * Register every file of a fresh page of `project` in the file table (one
 * transaction), under the project's normalized name: the name the renderings
 * of its pages read the files generation of (storage.h), whatever spelling
 * the caller used (`indexmux explain` passes the command line's).
 */
static int register_files(struct rsv *r, const struct config_index *ix, const char *project,
                          const struct simple_project *p)
{
    struct stg_file *recs;
    char (*keys)[33];
    struct buf norm;
    const char *name = NULL;
    int rc;

    if (p->nfiles == 0)
        return 0;
    buf_init(&norm, 512);
    if (pkgname_normalize(project, strlen(project), &norm) == 0)
        name = buf_cstr(&norm);
    else
        log_debug("registering files of '%s' under no project: not a normalizable name",
                  project);
    recs = xcalloc(p->nfiles, sizeof(*recs));
    keys = xcalloc(p->nfiles, sizeof(*keys));
    for (size_t i = 0; i < p->nfiles; i++) {
        const struct simple_file *f = &p->files[i];
        rsv__file_key(ix->name, f->url, keys[i]);
        recs[i].key = keys[i];
        recs[i].index = ix->name;
        recs[i].url = f->url;
        recs[i].filename = f->filename;
        recs[i].expected_sha256 = (char *)simple_hashes_get(&f->hashes, "sha256");
        recs[i].size = f->size;
        recs[i].metadata_expected_sha256 =
            f->core_metadata ? (char *)simple_hashes_get(&f->core_metadata_hashes, "sha256") : NULL;
        recs[i].last_access = 0;
        recs[i].project = (char *)name; /* NULL: unknown, every generation moves */
    }
    rc = stg_file_put_many(r->stg, recs, p->nfiles);
    free(recs);
    free(keys);
    buf_release(&norm);
    return rc;
}

/* Parse a stored record into a shared page with its file keys. */
static int parse_record(const struct config_index *ix, const struct stg_page *rec,
                        struct rsv__parsed **out)
{
    struct simple_project page;

    simple_project_init(&page);
    if (simple_store_parse(rec->body ? rec->body : "", rec->body_len, &page) != 0)
        return IMX_ECORRUPT;
    *out = rsv__parsed_new_take(ix->name, &page);
    return 0;
}

/* Fill the caller's view of a page from its state and parsed form. */
static void fill_ipage(const struct config_index *ix, enum stg_page_state state,
                       int64_t fetched_at, struct rsv__parsed *parsed /* taken */,
                       const char *stamp, struct rsv__ipage *out)
{
    memset(out, 0, sizeof(*out));
    out->fetched_at = fetched_at;
    str_copy(out->stamp, sizeof(out->stamp), stamp);
    if (state == STG_PAGE_ABSENT || !parsed) {
        rsv__parsed_unref(parsed);
        out->state = RSV__ABSENT;
        out->page = &empty_page;
        out->fresh_until = fetched_at + (int64_t)ix->negative_ttl;
        return;
    }
    out->state = RSV__PRESENT;
    out->parsed = parsed;
    out->page = &parsed->page;
    out->files = parsed->files;
    out->fresh_until = fetched_at + (int64_t)ix->ttl;
}

struct fetch_ctx {
    struct rsv *r;
    const struct config_index *ix;
    const char *project; /* "" for the list */
    struct buf *why;
    int rc;
    const char *key;     /* "<index>\n<project>": single flight and page cache key */
};

/*
 * Write a page record, dropping its parsed copy before and after: a reader
 * that loaded the old record between the two cannot put it back (pc_put
 * sees the write count move).
 */
static int put_record(struct rsv *r, const struct fetch_ctx *c, const struct stg_page *rec)
{
    int rc;

    pc_invalidate(r->pcache, c->key);
    rc = stg_page_put(r->stg, c->ix->name, c->project, rec);
    pc_invalidate(r->pcache, c->key);
    return rc;
}

/* A 304: the stored record gets a new fetched_at; its parsed copy is dropped as in put_record. */
static int touch_record(struct rsv *r, const struct fetch_ctx *c, const char *sha256,
                        int64_t now)
{
    int rc;

    pc_invalidate(r->pcache, c->key);
    rc = stg_page_touch(r->stg, c->ix->name, c->project, sha256, now);
    pc_invalidate(r->pcache, c->key);
    return rc;
}

static bool is_json(const char *ct)
{
    return ct && strncmp(ct, "application/vnd.pypi.simple.v1+json", 35) == 0;
}

/* Ask the upstream and store what it says. Runs once per key at a time. */
static int fetch_page(void *arg)
{
    struct fetch_ctx *c = arg;
    struct rsv *r = c->r;
    const struct config_index *ix = c->ix;
    struct upstream_request req = {0};
    struct upstream_response resp;
    struct stg_page old = {0};
    struct stg_page rec = {0};
    struct simple_project page;
    struct simple_index list;
    struct buf body;
    bool have_old;
    char *url = page_url(ix, c->project);
    int rc;

    upstream_response_init(&resp);
    simple_project_init(&page);
    simple_index_init(&list);
    buf_init(&body, BUF_NOMAX);

    /* The validators and the body's hash only: a 304 keeps the body where it is. */
    have_old = stg_page_get_meta(r->stg, ix->name, c->project, &old) == 0;
    req.url = url;
    req.accept = c->project[0] ? ACCEPT_PAGE : "text/html";
    req.username = ix->username;
    req.password = ix->password;
    req.tls_verify = ix->tls_verify;
    req.ca_file = ix->ca_file;
    req.gzip = true;
    req.max_body = c->project[0] ? r->cfg->server.max_page_size : RSV_MAX_LIST_BYTES;
    if (have_old && old.state == STG_PAGE_PRESENT) {
        req.if_none_match = old.etag;
        req.if_modified_since = old.last_modified;
    }
    if (ix->username && !ix->password) {
        buf_printf(c->why, "upstream '%s': password-env is not set", ix->name);
        rc = IMX_EAUTH;
        goto out;
    }
    rc = rsv__upstream_fetch(r, ix->name, &req, &resp);
    if (rc) {
        buf_printf(c->why, "upstream '%s' unreachable: %s", ix->name,
                   resp.error[0] ? resp.error : imx_strerror(rc));
        goto out;
    }
    if (resp.status == 304 && have_old && old.state == STG_PAGE_PRESENT) {
        rsv__count_page(r, ix, RSV_PAGE_REVALIDATED);
        rc = touch_record(r, c, old.body_sha256, rsv__now());
        goto out;
    }
    if (resp.status == 200 || resp.status == 404 || resp.status == 403 || resp.status == 410)
        rsv__count_page(r, ix, RSV_PAGE_MISS);
    if (resp.status == 404 || resp.status == 403 || resp.status == 410) {
        rec.state = STG_PAGE_ABSENT;
        rec.fetched_at = rsv__now();
        rc = put_record(r, c, &rec);
        goto out;
    }
    if (resp.status != 200) {
        buf_printf(c->why, "upstream '%s' answered %ld for '%s'", ix->name, resp.status,
                   c->project[0] ? c->project : "the project list");
        rc = IMX_EUPSTREAM;
        goto out;
    }
    if (c->project[0]) {
        rc = is_json(resp.content_type)
                 ? simple_parse_json(resp.body.p ? resp.body.p : "", resp.body.len, RSV_MAX_FILES,
                                     &page)
                 : simple_parse_html(resp.body.p ? resp.body.p : "", resp.body.len, RSV_MAX_FILES,
                                     &page);
        if (rc) {
            buf_printf(c->why, "upstream '%s' sent an unreadable page for '%s': %s", ix->name,
                       c->project, imx_strerror(rc));
            rc = IMX_EUPSTREAM;
            goto out;
        }
        resolve_urls(&page, resp.effective_url ? resp.effective_url : url);
        rc = simple_store_render(&page, &body);
        if (rc)
            goto out;
        rc = register_files(r, ix, c->project, &page);
        if (rc)
            log_warnx("cannot register files of '%s' from '%s': %s", c->project, ix->name,
                      imx_strerror(rc));
    } else {
        if (is_json(resp.content_type)) {
            rc = simple_index_parse_json(resp.body.p ? resp.body.p : "", resp.body.len,
                                         RSV_MAX_NAMES, &list);
        } else {
            struct simple_index_html *s = simple_index_html_new(RSV_MAX_NAMES);
            rc = simple_index_html_feed(s, resp.body.p ? resp.body.p : "", resp.body.len);
            if (rc == 0)
                rc = simple_index_html_finish(s, &list);
            simple_index_html_free(s);
        }
        if (rc) {
            buf_printf(c->why, "upstream '%s' sent an unreadable project list: %s", ix->name,
                       imx_strerror(rc));
            rc = IMX_EUPSTREAM;
            goto out;
        }
        rc = simple_index_render_json(&list, &body);
        if (rc)
            goto out;
    }
    rec.state = STG_PAGE_PRESENT;
    rec.fetched_at = rsv__now();
    rec.etag = resp.etag;
    rec.last_modified = resp.last_modified;
    rec.url = resp.effective_url ? resp.effective_url : url;
    rec.body = body.p ? body.p : (char *)"";
    rec.body_len = body.len;
    rc = put_record(r, c, &rec);
    if (rc) {
        /* A local fault, not the upstream's: say so to the client too. */
        log_warnx("cannot store page '%s' of '%s': %s", c->project, ix->name, imx_strerror(rc));
        buf_reset(c->why);
        buf_printf(c->why, "cannot keep the page of '%s' from '%s': %s",
                   c->project[0] ? c->project : "the project list", ix->name, imx_strerror(rc));
    }
out:
    c->rc = rc;
    free(url);
    buf_release(&body);
    simple_project_release(&page);
    simple_index_release(&list);
    upstream_response_release(&resp);
    stg_page_release(&old);
    return rc;
}

static int64_t list_ttl(const struct config_index *ix)
{
    /* Project lists are big (PyPI's: tens of MB) and change slowly. */
    return ix->ttl > 3600 ? (int64_t)ix->ttl : 3600;
}

static bool record_fresh(const struct config_index *ix, const char *project,
                         const struct stg_page *rec, int64_t now)
{
    int64_t ttl = rec->state == STG_PAGE_ABSENT ? (int64_t)ix->negative_ttl
                  : project[0]                  ? (int64_t)ix->ttl
                                                : list_ttl(ix);
    return now < rec->fetched_at + ttl && now >= rec->fetched_at - 60;
}

/*
 * The record of (index, project); without its body (see stg_page_get_meta)
 * when its stamp is keep_stamp (not NULL): the caller has that page parsed.
 */
static int read_record(struct rsv *r, const struct config_index *ix, const char *project,
                       const char *keep_stamp, struct stg_page *rec /* OUT */)
{
    char stamp[RSV_STAMP_SIZE];
    int rc;

    if (keep_stamp) {
        rc = stg_page_get_meta(r->stg, ix->name, project, rec);
        if (rc)
            return rc;
        rsv__page_stamp(rec->state, rec->body_sha256, stamp);
        if (strcmp(stamp, keep_stamp) == 0)
            return 0;
        stg_page_release(rec);
    }
    return stg_page_get(r->stg, ix->name, project, rec);
}

/*
 * The common path of pages and lists: fresh record -> use; else fetch once
 * (single flight) and re-read; on failure fall back to a stale record.
 * With a storage failure while fetching (disk full, map full) the fresh
 * answer cannot be kept, so it is read back from nowhere: report it.
 * A record whose stamp is keep_stamp (may be NULL) comes without its body
 * (read_record). *writes (when not NULL) is the parse cache's write count
 * just before the read of the record returned, for pc_put.
 */
static int get_record(struct rsv *r, const struct config_index *ix, const char *project,
                      const char *keep_stamp, struct stg_page *rec /* OUT */, bool *stale,
                      uint64_t *writes, struct buf *why)
{
    struct fetch_ctx c = {r, ix, project, why, 0, NULL};
    char *key;
    int rc;

    *stale = false;
    if (writes)
        *writes = pc_writes(r->pcache);
    rc = read_record(r, ix, project, keep_stamp, rec);
    if (rc == 0 && (r->offline || record_fresh(ix, project, rec, rsv__now()))) {
        rsv__count_page(r, ix, rec->state == STG_PAGE_ABSENT ? RSV_PAGE_NEGATIVE : RSV_PAGE_HIT);
        return 0;
    }
    if (rc != 0 && rc != IMX_ENOTFOUND)
        log_warnx("cannot read cached page '%s' of '%s': %s", project, ix->name,
                  imx_strerror(rc));
    if (rc == 0)
        stg_page_release(rec);
    if (r->offline)
        return IMX_ENOTFOUND;

    key = xasprintf("%s\n%s", ix->name, project);
    c.key = key;
    rc = rsv__sf_do(r->pages_sf, key, fetch_page, &c);
    free(key);
    if (rc == 0 || c.rc == 0) {
        /* After the fetch's own writes: what is read now may go to the parse cache. */
        if (writes)
            *writes = pc_writes(r->pcache);
        rc = read_record(r, ix, project, keep_stamp, rec);
        if (rc == 0)
            return 0;
        buf_printf(why, "upstream '%s': the page of '%s' could not be stored", ix->name,
                   project[0] ? project : "the project list");
        return IMX_EUPSTREAM;
    }
    /* The fetch failed: serve a stale copy if there is one. */
    if (read_record(r, ix, project, keep_stamp, rec) == 0) {
        if (rec->state == STG_PAGE_PRESENT) {
            log_warnx("serving stale page '%s' of '%s': %s", project[0] ? project : "(list)",
                      ix->name, buf_cstr(why));
            buf_reset(why);
            rsv__count_page(r, ix, RSV_PAGE_STALE);
            *stale = true;
            return 0;
        }
        stg_page_release(rec);
    }
    if (why->len == 0)
        buf_printf(why, "upstream '%s' failed: %s", ix->name, imx_strerror(rc));
    return rc == IMX_ETIMEDOUT ? IMX_ETIMEDOUT : IMX_EUPSTREAM;
}

static int index_page(struct rsv *r, const struct config_index *ix, const char *project,
                      struct rsv__ipage *out, struct buf *why)
{
    struct stg_page rec = {0};
    struct pcache_entry e;
    struct rsv__parsed *parsed = NULL;
    struct rsv__parsed *expired = NULL; /* the parse of the expired entry, referenced */
    char *key = xasprintf("%s\n%s", ix->name, project);
    char stamp[RSV_STAMP_SIZE];
    char expired_stamp[RSV_STAMP_SIZE] = "";
    uint64_t writes;
    bool stale = false;
    int rc;

    /* Fast path: the parsed page in memory, still fresh. */
    if (pc_get(r->pcache, key, &e)) {
        struct stg_page meta = {0};
        meta.state = e.state;
        meta.fetched_at = e.fetched_at;
        if (r->offline || record_fresh(ix, project, &meta, rsv__now())) {
            rsv__count_page(r, ix, e.state == STG_PAGE_ABSENT ? RSV_PAGE_NEGATIVE : RSV_PAGE_HIT);
            fill_ipage(ix, e.state, e.fetched_at, e.parsed, e.stamp, out);
            free(key);
            return 0;
        }
        /* Kept for below: a revalidation that finds the same bytes (304) needs no new parse. */
        expired = e.parsed;
        str_copy(expired_stamp, sizeof(expired_stamp), e.stamp);
    }
    rc = get_record(r, ix, project, expired ? expired_stamp : NULL, &rec, &stale, &writes, why);
    if (rc == IMX_ENOTFOUND) {
        /* Offline and never fetched: the index does not have it for us. */
        fill_ipage(ix, STG_PAGE_ABSENT, rsv__now() + 60 - (int64_t)ix->negative_ttl, NULL,
                   "absent", out);
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    /*
     * The stamp follows the content, not the write: a revalidation (304)
     * rewrites the record but keeps the page, its rendering and its ETag,
     * and the parse of the same bytes (the key names the index, the stamp
     * the state and the body's sha256: nothing else goes into a parse).
     */
    rsv__page_stamp(rec.state, rec.body_sha256, stamp);
    if (rec.state == STG_PAGE_PRESENT && expired && strcmp(expired_stamp, stamp) == 0) {
        parsed = expired;
        expired = NULL;
    } else if (rec.state == STG_PAGE_PRESENT) {
        rc = parse_record(ix, &rec, &parsed);
        if (rc) {
            log_warnx("cached page '%s' of '%s' is corrupt", project, ix->name);
            goto out;
        }
        rsv__count_page_parsed(r);
    }
    if (stale) {
        /* Not cached in memory: the next request asks the upstream again. */
        fill_ipage(ix, rec.state, rec.fetched_at, parsed, stamp, out);
        out->stale = true;
        out->fresh_until = rsv__now() + 5;
    } else {
        pc_put(r->pcache, key, writes, rec.state, rec.fetched_at, parsed, stamp);
        fill_ipage(ix, rec.state, rec.fetched_at, parsed, stamp, out);
    }
out:
    rsv__parsed_unref(expired);
    stg_page_release(&rec);
    free(key);
    return rc;
}

/*
 * Offline, nothing changes a page record while this process runs (nothing
 * is fetched, and import needs the store's write lock, which the server
 * holds): what was read stays fresh, so rendered pages stay in memory and are
 * answered on the event threads. Files stored or dropped are covered by the
 * files generation of their project.
 */
int rsv__index_page(struct rsv *r, const struct config_index *ix, const char *project,
                    struct rsv__ipage *out, struct buf *why)
{
    int rc = index_page(r, ix, project, out, why);

    if (rc == 0 && r->offline)
        out->fresh_until = INT64_MAX;
    return rc;
}

static int index_list(struct rsv *r, const struct config_index *ix, struct simple_index *out,
                      int64_t *fresh_until, char stamp[RSV_STAMP_SIZE], struct buf *why)
{
    struct stg_page rec = {0};
    bool stale = false;
    int rc;

    rc = get_record(r, ix, "", NULL, &rec, &stale, NULL, why);
    if (rc == IMX_ENOTFOUND) {
        simple_index_init(out);
        *fresh_until = rsv__now() + 60;
        rsv__page_stamp(STG_PAGE_ABSENT, "", stamp);
        return 0;
    }
    if (rc)
        return rc;
    rsv__page_stamp(rec.state, rec.body_sha256, stamp);
    simple_index_init(out);
    if (rec.state == STG_PAGE_PRESENT)
        rc = simple_index_parse_json(rec.body ? rec.body : "", rec.body_len, RSV_MAX_NAMES, out);
    *fresh_until = rec.fetched_at + list_ttl(ix);
    if (stale)
        *fresh_until = rsv__now() + 5;
    stg_page_release(&rec);
    return rc ? IMX_ECORRUPT : 0;
}

int rsv__index_list(struct rsv *r, const struct config_index *ix, struct simple_index *out,
                    int64_t *fresh_until, char stamp[RSV_STAMP_SIZE], struct buf *why)
{
    int rc = index_list(r, ix, out, fresh_until, stamp, why);

    if (rc == 0 && r->offline)
        *fresh_until = INT64_MAX; /* as rsv__index_page */
    return rc;
}

void rsv__page_stamp(enum stg_page_state state, const char *body_sha256,
                     char out[RSV_STAMP_SIZE])
{
    if (state == STG_PAGE_PRESENT)
        snprintf(out, RSV_STAMP_SIZE, "%.23s", body_sha256);
    else
        snprintf(out, RSV_STAMP_SIZE, "absent");
}

bool rsv__input_fresh(struct rsv *r, const struct config_index *ix, const char *project,
                      const char *stamp, int64_t *fresh_until)
{
    struct stg_page_head h;
    struct stg_page meta = {0};
    char have[RSV_STAMP_SIZE];
    int64_t now = rsv__now();
    int rc;

    rc = stg_page_head(r->stg, ix->name, project, &h);
    if (rc == IMX_ENOTFOUND && r->offline) {
        /* As rsv__index_page / rsv__index_list answer it: absent, for a minute. */
        if (strcmp(stamp, "absent") != 0)
            return false;
        *fresh_until = INT64_MAX; /* offline: see rsv__index_page */
        return true;
    }
    if (rc != 0)
        return false;
    meta.state = h.state;
    meta.fetched_at = h.fetched_at;
    if (!r->offline && !record_fresh(ix, project, &meta, now))
        return false;
    rsv__page_stamp(h.state, h.body_sha256, have);
    if (strcmp(have, stamp) != 0)
        return false;
    *fresh_until = r->offline ? INT64_MAX /* see rsv__index_page */
                   : h.fetched_at + (h.state == STG_PAGE_ABSENT ? (int64_t)ix->negative_ttl
                                     : project[0]               ? (int64_t)ix->ttl
                                                                : list_ttl(ix));
    return true;
}
