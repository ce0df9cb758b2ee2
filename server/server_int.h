/*
 * server_int.h - shared between server.c and respond.c only (habit 1):
 * turning a struct srv_response into a libmicrohttpd response.
 */
#ifndef IMX_SERVER_INT_H
#define IMX_SERVER_INT_H

#include <microhttpd.h>

#include "respond.h"

/*
 * Build the MHD response for resp and consume resp (freed in all cases;
 * its buffer, fd and reader context now belong to the MHD response, or are
 * released on failure).
 * Returns 0 and *out (caller destroys with MHD_destroy_response after
 * queueing), or IMX_EIO when libmicrohttpd refused (a header it rejects,
 * an fd range beyond what it supports).
 */
int srv__response_build(struct srv_response *resp, struct MHD_Response **out /* OUT */,
                        unsigned *status_out /* OUT */);

#endif
