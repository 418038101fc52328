/*
 * vigilctl inventory HOST: a host's current packages, as the collector
 * holds them (from the agent's snapshots and deltas).
 */
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
    if ((rc = ctl_call(ctl, &req, &resp, &owner)) != 0)
        return rc;
    if ((rc = ctl_response_error(resp)) != 0 ||
        resp->response_case != VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_INVENTORY) {
        ctl_call_free(owner);
        return rc ? rc : ctl_err("unexpected answer from the collector");
    }
    if (ctl->json) {
        json_t *a = json_array();
        char *s;
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
        s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(a);
    } else {
        size_t wn = 4, wv = 7;
        for (size_t i = 0; i < resp->inventory->n_packages; i++) {
            const Vigil__V1__Package *p = resp->inventory->packages[i];
            if (strlen(p->name) > wn)
                wn = strlen(p->name);
            if (strlen(p->version) > wv)
                wv = strlen(p->version);
        }
        printf("%-*s  %-*s  %-6s  %s\n", (int)wn, "NAME", (int)wv, "VERSION", "ARCH", "STATUS");
        for (size_t i = 0; i < resp->inventory->n_packages; i++) {
            const Vigil__V1__Package *p = resp->inventory->packages[i];
            printf("%-*s  %-*s  %-6s  %s\n", (int)wn, p->name, (int)wv, p->version, p->arch,
                   p->status);
        }
        printf("%zu packages on %s\n", resp->inventory->n_packages, id);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}
