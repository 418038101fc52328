/*
 * Operator requests.  Roles: every operator role may read the fleet;
 * later requests (commands, tokens) check their own role lists here.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "store.h"

struct hosts_ctx {
    struct server *srv;
    const Vigil__V1__HostsQuery *q;
    Vigil__V1__HostInfo **v;
    size_t n, cap;
    int oom;
};

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

static int tags_match(json_t *tags, const Vigil__V1__HostsQuery *q)
{
    for (size_t i = 0; q && i < q->n_tags; i++) {
        json_t *v = json_object_get(tags, q->tags[i]->key);
        if (!json_is_string(v) || strcmp(json_string_value(v), q->tags[i]->value) != 0)
            return 0;
    }
    return 1;
}

static int host_cb(void *ctx, const struct store_host *h)
{
    struct hosts_ctx *x = ctx;
    Vigil__V1__HostInfo *hi;
    json_t *tags = json_loads(h->tags_json ? h->tags_json : "{}", 0, NULL);
    const char *k;
    json_t *v;
    size_t i = 0;

    if (!tags)
        tags = json_object();
    if (!tags_match(tags, x->q)) {
        json_decref(tags);
        return 0;
    }
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 32;
        Vigil__V1__HostInfo **nv = realloc(x->v, nc * sizeof(*nv));
        if (!nv) {
            json_decref(tags);
            x->oom = 1;
            return 1;
        }
        x->v = nv;
        x->cap = nc;
    }
    hi = calloc(1, sizeof(*hi));
    if (!hi) {
        json_decref(tags);
        x->oom = 1;
        return 1;
    }
    vigil__v1__host_info__init(hi);
    x->v[x->n++] = hi;
    hi->agent_id = dup0(h->agent_id);
    hi->hostname = dup0(h->hostname);
    hi->os_pretty_name = dup0(h->os_pretty_name);
    hi->kernel_release = dup0(h->kernel_release);
    hi->software_version = dup0(h->agent_version);
    hi->first_seen_time_ms = h->first_seen_ms;
    hi->last_seen_time_ms = h->last_seen_ms;
    hi->clock_skew_ms = h->clock_skew_ms;
    hi->last_stored_seq = h->last_seq;
    hi->spool_batches = h->spool_batches;
    hi->spool_bytes = h->spool_bytes;
    hi->loss_events = h->loss_events;
    hi->loss_batches = h->loss_batches;
    hi->newest_kernel = dup0(h->newest_kernel);
    hi->kernel_update_pending = h->kernel_update_pending;
    hi->reboot_required = h->reboot_required;
    hi->packages_changed_time_ms = h->packages_changed_ms;
    hi->pending_known = h->pending_known;
    hi->pending_updates = h->pending_updates;
    hi->pending_security = h->pending_security;
    hi->pending_security_since_time_ms = h->pending_security_since_ms;
    hi->pending_sources_refreshed_time_ms = h->pending_refreshed_ms;
    hi->pending_error = dup0(h->pending_error);
    hi->boot_time_ms = h->boot_time_ms;
    hi->connected = server_find_agent(x->srv, h->agent_id) != NULL;
    hi->n_tags = json_object_size(tags);
    hi->tags = calloc(hi->n_tags ? hi->n_tags : 1, sizeof(*hi->tags));
    json_object_foreach(tags, k, v) {
        Vigil__V1__Tag *t = calloc(1, sizeof(*t));
        if (!t || !hi->tags)
            break;
        vigil__v1__tag__init(t);
        t->key = strdup(k);
        t->value = strdup(json_is_string(v) ? json_string_value(v) : "");
        hi->tags[i++] = t;
    }
    hi->n_tags = i;
    json_decref(tags);
    return 0;
}

static void set_error(Vigil__V1__OperatorResponse *resp, Vigil__V1__Error__Code code,
                      const char *msg)
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

static Vigil__V1__Package *pkg_msg(const struct store_pkg *p)
{
    Vigil__V1__Package *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    vigil__v1__package__init(m);
    m->name = dup0(p->name);
    m->version = dup0(p->version);
    m->arch = dup0(p->arch);
    m->status = dup0(p->status);
    m->source_name = dup0(p->source_name);
    m->source_version = dup0(p->source_version);
    m->vendor = dup0(p->manager);
    m->install_time_ms = p->first_seen_ms;
    return m;
}

static void pkg_msg_free(Vigil__V1__Package *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->version);
    free(p->arch);
    free(p->status);
    free(p->source_name);
    free(p->source_version);
    free(p->vendor);
    free(p);
}

struct inv_ctx {
    Vigil__V1__Package **v;
    size_t n, cap;
    int oom;
};

static int inv_cb(void *ctx, const struct store_pkg *p)
{
    struct inv_ctx *x = ctx;
    Vigil__V1__Package *m;
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 256;
        Vigil__V1__Package **nv = realloc(x->v, nc * sizeof(*nv));
        if (!nv) {
            x->oom = 1;
            return 1;
        }
        x->v = nv;
        x->cap = nc;
    }
    m = pkg_msg(p); /* vendor carries the package manager, for the operator */
    if (!m) {
        x->oom = 1;
        return 1;
    }
    x->v[x->n++] = m;
    return 0;
}

struct ph_ctx {
    Vigil__V1__HostPackage **v;
    size_t n, cap;
    int oom;
};

static int ph_cb(void *ctx, const char *agent_id, const char *hostname, const struct store_pkg *p)
{
    struct ph_ctx *x = ctx;
    Vigil__V1__HostPackage *h;
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        Vigil__V1__HostPackage **nv = realloc(x->v, nc * sizeof(*nv));
        if (!nv) {
            x->oom = 1;
            return 1;
        }
        x->v = nv;
        x->cap = nc;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        x->oom = 1;
        return 1;
    }
    vigil__v1__host_package__init(h);
    h->agent_id = dup0(agent_id);
    h->hostname = dup0(hostname);
    h->manager = dup0(p->manager);
    h->package = pkg_msg(p);
    x->v[x->n++] = h;
    return 0;
}

struct pend_ctx {
    Vigil__V1__HostPendingUpdate **v;
    size_t n, cap;
    int oom;
};

static int pend_cb(void *ctx, const struct store_pending *p)
{
    struct pend_ctx *x = ctx;
    Vigil__V1__HostPendingUpdate *h;
    Vigil__V1__PendingUpdate *u;
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        Vigil__V1__HostPendingUpdate **nv = realloc(x->v, nc * sizeof(*nv));
        if (!nv) {
            x->oom = 1;
            return 1;
        }
        x->v = nv;
        x->cap = nc;
    }
    h = calloc(1, sizeof(*h));
    u = calloc(1, sizeof(*u));
    if (!h || !u) {
        free(h);
        free(u);
        x->oom = 1;
        return 1;
    }
    vigil__v1__host_pending_update__init(h);
    vigil__v1__pending_update__init(u);
    h->agent_id = dup0(p->agent_id);
    h->hostname = dup0(p->hostname);
    h->manager = dup0(p->manager);
    h->stored_time_ms = p->first_seen_ms;
    h->sources_refreshed_time_ms = p->refreshed_ms;
    u->name = dup0(p->name);
    u->arch = dup0(p->arch);
    u->installed_version = dup0(p->installed_version);
    u->candidate_version = dup0(p->candidate_version);
    u->origin = dup0(p->origin);
    u->security = p->security;
    u->severity = dup0(p->severity);
    if (p->advisory && p->advisory[0] && (u->advisories = calloc(1, sizeof(char *)))) {
        u->advisories[0] = dup0(p->advisory);
        u->n_advisories = 1;
    }
    u->released_time_ms = p->released_ms;
    u->first_seen_time_ms = p->agent_first_seen_ms;
    u->security_first_seen_time_ms = p->security_first_seen_ms;
    u->release_label = dup0(p->release_label);
    u->release_origin = dup0(p->release_origin);
    u->site = dup0(p->site);
    h->update = u;
    x->v[x->n++] = h;
    return 0;
}

static void pend_msg_free(Vigil__V1__HostPendingUpdate *h)
{
    Vigil__V1__PendingUpdate *u = h->update;
    if (u) {
        free(u->name);
        free(u->arch);
        free(u->installed_version);
        free(u->candidate_version);
        free(u->origin);
        free(u->severity);
        for (size_t i = 0; i < u->n_advisories; i++)
            free(u->advisories[i]);
        free(u->advisories);
        free(u->release_label);
        free(u->release_origin);
        free(u->site);
        free(u);
    }
    free(h->agent_id);
    free(h->hostname);
    free(h->manager);
    free(h);
}

/* Ends a store query: an error the operator can act on, or ok. */
static void finish(Vigil__V1__OperatorResponse *resp, int failed)
{
    if (failed)
        set_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                  "the collector could not read its store; see its log");
    else
        resp->ok = 1;
}

void api_handle(struct server *s, struct conn *c, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp)
{
    (void)c;
    resp->request_id = req->request_id;
    switch (req->request_case) {
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOSTS: {
        struct hosts_ctx x = { s, req->hosts, NULL, 0, 0, 0 };
        Vigil__V1__HostsResult *r = calloc(1, sizeof(*r));
        int rc;
        if (!r) {
            set_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
            return;
        }
        vigil__v1__hosts_result__init(r);
        rc = store_hosts(s->store, host_cb, &x);
        /* Whatever was gathered is owned by the response from here on. */
        r->hosts = x.v;
        r->n_hosts = x.n;
        resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS;
        resp->hosts = r;
        finish(resp, rc != 0 || x.oom);
        return;
    }
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_PACKAGES: {
        struct ph_ctx x = { NULL, 0, 0, 0 };
        Vigil__V1__PackagesResult *r = calloc(1, sizeof(*r));
        int rc;
        if (!r) {
            set_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
            return;
        }
        vigil__v1__packages_result__init(r);
        rc = store_package_hosts(s->store, req->packages->name, ph_cb, &x);
        r->hosts = x.v;
        r->n_hosts = x.n;
        resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PACKAGES;
        resp->packages = r;
        finish(resp, rc || x.oom);
        return;
    }
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_INVENTORY: {
        struct inv_ctx x = { NULL, 0, 0, 0 };
        Vigil__V1__InventoryResult *r = calloc(1, sizeof(*r));
        int rc;
        if (!r) {
            set_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
            return;
        }
        vigil__v1__inventory_result__init(r);
        rc = store_inventory(s->store, req->inventory->agent_id, inv_cb, &x);
        r->agent_id = dup0(req->inventory->agent_id);
        r->packages = x.v;
        r->n_packages = x.n;
        resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_INVENTORY;
        resp->inventory = r;
        finish(resp, rc || x.oom);
        return;
    }
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_PENDING: {
        struct pend_ctx x = { NULL, 0, 0, 0 };
        Vigil__V1__PendingResult *r = calloc(1, sizeof(*r));
        const char *id = req->pending->agent_id;
        int rc;
        if (!r) {
            set_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
            return;
        }
        vigil__v1__pending_result__init(r);
        rc = store_pending(s->store, id && id[0] ? id : NULL, req->pending->security_only,
                           pend_cb, &x);
        r->updates = x.v;
        r->n_updates = x.n;
        resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PENDING;
        resp->pending = r;
        finish(resp, rc || x.oom);
        return;
    }
    default:
        set_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                  "unknown request; is vigilctl newer than the collector?");
        return;
    }
}

void api_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->error) {
        free(resp->error->message);
        free(resp->error);
    }
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS && resp->hosts) {
        for (size_t i = 0; i < resp->hosts->n_hosts; i++) {
            Vigil__V1__HostInfo *h = resp->hosts->hosts[i];
            for (size_t j = 0; j < h->n_tags; j++) {
                free(h->tags[j]->key);
                free(h->tags[j]->value);
                free(h->tags[j]);
            }
            free(h->tags);
            free(h->agent_id);
            free(h->hostname);
            free(h->os_pretty_name);
            free(h->kernel_release);
            free(h->software_version);
            free(h->newest_kernel);
            free(h->pending_error);
            free(h);
        }
        free(resp->hosts->hosts);
        free(resp->hosts);
    }
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PACKAGES && resp->packages) {
        for (size_t i = 0; i < resp->packages->n_hosts; i++) {
            Vigil__V1__HostPackage *h = resp->packages->hosts[i];
            free(h->agent_id);
            free(h->hostname);
            free(h->manager);
            pkg_msg_free(h->package);
            free(h);
        }
        free(resp->packages->hosts);
        free(resp->packages);
    }
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PENDING && resp->pending) {
        for (size_t i = 0; i < resp->pending->n_updates; i++)
            pend_msg_free(resp->pending->updates[i]);
        free(resp->pending->updates);
        free(resp->pending);
    }
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_INVENTORY &&
        resp->inventory) {
        for (size_t i = 0; i < resp->inventory->n_packages; i++)
            pkg_msg_free(resp->inventory->packages[i]);
        free(resp->inventory->packages);
        free(resp->inventory->agent_id);
        free(resp->inventory);
    }
}
