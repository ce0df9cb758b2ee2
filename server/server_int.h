/*
 * server_int.h - shared between server.c and respond.c only (habit 1):
 * turning a struct srv_response into a libmicrohttpd response, and putting
 * a connection whose reader has no bytes yet to sleep.
 */
#ifndef IMX_SERVER_INT_H
#define IMX_SERVER_INT_H

#include <stdbool.h>

#include <microhttpd.h>

#include "respond.h"

struct srv;

/*
 * One per reader response (respond.c embeds it in its reader context).
 * `suspended`, `pending` and the list links are under the server's wake
 * lock (server.c); srv and mhd are set once by srv__waker_init.
 */
struct srv_waker {
    struct srv *srv;
    struct MHD_Connection *mhd;
    bool suspended;          /* MHD_suspend_connection'ed, not yet resumed */
    bool pending;            /* fired while not suspended: read again */
    struct srv_waker *prev;  /* the server's list of suspended readers */
    struct srv_waker *next;
};

void srv__waker_init(struct srv_waker *w, struct srv *srv, struct MHD_Connection *mhd);

enum srv__sleep { SRV__SLEEPING, SRV__READ_AGAIN, SRV__STOPPING };
/*
 * The reader returned SRV_READ_AGAIN: suspend the connection until
 * srv_waker_fire (SRV__SLEEPING: return 0 to libmicrohttpd), unless it
 * already fired (SRV__READ_AGAIN: call the reader again now) or the server
 * is stopping (SRV__STOPPING: abort the response). Event thread only.
 */
enum srv__sleep srv__waker_sleep(struct srv_waker *w);

/* What a request queued from a frozen response keeps until it is done. */
struct srv__hold {
    bool borrowed;                /* *out is the frozen response's own: queue, never destroy */
    void (*release)(void *ctx);   /* call once the request is done (NULL: nothing) */
    void *ctx;
};

/*
 * Build the MHD response for resp and consume resp (freed in all cases;
 * its buffer, fd and reader context now belong to the MHD response, or are
 * released on failure). srv and mhd are where a reader's waker belongs.
 * Returns 0 and *out (caller destroys with MHD_destroy_response after
 * queueing unless hold->borrowed; hold->release, when set, is the caller's
 * to call when the request is done), or IMX_EIO when libmicrohttpd refused
 * (a header it rejects, an fd range beyond what it supports).
 */
int srv__response_build(struct srv_response *resp, struct srv *srv, struct MHD_Connection *mhd,
                        struct MHD_Response **out /* OUT */, unsigned *status_out /* OUT */,
                        struct srv__hold *hold /* OUT */);

#endif
