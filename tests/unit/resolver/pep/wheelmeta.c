/*
 * Tests for resolver/pep/wheelmeta.c: the table tests/vectors/wheelmeta.txt
 * (real wheels from tests/fakes/wheels.py, a hand-made ZIP64 form, error
 * cases), then hostile zips made by mutating those wheels: lying sizes and
 * offsets, caps, every truncation and single-byte corruption, a sparse
 * 5 GiB zip whose offsets need ZIP64. The byte source aborts the test on any
 * read outside the file.
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "err.h"
#include "wheelmeta.h"
#include "xalloc.h"

struct blob {
    unsigned char *p;
    size_t len;
};

static struct blob load(const char *name)
{
    const char *src = getenv("IMX_SOURCE_DIR");
    char path[4096];
    struct blob b = {NULL, 0};
    FILE *f;
    long n;

    cr_assert(src != NULL, "IMX_SOURCE_DIR is not set");
    snprintf(path, sizeof(path), "%s/tests/vectors/%s", src, name);
    f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open '%s'", path);
    cr_assert(fseek(f, 0, SEEK_END) == 0);
    n = ftell(f);
    cr_assert(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    b.len = (size_t)n;
    b.p = xmalloc(b.len + 1);
    cr_assert(fread(b.p, 1, b.len, f) == b.len);
    fclose(f);
    return b;
}

/* A memory source that fails the test on any read outside the file. */
static int read_checked(void *ctx, uint64_t off, void *dst, size_t len)
{
    const struct blob *b = ctx;

    cr_assert(off <= b->len && len <= b->len - off, "read [%llu,+%zu) outside %zu bytes",
              (unsigned long long)off, len, b->len);
    memcpy(dst, b->p + off, len);
    return 0;
}

static int extract(const struct blob *b, char **out, size_t *n)
{
    return wheelmeta_extract(read_checked, (void *)b, b->len, out, n);
}

static int err_code(const char *name)
{
#define XX(c, _)                                                                                   \
    if (strcmp(name, #c) == 0)                                                                     \
        return IMX_##c;
    IMX_ERRNO_MAP(XX)
#undef XX
    cr_assert_fail("unknown error name '%s'", name);
    return 0;
}

Test(wheelmeta, vectors)
{
    struct blob table = load("wheelmeta.txt");
    char *save = NULL, *line;
    size_t rows = 0;

    table.p[table.len] = '\0';
    for (line = strtok_r((char *)table.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char file[256], want[64], path[300];
        struct blob w;
        char *meta = NULL;
        size_t n = 0;
        int rc;

        if (line[0] == '#')
            continue;
        cr_assert(sscanf(line, "%255s | %63s", file, want) == 2, "bad line '%s'", line);
        snprintf(path, sizeof(path), "wheels/%s", file);
        w = load(path);
        rc = extract(&w, &meta, &n);
        if (strcmp(want, "ok") == 0) {
            struct blob exp;
            cr_assert_eq(rc, 0, "%s: %s", file, imx_strerror(rc));
            snprintf(path, sizeof(path), "wheels/%.*s.METADATA", (int)(strlen(file) - 4), file);
            exp = load(path);
            cr_assert_eq(n, exp.len, "%s: %zu bytes, want %zu", file, n, exp.len);
            cr_assert(memcmp(meta, exp.p, n) == 0, "%s: bytes differ", file);
            cr_assert_eq(meta[n], '\0');
            free(exp.p);
        } else {
            cr_assert_eq(rc, err_code(want), "%s: got '%s', want %s", file, imx_strerror(rc),
                         want);
        }
        free(meta);
        free(w.p);
        rows++;
    }
    cr_assert_geq(rows, 10);
    free(table.p);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* plain.whl has no comment: the EOCD is its last 22 bytes. */
static size_t eocd_of(const struct blob *b)
{
    cr_assert(get32(b->p + b->len - 22) == 0x06054b50);
    return b->len - 22;
}

/* Offset of the central directory record of `name`. */
static size_t central_of(const struct blob *b, const char *name)
{
    size_t e = eocd_of(b), pos = get32(b->p + e + 16);

    while (pos + 46 <= e && get32(b->p + pos) == 0x02014b50) {
        size_t nlen = b->p[pos + 28] | (size_t)b->p[pos + 29] << 8;
        size_t xlen = b->p[pos + 30] | (size_t)b->p[pos + 31] << 8;
        size_t clen = b->p[pos + 32] | (size_t)b->p[pos + 33] << 8;
        if (nlen == strlen(name) && memcmp(b->p + pos + 46, name, nlen) == 0)
            return pos;
        pos += 46 + nlen + xlen + clen;
    }
    cr_assert_fail("no central record for '%s'", name);
    return 0;
}

#define META "demo-1.0.dist-info/METADATA"

static void expect(const struct blob *b, int want, const char *what)
{
    char *meta = NULL;
    size_t n = 0;
    int rc = extract(b, &meta, &n);

    cr_assert_eq(rc, want, "%s: got '%s', want '%s'", what, imx_strerror(rc),
                 imx_strerror(want));
    free(meta);
}

Test(wheelmeta, hostile_fields)
{
    struct blob b = load("wheels/plain.whl");
    struct blob m = {xmalloc(b.len), b.len};
    size_t e = eocd_of(&b), c = central_of(&b, META);
    size_t local = get32(b.p + c + 42), cd_off = get32(b.p + e + 16);
    size_t other = central_of(&b, "demo/__init__.py");
    struct {
        size_t off;
        int width; /* 2, 4 */
        uint32_t value;
        int want;
        const char *what;
    } cases[] = {
        {c + 20, 4, 0x7fffffff, IMX_ECORRUPT, "compressed size past the central directory"},
        {c + 20, 4, 1, IMX_ECORRUPT, "compressed size too small"},
        {c + 24, 4, 17u << 20, IMX_ETOOLARGE, "uncompressed size above the cap"},
        {c + 24, 4, 3, IMX_ECORRUPT, "uncompressed size too small"},
        {c + 24, 4, 4000, IMX_ECORRUPT, "uncompressed size too large"},
        {c + 16, 4, 0x12345678, IMX_ECORRUPT, "crc mismatch"},
        {c + 8, 2, 1, IMX_ECORRUPT, "encrypted"},
        {c + 10, 2, 12, IMX_ECORRUPT, "bzip2"},
        {c + 10, 2, 0, IMX_ECORRUPT, "stored with csize != usize"},
        {c + 42, 4, (uint32_t)cd_off, IMX_ECORRUPT, "local header in the central directory"},
        {c + 42, 4, (uint32_t)cd_off - 10, IMX_ECORRUPT, "local header overlapping it"},
        {c + 42, 4, 0xfffffff0u, IMX_ECORRUPT, "local header past the end"},
        {c + 42, 4, 0, IMX_ECORRUPT, "local header of another entry"},
        {c + 28, 2, 0xffff, IMX_ECORRUPT, "name past the central directory"},
        {c + 30, 2, 0xfff0, IMX_ECORRUPT, "extra past the central directory"},
        {c + 34, 2, 3, IMX_ECORRUPT, "entry on another disk"},
        {c, 4, 0, IMX_ECORRUPT, "central signature"},
        {local, 4, 0, IMX_ECORRUPT, "local signature"},
        {local + 26, 2, 5, IMX_ECORRUPT, "local name length"},
        {local + 28, 2, 0xffff, IMX_ECORRUPT, "local extra past the central directory"},
        {local + 30, 2, 'X', IMX_ECORRUPT, "local name differs"},
        {e + 16, 4, 0xfffffff0u, IMX_ECORRUPT, "central directory offset past the end"},
        {e + 16, 4, (uint32_t)cd_off + 1, IMX_ECORRUPT, "central directory offset off by one"},
        {e + 12, 4, 65u << 20, IMX_ETOOLARGE, "central directory above the cap"},
        {e + 12, 4, (uint32_t)(e - cd_off + 1), IMX_ECORRUPT, "central directory into the EOCD"},
        {e + 10, 2, 0xffff, IMX_ECORRUPT, "more entries than fit"},
        {e + 8, 2, 0xffff, IMX_ECORRUPT, "entries on this disk differ"},
        {e + 4, 2, 1, IMX_ECORRUPT, "multi-disk"},
        {e + 20, 2, 1, IMX_ECORRUPT, "comment past the end"},
        {other + 46, 2, 'z' | 'z' << 8, 0, "an unrelated entry renamed"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        memcpy(m.p, b.p, b.len);
        if (cases[i].width == 2)
            put16(m.p + cases[i].off, cases[i].value);
        else
            put32(m.p + cases[i].off, cases[i].value);
        expect(&m, cases[i].want, cases[i].what);
    }
    free(m.p);
    free(b.p);
}

static bool allowed(int rc)
{
    return rc == 0 || rc == IMX_ECORRUPT || rc == IMX_ENOTFOUND || rc == IMX_ETOOLARGE;
}

/* Every prefix, every suffix, every byte set to 0x00 / 0xff / +1. */
static void torture(const char *name)
{
    struct blob b = load(name);
    struct blob m = {xmalloc(b.len), 0};
    static const int ops[] = {0x00, 0xff, -1};

    for (size_t cut = 0; cut < b.len; cut++) {
        char *meta = NULL;
        size_t n;
        int rc;

        m.len = cut;
        memcpy(m.p, b.p, cut);
        rc = extract(&m, &meta, &n);
        cr_assert(rc != 0, "%s cut at %zu parses", name, cut);
        cr_assert(allowed(rc), "%s cut at %zu: %s", name, cut, imx_strerror(rc));
        m.len = b.len - cut - 1;
        memcpy(m.p, b.p + cut + 1, m.len);
        rc = extract(&m, &meta, &n);
        cr_assert(allowed(rc), "%s without %zu bytes: %s", name, cut + 1, imx_strerror(rc));
        if (rc == 0)
            free(meta);
    }
    m.len = b.len;
    for (size_t i = 0; i < b.len; i++) {
        for (size_t k = 0; k < ARRAY_SIZE(ops); k++) {
            char *meta = NULL;
            size_t n = 0;
            int rc;

            memcpy(m.p, b.p, b.len);
            m.p[i] = ops[k] < 0 ? (unsigned char)(b.p[i] + 1) : (unsigned char)ops[k];
            rc = extract(&m, &meta, &n);
            cr_assert(allowed(rc), "%s byte %zu: %s", name, i, imx_strerror(rc));
            if (rc == 0) {
                cr_assert(n <= WHEELMETA_MAX_METADATA && meta[n] == '\0');
                free(meta);
            }
        }
    }
    free(m.p);
    free(b.p);
}

Test(wheelmeta, torture_plain)
{
    torture("wheels/plain.whl");
}

Test(wheelmeta, torture_zip64)
{
    torture("wheels/zip64.whl");
}

Test(wheelmeta, torture_stored)
{
    torture("wheels/stored.whl");
}

static int read_fails(void *ctx, uint64_t off, void *dst, size_t len)
{
    UNUSED(ctx);
    UNUSED(off);
    UNUSED(dst);
    UNUSED(len);
    return IMX_EIO;
}

Test(wheelmeta, read_errors_pass_through)
{
    char *meta = NULL;
    size_t n = 0;

    cr_assert_eq(wheelmeta_extract(read_fails, NULL, 1000, &meta, &n), IMX_EIO);
    cr_assert_null(meta);
    cr_assert_eq(wheelmeta_extract(read_fails, NULL, 10, &meta, &n), IMX_ECORRUPT);
}

Test(wheelmeta, read_mem)
{
    struct blob b = load("wheels/plain.whl");
    struct wheelmeta_mem mem = {b.p, b.len};
    char *meta = NULL;
    size_t n = 0;
    unsigned char x;

    cr_assert_eq(wheelmeta_extract(wheelmeta_read_mem, &mem, b.len, &meta, &n), 0);
    cr_assert(n > 0 && strstr(meta, "Name: demo\n") != NULL);
    cr_assert_eq(wheelmeta_read_mem(&mem, b.len, &x, 1), IMX_EIO);
    cr_assert_eq(wheelmeta_read_mem(&mem, b.len, &x, 0), 0);
    free(meta);
    free(b.p);
}

/*
 * A sparse wheel: `gap` virtual zero bytes, then zip64.whl with every
 * offset moved by `gap`, so the METADATA and the central directory lie past
 * 4 GiB and only the ZIP64 fields can say where.
 */
struct sparse {
    uint64_t gap;
    struct blob tail;
};

static int read_sparse(void *ctx, uint64_t off, void *dst, size_t len)
{
    const struct sparse *s = ctx;
    unsigned char *d = dst;

    cr_assert(off <= s->gap + s->tail.len && len <= s->gap + s->tail.len - off);
    for (; len > 0 && off < s->gap; len--, off++)
        *d++ = 0;
    if (len)
        memcpy(d, s->tail.p + (off - s->gap), len);
    return 0;
}

static void shift_zip64(struct blob *b, uint64_t gap, uint64_t *entries_out)
{
    size_t e = b->len - 22, loc = e - 20;
    size_t rec = (size_t)get64(b->p + loc + 8);
    size_t pos = (size_t)get64(b->p + rec + 48);
    uint64_t n = get64(b->p + rec + 32);

    cr_assert(get32(b->p + loc) == 0x07064b50 && get32(b->p + rec) == 0x06064b50);
    put64(b->p + loc + 8, rec + gap);
    put64(b->p + rec + 48, pos + gap);
    for (uint64_t i = 0; i < n; i++) {
        size_t nlen = b->p[pos + 28] | (size_t)b->p[pos + 29] << 8;
        size_t xlen = b->p[pos + 30] | (size_t)b->p[pos + 31] << 8;
        unsigned char *x = b->p + pos + 46 + nlen;
        cr_assert(x[0] == 1 && x[2] == 24); /* make.py puts the ZIP64 field first */
        put64(x + 4 + 16, get64(x + 4 + 16) + gap);
        pos += 46 + nlen + xlen;
    }
    *entries_out = n;
}

Test(wheelmeta, zip64_past_4gib)
{
    struct sparse s = {5ull << 30, load("wheels/zip64.whl")};
    struct blob exp = load("wheels/zip64.METADATA");
    char *meta = NULL;
    size_t n = 0;
    uint64_t entries;
    size_t rec;

    shift_zip64(&s.tail, s.gap, &entries);
    cr_assert_eq(wheelmeta_extract(read_sparse, &s, s.gap + s.tail.len, &meta, &n), 0);
    cr_assert(n == exp.len && memcmp(meta, exp.p, n) == 0);
    free(meta);

    /* The same file read as if the gap were not there: every offset is past the end. */
    cr_assert_eq(wheelmeta_extract(read_checked, &s.tail, s.tail.len, &meta, &n), IMX_ECORRUPT);

    /* Lying ZIP64 counts and sizes. */
    rec = (size_t)get64(s.tail.p + s.tail.len - 42 + 8) - (size_t)s.gap;
    put64(s.tail.p + rec + 32, 2000000);
    put64(s.tail.p + rec + 24, 2000000);
    cr_assert_eq(wheelmeta_extract(read_sparse, &s, s.gap + s.tail.len, &meta, &n),
                 IMX_ETOOLARGE);
    put64(s.tail.p + rec + 32, entries);
    put64(s.tail.p + rec + 24, entries);
    put64(s.tail.p + rec + 40, UINT64_MAX - 5);
    cr_assert_eq(wheelmeta_extract(read_sparse, &s, s.gap + s.tail.len, &meta, &n),
                 IMX_ETOOLARGE);
    put64(s.tail.p + rec + 40, 100);
    put64(s.tail.p + rec + 48, UINT64_MAX - 50);
    cr_assert_eq(wheelmeta_extract(read_sparse, &s, s.gap + s.tail.len, &meta, &n),
                 IMX_ECORRUPT);
    put64(s.tail.p + s.tail.len - 42 + 8, UINT64_MAX - 10);
    cr_assert_eq(wheelmeta_extract(read_sparse, &s, s.gap + s.tail.len, &meta, &n),
                 IMX_ECORRUPT);
    free(exp.p);
    free(s.tail.p);
}
