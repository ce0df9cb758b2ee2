/*
 * fuzz_simple_json.c - libFuzzer driver for resolver/pep/simple_json.c.
 *
 * Invariants, on any bytes:
 * - simple_parse_json never crashes and returns 0, IMX_ESYNTAX or IMX_ETOOLARGE;
 * - when it succeeds, the store format round-trips: render -> parse ->
 *   render gives byte-identical output;
 * - for pages, the client JSON render parses back to the same files, and
 *   rendering that again is byte-identical (the client format is a fixed point);
 * - simple_store_parse and simple_index_parse_json never crash either.
 */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "simple.h"

#define CHECK(x)                                                                                 \
    do {                                                                                         \
        if (!(x)) {                                                                              \
            fprintf(stderr, "fuzz_simple_json: check failed: %s (line %d)\n", #x, __LINE__);    \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

/*
 * `from_page`: p came from simple_parse_json, so every file has a filename
 * and a url and the client format must be a fixed point. A store record may
 * hold files without them, which a client page cannot express.
 */
static void check_project(const struct simple_project *p, bool from_page)
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
    buf_reset(&b);
    CHECK(simple_render_json(p, "fuzz", &a) == 0);
    CHECK(simple_parse_json(a.p, a.len, p->nfiles, &r) == 0);
    if (from_page) {
        CHECK(r.nfiles == p->nfiles);
        CHECK(simple_render_json(&r, "fuzz", &b) == 0);
        CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    }

    buf_reset(&a);
    CHECK(simple_render_html(p, "fuzz", &a) == 0);

    simple_project_release(&r);
    simple_project_release(&q);
    buf_release(&a);
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct simple_project proj;
    struct simple_index ix;
    int rc;

    simple_project_init(&proj);
    rc = simple_parse_json(p, size, 100000, &proj);
    CHECK(rc == 0 || rc == IMX_ESYNTAX || rc == IMX_ETOOLARGE);
    if (rc == 0)
        check_project(&proj, true);
    simple_project_release(&proj);

    rc = simple_store_parse(p, size, &proj);
    CHECK(rc == 0 || rc == IMX_ECORRUPT);
    if (rc == 0)
        check_project(&proj, false);
    simple_project_release(&proj);

    simple_index_init(&ix);
    rc = simple_index_parse_json(p, size, 100000, &ix);
    CHECK(rc == 0 || rc == IMX_ESYNTAX || rc == IMX_ETOOLARGE);
    simple_index_release(&ix);
    return 0;
}
