/* The agent's connection to the collector (network side); see transport.c. */
#ifndef VG_TRANSPORT_H
#define VG_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "agent.h"

struct queue;

/* Checks [collector] address entries.  Returns 0 or VG_ECONFIG with err. */
int transport_check_addresses(const struct vg_strlist *l, char *err, size_t errlen);
/* Loads TLS material (agent id = certificate CN) and starts connecting.
 * Returns NULL with a message in err. */
struct transport *transport_new(struct agent *a, struct queue *q, char *err, size_t errlen);
/* A batch closed: send it if connected. */
void transport_kick(struct transport *t);
void transport_stats(const struct transport *t, struct agent_stats *s);
/* Sends what is queued and waits up to max_wait_ms for acknowledgements,
 * then stops as transport_stop does. */
void transport_drain_then_stop(struct transport *t, uint64_t max_wait_ms,
                               void (*stopped)(struct transport *t));
/* Says goodbye, closes the connection and timers; stopped() runs when
 * everything is closed. */
void transport_stop(struct transport *t, void (*stopped)(struct transport *t));
void transport_free(struct transport *t);
/* The collector address of the current connection.  Returns 0, or
 * -ENOTCONN when not connected. */
int transport_peer(const struct transport *t, struct sockaddr_storage *out);
/* 1 when connected and past the hello. */
int transport_ready(const struct transport *t);
/* Bytes waiting for the socket. */
size_t transport_queued(const struct transport *t);
/* Sends one envelope: 0, -ENOTCONN, VG_EAGAIN (queue full: not sent) or
 * an error. */
int transport_send(struct transport *t, Vigil__V1__Envelope *env);
/* The host part of the [collector] address in use (or last tried). */
const char *transport_host(const struct transport *t);
/* Sends a command's result when connected; returns 0 or an error (the
 * collector sends unfinished commands again after a reconnect, and the
 * agent answers from its record). */
int transport_send_result(struct transport *t, const Vigil__V1__CommandResult *r);
/* Opens a fresh TCP and TLS connection to addr (a full handshake),
 * checks the peer is a collector and leaves.  cb(ctx, 0 or an error,
 * why) runs once, within timeout_ms.  Returns 0 or -ENOMEM. */
int transport_probe(struct transport *t, const struct sockaddr *addr, uint64_t timeout_ms,
                    void (*cb)(void *ctx, int rc, const char *why), void *ctx);

#endif
