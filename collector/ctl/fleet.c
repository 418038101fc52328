/*
 * Fleet selection for isolate, release and collect: the hosts named by
 * --tag KEY=VALUE (all must match) or by several HOSTs, resolved from
 * the collector's host list (which the collector cuts to a scoped
 * operator's hosts), shown with their count, and confirmed before
 * anything is queued.  Each host then gets its own request, so the role
 * and scope checks, the audit trail and the refusals are those of a
 * single-host command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"
#include "wire.h"

/* At most this many names in the confirmation line; --dry-run lists all. */
#define SHOW_MAX 20

int ctl_fleet_tag(struct ctl_fleet *f, const char *cmd, const char *arg)
{
    char *eq;

    if (f->ntags == CTL_FLEET_TAGS)
        return ctl_usage_err(cmd, "at most %d --tag", CTL_FLEET_TAGS);
    vg_strlcpy(f->tagbuf[f->ntags], arg, sizeof(f->tagbuf[0]));
    eq = strchr(f->tagbuf[f->ntags], '=');
    if (!eq || eq == f->tagbuf[f->ntags])
        return ctl_usage_err(cmd, "--tag '%s': expected KEY=VALUE", arg);
    *eq = '\0';
    vigil__v1__tag__init(&f->tagv[f->ntags]);
    f->tagv[f->ntags].key = f->tagbuf[f->ntags];
    f->tagv[f->ntags].value = eq + 1;
    f->tagp[f->ntags] = &f->tagv[f->ntags];
    f->ntags++;
    return 0;
}

int ctl_fleet_wanted(const struct ctl_fleet *f, int nnames)
{
    return f->ntags > 0 || nnames > 1 || f->dry_run;
}

static int add(struct ctl_fleet *f, const char *agent, const char *hostname, int connected,
               int known)
{
    struct ctl_target *t;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->t[i].agent_id, agent) == 0)
            return 0;
    if (f->n == CTL_FLEET_MAX)
        return ctl_err("at most %d hosts at once", CTL_FLEET_MAX);
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        struct ctl_target *nv = realloc(f->t, nc * sizeof(*nv));
        if (!nv)
            return ctl_err("out of memory");
        f->t = nv;
        f->cap = nc;
    }
    t = &f->t[f->n++];
    memset(t, 0, sizeof(*t));
    vg_strlcpy(t->agent_id, agent, sizeof(t->agent_id));
    vg_strlcpy(t->hostname, hostname, sizeof(t->hostname));
    t->connected = connected;
    t->known = known;
    return 0;
}

int ctl_fleet_select(struct ctl *ctl, const char *cmd, struct ctl_fleet *f, char **names,
                     int nnames)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__HostsQuery q = VIGIL__V1__HOSTS_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__HostsResult *hr;
    void *owner = NULL;
    size_t off = 0;
    int rc = 0;

    if (f->ntags && nnames)
        return ctl_usage_err(cmd, "give --tag or HOSTs, not both");
    if (!f->ntags && !nnames)
        return ctl_usage_err(cmd, "which hosts? Give HOSTs or --tag KEY=VALUE");
    q.tags = f->tagp;
    q.n_tags = f->ntags;
    req.request_id = 1;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOSTS;
    req.hosts = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS, &resp,
                        &owner)) != 0)
        return rc;
    hr = resp->hosts;
    for (size_t i = 0; i < f->ntags && off < sizeof(f->selection); i++)
        off += (size_t)snprintf(f->selection + off, sizeof(f->selection) - off, "%s%s=%s",
                                i ? " " : "tag ", f->tagv[i].key, f->tagv[i].value);
    if (!f->ntags)
        snprintf(f->selection, sizeof(f->selection), "%d hosts named", nnames);
    for (size_t i = 0; rc == 0 && f->ntags && i < hr->n_hosts; i++)
        rc = add(f, hr->hosts[i]->agent_id, hr->hosts[i]->hostname, hr->hosts[i]->connected, 1);
    for (int k = 0; rc == 0 && k < nnames; k++) {
        const Vigil__V1__HostInfo *m = NULL;
        size_t nm = 0;
        /* An agent id first; else a hostname, which must be unique. */
        for (size_t i = 0; i < hr->n_hosts && !m; i++)
            if (strcmp(hr->hosts[i]->agent_id, names[k]) == 0)
                m = hr->hosts[i];
        for (size_t i = 0; i < hr->n_hosts && !m; i++)
            if (strcmp(hr->hosts[i]->hostname, names[k]) == 0)
                nm++;
        for (size_t i = 0; i < hr->n_hosts && !m && nm == 1; i++)
            if (strcmp(hr->hosts[i]->hostname, names[k]) == 0)
                m = hr->hosts[i];
        if (nm > 1) {
            char id[1024];
            fprintf(stderr, "vigilctl: %zu hosts are named '%s'; give their agent ids instead:\n",
                    nm, ctl_text(id, sizeof(id), names[k]));
            for (size_t i = 0; i < hr->n_hosts; i++)
                if (strcmp(hr->hosts[i]->hostname, names[k]) == 0)
                    fprintf(stderr, "  %s\n", ctl_text(id, sizeof(id), hr->hosts[i]->agent_id));
            rc = CTL_EXIT_USAGE;
        } else if (m) {
            rc = add(f, m->agent_id, m->hostname, m->connected, 1);
        } else {
            /* Unknown here: the collector decides, and audits the refusal. */
            rc = add(f, names[k], "", 0, 0);
        }
    }
    ctl_call_free(owner);
    if (rc == 0 && f->n == 0)
        rc = ctl_err("no hosts carry %s (among those you may see: 'vigilctl hosts --tag ...')",
                     f->selection);
    return rc;
}

/* "web-01 (agent-1)", escaped; the agent id alone if the name is empty
 * or the same. */
const char *ctl_fleet_name(const struct ctl_target *t, char *buf, size_t len)
{
    char a[300], b[600];
    if (!t->hostname[0] || strcmp(t->hostname, t->agent_id) == 0)
        return ctl_text(buf, len, t->agent_id);
    snprintf(buf, len, "%s (%s)", ctl_text(b, sizeof(b), t->hostname),
             ctl_text(a, sizeof(a), t->agent_id));
    return buf;
}

int ctl_fleet_confirm(struct ctl *ctl, const char *cmd, struct ctl_fleet *f)
{
    char name[1024], answer[16];

    if (f->dry_run) {
        if (ctl->json) {
            json_t *a = json_array();
            for (size_t i = 0; i < f->n; i++)
                json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:b}", "agent_id",
                                                   f->t[i].agent_id, "hostname", f->t[i].hostname,
                                                   "connected", f->t[i].connected, "known",
                                                   f->t[i].known));
            ctl_print_json(a);
            json_decref(a);
        } else {
            printf("would %s %zu host%s (", cmd, f->n, f->n == 1 ? "" : "s");
            ctl_put_text(f->selection);
            printf("):\n");
            for (size_t i = 0; i < f->n; i++)
                printf("  %s  %s\n", ctl_fleet_name(&f->t[i], name, sizeof(name)),
                       !f->t[i].known      ? "unknown to the collector"
                       : f->t[i].connected ? "connected"
                                           : "offline (the command would wait for it)");
        }
        return -1;
    }
    if (f->yes)
        return 0;
    if (!isatty(STDIN_FILENO))
        return ctl_usage_err(cmd, "this would %s %zu hosts; not run from a terminal, so give "
                             "--yes to confirm (--dry-run lists them)", cmd, f->n);
    fprintf(stderr, "%s %zu host%s (%s): ", cmd, f->n, f->n == 1 ? "" : "s",
            ctl_text(name, sizeof(name), f->selection));
    for (size_t i = 0; i < f->n && i < SHOW_MAX; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", ctl_fleet_name(&f->t[i], name, sizeof(name)));
    if (f->n > SHOW_MAX)
        fprintf(stderr, " and %zu more (--dry-run lists them)", f->n - SHOW_MAX);
    fprintf(stderr, "? [y/N] ");
    fflush(stderr);
    if (!fgets(answer, sizeof(answer), stdin) ||
        (strcmp(answer, "y\n") != 0 && strcmp(answer, "yes\n") != 0 &&
         strcmp(answer, "Y\n") != 0)) {
        ctl_err("not confirmed; nothing was queued");
        return CTL_EXIT_FAIL;
    }
    return 0;
}

static int final(int st)
{
    return st >= VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED;
}

/* What a fleet action's summary calls a success. */
static const char *done_word(const char *cmd)
{
    return strcmp(cmd, "isolate") == 0 ? "isolated"
           : strcmp(cmd, "release") == 0 ? "released"
                                         : "collected";
}

/* One line of a fleet action's progress: on stdout, or on stderr with
 * --json (stdout then holds the one JSON document). */
const char *ctl_queued_note(const Vigil__V1__CommandInfo *ci)
{
    if (!ci->agent_connected)
        return "queued: the agent is offline";
    return ci->state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED
               ? "queued: the agent is connected to another collector, which sends it"
               : "sent to the agent";
}

void ctl_fleet_line(struct ctl *ctl, const struct ctl_target *t, const char *what,
                       const char *text)
{
    char name[1024], esc[1200];
    fprintf(ctl->json ? stderr : stdout, "  %s: %s%s%s\n", ctl_fleet_name(t, name, sizeof(name)),
            what, text && text[0] ? ": " : "", text ? ctl_text(esc, sizeof(esc), text) : "");
    fflush(ctl->json ? stderr : stdout);
}

/* The final summary ("3 isolated, 0 failed, 0 still pending"), and the
 * exit status: 1 if any host failed or was refused, else 3 if any is
 * still pending, else 0. */
int ctl_fleet_summary(struct ctl *ctl, const char *cmd, struct ctl_fleet *f, int waited)
{
    size_t ok = 0, failed = 0, pending = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct ctl_target *t = &f->t[i];
        if (!t->command_id[0] || (final(t->state) &&
                                  t->state != VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED))
            failed++;
        else if (t->state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED)
            ok++;
        else
            pending++;
    }
    if (waited)
        for (size_t i = 0; i < f->n; i++)
            if (f->t[i].command_id[0] && !final(f->t[i].state)) {
                char what[64];
                snprintf(what, sizeof(what), "still %s", vg_command_state_name(f->t[i].state));
                ctl_fleet_line(ctl, &f->t[i], what, "");
            }
    if (ctl->json) {
        json_t *o = json_object(), *a = json_array();
        json_object_set_new(o, "action", json_string(cmd));
        json_object_set_new(o, "selection", json_string(f->selection));
        for (size_t i = 0; i < f->n; i++) {
            const struct ctl_target *t = &f->t[i];
            json_t *h = json_object();
            json_object_set_new(h, "agent_id", json_string(t->agent_id));
            json_object_set_new(h, "hostname", json_string(t->hostname));
            json_object_set_new(h, "command_id",
                                t->command_id[0] ? json_string(t->command_id) : json_null());
            json_object_set_new(h, "state", json_string(t->command_id[0]
                                                            ? vg_command_state_name(t->state)
                                                            : "refused"));
            json_object_set_new(h, "message", json_string(t->message));
            json_array_append_new(a, h);
        }
        json_object_set_new(o, "hosts", a);
        json_object_set_new(o, waited ? "succeeded" : "queued",
                            json_integer((json_int_t)(waited ? ok : ok + pending)));
        json_object_set_new(o, "failed", json_integer((json_int_t)failed));
        if (waited)
            json_object_set_new(o, "pending", json_integer((json_int_t)pending));
        ctl_print_json(o);
        json_decref(o);
    } else if (waited) {
        printf("%zu %s, %zu failed, %zu still pending\n", ok, done_word(cmd), failed, pending);
        if (pending)
            printf("pending commands stay queued and run when their agents can; follow them "
                   "with 'vigilctl commands'\n");
    } else {
        printf("%zu queued, %zu refused\n", ok + pending, failed);
    }
    if (failed)
        return CTL_EXIT_FAIL;
    return waited && pending ? 3 : CTL_EXIT_OK;
}

void ctl_fleet_free(struct ctl_fleet *f)
{
    free(f->t);
    f->t = NULL;
    f->n = f->cap = 0;
}
