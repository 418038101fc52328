/* Collector store (SQLite file): a batch is stored once per (host,
 * epoch, seq), whatever the resends; hello reports the last stored
 * sequence per epoch; loss records add up. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../collector/db.h"
#include "../../collector/store.h"
#include "err.h"
#include "util.h"

static char dir[256], db[300];
/* The PostgreSQL server of the cases run on both back ends, started at
 * the first (pg_server()) and stopped in teardown. */
static char pg_url[512], pg_dir[320];
static int pg_tried;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vg-test-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof(db), "%s/c.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];
    (void)state;
    if (pg_dir[0]) {
        snprintf(cmd, sizeof(cmd), "tests/pg-server.sh stop '%s'", pg_dir);
        if (system(cmd) != 0)
            print_message("pg-server stop failed\n");
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static long long scalar(const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    long long v = -1;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static int store_one(struct store *s, int64_t host, ProtobufCBinaryData *epoch, uint64_t seq,
                     int nev, uint64_t loss)
{
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    Vigil__V1__Event ev[4], *evp[4];
    Vigil__V1__LossRecord lr = VIGIL__V1__LOSS_RECORD__INIT;
    int rc;

    for (int i = 0; i < nev; i++) {
        vigil__v1__event__init(&ev[i]);
        ev[i].time_ms = 1000 + i;
        evp[i] = &ev[i];
    }
    if (loss) {
        lr.source = "spool.full";
        lr.unit = "events";
        lr.count = loss;
        ev[0].kind_case = VIGIL__V1__EVENT__KIND_LOSS;
        ev[0].loss = &lr;
    }
    b.seq = seq;
    b.n_events = (size_t)nev;
    b.events = evp;
    assert_int_equal(store_begin(s), 0);
    rc = store_batch(s, host, epoch, &b, 0, 2000, 0);
    assert_int_equal(store_commit(s), 0);
    return rc;
}

static void test_exactly_once(void **state)
{
    struct store *s = NULL;
    char err[256];
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e1[16] = { 1 }, e2[16] = { 2 };
    ProtobufCBinaryData ep1 = { 16, e1 }, ep2 = { 16, e2 };
    int64_t host = 0;
    uint64_t last = 99;
    (void)state;

    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-1";
    h.hostname = "h1";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep1;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 1000, &host, &last), 0);
    assert_int_equal(last, 0);
    assert_int_equal(store_one(s, host, &ep1, 1, 3, 0), 1);
    assert_int_equal(store_one(s, host, &ep1, 2, 2, 5), 1);
    /* Resends after lost acknowledgements: stored once. */
    assert_int_equal(store_one(s, host, &ep1, 1, 3, 0), 0);
    assert_int_equal(store_one(s, host, &ep1, 2, 2, 5), 0);
    /* The same seq in another epoch is new data. */
    assert_int_equal(store_one(s, host, &ep2, 1, 1, 0), 1);
    assert_int_equal(scalar("select count(*) from batches"), 3);
    assert_int_equal(scalar("select count(*) from events"), 6);
    assert_int_equal(scalar("select loss_events from hosts"), 5);
    assert_int_equal(scalar("select count(*) from loss"), 1);
    /* Hello reports the last stored sequence of the epoch it names. */
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 3000, &host, &last), 0);
    assert_int_equal(last, 2);
    h.stream_epoch = ep2;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 3000, &host, &last), 0);
    assert_int_equal(last, 1);
    store_close(s);
    /* And after a restart. */
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.stream_epoch = ep1;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 4000, &host, &last), 0);
    assert_int_equal(last, 2);
    assert_int_equal(store_one(s, host, &ep1, 2, 2, 5), 0);
    store_close(s);
}

/* One group commit with a batch that cannot be stored (argv over the
 * store's 1 MiB, as a peer past the field limits would send): it is
 * undone alone, the transaction goes on, the others commit; its
 * rejection is recorded as loss once, and a resend is known. */
static void test_poison_alone(void **state)
{
    struct store *s = NULL;
    char err[256];
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e1[16] = { 7 };
    ProtobufCBinaryData ep = { 16, e1 };
    Vigil__V1__Batch b[3];
    Vigil__V1__Event ev[3], *evp[3];
    Vigil__V1__ProcessExec x[3];
    ProtobufCBinaryData *argv = calloc(3000, sizeof(*argv));
    static uint8_t arg[1024];
    int64_t host = 0;
    uint64_t last = 0;
    (void)state;

    assert_non_null(argv);
    memset(arg, 'a', sizeof(arg));
    for (int i = 0; i < 3000; i++) {
        argv[i].data = arg;
        argv[i].len = sizeof(arg);
    }
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-p";
    h.hostname = "p";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 1000, &host, &last), 0);
    for (int i = 0; i < 3; i++) {
        vigil__v1__batch__init(&b[i]);
        vigil__v1__event__init(&ev[i]);
        vigil__v1__process_exec__init(&x[i]);
        x[i].pid = (uint32_t)(100 + i);
        x[i].n_argv = i == 1 ? 3000 : 1; /* 3 MB joined: over the store's 1 MiB */
        x[i].argv = argv;
        ev[i].time_ms = 5000;
        ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev[i].process_exec = &x[i];
        evp[i] = &ev[i];
        b[i].seq = (uint64_t)i + 1;
        b[i].n_events = 1;
        b[i].events = &evp[i];
    }
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_batch(s, host, &ep, &b[0], 0, 6000, 1), 1);
    assert_int_equal(store_batch(s, host, &ep, &b[1], 0, 6000, 1), VG_ETOOBIG);
    assert_int_equal(store_txn_lost(s), 0);
    assert_non_null(strstr(store_last_error(s), "event 0 (process_exec): argv"));
    assert_int_equal(store_batch_reject(s, host, &ep, &b[1], 6000, "argv too big"), 1);
    assert_int_equal(store_batch(s, host, &ep, &b[2], 0, 6000, 1), 1);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(scalar("select count(*) from batches where rejected is null and host_id = "
                            "(select id from hosts where agent_id = 'agent-p')"), 2);
    assert_int_equal(scalar("select count(*) from batches where rejected = 'argv too big'"), 1);
    assert_int_equal(scalar("select count(*) from processes where host_id = "
                            "(select id from hosts where agent_id = 'agent-p')"), 2);
    assert_int_equal(scalar("select count(*) from processes where pid = 101"), 0);
    assert_int_equal(scalar("select count(*) from events where host_id = "
                            "(select id from hosts where agent_id = 'agent-p')"), 2);
    assert_int_equal(scalar("select count(*) from loss where source = 'collector.rejected' and"
                            " count = 1 and reason like '%argv too big%'"), 1);
    assert_int_equal(scalar("select loss_events from hosts where agent_id = 'agent-p'"), 1);
    /* A resend of the rejected batch: known, recorded once. */
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_batch(s, host, &ep, &b[1], 0, 7000, 1), 0);
    assert_int_equal(store_batch_reject(s, host, &ep, &b[1], 7000, "argv too big"), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(scalar("select count(*) from loss where source = 'collector.rejected'"), 1);
    /* The stream's last stored seq passed it (batch 3). */
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 8000, &host, &last), 0);
    assert_int_equal(last, 3);
    store_close(s);
    free(argv);
}

/* Execs: stored with their exits (a netlink exec with no start gets the
 * event's time); retention by age and by row count, raw bodies too. */
static void test_processes_retention(void **state)
{
    struct store *s = NULL;
    char err[256];
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e1[16] = { 3 };
    ProtobufCBinaryData ep = { 16, e1 };
    int64_t host = 0;
    uint64_t last, deleted;
    int rc;
    (void)state;

    unlink(db);
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-p";
    h.hostname = "hp";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 1000, &host, &last), 0);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
        Vigil__V1__Event ev[2], *evp[2] = { &ev[0], &ev[1] };
        Vigil__V1__ProcessExec x = VIGIL__V1__PROCESS_EXEC__INIT;
        Vigil__V1__ProcessExit xt = VIGIL__V1__PROCESS_EXIT__INIT;
        ProtobufCBinaryData argv[2] = { { 9, (uint8_t *)"/bin/true" }, { 3, (uint8_t *)"a\0b" } };
        vigil__v1__event__init(&ev[0]);
        vigil__v1__event__init(&ev[1]);
        x.pid = (uint32_t)(100 + seq);
        x.ppid = 1;
        x.exe_path = argv[0];
        x.argv = argv;
        x.n_argv = 2;
        x.start_boot_ns = seq;
        /* Old ones (seq 1-4: ms 1000-4000), new ones now; seq 10 has no
         * start (netlink, gone): the event's time stands in. */
        x.start_time_ms = seq == 10 ? 0 : seq <= 4 ? (int64_t)seq * 1000 : 5000000 + (int64_t)seq;
        ev[0].time_ms = seq == 10 ? 6000000 : x.start_time_ms;
        ev[0].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev[0].process_exec = &x;
        xt.pid = x.pid;
        xt.start_boot_ns = seq;
        xt.exit_code = 3;
        ev[1].time_ms = ev[0].time_ms + 1;
        ev[1].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXIT;
        ev[1].process_exit = &xt;
        b.seq = seq;
        b.n_events = 2;
        b.events = evp;
        assert_int_equal(store_begin(s), 0);
        /* Received long ago for the old ones. */
        assert_int_equal(store_batch(s, host, &ep, &b, 0, seq <= 4 ? 500 : 9000000, 1), 1);
        assert_int_equal(store_commit(s), 0);
    }
    assert_int_equal(scalar("select count(*) from processes where exit_code = 3"), 10);
    assert_int_equal(scalar("select start_ms from processes where pid = 110"), 6000000);
    /* argv kept exact, NUL inside an argument included. */
    assert_int_equal(scalar("select length(argv) from processes where pid = 101"), 13);
    /* By age: the 4 old rows and their raw events go. */
    {
        /* Nothing of the other kinds is old enough to go. */
        struct store_retain r = {.process_min_ms = 1000000, .process_max_rows = 1000,
                                 .events_min_ms = 1, .history_min_ms = 1,
                                 .commands_min_ms = 1};
        uint64_t del[RETAIN_KINDS] = {0};
        /* In chunks of 3: a full chunk says more may remain. */
        assert_int_equal(store_retention(s, &r, 3, del), 1);
        while ((rc = store_retention(s, &r, 3, del)) == 1)
            ;
        assert_int_equal(rc, 0);
        assert_int_equal(scalar("select count(*) from processes"), 6);
        assert_int_equal(scalar("select count(*) from events where kind like 'process_%'"), 12);
        assert_int_equal(del[RETAIN_EVENTS] + del[RETAIN_BATCHES] + del[RETAIN_HISTORY], 0);
        /* By count: the newest 2 stay. */
        memset(del, 0, sizeof(del));
        r.process_max_rows = 2;
        assert_int_equal(store_retention(s, &r, 1000, del), 0);
        assert_int_equal(scalar("select count(*) from processes"), 2);
        assert_int_equal(scalar("select min(pid) from processes"), 109);
        deleted = del[RETAIN_PROCESSES];
        assert_int_equal(deleted, 4); /* their raw events went by age before */
        /* Batch receipts received before 1,000,000 ms (seq 1-4) go; a
         * resend of one is still known as stored, not stored again. */
        memset(del, 0, sizeof(del));
        r.events_min_ms = 1000000;
        assert_int_equal(store_retention(s, &r, 1000, del), 0);
        assert_int_equal(del[RETAIN_BATCHES], 4);
        assert_int_equal(scalar("select count(*) from batches"), 6);
        {
            Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
            b.seq = 2;
            assert_int_equal(store_begin(s), 0);
            assert_int_equal(store_batch(s, host, &ep, &b, 0, 9000001, 1), 0);
            assert_int_equal(store_commit(s), 0);
            assert_int_equal(scalar("select count(*) from batches"), 6);
        }
    }
    store_close(s);
}

/* Install history: each event once however often it is sent (a second
 * full history in a new batch), recv_ms the collector's time of the
 * batch that first brought it, and out-of-bounds events counted as loss. */
static int store_history(struct store *s, int64_t host, ProtobufCBinaryData *ep, uint64_t seq,
                         Vigil__V1__PackageEvent **pe, size_t n, int64_t recv_ms)
{
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evp = &ev;
    Vigil__V1__PackageHistory h = VIGIL__V1__PACKAGE_HISTORY__INIT;
    int rc;

    h.manager = VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG;
    h.events = pe;
    h.n_events = n;
    h.full = 1;
    h.part = h.part_count = 1;
    ev.time_ms = recv_ms;
    ev.kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_HISTORY;
    ev.package_history = &h;
    b.seq = seq;
    b.n_events = 1;
    b.events = &evp;
    assert_int_equal(store_begin(s), 0);
    rc = store_batch(s, host, ep, &b, 0, recv_ms, 1);
    assert_int_equal(store_commit(s), 0);
    return rc;
}

static void test_package_history(void **state)
{
    struct store *s = NULL;
    char err[256], big[600];
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e1[16] = { 4 };
    ProtobufCBinaryData ep = { 16, e1 };
    int64_t host = 0, day = 86400000LL, t0 = 1767225600000LL; /* 2026-01-01 */
    uint64_t last;
    Vigil__V1__PackageEvent pe[5], *pp[5];
    (void)state;

    unlink(db);
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-h";
    h.hostname = "hh";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 1000, &host, &last), 0);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 5; i++) {
        vigil__v1__package_event__init(&pe[i]);
        pe[i].time_ms = t0 + i * day;
        pe[i].name = "openssl";
        pe[i].arch = "amd64";
        pe[i].action = "upgrade";
        pe[i].old_version = "3.0.11-1";
        pe[i].new_version = "3.0.13-1";
        pp[i] = &pe[i];
    }
    pe[0].action = "install";
    pe[0].old_version = "";
    pe[3].name = big;       /* absurd */
    pe[4].action = "frob";  /* not an action */
    assert_int_equal(store_history(s, host, &ep, 1, pp, 5, t0 + 10 * day), 1);
    assert_int_equal(scalar("select count(*) from package_events"), 3);
    assert_int_equal(scalar("select loss_events from hosts where agent_id = 'agent-h'"), 2);
    assert_int_equal(scalar("select count(*) from package_events where old_version = ''"
                            " and action = 'install' and manager = 'dpkg'"), 1);
    /* Sent again later (state lost on the agent): nothing doubles, and
     * recv_ms stays when it first arrived. */
    assert_int_equal(store_history(s, host, &ep, 2, pp, 3, t0 + 20 * day), 1);
    assert_int_equal(scalar("select count(*) from package_events"), 3);
    assert_int_equal(scalar("select max(recv_ms) from package_events"), t0 + 10 * day);
    store_close(s);
}

struct tok_seen {
    int n;
    char hash[65];
    uint32_t failures;
    int64_t locked_ms;
};

static int tok_seen_cb(void *ctx, const struct store_token *t)
{
    struct tok_seen *x = ctx;
    x->n++;
    snprintf(x->hash, sizeof(x->hash), "%s", t->hash);
    x->failures = t->failures;
    x->locked_ms = t->locked_ms;
    return 0;
}

/* Enrollment tokens: found by selector; wrong tries counted, the token
 * locked at the limit (once: the time does not move), and a locked token
 * is not used.  A database from before selectors gets the columns. */
static void test_token_lockout(void **state)
{
    struct store *s = NULL;
    struct tok_seen x;
    char err[256];
    uint32_t failures = 0;
    int64_t locked = 0;
    sqlite3 *h;
    (void)state;

    unlink(db);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE enroll_tokens(hash TEXT PRIMARY KEY, label TEXT,"
                                     " created_by TEXT, created_ms INTEGER NOT NULL, expires_ms"
                                     " INTEGER NOT NULL, max_uses INTEGER NOT NULL, uses INTEGER"
                                     " NOT NULL, revoked_ms INTEGER);"
                                     "INSERT INTO enroll_tokens VALUES('00aa', 'old', 'x', 1,"
                                     " 9000000000000, 3, 0, NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_token_find(s, "00aa", tok_seen_cb, &x), 1);
    assert_int_equal(x.failures, 0);
    assert_int_equal(x.locked_ms, 0);

    assert_int_equal(store_token_add(s, "11bb", "5e1ec7", "new", "admin a", 1, 9000000000000LL, 5),
                     0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_token_find_selector(s, "5e1ec7", tok_seen_cb, &x), 1);
    assert_string_equal(x.hash, "11bb");
    assert_int_equal(store_token_find_selector(s, "nosuch", tok_seen_cb, &x), 0);
    for (int i = 1; i <= 9; i++) {
        assert_int_equal(store_token_fail(s, "11bb", 10, 5000 + i, &failures, &locked), 0);
        assert_int_equal(failures, (uint32_t)i);
        assert_int_equal(locked, 0);
    }
    assert_int_equal(store_token_use(s, "11bb", 6000), 1);
    assert_int_equal(store_token_fail(s, "11bb", 10, 7000, &failures, &locked), 0);
    assert_int_equal(failures, 10);
    assert_int_equal(locked, 7000);
    assert_int_equal(store_token_fail(s, "11bb", 10, 8000, &failures, &locked), 0);
    assert_int_equal(failures, 11);
    assert_int_equal(locked, 7000);
    assert_int_equal(store_token_use(s, "11bb", 9000), 0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_tokens(s, tok_seen_cb, &x), 0);
    assert_int_equal(x.n, 2);
    /* An unknown token: nothing counted, no error. */
    assert_int_equal(store_token_fail(s, "nosuch", 10, 9000, &failures, &locked), 0);
    assert_int_equal(failures, 0);
    store_close(s);
}

static int64_t hello_boot(struct store *s, const char *boot, int64_t now)
{
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e[16] = { 7 };
    ProtobufCBinaryData ep = { 16, e };
    int64_t host = 0;
    uint64_t last;
    h.agent_id = "agent-c";
    h.hostname = "hc";
    h.software_version = "0";
    h.boot_id = (char *)boot;
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "192.0.2.1:1", now, &host, &last), 0);
    return host;
}

/* Boot ids: reboots (A, B, C) are no sign of a clone; a boot id that
 * comes back after another (B, then A again) is, each time.  A retired
 * host's hello brings it back. */
static void test_clone_boot(void **state)
{
    struct store *s = NULL;
    char err[256];
    int64_t host;
    (void)state;

    unlink(db);
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    hello_boot(s, "boot-a", 1000);
    hello_boot(s, "boot-a", 1100); /* a reconnect */
    hello_boot(s, "boot-b", 2000);
    host = hello_boot(s, "boot-c", 3000);
    assert_int_equal(scalar("select clone_count from hosts"), 0);
    hello_boot(s, "boot-b", 4000);
    assert_int_equal(scalar("select clone_count from hosts"), 1);
    assert_int_equal(scalar("select clone_first_ms from hosts"), 4000);
    assert_int_equal(scalar("select clone_evidence like 'boot id boot-b came back%after boot id "
                            "boot-c%' from hosts"), 1);
    hello_boot(s, "boot-c", 5000);
    assert_int_equal(scalar("select clone_count from hosts"), 2);
    assert_int_equal(scalar("select clone_first_ms from hosts"), 4000);
    assert_int_equal(scalar("select clone_last_ms from hosts"), 5000);
    /* Retired, then back at its next hello. */
    assert_int_equal(store_host_retire(s, host, 6000, "admin a", "gone"), 0);
    assert_int_equal(scalar("select retired_ms from hosts"), 6000);
    hello_boot(s, "boot-c", 7000);
    assert_int_equal(scalar("select retired_ms is null and retired_by is null from hosts"), 1);
    store_close(s);
}

struct backup_arg {
    char copy[300];
    struct store_backup_progress p;
    char err[256];
    int rc;
};

static void *backup_thread(void *v)
{
    struct backup_arg *a = v;
    a->rc = store_backup(db, a->copy, &a->p, NULL, a->err, sizeof(a->err));
    return NULL;
}

/* A backup while batches are committed on another connection: the copy
 * is whole (integrity_check), one instant of the database (every stored
 * batch with its events), and the writes were not held up by it. */
static void test_backup_while_writing(void **state)
{
    struct store *s = NULL;
    struct backup_arg a;
    char err[256], saved[300];
    uint8_t e[16] = { 9 };
    ProtobufCBinaryData ep = { 16, e };
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    int64_t host = 0;
    uint64_t last, seq = 1;
    pthread_t t;
    FILE *f;
    (void)state;

    unlink(db);
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-b";
    h.software_version = "0";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 1000, &host, &last), 0);
    for (; seq <= 2000; seq++)
        assert_int_equal(store_one(s, host, &ep, seq, 4, 0), 1);
    memset(&a, 0, sizeof(a));
    snprintf(a.copy, sizeof(a.copy), "%.250s/copy.db", dir);
    assert_non_null(f = fopen(a.copy, "w"));
    fclose(f);
    assert_int_equal(pthread_create(&t, NULL, backup_thread, &a), 0);
    for (int i = 0; i < 300; i++, seq++)
        assert_int_equal(store_one(s, host, &ep, seq, 4, 0), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.p.pages_done, a.p.pages_total);
    assert_true(a.p.pages_total > 0);
    assert_int_equal(a.p.schema_version, scalar("select value from meta where key = "
                                                "'schema_version'"));
    store_close(s);
    memcpy(saved, db, sizeof(saved));
    memcpy(db, a.copy, sizeof(db));
    assert_true(scalar("select count(*) from batches") >= 2000);
    assert_true(scalar("select count(*) from batches") <= 2300);
    assert_int_equal(scalar("select count(*) from events"),
                     scalar("select sum(events) from batches"));
    assert_int_equal(scalar("select count(*) from batches"),
                     scalar("select max(seq) from batches"));
    {
        sqlite3 *hd;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(db, &hd), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(hd, "PRAGMA integrity_check", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(hd);
    }
    memcpy(db, saved, sizeof(db));
    assert_int_equal(scalar("select count(*) from batches"), 2300);
}

/* The SIEM export's reads: rows after a cursor, in id order, a chunk at a
 * time, nothing while a transaction is open; cursors per sink. */
struct seen {
    int64_t ids[16];
    int n;
    char argv1[16];
    int exited;
};

static int seen_audit(void *ctx, const struct store_audit *a)
{
    struct seen *x = ctx;
    assert_non_null(a->hash);
    x->ids[x->n++] = a->id;
    return 0;
}

static int seen_proc(void *ctx, const struct store_export_proc *p)
{
    struct seen *x = ctx;
    x->ids[x->n++] = p->id;
    assert_string_equal(p->agent_id, "agent-x");
    assert_string_equal(p->hostname, "hx");
    assert_int_equal(p->argv_len, 12);
    snprintf(x->argv1, sizeof(x->argv1), "%s", (const char *)p->argv + 10);
    x->exited += p->exit_ms != 0 && p->has_exit_code && p->exit_code == 3;
    return 0;
}

static int stop_at_2(void *ctx, const struct store_audit *a)
{
    (void)ctx;
    return a->id == 2;
}

static void test_export(void **state)
{
    struct store *s = NULL;
    char err[256];
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e1[16] = { 4 };
    ProtobufCBinaryData ep = { 16, e1 };
    int64_t host = 0, a = -1, p = -1, t = -1;
    uint64_t last;
    struct seen x;
    (void)state;

    unlink(db);
    assert_int_equal(store_open(db, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-x";
    h.hostname = "hx";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", 1000, &host, &last), 0);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
        Vigil__V1__Event ev[2], *evp[2] = { &ev[0], &ev[1] };
        Vigil__V1__ProcessExec px = VIGIL__V1__PROCESS_EXEC__INIT;
        Vigil__V1__ProcessExit xt = VIGIL__V1__PROCESS_EXIT__INIT;
        ProtobufCBinaryData argv[2] = { { 9, (uint8_t *)"/bin/true" }, { 2, (uint8_t *)"a1" } };
        vigil__v1__event__init(&ev[0]);
        vigil__v1__event__init(&ev[1]);
        px.pid = (uint32_t)(200 + seq);
        px.exe_path = argv[0];
        px.argv = argv;
        px.n_argv = 2;
        px.start_boot_ns = seq;
        px.start_time_ms = 5000 + (int64_t)seq;
        ev[0].time_ms = px.start_time_ms;
        ev[0].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev[0].process_exec = &px;
        xt.pid = px.pid;
        xt.start_boot_ns = seq;
        xt.exit_code = 3;
        ev[1].time_ms = ev[0].time_ms + 1;
        ev[1].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXIT;
        ev[1].process_exit = &xt;
        b.seq = seq;
        b.n_events = seq == 2 ? 1 : 2; /* the second's exit has not come */
        b.events = evp;
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_batch(s, host, &ep, &b, 0, 9000, 1), 1);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_audit_append(s, "op", "isolate", "agent-x", "why", "queued"), 0);
    }
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_export_audit(s, 1, 10, seen_audit, &x), 2);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.ids[0], 2);
    assert_int_equal(x.ids[1], 3);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_export_processes(s, 0, 0, 2, seen_proc, &x), 2); /* a chunk */
    assert_int_equal(x.ids[0], 1);
    assert_int_equal(x.ids[1], 2);
    assert_string_equal(x.argv1, "a1");
    assert_int_equal(x.exited, 1);
    memset(&x, 0, sizeof(x));
    assert_int_equal(store_export_processes(s, 0, 2, 10, seen_proc, &x), 1);
    assert_int_equal(x.ids[0], 3);
    assert_int_equal(store_export_processes(s, 0, 3, 10, seen_proc, &x), 0);
    /* The callback stops the read: its value, negated. */
    assert_int_equal(store_export_audit(s, 0, 10, stop_at_2, NULL), -1);
    /* Not while a transaction is open: its rows may be rolled back. */
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_export_audit(s, 0, 10, seen_audit, &x), -EBUSY);
    assert_int_equal(store_export_cursor_set(s, "file", 1, 0, 1), -EBUSY);
    assert_int_equal(store_commit(s), 0);
    /* Cursors: none yet, then what was set, per sink. */
    assert_int_equal(store_export_cursor_get(s, "file", &a, &t, &p), 0);
    assert_int_equal(a, 0);
    assert_int_equal(t, 0);
    assert_int_equal(p, 0);
    assert_int_equal(store_export_cursor_set(s, "file", 3, 0, 7), 0);
    assert_int_equal(store_export_cursor_set(s, "syslog", 1, 0, 2), 0);
    assert_int_equal(store_export_cursor_set(s, "file", 4, 0, 9), 0);
    assert_int_equal(store_export_cursor_get(s, "file", &a, &t, &p), 0);
    assert_int_equal(a, 4);
    assert_int_equal(t, 0);
    assert_int_equal(p, 9);
    assert_int_equal(store_export_cursor_get(s, "syslog", &a, &t, &p), 0);
    assert_int_equal(a, 1);
    assert_int_equal(p, 2);
    store_close(s);
}

/* $VIGIL_TEST_PG_URL, or a server of our own (tests/pg-server.sh, as
 * root); NULL, said so, where there is none. */
static const char *pg_server(void)
{
    const char *env = getenv("VIGIL_TEST_PG_URL");
    char cmd[600];
    FILE *f;

    if (pg_tried)
        return pg_url[0] ? pg_url : NULL;
    pg_tried = 1;
    if (env && env[0]) {
        snprintf(pg_url, sizeof(pg_url), "%s", env);
        return pg_url;
    }
    if (geteuid() != 0 || access("tests/pg-server.sh", X_OK) != 0) {
        print_message("SKIP PostgreSQL cases: not root, or not run from the source tree\n");
        return NULL;
    }
    chmod(dir, 0711); /* the server runs as postgres */
    snprintf(pg_dir, sizeof(pg_dir), "%s/pg", dir);
    snprintf(cmd, sizeof(cmd), "tests/pg-server.sh start '%s' %d", pg_dir,
             20000 + (int)(getpid() % 20000) + 7);
    if ((f = popen(cmd, "r")) && fgets(pg_url, sizeof(pg_url), f))
        pg_url[strcspn(pg_url, "\n")] = '\0';
    if (!f || pclose(f) != 0) {
        print_message("SKIP PostgreSQL cases: no server (install postgresql-15, or set "
                      "VIGIL_TEST_PG_URL)\n");
        pg_url[0] = '\0';
        pg_dir[0] = '\0'; /* (a failed start leaves nothing running) */
    }
    return pg_url[0] ? pg_url : NULL;
}

/* A fresh database name on the server: its URL in out. */
static void pg_fresh(const char *name, char *out, size_t outlen)
{
    char url[600], sql[200], err[256];
    struct db *admin = NULL;

    snprintf(url, sizeof(url), "%spostgres", pg_url);
    assert_int_equal(db_open(url, 0, &admin, err, sizeof(err)), DB_OK);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    assert_int_equal(db_exec(admin, sql), DB_OK);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    assert_int_equal(db_exec(admin, sql), DB_OK);
    db_close(admin);
    snprintf(out, outlen, "%s%s", pg_url, name);
}

/* One integer from target (a file or a URL). */
static long long db_scalar(const char *target, const char *sql)
{
    struct db *d = NULL;
    struct db_stmt *st = NULL;
    char err[256];
    long long v = -1;

    assert_int_equal(db_open(target, 0, &d, err, sizeof(err)), DB_OK);
    assert_int_equal(db_prepare(d, sql, &st), DB_OK);
    if (db_step(st) == DB_ROW)
        v = db_column_int64(st, 0);
    db_finalize(st);
    db_close(d);
    return v;
}

/* Events of the batches of test_batch_rows: execs and exits in order. */
struct rows_batch {
    Vigil__V1__Batch b;
    Vigil__V1__Event ev[1000], *evp[1000];
    Vigil__V1__ProcessExec x[1000];
    Vigil__V1__ProcessExit y[1000];
    int64_t now;
};

static void rb_init(struct rows_batch *rb, uint64_t seq, int64_t now)
{
    memset(rb, 0, sizeof(*rb));
    vigil__v1__batch__init(&rb->b);
    rb->b.seq = seq;
    rb->b.events = rb->evp;
    rb->now = now;
}

static Vigil__V1__ProcessExec *rb_exec(struct rows_batch *rb, uint32_t pid, uint64_t sb,
                                       const char *comm)
{
    size_t i = rb->b.n_events++;
    assert_true(i < 1000);
    vigil__v1__event__init(&rb->ev[i]);
    vigil__v1__process_exec__init(&rb->x[i]);
    rb->x[i].pid = pid;
    rb->x[i].start_boot_ns = sb;
    rb->x[i].start_time_ms = rb->now;
    rb->x[i].comm = (char *)comm;
    rb->ev[i].time_ms = rb->now;
    rb->ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
    rb->ev[i].process_exec = &rb->x[i];
    rb->evp[i] = &rb->ev[i];
    return &rb->x[i];
}

static void rb_exit(struct rows_batch *rb, uint32_t pid, uint64_t sb, int32_t code)
{
    size_t i = rb->b.n_events++;
    assert_true(i < 1000);
    vigil__v1__event__init(&rb->ev[i]);
    vigil__v1__process_exit__init(&rb->y[i]);
    rb->y[i].pid = pid;
    rb->y[i].start_boot_ns = sb;
    rb->y[i].exit_code = code;
    rb->y[i].signal = (uint32_t)code + 100;
    rb->y[i].lifetime_ns = (uint64_t)code * 1000;
    rb->ev[i].time_ms = rb->now + code;
    rb->ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXIT;
    rb->ev[i].process_exit = &rb->y[i];
    rb->evp[i] = &rb->ev[i];
}

/* What store_processes() gave for one pid. */
struct rows_seen {
    int n;
    struct {
        uint64_t sb;
        int exited, comm_null;
        int32_t exit_code;
        uint32_t signal;
        uint64_t lifetime_ns;
        int64_t exit_ms;
        size_t exe_len;
        unsigned char exe[8];
        char comm[16];
    } p[4];
};

static int rows_cb(void *ctx, const struct store_proc *p)
{
    struct rows_seen *r = ctx;
    assert_true(r->n < 4);
    r->p[r->n].sb = p->start_boot_ns;
    r->p[r->n].exited = p->exited;
    r->p[r->n].exit_code = p->exit_code;
    r->p[r->n].signal = p->signal;
    r->p[r->n].lifetime_ns = p->lifetime_ns;
    r->p[r->n].exit_ms = p->exit_ms;
    r->p[r->n].comm_null = p->comm == NULL;
    snprintf(r->p[r->n].comm, sizeof(r->p[r->n].comm), "%s", p->comm ? p->comm : "");
    r->p[r->n].exe_len = p->exe_len;
    if (p->exe && p->exe_len <= sizeof(r->p[r->n].exe))
        memcpy(r->p[r->n].exe, p->exe, p->exe_len);
    r->n++;
    return 0;
}

static struct rows_seen *seen_pid(struct store *s, uint32_t pid)
{
    static struct rows_seen r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(store_processes(s, "agent-r", 0, NULL, pid, 0, rows_cb, &r), 0);
    return &r;
}

static void assert_exit(const struct rows_seen *r, int k, uint64_t sb, int32_t code, int64_t now)
{
    assert_true(k < r->n);
    assert_int_equal(r->p[k].sb, sb);
    assert_int_equal(r->p[k].exited, 1);
    assert_int_equal(r->p[k].exit_code, code);
    assert_int_equal(r->p[k].signal, (uint32_t)code + 100);
    assert_int_equal(r->p[k].lifetime_ns, (uint64_t)code * 1000);
    assert_int_equal(r->p[k].exit_ms, now + code);
}

static int rb_store(struct store *s, int64_t host, ProtobufCBinaryData *ep, struct rows_batch *rb,
                    int alone)
{
    return store_batch(s, host, ep, &rb->b, 0, rb->now, alone);
}

/* The ingest path on one back end (PostgreSQL gathers a batch's events and
 * execs into multi-row inserts and applies exits to execs gathered):
 * exits find their exec in the same batch (also a pid used twice), in an
 * earlier batch, past the multi-row chunk (600 execs), or none; NULL and
 * binary columns; a batch that fails part-way leaves nothing, in its group
 * or in its savepoint, and the next stores only its own rows. */
static void batch_rows(const char *target)
{
    struct store *s = NULL;
    struct rows_batch *rb = calloc(1, sizeof(*rb));
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    Vigil__V1__ProcessExec *x;
    uint8_t e1[16] = { 9 };
    ProtobufCBinaryData ep = { 16, e1 }, *big = calloc(3000, sizeof(*big));
    static uint8_t arg[1024];
    static const uint8_t exe[4] = { '/', 'x', 0, 'y' };
    int64_t host = 0, now = vg_time_now_ms();
    uint64_t last = 0;
    long long events = 0;
    char err[256];
    struct rows_seen *r;
    int pg = db_is_url(target), exited = 0;

    assert_non_null(rb);
    assert_non_null(big);
    memset(arg, 'a', sizeof(arg));
    for (int i = 0; i < 3000; i++) {
        big[i].data = arg;
        big[i].len = sizeof(arg);
    }
    assert_int_equal(store_open(target, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-r";
    h.hostname = "r";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", now, &host, &last), 0);

    /* 1: an exec and its exit, the pid again and its exit, and an exit
     * that finds no exec left without one. */
    rb_init(rb, 1, now);
    rb_exec(rb, 100, 1000, "a");
    x = rb_exec(rb, 200, 2000, "");
    x->exe_path.data = (uint8_t *)exe;
    x->exe_path.len = sizeof(exe);
    rb_exit(rb, 100, 0, 3);
    rb_exec(rb, 100, 3000, "c");
    rb_exit(rb, 100, 3000, 4);
    rb_exit(rb, 100, 0, 5);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(rb_store(s, host, &ep, rb, 0), 1);
    assert_int_equal(store_commit(s), 0);
    events += (long long)rb->b.n_events;
    /* 2: the exit of an exec stored before; an exit whose start differs. */
    rb_init(rb, 2, now);
    rb_exit(rb, 200, 0, 6);
    rb_exec(rb, 300, 3, "vg\xff");
    rb_exit(rb, 300, 999, 9);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(rb_store(s, host, &ep, rb, 0), 1);
    assert_int_equal(store_commit(s), 0);
    events += (long long)rb->b.n_events;
    /* 3: 600 execs (past the chunk), every third one's exit right after
     * it, and five exits at the end (the first execs: stored by then). */
    rb_init(rb, 3, now);
    for (uint32_t i = 0; i < 600; i++) {
        rb_exec(rb, 1000 + i, i + 1, "m");
        if (i % 3 == 0)
            rb_exit(rb, 1000 + i, i + 1, 7);
    }
    for (uint32_t i = 0; i < 5; i++)
        rb_exit(rb, 1000 + i, 0, 8);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(rb_store(s, host, &ep, rb, 0), 1);
    assert_int_equal(store_commit(s), 0);
    events += (long long)rb->b.n_events;
    /* 4: fails at its last exec (argv over the store's 1 MiB): the group
     * rolls back; then a good one with the same seq. */
    rb_init(rb, 4, now);
    for (uint32_t i = 0; i < 10; i++)
        rb_exec(rb, 5000 + i, 1, "f");
    rb_exit(rb, 5000, 0, 1);
    x = rb_exec(rb, 5010, 1, "f");
    x->argv = big;
    x->n_argv = 3000;
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(rb_store(s, host, &ep, rb, 0), VG_ETOOBIG);
    store_rollback(s);
    rb_init(rb, 4, now);
    rb_exec(rb, 6000, 1, "g");
    rb_exec(rb, 6001, 1, "g");
    rb_exit(rb, 6000, 1, 2);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(rb_store(s, host, &ep, rb, 0), 1);
    events += (long long)rb->b.n_events;
    /* 5-7 in one group, each alone: 6 fails part-way and is undone alone. */
    rb_init(rb, 5, now);
    rb_exec(rb, 7000, 1, "h");
    assert_int_equal(rb_store(s, host, &ep, rb, 1), 1);
    events += (long long)rb->b.n_events;
    rb_init(rb, 6, now);
    for (uint32_t i = 0; i < 5; i++)
        rb_exec(rb, 7100 + i, 1, "i");
    x = rb_exec(rb, 7105, 1, "i");
    x->argv = big;
    x->n_argv = 3000;
    assert_int_equal(rb_store(s, host, &ep, rb, 1), VG_ETOOBIG);
    assert_int_equal(store_txn_lost(s), 0);
    rb_init(rb, 7, now);
    rb_exec(rb, 7200, 1, "j");
    rb_exit(rb, 7200, 0, 3);
    assert_int_equal(rb_store(s, host, &ep, rb, 1), 1);
    events += (long long)rb->b.n_events;
    assert_int_equal(store_commit(s), 0);

    assert_int_equal(db_scalar(target, "select count(*) from processes"), 3 + 1 + 600 + 2 + 2);
    assert_int_equal(db_scalar(target, "select count(*) from events"), events);
    assert_int_equal(db_scalar(target, "select count(*) from processes where pid >= 5000 and"
                                       " pid < 6000 or pid >= 7100 and pid < 7200"), 0);
    /* Ids rise in the order of the batch. */
    assert_int_equal(db_scalar(target, "select count(*) from events a join events b on"
                                       " a.seq = b.seq and a.idx < b.idx and a.id > b.id"), 0);
    assert_int_equal(db_scalar(target, "select count(*) from processes a join processes b on"
                                       " a.pid < b.pid and a.id > b.id where a.pid >= 1000 and"
                                       " a.pid < 1600 and b.pid >= 1000 and b.pid < 1600"), 0);
    r = seen_pid(s, 100);
    assert_int_equal(r->n, 2);
    assert_exit(r, 0, 1000, 3, now);
    assert_exit(r, 1, 3000, 4, now);
    assert_string_equal(r->p[0].comm, "a");
    r = seen_pid(s, 200);
    assert_int_equal(r->n, 1);
    assert_exit(r, 0, 2000, 6, now);
    assert_int_equal(r->p[0].comm_null, 1);
    assert_int_equal(r->p[0].exe_len, sizeof(exe));
    assert_memory_equal(r->p[0].exe, exe, sizeof(exe));
    r = seen_pid(s, 300);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->p[0].exited, 0);
    assert_string_equal(r->p[0].comm, pg ? "vg\xef\xbf\xbd" : "vg\xff");
    for (uint32_t i = 0; i < 600; i++) {
        r = seen_pid(s, 1000 + i);
        assert_int_equal(r->n, 1);
        if (i % 3 == 0)
            assert_exit(r, 0, i + 1, 7, now);
        else if (i < 5)
            assert_exit(r, 0, i + 1, 8, now);
        else
            assert_int_equal(r->p[0].exited, 0);
        exited += r->p[0].exited;
    }
    assert_int_equal(exited, 203);
    assert_exit(seen_pid(s, 6000), 0, 1, 2, now);
    assert_int_equal(seen_pid(s, 6001)->p[0].exited, 0);
    assert_int_equal(seen_pid(s, 7000)->n, 1);
    assert_exit(seen_pid(s, 7200), 0, 1, 3, now);
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", now, &host, &last), 0);
    assert_int_equal(last, 7);
    store_close(s);
    free(big);
    free(rb);
}

/* The body of events row (seq, idx) of target, unpacked (NULL for an
 * empty body); *len its length. */
static Vigil__V1__Event *event_body(const char *target, uint64_t seq, int idx, size_t *len)
{
    struct db *d = NULL;
    struct db_stmt *st = NULL;
    Vigil__V1__Event *e = NULL;
    char err[256];

    assert_int_equal(db_open(target, 0, &d, err, sizeof(err)), DB_OK);
    assert_int_equal(db_prepare(d, "select body from events where seq = ?1 and idx = ?2", &st),
                     DB_OK);
    db_bind_int64(st, 1, (int64_t)seq);
    db_bind_int64(st, 2, idx);
    assert_int_equal(db_step(st), DB_ROW);
    *len = (size_t)db_column_bytes(st, 0);
    if (*len)
        e = vigil__v1__event__unpack(NULL, *len, db_column_blob(st, 0));
    db_finalize(st);
    db_close(d);
    return e;
}

/* A process exec's events row keeps no body when its processes row holds
 * all of the event (its terminal too); whole when the row cannot (an
 * event time not the start time, no start time, argv [""], an empty
 * unknown entry, a field this collector does not know, and on PostgreSQL
 * text that is not UTF-8), and for every other kind. */
static void exec_body(const char *target)
{
    struct store *s;
    char err[256], sql[320];
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t e1[16] = {9};
    ProtobufCBinaryData ep = {16, e1};
    int64_t host = 0, now = vg_time_now_ms();
    uint64_t last;
    enum { PLAIN, TTY, LATE, NOSTART, EMPTY_ARG, EMPTY_UNK, NEWER, LATIN1, EXIT, N };
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    Vigil__V1__Event ev[N], *evp[N];
    Vigil__V1__ProcessExec x[N];
    Vigil__V1__ProcessExit xt = VIGIL__V1__PROCESS_EXIT__INIT;
    ProtobufCBinaryData argv[2] = {{7, (uint8_t *)"/bin/ls"}, {2, (uint8_t *)"-l"}};
    ProtobufCBinaryData empty_arg = {0, (uint8_t *)""};
    char *unk_argv[] = {"argv"}, *unk_empty[] = {""};
    uint8_t field99[] = {2, 0xaa, 0xbb}; /* its length, then its bytes */
    ProtobufCMessageUnknownField uf = {.tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                       .len = sizeof(field99), .data = field99};
    Vigil__V1__Event *got;
    size_t len;
    int pg = db_is_url(target);

    assert_int_equal(store_open(target, 1, &s, err, sizeof(err)), 0);
    h.agent_id = "agent-b";
    h.hostname = "hb";
    h.software_version = "0";
    h.boot_id = "";
    h.stream_epoch = ep;
    assert_int_equal(store_hello(s, &h, "127.0.0.1:1", now, &host, &last), 0);
    for (int i = 0; i < N; i++) {
        vigil__v1__event__init(&ev[i]);
        vigil__v1__process_exec__init(&x[i]);
        evp[i] = &ev[i];
        x[i].pid = (uint32_t)(200 + i);
        x[i].exe_path = argv[0];
        x[i].argv = argv;
        x[i].n_argv = 2;
        x[i].start_boot_ns = (uint64_t)i + 1;
        x[i].start_time_ms = now - 1000 + i;
        x[i].source = "ebpf";
        x[i].comm = "ls";
        ev[i].time_ms = x[i].start_time_ms;
        ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev[i].process_exec = &x[i];
    }
    x[PLAIN].unknown = unk_argv;
    x[PLAIN].n_unknown = 1;
    x[TTY].tty = "pts/3";
    ev[LATE].time_ms = x[LATE].start_time_ms + 5;
    x[NOSTART].start_time_ms = 0;
    x[EMPTY_ARG].argv = &empty_arg;
    x[EMPTY_ARG].n_argv = 1;
    x[EMPTY_UNK].unknown = unk_empty;
    x[EMPTY_UNK].n_unknown = 1;
    x[NEWER].base.n_unknown_fields = 1;
    x[NEWER].base.unknown_fields = &uf;
    x[LATIN1].comm = "caf\xe9";
    xt.pid = x[PLAIN].pid;
    xt.start_boot_ns = x[PLAIN].start_boot_ns;
    xt.ppid = 1;
    ev[EXIT].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXIT;
    ev[EXIT].process_exit = &xt;
    b.seq = 1;
    b.n_events = N;
    b.events = evp;
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_batch(s, host, &ep, &b, 0, now, 1), 1);
    assert_int_equal(store_commit(s), 0);
    store_close(s);

    assert_int_equal(db_scalar(target, "select count(*) from events"), N);
    assert_int_equal(db_scalar(target, "select count(*) from processes"), N - 1);
    /* The row holds it: no body, and the row has all of it. */
    assert_null(event_body(target, 1, PLAIN, &len));
    assert_int_equal(len, 0);
    snprintf(sql, sizeof(sql),
             "select count(*) from processes where pid = 200 and start_ms = %lld and"
             " length(argv) = 10 and length(exe) = 7 and source = 'ebpf' and unknown = 'argv'"
             " and start_boot_ns = 1 and exit_code = 0",
             (long long)(now - 1000));
    assert_int_equal(db_scalar(target, sql), 1);
    assert_null(event_body(target, 1, TTY, &len));
    assert_int_equal(db_scalar(target, "select count(*) from processes where pid = 201 and"
                                       " tty = 'pts/3'"),
                     1);
    /* Kept whole, and as sent. */
    got = event_body(target, 1, LATE, &len);
    assert_non_null(got);
    assert_int_equal(got->time_ms, x[LATE].start_time_ms + 5);
    assert_int_equal(got->process_exec->start_time_ms, x[LATE].start_time_ms);
    vigil__v1__event__free_unpacked(got, NULL);
    got = event_body(target, 1, NOSTART, &len);
    assert_non_null(got);
    assert_int_equal(got->process_exec->start_time_ms, 0);
    vigil__v1__event__free_unpacked(got, NULL);
    got = event_body(target, 1, EMPTY_ARG, &len);
    assert_non_null(got);
    assert_int_equal(got->process_exec->n_argv, 1);
    vigil__v1__event__free_unpacked(got, NULL);
    got = event_body(target, 1, EMPTY_UNK, &len);
    assert_non_null(got);
    assert_int_equal(got->process_exec->n_unknown, 1);
    vigil__v1__event__free_unpacked(got, NULL);
    got = event_body(target, 1, NEWER, &len);
    assert_non_null(got);
    assert_int_equal(got->process_exec->base.n_unknown_fields, 1);
    assert_int_equal(got->process_exec->base.unknown_fields[0].tag, 99);
    vigil__v1__event__free_unpacked(got, NULL);
    /* SQLite keeps the bytes of a name that is not UTF-8 in the row;
     * PostgreSQL cannot, so the body keeps them. */
    got = event_body(target, 1, LATIN1, &len);
    if (pg) {
        assert_non_null(got);
        assert_string_equal(got->process_exec->comm, "caf\xe9");
        vigil__v1__event__free_unpacked(got, NULL);
    } else {
        assert_null(got);
        assert_int_equal(db_scalar(target, "select count(*) from processes where"
                                           " comm = cast(x'636166e9' as text)"),
                         1);
    }
    got = event_body(target, 1, EXIT, &len);
    assert_non_null(got);
    assert_int_equal(got->process_exit->ppid, 1);
    vigil__v1__event__free_unpacked(got, NULL);
}

static void test_exec_body(void **state)
{
    char path[320], url[700];
    (void)state;
    snprintf(path, sizeof(path), "%s/body.db", dir);
    exec_body(path);
    if (!pg_server())
        return;
    pg_fresh("vg_store_body", url, sizeof(url));
    exec_body(url);
}

static void test_batch_rows(void **state)
{
    char path[320], url[700];
    (void)state;
    snprintf(path, sizeof(path), "%s/rows.db", dir);
    batch_rows(path);
    if (!pg_server())
        return;
    pg_fresh("vg_store_rows", url, sizeof(url));
    batch_rows(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once),
        cmocka_unit_test(test_poison_alone),
        cmocka_unit_test(test_processes_retention),
        cmocka_unit_test(test_package_history),
        cmocka_unit_test(test_token_lockout),
        cmocka_unit_test(test_clone_boot),
        cmocka_unit_test(test_backup_while_writing),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_batch_rows),
        cmocka_unit_test(test_exec_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
