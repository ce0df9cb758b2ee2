/*
 * storage.h - the local store: LMDB metadata (storage/meta.c, the only LMDB
 * user) and content-addressed blobs (storage/blob.c).
 *
 * Layout under data_dir:
 *   index.lmdb/          LMDB environment (data.mdb, lock.mdb)
 *   blobs/ab/cd/<sha256> package bytes, named by their sha256
 *   tmp/                 blobs being written; emptied by stg_open
 *
 * Thread safety: one struct stg is shared by all threads (MDB_NOTLS); every
 * function may be called concurrently. Read transactions are short and never
 * span network I/O: values are copied out before a function returns.
 *
 * Errors common to every function: IMX_EIO (filesystem or LMDB failure, logged
 * with the path), IMX_EMAPFULL (LMDB map full: the caller keeps serving from
 * what is stored), IMX_ENOSPC (disk full).
 *
 * Calling sequence: stg_open -> (meta and blob calls from any thread) -> stg_close.
 */
#ifndef IMX_STORAGE_H
#define IMX_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct stg;

struct stg_opts {
    const char *data_dir; /* created if missing (mode 0755) */
    uint64_t map_size;    /* LMDB map size in bytes (sparse); 0 means 64 GiB */
    bool read_only;       /* for stats/fsck while a server runs */
};

/* Open or create the store. Clears LMDB stale readers and removes tmp/ leftovers. */
int stg_open(const struct stg_opts *opts, struct stg **out /* OUT */);
void stg_close(struct stg *s); /* NULL-safe */
const char *stg_data_dir(const struct stg *s);

/* ---- generic records ---- */

/* Named databases. Keys and values are opaque bytes to storage. */
enum stg_db {
    STG_DB_PAGES = 0, /* "<index>\n<project>" -> struct stg_page (upstream pages, "" project = list) */
    STG_DB_FILES,     /* file key -> struct stg_file */
    STG_DB_RENDERED,  /* rendered client pages, key chosen by the resolver */
    STG_DB_META,      /* misc: schema version, counters */
    STG_DB_COUNT_
};

/*
 * Copy the value of key into out (buf_reset first). Returns 0, IMX_ENOTFOUND,
 * IMX_ETOOLARGE (out's cap).
 */
int stg_get(struct stg *s, enum stg_db db, const void *key, size_t klen, struct buf *out);
int stg_put(struct stg *s, enum stg_db db, const void *key, size_t klen, const void *val,
            size_t vlen);
/* 0 or IMX_ENOTFOUND. */
int stg_del(struct stg *s, enum stg_db db, const void *key, size_t klen);
/*
 * Call fn for each record whose key starts with prefix (all when plen == 0),
 * in key order, from a snapshot. fn returns 0 to go on, nonzero to stop (that
 * value is returned). Key and value are valid only during the call.
 */
int stg_foreach(struct stg *s, enum stg_db db, const void *prefix, size_t plen,
                int (*fn)(void *ctx, const void *k, size_t klen, const void *v, size_t vlen),
                void *ctx);

/* ---- typed records (encoded with a version byte by storage/codec.c) ---- */

enum stg_page_state { STG_PAGE_PRESENT = 1, STG_PAGE_ABSENT = 2 };

struct stg_page {
    enum stg_page_state state;
    int64_t fetched_at;   /* unix seconds of the last successful (re)validation */
    char *etag;           /* upstream validators, NULL when absent */
    char *last_modified;
    char *url;            /* final URL after redirects (base for relative links) */
    char *body;           /* the parsed page in the resolver's store format; NULL when absent */
    size_t body_len;
};

void stg_page_release(struct stg_page *p); /* NULL-safe; frees the strings */
/* 0, IMX_ENOTFOUND, IMX_ECORRUPT (undecodable record). */
int stg_page_get(struct stg *s, const char *index, const char *project,
                 struct stg_page *out /* OUT */);
int stg_page_put(struct stg *s, const char *index, const char *project,
                 const struct stg_page *p);

struct stg_file {
    char *key;            /* the /files/<key>/ component */
    char *index;          /* upstream [[index]] name */
    char *url;            /* absolute upstream URL */
    char *filename;
    char *expected_sha256;/* from the page, NULL when the page gave none */
    char *sha256;         /* sha256 of the stored blob; NULL until stored */
    int64_t size;         /* -1 unknown */
    int64_t last_access;  /* unix seconds */
    char *metadata_sha256;/* sha256 of the PEP 658 .metadata blob when stored, else NULL */
    char *metadata_expected_sha256; /* advertised by upstream, NULL when unknown */
};

void stg_file_release(struct stg_file *f); /* NULL-safe */
int stg_file_get(struct stg *s, const char *key, struct stg_file *out /* OUT */);
int stg_file_put(struct stg *s, const struct stg_file *f);
/* Update last_access only (cheap; may be batched). */
int stg_file_touch(struct stg *s, const char *key, int64_t now);

/* ---- blobs ---- */

struct stg_blob_writer;

/*
 * Start a new blob in tmp/. The temp file may be read by other threads while
 * it grows (stg_blob_writer_path). Errors: IMX_EIO, IMX_ENOSPC.
 */
int stg_blob_begin(struct stg *s, struct stg_blob_writer **out /* OUT */);
/* Append bytes; hashes them as they go. IMX_EIO / IMX_ENOSPC. */
int stg_blob_write(struct stg_blob_writer *w, const void *p, size_t n);
const char *stg_blob_writer_path(const struct stg_blob_writer *w);
uint64_t stg_blob_writer_size(const struct stg_blob_writer *w);
/*
 * Finish: compute sha256; if expected_sha256 is not NULL and differs, the temp
 * file is removed and IMX_EHASH returned. Otherwise fsync, rename to
 * blobs/ab/cd/<sha256> (an existing identical blob is kept), fsync the
 * directory, and write the hex digest to sha_out. The writer is freed in all
 * cases.
 */
int stg_blob_commit(struct stg_blob_writer *w, const char *expected_sha256,
                    char sha_out[65] /* OUT */);
/* Remove the temp file and free the writer. NULL-safe. */
void stg_blob_abort(struct stg_blob_writer *w);
/* Open a stored blob read-only. 0 with *fd and *size, or IMX_ENOTFOUND. */
int stg_blob_open(struct stg *s, const char *sha256, int *fd /* OUT */, uint64_t *size /* OUT */);
bool stg_blob_exists(struct stg *s, const char *sha256);
/* Path of a blob (may not exist); caller frees. */
char *stg_blob_path(const struct stg *s, const char *sha256);
int stg_blob_remove(struct stg *s, const char *sha256);

#endif
