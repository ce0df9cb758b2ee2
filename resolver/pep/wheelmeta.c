/*
 * wheelmeta.c - the zip reader behind synthesized PEP 658 metadata: find
 * the End Of Central Directory (and its ZIP64 form), walk the central
 * directory for the one top-level `<dir>.dist-info/METADATA`, then read its
 * local header and inflate its bytes. The layout is in APPNOTE.TXT 4.3.
 *
 * The input is untrusted (it is whatever an upstream served, even if the
 * hash matched the page). The rule throughout: a number read from the zip
 * is compared with the bounds of the region it must lie in before it is
 * used as an offset or a length, and every subtraction is done on the side
 * that cannot wrap. Allocation is bounded by the caps in wheelmeta.h, not by
 * what the zip claims.
 */
#include "compat.h"

#include <zlib.h>

#include "err.h"
#include "wheelmeta.h"
#include "xalloc.h"

#define SIG_EOCD 0x06054b50u
#define SIG_Z64_LOCATOR 0x07064b50u
#define SIG_Z64_EOCD 0x06064b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_LOCAL 0x04034b50u

#define EOCD_LEN 22u
#define Z64_LOCATOR_LEN 20u
#define Z64_EOCD_LEN 56u
#define CENTRAL_LEN 46u
#define LOCAL_LEN 30u
#define EOCD_SEARCH (65535u + EOCD_LEN) /* the comment is at most 64 KiB - 1 */

#define SAT16 0xffffu
#define SAT32 0xffffffffu

#define INFLATE_CHUNK (64u << 10)

struct zsrc {
    wheelmeta_read_fn read;
    void *ctx;
    uint64_t size;
};

/* Where the central directory is, from the (ZIP64) EOCD. */
struct zdir {
    uint64_t off;     /* first byte of the central directory */
    uint64_t len;     /* its size */
    uint64_t entries; /* number of entries */
};

/* The METADATA entry, from its central directory record. */
struct zentry {
    const unsigned char *name; /* into the central directory buffer */
    size_t name_len;
    unsigned flags;
    unsigned method;
    uint32_t crc;
    uint64_t csize;
    uint64_t usize;
    uint64_t local_off;
};

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Read [off, off+len), which the caller has checked lies inside the file. */
static int src_read(const struct zsrc *s, uint64_t off, void *dst, size_t len)
{
    if (NEVER(off > s->size || len > s->size - off))
        return IMX_ECORRUPT;
    if (len == 0)
        return 0;
    return s->read(s->ctx, off, dst, len);
}

/*
 * The ZIP64 EOCD named by the locator that ends at `loc_end` (the EOCD's
 * own offset). Fills `d` and sets *limit to where the ZIP64 record starts:
 * the central directory must end at or before it.
 */
static int read_zip64(const struct zsrc *s, uint64_t loc_end, struct zdir *d, uint64_t *limit)
{
    unsigned char loc[Z64_LOCATOR_LEN];
    unsigned char rec[Z64_EOCD_LEN];
    uint64_t rec_off;
    int rc;

    rc = src_read(s, loc_end - Z64_LOCATOR_LEN, loc, sizeof(loc));
    if (rc != 0)
        return rc;
    if (le32(loc) != SIG_Z64_LOCATOR)
        return IMX_ENOTFOUND; /* no ZIP64: the plain EOCD is the whole story */
    rec_off = le64(loc + 8);
    if (le32(loc + 4) != 0 || le32(loc + 16) > 1)
        return IMX_ECORRUPT; /* multi-disk */
    if (rec_off > loc_end - Z64_LOCATOR_LEN ||
        loc_end - Z64_LOCATOR_LEN - rec_off < Z64_EOCD_LEN)
        return IMX_ECORRUPT;
    rc = src_read(s, rec_off, rec, sizeof(rec));
    if (rc != 0)
        return rc;
    if (le32(rec) != SIG_Z64_EOCD)
        return IMX_ECORRUPT;
    if (le32(rec + 16) != 0 || le32(rec + 20) != 0 || le64(rec + 24) != le64(rec + 32))
        return IMX_ECORRUPT; /* multi-disk */
    d->entries = le64(rec + 32);
    d->len = le64(rec + 40);
    d->off = le64(rec + 48);
    *limit = rec_off;
    return 0;
}

/* Find the EOCD (searching the last 64 KiB + 22 bytes) and the central directory. */
static int find_dir(const struct zsrc *s, struct zdir *out)
{
    unsigned char *tail = NULL;
    size_t tail_len;
    uint64_t tail_off, eocd_off = 0, limit;
    struct zdir d;
    const unsigned char *e = NULL;
    int rc;

    if (s->size < EOCD_LEN)
        return IMX_ECORRUPT;
    tail_len = s->size < EOCD_SEARCH ? (size_t)s->size : EOCD_SEARCH;
    tail_off = s->size - tail_len;
    tail = xmalloc(tail_len);
    rc = src_read(s, tail_off, tail, tail_len);
    if (rc != 0)
        goto out;
    /* The last signature whose comment fits in the file wins (as zipfile). */
    for (size_t i = tail_len - EOCD_LEN + 1; i-- > 0;) {
        if (le32(tail + i) == SIG_EOCD && le16(tail + i + 20) <= tail_len - i - EOCD_LEN) {
            e = tail + i;
            eocd_off = tail_off + i;
            break;
        }
    }
    rc = IMX_ECORRUPT;
    if (!e)
        goto out;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10))
        goto out; /* multi-disk */
    d.entries = le16(e + 10);
    d.len = le32(e + 12);
    d.off = le32(e + 16);
    limit = eocd_off;
    if (eocd_off >= Z64_LOCATOR_LEN) {
        rc = read_zip64(s, eocd_off, &d, &limit);
        if (rc != 0 && rc != IMX_ENOTFOUND)
            goto out;
    }
    rc = IMX_ETOOLARGE;
    if (d.entries > WHEELMETA_MAX_ENTRIES || d.len > WHEELMETA_MAX_CENTRAL_DIR)
        goto out;
    rc = IMX_ECORRUPT;
    if (d.off > limit || d.len > limit - d.off || d.entries > d.len / CENTRAL_LEN)
        goto out;
    *out = d;
    rc = 0;
out:
    free(tail);
    return rc;
}

/* Take the ZIP64 extended-information extra field (id 1) into `z`. */
static int apply_zip64_extra(const unsigned char *x, size_t xlen, unsigned disk,
                             struct zentry *z)
{
    while (xlen >= 4) {
        unsigned id = le16(x);
        size_t dlen = le16(x + 2);
        if (dlen > xlen - 4)
            return IMX_ECORRUPT;
        if (id == 1) {
            const unsigned char *p = x + 4;
            size_t left = dlen;
            uint64_t *fields[] = {&z->usize, &z->csize, &z->local_off};
            for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                if (*fields[i] != SAT32)
                    continue;
                if (left < 8)
                    return IMX_ECORRUPT;
                *fields[i] = le64(p);
                p += 8;
                left -= 8;
            }
            if (disk == SAT16 && (left < 4 || le32(p) != 0))
                return IMX_ECORRUPT;
            return 0;
        }
        x += 4 + dlen;
        xlen -= 4 + dlen;
    }
    return 0;
}

/*
 * Walk the central directory `cd` of `d->entries` records: exactly one
 * top-level *.dist-info directory, exactly one METADATA in it.
 */
static int find_metadata(const unsigned char *cd, const struct zdir *d, struct zentry *out)
{
    const unsigned char *dist = NULL;
    size_t dist_len = 0, pos = 0;
    struct zentry z;
    bool found = false;

    memset(&z, 0, sizeof(z));
    for (uint64_t i = 0; i < d->entries; i++) {
        const unsigned char *r = cd + pos;
        size_t nlen, xlen, clen;
        const unsigned char *name, *slash;

        if (d->len - pos < CENTRAL_LEN || le32(r) != SIG_CENTRAL)
            return IMX_ECORRUPT;
        nlen = le16(r + 28);
        xlen = le16(r + 30);
        clen = le16(r + 32);
        if (d->len - pos - CENTRAL_LEN < nlen + xlen + clen)
            return IMX_ECORRUPT;
        name = r + CENTRAL_LEN;
        slash = nlen ? memchr(name, '/', nlen) : NULL;
        if (slash && (size_t)(slash - name) > 10 &&
            memcmp(slash - 10, ".dist-info", 10) == 0) {
            size_t dlen = (size_t)(slash - name);
            size_t rest = nlen - dlen - 1;
            if (!dist) {
                dist = name;
                dist_len = dlen;
            } else if (dlen != dist_len || memcmp(dist, name, dlen) != 0) {
                return IMX_ECORRUPT; /* several .dist-info directories */
            }
            if (rest == 8 && memcmp(slash + 1, "METADATA", 8) == 0) {
                if (found)
                    return IMX_ECORRUPT; /* METADATA twice */
                found = true;
                z.name = name;
                z.name_len = nlen;
                z.flags = le16(r + 8);
                z.method = le16(r + 10);
                z.crc = le32(r + 16);
                z.csize = le32(r + 20);
                z.usize = le32(r + 24);
                z.local_off = le32(r + 42);
                if (apply_zip64_extra(name + nlen, xlen, le16(r + 34), &z) != 0)
                    return IMX_ECORRUPT;
                if (le16(r + 34) != 0 && le16(r + 34) != SAT16)
                    return IMX_ECORRUPT; /* on another disk */
            }
        }
        pos += CENTRAL_LEN + nlen + xlen + clen;
    }
    if (!found)
        return IMX_ENOTFOUND;
    *out = z;
    return 0;
}

/* Inflate (raw deflate) `z->csize` bytes at `off` into exactly `z->usize` bytes at dst. */
static int inflate_entry(const struct zsrc *s, uint64_t off, const struct zentry *z,
                         unsigned char *dst)
{
    unsigned char *in = xmalloc(INFLATE_CHUNK);
    uint64_t left = z->csize;
    z_stream zs;
    int zrc = Z_OK, rc;

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        free(in);
        return IMX_EIO;
    }
    zs.next_out = dst;
    zs.avail_out = (uInt)z->usize + 1; /* one spare byte reveals a lying size */
    while (zrc != Z_STREAM_END) {
        if (zs.avail_in == 0) {
            size_t n = left < INFLATE_CHUNK ? (size_t)left : INFLATE_CHUNK;
            rc = IMX_ECORRUPT;
            if (n == 0)
                goto out; /* input ends before the stream does */
            rc = src_read(s, off, in, n);
            if (rc != 0)
                goto out;
            off += n;
            left -= n;
            zs.next_in = in;
            zs.avail_in = (uInt)n;
        }
        zrc = inflate(&zs, Z_NO_FLUSH);
        rc = IMX_ECORRUPT;
        if (zrc != Z_OK && zrc != Z_STREAM_END)
            goto out;
        if (zs.total_out > z->usize)
            goto out;
    }
    rc = zs.total_out == z->usize ? 0 : IMX_ECORRUPT;
out:
    inflateEnd(&zs);
    free(in);
    return rc;
}

/* Check the local header of `z` (inside [0, limit)) and read its bytes into a fresh buffer. */
static int read_entry(const struct zsrc *s, uint64_t limit, const struct zentry *z,
                      char **out, size_t *out_len)
{
    unsigned char loc[LOCAL_LEN];
    unsigned char *name = NULL, *data = NULL;
    uint64_t data_off;
    size_t lnlen, lxlen;
    int rc;

    rc = IMX_ECORRUPT;
    if ((z->flags & 0x41) != 0 || (z->method != 0 && z->method != 8))
        goto out; /* encrypted, or a method pip cannot read either */
    rc = IMX_ETOOLARGE;
    if (z->usize > WHEELMETA_MAX_METADATA)
        goto out;
    rc = IMX_ECORRUPT;
    if (z->method == 0 && z->csize != z->usize)
        goto out;
    if (z->local_off > limit || limit - z->local_off < LOCAL_LEN)
        goto out;
    rc = src_read(s, z->local_off, loc, sizeof(loc));
    if (rc != 0)
        goto out;
    rc = IMX_ECORRUPT;
    if (le32(loc) != SIG_LOCAL)
        goto out;
    lnlen = le16(loc + 26);
    lxlen = le16(loc + 28);
    if (lnlen != z->name_len || limit - z->local_off - LOCAL_LEN < lnlen + lxlen)
        goto out;
    data_off = z->local_off + LOCAL_LEN + lnlen + lxlen;
    if (z->csize > limit - data_off)
        goto out;
    name = xmalloc(lnlen ? lnlen : 1);
    rc = src_read(s, z->local_off + LOCAL_LEN, name, lnlen);
    if (rc != 0)
        goto out;
    rc = IMX_ECORRUPT;
    if (memcmp(name, z->name, lnlen) != 0)
        goto out;
    data = xmalloc((size_t)z->usize + 1);
    if (z->method == 0)
        rc = src_read(s, data_off, data, (size_t)z->usize);
    else
        rc = inflate_entry(s, data_off, z, data);
    if (rc != 0)
        goto out;
    rc = IMX_ECORRUPT;
    if (crc32(0L, data, (uInt)z->usize) != z->crc)
        goto out;
    data[z->usize] = '\0';
    *out = (char *)data;
    *out_len = (size_t)z->usize;
    data = NULL;
    rc = 0;
out:
    free(name);
    free(data);
    return rc;
}

int wheelmeta_extract(wheelmeta_read_fn read, void *ctx, uint64_t size, char **out,
                      size_t *out_len)
{
    struct zsrc s = {read, ctx, size};
    struct zdir d;
    struct zentry z;
    unsigned char *cd = NULL;
    int rc;

    assert(read != NULL && out != NULL && out_len != NULL);
    rc = find_dir(&s, &d);
    if (rc != 0)
        goto out;
    if (d.entries == 0) {
        rc = IMX_ENOTFOUND;
        goto out;
    }
    cd = xmalloc((size_t)d.len);
    rc = src_read(&s, d.off, cd, (size_t)d.len);
    if (rc != 0)
        goto out;
    rc = find_metadata(cd, &d, &z);
    if (rc != 0)
        goto out;
    /* Entries precede the central directory: nothing of METADATA may overlap it. */
    rc = read_entry(&s, d.off, &z, out, out_len);
out:
    free(cd);
    return rc;
}

int wheelmeta_read_mem(void *ctx, uint64_t off, void *dst, size_t len)
{
    const struct wheelmeta_mem *m = ctx;

    if (off > m->len || len > m->len - off)
        return IMX_EIO;
    memcpy(dst, m->p + off, len);
    return 0;
}
