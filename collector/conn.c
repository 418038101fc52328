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
#include "db.h"
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

size_t conn_held(const struct conn *c)
{
    return vg_frame_reader_held(&c->rd) + vg_tls_held(c->tls);
}

/* ---- agents by id ---- */

struct conn *conn_find_agent(struct server *s, const char *id)
{
    for (struct conn *c = s->agents[hash(id)]; c; c = c->hnext)
        if (strcmp(vg_tls_peer(c->tls)->cn, id) == 0)
            return c;
    return NULL;
}

/* Connected to this collector, or, with a PostgreSQL store that other
 * collectors share, to one of them: a connection still open in the store
 * that stored something (agents send their health every minute by
 * default) within twice [collector] idle_timeout; a collector killed
 * without a word leaves its connections open there, and they go stale. */
int host_connected(struct server *s, const char *agent_id, int64_t live_seen_ms)
{
    if (conn_find_agent(s, agent_id))
        return 1;
    return live_seen_ms && db_is_url(conf_store_target(s->conf)) &&
           vg_time_now_ms() - live_seen_ms <= 2 * (int64_t)s->conf->idle_timeout_ms;
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
    /* Queued, and in the group the store thread holds (stored all the
     * same if it gets there: received before c went). */
    for (size_t i = 0; c->pending && i < s->npend; i++)
        if (s->pend[i].c == c) {
            s->pend[i].c = NULL;
            c->pending--;
        }
    for (size_t i = 0; c->pending && i < s->job.npend; i++)
        if (s->job.pend[i].c == c) {
            s->job.pend[i].c = NULL;
            c->pending--;
            s->job_orphans++;
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

/* ---- refusals a peer may repeat: one by one, then summaries ---- */

static const struct {
    const char *what, *action;
    int audit;
} report_kinds[] = {
    [REPORT_UPLOAD] = { "refused upload chunks", "collection", 1 },
    [REPORT_REQUEST] = { "refused requests", "request", 1 },
    [REPORT_RESULT] = { "ignored command results", "command result", 0 },
};

/* Logs (and audits, as actor on target) the summary of t if one is due. */
static void summarise(struct server *s, struct conn_tally *t, const char *what,
                      const char *actor, const char *target, int audit, int force)
{
    struct vg_tally_sum sum;
    char detail[600];

    if (!vg_tally_take(&t->t, vg_time_mono_ms(), force, &sum))
        return;
    snprintf(detail, sizeof(detail), "%llu %s from %s in %.1f s (%llu of them not logged one "
             "by one; the last: %s%s%s)", (unsigned long long)sum.n, what, actor,
             (double)sum.span_ms / 1000.0, (unsigned long long)sum.counted, t->action,
             t->action[0] ? ": " : "", t->last);
    log_warnx("%s", detail);
    if (audit && store_audit_append(s->store, actor, t->action[0] ? t->action : "refusals",
                                    target, detail, "refused") != 0)
        log_warnx("the summary above could not be written to the audit log");
}

/* One refusal into t: 1 if it is to be logged (and audited) on its own. */
static int tally_add(struct conn_tally *t, const char *action, const char *detail)
{
    if (!t->t.interval_ms) {
        t->t.interval_ms = REPORT_INTERVAL_MS;
        t->t.burst = REPORT_BURST;
    }
    vg_strlcpy(t->action, action, sizeof(t->action));
    vg_strlcpy(t->last, detail, sizeof(t->last));
    return vg_tally_add(&t->t, vg_time_mono_ms());
}

void conn_report(struct conn *c, enum conn_report_kind kind, const char *action,
                 const char *target, const char *detail)
{
    struct conn_tally *t = &c->tally[kind];

    if (tally_add(t, action, detail)) {
        log_warnx("%s: %s refused: %s", conn_who(c), action, detail);
        if (report_kinds[kind].audit &&
            store_audit_append(c->srv->store, conn_who(c), action, target ? target : "", detail,
                               "refused") != 0)
            log_warnx("the refusal of %s could not be written to the audit log", action);
        return;
    }
    summarise(c->srv, t, report_kinds[kind].what, conn_who(c), vg_tls_peer(c->tls)->cn,
              report_kinds[kind].audit, 0);
}

void conn_report_flush(struct conn *c, int force)
{
    for (int k = 0; k < REPORT_KINDS; k++)
        if (c->tally[k].t.counted)
            summarise(c->srv, &c->tally[k], report_kinds[k].what, conn_who(c),
                      vg_tls_peer(c->tls)->cn, report_kinds[k].audit, force);
}

int conn_report_global(struct server *s, struct conn_tally *t, const char *action,
                       const char *detail)
{
    if (tally_add(t, action, detail))
        return 1;
    summarise(s, t, t == &s->tl_enroll ? "refused enrollment requests" : "refused connections",
              "peers", "", 1, 0);
    return 0;
}

void conn_reports_sweep(struct server *s, int force)
{
    for (struct conn *c = s->conns; c; c = c->next)
        conn_report_flush(c, force);
    summarise(s, &s->tl_refuse, "refused connections", "peers", "", 1, force);
    summarise(s, &s->tl_enroll, "refused enrollment requests", "peers", "", 1, force);
}

void conn_refuse(struct conn *c, Vigil__V1__Error__Code code, const char *fmt, ...)
{
    char msg[300], last[480];
    va_list ap;

    if (c->closing)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->srv->refused++;
    c->srv->refused_code[(unsigned)code < REFUSE_CODES ? (unsigned)code : 0]++;
    snprintf(last, sizeof(last), "%s: %s", conn_who(c), msg);
    if (conn_report_global(c->srv, &c->srv->tl_refuse, "connect", last)) {
        log_warnx("refused %s: %s", conn_who(c), msg);
        /* Into the audit log too; past the first few, one summary per
         * interval, so that a flood of bad peers cannot flood the store. */
        if (store_audit_append(c->srv->store, conn_who(c), "connect", vg_tls_peer_addr(c->tls),
                               msg, "refused") != 0)
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
