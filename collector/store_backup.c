/*
 * An online copy of the database with SQLite's backup API, for vigilctl
 * db backup.  It runs on a worker thread with connections of its own.
 *
 * The source connection holds one read transaction from the first page
 * to the last, so the copy is the database as of one instant: under WAL
 * the writers (the store thread's group commits, the loop's own writes)
 * go on meanwhile, and the backup never starts over, as it would if it
 * took a new snapshot at each step.  The cost is that the WAL cannot be
 * checkpointed past that snapshot until the copy is done: it grows by
 * what is written meanwhile, and shrinks at the next checkpoint.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "util.h"

/* Pages per step: 1,024 pages (4 MiB) between looks at cancel. */
#define STEP_PAGES 1024

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    log_warnx("[backup] %s", err);
    return -EIO;
}

int store_backup(const char *src_path, const char *dst_path, struct store_backup_progress *p,
                 const atomic_int *cancel, char *err, size_t errlen)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0, step;

    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = fail(src, "cannot open the database", err, errlen);
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    /* The snapshot: the read transaction starts at the first read. */
    if (sqlite3_exec(src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(src, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = fail(src, "cannot read the database", err, errlen);
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        atomic_store(&p->schema_version, (unsigned)sqlite3_column_int(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    atomic_store(&p->snapshot_ms, vg_time_now_ms());
    /* dst_path exists already (made 0600 by the caller), empty. */
    if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = fail(dst, "cannot open the copy", err, errlen);
        goto out;
    }
    if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
        rc = fail(dst, "cannot start the copy", err, errlen);
        goto out;
    }
    for (;;) {
        step = sqlite3_backup_step(b, STEP_PAGES);
        atomic_store(&p->pages_total, (uint64_t)sqlite3_backup_pagecount(b));
        atomic_store(&p->pages_done,
                     (uint64_t)(sqlite3_backup_pagecount(b) - sqlite3_backup_remaining(b)));
        if (step == SQLITE_DONE)
            break;
        if (cancel && atomic_load(cancel)) {
            snprintf(err, errlen, "the collector is stopping");
            rc = -ECANCELED;
            break;
        }
        if (step == SQLITE_BUSY || step == SQLITE_LOCKED) {
            sqlite3_sleep(50);
            continue;
        }
        if (step != SQLITE_OK) {
            snprintf(err, errlen, "copying: %s", sqlite3_errstr(step));
            log_warnx("[backup] %s", err);
            rc = -EIO;
            break;
        }
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK && rc == 0)
        rc = fail(dst, "cannot finish the copy", err, errlen);
    b = NULL;
    if (rc)
        goto out;
    /* One self-contained file (no -wal beside it), checked. */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK) {
        rc = fail(dst, "cannot check the copy", err, errlen);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_text(st, 0) ||
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        snprintf(err, errlen, "the copy does not pass PRAGMA quick_check: %s",
                 sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
        log_warnx("[backup] %s", err);
        rc = -EIO;
    }
out:
    sqlite3_finalize(st);
    if (b)
        sqlite3_backup_finish(b);
    if (src)
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(src);
    sqlite3_close(dst);
    return rc;
}
