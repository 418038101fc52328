/*
 * The root parent's side of privilege separation; see monitor.h and
 * lib/psmsg.h.
 *
 * Events: each one the inputs emit is kept here, encoded as the message
 * that carries it, until the child acknowledges that it is in the spool
 * (VG_PS_EVENT_ACK counts the events a child has taken since it
 * started).  A child that dies loses nothing: its successor is sent
 * every event not acknowledged, in order.  Each event is tagged with this
 * run's epoch and its number (struct vg_ps_tag), so that the successor
 * skips those its predecessor spooled but died before acknowledging.
 *
 *   ret:  [EVENT][EVENT][EVENT][EVENT][EVENT]...
 *         |<- acknowledged: gone ->|
 *         |<--- written: ret_sent --->|<- not yet written ->|
 *
 * The child's messages are checked against the permit table below: the
 * type must be one the child may send in the current state, and the
 * payload must decode exactly.  Anything else kills the child, which is
 * then restarted like one that died: at once, then after 1 s, doubling to
 * at most 60 s, back to at once when one has run for 5 minutes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certs.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "monitor.h"
#include "pb.h"
#include "sandbox.h"
#include "util.h"

#define RET_MAX (64u * 1024 * 1024) /* events held for the child, at most */
#define CTL_MAX (16u * 1024 * 1024)
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define STABLE_MS 300000
#define PROBES_MAX 8
#define SOCK_BUF (4 * 1024 * 1024)

enum cstate { C_NONE, C_STARTING, C_RUNNING, C_STOPPING };
#define S(x) (1u << (x))

static const struct permit {
    uint32_t type;
    unsigned states;
} permits[] = {
    { VG_PS_HELLO, S(C_STARTING) },
    { VG_PS_EVENT_ACK, S(C_RUNNING) | S(C_STOPPING) },
    { VG_PS_STATS, S(C_RUNNING) | S(C_STOPPING) },
    { VG_PS_CONN, S(C_RUNNING) | S(C_STOPPING) },
    { VG_PS_COMMAND, S(C_RUNNING) },
    { VG_PS_PROBE_DONE, S(C_RUNNING) | S(C_STOPPING) },
    { VG_PS_CERT, S(C_RUNNING) },
};

struct probe {
    uint32_t id;
    void (*cb)(void *ctx, int rc, const char *why);
    void *ctx;
};

struct monitor {
    struct agent *a;
    struct monitor_hooks hooks;
    char **argv;
    char **envp;
    char self[64];
    struct vg_sandbox_user user;

    enum cstate state;
    uv_process_t proc;
    uv_pipe_t link;
    int proc_open, link_open;
    int pid;
    struct vg_ps_reader rd;
    int writing;
    int held; /* bus_hold() depth: events wait for bus_release() */
    unsigned ticks;
    uint64_t started_ms;
    int64_t started_wall_ms;
    char kill_why[128]; /* why the parent killed it, if it did */
    uv_timer_t restart, tick;
    uint64_t backoff_ms, restarts;
    int restart_at_once; /* a renewed certificate: no backoff */
    int restart_pending; /* a reload came before its hello: restart after it */

    /* Events not yet acknowledged (see the top of this file). */
    struct vg_buf ret;
    uint32_t *lens;
    size_t nlens, lens_head, lens_cap;
    size_t ret_sent;
    uint64_t acked_gen; /* acknowledged by the current child */
    uint64_t lost;      /* refused: ret was full */
    uint64_t acks, acks_seen; /* progress, for the stop deadline */
    uint64_t acked_total;     /* events in the spool, all children together */
    uint64_t epoch, handed;   /* this run's, events put in ret (the last one's number) */
    uint32_t origin_ring, origin_sub; /* bus_origin() */
    uint64_t origin_pos;
    struct vg_buf ctl;  /* other messages for the current child */

    struct vg_ps_stats stats;
    struct vg_ps_conn conn;
    uint64_t by_kind[MONITOR_KINDS], loss_reported; /* monitor_figures() */
    struct vg_ps_pins pins_sent;
    char source_sent[64];
    struct probe probes[PROBES_MAX];
    uint32_t probe_id;

    void (*stopped)(struct agent *a);
    int closing, timers_closed;
};

static void spawn(struct monitor *m);

/* ---- writing to the child ---- */

struct wreq {
    uv_write_t req;
    struct monitor *m;
    uint8_t *data;
};

static void flush(struct monitor *m);

static void write_done(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct monitor *m = w->m;
    free(w->data);
    free(w);
    m->writing = 0;
    if (status == 0)
        flush(m);
}

static void flush(struct monitor *m)
{
    struct wreq *w;
    struct vg_buf b;
    uv_buf_t ub[2];
    size_t len, rlen, clen;
    int n;

    /* Also before the child's hello: what is in the socket waits there
     * for it, and outlives this process. */
    if (m->writing || m->held || !m->link_open || m->state == C_NONE)
        return;
    rlen = m->ret.len - m->ret_sent;
    clen = m->ctl.len;
    if (!rlen && !clen)
        return;
    /* Into the socket now, if it takes it: an event there survives this
     * process's death (the network process reads what is left), one in
     * memory does not.  Events first: a shutdown comes after every event
     * before it. */
    ub[0] = uv_buf_init((char *)m->ret.data + m->ret_sent, (unsigned)rlen);
    ub[1] = uv_buf_init((char *)m->ctl.data, (unsigned)clen);
    n = uv_try_write((uv_stream_t *)&m->link, ub, 2);
    if (n > 0) {
        size_t done = (size_t)n, r = done < rlen ? done : rlen;
        m->ret_sent += r;
        vg_buf_consume(&m->ctl, done - r);
        rlen -= r;
        clen -= done - r;
        if (!rlen && !clen)
            return;
    }
    /* The rest waits for the socket, copied (ret moves as events come). */
    vg_buf_init(&b, CTL_MAX + RET_MAX);
    if (vg_buf_append(&b, m->ret.data + m->ret_sent, rlen) != 0 ||
        vg_buf_append(&b, m->ctl.data, clen) != 0 || !(w = calloc(1, sizeof(*w)))) {
        vg_buf_free(&b);
        return; /* out of memory: the next event tries again */
    }
    m->ret_sent = m->ret.len;
    vg_buf_reset(&m->ctl);
    w->m = m;
    w->data = vg_buf_take(&b, &len);
    ub[0] = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&m->link, ub, 1, write_done) != 0) {
        free(w->data);
        free(w);
        return;
    }
    m->writing = 1;
}

static void ctl_sent(struct monitor *m, int rc, const char *what)
{
    if (rc)
        log_warnx("[priv] cannot send %s to the network process: %s", what, vg_strerror(rc));
    flush(m);
}

/* ---- the bus (agent.h) ---- */

int bus_event(struct agent *a, const uint8_t *ev, size_t len)
{
    struct monitor *m = a->mon;
    size_t before;
    int rc;

    if (!m)
        return -ENOTCONN;
    if (m->nlens == m->lens_cap) {
        size_t cap = m->lens_cap ? m->lens_cap * 2 : 1024;
        uint32_t *n = malloc(cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        for (size_t i = 0; i < m->nlens; i++)
            n[i] = m->lens[(m->lens_head + i) % (m->lens_cap ? m->lens_cap : 1)];
        free(m->lens);
        m->lens = n;
        m->lens_cap = cap;
        m->lens_head = 0;
    }
    before = m->ret.len;
    {
        struct vg_ps_tag t = { .epoch = m->epoch, .seq = m->handed + 1 };
        if (m->origin_ring) {
            t.ring_id = m->origin_ring;
            t.ring_pos = m->origin_pos;
            t.ring_sub = m->origin_sub;
        }
        if ((rc = vg_ps_put_event(&m->ret, &t, ev, len)) != 0) {
            m->lost++;
            return rc;
        }
        m->handed++;
        m->by_kind[vg_pb_first_field(ev, len, MONITOR_KIND_FIRST, MONITOR_KINDS - 1)]++;
        if (m->origin_ring)
            m->origin_sub++;
    }
    m->lens[(m->lens_head + m->nlens) % m->lens_cap] = (uint32_t)(m->ret.len - before);
    m->nlens++;
    flush(m);
    return 0;
}

void bus_hold(struct agent *a)
{
    if (a->mon)
        a->mon->held++;
}

void bus_release(struct agent *a)
{
    struct monitor *m = a->mon;
    if (m && m->held && --m->held == 0)
        flush(m);
}

int bus_emit(struct agent *a, const Vigil__V1__Event *ev)
{
    struct vg_buf b;
    int rc;

    vg_buf_init(&b, 8 * 1024 * 1024);
    rc = vg_pb_pack(&ev->base, &b);
    if (rc == 0)
        rc = bus_event(a, b.data, b.len);
    if (rc == 0 && ev->kind_case == VIGIL__V1__EVENT__KIND_LOSS && ev->loss)
        a->mon->loss_reported += ev->loss->count;
    vg_buf_free(&b);
    return rc;
}

int bus_ready(struct agent *a)
{
    const struct monitor *m = a->mon;
    /* A live socket that takes what is written at once. */
    return m && m->link_open && m->state != C_NONE && m->state != C_STOPPING && !m->writing;
}

uint64_t bus_acked(struct agent *a)
{
    return a->mon ? a->mon->acked_total : 0;
}

uint64_t bus_handed(struct agent *a)
{
    return a->mon ? a->mon->handed : 0;
}

void bus_origin(struct agent *a, uint32_t ring, uint64_t pos)
{
    struct monitor *m = a->mon;
    if (!m)
        return;
    m->origin_ring = ring;
    m->origin_pos = pos;
    m->origin_sub = 0;
}

size_t bus_backlog(struct agent *a)
{
    return a->mon ? a->mon->nlens : 0;
}

void bus_stats(struct agent *a, struct agent_stats *out)
{
    const struct monitor *m = a->mon;
    memset(out, 0, sizeof(*out));
    if (!m)
        return;
    out->queued_events = m->stats.queued_events + m->nlens;
    out->queued_batches = m->stats.queued_batches;
    out->queued_bytes = m->stats.queued_bytes + m->ret.len;
    out->events_total = m->stats.events_total;
    out->batches_sent = m->stats.batches_sent;
    out->reconnects = m->stats.reconnects;
    out->dropped_total = m->stats.dropped_total + m->lost;
}

/* The child took `total` events since it started. */
static void acked(struct monitor *m, uint64_t total)
{
    uint64_t n = total - m->acked_gen;
    size_t bytes = 0;

    if (total < m->acked_gen || n > m->nlens)
        n = 0; /* checked by the caller */
    for (uint64_t i = 0; i < n; i++) {
        bytes += m->lens[m->lens_head];
        m->lens_head = (m->lens_head + 1) % m->lens_cap;
        m->nlens--;
    }
    vg_buf_consume(&m->ret, bytes);
    m->ret_sent -= bytes;
    m->acked_gen = total;
    m->acked_total += n;
    m->acks++;
    if (n && m->a->spooled)
        m->a->spooled(m->a->spooled_ctx);
}

/* ---- the child's messages ---- */

static void kill_child(struct monitor *m, const char *why)
{
    log_error("[priv] network process %d: %s; stopping it", m->pid, why);
    snprintf(m->kill_why, sizeof(m->kill_why), "%s", why);
    if (m->proc_open)
        uv_process_kill(&m->proc, SIGKILL);
    if (m->link_open) {
        m->link_open = 0;
        uv_read_stop((uv_stream_t *)&m->link);
        uv_close((uv_handle_t *)&m->link, NULL);
    }
}

static void send_state(struct monitor *m)
{
    struct vg_ps_pins *pins = calloc(1, sizeof(*pins));
    const char *src = m->a->proc_source ? m->a->proc_source : "off";

    if (pins && m->hooks.pins) {
        m->hooks.pins(m->a, pins);
        if (!vg_ps_pins_equal(pins, &m->pins_sent) &&
            vg_ps_put_pins(&m->ctl, pins) == 0)
            m->pins_sent = *pins;
    }
    free(pins);
    if (strcmp(src, m->source_sent) != 0 && vg_ps_put_str(&m->ctl, VG_PS_SOURCE, src) == 0)
        vg_strlcpy(m->source_sent, src, sizeof(m->source_sent));
    flush(m);
}

static void probe_finish(struct monitor *m, uint32_t id, int rc, const char *why)
{
    for (int i = 0; i < PROBES_MAX; i++) {
        struct probe *p = &m->probes[i];
        if (p->cb && (id == 0 || p->id == id)) {
            void (*cb)(void *, int, const char *) = p->cb;
            p->cb = NULL;
            cb(p->ctx, rc, why);
        }
    }
}

static void on_cert(struct monitor *m, const uint8_t *p, size_t len)
{
    struct vg_ps_cert *c = calloc(1, sizeof(*c));
    char err[512] = "";
    int rc;

    if (!c)
        return;
    if ((rc = vg_ps_get_cert(p, len, c)) != 0) {
        free(c);
        kill_child(m, "malformed cert message");
        return;
    }
    rc = certs_install(m->a->conf, m->a->agent_id, c->key, c->key_len, c->cert, c->cert_len,
                       err, sizeof(err));
    vg_zeroize(c, sizeof(*c));
    free(c);
    ctl_sent(m, vg_ps_put_cert_done(&m->ctl, rc, err), "the installation's outcome");
    if (rc) {
        log_warnx("[priv] renewed certificate refused: %s", err);
        return;
    }
    /* The child loads the new certificate as it starts. */
    m->restart_at_once = 1;
    m->state = C_STOPPING;
    ctl_sent(m, vg_ps_put_u64(&m->ctl, VG_PS_SHUTDOWN, 3000), "shutdown");
}

static void kill_timer_cb(uv_timer_t *t);

void monitor_restart(struct monitor *m, const char *why)
{
    m->restart_pending = 0;
    if (m->stopped || !m->proc_open || m->state == C_STOPPING)
        return; /* the next start reads the file anyway */
    if (m->state != C_RUNNING) {
        m->restart_pending = 1;
        return;
    }
    log_info("[priv] restarting the network process %d: %s", m->pid, why);
    /* As after a renewal: it sends what it holds, stops, and starts again
     * at once; events it had not spooled are sent to the new one. */
    m->restart_at_once = 1;
    m->state = C_STOPPING;
    ctl_sent(m, vg_ps_put_u64(&m->ctl, VG_PS_SHUTDOWN, 3000), "shutdown");
    /* One that does not stop is killed, as at a stop (and then started). */
    m->acks_seen = m->acks;
    uv_timer_start(&m->restart, kill_timer_cb, 3000 + 10000, 0);
}

static void handle(struct monitor *m, uint32_t type, const uint8_t *p, size_t len)
{
    char why[300];
    size_t i;
    int rc = 0;

    for (i = 0; i < VG_ARRAY_SIZE(permits); i++)
        if (permits[i].type == type)
            break;
    if (i == VG_ARRAY_SIZE(permits) || !(permits[i].states & S(m->state))) {
        snprintf(why, sizeof(why), "sent %s (type %u) which is not permitted %s",
                 vg_ps_name(type), (unsigned)type,
                 m->state == C_STARTING ? "before its hello" : "now");
        kill_child(m, why);
        return;
    }
    switch (type) {
    case VG_PS_HELLO: {
        uint32_t version, pid;
        if ((rc = vg_ps_get_hello(p, len, &version, &pid)) != 0)
            break;
        if (version != VG_PS_VERSION) {
            snprintf(why, sizeof(why), "speaks version %u, not %u", (unsigned)version,
                     (unsigned)VG_PS_VERSION);
            kill_child(m, why);
            return;
        }
        m->state = C_RUNNING;
        memset(&m->pins_sent, 0, sizeof(m->pins_sent));
        m->source_sent[0] = '\0';
        send_state(m);
        flush(m);
        if (m->restart_pending)
            monitor_restart(m, "the configuration was reloaded while it started");
        return;
    }
    case VG_PS_EVENT_ACK: {
        uint64_t total;
        if ((rc = vg_ps_get_u64(p, len, &total)) != 0)
            break;
        if (total < m->acked_gen || total - m->acked_gen > m->nlens) {
            kill_child(m, "acknowledged events it was never sent");
            return;
        }
        acked(m, total);
        return;
    }
    case VG_PS_STATS:
        rc = vg_ps_get_stats(p, len, &m->stats);
        break;
    case VG_PS_CONN:
        rc = vg_ps_get_conn(p, len, &m->conn);
        break;
    case VG_PS_COMMAND: {
        struct vg_ps_command *c = calloc(1, sizeof(*c));
        if (!c)
            return;
        if ((rc = vg_ps_get_command(p, len, c)) == 0 && m->hooks.command)
            m->hooks.command(m->a, c);
        free(c);
        break;
    }
    case VG_PS_PROBE_DONE: {
        uint32_t id;
        int32_t prc;
        char w[VG_PS_TEXT_MAX + 1];
        if ((rc = vg_ps_get_probe_done(p, len, &id, &prc, w, sizeof(w))) == 0 && id)
            probe_finish(m, id, prc, w);
        break;
    }
    case VG_PS_CERT:
        on_cert(m, p, len);
        return;
    }
    if (rc) {
        snprintf(why, sizeof(why), "sent a malformed %s message", vg_ps_name(type));
        kill_child(m, why);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char mem[64 * 1024];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(mem, sizeof(mem));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct monitor *m = s->data;
    uint32_t type;
    const uint8_t *p;
    size_t len;
    int rc = 0;

    if (n < 0) {
        /* The child closed its end (exiting): its exit callback restarts it. */
        if (m->link_open) {
            m->link_open = 0;
            uv_read_stop(s);
            uv_close((uv_handle_t *)s, NULL);
        }
        return;
    }
    if (vg_ps_feed(&m->rd, buf->base, (size_t)n) != 0) {
        kill_child(m, "out of memory reading its messages");
        return;
    }
    while (m->link_open && (rc = vg_ps_next(&m->rd, &type, &p, &len)) == 1)
        handle(m, type, p, len);
    if (m->link_open && rc < 0)
        kill_child(m, "sent a message over the size limit");
}

/* ---- starting and restarting ---- */

static void restart_cb(uv_timer_t *t)
{
    spawn(t->data);
}

static void maybe_all_closed(struct monitor *m);

/* A network process that died while the agent ran (killed, crashed,
 * stopped by its filter, or by the parent): an AgentTamper event, which
 * waits here for its successor like any other.  Killing the process that
 * talks to the collector is what an intruder would do to blind it. */
static void report_death(struct monitor *m, int64_t status, int sig)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__AgentTamper x = VIGIL__V1__AGENT_TAMPER__INIT;
    char how[256];

    if (m->kill_why[0])
        snprintf(how, sizeof(how), "stopped by the parent: %s", m->kill_why);
    else if (sig)
        snprintf(how, sizeof(how), "killed by signal %d (%s)", sig, strsignal(sig));
    else if (status == VG_SANDBOX_EXIT)
        snprintf(how, sizeof(how), "stopped by its seccomp filter (a system call outside "
                                   "its allow-list)");
    else
        snprintf(how, sizeof(how), "exited with status %lld", (long long)status);
    x.kind = "network-process-died";
    x.how = how;
    x.prev_start_time_ms = m->started_wall_ms;
    x.prev_pid = (uint32_t)m->pid;
    x.start_time_ms = vg_time_now_ms();
    ev.time_ms = x.start_time_ms;
    ev.kind_case = VIGIL__V1__EVENT__KIND_AGENT_TAMPER;
    ev.agent_tamper = &x;
    if (bus_emit(m->a, &ev) != 0)
        log_warnx("[priv] cannot queue the report of the network process's death");
}

static void child_exited(uv_process_t *p, int64_t status, int sig)
{
    struct monitor *m = p->data;
    uint64_t ran = vg_time_mono_ms() - m->started_ms, delay;

    if (sig)
        log_error("[priv] network process %d killed by signal %d (%s)", m->pid, sig,
                  strsignal(sig));
    else if (status == VG_SANDBOX_EXIT)
        log_error("[priv] network process %d stopped by its seccomp filter (a system call "
                  "outside its allow-list; see its last line above)", m->pid);
    else if (status != 0 || m->state != C_STOPPING)
        log_warnx("[priv] network process %d exited with status %lld", m->pid,
                  (long long)status);
    else
        log_info("[priv] network process %d stopped", m->pid);
    m->proc_open = 0;
    uv_close((uv_handle_t *)p, NULL);
    if (m->link_open) {
        m->link_open = 0;
        uv_read_stop((uv_stream_t *)&m->link);
        uv_close((uv_handle_t *)&m->link, NULL);
    }
    vg_ps_reader_free(&m->rd);
    vg_buf_reset(&m->ctl);
    memset(&m->conn, 0, sizeof(m->conn));
    probe_finish(m, 0, -ECONNRESET, "the network process restarted");
    if (!m->stopped && (sig || status != 0 || m->state != C_STOPPING))
        report_death(m, status, sig);
    if (m->stopped) {
        m->state = C_NONE;
        maybe_all_closed(m);
        return;
    }
    m->state = C_NONE;
    if (m->restart_at_once) {
        m->restart_at_once = 0;
        delay = 0;
    } else {
        /* At once the first time (events wait meanwhile), then 1 s,
         * doubling to 60 s; back to at once after a stable run. */
        if (ran >= STABLE_MS)
            m->backoff_ms = 0;
        delay = m->backoff_ms;
        m->backoff_ms = m->backoff_ms == 0 ? BACKOFF_MIN_MS
                        : m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                             : m->backoff_ms * 2;
        char in[VG_FMT_MAX];
        log_warnx("[priv] restarting the network process in %s; %zu events wait for it",
                  vg_fmt_elapsed(delay, in, sizeof(in)), m->nlens);
    }
    m->restarts++;
    uv_timer_start(&m->restart, restart_cb, delay, 0);
}

static void spawn(struct monitor *m)
{
    uv_process_options_t o;
    uv_stdio_container_t io[4];
    int sv[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        log_warn("[priv] socketpair");
        uv_timer_start(&m->restart, restart_cb, BACKOFF_MIN_MS, 0);
        return;
    }
    /* Room for bursts in the kernel, where events outlive the parent.
     * Beyond net.core.wmem_max only with CAP_NET_ADMIN (the unit has it). */
    {
        int size = SOCK_BUF;
        if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
            setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        if (setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
            setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    memset(&o, 0, sizeof(o));
    memset(io, 0, sizeof(io));
    for (int i = 0; i < 3; i++) {
        io[i].flags = UV_INHERIT_FD;
        io[i].data.fd = i;
    }
    io[3].flags = UV_INHERIT_FD;
    io[3].data.fd = sv[1];
    o.file = m->self;
    o.args = m->argv;
    o.env = m->envp;
    o.stdio = io;
    o.stdio_count = 4;
    o.exit_cb = child_exited;
    m->proc.data = m;
    if ((rc = uv_spawn(m->a->loop, &m->proc, &o)) != 0) {
        log_error("[priv] cannot start the network process: %s", uv_strerror(rc));
        close(sv[0]);
        close(sv[1]);
        uv_close((uv_handle_t *)&m->proc, NULL);
        uv_timer_start(&m->restart, restart_cb, BACKOFF_MIN_MS, 0);
        return;
    }
    close(sv[1]);
    m->proc_open = 1;
    m->pid = m->proc.pid;
    m->started_ms = vg_time_mono_ms();
    m->started_wall_ms = vg_time_now_ms();
    m->kill_why[0] = '\0';
    m->state = C_STARTING;
    /* A new child: everything not acknowledged goes again, from the start. */
    m->ret_sent = 0;
    m->acked_gen = 0;
    m->writing = 0;
    uv_pipe_init(m->a->loop, &m->link, 0);
    m->link.data = m;
    uv_pipe_open(&m->link, sv[0]);
    m->link_open = 1;
    vg_ps_reader_init(&m->rd, VG_PS_MAX_CHILD);
    uv_read_start((uv_stream_t *)&m->link, alloc_cb, read_cb);
    log_info("[priv] network process %d started (user %s)", m->pid, m->user.name);
    flush(m);
}

static void tick_cb(uv_timer_t *t)
{
    struct monitor *m = t->data;
    if (m->state == C_RUNNING)
        send_state(m);
    /* Buffers a burst made big go back once empty (not on every use:
     * that would cost a mapping a batch). */
    if (++m->ticks % 10 == 0) {
        vg_buf_shrink(&m->ret);
        vg_ps_reader_shrink(&m->rd);
    }
}

struct monitor *monitor_start(struct agent *a, char **argv, const struct monitor_hooks *h,
                              char *err, size_t errlen)
{
    struct monitor *m = calloc(1, sizeof(*m));
    extern char **environ;
    size_t n = 0, j = 0;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->a = a;
    m->hooks = *h;
    m->argv = argv;
    /* The child's own environment: no systemd notification socket (only
     * the parent talks to systemd), the socket's number added. */
    while (environ[n])
        n++;
    if (!(m->envp = calloc(n + 2, sizeof(*m->envp)))) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
            strncmp(environ[i], "WATCHDOG_", 9) != 0 &&
            strncmp(environ[i], "VIGIL_NET_CHILD=", 16) != 0)
            m->envp[j++] = environ[i];
    m->envp[j] = "VIGIL_NET_CHILD=3";
    /* The same binary, even if an upgrade replaced the file meanwhile. */
    snprintf(m->self, sizeof(m->self), "/proc/%d/exe", (int)getpid());
    if (vg_sandbox_user(a->conf->user, &m->user, err, errlen) != 0) {
        free(m->envp);
        free(m);
        return NULL;
    }
    if (m->user.fallback)
        log_warnx("[priv] user %s does not exist: the network process runs as %s; create "
                  "it (adduser --system --group %s), as the packages do",
                  a->conf->user, m->user.name, a->conf->user);
    vg_buf_init(&m->ret, RET_MAX);
    vg_buf_init(&m->ctl, CTL_MAX);
    vg_random(&m->epoch, sizeof(m->epoch));
    m->epoch |= 1; /* 0: no epoch (a spool that never saw one) */
    m->backoff_ms = 0;
    uv_timer_init(a->loop, &m->restart);
    uv_timer_init(a->loop, &m->tick);
    m->restart.data = m->tick.data = m;
    uv_timer_start(&m->tick, tick_cb, 1000, 1000);
    a->mon = m;
    spawn(m);
    return m;
}

/* ---- stopping ---- */

static void handle_closed(uv_handle_t *h)
{
    struct monitor *m = h->data;
    m->closing--;
    maybe_all_closed(m);
}

static void maybe_all_closed(struct monitor *m)
{
    void (*cb)(struct agent *);
    if (m->proc_open || !m->stopped)
        return;
    if (!m->timers_closed) {
        m->timers_closed = 1;
        m->closing = 2;
        uv_close((uv_handle_t *)&m->tick, handle_closed);
        uv_close((uv_handle_t *)&m->restart, handle_closed);
        return;
    }
    if (m->closing)
        return;
    cb = m->stopped;
    m->stopped = NULL;
    cb(m->a);
}

static void kill_timer_cb(uv_timer_t *t)
{
    struct monitor *m = t->data;
    /* Still working through events sent before the shutdown: wait on. */
    if (m->proc_open && m->acks != m->acks_seen) {
        m->acks_seen = m->acks;
        uv_timer_start(&m->restart, kill_timer_cb, 2000, 0);
        return;
    }
    if (m->proc_open) {
        log_warnx("[priv] network process %d did not stop in time; killing it", m->pid);
        uv_process_kill(&m->proc, SIGKILL);
    }
}

void monitor_stop(struct monitor *m, uint64_t max_wait_ms, void (*stopped)(struct agent *a))
{
    m->stopped = stopped;
    uv_timer_stop(&m->restart);
    if (!m->proc_open) {
        m->state = C_NONE;
        maybe_all_closed(m);
        return;
    }
    if (m->state == C_RUNNING || m->state == C_STOPPING) {
        m->state = C_STOPPING;
        ctl_sent(m, vg_ps_put_u64(&m->ctl, VG_PS_SHUTDOWN, max_wait_ms), "shutdown");
    } else {
        m->state = C_STOPPING;
        uv_process_kill(&m->proc, SIGKILL);
    }
    /* The restart timer doubles as the deadline, extended while the
     * child still takes events sent before the shutdown. */
    m->acks_seen = m->acks;
    uv_timer_start(&m->restart, kill_timer_cb, max_wait_ms + 10000, 0);
}

void monitor_free(struct monitor *m)
{
    if (!m)
        return;
    vg_buf_free(&m->ret);
    vg_buf_free(&m->ctl);
    vg_ps_reader_free(&m->rd);
    free(m->lens);
    free(m->envp);
    free(m);
}

/* ---- services for the parent's modules ---- */

int monitor_send_result(struct monitor *m, const Vigil__V1__CommandResult *r)
{
    struct vg_buf b;
    int rc;

    if (m->state != C_RUNNING)
        return -ENOTCONN;
    vg_buf_init(&b, 1024 * 1024);
    if ((rc = vg_pb_pack(&r->base, &b)) == 0)
        rc = vg_ps_put_bytes(&m->ctl, VG_PS_RESULT, b.data, b.len);
    vg_buf_free(&b);
    ctl_sent(m, rc, "a command result");
    return rc;
}

int monitor_upload(struct monitor *m, const struct vg_ps_upload *u)
{
    int rc = vg_ps_put_upload(&m->ctl, u);
    ctl_sent(m, rc, "an upload");
    return rc;
}

void monitor_child_user(const struct monitor *m, uid_t *uid, gid_t *gid)
{
    *uid = m->user.uid;
    *gid = m->user.gid;
}

int monitor_peer(const struct monitor *m, struct sockaddr_storage *out)
{
    if (!m || !m->conn.up || !vg_ps_addr_to(&m->conn.peer, out))
        return -ENOTCONN;
    return 0;
}

const char *monitor_host(const struct monitor *m)
{
    return m ? m->conn.host : "";
}

int monitor_probe(struct monitor *m, const struct sockaddr *addr, uint64_t timeout_ms,
                  void (*cb)(void *ctx, int rc, const char *why), void *ctx)
{
    struct vg_ps_probe pr;
    struct probe *slot = NULL;

    for (int i = 0; i < PROBES_MAX && !slot; i++)
        if (!m->probes[i].cb)
            slot = &m->probes[i];
    if (!slot || m->state != C_RUNNING || vg_ps_addr_from(addr, &pr.addr) != 0)
        return -ENOMEM;
    if (++m->probe_id == 0)
        m->probe_id = 1;
    pr.id = m->probe_id;
    pr.timeout_ms = timeout_ms;
    if (vg_ps_put_probe(&m->ctl, &pr) != 0)
        return -ENOMEM;
    slot->id = pr.id;
    slot->cb = cb;
    slot->ctx = ctx;
    flush(m);
    return 0;
}

void monitor_pins_changed(struct monitor *m)
{
    if (m && m->state == C_RUNNING)
        send_state(m);
}

uint64_t monitor_restarts(const struct monitor *m)
{
    return m ? m->restarts : 0;
}

void monitor_figures(const struct monitor *m, struct monitor_figures *out)
{
    memset(out, 0, sizeof(*out));
    if (!m)
        return;
    memcpy(out->by_kind, m->by_kind, sizeof(out->by_kind));
    out->lost = m->lost;
    out->loss_reported = m->loss_reported;
    out->backlog = m->nlens;
    out->restarts = m->restarts;
    out->connected = m->conn.up != 0;
    out->child = m->stats;
}
