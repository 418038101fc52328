/*
 * Reading processes from /proc: one pid (netlink events, enrichment) or
 * every pid (snapshots, the /proc source).  Bounded reads only; a process
 * that goes away half-way leaves its remaining fields marked unknown.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

static long clk_tck;

/* Reads up to cap-1 bytes of a small /proc file; NUL-terminates.  Returns
 * the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n, total = 0;
    if (fd < 0)
        return -errno;
    while ((size_t)total < cap - 1) {
        n = read(fd, buf + total, cap - 1 - (size_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        if (n == 0)
            break;
        total += n;
    }
    close(fd);
    buf[total] = '\0';
    return total;
}

char *proc_link(const char *root, uint32_t pid, const char *link)
{
    char path[PATH_MAX], buf[PATH_MAX];
    ssize_t n;
    snprintf(path, sizeof(path), "%s/proc/%u/%s", root, pid, link);
    n = readlink(path, buf, sizeof(buf) - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

int64_t proc_boot_to_wall_ms(uint64_t boot_ns)
{
    struct timespec rt, bt;
    int64_t off;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_BOOTTIME, &bt);
    off = ((int64_t)rt.tv_sec - (int64_t)bt.tv_sec) * 1000000000LL + (rt.tv_nsec - bt.tv_nsec);
    return ((int64_t)boot_ns + off) / 1000000;
}

/* /proc/PID/stat: comm (in parentheses, may hold anything), ppid, and
 * start time in clock ticks since boot (field 22). */
static int read_stat(const char *root, uint32_t pid, struct proc_info *p)
{
    char path[PATH_MAX], buf[1024];
    char *open_p, *close_p, *f;
    unsigned long long start = 0;
    int i;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/proc/%u/stat", root, pid);
    if ((n = read_small(path, buf, sizeof(buf))) < 0)
        return (int)n;
    open_p = strchr(buf, '(');
    close_p = strrchr(buf, ')');
    if (!open_p || !close_p || close_p < open_p)
        return -EIO;
    {
        size_t cl = (size_t)(close_p - open_p - 1);
        if (cl > 16)
            cl = 16;
        memcpy(p->comm, open_p + 1, cl);
        p->comm[cl] = '\0';
    }
    /* After ") ": state(3) ppid(4) ... starttime(22).  A zombie has no
     * memory left: its argv and exe cannot be read any more. */
    f = close_p + 2;
    if (*f == 'Z' || *f == 'X')
        p->unknown |= PROC_UNKNOWN_ARGV | PROC_UNKNOWN_EXE;
    for (i = 3; i <= 22 && f && *f; i++) {
        if (i == 4)
            p->ppid = (uint32_t)strtoul(f, NULL, 10);
        if (i == 22)
            start = strtoull(f, NULL, 10);
        f = strchr(f, ' ');
        if (f)
            f++;
    }
    if (i <= 22)
        return -EIO;
    if (!clk_tck)
        clk_tck = sysconf(_SC_CLK_TCK);
    /* Ticks are coarse (10 ms): exact enough to tell pid reuse apart. */
    p->start_boot_ns = start * (1000000000ULL / (unsigned long long)(clk_tck > 0 ? clk_tck : 100));
    return 0;
}

static void read_status(const char *root, uint32_t pid, struct proc_info *p)
{
    char path[PATH_MAX], buf[4096];
    char *l;
    int got = 0;
    snprintf(path, sizeof(path), "%s/proc/%u/status", root, pid);
    if (read_small(path, buf, sizeof(buf)) < 0) {
        p->unknown |= PROC_UNKNOWN_CREDS;
        return;
    }
    for (l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        uint32_t *real = NULL, *eff = NULL;
        char *end, *end2;
        unsigned long a, b;
        if (strncmp(l, "Uid:", 4) == 0) {
            real = &p->uid;
            eff = &p->euid;
        } else if (strncmp(l, "Gid:", 4) == 0) {
            real = &p->gid;
            eff = &p->egid;
        } else {
            continue;
        }
        /* "Uid:\treal\teffective\tsaved\tfs" */
        a = strtoul(l + 4, &end, 10);
        b = strtoul(end, &end2, 10);
        if (end == l + 4 || end2 == end || a > UINT32_MAX || b > UINT32_MAX)
            continue;
        *real = (uint32_t)a;
        *eff = (uint32_t)b;
        got |= real == &p->uid ? 1 : 2;
    }
    if (got != 3)
        p->unknown |= PROC_UNKNOWN_CREDS;
}

static uint32_t read_u32_file(const char *root, uint32_t pid, const char *name, int *ok)
{
    char path[PATH_MAX], buf[32];
    snprintf(path, sizeof(path), "%s/proc/%u/%s", root, pid, name);
    *ok = read_small(path, buf, sizeof(buf)) > 0;
    return *ok ? (uint32_t)strtoul(buf, NULL, 10) : 0;
}

int proc_read(const char *root, uint32_t pid, struct proc_info *p)
{
    char path[PATH_MAX];
    char *buf;
    ssize_t n;
    int ok1, ok2, rc;

    memset(p, 0, sizeof(*p));
    p->pid = pid;
    if ((rc = read_stat(root, pid, p)) != 0)
        return rc == -ENOENT || rc == -ESRCH ? -ENOENT : rc;
    read_status(root, pid, p);
    p->login_uid = read_u32_file(root, pid, "loginuid", &ok1);
    p->session_id = read_u32_file(root, pid, "sessionid", &ok2);
    if (!ok1 || !ok2)
        p->unknown |= PROC_UNKNOWN_LOGIN;
    p->exe = proc_link(root, pid, "exe");
    if (!p->exe) {
        /* Kernel threads have no exe: known to be none. */
        p->exe = strdup("");
        if (p->ppid != 2 && pid != 2)
            p->unknown |= PROC_UNKNOWN_EXE;
    }
    p->cwd = proc_link(root, pid, "cwd");
    buf = malloc(PROC_ARGV_MAX + 1);
    if (!buf || !p->exe) {
        free(buf);
        proc_info_free(p);
        return -ENOMEM;
    }
    snprintf(path, sizeof(path), "%s/proc/%u/cmdline", root, pid);
    n = read_small(path, buf, PROC_ARGV_MAX + 1);
    if (n < 0) {
        p->unknown |= PROC_UNKNOWN_ARGV;
        n = 0;
    } else if (n == 0 && p->ppid != 2 && pid != 2) {
        /* Only kernel threads have no arguments; a user process that
         * shows none is exiting. */
        p->unknown |= PROC_UNKNOWN_ARGV;
    } else if (n == PROC_ARGV_MAX) {
        p->argv_truncated = 1;
    }
    /* Drop the final NUL: argv is NUL-separated, not NUL-terminated. */
    if (n > 0 && buf[n - 1] == '\0')
        n--;
    p->argv = buf;
    p->argv_len = (size_t)n;
    return 0;
}

void proc_exec_from_info(struct proc_exec *e, const struct proc_info *info)
{
    memset(e, 0, sizeof(*e));
    e->pid = info->pid;
    e->ppid = info->ppid;
    e->uid = info->uid;
    e->euid = info->euid;
    e->gid = info->gid;
    e->egid = info->egid;
    e->login_uid = info->login_uid;
    e->session_id = info->session_id;
    e->start_boot_ns = info->start_boot_ns;
    memcpy(e->comm, info->comm, sizeof(e->comm));
    e->path = info->exe;
    e->argv = info->argv;
    e->argv_len = info->argv_len;
    e->argv_truncated = info->argv_truncated;
    e->unknown = info->unknown | PROC_UNKNOWN_CGROUP;
}

void proc_info_free(struct proc_info *p)
{
    free(p->exe);
    free(p->argv);
    free(p->cwd);
    p->exe = p->argv = p->cwd = NULL;
}

int proc_snapshot(const char *root, struct proc_info **out, size_t *n)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    struct proc_info *v = NULL;
    size_t cap = 0, k = 0;

    snprintf(path, sizeof(path), "%s/proc", root);
    *out = NULL;
    *n = 0;
    d = opendir(path);
    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char *end;
        unsigned long pid = strtoul(e->d_name, &end, 10);
        if (!isdigit((unsigned char)e->d_name[0]) || *end || pid == 0 || pid > UINT32_MAX)
            continue;
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct proc_info *nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                closedir(d);
                proc_snapshot_free(v, k);
                return -ENOMEM;
            }
            v = nv;
            cap = nc;
        }
        if (proc_read(root, (uint32_t)pid, &v[k]) == 0)
            k++; /* gone meanwhile: not in the snapshot */
    }
    closedir(d);
    *out = v;
    *n = k;
    return 0;
}

void proc_snapshot_free(struct proc_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        proc_info_free(&v[i]);
    free(v);
}

/* Recognises .../docker-<64 hex>.scope, .../docker/<64 hex>,
 * cri-containerd-<hex>.scope, crio-<hex>.scope, libpod-<hex>.scope and
 * kubepods paths ending in a 64-hex id. */
int proc_container_id(const char *root, uint32_t pid, char *out, size_t outlen)
{
    char path[PATH_MAX], buf[4096];
    const char *p;
    out[0] = '\0';
    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/proc/%u/cgroup", root, pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return -1;
    for (p = buf; *p; p++) {
        size_t run = 0;
        while (isxdigit((unsigned char)p[run]) && !isupper((unsigned char)p[run]))
            run++;
        if (run == 64 && (p == buf || !isxdigit((unsigned char)p[-1]))) {
            if (outlen > 64) {
                memcpy(out, p, 64);
                out[64] = '\0';
            }
            return 0;
        }
        if (run)
            p += run - 1;
    }
    return 0;
}
