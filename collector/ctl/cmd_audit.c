/*
 * vigilctl audit: the collector's audit log, and a check of its hash
 * chain.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

void ctl_usage_audit(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] audit [--since TIME] [--verify]\n"
            "\n"
            "Prints the collector's audit log: commands, their delivery and results,\n"
            "tampering reports and refused attempts (a wrong role or certificate), oldest\n"
            "first.  Each entry carries the hash of the one before it, and the collector\n"
            "signs checkpoints of the chain's head with a key the database does not hold.\n"
            "\n"
            "  --since TIME   RFC 3339 time or a duration back from now (default: 7d)\n"
            "  --verify       check the whole chain and hold it against every signed\n"
            "                 checkpoint; exit 1 if an entry was changed or deleted, the\n"
            "                 newest entries or all of them were deleted, the chain was\n"
            "                 recomputed, or the checkpoint file was tampered with,\n"
            "                 saying which\n"
            "\n"
            "With --json (before 'audit'): {\"entries\": [{id, time, actor, action, target,\n"
            "detail, result, hash}...], \"chain_ok\", \"broken_id\", \"broken_kind\"\n"
            "(edited, deleted, truncated, emptied, rewritten, checkpoints), \"broken_reason\",\n"
            "\"checkpoint\": {seq, time, entries, last, head} or null} (the chain fields only\n"
            "with --verify).\n");
}

int ctl_cmd_audit(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "since", required_argument, NULL, 's' },
        { "verify", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__AuditQuery q = VIGIL__V1__AUDIT_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__AuditResult *r;
    void *owner = NULL;
    int64_t since = vg_time_now_ms() - 7LL * 86400000;
    uint64_t ms;
    int c, rc, verify = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (vg_parse_duration(optarg, &ms) == 0)
                since = vg_time_now_ms() - (int64_t)ms;
            else if (vg_time_parse(optarg, &since) != 0)
                return ctl_usage_err("audit", "--since '%s': give an RFC 3339 time or a "
                                     "duration like 24h", optarg);
            break;
        case 'v': verify = 1; break;
        case 'h': ctl_usage_audit(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("audit", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("audit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_err("audit", "unexpected argument '%s'", argv[optind]);
    q.since_time_ms = since;
    q.verify = verify;
    req.request_id = 7;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_AUDIT;
    req.audit = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_AUDIT, &resp,
                        &owner)) != 0)
        return rc;
    r = resp->audit;
    if (ctl->json) {
        json_t *o = json_object(), *a = json_array();
        for (size_t i = 0; i < r->n_entries; i++) {
            const Vigil__V1__AuditEntry *e = r->entries[i];
            json_t *j = json_object();
            char t[VG_TIME_STR_MAX];
            json_object_set_new(j, "id", json_integer(e->id));
            json_object_set_new(j, "time", json_string(vg_time_format(e->time_ms, t, sizeof(t))));
            json_object_set_new(j, "actor", json_string(e->actor));
            json_object_set_new(j, "action", json_string(e->action));
            json_object_set_new(j, "target", json_string(e->target));
            json_object_set_new(j, "detail", json_string(e->detail));
            json_object_set_new(j, "result", json_string(e->result));
            json_object_set_new(j, "hash", json_string(e->hash));
            json_array_append_new(a, j);
        }
        json_object_set_new(o, "entries", a);
        if (verify) {
            json_object_set_new(o, "chain_ok", json_boolean(r->chain_ok));
            json_object_set_new(o, "broken_id", json_integer(r->broken_id));
            json_object_set_new(o, "broken_kind", json_string(r->broken_kind));
            json_object_set_new(o, "broken_reason", json_string(r->broken_reason));
            if (r->checkpoint_seq) {
                json_t *cp = json_object();
                char t[VG_TIME_STR_MAX];
                json_object_set_new(cp, "seq", json_integer((json_int_t)r->checkpoint_seq));
                json_object_set_new(cp, "time", json_string(vg_time_format(
                                                    r->checkpoint_time_ms, t, sizeof(t))));
                json_object_set_new(cp, "entries",
                                    json_integer((json_int_t)r->checkpoint_entries));
                json_object_set_new(cp, "last", json_integer(r->checkpoint_last));
                json_object_set_new(cp, "head", json_string(r->checkpoint_head));
                json_object_set_new(o, "checkpoint", cp);
            } else {
                json_object_set_new(o, "checkpoint", json_null());
            }
        }
        ctl_print_json(o);
        json_decref(o);
    } else {
        for (size_t i = 0; i < r->n_entries; i++) {
            const Vigil__V1__AuditEntry *e = r->entries[i];
            char t[VG_TIME_STR_MAX];
            printf("%6lld  %s  %-8s %-10s ", (long long)e->id,
                   vg_time_format(e->time_ms, t, sizeof(t)), e->result, e->action);
            ctl_put_text(e->actor);
            printf(": ");
            ctl_put_text(e->detail);
            printf(" [");
            ctl_put_text(e->target);
            printf("]\n");
        }
        printf("%zu audit entries\n", r->n_entries);
        char why[1024], t[VG_TIME_STR_MAX];
        if (verify)
            printf("chain: %s%s%s\n", r->chain_ok ? "intact" : "BROKEN: ",
                   r->chain_ok ? "" : ctl_text(why, sizeof(why), r->broken_reason),
                   r->chain_ok ? "" : " (the log was edited outside the collector)");
        if (verify && r->chain_ok && r->checkpoint_seq)
            printf("checkpoint: #%llu of %s, %llu entries, head %.16s (signed; the newest)\n",
                   (unsigned long long)r->checkpoint_seq,
                   vg_time_format(r->checkpoint_time_ms, t, sizeof(t)),
                   (unsigned long long)r->checkpoint_entries,
                   ctl_text(why, sizeof(why), r->checkpoint_head));
        else if (verify && r->chain_ok)
            printf("checkpoint: none (only the chain's own consistency was checked)\n");
    }
    rc = verify && !r->chain_ok ? CTL_EXIT_FAIL : CTL_EXIT_OK;
    ctl_call_free(owner);
    return rc;
}
