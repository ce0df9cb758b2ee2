/*
 * Tests for project lists (the index root): streaming HTML parse in chunks of
 * every size, script content, JSON parse, limits and both renderers.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"
#include "simple.h"
#include "simple_testutil.h"
#include "xalloc.h"

static int stream(const char *p, size_t len, size_t chunk, size_t max, struct simple_index *ix)
{
    struct simple_index_html *s = simple_index_html_new(max);
    int rc = 0;

    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = simple_index_html_feed(s, p + off, len - off < chunk ? len - off : chunk);
    if (rc == 0)
        rc = simple_index_html_finish(s, ix);
    simple_index_html_free(s);
    return rc;
}

static void same_names(const struct simple_index *a, const struct simple_index *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu vs %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        cr_assert_str_eq(a->names[i], b->names[i], "%s: name %zu", what, i);
}

Test(simple_index, html_fixtures_in_any_chunking)
{
    static const struct {
        const char *path;
        size_t n;
        size_t probe;
        const char *name;
    } cases[] = {
        {"pytorch/cpu/index.html", 95, 0, "certifi"},
        {"pytorch/cu121/index.html", 104, 0, NULL},
        {"pytorch/rocm6.2/index.html", 90, 0, NULL},
        {"pypi-simple-testdata/simple01.html", 20, 9, "a2d_diary"},
        {"pypi-simple-testdata/simple_base.html", 5, 4, "a10-neutronclient"},
        {"pypi-simple-testdata/simple_devpi.html", 18, 17, "00smalinux"},
        {"pypi-simple-testdata/simple_repo_version.html", 5, 0, "a"},
        {"pypi-simple-testdata/session01/simple.html", 3, 2, "BAR"},
    };
    static const size_t chunks[] = {1, 7, 64, 4096, (size_t)1 << 30};

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t len;
        char *data = fx_load(cases[i].path, &len);
        struct simple_index whole;

        simple_index_init(&whole);
        cr_assert_eq(stream(data, len, len ? len : 1, 100000, &whole), 0);
        cr_assert_eq(whole.n, cases[i].n, "%s: %zu", cases[i].path, whole.n);
        cr_assert_eq(whole.n, fx_count(data, "<a "), "%s", cases[i].path);
        if (cases[i].name)
            cr_assert_str_eq(whole.names[cases[i].probe], cases[i].name, "%s", cases[i].path);
        for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
            struct simple_index part;
            simple_index_init(&part);
            cr_assert_eq(stream(data, len, chunks[c], 100000, &part), 0);
            same_names(&whole, &part, cases[i].path);
            simple_index_release(&part);
        }
        simple_index_release(&whole);
        free(data);
    }
}

Test(simple_index, script_content_is_never_a_name)
{
    size_t len;
    char *root = fx_load("pytorch/cpu/index.html", &len);
    char *body_end = strstr(root, "</body>");
    char *page = xasprintf("%.*s<script>(function(){var a=document.createElement('script');"
                           "a.innerHTML=\"window.__CF$cv$params={r:'8f'};<a href='x/'>fake</a>\";"
                           "})();</script><style>a::after{content:\"<a>y</a>\"}</style>"
                           "<!-- <a href=\"z/\">z</a> -->%s",
                           (int)(body_end - root), root, body_end);
    struct simple_index ix;

    simple_index_init(&ix);
    cr_assert_eq(stream(page, strlen(page), 5, 1000, &ix), 0);
    cr_assert_eq(ix.n, 95);
    for (size_t i = 0; i < ix.n; i++) {
        cr_assert_null(strstr(ix.names[i], "fake"));
        cr_assert_null(strchr(ix.names[i], '('));
    }
    simple_index_release(&ix);
    free(page);
    free(root);
}

Test(simple_index, names_are_text_trimmed_and_decoded)
{
    const char *html = "<ul><li><a href=\"a/\">  A&amp;B  </a></li><li><a href=\"b/\"><b>Bo</b>ld</a>"
                       "<a href=\"c/\"></a><a>no-href-still-a-name</a></ul>";
    struct simple_index ix;

    simple_index_init(&ix);
    cr_assert_eq(stream(html, strlen(html), 3, 10, &ix), 0);
    cr_assert_eq(ix.n, 3);
    cr_assert_str_eq(ix.names[0], "A&B");
    cr_assert_str_eq(ix.names[1], "Bold");
    cr_assert_str_eq(ix.names[2], "no-href-still-a-name");
    simple_index_release(&ix);
}

Test(simple_index, max_names_and_sticky_error)
{
    const char *html = "<a href=\"a/\">a</a><a href=\"b/\">b</a><a href=\"c/\">c</a>";
    struct simple_index_html *s = simple_index_html_new(2);
    struct simple_index ix;

    simple_index_init(&ix);
    cr_assert_eq(simple_index_html_feed(s, html, strlen(html)), IMX_ETOOLARGE);
    cr_assert_eq(simple_index_html_feed(s, "<a>d</a>", 8), IMX_ETOOLARGE);
    cr_assert_eq(simple_index_html_finish(s, &ix), IMX_ETOOLARGE);
    cr_assert_eq(ix.n, 0);
    simple_index_html_free(s);
    simple_index_html_free(NULL);

    /* freed without finishing: no leak, no crash */
    s = simple_index_html_new(10);
    cr_assert_eq(simple_index_html_feed(s, "<a>x", 4), 0);
    simple_index_html_free(s);
}

Test(simple_index, garbage_never_crashes)
{
    static const char *const inputs[] = {"", "<", "<a", "<a>", "</a></a>", "\xff\xfe<a>\xc3</a>",
                                         "<script>", "<a><script></a>x</script></a>"};
    for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
        struct simple_index ix;
        simple_index_init(&ix);
        cr_assert_eq(stream(inputs[i], strlen(inputs[i]), 1, 10, &ix), 0, "input %zu", i);
        simple_index_release(&ix);
    }
}

Test(simple_index, json_parse)
{
    const char *json = "{\"meta\":{\"_last-serial\":1,\"api-version\":\"1.4\"},\"projects\":["
                       "{\"_last-serial\":3,\"name\":\"0\"},{\"name\":\"0-._.-._.-0\"},{\"name\":\"\"},"
                       "{\"nope\":1},7,{\"name\":\"Zope\"}]}";
    struct simple_index ix;

    simple_index_init(&ix);
    cr_assert_eq(simple_index_parse_json(json, strlen(json), 10, &ix), 0);
    cr_assert_eq(ix.n, 3);
    cr_assert_str_eq(ix.names[1], "0-._.-._.-0");
    cr_assert_str_eq(ix.names[2], "Zope");
    cr_assert_eq(simple_index_parse_json(json, strlen(json), 2, &ix), IMX_ETOOLARGE);
    cr_assert_eq(ix.n, 3, "out untouched on error");
    cr_assert_eq(simple_index_parse_json("{\"projects\":{}}", 15, 2, &ix), IMX_ESYNTAX);
    cr_assert_eq(simple_index_parse_json("[]", 2, 2, &ix), IMX_ESYNTAX);
    cr_assert_eq(simple_index_parse_json("", 0, 2, &ix), IMX_ESYNTAX);
    simple_index_release(&ix);
}

Test(simple_index, render_html_and_json_round_trip)
{
    struct simple_index ix, back;
    struct buf b;
    size_t len;
    char *data = fx_load("pypi-simple-testdata/simple01.html", &len);

    simple_index_init(&ix);
    cr_assert_eq(stream(data, len, len, 1000, &ix), 0);
    simple_index_add(&ix, "Foo__Bar..baz-_.Qux", 19);
    simple_index_add(&ix, "<x&y>", 5);
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(simple_index_render_html(&ix, &b), 0);
    cr_assert(strncmp(buf_cstr(&b), "<!DOCTYPE html>\n", 16) == 0);
    cr_assert_not_null(strstr(buf_cstr(&b), "<a href=\"a2d-diary/\">a2d_diary</a>"));
    cr_assert_not_null(strstr(buf_cstr(&b), "<a href=\"a2m-itertools/\">a2m.itertools</a>"));
    cr_assert_not_null(strstr(buf_cstr(&b), "<a href=\"a3mio/\">A3MIO</a>"));
    cr_assert_not_null(strstr(buf_cstr(&b), "<a href=\"foo-bar-baz-qux/\">Foo__Bar..baz-_.Qux</a>"));
    cr_assert_not_null(strstr(buf_cstr(&b), "<a href=\"&lt;x&amp;y&gt;/\">&lt;x&amp;y&gt;</a>"));
    simple_index_init(&back);
    cr_assert_eq(stream(b.p, b.len, 13, 1000, &back), 0);
    same_names(&ix, &back, "html");
    simple_index_release(&back);

    buf_reset(&b);
    cr_assert_eq(simple_index_render_json(&ix, &b), 0);
    {
        const char *want = "{\"meta\":{\"api-version\":\"1.0\"},\"projects\":[{\"name\":\"a\"},";
        cr_assert(strncmp(buf_cstr(&b), want, strlen(want)) == 0, "%s", buf_cstr(&b));
    }
    simple_index_init(&back);
    cr_assert_eq(simple_index_parse_json(b.p, b.len, 1000, &back), 0);
    same_names(&ix, &back, "json");
    simple_index_release(&back);

    buf_release(&b);
    buf_init(&b, 64);
    cr_assert_eq(simple_index_render_html(&ix, &b), IMX_ETOOLARGE);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(simple_index_render_json(&ix, &b), IMX_ETOOLARGE);
    cr_assert_eq(b.len, 0);
    buf_release(&b);
    simple_index_release(&ix);
    free(data);
}
