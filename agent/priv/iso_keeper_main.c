/*
 * The isolation keeper process: `vigil-agent isolation-keeper` (see
 * iso_keeper.c for what it is for, and how the agent starts and stops it).
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
#include <unistd.h>

#include "agent.h"
#include "daemon.h"
#include "isolation.h"
#include "log.h"
#include "util.h"

#define RECHECK_MS 5000

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
            iso_sleep_ms(RECHECK_MS);
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
    iso_keeper_lock_path(&conf, path, sizeof(path));
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        log_warn("[keeper] cannot open %s", path);
        rc = 1;
        goto out;
    }
    /* The agent may be looking (a shared lock, briefly): try a while. */
    for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
        if (i < 40) {
            iso_sleep_ms(50);
            continue;
        }
        if (!follow) {
            log_info("[keeper] another isolation keeper runs for %s", conf.state_dir);
            rc = 0;
            goto out;
        }
        /* The unit's keeper: ready, and next in line (the other one,
         * started by the agent, ends on the next release). */
        log_info("[keeper] another isolation keeper runs for %s; waiting to take over",
                 conf.state_dir);
        vg_notify("READY=1");
        while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
            ;
        break;
    }
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("[keeper] cannot write %s", path);
    if (restore)
        iso_restore_rules(&conf);
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
