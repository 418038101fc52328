/*
 * The agent's connection to the collector (network side).
 *
 *   idle --backoff--> resolving --> connecting (TCP + TLS) --> hello sent
 *        <----------------- any failure -----------------+       |
 *                                                         ready <-+ hello_ack
 *
 * Addresses are tried in order; after a whole round fails the agent
 * waits a random time in [0, min(cap, base * 2^round)) ("full jitter"),
 * so that a fleet does not reconnect in step after a collector restart.
 * A connection that worked (acknowledged a batch, stayed up STABLE_MS, or
 * was ended by the collector's goodbye) resets the round: the collector
 * went away, not this agent's welcome, so the next try is within
 * backoff_base (with jitter), not after doubling since the last storm.
 * Once ready, unacknowledged batches are (re)sent in order; heartbeats
 * keep an idle connection known to be alive and a collector silent for
 * dead_after is dropped.
 *
 * With [collector] proxy, each connection is a CONNECT tunnel through
 * that HTTP proxy (lib/proxy.h): the proxy's name is resolved (or, while
 * isolated, its pinned addresses used) instead of the collector's, which
 * only the proxy resolves; the collector's name is still the one its
 * certificate must carry.  The connection reported up (hooks.conn) is
 * the proxy's, so that isolation lets the agent reach the proxy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "proxy.h"
#include "queue.h"
#include "tls.h"
#include "transport.h"
#include "util.h"
#include "wire.h"

enum tstate { T_IDLE, T_RESOLVING, T_CONNECTING, T_HELLO, T_READY, T_STOPPED };

struct transport {
    struct agent *agent;
    uv_loop_t *loop;
    const struct agent_conf *conf;
    struct queue *queue;
    struct vg_tls_config *tls;
    struct vg_tls_session *session;
    struct vg_tls_conn *conn;
    struct vg_frame_reader rd;
    uv_timer_t retry, tick;
    uv_getaddrinfo_t gai;
    enum tstate state;
    size_t addr_idx;
    unsigned round;
    uint64_t last_rx_ms, last_tx_ms, heartbeat_ms, hb_id;
    int closing_handles;
    int resolving;
    int closing;      /* we asked this connection to close */
    int acked;        /* the collector acknowledged a batch on this connection */
    int goodbye;      /* the collector said goodbye (stopping) on this connection */
    uint64_t ready_ms; /* monotonic: when this connection became ready */
    uint64_t sent_high;   /* the highest seq sent on this connection */
    uint64_t verify_upto; /* records up to this seq are decoded before they are sent */
    int again;        /* reconnect to the same address at once (new epoch) */
    uint32_t max_frame;
    int stop_when_drained;
    uint64_t stop_deadline_ms;
    void (*stopped)(struct transport *t);
    struct vg_ratelimit rl;
    uint64_t reconnects, batches_sent;
    char host[256], port[8];
    struct sockaddr_storage peer; /* address of the current connection */
    /* Certificate renewal: the key waiting for its certificate, the
     * configuration replaced (freed once its connection is closed). */
    struct vg_key *renew_key;
    struct vg_tls_config *old_tls;
    uint64_t renew_next_ms; /* monotonic: next attempt */
    unsigned pin_idx;             /* rotates over pinned addresses while isolated */
    struct transport_hooks hooks;
    /* [tls] ca, read at start (the file may not be readable later). */
    struct vg_cert *ca;
    /* [collector] proxy (credentials read at start, as root). */
    int use_proxy;
    struct vg_proxy proxy;
    char proxy_name[270];
    char where_buf[600]; /* where()'s answer */
};

static void schedule(struct transport *t, int failed_round);

/* A connection up this long worked, even if it had nothing to send. */
#define STABLE_MS 5000

/* Calls `stopped` once, when nothing of the transport is still open. */
static void maybe_stopped(struct transport *t)
{
    void (*cb)(struct transport *);
    if (t->state != T_STOPPED || t->closing_handles || t->conn || t->resolving || !t->stopped)
        return;
    cb = t->stopped;
    t->stopped = NULL;
    cb(t);
}

int transport_check_addresses(const struct vg_strlist *l, char *err, size_t errlen)
{
    char h[256], p[8];
    for (size_t i = 0; i < l->n; i++) {
        if (vg_split_hostport(l->v[i], h, sizeof(h), p, sizeof(p))) {
            snprintf(err, errlen, "[collector] address '%s': expected HOST:PORT "
                     "(e.g. collector.example.org:7443 or [2001:db8::1]:7443)", l->v[i]);
            return VG_ECONFIG;
        }
    }
    return 0;
}

int transport_check_proxy(const struct agent_conf *c, int read_file, char *err, size_t errlen)
{
    struct vg_proxy p;
    int rc;

    if (!c->proxy || !c->proxy[0]) {
        if (c->proxy_auth_file) {
            snprintf(err, errlen, "[collector] proxy_auth_file is set but [collector] proxy is "
                     "not: set proxy = http://HOST:PORT, or remove proxy_auth_file");
            return VG_ECONFIG;
        }
        return 0;
    }
    rc = vg_proxy_parse(c->proxy, &p, err, errlen);
    if (rc == 0 && p.auth[0] && c->proxy_auth_file) {
        snprintf(err, errlen, "[collector] proxy holds credentials and proxy_auth_file is set "
                 "too: keep one of them");
        rc = VG_ECONFIG;
    }
    if (rc == 0 && read_file && c->proxy_auth_file)
        rc = vg_proxy_auth_file(&p, c->proxy_auth_file, err, errlen);
    vg_proxy_clear(&p);
    return rc;
}

/* "collector.example.org:7443" or "... through proxy 192.0.2.1:3128",
 * for messages about connection c (NULL: the current one). */
static const char *where(struct transport *t, const struct vg_tls_conn *c)
{
    const char *addr = c ? vg_tls_peer_addr(c) : "";
    char *out = t->where_buf;
    size_t outlen = sizeof(t->where_buf);
    if (t->use_proxy)
        snprintf(out, outlen, strchr(t->host, ':') ? "[%s]:%s through proxy %s"
                                                  : "%s:%s through proxy %s",
                 t->host, t->port, addr[0] ? addr : t->proxy_name);
    else
        snprintf(out, outlen, "%s", addr);
    return out;
}

/* The name whose addresses are connected to: the proxy's, or the
 * collector's. */
static const char *dial_host(const struct transport *t)
{
    return t->use_proxy ? t->proxy.host : t->host;
}

static void close_conn(struct transport *t, const char *why)
{
    if (!t->conn || t->closing)
        return;
    t->closing = 1;
    vg_tls_close(t->conn, why);
}

static int send_env(struct transport *t, Vigil__V1__Envelope *env)
{
    int rc = vg_wire_send(t->conn, env);
    if (rc == 0)
        t->last_tx_ms = vg_time_mono_ms();
    return rc;
}

static int batch_decodes(const uint8_t *data, size_t len)
{
    Vigil__V1__Batch *b = vigil__v1__batch__unpack(NULL, len, data);
    if (!b)
        return 0;
    vigil__v1__batch__free_unpacked(b, NULL);
    return 1;
}

/* Sends spooled batches, in order, until the window of unacknowledged
 * batches or the TLS queue is full. */
static void pump(struct transport *t)
{
    struct spool_rec *r;
    size_t in_flight;
    int synced = 0;

    if (t->state != T_READY || t->closing)
        return;
    /* in_flight is read each time round: a drop below may run a nested
     * pump (loss record -> batch -> kick). */
    while (t->state == T_READY && !t->closing &&
           (in_flight = queue_in_flight(t->queue)) < t->conf->window &&
           (r = queue_next_unsent(t->queue))) {
        struct vg_buf raw, fr;
        uint8_t *data = NULL;
        uint64_t seq = r->seq;
        int rc;

        if (t->max_frame && r->len + 64 > t->max_frame) {
            /* The collector will never take it: drop it, counted. */
            queue_drop(t->queue, seq, "larger than the collector's max_frame");
            continue;
        }
        if (!synced) {
            queue_sync(t->queue); /* nothing leaves before it is on disk */
            synced = 1;
        }
        rc = queue_read(t->queue, r, &data);
        if (rc == VG_ECORRUPT || rc == -EIO) {
            queue_drop(t->queue, seq, "spool record corrupt on disk");
            continue;
        }
        /* Bytes this process did not just write (an earlier process's, or
         * a batch in flight when the collector dropped us) must decode:
         * a record with a good CRC that is no batch would otherwise make
         * the collector drop every connection that carries it, for ever. */
        if (rc == 0 && (seq <= queue_recovered_high(t->queue) || seq <= t->verify_upto) &&
            !batch_decodes(data, r->len)) {
            free(data);
            queue_drop_undecodable(t->queue, seq);
            continue;
        }
        if (rc) { /* EMFILE, ENOMEM: try again after a reconnect */
            log_warnx("[net] cannot read batch %llu from the spool: %s", (unsigned long long)seq,
                      vg_strerror(rc));
            close_conn(t, "spool read failed");
            return;
        }
        /* Envelope{sent_time_ms = 1, batch = 20} around the encoded batch. */
        vg_buf_init(&raw, (size_t)r->len + 32);
        vg_buf_init(&fr, (size_t)r->len * 2 + 64 + VG_FRAME_HDR);
        rc = vg_pb_put_varint(&raw, 1, (uint64_t)vg_time_now_ms());
        if (rc == 0)
            rc = vg_pb_put_bytes(&raw, 20, data, r->len);
        if (rc == 0)
            rc = vg_frame_encode(raw.data, raw.len, &fr);
        if (rc == 0)
            rc = vg_tls_write(t->conn, fr.data, fr.len);
        free(data);
        vg_buf_free(&raw);
        vg_buf_free(&fr);
        if (rc == VG_EAGAIN)
            return; /* on_drain resumes */
        if (rc) {
            log_warnx("[net] cannot send batch %llu: %s", (unsigned long long)seq,
                      vg_strerror(rc));
            if (rc != -ENOTCONN)
                close_conn(t, "send failed");
            return;
        }
        queue_mark_sent(t->queue);
        if (seq > t->sent_high)
            t->sent_high = seq;
        t->batches_sent++;
        t->last_tx_ms = vg_time_mono_ms();
    }
    /* Packages after the batches, in what room is left. */
    if (t->state == T_READY && !t->closing && t->hooks.upload_pump)
        t->hooks.upload_pump(t->hooks.ctx);
}

void transport_kick(struct transport *t)
{
    pump(t);
}

static void send_hello(struct transport *t)
{
    const struct agent_conf *c = t->conf;
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    Vigil__V1__Tag *tags = calloc(c->tags.n ? c->tags.n : 1, sizeof(*tags));
    Vigil__V1__Tag **tagp = calloc(c->tags.n ? c->tags.n : 1, sizeof(*tagp));
    /* What this agent sends; "processes:SOURCE" says where its process
     * events come from ("starting" while the source is being verified;
     * the health reports follow the choice). */
    char procap[48];
    char *caps[] = { "os", "inventory", "pending_updates", procap };
    char hostname[256] = "", boot_id[64] = "", *bid = NULL, *kv = NULL;
    size_t blen;

    if (!tags || !tagp) {
        free(tags);
        free(tagp);
        close_conn(t, "out of memory");
        return;
    }
    /* Tags are checked at start-up: each is key=value. */
    kv = calloc(c->tags.n ? c->tags.n : 1, 512);
    for (size_t i = 0; kv && i < c->tags.n; i++) {
        char *slot = kv + i * 512, *eq;
        vg_strlcpy(slot, c->tags.v[i], 512);
        eq = strchr(slot, '=');
        vigil__v1__tag__init(&tags[i]);
        if (eq) {
            *eq = '\0';
            tags[i].value = eq + 1;
        }
        tags[i].key = slot;
        tagp[i] = &tags[i];
    }
    agent_hostname(c->inventory_root, hostname, sizeof(hostname));
    if (vg_file_read("/proc/sys/kernel/random/boot_id", 64, &bid, &blen) == 0) {
        vg_strlcpy(boot_id, bid, sizeof(boot_id));
        boot_id[strcspn(boot_id, "\n")] = '\0';
        free(bid);
    }
    snprintf(procap, sizeof(procap), "processes:%s",
             t->agent->proc_source ? t->agent->proc_source : "off");
    h.protocol_version = 1;
    h.agent_id = t->agent->agent_id;
    h.stream_epoch.data = (uint8_t *)queue_epoch(t->queue);
    h.stream_epoch.len = 16;
    h.software_version = VG_VERSION;
    h.capabilities = caps;
    h.n_capabilities = VG_ARRAY_SIZE(caps);
    h.tags = tagp;
    h.n_tags = kv ? c->tags.n : 0;
    h.last_acked_seq = queue_last_acked(t->queue);
    h.next_seq = queue_next_seq(t->queue);
    h.hostname = hostname;
    h.boot_id = boot_id;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    if (send_env(t, &env) == 0)
        t->state = T_HELLO;
    free(kv);
    free(tags);
    free(tagp);
}

static void on_hello_ack(struct transport *t, const Vigil__V1__HelloAck *a)
{
    if (!a->accepted) {
        log_warnx("[net] collector %s refused this agent: %s", where(t, t->conn),
                  a->error && a->error->message ? a->error->message : "no reason given");
        close_conn(t, "hello refused");
        return;
    }
    if (a->last_stored_seq >= queue_next_seq(t->queue)) {
        /* The collector has stored more of this stream than we have made
         * (state restored from a backup, a cloned VM): our next batches
         * would be taken for resends.  Start a new stream and say hello
         * again. */
        log_warnx("[net] collector holds sequence %llu for this stream, beyond ours (%llu); "
                  "starting a new stream epoch", (unsigned long long)a->last_stored_seq,
                  (unsigned long long)queue_next_seq(t->queue));
        queue_new_epoch(t->queue);
        t->again = 1;
        close_conn(t, "new stream epoch");
        return;
    }
    queue_ack(t->queue, a->last_stored_seq);
    queue_mark_unsent(t->queue);
    if (t->hooks.upload_reset)
        t->hooks.upload_reset(t->hooks.ctx);
    t->heartbeat_ms = a->heartbeat_interval_ms ? a->heartbeat_interval_ms : t->conf->heartbeat_ms;
    if (t->heartbeat_ms > t->conf->heartbeat_ms)
        t->heartbeat_ms = t->conf->heartbeat_ms;
    t->state = T_READY;
    t->ready_ms = vg_time_mono_ms();
    t->max_frame = a->max_frame_bytes;
    log_info("[net] connected to collector %s (%s) as %s%s", where(t, t->conn),
             vg_tls_peer(t->conn)->cn, t->agent->agent_id,
             vg_tls_resumed(t->conn) ? ", TLS session resumed" : "");
    if (t->hooks.conn)
        t->hooks.conn(t->hooks.ctx, 1, &t->peer, dial_host(t));
    pump(t);
}

/* ---- certificate renewal ----
 *
 * At two thirds of the certificate's lifetime the agent makes a new key
 * and asks for a certificate over its connection.  The answer is
 * written as <key>.next and <cert>.next, then renamed into place (key
 * first; a start that finds a .next certificate matching the key
 * finishes the job), and the agent reconnects with it: unacknowledged
 * batches are sent again, nothing is lost.  Failures are retried every
 * minute, long before expiry. */

static void renew_maybe(struct transport *t)
{
    const struct vg_cert_info *me = vg_tls_config_self(t->tls);
    int64_t now = vg_time_now_ms();
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__RenewRequest rq = VIGIL__V1__RENEW_REQUEST__INIT;
    uint8_t *csr = NULL;
    size_t len;
    int rc;

    if (t->renew_key || vg_time_mono_ms() < t->renew_next_ms || me->not_after_ms <= 0 ||
        now < me->not_before_ms + (me->not_after_ms - me->not_before_ms) * 2 / 3)
        return;
    t->renew_next_ms = vg_time_mono_ms() + 60000;
    if ((rc = vg_key_generate(&t->renew_key)) != 0 ||
        (rc = vg_csr_make(t->renew_key, "vigil-agent", &csr, &len)) != 0) {
        log_warnx("[net] certificate renewal: cannot make a key: %s", vg_strerror(rc));
        vg_key_free(t->renew_key);
        t->renew_key = NULL;
        return;
    }
    rq.csr_der.data = csr;
    rq.csr_der.len = len;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_RENEW_REQUEST;
    env.renew_request = &rq;
    if (send_env(t, &env) != 0) {
        vg_key_free(t->renew_key);
        t->renew_key = NULL;
    } else {
        char when[VG_TIME_STR_MAX];
        log_info("[net] certificate expires %s: asking the collector for a new one",
                 vg_time_format(me->not_after_ms, when, sizeof(when)));
    }
    free(csr);
}

static void on_renewed(struct transport *t, const Vigil__V1__RenewResponse *r)
{
    const struct agent_conf *c = t->conf;
    struct vg_cert *cert = NULL;
    struct vg_cert_info info;
    char tbuf[40];

    if (!t->renew_key)
        return;
    if (!r->ok) {
        log_warnx("[net] certificate renewal refused: %s; trying again in a minute", r->error);
        goto out;
    }
    if (vg_cert_parse(r->cert_der.data, r->cert_der.len, &cert) != 0 ||
        vg_cert_info(cert, &info) != 0 || !vg_cert_matches_key(cert, t->renew_key) ||
        info.role != VG_ROLE_AGENT || strcmp(info.cn, t->agent->agent_id) != 0) {
        log_warnx("[net] certificate renewal: the collector's certificate is not for this "
                  "agent and key; trying again in a minute");
        goto out;
    }
    {
        char why[256] = "";
        int bad = !t->ca || vg_cert_verify(cert, t->ca, why, sizeof(why)) != 0;
        if (bad) {
            log_warnx("[net] certificate renewal: the new certificate does not verify against "
                      "%s (%s); keeping the current one, trying again in a minute", c->ca, why);
            goto out;
        }
    }
    /* Certificates are installed by the privileged parent, which checks
     * them again and restarts this process to use them. */
    if (!t->hooks.cert || t->hooks.cert(t->hooks.ctx, t->renew_key, r->cert_der.data,
                                         r->cert_der.len) != 0) {
        log_warnx("[net] certificate renewal: cannot hand the certificate over for "
                  "installing; trying again in a minute");
        goto out;
    }
    log_info("[net] certificate renewed (serial %s, valid until %s); installing it",
             info.serial, vg_time_format(info.not_after_ms, tbuf, sizeof(tbuf)));
    t->renew_next_ms = UINT64_MAX; /* the restart brings the new one */
out:
    vg_cert_free(cert);
    vg_key_free(t->renew_key);
    t->renew_key = NULL;
}

static int on_env(void *ctx, Vigil__V1__Envelope *env)
{
    struct transport *t = ctx;
    int stop = 0;

    t->last_rx_ms = vg_time_mono_ms();
    switch (env->body_case) {
    case VIGIL__V1__ENVELOPE__BODY_HELLO_ACK:
        if (t->state == T_HELLO)
            on_hello_ack(t, env->hello_ack);
        break;
    case VIGIL__V1__ENVELOPE__BODY_ACK:
        if (t->state != T_READY)
            break;
        for (size_t i = 0; i < env->ack->n_rejected_seq; i++) {
            /* With a reason, the collector has recorded the loss; without
             * (an older collector), it is reported from here. */
            if (i < env->ack->n_rejected_reason) {
                char why[300], esc[256];
                vg_str_escape(esc, sizeof(esc), env->ack->rejected_reason[i]);
                snprintf(why, sizeof(why), "rejected by the collector: %s", esc);
                queue_drop_recorded(t->queue, env->ack->rejected_seq[i], why);
            } else {
                queue_drop(t->queue, env->ack->rejected_seq[i], "rejected by the collector");
            }
        }
        if (env->ack->n_rejected_seq)
            pump(t); /* the window has room again */
        if (env->ack->seq && env->ack->seq < queue_next_seq(t->queue)) {
            queue_ack(t->queue, env->ack->seq);
            pump(t); /* the window moved */
            /* Only a connection that stored something resets the backoff:
             * one that fails right after hello must not spin. */
            t->acked = 1;
            t->round = 0;
        }
        if (t->stop_when_drained && !queue_next_unsent(t->queue) &&
            queue_in_flight(t->queue) == 0)
            transport_stop(t, t->stopped);
        break;
    case VIGIL__V1__ENVELOPE__BODY_HEARTBEAT:
        if (vg_wire_heartbeat_reply(t->conn, env->heartbeat) == 0 && !env->heartbeat->echo)
            t->last_tx_ms = vg_time_mono_ms();
        break;
    case VIGIL__V1__ENVELOPE__BODY_COMMAND:
        if (t->state == T_READY)
            t->hooks.command(t->hooks.ctx, env->command);
        break;
    case VIGIL__V1__ENVELOPE__BODY_RENEW_RESPONSE:
        if (t->state == T_READY)
            on_renewed(t, env->renew_response);
        break;
    case VIGIL__V1__ENVELOPE__BODY_UPLOAD_ACK:
        if (t->state == T_READY)
            t->hooks.upload_ack(t->hooks.ctx, env->upload_ack);
        break;
    case VIGIL__V1__ENVELOPE__BODY_ERROR:
        log_warnx("[net] collector %s: %s", where(t, t->conn),
                  env->error->message[0] ? env->error->message : "error without message");
        stop = 1;
        break;
    case VIGIL__V1__ENVELOPE__BODY_GOODBYE:
        log_info("[net] collector %s says goodbye: %s", where(t, t->conn),
                 env->goodbye->reason);
        t->goodbye = 1;
        stop = 1;
        break;
    default:
        log_debug("[net] ignoring %s from the collector", vg_wire_body_name(env));
        break;
    }
    vg_pb_free(&env->base);
    return stop;
}

static int on_ready(struct vg_tls_conn *c)
{
    struct transport *t = vg_tls_data(c);
    const struct vg_cert_info *p = vg_tls_peer(c);

    if (p->role != VG_ROLE_COLLECTOR) {
        log_warnx("[net] %s presents a %s certificate (%s), not a collector one; refusing",
                  where(t, c), vg_role_name(p->role), p->cn);
        return -1;
    }
    if (p->not_after_ms < vg_time_now_ms()) { /* resumed sessions skip verification */
        log_warnx("[net] collector %s certificate expired; refusing", where(t, c));
        return -1;
    }
    t->last_rx_ms = vg_time_mono_ms();
    send_hello(t);
    return 0;
}

static void on_data(struct vg_tls_conn *c, const uint8_t *data, size_t len)
{
    struct transport *t = vg_tls_data(c);
    int rc = vg_wire_feed(&t->rd, data, len, on_env, t);
    if (rc) {
        log_warnx("[net] bad frame from collector %s: %s; reconnecting", where(t, c),
                  vg_strerror(rc));
        close_conn(t, "bad frame");
    }
}

static void on_drain(struct vg_tls_conn *c)
{
    pump(vg_tls_data(c));
}

static void on_close(struct vg_tls_conn *c, int err)
{
    struct transport *t = vg_tls_data(c);
    enum tstate was = t->state;
    uint64_t sup;

    /* What was in flight is checked before it goes again (pump). */
    if (t->sent_high > t->verify_upto)
        t->verify_upto = t->sent_high;
    t->sent_high = 0;
    t->conn = NULL;
    t->closing = 0;
    vg_frame_reader_free(&t->rd);
    if (t->hooks.upload_reset)
        t->hooks.upload_reset(t->hooks.ctx);
    if (was == T_READY && t->hooks.conn)
        t->hooks.conn(t->hooks.ctx, 0, NULL, dial_host(t));
    /* A renewal asked on this connection is asked again on the next. */
    vg_key_free(t->renew_key);
    t->renew_key = NULL;
    if (t->state == T_STOPPED) {
        maybe_stopped(t);
        return;
    }
    t->state = T_IDLE;
    if (vg_ratelimit(&t->rl, &sup))
        log_warnx("[net] %s %s: %s%s", was == T_READY ? "lost collector" : "cannot use collector",
                  where(t, c), vg_tls_why(c)[0] ? vg_tls_why(c) : vg_strerror(err),
                  err != UV_ECONNREFUSED ? ""
                  : t->use_proxy ? "; is the proxy running and listening there? ([collector] "
                                   "proxy)"
                                 : "; is vigil-collector running and listening there? "
                                   "(its [collector] listen; this agent's [collector] "
                                   "address)");
    t->reconnects++;
    if (t->again) {
        t->again = 0;
        schedule(t, 0);
    } else if (was == T_READY &&
               (t->acked || t->goodbye || vg_time_mono_ms() - t->ready_ms >= STABLE_MS)) {
        /* A working connection broke: start over, first address first,
         * within backoff_base -- jittered, as the whole fleet lost it too. */
        t->addr_idx = 0;
        t->round = 0;
        schedule(t, 1);
    } else if (was == T_READY) {
        /* Up but never acknowledged anything (refused, store down): back off. */
        t->addr_idx = 0;
        schedule(t, 1);
    } else {
        t->addr_idx++;
        schedule(t, t->addr_idx >= t->conf->address.n);
    }
}

static const struct vg_tls_handlers handlers = {
    .on_ready = on_ready,
    .on_data = on_data,
    .on_drain = on_drain,
    .on_close = on_close,
};

/* TCP + TLS to one address of the current [collector] entry. */
static void connect_to(struct transport *t, const struct sockaddr *sa, size_t salen)
{
    const char *name = t->conf->server_name ? t->conf->server_name : t->host;
    struct vg_tls_tunnel tun;
    struct vg_buf req;
    int rc = 0;

    memset(&t->peer, 0, sizeof(t->peer));
    if (salen <= sizeof(t->peer))
        memcpy(&t->peer, sa, salen);
    vg_frame_reader_init(&t->rd, NULL);
    t->state = T_CONNECTING;
    t->acked = 0;
    t->goodbye = 0;
    t->max_frame = 0;
    vg_buf_init(&req, 4096);
    if (t->use_proxy)
        rc = vg_proxy_tunnel(&t->proxy, t->host, t->port, &req, &tun);
    if (rc == 0)
        rc = vg_tls_connect_via(t->loop, t->tls, sa, name, t->session,
                                t->use_proxy ? &tun : NULL, &handlers, t, &t->conn);
    vg_zeroize(req.data, req.len); /* it may hold the proxy's credentials */
    vg_buf_free(&req);
    if (rc) {
        vg_frame_reader_free(&t->rd);
        log_warnx("[net] cannot connect to %s: %s", where(t, NULL),
                  rc < 0 && rc > VG_EBASE ? uv_strerror(rc) : vg_strerror(rc));
        t->state = T_IDLE;
        t->addr_idx++;
        schedule(t, t->addr_idx >= t->conf->address.n);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct transport *t = req->data;

    t->resolving = 0;
    if (t->state == T_STOPPED) {
        uv_freeaddrinfo(res);
        maybe_stopped(t);
        return;
    }
    if (status < 0 || !res) {
        log_warnx("[net] cannot resolve %s%s: %s", t->use_proxy ? "the proxy " : "",
                  dial_host(t), uv_strerror(status));
        uv_freeaddrinfo(res);
        t->state = T_IDLE;
        t->addr_idx++;
        schedule(t, t->addr_idx >= t->conf->address.n);
        return;
    }
    connect_to(t, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
}

static void connect_next(uv_timer_t *timer)
{
    struct transport *t = timer->data;
    struct addrinfo hints;
    struct sockaddr_storage pinned[8];
    uint64_t port;
    size_t n;
    int rc;

    if (t->state != T_IDLE)
        return;
    if (t->addr_idx >= t->conf->address.n)
        t->addr_idx = 0;
    vg_split_hostport(t->conf->address.v[t->addr_idx], t->host, sizeof(t->host), t->port,
               sizeof(t->port));
    /* Isolated: DNS is cut, so the addresses resolved before isolating
     * are used (they are the ones the rules let through). */
    if (t->use_proxy)
        port = t->proxy.portnum;
    else if (vg_parse_u64(t->port, 1, 65535, &port) != 0)
        port = 0;
    if (port && t->hooks.pinned &&
        (n = t->hooks.pinned(t->hooks.ctx, dial_host(t), (uint16_t)port, pinned, 8)) > 0) {
        const struct sockaddr_storage *ss = &pinned[t->pin_idx++ % n];
        connect_to(t, (const struct sockaddr *)ss,
                   ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6));
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    t->state = T_RESOLVING;
    t->gai.data = t;
    t->resolving = 1;
    rc = uv_getaddrinfo(t->loop, &t->gai, on_resolved, dial_host(t),
                        t->use_proxy ? t->proxy.port : t->port, &hints);
    if (rc) {
        t->resolving = 0;
        t->state = T_IDLE;
        t->addr_idx++;
        schedule(t, t->addr_idx >= t->conf->address.n);
    }
}

/* Next attempt: the next address at once, or after a whole failed round
 * the backoff delay. */
static void schedule(struct transport *t, int failed_round)
{
    uint64_t delay = 0;

    if (failed_round) {
        uint64_t cap = t->conf->backoff_cap_ms, ceil = t->conf->backoff_base_ms;
        uint32_t r;
        for (unsigned i = 0; i < t->round && ceil < cap; i++)
            ceil *= 2;
        if (ceil > cap)
            ceil = cap;
        vg_random(&r, sizeof(r));
        delay = ceil ? (uint64_t)r % ceil : 0;
        if (t->round < 63)
            t->round++;
        t->addr_idx = 0;
        char in[VG_FMT_MAX];
        log_debug("[net] retrying in %s (try %u since the last working connection)",
                  vg_fmt_elapsed(delay, in, sizeof(in)), t->round);
    }
    uv_timer_start(&t->retry, connect_next, delay, 0);
}

static void tick(uv_timer_t *timer)
{
    struct transport *t = timer->data;
    uint64_t now = vg_time_mono_ms();

    if (t->stop_when_drained && now >= t->stop_deadline_ms) {
        transport_stop(t, t->stopped);
        return;
    }
    if ((t->state != T_READY && t->state != T_HELLO) || t->closing)
        return;
    if (now - t->last_rx_ms > t->conf->dead_after_ms) {
        char quiet[VG_FMT_MAX];
        log_warnx("[net] collector %s silent for %s; reconnecting", where(t, t->conn),
                  vg_fmt_elapsed(now - t->last_rx_ms, quiet, sizeof(quiet)));
        close_conn(t, "collector silent");
        return;
    }
    if (t->state == T_READY)
        renew_maybe(t);
    if (t->state == T_READY && now - t->last_tx_ms >= t->heartbeat_ms) {
        Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
        Vigil__V1__Heartbeat hb = VIGIL__V1__HEARTBEAT__INIT;
        hb.id = ++t->hb_id;
        env.body_case = VIGIL__V1__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        send_env(t, &env);
    }
}

struct transport *transport_new(struct agent *a, struct queue *q, char *err, size_t errlen)
{
    struct transport *t = calloc(1, sizeof(*t));
    struct vg_tls_opts o;

    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->agent = a;
    t->loop = a->loop;
    t->conf = a->conf;
    t->queue = q;
    t->rl = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 10);
    memset(&o, 0, sizeof(o));
    o.ca = a->conf->ca;
    o.cert = a->conf->cert;
    o.key = a->conf->key;
    if (vg_tls_config_new(&o, &t->tls, err, errlen)) {
        free(t);
        return NULL;
    }
    if (vg_tls_config_self(t->tls)->role != VG_ROLE_AGENT) {
        snprintf(err, errlen, "certificate %s has role %s; the agent needs one with role agent "
                 "(vigilctl pki issue --role agent --name HOST, or enroll with a token)",
                 a->conf->cert, vg_role_name(vg_tls_config_self(t->tls)->role));
        vg_tls_config_free(t->tls);
        free(t);
        return NULL;
    }
    vg_strlcpy(a->agent_id, vg_tls_config_self(t->tls)->cn, sizeof(a->agent_id));
    /* The proxy's credentials are read now, as root: the file may be
     * root's alone, and this process cannot open it once confined. */
    if (a->conf->proxy && a->conf->proxy[0]) {
        if (transport_check_proxy(a->conf, 0, err, errlen) != 0 ||
            vg_proxy_parse(a->conf->proxy, &t->proxy, err, errlen) != 0 ||
            (a->conf->proxy_auth_file &&
             vg_proxy_auth_file(&t->proxy, a->conf->proxy_auth_file, err, errlen) != 0)) {
            vg_proxy_clear(&t->proxy);
            vg_tls_config_free(t->tls);
            free(t);
            return NULL;
        }
        t->use_proxy = 1;
        vg_proxy_name(&t->proxy, t->proxy_name, sizeof(t->proxy_name));
        log_info("[net] connecting to the collector through the HTTP proxy %s%s",
                 t->proxy_name, t->proxy.auth[0] ? ", with Basic authentication" : "");
    } else if (getenv("https_proxy") || getenv("HTTPS_PROXY") || getenv("all_proxy") ||
               getenv("ALL_PROXY")) {
        log_info("[net] https_proxy or all_proxy is set in the environment and ignored: the "
                 "agent uses a proxy only when [collector] proxy says so");
    }
    if (vg_cert_load(a->conf->ca, &t->ca) != 0)
        t->ca = NULL; /* renewals are then refused, and say so */
    t->session = vg_tls_session_new();
    t->heartbeat_ms = a->conf->heartbeat_ms;
    uv_timer_init(t->loop, &t->retry);
    uv_timer_init(t->loop, &t->tick);
    t->retry.data = t->tick.data = t;
    uv_timer_start(&t->tick, tick, 1000, 1000);
    uv_timer_start(&t->retry, connect_next, 0, 0);
    return t;
}

void transport_stats(const struct transport *t, struct agent_stats *s)
{
    s->batches_sent = t->batches_sent;
    s->reconnects = t->reconnects;
}

void transport_drain_then_stop(struct transport *t, uint64_t max_wait_ms,
                               void (*stopped)(struct transport *t))
{
    t->stopped = stopped;
    if (t->state == T_READY && (queue_next_unsent(t->queue) || queue_in_flight(t->queue))) {
        t->stop_when_drained = 1;
        t->stop_deadline_ms = vg_time_mono_ms() + max_wait_ms;
        pump(t);
        return;
    }
    transport_stop(t, stopped);
}

static void handle_closed(uv_handle_t *h)
{
    struct transport *t = h->data;
    t->closing_handles--;
    maybe_stopped(t);
}

void transport_stop(struct transport *t, void (*stopped)(struct transport *t))
{
    if (t->state == T_STOPPED)
        return;
    t->stopped = stopped;
    t->stop_when_drained = 0;
    if (t->conn && (t->state == T_READY || t->state == T_HELLO)) {
        Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
        Vigil__V1__Goodbye bye = VIGIL__V1__GOODBYE__INIT;
        bye.reason = "agent stopping";
        env.body_case = VIGIL__V1__ENVELOPE__BODY_GOODBYE;
        env.goodbye = &bye;
        send_env(t, &env);
    }
    t->state = T_STOPPED;
    if (t->resolving)
        uv_cancel((uv_req_t *)&t->gai);
    t->closing_handles = 2;
    uv_close((uv_handle_t *)&t->retry, handle_closed);
    uv_close((uv_handle_t *)&t->tick, handle_closed);
    if (t->conn) {
        t->closing = 0; /* a close already under way is fine; make sure it happens */
        vg_tls_close(t->conn, "agent stopping");
    }
}

void transport_set_hooks(struct transport *t, const struct transport_hooks *h)
{
    t->hooks = *h;
}

void transport_free(struct transport *t)
{
    if (!t)
        return;
    vg_tls_session_free(t->session);
    vg_tls_config_free(t->tls);
    vg_tls_config_free(t->old_tls);
    vg_key_free(t->renew_key);
    vg_cert_free(t->ca);
    vg_proxy_clear(&t->proxy);
    free(t);
}

int transport_send_result(struct transport *t, const Vigil__V1__CommandResult *r)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    if (t->state != T_READY || t->closing)
        return -ENOTCONN;
    env.sent_time_ms = vg_time_now_ms();
    env.body_case = VIGIL__V1__ENVELOPE__BODY_COMMAND_RESULT;
    env.command_result = (Vigil__V1__CommandResult *)r;
    return send_env(t, &env);
}

/* ---- probe: a fresh connection, to prove the collector is reachable ---- */

struct probe {
    uv_timer_t timer;
    struct vg_tls_conn *conn;
    void (*cb)(void *ctx, int rc, const char *why);
    void *ctx;
    int done, open; /* open: handles (timer, conn) not yet closed */
};

static void probe_release(struct probe *p)
{
    if (--p->open == 0)
        free(p);
}

static void probe_finish(struct probe *p, int rc, const char *why)
{
    if (p->done)
        return;
    p->done = 1;
    uv_timer_stop(&p->timer);
    p->cb(p->ctx, rc, why);
    if (p->conn)
        vg_tls_close(p->conn, rc ? "probe failed" : "probe done");
}

static int probe_ready(struct vg_tls_conn *c)
{
    struct probe *p = vg_tls_data(c);
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Goodbye bye = VIGIL__V1__GOODBYE__INIT;

    if (vg_tls_peer(c)->role != VG_ROLE_COLLECTOR) {
        probe_finish(p, VG_ECERT, "the peer is not a collector");
        return -1;
    }
    bye.reason = "isolation connectivity check";
    env.body_case = VIGIL__V1__ENVELOPE__BODY_GOODBYE;
    env.goodbye = &bye;
    (void)vg_wire_send(c, &env);
    probe_finish(p, 0, "");
    return 0;
}

static void probe_data(struct vg_tls_conn *c, const uint8_t *data, size_t len)
{
    (void)c;
    (void)data;
    (void)len;
}

static void probe_close(struct vg_tls_conn *c, int err)
{
    struct probe *p = vg_tls_data(c);
    char why[300];
    snprintf(why, sizeof(why), "%s", vg_tls_why(c)[0] ? vg_tls_why(c) : vg_strerror(err));
    p->conn = NULL;
    probe_finish(p, err ? err : -ECONNABORTED, why);
    probe_release(p);
}

static const struct vg_tls_handlers probe_handlers = {
    .on_ready = probe_ready,
    .on_data = probe_data,
    .on_close = probe_close,
};

static void probe_timeout(uv_timer_t *tm)
{
    struct probe *p = tm->data;
    probe_finish(p, -ETIMEDOUT, "no TCP and TLS connection within the time allowed");
}

static void probe_timer_closed(uv_handle_t *h)
{
    probe_release(h->data);
}

static void probe_timer_close(struct probe *p)
{
    uv_close((uv_handle_t *)&p->timer, probe_timer_closed);
}

/* The callback fires once; the probe frees itself once its handles are
 * closed. */
static void probe_cb_then_close(void *ctx, int rc, const char *why);

struct probe_wrap {
    struct probe *p;
    void (*cb)(void *ctx, int rc, const char *why);
    void *ctx;
};

static void probe_cb_then_close(void *ctx, int rc, const char *why)
{
    struct probe_wrap *w = ctx;
    struct probe *p = w->p;
    void (*cb)(void *, int, const char *) = w->cb;
    void *cctx = w->ctx;
    free(w);
    probe_timer_close(p);
    cb(cctx, rc, why);
}

int transport_probe(struct transport *t, const struct sockaddr *addr, uint64_t timeout_ms,
                    void (*cb)(void *ctx, int rc, const char *why), void *ctx)
{
    struct probe *p = calloc(1, sizeof(*p));
    struct probe_wrap *w = calloc(1, sizeof(*w));
    const char *name = t->conf->server_name ? t->conf->server_name : t->host;
    struct vg_tls_tunnel tun;
    struct vg_buf req;
    int rc = 0;

    if (!p || !w) {
        free(p);
        free(w);
        return -ENOMEM;
    }
    w->p = p;
    w->cb = cb;
    w->ctx = ctx;
    p->cb = probe_cb_then_close;
    p->ctx = w;
    uv_timer_init(t->loop, &p->timer);
    p->timer.data = p;
    p->open = 1;
    /* No session: a full handshake, as a reconnecting agent would make. */
    /* Through the proxy, addr is the proxy's (the connection in use). */
    vg_buf_init(&req, 4096);
    if (t->use_proxy)
        rc = vg_proxy_tunnel(&t->proxy, t->host, t->port, &req, &tun);
    if (rc == 0)
        rc = vg_tls_connect_via(t->loop, t->tls, addr, name, NULL, t->use_proxy ? &tun : NULL,
                                &probe_handlers, p, &p->conn);
    vg_zeroize(req.data, req.len);
    vg_buf_free(&req);
    if (rc) {
        char why[160];
        snprintf(why, sizeof(why), "cannot connect: %s",
                 rc < 0 && rc > VG_EBASE ? uv_strerror(rc) : vg_strerror(rc));
        probe_finish(p, rc, why); /* closes the timer, calls cb */
        return 0;
    }
    p->open++;
    uv_timer_start(&p->timer, probe_timeout, timeout_ms, 0);
    return 0;
}

int transport_ready(const struct transport *t)
{
    return t->state == T_READY && !t->closing && t->conn;
}

size_t transport_queued(const struct transport *t)
{
    return t->conn ? vg_tls_queued(t->conn) : 0;
}

int transport_send(struct transport *t, Vigil__V1__Envelope *env)
{
    if (!transport_ready(t))
        return -ENOTCONN;
    return send_env(t, env);
}
