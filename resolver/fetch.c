/*
 * fetch.c - package files: served from the blob store, or downloaded once
 * while every client that asks streams from the growing temp file.
 *
 * One download ("flight") per file key at a time, owned by a detached thread
 * so that it completes even if the first client goes away. Its states:
 *
 *   state        | legal calls                      | next
 *   -------------+----------------------------------+-------------------------------
 *   CONNECTING   | rsv_open_file waits (cv)         | HEADERS on the upstream's 200,
 *                |                                  | FAILED on anything else
 *   STREAMING    | rsv_body_read up to written-1    | VERIFIED when all bytes are in
 *                | (the last byte is held back)     | and the sha256 matches; FAILED on
 *                |                                  | a cut, a timeout or a mismatch
 *   VERIFIED     | rsv_body_read to the end         | (blob committed, record updated)
 *   FAILED       | rsv_body_read returns an error   | (temp removed; the next request
 *                |                                  | starts a new flight)
 *
 * Holding back the last byte until the hash is checked means that a client
 * never receives a complete-looking body with wrong bytes: on a mismatch its
 * transfer is aborted one byte short.
 *
 * Flights are reference counted: the registry+thread hold one reference, each
 * rsv_body one more. The flight is freed when the last one goes.
 *
 * After a wheel is stored, a flight whose upstream advertised no PEP 658
 * metadata reads METADATA out of the stored zip (pep/wheelmeta.c) and keeps
 * it as a blob named in the file record, so later pages advertise it
 * (after_store). Range requests and HEADs of a file that is not stored are
 * answered without a flight: the range is forwarded (rsv_fetch_range).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "metrics_int.h"
#include "resolver_int.h"
#include "sha256.h"
#include "str.h"
#include "wheelmeta.h"
#include "xalloc.h"

#define FLIGHT_MAGIC 0x464c4754u
/* Window of a download that cannot be stored (disk full) but is passed through. */
#define RING_BYTES (16u << 20)
/* Seconds between two last-access updates of a stored file. */
#define RSV_TOUCH_INTERVAL 600
/* Cap on a .metadata file held in memory. */
#define MAX_METADATA_BYTES (16u << 20)

struct rsv__flight {
    unsigned magic;
    char *key;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool headers;      /* the upstream answered 200 and the body begins */
    int64_t total;     /* Content-Length, -1 unknown */
    uint64_t written;  /* bytes in the temp file */
    bool done;
    bool verified;     /* every byte is there and matches: readers may finish */
    unsigned waiting;  /* readers blocked in rsv_body_read */
    struct rsv_body *wakers; /* armed by rsv_body_read_nb, fired by wake_readers */
    int result;        /* 0: verified; else an IMX_E* code */
    char why[512];
    int rfd;           /* read side of the temp file (survives its rename) */
    /*
     * Pass-through when storage fails (disk full): bytes [0, file_bytes)
     * stay readable from rfd, later ones live in `ring`, a window of the
     * last RING_BYTES bytes (byte off at ring[off % RING_BYTES]). A reader
     * that falls a whole window behind gets an error; nothing is stored.
     */
    bool mem;
    uint64_t file_bytes;
    char *ring;
    struct rsv__flight *next; /* registry */

    /* owned by the download thread */
    struct rsv *r;
    struct stg_file rec;
    struct stg_blob_writer *w;
    struct sha256 *hash; /* mem mode: sha256 of every byte so far */
    unsigned timeout;
};

struct rsv__files {
    pthread_mutex_t mu;
    pthread_cond_t idle;
    struct rsv__flight *flights;
    unsigned running;
};

struct rsv__files *rsv__files_new(void)
{
    struct rsv__files *fs = xcalloc(1, sizeof(*fs));
    pthread_mutex_init(&fs->mu, NULL);
    pthread_cond_init(&fs->idle, NULL);
    return fs;
}

void rsv__files_free(struct rsv__files *fs)
{
    if (!fs)
        return;
    pthread_mutex_lock(&fs->mu);
    while (fs->running > 0)
        pthread_cond_wait(&fs->idle, &fs->mu);
    pthread_mutex_unlock(&fs->mu);
    pthread_mutex_destroy(&fs->mu);
    pthread_cond_destroy(&fs->idle);
    free(fs);
}

static void flight_unref(struct rsv__flight *f)
{
    bool last;

    if (!f)
        return;
    CHECK_OBJ(f, FLIGHT_MAGIC);
    pthread_mutex_lock(&f->mu);
    last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (!last)
        return;
    if (f->rfd >= 0)
        close(f->rfd);
    free(f->ring);
    sha256_free(f->hash);
    stg_file_release(&f->rec);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->key);
    FINI_OBJ(f);
    free(f);
}

/*
 * Under f->mu: call every armed one-shot wake-up (rsv_body_read_nb) once.
 * The callbacks only signal (libmicrohttpd's resume), they never call back
 * into the resolver, so holding f->mu here cannot deadlock.
 */
static void wake_readers(struct rsv__flight *f)
{
    while (f->wakers) {
        struct rsv_body *b = f->wakers;
        void (*wake)(void *) = b->wake;

        f->wakers = b->wake_next;
        b->wake_next = NULL;
        b->wake_armed = false;
        wake(b->wake_arg);
    }
}

static int on_headers(void *ctx, long status, int64_t content_length)
{
    struct rsv__flight *f = ctx;

    if (status != 200) {
        snprintf(f->why, sizeof(f->why), "upstream '%s' answered %ld for '%s'", f->rec.index,
                 status, f->rec.filename);
        return 1;
    }
    pthread_mutex_lock(&f->mu);
    f->total = content_length;
    f->headers = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* Storage failed mid-download: keep serving the bytes from memory (see struct rsv__flight). */
static void enter_mem_mode(struct rsv__flight *f, int why_rc)
{
    uint64_t in_file = stg_blob_writer_size(f->w);

    log_warnx("cannot store '%s' (%s): passing it through to its clients without caching it",
              f->rec.filename, imx_strerror(why_rc));
    f->hash = stg_blob_abort_keep_hash(f->w);
    f->w = NULL;
    pthread_mutex_lock(&f->mu);
    f->ring = xmalloc(RING_BYTES);
    f->file_bytes = in_file;
    f->written = in_file;
    f->mem = true;
    pthread_mutex_unlock(&f->mu);
}

static int on_data(void *ctx, const void *p, size_t n)
{
    struct rsv__flight *f = ctx;
    const char *q = p;

    if (!f->mem) {
        uint64_t before = f->written;
        int rc = stg_blob_write(f->w, p, n);
        if (rc == IMX_ENOSPC || rc == IMX_EIO) {
            /* The part of this chunk that reached the file stays there. */
            enter_mem_mode(f, rc);
            q += f->file_bytes - before;
            n -= (size_t)(f->file_bytes - before);
        } else if (rc) {
            snprintf(f->why, sizeof(f->why), "cannot store '%s': %s", f->rec.filename,
                     imx_strerror(rc));
            return 1;
        }
    }
    if (f->mem)
        sha256_update(f->hash, q, n);
    pthread_mutex_lock(&f->mu);
    if (f->mem) {
        for (size_t done = 0; done < n;) {
            size_t at = (size_t)((f->written + done) % RING_BYTES);
            size_t k = n - done < RING_BYTES - at ? n - done : RING_BYTES - at;
            memcpy(f->ring + at, q + done, k);
            done += k;
        }
    }
    f->written += n;
    /* Wake readers only when some wait: most of the time they are sending. */
    if (f->waiting)
        pthread_cond_broadcast(&f->cv);
    wake_readers(f);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static void finish(struct rsv__flight *f, int result)
{
    struct rsv__files *fs = f->r->files;
    struct rsv__flight **pp;

    pthread_mutex_lock(&fs->mu);
    for (pp = &fs->flights; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    pthread_mutex_unlock(&fs->mu);

    pthread_mutex_lock(&f->mu);
    f->done = true;
    f->result = result;
    if (result && !f->why[0])
        snprintf(f->why, sizeof(f->why), "download of '%s' from '%s' failed: %s",
                 f->rec.filename, f->rec.index, imx_strerror(result));
    pthread_cond_broadcast(&f->cv);
    wake_readers(f);
    pthread_mutex_unlock(&f->mu);
}

static bool is_wheel(const char *filename)
{
    size_t n = strlen(filename);
    return n > 4 && strcasecmp(filename + n - 4, ".whl") == 0;
}

/* wheelmeta_read_fn over a stored blob: ctx is a pointer to its fd. */
static int read_fd(void *ctx, uint64_t off, void *dst, size_t len)
{
    const int *fd = ctx;
    char *p = dst;

    while (len > 0) {
        ssize_t got = pread(*fd, p, len, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return IMX_EIO;
        p += got;
        off += (uint64_t)got;
        len -= (size_t)got;
    }
    return 0;
}

/*
 * PEP 658 for an upstream without it: read METADATA out of the stored wheel
 * rec->sha256, keep it as a blob and name it in rec->metadata_sha256 (the
 * caller records it). Returns 0, or a wheelmeta_extract / storage error.
 */
static int synthesize_metadata(struct rsv *r, struct stg_file *rec)
{
    struct stg_blob_writer *w = NULL;
    uint64_t size = 0;
    char *meta = NULL;
    size_t n = 0;
    char sha[65];
    int fd = -1;
    int rc;

    rc = stg_blob_open(r->stg, rec->sha256, &fd, &size);
    if (rc)
        goto out;
    rc = wheelmeta_extract(read_fd, &fd, size, &meta, &n);
    if (rc)
        goto out;
    rc = stg_blob_begin(r->stg, &w);
    if (rc == 0)
        rc = stg_blob_write(w, meta, n);
    if (rc == 0) {
        rc = stg_blob_commit(w, NULL, sha);
        w = NULL;
    }
    if (rc)
        goto out;
    free(rec->metadata_sha256);
    rec->metadata_sha256 = xstrdup(sha);
out:
    stg_blob_abort(w);
    if (fd >= 0)
        close(fd);
    free(meta);
    return rc;
}

/*
 * A file was stored and recorded. Pages show two things they could not
 * know before: a sha256 computed here when the page gave none, and PEP 658
 * metadata synthesized here for a wheel whose upstream advertised none.
 * Runs after finish(): clients already have every byte; this only delays
 * the flight thread. Recording them moves the files generation of the
 * record's project (storage.h), which makes that project's rendered pages
 * rebuild.
 */
static void after_store(struct rsv *r, struct stg_file *rec)
{
    int rc;

    if (!rec->metadata_expected_sha256 && !rec->metadata_sha256 && is_wheel(rec->filename)) {
        rc = synthesize_metadata(r, rec);
        if (rc == 0 && stg_file_put(r->stg, rec) != 0)
            log_warnx("cannot record the metadata of '%s'", rec->filename);
        else if (rc != 0)
            log_warnx("no metadata from wheel '%s': %s", rec->filename, imx_strerror(rc));
    }
}

static void *download(void *arg)
{
    struct rsv__flight *f = arg;
    struct rsv *r = f->r;
    struct rsv__files *fs = r->files;
    const struct config_index *ix = config_find_index(r->cfg, f->rec.index);
    struct upstream_request req = {0};
    struct upstream_response resp;
    char sha[65];
    int rc;

    upstream_response_init(&resp);
    req.url = f->rec.url;
    req.accept = "*/*";
    req.gzip = false;
    req.on_headers = on_headers;
    req.on_data = on_data;
    req.ctx = f;
    if (ix) {
        req.username = ix->username;
        req.password = ix->password;
        req.tls_verify = ix->tls_verify;
        req.ca_file = ix->ca_file;
    } else {
        req.tls_verify = true;
    }
    rc = rsv__upstream_fetch(r, f->rec.index, &req, &resp);
    if (rc == 0 && resp.status != 200)
        rc = IMX_EUPSTREAM;
    if (rc) {
        if (!f->why[0])
            snprintf(f->why, sizeof(f->why), "upstream '%s': %s", f->rec.index,
                     resp.error[0] ? resp.error : imx_strerror(rc));
        log_warnx("download of '%s' failed: %s", f->rec.filename, f->why);
        stg_blob_abort(f->w);
        f->w = NULL;
        goto out;
    }
    if (f->total >= 0 && (uint64_t)f->total != f->written) {
        snprintf(f->why, sizeof(f->why), "upstream '%s' sent %llu of %lld bytes of '%s'",
                 f->rec.index, (unsigned long long)f->written, (long long)f->total,
                 f->rec.filename);
        stg_blob_abort(f->w);
        f->w = NULL;
        rc = IMX_EUPSTREAM;
        goto out;
    }
    if (f->mem) {
        /* Passed through, not stored: the bytes must still match the page. */
        sha256_final_hex(f->hash, sha);
        rc = f->rec.expected_sha256 && strcasecmp(sha, f->rec.expected_sha256) != 0 ? IMX_EHASH
                                                                                   : 0;
        if (rc == 0) {
            log_warnx("'%s' was passed through without being stored", f->rec.filename);
            finish(f, 0);
            goto done;
        }
    } else {
        /*
         * Clients get their last byte once the hash matches, not after the
         * fsync and rename of a multi-GB file, which only this store needs.
         */
        if (stg_blob_verify(f->w, f->rec.expected_sha256, sha) == 0) {
            pthread_mutex_lock(&f->mu);
            f->verified = true;
            pthread_cond_broadcast(&f->cv);
            wake_readers(f);
            pthread_mutex_unlock(&f->mu);
        }
        rc = stg_blob_commit(f->w, f->rec.expected_sha256, sha);
        f->w = NULL;
    }
    if (rc == IMX_EHASH) {
        rsv__count_hash_mismatch(r);
        snprintf(f->why, sizeof(f->why),
                 "upstream '%s' sent '%s' with a sha256 that does not match its page",
                 f->rec.index, f->rec.filename);
        log_warnx("%s: nothing stored", f->why);
        goto out;
    }
    if (rc) {
        snprintf(f->why, sizeof(f->why), "cannot store '%s': %s", f->rec.filename,
                 imx_strerror(rc));
        log_warnx("%s", f->why);
        goto out;
    }
    free(f->rec.sha256);
    f->rec.sha256 = xstrdup(sha);
    f->rec.size = (int64_t)f->written;
    f->rec.last_access = rsv__now();
    if (stg_file_put(r->stg, &f->rec) != 0)
        log_warnx("cannot record stored file '%s'", f->rec.filename);
out:
    finish(f, rc);
    if (rc == 0)
        after_store(r, &f->rec);
done:
    upstream_response_release(&resp);
    rsv__gauge_transfers(r, -1);
    flight_unref(f);
    pthread_mutex_lock(&fs->mu);
    if (--fs->running == 0)
        pthread_cond_broadcast(&fs->idle);
    pthread_mutex_unlock(&fs->mu);
    return NULL;
}

static struct rsv__flight *flight_new(struct rsv *r, const struct stg_file *rec)
{
    struct rsv__flight *f = xcalloc(1, sizeof(*f));

    INIT_OBJ(f, FLIGHT_MAGIC);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->key = xstrdup(rec->key);
    f->refs = 1;
    f->total = -1;
    f->rfd = -1;
    f->r = r;
    f->timeout = r->cfg->server.timeout ? r->cfg->server.timeout : 30;
    f->rec.key = xstrdup(rec->key);
    f->rec.index = xstrdup(rec->index);
    f->rec.url = xstrdup(rec->url);
    f->rec.filename = xstrdup(rec->filename);
    f->rec.expected_sha256 = rec->expected_sha256 ? xstrdup(rec->expected_sha256) : NULL;
    f->rec.metadata_sha256 = rec->metadata_sha256 ? xstrdup(rec->metadata_sha256) : NULL;
    f->rec.metadata_expected_sha256 =
        rec->metadata_expected_sha256 ? xstrdup(rec->metadata_expected_sha256) : NULL;
    /* Kept: storing the file moves this project's files generation, not everyone's. */
    f->rec.project = rec->project ? xstrdup(rec->project) : NULL;
    f->rec.size = rec->size;
    return f;
}

/* Join the flight of rec->key or start one. Returns a referenced flight. */
/* The download of key in progress, referenced, or NULL (fs->mu held). */
static struct rsv__flight *flight_find_ref(struct rsv__files *fs, const char *key)
{
    struct rsv__flight *f;

    for (f = fs->flights; f; f = f->next) {
        if (strcmp(f->key, key) == 0)
            break;
    }
    if (f) {
        pthread_mutex_lock(&f->mu);
        f->refs++;
        pthread_mutex_unlock(&f->mu);
    }
    return f;
}

static int flight_join(struct rsv *r, const struct stg_file *rec, struct rsv__flight **out,
                       struct buf *why)
{
    struct rsv__files *fs = r->files;
    struct rsv__flight *f;
    pthread_attr_t attr;
    pthread_t tid;
    int rc;

    pthread_mutex_lock(&fs->mu);
    f = flight_find_ref(fs, rec->key);
    if (f) {
        pthread_mutex_unlock(&fs->mu);
        rsv__count_file(r, rec->index, RSV_FILE_SHARED);
        *out = f;
        return 0;
    }
    f = flight_new(r, rec);
    rc = stg_blob_begin(r->stg, &f->w);
    if (rc) {
        pthread_mutex_unlock(&fs->mu);
        buf_printf(why, "cannot store '%s': %s", rec->filename, imx_strerror(rc));
        flight_unref(f);
        return rc;
    }
    f->rfd = open(stg_blob_writer_path(f->w), O_RDONLY | O_CLOEXEC);
    if (f->rfd < 0) {
        pthread_mutex_unlock(&fs->mu);
        log_warn("cannot open '%s'", stg_blob_writer_path(f->w));
        stg_blob_abort(f->w);
        f->w = NULL;
        flight_unref(f);
        buf_printf(why, "cannot store '%s'", rec->filename);
        return IMX_EIO;
    }
    f->refs = 2; /* the thread's and the caller's */
    f->next = fs->flights;
    fs->flights = f;
    fs->running++;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&tid, &attr, download, f);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        fs->flights = f->next;
        fs->running--;
        pthread_mutex_unlock(&fs->mu);
        stg_blob_abort(f->w);
        f->w = NULL;
        f->refs = 1;
        flight_unref(f);
        buf_printf(why, "cannot start the download of '%s'", rec->filename);
        return IMX_EIO;
    }
    pthread_mutex_unlock(&fs->mu);
    rsv__gauge_transfers(r, +1);
    rsv__count_file(r, rec->index, RSV_FILE_MISS);
    *out = f;
    return 0;
}

static void deadline_after(struct timespec *ts, unsigned seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

static int open_stored(struct rsv *r, const char *sha, struct rsv_body **out)
{
    struct rsv_body *b;
    uint64_t size = 0;
    int fd = -1;
    int rc = stg_blob_open(r->stg, sha, &fd, &size);

    if (rc)
        return rc;
    b = xcalloc(1, sizeof(*b));
    b->fd = fd;
    b->size = (int64_t)size;
    str_copy(b->sha256, sizeof(b->sha256), sha);
    *out = b;
    return 0;
}

/* PEP 658: fetch <url>.metadata once, verify it, keep it as a blob. */
static int fetch_metadata(struct rsv *r, struct stg_file *rec, struct buf *why)
{
    const struct config_index *ix = config_find_index(r->cfg, rec->index);
    struct upstream_request req = {0};
    struct upstream_response resp;
    struct stg_blob_writer *w = NULL;
    char *url = xasprintf("%s.metadata", rec->url);
    char sha[65];
    int rc;

    upstream_response_init(&resp);
    req.url = url;
    req.accept = "*/*";
    req.max_body = MAX_METADATA_BYTES;
    req.gzip = true;
    req.tls_verify = ix ? ix->tls_verify : true;
    if (ix) {
        req.username = ix->username;
        req.password = ix->password;
        req.ca_file = ix->ca_file;
    }
    rc = rsv__upstream_fetch(r, rec->index, &req, &resp);
    if (rc || resp.status != 200) {
        buf_printf(why, "upstream '%s' could not give the metadata of '%s': %s", rec->index,
                   rec->filename,
                   rc ? (resp.error[0] ? resp.error : imx_strerror(rc)) : "bad status");
        rc = IMX_EUPSTREAM;
        goto out;
    }
    rc = stg_blob_begin(r->stg, &w);
    if (rc == 0)
        rc = stg_blob_write(w, resp.body.p ? resp.body.p : "", resp.body.len);
    if (rc == 0) {
        rc = stg_blob_commit(w, rec->metadata_expected_sha256, sha);
        w = NULL;
    }
    if (rc == IMX_EHASH) {
        rsv__count_hash_mismatch(r);
        buf_printf(why, "upstream '%s' sent metadata of '%s' that does not match its hash",
                   rec->index, rec->filename);
        rc = IMX_EUPSTREAM;
        goto out;
    }
    if (rc) {
        buf_printf(why, "cannot store the metadata of '%s': %s", rec->filename,
                   imx_strerror(rc));
        goto out;
    }
    free(rec->metadata_sha256);
    rec->metadata_sha256 = xstrdup(sha);
    if (stg_file_put(r->stg, rec) != 0)
        log_warnx("cannot record metadata of '%s'", rec->filename);
out:
    stg_blob_abort(w);
    upstream_response_release(&resp);
    free(url);
    return rc;
}

/*
 * A download of `key` whose bytes are verified and being made durable
 * (fsync, rename, record): wait until it is stored, so that a request that
 * follows a complete download finds the file stored rather than asking the
 * upstream again. Returns at once when there is no such download.
 */
static void wait_for_commit(struct rsv *r, const char *key)
{
    struct rsv__files *fs = r->files;
    struct rsv__flight *f;
    struct timespec ts;

    pthread_mutex_lock(&fs->mu);
    f = flight_find_ref(fs, key);
    pthread_mutex_unlock(&fs->mu);
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    while (f->verified && !f->done) {
        deadline_after(&ts, 1);
        f->waiting++;
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        f->waiting--;
    }
    pthread_mutex_unlock(&f->mu);
    flight_unref(f);
}

/* rsv_open_file, or with `nb` rsv_open_stored. */
static int open_file(struct rsv *r, const char *key, const char *filename, bool metadata,
                     bool nb, struct rsv_body **out, struct buf *why)
{
    struct stg_file rec = {0};
    struct rsv__flight *f = NULL;
    struct rsv_body *b;
    struct timespec ts;
    int rc;

    CHECK_OBJ(r, RSV_MAGIC);
    if (!nb)
        wait_for_commit(r, key);
    rc = stg_file_get(r->stg, key, &rec);
    if (rc) {
        if (rc != IMX_ENOTFOUND)
            log_warnx("cannot read file record '%s': %s", key, imx_strerror(rc));
        return IMX_ENOTFOUND;
    }
    if (!rec.filename || strcmp(rec.filename, filename) != 0) {
        rc = IMX_ENOTFOUND;
        goto out;
    }
    if (metadata) {
        if (rec.metadata_sha256 && open_stored(r, rec.metadata_sha256, out) == 0) {
            rsv__count_file(r, rec.index, RSV_FILE_HIT);
            goto out;
        }
        if (nb) {
            rc = IMX_EAGAIN;
            goto out;
        }
        if (!rec.metadata_expected_sha256 || r->offline) {
            rc = IMX_ENOTFOUND;
            goto out;
        }
        rc = fetch_metadata(r, &rec, why);
        if (rc == 0)
            rc = open_stored(r, rec.metadata_sha256, out);
        if (rc == 0)
            rsv__count_file(r, rec.index, RSV_FILE_MISS);
        goto out;
    }
    if (nb && (!rec.sha256 || rsv__now() - rec.last_access > RSV_TOUCH_INTERVAL)) {
        rc = IMX_EAGAIN; /* a download or a write transaction: not here */
        goto out;
    }
    if (rec.sha256 && open_stored(r, rec.sha256, out) == 0) {
        rsv__count_file(r, rec.index, RSV_FILE_HIT);
        /*
         * LRU needs only a coarse access time: a write transaction on every
         * hit would serialise all cached downloads behind LMDB's writer lock.
         */
        if (rsv__now() - rec.last_access > RSV_TOUCH_INTERVAL)
            stg_file_touch(r->stg, key, rsv__now());
        goto out;
    }
    if (nb) {
        rc = IMX_EAGAIN;
        goto out;
    }
    if (r->offline) {
        rc = IMX_ENOTFOUND;
        goto out;
    }
    rc = flight_join(r, &rec, &f, why);
    if (rc) {
        rc = IMX_EUPSTREAM;
        goto out;
    }
    /* Wait for the upstream's answer: its status decides ours. */
    pthread_mutex_lock(&f->mu);
    while (!f->headers && !f->done) {
        deadline_after(&ts, 1);
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    if (!f->headers) {
        buf_printf(why, "%s", f->why);
        pthread_mutex_unlock(&f->mu);
        flight_unref(f);
        rc = IMX_EUPSTREAM;
        goto out;
    }
    b = xcalloc(1, sizeof(*b));
    b->fd = -1;
    b->size = f->total;
    b->flight = f;
    pthread_mutex_unlock(&f->mu);
    b->metrics = r->metrics;
    rsv__gauge_transfer_clients(r, +1);
    *out = b;
    rc = 0;
out:
    stg_file_release(&rec);
    return rc;
}

/*
 * Read from a streaming body. While no byte at pos is released yet: wait
 * (wake == NULL) or arm b's one-shot wake-up and return IMX_EAGAIN.
 */
static int64_t body_read(struct rsv_body *b, uint64_t pos, void *dst, size_t n,
                         void (*wake)(void *arg), void *arg)
{
    struct rsv__flight *f = b->flight;
    struct timespec ts;
    uint64_t limit;
    unsigned idle = 0;
    ssize_t got;

    pthread_mutex_lock(&f->mu);
    for (;;) {
        uint64_t before = f->written;
        if (f->verified || (f->done && f->result == 0))
            limit = f->written;
        else if (f->total >= 0 && f->written < (uint64_t)f->total)
            limit = f->written;
        else
            limit = f->written ? f->written - 1 : 0; /* hold the last byte back */
        if (pos < limit)
            break;
        if (f->verified) {
            /* Complete and checked, even if storing it then fails. */
            pthread_mutex_unlock(&f->mu);
            return 0;
        }
        if (f->done) {
            int result = f->result;
            pthread_mutex_unlock(&f->mu);
            return result ? (result < 0 ? result : IMX_EUPSTREAM) : 0;
        }
        if (wake) {
            /* One-shot: linked at most once (wake_readers unlinks it). */
            b->wake = wake;
            b->wake_arg = arg;
            if (!b->wake_armed) {
                b->wake_armed = true;
                b->wake_next = f->wakers;
                f->wakers = b;
            }
            pthread_mutex_unlock(&f->mu);
            return IMX_EAGAIN;
        }
        deadline_after(&ts, 1);
        f->waiting++;
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        f->waiting--;
        idle = f->written == before ? idle + 1 : 0;
        if (idle > 2 * f->timeout + 5) {
            pthread_mutex_unlock(&f->mu);
            return IMX_ETIMEDOUT;
        }
    }
    if (n > limit - pos)
        n = (size_t)(limit - pos);
    if (f->mem && pos >= f->file_bytes) {
        /* From the window in memory, copied while the writer cannot move it. */
        if (f->written - pos > RING_BYTES) {
            pthread_mutex_unlock(&f->mu);
            return IMX_ENOSPC; /* fell a whole window behind a download we cannot store */
        }
        for (size_t done = 0; done < n;) {
            size_t at = (size_t)((pos + done) % RING_BYTES);
            size_t k = n - done < RING_BYTES - at ? n - done : RING_BYTES - at;
            memcpy((char *)dst + done, f->ring + at, k);
            done += k;
        }
        pthread_mutex_unlock(&f->mu);
        return (int64_t)n;
    }
    if (f->mem && n > f->file_bytes - pos)
        n = (size_t)(f->file_bytes - pos);
    pthread_mutex_unlock(&f->mu);
    got = pread(f->rfd, dst, n, (off_t)pos);
    if (got <= 0)
        return IMX_EIO;
    return (int64_t)got;
}

int rsv_open_file(struct rsv *r, const char *key, const char *filename, bool metadata,
                  struct rsv_body **out, struct buf *why)
{
    return open_file(r, key, filename, metadata, false, out, why);
}

int rsv_open_stored(struct rsv *r, const char *key, const char *filename, bool metadata,
                    struct rsv_body **out)
{
    return open_file(r, key, filename, metadata, true, out, NULL);
}

int64_t rsv_body_read(struct rsv_body *b, uint64_t pos, void *dst, size_t n)
{
    ssize_t got;

    if (b->flight)
        return body_read(b, pos, dst, n, NULL, NULL);
    got = pread(b->fd, dst, n, (off_t)pos);
    return got < 0 ? IMX_EIO : (int64_t)got;
}

int64_t rsv_body_read_nb(struct rsv_body *b, uint64_t pos, void *dst, size_t n,
                         void (*wake)(void *arg), void *arg)
{
    ssize_t got;

    assert(wake != NULL);
    if (b->flight)
        return body_read(b, pos, dst, n, wake, arg);
    got = pread(b->fd, dst, n, (off_t)pos);
    return got < 0 ? IMX_EIO : (int64_t)got;
}

void rsv_body_free(struct rsv_body *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    if (b->flight && b->metrics)
        __atomic_sub_fetch(&b->metrics->transfer_clients, 1, __ATOMIC_RELAXED);
    if (b->flight && b->wake_armed) {
        /* Disarm under the lock: after this no wake-up can reach the caller's arg. */
        struct rsv_body **pp;
        pthread_mutex_lock(&b->flight->mu);
        for (pp = &b->flight->wakers; *pp; pp = &(*pp)->wake_next) {
            if (*pp == b) {
                *pp = b->wake_next;
                break;
            }
        }
        pthread_mutex_unlock(&b->flight->mu);
    }
    flight_unref(b->flight);
    free(b);
}

/* ---- lazy reads of files that are not stored ---- */

/* The record of key if it names filename and is not stored; else a code as rsv_file_stored's. */
static int unstored_record(struct rsv *r, const char *key, const char *filename,
                           struct stg_file *rec)
{
    int rc = stg_file_get(r->stg, key, rec);

    if (rc) {
        if (rc != IMX_ENOTFOUND)
            log_warnx("cannot read file record '%s': %s", key, imx_strerror(rc));
        return IMX_ENOTFOUND;
    }
    if (!rec->filename || strcmp(rec->filename, filename) != 0)
        rc = IMX_ENOTFOUND;
    else if (rec->sha256 && stg_blob_exists(r->stg, rec->sha256))
        rc = 0;
    else
        rc = r->offline ? IMX_ENOTFOUND : IMX_EAGAIN;
    if (rc != IMX_EAGAIN)
        stg_file_release(rec);
    return rc;
}

int rsv_file_stored(struct rsv *r, const char *key, const char *filename)
{
    struct stg_file rec = {0};
    int rc;

    CHECK_OBJ(r, RSV_MAGIC);
    wait_for_commit(r, key);
    rc = unstored_record(r, key, filename, &rec);
    if (rc == IMX_EAGAIN)
        stg_file_release(&rec);
    return rc;
}

/* A request for rec's upstream URL with its index's credentials and TLS settings. */
static void file_request(const struct rsv *r, const struct stg_file *rec,
                         struct upstream_request *req)
{
    const struct config_index *ix = config_find_index(r->cfg, rec->index);

    memset(req, 0, sizeof(*req));
    req->url = rec->url;
    req->accept = "*/*";
    req->gzip = false;
    req->tls_verify = ix ? ix->tls_verify : true;
    if (ix) {
        req->username = ix->username;
        req->password = ix->password;
        req->ca_file = ix->ca_file;
    }
}

/* "bytes S-E/T" (206) exactly; T may not be '*'. */
static bool parse_content_range(const char *s, uint64_t *start, uint64_t *end, uint64_t *total)
{
    struct str v = str_trim(str_from(s));
    ptrdiff_t dash, slash;
    struct str a, b;

    if (!str_starts_with(v, STR_LIT("bytes ")))
        return false;
    v = str_sub(v, 6, v.len);
    dash = str_index(v, '-');
    slash = str_index(v, '/');
    if (dash < 0 || slash < dash)
        return false;
    a = str_sub(v, 0, (size_t)dash);
    b = str_sub(v, (size_t)dash + 1, (size_t)slash);
    return str_to_u64(a, INT64_MAX, start) == 0 && str_to_u64(b, INT64_MAX, end) == 0 &&
           str_to_u64(str_sub(v, (size_t)slash + 1, v.len), INT64_MAX, total) == 0 &&
           *start <= *end && *end < *total;
}

/* The total of a 416's "bytes * /T" (no space), or false. */
static bool parse_unsatisfied(const char *s, uint64_t *total)
{
    struct str v = str_trim(str_from(s));

    return str_starts_with(v, STR_LIT("bytes */")) &&
           str_to_u64(str_sub(v, 8, v.len), INT64_MAX, total) == 0;
}

/*
 * One bounded range: "bytes=a-b" (a <= b) or "bytes=-n" (n > 0). An
 * open-ended "a-" is not forwarded: its size is unknown until the answer.
 */
static bool parse_client_range(const char *s, bool *suffix, uint64_t *a, uint64_t *b)
{
    struct str v = str_trim(str_from(s));
    ptrdiff_t dash;

    if (!str_starts_with(v, STR_LIT("bytes=")))
        return false;
    v = str_trim(str_sub(v, 6, v.len));
    dash = str_index(v, '-');
    if (dash < 0)
        return false;
    *suffix = dash == 0;
    if (*suffix) {
        *b = 0;
        return str_to_u64(str_sub(v, 1, v.len), INT64_MAX, a) == 0 && *a > 0;
    }
    return str_to_u64(str_sub(v, 0, (size_t)dash), INT64_MAX, a) == 0 &&
           str_to_u64(str_sub(v, (size_t)dash + 1, v.len), INT64_MAX, b) == 0 && *a <= *b;
}

struct range_probe {
    long status;
    int64_t content_length;
};

/* Keep only 206 and 416 bodies: anything else would be the whole file. */
static int range_headers(void *ctx, long status, int64_t content_length)
{
    struct range_probe *p = ctx;

    p->status = status;
    p->content_length = content_length;
    return status == 206 || status == 416 ? 0 : 1;
}

int rsv_file_size(struct rsv *r, const char *key, const char *filename, uint64_t *size_out,
                  struct buf *why)
{
    struct stg_file rec = {0};
    struct upstream_request req;
    struct upstream_response resp;
    struct range_probe probe = {0, -1};
    uint64_t start, end, total;
    int rc;

    CHECK_OBJ(r, RSV_MAGIC);
    rc = stg_file_get(r->stg, key, &rec);
    if (rc || !rec.filename || strcmp(rec.filename, filename) != 0) {
        stg_file_release(&rec);
        return IMX_ENOTFOUND;
    }
    if (rec.size >= 0) {
        *size_out = (uint64_t)rec.size;
        stg_file_release(&rec);
        return 0;
    }
    if (r->offline) {
        stg_file_release(&rec);
        return IMX_ENOTFOUND;
    }
    upstream_response_init(&resp);
    file_request(r, &rec, &req);
    req.range = "bytes=0-0";
    req.max_body = 1;
    req.on_headers = range_headers;
    req.ctx = &probe;
    rc = rsv__upstream_fetch(r, rec.index, &req, &resp);
    if (probe.status == 200 && probe.content_length >= 0) {
        /* No range support: the 200's length is the size (the transfer was stopped). */
        *size_out = (uint64_t)probe.content_length;
        rc = 0;
    } else if (rc == 0 && resp.status == 206 &&
               parse_content_range(resp.content_range, &start, &end, &total)) {
        *size_out = total;
    } else {
        buf_printf(why, "upstream '%s' did not give the size of '%s': %s", rec.index,
                   rec.filename,
                   rc && rc != IMX_ECANCELED ? (resp.error[0] ? resp.error : imx_strerror(rc))
                                             : "no Content-Range");
        rc = IMX_EUPSTREAM;
    }
    upstream_response_release(&resp);
    stg_file_release(&rec);
    return rc;
}

int rsv_fetch_range(struct rsv *r, const char *key, const char *filename, const char *range,
                    struct rsv_range *out, struct buf *why)
{
    struct stg_file rec = {0};
    struct upstream_request req;
    struct upstream_response resp;
    struct range_probe probe = {0, -1};
    uint64_t a, b, want, start, end, total;
    char hdr[64];
    bool suffix, ok;
    int rc;

    CHECK_OBJ(r, RSV_MAGIC);
    assert(range != NULL && out != NULL);
    if (!parse_client_range(range, &suffix, &a, &b))
        return IMX_EINVAL;
    want = suffix ? a : b - a + 1;
    if (want == 0 || want > RSV_MAX_RANGE_BYTES)
        return IMX_EINVAL;
    rc = unstored_record(r, key, filename, &rec);
    if (rc == 0)
        return IMX_EINVAL; /* stored meanwhile: rsv_open_file answers it */
    if (rc != IMX_EAGAIN)
        return rc;
    if (suffix)
        snprintf(hdr, sizeof(hdr), "bytes=-%llu", (unsigned long long)a);
    else
        snprintf(hdr, sizeof(hdr), "bytes=%llu-%llu", (unsigned long long)a,
                 (unsigned long long)b);
    upstream_response_init(&resp);
    file_request(r, &rec, &req);
    req.range = hdr;
    req.max_body = RSV_MAX_RANGE_BYTES;
    req.on_headers = range_headers;
    req.ctx = &probe;
    rc = rsv__upstream_fetch(r, rec.index, &req, &resp);
    if (probe.status != 0 && probe.status != 206 && probe.status != 416) {
        buf_printf(why, "upstream '%s' answered %ld to a range of '%s'", rec.index, probe.status,
                   rec.filename);
        rc = IMX_EUPSTREAM;
        goto out;
    }
    if (rc) {
        buf_printf(why, "upstream '%s' could not give a range of '%s': %s", rec.index,
                   rec.filename, resp.error[0] ? resp.error : imx_strerror(rc));
        rc = IMX_EUPSTREAM;
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if (resp.status == 416) {
        out->status = 416;
        if (resp.content_range && parse_unsatisfied(resp.content_range, &total))
            snprintf(out->content_range, sizeof(out->content_range), "bytes */%llu",
                     (unsigned long long)total);
        goto out;
    }
    ok = resp.status == 206 && resp.content_range &&
         parse_content_range(resp.content_range, &start, &end, &total);
    if (ok && suffix)
        ok = end == total - 1 && start == total - (a < total ? a : total);
    else if (ok)
        ok = start == a && end == (b < total - 1 ? b : total - 1);
    ok = ok && (rec.size < 0 || (uint64_t)rec.size == total) && resp.body.len == end - start + 1;
    if (!ok) {
        buf_printf(why, "upstream '%s' answered a range of '%s' with %s '%s' and %zu bytes",
                   rec.index, rec.filename, "Content-Range",
                   resp.content_range ? resp.content_range : "", resp.body.len);
        rc = IMX_EUPSTREAM;
        goto out;
    }
    out->status = 206;
    snprintf(out->content_range, sizeof(out->content_range), "bytes %llu-%llu/%llu",
             (unsigned long long)start, (unsigned long long)end, (unsigned long long)total);
    out->body = buf_detach(&resp.body, &out->len);
out:
    upstream_response_release(&resp);
    stg_file_release(&rec);
    return rc;
}

void rsv_range_release(struct rsv_range *rg)
{
    if (!rg)
        return;
    free(rg->body);
    rg->body = NULL;
    rg->len = 0;
}
