/* Agent run state: the record's round trip and CRC, and when a start
 * reports the previous run's unclean stop (AgentTamper). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/priv/runstate.h"
#include "err.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vg-test-runstate-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_record_round_trip(void **state)
{
    struct runstate_prev a, b;
    uint8_t rec[RUNSTATE_REC];
    (void)state;

    memset(&a, 0, sizeof(a));
    a.clean = 1;
    a.start_ms = 1700000000123;
    a.beat_ms = 1700000004567;
    a.stop_ms = 1700000004999;
    a.pid = 4242;
    snprintf(a.boot_id, sizeof(a.boot_id), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    runstate_encode(rec, &a);
    memset(&b, 0, sizeof(b));
    assert_int_equal(runstate_decode(rec, &b), 0);
    assert_true(b.readable && b.clean);
    assert_int_equal(b.start_ms, a.start_ms);
    assert_int_equal(b.beat_ms, a.beat_ms);
    assert_int_equal(b.stop_ms, a.stop_ms);
    assert_int_equal(b.pid, 4242);
    assert_string_equal(b.boot_id, a.boot_id);
    rec[20] ^= 1; /* inside beat_ms */
    assert_int_equal(runstate_decode(rec, &b), VG_ECORRUPT);
}

static void loop_once(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT);
}

/* First start: nothing to say.  A run that stops cleanly: nothing.  A run
 * killed after its start is recorded: one AgentTamper with its start,
 * heartbeat and gap.  An unreadable record: one too, saying so. */
static void test_unclean_stop(void **state)
{
    uv_loop_t loop;
    struct runstate_prev prev;
    struct runstate *r;
    Vigil__V1__Event ev;
    Vigil__V1__AgentTamper t;
    char err[256], path[300];
    int64_t t0;
    FILE *f;
    pid_t pid;
    int status;
    (void)state;

    uv_loop_init(&loop);
    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_false(prev.found);
    assert_int_equal(runstate_tamper(&prev, 1000, 0, 0, &ev, &t), 0);
    assert_int_equal(runstate_start(r, &loop), 0);
    runstate_clean_stop(r);
    loop_once(&loop);

    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_true(prev.found && prev.readable && prev.clean);
    assert_int_equal(runstate_tamper(&prev, 1000, 0, 0, &ev, &t), 0);
    runstate_clean_stop(r); /* not started: freed at once, writes clean */
    t0 = prev.stop_ms;
    /* A run killed once started: no clean stop. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uv_loop_t l2;
        uv_loop_init(&l2);
        r = runstate_open(dir, &prev, err, sizeof(err));
        if (!r || runstate_start(r, &l2) != 0)
            _exit(3);
        kill(getpid(), SIGKILL);
        _exit(3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_true(prev.found && prev.readable);
    assert_false(prev.clean);
    assert_int_equal(prev.pid, (uint32_t)pid);
    assert_true(prev.start_ms >= t0 && prev.beat_ms >= prev.start_ms);
    assert_false(prev.rebooted);
    assert_int_equal(runstate_tamper(&prev, prev.beat_ms + 1500, 1, 7, &ev, &t), 1);
    assert_int_equal(ev.kind_case, VIGIL__V1__EVENT__KIND_AGENT_TAMPER);
    assert_string_equal(t.kind, "unclean-stop");
    assert_string_equal(t.how, "killed or crashed: no clean stop");
    assert_int_equal(t.gap_ms, 1500);
    assert_int_equal(t.prev_start_time_ms, prev.start_ms);
    assert_true(t.ring_lost_known);
    assert_int_equal(t.ring_lost, 7);
    runstate_clean_stop(r); /* not started: freed at once */

    /* An unreadable record is reported too, as such. */
    snprintf(path, sizeof(path), "%s/run", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("garbage", f);
    fclose(f);
    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_true(prev.found && !prev.readable);
    assert_int_equal(runstate_tamper(&prev, 5, 0, 0, &ev, &t), 1);
    assert_non_null(strstr(t.how, "unreadable"));
    runstate_clean_stop(r);
    loop_once(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static pid_t run_and_die(int started)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uv_loop_t l2;
        struct runstate_prev prev;
        struct runstate *r;
        char err[256];
        uv_loop_init(&l2);
        r = runstate_open(dir, &prev, err, sizeof(err));
        if (!r || (started && runstate_start(r, &l2) != 0))
            _exit(3);
        kill(getpid(), SIGKILL);
        _exit(3);
    }
    return pid;
}

/* Runs killed before their report of the run before them was spooled
 * (before runstate_start): each is seen by the next start, and the runs
 * they had to report are reported again, oldest first, until one start
 * gets them into the spool. */
static void test_killed_before_reporting(void **state)
{
    uv_loop_t loop;
    struct runstate_prev prev;
    const struct runstate_prev *runs;
    struct runstate *r;
    char err[256];
    pid_t a, b, c;
    int status;
    (void)state;

    uv_loop_init(&loop);
    a = run_and_die(1); /* killed while running */
    assert_int_equal(waitpid(a, &status, 0), a);
    b = run_and_die(0); /* killed before it could report a */
    assert_int_equal(waitpid(b, &status, 0), b);
    c = run_and_die(0); /* and again */
    assert_int_equal(waitpid(c, &status, 0), c);
    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(prev.pid, (uint32_t)c);
    assert_int_equal(runstate_unreported(r, &runs), 3);
    assert_int_equal(runs[0].pid, (uint32_t)a);
    assert_int_equal(runs[1].pid, (uint32_t)b);
    assert_int_equal(runs[2].pid, (uint32_t)c);
    for (int i = 0; i < 3; i++) {
        Vigil__V1__Event ev;
        Vigil__V1__AgentTamper t;
        assert_int_equal(runstate_tamper(&runs[i], runs[i].start_ms + 10, 0, 0, &ev, &t), 1);
        assert_int_equal(t.prev_pid, runs[i].pid);
        assert_string_equal(t.how, "killed or crashed: no clean stop");
    }
    /* Reported (in the spool): the next start has only this run to say. */
    assert_int_equal(runstate_start(r, &loop), 0);
    runstate_clean_stop(r);
    loop_once(&loop);
    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_true(prev.clean);
    assert_int_equal(runstate_unreported(r, &runs), 0);
    runstate_clean_stop(r);
    /* More runs killed before reporting than are kept: the newest are. */
    for (int i = 0; i < RUNSTATE_PENDING_MAX + 3; i++) {
        pid_t p = run_and_die(0);
        assert_int_equal(waitpid(p, &status, 0), p);
        c = p;
    }
    r = runstate_open(dir, &prev, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(runstate_unreported(r, &runs), RUNSTATE_PENDING_MAX);
    assert_int_equal(runs[RUNSTATE_PENDING_MAX - 1].pid, (uint32_t)c);
    runstate_clean_stop(r);
    loop_once(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_unclean_stop),
        cmocka_unit_test(test_killed_before_reporting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
