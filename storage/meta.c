/*
 * meta.c - the LMDB side of storage: environment, named databases, and the
 * generic get/put/del/foreach (storage.h). The only file that includes
 * <lmdb.h>, so every LMDB caveat is honoured here:
 *
 *  - MDB_NOTLS: a struct stg is shared by all server threads and read
 *    transactions may start and end on different threads; reader slots then
 *    belong to the transaction, not the thread.
 *  - Transactions are short and local to one function: values are copied out
 *    (or decoded, stg__view) before the transaction ends; nothing here blocks
 *    on the network while a transaction is open.
 *  - One writer at a time: LMDB serialises mdb_txn_begin(write) itself, so
 *    concurrent stg_put calls just queue on its mutex.
 *  - MDB_MAP_FULL aborts the transaction and becomes IMX_EMAPFULL; the store
 *    stays readable and the server keeps serving what it has.
 *  - Never after fork(): the env is opened by the process that uses it.
 *  - Stale reader slots of crashed processes are cleared at open
 *    (mdb_reader_check) and on demand (stg_reader_check).
 *
 * Every write of STG_DB_FILES (stg_put, stg_del, stg__update,
 * stg__put_many) asks codec.c which files generations it moves, for which
 * projects' buckets or for all (stg__gen_moves), and bumps them in
 * STG_DB_META inside the same write transaction; the in-memory copies are
 * raised after the commit, so a reader that reads a generation before the
 * records can only see an older value, never a newer one.
 *
 * stg_open also creates the directory layout and takes the data_dir lock
 * (read-write opens only) before blob.c empties tmp/.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "storage.h"
#include "storage_int.h"
#include "xalloc.h"

#define STG_DEFAULT_MAP_SIZE (64ULL << 30)
#define STG_MAX_READERS 512
#define STG_MAP_FULL_LOG_EVERY 60 /* seconds */

static const char *const db_names[STG_DB_COUNT_] = {
    [STG_DB_PAGES] = "pages",
    [STG_DB_FILES] = "files",
    [STG_DB_RENDERED] = "rendered",
    [STG_DB_META] = "meta",
};

static const char schema_key[] = "schema_version";
static const char gen_key[] = "files_gen";

/*
 * Translate an LMDB result into an IMX_E* code, logging what the caller
 * cannot know (the store path, LMDB's own message). `what` names the
 * operation in the log line.
 */
static int map_err(struct stg *s, int mrc, const char *what)
{
    switch (mrc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return IMX_ENOTFOUND;
    case MDB_MAP_FULL: {
        /* One line a minute at most: when full, every write fails. */
        long long now = (long long)time(NULL);
        long long last = atomic_load(&s->map_full_logged_at);
        if (now - last >= STG_MAP_FULL_LOG_EVERY &&
            atomic_compare_exchange_strong(&s->map_full_logged_at, &last, now)) {
            log_warnx("metadata store '%s' is full (map size %llu); serving from what is stored",
                      s->lmdb_dir, (unsigned long long)s->map_size);
        }
        return IMX_EMAPFULL;
    }
    case MDB_BAD_VALSIZE:
        return IMX_EINVAL;
    case ENOSPC:
    case EDQUOT:
        log_warnx("%s in metadata store '%s' failed: %s", what, s->lmdb_dir, mdb_strerror(mrc));
        return IMX_ENOSPC;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        log_warnx("%s in metadata store '%s' failed: %s", what, s->lmdb_dir, mdb_strerror(mrc));
        return IMX_ECORRUPT;
    default:
        log_warnx("%s in metadata store '%s' failed: %s", what, s->lmdb_dir, mdb_strerror(mrc));
        return IMX_EIO;
    }
}

static bool key_ok(size_t klen)
{
    return klen > 0 && klen <= STG_MAX_KEY;
}

static int txn_begin(struct stg *s, bool write, MDB_txn **out)
{
    MDB_txn *txn = NULL;
    int mrc;

    if (write && s->read_only) {
        log_warnx("cannot write to metadata store '%s': opened read-only", s->lmdb_dir);
        return IMX_EIO;
    }
    mrc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (mrc != 0)
        return map_err(s, mrc, "beginning a transaction");
    *out = txn;
    return 0;
}

static int txn_commit(struct stg *s, MDB_txn *txn)
{
    int mrc = mdb_txn_commit(txn); /* frees txn on success and on failure */
    return map_err(s, mrc, "committing");
}

/* A successful write ends a "full" spell: the next MDB_MAP_FULL is logged at once. */
static void note_write_ok(struct stg *s)
{
    if (atomic_load_explicit(&s->map_full_logged_at, memory_order_relaxed) != 0)
        atomic_store(&s->map_full_logged_at, 0);
}

/* ---- open / close ---- */

static int lock_data_dir(struct stg *s)
{
    char *path = xasprintf("%s/lock", s->data_dir);
    int fd = -1;
    int rc = 0;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_warn("cannot open '%s'", path);
        rc = IMX_EIO;
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            log_warnx("data directory '%s' is in use by another read-write process", s->data_dir);
        else
            log_warn("cannot lock '%s'", path);
        rc = IMX_EIO;
        goto out;
    }
    s->lock_fd = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* Parse the stored schema version; anything but a small decimal is corrupt. */
static int check_schema(struct stg *s, const MDB_val *v, unsigned long *version)
{
    const char *p = v->mv_data;
    unsigned long ver = 0;

    if (v->mv_size == 0 || v->mv_size > 9)
        goto bad;
    for (size_t i = 0; i < v->mv_size; i++) {
        if (p[i] < '0' || p[i] > '9')
            goto bad;
        ver = ver * 10 + (unsigned long)(p[i] - '0');
    }
    if (ver > STG_SCHEMA_VERSION) {
        log_warnx("metadata store '%s' has schema version %lu, newer than this build's %d",
                  s->lmdb_dir, ver, STG_SCHEMA_VERSION);
        return IMX_ECORRUPT;
    }
    *version = ver;
    return 0;
bad:
    log_warnx("metadata store '%s' has an unreadable schema version record", s->lmdb_dir);
    return IMX_ECORRUPT;
}

/* ---- files generations (storage.h) ---- */

/*
 * value(which, project) = the shared part + the project's bucket, both kept
 * in STG_DB_META (16 bytes each: LEARNED then STORED, u64 little-endian):
 * "files_gen" for the shared part (the key schema 2 used for its one global
 * pair), "files_gen/<b>" (decimal, no leading zeros) for bucket b, written
 * the first time b moves. A bump writes only the keys it moves.
 */
#define GEN_BUCKET_PREFIX "files_gen/"
#define GEN_VALUE_SIZE 16

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

unsigned stg__gen_bucket(const char *project, size_t len)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 */

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)project[i];
        h *= 1099511628211ULL;
    }
    return (unsigned)(h % STG_GEN_BUCKETS);
}

void stg__gen_moves_add(struct stg__gen_moves *m, const char *project, size_t len,
                        unsigned mask)
{
    unsigned b;

    if (mask == 0)
        return;
    if (project == NULL || len == 0) {
        m->all |= mask;
        return;
    }
    b = stg__gen_bucket(project, len);
    for (size_t i = 0; i < m->n; i++) {
        if (m->b[i].bucket == b) {
            m->b[i].mask |= mask;
            return;
        }
    }
    if (m->n == STG_GEN_MOVES_MAX) {
        m->all |= mask; /* a batch of many projects (an import): moving all is always safe */
        return;
    }
    m->b[m->n].bucket = b;
    m->b[m->n].mask = mask;
    m->n++;
}

static size_t gen_bucket_key(unsigned b, char out[32])
{
    return (size_t)snprintf(out, 32, GEN_BUCKET_PREFIX "%u", b);
}

/* The bucket a "files_gen/<b>" key names; false for any other key. */
static bool gen_bucket_parse(const void *key, size_t klen, unsigned *b)
{
    const char *k = key;
    size_t plen = sizeof(GEN_BUCKET_PREFIX) - 1;
    unsigned v = 0;

    if (klen <= plen || klen > plen + 4 || memcmp(k, GEN_BUCKET_PREFIX, plen) != 0)
        return false;
    if (k[plen] == '0' && klen > plen + 1)
        return false; /* not how gen_bucket_key writes it */
    for (size_t i = plen; i < klen; i++) {
        if (k[i] < '0' || k[i] > '9')
            return false;
        v = v * 10 + (unsigned)(k[i] - '0');
    }
    if (v >= STG_GEN_BUCKETS)
        return false;
    *b = v;
    return true;
}

static void gen_decode(const MDB_val *v, uint64_t gen[STG_GEN__N])
{
    memset(gen, 0, STG_GEN__N * sizeof(*gen));
    gen[STG_GEN_LEARNED] = get_le64(v->mv_data);
    gen[STG_GEN_STORED] = get_le64((const unsigned char *)v->mv_data + 8);
}

/*
 * Read the generation pair stored under key into gen[] (zeros when absent).
 * A value of the wrong size is IMX_ECORRUPT.
 */
static int gen_read(struct stg *s, MDB_txn *txn, const char *key, size_t klen,
                    uint64_t gen[STG_GEN__N])
{
    MDB_val k = {klen, (void *)key};
    MDB_val v;
    int mrc = mdb_get(txn, s->dbi[STG_DB_META], &k, &v);

    memset(gen, 0, STG_GEN__N * sizeof(*gen));
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return map_err(s, mrc, "reading the files generations");
    if (v.mv_size != GEN_VALUE_SIZE)
        return IMX_ECORRUPT;
    gen_decode(&v, gen);
    return 0;
}

static int gen_write(struct stg *s, MDB_txn *txn, const char *key, size_t klen,
                     const uint64_t gen[STG_GEN__N])
{
    MDB_val k = {klen, (void *)key};
    unsigned char val[GEN_VALUE_SIZE];
    MDB_val v = {sizeof(val), val};

    put_le64(val, gen[STG_GEN_LEARNED]);
    put_le64(val + 8, gen[STG_GEN_STORED]);
    return map_err(s, mdb_put(txn, s->dbi[STG_DB_META], &k, &v, 0),
                   "writing the files generations");
}

/*
 * Move the generations in `mask` of one pair (key, with its in-memory copy
 * `cur`) inside the caller's write transaction; `after` gets the values
 * written.
 */
static int gen_bump_one(struct stg *s, MDB_txn *txn, const char *key, size_t klen, unsigned mask,
                        atomic_ullong cur[STG_GEN__N], uint64_t after[STG_GEN__N])
{
    int rc = gen_read(s, txn, key, klen, after);

    if (rc == IMX_ECORRUPT) {
        /*
         * Rewritten below from the in-memory copy: never lower than a value
         * this process published, so no rendering it made can match again.
         */
        for (int g = 0; g < STG_GEN__N; g++)
            after[g] = atomic_load(&cur[g]);
        rc = 0;
    }
    if (rc != 0)
        return rc;
    for (int g = STG_GEN_LEARNED; g < STG_GEN__N; g++) {
        if (mask & (1u << g))
            after[g]++;
    }
    return gen_write(s, txn, key, klen, after);
}

/*
 * Apply m inside the caller's write transaction, filling its after values
 * for gen_publish. A bucket's kinds that the shared part moves anyway are
 * left out. An empty m does nothing.
 */
static int gen_bump(struct stg *s, MDB_txn *txn, struct stg__gen_moves *m)
{
    char key[32];
    int rc = 0;

    if (m->all != 0)
        rc = gen_bump_one(s, txn, gen_key, sizeof(gen_key) - 1, m->all, s->gen_all,
                          m->all_after);
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        m->b[i].mask &= ~m->all;
        if (m->b[i].mask == 0)
            continue;
        rc = gen_bump_one(s, txn, key, gen_bucket_key(m->b[i].bucket, key), m->b[i].mask,
                          s->gen_bucket[m->b[i].bucket], m->b[i].after);
    }
    return rc;
}

/*
 * Raise in-memory copies (never lower them: two writers may publish out of
 * commit order, and a reader must never see a value go back to one an older
 * rendering recorded).
 */
static void gen_raise(atomic_ullong cur[STG_GEN__N], unsigned mask,
                      const uint64_t after[STG_GEN__N])
{
    for (int g = STG_GEN_LEARNED; g < STG_GEN__N; g++) {
        unsigned long long v;
        if (!(mask & (1u << g)))
            continue;
        v = atomic_load(&cur[g]);
        while (v < after[g] && !atomic_compare_exchange_weak(&cur[g], &v, after[g]))
            ;
    }
}

/* After the commit of a transaction that applied m (gen_bump). */
static void gen_publish(struct stg *s, const struct stg__gen_moves *m)
{
    gen_raise(s->gen_all, m->all, m->all_after);
    for (size_t i = 0; i < m->n; i++)
        gen_raise(s->gen_bucket[m->b[i].bucket], m->b[i].mask, m->b[i].after);
}

/* Gather the generations a write of db moves (only STG_DB_FILES moves any). */
static void gen_delta(enum stg_db db, const MDB_val *old, const void *nv, size_t nlen,
                      struct stg__gen_moves *m)
{
    if (db != STG_DB_FILES)
        return;
    stg__file_gen_delta(old ? old->mv_data : NULL, old ? old->mv_size : 0, nv, nlen, m);
}

uint64_t stg_files_gen(struct stg *s, enum stg_gen which, const char *project)
{
    unsigned b;

    CHECK_OBJ(s, STG_MAGIC);
    assert(which >= STG_GEN_NONE && which < STG_GEN__N);
    if (which == STG_GEN_NONE)
        return 0;
    if (project == NULL)
        project = "";
    b = stg__gen_bucket(project, strlen(project));
    /* Both parts only grow: their sum changes whenever either moves. */
    return atomic_load(&s->gen_all[which]) + atomic_load(&s->gen_bucket[b][which]);
}

/*
 * Load the generations at open. A record that does not read (a wrong size,
 * a key under "files_gen/" that names no bucket) cannot be trusted to
 * invalidate anything: a writable open empties STG_DB_RENDERED (derived
 * data) and rewrites the shared pair as 0 or deletes the bad bucket key,
 * in the same transaction; a read-only one uses 0 for them.
 */
static int gen_load(struct stg *s, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k = {sizeof(GEN_BUCKET_PREFIX) - 1, (void *)GEN_BUCKET_PREFIX};
    MDB_val v;
    uint64_t gen[STG_GEN__N];
    MDB_val *bad = NULL; /* copies of the bad keys (they may hold any byte) */
    size_t nbad = 0, cap = 0;
    bool bad_all = false;
    int mrc;
    int rc;

    rc = gen_read(s, txn, gen_key, sizeof(gen_key) - 1, gen);
    if (rc == IMX_ECORRUPT) {
        bad_all = true;
        memset(gen, 0, sizeof(gen));
        rc = 0;
    }
    if (rc != 0)
        goto out;
    for (int g = 0; g < STG_GEN__N; g++)
        atomic_store(&s->gen_all[g], gen[g]);

    rc = map_err(s, mdb_cursor_open(txn, s->dbi[STG_DB_META], &cur), "opening a cursor");
    if (rc != 0)
        goto out;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        unsigned b = 0;

        if (k.mv_size < sizeof(GEN_BUCKET_PREFIX) - 1 ||
            memcmp(k.mv_data, GEN_BUCKET_PREFIX, sizeof(GEN_BUCKET_PREFIX) - 1) != 0)
            break; /* keys are sorted: past the prefix */
        if (!gen_bucket_parse(k.mv_data, k.mv_size, &b) || v.mv_size != GEN_VALUE_SIZE) {
            bad = xgrow(bad, &cap, nbad + 1, sizeof(*bad));
            bad[nbad].mv_size = k.mv_size;
            bad[nbad].mv_data = xmemdup(k.mv_data, k.mv_size);
            nbad++;
            continue;
        }
        gen_decode(&v, gen);
        for (int g = 0; g < STG_GEN__N; g++)
            atomic_store(&s->gen_bucket[b][g], gen[g]);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = map_err(s, mrc, "reading the files generations");
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (!bad_all && nbad == 0)
        goto out;

    log_warnx("metadata store '%s' has an unreadable files generation record%s", s->lmdb_dir,
              s->read_only ? "" : "; rendered pages dropped");
    if (s->read_only)
        goto out;
    rc = map_err(s, mdb_drop(txn, s->dbi[STG_DB_RENDERED], 0), "dropping rendered pages");
    if (rc == 0 && bad_all) {
        memset(gen, 0, sizeof(gen));
        rc = gen_write(s, txn, gen_key, sizeof(gen_key) - 1, gen);
    }
    for (size_t i = 0; i < nbad && rc == 0; i++)
        rc = map_err(s, mdb_del(txn, s->dbi[STG_DB_META], &bad[i], NULL),
                     "deleting a files generation record");
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    for (size_t i = 0; i < nbad; i++)
        free(bad[i].mv_data);
    free(bad);
    return rc;
}

/*
 * Open (creating when writable) every named database and the schema record
 * (raised to this build's version by a writable open), and load the files
 * generations.
 */
static int open_dbs(struct stg *s)
{
    MDB_txn *txn = NULL;
    MDB_val k = {sizeof(schema_key) - 1, (void *)schema_key};
    MDB_val v;
    unsigned long stored_ver = 0;
    char ver[16];
    int mrc;
    int rc;

    rc = txn_begin(s, !s->read_only, &txn);
    if (rc != 0)
        goto out;
    for (int i = 0; i < STG_DB_COUNT_; i++) {
        mrc = mdb_dbi_open(txn, db_names[i], s->read_only ? 0 : MDB_CREATE, &s->dbi[i]);
        if (mrc == MDB_NOTFOUND) {
            log_warnx("metadata store '%s' has no '%s' database", s->lmdb_dir, db_names[i]);
            rc = IMX_ECORRUPT;
            goto out;
        }
        rc = map_err(s, mrc, "opening a database");
        if (rc != 0)
            goto out;
    }
    mrc = mdb_get(txn, s->dbi[STG_DB_META], &k, &v);
    if (mrc == 0) {
        rc = check_schema(s, &v, &stored_ver);
        if (rc != 0)
            goto out;
    } else if (mrc != MDB_NOTFOUND) {
        rc = map_err(s, mrc, "reading the schema");
        goto out;
    }
    if (!s->read_only && (mrc == MDB_NOTFOUND || stored_ver < STG_SCHEMA_VERSION)) {
        int n = snprintf(ver, sizeof(ver), "%d", STG_SCHEMA_VERSION);
        v.mv_size = (size_t)n;
        v.mv_data = ver;
        rc = map_err(s, mdb_put(txn, s->dbi[STG_DB_META], &k, &v, 0), "writing the schema");
        if (rc != 0)
            goto out;
    }
    rc = gen_load(s, txn);
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

static int open_env(struct stg *s, const struct stg_opts *opts)
{
    unsigned flags = MDB_NOTLS;
    int dead = 0;
    int mrc;

    mrc = mdb_env_create(&s->env);
    if (mrc != 0) {
        s->env = NULL;
        return map_err(s, mrc, "creating the environment");
    }
    mrc = mdb_env_set_maxdbs(s->env, STG_DB_COUNT_ + 4);
    if (mrc == 0)
        mrc = mdb_env_set_maxreaders(s->env, STG_MAX_READERS);
    /*
     * A read-only opener without an explicit size takes the size stored in
     * the file, so it never disagrees with the server that writes it.
     */
    if (mrc == 0 && (!opts->read_only || opts->map_size != 0)) {
        uint64_t sz = opts->map_size ? opts->map_size : STG_DEFAULT_MAP_SIZE;
        long pg = sysconf(_SC_PAGESIZE);
        if (pg > 0)
            sz = (sz + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
        mrc = mdb_env_set_mapsize(s->env, (size_t)sz);
    }
    if (mrc != 0)
        return map_err(s, mrc, "configuring the environment");
    if (opts->read_only)
        flags |= MDB_RDONLY;
    mrc = mdb_env_open(s->env, s->lmdb_dir, flags, 0644);
    if (mrc == ENOENT)
        return IMX_ENOTFOUND;
    if (mrc != 0)
        return map_err(s, mrc, "opening");
    {
        MDB_envinfo info;
        if (mdb_env_info(s->env, &info) == 0)
            s->map_size = info.me_mapsize;
    }
    mrc = mdb_reader_check(s->env, &dead);
    if (mrc != 0)
        return map_err(s, mrc, "clearing stale readers");
    if (dead > 0) {
        log_info("cleared %d stale reader(s) of metadata store '%s'", dead, s->lmdb_dir);
        atomic_fetch_add(&s->readers_cleared, (unsigned long long)dead);
    }
    return 0;
}

int stg_open(const struct stg_opts *opts, struct stg **out)
{
    struct stg *s = NULL;
    struct stat st;
    int rc;

    assert(opts != NULL && out != NULL);
    if (opts->data_dir == NULL || opts->data_dir[0] == '\0')
        return IMX_EINVAL;
    s = xcalloc(1, sizeof(*s));
    INIT_OBJ(s, STG_MAGIC);
    s->read_only = opts->read_only;
    s->lock_fd = -1;
    s->data_dir = xstrdup(opts->data_dir);
    s->lmdb_dir = xasprintf("%s/index.lmdb", s->data_dir);
    s->blob_dir = xasprintf("%s/blobs", s->data_dir);
    s->tmp_dir = xasprintf("%s/tmp", s->data_dir);
    atomic_init(&s->map_full_logged_at, 0);
    atomic_init(&s->readers_cleared, 0);
    for (int g = 0; g < STG_GEN__N; g++) {
        atomic_init(&s->gen_all[g], 0);
        for (unsigned b = 0; b < STG_GEN_BUCKETS; b++)
            atomic_init(&s->gen_bucket[b][g], 0);
    }

    if (s->read_only) {
        if (stat(s->lmdb_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = IMX_ENOTFOUND;
            goto out;
        }
    } else {
        rc = stg__mkdirs(s->lmdb_dir, 0755);
        if (rc != 0)
            goto out;
        rc = lock_data_dir(s);
        if (rc != 0)
            goto out;
    }
    rc = stg__blob_dirs_init(s);
    if (rc != 0)
        goto out;
    rc = open_env(s, opts);
    if (rc != 0)
        goto out;
    rc = open_dbs(s);
    if (rc != 0)
        goto out;
    *out = s;
    s = NULL;
out:
    stg_close(s);
    return rc;
}

void stg_close(struct stg *s)
{
    if (s == NULL)
        return;
    CHECK_OBJ(s, STG_MAGIC);
    if (s->env != NULL)
        mdb_env_close(s->env); /* also closes the dbi handles */
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s->data_dir);
    free(s->lmdb_dir);
    free(s->blob_dir);
    free(s->tmp_dir);
    FINI_OBJ(s);
    free(s);
}

const char *stg_data_dir(const struct stg *s)
{
    CHECK_OBJ(s, STG_MAGIC);
    return s->data_dir;
}

bool stg_read_only(const struct stg *s)
{
    CHECK_OBJ(s, STG_MAGIC);
    return s->read_only;
}

/* ---- generic records ---- */

int stg__view(struct stg *s, enum stg_db db, const void *key, size_t klen,
              int (*fn)(void *ctx, const void *v, size_t vlen), void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_val k = {klen, (void *)key};
    MDB_val v;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_);
    if (!key_ok(klen))
        return IMX_EINVAL;
    rc = txn_begin(s, false, &txn);
    if (rc != 0)
        goto out;
    rc = map_err(s, mdb_get(txn, s->dbi[db], &k, &v), "reading");
    if (rc != 0)
        goto out;
    rc = fn(ctx, v.mv_data, v.mv_size);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

static int copy_out(void *ctx, const void *v, size_t vlen)
{
    struct buf *out = ctx;

    if (vlen > out->max)
        return IMX_ETOOLARGE;
    return buf_append(out, v, vlen);
}

int stg_get(struct stg *s, enum stg_db db, const void *key, size_t klen, struct buf *out)
{
    int rc;

    assert(out != NULL);
    buf_reset(out);
    rc = stg__view(s, db, key, klen, copy_out, out);
    if (rc != 0)
        buf_reset(out);
    return rc;
}

int stg_put(struct stg *s, enum stg_db db, const void *key, size_t klen, const void *val,
            size_t vlen)
{
    MDB_txn *txn = NULL;
    MDB_val k = {klen, (void *)key};
    MDB_val v = {vlen, (void *)val};
    MDB_val old;
    struct stg__gen_moves moves;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_);
    assert(val != NULL || vlen == 0);
    if (!key_ok(klen))
        return IMX_EINVAL;
    if (val == NULL)
        v.mv_data = (void *)"";
    memset(&moves, 0, sizeof(moves));
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    if (db == STG_DB_FILES) {
        int mrc = mdb_get(txn, s->dbi[db], &k, &old);
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = map_err(s, mrc, "reading");
            goto out;
        }
        gen_delta(db, mrc == 0 ? &old : NULL, v.mv_data, v.mv_size, &moves);
    }
    rc = gen_bump(s, txn, &moves);
    if (rc != 0)
        goto out;
    rc = map_err(s, mdb_put(txn, s->dbi[db], &k, &v, 0), "writing");
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
    if (rc == 0) {
        note_write_ok(s);
        gen_publish(s, &moves);
    }
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

int stg__update(struct stg *s, enum stg_db db, const void *key, size_t klen,
                int (*fn)(void *ctx, const void *v, size_t vlen, struct buf *out), void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_val k = {klen, (void *)key};
    MDB_val v;
    struct buf nv;
    struct stg__gen_moves moves;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_);
    buf_init(&nv, BUF_NOMAX);
    memset(&moves, 0, sizeof(moves));
    if (!key_ok(klen)) {
        rc = IMX_EINVAL;
        goto out;
    }
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    rc = map_err(s, mdb_get(txn, s->dbi[db], &k, &v), "reading");
    if (rc != 0)
        goto out;
    rc = fn(ctx, v.mv_data, v.mv_size, &nv);
    if (rc != 0)
        goto out;
    gen_delta(db, &v, nv.p != NULL ? nv.p : "", nv.len, &moves);
    rc = gen_bump(s, txn, &moves);
    if (rc != 0)
        goto out;
    v.mv_size = nv.len;
    v.mv_data = nv.p != NULL ? nv.p : (void *)"";
    rc = map_err(s, mdb_put(txn, s->dbi[db], &k, &v, 0), "writing");
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
    if (rc == 0) {
        note_write_ok(s);
        gen_publish(s, &moves);
    }
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    buf_release(&nv);
    return rc;
}

int stg__put_many(struct stg *s, enum stg_db db, size_t n,
                  int (*key_fn)(void *ctx, size_t i, const void **k, size_t *klen),
                  int (*val_fn)(void *ctx, size_t i, const void *v, size_t vlen,
                                struct buf *out),
                  void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    struct buf nv;
    struct stg__gen_moves moves;
    int mrc;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_);
    buf_init(&nv, BUF_NOMAX);
    memset(&moves, 0, sizeof(moves));
    if (n == 0) {
        rc = 0;
        goto out;
    }
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const void *kp = NULL;
        size_t klen = 0;

        rc = key_fn(ctx, i, &kp, &klen);
        if (rc == 0 && !key_ok(klen))
            rc = IMX_EINVAL;
        if (rc != 0)
            goto out;
        k.mv_size = klen;
        k.mv_data = (void *)kp;
        mrc = mdb_get(txn, s->dbi[db], &k, &v);
        if (mrc == MDB_NOTFOUND) {
            v.mv_size = 0;
            v.mv_data = NULL;
        } else if (mrc != 0) {
            rc = map_err(s, mrc, "reading");
            goto out;
        }
        buf_reset(&nv);
        rc = val_fn(ctx, i, v.mv_data, v.mv_size, &nv);
        if (rc != 0)
            goto out;
        gen_delta(db, mrc == 0 ? &v : NULL, nv.p != NULL ? nv.p : "", nv.len, &moves);
        v.mv_size = nv.len;
        v.mv_data = nv.p != NULL ? nv.p : (void *)"";
        rc = map_err(s, mdb_put(txn, s->dbi[db], &k, &v, 0), "writing");
        if (rc != 0)
            goto out;
    }
    rc = gen_bump(s, txn, &moves);
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
    if (rc == 0) {
        note_write_ok(s);
        gen_publish(s, &moves);
    }
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    buf_release(&nv);
    return rc;
}

int stg_del(struct stg *s, enum stg_db db, const void *key, size_t klen)
{
    MDB_txn *txn = NULL;
    MDB_val k = {klen, (void *)key};
    MDB_val old;
    struct stg__gen_moves moves;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_);
    if (!key_ok(klen))
        return IMX_EINVAL;
    memset(&moves, 0, sizeof(moves));
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    if (db == STG_DB_FILES) {
        rc = map_err(s, mdb_get(txn, s->dbi[db], &k, &old), "reading");
        if (rc != 0)
            goto out;
        gen_delta(db, &old, NULL, 0, &moves);
    }
    rc = gen_bump(s, txn, &moves);
    if (rc != 0)
        goto out;
    rc = map_err(s, mdb_del(txn, s->dbi[db], &k, NULL), "deleting");
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
    if (rc == 0)
        gen_publish(s, &moves);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

int stg__put_unless(struct stg *s, enum stg_db db, const void *key, size_t klen,
                    const void *val, size_t vlen,
                    bool (*keep)(void *ctx, const void *v, size_t vlen), void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_val k = {klen, (void *)key};
    MDB_val v = {vlen, (void *)val};
    MDB_val cur;
    int mrc;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_ && db != STG_DB_FILES); /* no generation hook here */
    assert(val != NULL || vlen == 0);
    if (!key_ok(klen))
        return IMX_EINVAL;
    if (val == NULL)
        v.mv_data = (void *)"";
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    mrc = mdb_get(txn, s->dbi[db], &k, &cur);
    if (mrc == 0 && keep(ctx, cur.mv_data, cur.mv_size)) {
        rc = IMX_EEXIST;
        goto out;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = map_err(s, mrc, "reading");
        goto out;
    }
    rc = map_err(s, mdb_put(txn, s->dbi[db], &k, &v, 0), "writing");
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
    if (rc == 0)
        note_write_ok(s);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

int stg__del_where(struct stg *s, enum stg_db db, char *const *keys, const size_t *klens,
                   size_t n, bool (*pred)(void *ctx, const void *v, size_t vlen), void *ctx,
                   uint64_t *deleted)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    uint64_t count = 0;
    int mrc;
    int rc = 0;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_ && db != STG_DB_FILES); /* no generation hook here */
    if (n == 0)
        goto out;
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!key_ok(klens[i])) {
            rc = IMX_EINVAL;
            goto out;
        }
        k.mv_size = klens[i];
        k.mv_data = keys[i];
        mrc = mdb_get(txn, s->dbi[db], &k, &v);
        if (mrc == MDB_NOTFOUND)
            continue;
        if (mrc != 0) {
            rc = map_err(s, mrc, "reading");
            goto out;
        }
        if (!pred(ctx, v.mv_data, v.mv_size))
            continue;
        rc = map_err(s, mdb_del(txn, s->dbi[db], &k, NULL), "deleting");
        if (rc != 0)
            goto out;
        count++;
    }
    rc = txn_commit(s, txn);
    txn = NULL;
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc == 0 && deleted != NULL)
        *deleted = count;
    return rc;
}

bool stg__map_past(struct stg *s, unsigned num, unsigned den)
{
    MDB_envinfo info;
    MDB_stat ms;

    CHECK_OBJ(s, STG_MAGIC);
    assert(den > 0);
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &ms) != 0)
        return false;
    return ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize / num >
           (uint64_t)info.me_mapsize / den;
}

int stg__drop(struct stg *s, enum stg_db db)
{
    MDB_txn *txn = NULL;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_ && db != STG_DB_FILES); /* no generation hook here */
    rc = txn_begin(s, true, &txn);
    if (rc != 0)
        goto out;
    rc = map_err(s, mdb_drop(txn, s->dbi[db], 0), "emptying a database");
    if (rc != 0)
        goto out;
    rc = txn_commit(s, txn);
    txn = NULL;
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

int stg_foreach(struct stg *s, enum stg_db db, const void *prefix, size_t plen,
                int (*fn)(void *ctx, const void *k, size_t klen, const void *v, size_t vlen),
                void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int mrc;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(db >= 0 && db < STG_DB_COUNT_);
    assert(fn != NULL && (prefix != NULL || plen == 0));
    if (plen > STG_MAX_KEY)
        return 0; /* no key can start with it */
    rc = txn_begin(s, false, &txn);
    if (rc != 0)
        goto out;
    rc = map_err(s, mdb_cursor_open(txn, s->dbi[db], &cur), "opening a cursor");
    if (rc != 0)
        goto out;
    if (plen > 0) {
        k.mv_size = plen;
        k.mv_data = (void *)prefix;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    while (mrc == 0) {
        if (plen > 0 && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break; /* keys are sorted: past the prefix */
        rc = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (rc != 0)
            goto out;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (mrc != MDB_NOTFOUND && mrc != 0)
        rc = map_err(s, mrc, "iterating");
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

/* ---- operations ---- */

int stg_stat(struct stg *s, struct stg_stats *out)
{
    struct stg_stats st;
    MDB_txn *txn = NULL;
    MDB_stat ms;
    MDB_envinfo info;
    uint64_t *const counts[STG_DB_COUNT_] = {
        [STG_DB_PAGES] = &st.pages,
        [STG_DB_FILES] = &st.files,
        [STG_DB_RENDERED] = &st.rendered,
        [STG_DB_META] = NULL,
    };
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(out != NULL);
    memset(&st, 0, sizeof(st));
    rc = txn_begin(s, false, &txn);
    if (rc != 0)
        goto out;
    for (int i = 0; i < STG_DB_COUNT_; i++) {
        if (counts[i] == NULL)
            continue;
        rc = map_err(s, mdb_stat(txn, s->dbi[i], &ms), "reading statistics");
        if (rc != 0)
            goto out;
        *counts[i] = ms.ms_entries;
    }
    rc = map_err(s, mdb_env_info(s->env, &info), "reading statistics");
    if (rc == 0)
        rc = map_err(s, mdb_env_stat(s->env, &ms), "reading statistics");
    if (rc != 0)
        goto out;
    st.map_size = info.me_mapsize;
    st.map_used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    mdb_txn_abort(txn);
    txn = NULL;
    st.readers_cleared = atomic_load(&s->readers_cleared);
    rc = stg__blob_walk(s, &st.blobs, &st.blob_bytes);
    if (rc != 0)
        goto out;
    *out = st;
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

int stg_copy_compact(struct stg *s, const char *dest_path)
{
    char *data = NULL;
    struct stat st;
    int mrc;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(dest_path != NULL);
    rc = stg__mkdirs(dest_path, 0755);
    if (rc != 0)
        goto out;
    data = xasprintf("%s/data.mdb", dest_path);
    if (lstat(data, &st) == 0) {
        log_warnx("cannot copy metadata store '%s' to '%s': it already exists", s->lmdb_dir,
                  data);
        rc = IMX_EEXIST;
        goto out;
    }
    mrc = mdb_env_copy2(s->env, dest_path, MDB_CP_COMPACT);
    if (mrc == EEXIST) {
        rc = IMX_EEXIST;
    } else if (mrc != 0) {
        log_warnx("cannot copy metadata store '%s' to '%s': %s", s->lmdb_dir, dest_path,
                  mdb_strerror(mrc));
        rc = (mrc == ENOSPC || mrc == EDQUOT) ? IMX_ENOSPC : IMX_EIO;
    }
out:
    free(data);
    return rc;
}

int stg_reader_check(struct stg *s, int *cleared)
{
    int dead = 0;
    int rc;

    CHECK_OBJ(s, STG_MAGIC);
    assert(cleared != NULL);
    rc = map_err(s, mdb_reader_check(s->env, &dead), "clearing stale readers");
    if (rc != 0)
        return rc;
    if (dead > 0) {
        log_info("cleared %d stale reader(s) of metadata store '%s'", dead, s->lmdb_dir);
        atomic_fetch_add(&s->readers_cleared, (unsigned long long)dead);
    }
    *cleared = dead;
    return 0;
}
