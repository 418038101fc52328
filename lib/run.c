/*
 * Helper programs, run without a shell (see run.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "run.h"
#include "util.h"

extern char **environ;

static int run_capture(char *const argv[], int merge_stderr, size_t max, int timeout_ms,
                       char **out, size_t *len, int *status);

int vg_run_capture(char *const argv[], size_t max, int timeout_ms, char **out, size_t *len,
                   int *status)
{
    return run_capture(argv, 0, max, timeout_ms, out, len, status);
}

int vg_run_capture_all(char *const argv[], size_t max, int timeout_ms, char **out, size_t *len,
                       int *status)
{
    return run_capture(argv, 1, max, timeout_ms, out, len, status);
}

static int run_capture(char *const argv[], int merge_stderr, size_t max, int timeout_ms,
                       char **out, size_t *len, int *status)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    struct vg_buf b;
    int pipefd[2], st = 0, rc, devnull;
    uint64_t deadline = vg_time_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    pid_t pid;

    *out = NULL;
    *status = -1;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    if (devnull >= 0) {
        posix_spawn_file_actions_adddup2(&fa, devnull, 0);
        posix_spawn_file_actions_adddup2(&fa, merge_stderr ? pipefd[1] : devnull, 2);
    }
    /* The child starts with default signal handling and nothing blocked,
     * whatever the calling thread had (the agent ignores SIGPIPE). */
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (devnull >= 0)
        close(devnull);
    if (rc) {
        close(pipefd[0]);
        return -rc;
    }
    vg_buf_init(&b, max + 1); /* + the NUL */
    for (;;) {
        char chunk[65536];
        ssize_t n;
        if (timeout_ms > 0) {
            struct pollfd pfd = { pipefd[0], POLLIN, 0 };
            uint64_t now = vg_time_mono_ms();
            int pr;
            if (now >= deadline) {
                rc = -ETIMEDOUT;
                kill(pid, SIGKILL);
                break;
            }
            pr = poll(&pfd, 1, (int)(deadline - now));
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr == 0)
                continue; /* deadline checked above */
        }
        n = read(pipefd[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            kill(pid, SIGKILL);
            break;
        }
        if (n == 0)
            break;
        if ((rc = vg_buf_append(&b, chunk, (size_t)n)) != 0) {
            kill(pid, SIGKILL);
            break;
        }
    }
    close(pipefd[0]);
    for (;;) {
        if (waitpid(pid, &st, 0) >= 0) {
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (errno != EINTR) {
            if (!rc)
                rc = -errno; /* SIGCHLD ignored somewhere: no status */
            break;
        }
    }
    if (rc == 0 && (b.len > max || vg_buf_append(&b, "", 1)))
        rc = VG_ETOOBIG;
    if (rc) {
        vg_buf_free(&b);
        return rc;
    }
    *out = (char *)b.data;
    if (len)
        *len = b.len - 1;
    return 0;
}
