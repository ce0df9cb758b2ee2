/*
 * fuzz_simple_html.c - libFuzzer driver for resolver/pep/simple_html.c.
 *
 * Invariants, on any bytes:
 * - simple_parse_html never crashes and returns 0, IMX_ESYNTAX or IMX_ETOOLARGE;
 * - when it succeeds, the store format round-trips: render -> parse ->
 *   render gives byte-identical output (nothing lost, nothing invented);
 * - both client renderers succeed and their output parses again with the
 *   same number of files;
 * - the streaming project-list parser accepts the same bytes fed whole and
 *   split in two without error (name counts may legitimately differ where
 *   libxml2's push parser sees a chunk boundary differently, so they are not
 *   compared here; the unit tests compare them on real pages).
 */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "simple.h"

#define CHECK(x)                                                                                 \
    do {                                                                                         \
        if (!(x)) {                                                                              \
            fprintf(stderr, "fuzz_simple_html: check failed: %s (line %d)\n", #x, __LINE__);    \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static void check_project(const struct simple_project *p)
{
    struct simple_project q, r;
    struct buf a, b;

    buf_init(&a, BUF_NOMAX);
    buf_init(&b, BUF_NOMAX);
    simple_project_init(&q);
    simple_project_init(&r);

    CHECK(simple_store_render(p, &a) == 0);
    CHECK(simple_store_parse(a.p, a.len, &q) == 0);
    CHECK(simple_store_render(&q, &b) == 0);
    CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);

    buf_reset(&a);
    CHECK(simple_render_html(p, "fuzz", &a) == 0);
    CHECK(simple_parse_html(a.p, a.len, p->nfiles, &r) == 0);
    CHECK(r.nfiles == p->nfiles);
    simple_project_release(&r);

    buf_reset(&a);
    CHECK(simple_render_json(p, "fuzz", &a) == 0);
    CHECK(simple_parse_json(a.p, a.len, p->nfiles, &r) == 0);
    CHECK(r.nfiles == p->nfiles);

    simple_project_release(&r);
    simple_project_release(&q);
    buf_release(&a);
    buf_release(&b);
}

static void stream(const char *p, size_t len, size_t split, struct simple_index *out)
{
    struct simple_index_html *s = simple_index_html_new(100000);
    int rc = simple_index_html_feed(s, p, split);
    if (rc == 0)
        rc = simple_index_html_feed(s, p + split, len - split);
    if (rc == 0)
        rc = simple_index_html_finish(s, out);
    CHECK(rc == 0);
    simple_index_html_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct simple_project proj;
    struct simple_index whole, halves;
    int rc;

    simple_project_init(&proj);
    rc = simple_parse_html(p, size, 100000, &proj);
    CHECK(rc == 0 || rc == IMX_ESYNTAX || rc == IMX_ETOOLARGE);
    if (rc == 0)
        check_project(&proj);
    simple_project_release(&proj);

    simple_index_init(&whole);
    simple_index_init(&halves);
    stream(p, size, size, &whole);
    stream(p, size, size / 2, &halves);
    simple_index_release(&whole);
    simple_index_release(&halves);
    return 0;
}
