/* The agent's connection to the collector (network side); see transport.c. */
#ifndef VG_TRANSPORT_H
#define VG_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "agent.h"

struct queue;
struct vg_key;

/* What the transport hands up (agent/net/child.c): it calls nothing
 * above itself.  All but conn, pinned and cert are required. */
struct transport_hooks {
    void *ctx;
    /* A command from the collector (not kept after the call). */
    void (*command)(void *ctx, const Vigil__V1__Command *cmd);
    /* Uploads: a new or lost connection, room to send, an acknowledgement. */
    void (*upload_reset)(void *ctx);
    void (*upload_pump)(void *ctx);
    void (*upload_ack)(void *ctx, const Vigil__V1__UploadAck *a);
    /* Connected (up = 1, peer and host of the collector) or not. */
    void (*conn)(void *ctx, int up, const struct sockaddr_storage *peer, const char *host);
    /* While isolated: the pinned addresses of host:port; returns how many. */
    size_t (*pinned)(void *ctx, const char *host, uint16_t port, struct sockaddr_storage *out,
                     size_t max);
    /* A renewed certificate (checked: this agent's, this key, the CA's)
     * to install; returns 0 when handed over. */
    int (*cert)(void *ctx, const struct vg_key *key, const uint8_t *cert, size_t len);
};

/* Checks [collector] address entries.  Returns 0 or VG_ECONFIG with err. */
int transport_check_addresses(const struct vg_strlist *l, char *err, size_t errlen);
/* Checks [collector] proxy and proxy_auth_file: their syntax, and with
 * read_file the file's mode and first line too.  Returns 0 or an error
 * with err. */
int transport_check_proxy(const struct agent_conf *c, int read_file, char *err, size_t errlen);
/* Loads TLS material (agent id = certificate CN) and starts connecting.
 * Returns NULL with a message in err. */
struct transport *transport_new(struct agent *a, struct queue *q, char *err, size_t errlen);
/* Sets the hooks (copied); before the loop runs. */
void transport_set_hooks(struct transport *t, const struct transport_hooks *h);
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
/* 1 when connected and past the hello. */
int transport_ready(const struct transport *t);
/* Bytes waiting for the socket. */
size_t transport_queued(const struct transport *t);
/* Sends one envelope: 0, -ENOTCONN, VG_EAGAIN (queue full: not sent) or
 * an error. */
int transport_send(struct transport *t, Vigil__V1__Envelope *env);
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
