/*
 * The direct JSON renderer (simple_render_json) must write exactly what the
 * jansson-tree renderer writes, on every fixture page and on hand-made edge
 * cases (escapes, control bytes, invalid UTF-8, yanked forms, metadata forms).
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>

#include "err.h"
#include "simple.h"
#include "simple_int.h"
#include "xalloc.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = xmalloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void same_output(const struct simple_project *p, const char *what)
{
    struct buf a, b;
    buf_init(&a, BUF_NOMAX);
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(simple_render_json(p, "proj", &a), 0);
    cr_assert_eq(simple__render_json_tree(p, "proj", &b), 0);
    cr_assert_eq(a.len, b.len, "%s: lengths differ (%zu vs %zu)", what, a.len, b.len);
    cr_assert(memcmp(a.p, b.p, a.len) == 0, "%s: bytes differ", what);
    buf_release(&a);
    buf_release(&b);
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
            char *body = slurp(path, &len);
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

Test(simple_render_direct, matches_tree_renderer_on_every_fixture)
{
    const char *shared = getenv("IMX_SHARED_DIR");
    char *dir = xasprintf("%s/fixtures", shared ? shared : "../shared");
    size_t count = 0;
    walk(dir, &count);
    cr_assert_gt(count, 30, "only %zu fixture pages rendered", count);
    free(dir);
}

Test(simple_render_direct, matches_tree_renderer_on_edge_cases)
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
