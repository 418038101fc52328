/*
 * Operator requests: the dispatch table (every request kind, the least
 * role that may make it, its handler), the one role check, and the
 * fleet queries (hosts, packages, inventory, pending, processes, audit).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "db.h"
#include "store.h"
#include "util.h"

struct hosts_ctx {
    struct server *srv;
    const Vigil__V1__HostsQuery *q;
    Vigil__V1__HostInfo **v;
    size_t n, cap;
    int oom;
};

/* An isolation the agent has not confirmed for three of its confirmation
 * intervals (the larger of its health and check intervals) plus 10 s
 * (its clock may drift; the report may queue): from what the collector
 * knows, the rules may be gone. */
static int isolation_unverified(const struct store_host *h, int64_t now)
{
    uint64_t interval = h->confirm_interval_ms ? h->confirm_interval_ms : 60000;
    int64_t last = h->isolation_verified_ms ? h->isolation_verified_ms - h->clock_skew_ms : 0;
    return now - last > (int64_t)(3 * interval + 10000);
}

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
    if (!tags_match(tags, x->q) || (h->retired_ms && !x->q->include_retired) ||
        (x->q->stale_ms && (conn_find_agent(x->srv, h->agent_id) ||
                            h->last_seen_ms > vg_time_now_ms() - (int64_t)x->q->stale_ms))) {
        json_decref(tags);
        return 0;
    }
    {
        Vigil__V1__HostInfo **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
        if (!nv) {
            json_decref(tags);
            return 1;
        }
        x->v = nv;
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
    hi->process_source = dup0(h->process_source);
    hi->isolated = h->isolated;
    hi->isolated_since_time_ms = h->isolated ? h->isolated_since_ms : 0;
    if (h->isolated) {
        /* Agent clock to ours (the skew is agent minus collector). */
        hi->isolation_verified_time_ms =
            h->isolation_verified_ms ? h->isolation_verified_ms - h->clock_skew_ms : 0;
        hi->isolation_unverified = isolation_unverified(h, vg_time_now_ms());
    }
    hi->unclean_stops = h->unclean_stops;
    hi->last_unclean_stop_time_ms = h->last_unclean_stop_ms;
    hi->last_unclean_gap_ms = h->last_unclean_gap_ms;
    hi->revoked = h->revoked_ms != 0;
    hi->revoked_time_ms = h->revoked_ms;
    hi->boot_time_ms = h->boot_time_ms;
    hi->retired_time_ms = h->retired_ms;
    hi->retired_by = dup0(h->retired_by);
    hi->retire_reason = dup0(h->retire_reason);
    hi->clone_signs = h->clone_count;
    hi->clone_first_time_ms = h->clone_first_ms;
    hi->clone_last_time_ms = h->clone_last_ms;
    hi->clone_evidence = dup0(h->clone_evidence);
    hi->duplicates_refused = h->duplicates_refused;
    hi->last_duplicate_time_ms = h->last_duplicate_ms;
    hi->last_duplicate_addr = dup0(h->last_duplicate_addr);
    hi->machine_id = dup0(h->machine_id);
    hi->connected = host_connected(x->srv, h->agent_id, h->live_seen_ms);
    hi->n_tags = json_object_size(tags);
    hi->tags = calloc(hi->n_tags ? hi->n_tags : 1, sizeof(*hi->tags));
    json_object_foreach(tags, k, v) {
        Vigil__V1__Tag *t = calloc(1, sizeof(*t));
        if (!t || !hi->tags) {
            free(t);
            break;
        }
        vigil__v1__tag__init(t);
        t->key = strdup(k);
        t->value = strdup(json_is_string(v) ? json_string_value(v) : "");
        hi->tags[i++] = t;
    }
    hi->n_tags = i;
    json_decref(tags);
    return 0;
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
    {
        Vigil__V1__Package **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
        if (!nv) {
            return 1;
        }
        x->v = nv;
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
    {
        Vigil__V1__HostPackage **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
        if (!nv) {
            return 1;
        }
        x->v = nv;
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
    {
        Vigil__V1__HostPendingUpdate **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
        if (!nv) {
            return 1;
        }
        x->v = nv;
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
    u->release_file_time_ms = p->release_file_ms;
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

static void bytes_dup(ProtobufCBinaryData *d, const void *p, size_t n)
{
    d->data = n ? malloc(n) : NULL;
    d->len = d->data ? n : 0;
    if (d->data)
        memcpy(d->data, p, n);
}

static Vigil__V1__StoredProcess *sp_msg(const struct store_proc *p)
{
    Vigil__V1__StoredProcess *m = calloc(1, sizeof(*m));
    Vigil__V1__ProcessExec *x = calloc(1, sizeof(*x));
    size_t nargs = 0;
    if (!m || !x) {
        free(m);
        free(x);
        return NULL;
    }
    vigil__v1__stored_process__init(m);
    vigil__v1__process_exec__init(x);
    x->pid = p->pid;
    x->ppid = p->ppid;
    x->uid = p->uid;
    x->euid = p->euid;
    x->gid = p->gid;
    x->egid = p->egid;
    x->login_uid = p->login_uid;
    x->session_id = p->session_id;
    x->comm = dup0(p->comm);
    bytes_dup(&x->exe_path, p->exe, p->exe_len);
    /* argv: NUL-separated in the store. */
    if (p->argv_len) {
        const char *a = p->argv;
        for (size_t i = 0; i <= p->argv_len; i++)
            if (i == p->argv_len || a[i] == '\0')
                nargs++;
        x->argv = calloc(nargs, sizeof(*x->argv));
        if (x->argv) {
            size_t start = 0;
            for (size_t i = 0; i <= p->argv_len; i++)
                if (i == p->argv_len || a[i] == '\0') {
                    bytes_dup(&x->argv[x->n_argv++], a + start, i - start);
                    start = i + 1;
                }
        }
    }
    x->argv_truncated = p->argv_truncated;
    bytes_dup(&x->cwd, p->cwd, p->cwd_len);
    bytes_dup(&x->parent_exe, p->parent_exe, p->parent_exe_len);
    x->container_id = dup0(p->container_id);
    x->cgroup_id = p->cgroup_id;
    x->exe_sha256 = dup0(p->sha256);
    x->hash_note = dup0(p->hash_note);
    x->start_boot_ns = p->start_boot_ns;
    x->start_time_ms = p->start_ms;
    x->similar = p->similar;
    x->forked = p->forked;
    x->source = dup0(p->source);
    x->tty = dup0(p->tty);
    if (p->unknown && p->unknown[0]) {
        size_t n = 1;
        for (const char *c = p->unknown; *c; c++)
            n += *c == ',';
        x->unknown = calloc(n, sizeof(char *));
        if (x->unknown) {
            const char *c = p->unknown;
            while (*c) {
                size_t l = strcspn(c, ",");
                x->unknown[x->n_unknown++] = strndup(c, l);
                c += l + (c[l] == ',');
            }
        }
    }
    m->exec = x;
    m->exited = p->exited;
    m->exit_time_ms = p->exit_ms;
    m->exit_code = p->exit_code;
    m->signal = p->signal;
    m->core_dumped = p->core_dumped;
    m->lifetime_ns = p->lifetime_ns;
    m->stored_time_ms = p->recv_ms;
    return m;
}

static void sp_free(Vigil__V1__StoredProcess *m)
{
    Vigil__V1__ProcessExec *x;
    if (!m)
        return;
    x = m->exec;
    if (x) {
        free(x->comm);
        free(x->exe_path.data);
        for (size_t i = 0; i < x->n_argv; i++)
            free(x->argv[i].data);
        free(x->argv);
        free(x->cwd.data);
        free(x->parent_exe.data);
        free(x->container_id);
        free(x->exe_sha256);
        free(x->hash_note);
        free(x->source);
        for (size_t i = 0; i < x->n_unknown; i++)
            free(x->unknown[i]);
        free(x->unknown);
        free(x);
    }
    free(m);
}

struct sp_ctx {
    Vigil__V1__StoredProcess **v;
    size_t n, cap, limit;
    int oom, truncated;
    int64_t last_start;
    uint32_t last_ppid;
};

static int sp_cb(void *ctx, const struct store_proc *p)
{
    struct sp_ctx *x = ctx;
    Vigil__V1__StoredProcess *m;
    if (x->limit && x->n >= x->limit) {
        x->truncated = 1;
        return 1;
    }
    {
        Vigil__V1__StoredProcess **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
        if (!nv) {
            return 1;
        }
        x->v = nv;
    }
    if (!(m = sp_msg(p))) {
        x->oom = 1;
        return 1;
    }
    x->v[x->n++] = m;
    x->last_start = p->start_ms;
    x->last_ppid = p->ppid;
    return 0;
}

#define PROCESSES_LIMIT 10000
#define TREE_DEPTH 64

struct audit_ctx {
    Vigil__V1__AuditEntry **v;
    size_t n, cap;
    int oom;
};

static int audit_cb(void *ctx, const struct store_audit *a)
{
    struct audit_ctx *x = ctx;
    Vigil__V1__AuditEntry *m;
    {
        Vigil__V1__AuditEntry **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
        if (!nv) {
            return 1;
        }
        x->v = nv;
    }
    if (!(m = calloc(1, sizeof(*m)))) {
        x->oom = 1;
        return 1;
    }
    vigil__v1__audit_entry__init(m);
    m->id = a->id;
    m->time_ms = a->time_ms;
    m->actor = dup0(a->actor);
    m->action = dup0(a->action);
    m->target = dup0(a->target);
    m->detail = dup0(a->detail);
    m->result = dup0(a->result);
    m->hash = dup0(a->hash);
    x->v[x->n++] = m;
    return 0;
}

/* Ends a store query: an error the operator can act on, or ok. */
static void finish(Vigil__V1__OperatorResponse *resp, int failed)
{
    if (failed)
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not read its store; see its log");
    else
        resp->ok = 1;
}

static int q_hosts(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp)
{
    struct hosts_ctx x = { s, req->hosts, NULL, 0, 0, 0 };
    Vigil__V1__HostsResult *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__hosts_result__init(r);
    rc = store_hosts(s->store, host_cb, &x);
    /* Whatever was gathered is owned by the response from here on. */
    r->hosts = x.v;
    r->n_hosts = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS;
    resp->hosts = r;
    finish(resp, rc != 0 || x.oom);
    return 0;
}

static int q_packages(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp)
{
    struct ph_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__PackagesResult *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__packages_result__init(r);
    rc = store_package_hosts(s->store, req->packages->name, ph_cb, &x);
    r->hosts = x.v;
    r->n_hosts = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PACKAGES;
    resp->packages = r;
    finish(resp, rc || x.oom);
    return 0;
}

static int q_inventory(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                       Vigil__V1__OperatorResponse *resp)
{
    struct inv_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__InventoryResult *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__inventory_result__init(r);
    rc = store_inventory(s->store, req->inventory->agent_id, inv_cb, &x);
    r->agent_id = dup0(req->inventory->agent_id);
    r->packages = x.v;
    r->n_packages = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_INVENTORY;
    resp->inventory = r;
    finish(resp, rc || x.oom);
    return 0;
}

static int q_pending(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                     Vigil__V1__OperatorResponse *resp)
{
    struct pend_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__PendingResult *r = calloc(1, sizeof(*r));
    const char *id = req->pending->agent_id;
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__pending_result__init(r);
    rc = store_pending(s->store, id && id[0] ? id : NULL, req->pending->security_only,
                       pend_cb, &x);
    r->updates = x.v;
    r->n_updates = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PENDING;
    resp->pending = r;
    finish(resp, rc || x.oom);
    return 0;
}

static int q_processes(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                       Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ProcessesQuery *pq = req->processes;
    struct sp_ctx x;
    Vigil__V1__ProcessesResult *r = calloc(1, sizeof(*r));
    char exe[4096];
    int rc;

    (void)op;
    memset(&x, 0, sizeof(x));
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__processes_result__init(r);
    x.limit = pq->limit && pq->limit < PROCESSES_LIMIT ? pq->limit : PROCESSES_LIMIT;
    exe[0] = '\0';
    if (pq->exe.len >= sizeof(exe)) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "the --exe path is longer than 4095 bytes");
        free(r);
        return 0;
    }
    if (pq->exe.len) {
        memcpy(exe, pq->exe.data, pq->exe.len);
        exe[pq->exe.len] = '\0';
    }
    /* One more than the limit: to tell the operator there is more. */
    rc = store_processes(s->store, pq->agent_id, pq->since_time_ms, exe, pq->pid,
                         (uint32_t)x.limit + 1, sp_cb, &x);
    r->agent_id = dup0(pq->agent_id);
    r->processes = x.v;
    r->n_processes = x.n;
    r->truncated = x.truncated;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESSES;
    resp->processes = r;
    finish(resp, (rc < 0) || x.oom);
    return 0;
}

static int q_process_tree(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                          Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ProcessTreeQuery *tq = req->process_tree;
    struct sp_ctx x;
    Vigil__V1__ProcessesResult *r = calloc(1, sizeof(*r));
    int64_t before = tq->at_time_ms ? tq->at_time_ms : INT64_MAX;
    uint32_t pid = tq->pid;
    int rc = 0;

    (void)op;
    memset(&x, 0, sizeof(x));
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__processes_result__init(r);
    for (int depth = 0; depth < TREE_DEPTH && pid; depth++) {
        rc = store_process_at(s->store, tq->agent_id, pid, before, sp_cb, &x);
        if (rc <= 0 || x.oom)
            break;
        /* Up: the parent as it was when this one started. */
        if (x.last_ppid == pid)
            break;
        pid = x.last_ppid;
        before = x.last_start;
        rc = 0;
    }
    r->agent_id = dup0(tq->agent_id);
    r->processes = x.v;
    r->n_processes = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESS_TREE;
    resp->process_tree = r;
    finish(resp, rc < 0 || x.oom);
    return 0;
}

static int q_audit(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp)
{
    struct audit_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__AuditResult *r = calloc(1, sizeof(*r));
    struct audit_verdict v;
    int64_t broken = 0;
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__audit_result__init(r);
    memset(&v, 0, sizeof(v));
    v.ok = 1;
    if (req->audit->verify)
        rc = audit_verify(s, req->audit->since_time_ms, audit_cb, &x, &v);
    else
        rc = store_audit_list(s->store, req->audit->since_time_ms, 0, audit_cb, &x, &broken,
                              NULL, 0);
    r->entries = x.v;
    r->n_entries = x.n;
    r->chain_ok = v.ok;
    r->broken_id = v.broken_id;
    r->broken_reason = dup0(v.why);
    r->broken_kind = dup0(v.kind);
    r->checkpoint_seq = v.cp_seq;
    r->checkpoint_time_ms = v.cp_time_ms;
    r->checkpoint_entries = v.cp_entries;
    r->checkpoint_last = v.cp_last;
    r->checkpoint_head = dup0(v.cp_head);
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_AUDIT;
    resp->audit = r;
    finish(resp, rc != 0 || x.oom);
    return 0;
}

/* Frees the answer of a query above (each checks its response case). */
static void query_free(Vigil__V1__OperatorResponse *resp)
{
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
            free(h->process_source);
            free(h->retired_by);
            free(h->retire_reason);
            free(h->clone_evidence);
            free(h->last_duplicate_addr);
            free(h->machine_id);
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
    if ((resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESSES &&
         resp->processes) ||
        (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESS_TREE &&
         resp->process_tree)) {
        Vigil__V1__ProcessesResult *r =
            resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESSES
                ? resp->processes
                : resp->process_tree;
        for (size_t i = 0; i < r->n_processes; i++)
            sp_free(r->processes[i]);
        free(r->processes);
        free(r->agent_id);
        free(r);
    }
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_AUDIT && resp->audit) {
        for (size_t i = 0; i < resp->audit->n_entries; i++) {
            Vigil__V1__AuditEntry *m = resp->audit->entries[i];
            free(m->actor);
            free(m->action);
            free(m->target);
            free(m->detail);
            free(m->result);
            free(m->hash);
            free(m);
        }
        free(resp->audit->entries);
        free(resp->audit->broken_reason);
        free(resp->audit->broken_kind);
        free(resp->audit->checkpoint_head);
        free(resp->audit);
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

/* ---- the dispatch table ---- */

/* What a refusal names as its target in the audit log. */
static const char *t_none(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    (void)req;
    (void)buf;
    (void)len;
    return "";
}

static const char *t_command(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    (void)buf;
    (void)len;
    switch (req->request_case) {
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_ISOLATE:
        return req->isolate->agent_id;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE:
        return req->release->agent_id;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECT:
        return req->collect->agent_id;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE_TOKEN:
        return req->release_token->agent_id;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOST_RETIRE:
        return req->host_retire->agent_id;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_REVOKE:
        if (req->revoke->operator_name[0]) {
            snprintf(buf, len, "operator %.64s", req->revoke->operator_name);
            return buf;
        }
        if (req->revoke->serial[0]) {
            snprintf(buf, len, "serial %.100s", req->revoke->serial);
            return buf;
        }
        return req->revoke->agent_id;
    default:
        return "";
    }
}

static const char *t_collection(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return req->collection_get->collection_id;
}

static const char *t_cancel(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    snprintf(buf, len, "command %.64s", req->command_cancel->command_id);
    return buf;
}

static const char *t_source(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return req->advisory_import->source;
}

/* The scope as the exception would be stored: "*", "tag:KEY=VALUE" or a host. */
static const char *t_exception_add(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    const Vigil__V1__ExceptionAdd *r = req->exception_add;
    if (r->tag[0]) {
        snprintf(buf, len, "tag:%s", r->tag);
        return buf;
    }
    return r->all_hosts ? "*" : r->host;
}

static const char *t_exception(const Vigil__V1__OperatorRequest *req, char *buf, size_t len)
{
    snprintf(buf, len, "exception %lld", (long long)req->exception_revoke->id);
    return buf;
}

/*
 * Every operator request, its action as the audit log names it, what it
 * does in the words of a refusal, the least role that may make it
 * (auditor: every operator role; responder: responder or admin; admin),
 * its handler and what frees the handler's answer.  The role check is here and nowhere else.
 */
#define REQ(x) VIGIL__V1__OPERATOR_REQUEST__REQUEST_##x
static const struct api_entry {
    Vigil__V1__OperatorRequest__RequestCase request;
    const char *action; /* in the audit log */
    const char *what;   /* in a refusal: "role auditor may not <what>" */
    enum vg_role min_role;
    const char *(*target)(const Vigil__V1__OperatorRequest *req, char *buf, size_t len);
    api_handler_fn handler;
    api_free_fn free;
} api_table[] = {
    { REQ(HOSTS), "hosts", "list hosts", VG_ROLE_AUDITOR, t_none, q_hosts, query_free },
    { REQ(PACKAGES), "packages", "list packages", VG_ROLE_AUDITOR, t_none, q_packages, query_free },
    { REQ(INVENTORY), "inventory", "read inventories", VG_ROLE_AUDITOR,
      t_none, q_inventory, query_free },
    { REQ(PENDING), "pending", "list pending updates", VG_ROLE_AUDITOR,
      t_none, q_pending, query_free },
    { REQ(PROCESSES), "processes", "list processes", VG_ROLE_AUDITOR,
      t_none, q_processes, query_free },
    { REQ(PROCESS_TREE), "process-tree", "read process trees", VG_ROLE_AUDITOR,
      t_none, q_process_tree, query_free },
    { REQ(AUDIT), "audit", "read the audit log", VG_ROLE_AUDITOR, t_none, q_audit, query_free },
    { REQ(ISOLATE), "isolate", "isolate hosts", VG_ROLE_RESPONDER, t_command, command_isolate,
      command_free_response },
    { REQ(RELEASE), "release", "release hosts", VG_ROLE_RESPONDER, t_command, command_isolate,
      command_free_response },
    { REQ(COLLECT), "collect", "collect triage packages", VG_ROLE_RESPONDER,
      t_command, command_isolate,
      command_free_response },
    { REQ(COMMANDS), "commands", "list commands", VG_ROLE_AUDITOR,
      t_none, command_list, command_free_response },
    { REQ(COMMAND_CANCEL), "cancel", "cancel commands", VG_ROLE_RESPONDER, t_cancel,
      command_cancel, command_free_response },
    { REQ(RELEASE_TOKEN), "release-token", "make release tokens", VG_ROLE_ADMIN,
      t_command, command_release_token,
      command_free_response },
    { REQ(REVOKE), "revoke", "revoke certificates", VG_ROLE_ADMIN,
      t_command, revoke_host, revoke_free_response },
    { REQ(HOST_RETIRE), "retire", "retire hosts", VG_ROLE_ADMIN,
      t_command, retire_host, retire_free_response },
    { REQ(DB_BACKUP), "db.backup", "back up the database", VG_ROLE_ADMIN,
      t_none, backup_request, backup_free_response },
    { REQ(OPERATORS), "operators", "list operators", VG_ROLE_AUDITOR,
      t_none, operators_list, operators_free_response },
    { REQ(REVOKED), "revoked", "list revoked certificates", VG_ROLE_AUDITOR,
      t_none, operators_revoked, operators_free_response },
    { REQ(ENROLL_TOKEN_CREATE), "enroll-token create", "create enrollment tokens", VG_ROLE_ADMIN,
      t_none,
      enroll_token_create, enroll_free_response },
    { REQ(ENROLL_TOKEN_LIST), "enroll-token list", "list enrollment tokens", VG_ROLE_ADMIN,
      t_none, enroll_token_list,
      enroll_free_response },
    { REQ(ENROLL_TOKEN_REVOKE), "enroll-token revoke", "revoke enrollment tokens", VG_ROLE_ADMIN,
      t_none,
      enroll_token_revoke, enroll_free_response },
    { REQ(COLLECTIONS), "collections", "list triage collections", VG_ROLE_AUDITOR,
      t_none, collect_list,
      collect_free_response },
    { REQ(COLLECTION_GET), "download", "download triage packages", VG_ROLE_RESPONDER,
      t_collection, collect_get,
      collect_free_response },
    { REQ(ADVISORY_IMPORT), "advisories.import", "import advisories", VG_ROLE_ADMIN,
      t_source, report_import,
      report_free_response },
    { REQ(ADVISORY_IMPORTS), "advisories", "list advisory imports", VG_ROLE_AUDITOR,
      t_none, report_imports,
      report_free_response },
    { REQ(EXCEPTION_ADD), "exception.add", "add exceptions", VG_ROLE_ADMIN,
      t_exception_add, report_exception_add,
      report_free_response },
    { REQ(EXCEPTIONS), "exceptions", "list exceptions", VG_ROLE_AUDITOR, t_none, report_exceptions,
      report_free_response },
    { REQ(EXCEPTION_REVOKE), "exception.revoke", "revoke exceptions", VG_ROLE_ADMIN, t_exception,
      report_exception_revoke, report_free_response },
    { REQ(REPORT), "report", "render reports", VG_ROLE_AUDITOR,
      t_none, report_render, report_free_response },
};
#undef REQ

/* Operator roles by what they may do: auditor < responder < admin. */
static int role_rank(enum vg_role r)
{
    switch (r) {
    case VG_ROLE_AUDITOR:
        return 1;
    case VG_ROLE_RESPONDER:
        return 2;
    case VG_ROLE_ADMIN:
        return 3;
    default:
        return 0;
    }
}

static const struct api_entry *api_lookup(Vigil__V1__OperatorRequest__RequestCase request)
{
    for (size_t i = 0; i < VG_ARRAY_SIZE(api_table); i++)
        if (api_table[i].request == request)
            return &api_table[i];
    return NULL;
}

/* The one host a request acts on or reads, or NULL (fleet-wide or none). */
static const char *req_host(const Vigil__V1__OperatorRequest *req)
{
    const char *a = NULL;
    switch (req->request_case) {
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_ISOLATE: a = req->isolate->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE: a = req->release->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECT: a = req->collect->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE_TOKEN: a = req->release_token->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_REVOKE: a = req->revoke->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOST_RETIRE: a = req->host_retire->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_INVENTORY: a = req->inventory->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_PENDING: a = req->pending->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_PROCESSES: a = req->processes->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_PROCESS_TREE: a = req->process_tree->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMANDS: a = req->commands->agent_id; break;
    case VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECTIONS: a = req->collections->agent_id; break;
    default: break;
    }
    return a && a[0] ? a : NULL;
}

static int coll_agent_cb(void *ctx, const struct store_collection *c)
{
    vg_strlcpy(ctx, c->agent_id ? c->agent_id : "", 256);
    return 0;
}

static int cmd_agent_cb(void *ctx, const struct store_command *c)
{
    vg_strlcpy(ctx, c->agent_id ? c->agent_id : "", 256);
    return 1;
}

/* 1 if op may make e's request: its role is enough and, for an operator
 * limited to groups ([operators] scopes), the host it names is in them.
 * Else 0 with resp set to "permission denied" and the refusal logged and
 * audited. */
static int allowed(struct server *s, struct conn *op, const struct api_entry *e,
                   const Vigil__V1__OperatorRequest *req, Vigil__V1__OperatorResponse *resp,
                   const struct scope *sc)
{
    enum vg_role r = vg_tls_peer(op->tls)->role;
    const char *host;
    char msg[800], buf[300];
    int in;

    if (role_rank(r) < role_rank(e->min_role)) {
        snprintf(msg, sizeof(msg), "role %s may not %s (needs %s)", vg_role_name(r), e->what,
                 e->min_role == VG_ROLE_ADMIN ? "admin" : "responder or admin");
        resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED, e->action,
                    e->target(req, buf, sizeof(buf)), msg);
        return 0;
    }
    if (!sc->scoped)
        return 1;
    /* A triage package: its host's. */
    if (req->request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECTION_GET) {
        char agent[256] = "";
        (void)store_collection_get(s->store, req->collection_get->collection_id, coll_agent_cb,
                                   agent);
        if (agent[0] && (in = scope_host(s, sc, agent)) != 1 && in != -ENOENT) {
            snprintf(msg, sizeof(msg), "%s is limited to hosts tagged %s; the package is from "
                     "host '%.64s', not one of them", vg_tls_peer(op->tls)->cn, sc->text, agent);
            resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED, e->action,
                        e->target(req, buf, sizeof(buf)), msg);
            return 0;
        }
        return 1;
    }
    /* A command to cancel: its host's. */
    if (req->request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMAND_CANCEL) {
        char agent[256] = "";
        (void)store_commands(s->store, NULL, req->command_cancel->command_id, 1, cmd_agent_cb,
                             agent);
        if (agent[0] && (in = scope_host(s, sc, agent)) != 1 && in != -ENOENT) {
            snprintf(msg, sizeof(msg), "%s is limited to hosts tagged %s; the command is for "
                     "host '%.64s', not one of them", vg_tls_peer(op->tls)->cn, sc->text, agent);
            resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED, e->action,
                        agent, msg);
            return 0;
        }
        return 1;
    }
    if (!(host = req_host(req)))
        return 1;
    /* No such host: the handler says so, as it would to anyone. */
    if ((in = scope_host(s, sc, host)) == 1 || in == -ENOENT)
        return 1;
    if (in < 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not read the host's groups; see its log");
        return 0;
    }
    snprintf(msg, sizeof(msg), "%s is limited to hosts tagged %s; host '%.64s' is not one of them",
             vg_tls_peer(op->tls)->cn, sc->text, host);
    resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED, e->action,
                e->target(req, buf, sizeof(buf))[0] ? e->target(req, buf, sizeof(buf)) : host,
                msg);
    return 0;
}

/*
 * A scoped operator's list answers hold only hosts in its scope: the
 * entries outside are moved to the end of the array and left out of its
 * count, which api_handle restores for the free function.
 */
struct list_view {
    void **v;
    size_t *n;
    size_t orig;
};

static const char *agent_of(Vigil__V1__OperatorResponse__ResponseCase k, const void *m)
{
    switch (k) {
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS:
        return ((const Vigil__V1__HostInfo *)m)->agent_id;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PACKAGES:
        return ((const Vigil__V1__HostPackage *)m)->agent_id;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PENDING:
        return ((const Vigil__V1__HostPendingUpdate *)m)->agent_id;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS:
        return ((const Vigil__V1__CommandInfo *)m)->agent_id;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTIONS:
        return ((const Vigil__V1__CollectionInfo *)m)->agent_id;
    default:
        return NULL;
    }
}

/* Returns 0, or an error (resp then says so). */
static int scope_filter(struct server *s, const struct scope *sc,
                        Vigil__V1__OperatorResponse *resp, struct list_view *lv)
{
    struct scope_set set;
    size_t keep = 0;
    int rc;

    lv->v = NULL;
    switch (resp->response_case) {
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS:
        lv->v = (void **)resp->hosts->hosts;
        lv->n = &resp->hosts->n_hosts;
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PACKAGES:
        lv->v = (void **)resp->packages->hosts;
        lv->n = &resp->packages->n_hosts;
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PENDING:
        lv->v = (void **)resp->pending->updates;
        lv->n = &resp->pending->n_updates;
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS:
        lv->v = (void **)resp->commands->commands;
        lv->n = &resp->commands->n_commands;
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTIONS:
        lv->v = (void **)resp->collections->collections;
        lv->n = &resp->collections->n_collections;
        break;
    default:
        return 0;
    }
    lv->orig = *lv->n;
    if (*lv->n == 0)
        return 0;
    if ((rc = scope_set_load(s, sc, &set)) != 0) {
        *lv->n = 0;
        return rc;
    }
    /* Stable: the answer keeps its order. */
    for (size_t i = 0; i < *lv->n; i++) {
        if (scope_set_has(&set, agent_of(resp->response_case, lv->v[i]))) {
            void *t = lv->v[i];
            memmove(&lv->v[keep + 1], &lv->v[keep], (i - keep) * sizeof(*lv->v));
            lv->v[keep++] = t;
        }
    }
    *lv->n = keep;
    scope_set_free(&set);
    return 0;
}

int api_handle(struct server *s, struct conn *c, const Vigil__V1__OperatorRequest *req)
{
    Vigil__V1__OperatorResponse resp = VIGIL__V1__OPERATOR_RESPONSE__INIT;
    const struct api_entry *e = api_lookup(req->request_case);
    struct list_view lv = { NULL, NULL, 0 };
    struct scope sc;
    int stop = 0;

    resp.request_id = req->request_id;
    operators_seen(s, c);
    scope_get(s, c, &sc);
    if (!e)
        resp_error(&resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "unknown request; is vigilctl newer than the collector?");
    else if (allowed(s, c, e, req, &resp, &sc) && e->handler(s, c, req, &resp))
        return 0; /* answered later */
    if (sc.scoped && resp.ok && scope_filter(s, &sc, &resp, &lv) != 0) {
        resp.ok = 0;
        resp_error(&resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not read the hosts' groups; see its log");
    }
    stop = conn_send_response(c, &resp) != 0;
    if (lv.v)
        *lv.n = lv.orig;
    if (e)
        e->free(&resp);
    if (resp.error) {
        free(resp.error->message);
        free(resp.error);
    }
    return stop;
}
