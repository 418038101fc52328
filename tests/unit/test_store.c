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
#include <unistd.h>

#include <sqlite3.h>

#include "../../collector/store.h"
#include "err.h"

static char dir[256], db[300];

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
    char cmd[300];
    (void)state;
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
