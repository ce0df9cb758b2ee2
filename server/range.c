/*
 * range.c - single byte-range parsing and If-Range evaluation; see range.h.
 *
 * The parser is deliberately strict about syntax and lenient in outcome:
 * anything it does not fully understand yields IMX_ENOTFOUND, which tells
 * the caller to serve the whole file. Serving 200 instead of a range is
 * always correct (RFC 9110 14.2); serving a wrong range is not.
 */
#include "compat.h"

#include "err.h"
#include "range.h"
#include "str.h"

/* Digits only, fits in uint64_t. Empty is allowed and reported via *present. */
static int parse_pos(struct str s, bool *present, uint64_t *out)
{
    *present = s.len > 0;
    if (s.len == 0)
        return 0;
    return str_to_u64(s, UINT64_MAX, out);
}

int range_parse(const char *header, uint64_t size, struct range *out)
{
    struct str h;
    struct str spec;
    ptrdiff_t dash;
    bool have_first = false;
    bool have_last = false;
    uint64_t first = 0;
    uint64_t last = 0;
    int rc = IMX_ENOTFOUND;

    assert(out != NULL);
    if (!header)
        goto out;
    h = str_trim(str_from(header));
    if (h.len < 6 || !str_eq_nocase(str_sub(h, 0, 6), STR_LIT("bytes=")))
        goto out;
    spec = str_trim(str_sub(h, 6, h.len));
    if (str_index(spec, ',') >= 0)
        goto out; /* several ranges: ignored, not merged */
    dash = str_index(spec, '-');
    if (dash < 0)
        goto out;
    if (parse_pos(str_sub(spec, 0, (size_t)dash), &have_first, &first) != 0 ||
        parse_pos(str_sub(spec, (size_t)dash + 1, spec.len), &have_last, &last) != 0)
        goto out;

    if (have_first) {
        if (have_last && first > last)
            goto out;
        if (first >= size) {
            rc = IMX_ERANGE;
            goto out;
        }
        if (!have_last || last > size - 1)
            last = size - 1;
        out->start = first;
        out->len = last - first + 1;
        rc = 0;
    } else if (have_last) {
        /* Suffix: the last `last` bytes. */
        if (last == 0 || size == 0) {
            rc = IMX_ERANGE;
            goto out;
        }
        out->len = last < size ? last : size;
        out->start = size - out->len;
        rc = 0;
    }
out:
    return rc;
}

bool range_if_range_matches(const char *if_range, const char *etag)
{
    struct str v;
    struct str e;

    if (!if_range)
        return true;
    if (!etag)
        return false;
    v = str_trim(str_from(if_range));
    e = str_from(etag);
    /* A strong entity-tag is a quoted string; W/ or a date never matches. */
    if (v.len < 2 || v.p[0] != '"' || v.p[v.len - 1] != '"')
        return false;
    if (e.len < 2 || e.p[0] != '"')
        return false;
    return str_eq(v, e);
}
