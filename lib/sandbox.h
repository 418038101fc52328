/*
 * Confining a process that handles network input (the agent's network
 * child), in OpenSSH's order: look the user up and hand it its
 * directories while still root, then drop the user, groups and every
 * capability (libcap-ng), set no_new_privs, limit the filesystem view
 * (Landlock, where the kernel has it) and last install a system call
 * allow-list (libseccomp).  Each step either succeeds or the caller
 * exits: a half-confined network process never runs.
 */
#ifndef VG_SANDBOX_H
#define VG_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

struct vg_sandbox_user {
    uid_t uid;
    gid_t gid;
    char name[64];
    int fallback; /* 1: the wanted user does not exist; this is "nobody" */
};

/* Looks name up; when it does not exist, falls back to "nobody" (fallback
 * set, the caller logs it).  Returns 0, or -ENOENT with err when neither
 * exists. */
int vg_sandbox_user(const char *name, struct vg_sandbox_user *u, char *err, size_t errlen);

/* Makes dir (created if absent) mode `mode`, and it and everything
 * directly in it owned by u and group gid, so that the process can keep
 * using it after the drop.  Refuses a symlink.  Returns 0 or -errno with
 * err. */
int vg_sandbox_give_dir(const char *dir, const struct vg_sandbox_user *u, gid_t gid,
                        mode_t mode, char *err, size_t errlen);

/* Becomes u: supplementary groups, gid, uid; no capability left in any
 * set nor the bounding set; no_new_privs.  Returns 0 or an error with
 * err (the caller must exit). */
int vg_sandbox_drop(const struct vg_sandbox_user *u, char *err, size_t errlen);

/* Landlock, in two steps: prepare (while still root, so that every path
 * can be opened) a ruleset by which the process reads and writes beneath
 * the rw directories only, reads the ro files only and executes nothing
 * (NULL-terminated lists; entries that do not exist are skipped).
 * Returns 1 with *ruleset, 0 when the kernel has no Landlock (the caller
 * logs reduced protection), or an error with err.  apply (after
 * vg_sandbox_drop, which sets no_new_privs) restricts this process and
 * closes the ruleset: 0 or an error with err. */
int vg_sandbox_landlock_prepare(const char *const *rw, const char *const *ro, int *ruleset,
                                char *err, size_t errlen);
int vg_sandbox_landlock_apply(int ruleset, char *err, size_t errlen);

/* The network child's system call allow-list.  A call outside it sends
 * SIGSYS, whose handler logs the call's name to stderr and exits with
 * VG_SANDBOX_EXIT.  Socket families other than IPv4/IPv6 TCP and UDP
 * fail with EACCES (AF_UNIX, AF_NETLINK: the resolver tries them) or
 * EPERM (raw and packet sockets).  Returns 0 or an error with err. */
#define VG_SANDBOX_EXIT 159
int vg_sandbox_seccomp_net(char *err, size_t errlen);

#endif
