/* Messages between the agent's two processes; see psmsg.h. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "psmsg.h"

const char *vg_ps_name(uint32_t type)
{
    static const char *const child[] = { "", "hello", "event-ack", "stats", "conn", "command",
                                         "probe-done", "cert" };
    static const char *const parent[] = { "event", "result", "upload", "probe", "pins",
                                          "source", "cert-done", "shutdown" };
    if (type > 0 && type < sizeof(child) / sizeof(child[0]))
        return child[type];
    if (type >= VG_PS_EVENT && type - VG_PS_EVENT < sizeof(parent) / sizeof(parent[0]))
        return parent[type - VG_PS_EVENT];
    return "unknown";
}

/* ---- encoding ---- */

struct enc {
    uint8_t *p;
    size_t len, cap;
    int bad;
};

static void put(struct enc *e, const void *p, size_t n)
{
    if (e->bad || n > e->cap - e->len) {
        e->bad = 1;
        return;
    }
    memcpy(e->p + e->len, p, n);
    e->len += n;
}

static void put_u8(struct enc *e, uint8_t v) { put(e, &v, 1); }

static void put_u16(struct enc *e, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    put(e, b, 2);
}

static void put_u32(struct enc *e, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(e, b, 4);
}

static void put_u64(struct enc *e, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(e, b, 8);
}

static void put_sstr(struct enc *e, const char *s, size_t limit)
{
    size_t n = strlen(s);
    if (n > limit || n > 0xffff) {
        e->bad = 1;
        return;
    }
    put_u16(e, (uint16_t)n);
    put(e, s, n);
}

static void put_blob(struct enc *e, const void *p, size_t n, size_t limit)
{
    if (n > limit || n > UINT32_MAX) {
        e->bad = 1;
        return;
    }
    put_u32(e, (uint32_t)n);
    put(e, p, n);
}

static void put_addr(struct enc *e, const struct vg_ps_addr *a)
{
    put_u8(e, a->family);
    put(e, a->addr, 16);
    put_u16(e, a->port);
}

/* Starts a message of at most max payload bytes in out. */
static int begin(struct vg_buf *out, struct enc *e, size_t max)
{
    int rc = vg_buf_reserve(out, VG_PS_HDR + max);
    if (rc)
        return rc;
    e->p = out->data + out->len + VG_PS_HDR;
    e->len = 0;
    e->cap = max;
    e->bad = 0;
    return 0;
}

static int finish(struct vg_buf *out, struct enc *e, uint32_t type)
{
    uint8_t *h = out->data + out->len;
    if (e->bad)
        return VG_ETOOBIG;
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(type >> (8 * i));
        h[4 + i] = (uint8_t)(e->len >> (8 * i));
    }
    out->len += VG_PS_HDR + e->len;
    out->data[out->len] = 0;
    return 0;
}

#define ENCODE(out, type, max, ...)                                                           \
    do {                                                                                       \
        struct enc e_;                                                                         \
        struct enc *e = &e_;                                                                   \
        int rc_ = begin((out), e, (max));                                                      \
        if (rc_)                                                                               \
            return rc_;                                                                        \
        __VA_ARGS__;                                                                           \
        return finish((out), e, (type));                                                       \
    } while (0)

int vg_ps_put_u64(struct vg_buf *out, uint32_t type, uint64_t v)
{
    ENCODE(out, type, 8, put_u64(e, v));
}

int vg_ps_put_bytes(struct vg_buf *out, uint32_t type, const void *p, size_t len)
{
    if (len > VG_PS_MAX_PARENT - 4)
        return VG_ETOOBIG;
    ENCODE(out, type, len + 4, put_blob(e, p, len, VG_PS_MAX_PARENT - 4));
}

static void put_tag(struct enc *e, const struct vg_ps_tag *t)
{
    put_u64(e, t->epoch);
    put_u64(e, t->seq);
    put_u32(e, t->ring_id);
    put_u32(e, t->ring_sub);
    put_u64(e, t->ring_pos);
}

int vg_ps_put_event(struct vg_buf *out, const struct vg_ps_tag *t, const void *ev, size_t len)
{
    if (len > VG_PS_MAX_PARENT - 4 - VG_PS_TAG_SIZE)
        return VG_ETOOBIG;
    ENCODE(out, VG_PS_EVENT, VG_PS_TAG_SIZE + len + 4, {
        put_tag(e, t);
        put_blob(e, ev, len, VG_PS_MAX_PARENT - 4 - VG_PS_TAG_SIZE);
    });
}

int vg_ps_put_str(struct vg_buf *out, uint32_t type, const char *s)
{
    ENCODE(out, type, 2 + VG_PS_TEXT_MAX, put_sstr(e, s, VG_PS_TEXT_MAX));
}

int vg_ps_put_hello(struct vg_buf *out, uint32_t version, uint32_t pid)
{
    ENCODE(out, VG_PS_HELLO, 8, { put_u32(e, version); put_u32(e, pid); });
}

int vg_ps_put_stats(struct vg_buf *out, const struct vg_ps_stats *s)
{
    ENCODE(out, VG_PS_STATS, 56, {
        put_u64(e, s->queued_events);
        put_u64(e, s->queued_batches);
        put_u64(e, s->queued_bytes);
        put_u64(e, s->events_total);
        put_u64(e, s->batches_sent);
        put_u64(e, s->reconnects);
        put_u64(e, s->dropped_total);
    });
}

int vg_ps_put_conn(struct vg_buf *out, const struct vg_ps_conn *c)
{
    ENCODE(out, VG_PS_CONN, 1 + 19 + 2 + VG_PS_HOST_MAX, {
        put_u8(e, c->up);
        put_addr(e, &c->peer);
        put_sstr(e, c->host, VG_PS_HOST_MAX);
    });
}

int vg_ps_put_command(struct vg_buf *out, const struct vg_ps_command *c)
{
    if (c->nallow > VG_PS_ALLOW_MAX)
        return VG_ETOOBIG;
    ENCODE(out, VG_PS_COMMAND, VG_PS_MAX_CHILD, {
        put_sstr(e, c->id, VG_PS_ID_MAX);
        put_sstr(e, c->operator_name, VG_PS_TEXT_MAX);
        put_sstr(e, c->reason, VG_PS_TEXT_MAX);
        put_u64(e, (uint64_t)c->issued_ms);
        put_u64(e, (uint64_t)c->expires_ms);
        put_u32(e, c->action);
        put_u64(e, (uint64_t)c->isolate_expires_ms);
        put_u32(e, c->nallow);
        for (uint32_t i = 0; i < c->nallow; i++) {
            put_sstr(e, c->allow[i].cidr, sizeof(c->allow[i].cidr) - 1);
            put_u32(e, c->allow[i].port);
            put_sstr(e, c->allow[i].protocol, sizeof(c->allow[i].protocol) - 1);
        }
        put_u64(e, c->collect_max_bytes);
        put_u32(e, c->collect_max_seconds);
    });
}

int vg_ps_put_probe_done(struct vg_buf *out, uint32_t id, int32_t rc, const char *why)
{
    ENCODE(out, VG_PS_PROBE_DONE, 8 + 2 + VG_PS_TEXT_MAX, {
        put_u32(e, id);
        put_u32(e, (uint32_t)rc);
        put_sstr(e, why, VG_PS_TEXT_MAX);
    });
}

int vg_ps_put_cert(struct vg_buf *out, const struct vg_ps_cert *c)
{
    ENCODE(out, VG_PS_CERT, 8 + 2 * VG_PS_CERT_MAX, {
        put_blob(e, c->key, c->key_len, VG_PS_CERT_MAX);
        put_blob(e, c->cert, c->cert_len, VG_PS_CERT_MAX);
    });
}

int vg_ps_put_upload(struct vg_buf *out, const struct vg_ps_upload *u)
{
    ENCODE(out, VG_PS_UPLOAD, 3 * 2 + 2 * VG_PS_ID_MAX + 159 + 8 + 32, {
        put_sstr(e, u->id, VG_PS_ID_MAX);
        put_sstr(e, u->command_id, VG_PS_ID_MAX);
        put_sstr(e, u->name, sizeof(u->name) - 1);
        put_u64(e, u->size);
        put(e, u->sha256, 32);
    });
}

int vg_ps_put_probe(struct vg_buf *out, const struct vg_ps_probe *p)
{
    ENCODE(out, VG_PS_PROBE, 4 + 19 + 8, {
        put_u32(e, p->id);
        put_addr(e, &p->addr);
        put_u64(e, p->timeout_ms);
    });
}

int vg_ps_put_pins(struct vg_buf *out, const struct vg_ps_pins *p)
{
    if (p->n > VG_PS_PINS_MAX)
        return VG_ETOOBIG;
    ENCODE(out, VG_PS_PINS, 4 + VG_PS_PINS_MAX * (2 + VG_PS_HOST_MAX + 19), {
        put_u32(e, p->n);
        for (uint32_t i = 0; i < p->n; i++) {
            put_sstr(e, p->v[i].host, VG_PS_HOST_MAX);
            put_addr(e, &p->v[i].addr);
        }
    });
}

int vg_ps_put_cert_done(struct vg_buf *out, int32_t rc, const char *msg)
{
    ENCODE(out, VG_PS_CERT_DONE, 4 + 2 + VG_PS_TEXT_MAX, {
        put_u32(e, (uint32_t)rc);
        put_sstr(e, msg, VG_PS_TEXT_MAX);
    });
}

/* ---- decoding ---- */

struct dec {
    const uint8_t *p;
    size_t len, off;
    int bad;
};

static const uint8_t *take(struct dec *d, size_t n)
{
    const uint8_t *p;
    if (d->bad || n > d->len - d->off) {
        d->bad = 1;
        return NULL;
    }
    p = d->p + d->off;
    d->off += n;
    return p;
}

static uint8_t get_u8(struct dec *d)
{
    const uint8_t *p = take(d, 1);
    return p ? p[0] : 0;
}

static uint16_t get_u16(struct dec *d)
{
    const uint8_t *p = take(d, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t get_u32(struct dec *d)
{
    const uint8_t *p = take(d, 4);
    uint32_t v = 0;
    for (int i = 0; p && i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(struct dec *d)
{
    const uint8_t *p = take(d, 8);
    uint64_t v = 0;
    for (int i = 0; p && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A string of at most outlen-1 bytes, with no NUL inside. */
static void get_sstr(struct dec *d, char *out, size_t outlen)
{
    uint16_t n = get_u16(d);
    const uint8_t *p;
    out[0] = '\0';
    if (d->bad)
        return;
    if ((size_t)n >= outlen) {
        d->bad = 1;
        return;
    }
    if (!(p = take(d, n)))
        return;
    if (memchr(p, 0, n)) {
        d->bad = 1;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

static const uint8_t *get_blob(struct dec *d, size_t limit, size_t *n)
{
    uint32_t len = get_u32(d);
    *n = 0;
    if (d->bad || len > limit) {
        d->bad = 1;
        return NULL;
    }
    *n = len;
    return take(d, len);
}

static void get_addr(struct dec *d, struct vg_ps_addr *a)
{
    const uint8_t *p;
    a->family = get_u8(d);
    if ((p = take(d, 16)))
        memcpy(a->addr, p, 16);
    a->port = get_u16(d);
    if (!d->bad && a->family != AF_INET && a->family != AF_INET6 && a->family != 0)
        d->bad = 1;
}

static int done(const struct dec *d)
{
    return d->bad || d->off != d->len ? VG_EPROTO : 0;
}

#define DECODE(p, len, ...)                                                                   \
    do {                                                                                       \
        struct dec d_ = { (p), (len), 0, 0 };                                                  \
        struct dec *d = &d_;                                                                   \
        __VA_ARGS__;                                                                           \
        return done(d);                                                                        \
    } while (0)

int vg_ps_get_u64(const uint8_t *p, size_t len, uint64_t *v)
{
    DECODE(p, len, *v = get_u64(d));
}

int vg_ps_get_str(const uint8_t *p, size_t len, char *out, size_t outlen)
{
    DECODE(p, len, get_sstr(d, out, outlen));
}

int vg_ps_get_bytes(const uint8_t *p, size_t len, const uint8_t **data, size_t *n)
{
    DECODE(p, len, *data = get_blob(d, VG_PS_MAX_PARENT - 4, n));
}

int vg_ps_get_event(const uint8_t *p, size_t len, struct vg_ps_tag *t, const uint8_t **ev,
                    size_t *n)
{
    DECODE(p, len, {
        t->epoch = get_u64(d);
        t->seq = get_u64(d);
        t->ring_id = get_u32(d);
        t->ring_sub = get_u32(d);
        t->ring_pos = get_u64(d);
        *ev = get_blob(d, VG_PS_MAX_PARENT - 4 - VG_PS_TAG_SIZE, n);
    });
}

int vg_ps_get_hello(const uint8_t *p, size_t len, uint32_t *version, uint32_t *pid)
{
    DECODE(p, len, {
        *version = get_u32(d);
        *pid = get_u32(d);
    });
}

int vg_ps_get_stats(const uint8_t *p, size_t len, struct vg_ps_stats *s)
{
    DECODE(p, len, {
        s->queued_events = get_u64(d);
        s->queued_batches = get_u64(d);
        s->queued_bytes = get_u64(d);
        s->events_total = get_u64(d);
        s->batches_sent = get_u64(d);
        s->reconnects = get_u64(d);
        s->dropped_total = get_u64(d);
    });
}

int vg_ps_get_conn(const uint8_t *p, size_t len, struct vg_ps_conn *c)
{
    DECODE(p, len, {
        c->up = get_u8(d);
        get_addr(d, &c->peer);
        get_sstr(d, c->host, sizeof(c->host));
        if (c->up > 1)
            d->bad = 1;
    });
}

int vg_ps_get_command(const uint8_t *p, size_t len, struct vg_ps_command *c)
{
    DECODE(p, len, {
        memset(c, 0, sizeof(*c));
        get_sstr(d, c->id, sizeof(c->id));
        get_sstr(d, c->operator_name, sizeof(c->operator_name));
        get_sstr(d, c->reason, sizeof(c->reason));
        c->issued_ms = (int64_t)get_u64(d);
        c->expires_ms = (int64_t)get_u64(d);
        c->action = get_u32(d);
        c->isolate_expires_ms = (int64_t)get_u64(d);
        c->nallow = get_u32(d);
        if (c->action > VG_PS_ACT_COLLECT || c->nallow > VG_PS_ALLOW_MAX)
            d->bad = 1;
        for (uint32_t i = 0; !d->bad && i < c->nallow; i++) {
            get_sstr(d, c->allow[i].cidr, sizeof(c->allow[i].cidr));
            c->allow[i].port = get_u32(d);
            get_sstr(d, c->allow[i].protocol, sizeof(c->allow[i].protocol));
            if (c->allow[i].port > 65535)
                d->bad = 1;
        }
        c->collect_max_bytes = get_u64(d);
        c->collect_max_seconds = get_u32(d);
    });
}

int vg_ps_get_probe_done(const uint8_t *p, size_t len, uint32_t *id, int32_t *rc, char *why,
                         size_t whylen)
{
    DECODE(p, len, {
        *id = get_u32(d);
        *rc = (int32_t)get_u32(d);
        get_sstr(d, why, whylen);
    });
}

int vg_ps_get_cert(const uint8_t *p, size_t len, struct vg_ps_cert *c)
{
    DECODE(p, len, {
        size_t kn;
        size_t cn;
        const uint8_t *k = get_blob(d, VG_PS_CERT_MAX, &kn);
        const uint8_t *x = get_blob(d, VG_PS_CERT_MAX, &cn);
        if (!d->bad) {
            memcpy(c->key, k, kn);
            memcpy(c->cert, x, cn);
            c->key_len = (uint32_t)kn;
            c->cert_len = (uint32_t)cn;
        }
    });
}

int vg_ps_get_upload(const uint8_t *p, size_t len, struct vg_ps_upload *u)
{
    DECODE(p, len, {
        const uint8_t *h;
        get_sstr(d, u->id, sizeof(u->id));
        get_sstr(d, u->command_id, sizeof(u->command_id));
        get_sstr(d, u->name, sizeof(u->name));
        u->size = get_u64(d);
        if ((h = take(d, 32)))
            memcpy(u->sha256, h, 32);
    });
}

int vg_ps_get_probe(const uint8_t *p, size_t len, struct vg_ps_probe *pr)
{
    DECODE(p, len, {
        pr->id = get_u32(d);
        get_addr(d, &pr->addr);
        pr->timeout_ms = get_u64(d);
    });
}

int vg_ps_get_pins(const uint8_t *p, size_t len, struct vg_ps_pins *pins)
{
    DECODE(p, len, {
        pins->n = get_u32(d);
        if (pins->n > VG_PS_PINS_MAX)
            d->bad = 1;
        for (uint32_t i = 0; !d->bad && i < pins->n; i++) {
            get_sstr(d, pins->v[i].host, sizeof(pins->v[i].host));
            get_addr(d, &pins->v[i].addr);
        }
    });
}

int vg_ps_get_cert_done(const uint8_t *p, size_t len, int32_t *rc, char *msg, size_t msglen)
{
    DECODE(p, len, {
        *rc = (int32_t)get_u32(d);
        get_sstr(d, msg, msglen);
    });
}

/* ---- addresses ---- */

int vg_ps_addr_from(const struct sockaddr *sa, struct vg_ps_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->addr, &s->sin_addr, 4);
        out->port = ntohs(s->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        memcpy(out->addr, &s->sin6_addr, 16);
        out->port = ntohs(s->sin6_port);
        return 0;
    }
    return -EAFNOSUPPORT;
}

socklen_t vg_ps_addr_to(const struct vg_ps_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, a->addr, 4);
        s->sin_port = htons(a->port);
        return sizeof(*s);
    }
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a->addr, 16);
        s->sin6_port = htons(a->port);
        return sizeof(*s);
    }
    return 0;
}

/* ---- the stream ---- */

void vg_ps_reader_init(struct vg_ps_reader *r, size_t max_payload)
{
    vg_buf_init(&r->in, max_payload + VG_PS_HDR + 64 * 1024);
    r->max_payload = max_payload;
    r->off = 0;
}

void vg_ps_reader_free(struct vg_ps_reader *r)
{
    vg_buf_free(&r->in);
    r->off = 0;
}

static int addr_equal(const struct vg_ps_addr *a, const struct vg_ps_addr *b)
{
    size_t n = a->family == AF_INET6 ? 16 : 4;
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, n) == 0;
}

int vg_ps_pins_equal(const struct vg_ps_pins *a, const struct vg_ps_pins *b)
{
    if (a->n != b->n || a->n > VG_PS_PINS_MAX)
        return a->n == b->n;
    for (uint32_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].host, b->v[i].host) != 0 || !addr_equal(&a->v[i].addr, &b->v[i].addr))
            return 0;
    return 1;
}

void vg_ps_reader_shrink(struct vg_ps_reader *r)
{
    if (r->off) {
        vg_buf_consume(&r->in, r->off);
        r->off = 0;
    }
    vg_buf_shrink(&r->in);
}

int vg_ps_feed(struct vg_ps_reader *r, const void *p, size_t n)
{
    if (r->off) {
        vg_buf_consume(&r->in, r->off);
        r->off = 0;
    }
    return vg_buf_append(&r->in, p, n) == 0 ? 0 : -ENOMEM;
}

int vg_ps_next(struct vg_ps_reader *r, uint32_t *type, const uint8_t **payload, size_t *len)
{
    const uint8_t *h = r->in.data + r->off;
    size_t avail = r->in.len - r->off;
    uint32_t t = 0, n = 0;

    if (avail < VG_PS_HDR)
        return 0;
    for (int i = 0; i < 4; i++) {
        t |= (uint32_t)h[i] << (8 * i);
        n |= (uint32_t)h[4 + i] << (8 * i);
    }
    if (n > r->max_payload)
        return VG_EPROTO;
    if (avail - VG_PS_HDR < n)
        return 0;
    *type = t;
    *payload = h + VG_PS_HDR;
    *len = n;
    r->off += VG_PS_HDR + n;
    return 1;
}
