/*
 * The agent's network process (privilege separation; lib/psmsg.h).
 *
 * Started by the root parent (agent/priv/monitor.c) as this same binary
 * with VIGIL_NET_CHILD naming the socket to the parent.  While still
 * root it loads the TLS material, hands its directories (STATE_DIR/spool,
 * STATE_DIR/uploads) to the [agent] user and opens the spool; then it
 * drops to that user with no capabilities, sets no_new_privs, limits its
 * filesystem view (Landlock) and installs its system call allow-list
 * (seccomp), and only then reads anything from the network.
 *
 * It owns the queue, the spool, the collector connection and uploads.
 * Everything the collector sends is decoded here; what the parent must
 * act on (commands) goes up flattened into bounded fields.  Events come
 * down from the parent; each is in the spool when the child acknowledges
 * it, so a child killed at any moment loses nothing (the parent resends
 * what was not acknowledged).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "psmsg.h"
#include "queue.h"
#include "sandbox.h"
#include "transport.h"
#include "upload.h"
#include "util.h"

#define STATS_MS 1000
#define TRIM_TICKS 10 /* malloc_trim every 10 s */

struct child {
    struct agent a;
    uv_pipe_t link;
    struct vg_ps_reader rd;
    struct vg_buf out;   /* messages to the parent not yet written */
    int writing, link_open, stopping;
    uv_timer_t stats;
    uint64_t events_done; /* events from the parent taken into the queue */
    uint64_t events_failed;
    uint64_t events_acked; /* last count acknowledged */
    /* Where the last event the spool held at start came from: events the
     * parent sends again that are at or before it are not queued twice
     * (psmsg.h, struct vg_ps_tag). */
    struct vg_ps_tag held;
    uint64_t events_skipped;
    struct vg_ps_pins pins;
    char source[64];
    struct vg_ratelimit rl;
    unsigned trim_ticks;
};

static struct child C;

/* ---- to the parent ---- */

struct wreq {
    uv_write_t req;
    uint8_t *data;
};

static void flush(void);

static void write_done(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    free(w->data);
    free(w);
    C.writing = 0;
    if (status < 0)
        return; /* the parent is gone: the read side sees EOF */
    flush();
}

static void flush(void)
{
    struct wreq *w;
    size_t len;
    uv_buf_t b;

    if (C.writing || !C.out.len || !C.link_open)
        return;
    if (!(w = calloc(1, sizeof(*w))))
        return;
    w->data = vg_buf_take(&C.out, &len);
    b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&C.link, &b, 1, write_done) != 0) {
        free(w->data);
        free(w);
        return;
    }
    C.writing = 1;
}

static void sent(int rc, const char *what)
{
    if (rc)
        log_warnx("[net] cannot send %s to the parent: %s", what, vg_strerror(rc));
    flush();
}

/* ---- transport hooks ---- */

static void copy_str(char *dst, size_t dstlen, const char *src, int *bad)
{
    if (!src)
        src = "";
    if (strlen(src) >= dstlen)
        *bad = 1;
    vg_strlcpy(dst, src, dstlen);
}

static void on_command(void *ctx, const Vigil__V1__Command *cmd)
{
    struct vg_ps_command *c = calloc(1, sizeof(*c));
    int bad = 0;

    (void)ctx;
    if (!c)
        return;
    copy_str(c->id, sizeof(c->id), cmd->command_id, &bad);
    copy_str(c->operator_name, sizeof(c->operator_name), cmd->operator_, &bad);
    copy_str(c->reason, sizeof(c->reason), cmd->reason, &bad);
    c->issued_ms = cmd->issued_time_ms;
    c->expires_ms = cmd->expires_time_ms;
    switch (cmd->action_case) {
    case VIGIL__V1__COMMAND__ACTION_ISOLATE:
        c->action = VG_PS_ACT_ISOLATE;
        c->isolate_expires_ms = cmd->isolate->expires_time_ms;
        if (cmd->isolate->n_allow > VG_PS_ALLOW_MAX)
            bad = 1;
        for (size_t i = 0; !bad && i < cmd->isolate->n_allow; i++) {
            const Vigil__V1__AllowRule *r = cmd->isolate->allow[i];
            copy_str(c->allow[i].cidr, sizeof(c->allow[i].cidr), r->cidr, &bad);
            copy_str(c->allow[i].protocol, sizeof(c->allow[i].protocol), r->protocol, &bad);
            c->allow[i].port = r->port;
            if (r->port > 65535)
                bad = 1;
            c->nallow++;
        }
        break;
    case VIGIL__V1__COMMAND__ACTION_RELEASE:
        c->action = VG_PS_ACT_RELEASE;
        break;
    case VIGIL__V1__COMMAND__ACTION_COLLECT:
        c->action = VG_PS_ACT_COLLECT;
        c->collect_max_bytes = cmd->collect->max_bytes;
        c->collect_max_seconds = cmd->collect->max_seconds;
        break;
    default:
        c->action = VG_PS_ACT_UNKNOWN;
        break;
    }
    if (bad) {
        /* The parent refuses it, and says so to the collector. */
        log_warnx("[net] command %.36s has a field over its limit; passing it on as invalid",
                  c->id);
        c->action = VG_PS_ACT_UNKNOWN;
        c->nallow = 0;
        c->operator_name[0] = c->reason[0] = '\0';
    }
    sent(vg_ps_put_command(&C.out, c), "a command");
    free(c);
}

static void on_upload_reset(void *ctx)
{
    (void)ctx;
    uploader_reset(C.a.uploader);
}

static void on_upload_pump(void *ctx)
{
    (void)ctx;
    uploader_pump(C.a.uploader);
}

static void on_upload_ack(void *ctx, const Vigil__V1__UploadAck *a)
{
    (void)ctx;
    uploader_on_ack(C.a.uploader, a);
}

static void on_conn(void *ctx, int up, const struct sockaddr_storage *peer, const char *host)
{
    struct vg_ps_conn c;

    (void)ctx;
    memset(&c, 0, sizeof(c));
    c.up = (uint8_t)(up ? 1 : 0);
    if (up && peer)
        vg_ps_addr_from((const struct sockaddr *)peer, &c.peer);
    vg_strlcpy(c.host, host ? host : "", sizeof(c.host));
    sent(vg_ps_put_conn(&C.out, &c), "the connection state");
}

static size_t on_pinned(void *ctx, const char *host, uint16_t port, struct sockaddr_storage *out,
                        size_t max)
{
    size_t n = 0;
    (void)ctx;
    for (uint32_t i = 0; i < C.pins.n && n < max; i++)
        if (C.pins.v[i].addr.port == port && strcmp(C.pins.v[i].host, host) == 0 &&
            vg_ps_addr_to(&C.pins.v[i].addr, &out[n]) > 0)
            n++;
    return n;
}

static int on_cert(void *ctx, const struct vg_key *key, const uint8_t *cert, size_t len)
{
    struct vg_ps_cert *c = calloc(1, sizeof(*c));
    size_t klen = 0;
    int rc;

    (void)ctx;
    if (!c)
        return -ENOMEM;
    if (len > VG_PS_CERT_MAX || (rc = vg_key_pem(key, c->key, sizeof(c->key), &klen)) != 0) {
        free(c);
        return VG_ETOOBIG;
    }
    c->key_len = (uint32_t)klen;
    c->cert_len = (uint32_t)len;
    memcpy(c->cert, cert, len);
    rc = vg_ps_put_cert(&C.out, c);
    vg_zeroize(c, sizeof(*c));
    free(c);
    sent(rc, "the renewed certificate");
    return rc;
}

/* ---- from the parent ---- */

static void stopped(struct transport *t);

static void shutdown_now(uint64_t drain_ms)
{
    if (C.stopping)
        return;
    C.stopping = 1;
    queue_flush(C.a.queue);
    transport_drain_then_stop(C.a.transport, drain_ms, stopped);
}

static void probe_done(void *ctx, int rc, const char *why)
{
    uint32_t id = (uint32_t)(uintptr_t)ctx;
    sent(vg_ps_put_probe_done(&C.out, id, rc, why ? why : ""), "a probe result");
}

/* Did the spool hold this event at start?  The same parent's run sent it
 * to a predecessor (its number is not past the last spooled), or it comes
 * from an eBPF ring record read again (not past the last ring position
 * spooled). */
static int spooled_before(const struct vg_ps_tag *t)
{
    const struct vg_ps_tag *h = &C.held;
    if (h->epoch && t->epoch == h->epoch && t->seq <= h->seq)
        return 1;
    return t->ring_id && t->ring_id == h->ring_id &&
           (t->ring_pos < h->ring_pos || (t->ring_pos == h->ring_pos && t->ring_sub <= h->ring_sub));
}

/* A message from the parent.  The parent is trusted; a message that does
 * not decode is a bug, logged and skipped. */
static void handle(uint32_t type, const uint8_t *p, size_t len)
{
    const uint8_t *data;
    size_t n;
    int rc = 0;

    switch (type) {
    case VG_PS_EVENT: {
        struct vg_ps_tag t;
        if ((rc = vg_ps_get_event(p, len, &t, &data, &n)) != 0)
            break;
        if (spooled_before(&t)) {
            if (C.events_skipped++ == 0)
                log_info("[net] events the spool already holds are not queued again "
                         "(their acknowledgement was lost with the process before)");
            C.events_done++;
            return;
        }
        if (queue_add(C.a.queue, data, n, &t) != 0) {
            uint64_t sup;
            C.events_failed++;
            if (vg_ratelimit(&C.rl, &sup))
                log_warnx("[net] an event could not be queued (%llu so far)",
                          (unsigned long long)C.events_failed);
        }
        C.events_done++;
        return;
    }
    case VG_PS_RESULT: {
        Vigil__V1__CommandResult *r;
        if ((rc = vg_ps_get_bytes(p, len, &data, &n)) != 0)
            break;
        r = vigil__v1__command_result__unpack(NULL, n, data);
        if (!r) {
            rc = VG_EPROTO;
            break;
        }
        /* Not connected: the collector delivers the command again and
         * the parent answers from its record. */
        transport_send_result(C.a.transport, r);
        vigil__v1__command_result__free_unpacked(r, NULL);
        return;
    }
    case VG_PS_UPLOAD: {
        struct vg_ps_upload u;
        if ((rc = vg_ps_get_upload(p, len, &u)) != 0)
            break;
        if ((rc = uploader_add(C.a.uploader, u.id, u.command_id, u.name, u.size, u.sha256)))
            log_warnx("[upload] cannot queue %s: %s", u.id, vg_strerror(rc));
        return;
    }
    case VG_PS_PROBE: {
        struct vg_ps_probe pr;
        struct sockaddr_storage ss;
        if ((rc = vg_ps_get_probe(p, len, &pr)) != 0)
            break;
        if (!vg_ps_addr_to(&pr.addr, &ss) ||
            transport_probe(C.a.transport, (struct sockaddr *)&ss, pr.timeout_ms, probe_done,
                            (void *)(uintptr_t)pr.id) != 0) // NOLINT(performance-no-int-to-ptr): the id rides in the callback's context, never dereferenced
            probe_done((void *)(uintptr_t)pr.id, -ENOMEM, "cannot start the probe"); // NOLINT(performance-no-int-to-ptr): as above
        return;
    }
    case VG_PS_PINS:
        if ((rc = vg_ps_get_pins(p, len, &C.pins)) != 0)
            C.pins.n = 0;
        break;
    case VG_PS_SOURCE:
        if ((rc = vg_ps_get_str(p, len, C.source, sizeof(C.source))) == 0)
            C.a.proc_source = C.source;
        break;
    case VG_PS_CERT_DONE: {
        int32_t res;
        char msg[VG_PS_TEXT_MAX + 1];
        if ((rc = vg_ps_get_cert_done(p, len, &res, msg, sizeof(msg))) == 0 && res != 0)
            log_warnx("[net] the renewed certificate was not installed: %s", msg);
        break;
    }
    case VG_PS_SHUTDOWN: {
        uint64_t ms;
        if ((rc = vg_ps_get_u64(p, len, &ms)) == 0)
            shutdown_now(ms);
        break;
    }
    default:
        rc = VG_EPROTO;
        break;
    }
    if (rc)
        log_warnx("[net] bad %s message from the parent: %s", vg_ps_name(type), vg_strerror(rc));
}

/* Tells the parent how many of its events are in the spool: every one
 * queue_add() took is in the open batch's journal (spool.h), which
 * survives this process's death.  After each read and each second. */
static void ack(void)
{
    if (C.events_done > C.events_acked) {
        C.events_acked = C.events_done;
        sent(vg_ps_put_u64(&C.out, VG_PS_EVENT_ACK, C.events_done), "an acknowledgement");
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char mem[64 * 1024];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(mem, sizeof(mem));
}

static void link_closed(uv_handle_t *h)
{
    (void)h;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    uint32_t type;
    const uint8_t *p;
    size_t len;
    int rc;

    (void)s;
    if (n < 0) {
        /* The parent is gone (killed, or stopping without a goodbye):
         * what it sent is in the queue; close the batch and leave. */
        log_info("[net] the parent process is gone; stopping");
        uv_read_stop((uv_stream_t *)&C.link);
        C.link_open = 0;
        uv_close((uv_handle_t *)&C.link, link_closed);
        shutdown_now(0);
        return;
    }
    if (vg_ps_feed(&C.rd, buf->base, (size_t)n) != 0) {
        log_error("[net] out of memory reading from the parent");
        exit(1);
    }
    /* The events of one read reach the journal with one write, then are
     * acknowledged. */
    queue_hold(C.a.queue);
    while ((rc = vg_ps_next(&C.rd, &type, &p, &len)) == 1)
        handle(type, p, len);
    queue_commit(C.a.queue);
    if (rc < 0) {
        log_error("[net] the parent sent a message over the size limit; exiting");
        exit(1);
    }
    ack();
}

static void stats_cb(uv_timer_t *t)
{
    struct agent_stats st;
    struct vg_ps_stats ps;

    (void)t;
    memset(&st, 0, sizeof(st));
    queue_stats(C.a.queue, &st);
    transport_stats(C.a.transport, &st);
    ps.queued_events = st.queued_events;
    ps.queued_batches = st.queued_batches;
    ps.queued_bytes = st.queued_bytes;
    ps.events_total = st.events_total;
    ps.batches_sent = st.batches_sent;
    ps.reconnects = st.reconnects;
    ps.dropped_total = st.dropped_total + C.events_failed;
    sent(vg_ps_put_stats(&C.out, &ps), "statistics");
    if (C.link_open)
        ack();
    /* Now and then, the heap's free pages back to the kernel: start-up
     * (the first inventory, a reconnect's resend) leaves free memory
     * between what stays, which glibc gives back only from the top. */
    if (t && ++C.trim_ticks >= TRIM_TICKS) {
        C.trim_ticks = 0;
        queue_trim(C.a.queue);
        vg_ps_reader_shrink(&C.rd);
        malloc_trim(0);
    }
}

static void stopped(struct transport *t)
{
    struct agent_stats st;

    (void)t;
    memset(&st, 0, sizeof(st));
    queue_stats(C.a.queue, &st);
    transport_stats(C.a.transport, &st);
    log_info("totals: %llu events, %llu dropped, last sequence %llu",
             (unsigned long long)st.events_total, (unsigned long long)st.dropped_total,
             (unsigned long long)(queue_next_seq(C.a.queue) - 1));
    uv_close((uv_handle_t *)&C.stats, NULL);
    if (C.link_open) {
        stats_cb(NULL);
        C.link_open = 0;
        uv_close((uv_handle_t *)&C.link, link_closed);
    }
    queue_free(C.a.queue);
}

/* ---- set-up ---- */

/* One network process per spool: a predecessor whose parent was killed
 * may still be closing its batch.  Waits for it (at most 30 s); the lock
 * goes with this process. */
static int lock_spool(const struct agent_conf *c, char *err, size_t errlen)
{
    char path[4200];
    int fd, waited = 0;

    snprintf(path, sizeof(path), "%s/spool/lock", c->state_dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        snprintf(err, errlen, "cannot open %.300s: %s", path, strerror(errno));
        return -errno;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, errlen, "cannot lock %.300s: %s", path, strerror(errno));
            close(fd);
            return -EIO;
        }
        if (waited == 0)
            log_info("[net] waiting for the previous network process to release the spool");
        if (++waited > 300) {
            snprintf(err, errlen, "the spool %.300s is still locked after 30 s", path);
            close(fd);
            return -EBUSY;
        }
        usleep(100 * 1000);
    }
    return 0; /* fd kept open: the lock lasts as long as this process */
}

static void on_batch_ready(void *ctx)
{
    (void)ctx;
    if (C.a.transport)
        transport_kick(C.a.transport);
}

#ifdef VG_TEST_HOOKS
/* VIGIL_TEST_NET_PROBE=1: after confinement, try what the sandbox must
 * refuse, log each outcome; "syscall" also makes a call outside the
 * allow-list (the process dies of it). */
static void test_probe(const struct agent_conf *c)
{
    const char *what = getenv("VIGIL_TEST_NET_PROBE");
    char marker[4200];
    int fd;
    if (!what)
        return;
    /* Once per state directory: the restarted process must live. */
    snprintf(marker, sizeof(marker), "%s/spool/test-probed", c->state_dir);
    if (access(marker, F_OK) == 0)
        return;
    if ((fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
        close(fd);
    fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
    log_info("[net] test probe: open /etc/shadow: %s", fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0)
        close(fd);
    fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    log_info("[net] test probe: open /etc/hostname: %s", fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0)
        close(fd);
    fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1);
    log_info("[net] test probe: raw socket: %s", fd < 0 ? strerror(errno) : "created");
    if (fd >= 0)
        close(fd);
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    log_info("[net] test probe: packet socket: %s", fd < 0 ? strerror(errno) : "created");
    if (fd >= 0)
        close(fd);
    if (strcmp(what, "syscall") == 0) {
        log_info("[net] test probe: calling bpf()");
        syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0);
        log_info("[net] test probe: bpf() returned: %s", strerror(errno));
    }
}
#endif

/* streaming: 1 for the streaming process (its directories writable),
 * 0 for enrollment (nothing writable). */
static int confine(const struct agent_conf *c, const struct vg_sandbox_user *u, int streaming,
                   char *err, size_t errlen)
{
    char spool[4200], uploads[4200], hostfile[4200];
    const char *rw[] = { spool, uploads, NULL };
    const char *ro[] = { c->ca, "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
                         "/etc/gai.conf", "/etc/host.conf", "/proc/sys/kernel/random/boot_id",
                         "/etc/machine-id", hostfile, NULL };
    int rc, ruleset = -1, ll;

    snprintf(spool, sizeof(spool), "%s/spool", c->state_dir);
    snprintf(uploads, sizeof(uploads), "%s/uploads", c->state_dir);
    /* The hello names the host from ROOT/etc/hostname only with a root
     * other than / (hostname.c); otherwise the kernel's name. */
    hostfile[0] = '\0';
    if (strcmp(c->inventory_root, "/") != 0)
        snprintf(hostfile, sizeof(hostfile), "%s/etc/hostname", c->inventory_root);
    if ((ll = vg_sandbox_landlock_prepare(streaming ? rw : NULL, ro, &ruleset, err, errlen)) < 0)
        return ll;
    if ((rc = vg_sandbox_drop(u, err, errlen)) != 0) {
        if (ruleset >= 0)
            close(ruleset);
        return rc;
    }
    /* Its own directories must be reachable by name as that user. */
    if (streaming && (access(spool, R_OK | W_OK | X_OK) != 0 ||
                      access(uploads, R_OK | W_OK | X_OK) != 0)) {
        snprintf(err, errlen, "user %s cannot reach %.300s: every directory above it must be "
                 "searchable by that user (mode 0711 is enough)", u->name, spool);
        if (ruleset >= 0)
            close(ruleset);
        return -EACCES;
    }
    if (ll == 1 && (rc = vg_sandbox_landlock_apply(ruleset, err, errlen)) != 0)
        return rc;
    if (ll == 0)
        log_warnx("[net] this kernel has no Landlock: the network process's view of the "
                  "filesystem is not limited (user, capabilities and seccomp still are)");
    return vg_sandbox_seccomp_net(err, errlen);
}

int net_child_main(int argc, char **argv, int fd)
{
    struct agent_conf conf;
    struct vg_sandbox_user u;
    struct transport_hooks hooks;
    char err[512] = "", dir[4200];
    int rc;

    /* Started through /proc/PID/exe, it would show as "exe". */
    prctl(PR_SET_NAME, "vigil-agent-net", 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    /* The parent decides when this process stops. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    unsetenv("NOTIFY_SOCKET");
    memset(&conf, 0, sizeof(conf));
    if ((rc = vg_daemon_start(&agent_daemon, argc, argv, &conf)) >= 0)
        return rc ? rc : 1;
    memset(&C, 0, sizeof(C));
    C.rl = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 1);
    vg_buf_init(&C.out, 64 * 1024 * 1024);
    vg_ps_reader_init(&C.rd, VG_PS_MAX_PARENT);
    C.a.loop = uv_default_loop();
    C.a.conf = &conf;
    C.a.proc_source = "starting";

    if ((rc = vg_sandbox_user(conf.user, &u, err, sizeof(err))) != 0)
        goto fail;
    if (u.fallback)
        log_warnx("[net] user %s does not exist; the network process runs as %s (create "
                  "it: adduser --system --group %s)", conf.user, u.name, conf.user);
    snprintf(dir, sizeof(dir), "%s/spool", conf.state_dir);
    if ((rc = vg_sandbox_give_dir(dir, &u, u.gid, 0700, err, sizeof(err))) != 0)
        goto fail;
    /* Triage packages are moved in by the parent, which the unit gives
     * no CAP_DAC_OVERRIDE: group root may write. */
    snprintf(dir, sizeof(dir), "%s/uploads", conf.state_dir);
    if ((rc = vg_sandbox_give_dir(dir, &u, 0, 0770, err, sizeof(err))) != 0)
        goto fail;
    if ((rc = lock_spool(&conf, err, sizeof(err))) != 0)
        goto fail;
    if (!(C.a.queue = queue_new(C.a.loop, &conf, on_batch_ready, NULL, err, sizeof(err)))) {
        rc = -EIO;
        goto fail;
    }
    queue_mark(C.a.queue, &C.held);
    if (!(C.a.transport = transport_new(&C.a, C.a.queue, err, sizeof(err)))) {
        rc = VG_ECONFIG;
        goto fail;
    }
    if (!(C.a.uploader = uploader_new(&C.a))) {
        snprintf(err, sizeof(err), "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    /* What opening the spool created as root (a first segment, the
     * journal) is the user's too: it reopens segments by name later. */
    snprintf(dir, sizeof(dir), "%s/spool", conf.state_dir);
    if ((rc = vg_sandbox_give_dir(dir, &u, u.gid, 0700, err, sizeof(err))) != 0)
        goto fail;
    memset(&hooks, 0, sizeof(hooks));
    hooks.command = on_command;
    hooks.upload_reset = on_upload_reset;
    hooks.upload_pump = on_upload_pump;
    hooks.upload_ack = on_upload_ack;
    hooks.conn = on_conn;
    hooks.pinned = on_pinned;
    hooks.cert = on_cert;
    transport_set_hooks(C.a.transport, &hooks);
    if ((rc = confine(&conf, &u, 1, err, sizeof(err))) != 0)
        goto fail;
#ifdef VG_TEST_HOOKS
    test_probe(&conf);
#endif
    uv_pipe_init(C.a.loop, &C.link, 0);
    if ((rc = uv_pipe_open(&C.link, fd)) != 0) {
        snprintf(err, sizeof(err), "cannot use the parent's socket: %s", uv_strerror(rc));
        goto fail;
    }
    C.link_open = 1;
    uv_read_start((uv_stream_t *)&C.link, alloc_cb, read_cb);
    uv_timer_init(C.a.loop, &C.stats);
    uv_timer_start(&C.stats, stats_cb, STATS_MS, STATS_MS);
    sent(vg_ps_put_hello(&C.out, VG_PS_VERSION, (uint32_t)getpid()), "hello");
    log_info("[net] running as %s (uid %u): no capabilities, seccomp filter on",
             u.name, (unsigned)u.uid);

    uv_run(C.a.loop, UV_RUN_DEFAULT);

    transport_free(C.a.transport);
    uploader_free(C.a.uploader);
    vg_ps_reader_free(&C.rd);
    vg_buf_free(&C.out);
    uv_loop_close(C.a.loop);
    vg_conf_free(agent_conf_keys, &conf);
    return 0;
fail:
    /* err, when set, says what and what to do (the code would repeat it). */
    log_error("[net] %s", err[0] ? err : vg_strerror(rc));
    return 1;
}

/* ---- enrollment ---- */

struct enroll_ctx {
    const struct agent_conf *conf;
    const struct vg_sandbox_user *u;
};

static int enroll_confine(void *ctx, char *err, size_t errlen)
{
    struct enroll_ctx *e = ctx;
    return confine(e->conf, e->u, 0, err, errlen);
}

int net_enroll_main(int argc, char **argv, int fd)
{
    struct agent_conf conf;
    struct vg_sandbox_user u;
    struct enroll_ctx ctx;
    struct vg_ps_cert *cert;
    struct vg_buf out;
    char err[600] = "";
    int rc;

    prctl(PR_SET_NAME, "vigil-agent-net", 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    memset(&conf, 0, sizeof(conf));
    if ((rc = vg_daemon_start(&agent_daemon, argc, argv, &conf)) >= 0)
        return rc ? rc : 1;
    if ((rc = vg_sandbox_user(conf.user, &u, err, sizeof(err))) != 0) {
        log_error("[enroll] %s", err);
        vg_conf_free(agent_conf_keys, &conf);
        return 1;
    }
    if (!(cert = calloc(1, sizeof(*cert)))) {
        log_error("[enroll] out of memory");
        vg_conf_free(agent_conf_keys, &conf);
        return 1;
    }
    ctx.conf = &conf;
    ctx.u = &u;
    rc = net_enroll_attempt(&conf, cert, err, sizeof(err), enroll_confine, &ctx);
    if (rc) {
        free(cert);
        log_error("[enroll] %s", err);
        /* Freed so that a leak checker's exit status does not hide the 2. */
        vg_conf_free(agent_conf_keys, &conf);
        return rc == VG_ECONFIG ? 2 : 1;
    }
    vg_buf_init(&out, VG_PS_HDR + 2 * VG_PS_CERT_MAX + 64);
    rc = vg_ps_put_cert(&out, cert);
    vg_zeroize(cert, sizeof(*cert));
    free(cert);
    if (rc == 0)
        rc = vg_fd_write(fd, out.data, out.len);
    vg_buf_free(&out);
    vg_conf_free(agent_conf_keys, &conf);
    return rc ? 1 : 0;
}
