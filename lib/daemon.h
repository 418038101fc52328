/*
 * Start-up shared by vigil-agent and vigil-collector: the common command
 * line (-c FILE, -t, --dump-config, --example-config, -d, -h, -V) and
 * loading the configuration with its checks.
 */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

#include <stdint.h>
#include <uv.h>

#include <stddef.h>

#include "conf.h"

struct vg_daemon {
    const char *name;         /* "vigil-agent" */
    const char *about;        /* paragraph after the usage line */
    const char *footer;       /* paragraph after the options (may be NULL) */
    const char *commands;     /* one-shot sub-commands, described (may be NULL) */
    const char *default_conf; /* "/etc/vigil/agent.conf" */
    const struct vg_conf_key *keys;
    size_t log_level_offset;  /* offset of the char *log_level in the conf struct */
    const char *log_level_key; /* "[agent] log_level", for messages */
    /* Further checks after loading (may be NULL).  Returns 0, or
     * VG_ECONFIG with a message in err. */
    int (*validate)(const void *conf, const char *path, char *err, size_t errlen);
    /* Checks made by --check-config alone (may be NULL): what the program
     * meets later and reports then, but must not stop for at start. */
    int (*check_only)(const void *conf, const char *path, char *err, size_t errlen);
};

/* Parses the command line, loads and checks the configuration (the file
 * and its drop-ins, see vg_conf_load) into conf
 * (zeroed by the caller) and sets the log level.  Returns -1 when the
 * daemon should run, otherwise the status to exit with (0 after --help,
 * --version, --check-config or --dump-config; 1 on a configuration
 * error; 2 on a usage error), conf then being freed. */
int vg_daemon_start(const struct vg_daemon *d, int argc, char **argv, void *conf);

/* Reloading (SIGHUP): loads the file vg_daemon_start loaded, and its
 * drop-ins as they are now, into conf
 * (zeroed by the caller) with the same checks (validate, the log level;
 * not check_only).  Returns 0, or VG_ECONFIG (conf freed) with a message
 * naming the file and the key in err.  The log level is not changed. */
int vg_daemon_reload(const struct vg_daemon *d, void *conf, char *err, size_t errlen);
/* The configuration file vg_daemon_start loaded. */
const char *vg_daemon_conf_path(void);

/* systemd's notification protocol (sd_notify(3)), without libsystemd: a
 * datagram to $NOTIFY_SOCKET ("@name" for the abstract namespace).  A
 * no-op when the variable is unset.  Returns 0 or -errno. */
int vg_notify(const char *state);
/* How often to send "WATCHDOG=1": half of $WATCHDOG_USEC, in ms, when the
 * watchdog is on for this process ($WATCHDOG_PID unset or ours); 0 when
 * it is off. */
uint64_t vg_notify_watchdog_ms(void);

/* Says READY=1 (with a status line) and, when systemd's watchdog is on,
 * starts timer (initialised here on loop) to say WATCHDOG=1 at half its
 * interval.  The caller closes timer when it stops (after saying
 * STOPPING=1 with vg_notify). */
void vg_notify_ready(uv_loop_t *loop, uv_timer_t *timer, const char *status);

/* Raises the soft limit on open descriptors towards want: up to the hard
 * limit, and past it when the process may (root with CAP_SYS_RESOURCE,
 * never beyond fs.nr_open).  Returns the soft limit now in force (which
 * may be below want; the caller decides what that costs), or 0 when the
 * limit cannot be read. */
uint64_t vg_fd_limit_raise(uint64_t want);

#endif
