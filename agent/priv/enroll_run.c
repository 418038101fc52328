/*
 * Enrollment from the root parent's side: the network process does the
 * talking (agent/net/enroll.c, confined as the streaming process is) and
 * hands back one VG_PS_CERT message; the parent checks and installs the
 * key and certificate (certs.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "certs.h"
#include "err.h"
#include "log.h"
#include "psmsg.h"
#include "util.h"

#define RETRY_S 30

/* One run of the enrollment process.  Returns 0 (installed), VG_ECONFIG
 * (do not retry) or another error. */
static int run_once(const struct agent_conf *conf, char **argv)
{
    extern char **environ;
    struct vg_ps_reader rd;
    struct vg_ps_cert *cert = NULL;
    char self[64], err[512] = "", buf[4096];
    uint32_t type;
    const uint8_t *p;
    size_t len;
    int fds[2], status = 0, rc = -EIO, got = 0;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    snprintf(self, sizeof(self), "/proc/%d/exe", (int)getpid());
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -errno;
    }
    if (pid == 0) {
        /* fd 3 is the pipe's write end; everything else is close-on-exec. */
        if (dup2(fds[1], 3) < 0 || setenv("VIGIL_NET_ENROLL", "3", 1) != 0)
            _exit(1);
        unsetenv("NOTIFY_SOCKET");
        execve(self, argv, environ);
        _exit(1);
    }
    close(fds[1]);
    vg_ps_reader_init(&rd, VG_PS_MAX_CHILD);
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || vg_ps_feed(&rd, buf, (size_t)n) != 0)
            break;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if ((got = vg_ps_next(&rd, &type, &p, &len)) == 1 && type == VG_PS_CERT &&
        (cert = calloc(1, sizeof(*cert))) && vg_ps_get_cert(p, len, cert) == 0) {
        rc = certs_install(conf, NULL, cert->key, cert->key_len, cert->cert, cert->cert_len, err,
                           sizeof(err));
        if (rc)
            log_error("[enroll] the certificate obtained was not installed: %s", err);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        rc = VG_ECONFIG; /* it said why */
    } else if (got != 0 || WIFSIGNALED(status)) {
        log_error("[enroll] the enrollment process ended badly (%s %d)",
                  WIFSIGNALED(status) ? "signal" : "status",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (cert)
        vg_zeroize(cert, sizeof(*cert));
    free(cert);
    vg_ps_reader_free(&rd);
    return rc;
}

int agent_enroll(const struct agent_conf *conf, char **argv)
{
    for (;;) {
        int rc;
        if (access(conf->cert, F_OK) == 0)
            return 0;
        if ((rc = run_once(conf, argv)) == 0)
            return 0;
        if (rc == VG_ECONFIG)
            return rc;
        log_info("[enroll] trying again in %d s", RETRY_S);
        sleep(RETRY_S);
    }
}
