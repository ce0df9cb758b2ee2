/*
 * maint.c - cache care on a whole store (storage.h, "maintenance"): air-gap
 * bundles (stg_export / stg_import), garbage collection and LRU eviction
 * (stg_gc), consistency checks (stg_fsck) and per-upstream figures
 * (stg_index_stats). Built only on the public storage API plus the stg__
 * helpers of storage_int.h, so LMDB stays confined to meta.c.
 *
 * Bundle = one POSIX ustar file, written and read here (no libarchive):
 *
 *   index.lmdb/data.mdb   compacted LMDB copy (stg_copy_compact), optionally
 *                         restricted to some upstream indexes
 *   blobs/<sha256>        every blob the copy's file table references
 *   manifest              last member, text:
 *                           indexmux-bundle 1
 *                           lmdb <sha256> <size>
 *                           <sha256> <size>          (one line per blob)
 *
 * The manifest goes last so an export running beside a server that evicts a
 * blob meanwhile can leave it out (its record is then cleared on import).
 *
 * Import phases (a damaged bundle changes nothing):
 *
 *   phase     where                          may fail with
 *   stage     data_dir/tmp/import-XXXXXX/    truncated tar, bad header checksum,
 *             (every member copied, hashed)  unknown member, oversized member,
 *                                            blob bytes != name, missing manifest,
 *                                            manifest != members, lmdb hash
 *   check     staged LMDB opened read-only   a record that does not decode (or a
 *                                            page whose stored sha256 is not its body's)
 *   commit    blobs: begin/write/commit      disk full (blobs already committed
 *             with the expected sha256;      are merely unreferenced: gc removes
 *             records: merged in batches     them; records merged so far point
 *                                            at committed blobs only)
 *
 * Rendered pages (STG_DB_RENDERED) are derived data: a bundle leaves them
 * out (the importing server renders its own, under its own configuration),
 * gc deletes those that can never be served again (their files generation
 * is not their project's any more, or they do not decode), fsck deletes
 * undecodable ones on a writable store.
 *
 * gc and the running server: the server holds the read-write lock, so gc on
 * demand runs inside it (stg_gc on its own handle, periodically). Races it
 * tolerates by construction: a download in progress is a temp file in tmp/,
 * not a blob (tmp/ files younger than min_age are left alone); a blob just
 * committed whose file record is not yet written is younger than min_age
 * and not taken for unreferenced; a client streaming an evicted blob keeps
 * its open fd. The record is cleared before the blob is unlinked, so no
 * page lists a file whose bytes are gone for longer than that instant.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "sha256.h"
#include "storage.h"
#include "storage_int.h"
#include "str.h"
#include "xalloc.h"

#define TAR_BLOCK 512
#define IO_CHUNK (256u << 10)
#define MANIFEST_MAGIC "indexmux-bundle 1"
#define MERGE_BATCH 256

/* ---- small helpers ---- */

static void why_set(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why_set(struct buf *why, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || why->len > 0) /* keep the first reason */
        return;
    va_start(ap, fmt);
    buf_vprintf(why, fmt, ap);
    va_end(ap);
}

static int errno_rc(int e)
{
    return (e == ENOSPC || e == EDQUOT) ? IMX_ENOSPC : IMX_EIO;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    UNUSED(st);
    UNUSED(flag);
    UNUSED(ftw);
    if (remove(path) != 0 && errno != ENOENT)
        log_warn("cannot remove '%s'", path);
    return 0;
}

/* rm -rf for our own staging directories. NULL-safe. */
static void rmrf(const char *path)
{
    if (path != NULL)
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_all(int fd, const void *p, size_t n, const char *path)
{
    const char *q = p;

    while (n > 0) {
        ssize_t k = write(fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            log_warn("cannot write '%s'", path);
            return k < 0 ? errno_rc(errno) : IMX_EIO;
        }
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read exactly n bytes; IMX_ECORRUPT on a short file (a truncated bundle). */
static int read_all(int fd, void *p, size_t n)
{
    char *q = p;

    while (n > 0) {
        ssize_t k = read(fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return IMX_EIO;
        if (k == 0)
            return IMX_ECORRUPT;
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Hash a whole file; 0 with hex and *size, or IMX_EIO / IMX_ENOTFOUND. */
static int hash_file(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *size)
{
    struct sha256 *h = NULL;
    char *chunk = NULL;
    uint64_t total = 0;
    int fd;
    int rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? IMX_ENOTFOUND : IMX_EIO;
    h = sha256_new();
    chunk = xmalloc(IO_CHUNK);
    for (;;) {
        ssize_t k = read(fd, chunk, IO_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            log_warn("cannot read '%s'", path);
            rc = IMX_EIO;
            goto out;
        }
        if (k == 0)
            break;
        sha256_update(h, chunk, (size_t)k);
        total += (uint64_t)k;
    }
    sha256_final_hex(h, hex);
    *size = total;
out:
    close(fd);
    sha256_free(h);
    free(chunk);
    return rc;
}

/* ---- blob walk ---- */

struct blob_ent {
    char sha[SHA256_HEX_LEN + 1];
    uint64_t size;
    int64_t mtime;
};

struct blob_list {
    struct blob_ent *v;
    size_t n, cap;
};

static bool hex_name(const char *name, size_t len)
{
    return strlen(name) == len && sha256_is_hex(name, len);
}

static bool hex2(const char *name)
{
    if (strlen(name) != 2)
        return false;
    for (int i = 0; i < 2; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* Every regular file blobs/ab/cd/<sha256> with its size and mtime. */
static int list_blobs(struct stg *s, struct blob_list *out)
{
    DIR *d1 = NULL;
    struct dirent *e1;
    int rc = 0;

    d1 = opendir(s->blob_dir);
    if (d1 == NULL) {
        if (errno == ENOENT)
            return 0;
        log_warn("cannot open directory '%s'", s->blob_dir);
        return IMX_EIO;
    }
    while ((e1 = readdir(d1)) != NULL) {
        char *p1;
        DIR *d2;
        struct dirent *e2;

        if (!hex2(e1->d_name))
            continue;
        p1 = xasprintf("%s/%s", s->blob_dir, e1->d_name);
        d2 = opendir(p1);
        while (d2 != NULL && (e2 = readdir(d2)) != NULL) {
            char *p2;
            DIR *d3;
            struct dirent *e3;
            struct stat st;

            if (!hex2(e2->d_name))
                continue;
            p2 = xasprintf("%s/%s", p1, e2->d_name);
            d3 = opendir(p2);
            while (d3 != NULL && (e3 = readdir(d3)) != NULL) {
                struct blob_ent *b;
                if (!hex_name(e3->d_name, SHA256_HEX_LEN))
                    continue;
                if (fstatat(dirfd(d3), e3->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISREG(st.st_mode))
                    continue;
                out->v = xgrow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
                b = &out->v[out->n++];
                memcpy(b->sha, e3->d_name, SHA256_HEX_LEN + 1);
                b->size = (uint64_t)st.st_size;
                b->mtime = (int64_t)st.st_mtime;
            }
            if (d3 != NULL)
                closedir(d3);
            free(p2);
        }
        if (d2 != NULL)
            closedir(d2);
        free(p1);
    }
    closedir(d1);
    return rc;
}

/* ---- sets of sha256 (sorted arrays) ---- */

struct ref {
    char sha[SHA256_HEX_LEN + 1];
    int64_t last_access; /* newest among the records that reference it */
    uint64_t size;       /* filled by the caller when it knows */
    bool present;
};

struct ref_set {
    struct ref *v;
    size_t n, cap;
};

static int ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ref *)a)->sha, ((const struct ref *)b)->sha);
}

static void refs_add(struct ref_set *rs, const char *sha, int64_t last_access)
{
    struct ref *r;

    if (sha == NULL || !hex_name(sha, SHA256_HEX_LEN))
        return;
    rs->v = xgrow(rs->v, &rs->cap, rs->n + 1, sizeof(*rs->v));
    r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    memcpy(r->sha, sha, SHA256_HEX_LEN + 1);
    r->last_access = last_access;
}

/* Sort and merge duplicates (keeping the newest last_access). */
static void refs_finish(struct ref_set *rs)
{
    size_t w = 0;

    if (rs->n == 0)
        return;
    qsort(rs->v, rs->n, sizeof(*rs->v), ref_cmp);
    for (size_t i = 1; i < rs->n; i++) {
        if (strcmp(rs->v[i].sha, rs->v[w].sha) == 0) {
            if (rs->v[i].last_access > rs->v[w].last_access)
                rs->v[w].last_access = rs->v[i].last_access;
            continue;
        }
        rs->v[++w] = rs->v[i];
    }
    rs->n = w + 1;
}

static struct ref *refs_find(const struct ref_set *rs, const char *sha)
{
    struct ref key;

    if (rs->n == 0 || sha == NULL || strlen(sha) != SHA256_HEX_LEN)
        return NULL;
    memcpy(key.sha, sha, SHA256_HEX_LEN + 1);
    return bsearch(&key, rs->v, rs->n, sizeof(*rs->v), ref_cmp);
}

static void refs_release(struct ref_set *rs)
{
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}

/* foreach callback: every sha256 a file record references. */
static int collect_refs(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct ref_set *rs = ctx;
    struct stg_file f;

    UNUSED(k);
    UNUSED(klen);
    if (stg_file_decode(v, vlen, &f) != 0)
        return 0; /* fsck reports it; nothing to keep */
    refs_add(rs, f.sha256, f.last_access);
    refs_add(rs, f.metadata_sha256, f.last_access);
    stg_file_release(&f);
    return 0;
}

/* ---- in use ---- */

int stg_in_use(const char *data_dir, bool *in_use)
{
    char *path = NULL;
    int fd = -1;
    int rc = 0;

    assert(data_dir != NULL && in_use != NULL);
    path = xasprintf("%s/lock", data_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            log_warn("cannot open '%s'", path);
            rc = IMX_EIO;
        } else {
            *in_use = false;
        }
        goto out;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            *in_use = true;
        } else {
            log_warn("cannot lock '%s'", path);
            rc = IMX_EIO;
        }
        goto out;
    }
    *in_use = false;
out:
    if (fd >= 0)
        close(fd); /* drops the shared lock */
    free(path);
    return rc;
}

/* ---- stats per upstream ---- */

struct istats_ctx {
    struct stg *s;
    struct stg_index_stats *v;
    size_t n, cap;
};

static struct stg_index_stats *istats_get(struct istats_ctx *c, const char *name, size_t len)
{
    struct stg_index_stats *e;

    for (size_t i = 0; i < c->n; i++) {
        if (strlen(c->v[i].index) == len && memcmp(c->v[i].index, name, len) == 0)
            return &c->v[i];
    }
    c->v = xgrow(c->v, &c->cap, c->n + 1, sizeof(*c->v));
    e = &c->v[c->n++];
    memset(e, 0, sizeof(*e));
    e->index = xstrndup(name, len);
    return e;
}

static int istats_page(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct istats_ctx *c = ctx;
    const char *nl = memchr(k, '\n', klen);
    struct stg_index_stats *e;

    UNUSED(v);
    UNUSED(vlen);
    e = istats_get(c, k, nl ? (size_t)(nl - (const char *)k) : klen);
    e->pages++;
    return 0;
}

static int istats_file(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct istats_ctx *c = ctx;
    struct stg_index_stats *e;
    struct stg_file f;

    UNUSED(k);
    UNUSED(klen);
    if (stg_file_decode(v, vlen, &f) != 0)
        return 0;
    e = istats_get(c, f.index ? f.index : "", f.index ? strlen(f.index) : 0);
    e->files++;
    if (f.sha256 != NULL) {
        char *path = stg_blob_path(c->s, f.sha256);
        struct stat st;
        if (path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            e->stored_files++;
            e->stored_bytes += (uint64_t)st.st_size;
        }
        free(path);
    }
    stg_file_release(&f);
    return 0;
}

static int istats_cmp(const void *a, const void *b)
{
    return strcmp(((const struct stg_index_stats *)a)->index,
                  ((const struct stg_index_stats *)b)->index);
}

int stg_index_stats(struct stg *s, struct stg_index_stats **out, size_t *n)
{
    struct istats_ctx c = {s, NULL, 0, 0};
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(out != NULL && n != NULL);
    rc = stg_foreach(s, STG_DB_PAGES, NULL, 0, istats_page, &c);
    if (rc == 0)
        rc = stg_foreach(s, STG_DB_FILES, NULL, 0, istats_file, &c);
    if (rc != 0) {
        stg_index_stats_free(c.v, c.n);
        return rc;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), istats_cmp);
    *out = c.v;
    *n = c.n;
    return 0;
}

void stg_index_stats_free(struct stg_index_stats *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].index);
    free(v);
}

/* ---- clearing digests of records (gc eviction, fsck repair) ---- */

struct clear_ctx {
    const struct ref_set *victims;
    bool changed;
};

static int clear_fn(void *ctx, const void *v, size_t vlen, struct buf *out)
{
    struct clear_ctx *c = ctx;
    struct stg_file f;
    int rc;

    rc = stg_file_decode(v, vlen, &f);
    if (rc != 0)
        return rc;
    if (f.sha256 != NULL && refs_find(c->victims, f.sha256) != NULL) {
        free(f.sha256);
        f.sha256 = NULL;
        c->changed = true;
    }
    if (f.metadata_sha256 != NULL && refs_find(c->victims, f.metadata_sha256) != NULL) {
        free(f.metadata_sha256);
        f.metadata_sha256 = NULL;
        c->changed = true;
    }
    rc = stg__file_encode(&f, out);
    stg_file_release(&f);
    return rc;
}

struct keys_ctx {
    const struct ref_set *victims;
    char **keys;
    size_t n, cap;
};

static int collect_victim_keys(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct keys_ctx *c = ctx;
    struct stg_file f;

    if (stg_file_decode(v, vlen, &f) != 0)
        return 0;
    if ((f.sha256 != NULL && refs_find(c->victims, f.sha256) != NULL) ||
        (f.metadata_sha256 != NULL && refs_find(c->victims, f.metadata_sha256) != NULL)) {
        c->keys = xgrow(c->keys, &c->cap, c->n + 1, sizeof(*c->keys));
        c->keys[c->n++] = xstrndup(k, klen);
    }
    stg_file_release(&f);
    return 0;
}

/* Drop every reference to a sha256 in `victims` from the file table. */
static int clear_refs(struct stg *s, const struct ref_set *victims)
{
    struct keys_ctx kc = {victims, NULL, 0, 0};
    int rc;

    rc = stg_foreach(s, STG_DB_FILES, NULL, 0, collect_victim_keys, &kc);
    for (size_t i = 0; rc == 0 && i < kc.n; i++) {
        struct clear_ctx cc = {victims, false};
        rc = stg__update(s, STG_DB_FILES, kc.keys[i], strlen(kc.keys[i]), clear_fn, &cc);
        if (rc == IMX_ENOTFOUND)
            rc = 0; /* removed meanwhile */
    }
    for (size_t i = 0; i < kc.n; i++)
        free(kc.keys[i]);
    free(kc.keys);
    return rc;
}

/* ---- rendered pages (derived data) ---- */

/*
 * A rendering that can never be served: undecodable, or made for another
 * files generation of its project (or naming none: written before schema 3).
 */
static bool rendered_dead(void *ctx, const void *v, size_t vlen)
{
    struct stg *s = ctx;
    struct stg_rendered r;
    bool dead;

    if (stg_rendered_decode(v, vlen, false, &r) != 0)
        return true;
    dead = r.gen_kind != STG_GEN_NONE &&
           (r.project == NULL || r.files_gen != stg_files_gen(s, r.gen_kind, r.project));
    stg_rendered_release(&r);
    return dead;
}

static bool rendered_undecodable(void *ctx, const void *v, size_t vlen)
{
    struct stg_rendered r;

    (void)ctx;
    if (stg_rendered_decode(v, vlen, false, &r) != 0)
        return true;
    stg_rendered_release(&r);
    return false;
}

struct keylist {
    char **keys;
    size_t *klens;
    size_t n, cap, lcap;
};

static void keylist_add(struct keylist *kl, const void *k, size_t klen)
{
    kl->keys = xgrow(kl->keys, &kl->cap, kl->n + 1, sizeof(*kl->keys));
    kl->klens = xgrow(kl->klens, &kl->lcap, kl->n + 1, sizeof(*kl->klens));
    kl->keys[kl->n] = xmemdup(k, klen);
    kl->klens[kl->n] = klen;
    kl->n++;
}

static void keylist_release(struct keylist *kl)
{
    for (size_t i = 0; i < kl->n; i++)
        free(kl->keys[i]);
    free(kl->keys);
    free(kl->klens);
    memset(kl, 0, sizeof(*kl));
}

struct dead_ctx {
    struct stg *s;
    bool (*pred)(void *ctx, const void *v, size_t vlen);
    struct keylist kl;
};

static int collect_dead(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct dead_ctx *c = ctx;

    if (c->pred(c->s, v, vlen))
        keylist_add(&c->kl, k, klen);
    return 0;
}

/*
 * Delete the rendered pages `pred` condemns: found from a snapshot, then
 * deleted in batches, each checked again by `pred` inside its write
 * transaction (a rendering rewritten meanwhile is judged afresh).
 */
static int drop_rendered(struct stg *s, bool (*pred)(void *ctx, const void *v, size_t vlen),
                         uint64_t *dropped)
{
    struct dead_ctx c = {s, pred, {0}};
    uint64_t total = 0;
    int rc;

    rc = stg_foreach(s, STG_DB_RENDERED, NULL, 0, collect_dead, &c);
    for (size_t i = 0; rc == 0 && i < c.kl.n; i += MERGE_BATCH) {
        size_t n = c.kl.n - i < MERGE_BATCH ? c.kl.n - i : MERGE_BATCH;
        uint64_t d = 0;
        rc = stg__del_where(s, STG_DB_RENDERED, c.kl.keys + i, c.kl.klens + i, n, pred, s, &d);
        total += d;
    }
    keylist_release(&c.kl);
    if (dropped != NULL)
        *dropped = total;
    return rc;
}

/* ---- gc ---- */

/* Remove regular files in tmp/ whose last write is older than min_age. */
static uint64_t gc_tmp(struct stg *s, int64_t now, int64_t min_age)
{
    DIR *d = opendir(s->tmp_dir);
    struct dirent *e;
    struct stat st;
    uint64_t n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (now - (int64_t)st.st_mtime < min_age)
            continue; /* a writer may still be at work */
        if (S_ISDIR(st.st_mode)) {
            char *p = xasprintf("%s/%s", s->tmp_dir, e->d_name);
            rmrf(p); /* a crashed import's staging */
            free(p);
            n++;
        } else if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static int lru_cmp(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;

    if (x->last_access != y->last_access)
        return x->last_access < y->last_access ? -1 : 1;
    return strcmp(x->sha, y->sha);
}

int stg_gc(struct stg *s, const struct stg_gc_opts *o, struct stg_gc_result *out)
{
    struct stg_gc_result res;
    struct blob_list bl = {0};
    struct ref_set refs = {0};
    struct ref_set lru = {0};
    struct ref_set victims = {0};
    uint64_t total = 0;
    int64_t now;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(o != NULL);
    memset(&res, 0, sizeof(res));
    if (s->read_only) {
        log_warnx("cannot collect garbage in '%s': store opened read-only", s->data_dir);
        return IMX_EIO;
    }
    now = o->now ? o->now : (int64_t)time(NULL);
    res.tmp_removed = gc_tmp(s, now, o->min_age);

    /* References first, then the walk: a blob committed after the snapshot is young. */
    rc = stg_foreach(s, STG_DB_FILES, NULL, 0, collect_refs, &refs);
    if (rc != 0)
        goto out;
    refs_finish(&refs);
    rc = list_blobs(s, &bl);
    if (rc != 0)
        goto out;

    for (size_t i = 0; i < bl.n; i++) {
        struct blob_ent *b = &bl.v[i];
        struct ref *r = refs_find(&refs, b->sha);
        if (r != NULL) {
            r->present = true;
            r->size = b->size;
            total += b->size;
            continue;
        }
        if (now - b->mtime < o->min_age) {
            total += b->size; /* just committed: its record may be on its way */
            continue;
        }
        if (stg_blob_remove(s, b->sha) == 0) {
            res.unreferenced++;
            res.unreferenced_bytes += b->size;
        }
    }

    if (o->max_bytes > 0 && total > o->max_bytes) {
        uint64_t over = total - o->max_bytes;
        uint64_t freed = 0;

        for (size_t i = 0; i < refs.n; i++) {
            if (refs.v[i].present)
                refs_add(&lru, refs.v[i].sha, refs.v[i].last_access);
            if (refs.v[i].present)
                lru.v[lru.n - 1].size = refs.v[i].size;
        }
        if (lru.n > 1)
            qsort(lru.v, lru.n, sizeof(*lru.v), lru_cmp);
        for (size_t i = 0; i < lru.n && freed < over; i++) {
            refs_add(&victims, lru.v[i].sha, lru.v[i].last_access);
            victims.v[victims.n - 1].size = lru.v[i].size;
            freed += lru.v[i].size;
        }
        refs_finish(&victims);
        /* Records first: from now on no page lists these files as stored. */
        rc = clear_refs(s, &victims);
        if (rc != 0)
            goto out;
        for (size_t i = 0; i < victims.n; i++) {
            if (stg_blob_remove(s, victims.v[i].sha) == 0) {
                res.evicted++;
                res.evicted_bytes += victims.v[i].size;
            }
        }
        total -= freed < total ? freed : total;
    }
    /* After eviction: the generations it moved make more renderings dead. */
    rc = drop_rendered(s, rendered_dead, &res.rendered_dropped);
    if (rc != 0)
        goto out;
    res.blob_bytes = total;
    for (size_t i = 0; i < bl.n; i++)
        res.blobs++;
    res.blobs -= res.unreferenced + res.evicted;
    if (res.unreferenced || res.evicted || res.tmp_removed)
        log_info("gc in '%s': removed %" PRIu64 " unreferenced blob(s) (%" PRIu64
                 " bytes), evicted %" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
                 " temp leftover(s); %" PRIu64 " bytes stored",
                 s->data_dir, res.unreferenced, res.unreferenced_bytes, res.evicted,
                 res.evicted_bytes, res.tmp_removed, res.blob_bytes);
    if (res.rendered_dropped)
        log_debug("gc in '%s': dropped %" PRIu64 " rendered page(s) that can no longer be served",
                  s->data_dir, res.rendered_dropped);
    if (out != NULL)
        *out = res;
out:
    free(bl.v);
    refs_release(&refs);
    refs_release(&lru);
    refs_release(&victims);
    return rc;
}

/* ---- fsck ---- */

struct fsck_ctx {
    struct stg *s;
    void (*report)(void *ctx, const char *line);
    void *rctx;
    struct stg_fsck_result *res;
    struct ref_set *dangling;
    struct keylist bad_rendered;
};

static void fsck_say(struct fsck_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fsck_say(struct fsck_ctx *c, const char *fmt, ...)
{
    struct buf line;
    va_list ap;

    if (c->report == NULL)
        return;
    buf_init(&line, 4096);
    va_start(ap, fmt);
    buf_vprintf(&line, fmt, ap);
    va_end(ap);
    c->report(c->rctx, buf_cstr(&line));
    buf_release(&line);
}

static int fsck_page(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct fsck_ctx *c = ctx;
    struct stg_page p;

    char hex[SHA256_HEX_LEN + 1];

    c->res->records++;
    if (stg_page_decode(v, vlen, &p) != 0) {
        c->res->bad_records++;
        fsck_say(c, "page record '%.*s': does not decode", (int)klen, (const char *)k);
        return 0;
    }
    sha256_hex(p.body != NULL ? p.body : "", p.body_len, hex);
    if (strcmp(hex, p.body_sha256) != 0) {
        c->res->bad_records++;
        fsck_say(c, "page record '%.*s': its body does not hash to its stored sha256",
                 (int)klen, (const char *)k);
    }
    stg_page_release(&p);
    return 0;
}

static int fsck_rendered(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct fsck_ctx *c = ctx;

    c->res->rendered++;
    if (!rendered_undecodable(NULL, v, vlen))
        return 0;
    c->res->bad_rendered++;
    keylist_add(&c->bad_rendered, k, klen);
    fsck_say(c, "rendered page '%.*s': does not decode%s", (int)klen, (const char *)k,
             c->s->read_only ? "" : "; deleted");
    return 0;
}

static void fsck_ref(struct fsck_ctx *c, const void *k, size_t klen, const char *what,
                     const char *sha)
{
    if (sha == NULL)
        return;
    if (!hex_name(sha, SHA256_HEX_LEN)) {
        c->res->dangling++;
        fsck_say(c, "file record '%.*s': %s '%s' is not a sha256", (int)klen, (const char *)k,
                 what, sha);
        return;
    }
    if (stg_blob_exists(c->s, sha))
        return;
    c->res->dangling++;
    refs_add(c->dangling, sha, 0);
    fsck_say(c, "file record '%.*s': %s %s has no blob", (int)klen, (const char *)k, what, sha);
}

static int fsck_file(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct fsck_ctx *c = ctx;
    struct stg_file f;

    c->res->records++;
    if (stg_file_decode(v, vlen, &f) != 0) {
        c->res->bad_records++;
        fsck_say(c, "file record '%.*s': does not decode", (int)klen, (const char *)k);
        return 0;
    }
    fsck_ref(c, k, klen, "sha256", f.sha256);
    fsck_ref(c, k, klen, "metadata sha256", f.metadata_sha256);
    stg_file_release(&f);
    return 0;
}

int stg_fsck(struct stg *s, void (*report)(void *ctx, const char *line), void *rctx,
             struct stg_fsck_result *out)
{
    struct stg_fsck_result res;
    struct blob_list bl = {0};
    struct ref_set dangling = {0};
    struct fsck_ctx c;
    char *qdir = NULL;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    memset(&res, 0, sizeof(res));
    c.s = s;
    c.report = report;
    c.rctx = rctx;
    c.res = &res;
    c.dangling = &dangling;
    memset(&c.bad_rendered, 0, sizeof(c.bad_rendered));
    qdir = xasprintf("%s/quarantine", s->data_dir);

    /* 1. Every blob hashes to its name; a bad one is moved aside. */
    rc = list_blobs(s, &bl);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < bl.n; i++) {
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size = 0;
        char *path = stg_blob_path(s, bl.v[i].sha);
        int hrc = hash_file(path, hex, &size);

        res.blobs++;
        if (hrc == IMX_ENOTFOUND) { /* evicted meanwhile */
            free(path);
            continue;
        }
        if (hrc == 0 && strcmp(hex, bl.v[i].sha) == 0) {
            free(path);
            continue;
        }
        res.bad_blobs++;
        if (s->read_only) {
            fsck_say(&c, "blob %s: %s; not moved (store opened read-only)",
                     bl.v[i].sha, hrc == 0 ? "content does not match its name" : "unreadable");
        } else {
            char *dest = xasprintf("%s/%s", qdir, bl.v[i].sha);
            if (stg__mkdirs(qdir, 0755) == 0 && rename(path, dest) == 0) {
                fsck_say(&c, "blob %s: %s; moved to '%s'", bl.v[i].sha,
                         hrc == 0 ? "content does not match its name" : "unreadable", dest);
            } else {
                fsck_say(&c, "blob %s: %s; cannot move it to '%s': %s", bl.v[i].sha,
                         hrc == 0 ? "content does not match its name" : "unreadable", dest,
                         strerror(errno));
            }
            free(dest);
        }
        free(path);
    }

    /* 2. Records decode; every digest they name has its blob (after step 1). */
    rc = stg_foreach(s, STG_DB_PAGES, NULL, 0, fsck_page, &c);
    if (rc == 0)
        rc = stg_foreach(s, STG_DB_FILES, NULL, 0, fsck_file, &c);
    if (rc == 0)
        rc = stg_foreach(s, STG_DB_RENDERED, NULL, 0, fsck_rendered, &c);
    if (rc != 0)
        goto out;
    /* Derived data: an undecodable rendering is only a cache miss; drop it. */
    for (size_t i = 0; !s->read_only && i < c.bad_rendered.n && rc == 0; i += MERGE_BATCH) {
        size_t n = c.bad_rendered.n - i < MERGE_BATCH ? c.bad_rendered.n - i : MERGE_BATCH;
        rc = stg__del_where(s, STG_DB_RENDERED, c.bad_rendered.keys + i,
                            c.bad_rendered.klens + i, n, rendered_undecodable, NULL, NULL);
    }
    if (rc != 0)
        goto out;

    /* 3. Repair: a record whose blob is gone is fetched again (or, offline, not listed). */
    refs_finish(&dangling);
    if (!s->read_only && dangling.n > 0) {
        rc = clear_refs(s, &dangling);
        if (rc != 0)
            goto out;
        fsck_say(&c, "cleared %zu missing digest(s) from the file table: fetched again on use",
                 dangling.n);
    }
    if (out != NULL)
        *out = res;
out:
    free(bl.v);
    refs_release(&dangling);
    keylist_release(&c.bad_rendered);
    free(qdir);
    return rc;
}

/* ---- ustar ---- */

struct tar_hdr {
    char name[101];
    uint64_t size;
    char type;
};

static void oct(char *field, size_t width, uint64_t v)
{
    /* width-1 octal digits and a NUL */
    field[width - 1] = '\0';
    for (size_t i = width - 1; i > 0; i--) {
        field[i - 1] = (char)('0' + (v & 7));
        v >>= 3;
    }
}

static unsigned hdr_sum(const unsigned char *h)
{
    unsigned sum = 0;

    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (i >= 148 && i < 156) ? (unsigned)' ' : h[i];
    return sum;
}

static void tar_header(unsigned char h[TAR_BLOCK], const char *name, uint64_t size, int64_t mtime)
{
    memset(h, 0, TAR_BLOCK);
    memcpy(h, name, strlen(name)); /* callers keep names under 100 bytes */
    oct((char *)h + 100, 8, 0644);
    oct((char *)h + 108, 8, 0);
    oct((char *)h + 116, 8, 0);
    if (size <= 077777777777ULL) {
        oct((char *)h + 124, 12, size);
    } else { /* GNU base-256 for members of 8 GiB and more */
        h[124] = 0x80;
        for (int i = 11; i > 0; i--) {
            h[124 + i] = (unsigned char)(size & 0xff);
            size >>= 8;
        }
    }
    oct((char *)h + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    oct((char *)h + 148, 7, hdr_sum(h));
    h[155] = ' ';
}

static int parse_oct(const unsigned char *f, size_t width, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    if (f[0] & 0x80) { /* base-256 */
        for (i = 1; i < width; i++) {
            if (v >> 56)
                return IMX_ECORRUPT;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    while (i < width && f[i] == ' ')
        i++;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return IMX_ECORRUPT;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < width; i++) {
        if (f[i] != ' ' && f[i] != '\0')
            return IMX_ECORRUPT;
    }
    *out = v;
    return 0;
}

static bool all_zero(const unsigned char *h)
{
    for (size_t i = 0; i < TAR_BLOCK; i++) {
        if (h[i] != 0)
            return false;
    }
    return true;
}

/*
 * Read the next header. 0 with *h, IMX_ENOTFOUND at the end-of-archive
 * blocks, IMX_ECORRUPT with a reason.
 */
static int tar_next(int fd, struct tar_hdr *h, struct buf *why)
{
    unsigned char b[TAR_BLOCK];
    uint64_t sum = 0;
    int rc;

    rc = read_all(fd, b, sizeof(b));
    if (rc != 0) {
        why_set(why, rc == IMX_ECORRUPT ? "truncated: no end-of-archive marker"
                                        : "cannot read the bundle");
        return rc == IMX_ECORRUPT ? IMX_ECORRUPT : IMX_EIO;
    }
    if (all_zero(b)) {
        rc = read_all(fd, b, sizeof(b));
        if (rc != 0 || !all_zero(b)) {
            why_set(why, "truncated or damaged end-of-archive marker");
            return IMX_ECORRUPT;
        }
        return IMX_ENOTFOUND;
    }
    if (parse_oct(b + 148, 8, &sum) != 0 || sum != hdr_sum(b)) {
        why_set(why, "bad tar header checksum");
        return IMX_ECORRUPT;
    }
    if (memcmp(b + 257, "ustar", 5) != 0) {
        why_set(why, "not a ustar archive");
        return IMX_ECORRUPT;
    }
    if (b[345] != '\0' || memchr(b, '\0', 100) == NULL) {
        why_set(why, "member name too long");
        return IMX_ECORRUPT;
    }
    memcpy(h->name, b, 100);
    h->name[100] = '\0';
    h->type = (char)b[156];
    if (parse_oct(b + 124, 12, &h->size) != 0) {
        why_set(why, "bad member size in '%s'", h->name);
        return IMX_ECORRUPT;
    }
    return 0;
}

/*
 * Copy a member's n bytes (plus padding) from fd into dest_path (created),
 * hashing them. 0 with hex; IMX_ECORRUPT (truncated), IMX_EIO, IMX_ENOSPC.
 */
static int tar_copy_out(int fd, uint64_t n, const char *dest_path, char hex[SHA256_HEX_LEN + 1],
                        struct buf *why)
{
    struct sha256 *h = sha256_new();
    char *chunk = xmalloc(IO_CHUNK);
    uint64_t left = n;
    uint64_t pad = (TAR_BLOCK - n % TAR_BLOCK) % TAR_BLOCK;
    int out = -1;
    int rc = 0;

    out = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        log_warn("cannot create '%s'", dest_path);
        why_set(why, "cannot create '%s': %s", dest_path, strerror(errno));
        rc = errno_rc(errno);
        goto out;
    }
    while (left > 0) {
        size_t k = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
        rc = read_all(fd, chunk, k);
        if (rc != 0) {
            why_set(why, "truncated inside a member");
            goto out;
        }
        sha256_update(h, chunk, k);
        rc = write_all(out, chunk, k, dest_path);
        if (rc != 0) {
            why_set(why, "cannot write '%s'", dest_path);
            goto out;
        }
        left -= k;
    }
    if (pad > 0) {
        rc = read_all(fd, chunk, (size_t)pad);
        if (rc != 0) {
            why_set(why, "truncated inside a member");
            goto out;
        }
    }
    if (fsync(out) != 0) {
        rc = errno_rc(errno);
        why_set(why, "cannot fsync '%s'", dest_path);
        goto out;
    }
    sha256_final_hex(h, hex);
out:
    if (out >= 0)
        close(out);
    sha256_free(h);
    free(chunk);
    return rc;
}

/* Append a member from an open fd of known size, hashing it; the hash must equal want. */
static int tar_put_fd(int out, const char *out_path, const char *name, int in, uint64_t size,
                      const char *want, struct buf *why)
{
    unsigned char hdr[TAR_BLOCK];
    static const char zeros[TAR_BLOCK];
    struct sha256 *h = sha256_new();
    char *chunk = xmalloc(IO_CHUNK);
    char hex[SHA256_HEX_LEN + 1];
    uint64_t left = size;
    uint64_t pos = 0;
    int rc;

    tar_header(hdr, name, size, (int64_t)time(NULL));
    rc = write_all(out, hdr, sizeof(hdr), out_path);
    while (rc == 0 && left > 0) {
        size_t k = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
        ssize_t got = pread(in, chunk, k, (off_t)pos);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            why_set(why, "'%s' changed size while it was exported", name);
            rc = IMX_EIO;
            break;
        }
        sha256_update(h, chunk, (size_t)got);
        rc = write_all(out, chunk, (size_t)got, out_path);
        left -= (uint64_t)got;
        pos += (uint64_t)got;
    }
    if (rc == 0 && size % TAR_BLOCK)
        rc = write_all(out, zeros, TAR_BLOCK - size % TAR_BLOCK, out_path);
    if (rc == 0 && want != NULL) {
        sha256_final_hex(h, hex);
        if (strcmp(hex, want) != 0) {
            why_set(why, "stored blob %s is damaged (run 'indexmux fsck')", want);
            rc = IMX_EHASH;
        }
    }
    if (rc != 0 && why != NULL && why->len == 0)
        why_set(why, "cannot write '%s'", out_path);
    sha256_free(h);
    free(chunk);
    return rc;
}

static int tar_put_mem(int out, const char *out_path, const char *name, const void *p,
                       size_t n)
{
    unsigned char hdr[TAR_BLOCK];
    static const char zeros[TAR_BLOCK];
    int rc;

    tar_header(hdr, name, n, (int64_t)time(NULL));
    rc = write_all(out, hdr, sizeof(hdr), out_path);
    if (rc == 0 && n > 0)
        rc = write_all(out, p, n, out_path);
    if (rc == 0 && n % TAR_BLOCK)
        rc = write_all(out, zeros, TAR_BLOCK - n % TAR_BLOCK, out_path);
    return rc;
}

/* ---- export ---- */

struct filter_ctx {
    const struct stg_export_opts *o;
    struct stg *dst;
    char **drop;
    size_t ndrop, cap;
    bool pages;
};

static bool index_wanted(const struct stg_export_opts *o, const char *name, size_t len)
{
    for (size_t i = 0; i < o->nindexes; i++) {
        if (strlen(o->indexes[i]) == len && memcmp(o->indexes[i], name, len) == 0)
            return true;
    }
    return false;
}

static int filter_collect(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct filter_ctx *c = ctx;
    bool keep;

    if (c->pages) {
        const char *nl = memchr(k, '\n', klen);
        keep = index_wanted(c->o, k, nl ? (size_t)(nl - (const char *)k) : klen);
    } else {
        struct stg_file f;
        keep = false;
        if (stg_file_decode(v, vlen, &f) == 0) {
            keep = f.index != NULL && index_wanted(c->o, f.index, strlen(f.index));
            stg_file_release(&f);
        }
    }
    if (!keep) {
        c->drop = xgrow(c->drop, &c->cap, c->ndrop + 1, sizeof(*c->drop));
        c->drop[c->ndrop++] = xstrndup(k, klen); /* keys hold no NUL */
    }
    return 0;
}

/* Delete from the staged copy every record of an index not asked for. */
static int filter_copy(struct stg *dst, const struct stg_export_opts *o)
{
    struct filter_ctx c = {o, NULL, NULL, 0, 0, false};
    int rc = 0;

    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        enum stg_db db = pass == 0 ? STG_DB_PAGES : STG_DB_FILES;
        c.pages = pass == 0;
        c.ndrop = 0;
        rc = stg_foreach(dst, db, NULL, 0, filter_collect, &c);
        for (size_t i = 0; i < c.ndrop; i++) {
            if (rc == 0)
                rc = stg_del(dst, db, c.drop[i], strlen(c.drop[i]));
            free(c.drop[i]);
        }
    }
    free(c.drop);
    return rc;
}

/*
 * Make the staged copy (stage/index.lmdb) what a bundle carries: the
 * records of the indexes asked for (all when none) and no rendered pages.
 * When anything was removed, the copy is compacted again into stage/pruned
 * so the bundle does not carry the freed pages. *root (caller frees) gets
 * the data directory whose index.lmdb/data.mdb goes into the bundle.
 */
static int prune_copy(const char *stage, const struct stg_export_opts *o, char **root)
{
    struct stg_opts so = {.data_dir = stage};
    struct stg *dst = NULL;
    struct stg_stats st;
    char *pruned = NULL;
    char *pruned_lmdb = NULL;
    bool changed = false;
    int rc;

    rc = stg_open(&so, &dst);
    if (rc != 0)
        goto out;
    if (o->nindexes > 0) {
        rc = filter_copy(dst, o);
        changed = true;
    }
    if (rc == 0)
        rc = stg_stat(dst, &st);
    if (rc == 0 && st.rendered > 0) {
        rc = stg__drop(dst, STG_DB_RENDERED);
        changed = true;
    }
    if (rc != 0)
        goto out;
    if (changed) {
        pruned = xasprintf("%s/pruned", stage);
        pruned_lmdb = xasprintf("%s/index.lmdb", pruned);
        rc = stg_copy_compact(dst, pruned_lmdb);
        if (rc != 0)
            goto out;
    }
    *root = pruned != NULL ? pruned : xstrdup(stage);
    pruned = NULL;
out:
    stg_close(dst);
    free(pruned);
    free(pruned_lmdb);
    return rc;
}

int stg_export(struct stg *s, const struct stg_export_opts *o, struct stg_bundle_stats *out,
               struct buf *why)
{
    struct stg_bundle_stats st;
    struct stg_opts so = {0};
    struct stg *copy = NULL;
    struct ref_set refs = {0};
    struct stg_stats cs;
    struct buf man;
    char *stage = NULL, *lmdb_dir = NULL, *lmdb_file = NULL, *part = NULL, *dir = NULL;
    char *root = NULL;
    char lmdb_hex[SHA256_HEX_LEN + 1];
    uint64_t lmdb_size = 0;
    static const char zeros[2 * TAR_BLOCK];
    int ofd = -1, lfd = -1;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(o != NULL && o->out_path != NULL);
    memset(&st, 0, sizeof(st));
    buf_init(&man, STG_BUNDLE_MAX_MANIFEST);

    /* Stage the LMDB copy beside the output (the store may be read-only). */
    {
        const char *slash = strrchr(o->out_path, '/');
        dir = slash ? xstrndup(o->out_path, (size_t)(slash - o->out_path)) : xstrdup(".");
        if (dir[0] == '\0') {
            free(dir);
            dir = xstrdup("/");
        }
    }
    stage = xasprintf("%s/.indexmux-export-XXXXXX", dir);
    if (mkdtemp(stage) == NULL) {
        why_set(why, "cannot create a directory in '%s': %s", dir, strerror(errno));
        free(stage);
        stage = NULL;
        rc = errno_rc(errno);
        goto out;
    }
    lmdb_dir = xasprintf("%s/index.lmdb", stage);
    lmdb_file = xasprintf("%s/data.mdb", lmdb_dir);
    rc = stg_copy_compact(s, lmdb_dir);
    if (rc != 0) {
        why_set(why, "cannot copy the metadata store: %s", imx_strerror(rc));
        goto out;
    }
    rc = prune_copy(stage, o, &root);
    if (rc != 0) {
        why_set(why, "cannot filter the metadata copy: %s", imx_strerror(rc));
        goto out;
    }
    free(lmdb_file);
    lmdb_file = xasprintf("%s/index.lmdb/data.mdb", root);
    /* The copy's references are what the bundle must carry. */
    so.data_dir = root;
    so.read_only = true;
    rc = stg_open(&so, &copy);
    if (rc == 0)
        rc = stg_foreach(copy, STG_DB_FILES, NULL, 0, collect_refs, &refs);
    if (rc == 0)
        rc = stg_stat(copy, &cs);
    stg_close(copy);
    copy = NULL;
    if (rc != 0) {
        why_set(why, "cannot read the metadata copy: %s", imx_strerror(rc));
        goto out;
    }
    st.pages = cs.pages;
    st.files = cs.files;
    refs_finish(&refs);
    rc = hash_file(lmdb_file, lmdb_hex, &lmdb_size);
    if (rc != 0) {
        why_set(why, "cannot read '%s'", lmdb_file);
        goto out;
    }

    part = xasprintf("%s.part", o->out_path);
    ofd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (ofd < 0) {
        why_set(why, "cannot create '%s': %s", part, strerror(errno));
        rc = errno_rc(errno);
        goto out;
    }
    lfd = open(lmdb_file, O_RDONLY | O_CLOEXEC);
    if (lfd < 0) {
        why_set(why, "cannot open '%s': %s", lmdb_file, strerror(errno));
        rc = IMX_EIO;
        goto out;
    }
    rc = tar_put_fd(ofd, part, "index.lmdb/data.mdb", lfd, lmdb_size, lmdb_hex, why);
    if (rc != 0)
        goto out;
    rc = buf_printf(&man, "%s\nlmdb %s %" PRIu64 "\n", MANIFEST_MAGIC, lmdb_hex, lmdb_size);
    for (size_t i = 0; rc == 0 && i < refs.n; i++) {
        char name[80];
        uint64_t size = 0;
        int bfd = -1;
        int orc = stg_blob_open(s, refs.v[i].sha, &bfd, &size);

        if (orc == IMX_ENOTFOUND) {
            st.skipped_blobs++; /* evicted, or never stored: import clears the record */
            continue;
        }
        if (orc != 0) {
            why_set(why, "cannot open blob %s: %s", refs.v[i].sha, imx_strerror(orc));
            rc = orc;
            break;
        }
        if (size > STG_BUNDLE_MAX_BLOB) {
            close(bfd);
            st.skipped_blobs++;
            log_warnx("blob %s is larger than a bundle takes; left out", refs.v[i].sha);
            continue;
        }
        snprintf(name, sizeof(name), "blobs/%s", refs.v[i].sha);
        rc = tar_put_fd(ofd, part, name, bfd, size, refs.v[i].sha, why);
        close(bfd);
        if (rc == 0)
            rc = buf_printf(&man, "%s %" PRIu64 "\n", refs.v[i].sha, size);
        if (rc == IMX_ETOOLARGE)
            why_set(why, "manifest larger than %u bytes", (unsigned)STG_BUNDLE_MAX_MANIFEST);
        st.blobs++;
        st.blob_bytes += size;
    }
    if (rc != 0)
        goto out;
    rc = tar_put_mem(ofd, part, "manifest", man.p, man.len);
    if (rc == 0)
        rc = write_all(ofd, zeros, sizeof(zeros), part);
    if (rc == 0 && fsync(ofd) != 0)
        rc = errno_rc(errno);
    if (rc != 0) {
        why_set(why, "cannot write '%s'", part);
        goto out;
    }
    close(ofd);
    ofd = -1;
    if (rename(part, o->out_path) != 0) {
        why_set(why, "cannot rename '%s' to '%s': %s", part, o->out_path, strerror(errno));
        rc = IMX_EIO;
        goto out;
    }
    free(part);
    part = NULL;
    if (out != NULL)
        *out = st;
out:
    if (ofd >= 0)
        close(ofd);
    if (lfd >= 0)
        close(lfd);
    if (part != NULL)
        unlink(part);
    rmrf(stage);
    free(stage);
    free(root);
    free(lmdb_dir);
    free(lmdb_file);
    free(dir);
    free(part);
    refs_release(&refs);
    buf_release(&man);
    return rc;
}

/* ---- import ---- */

struct man_ent {
    char sha[SHA256_HEX_LEN + 1];
    uint64_t size;
};

struct manifest {
    char lmdb_sha[SHA256_HEX_LEN + 1];
    uint64_t lmdb_size;
    bool has_lmdb;
    struct man_ent *v;
    size_t n, cap;
};

static int man_cmp(const void *a, const void *b)
{
    return strcmp(((const struct man_ent *)a)->sha, ((const struct man_ent *)b)->sha);
}

/* Parse "<sha256> <size>" into sha/size; false when malformed. */
static bool parse_sha_size(struct str line, char sha[SHA256_HEX_LEN + 1], uint64_t *size,
                           uint64_t max)
{
    ptrdiff_t sp = str_index(line, ' ');

    if (sp != SHA256_HEX_LEN || !sha256_is_hex(line.p, SHA256_HEX_LEN))
        return false;
    if (str_to_u64(str_sub(line, (size_t)sp + 1, line.len), max, size) != 0)
        return false;
    memcpy(sha, line.p, SHA256_HEX_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    return true;
}

static int manifest_parse(const char *p, size_t len, struct manifest *m, struct buf *why)
{
    struct str_cursor cur = str_cursor(str_make(p, len));
    unsigned lineno = 0;

    while (!str_cur_eof(&cur)) {
        struct str line = str_cur_until(&cur, '\n');
        lineno++;
        if (!str_cur_eof(&cur))
            cur.p++; /* the '\n' */
        if (line.len > STG_BUNDLE_MAX_MANIFEST_LINE) {
            why_set(why, "manifest line %u is too long", lineno);
            return IMX_ECORRUPT;
        }
        if (lineno == 1) {
            if (!str_eq_cstr(line, MANIFEST_MAGIC)) {
                why_set(why, "manifest is not an indexmux bundle manifest (version 1)");
                return IMX_ECORRUPT;
            }
            continue;
        }
        if (line.len == 0)
            continue;
        if (str_starts_with(line, STR_LIT("lmdb "))) {
            if (m->has_lmdb ||
                !parse_sha_size(str_sub(line, 5, line.len), m->lmdb_sha, &m->lmdb_size,
                                STG_BUNDLE_MAX_LMDB)) {
                why_set(why, "manifest line %u is malformed", lineno);
                return IMX_ECORRUPT;
            }
            m->has_lmdb = true;
            continue;
        }
        m->v = xgrow(m->v, &m->cap, m->n + 1, sizeof(*m->v));
        if (!parse_sha_size(line, m->v[m->n].sha, &m->v[m->n].size, STG_BUNDLE_MAX_BLOB)) {
            why_set(why, "manifest line %u is malformed", lineno);
            return IMX_ECORRUPT;
        }
        m->n++;
    }
    if (lineno == 0 || !m->has_lmdb) {
        why_set(why, "manifest names no metadata copy");
        return IMX_ECORRUPT;
    }
    if (m->n > 1)
        qsort(m->v, m->n, sizeof(*m->v), man_cmp);
    for (size_t i = 1; i < m->n; i++) {
        if (strcmp(m->v[i].sha, m->v[i - 1].sha) == 0) {
            why_set(why, "manifest lists blob %s twice", m->v[i].sha);
            return IMX_ECORRUPT;
        }
    }
    return 0;
}

/* A staged member: what the tar said it is and what it hashed to. */
struct staged {
    char sha[SHA256_HEX_LEN + 1];
    uint64_t size;
};

struct stage_state {
    char *dir;          /* data_dir/tmp/import-XXXXXX */
    char *blob_dir;     /* dir/b */
    struct staged *blobs;
    size_t n, cap;
    bool has_lmdb;
    char lmdb_sha[SHA256_HEX_LEN + 1];
    uint64_t lmdb_size;
    bool has_manifest;
    struct manifest man;
};

static void stage_release(struct stage_state *ss)
{
    rmrf(ss->dir);
    free(ss->dir);
    free(ss->blob_dir);
    free(ss->blobs);
    free(ss->man.v);
    memset(ss, 0, sizeof(*ss));
}

/* Phase 1: copy every member into staging, verifying what can be verified alone. */
static int stage_bundle(int fd, struct stage_state *ss, struct buf *why)
{
    struct tar_hdr h;
    size_t members = 0;
    int rc;

    for (;;) {
        rc = tar_next(fd, &h, why);
        if (rc == IMX_ENOTFOUND)
            break;
        if (rc != 0)
            return rc;
        if (++members > STG_BUNDLE_MAX_MEMBERS) {
            why_set(why, "more than %u members", (unsigned)STG_BUNDLE_MAX_MEMBERS);
            return IMX_ECORRUPT;
        }
        if (h.type != '0' && h.type != '\0') {
            why_set(why, "member '%s' is not a regular file", h.name);
            return IMX_ECORRUPT;
        }
        if (strcmp(h.name, "manifest") == 0) {
            char *text;
            if (ss->has_manifest) {
                why_set(why, "two manifests");
                return IMX_ECORRUPT;
            }
            if (h.size > STG_BUNDLE_MAX_MANIFEST) {
                why_set(why, "manifest larger than %u bytes", (unsigned)STG_BUNDLE_MAX_MANIFEST);
                return IMX_ECORRUPT;
            }
            text = xmalloc((size_t)h.size + TAR_BLOCK);
            rc = read_all(fd, text, (size_t)((h.size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK));
            if (rc == 0)
                rc = manifest_parse(text, (size_t)h.size, &ss->man, why);
            else
                why_set(why, "truncated inside the manifest");
            free(text);
            if (rc != 0)
                return rc == IMX_EIO ? IMX_EIO : IMX_ECORRUPT;
            ss->has_manifest = true;
        } else if (strcmp(h.name, "index.lmdb/data.mdb") == 0) {
            char *d, *p;
            if (ss->has_lmdb) {
                why_set(why, "two metadata copies");
                return IMX_ECORRUPT;
            }
            if (h.size > STG_BUNDLE_MAX_LMDB) {
                why_set(why, "metadata copy larger than the limit");
                return IMX_ECORRUPT;
            }
            d = xasprintf("%s/index.lmdb", ss->dir);
            p = xasprintf("%s/data.mdb", d);
            rc = stg__mkdirs(d, 0755);
            if (rc == 0)
                rc = tar_copy_out(fd, h.size, p, ss->lmdb_sha, why);
            free(d);
            free(p);
            if (rc != 0)
                return rc;
            ss->has_lmdb = true;
            ss->lmdb_size = h.size;
        } else if (strncmp(h.name, "blobs/", 6) == 0 && hex_name(h.name + 6, SHA256_HEX_LEN)) {
            const char *name = h.name + 6;
            char hex[SHA256_HEX_LEN + 1];
            char *p;
            if (h.size > STG_BUNDLE_MAX_BLOB) {
                why_set(why, "blob %s larger than the limit", name);
                return IMX_ECORRUPT;
            }
            p = xasprintf("%s/%s", ss->blob_dir, name);
            rc = tar_copy_out(fd, h.size, p, hex, why);
            free(p);
            if (rc == IMX_EIO && why != NULL && why->len == 0)
                why_set(why, "cannot stage blob %s", name);
            if (rc != 0) {
                /* O_EXCL on the staged name also catches a blob listed twice */
                return rc;
            }
            if (strcmp(hex, name) != 0) {
                why_set(why, "blob %s: content hashes to %s", name, hex);
                return IMX_ECORRUPT;
            }
            ss->blobs = xgrow(ss->blobs, &ss->cap, ss->n + 1, sizeof(*ss->blobs));
            memcpy(ss->blobs[ss->n].sha, name, SHA256_HEX_LEN + 1);
            ss->blobs[ss->n].size = h.size;
            ss->n++;
        } else {
            why_set(why, "unexpected member '%s'", h.name);
            return IMX_ECORRUPT;
        }
    }
    return 0;
}

/* Phase 1b: the manifest and the members agree exactly. */
static int stage_check_manifest(struct stage_state *ss, struct buf *why)
{
    if (!ss->has_manifest) {
        why_set(why, "missing manifest");
        return IMX_ECORRUPT;
    }
    if (!ss->has_lmdb) {
        why_set(why, "missing metadata copy (index.lmdb/data.mdb)");
        return IMX_ECORRUPT;
    }
    if (strcmp(ss->lmdb_sha, ss->man.lmdb_sha) != 0 || ss->lmdb_size != ss->man.lmdb_size) {
        why_set(why, "metadata copy does not match the manifest");
        return IMX_ECORRUPT;
    }
    if (ss->n != ss->man.n) {
        why_set(why, "manifest lists %zu blob(s), the bundle holds %zu", ss->man.n, ss->n);
        return IMX_ECORRUPT;
    }
    for (size_t i = 0; i < ss->n; i++) {
        struct man_ent key;
        struct man_ent *e;
        memcpy(key.sha, ss->blobs[i].sha, sizeof(key.sha));
        e = ss->man.n ? bsearch(&key, ss->man.v, ss->man.n, sizeof(key), man_cmp) : NULL;
        if (e == NULL || e->size != ss->blobs[i].size) {
            why_set(why, "blob %s does not match the manifest", ss->blobs[i].sha);
            return IMX_ECORRUPT;
        }
    }
    return 0;
}

struct check_ctx {
    bool pages;
    size_t bad;
    char first_bad[128];
};

static int check_record(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct check_ctx *c = ctx;
    int rc;

    if (c->pages) {
        struct stg_page p;
        rc = stg_page_decode(v, vlen, &p);
        if (rc == 0) {
            /* The stored hash stands for the body in renderings' stamps: it must be its own. */
            char hex[SHA256_HEX_LEN + 1];
            sha256_hex(p.body != NULL ? p.body : "", p.body_len, hex);
            if (strcmp(hex, p.body_sha256) != 0)
                rc = IMX_ECORRUPT;
            stg_page_release(&p);
        }
    } else {
        struct stg_file f;
        rc = stg_file_decode(v, vlen, &f);
        if (rc == 0)
            stg_file_release(&f);
    }
    if (rc != 0 && c->bad++ == 0) {
        snprintf(c->first_bad, sizeof(c->first_bad), "%.*s", klen > 100 ? 100 : (int)klen,
                 (const char *)k);
        for (char *nl = strchr(c->first_bad, '\n'); nl; nl = strchr(nl, '\n'))
            *nl = ' '; /* page keys are "<index>\n<project>": the reason stays one line */
    }
    return 0;
}

/* Commit one staged blob through the verifying writer. */
static int commit_blob(struct stg *s, const char *staged_path, const char *sha, struct buf *why)
{
    struct stg_blob_writer *w = NULL;
    char got[SHA256_HEX_LEN + 1];
    char *chunk = NULL;
    int fd = -1;
    int rc;

    fd = open(staged_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why_set(why, "cannot open '%s': %s", staged_path, strerror(errno));
        return IMX_EIO;
    }
    rc = stg_blob_begin(s, &w);
    chunk = xmalloc(IO_CHUNK);
    while (rc == 0) {
        ssize_t k = read(fd, chunk, IO_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = IMX_EIO;
            break;
        }
        if (k == 0)
            break;
        rc = stg_blob_write(w, chunk, (size_t)k);
    }
    if (rc == 0) {
        rc = stg_blob_commit(w, sha, got);
        w = NULL;
    }
    stg_blob_abort(w);
    if (rc != 0)
        why_set(why, "cannot store blob %s: %s", sha, imx_strerror(rc));
    free(chunk);
    close(fd);
    return rc;
}

/* Phase 3: merge records in batches of MERGE_BATCH through stg__put_many. */
struct rec {
    char *key;
    size_t klen;
    char *val;
    size_t vlen;
};

struct merge_ctx {
    struct stg *dst;
    enum stg_db db;
    struct rec *v;
    size_t n, cap;
    uint64_t merged;
    int err;
};

static int merge_key(void *ctx, size_t i, const void **k, size_t *klen)
{
    struct merge_ctx *m = ctx;

    *k = m->v[i].key;
    *klen = m->v[i].klen;
    return 0;
}

static int merge_page(struct merge_ctx *m, const struct rec *r, const void *v, size_t vlen,
                      struct buf *out)
{
    struct stg_page mine, theirs;
    bool take;

    if (v == NULL || stg_page_decode(v, vlen, &mine) != 0) {
        m->merged++;
        return buf_append(out, r->val, r->vlen);
    }
    if (stg_page_decode(r->val, r->vlen, &theirs) != 0) {
        stg_page_release(&mine);
        return buf_append(out, v, vlen);
    }
    take = theirs.fetched_at > mine.fetched_at;
    stg_page_release(&mine);
    stg_page_release(&theirs);
    if (take)
        m->merged++;
    return take ? buf_append(out, r->val, r->vlen) : buf_append(out, v, vlen);
}

static void keep_if_stored(struct stg *s, char **sha)
{
    if (*sha != NULL && !stg_blob_exists(s, *sha)) {
        free(*sha);
        *sha = NULL;
    }
}

static int merge_file(struct merge_ctx *m, const struct rec *r, const void *v, size_t vlen,
                      struct buf *out)
{
    struct stg_file mine, theirs;
    bool have_mine;
    int rc;

    rc = stg_file_decode(r->val, r->vlen, &theirs);
    if (rc != 0)
        return rc; /* checked before the commit: cannot happen */
    keep_if_stored(m->dst, &theirs.sha256);
    keep_if_stored(m->dst, &theirs.metadata_sha256);
    have_mine = v != NULL && stg_file_decode(v, vlen, &mine) == 0;
    if (!have_mine) {
        m->merged++;
        rc = stg__file_encode(&theirs, out);
        stg_file_release(&theirs);
        return rc;
    }
    /* Keep what the store knows; learn the digests it lacks. */
    keep_if_stored(m->dst, &mine.sha256);
    keep_if_stored(m->dst, &mine.metadata_sha256);
    if (mine.sha256 == NULL && theirs.sha256 != NULL) {
        mine.sha256 = theirs.sha256;
        theirs.sha256 = NULL;
        mine.size = theirs.size;
        m->merged++;
    }
    if (mine.metadata_sha256 == NULL && theirs.metadata_sha256 != NULL) {
        mine.metadata_sha256 = theirs.metadata_sha256;
        theirs.metadata_sha256 = NULL;
    }
    if (theirs.last_access > mine.last_access)
        mine.last_access = theirs.last_access;
    {
        /* The same rule as a page registering it again (stg_file_put_many). */
        char *project = NULL;
        const char *keep = stg__file_project_merge(mine.project, theirs.project);
        if (keep != NULL)
            project = xstrdup(keep);
        free(mine.project);
        mine.project = project;
    }
    rc = stg__file_encode(&mine, out);
    stg_file_release(&mine);
    stg_file_release(&theirs);
    return rc;
}

static int merge_val(void *ctx, size_t i, const void *v, size_t vlen, struct buf *out)
{
    struct merge_ctx *m = ctx;

    if (m->db == STG_DB_PAGES)
        return merge_page(m, &m->v[i], v, vlen, out);
    return merge_file(m, &m->v[i], v, vlen, out);
}

static int merge_flush(struct merge_ctx *m)
{
    int rc = 0;

    if (m->n > 0)
        rc = stg__put_many(m->dst, m->db, m->n, merge_key, merge_val, m);
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].key);
        free(m->v[i].val);
    }
    m->n = 0;
    return rc;
}

static int merge_collect(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct merge_ctx *m = ctx;
    struct rec *r;

    m->v = xgrow(m->v, &m->cap, m->n + 1, sizeof(*m->v));
    r = &m->v[m->n++];
    r->key = xmemdup(k, klen);
    r->klen = klen;
    r->val = xmemdup(vlen ? v : "", vlen);
    r->vlen = vlen;
    if (m->n >= MERGE_BATCH) {
        m->err = merge_flush(m);
        if (m->err != 0)
            return m->err;
    }
    return 0;
}

int stg_import(struct stg *s, const char *bundle_path, struct stg_bundle_stats *out,
               struct buf *why)
{
    struct stg_bundle_stats st;
    struct stage_state ss;
    struct stg_opts so = {0};
    struct stg *bundle = NULL;
    struct check_ctx cc;
    struct merge_ctx m;
    int fd = -1;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(bundle_path != NULL);
    memset(&st, 0, sizeof(st));
    memset(&ss, 0, sizeof(ss));
    memset(&m, 0, sizeof(m));
    if (s->read_only) {
        why_set(why, "store opened read-only");
        return IMX_EIO;
    }
    fd = open(bundle_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why_set(why, "cannot open '%s': %s", bundle_path, strerror(errno));
        return errno == ENOENT ? IMX_ENOTFOUND : IMX_EIO;
    }

    /* Phase 1: stage and verify in tmp/ (same filesystem as blobs/). */
    ss.dir = xasprintf("%s/import-XXXXXX", s->tmp_dir);
    if (mkdtemp(ss.dir) == NULL) {
        why_set(why, "cannot create a directory in '%s': %s", s->tmp_dir, strerror(errno));
        free(ss.dir);
        ss.dir = NULL;
        rc = errno_rc(errno);
        goto out;
    }
    ss.blob_dir = xasprintf("%s/b", ss.dir);
    rc = stg__mkdirs(ss.blob_dir, 0755);
    if (rc == 0)
        rc = stage_bundle(fd, &ss, why);
    if (rc == 0)
        rc = stage_check_manifest(&ss, why);
    if (rc != 0)
        goto out;

    /* Phase 2: the metadata copy opens and every record decodes. */
    so.data_dir = ss.dir;
    so.read_only = true;
    rc = stg_open(&so, &bundle);
    if (rc != 0) {
        why_set(why, "metadata copy does not open: %s", imx_strerror(rc));
        rc = IMX_ECORRUPT;
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        memset(&cc, 0, sizeof(cc));
        cc.pages = pass == 0;
        rc = stg_foreach(bundle, pass == 0 ? STG_DB_PAGES : STG_DB_FILES, NULL, 0, check_record,
                         &cc);
        if (rc == 0 && cc.bad > 0) {
            why_set(why, "%zu %s record(s) do not decode (first: '%s')", cc.bad,
                    cc.pages ? "page" : "file", cc.first_bad);
            rc = IMX_ECORRUPT;
        }
        if (rc != 0)
            goto out;
    }

    /* Phase 3: commit blobs (verified again by the writer), then records. */
    for (size_t i = 0; i < ss.n; i++) {
        char *p;
        if (stg_blob_exists(s, ss.blobs[i].sha))
            continue;
        p = xasprintf("%s/%s", ss.blob_dir, ss.blobs[i].sha);
        rc = commit_blob(s, p, ss.blobs[i].sha, why);
        unlink(p); /* staging space back as we go */
        free(p);
        if (rc != 0)
            goto out;
        st.blobs++;
        st.blob_bytes += ss.blobs[i].size;
    }
    m.dst = s;
    for (int pass = 0; pass < 2; pass++) {
        m.db = pass == 0 ? STG_DB_PAGES : STG_DB_FILES;
        m.merged = 0;
        rc = stg_foreach(bundle, m.db, NULL, 0, merge_collect, &m);
        if (rc == 0)
            rc = merge_flush(&m);
        else
            merge_flush(&m);
        if (rc != 0) {
            why_set(why, "cannot merge records: %s", imx_strerror(rc));
            goto out;
        }
        if (pass == 0)
            st.pages = m.merged;
        else
            st.files = m.merged;
    }
    if (out != NULL)
        *out = st;
out:
    for (size_t i = 0; i < m.n; i++) {
        free(m.v[i].key);
        free(m.v[i].val);
    }
    free(m.v);
    stg_close(bundle);
    if (fd >= 0)
        close(fd);
    stage_release(&ss);
    return rc;
}
