/*
 * The resolver's page pipeline (merge -> link rewriting -> render, driven
 * through rsv_get_page) must keep writing exactly the bytes it wrote when
 * this test was made: tests/vectors/render_pipeline.txt holds the sha256
 * and length of every page below, rendered from real fixture pages stored
 * as fresh upstream pages in a throwaway store.
 *
 * The pages cover what the pipeline decides: views with first-index and
 * unsafe-best-match, pins with markers (sources shadowing each other,
 * fallback to the view's indexes), the same filename from two indexes (one
 * with a different sha256), files without sha256 that learn one from the
 * file table, wheels without PEP 658 metadata that learn it from a stored
 * wheel, metadata advertised without a sha256 (not advertised), yanked
 * forms, requires-python, PEP 792 status, escapes, relative links at two
 * depths, public-url links, and offline (only stored files, metadata only
 * when stored).
 *
 * To regenerate the vectors after an intended change of the bytes:
 *   IMX_RENDER_GOLDEN_WRITE=1 ctest -R test_resolver   (then review the diff)
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "resolver.h"
#include "resolver_int.h"
#include "sha256.h"
#include "simple.h"
#include "storage.h"
#include "upstream.h"
#include "xalloc.h"

#include "pep/simple_testutil.h"

static const char *const INDEXES[] = {"pypi", "mirror", "cpu", "cu121", "rocm"};
static const char *const PROJECTS[] = {"numpy", "sympy", "attrs",  "torch",
                                       "torchvision", "yanked", "argset", "qypi"};

static const char CFG_TEXT[] =
    "[[index]]\nname = \"pypi\"\nurl = \"https://pypi.org/simple/\"\n"
    "ttl = 86400\nnegative-ttl = 86400\n"
    "[[index]]\nname = \"mirror\"\nurl = \"https://mirror.example/simple/\"\n"
    "ttl = 86400\nnegative-ttl = 86400\n"
    "[[index]]\nname = \"cpu\"\nurl = \"https://download.pytorch.org/whl/cpu/\"\n"
    "ttl = 86400\nnegative-ttl = 86400\nexplicit = true\n"
    "[[index]]\nname = \"cu121\"\nurl = \"https://download.pytorch.org/whl/cu121/\"\n"
    "ttl = 86400\nnegative-ttl = 86400\nexplicit = true\n"
    "[[index]]\nname = \"rocm\"\nurl = \"https://download.pytorch.org/whl/rocm6.2/\"\n"
    "ttl = 86400\nnegative-ttl = 86400\nexplicit = true\n"
    "[virtual.default]\nindexes = [\"pypi\"]\n"
    "[virtual.first]\nindexes = [\"mirror\", \"pypi\"]\n"
    "[virtual.best]\nindexes = [\"mirror\", \"pypi\"]\nindex-strategy = \"unsafe-best-match\"\n"
    "[virtual.mixed]\nindexes = [\"pypi\"]\n"
    "[virtual.mixed.sources]\n"
    "torch = [\n"
    "  { index = \"cpu\", marker = \"platform_system == 'Windows'\" },\n"
    "  { index = \"cu121\", marker = \"platform_system == 'Linux'\" },\n"
    "]\n"
    "torchvision = [\n"
    "  { index = \"rocm\", marker = \"platform_machine == 'x86_64'\" },\n"
    "  { index = \"cpu\" },\n"
    "]\n"
    "numpy = [{ index = \"mirror\", marker = \"python_version >= '3.11'\" }]\n";

/* Routes and projects rendered (every route x project x format x depth). */
static const char *const ROUTES[] = {"pypi", "mirror", "cpu", "default", "first", "best", "mixed"};

struct env {
    char dir[64];
    struct config cfg;
    struct stg *stg;
    struct upstream *up;
    char blob[3][65];   /* stored package bytes */
    char meta_blob[65]; /* a stored METADATA */
};

static void load(const char *rel, const char *page_url, struct simple_project *p)
{
    size_t len;
    char *body = fx_load(rel, &len);
    size_t n = strlen(rel);
    int rc = n > 5 && strcmp(rel + n - 5, ".json") == 0 ? simple_parse_json(body, len, 100000, p)
                                                        : simple_parse_html(body, len, 100000, p);
    cr_assert_eq(rc, 0, "cannot parse %s", rel);
    /* What project.c keeps: absolute URLs. */
    for (size_t i = 0; i < p->nfiles; i++) {
        char *abs = NULL;
        cr_assert_eq(upstream_url_resolve(page_url, p->files[i].url, &abs), 0);
        free(p->files[i].url);
        p->files[i].url = abs;
    }
    free(body);
}

static void put_blob(struct env *e, const char *content, char sha[65])
{
    struct stg_blob_writer *w = NULL;
    cr_assert_eq(stg_blob_begin(e->stg, &w), 0);
    cr_assert_eq(stg_blob_write(w, content, strlen(content)), 0);
    cr_assert_eq(stg_blob_commit(w, NULL, sha), 0);
}

static bool is_whl(const char *fn)
{
    size_t n = strlen(fn);
    return n > 4 && strcmp(fn + n - 4, ".whl") == 0;
}

/*
 * Store p as a fresh page of (index, project) and register its files, some
 * of them stored: file i is stored when i % 4 == 1 (its bytes are one of
 * the three blobs), a wheel has stored METADATA when i % 3 == 0.
 */
static void put_page(struct env *e, const char *index, const char *project,
                     const struct simple_project *p)
{
    struct stg_page rec = {0};
    struct stg_file *files = xcalloc(p->nfiles + 1, sizeof(*files));
    char (*keys)[33] = xcalloc(p->nfiles + 1, sizeof(*keys));
    struct buf store;
    char *url = xasprintf("https://%s.example/simple/%s/", index, project);

    buf_init(&store, BUF_NOMAX);
    cr_assert_eq(simple_store_render(p, &store), 0);
    rec.state = STG_PAGE_PRESENT;
    rec.fetched_at = (int64_t)time(NULL);
    rec.url = url;
    rec.body = store.p;
    rec.body_len = store.len;
    cr_assert_eq(stg_page_put(e->stg, index, project, &rec), 0);
    for (size_t i = 0; i < p->nfiles; i++) {
        const struct simple_file *f = &p->files[i];
        rsv__file_key(index, f->url, keys[i]);
        files[i].key = keys[i];
        files[i].index = (char *)index;
        files[i].url = f->url;
        files[i].filename = f->filename;
        files[i].expected_sha256 = (char *)simple_hashes_get(&f->hashes, "sha256");
        files[i].size = f->size;
        files[i].metadata_expected_sha256 =
            f->core_metadata ? (char *)simple_hashes_get(&f->core_metadata_hashes, "sha256")
                             : NULL;
        if (i % 4 == 1)
            files[i].sha256 = e->blob[i % 3];
        if (is_whl(f->filename) && i % 3 == 0)
            files[i].metadata_sha256 = e->meta_blob;
    }
    cr_assert_eq(stg_file_put_many(e->stg, files, p->nfiles), 0);
    free(files);
    free(keys);
    free(url);
    buf_release(&store);
}

static void put_absent(struct env *e, const char *index, const char *project)
{
    struct stg_page rec = {0};
    struct stg_page old = {0};

    if (stg_page_get(e->stg, index, project, &old) == 0) {
        stg_page_release(&old);
        return;
    }
    rec.state = STG_PAGE_ABSENT;
    rec.fetched_at = (int64_t)time(NULL);
    cr_assert_eq(stg_page_put(e->stg, index, project, &rec), 0);
}

/*
 * The mirror's numpy: every third file of PyPI's at another URL, some
 * without hashes, some with another sha256, plus hand-made files that need
 * escaping, and a project status.
 */
static void make_mirror_numpy(const struct simple_project *src, struct simple_project *m)
{
    struct simple_file *f;
    size_t n = 0;

    simple_project_init(m);
    for (size_t i = 0; i < src->nfiles; i += 3, n++) {
        f = simple_project_copy_file(m, &src->files[i]);
        free(f->url);
        f->url = xasprintf("https://mirror.example/packages/%s", f->filename);
        if (n % 11 == 0) {
            simple_file_release(f);
            f->filename = xstrdup(src->files[i].filename);
            f->url = xasprintf("https://mirror.example/packages/%s", f->filename);
            f->size = (int64_t)n;
        } else if (n % 7 == 0) {
            simple_hashes_set(&f->hashes, "sha256",
                              "00000000000000000000000000000000000000000000000000000000000000aa");
        }
        if (n % 13 == 0) {
            /* Metadata advertised without a sha256: never advertised onwards. */
            f->core_metadata = true;
            simple_hashes_set(&f->core_metadata_hashes, "md5", "0123456789abcdef");
        }
    }
    f = simple_project_add_file(m);
    f->filename = xstrdup("numpy-9.9+local \"q\" <a&b>.tar.gz");
    f->url = xstrdup("https://mirror.example/packages/numpy-9.9%2Blocal%20%22q%22.tar.gz");
    simple_hashes_set(&f->hashes, "md5", "0123456789ABCDEF0123456789abcdef");
    f->requires_python = xstrdup(">=3.9, <4 & 'x' \"y\"");
    f->yanked = SIMPLE_YANKED;
    f->yanked_reason = xstrdup("bad <build> & \"reasons\" \xc3\xa9\t\x01");
    f->upload_time = xstrdup("2024-01-02T03:04:05.000000Z");
    f->provenance = xstrdup("https://mirror.example/prov?a=1&b='2'");
    f->size = 1234567;
    f = simple_project_add_file(m);
    f->filename = xstrdup("numpy-9.9-cp312-cp312-win_amd64.whl");
    f->url = xstrdup("https://mirror.example/packages/numpy-9.9-cp312-cp312-win_amd64.whl");
    f->yanked = SIMPLE_YANKED;
    f->core_metadata = true;
    f = simple_project_add_file(m);
    f->filename = xstrdup("numpy-9.9-cp312-cp312-manylinux_2_17_x86_64.whl");
    f->url = xstrdup("https://mirror.example/p/numpy-9.9-cp312-cp312-manylinux_2_17_x86_64.whl");
    simple_hashes_set(&f->hashes, "sha256",
                      "1111111111111111111111111111111111111111111111111111111111111111");
    f->core_metadata = true;
    simple_hashes_set(&f->core_metadata_hashes, "sha256",
                      "2222222222222222222222222222222222222222222222222222222222222222");
    simple_hashes_set(&f->core_metadata_hashes, "md5", "33");
    m->status = xstrdup("deprecated");
    m->status_reason = xstrdup("use \"numpy\" from <pypi> & friends");
}

/* The mirror's attrs: PyPI's reversed, half of the sizes unknown, no versions. */
static void make_mirror_attrs(const struct simple_project *src, struct simple_project *m)
{
    simple_project_init(m);
    for (size_t i = src->nfiles; i-- > 0;) {
        struct simple_file *f = simple_project_copy_file(m, &src->files[i]);
        if (i % 2)
            f->size = -1;
        free(f->url);
        f->url = xasprintf("https://mirror.example/attrs/%s", f->filename);
    }
    m->status = xstrdup("archived");
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void env_setup(struct env *e, const char *server_section)
{
    struct stg_opts so = {0};
    struct upstream_opts uo = {0};
    struct buf err;
    char *text = xasprintf("%s%s", server_section, CFG_TEXT);
    struct {
        const char *index, *project, *fixture, *url;
    } pages[] = {
        {"pypi", "numpy", "pypi-html-real/numpy.html", "https://pypi.org/simple/numpy/"},
        {"pypi", "sympy", "pypi-html-real/sympy.html", "https://pypi.org/simple/sympy/"},
        {"pypi", "attrs", "poetry-derived/json/attrs.json", "https://pypi.org/simple/attrs/"},
        {"pypi", "torch", "pytorch/cpu/torch/index.html", "https://pypi.org/simple/torch/"},
        {"pypi", "yanked", "pypi-simple-testdata/yanked.json", "https://pypi.org/simple/yanked/"},
        {"pypi", "argset", "pypi-simple-testdata/argset-708.json",
         "https://pypi.org/simple/argset/"},
        {"pypi", "qypi", "pypi-simple-testdata/qypi-708.html", "https://pypi.org/simple/qypi/"},
        {"cpu", "torch", "pytorch/cpu/torch/index.html", "https://download.pytorch.org/whl/cpu/torch/"},
        {"cpu", "torchvision", "pytorch/cpu/torchvision/index.html",
         "https://download.pytorch.org/whl/cpu/torchvision/"},
        {"cu121", "torch", "pytorch/cu121/torch/index.html",
         "https://download.pytorch.org/whl/cu121/torch/"},
        {"rocm", "torchvision", "pytorch/rocm6.2/torchvision/index.html",
         "https://download.pytorch.org/whl/rocm6.2/torchvision/"},
    };
    struct simple_project numpy, attrs, m;

    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/imx-render-XXXXXX");
    cr_assert_not_null(mkdtemp(e->dir));
    buf_init(&err, 4096);
    cr_assert_eq(config_load_string("test", text, strlen(text), NULL, &e->cfg, &err, NULL), 0,
                 "config: %s", buf_cstr(&err));
    buf_release(&err);
    free(text);
    so.data_dir = e->dir;
    cr_assert_eq(stg_open(&so, &e->stg), 0);
    cr_assert_eq(upstream_global_init(), 0);
    cr_assert_eq(upstream_new(&uo, &e->up), 0);
    put_blob(e, "bytes zero", e->blob[0]);
    put_blob(e, "bytes one", e->blob[1]);
    put_blob(e, "bytes two", e->blob[2]);
    put_blob(e, "Metadata-Version: 2.1\nName: x\n", e->meta_blob);
    simple_project_init(&numpy);
    simple_project_init(&attrs);
    for (size_t i = 0; i < ARRAY_SIZE(pages); i++) {
        struct simple_project p;
        simple_project_init(&p);
        load(pages[i].fixture, pages[i].url, &p);
        put_page(e, pages[i].index, pages[i].project, &p);
        if (strcmp(pages[i].index, "pypi") == 0 && strcmp(pages[i].project, "numpy") == 0)
            numpy = p;
        else if (strcmp(pages[i].index, "pypi") == 0 && strcmp(pages[i].project, "attrs") == 0)
            attrs = p;
        else
            simple_project_release(&p);
    }
    make_mirror_numpy(&numpy, &m);
    put_page(e, "mirror", "numpy", &m);
    simple_project_release(&m);
    make_mirror_attrs(&attrs, &m);
    put_page(e, "mirror", "attrs", &m);
    simple_project_release(&m);
    simple_project_release(&numpy);
    simple_project_release(&attrs);
    for (size_t i = 0; i < ARRAY_SIZE(INDEXES); i++)
        for (size_t j = 0; j < ARRAY_SIZE(PROJECTS); j++)
            put_absent(e, INDEXES[i], PROJECTS[j]);
}

static void env_teardown(struct env *e)
{
    upstream_free(e->up);
    stg_close(e->stg);
    upstream_global_cleanup();
    config_release(&e->cfg);
    nftw(e->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* One line per page: "<mode> <route> <project> <fmt> <depth> <status> <len> <sha256>". */
static void render_all(struct env *e, const char *mode, bool offline, struct buf *out)
{
    struct rsv_opts ro = {0};
    struct rsv *r = NULL;

    ro.cfg = &e->cfg;
    ro.stg = e->stg;
    ro.up = e->up;
    ro.offline = offline;
    cr_assert_eq(rsv_new(&ro, &r), 0);
    /* Twice: the second round renders from the parsed pages kept in memory. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(ROUTES); i++) {
            for (size_t j = 0; j < ARRAY_SIZE(PROJECTS); j++) {
                for (int fmt = 0; fmt < 2; fmt++) {
                    for (unsigned depth = 2; depth <= 3; depth++) {
                        struct rsv_page *p = NULL;
                        struct buf why;
                        char hex[65] = "-";
                        size_t len = 0;
                        int rc;
                        buf_init(&why, 4096);
                        rc = rsv_get_page(r, ROUTES[i], PROJECTS[j], (enum rsv_format)fmt,
                                          depth + (unsigned)round * 10, &p, &why);
                        if (rc == 0) {
                            sha256_hex(p->body, p->len, hex);
                            len = p->len;
                            rsv_page_unref(p);
                        }
                        if (round == 0)
                            buf_printf(out, "%s %s %s %s %u %s %zu %s\n", mode, ROUTES[i],
                                       PROJECTS[j], fmt ? "json" : "html", depth,
                                       rc ? imx_strerror(rc) : "ok", len, hex);
                        else
                            buf_printf(out, "%s %s %s %s %u %s %zu %s\n", mode, ROUTES[i],
                                       PROJECTS[j], fmt ? "json" : "html", depth + 10,
                                       rc ? imx_strerror(rc) : "ok", len, hex);
                        buf_release(&why);
                    }
                }
            }
        }
    }
    rsv_free(r);
}

/* Compare with (or, when asked, write) the vectors of `mode`. */
static void check_vectors(const char *mode, const struct buf *got)
{
    const char *src = getenv("IMX_SOURCE_DIR");
    char *path = xasprintf("%s/tests/vectors/render_pipeline_%s.txt", src ? src : ".", mode);
    size_t len = 0;
    char *want;
    FILE *f;

    if (getenv("IMX_RENDER_GOLDEN_WRITE")) {
        f = fopen(path, "wb");
        cr_assert_not_null(f, "cannot write %s", path);
        fwrite(got->p, 1, got->len, f);
        fclose(f);
        free(path);
        return;
    }
    f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    want = xmalloc(len + 1);
    cr_assert_eq(fread(want, 1, len, f), len);
    want[len] = '\0';
    fclose(f);
    /* Line by line, so that a failure names the page. */
    {
        const char *a = buf_cstr(got), *b = want;
        while (*a || *b) {
            size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
            cr_assert(la == lb && memcmp(a, b, la) == 0, "page differs:\n  got  %.*s\n  want %.*s",
                      (int)la, a, (int)lb, b);
            a += la + (a[la] ? 1 : 0);
            b += lb + (b[lb] ? 1 : 0);
        }
    }
    free(want);
    free(path);
}

static void run_mode(const char *mode, const char *server_section, bool offline)
{
    struct env e;
    struct buf got;

    env_setup(&e, server_section);
    buf_init(&got, BUF_NOMAX);
    render_all(&e, mode, offline, &got);
    check_vectors(mode, &got);
    buf_release(&got);
    env_teardown(&e);
}

Test(render_pipeline, relative_links, .timeout = 120)
{
    run_mode("relative", "", false);
}

Test(render_pipeline, public_url_links, .timeout = 120)
{
    run_mode("public", "[server]\npublic-url = \"https://pypi.corp.example/mirror\"\n", false);
}

Test(render_pipeline, offline_only_stored_files, .timeout = 120)
{
    run_mode("offline", "", true);
}
