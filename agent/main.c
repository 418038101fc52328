/*
 * vigil-agent: collects host state and streams it to the collector.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define DEFAULT_CONF "/etc/vigil/agent.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent [-c FILE] [-t] [-d]\n"
            "\n"
            "The Vigil endpoint agent.\n"
            "\n"
            "  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
            "  -t, --check-config  check the configuration and exit (0 if valid)\n"
            "      --dump-config   print the effective configuration and exit\n"
            "      --example-config  print a commented configuration with every key\n"
            "  -d, --debug         log at debug level\n"
            "  -h, --help          this help\n"
            "  -V, --version       print the version\n");
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
    struct agent_conf conf;
    char err[512];
    int c, check = 0, dump = 0, debug = 0, rc;

    vg_log_init("vigil-agent", 0, VG_LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:tdhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case 't': check = 1; break;
        case OPT_DUMP: dump = 1; break;
        case OPT_EXAMPLE: vg_conf_print_example(agent_conf_keys, stdout); return 0;
        case 'd': debug = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("vigil-agent %s\n", VG_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    memset(&conf, 0, sizeof(conf));
    rc = vg_conf_load(agent_conf_keys, &conf, conf_path, err, sizeof(err));
    if (rc) {
        log_error("%s", err);
        vg_conf_free(agent_conf_keys, &conf);
        return 1;
    }
    if (debug)
        vg_log_set_level(VG_LOG_DEBUG);
    if (dump)
        vg_conf_dump(agent_conf_keys, &conf, stdout);
    else if (check)
        printf("%s: configuration OK\n", conf_path);
    else {
        log_error("the transport to the collector is not built yet; "
                  "only --check-config and --dump-config work in this version");
        rc = 1;
    }
    vg_conf_free(agent_conf_keys, &conf);
    return rc;
}
