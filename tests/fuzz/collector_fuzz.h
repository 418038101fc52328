/*
 * The collector as its fuzz harnesses drive it: one struct server with a
 * real SQLite store, collections and imports in a temporary directory,
 * an enrollment CA, and connections without sockets (fake_tls.c stands in
 * for lib/tls.c).  Input goes through the real Envelope decoder and the
 * collector's own entry points: server_on_env (agent sessions, operator
 * requests through api.c's table, enrollment) and server_commit.
 *
 *   fuzz bytes --(as one Envelope field)--> vg_pb_unpack(Envelope)
 *              --> server_on_env(conn, env) --> handlers --> store
 */
#ifndef VG_COLLECTOR_FUZZ_H
#define VG_COLLECTOR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "../../collector/collector.h"

/* The agent every harness speaks as (its certificate's CN). */
#define FZ_AGENT "fz-agent"
/* A command id or upload id equal to this is replaced by the id of the
 * command the harness queued for FZ_AGENT (fz_command). */
#define FZ_CMD_PLACEHOLDER "00000000-0000-4000-8000-000000000000"
/* The enrollment token fz_server() made; a request with token "T" gets it. */
#define FZ_TOKEN "vge1-0123456789abcdef0123456789abcdef01234567"

/* The server, set up at the first call (aborts if it cannot be). */
struct server *fz_server(void);

/* A connection as after its TLS handshake: a peer with this role and CN,
 * of this kind.  Free with fz_conn_drop. */
struct conn *fz_conn(enum vg_role role, const char *cn, enum conn_kind kind);
/* What on_close does: forgets the agent, its pending batches, frees c. */
void fz_conn_drop(struct conn *c);
/* A valid hello from FZ_AGENT on c.  Returns 0 if c is now an agent
 * session (hello done). */
int fz_hello(struct conn *c);

/* Decodes data as the Envelope field named body ("hello", "batch", ...),
 * the way the wire decodes a whole Envelope.  Returns the envelope
 * (server_on_env takes it; else free with vg_pb_free) or NULL. */
Vigil__V1__Envelope *fz_decode(const char *body, const uint8_t *data, size_t len);
/* Queues a command (action "isolate", "release" or "collect") for
 * FZ_AGENT, delivered; its id in id.  Aborts on a store error. */
void fz_command(const char *action, char id[VG_UUID_STR]);
/* Ends the command id (failed) if it is not over yet. */
void fz_command_finish(struct conn *agent, const char *id);
/* Replaces FZ_CMD_PLACEHOLDER in s (in place: same length) with id. */
void fz_placeholder(char *s, const char *id);

/* fake_tls.c */
struct vg_tls_conn *fz_tls_new(enum vg_role role, const char *cn, const char *addr);
void fz_tls_free(struct vg_tls_conn *t);
int fz_tls_closed(const struct vg_tls_conn *t);

#endif
