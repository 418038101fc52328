/*
 * HTTP CONNECT proxies: the agent's way out of networks whose only
 * egress is a proxy.  The client connects to the proxy, asks it for a
 * tunnel in plain HTTP, and runs TLS to the collector inside it (so the
 * proxy sees the collector's name and port, never the data):
 *
 *   agent                                proxy               collector
 *     | TCP                                |                     |
 *     |----------------------------------->|                     |
 *     | CONNECT collector:7443 HTTP/1.1    |                     |
 *     | Host: collector:7443               |                     |
 *     | Proxy-Authorization: Basic ...     | TCP                 |
 *     |----------------------------------->|-------------------->|
 *     |        HTTP/1.1 200 ... CRLF CRLF  |                     |
 *     |<-----------------------------------|                     |
 *     | TLS (mutual, the collector's name checked) through it     |
 *     |<=========================================================>|
 *
 * Only http:// proxies and Basic authentication (sent with the first
 * request).  The proxy's answer is read up to VG_PROXY_REPLY_MAX bytes;
 * what follows its blank line belongs to TLS.
 */
#ifndef VG_PROXY_H
#define VG_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "tls.h"

/* The most the proxy's answer to CONNECT may take, headers included. */
#define VG_PROXY_REPLY_MAX 8192
/* USER:PASSWORD, at most (decoded). */
#define VG_PROXY_AUTH_MAX 512

struct vg_proxy {
    char host[256];              /* without brackets */
    char port[8];                /* decimal */
    uint16_t portnum;
    char auth[VG_PROXY_AUTH_MAX]; /* "USER:PASSWORD", or empty: none */
    char auth_from[32];          /* where auth came from, for messages */
};

/* Parses "http://[USER:PASSWORD@]HOST:PORT[/]" (an IPv6 HOST in
 * brackets; USER and PASSWORD percent-encoded where they hold ':', '@',
 * '/' or '%').  Returns 0, or VG_ECONFIG with a message in err that never
 * repeats the password. */
int vg_proxy_parse(const char *url, struct vg_proxy *p, char *err, size_t errlen);
/* Takes USER:PASSWORD from the first line of path, which group and others
 * may not read.  Returns 0, or VG_ECONFIG / -errno with err. */
int vg_proxy_auth_file(struct vg_proxy *p, const char *path, char *err, size_t errlen);
/* Zeroises the credentials. */
void vg_proxy_clear(struct vg_proxy *p);
/* "127.0.0.1:3128" (brackets around IPv6), into out. */
const char *vg_proxy_name(const struct vg_proxy *p, char *out, size_t outlen);

/* The CONNECT request for host:port (host without brackets) into out,
 * which the caller initialised.  Returns 0 or VG_ETOOBIG/-ENOMEM. */
int vg_proxy_request(const struct vg_proxy *p, const char *host, const char *port,
                     struct vg_buf *out);
/* Reads the proxy's answer to CONNECT: data is all of it so far.
 * Returns 0 (incomplete: read on), 1 (the tunnel is open: *used bytes
 * were the answer), or with a message in why: -EACCES (407, or 401 as
 * some proxies say: credentials missing or refused), VG_EPROTO (another
 * status: the status line and a hint; or not HTTP) or VG_ETOOBIG (no end
 * within VG_PROXY_REPLY_MAX).  ctx: the struct vg_proxy that was asked (its
 * credentials decide the 407 message), or NULL. */
int vg_proxy_reply(void *ctx, const uint8_t *data, size_t len, size_t *used, char *why,
                   size_t whylen);
/* Fills a tunnel for lib/tls: the request (built in req, which must
 * outlive the connect call) and vg_proxy_reply with p as its context (p
 * must outlive the connection's handshake).  Returns 0 or an error. */
int vg_proxy_tunnel(const struct vg_proxy *p, const char *host, const char *port,
                    struct vg_buf *req, struct vg_tls_tunnel *t);

#endif
