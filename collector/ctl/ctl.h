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

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "vigil/v1/envelope.pb-c.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

struct ctl_cmd;

struct ctl {
    const char *collector;   /* HOST:PORT */
    const char *ca, *cert, *key;
    const char *server_name;
    int json;
    int verbose;
    /* main.c's tables, for `vigilctl completion` (which must not reach
     * back into main.c: no call cycles between files). */
    const struct ctl_cmd *cmds;
    size_t ncmds;
    const char *global_short;
    const struct option *global_long;
};

/*
 * A command's options: the very getopt_long tables its parser uses, which
 * `vigilctl completion bash` turns into the completion, so that it offers
 * what the parser takes and nothing else.  A set belongs to one sub-command
 * word (word "init": pki init) or, word NULL, to all of the command.
 * Arrays of sets end with a row whose longopts is NULL.
 */
struct ctl_optset {
    const char *word;
    const char *shortopts;         /* getopt_long's optstring, e.g. ":ho:" */
    const struct option *longopts; /* ends with a zeroed row */
};

/* getopt_long(argc, argv, os->shortopts, os->longopts, NULL). */
int ctl_getopt(int argc, char **argv, const struct ctl_optset *os);

struct ctl_cmd {
    const char *name;
    const char *summary; /* one line for `vigilctl --help` */
    int (*run)(struct ctl *ctl, int argc, char **argv); /* argv[0] is the command name */
    void (*usage)(FILE *out);
    const char *words;                /* its sub-command words ("init issue show"), or NULL */
    const struct ctl_optset *optsets; /* NULL: the command takes only --help */
};

/* Prints "vigilctl: <message>" to stderr.  Returns CTL_EXIT_FAIL. */
int ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Text that came from a host or an operator (hostnames, tags, package
 * names, messages) goes to the terminal only through these: control
 * characters, C1 controls and bytes that are not UTF-8 are shown as
 * "\xNN" and a backslash as "\\" (vg_str_escape), so no host can drive
 * the operator's terminal or make one line look like two.  --json output
 * is not escaped: jansson writes every string exactly, with \uXXXX escapes.
 */
/* Prints s (NULL: nothing) escaped on stdout, however long. */
void ctl_put_text(const char *s);
/* Writes s (NULL: "") escaped into buf (len bytes, cut between whole
 * escapes if it must be).  Returns buf, for use as a printf argument. */
char *ctl_text(char *buf, size_t len, const char *s);
/* Terminal columns that escaped text s takes (wide characters count 2). */
size_t ctl_width(const char *s);
/* Prints escaped text s as a table cell: padded to width columns and
 * followed by two spaces, or, if last, by a newline. */
void ctl_put_cell(const char *s, size_t width, int last);
/*
 * A status line on a terminal's stderr (progress): ctl_status draws line
 * (escaped text, cut to the terminal's width) over the previous one;
 * ctl_status_end removes it.  ctl_err and ctl_usage_err remove it first,
 * so a message never lands on the end of a status line.
 */
void ctl_status(const char *line);
void ctl_status_end(void);
/* Prints v as indented JSON (keys in insertion order) on stdout. */
void ctl_print_json(json_t *v);
/* Prints "vigilctl: <message>" and a pointer to --help.  Returns CTL_EXIT_USAGE. */
int ctl_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Each command's option sets (struct ctl_optset), defined next to its parser. */
extern const struct ctl_optset ctl_opts_pki[], ctl_opts_hosts[], ctl_opts_packages[],
    ctl_opts_pending[], ctl_opts_processes[], ctl_opts_process_tree[], ctl_opts_isolate[],
    ctl_opts_commands[], ctl_opts_release_token[], ctl_opts_collect[], ctl_opts_collections[],
    ctl_opts_collection[], ctl_opts_enroll_token[], ctl_opts_revoke[], ctl_opts_audit[],
    ctl_opts_report[], ctl_opts_advisories[], ctl_opts_exception[], ctl_opts_completion[],
    ctl_opts_db[];

int ctl_cmd_pki(struct ctl *ctl, int argc, char **argv);
void ctl_usage_pki(FILE *out);
int ctl_cmd_hosts(struct ctl *ctl, int argc, char **argv);
void ctl_usage_hosts(FILE *out);
int ctl_cmd_host(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_inventory(struct ctl *ctl, int argc, char **argv);
void ctl_usage_inventory(FILE *out);
int ctl_cmd_audit(struct ctl *ctl, int argc, char **argv);
void ctl_usage_audit(FILE *out);
int ctl_cmd_processes(struct ctl *ctl, int argc, char **argv);
void ctl_usage_processes(FILE *out);
int ctl_cmd_process_tree(struct ctl *ctl, int argc, char **argv);
void ctl_usage_process_tree(FILE *out);
int ctl_cmd_pending(struct ctl *ctl, int argc, char **argv);
void ctl_usage_pending(FILE *out);
int ctl_cmd_packages(struct ctl *ctl, int argc, char **argv);
void ctl_usage_packages(FILE *out);
void ctl_usage_host(FILE *out);
int ctl_cmd_isolate(struct ctl *ctl, int argc, char **argv);
void ctl_usage_isolate(FILE *out);
void ctl_usage_release(FILE *out);
int ctl_cmd_commands(struct ctl *ctl, int argc, char **argv);
void ctl_usage_commands(FILE *out);
int ctl_cmd_release_token(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_revoke(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_operators(struct ctl *ctl, int argc, char **argv);
void ctl_usage_operators(FILE *out);
int ctl_cmd_revoked(struct ctl *ctl, int argc, char **argv);
void ctl_usage_revoked(FILE *out);
/* The collector's revoked certificates as 'vigilctl --json revoked' prints
 * them (cmd_operators.c).  Returns 0 with *out a new JSON array, or an
 * exit status (the error printed). */
int ctl_revoked_json(struct ctl *ctl, json_t **out);
int ctl_cmd_enroll_token(struct ctl *ctl, int argc, char **argv);
void ctl_usage_enroll_token(FILE *out);
void ctl_usage_revoke(FILE *out);
int ctl_cmd_collect(struct ctl *ctl, int argc, char **argv);
void ctl_usage_collect(FILE *out);
int ctl_cmd_collections(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_collection(struct ctl *ctl, int argc, char **argv);
void ctl_usage_collections(FILE *out);
void ctl_usage_release_token(FILE *out);
int ctl_cmd_advisories(struct ctl *ctl, int argc, char **argv);
void ctl_usage_advisories(FILE *out);
int ctl_cmd_exception(struct ctl *ctl, int argc, char **argv);
void ctl_usage_exception(FILE *out);
int ctl_cmd_report(struct ctl *ctl, int argc, char **argv);
void ctl_usage_report(FILE *out);
int ctl_cmd_completion(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_db(struct ctl *ctl, int argc, char **argv);
void ctl_usage_db(FILE *out);
void ctl_usage_completion(FILE *out);

/* Sends req to the collector and waits for the response (client.c).
 * On success returns 0 with *resp set; free with ctl_call_free(*owner).
 * Otherwise prints the error and returns CTL_EXIT_FAIL. */
int ctl_call(struct ctl *ctl, Vigil__V1__OperatorRequest *req,
             Vigil__V1__OperatorResponse **resp, void **owner);
void ctl_call_free(void *owner);
/* 0 if r->ok; else prints the collector's error and returns CTL_EXIT_FAIL. */
int ctl_response_error(const Vigil__V1__OperatorResponse *r);
/* ctl_call, then checks that the answer is ok and of the expected kind
 * (a VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_* value).  Same returns;
 * on failure nothing is left to free. */
int ctl_query(struct ctl *ctl, Vigil__V1__OperatorRequest *req, int want,
              Vigil__V1__OperatorResponse **resp, void **owner);

/* Finds HOST (an agent id, or a hostname held by exactly one host) among
 * the collector's hosts.  On success returns 0 and *out (free with
 * ctl_call_free(*owner)).  Exit code 2 when several hosts match (they are
 * listed), 1 when none does. */
int ctl_resolve_host(struct ctl *ctl, const char *host, const Vigil__V1__HostInfo **out,
                     void **owner);

/* The agent id for HOST (an agent id, or a hostname held by exactly one
 * host) written into out; HOST itself when no host matches, so that the
 * collector decides (and audits the refusal).  Returns 0, or an exit
 * status (2 when several hosts have that name; they are listed). */
int ctl_resolve_agent_id(struct ctl *ctl, const char *host, char *out, size_t len);

/*
 * Several hosts at once (fleet.c): isolate, release and collect with
 * --tag KEY=VALUE or several HOSTs.  The selection is resolved from the
 * collector's host list (cut to a scoped operator's hosts), shown with
 * its count and confirmed; then each host gets its own request.
 */
#define CTL_FLEET_TAGS 32
#define CTL_FLEET_MAX 10000
struct ctl_target {
    char agent_id[256], hostname[256];
    int connected, known; /* known: in the collector's list */
    /* Filled in by the command: */
    char command_id[64];
    int state;           /* a vigil.v1.CommandState; 0 if not queued */
    char message[512];   /* the agent's last word, or why it was refused */
    int done;            /* its outcome is printed */
};
struct ctl_fleet {
    Vigil__V1__Tag tagv[CTL_FLEET_TAGS], *tagp[CTL_FLEET_TAGS];
    char tagbuf[CTL_FLEET_TAGS][256];
    size_t ntags;
    int yes, dry_run;
    char selection[512]; /* "tag site=a" or "3 hosts named" */
    struct ctl_target *t;
    size_t n, cap;
};
/* Adds a --tag KEY=VALUE.  Returns 0 or an exit status (usage). */
int ctl_fleet_tag(struct ctl_fleet *f, const char *cmd, const char *arg);
/* 1 if the command acts on a selection (--tag, several HOSTs, --dry-run)
 * rather than on one HOST as before. */
int ctl_fleet_wanted(const struct ctl_fleet *f, int nnames);
/* Fills f->t from the tags or the names (agent ids or unique hostnames;
 * a name the collector does not know is kept, for the collector to
 * refuse and audit).  Returns 0, or an exit status (the error printed;
 * 1 when nothing matches). */
int ctl_fleet_select(struct ctl *ctl, const char *cmd, struct ctl_fleet *f, char **names,
                     int nnames);
/* --dry-run: lists the hosts and returns -1 (exit 0, nothing queued).
 * --yes: returns 0.  Otherwise asks on a terminal ("isolate 3 hosts (tag
 * site=a): web-01, ...? [y/N]") and returns 0 if confirmed, 1 if not;
 * with stdin not a terminal, refuses with exit status 2. */
int ctl_fleet_confirm(struct ctl *ctl, const char *cmd, struct ctl_fleet *f);
/* "hostname (agent id)", escaped, in buf. */
const char *ctl_fleet_name(const struct ctl_target *t, char *buf, size_t len);
/* One line of progress: "  web-01 (agent-1): WHAT: TEXT" (text escaped),
 * on stdout, or on stderr with --json. */
/* Where a command just queued stands: sent to the agent, passed to the
 * collector the agent is connected to (several collectors on one
 * database), or queued for an agent that is offline. */
const char *ctl_queued_note(const Vigil__V1__CommandInfo *ci);
void ctl_fleet_line(struct ctl *ctl, const struct ctl_target *t, const char *what,
                    const char *text);
/* The summary ("3 isolated, 0 failed, 0 still pending"; with --json the
 * one document: {action, selection, hosts: [{agent_id, hostname,
 * command_id, state, message}], succeeded, failed, pending}), after the
 * lines of those still pending when waited.  Returns the exit status: 1
 * if any host failed or was refused (no command_id), else 3 if any is
 * still pending after a wait, else 0. */
int ctl_fleet_summary(struct ctl *ctl, const char *cmd, struct ctl_fleet *f, int waited);
void ctl_fleet_free(struct ctl_fleet *f);

#endif
