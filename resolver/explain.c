/*
 * explain.c - `indexmux explain VIEW PROJECT` and /<view>/explain/<project>/:
 * the merge run with a recorder, printed as a table or as JSON.
 */
#include "compat.h"

#include <stdio.h>

#include "err.h"
#include "resolver_int.h"

static void json_str(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

int rsv_explain(struct rsv *r, const char *route, const char *project, struct buf *text,
                struct buf *json, struct buf *why)
{
    struct rsv__route rt;
    struct rsv__merged m;
    struct rsv__explain ex = {0};
    struct buf stamps;
    int64_t fresh_until;
    int rc;

    if (rsv__find_route(r, route, &rt) != 0)
        return IMX_EINVAL;
    rsv__merged_init(&m);
    buf_init(&stamps, BUF_NOMAX);
    rc = rsv__merge(r, &rt, project, &m, &stamps, &fresh_until, &ex, why);
    if (rc && rc != IMX_ENOTFOUND)
        goto out;
    if (text) {
        buf_printf(text, "%s %s: %zu file(s) listed%s\n", route, project, m.page.nfiles,
                   rc == IMX_ENOTFOUND ? " (no consulted index has it: 404)" : "");
        for (size_t i = 0; i < ex.n; i++)
            buf_printf(text, "%-4s %-16s %s  -- %s\n", ex.v[i].kept ? "keep" : "drop",
                       ex.v[i].index, ex.v[i].filename, ex.v[i].rule);
    }
    if (json) {
        buf_appends(json, "{\"view\":");
        json_str(json, route);
        buf_appends(json, ",\"project\":");
        json_str(json, project);
        buf_printf(json, ",\"found\":%s,\"listed\":%zu,\"decisions\":[",
                   rc == IMX_ENOTFOUND ? "false" : "true", m.page.nfiles);
        for (size_t i = 0; i < ex.n; i++) {
            buf_appends(json, i ? ",{\"index\":" : "{\"index\":");
            json_str(json, ex.v[i].index);
            buf_appends(json, ",\"filename\":");
            json_str(json, ex.v[i].filename);
            buf_printf(json, ",\"kept\":%s,\"rule\":", ex.v[i].kept ? "true" : "false");
            json_str(json, ex.v[i].rule);
            buf_putc(json, '}');
        }
        buf_appends(json, "]}\n");
    }
    rc = rc == IMX_ENOTFOUND ? IMX_ENOTFOUND : 0;
out:
    rsv__explain_release(&ex);
    rsv__merged_release(&m);
    buf_release(&stamps);
    return rc;
}
