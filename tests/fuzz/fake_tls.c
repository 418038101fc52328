/*
 * A stand-in for lib/tls.c in the collector's fuzz harnesses: connections
 * without sockets, with the peer certificate the harness gives them.
 * What the collector sends is counted and dropped.  Every function of
 * lib/tls.h is defined here, so the linker never takes lib/tls.o from
 * libvigil.a (which would define them twice).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector_fuzz.h"
#include "err.h"
#include "tls.h"

struct vg_tls_conn {
    struct vg_cert_info peer;
    char addr[64];
    void *data;
    int closed;
    int paused;
    uint64_t sent_bytes;
};

struct vg_tls_conn *fz_tls_new(enum vg_role role, const char *cn, const char *addr)
{
    struct vg_tls_conn *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    t->peer.role = role;
    if (cn) {
        snprintf(t->peer.cn, sizeof(t->peer.cn), "%s", cn);
        snprintf(t->peer.ou, sizeof(t->peer.ou), "%s", vg_role_name(role));
    }
    snprintf(t->peer.serial, sizeof(t->peer.serial), "0fa2");
    t->peer.not_after_ms = INT64_MAX;
    snprintf(t->addr, sizeof(t->addr), "%s", addr);
    return t;
}

void fz_tls_free(struct vg_tls_conn *t)
{
    free(t);
}

int fz_tls_closed(const struct vg_tls_conn *t)
{
    return t->closed;
}

int vg_tls_config_new(const struct vg_tls_opts *opts, struct vg_tls_config **out, char *err,
                      size_t errlen)
{
    (void)opts;
    *out = NULL;
    snprintf(err, errlen, "no TLS in a fuzz harness");
    return -ENOTSUP;
}

void vg_tls_config_free(struct vg_tls_config *cfg)
{
    (void)cfg;
}

int vg_tls_config_same_ca(const struct vg_tls_config *a, const struct vg_tls_config *b)
{
    return a == b;
}

int vg_tls_peer_verify(struct vg_tls_conn *c, const struct vg_tls_config *cfg, char *why,
                       size_t len)
{
    (void)c;
    (void)cfg;
    (void)why;
    (void)len;
    return 0;
}

const struct vg_cert_info *vg_tls_config_self(const struct vg_tls_config *cfg)
{
    static struct vg_cert_info self;
    (void)cfg;
    return &self;
}

void vg_tls_config_stats(const struct vg_tls_config *cfg, uint64_t *full, uint64_t *resumed)
{
    (void)cfg;
    *full = *resumed = 0;
}

int vg_tls_accept(uv_stream_t *listener, struct vg_tls_config *cfg,
                  const struct vg_tls_handlers *h, void *data, struct vg_tls_conn **out)
{
    (void)listener, (void)cfg, (void)h, (void)data;
    *out = NULL;
    return -ENOTSUP;
}

int vg_tls_connect(uv_loop_t *loop, struct vg_tls_config *cfg, const struct sockaddr *addr,
                   const char *server_name, struct vg_tls_session *session,
                   const struct vg_tls_handlers *h, void *data, struct vg_tls_conn **out)
{
    (void)loop, (void)cfg, (void)addr, (void)server_name, (void)session, (void)h, (void)data;
    *out = NULL;
    return -ENOTSUP;
}

int vg_tls_connect_via(uv_loop_t *loop, struct vg_tls_config *cfg, const struct sockaddr *addr,
                       const char *server_name, struct vg_tls_session *session,
                       const struct vg_tls_tunnel *tunnel, const struct vg_tls_handlers *h,
                       void *data, struct vg_tls_conn **out)
{
    (void)loop, (void)cfg, (void)addr, (void)server_name, (void)session, (void)tunnel, (void)h,
        (void)data;
    *out = NULL;
    return -ENOTSUP;
}

int vg_tls_write(struct vg_tls_conn *c, const void *data, size_t len)
{
    if (c->closed)
        return -ENOTCONN;
    /* Touch every byte: a response built from freed memory shows. */
    for (size_t i = 0; i < len; i++)
        c->sent_bytes += ((const uint8_t *)data)[i] != 0;
    return 0;
}

size_t vg_tls_queued(const struct vg_tls_conn *c)
{
    (void)c;
    return 0;
}

void vg_tls_close(struct vg_tls_conn *c, const char *why)
{
    (void)why;
    c->closed = 1;
}

void vg_tls_pause(struct vg_tls_conn *c, int paused)
{
    c->paused = paused;
}

void *vg_tls_data(const struct vg_tls_conn *c)
{
    return c->data;
}

void vg_tls_set_data(struct vg_tls_conn *c, void *data)
{
    c->data = data;
}

const struct vg_cert_info *vg_tls_peer(const struct vg_tls_conn *c)
{
    return &c->peer;
}

const char *vg_tls_peer_addr(const struct vg_tls_conn *c)
{
    return c->addr;
}

const char *vg_tls_proxy_addr(const struct vg_tls_conn *c)
{
    (void)c;
    return NULL;
}

const char *vg_tls_why(const struct vg_tls_conn *c)
{
    (void)c;
    return "";
}

int vg_tls_resumed(const struct vg_tls_conn *c)
{
    (void)c;
    return 0;
}

/* The fuzzed peer has spoken (it sent the bytes being fuzzed). */
uint64_t vg_tls_rx_bytes(const struct vg_tls_conn *c)
{
    (void)c;
    return 1;
}

int vg_tls_silent(struct vg_tls_conn *c)
{
    (void)c;
    return 0;
}

/* No ciphertext buffers: the fuzzed bytes arrive as plaintext. */
size_t vg_tls_held(const struct vg_tls_conn *c)
{
    (void)c;
    return 0;
}

const char *vg_tls_suite(const struct vg_tls_conn *c)
{
    (void)c;
    return "none";
}

struct vg_tls_session *vg_tls_session_new(void)
{
    return NULL;
}

void vg_tls_session_free(struct vg_tls_session *s)
{
    (void)s;
}
