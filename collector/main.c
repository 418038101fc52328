/*
 * vigil-collector: receives agents' streams, stores them, serves operators.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "err.h"
#include "log.h"

#define DEFAULT_CONF "/etc/vigil/collector.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-collector [-c FILE] [-t] [-d]\n"
            "\n"
            "The Vigil collector: agents stream to it, operators query it.\n"
            "\n"
            "  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
            "  -t, --check-config  check the configuration and exit (0 if valid)\n"
            "      --dump-config   print the effective configuration and exit\n"
            "      --example-config  print a commented configuration with every key\n"
            "  -d, --debug         log at debug level\n"
            "  -h, --help          this help\n"
            "  -V, --version       print the version\n"
            "\n"
            "Logs go to stderr (the journal under systemd).  SIGTERM or SIGINT stop it\n"
            "cleanly: no new connections, pending batches committed and acknowledged.\n");
}

int main(int argc, char **argv)
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
    const char *conf_path = DEFAULT_CONF;
    struct collector_conf conf;
    struct server srv;
    enum vg_log_level level;
    char err[512];
    int c, check = 0, dump = 0, debug = 0, rc;

    vg_log_init("vigil-collector", 0, VG_LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:tdhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case 't': check = 1; break;
        case OPT_DUMP: dump = 1; break;
        case OPT_EXAMPLE: vg_conf_print_example(collector_conf_keys, stdout); return 0;
        case 'd': debug = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("vigil-collector %s\n", VG_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-collector: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    memset(&conf, 0, sizeof(conf));
    rc = vg_conf_load(collector_conf_keys, &conf, conf_path, err, sizeof(err));
    if (rc == 0 && vg_log_level_parse(conf.log_level, &level)) {
        snprintf(err, sizeof(err), "%s: [collector] log_level '%s': use error, warn, info or debug",
                 conf_path, conf.log_level);
        rc = VG_ECONFIG;
    }
    if (rc) {
        log_error("%s", err);
        vg_conf_free(collector_conf_keys, &conf);
        return 1;
    }
    vg_log_set_level(debug ? VG_LOG_DEBUG : level);
    if (dump || check) {
        if (dump)
            vg_conf_dump(collector_conf_keys, &conf, stdout);
        else
            printf("%s: configuration OK\n", conf_path);
        vg_conf_free(collector_conf_keys, &conf);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (server_start(&srv, uv_default_loop(), &conf, err, sizeof(err))) {
        log_error("%s", err);
        vg_conf_free(collector_conf_keys, &conf);
        return 1;
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    server_free(&srv);
    rc = uv_loop_close(uv_default_loop());
    if (rc)
        log_warnx("event loop closed with handles open: %s", uv_strerror(rc));
    vg_conf_free(collector_conf_keys, &conf);
    return 0;
}
