/*
 * Helper programs, run without a shell (see run.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "run.h"

extern char **environ;

int vg_run_capture(char *const argv[], size_t max, char **out, size_t *len, int *status)
{
    posix_spawn_file_actions_t fa;
    struct vg_buf b;
    int pipefd[2], st = 0, rc, devnull;
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
        posix_spawn_file_actions_adddup2(&fa, devnull, 2);
    }
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
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
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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
