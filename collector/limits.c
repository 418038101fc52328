/*
 * Bounds on every field an agent sends in its Hello and its batches,
 * checked as soon as the envelope is decoded, before anything is stored.
 * README.md ("Limits") shows this table row by row; test_limits checks
 * that the two agree.
 *
 * Each bound is above what an honest agent sends (its own bound is in the
 * comment), so only a broken or hostile peer meets one.  A value over a
 * bound with a flag is cut to fit and flagged (argv: its tail says least,
 * and the flag says it is cut); over any other bound the batch is
 * rejected with the reason (Ack.rejected_seq), or the hello refused:
 * identities, paths, package names and versions are never cut, as a cut
 * one could name something else.
 */
#include <stdio.h>
#include <string.h>

#include "collector.h"
#include "util.h"

const struct vg_pb_limit collector_limits[] = {
    /* Paths: PATH_MAX with its NUL; os-release and uname fields: 256
     * (in_os.c); package fields: far below. */
    { "*.string", 4096, 0, 0, NULL },
    /* Batch.events (MAX_BATCH_EVENTS); inventory parts: 2000 packages;
     * pending updates: 10000; snapshot parts: 500 processes. */
    { "*.repeated", 0, MAX_BATCH_EVENTS, 0, NULL },
    /* The agent: 4096 bytes (PROC_ARGV_MAX), at most 512 entries (64 in
     * a snapshot).  64 KiB is also far below what the store joins them
     * into (1 MiB). */
    { "ProcessExec.argv", 0, 4096, 65536, "argv_truncated" },
    { "ProcessInfo.argv", 0, 4096, 65536, "argv_truncated" },
    /* The agent: up to 7 field names ("login_uid" the longest). */
    { "ProcessExec.unknown", 64, 16, 0, NULL },
    /* The agent: 255 (in_os.c, transport.c). */
    { "OsState.hostname", 255, 0, 0, NULL },
    { "OsState.fqdn", 255, 0, 0, NULL },
    { "Hello.hostname", 255, 0, 0, NULL },
    /* The certificate's CN, which it must equal. */
    { "Hello.agent_id", 255, 0, 0, NULL },
    /* The agent: [agent] tags holds at most 256 (VG_CONF_MAX_LIST). */
    { "Hello.tags", 0, 256, 0, NULL },
    /* The agent: 4. */
    { "Hello.capabilities", 64, 64, 0, NULL },
};

const size_t collector_nlimits = VG_ARRAY_SIZE(collector_limits);

int limits_check(ProtobufCMessage *m, struct vg_pb_limit_report *r)
{
    return vg_pb_limit(m, collector_limits, collector_nlimits, r);
}

void limits_describe(const struct vg_pb_limit_report *r, char *out, size_t len)
{
    if (r->flag)
        snprintf(out, len, "%s is %llu %s, over its limit of %llu: cut to it (%s set)", r->field,
                 (unsigned long long)r->size, r->unit, (unsigned long long)r->max, r->flag);
    else
        snprintf(out, len, "%s is %llu %s, over its limit of %llu", r->field,
                 (unsigned long long)r->size, r->unit, (unsigned long long)r->max);
}

void limits_row(const struct vg_pb_limit *l, char *out, size_t len)
{
    char bound[96] = "";
    size_t n = 0;
    const char *name = strcmp(l->field, "*.string") == 0     ? "any string or bytes field"
                       : strcmp(l->field, "*.repeated") == 0 ? "any repeated field"
                                                             : NULL;

    if (l->max_count)
        n += (size_t)snprintf(bound + n, sizeof(bound) - n, "%u entries", l->max_count);
    if (l->max_len && n < sizeof(bound))
        n += (size_t)snprintf(bound + n, sizeof(bound) - n, "%s%u bytes", n ? " of " : "",
                              l->max_len);
    if (l->max_total && n < sizeof(bound))
        snprintf(bound + n, sizeof(bound) - n, "%s%u bytes in all", n ? ", " : "", l->max_total);
    if (l->flag)
        snprintf(out, len, "| `%s` | %s | cut, `%s` set |", l->field, bound, l->flag);
    else
        snprintf(out, len, "| %s%s%s | %s | %s |", name ? "" : "`", name ? name : l->field,
                 name ? "" : "`", bound,
                 strncmp(l->field, "Hello.", 6) == 0 ? "connection refused" : "batch rejected");
}
