/*
 * vigilctl: the operator tool.  Global options come before the
 * sub-command: vigilctl [OPTIONS] COMMAND [ARGS].
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "util.h"

static const struct ctl_cmd commands[] = {
    { "pki", "create a CA, issue certificates, sign a CRL (init, issue, show, crl)", ctl_cmd_pki,
      ctl_usage_pki, "init issue show crl", ctl_opts_pki },
    { "hosts", "list the fleet: identity, OS, last seen, state; --stale; retire (admin)",
      ctl_cmd_hosts, ctl_usage_hosts, "retire", ctl_opts_hosts },
    { "host", "show one host (by agent id or unique hostname)", ctl_cmd_host, ctl_usage_host,
      NULL, NULL },
    { "inventory", "a host's packages, as the collector holds them", ctl_cmd_inventory,
      ctl_usage_inventory, NULL, NULL },
    { "packages", "which hosts have a package, at which version", ctl_cmd_packages,
      ctl_usage_packages, NULL, ctl_opts_packages },
    { "pending", "pending updates of a host or the fleet, and for how long", ctl_cmd_pending,
      ctl_usage_pending, NULL, ctl_opts_pending },
    { "processes", "a host's stored execs (time, pid, parent, user, argv, exit)",
      ctl_cmd_processes, ctl_usage_processes, NULL, ctl_opts_processes },
    { "process-tree", "a process's ancestry on a host", ctl_cmd_process_tree,
      ctl_usage_process_tree, NULL, ctl_opts_process_tree },
    { "isolate", "cut hosts off the network, except their collector (--tag: many)",
      ctl_cmd_isolate,
      ctl_usage_isolate, NULL, ctl_opts_isolate },
    { "release", "lift hosts' network isolation (--tag: many)", ctl_cmd_isolate,
      ctl_usage_release,
      NULL, ctl_opts_isolate },
    { "commands", "command history and state; cancel a queued command",
      ctl_cmd_commands, ctl_usage_commands, "cancel", ctl_opts_commands },
    { "release-token", "break-glass token to release an isolated host offline (admin)",
      ctl_cmd_release_token, ctl_usage_release_token, NULL, ctl_opts_release_token },
    { "collect", "collect a triage package from a host, download and verify it",
      ctl_cmd_collect, ctl_usage_collect, NULL, ctl_opts_collect },
    { "collections", "triage packages held, with their chain of custody",
      ctl_cmd_collections, ctl_usage_collections, NULL, ctl_opts_collections },
    { "collection", "collection get ID -o FILE: download a package again",
      ctl_cmd_collection, ctl_usage_collections, "get", ctl_opts_collection },
    { "enroll-token", "tokens for agents to enroll with (create, list, revoke; admin)",
      ctl_cmd_enroll_token, ctl_usage_enroll_token, "create list revoke", ctl_opts_enroll_token },
    { "revoke", "revoke a host's or an operator's certificates (admin): refused from then on",
      ctl_cmd_revoke, ctl_usage_revoke, NULL, ctl_opts_revoke },
    { "operators", "operator certificates seen: name, role, serial, last use, state",
      ctl_cmd_operators, ctl_usage_operators, NULL, NULL },
    { "revoked", "every revoked certificate (hosts and operators), as a CRL lists them",
      ctl_cmd_revoked, ctl_usage_revoked, NULL, NULL },
    { "audit", "the collector's audit log, and a check of its hash chain", ctl_cmd_audit,
      ctl_usage_audit, NULL, ctl_opts_audit },
    { "report", "patch-compliance report (CE, NHS DSPT, CAF B4.d) as csv, json or html; verify",
      ctl_cmd_report, ctl_usage_report, "patch verify", ctl_opts_report },
    { "advisories", "import advisory feeds (Debian tracker, DSA/DLA lists, Red Hat CSAF)",
      ctl_cmd_advisories, ctl_usage_advisories, "import list", ctl_opts_advisories },
    { "exception", "risk acceptances for findings (add, list, revoke; admin)",
      ctl_cmd_exception, ctl_usage_exception, "add list revoke", ctl_opts_exception },
    { "db", "db backup FILE: a copy of the collector's database, made while it runs (admin)",
      ctl_cmd_db, ctl_usage_db, "backup", ctl_opts_db },
    { "completion", "completion bash: print a bash completion script for vigilctl",
      ctl_cmd_completion, ctl_usage_completion, "bash", ctl_opts_completion },
};

/* Global options: main() parses them, the completion offers them. */
enum { OPT_COLLECTOR = 256, OPT_CA, OPT_CERT, OPT_KEY, OPT_SERVER_NAME, OPT_JSON };
static const char global_short[] = "+:vhV";
static const struct option global_long[] = {
    { "collector", required_argument, NULL, OPT_COLLECTOR },
    { "ca", required_argument, NULL, OPT_CA },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "server-name", required_argument, NULL, OPT_SERVER_NAME },
    { "json", no_argument, NULL, OPT_JSON },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] COMMAND [ARGS]\n"
            "\n"
            "The Vigil operator tool: certificates, fleet queries, incident response.\n"
            "\n"
            "Options (before COMMAND):\n"
            "  --collector HOST:PORT  collector to talk to (env VIGIL_COLLECTOR)\n"
            "  --ca FILE              CA certificate(s) to verify the collector (env VIGIL_CA)\n"
            "  --cert FILE            your operator certificate (env VIGIL_CERT)\n"
            "  --key FILE             its private key, mode 0600 (env VIGIL_KEY)\n"
            "  --server-name NAME     name expected in the collector's certificate\n"
            "                         (default: the host part of --collector)\n"
            "  --json                 print JSON (snake_case keys; lists are arrays)\n"
            "  -v, --verbose          more detail on errors\n"
            "  -h, --help             this help; 'vigilctl COMMAND --help' for a command\n"
            "  -V, --version          print the version\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n"
                 "Connection settings may also come from the environment (VIGIL_COLLECTOR,\n"
                 "VIGIL_CA, VIGIL_CERT, VIGIL_KEY, VIGIL_SERVER_NAME) or from\n"
                 "~/.config/vigil/ctl.conf ([ctl] collector, ca, cert, key, server_name).\n"
                 "\n"
                 "Bash completion: 'vigilctl completion bash' prints the script; the packages\n"
                 "install it as /usr/share/bash-completion/completions/vigilctl.\n"
                 "\n"
                 "Exit status: 0 success, 1 failure, 2 usage error; isolate, release and\n"
                 "collect: 3 when the command had not finished by the end of the wait.\n");
}

int main(int argc, char **argv)
{
    struct ctl ctl;
    int c;

    memset(&ctl, 0, sizeof(ctl));
    ctl.collector = getenv("VIGIL_COLLECTOR");
    ctl.ca = getenv("VIGIL_CA");
    ctl.cert = getenv("VIGIL_CERT");
    ctl.key = getenv("VIGIL_KEY");
    ctl.cmds = commands;
    ctl.ncmds = VG_ARRAY_SIZE(commands);
    ctl.global_short = global_short;
    ctl.global_long = global_long;
    vg_log_init("vigilctl", 0, VG_LOG_WARN);

    /* "+": stop at the first non-option, the sub-command. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, global_short, global_long, NULL)) != -1) {
        switch (c) {
        case OPT_COLLECTOR: ctl.collector = optarg; break;
        case OPT_CA: ctl.ca = optarg; break;
        case OPT_CERT: ctl.cert = optarg; break;
        case OPT_KEY: ctl.key = optarg; break;
        case OPT_SERVER_NAME: ctl.server_name = optarg; break;
        case OPT_JSON: ctl.json = 1; break;
        case 'v': ctl.verbose = 1; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case 'V': printf("vigilctl %s\n", VG_VERSION); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err(NULL, "option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt)
                return ctl_usage_err(NULL, "unknown option '-%c'", optopt);
            return ctl_usage_err(NULL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        if (optind + 1 < argc) {
            for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++) {
                if (strcmp(commands[i].name, argv[optind + 1]) == 0) {
                    commands[i].usage(stdout);
                    return CTL_EXIT_OK;
                }
            }
            return ctl_usage_err(NULL, "unknown command '%s'", argv[optind + 1]);
        }
        usage(stdout);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, argv[optind]) == 0) {
            int sub = optind;
            optind = 0; /* glibc: 0 re-initialises getopt for the sub-command */
            return commands[i].run(&ctl, argc - sub, argv + sub);
        }
    }
    return ctl_usage_err(NULL, "unknown command '%s'", argv[optind]);
}
