/*
 * Start-up shared by vigil-agent and vigil-collector: the common command
 * line (-c FILE, -t, --dump-config, --example-config, -d, -h, -V) and
 * loading the configuration with its checks.
 */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

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
};

/* Parses the command line, loads and checks the configuration into conf
 * (zeroed by the caller) and sets the log level.  Returns -1 when the
 * daemon should run, otherwise the status to exit with (0 after --help,
 * --version, --check-config or --dump-config; 1 on a configuration
 * error; 2 on a usage error), conf then being freed. */
int vg_daemon_start(const struct vg_daemon *d, int argc, char **argv, void *conf);

#endif
