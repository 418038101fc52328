#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "log.h"

static void usage(const struct vg_daemon *d, FILE *out)
{
    fprintf(out,
            "Usage: %s [-c FILE] [-t] [-d]\n"
            "\n"
            "%s\n"
            "\n"
            "  -c, --config FILE     configuration file (default %s)\n"
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
    rc = vg_conf_load(d->keys, conf, path, err, sizeof(err));
    if (rc == 0 && d->validate)
        rc = d->validate(conf, path, err, sizeof(err));
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
        else
            printf("%s: configuration OK\n", path);
        vg_conf_free(d->keys, conf);
        return 0;
    }
    return -1;
}
