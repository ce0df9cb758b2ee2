/*
 * Tests for resolver/pep/simple_json.c (PEP 691 parsing): every JSON fixture,
 * then hand-written pages for the PEP 592/658/700/714/740/792 keys, skipped
 * entries, duplicate keys and limits.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "err.h"
#include "simple.h"
#include "simple_testutil.h"

static int parse(const char *json, struct simple_project *p)
{
    simple_project_init(p);
    return simple_parse_json(json, strlen(json), 1000, p);
}

Test(simple_json, every_fixture)
{
    static const size_t counts[] = {2, 4, 3, 12, 4, 8, 2, 2, 2, 2, 2};

    cr_assert_eq(ARRAY_SIZE(counts), fx_json_npages);
    for (size_t i = 0; i < fx_json_npages; i++) {
        struct simple_project p;
        fx_parse_json(fx_json_pages[i], &p);
        cr_assert_eq(p.nfiles, counts[i], "%s", fx_json_pages[i]);
        cr_assert_not_null(p.name);
        cr_assert_not_null(p.api_version);
        for (size_t k = 0; k < p.nfiles; k++)
            cr_assert_not_null(simple_hashes_get(&p.files[k].hashes, "sha256"));
        simple_project_release(&p);
    }
}

Test(simple_json, poetry_attrs_all_keys)
{
    struct simple_project p;
    const struct simple_file *f;

    fx_parse_json("poetry-derived/json/attrs.json", &p);
    cr_assert_str_eq(p.name, "attrs");
    cr_assert_str_eq(p.api_version, "1.4");
    cr_assert_str_eq(p.status, "active");
    cr_assert_null(p.status_reason);
    cr_assert_eq(p.nversions, 1);
    cr_assert_str_eq(p.versions[0], "17.4.0");
    f = fx_file(&p, "attrs-17.4.0-py2.py3-none-any.whl");
    cr_assert_eq(f->hashes.n, 2, "every hash is kept");
    cr_assert_str_eq(simple_hashes_get(&f->hashes, "md5"), "7fe37931797b16c7fa158017457a9ea9");
    cr_assert_str_eq(simple_hashes_get(&f->hashes, "sha256"),
                     "1fbfc10ebc8c876dcbab17f016b80ae1a4f0c1413461a695871427960795beb4");
    cr_assert(f->core_metadata);
    cr_assert_str_eq(simple_hashes_get(&f->core_metadata_hashes, "sha256"),
                     "a1828f9b7a019e96302759189410f380814be1dd57a201a56c078f9e8e11a2e5");
    cr_assert_null(f->requires_python, "null is absent");
    cr_assert_null(f->provenance, "null is absent");
    cr_assert_eq(f->size, 31658);
    cr_assert_str_eq(f->upload_time, "2017-12-30T08:20:05.582456Z");
    f = fx_file(&p, "attrs-17.4.0.tar.gz");
    cr_assert_not(f->core_metadata, "core-metadata: false");
    cr_assert_eq(f->size, 97071);
    simple_project_release(&p);

    fx_parse_json("poetry-derived/json/black.json", &p);
    f = fx_file(&p, "black-21.11b0.tar.gz");
    cr_assert_eq(f->yanked, SIMPLE_YANKED);
    cr_assert_str_eq(f->yanked_reason, "Broken regex dependency. Use 21.11b1 instead.");
    cr_assert_str_eq(f->requires_python, ">=3.6.2");
    f = fx_file(&p, "black-19.10b0.tar.gz");
    cr_assert_eq(f->yanked, SIMPLE_NOT_YANKED);
    simple_project_release(&p);
}

Test(simple_json, pypi_simple_testdata_cases)
{
    struct simple_project p;

    fx_parse_json("pypi-simple-testdata/yanked.json", &p);
    cr_assert_eq(p.files[0].yanked, SIMPLE_YANKED);
    cr_assert_null(p.files[0].yanked_reason);
    cr_assert_eq(p.files[1].yanked, SIMPLE_YANKED);
    cr_assert_str_eq(p.files[1].yanked_reason, "not good");
    cr_assert_str_eq(p.files[0].requires_python, "", "empty requires-python is present");
    simple_project_release(&p);

    fx_parse_json("pypi-simple-testdata/argset-700.json", &p);
    cr_assert_str_eq(p.api_version, "1.0");
    cr_assert_eq(p.files[0].size, 5219);
    cr_assert_str_eq(p.files[1].upload_time, "2021-06-05T00:15:39.003726Z");
    cr_assert_eq(p.nversions, 1);
    cr_assert_null(p.status);
    simple_project_release(&p);

    fx_parse_json("pypi-simple-testdata/argset-708.json", &p);
    cr_assert_str_eq(p.api_version, "1.2");
    cr_assert_str_eq(p.status, "deprecated");
    cr_assert_str_eq(p.status_reason, "Dev is tired of project");
    simple_project_release(&p);

    fx_parse_json("pypi-simple-testdata/argset-relative.json", &p);
    cr_assert_str_eq(p.files[0].url, "packages/argset-0.1.0-py3-none-any.whl");
    cr_assert_eq(p.files[0].size, -1);
    cr_assert_eq(p.nversions, 0);
    simple_project_release(&p);
}

Test(simple_json, core_metadata_aliases)
{
    struct simple_project p;
    const char *json =
        "{\"meta\":{\"api-version\":\"1.0\"},\"name\":\"x\",\"files\":["
        "{\"url\":\"a.whl\",\"hashes\":{},\"dist-info-metadata\":{\"sha256\":\"AB\"}},"
        "{\"url\":\"b.whl\",\"hashes\":{},\"data-dist-info-metadata\":true},"
        "{\"url\":\"c.whl\",\"hashes\":{},\"core-metadata\":false,\"dist-info-metadata\":true},"
        "{\"url\":\"d.whl\",\"hashes\":{},\"core-metadata\":\"yes\"},"
        "{\"url\":\"e.whl\",\"hashes\":{},\"core-metadata\":{}}"
        "]}";

    cr_assert_eq(parse(json, &p), 0);
    cr_assert_eq(p.nfiles, 5);
    cr_assert(p.files[0].core_metadata);
    cr_assert_str_eq(simple_hashes_get(&p.files[0].core_metadata_hashes, "sha256"), "ab");
    cr_assert(p.files[1].core_metadata);
    cr_assert_eq(p.files[1].core_metadata_hashes.n, 0);
    cr_assert_not(p.files[2].core_metadata, "the first key present decides");
    cr_assert_not(p.files[3].core_metadata);
    cr_assert(p.files[4].core_metadata);
    simple_project_release(&p);
}

Test(simple_json, skipped_and_derived_entries)
{
    struct simple_project p;
    const char *json =
        "{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"x\",\"_private\":1,\"files\":["
        "{\"filename\":\"nourl.whl\",\"hashes\":{}},"
        "{\"url\":42,\"filename\":\"badurl.whl\"},"
        "\"not an object\","
        "{\"url\":\"https://h/p/x-1.0%2Bcpu.whl?q=1\",\"hashes\":{\"sha256\":\"00\",\"bad\":\"zz\",\"md5\":7}},"
        "{\"url\":\"dir/\"},"
        "{\"url\":\"y.whl\",\"filename\":\"\",\"yanked\":\"\",\"size\":-5,\"requires-python\":3,"
        "\"unknown\":{\"deep\":[1,2,3]}},"
        "{\"url\":\"z.whl\",\"yanked\":false,\"size\":1.5,\"upload-time\":null}"
        "],\"versions\":[\"1.0\",2,\"2.0\"]}";

    cr_assert_eq(parse(json, &p), 0);
    cr_assert_eq(p.nfiles, 3);
    cr_assert_str_eq(p.files[0].filename, "x-1.0+cpu.whl", "derived from the url");
    cr_assert_eq(p.files[0].hashes.n, 1);
    cr_assert_str_eq(p.files[1].filename, "y.whl");
    cr_assert_eq(p.files[1].yanked, SIMPLE_NOT_YANKED, "\"\" is not yanked (pip)");
    cr_assert_eq(p.files[1].size, -1);
    cr_assert_null(p.files[1].requires_python);
    cr_assert_eq(p.files[2].size, -1);
    cr_assert_null(p.files[2].upload_time);
    cr_assert_eq(p.nversions, 2);
    cr_assert_str_eq(p.versions[1], "2.0");
    simple_project_release(&p);
}

Test(simple_json, not_a_page)
{
    static const char *const bad[] = {
        "", "[]", "null", "\"files\"", "{}", "{\"files\":{}}", "{\"files\":[]", "{\"files\":[],}",
        "{\"files\":[],\"files\":[]}", /* duplicate keys are refused */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct simple_project p;
        cr_assert_eq(parse(bad[i], &p), IMX_ESYNTAX, "input %zu", i);
        simple_project_release(&p);
    }
}

Test(simple_json, max_files)
{
    struct simple_project p;
    const char *json = "{\"files\":[{\"url\":\"a.whl\"},{\"url\":\"b.whl\"},{\"nourl\":1}]}";

    simple_project_init(&p);
    cr_assert_eq(simple_parse_json(json, strlen(json), 1, &p), IMX_ETOOLARGE);
    cr_assert_eq(p.nfiles, 0);
    cr_assert_eq(simple_parse_json(json, strlen(json), 2, &p), 0);
    cr_assert_eq(p.nfiles, 2);
    simple_project_release(&p);
}

Test(simple_json, deep_nesting_is_refused_not_crashed)
{
    size_t n = 200000;
    char *deep = malloc(n * 2 + 32);
    struct simple_project p;
    size_t o = 0;

    memcpy(deep, "{\"files\":[],\"x\":", 16);
    o = 16;
    for (size_t i = 0; i < n; i++)
        deep[o++] = '[';
    for (size_t i = 0; i < n; i++)
        deep[o++] = ']';
    deep[o++] = '}';
    simple_project_init(&p);
    cr_assert_eq(simple_parse_json(deep, o, 10, &p), IMX_ESYNTAX);
    simple_project_release(&p);
    free(deep);
}
