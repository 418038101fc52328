/*
 * Enrollment from the root parent's side: the network process does the
 * talking (agent/net/enroll.c, confined as the streaming process is) and
 * hands back one VG_PS_CERT message; the parent checks and installs the
 * key and certificate (certs.c).
 *
 * Then the token is of no more use here, but a token is good for many
 * hosts: once the key and certificate are on disk (flushed), the parent,
 * which may write /etc, deletes [enroll] token_file (unless [enroll]
 * remove_token_file = no), and warns when the token is written in the
 * configuration itself.  A token file it cannot delete (a read-only /etc)
 * is recorded in STATE_DIR/enroll-token-left and warned about, and tried
 * again, at each start until it is gone.
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
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "psmsg.h"
#include "util.h"

#define RETRY_S 30
#define TOKEN_LEFT "enroll-token-left"

static void left_path(const struct agent_conf *conf, char *out, size_t len)
{
    snprintf(out, len, "%s/" TOKEN_LEFT, conf->state_dir);
}

/* Deletes the token file.  Returns 0 when it is gone (or was), else
 * -errno. */
static int token_file_remove(const struct agent_conf *conf)
{
    if (unlink(conf->enroll_token_file) != 0 && errno != ENOENT)
        return -errno;
    (void)vg_fsync_parent(conf->enroll_token_file);
    return 0;
}

/* After an enrollment, installed as agent id. */
static void token_after_enroll(const struct agent_conf *conf, const char *id)
{
    char left[4200];
    int rc;

    if (conf->enroll_token && conf->enroll_token[0])
        log_warnx("[enroll] enrolled as agent %s; the enrollment token is still written in the "
                  "configuration ([enroll] token in %s or its drop-ins): remove it, a token "
                  "left there could enroll other hosts", id, vg_daemon_conf_path());
    if (agent_enroll_token_source(conf) != ENROLL_TOKEN_FILE)
        return;
    if (!conf->enroll_remove_token_file) {
        log_info("[enroll] enrolled as agent %s; kept the enrollment token file %s ([enroll] "
                 "remove_token_file = no)", id, conf->enroll_token_file);
        return;
    }
    if ((rc = token_file_remove(conf)) == 0) {
        log_info("[enroll] enrolled as agent %s; removed the enrollment token file %s (no "
                 "longer needed)", id, conf->enroll_token_file);
        return;
    }
    log_warnx("[enroll] enrolled as agent %s; cannot remove the enrollment token file %s (%s): "
              "delete it, a token left on disk could enroll other hosts", id,
              conf->enroll_token_file, vg_strerror(rc));
    left_path(conf, left, sizeof(left));
    if ((rc = vg_file_write_atomic(left, conf->enroll_token_file,
                                   strlen(conf->enroll_token_file), 0600, 0)) != 0)
        log_warnx("[enroll] cannot record it in %s: %s", left, vg_strerror(rc));
}

/* At a start with a certificate: a token file an enrollment left. */
static void token_left_check(const struct agent_conf *conf)
{
    char left[4200], *was = NULL;
    size_t len;
    int rc;

    left_path(conf, left, sizeof(left));
    if (vg_file_read(left, 4096, &was, &len) != 0)
        return;
    /* Only the file it could not delete: the configuration may name
     * another now. */
    if (strcmp(was, conf->enroll_token_file) != 0 || !conf->enroll_remove_token_file ||
        (rc = token_file_remove(conf)) == 0) {
        if (strcmp(was, conf->enroll_token_file) == 0 && conf->enroll_remove_token_file)
            log_info("[enroll] removed the enrollment token file %s left by the enrollment",
                     was);
        unlink(left);
    } else {
        log_warnx("[enroll] the enrollment token file %s is still there after enrolling and "
                  "cannot be removed (%s): delete it, a token left on disk could enroll other "
                  "hosts", was, vg_strerror(rc));
    }
    free(was);
}

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
        char id[128];
        rc = certs_install(conf, NULL, cert->key, cert->key_len, cert->cert, cert->cert_len, err,
                           sizeof(err));
        if (rc)
            log_error("[enroll] the certificate obtained was not installed: %s", err);
        else if (certs_agent_id(conf, id, sizeof(id), err, sizeof(err)) == 0)
            token_after_enroll(conf, id);
        else
            log_error("[enroll] %s", err);
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
    if (access(conf->cert, F_OK) == 0) {
        token_left_check(conf);
        return 0;
    }
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
