/*
 * The SIEM export ([export]): audit entries and process events, read from
 * the database after a persisted cursor, as JSON lines in a rotated file
 * and as RFC 5424 syslog over TLS (RFC 5425, octet-counted framing of
 * RFC 6587), with Elastic Common Schema field names.
 *
 * The database is the queue: a sink reads rows with ids above its cursor
 * in chunks, on the loop, so that nothing is held in memory for a
 * receiver that is away and ingest never waits for one.  Delivery is at
 * least once; every record carries a stable event.id ("audit-<id>",
 * "proc-<id>") by which receivers drop a repeat.
 *
 *   cursor (export_cursors)   delivered      sent (pos)        newest row
 *   ------------------------------|--------------|--------------|------->
 *                                 a file: after fdatasync
 *                                 syslog: flushed to the socket, and the
 *                                 connection up resend_window since
 *
 * A lost connection starts again from "delivered".
 */
#ifndef VG_EXPORT_H
#define VG_EXPORT_H

#include <stdint.h>
#include <uv.h>

struct collector_conf;
struct store;
struct export;

/* Checks the [export] keys without starting anything (syslog given as
 * HOST:PORT with a syslog_ca; cert and key together; the TLS files
 * loadable).  Returns 0, or VG_ECONFIG with the reason in err. */
int export_check_conf(const struct collector_conf *conf, char *err, size_t errlen);

/* Starts the sinks configured on loop, reading through store (the loop's
 * connection; it must outlive export_stop).  *out is NULL when no sink is
 * configured.  Returns 0, or an error with err (a file that cannot be
 * opened, TLS files that do not load). */
int export_start(uv_loop_t *loop, struct store *store, const struct collector_conf *conf,
                 struct export **out, char *err, size_t errlen);

/* What the metrics endpoint shows, since start: records written or sent
 * (resends included) and rows deleted before they were exported, per
 * sink (0 file, 1 syslog; on: configured), and whether syslog is up. */
struct export_stats {
    int on[2], syslog_up;
    uint64_t records[2], gone[2], active[2]; /* active: 1 if this collector exports to it */
};
/* ex NULL: all zero. */
void export_stats(const struct export *ex, struct export_stats *st);

/* Saves the cursors (a file is synced first), closes the connection and
 * handles; the memory goes with the last close callback.  NULL: no-op. */
void export_stop(struct export *ex);

#endif
