/*
 * in_proc: process telemetry.  Every exec and exit, from the best source
 * the host allows, chosen at start ([telemetry] process_source):
 *
 *   ebpf     BTF tracepoints (proc_bpf.c): every exec with its argv, even
 *            of processes that live a millisecond.
 *   netlink  the process connector (proc_netlink.c): pids from the kernel,
 *            the rest read from /proc at once; fields of processes already
 *            gone are marked unknown.
 *   proc     /proc scanned every process_scan_interval: long-lived
 *            processes only, exits not seen.
 *
 * A source is trusted only once it has delivered the exec of a probe
 * child the agent starts (/bin/true vigil-probe-PID-N); if it stays
 * silent for 3 s the next one is tried.  The choice is logged once and
 * reported in every health event.
 *
 * A full process table (ProcessSnapshot) is sent at start and every
 * process_snapshot_interval.  Execs of one executable beyond
 * exec_rate_per_exe per second are counted into one event (`similar`);
 * ring-buffer overruns are reported as loss.  Nothing is dropped
 * silently.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../agent.h"
#include "../proc.h"
#include "../proc_hash.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "util.h"

#define PROBE_TIMEOUT_MS 3000
#define TICK_MS 1000
#define SNAP_PART 500
#define AGG_SLOTS 1024 /* executables tracked per second for aggregation */
#define WAIT_MAX 1024  /* events held back for their executable's hash */
#define AGG_PIDS 65536 /* pids whose execs were counted into an aggregate (power of two) */
#define MEMO 256       /* small per-second caches (power of two) */
#define FORKS_MIN 256  /* forks waiting to see whether they exec: the table grows */
#define FORKS_MAX 8192 /* to this (powers of two) and shrinks back when empty */
#define FORK_GRACE_MS 1000
#define FORK_READS 256

struct fork_rec {
    uint32_t pid, ppid; /* pid 0: free */
    uint64_t start_boot_ns;
    uint64_t seen_ms;
};

/* What a burst of execs shares: the same parent, the same cgroup, the
 * same executable.  Remembered for the current second only (cleared by
 * the tick), so that a change is seen within a second. */
struct memo_parent {
    uint32_t pid;
    char *exe;
};
struct memo_cgroup {
    uint64_t id;
    char cid[80];
};
struct memo_hash {
    char *path;
    char sha[65];
    const char *note;
};

/* Events held back, per pid in order: an exec whose executable is being
 * hashed (ticket), and whatever of the same pid follows it (ticket 0:
 * ready, sent as it is once everything before it has gone). */
struct waiting {
    uint64_t ticket;   /* 0: ready */
    uint32_t pid;
    int needs_hash;    /* an exec to re-encode with sha/note */
    char sha[65];
    const char *note;
    uint8_t *ev;
    size_t len;
};

struct agg {
    char *exe;           /* NULL: free slot */
    uint64_t count;      /* execs this second */
    uint32_t similar;    /* of them, not sent one by one */
    uint8_t *held;       /* the first held exec, encoded, stands for them */
    size_t held_len;
};

struct proc_in {
    struct input *in;
    int kind;            /* enum proc_source_kind in use */
    int verified;
    struct proc_sink sink;
    struct proc_bpf *bpf;
    struct proc_netlink *nl;
    uv_timer_t tick, snap, probe_timer, scan;
    uv_process_t *probe; /* running probe child, or NULL */
    struct vg_ratelimit queue_rl;
    uint64_t queue_failed;
    char probe_marker[64];
    uint32_t probe_pid;
    unsigned probe_seq;
    uint64_t drops_reported;
    int64_t drop_first_ms;
    struct agg agg[AGG_SLOTS];
    size_t agg_n; /* slots in use (an idle second scans none) */
    /* Their exits are part of the aggregate too: not sent one by one. */
    uint32_t *agg_pids; /* AGG_PIDS, allocated while in use */
    unsigned agg_pid_ticks;
    /* proc source: pids seen at the last scan (sorted) */
    uint64_t *seen;      /* pid << 32 | start ticks low bits */
    size_t nseen;
    struct proc_hasher *hasher;
    int cgroup2; /* /sys/fs/cgroup is cgroup v2 alone */
    struct fork_rec *forks; /* fork_cap slots, nforks used; NULL when none */
    size_t fork_cap, nforks;
    uint64_t forks_full;
    struct memo_parent m_parent[MEMO];
    struct memo_cgroup m_cgroup[MEMO];
    struct memo_hash m_hash[MEMO];
    size_t memo_n; /* entries filled since the memos were last emptied */
    struct waiting wait[WAIT_MAX];
    size_t nwait;
    uint64_t hash_busy, busy_reported, forks_full_reported;
    int closing;
    void (*done)(struct input *in);
};

static const char *const kind_names[] = { "auto", "ebpf", "netlink", "proc", "off" };

static void source_next(struct proc_in *p);

/* ---- events ------------------------------------------------------------ */

/* Splits NUL-separated argv into protobuf byte fields (pointing into it). */
static size_t split_argv(const char *a, size_t len, ProtobufCBinaryData *out, size_t max)
{
    size_t n = 0, i = 0;
    while (i < len && n < max) {
        size_t l = strnlen(a + i, len - i);
        out[n].data = (uint8_t *)(a + i);
        out[n].len = l;
        n++;
        i += l + 1;
    }
    return n;
}

/* The probe's exec: its pid (netlink may not get to read its argv), or
 * its marker in argv. */
static int is_probe(const struct proc_in *p, const struct proc_exec *e)
{
    if (p->probe_pid && e->pid == p->probe_pid)
        return 1;
    return p->probe_marker[0] && e->argv_len > 0 &&
           memmem(e->argv, e->argv_len, p->probe_marker, strlen(p->probe_marker)) != NULL;
}

static void mark_verified(struct proc_in *p, const char *how)
{
    p->verified = 1;
    uv_timer_stop(&p->probe_timer);
    p->in->agent->proc_source = kind_names[p->kind];
    log_info("[in_proc] process events from %s (verified: %s)", kind_names[p->kind], how);
}

static struct agg *agg_slot(struct proc_in *p, const char *exe)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = exe; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    for (size_t k = 0; k < 8; k++) {
        struct agg *a = &p->agg[(h + k) & (AGG_SLOTS - 1)];
        if (!a->exe) {
            if (!(a->exe = strdup(exe)))
                return NULL;
            p->agg_n++;
            return a;
        }
        if (strcmp(a->exe, exe) == 0)
            return a;
    }
    return NULL; /* table crowded this second: no aggregation for it */
}

static void emit_bytes(struct proc_in *p, const uint8_t *b, size_t len)
{
    uint64_t sup;
    if (bus_event(p->in->agent, b, len) == 0)
        return;
    p->queue_failed++;
    if (vg_ratelimit(&p->queue_rl, &sup))
        log_warnx("[in_proc] a process event could not be queued (%llu so far)",
                  (unsigned long long)p->queue_failed);
}

/* Only a real file path names the program that ran: not a relative one
 * (the agent's cwd is not the process's), not /dev/fd/N or /proc/...
 * (fexecve, memfd: the agent's own descriptors have those numbers), and
 * not a cut one. */
static int hashable(const char *exe, const struct proc_exec *e)
{
    return exe[0] == '/' && strncmp(exe, "/dev/fd/", 8) != 0 && strncmp(exe, "/proc/", 6) != 0 &&
           !e->path_truncated;
}

/* Re-encodes a packed exec event with its hash and sends it. */
static void emit_with_hash(struct proc_in *p, const uint8_t *b, size_t len, const char *sha,
                           const char *note)
{
    Vigil__V1__Event *ev = vigil__v1__event__unpack(NULL, len, b);
    struct vg_buf out;
    if (!ev || ev->kind_case != VIGIL__V1__EVENT__KIND_PROCESS_EXEC) {
        if (ev)
            vigil__v1__event__free_unpacked(ev, NULL);
        emit_bytes(p, b, len);
        return;
    }
    /* The strings belong to the unpacked message until it is freed. */
    {
        char *old_sha = ev->process_exec->exe_sha256, *old_note = ev->process_exec->hash_note;
        ev->process_exec->exe_sha256 = (char *)(sha ? sha : "");
        ev->process_exec->hash_note = (char *)(note ? note : "");
        vg_buf_init(&out, 1u << 20);
        if (vg_pb_pack(&ev->base, &out) == 0)
            emit_bytes(p, out.data, out.len);
        else
            emit_bytes(p, b, len);
        vg_buf_free(&out);
        ev->process_exec->exe_sha256 = old_sha;
        ev->process_exec->hash_note = old_note;
    }
    vigil__v1__event__free_unpacked(ev, NULL);
}

static void release(struct proc_in *p, struct waiting *w)
{
    if (w->needs_hash)
        emit_with_hash(p, w->ev, w->len, w->sha, w->note);
    else
        emit_bytes(p, w->ev, w->len);
    free(w->ev);
}

/* Sends, in order, every held event that is ready and has nothing still
 * waiting before it for the same pid. */
static void release_ready(struct proc_in *p)
{
    uint32_t blocked[WAIT_MAX];
    size_t nb = 0, k = 0;
    for (size_t i = 0; i < p->nwait; i++) {
        struct waiting *w = &p->wait[i];
        int held = w->ticket != 0;
        for (size_t b = 0; b < nb && !held; b++)
            held = blocked[b] == w->pid;
        if (held) {
            blocked[nb++] = w->pid;
            p->wait[k++] = *w;
        } else {
            release(p, w);
        }
    }
    p->nwait = k;
}

/* A hash is done: the events that waited for it go out (in order). */
static void hash_ready(void *ctx, uint64_t ticket, const char *sha, const char *note)
{
    struct proc_in *p = ctx;
    for (size_t i = 0; i < p->nwait; i++) {
        struct waiting *w = &p->wait[i];
        if (w->ticket == ticket) {
            snprintf(w->sha, sizeof(w->sha), "%s", sha ? sha : "");
            w->note = note;
            w->ticket = 0;
        }
    }
    release_ready(p);
}

static int pid_waiting(const struct proc_in *p, uint32_t pid)
{
    for (size_t i = 0; i < p->nwait; i++)
        if (p->wait[i].pid == pid)
            return 1;
    return 0;
}

/* Holds a packed event (taking b's data) behind the pid's earlier ones;
 * with the list full, sends the pid's held events first (unhashed,
 * "busy"), then this one, so that the order still holds. */
static void hold(struct proc_in *p, uint32_t pid, uint64_t ticket, int needs_hash,
                 struct vg_buf *b)
{
    struct waiting *w;
    if (p->nwait == WAIT_MAX) {
        size_t k = 0;
        for (size_t i = 0; i < p->nwait; i++) {
            struct waiting *x = &p->wait[i];
            if (x->pid == pid) {
                if (x->ticket) {
                    x->ticket = 0;
                    x->sha[0] = '\0';
                    x->note = "busy";
                }
                release(p, x);
            } else {
                p->wait[k++] = *x;
            }
        }
        p->nwait = k;
        p->hash_busy++;
        if (p->nwait == WAIT_MAX) {
            if (needs_hash)
                emit_with_hash(p, b->data, b->len, "", "busy");
            else
                emit_bytes(p, b->data, b->len);
            return;
        }
    }
    w = &p->wait[p->nwait++];
    memset(w, 0, sizeof(*w));
    w->ticket = ticket;
    w->pid = pid;
    w->needs_hash = needs_hash;
    w->ev = b->data;
    w->len = b->len;
    b->data = NULL;
    b->len = 0;
}

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The parent's executable (a copy), from the memo or /proc. */
static char *parent_exe(struct proc_in *p, uint32_t ppid)
{
    struct memo_parent *m = &p->m_parent[(ppid * 2654435761u) & (MEMO - 1)];
    char *exe;
    if (m->exe && m->pid == ppid)
        return strdup(m->exe);
    exe = proc_link("", ppid, "exe");
    if (exe) {
        free(m->exe);
        m->exe = strdup(exe);
        m->pid = ppid;
        p->memo_n++;
    }
    return exe;
}

static void container_id(struct proc_in *p, const struct proc_exec *e, char *out, size_t outlen)
{
    uint64_t cgroup_id = e->cgroup_id;
    struct memo_cgroup *m = &p->m_cgroup[(cgroup_id * 0x9E3779B97F4A7C15ull) >> 54 & (MEMO - 1)];
    /* The eBPF cgroup id is the unified hierarchy's: it tells containers
     * apart only where that is the only hierarchy (cgroup v2). */
    if (!p->cgroup2)
        cgroup_id = 0;
    if (cgroup_id && m->id == cgroup_id) {
        snprintf(out, outlen, "%s", m->cid);
        return;
    }
    out[0] = '\0';
    /* Without the memo (cgroup v1), a process whose exit came with its
     * exec is not looked for in /proc: it is almost always reaped by
     * then, and the failed lookup was most of what an exec cost. */
    if (!cgroup_id && e->exited)
        return;
    /* Only what was read is remembered: a process already gone says
     * nothing about its cgroup's container. */
    if (proc_container_id("", e->pid, out, outlen) == 0 && cgroup_id) {
        m->id = cgroup_id;
        p->memo_n++;
        snprintf(m->cid, sizeof(m->cid), "%s", out);
    }
}

/* 1 with sha/note when known (memo or hasher), as proc_hasher_lookup. */
static int exe_hash(struct proc_in *p, const char *exe, char sha[65], const char **note,
                    uint64_t *ticket)
{
    struct memo_hash *m = &p->m_hash[str_hash(exe) & (MEMO - 1)];
    int hr;
    if (m->path && strcmp(m->path, exe) == 0) {
        memcpy(sha, m->sha, 65);
        *note = m->note;
        return 1;
    }
    hr = proc_hasher_lookup(p->hasher, exe, sha, note, ticket);
    if (hr == 1 && (!*note || strcmp(*note, "gone") != 0)) {
        free(m->path);
        m->path = strdup(exe);
        memcpy(m->sha, sha, 65);
        m->note = *note;
        p->memo_n++;
    }
    return hr;
}

static void memo_clear(struct proc_in *p)
{
    if (!p->memo_n)
        return; /* an idle second: nothing to clear, no page touched */
    p->memo_n = 0;
    for (size_t i = 0; i < MEMO; i++) {
        free(p->m_parent[i].exe);
        free(p->m_hash[i].path);
    }
    memset(p->m_parent, 0, sizeof(p->m_parent));
    memset(p->m_cgroup, 0, sizeof(p->m_cgroup));
    memset(p->m_hash, 0, sizeof(p->m_hash));
}

/* ---- forks: reported when they run a second without exec'ing --------- */

/* Forks live in an open-addressed table sized by need, so that an idle
 * agent keeps (and scans) a small one.  A pid is looked for in the 32
 * slots from its hash; freeing a slot (pid 0) never cuts a search short,
 * since every search looks at all 32. */
static struct fork_rec *fork_find(struct proc_in *p, uint32_t pid)
{
    uint32_t h = pid * 2654435761u;
    for (uint32_t k = 0; p->forks && k < 32; k++) {
        struct fork_rec *f = &p->forks[(h + k) & (p->fork_cap - 1)];
        if (f->pid == pid)
            return f;
    }
    return NULL;
}

static void fork_drop(struct proc_in *p, struct fork_rec *f)
{
    f->pid = 0;
    p->nforks--;
}

static struct fork_rec *fork_slot(struct fork_rec *t, size_t cap, uint32_t pid)
{
    uint32_t h = pid * 2654435761u;
    for (uint32_t k = 0; k < 32; k++) {
        struct fork_rec *f = &t[(h + k) & (cap - 1)];
        if (f->pid == 0 || f->pid == pid)
            return f;
    }
    return NULL;
}

/* A table of cap slots holding what the current one holds; 0 or -1. */
static int forks_resize(struct proc_in *p, size_t cap)
{
    struct fork_rec *t = cap ? calloc(cap, sizeof(*t)) : NULL;
    if (!t)
        return -1;
    for (size_t i = 0; i < p->fork_cap; i++) {
        struct fork_rec *f;
        if (!p->forks[i].pid)
            continue;
        if (!(f = fork_slot(t, cap, p->forks[i].pid))) {
            free(t);
            return -1;
        }
        *f = p->forks[i];
    }
    free(p->forks);
    p->forks = t;
    p->fork_cap = cap;
    return 0;
}

static void on_fork(void *ctx, const struct proc_fork *pf)
{
    struct proc_in *p = ctx;
    struct fork_rec *f = NULL;

    if (!pf->pid)
        return;
    if ((p->nforks + 1) * 2 > p->fork_cap && p->fork_cap < FORKS_MAX)
        forks_resize(p, p->fork_cap ? p->fork_cap * 2 : FORKS_MIN);
    while (p->forks && !(f = fork_slot(p->forks, p->fork_cap, pf->pid)) &&
           p->fork_cap < FORKS_MAX && forks_resize(p, p->fork_cap * 2) == 0)
        ;
    if (!f) {
        p->forks_full++; /* a fork storm: these are left to the snapshots */
        return;
    }
    if (f->pid != pf->pid)
        p->nforks++;
    f->pid = pf->pid;
    f->ppid = pf->ppid;
    f->start_boot_ns = pf->start_boot_ns;
    f->seen_ms = vg_time_mono_ms();
}

static void on_exec(void *ctx, const struct proc_exec *e);

static void report_forks(struct proc_in *p)
{
    uint64_t now = vg_time_mono_ms();
    unsigned reads = 0;
    /* Each is a /proc read on the loop: at most FORK_READS a second; the
     * rest wait for the next tick. */
    for (size_t i = 0; p->nforks && i < p->fork_cap && reads < FORK_READS; i++) {
        struct fork_rec f = p->forks[i];
        struct proc_info info;
        struct proc_exec e;
        if (!f.pid || now - f.seen_ms < FORK_GRACE_MS)
            continue;
        fork_drop(p, &p->forks[i]);
        reads++;
        /* Still there (the same process: /proc's start time is coarse). */
        if (proc_read("", f.pid, &info) != 0)
            continue;
        if (info.start_boot_ns + 20000000ULL < f.start_boot_ns ||
            info.start_boot_ns > f.start_boot_ns + 20000000ULL) {
            proc_info_free(&info);
            continue;
        }
        proc_exec_from_info(&e, &info);
        e.ppid = f.ppid;                 /* the kernel's, exact */
        e.start_boot_ns = f.start_boot_ns;
        e.forked = 1;
        on_exec(p, &e);
        proc_info_free(&info);
    }
}

static void agg_pid_add(struct proc_in *p, uint32_t pid)
{
    uint32_t h = pid * 2654435761u;
    if (!p->agg_pids && !(p->agg_pids = calloc(AGG_PIDS, sizeof(*p->agg_pids))))
        return; /* its exit is then sent, harmlessly */
    for (uint32_t k = 0; k < 16 && pid; k++) {
        uint32_t *s = &p->agg_pids[(h + k) & (AGG_PIDS - 1)];
        if (*s == 0 || *s == pid || *s == UINT32_MAX) {
            *s = pid;
            return;
        }
    }
}

static int agg_pid_take(struct proc_in *p, uint32_t pid)
{
    uint32_t h = pid * 2654435761u;
    for (uint32_t k = 0; p->agg_pids && k < 16 && pid; k++) {
        uint32_t *s = &p->agg_pids[(h + k) & (AGG_PIDS - 1)];
        if (*s == pid) {
            *s = UINT32_MAX; /* a tombstone keeps later probes going */
            return 1;
        }
        if (*s == 0)
            return 0;
    }
    return 0;
}

static void on_exec(void *ctx, const struct proc_exec *e)
{
    struct proc_in *p = ctx;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__ProcessExec x = VIGIL__V1__PROCESS_EXEC__INIT;
    ProtobufCBinaryData argv[512];
    char *unknown[8];
    char *cwd, *pexe, *exe_res = NULL;
    char cid[80];
    const char *exe = e->path;
    struct agg *a = NULL;
    struct vg_buf b;
    char sha[65] = "";
    const char *hnote = NULL;
    uint64_t ticket = 0;
    int hr = 1;

    if (!p->verified && p->kind != PROC_SRC_PROC && is_probe(p, e))
        mark_verified(p, "saw the probe's exec");
    if (!e->forked) {
        struct fork_rec *f = fork_find(p, e->pid);
        if (f)
            fork_drop(p, f); /* it exec'd: this event says all */
    }
    /* A relative path ("./x") says little: the kernel's view is better. */
    if ((!exe[0] || exe[0] != '/') && !e->exited) {
        exe_res = proc_link("", e->pid, "exe");
        if (exe_res)
            exe = exe_res;
    }
    if (p->in->conf->exec_rate_per_exe) {
        a = agg_slot(p, exe);
        if (a && ++a->count > p->in->conf->exec_rate_per_exe && a->held) {
            /* Over the rate: counted into the held event. */
            a->similar++;
            agg_pid_add(p, e->pid);
            free(exe_res);
            return;
        }
    }
    container_id(p, e, cid, sizeof(cid));
    if (p->hasher && hashable(exe, e)) {
        /* In a container the path names a file in the container's mount
         * namespace: reach it through the process's root while it lives. */
        char rooted[PATH_MAX + 32];
        const char *hpath = exe;
        if (cid[0] && (size_t)snprintf(rooted, sizeof(rooted), "/proc/%u/root%s", e->pid, exe) <
                          sizeof(rooted))
            hpath = rooted;
        hr = exe_hash(p, hpath, sha, &hnote, &ticket);
    } else if (p->hasher) {
        hnote = "not a file path";
    }
    if (hr != 0) {
        x.exe_sha256 = sha;
        x.hash_note = (char *)(hnote ? hnote : "");
    }
    cwd = e->exited ? NULL : proc_link("", e->pid, "cwd");
    pexe = parent_exe(p, e->ppid);
    x.pid = e->pid;
    x.ppid = e->ppid;
    x.uid = e->uid;
    x.euid = e->euid;
    x.gid = e->gid;
    x.egid = e->egid;
    x.login_uid = e->login_uid;
    x.session_id = e->session_id;
    x.comm = (char *)e->comm;
    x.exe_path.data = (uint8_t *)exe;
    x.exe_path.len = strlen(exe);
    x.n_argv = split_argv(e->argv, e->argv_len, argv, VG_ARRAY_SIZE(argv));
    x.argv = argv;
    x.argv_truncated = e->argv_truncated || x.n_argv == VG_ARRAY_SIZE(argv);
    x.cgroup_id = e->cgroup_id;
    x.start_boot_ns = e->start_boot_ns;
    x.start_time_ms = e->start_boot_ns ? proc_boot_to_wall_ms(e->start_boot_ns) : 0;
    if (cwd) {
        x.cwd.data = (uint8_t *)cwd;
        x.cwd.len = strlen(cwd);
    }
    if (pexe) {
        x.parent_exe.data = (uint8_t *)pexe;
        x.parent_exe.len = strlen(pexe);
    }
    x.container_id = cid;
    x.source = (char *)kind_names[p->kind];
    x.forked = e->forked;
    if (e->unknown & PROC_UNKNOWN_ARGV)
        unknown[x.n_unknown++] = "argv";
    if (e->unknown & PROC_UNKNOWN_EXE)
        unknown[x.n_unknown++] = "exe";
    if (e->unknown & PROC_UNKNOWN_CREDS)
        unknown[x.n_unknown++] = "uid";
    if (e->unknown & PROC_UNKNOWN_LOGIN)
        unknown[x.n_unknown++] = "login_uid";
    if (e->unknown & PROC_UNKNOWN_PPID)
        unknown[x.n_unknown++] = "ppid";
    if (e->unknown & PROC_UNKNOWN_START)
        unknown[x.n_unknown++] = "start";
    if (e->unknown & PROC_UNKNOWN_CGROUP)
        unknown[x.n_unknown++] = "cgroup";
    x.unknown = unknown;
    ev.time_ms = x.start_time_ms ? x.start_time_ms : vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
    ev.process_exec = &x;
    vg_buf_init(&b, 1u << 20);
    if (vg_pb_pack(&ev.base, &b) == 0) {
        if (a && a->count > p->in->conf->exec_rate_per_exe) {
            /* The first over the rate is held; it goes out at the end of
             * the second with the count of those like it (no waiting for
             * a hash here: "busy" if it is not known yet). */
            if (hr == 0) {
                Vigil__V1__Event *ev2 = vigil__v1__event__unpack(NULL, b.len, b.data);
                if (ev2) {
                    struct vg_buf nb;
                    ev2->process_exec->hash_note = "busy";
                    vg_buf_init(&nb, 1u << 20);
                    if (vg_pb_pack(&ev2->base, &nb) == 0) {
                        vg_buf_free(&b);
                        b = nb;
                    } else {
                        vg_buf_free(&nb);
                    }
                    ev2->process_exec->hash_note = NULL;
                    vigil__v1__event__free_unpacked(ev2, NULL);
                }
            }
            a->held = b.data;
            a->held_len = b.len;
            b.data = NULL;
            b.len = 0;
            agg_pid_add(p, e->pid);
        } else if (hr == 0) {
            /* Its executable is being hashed: it waits for the digest;
             * other processes' events go on. */
            hold(p, e->pid, ticket, 1, &b);
        } else if (pid_waiting(p, e->pid)) {
            hold(p, e->pid, 0, 0, &b); /* behind this pid's earlier exec */
        } else {
            emit_bytes(p, b.data, b.len);
        }
    }
    vg_buf_free(&b);
    free(cwd);
    free(pexe);
    free(exe_res);
}

static void on_exit_ev(void *ctx, const struct proc_exit *e)
{
    struct proc_in *p = ctx;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__ProcessExit x = VIGIL__V1__PROCESS_EXIT__INIT;
    struct vg_buf b;

    if (agg_pid_take(p, e->pid))
        return;
    {
        /* A fork that ended within a second without exec'ing (a
         * subshell) was never reported: neither is its end. */
        struct fork_rec *f = fork_find(p, e->pid);
        if (f) {
            fork_drop(p, f);
            return;
        }
    }

    x.pid = e->pid;
    x.ppid = e->ppid;
    x.start_boot_ns = e->start_boot_ns;
    if ((e->status & 0x7f) == 0) {
        x.exit_code = (int32_t)((e->status >> 8) & 0xff);
    } else {
        x.signal = e->status & 0x7f;
        x.core_dumped = (e->status & 0x80) != 0;
    }
    x.lifetime_ns = e->exit_boot_ns > e->start_boot_ns ? e->exit_boot_ns - e->start_boot_ns : 0;
    x.comm = (char *)e->comm;
    x.source = (char *)kind_names[p->kind];
    ev.time_ms = e->exit_boot_ns ? proc_boot_to_wall_ms(e->exit_boot_ns) : vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXIT;
    ev.process_exit = &x;
    vg_buf_init(&b, 64 * 1024);
    if (vg_pb_pack(&ev.base, &b) == 0) {
        /* Its exec still waits for a hash: the exit goes after it. */
        if (pid_waiting(p, e->pid))
            hold(p, e->pid, 0, 0, &b);
        else
            emit_bytes(p, b.data, b.len);
    }
    vg_buf_free(&b);
}

/* ---- the held aggregates, and loss, once a second ---------------------- */

static void flush_aggregates(struct proc_in *p)
{
    for (size_t i = 0; p->agg_n && i < AGG_SLOTS; i++) {
        struct agg *a = &p->agg[i];
        if (!a->exe)
            continue;
        if (a->held) {
            /* Append `similar` (field 18) to the held ProcessExec: the
             * event is field 40 of Event, so re-encode through the API. */
            Vigil__V1__Event *ev = vigil__v1__event__unpack(NULL, a->held_len, a->held);
            if (ev && ev->kind_case == VIGIL__V1__EVENT__KIND_PROCESS_EXEC) {
                struct vg_buf b;
                ev->process_exec->similar = a->similar;
                vg_buf_init(&b, 1u << 20);
                if (vg_pb_pack(&ev->base, &b) == 0)
                    emit_bytes(p, b.data, b.len);
                vg_buf_free(&b);
            }
            if (ev)
                vigil__v1__event__free_unpacked(ev, NULL);
            if (a->similar)
                log_info("[in_proc] %s: %u execs above %llu/s sent as one event", a->exe,
                         a->similar + 1, (unsigned long long)p->in->conf->exec_rate_per_exe);
            free(a->held);
        }
        free(a->exe);
        memset(a, 0, sizeof(*a));
        p->agg_n--;
    }
}

static void report_drops(struct proc_in *p)
{
    uint64_t d = 0;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__LossRecord lr = VIGIL__V1__LOSS_RECORD__INIT;
    int64_t now = vg_time_now_ms();

    if (p->bpf)
        d = proc_bpf_drops(p->bpf);
    else if (p->nl)
        d = proc_netlink_drops(p->nl);
    if (d <= p->drops_reported)
        return;
    lr.source = p->bpf ? "proc.ringbuf" : "proc.netlink";
    lr.count = d - p->drops_reported;
    lr.unit = "events";
    lr.first_time_ms = now - TICK_MS;
    lr.last_time_ms = now;
    lr.reason = p->bpf ? "the kernel's ring buffer was full (execs faster than the agent reads)"
                       : "the netlink socket overflowed (ENOBUFS)";
    ev.time_ms = now;
    ev.kind_case = VIGIL__V1__EVENT__KIND_LOSS;
    ev.loss = &lr;
    if (bus_emit(p->in->agent, &ev) == 0) {
        log_warnx("[in_proc] %llu process events lost: %s", (unsigned long long)lr.count,
                  lr.reason);
        p->drops_reported = d;
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct proc_in *p = t->data;
    int any = 0;
    for (size_t i = 0; p->agg_n && i < AGG_SLOTS && !any; i++)
        any = p->agg[i].similar != 0 || p->agg[i].held != NULL;
    report_forks(p);
    flush_aggregates(p);
    report_drops(p);
    memo_clear(p);
    if (p->hash_busy > p->busy_reported || p->forks_full > p->forks_full_reported) {
        log_warnx("[in_proc] under load: %llu execs sent without waiting for their hash, "
                  "%llu forks not tracked (left to snapshots)",
                  (unsigned long long)p->hash_busy, (unsigned long long)p->forks_full);
        p->busy_reported = p->hash_busy;
        p->forks_full_reported = p->forks_full;
    }
    /* The pids of aggregated execs: forgotten after a quiet second, or
     * when the table is crowded (a later exit is then sent, harmlessly). */
    if ((!any || ++p->agg_pid_ticks >= 10) && p->agg_pids) {
        free(p->agg_pids);
        p->agg_pids = NULL;
        p->agg_pid_ticks = 0;
    }
    /* The fork table back to its smallest once empty. */
    if (!p->nforks && p->fork_cap > FORKS_MIN) {
        free(p->forks);
        p->forks = NULL;
        p->fork_cap = 0;
    }
}

/* ---- snapshots ---------------------------------------------------------- */

static void send_snapshot(struct proc_in *p, int log_it)
{
    struct proc_info *v;
    size_t n, parts;
    int rc = proc_snapshot("", &v, &n);

    if (rc) {
        log_warnx("[in_proc] cannot read /proc for a snapshot: %s", vg_strerror(rc));
        return;
    }
    parts = n ? (n + SNAP_PART - 1) / SNAP_PART : 1;
    for (size_t part = 0; part < parts; part++) {
        size_t from = part * SNAP_PART, k = n - from < SNAP_PART ? n - from : SNAP_PART;
        Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
        Vigil__V1__ProcessSnapshot s = VIGIL__V1__PROCESS_SNAPSHOT__INIT;
        Vigil__V1__ProcessInfo *pi = calloc(k ? k : 1, sizeof(*pi));
        Vigil__V1__ProcessInfo **pp = calloc(k ? k : 1, sizeof(*pp));
        ProtobufCBinaryData *args = calloc(k ? k * 64 : 1, sizeof(*args));
        if (!pi || !pp || !args) {
            free(pi);
            free(pp);
            free(args);
            break;
        }
        for (size_t i = 0; i < k; i++) {
            const struct proc_info *q = &v[from + i];
            vigil__v1__process_info__init(&pi[i]);
            pi[i].pid = q->pid;
            pi[i].ppid = q->ppid;
            pi[i].uid = q->uid;
            pi[i].euid = q->euid;
            pi[i].comm = (char *)q->comm;
            pi[i].exe_path.data = (uint8_t *)q->exe;
            pi[i].exe_path.len = strlen(q->exe);
            pi[i].argv = &args[i * 64];
            pi[i].n_argv = split_argv(q->argv, q->argv_len, &args[i * 64], 64);
            pi[i].argv_truncated = q->argv_truncated || pi[i].n_argv == 64;
            pi[i].start_boot_ns = q->start_boot_ns;
            pi[i].start_time_ms = proc_boot_to_wall_ms(q->start_boot_ns);
            pp[i] = &pi[i];
        }
        s.processes = pp;
        s.n_processes = k;
        s.part = (uint32_t)part + 1;
        s.part_count = (uint32_t)parts;
        ev.time_ms = vg_time_now_ms();
        ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_SNAPSHOT;
        ev.process_snapshot = &s;
        bus_emit(p->in->agent, &ev);
        free(pi);
        free(pp);
        free(args);
    }
    if (log_it)
        log_info("[in_proc] process snapshot: %zu processes", n);
    proc_snapshot_free(v, n);
}

static void snap_cb(uv_timer_t *t)
{
    send_snapshot(t->data, 0);
}

/* ---- the /proc source ---------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void scan_cb(uv_timer_t *t)
{
    struct proc_in *p = t->data;
    struct proc_info *v;
    size_t n;
    uint64_t *now;

    if (proc_snapshot("", &v, &n) != 0)
        return;
    if (!p->verified && n > 0)
        mark_verified(p, "/proc is readable; exits and short-lived processes are not seen");
    now = malloc((n ? n : 1) * sizeof(*now));
    if (!now) {
        proc_snapshot_free(v, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        now[i] = (uint64_t)v[i].pid << 32 | (v[i].start_boot_ns / 10000000ULL & 0xffffffffULL);
    for (size_t i = 0; i < n; i++) {
        struct proc_exec e;
        if (p->seen && bsearch(&now[i], p->seen, p->nseen, sizeof(*now), cmp_u64))
            continue;
        if (!p->seen)
            continue; /* the first scan is the snapshot's business */
        proc_exec_from_info(&e, &v[i]);
        on_exec(p, &e);
    }
    qsort(now, n, sizeof(*now), cmp_u64);
    free(p->seen);
    p->seen = now;
    p->nseen = n;
    proc_snapshot_free(v, n);
}

/* ---- choosing and verifying the source --------------------------------- */

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void probe_exited(uv_process_t *h, int64_t status, int sig)
{
    struct proc_in *p = h->data;
    (void)status;
    (void)sig;
    if (p && p->probe == h)
        p->probe = NULL;
    uv_close((uv_handle_t *)h, free_handle);
}

static void probe_timeout(uv_timer_t *t)
{
    struct proc_in *p = t->data;
    log_warnx("[in_proc] %s delivered no event for the probe within %d s: trying the next "
              "source", kind_names[p->kind], PROBE_TIMEOUT_MS / 1000);
    source_next(p);
}

static void start_probe(struct proc_in *p)
{
    uv_process_options_t o;
    uv_stdio_container_t io[3];
    char *args[5];
    int rc;

    snprintf(p->probe_marker, sizeof(p->probe_marker), "vigil-probe-%d-%u", (int)getpid(),
             ++p->probe_seq);
    /* Alive for a second, so that a source that reads /proc after the
     * event (netlink) still finds it. */
    args[0] = "/bin/sh";
    args[1] = "-c";
    args[2] = "sleep 1";
    args[3] = p->probe_marker;
    args[4] = NULL;
    memset(&o, 0, sizeof(o));
    memset(io, 0, sizeof(io));
    for (int i = 0; i < 3; i++)
        io[i].flags = UV_IGNORE;
    o.file = args[0];
    o.args = args;
    o.exit_cb = probe_exited;
    o.stdio = io;
    o.stdio_count = 3;
    uv_timer_start(&p->probe_timer, probe_timeout, PROBE_TIMEOUT_MS, 0);
    if (p->probe) {
        p->probe->data = NULL; /* an earlier probe, not reaped yet: forget it */
        p->probe = NULL;
    }
    if (!(p->probe = calloc(1, sizeof(*p->probe))))
        return;
    p->probe->data = p;
    rc = uv_spawn(p->in->loop, p->probe, &o);
    if (rc) {
        log_warnx("[in_proc] cannot start the probe /bin/sh: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)p->probe, free_handle);
        p->probe = NULL;
        return;
    }
    p->probe_pid = (uint32_t)p->probe->pid;
}

static void close_source(struct proc_in *p)
{
    if (p->bpf) {
        proc_bpf_close(p->bpf, NULL, NULL);
        p->bpf = NULL;
    }
    if (p->nl) {
        proc_netlink_close(p->nl, NULL, NULL);
        p->nl = NULL;
    }
    uv_timer_stop(&p->scan);
}

/* Opens kind; 0 or an error (logged). */
static int open_source(struct proc_in *p, int kind)
{
    char err[256] = "";
    int rc = 0;

    p->kind = kind;
    p->verified = 0;
    p->drops_reported = 0; /* a new source counts from zero */
    p->in->agent->proc_source = "starting";
    switch (kind) {
    case PROC_SRC_EBPF:
        rc = proc_bpf_open(p->in->loop, &p->sink, p->in->conf->ring_buffer_size,
                           p->in->conf->bpf_pin_dir, &p->bpf, err, sizeof(err));
        break;
    case PROC_SRC_NETLINK:
        rc = proc_netlink_open(p->in->loop, &p->sink, &p->nl, err, sizeof(err));
        break;
    case PROC_SRC_PROC:
        free(p->seen);
        p->seen = NULL;
        p->nseen = 0;
        uv_timer_start(&p->scan, scan_cb, 0, p->in->conf->process_scan_ms);
        break;
    default:
        return -EINVAL;
    }
    if (rc) {
        log_warnx("[in_proc] %s unavailable: %s", kind_names[kind], err[0] ? err : vg_strerror(rc));
        return rc;
    }
    if (kind == PROC_SRC_PROC)
        uv_timer_start(&p->probe_timer, probe_timeout, PROBE_TIMEOUT_MS + p->in->conf->process_scan_ms, 0);
    else
        start_probe(p);
    return 0;
}

/* After kind failed (or at start): the next one auto allows. */
static void source_next(struct proc_in *p)
{
    int configured = p->in->conf->process_source;
    int next = p->kind + 1;

    report_drops(p);
    close_source(p);
    if (configured != PROC_SRC_AUTO) {
        if (p->kind == 0) {
            if (open_source(p, configured) == 0)
                return;
        } else if (configured != PROC_SRC_PROC) {
            /* The one asked for is silent or unavailable: keep scanning
             * /proc so that something is seen, and say so. */
            log_warnx("[in_proc] process_source = %s does not work here; scanning /proc "
                      "instead", kind_names[configured]);
        }
        if (p->kind != PROC_SRC_PROC && open_source(p, PROC_SRC_PROC) == 0)
            return;
        p->in->agent->proc_source = "off";
        return;
    }
    for (; next <= PROC_SRC_PROC; next++)
        if (open_source(p, next) == 0)
            return;
    p->in->agent->proc_source = "off";
    log_warnx("[in_proc] no process source works here: process events are off");
}

static void sink_burst(void *ctx, int end)
{
    struct proc_in *p = ctx;
    if (end)
        bus_release(p->in->agent);
    else
        bus_hold(p->in->agent);
}

static void sink_origin(void *ctx, uint32_t ring, uint64_t pos)
{
    struct proc_in *p = ctx;
    bus_origin(p->in->agent, ring, pos);
}

static uint64_t sink_handed(void *ctx)
{
    struct proc_in *p = ctx;
    return bus_handed(p->in->agent);
}

static uint64_t sink_acked(void *ctx)
{
    struct proc_in *p = ctx;
    return bus_acked(p->in->agent);
}

static void on_spooled(void *ctx)
{
    struct proc_in *p = ctx;
    proc_bpf_spooled(p->bpf);
}

static int sink_ready(void *ctx)
{
    struct proc_in *p = ctx;
    return bus_ready(p->in->agent);
}

static int proc_init(struct input *in)
{
    struct proc_in *p;

    if (in->conf->process_source == PROC_SRC_OFF) {
        in->agent->proc_source = "off";
        in->priv = NULL;
        log_info("[in_proc] process_source = off: no process events");
        return 0;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->in = in;
    in->priv = p;
    p->queue_rl.interval_ms = 10000;
    p->queue_rl.burst = 1;
    p->sink.ctx = p;
    p->sink.exec = on_exec;
    p->sink.exit = on_exit_ev;
    p->sink.fork = on_fork;
    p->sink.ready = sink_ready;
    p->sink.burst = sink_burst;
    p->sink.origin = sink_origin;
    p->sink.handed = sink_handed;
    p->sink.acked = sink_acked;
    in->agent->spooled = on_spooled;
    in->agent->spooled_ctx = p;
    uv_timer_init(in->loop, &p->tick);
    uv_timer_init(in->loop, &p->snap);
    uv_timer_init(in->loop, &p->probe_timer);
    uv_timer_init(in->loop, &p->scan);
    p->tick.data = p->snap.data = p->probe_timer.data = p->scan.data = p;
    {
        struct statfs sf;
        p->cgroup2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270; /* CGROUP2 */
    }
    if (in->conf->hash_max_size)
        p->hasher = proc_hasher_new(in->loop, in->conf->hash_max_size, hash_ready, p);
    send_snapshot(p, 1);
    uv_timer_start(&p->snap, snap_cb, in->conf->process_snapshot_ms,
                   in->conf->process_snapshot_ms);
    uv_timer_start(&p->tick, tick_cb, TICK_MS, TICK_MS);
    p->kind = 0;
    source_next(p);
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct proc_in *p = h->data;
    if (--p->closing > 0)
        return;
    flush_aggregates(p);
    memo_clear(p);
    free(p->seen);
    free(p->agg_pids);
    free(p->forks);
    {
        struct input *in = p->in;
        void (*done)(struct input *) = p->done;
        if (in->agent->spooled_ctx == p) {
            in->agent->spooled = NULL;
            in->agent->spooled_ctx = NULL;
        }
        free(p);
        in->priv = NULL;
        done(in);
    }
}

static void proc_exit_input(struct input *in, void (*done)(struct input *in))
{
    struct proc_in *p = in->priv;
    if (!p) {
        done(in);
        return;
    }
    p->done = done;
    /* Drain what the source holds, report its loss, then stop it. */
    report_drops(p);
    close_source(p);
    for (size_t i = 0; i < p->nwait; i++) {
        if (p->wait[i].ticket) {
            p->wait[i].ticket = 0;
            p->wait[i].note = "busy";
        }
    }
    release_ready(p);
    proc_hasher_close(p->hasher);
    p->hasher = NULL;
    flush_aggregates(p);
    report_drops(p);
    p->closing = 4;
    if (p->probe) {
        p->probe->data = NULL;
        uv_close((uv_handle_t *)p->probe, free_handle);
        p->probe = NULL;
    }
    uv_close((uv_handle_t *)&p->tick, closed);
    uv_close((uv_handle_t *)&p->snap, closed);
    uv_close((uv_handle_t *)&p->probe_timer, closed);
    uv_close((uv_handle_t *)&p->scan, closed);
}

const struct input_ops in_proc_ops = {
    .name = "proc",
    .init = proc_init,
    .exit = proc_exit_input,
};
