/* simple_testutil.h - fixture loading and model comparison for the simple* tests. */
#ifndef IMX_TEST_SIMPLE_TESTUTIL_H
#define IMX_TEST_SIMPLE_TESTUTIL_H

#include <stddef.h>

#include "simple.h"

/* Every fixture page, relative to $IMX_SHARED_DIR/fixtures. */
extern const char *const fx_html_pages[];  /* project pages and lists, HTML */
extern const size_t fx_html_npages;
extern const char *const fx_json_pages[];  /* PEP 691 project pages */
extern const size_t fx_json_npages;

/* The bytes of a fixture (NUL-terminated; caller frees); fails the test when missing. */
char *fx_load(const char *rel, size_t *len /* OUT */);
/* The same for any file path. */
char *fx_load_path(const char *path, size_t *len /* OUT */);
/* Occurrences of `needle` in the text. */
size_t fx_count(const char *hay, const char *needle);
void fx_parse_html(const char *rel, struct simple_project *p /* OUT */);
void fx_parse_json(const char *rel, struct simple_project *p /* OUT */);
/* The file with this filename, or a test failure. */
const struct simple_file *fx_file(const struct simple_project *p, const char *filename);

enum {
    CMP_HASHES_PREFERRED = 1 << 0, /* only the hash a renderer picks must survive */
    CMP_NO_PAGE_META = 1 << 1,     /* skip name, api_version, base_url */
    CMP_NO_VERSIONS = 1 << 2,
};
void assert_project_eq(const struct simple_project *a, const struct simple_project *b,
                       unsigned flags, const char *what);

#endif
