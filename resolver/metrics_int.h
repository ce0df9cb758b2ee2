/*
 * metrics_int.h - counting helpers shared by the resolver's sources
 * (rsv__ prefix; implemented in metrics.c). Each is one relaxed atomic
 * increment or a few; all accept an rsv without metrics (no-op).
 */
#ifndef IMX_RSV_METRICS_INT_H
#define IMX_RSV_METRICS_INT_H

#include "metrics.h"

/*
 * Only forward declarations here: resolver_int.h is included by each .c
 * itself (its tail is outside its include guard).
 */
struct config_index;
struct config_view;
struct rsv;
struct upstream_request;
struct upstream_response;

/*
 * Bind r to m: register every index and view of r->cfg and remember their
 * slots. m == NULL makes r own a private one. Returns 0.
 */
int rsv__metrics_attach(struct rsv *r, struct rsv_metrics *m);
void rsv__metrics_detach(struct rsv *r);

/* A page lookup of index ix ended with outcome o (also noted in the trace). */
void rsv__count_page(struct rsv *r, const struct config_index *ix, enum rsv_page_outcome o);
/* A file of index `index` (name) was opened with outcome o. */
void rsv__count_file(struct rsv *r, const char *index, enum rsv_file_outcome o);
/* The merge of view v decided one file by `rule`. */
void rsv__count_rule(struct rsv *r, const struct config_view *v, enum rsv_rule rule);
/* The merge of view v decided n[rule] files by each rule (one add per rule used). */
void rsv__count_rules(struct rsv *r, const struct config_view *v, const uint64_t n[RSV_RULE__N]);
/* A page the memory cache lacked ended with outcome o. */
void rsv__count_rendered(struct rsv *r, enum rsv_rendered_outcome o);
/* An upstream page record was parsed into memory (project.c). */
void rsv__count_page_parsed(struct rsv *r);
void rsv__count_hash_mismatch(struct rsv *r);
void rsv__count_hash_conflict(struct rsv *r);
/* Gauges: delta +1 / -1. */
void rsv__gauge_transfers(struct rsv *r, int delta);
void rsv__gauge_transfer_clients(struct rsv *r, int delta);

/*
 * upstream_fetch for index `index` (name), counting the request, its
 * latency (to the final headers), bytes received, errors (no response or a
 * 5xx), and recording the last fetch result. Same contract and results as
 * upstream_fetch (upstream.h).
 */
int rsv__upstream_fetch(struct rsv *r, const char *index, const struct upstream_request *req,
                        struct upstream_response *resp /* OUT */);

#endif
