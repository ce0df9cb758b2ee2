/*
 * Tests for server/stats.c: the exposition renderer (label escaping, status
 * bucketing, cumulative histogram buckets) and the hit ratio.
 */
#include "compat.h"

#include <stdio.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "metrics.h"
#include "stats.h"

static char *render(const struct srv_stats *st, const struct rsv_metrics *m,
                    const struct srv_stats_store *store)
{
    struct buf b;
    size_t len = 0;

    buf_init(&b, BUF_NOMAX);
    srv_stats_render(st, m, store, &b);
    return buf_detach(&b, &len);
}

Test(stats, requests_by_view_kind_status)
{
    struct srv_stats *st = NULL;
    char *text;

    srv_stats_new(&st);
    srv_stats_request(st, "cu124", SRV_KIND_PAGE, 200, "miss");
    srv_stats_request(st, "cu124", SRV_KIND_PAGE, 200, "hit");
    srv_stats_request(st, NULL, SRV_KIND_OTHER, 404, NULL);
    srv_stats_request(st, "a\"b\\c\nd", SRV_KIND_FILE, 299, NULL); /* odd status: "other" */
    srv_stats_bytes(st, 1234);
    text = render(st, NULL, NULL);
    cr_assert(strstr(text, "# HELP indexmux_requests_total ") != NULL, "%s", text);
    cr_assert(strstr(text, "# TYPE indexmux_requests_total counter\n") != NULL);
    cr_assert(strstr(text, "indexmux_requests_total{view=\"cu124\",kind=\"page\",status=\"200\"} "
                           "2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "indexmux_requests_total{view=\"-\",kind=\"other\",status=\"404\"} "
                           "1\n") != NULL, "%s", text);
    cr_assert(strstr(text, "{view=\"a\\\"b\\\\c\\nd\",kind=\"file\",status=\"other\"} 1\n") !=
                  NULL, "%s", text);
    cr_assert(strstr(text, "indexmux_served_bytes_total 1234\n") != NULL);
    cr_assert(strstr(text, "indexmux_page_cache_total{outcome=\"miss\"} 1\n") != NULL);
    cr_assert(strstr(text, "indexmux_page_cache_total{outcome=\"hit\"} 1\n") != NULL);
    cr_assert(strstr(text, "indexmux_page_cache_total{outcome=\"stale\"} 0\n") != NULL);
    /* zero series of the view x kind x status family are left out */
    cr_assert(strstr(text, "status=\"500\"") == NULL);
    free(text);
    srv_stats_free(st);
}

Test(stats, histogram_is_cumulative)
{
    struct rsv_metrics *m = NULL;
    struct rsv_metrics_index *ix;
    char *text;

    rsv_metrics_new(&m);
    ix = rsv_metrics_index_slot(m, "pypi");
    cr_assert(ix != NULL);
    cr_assert_eq(rsv_metrics_index_slot(m, "pypi"), ix);
    ix->up_latency[0] = 2;                    /* <= 5 ms */
    ix->up_latency[3] = 1;                    /* <= 50 ms */
    ix->up_latency[RSV_LATENCY_NBUCKETS] = 4; /* +Inf */
    ix->up_latency_sum_us = 1500000;
    text = render(NULL, m, NULL);
    cr_assert(strstr(text, "# TYPE indexmux_upstream_latency_seconds histogram\n") != NULL);
    cr_assert(strstr(text, "indexmux_upstream_latency_seconds_bucket{index=\"pypi\",le=\"0.005\"} "
                           "2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "{index=\"pypi\",le=\"0.025\"} 2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "{index=\"pypi\",le=\"0.05\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "{index=\"pypi\",le=\"30\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "{index=\"pypi\",le=\"+Inf\"} 7\n") != NULL, "%s", text);
    cr_assert(strstr(text, "indexmux_upstream_latency_seconds_count{index=\"pypi\"} 7\n") != NULL);
    cr_assert(strstr(text, "indexmux_upstream_latency_seconds_sum{index=\"pypi\"} 1.500000\n") !=
              NULL, "%s", text);
    free(text);
    rsv_metrics_free(m);
}

Test(stats, every_line_is_help_type_or_sample)
{
    struct srv_stats *st = NULL;
    struct rsv_metrics *m = NULL;
    struct srv_stats_store store = {10, 1};
    char *text;
    char *line;
    char *save = NULL;

    srv_stats_new(&st);
    rsv_metrics_new(&m);
    rsv_metrics_index_slot(m, "pypi");
    rsv_metrics_view_slot(m, "default");
    text = render(st, m, &store);
    cr_assert(strstr(text, "indexmux_store_bytes 10\n") != NULL);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert(strncmp(line, "# HELP indexmux_", 16) == 0 ||
                      strncmp(line, "# TYPE indexmux_", 16) == 0 ||
                      strncmp(line, "indexmux_", 9) == 0,
                  "bad line: %s", line);
    }
    free(text);
    rsv_metrics_free(m);
    srv_stats_free(st);
}

Test(stats, hit_ratio)
{
    struct srv_stats *st = NULL;
    struct rsv_metrics *m = NULL;
    struct rsv_metrics_index *ix;

    srv_stats_new(&st);
    rsv_metrics_new(&m);
    cr_assert(srv_stats_hit_ratio(st, m) < 0);
    srv_stats_request(st, "v", SRV_KIND_PAGE, 200, "hit");
    srv_stats_request(st, "v", SRV_KIND_PAGE, 200, "miss");
    ix = rsv_metrics_index_slot(m, "pypi");
    ix->file[RSV_FILE_HIT] = 2;
    cr_assert_float_eq(srv_stats_hit_ratio(st, m), 0.75, 1e-9);
    rsv_metrics_free(m);
    srv_stats_free(st);
}
