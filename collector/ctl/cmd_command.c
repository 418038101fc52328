/*
 * vigilctl isolate, release, commands, release-token: incident response.
 *
 * isolate and release queue a command and, unless --no-wait, ask the
 * collector for its state every WAIT_POLL_MS until it is final or
 * --timeout passes.  Exit status: 0 succeeded, 1 failed, rolled back,
 * expired or refused, 2 usage, 3 not finished when the wait ended (the
 * command stays queued and runs when the agent can).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "netaddr.h"
#include "util.h"
#include "vjson.h"
#include "wire.h"

#define WAIT_POLL_MS 300
#define CTL_EXIT_PENDING 3

static json_t *info_json(const Vigil__V1__CommandInfo *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "command_id", json_string(c->command_id));
    json_object_set_new(o, "agent_id", json_string(c->agent_id));
    json_object_set_new(o, "hostname", json_string(c->hostname));
    json_object_set_new(o, "action", json_string(c->action));
    json_object_set_new(o, "state", json_string(vg_command_state_name(c->state)));
    json_object_set_new(o, "message", json_string(c->message));
    json_object_set_new(o, "operator", json_string(c->operator_));
    json_object_set_new(o, "reason", json_string(c->reason));
    json_object_set_new(o, "detail", json_string(c->detail));
    json_object_set_new(o, "issued", vg_json_time(c->issued_time_ms));
    json_object_set_new(o, "expires", vg_json_time(c->expires_time_ms));
    json_object_set_new(o, "delivered", vg_json_time(c->delivered_time_ms));
    json_object_set_new(o, "finished", vg_json_time(c->finished_time_ms));
    return o;
}

static int is_final(int st)
{
    return st >= VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED;
}

static int exit_for(int st)
{
    if (st == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED)
        return CTL_EXIT_OK;
    return is_final(st) ? CTL_EXIT_FAIL : CTL_EXIT_PENDING;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Asks for one command's state.  Returns 0 with *resp (free owner) or
 * an exit status. */
static int get_command(struct ctl *ctl, const char *id, Vigil__V1__OperatorResponse **resp,
                       void **owner)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CommandsQuery q = VIGIL__V1__COMMANDS_QUERY__INIT;
    int rc;
    q.command_id = (char *)id;
    q.limit = 1;
    req.request_id = 32;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMANDS;
    req.commands = &q;
    rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS, resp, owner);
    if (rc == 0 && (*resp)->commands->n_commands != 1) {
        ctl_call_free(*owner);
        return ctl_err("the collector no longer knows command %s", id);
    }
    return rc;
}

/* Prints a command's outcome; returns the exit status for it. */
static int show(struct ctl *ctl, const Vigil__V1__CommandInfo *c, int waited)
{
    int rc = exit_for(c->state);
    if (ctl->json) {
        json_t *o = info_json(c);
        ctl_print_json(o);
        json_decref(o);
        return rc;
    }
    if (is_final(c->state)) {
        printf("%s: ", vg_command_state_name(c->state));
        ctl_put_text(c->message[0] ? c->message : "(no message)");
        printf("\n");
    } else if (waited) {
        char t[VG_TIME_STR_MAX];
        printf("still %s after the wait; it stays queued and runs when the agent can (until "
               "%s).  Follow it with: vigilctl commands --id %s\n",
               vg_command_state_name(c->state), vg_time_format(c->expires_time_ms, t, sizeof(t)),
               c->command_id);
    }
    return rc;
}

static int wait_for(struct ctl *ctl, const char *id, uint64_t timeout_ms)
{
    uint64_t deadline = vg_time_mono_ms() + timeout_ms;
    long pause = 20;
    for (;;) {
        Vigil__V1__OperatorResponse *resp;
        void *owner;
        const Vigil__V1__CommandInfo *c;
        int rc = get_command(ctl, id, &resp, &owner);
        if (rc)
            return rc;
        c = resp->commands->commands[0];
        if (is_final(c->state) || vg_time_mono_ms() >= deadline) {
            rc = show(ctl, c, 1);
            ctl_call_free(owner);
            return rc;
        }
        ctl_call_free(owner);
        /* Most commands finish within a few tens of ms: ask soon, then
         * less often. */
        sleep_ms(pause);
        if (pause < WAIT_POLL_MS)
            pause = pause * 2 < WAIT_POLL_MS ? pause * 2 : WAIT_POLL_MS;
    }
}

/* Asks for the state of every fleet command not yet final, in one
 * request, and prints each that has become final.  Returns 0, or an exit
 * status if the collector could not be asked. */
static int fleet_poll(struct ctl *ctl, struct ctl_fleet *f)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CommandsQuery q = VIGIL__V1__COMMANDS_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp;
    char **ids = calloc(f->n ? f->n : 1, sizeof(*ids));
    void *owner;
    size_t n = 0;
    int rc;

    if (!ids)
        return ctl_err("out of memory");
    for (size_t i = 0; i < f->n; i++)
        if (f->t[i].command_id[0] && !is_final(f->t[i].state))
            ids[n++] = f->t[i].command_id;
    if (!n) {
        free(ids);
        return 0;
    }
    q.command_ids = ids;
    q.n_command_ids = n;
    q.limit = (uint32_t)n;
    req.request_id = 32;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMANDS;
    req.commands = &q;
    rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS, &resp, &owner);
    free(ids);
    if (rc)
        return rc;
    for (size_t k = 0; k < resp->commands->n_commands; k++) {
        const Vigil__V1__CommandInfo *c = resp->commands->commands[k];
        for (size_t i = 0; i < f->n; i++) {
            struct ctl_target *t = &f->t[i];
            if (strcmp(t->command_id, c->command_id) != 0 || is_final(t->state))
                continue;
            t->state = c->state;
            vg_strlcpy(t->message, c->message, sizeof(t->message));
            if (is_final(t->state)) {
                ctl_fleet_line(ctl, t, vg_command_state_name(t->state),
                           t->message[0] ? t->message : "(no message)");
                t->done = 1;
            }
        }
    }
    ctl_call_free(owner);
    return 0;
}

/* Waits for every queued command of f to finish, up to timeout_ms,
 * printing each outcome as it comes.  Returns 0, or an exit status if the
 * collector could not be asked. */
static int fleet_wait(struct ctl *ctl, struct ctl_fleet *f, uint64_t timeout_ms)
{
    uint64_t deadline = vg_time_mono_ms() + timeout_ms;
    long pause = 50;
    for (;;) {
        size_t pending = 0;
        int rc = fleet_poll(ctl, f);
        if (rc)
            return rc;
        for (size_t i = 0; i < f->n; i++)
            pending += f->t[i].command_id[0] && !is_final(f->t[i].state);
        if (!pending || vg_time_mono_ms() >= deadline)
            return 0;
        sleep_ms(pause);
        if (pause < 1000)
            pause = pause * 2 < 1000 ? pause * 2 : 1000;
    }
}

/* "192.0.2.7", "192.0.2.0/24:443", "[2001:db8::1]:22" -> a rule. */
static int parse_allow(const char *s, Vigil__V1__AllowRule *r, char *cidr, size_t clen)
{
    struct vg_netaddr a;
    char why[160];
    if (vg_netaddr_parse(s, &a, why, sizeof(why)) != 0)
        return ctl_usage_err("isolate", "--allow %s; expected ADDRESS[/PREFIX][:PORT], e.g. "
                             "192.0.2.7:22 or [2001:db8::/32]:443", why);
    r->port = a.port;
    a.port = 0;
    vg_netaddr_format(&a, cidr, clen);
    r->cidr = cidr;
    return 0;
}

void ctl_usage_isolate(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] isolate HOST --reason TEXT [--allow ADDR]... [--expires D]\n"
            "                                   [--no-wait] [--timeout D]\n"
            "       vigilctl [OPTIONS] isolate {--tag K=V... | HOST HOST...} --reason TEXT\n"
            "                                   [--yes | --dry-run] [OPTIONS]\n"
            "\n"
            "Cuts HOST off the network: it can reach nothing but its collector (and loopback,\n"
            "DHCP, and what --allow lets through), IPv4 and IPv6, including connections that\n"
            "were already open.  The agent proves it still reaches the collector over a new\n"
            "connection afterwards, or rolls the isolation back.  It survives agent restarts\n"
            "and reboots; only 'vigilctl release' lifts it.  Needs the responder or admin\n"
            "role; the command, its delivery and its result go to the audit log.\n"
            "\n"
            "  HOST            agent id, or a hostname held by exactly one host\n"
            "  --reason TEXT   why (required; recorded in the audit log)\n"
            "  --allow ADDR    also allow ADDRESS[/PREFIX][:PORT], e.g. 192.0.2.7,\n"
            "                  10.0.0.0/8:22 or [2001:db8::1]:443; with a port, traffic with\n"
            "                  that port at either end (repeatable, at most 64)\n"
            "  --expires D     give the command up if the agent has not received it within D\n"
            "                  (default 24h; an offline host gets it when it reconnects)\n"
            "  --no-wait       print the command id and return once it is queued\n"
            "  --timeout D     how long to wait for the result (default 60s)\n"
            "\n"
            "Several hosts at once: --tag KEY=VALUE (repeatable: hosts with all of them;\n"
            "for an operator limited to groups, only its own hosts), or several HOSTs.\n"
            "vigilctl shows the count and the hosts and asks before anything is queued;\n"
            "then each host gets its own command (audited like one host's), and each\n"
            "result is printed as it comes, then one summary (\"3 isolated, 0 failed, 0\n"
            "still pending\").  With --json (before 'isolate') the lines go to stderr and\n"
            "stdout has one document: {action, selection, hosts: [{agent_id, hostname,\n"
            "command_id, state, message}], succeeded, failed, pending}.\n"
            "  --yes           do not ask (needed when stdin is not a terminal: scripts)\n"
            "  --dry-run       list the hosts it would act on and queue nothing\n"
            "\n"
            "Exit status: 0 succeeded, 1 failed or rolled back (the host is as it was) or\n"
            "refused, or not confirmed, 2 usage error (also: several hosts without --yes\n"
            "when stdin is not a terminal), 3 not finished when the wait ended (still\n"
            "queued or running; see 'vigilctl commands').  Several hosts: 1 if any failed\n"
            "or was refused, else 3 if any is not finished, else 0.\n");
}

void ctl_usage_release(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] release HOST --reason TEXT [--expires D] [--no-wait]\n"
            "                                   [--timeout D]\n"
            "       vigilctl [OPTIONS] release {--tag K=V... | HOST HOST...} --reason TEXT\n"
            "                                   [--yes | --dry-run] [OPTIONS]\n"
            "\n"
            "Lifts HOST's network isolation: the agent removes exactly the rules it added and\n"
            "nothing else of the host's firewall.  Needs the responder or admin role.\n"
            "Options (--tag, several HOSTs, --yes, --dry-run too) and exit status as for\n"
            "'vigilctl isolate'.  For a host whose collector is gone, see\n"
            "'vigilctl release-token'.\n");
}

static const struct option isolate_long[] = {
    { "reason", required_argument, NULL, 'r' },
    { "allow", required_argument, NULL, 'a' },
    { "expires", required_argument, NULL, 'e' },
    { "no-wait", no_argument, NULL, 'n' },
    { "timeout", required_argument, NULL, 't' },
    { "tag", required_argument, NULL, 'g' },
    { "yes", no_argument, NULL, 'y' },
    { "dry-run", no_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_isolate[] = {
    { NULL, ":h", isolate_long },
    { NULL, NULL, NULL },
};

/* isolate or release on a selection: confirm, one request per host
 * (each checked, audited and refused by the collector as one host's
 * would be), then the results as they come and one summary. */
static int fleet_run(struct ctl *ctl, const char *cmd, struct ctl_fleet *f, const char *reason,
                     Vigil__V1__AllowRule **rulep, size_t nallow, uint64_t expires_ms,
                     int nowait, uint64_t timeout_ms)
{
    int isolate = strcmp(cmd, "isolate") == 0, rc;
    char sel[600];

    if ((rc = ctl_fleet_confirm(ctl, cmd, f)) != 0)
        return rc < 0 ? CTL_EXIT_OK : rc;
    snprintf(sel, sizeof(sel), "%s, %zu host%s", f->selection, f->n, f->n == 1 ? "" : "s");
    if (!ctl->json) {
        printf("%s %zu host%s (", cmd, f->n, f->n == 1 ? "" : "s");
        ctl_put_text(f->selection);
        printf(")\n");
    }
    for (size_t i = 0; i < f->n; i++) {
        Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
        Vigil__V1__IsolateRequest iq = VIGIL__V1__ISOLATE_REQUEST__INIT;
        Vigil__V1__ReleaseRequest rq = VIGIL__V1__RELEASE_REQUEST__INIT;
        Vigil__V1__OperatorResponse *resp = NULL;
        struct ctl_target *t = &f->t[i];
        int64_t exp = expires_ms ? vg_time_now_ms() + (int64_t)expires_ms : 0;
        void *owner = NULL;

        req.request_id = 30;
        if (isolate) {
            iq.agent_id = t->agent_id;
            iq.reason = (char *)reason;
            iq.allow = rulep;
            iq.n_allow = nallow;
            iq.expires_time_ms = exp;
            iq.selection = sel;
            req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ISOLATE;
            req.isolate = &iq;
        } else {
            rq.agent_id = t->agent_id;
            rq.reason = (char *)reason;
            rq.expires_time_ms = exp;
            rq.selection = sel;
            req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE;
            req.release = &rq;
        }
        if ((rc = ctl_call(ctl, &req, &resp, &owner)) != 0) {
            /* No answer at all: the rest would fare no better. */
            snprintf(t->message, sizeof(t->message), "no answer from the collector");
            ctl_fleet_line(ctl, t, "not queued", t->message);
            break;
        }
        if (!resp->ok || resp->response_case != VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND) {
            snprintf(t->message, sizeof(t->message), "%s",
                     resp->error && resp->error->message[0] ? resp->error->message
                                                            : "unexpected answer");
            ctl_fleet_line(ctl, t, "refused", t->message);
        } else {
            const Vigil__V1__CommandInfo *ci = resp->command;
            char what[128];
            vg_strlcpy(t->command_id, ci->command_id, sizeof(t->command_id));
            vg_strlcpy(t->hostname, ci->hostname, sizeof(t->hostname));
            t->state = ci->state;
            snprintf(what, sizeof(what), "command %s", ci->command_id);
            ctl_fleet_line(ctl, t, what, ctl_queued_note(ci));
        }
        ctl_call_free(owner);
    }
    if (!nowait && (rc = fleet_wait(ctl, f, timeout_ms)) != 0)
        return rc;
    return ctl_fleet_summary(ctl, cmd, f, !nowait);
}

int ctl_cmd_isolate(struct ctl *ctl, int argc, char **argv)
{
    const char *cmd = argv[0];
    int isolate = strcmp(cmd, "isolate") == 0;
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__IsolateRequest iq = VIGIL__V1__ISOLATE_REQUEST__INIT;
    Vigil__V1__ReleaseRequest rq = VIGIL__V1__RELEASE_REQUEST__INIT;
    Vigil__V1__AllowRule rules[64], *rulep[64];
    char cidrs[64][VG_NETADDR_STR];
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    const char *reason = NULL;
    char agent[256];
    uint64_t expires_ms = 0, timeout_ms = 60000;
    size_t nallow = 0;
    int c, rc, nowait = 0;
    char id[64];
    struct ctl_fleet fleet;

    memset(&fleet, 0, sizeof(fleet));
    while ((c = ctl_getopt(argc, argv, ctl_opts_isolate)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'g':
            if ((rc = ctl_fleet_tag(&fleet, cmd, optarg)) != 0)
                return rc;
            break;
        case 'y': fleet.yes = 1; break;
        case 'd': fleet.dry_run = 1; break;
        case 'a':
            if (!isolate)
                return ctl_usage_err(cmd, "--allow belongs to isolate");
            if (nallow == 64)
                return ctl_usage_err(cmd, "at most 64 --allow");
            vigil__v1__allow_rule__init(&rules[nallow]);
            if ((rc = parse_allow(optarg, &rules[nallow], cidrs[nallow], sizeof(cidrs[0]))) != 0)
                return rc;
            rulep[nallow] = &rules[nallow];
            nallow++;
            break;
        case 'e':
            if (vg_parse_duration(optarg, &expires_ms) || expires_ms == 0)
                return ctl_usage_err(cmd, "--expires '%s': give a duration like 2h", optarg);
            break;
        case 'n': nowait = 1; break;
        case 't':
            if (vg_parse_duration(optarg, &timeout_ms))
                return ctl_usage_err(cmd, "--timeout '%s': give a duration like 60s", optarg);
            break;
        case 'h':
            (isolate ? ctl_usage_isolate : ctl_usage_release)(stdout);
            return CTL_EXIT_OK;
        case ':': return ctl_usage_err(cmd, "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (ctl_fleet_wanted(&fleet, argc - optind)) {
        if (!reason || !reason[0])
            return ctl_usage_err(cmd, "--reason TEXT is required: it goes to the audit log");
        if ((rc = ctl_fleet_select(ctl, cmd, &fleet, argv + optind, argc - optind)) == 0)
            rc = fleet_run(ctl, cmd, &fleet, reason, rulep, nallow, expires_ms, nowait,
                           timeout_ms);
        ctl_fleet_free(&fleet);
        return rc;
    }
    if (optind >= argc)
        return ctl_usage_err(cmd, "which host? Give an agent id or hostname");
    if (!reason || !reason[0])
        return ctl_usage_err(cmd, "--reason TEXT is required: it goes to the audit log");
    if ((rc = ctl_resolve_agent_id(ctl, argv[optind], agent, sizeof(agent))) != 0)
        return rc;
    req.request_id = 30;
    if (isolate) {
        iq.agent_id = agent;
        iq.reason = (char *)reason;
        iq.allow = rulep;
        iq.n_allow = nallow;
        iq.expires_time_ms = expires_ms ? vg_time_now_ms() + (int64_t)expires_ms : 0;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ISOLATE;
        req.isolate = &iq;
    } else {
        rq.agent_id = agent;
        rq.reason = (char *)reason;
        rq.expires_time_ms = expires_ms ? vg_time_now_ms() + (int64_t)expires_ms : 0;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE;
        req.release = &rq;
    }
    rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND, &resp, &owner);
    if (rc)
        return rc;
    vg_strlcpy(id, resp->command->command_id, sizeof(id));
    {
        const Vigil__V1__CommandInfo *ci = resp->command;
        char hn[1024], ai[512];
        if (!ctl->json)
            fprintf(nowait ? stdout : stderr, "command %s: %s %s (%s) %s%s\n", ci->command_id,
                    ci->action, ctl_text(hn, sizeof(hn), ci->hostname),
                    ctl_text(ai, sizeof(ai), ci->agent_id),
                    ctl_queued_note(ci),
                    nowait ? "" : "; waiting for the result");
        else if (nowait) {
            json_t *o = info_json(ci);
            ctl_print_json(o);
            json_decref(o);
        }
    }
    ctl_call_free(owner);
    if (nowait)
        return CTL_EXIT_OK;
    return wait_for(ctl, id, timeout_ms);
}

void ctl_usage_commands(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] commands [HOST] [--id ID] [--limit N]\n"
            "       vigilctl [OPTIONS] commands cancel ID [--reason TEXT]\n"
            "\n"
            "Command history, newest first: what was asked (isolate, release, collect), by\n"
            "whom, why, and its state: queued, delivered, running, succeeded, failed,\n"
            "rolled-back, expired, rejected, cancelled.\n"
            "\n"
            "  HOST        only this host (agent id or unique hostname)\n"
            "  --id ID     only this command\n"
            "  --limit N   at most N (default 100)\n"
            "\n"
            "'cancel ID' cancels a command the collector still holds (queued: its host has\n"
            "been offline since): it becomes cancelled and is never sent.  One the agent\n"
            "has received cannot be cancelled (release the host instead).  Needs the\n"
            "responder or admin role; audited, refusals too.  --reason TEXT is recorded.\n"
            "Exit status: 0 cancelled, 1 refused (delivered, finished, unknown), 2 usage.\n"
            "\n"
            "With --json (before 'commands'): an array of {command_id, agent_id, hostname,\n"
            "action, state, message, operator, reason, detail, issued, expires, delivered,\n"
            "finished}.\n");
}

static const struct option commands_long[] = {
    { "id", required_argument, NULL, 'i' },
    { "reason", required_argument, NULL, 'r' },
    { "limit", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_commands[] = {
    { NULL, ":h", commands_long },
    { NULL, NULL, NULL },
};

/* commands cancel ID */
static int cancel(struct ctl *ctl, const char *id, const char *reason)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CommandCancel cq = VIGIL__V1__COMMAND_CANCEL__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    int rc;

    if (!id[0])
        return ctl_usage_err("commands", "cancel: give the command's id");
    cq.command_id = (char *)id;
    cq.reason = (char *)(reason ? reason : "");
    req.request_id = 37;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMAND_CANCEL;
    req.command_cancel = &cq;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND, &resp,
                        &owner)) != 0)
        return rc;
    if (ctl->json) {
        json_t *o = info_json(resp->command);
        ctl_print_json(o);
        json_decref(o);
    } else {
        char hn[1024], ai[512];
        printf("cancelled command %s: %s %s (%s); it will not be sent\n", resp->command->command_id,
               resp->command->action, ctl_text(hn, sizeof(hn), resp->command->hostname),
               ctl_text(ai, sizeof(ai), resp->command->agent_id));
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

int ctl_cmd_commands(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CommandsQuery q = VIGIL__V1__COMMANDS_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__HostInfo *host = NULL;
    void *owner = NULL, *howner = NULL;
    uint64_t limit = 100;
    const char *reason = NULL;
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_commands)) != -1) {
        switch (c) {
        case 'i': q.command_id = optarg; break;
        case 'r': reason = optarg; break;
        case 'l':
            if (vg_parse_u64(optarg, 1, 1000, &limit))
                return ctl_usage_err("commands", "--limit: 1 to 1000");
            break;
        case 'h': ctl_usage_commands(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("commands", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("commands", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc && strcmp(argv[optind], "cancel") == 0 && optind + 1 < argc) {
        if (optind + 2 != argc)
            return ctl_usage_err("commands", "expected: commands cancel ID");
        return cancel(ctl, argv[optind + 1], reason);
    }
    if (reason)
        return ctl_usage_err("commands", "--reason belongs to 'commands cancel ID'");
    if (optind + 1 < argc)
        return ctl_usage_err("commands", "unexpected argument '%s'", argv[optind + 1]);
    if (optind < argc) {
        if ((rc = ctl_resolve_host(ctl, argv[optind], &host, &howner)) != 0)
            return rc;
        q.agent_id = host->agent_id;
    }
    q.limit = (uint32_t)limit;
    req.request_id = 32;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMANDS;
    req.commands = &q;
    rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS, &resp, &owner);
    ctl_call_free(howner);
    if (rc)
        return rc;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < resp->commands->n_commands; i++)
            json_array_append_new(a, info_json(resp->commands->commands[i]));
        ctl_print_json(a);
        json_decref(a);
    } else {
        size_t wi = 2, wt = 6;
        for (size_t i = 0; i < resp->commands->n_commands; i++) {
            const Vigil__V1__CommandInfo *ci = resp->commands->commands[i];
            char t[VG_TIME_STR_MAX];
            if (strlen(ci->command_id) > wi)
                wi = strlen(ci->command_id);
            if (strlen(vg_time_format(ci->issued_time_ms, t, sizeof(t))) > wt)
                wt = strlen(t);
        }
        printf("%-*s  %-*s  %-8s %-12s %s\n", (int)wi, "ID", (int)wt, "ISSUED", "ACTION",
               "STATE", "HOSTNAME (AGENT ID)  by OPERATOR: REASON [DETAIL]");
        for (size_t i = 0; i < resp->commands->n_commands; i++) {
            const Vigil__V1__CommandInfo *ci = resp->commands->commands[i];
            char t[VG_TIME_STR_MAX];
            printf("%-*s  %-*s  %-8s %-12s ", (int)wi, ci->command_id, (int)wt,
                   vg_time_format(ci->issued_time_ms, t, sizeof(t)), ci->action,
                   vg_command_state_name(ci->state));
            ctl_put_text(ci->hostname);
            printf(" (");
            ctl_put_text(ci->agent_id);
            printf(")  by ");
            ctl_put_text(ci->operator_);
            printf(": ");
            ctl_put_text(ci->reason);
            if (ci->detail[0]) {
                printf(" [");
                ctl_put_text(ci->detail);
                printf("]");
            }
            if (ci->message[0]) {
                printf("\n    ");
                ctl_put_text(ci->message);
            }
            printf("\n");
        }
        printf("%zu commands\n", resp->commands->n_commands);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

void ctl_usage_release_token(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] release-token HOST --reason TEXT -o FILE [--valid D]\n"
            "\n"
            "Makes a break-glass token that lets HOST lift its own isolation offline, for a\n"
            "host whose collector is gone for good: copy FILE to the host and run\n"
            "'vigil-agent release --token FILE' there as root.  The collector signs it with\n"
            "its key; the agent checks it against its CA, for its own id, once.  Needs the\n"
            "admin role; issuing is audited.\n"
            "\n"
            "  --reason TEXT   why (required)\n"
            "  -o FILE         where to write the token (mode 0600; refuses to overwrite)\n"
            "  --valid D       how long the token works (default 7d, at most 90d)\n");
}

static const struct option release_token_long[] = {
    { "reason", required_argument, NULL, 'r' },
    { "output", required_argument, NULL, 'o' },
    { "valid", required_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_release_token[] = {
    { NULL, ":ho:", release_token_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_release_token(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__ReleaseTokenRequest rq = VIGIL__V1__RELEASE_TOKEN_REQUEST__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    char agent[256];
    const char *reason = NULL, *outp = NULL;
    uint64_t valid = 0;
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_release_token)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'o': outp = optarg; break;
        case 'v':
            if (vg_parse_duration(optarg, &valid) || valid == 0)
                return ctl_usage_err("release-token", "--valid '%s': a duration like 3d", optarg);
            break;
        case 'h': ctl_usage_release_token(stdout); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err("release-token", "option '%s' needs a value", argv[optind - 1]);
        default:
            return ctl_usage_err("release-token", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return ctl_usage_err("release-token", "give exactly one HOST");
    if (!reason || !reason[0])
        return ctl_usage_err("release-token", "--reason TEXT is required");
    if (!outp)
        return ctl_usage_err("release-token", "-o FILE is required");
    if ((rc = ctl_resolve_agent_id(ctl, argv[optind], agent, sizeof(agent))) != 0)
        return rc;
    rq.agent_id = agent;
    rq.reason = (char *)reason;
    rq.expires_time_ms = valid ? vg_time_now_ms() + (int64_t)valid : 0;
    req.request_id = 33;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_RELEASE_TOKEN;
    req.release_token = &rq;
    rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_RELEASE_TOKEN, &resp, &owner);
    if (rc)
        return rc;
    rc = vg_file_write_atomic(outp, resp->release_token->token,
                              strlen(resp->release_token->token), 0600, 1);
    if (rc) {
        ctl_call_free(owner);
        return ctl_err("cannot write %s: %s%s", outp, strerror(-rc),
                       rc == -EEXIST ? " (remove it first)" : "");
    }
    {
        char t[VG_TIME_STR_MAX];
        char host[1024];
        printf("wrote %s: a break-glass release token for %s, valid until %s.\n"
               "On the host, as root: vigil-agent release --token %s\n",
               outp, ctl_text(host, sizeof(host), argv[optind]),
               vg_time_format(resp->release_token->expires_time_ms, t, sizeof(t)), outp);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

void ctl_usage_revoke(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] revoke HOST --reason TEXT\n"
            "       vigilctl [OPTIONS] revoke --operator NAME --reason TEXT\n"
            "       vigilctl [OPTIONS] revoke --serial SERIAL --reason TEXT\n"
            "\n"
            "Revokes HOST's certificates: every certificate the collector has seen it use,\n"
            "by serial.  The collector refuses them from then on, on full and resumed TLS\n"
            "handshakes alike (this survives restarts), closes the host's live connection,\n"
            "and stores nothing more from it.  'vigilctl hosts' shows it as revoked.  For a\n"
            "stolen key or a decommissioned host.\n"
            "\n"
            "--operator NAME revokes every operator certificate the collector has seen\n"
            "with that name (vigilctl operators); --serial SERIAL one certificate, seen or\n"
            "not (hex, colons optional).  Their live connections are closed at once.\n"
            "'vigilctl revoked' lists what is revoked, 'vigilctl pki crl' signs it as a\n"
            "CRL.  Needs the admin role; audited.\n");
}

static const struct option revoke_long[] = {
    { "reason", required_argument, NULL, 'r' },
    { "operator", required_argument, NULL, 'o' },
    { "serial", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_revoke[] = {
    { NULL, ":h", revoke_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_revoke(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__RevokeRequest rq = VIGIL__V1__REVOKE_REQUEST__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    const char *reason = NULL, *opname = NULL, *serial = NULL;
    char agent[256];
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_revoke)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'o': opname = optarg; break;
        case 's': serial = optarg; break;
        case 'h': ctl_usage_revoke(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("revoke", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("revoke", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if ((optind + 1 == argc) + !!opname + !!serial != 1 || optind + 1 < argc)
        return ctl_usage_err("revoke", "give exactly one HOST, --operator NAME or --serial SERIAL");
    if (!reason || !reason[0])
        return ctl_usage_err("revoke", "--reason TEXT is required: it goes to the audit log");
    if (opname && !opname[0])
        return ctl_usage_err("revoke", "--operator: give the certificate's name");
    if (serial && !serial[0])
        return ctl_usage_err("revoke", "--serial: give the certificate's serial");
    if (opname) {
        rq.operator_name = (char *)opname;
    } else if (serial) {
        rq.serial = (char *)serial;
    } else {
        if ((rc = ctl_resolve_agent_id(ctl, argv[optind], agent, sizeof(agent))) != 0)
            return rc;
        rq.agent_id = agent;
    }
    rq.reason = (char *)reason;
    req.request_id = 50;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_REVOKE;
    req.revoke = &rq;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKE, &resp,
                        &owner)) != 0)
        return rc;
    if (ctl->json) {
        json_t *o = json_object(), *a = json_array();
        for (size_t i = 0; i < resp->revoke->n_serials; i++)
            json_array_append_new(a, json_string(resp->revoke->serials[i]));
        if (resp->revoke->agent_id[0])
            json_object_set_new(o, "agent_id", json_string(resp->revoke->agent_id));
        if (resp->revoke->operator_name[0])
            json_object_set_new(o, "operator", json_string(resp->revoke->operator_name));
        json_object_set_new(o, "serials", a);
        json_object_set_new(o, "connection_closed", json_boolean(resp->revoke->connection_closed));
        if (!resp->revoke->agent_id[0])
            json_object_set_new(o, "connections_closed",
                                json_integer(resp->revoke->connections_closed));
        ctl_print_json(o);
        json_decref(o);
    } else {
        char ai[512];
        const Vigil__V1__RevokeResult *r = resp->revoke;
        printf("revoked %s%s: %zu certificate%s", r->agent_id[0] ? "" : r->operator_name[0]
                                                                      ? "operator " : "serial ",
               ctl_text(ai, sizeof(ai), r->agent_id[0] ? r->agent_id
                                        : r->operator_name[0] ? r->operator_name : serial),
               r->n_serials, r->n_serials == 1 ? "" : "s");
        for (size_t i = 0; i < r->n_serials; i++)
            printf("%s%s", i ? ", " : " (serial ", r->serials[i]);
        if (!r->agent_id[0] && r->connections_closed)
            printf("%s; %u live connection%s closed\n", r->n_serials ? ")" : "",
                   r->connections_closed, r->connections_closed == 1 ? "" : "s");
        else
            printf("%s%s\n", r->n_serials ? ")" : "",
                   r->connection_closed ? "; its connection was closed" : "");
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

void ctl_usage_enroll_token(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] enroll-token create [--ttl D] [--uses N] [--label TEXT]\n"
            "       vigilctl [OPTIONS] enroll-token list\n"
            "       vigilctl [OPTIONS] enroll-token revoke ID\n"
            "\n"
            "Enrollment tokens let agents without a certificate get one: put the token in\n"
            "/etc/vigil/enroll.token (or [enroll] token) on the hosts.  'create' prints the\n"
            "token once; the collector keeps only its SHA-256.  Needs the admin role.\n"
            "\n"
            "A token is vge2-SELECTOR-SECRET.  Wrong secrets given with a token's selector\n"
            "count against that token: after 10 it is locked ('list' shows LOCKED and the\n"
            "count) and enrolls nothing more; someone holds part of it, so revoke it and\n"
            "make a new one.  Unknown tokens count against their address (10 a minute) and\n"
            "against all addresses (60 a minute); past either, they are refused unchecked,\n"
            "while a known token's selector is judged by that token's count alone.\n"
            "\n"
            "  --ttl D        how long the token works (default 24h)\n"
            "  --uses N       how many agents may enroll with it (default 1)\n"
            "  --label TEXT   what it is for (recorded with each enrollment)\n");
}

static const struct option enroll_token_long[] = {
    { "ttl", required_argument, NULL, 't' },
    { "uses", required_argument, NULL, 'u' },
    { "label", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_enroll_token[] = {
    { NULL, ":h", enroll_token_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_enroll_token(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__EnrollTokenCreate cr = VIGIL__V1__ENROLL_TOKEN_CREATE__INIT;
    Vigil__V1__EnrollTokenList ls = VIGIL__V1__ENROLL_TOKEN_LIST__INIT;
    Vigil__V1__EnrollTokenRevoke rv = VIGIL__V1__ENROLL_TOKEN_REVOKE__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    uint64_t ttl = 0, uses = 0;
    const char *label = "", *sub;
    int c, rc, want;

    while ((c = ctl_getopt(argc, argv, ctl_opts_enroll_token)) != -1) {
        switch (c) {
        case 't':
            if (vg_parse_duration(optarg, &ttl) || !ttl)
                return ctl_usage_err("enroll-token", "--ttl '%s': a duration like 24h", optarg);
            break;
        case 'u':
            if (vg_parse_u64(optarg, 1, 1000000, &uses))
                return ctl_usage_err("enroll-token", "--uses: 1 to 1000000");
            break;
        case 'l': label = optarg; break;
        case 'h': ctl_usage_enroll_token(stdout); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err("enroll-token", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("enroll-token", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return ctl_usage_err("enroll-token", "create, list or revoke?");
    sub = argv[optind];
    req.request_id = 51;
    if (strcmp(sub, "create") == 0 && optind + 1 == argc) {
        cr.ttl_ms = (int64_t)ttl;
        cr.max_uses = (uint32_t)uses;
        cr.label = (char *)label;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ENROLL_TOKEN_CREATE;
        req.enroll_token_create = &cr;
        want = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ENROLL_TOKEN;
    } else if (strcmp(sub, "list") == 0 && optind + 1 == argc) {
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ENROLL_TOKEN_LIST;
        req.enroll_token_list = &ls;
        want = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ENROLL_TOKENS;
    } else if (strcmp(sub, "revoke") == 0 && optind + 2 == argc) {
        rv.id = argv[optind + 1];
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ENROLL_TOKEN_REVOKE;
        req.enroll_token_revoke = &rv;
        want = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE__NOT_SET;
    } else {
        return ctl_usage_err("enroll-token", "expected: create [OPTIONS] | list | revoke ID");
    }
    if ((rc = ctl_query(ctl, &req, want, &resp, &owner)) != 0)
        return rc;
    if (req.request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_ENROLL_TOKEN_CREATE) {
        const Vigil__V1__EnrollTokenInfo *t = resp->enroll_token;
        char tm[VG_TIME_STR_MAX];
        if (ctl->json) {
            json_t *o = json_pack("{s:s, s:s, s:o, s:i}", "token", t->token, "id", t->id,
                                  "expires", vg_json_time(t->expires_time_ms), "max_uses",
                                  (int)t->max_uses);
            ctl_print_json(o);
            json_decref(o);
        } else {
            printf("%s\n", t->token);
            fprintf(stderr, "token %s: %u enrollment%s, until %s. It is shown only now.\n",
                    t->id, t->max_uses, t->max_uses == 1 ? "" : "s",
                    vg_time_format(t->expires_time_ms, tm, sizeof(tm)));
        }
    } else if (req.request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_ENROLL_TOKEN_LIST) {
        json_t *a = json_array();
        size_t wi = 2;
        for (size_t i = 0; i < resp->enroll_tokens->n_tokens; i++)
            if (strlen(resp->enroll_tokens->tokens[i]->id) > wi)
                wi = strlen(resp->enroll_tokens->tokens[i]->id);
        if (!ctl->json)
            printf("%-*s  %s\n", (int)wi, "ID", "USES  UNTIL  STATE  LABEL");
        for (size_t i = 0; i < resp->enroll_tokens->n_tokens; i++) {
            const Vigil__V1__EnrollTokenInfo *t = resp->enroll_tokens->tokens[i];
            if (ctl->json) {
                json_array_append_new(
                    a, json_pack("{s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:o, s:i, s:o}", "id",
                                 t->id, "label", vg_json_text(t->label), "created_by",
                                 vg_json_text(t->created_by), "created",
                                 vg_json_time(t->created_time_ms), "expires",
                                 vg_json_time(t->expires_time_ms), "max_uses", (int)t->max_uses,
                                 "uses", (int)t->uses, "revoked",
                                 vg_json_time(t->revoked_time_ms), "failures",
                                 (int)t->failures, "locked", vg_json_time(t->locked_time_ms)));
            } else {
                char t1[VG_TIME_STR_MAX], state[64] = "";
                if (t->locked_time_ms)
                    snprintf(state, sizeof(state), "  LOCKED (%u failures)", t->failures);
                else if (t->failures)
                    snprintf(state, sizeof(state), "  %u failure%s", t->failures,
                             t->failures == 1 ? "" : "s");
                printf("%-*s  %u/%u used  until %s%s%s  ", (int)wi, t->id, t->uses, t->max_uses,
                       vg_time_format(t->expires_time_ms, t1, sizeof(t1)),
                       t->revoked_time_ms ? "  REVOKED" : "", state);
                ctl_put_text(t->label);
                printf("\n");
            }
        }
        if (ctl->json)
            ctl_print_json(a);
        json_decref(a);
    } else {
        printf("revoked\n");
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}
