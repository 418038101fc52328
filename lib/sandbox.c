/* Confining the agent's network process; see sandbox.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cap-ng.h>
#include <seccomp.h>

#include "sandbox.h"
#include "util.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* name's entry: /etc/passwd first, read directly (the packages create
 * the user there), so that neither process maps the NSS modules (libnss_*
 * and what they pull in) for a system user; then NSS (a directory
 * service).  Copies what is needed into u.  Returns 0 or -ENOENT. */
static int find_user(const char *name, struct vg_sandbox_user *u)
{
    struct passwd *pw = NULL;
    FILE *f = fopen("/etc/passwd", "re");

    if (f) {
        while ((pw = fgetpwent(f)) && strcmp(pw->pw_name, name) != 0)
            ;
    }
    if (!pw) {
        errno = 0;
        pw = getpwnam(name);
    }
    if (pw) {
        u->uid = pw->pw_uid;
        u->gid = pw->pw_gid;
        vg_strlcpy(u->name, pw->pw_name, sizeof(u->name));
    }
    if (f)
        fclose(f); /* after the copy: fgetpwent's entry lives in f's buffers */
    return pw ? 0 : -ENOENT;
}

int vg_sandbox_user(const char *name, struct vg_sandbox_user *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    if (find_user(name, u) != 0) {
        u->fallback = 1;
        if (find_user("nobody", u) != 0) {
            snprintf(err, errlen, "neither user %s nor nobody exists", name);
            return -ENOENT;
        }
    }
    if (u->uid == 0 || u->gid == 0) {
        snprintf(err, errlen, "user %s is root; the network process must not be", u->name);
        return -EPERM;
    }
    return 0;
}

int vg_sandbox_give_dir(const char *dir, const struct vg_sandbox_user *u, gid_t gid,
                        mode_t mode, char *err, size_t errlen)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int fd, rc = 0;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return rc;
    }
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        return rc;
    }
    /* Mode first: once it is the user's, changing it needs CAP_FOWNER. */
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || fchmod(fd, mode) < 0 ||
        fchown(fd, u->uid, gid) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot hand %s to %s: %s", dir, u->name, strerror(errno));
        close(fd);
        return rc;
    }
    if (!(d = fdopendir(fd))) {
        rc = -errno;
        close(fd);
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(-rc));
        return rc;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        /* Never follow a link: chown the entry itself. */
        if (fchownat(dirfd(d), de->d_name, u->uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
            errno != ENOENT) {
            rc = -errno;
            snprintf(err, errlen, "cannot hand %s/%s to %s: %s", dir, de->d_name, u->name,
                     strerror(errno));
            break;
        }
    }
    closedir(d);
    return rc;
}

int vg_sandbox_drop(const struct vg_sandbox_user *u, char *err, size_t errlen)
{
    uid_t ru, eu, su;

    capng_clear(CAPNG_SELECT_BOTH);
    if (capng_change_id((int)u->uid, (int)u->gid,
                        CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0) {
        snprintf(err, errlen, "cannot become %s (uid %u): %s", u->name, (unsigned)u->uid,
                 strerror(errno));
        return -EPERM;
    }
    /* Check, as OpenSSH does: no way back to root. */
    if (getresuid(&ru, &eu, &su) != 0 || ru != u->uid || eu != u->uid || su != u->uid ||
        setuid(0) == 0 || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
        snprintf(err, errlen, "still privileged after dropping to %s", u->name);
        return -EPERM;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

/* ---- Landlock ---- */

static int add_path(int ruleset, const char *path, uint64_t access, char *err, size_t errlen)
{
    struct landlock_path_beneath_attr pb;
    struct stat st;
    int fd, rc = 0;

    if (!path[0])
        return 0;
    fd = open(path, O_PATH | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "landlock: %s: %s", path,
                                               strerror(errno)), -errno);
    /* Only rights that make sense for a file may be granted on one. */
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                  LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_EXECUTE;
    pb.allowed_access = access;
    pb.parent_fd = fd;
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
        rc = -errno;
        snprintf(err, errlen, "landlock: cannot add %s: %s", path, strerror(errno));
    }
    close(fd);
    return rc;
}

int vg_sandbox_landlock_prepare(const char *const *rw, const char *const *ro, int *out,
                                char *err, size_t errlen)
{
    struct landlock_ruleset_attr ra;
    uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1, rwx, rox;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    int ruleset, rc = 0;

    if (abi < 1)
        return 0;
    if (abi >= 2)
        all |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        all |= LANDLOCK_ACCESS_FS_TRUNCATE;
    memset(&ra, 0, sizeof(ra));
    ra.handled_access_fs = all;
    rwx = all & ~LANDLOCK_ACCESS_FS_EXECUTE;
    rox = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0)) < 0) {
        snprintf(err, errlen, "landlock: cannot create a ruleset: %s", strerror(errno));
        return -errno;
    }
    for (size_t i = 0; rc == 0 && rw && rw[i]; i++)
        rc = add_path(ruleset, rw[i], rwx, err, errlen);
    for (size_t i = 0; rc == 0 && ro && ro[i]; i++) {
        char real[PATH_MAX];
        /* A symlink (resolv.conf) is checked at its target. */
        rc = add_path(ruleset, realpath(ro[i], real) ? real : ro[i], rox, err, errlen);
    }
    if (rc < 0) {
        close(ruleset);
        return rc;
    }
    *out = ruleset;
    return 1;
}

int vg_sandbox_landlock_apply(int ruleset, char *err, size_t errlen)
{
    int rc = 0;
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        rc = -errno;
        snprintf(err, errlen, "landlock: cannot restrict: %s", strerror(errno));
    }
    close(ruleset);
    return rc;
}

/* ---- seccomp ---- */

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    char msg[200];
    char *name;
    int n;

    (void)sig;
    (void)uc;
    /* The process ends here; resolving the name is worth the risk. */
    name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall);
    n = snprintf(msg, sizeof(msg),
                 "vigil-agent[%d]: [net] system call %s (%d) is outside the network "
                 "process's allow-list: exiting\n",
                 (int)getpid(), name ? name : "?", si->si_syscall);
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
        (void)w; /* nowhere else to report to */
    }
    _exit(VG_SANDBOX_EXIT);
}

/* What a libuv loop, its thread pool (the resolver), mbedtls, lz4,
 * protobuf-c and the spool need; nothing that creates processes,
 * changes identity, loads programs or touches other processes. */
static const char *const allowed[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "close",
    "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "lseek", "fsync",
    "fdatasync", "ftruncate", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir",
    "mkdirat", "getdents64", "fcntl", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "dup", "dup2", "dup3", "fchmod", "umask", "getcwd", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "pipe2", "poll",
    "ppoll", "connect", "getsockopt", "setsockopt", "getsockname", "getpeername", "sendto",
    "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "bind",
    "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "mmap", "munmap",
    "mremap", "mprotect", "brk", "madvise", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "sigaltstack", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "getresuid", "getresgid", "getgroups", "getrandom", "exit", "exit_group", "sched_yield",
    "sched_getaffinity", "getrlimit", "prlimit64", "uname", "sysinfo", "restart_syscall",
    "membarrier",
};

/* An argument comparison, every field set (libseccomp's SCMP_Ax macros
 * leave datum_b out, which clang warns about). */
static struct scmp_arg_cmp arg(unsigned idx, enum scmp_compare op, scmp_datum_t a,
                               scmp_datum_t b)
{
    struct scmp_arg_cmp c;
    c.arg = idx;
    c.op = op;
    c.datum_a = a;
    c.datum_b = b;
    return c;
}

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, args);
}

/* AddressSanitizer builds (make check): LeakSanitizer's check at exit
 * stops the process's threads with ptrace from a helper it clones, which
 * the filter rightly refuses (it would kill the process on its way out).
 * A process under the filter is not leak-checked; the parent still is. */
#if defined(__SANITIZE_ADDRESS__)
#define VG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VG_ASAN 1
#endif
#endif
#ifdef VG_ASAN
static int filtered;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return filtered;
}
#endif

int vg_sandbox_seccomp_net(char *err, size_t errlen)
{
    struct sigaction sa;
    scmp_filter_ctx ctx;
    int rc = 0;
    const int families[] = { AF_INET, AF_INET6 };
    const unsigned long ioctls[] = { FIONBIO, FIONREAD, FIOCLEX, TCGETS };

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0) {
        snprintf(err, errlen, "seccomp: cannot catch SIGSYS: %s", strerror(errno));
        return -errno;
    }
    if (!(ctx = seccomp_init(SCMP_ACT_TRAP))) {
        snprintf(err, errlen, "seccomp: cannot initialise a filter");
        return -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
        rc = rule(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
    /* Threads only: clone with CLONE_THREAD; clone3 hides its flags, so
     * glibc is told it does not exist and falls back to clone. */
    if (rc == 0) {
        struct scmp_arg_cmp a = arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
        rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &a);
    }
    if (rc == 0)
        rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    /* Sockets: TCP and UDP over IPv4 and IPv6. */
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        struct scmp_arg_cmp a[2] = { arg(0, SCMP_CMP_EQ, (scmp_datum_t)families[i], 0),
                                     arg(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM) };
        rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 2, a);
        a[1] = arg(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM);
        if (rc == 0)
            rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 2, a);
        a[1] = arg(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW);
        if (rc == 0)
            rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 2, a);
    }
    if (rc == 0) {
        struct scmp_arg_cmp a = arg(0, SCMP_CMP_EQ, AF_UNIX, 0);
        rc = rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, &a);
    }
    if (rc == 0) {
        struct scmp_arg_cmp a = arg(0, SCMP_CMP_EQ, AF_NETLINK, 0);
        rc = rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, &a);
    }
    if (rc == 0) {
        struct scmp_arg_cmp a = arg(0, SCMP_CMP_EQ, AF_PACKET, 0);
        rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 1, &a);
    }
    for (size_t i = 0; rc == 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
        struct scmp_arg_cmp a = arg(1, SCMP_CMP_EQ, ioctls[i], 0);
        rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &a);
    }
    if (rc == 0) {
        struct scmp_arg_cmp a = arg(0, SCMP_CMP_EQ, PR_SET_NAME, 0);
        rc = rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &a);
    }
    if (rc == 0)
        rc = seccomp_load(ctx);
    if (rc)
        snprintf(err, errlen, "seccomp: cannot install the filter: %s", strerror(-rc));
#ifdef VG_ASAN
    else
        filtered = 1;
#endif
    seccomp_release(ctx);
    return rc;
}
