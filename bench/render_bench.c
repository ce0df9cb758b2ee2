/*
 * render_bench.c - how long the resolver takes to merge and render a big
 * page from cached inputs, in process (no HTTP): issue 5's "numpy page
 * merged and rendered from cached inputs in < 5 ms".
 *
 * It stores numpy's real PyPI page (../shared fixture, parsed and with
 * absolute URLs, as project.c would) as a fresh upstream page in a
 * throwaway store, then asks rsv_get_page for it at many link depths: each
 * depth is a new rendering (the rendered-page cache is keyed by depth), so
 * every call after the first runs the merge, the link rewriting and the
 * renderer on the parsed input kept in memory. Prints the median and the
 * 90th percentile per format.
 *
 * Usage: render_bench NUMPY_HTML [ROUNDS]
 */
#include "compat.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "resolver.h"
#include "simple.h"
#include "storage.h"
#include "upstream.h"
#include "xalloc.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = xmalloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    static const char cfg_text[] = "[[index]]\nname = \"pypi\"\n"
                                   "url = \"https://pypi.org/simple/\"\nttl = 86400\n"
                                   "[virtual.default]\nindexes = [\"pypi\"]\n";
    char dir[] = "/tmp/imx-render-bench-XXXXXX";
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 50;
    struct config cfg;
    struct buf err, store;
    struct simple_project page;
    struct stg *stg = NULL;
    struct upstream *up = NULL;
    struct rsv *rsv = NULL;
    struct stg_opts so = {0};
    struct upstream_opts uo = {0};
    struct rsv_opts ro = {0};
    struct stg_page rec = {0};
    size_t len = 0;
    char *html;
    int rc = 1;

    if (argc < 2 || rounds < 2) {
        fprintf(stderr, "usage: render_bench NUMPY_HTML [ROUNDS>=2]\n");
        return 2;
    }
    html = slurp(argv[1], &len);
    if (!html || !mkdtemp(dir)) {
        fprintf(stderr, "render_bench: cannot read '%s' or make a temp dir\n", argv[1]);
        return 1;
    }
    buf_init(&err, 4096);
    buf_init(&store, BUF_NOMAX);
    simple_project_init(&page);
    if (config_load_string("bench", cfg_text, sizeof(cfg_text) - 1, NULL, &cfg, &err, NULL) != 0)
        goto out;
    /* What project.c stores: the parsed page with absolute URLs. */
    if (simple_parse_html(html, len, 100000, &page) != 0)
        goto out;
    for (size_t i = 0; i < page.nfiles; i++) {
        char *abs = NULL;
        if (upstream_url_resolve("https://pypi.org/simple/numpy/", page.files[i].url, &abs) == 0) {
            free(page.files[i].url);
            page.files[i].url = abs;
        }
    }
    simple_store_render(&page, &store);
    so.data_dir = dir;
    if (stg_open(&so, &stg) != 0 || upstream_global_init() != 0 || upstream_new(&uo, &up) != 0)
        goto out;
    rec.state = STG_PAGE_PRESENT;
    rec.fetched_at = (int64_t)time(NULL);
    rec.url = (char *)"https://pypi.org/simple/numpy/";
    rec.body = store.p;
    rec.body_len = store.len;
    if (stg_page_put(stg, "pypi", "numpy", &rec) != 0)
        goto out;
    /*
     * The resolver gets a read-only handle: a new rendering is then neither
     * gzipped nor kept in LMDB (stored.c), so what is timed stays the merge,
     * the link rewriting and the renderer.
     */
    stg_close(stg);
    stg = NULL;
    so.read_only = true;
    if (stg_open(&so, &stg) != 0)
        goto out;
    ro.cfg = &cfg;
    ro.stg = stg;
    ro.up = up;
    if (rsv_new(&ro, &rsv) != 0)
        goto out;
    for (int fmt = 0; fmt < 2; fmt++) {
        double *t = xcalloc((size_t)rounds, sizeof(*t));
        size_t bytes = 0;
        for (int i = 0; i < rounds; i++) {
            struct rsv_page *p = NULL;
            struct buf why;
            double t0;
            buf_init(&why, 1024);
            t0 = now_ms();
            if (rsv_get_page(rsv, "default", "numpy", (enum rsv_format)fmt, (unsigned)(i + 2), &p,
                             &why) != 0) {
                fprintf(stderr, "render_bench: %s\n", buf_cstr(&why));
                goto out;
            }
            t[i] = now_ms() - t0;
            bytes = p->len;
            rsv_page_unref(p);
            buf_release(&why);
        }
        /* The first call also read and parsed the stored page: leave it out. */
        qsort(t + 1, (size_t)rounds - 1, sizeof(*t), cmp_double);
        printf("%s: %zu files, %zu bytes: first %.1f ms (read+parse+merge+render), then median "
               "%.2f ms, p90 %.2f ms (merge+render, %d rounds)\n",
               fmt ? "json" : "html", page.nfiles, bytes, t[0],
               t[1 + (rounds - 1) / 2], t[1 + (rounds - 1) * 9 / 10], rounds - 1);
        free(t);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "render_bench: failed %s\n", buf_cstr(&err));
    rsv_free(rsv);
    upstream_free(up);
    stg_close(stg);
    upstream_global_cleanup();
    config_release(&cfg);
    simple_project_release(&page);
    buf_release(&store);
    buf_release(&err);
    free(html);
    {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "render_bench: cannot remove '%s'\n", dir);
        free(cmd);
    }
    return rc;
}
