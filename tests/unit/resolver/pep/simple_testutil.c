/* simple_testutil.c - helpers shared by the simple* test files; see simple_testutil.h. */
#include "compat.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "err.h"
#include "simple_int.h"
#include "simple_testutil.h"
#include "xalloc.h"

const char *const fx_html_pages[] = {
    "poetry-derived/find_links/torch_stable.html",
    "poetry-derived/html/absolute.html",
    "poetry-derived/html/black.html",
    "poetry-derived/html/futures-partial-yank.html",
    "poetry-derived/html/isort.html",
    "poetry-derived/html/jupyter.html",
    "poetry-derived/html/pyyaml.html",
    "poetry-derived/html/relative.html",
    "pypi-html-real/filelock.html",
    "pypi-html-real/fsspec.html",
    "pypi-html-real/mpmath.html",
    "pypi-html-real/networkx.html",
    "pypi-html-real/numpy.html",
    "pypi-html-real/sympy.html",
    "pypi-simple-testdata/aws-adfs-ebsco.html",
    "pypi-simple-testdata/devpi_devpi.html",
    "pypi-simple-testdata/qypi-708.html",
    "pypi-simple-testdata/qypi.html",
    "pypi-simple-testdata/qypi_base.html",
    "pypi-simple-testdata/qypi_mixed.html",
    "pypi-simple-testdata/qypi_repo_version.html",
    "pypi-simple-testdata/session01/in-place.html",
    "pypi-simple-testdata/session01/simple.html",
    "pypi-simple-testdata/simple01.html",
    "pypi-simple-testdata/simple_base.html",
    "pypi-simple-testdata/simple_devpi.html",
    "pypi-simple-testdata/simple_repo_version.html",
    "pytorch/cpu/index.html",
    "pytorch/cpu/torch/index.html",
    "pytorch/cpu/torchvision/index.html",
    "pytorch/cu121/index.html",
    "pytorch/cu121/torch/index.html",
    "pytorch/cu121/torchvision/index.html",
    "pytorch/rocm6.2/index.html",
    "pytorch/rocm6.2/torch/index.html",
    "pytorch/rocm6.2/torchvision/index.html",
};
const size_t fx_html_npages = ARRAY_SIZE(fx_html_pages);

const char *const fx_json_pages[] = {
    "poetry-derived/json/attrs.json",
    "poetry-derived/json/black.json",
    "poetry-derived/json/isort.json",
    "poetry-derived/json/requests.json",
    "poetry-derived/json/setuptools.json",
    "poetry-derived/json/toga.json",
    "pypi-simple-testdata/argset-700.json",
    "pypi-simple-testdata/argset-708.json",
    "pypi-simple-testdata/argset-relative.json",
    "pypi-simple-testdata/argset.json",
    "pypi-simple-testdata/yanked.json",
};
const size_t fx_json_npages = ARRAY_SIZE(fx_json_pages);

char *fx_load_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long n;

    cr_assert_not_null(f, "cannot open '%s'", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_geq(n, 0);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    data = xmalloc((size_t)n + 1);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

char *fx_load(const char *rel, size_t *len)
{
    const char *dir = getenv("IMX_SHARED_DIR");
    char *path;
    char *data;

    cr_assert_not_null(dir, "IMX_SHARED_DIR is not set (run through ctest)");
    path = xasprintf("%s/fixtures/%s", dir, rel);
    data = fx_load_path(path, len);
    free(path);
    return data;
}

size_t fx_count(const char *hay, const char *needle)
{
    size_t n = 0;
    size_t nl = strlen(needle);
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + nl, needle))
        n++;
    return n;
}

void fx_parse_html(const char *rel, struct simple_project *p)
{
    size_t len;
    char *data = fx_load(rel, &len);
    int rc;

    simple_project_init(p);
    rc = simple_parse_html(data, len, 100000, p);
    cr_assert_eq(rc, 0, "%s: %s", rel, imx_strerror(rc));
    free(data);
}

void fx_parse_json(const char *rel, struct simple_project *p)
{
    size_t len;
    char *data = fx_load(rel, &len);
    int rc;

    simple_project_init(p);
    rc = simple_parse_json(data, len, 100000, p);
    cr_assert_eq(rc, 0, "%s: %s", rel, imx_strerror(rc));
    free(data);
}

const struct simple_file *fx_file(const struct simple_project *p, const char *filename)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        if (p->files[i].filename && strcmp(p->files[i].filename, filename) == 0)
            return &p->files[i];
    }
    cr_assert_fail("no file '%s'", filename);
    return NULL;
}

static void str_eq_or_null(const char *a, const char *b, const char *what, const char *field,
                           size_t i)
{
    if (a == NULL || b == NULL)
        cr_assert(a == b, "%s: file %zu %s: %s vs %s", what, i, field, a ? a : "(null)",
                  b ? b : "(null)");
    else
        cr_assert_str_eq(a, b, "%s: file %zu %s", what, i, field);
}

static void hashes_eq(const struct simple_hashes *a, const struct simple_hashes *b, bool pref,
                      const char *what, const char *field, size_t i)
{
    if (pref) {
        const struct simple_hash *ha = simple__preferred_hash(a);
        const struct simple_hash *hb = simple__preferred_hash(b);
        cr_assert((ha == NULL) == (hb == NULL), "%s: file %zu %s presence", what, i, field);
        if (ha) {
            cr_assert_str_eq(ha->name, hb->name, "%s: file %zu %s name", what, i, field);
            cr_assert_str_eq(ha->value, hb->value, "%s: file %zu %s value", what, i, field);
        }
        return;
    }
    cr_assert_eq(a->n, b->n, "%s: file %zu %s count", what, i, field);
    for (size_t k = 0; k < a->n; k++) {
        cr_assert_str_eq(a->v[k].name, b->v[k].name, "%s: file %zu %s", what, i, field);
        cr_assert_str_eq(a->v[k].value, b->v[k].value, "%s: file %zu %s", what, i, field);
    }
}

void assert_project_eq(const struct simple_project *a, const struct simple_project *b,
                       unsigned flags, const char *what)
{
    bool pref = (flags & CMP_HASHES_PREFERRED) != 0;

    if (!(flags & CMP_NO_PAGE_META)) {
        str_eq_or_null(a->name, b->name, what, "name", 0);
        str_eq_or_null(a->api_version, b->api_version, what, "api_version", 0);
        str_eq_or_null(a->base_url, b->base_url, what, "base_url", 0);
    }
    str_eq_or_null(a->status, b->status, what, "status", 0);
    str_eq_or_null(a->status_reason, b->status_reason, what, "status_reason", 0);
    if (!(flags & CMP_NO_VERSIONS)) {
        cr_assert_eq(a->nversions, b->nversions, "%s: versions", what);
        for (size_t i = 0; i < a->nversions; i++)
            cr_assert_str_eq(a->versions[i], b->versions[i], "%s: version %zu", what, i);
    }
    cr_assert_eq(a->nfiles, b->nfiles, "%s: nfiles %zu vs %zu", what, a->nfiles, b->nfiles);
    for (size_t i = 0; i < a->nfiles; i++) {
        const struct simple_file *x = &a->files[i], *y = &b->files[i];
        str_eq_or_null(x->filename, y->filename, what, "filename", i);
        str_eq_or_null(x->url, y->url, what, "url", i);
        hashes_eq(&x->hashes, &y->hashes, pref, what, "hashes", i);
        str_eq_or_null(x->requires_python, y->requires_python, what, "requires_python", i);
        cr_assert_eq(x->yanked, y->yanked, "%s: file %zu yanked", what, i);
        str_eq_or_null(x->yanked_reason, y->yanked_reason, what, "yanked_reason", i);
        cr_assert_eq(x->core_metadata, y->core_metadata, "%s: file %zu core_metadata", what, i);
        hashes_eq(&x->core_metadata_hashes, &y->core_metadata_hashes, pref, what,
                  "core_metadata_hashes", i);
        cr_assert_eq(x->size, y->size, "%s: file %zu size", what, i);
        str_eq_or_null(x->upload_time, y->upload_time, what, "upload_time", i);
        str_eq_or_null(x->provenance, y->provenance, what, "provenance", i);
    }
}
