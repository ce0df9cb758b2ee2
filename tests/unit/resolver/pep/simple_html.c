/*
 * Tests for resolver/pep/simple_html.c (project-page parsing): every HTML
 * fixture, then hand-written pages for attribute syntax, entities, scripts,
 * PEP 592/658/714 attribute rules and limits.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"
#include "simple.h"
#include "simple_testutil.h"
#include "xalloc.h"

static void parse_str(const char *html, struct simple_project *p)
{
    simple_project_init(p);
    cr_assert_eq(simple_parse_html(html, strlen(html), 1000, p), 0);
}

Test(simple_html, every_fixture_has_one_file_per_anchor)
{
    for (size_t i = 0; i < fx_html_npages; i++) {
        struct simple_project p;
        size_t len;
        char *data = fx_load(fx_html_pages[i], &len);

        fx_parse_html(fx_html_pages[i], &p);
        /* counted independently of libxml2: every anchor in the fixtures has an href */
        cr_assert_eq(p.nfiles, fx_count(data, "<a "), "%s: %zu files", fx_html_pages[i],
                     p.nfiles);
        for (size_t k = 0; k < p.nfiles; k++) {
            cr_assert_not_null(p.files[k].url);
            cr_assert_not_null(p.files[k].filename);
            cr_assert_null(strchr(p.files[k].url, '#'), "fragment kept in url");
        }
        simple_project_release(&p);
        free(data);
    }
}

Test(simple_html, numpy_3464_links)
{
    struct simple_project p;
    size_t len, cm = 0, prov = 0;
    char *data = fx_load("pypi-html-real/numpy.html", &len);

    cr_assert_eq(fx_count(data, "<a "), 3464);
    cr_assert_eq(fx_count(data, "<a href="), 3464);
    fx_parse_html("pypi-html-real/numpy.html", &p);
    cr_assert_eq(p.nfiles, 3464);
    cr_assert_str_eq(p.api_version, "1.4");
    cr_assert_str_eq(p.status, "active");
    cr_assert_null(p.status_reason);
    cr_assert_null(p.base_url);
    cr_assert_null(p.name);
    for (size_t i = 0; i < p.nfiles; i++) {
        cr_assert_not_null(simple_hashes_get(&p.files[i].hashes, "sha256"));
        cm += p.files[i].core_metadata;
        prov += p.files[i].provenance != NULL;
    }
    cr_assert_eq(cm, fx_count(data, "data-core-metadata="));
    cr_assert_eq(prov, 294);
    {
        const struct simple_file *f = fx_file(&p, "numpy-2.2.4-cp313-cp313t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        cr_assert_str_eq(simple_hashes_get(&f->hashes, "sha256"),
                         "e2f085ce2e813a50dfd0e01fbfc0c12bbe5d2063d99f8b29da30e544fb6483b8");
        cr_assert_str_eq(f->requires_python, ">=3.10");
        cr_assert_str_eq(simple_hashes_get(&f->core_metadata_hashes, "sha256"),
                         "6ef289f92387ff32028bff6ba1197e28893b7a1a4ff51fdd535e22a8218417c9");
        cr_assert_eq(f->yanked, SIMPLE_NOT_YANKED);
        cr_assert_eq(f->size, -1);
    }
    simple_project_release(&p);
    free(data);
}

Test(simple_html, filelock_yanked_reason_and_provenance)
{
    struct simple_project p;
    const struct simple_file *f;
    size_t yanked = 0;

    fx_parse_html("pypi-html-real/filelock.html", &p);
    cr_assert_eq(p.nfiles, 133);
    f = fx_file(&p, "filelock-3.15.0-py3-none-any.whl");
    cr_assert_eq(f->yanked, SIMPLE_YANKED);
    cr_assert_str_eq(f->yanked_reason, "broken release");
    cr_assert_str_eq(f->requires_python, ">=3.8");
    cr_assert(f->core_metadata);
    cr_assert_str_eq(simple_hashes_get(&f->core_metadata_hashes, "sha256"),
                     "275064b04fad99a3520f7f82bffe47394b03e0f8e035936b43f2a0bd62c8d1a0");
    cr_assert_str_eq(simple_hashes_get(&f->hashes, "sha256"),
                     "a44ed538e517cc4c9534da2a0bf8a4911cac9a78e30adfafc344c0df56a9f1ed");
    f = fx_file(&p, "filelock-3.17.0-py3-none-any.whl");
    cr_assert_eq(f->yanked, SIMPLE_NOT_YANKED);
    cr_assert_str_eq(f->provenance, "https://pypi.org/integrity/filelock/3.17.0/"
                                    "filelock-3.17.0-py3-none-any.whl/provenance");
    f = fx_file(&p, "filelock-0.2.0.zip");
    cr_assert_null(f->requires_python);
    cr_assert_not(f->core_metadata);
    cr_assert_str_eq(f->url, "https://files.pythonhosted.org/packages/5d/b7/"
                             "979e97be7d422ce8f203e2305f8f26d2a4baed7267e16324593bd27f2701/"
                             "filelock-0.2.0.zip");
    for (size_t i = 0; i < p.nfiles; i++)
        yanked += p.files[i].yanked == SIMPLE_YANKED;
    cr_assert_eq(yanked, 4);
    simple_project_release(&p);
}

Test(simple_html, networkx_reason_keeps_trailing_space)
{
    struct simple_project p;
    size_t n = 0;

    fx_parse_html("pypi-html-real/networkx.html", &p);
    for (size_t i = 0; i < p.nfiles; i++) {
        const char *r = p.files[i].yanked_reason;
        if (r && strcmp(r, "Need to resolve: https://github.com/networkx/networkx/pull/4967 ") == 0)
            n++;
    }
    cr_assert_eq(n, 2);
    simple_project_release(&p);
}

Test(simple_html, pytorch_plus_in_filename_percent_in_url)
{
    struct simple_project p;
    const struct simple_file *f;
    size_t plus = 0, cm = 0;

    fx_parse_html("pytorch/cpu/torch/index.html", &p);
    cr_assert_eq(p.nfiles, 996);
    cr_assert_null(p.api_version, "PyTorch pages have no repository-version meta");
    f = fx_file(&p, "torch-2.9.1+cpu-cp314-cp314t-win_amd64.whl");
    cr_assert_str_eq(f->url, "/whl/cpu/torch-2.9.1%2Bcpu-cp314-cp314t-win_amd64.whl");
    cr_assert_str_eq(simple_hashes_get(&f->hashes, "sha256"),
                     "cf9c3e50b595721ca6b488bdcc326e0f1af73ed28b9b66eff504a96649bb5c96");
    cr_assert_str_eq(simple_hashes_get(&f->core_metadata_hashes, "sha256"),
                     "9c1d1d656259704ee03acfbe2684b6dfca07776d1cc3dba4c0de0802dd1d7287");
    f = fx_file(&p, "torch-0.3.0.post4-cp27-cp27m-linux_x86_64.whl");
    cr_assert_not(f->core_metadata, "old uploads have no PEP 658 metadata");
    for (size_t i = 0; i < p.nfiles; i++) {
        if (strchr(p.files[i].filename, '+')) {
            plus++;
            cr_assert_not_null(strstr(p.files[i].url, "%2B"));
        }
        cm += p.files[i].core_metadata;
    }
    cr_assert_eq(plus, 465);
    cr_assert_eq(cm, 219, "core-metadata only on some links");
    simple_project_release(&p);

    fx_parse_html("pytorch/cu121/torch/index.html", &p);
    cr_assert_eq(p.nfiles, 210);
    f = fx_file(&p, "torch-0.1-cp27-cp27m-macosx_10_6_x86_64.whl");
    cr_assert_str_eq(f->url, "/whl/torch-0.1-cp27-cp27m-macosx_10_6_x86_64.whl",
                     "links outside the variant folder are kept as written");
    for (size_t i = 0; i < p.nfiles; i++)
        cr_assert_not(p.files[i].core_metadata);
    simple_project_release(&p);
}

Test(simple_html, links_without_hash)
{
    struct simple_project p;

    fx_parse_html("poetry-derived/find_links/torch_stable.html", &p);
    cr_assert_eq(p.nfiles, 347);
    for (size_t i = 0; i < p.nfiles; i++)
        cr_assert_eq(p.files[i].hashes.n, 0);
    cr_assert_str_eq(p.files[0].url, "torch-0.1-cp27-cp27m-macosx_10_6_x86_64.whl");
    simple_project_release(&p);

    fx_parse_html("poetry-derived/html/jupyter.html", &p);
    cr_assert_eq(p.nfiles, 1);
    cr_assert_eq(p.files[0].hashes.n, 0);
    cr_assert_str_eq(p.files[0].filename, "jupyter-1.0.0.tar.gz");
    simple_project_release(&p);
}

Test(simple_html, pypi_simple_testdata_yanked_forms)
{
    struct simple_project p;

    fx_parse_html("pypi-simple-testdata/qypi_mixed.html", &p);
    cr_assert_eq(p.nfiles, 5);
    cr_assert_eq(p.files[0].yanked, SIMPLE_YANKED);
    cr_assert_str_eq(p.files[0].yanked_reason, "Metadata was smelly");
    cr_assert_eq(p.files[1].yanked, SIMPLE_YANKED, "data-yanked=\"\"");
    cr_assert_null(p.files[1].yanked_reason);
    cr_assert_str_eq(p.files[1].requires_python, "~=3.4");
    cr_assert_eq(p.files[2].yanked, SIMPLE_YANKED, "bare data-yanked");
    cr_assert_null(p.files[2].yanked_reason);
    cr_assert_eq(p.files[3].yanked, SIMPLE_NOT_YANKED);
    cr_assert_eq(p.files[4].yanked, SIMPLE_NOT_YANKED);
    simple_project_release(&p);

    fx_parse_html("poetry-derived/html/futures-partial-yank.html", &p);
    cr_assert_eq(p.nfiles, 2);
    cr_assert_eq(p.files[0].yanked, SIMPLE_YANKED);
    cr_assert_null(p.files[0].yanked_reason);
    cr_assert_str_eq(p.files[0].requires_python, ">=2.6, <3");
    cr_assert_eq(p.files[1].yanked, SIMPLE_NOT_YANKED);
    simple_project_release(&p);

    fx_parse_html("poetry-derived/html/black.html", &p);
    cr_assert_eq(p.nfiles, 4);
    cr_assert_str_eq(p.files[0].requires_python, ">=3.6", "unescaped > in an attribute");
    cr_assert_str_eq(p.files[1].requires_python, ">=3.6");
    cr_assert_str_eq(p.files[2].yanked_reason, "Broken regex dependency. Use 21.11b1 instead.");
    simple_project_release(&p);
}

Test(simple_html, pypi_simple_testdata_meta_and_base)
{
    struct simple_project p;

    fx_parse_html("pypi-simple-testdata/qypi-708.html", &p);
    cr_assert_str_eq(p.api_version, "1.2");
    cr_assert_str_eq(p.status, "deprecated");
    cr_assert_str_eq(p.status_reason, "Dev is tired of project");
    cr_assert_eq(p.nfiles, 2);
    simple_project_release(&p);

    fx_parse_html("pypi-simple-testdata/qypi_base.html", &p);
    cr_assert_str_eq(p.base_url, "https://files.pythonhosted.org/packages/");
    cr_assert_str_eq(p.files[0].url, "82/fc/9e25534641d7f63be93079bc07fa92bab136ddf5d4181059a1308a346f96/qypi-0.1.0-py3-none-any.whl");
    cr_assert_str_eq(p.files[0].filename, "qypi-0.1.0-py3-none-any.whl");
    simple_project_release(&p);

    fx_parse_html("pypi-simple-testdata/qypi_repo_version.html", &p);
    cr_assert_str_eq(p.api_version, "1.0");
    cr_assert_null(p.status);
    simple_project_release(&p);

    fx_parse_html("pypi-simple-testdata/session01/in-place.html", &p);
    cr_assert_str_eq(p.files[4].requires_python, ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, <4");
    simple_project_release(&p);

    fx_parse_html("poetry-derived/html/relative.html", &p);
    cr_assert_eq(p.nfiles, 3);
    cr_assert_str_eq(p.files[2].filename, "poetry-0.1.1.tar.bz2", "filename comes from the href");
    cr_assert_str_eq(p.files[2].url, "poetry-0.1.1.tar.bz2");
    simple_project_release(&p);

    fx_parse_html("pypi-simple-testdata/devpi_devpi.html", &p);
    cr_assert_eq(p.nfiles, 5);
    cr_assert_str_eq(p.files[0].url, "../../../root/pypi/+f/159/5e5f095022ce7/devpi-2.2.0.tar.gz");
    simple_project_release(&p);
}

Test(simple_html, attribute_syntax_and_entities)
{
    struct simple_project p;

    parse_str("<a data-requires-python='&gt;=3.7,&lt;4' HREF=x/a-1.0.tar.gz#SHA256=ABCDEF01 "
              "data-size=' 42 '>ignored</a>"
              "<A href=\"y/b%2B1.whl?x=1#md5=00ff&amp;sha256=aa\" data-yanked=\"a &amp; b &#39;c&#39;\">t</A>",
              &p);
    cr_assert_eq(p.nfiles, 2);
    cr_assert_str_eq(p.files[0].url, "x/a-1.0.tar.gz");
    cr_assert_str_eq(p.files[0].filename, "a-1.0.tar.gz");
    cr_assert_str_eq(p.files[0].requires_python, ">=3.7,<4");
    cr_assert_str_eq(simple_hashes_get(&p.files[0].hashes, "sha256"), "abcdef01");
    cr_assert_eq(p.files[0].size, 42);
    cr_assert_str_eq(p.files[1].url, "y/b%2B1.whl?x=1");
    cr_assert_str_eq(p.files[1].filename, "b+1.whl", "query stripped, percent-decoded");
    cr_assert_eq(p.files[1].hashes.n, 2, "every hash of the fragment is kept");
    cr_assert_str_eq(simple_hashes_get(&p.files[1].hashes, "md5"), "00ff");
    cr_assert_str_eq(simple_hashes_get(&p.files[1].hashes, "sha256"), "aa");
    cr_assert_str_eq(p.files[1].yanked_reason, "a & b 'c'");
    simple_project_release(&p);
}

Test(simple_html, scripts_styles_comments_never_links)
{
    struct simple_project p;
    size_t len;
    char *root = fx_load("pytorch/cpu/index.html", &len);
    char *body_end = strstr(root, "</body>");
    char *page;

    parse_str("<html><head><style>a[href=\"<a href='s.whl'>\"]{}</style>"
              "<script>document.write('<a href=\"evil-1.0.whl\">evil-1.0.whl</a>');</script>"
              "</head><body><!-- <a href=\"old-1.0.whl\">old</a> -->"
              "<a href=\"good-1.0.whl\">good-1.0.whl</a>"
              "<script type=\"text/javascript\">var x = \"<a href='x.whl'>\";</script>"
              "<a>no href</a><a name=\"n\">anchor</a></body></html>",
              &p);
    cr_assert_eq(p.nfiles, 1);
    cr_assert_str_eq(p.files[0].filename, "good-1.0.whl");
    simple_project_release(&p);

    /* a Cloudflare-style injection before </body> of a real PyTorch page */
    cr_assert_not_null(body_end);
    page = xasprintf("%.*s<script>(function(){var a=document.createElement('script');"
                     "a.innerHTML=\"<a href='/cdn-cgi/challenge-platform/scripts/jsd/main.js'>"
                     "main.js</a>\";document.getElementsByTagName('head')[0].appendChild(a);"
                     "})();</script>%s",
                     (int)(body_end - root), root, body_end);
    parse_str(page, &p);
    cr_assert_eq(p.nfiles, 95);
    for (size_t i = 0; i < p.nfiles; i++)
        cr_assert_null(strstr(p.files[i].url, "cdn-cgi"));
    simple_project_release(&p);
    free(page);
    free(root);
}

Test(simple_html, core_metadata_attribute_rules)
{
    struct simple_project p;

    parse_str("<a href=\"a.whl\" data-core-metadata=\"true\">a</a>"
              "<a href=\"b.whl\" data-core-metadata=\"false\">b</a>"
              "<a href=\"c.whl\" data-core-metadata=\"garbage\">c</a>"
              "<a href=\"d.whl\" data-dist-info-metadata=\"sha256=AB12\">d</a>"
              "<a href=\"e.whl\" data-core-metadata=\"false\" data-dist-info-metadata=\"true\">e</a>"
              "<a href=\"f.whl\" data-dist-info-metadata=\"sha256=01\" data-core-metadata=\"sha256=02\">f</a>"
              "<a href=\"g.whl\" data-core-metadata>g</a>",
              &p);
    cr_assert_eq(p.nfiles, 7);
    cr_assert(p.files[0].core_metadata);
    cr_assert_eq(p.files[0].core_metadata_hashes.n, 0);
    cr_assert_not(p.files[1].core_metadata);
    cr_assert_not(p.files[2].core_metadata);
    cr_assert(p.files[3].core_metadata, "data-dist-info-metadata is the fallback");
    cr_assert_str_eq(simple_hashes_get(&p.files[3].core_metadata_hashes, "sha256"), "ab12");
    cr_assert_not(p.files[4].core_metadata, "data-core-metadata wins");
    cr_assert_str_eq(simple_hashes_get(&p.files[5].core_metadata_hashes, "sha256"), "02");
    cr_assert_not(p.files[6].core_metadata);
    simple_project_release(&p);
}

Test(simple_html, filename_edge_cases)
{
    struct simple_project p;

    parse_str("<a href=\"/simple/foo/\"> Foo_Bar </a>"           /* empty segment: anchor text */
              "<a href=\"dir/a%2Fb.whl\">x</a>"                  /* %2F is not decoded */
              "<a href=\"dir/%FF.whl\">x</a>"                    /* invalid UTF-8: kept encoded */
              "<a href=\"dir/%41%zz.whl\">x</a>"                 /* bad escape kept */
              "<a href=\"#sha256=00\">x</a>"                     /* no url: skipped */
              "<a href=\"\">x</a>"                               /* skipped */
              "<a href=\"dir/\"></a>"                            /* no filename at all: skipped */
              "<a href=\"a.whl#egg=abc&amp;sha1=zz&amp;=00\">a</a>", /* no usable hash */
              &p);
    cr_assert_eq(p.nfiles, 5);
    cr_assert_str_eq(p.files[0].filename, "Foo_Bar");
    cr_assert_str_eq(p.files[1].filename, "a%2Fb.whl");
    cr_assert_str_eq(p.files[2].filename, "%FF.whl");
    cr_assert_str_eq(p.files[3].filename, "A%zz.whl");
    cr_assert_eq(p.files[4].hashes.n, 0);
    simple_project_release(&p);
}

Test(simple_html, data_attributes)
{
    struct simple_project p;

    parse_str("<a href=\"a.whl\" data-upload-time=\"2024-07-24T23:17:46Z\" data-size=\"123\" "
              "data-provenance=\"https://p/x\">a</a>"
              "<a href=\"b.whl\" data-size=\"-1\">b</a><a href=\"c.whl\" data-size=\"1e3\">c</a>"
              "<a href=\"d.whl\" data-size=\"99999999999999999999\">d</a>",
              &p);
    cr_assert_str_eq(p.files[0].upload_time, "2024-07-24T23:17:46Z");
    cr_assert_eq(p.files[0].size, 123);
    cr_assert_str_eq(p.files[0].provenance, "https://p/x");
    cr_assert_eq(p.files[1].size, -1);
    cr_assert_eq(p.files[2].size, -1);
    cr_assert_eq(p.files[3].size, -1);
    cr_assert_null(p.files[1].upload_time);
    simple_project_release(&p);
}

Test(simple_html, first_base_and_meta_win)
{
    struct simple_project p;

    parse_str("<html><head><base target=\"_blank\"><base href=\"https://a/\"><base href=\"https://b/\">"
              "<meta name=\"PyPI:Repository-Version\" content=\"1.1\">"
              "<meta name=\"pypi:repository-version\" content=\"9.9\"></head>"
              "<body><a href=\"x.whl\">x</a></body></html>",
              &p);
    cr_assert_str_eq(p.base_url, "https://a/");
    cr_assert_str_eq(p.api_version, "1.1");
    simple_project_release(&p);
}

Test(simple_html, max_files)
{
    struct simple_project p;
    const char *html = "<a href=\"a.whl\">a</a><a href=\"b.whl\">b</a><a>c</a>";

    simple_project_init(&p);
    cr_assert_eq(simple_parse_html(html, strlen(html), 1, &p), IMX_ETOOLARGE);
    cr_assert_eq(p.nfiles, 0, "out untouched on error");
    cr_assert_eq(simple_parse_html(html, strlen(html), 2, &p), 0);
    cr_assert_eq(p.nfiles, 2);
    simple_project_release(&p);
}

Test(simple_html, garbage_never_crashes)
{
    static const char *const inputs[] = {
        "", "<", "<a", "<a href", "<a href=", "<a href=\"", "<a href='x'", "\xff\xfe\x00<a href=x>",
        "<a href=\"\xff\xfe.whl\" data-yanked=\"\xc3\x28\">\xe2\x82</a>", "<<<<>>>>&&&&#;;;",
        "<script><a href=x.whl>x</a>", "<!--", "<a href=x.whl data-size=>x</a>",
    };
    for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
        struct simple_project p;
        int rc;
        simple_project_init(&p);
        rc = simple_parse_html(inputs[i], strlen(inputs[i]), 100, &p);
        cr_assert(rc == 0 || rc == IMX_ESYNTAX, "input %zu: %d", i, rc);
        simple_project_release(&p);
    }
    {
        /* deep nesting: no recursion in our walk */
        size_t n = 100000;
        char *deep = xmalloc(n * 5 + 64);
        struct simple_project p;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(deep + o, "<div>", 5);
            o += 5;
        }
        memcpy(deep + o, "<a href=\"z.whl\">z</a>", 21);
        o += 21;
        simple_project_init(&p);
        cr_assert_eq(simple_parse_html(deep, o, 10, &p), 0);
        simple_project_release(&p);
        free(deep);
    }
}

Test(simple_html, invalid_utf8_becomes_valid)
{
    struct simple_project p;
    const char html[] = "<a href=\"a.whl\" data-yanked=\"bad \xc3\x28 byte\">a</a>";

    parse_str(html, &p);
    cr_assert_eq(p.nfiles, 1);
    cr_assert_not_null(p.files[0].yanked_reason);
    /* the store format (JSON) can hold it */
    {
        struct buf b;
        struct simple_project q;
        buf_init(&b, BUF_NOMAX);
        cr_assert_eq(simple_store_render(&p, &b), 0);
        simple_project_init(&q);
        cr_assert_eq(simple_store_parse(b.p, b.len, &q), 0);
        assert_project_eq(&p, &q, 0, "utf8");
        simple_project_release(&q);
        buf_release(&b);
    }
    simple_project_release(&p);
}
