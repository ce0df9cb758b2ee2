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
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "metrics_int.h"
#include "resolver_int.h"
#include "sha256.h"
#include "xalloc.h"

#define FLIGHT_MAGIC 0x464c4754u
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
    unsigned waiting;  /* readers blocked in rsv_body_read */
    int result;        /* 0: verified; else an IMX_E* code */
    char why[512];
    int rfd;           /* read side of the temp file (survives its rename) */
    struct rsv__flight *next; /* registry */

    /* owned by the download thread */
    struct rsv *r;
    struct stg_file rec;
    struct stg_blob_writer *w;
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
    stg_file_release(&f->rec);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->key);
    FINI_OBJ(f);
    free(f);
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

static int on_data(void *ctx, const void *p, size_t n)
{
    struct rsv__flight *f = ctx;
    int rc = stg_blob_write(f->w, p, n);

    if (rc) {
        snprintf(f->why, sizeof(f->why), "cannot store '%s': %s", f->rec.filename,
                 imx_strerror(rc));
        return 1;
    }
    pthread_mutex_lock(&f->mu);
    f->written += n;
    /* Wake readers only when some wait: most of the time they are sending. */
    if (f->waiting)
        pthread_cond_broadcast(&f->cv);
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
    pthread_mutex_unlock(&f->mu);
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
    rc = stg_blob_commit(f->w, f->rec.expected_sha256, sha);
    f->w = NULL;
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
    upstream_response_release(&resp);
    finish(f, rc);
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
    f->rec.size = rec->size;
    return f;
}

/* Join the flight of rec->key or start one. Returns a referenced flight. */
static int flight_join(struct rsv *r, const struct stg_file *rec, struct rsv__flight **out,
                       struct buf *why)
{
    struct rsv__files *fs = r->files;
    struct rsv__flight *f;
    pthread_attr_t attr;
    pthread_t tid;
    int rc;

    pthread_mutex_lock(&fs->mu);
    for (f = fs->flights; f; f = f->next) {
        if (strcmp(f->key, rec->key) == 0)
            break;
    }
    if (f) {
        pthread_mutex_lock(&f->mu);
        f->refs++;
        pthread_mutex_unlock(&f->mu);
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
    snprintf(b->sha256, sizeof(b->sha256), "%s", sha);
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

int rsv_open_file(struct rsv *r, const char *key, const char *filename, bool metadata,
                  struct rsv_body **out, struct buf *why)
{
    struct stg_file rec = {0};
    struct rsv__flight *f = NULL;
    struct rsv_body *b;
    struct timespec ts;
    int rc;

    CHECK_OBJ(r, RSV_MAGIC);
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
    if (rec.sha256 && open_stored(r, rec.sha256, out) == 0) {
        rsv__count_file(r, rec.index, RSV_FILE_HIT);
        stg_file_touch(r->stg, key, rsv__now());
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

int64_t rsv_body_read(struct rsv_body *b, uint64_t pos, void *dst, size_t n)
{
    struct rsv__flight *f = b->flight;
    struct timespec ts;
    uint64_t limit;
    unsigned idle = 0;
    ssize_t got;

    if (!f) {
        got = pread(b->fd, dst, n, (off_t)pos);
        return got < 0 ? IMX_EIO : (int64_t)got;
    }
    pthread_mutex_lock(&f->mu);
    for (;;) {
        uint64_t before = f->written;
        if (f->done && f->result == 0)
            limit = f->written;
        else if (f->total >= 0 && f->written < (uint64_t)f->total)
            limit = f->written;
        else
            limit = f->written ? f->written - 1 : 0; /* hold the last byte back */
        if (pos < limit)
            break;
        if (f->done) {
            int result = f->result;
            pthread_mutex_unlock(&f->mu);
            return result ? (result < 0 ? result : IMX_EUPSTREAM) : 0;
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
    pthread_mutex_unlock(&f->mu);
    if (n > limit - pos)
        n = (size_t)(limit - pos);
    got = pread(f->rfd, dst, n, (off_t)pos);
    if (got <= 0)
        return IMX_EIO;
    return (int64_t)got;
}

void rsv_body_free(struct rsv_body *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    if (b->flight && b->metrics)
        __atomic_sub_fetch(&b->metrics->transfer_clients, 1, __ATOMIC_RELAXED);
    flight_unref(b->flight);
    free(b);
}
