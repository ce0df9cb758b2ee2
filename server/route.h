/*
 * route.h - the simple-API routes: /<route>/simple/..., /simple/...,
 * /<view>/explain/<project>/, /files/<key>/<filename>[.metadata], /metrics.
 * Plugged into the daemon as its route hook (server.h srv_route_fn).
 */
#ifndef IMX_ROUTE_H
#define IMX_ROUTE_H

#include "server.h"

struct rsv;
struct config;
struct srv_stats;

struct route_ctx {
    struct rsv *rsv;           /* borrowed */
    const struct config *cfg;  /* borrowed */
    struct srv_stats *stats;   /* borrowed, may be NULL */
};

/*
 * srv_opts.landing_extra for struct route_ctx: the cache figures (store
 * size, hit ratio, each upstream's last fetch) as HTML.
 */
void route_landing_extra(void *ctx, struct buf *html);

/* srv_route_fn for struct route_ctx. Always returns 0 with a response. */
int route_handle(void *ctx, const struct srv_request *req, struct srv_response **out /* OUT */);

#endif
