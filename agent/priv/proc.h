/*
 * Process events on the collecting side: what a source (eBPF, the netlink
 * process connector, /proc scanning) hands to in_proc, and the /proc
 * readers they share.
 */
#ifndef VG_PROC_H
#define VG_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define PROC_ARGV_MAX 4096

/* Which fields a record lacks (the process was gone before it was read). */
enum {
    PROC_UNKNOWN_ARGV = 1u << 0,
    PROC_UNKNOWN_EXE = 1u << 1,
    PROC_UNKNOWN_CREDS = 1u << 2, /* uid, euid, gid, egid */
    PROC_UNKNOWN_LOGIN = 1u << 3, /* login uid, session */
    PROC_UNKNOWN_PPID = 1u << 4,
    PROC_UNKNOWN_START = 1u << 5,
    PROC_UNKNOWN_COMM = 1u << 6,
    PROC_UNKNOWN_CGROUP = 1u << 7,
};

struct proc_exec {
    uint32_t pid, ppid, uid, euid, gid, egid, login_uid, session_id;
    int forked; /* a fork that has not exec'd: its parent's program */
    uint64_t start_boot_ns, cgroup_id;
    char comm[17];
    const char *path; /* as exec saw it; NUL-terminated */
    const char *argv; /* NUL-separated arguments */
    size_t argv_len;
    int argv_truncated, path_truncated;
    unsigned unknown; /* PROC_UNKNOWN_* */
    int exited; /* its exit came with it: /proc has no cwd or exe to read */
};

struct proc_exit {
    uint32_t pid, ppid;
    uint32_t status; /* wait status: code << 8 | signal, 0x80 core dumped */
    uint64_t start_boot_ns, exit_boot_ns;
    char comm[17];
    unsigned unknown;
};

struct proc_fork {
    uint32_t pid, ppid;
    uint64_t start_boot_ns;
};

/* Where a source delivers.  fork may be NULL (only eBPF sees forks). */
struct proc_sink {
    void *ctx;
    void (*exec)(void *ctx, const struct proc_exec *e);
    void (*exit)(void *ctx, const struct proc_exit *e);
    void (*fork)(void *ctx, const struct proc_fork *f);
    /* 1 when events can be handed on now (may be NULL: always); sources
     * that can leave records in the kernel (the eBPF ring) wait otherwise. */
    int (*ready)(void *ctx);
    /* May be NULL.  Around a burst of records (end 0, then 1): what the
     * sink hands on may wait for the end, which comes before the source
     * lets the records go (the eBPF ring's consumer position). */
    void (*burst)(void *ctx, int end);
    /* May be NULL (then records are let go once handed on).  The eBPF
     * ring keeps its records until what they became is in the spool:
     * origin() says which ring record (map id, end position; id 0: none)
     * the events handed on next come from; handed() counts the events
     * handed on so far, acked() those now in the spool. */
    void (*origin)(void *ctx, uint32_t ring, uint64_t pos);
    uint64_t (*handed)(void *ctx);
    uint64_t (*acked)(void *ctx);
};

/* ---- sources ---- */

/* eBPF (proc_bpf.c).  pin_dir: bpffs directory where the programs, links
 * and ring buffer are pinned, to be reused by the next agent (NULL or "":
 * not pinned; failing to pin is logged, not an error).  Returns 0, or an
 * error with a reason in err (no BTF, no CAP_BPF, verifier refusal, ...). */
struct proc_bpf;
int proc_bpf_open(uv_loop_t *loop, const struct proc_sink *sink, uint64_t ring_size,
                  const char *pin_dir, struct proc_bpf **out, char *err, size_t errlen);
/* Records the kernel could not put on the ring (ring full) since open,
 * plus, with pinning, those no earlier agent counted (while none ran). */
uint64_t proc_bpf_drops(struct proc_bpf *b);
/* The sink's acked() moved: lets go of the records now spooled at once
 * (not at the next read), so that the ring has room. */
void proc_bpf_spooled(struct proc_bpf *b);
/* Records the pinned ring buffer in pin_dir could not take that no agent
 * has counted yet (the gap since the last one), into *lost, without
 * taking the pins over.  Returns 0, or -ENOENT when nothing is pinned. */
int proc_bpf_pinned_lost(const char *pin_dir, uint64_t *lost);
void proc_bpf_close(struct proc_bpf *b, void (*done)(void *arg), void *arg);

/* The netlink process connector (proc_netlink.c): pids from the kernel,
 * the rest read from /proc at once (unknown when already gone). */
struct proc_netlink;
int proc_netlink_open(uv_loop_t *loop, const struct proc_sink *sink, struct proc_netlink **out,
                      char *err, size_t errlen);
/* Messages the kernel dropped (ENOBUFS) since open: a lower bound. */
uint64_t proc_netlink_drops(struct proc_netlink *n);
void proc_netlink_close(struct proc_netlink *n, void (*done)(void *arg), void *arg);

/* ---- /proc (proc_read.c) ---- */

/* One running process as /proc shows it.  Strings are owned. */
struct proc_info {
    uint32_t pid, ppid, uid, euid, gid, egid, login_uid, session_id;
    uint64_t start_boot_ns;
    char comm[17];
    char *exe;  /* readlink of /proc/PID/exe ("" for kernel threads) */
    char *argv; /* NUL-separated */
    size_t argv_len;
    int argv_truncated;
    char *cwd;
    unsigned unknown;
};

/* Reads PID under /proc (root: "" or a host root).  Returns 0, -ENOENT
 * when it is gone, or -errno.  Fields it could not read are marked in
 * unknown. */
int proc_read(const char *root, uint32_t pid, struct proc_info *out);
void proc_info_free(struct proc_info *p);
/* Every process (kernel threads included).  Returns 0 or -errno. */
int proc_snapshot(const char *root, struct proc_info **out, size_t *n);
void proc_snapshot_free(struct proc_info *v, size_t n);
/* Fills e from what /proc showed (strings point into info; cgroup is
 * marked unknown: /proc gives no cgroup id). */
void proc_exec_from_info(struct proc_exec *e, const struct proc_info *info);
/* Boot-relative ns to wall-clock ms, with the clocks' current offset. */
int64_t proc_boot_to_wall_ms(uint64_t boot_ns);
/* readlink of /proc/PID/LINK, malloc'd, or NULL. */
char *proc_link(const char *root, uint32_t pid, const char *link);
/* Container id from /proc/PID/cgroup ("" when none is recognisable).
 * Returns 0, or -1 when the file cannot be read (the process is gone). */
int proc_container_id(const char *root, uint32_t pid, char *out, size_t outlen);

#endif
