#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "util.h"
#include "log.h"

/* The file vg_daemon_start loaded, for reloads. */
static char conf_path[4096];

static void usage(const struct vg_daemon *d, FILE *out)
{
    fprintf(out,
            "Usage: %s [-c FILE] [-t] [-d]\n"
            "\n"
            "%s\n"
            "\n"
            "  -c, --config FILE     configuration file (default %s), then FILE.d/*.conf\n"
            "  -t, --check-config    check the configuration and exit (0 if valid)\n"
            "      --dump-config     print the effective configuration and exit\n"
            "      --example-config  print a commented configuration with every key\n"
            "  -d, --debug           log at debug level\n"
            "  -h, --help            this help\n"
            "  -V, --version         print the version\n",
            d->name, d->about, d->default_conf);
    if (d->commands)
        fprintf(out, "\n%s\n", d->commands);
    if (d->footer)
        fprintf(out, "\n%s\n", d->footer);
}

int vg_daemon_start(const struct vg_daemon *d, int argc, char **argv, void *conf)
{
    enum { OPT_DUMP = 256, OPT_EXAMPLE };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 't' },
        { "dump-config", no_argument, NULL, OPT_DUMP },
        { "example-config", no_argument, NULL, OPT_EXAMPLE },
        { "debug", no_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = d->default_conf;
    enum vg_log_level level;
    char err[512];
    const char *lvl;
    int c, check = 0, dump = 0, debug = 0, rc;
    size_t ndropins = 0;

    while ((c = getopt_long(argc, argv, "c:tdhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 't': check = 1; break;
        case OPT_DUMP: dump = 1; break;
        case OPT_EXAMPLE: vg_conf_print_example(d->keys, stdout); return 0;
        case 'd': debug = 1; break;
        case 'h': usage(d, stdout); return 0;
        case 'V': printf("%s %s\n", d->name, VG_VERSION); return 0;
        default: usage(d, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", d->name, argv[optind]);
        return 2;
    }
    vg_strlcpy(conf_path, path, sizeof(conf_path));
    rc = vg_conf_load_ex(d->keys, conf, path, 0, &ndropins, err, sizeof(err));
    if (rc == 0 && d->validate)
        rc = d->validate(conf, path, err, sizeof(err));
    if (rc == 0 && check && d->check_only)
        rc = d->check_only(conf, path, err, sizeof(err));
    lvl = *(const char *const *)(const void *)((const char *)conf + d->log_level_offset);
    if (rc == 0 && (!lvl || vg_log_level_parse(lvl, &level))) {
        snprintf(err, sizeof(err), "%s: %s '%s': use error, warn, info or debug", path,
                 d->log_level_key, lvl ? lvl : "");
        rc = VG_ECONFIG;
    }
    if (rc) {
        log_error("%s", err);
        vg_conf_free(d->keys, conf);
        return 1;
    }
    vg_log_set_level(debug ? VG_LOG_DEBUG : level);
    if (dump || check) {
        if (dump)
            vg_conf_dump(d->keys, conf, stdout);
        else if (ndropins)
            printf("%s (+%zu drop-in%s): configuration OK\n", path, ndropins,
                   ndropins == 1 ? "" : "s");
        else
            printf("%s: configuration OK\n", path);
        vg_conf_free(d->keys, conf);
        return 0;
    }
    return -1;
}

const char *vg_daemon_conf_path(void)
{
    return conf_path;
}

int vg_daemon_reload(const struct vg_daemon *d, void *conf, char *err, size_t errlen)
{
    const char *lvl;
    enum vg_log_level level;
    int rc;

    rc = vg_conf_load(d->keys, conf, conf_path, err, errlen);
    if (rc == 0 && d->validate)
        rc = d->validate(conf, conf_path, err, errlen);
    lvl = *(const char *const *)(const void *)((const char *)conf + d->log_level_offset);
    if (rc == 0 && (!lvl || vg_log_level_parse(lvl, &level))) {
        snprintf(err, errlen, "%s: %s '%s': use error, warn, info or debug", conf_path,
                 d->log_level_key, lvl ? lvl : "");
        rc = VG_ECONFIG;
    }
    if (rc) {
        vg_conf_free(d->keys, conf);
        return rc == -ENOMEM ? rc : VG_ECONFIG;
    }
    return 0;
}

/* ---- systemd notification ---- */

int vg_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd, rc = 0;

    if (!path || !path[0])
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

uint64_t vg_notify_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    uint64_t us, p;
    if (!usec || vg_parse_u64(usec, 1, UINT64_MAX, &us))
        return 0;
    if (pid && (vg_parse_u64(pid, 1, UINT64_MAX, &p) || p != (uint64_t)getpid()))
        return 0;
    return us / 2000 ? us / 2000 : 1;
}

static void watchdog_cb(uv_timer_t *t)
{
    (void)t;
    vg_notify("WATCHDOG=1");
}

void vg_notify_ready(uv_loop_t *loop, uv_timer_t *timer, const char *status)
{
    char msg[300];
    uint64_t ms = vg_notify_watchdog_ms();
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
    uv_timer_init(loop, timer);
    if (ms) {
        uv_timer_start(timer, watchdog_cb, ms, ms);
        uv_unref((uv_handle_t *)timer); /* never what keeps a loop alive */
    }
    if (vg_notify(msg) != 0)
        log_warnx("cannot notify systemd at $NOTIFY_SOCKET");
}

uint64_t vg_fd_limit_raise(uint64_t want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit up = rl;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
            /* Past the hard limit needs CAP_SYS_RESOURCE and stays under
             * fs.nr_open; without them, the hard limit is what we get. */
            up.rlim_cur = up.rlim_max = want;
            if (setrlimit(RLIMIT_NOFILE, &up) != 0)
                up.rlim_cur = up.rlim_max = rl.rlim_max;
        } else {
            up.rlim_cur = want;
        }
        if (up.rlim_cur != rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}
