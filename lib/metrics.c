/*
 * The Prometheus text endpoint (metrics.h).
 *
 * Lifetime: the server owns its listener and connections; each
 * connection owns a TCP handle and a timer and is freed once both are
 * closed.  The server is freed by the last close callback of all (its
 * listener's or a connection's) after vg_metrics_stop().
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"

#define REQ_MAX 8192
#define CONN_MAX 16
#define REQ_TIMEOUT_MS 5000
#define BODY_MAX (4u * 1024 * 1024)

struct mconn;

struct vg_metrics {
    uv_loop_t *loop;
    uv_tcp_t listener;
    vg_metrics_render_fn fn;
    void *ctx;
    struct mconn *conns;
    unsigned nconns;
    unsigned live; /* handles not yet closed: the listener's, two per connection */
    int stopping;
};

struct mconn {
    struct vg_metrics *m;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sh;
    char in[REQ_MAX];
    size_t inlen;
    int responded, closing;
    unsigned open; /* of its two handles */
    uint8_t *out;
    struct mconn *next, *prev;
};

/* ---- the address ---- */

static int is_loopback(const struct vg_netaddr *a)
{
    static const uint8_t v6lo[16] = { [15] = 1 };
    if (a->family == AF_INET)
        return a->addr[0] == 127;
    return memcmp(a->addr, v6lo, 16) == 0;
}

int vg_metrics_parse_listen(const char *spec, int allow_remote, const char *key,
                            struct sockaddr_storage *ss, char *err, size_t errlen)
{
    struct vg_netaddr a;
    char why[160];

    memset(ss, 0, sizeof(*ss));
    if (vg_netaddr_parse(spec, &a, why, sizeof(why)) != 0 || a.port == 0 ||
        a.prefix != (a.family == AF_INET ? 32u : 128u) || a.proto != 0) {
        snprintf(err, errlen, "%s '%s': expected an address and a port (127.0.0.1:9810, "
                 "[::1]:9810)", key, spec);
        return VG_ECONFIG;
    }
    if (!allow_remote && !is_loopback(&a)) {
        snprintf(err, errlen, "%s '%s': not a loopback address; the endpoint has no "
                 "authentication, so another address needs [metrics] allow_remote = yes",
                 key, spec);
        return VG_ECONFIG;
    }
    if (a.family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a.port);
        memcpy(&in->sin_addr, a.addr, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a.port);
        memcpy(&in6->sin6_addr, a.addr, 16);
    }
    return 0;
}

/* ---- connections ---- */

static void server_unref(struct vg_metrics *m)
{
    if (--m->live == 0 && m->stopping)
        free(m);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct mconn *c = h->data;
    struct vg_metrics *m = c->m;

    server_unref(m); /* m outlives c: this handle still counts in m->live */
    if (--c->open)
        return;
    free(c->out);
    free(c);
}

static void conn_close(struct mconn *c)
{
    struct vg_metrics *m = c->m;

    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->nconns--;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct mconn *c = t->data;
    conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct mconn *c = req->data;
    (void)status;
    /* Read on until the peer closes (or the timer fires): closing with
     * unread bytes would reset the connection under the response. */
    if (status < 0)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    struct mconn *c = req->data;
    free(c->out);
    c->out = NULL;
    if (status < 0 || c->closing) {
        conn_close(c);
        return;
    }
    c->sh.data = c;
    if (uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

static void respond(struct mconn *c, int code, const char *reason, const char *extra,
                    const struct vg_buf *body, int head_only)
{
    struct vg_buf out;
    size_t blen = body ? body->len : strlen(reason) + 1;
    uv_buf_t ub;

    c->responded = 1;
    vg_buf_init(&out, BODY_MAX + 1024);
    if (vg_buf_printf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n%s\r\n", code, reason,
                      body ? "text/plain; version=0.0.4; charset=utf-8"
                           : "text/plain; charset=utf-8",
                      blen, extra ? extra : "") != 0 ||
        (!head_only && (body ? vg_buf_append(&out, body->data ? body->data : (const uint8_t *)"",
                                             body->len)
                             : vg_buf_printf(&out, "%s\n", reason)) != 0)) {
        vg_buf_free(&out);
        conn_close(c);
        return;
    }
    ub.len = out.len;
    c->out = vg_buf_take(&out, NULL);
    ub.base = (char *)c->out;
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0) {
        free(c->out);
        c->out = NULL;
        conn_close(c);
    }
}

/* The request is in c->in up to the blank line (len bytes). */
static void handle_request(struct mconn *c, size_t len)
{
    const char *p = c->in, *end = c->in + len, *sp1, *sp2, *eol;
    size_t mlen, plen;
    int head;

    eol = memchr(p, '\n', len);
    sp1 = memchr(p, ' ', (size_t)(eol - p));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1 || (size_t)(eol - sp2) < 9 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        respond(c, 400, "Bad Request", NULL, NULL, 0);
        return;
    }
    (void)end;
    mlen = (size_t)(sp1 - p);
    head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
    if (!head && !(mlen == 3 && memcmp(p, "GET", 3) == 0)) {
        respond(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", NULL, 0);
        return;
    }
    plen = (size_t)(sp2 - sp1 - 1);
    {
        const char *q = memchr(sp1 + 1, '?', plen);
        if (q)
            plen = (size_t)(q - sp1 - 1);
    }
    if (plen != 8 || memcmp(sp1 + 1, "/metrics", 8) != 0) {
        respond(c, 404, "Not Found", NULL, NULL, head);
        return;
    }
    {
        struct vg_prom pr;
        memset(&pr, 0, sizeof(pr));
        vg_buf_init(&pr.b, BODY_MAX);
        c->m->fn(c->m->ctx, &pr);
        if (pr.err)
            respond(c, 500, "Internal Server Error", NULL, NULL, head);
        else
            respond(c, 200, "OK", NULL, &pr.b, head);
        vg_buf_free(&pr.b);
    }
}

/* The end of the header block: the length up to and with the blank line,
 * or 0. */
static size_t header_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mconn *c = h->data;
    static char sink[1024];
    (void)suggested;
    if (c->responded) { /* what follows the request is read and ignored */
        buf->base = sink;
        buf->len = sizeof(sink);
        return;
    }
    buf->base = c->in + c->inlen;
    buf->len = sizeof(c->in) - c->inlen;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct mconn *c = s->data;
    size_t end;

    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (c->responded || n == 0)
        return;
    c->inlen += (size_t)n;
    if ((end = header_end(c->in, c->inlen)) != 0)
        handle_request(c, end);
    else if (c->inlen == sizeof(c->in))
        respond(c, 431, "Request Header Fields Too Large", NULL, NULL, 0);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct vg_metrics *m = l->data;
    struct mconn *c;

    if (status < 0 || m->stopping)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->m = m;
    uv_tcp_init(m->loop, &c->tcp);
    uv_timer_init(m->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open = 2;
    m->live += 2;
    c->next = m->conns;
    if (m->conns)
        m->conns->prev = c;
    m->conns = c;
    m->nconns++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (m->nconns > CONN_MAX) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, REQ_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) != 0)
        conn_close(c);
}

static void listener_closed(uv_handle_t *h)
{
    server_unref(h->data);
}

int vg_metrics_listen(uv_loop_t *loop, const char *spec, int allow_remote,
                      vg_metrics_render_fn fn, void *ctx, struct vg_metrics **out, char *err,
                      size_t errlen)
{
    struct sockaddr_storage ss;
    struct vg_metrics *m;
    int rc;

    *out = NULL;
    if (!spec || !spec[0])
        return 0;
    if ((rc = vg_metrics_parse_listen(spec, allow_remote, "[metrics] listen", &ss, err,
                                      errlen)) != 0)
        return rc;
    if (!(m = calloc(1, sizeof(*m)))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->loop = loop;
    m->fn = fn;
    m->ctx = ctx;
    m->live = 1;
    uv_tcp_init(loop, &m->listener);
    m->listener.data = m;
    if ((rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&m->listener, 16, on_connection)) != 0) {
        snprintf(err, errlen, "[metrics] listen %s: %s", spec, uv_strerror(rc));
        m->stopping = 1;
        uv_close((uv_handle_t *)&m->listener, listener_closed);
        return VG_ECONFIG;
    }
    log_info("metrics on http://%s/metrics", spec);
    *out = m;
    return 0;
}

void vg_metrics_stop(struct vg_metrics *m)
{
    if (!m || m->stopping)
        return;
    m->stopping = 1;
    while (m->conns)
        conn_close(m->conns);
    uv_close((uv_handle_t *)&m->listener, listener_closed);
}

/* ---- the text format ---- */

static void put(struct vg_prom *p, int rc)
{
    if (rc && !p->err)
        p->err = rc;
}

void vg_prom_family(struct vg_prom *p, const char *name, const char *type, const char *help)
{
    if (p->err)
        return;
    put(p, vg_buf_printf(&p->b, "# HELP %s ", name));
    /* HELP escapes only \\ and \n. */
    for (const char *h = help; *h && !p->err; h++)
        put(p, *h == '\\' ? vg_buf_append_str(&p->b, "\\\\")
               : *h == '\n' ? vg_buf_append_str(&p->b, "\\n")
                            : vg_buf_append(&p->b, h, 1));
    put(p, vg_buf_printf(&p->b, "\n# TYPE %s %s\n", name, type));
}

static void sample_name(struct vg_prom *p, const char *name, const char *label, const char *value)
{
    put(p, vg_buf_append_str(&p->b, name));
    if (!label || p->err)
        return;
    put(p, vg_buf_printf(&p->b, "{%s=\"", label));
    for (const char *v = value; *v && !p->err; v++)
        put(p, *v == '\\' ? vg_buf_append_str(&p->b, "\\\\")
               : *v == '"' ? vg_buf_append_str(&p->b, "\\\"")
               : *v == '\n' ? vg_buf_append_str(&p->b, "\\n")
                            : vg_buf_append(&p->b, v, 1));
    put(p, vg_buf_append_str(&p->b, "\"}"));
}

void vg_prom_u64(struct vg_prom *p, const char *name, const char *label, const char *value,
                 uint64_t v)
{
    if (p->err)
        return;
    sample_name(p, name, label, value);
    put(p, vg_buf_printf(&p->b, " %llu\n", (unsigned long long)v));
}

void vg_prom_double(struct vg_prom *p, const char *name, const char *label, const char *value,
                    double v)
{
    if (p->err)
        return;
    sample_name(p, name, label, value);
    if (isnan(v))
        put(p, vg_buf_append_str(&p->b, " NaN\n"));
    else if (isinf(v))
        put(p, vg_buf_append_str(&p->b, v > 0 ? " +Inf\n" : " -Inf\n"));
    else
        put(p, vg_buf_printf(&p->b, " %.17g\n", v));
}

void vg_prom_counter(struct vg_prom *p, const char *name, const char *help, uint64_t v)
{
    vg_prom_family(p, name, "counter", help);
    vg_prom_u64(p, name, NULL, NULL, v);
}

void vg_prom_gauge(struct vg_prom *p, const char *name, const char *help, uint64_t v)
{
    vg_prom_family(p, name, "gauge", help);
    vg_prom_u64(p, name, NULL, NULL, v);
}

void vg_prom_histogram(struct vg_prom *p, const char *name, const char *help, const double *le,
                       const uint64_t *counts, size_t n, uint64_t over, double sum)
{
    char sname[128], bound[32];
    uint64_t cum = 0;

    vg_prom_family(p, name, "histogram", help);
    snprintf(sname, sizeof(sname), "%s_bucket", name);
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        snprintf(bound, sizeof(bound), "%g", le[i]);
        vg_prom_u64(p, sname, "le", bound, cum);
    }
    cum += over;
    vg_prom_u64(p, sname, "le", "+Inf", cum);
    snprintf(sname, sizeof(sname), "%s_sum", name);
    vg_prom_double(p, sname, NULL, NULL, sum);
    snprintf(sname, sizeof(sname), "%s_count", name);
    vg_prom_u64(p, sname, NULL, NULL, cum);
}
