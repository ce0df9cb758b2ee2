/*
 * codec.c - the typed records of storage.h (pages, files): their binary
 * encoding and the get/put/touch functions built on meta.c.
 *
 * Encoding (all integers little-endian):
 *   u8  version (STG_CODEC_V1)
 *   page: u8 state, i64 fetched_at, str etag, str last_modified, str url, str body
 *   file: str key, str index, str url, str filename, str expected_sha256,
 *         str sha256, i64 size, i64 last_access, str metadata_sha256,
 *         str metadata_expected_sha256
 *   str = u32 length then the bytes; length 0xffffffff means NULL.
 * A record must be consumed exactly. Strings other than the page body must
 * not contain NUL (they become C strings). Anything else is IMX_ECORRUPT:
 * decoders read stored bytes defensively, never trusting a length.
 *
 * To change a layout, add STG_CODEC_V2 and keep decoding V1.
 */
#include "compat.h"

#include <strings.h>

#include "err.h"
#include "log.h"
#include "storage.h"
#include "storage_int.h"
#include "xalloc.h"

#define STG_CODEC_V1 1
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
    int rc;

    if (p->state != STG_PAGE_PRESENT && p->state != STG_PAGE_ABSENT)
        return IMX_EINVAL;
    if (p->body == NULL && p->body_len != 0)
        return IMX_EINVAL;
    rc = put_u8(out, STG_CODEC_V1);
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
    return rc;
}

int stg_page_decode(const void *v, size_t vlen, struct stg_page *out)
{
    struct rd r = {v, (const uint8_t *)v + vlen};
    struct stg_page pg;
    uint8_t ver = 0, state = 0;
    int rc;

    assert(v != NULL || vlen == 0);
    memset(&pg, 0, sizeof(pg));
    rc = get_u8(&r, &ver);
    if (rc == 0 && ver != STG_CODEC_V1)
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
    if (rc == 0)
        rc = get_bytes(&r, false, &pg.body, &pg.body_len);
    if (rc == 0 && r.p != r.end)
        rc = IMX_ECORRUPT;
    if (rc != 0) {
        stg_page_release(&pg);
        return rc;
    }
    *out = pg;
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

int stg_page_get(struct stg *s, const char *index, const char *project, struct stg_page *out)
{
    struct stg_page pg;
    size_t klen = 0;
    char *key = page_key(index, project, &klen);
    int rc;

    assert(out != NULL);
    if (key == NULL)
        return IMX_EINVAL;
    rc = stg__view(s, STG_DB_PAGES, key, klen, page_decode_cb, &pg);
    free(key);
    if (rc == 0)
        *out = pg;
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
    memset(f, 0, sizeof(*f));
}

int stg__file_encode(const struct stg_file *f, struct buf *out)
{
    int rc;

    if (f->key == NULL || f->key[0] == '\0')
        return IMX_EINVAL;
    rc = put_u8(out, STG_CODEC_V1);
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
    if (rc == 0 && ver != STG_CODEC_V1)
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
