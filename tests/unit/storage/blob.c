/*
 * Tests for storage/blob.c: a blob is visible only whole and verified, at
 * blobs/ab/cd/<sha256>; a wrong hash leaves nothing behind; duplicates are
 * fine; names that are not a sha256 are refused.
 */
#include "compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "sha256.h"
#include "storage.h"
#include "unit/storage/helpers.h"
#include "xalloc.h"

static int write_blob(struct stg *s, const void *p, size_t n, const char *expected, char sha[65])
{
    struct stg_blob_writer *w = NULL;

    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, p, n), 0);
    cr_assert_eq(stg_blob_writer_size(w), n);
    return stg_blob_commit(w, expected, sha);
}

static void assert_dir_empty(const char *d, const char *sub)
{
    char *p = xasprintf("%s/%s", d, sub);
    cr_assert_eq(th_count_entries(p), 0, "'%s' is not empty", p);
    free(p);
}

Test(blob, correct_blob_is_visible_with_its_bytes)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    const char data[] = "wheel bytes\0with a NUL";
    char want[65], sha[65], *path, *expect_path;
    char back[sizeof(data)];
    uint64_t size = 0;
    int fd = -1;

    sha256_hex(data, sizeof(data), want);
    cr_assert_eq(write_blob(s, data, sizeof(data), want, sha), 0);
    cr_assert_str_eq(sha, want);

    path = stg_blob_path(s, sha);
    expect_path = xasprintf("%s/blobs/%.2s/%.2s/%s", d, sha, sha + 2, sha);
    cr_assert_str_eq(path, expect_path);
    cr_assert_eq(access(path, R_OK), 0);
    cr_assert(stg_blob_exists(s, sha));

    cr_assert_eq(stg_blob_open(s, sha, &fd, &size), 0);
    cr_assert_eq(size, sizeof(data));
    cr_assert_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
    cr_assert_arr_eq(back, data, sizeof(data));
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    assert_dir_empty(d, "tmp");
    free(path);
    free(expect_path);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, no_expected_hash_and_uppercase_expected)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char want[65], upper[65], sha[65];

    sha256_hex("abc", 3, want);
    cr_assert_eq(write_blob(s, "abc", 3, NULL, sha), 0);
    cr_assert_str_eq(sha, want);
    for (int i = 0; i < 65; i++)
        upper[i] = (char)((want[i] >= 'a' && want[i] <= 'f') ? want[i] - 32 : want[i]);
    cr_assert_eq(write_blob(s, "abc", 3, upper, sha), 0, "hex case does not matter");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, wrong_hash_leaves_nothing_visible)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char real[65], sha[65] = "untouched";
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    struct stg_stats st;
    int fd = -1;
    uint64_t size = 0;

    sha256_hex("tampered", 8, real);
    cr_assert_eq(write_blob(s, "tampered", 8, wrong, sha), IMX_EHASH);
    cr_assert_str_eq(sha, "untouched", "sha_out written only on success");
    cr_assert_eq(write_blob(s, "tampered", 8, "short", sha), IMX_EHASH);
    cr_assert_not(stg_blob_exists(s, real));
    cr_assert_not(stg_blob_exists(s, wrong));
    cr_assert_eq(stg_blob_open(s, real, &fd, &size), IMX_ENOTFOUND);
    cr_assert_eq(fd, -1);
    assert_dir_empty(d, "blobs");
    assert_dir_empty(d, "tmp");
    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.blobs, 0);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, verify_before_commit)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_blob_writer *w = NULL;
    char real[65], sha[65] = "untouched", sha2[65] = "";
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";

    sha256_hex("verified", 8, real);
    /* Verified, not yet visible; commit then reuses the digest. */
    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, "verified", 8), 0);
    cr_assert_eq(stg_blob_verify(w, wrong, sha), IMX_EHASH);
    cr_assert_str_eq(sha, "untouched");
    cr_assert_eq(stg_blob_verify(w, real, sha), 0, "verify may be asked again");
    cr_assert_str_eq(sha, real);
    cr_assert_not(stg_blob_exists(s, real), "verify does not store");
    cr_assert_eq(stg_blob_commit(w, real, sha2), 0);
    cr_assert_str_eq(sha2, real);
    cr_assert(stg_blob_exists(s, real));

    /* A failed verification, then commit: nothing kept. */
    sha256_hex("tampered", 8, real);
    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, "tampered", 8), 0);
    cr_assert_eq(stg_blob_verify(w, wrong, sha), IMX_EHASH);
    cr_assert_eq(stg_blob_commit(w, wrong, sha), IMX_EHASH);
    cr_assert_not(stg_blob_exists(s, real));
    assert_dir_empty(d, "tmp");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, duplicate_commit_is_fine)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char sha1[65], sha2[65];
    struct stg_blob_writer *w1 = NULL, *w2 = NULL;
    struct stg_stats st;

    /* Two writers of the same bytes in flight at once, like two upstream fetches. */
    cr_assert_eq(stg_blob_begin(s, &w1), 0);
    cr_assert_eq(stg_blob_begin(s, &w2), 0);
    cr_assert_str_neq(stg_blob_writer_path(w1), stg_blob_writer_path(w2));
    cr_assert_eq(stg_blob_write(w1, "same", 4), 0);
    cr_assert_eq(stg_blob_write(w2, "same", 4), 0);
    cr_assert_eq(stg_blob_commit(w1, NULL, sha1), 0);
    cr_assert_eq(stg_blob_commit(w2, NULL, sha2), 0);
    cr_assert_str_eq(sha1, sha2);
    cr_assert_eq(write_blob(s, "same", 4, sha1, sha2), 0, "and once more later");
    cr_assert_eq(stg_stat(s, &st), 0);
    cr_assert_eq(st.blobs, 1);
    cr_assert_eq(st.blob_bytes, 4);
    assert_dir_empty(d, "tmp");
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, abort_removes_temp)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_blob_writer *w = NULL;
    char *tmp;

    cr_assert_eq(stg_blob_begin(s, &w), 0);
    tmp = xstrdup(stg_blob_writer_path(w));
    cr_assert_eq(access(tmp, F_OK), 0);
    cr_assert_eq(stg_blob_write(w, "partial", 7), 0);
    stg_blob_abort(w);
    stg_blob_abort(NULL);
    cr_assert_eq(access(tmp, F_OK), -1);
    assert_dir_empty(d, "tmp");
    assert_dir_empty(d, "blobs");
    free(tmp);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, growing_temp_is_readable_and_fd_survives_commit)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_blob_writer *w = NULL;
    char buf[16] = {0};
    char sha[65];
    int rfd;

    cr_assert_eq(stg_blob_begin(s, &w), 0);
    cr_assert_eq(stg_blob_write(w, "first ", 6), 0);
    rfd = open(stg_blob_writer_path(w), O_RDONLY | O_CLOEXEC);
    cr_assert_geq(rfd, 0);
    cr_assert_eq(read(rfd, buf, sizeof(buf)), 6);
    cr_assert_eq(stg_blob_write(w, "second", 6), 0);
    cr_assert_eq(stg_blob_writer_size(w), 12);
    cr_assert_eq(stg_blob_commit(w, NULL, sha), 0);
    cr_assert_eq(read(rfd, buf + 6, sizeof(buf) - 6), 6, "reader keeps going after commit");
    cr_assert_str_eq(buf, "first second");
    close(rfd);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, large_blob_in_chunks)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg_blob_writer *w = NULL;
    size_t total = 3 * 1024 * 1024 + 17;
    char *data = xmalloc(total);
    char want[65], sha[65];
    uint64_t size = 0;
    int fd = -1;

    for (size_t i = 0; i < total; i++)
        data[i] = (char)(i * 31 + (i >> 9));
    sha256_hex(data, total, want);
    cr_assert_eq(stg_blob_begin(s, &w), 0);
    for (size_t off = 0; off < total; off += 65521) {
        size_t n = total - off < 65521 ? total - off : 65521;
        cr_assert_eq(stg_blob_write(w, data + off, n), 0);
    }
    cr_assert_eq(stg_blob_commit(w, want, sha), 0);
    cr_assert_eq(stg_blob_open(s, sha, &fd, &size), 0);
    cr_assert_eq(size, total);
    close(fd);
    free(data);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, names_must_be_sha256)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    const char *bad[] = {
        "",
        "../../../etc/passwd",
        "58CD2187C01E70E6E26505BCA751777AA9F2EE0B7F4300988B709F44E013003F",
        "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003",
        "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f0",
        "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e01300/f",
    };
    int fd = -1;
    uint64_t size = 0;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        cr_assert_null(stg_blob_path(s, bad[i]), "%s", bad[i]);
        cr_assert_not(stg_blob_exists(s, bad[i]));
        cr_assert_eq(stg_blob_open(s, bad[i], &fd, &size), IMX_EINVAL);
        cr_assert_eq(stg_blob_remove(s, bad[i]), IMX_EINVAL);
    }
    cr_assert_null(stg_blob_path(s, NULL));
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, remove)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    char sha[65];

    cr_assert_eq(write_blob(s, "bye", 3, NULL, sha), 0);
    cr_assert(stg_blob_exists(s, sha));
    cr_assert_eq(stg_blob_remove(s, sha), 0);
    cr_assert_not(stg_blob_exists(s, sha));
    cr_assert_eq(stg_blob_remove(s, sha), IMX_ENOTFOUND);
    stg_close(s);
    th_rmrf(d);
    free(d);
}

Test(blob, read_only_store_refuses_writers)
{
    char *d = th_tmpdir();
    struct stg *s = th_open(d, 0, false);
    struct stg *ro;
    struct stg_blob_writer *w = (struct stg_blob_writer *)0x1;
    char sha[65];
    int fd = -1;
    uint64_t size = 0;

    cr_assert_eq(write_blob(s, "ro", 2, NULL, sha), 0);
    ro = th_open(d, 0, true);
    cr_assert_eq(stg_blob_begin(ro, &w), IMX_EIO);
    cr_assert_eq(w, (struct stg_blob_writer *)0x1);
    cr_assert_eq(stg_blob_open(ro, sha, &fd, &size), 0, "reads are fine");
    cr_assert_eq(size, 2);
    close(fd);
    stg_close(ro);
    stg_close(s);
    th_rmrf(d);
    free(d);
}
