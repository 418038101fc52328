/*
 * vigilctl audit: the collector's audit log, and a check of its hash
 * chain.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acp.h"
#include "crypto.h"
#include "ctl.h"
#include "err.h"
#include "util.h"

#define OFFLINE_MAX_CHECKPOINTS (4u << 20)

/* The offline check's finding. */
struct offline {
    int ok;
    char kind[16], why[400];
    size_t checkpoints;
    struct vg_acp newest; /* the highest seq read (seq 0: none) */
};

/* Reads every checkpoint line of path (other lines, as in a syslog file,
 * are skipped) and checks each one's signature with pub: links are not
 * required, since a syslog copy may have lost lines.  Returns 0 with
 * *out (free()) and *n, or CTL_EXIT_FAIL with o->why set. */
static int read_checkpoints(const char *path, const struct vg_key *pub, struct vg_acp **out,
                            size_t *n, struct offline *o)
{
    char line[VG_ACP_LINE_MAX + 256], why[200];
    unsigned long long lineno = 0;
    struct vg_acp *v = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");

    *out = NULL;
    *n = 0;
    if (!f) {
        snprintf(o->why, sizeof(o->why), "cannot read %.200s: %s", path, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        lineno++;
        if (len && line[len - 1] != '\n' && !feof(f)) {
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ; /* a long line of something else */
            continue;
        }
        if (!strstr(line, VG_ACP_MAGIC))
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 256;
            struct vg_acp *nv;
            if (cap >= OFFLINE_MAX_CHECKPOINTS || !(nv = realloc(v, nc * sizeof(*nv)))) {
                snprintf(o->why, sizeof(o->why), "%.200s: too many checkpoints", path);
                goto fail;
            }
            v = nv;
            cap = nc;
        }
        if (vg_acp_parse(line, len, &v[*n], why, sizeof(why)) != 0) {
            snprintf(o->why, sizeof(o->why), "%.160s line %llu: %.200s", path, lineno, why);
            goto fail;
        }
        if (vg_acp_verify(&v[*n], pub) != 0) {
            snprintf(o->why, sizeof(o->why), "%.200s line %llu: checkpoint #%llu is not signed by "
                     "this key (forged, edited, or another collector's)", path, lineno,
                     (unsigned long long)v[*n].seq);
            goto fail;
        }
        (*n)++;
    }
    fclose(f);
    *out = v;
    return 0;
fail:
    fclose(f);
    free(v);
    *n = 0;
    return CTL_EXIT_FAIL;
}

/* Holds the entries the collector sent (all of them, oldest first)
 * against checkpoints read from a file, recomputing the chain here: the
 * collector's own verdict is not trusted. */
static void offline_check(const Vigil__V1__AuditResult *r, const char *cp_path,
                          const char *pub_path, struct offline *o)
{
    struct vg_key *pub = NULL;
    struct vg_acp *cps = NULL, *top = NULL;
    char prev[VG_SHA256_HEX] = VG_ACP_GENESIS, h[VG_SHA256_HEX], t[VG_TIME_STR_MAX];
    char *pem = NULL;
    size_t ncp = 0, len, i;
    int64_t broken = 0;

    memset(o, 0, sizeof(*o));
    vg_strlcpy(o->kind, "checkpoints", sizeof(o->kind));
    if (vg_file_read(pub_path, 64 * 1024, &pem, &len) != 0 ||
        vg_key_parse_public((const uint8_t *)pem, len, &pub) != 0) {
        snprintf(o->why, sizeof(o->why), "cannot read a public key from %.200s", pub_path);
        goto out;
    }
    if (read_checkpoints(cp_path, pub, &cps, &ncp, o) != 0)
        goto out;
    o->checkpoints = ncp;
    for (i = 0; i < ncp; i++) {
        if (cps[i].seq > o->newest.seq)
            o->newest = cps[i];
        if (!top || cps[i].last > top->last ||
            (cps[i].last == top->last && cps[i].entries >= top->entries))
            top = &cps[i];
    }
    o->kind[0] = '\0';
    /* The chain, recomputed. */
    for (i = 0; i < r->n_entries && !broken; i++) {
        const Vigil__V1__AuditEntry *e = r->entries[i];
        if (e->id != (int64_t)i + 1) {
            broken = (int64_t)i + 1;
            vg_strlcpy(o->kind, "deleted", sizeof(o->kind));
            snprintf(o->why, sizeof(o->why), "entry %lld is missing (deleted)", (long long)broken);
            break;
        }
        vg_acp_entry_hash(prev, e->id, e->time_ms, e->actor, e->action, e->target, e->detail,
                          e->result, h);
        if (strcmp(h, e->hash) != 0) {
            broken = e->id;
            vg_strlcpy(o->kind, "edited", sizeof(o->kind));
            snprintf(o->why, sizeof(o->why), "entry %lld was changed after it was written",
                     (long long)e->id);
            break;
        }
        memcpy(prev, h, sizeof(prev));
    }
    if (broken)
        goto out;
    if (top && r->n_entries == 0 && top->entries > 0) {
        vg_strlcpy(o->kind, "emptied", sizeof(o->kind));
        snprintf(o->why, sizeof(o->why), "all entries deleted: the log is empty, but the signed "
                 "checkpoint #%llu of %s covered %llu entries", (unsigned long long)top->seq,
                 vg_time_format(top->time_ms, t, sizeof(t)), (unsigned long long)top->entries);
        goto out;
    }
    if (top && (size_t)top->last > r->n_entries) {
        vg_strlcpy(o->kind, "truncated", sizeof(o->kind));
        snprintf(o->why, sizeof(o->why), "truncated: the %lld newest entries are missing (the "
                 "log ends at entry %zu, the signed checkpoint #%llu of %s covered entries up "
                 "to %lld)", (long long)top->last - (long long)r->n_entries, r->n_entries,
                 (unsigned long long)top->seq, vg_time_format(top->time_ms, t, sizeof(t)),
                 (long long)top->last);
        goto out;
    }
    {
        const struct vg_acp *bad = NULL;
        int64_t good = 0;
        for (i = 0; i < ncp; i++) {
            const struct vg_acp *c = &cps[i];
            if (c->last == 0)
                continue;
            if (strcmp(r->entries[c->last - 1]->hash, c->head) != 0) {
                if (!bad || c->last < bad->last)
                    bad = c;
            }
        }
        for (i = 0; bad && i < ncp; i++)
            if (cps[i].last < bad->last && cps[i].last > good &&
                strcmp(cps[i].last ? r->entries[cps[i].last - 1]->hash : "", cps[i].head) == 0)
                good = cps[i].last;
        if (bad) {
            vg_strlcpy(o->kind, "rewritten", sizeof(o->kind));
            snprintf(o->why, sizeof(o->why), "chain rewritten: entry %lld differs from the signed "
                     "checkpoint #%llu of %s (an entry from %lld to %lld was changed or deleted "
                     "and the chain recomputed after it)", (long long)bad->last,
                     (unsigned long long)bad->seq, vg_time_format(bad->time_ms, t, sizeof(t)),
                     (long long)good + 1, (long long)bad->last);
            goto out;
        }
    }
    o->ok = 1;
out:
    free(cps);
    free(pem);
    vg_key_free(pub);
}

void ctl_usage_audit(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] audit [--since TIME] [--verify]\n"
            "                [--checkpoints FILE --pubkey FILE]\n"
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
            "  --checkpoints FILE, --pubkey FILE\n"
            "                 with --verify (implied), also check here, trusting neither the\n"
            "                 collector's verdict nor its checkpoint file: every entry is\n"
            "                 fetched, the chain recomputed, and held against the checkpoint\n"
            "                 lines of FILE (a copy of DB-audit.checkpoints, or a syslog file:\n"
            "                 other lines are skipped), each of which must be signed by the\n"
            "                 public key (the collector's DB-audit.pub); exit 1 if either check\n"
            "                 fails\n"
            "\n"
            "With --json (before 'audit'): {\"entries\": [{id, time, actor, action, target,\n"
            "detail, result, hash}...], \"chain_ok\", \"broken_id\", \"broken_kind\"\n"
            "(edited, deleted, truncated, emptied, rewritten, checkpoints), \"broken_reason\",\n"
            "\"checkpoint\": {seq, time, entries, last, head} or null} (the chain fields only\n"
            "with --verify), and with --checkpoints \"offline\": {ok, kind, reason, checkpoints}.\n");
}

static const struct option audit_long[] = {
    { "since", required_argument, NULL, 's' },
    { "verify", no_argument, NULL, 'v' },
    { "checkpoints", required_argument, NULL, 'C' },
    { "pubkey", required_argument, NULL, 'P' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_audit[] = {
    { NULL, ":h", audit_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_audit(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__AuditQuery q = VIGIL__V1__AUDIT_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__AuditResult *r;
    void *owner = NULL;
    int64_t since = vg_time_now_ms() - 7LL * 86400000;
    uint64_t ms;
    const char *cp_path = NULL, *pub_path = NULL;
    struct offline off;
    int c, rc, verify = 0;

    while ((c = ctl_getopt(argc, argv, ctl_opts_audit)) != -1) {
        switch (c) {
        case 's':
            if (vg_parse_duration(optarg, &ms) == 0)
                since = vg_time_now_ms() - (int64_t)ms;
            else if (vg_time_parse(optarg, &since) != 0)
                return ctl_usage_err("audit", "--since '%s': give an RFC 3339 time or a "
                                     "duration like 24h", optarg);
            break;
        case 'v': verify = 1; break;
        case 'C': cp_path = optarg; break;
        case 'P': pub_path = optarg; break;
        case 'h': ctl_usage_audit(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("audit", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("audit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_err("audit", "unexpected argument '%s'", argv[optind]);
    if (!cp_path != !pub_path)
        return ctl_usage_err("audit", "--checkpoints and --pubkey go together");
    if (cp_path)
        verify = 1;
    /* The offline check recomputes the chain: it needs every entry. */
    q.since_time_ms = cp_path ? INT64_MIN : since;
    q.verify = verify;
    req.request_id = 7;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_AUDIT;
    req.audit = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_AUDIT, &resp,
                        &owner)) != 0)
        return rc;
    r = resp->audit;
    if (cp_path)
        offline_check(r, cp_path, pub_path, &off);
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
        if (cp_path) {
            json_t *j = json_object();
            json_object_set_new(j, "ok", json_boolean(off.ok));
            json_object_set_new(j, "kind", json_string(off.kind));
            json_object_set_new(j, "reason", json_string(off.why));
            json_object_set_new(j, "checkpoints", json_integer((json_int_t)off.checkpoints));
            json_object_set_new(o, "offline", j);
        }
        ctl_print_json(o);
        json_decref(o);
    } else {
        size_t wt = 4;
        for (size_t i = 0; i < r->n_entries; i++) {
            char t[VG_TIME_STR_MAX];
            if (strlen(vg_time_format(r->entries[i]->time_ms, t, sizeof(t))) > wt)
                wt = strlen(t);
        }
        printf("%6s  %-*s  %-8s %-10s %s\n", "ID", (int)wt, "TIME", "RESULT", "ACTION",
               "ACTOR: DETAIL [TARGET]");
        for (size_t i = 0; i < r->n_entries; i++) {
            const Vigil__V1__AuditEntry *e = r->entries[i];
            char t[VG_TIME_STR_MAX];
            printf("%6lld  %-*s  %-8s %-10s ", (long long)e->id, (int)wt,
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
        if (cp_path && off.ok)
            printf("offline: intact against %zu signed checkpoints of %s%s\n", off.checkpoints,
                   cp_path, off.checkpoints ? "" : " (none there: nothing to hold it against)");
        else if (cp_path)
            printf("offline: BROKEN: %s\n", ctl_text(why, sizeof(why), off.why));
    }
    rc = verify && (!r->chain_ok || (cp_path && !off.ok)) ? CTL_EXIT_FAIL : CTL_EXIT_OK;
    ctl_call_free(owner);
    return rc;
}
