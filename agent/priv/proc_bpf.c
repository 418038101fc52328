/*
 * The eBPF process source: loads the CO-RE programs of bpf/proc.bpf.c
 * (embedded in the binary as a libbpf skeleton), attaches them to the
 * sched_process_exec and sched_process_exit BTF tracepoints, and drains
 * their ring buffer from the libuv loop (uv_poll on the ring buffer's
 * epoll fd).  Needs BTF (/sys/kernel/btf/vmlinux) and CAP_BPF plus
 * CAP_PERFMON (or root).
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/proc.h"
#include "log.h"
#include "proc.h"
#include "proc.skel.h"

#define DRAIN_MS 50

struct proc_bpf {
    struct proc_sink sink;
    struct proc_bpf_obj *obj;
    struct ring_buffer *rb;
    uv_poll_t poll;
    uv_timer_t drain; /* the kernel wakes us only for big backlogs */
    int closing;
    void (*done)(void *arg);
    void *done_arg;
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

static void drain_cb(uv_timer_t *t)
{
    struct proc_bpf *b = t->data;
    ring_buffer__consume(b->rb);
}

static void readable(uv_poll_t *h, int status, int events)
{
    struct proc_bpf *b = h->data;
    (void)events;
    if (status < 0)
        return;
    ring_buffer__consume(b->rb);
}

int proc_bpf_open(uv_loop_t *loop, const struct proc_sink *sink, uint64_t ring_size,
                  struct proc_bpf **out, char *err, size_t errlen)
{
    struct proc_bpf *b;
    int rc;

    *out = NULL;
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        snprintf(err, errlen, "the kernel has no BTF (/sys/kernel/btf/vmlinux)");
        return -ENOTSUP;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->sink = *sink;
    libbpf_set_print(libbpf_log);
    b->obj = proc_bpf_obj__open();
    if (!b->obj) {
        rc = -errno;
        snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
        free(b);
        return rc ? rc : -EINVAL;
    }
    b->obj->rodata->self_tgid = (unsigned)getpid();
    /* A power of two, at least a page. */
    while (ring_size & (ring_size - 1))
        ring_size &= ring_size - 1;
    if (ring_size < 65536)
        ring_size = 65536;
    bpf_map__set_max_entries(b->obj->maps.events, (unsigned)ring_size);
    b->obj->rodata->wake_bytes = ring_size / 4 < 65536 ? ring_size / 4 : 65536;
    if ((rc = proc_bpf_obj__load(b->obj)) != 0) {
        snprintf(err, errlen, "cannot load the BPF programs: %s%s", strerror(-rc),
                 rc == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
        goto fail;
    }
    if ((rc = proc_bpf_obj__attach(b->obj)) != 0) {
        snprintf(err, errlen, "cannot attach to the sched_process tracepoints: %s",
                 strerror(-rc));
        goto fail;
    }
    b->rb = ring_buffer__new(bpf_map__fd(b->obj->maps.events), on_record, b, NULL);
    if (!b->rb) {
        rc = -errno;
        snprintf(err, errlen, "cannot map the ring buffer: %s", strerror(errno));
        goto fail;
    }
    if ((rc = uv_poll_init(loop, &b->poll, ring_buffer__epoll_fd(b->rb))) != 0) {
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
    ring_buffer__free(b->rb);
    proc_bpf_obj__destroy(b->obj);
    free(b);
    return rc ? rc : -EINVAL;
}

uint64_t proc_bpf_drops(struct proc_bpf *b)
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t total = 0;
    if (ncpu <= 0 || ncpu > 4096)
        return 0;
    for (uint32_t key = 0; key < 3; key++) {
        uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
        if (!v)
            return total;
        if (bpf_map_lookup_elem(bpf_map__fd(b->obj->maps.drops), &key, v) == 0)
            for (int i = 0; i < ncpu; i++)
                total += v[i];
        free(v);
    }
    return total;
}

static void closed(uv_handle_t *h)
{
    struct proc_bpf *b = h->data;
    void (*done)(void *) = b->done;
    if (--b->closing > 0)
        return;
    void *arg = b->done_arg;
    ring_buffer__free(b->rb);
    proc_bpf_obj__destroy(b->obj);
    free(b);
    if (done)
        done(arg);
}

void proc_bpf_close(struct proc_bpf *b, void (*done)(void *arg), void *arg)
{
    /* Whatever is still on the ring is delivered first. */
    ring_buffer__consume(b->rb);
    b->done = done;
    b->done_arg = arg;
    b->closing = 2;
    uv_close((uv_handle_t *)&b->poll, closed);
    uv_close((uv_handle_t *)&b->drain, closed);
}
