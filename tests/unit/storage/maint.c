/*
 * Tests for storage/maint.c: bundles round-trip and refuse damage without
 * changing anything; fsck finds a flipped byte and a dangling digest; gc
 * removes unreferenced blobs and evicts least-recently-used ones. Rendered
 * pages are derived data: gc drops those that can never be served, fsck
 * deletes undecodable ones, bundles leave them out.
 */
#include "compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "sha256.h"
#include "storage.h"
#include "unit/storage/helpers.h"
#include "xalloc.h"

static void put_blob(struct stg *s, const char *data, size_t n, char sha[65])
{
    struct stg_blob_writer *w = NULL;

    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, data, n), 0);
    cr_assert_eq(stg_blob_commit(w, NULL, sha), 0);
}

static void put_file(struct stg *s, const char *key, const char *index, const char *project,
                     const char *sha, int64_t last_access)
{
    struct stg_file f = {0};

    f.key = (char *)key;
    f.index = (char *)index;
    f.project = (char *)project;
    f.url = (char *)"https://up.example/x.whl";
    f.filename = (char *)"x-1.0-py3-none-any.whl";
    f.sha256 = (char *)sha;
    f.size = -1;
    f.last_access = last_access;
    cr_assert_eq(stg_file_put(s, &f), 0);
}

static void put_page(struct stg *s, const char *index, const char *project, int64_t fetched_at,
                     const char *body)
{
    struct stg_page p = {0};

    p.state = STG_PAGE_PRESENT;
    p.fetched_at = fetched_at;
    p.url = (char *)"https://up.example/simple/x/";
    p.body = (char *)body;
    p.body_len = strlen(body);
    cr_assert_eq(stg_page_put(s, index, project, &p), 0);
}

/* A store with two indexes, three files (two stored), one unreferenced blob. */
struct fixture {
    char *dir;
    struct stg *s;
    char sha_a[65], sha_b[65], sha_loose[65];
};

static void fixture_make(struct fixture *fx)
{
    fx->dir = th_tmpdir();
    fx->s = th_open(fx->dir, 64ULL << 20, false);
    put_blob(fx->s, "bytes of a", 10, fx->sha_a);
    put_blob(fx->s, "bytes of b!", 11, fx->sha_b);
    put_blob(fx->s, "nobody wants me", 15, fx->sha_loose);
    put_page(fx->s, "pypi", "demo", 100, "page-demo");
    put_page(fx->s, "other", "thing", 100, "page-thing");
    put_file(fx->s, "ka", "pypi", "demo", fx->sha_a, 10);
    put_file(fx->s, "kb", "other", "thing", fx->sha_b, 20);
    put_file(fx->s, "kc", "pypi", "demo", NULL, 0);
}

static void fixture_free(struct fixture *fx)
{
    stg_close(fx->s);
    th_rmrf(fx->dir);
    free(fx->dir);
}

static char *export_to(struct stg *s, const char *dir, const char *const *idx, size_t n)
{
    struct stg_export_opts o = {0};
    struct stg_bundle_stats st;
    struct buf why;
    char *out = xasprintf("%s/bundle.tar", dir);
    int rc;

    buf_init(&why, 4096);
    o.out_path = out;
    o.indexes = idx;
    o.nindexes = n;
    rc = stg_export(s, &o, &st, &why);
    cr_assert_eq(rc, 0, "export: %s: %s", imx_strerror(rc), buf_cstr(&why));
    buf_release(&why);
    return out;
}

static int import_from(struct stg *s, const char *path, struct stg_bundle_stats *st,
                       struct buf *why)
{
    buf_reset(why);
    return stg_import(s, path, st, why);
}

static uint64_t count(struct stg *s, enum stg_db db)
{
    struct stg_stats st;

    cr_assert_eq(stg_stat(s, &st), 0);
    return db == STG_DB_PAGES ? st.pages : st.files;
}

static uint64_t count_blobs(struct stg *s)
{
    struct stg_stats st;

    cr_assert_eq(stg_stat(s, &st), 0);
    return st.blobs;
}

Test(maint, export_import_round_trip_and_twice_is_harmless)
{
    struct fixture fx;
    char *dst_dir = th_tmpdir();
    char *out_dir = th_tmpdir();
    struct stg *d = th_open(dst_dir, 64ULL << 20, false);
    struct stg_bundle_stats st;
    struct stg_file f;
    struct stg_page p;
    struct buf why;
    char *bundle;

    buf_init(&why, 4096);
    fixture_make(&fx);
    bundle = export_to(fx.s, out_dir, NULL, 0);
    cr_assert_eq(th_count_entries(out_dir), 1, "staging or .part left beside the bundle");

    cr_assert_eq(import_from(d, bundle, &st, &why), 0, "%s", buf_cstr(&why));
    cr_assert_eq(st.blobs, 2); /* the unreferenced blob is not carried */
    cr_assert_eq(st.pages, 2);
    cr_assert_eq(st.files, 3);
    cr_assert(stg_blob_exists(d, fx.sha_a));
    cr_assert(stg_blob_exists(d, fx.sha_b));
    cr_assert_not(stg_blob_exists(d, fx.sha_loose));
    cr_assert_eq(stg_file_get(d, "ka", &f), 0);
    cr_assert_str_eq(f.sha256, fx.sha_a);
    cr_assert_eq(f.last_access, 10);
    stg_file_release(&f);
    cr_assert_eq(stg_page_get(d, "pypi", "demo", &p), 0);
    cr_assert_str_eq(p.body, "page-demo");
    stg_page_release(&p);
    cr_assert_eq(th_count_entries(xasprintf("%s/tmp", dst_dir)), 0);

    /* Twice: nothing new. */
    cr_assert_eq(import_from(d, bundle, &st, &why), 0, "%s", buf_cstr(&why));
    cr_assert_eq(st.blobs, 0);
    cr_assert_eq(st.pages, 0);
    cr_assert_eq(st.files, 0);
    cr_assert_eq(count_blobs(d), 2);

    stg_close(d);
    fixture_free(&fx);
    th_rmrf(dst_dir);
    th_rmrf(out_dir);
    free(bundle);
    buf_release(&why);
}

Test(maint, import_merges_newer_pages_and_keeps_stored_digests)
{
    struct fixture fx;
    char *dst_dir = th_tmpdir();
    char *out_dir = th_tmpdir();
    struct stg *d = th_open(dst_dir, 64ULL << 20, false);
    char mine[65];
    struct stg_page p;
    struct stg_file f;
    struct buf why;
    uint64_t demo, thing;
    char *bundle;

    buf_init(&why, 4096);
    fixture_make(&fx);
    put_page(d, "pypi", "demo", 500, "newer-here"); /* newer than the bundle's */
    put_page(d, "other", "thing", 50, "older-here");
    put_blob(d, "stored here", 11, mine);
    put_file(d, "ka", "pypi", "demo", mine, 99);
    put_file(d, "kc", "pypi", NULL, NULL, 7); /* written before records named a project */
    demo = stg_files_gen(d, STG_GEN_STORED, "demo");
    thing = stg_files_gen(d, STG_GEN_STORED, "thing");
    bundle = export_to(fx.s, out_dir, NULL, 0);
    cr_assert_eq(import_from(d, bundle, NULL, &why), 0, "%s", buf_cstr(&why));
    /* kb arrived with its blob: thing's pages change, demo's do not (ka, kc: same digests). */
    cr_assert_eq(stg_files_gen(d, STG_GEN_STORED, "thing"), thing + 1);
    cr_assert_eq(stg_files_gen(d, STG_GEN_STORED, "demo"), demo);
    cr_assert_eq(stg_file_get(d, "kc", &f), 0);
    cr_assert_str_eq(f.project, "demo", "a record of unknown project learns the bundle's");
    stg_file_release(&f);
    cr_assert_eq(stg_page_get(d, "pypi", "demo", &p), 0);
    cr_assert_str_eq(p.body, "newer-here");
    stg_page_release(&p);
    cr_assert_eq(stg_page_get(d, "other", "thing", &p), 0);
    cr_assert_str_eq(p.body, "page-thing");
    stg_page_release(&p);
    cr_assert_eq(stg_file_get(d, "ka", &f), 0);
    cr_assert_str_eq(f.sha256, mine);
    cr_assert_eq(f.last_access, 99);
    stg_file_release(&f);

    stg_close(d);
    fixture_free(&fx);
    th_rmrf(dst_dir);
    th_rmrf(out_dir);
    free(bundle);
    buf_release(&why);
}

Test(maint, export_restricted_to_indexes)
{
    struct fixture fx;
    char *dst_dir = th_tmpdir();
    char *out_dir = th_tmpdir();
    struct stg *d = th_open(dst_dir, 64ULL << 20, false);
    const char *const idx[] = {"pypi"};
    struct stg_file f;
    struct buf why;
    char *bundle;

    buf_init(&why, 4096);
    fixture_make(&fx);
    bundle = export_to(fx.s, out_dir, idx, 1);
    cr_assert_eq(import_from(d, bundle, NULL, &why), 0, "%s", buf_cstr(&why));
    cr_assert_eq(count(d, STG_DB_PAGES), 1);
    cr_assert_eq(count(d, STG_DB_FILES), 2);
    cr_assert(stg_blob_exists(d, fx.sha_a));
    cr_assert_not(stg_blob_exists(d, fx.sha_b));
    cr_assert_eq(stg_file_get(d, "kb", &f), IMX_ENOTFOUND);

    stg_close(d);
    fixture_free(&fx);
    th_rmrf(dst_dir);
    th_rmrf(out_dir);
    free(bundle);
    buf_release(&why);
}

/* ---- damaged bundles ---- */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *p;

    cr_assert_not_null(f);
    cr_assert_eq(fstat(fileno(f), &st), 0);
    p = xmalloc((size_t)st.st_size + 1);
    cr_assert_eq(fread(p, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    *n = (size_t)st.st_size;
    return p;
}

static void spill(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Offset of the header of member `name` (prefix match), or -1. */
static long member_at(const char *t, size_t n, const char *name)
{
    size_t off = 0;

    while (off + 512 <= n && t[off] != '\0') {
        unsigned long long size = strtoull(t + off + 124, NULL, 8);
        if (strncmp(t + off, name, strlen(name)) == 0)
            return (long)off;
        off += 512 + (size_t)((size + 511) / 512 * 512);
    }
    return -1;
}

static void assert_refused(const char *what, const char *bundle, const char *expect_in_why)
{
    char *dst_dir = th_tmpdir();
    struct stg *d = th_open(dst_dir, 64ULL << 20, false);
    char pre[65];
    struct buf why;
    char *tmp;
    int rc;

    buf_init(&why, 4096);
    put_blob(d, "already here", 12, pre);
    put_page(d, "pypi", "kept", 1, "kept");
    rc = import_from(d, bundle, NULL, &why);
    cr_assert_neq(rc, 0, "%s: a damaged bundle was accepted", what);
    cr_assert_not_null(strstr(buf_cstr(&why), expect_in_why), "%s: reason '%s' lacks '%s'", what,
                       buf_cstr(&why), expect_in_why);
    cr_assert_null(strchr(buf_cstr(&why), '\n'), "%s: reason is not one line", what);
    cr_assert_eq(count(d, STG_DB_PAGES), 1, "%s: pages changed", what);
    cr_assert_eq(count(d, STG_DB_FILES), 0, "%s: files changed", what);
    cr_assert_eq(count_blobs(d), 1, "%s: blobs changed", what);
    tmp = xasprintf("%s/tmp", dst_dir);
    cr_assert_eq(th_count_entries(tmp), 0, "%s: staging left in tmp/", what);
    free(tmp);
    stg_close(d);
    th_rmrf(dst_dir);
    free(dst_dir);
    buf_release(&why);
}

Test(maint, damaged_bundles_are_refused_and_change_nothing)
{
    struct fixture fx;
    char *out_dir = th_tmpdir();
    char *bundle, *bad;
    size_t n;
    char *t, *c;
    long off;

    fixture_make(&fx);
    bundle = export_to(fx.s, out_dir, NULL, 0);
    t = slurp(bundle, &n);
    bad = xasprintf("%s/bad.tar", out_dir);

    /* Truncated in the middle of a member. */
    spill(bad, t, n / 2 + 7);
    assert_refused("truncated", bad, "truncated");

    /* Truncated at a block boundary: no end-of-archive marker. */
    spill(bad, t, n - 1024);
    assert_refused("no end marker", bad, "truncated");

    /* A header checksum that does not add up. */
    c = xmemdup(t, n);
    off = member_at(c, n, "blobs/");
    cr_assert_geq(off, 0);
    c[off + 100] ^= 1; /* mode field */
    spill(bad, c, n);
    free(c);
    assert_refused("bad checksum", bad, "checksum");

    /* A blob whose bytes do not match its name (one flipped byte). */
    c = xmemdup(t, n);
    off = member_at(c, n, "blobs/");
    c[off + 512] ^= 0x20;
    spill(bad, c, n);
    free(c);
    assert_refused("flipped blob", bad, "content hashes to");

    /* Missing manifest: cut it off and end the archive properly. */
    c = xcalloc(1, n);
    off = member_at(t, n, "manifest");
    cr_assert_geq(off, 0);
    memcpy(c, t, (size_t)off);
    spill(bad, c, (size_t)off + 1024);
    free(c);
    assert_refused("missing manifest", bad, "missing manifest");

    /* A damaged metadata copy (the manifest's hash catches it). */
    c = xmemdup(t, n);
    off = member_at(c, n, "index.lmdb/data.mdb");
    cr_assert_geq(off, 0);
    c[off + 512 + 100] ^= 0x55;
    spill(bad, c, n);
    free(c);
    assert_refused("lmdb", bad, "metadata copy");

    /* Not a tar at all. */
    spill(bad, "hello, world\n", 13);
    assert_refused("not tar", bad, "truncated");

    fixture_free(&fx);
    th_rmrf(out_dir);
    free(t);
    free(bad);
    free(bundle);
}

/* ---- fsck ---- */

static void collect_lines(void *ctx, const char *line)
{
    struct buf *b = ctx;
    buf_appends(b, line);
    buf_putc(b, '\n');
}

Test(maint, fsck_finds_flipped_byte_and_dangling_record)
{
    struct fixture fx;
    struct stg_fsck_result r;
    struct stg_file f;
    struct buf lines;
    char *path, *q;
    FILE *fp;
    int ch;

    buf_init(&lines, 1 << 20);
    fixture_make(&fx);
    cr_assert_eq(stg_fsck(fx.s, collect_lines, &lines, &r), 0);
    cr_assert_eq(r.bad_blobs + r.bad_records + r.dangling, 0, "clean store: %s",
                 buf_cstr(&lines));
    cr_assert_eq(r.blobs, 3);

    /* Flip one byte of blob a; remove blob b behind the records' back. */
    path = stg_blob_path(fx.s, fx.sha_a);
    fp = fopen(path, "r+b");
    cr_assert_not_null(fp);
    ch = fgetc(fp);
    fseek(fp, 0, SEEK_SET);
    fputc(ch ^ 1, fp);
    fclose(fp);
    cr_assert_eq(stg_blob_remove(fx.s, fx.sha_b), 0);

    buf_reset(&lines);
    cr_assert_eq(stg_fsck(fx.s, collect_lines, &lines, &r), 0);
    cr_assert_eq(r.bad_blobs, 1, "%s", buf_cstr(&lines));
    cr_assert_eq(r.dangling, 2, "%s", buf_cstr(&lines)); /* b, and a once quarantined */
    cr_assert_not_null(strstr(buf_cstr(&lines), fx.sha_a));
    cr_assert_not_null(strstr(buf_cstr(&lines), fx.sha_b));
    q = xasprintf("%s/quarantine/%s", fx.dir, fx.sha_a);
    cr_assert_eq(access(q, F_OK), 0, "bad blob not quarantined");
    cr_assert_neq(access(path, F_OK), 0, "bad blob still in blobs/");
    cr_assert_eq(stg_file_get(fx.s, "kb", &f), 0);
    cr_assert_null(f.sha256, "dangling digest not cleared");
    stg_file_release(&f);

    /* Repaired: a second run is clean. */
    buf_reset(&lines);
    cr_assert_eq(stg_fsck(fx.s, collect_lines, &lines, &r), 0);
    cr_assert_eq(r.bad_blobs + r.bad_records + r.dangling, 0, "%s", buf_cstr(&lines));

    free(path);
    free(q);
    fixture_free(&fx);
    buf_release(&lines);
}

Test(maint, fsck_reports_a_record_that_does_not_decode)
{
    struct fixture fx;
    struct stg_fsck_result r;

    fixture_make(&fx);
    cr_assert_eq(stg_put(fx.s, STG_DB_PAGES, "pypi\nbroken", 11, "\x07junk", 5), 0);
    cr_assert_eq(stg_fsck(fx.s, NULL, NULL, &r), 0);
    cr_assert_eq(r.bad_records, 1);
    fixture_free(&fx);
}

/* ---- gc ---- */

Test(maint, gc_removes_unreferenced_and_evicts_lru)
{
    char *dir = th_tmpdir();
    struct stg *s = th_open(dir, 64ULL << 20, false);
    struct stg_gc_opts o = {0};
    struct stg_gc_result r;
    char sha[4][65], loose[65];
    char data[1000];
    struct stg_file f;
    char *tmpf;
    int fd;

    for (int i = 0; i < 4; i++) {
        char key[8];
        memset(data, 'a' + i, sizeof(data));
        put_blob(s, data, sizeof(data), sha[i]);
        snprintf(key, sizeof(key), "k%d", i);
        put_file(s, key, "pypi", "demo", sha[i], 100 + (i == 0 ? 50 : i)); /* k1 oldest */
    }
    put_blob(s, "loose", 5, loose);
    tmpf = xasprintf("%s/tmp/blob-leftover", dir);
    fd = open(tmpf, O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    close(fd);

    /* A young unreferenced blob (a commit in flight in a server) is spared. */
    o.min_age = 3600;
    cr_assert_eq(stg_gc(s, &o, &r), 0);
    cr_assert_eq(r.unreferenced, 0);
    cr_assert_eq(r.tmp_removed, 0);
    cr_assert(stg_blob_exists(s, loose));

    o.min_age = 0;
    o.max_bytes = 2500;
    cr_assert_eq(stg_gc(s, &o, &r), 0);
    cr_assert_eq(r.unreferenced, 1);
    cr_assert_eq(r.tmp_removed, 1);
    cr_assert_eq(r.evicted, 2);
    cr_assert_eq(r.blob_bytes, 2000);
    cr_assert_not(stg_blob_exists(s, loose));
    cr_assert_not(stg_blob_exists(s, sha[1]));
    cr_assert_not(stg_blob_exists(s, sha[2]));
    cr_assert(stg_blob_exists(s, sha[0]));
    cr_assert(stg_blob_exists(s, sha[3]));
    cr_assert_eq(stg_file_get(s, "k1", &f), 0);
    cr_assert_null(f.sha256, "evicted file still claims its bytes");
    stg_file_release(&f);
    cr_assert_eq(stg_file_get(s, "k0", &f), 0);
    cr_assert_str_eq(f.sha256, sha[0]);
    stg_file_release(&f);

    /* Under the limit: nothing more goes. */
    cr_assert_eq(stg_gc(s, &o, &r), 0);
    cr_assert_eq(r.evicted + r.unreferenced, 0);

    stg_close(s);
    th_rmrf(dir);
    free(dir);
    free(tmpf);
}

Test(maint, index_stats_and_in_use)
{
    struct fixture fx;
    struct stg_index_stats *v = NULL;
    size_t n = 0;
    bool in_use = false;

    fixture_make(&fx);
    cr_assert_eq(stg_index_stats(fx.s, &v, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].index, "other");
    cr_assert_eq(v[0].stored_files, 1);
    cr_assert_eq(v[0].stored_bytes, 11);
    cr_assert_str_eq(v[1].index, "pypi");
    cr_assert_eq(v[1].pages, 1);
    cr_assert_eq(v[1].files, 2);
    cr_assert_eq(v[1].stored_files, 1);
    stg_index_stats_free(v, n);

    cr_assert_eq(stg_in_use(fx.dir, &in_use), 0);
    cr_assert(in_use);
    stg_close(fx.s);
    fx.s = NULL;
    cr_assert_eq(stg_in_use(fx.dir, &in_use), 0);
    cr_assert_not(in_use);
    fixture_free(&fx);
}

/* ---- rendered pages: derived data ---- */

static void put_rendered(struct stg *s, const char *key, enum stg_gen kind, const char *project,
                         uint64_t gen)
{
    struct stg_rendered r = {0};

    r.fingerprint = (char *)"fp";
    r.gen_kind = kind;
    r.project = (char *)project;
    r.files_gen = gen;
    r.stamps = (char *)"stamps";
    r.etag = (char *)"\"e\"";
    r.body = (char *)"rendered bytes";
    r.body_len = 14;
    cr_assert_eq(stg_rendered_put(s, key, &r), 0);
}

static bool has_rendered(struct stg *s, const char *key)
{
    struct stg_rendered r;
    int rc = stg_rendered_get(s, key, false, &r);

    if (rc == 0)
        stg_rendered_release(&r);
    return rc == 0;
}

#define GEN(s, g, p) stg_files_gen((s), STG_GEN_##g, (p))

Test(maint, gc_drops_renderings_that_can_never_be_served)
{
    struct fixture fx;
    struct stg_gc_opts o = {0};
    struct stg_gc_result r;
    uint64_t learned, stored, thing;
    /* A schema 2 rendering (V1): current global value, but no project. */
    static const char v1[] = "\x01" "\0\0\0\0\0\0\0\0" "\x02\0\0\0fp" "\x01"
                             "\x01\0\0\0\0\0\0\0" "\x01\0\0\0s" "\0\0\0\0"
                             "\x01\0\0\0e" "\x01\0\0\0b" "\xff\xff\xff\xff";
    struct stg_rendered dec;

    cr_assert_neq(th_bucket_of("demo"), th_bucket_of("thing"));
    cr_assert_neq(th_bucket_of("demo"), th_bucket_of("bystander"));
    cr_assert_neq(th_bucket_of("thing"), th_bucket_of("bystander"));
    fixture_make(&fx);
    learned = GEN(fx.s, LEARNED, "demo");
    stored = GEN(fx.s, STORED, "demo");
    thing = GEN(fx.s, STORED, "thing");
    cr_assert_eq(learned, 1, "ka (demo) got a sha256 its page did not give");
    cr_assert_eq(GEN(fx.s, LEARNED, "bystander"), 0);
    put_rendered(fx.s, "online-now", STG_GEN_LEARNED, "demo", learned);
    put_rendered(fx.s, "online-old", STG_GEN_LEARNED, "demo", learned - 1);
    put_rendered(fx.s, "online-other", STG_GEN_LEARNED, "bystander", learned);
    put_rendered(fx.s, "offline-now", STG_GEN_STORED, "demo", stored);
    put_rendered(fx.s, "offline-old", STG_GEN_STORED, "demo", stored + 5);
    put_rendered(fx.s, "bystander", STG_GEN_STORED, "bystander", GEN(fx.s, STORED, "bystander"));
    put_rendered(fx.s, "list", STG_GEN_NONE, NULL, 0);
    cr_assert_eq(stg_put(fx.s, STG_DB_RENDERED, "junk", 4, "\x05", 1), 0);
    cr_assert_eq(stg_rendered_decode(v1, sizeof(v1) - 1, false, &dec), 0, "V1 still decodes");
    cr_assert_null(dec.project);
    cr_assert_eq(dec.files_gen, 1);
    stg_rendered_release(&dec);
    cr_assert_eq(stg_put(fx.s, STG_DB_RENDERED, "schema2", 7, v1, sizeof(v1) - 1), 0);

    cr_assert_eq(stg_gc(fx.s, &o, &r), 0);
    cr_assert_eq(r.rendered_dropped, 5);
    cr_assert(has_rendered(fx.s, "online-now"));
    cr_assert(has_rendered(fx.s, "offline-now"));
    cr_assert(has_rendered(fx.s, "bystander"));
    cr_assert(has_rendered(fx.s, "list"));
    cr_assert_not(has_rendered(fx.s, "online-old"));
    cr_assert_not(has_rendered(fx.s, "offline-old"));
    cr_assert_not(has_rendered(fx.s, "online-other"), "demo's value is not bystander's");
    cr_assert_not(has_rendered(fx.s, "junk"));
    cr_assert_not(has_rendered(fx.s, "schema2"), "a rendering naming no project is never current");

    /*
     * Evicting stored files clears their digests: STORED moves, and so does
     * LEARNED (the fixture's pages gave no sha256: online pages showed the
     * computed one), for the project of each record: demo's renderings die
     * with them, the list and another project's do not.
     */
    o.max_bytes = 1;
    cr_assert_eq(stg_gc(fx.s, &o, &r), 0);
    cr_assert_eq(r.evicted, 2);
    cr_assert_eq(GEN(fx.s, STORED, "demo"), stored + 1, "ka is demo's");
    cr_assert_eq(GEN(fx.s, LEARNED, "demo"), learned + 1);
    cr_assert_eq(GEN(fx.s, STORED, "thing"), thing + 1, "kb is thing's");
    cr_assert_eq(GEN(fx.s, STORED, "bystander"), 0);
    cr_assert_eq(r.rendered_dropped, 2);
    cr_assert_not(has_rendered(fx.s, "offline-now"));
    cr_assert_not(has_rendered(fx.s, "online-now"));
    cr_assert(has_rendered(fx.s, "bystander"));
    cr_assert(has_rendered(fx.s, "list"));
    fixture_free(&fx);
}

Test(maint, fsck_deletes_undecodable_renderings_on_a_writable_store)
{
    struct fixture fx;
    struct stg_fsck_result r;
    struct buf raw;
    struct stg *ro;

    fixture_make(&fx);
    put_rendered(fx.s, "good", STG_GEN_NONE, NULL, 0);
    cr_assert_eq(stg_put(fx.s, STG_DB_RENDERED, "bad", 3, "\x01\x02", 2), 0);

    ro = th_open(fx.dir, 0, true);
    cr_assert_eq(stg_fsck(ro, NULL, NULL, &r), 0);
    cr_assert_eq(r.rendered, 2);
    cr_assert_eq(r.bad_rendered, 1);
    cr_assert_eq(r.bad_records, 0, "renderings are not page or file records");
    stg_close(ro);
    buf_init(&raw, BUF_NOMAX);
    cr_assert_eq(stg_get(fx.s, STG_DB_RENDERED, "bad", 3, &raw), 0, "read-only fsck leaves it");
    buf_release(&raw);

    cr_assert_eq(stg_fsck(fx.s, NULL, NULL, &r), 0);
    cr_assert_eq(r.bad_rendered, 1);
    cr_assert_eq(stg_fsck(fx.s, NULL, NULL, &r), 0);
    cr_assert_eq(r.rendered, 1);
    cr_assert_eq(r.bad_rendered, 0, "deleted by the writable fsck");
    cr_assert(has_rendered(fx.s, "good"));
    fixture_free(&fx);
}

Test(maint, fsck_checks_the_stored_body_sha256)
{
    struct fixture fx;
    struct stg_fsck_result r;
    struct buf raw;

    fixture_make(&fx);
    buf_init(&raw, BUF_NOMAX);
    cr_assert_eq(stg_get(fx.s, STG_DB_PAGES, "pypi\ndemo", 9, &raw), 0);
    raw.p[raw.len - 1 - 64 - 4] ^= 1; /* a byte of the body, just before the sha256 */
    cr_assert_eq(stg_put(fx.s, STG_DB_PAGES, "pypi\ndemo", 9, raw.p, raw.len), 0);
    cr_assert_eq(stg_fsck(fx.s, NULL, NULL, &r), 0);
    cr_assert_eq(r.bad_records, 1);
    buf_release(&raw);
    fixture_free(&fx);
}

/* Extract member `name` of a bundle into path. */
static void extract_member(const char *bundle, const char *name, const char *path)
{
    size_t n = 0;
    char *t = slurp(bundle, &n);
    long at = member_at(t, n, name);

    cr_assert_geq(at, 0, "no member '%s'", name);
    spill(path, t + at + 512, (size_t)strtoull(t + at + 124, NULL, 8));
    free(t);
}

Test(maint, export_leaves_renderings_out)
{
    struct fixture fx;
    char *out_dir = th_tmpdir();
    char *dst_dir = th_tmpdir();
    char *lmdb = xasprintf("%s/index.lmdb", dst_dir);
    char *data = xasprintf("%s/data.mdb", lmdb);
    const char *const idx[] = {"pypi"};
    struct stg_stats st;
    struct stg *copy;
    char *bundle;

    fixture_make(&fx);
    put_rendered(fx.s, "default\ndemo\n1\n2", STG_GEN_NONE, NULL, 0);
    for (int pass = 0; pass < 2; pass++) {
        bundle = export_to(fx.s, out_dir, idx, pass == 0 ? 0 : 1);
        cr_assert_eq(th_count_entries(out_dir), 1, "the stage is removed");
        cr_assert_eq(mkdir(lmdb, 0755), 0);
        extract_member(bundle, "index.lmdb/data.mdb", data);
        copy = th_open(dst_dir, 0, true);
        cr_assert_eq(stg_stat(copy, &st), 0);
        cr_assert_eq(st.rendered, 0);
        cr_assert_eq(st.pages, pass == 0 ? 2 : 1);
        stg_close(copy);
        th_rmrf(lmdb);
        unlink(bundle);
        free(bundle);
    }
    cr_assert(has_rendered(fx.s, "default\ndemo\n1\n2"), "the store keeps its own");
    fixture_free(&fx);
    th_rmrf(out_dir);
    th_rmrf(dst_dir);
    free(out_dir);
    free(dst_dir);
    free(lmdb);
    free(data);
}

Test(maint, import_refuses_a_page_whose_stored_sha256_is_not_its_body)
{
    struct fixture fx;
    char *out_dir = th_tmpdir();
    char *bundle;
    struct buf raw;

    fixture_make(&fx);
    buf_init(&raw, BUF_NOMAX);
    cr_assert_eq(stg_get(fx.s, STG_DB_PAGES, "pypi\ndemo", 9, &raw), 0);
    raw.p[raw.len - 1 - 64 - 4] ^= 1; /* the body's last byte: the stored sha256 now lies */
    cr_assert_eq(stg_put(fx.s, STG_DB_PAGES, "pypi\ndemo", 9, raw.p, raw.len), 0);
    bundle = export_to(fx.s, out_dir, NULL, 0);
    assert_refused("page hash", bundle, "page record(s) do not decode");
    buf_release(&raw);
    free(bundle);
    fixture_free(&fx);
    th_rmrf(out_dir);
    free(out_dir);
}
