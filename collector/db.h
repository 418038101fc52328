/*
 * The collector's database connection: SQLite (a file path) or
 * PostgreSQL through libpq (a postgresql:// URL), behind one small API
 * shaped like SQLite's own, so that the store's queries are written once.
 *
 * SQL is written in the dialect both accept (SQLite 3.40, PostgreSQL 15):
 * parameters ?1, ?2, ... (turned into $1, $2, ... for PostgreSQL), upserts
 * with ON CONFLICT ... DO UPDATE/NOTHING, RETURNING for new ids.  Where
 * the two differ, db_kind() picks the text.
 *
 * PostgreSQL: a statement is prepared on the server at its first run,
 * with the types of the parameters bound then (int8, float8, text,
 * bytea; NULL: left to the server), and run with PQexecPrepared; results
 * are read in text form and converted on access, so db_column_int64()
 * reads a bigint, a numeric sum or a boolean ('t' is 1).
 *
 * One struct db is used by one thread at a time.
 */
#ifndef VG_DB_H
#define VG_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct db_stmt;

enum db_kind { DB_SQLITE = 1, DB_PG = 2 };

/* Results of db_step(), and error classes. */
enum {
    DB_OK = 0,
    DB_ERROR = 1,      /* anything else: db_errmsg() says what */
    DB_BUSY = 5,       /* another connection holds the lock (SQLite) */
    DB_FULL = 13,      /* disk full */
    DB_TOOBIG = 18,    /* a value larger than the database takes */
    DB_CONSTRAINT = 19, /* a unique, not-null or check constraint */
    DB_MISMATCH = 20,  /* a value of the wrong type */
    DB_ROW = 100,
    DB_DONE = 101,
};

/* Column types, as db_column_type() reports them. */
enum { DB_INTEGER = 1, DB_FLOAT = 2, DB_TEXT = 3, DB_BLOB = 4, DB_NULL = 5 };

/* 1 if target names a PostgreSQL database (postgresql:// or postgres://). */
int db_is_url(const char *target);
/* db_open() flags. */
enum { DB_OPEN_READONLY = 1 };
/* target for messages and logs: a path as it is; a URL without its
 * password (postgresql://USER@HOST:PORT/DB). */
const char *db_target_display(const char *target, char *out, size_t outlen);
/* Opens target: a PostgreSQL URL, else a SQLite file (created if
 * missing, unless DB_OPEN_READONLY).  Returns 0 or DB_ERROR with err. */
int db_open(const char *target, int flags, struct db **out, char *err, size_t errlen);
void db_close(struct db *d);
enum db_kind db_kind(const struct db *d);

/* Runs sql (one or several statements, no parameters).  Returns DB_OK or
 * an error class. */
int db_exec(struct db *d, const char *sql);
const char *db_errmsg(struct db *d);
/* The error class of the last failure (DB_CONSTRAINT, DB_TOOBIG, ...). */
int db_errcode(struct db *d);
/* How long a statement waits for a lock another connection holds. */
void db_busy_timeout(struct db *d, int ms);
/* Runs sql, a setting of the session (SET ...): PostgreSQL runs it again
 * on a connection made again after one was lost.  DB_OK or an error. */
int db_session(struct db *d, const char *sql);
/* SQLite: checkpoints of the WAL on a thread of their own, with a
 * connection of their own, instead of inside the commits of d (the
 * writer): a PASSIVE checkpoint once a commit leaves the WAL at `pages`
 * pages or more.  Should that thread fall behind (the WAL at eight times
 * that), the commit that sees it checkpoints itself, as without one.
 * Stopped by db_close(d).  PostgreSQL: nothing to do (DB_OK). */
int db_checkpointer_start(struct db *d, int pages, char *err, size_t errlen);
/* Checkpoints so far: by the thread (those that copied pages), and by
 * the writer's commits (each that found the WAL at 8 x pages).
 * Returns 0 (and zeros) when no checkpointer runs. */
int db_checkpointer_counts(struct db *d, uint64_t *by_thread, uint64_t *by_writer);
/* The id the last INSERT gave its row (SQLite: the rowid; PostgreSQL:
 * lastval(), the identity column's). */
int64_t db_last_insert_rowid(struct db *d);
/* SQLite: fn(ctx) every n steps of a statement, which it stops by
 * returning non-zero.  PostgreSQL: nothing. */
void db_progress_handler(struct db *d, int n, int (*fn)(void *), void *ctx);
/* Rows changed by the last statement run. */
int64_t db_changes(struct db *d);
/* 1 while a transaction is open (also an aborted one, for PostgreSQL). */
int db_in_txn(struct db *d);
/* 1 when the open transaction can only be rolled back (PostgreSQL after
 * an error outside a savepoint; SQLite when it rolled back by itself). */
int db_txn_failed(struct db *d);

/* A write transaction: SQLite BEGIN IMMEDIATE (the write lock at once),
 * PostgreSQL BEGIN.  DB_OK or an error class. */
int db_begin(struct db *d);
/* A read transaction (SQLite: deferred, no write lock). */
int db_begin_read(struct db *d);
/* COMMIT.  PostgreSQL answers a COMMIT of a failed transaction with a
 * ROLLBACK and no error: that is reported here as DB_ERROR. */
int db_commit(struct db *d);
void db_rollback(struct db *d);

/* Prepares sql.  Returns 0 or DB_ERROR with db_errmsg(). */
int db_prepare(struct db *d, const char *sql, struct db_stmt **out);
void db_finalize(struct db_stmt *st);
/* Ready to run again; bindings are kept until db_clear_bindings(). */
void db_reset(struct db_stmt *st);
void db_clear_bindings(struct db_stmt *st);

/* Parameters are numbered from 1.  Text and blobs are copied; a NULL v
 * binds a NULL of that type (PostgreSQL cannot always tell a parameter's
 * type from the statement: "?1 IS NULL OR col = ?1"); db_bind_null()'s
 * NULL has no type. */
int db_bind_int64(struct db_stmt *st, int i, int64_t v);
int db_bind_double(struct db_stmt *st, int i, double v);
int db_bind_text(struct db_stmt *st, int i, const char *v, int n);
int db_bind_blob(struct db_stmt *st, int i, const void *v, int n);
int db_bind_null(struct db_stmt *st, int i);

/* Runs the statement or moves to its next row: DB_ROW, DB_DONE, or an
 * error class. */
int db_step(struct db_stmt *st);

/* Columns of the current row, numbered from 0.  Pointers are valid until
 * the next db_step(), db_reset() or db_finalize(). */
int db_column_type(struct db_stmt *st, int i);
int64_t db_column_int64(struct db_stmt *st, int i);
double db_column_double(struct db_stmt *st, int i);
const char *db_column_text(struct db_stmt *st, int i);
const void *db_column_blob(struct db_stmt *st, int i);
int db_column_bytes(struct db_stmt *st, int i);

/* ---- many rows into one table ----
 * A row per round trip is what PostgreSQL ingest spends its time on (the
 * client waits, the server starts an executor and routes to a partition
 * per statement), so rows of one table are gathered and stored together:
 *   SQLite      one (INSERT ... VALUES(?1, ..., ?n), the caller's, borrowed)
 *               runs for each row at db_rows_end(), as before;
 *   PostgreSQL  each column's values gather in an array (binary array
 *               format), and many (INSERT ... SELECT * FROM unnest(?1, ...,
 *               ?n), a parameter per column array) runs at db_rows_flush(),
 *               once for all the rows gathered; the caller flushes when
 *               db_rows_full() says so, or when it must.
 * Rows go in the order they were ended (unnest keeps it, so ids the table
 * assigns rise with it).  A statement that reads the table must come after
 * db_rows_flush() to see the rows gathered.  types has a letter per column:
 * 'i' bigint, 't' text, 'b' bytea.  On PostgreSQL, many may have more
 * columns than one (values the caller learns only after db_rows_end():
 * added at the latest before db_rows_flush(), which checks every column
 * has a value for every row). */
struct db_rows;

#define DB_ROWS_FLUSH_BYTES (4u << 20)

/* Returns 0 or DB_ERROR with db_errmsg(); *out is freed by db_rows_finalize()
 * (before one). */
int db_rows_prepare(struct db *d, struct db_stmt *one, const char *many, const char *types,
                    int max_rows, struct db_rows **out);
void db_rows_finalize(struct db_rows *r);
/* Column i (from 1) of the row being made; a NULL v is a NULL.  Text
 * and blobs must stay as they are until db_rows_end() (SQLite reads them
 * in place there; PostgreSQL copies them).  Text that is not UTF-8 is
 * stored as db_bind_text() stores it. */
int db_rows_int64(struct db_rows *r, int i, int64_t v);
int db_rows_text(struct db_rows *r, int i, const char *v, int n);
int db_rows_blob(struct db_rows *r, int i, const void *v, int n);
int db_rows_null(struct db_rows *r, int i);
/* The row is complete (SQLite: stored).  DB_DONE, or an error class (the
 * row, or those gathered with it, not stored: the transaction is to be
 * rolled back). */
int db_rows_end(struct db_rows *r);
/* 1 when max_rows rows or DB_ROWS_FLUSH_BYTES of values are gathered:
 * time to flush.  Always 0 for SQLite. */
int db_rows_full(const struct db_rows *r);
/* Stores the rows gathered (none: nothing is run).  DB_DONE or an error
 * class; the rows are gone from r either way. */
int db_rows_flush(struct db_rows *r);
/* Drops the rows gathered and not stored (after a failure). */
void db_rows_discard(struct db_rows *r);
/* Rows gathered, not yet stored. */
int db_rows_pending(const struct db_rows *r);

#endif
