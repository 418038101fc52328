/*
 * The collector's database connection, SQLite or PostgreSQL (db.h).
 *
 * SQLite: thin wrappers over its API.  PostgreSQL: a statement is a name,
 * its SQL with ?N turned into $N, and its bound parameters in text form
 * (bytea in binary); it is prepared on the server the first time it runs,
 * with the types of the parameters bound then, and its result is read a
 * row per db_step().
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"

/* PostgreSQL type OIDs (pg_type.dat); libpq does not export them. */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

/* At most this many parameters in one statement (multi-row inserts). */
#define DB_MAX_PARAMS 4096

struct db_ckpt;

struct db {
    enum db_kind kind;
    sqlite3 *lite;
    struct db_ckpt *ckpt; /* SQLite: its checkpointer, if started */
    PGconn *pg;
    unsigned next_name;  /* prepared statement names: s1, s2, ... */
    /* PostgreSQL, a connection lost: made again (pg_ensure), with the
     * session's settings, and its statements prepared again. */
    char *session;       /* the SETs run on this session, in order */
    unsigned gen;        /* the connection's generation (statements: theirs) */
    int txn;             /* in a transaction we began */
    int unset;           /* connected, but its settings failed: made again */
    int resetting;       /* a reconnection under way (PQresetStart called) */
    int poll_st;         /* its PostgresPollingStatusType */
    uint64_t reset_end_ms; /* given up then */
    uint64_t retry_ms;   /* no attempt to reconnect before (monotonic) */
    int last_class;      /* PostgreSQL: the class of the last failure */
    int64_t changes;
    char err[512];
};

struct db_stmt {
    struct db *d;
    sqlite3_stmt *lite;
    /* PostgreSQL */
    char name[24];
    char *sql;
    int nparams, prepared;
    unsigned gen; /* PostgreSQL: the connection it was prepared on */
    char **vals;
    int *lens, *fmts;
    Oid *types;
    PGresult *res;
    int row, nrows, ran;
    /* Columns of the current row read as bytea, decoded: each stays until
     * the next step, reset or finalize, as SQLite's do (a caller reads
     * exe, argv and cwd of a row and then uses all three). */
    unsigned char **blobs;
    int nblobs, blob_row;
};

int db_is_url(const char *target)
{
    return target && (strncmp(target, "postgresql://", 13) == 0 ||
                      strncmp(target, "postgres://", 11) == 0);
}

const char *db_target_display(const char *target, char *out, size_t outlen)
{
    PQconninfoOption *opts, *o;
    const char *user = "", *host = "", *port = "", *name = "";

    if (!db_is_url(target)) {
        vg_strlcpy(out, target ? target : "", outlen);
        return out;
    }
    opts = PQconninfoParse(target, NULL);
    if (!opts) {
        vg_strlcpy(out, "postgresql://(a URL libpq cannot read)", outlen);
        return out;
    }
    for (o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            name = o->val;
    }
    if (host[0] == '/') /* a socket directory */
        snprintf(out, outlen, "postgresql:///%s?host=%s%s%s%s%s", name, host,
                 port[0] ? "&port=" : "", port, user[0] ? "&user=" : "", user);
    else
        snprintf(out, outlen, "postgresql://%s%s%s%s%s/%s", user, user[0] ? "@" : "", host,
                 port[0] ? ":" : "", port, name);
    PQconninfoFree(opts);
    return out;
}

/* ---- errors ---- */

static int lite_class(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: return DB_OK;
    case SQLITE_ROW: return DB_ROW;
    case SQLITE_DONE: return DB_DONE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return DB_BUSY;
    case SQLITE_FULL: return DB_FULL;
    case SQLITE_CONSTRAINT: return DB_CONSTRAINT;
    case SQLITE_TOOBIG: return DB_TOOBIG;
    case SQLITE_MISMATCH: return DB_MISMATCH;
    default: return DB_ERROR;
    }
}

/* The class of a failed PostgreSQL result, its message kept. */
static int pg_fail(struct db *d, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    size_t n;

    if (!msg || !msg[0])
        msg = PQerrorMessage(d->pg);
    snprintf(d->err, sizeof(d->err), "%s", msg && msg[0] ? msg : "out of memory");
    n = strlen(d->err);
    while (n && (d->err[n - 1] == '\n' || d->err[n - 1] == ' '))
        d->err[--n] = '\0';
    d->last_class = DB_ERROR;
    if (!state)
        return DB_ERROR;
    if (strncmp(state, "23", 2) == 0) /* integrity constraint violation */
        d->last_class = DB_CONSTRAINT;
    else if (strcmp(state, "53100") == 0) /* disk full */
        d->last_class = DB_FULL;
    else if (strcmp(state, "54000") == 0 || strcmp(state, "22001") == 0) /* too long */
        d->last_class = DB_TOOBIG;
    else if (strncmp(state, "22", 2) == 0) /* data exception: a value of a wrong type */
        d->last_class = DB_MISMATCH;
    else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
             strcmp(state, "55P03") == 0) /* serialization, deadlock, lock not available */
        d->last_class = DB_BUSY;
    return d->last_class;
}

/* ---- connections ---- */

/* Before SQLite's first use: no memory statistics, which SQLite keeps
 * under a global mutex taken on every allocation (the store thread took
 * it about 14 times per event stored).  Nothing reads them. */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int db_open(const char *target, int flags, struct db **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    struct db *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return DB_ERROR;
    }
    if (db_is_url(target)) {
        d->kind = DB_PG;
        d->pg = PQconnectdb(target);
        if (!d->pg || PQstatus(d->pg) != CONNECTION_OK) {
            const char *m = d->pg ? PQerrorMessage(d->pg) : "out of memory";
            snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
            db_close(d);
            return DB_ERROR;
        }
        /* Timestamps are ours (milliseconds in bigints); names sort bytewise. */
        db_session(d, flags & DB_OPEN_READONLY ? "SET client_min_messages = warning;"
                                                 " SET default_transaction_read_only = on"
                                               : "SET client_min_messages = warning");
    } else {
        int rc;
        d->kind = DB_SQLITE;
        pthread_once(&once, sqlite_setup);
        rc = sqlite3_open_v2(target, &d->lite,
                             (flags & DB_OPEN_READONLY
                                  ? SQLITE_OPEN_READONLY
                                  : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s", d->lite ? sqlite3_errmsg(d->lite) : "out of memory");
            db_close(d);
            return DB_ERROR;
        }
        sqlite3_extended_result_codes(d->lite, 0);
    }
    *out = d;
    return DB_OK;
}

static void ckpt_stop(struct db *d);

void db_close(struct db *d)
{
    if (!d)
        return;
    ckpt_stop(d);
    if (d->lite)
        sqlite3_close(d->lite);
    if (d->pg)
        PQfinish(d->pg);
    free(d->session);
    free(d);
}

/* ---- SQLite: WAL checkpoints apart from the commits ---- */

/* A checkpoint copies the WAL's pages into the database file: about a
 * fifth of the store thread's time at saturation when run inside its
 * commits (SQLite's auto-checkpoint, every 1,000 pages).  Run here, it
 * overlaps them: a PASSIVE checkpoint never blocks the writer, and the
 * writer starts the WAL over at its next commit once all of it is
 * copied. */
struct db_ckpt {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sqlite3 *conn;
    int pages, due, quit;
    _Atomic uint64_t by_thread, by_writer;
};

static void *ckpt_main(void *arg)
{
    struct db_ckpt *c = arg;
    int done, last = 0;

    pthread_setname_np(pthread_self(), "vg-checkpoint");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->quit)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->quit)
            break;
        c->due = 0;
        pthread_mutex_unlock(&c->mu);
        /* SQLITE_BUSY: the writer checkpoints itself meanwhile (behind);
         * the next commit asks again.  Counted when it copied pages (a
         * reader's snapshot can hold them all back): the WAL's count of
         * pages copied moved. */
        if (sqlite3_wal_checkpoint_v2(c->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, &done) ==
                SQLITE_OK &&
            done > 0 && done != last) {
            c->by_thread++;
            last = done;
        }
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* After each commit of the writer, on its thread: npages in the WAL. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int npages)
{
    struct db_ckpt *c = arg;

    if (npages >= 8 * c->pages) {
        /* Behind (a reader holding old pages, a slow disk): as SQLite's
         * own auto-checkpoint would, so that the WAL stays bounded.
         * Counted whether or not it could copy anything: each is a
         * commit that found the WAL this large. */
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
            SQLITE_OK)
            c->by_writer++;
    } else if (npages >= c->pages) {
        pthread_mutex_lock(&c->mu);
        c->due = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

int db_checkpointer_start(struct db *d, int pages, char *err, size_t errlen)
{
    struct db_ckpt *c;
    const char *path;
    int rc;

    if (d->kind != DB_SQLITE || d->ckpt)
        return DB_OK;
    path = sqlite3_db_filename(d->lite, "main");
    if (!path || !path[0])
        return DB_OK; /* in memory: no WAL */
    if (!(c = calloc(1, sizeof(*c)))) {
        snprintf(err, errlen, "out of memory");
        return DB_ERROR;
    }
    c->pages = pages > 0 ? pages : 1000;
    if (sqlite3_open_v2(path, &c->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for checkpoints: %s", path,
                 c->conn ? sqlite3_errmsg(c->conn) : "out of memory");
        sqlite3_close(c->conn);
        free(c);
        return DB_ERROR;
    }
    /* As durable as the writer's: the database file is synced before
     * the WAL starts over. */
    sqlite3_exec(c->conn, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if ((rc = pthread_create(&c->th, NULL, ckpt_main, c)) != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread: %s", strerror(rc));
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->conn);
        free(c);
        return DB_ERROR;
    }
    d->ckpt = c;
    /* Replaces SQLite's auto-checkpoint on this connection. */
    sqlite3_wal_hook(d->lite, ckpt_hook, c);
    return DB_OK;
}

static void ckpt_stop(struct db *d)
{
    struct db_ckpt *c = d->ckpt;

    if (!c)
        return;
    if (d->lite)
        sqlite3_wal_hook(d->lite, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->quit = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->conn);
    free(c);
    d->ckpt = NULL;
}

int db_checkpointer_counts(struct db *d, uint64_t *by_thread, uint64_t *by_writer)
{
    *by_thread = d->ckpt ? d->ckpt->by_thread : 0;
    *by_writer = d->ckpt ? d->ckpt->by_writer : 0;
    return d->ckpt != NULL;
}

enum db_kind db_kind(const struct db *d)
{
    return d->kind;
}

const char *db_errmsg(struct db *d)
{
    return d->kind == DB_PG ? d->err : sqlite3_errmsg(d->lite);
}

int db_errcode(struct db *d)
{
    return d->kind == DB_PG ? d->last_class : lite_class(sqlite3_errcode(d->lite));
}

void db_busy_timeout(struct db *d, int ms)
{
    char sql[64];
    if (d->kind == DB_SQLITE) {
        sqlite3_busy_timeout(d->lite, ms);
        return;
    }
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms);
    db_session(d, sql);
}

int64_t db_last_insert_rowid(struct db *d)
{
    PGresult *r;
    int64_t id = 0;
    if (d->kind == DB_SQLITE)
        return sqlite3_last_insert_rowid(d->lite);
    r = PQexec(d->pg, "SELECT lastval()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return id;
}

void db_progress_handler(struct db *d, int n, int (*fn)(void *), void *ctx)
{
    if (d->kind == DB_SQLITE)
        sqlite3_progress_handler(d->lite, n, fn, ctx);
}

int64_t db_changes(struct db *d)
{
    return d->kind == DB_PG ? d->changes : (int64_t)sqlite3_changes(d->lite);
}

int db_in_txn(struct db *d)
{
    if (d->kind == DB_SQLITE)
        return !sqlite3_get_autocommit(d->lite);
    /* Ours, also when the connection was lost in it (its status is then
     * unknown): it ends with db_commit() or db_rollback(). */
    if (d->txn)
        return 1;
    switch (PQtransactionStatus(d->pg)) {
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
    case PQTRANS_ACTIVE: return 1;
    default: return 0;
    }
}

int db_txn_failed(struct db *d)
{
    if (d->kind == DB_PG)
        return PQtransactionStatus(d->pg) == PQTRANS_INERROR;
    return 0;
}

static void set_changes(struct db *d, PGresult *r)
{
    const char *n = PQcmdTuples(r);
    d->changes = n && n[0] ? strtoll(n, NULL, 10) : 0;
}

/* ---- PostgreSQL: a lost connection made again ---- */

/* A reconnection goes on across calls, without blocking the thread for
 * more than PG_STEP_MS in any one (the loop thread uses a connection
 * too); given up after PG_RECONNECT_MS, tried again PG_RETRY_MS after a
 * failure.  (PQresetStart resolves a host name with a blocking lookup:
 * a hostaddr or an address in the URL avoids it.) */
#define PG_STEP_MS 50
#define PG_RECONNECT_MS 10000
#define PG_RETRY_MS 2000

static int pg_lost(struct db *d, const char *why)
{
    const char *m = why ? why : PQerrorMessage(d->pg);
    if (!m || !m[0])
        m = "connection failed";
    snprintf(d->err, sizeof(d->err), "no connection to the server: %.*s", (int)strcspn(m, "\n"),
             m);
    return d->last_class = DB_ERROR;
}

/* The connection, made again if it was lost: outside a transaction of
 * ours only (one cut short is lost with its connection, and its
 * statements must not run on in another).  DB_OK, or DB_ERROR with
 * d->err (not yet: the next call goes on with it). */
static int pg_ensure(struct db *d)
{
    uint64_t now, until;
    PGresult *r;

    if (!d->resetting && PQstatus(d->pg) == CONNECTION_OK && !d->unset)
        return DB_OK;
    if (d->txn) {
        snprintf(d->err, sizeof(d->err), "the connection to the server was lost in a transaction");
        return d->last_class = DB_ERROR;
    }
    now = vg_time_mono_ms();
    if (!d->resetting) {
        if (now < d->retry_ms) {
            snprintf(d->err, sizeof(d->err),
                     "no connection to the server (trying again within %u s)",
                     (unsigned)((d->retry_ms - now + 999) / 1000));
            return d->last_class = DB_ERROR;
        }
        d->retry_ms = now + PG_RETRY_MS;
        if (!PQresetStart(d->pg))
            return pg_lost(d, NULL);
        d->resetting = 1;
        d->reset_end_ms = now + PG_RECONNECT_MS;
        d->poll_st = PGRES_POLLING_WRITING;
    }
    until = now + PG_STEP_MS;
    while (d->poll_st != PGRES_POLLING_OK) {
        struct pollfd p = {.fd = PQsocket(d->pg)};
        int n;
        now = vg_time_mono_ms();
        if (d->poll_st == PGRES_POLLING_FAILED || p.fd < 0 || now >= d->reset_end_ms) {
            d->resetting = 0;
            d->retry_ms = now + PG_RETRY_MS;
            return pg_lost(d, now >= d->reset_end_ms && d->poll_st != PGRES_POLLING_FAILED
                                  ? "connection timed out"
                                  : NULL);
        }
        if (now >= until) {
            snprintf(d->err, sizeof(d->err), "no connection to the server (connecting)");
            return d->last_class = DB_ERROR;
        }
        p.events = d->poll_st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        n = poll(&p, 1, (int)(until - now));
        if (n < 0 && errno != EINTR) {
            d->poll_st = PGRES_POLLING_FAILED;
            continue;
        }
        if (n > 0)
            d->poll_st = PQresetPoll(d->pg);
    }
    d->resetting = 0;
    d->gen++; /* every statement is prepared again on this one */
    d->unset = 0;
    if (d->session) {
        r = PQexec(d->pg, d->session);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            int rc = pg_fail(d, r);
            PQclear(r);
            d->unset = 1; /* not a session without its settings: the next attempt resets it */
            return rc;
        }
        PQclear(r);
    }
    log_info("[store] connection to PostgreSQL made again (%s:%s)", PQhost(d->pg),
             PQport(d->pg));
    return DB_OK;
}

int db_session(struct db *d, const char *sql)
{
    size_t have = d->session ? strlen(d->session) : 0, len = strlen(sql);
    char *n;
    int rc = db_exec(d, sql);

    if (d->kind != DB_PG || rc != DB_OK)
        return rc;
    if (!(n = realloc(d->session, have + len + 2)))
        return DB_OK; /* set now; not again after a reconnection */
    if (have)
        n[have++] = ';';
    memcpy(n + have, sql, len + 1);
    d->session = n;
    return DB_OK;
}

int db_exec(struct db *d, const char *sql)
{
    PGresult *r;
    int rc;

    if (d->kind == DB_SQLITE)
        return lite_class(sqlite3_exec(d->lite, sql, NULL, NULL, NULL));
    if ((rc = pg_ensure(d)) != DB_OK)
        return rc;
    r = PQexec(d->pg, sql);
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        set_changes(d, r);
        rc = DB_OK;
        break;
    default: rc = pg_fail(d, r); break;
    }
    PQclear(r);
    return rc;
}

static int begin(struct db *d, const char *sql)
{
    int rc = db_exec(d, sql);
    if (rc == DB_OK)
        d->txn = 1;
    return rc;
}

int db_begin(struct db *d)
{
    return begin(d, d->kind == DB_PG ? "BEGIN" : "BEGIN IMMEDIATE");
}

int db_begin_read(struct db *d)
{
    return begin(d, "BEGIN");
}

int db_commit(struct db *d)
{
    PGresult *r;
    int rc = DB_OK;

    d->txn = 0;
    if (d->kind == DB_SQLITE)
        return db_exec(d, "COMMIT");
    if (PQstatus(d->pg) != CONNECTION_OK) {
        snprintf(d->err, sizeof(d->err), "the connection to the server was lost in a transaction");
        return d->last_class = DB_ERROR;
    }
    r = PQexec(d->pg, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_fail(d, r);
    } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        snprintf(d->err, sizeof(d->err), "the transaction was rolled back (an earlier statement "
                 "in it failed)");
        d->last_class = rc = DB_ERROR;
    }
    PQclear(r);
    return rc;
}

void db_rollback(struct db *d)
{
    d->txn = 0;
    /* A lost connection took its transaction with it. */
    if (d->kind == DB_PG && PQstatus(d->pg) != CONNECTION_OK)
        return;
    db_exec(d, "ROLLBACK");
}

/* ---- statements ---- */

/* sql with ?N as $N, and the highest N in *nparams.  A bare ? takes the
 * next number, as in SQLite.  Quoted text and identifiers are copied as
 * they are. */
static char *pg_sql(const char *sql, int *nparams)
{
    size_t len = strlen(sql), cap = len * 5 + 1;
    char *out = malloc(cap), *o = out;
    int max = 0, next = 1;
    char quote = 0;

    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?') {
            long n;
            if (isdigit((unsigned char)p[1])) {
                char *end;
                n = strtol(p + 1, &end, 10);
                p = end - 1;
            } else {
                n = next;
            }
            if (n < 1 || n > DB_MAX_PARAMS) {
                free(out);
                return NULL;
            }
            next = (int)n + 1;
            if (n > max)
                max = (int)n;
            /* "?N" becomes "$N" (as long), a bare "?" at most "$4096": 5 * len. */
            o += snprintf(o, cap - (size_t)(o - out), "$%ld", n);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *nparams = max;
    return out;
}

int db_prepare(struct db *d, const char *sql, struct db_stmt **out)
{
    struct db_stmt *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (!st) {
        snprintf(d->err, sizeof(d->err), "out of memory");
        return DB_ERROR;
    }
    st->d = d;
    if (d->kind == DB_SQLITE) {
        int rc = sqlite3_prepare_v2(d->lite, sql, -1, &st->lite, NULL);
        if (rc != SQLITE_OK) {
            free(st);
            return lite_class(rc);
        }
        *out = st;
        return DB_OK;
    }
    st->sql = pg_sql(sql, &st->nparams);
    if (!st->sql) {
        snprintf(d->err, sizeof(d->err), "a parameter number out of range in: %.200s", sql);
        free(st);
        return DB_ERROR;
    }
    snprintf(st->name, sizeof(st->name), "s%u", ++d->next_name);
    if (st->nparams) {
        st->vals = calloc((size_t)st->nparams, sizeof(*st->vals));
        st->lens = calloc((size_t)st->nparams, sizeof(*st->lens));
        st->fmts = calloc((size_t)st->nparams, sizeof(*st->fmts));
        st->types = calloc((size_t)st->nparams, sizeof(*st->types));
        if (!st->vals || !st->lens || !st->fmts || !st->types) {
            snprintf(d->err, sizeof(d->err), "out of memory");
            st->nparams = 0; /* nothing bound to free */
            db_finalize(st);
            return DB_ERROR;
        }
    }
    *out = st;
    return DB_OK;
}

static void pg_blobs_free(struct db_stmt *st)
{
    for (int i = 0; i < st->nblobs; i++) {
        free(st->blobs[i]);
        st->blobs[i] = NULL;
    }
}

static void pg_result_clear(struct db_stmt *st)
{
    pg_blobs_free(st);
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = st->ran = 0;
}

void db_finalize(struct db_stmt *st)
{
    if (!st)
        return;
    if (st->lite)
        sqlite3_finalize(st->lite);
    if (st->d->kind == DB_PG) {
        pg_result_clear(st);
        db_clear_bindings(st);
        if (st->prepared && st->gen == st->d->gen && PQstatus(st->d->pg) == CONNECTION_OK) {
            char sql[40];
            snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
            PQclear(PQexec(st->d->pg, sql));
        }
    }
    free(st->vals);
    free(st->lens);
    free(st->fmts);
    free(st->types);
    free(st->sql);
    free(st->blobs);
    free(st);
}

void db_reset(struct db_stmt *st)
{
    if (st->lite)
        sqlite3_reset(st->lite);
    else
        pg_result_clear(st);
}

void db_clear_bindings(struct db_stmt *st)
{
    if (st->lite) {
        sqlite3_clear_bindings(st->lite);
        return;
    }
    for (int i = 0; i < st->nparams; i++) {
        free(st->vals[i]);
        st->vals[i] = NULL;
        st->lens[i] = st->fmts[i] = 0;
    }
}

/* Parameter i (from 1) of a PostgreSQL statement, its old value freed. */
static int pg_param(struct db_stmt *st, int i)
{
    if (i < 1 || i > st->nparams) {
        snprintf(st->d->err, sizeof(st->d->err), "no parameter ?%d in: %.200s", i, st->sql);
        return -1;
    }
    free(st->vals[i - 1]);
    st->vals[i - 1] = NULL;
    return i - 1;
}

/* The type a parameter is prepared with: the first bound to it. */
static void pg_type(struct db_stmt *st, int k, Oid t)
{
    if (!st->prepared && !st->types[k])
        st->types[k] = t;
}

static int pg_bind_str(struct db_stmt *st, int i, const char *v, size_t n, int fmt, Oid t)
{
    int k = pg_param(st, i);
    if (k < 0)
        return DB_ERROR;
    st->vals[k] = malloc(n + 1);
    if (!st->vals[k])
        return DB_ERROR;
    memcpy(st->vals[k], v, n);
    st->vals[k][n] = '\0';
    st->lens[k] = (int)n;
    st->fmts[k] = fmt;
    pg_type(st, k, t);
    return DB_OK;
}

/* A NULL of a known type: "?1 IS NULL OR col = ?1" has no other way to
 * tell the server what ?1 is. */
static int pg_bind_null(struct db_stmt *st, int i, Oid t)
{
    int k = pg_param(st, i);
    if (k < 0)
        return DB_ERROR;
    pg_type(st, k, t);
    return DB_OK;
}

int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    char b[24];
    if (st->lite)
        return lite_class(sqlite3_bind_int64(st->lite, i, v));
    return pg_bind_str(st, i, b, (size_t)snprintf(b, sizeof(b), "%" PRId64, v), 0, OID_INT8);
}

int db_bind_double(struct db_stmt *st, int i, double v)
{
    char b[40];
    if (st->lite)
        return lite_class(sqlite3_bind_double(st->lite, i, v));
    return pg_bind_str(st, i, b, (size_t)snprintf(b, sizeof(b), "%.17g", v), 0, OID_FLOAT8);
}

int db_bind_text(struct db_stmt *st, int i, const char *v, int n)
{
    if (st->lite)
        return lite_class(sqlite3_bind_text(st->lite, i, v, n, SQLITE_TRANSIENT));
    if (!v)
        return pg_bind_null(st, i, OID_TEXT);
    {
        /* PostgreSQL refuses text that is not UTF-8 (and the whole
         * transaction with it), where SQLite keeps the bytes: a process
         * name is whatever bytes its file's name had.  Those bytes become
         * U+FFFD; paths and arguments are bytea and kept exactly. */
        size_t len = n < 0 ? strlen(v) : (size_t)n, fixed_len;
        char *fixed = vg_utf8_replace(v, len, &fixed_len);
        int rc;
        if (!fixed && fixed_len == 0)
            return pg_bind_str(st, i, v, len, 0, OID_TEXT);
        if (!fixed) {
            (void)pg_bind_null(st, i, OID_TEXT); /* not the value bound before */
            return DB_ERROR;
        }
        rc = pg_bind_str(st, i, fixed, fixed_len, 0, OID_TEXT);
        free(fixed);
        return rc;
    }
}

int db_bind_blob(struct db_stmt *st, int i, const void *v, int n)
{
    if (st->lite)
        return lite_class(sqlite3_bind_blob(st->lite, i, v, n, SQLITE_TRANSIENT));
    if (!v)
        return pg_bind_null(st, i, OID_BYTEA);
    return pg_bind_str(st, i, v, (size_t)n, 1, OID_BYTEA);
}

int db_bind_null(struct db_stmt *st, int i)
{
    if (st->lite)
        return lite_class(sqlite3_bind_null(st->lite, i));
    return pg_param(st, i) < 0 ? DB_ERROR : DB_OK;
}

static int pg_run(struct db_stmt *st)
{
    struct db *d = st->d;
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(d)) != DB_OK)
        return rc;
    if (!st->prepared || st->gen != d->gen) {
        r = PQprepare(d->pg, st->name, st->sql, st->nparams, st->types);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = pg_fail(d, r);
            PQclear(r);
            return rc;
        }
        PQclear(r);
        st->prepared = 1;
        st->gen = d->gen;
    }
    r = PQexecPrepared(d->pg, st->name, st->nparams, (const char *const *)st->vals, st->lens,
                       st->fmts, 0);
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
        set_changes(d, r);
        PQclear(r);
        st->ran = 1;
        return DB_DONE;
    case PGRES_TUPLES_OK:
        set_changes(d, r);
        st->res = r;
        st->nrows = PQntuples(r);
        st->row = -1;
        st->ran = 1;
        return DB_ROW;
    default:
        rc = pg_fail(d, r);
        PQclear(r);
        return rc;
    }
}

int db_step(struct db_stmt *st)
{
    if (st->lite)
        return lite_class(sqlite3_step(st->lite));
    if (!st->ran) {
        int rc = pg_run(st);
        if (rc != DB_ROW)
            return rc;
    }
    if (!st->res)
        return DB_DONE;
    if (st->row + 1 >= st->nrows) {
        st->row = st->nrows;
        return DB_DONE;
    }
    st->row++;
    return DB_ROW;
}

/* ---- columns ---- */

static int pg_cell(struct db_stmt *st, int i)
{
    return st->res && st->row >= 0 && st->row < st->nrows && i >= 0 && i < PQnfields(st->res);
}

int db_column_type(struct db_stmt *st, int i)
{
    if (st->lite) {
        switch (sqlite3_column_type(st->lite, i)) {
        case SQLITE_INTEGER: return DB_INTEGER;
        case SQLITE_FLOAT: return DB_FLOAT;
        case SQLITE_TEXT: return DB_TEXT;
        case SQLITE_BLOB: return DB_BLOB;
        default: return DB_NULL;
        }
    }
    if (!pg_cell(st, i) || PQgetisnull(st->res, st->row, i))
        return DB_NULL;
    switch (PQftype(st->res, i)) {
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8: return DB_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC: return DB_FLOAT;
    case OID_BYTEA: return DB_BLOB;
    default: return DB_TEXT;
    }
}

int64_t db_column_int64(struct db_stmt *st, int i)
{
    const char *v;
    if (st->lite)
        return sqlite3_column_int64(st->lite, i);
    if (!pg_cell(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    v = PQgetvalue(st->res, st->row, i);
    if (PQftype(st->res, i) == OID_BOOL)
        return v[0] == 't';
    if (PQftype(st->res, i) == OID_NUMERIC || PQftype(st->res, i) == OID_FLOAT8 ||
        PQftype(st->res, i) == OID_FLOAT4)
        return (int64_t)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

double db_column_double(struct db_stmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_double(st->lite, i);
    if (!pg_cell(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    return strtod(PQgetvalue(st->res, st->row, i), NULL);
}

const char *db_column_text(struct db_stmt *st, int i)
{
    if (st->lite)
        return (const char *)sqlite3_column_text(st->lite, i);
    if (!pg_cell(st, i) || PQgetisnull(st->res, st->row, i))
        return NULL;
    if (PQftype(st->res, i) == OID_BOOL)
        return PQgetvalue(st->res, st->row, i)[0] == 't' ? "1" : "0";
    return PQgetvalue(st->res, st->row, i);
}

/* A bytea column in text form (\x and hex digits), decoded; NULL for a
 * NULL or on failure. */
static const unsigned char *pg_blob(struct db_stmt *st, int i)
{
    const char *v;
    size_t n, len;
    unsigned char *b;

    if (!pg_cell(st, i) || PQgetisnull(st->res, st->row, i))
        return NULL;
    if (st->blob_row != st->row)
        pg_blobs_free(st); /* the row's, now the last step's */
    st->blob_row = st->row;
    if (i >= st->nblobs) {
        int n_fields = PQnfields(st->res);
        unsigned char **nb = realloc(st->blobs, (size_t)n_fields * sizeof(*nb));
        if (!nb)
            return NULL;
        for (int k = st->nblobs; k < n_fields; k++)
            nb[k] = NULL;
        st->blobs = nb;
        st->nblobs = n_fields;
    }
    if (st->blobs[i])
        return st->blobs[i]; /* read before on this row */
    v = PQgetvalue(st->res, st->row, i);
    n = (size_t)PQgetlength(st->res, st->row, i);
    if (PQftype(st->res, i) != OID_BYTEA || n < 2 || v[0] != '\\' || v[1] != 'x') {
        if (!(b = malloc(n + 1))) /* text read as bytes, as SQLite does */
            return NULL;
        memcpy(b, v, n);
    } else if (!(b = malloc(n / 2 + 1)) || vg_unhex(v + 2, b, n / 2, &len) != 0) {
        free(b);
        return NULL;
    }
    return st->blobs[i] = b;
}

const void *db_column_blob(struct db_stmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_blob(st->lite, i);
    return pg_blob(st, i);
}

int db_column_bytes(struct db_stmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_bytes(st->lite, i);
    if (!pg_cell(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    if (PQftype(st->res, i) == OID_BYTEA) {
        int n = PQgetlength(st->res, st->row, i);
        return n >= 2 ? (n - 2) / 2 : 0;
    }
    return PQgetlength(st->res, st->row, i);
}

/* ---- many rows ---- */

#define OID_BYTEA_ARRAY 1001
#define OID_TEXT_ARRAY 1009
#define OID_INT8_ARRAY 1016
/* The most one column array holds: a flush at DB_ROWS_FLUSH_BYTES, plus
 * the largest single value (an event body, at most 16 MiB). */
#define DB_ROWS_COL_MAX (64u << 20)

/* A column array in PostgreSQL's binary array format (array_send):
 *
 *   +-------+-------+--------+-------+--------+---------------------+
 *   | ndim  | flags | elem   | count | lbound | elements...         |
 *   | = 1   | nulls | type   |       | = 1    | len (-1: NULL), data|
 *   +-------+-------+--------+-------+--------+---------------------+
 *     int32   int32   OID      int32   int32    int32 + len bytes each
 *
 * all big-endian; the header is written when the column is bound. */
#define ARRAY_HDR 20

struct db_rows {
    struct db *d;
    struct db_stmt *one;  /* SQLite: borrowed */
    struct db_stmt *many; /* PostgreSQL */
    int ncols, max_rows;
    int n;                /* rows ended, not yet stored */
    int in_row;           /* SQLite: a row's first column is bound */
    int failed;           /* a value of the row could not be added: its class */
    size_t bytes;         /* values gathered */
    char *types;
    struct vg_buf *cols;
    int *count;           /* values of each column gathered */
    unsigned char *nulls; /* a column holds a NULL */
};

int db_rows_prepare(struct db *d, struct db_stmt *one, const char *many, const char *types,
                    int max_rows, struct db_rows **out)
{
    struct db_rows *r = calloc(1, sizeof(*r));
    int n = (int)strlen(types);

    *out = NULL;
    if (!r)
        goto oom;
    r->d = d;
    r->one = one;
    r->ncols = n;
    r->max_rows = max_rows > 0 ? max_rows : 1;
    if (d->kind == DB_SQLITE) {
        *out = r;
        return DB_OK;
    }
    r->types = strdup(types);
    r->cols = calloc((size_t)n, sizeof(*r->cols));
    r->count = calloc((size_t)n, sizeof(*r->count));
    r->nulls = calloc((size_t)n, 1);
    if (!r->types || !r->cols || !r->count || !r->nulls)
        goto oom;
    for (int i = 0; i < n; i++) {
        if (types[i] != 'i' && types[i] != 't' && types[i] != 'b') {
            snprintf(d->err, sizeof(d->err), "db_rows: column type '%c' unknown", types[i]);
            db_rows_finalize(r);
            return DB_ERROR;
        }
        vg_buf_init(&r->cols[i], DB_ROWS_COL_MAX);
    }
    if (db_prepare(d, many, &r->many) != DB_OK) {
        db_rows_finalize(r);
        return DB_ERROR;
    }
    if (r->many->nparams != n) {
        snprintf(d->err, sizeof(d->err), "db_rows: %d columns, %d parameters in: %.200s", n,
                 r->many->nparams, many);
        db_rows_finalize(r);
        return DB_ERROR;
    }
    *out = r;
    return DB_OK;
oom:
    snprintf(d->err, sizeof(d->err), "out of memory");
    db_rows_finalize(r);
    return DB_ERROR;
}

void db_rows_finalize(struct db_rows *r)
{
    if (!r)
        return;
    db_finalize(r->many);
    for (int i = 0; r->cols && i < r->ncols; i++)
        vg_buf_free(&r->cols[i]);
    free(r->cols);
    free(r->count);
    free(r->nulls);
    free(r->types);
    free(r);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* SQLite: the statement of a new row starts clean. */
static struct db_stmt *lite_row(struct db_rows *r)
{
    if (!r->in_row) {
        db_reset(r->one);
        db_clear_bindings(r->one);
        r->in_row = 1;
    }
    return r->one;
}

/* PostgreSQL: one value (v NULL: a NULL) appended to column i's array. */
static int rows_add(struct db_rows *r, int i, char type, const void *v, size_t n)
{
    static const unsigned char hdr[ARRAY_HDR];
    struct vg_buf *b;
    unsigned char len[4];
    int rc;

    if (i < 1 || i > r->ncols || r->types[i - 1] != type) {
        snprintf(r->d->err, sizeof(r->d->err), "db_rows: no column %d of type '%c'", i, type);
        if (!r->failed)
            r->failed = DB_ERROR;
        return r->d->last_class = DB_ERROR;
    }
    b = &r->cols[i - 1];
    if (n > INT32_MAX) {
        rc = VG_ETOOBIG;
        goto fail;
    }
    if (b->len == 0 && (rc = vg_buf_append(b, hdr, sizeof(hdr))) != 0)
        goto fail;
    put32(len, v ? (uint32_t)n : 0xffffffffu);
    if ((rc = vg_buf_reserve(b, 4 + (v ? n : 0))) != 0)
        goto fail;
    vg_buf_append(b, len, 4);
    if (v && n)
        vg_buf_append(b, v, n);
    if (!v)
        r->nulls[i - 1] = 1;
    r->count[i - 1]++;
    r->bytes += 4 + (v ? n : 0);
    return DB_OK;
fail:
    snprintf(r->d->err, sizeof(r->d->err), "db_rows: a value of %zu bytes: %s", n,
             rc == VG_ETOOBIG ? "over the gathering limit" : "out of memory");
    if (!r->failed)
        r->failed = rc == VG_ETOOBIG ? DB_TOOBIG : DB_ERROR;
    return r->d->last_class = r->failed;
}

int db_rows_int64(struct db_rows *r, int i, int64_t v)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;

    if (r->d->kind == DB_SQLITE)
        return db_bind_int64(lite_row(r), i, v);
    for (int k = 7; k >= 0; k--, u >>= 8)
        b[k] = (unsigned char)u;
    return rows_add(r, i, 'i', b, sizeof(b));
}

int db_rows_text(struct db_rows *r, int i, const char *v, int n)
{
    size_t len, fixed_len;
    char *fixed;
    int rc;

    /* In place, not copied: v stays until db_rows_end() steps. */
    if (r->d->kind == DB_SQLITE)
        return lite_class(sqlite3_bind_text(lite_row(r)->lite, i, v, n, SQLITE_STATIC));
    if (!v)
        return rows_add(r, i, 't', NULL, 0);
    /* Not UTF-8: as db_bind_text() (the server refuses such text). */
    len = n < 0 ? strlen(v) : (size_t)n;
    fixed = vg_utf8_replace(v, len, &fixed_len);
    if (!fixed && fixed_len == 0)
        return rows_add(r, i, 't', v, len);
    if (!fixed) {
        snprintf(r->d->err, sizeof(r->d->err), "out of memory");
        if (!r->failed)
            r->failed = DB_ERROR;
        return r->d->last_class = DB_ERROR;
    }
    rc = rows_add(r, i, 't', fixed, fixed_len);
    free(fixed);
    return rc;
}

int db_rows_blob(struct db_rows *r, int i, const void *v, int n)
{
    if (r->d->kind == DB_SQLITE)
        return lite_class(sqlite3_bind_blob(lite_row(r)->lite, i, v, n, SQLITE_STATIC));
    return rows_add(r, i, 'b', v, v ? (size_t)n : 0);
}

int db_rows_null(struct db_rows *r, int i)
{
    if (r->d->kind == DB_SQLITE)
        return db_bind_null(lite_row(r), i);
    if (i < 1 || i > r->ncols)
        return rows_add(r, i, '?', NULL, 0);
    return rows_add(r, i, r->types[i - 1], NULL, 0);
}

int db_rows_end(struct db_rows *r)
{
    if (r->d->kind == DB_SQLITE) {
        r->in_row = 0;
        return db_step(r->one);
    }
    if (r->failed) {
        /* d->err still says why (nothing ran since). */
        int rc = r->failed;
        db_rows_discard(r);
        return r->d->last_class = rc;
    }
    /* (A column may be filled for all rows later, before the flush.) */
    for (int i = 0; i < r->ncols; i++) {
        if (r->count[i] > r->n + 1) {
            snprintf(r->d->err, sizeof(r->d->err), "db_rows: row %d has column %d twice", r->n,
                     i + 1);
            db_rows_discard(r);
            return r->d->last_class = DB_ERROR;
        }
    }
    r->n++;
    return DB_DONE;
}

int db_rows_full(const struct db_rows *r)
{
    return r->n >= r->max_rows || r->bytes >= DB_ROWS_FLUSH_BYTES;
}

int db_rows_flush(struct db_rows *r)
{
    static const Oid elem[] = { ['i'] = OID_INT8, ['t'] = OID_TEXT, ['b'] = OID_BYTEA };
    static const Oid arr[] = { ['i'] = OID_INT8_ARRAY, ['t'] = OID_TEXT_ARRAY,
                               ['b'] = OID_BYTEA_ARRAY };
    int rc = DB_DONE;

    if (r->d->kind == DB_SQLITE || r->n == 0)
        return DB_DONE;
    for (int i = 0; i < r->ncols; i++) {
        if (r->count[i] != r->n) {
            snprintf(r->d->err, sizeof(r->d->err), "db_rows: %d values of column %d for %d rows",
                     r->count[i], i + 1, r->n);
            db_rows_discard(r);
            return r->d->last_class = DB_ERROR;
        }
    }
    db_reset(r->many);
    db_clear_bindings(r->many);
    for (int i = 0; i < r->ncols && rc == DB_DONE; i++) {
        struct vg_buf *b = &r->cols[i];
        unsigned char t = (unsigned char)r->types[i];
        put32(b->data, 1);
        put32(b->data + 4, r->nulls[i]);
        put32(b->data + 8, elem[t]);
        put32(b->data + 12, (uint32_t)r->n);
        put32(b->data + 16, 1);
        if (pg_bind_str(r->many, i + 1, (const char *)b->data, b->len, 1, arr[t]) != DB_OK) {
            snprintf(r->d->err, sizeof(r->d->err), "out of memory");
            rc = r->d->last_class = DB_ERROR;
        }
    }
    if (rc == DB_DONE)
        rc = db_step(r->many);
    db_reset(r->many);
    db_clear_bindings(r->many);
    db_rows_discard(r);
    return rc;
}

void db_rows_discard(struct db_rows *r)
{
    if (r->d->kind == DB_SQLITE) {
        r->in_row = 0;
        return;
    }
    for (int i = 0; i < r->ncols; i++) {
        vg_buf_reset(&r->cols[i]);
        /* A batch of large bodies (an inventory of some MiB) does not
         * stay resident for the life of the connection. */
        vg_buf_shrink(&r->cols[i]);
        r->count[i] = 0;
        r->nulls[i] = 0;
    }
    r->n = 0;
    r->bytes = 0;
    r->failed = 0;
}

int db_rows_pending(const struct db_rows *r)
{
    return r->n;
}
