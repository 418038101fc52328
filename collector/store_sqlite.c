/*
 * SQLite back end of the store.
 *
 * Schema (version 1):
 *   hosts     one row per agent id: identity, current OS state, health,
 *             first/last seen, clock skew
 *   streams   (host, epoch) -> last stored sequence number
 *   batches   (host, epoch, seq) primary key: a batch is stored once
 *   events    every event as received (protobuf body) with agent and
 *             collector times; the body is empty for a process exec
 *             whose processes row holds all of it (exec_in_row)
 *   packages, package_history, os_history, pending, pending_history:
 *             the inventory now and over time (see the schema below)
 *   package_events  the hosts' own install history (dpkg logs, rpm
 *             install times), including the time before the collector
 *             first saw them
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acp.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "store.h"
#include "store_int.h"
#include "store_pg_schema.h"
#include "util.h"

/* Schema versions.  The version a database is at is in meta; a collector
 * brings an older one up to SCHEMA_VERSION at open (one transaction per
 * step, logged) and refuses a newer one, which a newer collector wrote.
 *   1  the tables as first shipped, with columns added at each open since
 *      (added_columns), as every collector up to version 2 left it;
 *   2  the same with all of added_columns: from here on, every change to
 *      the schema is a numbered step of migrate();
 *   3  indexes for retention by time of batch receipts and loss records;
 *      no index of raw events by host and time;
 *   4  operators: the operator certificates seen (vigilctl operators);
 *   5  hosts: retired (vigilctl hosts retire) and clone evidence;
 *   6  export_cursors: how far each SIEM export sink has delivered
 *      (store_export.c); PostgreSQL databases start here (store_pg_schema.c);
 *   7  an index of queued commands by state: the collectors sharing a
 *      PostgreSQL database look for commands queued for their agents;
 *   8  an index of agent versions by host: every hello looks up the
 *      host's latest;
 *   9  no index of processes by executable (no query used it), and
 *      processes.tty; SQLite: events by kind and time only for the kinds
 *      that are not process events (a partial index).  From here on,
 *      events.body is empty for a process exec that its processes row
 *      holds whole (exec_in_row).
 * From 7 on, a step is the same on both back ends (migrations[] and
 * pg_migrations[]). */
#define SCHEMA_VERSION 9

enum {
    Q_HOST_UPSERT,
    Q_HOST_ID,
    Q_AGENT_VERSION,
    Q_STREAM_LAST,
    Q_STREAM_UPSERT,
    Q_DISCONNECT,
    Q_DUPLICATE,
    Q_BATCH_INSERT,
    Q_BATCH_REJECT,
    Q_EVENT_INSERT,
    Q_HOST_OS,
    Q_HOST_HEALTH,
    Q_HOST_SEEN,
    Q_HOSTS,
    Q_LOSS_INSERT,
    Q_HOST_LOSS,
    Q_STAGE,
    Q_SNAP_GONE_HIST,
    Q_SNAP_GONE,
    Q_SNAP_NEW_HIST,
    Q_SNAP_UPSERT,
    Q_STAGE_CLEAR,
    Q_PKG_DEL,
    Q_PKG_GONE_HIST,
    Q_PKG_UPSERT,
    Q_PKG_NEW_HIST,
    Q_INVENTORY,
    Q_PACKAGE_HOSTS,
    Q_OS_HISTORY,
    Q_PEND_STAGE,
    Q_PEND_GONE_HIST,
    Q_PEND_GONE,
    Q_PEND_NEW_HIST,
    Q_PEND_UPSERT,
    Q_PEND_STAGE_CLEAR,
    Q_PEND_HOST,
    Q_PENDING,
    Q_PKG_EVENT,
    Q_PROC_EXEC,
    Q_PROC_EXIT,
    Q_PROC_SNAP,
    Q_PROCESSES,
    Q_PROC_PARENT,
    Q_SNAP_AT,
    Q_RET_PROC_AGE,
    Q_RET_PROC_ROWS,
    Q_RET_SNAP_AGE,
    Q_RET_EVENTS,
    Q_RET_OTHER_EVENTS,
    Q_RET_BATCHES,
    Q_RET_PKG_HISTORY,
    Q_RET_PENDING_HISTORY,
    Q_RET_OS_HISTORY,
    Q_RET_PKG_EVENTS,
    Q_RET_LOSS,
    Q_RET_COMMANDS,
    Q_AUDIT_LAST,
    Q_AUDIT_INSERT,
    Q_AUDIT_LIST,
    Q_AUDIT_COUNT,
    Q_HOST_BY_AGENT,
    Q_HOST_LIVE,
    Q_HOST_BY_ID,
    Q_HOST_ISOLATION,
    Q_HOST_TAMPER,
    Q_UNCLEAN_SEEN,
    Q_CMD_INSERT,
    Q_CMD_UNFINISHED,
    Q_CMD_GET,
    Q_CMD_DELIVERED,
    Q_CMD_STATE,
    Q_CMD_CANCEL,
    Q_CMD_EXPIRE_LIST,
    Q_CMD_LIST,
    Q_CMD_INFO,
    Q_COLL_GET,
    Q_COLL_CREATE,
    Q_COLL_CHUNK,
    Q_COLL_CHUNK_ROW,
    Q_COLL_FINISH,
    Q_COLL_LIST,
    Q_COLL_DL,
    Q_COLL_DL_LIST,
    Q_COLL_OLD,
    Q_COLL_REWIND,
    Q_CERT_SEEN,
    Q_REVOKE_CERTS,
    Q_REVOKE_HOST,
    Q_REVOKED_ALL,
    Q_OPERATOR_SEEN,
    Q_HOST_TAGS,
    Q_OPERATORS,
    Q_REVOKE_OPERATOR,
    Q_REVOKE_SERIAL,
    Q_REVOKED_LIST,
    Q_TOKEN_ADD,
    Q_TOKEN_FIND,
    Q_TOKEN_USE,
    Q_TOKEN_LIST,
    Q_TOKEN_REVOKE,
    Q_TOKEN_FIND_SELECTOR,
    Q_TOKEN_FAIL,
    Q_ENROLLMENT_ADD,
    Q_CMD_QUEUED_AGENTS,
    Q_HOST_REVOKED,
    Q_HOST_PRIOR,
    Q_HOST_CLONE,
    Q_HOST_RETIRE,
    Q_HOST_MACHINE,
    Q_EVENT_AT,
    Q_EVENT_MAX,
    Q_COUNT
};

static const char *const queries[Q_COUNT] = {
    [Q_HOST_UPSERT] =
        "INSERT INTO hosts(agent_id, hostname, tags, agent_version, capabilities, boot_id,"
        " first_seen_ms, last_seen_ms, last_connect_ms, last_addr)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, ?8)"
        " ON CONFLICT(agent_id) DO UPDATE SET hostname = excluded.hostname,"
        " tags = excluded.tags, agent_version = excluded.agent_version,"
        " capabilities = excluded.capabilities, boot_id = excluded.boot_id,"
        " last_seen_ms = excluded.last_seen_ms, last_connect_ms = excluded.last_connect_ms,"
        " last_addr = excluded.last_addr,"
        /* The boot before this one (clone detection), and a retired host
         * that connects is back. */
        " prev_boot_id = CASE WHEN hosts.boot_id IS DISTINCT FROM excluded.boot_id THEN hosts.boot_id"
        " ELSE hosts.prev_boot_id END, retired_ms = NULL, retired_by = NULL,"
        " retire_reason = NULL",
    [Q_HOST_ID] = "SELECT id FROM hosts WHERE agent_id = ?1",
    /* A row when the version differs from the host's last one. */
    [Q_AGENT_VERSION] =
        "INSERT INTO agent_versions(host_id, version, first_ms) SELECT ?1, ?2, ?3"
        " WHERE coalesce((SELECT version FROM agent_versions WHERE host_id = ?1"
        " ORDER BY id DESC LIMIT 1), '') <> ?2",
    [Q_STREAM_LAST] = "SELECT last_seq FROM streams WHERE host_id = ?1 AND epoch = ?2",
    [Q_STREAM_UPSERT] =
        "INSERT INTO streams(host_id, epoch, last_seq, first_seen_ms) VALUES(?1, ?2, ?3, ?4)"
        " ON CONFLICT(host_id, epoch) DO UPDATE SET last_seq = CASE WHEN excluded.last_seq >"
        " streams.last_seq THEN excluded.last_seq ELSE streams.last_seq END",
    [Q_DISCONNECT] = "UPDATE hosts SET last_disconnect_ms = ?2, last_seen_ms = ?2 WHERE id = ?1"
                     " AND coalesce(last_connect_ms, 0) <= ?3",
    [Q_DUPLICATE] = "UPDATE hosts SET duplicates_refused = duplicates_refused + 1,"
                    " last_duplicate_ms = ?2, last_duplicate_addr = ?3 WHERE agent_id = ?1",
    [Q_BATCH_INSERT] =
        "INSERT INTO batches(host_id, epoch, seq, agent_time_ms, recv_time_ms, events)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    [Q_BATCH_REJECT] =
        "INSERT INTO batches(host_id, epoch, seq, agent_time_ms, recv_time_ms, events,"
        " rejected) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    [Q_EVENT_INSERT] =
        "INSERT INTO events(host_id, seq, idx, kind, time_ms, recv_time_ms, body)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_HOST_OS] =
        "UPDATE hosts SET hostname = ?2, fqdn = ?3, os_id = ?4, os_version_id = ?5,"
        " os_pretty_name = ?6, os_version_codename = ?7, kernel_release = ?8,"
        " kernel_version = ?9, arch = ?10, machine_id = ?11, boot_id = ?12,"
        " boot_time_ms = ?13, reboot_required = ?14, os_time_ms = ?15, newest_kernel = ?16,"
        " kernel_update_pending = ?17, packages_changed_ms = ?18 WHERE id = ?1",
    [Q_HOST_HEALTH] =
        "UPDATE hosts SET health_rss_bytes = ?2, health_cpu_user_ms = ?3,"
        " health_cpu_system_ms = ?4, health_queued_events = ?5, health_dropped_total = ?6,"
        " health_time_ms = ?7, health_spool_batches = ?8, health_spool_bytes = ?9,"
        " process_source = ?10,"
        " isolation_verified_ms = CASE WHEN ?11 > 0 THEN ?11 ELSE isolation_verified_ms END,"
        " confirm_interval_ms = ?12 WHERE id = ?1",
    [Q_HOST_SEEN] = "UPDATE hosts SET last_seen_ms = ?2, clock_skew_ms = ?3, last_seq = ?4"
                    " WHERE id = ?1",
    [Q_HOSTS] = "SELECT agent_id, hostname, tags, os_pretty_name, kernel_release, agent_version,"
                " first_seen_ms, last_seen_ms, clock_skew_ms, last_seq, health_spool_batches,"
                " health_spool_bytes, loss_events, loss_batches, newest_kernel,"
                " kernel_update_pending, reboot_required, packages_changed_ms, boot_time_ms,"
                " pending_time_ms, pending_updates, pending_security, pending_security_since_ms,"
                " pending_refreshed_ms, pending_error, process_source, isolated, isolated_since_ms,"
                " revoked_ms, unclean_stops, last_unclean_stop_ms, last_unclean_gap_ms,"
                " isolation_verified_ms, confirm_interval_ms, coalesce(retired_ms, 0), retired_by,"
                " retire_reason, clone_count, coalesce(clone_first_ms, 0),"
                " coalesce(clone_last_ms, 0), clone_evidence, duplicates_refused,"
                " coalesce(last_duplicate_ms, 0), last_duplicate_addr, machine_id,"
                " CASE WHEN coalesce(last_connect_ms, 0) > coalesce(last_disconnect_ms, 0)"
                " THEN last_seen_ms ELSE 0 END FROM hosts ORDER BY hostname NULLS FIRST, agent_id",
    [Q_LOSS_INSERT] =
        "INSERT INTO loss(host_id, seq, source, count, unit, first_ms, last_ms, reason,"
        " recv_time_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [Q_STAGE] = "INSERT INTO inventory_staging(host_id, manager, name, arch, version, status,"
                " source_name, source_version, install_time_ms)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                " ON CONFLICT(host_id, manager, name, arch) DO UPDATE SET"
                " version = excluded.version, status = excluded.status,"
                " source_name = excluded.source_name, source_version = excluded.source_version,"
                " install_time_ms = excluded.install_time_ms",
    /* Snapshot complete: what is gone ends in history, what is new starts. */
    [Q_SNAP_GONE_HIST] =
        "UPDATE package_history SET disappeared_ms = ?3 WHERE host_id = ?1 AND manager = ?2"
        " AND disappeared_ms IS NULL AND NOT EXISTS (SELECT 1 FROM inventory_staging s"
        " WHERE s.host_id = ?1 AND s.manager = ?2 AND s.name = package_history.name"
        " AND s.arch = package_history.arch AND s.version = package_history.version"
        " AND s.status = package_history.status)",
    [Q_SNAP_GONE] =
        "DELETE FROM packages WHERE host_id = ?1 AND manager = ?2 AND NOT EXISTS"
        " (SELECT 1 FROM inventory_staging s WHERE s.host_id = ?1 AND s.manager = ?2"
        " AND s.name = packages.name AND s.arch = packages.arch)",
    [Q_SNAP_NEW_HIST] =
        "INSERT INTO package_history(host_id, manager, name, arch, version, status, appeared_ms,"
        " source_name, source_version, install_time_ms)"
        " SELECT host_id, manager, name, arch, version, status, ?3, source_name, source_version,"
        " install_time_ms FROM inventory_staging s"
        " WHERE s.host_id = ?1 AND s.manager = ?2 AND NOT EXISTS (SELECT 1 FROM packages p"
        " WHERE p.host_id = ?1 AND p.manager = ?2 AND p.name = s.name AND p.arch = s.arch"
        " AND p.version = s.version AND p.status = s.status)",
    [Q_SNAP_UPSERT] =
        "INSERT INTO packages(host_id, manager, name, arch, version, status, source_name,"
        " source_version, first_seen_ms, install_time_ms) SELECT host_id, manager, name, arch,"
        " version, status, source_name, source_version, ?3, install_time_ms FROM inventory_staging"
        " WHERE host_id = ?1 AND manager = ?2"
        " ON CONFLICT(host_id, manager, name, arch) DO UPDATE SET version = excluded.version,"
        " status = excluded.status, source_name = excluded.source_name,"
        " source_version = excluded.source_version, install_time_ms = excluded.install_time_ms",
    [Q_STAGE_CLEAR] = "DELETE FROM inventory_staging WHERE host_id = ?1 AND manager = ?2",
    [Q_PKG_DEL] = "DELETE FROM packages WHERE host_id = ?1 AND manager = ?2 AND name = ?3"
                  " AND arch = ?4",
    [Q_PKG_GONE_HIST] = "UPDATE package_history SET disappeared_ms = ?5 WHERE host_id = ?1"
                        " AND manager = ?2 AND name = ?3 AND arch = ?4 AND disappeared_ms IS NULL",
    [Q_PKG_UPSERT] =
        "INSERT INTO packages(host_id, manager, name, arch, version, status, source_name,"
        " source_version, first_seen_ms, install_time_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
        " ?9, ?10)"
        " ON CONFLICT(host_id, manager, name, arch) DO UPDATE SET version = excluded.version,"
        " status = excluded.status, source_name = excluded.source_name,"
        " source_version = excluded.source_version, install_time_ms = excluded.install_time_ms",
    [Q_PKG_NEW_HIST] =
        "INSERT INTO package_history(host_id, manager, name, arch, version, status, appeared_ms,"
        " source_name, source_version, install_time_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
        " ?9, ?10)",
    [Q_INVENTORY] =
        "SELECT p.manager, p.name, p.arch, p.version, p.status, p.source_name, p.source_version,"
        " p.first_seen_ms FROM packages p JOIN hosts h ON h.id = p.host_id"
        " WHERE h.agent_id = ?1 ORDER BY p.name, p.arch",
    [Q_PACKAGE_HOSTS] =
        "SELECT h.agent_id, h.hostname, p.manager, p.name, p.arch, p.version, p.status,"
        " p.source_name, p.source_version, p.first_seen_ms FROM packages p"
        " JOIN hosts h ON h.id = p.host_id WHERE p.name = ?1"
        " ORDER BY h.hostname NULLS FIRST, h.agent_id",
    [Q_OS_HISTORY] =
        "INSERT INTO os_history(host_id, time_ms, recv_time_ms, os_pretty_name, kernel_release,"
        " newest_kernel, kernel_update_pending, reboot_required, os_id, os_version_id,"
        " os_version_codename, hostname) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
        " ?12)",
    [Q_PEND_STAGE] =
        "INSERT INTO pending_staging(host_id, manager, name, arch, installed_version,"
        " candidate_version, advisory, security, severity, origin, release_label, release_origin,"
        " site, released_ms, agent_first_seen_ms, security_first_seen_ms, release_file_ms)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        " ON CONFLICT(host_id, manager, name, arch, installed_version, candidate_version,"
        " advisory) DO UPDATE SET security = excluded.security, severity = excluded.severity,"
        " origin = excluded.origin, release_label = excluded.release_label,"
        " release_origin = excluded.release_origin, site = excluded.site,"
        " released_ms = excluded.released_ms, agent_first_seen_ms = excluded.agent_first_seen_ms,"
        " security_first_seen_ms = excluded.security_first_seen_ms,"
        " release_file_ms = excluded.release_file_ms",
    /* A new list replaces the last one: what went ends in history, what
     * is new starts there (keyed on the versions and advisory). */
    [Q_PEND_GONE_HIST] =
        "UPDATE pending_history SET disappeared_ms = ?3 WHERE host_id = ?1 AND manager = ?2"
        " AND disappeared_ms IS NULL AND NOT EXISTS (SELECT 1 FROM pending_staging s"
        " WHERE s.host_id = ?1 AND s.manager = ?2 AND s.name = pending_history.name"
        " AND s.arch = pending_history.arch"
        " AND s.installed_version = pending_history.installed_version"
        " AND s.candidate_version = pending_history.candidate_version"
        " AND s.advisory = pending_history.advisory)",
    [Q_PEND_GONE] =
        "DELETE FROM pending WHERE host_id = ?1 AND manager = ?2 AND NOT EXISTS"
        " (SELECT 1 FROM pending_staging s WHERE s.host_id = ?1 AND s.manager = ?2"
        " AND s.name = pending.name AND s.arch = pending.arch"
        " AND s.installed_version = pending.installed_version"
        " AND s.candidate_version = pending.candidate_version AND s.advisory = pending.advisory)",
    [Q_PEND_NEW_HIST] =
        "INSERT INTO pending_history(host_id, manager, name, arch, installed_version,"
        " candidate_version, advisory, security, severity, origin, released_ms,"
        " agent_first_seen_ms, security_first_seen_ms, appeared_ms, release_file_ms)"
        " SELECT host_id, manager, name, arch, installed_version, candidate_version, advisory,"
        " security, severity, origin, released_ms, agent_first_seen_ms, security_first_seen_ms,"
        " ?3, release_file_ms FROM pending_staging s WHERE s.host_id = ?1 AND s.manager = ?2 AND NOT EXISTS"
        " (SELECT 1 FROM pending p WHERE p.host_id = ?1 AND p.manager = ?2 AND p.name = s.name"
        " AND p.arch = s.arch AND p.installed_version = s.installed_version"
        " AND p.candidate_version = s.candidate_version AND p.advisory = s.advisory)",
    [Q_PEND_UPSERT] =
        "INSERT INTO pending(host_id, manager, name, arch, installed_version, candidate_version,"
        " advisory, security, severity, origin, release_label, release_origin, site, released_ms,"
        " agent_first_seen_ms, security_first_seen_ms, first_seen_ms, release_file_ms)"
        " SELECT host_id, manager, name, arch, installed_version, candidate_version, advisory,"
        " security, severity, origin, release_label, release_origin, site, released_ms,"
        " agent_first_seen_ms, security_first_seen_ms, ?3, release_file_ms FROM pending_staging"
        " WHERE host_id = ?1 AND manager = ?2 ON CONFLICT(host_id, manager, name, arch,"
        " installed_version, candidate_version, advisory) DO UPDATE SET"
        " security = excluded.security, severity = excluded.severity, origin = excluded.origin,"
        " release_label = excluded.release_label, release_origin = excluded.release_origin,"
        " site = excluded.site, released_ms = excluded.released_ms,"
        " agent_first_seen_ms = excluded.agent_first_seen_ms,"
        " security_first_seen_ms = excluded.security_first_seen_ms,"
        " release_file_ms = excluded.release_file_ms",
    [Q_PEND_STAGE_CLEAR] = "DELETE FROM pending_staging WHERE host_id = ?1 AND manager = ?2",
    [Q_PEND_HOST] =
        "UPDATE hosts SET pending_time_ms = ?2, pending_refreshed_ms = ?3,"
        " pending_sources_failed = ?4, pending_error = ?5,"
        " pending_updates = (SELECT count(DISTINCT name || ' ' || arch) FROM pending"
        " WHERE host_id = ?1),"
        " pending_security = (SELECT count(DISTINCT name || ' ' || arch) FROM pending"
        " WHERE host_id = ?1 AND security <> 0),"
        " pending_security_since_ms = (SELECT min(security_first_seen_ms) FROM pending"
        " WHERE host_id = ?1 AND security <> 0 AND security_first_seen_ms > 0)"
        " WHERE id = ?1",
    [Q_PENDING] =
        "SELECT h.agent_id, h.hostname, p.manager, p.name, p.arch, p.installed_version,"
        " p.candidate_version, p.advisory, p.security, p.severity, p.origin, p.release_label,"
        " p.release_origin, p.site, p.released_ms, p.agent_first_seen_ms,"
        " p.security_first_seen_ms, p.first_seen_ms, h.pending_refreshed_ms, p.release_file_ms"
        " FROM pending p JOIN hosts h ON h.id = p.host_id"
        " WHERE (?1 IS NULL OR h.agent_id = ?1) AND (?2 = 0 OR p.security <> 0)"
        " ORDER BY h.hostname NULLS FIRST, h.agent_id, p.name, p.arch, p.advisory",
    /* History may be sent again (an agent's state lost): each event once. */
    [Q_PKG_EVENT] =
        "INSERT INTO package_events(host_id, manager, name, arch, action, old_version,"
        " new_version, time_ms, recv_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT DO NOTHING",
    [Q_PROC_EXEC] =
        "INSERT INTO processes(host_id, pid, ppid, uid, euid, gid, egid, login_uid, session_id,"
        " comm, exe, argv, argv_truncated, cwd, parent_exe, container_id, cgroup_id, sha256,"
        " start_boot_ns, start_ms, \"similar\", unknown, source, recv_ms, hash_note, forked,"
        " tty) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
    /* The exit belongs to the latest exec of that process (a process may
     * exec several times); netlink exits carry no start time. */
    [Q_PROC_EXIT] =
        "UPDATE processes SET exit_ms = ?4, exit_code = ?5, signal = ?6, core_dumped = ?7,"
        " lifetime_ns = ?8 WHERE id = (SELECT max(id) FROM processes WHERE host_id = ?1"
        " AND pid = ?2 AND (?3 = 0 OR start_boot_ns = ?3) AND exit_ms IS NULL)",
    [Q_PROC_SNAP] =
        "INSERT INTO process_snapshots(host_id, snap_ms, pid, ppid, uid, euid, comm, exe, argv,"
        " start_boot_ns, start_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_PROCESSES] =
        "SELECT p.pid, p.ppid, p.uid, p.euid, p.gid, p.egid, p.login_uid, p.session_id, p.comm,"
        " p.exe, p.argv, p.argv_truncated, p.cwd, p.parent_exe, p.container_id, p.cgroup_id,"
        " p.sha256, p.start_boot_ns, p.start_ms, p.similar, p.unknown, p.source, p.exit_ms,"
        " p.exit_code, p.signal, p.core_dumped, p.lifetime_ns, p.recv_ms, p.hash_note,"
        " p.forked, p.tty FROM processes p JOIN hosts h ON h.id = p.host_id WHERE h.agent_id = ?1"
        " AND p.start_ms >= ?2 AND (?3 IS NULL OR p.exe = ?3) AND (?4 = 0 OR p.pid = ?4)"
        " ORDER BY p.start_ms, p.id LIMIT ?5",
    /* A process's parent: the latest exec of the parent pid that started
     * no later than the child. */
    [Q_PROC_PARENT] =
        "SELECT p.pid, p.ppid, p.uid, p.euid, p.gid, p.egid, p.login_uid, p.session_id, p.comm,"
        " p.exe, p.argv, p.argv_truncated, p.cwd, p.parent_exe, p.container_id, p.cgroup_id,"
        " p.sha256, p.start_boot_ns, p.start_ms, p.similar, p.unknown, p.source, p.exit_ms,"
        " p.exit_code, p.signal, p.core_dumped, p.lifetime_ns, p.recv_ms, p.hash_note,"
        " p.forked, p.tty FROM processes p JOIN hosts h ON h.id = p.host_id WHERE h.agent_id = ?1"
        " AND p.pid = ?2 AND p.start_ms <= ?3 ORDER BY p.start_ms DESC, p.id DESC LIMIT 1",
    [Q_SNAP_AT] =
        "SELECT s.pid, s.ppid, s.uid, s.euid, s.comm, s.exe, s.argv, s.start_boot_ns,"
        " s.start_ms, s.snap_ms FROM process_snapshots s JOIN hosts h ON h.id = s.host_id"
        " WHERE h.agent_id = ?1 AND s.pid = ?2 AND s.start_ms <= ?3"
        " ORDER BY s.snap_ms DESC LIMIT 1",
    /* Retention: ?1 the oldest time kept, ?2 the most rows deleted at once. */
    [Q_RET_PROC_AGE] = "DELETE FROM processes WHERE id IN (SELECT id FROM processes"
                       " WHERE start_ms < ?1 LIMIT ?2)",
    /* Rows are numbered in order: all but the newest N (cheap, no scan). */
    [Q_RET_PROC_ROWS] = "DELETE FROM processes WHERE id IN (SELECT id FROM processes"
                        " WHERE id <= (SELECT max(id) FROM processes) - ?1 ORDER BY id LIMIT ?2)",
    [Q_RET_SNAP_AGE] = "DELETE FROM process_snapshots WHERE id IN (SELECT id FROM"
                       " process_snapshots WHERE snap_ms < ?1 LIMIT ?2)",
    /* The raw bodies of process events age with the rows made from them. */
    [Q_RET_EVENTS] = "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE kind IN"
                     " ('process_exec', 'process_exit', 'process_snapshot')"
                     " AND recv_time_ms < ?1 LIMIT ?2)",
    [Q_RET_OTHER_EVENTS] =
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE kind IN ('os_state',"
        " 'agent_health', 'loss', 'agent_tamper', 'package_inventory', 'package_delta',"
        " 'pending_updates', 'package_history', 'isolation_state', 'unknown')"
        " AND recv_time_ms < ?1 LIMIT ?2)",
    /* A stream's stored sequence stays in streams: a resend of a batch
     * whose receipt went is still known (batch_apply). */
    [Q_RET_BATCHES] = "DELETE FROM batches WHERE (host_id, epoch, seq) IN (SELECT host_id,"
                      " epoch, seq FROM batches WHERE recv_time_ms < ?1 LIMIT ?2)",
    /* Histories: closed rows only; each host's latest OS row stays. */
    [Q_RET_PKG_HISTORY] = "DELETE FROM package_history WHERE id IN (SELECT id FROM"
                          " package_history WHERE disappeared_ms < ?1 LIMIT ?2)",
    [Q_RET_PENDING_HISTORY] = "DELETE FROM pending_history WHERE id IN (SELECT id FROM"
                              " pending_history WHERE disappeared_ms < ?1 LIMIT ?2)",
    [Q_RET_OS_HISTORY] = "DELETE FROM os_history WHERE id IN (SELECT o.id FROM os_history o"
                         " WHERE o.recv_time_ms < ?1 AND o.id < (SELECT max(id) FROM os_history"
                         " n WHERE n.host_id = o.host_id) LIMIT ?2)",
    [Q_RET_PKG_EVENTS] = "DELETE FROM package_events WHERE (host_id, manager, name, arch,"
                         " time_ms, action, new_version) IN (SELECT host_id, manager, name,"
                         " arch, time_ms, action, new_version FROM package_events"
                         " WHERE recv_ms < ?1 LIMIT ?2)",
    [Q_RET_LOSS] = "DELETE FROM loss WHERE id IN (SELECT id FROM loss WHERE recv_time_ms < ?1"
                   " LIMIT ?2)",
    /* Finished: succeeded, failed, rolled back, expired, rejected or
     * cancelled. */
    [Q_RET_COMMANDS] = "DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE"
                       " state >= 4 AND updated_ms < ?1 LIMIT ?2)",
    [Q_AUDIT_LAST] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
    [Q_AUDIT_INSERT] =
        "INSERT INTO audit(id, time_ms, actor, action, target, detail, result, prev_hash, hash)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [Q_AUDIT_LIST] = "SELECT id, time_ms, actor, action, target, detail, result, prev_hash, hash"
                     " FROM audit WHERE time_ms >= ?1 ORDER BY id",
    [Q_AUDIT_COUNT] = "SELECT count(*) FROM audit",
    [Q_HOST_BY_AGENT] = "SELECT id, hostname FROM hosts WHERE agent_id = ?1",
    [Q_HOST_LIVE] = "SELECT CASE WHEN coalesce(last_connect_ms, 0) > coalesce(last_disconnect_ms, 0)"
                    " THEN last_seen_ms ELSE 0 END FROM hosts WHERE id = ?1",
    [Q_HOST_BY_ID] = "SELECT agent_id, hostname FROM hosts WHERE id = ?1",
    [Q_HOST_ISOLATION] = "UPDATE hosts SET isolated = ?2, isolated_since_ms = ?3,"
                         " isolation_verified_ms = ?4 WHERE id = ?1",
    [Q_UNCLEAN_SEEN] = "INSERT INTO unclean_reports(host_id, prev_pid, prev_start_ms)"
                       " VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING",
    [Q_HOST_TAMPER] = "UPDATE hosts SET unclean_stops = unclean_stops + 1,"
                      " last_unclean_stop_ms = ?2, last_unclean_gap_ms = ?3 WHERE id = ?1",
    [Q_CMD_INSERT] =
        "INSERT INTO commands(id, host_id, action, operator, reason, detail, body, issued_ms,"
        " expires_ms, state, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?8)",
    /* What a connecting agent is sent: everything not finished (a
     * delivered command whose result was lost is sent again; the agent
     * answers from its own record), oldest first. */
    [Q_CMD_UNFINISHED] =
        "SELECT id, body, state, expires_ms FROM commands WHERE host_id = ?1 AND state IN (1, 2, 3)"
        " ORDER BY issued_ms, id LIMIT 100",
    [Q_CMD_GET] = "SELECT c.action, c.state, h.agent_id FROM commands c JOIN hosts h"
                  " ON h.id = c.host_id WHERE c.id = ?1",
    [Q_CMD_DELIVERED] =
        "UPDATE commands SET state = 2, delivered_ms = ?2, updated_ms = ?2 WHERE id = ?1"
        " AND state = 1",
    /* Final states stick: a late or repeated report cannot undo one. */
    [Q_CMD_STATE] =
        "UPDATE commands SET state = ?2, message = ?3, updated_ms = ?4,"
        " finished_ms = CASE WHEN ?2 >= 4 THEN ?4 ELSE finished_ms END,"
        " delivered_ms = coalesce(delivered_ms, ?4)"
        " WHERE id = ?1 AND host_id = ?5 AND state < 4",
    /* Only a queued command: one the agent has is past cancelling. */
    [Q_CMD_CANCEL] =
        "UPDATE commands SET state = 9, message = ?2, finished_ms = ?3, updated_ms = ?3"
        " WHERE id = ?1 AND state = 1",
    [Q_CMD_EXPIRE_LIST] =
        "SELECT c.id, c.action, h.agent_id FROM commands c JOIN hosts h ON h.id = c.host_id"
        " WHERE c.state = 1 AND c.expires_ms > 0 AND c.expires_ms <= ?1",
    [Q_CMD_LIST] =
        "SELECT c.id, h.agent_id, h.hostname, c.action, c.operator, c.reason, c.detail,"
        " c.issued_ms, c.expires_ms, c.state, c.message, c.delivered_ms, c.finished_ms,"
        " c.updated_ms FROM commands c JOIN hosts h ON h.id = c.host_id"
        " WHERE (?1 IS NULL OR h.agent_id = ?1) AND (?2 IS NULL OR c.id = ?2)"
        " ORDER BY c.issued_ms DESC, c.id LIMIT ?3",
    [Q_CMD_INFO] = "SELECT host_id, action, state, body, operator, reason FROM commands"
                   " WHERE id = ?1",
    [Q_COLL_GET] = "SELECT c.id, c.command_id, c.host_id, c.name, c.state, c.error, c.started_ms,"
                   " c.completed_ms, c.size, c.received, c.sha256, c.chunks, c.path, h.agent_id"
                   " FROM collections c JOIN hosts h ON h.id = c.host_id WHERE c.id = ?1",
    [Q_COLL_CREATE] =
        "INSERT INTO collections(id, command_id, host_id, name, state, started_ms, received,"
        " chunks, path) VALUES(?1, ?2, ?3, ?4, 'receiving', ?5, 0, 0, ?6)",
    [Q_COLL_CHUNK] = "UPDATE collections SET received = received + ?2, chunks = chunks + 1"
                     " WHERE id = ?1 AND state = 'receiving' AND received = ?3",
    [Q_COLL_CHUNK_ROW] = "INSERT INTO collection_chunks(collection_id, \"offset\", len, recv_ms)"
                         " VALUES(?1, ?2, ?3, ?4)",
    [Q_COLL_FINISH] = "UPDATE collections SET state = ?2, error = ?3,"
                      " size = CASE WHEN ?4 > 0 THEN ?4 ELSE size END,"
                      " sha256 = coalesce(?5, sha256), completed_ms = coalesce(completed_ms, ?6),"
                      " path = coalesce(?7, path) WHERE id = ?1",
    [Q_COLL_LIST] =
        "SELECT c.id, c.command_id, h.agent_id, h.hostname, c.name, m.operator, m.reason,"
        " m.issued_ms, c.started_ms, c.completed_ms, c.size, c.received, c.sha256, c.state,"
        " c.error, c.chunks, c.path FROM collections c JOIN hosts h ON h.id = c.host_id"
        " LEFT JOIN commands m ON m.id = c.command_id"
        " WHERE (?1 IS NULL OR h.agent_id = ?1) AND (?2 IS NULL OR c.id = ?2)"
        " AND (?3 IS NULL OR c.command_id = ?3) ORDER BY c.started_ms DESC LIMIT 1000",
    [Q_COLL_DL] = "INSERT INTO collection_downloads(collection_id, operator, peer, time_ms)"
                  " VALUES(?1, ?2, ?3, ?4)",
    [Q_COLL_DL_LIST] = "SELECT operator, peer, time_ms FROM collection_downloads"
                       " WHERE collection_id = ?1 ORDER BY time_ms",
    [Q_COLL_OLD] = "SELECT id, path FROM collections WHERE state IN ('complete', 'failed',"
                   " 'receiving') AND coalesce(completed_ms, started_ms) < ?1 LIMIT 100",
    [Q_COLL_REWIND] = "UPDATE collections SET received = ?2 WHERE id = ?1 AND received > ?2",
    [Q_CERT_SEEN] = "INSERT INTO certs(serial, host_id, first_seen_ms, last_seen_ms)"
                    " VALUES(?1, ?2, ?3, ?3) ON CONFLICT(serial) DO UPDATE SET"
                    " last_seen_ms = excluded.last_seen_ms",
    [Q_REVOKE_CERTS] =
        "INSERT INTO revoked(serial, host_id, reason, operator, time_ms)"
        " SELECT serial, host_id, ?2, ?3, ?4 FROM certs WHERE host_id = ?1"
        " ON CONFLICT DO NOTHING RETURNING serial",
    [Q_REVOKE_HOST] = "UPDATE hosts SET revoked_ms = ?2 WHERE id = ?1",
    [Q_REVOKED_ALL] = "SELECT serial FROM revoked",
    [Q_HOST_TAGS] = "SELECT coalesce(tags, '{}') FROM hosts WHERE agent_id = ?1",
    [Q_OPERATOR_SEEN] =
        "INSERT INTO operators(serial, name, role, not_after_ms, first_seen_ms, last_seen_ms)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(serial) DO UPDATE SET"
        " last_seen_ms = excluded.last_seen_ms",
    [Q_OPERATORS] = "SELECT o.serial, o.name, o.role, o.not_after_ms, o.first_seen_ms,"
                    " o.last_seen_ms, r.time_ms, r.reason FROM operators o"
                    " LEFT JOIN revoked r ON r.serial = o.serial ORDER BY o.name, o.first_seen_ms",
    [Q_REVOKE_OPERATOR] =
        "INSERT INTO revoked(serial, host_id, reason, operator, time_ms)"
        " SELECT serial, NULL, ?2, ?3, ?4 FROM operators WHERE name = ?1"
        " ON CONFLICT DO NOTHING RETURNING serial",
    [Q_REVOKE_SERIAL] =
        "INSERT INTO revoked(serial, host_id, reason, operator, time_ms)"
        " VALUES(?1, (SELECT host_id FROM certs WHERE serial = ?1), ?2, ?3, ?4)"
        " ON CONFLICT DO NOTHING RETURNING serial",
    [Q_REVOKED_LIST] =
        "SELECT r.serial, r.time_ms, r.reason, r.operator,"
        " coalesce('host ' || h.agent_id, 'operator ' || o.name, '') FROM revoked r"
        " LEFT JOIN hosts h ON h.id = r.host_id LEFT JOIN operators o ON o.serial = r.serial"
        " ORDER BY r.time_ms, r.serial",
    [Q_TOKEN_ADD] = "INSERT INTO enroll_tokens(hash, label, created_by, created_ms, expires_ms,"
                    " max_uses, uses, selector) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
    [Q_TOKEN_FIND] = "SELECT hash, label, created_by, created_ms, expires_ms, max_uses, uses,"
                     " revoked_ms, failures, locked_ms FROM enroll_tokens WHERE hash = ?1",
    [Q_TOKEN_USE] = "UPDATE enroll_tokens SET uses = uses + 1 WHERE hash = ?1 AND uses < max_uses"
                    " AND revoked_ms IS NULL AND expires_ms > ?2 AND locked_ms IS NULL",
    [Q_TOKEN_LIST] = "SELECT hash, label, created_by, created_ms, expires_ms, max_uses, uses,"
                     " revoked_ms, failures, locked_ms FROM enroll_tokens"
                     " ORDER BY created_ms DESC LIMIT 1000",
    [Q_TOKEN_REVOKE] = "UPDATE enroll_tokens SET revoked_ms = ?2 WHERE hash LIKE ?1 || '%'"
                       " AND revoked_ms IS NULL",
    [Q_TOKEN_FIND_SELECTOR] =
        "SELECT hash, label, created_by, created_ms, expires_ms, max_uses, uses,"
        " revoked_ms, failures, locked_ms FROM enroll_tokens WHERE selector = ?1",
    [Q_TOKEN_FAIL] = "UPDATE enroll_tokens SET failures = failures + 1,"
                     " locked_ms = CASE WHEN locked_ms IS NULL AND failures + 1 >= ?2 THEN ?3"
                     " ELSE locked_ms END WHERE hash = ?1"
                     " RETURNING failures, coalesce(locked_ms, 0)",
    [Q_ENROLLMENT_ADD] =
        "INSERT INTO enrollments(agent_id, token_hash, label, time_ms, addr, hostname,"
        " machine_id, serial) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_HOST_REVOKED] = "SELECT coalesce(revoked_ms, 0) FROM hosts WHERE id = ?1",
    [Q_CMD_QUEUED_AGENTS] =
        "SELECT DISTINCT h.agent_id FROM commands c JOIN hosts h ON h.id = c.host_id"
        " WHERE c.state = 1 ORDER BY h.agent_id LIMIT ?1",
    [Q_HOST_PRIOR] = "SELECT boot_id, prev_boot_id, coalesce(retired_ms, 0), last_addr"
                     " FROM hosts WHERE agent_id = ?1",
    [Q_HOST_CLONE] = "UPDATE hosts SET clone_count = clone_count + 1,"
                     " clone_first_ms = coalesce(clone_first_ms, ?2), clone_last_ms = ?2,"
                     " clone_evidence = ?3 WHERE id = ?1",
    [Q_HOST_MACHINE] = "SELECT machine_id, last_addr FROM hosts WHERE id = ?1",
    /* ?2 NULL: back in the fleet. */
    [Q_HOST_RETIRE] = "UPDATE hosts SET retired_ms = ?2, retired_by = ?3, retire_reason = ?4"
                      " WHERE id = ?1",
    [Q_HOST_LOSS] = "UPDATE hosts SET loss_events = loss_events + ?2,"
                    " loss_batches = loss_batches + ?3 WHERE id = ?1",
    /* The first events row at or after id ?1 (events_cut). */
    [Q_EVENT_AT] = "SELECT id, recv_time_ms FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
    [Q_EVENT_MAX] = "SELECT max(id) FROM events",
};

/* Events that are not process events: the condition of the partial index
 * events_other_recv (SQLite), evaluated at every insert into events.
 * Comparisons, not NOT IN (...), which cost each insert a table of its
 * own; a query uses the index only if its condition has these terms. */
#define OTHER_KINDS \
    "kind <> 'process_exec' AND kind <> 'process_exit' AND kind <> 'process_snapshot'"

/* SQLite's own text of a query, where it differs (NULL: queries[i]). */
static const char *sqlite_query(int i)
{
    switch (i) {
    /* Schema 9: no index of events by kind and time (a b-tree insert for
     * every event stored).  Process events, most of the table, go by id,
     * up to ?3 (events_cut: their ids rise with their time), oldest
     * first; the others by time, through the partial index
     * events_other_recv. */
    case Q_RET_EVENTS:
        return "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ?3 AND"
               " kind IN ('process_exec', 'process_exit', 'process_snapshot')"
               " AND recv_time_ms < ?1 ORDER BY id LIMIT ?2)";
    case Q_RET_OTHER_EVENTS:
        return "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE " OTHER_KINDS
               " AND recv_time_ms < ?1 LIMIT ?2)";
    default:
        return NULL;
    }
}

/* PostgreSQL: Q_EVENT_INSERT and Q_PROC_EXEC for many rows at once (db.h,
 * db_rows): a parameter per column, each an array of that column's
 * values, the columns in the order of the one-row statement. */
static const char pg_events_many[] =
    "INSERT INTO events(host_id, seq, idx, kind, time_ms, recv_time_ms, body)"
    " SELECT * FROM unnest(?1::bigint[], ?2::bigint[], ?3::bigint[], ?4::text[], ?5::bigint[],"
    " ?6::bigint[], ?7::bytea[])";
#define EVENT_TYPES "iiitiib"
static const char pg_execs_many[] =
    "INSERT INTO processes(host_id, pid, ppid, uid, euid, gid, egid, login_uid, session_id,"
    " comm, exe, argv, argv_truncated, cwd, parent_exe, container_id, cgroup_id, sha256,"
    " start_boot_ns, start_ms, \"similar\", unknown, source, recv_ms, hash_note, forked, tty,"
    " exit_ms, exit_code, signal, core_dumped, lifetime_ns)"
    " SELECT * FROM unnest(?1::bigint[], ?2::bigint[], ?3::bigint[], ?4::bigint[],"
    " ?5::bigint[], ?6::bigint[], ?7::bigint[], ?8::bigint[], ?9::bigint[], ?10::text[],"
    " ?11::bytea[], ?12::bytea[], ?13::bigint[], ?14::bytea[], ?15::bytea[], ?16::text[],"
    " ?17::bigint[], ?18::text[], ?19::bigint[], ?20::bigint[], ?21::bigint[], ?22::text[],"
    " ?23::text[], ?24::bigint[], ?25::text[], ?26::bigint[], ?27::text[], ?28::bigint[],"
    " ?29::bigint[], ?30::bigint[], ?31::bigint[], ?32::bigint[])";
/* ... and ?28-?32, what Q_PROC_EXIT would set: an exit of the same batch
 * whose exec is gathered is applied to the gathered row (apply_exit). */
#define EXEC_TYPES "iiiiiiiiitbbibbtitiiittitit" "iiiii"
/* Rows of one statement at most: a batch of the agent's (100 events by
 * default) goes in one. */
#define ROWS_MAX 256

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hosts("
    " id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL UNIQUE, hostname TEXT, fqdn TEXT,"
    " tags TEXT NOT NULL DEFAULT '{}', agent_version TEXT, capabilities TEXT,"
    " os_id TEXT, os_version_id TEXT, os_pretty_name TEXT, os_version_codename TEXT,"
    " kernel_release TEXT, kernel_version TEXT, arch TEXT, machine_id TEXT, boot_id TEXT,"
    " boot_time_ms INTEGER, reboot_required INTEGER, os_time_ms INTEGER,"
    " health_rss_bytes INTEGER, health_cpu_user_ms INTEGER, health_cpu_system_ms INTEGER,"
    " health_queued_events INTEGER, health_dropped_total INTEGER, health_time_ms INTEGER,"
    " first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,"
    " last_connect_ms INTEGER, last_disconnect_ms INTEGER, last_addr TEXT,"
    " clock_skew_ms INTEGER, duplicates_refused INTEGER NOT NULL DEFAULT 0,"
    " last_duplicate_ms INTEGER, last_duplicate_addr TEXT);"
    "CREATE TABLE IF NOT EXISTS streams("
    " host_id INTEGER NOT NULL REFERENCES hosts(id), epoch BLOB NOT NULL,"
    " last_seq INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,"
    " PRIMARY KEY(host_id, epoch)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS batches("
    " host_id INTEGER NOT NULL, epoch BLOB NOT NULL, seq INTEGER NOT NULL,"
    " agent_time_ms INTEGER, recv_time_ms INTEGER NOT NULL, events INTEGER NOT NULL,"
    " PRIMARY KEY(host_id, epoch, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, kind TEXT NOT NULL, time_ms INTEGER, recv_time_ms INTEGER NOT NULL,"
    " body BLOB NOT NULL);"
    /* Current packages per host, and their history: a row per version a
     * host had, with when it appeared and when it went (NULL: still
     * there).  "What was installed on host X on day D" is a query on
     * package_history. */
    "CREATE TABLE IF NOT EXISTS packages("
    " host_id INTEGER NOT NULL, manager TEXT NOT NULL, name TEXT NOT NULL, arch TEXT NOT NULL,"
    " version TEXT NOT NULL, status TEXT NOT NULL, source_name TEXT, source_version TEXT,"
    " first_seen_ms INTEGER NOT NULL, PRIMARY KEY(host_id, manager, name, arch)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS package_history("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, manager TEXT NOT NULL,"
    " name TEXT NOT NULL, arch TEXT NOT NULL, version TEXT NOT NULL, status TEXT NOT NULL,"
    " appeared_ms INTEGER NOT NULL, disappeared_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS package_history_host ON package_history(host_id, name);"
    "CREATE TABLE IF NOT EXISTS inventory_staging("
    " host_id INTEGER NOT NULL, manager TEXT NOT NULL, name TEXT NOT NULL, arch TEXT NOT NULL,"
    " version TEXT NOT NULL, status TEXT NOT NULL, source_name TEXT, source_version TEXT,"
    " install_time_ms INTEGER, PRIMARY KEY(host_id, manager, name, arch)) WITHOUT ROWID;"
    /* OS and kernel state over time: one row per OS state report, so that
     * "which kernel was running, was a reboot pending, on day D" is a query. */
    "CREATE TABLE IF NOT EXISTS os_history("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
    " recv_time_ms INTEGER NOT NULL, os_pretty_name TEXT, kernel_release TEXT,"
    " newest_kernel TEXT, kernel_update_pending INTEGER, reboot_required INTEGER);"
    "CREATE INDEX IF NOT EXISTS os_history_host ON os_history(host_id, time_ms);"
    /* Pending updates per host (the agent's latest list), and their
     * history: a row per (versions, advisory) pending, with when the
     * agent reported it appeared and went (NULL: still pending), and the
     * agent's own first-seen times, which survive agent restarts and
     * collector outages.  "What was pending on host X on day D, and for
     * how long" is a query on pending_history. */
    "CREATE TABLE IF NOT EXISTS pending("
    " host_id INTEGER NOT NULL, manager TEXT NOT NULL, name TEXT NOT NULL, arch TEXT NOT NULL,"
    " installed_version TEXT NOT NULL, candidate_version TEXT NOT NULL,"
    " advisory TEXT NOT NULL DEFAULT '', security INTEGER NOT NULL, severity TEXT,"
    " origin TEXT, release_label TEXT, release_origin TEXT, site TEXT, released_ms INTEGER,"
    " agent_first_seen_ms INTEGER, security_first_seen_ms INTEGER,"
    " first_seen_ms INTEGER NOT NULL, PRIMARY KEY(host_id, manager, name, arch,"
    " installed_version, candidate_version, advisory)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS pending_staging("
    " host_id INTEGER NOT NULL, manager TEXT NOT NULL, name TEXT NOT NULL, arch TEXT NOT NULL,"
    " installed_version TEXT NOT NULL, candidate_version TEXT NOT NULL,"
    " advisory TEXT NOT NULL DEFAULT '', security INTEGER NOT NULL, severity TEXT,"
    " origin TEXT, release_label TEXT, release_origin TEXT, site TEXT, released_ms INTEGER,"
    " agent_first_seen_ms INTEGER, security_first_seen_ms INTEGER,"
    " PRIMARY KEY(host_id, manager, name, arch, installed_version, candidate_version,"
    " advisory)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS pending_history("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, manager TEXT NOT NULL,"
    " name TEXT NOT NULL, arch TEXT NOT NULL, installed_version TEXT NOT NULL,"
    " candidate_version TEXT NOT NULL, advisory TEXT NOT NULL DEFAULT '',"
    " security INTEGER NOT NULL, severity TEXT, origin TEXT, released_ms INTEGER,"
    " agent_first_seen_ms INTEGER, security_first_seen_ms INTEGER,"
    " appeared_ms INTEGER NOT NULL, disappeared_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS pending_history_host ON pending_history(host_id, name);"
    /* What the hosts' package managers say happened (dpkg's logs, rpm's
     * install times), from before the collector first saw a host too.
     * time_ms is the host's, recv_ms ours: a report as of a past date
     * uses only what had arrived by then. */
    "CREATE TABLE IF NOT EXISTS package_events("
    " host_id INTEGER NOT NULL, manager TEXT NOT NULL,"
    " name TEXT NOT NULL, arch TEXT NOT NULL,"
    " action TEXT NOT NULL, old_version TEXT NOT NULL, new_version TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL, recv_ms INTEGER NOT NULL,"
    " PRIMARY KEY(host_id, manager, name, arch, time_ms, action, new_version)) WITHOUT ROWID;"
    /* Fleet-wide evidence: "when did any host first install version V". */
    "CREATE INDEX IF NOT EXISTS package_events_version ON package_events(name, new_version);"
    /* Process execs with their exits, as responders query them: by host
     * and time, pid, or executable.  argv is NUL-separated bytes, exact. */
    "CREATE TABLE IF NOT EXISTS processes("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, pid INTEGER NOT NULL, ppid INTEGER,"
    " uid INTEGER, euid INTEGER, gid INTEGER, egid INTEGER, login_uid INTEGER,"
    " session_id INTEGER, comm TEXT, exe BLOB, argv BLOB, argv_truncated INTEGER, cwd BLOB,"
    " parent_exe BLOB, container_id TEXT, cgroup_id INTEGER, sha256 TEXT,"
    " start_boot_ns INTEGER, start_ms INTEGER, similar INTEGER NOT NULL DEFAULT 0,"
    " unknown TEXT, source TEXT, exit_ms INTEGER, exit_code INTEGER, signal INTEGER,"
    " core_dumped INTEGER, lifetime_ns INTEGER, recv_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS processes_host_time ON processes(host_id, start_ms);"
    "CREATE INDEX IF NOT EXISTS processes_host_pid ON processes(host_id, pid, start_boot_ns);"
    "CREATE INDEX IF NOT EXISTS processes_start ON processes(start_ms);"
    /* Full process tables, for "what was running at time T". */
    /* Unclean stops already counted, by the run they ended: an agent
     * killed before its report was spooled reports it again. */
    "CREATE TABLE IF NOT EXISTS unclean_reports("
    " host_id INTEGER NOT NULL, prev_pid INTEGER NOT NULL, prev_start_ms INTEGER NOT NULL,"
    " PRIMARY KEY(host_id, prev_pid, prev_start_ms)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS process_snapshots("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, snap_ms INTEGER NOT NULL,"
    " pid INTEGER NOT NULL, ppid INTEGER, uid INTEGER, euid INTEGER, comm TEXT, exe BLOB,"
    " argv BLOB, start_boot_ns INTEGER, start_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS process_snapshots_host ON process_snapshots(host_id, snap_ms);"
    /* The audit log: append-only, each entry carrying the hash of the one
     * before, so that an edited or deleted entry breaks the chain. */
    "CREATE TABLE IF NOT EXISTS audit("
    " id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL, result TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    /* Commands to agents: who asked, why, and what became of them.  state
     * is vigil.v1.CommandState (1 queued .. 9 cancelled); body is the
     * encoded vigil.v1.Command as sent. */
    "CREATE TABLE IF NOT EXISTS commands("
    " id TEXT PRIMARY KEY, host_id INTEGER NOT NULL, action TEXT NOT NULL,"
    " operator TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, body BLOB NOT NULL,"
    " issued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, state INTEGER NOT NULL,"
    " message TEXT, delivered_ms INTEGER, finished_ms INTEGER, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS commands_host ON commands(host_id, state, issued_ms);"
    /* Triage packages: the file is on disk (path), the chain of custody
     * here: who asked and why (the command), each chunk's arrival, the
     * final size and SHA-256, and every download. */
    "CREATE TABLE IF NOT EXISTS collections("
    " id TEXT PRIMARY KEY, command_id TEXT NOT NULL, host_id INTEGER NOT NULL, name TEXT,"
    " state TEXT NOT NULL, error TEXT, started_ms INTEGER NOT NULL, completed_ms INTEGER,"
    " size INTEGER, received INTEGER NOT NULL, sha256 TEXT, chunks INTEGER NOT NULL,"
    " path TEXT);"
    "CREATE TABLE IF NOT EXISTS collection_chunks("
    " collection_id TEXT NOT NULL, \"offset\" INTEGER NOT NULL, len INTEGER NOT NULL,"
    " recv_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS collection_chunks_id ON collection_chunks(collection_id);"
    "CREATE TABLE IF NOT EXISTS collection_downloads("
    " collection_id TEXT NOT NULL, operator TEXT NOT NULL, peer TEXT, time_ms INTEGER NOT NULL);"
    /* Certificates seen per host (by serial, hex), and those revoked. */
    "CREATE TABLE IF NOT EXISTS certs("
    " serial TEXT PRIMARY KEY, host_id INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS revoked("
    " serial TEXT PRIMARY KEY, host_id INTEGER, reason TEXT NOT NULL, operator TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL);"
    /* Enrollment tokens, by the SHA-256 of the token (never the token),
     * and the enrollments they allowed. */
    "CREATE TABLE IF NOT EXISTS enroll_tokens("
    " hash TEXT PRIMARY KEY, label TEXT, created_by TEXT, created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL, max_uses INTEGER NOT NULL, uses INTEGER NOT NULL,"
    " revoked_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS enrollments("
    " id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, token_hash TEXT NOT NULL, label TEXT,"
    " time_ms INTEGER NOT NULL, addr TEXT, hostname TEXT, machine_id TEXT, serial TEXT);"
    /* Patch compliance: agent versions over time, advisory feed imports
     * and their fixes (kept per import: a report for a past date uses the
     * imports current then), and risk-acceptance exceptions. */
    "CREATE TABLE IF NOT EXISTS agent_versions("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, version TEXT NOT NULL,"
    " first_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS advisory_imports("
    " id INTEGER PRIMARY KEY, format TEXT NOT NULL, doc_key TEXT NOT NULL, source TEXT NOT NULL,"
    " sha256 TEXT NOT NULL, size INTEGER NOT NULL, imported_ms INTEGER NOT NULL,"
    " imported_by TEXT NOT NULL, records INTEGER NOT NULL DEFAULT 0,"
    " skipped INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS advisories("
    " import_id INTEGER NOT NULL, release TEXT NOT NULL, package TEXT NOT NULL,"
    " arch TEXT NOT NULL, fixed_version TEXT NOT NULL, advisory TEXT NOT NULL,"
    " cves TEXT NOT NULL, severity TEXT NOT NULL, urgency TEXT NOT NULL, cvss REAL,"
    " released_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS advisories_import ON advisories(import_id, release);"
    "CREATE INDEX IF NOT EXISTS advisories_fix ON advisories(release, package, fixed_version);"
    "CREATE INDEX IF NOT EXISTS os_history_recv ON os_history(host_id, recv_time_ms);"
    "CREATE TABLE IF NOT EXISTS exceptions("
    " id INTEGER PRIMARY KEY, host TEXT NOT NULL, package TEXT, cve TEXT, reason TEXT NOT NULL,"
    " approver TEXT NOT NULL, control TEXT, created_ms INTEGER NOT NULL,"
    " created_by TEXT NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER,"
    " revoked_by TEXT, revoke_reason TEXT);"
    "CREATE TABLE IF NOT EXISTS loss("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " source TEXT NOT NULL, count INTEGER NOT NULL, unit TEXT, first_ms INTEGER,"
    " last_ms INTEGER, reason TEXT, recv_time_ms INTEGER NOT NULL);";

/* Columns added after schema version 1 first shipped; added to older
 * databases at open ("duplicate column" is expected and ignored). */
static const char *const added_columns[] = {
    "ALTER TABLE hosts ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE hosts ADD COLUMN health_spool_batches INTEGER",
    "ALTER TABLE hosts ADD COLUMN health_spool_bytes INTEGER",
    "ALTER TABLE hosts ADD COLUMN loss_events INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE hosts ADD COLUMN loss_batches INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE hosts ADD COLUMN newest_kernel TEXT",
    "ALTER TABLE hosts ADD COLUMN kernel_update_pending INTEGER",
    "ALTER TABLE hosts ADD COLUMN packages_changed_ms INTEGER",
    "ALTER TABLE packages ADD COLUMN install_time_ms INTEGER",
    "ALTER TABLE inventory_staging ADD COLUMN install_time_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN pending_time_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN pending_refreshed_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN pending_sources_failed INTEGER",
    "ALTER TABLE hosts ADD COLUMN pending_error TEXT",
    "ALTER TABLE hosts ADD COLUMN pending_updates INTEGER",
    "ALTER TABLE hosts ADD COLUMN pending_security INTEGER",
    "ALTER TABLE hosts ADD COLUMN pending_security_since_ms INTEGER",
    "ALTER TABLE processes ADD COLUMN hash_note TEXT",
    "ALTER TABLE processes ADD COLUMN forked INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE hosts ADD COLUMN process_source TEXT",
    "ALTER TABLE hosts ADD COLUMN isolated INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE hosts ADD COLUMN isolated_since_ms INTEGER",
    /* When the agent last found its isolation rules in place (its clock),
     * and how often it says so. */
    "ALTER TABLE hosts ADD COLUMN isolation_verified_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN confirm_interval_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN revoked_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN unclean_stops INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE hosts ADD COLUMN last_unclean_stop_ms INTEGER",
    "ALTER TABLE hosts ADD COLUMN last_unclean_gap_ms INTEGER",
    "ALTER TABLE package_history ADD COLUMN source_name TEXT",
    "ALTER TABLE package_history ADD COLUMN source_version TEXT",
    "ALTER TABLE package_history ADD COLUMN install_time_ms INTEGER",
    "ALTER TABLE os_history ADD COLUMN os_id TEXT",
    "ALTER TABLE os_history ADD COLUMN os_version_id TEXT",
    "ALTER TABLE os_history ADD COLUMN os_version_codename TEXT",
    "ALTER TABLE os_history ADD COLUMN hostname TEXT",
    "ALTER TABLE exceptions ADD COLUMN package_kind TEXT",
    /* The Date: of the Release file the candidate comes from (apt). */
    "ALTER TABLE pending ADD COLUMN release_file_ms INTEGER",
    "ALTER TABLE pending_staging ADD COLUMN release_file_ms INTEGER",
    "ALTER TABLE pending_history ADD COLUMN release_file_ms INTEGER",
    /* Enrollment tokens made with a public selector (vge2-SELECTOR-SECRET):
     * failed tries of a known selector count against that token, which
     * is locked after too many. */
    "ALTER TABLE enroll_tokens ADD COLUMN selector TEXT",
    "ALTER TABLE enroll_tokens ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE enroll_tokens ADD COLUMN locked_ms INTEGER",
    "CREATE UNIQUE INDEX IF NOT EXISTS enroll_tokens_selector ON enroll_tokens(selector)",
    /* A batch rejected for good: why (NULL: stored).  Its events are not
     * kept; the loss table has its count. */
    "ALTER TABLE batches ADD COLUMN rejected TEXT",
};

/* The steps after version 1, in order: step i takes a database from
 * version i + 1 to i + 2.  NULL: done in code (migrate_v2). */
#define AGENT_VERSIONS_HOST \
    "CREATE INDEX IF NOT EXISTS agent_versions_host ON agent_versions(host_id, id);"
/* 9: no query used the index of processes by executable (Q_PROCESSES
 * filters a host's rows by time first, and "?3 IS NULL OR exe = ?3"
 * cannot use it), and every stored exec paid for it: the most costly of
 * its inserts, its key the executable's path.  And the exec's terminal,
 * which had no column: an exec's row now holds all of it (exec_in_row). */
#define PROCESSES_NO_EXE_INDEX \
    "DROP INDEX IF EXISTS processes_host_exe;" \
    "ALTER TABLE processes ADD COLUMN tty TEXT;"

static const char *const migrations[] = {
    NULL, /* 2: every column of added_columns, and their values */
    /* 3: batch receipts expire by time ([retention] events_max_age); raw
     * events are never looked up by host and time (the tables made from
     * them are): that index cost every stored event a b-tree insert. */
    "CREATE INDEX IF NOT EXISTS batches_recv ON batches(recv_time_ms);"
    "CREATE INDEX IF NOT EXISTS loss_recv ON loss(recv_time_ms);"
    "DROP INDEX IF EXISTS events_host_time;",
    /* 4: operator certificates seen, by serial (revoked ones are in revoked,
     * with a NULL host_id) */
    "CREATE TABLE IF NOT EXISTS operators("
    " serial TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
    " not_after_ms INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS operators_name ON operators(name);",
    /* 5: hosts retired by an operator (hidden, data kept), and the
     * evidence that two machines present one agent certificate (a cloned
     * VM): the boot before the current one, and what was seen. */
    "ALTER TABLE hosts ADD COLUMN retired_ms INTEGER;"
    "ALTER TABLE hosts ADD COLUMN retired_by TEXT;"
    "ALTER TABLE hosts ADD COLUMN retire_reason TEXT;"
    "ALTER TABLE hosts ADD COLUMN prev_boot_id TEXT;"
    "ALTER TABLE hosts ADD COLUMN clone_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN clone_first_ms INTEGER;"
    "ALTER TABLE hosts ADD COLUMN clone_last_ms INTEGER;"
    "ALTER TABLE hosts ADD COLUMN clone_evidence TEXT;",
    /* 6: the SIEM export's cursors, one row per sink: the last audit
     * entry and process row it delivered (their ids only grow) */
    "CREATE TABLE IF NOT EXISTS export_cursors("
    " sink TEXT PRIMARY KEY, audit_id INTEGER NOT NULL, process_id INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
    /* 7: queued commands by state (store_commands_queued_agents) */
    "CREATE INDEX IF NOT EXISTS commands_queued ON commands(state, host_id);",
    /* 8: a host's latest agent version, looked up at every hello
     * (Q_AGENT_VERSION): without it each hello scanned the table back
     * from its end, and a restart storm of 19,100 agents cost a quarter
     * of its time doing so. */
    AGENT_VERSIONS_HOST,
    /* 9: and on SQLite, no index of events by kind and time either: a
     * partial one for the few that are not process events; process
     * events expire by id (sqlite_query(Q_RET_EVENTS)).  PostgreSQL
     * keeps it (its retention drops whole partitions, then deletes by
     * kind and time). */
    PROCESSES_NO_EXE_INDEX
    "DROP INDEX IF EXISTS events_kind_recv;"
    "CREATE INDEX IF NOT EXISTS events_other_recv ON events(recv_time_ms) WHERE " OTHER_KINDS ";",
};

/* PostgreSQL's steps past its baseline: step v to v + 1 is
 * pg_migrations[v - STORE_PG_BASELINE]. */
static const char *const pg_migrations[] = {
    /* 7 */
    "CREATE INDEX IF NOT EXISTS commands_queued ON commands(state, host_id);",
    /* 8 */
    AGENT_VERSIONS_HOST,
    /* 9 */
    PROCESSES_NO_EXE_INDEX,
};

_Static_assert(sizeof(pg_migrations) / sizeof(pg_migrations[0]) ==
                   SCHEMA_VERSION - STORE_PG_BASELINE,
               "a PostgreSQL migration step for each schema version past its baseline");

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == SCHEMA_VERSION - 1,
               "a migration step for each schema version");

struct store {
    struct db *db;
    int64_t partitions_day; /* PostgreSQL: the UTC day partitions were last made on */
    int64_t partitions_retired_ms; /* PostgreSQL: when old partitions were last looked at */
    struct db_stmt *q[Q_COUNT];
    struct db_stmt *notify; /* PostgreSQL: pg_notify, prepared at first use */
    /* A batch's events and execs, gathered (PostgreSQL) until the batch
     * ends or ROWS_MAX of them; empty between batches. */
    struct db_rows *events, *execs;
    /* PostgreSQL: what an exit looks for in each exec gathered, and what
     * it sets there (the exit columns of pg_execs_many). */
    struct gathered_exec {
        int64_t host_id, pid, start_boot_ns;
        int exited;
        int64_t exit_ms, exit_code, signal, core_dumped, lifetime_ns;
    } *gathered;
    char path[512];
    char err[256]; /* the last failure, for store_last_error() */
};

/* Content the schema refuses (a constraint, a value too big for SQLite)
 * will be refused again: VG_EPROTO or VG_ETOOBIG.  Anything else is the
 * database's own trouble (disk full, I/O, locked): -EIO. */
static int db_err(struct store *s, const char *what)
{
    int code = db_errcode(s->db);
    snprintf(s->err, sizeof(s->err), "%s: %s", what, db_errmsg(s->db));
    log_warnx("[store] %s: %s (%s)", what, db_errmsg(s->db), s->path);
    if (code == DB_TOOBIG)
        return VG_ETOOBIG;
    if (code == DB_CONSTRAINT || code == DB_MISMATCH)
        return VG_EPROTO;
    return -EIO;
}

const char *store_last_error(struct store *s)
{
    return s->err;
}

int store_txn_lost(struct store *s)
{
    return !db_in_txn(s->db) || db_txn_failed(s->db);
}

/* The version recorded in meta: 0 for a new (empty) database, -1 if it
 * cannot be read. */
static int schema_version(struct store *s)
{
    struct db_stmt *st;
    int v = 0, rc;

    if (db_prepare(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", &st) != DB_OK)
        return db_errcode(s->db) == DB_ERROR ? 0 : -1; /* no meta table yet */
    rc = db_step(st);
    if (rc == DB_ROW)
        v = (int)db_column_int64(st, 0);
    else if (rc != DB_DONE)
        v = -1;
    db_finalize(st);
    return v;
}

/* Version 1 to 2: the columns added since version 1 shipped ("duplicate
 * column": added by an earlier collector already), and the values of the
 * history rows from before them: the package's current source and install
 * time, so that reports map them to their source packages. */
static int migrate_v2(struct store *s)
{
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
        if (db_exec(s->db, added_columns[i]) != DB_OK &&
            !strstr(db_errmsg(s->db), "duplicate column"))
            return -1;
    }
    return db_exec(
               s->db,
               "UPDATE package_history SET source_name = (SELECT p.source_name FROM packages p"
               " WHERE p.host_id = package_history.host_id AND p.manager = package_history.manager"
               " AND p.name = package_history.name AND p.arch = package_history.arch),"
               " source_version = (SELECT p.source_version FROM packages p"
               " WHERE p.host_id = package_history.host_id AND p.manager = package_history.manager"
               " AND p.name = package_history.name AND p.arch = package_history.arch"
               " AND p.version = package_history.version),"
               " install_time_ms = (SELECT p.install_time_ms FROM packages p"
               " WHERE p.host_id = package_history.host_id AND p.manager = package_history.manager"
               " AND p.name = package_history.name AND p.arch = package_history.arch"
               " AND p.version = package_history.version)"
               " WHERE source_name IS NULL AND disappeared_ms IS NULL") == DB_OK
               ? 0
               : -1;
}

/* Brings the database (its version 1 tables made by `schema`) up to
 * SCHEMA_VERSION, a step per transaction: a step cut short (a crash, a
 * full disk) is undone whole and done again at the next start. */
static int migrate(struct store *s, char *err, size_t errlen)
{
    int from = schema_version(s), v, fresh = from == 0;
    char sql[96];

    if (from < 0) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", s->path,
                 db_errmsg(s->db));
        return -1;
    }
    if (from == 0) {
        /* A new database starts at version 1, as the tables were made. */
        if (db_exec(s->db, "INSERT INTO meta(key, value) VALUES('schema_version', '1') ON CONFLICT DO NOTHING") != DB_OK)
            goto fail;
        from = 1;
    }
    for (v = from; v < SCHEMA_VERSION; v++) {
        /* from >= 1 here: step v - 1 of migrations[] */
        const char *step = migrations[(size_t)v - 1u];
        int rc;
        if (db_begin(s->db) != DB_OK)
            goto fail;
        /* Another collector process may have done it meanwhile. */
        if (schema_version(s) > v) {
            db_rollback(s->db);
            continue;
        }
        rc = step ? (db_exec(s->db, step) == DB_OK ? 0 : -1)
                  : migrate_v2(s);
        snprintf(sql, sizeof(sql), "UPDATE meta SET value = '%d' WHERE key = 'schema_version'",
                 v + 1);
        if (rc == 0 && db_exec(s->db, sql) == DB_OK && db_commit(s->db) == DB_OK)
            continue;
        snprintf(err, errlen, "database %s: cannot bring its schema from version %d to %d: %s",
                 s->path, v, v + 1, db_errmsg(s->db));
        db_rollback(s->db);
        return -1;
    }
    if (v != from && !fresh)
        log_info("database %s: schema brought from version %d to %d", s->path, from, v);
    return 0;
fail:
    snprintf(err, errlen, "database %s: cannot set up its schema: %s", s->path,
             db_errmsg(s->db));
    return -1;
}

/* The advisory lock that serializes schema set-up between collectors
 * sharing one PostgreSQL database (its key: "VIGL" and 1). */
#define PG_LOCK_SCHEMA "370214176001"
/* ... and audit appends ("VIGL" and 2). */
#define PG_LOCK_AUDIT "370214176002"
/* ... and dropping old partitions ("VIGL" and 3). */
#define PG_LOCK_RETIRE "370214176003"

/* PostgreSQL: the day partitions of the partitioned tables, from
 * yesterday (a clock set back) to a week ahead; done again when the day
 * changes.  0 or -1 with the reason in err. */
static int pg_partitions(struct store *s, int64_t now_ms, char *err, size_t errlen)
{
    const int64_t day = 86400000;
    char sql[256];

    if (now_ms / day == s->partitions_day)
        return 0;
    for (const char *const *t = store_pg_partitioned; *t; t++) {
        for (int64_t d = -1; d <= 7; d++) {
            if (store_pg_partition_sql(*t, now_ms + d * day, sql, sizeof(sql)) != 0 ||
                db_exec(s->db, sql) != DB_OK) {
                snprintf(err, errlen, "database %s: cannot make the partitions of %s: %s",
                         s->path, *t, db_errmsg(s->db));
                return -1;
            }
        }
    }
    s->partitions_day = now_ms / day;
    return 0;
}

/* PostgreSQL: the schema version in meta, 0 when there is no meta table
 * (an empty database), -1 when it cannot be read. */
static int pg_schema_version(struct store *s)
{
    struct db_stmt *st = NULL;
    int v = -1;

    if (db_prepare(s->db, "SELECT to_regclass('meta') IS NOT NULL", &st) != DB_OK)
        return -1;
    if (db_step(st) == DB_ROW)
        v = db_column_int64(st, 0) ? schema_version(s) : 0;
    db_finalize(st);
    return v;
}

/* PostgreSQL: session settings, then the baseline schema on an empty
 * database (one transaction, under an advisory lock: several collectors
 * may start at once), and the partitions. */
static int pg_setup(struct store *s, int sync_full, char *err, size_t errlen)
{
    int v, rc = -1, fresh = 0;
    char sql[96];

    if (db_session(s->db, sync_full ? "SET synchronous_commit = on"
                                    : "SET synchronous_commit = off") != DB_OK ||
        db_exec(s->db, "SELECT pg_advisory_lock(" PG_LOCK_SCHEMA ")") != DB_OK) {
        snprintf(err, errlen, "cannot set up database %s: %s", s->path, db_errmsg(s->db));
        return -1;
    }
    v = pg_schema_version(s);
    if (v < 0) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", s->path,
                 db_errmsg(s->db));
    } else if (v > SCHEMA_VERSION) {
        snprintf(err, errlen, "database %s has schema version %d, newer than this collector's "
                 "%d: it was written by a newer vigil-collector; run that version, or restore "
                 "a backup made before the upgrade", s->path, v, SCHEMA_VERSION);
    } else if (v != 0 && v < STORE_PG_BASELINE) {
        snprintf(err, errlen, "database %s has schema version %d, older than any PostgreSQL "
                 "schema (%d): it was not made by vigil-collector", s->path, v,
                 STORE_PG_BASELINE);
    } else if (v == 0) {
        snprintf(sql, sizeof(sql), "INSERT INTO meta(key, value) VALUES('schema_version', '%d')",
                 STORE_PG_BASELINE);
        if (db_begin(s->db) != DB_OK || db_exec(s->db, store_pg_schema) != DB_OK ||
            db_exec(s->db, sql) != DB_OK || pg_partitions(s, vg_time_now_ms(), err, errlen) ||
            db_commit(s->db) != DB_OK) {
            if (!err[0])
                snprintf(err, errlen, "cannot set up database %s: %s", s->path,
                         db_errmsg(s->db));
            db_rollback(s->db);
            s->partitions_day = 0;
        } else {
            fresh = 1;
            rc = 0;
        }
    } else {
        rc = pg_partitions(s, vg_time_now_ms(), err, errlen);
    }
    /* The steps past the baseline, one transaction each. */
    if (rc == 0 && (v = pg_schema_version(s)) < STORE_PG_BASELINE) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", s->path,
                 db_errmsg(s->db));
        rc = -1;
    } else if (rc == 0 && v < SCHEMA_VERSION) {
        int from = v;
        for (; v < SCHEMA_VERSION; v++) {
            snprintf(sql, sizeof(sql),
                     "UPDATE meta SET value = '%d' WHERE key = 'schema_version'", v + 1);
            if (db_begin(s->db) != DB_OK ||
                db_exec(s->db, pg_migrations[v - STORE_PG_BASELINE]) != DB_OK ||
                db_exec(s->db, sql) != DB_OK || db_commit(s->db) != DB_OK) {
                snprintf(err, errlen, "database %s: cannot bring its schema from version %d "
                         "to %d: %s", s->path, v, v + 1, db_errmsg(s->db));
                db_rollback(s->db);
                rc = -1;
                break;
            }
        }
        if (rc == 0 && !fresh)
            log_info("database %s: schema brought from version %d to %d", s->path, from, v);
    }
    if (rc == 0 && fresh)
        log_info("database %s: schema version %d made", s->path, SCHEMA_VERSION);
    db_exec(s->db, "SELECT pg_advisory_unlock(" PG_LOCK_SCHEMA ")");
    return rc;
}

int store_open(const char *path, int sync_full, struct store **out, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof(*s));
    char pragmas[256], why[300];
    int rc;

    if (!s)
        return -ENOMEM;
    err[0] = '\0';
    db_target_display(path, s->path, sizeof(s->path));
    rc = db_open(path, 0, &s->db, why, sizeof(why));
    if (rc != DB_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", s->path, why);
        goto fail;
    }
    db_busy_timeout(s->db, 5000);
    if (db_kind(s->db) == DB_PG) {
        if (pg_setup(s, sync_full, err, errlen) != 0)
            goto fail;
        goto prepare;
    }
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;",
             sync_full ? "FULL" : "NORMAL");
    if (db_exec(s->db, pragmas) != DB_OK) {
        snprintf(err, errlen, "cannot set up database %s: %s", path, db_errmsg(s->db));
        goto fail;
    }
    /* A database a newer collector wrote is left as it is. */
    if (schema_version(s) > SCHEMA_VERSION) {
        snprintf(err, errlen, "database %s has schema version %d, newer than this collector's "
                 "%d: it was written by a newer vigil-collector; run that version, or restore "
                 "a backup made before the upgrade", path, schema_version(s), SCHEMA_VERSION);
        goto fail;
    }
    if (db_exec(s->db, schema) != DB_OK) {
        snprintf(err, errlen, "cannot set up database %s: %s", path, db_errmsg(s->db));
        goto fail;
    }
    if (migrate(s, err, errlen) != 0)
        goto fail;
prepare:
    for (int i = 0; i < Q_COUNT; i++) {
        const char *sql = db_kind(s->db) == DB_SQLITE && sqlite_query(i) ? sqlite_query(i)
                                                                          : queries[i];
        if (db_prepare(s->db, sql, &s->q[i]) != DB_OK) {
            snprintf(err, errlen, "database %s: cannot prepare query %d: %s", path, i,
                     db_errmsg(s->db));
            goto fail;
        }
    }
    if (db_rows_prepare(s->db, s->q[Q_EVENT_INSERT], pg_events_many, EVENT_TYPES, ROWS_MAX,
                        &s->events) != DB_OK ||
        db_rows_prepare(s->db, s->q[Q_PROC_EXEC], pg_execs_many, EXEC_TYPES, ROWS_MAX,
                        &s->execs) != DB_OK) {
        snprintf(err, errlen, "database %s: cannot prepare the multi-row inserts: %s", path,
                 db_errmsg(s->db));
        goto fail;
    }
    if (db_kind(s->db) == DB_PG && !(s->gathered = calloc(ROWS_MAX, sizeof(*s->gathered)))) {
        snprintf(err, errlen, "database %s: out of memory", path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -EIO;
}

void store_busy_timeout(struct store *s, int ms)
{
    db_busy_timeout(s->db, ms);
}

int store_checkpointer_start(struct store *s, char *err, size_t errlen)
{
    /* SQLite's own auto-checkpoint size: 1,000 pages (4 MB). */
    return db_checkpointer_start(s->db, 1000, err, errlen) == DB_OK ? 0 : -EIO;
}

int store_checkpoint_counts(struct store *s, uint64_t *by_thread, uint64_t *by_commit)
{
    return db_checkpointer_counts(s->db, by_thread, by_commit);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    db_rows_finalize(s->events);
    db_rows_finalize(s->execs);
    free(s->gathered);
    for (int i = 0; i < Q_COUNT; i++)
        db_finalize(s->q[i]);
    if (s->notify)
        db_finalize(s->notify);
    db_close(s->db);
    free(s);
}

struct db *store_db(struct store *s)
{
    return s->db;
}

static struct db_stmt *q(struct store *s, int i)
{
    db_reset(s->q[i]);
    db_clear_bindings(s->q[i]);
    return s->q[i];
}

static void bind_text(struct db_stmt *st, int i, const char *v)
{
    db_bind_text(st, i, v && v[0] ? v : NULL, -1);
}

static char *tags_json(const Vigil__V1__Hello *h)
{
    json_t *o = json_object();
    char *s;
    for (size_t i = 0; i < h->n_tags; i++)
        json_object_set_new(o, h->tags[i]->key, json_string(h->tags[i]->value));
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static char *caps_json(const Vigil__V1__Hello *h)
{
    json_t *a = json_array();
    char *s;
    for (size_t i = 0; i < h->n_capabilities; i++)
        json_array_append_new(a, json_string(h->capabilities[i]));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Records a sign that two machines present host_id's certificate. */
static int clone_seen(struct store *s, int64_t host_id, const char *agent_id, int64_t now,
                      const char *evidence)
{
    struct db_stmt *st = q(s, Q_HOST_CLONE);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, now);
    db_bind_text(st, 3, evidence, -1);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot record clone evidence");
    log_warnx("[store] agent %s: two machines may be using its certificate (a cloned VM?): %s",
              agent_id, evidence);
    return 0;
}

/*
 * A boot id is random and new at every boot, so a hello that brings back
 * the boot id before the current one (A, B, then A again) comes from
 * another machine than the last: two machines take turns with one
 * certificate.  (A clone usually has the same machine id too, since the
 * image was copied with /etc/machine-id; apply_os catches a different
 * one.)  Fills *evidence (empty: nothing seen) and *retired (the host was
 * retired: it comes back).  Returns 0 or an error.
 */
static int hello_prior(struct store *s, const Vigil__V1__Hello *h, const char *peer_addr,
                       char *evidence, size_t elen, int64_t *retired)
{
    struct db_stmt *st = q(s, Q_HOST_PRIOR);
    int rc;

    evidence[0] = '\0';
    *retired = 0;
    db_bind_text(st, 1, h->agent_id, -1);
    rc = db_step(st);
    if (rc == DB_ROW) {
        const char *cur = db_column_text(st, 0);
        const char *prev = db_column_text(st, 1);
        const char *addr = db_column_text(st, 3);
        *retired = db_column_int64(st, 2);
        if (h->boot_id && h->boot_id[0] && cur && prev && strcmp(h->boot_id, cur) != 0 &&
            strcmp(h->boot_id, prev) == 0)
            snprintf(evidence, elen, "boot id %.40s came back (from %.64s) after boot id %.40s "
                     "(from %.64s): a boot id never returns, so two machines take turns",
                     h->boot_id, peer_addr ? peer_addr : "?", cur, addr ? addr : "?");
    }
    db_reset(st);
    return rc == DB_ROW || rc == DB_DONE ? 0 : db_err(s, "cannot read host row");
}

int store_host_seen(struct store *s, const Vigil__V1__Hello *h, const char *peer_addr,
                    int64_t now, int64_t *host_id)
{
    struct db_stmt *st;
    char *tags, *caps, evidence[400];
    int64_t retired;
    int rc;

    if ((rc = hello_prior(s, h, peer_addr, evidence, sizeof(evidence), &retired)) != 0)
        return rc;
    tags = tags_json(h);
    caps = caps_json(h);

    st = q(s, Q_HOST_UPSERT);
    db_bind_text(st, 1, h->agent_id, -1);
    bind_text(st, 2, h->hostname);
    bind_text(st, 3, tags ? tags : "{}");
    bind_text(st, 4, h->software_version);
    bind_text(st, 5, caps);
    bind_text(st, 6, h->boot_id);
    db_bind_int64(st, 7, now);
    bind_text(st, 8, peer_addr);
    free(tags);
    free(caps);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot record hello");
    st = q(s, Q_HOST_ID);
    db_bind_text(st, 1, h->agent_id, -1);
    if (db_step(st) != DB_ROW) {
        db_reset(st);
        return db_err(s, "cannot find host row");
    }
    *host_id = db_column_int64(st, 0);
    /* An un-reset SELECT holds a read snapshot, and the WAL could never
     * be checkpointed past it. */
    db_reset(st);
    if (evidence[0] && (rc = clone_seen(s, *host_id, h->agent_id, now, evidence)) != 0)
        return rc;
    if (retired)
        log_info("[store] agent %s, retired, connected again: it is back in the fleet",
                 h->agent_id);
    st = q(s, Q_AGENT_VERSION);
    db_bind_int64(st, 1, *host_id);
    db_bind_text(st, 2, h->software_version ? h->software_version : "", -1);
    db_bind_int64(st, 3, now);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot record agent version");
    return 0;
}

int store_stream_last(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                      uint64_t *last_seq)
{
    struct db_stmt *st = q(s, Q_STREAM_LAST);
    int rc;

    *last_seq = 0;
    db_bind_int64(st, 1, host_id);
    db_bind_blob(st, 2, epoch->data, (int)epoch->len);
    rc = db_step(st);
    if (rc == DB_ROW)
        *last_seq = (uint64_t)db_column_int64(st, 0);
    db_reset(st);
    if (rc != DB_ROW && rc != DB_DONE)
        return db_err(s, "cannot read stream");
    return 0;
}

int store_hello(struct store *s, const Vigil__V1__Hello *h, const char *peer_addr, int64_t now,
                int64_t *host_id, uint64_t *last_seq)
{
    int rc = store_host_seen(s, h, peer_addr, now, host_id);
    if (rc)
        return rc;
    return store_stream_last(s, *host_id, &h->stream_epoch, last_seq);
}

int store_disconnect(struct store *s, int64_t host_id, int64_t now, int64_t since)
{
    struct db_stmt *st = q(s, Q_DISCONNECT);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, now);
    db_bind_int64(st, 3, since);
    return db_step(st) == DB_DONE ? 0 : db_err(s, "cannot record disconnect");
}

int store_duplicate(struct store *s, const char *agent_id, const char *peer_addr, int64_t now)
{
    struct db_stmt *st = q(s, Q_DUPLICATE);
    db_bind_text(st, 1, agent_id, -1);
    db_bind_int64(st, 2, now);
    bind_text(st, 3, peer_addr);
    return db_step(st) == DB_DONE ? 0 : db_err(s, "cannot record duplicate");
}

int store_begin(struct store *s)
{
    return db_begin(s->db) == DB_OK ? 0 : db_err(s, "cannot begin transaction");
}

int store_commit(struct store *s)
{
    return db_commit(s->db) == DB_OK ? 0 : db_err(s, "cannot commit");
}

void store_rollback(struct store *s)
{
    db_rollback(s->db);
}

static const char *event_kind(const Vigil__V1__Event *e)
{
    switch (e->kind_case) {
    case VIGIL__V1__EVENT__KIND_OS_STATE: return "os_state";
    case VIGIL__V1__EVENT__KIND_AGENT_HEALTH: return "agent_health";
    case VIGIL__V1__EVENT__KIND_LOSS: return "loss";
    case VIGIL__V1__EVENT__KIND_AGENT_TAMPER: return "agent_tamper";
    case VIGIL__V1__EVENT__KIND_PACKAGE_INVENTORY: return "package_inventory";
    case VIGIL__V1__EVENT__KIND_PACKAGE_DELTA: return "package_delta";
    case VIGIL__V1__EVENT__KIND_PENDING_UPDATES: return "pending_updates";
    case VIGIL__V1__EVENT__KIND_PACKAGE_HISTORY: return "package_history";
    case VIGIL__V1__EVENT__KIND_PROCESS_EXEC: return "process_exec";
    case VIGIL__V1__EVENT__KIND_PROCESS_EXIT: return "process_exit";
    case VIGIL__V1__EVENT__KIND_PROCESS_SNAPSHOT: return "process_snapshot";
    case VIGIL__V1__EVENT__KIND_ISOLATION_STATE: return "isolation_state";
    default: return "unknown";
    }
}

/* A machine id other than the one stored: another machine (or the same
 * one reinstalled) with this certificate.  Returns 0 or an error. */
static int os_machine(struct store *s, int64_t host_id, const Vigil__V1__OsState *o)
{
    struct db_stmt *st = q(s, Q_HOST_MACHINE);
    char evidence[400] = "", agent[256] = "";
    int rc;

    if (!o->machine_id || !o->machine_id[0])
        return 0;
    db_bind_int64(st, 1, host_id);
    rc = db_step(st);
    if (rc == DB_ROW) {
        const char *cur = db_column_text(st, 0);
        const char *addr = db_column_text(st, 1);
        if (cur && cur[0] && strcmp(cur, o->machine_id) != 0)
            snprintf(evidence, sizeof(evidence), "machine id %.40s (from %.64s) after machine "
                     "id %.40s", o->machine_id, addr ? addr : "?", cur);
    }
    db_reset(st);
    if (rc != DB_ROW && rc != DB_DONE)
        return db_err(s, "cannot read host row");
    if (!evidence[0])
        return 0;
    st = q(s, Q_HOST_BY_ID);
    db_bind_int64(st, 1, host_id);
    if (db_step(st) == DB_ROW && db_column_text(st, 0))
        vg_strlcpy(agent, db_column_text(st, 0), sizeof(agent));
    db_reset(st);
    return clone_seen(s, host_id, agent, vg_time_now_ms(), evidence);
}

static int apply_os(struct store *s, int64_t host_id, const Vigil__V1__OsState *o, int64_t t)
{
    struct db_stmt *st;
    int rc;

    if ((rc = os_machine(s, host_id, o)) != 0)
        return rc;
    st = q(s, Q_HOST_OS);
    db_bind_int64(st, 1, host_id);
    bind_text(st, 2, o->hostname);
    bind_text(st, 3, o->fqdn);
    bind_text(st, 4, o->os_id);
    bind_text(st, 5, o->os_version_id);
    bind_text(st, 6, o->os_pretty_name);
    bind_text(st, 7, o->os_version_codename);
    bind_text(st, 8, o->kernel_release);
    bind_text(st, 9, o->kernel_version);
    bind_text(st, 10, o->arch);
    bind_text(st, 11, o->machine_id);
    bind_text(st, 12, o->boot_id);
    db_bind_int64(st, 13, o->boot_time_ms);
    db_bind_int64(st, 14, o->reboot_required);
    db_bind_int64(st, 15, t);
    bind_text(st, 16, o->newest_kernel);
    db_bind_int64(st, 17, o->kernel_update_pending);
    db_bind_int64(st, 18, o->packages_changed_time_ms);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot update OS state");
    st = q(s, Q_OS_HISTORY);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, t);
    db_bind_int64(st, 3, vg_time_now_ms());
    bind_text(st, 4, o->os_pretty_name);
    bind_text(st, 5, o->kernel_release);
    bind_text(st, 6, o->newest_kernel);
    db_bind_int64(st, 7, o->kernel_update_pending);
    db_bind_int64(st, 8, o->reboot_required);
    bind_text(st, 9, o->os_id);
    bind_text(st, 10, o->os_version_id);
    bind_text(st, 11, o->os_version_codename);
    bind_text(st, 12, o->hostname);
    return db_step(st) == DB_DONE ? 0 : db_err(s, "cannot record OS history");
}

static int apply_health(struct store *s, int64_t host_id, const Vigil__V1__AgentHealth *h,
                        int64_t t)
{
    struct db_stmt *st = q(s, Q_HOST_HEALTH);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, (int64_t)h->rss_bytes);
    db_bind_int64(st, 3, (int64_t)h->cpu_user_ms);
    db_bind_int64(st, 4, (int64_t)h->cpu_system_ms);
    db_bind_int64(st, 5, (int64_t)h->queued_events);
    db_bind_int64(st, 6, (int64_t)h->dropped_total);
    db_bind_int64(st, 7, t);
    db_bind_int64(st, 8, (int64_t)h->spool_batches);
    db_bind_int64(st, 9, (int64_t)h->spool_bytes);
    bind_text(st, 10, h->process_source);
    db_bind_int64(st, 11, h->isolation_verified_time_ms);
    if (h->confirm_interval_ms)
        db_bind_int64(st, 12, (int64_t)h->confirm_interval_ms);
    else
        db_bind_null(st, 12);
    return db_step(st) == DB_DONE ? 0 : db_err(s, "cannot update health");
}

static int apply_loss(struct store *s, int64_t host_id, uint64_t seq,
                      const Vigil__V1__LossRecord *l, int64_t recv_ms)
{
    struct db_stmt *st = q(s, Q_LOSS_INSERT);
    int batches = strcmp(l->unit, "batches") == 0;

    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, (int64_t)seq);
    db_bind_text(st, 3, l->source[0] ? l->source : "unknown", -1);
    db_bind_int64(st, 4, (int64_t)l->count);
    bind_text(st, 5, l->unit);
    db_bind_int64(st, 6, l->first_time_ms);
    db_bind_int64(st, 7, l->last_time_ms);
    bind_text(st, 8, l->reason);
    db_bind_int64(st, 9, recv_ms);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot record loss");
    st = q(s, Q_HOST_LOSS);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, batches ? 0 : (int64_t)l->count);
    db_bind_int64(st, 3, batches ? (int64_t)l->count : 0);
    return db_step(st) == DB_DONE ? 0 : db_err(s, "cannot count loss");
}

static const char *manager_name(Vigil__V1__PackageManager m)
{
    return m == VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_RPM ? "rpm" : "dpkg";
}

static int step_done(struct store *s, struct db_stmt *st, const char *what)
{
    return db_step(st) == DB_DONE ? 0 : db_err(s, what);
}

/* Binds ?1..?4: host, manager, name, arch. */
static void bind_pkg_key(struct db_stmt *st, int64_t host_id, const char *m,
                         const Vigil__V1__Package *p)
{
    db_bind_int64(st, 1, host_id);
    db_bind_text(st, 2, m, -1);
    db_bind_text(st, 3, p->name, -1);
    db_bind_text(st, 4, p->arch, -1);
}

static int apply_inventory(struct store *s, int64_t host_id, const Vigil__V1__PackageInventory *inv,
                           int64_t recv_ms)
{
    const char *m = manager_name(inv->manager);
    struct db_stmt *st;
    int rc;

    if (inv->part <= 1) { /* a new snapshot starts: drop any unfinished one */
        st = q(s, Q_STAGE_CLEAR);
        db_bind_int64(st, 1, host_id);
        db_bind_text(st, 2, m, -1);
        if ((rc = step_done(s, st, "cannot clear staging")) != 0)
            return rc;
    }
    for (size_t i = 0; i < inv->n_packages; i++) {
        const Vigil__V1__Package *p = inv->packages[i];
        st = q(s, Q_STAGE);
        bind_pkg_key(st, host_id, m, p);
        db_bind_text(st, 5, p->version, -1);
        db_bind_text(st, 6, p->status, -1);
        bind_text(st, 7, p->source_name);
        bind_text(st, 8, p->source_version);
        db_bind_int64(st, 9, p->install_time_ms);
        if ((rc = step_done(s, st, "cannot stage package")) != 0)
            return rc;
    }
    if (inv->part < inv->part_count)
        return 0;
    /* The snapshot is whole: make it the current inventory.  PostgreSQL's
     * statistics see inventory_staging empty (it is, between snapshots),
     * so it compares every staged package with every other in a nested
     * loop: 0.4-1 s per statement for 1,000 packages, the whole group
     * commit waiting.  Hash joins for these statements only (SET LOCAL is
     * undone with the transaction, or the savepoint, if they fail). */
    static const int steps[] = { Q_SNAP_GONE_HIST, Q_SNAP_GONE, Q_SNAP_NEW_HIST, Q_SNAP_UPSERT,
                                 Q_STAGE_CLEAR };
    int pg = db_kind(s->db) == DB_PG;
    if (pg && db_exec(s->db, "SET LOCAL enable_nestloop = off") != DB_OK)
        return db_err(s, "cannot apply inventory snapshot");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        st = q(s, steps[i]);
        db_bind_int64(st, 1, host_id);
        db_bind_text(st, 2, m, -1);
        if (steps[i] != Q_STAGE_CLEAR && steps[i] != Q_SNAP_GONE)
            db_bind_int64(st, 3, recv_ms);
        if ((rc = step_done(s, st, "cannot apply inventory snapshot")) != 0)
            return rc;
    }
    if (pg && db_exec(s->db, "SET LOCAL enable_nestloop = DEFAULT") != DB_OK)
        return db_err(s, "cannot apply inventory snapshot");
    return 0;
}

static int pkg_gone(struct store *s, int64_t host_id, const char *m, const Vigil__V1__Package *p,
                    int64_t recv_ms)
{
    struct db_stmt *st = q(s, Q_PKG_GONE_HIST);
    int rc;
    bind_pkg_key(st, host_id, m, p);
    db_bind_int64(st, 5, recv_ms);
    if ((rc = step_done(s, st, "cannot record package removal")) != 0)
        return rc;
    st = q(s, Q_PKG_DEL);
    bind_pkg_key(st, host_id, m, p);
    return step_done(s, st, "cannot remove package");
}

static int pkg_new(struct store *s, int64_t host_id, const char *m, const Vigil__V1__Package *p,
                   int64_t recv_ms)
{
    struct db_stmt *st = q(s, Q_PKG_UPSERT);
    int rc;
    bind_pkg_key(st, host_id, m, p);
    db_bind_text(st, 5, p->version, -1);
    db_bind_text(st, 6, p->status, -1);
    bind_text(st, 7, p->source_name);
    bind_text(st, 8, p->source_version);
    db_bind_int64(st, 9, recv_ms);
    db_bind_int64(st, 10, p->install_time_ms);
    if ((rc = step_done(s, st, "cannot store package")) != 0)
        return rc;
    st = q(s, Q_PKG_NEW_HIST);
    bind_pkg_key(st, host_id, m, p);
    db_bind_text(st, 5, p->version, -1);
    db_bind_text(st, 6, p->status, -1);
    db_bind_int64(st, 7, recv_ms);
    bind_text(st, 8, p->source_name);
    bind_text(st, 9, p->source_version);
    if (p->install_time_ms)
        db_bind_int64(st, 10, p->install_time_ms);
    return step_done(s, st, "cannot record package history");
}

static int apply_delta(struct store *s, int64_t host_id, const Vigil__V1__PackageDelta *d,
                       int64_t recv_ms)
{
    const char *m = manager_name(d->manager);
    int rc = 0;
    for (size_t i = 0; i < d->n_removed && rc == 0; i++)
        rc = pkg_gone(s, host_id, m, d->removed[i], recv_ms);
    for (size_t i = 0; i < d->n_changed && rc == 0; i++) {
        rc = pkg_gone(s, host_id, m, d->changed[i], recv_ms);
        if (rc == 0)
            rc = pkg_new(s, host_id, m, d->changed[i], recv_ms);
    }
    for (size_t i = 0; i < d->n_added && rc == 0; i++)
        rc = pkg_new(s, host_id, m, d->added[i], recv_ms);
    return rc;
}

/* Bounds of one history event: beyond them it is not a package manager's
 * record but garbage (or an attack on the database), counted as loss. */
#define HIST_FIELD_MAX 512
#define HIST_TIME_MIN 315532800000LL /* 1980 */

static int hist_event_ok(const Vigil__V1__PackageEvent *e, int64_t recv_ms)
{
    static const char *const actions[] = { "install", "upgrade", "downgrade", "remove" };
    int action_ok = 0;

    for (size_t i = 0; i < VG_ARRAY_SIZE(actions); i++)
        action_ok |= strcmp(e->action, actions[i]) == 0;
    return action_ok && e->name[0] && strlen(e->name) <= HIST_FIELD_MAX &&
           strlen(e->arch) <= HIST_FIELD_MAX && strlen(e->old_version) <= HIST_FIELD_MAX &&
           strlen(e->new_version) <= HIST_FIELD_MAX && e->time_ms >= HIST_TIME_MIN &&
           e->time_ms <= recv_ms + 366 * 24 * 3600 * 1000LL;
}

static int apply_history(struct store *s, int64_t host_id, uint64_t seq,
                         const Vigil__V1__PackageHistory *h, int64_t recv_ms)
{
    const char *m = manager_name(h->manager);
    uint64_t bad = 0;
    int rc;

    for (size_t i = 0; i < h->n_events; i++) {
        const Vigil__V1__PackageEvent *e = h->events[i];
        struct db_stmt *st;
        if (!hist_event_ok(e, recv_ms)) {
            bad++;
            continue;
        }
        st = q(s, Q_PKG_EVENT);
        db_bind_int64(st, 1, host_id);
        db_bind_text(st, 2, m, -1);
        db_bind_text(st, 3, e->name, -1);
        db_bind_text(st, 4, e->arch, -1);
        db_bind_text(st, 5, e->action, -1);
        db_bind_text(st, 6, e->old_version, -1);
        db_bind_text(st, 7, e->new_version, -1);
        db_bind_int64(st, 8, e->time_ms);
        db_bind_int64(st, 9, recv_ms);
        if ((rc = step_done(s, st, "cannot store package event")) != 0)
            return rc;
    }
    if (bad) {
        Vigil__V1__LossRecord l = VIGIL__V1__LOSS_RECORD__INIT;
        log_warnx("[store] host %lld: %llu package history events out of bounds; skipped",
                  (long long)host_id, (unsigned long long)bad);
        l.source = "collector.package_history";
        l.count = bad;
        l.unit = "events";
        l.first_time_ms = l.last_time_ms = recv_ms;
        l.reason = "package event out of bounds (field size, time or action)";
        return apply_loss(s, host_id, seq, &l, recv_ms);
    }
    return 0;
}

static int apply_pending(struct store *s, int64_t host_id, const Vigil__V1__PendingUpdates *pu,
                         int64_t t)
{
    const char *m = manager_name(pu->manager);
    static const int steps[] = { Q_PEND_GONE_HIST, Q_PEND_GONE, Q_PEND_NEW_HIST, Q_PEND_UPSERT,
                                 Q_PEND_STAGE_CLEAR };
    struct db_stmt *st = q(s, Q_PEND_STAGE_CLEAR);
    int rc;

    db_bind_int64(st, 1, host_id);
    db_bind_text(st, 2, m, -1);
    if ((rc = step_done(s, st, "cannot clear pending staging")) != 0)
        return rc;
    for (size_t i = 0; i < pu->n_updates; i++) {
        const Vigil__V1__PendingUpdate *u = pu->updates[i];
        st = q(s, Q_PEND_STAGE);
        db_bind_int64(st, 1, host_id);
        db_bind_text(st, 2, m, -1);
        db_bind_text(st, 3, u->name, -1);
        db_bind_text(st, 4, u->arch, -1);
        db_bind_text(st, 5, u->installed_version, -1);
        db_bind_text(st, 6, u->candidate_version, -1);
        db_bind_text(st, 7, u->n_advisories ? u->advisories[0] : "", -1);
        db_bind_int64(st, 8, u->security);
        bind_text(st, 9, u->severity);
        bind_text(st, 10, u->origin);
        bind_text(st, 11, u->release_label);
        bind_text(st, 12, u->release_origin);
        bind_text(st, 13, u->site);
        db_bind_int64(st, 14, u->released_time_ms);
        db_bind_int64(st, 15, u->first_seen_time_ms);
        db_bind_int64(st, 16, u->security_first_seen_time_ms);
        db_bind_int64(st, 17, u->release_file_time_ms);
        if ((rc = step_done(s, st, "cannot stage pending update")) != 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        st = q(s, steps[i]);
        db_bind_int64(st, 1, host_id);
        db_bind_text(st, 2, m, -1);
        if (steps[i] != Q_PEND_STAGE_CLEAR && steps[i] != Q_PEND_GONE)
            db_bind_int64(st, 3, t);
        if ((rc = step_done(s, st, "cannot apply pending updates")) != 0)
            return rc;
    }
    st = q(s, Q_PEND_HOST);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, t);
    db_bind_int64(st, 3, pu->sources_refreshed_time_ms);
    db_bind_int64(st, 4, pu->sources_failed);
    bind_text(st, 5, pu->error);
    return step_done(s, st, "cannot update host pending counts");
}

/* argv as NUL-separated bytes: exact, whatever the encoding. */
static int join_argv(ProtobufCBinaryData *a, size_t n, struct vg_buf *b)
{
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (i && (rc = vg_buf_append(b, "", 1)) != 0)
            return rc;
        if (a[i].len && (rc = vg_buf_append(b, a[i].data, a[i].len)) != 0)
            return rc;
    }
    return 0;
}

static void bind_bytes(struct db_stmt *st, int i, const ProtobufCBinaryData *d)
{
    db_bind_blob(st, i, d->len ? d->data : NULL, (int)d->len);
}

/* bind_text and bind_bytes for a row of many. */
static void row_text(struct db_rows *r, int i, const char *v)
{
    db_rows_text(r, i, v && v[0] ? v : NULL, -1);
}

static void row_bytes(struct db_rows *r, int i, const ProtobufCBinaryData *d)
{
    db_rows_blob(r, i, d->len ? d->data : NULL, (int)d->len);
}

/* PostgreSQL: the execs gathered, stored, with the exits applied to them. */
static int execs_flush(struct store *s)
{
    int n = db_rows_pending(s->execs);

    for (int k = 0; k < n; k++) {
        const struct gathered_exec *g = &s->gathered[k];
        if (g->exited) {
            db_rows_int64(s->execs, 28, g->exit_ms);
            db_rows_int64(s->execs, 29, g->exit_code);
            db_rows_int64(s->execs, 30, g->signal);
            db_rows_int64(s->execs, 31, g->core_dumped);
            db_rows_int64(s->execs, 32, g->lifetime_ns);
        } else {
            for (int i = 28; i <= 32; i++)
                db_rows_null(s->execs, i);
        }
    }
    return db_rows_flush(s->execs) == DB_DONE ? 0 : db_err(s, "cannot store execs");
}

/* A row of Q_PROC_EXEC, stored now (SQLite) or with the batch's other
 * execs (PostgreSQL: when ROWS_MAX are gathered, at the latest when the
 * batch ends). */
static int apply_exec(struct store *s, int64_t host_id, const Vigil__V1__ProcessExec *x,
                      int64_t event_ms, int64_t recv_ms)
{
    struct db_rows *r = s->execs;
    struct vg_buf argv, unk;
    int rc;

    vg_buf_init(&argv, 1u << 20);
    vg_buf_init(&unk, 4096);
    if ((rc = join_argv(x->argv, x->n_argv, &argv)) != 0) {
        snprintf(s->err, sizeof(s->err), "argv (%zu entries) over the store's 1 MiB",
                 x->n_argv);
        goto out;
    }
    for (size_t i = 0; i < x->n_unknown && rc == 0; i++) {
        if (i)
            rc = vg_buf_append(&unk, ",", 1);
        if (rc == 0)
            rc = vg_buf_append(&unk, x->unknown[i], strlen(x->unknown[i]));
    }
    if (rc == 0)
        rc = vg_buf_append(&unk, "", 1);
    if (rc)
        goto out;
    db_rows_int64(r, 1, host_id);
    db_rows_int64(r, 2, x->pid);
    db_rows_int64(r, 3, x->ppid);
    db_rows_int64(r, 4, x->uid);
    db_rows_int64(r, 5, x->euid);
    db_rows_int64(r, 6, x->gid);
    db_rows_int64(r, 7, x->egid);
    db_rows_int64(r, 8, x->login_uid);
    db_rows_int64(r, 9, x->session_id);
    row_text(r, 10, x->comm);
    row_bytes(r, 11, &x->exe_path);
    db_rows_blob(r, 12, argv.data ? (const void *)argv.data : "", (int)argv.len);
    db_rows_int64(r, 13, x->argv_truncated);
    row_bytes(r, 14, &x->cwd);
    row_bytes(r, 15, &x->parent_exe);
    row_text(r, 16, x->container_id);
    db_rows_int64(r, 17, (int64_t)x->cgroup_id);
    row_text(r, 18, x->exe_sha256);
    db_rows_int64(r, 19, (int64_t)x->start_boot_ns);
    /* A start the source could not see (netlink, process gone): the
     * event's time, so that time queries and retention still find it. */
    db_rows_int64(r, 20, x->start_time_ms ? x->start_time_ms : event_ms);
    db_rows_int64(r, 21, x->similar);
    row_text(r, 22, (const char *)unk.data);
    row_text(r, 23, x->source);
    db_rows_int64(r, 24, recv_ms);
    row_text(r, 25, x->hash_note);
    db_rows_int64(r, 26, x->forked);
    row_text(r, 27, x->tty);
    if (s->gathered) {
        struct gathered_exec *g = &s->gathered[db_rows_pending(r)];
        memset(g, 0, sizeof(*g));
        g->host_id = host_id;
        g->pid = x->pid;
        g->start_boot_ns = (int64_t)x->start_boot_ns;
    }
    rc = db_rows_end(r) == DB_DONE ? 0 : db_err(s, "cannot store exec");
    if (rc == 0 && db_rows_full(r))
        rc = execs_flush(s);
out:
    vg_buf_free(&argv);
    vg_buf_free(&unk);
    return rc;
}

static int apply_exit(struct store *s, int64_t host_id, const Vigil__V1__ProcessExit *x,
                      int64_t t)
{
    struct db_stmt *st;

    /* Q_PROC_EXIT's row among the execs gathered, not yet stored: the
     * latest of that process without an exit (they come after every row
     * stored, as their ids will).  Found, the exit is stored with it;
     * else no gathered row can be Q_PROC_EXIT's, and it runs now. */
    for (int k = s->gathered ? db_rows_pending(s->execs) - 1 : -1; k >= 0; k--) {
        struct gathered_exec *g = &s->gathered[k];
        if (g->host_id != host_id || g->pid != x->pid || g->exited ||
            (x->start_boot_ns && g->start_boot_ns != (int64_t)x->start_boot_ns))
            continue;
        g->exited = 1;
        g->exit_ms = t;
        g->exit_code = x->exit_code;
        g->signal = x->signal;
        g->core_dumped = x->core_dumped;
        g->lifetime_ns = (int64_t)x->lifetime_ns;
        return 0;
    }
    st = q(s, Q_PROC_EXIT);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, x->pid);
    db_bind_int64(st, 3, (int64_t)x->start_boot_ns);
    db_bind_int64(st, 4, t);
    db_bind_int64(st, 5, x->exit_code);
    db_bind_int64(st, 6, x->signal);
    db_bind_int64(st, 7, x->core_dumped);
    db_bind_int64(st, 8, (int64_t)x->lifetime_ns);
    return step_done(s, st, "cannot store exit");
}

/* The agent id of host_id, or "?". */
static void host_name(struct store *s, int64_t host_id, char *out, size_t outlen)
{
    struct db_stmt *st = q(s, Q_HOST_BY_ID);
    db_bind_int64(st, 1, host_id);
    snprintf(out, outlen, "?");
    if (db_step(st) == DB_ROW)
        snprintf(out, outlen, "%s", db_column_text(st, 0));
    db_reset(st);
}

/* An agent start after an unclean stop: counted on the host, the last one
 * kept (the event itself is in events, kind agent_tamper).  A death of its
 * network process alone: audited. */
static int apply_tamper(struct store *s, int64_t host_id, const Vigil__V1__AgentTamper *x,
                        int64_t t)
{
    struct db_stmt *st = q(s, Q_HOST_TAMPER);
    char actor[160], target[128], detail[512];
    int rc, died = x->kind && strcmp(x->kind, "network-process-died") == 0;

    if (died) {
        /* The agent ran on (its root parent kept the events and restarted
         * the process): audited, not counted as an unclean stop. */
        host_name(s, host_id, target, sizeof(target));
        snprintf(actor, sizeof(actor), "agent %s", target);
        snprintf(detail, sizeof(detail), "network process %u %s", x->prev_pid,
                 x->how ? x->how : "died");
        return store_audit_append(s, actor, "network-process-died", target, detail, "reported");
    }
    if (x->prev_start_time_ms) {
        /* The same run reported again (its reporter died before the
         * report was spooled): in events, but counted and audited once. */
        struct db_stmt *seen = q(s, Q_UNCLEAN_SEEN);
        db_bind_int64(seen, 1, host_id);
        db_bind_int64(seen, 2, x->prev_pid);
        db_bind_int64(seen, 3, x->prev_start_time_ms);
        if ((rc = step_done(s, seen, "cannot record an unclean stop")) != 0)
            return rc;
        if (db_changes(s->db) == 0)
            return 0;
    }
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, x->start_time_ms ? x->start_time_ms : t);
    db_bind_int64(st, 3, (int64_t)x->gap_ms);
    if ((rc = step_done(s, st, "cannot record an unclean stop")) != 0)
        return rc;
    /* Killing the agent is what an intruder does first: the audit log
     * keeps it, as it keeps isolation tampering. */
    host_name(s, host_id, target, sizeof(target));
    snprintf(actor, sizeof(actor), "agent %s", target);
    snprintf(detail, sizeof(detail), "%s; previous run: pid %u, last heartbeat %lld ms; gap %llu ms",
             x->how, x->prev_pid, (long long)x->prev_heartbeat_time_ms,
             (unsigned long long)x->gap_ms);
    if (x->ring_lost_known && strlen(detail) < sizeof(detail) - 64)
        snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
                 "; %llu process events lost in the gap", (unsigned long long)x->ring_lost);
    return store_audit_append(s, actor, "unclean-stop", target, detail, "reported");
}

/* The host's isolation as the agent reports it; changes the agent made
 * by itself (restored at start, tampering repaired, break-glass) go to
 * the audit log, in the batch's transaction. */
static int apply_isolation(struct store *s, int64_t host_id, const Vigil__V1__IsolationState *x,
                           int64_t t)
{
    struct db_stmt *st = q(s, Q_HOST_ISOLATION);
    char actor[160], target[128];
    int rc;

    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, x->isolated);
    if (x->isolated) {
        db_bind_int64(st, 3, x->since_time_ms ? x->since_time_ms : t);
        db_bind_int64(st, 4, t); /* a report of the rules in force confirms them */
    } else {
        db_bind_null(st, 3);
        db_bind_null(st, 4);
    }
    if ((rc = step_done(s, st, "cannot record isolation state")) != 0)
        return rc;
    if (strcmp(x->change, "tampered") != 0 && strcmp(x->change, "restored") != 0 &&
        strcmp(x->change, "break-glass") != 0 && strcmp(x->change, "interrupted") != 0)
        return 0;
    st = q(s, Q_HOST_BY_ID);
    db_bind_int64(st, 1, host_id);
    snprintf(target, sizeof(target), "?");
    if (db_step(st) == DB_ROW)
        snprintf(target, sizeof(target), "%s", db_column_text(st, 0));
    db_reset(st);
    snprintf(actor, sizeof(actor), "agent %s", target);
    return store_audit_append(s, actor, x->change[0] == 'b' ? "break-glass-release" : "isolation",
                              target, x->detail, x->change);
}

static int apply_snapshot(struct store *s, int64_t host_id, const Vigil__V1__ProcessSnapshot *x,
                          int64_t t)
{
    int rc = 0;
    struct vg_buf argv;
    vg_buf_init(&argv, 1u << 20);
    for (size_t i = 0; i < x->n_processes && rc == 0; i++) {
        const Vigil__V1__ProcessInfo *p = x->processes[i];
        struct db_stmt *st = q(s, Q_PROC_SNAP);
        vg_buf_reset(&argv);
        if ((rc = join_argv(p->argv, p->n_argv, &argv)) != 0)
            break;
        db_bind_int64(st, 1, host_id);
        db_bind_int64(st, 2, t);
        db_bind_int64(st, 3, p->pid);
        db_bind_int64(st, 4, p->ppid);
        db_bind_int64(st, 5, p->uid);
        db_bind_int64(st, 6, p->euid);
        bind_text(st, 7, p->comm);
        bind_bytes(st, 8, &p->exe_path);
        db_bind_blob(st, 9, argv.data ? (const void *)argv.data : "", (int)argv.len);
        db_bind_int64(st, 10, (int64_t)p->start_boot_ns);
        db_bind_int64(st, 11, p->start_time_ms);
        rc = step_done(s, st, "cannot store process snapshot");
    }
    vg_buf_free(&argv);
    return rc;
}

static void row_proc(struct db_stmt *st, struct store_proc *p)
{
    memset(p, 0, sizeof(*p));
    p->pid = (uint32_t)db_column_int64(st, 0);
    p->ppid = (uint32_t)db_column_int64(st, 1);
    p->uid = (uint32_t)db_column_int64(st, 2);
    p->euid = (uint32_t)db_column_int64(st, 3);
    p->gid = (uint32_t)db_column_int64(st, 4);
    p->egid = (uint32_t)db_column_int64(st, 5);
    p->login_uid = (uint32_t)db_column_int64(st, 6);
    p->session_id = (uint32_t)db_column_int64(st, 7);
    p->comm = db_column_text(st, 8);
    p->exe = db_column_blob(st, 9);
    p->exe_len = (size_t)db_column_bytes(st, 9);
    p->argv = db_column_blob(st, 10);
    p->argv_len = (size_t)db_column_bytes(st, 10);
    p->argv_truncated = (int)db_column_int64(st, 11);
    p->cwd = db_column_blob(st, 12);
    p->cwd_len = (size_t)db_column_bytes(st, 12);
    p->parent_exe = db_column_blob(st, 13);
    p->parent_exe_len = (size_t)db_column_bytes(st, 13);
    p->container_id = db_column_text(st, 14);
    p->cgroup_id = (uint64_t)db_column_int64(st, 15);
    p->sha256 = db_column_text(st, 16);
    p->start_boot_ns = (uint64_t)db_column_int64(st, 17);
    p->start_ms = db_column_int64(st, 18);
    p->similar = (uint32_t)db_column_int64(st, 19);
    p->unknown = db_column_text(st, 20);
    p->source = db_column_text(st, 21);
    p->exited = db_column_type(st, 22) != DB_NULL;
    p->exit_ms = db_column_int64(st, 22);
    p->exit_code = (int32_t)db_column_int64(st, 23);
    p->signal = (uint32_t)db_column_int64(st, 24);
    p->core_dumped = (int)db_column_int64(st, 25);
    p->lifetime_ns = (uint64_t)db_column_int64(st, 26);
    p->recv_ms = db_column_int64(st, 27);
    p->hash_note = db_column_text(st, 28);
    p->forked = (int)db_column_int64(st, 29);
    p->tty = db_column_text(st, 30);
}

int store_processes(struct store *s, const char *agent_id, int64_t since_ms, const char *exe,
                    uint32_t pid, uint32_t limit,
                    int (*cb)(void *ctx, const struct store_proc *p), void *ctx)
{
    struct db_stmt *st = q(s, Q_PROCESSES);
    int rc;

    db_bind_text(st, 1, agent_id, -1);
    db_bind_int64(st, 2, since_ms);
    /* No exe: a NULL of its type (PostgreSQL cannot tell ?3's from "?3 IS NULL"). */
    db_bind_blob(st, 3, exe && exe[0] ? exe : NULL, exe ? (int)strlen(exe) : 0);
    db_bind_int64(st, 4, pid);
    db_bind_int64(st, 5, limit ? (int64_t)limit : INT64_MAX); /* no limit: LIMIT -1 is SQLite only */
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_proc p;
        int r;
        row_proc(st, &p);
        if ((r = cb(ctx, &p)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read processes");
}

int store_process_at(struct store *s, const char *agent_id, uint32_t pid, int64_t before_ms,
                     int (*cb)(void *ctx, const struct store_proc *p), void *ctx)
{
    struct db_stmt *st = q(s, Q_PROC_PARENT);
    int rc;

    db_bind_text(st, 1, agent_id, -1);
    db_bind_int64(st, 2, pid);
    db_bind_int64(st, 3, before_ms);
    if ((rc = db_step(st)) == DB_ROW) {
        struct store_proc p;
        row_proc(st, &p);
        rc = cb(ctx, &p);
        db_reset(st);
        return rc ? rc : 1;
    }
    db_reset(st);
    if (rc != DB_DONE)
        return db_err(s, "cannot read a process");
    /* Started before the agent: the latest snapshot that had it. */
    st = q(s, Q_SNAP_AT);
    db_bind_text(st, 1, agent_id, -1);
    db_bind_int64(st, 2, pid);
    db_bind_int64(st, 3, before_ms);
    if ((rc = db_step(st)) == DB_ROW) {
        struct store_proc p;
        memset(&p, 0, sizeof(p));
        p.pid = (uint32_t)db_column_int64(st, 0);
        p.ppid = (uint32_t)db_column_int64(st, 1);
        p.uid = (uint32_t)db_column_int64(st, 2);
        p.euid = (uint32_t)db_column_int64(st, 3);
        p.comm = db_column_text(st, 4);
        p.exe = db_column_blob(st, 5);
        p.exe_len = (size_t)db_column_bytes(st, 5);
        p.argv = db_column_blob(st, 6);
        p.argv_len = (size_t)db_column_bytes(st, 6);
        p.start_boot_ns = (uint64_t)db_column_int64(st, 7);
        p.start_ms = db_column_int64(st, 8);
        p.recv_ms = db_column_int64(st, 9);
        p.source = "snapshot";
        rc = cb(ctx, &p);
        db_reset(st);
        return rc ? rc : 1;
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read a process snapshot");
}

/* SQLite: the highest events id received before bound (0: none), found
 * by bisection on ids, as rows are numbered in the order they are stored:
 * about 2 log2(rows) lookups.  A clock set back makes the order, and so
 * the bound, approximate; the deletes check each row's time too. */
static int events_cut(struct store *s, int64_t bound, int64_t *cut)
{
    struct db_stmt *st = q(s, Q_EVENT_MAX);
    int64_t lo, hi, id, recv;
    int rc;

    *cut = 0;
    if ((rc = db_step(st)) != DB_ROW) {
        db_reset(st);
        return rc == DB_DONE ? 0 : db_err(s, "cannot read the events' ids");
    }
    hi = db_column_int64(st, 0);
    db_reset(st);
    /* lo: an id whose row is before bound; the answer is in lo..hi. */
    st = q(s, Q_EVENT_AT);
    db_bind_int64(st, 1, 1);
    if ((rc = db_step(st)) != DB_ROW) {
        db_reset(st);
        return rc == DB_DONE ? 0 : db_err(s, "cannot read the events' times");
    }
    id = db_column_int64(st, 0);
    recv = db_column_int64(st, 1);
    db_reset(st);
    if (recv >= bound)
        return 0;
    lo = id;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        db_bind_int64(st, 1, mid);
        if ((rc = db_step(st)) != DB_ROW) {
            db_reset(st);
            if (rc == DB_DONE) {
                hi = mid - 1;
                continue;
            }
            return db_err(s, "cannot read the events' times");
        }
        id = db_column_int64(st, 0);
        recv = db_column_int64(st, 1);
        db_reset(st);
        if (recv < bound)
            lo = id; /* >= mid > lo */
        else
            hi = mid - 1;
    }
    *cut = lo;
    return 0;
}

/* One chunk of query qi; adds what went to *n and to *more when the
 * chunk was full (more may remain). */
static int retain_step(struct store *s, int qi, int64_t bound, unsigned chunk, uint64_t *n,
                       int *more, const char *what)
{
    struct db_stmt *st = q(s, qi);
    int rc;
    int64_t changed;

    if (qi == Q_RET_EVENTS && db_kind(s->db) == DB_SQLITE) {
        int64_t cut;
        if ((rc = events_cut(s, bound, &cut)) != 0)
            return rc;
        if (cut == 0)
            return 0;
        db_bind_int64(st, 3, cut);
    }
    db_bind_int64(st, 1, bound);
    db_bind_int64(st, 2, chunk);
    if ((rc = step_done(s, st, what)) != 0)
        return rc;
    changed = db_changes(s->db);
    *n += (uint64_t)changed;
    if ((unsigned)changed >= chunk)
        *more = 1;
    return 0;
}

/* One integer of a query on a partition (named by the catalog and checked
 * to be a plain name: it goes into the SQL); 0 or an error class. */
static int part_query(struct store *s, const char *sql_fmt, const char *part, int64_t a,
                      int64_t b, int64_t *v)
{
    char sql[512];
    struct db_stmt *st;
    int rc;

    snprintf(sql, sizeof(sql), sql_fmt, part);
    if ((rc = db_prepare(s->db, sql, &st)) != DB_OK)
        return rc;
    if (strstr(sql, "?1"))
        db_bind_int64(st, 1, a);
    if (strstr(sql, "?2"))
        db_bind_int64(st, 2, b);
    rc = db_step(st);
    if (rc == DB_ROW)
        *v = db_column_int64(st, 0);
    db_finalize(st);
    return rc == DB_ROW ? DB_OK : rc;
}

/* A row of processes day partition `part` that the chunked DELETEs
 * (Q_RET_PROC_AGE, Q_RET_PROC_ROWS) would keep: within its time (or with
 * none) and among the newest process_max_rows.  Index probes only. */
static int part_keeps(struct store *s, const char *part, const struct store_retain *r,
                      int64_t *keep)
{
    return part_query(s,
                      "SELECT count(*) FROM (SELECT 1 FROM %s WHERE (start_ms IS NULL OR"
                      " start_ms >= ?1) AND id > (SELECT coalesce(max(id), 0) FROM processes)"
                      " - ?2 LIMIT 1) k",
                      part, r->process_min_ms,
                      r->process_max_rows ? (int64_t)r->process_max_rows : INT64_MAX, keep);
}

/* PostgreSQL: a day partition of events or processes all of whose rows the
 * chunked DELETEs of store_retention() would remove is dropped whole
 * instead: the same rows go, without dead rows to vacuum, and the disk
 * space comes back at once.
 *
 * One collector at a time (an advisory lock; the others skip), each
 * partition in its own transaction.  The parent and the partition are
 * locked in the order ingest takes them (an UPDATE of processes locks
 * every partition), for at most PART_LOCK_MS: a partition that cannot be
 * had then is left to the DELETEs.  Nothing here is counted (a count
 * would read the whole day on the loop thread): the log gives the
 * planner's estimate.  A failure is logged and the DELETEs go on. */
#define PART_LOCK_MS "500"
static void pg_retire_partitions(struct store *s, const struct store_retain *r)
{
    static const char *const tables[] = {"events", "processes"};
    int64_t now = vg_time_now_ms();

    if (now - s->partitions_retired_ms < 300000)
        return;
    s->partitions_retired_ms = now;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        struct db_stmt *ls;
        char parts[64][64];
        size_t n = 0;
        int rc;

        if (db_prepare(s->db,
                       "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
                       " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = ?1::regclass"
                       " ORDER BY 1",
                       &ls) != DB_OK) {
            log_warnx("[store] retention: cannot list the partitions of %s: %s", tables[t],
                      db_errmsg(s->db));
            return;
        }
        db_bind_text(ls, 1, tables[t], -1);
        while ((rc = db_step(ls)) == DB_ROW && n < 64) {
            const char *name = db_column_text(ls, 0), *bound = db_column_text(ls, 1);
            /* FOR VALUES FROM ('1764979200000') TO ('1765065600000') */
            const char *to = bound ? strstr(bound, " TO ('") : NULL;
            char *end = NULL;
            long long h = 0;
            if (to) {
                errno = 0;
                h = strtoll(to + 6, &end, 10);
            }
            if (!name || !to || errno || end == to + 6 || *end != '\'' ||
                strlen(name) >= sizeof(parts[0]) ||
                strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
                continue;
            /* Only a day wholly past the time kept (and so old that no
             * row is added to it any more). */
            if (h > r->process_min_ms || (t == 0 && h > r->events_min_ms))
                continue;
            vg_strlcpy(parts[n++], name, sizeof(parts[0]));
        }
        db_finalize(ls);
        if (rc != DB_ROW && rc != DB_DONE) {
            log_warnx("[store] retention: cannot list the partitions of %s: %s", tables[t],
                      db_errmsg(s->db));
            return;
        }
        for (size_t i = 0; i < n; i++) {
            int64_t keep = 0, got = 0, est = -1;
            char sql[256];
            const char *why = NULL;

            /* An events day past both bounds is all deletable; a processes
             * day is checked first without a lock, then again under it. */
            if (t == 1 && part_keeps(s, parts[i], r, &keep) != DB_OK) {
                why = "cannot read it";
            } else if (keep) {
                continue;
            } else if (store_begin(s) != 0) {
                why = "cannot begin a transaction";
            } else if (part_query(s, "SELECT pg_try_advisory_xact_lock(" PG_LOCK_RETIRE
                                  ") :: int %.0s", "", 0, 0, &got) != DB_OK) {
                why = "cannot take the retention lock";
            } else if (!got) {
                store_rollback(s);
                return; /* another collector is at it */
            } else {
                if (snprintf(sql, sizeof(sql),
                             "SET LOCAL lock_timeout = " PART_LOCK_MS ";"
                             " LOCK TABLE ONLY %s, %s IN ACCESS EXCLUSIVE MODE",
                             tables[t], parts[i]) >= (int)sizeof(sql) ||
                    db_exec(s->db, sql) != DB_OK) {
                    store_rollback(s);
                    log_info("[store] retention: partition %s busy; its rows go by the "
                             "deletes", parts[i]);
                    continue;
                }
                if (t == 1 && part_keeps(s, parts[i], r, &keep) != DB_OK)
                    why = "cannot read it";
                else if (keep) {
                    store_rollback(s);
                    continue;
                } else if (part_query(s,
                                      "SELECT reltuples :: bigint FROM pg_class WHERE"
                                      " relname = '%s'",
                                      parts[i], 0, 0, &est) != DB_OK) {
                    why = "cannot read its size";
                } else {
                    if (snprintf(sql, sizeof(sql), "DROP TABLE %s", parts[i]) >= (int)sizeof(sql) ||
                        db_exec(s->db, sql) != DB_OK || store_commit(s) != 0)
                        why = "cannot drop it";
                }
            }
            if (why) {
                log_warnx("[store] retention: partition %s: %s: %s; its rows go by the deletes",
                          parts[i], why, db_errmsg(s->db));
                if (db_in_txn(s->db))
                    store_rollback(s);
                continue;
            }
            if (est >= 0)
                log_info("[store] retention: partition %s dropped (about %lld rows, all past "
                         "their time)", parts[i], (long long)est);
            else
                log_info("[store] retention: partition %s dropped (all its rows past their "
                         "time; not counted)", parts[i]);
        }
    }
}

int store_retention(struct store *s, const struct store_retain *r, unsigned chunk,
                    uint64_t deleted[RETAIN_KINDS])
{
    static const struct {
        int q, kind;
        const char *what;
    } steps[] = {
        {Q_RET_PROC_AGE, RETAIN_PROCESSES, "cannot expire processes"},
        {Q_RET_PROC_ROWS, RETAIN_PROCESSES, "cannot trim processes"},
        {Q_RET_SNAP_AGE, RETAIN_PROCESSES, "cannot expire process snapshots"},
        {Q_RET_EVENTS, RETAIN_PROCESSES, "cannot expire process events"},
        {Q_RET_OTHER_EVENTS, RETAIN_EVENTS, "cannot expire events"},
        {Q_RET_BATCHES, RETAIN_BATCHES, "cannot expire batch receipts"},
        {Q_RET_PKG_HISTORY, RETAIN_HISTORY, "cannot expire package history"},
        {Q_RET_PENDING_HISTORY, RETAIN_HISTORY, "cannot expire pending-update history"},
        {Q_RET_OS_HISTORY, RETAIN_HISTORY, "cannot expire OS history"},
        {Q_RET_PKG_EVENTS, RETAIN_HISTORY, "cannot expire package manager history"},
        {Q_RET_LOSS, RETAIN_HISTORY, "cannot expire loss records"},
        {Q_RET_COMMANDS, RETAIN_COMMANDS, "cannot expire finished commands"},
    };
    int more = 0, rc;

    if (db_kind(s->db) == DB_PG) {
        char why[240];
        if (pg_partitions(s, vg_time_now_ms(), why, sizeof(why)) != 0) {
            snprintf(s->err, sizeof(s->err), "%s", why);
            log_warnx("[store] %s", why);
            return -EIO;
        }
        pg_retire_partitions(s, r);
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int64_t bound;
        switch (steps[i].q) {
        case Q_RET_PROC_ROWS: bound = (int64_t)r->process_max_rows; break;
        case Q_RET_OTHER_EVENTS:
        case Q_RET_BATCHES: bound = r->events_min_ms; break;
        case Q_RET_COMMANDS: bound = r->commands_min_ms; break;
        default:
            bound = steps[i].kind == RETAIN_PROCESSES ? r->process_min_ms : r->history_min_ms;
            break;
        }
        rc = retain_step(s, steps[i].q, bound, chunk, &deleted[steps[i].kind], &more,
                         steps[i].what);
        if (rc)
            return rc;
    }
    return more;
}

/* The chain's hash (lib/acp.h): shared with vigilctl's offline check. */
static void audit_hash(const struct store_audit *a, const char *prev, char out[65])
{
    vg_acp_entry_hash(prev, a->id, a->time_ms, a->actor, a->action, a->target, a->detail,
                      a->result, out);
}

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

int store_audit_append(struct store *s, const char *actor, const char *action,
                       const char *target, const char *detail, const char *result)
{
    struct db_stmt *st;
    struct store_audit a;
    char prev[65] = AUDIT_GENESIS, hash[65];
    int own = !db_in_txn(s->db), rc;

    /* Its own transaction when none is open: reading the last hash and
     * appending must not interleave with another append. */
    if (own && store_begin(s) != 0)
        return -EIO;
    /* PostgreSQL with several collectors: one append at a time across
     * them, until this transaction ends, so that ids follow commits and
     * the chain never forks (SQLite's write lock does this by itself). */
    if (db_kind(s->db) == DB_PG &&
        db_exec(s->db, "SELECT pg_advisory_xact_lock(" PG_LOCK_AUDIT ")") != DB_OK) {
        rc = db_err(s, "cannot lock the audit log");
        if (own)
            store_rollback(s);
        return rc;
    }
    memset(&a, 0, sizeof(a));
    a.id = 1;
    st = q(s, Q_AUDIT_LAST);
    if ((rc = db_step(st)) == DB_ROW) {
        a.id = db_column_int64(st, 0) + 1;
        snprintf(prev, sizeof(prev), "%s", db_column_text(st, 1));
    }
    db_reset(st);
    a.time_ms = vg_time_now_ms();
    a.actor = actor ? actor : "";
    a.action = action ? action : "";
    a.target = target ? target : "";
    a.detail = detail ? detail : "";
    a.result = result ? result : "";
    audit_hash(&a, prev, hash);
    st = q(s, Q_AUDIT_INSERT);
    db_bind_int64(st, 1, a.id);
    db_bind_int64(st, 2, a.time_ms);
    db_bind_text(st, 3, a.actor, -1);
    db_bind_text(st, 4, a.action, -1);
    db_bind_text(st, 5, a.target, -1);
    db_bind_text(st, 6, a.detail, -1);
    db_bind_text(st, 7, a.result, -1);
    db_bind_text(st, 8, prev, -1);
    db_bind_text(st, 9, hash, -1);
    rc = step_done(s, st, "cannot append to the audit log");
    if (own) {
        if (rc == 0)
            rc = store_commit(s);
        else
            store_rollback(s);
    }
    return rc;
}

int store_audit_list(struct store *s, int64_t since_ms, int verify,
                     int (*cb)(void *ctx, const struct store_audit *a), void *ctx,
                     int64_t *broken_id, char *why, size_t whylen)
{
    struct db_stmt *st = q(s, Q_AUDIT_LIST);
    char prev[65] = AUDIT_GENESIS;
    int64_t expect = 1;
    int rc;

    *broken_id = 0;
    if (why && whylen)
        why[0] = '\0';
    /* Verifying walks the whole chain, from the first entry. */
    db_bind_int64(st, 1, verify ? INT64_MIN : since_ms);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_audit a;
        const char *stored_prev, *stored_hash;
        char h[65];
        a.id = db_column_int64(st, 0);
        a.time_ms = db_column_int64(st, 1);
        a.actor = db_column_text(st, 2);
        a.action = db_column_text(st, 3);
        a.target = db_column_text(st, 4);
        a.detail = db_column_text(st, 5);
        a.result = db_column_text(st, 6);
        stored_prev = db_column_text(st, 7);
        stored_hash = db_column_text(st, 8);
        a.hash = stored_hash;
        if (verify && !*broken_id) {
            audit_hash(&a, prev, h);
            if (a.id != expect) {
                *broken_id = expect;
                snprintf(why, whylen, "entry %lld is missing (deleted)", (long long)expect);
            } else if (strcmp(stored_prev ? stored_prev : "", prev) != 0) {
                *broken_id = a.id;
                snprintf(why, whylen, "entry %lld does not follow entry %lld", (long long)a.id,
                         (long long)a.id - 1);
            } else if (strcmp(stored_hash ? stored_hash : "", h) != 0) {
                *broken_id = a.id;
                snprintf(why, whylen, "entry %lld was changed after it was written",
                         (long long)a.id);
            }
            snprintf(prev, sizeof(prev), "%s", stored_hash ? stored_hash : "");
            expect = a.id + 1;
        }
        if (a.time_ms >= since_ms && cb && (rc = cb(ctx, &a)) != 0) {
            db_reset(st);
            return rc;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read the audit log");
}

int store_audit_head(struct store *s, uint64_t *entries, int64_t *last, char head[65])
{
    struct db_stmt *st;
    int rc;

    /* Entries not yet committed may still be rolled back. */
    if (db_in_txn(s->db))
        return -EBUSY;
    *entries = 0;
    *last = 0;
    snprintf(head, 65, "%s", AUDIT_GENESIS);
    st = q(s, Q_AUDIT_LAST);
    if ((rc = db_step(st)) == DB_ROW) {
        const char *h = db_column_text(st, 1);
        *last = db_column_int64(st, 0);
        snprintf(head, 65, "%s", h ? h : "");
    }
    db_reset(st);
    if (rc != DB_ROW && rc != DB_DONE)
        return db_err(s, "cannot read the audit log's head");
    st = q(s, Q_AUDIT_COUNT);
    if ((rc = db_step(st)) == DB_ROW)
        *entries = (uint64_t)db_column_int64(st, 0);
    db_reset(st);
    return rc == DB_ROW ? 0 : db_err(s, "cannot count the audit log");
}

int store_pending(struct store *s, const char *agent_id, int security_only,
                  int (*cb)(void *ctx, const struct store_pending *p), void *ctx)
{
    struct db_stmt *st = q(s, Q_PENDING);
    int rc;

    if (agent_id)
        db_bind_text(st, 1, agent_id, -1);
    db_bind_int64(st, 2, security_only);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_pending p;
        int r;
#define COL(i) (db_column_text(st, (i)))
        p.agent_id = COL(0);
        p.hostname = COL(1);
        p.manager = COL(2);
        p.name = COL(3);
        p.arch = COL(4);
        p.installed_version = COL(5);
        p.candidate_version = COL(6);
        p.advisory = COL(7);
        p.security = (int)db_column_int64(st, 8);
        p.severity = COL(9);
        p.origin = COL(10);
        p.release_label = COL(11);
        p.release_origin = COL(12);
        p.site = COL(13);
#undef COL
        p.released_ms = db_column_int64(st, 14);
        p.agent_first_seen_ms = db_column_int64(st, 15);
        p.security_first_seen_ms = db_column_int64(st, 16);
        p.first_seen_ms = db_column_int64(st, 17);
        p.refreshed_ms = db_column_int64(st, 18);
        p.release_file_ms = db_column_int64(st, 19);
        if ((r = cb(ctx, &p)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read pending updates");
}

int store_inventory(struct store *s, const char *agent_id,
                    int (*cb)(void *ctx, const struct store_pkg *p), void *ctx)
{
    struct db_stmt *st = q(s, Q_INVENTORY);
    int rc;

    db_bind_text(st, 1, agent_id, -1);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_pkg p;
        int r;
        p.manager = db_column_text(st, 0);
        p.name = db_column_text(st, 1);
        p.arch = db_column_text(st, 2);
        p.version = db_column_text(st, 3);
        p.status = db_column_text(st, 4);
        p.source_name = db_column_text(st, 5);
        p.source_version = db_column_text(st, 6);
        p.first_seen_ms = db_column_int64(st, 7);
        if ((r = cb(ctx, &p)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read inventory");
}

int store_package_hosts(struct store *s, const char *name,
                        int (*cb)(void *ctx, const char *agent_id, const char *hostname,
                                  const struct store_pkg *p),
                        void *ctx)
{
    struct db_stmt *st = q(s, Q_PACKAGE_HOSTS);
    int rc;

    db_bind_text(st, 1, name, -1);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_pkg p;
        int r;
        p.manager = db_column_text(st, 2);
        p.name = db_column_text(st, 3);
        p.arch = db_column_text(st, 4);
        p.version = db_column_text(st, 5);
        p.status = db_column_text(st, 6);
        p.source_name = db_column_text(st, 7);
        p.source_version = db_column_text(st, 8);
        p.first_seen_ms = db_column_int64(st, 9);
        if ((r = cb(ctx, db_column_text(st, 0),
                    db_column_text(st, 1), &p)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read packages");
}

/* Text PostgreSQL stores as it is: valid UTF-8 (db_rows_text replaces
 * other bytes). */
static int pg_text_ok(const char *v)
{
    size_t n;
    char *fixed;

    if (!v || !v[0])
        return 1;
    fixed = vg_utf8_replace(v, strlen(v), &n);
    free(fixed);
    return !fixed && n == 0;
}

/* Whether the processes row made from process exec e holds all of it,
 * so that its events row need not keep the body a second time (about
 * half of the bytes of a stored exec, and most of the time it cost to
 * store one).  Kept whole otherwise: fields this collector does not
 * know (a newer agent's), a start time unknown (0: the row has the
 * event's) or not the event's time, values whose row form is ambiguous
 * (argv [""] and [] both join to "", an argument with a NUL, an unknown
 * entry empty or with a comma), and on PostgreSQL text that is not
 * UTF-8 (the row has U+FFFD in its place). */
static int exec_in_row(const struct store *s, const Vigil__V1__Event *e)
{
    const Vigil__V1__ProcessExec *x = e->process_exec;

    if (e->kind_case != VIGIL__V1__EVENT__KIND_PROCESS_EXEC || !x || e->base.n_unknown_fields ||
        x->base.n_unknown_fields || x->start_time_ms == 0 || x->start_time_ms != e->time_ms ||
        (x->n_argv == 1 && x->argv[0].len == 0))
        return 0;
    for (size_t i = 0; i < x->n_argv; i++)
        if (x->argv[i].len && memchr(x->argv[i].data, 0, x->argv[i].len))
            return 0;
    for (size_t i = 0; i < x->n_unknown; i++)
        if (!x->unknown[i][0] || strchr(x->unknown[i], ','))
            return 0;
    if (db_kind(s->db) == DB_PG) {
        const char *texts[] = {x->comm, x->tty, x->container_id, x->exe_sha256, x->hash_note,
                               x->source};
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
            if (!pg_text_ok(texts[i]))
                return 0;
        for (size_t i = 0; i < x->n_unknown; i++)
            if (!pg_text_ok(x->unknown[i]))
                return 0;
    }
    return 1;
}

/* ?1-?6 of a batches row: host, epoch, seq, created, received, events. */
static void bind_batch_row(struct db_stmt *st, int64_t host_id, const ProtobufCBinaryData *epoch,
                           const Vigil__V1__Batch *b, int64_t recv_ms)
{
    db_bind_int64(st, 1, host_id);
    db_bind_blob(st, 2, epoch->data, (int)epoch->len);
    db_bind_int64(st, 3, (int64_t)b->seq);
    db_bind_int64(st, 4, b->created_time_ms);
    db_bind_int64(st, 5, recv_ms);
    db_bind_int64(st, 6, (int64_t)b->n_events);
}

static int batch_apply(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                       const Vigil__V1__Batch *b, int64_t agent_sent_ms, int64_t recv_ms)
{
    struct db_stmt *st;
    struct vg_buf body;
    size_t i;
    int rc = 0;

    {
        /* At or below what the stream has stored: a resend, even once
         * retention took its receipt from batches. */
        uint64_t last = 0;
        int r2 = store_stream_last(s, host_id, epoch, &last);
        if (r2)
            return r2;
        if (b->seq <= last)
            return 0;
    }
    st = q(s, Q_BATCH_INSERT);
    bind_batch_row(st, host_id, epoch, b, recv_ms);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot store batch");
    if (db_changes(s->db) == 0)
        return 0; /* already stored: a resend after a lost ack */

    vg_buf_init(&body, 16 * 1024 * 1024);
    for (i = 0; i < b->n_events && rc == 0; i++) {
        const Vigil__V1__Event *e = b->events[i];
        vg_buf_reset(&body);
        if (!exec_in_row(s, e) && (rc = vg_pb_pack(&e->base, &body)) != 0)
            break;
        db_rows_int64(s->events, 1, host_id);
        db_rows_int64(s->events, 2, (int64_t)b->seq);
        db_rows_int64(s->events, 3, (int64_t)i);
        db_rows_text(s->events, 4, event_kind(e), -1);
        db_rows_int64(s->events, 5, e->time_ms);
        db_rows_int64(s->events, 6, recv_ms);
        db_rows_blob(s->events, 7, body.data ? (const void *)body.data : "", (int)body.len);
        if (db_rows_end(s->events) != DB_DONE ||
            (db_rows_full(s->events) && db_rows_flush(s->events) != DB_DONE)) {
            rc = db_err(s, "cannot store event");
            break;
        }
        if (e->kind_case == VIGIL__V1__EVENT__KIND_OS_STATE)
            rc = apply_os(s, host_id, e->os_state, e->time_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_AGENT_HEALTH)
            rc = apply_health(s, host_id, e->agent_health, e->time_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_LOSS)
            rc = apply_loss(s, host_id, b->seq, e->loss, recv_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PACKAGE_INVENTORY)
            rc = apply_inventory(s, host_id, e->package_inventory, recv_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PACKAGE_DELTA)
            rc = apply_delta(s, host_id, e->package_delta, recv_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PENDING_UPDATES)
            rc = apply_pending(s, host_id, e->pending_updates, e->time_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PACKAGE_HISTORY)
            rc = apply_history(s, host_id, b->seq, e->package_history, recv_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PROCESS_EXEC)
            rc = apply_exec(s, host_id, e->process_exec, e->time_ms, recv_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PROCESS_EXIT)
            rc = apply_exit(s, host_id, e->process_exit, e->time_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_PROCESS_SNAPSHOT)
            rc = apply_snapshot(s, host_id, e->process_snapshot, e->time_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_ISOLATION_STATE)
            rc = apply_isolation(s, host_id, e->isolation_state, e->time_ms);
        else if (e->kind_case == VIGIL__V1__EVENT__KIND_AGENT_TAMPER)
            rc = apply_tamper(s, host_id, e->agent_tamper, e->time_ms);
        if (rc) {
            /* Say which event: the reason goes to the agent and the log. */
            char was[sizeof(s->err)];
            memcpy(was, s->err, sizeof(was));
            snprintf(s->err, sizeof(s->err), "event %zu (%s): %.200s", i, event_kind(e),
                     was[0] ? was : vg_strerror(rc));
        }
    }
    vg_buf_free(&body);
    /* The rows gathered go in the batch's transaction (or savepoint),
     * before its stream moves on. */
    if (rc == 0 && db_rows_flush(s->events) != DB_DONE)
        rc = db_err(s, "cannot store events");
    if (rc == 0 && s->gathered)
        rc = execs_flush(s);
    if (rc) {
        db_rows_discard(s->events);
        db_rows_discard(s->execs);
        return rc;
    }
    st = q(s, Q_STREAM_UPSERT);
    db_bind_int64(st, 1, host_id);
    db_bind_blob(st, 2, epoch->data, (int)epoch->len);
    db_bind_int64(st, 3, (int64_t)b->seq);
    db_bind_int64(st, 4, recv_ms);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot update stream");
    st = q(s, Q_HOST_SEEN);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, recv_ms);
    /* Skew: agent clock minus ours, from the frame's send time. */
    if (agent_sent_ms)
        db_bind_int64(st, 3, agent_sent_ms - recv_ms);
    db_bind_int64(st, 4, (int64_t)b->seq);
    if (db_step(st) != DB_DONE)
        return db_err(s, "cannot update host");
    return 1;
}

/* alone: in a savepoint of its own, so that one that fails is undone
 * alone and the group commit goes on with the others.  The savepoint has
 * a cost (SQLite journals every page the batch changes, to be able to go
 * back), so the server asks for it only when a group has failed once. */
int store_batch(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                const Vigil__V1__Batch *b, int64_t agent_sent_ms, int64_t recv_ms, int alone)
{
    int rc;

    s->err[0] = '\0';
    if (!alone) {
        rc = batch_apply(s, host_id, epoch, b, agent_sent_ms, recv_ms);
        if (rc < 0 && !s->err[0])
            snprintf(s->err, sizeof(s->err), "%s", vg_strerror(rc));
        return rc;
    }
    if (db_exec(s->db, "SAVEPOINT batch") != DB_OK)
        return db_err(s, "cannot begin a savepoint");
    rc = batch_apply(s, host_id, epoch, b, agent_sent_ms, recv_ms);
    if (rc >= 0) {
        if (db_exec(s->db, "RELEASE batch") == DB_OK)
            return rc;
        rc = db_err(s, "cannot release a savepoint");
    }
    if (!s->err[0])
        snprintf(s->err, sizeof(s->err), "%s", vg_strerror(rc));
    /* SQLite may have rolled the whole transaction back already (disk
     * full, I/O error): then there is no savepoint left to go back to,
     * and store_txn_lost() says so. */
    if (db_in_txn(s->db) &&
        (db_exec(s->db, "ROLLBACK TO batch") != DB_OK ||
         db_exec(s->db, "RELEASE batch") != DB_OK)) {
        log_warnx("[store] cannot undo a failed batch: %s (%s); rolling back its group",
                  db_errmsg(s->db), s->path);
        store_rollback(s);
    }
    return rc;
}

int store_batch_reject(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                       const Vigil__V1__Batch *b, int64_t recv_ms, const char *why)
{
    struct db_stmt *st = q(s, Q_BATCH_REJECT);
    Vigil__V1__LossRecord l = VIGIL__V1__LOSS_RECORD__INIT;
    char reason[300];
    int rc;

    bind_batch_row(st, host_id, epoch, b, recv_ms);
    db_bind_text(st, 7, why, -1);
    if ((rc = step_done(s, st, "cannot record a rejected batch")) != 0)
        return rc;
    if (db_changes(s->db) == 0)
        return 0; /* stored or rejected before: a resend */
    snprintf(reason, sizeof(reason), "batch %llu rejected by the collector: %s",
             (unsigned long long)b->seq, why);
    l.source = "collector.rejected";
    l.count = b->n_events;
    l.unit = "events";
    l.first_time_ms = l.last_time_ms = recv_ms;
    l.reason = reason;
    rc = apply_loss(s, host_id, b->seq, &l, recv_ms);
    return rc ? rc : 1;
}

int store_hosts(struct store *s, int (*cb)(void *ctx, const struct store_host *h), void *ctx)
{
    struct db_stmt *st = q(s, Q_HOSTS);
    int rc;

    while ((rc = db_step(st)) == DB_ROW) {
        struct store_host h;
        int r;
        h.agent_id = db_column_text(st, 0);
        h.hostname = db_column_text(st, 1);
        h.tags_json = db_column_text(st, 2);
        h.os_pretty_name = db_column_text(st, 3);
        h.kernel_release = db_column_text(st, 4);
        h.agent_version = db_column_text(st, 5);
        h.first_seen_ms = db_column_int64(st, 6);
        h.last_seen_ms = db_column_int64(st, 7);
        h.clock_skew_ms = db_column_int64(st, 8);
        h.last_seq = (uint64_t)db_column_int64(st, 9);
        h.spool_batches = (uint64_t)db_column_int64(st, 10);
        h.spool_bytes = (uint64_t)db_column_int64(st, 11);
        h.loss_events = (uint64_t)db_column_int64(st, 12);
        h.loss_batches = (uint64_t)db_column_int64(st, 13);
        h.newest_kernel = db_column_text(st, 14);
        h.kernel_update_pending = (int)db_column_int64(st, 15);
        h.reboot_required = (int)db_column_int64(st, 16);
        h.packages_changed_ms = db_column_int64(st, 17);
        h.boot_time_ms = db_column_int64(st, 18);
        h.pending_known = db_column_type(st, 19) != DB_NULL;
        h.pending_updates = (uint32_t)db_column_int64(st, 20);
        h.pending_security = (uint32_t)db_column_int64(st, 21);
        h.pending_security_since_ms = db_column_int64(st, 22);
        h.pending_refreshed_ms = db_column_int64(st, 23);
        h.pending_error = db_column_text(st, 24);
        h.process_source = db_column_text(st, 25);
        h.isolated = (int)db_column_int64(st, 26);
        h.isolated_since_ms = db_column_int64(st, 27);
        h.revoked_ms = db_column_int64(st, 28);
        h.unclean_stops = (uint64_t)db_column_int64(st, 29);
        h.last_unclean_stop_ms = db_column_int64(st, 30);
        h.last_unclean_gap_ms = (uint64_t)db_column_int64(st, 31);
        h.isolation_verified_ms = db_column_int64(st, 32);
        h.confirm_interval_ms = (uint64_t)db_column_int64(st, 33);
        h.retired_ms = db_column_int64(st, 34);
        h.retired_by = db_column_text(st, 35);
        h.retire_reason = db_column_text(st, 36);
        h.clone_count = (uint64_t)db_column_int64(st, 37);
        h.clone_first_ms = db_column_int64(st, 38);
        h.clone_last_ms = db_column_int64(st, 39);
        h.clone_evidence = db_column_text(st, 40);
        h.duplicates_refused = (uint64_t)db_column_int64(st, 41);
        h.last_duplicate_ms = db_column_int64(st, 42);
        h.last_duplicate_addr = db_column_text(st, 43);
        h.machine_id = db_column_text(st, 44);
        h.live_seen_ms = db_column_int64(st, 45);
        if ((r = cb(ctx, &h)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot list hosts");
}

/* ---- commands ---- */

int store_host_retire(struct store *s, int64_t host_id, int64_t now, const char *by,
                      const char *reason)
{
    struct db_stmt *st = q(s, Q_HOST_RETIRE);
    db_bind_int64(st, 1, host_id);
    if (now)
        db_bind_int64(st, 2, now);
    else
        db_bind_null(st, 2);
    bind_text(st, 3, now ? by : NULL);
    bind_text(st, 4, now ? reason : NULL);
    return db_step(st) == DB_DONE ? 0 : db_err(s, "cannot retire host");
}

int store_host_find(struct store *s, const char *agent_id, int64_t *host_id, char *hostname,
                    size_t hlen)
{
    struct db_stmt *st = q(s, Q_HOST_BY_AGENT);
    int rc;
    db_bind_text(st, 1, agent_id, -1);
    rc = db_step(st);
    if (rc == DB_ROW) {
        *host_id = db_column_int64(st, 0);
        if (hostname)
            snprintf(hostname, hlen, "%s",
                     db_column_text(st, 1) ? db_column_text(st, 1) : "");
    }
    db_reset(st);
    if (rc == DB_ROW)
        return 1;
    return rc == DB_DONE ? 0 : db_err(s, "cannot look up host");
}

int64_t store_host_live_seen(struct store *s, int64_t host_id)
{
    struct db_stmt *st = q(s, Q_HOST_LIVE);
    int64_t v = 0;
    db_bind_int64(st, 1, host_id);
    if (db_step(st) == DB_ROW)
        v = db_column_int64(st, 0);
    db_reset(st);
    return v;
}

int store_command_add(struct store *s, const struct store_command *c, const void *body,
                      size_t len)
{
    struct db_stmt *st = q(s, Q_CMD_INSERT);
    db_bind_text(st, 1, c->id, -1);
    db_bind_int64(st, 2, c->host_id);
    db_bind_text(st, 3, c->action, -1);
    db_bind_text(st, 4, c->operator_name, -1);
    db_bind_text(st, 5, c->reason, -1);
    db_bind_text(st, 6, c->detail ? c->detail : "", -1);
    db_bind_blob(st, 7, body, (int)len);
    db_bind_int64(st, 8, c->issued_ms);
    db_bind_int64(st, 9, c->expires_ms);
    return step_done(s, st, "cannot queue the command");
}

int store_commands_unfinished(struct store *s, int64_t host_id,
                              int (*cb)(void *ctx, const char *id, const void *body, size_t len,
                                        int state),
                              void *ctx)
{
    struct db_stmt *st = q(s, Q_CMD_UNFINISHED);
    int rc;
    /* Collected first: the callback may update the same rows. */
    struct item { char id[VG_UUID_STR]; void *body; size_t len; int state; } *v = NULL;
    size_t n = 0, cap = 0;

    db_bind_int64(st, 1, host_id);
    while ((rc = db_step(st)) == DB_ROW) {
        const void *b = db_column_blob(st, 1);
        size_t len = (size_t)db_column_bytes(st, 1);
        if (n == cap) {
            struct item *nv = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        snprintf(v[n].id, sizeof(v[n].id), "%s", db_column_text(st, 0));
        v[n].body = malloc(len ? len : 1);
        if (!v[n].body)
            break;
        memcpy(v[n].body, b, len);
        v[n].len = len;
        v[n].state = (int)db_column_int64(st, 2);
        n++;
    }
    db_reset(st);
    for (size_t i = 0; i < n; i++) {
        if (cb(ctx, v[i].id, v[i].body, v[i].len, v[i].state) != 0) {
            for (; i < n; i++)
                free(v[i].body);
            break;
        }
        free(v[i].body);
    }
    free(v);
    return rc == DB_DONE || rc == DB_ROW ? 0 : db_err(s, "cannot list queued commands");
}

int store_command_notify(struct store *s, const char *agent_id)
{
    int rc;
    if (db_kind(s->db) != DB_PG)
        return 0;
    if (!s->notify &&
        db_prepare(s->db, "SELECT pg_notify('" STORE_NOTIFY_CHANNEL "', ?1)", &s->notify) != DB_OK)
        return db_err(s, "cannot prepare the command notification");
    db_reset(s->notify);
    db_clear_bindings(s->notify);
    db_bind_text(s->notify, 1, agent_id, -1);
    rc = db_step(s->notify);
    db_reset(s->notify);
    return rc == DB_ROW || rc == DB_DONE ? 0 : db_err(s, "cannot notify the other collectors");
}

int store_commands_queued_agents(struct store *s, unsigned max,
                                 int (*cb)(void *ctx, const char *agent_id), void *ctx)
{
    struct db_stmt *st = q(s, Q_CMD_QUEUED_AGENTS);
    int rc, r;
    db_bind_int64(st, 1, max);
    while ((rc = db_step(st)) == DB_ROW) {
        if ((r = cb(ctx, db_column_text(st, 0))) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot list the agents with queued commands");
}

int store_command_delivered(struct store *s, const char *id, int64_t now)
{
    struct db_stmt *st = q(s, Q_CMD_DELIVERED);
    int rc;
    db_bind_text(st, 1, id, -1);
    db_bind_int64(st, 2, now);
    if ((rc = step_done(s, st, "cannot mark the command delivered")) != 0)
        return rc;
    return db_changes(s->db) > 0;
}

int store_command_cancel(struct store *s, const char *id, const char *message, int64_t now)
{
    struct db_stmt *st = q(s, Q_CMD_CANCEL);
    int rc;
    db_bind_text(st, 1, id, -1);
    bind_text(st, 2, message);
    db_bind_int64(st, 3, now);
    if ((rc = step_done(s, st, "cannot cancel the command")) != 0)
        return rc;
    return db_changes(s->db) > 0;
}

int store_command_update(struct store *s, int64_t host_id, const char *id, int state,
                         const char *message, int64_t now, char *action, size_t alen)
{
    struct db_stmt *st = q(s, Q_CMD_GET);
    int rc, cur = -1;

    db_bind_text(st, 1, id, -1);
    if (db_step(st) == DB_ROW) {
        snprintf(action, alen, "%s", db_column_text(st, 0));
        cur = (int)db_column_int64(st, 1);
    }
    db_reset(st);
    if (cur < 0)
        return 0;
    st = q(s, Q_CMD_STATE);
    db_bind_text(st, 1, id, -1);
    db_bind_int64(st, 2, state);
    bind_text(st, 3, message);
    db_bind_int64(st, 4, now);
    db_bind_int64(st, 5, host_id);
    if ((rc = step_done(s, st, "cannot record the command's state")) != 0)
        return rc;
    return db_changes(s->db) > 0;
}

int store_commands_expire(struct store *s, int64_t now,
                          int (*cb)(void *ctx, const char *id, const char *action,
                                    const char *agent_id),
                          void *ctx)
{
    struct db_stmt *st = q(s, Q_CMD_EXPIRE_LIST);
    struct item { char id[VG_UUID_STR], action[16], agent[VG_CERT_NAME_MAX + 1]; } v[64];
    size_t n = 0;
    int rc;

    db_bind_int64(st, 1, now);
    while (n < 64 && (rc = db_step(st)) == DB_ROW) {
        /* cppcheck takes sizeof(v[n].id) for a read of it. */
        // cppcheck-suppress legacyUninitvar
        snprintf(v[n].id, sizeof(v[n].id), "%s", db_column_text(st, 0));
        snprintf(v[n].action, sizeof(v[n].action), "%s", db_column_text(st, 1));
        snprintf(v[n].agent, sizeof(v[n].agent), "%s", db_column_text(st, 2));
        n++;
    }
    db_reset(st);
    for (size_t i = 0; i < n; i++) {
        int64_t host;
        char action[16];
        if (store_host_find(s, v[i].agent, &host, NULL, 0) != 1)
            continue;
        if (store_command_update(s, host, v[i].id, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_EXPIRED,
                                 "not delivered before it expired; it will not run", now, action,
                                 sizeof(action)) == 1)
            cb(ctx, v[i].id, v[i].action, v[i].agent);
    }
    return 0;
}

int store_commands(struct store *s, const char *agent_id, const char *command_id,
                   uint32_t limit, int (*cb)(void *ctx, const struct store_command *c), void *ctx)
{
    struct db_stmt *st = q(s, Q_CMD_LIST);
    int rc;

    bind_text(st, 1, agent_id);
    bind_text(st, 2, command_id);
    db_bind_int64(st, 3, limit);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_command c;
        int r;
        memset(&c, 0, sizeof(c));
        c.id = db_column_text(st, 0);
        c.agent_id = db_column_text(st, 1);
        c.hostname = db_column_text(st, 2);
        c.action = db_column_text(st, 3);
        c.operator_name = db_column_text(st, 4);
        c.reason = db_column_text(st, 5);
        c.detail = db_column_text(st, 6);
        c.issued_ms = db_column_int64(st, 7);
        c.expires_ms = db_column_int64(st, 8);
        c.state = (int)db_column_int64(st, 9);
        c.message = db_column_text(st, 10);
        c.delivered_ms = db_column_int64(st, 11);
        c.finished_ms = db_column_int64(st, 12);
        c.updated_ms = db_column_int64(st, 13);
        if ((r = cb(ctx, &c)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot list commands");
}

int store_host_isolation(struct store *s, int64_t host_id, int isolated, int64_t since_ms)
{
    struct db_stmt *st = q(s, Q_HOST_ISOLATION);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, isolated);
    if (isolated) {
        db_bind_int64(st, 3, since_ms);
        db_bind_int64(st, 4, since_ms);
    } else {
        db_bind_null(st, 3);
        db_bind_null(st, 4);
    }
    return step_done(s, st, "cannot record isolation state");
}

/* ---- collections ---- */

int store_command_info(struct store *s, const char *id, int64_t *host_id, char *action,
                       size_t alen, int *state, void **body, size_t *blen)
{
    struct db_stmt *st = q(s, Q_CMD_INFO);
    int rc;
    db_bind_text(st, 1, id, -1);
    rc = db_step(st);
    if (rc == DB_ROW) {
        size_t n = (size_t)db_column_bytes(st, 3);
        *host_id = db_column_int64(st, 0);
        snprintf(action, alen, "%s", db_column_text(st, 1));
        *state = (int)db_column_int64(st, 2);
        if (body) {
            *body = malloc(n ? n : 1);
            if (*body && n)
                memcpy(*body, db_column_blob(st, 3), n);
            *blen = n;
        }
    }
    db_reset(st);
    if (rc == DB_ROW)
        return 1;
    return rc == DB_DONE ? 0 : db_err(s, "cannot read the command");
}

static void coll_row(struct db_stmt *st, struct store_collection *c)
{
    memset(c, 0, sizeof(*c));
    c->id = db_column_text(st, 0);
    c->command_id = db_column_text(st, 1);
    c->host_id = db_column_int64(st, 2);
    c->name = db_column_text(st, 3);
    c->state = db_column_text(st, 4);
    c->error = db_column_text(st, 5);
    c->started_ms = db_column_int64(st, 6);
    c->completed_ms = db_column_int64(st, 7);
    c->size = (uint64_t)db_column_int64(st, 8);
    c->received = (uint64_t)db_column_int64(st, 9);
    c->sha256 = db_column_text(st, 10);
    c->chunks = (uint32_t)db_column_int64(st, 11);
    c->path = db_column_text(st, 12);
    c->agent_id = db_column_text(st, 13);
}

int store_collection_get(struct store *s, const char *id,
                         int (*cb)(void *ctx, const struct store_collection *c), void *ctx)
{
    struct db_stmt *st = q(s, Q_COLL_GET);
    int rc, r = 0;
    db_bind_text(st, 1, id, -1);
    rc = db_step(st);
    if (rc == DB_ROW) {
        struct store_collection c;
        coll_row(st, &c);
        r = cb(ctx, &c);
    }
    db_reset(st);
    if (rc == DB_ROW)
        return r ? r : 1;
    return rc == DB_DONE ? 0 : db_err(s, "cannot read the collection");
}

int store_collection_create(struct store *s, const char *id, const char *command_id,
                            int64_t host_id, const char *name, const char *path, int64_t now)
{
    struct db_stmt *st = q(s, Q_COLL_CREATE);
    db_bind_text(st, 1, id, -1);
    db_bind_text(st, 2, command_id, -1);
    db_bind_int64(st, 3, host_id);
    bind_text(st, 4, name);
    db_bind_int64(st, 5, now);
    db_bind_text(st, 6, path, -1);
    return step_done(s, st, "cannot record the collection");
}

int store_collection_chunk(struct store *s, const char *id, uint64_t offset, uint64_t len,
                           int64_t now)
{
    struct db_stmt *st = q(s, Q_COLL_CHUNK);
    int rc;
    db_bind_text(st, 1, id, -1);
    db_bind_int64(st, 2, (int64_t)len);
    db_bind_int64(st, 3, (int64_t)offset);
    if ((rc = step_done(s, st, "cannot record the chunk")) != 0)
        return rc;
    if (db_changes(s->db) != 1)
        return -ESTALE;
    st = q(s, Q_COLL_CHUNK_ROW);
    db_bind_text(st, 1, id, -1);
    db_bind_int64(st, 2, (int64_t)offset);
    db_bind_int64(st, 3, (int64_t)len);
    db_bind_int64(st, 4, now);
    return step_done(s, st, "cannot record the chunk");
}

int store_collection_finish(struct store *s, const char *id, const char *state,
                            const char *error, uint64_t size, const char *sha256,
                            const char *path, int64_t now)
{
    struct db_stmt *st = q(s, Q_COLL_FINISH);
    db_bind_text(st, 1, id, -1);
    db_bind_text(st, 2, state, -1);
    bind_text(st, 3, error);
    db_bind_int64(st, 4, (int64_t)size);
    bind_text(st, 5, sha256);
    db_bind_int64(st, 6, now);
    bind_text(st, 7, path);
    return step_done(s, st, "cannot record the collection's end");
}

int store_collections(struct store *s, const char *agent_id, const char *collection_id,
                      const char *command_id,
                      int (*cb)(void *ctx, const struct store_collection *c), void *ctx)
{
    struct db_stmt *st = q(s, Q_COLL_LIST);
    int rc;
    bind_text(st, 1, agent_id);
    bind_text(st, 2, collection_id);
    bind_text(st, 3, command_id);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_collection c;
        int r;
        memset(&c, 0, sizeof(c));
        c.id = db_column_text(st, 0);
        c.command_id = db_column_text(st, 1);
        c.agent_id = db_column_text(st, 2);
        c.hostname = db_column_text(st, 3);
        c.name = db_column_text(st, 4);
        c.operator_name = db_column_text(st, 5);
        c.reason = db_column_text(st, 6);
        c.requested_ms = db_column_int64(st, 7);
        c.started_ms = db_column_int64(st, 8);
        c.completed_ms = db_column_int64(st, 9);
        c.size = (uint64_t)db_column_int64(st, 10);
        c.received = (uint64_t)db_column_int64(st, 11);
        c.sha256 = db_column_text(st, 12);
        c.state = db_column_text(st, 13);
        c.error = db_column_text(st, 14);
        c.chunks = (uint32_t)db_column_int64(st, 15);
        c.path = db_column_text(st, 16);
        /* Rows are read into the callback; its downloads with a second
         * statement. */
        if ((r = cb(ctx, &c)) != 0) {
            db_reset(st);
            return r;
        }
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot list collections");
}

int store_collection_downloads(struct store *s, const char *id,
                               int (*cb)(void *ctx, const char *op, const char *peer,
                                         int64_t time_ms),
                               void *ctx)
{
    struct db_stmt *st = q(s, Q_COLL_DL_LIST);
    int rc;
    db_bind_text(st, 1, id, -1);
    while ((rc = db_step(st)) == DB_ROW)
        if (cb(ctx, db_column_text(st, 0),
               db_column_text(st, 1), db_column_int64(st, 2)) != 0)
            break;
    db_reset(st);
    return rc == DB_DONE || rc == DB_ROW ? 0 : db_err(s, "cannot list downloads");
}

int store_collection_download(struct store *s, const char *id, const char *op,
                              const char *peer, int64_t now)
{
    struct db_stmt *st = q(s, Q_COLL_DL);
    db_bind_text(st, 1, id, -1);
    db_bind_text(st, 2, op, -1);
    bind_text(st, 3, peer);
    db_bind_int64(st, 4, now);
    return step_done(s, st, "cannot record the download");
}

int store_collections_old(struct store *s, int64_t before_ms,
                          int (*cb)(void *ctx, const char *id, const char *path), void *ctx)
{
    struct db_stmt *st = q(s, Q_COLL_OLD);
    char ids[100][VG_UUID_STR], paths[100][512];
    size_t n = 0;
    int rc;
    db_bind_int64(st, 1, before_ms);
    while (n < 100 && (rc = db_step(st)) == DB_ROW) {
        snprintf(ids[n], sizeof(ids[n]), "%s", db_column_text(st, 0));
        snprintf(paths[n], sizeof(paths[n]), "%s",
                 db_column_text(st, 1) ? db_column_text(st, 1) : "");
        n++;
    }
    db_reset(st);
    for (size_t i = 0; i < n; i++)
        cb(ctx, ids[i], paths[i]);
    return 0;
}

int store_collection_rewind(struct store *s, const char *id, uint64_t received)
{
    struct db_stmt *st = q(s, Q_COLL_REWIND);
    db_bind_text(st, 1, id, -1);
    db_bind_int64(st, 2, (int64_t)received);
    return step_done(s, st, "cannot rewind the collection");
}

/* ---- certificates ---- */

int store_cert_seen(struct store *s, int64_t host_id, const char *serial, int64_t now)
{
    struct db_stmt *st = q(s, Q_CERT_SEEN);
    db_bind_text(st, 1, serial, -1);
    db_bind_int64(st, 2, host_id);
    db_bind_int64(st, 3, now);
    return step_done(s, st, "cannot record the certificate");
}

int store_revoke_host(struct store *s, int64_t host_id, const char *reason, const char *op,
                      int64_t now, int (*cb)(void *ctx, const char *serial), void *ctx)
{
    struct db_stmt *st = q(s, Q_REVOKE_CERTS);
    int rc;
    db_bind_int64(st, 1, host_id);
    db_bind_text(st, 2, reason, -1);
    db_bind_text(st, 3, op, -1);
    db_bind_int64(st, 4, now);
    while ((rc = db_step(st)) == DB_ROW)
        cb(ctx, db_column_text(st, 0));
    db_reset(st);
    if (rc != DB_DONE)
        return db_err(s, "cannot revoke");
    st = q(s, Q_REVOKE_HOST);
    db_bind_int64(st, 1, host_id);
    db_bind_int64(st, 2, now);
    return step_done(s, st, "cannot mark the host revoked");
}

int store_revoked(struct store *s, int (*cb)(void *ctx, const char *serial), void *ctx)
{
    struct db_stmt *st = q(s, Q_REVOKED_ALL);
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        cb(ctx, db_column_text(st, 0));
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot read revoked certificates");
}

int store_host_tags(struct store *s, const char *agent_id, char **tags_json)
{
    struct db_stmt *st = q(s, Q_HOST_TAGS);
    int rc;
    *tags_json = NULL;
    db_bind_text(st, 1, agent_id, -1);
    rc = db_step(st);
    if (rc == DB_ROW && !(*tags_json = strdup(db_column_text(st, 0))))
        rc = -ENOMEM;
    db_reset(st);
    if (rc == DB_ROW)
        return 1;
    if (rc == -ENOMEM)
        return rc;
    return rc == DB_DONE ? 0 : db_err(s, "cannot look up host");
}

int store_operator_seen(struct store *s, const char *serial, const char *name, const char *role,
                        int64_t not_after_ms, int64_t now)
{
    struct db_stmt *st = q(s, Q_OPERATOR_SEEN);
    db_bind_text(st, 1, serial, -1);
    db_bind_text(st, 2, name, -1);
    db_bind_text(st, 3, role, -1);
    db_bind_int64(st, 4, not_after_ms);
    db_bind_int64(st, 5, now);
    return step_done(s, st, "cannot record the operator certificate");
}

int store_operators(struct store *s, int (*cb)(void *ctx, const struct store_operator *o),
                    void *ctx)
{
    struct db_stmt *st = q(s, Q_OPERATORS);
    int rc, stop = 0;
    while (!stop && (rc = db_step(st)) == DB_ROW) {
        struct store_operator o = {
            .serial = db_column_text(st, 0),
            .name = db_column_text(st, 1),
            .role = db_column_text(st, 2),
            .not_after_ms = db_column_int64(st, 3),
            .first_seen_ms = db_column_int64(st, 4),
            .last_seen_ms = db_column_int64(st, 5),
            .revoked_ms = db_column_int64(st, 6),
            .revoke_reason = db_column_text(st, 7),
        };
        stop = cb(ctx, &o);
    }
    db_reset(st);
    if (stop)
        return stop;
    return rc == DB_DONE ? 0 : db_err(s, "cannot read operators");
}

int store_revoke_operator(struct store *s, const char *name, const char *serial,
                          const char *reason, const char *op, int64_t now,
                          int (*cb)(void *ctx, const char *serial), void *ctx)
{
    struct db_stmt *st = q(s, name ? Q_REVOKE_OPERATOR : Q_REVOKE_SERIAL);
    int rc;
    db_bind_text(st, 1, name ? name : serial, -1);
    db_bind_text(st, 2, reason, -1);
    db_bind_text(st, 3, op, -1);
    db_bind_int64(st, 4, now);
    while ((rc = db_step(st)) == DB_ROW)
        cb(ctx, db_column_text(st, 0));
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot revoke");
}

int store_revoked_list(struct store *s, int (*cb)(void *ctx, const struct store_revoked *r),
                       void *ctx)
{
    struct db_stmt *st = q(s, Q_REVOKED_LIST);
    int rc, stop = 0;
    while (!stop && (rc = db_step(st)) == DB_ROW) {
        struct store_revoked r = {
            .serial = db_column_text(st, 0),
            .time_ms = db_column_int64(st, 1),
            .reason = db_column_text(st, 2),
            .by = db_column_text(st, 3),
            .subject = db_column_text(st, 4),
        };
        stop = cb(ctx, &r);
    }
    db_reset(st);
    if (stop)
        return stop;
    return rc == DB_DONE ? 0 : db_err(s, "cannot read revoked certificates");
}

/* ---- enrollment tokens ---- */

static void token_row(struct db_stmt *st, struct store_token *t)
{
    memset(t, 0, sizeof(*t));
    t->hash = db_column_text(st, 0);
    t->label = db_column_text(st, 1);
    t->created_by = db_column_text(st, 2);
    t->created_ms = db_column_int64(st, 3);
    t->expires_ms = db_column_int64(st, 4);
    t->max_uses = (uint32_t)db_column_int64(st, 5);
    t->uses = (uint32_t)db_column_int64(st, 6);
    t->revoked_ms = db_column_int64(st, 7);
    t->failures = (uint32_t)db_column_int64(st, 8);
    t->locked_ms = db_column_int64(st, 9);
}

int store_token_add(struct store *s, const char *hash, const char *selector, const char *label,
                    const char *by, int64_t now, int64_t expires, uint32_t max_uses)
{
    struct db_stmt *st = q(s, Q_TOKEN_ADD);
    db_bind_text(st, 1, hash, -1);
    bind_text(st, 2, label);
    db_bind_text(st, 3, by, -1);
    db_bind_int64(st, 4, now);
    db_bind_int64(st, 5, expires);
    db_bind_int64(st, 6, max_uses);
    bind_text(st, 7, selector);
    return step_done(s, st, "cannot store the token");
}

static int token_find(struct store *s, int query, const char *key,
                      int (*cb)(void *ctx, const struct store_token *t), void *ctx)
{
    struct db_stmt *st = q(s, query);
    int rc;
    db_bind_text(st, 1, key, -1);
    rc = db_step(st);
    if (rc == DB_ROW) {
        struct store_token t;
        token_row(st, &t);
        cb(ctx, &t);
    }
    db_reset(st);
    if (rc == DB_ROW)
        return 1;
    return rc == DB_DONE ? 0 : db_err(s, "cannot read the token");
}

int store_token_find(struct store *s, const char *hash,
                     int (*cb)(void *ctx, const struct store_token *t), void *ctx)
{
    return token_find(s, Q_TOKEN_FIND, hash, cb, ctx);
}

int store_token_find_selector(struct store *s, const char *selector,
                              int (*cb)(void *ctx, const struct store_token *t), void *ctx)
{
    return token_find(s, Q_TOKEN_FIND_SELECTOR, selector, cb, ctx);
}

int store_token_fail(struct store *s, const char *hash, uint32_t max_failures, int64_t now,
                     uint32_t *failures, int64_t *locked_ms)
{
    struct db_stmt *st = q(s, Q_TOKEN_FAIL);
    int rc;
    db_bind_text(st, 1, hash, -1);
    db_bind_int64(st, 2, max_failures);
    db_bind_int64(st, 3, now);
    rc = db_step(st);
    if (rc == DB_ROW) {
        *failures = (uint32_t)db_column_int64(st, 0);
        *locked_ms = db_column_int64(st, 1);
        rc = db_step(st);
    } else {
        *failures = 0;
        *locked_ms = 0;
    }
    db_reset(st);
    return rc == DB_DONE ? 0 : db_err(s, "cannot count the token's failure");
}

int store_token_use(struct store *s, const char *hash, int64_t now)
{
    struct db_stmt *st = q(s, Q_TOKEN_USE);
    int rc;
    db_bind_text(st, 1, hash, -1);
    db_bind_int64(st, 2, now);
    if ((rc = step_done(s, st, "cannot use the token")) != 0)
        return rc;
    return db_changes(s->db) == 1;
}

int store_tokens(struct store *s, int (*cb)(void *ctx, const struct store_token *t), void *ctx)
{
    struct db_stmt *st = q(s, Q_TOKEN_LIST);
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_token t;
        token_row(st, &t);
        if (cb(ctx, &t) != 0)
            break;
    }
    db_reset(st);
    return rc == DB_DONE || rc == DB_ROW ? 0 : db_err(s, "cannot list tokens");
}

int store_token_revoke(struct store *s, const char *hash_prefix, int64_t now)
{
    struct db_stmt *st = q(s, Q_TOKEN_REVOKE);
    int rc;
    db_bind_text(st, 1, hash_prefix, -1);
    db_bind_int64(st, 2, now);
    if ((rc = step_done(s, st, "cannot revoke the token")) != 0)
        return rc;
    return (int)(db_changes(s->db) > 1000000 ? 1000000 : db_changes(s->db));
}

int store_enrollment_add(struct store *s, const char *agent_id, const char *token_hash,
                         const char *label, int64_t now, const char *addr, const char *hostname,
                         const char *machine_id, const char *serial)
{
    struct db_stmt *st = q(s, Q_ENROLLMENT_ADD);
    db_bind_text(st, 1, agent_id, -1);
    db_bind_text(st, 2, token_hash, -1);
    bind_text(st, 3, label);
    db_bind_int64(st, 4, now);
    bind_text(st, 5, addr);
    bind_text(st, 6, hostname);
    bind_text(st, 7, machine_id);
    bind_text(st, 8, serial);
    return step_done(s, st, "cannot record the enrollment");
}

int64_t store_host_revoked(struct store *s, int64_t host_id)
{
    struct db_stmt *st = q(s, Q_HOST_REVOKED);
    int64_t v = 0;
    int rc;
    db_bind_int64(st, 1, host_id);
    rc = db_step(st);
    if (rc == DB_ROW)
        v = db_column_int64(st, 0);
    db_reset(st);
    if (rc != DB_ROW && rc != DB_DONE)
        return db_err(s, "cannot read the host's revocation");
    return v;
}
