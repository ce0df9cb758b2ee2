/*
 * route.h - the simple-API routes: /<route>/simple/..., /simple/...,
 * /<view>/explain/<project>/, /files/<key>/<filename>[.metadata], /metrics.
 * Plugged into the daemon as its route hook (server.h srv_route_fn). With
 * req->nonblock (an event thread) it answers only from memory or with one
 * LMDB read: fresh rendered pages whose gzip is made (rsv_get_cached),
 * stored files and their stored metadata (rsv_open_stored), redirects and
 * 404s; everything else returns IMX_EAGAIN and runs again on a worker.
 */
#ifndef IMX_ROUTE_H
#define IMX_ROUTE_H

#include <pthread.h>

#include "config.h"
#include "server.h"

struct rsv;
struct srv_stats;

/*
 * A generation: one configuration and the resolver built from it. SIGHUP
 * makes a new one; requests keep the generation they started with (a
 * reference taken by route_handle, released when the response is done:
 * at once for buffered bodies, in the reader's free function for streamed
 * files), and the old one is freed with its last reference. Storage and the
 * upstream client are shared by all generations and outlive them.
 *
 * Lifecycle:
 *   route_gen_new(&cfg, &g)       cfg moves into g (refs = 1, the caller's)
 *   route_gen_set_rsv(g, rsv)     rsv built on route_gen_config(g), moves in
 *   route_root_init / route_root_swap(root, g)   the root takes that reference
 *   route_gen_unref               the last one frees rsv (waiting for its
 *                                 downloads), then the configuration
 */
struct route_gen;

/* Take over *cfg_take (left zeroed). Returns 0 with *out (one reference). */
int route_gen_new(struct config *cfg_take, struct route_gen **out /* OUT */);
/* The generation's configuration: valid while a reference is held. */
const struct config *route_gen_config(const struct route_gen *g);
/* Take over rsv_take (built on route_gen_config(g)); once, before use. */
void route_gen_set_rsv(struct route_gen *g, struct rsv *rsv_take);
void route_gen_ref(struct route_gen *g);
void route_gen_unref(struct route_gen *g); /* NULL-safe */

/* What the route hook is given: the current generation, swapped on reload. */
struct route_root {
    pthread_mutex_t mu;     /* guards gen */
    struct route_gen *gen;  /* current; one reference held here */
    struct srv_stats *stats; /* borrowed, may be NULL */
};

/* gen_take: the caller's reference moves into the root. */
void route_root_init(struct route_root *root, struct route_gen *gen_take,
                     struct srv_stats *stats);
/* New requests use gen_take from now on; the old generation loses the root's reference. */
void route_root_swap(struct route_root *root, struct route_gen *gen_take);
/* Drop the current generation (after the server stopped). */
void route_root_release(struct route_root *root);

/* The per-request view handed to the route functions (route.c). */
struct route_ctx {
    struct rsv *rsv;           /* borrowed from gen */
    const struct config *cfg;  /* borrowed from gen */
    struct srv_stats *stats;   /* borrowed, may be NULL */
    struct route_gen *gen;     /* the request's reference */
};

/*
 * srv_opts.landing_extra for struct route_root: the cache figures (store
 * size, hit ratio, each upstream's last fetch) as HTML.
 */
void route_landing_extra(void *root, struct buf *html);

/* srv_route_fn for struct route_root. Always returns 0 with a response. */
int route_handle(void *root, const struct srv_request *req, struct srv_response **out /* OUT */);

#endif
