/*
 * The store's part of the SIEM export: audit entries and process rows
 * after a cursor, in bounded chunks, and the cursors themselves
 * (export_cursors, schema version 6).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

static int db_fail(struct db *db, const char *what)
{
    log_warnx("[store] export: %s: %s", what, db_errmsg(db));
    return -EIO;
}

static const char *text(struct db_stmt *st, int i)
{
    return db_column_text(st, i);
}

static int null(struct db_stmt *st, int i)
{
    return db_column_type(st, i) == DB_NULL;
}

int store_export_audit(struct store *s, int64_t after, unsigned limit,
                       int (*cb)(void *ctx, const struct store_audit *a), void *ctx)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int n = 0, rc;

    if (db_in_txn(db))
        return -EBUSY;
    if (db_prepare(db, "SELECT id, time_ms, actor, action, target, detail, result, hash"
                           " FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2", &st) != DB_OK)
        return db_fail(db, "cannot read the audit log");
    db_bind_int64(st, 1, after);
    db_bind_int64(st, 2, limit);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_audit a = {
            .id = db_column_int64(st, 0), .time_ms = db_column_int64(st, 1),
            .actor = text(st, 2), .action = text(st, 3), .target = text(st, 4),
            .detail = text(st, 5), .result = text(st, 6), .hash = text(st, 7),
        };
        int r = cb(ctx, &a);
        if (r) {
            db_finalize(st);
            return r > 0 ? -r : r;
        }
        n++;
    }
    if (rc != DB_DONE)
        n = db_fail(db, "cannot read the audit log");
    db_finalize(st);
    return n;
}

/* A process row for the export, its transaction's id first. */
#define PROC_COLS(txid)                                                                            \
    "SELECT " txid ", p.id, p.recv_ms, p.start_ms, p.exit_ms, p.pid, p.ppid, p.uid, p.euid,"     \
    " p.gid, p.egid, p.login_uid, p.session_id, p.cgroup_id, p.exit_code, p.signal, p.similar,"   \
    " p.argv_truncated, p.core_dumped, p.forked, h.agent_id, h.hostname, h.machine_id, p.comm,"   \
    " p.container_id, p.sha256, p.source, p.unknown, p.hash_note, p.exe, p.argv, p.cwd,"          \
    " p.parent_exe, p.tty FROM processes p LEFT JOIN hosts h ON h.id = p.host_id"

int store_export_processes(struct store *s, int64_t after_tx, int64_t after, unsigned limit,
                           int (*cb)(void *ctx, const struct store_export_proc *p), void *ctx)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int n = 0, rc;

    if (db_in_txn(db))
        return -EBUSY;
    /* On PostgreSQL, txid < xmin: the rows of transactions that have all
     * ended, so no row can still come before the cursor. */
    if (db_prepare(db,
                   db_kind(db) == DB_PG
                       ? PROC_COLS("p.txid::text::bigint")
                       " WHERE (p.txid, p.id) > (?1::text::xid8, ?2)"
                       " AND p.txid < pg_snapshot_xmin(pg_current_snapshot())"
                       " ORDER BY p.txid, p.id LIMIT ?3"
                       : PROC_COLS("0") " WHERE p.id > ?2 ORDER BY p.id LIMIT ?3",
                   &st) != DB_OK)
        return db_fail(db, "cannot read process rows");
    db_bind_int64(st, 1, after_tx);
    db_bind_int64(st, 2, after);
    db_bind_int64(st, 3, limit);
    while ((rc = db_step(st)) == DB_ROW) {
        struct store_export_proc p;
        int r;
        memset(&p, 0, sizeof(p));
        p.txid = db_column_int64(st, 0);
        p.id = db_column_int64(st, 1);
        p.recv_ms = db_column_int64(st, 2);
        p.start_ms = db_column_int64(st, 3);
        p.exit_ms = db_column_int64(st, 4);
        p.pid = db_column_int64(st, 5);
        p.has_ppid = !null(st, 6);
        p.ppid = db_column_int64(st, 6);
        p.has_uid = !null(st, 7);
        p.uid = db_column_int64(st, 7);
        p.euid = null(st, 8) ? p.uid : db_column_int64(st, 8);
        p.has_gid = !null(st, 9);
        p.gid = db_column_int64(st, 9);
        p.egid = null(st, 10) ? p.gid : db_column_int64(st, 10);
        p.has_login_uid = !null(st, 11);
        p.login_uid = db_column_int64(st, 11);
        p.has_session = !null(st, 12);
        p.session_id = db_column_int64(st, 12);
        p.cgroup_id = db_column_int64(st, 13);
        p.has_exit_code = !null(st, 14);
        p.exit_code = db_column_int64(st, 14);
        p.has_signal = !null(st, 15) && db_column_int64(st, 15) != 0;
        p.signal = db_column_int64(st, 15);
        p.similar = db_column_int64(st, 16);
        p.argv_truncated = (int)db_column_int64(st, 17);
        p.core_dumped = (int)db_column_int64(st, 18);
        p.forked = (int)db_column_int64(st, 19);
        p.agent_id = text(st, 20);
        p.hostname = text(st, 21);
        p.machine_id = text(st, 22);
        p.comm = text(st, 23);
        p.container_id = text(st, 24);
        p.sha256 = text(st, 25);
        p.source = text(st, 26);
        p.unknown = text(st, 27);
        p.hash_note = text(st, 28);
        p.exe = db_column_blob(st, 29);
        p.exe_len = (size_t)db_column_bytes(st, 29);
        p.argv = db_column_blob(st, 30);
        p.argv_len = (size_t)db_column_bytes(st, 30);
        p.cwd = db_column_blob(st, 31);
        p.cwd_len = (size_t)db_column_bytes(st, 31);
        p.parent_exe = db_column_blob(st, 32);
        p.parent_exe_len = (size_t)db_column_bytes(st, 32);
        p.tty = text(st, 33);
        if ((r = cb(ctx, &p))) {
            db_finalize(st);
            return r > 0 ? -r : r;
        }
        n++;
    }
    if (rc != DB_DONE)
        n = db_fail(db, "cannot read process rows");
    db_finalize(st);
    return n;
}

int store_export_claim(struct store *s, const char *sink)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc, held = 0;

    if (db_kind(db) != DB_PG)
        return 1;
    if (db_in_txn(db))
        return -EBUSY;
    /* A session lock (two-key space: apart from the store's other locks),
     * released by PostgreSQL when the collector's connection ends, however
     * it ends.  Taken again by its holder, it only counts up. */
    if (db_prepare(db,
                   "SELECT CASE WHEN pg_try_advisory_lock(370214176, hashtext(?1)) THEN 1 ELSE 0 END",
                   &st) != DB_OK)
        return db_fail(db, "cannot ask which collector exports");
    db_bind_text(st, 1, sink, -1);
    if ((rc = db_step(st)) == DB_ROW)
        held = (int)db_column_int64(st, 0);
    db_finalize(st);
    return rc == DB_ROW ? held : db_fail(db, "cannot ask which collector exports");
}

/* A cursor saved by an earlier version (which read process rows by id):
 * rows after its id went out, none with an id above it.  As a (txid, id)
 * cursor: before the oldest transaction of any row above that id, or of
 * any still running (it may yet commit one).  Some rows may go out again,
 * none is skipped. */
static int cursor_upgrade(struct db *db, int64_t *process_tx, int64_t *process_id)
{
    struct db_stmt *st = NULL;
    int rc;

    if (db_prepare(db, "SELECT least((SELECT txid FROM processes WHERE id > ?1 ORDER BY txid"
                       " LIMIT 1), pg_snapshot_xmin(pg_current_snapshot()))::text::bigint",
                   &st) != DB_OK)
        return db_fail(db, "cannot read the export cursors");
    db_bind_int64(st, 1, *process_id);
    if ((rc = db_step(st)) == DB_ROW) {
        *process_tx = db_column_int64(st, 0);
        *process_id = 0; /* every row of that transaction */
    }
    db_finalize(st);
    return rc == DB_ROW ? 0 : db_fail(db, "cannot read the export cursors");
}

int store_export_cursor_get(struct store *s, const char *sink, int64_t *audit_id,
                            int64_t *process_tx, int64_t *process_id)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc;

    *audit_id = *process_tx = *process_id = 0;
    if (db_prepare(db,
                   db_kind(db) == DB_PG ? "SELECT audit_id, process_id, process_txid::bigint"
                                          " FROM export_cursors WHERE sink = ?1"
                                        : "SELECT audit_id, process_id, 0"
                                          " FROM export_cursors WHERE sink = ?1",
                   &st) != DB_OK)
        return db_fail(db, "cannot read the export cursors");
    db_bind_text(st, 1, sink, -1);
    if ((rc = db_step(st)) == DB_ROW) {
        *audit_id = db_column_int64(st, 0);
        *process_id = db_column_int64(st, 1);
        *process_tx = db_column_int64(st, 2);
    }
    db_finalize(st);
    if (rc != DB_ROW && rc != DB_DONE)
        return db_fail(db, "cannot read the export cursors");
    if (db_kind(db) == DB_PG && *process_tx == 0 && *process_id > 0)
        return cursor_upgrade(db, process_tx, process_id);
    return 0;
}

int store_export_cursor_set(struct store *s, const char *sink, int64_t audit_id,
                            int64_t process_tx, int64_t process_id)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc;

    if (db_in_txn(db))
        return -EBUSY;
    if (db_prepare(db,
                   db_kind(db) == DB_PG
                       ? "INSERT INTO export_cursors(sink, audit_id, process_id, updated_ms,"
                         " process_txid) VALUES(?1, ?2, ?3, ?4, ?5::text) ON CONFLICT(sink) DO"
                         " UPDATE SET audit_id = ?2, process_id = ?3, updated_ms = ?4,"
                         " process_txid = ?5::text"
                       : "INSERT INTO export_cursors(sink, audit_id, process_id, updated_ms)"
                         " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(sink) DO UPDATE SET"
                         " audit_id = ?2, process_id = ?3, updated_ms = ?4",
                   &st) != DB_OK)
        return db_fail(db, "cannot save an export cursor");
    db_bind_text(st, 1, sink, -1);
    db_bind_int64(st, 2, audit_id);
    db_bind_int64(st, 3, process_id);
    db_bind_int64(st, 4, vg_time_now_ms());
    if (db_kind(db) == DB_PG)
        db_bind_int64(st, 5, process_tx);
    rc = db_step(st);
    db_finalize(st);
    return rc == DB_DONE ? 0 : db_fail(db, "cannot save an export cursor");
}
