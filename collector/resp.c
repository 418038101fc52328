/*
 * Operator responses: the helpers every handler uses to fill one (below
 * the handlers, with conn.c).
 */
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "store.h"

void *resp_grow(void *v, size_t *cap, size_t n, size_t elem, int *oom)
{
    size_t nc;
    void *nv;
    if (n < *cap)
        return v;
    nc = *cap ? *cap * 2 : 64;
    nv = realloc(v, nc * elem);
    if (!nv) {
        *oom = 1;
        return NULL;
    }
    *cap = nc;
    return nv;
}

void resp_error(Vigil__V1__OperatorResponse *resp, Vigil__V1__Error__Code code, const char *msg)
{
    Vigil__V1__Error *e = calloc(1, sizeof(*e));
    resp->ok = 0;
    if (!e)
        return;
    vigil__v1__error__init(e);
    e->code = code;
    e->message = strdup(msg);
    resp->error = e;
}

void resp_refuse(struct server *s, struct conn *op, Vigil__V1__OperatorResponse *resp,
                 Vigil__V1__Error__Code code, const char *action, const char *target,
                 const char *msg)
{
    (void)s;
    conn_report(op, REPORT_REQUEST, action, target, msg);
    resp_error(resp, code, msg);
}
