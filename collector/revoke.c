/*
 * vigilctl revoke (admin): a host's certificates, an operator's (every
 * certificate seen with its name) or one serial, revoked in the store
 * and in the server's list checked at every handshake; live connections
 * with them closed, and a host's batches not yet stored dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "store.h"
#include "util.h"

struct revoke_ctx {
    struct server *s;
    Vigil__V1__RevokeResult *r;
    int oom;
};

static int revoked_cb(void *ctx, const char *serial)
{
    struct revoke_ctx *x = ctx;
    char **nv = realloc(x->r->serials, (x->r->n_serials + 1) * sizeof(*nv));
    if (!nv || conn_revoked_add(x->s, serial) != 0) {
        if (nv)
            x->r->serials = nv;
        x->oom = 1;
        return 1;
    }
    x->r->serials = nv;
    x->r->serials[x->r->n_serials++] = strdup(serial);
    return 0;
}

/* Closes the live operator connections (other than op's own, which gets
 * its answer and is refused at its next handshake) with a revoked
 * serial.  Returns how many. */
static uint32_t close_operators(struct server *s, struct conn *op, const Vigil__V1__RevokeResult *r)
{
    uint32_t n = 0;
    for (struct conn *c = s->conns; c; c = c->next) {
        const char *serial;
        if (c == op || c->closing || c->kind != CONN_OPERATOR)
            continue;
        serial = vg_tls_peer(c->tls)->serial;
        for (size_t i = 0; i < r->n_serials; i++) {
            if (r->serials[i] && strcmp(r->serials[i], serial) == 0) {
                log_warnx("%s: closed: its certificate (serial %s) was revoked", conn_who(c),
                          serial);
                conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_REVOKED,
                          "this operator certificate was revoked");
                n++;
                break;
            }
        }
    }
    return n;
}

static int revoke_operator(struct server *s, struct conn *op, const Vigil__V1__RevokeRequest *r,
                           Vigil__V1__OperatorResponse *resp)
{
    const struct vg_cert_info *p = vg_tls_peer(op->tls);
    struct revoke_ctx x = { s, NULL, 0 };
    char serial[VG_SERIAL_MAX], opname[160], target[200], detail[600], msg[300];
    const char *name = r->operator_name[0] ? r->operator_name : NULL;
    int rc;

    if (!name && vg_serial_normalize(r->serial, serial, sizeof(serial)) != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "--serial: not a certificate serial (hex, as vigilctl operators shows it)");
        return 0;
    }
    snprintf(target, sizeof(target), name ? "operator %.64s" : "serial %s", name ? name : serial);
    if (!(x.r = calloc(1, sizeof(*x.r)))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__revoke_result__init(x.r);
    x.r->operator_name = strdup(name ? name : "");
    x.r->agent_id = strdup("");
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKE;
    resp->revoke = x.r;
    snprintf(opname, sizeof(opname), "%s %s", vg_role_name(p->role), p->cn);
    rc = store_begin(s->store);
    if (rc == 0)
        rc = store_revoke_operator(s->store, name, name ? NULL : serial, r->reason, opname,
                                   vg_time_now_ms(), revoked_cb, &x);
    if (rc == 0 && name && x.r->n_serials == 0) {
        store_rollback(s->store);
        snprintf(msg, sizeof(msg), "no unrevoked operator certificate named '%.64s' has been "
                 "seen (see vigilctl operators; or revoke by --serial)", name);
        conn_report(op, REPORT_REQUEST, "revoke", target, msg);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND, msg);
        return 0;
    }
    if (rc == 0) {
        size_t off = 0;
        off += (size_t)snprintf(detail, sizeof(detail), "reason: %.300s; serials:", r->reason);
        for (size_t i = 0; i < x.r->n_serials && off < sizeof(detail) - 1; i++)
            off += (size_t)snprintf(detail + off, sizeof(detail) - off, " %s",
                                    x.r->serials[i] ? x.r->serials[i] : "?");
        if (x.r->n_serials == 0)
            snprintf(detail + off, sizeof(detail) - off, " none new (already revoked)");
        rc = store_audit_append(s->store, conn_who(op), "revoke", target, detail, "revoked");
    }
    if (rc == 0)
        rc = store_commit(s->store);
    else
        store_rollback(s->store);
    if (rc || x.oom) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the revocation could not be stored; nothing was revoked");
        return 0;
    }
    x.r->connections_closed = close_operators(s, op, x.r);
    x.r->connection_closed = x.r->connections_closed > 0;
    log_warnx("%s revoked %s (%zu certificates, %u connections closed): %s", conn_who(op), target,
              x.r->n_serials, x.r->connections_closed, r->reason);
    resp->ok = 1;
    return 0;
}

int revoke_host(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__RevokeRequest *r = req->revoke;
    const struct vg_cert_info *p = vg_tls_peer(op->tls);
    struct revoke_ctx x = { s, NULL, 0 };
    struct conn *agent;
    char msg[300], opname[160], detail[600];
    int64_t host_id;
    int rc;

    if (!r->reason[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "a reason is required (--reason TEXT)");
        return 0;
    }
    if (!!r->agent_id[0] + !!r->operator_name[0] + !!r->serial[0] != 1) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "revoke one of: a host, an operator (--operator NAME), a serial (--serial S)");
        return 0;
    }
    if (!r->agent_id[0])
        return revoke_operator(s, op, r, resp);
    rc = store_host_find(s->store, r->agent_id, &host_id, NULL, 0);
    if (rc != 1) {
        snprintf(msg, sizeof(msg), "no host with agent id '%.64s' (see vigilctl hosts)",
                 r->agent_id);
        conn_report(op, REPORT_REQUEST, "revoke", r->agent_id, msg);
        resp_error(resp, rc < 0 ? VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE
                               : VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND, msg);
        return 0;
    }
    if (!(x.r = calloc(1, sizeof(*x.r)))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__revoke_result__init(x.r);
    x.r->operator_name = strdup("");
    snprintf(opname, sizeof(opname), "%s %s", vg_role_name(p->role), p->cn);
    rc = store_begin(s->store);
    if (rc == 0)
        rc = store_revoke_host(s->store, host_id, r->reason, opname, vg_time_now_ms(),
                               revoked_cb, &x);
    if (rc == 0) {
        size_t off = 0;
        off += (size_t)snprintf(detail, sizeof(detail), "reason: %.300s; serials:", r->reason);
        for (size_t i = 0; i < x.r->n_serials && off < sizeof(detail) - 1; i++)
            off += (size_t)snprintf(detail + off, sizeof(detail) - off, " %s",
                                    x.r->serials[i] ? x.r->serials[i] : "?");
        rc = store_audit_append(s->store, conn_who(op), "revoke", r->agent_id, detail,
                                "revoked");
    }
    if (rc == 0)
        rc = store_commit(s->store);
    else
        store_rollback(s->store);
    x.r->agent_id = strdup(r->agent_id);
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKE;
    resp->revoke = x.r;
    if (rc || x.oom) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the revocation could not be stored; nothing was revoked");
        /* x.r is resp->revoke now, freed with the response. */
        // cppcheck-suppress memleak
        return 0;
    }
    /* The live connection goes, and nothing it sent is stored any more. */
    agent = conn_find_agent(s, r->agent_id);
    if (agent) {
        conn_forget_pending(s, agent);
        conn_agent_remove(s, agent);
        agent->hello_done = 0;
        store_disconnect(s->store, agent->host_id, vg_time_now_ms(), agent->hello_ms);
        conn_fail(agent, VIGIL__V1__ERROR__CODE__CODE_REVOKED,
                  "this agent's certificate was revoked");
        x.r->connection_closed = 1;
    }
    log_warnx("%s revoked agent %s (%zu certificates): %s", conn_who(op), r->agent_id,
              x.r->n_serials, r->reason);
    resp->ok = 1;
    return 0;
}

void revoke_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->response_case != VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKE || !resp->revoke)
        return;
    for (size_t i = 0; i < resp->revoke->n_serials; i++)
        free(resp->revoke->serials[i]);
    free(resp->revoke->serials);
    free(resp->revoke->agent_id);
    free(resp->revoke->operator_name);
    free(resp->revoke);
}


struct retire_ctx {
    const char *agent_id;
    int64_t retired_ms;
    char hostname[256];
    int found;
};

static int retire_host_cb(void *ctx, const struct store_host *h)
{
    struct retire_ctx *x = ctx;
    if (strcmp(h->agent_id, x->agent_id) != 0)
        return 0;
    x->retired_ms = h->retired_ms;
    vg_strlcpy(x->hostname, h->hostname ? h->hostname : "", sizeof(x->hostname));
    x->found = 1;
    return 1;
}

int retire_host(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__HostRetire *r = req->host_retire;
    const struct vg_cert_info *p = vg_tls_peer(op->tls);
    struct retire_ctx x;
    Vigil__V1__HostRetireResult *res;
    char msg[300], opname[160], detail[400];
    int64_t host_id, now = vg_time_now_ms();
    int rc, unchanged;

    memset(&x, 0, sizeof(x));
    x.agent_id = r->agent_id;
    if (!r->undo && !r->reason[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "a reason is required (--reason TEXT)");
        return 0;
    }
    rc = store_host_find(s->store, r->agent_id, &host_id, NULL, 0);
    if (rc == 1)
        rc = store_hosts(s->store, retire_host_cb, &x) < 0 ? -EIO : 1;
    if (rc != 1 || !x.found) {
        snprintf(msg, sizeof(msg), "no host with agent id '%.64s' (see vigilctl hosts --all)",
                 r->agent_id);
        conn_report(op, REPORT_REQUEST, "retire", r->agent_id, msg);
        resp_error(resp, rc < 0 ? VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE
                               : VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND, msg);
        return 0;
    }
    /* A connected host would be back at its next hello: retiring is for
     * hosts that are gone (revoke shuts one out). */
    if (!r->undo && conn_find_agent(s, r->agent_id)) {
        snprintf(msg, sizeof(msg), "host '%.64s' is connected; only a host that is gone can be "
                 "retired (to shut it out: vigilctl revoke)", r->agent_id);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, msg);
        return 0;
    }
    unchanged = r->undo ? x.retired_ms == 0 : x.retired_ms != 0;
    snprintf(opname, sizeof(opname), "%s %s", vg_role_name(p->role), p->cn);
    if (!unchanged) {
        snprintf(detail, sizeof(detail), "%s%.300s", r->undo ? "back in the fleet" : "reason: ",
                 r->undo ? "" : r->reason);
        rc = store_begin(s->store);
        if (rc == 0)
            rc = store_host_retire(s->store, host_id, r->undo ? 0 : now, opname, r->reason);
        if (rc == 0)
            rc = store_audit_append(s->store, conn_who(op), r->undo ? "unretire" : "retire",
                                    r->agent_id, detail, r->undo ? "unretired" : "retired");
        if (rc == 0)
            rc = store_commit(s->store);
        else
            store_rollback(s->store);
        if (rc) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                       "the change could not be stored; nothing changed");
            return 0;
        }
        log_info("%s %s agent %s: %s", conn_who(op), r->undo ? "brought back" : "retired",
                 r->agent_id, r->undo ? "" : r->reason);
    }
    if (!(res = calloc(1, sizeof(*res)))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__host_retire_result__init(res);
    res->agent_id = strdup(r->agent_id);
    res->hostname = strdup(x.hostname);
    res->retired_time_ms = unchanged ? x.retired_ms : r->undo ? 0 : now;
    res->unchanged = unchanged;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOST_RETIRE;
    resp->host_retire = res;
    resp->ok = 1;
    return 0;
}

void retire_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->response_case != VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOST_RETIRE ||
        !resp->host_retire)
        return;
    free(resp->host_retire->agent_id);
    free(resp->host_retire->hostname);
    free(resp->host_retire);
}
