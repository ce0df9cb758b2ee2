/*
 * Tests for the renderers (simple_render_html/json, simple_store_*): round
 * trips on every fixture, the client-facing rules of SPEC.md section 4 and
 * protocol-notes 6.3-6.5, escaping, golden outputs and the output cap.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"
#include "simple.h"
#include "simple_int.h"
#include "simple_testutil.h"
#include "xalloc.h"

/* What every rendered HTML page must satisfy, whatever the model. */
static void check_html_rules(const char *html, const char *what)
{
    cr_assert(strncmp(html, "<!DOCTYPE html>\n", 16) == 0, "%s: doctype", what);
    cr_assert_not_null(strstr(html, "<meta name=\"pypi:repository-version\" content=\"1."), "%s", what);
    cr_assert_null(strstr(html, "data-yanked "), "%s: bare data-yanked", what);
    cr_assert_null(strstr(html, "data-yanked>"), "%s: bare data-yanked", what);
    cr_assert_null(strstr(html, "=\"false\""), "%s: =\"false\"", what);
    cr_assert_eq(fx_count(html, "data-dist-info-metadata="), fx_count(html, "data-core-metadata="),
                 "%s: metadata attributes come in pairs", what);
    cr_assert_eq(fx_count(html, "<a "), fx_count(html, "</a><br/>"), "%s", what);
}

static void check_json_rules(const char *json, size_t nfiles, const char *what)
{
    cr_assert_null(strstr(json, "dist-info-metadata"), "%s: dist-info-metadata in JSON", what);
    cr_assert_eq(fx_count(json, "\"hashes\":"), nfiles, "%s: hashes always present", what);
    cr_assert_eq(fx_count(json, "\"yanked\":"), nfiles, "%s", what);
    cr_assert_null(strstr(json, "\"core-metadata\":false"), "%s", what);
    cr_assert_null(strstr(json, ":null"), "%s: absent keys are omitted, not null", what);
}

/* parse -> render -> parse must lose nothing the format can carry. */
static void round_trips(const struct simple_project *p, const char *what)
{
    struct buf b, b2;
    struct simple_project q;
    bool v11 = strcmp(simple__api_version(p), "1.1") == 0;

    buf_init(&b, BUF_NOMAX);
    buf_init(&b2, BUF_NOMAX);

    /* store: lossless, and a second render is byte-identical */
    simple_project_init(&q);
    cr_assert_eq(simple_store_render(p, &b), 0);
    cr_assert_eq(simple_store_parse(b.p, b.len, &q), 0, "%s: store parse", what);
    assert_project_eq(p, &q, 0, what);
    cr_assert_eq(simple_store_render(&q, &b2), 0);
    cr_assert_eq(b.len, b2.len, "%s", what);
    cr_assert(memcmp(b.p, b2.p, b.len) == 0, "%s: store render is stable", what);
    simple_project_release(&q);
    buf_reset(&b);

    /* client HTML: the one advertised hash survives; page meta is the renderer's */
    cr_assert_eq(simple_render_html(p, "demo", &b), 0);
    check_html_rules(buf_cstr(&b), what);
    simple_project_init(&q);
    cr_assert_eq(simple_parse_html(b.p, b.len, 100000, &q), 0, "%s: html reparse", what);
    assert_project_eq(p, &q, CMP_HASHES_PREFERRED | CMP_NO_PAGE_META | CMP_NO_VERSIONS, what);
    cr_assert_str_eq(q.api_version, simple__api_version(p));
    simple_project_release(&q);
    buf_reset(&b);

    /* client JSON: every hash survives; versions when 1.1 */
    cr_assert_eq(simple_render_json(p, "demo", &b), 0);
    check_json_rules(buf_cstr(&b), p->nfiles, what);
    simple_project_init(&q);
    cr_assert_eq(simple_parse_json(b.p, b.len, 100000, &q), 0, "%s: json reparse", what);
    assert_project_eq(p, &q, CMP_NO_PAGE_META | (v11 ? 0 : CMP_NO_VERSIONS), what);
    cr_assert_str_eq(q.name, "demo");
    cr_assert_str_eq(q.api_version, v11 ? "1.1" : "1.0");
    if (!v11)
        cr_assert_null(strstr(buf_cstr(&b), "\"versions\""), "%s", what);
    simple_project_release(&q);

    buf_release(&b);
    buf_release(&b2);
}

Test(simple_render, round_trip_every_html_fixture)
{
    for (size_t i = 0; i < fx_html_npages; i++) {
        struct simple_project p;
        fx_parse_html(fx_html_pages[i], &p);
        round_trips(&p, fx_html_pages[i]);
        simple_project_release(&p);
    }
}

Test(simple_render, round_trip_every_json_fixture)
{
    for (size_t i = 0; i < fx_json_npages; i++) {
        struct simple_project p;
        fx_parse_json(fx_json_pages[i], &p);
        round_trips(&p, fx_json_pages[i]);
        simple_project_release(&p);
    }
}

/* A small model exercising every field. */
static void demo(struct simple_project *p)
{
    struct simple_file *f;

    simple_project_init(p);
    p->name = xstrdup("Demo_Pkg");
    p->api_version = xstrdup("1.4");
    p->base_url = xstrdup("https://example.org/simple/demo/");
    f = simple_project_add_file(p);
    f->filename = xstrdup("demo-1.0.tar.gz");
    f->url = xstrdup("https://h/demo-1.0.tar.gz");
    f = simple_project_add_file(p);
    f->filename = xstrdup("demo-2.0+cpu-py3-none-any.whl");
    f->url = xstrdup("/files/demo-2.0%2Bcpu-py3-none-any.whl");
    simple_hashes_set(&f->hashes, "md5", "00ff");
    simple_hashes_set(&f->hashes, "sha256", "abcd");
    f->requires_python = xstrdup(">=3.8");
    f->yanked = SIMPLE_YANKED;
    f->core_metadata = true;
    f->upload_time = xstrdup("2024-07-24T23:17:46Z");
    f->size = 10;
    f->provenance = xstrdup("https://p/prov");
    f = simple_project_add_file(p);
    f->filename = xstrdup("demo-3.0.zip");
    f->url = xstrdup("demo-3.0.zip");
    simple_hashes_set(&f->hashes, "md5", "0123");
    f->yanked = SIMPLE_YANKED;
    f->yanked_reason = xstrdup("bad");
    f->core_metadata = true;
    simple_hashes_set(&f->core_metadata_hashes, "sha256", "beef");
}

Test(simple_render, golden_html)
{
    struct simple_project p;
    struct buf b;

    demo(&p);
    p.status = xstrdup("archived");
    p.status_reason = xstrdup("moved <elsewhere>");
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(simple_render_html(&p, "demo-pkg", &b), 0);
    cr_assert_str_eq(
        buf_cstr(&b),
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        "    <meta name=\"pypi:repository-version\" content=\"1.0\">\n"
        "    <meta name=\"pypi:project-status\" content=\"archived\">\n"
        "    <meta name=\"pypi:project-status-reason\" content=\"moved &lt;elsewhere&gt;\">\n"
        "    <title>Links for demo-pkg</title>\n  </head>\n  <body>\n"
        "    <h1>Links for demo-pkg</h1>\n"
        "    <a href=\"https://h/demo-1.0.tar.gz\">demo-1.0.tar.gz</a><br/>\n"
        "    <a href=\"/files/demo-2.0%2Bcpu-py3-none-any.whl#sha256=abcd\" "
        "data-requires-python=\"&gt;=3.8\" data-yanked=\"\" data-dist-info-metadata=\"true\" "
        "data-core-metadata=\"true\" data-upload-time=\"2024-07-24T23:17:46Z\" data-size=\"10\" "
        "data-provenance=\"https://p/prov\">demo-2.0+cpu-py3-none-any.whl</a><br/>\n"
        "    <a href=\"demo-3.0.zip#md5=0123\" data-yanked=\"bad\" "
        "data-dist-info-metadata=\"sha256=beef\" data-core-metadata=\"sha256=beef\">"
        "demo-3.0.zip</a><br/>\n"
        "  </body>\n</html>\n");
    buf_release(&b);
    simple_project_release(&p);
}

Test(simple_render, golden_json)
{
    struct simple_project p;
    struct buf b;

    demo(&p);
    p.status = xstrdup("archived");
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(simple_render_json(&p, "demo-pkg", &b), 0);
    cr_assert_str_eq(
        buf_cstr(&b),
        "{\"meta\":{\"api-version\":\"1.0\"},\"name\":\"demo-pkg\",\"files\":["
        "{\"filename\":\"demo-1.0.tar.gz\",\"url\":\"https://h/demo-1.0.tar.gz\",\"hashes\":{},"
        "\"yanked\":false},"
        "{\"filename\":\"demo-2.0+cpu-py3-none-any.whl\","
        "\"url\":\"/files/demo-2.0%2Bcpu-py3-none-any.whl\","
        "\"hashes\":{\"md5\":\"00ff\",\"sha256\":\"abcd\"},\"requires-python\":\">=3.8\","
        "\"yanked\":true,\"core-metadata\":true,\"size\":10,"
        "\"upload-time\":\"2024-07-24T23:17:46Z\",\"provenance\":\"https://p/prov\"},"
        "{\"filename\":\"demo-3.0.zip\",\"url\":\"demo-3.0.zip\",\"hashes\":{\"md5\":\"0123\"},"
        "\"yanked\":\"bad\",\"core-metadata\":{\"sha256\":\"beef\"}}],"
        "\"project-status\":{\"status\":\"archived\"}}");
    buf_release(&b);
    simple_project_release(&p);
}

Test(simple_render, api_version_rule)
{
    struct simple_project p;
    struct buf b;

    buf_init(&b, BUF_NOMAX);
    demo(&p);
    /* not every file has a size */
    cr_assert_str_eq(simple__api_version(&p), "1.0");
    for (size_t i = 0; i < p.nfiles; i++)
        p.files[i].size = 100 + (int64_t)i;
    /* every size but no versions: PEP 700 makes versions mandatory, stay 1.0 */
    cr_assert_str_eq(simple__api_version(&p), "1.0");
    p.versions = xcalloc(2, sizeof(char *));
    p.versions[0] = xstrdup("1.0");
    p.versions[1] = xstrdup("2.0+cpu");
    p.nversions = 2;
    cr_assert_eq(simple_render_json(&p, "demo", &b), 0);
    cr_assert_not_null(strstr(buf_cstr(&b), "{\"meta\":{\"api-version\":\"1.1\"}"));
    cr_assert_not_null(strstr(buf_cstr(&b), "\"versions\":[\"1.0\",\"2.0+cpu\"]"));
    cr_assert_eq(fx_count(buf_cstr(&b), "\"size\":"), 3);
    buf_reset(&b);
    cr_assert_eq(simple_render_html(&p, "demo", &b), 0);
    cr_assert_not_null(strstr(buf_cstr(&b), "content=\"1.1\""));
    simple_project_release(&p);

    simple_project_init(&p); /* no files at all: 1.1 with empty versions */
    buf_reset(&b);
    cr_assert_eq(simple_render_json(&p, "empty", &b), 0);
    cr_assert_str_eq(buf_cstr(&b),
                     "{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"empty\",\"files\":[],"
                     "\"versions\":[]}");
    buf_release(&b);
}

Test(simple_render, escaping)
{
    struct simple_project p, q;
    struct simple_file *f;
    struct buf b;
    const char *nasty = "a&b<c>d\"e'f";

    simple_project_init(&p);
    p.status = xstrdup(nasty);
    f = simple_project_add_file(&p);
    f->url = xstrdup("https://h/x?a=1&b=\"2\"'<>/x-1.0.whl");
    f->filename = xstrdup("x<&>\"'.whl");
    f->requires_python = xstrdup(">=3.8,<4,!='3.9'&\"");
    f->yanked = SIMPLE_YANKED;
    f->yanked_reason = xstrdup(nasty);
    f->upload_time = xstrdup(nasty);
    f->provenance = xstrdup(nasty);
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(simple_render_html(&p, "<n>", &b), 0);
    cr_assert_not_null(strstr(buf_cstr(&b), "href=\"https://h/x?a=1&amp;b=&quot;2&quot;&#39;&lt;&gt;/x-1.0.whl\""));
    cr_assert_not_null(strstr(buf_cstr(&b), "data-requires-python=\"&gt;=3.8,&lt;4,!=&#39;3.9&#39;&amp;&quot;\""));
    cr_assert_not_null(strstr(buf_cstr(&b), "data-yanked=\"a&amp;b&lt;c&gt;d&quot;e&#39;f\""));
    cr_assert_not_null(strstr(buf_cstr(&b), ">x&lt;&amp;&gt;&quot;&#39;.whl</a>"));
    cr_assert_not_null(strstr(buf_cstr(&b), "<title>Links for &lt;n&gt;</title>"));
    simple_project_init(&q);
    cr_assert_eq(simple_parse_html(b.p, b.len, 10, &q), 0);
    cr_assert_str_eq(q.files[0].url, p.files[0].url);
    cr_assert_str_eq(q.files[0].requires_python, p.files[0].requires_python);
    cr_assert_str_eq(q.files[0].yanked_reason, nasty);
    cr_assert_str_eq(q.files[0].upload_time, nasty);
    cr_assert_str_eq(q.files[0].provenance, nasty);
    cr_assert_str_eq(q.status, nasty);
    cr_assert_str_eq(q.files[0].filename, "x", "filename: last path segment before the query");
    simple_project_release(&q);

    /* JSON: no HTML escaping, JSON escaping only */
    buf_reset(&b);
    cr_assert_eq(simple_render_json(&p, "n", &b), 0);
    cr_assert_not_null(strstr(buf_cstr(&b), "\"requires-python\":\">=3.8,<4,!='3.9'&\\\"\""));
    simple_project_init(&q);
    cr_assert_eq(simple_parse_json(b.p, b.len, 10, &q), 0);
    assert_project_eq(&p, &q, CMP_NO_PAGE_META | CMP_NO_VERSIONS, "escaping json");
    simple_project_release(&q);
    buf_release(&b);
    simple_project_release(&p);
}

Test(simple_render, output_cap_is_all_or_nothing)
{
    struct simple_project p;
    struct buf b;

    demo(&p);
    buf_init(&b, 200);
    cr_assert_eq(buf_appends(&b, "keep"), 0);
    cr_assert_eq(simple_render_html(&p, "demo", &b), IMX_ETOOLARGE);
    cr_assert_str_eq(buf_cstr(&b), "keep");
    cr_assert_eq(simple_render_json(&p, "demo", &b), IMX_ETOOLARGE);
    cr_assert_str_eq(buf_cstr(&b), "keep");
    cr_assert_eq(simple_store_render(&p, &b), IMX_ETOOLARGE);
    cr_assert_str_eq(buf_cstr(&b), "keep");
    buf_release(&b);
    simple_project_release(&p);
}

Test(simple_store, keeps_absent_versus_present)
{
    struct simple_project p, q;
    struct buf b;

    demo(&p);
    p.files[0].requires_python = xstrdup(""); /* present but empty */
    p.status = xstrdup("active");
    buf_init(&b, BUF_NOMAX);
    cr_assert_eq(simple_store_render(&p, &b), 0);
    simple_project_init(&q);
    cr_assert_eq(simple_store_parse(b.p, b.len, &q), 0);
    assert_project_eq(&p, &q, 0, "store");
    cr_assert_str_eq(q.base_url, "https://example.org/simple/demo/");
    cr_assert_str_eq(q.api_version, "1.4");
    cr_assert_str_eq(q.files[0].requires_python, "");
    cr_assert_null(q.files[2].requires_python);
    cr_assert(q.files[1].core_metadata && q.files[1].core_metadata_hashes.n == 0);
    cr_assert(q.files[1].yanked == SIMPLE_YANKED && q.files[1].yanked_reason == NULL);
    simple_project_release(&q);
    buf_release(&b);
    simple_project_release(&p);
}

Test(simple_store, refuses_what_it_did_not_write)
{
    static const char *const bad[] = {
        "", "{}", "[]", "{\"v\":2,\"files\":[]}", "{\"v\":1}", "{\"v\":1,\"files\":[1]}",
        "{\"v\":1,\"files\":[{\"url\":1}]}", "{\"v\":1,\"files\":[{\"size\":\"1\"}]}",
        "{\"v\":1,\"files\":[{\"hashes\":{\"sha256\":1}}]}", "{\"v\":1,\"files\":[],\"versions\":[1]}",
        "{\"v\":1,\"files\":[],\"name\":[]}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct simple_project p;
        simple_project_init(&p);
        cr_assert_eq(simple_store_parse(bad[i], strlen(bad[i]), &p), IMX_ECORRUPT, "input %zu", i);
        simple_project_release(&p);
    }
}

Test(simple_model, copy_file_is_deep)
{
    struct simple_project p, q;

    demo(&p);
    simple_project_init(&q);
    for (size_t i = 0; i < p.nfiles; i++)
        simple_project_copy_file(&q, &p.files[i]);
    q.name = xstrdup(p.name);
    q.api_version = xstrdup(p.api_version);
    q.base_url = xstrdup(p.base_url);
    simple_project_release(&p);
    demo(&p);
    assert_project_eq(&p, &q, 0, "copy");
    simple_project_release(&p);
    simple_project_release(&q);
    simple_project_release(NULL);
}

Test(simple_model, hashes_set_replaces_and_lowercases)
{
    struct simple_hashes h = {0};

    simple_hashes_set(&h, "SHA256", "AB");
    simple_hashes_set(&h, "sha256", "cd");
    simple_hashes_set(&h, "md5", "EF");
    cr_assert_eq(h.n, 2);
    cr_assert_str_eq(simple_hashes_get(&h, "sha256"), "cd");
    cr_assert_str_eq(simple_hashes_get(&h, "md5"), "ef");
    cr_assert_null(simple_hashes_get(&h, "sha1"));
    simple__hashes_release(&h);
}
