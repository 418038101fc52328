/* The database layer (collector/db.c) against a real SQLite file and a
 * real PostgreSQL server: the same SQL, parameters and results on both.
 * The server is $VIGIL_TEST_PG_URL, or one started here with
 * tests/pg-server.sh (Debian's postgresql-15; the PostgreSQL cases are
 * skipped, saying so, where it is not installed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../collector/db.h"

#define TMPDIR_TAG "db"
#include "tmpdir.h"

static char pg_url[512], pg_dir[PATH_MAX + 8];
static int pg_port;

static struct db *open_lite(void)
{
    char path[PATH_MAX + 16], err[256];
    struct db *d = NULL;
    snprintf(path, sizeof(path), "%s/t.db", tmpdir);
    unlink(path);
    assert_int_equal(db_open(path, 0, &d, err, sizeof(err)), DB_OK);
    assert_int_equal(db_kind(d), DB_SQLITE);
    return d;
}

/* A fresh database on the server for each test. */
static struct db *open_pg(const char *name)
{
    char url[600], sql[200], err[256];
    struct db *admin = NULL, *d = NULL;

    snprintf(url, sizeof(url), "%spostgres", pg_url);
    assert_int_equal(db_open(url, 0, &admin, err, sizeof(err)), DB_OK);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    assert_int_equal(db_exec(admin, sql), DB_OK);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    assert_int_equal(db_exec(admin, sql), DB_OK);
    db_close(admin);
    snprintf(url, sizeof(url), "%s%s", pg_url, name);
    assert_int_equal(db_open(url, 0, &d, err, sizeof(err)), DB_OK);
    assert_int_equal(db_kind(d), DB_PG);
    return d;
}

static int have_pg(void)
{
    if (!pg_url[0])
        print_message("SKIP PostgreSQL cases: no server (install postgresql-15, or set "
                      "VIGIL_TEST_PG_URL)\n");
    return pg_url[0] != 0;
}

/* The table both back ends use: an id the database assigns, a unique key,
 * text, bytes and a nullable integer. */
static void schema(struct db *d)
{
    const char *id = db_kind(d) == DB_PG ? "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
                                         : "INTEGER PRIMARY KEY";
    const char *blob = db_kind(d) == DB_PG ? "BYTEA" : "BLOB";
    char sql[400];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE t(id %s, k TEXT NOT NULL UNIQUE, n BIGINT, b %s, x BIGINT);"
             "CREATE TABLE u(a BIGINT NOT NULL, v TEXT)",
             id, blob);
    assert_int_equal(db_exec(d, sql), DB_OK);
}

/* Parameters out of order and repeated, ON CONFLICT, RETURNING, changes,
 * NULL, blobs with NUL bytes, aggregates and booleans as integers. */
static void basics(struct db *d)
{
    struct db_stmt *ins = NULL, *sel = NULL, *agg = NULL;
    static const unsigned char bytes[5] = { 0, 1, 0xff, 0, 7 };
    int64_t id1, id2;

    schema(d);
    assert_int_equal(db_prepare(d,
                                "INSERT INTO t(k, n, b, x) VALUES(?2, ?1, ?3, ?1 * 2)"
                                " ON CONFLICT(k) DO UPDATE SET n = excluded.n RETURNING id",
                                &ins),
                     DB_OK);
    db_bind_int64(ins, 1, 40);
    db_bind_text(ins, 2, "alpha", -1);
    db_bind_blob(ins, 3, bytes, sizeof(bytes));
    assert_int_equal(db_step(ins), DB_ROW);
    id1 = db_column_int64(ins, 0);
    assert_true(id1 > 0);
    assert_int_equal(db_step(ins), DB_DONE);
    db_reset(ins);
    db_clear_bindings(ins);
    db_bind_int64(ins, 1, -5);
    db_bind_text(ins, 2, "beta", -1);
    db_bind_null(ins, 3);
    assert_int_equal(db_step(ins), DB_ROW);
    id2 = db_column_int64(ins, 0);
    assert_true(id2 > id1);
    db_reset(ins);
    /* The same key again: an update, the same id. */
    db_bind_int64(ins, 1, 41);
    db_bind_text(ins, 2, "alpha", 5);
    db_bind_null(ins, 3);
    assert_int_equal(db_step(ins), DB_ROW);
    assert_int_equal(db_column_int64(ins, 0), id1);
    db_finalize(ins);

    assert_int_equal(db_prepare(d, "SELECT k, n, b, x, n > 0, id FROM t WHERE id = ?1", &sel),
                     DB_OK);
    db_bind_int64(sel, 1, id1);
    assert_int_equal(db_step(sel), DB_ROW);
    assert_string_equal(db_column_text(sel, 0), "alpha");
    assert_int_equal(db_column_int64(sel, 1), 41);
    assert_int_equal(db_column_type(sel, 2), DB_BLOB);
    assert_int_equal(db_column_bytes(sel, 2), 5);
    assert_memory_equal(db_column_blob(sel, 2), bytes, 5);
    assert_int_equal(db_column_int64(sel, 3), 80);
    assert_int_equal(db_column_int64(sel, 4), 1);
    assert_int_equal(db_column_type(sel, 5), DB_INTEGER);
    assert_int_equal(db_step(sel), DB_DONE);
    db_reset(sel);
    db_bind_int64(sel, 1, id2);
    assert_int_equal(db_step(sel), DB_ROW);
    assert_int_equal(db_column_type(sel, 2), DB_NULL);
    assert_null(db_column_blob(sel, 2));
    assert_int_equal(db_column_bytes(sel, 2), 0);
    assert_int_equal(db_column_int64(sel, 1), -5);
    assert_int_equal(db_column_int64(sel, 4), 0);
    db_reset(sel);
    db_bind_int64(sel, 1, 999);
    assert_int_equal(db_step(sel), DB_DONE);
    db_finalize(sel);

    assert_int_equal(db_exec(d, "INSERT INTO t(k) VALUES('gamma') ON CONFLICT DO NOTHING"),
                     DB_OK);
    assert_int_equal(db_changes(d), 1);
    assert_int_equal(db_exec(d, "INSERT INTO t(k) VALUES('gamma') ON CONFLICT DO NOTHING"),
                     DB_OK);
    assert_int_equal(db_changes(d), 0);
    assert_int_equal(db_prepare(d, "SELECT count(*), sum(n), max(k), coalesce(sum(x), 0)"
                                   " FROM t WHERE k <> ?",
                                &agg),
                     DB_OK);
    db_bind_text(agg, 1, "nothing", -1);
    assert_int_equal(db_step(agg), DB_ROW);
    assert_int_equal(db_column_int64(agg, 0), 3);
    assert_int_equal(db_column_int64(agg, 1), 36);
    assert_string_equal(db_column_text(agg, 2), "gamma");
    assert_int_equal(db_column_int64(agg, 3), 70);
    db_finalize(agg);
    /* An optional filter whose first run binds a NULL: its type comes from
     * the bind (PostgreSQL cannot tell it from the statement). */
    assert_int_equal(db_prepare(d, "SELECT count(*) FROM t WHERE ?1 IS NULL OR k = ?1", &agg),
                     DB_OK);
    db_bind_text(agg, 1, NULL, -1);
    assert_int_equal(db_step(agg), DB_ROW);
    assert_int_equal(db_column_int64(agg, 0), 3);
    db_reset(agg);
    db_bind_text(agg, 1, "alpha", -1);
    assert_int_equal(db_step(agg), DB_ROW);
    assert_int_equal(db_column_int64(agg, 0), 1);
    db_finalize(agg);
}

/* Transactions: a unique violation is DB_CONSTRAINT; inside a savepoint it
 * is undone alone and the transaction goes on; commit keeps the rest. */
static void transactions(struct db *d)
{
    struct db_stmt *ins = NULL, *cnt = NULL;

    schema(d);
    assert_int_equal(db_prepare(d, "INSERT INTO t(k) VALUES(?1)", &ins), DB_OK);
    assert_int_equal(db_in_txn(d), 0);
    assert_int_equal(db_exec(d, "BEGIN"), DB_OK);
    assert_int_equal(db_in_txn(d), 1);
    db_bind_text(ins, 1, "one", -1);
    assert_int_equal(db_step(ins), DB_DONE);
    assert_int_equal(db_changes(d), 1);
    db_reset(ins);
    assert_int_equal(db_exec(d, "SAVEPOINT b"), DB_OK);
    assert_int_equal(db_step(ins), DB_CONSTRAINT);
    assert_non_null(strstr(db_errmsg(d), db_kind(d) == DB_PG ? "duplicate key" : "UNIQUE"));
    db_reset(ins);
    assert_int_equal(db_exec(d, "ROLLBACK TO b; RELEASE b"), DB_OK);
    assert_int_equal(db_txn_failed(d), 0);
    db_bind_text(ins, 1, "two", -1);
    assert_int_equal(db_step(ins), DB_DONE);
    db_reset(ins);
    assert_int_equal(db_exec(d, "COMMIT"), DB_OK);
    assert_int_equal(db_in_txn(d), 0);
    /* A statement that does not parse, and a wrong parameter number. */
    assert_int_equal(db_exec(d, "SELEC 1"), DB_ERROR);
    assert_true(strlen(db_errmsg(d)) > 0);
    assert_int_equal(db_prepare(d, "SELECT count(*) FROM t", &cnt), DB_OK);
    assert_int_equal(db_step(cnt), DB_ROW);
    assert_int_equal(db_column_int64(cnt, 0), 2);
    db_finalize(cnt);
    if (db_kind(d) == DB_PG)
        assert_int_equal(db_bind_int64(ins, 2, 1), DB_ERROR);
    db_finalize(ins);
}

/* Many rows through one statement: results are read row by row, and a
 * statement reset before its last row is read runs again from the top. */
static void many_rows(struct db *d)
{
    struct db_stmt *ins = NULL, *sel = NULL;
    int64_t n = 0, sum = 0;

    schema(d);
    assert_int_equal(db_exec(d, "BEGIN"), DB_OK);
    assert_int_equal(db_prepare(d, "INSERT INTO u(a, v) VALUES(?1, ?2)", &ins), DB_OK);
    for (int i = 1; i <= 500; i++) {
        db_bind_int64(ins, 1, i);
        db_bind_text(ins, 2, i % 2 ? "odd" : "even", -1);
        assert_int_equal(db_step(ins), DB_DONE);
        db_reset(ins);
    }
    db_finalize(ins);
    assert_int_equal(db_exec(d, "COMMIT"), DB_OK);
    assert_int_equal(db_prepare(d, "SELECT a, v FROM u WHERE v = ?1 ORDER BY a", &sel), DB_OK);
    db_bind_text(sel, 1, "odd", -1);
    assert_int_equal(db_step(sel), DB_ROW);
    assert_int_equal(db_column_int64(sel, 0), 1);
    db_reset(sel); /* early: the next step starts over */
    while (db_step(sel) == DB_ROW) {
        n++;
        sum += db_column_int64(sel, 0);
        assert_string_equal(db_column_text(sel, 1), "odd");
    }
    assert_int_equal(n, 250);
    assert_int_equal(sum, 250 * 250);
    db_finalize(sel);
}

/* Several blob columns of one row are all readable until the next step
 * (the store reads exe, argv and cwd, then uses all three); text that is
 * not UTF-8 is kept by SQLite and stored with U+FFFD by PostgreSQL. */
static void columns(struct db *d)
{
    struct db_stmt *ins = NULL, *sel = NULL;
    const char *blob = db_kind(d) == DB_PG ? "BYTEA" : "BLOB";
    char sql[200];
    int rows = 0;

    snprintf(sql, sizeof(sql), "CREATE TABLE w(id BIGINT, a %s, b %s, c %s, t TEXT)", blob, blob,
             blob);
    assert_int_equal(db_exec(d, sql), DB_OK);
    assert_int_equal(db_prepare(d, "INSERT INTO w VALUES(?1, ?2, ?3, ?4, ?5)", &ins), DB_OK);
    for (int i = 1; i <= 2; i++) {
        char a[8], b[8], c[8];
        snprintf(a, sizeof(a), "a_%d", i);
        snprintf(b, sizeof(b), "bb%d", i);
        snprintf(c, sizeof(c), "ccc%d", i);
        a[1] = '\0'; /* "a\0<i>": a NUL inside */
        db_bind_int64(ins, 1, i);
        db_bind_blob(ins, 2, a, 3);
        db_bind_blob(ins, 3, b, 3);
        db_bind_blob(ins, 4, c, 4);
        db_bind_text(ins, 5, i == 1 ? "vg\xff\xfetool" : "plain", -1);
        assert_int_equal(db_step(ins), DB_DONE);
        db_reset(ins);
    }
    db_finalize(ins);
    assert_int_equal(db_prepare(d, "SELECT id, a, b, c, t FROM w ORDER BY id", &sel), DB_OK);
    while (db_step(sel) == DB_ROW) {
        int64_t i = db_column_int64(sel, 0);
        const char *a = db_column_blob(sel, 1), *b = db_column_blob(sel, 2),
                   *c = db_column_blob(sel, 3), *a2 = db_column_blob(sel, 1);
        char want[8];
        rows++;
        assert_int_equal(db_column_bytes(sel, 1), 3);
        assert_int_equal(db_column_bytes(sel, 2), 3);
        assert_int_equal(db_column_bytes(sel, 3), 4);
        assert_true(a[0] == 'a' && a[1] == '\0' && a[2] == '0' + i);
        snprintf(want, sizeof(want), "bb%d", (int)i);
        assert_memory_equal(b, want, 3);
        snprintf(want, sizeof(want), "ccc%d", (int)i);
        assert_memory_equal(c, want, 4);
        assert_memory_equal(a2, a, 3);
        if (i == 1)
            assert_string_equal(db_column_text(sel, 4), db_kind(d) == DB_PG
                                                            ? "vg\xef\xbf\xbd\xef\xbf\xbdtool"
                                                            : "vg\xff\xfetool");
    }
    assert_int_equal(rows, 2);
    db_finalize(sel);
}

/* Many rows gathered (db_rows): SQLite stores each at its end, PostgreSQL
 * every 3 (max_rows) and at the flush, in order; NULLs of each type, empty
 * and binary blobs, text that is not UTF-8; a row refused (a duplicate
 * key) fails its end or flush and leaves nothing gathered; a row dropped
 * before its end is not stored; a row without a column is refused. */
static void rows_gathered(struct db *d)
{
    static const unsigned char bytes[4] = { 0, 0xff, 0, 9 };
    struct db_stmt *one = NULL, *sel = NULL;
    struct db_rows *r = NULL;
    int pg = db_kind(d) == DB_PG;
    char k[16];

    schema(d);
    assert_int_equal(db_prepare(d, "INSERT INTO t(k, n, b, x) VALUES(?1, ?2, ?3, ?4)", &one),
                     DB_OK);
    assert_int_equal(db_rows_prepare(d, one,
                                     "INSERT INTO t(k, n, b, x) SELECT * FROM unnest(?1::text[],"
                                     " ?2::bigint[], ?3::bytea[], ?4::bigint[])",
                                     "tibi", 3, &r),
                     DB_OK);
    assert_int_equal(db_exec(d, "BEGIN"), DB_OK);
    for (int i = 0; i < 7; i++) {
        snprintf(k, sizeof(k), i == 5 ? "r%d\xff" : "r%d", i);
        db_rows_text(r, 1, k, -1);
        if (i == 2)
            db_rows_null(r, 2);
        else
            db_rows_int64(r, 2, -i);
        if (i == 3)
            db_rows_blob(r, 3, NULL, 0);
        else
            db_rows_blob(r, 3, i == 4 ? (const void *)"" : bytes, i == 4 ? 0 : (int)sizeof(bytes));
        db_rows_int64(r, 4, INT64_MAX - i);
        assert_int_equal(db_rows_end(r), DB_DONE);
        assert_int_equal(db_rows_full(r), pg && i % 3 == 2);
        if (db_rows_full(r))
            assert_int_equal(db_rows_flush(r), DB_DONE);
    }
    assert_int_equal(db_rows_pending(r), pg ? 1 : 0);
    assert_int_equal(db_rows_flush(r), DB_DONE);
    assert_int_equal(db_rows_pending(r), 0);
    assert_int_equal(db_exec(d, "COMMIT"), DB_OK);

    assert_int_equal(db_prepare(d, "SELECT k, n, b, x FROM t ORDER BY id", &sel), DB_OK);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(db_step(sel), DB_ROW);
        snprintf(k, sizeof(k), i != 5 ? "r%d" : pg ? "r%d\xef\xbf\xbd" : "r%d\xff", i);
        assert_string_equal(db_column_text(sel, 0), k);
        assert_int_equal(db_column_type(sel, 1), i == 2 ? DB_NULL : DB_INTEGER);
        if (i != 2)
            assert_int_equal(db_column_int64(sel, 1), -i);
        assert_int_equal(db_column_type(sel, 2), i == 3 ? DB_NULL : DB_BLOB);
        if (i != 3) {
            assert_int_equal(db_column_bytes(sel, 2), i == 4 ? 0 : (int)sizeof(bytes));
            if (i != 4)
                assert_memory_equal(db_column_blob(sel, 2), bytes, sizeof(bytes));
        }
        assert_int_equal(db_column_int64(sel, 3), INT64_MAX - i);
    }
    assert_int_equal(db_step(sel), DB_DONE);
    db_reset(sel);

    /* A duplicate key: refused at its end (SQLite) or at the flush. */
    assert_int_equal(db_exec(d, "BEGIN"), DB_OK);
    for (int i = 0; i < 2; i++) {
        int rc;
        db_rows_text(r, 1, i ? "r0" : "new", -1);
        db_rows_int64(r, 2, 1);
        db_rows_blob(r, 3, NULL, 0);
        db_rows_int64(r, 4, 1);
        rc = db_rows_end(r);
        assert_int_equal(rc, !pg && i ? DB_CONSTRAINT : DB_DONE);
    }
    if (pg)
        assert_int_equal(db_rows_flush(r), DB_CONSTRAINT);
    assert_int_equal(db_rows_pending(r), 0);
    db_rollback(d);
    /* Dropped before its end: not stored; the next row is. */
    db_rows_text(r, 1, "dropped", -1);
    db_rows_int64(r, 2, 1);
    db_rows_discard(r);
    db_rows_text(r, 1, "kept", -1);
    db_rows_int64(r, 2, 2);
    db_rows_blob(r, 3, NULL, 0);
    db_rows_int64(r, 4, 2);
    assert_int_equal(db_rows_end(r), DB_DONE);
    assert_int_equal(db_rows_flush(r), DB_DONE);
    if (pg) {
        /* A column missing: refused at the flush, nothing run. */
        db_rows_text(r, 1, "short", -1);
        assert_int_equal(db_rows_end(r), DB_DONE);
        assert_int_equal(db_rows_flush(r), DB_ERROR);
        assert_non_null(strstr(db_errmsg(d), "column 2"));
        assert_int_equal(db_rows_pending(r), 0);
    }
    assert_int_equal(db_step(sel), DB_ROW);
    while (db_step(sel) == DB_ROW)
        ;
    db_finalize(sel);
    assert_int_equal(db_prepare(d, "SELECT count(*), sum(n) FROM t", &sel), DB_OK);
    assert_int_equal(db_step(sel), DB_ROW);
    assert_int_equal(db_column_int64(sel, 0), 8);
    assert_int_equal(db_column_int64(sel, 1), -(0 + 1 + 3 + 4 + 5 + 6) + 2);
    db_finalize(sel);
    db_rows_finalize(r);
    db_finalize(one);
}

static void test_sqlite(void **state)
{
    struct db *d;
    (void)state;
    d = open_lite();
    basics(d);
    db_close(d);
    d = open_lite();
    transactions(d);
    db_close(d);
    d = open_lite();
    many_rows(d);
    db_close(d);
    d = open_lite();
    columns(d);
    db_close(d);
    d = open_lite();
    rows_gathered(d);
    db_close(d);
}

static void test_pg(void **state)
{
    struct db *d;
    (void)state;
    if (!have_pg())
        return;
    d = open_pg("vg_basics");
    basics(d);
    db_close(d);
    d = open_pg("vg_txn");
    transactions(d);
    db_close(d);
    d = open_pg("vg_rows");
    many_rows(d);
    db_close(d);
    d = open_pg("vg_columns");
    columns(d);
    db_close(d);
    d = open_pg("vg_rows_gathered");
    rows_gathered(d);
    db_close(d);
}

/* A URL that names no server: a clear error, nothing opened. */
static void test_pg_refused(void **state)
{
    struct db *d = NULL;
    char err[256];
    (void)state;
    assert_int_equal(db_is_url("postgresql://x/y"), 1);
    assert_int_equal(db_is_url("postgres://x/y"), 1);
    assert_int_equal(db_is_url("/var/lib/vigil/vigil.db"), 0);
    assert_int_equal(db_open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=5", 0, &d, err,
                             sizeof(err)),
                     DB_ERROR);
    assert_null(d);
    assert_non_null(strstr(err, "127.0.0.1"));
}

/* The server for the PostgreSQL cases. */
static int pg_setup(void **state)
{
    const char *env = getenv("VIGIL_TEST_PG_URL");
    char cmd[PATH_MAX + 200];
    FILE *f;
    int rc;

    if (group_setup(state) != 0)
        return -1;
    if (env && env[0]) {
        snprintf(pg_url, sizeof(pg_url), "%s", env);
        return 0;
    }
    if (geteuid() != 0 || access("tests/pg-server.sh", X_OK) != 0)
        return 0;
    /* The server runs as postgres: it must reach its directory. */
    chmod(tmpdir, 0711);
    snprintf(pg_dir, sizeof(pg_dir), "%s/pg", tmpdir);
    pg_port = 20000 + (int)(getpid() % 20000);
    snprintf(cmd, sizeof(cmd), "tests/pg-server.sh start %s %d", pg_dir, pg_port);
    f = popen(cmd, "r");
    if (!f)
        return 0;
    if (!fgets(pg_url, sizeof(pg_url), f))
        pg_url[0] = '\0';
    pg_url[strcspn(pg_url, "\n")] = '\0';
    rc = pclose(f);
    if (rc != 0) {
        pg_url[0] = '\0';
        pg_dir[0] = '\0';
        /* 77: no server installed (skipped, said so); anything else fails. */
        return WIFEXITED(rc) && WEXITSTATUS(rc) == 77 ? 0 : -1;
    }
    return 0;
}

static int pg_teardown(void **state)
{
    char cmd[PATH_MAX + 100];
    if (pg_dir[0]) {
        snprintf(cmd, sizeof(cmd), "tests/pg-server.sh stop %s", pg_dir);
        if (system(cmd) != 0)
            print_message("pg-server stop failed\n");
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg_dir);
        if (system(cmd) != 0)
            print_message("cannot remove %s\n", pg_dir);
    }
    snprintf(cmd, sizeof(cmd), "%s/t.db", tmpdir);
    unlink(cmd);
    return group_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_pg),
        cmocka_unit_test(test_pg_refused),
    };
    return cmocka_run_group_tests(tests, pg_setup, pg_teardown);
}
