/*
 * The eBPF process source: loads the CO-RE programs of bpf/proc.bpf.c
 * (embedded in the binary as a libbpf skeleton), attaches them to the
 * sched_process_exec, _exit and _fork BTF tracepoints, and drains their
 * ring buffer from the libuv loop (uv_poll on the ring buffer's epoll fd).
 * Needs BTF (/sys/kernel/btf/vmlinux) and CAP_BPF plus CAP_PERFMON (or
 * root).
 *
 * Pinning ([telemetry] bpf_pin_dir, default /sys/fs/bpf/vigil): the
 * programs stay attached and their ring buffer keeps filling while no
 * agent runs (killed, restarting, upgraded), and the next agent reads
 * what waited there.  In bpffs, under the pin directory:
 *
 *   events       the ring buffer (BPF_MAP_TYPE_RINGBUF)
 *   drops        records the ring could not take, per CPU, cumulative
 *   conf         struct vg_proc_conf: the agent's pid and wake-up
 *                threshold, the drops already counted, and the stamp of
 *                the build that pinned them (SHA-256 of the BPF object,
 *                VG_PROC_ABI, ring size); pinned last, so that a
 *                directory without it is a half-done pinning
 *   link_exec    the three program links
 *   link_exit
 *   link_fork
 *
 * An agent reuses what it finds when the stamp matches its own object
 * and ring size.  Otherwise it loads and attaches its own programs
 * first, then detaches the old ones, reads what waited in the old ring
 * (when the record layout is the same; else counts it as loss), and pins
 * its own in their place: nothing is lost, and an exec in the
 * microseconds both sets were attached comes twice (same pid and start
 * time).  Drops are counted once across agents: each agent records in
 * conf what it has counted, and the next one reports the rest.  The
 * directory is flock()ed: a second agent with the same pin directory
 * runs unpinned rather than steal the first one's events.
 *
 * A clean stop keeps the pins (an upgrade loses nothing).  To remove
 * them (uninstalling): rm -rf /sys/fs/bpf/vigil (the packages' postrm
 * does), after which the programs detach.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpf/proc.h"
#include "crc32c.h"
#include "crypto.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "proc.skel.h"

#define DRAIN_MS 200 /* the ring is read this often (and when wake_bytes pile up) */
#define BURST_MAX 4096 /* records handed on at a time */
#define HELD_MAX 1024  /* bursts handed on, waiting to be in the spool */
#define GONE_SLOTS 1024 /* exits remembered per burst (power of two) */
#define BPFFS_MAGIC 0xcafe4a11
#define NLINKS 3

static const char *const link_names[NLINKS] = { "link_exec", "link_exit", "link_fork" };

/* A BPF ring buffer mapped as the kernel lays it out: the consumer
 * position (ours to write) on its own page, then the producer position
 * and the data, mapped twice in a row so that a record that wraps reads
 * as one. */
struct ring {
    unsigned long *consumer_pos;
    const unsigned long *producer_pos;
    const uint8_t *data;
    size_t mask, page, map_len;
    uint32_t id;            /* tells this ring from any other (ring_id below) */
    unsigned long read_pos; /* records before it are handed on */
    /* Bursts handed on and not yet in the spool, oldest first: the
     * consumer position moves to a burst's end once the sink's acked()
     * reaches the events handed() counted at its end. */
    struct held {
        uint64_t handed;
        unsigned long end;
    } held[HELD_MAX];
    unsigned nheld, held_head;
};

struct proc_bpf {
    struct proc_sink sink;
    struct proc_bpf_obj *obj; /* loaded by this agent; NULL: pinned programs reused */
    /* The maps in use: the skeleton's, or opened from the pins (own_fds). */
    int events_fd, drops_fd, conf_fd, own_fds;
    int dir_fd;               /* the pin directory, flock()ed; -1: not pinned */
    uint64_t drops_base;      /* drops counted by earlier agents (conf.drops_acct) */
    uint64_t carry;           /* loss found at open (an old build's ring and drops) */
    struct ring ring;           /* ours, read here (not by libbpf: see consume) */
    const struct gone *gone;    /* while consuming: the burst's exits */
    struct ring_buffer *old_rb; /* an old build's ring, read once before ours */
    int old_events_fd;
    uv_poll_t poll;
    uv_timer_t drain; /* the kernel wakes us only for big backlogs */
    int closing;
    void (*done)(void *arg);
    void *done_arg;
};

/* What a pin directory holds; -1 for what is missing. */
struct pinned {
    int events, drops, conf, links[NLINKS];
    int conf_ok;       /* conf read, and of this layout */
    struct vg_proc_conf c;
    uint32_t ring_size;
};

/* libbpf's own messages: warnings and errors only, into our log. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char buf[512];
    if (level == LIBBPF_DEBUG || level == LIBBPF_INFO)
        return 0;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("[in_proc] libbpf: %s", buf);
    return 0;
}

/* The exits in a burst, by pid and start: an exec among them need not
 * look in /proc (its cwd and exe are gone with it). */
struct gone {
    uint32_t pid[GONE_SLOTS];
    uint64_t start[GONE_SLOTS];
    unsigned n;
};

static void gone_add(struct gone *g, uint32_t pid, uint64_t start)
{
    unsigned i = (pid * 2654435761u) & (GONE_SLOTS - 1);
    if (!pid || g->n >= GONE_SLOTS / 4 * 3)
        return; /* crowded: the rest are looked up in /proc as before */
    while (g->pid[i] && !(g->pid[i] == pid && g->start[i] == start))
        i = (i + 1) & (GONE_SLOTS - 1);
    if (!g->pid[i])
        g->n++;
    g->pid[i] = pid;
    g->start[i] = start;
}

static int gone_has(const struct gone *g, uint32_t pid, uint64_t start)
{
    unsigned i = (pid * 2654435761u) & (GONE_SLOTS - 1);
    if (!g || !pid)
        return 0;
    for (; g->pid[i]; i = (i + 1) & (GONE_SLOTS - 1))
        if (g->pid[i] == pid && g->start[i] == start)
            return 1;
    return 0;
}

static int on_record(void *ctx, void *data, size_t len)
{
    struct proc_bpf *b = ctx;
    unsigned type;

    if (len < sizeof(unsigned))
        return 0;
    memcpy(&type, data, sizeof(type));
    if (type == VG_PROC_EXEC && len >= offsetof(struct vg_proc_exec, argv)) {
        const struct vg_proc_exec *r = data;
        struct proc_exec e;
        char path[VG_PROC_PATH_MAX + 1];
        size_t alen = len - offsetof(struct vg_proc_exec, argv);
        memset(&e, 0, sizeof(e));
        e.pid = r->pid;
        e.ppid = r->ppid;
        e.uid = r->uid;
        e.euid = r->euid;
        e.gid = r->gid;
        e.egid = r->egid;
        e.login_uid = r->login_uid;
        e.session_id = r->session_id;
        e.start_boot_ns = r->start_boot_ns;
        e.cgroup_id = r->cgroup_id;
        memcpy(e.comm, r->comm, VG_PROC_COMM);
        e.comm[VG_PROC_COMM] = '\0';
        memcpy(path, r->path, VG_PROC_PATH_MAX);
        path[VG_PROC_PATH_MAX] = '\0';
        e.path = path;
        e.argv = r->argv;
        e.argv_len = r->argv_len < alen ? r->argv_len : alen;
        e.argv_truncated = (r->flags & VG_PROC_ARGV_TRUNC) != 0;
        e.path_truncated = (r->flags & VG_PROC_PATH_TRUNC) != 0;
        if (r->flags & VG_PROC_ARGV_FAULT)
            e.unknown |= PROC_UNKNOWN_ARGV;
        e.exited = gone_has(b->gone, r->pid, r->start_boot_ns);
        b->sink.exec(b->sink.ctx, &e);
    } else if (type == VG_PROC_FORK && len >= sizeof(struct vg_proc_fork)) {
        const struct vg_proc_fork *r = data;
        struct proc_fork f;
        f.pid = r->pid;
        f.ppid = r->ppid;
        f.start_boot_ns = r->start_boot_ns;
        if (b->sink.fork)
            b->sink.fork(b->sink.ctx, &f);
    } else if (type == VG_PROC_EXIT && len >= sizeof(struct vg_proc_exit)) {
        const struct vg_proc_exit *r = data;
        struct proc_exit x;
        memset(&x, 0, sizeof(x));
        x.pid = r->pid;
        x.ppid = r->ppid;
        x.status = r->exit_code;
        x.start_boot_ns = r->start_boot_ns;
        x.exit_boot_ns = r->exit_boot_ns;
        memcpy(x.comm, r->comm, VG_PROC_COMM);
        x.comm[VG_PROC_COMM] = '\0';
        b->sink.exit(b->sink.ctx, &x);
    }
    return 0;
}

/* ---- our ring ---- */

/* The kernel's map ids start again at each boot (and positions at 0 in
 * a new ring): a ring is this boot's id and the map's, never 0. */
static uint32_t ring_id(uint32_t map_id)
{
    char *boot = NULL;
    size_t len = 0;
    uint32_t c = 0;
    if (vg_file_read("/proc/sys/kernel/random/boot_id", 64, &boot, &len) == 0)
        c = vg_crc32c(0, boot, len);
    free(boot);
    return vg_crc32c(c, &map_id, sizeof(map_id)) | 1u;
}

static int ring_map(struct ring *r, int fd)
{
    struct bpf_map_info info;
    __u32 ilen = sizeof(info);
    void *p;

    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &ilen) != 0)
        return -errno;
    if (info.type != BPF_MAP_TYPE_RINGBUF || !info.max_entries ||
        (info.max_entries & (info.max_entries - 1)))
        return -EINVAL;
    r->page = (size_t)sysconf(_SC_PAGESIZE);
    r->mask = info.max_entries - 1;
    p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    r->consumer_pos = p;
    r->map_len = r->page + 2 * (size_t)info.max_entries;
    p = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, fd, (off_t)r->page);
    if (p == MAP_FAILED) {
        int e = -errno;
        munmap(r->consumer_pos, r->page);
        r->consumer_pos = NULL;
        return e;
    }
    r->producer_pos = p;
    r->data = (const uint8_t *)p + r->page;
    r->id = ring_id(info.id);
    r->read_pos = *r->consumer_pos;
    return 0;
}

static void ring_unmap(struct ring *r)
{
    if (r->consumer_pos)
        munmap(r->consumer_pos, r->page);
    if (r->producer_pos)
        munmap((void *)r->producer_pos, r->map_len);
    memset(r, 0, sizeof(*r));
}

/* A record's payload length, from its header, and the room it takes. */
static size_t rec_payload(uint32_t hdr)
{
    return hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
}

static size_t rec_len(uint32_t hdr)
{
    return (rec_payload(hdr) + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
}

/* Lets go of the records whose events are all in the spool.  (Until then
 * they take room in the ring: ring_buffer_size is sized for that.) */
static void release(struct proc_bpf *b)
{
    struct ring *r = &b->ring;
    uint64_t acked;

    if (!r->consumer_pos || !r->nheld)
        return;
    acked = b->sink.acked(b->sink.ctx);
    while (r->nheld && r->held[r->held_head].handed <= acked) {
        __atomic_store_n(r->consumer_pos, r->held[r->held_head].end, __ATOMIC_RELEASE);
        r->held_head = (r->held_head + 1) % HELD_MAX;
        r->nheld--;
    }
}

/* Reads what the ring holds in bursts of at most BURST_MAX records, each
 * handed to the sink between its burst(0) and burst(1).  The consumer
 * position moves past them only once the sink says their events are in
 * the spool (release): a process killed before that -- the agent, its
 * network process or both -- leaves them on the ring (pinned, the next
 * agent reads them again; the network process skips what its spool
 * already holds, by the ring position each event is tagged with).
 * libbpf's reader would let each record go before it was handed on. */
static void consume(struct proc_bpf *b)
{
    struct ring *r = &b->ring;
    struct gone *g;
    int gated = b->sink.acked && b->sink.handed && b->sink.origin;

    if (!r->consumer_pos || !(g = malloc(sizeof(*g))))
        return;
    if (gated)
        release(b);
    for (;;) {
        unsigned long cons = gated ? r->read_pos : *r->consumer_pos, end = cons;
        unsigned n = 0;

        if (gated && r->nheld == HELD_MAX)
            break;
        unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);

        /* First pass: how far the burst goes, and the exits in it. */
        memset(g, 0, sizeof(*g));
        while (end < prod && n < BURST_MAX) {
            const uint8_t *h = r->data + (end & r->mask);
            uint32_t hdr = __atomic_load_n((const uint32_t *)(const void *)h, __ATOMIC_ACQUIRE);
            size_t len = rec_payload(hdr);
            if (hdr & BPF_RINGBUF_BUSY_BIT)
                break; /* being written: the next drain */
            if (len > r->mask)
                break; /* cannot be: the kernel's layout is not what we know */
            if (!(hdr & BPF_RINGBUF_DISCARD_BIT) && len >= sizeof(struct vg_proc_exit)) {
                struct vg_proc_exit x;
                memcpy(&x, h + BPF_RINGBUF_HDR_SZ, sizeof(x));
                if (x.type == VG_PROC_EXIT)
                    gone_add(g, x.pid, x.start_boot_ns);
            }
            end += rec_len(hdr);
            n++;
        }
        if (end == cons)
            break;
        /* Second pass: handed on, then let go. */
        b->gone = g;
        if (b->sink.burst)
            b->sink.burst(b->sink.ctx, 0);
        for (unsigned long at = cons; at < end;) {
            const uint8_t *h = r->data + (at & r->mask);
            uint32_t hdr;
            memcpy(&hdr, h, sizeof(hdr));
            if (gated)
                b->sink.origin(b->sink.ctx, r->id, at + rec_len(hdr));
            if (!(hdr & BPF_RINGBUF_DISCARD_BIT))
                on_record(b, (void *)(h + BPF_RINGBUF_HDR_SZ), rec_payload(hdr));
            at += rec_len(hdr);
        }
        if (gated)
            b->sink.origin(b->sink.ctx, 0, 0);
        if (b->sink.burst)
            b->sink.burst(b->sink.ctx, 1);
        b->gone = NULL;
        if (gated) {
            r->read_pos = end;
            r->held[(r->held_head + r->nheld) % HELD_MAX] =
                (struct held){ .handed = b->sink.handed(b->sink.ctx), .end = end };
            r->nheld++;
            release(b);
            if (r->nheld == HELD_MAX)
                break; /* the spool is behind: wait for it (drain_cb) */
        } else {
            __atomic_store_n(r->consumer_pos, end, __ATOMIC_RELEASE);
        }
        if (n < BURST_MAX)
            break;
    }
    free(g);
}

static int count_record(void *ctx, void *data, size_t len)
{
    (void)data;
    (void)len;
    ++*(uint64_t *)ctx;
    return 0;
}

/* An old build's ring, left when its programs were replaced: read (its
 * records are older than ours) before ours, once. */
static void drain_old(struct proc_bpf *b)
{
    if (!b->old_rb)
        return;
    ring_buffer__consume(b->old_rb);
    ring_buffer__free(b->old_rb);
    b->old_rb = NULL;
    close(b->old_events_fd);
    b->old_events_fd = -1;
}

static void readable(uv_poll_t *h, int status, int events);

/* Records are taken off the ring only while the sink can hand them on
 * durably (the network process is there to take them): otherwise they
 * wait in the ring, which outlives this process; a ring that fills is
 * counted as loss by the kernel side. */
static int may_consume(struct proc_bpf *b)
{
    if (!b->sink.ready || b->sink.ready(b->sink.ctx)) {
        if (b->closing == 0 && !uv_is_active((uv_handle_t *)&b->poll))
            uv_poll_start(&b->poll, UV_READABLE, readable);
        return 1;
    }
    /* The ring's epoll fd stays readable: stop watching it meanwhile. */
    if (uv_is_active((uv_handle_t *)&b->poll))
        uv_poll_stop(&b->poll);
    return 0;
}

void proc_bpf_spooled(struct proc_bpf *b)
{
    if (b && b->sink.acked)
        release(b);
}

/* The ring's fd polls readable while records are unreleased: once all
 * are read and wait only for the spool, the timer takes over. */
static void quiet(struct proc_bpf *b)
{
    if (b->ring.nheld && uv_is_active((uv_handle_t *)&b->poll))
        uv_poll_stop(&b->poll);
}

static void drain_cb(uv_timer_t *t)
{
    struct proc_bpf *b = t->data;
    if (b->sink.acked)
        release(b);
    if (!may_consume(b))
        return;
    drain_old(b);
    consume(b);
    quiet(b);
}

static void readable(uv_poll_t *h, int status, int events)
{
    struct proc_bpf *b = h->data;
    (void)events;
    if (status < 0 || !may_consume(b))
        return;
    drain_old(b);
    consume(b);
    quiet(b);
}

/* ---- pinning ---- */

static uint64_t sum_drops(int fd)
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t total = 0, *v;
    if (fd < 0 || ncpu <= 0 || ncpu > 4096 || !(v = calloc((size_t)ncpu, sizeof(*v))))
        return 0;
    for (uint32_t key = 0; key < 3; key++)
        if (bpf_map_lookup_elem(fd, &key, v) == 0)
            for (int i = 0; i < ncpu; i++)
                total += v[i];
    free(v);
    return total;
}

static int read_conf(int fd, struct vg_proc_conf *c)
{
    struct bpf_map_info info;
    __u32 len = sizeof(info), zero = 0;
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.type != BPF_MAP_TYPE_ARRAY ||
        info.value_size != sizeof(*c) || info.max_entries != 1)
        return -EINVAL;
    return bpf_map_lookup_elem(fd, &zero, c) == 0 ? 0 : -errno;
}

static int pin_get(const char *dir, const char *name)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -1;
    return bpf_obj_get(path);
}

static void pinned_open(const char *dir, struct pinned *p)
{
    struct bpf_map_info info;
    __u32 len = sizeof(info);
    memset(p, 0, sizeof(*p));
    p->events = pin_get(dir, "events");
    p->drops = pin_get(dir, "drops");
    p->conf = pin_get(dir, "conf");
    for (int i = 0; i < NLINKS; i++)
        p->links[i] = pin_get(dir, link_names[i]);
    p->conf_ok = p->conf >= 0 && read_conf(p->conf, &p->c) == 0;
    memset(&info, 0, sizeof(info));
    if (p->events >= 0 && bpf_obj_get_info_by_fd(p->events, &info, &len) == 0 &&
        info.type == BPF_MAP_TYPE_RINGBUF)
        p->ring_size = info.max_entries;
}

static int pinned_any(const struct pinned *p)
{
    int any = p->events >= 0 || p->drops >= 0 || p->conf >= 0;
    for (int i = 0; i < NLINKS; i++)
        any |= p->links[i] >= 0;
    return any;
}

static void pinned_close(struct pinned *p)
{
    int *fds[] = { &p->events, &p->drops, &p->conf, &p->links[0], &p->links[1], &p->links[2] };
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* Whole, and pinned by this very build with this ring size? */
static int pinned_reusable(const struct pinned *p, const struct vg_proc_conf *want)
{
    for (int i = 0; i < NLINKS; i++)
        if (p->links[i] < 0)
            return 0;
    return p->events >= 0 && p->drops >= 0 && p->conf_ok && p->c.abi == want->abi &&
           p->c.ring_size == want->ring_size && p->ring_size == want->ring_size &&
           memcmp(p->c.obj_sha256, want->obj_sha256, sizeof(want->obj_sha256)) == 0;
}

static void unpin_all(const char *dir)
{
    static const char *const names[] = { "conf", "link_exec", "link_exit", "link_fork", "drops",
                                         "events" };
    /* conf first: a directory without it is known to be half-done. */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (unlink(path) < 0 && errno != ENOENT)
            log_warn("[in_proc] cannot unpin %s", path);
    }
}

/* Makes dir (on bpffs, mounting /sys/fs/bpf as systemd does where nobody
 * has) and locks it for this agent.  Returns the directory's fd, or
 * -errno with a reason in err. */
static int pin_dir_lock(const char *dir, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    struct statfs sf;
    char *slash;
    int fd;

    if ((size_t)snprintf(parent, sizeof(parent), "%s", dir) >= sizeof(parent) || dir[0] != '/') {
        snprintf(err, errlen, "bpf_pin_dir %s: not an absolute path", dir);
        return -EINVAL;
    }
    slash = strrchr(parent, '/');
    *(slash == parent ? slash + 1 : slash) = '\0';
    if (statfs(parent, &sf) == 0 && sf.f_type != BPFFS_MAGIC && strcmp(parent, "/sys/fs/bpf") == 0) {
        if (mount("bpf", parent, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") == 0)
            log_info("[in_proc] mounted bpffs on %s (for pinning)", parent);
    }
    if (statfs(parent, &sf) != 0 || sf.f_type != BPFFS_MAGIC) {
        snprintf(err, errlen, "%s is not on a BPF file system (bpffs)", parent);
        return -ENOTSUP;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -errno;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s is in use by another agent (%s)", dir,
                 e == EWOULDBLOCK ? "locked" : strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

/* Pins what this agent loaded, conf last.  Returns 0 or -errno. */
static int pin_new(struct proc_bpf *b, const char *dir)
{
    struct bpf_link *links[NLINKS] = { b->obj->links.vg_exec, b->obj->links.vg_exit,
                                       b->obj->links.vg_fork };
    char path[PATH_MAX];
    int rc;

    snprintf(path, sizeof(path), "%s/events", dir);
    if ((rc = bpf_map__pin(b->obj->maps.events, path)) != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/drops", dir);
    if ((rc = bpf_map__pin(b->obj->maps.drops, path)) != 0)
        return rc;
    for (int i = 0; i < NLINKS; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, link_names[i]);
        if ((rc = bpf_link__pin(links[i], path)) != 0)
            return rc;
    }
    snprintf(path, sizeof(path), "%s/conf", dir);
    return bpf_map__pin(b->obj->maps.conf, path);
}

/* Takes over what an earlier agent pinned: its maps become ours, and the
 * conf gets our pid. */
static void reuse(struct proc_bpf *b, struct pinned *old, const struct vg_proc_conf *want)
{
    __u32 zero = 0;
    struct vg_proc_conf c = old->c;

    b->events_fd = old->events;
    b->drops_fd = old->drops;
    b->conf_fd = old->conf;
    b->own_fds = 1;
    old->events = old->drops = old->conf = -1;
    b->drops_base = c.drops_acct;
    c.self_tgid = want->self_tgid;
    c.wake_bytes = want->wake_bytes;
    if (bpf_map_update_elem(b->conf_fd, &zero, &c, BPF_ANY) != 0)
        log_warn("[in_proc] cannot set this agent's pid in the pinned programs");
    pinned_close(old); /* the links: their pins keep them */
}

/* Our programs are attached: the old ones (another build, or a half-done
 * pinning) go, and what waits in their ring is read or counted. */
static void retire(struct proc_bpf *b, struct pinned *old, const char *dir)
{
    uint64_t n = 0;

    unpin_all(dir);
    for (int i = 0; i < NLINKS; i++) {
        if (old->links[i] >= 0)
            close(old->links[i]); /* the last reference: detached */
        old->links[i] = -1;
    }
    if (old->drops >= 0) {
        uint64_t total = sum_drops(old->drops), acct = old->conf_ok ? old->c.drops_acct : 0;
        if (total > acct)
            b->carry += total - acct;
    }
    if (old->events >= 0) {
        if (old->conf_ok && old->c.abi == VG_PROC_ABI) {
            b->old_rb = ring_buffer__new(old->events, on_record, b, NULL);
            if (b->old_rb) {
                b->old_events_fd = old->events;
                old->events = -1;
            }
        } else {
            struct ring_buffer *rb = ring_buffer__new(old->events, count_record, &n, NULL);
            if (rb) {
                ring_buffer__consume(rb);
                ring_buffer__free(rb);
            }
            b->carry += n;
            if (n)
                log_warnx("[in_proc] %llu process events of an older agent's ring buffer are "
                          "in a format this one cannot read: counted as lost",
                          (unsigned long long)n);
        }
    }
    pinned_close(old);
}

int proc_bpf_open(uv_loop_t *loop, const struct proc_sink *sink, uint64_t ring_size,
                  const char *pin_dir, struct proc_bpf **out, char *err, size_t errlen)
{
    struct proc_bpf *b;
    struct vg_proc_conf want;
    struct pinned old;
    const void *elf;
    size_t elf_len = 0;
    __u32 zero = 0;
    int rc = 0;

    *out = NULL;
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        snprintf(err, errlen, "the kernel has no BTF (/sys/kernel/btf/vmlinux)");
        return -ENOTSUP;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->sink = *sink;
    b->events_fd = b->drops_fd = b->conf_fd = b->dir_fd = b->old_events_fd = -1;
    memset(&old, 0, sizeof(old));
    for (int i = 0; i < NLINKS; i++)
        old.links[i] = -1;
    old.events = old.drops = old.conf = -1;
    libbpf_set_print(libbpf_log);

    /* A power of two, at least a page. */
    while (ring_size & (ring_size - 1))
        ring_size &= ring_size - 1;
    if (ring_size < 65536)
        ring_size = 65536;
    memset(&want, 0, sizeof(want));
    want.self_tgid = (unsigned)getpid();
    want.abi = VG_PROC_ABI;
    want.wake_bytes = ring_size / 4 < 65536 ? ring_size / 4 : 65536;
    want.ring_size = ring_size;
    elf = proc_bpf_obj__elf_bytes(&elf_len);
    vg_sha256(elf, elf_len, want.obj_sha256);

    if (pin_dir && pin_dir[0]) {
        char why[PATH_MAX + 64];
        b->dir_fd = pin_dir_lock(pin_dir, why, sizeof(why));
        if (b->dir_fd < 0)
            log_warnx("[in_proc] not pinning the eBPF programs: %s (execs while no agent runs "
                      "will not be seen)", why);
    }
    if (b->dir_fd >= 0) {
        pinned_open(pin_dir, &old);
        if (pinned_reusable(&old, &want)) {
            reuse(b, &old, &want);
            log_info("[in_proc] eBPF programs pinned in %s reused: what happened while no agent "
                     "ran is read now", pin_dir);
            goto ring;
        }
        if (pinned_any(&old))
            log_info("[in_proc] eBPF objects pinned in %s are %s: replacing them", pin_dir,
                     old.conf_ok ? "of another build or ring size" : "incomplete");
    }

    b->obj = proc_bpf_obj__open();
    if (!b->obj) {
        rc = -errno;
        snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
        goto fail;
    }
    bpf_map__set_max_entries(b->obj->maps.events, (unsigned)ring_size);
    if ((rc = proc_bpf_obj__load(b->obj)) != 0) {
        snprintf(err, errlen, "cannot load the BPF programs: %s%s", strerror(-rc),
                 rc == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
        goto fail;
    }
    b->events_fd = bpf_map__fd(b->obj->maps.events);
    b->drops_fd = bpf_map__fd(b->obj->maps.drops);
    b->conf_fd = bpf_map__fd(b->obj->maps.conf);
    if (bpf_map_update_elem(b->conf_fd, &zero, &want, BPF_ANY) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot configure the BPF programs: %s", strerror(errno));
        goto fail;
    }
    if ((rc = proc_bpf_obj__attach(b->obj)) != 0) {
        snprintf(err, errlen, "cannot attach to the sched_process tracepoints: %s",
                 strerror(-rc));
        goto fail;
    }
    if (b->dir_fd >= 0) {
        retire(b, &old, pin_dir);
        if ((rc = pin_new(b, pin_dir)) != 0) {
            log_warnx("[in_proc] cannot pin the eBPF programs in %s: %s (running unpinned)",
                      pin_dir, strerror(-rc));
            unpin_all(pin_dir);
            close(b->dir_fd);
            b->dir_fd = -1;
        } else {
            log_info("[in_proc] eBPF programs pinned in %s", pin_dir);
        }
    }
ring:
    if ((rc = ring_map(&b->ring, b->events_fd)) != 0) {
        snprintf(err, errlen, "cannot map the ring buffer: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = uv_poll_init(loop, &b->poll, b->events_fd)) != 0) {
        snprintf(err, errlen, "cannot poll the ring buffer: %s", uv_strerror(rc));
        goto fail;
    }
    b->poll.data = b;
    uv_poll_start(&b->poll, UV_READABLE, readable);
    uv_timer_init(loop, &b->drain);
    b->drain.data = b;
    uv_timer_start(&b->drain, drain_cb, DRAIN_MS, DRAIN_MS);
    /* Loading parsed the kernel's BTF (megabytes); give that memory back. */
    malloc_trim(0);
    *out = b;
    return 0;
fail:
    pinned_close(&old);
    ring_unmap(&b->ring);
    ring_buffer__free(b->old_rb);
    if (b->old_events_fd >= 0)
        close(b->old_events_fd);
    if (b->own_fds) {
        close(b->events_fd);
        close(b->drops_fd);
        close(b->conf_fd);
    }
    proc_bpf_obj__destroy(b->obj);
    if (b->dir_fd >= 0)
        close(b->dir_fd);
    free(b);
    return rc ? rc : -EINVAL;
}

uint64_t proc_bpf_drops(struct proc_bpf *b)
{
    uint64_t total = sum_drops(b->drops_fd);
    __u32 zero = 0;
    struct vg_proc_conf c;

    /* Recorded as counted, for the next agent to count only the rest.
     * (Unpinned, nobody comes after: the map dies with us.) */
    if (b->dir_fd >= 0 && bpf_map_lookup_elem(b->conf_fd, &zero, &c) == 0 &&
        c.drops_acct != total) {
        c.drops_acct = total;
        bpf_map_update_elem(b->conf_fd, &zero, &c, BPF_ANY);
    }
    return (total > b->drops_base ? total - b->drops_base : 0) + b->carry;
}

int proc_bpf_pinned_lost(const char *pin_dir, uint64_t *lost)
{
    struct vg_proc_conf c;
    int drops, conf, rc = -ENOENT;

    *lost = 0;
    if (!pin_dir || !pin_dir[0])
        return -ENOENT;
    drops = pin_get(pin_dir, "drops");
    conf = pin_get(pin_dir, "conf");
    if (drops >= 0 && conf >= 0 && read_conf(conf, &c) == 0) {
        uint64_t total = sum_drops(drops);
        *lost = total > c.drops_acct ? total - c.drops_acct : 0;
        rc = 0;
    }
    if (drops >= 0)
        close(drops);
    if (conf >= 0)
        close(conf);
    return rc;
}

static void closed(uv_handle_t *h)
{
    struct proc_bpf *b = h->data;
    void (*done)(void *) = b->done;
    if (--b->closing > 0)
        return;
    void *arg = b->done_arg;
    ring_unmap(&b->ring);
    if (b->dir_fd >= 0) {
        /* Our pid may be another process's by the next start. */
        __u32 zero = 0;
        struct vg_proc_conf c;
        if (bpf_map_lookup_elem(b->conf_fd, &zero, &c) == 0) {
            c.self_tgid = 0;
            bpf_map_update_elem(b->conf_fd, &zero, &c, BPF_ANY);
        }
    }
    if (b->own_fds) {
        close(b->events_fd);
        close(b->drops_fd);
        close(b->conf_fd);
    }
    /* Pinned, the programs stay attached (their pins hold them) and keep
     * filling the ring for the next agent; unpinned, they go with it. */
    proc_bpf_obj__destroy(b->obj);
    if (b->dir_fd >= 0)
        close(b->dir_fd);
    free(b);
    if (done)
        done(arg);
}

void proc_bpf_close(struct proc_bpf *b, void (*done)(void *arg), void *arg)
{
    /* Whatever is still on the ring is delivered first. */
    drain_old(b);
    consume(b);
    b->done = done;
    b->done_arg = arg;
    b->closing = 2;
    uv_close((uv_handle_t *)&b->poll, closed);
    uv_close((uv_handle_t *)&b->drain, closed);
}
