/*
 * Tests for resolver/parsed.c: what a parsed page precomputes for each file
 * (key, wheel or not, sha256s, normalized version shared per version,
 * encoded filename, name hash), checked against computing it directly.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "resolver_int.h"
#include "xalloc.h"

static const struct {
    const char *filename; /* NULL: absent */
    const char *url;
    bool is_wheel;
    const char *version;  /* NULL: none */
    const char *segment;
} FILES[] = {
    {"numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl", "https://f/a.whl", true, "1.26.4",
     "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl"},
    {"numpy-1.26.4-cp311-cp311-win_amd64.WHL", "https://f/b.whl", true, "1.26.4",
     "numpy-1.26.4-cp311-cp311-win_amd64.WHL"},
    {"numpy-1.26.4.tar.gz", "https://f/c", false, "1.26.4", "numpy-1.26.4.tar.gz"},
    {"numpy-2.0.0rc1.zip", "https://f/d", false, "2.0.0rc1", "numpy-2.0.0rc1.zip"},
    {"numpy-2.0.0-RC1.tar.gz", "https://f/e", false, "2.0.0rc1", "numpy-2.0.0-RC1.tar.gz"},
    {"torch-2.5.1+cpu-cp39-cp39-linux_x86_64.whl", "https://f/f", true, "2.5.1+cpu",
     "torch-2.5.1%2Bcpu-cp39-cp39-linux_x86_64.whl"},
    {"weird name é.whl", "https://f/g", true, NULL, "weird%20name%20%C3%A9.whl"},
    {"README", "https://f/h", false, NULL, "README"},
    {".whl", "https://f/i", false, NULL, ".whl"},
    {"a.whl", "https://f/j", true, NULL, "a.whl"},
    {"numpy-1.26.4.tar.gz", "https://f/k", false, "1.26.4", "numpy-1.26.4.tar.gz"},
    {NULL, "https://f/l", false, NULL, ""},
};

Test(parsed, precomputes_per_file_data)
{
    struct simple_project page;
    struct rsv__parsed *pp;
    const char *v1264 = NULL;

    simple_project_init(&page);
    for (size_t i = 0; i < ARRAY_SIZE(FILES); i++) {
        struct simple_file *f = simple_project_add_file(&page);
        f->filename = FILES[i].filename ? xstrdup(FILES[i].filename) : NULL;
        f->url = xstrdup(FILES[i].url);
        if (i % 2)
            simple_hashes_set(&f->hashes, "md5", "aa");
        if (i % 3)
            simple_hashes_set(&f->hashes, "SHA256", "ABCD");
        if (i % 4 == 1) {
            f->core_metadata = true;
            simple_hashes_set(&f->core_metadata_hashes, "sha256", "ef");
        }
    }
    pp = rsv__parsed_new_take("pypi", &page);
    cr_assert_eq(page.nfiles, 0, "the page was taken over");
    cr_assert_null(page.files);
    cr_assert_eq(pp->refs, 1);
    cr_assert_eq(pp->page.nfiles, ARRAY_SIZE(FILES));
    for (size_t i = 0; i < ARRAY_SIZE(FILES); i++) {
        const struct rsv__pfile *pf = &pp->files[i];
        char key[33];

        rsv__file_key("pypi", FILES[i].url, key);
        cr_assert_str_eq(pf->key, key, "file %zu", i);
        cr_assert_eq(pf->is_wheel, FILES[i].is_wheel, "file %zu", i);
        if (FILES[i].version)
            cr_assert_str_eq(pf->version, FILES[i].version, "file %zu", i);
        else
            cr_assert_null(pf->version, "file %zu: %s", i, pf->version);
        cr_assert_str_eq(pf->segment, FILES[i].segment, "file %zu", i);
        cr_assert_eq(pf->segment_len, strlen(FILES[i].segment));
        cr_assert_eq(pf->name_hash, rsv__hash_str(FILES[i].filename ? FILES[i].filename : ""));
        if (i % 3)
            cr_assert_str_eq(pf->sha256, "abcd");
        else
            cr_assert_null(pf->sha256);
        cr_assert_eq(pf->sha256, simple_hashes_get(&pp->page.files[i].hashes, "sha256"),
                     "borrowed from the page");
        if (i % 4 == 1)
            cr_assert_str_eq(pf->md_sha256, "ef");
        else
            cr_assert_null(pf->md_sha256);
        if (pf->version && strcmp(pf->version, "1.26.4") == 0) {
            if (!v1264)
                v1264 = pf->version;
            cr_assert_eq(pf->version, v1264, "one pointer per version, even out of its run");
        }
    }
    cr_assert_eq(pp->files[3].version, pp->files[4].version, "2.0.0rc1 written two ways");
    cr_assert_gt(rsv__parsed_footprint(pp), ARRAY_SIZE(FILES) * sizeof(struct rsv__pfile));
    cr_assert_eq(rsv__parsed_ref(pp), pp);
    cr_assert_eq(pp->refs, 2);
    rsv__parsed_unref(pp);
    rsv__parsed_unref(pp);
    rsv__parsed_unref(NULL);
}

Test(parsed, empty_page)
{
    struct simple_project page;
    struct rsv__parsed *pp;

    simple_project_init(&page);
    pp = rsv__parsed_new_take("pypi", &page);
    cr_assert_eq(pp->page.nfiles, 0);
    cr_assert_not_null(pp->files);
    rsv__parsed_unref(pp);
}

Test(parsed, segment_encoding)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"abc-DEF_0.9~", "abc-DEF_0.9~"},
        {"a+b", "a%2Bb"},
        {"a b/c?d#e%f", "a%20b%2Fc%3Fd%23e%25f"},
        {"\xff\x01", "%FF%01"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b;
        buf_init(&b, BUF_NOMAX);
        rsv__segment_encode(&b, cases[i].in);
        cr_assert_str_eq(buf_cstr(&b), cases[i].want, "case %zu", i);
        buf_release(&b);
    }
}
