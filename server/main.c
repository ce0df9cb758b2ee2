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
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "marker.h"
#include "resolver.h"
#include "route.h"
#include "server.h"
#include "storage.h"
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
    "\n"
    "Run 'indexmux COMMAND --help' for the options of a command.\n";

static const char usage_serve[] =
    "usage: indexmux serve [--config FILE] [--listen ADDR:PORT] [--data-dir DIR] [--offline]\n"
    "                      [--log-level error|warn|info|debug] [--log-format text|json]\n"
    "\n"
    "Serve the views of the configuration (the embedded default without --config).\n"
    "Flags override the file. SIGINT/SIGTERM stop the server.\n";

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
    enum { O_CONFIG = 1, O_LISTEN, O_DATA, O_OFFLINE, O_LEVEL, O_FORMAT, O_HELP };
    static const struct option all[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"listen", required_argument, NULL, O_LISTEN},
        {"data-dir", required_argument, NULL, O_DATA},
        {"offline", no_argument, NULL, O_OFFLINE},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"log-format", required_argument, NULL, O_FORMAT},
        {"help", no_argument, NULL, O_HELP},
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
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            return -1;
        if (sig == SIGINT || sig == SIGTERM)
            return sig;
    }
}

/* Storage, upstream and resolver for a command; torn down by release_stack. */
struct stack {
    struct stg *stg;
    struct upstream *up;
    struct rsv *rsv;
};

static int open_stack(const struct config *cfg, struct stack *st)
{
    struct stg_opts so = {cfg->server.data_dir, cfg->server.lmdb_map_size, false};
    struct upstream_opts uo = {0};
    struct rsv_opts ro = {0};
    int rc;

    memset(st, 0, sizeof(*st));
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

static int cmd_serve(int argc, char **argv)
{
    struct cli cli = {0};
    struct config cfg;
    struct stack st = {0};
    struct srv_opts so = {0};
    struct srv *srv = NULL;
    struct route_ctx rctx;
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

    rc = open_stack(&cfg, &st);
    if (rc)
        goto out;
    rctx.rsv = st.rsv;
    rctx.cfg = &cfg;
    rctx.stats = NULL;
    srv_opts_from_config(&so, &cfg);
    so.route = route_handle;
    so.route_ctx = &rctx;
    rc = srv_new(&so, &srv);
    if (rc) {
        log_errorx("cannot listen on %s:%u: %s", cfg.server.listen_host, cfg.server.listen_port,
                   imx_strerror(rc));
        goto out;
    }
    log_info("serving %zu view(s) on http://%s%s%s:%u/ (data in '%s'%s)", cfg.nviews,
             strchr(cfg.server.listen_host, ':') ? "[" : "", cfg.server.listen_host,
             strchr(cfg.server.listen_host, ':') ? "]" : "", srv_port(srv), cfg.server.data_dir,
             cfg.server.offline ? ", offline" : "");
    rc = wait_for_signal();
    log_info("stopping on signal %d", rc);
    rc = 0;
out:
    srv_free(srv);
    release_stack(&st);
    config_release(&cfg);
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
    } else {
        fprintf(stderr, "indexmux: unknown command '%s'\n%s", argv[1], usage_main);
        rc = EXIT_USAGE;
    }
    upstream_global_cleanup();
    return rc;
}
