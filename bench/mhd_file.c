/*
 * mhd_file.c - the benchmark's reference for the cached-file row: bare
 * libmicrohttpd, started with the flags and options indexmux's server.c uses
 * (epoll thread pool of one thread per CPU, suspend/resume allowed, the same
 * connection limit, timeout and memory limit), answering every GET with one
 * file by MHD_create_response_from_fd64. No routing, no store, no headers of
 * its own: what is left of indexmux's time in this row after this server's
 * is what indexmux adds; the rest is the library's.
 *
 * Usage: mhd_file PORT FILE [tpc]   (listens on 127.0.0.1; runs until killed)
 *
 * With "tpc", libmicrohttpd runs a thread per connection instead of the
 * epoll pool: the one mode in which it sends a file in 2 MiB sendfile
 * steps instead of 128 KiB ones, with no event loop between them
 * (bench/senders.py compares the two with nginx). indexmux cannot use it:
 * 2,000 idle connections would be 2,000 threads.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC; before any header */

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **req)
{
    const char *path = cls;
    struct MHD_Response *resp;
    struct stat st;
    enum MHD_Result ret;
    int fd;

    (void)url;
    (void)version;
    (void)upload;
    (void)upload_len;
    if (*req == NULL) { /* headers only so far: answer on the next call */
        *req = conn;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0)
        return MHD_NO;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "mhd_file: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return MHD_NO;
    }
    resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd); /* owns fd */
    if (resp == NULL) {
        close(fd);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned)cpus;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_CONNECTION_LIMIT, 8192, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL}, /* last: cut for "tpc" */
        {MHD_OPTION_END, 0, NULL},
    };
    int port;

    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "tpc") != 0) ||
        (port = atoi(argv[1])) <= 0 || port > 65535) {
        fprintf(stderr, "usage: mhd_file PORT FILE [tpc]\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (argc == 4) { /* a thread per connection, and no pool */
        flags |= MHD_USE_THREAD_PER_CONNECTION;
        opts[4].option = MHD_OPTION_END;
    }
    d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, argv[2], MHD_OPTION_ARRAY, opts,
                         MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "mhd_file: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    for (;;)
        pause();
}
