/*
 * vigilctl inventory HOST: a host's current packages, as the collector
 * holds them (from the agent's snapshots and deltas).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

void ctl_usage_inventory(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] inventory HOST\n"
            "\n"
            "Lists HOST's packages as the collector holds them now: name, version,\n"
            "architecture, state (installed, config-files, ...).  HOST is an agent id or\n"
            "a unique hostname.  With --json (before 'inventory'): an array of objects\n"
            "with name, version, arch, status, source, source_version, manager and\n"
            "first_seen.  For this host without a collector: vigil-agent inventory.\n");
}

int ctl_cmd_inventory(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__InventoryQuery q = VIGIL__V1__INVENTORY_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__HostInfo *h;
    void *howner = NULL, *owner = NULL;
    char id[128];
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ctl_usage_inventory(stdout);
        return CTL_EXIT_OK;
    }
    if (argc != 2)
        return ctl_usage_err("inventory", "inventory needs exactly one HOST");
    if ((rc = ctl_resolve_host(ctl, argv[1], &h, &howner)) != 0)
        return rc;
    vg_strlcpy(id, h->agent_id, sizeof(id));
    ctl_call_free(howner);
    q.agent_id = id;
    req.request_id = 2;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_INVENTORY;
    req.inventory = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_INVENTORY, &resp,
                        &owner)) != 0)
        return rc;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < resp->inventory->n_packages; i++) {
            const Vigil__V1__Package *p = resp->inventory->packages[i];
            json_t *o = json_object();
            char t[VG_TIME_STR_MAX];
            json_object_set_new(o, "name", json_string(p->name));
            json_object_set_new(o, "version", json_string(p->version));
            json_object_set_new(o, "arch", json_string(p->arch));
            json_object_set_new(o, "status", json_string(p->status));
            json_object_set_new(o, "source", json_string(p->source_name));
            json_object_set_new(o, "source_version", json_string(p->source_version));
            json_object_set_new(o, "manager", json_string(p->vendor));
            json_object_set_new(o, "first_seen",
                                json_string(vg_time_format(p->install_time_ms, t, sizeof(t))));
            json_array_append_new(a, o);
        }
        ctl_print_json(a);
        json_decref(a);
    } else {
        size_t wn = 4, wv = 7, w;
        char t[1024];
        for (size_t i = 0; i < resp->inventory->n_packages; i++) {
            const Vigil__V1__Package *p = resp->inventory->packages[i];
            if ((w = ctl_width(ctl_text(t, sizeof(t), p->name))) > wn)
                wn = w;
            if ((w = ctl_width(ctl_text(t, sizeof(t), p->version))) > wv)
                wv = w;
        }
        printf("%-*s  %-*s  %-6s  %s\n", (int)wn, "NAME", (int)wv, "VERSION", "ARCH", "STATUS");
        for (size_t i = 0; i < resp->inventory->n_packages; i++) {
            const Vigil__V1__Package *p = resp->inventory->packages[i];
            ctl_put_cell(ctl_text(t, sizeof(t), p->name), wn, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), p->version), wv, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), p->arch), 6, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), p->status), 0, 1);
        }
        printf("%zu packages on %s\n", resp->inventory->n_packages, ctl_text(t, sizeof(t), id));
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

void ctl_usage_packages(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] packages --name NAME\n"
            "\n"
            "Which hosts have package NAME now, at which version and in which state.\n"
            "With --json (before 'packages'): an array of objects with agent_id,\n"
            "hostname, name, version, arch, status and manager.\n"
            "\n"
            "Example:\n"
            "  vigilctl packages --name openssl\n");
}

static const struct option packages_long[] = {
    { "name", required_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_packages[] = {
    { NULL, ":h", packages_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_packages(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__PackagesQuery q = VIGIL__V1__PACKAGES_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const char *name = NULL;
    void *owner = NULL;
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_packages)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'h': ctl_usage_packages(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("packages", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("packages", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!name || optind < argc)
        return ctl_usage_err("packages", "packages needs --name NAME");
    q.name = (char *)name;
    req.request_id = 3;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_PACKAGES;
    req.packages = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PACKAGES, &resp,
                        &owner)) != 0)
        return rc;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < resp->packages->n_hosts; i++) {
            const Vigil__V1__HostPackage *h = resp->packages->hosts[i];
            json_t *o = json_object();
            json_object_set_new(o, "agent_id", json_string(h->agent_id));
            json_object_set_new(o, "hostname", json_string(h->hostname));
            json_object_set_new(o, "name", json_string(h->package->name));
            json_object_set_new(o, "version", json_string(h->package->version));
            json_object_set_new(o, "arch", json_string(h->package->arch));
            json_object_set_new(o, "status", json_string(h->package->status));
            json_object_set_new(o, "manager", json_string(h->manager));
            json_array_append_new(a, o);
        }
        ctl_print_json(a);
        json_decref(a);
    } else if (resp->packages->n_hosts == 0) {
        char t[1024];
        printf("no host has %s\n", ctl_text(t, sizeof(t), name));
    } else {
        size_t wh = 8, wi = 8, wv = 7, w;
        char t[1024];
        for (size_t i = 0; i < resp->packages->n_hosts; i++) {
            const Vigil__V1__HostPackage *h = resp->packages->hosts[i];
            if ((w = ctl_width(ctl_text(t, sizeof(t), h->hostname))) > wh)
                wh = w;
            if ((w = ctl_width(ctl_text(t, sizeof(t), h->agent_id))) > wi)
                wi = w;
            if ((w = ctl_width(ctl_text(t, sizeof(t), h->package->version))) > wv)
                wv = w;
        }
        printf("%-*s  %-*s  %-*s  %-7s  %s\n", (int)wh, "HOSTNAME", (int)wi, "AGENT ID", (int)wv,
               "VERSION", "ARCH", "STATUS");
        for (size_t i = 0; i < resp->packages->n_hosts; i++) {
            const Vigil__V1__HostPackage *h = resp->packages->hosts[i];
            ctl_put_cell(ctl_text(t, sizeof(t), h->hostname), wh, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), h->agent_id), wi, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), h->package->version), wv, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), h->package->arch), 7, 0);
            ctl_put_cell(ctl_text(t, sizeof(t), h->package->status), 0, 1);
        }
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}
