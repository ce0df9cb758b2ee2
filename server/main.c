/*
 * main.c - the composition root: parse the command line, load and validate
 * the configuration once, create the modules in dependency order (log ->
 * storage -> upstream -> resolver -> server), wait for a signal, tear down in
 * reverse. The only file that knows every module.
 *
 * Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.
 */
#include "compat.h"

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "marker.h"
#include "metrics.h"
#include "resolver.h"
#include "route.h"
#include "server.h"
#include "stats.h"
#include "storage.h"
#include "str.h"
#include "upstream.h"
#include "xalloc.h"

extern char **environ;

#define EXIT_USAGE 2

struct cli {
    const char *config;
    const char *listen;
    const char *data_dir;
    const char *log_level;
    const char *log_format;
    bool offline;
    const char *out;          /* export --out */
    const char *views[64];    /* export --view, repeatable */
    size_t nviews;
    unsigned gc_interval;     /* serve --gc-interval, seconds; 0 = default */
};

static const char usage_main[] =
    "usage: indexmux COMMAND [OPTIONS]\n"
    "\n"
    "A caching Python package index server with virtual indexes.\n"
    "\n"
    "commands:\n"
    "  serve          run the server\n"
    "  check-config   validate a configuration and print its views and routing table\n"
    "  explain        show which files a view lists for a project, and why\n"
    "  export         write the store (or some views of it) to one bundle file\n"
    "  import         merge a bundle into the store, verifying every blob\n"
    "  gc             remove unreferenced blobs, evict down to max-cache-size\n"
    "  fsck           re-hash every blob and check every reference\n"
    "  stats          pages, files and bytes per upstream\n"
    "\n"
    "Run 'indexmux COMMAND --help' for the options of a command.\n";

static const char usage_serve[] =
    "usage: indexmux serve [--config FILE] [--listen ADDR:PORT] [--data-dir DIR] [--offline]\n"
    "                      [--log-level error|warn|info|debug] [--log-format text|json]\n"
    "                      [--gc-interval SECONDS]\n"
    "\n"
    "Serve the views of the configuration (the embedded default without --config).\n"
    "Flags override the file. SIGINT/SIGTERM stop the server. Unless offline, the\n"
    "server enforces max-cache-size every --gc-interval seconds (default 60).\n"
    "SIGHUP re-reads --config: new requests use it, requests in flight finish on the\n"
    "old one; an invalid file is logged and the old configuration stays.\n";

static const char usage_check[] =
    "usage: indexmux check-config [--config FILE]\n"
    "\n"
    "Validate the configuration (the embedded default without --config) and print\n"
    "every view: its URL path, its indexes in order, its strategy, and each pinned\n"
    "project with its index and marker. Exits 1 with file:line:col: message on error.\n";

static const char usage_explain[] =
    "usage: indexmux explain [--config FILE] [--data-dir DIR] [--offline] VIEW PROJECT\n"
    "\n"
    "For every file of every index the view consults for PROJECT: kept or dropped,\n"
    "and the rule that decided it. Fetches pages the cache lacks (unless --offline).\n";

static const char usage_export[] =
    "usage: indexmux export [--config FILE] [--data-dir DIR] --out FILE [--view V]...\n"
    "\n"
    "Write one bundle (tar): a compact copy of the metadata, every stored blob it\n"
    "references, and a manifest of their sha256 and sizes. With --view, only the\n"
    "upstreams the views use (their indexes and pinned sources). Runs beside a server.\n";

static const char usage_import[] =
    "usage: indexmux import [--config FILE] [--data-dir DIR] FILE\n"
    "\n"
    "Merge a bundle into the data directory. Every blob is verified before it becomes\n"
    "visible; a damaged bundle is refused with the reason and changes nothing;\n"
    "importing twice is harmless. The server must be stopped.\n";

static const char usage_gc[] =
    "usage: indexmux gc [--config FILE] [--data-dir DIR]\n"
    "\n"
    "Remove temp leftovers and unreferenced blobs, then evict least-recently-used\n"
    "blobs until the store is under max-cache-size. A running server does this\n"
    "itself; while it runs this command refuses (exit 1).\n";

static const char usage_fsck[] =
    "usage: indexmux fsck [--config FILE] [--data-dir DIR]\n"
    "\n"
    "Re-hash every blob, decode every record, check every reference; one line per\n"
    "problem; bad blobs are moved to DATA_DIR/quarantine/ and their records cleared.\n"
    "While a server runs it only checks. Exits 1 if anything was wrong.\n";

static const char usage_stats[] =
    "usage: indexmux stats [--config FILE] [--data-dir DIR]\n"
    "\n"
    "Print record and blob totals and, per upstream, pages, files, stored files and\n"
    "bytes. Runs beside a server.\n";

static int check_marker(const char *text, char *err, size_t errlen)
{
    struct marker *m = NULL;
    int rc = marker_parse(text, strlen(text), &m, err, errlen);
    marker_free(m);
    return rc;
}

static int load_config(const struct cli *cli, struct config *cfg)
{
    struct config_opts opts = {check_marker, environ};
    struct buf err;
    struct buf warn;
    int rc;

    buf_init(&err, 1u << 20);
    buf_init(&warn, 1u << 20);
    if (cli->config)
        rc = config_load_file(cli->config, &opts, cfg, &err, &warn);
    else
        rc = config_load_default(&opts, cfg, &err);
    if (warn.len)
        fprintf(stderr, "%s", buf_cstr(&warn));
    if (rc) {
        fprintf(stderr, "%s", err.len ? buf_cstr(&err) : "indexmux: cannot load configuration\n");
        if (err.len && err.p[err.len - 1] != '\n')
            fputc('\n', stderr);
    }
    buf_release(&err);
    buf_release(&warn);
    if (rc)
        return rc;
    /* Command-line flags override the file. */
    if (cli->data_dir) {
        free(cfg->server.data_dir);
        cfg->server.data_dir = xstrdup(cli->data_dir);
    }
    if (cli->offline)
        cfg->server.offline = true;
    if (cli->listen) {
        char *host = NULL;
        uint16_t port = 0;
        if (config_parse_listen(cli->listen, &host, &port) != 0) {
            fprintf(stderr, "indexmux: --listen '%s': expected ADDR:PORT or [v6]:PORT\n",
                    cli->listen);
            config_release(cfg);
            return IMX_EINVAL;
        }
        free(cfg->server.listen_host);
        cfg->server.listen_host = host;
        cfg->server.listen_port = port;
    }
    return 0;
}

static void setup_log(const struct cli *cli, const struct config *cfg)
{
    enum log_level level = LOG_LEVEL_INFO;
    enum log_format format = LOG_FORMAT_TEXT;
    const char *l = cli->log_level ? cli->log_level : cfg->server.log_level;
    const char *f = cli->log_format ? cli->log_format : cfg->server.log_format;

    if (l && log_level_parse(l, &level) != 0)
        fprintf(stderr, "indexmux: unknown log level '%s', using info\n", l);
    if (f && log_format_parse(f, &format) != 0)
        fprintf(stderr, "indexmux: unknown log format '%s', using text\n", f);
    log_setup(level, format);
}

static int print_views(const struct config *cfg)
{
    printf("configuration: %s\n", cfg->path ? cfg->path : "<default>");
    printf("listen: %s:%u   data-dir: %s   offline: %s\n", cfg->server.listen_host,
           cfg->server.listen_port, cfg->server.data_dir, cfg->server.offline ? "yes" : "no");
    printf("\nindexes:\n");
    for (size_t i = 0; i < cfg->nindexes; i++) {
        const struct config_index *ix = &cfg->indexes[i];
        printf("  %-16s %s%s  (ttl %us, negative-ttl %us)  /%s/simple/\n", ix->name, ix->url,
               ix->explicit_ ? "  [explicit]" : "", ix->ttl, ix->negative_ttl, ix->name);
    }
    printf("\nviews:\n");
    for (size_t v = 0; v < cfg->nviews; v++) {
        const struct config_view *view = &cfg->views[v];
        printf("  %s  /%s/simple/%s\n", view->name, view->name,
               cfg->server.default_view && strcmp(view->name, cfg->server.default_view) == 0
                   ? "  (also /simple/)"
                   : "");
        printf("    indexes:  ");
        for (size_t i = 0; i < view->nindexes; i++)
            printf("%s%s", i ? ", " : "", cfg->indexes[view->indexes[i]].name);
        printf("\n    strategy: %s\n",
               view->strategy == CONFIG_FIRST_INDEX ? "first-index" : "unsafe-best-match");
        for (size_t p = 0; p < view->npins; p++) {
            const struct config_pin *pin = &view->pins[p];
            for (size_t s = 0; s < pin->nsources; s++) {
                printf("    pin:      %-22s -> %-16s %s\n", s == 0 ? pin->project : "",
                       cfg->indexes[pin->sources[s].index].name,
                       pin->sources[s].marker ? pin->sources[s].marker : "(always)");
            }
        }
    }
    return 0;
}

/* Parse options shared by the commands; returns the index of the first operand or -1. */
static int parse_opts(int argc, char **argv, struct cli *cli, const char *usage, bool serve_flags)
{
    enum { O_CONFIG = 1, O_LISTEN, O_DATA, O_OFFLINE, O_LEVEL, O_FORMAT, O_HELP, O_OUT, O_VIEW,
           O_GC };
    static const struct option all[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"listen", required_argument, NULL, O_LISTEN},
        {"data-dir", required_argument, NULL, O_DATA},
        {"offline", no_argument, NULL, O_OFFLINE},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"log-format", required_argument, NULL, O_FORMAT},
        {"help", no_argument, NULL, O_HELP},
        {"out", required_argument, NULL, O_OUT},
        {"view", required_argument, NULL, O_VIEW},
        {"gc-interval", required_argument, NULL, O_GC},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", all, NULL)) != -1) {
        switch (c) {
        case O_CONFIG:
            cli->config = optarg;
            break;
        case O_LISTEN:
        case O_LEVEL:
        case O_FORMAT:
            if (!serve_flags)
                goto bad;
            if (c == O_LISTEN)
                cli->listen = optarg;
            else if (c == O_LEVEL)
                cli->log_level = optarg;
            else
                cli->log_format = optarg;
            break;
        case O_DATA:
            cli->data_dir = optarg;
            break;
        case O_OFFLINE:
            cli->offline = true;
            break;
        case O_OUT:
        case O_VIEW:
            if (usage != usage_export)
                goto bad;
            if (c == O_OUT)
                cli->out = optarg;
            else if (cli->nviews < ARRAY_SIZE(cli->views))
                cli->views[cli->nviews++] = optarg;
            else
                goto bad;
            break;
        case O_GC: {
            uint64_t v;
            if (!serve_flags || str_to_u64(str_from(optarg), 86400, &v) != 0 || v == 0)
                goto bad;
            cli->gc_interval = (unsigned)v;
            break;
        }
        case 'h':
        case O_HELP:
            fputs(usage, stdout);
            exit(0);
        default:
            goto bad;
        }
    }
    return optind;
bad:
    fprintf(stderr, "indexmux: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage);
    exit(EXIT_USAGE);
}

static int wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            return -1;
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            return sig;
    }
}

/* Storage, upstream and resolver for a command; torn down by release_stack. */
struct stack {
    struct stg *stg;
    struct upstream *up;
    struct rsv *rsv;
    struct rsv_metrics *metrics; /* borrowed, NULL: the rsv keeps its own */
};

static int open_stack(const struct config *cfg, struct stack *st)
{
    struct stg_opts so = {cfg->server.data_dir, cfg->server.lmdb_map_size, false};
    struct upstream_opts uo = {0};
    struct rsv_opts ro = {0};
    struct rsv_metrics *metrics = st->metrics;
    int rc;

    memset(st, 0, sizeof(*st));
    st->metrics = metrics;
    rc = stg_open(&so, &st->stg);
    if (rc) {
        log_errorx("cannot open the store in '%s': %s", cfg->server.data_dir, imx_strerror(rc));
        return rc;
    }
    if (!cfg->server.offline) {
        uo.connect_timeout = cfg->server.connect_timeout;
        uo.low_speed_time = cfg->server.timeout;
        uo.total_timeout = 0;
        rc = upstream_new(&uo, &st->up);
        if (rc) {
            log_errorx("cannot start the upstream client: %s", imx_strerror(rc));
            return rc;
        }
    }
    ro.cfg = cfg;
    ro.stg = st->stg;
    ro.up = st->up;
    ro.offline = cfg->server.offline;
    ro.metrics = st->metrics;
    rc = rsv_new(&ro, &st->rsv);
    if (rc)
        log_errorx("cannot start the resolver: %s", imx_strerror(rc));
    return rc;
}

static void release_stack(struct stack *st)
{
    rsv_free(st->rsv);
    upstream_free(st->up);
    stg_close(st->stg);
    memset(st, 0, sizeof(*st));
}

/*
 * The periodic cache care of a running server: it holds the store's
 * read-write lock, so `indexmux gc` cannot run beside it and this thread
 * calls stg_gc on the server's own handle instead. min_age spares temp
 * files of downloads in progress and blobs whose record is being written.
 */
struct gc_thread {
    struct stg *stg;
    struct rsv_metrics *metrics; /* evictions are counted here */
    uint64_t max_bytes;
    unsigned interval;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool started;
    pthread_t tid;
};

#define GC_MIN_AGE 600 /* seconds */

static void *gc_main(void *arg)
{
    struct gc_thread *g = arg;
    struct stg_gc_opts o = {g->max_bytes, GC_MIN_AGE, 0};
    struct timespec ts;

    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += g->interval;
        while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &ts) != ETIMEDOUT)
            ;
        if (g->stop)
            break;
        pthread_mutex_unlock(&g->mu);
        struct stg_gc_result res;
        int rc = stg_gc(g->stg, &o, &res);
        if (rc)
            log_warnx("cache gc failed: %s", imx_strerror(rc));
        else
            rsv_metrics_evicted(g->metrics, res.evicted, res.evicted_bytes);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void gc_start(struct gc_thread *g, struct stg *stg, struct rsv_metrics *metrics,
                     uint64_t max_bytes, unsigned interval)
{
    memset(g, 0, sizeof(*g));
    g->stg = stg;
    g->metrics = metrics;
    g->max_bytes = max_bytes;
    g->interval = interval ? interval : 60;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->started = pthread_create(&g->tid, NULL, gc_main, g) == 0;
    if (!g->started)
        log_warnx("cannot start the cache gc thread; max-cache-size is not enforced");
}

static void gc_stop(struct gc_thread *g)
{
    if (!g->started)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->tid, NULL);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    g->started = false;
}

/* Log a multi-line message (configuration errors, warnings) one line at a time. */
static void log_lines(bool error, const char *what, const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        if (n > 0) {
            if (error)
                log_errorx("%s%.*s", what, (int)n, text);
            else
                log_warnx("%s%.*s", what, (int)n, text);
        }
        text += n;
        if (*text == '\n')
            text++;
    }
}

/*
 * Settings a running server cannot change: warn and keep the old value.
 * The listening socket, the store and the upstream client (and its
 * timeouts) are made once, at start.
 */
static void keep_restart_only(const struct config *old, struct config *cfg)
{
    struct config_server *n = &cfg->server;
    const struct config_server *o = &old->server;

    if (strcmp(n->listen_host, o->listen_host) != 0 || n->listen_port != o->listen_port) {
        log_warnx("reload: 'listen' changed: it takes a restart; still on %s:%u",
                  o->listen_host, o->listen_port);
        free(n->listen_host);
        n->listen_host = xstrdup(o->listen_host);
        n->listen_port = o->listen_port;
    }
    if (strcmp(n->data_dir, o->data_dir) != 0) {
        log_warnx("reload: 'data-dir' changed: it takes a restart; still using '%s'",
                  o->data_dir);
        free(n->data_dir);
        n->data_dir = xstrdup(o->data_dir);
    }
    if (n->offline != o->offline) {
        log_warnx("reload: 'offline' changed: it takes a restart; still %s",
                  o->offline ? "offline" : "online");
        n->offline = o->offline;
    }
    if (n->max_connections != o->max_connections || n->client_timeout != o->client_timeout ||
        n->connect_timeout != o->connect_timeout || n->timeout != o->timeout ||
        n->max_cache_size != o->max_cache_size || n->lmdb_map_size != o->lmdb_map_size) {
        log_warnx("reload: connection, timeout and store limits take a restart; keeping the "
                  "old ones");
        n->max_connections = o->max_connections;
        n->client_timeout = o->client_timeout;
        n->connect_timeout = o->connect_timeout;
        n->timeout = o->timeout;
        n->max_cache_size = o->max_cache_size;
        n->lmdb_map_size = o->lmdb_map_size;
    }
}

/*
 * SIGHUP: re-read the configuration file. A valid one becomes a new
 * generation (route.h) for new requests; requests in flight finish on the
 * old one. An invalid one is logged (file:line:col) and the old one stays.
 */
static void reload(const struct cli *cli, struct route_root *root, struct srv *srv,
                   const struct stack *st)
{
    struct config_opts opts = {check_marker, environ};
    const struct config *old = route_gen_config(root->gen); /* only this thread swaps */
    struct config cfg;
    struct route_gen *g = NULL;
    struct rsv_opts ro = {0};
    struct rsv *rsv = NULL;
    struct buf err;
    struct buf warn;
    int rc;

    if (!cli->config) {
        log_warnx("reload: serving the embedded default configuration: nothing to re-read");
        return;
    }
    log_info("reloading configuration '%s'", cli->config);
    buf_init(&err, 1u << 20);
    buf_init(&warn, 1u << 20);
    rc = config_load_file(cli->config, &opts, &cfg, &err, &warn);
    log_lines(false, "", buf_cstr(&warn));
    if (rc) {
        log_lines(true, "configuration not reloaded, keeping the old one: ",
                  err.len ? buf_cstr(&err) : imx_strerror(rc));
        goto out;
    }
    /* The command line still overrides the file. */
    if (cli->data_dir) {
        free(cfg.server.data_dir);
        cfg.server.data_dir = xstrdup(cli->data_dir);
    }
    if (cli->offline)
        cfg.server.offline = true;
    if (cli->listen) {
        free(cfg.server.listen_host);
        cfg.server.listen_host = xstrdup(old->server.listen_host);
        cfg.server.listen_port = old->server.listen_port;
    }
    keep_restart_only(old, &cfg);
    route_gen_new(&cfg, &g);
    ro.cfg = route_gen_config(g);
    ro.stg = st->stg;
    ro.up = st->up;
    ro.offline = ro.cfg->server.offline || !st->up;
    ro.metrics = st->metrics;
    rc = rsv_new(&ro, &rsv);
    if (rc) {
        log_errorx("configuration not reloaded, keeping the old one: cannot start the "
                   "resolver: %s", imx_strerror(rc));
        route_gen_unref(g);
        goto out;
    }
    route_gen_set_rsv(g, rsv);
    /* The landing page first: after this no render reads the old configuration. */
    srv_set_config(srv, route_gen_config(g));
    route_root_swap(root, g);
    log_info("configuration reloaded: %zu index(es), %zu view(s)", route_gen_config(g)->nindexes,
             route_gen_config(g)->nviews);
out:
    buf_release(&err);
    buf_release(&warn);
}

static int cmd_serve(int argc, char **argv)
{
    struct gc_thread gc = {0};
    struct cli cli = {0};
    struct config cfg;
    struct stack st = {0};
    struct srv_opts so = {0};
    struct srv *srv = NULL;
    struct route_root root;
    bool have_root = false;
    struct route_gen *gen = NULL;
    const struct config *cur;
    struct rsv_metrics *metrics = NULL;
    struct srv_stats *stats = NULL;
    sigset_t set;
    int rc;

    if (parse_opts(argc, argv, &cli, usage_serve, true) != argc) {
        fprintf(stderr, "indexmux: serve takes no operands\n%s", usage_serve);
        return EXIT_USAGE;
    }
    rc = load_config(&cli, &cfg);
    if (rc)
        return rc == IMX_EINVAL ? EXIT_USAGE : 1;
    setup_log(&cli, &cfg);
    /* Signals are taken by sigwait in this thread only: block them everywhere. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Counters live for the whole process, across configuration reloads. */
    rsv_metrics_new(&metrics);
    srv_stats_new(&stats);
    st.metrics = metrics;
    /* The configuration moves into the first generation (reloads make more). */
    route_gen_new(&cfg, &gen);
    cur = route_gen_config(gen);
    rc = open_stack(cur, &st);
    if (rc)
        goto out;
    route_gen_set_rsv(gen, st.rsv);
    st.rsv = NULL;
    route_root_init(&root, gen, stats);
    have_root = true;
    gen = NULL;
    srv_opts_from_config(&so, cur);
    so.route = route_handle;
    so.route_ctx = &root;
    so.stats = stats;
    so.landing_extra = route_landing_extra;
    so.landing_ctx = &root;
    rc = srv_new(&so, &srv);
    if (rc) {
        log_errorx("cannot listen on %s:%u: %s", cur->server.listen_host, cur->server.listen_port,
                   imx_strerror(rc));
        goto out;
    }
    log_info("serving %zu view(s) on http://%s%s%s:%u/ (data in '%s'%s)", cur->nviews,
             strchr(cur->server.listen_host, ':') ? "[" : "", cur->server.listen_host,
             strchr(cur->server.listen_host, ':') ? "]" : "", srv_port(srv),
             cur->server.data_dir, cur->server.offline ? ", offline" : "");
    /* Offline, an evicted file could never come back: no eviction there. */
    if (!cur->server.offline)
        gc_start(&gc, st.stg, st.metrics, cur->server.max_cache_size, cli.gc_interval);
    while ((rc = wait_for_signal()) == SIGHUP)
        reload(&cli, &root, srv, &st);
    log_info("stopping on signal %d", rc);
    rc = 0;
out:
    gc_stop(&gc);
    srv_free(srv);
    /*
     * Cancel the downloads still running (a multi-GB wheel would otherwise
     * hold the exit for minutes): each fails, keeps nothing, and ends, which
     * is what freeing the resolver waits for.
     */
    upstream_free(st.up);
    st.up = NULL;
    /* Every request thread has ended: the root holds the last generation reference. */
    if (have_root)
        route_root_release(&root);
    route_gen_unref(gen);
    release_stack(&st);
    config_release(&cfg);
    srv_stats_free(stats);
    rsv_metrics_free(metrics);
    return rc ? 1 : 0;
}

static int cmd_check_config(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;

    if (parse_opts(argc, argv, &cli, usage_check, false) != argc) {
        fprintf(stderr, "indexmux: check-config takes no operands\n%s", usage_check);
        return EXIT_USAGE;
    }
    if (load_config(&cli, &cfg) != 0)
        return 1;
    print_views(&cfg);
    config_release(&cfg);
    return 0;
}

static int cmd_explain(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stack st = {0};
    struct buf text;
    struct buf why;
    int first = parse_opts(argc, argv, &cli, usage_explain, false);
    int rc;

    if (argc - first != 2) {
        fprintf(stderr, "indexmux: explain needs VIEW and PROJECT\n%s", usage_explain);
        return EXIT_USAGE;
    }
    if (load_config(&cli, &cfg) != 0)
        return 1;
    log_setup(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    buf_init(&text, 64u << 20);
    buf_init(&why, 4096);
    rc = open_stack(&cfg, &st);
    if (rc == 0) {
        rc = rsv_explain(st.rsv, argv[first], argv[first + 1], &text, NULL, &why);
        if (rc == 0 || rc == IMX_ENOTFOUND) {
            fputs(buf_cstr(&text), stdout);
            rc = 0;
        } else if (rc == IMX_EINVAL) {
            fprintf(stderr, "indexmux: no view or index named '%s'\n", argv[first]);
        } else {
            fprintf(stderr, "indexmux: %s\n", why.len ? buf_cstr(&why) : imx_strerror(rc));
        }
    }
    release_stack(&st);
    config_release(&cfg);
    buf_release(&text);
    buf_release(&why);
    return rc ? 1 : 0;
}

/* ---- maintenance commands (storage/maint.c) ---- */

/* Load the configuration for a maintenance command; 0, 1 (config) or EXIT_USAGE. */
static int ops_setup(int argc, char **argv, const char *usage, struct cli *cli,
                     struct config *cfg, int want_operands, int *first)
{
    int f = parse_opts(argc, argv, cli, usage, false);

    if (argc - f != want_operands) {
        fprintf(stderr, "indexmux: %s %s\n%s", argv[0],
                want_operands ? "needs exactly one FILE" : "takes no operands", usage);
        return EXIT_USAGE;
    }
    if (load_config(cli, cfg) != 0)
        return 1;
    log_setup(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    if (first)
        *first = f;
    return 0;
}

/* Open the store: read-only, or read-write refusing when a server holds it. */
static int ops_open(const struct config *cfg, bool read_only, const char *cmd, struct stg **out)
{
    struct stg_opts so = {cfg->server.data_dir, read_only ? 0 : cfg->server.lmdb_map_size,
                          read_only};
    bool in_use = false;
    int rc;

    if (!read_only) {
        if (stg_in_use(cfg->server.data_dir, &in_use) == 0 && in_use) {
            fprintf(stderr,
                    "indexmux: %s: a running server holds '%s'; stop it first%s\n", cmd,
                    cfg->server.data_dir,
                    strcmp(cmd, "gc") == 0 ? " (it enforces max-cache-size itself)" : "");
            return IMX_EAGAIN;
        }
    }
    rc = stg_open(&so, out);
    if (rc == IMX_ENOTFOUND)
        fprintf(stderr, "indexmux: %s: no store in '%s'\n", cmd, cfg->server.data_dir);
    else if (rc)
        fprintf(stderr, "indexmux: %s: cannot open the store in '%s': %s\n", cmd,
                cfg->server.data_dir, imx_strerror(rc));
    return rc;
}

/* Add name to the set of upstream names (no duplicates). */
static void add_index(const char **v, size_t *n, size_t cap, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(v[i], name) == 0)
            return;
    }
    if (*n < cap)
        v[(*n)++] = name;
}

static int cmd_export(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stg *stg = NULL;
    struct stg_export_opts eo = {0};
    struct stg_bundle_stats st;
    const char **idx = NULL;
    size_t nidx = 0, cap = 0;
    struct buf why;
    int rc = ops_setup(argc, argv, usage_export, &cli, &cfg, 0, NULL);

    if (rc)
        return rc;
    buf_init(&why, 4096);
    if (cli.out == NULL) {
        fprintf(stderr, "indexmux: export needs --out FILE\n%s", usage_export);
        rc = EXIT_USAGE;
        goto out;
    }
    /* A view means its indexes and every index its pins may use; an index name means itself. */
    for (size_t v = 0; v < cli.nviews; v++)
        cap += 1 + cfg.nindexes;
    idx = cap ? xcalloc(cap, sizeof(*idx)) : NULL;
    for (size_t v = 0; v < cli.nviews; v++) {
        const struct config_view *view = config_find_view(&cfg, cli.views[v]);
        if (view == NULL) {
            if (config_find_index(&cfg, cli.views[v]) == NULL) {
                fprintf(stderr, "indexmux: export: no view or index named '%s'\n",
                        cli.views[v]);
                rc = 1;
                goto out;
            }
            add_index(idx, &nidx, cap, cli.views[v]);
            continue;
        }
        for (size_t i = 0; i < view->nindexes; i++)
            add_index(idx, &nidx, cap, cfg.indexes[view->indexes[i]].name);
        for (size_t p = 0; p < view->npins; p++) {
            for (size_t k = 0; k < view->pins[p].nsources; k++)
                add_index(idx, &nidx, cap, cfg.indexes[view->pins[p].sources[k].index].name);
        }
    }
    rc = ops_open(&cfg, true, "export", &stg);
    if (rc) {
        rc = 1;
        goto out;
    }
    eo.out_path = cli.out;
    eo.indexes = idx;
    eo.nindexes = nidx;
    rc = stg_export(stg, &eo, &st, &why);
    if (rc) {
        fprintf(stderr, "indexmux: cannot export to '%s': %s\n", cli.out,
                why.len ? buf_cstr(&why) : imx_strerror(rc));
        rc = 1;
        goto out;
    }
    printf("exported %" PRIu64 " page(s), %" PRIu64 " file record(s), %" PRIu64
           " blob(s) (%" PRIu64 " bytes) to %s\n",
           st.pages, st.files, st.blobs, st.blob_bytes, cli.out);
    if (st.skipped_blobs)
        printf("left out %" PRIu64 " blob(s) evicted meanwhile\n", st.skipped_blobs);
out:
    stg_close(stg);
    free(idx);
    buf_release(&why);
    config_release(&cfg);
    return rc;
}

static int cmd_import(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stg *stg = NULL;
    struct stg_bundle_stats st;
    struct buf why;
    int first = 0;
    int rc = ops_setup(argc, argv, usage_import, &cli, &cfg, 1, &first);

    if (rc)
        return rc;
    buf_init(&why, 4096);
    rc = ops_open(&cfg, false, "import", &stg);
    if (rc) {
        rc = 1;
        goto out;
    }
    rc = stg_import(stg, argv[first], &st, &why);
    if (rc) {
        fprintf(stderr, "indexmux: cannot import '%s': %s\n", argv[first],
                why.len ? buf_cstr(&why) : imx_strerror(rc));
        rc = 1;
        goto out;
    }
    printf("imported %" PRIu64 " new blob(s) (%" PRIu64 " bytes), %" PRIu64
           " page(s) new or newer, %" PRIu64 " file record(s) new or now stored into %s\n",
           st.blobs, st.blob_bytes, st.pages, st.files, cfg.server.data_dir);
out:
    stg_close(stg);
    buf_release(&why);
    config_release(&cfg);
    return rc;
}

static int cmd_gc(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stg *stg = NULL;
    struct stg_gc_opts o = {0};
    struct stg_gc_result r;
    int rc = ops_setup(argc, argv, usage_gc, &cli, &cfg, 0, NULL);

    if (rc)
        return rc;
    rc = ops_open(&cfg, false, "gc", &stg);
    if (rc) {
        rc = 1;
        goto out;
    }
    /* No server runs (we hold the lock), so nothing is in flight: min_age 0. */
    o.max_bytes = cfg.server.max_cache_size;
    rc = stg_gc(stg, &o, &r);
    if (rc) {
        fprintf(stderr, "indexmux: gc failed: %s\n", imx_strerror(rc));
        rc = 1;
        goto out;
    }
    printf("removed %" PRIu64 " unreferenced blob(s) (%" PRIu64 " bytes) and %" PRIu64
           " temp leftover(s); evicted %" PRIu64 " blob(s) (%" PRIu64 " bytes); %" PRIu64
           " blob(s), %" PRIu64 " bytes stored (max-cache-size %" PRIu64 ")\n",
           r.unreferenced, r.unreferenced_bytes, r.tmp_removed, r.evicted, r.evicted_bytes,
           r.blobs, r.blob_bytes, cfg.server.max_cache_size);
out:
    stg_close(stg);
    config_release(&cfg);
    return rc;
}

static void print_line(void *ctx, const char *line)
{
    UNUSED(ctx);
    printf("%s\n", line);
}

static int cmd_fsck(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stg *stg = NULL;
    struct stg_fsck_result r;
    bool in_use = false;
    int rc = ops_setup(argc, argv, usage_fsck, &cli, &cfg, 0, NULL);

    if (rc)
        return rc;
    if (stg_in_use(cfg.server.data_dir, &in_use) == 0 && in_use)
        printf("a server holds '%s': checking only (nothing is moved or repaired)\n",
               cfg.server.data_dir);
    rc = ops_open(&cfg, in_use, "fsck", &stg);
    if (rc) {
        rc = 1;
        goto out;
    }
    rc = stg_fsck(stg, print_line, NULL, &r);
    if (rc) {
        fprintf(stderr, "indexmux: fsck failed: %s\n", imx_strerror(rc));
        rc = 1;
        goto out;
    }
    printf("checked %" PRIu64 " blob(s) and %" PRIu64 " record(s): %" PRIu64
           " bad blob(s), %" PRIu64 " bad record(s), %" PRIu64 " missing blob(s)\n",
           r.blobs, r.records, r.bad_blobs, r.bad_records, r.dangling);
    rc = (r.bad_blobs || r.bad_records || r.dangling) ? 1 : 0;
out:
    stg_close(stg);
    config_release(&cfg);
    return rc;
}

static int cmd_stats(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stg *stg = NULL;
    struct stg_stats t;
    struct stg_index_stats *v = NULL;
    size_t n = 0;
    int rc = ops_setup(argc, argv, usage_stats, &cli, &cfg, 0, NULL);

    if (rc)
        return rc;
    rc = ops_open(&cfg, true, "stats", &stg);
    if (rc == 0)
        rc = stg_stat(stg, &t);
    if (rc == 0)
        rc = stg_index_stats(stg, &v, &n);
    if (rc) {
        if (stg)
            fprintf(stderr, "indexmux: stats failed: %s\n", imx_strerror(rc));
        rc = 1;
        goto out;
    }
    printf("data-dir: %s\n", cfg.server.data_dir);
    printf("pages: %" PRIu64 "  files: %" PRIu64 "  blobs: %" PRIu64 "  blob bytes: %" PRIu64
           "  max-cache-size: %" PRIu64 "\n",
           t.pages, t.files, t.blobs, t.blob_bytes, cfg.server.max_cache_size);
    printf("metadata: %" PRIu64 " of %" PRIu64 " bytes of map used\n", t.map_used, t.map_size);
    printf("\n%-20s %10s %10s %12s %16s\n", "upstream", "pages", "files", "stored", "bytes");
    for (size_t i = 0; i < n; i++)
        printf("%-20s %10" PRIu64 " %10" PRIu64 " %12" PRIu64 " %16" PRIu64 "\n", v[i].index,
               v[i].pages, v[i].files, v[i].stored_files, v[i].stored_bytes);
out:
    stg_index_stats_free(v, n);
    stg_close(stg);
    config_release(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (upstream_global_init() != 0) {
        fprintf(stderr, "indexmux: cannot initialise libcurl\n");
        return 1;
    }
    if (strcmp(argv[1], "serve") == 0) {
        rc = cmd_serve(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "check-config") == 0) {
        rc = cmd_check_config(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "explain") == 0) {
        rc = cmd_explain(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "export") == 0) {
        rc = cmd_export(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "import") == 0) {
        rc = cmd_import(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "gc") == 0) {
        rc = cmd_gc(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "fsck") == 0) {
        rc = cmd_fsck(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "stats") == 0) {
        rc = cmd_stats(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "indexmux: unknown command '%s'\n%s", argv[1], usage_main);
        rc = EXIT_USAGE;
    }
    upstream_global_cleanup();
    return rc;
}
