/*
 * The store's part of the SIEM export: audit entries and process rows
 * after a cursor, in bounded chunks, and the cursors themselves
 * (export_cursors, schema version 6).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

static int db_fail(sqlite3 *db, const char *what)
{
    log_warnx("[store] export: %s: %s", what, sqlite3_errmsg(db));
    return -EIO;
}

static const char *text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL;
}

int store_export_audit(struct store *s, int64_t after, unsigned limit,
                       int (*cb)(void *ctx, const struct store_audit *a), void *ctx)
{
    sqlite3 *db = store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    int n = 0, rc;

    if (!sqlite3_get_autocommit(db))
        return -EBUSY;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, time_ms, actor, action, target, detail, result, hash"
                           " FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, "cannot read the audit log");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_audit a = {
            .id = sqlite3_column_int64(st, 0), .time_ms = sqlite3_column_int64(st, 1),
            .actor = text(st, 2), .action = text(st, 3), .target = text(st, 4),
            .detail = text(st, 5), .result = text(st, 6), .hash = text(st, 7),
        };
        int r = cb(ctx, &a);
        if (r) {
            sqlite3_finalize(st);
            return r > 0 ? -r : r;
        }
        n++;
    }
    if (rc != SQLITE_DONE)
        n = db_fail(db, "cannot read the audit log");
    sqlite3_finalize(st);
    return n;
}

int store_export_processes(struct store *s, int64_t after, unsigned limit,
                           int (*cb)(void *ctx, const struct store_export_proc *p), void *ctx)
{
    sqlite3 *db = store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    int n = 0, rc;

    if (!sqlite3_get_autocommit(db))
        return -EBUSY;
    if (sqlite3_prepare_v2(
            db,
            "SELECT p.id, p.recv_ms, p.start_ms, p.exit_ms, p.pid, p.ppid, p.uid, p.euid, p.gid,"
            " p.egid, p.login_uid, p.session_id, p.cgroup_id, p.exit_code, p.signal, p.similar,"
            " p.argv_truncated, p.core_dumped, p.forked, h.agent_id, h.hostname, h.machine_id,"
            " p.comm, p.container_id, p.sha256, p.source, p.unknown, p.hash_note, p.exe, p.argv,"
            " p.cwd, p.parent_exe"
            " FROM processes p LEFT JOIN hosts h ON h.id = p.host_id"
            " WHERE p.id > ?1 ORDER BY p.id LIMIT ?2",
            -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, "cannot read process rows");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_export_proc p;
        int r;
        memset(&p, 0, sizeof(p));
        p.id = sqlite3_column_int64(st, 0);
        p.recv_ms = sqlite3_column_int64(st, 1);
        p.start_ms = sqlite3_column_int64(st, 2);
        p.exit_ms = sqlite3_column_int64(st, 3);
        p.pid = sqlite3_column_int64(st, 4);
        p.has_ppid = !null(st, 5);
        p.ppid = sqlite3_column_int64(st, 5);
        p.has_uid = !null(st, 6);
        p.uid = sqlite3_column_int64(st, 6);
        p.euid = null(st, 7) ? p.uid : sqlite3_column_int64(st, 7);
        p.has_gid = !null(st, 8);
        p.gid = sqlite3_column_int64(st, 8);
        p.egid = null(st, 9) ? p.gid : sqlite3_column_int64(st, 9);
        p.has_login_uid = !null(st, 10);
        p.login_uid = sqlite3_column_int64(st, 10);
        p.has_session = !null(st, 11);
        p.session_id = sqlite3_column_int64(st, 11);
        p.cgroup_id = sqlite3_column_int64(st, 12);
        p.has_exit_code = !null(st, 13);
        p.exit_code = sqlite3_column_int64(st, 13);
        p.has_signal = !null(st, 14) && sqlite3_column_int64(st, 14) != 0;
        p.signal = sqlite3_column_int64(st, 14);
        p.similar = sqlite3_column_int64(st, 15);
        p.argv_truncated = sqlite3_column_int(st, 16);
        p.core_dumped = sqlite3_column_int(st, 17);
        p.forked = sqlite3_column_int(st, 18);
        p.agent_id = text(st, 19);
        p.hostname = text(st, 20);
        p.machine_id = text(st, 21);
        p.comm = text(st, 22);
        p.container_id = text(st, 23);
        p.sha256 = text(st, 24);
        p.source = text(st, 25);
        p.unknown = text(st, 26);
        p.hash_note = text(st, 27);
        p.exe = sqlite3_column_blob(st, 28);
        p.exe_len = (size_t)sqlite3_column_bytes(st, 28);
        p.argv = sqlite3_column_blob(st, 29);
        p.argv_len = (size_t)sqlite3_column_bytes(st, 29);
        p.cwd = sqlite3_column_blob(st, 30);
        p.cwd_len = (size_t)sqlite3_column_bytes(st, 30);
        p.parent_exe = sqlite3_column_blob(st, 31);
        p.parent_exe_len = (size_t)sqlite3_column_bytes(st, 31);
        if ((r = cb(ctx, &p))) {
            sqlite3_finalize(st);
            return r > 0 ? -r : r;
        }
        n++;
    }
    if (rc != SQLITE_DONE)
        n = db_fail(db, "cannot read process rows");
    sqlite3_finalize(st);
    return n;
}

int store_export_cursor_get(struct store *s, const char *sink, int64_t *audit_id,
                            int64_t *process_id)
{
    sqlite3 *db = store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    int rc;

    *audit_id = *process_id = 0;
    if (sqlite3_prepare_v2(db, "SELECT audit_id, process_id FROM export_cursors WHERE sink = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, "cannot read the export cursors");
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *audit_id = sqlite3_column_int64(st, 0);
        *process_id = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : db_fail(db, "cannot read the export cursors");
}

int store_export_cursor_set(struct store *s, const char *sink, int64_t audit_id,
                            int64_t process_id)
{
    sqlite3 *db = store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    int rc;

    if (!sqlite3_get_autocommit(db))
        return -EBUSY;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO export_cursors(sink, audit_id, process_id, updated_ms)"
                           " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(sink) DO UPDATE SET"
                           " audit_id = ?2, process_id = ?3, updated_ms = ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, "cannot save an export cursor");
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, audit_id);
    sqlite3_bind_int64(st, 3, process_id);
    sqlite3_bind_int64(st, 4, vg_time_now_ms());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, "cannot save an export cursor");
}
