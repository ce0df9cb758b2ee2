/*
 * codec.c - the typed records of storage.h (pages, files, rendered pages):
 * their binary encoding and the get/put/touch functions built on meta.c.
 *
 * Encoding (all integers little-endian):
 *   u8  version
 *   page V1: u8 state, i64 fetched_at, str etag, str last_modified, str url, str body
 *   page V2: the V1 fields, then str body_sha256 (64 lowercase hex digits)
 *   file V1: str key, str index, str url, str filename, str expected_sha256,
 *            str sha256, i64 size, i64 last_access, str metadata_sha256,
 *            str metadata_expected_sha256
 *   file V2: the V1 fields, then str project (NULL: unknown)
 *   rendered V1: see storage.h ("rendered pages")
 *   rendered V2: V1 with str project after u64 files_gen
 *   str = u32 length then the bytes; length 0xffffffff means NULL.
 * A record must be consumed exactly. Strings other than bodies must not
 * contain NUL (they become C strings). Anything else is IMX_ECORRUPT:
 * decoders read stored bytes defensively, never trusting a length.
 *
 * Pages are written as V2 (the body's sha256 stored once, at write time, so
 * that stg_page_head and the resolver's stamps need not hash 1.7 MB again);
 * V1 pages are still decoded, their body hashed on read. Files are written as
 * V2 (the project whose page lists the file, which picks the files
 * generation a change of the record moves); V1 files, written before schema
 * 3, decode with project NULL ("unknown": a change moves every project's
 * generation). To change a layout, add a version and keep decoding the
 * older ones.
 */
#include "compat.h"

#include <strings.h>

#include "err.h"
#include "log.h"
#include "sha256.h"
#include "storage.h"
#include "storage_int.h"
#include "xalloc.h"

#define STG_CODEC_V1 1
#define STG_CODEC_V2 2
#define STG_RENDERED_V1 1
#define STG_RENDERED_V2 2
#define STR_NULL_LEN 0xffffffffu

/* ---- writer ---- */

static int put_u8(struct buf *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}

static int put_u64(struct buf *b, uint64_t v)
{
    uint8_t le[8];

    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    return buf_append(b, le, sizeof(le));
}

static int put_bytes(struct buf *b, const void *p, size_t n)
{
    uint8_t le[4];
    uint32_t len;
    int rc;

    if (p == NULL) {
        len = STR_NULL_LEN;
        n = 0;
    } else if (n >= STR_NULL_LEN) {
        return IMX_ETOOLARGE;
    } else {
        len = (uint32_t)n;
    }
    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(len >> (8 * i));
    rc = buf_append(b, le, sizeof(le));
    if (rc == 0 && n > 0)
        rc = buf_append(b, p, n);
    return rc;
}

static int put_str(struct buf *b, const char *s)
{
    return put_bytes(b, s, s != NULL ? strlen(s) : 0);
}

/* ---- reader ---- */

struct rd {
    const uint8_t *p;
    const uint8_t *end;
};

static int get_u8(struct rd *r, uint8_t *v)
{
    if (r->end - r->p < 1)
        return IMX_ECORRUPT;
    *v = *r->p++;
    return 0;
}

static int get_i64(struct rd *r, int64_t *v)
{
    uint64_t u = 0;

    if (r->end - r->p < 8)
        return IMX_ECORRUPT;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    *v = (int64_t)u;
    return 0;
}

/*
 * Read a str into fresh memory (*out NULL for a NULL str). With text, an
 * embedded NUL is corruption. *len gets the length when not NULL.
 */
static int get_bytes(struct rd *r, bool text, char **out, size_t *len)
{
    uint32_t n = 0;

    if (r->end - r->p < 4)
        return IMX_ECORRUPT;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    if (n == STR_NULL_LEN) {
        *out = NULL;
        if (len != NULL)
            *len = 0;
        return 0;
    }
    if ((size_t)(r->end - r->p) < n)
        return IMX_ECORRUPT;
    if (text && memchr(r->p, '\0', n) != NULL)
        return IMX_ECORRUPT;
    *out = xstrndup((const char *)r->p, n);
    if (len != NULL)
        *len = n;
    r->p += n;
    return 0;
}

static int get_str(struct rd *r, char **out)
{
    return get_bytes(r, true, out, NULL);
}

static int get_u32(struct rd *r, uint32_t *v)
{
    uint32_t n = 0;

    if (r->end - r->p < 4)
        return IMX_ECORRUPT;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    *v = n;
    return 0;
}

/*
 * A str as a slice of the record, no copy: *out NULL for a NULL str (then
 * *len 0). With text, an embedded NUL is corruption.
 */
static int get_slice(struct rd *r, bool text, const char **out, size_t *len)
{
    uint32_t n = 0;
    int rc = get_u32(r, &n);

    if (rc != 0)
        return rc;
    if (n == STR_NULL_LEN) {
        *out = NULL;
        *len = 0;
        return 0;
    }
    if ((size_t)(r->end - r->p) < n)
        return IMX_ECORRUPT;
    if (text && memchr(r->p, '\0', n) != NULL)
        return IMX_ECORRUPT;
    *out = (const char *)r->p;
    *len = n;
    r->p += n;
    return 0;
}

/* A stored body sha256: exactly 64 lowercase hex digits. */
static int get_sha_hex(struct rd *r, char out[SHA256_HEX_LEN + 1])
{
    const char *p = NULL;
    size_t n = 0;
    int rc = get_slice(r, true, &p, &n);

    if (rc != 0)
        return rc;
    if (p == NULL || n != SHA256_HEX_LEN)
        return IMX_ECORRUPT;
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return IMX_ECORRUPT;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* ---- pages ---- */

void stg_page_release(struct stg_page *p)
{
    if (p == NULL)
        return;
    free(p->etag);
    free(p->last_modified);
    free(p->url);
    free(p->body);
    memset(p, 0, sizeof(*p));
}

int stg__page_encode(const struct stg_page *p, struct buf *out)
{
    char sha[SHA256_HEX_LEN + 1];
    int rc;

    if (p->state != STG_PAGE_PRESENT && p->state != STG_PAGE_ABSENT)
        return IMX_EINVAL;
    if (p->body == NULL && p->body_len != 0)
        return IMX_EINVAL;
    rc = put_u8(out, STG_CODEC_V2);
    if (rc == 0)
        rc = put_u8(out, (uint8_t)p->state);
    if (rc == 0)
        rc = put_u64(out, (uint64_t)p->fetched_at);
    if (rc == 0)
        rc = put_str(out, p->etag);
    if (rc == 0)
        rc = put_str(out, p->last_modified);
    if (rc == 0)
        rc = put_str(out, p->url);
    if (rc == 0)
        rc = put_bytes(out, p->body, p->body_len);
    if (rc == 0) {
        sha256_hex(p->body != NULL ? p->body : "", p->body_len, sha);
        rc = put_str(out, sha);
    }
    return rc;
}

/* A page record; with body false, its body is skipped (left NULL, length 0). */
static int page_decode(const void *v, size_t vlen, bool body, struct stg_page *out)
{
    struct rd r = {v, (const uint8_t *)v + vlen};
    struct stg_page pg;
    const char *slice = NULL;
    size_t slice_len = 0;
    uint8_t ver = 0, state = 0;
    int rc;

    assert(v != NULL || vlen == 0);
    memset(&pg, 0, sizeof(pg));
    rc = get_u8(&r, &ver);
    if (rc == 0 && ver != STG_CODEC_V1 && ver != STG_CODEC_V2)
        rc = IMX_ECORRUPT;
    if (rc == 0)
        rc = get_u8(&r, &state);
    if (rc == 0 && state != STG_PAGE_PRESENT && state != STG_PAGE_ABSENT)
        rc = IMX_ECORRUPT;
    pg.state = (enum stg_page_state)state;
    if (rc == 0)
        rc = get_i64(&r, &pg.fetched_at);
    if (rc == 0)
        rc = get_str(&r, &pg.etag);
    if (rc == 0)
        rc = get_str(&r, &pg.last_modified);
    if (rc == 0)
        rc = get_str(&r, &pg.url);
    if (rc == 0 && body)
        rc = get_bytes(&r, false, &pg.body, &pg.body_len);
    else if (rc == 0)
        rc = get_slice(&r, false, &slice, &slice_len);
    if (rc == 0 && ver == STG_CODEC_V2)
        rc = get_sha_hex(&r, pg.body_sha256);
    if (rc == 0 && r.p != r.end)
        rc = IMX_ECORRUPT;
    if (rc != 0) {
        stg_page_release(&pg);
        return rc;
    }
    if (ver == STG_CODEC_V1) { /* no stored hash: hash the body where it is */
        const char *b = body ? pg.body : slice;
        size_t n = body ? pg.body_len : slice_len;

        sha256_hex(b != NULL ? b : "", n, pg.body_sha256);
    }
    *out = pg;
    return 0;
}

int stg_page_decode(const void *v, size_t vlen, struct stg_page *out)
{
    return page_decode(v, vlen, true, out);
}

/* The head of a page record, read in place (V1 bodies hashed where they lie). */
static int page_head_decode(const void *v, size_t vlen, struct stg_page_head *out)
{
    struct rd r = {v, (const uint8_t *)v + vlen};
    struct stg_page_head h;
    const char *p = NULL;
    const char *body = NULL;
    size_t n = 0, body_len = 0;
    uint8_t ver = 0, state = 0;
    int rc;

    memset(&h, 0, sizeof(h));
    rc = get_u8(&r, &ver);
    if (rc == 0 && ver != STG_CODEC_V1 && ver != STG_CODEC_V2)
        rc = IMX_ECORRUPT;
    if (rc == 0)
        rc = get_u8(&r, &state);
    if (rc == 0 && state != STG_PAGE_PRESENT && state != STG_PAGE_ABSENT)
        rc = IMX_ECORRUPT;
    h.state = (enum stg_page_state)state;
    if (rc == 0)
        rc = get_i64(&r, &h.fetched_at);
    for (int i = 0; i < 3 && rc == 0; i++) /* etag, last_modified, url */
        rc = get_slice(&r, true, &p, &n);
    if (rc == 0)
        rc = get_slice(&r, false, &body, &body_len);
    if (rc == 0 && ver == STG_CODEC_V2)
        rc = get_sha_hex(&r, h.body_sha256);
    if (rc == 0 && r.p != r.end)
        rc = IMX_ECORRUPT;
    if (rc != 0)
        return rc;
    if (ver == STG_CODEC_V1)
        sha256_hex(body != NULL ? body : "", body_len, h.body_sha256);
    *out = h;
    return 0;
}

/* "<index>\n<project>"; NULL when the key cannot be built. Caller frees. */
static char *page_key(const char *index, const char *project, size_t *klen)
{
    char *k;

    assert(index != NULL);
    if (strchr(index, '\n') != NULL)
        return NULL;
    k = xasprintf("%s\n%s", index, project != NULL ? project : "");
    *klen = strlen(k);
    return k;
}

static int page_decode_cb(void *ctx, const void *v, size_t vlen)
{
    return stg_page_decode(v, vlen, ctx);
}

/* Decode the page record of (index, project) with cb inside a read transaction. */
static int page_view(struct stg *s, const char *index, const char *project,
                     int (*cb)(void *ctx, const void *v, size_t vlen), void *ctx)
{
    size_t klen = 0;
    char *key = page_key(index, project, &klen);
    int rc;

    if (key == NULL)
        return IMX_EINVAL;
    rc = stg__view(s, STG_DB_PAGES, key, klen, cb, ctx);
    free(key);
    return rc;
}

/* A page record decoded by cb (page_decode_cb or page_meta_cb); *out written on success only. */
static int page_get(struct stg *s, const char *index, const char *project,
                    int (*cb)(void *ctx, const void *v, size_t vlen), struct stg_page *out)
{
    struct stg_page pg;
    int rc;

    assert(out != NULL);
    rc = page_view(s, index, project, cb, &pg);
    if (rc == 0)
        *out = pg;
    return rc;
}

int stg_page_get(struct stg *s, const char *index, const char *project, struct stg_page *out)
{
    return page_get(s, index, project, page_decode_cb, out);
}

static int page_meta_cb(void *ctx, const void *v, size_t vlen)
{
    return page_decode(v, vlen, false, ctx);
}

int stg_page_get_meta(struct stg *s, const char *index, const char *project,
                      struct stg_page *out)
{
    return page_get(s, index, project, page_meta_cb, out);
}

static int page_head_cb(void *ctx, const void *v, size_t vlen)
{
    return page_head_decode(v, vlen, ctx);
}

int stg_page_head(struct stg *s, const char *index, const char *project,
                  struct stg_page_head *out)
{
    struct stg_page_head h;
    int rc;

    assert(out != NULL);
    rc = page_view(s, index, project, page_head_cb, &h);
    if (rc == 0)
        *out = h;
    return rc;
}

int stg_page_put(struct stg *s, const char *index, const char *project, const struct stg_page *p)
{
    struct buf b;
    size_t klen = 0;
    char *key = page_key(index, project, &klen);
    int rc;

    assert(p != NULL);
    buf_init(&b, BUF_NOMAX);
    if (key == NULL) {
        rc = IMX_EINVAL;
        goto out;
    }
    rc = stg__page_encode(p, &b);
    if (rc == 0)
        rc = stg_put(s, STG_DB_PAGES, key, klen, b.p, b.len);
out:
    free(key);
    buf_release(&b);
    return rc;
}

struct page_touch {
    const char *expect_sha256;
    int64_t fetched_at;
};

/* The same record with a new fetched_at (bytes 2-9 of a V2 record). */
static int page_touch_cb(void *ctx, const void *v, size_t vlen, struct buf *out)
{
    const struct page_touch *t = ctx;
    struct stg_page_head h;
    int rc;

    rc = page_head_decode(v, vlen, &h);
    if (rc != 0)
        return rc;
    if (h.state != STG_PAGE_PRESENT || strcmp(h.body_sha256, t->expect_sha256) != 0)
        return IMX_ENOTFOUND;
    if (((const uint8_t *)v)[0] == STG_CODEC_V1) {
        /* From an older build: rewritten as V2 once, so reads stop hashing its body. */
        struct stg_page pg;

        rc = stg_page_decode(v, vlen, &pg);
        if (rc != 0)
            return rc;
        pg.fetched_at = t->fetched_at;
        rc = stg__page_encode(&pg, out);
        stg_page_release(&pg);
        return rc;
    }
    rc = buf_reserve(out, vlen); /* one allocation for a page of megabytes */
    if (rc == 0)
        rc = buf_append(out, v, 2); /* version, state */
    if (rc == 0)
        rc = put_u64(out, (uint64_t)t->fetched_at);
    if (rc == 0)
        rc = buf_append(out, (const uint8_t *)v + 10, vlen - 10);
    return rc;
}

int stg_page_touch(struct stg *s, const char *index, const char *project,
                   const char *expect_sha256, int64_t fetched_at)
{
    struct page_touch t = {expect_sha256, fetched_at};
    size_t klen = 0;
    char *key = page_key(index, project, &klen);
    int rc;

    assert(expect_sha256 != NULL);
    if (key == NULL)
        return IMX_EINVAL;
    rc = stg__update(s, STG_DB_PAGES, key, klen, page_touch_cb, &t);
    free(key);
    return rc;
}

/* ---- files ---- */

void stg_file_release(struct stg_file *f)
{
    if (f == NULL)
        return;
    free(f->key);
    free(f->index);
    free(f->url);
    free(f->filename);
    free(f->expected_sha256);
    free(f->sha256);
    free(f->metadata_sha256);
    free(f->metadata_expected_sha256);
    free(f->project);
    memset(f, 0, sizeof(*f));
}

int stg__file_encode(const struct stg_file *f, struct buf *out)
{
    int rc;

    if (f->key == NULL || f->key[0] == '\0')
        return IMX_EINVAL;
    rc = put_u8(out, STG_CODEC_V2);
    if (rc == 0)
        rc = put_str(out, f->key);
    if (rc == 0)
        rc = put_str(out, f->index);
    if (rc == 0)
        rc = put_str(out, f->url);
    if (rc == 0)
        rc = put_str(out, f->filename);
    if (rc == 0)
        rc = put_str(out, f->expected_sha256);
    if (rc == 0)
        rc = put_str(out, f->sha256);
    if (rc == 0)
        rc = put_u64(out, (uint64_t)f->size);
    if (rc == 0)
        rc = put_u64(out, (uint64_t)f->last_access);
    if (rc == 0)
        rc = put_str(out, f->metadata_sha256);
    if (rc == 0)
        rc = put_str(out, f->metadata_expected_sha256);
    if (rc == 0)
        rc = put_str(out, f->project);
    return rc;
}

int stg_file_decode(const void *v, size_t vlen, struct stg_file *out)
{
    struct rd r = {v, (const uint8_t *)v + vlen};
    struct stg_file f;
    uint8_t ver = 0;
    int rc;

    assert(v != NULL || vlen == 0);
    memset(&f, 0, sizeof(f));
    rc = get_u8(&r, &ver);
    if (rc == 0 && ver != STG_CODEC_V1 && ver != STG_CODEC_V2)
        rc = IMX_ECORRUPT;
    if (rc == 0)
        rc = get_str(&r, &f.key);
    if (rc == 0 && f.key == NULL)
        rc = IMX_ECORRUPT;
    if (rc == 0)
        rc = get_str(&r, &f.index);
    if (rc == 0)
        rc = get_str(&r, &f.url);
    if (rc == 0)
        rc = get_str(&r, &f.filename);
    if (rc == 0)
        rc = get_str(&r, &f.expected_sha256);
    if (rc == 0)
        rc = get_str(&r, &f.sha256);
    if (rc == 0)
        rc = get_i64(&r, &f.size);
    if (rc == 0)
        rc = get_i64(&r, &f.last_access);
    if (rc == 0)
        rc = get_str(&r, &f.metadata_sha256);
    if (rc == 0)
        rc = get_str(&r, &f.metadata_expected_sha256);
    if (rc == 0 && ver == STG_CODEC_V2)
        rc = get_str(&r, &f.project);
    if (rc == 0 && r.p != r.end)
        rc = IMX_ECORRUPT;
    if (rc != 0) {
        stg_file_release(&f);
        return rc;
    }
    *out = f;
    return 0;
}

static int file_decode_cb(void *ctx, const void *v, size_t vlen)
{
    return stg_file_decode(v, vlen, ctx);
}

int stg_file_get(struct stg *s, const char *key, struct stg_file *out)
{
    struct stg_file f;
    int rc;

    assert(key != NULL && out != NULL);
    rc = stg__view(s, STG_DB_FILES, key, strlen(key), file_decode_cb, &f);
    if (rc == 0)
        *out = f;
    return rc;
}

int stg_file_put(struct stg *s, const struct stg_file *f)
{
    struct buf b;
    int rc;

    assert(f != NULL);
    buf_init(&b, BUF_NOMAX);
    rc = stg__file_encode(f, &b);
    if (rc == 0)
        rc = stg_put(s, STG_DB_FILES, f->key, strlen(f->key), b.p, b.len);
    buf_release(&b);
    return rc;
}

static int put_many_key(void *ctx, size_t i, const void **k, size_t *klen)
{
    const struct stg_file *f = ctx;

    if (f[i].key == NULL)
        return IMX_EINVAL;
    *k = f[i].key;
    *klen = strlen(f[i].key);
    return 0;
}

const char *stg__file_project_merge(const char *stored, const char *page)
{
    if (page == NULL)
        return stored;
    if (stored == NULL || strcmp(stored, page) == 0)
        return page;
    return ""; /* a second project lists it (or "" already said so): several */
}

/* True when an advertised digest contradicts a stored one. */
static bool digest_conflict(const char *expected, const char *stored)
{
    return expected != NULL && strcasecmp(expected, stored) != 0;
}

/* The merge rule of stg_file_put_many (storage.h). */
static int put_many_val(void *ctx, size_t i, const void *v, size_t vlen, struct buf *out)
{
    const struct stg_file *f = ctx;
    struct stg_file merged = f[i]; /* shallow: borrows f[i]'s and prev's strings */
    struct stg_file prev;
    bool have_prev = false;
    int rc;

    if (v != NULL) {
        rc = stg_file_decode(v, vlen, &prev);
        if (rc == 0)
            have_prev = true;
        else
            log_warnx("replacing undecodable file record '%s'", f[i].key);
    }
    if (have_prev) {
        bool kept_blob = false;
        if (merged.sha256 == NULL && prev.sha256 != NULL &&
            !digest_conflict(merged.expected_sha256, prev.sha256)) {
            merged.sha256 = prev.sha256;
            kept_blob = true;
        }
        if (merged.metadata_sha256 == NULL && prev.metadata_sha256 != NULL &&
            !digest_conflict(merged.metadata_expected_sha256, prev.metadata_sha256))
            merged.metadata_sha256 = prev.metadata_sha256;
        if (merged.last_access == 0)
            merged.last_access = prev.last_access;
        if (merged.size < 0 || kept_blob)
            merged.size = prev.size;
        merged.project = (char *)stg__file_project_merge(prev.project, f[i].project);
    }
    rc = stg__file_encode(&merged, out);
    if (have_prev)
        stg_file_release(&prev);
    return rc;
}

int stg_file_put_many(struct stg *s, const struct stg_file *f, size_t n)
{
    assert(f != NULL || n == 0);
    return stg__put_many(s, STG_DB_FILES, n, put_many_key, put_many_val, (void *)f);
}

static int touch_cb(void *ctx, const void *v, size_t vlen, struct buf *out)
{
    const int64_t *now = ctx;
    struct stg_file f;
    int rc;

    rc = stg_file_decode(v, vlen, &f);
    if (rc != 0)
        return rc;
    f.last_access = *now;
    rc = stg__file_encode(&f, out);
    stg_file_release(&f);
    return rc;
}

int stg_file_touch(struct stg *s, const char *key, int64_t now)
{
    assert(key != NULL);
    return stg__update(s, STG_DB_FILES, key, strlen(key), touch_cb, &now);
}

/* ---- files generations: what a file record write changes ---- */

/* The digests and the project of a file record, as slices of it (NULL when absent). */
struct digests {
    const char *expected, *sha256, *md_expected, *md_sha256, *project;
    size_t expected_len, sha256_len, md_expected_len, md_sha256_len, project_len;
};

static int file_digests(const void *v, size_t vlen, struct digests *d)
{
    struct rd r = {v, (const uint8_t *)v + vlen};
    const char *p = NULL;
    size_t n = 0;
    int64_t i64 = 0;
    uint8_t ver = 0;
    int rc;

    memset(d, 0, sizeof(*d));
    rc = get_u8(&r, &ver);
    if (rc == 0 && ver != STG_CODEC_V1 && ver != STG_CODEC_V2)
        rc = IMX_ECORRUPT;
    for (int i = 0; i < 4 && rc == 0; i++) /* key, index, url, filename */
        rc = get_slice(&r, true, &p, &n);
    if (rc == 0)
        rc = get_slice(&r, true, &d->expected, &d->expected_len);
    if (rc == 0)
        rc = get_slice(&r, true, &d->sha256, &d->sha256_len);
    if (rc == 0)
        rc = get_i64(&r, &i64); /* size */
    if (rc == 0)
        rc = get_i64(&r, &i64); /* last_access */
    if (rc == 0)
        rc = get_slice(&r, true, &d->md_sha256, &d->md_sha256_len);
    if (rc == 0)
        rc = get_slice(&r, true, &d->md_expected, &d->md_expected_len);
    if (rc == 0 && ver == STG_CODEC_V2)
        rc = get_slice(&r, true, &d->project, &d->project_len);
    if (rc == 0 && r.p != r.end)
        rc = IMX_ECORRUPT;
    return rc;
}

static bool slice_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (a == NULL || b == NULL)
        return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

/*
 * The generations one digest pair moves: got changed; LEARNED as well when a
 * side did not advertise it (its expected digest NULL).
 */
static unsigned digest_delta(const char *exp_a, const char *got_a, size_t got_a_len,
                             const char *exp_b, const char *got_b, size_t got_b_len)
{
    if (slice_eq(got_a, got_a_len, got_b, got_b_len))
        return 0;
    if (exp_a == NULL || exp_b == NULL)
        return (1u << STG_GEN_STORED) | (1u << STG_GEN_LEARNED);
    return 1u << STG_GEN_STORED;
}

void stg__file_gen_delta(const void *old, size_t olen, const void *nv, size_t nlen,
                         struct stg__gen_moves *m)
{
    const unsigned both = (1u << STG_GEN_STORED) | (1u << STG_GEN_LEARNED);
    struct digests a, b;
    unsigned mask;

    /*
     * An absent record advertises nothing to show: only the side that
     * exists says whether a digest was the page's own. (An insert or delete
     * of a file whose page gives its sha256 changes no online page.)
     */
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.expected = a.md_expected = b.expected = b.md_expected = "";
    if ((old != NULL && file_digests(old, olen, &a) != 0) ||
        (nv != NULL && file_digests(nv, nlen, &b) != 0)) {
        stg__gen_moves_add(m, NULL, 0, both); /* whose record it was is unknown */
        return;
    }
    mask = digest_delta(a.expected, a.sha256, a.sha256_len, b.expected, b.sha256, b.sha256_len) |
           digest_delta(a.md_expected, a.md_sha256, a.md_sha256_len, b.md_expected, b.md_sha256,
                        b.md_sha256_len);
    /*
     * Registered again under another project: changes of the record so far
     * moved the old project's generations only, while the new project's
     * page (or, for "" or NULL, any page) may show it. Both move, whatever
     * the digests did. (From unknown or "", every change moved everyone's.)
     */
    if (old != NULL && nv != NULL && a.project != NULL && a.project_len > 0 &&
        !slice_eq(a.project, a.project_len, b.project, b.project_len))
        mask = both;
    if (mask == 0)
        return;
    /* Pages of the old record's project showed it, pages of the new one's will. */
    if (old != NULL)
        stg__gen_moves_add(m, a.project, a.project_len, mask);
    if (nv != NULL)
        stg__gen_moves_add(m, b.project, b.project_len, mask);
}

/* ---- rendered pages ---- */

void stg_rendered_release(struct stg_rendered *r)
{
    if (r == NULL)
        return;
    free(r->fingerprint);
    free(r->project);
    free(r->stamps);
    for (size_t i = 0; i < r->ninputs; i++) {
        free(r->inputs[i].index);
        free(r->inputs[i].project);
        free(r->inputs[i].stamp);
    }
    free(r->inputs);
    free(r->etag);
    free(r->body);
    free(r->gz);
    memset(r, 0, sizeof(*r));
}

static int put_u32(struct buf *b, uint32_t v)
{
    uint8_t le[4];

    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    return buf_append(b, le, sizeof(le));
}

int stg__rendered_encode(const struct stg_rendered *r, struct buf *out)
{
    int rc;

    if (r->fingerprint == NULL || r->stamps == NULL || r->etag == NULL || r->body == NULL)
        return IMX_EINVAL;
    if (r->gz == NULL && r->gz_len != 0)
        return IMX_EINVAL;
    if (r->gen_kind < STG_GEN_NONE || r->gen_kind >= STG_GEN__N)
        return IMX_EINVAL;
    if (r->gen_kind != STG_GEN_NONE && r->project == NULL)
        return IMX_EINVAL; /* whose files generation would it be? */
    if (r->ninputs > STG_RENDERED_MAX_INPUTS || (r->inputs == NULL && r->ninputs != 0))
        return IMX_EINVAL;
    for (size_t i = 0; i < r->ninputs; i++) {
        const struct stg_rendered_input *in = &r->inputs[i];
        if (in->index == NULL || in->project == NULL || in->stamp == NULL)
            return IMX_EINVAL;
    }
    rc = put_u8(out, STG_RENDERED_V2);
    if (rc == 0)
        rc = put_u64(out, (uint64_t)r->rendered_at);
    if (rc == 0)
        rc = put_str(out, r->fingerprint);
    if (rc == 0)
        rc = put_u8(out, (uint8_t)r->gen_kind);
    if (rc == 0)
        rc = put_u64(out, r->files_gen);
    if (rc == 0)
        rc = put_str(out, r->gen_kind != STG_GEN_NONE ? r->project : NULL);
    if (rc == 0)
        rc = put_str(out, r->stamps);
    if (rc == 0)
        rc = put_u32(out, (uint32_t)r->ninputs);
    for (size_t i = 0; i < r->ninputs && rc == 0; i++) {
        rc = put_str(out, r->inputs[i].index);
        if (rc == 0)
            rc = put_str(out, r->inputs[i].project);
        if (rc == 0)
            rc = put_str(out, r->inputs[i].stamp);
    }
    if (rc == 0)
        rc = put_str(out, r->etag);
    if (rc == 0)
        rc = put_bytes(out, r->body, r->body_len);
    if (rc == 0)
        rc = put_bytes(out, r->gz, r->gz_len);
    return rc;
}

/*
 * A bytes field: copied (NUL-terminated beyond *len) when `copy`, else only
 * its length is kept. *present is false for a NULL str.
 */
static int get_body(struct rd *r, bool copy, char **out, size_t *len, bool *present)
{
    const char *p = NULL;
    size_t n = 0;
    int rc = get_slice(r, false, &p, &n);

    if (rc != 0)
        return rc;
    *present = p != NULL;
    *len = n;
    *out = copy && p != NULL ? xstrndup(p, n) : NULL;
    return 0;
}

int stg_rendered_decode(const void *v, size_t vlen, bool with_body, struct stg_rendered *out)
{
    struct rd r = {v, (const uint8_t *)v + vlen};
    struct stg_rendered rr;
    bool have_body = false, have_gz = false;
    uint32_t n = 0;
    uint8_t ver = 0, kind = 0;
    int64_t gen = 0;
    int rc;

    assert(v != NULL || vlen == 0);
    memset(&rr, 0, sizeof(rr));
    rc = get_u8(&r, &ver);
    if (rc == 0 && ver != STG_RENDERED_V1 && ver != STG_RENDERED_V2)
        rc = IMX_ECORRUPT;
    if (rc == 0)
        rc = get_i64(&r, &rr.rendered_at);
    if (rc == 0)
        rc = get_str(&r, &rr.fingerprint);
    if (rc == 0)
        rc = get_u8(&r, &kind);
    if (rc == 0 && kind >= STG_GEN__N)
        rc = IMX_ECORRUPT;
    rr.gen_kind = (enum stg_gen)kind;
    if (rc == 0)
        rc = get_i64(&r, &gen);
    rr.files_gen = (uint64_t)gen;
    /*
     * V1 (schema 2) named no project: its files_gen was the one global
     * value, which no project's generation is. Read with project NULL, it
     * never matches one (gc drops it, the resolver renders again).
     */
    if (rc == 0 && ver == STG_RENDERED_V2)
        rc = get_str(&r, &rr.project);
    if (rc == 0 && ver == STG_RENDERED_V2 &&
        (rr.gen_kind != STG_GEN_NONE) != (rr.project != NULL))
        rc = IMX_ECORRUPT;
    if (rc == 0)
        rc = get_str(&r, &rr.stamps);
    if (rc == 0)
        rc = get_u32(&r, &n);
    /* Each input takes at least 12 bytes: a huge count cannot make us allocate. */
    if (rc == 0 && (n > STG_RENDERED_MAX_INPUTS || (size_t)(r.end - r.p) / 12 < n))
        rc = IMX_ECORRUPT;
    if (rc == 0 && n > 0)
        rr.inputs = xcalloc(n, sizeof(*rr.inputs));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        struct stg_rendered_input *in = &rr.inputs[i];
        rr.ninputs++;
        rc = get_str(&r, &in->index);
        if (rc == 0)
            rc = get_str(&r, &in->project);
        if (rc == 0)
            rc = get_str(&r, &in->stamp);
        if (rc == 0 && (in->index == NULL || in->project == NULL || in->stamp == NULL))
            rc = IMX_ECORRUPT;
    }
    if (rc == 0)
        rc = get_str(&r, &rr.etag);
    if (rc == 0)
        rc = get_body(&r, with_body, &rr.body, &rr.body_len, &have_body);
    if (rc == 0)
        rc = get_body(&r, with_body, &rr.gz, &rr.gz_len, &have_gz);
    if (rc == 0 && (rr.fingerprint == NULL || rr.stamps == NULL || rr.etag == NULL || !have_body))
        rc = IMX_ECORRUPT;
    if (rc == 0 && r.p != r.end)
        rc = IMX_ECORRUPT;
    if (rc != 0) {
        stg_rendered_release(&rr);
        return rc;
    }
    *out = rr;
    return 0;
}

struct rendered_get_ctx {
    bool with_body;
    struct stg_rendered *out;
};

static int rendered_get_cb(void *ctx, const void *v, size_t vlen)
{
    struct rendered_get_ctx *c = ctx;
    return stg_rendered_decode(v, vlen, c->with_body, c->out);
}

static bool rendered_key_ok(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;
    return n > 0 && n <= STG_MAX_KEY;
}

int stg_rendered_get(struct stg *s, const char *key, bool with_body, struct stg_rendered *out)
{
    struct stg_rendered r;
    struct rendered_get_ctx c = {with_body, &r};
    int rc;

    assert(out != NULL);
    if (!rendered_key_ok(key))
        return IMX_EINVAL;
    rc = stg__view(s, STG_DB_RENDERED, key, strlen(key), rendered_get_cb, &c);
    if (rc == 0)
        *out = r;
    return rc;
}

/* Keep the stored record when it describes the same bytes (stg_rendered_put). */
static bool rendered_same(void *ctx, const void *v, size_t vlen)
{
    const struct stg_rendered *want = ctx;
    struct stg_rendered have;
    bool same;

    if (stg_rendered_decode(v, vlen, false, &have) != 0)
        return false;
    same = have.gen_kind == want->gen_kind && have.files_gen == want->files_gen &&
           strcmp(have.fingerprint, want->fingerprint) == 0 &&
           strcmp(have.stamps, want->stamps) == 0;
    /* Not when only the project differs (e.g. a V1 record, which names none). */
    if (same && want->gen_kind != STG_GEN_NONE)
        same = have.project != NULL && strcmp(have.project, want->project) == 0;
    stg_rendered_release(&have);
    return same;
}

int stg_rendered_put(struct stg *s, const char *key, const struct stg_rendered *r)
{
    struct buf b;
    int rc;

    assert(r != NULL);
    if (!rendered_key_ok(key))
        return IMX_EINVAL;
    /* Derived data yields: the rest of the map is for pages and files. */
    if (stg__map_past(s, STG_RENDERED_MAP_SHARE_NUM, STG_RENDERED_MAP_SHARE_DEN))
        return IMX_EMAPFULL;
    buf_init(&b, STG_RENDERED_MAX_BYTES);
    rc = stg__rendered_encode(r, &b);
    if (rc == 0)
        rc = stg__put_unless(s, STG_DB_RENDERED, key, strlen(key), b.p, b.len, rendered_same,
                             (void *)r);
    buf_release(&b);
    return rc;
}
