/*
 * vigil-loadgen: N simulated agents in one process, against a real
 * vigil-collector.  Each agent is what vigil-agent is on the wire: its
 * own client certificate (CN = agent id, OU = agent) from a test PKI,
 * mutual TLS through lib/tls.c with its session ticket kept across
 * reconnects, Hello with a stream epoch, Batches with sequence numbers
 * (lz4-compressed protobuf frames) acknowledged by the collector, a
 * window of unacknowledged batches resent after a reconnect, and
 * heartbeats when idle.  What it sends is made up but shaped like a real
 * host's: process execs with exe, argv, cwd, ids; one package inventory.
 *
 * Phases:
 *   ramp    agents connect, at most --ramp handshakes in flight (the
 *           collector takes only 32 at a time from one address), and at
 *           most --connect-rate new connections a second;
 *   steady  --duration seconds once all are connected (or --ramp-timeout
 *           passed), exec batches at --rate (none during the ramp, so that
 *           it is handshakes alone); figures: batches and events
 *           acknowledged per second, ack latency;
 *   storm   (--storm) every agent drops its connection and reconnects
 *           after a random delay in [0, --jitter]; or (--wait-restart)
 *           it waits for the collector to go away and come back, each
 *           agent reconnecting as soon as the collector is gone, with the
 *           same jitter; the time until all are connected again, and how
 *           many of those handshakes resumed a session;
 *   drain   no new batches; waits until every batch made is acknowledged.
 *
 * Markers for exactly-once checks: event i of batch s of agent lg-00042
 * has argv[3] "lg-00042-EPOCH-s-i", EPOCH the first 4 bytes of the
 * stream epoch in hex (a new one each run), so processes.argv is unique
 * per event; the batch is (agent, epoch, s); batch 1 is the inventory when
 * --inventory > 0 (packages "lgpkg-N").  Batches are a function of
 * (agent, seq): nothing is kept to resend them.
 *
 * Memory: an agent costs its TLS configuration (certificate and key,
 * made at its first connect), its session, and while connected its
 * lib/tls.c connection (mbedtls's two 16 KiB record buffers).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "frame.h"
#include "log.h"
#include "pb.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define LG_WINDOW_MAX 1024
#define LG_HELLO_TIMEOUT_MS 30000
#define LG_BACKOFF_BASE_MS 250
#define LG_BACKOFF_CAP_MS 5000
#define LG_DRAIN_TIMEOUT_MS 120000
#define LG_NAME_MAX 24

enum errkind {
    E_CONNECT,   /* TCP connect failed */
    E_TLS,       /* closed or failed during the TLS handshake */
    E_REFUSED,   /* the collector sent an Error (hello refused, ...) */
    E_CLOSED,    /* an established connection closed, not by us, no goodbye */
    E_GOODBYE,   /* the collector said goodbye (shutting down) */
    E_HELLO_TO,  /* no HelloAck in time */
    E_PROTO,     /* undecodable frame from the collector */
    E_REJECTED,  /* a batch rejected in an Ack */
    E_WRITE,     /* a write failed */
    E_CONFIG,    /* the agent's TLS configuration did not load */
    E_MAX
};
static const char *const errname[E_MAX] = {
    "connect", "tls", "refused", "closed", "goodbye", "hello_timeout", "protocol",
    "rejected", "write", "config",
};

enum astate { A_IDLE, A_QUEUED, A_CONNECTING, A_HELLO, A_READY, A_CLOSING };
enum phase { P_RAMP, P_STEADY, P_STORM, P_DRAIN, P_DONE };

struct agent {
    uint32_t idx;
    enum astate state;
    uint8_t epoch[16];
    unsigned round;      /* failed attempts in a row (backoff) */
    unsigned storm_done; /* reconnected since the storm began */
    unsigned storm_lost; /* lost its connection since the storm began */
    unsigned dropping;   /* we closed it for a storm: reconnect with jitter */
    unsigned slot;       /* holds one of the --ramp handshake slots */
    unsigned reader;     /* rd is initialised */
    unsigned ready;      /* counted in G.connected */
    struct vg_tls_config *tls;
    struct vg_tls_session *session;
    struct vg_tls_conn *conn;
    struct vg_frame_reader rd;
    uv_timer_t timer;
    struct agent *qnext;
    uint64_t made;      /* batches made: seqs 1..made */
    uint64_t acked;     /* highest acknowledged seq */
    uint64_t sent_high; /* highest seq sent on this connection */
    uint64_t sent_ever; /* highest seq ever sent */
    uint64_t due_us;    /* next batch (monotonic us: rates past a batch a ms) */
    uint64_t last_tx_ms, hb_ms, hb_id;
    uint64_t *sent_us; /* send time of seq, at seq % window (G.sent_us) */
};

/* Ack latency: 64 sub-buckets per power of two of microseconds. */
#define H_SUB 64
#define H_POW 40
struct hist {
    uint64_t b[H_POW * H_SUB];
    uint64_t n, max;
};

struct lg {
    uv_loop_t *loop;
    struct agent *a;
    uint32_t n;
    char server_name[256];
    struct sockaddr_storage addr;
    char pki[800], ca[1024];
    double rate;          /* events/s per agent */
    uint32_t batch;       /* events per batch */
    uint32_t inventory;   /* packages in the inventory (0: none) */
    uint32_t window;
    uint64_t *sent_us;    /* the agents' send times, window each */
    uint32_t ramp;        /* handshakes in flight at most */
    double connect_rate;  /* new connections/s (0: no bound) */
    uint64_t duration_ms, jitter_ms, restart_timeout_ms;
    int storm, wait_restart, json, quiet;
    enum phase phase;
    uint64_t t0_ms, phase_ms, all_connected_ms, steady_start_ms, steady_end_ms;
    uint64_t ramp_timeout_ms;
    uint64_t cpu_steady0, cpu_steady1; /* our CPU, ms, at both ends of the steady state */
    uint32_t inflight, connected, storm_pending;
    struct agent *qhead, *qtail;
    double tokens;
    uint64_t tokens_ms;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    uint64_t last_report_ms;
    /* counters */
    uint64_t err[E_MAX];
    uint64_t hs_full, hs_resumed, connects;
    uint64_t skipped; /* batches not made: the window was full */
    uint64_t batches_acked, events_acked, exec_acked, inv_acked, batches_sent, resent;
    uint64_t steady_batches0, steady_events0, steady_batches, steady_events;
    uint64_t storm_start_ms, storm_end_ms, storm_full, storm_resumed;
    uint64_t ramp_full, ramp_resumed;
    int storm_timed_out, drain_timed_out;
    struct hist lat, lat_steady;
    int closing;
    uint32_t handles_open;
};

static struct lg G;

/* ---- small helpers ---- */

static void agent_name(uint32_t idx, char *out, size_t outlen)
{
    snprintf(out, outlen, "lg-%05u", idx + 1);
}

static uint64_t rnd_below(uint64_t n)
{
    uint64_t r = 0;
    if (n == 0)
        return 0;
    if (vg_random(&r, sizeof(r)))
        r = (uint64_t)random();
    return r % n;
}

static void hist_add(struct hist *h, uint64_t us)
{
    unsigned msb, idx;
    if (us < H_SUB) {
        idx = (unsigned)us;
    } else {
        msb = 63u - (unsigned)__builtin_clzll(us);
        idx = (msb - 5) * H_SUB + (unsigned)((us >> (msb - 6)) & (H_SUB - 1));
        if (idx >= H_POW * H_SUB)
            idx = H_POW * H_SUB - 1;
    }
    h->b[idx]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

/* Lower bound of bucket idx, in microseconds. */
static uint64_t hist_value(unsigned idx)
{
    unsigned pw, sub;
    if (idx < H_SUB)
        return idx;
    pw = idx / H_SUB + 5;
    sub = idx % H_SUB;
    return ((uint64_t)1 << pw) + ((uint64_t)sub << (pw - 6));
}

static uint64_t hist_pct(const struct hist *h, double p)
{
    uint64_t want, seen = 0;
    if (h->n == 0)
        return 0;
    want = (uint64_t)ceil(p * (double)h->n);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < H_POW * H_SUB; i++) {
        seen += h->b[i];
        if (seen >= want)
            return hist_value(i);
    }
    return h->max;
}

static uint64_t rss_kb(void)
{
    char *buf = NULL, *p;
    size_t len;
    uint64_t v = 0;
    if (vg_file_read("/proc/self/status", 65536, &buf, &len))
        return 0;
    p = strstr(buf, "VmRSS:");
    if (p)
        v = strtoull(p + 6, NULL, 10);
    free(buf);
    return v;
}

/* CPU time of this process, ms. */
static uint64_t cpu_ms(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static double secs(uint64_t ms)
{
    return (double)ms / 1000.0;
}

/* ---- test PKI ---- */

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[1100];
    int fd, rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    rc = vg_fd_write(fd, data, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

static void cert_paths(uint32_t idx, char *crt, char *key, size_t len)
{
    char name[LG_NAME_MAX];
    agent_name(idx, name, sizeof(name));
    snprintf(crt, len, "%s/loadgen/%s.crt", G.pki, name);
    snprintf(key, len, "%s/loadgen/%s.key", G.pki, name);
}

/* Issues the agents' certificates missing from PKI/loadgen/ with the
 * CA in PKI/ca.crt and PKI/ca.key (a `vigilctl pki init` directory).
 * Keys are made here (EC P-256): about 1 ms each. */
static int make_pki(void)
{
    char path[1100], kpath[1100];
    struct vg_cert *ca = NULL;
    struct vg_key *ca_key = NULL;
    uint32_t made = 0;
    uint64_t t0 = vg_time_mono_ms();
    int rc = 0;

    snprintf(path, sizeof(path), "%s/loadgen", G.pki);
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "vigil-loadgen: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (uint32_t i = 0; i < G.n; i++) {
        struct vg_cert_req req;
        struct vg_key *k = NULL;
        char name[LG_NAME_MAX], *pem = NULL;
        uint8_t kpem[1024];
        size_t klen;
        int64_t now = vg_time_now_ms();

        cert_paths(i, path, kpath, sizeof(path));
        if (access(path, R_OK) == 0 && access(kpath, R_OK) == 0)
            continue;
        if (!ca) {
            char p2[1100];
            snprintf(p2, sizeof(p2), "%s/ca.crt", G.pki);
            if ((rc = vg_cert_load(p2, &ca)) != 0) {
                fprintf(stderr, "vigil-loadgen: %s: %s\n", p2, vg_strerror(rc));
                goto out;
            }
            snprintf(p2, sizeof(p2), "%s/ca.key", G.pki);
            if ((rc = vg_key_load(p2, &ca_key)) != 0) {
                fprintf(stderr, "vigil-loadgen: %s: %s (the CA key issues the agents' "
                        "certificates)\n", p2, vg_strerror(rc));
                goto out;
            }
        }
        agent_name(i, name, sizeof(name));
        memset(&req, 0, sizeof(req));
        req.cn = name;
        req.role = VG_ROLE_AGENT;
        req.not_before_ms = now - 3600 * 1000LL;
        req.not_after_ms = now + 365LL * 86400 * 1000;
        if ((rc = vg_key_generate(&k)) == 0 && (rc = vg_cert_issue(&req, k, ca, ca_key, &pem)) == 0 &&
            (rc = vg_key_pem(k, kpem, sizeof(kpem), &klen)) == 0 &&
            (rc = write_file(kpath, kpem, klen, 0600)) == 0)
            rc = write_file(path, pem, strlen(pem), 0644);
        vg_zeroize(kpem, sizeof(kpem));
        vg_key_free(k);
        free(pem);
        if (rc) {
            fprintf(stderr, "vigil-loadgen: cannot issue %s: %s\n", name, vg_strerror(rc));
            goto out;
        }
        made++;
    }
    if (made && !G.quiet)
        fprintf(stderr, "vigil-loadgen: issued %u agent certificates in %.1f s (%s/loadgen)\n",
                made, secs(vg_time_mono_ms() - t0), G.pki);
out:
    vg_cert_free(ca);
    vg_key_free(ca_key);
    return rc ? -1 : 0;
}

/* ---- what agents send ---- */

struct prog {
    const char *exe, *comm, *arg1, *arg2;
};
static const struct prog progs[] = {
    { "/usr/bin/bash", "bash", "-c", "systemctl is-active --quiet cron" },
    { "/usr/bin/curl", "curl", "-fsS", "https://updates.example.nhs.uk/status" },
    { "/usr/bin/python3.11", "python3", "/usr/lib/cnf-update-db", "--quiet" },
    { "/usr/sbin/sshd", "sshd", "-D", "-R" },
    { "/usr/bin/git", "git", "fetch", "--prune" },
    { "/usr/lib/apt/methods/http", "http", "--config-fd", "3" },
    { "/usr/bin/grep", "grep", "-q", "ERROR /var/log/app/service.log" },
    { "/usr/bin/ls", "ls", "-la", "/srv/data/incoming" },
};

/* Exec batches are made once every agent is connected (steady state and
 * storm), so that the ramp is handshakes alone and figures are clean. */
static int streaming(void)
{
    return G.rate > 0 && (G.phase == P_STEADY || G.phase == P_STORM);
}

/* In microseconds: a whole millisecond would cap an agent at a batch a
 * millisecond (100,000 events/s with batches of 100). */
static uint64_t batch_interval_us(void)
{
    uint64_t iv = (uint64_t)(1e6 * G.batch / G.rate);
    return iv ? iv : 1;
}

static uint32_t events_in(uint64_t seq)
{
    return (G.inventory && seq == 1) ? 1 : G.batch;
}

/* Appends batch seq of agent a as one framed Envelope to out. */
static int encode_batch(const struct agent *a, uint64_t seq, struct vg_buf *out)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    Vigil__V1__Event *ev = NULL, **evp = NULL;
    Vigil__V1__ProcessExec *px = NULL;
    Vigil__V1__PackageInventory inv = VIGIL__V1__PACKAGE_INVENTORY__INIT;
    Vigil__V1__Package *pk = NULL, **pkp = NULL;
    ProtobufCBinaryData *argv = NULL;
    char *strs = NULL, name[LG_NAME_MAX];
    int64_t now = vg_time_now_ms();
    uint32_t n = events_in(seq);
    int rc = -ENOMEM;
    enum { SLEN = 64 };

    agent_name(a->idx, name, sizeof(name));
    if (!(ev = calloc(n, sizeof(*ev))) || !(evp = calloc(n, sizeof(*evp))))
        goto out;
    b.seq = seq;
    b.created_time_ms = now;
    b.n_events = n;
    b.events = evp;
    if (G.inventory && seq == 1) {
        uint32_t np = G.inventory;
        if (!(pk = calloc(np, sizeof(*pk))) || !(pkp = calloc(np, sizeof(*pkp))) ||
            !(strs = calloc(np, 2 * SLEN)))
            goto out;
        for (uint32_t i = 0; i < np; i++) {
            char *nm = strs + (size_t)i * 2 * SLEN, *ver = nm + SLEN;
            vigil__v1__package__init(&pk[i]);
            snprintf(nm, SLEN, "lgpkg-%u", i);
            snprintf(ver, SLEN, "%u.%u.%u-%u+deb12u1", 1 + i % 7, i % 13, i % 31, 1 + i % 3);
            pk[i].name = nm;
            pk[i].version = ver;
            pk[i].arch = i % 5 ? "amd64" : "all";
            pk[i].source_name = nm;
            pk[i].source_version = ver;
            pk[i].status = "installed";
            pk[i].install_time_ms = now - (int64_t)(i % 400) * 86400000;
            pkp[i] = &pk[i];
        }
        inv.manager = VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG;
        inv.generation = 1;
        inv.part = 1;
        inv.part_count = 1;
        inv.n_packages = np;
        inv.packages = pkp;
        vigil__v1__event__init(&ev[0]);
        ev[0].time_ms = now;
        ev[0].kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_INVENTORY;
        ev[0].package_inventory = &inv;
        evp[0] = &ev[0];
    } else {
        if (!(px = calloc(n, sizeof(*px))) || !(argv = calloc((size_t)n * 4, sizeof(*argv))) ||
            !(strs = calloc(n, SLEN)))
            goto out;
        for (uint32_t i = 0; i < n; i++) {
            const struct prog *p = &progs[(seq * 7 + i) % VG_ARRAY_SIZE(progs)];
            char *mark = strs + (size_t)i * SLEN;
            ProtobufCBinaryData *av = argv + (size_t)i * 4;
            uint64_t evno = (seq - 1) * G.batch + i;

            snprintf(mark, SLEN, "lg-%05u-%02x%02x%02x%02x-%llu-%u", a->idx + 1, a->epoch[0],
                     a->epoch[1], a->epoch[2], a->epoch[3], (unsigned long long)seq, i);
            vigil__v1__process_exec__init(&px[i]);
            px[i].pid = 1000 + (uint32_t)(evno % 4000000);
            px[i].ppid = 1 + (uint32_t)(evno % 997);
            px[i].uid = px[i].euid = px[i].gid = px[i].egid = i % 3 ? 1000 : 0;
            px[i].login_uid = i % 3 ? 1000 : 4294967295u;
            px[i].session_id = 3;
            px[i].comm = (char *)p->comm;
            px[i].exe_path.data = (uint8_t *)p->exe;
            px[i].exe_path.len = strlen(p->exe);
            av[0].data = (uint8_t *)p->comm;
            av[0].len = strlen(p->comm);
            av[1].data = (uint8_t *)p->arg1;
            av[1].len = strlen(p->arg1);
            av[2].data = (uint8_t *)p->arg2;
            av[2].len = strlen(p->arg2);
            av[3].data = (uint8_t *)mark;
            av[3].len = strlen(mark);
            px[i].argv = av;
            px[i].n_argv = 4;
            px[i].cgroup_id = 4242 + i % 5;
            px[i].start_boot_ns = (uint64_t)now * 1000000 + i;
            px[i].start_time_ms = now;
            px[i].cwd.data = (uint8_t *)"/home/clinician";
            px[i].cwd.len = 15;
            px[i].tty = i % 4 ? "" : "pts/0";
            px[i].source = "ebpf";
            px[i].parent_exe.data = (uint8_t *)"/usr/bin/bash";
            px[i].parent_exe.len = 13;
            px[i].exe_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
            vigil__v1__event__init(&ev[i]);
            ev[i].time_ms = now;
            ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
            ev[i].process_exec = &px[i];
            evp[i] = &ev[i];
        }
    }
    env.sent_time_ms = now;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    rc = vg_frame_encode_msg(&env.base, out);
out:
    free(ev);
    free(evp);
    free(px);
    free(argv);
    free(pk);
    free(pkp);
    free(strs);
    return rc;
}

/* ---- connections ---- */

static void agent_wake(struct agent *a, uint64_t in_ms);
static void pump_connects(void);
static void check_phase(void);

static void enqueue(struct agent *a)
{
    a->state = A_QUEUED;
    a->qnext = NULL;
    if (G.qtail)
        G.qtail->qnext = a;
    else
        G.qhead = a;
    G.qtail = a;
}

/* Schedules a's next attempt: after a random delay in [0, jitter) when
 * the collector went away or we dropped it, else with exponential
 * backoff and full jitter (what vigil-agent does). */
static void retry_later(struct agent *a, int reset)
{
    uint64_t cap;
    a->state = A_IDLE;
    if (G.phase >= P_DRAIN && G.closing)
        return;
    if (reset) {
        a->round = 0;
        agent_wake(a, rnd_below(G.jitter_ms + 1));
        return;
    }
    cap = (uint64_t)LG_BACKOFF_BASE_MS << (a->round < 8 ? a->round : 8);
    if (cap > LG_BACKOFF_CAP_MS)
        cap = LG_BACKOFF_CAP_MS;
    a->round++;
    agent_wake(a, rnd_below(cap) + 10);
}

static int send_frame(struct agent *a, const struct vg_buf *fr)
{
    int rc = vg_tls_write(a->conn, fr->data, fr->len);
    if (rc == 0)
        a->last_tx_ms = vg_time_mono_ms();
    return rc;
}

/* Sends batches made and not yet sent on this connection, within the
 * window. */
static void pump(struct agent *a)
{
    while (a->state == A_READY && a->sent_high < a->made && a->sent_high - a->acked < G.window) {
        struct vg_buf fr;
        uint64_t seq = a->sent_high + 1;
        int rc;

        vg_buf_init(&fr, VG_FRAME_DEFAULT_MAX_WIRE);
        rc = encode_batch(a, seq, &fr);
        if (rc == 0)
            rc = send_frame(a, &fr);
        vg_buf_free(&fr);
        if (rc == VG_EAGAIN)
            return; /* on_drain resumes */
        if (rc) {
            G.err[E_WRITE]++;
            a->state = A_CLOSING;
            vg_tls_close(a->conn, "write failed");
            return;
        }
        a->sent_us[seq % G.window] = vg_time_mono_us();
        a->sent_high = seq;
        if (seq <= a->sent_ever)
            G.resent++;
        else
            a->sent_ever = seq;
        G.batches_sent++;
    }
}

static void send_hello(struct agent *a)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    Vigil__V1__Tag tag = VIGIL__V1__TAG__INIT;
    Vigil__V1__Tag *tags[] = { &tag };
    char *caps[] = { "os", "inventory", "pending_updates", "processes:ebpf" };
    char name[LG_NAME_MAX];
    int rc;

    agent_name(a->idx, name, sizeof(name));
    tag.key = "site";
    tag.value = "loadgen";
    h.protocol_version = 1;
    h.agent_id = name;
    h.stream_epoch.data = a->epoch;
    h.stream_epoch.len = sizeof(a->epoch);
    h.software_version = VG_VERSION;
    h.capabilities = caps;
    h.n_capabilities = VG_ARRAY_SIZE(caps);
    h.tags = tags;
    h.n_tags = 1;
    h.last_acked_seq = a->acked;
    h.next_seq = a->made + 1;
    h.hostname = name;
    h.boot_id = "5e0c7c1e-7a9f-4c55-9d0b-6c1f4f1e0a42";
    env.body_case = VIGIL__V1__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    rc = vg_wire_send(a->conn, &env);
    if (rc) {
        G.err[E_WRITE]++;
        a->state = A_CLOSING;
        vg_tls_close(a->conn, "hello not sent");
        return;
    }
    a->last_tx_ms = vg_time_mono_ms();
    a->state = A_HELLO;
    agent_wake(a, LG_HELLO_TIMEOUT_MS);
}

static void slot_free(struct agent *a)
{
    if (!a->slot)
        return;
    a->slot = 0;
    G.inflight--;
    pump_connects();
}

static void on_hello_ack(struct agent *a, const Vigil__V1__HelloAck *h)
{

    if (!h->accepted) {
        G.err[E_REFUSED]++;
        if (!G.quiet && G.err[E_REFUSED] <= 5)
            fprintf(stderr, "vigil-loadgen: lg-%05u refused: %s\n", a->idx + 1,
                    h->error && h->error->message ? h->error->message : "no reason");
        a->state = A_CLOSING;
        vg_tls_close(a->conn, "hello refused");
        return;
    }
    if (h->last_stored_seq > a->made) {
        /* Not ours (a stale epoch): a new one, as the agent does. */
        G.err[E_REFUSED]++;
        vg_random(a->epoch, sizeof(a->epoch));
        a->made = a->acked = 0;
        a->state = A_CLOSING;
        vg_tls_close(a->conn, "new epoch");
        return;
    }
    /* Stored earlier, acknowledgement lost with the connection. */
    for (uint64_t s = a->acked + 1; s <= h->last_stored_seq; s++) {
        uint32_t ne = events_in(s);
        G.batches_acked++;
        G.events_acked += ne;
        if (G.inventory && s == 1)
            G.inv_acked++;
        else
            G.exec_acked += ne;
    }
    if (h->last_stored_seq > a->acked)
        a->acked = h->last_stored_seq;
    a->sent_high = a->acked;
    a->hb_ms = h->heartbeat_interval_ms ? h->heartbeat_interval_ms : 30000;
    a->state = A_READY;
    a->round = 0;
    a->ready = 1;
    G.connected++;
    G.connects++;
    if (G.phase == P_STORM && a->storm_lost && !a->storm_done) {
        a->storm_done = 1;
        if (vg_tls_resumed(a->conn))
            G.storm_resumed++;
        else
            G.storm_full++;
        if (G.storm_pending)
            G.storm_pending--;
    }
    if (G.phase == P_RAMP) {
        if (vg_tls_resumed(a->conn))
            G.ramp_resumed++;
        else
            G.ramp_full++;
    }
    slot_free(a);
    if (streaming() && a->due_us == 0)
        a->due_us = vg_time_mono_us() + rnd_below(batch_interval_us() + 1);
    if (G.inventory && a->made == 0 && G.phase < P_DRAIN)
        a->made = 1; /* the inventory first */
    pump(a);
    agent_wake(a, 0);
    check_phase();
}

static void on_ack(struct agent *a, const Vigil__V1__Ack *k)
{
    uint64_t now_us = vg_time_mono_us();
    int steady = G.phase == P_STEADY;

    G.err[E_REJECTED] += k->n_rejected_seq;
    if (k->seq <= a->acked || k->seq > a->sent_high)
        return;
    for (uint64_t s = a->acked + 1; s <= k->seq; s++) {
        uint32_t ne = events_in(s);
        uint64_t lat = now_us - a->sent_us[s % G.window];
        hist_add(&G.lat, lat);
        if (steady) {
            hist_add(&G.lat_steady, lat);
            G.steady_batches++;
            G.steady_events += ne;
        }
        G.batches_acked++;
        G.events_acked += ne;
        if (G.inventory && s == 1)
            G.inv_acked++;
        else
            G.exec_acked += ne;
    }
    a->acked = k->seq;
    pump(a);
    if (G.phase == P_DRAIN)
        check_phase();
}

static int on_env(void *ctx, Vigil__V1__Envelope *env)
{
    struct agent *a = ctx;
    int stop = 0, body = env->body_case;

    switch (env->body_case) {
    case VIGIL__V1__ENVELOPE__BODY_HELLO_ACK:
        if (a->state == A_HELLO)
            on_hello_ack(a, env->hello_ack);
        break;
    case VIGIL__V1__ENVELOPE__BODY_ACK:
        if (a->state == A_READY)
            on_ack(a, env->ack);
        break;
    case VIGIL__V1__ENVELOPE__BODY_HEARTBEAT:
        if (vg_wire_heartbeat_reply(a->conn, env->heartbeat) == 0 && !env->heartbeat->echo)
            a->last_tx_ms = vg_time_mono_ms();
        break;
    case VIGIL__V1__ENVELOPE__BODY_ERROR:
        G.err[E_REFUSED]++;
        if (!G.quiet && G.err[E_REFUSED] <= 5)
            fprintf(stderr, "vigil-loadgen: lg-%05u: collector error %d: %s\n", a->idx + 1,
                    (int)env->error->code, env->error->message);
        a->dropping = 0;
        stop = 1;
        break;
    case VIGIL__V1__ENVELOPE__BODY_GOODBYE:
        G.err[E_GOODBYE]++;
        stop = 1;
        break;
    default:
        break; /* commands are not answered: loadgen agents list no cmd.* capability */
    }
    vg_pb_free(&env->base);
    if (stop && a->conn && a->state != A_CLOSING) {
        int was_ready = a->state == A_READY;
        a->state = A_CLOSING;
        a->dropping = body == VIGIL__V1__ENVELOPE__BODY_GOODBYE && was_ready;
        vg_tls_close(a->conn, "collector error or goodbye");
    }
    return stop;
}

static int on_ready(struct vg_tls_conn *c)
{
    struct agent *a = vg_tls_data(c);
    const struct vg_cert_info *p = vg_tls_peer(c);

    if (p->role != VG_ROLE_COLLECTOR || p->not_after_ms < vg_time_now_ms())
        return -1; /* counted as a TLS failure in on_close */
    if (vg_tls_resumed(c))
        G.hs_resumed++;
    else
        G.hs_full++;
    vg_frame_reader_init(&a->rd, NULL);
    a->reader = 1;
    send_hello(a);
    return 0;
}

static void on_data(struct vg_tls_conn *c, const uint8_t *data, size_t len)
{
    struct agent *a = vg_tls_data(c);
    int rc;
    if (a->state == A_CLOSING)
        return;
    rc = vg_wire_feed(&a->rd, data, len, on_env, a);
    if (rc && a->state != A_CLOSING) {
        G.err[E_PROTO]++;
        a->state = A_CLOSING;
        vg_tls_close(c, "bad frame");
        return;
    }
    if (a->reader)
        vg_frame_reader_trim(&a->rd);
}

static void on_drain(struct vg_tls_conn *c)
{
    pump(vg_tls_data(c));
}

static void on_close(struct vg_tls_conn *c, int err)
{
    struct agent *a = vg_tls_data(c);
    int was_ready = a->ready, reset;

    (void)err;
    if (a->state == A_CONNECTING) {
        const char *why = vg_tls_why(c);
        G.err[strncmp(why, "cannot connect", 14) == 0 ? E_CONNECT : E_TLS]++;
    } else if (a->state == A_HELLO) {
        G.err[E_CLOSED]++;
    } else if (a->state == A_READY && !G.closing) {
        G.err[E_CLOSED]++;
    }
    if (a->reader)
        vg_frame_reader_free(&a->rd);
    a->reader = 0;
    if (a->ready)
        G.connected--;
    a->ready = 0;
    /* The collector went away, or we dropped it: reconnect within the
     * jitter.  Anything else: back off. */
    reset = was_ready || a->dropping;
    a->conn = NULL;
    a->hb_ms = 0;
    a->dropping = 0;
    a->state = A_IDLE;
    if (G.phase == P_STORM && !a->storm_lost && reset) {
        a->storm_lost = 1;
        if (!G.storm_start_ms)
            G.storm_start_ms = vg_time_mono_ms();
    }
    slot_free(a);
    if (G.closing) {
        check_phase();
        return;
    }
    retry_later(a, reset);
}

static const struct vg_tls_handlers handlers = {
    .on_ready = on_ready,
    .on_data = on_data,
    .on_drain = on_drain,
    .on_close = on_close,
};

static int agent_tls(struct agent *a)
{
    char crt[1100], key[1100], err[512];
    struct vg_tls_opts o;
    int rc;

    if (a->tls)
        return 0;
    cert_paths(a->idx, crt, key, sizeof(crt));
    memset(&o, 0, sizeof(o));
    o.ca = G.ca;
    o.cert = crt;
    o.key = key;
    rc = vg_tls_config_new(&o, &a->tls, err, sizeof(err));
    if (rc) {
        G.err[E_CONFIG]++;
        if (G.err[E_CONFIG] <= 3)
            fprintf(stderr, "vigil-loadgen: lg-%05u: %s\n", a->idx + 1, err);
        return rc;
    }
    if (!(a->session = vg_tls_session_new()))
        return -ENOMEM;
    return 0;
}

static void start_connect(struct agent *a)
{
    int rc = agent_tls(a);
    if (rc == 0)
        rc = vg_tls_connect(G.loop, a->tls, (const struct sockaddr *)&G.addr, G.server_name,
                            a->session, &handlers, a, &a->conn);
    if (rc) {
        if (rc != VG_ECRYPTO && rc != -ENOMEM)
            G.err[E_CONNECT]++;
        a->conn = NULL;
        retry_later(a, 0);
        return;
    }
    a->state = A_CONNECTING;
    a->hb_ms = 0;
    a->slot = 1;
    G.inflight++;
}

/* Starts queued connects while under --ramp and --connect-rate. */
static void pump_connects(void)
{
    uint64_t now = vg_time_mono_ms();

    if (G.closing)
        return;
    if (G.connect_rate > 0) {
        G.tokens += (double)(now - G.tokens_ms) * G.connect_rate / 1000.0;
        if (G.tokens > G.connect_rate / 10 + 1)
            G.tokens = G.connect_rate / 10 + 1;
        G.tokens_ms = now;
    }
    while (G.qhead && G.inflight < G.ramp && (G.connect_rate <= 0 || G.tokens >= 1)) {
        struct agent *a = G.qhead;
        G.qhead = a->qnext;
        if (!G.qhead)
            G.qtail = NULL;
        a->qnext = NULL;
        if (G.connect_rate > 0)
            G.tokens -= 1;
        start_connect(a);
    }
}

static void send_heartbeat(struct agent *a)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Heartbeat hb = VIGIL__V1__HEARTBEAT__INIT;
    hb.id = ++a->hb_id;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    if (vg_wire_send(a->conn, &env) == 0)
        a->last_tx_ms = vg_time_mono_ms();
}

static void agent_timer(uv_timer_t *t)
{
    struct agent *a = t->data;
    uint64_t now = vg_time_mono_ms(), next = UINT64_MAX;

    switch (a->state) {
    case A_IDLE:
        enqueue(a);
        pump_connects();
        return;
    case A_HELLO:
        G.err[E_HELLO_TO]++;
        a->state = A_CLOSING;
        vg_tls_close(a->conn, "no hello ack");
        return;
    case A_READY:
        break;
    default:
        return;
    }
    if (streaming()) {
        uint64_t iv = batch_interval_us(), now_us = vg_time_mono_us();
        unsigned catchup = 0;
        if (a->due_us == 0)
            a->due_us = now_us + rnd_below(iv + 1);
        while (a->due_us <= now_us && catchup++ < 64) {
            /* A full window is a collector that cannot keep up: the
             * batch is not made (counted), so that the offered load is
             * bounded and the drain at the end is short. */
            if (a->made - a->acked < G.window)
                a->made++;
            else
                G.skipped++;
            a->due_us += iv;
        }
        if (a->due_us <= now_us)
            a->due_us = now_us + iv; /* far behind: do not make a burst */
        pump(a);
        if (a->state != A_READY)
            return;
        /* Timers are in whole ms: the batches due within one come at its end. */
        next = now + (a->due_us - now_us + 999) / 1000;
    }
    if (a->hb_ms) {
        if (now - a->last_tx_ms >= a->hb_ms)
            send_heartbeat(a);
        if (a->last_tx_ms + a->hb_ms < next)
            next = a->last_tx_ms + a->hb_ms;
    }
    if (next != UINT64_MAX)
        agent_wake(a, next > now ? next - now : 1);
}

static void agent_wake(struct agent *a, uint64_t in_ms)
{
    uv_timer_start(&a->timer, agent_timer, in_ms, 0);
}

/* ---- phases ---- */

static void begin_storm(void)
{
    uint64_t now = vg_time_mono_ms();
    G.phase = P_STORM;
    G.phase_ms = now;
    G.storm_pending = G.n;
    if (G.storm) {
        G.storm_start_ms = now;
        if (!G.quiet)
            fprintf(stderr, "vigil-loadgen: storm: dropping all %u connections, reconnecting "
                    "within %.1f s\n", G.n, secs(G.jitter_ms));
        for (uint32_t i = 0; i < G.n; i++) {
            struct agent *a = &G.a[i];
            if (a->state == A_READY) {
                a->dropping = 1;
                a->state = A_CLOSING;
                vg_tls_close(a->conn, "storm");
            }
        }
    } else {
        fprintf(stderr, "vigil-loadgen: waiting for a collector restart (all %u connected)\n",
                G.n);
    }
}

static void begin_drain(void)
{
    G.phase = P_DRAIN;
    G.phase_ms = vg_time_mono_ms();
    if (!G.quiet)
        fprintf(stderr, "vigil-loadgen: draining: waiting for every batch to be acknowledged\n");
}

static uint64_t unacked(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < G.n; i++)
        n += G.a[i].made - G.a[i].acked;
    return n;
}

static void finish(void)
{
    if (G.closing)
        return;
    G.closing = 1;
    G.phase = P_DONE;
    uv_timer_stop(&G.tick);
    for (uint32_t i = 0; i < G.n; i++) {
        struct agent *a = &G.a[i];
        uv_timer_stop(&a->timer);
        if (a->conn && a->state != A_CLOSING) {
            a->state = A_CLOSING;
            vg_tls_close(a->conn, "done");
        }
    }
}

static void check_phase(void)
{
    uint64_t now = vg_time_mono_ms();

    switch (G.phase) {
    case P_RAMP:
        if (G.connected == G.n || now - G.t0_ms >= G.ramp_timeout_ms) {
            if (G.connected == G.n) {
                G.all_connected_ms = now;
                if (!G.quiet)
                    fprintf(stderr, "vigil-loadgen: all %u agents connected in %.1f s\n", G.n,
                            secs(now - G.t0_ms));
            } else {
                fprintf(stderr, "vigil-loadgen: only %u of %u agents connected after %.0f s; "
                        "steady state with those\n", G.connected, G.n, secs(now - G.t0_ms));
            }
            G.steady_start_ms = now;
            G.cpu_steady0 = cpu_ms();
            G.phase = P_STEADY;
            G.phase_ms = now;
            /* Every connected agent starts making batches, spread over
             * one batch interval. */
            for (uint32_t i = 0; G.rate > 0 && i < G.n; i++) {
                struct agent *a = &G.a[i];
                uint64_t in_us = rnd_below(batch_interval_us() + 1);
                a->due_us = vg_time_mono_us() + in_us;
                if (a->state == A_READY)
                    agent_wake(a, in_us / 1000);
            }
        }
        break;
    case P_STEADY:
        if (now - G.phase_ms >= G.duration_ms) {
            if (!G.all_connected_ms && (G.storm || G.wait_restart)) {
                G.steady_end_ms = now;
                G.cpu_steady1 = cpu_ms();
                begin_drain(); /* no storm without every agent connected */
                break;
            }
            G.steady_end_ms = now;
            G.cpu_steady1 = cpu_ms();
            if (G.storm || G.wait_restart)
                begin_storm();
            else
                begin_drain();
        }
        break;
    case P_STORM:
        if (G.storm_pending == 0 && G.connected == G.n) {
            G.storm_end_ms = now;
            if (!G.quiet)
                fprintf(stderr, "vigil-loadgen: storm over: all %u reconnected in %.1f s "
                        "(%llu resumed, %llu full handshakes)\n", G.n,
                        secs(now - G.storm_start_ms), (unsigned long long)G.storm_resumed,
                        (unsigned long long)G.storm_full);
            begin_drain();
        } else if (now - G.phase_ms >= G.restart_timeout_ms) {
            G.storm_timed_out = 1;
            fprintf(stderr, "vigil-loadgen: storm: %u agents not reconnected after %.0f s\n",
                    G.storm_pending, secs(G.restart_timeout_ms));
            begin_drain();
        }
        break;
    case P_DRAIN:
        if (unacked() == 0) {
            finish();
        } else if (now - G.phase_ms >= LG_DRAIN_TIMEOUT_MS) {
            G.drain_timed_out = 1;
            fprintf(stderr, "vigil-loadgen: drain: %llu batches still unacknowledged after "
                    "%.0f s\n", (unsigned long long)unacked(), secs(LG_DRAIN_TIMEOUT_MS));
            finish();
        }
        break;
    case P_DONE:
        break;
    }
}

static void progress(uint64_t now)
{
    static uint64_t last_b, last_e, last_ms;
    double dt = last_ms ? secs(now - last_ms) : secs(now - G.t0_ms);
    if (G.quiet || dt <= 0)
        return;
    fprintf(stderr, "vigil-loadgen: %5.1fs connected %u/%u, handshaking %u, acked %llu batches "
            "(%.0f/s) %llu events (%.0f/s), p99 %.1f ms, errors %llu\n", secs(now - G.t0_ms),
            G.connected, G.n, G.inflight, (unsigned long long)G.batches_acked,
            (double)(G.batches_acked - last_b) / dt, (unsigned long long)G.events_acked,
            (double)(G.events_acked - last_e) / dt, (double)hist_pct(&G.lat, 0.99) / 1000.0,
            (unsigned long long)(G.err[E_CONNECT] + G.err[E_TLS] + G.err[E_REFUSED] +
                                 G.err[E_CLOSED] + G.err[E_HELLO_TO] + G.err[E_PROTO] +
                                 G.err[E_REJECTED] + G.err[E_WRITE] + G.err[E_CONFIG]));
    last_b = G.batches_acked;
    last_e = G.events_acked;
    last_ms = now;
}

static void tick(uv_timer_t *t)
{
    uint64_t now = vg_time_mono_ms();
    (void)t;
    pump_connects();
    check_phase();
    if (now - G.last_report_ms >= 5000) {
        G.last_report_ms = now;
        progress(now);
    }
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    fprintf(stderr, "vigil-loadgen: signal %d: draining\n", sig);
    if (G.phase < P_DRAIN) {
        if (!G.steady_end_ms) {
            G.steady_end_ms = vg_time_mono_ms();
            G.cpu_steady1 = cpu_ms();
        }
        begin_drain();
    } else {
        finish();
    }
}

/* ---- report ---- */

static void report(void)
{
    uint64_t steady_ms = G.steady_start_ms && G.steady_end_ms > G.steady_start_ms
                             ? G.steady_end_ms - G.steady_start_ms : 0;
    double sb = steady_ms ? (double)G.steady_batches / secs(steady_ms) : 0;
    double se = steady_ms ? (double)G.steady_events / secs(steady_ms) : 0;
    uint64_t rss = rss_kb(), errs = 0;
    double storm_s = G.storm_end_ms ? secs(G.storm_end_ms - G.storm_start_ms) : -1;
    double ramp_s = G.all_connected_ms ? secs(G.all_connected_ms - G.t0_ms) : -1;
    const struct hist *lh = G.lat_steady.n ? &G.lat_steady : &G.lat;
    double cpu_pct = steady_ms && G.cpu_steady1 > G.cpu_steady0
                         ? 100.0 * (double)(G.cpu_steady1 - G.cpu_steady0) / (double)steady_ms : 0;

    for (int i = 0; i < E_MAX; i++)
        if (i != E_GOODBYE)
            errs += G.err[i];
    if (G.json) {
        printf("{\"agents\":%u,\"connected_all\":%s,\"ramp_s\":%.3f,\"steady_s\":%.3f,"
               "\"steady_cpu_percent\":%.1f,"
               "\"steady_batches_per_s\":%.1f,\"steady_events_per_s\":%.1f,"
               "\"batches_acked\":%llu,\"events_acked\":%llu,\"exec_events_acked\":%llu,"
               "\"inventories_acked\":%llu,\"inventory_packages\":%u,\"batches_sent\":%llu,"
               "\"batches_unacked\":%llu,\"batches_skipped\":%llu,"
               "\"ack_latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"count\":%llu},"
               "\"handshakes\":{\"full\":%llu,\"resumed\":%llu},"
               "\"ramp_handshakes\":{\"full\":%llu,\"resumed\":%llu},",
               G.n, G.all_connected_ms ? "true" : "false", ramp_s, secs(steady_ms), cpu_pct, sb, se,
               (unsigned long long)G.batches_acked, (unsigned long long)G.events_acked,
               (unsigned long long)G.exec_acked, (unsigned long long)G.inv_acked, G.inventory,
               (unsigned long long)G.batches_sent, (unsigned long long)unacked(),
               (unsigned long long)G.skipped, (double)hist_pct(lh, 0.5) / 1000.0, (double)hist_pct(lh, 0.99) / 1000.0,
               (double)lh->max / 1000.0, (unsigned long long)lh->n,
               (unsigned long long)G.hs_full, (unsigned long long)G.hs_resumed,
               (unsigned long long)G.ramp_full, (unsigned long long)G.ramp_resumed);
        printf("\"storm\":{\"kind\":\"%s\",\"seconds\":%.3f,\"resumed\":%llu,\"full\":%llu,"
               "\"timed_out\":%s},",
               G.storm ? "drop" : G.wait_restart ? "restart" : "none", storm_s,
               (unsigned long long)G.storm_resumed, (unsigned long long)G.storm_full,
               G.storm_timed_out ? "true" : "false");
        printf("\"errors\":{");
        for (int i = 0; i < E_MAX; i++)
            printf("%s\"%s\":%llu", i ? "," : "", errname[i], (unsigned long long)G.err[i]);
        printf("},\"errors_total\":%llu,\"drain_timed_out\":%s,\"rss_kb\":%llu,"
               "\"rss_kb_per_agent\":%.1f,\"marker\":\"argv[3] = lg-AGENT-EPOCH-SEQ-INDEX\"}\n",
               (unsigned long long)errs, G.drain_timed_out ? "true" : "false",
               (unsigned long long)rss, G.n ? (double)rss / G.n : 0);
    } else {
        printf("agents: %u, all connected in %.1f s (handshakes %llu full, %llu resumed)\n", G.n,
               ramp_s, (unsigned long long)G.ramp_full, (unsigned long long)G.ramp_resumed);
        printf("steady: %.1f s, %.1f batches/s, %.1f events/s acknowledged (loadgen CPU %.0f%% "
               "of a core)\n", secs(steady_ms), sb, se, cpu_pct);
        printf("ack latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%llu acks%s)\n",
               (double)hist_pct(lh, 0.5) / 1000.0, (double)hist_pct(lh, 0.99) / 1000.0,
               (double)lh->max / 1000.0, (unsigned long long)lh->n,
               lh == &G.lat_steady ? ", steady state" : "");
        printf("totals: %llu batches acknowledged (%llu sent), %llu events (%llu execs, %llu "
               "inventories of %u packages), %llu unacknowledged\n",
               (unsigned long long)G.batches_acked, (unsigned long long)G.batches_sent,
               (unsigned long long)G.events_acked, (unsigned long long)G.exec_acked,
               (unsigned long long)G.inv_acked, G.inventory, (unsigned long long)unacked());
        printf("offered load not met: %llu batches not made (window full)\n",
               (unsigned long long)G.skipped);
        printf("handshakes: %llu full, %llu resumed\n", (unsigned long long)G.hs_full,
               (unsigned long long)G.hs_resumed);
        if (G.storm || G.wait_restart)
            printf("storm (%s): %s %.1f s, %llu resumed, %llu full\n",
                   G.storm ? "drop" : "restart", G.storm_timed_out ? "timed out after" :
                   "all reconnected in", storm_s, (unsigned long long)G.storm_resumed,
                   (unsigned long long)G.storm_full);
        printf("errors: %llu (", (unsigned long long)errs);
        for (int i = 0; i < E_MAX; i++)
            printf("%s%s %llu", i ? ", " : "", errname[i], (unsigned long long)G.err[i]);
        printf(")\nmemory: %llu KB RSS, %.1f KB per agent\n", (unsigned long long)rss,
               G.n ? (double)rss / G.n : 0);
    }
    fflush(stdout);
}

/* ---- set-up ---- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: vigil-loadgen --collector HOST:PORT --pki DIR [options]\n"
"\n"
"N simulated agents in one process against a real vigil-collector: mutual TLS\n"
"with a certificate each, session tickets kept across reconnects, the agent's\n"
"hello/batch/ack protocol.  Figures on stdout at the end; progress on stderr.\n"
"\n"
"  --collector HOST:PORT  collector to connect to\n"
"  --pki DIR              test PKI: DIR/ca.crt and DIR/ca.key (vigilctl pki init);\n"
"                         agent certificates lg-00001... are issued into\n"
"                         DIR/loadgen/ once and reused\n"
"  --ca FILE              CA the collector's certificate must verify against\n"
"                         (default DIR/ca.crt)\n"
"  --server-name NAME     collector's certificate name (default localhost)\n"
"  --agents N             simulated agents (default 100)\n"
"  --rate R               exec events per second per agent (default 1; 0: idle)\n"
"  --batch N              events per batch (default 10)\n"
"  --inventory N          packages in each agent's inventory, its batch 1 (default 0)\n"
"  --window N             unacknowledged batches in flight per agent (default 8,\n"
"                         at most 1024)\n"
"  --duration S           seconds of steady state once all are connected (default 10)\n"
"  --ramp N               TLS handshakes in flight at most (default 16; the\n"
"                         collector takes 32 at a time from one address)\n"
"  --connect-rate R       new connections per second at most (default: no bound)\n"
"  --storm                after the steady state, every agent drops its connection\n"
"                         and reconnects after a random delay in [0, --jitter]\n"
"  --wait-restart         after the steady state, wait for the collector to go away\n"
"                         and come back; measures the reconnect storm\n"
"  --jitter S             reconnect delay bound when the collector went away (default 5)\n"
"  --restart-timeout S    how long a storm may take (default 300)\n"
"  --ramp-timeout S       how long the ramp may take; then the steady state runs\n"
"                         with the agents connected by then (default 600)\n"
"  --pki-only             issue the certificates and exit\n"
"  --json                 figures as one JSON object\n"
"  --quiet                no progress lines\n"
"  --help\n"
"\n"
"Markers: exec event i of batch s of agent lg-00042 has argv[3]\n"
"\"lg-00042-EPOCH-s-i\" (EPOCH: 8 hex digits, new each run), unique per event;\n"
"with --inventory, batch 1 is the inventory (packages lgpkg-0...).\n"
"Exit status: 0 if every agent connected and every batch was acknowledged\n"
"(and the storm, if any, completed); 1 otherwise; 2 for usage errors.\n");
}

static int parse_addr(const char *s)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    struct addrinfo hints, *res = NULL;
    uint64_t port;
    size_t n;

    if (!colon || vg_parse_u64(colon + 1, 1, 65535, &port))
        return -1;
    n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(host))
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) || !res)
        return -1;
    memcpy(&G.addr, res->ai_addr, res->ai_addrlen);
    if (G.addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&G.addr)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&G.addr)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

static void raise_nofile(uint32_t n)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)n + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
        fprintf(stderr, "vigil-loadgen: descriptor limit %llu is below %llu (agents + 256); "
                "raise the hard limit (ulimit -Hn)\n", (unsigned long long)rl.rlim_cur,
                (unsigned long long)want);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
    G.handles_open--;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "collector", required_argument, NULL, 'c' },
        { "pki", required_argument, NULL, 'p' },
        { "ca", required_argument, NULL, 'C' },
        { "server-name", required_argument, NULL, 'S' },
        { "agents", required_argument, NULL, 'n' },
        { "rate", required_argument, NULL, 'r' },
        { "batch", required_argument, NULL, 'b' },
        { "inventory", required_argument, NULL, 'i' },
        { "window", required_argument, NULL, 'w' },
        { "duration", required_argument, NULL, 'd' },
        { "ramp", required_argument, NULL, 'R' },
        { "connect-rate", required_argument, NULL, 'k' },
        { "storm", no_argument, NULL, 's' },
        { "wait-restart", no_argument, NULL, 'W' },
        { "jitter", required_argument, NULL, 'j' },
        { "restart-timeout", required_argument, NULL, 'T' },
        { "ramp-timeout", required_argument, NULL, 'U' },
        { "pki-only", no_argument, NULL, 'P' },
        { "json", no_argument, NULL, 'J' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *collector = NULL, *ca = NULL;
    double d;
    uint64_t v;
    int c, li = 0, pki_only = 0, rc = 1;
    uv_loop_t loop;

    G.n = 100;
    G.rate = 1;
    G.batch = 10;
    G.window = 8;
    G.ramp = 16;
    G.duration_ms = 10000;
    G.jitter_ms = 5000;
    G.restart_timeout_ms = 300000;
    G.ramp_timeout_ms = 600000;
    vg_strlcpy(G.server_name, "localhost", sizeof(G.server_name));
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c': collector = optarg; break;
        case 'p': bad = vg_strlcpy(G.pki, optarg, sizeof(G.pki)) >= sizeof(G.pki); break;
        case 'C': ca = optarg; break;
        case 'S': vg_strlcpy(G.server_name, optarg, sizeof(G.server_name)); break;
        case 'n': bad = vg_parse_u64(optarg, 1, 1000000, &v); G.n = (uint32_t)v; break;
        case 'r': bad = parse_double(optarg, 0, 1e6, &G.rate); break;
        case 'b': bad = vg_parse_u64(optarg, 1, 10000, &v); G.batch = (uint32_t)v; break;
        case 'i': bad = vg_parse_u64(optarg, 0, 100000, &v); G.inventory = (uint32_t)v; break;
        case 'w': bad = vg_parse_u64(optarg, 1, LG_WINDOW_MAX, &v); G.window = (uint32_t)v; break;
        case 'd': bad = parse_double(optarg, 0, 1e6, &d); G.duration_ms = (uint64_t)(d * 1000); break;
        case 'R': bad = vg_parse_u64(optarg, 1, 100000, &v); G.ramp = (uint32_t)v; break;
        case 'k': bad = parse_double(optarg, 0, 1e6, &G.connect_rate); break;
        case 's': G.storm = 1; break;
        case 'W': G.wait_restart = 1; break;
        case 'j': bad = parse_double(optarg, 0, 3600, &d); G.jitter_ms = (uint64_t)(d * 1000); break;
        case 'T': bad = parse_double(optarg, 1, 86400, &d); G.restart_timeout_ms = (uint64_t)(d * 1000); break;
        case 'U': bad = parse_double(optarg, 1, 86400, &d); G.ramp_timeout_ms = (uint64_t)(d * 1000); break;
        case 'P': pki_only = 1; break;
        case 'J': G.json = 1; break;
        case 'q': G.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "vigil-loadgen: bad value for --%s: '%s'\n",
                    opts[li].name, optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !G.pki[0] || (!collector && !pki_only) || (G.storm && G.wait_restart)) {
        fprintf(stderr, "vigil-loadgen: %s\n", !G.pki[0] ? "--pki DIR is required"
                : G.storm && G.wait_restart ? "--storm and --wait-restart exclude each other"
                : optind != argc ? "unexpected arguments" : "--collector HOST:PORT is required");
        usage(stderr);
        return 2;
    }
    if (collector && parse_addr(collector)) {
        fprintf(stderr, "vigil-loadgen: --collector '%s': expected HOST:PORT\n", collector);
        return 2;
    }
    if (ca)
        vg_strlcpy(G.ca, ca, sizeof(G.ca));
    else
        snprintf(G.ca, sizeof(G.ca), "%s/ca.crt", G.pki);
    vg_log_init("vigil-loadgen", 0, VG_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(G.n);
    if (make_pki())
        return 1;
    if (pki_only)
        return 0;

    G.a = calloc(G.n, sizeof(*G.a));
    G.sent_us = calloc((size_t)G.n * G.window, sizeof(*G.sent_us));
    if (!G.a || !G.sent_us) {
        fprintf(stderr, "vigil-loadgen: out of memory for %u agents\n", G.n);
        return 1;
    }
    uv_loop_init(&loop);
    G.loop = &loop;
    G.t0_ms = G.tokens_ms = G.last_report_ms = vg_time_mono_ms();
    G.phase = P_RAMP;
    for (uint32_t i = 0; i < G.n; i++) {
        struct agent *a = &G.a[i];
        a->idx = i;
        a->sent_us = G.sent_us + (size_t)i * G.window;
        if (vg_random(a->epoch, sizeof(a->epoch)))
            memset(a->epoch, (int)i, sizeof(a->epoch));
        uv_timer_init(&loop, &a->timer);
        a->timer.data = a;
        enqueue(a);
    }
    G.handles_open = G.n;
    uv_timer_init(&loop, &G.tick);
    uv_timer_start(&G.tick, tick, 20, 20);
    uv_signal_init(&loop, &G.sigint);
    uv_signal_init(&loop, &G.sigterm);
    uv_signal_start(&G.sigint, on_signal, SIGINT);
    uv_signal_start(&G.sigterm, on_signal, SIGTERM);
    G.handles_open += 3;
    pump_connects();

    while (!G.closing)
        uv_run(&loop, UV_RUN_ONCE);
    /* Connections close (on_close for each), then the handles. */
    for (uint32_t i = 0; i < G.n; i++)
        uv_close((uv_handle_t *)&G.a[i].timer, close_cb);
    uv_close((uv_handle_t *)&G.tick, close_cb);
    uv_close((uv_handle_t *)&G.sigint, close_cb);
    uv_close((uv_handle_t *)&G.sigterm, close_cb);
    uv_run(&loop, UV_RUN_DEFAULT);
    report();
    rc = G.all_connected_ms && !G.drain_timed_out && !G.storm_timed_out && unacked() == 0 &&
                 ((!G.storm && !G.wait_restart) || G.storm_end_ms)
             ? 0 : 1;
    for (uint32_t i = 0; i < G.n; i++) {
        vg_tls_config_free(G.a[i].tls);
        vg_tls_session_free(G.a[i].session);
    }
    free(G.a);
    free(G.sent_us);
    uv_loop_close(&loop);
    return rc;
}
