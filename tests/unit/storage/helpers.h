/*
 * helpers.h - shared by the storage tests: a per-test temp directory and a
 * store opened inside the test (criterion forks every test, and an LMDB
 * environment must never cross a fork).
 */
#ifndef IMX_TEST_STORAGE_HELPERS_H
#define IMX_TEST_STORAGE_HELPERS_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "storage.h"
#include "xalloc.h"

static int th_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* A fresh directory under /tmp; caller frees (th_rmrf first). */
static inline char *th_tmpdir(void)
{
    char *d = xstrdup("/tmp/imx-stg-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static inline void th_rmrf(const char *path)
{
    nftw(path, th_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline struct stg *th_open(const char *dir, uint64_t map_size, bool ro)
{
    struct stg_opts o = {.data_dir = dir, .map_size = map_size, .read_only = ro};
    struct stg *s = NULL;
    int rc = stg_open(&o, &s);
    cr_assert_eq(rc, 0, "stg_open '%s': %s", dir, imx_strerror(rc));
    cr_assert_not_null(s);
    return s;
}

/*
 * storage's files-generation bucket of a project name, computed here from
 * its definition (storage.h: FNV-1a 64 mod STG_GEN_BUCKETS), not by calling
 * storage: the tests check the on-disk "files_gen/<b>" keys against it.
 */
static inline unsigned th_bucket_of(const char *name)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= 1099511628211ULL;
    }
    return (unsigned)(h % STG_GEN_BUCKETS);
}

static inline bool th_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Entries in a directory, not counting . and .. (-1 if it cannot be opened). */
static inline int th_count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

#endif
