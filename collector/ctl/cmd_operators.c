/*
 * vigilctl operators: the operator certificates the collector has seen.
 * vigilctl revoked: every revoked certificate (what a CRL lists).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

static const char *when(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0)
        return "-";
    return vg_time_format(ms - ms % 1000, buf, len);
}

static json_t *json_time(int64_t ms)
{
    char t[VG_TIME_STR_MAX];
    return ms > 0 ? json_string(when(ms, t, sizeof(t))) : json_null();
}

void ctl_usage_operators(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] operators\n"
            "\n"
            "Lists the operator certificates (admin, responder, auditor) the collector\n"
            "has seen make a request: NAME (the certificate's CN), ROLE, SERIAL, FIRST\n"
            "and LAST USE, EXPIRES, and STATE (connected, REVOKED and when).  Revoke one\n"
            "with 'vigilctl revoke --operator NAME' or '--serial SERIAL'.  Any operator\n"
            "role may list them.\n");
}

int ctl_cmd_operators(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__OperatorsQuery q = VIGIL__V1__OPERATORS_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    Vigil__V1__OperatorsResult *r;
    void *owner = NULL;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ctl_usage_operators(stdout);
        return CTL_EXIT_OK;
    }
    if (argc != 1)
        return ctl_usage_err("operators", "operators takes no arguments");
    req.request_id = 54;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_OPERATORS;
    req.operators = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_OPERATORS, &resp,
                        &owner)) != 0)
        return rc;
    r = resp->operators;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_operators; i++) {
            const Vigil__V1__OperatorInfo *m = r->operators[i];
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(m->name));
            json_object_set_new(o, "role", json_string(m->role));
            json_object_set_new(o, "serial", json_string(m->serial));
            json_object_set_new(o, "first_seen", json_time(m->first_seen_time_ms));
            json_object_set_new(o, "last_seen", json_time(m->last_seen_time_ms));
            json_object_set_new(o, "not_after", json_time(m->not_after_time_ms));
            json_object_set_new(o, "connected", json_boolean(m->connected));
            json_object_set_new(o, "revoked", json_boolean(m->revoked_time_ms != 0));
            json_object_set_new(o, "revoked_time", json_time(m->revoked_time_ms));
            if (m->revoked_time_ms)
                json_object_set_new(o, "revoke_reason", json_string(m->revoke_reason));
            json_array_append_new(a, o);
        }
        ctl_print_json(a);
        json_decref(a);
    } else {
        enum { NC = 7 };
        static const char *head[NC] = { "NAME", "ROLE", "SERIAL", "FIRST SEEN", "LAST USE",
                                         "EXPIRES", "STATE" };
        char (*cells)[NC][256] = calloc(r->n_operators ? r->n_operators : 1, sizeof(*cells));
        size_t w[NC];
        if (!cells) {
            ctl_call_free(owner);
            return ctl_err("out of memory");
        }
        for (int c = 0; c < NC; c++)
            w[c] = strlen(head[c]);
        for (size_t i = 0; i < r->n_operators; i++) {
            const Vigil__V1__OperatorInfo *m = r->operators[i];
            char t[VG_TIME_STR_MAX];
            ctl_text(cells[i][0], 256, m->name);
            ctl_text(cells[i][1], 256, m->role);
            ctl_text(cells[i][2], 256, m->serial);
            snprintf(cells[i][3], 256, "%s", when(m->first_seen_time_ms, t, sizeof(t)));
            snprintf(cells[i][4], 256, "%s", when(m->last_seen_time_ms, t, sizeof(t)));
            snprintf(cells[i][5], 256, "%s%s", when(m->not_after_time_ms, t, sizeof(t)),
                     m->not_after_time_ms && m->not_after_time_ms < vg_time_now_ms()
                         ? " (expired)" : "");
            if (m->revoked_time_ms)
                snprintf(cells[i][6], 256, "REVOKED %s", when(m->revoked_time_ms, t, sizeof(t)));
            else
                snprintf(cells[i][6], 256, "%s", m->connected ? "connected" : "-");
            for (int c = 0; c < NC; c++)
                if (ctl_width(cells[i][c]) > w[c])
                    w[c] = ctl_width(cells[i][c]);
        }
        for (int c = 0; c < NC; c++)
            ctl_put_cell(head[c], w[c], c == NC - 1);
        for (size_t i = 0; i < r->n_operators; i++)
            for (int c = 0; c < NC; c++)
                ctl_put_cell(cells[i][c], w[c], c == NC - 1);
        free(cells);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

void ctl_usage_revoked(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] revoked\n"
            "\n"
            "Lists every certificate the collector has revoked, of hosts and of\n"
            "operators: SERIAL, REVOKED (when), SUBJECT (host AGENT_ID or operator NAME),\n"
            "BY and REASON.  Saved with --json, it is what 'vigilctl pki crl' signs on\n"
            "a machine that holds the CA key but cannot reach the collector.  Any\n"
            "operator role may list them.\n");
}

int ctl_revoked_json(struct ctl *ctl, json_t **out)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__RevokedQuery q = VIGIL__V1__REVOKED_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    json_t *a;
    int rc;

    req.request_id = 55;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_REVOKED;
    req.revoked = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REVOKED, &resp,
                        &owner)) != 0)
        return rc;
    a = json_array();
    for (size_t i = 0; i < resp->revoked->n_certs; i++) {
        const Vigil__V1__RevokedCert *m = resp->revoked->certs[i];
        json_t *o = json_object();
        json_object_set_new(o, "serial", json_string(m->serial));
        json_object_set_new(o, "revoked_time", json_time(m->revoked_time_ms));
        json_object_set_new(o, "subject", json_string(m->subject));
        json_object_set_new(o, "revoked_by", json_string(m->revoked_by));
        json_object_set_new(o, "reason", json_string(m->reason));
        json_array_append_new(a, o);
    }
    ctl_call_free(owner);
    *out = a;
    return 0;
}

int ctl_cmd_revoked(struct ctl *ctl, int argc, char **argv)
{
    json_t *a = NULL, *o;
    size_t i;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ctl_usage_revoked(stdout);
        return CTL_EXIT_OK;
    }
    if (argc != 1)
        return ctl_usage_err("revoked", "revoked takes no arguments");
    if ((rc = ctl_revoked_json(ctl, &a)) != 0)
        return rc;
    if (ctl->json) {
        ctl_print_json(a);
    } else {
        enum { NC = 5 };
        static const char *head[NC] = { "SERIAL", "REVOKED", "SUBJECT", "BY", "REASON" };
        static const char *key[NC] = { "serial", "revoked_time", "subject", "revoked_by",
                                       "reason" };
        size_t w[NC];
        char cell[512];
        for (int c = 0; c < NC; c++)
            w[c] = strlen(head[c]);
        json_array_foreach(a, i, o) {
            for (int c = 0; c < NC; c++) {
                const char *v = json_string_value(json_object_get(o, key[c]));
                ctl_text(cell, sizeof(cell), v && v[0] ? v : "-");
                if (ctl_width(cell) > w[c])
                    w[c] = ctl_width(cell);
            }
        }
        for (int c = 0; c < NC; c++)
            ctl_put_cell(head[c], w[c], c == NC - 1);
        json_array_foreach(a, i, o) {
            for (int c = 0; c < NC; c++) {
                const char *v = json_string_value(json_object_get(o, key[c]));
                ctl_put_cell(ctl_text(cell, sizeof(cell), v && v[0] ? v : "-"), w[c],
                             c == NC - 1);
            }
        }
    }
    json_decref(a);
    return CTL_EXIT_OK;
}
