/*
 * storage.h - the local store: LMDB metadata (storage/meta.c, the only LMDB
 * user) and content-addressed blobs (storage/blob.c).
 *
 * Layout under data_dir:
 *   index.lmdb/          LMDB environment (data.mdb, lock.mdb): upstream pages,
 *                        the file table, rendered client pages (derived data:
 *                        dropped freely, never exported), misc counters
 *   blobs/ab/cd/<sha256> package bytes, named by their sha256
 *   tmp/                 blobs being written; emptied by stg_open
 *
 * Thread safety: one struct stg is shared by all threads (MDB_NOTLS); every
 * function may be called concurrently. Read transactions are short and never
 * span network I/O: values are copied out before a function returns.
 *
 * Errors common to every function: IMX_EIO (filesystem or LMDB failure, logged
 * with the path), IMX_EMAPFULL (LMDB map full: the caller keeps serving from
 * what is stored; logged at most once a minute), IMX_ENOSPC (disk full),
 * IMX_ECORRUPT (LMDB reports a damaged file). IMX_EMAPFULL can only come from
 * functions that write metadata.
 *
 * Calling sequence: stg_open -> (meta and blob calls from any thread) -> stg_close.
 * Never use a struct stg in a process forked after stg_open (LMDB caveat):
 * open it in the process that uses it. One read-write stg per data_dir at a
 * time (stg_open takes an exclusive lock on data_dir/lock); read-only opens
 * may run beside it.
 */
#ifndef IMX_STORAGE_H
#define IMX_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct stg;
struct sha256;

struct stg_opts {
    const char *data_dir; /* created if missing (mode 0755) */
    uint64_t map_size;    /* LMDB map size in bytes (sparse); 0 means 64 GiB */
    bool read_only;       /* for stats/fsck while a server runs */
};

/*
 * Open or create the store. Clears LMDB stale readers and removes tmp/
 * leftovers. read_only opens with MDB_RDONLY, creates nothing and leaves tmp/
 * alone. Errors: IMX_EINVAL (no data_dir), IMX_ENOTFOUND (read_only and no
 * store there), IMX_EIO (also: another read-write process holds the store),
 * IMX_ECORRUPT (schema newer than this build or damaged LMDB file),
 * IMX_EMAPFULL (map_size too small even for the empty store), IMX_ENOSPC.
 * *out is owned by the caller: release with stg_close.
 */
int stg_open(const struct stg_opts *opts, struct stg **out /* OUT */);
/* NULL-safe. No other call on s may be running or follow. */
void stg_close(struct stg *s);
/* Borrowed; lives as long as s. */
const char *stg_data_dir(const struct stg *s);
/* Whether s was opened read_only (every write then fails with IMX_EIO). */
bool stg_read_only(const struct stg *s);

/*
 * Schema version stored in STG_DB_META under key "schema_version" (ASCII
 * decimal). 1: the first layout. 2: page records may carry their body's
 * sha256 (codec V2), STG_DB_RENDERED holds rendered pages, STG_DB_META the
 * files generations. 3: file records may carry their project (codec V2),
 * files generations are per project (a shared part and buckets, "files
 * generations" below), rendered pages name their project (V2; V1 ones are
 * never current again, so nothing needs rewriting). A read-write stg_open
 * raises an older store's record to this version (older records stay
 * readable), so an older build refuses the store instead of misreading it.
 */
#define STG_SCHEMA_VERSION 3
/* Longest key LMDB accepts (its default MDB_MAXKEYSIZE); longer or empty keys give IMX_EINVAL. */
#define STG_MAX_KEY 511

/* ---- generic records ---- */

/* Named databases. Keys and values are opaque bytes to storage. */
enum stg_db {
    STG_DB_PAGES = 0, /* "<index>\n<project>" -> struct stg_page (upstream pages, "" project = list) */
    STG_DB_FILES,     /* file key -> struct stg_file */
    STG_DB_RENDERED,  /* key chosen by the resolver -> struct stg_rendered */
    STG_DB_META,      /* misc: schema version, files generations */
    STG_DB_COUNT_
};

/*
 * Copy the value of key into out (buf_reset first; on error out is left
 * empty). Returns 0, IMX_ENOTFOUND, IMX_ETOOLARGE (out's cap), IMX_EINVAL (key
 * empty or longer than STG_MAX_KEY).
 */
int stg_get(struct stg *s, enum stg_db db, const void *key, size_t klen, struct buf *out);
/*
 * Insert or replace, in its own write transaction (durable on return).
 * Returns 0, IMX_EINVAL (key), IMX_EMAPFULL, IMX_EIO (also: read_only store).
 */
int stg_put(struct stg *s, enum stg_db db, const void *key, size_t klen, const void *val,
            size_t vlen);
/* 0, IMX_ENOTFOUND, IMX_EINVAL (key), IMX_EIO. */
int stg_del(struct stg *s, enum stg_db db, const void *key, size_t klen);
/*
 * Call fn for each record whose key starts with prefix (all when plen == 0),
 * in key order, from a snapshot. fn returns 0 to go on, nonzero to stop (that
 * value is returned). Key and value are valid only during the call. fn runs
 * inside a read transaction: keep it short (a long one pins old pages and
 * grows the file); it may call the other stg_ functions.
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
    char body_sha256[65]; /* sha256 (hex) of the body bytes (of "" when NULL): filled by
                             stg_page_get / stg_page_decode (stored by codec V2, hashed
                             for V1 records); stg_page_put ignores it and hashes the body */
};

void stg_page_release(struct stg_page *p); /* NULL-safe; frees the strings */
/*
 * index must not contain '\n'; project NULL or "" is the project list.
 * On success *out owns fresh copies (body is NUL-terminated beyond body_len
 * when not NULL): release with stg_page_release.
 * 0, IMX_ENOTFOUND, IMX_ECORRUPT (undecodable record), IMX_EINVAL (key too long).
 */
int stg_page_get(struct stg *s, const char *index, const char *project,
                 struct stg_page *out /* OUT */);
/* 0, IMX_EINVAL (bad state, body NULL with body_len, key too long), IMX_ETOOLARGE
 * (a field of 4 GiB or more), or a stg_put error. p is not taken over. */
int stg_page_put(struct stg *s, const char *index, const char *project,
                 const struct stg_page *p);
/* Decode a STG_DB_PAGES value (e.g. from stg_foreach). 0 or IMX_ECORRUPT. */
int stg_page_decode(const void *v, size_t vlen, struct stg_page *out /* OUT */);
/*
 * As stg_page_get without the body: out->body is NULL and body_len 0, the
 * other fields (body_sha256 included) as stored. For the validators of a
 * revalidation, and for a caller that only needs the body when the page
 * changed. Same errors as stg_page_get.
 */
int stg_page_get_meta(struct stg *s, const char *index, const char *project,
                      struct stg_page *out /* OUT */);
/*
 * A revalidation that found the page unchanged (the upstream answered 304):
 * set the stored record's fetched_at, keeping everything else, without
 * decoding, copying out or hashing its body (the record is rewritten once,
 * as LMDB does; a V1 record of an older build is re-encoded as V2). Only
 * while the record still holds that page: state PRESENT and body_sha256
 * equal to expect_sha256.
 * 0; IMX_ENOTFOUND (no record, or no longer that page: left as it is),
 * IMX_ECORRUPT, IMX_EINVAL (key), or a stg_put error.
 */
int stg_page_touch(struct stg *s, const char *index, const char *project,
                   const char *expect_sha256, int64_t fetched_at);

/* What a page record says about itself, read without copying its body. */
struct stg_page_head {
    enum stg_page_state state;
    int64_t fetched_at;
    char body_sha256[65]; /* as in struct stg_page */
};

/*
 * The head of a page record: no allocation, no copy of the body (a V1
 * record's body is hashed where it lies, inside the read transaction).
 * *out is written only on success.
 * 0, IMX_ENOTFOUND, IMX_ECORRUPT, IMX_EINVAL (key too long).
 */
int stg_page_head(struct stg *s, const char *index, const char *project,
                  struct stg_page_head *out /* OUT */);

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
    char *project;        /* normalized name of the project whose page lists the file
                             (the resolver's registration), which picks the files
                             generation a change of this record moves. NULL: unknown
                             (records written before schema 3); "": the pages of
                             several projects list it. Both move every project's. */
};

void stg_file_release(struct stg_file *f); /* NULL-safe */
/*
 * On success *out owns fresh copies: release with stg_file_release.
 * 0, IMX_ENOTFOUND, IMX_ECORRUPT, IMX_EINVAL (key empty or too long).
 */
int stg_file_get(struct stg *s, const char *key, struct stg_file *out /* OUT */);
/* Stored under f->key (required). 0, IMX_EINVAL, IMX_ETOOLARGE, or a stg_put error. */
int stg_file_put(struct stg *s, const struct stg_file *f);
/*
 * Register the n files of a freshly fetched page in one write transaction
 * (all or nothing). Fields describing upstream (index, url, filename,
 * expected_sha256, metadata_expected_sha256, size >= 0) replace the stored
 * ones; for a key already stored, what storage learned since is kept when
 * f[i] leaves it unset: sha256 and metadata_sha256 (unless f[i]'s expected
 * digest now differs from them: then the stale digest is dropped so the file
 * is fetched again), last_access (when 0), size (when < 0, or when the
 * stored sha256 is kept), project (when NULL). A record registered under
 * another project before becomes project "" (several projects list it: a
 * change of it moves every project's generation from then on). A stored
 * record that does not decode is replaced.
 * 0, IMX_EINVAL (a missing or bad key; nothing written), IMX_ETOOLARGE, or a
 * stg_put error (nothing written).
 */
int stg_file_put_many(struct stg *s, const struct stg_file *f, size_t n);
/*
 * Update last_access only, read-modify-write in one write transaction.
 * 0, IMX_ENOTFOUND, IMX_ECORRUPT, IMX_EINVAL, or a stg_put error.
 */
int stg_file_touch(struct stg *s, const char *key, int64_t now);
/* Decode a STG_DB_FILES value (e.g. from stg_foreach). 0 or IMX_ECORRUPT. */
int stg_file_decode(const void *v, size_t vlen, struct stg_file *out /* OUT */);

/* ---- files generations ---- */

/*
 * What pages show of the file table (a sha256 computed on download, PEP 658
 * metadata read out of a stored wheel, offline: only files whose bytes are
 * stored) changes without any upstream page changing. Counters per project
 * say when a rendering of that project's page made from the file table may
 * be out of date: a change of a file record moves the generations of the
 * project the record names (struct stg_file, project), so storing a file of
 * one project leaves every other project's renderings valid. A record of
 * unknown project (NULL: written before schema 3) or of several ("") moves
 * every project's; a record registered again under another project moves
 * both projects' (all kinds, whatever its digests did).
 *
 * Bounded memory, lock-free reads: the value for a project is the sum of a
 * part every project shares and its bucket's part, the bucket being FNV-1a
 * 64 of the project name mod STG_GEN_BUCKETS. A change of unknown project
 * moves the shared part (one counter), any other its bucket. Both parts only
 * grow, so a value never comes back to one a rendering recorded (compare
 * with ==). Projects sharing a bucket move together: harmless, a rendering
 * made again. In STG_DB_META: "files_gen" holds the shared part (two u64
 * little-endian, LEARNED then STORED: schema 2's one global pair, now the
 * shared part) and "files_gen/<b>" (b in decimal) bucket b's, written the
 * first time it moves.
 *
 * They are moved by meta.c in the same write transaction as the change of
 * STG_DB_FILES that moves them, whichever function writes it (stg_put/stg_del
 * on STG_DB_FILES, stg_file_put, stg_file_put_many, gc eviction, fsck
 * repair, import). So they survive restarts, and a value read before the
 * file records it covers is never newer than them.
 *
 *   STG_GEN_LEARNED  a record's sha256 or metadata_sha256 was set, changed or
 *                    cleared while its page did not advertise that digest
 *                    (expected_sha256 / metadata_expected_sha256 NULL before
 *                    or after): what an online page shows changed
 *   STG_GEN_STORED   any sha256 or metadata_sha256 was set, changed or
 *                    cleared, or a record with one was deleted: what an
 *                    offline page lists may have changed (moves with LEARNED)
 *   STG_GEN_NONE     always 0, for renderings that do not read files
 */
enum stg_gen { STG_GEN_NONE = 0, STG_GEN_LEARNED, STG_GEN_STORED, STG_GEN__N };

/*
 * Buckets per generation kind (24 KiB of counters in memory). Part of the
 * on-disk meaning: a build that changes it must raise STG_SCHEMA_VERSION
 * and void the stored renderings on the upgrade.
 */
#define STG_GEN_BUCKETS 1024

/*
 * The current value of a files generation for the pages of `project` (its
 * normalized name, as file records name it; NULL is taken as ""), without
 * touching LMDB or taking a lock (copies kept in memory, loaded at open and
 * raised after each commit that moves them). STG_GEN_NONE is always 0. A
 * read-only handle sees the values of its open.
 */
uint64_t stg_files_gen(struct stg *s, enum stg_gen which, const char *project);

/* ---- rendered pages (STG_DB_RENDERED) ---- */

/*
 * A client page as the resolver rendered it, with what it needs to decide
 * later, without parsing or merging anything, whether the bytes still hold:
 * the stamps of the input pages it read, a fingerprint of everything else
 * they depend on (configuration, code), the files generation it saw.
 * Storage does not interpret stamps or fingerprints; it compares them.
 *
 * Encoding (codec.c, little-endian): u8 version (2), i64 rendered_at,
 * str fingerprint, u8 gen_kind, u64 files_gen, str project (NULL exactly
 * when gen_kind is STG_GEN_NONE), str stamps, u32 ninputs, ninputs x
 * (str index, str project, str stamp), str etag, str body, str gz
 * (0xffffffff length: NULL). Version 1 (schema 2) had no project: such a
 * record decodes with project NULL, so its files_gen (the old global value)
 * never counts as current. Derived data: gc drops records whose files
 * generation is no longer current, fsck deletes undecodable ones, export
 * leaves them out, import ignores them.
 */
#define STG_RENDERED_MAX_BYTES (64u << 20) /* an encoded record; larger ones are not kept */
#define STG_RENDERED_MAX_INPUTS 256
/* Renderings are written only while the map is used up to this share (high-water mark). */
#define STG_RENDERED_MAP_SHARE_NUM 3
#define STG_RENDERED_MAP_SHARE_DEN 4

struct stg_rendered_input {
    char *index;   /* upstream [[index]] name */
    char *project; /* "" for the project list */
    char *stamp;   /* the resolver's stamp of that page when it rendered */
};

struct stg_rendered {
    int64_t rendered_at;   /* unix seconds */
    char *fingerprint;     /* what else the bytes depend on (the resolver's choice) */
    enum stg_gen gen_kind; /* the files generation the bytes depend on */
    char *project;         /* whose (stg_files_gen); required unless gen_kind is
                              STG_GEN_NONE, then ignored (read back as NULL) */
    uint64_t files_gen;    /* its value, read before the inputs were */
    char *stamps;          /* the resolver's identity of all its inputs */
    struct stg_rendered_input *inputs;
    size_t ninputs;
    char *etag;            /* the page's strong ETag, quotes included */
    char *body;            /* NULL when read without the bytes; body_len is still set */
    size_t body_len;
    char *gz;              /* gzip of body; NULL when none or read without the bytes */
    size_t gz_len;
};

/* NULL-safe; frees every field (a caller that took body or gz NULLs them first). */
void stg_rendered_release(struct stg_rendered *r);
/*
 * Read the rendering stored under key. with_body false skips the bytes
 * (body/gz stay NULL, their lengths set): cheap enough to validate first.
 * With the bytes, body and gz are the one copy made out of the LMDB map
 * (malloc'd; the caller may keep them, NULLing the fields before release).
 * A record that does not decode is IMX_ECORRUPT (treat it as a miss).
 * 0, IMX_ENOTFOUND, IMX_ECORRUPT, IMX_EINVAL (key empty or too long).
 */
int stg_rendered_get(struct stg *s, const char *key, bool with_body,
                     struct stg_rendered *out /* OUT */);
/*
 * Store r under key (r is not taken over) unless the record already there
 * has the same fingerprint, gen_kind, project, files_gen and stamps: those
 * decide the bytes, so the write is skipped (IMX_EEXIST). The comparison happens inside
 * the write transaction: concurrent writers of one rendering write it once.
 * Renderings are derived data and leave the last quarter of the map to
 * pages and files: past STG_RENDERED_MAP_SHARE of it (the map's high-water
 * mark, which deletions do not lower) this returns IMX_EMAPFULL at once,
 * without logging.
 * 0, IMX_EEXIST, IMX_EINVAL (key; fingerprint, stamps or etag NULL; project
 * NULL with a gen_kind; an input field NULL; more than
 * STG_RENDERED_MAX_INPUTS inputs; body NULL),
 * IMX_ETOOLARGE (encoded larger than STG_RENDERED_MAX_BYTES), IMX_EMAPFULL,
 * or a stg_put error (IMX_EIO on a read-only store): nothing is written.
 */
int stg_rendered_put(struct stg *s, const char *key, const struct stg_rendered *r);
/* Decode a STG_DB_RENDERED value (e.g. from stg_foreach). 0 or IMX_ECORRUPT. */
int stg_rendered_decode(const void *v, size_t vlen, bool with_body,
                        struct stg_rendered *out /* OUT */);

/* ---- blobs ---- */

struct stg_blob_writer;

/*
 * Start a new blob in tmp/. The temp file may be read by other threads while
 * it grows (stg_blob_writer_path). Errors: IMX_EIO, IMX_ENOSPC.
 */
int stg_blob_begin(struct stg *s, struct stg_blob_writer **out /* OUT */);
/*
 * Append all n bytes (partial writes and EINTR handled); hashes them as they
 * go. IMX_EIO / IMX_ENOSPC; an error is sticky: later writes and the commit
 * return it.
 */
int stg_blob_write(struct stg_blob_writer *w, const void *p, size_t n);
/*
 * Path of the temp file, borrowed, valid until commit/abort. Other threads may
 * open it O_RDONLY to read bytes as they arrive (up to stg_blob_writer_size);
 * an fd opened before the commit keeps reading the same file after it.
 */
const char *stg_blob_writer_path(const struct stg_blob_writer *w);
/* Bytes written so far. */
uint64_t stg_blob_writer_size(const struct stg_blob_writer *w);
/*
 * Check the bytes before making them durable: compute the sha256 (once;
 * stg_blob_commit reuses it) and compare it with expected_sha256 when not
 * NULL. Returns 0 with the hex digest in sha_out, IMX_EHASH, or the sticky
 * stg_blob_write error. The writer stays open: commit or abort it next. For
 * callers that can release verified bytes before the fsync of a big file.
 */
int stg_blob_verify(struct stg_blob_writer *w, const char *expected_sha256, char sha_out[65]);
/*
 * Finish: compute sha256; if expected_sha256 is not NULL and differs
 * (compared case-insensitively), the temp file is removed and IMX_EHASH
 * returned. Otherwise fsync, rename to blobs/ab/cd/<sha256> (an existing
 * identical blob is kept and the temp dropped), fsync the directory, and
 * write the hex digest to sha_out. On any error the temp file is removed.
 * The writer is freed in all cases. Errors: IMX_EHASH, IMX_EIO, IMX_ENOSPC,
 * or the sticky stg_blob_write error.
 */
int stg_blob_commit(struct stg_blob_writer *w, const char *expected_sha256,
                    char sha_out[65] /* OUT */);
/* Remove the temp file and free the writer. NULL-safe. */
void stg_blob_abort(struct stg_blob_writer *w);
/*
 * Abort like stg_blob_abort (the temp file is removed: a reader that has it
 * open keeps reading it), but hand back the running sha256 of exactly the
 * stg_blob_writer_size() bytes written, so that a caller who cannot store
 * the rest (disk full) can still verify the whole stream. The caller frees
 * the hash with sha256_free.
 */
struct sha256 *stg_blob_abort_keep_hash(struct stg_blob_writer *w);
/*
 * sha256 arguments below must be 64 lowercase hex digits (they name files;
 * anything else is refused, so no path can be smuggled in).
 */
/*
 * Open a stored blob read-only (O_CLOEXEC; the caller closes *fd).
 * 0 with *fd and *size, IMX_ENOTFOUND, IMX_EINVAL (not a sha256), IMX_EIO.
 */
int stg_blob_open(struct stg *s, const char *sha256, int *fd /* OUT */, uint64_t *size /* OUT */);
/* False for a malformed sha256. */
bool stg_blob_exists(struct stg *s, const char *sha256);
/* Path of a blob (may not exist); caller frees. NULL when sha256 is malformed. */
char *stg_blob_path(const struct stg *s, const char *sha256);
/* 0, IMX_ENOTFOUND, IMX_EINVAL (not a sha256), IMX_EIO. */
int stg_blob_remove(struct stg *s, const char *sha256);

/* ---- operations ---- */

struct stg_stats {
    uint64_t pages;           /* records in STG_DB_PAGES */
    uint64_t files;           /* records in STG_DB_FILES */
    uint64_t rendered;        /* records in STG_DB_RENDERED */
    uint64_t blobs;           /* files under blobs/ named by a sha256 */
    uint64_t blob_bytes;      /* their total size */
    uint64_t map_size;        /* LMDB map size in bytes */
    uint64_t map_used;        /* bytes of the map in use (high-water mark) */
    uint64_t readers_cleared; /* stale LMDB readers cleared since stg_open (incl. at open) */
};

/*
 * Fill *out (record counts from one snapshot, then a walk of blobs/).
 * 0, IMX_EIO.
 */
int stg_stat(struct stg *s, struct stg_stats *out /* OUT */);
/*
 * Write a compacted copy of the LMDB environment (mdb_env_copy2 with
 * MDB_CP_COMPACT) as dest_path/data.mdb; dest_path is created if missing.
 * Works on a read_only store too. 0, IMX_EEXIST (dest_path/data.mdb exists),
 * IMX_EIO, IMX_ENOSPC.
 */
int stg_copy_compact(struct stg *s, const char *dest_path);
/*
 * Clear stale reader slots left by crashed processes (mdb_reader_check);
 * worth calling now and then in a long-running server. 0 with *cleared, IMX_EIO.
 */
int stg_reader_check(struct stg *s, int *cleared /* OUT */);

/* ---- maintenance (storage/maint.c) ---- */

/*
 * Air-gap bundles, garbage collection, consistency checks, per-upstream
 * figures. A bundle is one ustar file: index.lmdb/data.mdb (a compacted
 * LMDB copy), blobs/<sha256> for every blob its file table references, and
 * a last member `manifest` ("indexmux-bundle 1", "lmdb <sha256> <size>",
 * then one "<sha256> <size>" line per blob). Caps below bound what a bundle
 * can make the importer allocate or stage.
 */
#define STG_BUNDLE_MAX_BLOB (64ULL << 30)      /* one blob member */
#define STG_BUNDLE_MAX_LMDB (256ULL << 30)     /* the metadata copy */
#define STG_BUNDLE_MAX_MANIFEST (256u << 20)   /* manifest bytes */
#define STG_BUNDLE_MAX_MANIFEST_LINE 200       /* one manifest line */
#define STG_BUNDLE_MAX_MEMBERS 4000000u        /* tar members */

struct stg_bundle_stats {
    uint64_t pages;         /* export: page records carried; import: pages new or newer */
    uint64_t files;         /* export: file records carried; import: files new or now stored */
    uint64_t blobs;         /* export: blobs written; import: blobs new to the store */
    uint64_t blob_bytes;    /* their bytes */
    uint64_t skipped_blobs; /* export: referenced but absent (evicted meanwhile) */
};

struct stg_export_opts {
    const char *out_path;       /* the bundle; written as out_path.part, then renamed */
    const char *const *indexes; /* keep only records of these upstream names ... */
    size_t nindexes;            /* ... when nindexes > 0; 0 exports everything */
};

/*
 * Write a bundle of s (read-only stores too: an export may run beside the
 * server). Staging happens in a temp directory beside out_path, removed on
 * return. Rendered pages are left out of the metadata copy (derived data:
 * the importing server renders its own under its own configuration). A blob that vanishes meanwhile is left out (counted in
 * skipped_blobs; the import then clears its digest). A blob whose bytes do
 * not match its name fails the export (IMX_EHASH: run stg_fsck).
 * On error out_path is untouched and `why` (may be NULL) gets one line.
 * 0 with *out (may be NULL), IMX_EHASH, IMX_EEXIST, IMX_EIO, IMX_ENOSPC.
 */
int stg_export(struct stg *s, const struct stg_export_opts *o,
               struct stg_bundle_stats *out /* OUT */, struct buf *why);
/*
 * Merge a bundle into s (read-write only). Every member is first staged in
 * tmp/ and verified (tar header checksums, each blob's sha256 against its
 * name and the manifest, the metadata copy against the manifest, every
 * record decodes); only then are blobs committed (through
 * stg_blob_begin/commit with the expected sha256) and records merged:
 * pages when new or with a newer fetched_at, files when new, and a stored
 * file record learns a digest it lacks (the store's own digest is kept)
 * and its project as stg_file_put_many would (storage.h, struct stg_file).
 * A digest whose blob is in neither the bundle nor the store is dropped.
 * Rendered pages in the bundle, if any, are ignored.
 * Importing the same bundle twice changes nothing the second time.
 * A damaged bundle changes nothing: IMX_ECORRUPT with `why` set (e.g.
 * "truncated inside a member", "bad tar header checksum", "missing
 * manifest", "blob <sha>: content hashes to <sha>").
 * 0 with *out (may be NULL), IMX_ECORRUPT, IMX_ENOTFOUND (no such file),
 * IMX_EIO, IMX_ENOSPC, IMX_EMAPFULL (records partly merged; blobs stay).
 */
int stg_import(struct stg *s, const char *bundle_path, struct stg_bundle_stats *out /* OUT */,
               struct buf *why);

struct stg_gc_opts {
    uint64_t max_bytes; /* evict LRU blobs while their total exceeds this; 0: no limit */
    int64_t min_age;    /* seconds: unreferenced blobs and tmp/ files younger than this are
                           left alone (in a running server: a download or a commit in
                           progress). 0 when no other writer can exist. */
    int64_t now;        /* unix seconds; 0 means time(NULL) */
};

struct stg_gc_result {
    uint64_t blobs, blob_bytes;             /* left after gc */
    uint64_t unreferenced, unreferenced_bytes;
    uint64_t evicted, evicted_bytes;
    uint64_t tmp_removed;
    uint64_t rendered_dropped; /* rendered pages that could never be served again */
};

/*
 * Remove tmp/ leftovers and blobs no file record references, then evict
 * least-recently-used blobs (by the newest last_access of the records
 * naming them) until the total is at most max_bytes: the records' digests
 * are cleared first (the file is fetched again on use, and offline pages
 * stop listing it), then the blob is unlinked (a client streaming it keeps
 * its open fd). Last, rendered pages whose files generation is no longer
 * their project's (they can never be served again) and undecodable ones are
 * deleted, each checked again inside the deleting transaction so a
 * rendering written meanwhile survives. Safe on the running server's own
 * handle, concurrently with requests. 0 with *out (may be NULL), IMX_EIO (also: read-only store), or
 * a stg_put error.
 */
int stg_gc(struct stg *s, const struct stg_gc_opts *o, struct stg_gc_result *out /* OUT */);

struct stg_fsck_result {
    uint64_t blobs, bad_blobs;     /* blobs hashed; those not matching their name */
    uint64_t records, bad_records; /* page and file records; those that do not decode */
    uint64_t dangling;             /* digests in file records without a blob */
    uint64_t rendered, bad_rendered; /* rendered pages; those that do not decode */
};

/*
 * Re-hash every blob, decode every page and file record (a page record's
 * stored body sha256 must match its body), decode every rendered page,
 * check every digest of the file table names a blob. report (may be NULL) gets one line
 * per problem (borrowed for the call). On a writable store a bad blob is
 * moved to data_dir/quarantine/<sha256>, digests without a blob are
 * cleared (so the file is fetched again) and undecodable rendered pages are
 * deleted (derived data); read-only stores are only checked. Problems are counted in *out, not returned: 0 (check out),
 * IMX_EIO, or a stg_put error.
 */
int stg_fsck(struct stg *s, void (*report)(void *ctx, const char *line), void *ctx,
             struct stg_fsck_result *out /* OUT */);

struct stg_index_stats {
    char *index;           /* upstream [[index]] name (owned by the array) */
    uint64_t pages;        /* page records (incl. negative answers) */
    uint64_t files;        /* file records */
    uint64_t stored_files; /* ... whose blob is stored */
    uint64_t stored_bytes; /* ... and their bytes */
};

/*
 * Figures per upstream, sorted by name, from the page keys and the file
 * table. 0 with *out (free with stg_index_stats_free) and *n, IMX_EIO.
 */
int stg_index_stats(struct stg *s, struct stg_index_stats **out /* OUT */, size_t *n /* OUT */);
void stg_index_stats_free(struct stg_index_stats *v, size_t n); /* NULL-safe */

/*
 * Whether a read-write process (a running server) holds data_dir. Never
 * creates anything. 0 with *in_use, IMX_EIO.
 */
int stg_in_use(const char *data_dir, bool *in_use /* OUT */);

#endif
