/* Tests for server/range.c: tests/vectors/ranges.txt plus If-Range. */
#include "compat.h"

#include <inttypes.h>

#include <criterion/criterion.h>

#include "err.h"
#include "range.h"
#include "vectors.h"

Test(range, vectors)
{
    FILE *f = vec_open("ranges.txt");
    struct vec_row row = {0};
    unsigned n = 0;

    while (vec_next(f, &row)) {
        struct range r = {12345, 67890};
        char got[64];
        uint64_t size;
        int rc;

        cr_assert_eq(row.nfields, 3, "ranges.txt:%u: want 3 fields", row.lineno);
        size = strtoull(row.field[1], NULL, 10);
        rc = range_parse(vec_value(row.field[0]), size, &r);
        if (rc == 0)
            snprintf(got, sizeof(got), "%" PRIu64 " %" PRIu64, r.start, r.len);
        else if (rc == IMX_ERANGE)
            snprintf(got, sizeof(got), "416");
        else if (rc == IMX_ENOTFOUND)
            snprintf(got, sizeof(got), "ignore");
        else
            snprintf(got, sizeof(got), "rc %d", rc);
        cr_expect_str_eq(got, row.field[2], "ranges.txt:%u: '%s' size %s", row.lineno,
                         row.field[0], row.field[1]);
        if (rc != 0)
            cr_expect(r.start == 12345 && r.len == 67890, "ranges.txt:%u: out written", row.lineno);
        n++;
    }
    fclose(f);
    cr_assert_geq(n, 30, "only %u vectors", n);
}

Test(range, if_range)
{
    const char *etag = "\"2b7e1516\"";

    cr_assert(range_if_range_matches(NULL, etag));
    cr_assert(range_if_range_matches(NULL, NULL));
    cr_assert(range_if_range_matches("\"2b7e1516\"", etag));
    cr_assert(range_if_range_matches("  \"2b7e1516\" ", etag));
    cr_assert_not(range_if_range_matches("\"2b7e1517\"", etag));
    cr_assert_not(range_if_range_matches("W/\"2b7e1516\"", etag), "weak never matches");
    cr_assert_not(range_if_range_matches("\"2b7e1516\"", "W/\"2b7e1516\""));
    cr_assert_not(range_if_range_matches("Wed, 21 Oct 2015 07:28:00 GMT", etag));
    cr_assert_not(range_if_range_matches("\"2b7e1516\"", NULL));
    cr_assert_not(range_if_range_matches("", etag));
    cr_assert_not(range_if_range_matches("\"", "\""));
    cr_assert_not(range_if_range_matches("2b7e1516", "2b7e1516"), "unquoted is malformed");
}
