/*
 * vigilctl pending [HOST] [--security]: pending updates, for one host or
 * the fleet, with how long each has been pending.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

void ctl_usage_pending(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] pending [HOST] [--security]\n"
            "\n"
            "Lists pending updates: packages for which the host's package manager has a\n"
            "newer version (apt's candidate, or a dnf security advisory), for HOST (an\n"
            "agent id or unique hostname) or for every host.  DAYS counts from when the\n"
            "agent first saw the installed version outdated (for security updates: first\n"
            "saw a security fix for it), the clock the 14-day rule uses.\n"
            "\n"
            "  --security   only security updates\n"
            "\n"
            "With --json (before 'pending'): an array of objects with agent_id, hostname,\n"
            "manager, name, arch, installed_version, candidate_version, security,\n"
            "severity, advisory, archive, origin, label, site, released,\n"
            "release_file_date (apt: the Date: of the candidate's Release file),\n"
            "first_seen, security_first_seen, days_pending and lists_refreshed.\n"
            "\n"
            "Examples:\n"
            "  vigilctl pending --security\n"
            "  vigilctl --json pending web-01\n");
}

static json_t *jtime(int64_t ms)
{
    char t[VG_TIME_STR_MAX];
    return ms ? json_string(vg_time_format(ms, t, sizeof(t))) : json_null();
}

static long days_pending(const Vigil__V1__PendingUpdate *u, int64_t now)
{
    int64_t since = u->security && u->security_first_seen_time_ms ? u->security_first_seen_time_ms
                                                                  : u->first_seen_time_ms;
    return since > 0 && now > since ? (long)((now - since) / 86400000) : 0;
}

static const struct option pending_long[] = {
    { "security", no_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_pending[] = {
    { NULL, ":h", pending_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_pending(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__PendingQuery q = VIGIL__V1__PENDING_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__PendingResult *r;
    void *owner = NULL;
    char id[128] = "";
    int c, rc, security = 0;
    int64_t now = vg_time_now_ms();

    while ((c = ctl_getopt(argc, argv, ctl_opts_pending)) != -1) {
        switch (c) {
        case 's': security = 1; break;
        case 'h': ctl_usage_pending(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("pending", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("pending", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return ctl_usage_err("pending", "pending takes at most one HOST");
    if (optind < argc) {
        const Vigil__V1__HostInfo *h;
        void *howner = NULL;
        if ((rc = ctl_resolve_host(ctl, argv[optind], &h, &howner)) != 0)
            return rc;
        vg_strlcpy(id, h->agent_id, sizeof(id));
        ctl_call_free(howner);
    }
    q.agent_id = id;
    q.security_only = security;
    req.request_id = 4;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_PENDING;
    req.pending = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PENDING, &resp,
                        &owner)) != 0)
        return rc;
    r = resp->pending;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_updates; i++) {
            const Vigil__V1__HostPendingUpdate *h = r->updates[i];
            const Vigil__V1__PendingUpdate *u = h->update;
            json_t *o = json_object();
            json_object_set_new(o, "agent_id", json_string(h->agent_id));
            json_object_set_new(o, "hostname", json_string(h->hostname));
            json_object_set_new(o, "manager", json_string(h->manager));
            json_object_set_new(o, "name", json_string(u->name));
            json_object_set_new(o, "arch", json_string(u->arch));
            json_object_set_new(o, "installed_version", json_string(u->installed_version));
            json_object_set_new(o, "candidate_version", json_string(u->candidate_version));
            json_object_set_new(o, "security", json_boolean(u->security));
            json_object_set_new(o, "severity", json_string(u->severity));
            json_object_set_new(o, "advisory",
                                json_string(u->n_advisories ? u->advisories[0] : ""));
            json_object_set_new(o, "archive", json_string(u->origin));
            json_object_set_new(o, "origin", json_string(u->release_origin));
            json_object_set_new(o, "label", json_string(u->release_label));
            json_object_set_new(o, "site", json_string(u->site));
            json_object_set_new(o, "released", jtime(u->released_time_ms));
            json_object_set_new(o, "release_file_date", jtime(u->release_file_time_ms));
            json_object_set_new(o, "first_seen", jtime(u->first_seen_time_ms));
            json_object_set_new(o, "security_first_seen", jtime(u->security_first_seen_time_ms));
            json_object_set_new(o, "days_pending", json_integer(days_pending(u, now)));
            json_object_set_new(o, "lists_refreshed", jtime(h->sources_refreshed_time_ms));
            json_array_append_new(a, o);
        }
        ctl_print_json(a);
        json_decref(a);
    } else if (r->n_updates == 0) {
        char t[512];
        printf("no %spending updates%s%s (hosts that have sent no list are not counted; "
               "see 'vigilctl host')\n", security ? "security " : "", id[0] ? " on " : "",
               ctl_text(t, sizeof(t), id));
    } else {
        size_t wh = 8, wn = 4, wi = 9, wc = 9, nsec = 0, w;
        char t[1024];
        for (size_t i = 0; i < r->n_updates; i++) {
            const Vigil__V1__PendingUpdate *u = r->updates[i]->update;
            if ((w = ctl_width(ctl_text(t, sizeof(t), r->updates[i]->hostname))) > wh)
                wh = w;
            if ((w = ctl_width(ctl_text(t, sizeof(t), u->name))) > wn)
                wn = w;
            if ((w = ctl_width(ctl_text(t, sizeof(t), u->installed_version))) > wi)
                wi = w;
            if ((w = ctl_width(ctl_text(t, sizeof(t), u->candidate_version))) > wc)
                wc = w;
            nsec += u->security != 0;
        }
        printf("%-*s  %-*s  %-*s  %-*s  %-3s  %4s  %s\n", (int)wh, "HOSTNAME", (int)wn, "NAME",
               (int)wi, "INSTALLED", (int)wc, "CANDIDATE", "SEC", "DAYS", "FROM");
        for (size_t i = 0; i < r->n_updates; i++) {
            const Vigil__V1__HostPendingUpdate *h = r->updates[i];
            const Vigil__V1__PendingUpdate *u = h->update;
            ctl_put_cell(ctl_text(t, sizeof(t), h->hostname), wh, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), u->name), wn, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), u->installed_version), wi, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), u->candidate_version), wc, 0);
            printf("%-3s  %4ld  ", u->security ? "yes" : "no", days_pending(u, now));
            ctl_put_cell(ctl_text(t, sizeof(t), u->n_advisories ? u->advisories[0]
                                                : u->origin[0]  ? u->origin
                                                                : "-"),
                         0, 1);
        }
        printf("%zu pending updates, %zu of them security\n", r->n_updates, nsec);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}
