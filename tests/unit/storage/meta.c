/*
 * Tests for storage/meta.c: layout, generic records, map full, threads,
 * stale readers, read-only mode, stats and compact copies. Every test opens
 * its own store in its own temp dir (criterion forks; LMDB must not).
 */
#include "compat.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "storage.h"
#include "unit/storage/helpers.h"
#include "xalloc.h"

static int get_str(struct stg *s, enum stg_db db, const char *k, struct buf *b)
{
    return stg_get(s, db, k, strlen(k), b);
}

static int put_str(struct stg *s, enum stg_db db, const char *k, const char *v)
{
    return stg_put(s, db, k, strlen(k), v, strlen(v));
}

Test(meta, open_creates_layout)
{
    char *d = th_tmpdir();
    char *sub = xasprintf("%s/new/data", d);
    struct stg *s = th_open(sub, 0, false);
    char *p;
    struct buf b;

    cr_assert_str_eq(stg_data_dir(s), sub);
    p = xasprintf("%s/index.lmdb", sub);
    cr_assert(th_is_dir(p));
    free(p);
    p = xasprintf("%s/index.lmdb/data.mdb", sub);
    cr_assert_eq(access(p, F_OK), 0);
    free(p);
    p = xasprintf("%s/blobs", sub);
    cr_assert(th_is_dir(p));
    free(p);
    p = xasprintf("%s/tmp", sub);
    cr_assert(th_is_dir(p));
    free(p);

    buf_init(&b, 64);
    cr_assert_eq(get_str(s, STG_DB_META, "schema_version", &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "3");
    buf_release(&b);
    stg_close(s);
    th_rmrf(d);
    free(sub);
    free(d);
}

Test(meta, open_rejects_missing_dir_name)
{
    struct stg_opts o = {.data_dir = ""};
    struct stg *s = (struct stg *)0x1;
    cr_assert_eq(stg_open(&o, &s), IMX_EINVAL);
    cr_assert_eq(s, (struct stg *)0x1, "out untouched on failure");
    stg_close(NULL);
}

Test(meta, reopen_keeps_data)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct buf b;

    cr_assert_eq(put_str(s, STG_DB_RENDERED, "k", "value"), 0);
    stg_close(s);
    s = th_open(d, 0, false);
    buf_init(&b, 64);
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "k", &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "value");
    cr_assert_eq(get_str(s, STG_DB_PAGES, "k", &b), IMX_ENOTFOUND, "databases are separate");
    buf_release(&b);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(meta, tmp_leftovers_removed_at_open_but_not_read_only)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char *tmp = xasprintf("%s/tmp", d);
    char *f1 = xasprintf("%s/tmp/blob-AAAAAA", d);
    char *f2 = xasprintf("%s/tmp/other", d);
    int fd;

    stg_close(s);
    fd = open(f1, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "junk", 4), 4);
    close(fd);
    fd = open(f2, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(th_count_entries(tmp), 2);

    s = th_open(d, 0, true);
    cr_assert_eq(th_count_entries(tmp), 2, "read-only open leaves tmp/ alone");
    stg_close(s);

    s = th_open(d, 0, false);
    cr_assert_eq(th_count_entries(tmp), 0);
    stg_close(s);
    th_rmrf(d);
    free(tmp);
    free(f1);
    free(f2);
    free(d);
}

Test(meta, put_get_del)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct buf b;
    const char bin[] = {'a', '\0', 'b', '\xff'};

    buf_init(&b, 1024);
    cr_assert_eq(get_str(s, STG_DB_META, "nope", &b), IMX_ENOTFOUND);
    cr_assert_eq(stg_put(s, STG_DB_RENDERED, bin, sizeof(bin), bin, sizeof(bin)), 0);
    cr_assert_eq(stg_get(s, STG_DB_RENDERED, bin, sizeof(bin), &b), 0);
    cr_assert_eq(b.len, sizeof(bin));
    cr_assert_arr_eq(b.p, bin, sizeof(bin));

    cr_assert_eq(put_str(s, STG_DB_RENDERED, "x", "one"), 0);
    cr_assert_eq(put_str(s, STG_DB_RENDERED, "x", "two"), 0, "put replaces");
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "x", &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "two");

    cr_assert_eq(stg_put(s, STG_DB_RENDERED, "empty", 5, NULL, 0), 0, "empty value");
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "empty", &b), 0);
    cr_assert_eq(b.len, 0);

    cr_assert_eq(stg_del(s, STG_DB_RENDERED, "x", 1), 0);
    cr_assert_eq(stg_del(s, STG_DB_RENDERED, "x", 1), IMX_ENOTFOUND);
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "x", &b), IMX_ENOTFOUND);
    cr_assert_eq(b.len, 0);
    buf_release(&b);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(meta, bad_keys_are_einval)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char big[STG_MAX_KEY + 1];
    struct buf b;

    memset(big, 'k', sizeof(big));
    buf_init(&b, 64);
    cr_assert_eq(stg_put(s, STG_DB_META, "", 0, "v", 1), IMX_EINVAL);
    cr_assert_eq(stg_get(s, STG_DB_META, "", 0, &b), IMX_EINVAL);
    cr_assert_eq(stg_put(s, STG_DB_META, big, sizeof(big), "v", 1), IMX_EINVAL);
    cr_assert_eq(stg_put(s, STG_DB_META, big, STG_MAX_KEY, "v", 1), 0, "the longest key is fine");
    cr_assert_eq(stg_get(s, STG_DB_META, big, STG_MAX_KEY, &b), 0);
    cr_assert_eq(stg_del(s, STG_DB_META, big, sizeof(big)), IMX_EINVAL);
    buf_release(&b);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(meta, get_too_large_for_buf)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char val[100];
    struct buf b;

    memset(val, 'v', sizeof(val));
    cr_assert_eq(stg_put(s, STG_DB_RENDERED, "k", 1, val, sizeof(val)), 0);
    buf_init(&b, 10);
    cr_assert_eq(stg_get(s, STG_DB_RENDERED, "k", 1, &b), IMX_ETOOLARGE);
    cr_assert_eq(b.len, 0);
    buf_release(&b);
    buf_init(&b, 100);
    cr_assert_eq(stg_get(s, STG_DB_RENDERED, "k", 1, &b), 0, "exactly the cap fits");
    buf_release(&b);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

struct collect {
    struct buf keys;
    int calls;
    int stop_after;
};

static int collect_cb(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct collect *c = ctx;

    buf_append(&c->keys, k, klen);
    buf_putc(&c->keys, '=');
    buf_append(&c->keys, v, vlen);
    buf_putc(&c->keys, ';');
    c->calls++;
    if (c->stop_after > 0 && c->calls == c->stop_after)
        return 42;
    return 0;
}

Test(meta, foreach_with_prefix)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct collect c = {.stop_after = 0};

    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi\nb", "2"), 0);
    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi\na", "1"), 0);
    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi2\nz", "3"), 0);
    cr_assert_eq(put_str(s, STG_DB_PAGES, "corp\nq", "4"), 0);
    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi\n", "L"), 0);

    buf_init(&c.keys, BUF_NOMAX);
    cr_assert_eq(stg_foreach(s, STG_DB_PAGES, "pypi\n", 5, collect_cb, &c), 0);
    cr_assert_str_eq(buf_cstr(&c.keys), "pypi\n=L;pypi\na=1;pypi\nb=2;");

    buf_reset(&c.keys);
    c.calls = 0;
    cr_assert_eq(stg_foreach(s, STG_DB_PAGES, NULL, 0, collect_cb, &c), 0);
    cr_assert_eq(c.calls, 5, "all records without a prefix");
    cr_assert_str_eq(buf_cstr(&c.keys), "corp\nq=4;pypi\n=L;pypi\na=1;pypi\nb=2;pypi2\nz=3;");

    buf_reset(&c.keys);
    c.calls = 0;
    c.stop_after = 2;
    cr_assert_eq(stg_foreach(s, STG_DB_PAGES, "pypi", 4, collect_cb, &c), 42, "fn's value stops");
    cr_assert_eq(c.calls, 2);

    buf_reset(&c.keys);
    c.calls = 0;
    c.stop_after = 0;
    cr_assert_eq(stg_foreach(s, STG_DB_PAGES, "zzz", 3, collect_cb, &c), 0);
    cr_assert_eq(c.calls, 0);
    cr_assert_eq(stg_foreach(s, STG_DB_FILES, NULL, 0, collect_cb, &c), 0, "empty db");
    cr_assert_eq(c.calls, 0);
    buf_release(&c.keys);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(meta, map_full_is_emapfull_and_store_stays_readable)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 1 << 20, false);
    size_t vlen = 64 * 1024;
    char *val = xmalloc(vlen);
    char key[32];
    struct buf b;
    int rc = 0;
    int n;

    memset(val, 'x', vlen);
    for (n = 0; n < 100; n++) {
        snprintf(key, sizeof(key), "key-%03d", n);
        rc = stg_put(s, STG_DB_RENDERED, key, strlen(key), val, vlen);
        if (rc != 0)
            break;
    }
    cr_assert_eq(rc, IMX_EMAPFULL, "got %s after %d puts", imx_strerror(rc), n);
    cr_assert_gt(n, 0);

    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "key-000", &b), 0, "earlier records still there");
    cr_assert_eq(b.len, vlen);
    snprintf(key, sizeof(key), "key-%03d", n);
    cr_assert_eq(get_str(s, STG_DB_RENDERED, key, &b), IMX_ENOTFOUND, "failed put left nothing");
    cr_assert_eq(stg_put(s, STG_DB_RENDERED, key, strlen(key), val, vlen), IMX_EMAPFULL,
                 "still full, still no abort");
    cr_assert_eq(stg_del(s, STG_DB_RENDERED, "key-000", 7), 0, "deleting still works");
    stg_close(s);

    s = th_open(d, 1 << 20, false);
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "key-001", &b), 0, "reopens after full");
    buf_release(&b);
    stg_close(s);
    free(val);
    th_rmrf(d);
    free(d);
}

#define NTHREADS 4
#define NKEYS 150

struct writer_arg {
    struct stg *s;
    int id;
    int failures;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    char key[32], val[32];
    struct buf b;

    buf_init(&b, 64);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "t%d-k%03d", a->id, i);
        snprintf(val, sizeof(val), "v%d.%d", a->id, i);
        if (stg_put(a->s, STG_DB_RENDERED, key, strlen(key), val, strlen(val)) != 0)
            a->failures++;
        /* Interleave reads with other threads' writes. */
        if (stg_get(a->s, STG_DB_RENDERED, key, strlen(key), &b) != 0 || strcmp(b.p, val) != 0)
            a->failures++;
    }
    buf_release(&b);
    return NULL;
}

static int count_cb(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    (*(int *)ctx)++;
    return 0;
}

Test(meta, concurrent_writers_all_land)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    pthread_t th[NTHREADS];
    struct writer_arg args[NTHREADS];
    struct stg_stats st;
    int total = 0;

    for (int i = 0; i < NTHREADS; i++) {
        args[i] = (struct writer_arg){.s = s, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, writer_main, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].failures, 0, "thread %d", i);
    }
    cr_assert_eq(stg_foreach(s, STG_DB_RENDERED, NULL, 0, count_cb, &total), 0);
    cr_assert_eq(total, NTHREADS * NKEYS);
    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.rendered, NTHREADS * NKEYS);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

/* Runs in a forked child: dies inside a read transaction, leaving its slot. */
static int die_cb(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    _exit(7);
}

/*
 * LMDB resets the reader table when the first process opens the env, so a
 * stale slot only survives while another process has the env open: child
 * "holder" keeps a read-only store open, child "victim" dies inside a read
 * transaction, then this process opens the store (nothing LMDB is open here
 * across any fork).
 */
Test(meta, stale_reader_is_cleared_at_open)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_stats st;
    struct buf b;
    int ready[2], release[2];
    pid_t holder, victim;
    int status = 0;
    int cleared = -1;
    char c = 0;

    cr_assert_eq(put_str(s, STG_DB_RENDERED, "k", "v"), 0);
    stg_close(s);
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(release), 0);

    holder = fork();
    cr_assert_geq(holder, 0);
    if (holder == 0) {
        struct stg_opts o = {.data_dir = d, .read_only = true};
        struct stg *hs = NULL;
        char r = 0;
        if (stg_open(&o, &hs) != 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1 || read(release[0], &r, 1) != 1)
            _exit(2);
        stg_close(hs);
        _exit(0);
    }
    cr_assert_eq(read(ready[0], &c, 1), 1, "holder opened the store");

    victim = fork();
    cr_assert_geq(victim, 0);
    if (victim == 0) {
        struct stg_opts o = {.data_dir = d};
        struct stg *vs = NULL;
        if (stg_open(&o, &vs) != 0)
            _exit(1);
        stg_foreach(vs, STG_DB_RENDERED, NULL, 0, die_cb, NULL);
        _exit(2);
    }
    cr_assert_eq(waitpid(victim, &status, 0), victim);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 7, "victim died inside the read transaction");

    s = th_open(d, 0, false);
    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.readers_cleared, 1, "the victim's slot was cleared at open");
    cr_assert_eq(stg_reader_check(s, &cleared), 0);
    cr_assert_eq(cleared, 0, "already cleared at open");
    buf_init(&b, 16);
    cr_assert_eq(get_str(s, STG_DB_RENDERED, "k", &b), 0);
    cr_assert_eq(put_str(s, STG_DB_RENDERED, "k2", "v2"), 0);
    buf_release(&b);

    cr_assert_eq(write(release[1], "x", 1), 1);
    cr_assert_eq(waitpid(holder, &status, 0), holder);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "holder exited cleanly");
    close(ready[0]);
    close(ready[1]);
    close(release[0]);
    close(release[1]);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(meta, read_only_mode)
{
    char *d = th_tmpdir();
    char *missing = xasprintf("%s/none", d);
    struct stg_opts o = {.data_dir = missing, .read_only = true};
    struct stg *s = NULL;
    struct stg *ro;
    struct buf b;

    cr_assert_eq(stg_open(&o, &s), IMX_ENOTFOUND);
    cr_assert_null(s);
    cr_assert_eq(access(missing, F_OK), -1, "read-only creates nothing");

    s = th_open(d, 0, false);
    cr_assert_eq(put_str(s, STG_DB_RENDERED, "k", "v"), 0);
    ro = th_open(d, 0, true); /* beside the read-write one, like stats during serving */
    buf_init(&b, 16);
    cr_assert_eq(get_str(ro, STG_DB_RENDERED, "k", &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "v");
    cr_assert_eq(put_str(ro, STG_DB_RENDERED, "k", "w"), IMX_EIO);
    cr_assert_eq(put_str(s, STG_DB_RENDERED, "k2", "later"), 0);
    cr_assert_eq(get_str(ro, STG_DB_RENDERED, "k2", &b), 0, "sees later commits");
    buf_release(&b);
    stg_close(ro);
    stg_close(s);
    th_rmrf(d);
    free(missing);
    free(d);
}

Test(meta, second_read_write_open_is_refused)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_opts o = {.data_dir = d};
    struct stg *s2 = NULL;

    cr_assert_eq(stg_open(&o, &s2), IMX_EIO);
    cr_assert_null(s2);
    stg_close(s);
    s2 = th_open(d, 0, false);
    stg_close(s2);
    th_rmrf(d);
    free(d);
}

Test(meta, newer_schema_is_refused)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_opts o = {.data_dir = d};

    cr_assert_eq(put_str(s, STG_DB_META, "schema_version", "999"), 0);
    stg_close(s);
    s = NULL;
    cr_assert_eq(stg_open(&o, &s), IMX_ECORRUPT);
    cr_assert_null(s);
    th_rmrf(d);
    free(d);
}

Test(meta, stat_counts)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_blob_writer *w = NULL;
    struct stg_stats st;
    char sha[65];

    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi\na", "x"), 0);
    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi\nb", "x"), 0);
    cr_assert_eq(put_str(s, STG_DB_FILES, "f1", "x"), 0);
    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, "hello", 5), 0);
    cr_assert_eq(stg_blob_commit(w, NULL, sha), 0);
    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, "world!", 6), 0);
    cr_assert_eq(stg_blob_commit(w, NULL, sha), 0);

    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.pages, 2);
    cr_assert_eq(st.files, 1);
    cr_assert_eq(st.rendered, 0);
    cr_assert_eq(st.blobs, 2);
    cr_assert_eq(st.blob_bytes, 11);
    cr_assert_eq(st.map_size, 64ULL << 30);
    cr_assert_gt(st.map_used, 0);
    cr_assert_leq(st.map_used, st.map_size);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(meta, copy_compact)
{
    char *d = th_tmpdir();
    char *copy_root = xasprintf("%s/copy", d);
    char *dest = xasprintf("%s/copy/index.lmdb", d);
    struct stg *s = th_open(d, 0, false);
    struct stg *c;
    struct buf b;

    cr_assert_eq(put_str(s, STG_DB_RENDERED, "k", "v"), 0);
    cr_assert_eq(put_str(s, STG_DB_PAGES, "pypi\n", "list"), 0);
    cr_assert_eq(stg_copy_compact(s, dest), 0);
    cr_assert_eq(stg_copy_compact(s, dest), IMX_EEXIST, "never overwrites");
    stg_close(s);

    c = th_open(copy_root, 0, true);
    buf_init(&b, 16);
    cr_assert_eq(get_str(c, STG_DB_RENDERED, "k", &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "v");
    cr_assert_eq(get_str(c, STG_DB_PAGES, "pypi\n", &b), 0);
    cr_assert_str_eq(buf_cstr(&b), "list");
    buf_release(&b);
    stg_close(c);
    th_rmrf(d);
    free(copy_root);
    free(dest);
    free(d);
}
