// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * Process exec and exit, from BTF tracepoints (CO-RE; vmlinux.h is
 * generated from the build machine's BTF, and libbpf relocates field
 * offsets for the running kernel at load).
 *
 * Each fork of a new process (not a thread) sends its pid, parent and
 * start; each exec sends a record of the new program: ids, credentials, login
 * uid and session, comm, the path exec was given, argv read from the new
 * mm (bounded, with a truncation flag), cgroup and start time.  Each exit
 * of a thread-group leader sends its status and times.  Records go
 * through one ring buffer; a reservation that fails is counted in the
 * `drops` per-CPU array, which the agent reports as loss.
 *
 * The licence string must be GPL-compatible for these helpers; the
 * program is dual-licensed so that it can be.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "proc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 2 * 1024 * 1024); /* the agent sets [telemetry] ring_buffer_size */
} events SEC(".maps");

/* Ring-buffer records that could not be sent, per CPU: [0] exec, [1] exit,
 * [2] fork. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 3);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

/* Scratch space for one exec record (too big for the BPF stack). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vg_proc_exec);
} scratch SEC(".maps");

/* Set by the agent (struct vg_proc_conf in proc.h): its own pid, whose
 * exits are not reported (0 reports everything), and wake_bytes.  A map,
 * so that a restarted agent can reuse pinned programs and set its pid. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vg_proc_conf);
} conf SEC(".maps");

/* Waking the agent for every record costs it a system call per exec.
 * Records are left for its 200 ms timer unless wake_bytes (min(64 KiB,
 * ring / 4)) have piled up; with no agent reading, nobody is woken. */
static __always_inline __u64 wake_flags(void)
{
    __u32 zero = 0;
    struct vg_proc_conf *c = bpf_map_lookup_elem(&conf, &zero);
    __u64 wake = c ? c->wake_bytes : 64 * 1024;
    return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > wake ? BPF_RB_FORCE_WAKEUP
                                                                : BPF_RB_NO_WAKEUP;
}

static __always_inline __u32 self_tgid(void)
{
    __u32 zero = 0;
    struct vg_proc_conf *c = bpf_map_lookup_elem(&conf, &zero);
    return c ? c->self_tgid : 0;
}

static __always_inline void count_drop(__u32 which)
{
    __u64 *n = bpf_map_lookup_elem(&drops, &which);
    if (n)
        *n += 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 zero = 0;
    struct vg_proc_exec *e = bpf_map_lookup_elem(&scratch, &zero);
    const struct cred *cred;
    struct mm_struct *mm;
    unsigned long start, end, len;
    long n;

    if (!e)
        return 0;
    e->type = VG_PROC_EXEC;
    e->pid = BPF_CORE_READ(p, tgid);
    e->ppid = BPF_CORE_READ(p, real_parent, tgid);
    cred = BPF_CORE_READ(p, cred);
    e->uid = BPF_CORE_READ(cred, uid.val);
    e->euid = BPF_CORE_READ(cred, euid.val);
    e->gid = BPF_CORE_READ(cred, gid.val);
    e->egid = BPF_CORE_READ(cred, egid.val);
    if (bpf_core_field_exists(p->loginuid)) {
        e->login_uid = BPF_CORE_READ(p, loginuid.val);
        e->session_id = BPF_CORE_READ(p, sessionid);
    } else {
        e->login_uid = 0xffffffff;
        e->session_id = 0xffffffff;
    }
    e->flags = 0;
    e->pad = 0;
    e->start_boot_ns = BPF_CORE_READ(p, start_boottime);
    e->cgroup_id = bpf_get_current_cgroup_id();
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(bprm, filename));
    if (n < 0)
        e->path[0] = '\0';
    else if (n == sizeof(e->path))
        e->flags |= VG_PROC_PATH_TRUNC;

    mm = BPF_CORE_READ(p, mm);
    start = BPF_CORE_READ(mm, arg_start);
    end = BPF_CORE_READ(mm, arg_end);
    len = end > start ? end - start : 0;
    if (len > VG_PROC_ARGV_MAX - 1) {
        len = VG_PROC_ARGV_MAX - 1;
        e->flags |= VG_PROC_ARGV_TRUNC;
    }
    len &= VG_PROC_ARGV_MAX - 1;
    if (len && bpf_probe_read_user(e->argv, len, (const void *)start) < 0) {
        e->flags |= VG_PROC_ARGV_FAULT;
        len = 0;
    }
    e->argv_len = len;
    /* Only what is used goes on the ring. */
    if (bpf_ringbuf_output(&events, e, offsetof(struct vg_proc_exec, argv) + (len & (VG_PROC_ARGV_MAX - 1)),
                           wake_flags()))
        count_drop(0);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vg_exit, struct task_struct *p)
{
    struct vg_proc_exit *e;
    __u32 tgid = BPF_CORE_READ(p, tgid);
    struct signal_struct *sig = BPF_CORE_READ(p, signal);

    /* Threads end too: the process ends with its last thread, whichever
     * it is (the leader may leave first, with pthread_exit).  The count
     * of live threads has already been decremented here. */
    __u32 self;

    if (BPF_CORE_READ(sig, live.counter) != 0)
        return 0;
    self = self_tgid();
    if (self && tgid == self)
        return 0;
    e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_drop(1);
        return 0;
    }
    e->type = VG_PROC_EXIT;
    e->pid = tgid;
    e->ppid = BPF_CORE_READ(p, real_parent, tgid);
    /* A group exit (exit_group, a fatal signal) holds the status for all. */
    if (BPF_CORE_READ(sig, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
        e->exit_code = BPF_CORE_READ(sig, group_exit_code);
    else
        e->exit_code = BPF_CORE_READ(p, exit_code);
    e->start_boot_ns = BPF_CORE_READ(p, start_boottime);
    e->exit_boot_ns = bpf_ktime_get_boot_ns();
    BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
    bpf_ringbuf_submit(e, wake_flags());
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vg_fork, struct task_struct *parent, struct task_struct *child)
{
    struct vg_proc_fork *e;
    __u32 tgid = BPF_CORE_READ(child, tgid);

    /* A new thread shares its parent's tgid: not a process. */
    if (BPF_CORE_READ(child, pid) != tgid)
        return 0;
    e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_drop(2);
        return 0;
    }
    e->type = VG_PROC_FORK;
    e->pid = tgid;
    e->ppid = BPF_CORE_READ(parent, tgid);
    e->pad = 0;
    e->start_boot_ns = BPF_CORE_READ(child, start_boottime);
    bpf_ringbuf_submit(e, wake_flags());
    return 0;
}
