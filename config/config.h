/*
 * config.h - the validated configuration of indexmux (SPEC.md section 2).
 *
 * Calling sequence:
 *   struct config cfg;
 *   struct buf err;  buf_init(&err, 4096);
 *   rc = config_load_file(path, &opts, &cfg, &err);   or config_load_default(&opts, &cfg, &err)
 *   ... use cfg (read-only; safe to share between threads) ...
 *   config_release(&cfg);
 *
 * On error the functions return IMX_ECONFIG (or IMX_EIO when the file cannot
 * be read), leave *out untouched, and append one line per problem to `err`
 * in the form `file:line:col: message` where message names the key, e.g.
 *   indexmux.toml:12:1: virtual.cu124.indexes: unknown index 'pypy'
 * Warnings (e.g. a password-env variable that is not set) are appended to
 * `warnings` (may be NULL) in the same form and do not fail the load.
 *
 * All strings in struct config are owned by it and live until config_release.
 * Names are validated against [a-z0-9][a-z0-9._-]* and unique across
 * [[index]] and [virtual.*].
 */
#ifndef IMX_CONFIG_H
#define IMX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct config_server {
    char *listen_host;          /* "127.0.0.1", "::1", "0.0.0.0" (brackets removed) */
    uint16_t listen_port;       /* default 3144 */
    char *data_dir;             /* default "./indexmux-data" */
    char *default_view;         /* default "default"; must name a [virtual.*]; NULL when not
                                   set and no view "default" exists (/simple/ is then 404) */
    bool offline;               /* default false */
    uint64_t max_cache_size;    /* bytes; default 200 GiB; "200GiB", "10MB", or an integer */
    char *public_url;           /* NULL unless set; no trailing slash */
    unsigned connect_timeout;   /* seconds, default 10 */
    unsigned timeout;           /* seconds without progress, default 30 */
    uint64_t lmdb_map_size;     /* key "lmdb-map-size", bytes, default 64 GiB */
    unsigned max_connections;   /* key "max-connections", default 1024 */
    unsigned client_timeout;    /* key "client-timeout", idle seconds per client connection, default 60 */
    uint64_t max_page_size;     /* key "max-page-size", bytes of one upstream page, default 64 MiB */
    unsigned page_max_age;      /* key "page-max-age", Cache-Control max-age on pages, default 600 */
    char *log_level;            /* key "log-level": error|warn|info|debug, default "info" */
    char *log_format;           /* key "log-format": text|json, default "text" */
};

struct config_index {
    char *name;
    char *url;                  /* always ends with '/' (added when missing) */
    bool explicit_;             /* key "explicit" */
    unsigned ttl;               /* seconds, default 600 */
    unsigned negative_ttl;      /* key "negative-ttl", seconds, default 60 */
    char *username;             /* NULL when unset */
    char *password_env;         /* key "password-env": NULL when unset */
    char *password;             /* value of $password_env at load time, NULL if unset */
    bool tls_verify;            /* key "tls-verify", default true (false logs a warning) */
    char *ca_file;              /* key "ca-file", NULL when unset */
    unsigned line, col;         /* where the [[index]] table starts, for messages */
};

enum config_strategy { CONFIG_FIRST_INDEX = 0, CONFIG_UNSAFE_BEST_MATCH };

struct config_source {
    size_t index;               /* into config.indexes */
    char *marker;               /* NULL means always true */
    unsigned line, col;         /* of the marker (or the entry), for messages */
};

struct config_pin {
    char *project;              /* normalized (PEP 503) */
    struct config_source *sources;
    size_t nsources;
};

struct config_view {
    char *name;
    size_t *indexes;            /* into config.indexes, in order */
    size_t nindexes;
    enum config_strategy strategy; /* key "index-strategy" */
    struct config_pin *pins;    /* key "sources", sorted by project */
    size_t npins;
};

struct config {
    struct config_server server;
    struct config_index *indexes;
    size_t nindexes;
    struct config_view *views;
    size_t nviews;
    char *path;                 /* the file loaded, or "<default>" */
};

/*
 * Optional hooks. check_marker is called for every marker string; it returns
 * 0 if the marker parses, or nonzero and writes a short reason into err.
 * When NULL a conservative syntax check is used. envp is the environment
 * used for password-env (NULL: no variable is set).
 */
struct config_opts {
    int (*check_marker)(const char *marker, char *err, size_t errlen);
    char *const *envp;
};

int config_load_file(const char *path, const struct config_opts *opts,
                     struct config *out /* OUT */, struct buf *err, struct buf *warnings);
/* Parse from memory; `name` is used as the file name in messages. */
int config_load_string(const char *name, const char *text, size_t len,
                       const struct config_opts *opts, struct config *out /* OUT */,
                       struct buf *err, struct buf *warnings);
/* The embedded default of SPEC.md section 3. */
int config_load_default(const struct config_opts *opts, struct config *out /* OUT */,
                        struct buf *err);
/* The embedded default's TOML text (static; never freed). */
const char *config_default_text(void);
void config_release(struct config *cfg); /* NULL-safe; cfg may be reused after */

/*
 * The three load functions:
 *   IMX_ECONFIG  the text is not TOML (one `file:line:col: message` line) or
 *                fails validation (one line per problem, all collected)
 *   IMX_EIO      (config_load_file) the file cannot be read
 * `err` receives the lines (may be NULL). On success *out is filled and
 * must be released with config_release; on failure it is untouched.
 * config_load_default never reports warnings and never fails unless the
 * embedded text is broken (a bug, caught by the tests).
 */

/*
 * Parse a listen address "ADDR:PORT", "[V6ADDR]:PORT" or "HOSTNAME:PORT"
 * (port 0-65535) as used by server.listen and `--listen`. On success *host
 * is a fresh string without brackets (caller frees). Returns 0 or
 * IMX_EINVAL; out-params are written only on success.
 */
int config_parse_listen(const char *s, char **host /* OUT */, uint16_t *port /* OUT */);
/*
 * Parse a size: a plain number of bytes, or a number with a unit B, KB, MB,
 * GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); the unit
 * is case-insensitive and may follow a space. Returns 0, IMX_EINVAL, or
 * IMX_ETOOLARGE when the result exceeds UINT64_MAX.
 */
int config_parse_size(const char *s, uint64_t *out /* OUT */);

/* Lookups; NULL when absent. Borrowed from cfg. */
const struct config_view *config_find_view(const struct config *cfg, const char *name);
const struct config_index *config_find_index(const struct config *cfg, const char *name);
/* The pin for a normalized project name in a view, or NULL. */
const struct config_pin *config_find_pin(const struct config_view *v, const char *project);

#endif
