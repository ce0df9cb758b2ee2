/*
 * The direct renderers must write exactly what the straightforward ones
 * write, on every fixture page and on hand-made edge cases (escapes, control
 * bytes, invalid UTF-8, yanked forms, metadata forms, long strings), and
 * keep their output cap exactly: simple_render_json against the
 * jansson-tree renderer (simple__render_json_tree), simple_render_html
 * against ref_render_html below (the HTML renderer as it was before it
 * wrote into reserved room: one checked append or printf per piece).
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>

#include "err.h"
#include "simple.h"
#include "simple_int.h"
#include "simple_testutil.h"
#include "xalloc.h"

/* ---- the reference HTML renderer ---- */

static int ref_put_esc(struct buf *b, const char *s)
{
    const char *run = s;
    int rc = 0;

    for (; *s != '\0' && rc == 0; s++) {
        const char *rep;
        s += strcspn(s, "&<>\"'");
        if (*s == '\0')
            break;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        rc = buf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = buf_appends(b, rep);
        run = s + 1;
    }
    if (rc == 0)
        rc = buf_append(b, run, (size_t)(s - run));
    return rc;
}

static int ref_put_attr(struct buf *b, const char *name, const char *value)
{
    int rc = buf_printf(b, " %s=\"", name);
    if (rc == 0)
        rc = ref_put_esc(b, value);
    if (rc == 0)
        rc = buf_putc(b, '"');
    return rc;
}

static int ref_put_meta(struct buf *b, const char *name, const char *content)
{
    int rc = buf_printf(b, "    <meta name=\"%s\" content=\"", name);
    if (rc == 0)
        rc = ref_put_esc(b, content);
    if (rc == 0)
        rc = buf_appends(b, "\">\n");
    return rc;
}

static int ref_render_file(const struct simple_file *f, struct buf *b)
{
    const struct simple_hash *h = simple__preferred_hash(&f->hashes);
    int rc;

    rc = buf_appends(b, "    <a href=\"");
    if (rc == 0)
        rc = ref_put_esc(b, f->url ? f->url : "");
    if (rc == 0 && h != NULL) {
        rc = buf_putc(b, '#');
        if (rc == 0)
            rc = ref_put_esc(b, h->name);
        if (rc == 0)
            rc = buf_putc(b, '=');
        if (rc == 0)
            rc = ref_put_esc(b, h->value);
    }
    if (rc == 0)
        rc = buf_putc(b, '"');
    if (rc == 0 && f->requires_python != NULL)
        rc = ref_put_attr(b, "data-requires-python", f->requires_python);
    if (rc == 0 && f->yanked == SIMPLE_YANKED)
        rc = ref_put_attr(b, "data-yanked", f->yanked_reason ? f->yanked_reason : "");
    if (rc == 0 && f->core_metadata) {
        const struct simple_hash *m = simple__preferred_hash(&f->core_metadata_hashes);
        char *v = m ? xasprintf("%s=%s", m->name, m->value) : xstrdup("true");
        rc = ref_put_attr(b, "data-dist-info-metadata", v);
        if (rc == 0)
            rc = ref_put_attr(b, "data-core-metadata", v);
        free(v);
    }
    if (rc == 0 && f->upload_time != NULL)
        rc = ref_put_attr(b, "data-upload-time", f->upload_time);
    if (rc == 0 && f->size >= 0)
        rc = buf_printf(b, " data-size=\"%lld\"", (long long)f->size);
    if (rc == 0 && f->provenance != NULL)
        rc = ref_put_attr(b, "data-provenance", f->provenance);
    if (rc == 0)
        rc = buf_putc(b, '>');
    if (rc == 0)
        rc = ref_put_esc(b, f->filename ? f->filename : "");
    if (rc == 0)
        rc = buf_appends(b, "</a><br/>\n");
    return rc;
}

static int ref_render_html(const struct simple_project *p, const char *name, struct buf *out)
{
    const char *title = name ? name : (p->name ? p->name : "");
    size_t start = out->len;
    int rc;

    rc = buf_appends(out, "<!DOCTYPE html>\n<html>\n  <head>\n");
    if (rc == 0)
        rc = ref_put_meta(out, "pypi:repository-version", simple__api_version(p));
    if (rc == 0 && p->status != NULL)
        rc = ref_put_meta(out, "pypi:project-status", p->status);
    if (rc == 0 && p->status != NULL && p->status_reason != NULL)
        rc = ref_put_meta(out, "pypi:project-status-reason", p->status_reason);
    if (rc == 0)
        rc = buf_appends(out, "    <title>Links for ");
    if (rc == 0)
        rc = ref_put_esc(out, title);
    if (rc == 0)
        rc = buf_appends(out, "</title>\n  </head>\n  <body>\n    <h1>Links for ");
    if (rc == 0)
        rc = ref_put_esc(out, title);
    if (rc == 0)
        rc = buf_appends(out, "</h1>\n");
    for (size_t i = 0; i < p->nfiles && rc == 0; i++)
        rc = ref_render_file(&p->files[i], out);
    if (rc == 0)
        rc = buf_appends(out, "  </body>\n</html>\n");
    if (rc != 0)
        out->len = start;
    if (out->p != NULL)
        out->p[out->len] = '\0';
    return rc;
}

typedef int (*render_fn)(const struct simple_project *p, const char *name, struct buf *out);

/*
 * `fast` writes what `ref` writes, after a prefix already in the buffer;
 * with a cap of exactly that size too, and one byte less is IMX_ETOOLARGE
 * with the buffer left as it was.
 */
static void same_as(render_fn fast, render_fn ref, const struct simple_project *p,
                    const char *what)
{
    struct buf a, b, c;

    buf_init(&a, BUF_NOMAX);
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(buf_appends(&a, "prefix"), 0);
    cr_assert_eq(buf_appends(&b, "prefix"), 0);
    cr_assert_eq(fast(p, "proj", &a), 0);
    cr_assert_eq(ref(p, "proj", &b), 0);
    cr_assert_eq(a.len, b.len, "%s: lengths differ (%zu vs %zu)", what, a.len, b.len);
    cr_assert(memcmp(a.p, b.p, a.len) == 0, "%s: bytes differ", what);
    cr_assert_eq(a.p[a.len], '\0');
    buf_init(&c, b.len);
    cr_assert_eq(buf_appends(&c, "prefix"), 0);
    cr_assert_eq(fast(p, "proj", &c), 0, "%s: fits its exact size", what);
    cr_assert(c.len == b.len && memcmp(c.p, b.p, b.len) == 0, "%s: bytes differ at the cap", what);
    buf_release(&c);
    buf_init(&c, b.len - 1);
    cr_assert_eq(buf_appends(&c, "prefix"), 0);
    cr_assert_eq(fast(p, "proj", &c), IMX_ETOOLARGE, "%s: one byte short", what);
    cr_assert_str_eq(buf_cstr(&c), "prefix", "%s: all or nothing", what);
    buf_release(&c);
    buf_release(&a);
    buf_release(&b);
}

static void same_output(const struct simple_project *p, const char *what)
{
    same_as(simple_render_json, simple__render_json_tree, p, what);
    same_as(simple_render_html, ref_render_html, p, what);
}

static void walk(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char *path;
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        path = xasprintf("%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) {
            walk(path, count);
        } else if ((n > 5 && strcmp(e->d_name + n - 5, ".html") == 0) ||
                   (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0)) {
            size_t len;
            char *body = fx_load_path(path, &len);
            struct simple_project p;
            int rc;
            simple_project_init(&p);
            rc = strcmp(e->d_name + n - 5, ".json") == 0 ? simple_parse_json(body, len, 100000, &p)
                                                         : simple_parse_html(body, len, 100000, &p);
            if (rc == 0) {
                same_output(&p, path);
                (*count)++;
            }
            simple_project_release(&p);
            free(body);
        }
        free(path);
    }
    closedir(d);
}

Test(simple_render_direct, matches_reference_renderers_on_every_fixture)
{
    const char *shared = getenv("IMX_SHARED_DIR");
    char *dir = xasprintf("%s/fixtures", shared ? shared : "../shared");
    size_t count = 0;
    walk(dir, &count);
    cr_assert_gt(count, 30, "only %zu fixture pages rendered", count);
    free(dir);
}

Test(simple_render_direct, matches_reference_renderers_on_edge_cases)
{
    struct simple_project p;
    struct simple_file *f;

    simple_project_init(&p);
    f = simple_project_add_file(&p);
    f->filename = xstrdup("a\"b\\c\x01\x1f\t\n\r\b\f-\xc3\xa9-\xff.whl");
    f->url = xstrdup("../../files/k/a%22b.whl");
    simple_hashes_set(&f->hashes, "sha256", "00ff");
    simple_hashes_set(&f->hashes, "md5", "11");
    f->requires_python = xstrdup(">=3.8,<4 \"quoted\"");
    f->yanked = SIMPLE_YANKED;
    f = simple_project_add_file(&p);
    f->filename = xstrdup("b.whl");
    f->url = xstrdup("u");
    f->yanked = SIMPLE_YANKED;
    f->yanked_reason = xstrdup("broken \x7f release");
    f->core_metadata = true;
    f->size = 12345;
    f->upload_time = xstrdup("2024-01-01T00:00:00Z");
    f->provenance = xstrdup("https://x/y");
    f = simple_project_add_file(&p);
    f->filename = xstrdup("c.tar.gz");
    f->url = xstrdup("v");
    f->core_metadata = true;
    simple_hashes_set(&f->core_metadata_hashes, "sha256", "abcd");
    f->size = 0;
    same_output(&p, "edge cases, api 1.0");
    for (size_t i = 0; i < p.nfiles; i++)
        p.files[i].size = 7;
    p.versions = xcalloc(2, sizeof(*p.versions));
    p.versions[0] = xstrdup("1.0");
    p.versions[1] = xstrdup("2.0\xfe");
    p.nversions = 2;
    p.status = xstrdup("archived");
    p.status_reason = xstrdup("gone");
    same_output(&p, "edge cases, api 1.1 with status");
    free(p.status_reason);
    p.status_reason = xstrdup("<moved> & \"gone\"");
    same_output(&p, "edge cases, status reason with escapes");
    simple_project_release(&p);
}

/* Strings long enough to need the output buffer to grow inside one file. */
Test(simple_render_direct, matches_on_long_strings_and_many_files)
{
    static const char pieces[][8] = {"a", "<", "&", "\"", "'", "\x01", "\\", "\xc3\xa9",
                                     "\xff", "\n", "x>y", "\t"};
    struct simple_project p;
    struct buf big;

    simple_project_init(&p);
    buf_init(&big, BUF_NOMAX);
    for (size_t i = 0; i < 20000; i++)
        buf_appends(&big, pieces[i % ARRAY_SIZE(pieces)]);
    for (size_t i = 0; i < 300; i++) {
        struct simple_file *f = simple_project_add_file(&p);
        f->filename = xasprintf("pkg-%zu.%s", i, i % 2 ? "whl" : "tar.gz");
        f->url = i % 50 == 0 ? xstrdup(buf_cstr(&big)) : xasprintf("https://h/%zu", i);
        simple_hashes_set(&f->hashes, i % 3 ? "sha256" : "md5", "00ff00ff");
        if (i % 4 == 0)
            f->requires_python = xstrdup(">=3.8");
        if (i % 7 == 0) {
            f->yanked = SIMPLE_YANKED;
            f->yanked_reason = i % 14 ? xstrdup(buf_cstr(&big)) : NULL;
        }
        f->core_metadata = i % 5 == 0;
        if (i % 10 == 0)
            simple_hashes_set(&f->core_metadata_hashes, "sha256", "abab");
        f->size = i % 9 ? (int64_t)i * 1000003 : -1;
        if (i == 299)
            f->size = INT64_MAX;
        if (i % 6 == 0)
            f->upload_time = xstrdup("2024-01-01T00:00:00.123456Z");
        if (i % 8 == 0)
            f->provenance = xstrdup("https://p/x");
    }
    same_output(&p, "long strings");
    buf_release(&big);
    simple_project_release(&p);
}

Test(simple_render_direct, respects_the_cap_all_or_nothing)
{
    struct simple_project p;
    struct simple_file *f;
    struct buf out;

    simple_project_init(&p);
    f = simple_project_add_file(&p);
    f->filename = xstrdup("a.whl");
    f->url = xstrdup("u");
    buf_init(&out, 20);
    buf_appends(&out, "keep");
    cr_assert_eq(simple_render_json(&p, "proj", &out), IMX_ETOOLARGE);
    cr_assert_str_eq(buf_cstr(&out), "keep");
    buf_release(&out);
    simple_project_release(&p);
}
