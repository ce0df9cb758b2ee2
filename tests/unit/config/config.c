/*
 * config.c - unit tests of the configuration schema: the embedded default,
 * defaults, one test per validation error class (exact file:line:col and
 * key), warnings, listen addresses and sizes.
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "config_int.h"
#include "err.h"

/* Load `text` as "t.toml"; err and warn are initialised here. */
static int load(const char *text, const struct config_opts *opts, struct config *cfg,
                struct buf *err, struct buf *warn)
{
    buf_init(err, 1 << 16);
    buf_init(warn, 1 << 16);
    return config_load_string("t.toml", text, strlen(text), opts, cfg, err, warn);
}

/* The text must fail with exactly `want` (all lines) as the error output. */
static void expect_error(const char *text, const char *want)
{
    struct config cfg;
    struct buf err, warn;
    int rc;

    memset(&cfg, 0xAB, sizeof(cfg));
    rc = load(text, NULL, &cfg, &err, &warn);
    cr_expect_eq(rc, IMX_ECONFIG, "rc %d for:\n%s", rc, text);
    cr_expect_str_eq(buf_cstr(&err), want, "got '%s'", buf_cstr(&err));
    cr_expect_eq(cfg.nviews, (size_t)0xABABABABABABABABull, "out written on failure");
    buf_release(&err);
    buf_release(&warn);
}

#define BASE                                                                                  \
    "[[index]]\n"                                                                             \
    "name = \"pypi\"\n"                                                                       \
    "url = \"https://pypi.org/simple/\"\n"                                                    \
    "[[index]]\n"                                                                             \
    "name = \"pytorch-cu124\"\n"                                                              \
    "url = \"https://download.pytorch.org/whl/cu124\"\n"                                      \
    "explicit = true\n"
/* BASE is 7 lines; what follows starts on line 8. */

Test(config, default_loads_with_views_and_pins)
{
    static const char *const variants[] = {"cpu",   "cu118", "cu121",  "cu124",
                                           "cu126", "cu128", "rocm6.2"};
    struct config cfg;
    struct buf err;
    size_t i, j;

    buf_init(&err, 1 << 16);
    cr_assert_eq(config_load_default(NULL, &cfg, &err), 0, "%s", buf_cstr(&err));
    cr_assert_str_eq(cfg.path, "<default>");
    cr_assert_str_eq(cfg.server.default_view, "default");
    cr_assert_eq(cfg.nindexes, 8);
    cr_assert_eq(cfg.nviews, 8);
    cr_assert_str_eq(config_find_index(&cfg, "pypi")->url, "https://pypi.org/simple/");
    cr_assert_not(config_find_index(&cfg, "pypi")->explicit_);
    {
        const struct config_view *d = config_find_view(&cfg, "default");
        cr_assert_not_null(d);
        cr_assert_eq(d->nindexes, 1);
        cr_assert_str_eq(cfg.indexes[d->indexes[0]].name, "pypi");
        cr_assert_eq(d->npins, 0);
    }
    for (i = 0; i < ARRAY_SIZE(variants); i++) {
        char iname[64], url[128];
        const struct config_index *ix;
        const struct config_view *v = config_find_view(&cfg, variants[i]);
        const char *family[4] = {"torch", "torchvision", "torchaudio", "triton"};

        snprintf(iname, sizeof(iname), "pytorch-%s", variants[i]);
        snprintf(url, sizeof(url), "https://download.pytorch.org/whl/%s/", variants[i]);
        ix = config_find_index(&cfg, iname);
        cr_assert_not_null(ix, "%s", iname);
        cr_assert(ix->explicit_);
        cr_assert_str_eq(ix->url, url);
        cr_assert_not_null(v, "%s", variants[i]);
        cr_assert_eq(v->nindexes, 1);
        cr_assert_str_eq(cfg.indexes[v->indexes[0]].name, "pypi");
        cr_assert_eq(v->strategy, CONFIG_FIRST_INDEX);
        cr_assert_eq(v->npins, 4);
        if (strcmp(variants[i], "rocm6.2") == 0)
            family[3] = "pytorch-triton-rocm";
        cr_assert_null(config_find_pin(v, strcmp(family[3], "triton") ? "triton"
                                                                      : "pytorch-triton-rocm"));
        for (j = 0; j < 4; j++) {
            const struct config_pin *p = config_find_pin(v, family[j]);
            cr_assert_not_null(p, "%s %s", variants[i], family[j]);
            cr_assert_eq(p->nsources, 1);
            cr_assert_str_eq(cfg.indexes[p->sources[0].index].name, iname);
            cr_assert_str_eq(p->sources[0].marker, "platform_system != 'Darwin'");
        }
        for (j = 1; j < v->npins; j++)
            cr_assert(strcmp(v->pins[j - 1].project, v->pins[j].project) < 0, "pins sorted");
    }
    config_release(&cfg);
    config_release(&cfg); /* released config may be released again */
    config_release(NULL);
    buf_release(&err);
}

Test(config, defaults_applied)
{
    struct config cfg;
    struct buf err, warn;
    const struct config_index *ix;

    cr_assert_eq(load("[[index]]\nname = \"pypi\"\nurl = \"https://pypi.org/simple\"\n"
                      "[virtual.default]\nindexes = [\"pypi\"]\n",
                      NULL, &cfg, &err, &warn),
                 0, "%s", buf_cstr(&err));
    cr_assert_str_eq(cfg.server.listen_host, "127.0.0.1");
    cr_assert_eq(cfg.server.listen_port, 3144);
    cr_assert_str_eq(cfg.server.data_dir, "./indexmux-data");
    cr_assert_str_eq(cfg.server.default_view, "default");
    cr_assert_not(cfg.server.offline);
    cr_assert_eq(cfg.server.max_cache_size, 200ull << 30);
    cr_assert_null(cfg.server.public_url);
    cr_assert_eq(cfg.server.connect_timeout, 10);
    cr_assert_eq(cfg.server.timeout, 30);
    cr_assert_eq(cfg.server.lmdb_map_size, 64ull << 30);
    cr_assert_eq(cfg.server.max_connections, 1024);
    cr_assert_eq(cfg.server.client_timeout, 60);
    cr_assert_eq(cfg.server.max_page_size, 64ull << 20);
    cr_assert_eq(cfg.server.page_max_age, 600);
    cr_assert_str_eq(cfg.server.log_level, "info");
    cr_assert_str_eq(cfg.server.log_format, "text");
    ix = config_find_index(&cfg, "pypi");
    cr_assert_str_eq(ix->url, "https://pypi.org/simple/", "trailing slash added");
    cr_assert_eq(ix->ttl, 600);
    cr_assert_eq(ix->negative_ttl, 60);
    cr_assert(ix->tls_verify);
    cr_assert_not(ix->explicit_);
    cr_assert_null(ix->username);
    cr_assert_null(ix->password);
    cr_assert_null(ix->ca_file);
    cr_assert_eq(ix->line, 1);
    cr_assert_eq(ix->col, 1);
    cr_assert_str_eq(buf_cstr(&warn), "");
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);
}

Test(config, all_server_keys)
{
    struct config cfg;
    struct buf err, warn;

    cr_assert_eq(load("[server]\nlisten = \"[::1]:8080\"\ndata-dir = \"/var/x\"\n"
                      "default = \"v\"\noffline = true\nmax-cache-size = \"10KiB\"\n"
                      "public-url = \"https://h.example/mirror/\"\nconnect-timeout = 3\n"
                      "timeout = 4\nlmdb-map-size = 1048576\nmax-connections = 5\n"
                      "client-timeout = 6\nmax-page-size = \"1MB\"\npage-max-age = 0\n"
                      "log-level = \"debug\"\nlog-format = \"json\"\n"
                      "[[index]]\nname = \"a\"\nurl = \"http://a/\"\n"
                      "[virtual.v]\nindexes = [\"a\"]\nindex-strategy = \"unsafe-best-match\"\n",
                      NULL, &cfg, &err, &warn),
                 0, "%s", buf_cstr(&err));
    cr_assert_str_eq(cfg.server.listen_host, "::1");
    cr_assert_eq(cfg.server.listen_port, 8080);
    cr_assert_str_eq(cfg.server.data_dir, "/var/x");
    cr_assert_str_eq(cfg.server.default_view, "v");
    cr_assert(cfg.server.offline);
    cr_assert_eq(cfg.server.max_cache_size, 10240);
    cr_assert_str_eq(cfg.server.public_url, "https://h.example/mirror");
    cr_assert_eq(cfg.server.connect_timeout, 3);
    cr_assert_eq(cfg.server.timeout, 4);
    cr_assert_eq(cfg.server.lmdb_map_size, 1048576);
    cr_assert_eq(cfg.server.max_connections, 5);
    cr_assert_eq(cfg.server.client_timeout, 6);
    cr_assert_eq(cfg.server.max_page_size, 1000000);
    cr_assert_eq(cfg.server.page_max_age, 0);
    cr_assert_str_eq(cfg.server.log_level, "debug");
    cr_assert_str_eq(cfg.server.log_format, "json");
    cr_assert_eq(cfg.views[0].strategy, CONFIG_UNSAFE_BEST_MATCH);
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);
}

Test(config, no_default_view_without_explicit_default)
{
    struct config cfg;
    struct buf err, warn;

    cr_assert_eq(load(BASE "[virtual.x]\nindexes = [\"pypi\"]\n", NULL, &cfg, &err, &warn), 0,
                 "%s", buf_cstr(&err));
    cr_assert_null(cfg.server.default_view);
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);
}

Test(config, err_toml_syntax)
{
    expect_error("[server]\nlisten = \n", "t.toml:2:10: expected a value\n");
}

Test(config, err_unknown_key)
{
    expect_error("[server]\nlisten = \"127.0.0.1:1\"\nlistn = \"x\"\n",
                 "t.toml:3:1: server.listn: unknown key\n");
    expect_error("color = 1\n", "t.toml:1:1: color: unknown key\n");
    expect_error(BASE "mirror = true\n", "t.toml:8:1: index[1].mirror: unknown key\n");
    expect_error(BASE "[virtual.v]\nindexes = [\"pypi\"]\nfoo = 1\n",
                 "t.toml:10:1: virtual.v.foo: unknown key\n");
    expect_error(BASE "[virtual.v.sources]\ntorch = { index = \"pypi\", mark = \"x\" }\n",
                 "t.toml:9:27: virtual.v.sources.torch.mark: unknown key\n");
}

Test(config, err_wrong_type)
{
    expect_error("[server]\noffline = \"yes\"\n",
                 "t.toml:2:1: server.offline: expected boolean, got string\n");
    expect_error("server = 1\n", "t.toml:1:1: server: expected table, got integer\n");
    expect_error(BASE "[virtual.v]\nindexes = \"pypi\"\n",
                 "t.toml:9:1: virtual.v.indexes: expected array, got string\n");
    expect_error(BASE "ttl = -1\n", "t.toml:8:1: index[1].ttl: -1 is out of range 0-31536000\n");
}

Test(config, err_duplicate_name)
{
    expect_error(BASE "[[index]]\nname = \"pypi\"\nurl = \"https://x/\"\n",
                 "t.toml:9:1: index[2].name: duplicate name 'pypi'\n");
    expect_error(BASE "[virtual.pypi]\nindexes = []\n",
                 "t.toml:8:1: virtual.pypi: duplicate name 'pypi'\n");
}

Test(config, err_bad_name)
{
    expect_error("[[index]]\nname = \"PyPI\"\nurl = \"https://x/\"\n",
                 "t.toml:2:1: index[0].name: invalid name 'PyPI' (want [a-z0-9][a-z0-9._-]*)\n");
    expect_error(BASE "[virtual._v]\n",
                 "t.toml:8:1: virtual._v: invalid name '_v' (want [a-z0-9][a-z0-9._-]*)\n");
}

Test(config, err_missing_keys)
{
    expect_error("[[index]]\nname = \"a\"\n", "t.toml:1:1: index[0]: missing key 'url'\n");
    expect_error("[[index]]\nurl = \"https://x/\"\n",
                 "t.toml:1:1: index[0]: missing key 'name'\n");
}

Test(config, err_unknown_index)
{
    expect_error(BASE "[virtual.cu124]\nindexes = [\"pypi\", \"pypy\"]\n",
                 "t.toml:9:20: virtual.cu124.indexes: unknown index 'pypy'\n");
    expect_error(BASE "[virtual.v.sources]\ntorch = [{ index = \"nope\" }]\n",
                 "t.toml:9:12: virtual.v.sources.torch[0].index: unknown index 'nope'\n");
}

Test(config, err_explicit_index_in_indexes)
{
    expect_error(BASE "[virtual.v]\nindexes = [\"pytorch-cu124\"]\n",
                 "t.toml:9:12: virtual.v.indexes: index 'pytorch-cu124' is explicit and can only "
                 "be used in sources\n");
}

Test(config, err_unknown_strategy)
{
    expect_error(BASE "[virtual.v]\nindex-strategy = \"best\"\n",
                 "t.toml:9:1: virtual.v.index-strategy: unknown strategy 'best' (first-index or "
                 "unsafe-best-match)\n");
}

Test(config, err_bad_marker_builtin)
{
    expect_error(BASE "[virtual.v.sources]\n"
                      "torch = { index = \"pytorch-cu124\", marker = \"(platform_system == 'x'\" }\n",
                 "t.toml:9:36: virtual.v.sources.torch.marker: invalid marker "
                 "'(platform_system == 'x'': unbalanced parentheses at offset 23\n");
    expect_error(BASE "[virtual.v.sources]\n"
                      "torch = { index = \"pytorch-cu124\", marker = \"platform_sys == 'x'\" }\n",
                 "t.toml:9:36: virtual.v.sources.torch.marker: invalid marker "
                 "'platform_sys == 'x'': unknown variable at offset 12\n");
}

static int reject_all(const char *marker, char *err, size_t errlen)
{
    snprintf(err, errlen, "hook says no to '%s'", marker);
    return 1;
}

Test(config, err_bad_marker_hook)
{
    struct config_opts opts = {reject_all, NULL};
    struct config cfg;
    struct buf err, warn;

    cr_assert_eq(load(BASE "[virtual.v.sources]\n"
                           "torch = { index = \"pytorch-cu124\", marker = \"os_name == 'nt'\" }\n",
                      &opts, &cfg, &err, &warn),
                 IMX_ECONFIG);
    cr_assert_str_eq(buf_cstr(&err), "t.toml:9:36: virtual.v.sources.torch.marker: invalid marker "
                                     "'os_name == 'nt'': hook says no to 'os_name == 'nt''\n");
    buf_release(&err);
    buf_release(&warn);
}

Test(config, err_marker_extra)
{
    expect_error(BASE "[virtual.v.sources]\n"
                      "torch = { index = \"pytorch-cu124\", marker = \"extra == 'cuda'\" }\n",
                 "t.toml:9:36: virtual.v.sources.torch.marker: marker uses 'extra', which the "
                 "server cannot know; use one virtual index per extra\n");
}

Test(config, err_default_names_no_view)
{
    expect_error("[server]\ndefault = \"main\"\n",
                 "t.toml:2:1: server.default: no view named 'main'\n");
}

Test(config, err_bad_listen)
{
    expect_error("[server]\nlisten = \"localhost\"\n",
                 "t.toml:2:1: server.listen: invalid address 'localhost' (ADDR:PORT or "
                 "[V6ADDR]:PORT)\n");
    expect_error("[server]\nlisten = \"::1:3144\"\n",
                 "t.toml:2:1: server.listen: invalid address '::1:3144' (ADDR:PORT or "
                 "[V6ADDR]:PORT)\n");
}

Test(config, err_bad_size)
{
    expect_error("[server]\nmax-cache-size = \"200 parsecs\"\n",
                 "t.toml:2:1: server.max-cache-size: invalid size '200 parsecs' (e.g. \"200GiB\", "
                 "\"500MB\" or bytes)\n");
}

Test(config, err_url_not_http)
{
    expect_error("[[index]]\nname = \"a\"\nurl = \"ftp://x/\"\n",
                 "t.toml:3:1: index[0].url: 'ftp://x/' is not an http or https URL\n");
}

Test(config, errors_are_all_collected)
{
    expect_error("[server]\nlistn = 1\noffline = 2\n[[index]]\nname = \"a\"\nurl = \"x\"\n",
                 "t.toml:2:1: server.listn: unknown key\n"
                 "t.toml:3:1: server.offline: expected boolean, got integer\n"
                 "t.toml:6:1: index[0].url: 'x' is not an http or https URL\n");
}

Test(config, password_env_warning_and_value)
{
    char *const env[] = {"HOME=/root", "TOKEN=s3cret", NULL};
    struct config_opts opts = {NULL, env};
    struct config cfg;
    struct buf err, warn;
    const char *text = "[[index]]\nname = \"a\"\nurl = \"https://a/\"\nusername = \"ci\"\n"
                       "password-env = \"TOKEN\"\n"
                       "[[index]]\nname = \"b\"\nurl = \"https://b/\"\npassword-env = \"MISSING\"\n";

    cr_assert_eq(load(text, &opts, &cfg, &err, &warn), 0, "%s", buf_cstr(&err));
    cr_assert_str_eq(config_find_index(&cfg, "a")->username, "ci");
    cr_assert_str_eq(config_find_index(&cfg, "a")->password, "s3cret");
    cr_assert_str_eq(config_find_index(&cfg, "b")->password_env, "MISSING");
    cr_assert_null(config_find_index(&cfg, "b")->password);
    cr_assert_str_eq(buf_cstr(&warn), "t.toml:9:1: index[1].password-env: environment variable 'MISSING' is not set; "
                                      "no password is sent\n");
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);

    /* no envp: nothing is set, and the process environment is never read */
    setenv("TOKEN", "x", 1);
    cr_assert_eq(load(text, NULL, &cfg, &err, &warn), 0);
    cr_assert_null(config_find_index(&cfg, "a")->password);
    cr_assert(strstr(buf_cstr(&warn), "'TOKEN' is not set") != NULL);
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);
}

Test(config, tls_verify_false_warns)
{
    struct config cfg;
    struct buf err, warn;

    cr_assert_eq(load("[[index]]\nname = \"a\"\nurl = \"https://a/\"\ntls-verify = false\n",
                      NULL, &cfg, &err, &warn),
                 0);
    cr_assert_not(cfg.indexes[0].tls_verify);
    cr_assert_str_eq(buf_cstr(&warn),
                     "t.toml:4:1: index[0].tls-verify: TLS certificate verification is "
                     "disabled for 'https://a/'\n");
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);
}

Test(config, sources_forms_and_normalisation)
{
    struct config cfg;
    struct buf err, warn;
    const struct config_view *v;
    const struct config_pin *p;

    cr_assert_eq(load(BASE "[virtual.mixed]\nindexes = [\"pypi\"]\n[virtual.mixed.sources]\n"
                           "Torch_Vision = { index = \"pytorch-cu124\" }\n"
                           "torch = [\n"
                           "  { index = \"pypi\", marker = \"platform_system == 'Darwin'\" },\n"
                           "  { index = \"pytorch-cu124\", marker = "
                           "\"platform_system == 'Linux' and (python_version >= '3.9' or "
                           "os_name in 'posix')\" },\n"
                           "]\n",
                      NULL, &cfg, &err, &warn),
                 0, "%s", buf_cstr(&err));
    v = config_find_view(&cfg, "mixed");
    cr_assert_eq(v->npins, 2);
    cr_assert_str_eq(v->pins[0].project, "torch");
    cr_assert_str_eq(v->pins[1].project, "torch-vision");
    p = config_find_pin(v, "torch-vision");
    cr_assert_eq(p->nsources, 1);
    cr_assert_null(p->sources[0].marker);
    cr_assert_eq(p->sources[0].index, 1);
    p = config_find_pin(v, "torch");
    cr_assert_eq(p->nsources, 2);
    cr_assert_eq(p->sources[0].index, 0);
    cr_assert_eq(p->sources[1].index, 1);
    cr_assert_eq(p->sources[1].line, 14);
    cr_assert_eq(p->sources[1].col, 30);
    cr_assert_null(config_find_pin(v, "Torch"));
    config_release(&cfg);
    buf_release(&err);
    buf_release(&warn);

    expect_error(BASE "[virtual.v.sources]\ntorch = []\nTorch = { index = \"pypi\" }\n"
                      "\"bad name!\" = { index = \"pypi\" }\n",
                 "t.toml:9:1: virtual.v.sources.torch: empty list of sources\n"
                 "t.toml:11:1: virtual.v.sources.bad name!: invalid project name\n");
}

Test(config, builtin_marker_check)
{
    static const char *const good[] = {
        "platform_system != 'Darwin'",
        "python_version >= \"3.8\" and (sys_platform == 'linux' or os_name == 'nt')",
        "'linux' in sys_platform",
        "platform_machine not in 'x86_64 aarch64'",
        "implementation_name === 'cpython'",
        "((os_name == 'nt'))",
    };
    static const char *const bad[] = {
        "", "platform_system", "platform_system = 'x'", "platform_system == 'x",
        "(os_name == 'nt'", "os_name == 'nt')", "os_name == 'nt' and", "foo == 'x'",
        "os_name == 'nt' xor os_name == 'x'",
    };
    char reason[128];
    bool extra;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(good); i++)
        cr_expect_eq(config__check_marker(good[i], &extra, reason, sizeof(reason)), 0, "%s: %s",
                     good[i], reason);
    for (i = 0; i < ARRAY_SIZE(bad); i++)
        cr_expect_eq(config__check_marker(bad[i], &extra, reason, sizeof(reason)), IMX_ESYNTAX,
                     "%s", bad[i]);
    cr_assert_eq(config__check_marker("extra == 'x' or os_name == 'nt'", &extra, reason,
                                      sizeof(reason)),
                 0);
    cr_assert(extra);
    cr_assert_eq(config__check_marker("os_name == 'extra'", &extra, reason, sizeof(reason)), 0);
    cr_assert_not(extra);
}

Test(config, listen_parsing)
{
    static const struct {
        const char *in;
        const char *host;
        unsigned port;
    } good[] = {
        {"127.0.0.1:3144", "127.0.0.1", 3144}, {"[::1]:3144", "::1", 3144},
        {"0.0.0.0:80", "0.0.0.0", 80},         {"[::]:0", "::", 0},
        {"localhost:8080", "localhost", 8080}, {"[fe80::1]:65535", "fe80::1", 65535},
    };
    static const char *const bad[] = {
        "", "127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "[::1]80",
        "[::1]:", "[zz]:80", "300.0.0.1:80", "1.2.3:80", "a b:80", "[]:80", "h:-1",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(good); i++) {
        char *host = NULL;
        uint16_t port = 1;
        cr_expect_eq(config_parse_listen(good[i].in, &host, &port), 0, "%s", good[i].in);
        cr_expect_str_eq(host ? host : "", good[i].host, "%s", good[i].in);
        cr_expect_eq(port, good[i].port, "%s", good[i].in);
        free(host);
    }
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        char *host = NULL;
        uint16_t port = 7;
        cr_expect_eq(config_parse_listen(bad[i], &host, &port), IMX_EINVAL, "%s", bad[i]);
        cr_expect_null(host);
        cr_expect_eq(port, 7);
    }
}

Test(config, sizes)
{
    static const struct {
        const char *in;
        uint64_t want;
    } good[] = {
        {"0", 0},
        {"1234", 1234},
        {"200GiB", 200ull << 30},
        {"500MB", 500000000ull},
        {"10KiB", 10240},
        {"10 kib", 10240},
        {"3TB", 3000000000000ull},
        {"1TiB", 1ull << 40},
        {"7B", 7},
        {"18446744073709551615", UINT64_MAX},
    };
    static const char *const bad[] = {"", "GiB", "1.5GiB", "10 ", "10XB", "-1", "1 2", " 1"};
    size_t i;
    uint64_t v;

    for (i = 0; i < ARRAY_SIZE(good); i++) {
        cr_expect_eq(config_parse_size(good[i].in, &v), 0, "%s", good[i].in);
        cr_expect_eq(v, good[i].want, "%s", good[i].in);
    }
    for (i = 0; i < ARRAY_SIZE(bad); i++)
        cr_expect_eq(config_parse_size(bad[i], &v), IMX_EINVAL, "'%s'", bad[i]);
    cr_expect_eq(config_parse_size("20000000000GiB", &v), IMX_ETOOLARGE);
    cr_expect_eq(config_parse_size("18446744073709551616", &v), IMX_ETOOLARGE);
}

Test(config, load_file)
{
    char path[] = "/tmp/imx-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "[server]\nlisten = \"127.0.0.1:9\"\n";
    struct config cfg;
    struct buf err;

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    buf_init(&err, 4096);
    cr_assert_eq(config_load_file(path, NULL, &cfg, &err, NULL), 0, "%s", buf_cstr(&err));
    cr_assert_str_eq(cfg.path, path);
    cr_assert_eq(cfg.server.listen_port, 9);
    config_release(&cfg);
    unlink(path);
    cr_assert_eq(config_load_file(path, NULL, &cfg, &err, NULL), IMX_EIO);
    cr_assert(strstr(buf_cstr(&err), "cannot open") != NULL);
    buf_release(&err);
}

Test(config, default_text_is_static)
{
    cr_assert_eq(config_default_text(), config_default_text());
    cr_assert(strstr(config_default_text(), "[virtual.default]") != NULL);
}
