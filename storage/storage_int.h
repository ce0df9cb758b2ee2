/*
 * storage_int.h - private to the storage/ sources: the struct stg layout and the
 * helpers meta.c, blob.c and codec.c share (stg__ prefix, habit 1).
 *
 * LMDB types appear only as incomplete structs here so that meta.c stays the
 * one file that includes <lmdb.h>.
 */
#ifndef IMX_STORAGE_INT_H
#define IMX_STORAGE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "storage.h"

#define STG_MAGIC 0x5e0a6e01u
#define STG_BLOB_WRITER_MAGIC 0x5e0b10b1u

struct MDB_env;

struct stg {
    unsigned magic;
    bool read_only;
    char *data_dir; /* as given */
    char *lmdb_dir; /* data_dir/index.lmdb */
    char *blob_dir; /* data_dir/blobs */
    char *tmp_dir;  /* data_dir/tmp */
    int lock_fd;    /* flock()ed data_dir/lock, -1 when read_only */
    struct MDB_env *env;
    unsigned int dbi[STG_DB_COUNT_];
    uint64_t map_size;
    atomic_llong map_full_logged_at; /* unix seconds of the last "is full" line */
    atomic_ullong readers_cleared;
    /*
     * Copies of the files generations in STG_DB_META (storage.h): the part
     * every project shares ("files_gen") and each bucket's ("files_gen/<b>").
     * Only raised (gen_publish), read without a lock by stg_files_gen.
     */
    atomic_ullong gen_all[STG_GEN__N];
    atomic_ullong gen_bucket[STG_GEN_BUCKETS][STG_GEN__N];
};

/* ---- blob.c ---- */

/* mkdir -p with mode; 0, IMX_EINVAL (empty path), IMX_EIO / IMX_ENOSPC (logged). */
int stg__mkdirs(const char *path, unsigned mode);
/*
 * Create blobs/ and tmp/ (unless read_only) and empty tmp/ (unless
 * read_only). 0, IMX_EIO, IMX_ENOSPC.
 */
int stg__blob_dirs_init(struct stg *s);
/* Count the blobs under blobs/ and their bytes. 0 or IMX_EIO. */
int stg__blob_walk(struct stg *s, uint64_t *count /* OUT */, uint64_t *bytes /* OUT */);

/* ---- meta.c ---- */

/*
 * Look key up in a read transaction and call fn with the value in LMDB's map
 * (valid only during the call: fn copies what it keeps). Returns fn's result,
 * IMX_ENOTFOUND, IMX_EINVAL (key), IMX_EIO.
 */
int stg__view(struct stg *s, enum stg_db db, const void *key, size_t klen,
              int (*fn)(void *ctx, const void *v, size_t vlen), void *ctx);
/*
 * Read-modify-write in one write transaction: fn gets the current value and
 * appends the replacement to out (an empty buf without cap); a nonzero
 * result aborts and is returned. IMX_ENOTFOUND when key is absent, plus the
 * stg_put errors.
 */
int stg__update(struct stg *s, enum stg_db db, const void *key, size_t klen,
                int (*fn)(void *ctx, const void *v, size_t vlen, struct buf *out), void *ctx);

/*
 * Write n records in one write transaction (all or nothing). For record i,
 * key_fn gives its key (borrowed until the next call) and val_fn gets the
 * current value (NULL, 0 when absent) and appends the new one to out (an
 * empty buf without cap). A nonzero callback result aborts and is returned.
 * 0, IMX_EINVAL (key), plus the stg_put errors.
 */
int stg__put_many(struct stg *s, enum stg_db db, size_t n,
                  int (*key_fn)(void *ctx, size_t i, const void **k, size_t *klen),
                  int (*val_fn)(void *ctx, size_t i, const void *v, size_t vlen,
                                struct buf *out),
                  void *ctx);

/*
 * Write key = val in one write transaction unless keep(ctx, v, vlen) says
 * the value stored there is to be kept: then nothing is written and
 * IMX_EEXIST returned (keep is not called when key is absent).
 * 0, IMX_EEXIST, IMX_EINVAL (key), plus the stg_put errors.
 */
int stg__put_unless(struct stg *s, enum stg_db db, const void *key, size_t klen,
                    const void *val, size_t vlen,
                    bool (*keep)(void *ctx, const void *v, size_t vlen), void *ctx);
/*
 * Delete, in one write transaction, each of the n keys whose current value
 * pred(ctx, v, vlen) approves (absent keys are skipped). *deleted (may be
 * NULL) gets the count. 0, IMX_EINVAL (a key), plus the stg_put errors.
 */
int stg__del_where(struct stg *s, enum stg_db db, char *const *keys, const size_t *klens,
                   size_t n, bool (*pred)(void *ctx, const void *v, size_t vlen), void *ctx,
                   uint64_t *deleted /* OUT */);
/* Empty a database in one write transaction. 0, plus the stg_put errors. */
int stg__drop(struct stg *s, enum stg_db db);
/*
 * Whether the map's high-water mark is past num/den of the map size (LMDB
 * reuses freed pages below it, so this errs on the full side). No
 * transaction; false when LMDB cannot say.
 */
bool stg__map_past(struct stg *s, unsigned num, unsigned den);

/* ---- files generations (meta.c) ---- */

/* Buckets one write moves one by one; a write that would move more moves every project's. */
#define STG_GEN_MOVES_MAX 16

/*
 * The files generations one write transaction moves, gathered while it
 * changes file records (stg__file_gen_delta) and applied by meta.c inside
 * the transaction; masks are bits 1u << enum stg_gen. Start it zeroed.
 */
struct stg__gen_moves {
    unsigned all;                  /* moved for every project: the shared part */
    uint64_t all_after[STG_GEN__N];
    size_t n;
    struct {
        unsigned bucket;           /* stg__gen_bucket */
        unsigned mask;
        uint64_t after[STG_GEN__N]; /* the values written (meta.c), published after commit */
    } b[STG_GEN_MOVES_MAX];
};

/* The bucket of a project name: FNV-1a 64 of its len bytes, mod STG_GEN_BUCKETS. */
unsigned stg__gen_bucket(const char *project, size_t len);
/*
 * Note that the generations in mask move for project (len bytes). NULL or
 * empty (a record of unknown project, or of several) moves every project's.
 * Never fails: past STG_GEN_MOVES_MAX buckets, every project's moves.
 */
void stg__gen_moves_add(struct stg__gen_moves *m, const char *project, size_t len,
                        unsigned mask);

/* ---- codec.c ---- */

/* Encodings: version byte first. Append to out; 0, IMX_EINVAL, IMX_ETOOLARGE. */
int stg__page_encode(const struct stg_page *p, struct buf *out);
int stg__file_encode(const struct stg_file *f, struct buf *out);
int stg__rendered_encode(const struct stg_rendered *r, struct buf *out);

/*
 * The project a file record keeps when a page registers it again
 * (stg_file_put_many, import): `page`'s when the store knew none or the
 * same, `stored` when the page names none, else "" (several projects' pages
 * list the file; sticky). Returns one of its arguments or a literal:
 * borrowed.
 */
const char *stg__file_project_merge(const char *stored, const char *page);

/*
 * Add to m the files generations that replacing file record `old` by `nv`
 * moves (storage.h, "files generations"), for the project(s) they belong
 * to. NULL means absent (an insert, a delete). A value that does not
 * decode counts as changing every digest of a record of unknown project.
 * Reads the records in place: no allocation.
 */
void stg__file_gen_delta(const void *old, size_t olen, const void *nv, size_t nlen,
                         struct stg__gen_moves *m);

#endif
