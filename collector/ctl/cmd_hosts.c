/*
 * vigilctl hosts [--tag K=V]... [--all] [--stale DUR]   the fleet, one line per host
 * vigilctl hosts retire HOST --reason TEXT [--undo]     hide a host that is gone
 * vigilctl host HOST                                    one host in detail
 *
 * HOST is an agent id, or a hostname held by exactly one host.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

void ctl_usage_hosts(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] hosts [--tag KEY=VALUE]... [--wide] [--all] [--stale DURATION]\n"
            "       vigilctl [OPTIONS] hosts retire HOST --reason TEXT\n"
            "       vigilctl [OPTIONS] hosts retire HOST --undo\n"
            "\n"
            "Lists the hosts the collector knows: agent id, hostname, tags, OS, state\n"
            "(connected or offline, revoked, isolated, retired, CLONE? when two machines\n"
            "seem to present its certificate: 'vigilctl host HOST' shows the evidence),\n"
            "last seen, the loss the agent reported (events and batches it had to drop, in\n"
            "total) and its last unclean stop.  --wide adds kernel, agent version, first\n"
            "seen, clock skew (agent clock minus collector clock), the last stored batch\n"
            "sequence and the agent's spool depth (batches awaiting acknowledgement).\n"
            "--tag keeps hosts carrying that tag (repeat for several; all must match).\n"
            "--all includes retired hosts.  --stale DURATION (30d, 12h) keeps the hosts\n"
            "not connected and not seen for that long.  With --json (before 'hosts'),\n"
            "prints an array of objects with every field.  Any operator role may list\n"
            "hosts.\n"
            "\n"
            "'hosts retire' (admin) hides a host that is gone (decommissioned, reinstalled\n"
            "under a new agent id) from 'hosts' and from reports as of now; its data is\n"
            "kept and 'hosts --all' and 'host HOST' still show it.  A connected host cannot\n"
            "be retired.  If the host connects again it is back in the fleet by itself;\n"
            "to shut it out for good, revoke it.  --undo brings it back now.  Both are\n"
            "audited.\n"
            "\n"
            "Options:\n"
            "  --tag KEY=VALUE   only hosts with this tag\n"
            "  --wide            more columns\n"
            "  --all             also retired hosts\n"
            "  --stale DURATION  only hosts not seen for this long\n"
            "  --reason TEXT     (retire) why, for the audit log; required\n"
            "  --undo            (retire) bring a retired host back\n"
            "\n"
            "Examples:\n"
            "  vigilctl hosts --tag site=leeds\n"
            "  vigilctl hosts --stale 30d\n"
            "  vigilctl hosts retire web-07 --reason \"decommissioned, CHG-1234\"\n");
}

void ctl_usage_host(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] host HOST\n"
            "\n"
            "Shows one host.  HOST is its agent id, or its hostname when exactly one\n"
            "host has that name (otherwise the matches are listed and the exit status\n"
            "is 2; a retired host is matched by name only when no host in the fleet has\n"
            "it).  Besides what 'hosts' shows: when it was retired, by whom and why; the\n"
            "evidence behind CLONE? (a boot id that came back after another, another\n"
            "machine id); connections refused because its id was connected already; its\n"
            "machine id.\n");
}

/* Since when an isolation is unconfirmed: its last confirmation, or its
 * start when there was none. */
static int64_t iso_time(const Vigil__V1__HostInfo *h)
{
    if (h->isolation_unverified)
        return h->isolation_verified_time_ms ? h->isolation_verified_time_ms
                                             : h->isolated_since_time_ms;
    return h->isolated_since_time_ms;
}

static const char *rfc3339(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0)
        return "-";
    return vg_time_format(ms - ms % 1000, buf, len);
}

static json_t *host_json(const Vigil__V1__HostInfo *h)
{
    char a[VG_TIME_STR_MAX], b[VG_TIME_STR_MAX];
    json_t *o = json_object(), *tags = json_object();

    for (size_t i = 0; i < h->n_tags; i++)
        json_object_set_new(tags, h->tags[i]->key, json_string(h->tags[i]->value));
    json_object_set_new(o, "agent_id", json_string(h->agent_id));
    json_object_set_new(o, "hostname", json_string(h->hostname));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "os", json_string(h->os_pretty_name));
    json_object_set_new(o, "kernel", json_string(h->kernel_release));
    json_object_set_new(o, "agent_version", json_string(h->software_version));
    json_object_set_new(o, "first_seen", json_string(rfc3339(h->first_seen_time_ms, a, sizeof(a))));
    json_object_set_new(o, "last_seen", json_string(rfc3339(h->last_seen_time_ms, b, sizeof(b))));
    json_object_set_new(o, "connected", json_boolean(h->connected));
    json_object_set_new(o, "clock_skew_ms", json_integer(h->clock_skew_ms));
    json_object_set_new(o, "last_stored_seq", json_integer((json_int_t)h->last_stored_seq));
    json_object_set_new(o, "spool_batches", json_integer((json_int_t)h->spool_batches));
    json_object_set_new(o, "spool_bytes", json_integer((json_int_t)h->spool_bytes));
    json_object_set_new(o, "loss_events", json_integer((json_int_t)h->loss_events));
    json_object_set_new(o, "loss_batches", json_integer((json_int_t)h->loss_batches));
    json_object_set_new(o, "newest_kernel", json_string(h->newest_kernel));
    json_object_set_new(o, "kernel_update_pending", json_boolean(h->kernel_update_pending));
    /* The same answer as `vigilctl host` and the reports give. */
    json_object_set_new(o, "reboot_required",
                        json_boolean(h->reboot_required || h->kernel_update_pending));
    json_object_set_new(o, "process_source", json_string(h->process_source));
    json_object_set_new(o, "revoked", json_boolean(h->revoked));
    json_object_set_new(o, "isolated", json_boolean(h->isolated));
    json_object_set_new(o, "unclean_stops", json_integer((json_int_t)h->unclean_stops));
    if (h->unclean_stops) {
        char t[VG_TIME_STR_MAX];
        json_object_set_new(o, "last_unclean_stop",
                            json_string(rfc3339(h->last_unclean_stop_time_ms, t, sizeof(t))));
        json_object_set_new(o, "last_unclean_gap_ms",
                            json_integer((json_int_t)h->last_unclean_gap_ms));
    } else {
        json_object_set_new(o, "last_unclean_stop", json_null());
        json_object_set_new(o, "last_unclean_gap_ms", json_null());
    }
    if (h->isolated) {
        char t[VG_TIME_STR_MAX];
        json_object_set_new(o, "isolated_since",
                            json_string(rfc3339(h->isolated_since_time_ms, t, sizeof(t))));
        json_object_set_new(o, "isolation_verified",
                            h->isolation_verified_time_ms
                                ? json_string(rfc3339(h->isolation_verified_time_ms, t, sizeof(t)))
                                : json_null());
    } else {
        json_object_set_new(o, "isolated_since", json_null());
        json_object_set_new(o, "isolation_verified", json_null());
    }
    json_object_set_new(o, "isolation_unverified",
                        json_boolean(h->isolated && h->isolation_unverified));
    {
        char t[VG_TIME_STR_MAX];
        json_object_set_new(o, "retired", json_boolean(h->retired_time_ms != 0));
        json_object_set_new(o, "retired_at", h->retired_time_ms
                                                 ? json_string(rfc3339(h->retired_time_ms, t,
                                                                       sizeof(t)))
                                                 : json_null());
        json_object_set_new(o, "retired_by", json_string(h->retired_by));
        json_object_set_new(o, "retire_reason", json_string(h->retire_reason));
        json_object_set_new(o, "machine_id", json_string(h->machine_id));
        json_object_set_new(o, "clone_suspected", json_boolean(h->clone_signs != 0));
        json_object_set_new(o, "clone_signs", json_integer((json_int_t)h->clone_signs));
        json_object_set_new(o, "clone_first", h->clone_first_time_ms
                                                  ? json_string(rfc3339(h->clone_first_time_ms,
                                                                        t, sizeof(t)))
                                                  : json_null());
        json_object_set_new(o, "clone_last", h->clone_last_time_ms
                                                 ? json_string(rfc3339(h->clone_last_time_ms, t,
                                                                       sizeof(t)))
                                                 : json_null());
        json_object_set_new(o, "clone_evidence", json_string(h->clone_evidence));
        json_object_set_new(o, "duplicates_refused",
                            json_integer((json_int_t)h->duplicates_refused));
        json_object_set_new(o, "last_duplicate", h->last_duplicate_time_ms
                                                     ? json_string(rfc3339(
                                                           h->last_duplicate_time_ms, t,
                                                           sizeof(t)))
                                                     : json_null());
        json_object_set_new(o, "last_duplicate_addr", json_string(h->last_duplicate_addr));
    }
    {
        char t[VG_TIME_STR_MAX], u[VG_TIME_STR_MAX];
        json_object_set_new(o, "packages_changed",
                            json_string(rfc3339(h->packages_changed_time_ms, t, sizeof(t))));
        json_object_set_new(o, "boot_time", json_string(rfc3339(h->boot_time_ms, u, sizeof(u))));
        /* null: the agent has sent no list, so nothing is known. */
        json_object_set_new(o, "pending_updates",
                            h->pending_known ? json_integer(h->pending_updates) : json_null());
        json_object_set_new(o, "pending_security",
                            h->pending_known ? json_integer(h->pending_security) : json_null());
        json_object_set_new(o, "pending_security_since",
                            h->pending_security_since_time_ms
                                ? json_string(rfc3339(h->pending_security_since_time_ms, t,
                                                      sizeof(t)))
                                : json_null());
        json_object_set_new(o, "package_lists_refreshed",
                            h->pending_sources_refreshed_time_ms
                                ? json_string(rfc3339(h->pending_sources_refreshed_time_ms, u,
                                                      sizeof(u)))
                                : json_null());
    }
    return o;
}

/* The tags as "k=v,k=v", escaped (after joining: a cut then falls
 * between whole escapes). */
static void tags_text(const Vigil__V1__HostInfo *h, char *out, size_t len)
{
    char raw[4096];
    size_t used = 0;

    raw[0] = '\0';
    for (size_t i = 0; i < h->n_tags && used < sizeof(raw); i++) {
        int n = snprintf(raw + used, sizeof(raw) - used, "%s%s=%s", i ? "," : "",
                         h->tags[i]->key, h->tags[i]->value);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    ctl_text(out, len, raw[0] ? raw : "-");
}

static void skew_text(int64_t ms, char *out, size_t len)
{
    if (ms > -1000 && ms < 1000)
        snprintf(out, len, "%+lldms", (long long)ms);
    else
        snprintf(out, len, "%+.1fs", (double)ms / 1000.0);
}

#define NCOL 14

static void loss_text(const Vigil__V1__HostInfo *h, char *out, size_t len)
{
    if (!h->loss_events && !h->loss_batches)
        snprintf(out, len, "0");
    else if (!h->loss_batches)
        snprintf(out, len, "%llu events", (unsigned long long)h->loss_events);
    else
        snprintf(out, len, "%llu events+%llu batches", (unsigned long long)h->loss_events,
                 (unsigned long long)h->loss_batches);
}

/* Columns left out unless --wide: KERNEL, VERSION, FIRST SEEN, SKEW, SEQ,
 * SPOOL (the rest fits 120 columns for most fleets). */
#define WIDE_ONLY ((1u << 4) | (1u << 5) | (1u << 6) | (1u << 9) | (1u << 10) | (1u << 11))

static void print_table(Vigil__V1__HostInfo **hosts, size_t n, int wide)
{
    static const char *head[NCOL] = { "AGENT ID", "HOSTNAME", "TAGS", "OS", "KERNEL", "VERSION",
                                      "FIRST SEEN", "LAST SEEN", "STATE", "SKEW", "SEQ",
                                      "SPOOL", "LOSS", "UNCLEAN STOP" };
    size_t w[NCOL];
    char (*cells)[NCOL][256] = calloc(n ? n : 1, sizeof(*cells));

    if (!cells)
        return;
    for (int c = 0; c < NCOL; c++)
        w[c] = strlen(head[c]);
    for (size_t i = 0; i < n; i++) {
        const Vigil__V1__HostInfo *h = hosts[i];
        char t[VG_TIME_STR_MAX];
        ctl_text(cells[i][0], 256, h->agent_id);
        ctl_text(cells[i][1], 256, h->hostname[0] ? h->hostname : "-");
        tags_text(h, cells[i][2], 256);
        ctl_text(cells[i][3], 256, h->os_pretty_name[0] ? h->os_pretty_name : "-");
        ctl_text(cells[i][4], 256, h->kernel_release[0] ? h->kernel_release : "-");
        ctl_text(cells[i][5], 256, h->software_version[0] ? h->software_version : "-");
        snprintf(cells[i][6], 256, "%s", rfc3339(h->first_seen_time_ms, t, sizeof(t)));
        snprintf(cells[i][7], 256, "%s", rfc3339(h->last_seen_time_ms, t, sizeof(t)));
        snprintf(cells[i][8], 256, "%s%s%s%s%s%s%s", h->connected ? "connected" : "offline",
                 h->retired_time_ms ? ", retired" : "", h->clone_signs ? ", CLONE?" : "",
                 h->revoked ? ", REVOKED" : "", !h->isolated ? ""
                 : h->isolation_unverified ? ", ISOLATED (unverified since "
                                           : ", ISOLATED since ",
                 h->isolated ? rfc3339(iso_time(h), t, sizeof(t)) : "",
                 h->isolated && h->isolation_unverified ? ")" : "");
        skew_text(h->clock_skew_ms, cells[i][9], 256);
        snprintf(cells[i][10], 256, "%llu", (unsigned long long)h->last_stored_seq);
        snprintf(cells[i][11], 256, "%llu", (unsigned long long)h->spool_batches);
        loss_text(h, cells[i][12], 256);
        /* The agent was killed or crashed (AgentTamper): when it came back. */
        if (h->unclean_stops)
            snprintf(cells[i][13], 256, "%s (%llu)", rfc3339(h->last_unclean_stop_time_ms, t,
                                                             sizeof(t)),
                     (unsigned long long)h->unclean_stops);
        else
            snprintf(cells[i][13], 256, "-");
        for (int c = 0; c < NCOL; c++)
            if (ctl_width(cells[i][c]) > w[c])
                w[c] = ctl_width(cells[i][c]);
    }
    for (int c = 0; c < NCOL; c++)
        if (wide || !(WIDE_ONLY & (1u << c)))
            ctl_put_cell(head[c], w[c], c == NCOL - 1);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < NCOL; c++)
            if (wide || !(WIDE_ONLY & (1u << c)))
                ctl_put_cell(cells[i][c], w[c], c == NCOL - 1);
    free(cells);
}

/* The hosts (all: retired ones too; stale_ms: only those not seen for
 * that long). */
static int fetch(struct ctl *ctl, Vigil__V1__Tag **tags, size_t ntags, int all,
                 uint64_t stale_ms, Vigil__V1__HostsResult **out, void **owner)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__HostsQuery q = VIGIL__V1__HOSTS_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    int rc;

    q.tags = tags;
    q.n_tags = ntags;
    q.include_retired = all;
    q.stale_ms = stale_ms;
    req.request_id = 1;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOSTS;
    req.hosts = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOSTS, &resp,
                        owner)) != 0)
        return rc;
    *out = resp->hosts;
    return 0;
}

static const struct option hosts_long[] = {
    { "tag", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'j' },
    { "wide", no_argument, NULL, 'w' },
    { "all", no_argument, NULL, 'a' },
    { "stale", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
static const struct option retire_long[] = {
    { "reason", required_argument, NULL, 'r' },
    { "undo", no_argument, NULL, 'u' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
/* The word's set first: the completion takes the first that matches. */
const struct ctl_optset ctl_opts_hosts[] = {
    { "retire", ":h", retire_long },
    { NULL, ":h", hosts_long },
    { NULL, NULL, NULL },
};

/* label, then v escaped, then after (NULL: a newline). */
static void put_field(const char *label, const char *v, const char *after)
{
    fputs(label, stdout);
    ctl_put_text(v);
    fputs(after ? after : "\n", stdout);
}

static int hosts_retire(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__HostRetire r = VIGIL__V1__HOST_RETIRE__INIT;
    Vigil__V1__OperatorResponse *resp;
    const Vigil__V1__HostRetireResult *res;
    const char *reason = NULL;
    char agent[256], t[VG_TIME_STR_MAX];
    void *owner;
    int c, rc, undo = 0;

    while ((c = ctl_getopt(argc, argv, &ctl_opts_hosts[0])) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'u': undo = 1; break;
        case 'h': ctl_usage_hosts(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("hosts", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("hosts", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return ctl_usage_err("hosts", "hosts retire needs exactly one HOST (agent id or "
                                      "hostname)");
    if (!undo && (!reason || !reason[0]))
        return ctl_usage_err("hosts", "hosts retire needs --reason TEXT (for the audit log)");
    if (undo && reason)
        return ctl_usage_err("hosts", "--undo takes no --reason");
    if ((rc = ctl_resolve_agent_id(ctl, argv[optind], agent, sizeof(agent))) != 0)
        return rc;
    r.agent_id = agent;
    r.reason = (char *)(reason ? reason : "");
    r.undo = undo;
    req.request_id = 56;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOST_RETIRE;
    req.host_retire = &r;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_HOST_RETIRE, &resp,
                        &owner)) != 0)
        return rc;
    res = resp->host_retire;
    if (ctl->json) {
        json_t *o = json_object();
        json_object_set_new(o, "agent_id", json_string(res->agent_id));
        json_object_set_new(o, "hostname", json_string(res->hostname));
        json_object_set_new(o, "retired", json_boolean(res->retired_time_ms != 0));
        json_object_set_new(o, "retired_at",
                            res->retired_time_ms
                                ? json_string(rfc3339(res->retired_time_ms, t, sizeof(t)))
                                : json_null());
        json_object_set_new(o, "changed", json_boolean(!res->unchanged));
        ctl_print_json(o);
        json_decref(o);
    } else {
        put_field("", res->agent_id, " (");
        put_field("", res->hostname[0] ? res->hostname : "-", ")");
        if (res->retired_time_ms)
            printf(" %sretired at %s; 'vigilctl hosts --all' shows it\n",
                   res->unchanged ? "was already " : "", rfc3339(res->retired_time_ms, t,
                                                                 sizeof(t)));
        else
            printf(" %sin the fleet\n", res->unchanged ? "was already " : "is back ");
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

int ctl_cmd_hosts(struct ctl *ctl, int argc, char **argv)
{
    int wide = 0, all = 0;
    uint64_t stale_ms = 0;
    Vigil__V1__Tag tagv[32], *tagp[32];
    Vigil__V1__HostsResult *res;
    char tagbuf[32][256];
    size_t ntags = 0;
    void *owner = NULL;
    int c, rc;

    if (argc > 1 && strcmp(argv[1], "retire") == 0)
        return hosts_retire(ctl, argc - 1, argv + 1);
    while ((c = ctl_getopt(argc, argv, &ctl_opts_hosts[1])) != -1) {
        switch (c) {
        case 'a': all = 1; break;
        case 's':
            if (vg_parse_duration(optarg, &stale_ms) != 0 || stale_ms == 0)
                return ctl_usage_err("hosts", "--stale '%s': a duration such as 30d or 12h",
                                     optarg);
            break;
        case 't': {
            char *eq;
            if (ntags == 32)
                return ctl_usage_err("hosts", "at most 32 --tag");
            vg_strlcpy(tagbuf[ntags], optarg, sizeof(tagbuf[ntags]));
            eq = strchr(tagbuf[ntags], '=');
            if (!eq || eq == tagbuf[ntags])
                return ctl_usage_err("hosts", "--tag '%s': expected KEY=VALUE", optarg);
            *eq = '\0';
            vigil__v1__tag__init(&tagv[ntags]);
            tagv[ntags].key = tagbuf[ntags];
            tagv[ntags].value = eq + 1;
            tagp[ntags] = &tagv[ntags];
            ntags++;
            break;
        }
        case 'j': ctl->json = 1; break;
        case 'w': wide = 1; break;
        case 'h': ctl_usage_hosts(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("hosts", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("hosts", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_err("hosts", "unexpected argument '%s' (to show one host: vigilctl "
                                      "host HOST)", argv[optind]);
    if ((rc = fetch(ctl, tagp, ntags, all, stale_ms, &res, &owner)) != 0)
        return rc;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < res->n_hosts; i++)
            json_array_append_new(a, host_json(res->hosts[i]));
        ctl_print_json(a);
        json_decref(a);
    } else if (res->n_hosts == 0) {
        printf("no hosts%s\n", ntags || stale_ms ? " match" : " yet: start an agent");
    } else {
        print_table(res->hosts, res->n_hosts, wide);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

int ctl_resolve_host(struct ctl *ctl, const char *host, const Vigil__V1__HostInfo **out,
                     void **owner)
{
    Vigil__V1__HostsResult *res;
    const Vigil__V1__HostInfo *match = NULL;
    size_t nmatch = 0;
    char id[1024];
    int rc;

    if ((rc = fetch(ctl, NULL, 0, 1, 0, &res, owner)) != 0)
        return rc;
    for (size_t i = 0; i < res->n_hosts; i++) {
        if (strcmp(res->hosts[i]->agent_id, host) == 0) {
            *out = res->hosts[i];
            return 0;
        }
    }
    /* By hostname: the hosts in the fleet, or if none is, the retired
     * ones (a reinstalled machine's old id, retired, keeps its name). */
    for (int retired = 0; retired < 2 && nmatch == 0; retired++) {
        for (size_t i = 0; i < res->n_hosts; i++) {
            if (!res->hosts[i]->retired_time_ms == !retired &&
                strcmp(res->hosts[i]->hostname, host) == 0) {
                match = res->hosts[i];
                nmatch++;
            }
        }
    }
    if (nmatch == 1) {
        *out = match;
        return 0;
    }
    if (nmatch == 0) {
        ctl_call_free(*owner);
        return ctl_err("no host with agent id or hostname '%s' (see 'vigilctl hosts')", host);
    }
    fprintf(stderr, "vigilctl: %zu hosts are named '%s'; give the agent id instead:\n", nmatch,
            ctl_text(id, sizeof(id), host));
    for (size_t i = 0; i < res->n_hosts; i++)
        if (strcmp(res->hosts[i]->hostname, host) == 0)
            fprintf(stderr, "  %s  (%s)\n", ctl_text(id, sizeof(id), res->hosts[i]->agent_id),
                    res->hosts[i]->connected ? "connected" : "offline");
    ctl_call_free(*owner);
    return CTL_EXIT_USAGE;
}

int ctl_resolve_agent_id(struct ctl *ctl, const char *host, char *out, size_t len)
{
    Vigil__V1__HostsResult *res;
    void *owner = NULL;
    size_t nmatch = 0;
    int rc;

    if ((rc = fetch(ctl, NULL, 0, 1, 0, &res, &owner)) != 0)
        return rc;
    vg_strlcpy(out, host, len);
    for (size_t i = 0; i < res->n_hosts; i++) {
        if (strcmp(res->hosts[i]->agent_id, host) == 0) {
            ctl_call_free(owner);
            return 0;
        }
    }
    for (int retired = 0; retired < 2 && nmatch == 0; retired++) {
        for (size_t i = 0; i < res->n_hosts; i++) {
            if (!res->hosts[i]->retired_time_ms == !retired &&
                strcmp(res->hosts[i]->hostname, host) == 0) {
                vg_strlcpy(out, res->hosts[i]->agent_id, len);
                nmatch++;
            }
        }
    }
    ctl_call_free(owner);
    if (nmatch > 1) {
        const Vigil__V1__HostInfo *h;
        /* Lists them. */
        return ctl_resolve_host(ctl, host, &h, &owner);
    }
    if (nmatch == 0)
        vg_strlcpy(out, host, len);
    return 0;
}

int ctl_cmd_host(struct ctl *ctl, int argc, char **argv)
{
    const Vigil__V1__HostInfo *h;
    void *owner = NULL;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ctl_usage_host(stdout);
        return CTL_EXIT_OK;
    }
    if (argc != 2)
        return ctl_usage_err("host", "host needs exactly one HOST (agent id or hostname)");
    if ((rc = ctl_resolve_host(ctl, argv[1], &h, &owner)) != 0)
        return rc;
    /* h is set: ctl_resolve_host returns 0 only then (its error path
     * returns ctl_err's status, which the analyser cannot see is not 0). */
    if (ctl->json) {
        json_t *o = host_json(h); // NOLINT(clang-analyzer-core.CallAndMessage)
        ctl_print_json(o);
        json_decref(o);
    } else {
        char t[VG_TIME_STR_MAX], tags[1024], skew[32];
        tags_text(h, tags, sizeof(tags)); // NOLINT(clang-analyzer-core.CallAndMessage)
        skew_text(h->clock_skew_ms, skew, sizeof(skew));
        put_field("agent id:    ", h->agent_id, NULL);
        put_field("hostname:    ", h->hostname, NULL);
        printf("state:       %s%s%s\n", h->connected ? "connected" : "offline",
               h->revoked ? ", certificates REVOKED" : "",
               h->clone_signs ? ", CLONE? (two machines may present its certificate)" : "");
        if (h->retired_time_ms) {
            printf("retired:     %s by ", rfc3339(h->retired_time_ms, t, sizeof(t)));
            put_field("", h->retired_by[0] ? h->retired_by : "?", ": ");
            put_field("", h->retire_reason, " (hidden from 'hosts' and reports; back at its "
                                            "next connection)\n");
        }
        if (h->clone_signs) {
            printf("clone?:      %llu sign(s), first %s, ", (unsigned long long)h->clone_signs,
                   rfc3339(h->clone_first_time_ms, t, sizeof(t)));
            printf("last %s: ", rfc3339(h->clone_last_time_ms, t, sizeof(t)));
            put_field("", h->clone_evidence, NULL);
        }
        if (h->duplicates_refused) {
            printf("duplicates:  %llu connection(s) refused while it was connected, the last at "
                   "%s from ", (unsigned long long)h->duplicates_refused,
                   rfc3339(h->last_duplicate_time_ms, t, sizeof(t)));
            put_field("", h->last_duplicate_addr[0] ? h->last_duplicate_addr : "?", NULL);
        }
        put_field("machine id:  ", h->machine_id[0] ? h->machine_id : "-", NULL);
        if (h->isolated && h->isolation_unverified)
            printf("network:     ISOLATED (unverified since %s: the agent has not confirmed "
                   "its rules since; isolated since %s)\n",
                   rfc3339(iso_time(h), t, sizeof(t)),
                   rfc3339(h->isolated_since_time_ms, skew, sizeof(skew)));
        else if (h->isolated)
            printf("network:     ISOLATED since %s (vigilctl release to lift it)\n",
                   rfc3339(h->isolated_since_time_ms, t, sizeof(t)));
        else
            printf("network:     not isolated\n");
        printf("tags:        %s\n", tags);
        put_field("os:          ", h->os_pretty_name[0] ? h->os_pretty_name : "-", NULL);
        put_field("kernel:      ", h->kernel_release[0] ? h->kernel_release : "-", "");
        if (h->newest_kernel[0])
            put_field(" (newest installed: ", h->newest_kernel,
                      h->kernel_update_pending ? "; REBOOT to use it)" : ")");
        putchar('\n');
        printf("reboot:      %s\n", h->reboot_required || h->kernel_update_pending ? "required"
                                                                                 : "not required");
        printf("packages:    last changed %s\n", rfc3339(h->packages_changed_time_ms, t, sizeof(t)));
        if (!h->pending_known) {
            printf("updates:     unknown (no list from the agent yet)\n");
        } else {
            printf("updates:     %u pending, %u of them security", h->pending_updates,
                   h->pending_security);
            if (h->pending_security_since_time_ms)
                printf(" (oldest pending since %s)",
                       rfc3339(h->pending_security_since_time_ms, t, sizeof(t)));
            printf("\n");
            if (h->pending_sources_refreshed_time_ms)
                printf("lists:       refreshed %s\n",
                       rfc3339(h->pending_sources_refreshed_time_ms, t, sizeof(t)));
            if (h->pending_error[0])
                put_field("lists:       problem: ", h->pending_error, NULL);
        }
        printf("booted:      %s\n", rfc3339(h->boot_time_ms, t, sizeof(t)));
        put_field("agent:       ", h->software_version, NULL);
        put_field("processes:   ",
                  h->process_source[0] ? h->process_source : "unknown (no health report yet)",
                  NULL);
        printf("first seen:  %s\n", rfc3339(h->first_seen_time_ms, t, sizeof(t)));
        printf("last seen:   %s\n", rfc3339(h->last_seen_time_ms, t, sizeof(t)));
        printf("clock skew:  %s\n", skew);
        printf("stored seq:  %llu\n", (unsigned long long)h->last_stored_seq);
        printf("spool:       %llu batches, %llu bytes (agent's last report)\n",
               (unsigned long long)h->spool_batches, (unsigned long long)h->spool_bytes);
        loss_text(h, tags, sizeof(tags));
        printf("loss:        %s (reported by the agent)\n", tags);
        if (h->unclean_stops)
            printf("unclean:     UNCLEAN STOP (agent killed or crashed), last restart %s after "
                   "a gap of %.1f s; %llu in all\n", rfc3339(h->last_unclean_stop_time_ms, t, sizeof(t)),
                   (double)h->last_unclean_gap_ms / 1000.0, (unsigned long long)h->unclean_stops);
        else
            printf("unclean:     no unclean stop seen\n");
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}
