/*
 * Operators as identities: the operator certificates the collector has
 * seen (recorded at a connection's first request), `vigilctl operators`,
 * and the revoked list `vigilctl revoked` and `vigilctl pki crl` read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "store.h"
#include "util.h"

void operators_seen(struct server *s, struct conn *c)
{
    const struct vg_cert_info *p = vg_tls_peer(c->tls);

    if (c->op_seen)
        return;
    c->op_seen = 1;
    /* Best effort: a failure is logged by the store; the request goes on. */
    (void)store_operator_seen(s->store, p->serial, p->cn, vg_role_name(p->role), p->not_after_ms,
                              vg_time_now_ms());
}

/* 1 if an operator connection with this serial is up. */
static int connected(struct server *s, const char *serial)
{
    for (struct conn *c = s->conns; c; c = c->next)
        if (c->kind == CONN_OPERATOR && !c->closing &&
            strcmp(vg_tls_peer(c->tls)->serial, serial) == 0)
            return 1;
    return 0;
}

struct list_ctx {
    struct server *s;
    void **v;
    size_t n, cap;
    int oom;
};

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

static int operator_cb(void *ctx, const struct store_operator *o)
{
    struct list_ctx *x = ctx;
    Vigil__V1__OperatorInfo *m;
    void **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);

    if (!nv)
        return 1;
    x->v = nv;
    if (!(m = calloc(1, sizeof(*m)))) {
        x->oom = 1;
        return 1;
    }
    vigil__v1__operator_info__init(m);
    x->v[x->n++] = m;
    m->name = dup0(o->name);
    m->role = dup0(o->role);
    m->serial = dup0(o->serial);
    m->first_seen_time_ms = o->first_seen_ms;
    m->last_seen_time_ms = o->last_seen_ms;
    m->not_after_time_ms = o->not_after_ms;
    m->revoked_time_ms = o->revoked_ms;
    m->revoke_reason = dup0(o->revoke_reason);
    m->connected = !o->revoked_ms && o->serial && connected(x->s, o->serial);
    return 0;
}

int operators_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp)
{
    struct list_ctx x = { s, NULL, 0, 0, 0 };
    Vigil__V1__OperatorsResult *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    (void)req;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__operators_result__init(r);
    rc = store_operators(s->store, operator_cb, &x);
    r->operators = (Vigil__V1__OperatorInfo **)x.v;
    r->n_operators = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_OPERATORS;
    resp->operators = r;
    if (rc || x.oom) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not read its operators; see its log");
        return 0;
    }
    resp->ok = 1;
    return 0;
}

static int revoked_cb(void *ctx, const struct store_revoked *r)
{
    struct list_ctx *x = ctx;
    Vigil__V1__RevokedCert *m;
    void **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);

    if (!nv)
        return 1;
    x->v = nv;
    if (!(m = calloc(1, sizeof(*m)))) {
        x->oom = 1;
        return 1;
    }
    vigil__v1__revoked_cert__init(m);
    x->v[x->n++] = m;
    m->serial = dup0(r->serial);
    m->revoked_time_ms = r->time_ms;
    m->reason = dup0(r->reason);
    m->revoked_by = dup0(r->by);
    m->subject = dup0(r->subject);
    return 0;
}

int operators_revoked(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp)
{
    struct list_ctx x = { s, NULL, 0, 0, 0 };
    Vigil__V1__RevokedResult *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    (void)req;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__revoked_result__init(r);
    rc = store_revoked_list(s->store, revoked_cb, &x);
    r->certs = (Vigil__V1__RevokedCert **)x.v;
    r->n_certs = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKED;
    resp->revoked = r;
    if (rc || x.oom) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not read its revoked certificates; see its log");
        return 0;
    }
    resp->ok = 1;
    return 0;
}

void operators_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_OPERATORS &&
        resp->operators) {
        for (size_t i = 0; i < resp->operators->n_operators; i++) {
            Vigil__V1__OperatorInfo *m = resp->operators->operators[i];
            free(m->name);
            free(m->role);
            free(m->serial);
            free(m->revoke_reason);
            free(m);
        }
        free(resp->operators->operators);
        free(resp->operators);
    }
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKED && resp->revoked) {
        for (size_t i = 0; i < resp->revoked->n_certs; i++) {
            Vigil__V1__RevokedCert *m = resp->revoked->certs[i];
            free(m->serial);
            free(m->reason);
            free(m->revoked_by);
            free(m->subject);
            free(m);
        }
        free(resp->revoked->certs);
        free(resp->revoked);
    }
}
