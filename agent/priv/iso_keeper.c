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
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "daemon.h"
#include "isolation.h"
#include "log.h"
#include "util.h"

#define KEEPER_LOCK "isolation-keeper.lock"
#define RECHECK_MS 5000

static void lock_path(const struct agent_conf *c, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->state_dir, KEEPER_LOCK);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int iso_keeper_running(const struct agent_conf *c)
{
    char path[4096];
    int fd, held;

    lock_path(c, path, sizeof(path));
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

    lock_path(c, path, sizeof(path));
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
    pid_t pid;
    int status;

    if (iso_keeper_running(c))
        return 0;
    /* Two forks: the keeper is re-parented at once, so it is neither a
     * zombie of the agent's nor in its process group, and outlives it. */
    pid = fork();
    if (pid < 0) {
        log_warn("[iso] cannot start the isolation keeper");
        return -errno;
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
        if (fork() != 0)
            _exit(0);
        if ((fd = open("/dev/null", O_RDWR)) >= 0)
            dup2(fd, 0);
        close_range(3, ~0U, 0);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
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
        sleep_ms(20);
    if (!iso_nft_keep_present())
        return;
    if ((pid = keeper_pid(c)) > 0) {
        log_warnx("[iso] the isolation keeper (pid %d) kept its rules after the release; "
                  "stopping it", (int)pid);
        kill(pid, SIGTERM);
        for (int i = 0; i < 100 && iso_nft_keep_present(); i++)
            sleep_ms(20);
    }
    if (iso_nft_keep_present())
        log_error("[iso] the isolation keeper's rules are still in place after the release");
}

/* ---- the keeper process ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void keeper_usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent isolation-keeper [-c FILE | --state-dir DIR] [--restore] "
            "[--follow]\n"
            "\n"
            "Holds a copy of the host's isolation rules in an nftables table that only this\n"
            "process may change (the owner flag, Linux 5.12 or later), so that neither\n"
            "'nft flush ruleset' nor a stopped agent opens an isolated host.  It follows the\n"
            "agent's isolation state file.  The agent starts it when it isolates the host;\n"
            "vigil-isolation.service runs it from boot.\n"
            "\n"
            "  -c, --config FILE  the agent's configuration (default /etc/vigil/agent.conf)\n"
            "  --state-dir DIR    the agent's state directory (instead of -c)\n"
            "  --restore          first put back the isolation rules from the state file\n"
            "                     (at boot, before the network is up)\n"
            "  --follow           keep running while the host is not isolated\n"
            "\n"
            "Exit status: 0 done (not isolated, or another keeper runs), 1 error,\n"
            "2 usage error, 3 this kernel cannot own nftables tables.\n");
}

/* 1 if the event names the state file ("isolation"). */
static int state_event(int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            if ((e->mask & IN_Q_OVERFLOW) || (e->len && strcmp(e->name, "isolation") == 0))
                hit = 1;
            p += sizeof(*e) + e->len;
        }
    }
    return hit;
}

static int keep(const struct agent_conf *c, int follow)
{
    struct iso_spec cur, want;
    int have = 0, in, rc = 0;
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if ((in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
        inotify_add_watch(in, c->state_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                                IN_DELETE | IN_CREATE) < 0) {
        log_warn("[keeper] cannot watch %s; looking every %d s", c->state_dir,
                 RECHECK_MS / 1000);
    }
    memset(&cur, 0, sizeof(cur));
    while (!stop) {
        char err[512];
        struct pollfd p = { in, POLLIN, 0 };
        int r = iso_state_spec(c, &want);

        if (r == 1 && (!have || !iso_spec_equal(&want, &cur))) {
            if ((rc = iso_nft_keep(&want, err, sizeof(err))) != 0) {
                /* Without the owner flag the kernel says "Operation not
                 * supported" or refuses the flag. */
                if (!have && (strstr(err, "not supported") || strstr(err, "flags"))) {
                    log_warnx("[keeper] this kernel cannot own nftables tables (Linux 5.12 or "
                              "later can): the isolation is kept by the agent alone (%s)",
                              err);
                    rc = 3;
                    break;
                }
                log_error("[keeper] cannot install the rules: %s", err);
            } else {
                log_info("[keeper] %s the isolation rules (table inet " ISO_KEEP_TABLE ")",
                         have ? "updated" : "holding");
                cur = want;
                have = 1;
            }
        } else if (r == 0 && have) {
            if (iso_nft_keep(NULL, err, sizeof(err)) != 0)
                log_error("[keeper] cannot drop the rules: %s", err);
            else
                log_info("[keeper] the host was released; rules dropped");
            have = 0;
        }
        /* A damaged state file (r < 0) changes nothing: the agent puts it
         * right. */
        if (r == 0 && !follow)
            break;
        if (in < 0)
            sleep_ms(RECHECK_MS);
        else if (poll(&p, 1, RECHECK_MS) > 0)
            state_event(in);
    }
    if (in >= 0)
        close(in);
    /* The owned table goes with the process; said for the log. */
    if (have && stop)
        log_info("[keeper] stopping: the owned copy of the rules goes (the agent's table "
                 "stays)");
    return rc;
}

int agent_keeper_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "state-dir", required_argument, NULL, 's' },
        { "restore", no_argument, NULL, 'r' },
        { "follow", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct agent_conf conf;
    const char *conf_path = "/etc/vigil/agent.conf", *state_dir = NULL;
    char err[512], path[4096], pid[32];
    int c, restore = 0, follow = 0, fd, rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case 's': state_dir = optarg; break;
        case 'r': restore = 1; break;
        case 'f': follow = 1; break;
        case 'h': keeper_usage(stdout); return 0;
        default: keeper_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-agent isolation-keeper: unexpected argument '%s'\n",
                argv[optind]);
        return 2;
    }
    vg_log_init("vigil-agent", 0, VG_LOG_INFO);
    memset(&conf, 0, sizeof(conf));
    if (state_dir) {
        if (!(conf.state_dir = strdup(state_dir)))
            return 1;
    } else if (vg_conf_load(agent_conf_keys, &conf, conf_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigil-agent isolation-keeper: %s\n", err);
        return 1;
    }
    lock_path(&conf, path, sizeof(path));
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        log_warn("[keeper] cannot open %s", path);
        rc = 1;
        goto out;
    }
    /* The agent may be looking (a shared lock, briefly): try a while. */
    for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
        if (i == 40) {
            log_info("[keeper] another isolation keeper runs for %s", conf.state_dir);
            rc = 0;
            goto out;
        }
        sleep_ms(50);
    }
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("[keeper] cannot write %s", path);
    if (restore)
        isolation_restore(&conf);
    vg_notify("READY=1");
    rc = keep(&conf, follow);
out:
    if (fd >= 0)
        close(fd);
    if (state_dir) {
        free(conf.state_dir);
        conf.state_dir = NULL;
    } else {
        vg_conf_free(agent_conf_keys, &conf);
    }
    return rc;
}
