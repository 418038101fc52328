/*
 * rpm's package database, through `rpm -qa --qf` run without a shell.
 *
 * Why the rpm command rather than librpm: the database format differs
 * between distributions and rpm versions (Berkeley DB, ndb, sqlite), and
 * librpm's ABI with it; the query format of the command line is stable
 * and documented, so one agent binary reads every rpm host.  The command
 * gets a fixed argv (no shell, no user strings) and its output is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "pkg.h"
#include "util.h"

extern char **environ;

#define QF "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{VENDOR}\\t%{SOURCERPM}\\n"
#define OUT_MAX (64u * 1024 * 1024)

static char *field(char **p)
{
    char *s = *p, *t = strchr(s, '\t');
    if (t) {
        *t = '\0';
        *p = t + 1;
    } else {
        *p = s + strlen(s);
    }
    return strcmp(s, "(none)") == 0 ? s + strlen(s) : s;
}

int pkg_rpm_parse(char *text, struct pkg_list *out, struct pkg_report *rep)
{
    char *save = NULL, *line;

    memset(rep, 0, sizeof(*rep));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line, *name, *epoch, *ver, *rel, *arch, *itime, *vendor, *srpm;
        struct pkg k;
        uint64_t t = 0;
        size_t vl;

        rep->stanzas++;
        name = field(&p);
        epoch = field(&p);
        ver = field(&p);
        rel = field(&p);
        arch = field(&p);
        itime = field(&p);
        vendor = field(&p);
        srpm = field(&p);
        if (!name[0] || !ver[0]) {
            rep->skipped_incomplete++;
            continue;
        }
        memset(&k, 0, sizeof(k));
        /* Version as rpm prints it: [EPOCH:]VERSION-RELEASE. */
        vl = strlen(epoch) + strlen(ver) + strlen(rel) + 3;
        k.version = malloc(vl);
        if (k.version)
            snprintf(k.version, vl, "%s%s%s%s%s", epoch, epoch[0] ? ":" : "", ver,
                     rel[0] ? "-" : "", rel);
        k.name = strdup(name);
        k.arch = strdup(arch);
        k.status = strdup("installed");
        k.source = strdup(srpm);
        k.source_version = strdup(vendor); /* rpm: the vendor rides here */
        if (vg_parse_u64(itime, 0, UINT64_MAX / 1000, &t) == 0)
            k.install_time_ms = (int64_t)t * 1000;
        k.order = rep->stanzas;
        if (!k.version || !k.name || !k.arch || !k.status || !k.source || !k.source_version) {
            pkg_free_one(&k);
            return -ENOMEM;
        }
        if (pkg_list_push(out, &k))
            return -ENOMEM;
    }
    pkg_list_sort(out);
    return 0;
}

int pkg_rpm_read(const char *root, struct pkg_list *out, struct pkg_report *rep)
{
    char *argv[] = { "rpm", "--root", (char *)(root && root[0] ? root : "/"), "-qa", "--qf", QF,
                     NULL };
    posix_spawn_file_actions_t fa;
    struct vg_buf b;
    int pipefd[2], st, rc = 0, devnull;
    pid_t pid;

    memset(rep, 0, sizeof(*rep));
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    if (devnull >= 0) {
        posix_spawn_file_actions_adddup2(&fa, devnull, 0);
        posix_spawn_file_actions_adddup2(&fa, devnull, 2);
    }
    rc = posix_spawnp(&pid, "rpm", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (devnull >= 0)
        close(devnull);
    if (rc) {
        close(pipefd[0]);
        return -rc;
    }
    vg_buf_init(&b, OUT_MAX);
    for (;;) {
        char chunk[65536];
        ssize_t n = read(pipefd[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (vg_buf_append(&b, chunk, (size_t)n)) {
            rc = VG_ETOOBIG;
            kill(pid, SIGKILL);
            break;
        }
    }
    close(pipefd[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (rc == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
        rc = -EIO;
    if (rc == 0)
        rc = pkg_rpm_parse(b.data ? (char *)b.data : (char *)"", out, rep);
    vg_buf_free(&b);
    return rc;
}
