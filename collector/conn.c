/*
 * Connection services, below the handlers: who a peer is, sending and
 * closing, the connected agents by id, the revoked certificate serials.
 *
 * Layering (scripts/callcycles.sh checks it, make test fails on a cycle):
 *
 *   main -> server (listener, TLS events, agent sessions, group commit)
 *             -> api (operator requests: the dispatch table, role check)
 *                  -> command, collect, enroll, report, revoke (handlers)
 *                       -> conn, resp (services) -> store, lib
 *
 * Nothing here calls up into the server loop or a handler.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "err.h"
#include "store.h"
#include "util.h"
#include "wire.h"

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h % AGENT_HASH;
}

const char *conn_who(struct conn *c)
{
    static char buf[160];
    const struct vg_cert_info *p = vg_tls_peer(c->tls);
    if (p->cn[0])
        snprintf(buf, sizeof(buf), "%s %s (%s)", vg_role_name(p->role), p->cn,
                 vg_tls_peer_addr(c->tls));
    else
        snprintf(buf, sizeof(buf), "%s", vg_tls_peer_addr(c->tls));
    return buf;
}

void conn_operator_name(struct conn *c, char *out, size_t len)
{
    const struct vg_cert_info *p = vg_tls_peer(c->tls);
    snprintf(out, len, "%s %s", vg_role_name(p->role), p->cn);
}

struct conn *conn_find(struct server *s, uint64_t serial)
{
    for (struct conn *c = s->conns; c; c = c->next)
        if (c->serial == serial)
            return c->closing ? NULL : c;
    return NULL;
}

/* ---- agents by id ---- */

struct conn *conn_find_agent(struct server *s, const char *id)
{
    for (struct conn *c = s->agents[hash(id)]; c; c = c->hnext)
        if (strcmp(vg_tls_peer(c->tls)->cn, id) == 0)
            return c;
    return NULL;
}

void conn_agent_add(struct server *s, struct conn *c)
{
    uint32_t h = hash(vg_tls_peer(c->tls)->cn);
    c->hnext = s->agents[h];
    s->agents[h] = c;
}

void conn_agent_remove(struct server *s, struct conn *c)
{
    struct conn **pp = &s->agents[hash(vg_tls_peer(c->tls)->cn)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            return;
        }
    }
}

void conn_forget_pending(struct server *s, struct conn *c)
{
    for (size_t i = 0; c->pending && i < s->npend; i++)
        if (s->pend[i].c == c) {
            s->pend[i].c = NULL;
            c->pending--;
        }
}

/* ---- sending and closing ---- */

void conn_close(struct conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = 1;
    vg_tls_close(c->tls, why);
}

void conn_fail(struct conn *c, Vigil__V1__Error__Code code, const char *msg)
{
    if (c->closing)
        return;
    c->closing = 1;
    vg_wire_fail(c->tls, code, msg);
}

void conn_refuse(struct conn *c, Vigil__V1__Error__Code code, const char *fmt, ...)
{
    char msg[300];
    uint64_t sup;
    va_list ap;

    if (c->closing)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->srv->refused++;
    if (vg_ratelimit(&c->srv->rl_refuse, &sup)) {
        char detail[400];
        log_warnx("refused %s: %s%s", conn_who(c), msg,
                  sup ? " (and earlier refusals not logged)" : "");
        /* Into the audit log too, at the same (rate-limited) pace, so that
         * a flood of bad peers cannot flood the store. */
        snprintf(detail, sizeof(detail), "%s%s", msg,
                 sup ? " (earlier refusals suppressed by the rate limit)" : "");
        if (store_audit_append(c->srv->store, conn_who(c), "connect", vg_tls_peer_addr(c->tls),
                               detail, "refused") != 0)
            log_warnx("the refusal above could not be written to the audit log");
    }
    conn_fail(c, code, msg);
}

int conn_send(struct conn *c, Vigil__V1__Envelope *env)
{
    int rc = vg_wire_send(c->tls, env);
    if (rc && rc != -ENOTCONN) {
        log_warnx("%s: cannot send %s: %s; closing", conn_who(c), vg_wire_body_name(env),
                  vg_strerror(rc));
        conn_close(c, "send failed");
    }
    return rc;
}

int conn_send_response(struct conn *c, Vigil__V1__OperatorResponse *resp)
{
    Vigil__V1__Envelope r = VIGIL__V1__ENVELOPE__INIT;
    r.body_case = VIGIL__V1__ENVELOPE__BODY_OPERATOR_RESPONSE;
    r.operator_response = resp;
    return conn_send(c, &r);
}

/* ---- revoked certificates ---- */

static int cmp_serial(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int conn_is_revoked(const struct server *s, const char *serial)
{
    const char *key = serial;
    return s->nrevoked && bsearch(&key, s->revoked, s->nrevoked, sizeof(*s->revoked),
                                  cmp_serial) != NULL;
}

int conn_revoked_add(void *ctx, const char *serial)
{
    struct server *s = ctx;
    char *dup;
    if (conn_is_revoked(s, serial))
        return 0;
    if (s->nrevoked == s->caprevoked) {
        size_t nc = s->caprevoked ? s->caprevoked * 2 : 64;
        char **nv = realloc(s->revoked, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->revoked = nv;
        s->caprevoked = nc;
    }
    if (!(dup = strdup(serial)))
        return -ENOMEM;
    s->revoked[s->nrevoked++] = dup;
    qsort(s->revoked, s->nrevoked, sizeof(*s->revoked), cmp_serial);
    return 0;
}
