/* Collector store (SQLite file): a batch is stored once per (host,
 * epoch, seq), whatever the resends; hello reports the last stored
 * sequence per epoch; loss records add up. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../collector/store.h"

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
    rc = store_batch(s, host, epoch, &b, 0, 2000);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
