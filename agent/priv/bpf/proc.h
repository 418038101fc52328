/*
 * Records the process programs (proc.bpf.c) send to the agent through the
 * BPF ring buffer.  Shared by the BPF side and user space; plain C types
 * of fixed size only.
 */
#ifndef VG_BPF_PROC_H
#define VG_BPF_PROC_H

#define VG_PROC_ARGV_MAX 4096 /* power of two: the verifier needs the mask */
#define VG_PROC_PATH_MAX 256
#define VG_PROC_COMM 16

enum { VG_PROC_EXEC = 1, VG_PROC_EXIT = 2, VG_PROC_FORK = 3 };

/* The layout of the records below: bumped when any of them changes, so
 * that an agent finding pinned programs of another build knows whether
 * it can still read what waits in their ring buffer. */
#define VG_PROC_ABI 1

/* The `conf` map's one value: settings the agent writes and the programs
 * read (a map rather than rodata, so that a restarted agent can set them
 * in programs an earlier one pinned), and the stamp of what pinned them. */
struct vg_proc_conf {
    unsigned int self_tgid;          /* the agent, whose exits are not sent; 0: none */
    unsigned int abi;                /* VG_PROC_ABI of the programs */
    unsigned long long wake_bytes;   /* wake the agent past this backlog */
    unsigned long long ring_size;    /* the events map's size */
    unsigned long long drops_acct;   /* drops an agent has already counted (agents only) */
    unsigned char obj_sha256[32];    /* SHA-256 of the BPF object (ELF) */
};

/* Flags. */
#define VG_PROC_ARGV_TRUNC 1u
#define VG_PROC_PATH_TRUNC 2u
#define VG_PROC_ARGV_FAULT 4u /* argv could not be read (pages not present) */

struct vg_proc_exit {
    unsigned int type;
    unsigned int pid;
    unsigned int ppid;
    unsigned int exit_code; /* the wait status: code << 8 | signal (| 0x80 core) */
    unsigned long long start_boot_ns;
    unsigned long long exit_boot_ns;
    char comm[VG_PROC_COMM];
};

/* A new process (not a thread): the same program as its parent until it
 * execs. */
struct vg_proc_fork {
    unsigned int type;
    unsigned int pid;
    unsigned int ppid;
    unsigned int pad;
    unsigned long long start_boot_ns;
};

/* Variable length: sent up to argv + argv_len. */
struct vg_proc_exec {
    unsigned int type;
    unsigned int pid;
    unsigned int ppid;
    unsigned int uid, euid, gid, egid;
    unsigned int login_uid, session_id;
    unsigned int flags;
    unsigned int argv_len;
    unsigned int pad;
    unsigned long long start_boot_ns;
    unsigned long long cgroup_id;
    char comm[VG_PROC_COMM];
    char path[VG_PROC_PATH_MAX];
    char argv[VG_PROC_ARGV_MAX];
};

#endif
