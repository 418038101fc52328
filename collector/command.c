/*
 * Commands to agents: isolate and release (collect comes with triage).
 *
 *   vigilctl --isolate--> api: role check, host known, reason given
 *            --> store (state queued, audit "queued") --> sent at once if
 *            the agent is connected (delivered), else after its next hello
 *   agent --CommandResult--> state running / succeeded / failed /
 *            rolled-back / expired / rejected (audit on every final state)
 *   sweep: queued commands past their expiry become expired (audit).
 *   vigilctl commands cancel: a queued command becomes cancelled (audit)
 *            and is never sent; a delivered one is past cancelling.
 *
 * Unfinished commands are sent again after every hello: a result lost
 * with a connection is asked for again, and the agent, which records
 * every command id it has seen before running it, answers from that
 * record instead of running it twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "crypto.h"
#include "db.h"
#include "err.h"
#include "netaddr.h"
#include "pb.h"
#include "rtoken.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#define DEFAULT_EXPIRY_MS (24LL * 3600 * 1000)
#define TOKEN_DEFAULT_MS (7LL * 86400 * 1000)
#define TOKEN_MAX_MS (90LL * 86400 * 1000)
#define LIST_LIMIT 1000
#define COLLECT_DEFAULT_BYTES (256ULL * 1024 * 1024)

static int send_command(struct conn *agent, const void *body, size_t len)
{
    Vigil__V1__Command *cmd = vigil__v1__command__unpack(NULL, len, body);
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    int rc;
    if (!cmd)
        return VG_ECORRUPT;
    env.sent_time_ms = vg_time_now_ms();
    env.body_case = VIGIL__V1__ENVELOPE__BODY_COMMAND;
    env.command = cmd;
    rc = vg_wire_send(agent->tls, &env);
    vigil__v1__command__free_unpacked(cmd, NULL);
    return rc;
}

/* Sends a command.  A queued one is claimed first (marked delivered,
 * audited): only the claim that changes it sends it, so a command
 * cancelled meanwhile, or claimed by another collector sharing the
 * database, is not sent.  One delivered already (the agent reconnected)
 * is sent again: the agent knows it by its id. */
static void deliver(struct server *s, struct conn *agent, const char *id, const void *body,
                    size_t len, int state)
{
    const char *agent_id = vg_tls_peer(agent->tls)->cn;
    int rc;

    if (state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED) {
        rc = store_command_delivered(s->store, id, vg_time_now_ms());
        if (rc != 1) {
            if (rc < 0)
                log_warnx("agent %s: command %s stays queued: the store failed (%s)", agent_id,
                          id, store_last_error(s->store));
            return;
        }
        {
            char detail[120];
            snprintf(detail, sizeof(detail), "command %s sent to the agent", id);
            store_audit_append(s->store, "collector", "deliver", agent_id, detail,
                               "delivered");
        }
    }
    rc = send_command(agent, body, len);
    if (rc) {
        /* It is delivered in the store: sent again when the agent reconnects. */
        log_warnx("agent %s: cannot send command %s: %s", agent_id, id, vg_strerror(rc));
        return;
    }
#ifdef VG_TEST_HOOKS
    if (getenv("VIGIL_TEST_DELIVER_TWICE")) /* fault injection: a duplicate delivery */
        send_command(agent, body, len);
#endif
}

struct deliver_ctx {
    struct server *s;
    struct conn *agent;
    int queued_only;
};

static int deliver_cb(void *ctx, const char *id, const void *body, size_t len, int state)
{
    struct deliver_ctx *x = ctx;
    if (x->agent->closing)
        return 1;
    if (!x->queued_only || state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED)
        deliver(x->s, x->agent, id, body, len, state);
    return 0;
}

void commands_deliver(struct server *s, struct conn *agent)
{
    struct deliver_ctx x = { s, agent, 0 };
    /* Expired ones first, so that none of them is sent. */
    commands_sweep(s);
    store_commands_unfinished(s->store, agent->host_id, deliver_cb, &x);
}

void commands_deliver_queued(struct server *s, struct conn *agent)
{
    struct deliver_ctx x = { s, agent, 1 };
    commands_sweep(s);
    store_commands_unfinished(s->store, agent->host_id, deliver_cb, &x);
}

void commands_on_result(struct server *s, struct conn *agent, const Vigil__V1__CommandResult *r)
{
    const char *agent_id = vg_tls_peer(agent->tls)->cn;
    char action[32] = "", detail[700];
    int64_t now = vg_time_now_ms();
    int st = (int)r->state, rc;

    if (st < VIGIL__V1__COMMAND_STATE__COMMAND_STATE_DELIVERED ||
        st > VIGIL__V1__COMMAND_STATE__COMMAND_STATE_REJECTED) {
        snprintf(detail, sizeof(detail), "result for command %.40s has state %d; ignored",
                 r->command_id, st);
        conn_report(agent, REPORT_RESULT, "command result", agent_id, detail);
        return;
    }
    rc = store_command_update(s->store, agent->host_id, r->command_id, st, r->message, now,
                              action, sizeof(action));
    if (rc != 1) {
        if (rc == 0)
            log_debug("agent %s: report on command %.40s (%s) changes nothing", agent_id,
                      r->command_id, vg_command_state_name(st));
        return;
    }
    log_info("agent %s: command %s (%s) %s%s%s", agent_id, r->command_id, action,
             vg_command_state_name(st), r->message[0] ? ": " : "", r->message);
    if (st < VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED)
        return;
    snprintf(detail, sizeof(detail), "command %s: %.600s", r->command_id,
             r->message[0] ? r->message : "(no message)");
    {
        char actor[120];
        snprintf(actor, sizeof(actor), "agent %s (%s)", agent_id, vg_tls_peer_addr(agent->tls));
        store_audit_append(s->store, actor, action, agent_id, detail, vg_command_state_name(st));
    }
    if (st == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED) {
        if (strcmp(action, "isolate") == 0)
            store_host_isolation(s->store, agent->host_id, 1,
                                 r->finished_time_ms ? r->finished_time_ms : now);
        else if (strcmp(action, "release") == 0)
            store_host_isolation(s->store, agent->host_id, 0, 0);
    }
}

static int expired_cb(void *ctx, const char *id, const char *action, const char *agent_id)
{
    struct server *s = ctx;
    char detail[120];
    snprintf(detail, sizeof(detail), "command %s was not delivered before it expired", id);
    log_info("command %s (%s for %s) expired undelivered", id, action, agent_id);
    store_audit_append(s->store, "collector", action, agent_id, detail, "expired");
    return 0;
}

void commands_sweep(struct server *s)
{
    store_commands_expire(s->store, vg_time_now_ms(), expired_cb, s);
}

static Vigil__V1__CommandInfo *info_msg(const struct store_command *c)
{
    Vigil__V1__CommandInfo *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    vigil__v1__command_info__init(m);
    m->command_id = strdup(c->id ? c->id : "");
    m->agent_id = strdup(c->agent_id ? c->agent_id : "");
    m->hostname = strdup(c->hostname ? c->hostname : "");
    m->action = strdup(c->action ? c->action : "");
    m->operator_ = strdup(c->operator_name ? c->operator_name : "");
    m->reason = strdup(c->reason ? c->reason : "");
    m->detail = strdup(c->detail ? c->detail : "");
    m->message = strdup(c->message ? c->message : "");
    m->issued_time_ms = c->issued_ms;
    m->expires_time_ms = c->expires_ms;
    m->state = (Vigil__V1__CommandState)c->state;
    m->delivered_time_ms = c->delivered_ms;
    m->finished_time_ms = c->finished_ms;
    m->updated_time_ms = c->updated_ms;
    return m;
}

static void info_free(Vigil__V1__CommandInfo *m)
{
    if (!m)
        return;
    free(m->command_id);
    free(m->agent_id);
    free(m->hostname);
    free(m->action);
    free(m->operator_);
    free(m->reason);
    free(m->detail);
    free(m->message);
    free(m);
}

int command_isolate(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                    Vigil__V1__OperatorResponse *resp)
{
    int isolate = req->request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_ISOLATE;
    int collect = req->request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECT;
    const char *action = isolate ? "isolate" : collect ? "collect" : "release";
    const char *agent_id = isolate   ? req->isolate->agent_id
                           : collect ? req->collect->agent_id
                                     : req->release->agent_id;
    const char *reason = isolate ? req->isolate->reason
                         : collect ? req->collect->reason
                                   : req->release->reason;
    const char *selection = isolate ? req->isolate->selection
                            : collect ? req->collect->selection
                                      : req->release->selection;
    int64_t expires = isolate   ? req->isolate->expires_time_ms
                      : collect ? req->collect->expires_time_ms
                                : req->release->expires_time_ms;
    Vigil__V1__Command cmd = VIGIL__V1__COMMAND__INIT;
    Vigil__V1__IsolateAction ia = VIGIL__V1__ISOLATE_ACTION__INIT;
    Vigil__V1__ReleaseAction ra = VIGIL__V1__RELEASE_ACTION__INIT;
    Vigil__V1__CollectAction ca = VIGIL__V1__COLLECT_ACTION__INIT;
    struct store_command sc;
    struct conn *agent;
    char id[VG_UUID_STR], opname[160], hostname[256], detail[1024], audit[1700], msg[300];
    int64_t now = vg_time_now_ms(), host_id;
    uint8_t *body = NULL;
    size_t len, off = 0;
    int rc;

    if (!reason || !reason[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "a reason is required (--reason TEXT); it goes to the audit log");
        return 0;
    }
    rc = store_host_find(s->store, agent_id, &host_id, hostname, sizeof(hostname));
    if (rc < 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE, "the collector's store failed");
        return 0;
    }
    if (rc == 0) {
        snprintf(msg, sizeof(msg), "no host with agent id '%.64s' (see vigilctl hosts)",
                 agent_id);
        resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND, action, agent_id, msg);
        return 0;
    }
    detail[0] = '\0';
    if (isolate) {
        const Vigil__V1__IsolateRequest *r = req->isolate;
        if (r->n_allow > 64) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "at most 64 --allow rules");
            return 0;
        }
        for (size_t i = 0; i < r->n_allow; i++) {
            const Vigil__V1__AllowRule *a = r->allow[i];
            struct vg_netaddr na;
            char why[160];
            if (vg_netaddr_parse(a->cidr, &na, why, sizeof(why)) || na.port || a->port > 65535 ||
                (a->protocol[0] && strcmp(a->protocol, "tcp") != 0 && strcmp(a->protocol, "udp") != 0)) {
                snprintf(msg, sizeof(msg), "--allow %s: expected ADDRESS[/PREFIX][:PORT]",
                         na.port ? a->cidr : why);
                resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, msg);
                return 0;
            }
            off += (size_t)snprintf(detail + off, sizeof(detail) - off, "%sallow %s",
                                    i ? ", " : "", a->cidr);
            if (off < sizeof(detail) && a->port)
                off += (size_t)snprintf(detail + off, sizeof(detail) - off, " port %u", a->port);
            if (off >= sizeof(detail))
                off = sizeof(detail) - 1;
        }
        ia.n_allow = r->n_allow;
        ia.allow = r->allow;
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_ISOLATE;
        cmd.isolate = &ia;
    } else if (collect) {
        ca.max_bytes = req->collect->max_bytes ? req->collect->max_bytes : COLLECT_DEFAULT_BYTES;
        if (ca.max_bytes > s->conf->collection_max_size)
            ca.max_bytes = s->conf->collection_max_size;
        ca.max_seconds = req->collect->max_seconds ? req->collect->max_seconds : 300;
        if (ca.max_seconds > 3600)
            ca.max_seconds = 3600;
        snprintf(detail, sizeof(detail), "at most %llu bytes, %u s",
                 (unsigned long long)ca.max_bytes, ca.max_seconds);
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_COLLECT;
        cmd.collect = &ca;
    } else {
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_RELEASE;
        cmd.release = &ra;
    }
    if (vg_uuid4(id) != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "no randomness for a command id");
        return 0;
    }
    conn_operator_name(op, opname, sizeof(opname));
    cmd.command_id = id;
    cmd.operator_ = opname;
    cmd.reason = (char *)reason;
    cmd.issued_time_ms = now;
    cmd.expires_time_ms = expires > now ? expires : now + DEFAULT_EXPIRY_MS;
    len = vigil__v1__command__get_packed_size(&cmd);
    if (!(body = malloc(len ? len : 1))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__command__pack(&cmd, body);
    memset(&sc, 0, sizeof(sc));
    sc.id = id;
    sc.host_id = host_id;
    sc.action = action;
    sc.operator_name = opname;
    sc.reason = reason;
    sc.detail = detail;
    sc.issued_ms = now;
    sc.expires_ms = cmd.expires_time_ms;
    snprintf(audit, sizeof(audit), "command %s; reason: %.300s%s%s%s%.200s", id, reason,
             detail[0] ? "; " : "", detail, selection[0] ? "; one of several hosts: " : "",
             selection);
    /* The command and its audit entry commit together. */
    rc = store_begin(s->store);
    if (rc == 0)
        rc = store_command_add(s->store, &sc, body, len);
    if (rc == 0)
        rc = store_audit_append(s->store, conn_who(op), action, agent_id, audit, "queued");
    /* Another collector sharing the database may hold the agent. */
    if (rc == 0 && !conn_find_agent(s, agent_id))
        rc = store_command_notify(s->store, agent_id);
    if (rc == 0)
        rc = store_commit(s->store);
    else
        store_rollback(s->store);
    if (rc) {
        free(body);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not store the command; nothing was queued");
        return 0;
    }
    log_info("%s: %s %s (%s) queued as command %s: %s", conn_who(op), action, agent_id,
             hostname, id, reason);
    agent = conn_find_agent(s, agent_id);
    if (agent && !agent->closing)
        deliver(s, agent, id, body, len, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED);
    free(body);
    {
        Vigil__V1__CommandInfo *m;
        sc.agent_id = agent_id;
        sc.hostname = hostname;
        sc.state = agent ? VIGIL__V1__COMMAND_STATE__COMMAND_STATE_DELIVERED
                         : VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED;
        sc.updated_ms = now;
        m = info_msg(&sc);
        if (!m) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
            return 0;
        }
        /* With several collectors on one database, the agent may be on
         * another, which was notified and sends it (still queued here). */
        m->agent_connected = agent != NULL ||
                             (db_is_url(conf_store_target(s->conf)) &&
                              host_connected(s, agent_id, store_host_live_seen(s->store, host_id)));
        resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND;
        resp->command = m;
        resp->ok = 1;
    }
    return 0;
}

struct list_ctx {
    Vigil__V1__CommandInfo **v;
    size_t n, cap;
    int oom;
};

static int list_cb(void *ctx, const struct store_command *c)
{
    struct list_ctx *x = ctx;
    Vigil__V1__CommandInfo **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
    if (!nv)
        return 1;
    x->v = nv;
    if (!(x->v[x->n] = info_msg(c))) {
        x->oom = 1;
        return 1;
    }
    x->n++;
    return 0;
}

int command_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                 Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__CommandsQuery *q = req->commands;
    struct list_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__CommandsResult *r = calloc(1, sizeof(*r));
    uint32_t limit = q->limit && q->limit < LIST_LIMIT ? q->limit : LIST_LIMIT;
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__commands_result__init(r);
    if (q->n_command_ids > LIST_LIMIT) {
        free(r);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "at most 1000 command ids");
        return 0;
    }
    rc = 0;
    if (!q->n_command_ids || q->command_id[0])
        rc = store_commands(s->store, q->agent_id[0] ? q->agent_id : NULL,
                            q->command_id[0] ? q->command_id : NULL, limit, list_cb, &x);
    /* A fleet action's commands, in the order asked (api.c cuts the
     * answer to a scoped operator's hosts). */
    for (size_t i = 0; rc >= 0 && !x.oom && i < q->n_command_ids; i++)
        if (q->command_ids[i][0])
            rc = store_commands(s->store, q->agent_id[0] ? q->agent_id : NULL,
                                q->command_ids[i], 1, list_cb, &x);
    r->commands = x.v;
    r->n_commands = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS;
    resp->commands = r;
    if (rc < 0 || x.oom)
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not read its store; see its log");
    else
        resp->ok = 1;
    return 0;
}

static int cancel_info_cb(void *ctx, const struct store_command *c)
{
    Vigil__V1__CommandInfo **m = ctx;
    *m = info_msg(c);
    return 1;
}

int command_cancel(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__CommandCancel *r = req->command_cancel;
    Vigil__V1__CommandInfo *m = NULL;
    char action[32] = "", msg[400], audit[800];
    int64_t host_id, now = vg_time_now_ms();
    int state = 0, rc, cancelled = 0;

    if (!r->command_id[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "which command? Give its id");
        return 0;
    }
    rc = store_command_info(s->store, r->command_id, &host_id, action, sizeof(action), &state,
                            NULL, NULL);
    if (rc < 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE, "the collector's store failed");
        return 0;
    }
    if (rc == 0) {
        snprintf(msg, sizeof(msg), "no command with id '%.64s' (see vigilctl commands)",
                 r->command_id);
        resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND, "cancel", r->command_id,
                    msg);
        return 0;
    }
    snprintf(msg, sizeof(msg), "cancelled by %s%s%.200s", conn_who(op), r->reason[0] ? ": " : "",
             r->reason);
    /* The state change and its audit entry commit together; the loop
     * delivers commands, so none is sent between the check and this. */
    rc = store_begin(s->store);
    if (rc == 0 && (rc = store_command_cancel(s->store, r->command_id, msg, now)) == 1) {
        char agent[256] = "";
        Vigil__V1__CommandInfo *cur = NULL;
        cancelled = 1;
        if (store_commands(s->store, NULL, r->command_id, 1, cancel_info_cb, &cur) >= 0 && cur)
            vg_strlcpy(agent, cur->agent_id, sizeof(agent));
        info_free(cur);
        snprintf(audit, sizeof(audit), "command %s (%s) cancelled before delivery; it is never "
                 "sent%s%.500s", r->command_id, action, r->reason[0] ? "; reason: " : "",
                 r->reason);
        rc = store_audit_append(s->store, conn_who(op), "cancel", agent, audit, "cancelled");
    }
    if (rc == 0 || rc == 1) {
        if ((rc = store_commit(s->store)) != 0)
            store_rollback(s->store);
    } else {
        store_rollback(s->store);
    }
    if (rc < 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not cancel the command; it stands as it was");
        return 0;
    }
    if (store_commands(s->store, NULL, r->command_id, 1, cancel_info_cb, &m) < 0 || !m) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    if (!cancelled) {
        /* Delivered or finished (cancelled too) before this request. */
        int isolate = strcmp(action, "isolate") == 0;
        snprintf(msg, sizeof(msg), "command %.64s (%s) is %s: %s", r->command_id, action,
                 vg_command_state_name(m->state),
                 m->state >= VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED
                     ? "it is finished, there is nothing to cancel"
                 : isolate ? "the agent has it, so it cannot be cancelled; release the host "
                             "instead (vigilctl release HOST --reason TEXT)"
                           : "the agent has it, so it cannot be cancelled");
        resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "cancel", m->agent_id,
                    msg);
        info_free(m);
        return 0;
    }
    log_info("%s: command %s (%s for %s) cancelled", conn_who(op), r->command_id, action,
             m->agent_id);
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND;
    resp->command = m;
    resp->ok = 1;
    return 0;
}

int command_release_token(struct server *s, struct conn *op,
                          const Vigil__V1__OperatorRequest *req,
                          Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ReleaseTokenRequest *r = req->release_token;
    struct vg_rtoken t;
    struct vg_key *key = NULL;
    Vigil__V1__ReleaseTokenResult *res;
    char *pem = NULL, *json = NULL, audit[800], hostname[256];
    size_t pemlen;
    int64_t now = vg_time_now_ms(), host_id;
    int rc;

    if (!r->reason[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "a reason is required (--reason TEXT); it goes to the audit log");
        return 0;
    }
    if ((rc = store_host_find(s->store, r->agent_id, &host_id, hostname, sizeof(hostname))) <= 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no host with agent id '%.64s' (see vigilctl hosts)",
                 r->agent_id);
        if (rc == 0)
            resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND, "release-token",
                 r->agent_id, msg);
        else
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE, "store failed");
        return 0;
    }
    memset(&t, 0, sizeof(t));
    vg_uuid4(t.token_id);
    vg_strlcpy(t.agent_id, r->agent_id, sizeof(t.agent_id));
    t.issued_ms = now;
    t.expires_ms = r->expires_time_ms > now ? r->expires_time_ms : now + TOKEN_DEFAULT_MS;
    if (t.expires_ms > now + TOKEN_MAX_MS)
        t.expires_ms = now + TOKEN_MAX_MS;
    conn_operator_name(op, t.operator_name, sizeof(t.operator_name));
    vg_strlcpy(t.reason, r->reason, sizeof(t.reason));
    rc = vg_file_read(s->conf->cert, 64 * 1024, &pem, &pemlen);
    if (rc == 0)
        rc = vg_key_load(s->conf->key, &key);
    if (rc == 0)
        rc = vg_rtoken_sign(&t, pem, key, &json);
    vg_key_free(key);
    free(pem);
    if (rc) {
        log_warnx("cannot sign a release token: %s", vg_strerror(rc));
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not sign the token; see its log");
        return 0;
    }
    {
        char until[VG_TIME_STR_MAX];
        snprintf(audit, sizeof(audit), "break-glass token %s, valid until %s; reason: %.500s",
                 t.token_id, vg_time_format(t.expires_ms, until, sizeof(until)), r->reason);
    }
    if (store_audit_append(s->store, conn_who(op), "release-token", r->agent_id, audit,
                           "issued") != 0) {
        free(json);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not audit the token, so it issued none");
        return 0;
    }
    log_info("%s: break-glass release token %s issued for %s", conn_who(op), t.token_id,
             r->agent_id);
    if (!(res = calloc(1, sizeof(*res)))) {
        free(json);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__release_token_result__init(res);
    res->token = json;
    res->expires_time_ms = t.expires_ms;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_RELEASE_TOKEN;
    resp->release_token = res;
    resp->ok = 1;
    return 0;
}

void command_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND) {
        info_free(resp->command);
    } else if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS &&
               resp->commands) {
        for (size_t i = 0; i < resp->commands->n_commands; i++)
            info_free(resp->commands->commands[i]);
        free(resp->commands->commands);
        free(resp->commands);
    } else if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_RELEASE_TOKEN &&
               resp->release_token) {
        if (resp->release_token->token)
            vg_zeroize(resp->release_token->token, strlen(resp->release_token->token));
        free(resp->release_token->token);
        free(resp->release_token);
    }
}
