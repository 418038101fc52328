/*
 * Mutual TLS over libuv TCP handles, with mbedtls.  No threads: mbedtls
 * is driven from libuv's read callbacks through its BIO hooks, and its
 * output is handed to uv_write().
 *
 * Policy, the same for every Vigil peer, with no way to weaken it:
 *   - TLS 1.2 (mbedtls 2.28 has no 1.3), ECDHE-ECDSA with AES-GCM or
 *     ChaCha20-Poly1305, curves P-256 first (mbedtls would otherwise
 *     prefer P-521, ~40% more CPU per handshake), no renegotiation;
 *   - the peer's certificate is always required and verified against the
 *     configured CA; clients also check the server's name;
 *   - servers issue session tickets (AES-256-GCM keys that rotate every
 *     ticket lifetime, capped at VG_TLS_TICKET_MAX_S, kept in a 0600
 *     file with the previous key so that tickets survive a restart);
 *     clients keep their session and resume with it;
 *   - TCP_NODELAY on both ends; a handshake must finish within the
 *     handshake timeout.
 *
 * A resumed session skips certificate verification in mbedtls, so the
 * owner's on_ready hook runs after *every* handshake and must check the
 * peer's identity and validity itself (vg_tls_peer()).
 */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "crypto.h"

#define VG_TLS_TICKET_DEFAULT_S 3600
#define VG_TLS_TICKET_MAX_S (24 * 3600)
#define VG_TLS_HANDSHAKE_TIMEOUT_MS 10000
/* vg_tls_write() refuses more plaintext once this much is queued. */
#define VG_TLS_WRITE_HIGH (4u * 1024 * 1024)

struct vg_tls_config;
struct vg_tls_conn;
struct vg_tls_session;

struct vg_tls_opts {
    int server;                     /* 1: accept connections; 0: connect */
    const char *ca, *cert, *key;    /* file paths */
    uint32_t ticket_lifetime_s;     /* server; 0: default */
    /* server: ticket keys, created 0600 if missing, refused if group or
     * others may read it; NULL: in memory only (lost at exit). */
    const char *ticket_key_file;
    uint32_t handshake_timeout_ms;  /* 0: default */
    /* Enrollment: the server does not ask for a client certificate (its
     * peers have none yet; vg_tls_peer is then empty), and the client
     * has none (cert and key NULL).  No session tickets either way. */
    int no_client_auth;
};

/* Loads CA, certificate and key, checks that they fit together and that
 * the certificate is valid now.  Returns 0, or an error code with a
 * message naming the file and the fix in err. */
int vg_tls_config_new(const struct vg_tls_opts *opts, struct vg_tls_config **out, char *err,
                      size_t errlen);
/* Drops the caller's reference: each connection made with cfg holds one
 * of its own, so a configuration replaced at a reload lives on until the
 * last connection using it has closed.  NULL: no-op. */
void vg_tls_config_free(struct vg_tls_config *cfg);
/* 1 if a and b trust the same CA certificates (byte for byte). */
int vg_tls_config_same_ca(const struct vg_tls_config *a, const struct vg_tls_config *b);
/* The configuration's own certificate. */
const struct vg_cert_info *vg_tls_config_self(const struct vg_tls_config *cfg);
/* Number of handshakes resumed from a ticket and completed in full (server). */
void vg_tls_config_stats(const struct vg_tls_config *cfg, uint64_t *full, uint64_t *resumed);

struct vg_tls_handlers {
    /* Handshake complete; vg_tls_peer() is valid.  Return 0 to keep the
     * connection, anything else to close it. */
    int (*on_ready)(struct vg_tls_conn *c);
    /* Plaintext received. */
    void (*on_data)(struct vg_tls_conn *c, const uint8_t *data, size_t len);
    /* Queued output fell below half of VG_TLS_WRITE_HIGH (optional). */
    void (*on_drain)(struct vg_tls_conn *c);
    /* The connection is gone: err 0 for an orderly close, else a code;
     * vg_tls_why() says why.  Called exactly once, also for connections
     * that never completed a handshake; c is freed when it returns. */
    void (*on_close)(struct vg_tls_conn *c, int err);
    /* Server, optional: asked once at accept, with the owner's data and
     * the peer's address.  Returning 1 makes the connection begin with a
     * PROXY protocol header, v1 or v2 (lib/proxyproto.h: the peer is a load
     * balancer), read before TLS under the handshake timeout; a
     * connection without one fails.  Once it is read, on_proxied is
     * called (optional; return 0 to go on): vg_tls_peer_addr() then
     * says the client's address and vg_tls_proxy_addr() the balancer's,
     * and vg_tls_rx_bytes() leaves the header out. */
    int (*proxied)(void *data, const struct sockaddr *peer);
    int (*on_proxied)(struct vg_tls_conn *c);
};

/* Server: accepts one pending connection on listener.  Returns 0 or a
 * negative libuv/errno code. */
int vg_tls_accept(uv_stream_t *listener, struct vg_tls_config *cfg,
                  const struct vg_tls_handlers *h, void *data, struct vg_tls_conn **out);
/* Client: connects to addr and runs the handshake, verifying the
 * server's certificate against server_name (required).  session (may be
 * NULL) is used to resume and updated after the handshake.  Failures are
 * reported through on_close.  Returns 0 or a negative libuv code. */
int vg_tls_connect(uv_loop_t *loop, struct vg_tls_config *cfg, const struct sockaddr *addr,
                   const char *server_name, struct vg_tls_session *session,
                   const struct vg_tls_handlers *h, void *data, struct vg_tls_conn **out);

/* A plaintext exchange on the TCP connection before TLS starts: a
 * CONNECT through an HTTP proxy (lib/proxy.h).  req is sent once TCP is
 * up (copied by the connect call); what the peer sends is then
 * collected and handed to reply, all of it each time, until reply
 * returns 1 (done: the first *used bytes were its part, the rest is
 * TLS's) or an error (the connection fails with it, why says why).
 * reply returning 0 means read on.  The handshake timeout bounds each
 * step (TCP connect, answer, TLS). */
struct vg_tls_tunnel {
    const uint8_t *req;
    size_t req_len;
    int (*reply)(void *ctx, const uint8_t *data, size_t len, size_t *used, char *why,
                 size_t whylen);
    void *ctx; /* must outlive the connection's handshake */
};
/* vg_tls_connect through a tunnel: addr is the proxy's, server_name the
 * collector's (checked in its certificate as ever).  tunnel NULL: as
 * vg_tls_connect. */
int vg_tls_connect_via(uv_loop_t *loop, struct vg_tls_config *cfg, const struct sockaddr *addr,
                       const char *server_name, struct vg_tls_session *session,
                       const struct vg_tls_tunnel *tunnel, const struct vg_tls_handlers *h,
                       void *data, struct vg_tls_conn **out);

/* Encrypts and queues plaintext.  Returns 0, -ENOTCONN (not open),
 * VG_EAGAIN (over VG_TLS_WRITE_HIGH: wait for on_drain) or VG_ECRYPTO. */
int vg_tls_write(struct vg_tls_conn *c, const void *data, size_t len);
/* Bytes queued for the socket. */
size_t vg_tls_queued(const struct vg_tls_conn *c);
/* Orderly close: close_notify, flush what is queued, close.  why is
 * logged by the owner (copied).  on_close follows. */
void vg_tls_close(struct vg_tls_conn *c, const char *why);
/* Stops/restarts reading (backpressure). */
void vg_tls_pause(struct vg_tls_conn *c, int paused);

void *vg_tls_data(const struct vg_tls_conn *c);
void vg_tls_set_data(struct vg_tls_conn *c, void *data);
/* Peer certificate, valid from on_ready on. */
const struct vg_cert_info *vg_tls_peer(const struct vg_tls_conn *c);
/* Verifies the peer's certificate of an open connection against cfg's CA
 * bundle, now (validity, signature, chain): for a reload that changed the
 * CA.  Returns 0 (verified, or no peer certificate: enrollment), or
 * VG_ECERT with the reasons in why. */
int vg_tls_peer_verify(struct vg_tls_conn *c, const struct vg_tls_config *cfg, char *why,
                       size_t len);
/* "192.0.2.1:53422" */
const char *vg_tls_peer_addr(const struct vg_tls_conn *c);
/* The load balancer's address when the connection came through one
 * (handlers' proxied), else NULL. */
const char *vg_tls_proxy_addr(const struct vg_tls_conn *c);
/* Bytes read from the peer so far (0: it has said nothing yet). */
uint64_t vg_tls_rx_bytes(const struct vg_tls_conn *c);
/* Bytes held in c's own ciphertext buffers (not mbedtls's records). */
size_t vg_tls_held(const struct vg_tls_conn *c);
/* 1 when the peer has sent nothing at all, read or waiting in the socket. */
int vg_tls_silent(struct vg_tls_conn *c);
/* Why the connection failed or closed (empty if not known). */
const char *vg_tls_why(const struct vg_tls_conn *c);
/* 1 if the handshake resumed a session (a client knows it because the
 * server's certificate was not verified: a resumed session skips it). */
int vg_tls_resumed(const struct vg_tls_conn *c);
/* Negotiated suite, e.g. "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256". */
const char *vg_tls_suite(const struct vg_tls_conn *c);

struct vg_tls_session *vg_tls_session_new(void);
void vg_tls_session_free(struct vg_tls_session *s);

#endif
