/*
 * Envelopes over a TLS connection: framing (lib/frame.h) plus protobuf.
 * Shared by the agent, the collector and vigilctl.
 */
#ifndef VG_WIRE_H
#define VG_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "frame.h"
#include "tls.h"
#include "vigil/v1/envelope.pb-c.h"

/* Sets env->sent_time_ms, frames and queues env.  Returns 0, VG_EAGAIN
 * (send queue full: wait for on_drain), -ENOTCONN or another error. */
int vg_wire_send(struct vg_tls_conn *c, Vigil__V1__Envelope *env);
/* Answers a peer's heartbeat (unless it is itself an echo).  Returns 0
 * or what vg_wire_send returns. */
int vg_wire_heartbeat_reply(struct vg_tls_conn *c, const Vigil__V1__Heartbeat *hb);
/* Sends an Error envelope, then closes the connection orderly. */
void vg_wire_fail(struct vg_tls_conn *c, Vigil__V1__Error__Code code, const char *msg);

/* Called for each complete Envelope; owns env (free with vg_pb_free on
 * &env->base).  Return 0 to continue, non-zero to stop reading (the
 * connection was closed or paused). */
typedef int (*vg_wire_cb)(void *ctx, Vigil__V1__Envelope *env);

/* Feeds received bytes and calls cb for every complete Envelope.
 * Returns 0, or the frame or decode error (VG_ETOOBIG, VG_ETRUNC,
 * VG_ELZ4, VG_EDECODE, ...): the caller must close the connection. */
int vg_wire_feed(struct vg_frame_reader *r, const uint8_t *data, size_t len, vg_wire_cb cb,
                 void *ctx);
/* Delivers envelopes already buffered (after a pause).  Same returns. */
int vg_wire_drain(struct vg_frame_reader *r, vg_wire_cb cb, void *ctx);

/* Name of an envelope body, for logs ("hello", "batch", ...). */
const char *vg_wire_body_name(const Vigil__V1__Envelope *env);
/* One request, one answer: connects to addr with cfg on a loop of its
 * own, checks that the peer is a collector, sends req, and waits (at
 * most timeout_ms) for an envelope whose body is want (a
 * VIGIL__V1__ENVELOPE__BODY_* value).  On success returns 0 with *resp
 * (free with vg_pb_free); otherwise an error with the reason in err. */
int vg_wire_call(struct vg_tls_config *cfg, const struct sockaddr *addr, const char *server_name,
                 Vigil__V1__Envelope *req, int want, uint32_t timeout_ms,
                 Vigil__V1__Envelope **resp, char *err, size_t errlen);
/* vg_wire_call through a tunnel (an HTTP proxy: addr is the proxy's);
 * tunnel NULL: as vg_wire_call. */
int vg_wire_call_via(struct vg_tls_config *cfg, const struct sockaddr *addr,
                     const char *server_name, const struct vg_tls_tunnel *tunnel,
                     Vigil__V1__Envelope *req, int want, uint32_t timeout_ms,
                     Vigil__V1__Envelope **resp, char *err, size_t errlen);
/* "queued", "succeeded", "rolled-back"...: a vigil.v1.CommandState as
 * operators see it ("unknown" for others). */
const char *vg_command_state_name(int state);

#endif
