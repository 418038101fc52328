/*
 * The isolation keeper: `vigil-agent isolation-keeper`.
 *
 * The agent's own table (inet vigil_isolation) outlives the agent, but
 * any root process can flush it.  The keeper holds a second copy of the
 * same rules in a table with the nftables owner flag (Linux 5.12 and
 * later): the kernel refuses to let any other netlink socket change or
 * delete it, `nft flush ruleset` passes it by, and since a drop in any
 * base chain is final, the host stays isolated while either table is
 * there.  The owned table lasts as long as the keeper's socket, so the
 * keeper is a process of its own, not the agent: a killed or stopped
 * agent leaves it (and the isolation) in place.
 *
 *   agent isolates ──> state file ──inotify──> keeper: owned table
 *   agent releases ──> state file removed ───> keeper: table dropped, exits
 *
 * The keeper only reads the state file; it follows it with inotify (and
 * looks again every few seconds).  One keeper per state directory: it
 * holds STATE_DIR/isolation-keeper.lock (flock) for its life, with its
 * pid inside.  The agent starts one (detached, so that it is nobody's
 * child) when an isolation is verified or restored; the packages' unit
 * vigil-isolation.service runs one from boot, before the network, with
 * --restore (the rules put back from the state file) and --follow
 * (stays when not isolated, for the next isolation).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "isolation.h"
#include "log.h"
#include "util.h"

#define KEEPER_LOCK "isolation-keeper.lock"

void iso_keeper_lock_path(const struct agent_conf *c, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->state_dir, KEEPER_LOCK);
}

void iso_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int iso_keeper_running(const struct agent_conf *c)
{
    char path[4096];
    int fd, held;

    iso_keeper_lock_path(c, path, sizeof(path));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* The keeper's pid, from its lock file (0 if none). */
static pid_t keeper_pid(const struct agent_conf *c)
{
    char path[4096], *data = NULL;
    size_t len;
    uint64_t v = 0;

    iso_keeper_lock_path(c, path, sizeof(path));
    if (vg_file_read(path, 64, &data, &len) != 0)
        return 0;
    data[strcspn(data, "\n")] = '\0';
    if (vg_parse_u64(data, 2, 4194304, &v) != 0)
        v = 0;
    free(data);
    return (pid_t)v;
}

int iso_keeper_ensure(const struct agent_conf *c)
{
    char *const argv[] = { "vigil-agent", "isolation-keeper", "--state-dir", c->state_dir,
                           NULL };
    extern char **environ;
    char **envp;
    size_t n = 0, j = 0;
    pid_t pid;
    int status, err;

    if (iso_keeper_running(c))
        return 0;
    /* Its own environment, made before the fork: not the agent's systemd
     * notification socket (the keeper would say READY=1 on it). */
    while (environ[n])
        n++;
    if (!(envp = calloc(n + 1, sizeof(*envp))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
            strncmp(environ[i], "WATCHDOG_", 9) != 0)
            envp[j++] = environ[i];
    /* Two forks: the keeper is re-parented at once, so it is neither a
     * zombie of the agent's nor in its process group, and outlives it
     * (under systemd, vigil-isolation.service runs the keeper instead:
     * the agent's unit would take this one down with the agent). */
    pid = fork();
    if (pid < 0) {
        err = errno;
        free(envp);
        log_warn("[iso] cannot start the isolation keeper");
        return -err;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        sigset_t none;
        struct sigaction dfl;
        int fd;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++)
            sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        switch (fork()) {
        case -1: _exit(1);
        case 0: break;
        default: _exit(0);
        }
        if ((fd = open("/dev/null", O_RDWR)) >= 0)
            dup2(fd, 0);
        close_range(3, ~0U, 0);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        log_warnx("[iso] cannot start the isolation keeper (fork failed)");
        return -EAGAIN;
    }
    log_info("[iso] isolation keeper started (it holds a copy of the rules that no other "
             "process can remove)");
    return 1;
}

void iso_keeper_released(const struct agent_conf *c)
{
    pid_t pid;

    if (!iso_keeper_running(c))
        return;
    /* It follows the state file: its table is normally gone already. */
    for (int i = 0; i < 150 && iso_nft_keep_present(); i++)
        iso_sleep_ms(20);
    if (!iso_nft_keep_present()) {
        /* One the agent started exits too; a --follow one stays. */
        for (int i = 0; i < 50 && iso_keeper_running(c); i++)
            iso_sleep_ms(20);
        return;
    }
    if ((pid = keeper_pid(c)) > 0) {
        log_warnx("[iso] the isolation keeper (pid %d) kept its rules after the release; "
                  "stopping it", (int)pid);
        kill(pid, SIGTERM);
        for (int i = 0; i < 100 && iso_nft_keep_present(); i++)
            iso_sleep_ms(20);
    }
    if (iso_nft_keep_present())
        log_error("[iso] the isolation keeper's rules are still in place after the release");
}

