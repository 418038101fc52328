/*
 * vigilctl internals: global options and the sub-command table.
 *
 * Conventions for every sub-command (README "Conventions"):
 *   exit 0 success, 1 failure, 2 usage error;
 *   --json prints one JSON document with snake_case keys (a list command
 *   prints an array of objects); times are RFC 3339 UTC;
 *   every error names what failed and what to do.
 */
#ifndef VG_CTL_H
#define VG_CTL_H

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

struct ctl {
    const char *collector;   /* HOST:PORT */
    const char *ca, *cert, *key;
    const char *server_name;
    int json;
    int verbose;
};

struct ctl_cmd {
    const char *name;
    const char *summary; /* one line for `vigilctl --help` */
    int (*run)(struct ctl *ctl, int argc, char **argv); /* argv[0] is the command name */
    void (*usage)(FILE *out);
};

/* Prints "vigilctl: <message>" to stderr.  Returns CTL_EXIT_FAIL. */
int ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vigilctl: <message>" and a pointer to --help.  Returns CTL_EXIT_USAGE. */
int ctl_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int ctl_cmd_pki(struct ctl *ctl, int argc, char **argv);
void ctl_usage_pki(FILE *out);

#endif
