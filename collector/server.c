/*
 * The collector's network side: one libuv listener, mutual TLS, the
 * session protocol, and group commit.  Operator requests go down to
 * api.c's dispatch table; what handlers need of a connection is in conn.c
 * (nothing below calls back up into this file).
 *
 * Group commit: batches decoded on the loop wait in `pend`; the check
 * handle (run after I/O) hands them all, with the connection bookkeeping,
 * to the store thread, which stores them in one transaction on its own
 * database connection.  When it is done (job_done), the loop acknowledges
 * them and hands over what came in meanwhile.  So the loop never waits
 * for an fsync: handshakes, decryption and decoding go on during a
 * commit, and under load one commit covers many agents; when idle a batch
 * waits for no timer.  One batch
 * that cannot be stored must not cost the others: the group is then done
 * again with each batch in a savepoint of its own, and that one alone is
 * rejected (its content) or resent (the database's fault).
 */
#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "db.h"
#include "daemon.h"
#include "err.h"
#include "export.h"
#include "pb.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#define HELLO_TIMEOUT_MS 10000
/* A clock further off than this is worth a line in the log. */
#define SKEW_WARN_MS 60000

/* ---- agents ---- */

/* ---- connection bookkeeping: written first in the next group commit ---- */

/* Appends b (its strings and hello now owned by the queue).  Returns 0, or
 * -1 with nothing taken when the queue is full or memory short. */
static int book_push(struct server *s, const struct book *b)
{
    if (s->nbook == s->capbook) {
        size_t n = s->capbook ? s->capbook * 2 : 16;
        struct book *nb;
        if (s->nbook >= BOOK_MAX)
            return -1;
        nb = realloc(s->book, n * sizeof(*nb));
        if (!nb)
            return -1;
        s->book = nb;
        s->capbook = n;
    }
    s->book[s->nbook++] = *b;
    return 0;
}

/* Takes *envp (sets it to NULL) when queued; otherwise writes at once and
 * leaves it.  Returns 0 or the store's error. */
static int book_hello(struct server *s, Vigil__V1__Envelope **envp, const char *addr,
                      int64_t now)
{
    struct book b = {.kind = BOOK_HELLO, .now = now, .hello = *envp, .text = strdup(addr)};
    int64_t hid;

    if (b.text && book_push(s, &b) == 0) {
        *envp = NULL;
        return 0;
    }
    free(b.text);
    return store_host_seen(s->store, (*envp)->hello, addr, now, &hid);
}

static int book_cert(struct server *s, int64_t host_id, const char *serial, int64_t now)
{
    struct book b = {.kind = BOOK_CERT, .host_id = host_id, .now = now, .text = strdup(serial)};

    if (b.text && book_push(s, &b) == 0)
        return 0;
    free(b.text);
    return store_cert_seen(s->store, host_id, serial, now);
}

static void book_disconnect(struct server *s, const struct conn *c, int64_t now)
{
    struct book b = {.kind = BOOK_DISCONNECT, .host_id = c->host_id, .now = now,
                     .since = c->hello_ms};

    if (book_push(s, &b))
        store_disconnect(s->store, c->host_id, now, c->hello_ms);
}

static void book_duplicate(struct server *s, const char *agent_id, const char *addr, int64_t now)
{
    struct book b = {.kind = BOOK_DUPLICATE, .now = now, .agent_id = strdup(agent_id),
                     .text = strdup(addr)};

    if (b.agent_id && b.text && book_push(s, &b) == 0)
        return;
    free(b.agent_id);
    free(b.text);
    store_duplicate(s->store, agent_id, addr, now);
}

static int content_error(int rc)
{
    return rc == VG_ETOOBIG || rc == VG_EPROTO || rc == VG_EDECODE;
}

/* Inside the group's transaction.  A row that cannot be written is logged
 * (by the store) and skipped, as it was when each had its own commit.
 * Returns 0, or -EIO if the database rolled the transaction back; then
 * *bad is the row whose content was refused (PostgreSQL aborts the
 * transaction on any error), or n if it was not a row's fault. */
static int book_apply(struct store *st, const struct book *book, size_t n, size_t *bad)
{
    *bad = n;
    for (size_t i = 0; i < n; i++) {
        const struct book *b = &book[i];
        int64_t hid;
        int rc = 0;
        switch (b->kind) {
        case BOOK_HELLO: rc = store_host_seen(st, b->hello->hello, b->text, b->now, &hid); break;
        case BOOK_CERT: rc = store_cert_seen(st, b->host_id, b->text, b->now); break;
        case BOOK_DISCONNECT: rc = store_disconnect(st, b->host_id, b->now, b->since); break;
        case BOOK_DUPLICATE: rc = store_duplicate(st, b->agent_id, b->text, b->now); break;
        }
        if (store_txn_lost(st)) {
            if (content_error(rc))
                *bad = i;
            return -EIO;
        }
    }
    return 0;
}

static void book_clear(struct book *book, size_t *n);

/* book_apply() in a transaction begun by the caller.  A row whose content
 * the database refused and that took the transaction with it (PostgreSQL)
 * is dropped and the rest applied again in a new transaction, as SQLite
 * would have gone on without it. */
static int book_run(struct store *st, struct book *book, size_t *n, uint64_t *dropped)
{
    size_t bad;
    int rc;

    while ((rc = book_apply(st, book, *n, &bad)) < 0 && bad < *n) {
        size_t one = 1;
        log_warnx("[store] connection bookkeeping (%s) not written: %s",
                  book[bad].kind == BOOK_HELLO        ? "hello"
                  : book[bad].kind == BOOK_CERT       ? "certificate seen"
                  : book[bad].kind == BOOK_DISCONNECT ? "disconnect"
                                                      : "duplicate identity",
                  store_last_error(st));
        (*dropped)++;
        store_rollback(st);
        book_clear(&book[bad], &one);
        memmove(&book[bad], &book[bad + 1], (*n - bad - 1) * sizeof(*book));
        (*n)--;
        if (store_begin(st) != 0)
            return -EIO;
    }
    return rc;
}

static void book_clear(struct book *book, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        if (book[i].hello)
            vg_pb_free(&book[i].hello->base);
        free(book[i].text);
        free(book[i].agent_id);
    }
    *n = 0;
}

/* Whether a commit that is not over may still store a batch of host hid
 * from an earlier connection: one in the group the store thread holds
 * whose connection went since (handed over while it was open, so stored
 * all the same).  A batch queued from a connection that went before the
 * group was handed over is never stored; an earlier connection still open
 * is refused as a duplicate before this, or replaced, and a replaced one's
 * batches are forgotten at once (so those in the group count here).
 * Cheap when nothing went: a restart storm of 20,000 hellos scans
 * nothing. */
static int hello_must_wait(const struct server *s, int64_t hid)
{
    for (size_t i = 0; s->job_orphans && i < s->job.npend; i++) {
        const struct pending *p = &s->job.pend[i];
        if (!p->c && p->from && p->host_id == hid)
            return 1;
    }
    return 0;
}

static void hw_add(struct server *s, struct conn *c)
{
    c->hw_prev = NULL;
    c->hw_next = s->hw_head;
    if (s->hw_head)
        s->hw_head->hw_prev = c;
    s->hw_head = c;
}

static void hw_del(struct server *s, struct conn *c)
{
    if (c->hw_prev)
        c->hw_prev->hw_next = c->hw_next;
    else
        s->hw_head = c->hw_next;
    if (c->hw_next)
        c->hw_next->hw_prev = c->hw_prev;
    c->hw_next = c->hw_prev = NULL;
}

/* An agent has one connection: a hello waiting from an earlier one of the
 * same agent (which the agent gave up on) is closed, not answered later
 * as a duplicate of this one. */
static void hw_drop_agent(struct server *s, struct conn *c, const char *agent_id)
{
    for (struct conn *w = s->hw_head; w; w = w->hw_next)
        if (w != c && !w->closing && strcmp(vg_tls_peer(w->tls)->cn, agent_id) == 0)
            conn_close(w, "replaced by a newer connection of the same agent");
}

static int on_hello(struct conn *c, Vigil__V1__Envelope **envp)
{
    Vigil__V1__Hello *h = (*envp)->hello;
    struct server *s = c->srv;
    const struct vg_cert_info *peer = vg_tls_peer(c->tls);
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__HelloAck ack = VIGIL__V1__HELLO_ACK__INIT;
    struct conn *other;
    uint64_t last = 0;
    int64_t hid = 0;
    int found, rc;
    int64_t now = vg_time_now_ms();
    /* Agent clock minus ours, as 'vigilctl hosts' shows it. */
    int64_t skew = (*envp)->sent_time_ms ? (*envp)->sent_time_ms - now : 0;

    if (h->protocol_version != 1) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_VERSION,
                    "protocol version %u not supported (this collector speaks 1); upgrade the "
                    "collector", h->protocol_version);
        return 1;
    }
    {
        /* Nothing is cut in a hello: each of its fields is refused over
         * its limit (limits.c). */
        struct vg_pb_limit_report r;
        char why[256];
        if (limits_check(&h->base, &r) != 0) {
            limits_describe(&r, why, sizeof(why));
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_TOO_BIG, "hello refused: %s", why);
            return 1;
        }
    }
    if (strcmp(h->agent_id, peer->cn) != 0) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
                    "hello names agent '%.64s' but the certificate is for '%s'", h->agent_id,
                    peer->cn);
        return 1;
    }
    if (h->stream_epoch.len != sizeof(c->epoch)) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "stream epoch must be %zu bytes",
                    sizeof(c->epoch));
        return 1;
    }
    other = conn_find_agent(s, peer->cn);
    if (other && vg_time_mono_ms() - other->last_rx_ms > 2 * s->conf->heartbeat_ms) {
        /* The old connection has been silent past two heartbeats: a host
         * that crashed or moved behind NAT without closing it.  The new
         * one replaces it rather than being taken for a clone. */
        log_info("agent %s reconnected from %s; dropping its silent connection from %s",
                 peer->cn, vg_tls_peer_addr(c->tls), vg_tls_peer_addr(other->tls));
        conn_agent_remove(s, other);
        other->hello_done = 0;
        /* Its queued batches are never stored (the agent resends them);
         * those in the running commit count as orphans, and this hello
         * waits for them. */
        conn_forget_pending(s, other);
        book_disconnect(s, other, now);
        conn_close(other, "replaced by a newer connection of the same agent");
        other = NULL;
    }
    if (other) {
        s->duplicate_ids++;
        book_duplicate(s, peer->cn, vg_tls_peer_addr(c->tls), now);
        log_warnx("duplicate identity: agent %s connected from %s while already connected from "
                  "%s; refusing the new connection (cloned VM or stolen key?)",
                  peer->cn, vg_tls_peer_addr(c->tls), vg_tls_peer_addr(other->tls));
        conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_DUPLICATE_IDENTITY,
                  "this agent id is already connected from another address");
        s->refused++;
        s->refused_code[VIGIL__V1__ERROR__CODE__CODE_DUPLICATE_IDENTITY]++;
        return 1;
    }
    {
        /* Revoked as a host: whatever certificate it comes with.  A store
         * that cannot say lets nobody in. */
        found = store_host_find(s->store, peer->cn, &hid, NULL, 0);
        int64_t rv = found == 1 ? store_host_revoked(s->store, hid) : 0;
        if (found < 0 || rv < 0) {
            conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                      "collector store unavailable; try again later");
            return 1;
        }
        if (rv > 0) {
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_REVOKED,
                        "agent %s was revoked; the host needs a new identity (enroll it again "
                        "with a token, or a certificate with a new --name)", peer->cn);
            return 1;
        }
    }
    hw_drop_agent(s, c, peer->cn);
    if (found == 1 && hello_must_wait(s, hid)) {
        /* Batches of this host's earlier connection may still be stored by
         * a commit that is not over: the last stored sequence read now
         * would be short of them, and the agent would resend them and
         * count as lost any it had dropped meanwhile.  The hello is
         * answered after that commit (hello_resume); nothing else is read
         * from the connection until then. */
        log_debug("agent %s: its hello waits for the commit of its earlier connection's "
                  "batches", peer->cn);
        c->hello_wait = *envp;
        *envp = NULL;
        hw_add(s, c);
        if (!c->hello_deferred)
            s->hellos_deferred++;
        c->hello_deferred = 1;
        vg_tls_pause(c->tls, 1);
        return 1;
    }
    /* A known host's row is updated in the next group commit (with its
     * certificate), before any batch of this connection is stored; only a
     * new host's row is written now, for its id. */
    if (found == 1) {
        c->host_id = hid;
        rc = store_stream_last(s->store, hid, &h->stream_epoch, &last);
        if (rc == 0)
            rc = book_hello(s, envp, vg_tls_peer_addr(c->tls), now);
    } else {
        rc = store_hello(s->store, h, vg_tls_peer_addr(c->tls), now, &c->host_id, &last);
    }
    if (rc) {
        conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                  "collector store unavailable; try again later");
        return 1;
    }
    memcpy(c->epoch, h->stream_epoch.data, sizeof(c->epoch));
    c->hello_ms = now;
    if (book_cert(s, c->host_id, peer->serial, now) != 0) {
        conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                  "collector store unavailable; try again later");
        return 1;
    }
    c->hello_done = 1;
    conn_agent_add(s, c);
    log_info("agent %s (%s, %s) connected from %s%s%s%s", peer->cn,
             h->hostname[0] ? h->hostname : "?", h->software_version, vg_tls_peer_addr(c->tls),
             vg_tls_proxy_addr(c->tls) ? " through " : "",
             vg_tls_proxy_addr(c->tls) ? vg_tls_proxy_addr(c->tls) : "",
             vg_tls_resumed(c->tls) ? ", TLS resumed" : "");
    if (skew > SKEW_WARN_MS || skew < -SKEW_WARN_MS) {
        /* Rounded: the hello's time in transit does not show. */
        int64_t off = skew < 0 ? -skew : skew;
        log_warnx("agent %s (%s): its clock is about %lld %s %s the collector's, and so are "
                  "the times of its events; set up time sync on that host (chrony or "
                  "systemd-timesyncd)", peer->cn, h->hostname[0] ? h->hostname : "?",
                  (long long)(off >= 120000 ? (off + 30000) / 60000 : (off + 500) / 1000),
                  off >= 120000 ? "min" : "s", skew < 0 ? "behind" : "ahead of");
    }

    ack.accepted = 1;
    ack.collector_version = VG_VERSION;
    ack.last_stored_seq = last;
    ack.heartbeat_interval_ms = (uint32_t)s->conf->heartbeat_ms;
    ack.max_frame_bytes = s->limits.max_wire;
    ack.server_time_ms = now;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_HELLO_ACK;
    env.hello_ack = &ack;
    if (conn_send(c, &env))
        return 1;
    commands_deliver(s, c);
    return 0;
}

static int queue_batch(struct conn *c, Vigil__V1__Envelope *env)
{
    struct server *s = c->srv;
    char *reject = NULL;

    if (env->batch->seq == 0) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "batch sequence number 0");
        vg_pb_free(&env->base);
        return 1;
    }
#ifdef VG_TEST_HOOKS
    if (!s->no_field_limits)
#endif
    {
        /* Every field against its limit, before anything is stored.  A
         * rejected batch still goes through the commit: its rejection is
         * recorded there, and acknowledged in order with the others. */
        struct vg_pb_limit_report r;
        char why[256];
        int rc = limits_check(&env->batch->base, &r);
        uint64_t sup;
        if (r.found)
            limits_describe(&r, why, sizeof(why));
        if (rc) {
            reject = strdup(why);
            if (!reject) {
                vg_pb_free(&env->base);
                vg_tls_close(c->tls, "out of memory");
                return 1;
            }
        } else if (r.cut) {
            s->fields_cut += r.cut;
            if (vg_ratelimit(&s->rl_reject, &sup))
                log_warnx("%s: batch %llu: %s%s", conn_who(c),
                          (unsigned long long)env->batch->seq, why,
                          sup ? " (and earlier such lines not logged)" : "");
        }
    }
    if (s->npend == s->cappend) {
        size_t n = s->cappend ? s->cappend * 2 : 64;
        struct pending *p = realloc(s->pend, n * sizeof(*p));
        if (!p) {
            free(reject);
            vg_pb_free(&env->base);
            vg_tls_close(c->tls, "out of memory");
            return 1;
        }
        s->pend = p;
        s->cappend = n;
    }
    s->pend[s->npend].c = c;
    s->pend[s->npend].env = env;
    s->pend[s->npend].recv_ms = vg_time_now_ms();
    s->pend[s->npend].reject = reject;
    s->npend++;
    c->pending++;
    c->pending_events += env->batch->n_events;
    if (c->pending >= PAUSE_BATCHES || c->pending_events >= PAUSE_EVENTS ||
        s->npend >= PAUSE_TOTAL_BATCHES) {
        /* Stop reading until the commit: a fast agent cannot make the
         * collector hold more than this per connection. */
        c->paused = 1;
        s->pauses++;
        vg_tls_pause(c->tls, 1);
        return 1;
    }
    return 0;
}

static int on_agent_env(struct conn *c, Vigil__V1__Envelope *env)
{
    int stop = 0;

    if (!c->hello_done) {
        if (env->body_case == VIGIL__V1__ENVELOPE__BODY_HELLO) {
            stop = on_hello(c, &env); /* may take env */
        } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_GOODBYE) {
            /* An agent proving it can still reach us (isolation's
             * lockout check) connects and leaves at once. */
            log_debug("%s: connected and left (%s)", conn_who(c), env->goodbye->reason);
            conn_close(c, "agent said goodbye");
            stop = 1;
        } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_OPERATOR_REQUEST) {
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED,
                        "an agent certificate may not run operator queries; vigilctl needs an "
                        "operator certificate (vigilctl pki issue --role admin, responder or "
                        "auditor)");
            stop = 1;
        } else {
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "expected hello, got %s",
                        vg_wire_body_name(env));
            stop = 1;
        }
        if (env)
            vg_pb_free(&env->base);
        return stop;
    }
    switch (env->body_case) {
    case VIGIL__V1__ENVELOPE__BODY_BATCH:
        return queue_batch(c, env); /* takes env */
    case VIGIL__V1__ENVELOPE__BODY_HEARTBEAT: {
        int rc = vg_wire_heartbeat_reply(c->tls, env->heartbeat);
        if (rc && rc != -ENOTCONN) {
            conn_close(c, "send failed");
            stop = 1;
        }
        break;
    }
    case VIGIL__V1__ENVELOPE__BODY_COMMAND_RESULT:
        commands_on_result(c->srv, c, env->command_result);
        break;
    case VIGIL__V1__ENVELOPE__BODY_RENEW_REQUEST:
        enroll_on_renew(c->srv, c, env->renew_request);
        break;
    case VIGIL__V1__ENVELOPE__BODY_UPLOAD_CHUNK:
        if (collect_on_chunk(c->srv, c, env->upload_chunk)) {
            conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                      "the collector could not store the upload; it will be resumed");
            stop = 1;
        }
        break;
    case VIGIL__V1__ENVELOPE__BODY_GOODBYE:
        log_info("agent %s says goodbye: %s", vg_tls_peer(c->tls)->cn, env->goodbye->reason);
        conn_close(c, "agent said goodbye");
        stop = 1;
        break;
    case VIGIL__V1__ENVELOPE__BODY_OPERATOR_REQUEST:
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED,
                    "an agent certificate may not run operator queries; vigilctl needs an "
                    "operator certificate (vigilctl pki issue --role admin, responder or "
                    "auditor)");
        stop = 1;
        break;
    default:
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "unexpected %s from an agent",
                    vg_wire_body_name(env));
        stop = 1;
        break;
    }
    vg_pb_free(&env->base);
    return stop;
}

/* ---- operators ---- */

static int on_operator_env(struct conn *c, Vigil__V1__Envelope *env)
{
    int stop = 0;

    if (env->body_case == VIGIL__V1__ENVELOPE__BODY_OPERATOR_REQUEST) {
        stop = api_handle(c->srv, c, env->operator_request);
    } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_HELLO ||
               env->body_case == VIGIL__V1__ENVELOPE__BODY_BATCH) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED,
                    "%s needs an agent certificate", vg_wire_body_name(env));
        stop = 1;
    } else if (env->body_case != VIGIL__V1__ENVELOPE__BODY_HEARTBEAT &&
               env->body_case != VIGIL__V1__ENVELOPE__BODY_GOODBYE) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "unexpected %s from an operator",
                    vg_wire_body_name(env));
        stop = 1;
    }
    vg_pb_free(&env->base);
    return stop;
}

int server_on_env(void *ctx, Vigil__V1__Envelope *env)
{
    struct conn *c = ctx;
    c->last_rx_ms = vg_time_mono_ms();
    if (c->kind == CONN_ENROLL)
        return enroll_on_env(c->srv, c, env);
    if (c->kind == CONN_AGENT)
        return on_agent_env(c, env);
    return on_operator_env(c, env);
}

/* ---- connection events ---- */

/* The connections still in their TLS handshake, oldest first. */
static void hs_add(struct server *s, struct conn *c)
{
    c->in_hs = 1;
    c->hs_prev = s->hs_tail;
    c->hs_next = NULL;
    if (s->hs_tail)
        s->hs_tail->hs_next = c;
    else
        s->hs_head = c;
    s->hs_tail = c;
}

static void hs_del(struct server *s, struct conn *c)
{
    if (!c->in_hs)
        return;
    c->in_hs = 0;
    if (c->hs_prev)
        c->hs_prev->hs_next = c->hs_next;
    else
        s->hs_head = c->hs_next;
    if (c->hs_next)
        c->hs_next->hs_prev = c->hs_prev;
    else
        s->hs_tail = c->hs_prev;
}

static int on_ready(struct vg_tls_conn *t)
{
    struct conn *c = vg_tls_data(t);
    const struct vg_cert_info *p = vg_tls_peer(t);

    c->last_rx_ms = c->ready_ms = vg_time_mono_ms();
    c->srv->handshaking--;
    hs_del(c->srv, c);
    if (c->kind == CONN_ENROLL)
        return 0; /* no client certificate here: only an EnrollRequest is taken */
    /* Runs after every handshake, resumed ones included: mbedtls does not
     * re-verify a resumed session's certificate, so check it here. */
    if (p->not_after_ms < vg_time_now_ms()) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_UNAUTHENTICATED, "certificate of %s expired",
                    p->cn);
        return 0;
    }
    if (conn_is_revoked(c->srv, p->serial)) {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_REVOKED,
                    "certificate of %s (serial %s) is revoked%s; %s",
                    p->cn, p->serial, vg_tls_resumed(t) ? " (a resumed TLS session)" : "",
                    vg_role_is_operator(p->role)
                        ? "the operator needs a new certificate (vigilctl pki issue)"
                        : "the host needs a new identity (enroll it again with a token, or a "
                          "certificate with a new --name)");
        return 0;
    }
    /* After a reload changed the CA: a resumed session's certificate was
     * verified (if at all) against the old bundle, and so was one of a
     * handshake begun before the reload. */
    if (c->srv->ca_reload_ms && (vg_tls_resumed(t) || c->accept_ms <= c->srv->ca_reload_ms)) {
        char why[300];
        if (vg_tls_peer_verify(t, c->srv->tls, why, sizeof(why)) != 0) {
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
                        "certificate of %s (serial %s) does not verify against [tls] ca: %s",
                        p->cn, p->serial, why);
            return 0;
        }
    }
    if (p->role == VG_ROLE_AGENT) {
        if (c->srv->nagents >= c->srv->max_agents) {
            /* The rest is the operators' reserve: responders get in while
             * the fleet fills every other slot. */
            struct server *s = c->srv;
            uint64_t sup;
            s->conn_full++;
            if (vg_ratelimit(&s->rl_full, &sup))
                log_warnx("agent connection limit reached: %llu agents connected "
                          "([collector] max_connections); refusing %s (%llu refused so far)",
                          (unsigned long long)s->nagents, vg_tls_peer_addr(t),
                          (unsigned long long)s->conn_full);
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                        "collector full: %llu agents connected; try again later",
                        (unsigned long long)s->nagents);
            return 0;
        }
        c->kind = CONN_AGENT;
        c->srv->nagents++;
    } else if (vg_role_is_operator(p->role)) {
        c->kind = CONN_OPERATOR;
    } else {
        conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED,
                    "certificate role '%s' may not connect (agent, responder, auditor or admin)",
                    p->ou[0] ? p->ou : "none");
        return 0;
    }
    log_debug("%s: TLS up (%s%s)", conn_who(c), vg_tls_suite(t), vg_tls_resumed(t) ? ", resumed" : "");
    return 0;
}

static void on_data(struct vg_tls_conn *t, const uint8_t *data, size_t len)
{
    struct conn *c = vg_tls_data(t);
    int rc = vg_wire_feed(&c->rd, data, len, server_on_env, c);
    size_t held = conn_held(c);

    if (held > c->srv->conn_held_peak)
        c->srv->conn_held_peak = held;
    /* A large frame (an inventory) must not leave its size resident on
     * every connection: give it back as soon as it has been taken out. */
    vg_frame_reader_trim(&c->rd);
    if (rc) {
        uint64_t sup;
        c->srv->bad_frames++;
        if (vg_ratelimit(&c->srv->rl_frame, &sup))
            log_warnx("%s: bad frame: %s; closing this connection", conn_who(c), vg_strerror(rc));
        conn_fail(c, rc == VG_ETOOBIG ? VIGIL__V1__ERROR__CODE__CODE_TOO_BIG
                                      : VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                  vg_strerror(rc));
    }
}

static void on_close(struct vg_tls_conn *t, int err)
{
    struct conn *c = vg_tls_data(t);
    struct server *s = c->srv;

    if (!c->ready_ms)
        s->handshaking--;
    hs_del(s, c);
    if (c->evicted)
        s->evicting--;
    if (c->kind == CONN_ENROLL)
        s->enrolling--;
    if (!c->ready_ms && c->proxy_wait && vg_tls_rx_bytes(t) != 0)
        s->proxy_refused++; /* a header, begun, not good (either listener) */
    if (c->kind == CONN_AGENT)
        s->nagents--;
    s->nconns--;
    if (c->ready_ms && !c->closing && vg_frame_reader_finish(&c->rd) == VG_ETRUNC) {
        uint64_t sup;
        s->bad_frames++;
        if (vg_ratelimit(&s->rl_frame, &sup))
            log_warnx("%s: bad frame: %s (connection closed mid-frame)", conn_who(c),
                      vg_strerror(VG_ETRUNC));
    }
    if (!c->ready_ms && c->proxy_check && vg_tls_rx_bytes(t) == 0) {
        /* A load balancer's health check: connected (and said LOCAL, or
         * nothing), then closed without a byte of TLS.  Not a refusal. */
        s->proxy_checks++;
    } else if (c->kind == CONN_NEW && !c->ready_ms) {
        uint64_t sup;
        s->refused++;
        s->refused_tls++;
        if (!s->stopping && vg_ratelimit(&s->rl_refuse, &sup))
            log_warnx("refused %s: %s", vg_tls_peer_addr(t),
                      vg_tls_why(t)[0] ? vg_tls_why(t) : vg_strerror(err));
    } else if (c->hello_done) {
        conn_agent_remove(s, c);
        book_disconnect(s, c, vg_time_now_ms());
        log_info("agent %s (%s) disconnected: %s", vg_tls_peer(t)->cn, vg_tls_peer_addr(t),
                 vg_tls_why(t)[0] ? vg_tls_why(t) : vg_strerror(err));
    }
    if (c->hello_wait) {
        vg_pb_free(&c->hello_wait->base);
        hw_del(s, c);
    }
    conn_report_flush(c, 1);
    conn_forget_pending(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    vg_frame_reader_free(&c->rd);
    free(c);
}

/* A connection from a load balancer of [collector] proxy_protocol: it
 * must begin with a PROXY protocol header (handlers' proxied). */
static int from_proxy(const struct server *s, const struct sockaddr *peer)
{
    const uint8_t *a;
    int fam = peer->sa_family;

    if (fam == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)peer)->sin6_addr)) {
        a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr + 12;
        fam = AF_INET;
    } else if (fam == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
    } else if (fam == AF_INET6) {
        a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;
    } else {
        return 0;
    }
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct vg_netaddr *n = &s->proxies[i];
        unsigned bits = n->prefix, k = bits / 8;
        if (n->family != fam || memcmp(a, n->addr, k) != 0)
            continue;
        if (bits % 8 && ((a[k] ^ n->addr[k]) & (0xff00 >> (bits % 8)) & 0xff))
            continue;
        return 1;
    }
    return 0;
}

static int conn_proxied(void *data, const struct sockaddr *peer)
{
    struct conn *c = data;

    c->proxy_wait = from_proxy(c->srv, peer);
    /* Until it speaks, a balancer's connection may be a health check. */
    c->proxy_check = c->proxy_wait;
    return c->proxy_wait;
}

static void make_room(struct server *s, struct conn *c, int after_proxy);
static void addr_only(const char *in, char *out, size_t outlen);

/* The header is read: the connection is the client's from here on, and
 * counts against the limits of its own address. */
static int conn_on_proxied(struct vg_tls_conn *t)
{
    struct conn *c = vg_tls_data(t);
    const char *via = vg_tls_proxy_addr(t);

    c->proxy_wait = 0;
    /* LOCAL (or no address): the balancer's own check, if it says no more. */
    c->proxy_check = via && strcmp(via, vg_tls_peer_addr(t)) == 0;
    addr_only(vg_tls_peer_addr(t), c->addr, sizeof(c->addr));
    make_room(c->srv, c, 1);
    return 0;
}

static const struct vg_tls_handlers handlers = {
    .on_ready = on_ready,
    .on_data = on_data,
    .on_close = on_close,
    .proxied = conn_proxied,
    .on_proxied = conn_on_proxied,
};

static void accept_conn(uv_stream_t *l, int status, int enroll);

static void on_connection(uv_stream_t *l, int status)
{
    accept_conn(l, status, 0);
}

static void on_enroll_connection(uv_stream_t *l, int status)
{
    accept_conn(l, status, 1);
}

/* "192.0.2.1:443" -> "192.0.2.1", "[2001:db8::1]:443" -> "[2001:db8::1]". */
static void addr_only(const char *in, char *out, size_t outlen)
{
    const char *colon = strrchr(in, ':');
    size_t n = colon && (in[0] == '[' ? colon[-1] == ']' : strchr(in, ':') == colon)
                   ? (size_t)(colon - in)
                   : strlen(in);
    snprintf(out, outlen, "%.*s", (int)n, in);
}

static void evict(struct server *s, struct conn *old, unsigned n, const char *scope)
{
    uint64_t sup, age = vg_time_mono_ms() - old->accept_ms;
    old->evicted = 1;
    s->evicting++;
    s->handshake_evicted++;
    if (vg_ratelimit(&s->rl_evict, &sup))
        log_warnx("closed a connection from %s still in its TLS handshake after %llu ms: %u "
                  "handshakes in progress %s (%llu such closes so far)", old->addr,
                  (unsigned long long)age, n, scope, (unsigned long long)s->handshake_evicted);
    conn_close(old, "evicted: too many TLS handshakes in progress");
}

/* Which of two handshakes to close first: one whose peer has not said a
 * word (a real client sends its ClientHello at once), then the older. */
static int worse(const struct conn *a, const struct conn *b)
{
    int sa = !a->spoke && vg_tls_rx_bytes(a->tls) == 0;
    int sb = !b->spoke && vg_tls_rx_bytes(b->tls) == 0;
    if (sa != sb)
        return sa;
    return a->accept_ms <= b->accept_ms;
}

/* Before c's handshake starts: room under both limits, made by closing
 * handshakes (of c's address first): silent ones first, then the oldest.
 * A real peer speaks at once and finishes in milliseconds; a socket that
 * waits in silence is most likely idle. */
static void make_room(struct server *s, struct conn *c, int after_proxy)
{
    /* The choice is checked: a connection accepted in the same burst may
     * have said its ClientHello already, unread; then choose again. */
    for (int tries = 0; tries < 8; tries++) {
        struct conn *oldest = NULL, *oldest_same = NULL, *v;
        unsigned same = 0;
        const char *scope;

        for (struct conn *o = s->hs_head; o; o = o->hs_next) {
            if (o->evicted || o->closing || o == c)
                continue;
            if (!oldest || worse(o, oldest))
                oldest = o;
            /* A balancer's connections before their header are not yet
             * anyone's: only the limit in all holds them. */
            if (!c->proxy_wait && !o->proxy_wait && strcmp(o->addr, c->addr) == 0) {
                same++;
                if (!oldest_same || worse(o, oldest_same))
                    oldest_same = o;
            }
        }
        if (same >= MAX_HANDSHAKING_PER_ADDR && oldest_same) {
            v = oldest_same;
            scope = "from that address";
        } else if (!after_proxy && s->handshaking - s->evicting >= MAX_HANDSHAKING && oldest) {
            v = oldest;
            same = s->handshaking - s->evicting;
            scope = "in all";
        } else {
            return;
        }
        if (!v->spoke && vg_tls_rx_bytes(v->tls) == 0 && !vg_tls_silent(v->tls)) {
            v->spoke = 1;
            continue;
        }
        evict(s, v, same, scope);
        return;
    }
}

static void accept_conn(uv_stream_t *l, int status, int enroll)
{
    struct server *s = l->data;
    struct conn *c;

    if (status < 0) {
        /* Out of descriptors: libuv has accepted and closed the peer with
         * its reserved descriptor.  Counted; logged at a bounded rate. */
        uint64_t sup;
        if (status == UV_EMFILE || status == UV_ENFILE)
            s->fd_exhausted++;
        if (vg_ratelimit(&s->rl_full, &sup))
            log_warnx("accept: %s (%llu connections open, %llu accepts failed so far); raise "
                      "the descriptor limit (LimitNOFILE=) or lower [collector] max_connections",
                      uv_strerror(status), (unsigned long long)s->nconns,
                      (unsigned long long)(s->fd_exhausted));
        return;
    }
    /* Connections still in their handshake are bounded (and evicted) by
     * make_room(), so that idle sockets cannot take an operator's place;
     * this bounds the ones past it. */
    if (s->stopping || (enroll && s->enrolling >= 64) ||
        s->nconns - s->handshaking >= s->max_agents + OPERATOR_RESERVE) {
        /* Accept and drop at once: the socket costs nothing further, and
         * agents already connected are unaffected. */
        uv_tcp_t *drop = malloc(sizeof(*drop));
        uint64_t sup;
        if (!drop)
            return;
        uv_tcp_init(s->loop, drop);
        if (uv_accept(l, (uv_stream_t *)drop) == 0 && !s->stopping) {
            if (enroll && s->enrolling >= 64) {
                s->handshake_overflow++;
                if (vg_ratelimit(&s->rl_refuse, &sup))
                    log_warnx("refused an enrollment connection: %u already open", s->enrolling);
            } else {
                s->conn_full++;
                if (vg_ratelimit(&s->rl_full, &sup))
                    log_warnx("connection limit reached: %llu connections open (%llu agents, "
                              "[collector] max_connections %llu, +%u for operators); closed a "
                              "new one (%llu refused so far)",
                              (unsigned long long)s->nconns, (unsigned long long)s->nagents,
                              (unsigned long long)s->max_agents, OPERATOR_RESERVE,
                              (unsigned long long)s->conn_full);
            }
        }
        uv_close((uv_handle_t *)drop, (uv_close_cb)free);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = s;
    c->kind = enroll ? CONN_ENROLL : CONN_NEW;
    c->accept_ms = vg_time_mono_ms();
    /* Enrollment peers are unauthenticated: small frames only. */
    vg_frame_reader_init(&c->rd, enroll ? &s->enroll_limits : &s->limits);
    if (vg_tls_accept(l, enroll ? s->enroll_tls : s->tls, &handlers, c, &c->tls)) {
        vg_frame_reader_free(&c->rd);
        free(c);
        return;
    }
    s->accepted++;
    s->nconns++;
    c->serial = s->accepted;
    addr_only(vg_tls_peer_addr(c->tls), c->addr, sizeof(c->addr));
    make_room(s, c, 0);
    hs_add(s, c);
    s->handshaking++;
    if (enroll)
        s->enrolling++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
}

/* ---- group commit ---- */

/* What became of one batch of a group commit. */
enum {
    B_NONE,     /* its connection is gone: not stored, the agent resends it */
    B_STORED,
    B_RESEND,   /* stored (or rejected) before */
    B_REJECTED, /* for good: recorded as loss, the agent drops it */
    B_FAILED,   /* the database failed on it alone: its agent reconnects and resends */
    B_SKIPPED,  /* after a failed one of the same connection: not stored */
};

enum { JOB_IDLE, JOB_QUEUED, JOB_DONE };

/* After a batch of a connection failed: the rest of it in this group is
 * not stored either (the agent resends them all, in order). */
static void skip_rest(struct commit_job *j, size_t i)
{
    for (size_t k = i + 1; k < j->npend; k++)
        if (j->pend[k].from == j->pend[i].from)
            j->pend[k].skip = 1;
}

/* Stores or rejects each batch of the group.  With alone, each in a
 * savepoint of its own (store.h): one that cannot be stored is rejected
 * alone, and the others commit; returns 0, or the error that lost the
 * whole group (the database rolled the transaction back).  Without (the
 * common case, which costs no savepoint journal), returns 0, or 1 at the
 * first failure: the group must be rolled back and done again with alone.
 * Runs on the store thread: reads the copies in each entry, never p->c. */
static int commit_each(struct store *st, struct commit_job *j, int alone)
{
    for (size_t i = 0; i < j->npend; i++) {
        struct pending *p = &j->pend[i];
        ProtobufCBinaryData ep;
        int rc;

        /* The connection closed before the group was handed over:
         * nothing can be acknowledged, so the agent will resend; skip. */
        if (!p->from)
            continue;
        if (p->skip) {
            j->res[i] = B_SKIPPED;
            continue;
        }
        ep.len = sizeof(p->epoch);
        ep.data = p->epoch;
        if (!p->reject) {
            rc = store_batch(st, p->host_id, &ep, p->env->batch, p->env->sent_time_ms,
                             p->recv_ms, alone);
            if (rc >= 0) {
                j->res[i] = rc == 1 ? B_STORED : B_RESEND;
                continue;
            }
            if (!alone)
                return 1;
            if (store_txn_lost(st))
                return rc;
            p->reject = strdup(store_last_error(st));
            if (!content_error(rc) || !p->reject) {
                j->res[i] = B_FAILED; /* p->reject says why (if anything) */
                skip_rest(j, i);
                continue;
            }
        }
        rc = store_batch_reject(st, p->host_id, &ep, p->env->batch, p->recv_ms, p->reject);
        if (rc < 0 && !alone)
            return 1;
        if (rc < 0 && store_txn_lost(st))
            return rc;
        if (rc < 0) {
            j->res[i] = B_FAILED;
            skip_rest(j, i);
        } else {
            j->res[i] = rc == 1 ? B_REJECTED : B_RESEND;
        }
    }
    return 0;
}

/* The group's transaction, on store connection st: bookkeeping first (a
 * hello is durable before its batches), then the batches.  Sets j->rc. */
static void commit_run(const struct server *s, struct store *st, struct commit_job *j)
{
    uint64_t t0 = vg_time_mono_ms(), h0 = uv_hrtime();
    int rc;

#ifdef VG_TEST_HOOKS
    if (s->commit_gate && st == s->wstore && access(s->commit_gate, F_OK) != 0) {
        log_warnx("VIGIL_TEST_COMMIT_GATE: commit held until %s exists", s->commit_gate);
        while (access(s->commit_gate, F_OK) != 0)
            uv_sleep(50);
        /* PATH.once beside it: this commit goes, the next one is held. */
        char once[PATH_MAX];
        snprintf(once, sizeof(once), "%s.once", s->commit_gate);
        if (unlink(once) == 0)
            unlink(s->commit_gate);
    }
#endif
    if (store_begin(st) == 0) {
        rc = book_run(st, j->book, &j->nbook, &j->book_dropped);
        if (rc == 0)
            rc = commit_each(st, j, 0);
        if (rc == 1) {
            /* A batch failed: the group again, each batch alone. */
            store_rollback(st);
            memset(j->res, 0, j->npend * sizeof(*j->res));
            rc = store_begin(st) == 0 ? book_run(st, j->book, &j->nbook, &j->book_dropped) : -EIO;
            if (rc == 0)
                rc = commit_each(st, j, 1);
        }
        if (rc == 0)
            rc = store_commit(st);
        if (rc < 0)
            store_rollback(st);
#ifdef VG_TEST_HOOKS
        if (rc >= 0 && s->crash_after) {
            uint64_t now_stored = j->stored_before;
            for (size_t i = 0; i < j->npend; i++)
                now_stored += j->res[i] == B_STORED;
            if (now_stored >= s->crash_after) {
                log_warnx("VIGIL_TEST_CRASH_AFTER_COMMIT: dying after commit, before acks");
                raise(SIGKILL);
            }
        }
#else
        (void)s;
#endif
    } else {
        rc = -EIO;
    }
    j->rc = rc;
    j->ms = vg_time_mono_ms() - t0;
    j->us = (uv_hrtime() - h0) / 1000;
}

static void send_ack(struct conn *c, uint64_t seq, char *reject)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    char *why = reject;

    if (reject) {
        /* Not cumulative: the batches before it may still be in flight. */
        ack.n_rejected_seq = 1;
        ack.rejected_seq = &seq;
        ack.n_rejected_reason = 1;
        ack.rejected_reason = &why;
    } else {
        ack.seq = seq;
    }
    env.body_case = VIGIL__V1__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    conn_send(c, &env);
}

/* The server's bookkeeping queue becomes the job's, and the job's
 * (emptied) array the server's. */
static void book_swap(struct server *s, struct commit_job *j)
{
    struct book *tb = j->book;
    size_t tn = j->nbook, tc = j->capbook;

    j->book = s->book;
    j->nbook = s->nbook;
    j->capbook = s->capbook;
    s->book = tb;
    s->nbook = tn;
    s->capbook = tc;
}

/* Takes what is queued (batches and bookkeeping) into s->job, with what
 * the store thread needs of each connection copied.  Returns 1, or 0 when
 * there is nothing to commit (or no memory: tried again next time). */
static int job_take(struct server *s)
{
    struct commit_job *j = &s->job;
    int *res;

    if (s->npend == 0 && s->nbook == 0)
        return 0;
    res = calloc(s->npend ? s->npend : 1, sizeof(*res));
    if (!res)
        return 0;
    /* Swap the queues with the job's emptied arrays: no allocation. */
    {
        struct pending *tp = j->pend;
        size_t tc = j->cappend;
        j->pend = s->pend;
        j->npend = s->npend;
        j->cappend = s->cappend;
        s->pend = tp;
        s->npend = 0;
        s->cappend = tc;
    }
    book_swap(s, j);
    for (size_t i = 0; i < j->npend; i++) {
        struct pending *p = &j->pend[i];
        p->from = (uintptr_t)p->c;
        p->skip = 0;
        if (p->c) {
            p->host_id = p->c->host_id;
            memcpy(p->epoch, p->c->epoch, sizeof(p->epoch));
            p->skip = p->c->batch_failed;
        }
    }
    j->res = res;
    j->rc = 0;
    j->ms = 0;
    j->stored_before = s->batches_stored;
    return 1;
}

/* Bookkeeping of a group that could not commit goes back to the front of
 * the queue, before what came since (order matters: hello first). */
static void job_book_requeue(struct server *s, struct commit_job *j)
{
    size_t n = j->nbook + s->nbook;

    if (n > j->capbook) {
        struct book *nb = realloc(j->book, n * sizeof(*nb));
        if (!nb) {
            /* Written at once instead, in a transaction of its own. */
            int rc = store_begin(s->store);
            if (rc == 0 && (rc = book_run(s->store, j->book, &j->nbook, &s->book_dropped)) == 0)
                rc = store_commit(s->store);
            if (rc) {
                store_rollback(s->store);
                log_warnx("[store] %zu connection bookkeeping rows not written: %s", j->nbook,
                          store_last_error(s->store));
                s->book_dropped += j->nbook;
            }
            book_clear(j->book, &j->nbook);
            return;
        }
        j->book = nb;
        j->capbook = n;
    }
    if (s->nbook) /* (none queued since: s->book may be NULL) */
        memcpy(j->book + j->nbook, s->book, s->nbook * sizeof(*s->book));
    j->nbook = n;
    s->nbook = 0;
    book_swap(s, j);
}

/* After a commit: the hellos that waited for it are answered (or wait
 * for the next one), and what their agents sent since is read.  The
 * list is taken whole first: a hello that waits again joins a new one. */
static void hello_resume(struct server *s)
{
    struct conn *list = s->hw_head, *next;

    s->hw_head = NULL;
    for (struct conn *c = list; c; c = next) {
        Vigil__V1__Envelope *env = c->hello_wait;
        next = c->hw_next;
        c->hw_next = c->hw_prev = NULL;
        c->hello_wait = NULL;
        if (c->closing) {
            vg_pb_free(&env->base);
            continue;
        }
        c->last_rx_ms = vg_time_mono_ms(); /* silent because we did not read */
        if (on_agent_env(c, env) == 0 && !c->hello_wait && !c->closing) {
            int r = vg_wire_drain(&c->rd, server_on_env, c);
            vg_frame_reader_trim(&c->rd);
            if (r) {
                s->bad_frames++;
                conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, vg_strerror(r));
            } else if (!c->paused && !c->hello_wait) {
                vg_tls_pause(c->tls, 0);
            }
        }
    }
}

/* On the loop, once the group's transaction is over: acknowledges or
 * fails each batch, counts, and lets paused connections read on. */
static void job_finish(struct server *s)
{
    struct commit_job *j = &s->job;
    size_t n = j->npend, stored_n = 0;
    int rc = j->rc, *res = j->res;

    s->commits++;
    s->commit_ms_total += j->ms;
    if (j->ms > s->commit_ms_max)
        s->commit_ms_max = j->ms;
    metrics_commit_observe(s, j->us);
    s->book_dropped += j->book_dropped;
    j->book_dropped = 0;
    if (rc >= 0) {
        book_clear(j->book, &j->nbook);
    } else {
        job_book_requeue(s, j); /* kept for the next commit (up to BOOK_MAX) */
        /* The database is away (PostgreSQL restarting, a full disk): the
         * next group in a second, not at once and again and again. */
        s->commit_hold_ms = vg_time_mono_ms() + 1000;
    }
    for (size_t i = 0; i < n; i++)
        stored_n += res[i] == B_STORED || res[i] == B_RESEND;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = &j->pend[i];
        struct conn *c = p->c;
        uint64_t seq = p->env->batch->seq, sup;
        if (c) {
            c->pending--;
            c->pending_events -= p->env->batch->n_events;
            if (rc < 0) {
                c->batch_failed = 1;
                conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                          "collector could not store the batch; it will be resent");
            } else if (res[i] == B_FAILED) {
                c->batch_failed = 1;
                s->batches_failed++;
                if (vg_ratelimit(&s->rl_reject, &sup))
                    log_warnx("%s: batch %llu not stored: %s; it will be resent (the other %zu "
                              "batches of its commit are stored)", conn_who(c),
                              (unsigned long long)seq, p->reject ? p->reject : "database error",
                              stored_n);
                conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                          "collector could not store a batch; it will be resent");
            } else if (res[i] == B_REJECTED) {
                s->batches_rejected++;
                if (vg_ratelimit(&s->rl_reject, &sup))
                    log_warnx("%s: batch %llu (%zu events) rejected: %s (the other %zu batches "
                              "of its commit are stored)%s", conn_who(c),
                              (unsigned long long)seq, p->env->batch->n_events, p->reject,
                              stored_n, sup ? " (and earlier such lines not logged)" : "");
                if (!c->closing)
                    send_ack(c, seq, p->reject);
            } else if ((res[i] == B_STORED || res[i] == B_RESEND) && !c->closing) {
                send_ack(c, seq, NULL);
#ifdef VG_TEST_HOOKS
                if (res[i] == B_STORED)
                    collect_test_events_stored(c, p->env->batch->n_events);
#endif
            }
        }
        /* Counted whether or not the connection is still there to hear. */
        if (rc >= 0 && res[i] == B_STORED) {
            s->batches_stored++;
            s->events_stored += p->env->batch->n_events;
        } else if (rc >= 0 && res[i] == B_RESEND && c) {
            s->batches_duplicate++;
        }
        free(p->reject);
        vg_pb_free(&p->env->base);
    }
    free(res);
    j->res = NULL;
    /* Connections paused for backpressure read on.  A connection is paused
     * only with a batch pending, so those that may now have none are those
     * of this group: not a walk over every connection (10,000 of them
     * after each commit took a tenth of the collector's CPU in a
     * reconnect storm).  Closing connections are freed in the loop's
     * close phase, never during this walk. */
    for (size_t i = 0; i < n; i++) {
        struct conn *c = j->pend[i].c;
        int r;
        if (!c || !c->paused || c->pending || c->closing)
            continue;
        c->paused = 0;
        r = vg_wire_drain(&c->rd, server_on_env, c); /* frames already buffered */
        vg_frame_reader_trim(&c->rd);
        if (r) {
            s->bad_frames++;
            conn_fail(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, vg_strerror(r));
        } else if (!c->paused) {
            vg_tls_pause(c->tls, 0);
        }
    }
    j->npend = 0;
    s->job_orphans = 0;
    if (s->hw_head && !s->stopping)
        hello_resume(s);
}

static int job_state(struct server *s)
{
    int st;
    if (!s->wstore)
        return s->job_state;
    uv_mutex_lock(&s->job_mu);
    st = s->job_state;
    uv_mutex_unlock(&s->job_mu);
    return st;
}

static void job_set(struct server *s, int st)
{
    if (!s->wstore) {
        s->job_state = st;
        return;
    }
    uv_mutex_lock(&s->job_mu);
    s->job_state = st;
    uv_cond_broadcast(&s->job_cv);
    uv_mutex_unlock(&s->job_mu);
}

/* Hands what is queued to the store thread, if it is free. */
static void commit_dispatch(struct server *s)
{
    if (s->commit_hold_ms && vg_time_mono_ms() < s->commit_hold_ms && !s->stopping)
        return; /* the sweep's timer wakes the loop meanwhile */
    if (job_state(s) != JOB_IDLE || !job_take(s))
        return;
    if (!s->wstore) {
        commit_run(s, s->store, &s->job);
        job_finish(s);
        return;
    }
    job_set(s, JOB_QUEUED);
}

static void store_thread_main(void *arg)
{
    struct server *s = arg;

    /* Named for top -H and perf; the loop thread keeps the process's. */
    pthread_setname_np(pthread_self(), "vg-store");

    uv_mutex_lock(&s->job_mu);
    for (;;) {
        while (s->job_state != JOB_QUEUED && !s->job_quit)
            uv_cond_wait(&s->job_cv, &s->job_mu);
        if (s->job_state != JOB_QUEUED)
            break; /* told to quit, with nothing queued */
        uv_mutex_unlock(&s->job_mu);
        commit_run(s, s->wstore, &s->job);
        uv_mutex_lock(&s->job_mu);
        s->job_state = JOB_DONE;
        uv_cond_broadcast(&s->job_cv);
        if (!s->job_quit)
            uv_async_send(&s->job_done);
    }
    uv_mutex_unlock(&s->job_mu);
}

static void job_done_cb(uv_async_t *h)
{
    struct server *s = h->data;

    if (job_state(s) != JOB_DONE)
        return; /* server_commit() took it already */
    job_set(s, JOB_IDLE);
    job_finish(s);
    commit_dispatch(s); /* what came in meanwhile */
}

/* Commits everything received so far before returning: waits for the
 * group the store thread holds, then does the rest here. */
void server_commit(struct server *s)
{
    if (s->wstore) {
        uv_mutex_lock(&s->job_mu);
        while (s->job_state == JOB_QUEUED)
            uv_cond_wait(&s->job_cv, &s->job_mu);
        uv_mutex_unlock(&s->job_mu);
        if (job_state(s) == JOB_DONE) {
            job_set(s, JOB_IDLE);
            job_finish(s);
        }
    }
    /* The store thread waits for JOB_QUEUED: its connection is free. */
    if (job_take(s)) {
        commit_run(s, s->wstore ? s->wstore : s->store, &s->job);
        job_finish(s);
    }
}

static void commit_cb(uv_check_t *h)
{
    commit_dispatch(h->data);
}

/* Retention: a pass every 10 min, in chunks of RETAIN_CHUNK rows per
 * table, a round a second until nothing past its time is left: the store
 * thread waits for one chunk's transaction at most, never for a pass. */
#define RETAIN_CHUNK 5000
static void retention(struct server *s, uint64_t now)
{
    static const char *const names[RETAIN_KINDS] = {
        [RETAIN_PROCESSES] = "process", [RETAIN_EVENTS] = "event",
        [RETAIN_BATCHES] = "batch receipt", [RETAIN_HISTORY] = "history",
        [RETAIN_COMMANDS] = "finished command"};
    const struct collector_conf *cf = s->conf;
    int64_t t = vg_time_now_ms();
    struct store_retain r = {
        .process_min_ms = t - (int64_t)cf->process_max_age_ms,
        .process_max_rows = cf->process_max_rows,
        .events_min_ms = t - (int64_t)cf->events_max_age_ms,
        .history_min_ms = t - (int64_t)cf->history_max_age_ms,
        .commands_min_ms = t - (int64_t)cf->commands_max_age_ms,
    };
    int rc;

    if (!s->retaining) {
        if (now < s->retention_due_ms)
            return;
        s->retention_due_ms = now + 600000;
        collect_retention(s);
        s->retaining = 1;
        memset(s->retained, 0, sizeof(s->retained));
    }
    rc = store_retention(s->store, &r, RETAIN_CHUNK, s->retained);
    if (rc == 1)
        return; /* more next second */
    s->retaining = 0;
    {
        char line[512], a1[VG_FMT_MAX], a2[VG_FMT_MAX], a3[VG_FMT_MAX], a4[VG_FMT_MAX];
        size_t off = 0;
        uint64_t all = 0;
        for (int k = 0; k < RETAIN_KINDS; k++) {
            all += s->retained[k];
            if (s->retained[k] && off < sizeof(line))
                off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%llu %s rows",
                                        off ? ", " : "", (unsigned long long)s->retained[k],
                                        names[k]);
        }
        if (all)
            log_info("retention: %s deleted (processes kept %s, events %s, history %s, "
                     "finished commands %s)%s", line,
                     vg_fmt_duration(cf->process_max_age_ms, a1, sizeof(a1)),
                     vg_fmt_duration(cf->events_max_age_ms, a2, sizeof(a2)),
                     vg_fmt_duration(cf->history_max_age_ms, a3, sizeof(a3)),
                     vg_fmt_duration(cf->commands_max_age_ms, a4, sizeof(a4)),
                     rc < 0 ? "; stopped by a database error, tried again in 10 min" : "");
    }
}

/* Memory held by connections: logged when it changed, at most every 10 s. */
static void held_report(struct server *s, uint64_t now)
{
    size_t held = 0;
    unsigned n = 0;

    if (now - s->held_log_ms < 10000)
        return;
    for (struct conn *c = s->conns; c; c = c->next, n++)
        held += conn_held(c);
    if (held == s->held_logged && n == s->held_logged_n)
        return;
#ifdef __GLIBC__
    /* What the connections gave back is free in the middle of the heap,
     * where glibc's free() never returns it to the kernel. */
    if (held < s->held_logged)
        malloc_trim(0);
#endif
    s->held_log_ms = now;
    s->held_logged = held;
    s->held_logged_n = n;
    log_info("connections: %u open, %zu bytes in their buffers (%zu each on average; the "
             "largest frame made one hold %zu)",
             n, held, n ? held / n : 0, s->conn_held_peak);
}

static void sweep_cb(uv_timer_t *t)
{
    struct server *s = t->data;
    uint64_t now = vg_time_mono_ms();

    retention(s, now);
    commands_sweep(s);
    backup_sweep(s);
    conn_reports_sweep(s, 0);
    audit_tick(s);
    held_report(s, now);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->ready_ms || c->closing)
            continue; /* the TLS layer times out handshakes */
        if (c->kind == CONN_ENROLL && now - c->accept_ms > HELLO_TIMEOUT_MS)
            conn_close(c, "no enrollment request in time");
        else if (c->hello_wait)
            continue; /* waiting for us (a commit), not for the agent */
        else if (!c->hello_done && c->kind == CONN_AGENT && now - c->ready_ms > HELLO_TIMEOUT_MS)
            conn_refuse(c, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "no hello within %d s",
                        HELLO_TIMEOUT_MS / 1000);
        else if (!c->paused && !c->jobs && now - c->last_rx_ms > s->conf->idle_timeout_ms)
            conn_close(c, "peer silent for longer than idle_timeout");
    }
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    if (signum == SIGHUP) {
        log_info("SIGHUP: reloading the configuration");
        if (s->on_reload && !s->stopping)
            s->on_reload(s);
        return;
    }
    log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(s);
}

/* The store thread and its own connection to the database. */
static int store_thread_start(struct server *s, char *err, size_t errlen)
{
    int rc = store_open(conf_store_target(s->conf), s->conf->sync == 0, &s->wstore, err, errlen);

    if (rc)
        return rc;
    /* It waits while the loop writes (an operator's command, retention),
     * rather than fail a group of batches that would then be resent. */
    store_busy_timeout(s->wstore, 60000);
    {
        /* Without it the commits checkpoint the WAL themselves, as before. */
        char why[300];
        if (store_checkpointer_start(s->wstore, why, sizeof(why)) != 0)
            log_warnx("WAL checkpoints stay in the commits: %s", why);
    }
    if (uv_mutex_init(&s->job_mu) || uv_cond_init(&s->job_cv)) {
        snprintf(err, errlen, "cannot start the store thread: out of resources");
        store_close(s->wstore);
        s->wstore = NULL;
        return -ENOMEM;
    }
    uv_async_init(s->loop, &s->job_done, job_done_cb);
    s->job_done.data = s;
    if ((rc = uv_thread_create(&s->store_thread, store_thread_main, s)) != 0) {
        snprintf(err, errlen, "cannot start the store thread: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&s->job_done, NULL);
        uv_run(s->loop, UV_RUN_NOWAIT);
        uv_cond_destroy(&s->job_cv);
        uv_mutex_destroy(&s->job_mu);
        store_close(s->wstore);
        s->wstore = NULL;
        return rc;
    }
    return 0;
}

/* After the last group: the thread ends, its connection closes. */
static void store_thread_stop(struct server *s)
{
    if (!s->wstore)
        return;
    uv_mutex_lock(&s->job_mu);
    s->job_quit = 1;
    uv_cond_broadcast(&s->job_cv);
    uv_mutex_unlock(&s->job_mu);
    uv_thread_join(&s->store_thread);
    uv_cond_destroy(&s->job_cv);
    uv_mutex_destroy(&s->job_mu);
    store_close(s->wstore);
    s->wstore = NULL;
}

int server_parse_proxies(const char *spec, struct vg_netaddr *out, size_t *n, char *err,
                         size_t errlen)
{
    const char *p = spec ? spec : "";

    *n = 0;
    for (;;) {
        char item[VG_NETADDR_STR + 1], why[200];
        size_t len;
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        len = strcspn(p, ", \t");
        if (len >= sizeof(item)) {
            snprintf(err, errlen, "[collector] proxy_protocol: '%.40s...' is too long for an "
                     "address", p);
            return VG_ECONFIG;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        if (*n == PROXIES_MAX) {
            snprintf(err, errlen, "[collector] proxy_protocol: more than %d load balancers "
                     "(give a network, e.g. 10.0.0.0/24)", PROXIES_MAX);
            return VG_ECONFIG;
        }
        if (vg_netaddr_parse(item, &out[*n], why, sizeof(why)) != 0 || out[*n].port ||
            out[*n].proto) {
            snprintf(err, errlen, "[collector] proxy_protocol: '%s': %s (expected the load "
                     "balancers' addresses or networks, e.g. 10.0.0.5, 10.0.1.0/24, fd00::5)",
                     item, out[*n].port || out[*n].proto ? "no port here" : why);
            return VG_ECONFIG;
        }
        {
            /* ::ffff:10.0.0.5 is 10.0.0.5: IPv4 peers are matched as IPv4. */
            struct vg_netaddr *a = &out[*n];
            static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (a->family == AF_INET6 && a->prefix >= 96 && memcmp(a->addr, mapped, 12) == 0) {
                memmove(a->addr, a->addr + 12, 4);
                memset(a->addr + 4, 0, 12);
                a->family = AF_INET;
                a->prefix -= 96;
            }
        }
        (*n)++;
    }
}

int server_parse_listen(const char *spec, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    uint64_t port;
    size_t hl;

    if (!colon || vg_parse_u64(colon + 1, 1, 65535, &port)) {
        snprintf(err, errlen, "[collector] listen '%s': expected HOST:PORT, the port a number "
                 "from 1 to 65535 (e.g. 0.0.0.0:7443)", spec);
        return VG_ECONFIG;
    }
    hl = (size_t)(colon - spec);
    if (hl >= sizeof(host))
        hl = sizeof(host) - 1;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss) == 0)
            return 0;
    } else if (uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    snprintf(err, errlen, "[collector] listen '%s': not an IP address and port", spec);
    return VG_ECONFIG;
}

/* Raises the descriptor limit to hold max_connections agents, the
 * operators' reserve, the handshakes in progress and the collector's own
 * files; with less, takes fewer
 * agents and says so.  (The packaged unit sets LimitNOFILE=, since its
 * system-call filter refuses setrlimit.) */
static void fit_fd_limit(struct server *s)
{
    uint64_t fixed = OPERATOR_RESERVE + MAX_HANDSHAKING + FD_OVERHEAD;
    uint64_t want = s->conf->max_connections + fixed;
    uint64_t got = vg_fd_limit_raise(want);

    s->max_agents = s->conf->max_connections;
    if (got && got < want) {
        uint64_t room = got > fixed + 16 ? got - fixed : 16;
        s->max_agents = room;
        log_warnx("the descriptor limit (%llu) holds %llu agent connections, not the %llu of "
                  "[collector] max_connections: raise LimitNOFILE= (or ulimit -n) to %llu, or "
                  "lower max_connections",
                  (unsigned long long)got, (unsigned long long)room,
                  (unsigned long long)s->conf->max_connections, (unsigned long long)want);
    }
}

int server_start(struct server *s, uv_loop_t *loop, const struct collector_conf *conf, char *err,
                 size_t errlen)
{
    struct vg_tls_opts topts;
    struct sockaddr_storage ss;
    int rc;

    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->conf = conf;
    s->rl_refuse = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 20);
    s->rl_evict = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 5);
    s->rl_frame = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 20);
    s->tl_refuse.t = (struct vg_tally)VG_TALLY_INIT(10000, 20);
    s->tl_enroll.t = (struct vg_tally)VG_TALLY_INIT(10000, 10);
    s->enroll_addr.window_ms = 60000;
    s->enroll_addr.max = ENROLL_ADDR_MAX_FAILURES;
    s->enroll_global = (struct vg_bucket)VG_BUCKET_INIT(60000, ENROLL_MAX_FAILURES);
    s->rl_reject = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 20);
    s->rl_full = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 5);
    vg_frame_limits_default(&s->limits);
    s->limits.max_wire = (uint32_t)conf->max_frame;
    s->enroll_limits.max_wire = 16 * 1024;
    s->enroll_limits.max_raw = 16 * 1024;
#ifdef VG_TEST_HOOKS
    if (getenv("VIGIL_TEST_CRASH_AFTER_COMMIT") &&
        vg_parse_u64(getenv("VIGIL_TEST_CRASH_AFTER_COMMIT"), 1, UINT64_MAX, &s->crash_after))
        s->crash_after = 0;
    s->no_field_limits = getenv("VIGIL_TEST_NO_FIELD_LIMITS") != NULL;
    s->commit_gate = getenv("VIGIL_TEST_COMMIT_GATE");
#endif
    if ((rc = server_parse_listen(conf->listen, &ss, err, errlen)) != 0 ||
        (rc = server_parse_proxies(conf->proxy_protocol, s->proxies, &s->nproxies, err,
                                   errlen)) != 0)
        return rc;
    fit_fd_limit(s);
    memset(&topts, 0, sizeof(topts));
    topts.server = 1;
    topts.ca = conf->ca;
    topts.cert = conf->cert;
    topts.key = conf->key;
    topts.ticket_lifetime_s = (uint32_t)(conf->ticket_lifetime_ms / 1000);
    if (conf->ticket_key_file && conf->ticket_key_file[0]) {
        topts.ticket_key_file = conf->ticket_key_file;
    } else {
        const char *slash = strrchr(conf->db, '/');
        if (slash)
            snprintf(s->ticket_keys, sizeof(s->ticket_keys), "%.*s/tickets.keys",
                     (int)(slash - conf->db), conf->db);
        else
            snprintf(s->ticket_keys, sizeof(s->ticket_keys), "tickets.keys");
        topts.ticket_key_file = s->ticket_keys;
    }
    if ((rc = vg_tls_config_new(&topts, &s->tls, err, errlen)) != 0)
        goto fail;
    if ((rc = store_open(conf_store_target(conf), conf->sync == 0, &s->store, err, errlen)) != 0)
        goto fail;
    backup_cleanup(conf->db);
    if ((rc = store_thread_start(s, err, errlen)) != 0)
        goto fail;
    if ((rc = collect_init(s, err, errlen)) != 0)
        goto fail;
    if ((rc = report_init(s, err, errlen)) != 0)
        goto fail;
    if ((rc = audit_init(s, err, errlen)) != 0)
        goto fail;
    if (store_revoked(s->store, conn_revoked_add, s) != 0) {
        snprintf(err, errlen, "cannot read the revoked certificates from %s", conf->db);
        rc = -EIO;
        goto fail;
    }

    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc) {
        snprintf(err, errlen, "cannot listen on %s: %s%s", conf->listen, uv_strerror(rc),
                 rc == UV_EADDRINUSE ? " (another collector, or another program, holds it: "
                                       "ss -ltnp; or change [collector] listen)"
                                     : "");
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT); /* let the close complete */
        goto fail;
    }
    if (conf->enroll_listen && conf->enroll_listen[0]) {
        struct sockaddr_storage es;
        struct vg_tls_opts eo;
        if (!conf->enroll_ca_key) {
            log_warnx("[enroll] listen is set but [enroll] ca_key is not: enrollment is off");
        } else if ((rc = server_parse_listen(conf->enroll_listen, &es, err, errlen)) != 0) {
            goto fail_listen;
        } else {
            memset(&eo, 0, sizeof(eo));
            eo.server = 1;
            eo.no_client_auth = 1;
            eo.ca = conf->ca;
            eo.cert = conf->cert;
            eo.key = conf->key;
            if ((rc = vg_tls_config_new(&eo, &s->enroll_tls, err, errlen)) != 0)
                goto fail_listen;
            const char *issuing = conf->enroll_ca_cert ? conf->enroll_ca_cert : conf->ca;
            if ((rc = vg_cert_load(issuing, &s->enroll_ca)) != 0 ||
                (rc = vg_key_load(conf->enroll_ca_key, &s->enroll_ca_key)) != 0) {
                snprintf(err, errlen, "[enroll] cannot load the CA (%s) or its key %s: %s",
                         issuing, conf->enroll_ca_key, vg_strerror(rc));
                goto fail_listen;
            }
            if (!vg_cert_matches_key(s->enroll_ca, s->enroll_ca_key)) {
                snprintf(err, errlen, "[enroll] ca_key %s is not the key of the CA %s",
                         conf->enroll_ca_key, issuing);
                rc = VG_ECONFIG;
                goto fail_listen;
            }
            if (conf->enroll_ca_cert) {
                /* An intermediate: it must chain to what peers trust, and
                 * goes with every certificate it signs. */
                struct vg_cert *root = NULL;
                char why[256];
                size_t len;
                rc = vg_cert_load(conf->ca, &root);
                if (rc == 0 && vg_cert_verify(s->enroll_ca, root, why, sizeof(why)) != 0) {
                    snprintf(err, errlen, "[enroll] ca_cert %s does not chain to [tls] ca %s: %s",
                             issuing, conf->ca, why);
                    rc = VG_ECONFIG;
                }
                vg_cert_free(root);
                if (rc == 0 && (rc = vg_file_read(issuing, 256 * 1024, &s->enroll_chain, &len)))
                    snprintf(err, errlen, "[enroll] cannot read %s", issuing);
                if (rc)
                    goto fail_listen;
            }
            uv_tcp_init(loop, &s->enroll_listener);
            s->enroll_listener.data = s;
            rc = uv_tcp_bind(&s->enroll_listener, (struct sockaddr *)&es, 0);
            if (rc == 0)
                rc = uv_listen((uv_stream_t *)&s->enroll_listener, 256, on_enroll_connection);
            if (rc) {
                snprintf(err, errlen, "cannot listen on %s: %s", conf->enroll_listen,
                         uv_strerror(rc));
                uv_close((uv_handle_t *)&s->enroll_listener, NULL);
                uv_run(loop, UV_RUN_NOWAIT);
                goto fail_listen;
            }
            {
                /* Issue one throwaway certificate and check it the way
                 * peers will: a root that allows no intermediate, or a
                 * mismatched chain, shows now, not at the first agent. */
                struct vg_key *tk = NULL;
                struct vg_cert_req tr;
                struct vg_cert *tc = NULL, *root = NULL;
                char *tpem = NULL, why[256] = "";
                int ok = 0;
                memset(&tr, 0, sizeof(tr));
                tr.cn = "enrollment-check";
                tr.role = VG_ROLE_AGENT;
                tr.not_before_ms = vg_time_now_ms() - 60000;
                tr.not_after_ms = vg_time_now_ms() + 3600000;
                if (vg_key_generate(&tk) == 0 &&
                    vg_cert_issue(&tr, tk, s->enroll_ca, s->enroll_ca_key, &tpem) == 0) {
                    size_t a = strlen(tpem), b = s->enroll_chain ? strlen(s->enroll_chain) : 0;
                    char *chain = malloc(a + b + 2);
                    if (chain) {
                        memcpy(chain, tpem, a);
                        chain[a] = '\n';
                        memcpy(chain + a + 1, s->enroll_chain ? s->enroll_chain : "", b + 1);
                        ok = vg_cert_parse((uint8_t *)chain, strlen(chain) + 1, &tc) == 0 &&
                             vg_cert_load(conf->ca, &root) == 0 &&
                             vg_cert_verify(tc, root, why, sizeof(why)) == 0;
                        free(chain);
                    }
                }
                vg_key_free(tk);
                free(tpem);
                vg_cert_free(tc);
                vg_cert_free(root);
                if (!ok) {
                    snprintf(err, errlen, "[enroll] certificates signed with %s would not verify "
                             "against [tls] ca %s (%s); a root made before intermediates were "
                             "allowed needs replacing (vigilctl pki init)", issuing, conf->ca,
                             why[0] ? why : "cannot issue");
                    rc = VG_ECONFIG;
                    goto fail_listen;
                }
            }
            s->enroll_on = 1;
            char life[32];
            log_info("enrollment endpoint on %s (certificates valid %s)", conf->enroll_listen,
                     vg_fmt_duration(conf->enroll_lifetime_ms, life, sizeof(life)));
        }
    }
    if ((rc = metrics_start(s, err, errlen)) != 0)
        goto fail_listen;
    if ((rc = export_start(loop, s->store, conf, &s->export, err, errlen)) != 0) {
        metrics_stop(s);
        goto fail_listen;
    }
    if ((rc = notify_start(s, err, errlen)) != 0) {
        export_stop(s->export);
        s->export = NULL;
        metrics_stop(s);
        goto fail_listen;
    }
    uv_check_init(loop, &s->commit);
    s->commit.data = s;
    uv_check_start(&s->commit, commit_cb);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->retention_due_ms = vg_time_mono_ms() + 5000;
    uv_timer_start(&s->sweep, sweep_cb, 1000, 1000);
    uv_signal_init(loop, &s->sigterm);
    uv_signal_init(loop, &s->sigint);
    uv_signal_init(loop, &s->sighup);
    s->sigterm.data = s->sigint.data = s->sighup.data = s;
    uv_signal_start(&s->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&s->sigint, signal_cb, SIGINT);
    uv_signal_start(&s->sighup, signal_cb, SIGHUP);
    {
        char where[600];
        log_info("listening on %s as %s (database %s; room for %llu agents and %u operators)",
                 conf->listen, vg_tls_config_self(s->tls)->cn,
                 db_target_display(conf_store_target(conf), where, sizeof(where)),
                 (unsigned long long)s->max_agents, OPERATOR_RESERVE);
    }
    {
        char st[200];
        snprintf(st, sizeof(st), "listening on %s", conf->listen);
        vg_notify_ready(loop, &s->watchdog, st);
    }
    return 0;
fail_listen:
    uv_close((uv_handle_t *)&s->listener, NULL);
    if (s->enroll_on)
        uv_close((uv_handle_t *)&s->enroll_listener, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
fail:
    vg_tls_config_free(s->enroll_tls);
    s->enroll_tls = NULL;
    vg_cert_free(s->enroll_ca);
    s->enroll_ca = NULL;
    vg_key_free(s->enroll_ca_key);
    s->enroll_ca_key = NULL;
    free(s->enroll_chain);
    s->enroll_chain = NULL;
    audit_free(s);
    report_free(s);
    if (s->wstore) {
        uv_close((uv_handle_t *)&s->job_done, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
    }
    store_thread_stop(s);
    store_close(s->store);
    s->store = NULL;
    vg_tls_config_free(s->tls);
    s->tls = NULL;
    return rc;
}

/* ---- reload (SIGHUP) ---- */

/* Appends "; " and a formatted part to the reload's summary. */
static void key_value(const struct vg_conf_key *k, const void *conf, char *out, size_t len)
{
    if (k->type == VG_CONF_DURATION)
        vg_fmt_duration(*(const uint64_t *)(const void *)((const char *)conf + k->offset), out,
                        len);
    else
        vg_conf_value(k, conf, out, len);
    if (!out[0])
        vg_strlcpy(out, "(unset)", len);
}

/* The server's TLS set-up for conf; the ticket keys file is read at
 * start only. */
static int tls_for(struct server *s, const struct collector_conf *conf, int enroll,
                   struct vg_tls_config **out, char *err, size_t errlen)
{
    struct vg_tls_opts o;
    memset(&o, 0, sizeof(o));
    o.server = 1;
    o.ca = conf->ca;
    o.cert = conf->cert;
    o.key = conf->key;
    if (enroll) {
        o.no_client_auth = 1;
    } else {
        o.ticket_lifetime_s = (uint32_t)(conf->ticket_lifetime_ms / 1000);
        /* read at start only: the one in force */
        o.ticket_key_file = s->conf->ticket_key_file && s->conf->ticket_key_file[0]
                                ? s->conf->ticket_key_file
                                : s->ticket_keys;
    }
    return vg_tls_config_new(&o, out, err, errlen);
}

int server_reload(struct server *s, struct collector_conf *next, char *err, size_t errlen)
{
    const struct collector_conf *cur = s->conf;
    struct vg_tls_config *tls = NULL, *etls = NULL;
    const struct vg_cert_info *was, *now;
    char **old_rev = s->revoked, sum[2048] = "", why[512];
    size_t old_n = s->nrevoked, old_cap = s->caprevoked;
    uint64_t kept = 0, closed = 0;
    int ca_changed, rc;

    if ((rc = tls_for(s, next, 0, &tls, why, sizeof(why))) != 0 ||
        (s->enroll_on && (rc = tls_for(s, next, 1, &etls, why, sizeof(why))) != 0)) {
        snprintf(err, errlen, "[tls]: %s", why);
        goto fail;
    }
    /* Revocations made since start are already in force; the store is
     * read again for any made behind the collector's back. */
    s->revoked = NULL;
    s->nrevoked = s->caprevoked = 0;
    if (store_revoked(s->store, conn_revoked_add, s) != 0) {
        for (size_t i = 0; i < s->nrevoked; i++)
            free(s->revoked[i]);
        free(s->revoked);
        s->revoked = old_rev;
        s->nrevoked = old_n;
        s->caprevoked = old_cap;
        snprintf(err, errlen, "cannot read the revoked certificates from %s", cur->db);
        rc = -EIO;
        goto fail;
    }
    for (size_t i = 0; i < old_n; i++)
        free(old_rev[i]);
    free(old_rev);

    /* Nothing fails from here on.  Keys read at start only keep their
     * value: next takes them over, so that s->conf says what is in force. */
    for (const struct vg_conf_key *k = collector_conf_keys; k->key; k++) {
        char a[512], b[512];
        if (!(k->flags & VG_CONF_RESTART) || vg_conf_same(k, cur, next))
            continue;
        key_value(k, cur, a, sizeof(a));
        key_value(k, next, b, sizeof(b));
        log_warnx("reload: [%s] %s changed (%s -> %s): needs a restart; %s stays in force "
                  "until then", k->section, k->key, a, b, a);
        /* cur is the caller's (s->conf is const only to the rest of the
         * collector), freed once this returns 0 */
        {
            void *owned;
            memcpy(&owned, &cur, sizeof(owned));
            vg_conf_swap(k, owned, next);
        }
    }
    /* What changed: */
    was = vg_tls_config_self(s->tls);
    now = vg_tls_config_self(tls);
    if (memcmp(was->sha256, now->sha256, sizeof(was->sha256)) != 0) {
        char t[VG_TIME_STR_MAX];
        vg_list_appendf(sum, sizeof(sum), "[tls] cert changed (serial %s -> %s, valid until %s)",
             was->serial, now->serial, vg_time_format(now->not_after_ms, t, sizeof(t)));
    }
    ca_changed = !vg_tls_config_same_ca(s->tls, tls);
    if (ca_changed) {
        s->ca_reload_ms = vg_time_mono_ms();
        vg_list_appendf(sum, sizeof(sum), "[tls] ca changed (%s)", next->ca);
    }
    for (const struct vg_conf_key *k = collector_conf_keys; k->key; k++) {
        char a[512], b[512];
        if ((k->flags & VG_CONF_RESTART) || vg_conf_same(k, cur, next))
            continue;
        key_value(k, cur, a, sizeof(a));
        key_value(k, next, b, sizeof(b));
        vg_list_appendf(sum, sizeof(sum), "[%s] %s %s -> %s", k->section, k->key, a, b);
    }
    if (strcmp(cur->log_level ? cur->log_level : "", next->log_level ? next->log_level : "") !=
        0) {
        enum vg_log_level lvl;
        if (vg_log_level_parse(next->log_level, &lvl) == 0)
            vg_log_set_level(lvl);
    }
    /* Connections keep the configuration they were made with (the TLS
     * layer holds a reference); new handshakes get the new one. */
    vg_tls_config_free(s->tls);
    s->tls = tls;
    if (etls) {
        vg_tls_config_free(s->enroll_tls);
        s->enroll_tls = etls;
    }
    s->conf = next;

    /* Those whose certificate the new CA bundle does not verify, or that
     * is revoked, are closed; the others stay. */
    for (struct conn *c = s->conns; c; c = c->next) {
        const struct vg_cert_info *peer;
        if (c->closing || !c->ready_ms || (c->kind != CONN_AGENT && c->kind != CONN_OPERATOR))
            continue;
        peer = vg_tls_peer(c->tls);
        if (conn_is_revoked(s, peer->serial)) {
            log_warnx("reload: closing %s (%s): its certificate (serial %s) is revoked",
                      peer->cn, c->addr, peer->serial);
            conn_close(c, "certificate revoked");
            closed++;
        } else if (ca_changed && vg_tls_peer_verify(c->tls, tls, why, sizeof(why)) != 0) {
            log_warnx("reload: closing %s (%s): its certificate (serial %s) does not verify "
                      "against the new [tls] ca %s: %s", peer->cn, c->addr, peer->serial,
                      next->ca, why);
            conn_close(c, "certificate no longer trusted");
            closed++;
        } else {
            kept++;
        }
    }
    vg_list_appendf(sum, sizeof(sum), "%llu connections kept, %llu closed", (unsigned long long)kept,
         (unsigned long long)closed);
    log_info("reload: %s", sum);
    return 0;
fail:
    vg_tls_config_free(tls);
    vg_tls_config_free(etls);
    return rc ? rc : VG_ECONFIG;
}

void server_stop(struct server *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    atomic_store(&s->reports_cancel, 1); /* a report in the making stops soon */
    backup_cancel(s);                    /* and so does a database backup */
    vg_notify("STOPPING=1");
    uv_close((uv_handle_t *)&s->watchdog, NULL);
    /* Order: stop accepting, store and acknowledge what was received,
     * say goodbye, close. */
    uv_close((uv_handle_t *)&s->listener, NULL);
    if (s->enroll_on)
        uv_close((uv_handle_t *)&s->enroll_listener, NULL);
    metrics_stop(s);
    notify_stop(s);
    server_commit(s);
    for (struct conn *c = s->conns; c; c = c->next) {
        Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
        Vigil__V1__Goodbye bye = VIGIL__V1__GOODBYE__INIT;
        bye.reason = "collector shutting down";
        env.body_case = VIGIL__V1__ENVELOPE__BODY_GOODBYE;
        env.goodbye = &bye;
        if (c->closing)
            continue;
        (void)vg_wire_send(c->tls, &env);
        conn_close(c, "collector shutting down");
    }
    export_stop(s->export); /* after the last commit: what it stored goes out first */
    s->export = NULL;
    uv_check_stop(&s->commit);
    uv_close((uv_handle_t *)&s->commit, NULL);
    if (s->wstore)
        uv_close((uv_handle_t *)&s->job_done, NULL); /* server_commit() from here on */
    uv_close((uv_handle_t *)&s->sweep, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
}

void server_free(struct server *s)
{
    /* Disconnects of the last connections, queued after the last commit. */
    server_commit(s);
    store_thread_stop(s);
    book_clear(s->book, &s->nbook);
    free(s->book);
    free(s->job.book);
    free(s->job.pend);
    report_free(s);
    backup_free(s);
    vg_tls_config_free(s->enroll_tls);
    vg_cert_free(s->enroll_ca);
    vg_key_free(s->enroll_ca_key);
    free(s->enroll_chain);
    for (size_t i = 0; i < s->nrevoked; i++)
        free(s->revoked[i]);
    free(s->revoked);
    free(s->pend);
    /* The connections wrote theirs at their close. */
    conn_reports_sweep(s, 1);
    audit_stop(s); /* after the last entry, before the store closes */
    store_close(s->store);
    if (s->tls) {
        uint64_t full, resumed;
        vg_tls_config_stats(s->tls, &full, &resumed);
        log_info("TLS handshakes: %llu full, %llu resumed from a ticket",
                 (unsigned long long)full, (unsigned long long)resumed);
    }
    vg_tls_config_free(s->tls);
    if (s->commits)
        log_info("group commits: %llu, %.1f ms on average, the longest %llu ms; connections "
                 "paused until their batches were committed: %llu times",
                 (unsigned long long)s->commits, (double)s->commit_ms_total / (double)s->commits,
                 (unsigned long long)s->commit_ms_max, (unsigned long long)s->pauses);
    log_info("stopped: %llu connections accepted, %llu refused, %llu bad frames, %llu batches "
             "stored (%llu events), %llu resends, %llu rejected, %llu not stored (the "
             "database's fault; resent), %llu fields cut to their limits, %llu duplicate "
             "identities, %llu handshakes closed to make room, %llu enrollment connections "
             "refused, %llu connections refused at the connection limit, %llu accepts failed "
             "for want of descriptors; the largest frame made one connection hold %zu bytes",
             (unsigned long long)s->accepted, (unsigned long long)s->refused,
             (unsigned long long)s->bad_frames, (unsigned long long)s->batches_stored,
             (unsigned long long)s->events_stored, (unsigned long long)s->batches_duplicate,
             (unsigned long long)s->batches_rejected, (unsigned long long)s->batches_failed,
             (unsigned long long)s->fields_cut, (unsigned long long)s->duplicate_ids,
             (unsigned long long)s->handshake_evicted, (unsigned long long)s->handshake_overflow,
             (unsigned long long)s->conn_full, (unsigned long long)s->fd_exhausted,
             s->conn_held_peak);
}
