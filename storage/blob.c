/*
 * blob.c - the content-addressed blob store (storage.h): package bytes as
 * files named by their sha256 under blobs/ab/cd/<sha256>.
 *
 * A blob becomes visible only whole and verified (git's lockfile recipe):
 *
 *   phase      what exists                       legal calls
 *   writing    tmp/blob-XXXXXX (mode 0644)       stg_blob_write, _writer_path,
 *                                                _writer_size, _commit, _abort
 *   committed  blobs/ab/cd/<sha256>, no temp     (writer freed)
 *   aborted    nothing                           (writer freed)
 *
 * stg_blob_commit hashes nothing itself: bytes are hashed as they are
 * written. It checks the digest, fsyncs the file, renames it into place and
 * fsyncs the directory, so after a crash a blob is either absent or whole.
 * Since names are digests, an existing destination already holds the same
 * bytes: it is kept and the temp dropped (two concurrent commits of the same
 * content may both rename; either result is the same file).
 *
 * tmp/ holds only files of in-flight writers; stg_open empties it (the
 * data_dir lock guarantees no other read-write process is writing there).
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "sha256.h"
#include "storage.h"
#include "storage_int.h"
#include "xalloc.h"

struct stg_blob_writer {
    unsigned magic;
    struct stg *s;
    int fd;
    char *tmp_path;
    atomic_ullong size; /* read by other threads (stg_blob_writer_size) */
    struct sha256 *hash;
    int err; /* sticky: first write error */
    bool digested;             /* hex holds the final digest (stg_blob_verify) */
    char hex[SHA256_HEX_LEN + 1];
};

static int errno_rc(int e)
{
    return (e == ENOSPC || e == EDQUOT) ? IMX_ENOSPC : IMX_EIO;
}

/* ---- directories ---- */

int stg__mkdirs(const char *path, unsigned mode)
{
    char *p = NULL;
    int rc = 0;

    if (path[0] == '\0')
        return IMX_EINVAL;
    p = xstrdup(path);

    /* Create each prefix ending before a '/', then the whole path. */
    for (char *q = p + 1;; q++) {
        char c = *q;
        if (c != '/' && c != '\0')
            continue;
        *q = '\0';
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
            log_warn("cannot create directory '%s'", p);
            rc = errno_rc(errno);
            goto out;
        }
        if (c == '\0')
            break;
        *q = c;
    }
out:
    free(p);
    return rc;
}

/* Remove what a crashed or killed writer left in tmp/. */
static int clean_tmp(struct stg *s)
{
    DIR *d = opendir(s->tmp_dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL) {
        log_warn("cannot open directory '%s'", s->tmp_dir);
        return IMX_EIO;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (e == NULL)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
            /* A stray directory is odd but harmless: leave it to the operator. */
            log_warn("cannot remove '%s/%s'", s->tmp_dir, e->d_name);
        }
    }
    if (errno != 0) {
        log_warn("cannot read directory '%s'", s->tmp_dir);
        rc = IMX_EIO;
    }
    closedir(d);
    return rc;
}

int stg__blob_dirs_init(struct stg *s)
{
    int rc;

    if (s->read_only)
        return 0;
    rc = stg__mkdirs(s->blob_dir, 0755);
    if (rc == 0)
        rc = stg__mkdirs(s->tmp_dir, 0755);
    if (rc == 0)
        rc = clean_tmp(s);
    return rc;
}

static bool is_hex_name(const char *name, size_t len)
{
    if (strlen(name) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/*
 * Walk one level of blobs/: depth 0 and 1 are the ab/ and cd/ fan-out
 * directories, depth 2 holds the blobs.
 */
static int walk(int dfd, const char *path, int depth, uint64_t *count, uint64_t *bytes)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    struct stat st;
    int rc = 0;

    if (d == NULL) {
        log_warn("cannot open directory '%s'", path);
        close(dfd);
        return IMX_EIO;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (e == NULL)
            break;
        if (depth < 2) {
            int sub;
            char *subpath;
            if (!is_hex_name(e->d_name, 2))
                continue;
            sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                    continue; /* removed meanwhile, or not ours */
                log_warn("cannot open directory '%s/%s'", path, e->d_name);
                rc = IMX_EIO;
                break;
            }
            subpath = xasprintf("%s/%s", path, e->d_name);
            rc = walk(sub, subpath, depth + 1, count, bytes);
            free(subpath);
            if (rc != 0)
                break;
        } else {
            if (!is_hex_name(e->d_name, SHA256_HEX_LEN))
                continue;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(st.st_mode))
                continue;
            (*count)++;
            *bytes += (uint64_t)st.st_size;
        }
    }
    if (rc == 0 && e == NULL && errno != 0) {
        log_warn("cannot read directory '%s'", path);
        rc = IMX_EIO;
    }
    closedir(d); /* closes dfd */
    return rc;
}

int stg__blob_walk(struct stg *s, uint64_t *count, uint64_t *bytes)
{
    uint64_t n = 0, b = 0;
    int dfd;
    int rc;

    dfd = open(s->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT && s->read_only) {
            *count = 0;
            *bytes = 0;
            return 0;
        }
        log_warn("cannot open directory '%s'", s->blob_dir);
        return IMX_EIO;
    }
    rc = walk(dfd, s->blob_dir, 0, &n, &b);
    if (rc == 0) {
        *count = n;
        *bytes = b;
    }
    return rc;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0) {
        log_warn("cannot open directory '%s'", path);
        return IMX_EIO;
    }
    if (fsync(fd) != 0) {
        log_warn("cannot fsync directory '%s'", path);
        rc = errno_rc(errno);
    }
    close(fd);
    return rc;
}

/* mkdir one level; *created tells whether it is new (its parent then needs an fsync). */
static int mkdir_one(const char *path, bool *created)
{
    if (mkdir(path, 0755) == 0) {
        *created = true;
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    log_warn("cannot create directory '%s'", path);
    return errno_rc(errno);
}

/* ---- paths ---- */

static bool sha_ok(const char *sha256)
{
    return sha256 != NULL && sha256_is_hex(sha256, strlen(sha256));
}

char *stg_blob_path(const struct stg *s, const char *sha256)
{
    CHECK_OBJ(s, STG_MAGIC);
    if (!sha_ok(sha256))
        return NULL;
    return xasprintf("%s/%.2s/%.2s/%s", s->blob_dir, sha256, sha256 + 2, sha256);
}

/* ---- writer ---- */

int stg_blob_begin(struct stg *s, struct stg_blob_writer **out)
{
    struct stg_blob_writer *w = NULL;
    char *path = NULL;
    int fd = -1;
    int rc = 0;

    CHECK_OBJ(s, STG_MAGIC);
    assert(out != NULL);
    if (s->read_only) {
        log_warnx("cannot write a blob in '%s': store opened read-only", s->data_dir);
        return IMX_EIO;
    }
    path = xasprintf("%s/blob-XXXXXX", s->tmp_dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        log_warn("cannot create a temp file in '%s'", s->tmp_dir);
        rc = errno_rc(errno);
        goto out;
    }
    /* mkstemp makes 0600; blobs are plain public package files. */
    if (fchmod(fd, 0644) != 0) {
        log_warn("cannot chmod '%s'", path);
        rc = IMX_EIO;
        goto out;
    }
    w = xcalloc(1, sizeof(*w));
    INIT_OBJ(w, STG_BLOB_WRITER_MAGIC);
    w->s = s;
    w->fd = fd;
    w->tmp_path = path;
    atomic_init(&w->size, 0);
    w->hash = sha256_new();
    fd = -1;
    path = NULL;
    *out = w;
out:
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(path);
    return rc;
}

int stg_blob_write(struct stg_blob_writer *w, const void *p, size_t n)
{
    const char *q = p;

    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    assert(p != NULL || n == 0);
    if (w->err != 0)
        return w->err;
    while (n > 0) {
        ssize_t k = write(w->fd, q, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            log_warn("cannot write '%s'", w->tmp_path);
            w->err = errno_rc(errno);
            return w->err;
        }
        if (k == 0) { /* not expected from a regular file; do not spin */
            log_warnx("cannot write '%s': no progress", w->tmp_path);
            w->err = IMX_EIO;
            return w->err;
        }
        sha256_update(w->hash, q, (size_t)k);
        q += k;
        n -= (size_t)k;
        atomic_fetch_add(&w->size, (unsigned long long)k);
    }
    return 0;
}

const char *stg_blob_writer_path(const struct stg_blob_writer *w)
{
    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    return w->tmp_path;
}

uint64_t stg_blob_writer_size(const struct stg_blob_writer *w)
{
    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    return atomic_load(&w->size);
}

/* Close, unlink the temp file (unless moved away), free. */
static void writer_free(struct stg_blob_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_path != NULL && unlink(w->tmp_path) != 0 && errno != ENOENT)
        log_warn("cannot remove '%s'", w->tmp_path);
    free(w->tmp_path);
    sha256_free(w->hash);
    FINI_OBJ(w);
    free(w);
}

void stg_blob_abort(struct stg_blob_writer *w)
{
    if (w == NULL)
        return;
    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    writer_free(w);
}

struct sha256 *stg_blob_abort_keep_hash(struct stg_blob_writer *w)
{
    struct sha256 *h;

    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    h = w->hash;
    w->hash = NULL;
    writer_free(w);
    return h;
}

/* The digest of what was written, computed once (the hash can be finalized only once). */
static const char *writer_digest(struct stg_blob_writer *w)
{
    if (!w->digested) {
        sha256_final_hex(w->hash, w->hex);
        w->digested = true;
    }
    return w->hex;
}

int stg_blob_verify(struct stg_blob_writer *w, const char *expected_sha256, char sha_out[65])
{
    const char *hex;

    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    if (w->err != 0)
        return w->err;
    hex = writer_digest(w);
    if (expected_sha256 != NULL &&
        (strlen(expected_sha256) != SHA256_HEX_LEN || strcasecmp(expected_sha256, hex) != 0))
        return IMX_EHASH;
    memcpy(sha_out, hex, SHA256_HEX_LEN + 1);
    return 0;
}

int stg_blob_commit(struct stg_blob_writer *w, const char *expected_sha256, char sha_out[65])
{
    char hex[SHA256_HEX_LEN + 1];
    char *dir1 = NULL, *dir2 = NULL, *dest = NULL;
    bool made1 = false, made2 = false;
    struct stat st;
    int fd;
    int rc;

    CHECK_OBJ(w, STG_BLOB_WRITER_MAGIC);
    assert(sha_out != NULL);
    rc = w->err;
    if (rc != 0)
        goto out;
    memcpy(hex, writer_digest(w), sizeof(hex));
    if (expected_sha256 != NULL &&
        (strlen(expected_sha256) != SHA256_HEX_LEN || strcasecmp(expected_sha256, hex) != 0)) {
        rc = IMX_EHASH;
        goto out;
    }
    if (fsync(w->fd) != 0) {
        log_warn("cannot fsync '%s'", w->tmp_path);
        rc = errno_rc(errno);
        goto out;
    }
    fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        log_warn("cannot close '%s'", w->tmp_path);
        rc = errno_rc(errno);
        goto out;
    }
    dir1 = xasprintf("%s/%.2s", w->s->blob_dir, hex);
    dir2 = xasprintf("%s/%.2s", dir1, hex + 2);
    dest = xasprintf("%s/%s", dir2, hex);
    rc = mkdir_one(dir1, &made1);
    if (rc == 0)
        rc = mkdir_one(dir2, &made2);
    if (rc != 0)
        goto out;
    if (lstat(dest, &st) == 0) {
        /* Same name, same bytes: keep the stored blob; the temp goes in writer_free. */
        goto done;
    }
    if (rename(w->tmp_path, dest) != 0) {
        log_warn("cannot rename '%s' to '%s'", w->tmp_path, dest);
        rc = errno_rc(errno);
        goto out;
    }
    free(w->tmp_path);
    w->tmp_path = NULL;
    rc = fsync_dir(dir2);
    if (rc == 0 && made2)
        rc = fsync_dir(dir1);
    if (rc == 0 && made1)
        rc = fsync_dir(w->s->blob_dir);
    if (rc != 0)
        goto out;
done:
    memcpy(sha_out, hex, sizeof(hex));
out:
    free(dir1);
    free(dir2);
    free(dest);
    writer_free(w);
    return rc;
}

/* ---- stored blobs ---- */

int stg_blob_open(struct stg *s, const char *sha256, int *fd, uint64_t *size)
{
    char *path = NULL;
    struct stat st;
    int f = -1;
    int rc = 0;

    CHECK_OBJ(s, STG_MAGIC);
    assert(fd != NULL && size != NULL);
    path = stg_blob_path(s, sha256);
    if (path == NULL)
        return IMX_EINVAL;
    f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0) {
        if (errno == ENOENT) {
            rc = IMX_ENOTFOUND;
        } else {
            log_warn("cannot open '%s'", path);
            rc = IMX_EIO;
        }
        goto out;
    }
    if (fstat(f, &st) != 0) {
        log_warn("cannot stat '%s'", path);
        rc = IMX_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        log_warnx("cannot use blob '%s': not a regular file", path);
        rc = IMX_EIO;
        goto out;
    }
    *fd = f;
    *size = (uint64_t)st.st_size;
    f = -1;
out:
    if (f >= 0)
        close(f);
    free(path);
    return rc;
}

bool stg_blob_exists(struct stg *s, const char *sha256)
{
    char *path = stg_blob_path(s, sha256);
    struct stat st;
    bool ok;

    if (path == NULL)
        return false;
    ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

int stg_blob_remove(struct stg *s, const char *sha256)
{
    char *path = stg_blob_path(s, sha256);
    int rc = 0;

    if (path == NULL)
        return IMX_EINVAL;
    if (unlink(path) != 0) {
        if (errno == ENOENT) {
            rc = IMX_ENOTFOUND;
        } else {
            log_warn("cannot remove '%s'", path);
            rc = IMX_EIO;
        }
    }
    free(path);
    return rc;
}
