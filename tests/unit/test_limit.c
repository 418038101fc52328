/* Limits on misbehaving peers: the summarising tally (every event reported,
 * one by one or in a summary), the token bucket, failures per address. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "limit.h"

/* 5,000 refusals in 1.6 s: three shown, one summary of all 5,000 at the
 * disconnect (forced), nothing lost. */
static void tally_flood_then_close(void **state)
{
    struct vg_tally t = VG_TALLY_INIT(10000, 3);
    struct vg_tally_sum sum;
    uint64_t now = 1000, shown = 0;
    (void)state;

    for (int i = 0; i < 5000; i++)
        shown += (uint64_t)vg_tally_add(&t, now + (uint64_t)i * 1600 / 5000);
    assert_int_equal(shown, 3);
    /* Not due yet: the interval has not passed. */
    assert_int_equal(vg_tally_take(&t, now + 2000, 0, &sum), 0);
    assert_int_equal(vg_tally_take(&t, now + 2000, 1, &sum), 1);
    assert_int_equal(sum.n, 5000);
    assert_int_equal(sum.counted, 4997);
    assert_true(sum.span_ms >= 1590 && sum.span_ms <= 1600);
    assert_int_equal(t.total, 5000);
    /* Nothing left. */
    assert_int_equal(vg_tally_take(&t, now + 2000, 1, &sum), 0);
}

/* A steady flood: one summary per interval, no event shown after the
 * first burst, and the summaries add up to every event. */
static void tally_steady_flood(void **state)
{
    struct vg_tally t = VG_TALLY_INIT(10000, 3);
    struct vg_tally_sum sum;
    uint64_t shown = 0, summed = 0, summaries = 0;
    (void)state;

    for (uint64_t ms = 1000; ms < 1000 + 60000; ms += 10) {
        shown += (uint64_t)vg_tally_add(&t, ms);
        if (vg_tally_take(&t, ms, 0, &sum)) {
            summaries++;
            summed += sum.counted;
        }
    }
    if (vg_tally_take(&t, 61000, 1, &sum)) {
        summaries++;
        summed += sum.counted;
    }
    assert_int_equal(shown, 3);
    assert_int_equal(shown + summed, 6000);
    assert_true(summaries >= 6 && summaries <= 7);
}

/* Occasional events are all shown; none waits for a summary. */
static void tally_occasional(void **state)
{
    struct vg_tally t = VG_TALLY_INIT(10000, 3);
    struct vg_tally_sum sum;
    (void)state;

    for (uint64_t ms = 5000; ms < 5000 + 100000; ms += 4000)
        assert_int_equal(vg_tally_add(&t, ms), 1);
    assert_int_equal(vg_tally_take(&t, 200000, 1, &sum), 0);
}

/* After a flood and a quiet spell, events are shown one by one again; the
 * summary's period does not include old, shown events. */
static void tally_quiet_again(void **state)
{
    struct vg_tally t = VG_TALLY_INIT(10000, 2);
    struct vg_tally_sum sum;
    (void)state;

    for (int i = 0; i < 10; i++)
        vg_tally_add(&t, 1000);
    assert_int_equal(vg_tally_take(&t, 11000, 0, &sum), 1);
    assert_int_equal(sum.n, 10);
    assert_int_equal(sum.counted, 8);
    /* Within the hush after a summary: counted. */
    assert_int_equal(vg_tally_add(&t, 15000), 0);
    assert_int_equal(vg_tally_take(&t, 26000, 0, &sum), 1);
    assert_int_equal(sum.n, 1);
    /* Quiet since: shown. */
    assert_int_equal(vg_tally_add(&t, 60000), 1);
    assert_int_equal(vg_tally_add(&t, 60001), 1);
    assert_int_equal(vg_tally_add(&t, 60002), 0);
    assert_int_equal(vg_tally_take(&t, 60003, 1, &sum), 1);
    assert_int_equal(sum.n, 3);
    assert_int_equal(sum.counted, 1);
    assert_int_equal(sum.span_ms, 2);
}

static void bucket(void **state)
{
    struct vg_bucket b = VG_BUCKET_INIT(60000, 60);
    int taken = 0;
    (void)state;

    for (int i = 0; i < 100; i++)
        taken += vg_bucket_take(&b, 1000);
    assert_int_equal(taken, 60);
    assert_int_equal(vg_bucket_ok(&b, 1500), 0);
    /* One a second. */
    assert_int_equal(vg_bucket_take(&b, 2000), 1);
    assert_int_equal(vg_bucket_take(&b, 2000), 0);
    /* Never more than the burst, however long the quiet. */
    taken = 0;
    for (int i = 0; i < 100; i++)
        taken += vg_bucket_take(&b, 10000000);
    assert_int_equal(taken, 60);
    /* Small steps add up (no rounding away of the refill). */
    taken = 0;
    for (uint64_t ms = 10000000; ms < 10000000 + 10000; ms += 7)
        taken += vg_bucket_take(&b, ms);
    assert_true(taken >= 9 && taken <= 10);
}

static void addr_keys(void **state)
{
    uint8_t a[16], b[16];
    (void)state;

    assert_int_equal(vg_addrlim_key("192.0.2.1:4000", a), 0);
    assert_int_equal(vg_addrlim_key("192.0.2.1", b), 0);
    assert_memory_equal(a, b, 16);
    assert_int_equal(vg_addrlim_key("192.0.2.2:4000", b), 0);
    assert_memory_not_equal(a, b, 16);
    /* IPv6: one /64 is one key. */
    assert_int_equal(vg_addrlim_key("[2001:db8:1:2::1]:4000", a), 0);
    assert_int_equal(vg_addrlim_key("2001:db8:1:2:ffff::7", b), 0);
    assert_memory_equal(a, b, 16);
    assert_int_equal(vg_addrlim_key("[2001:db8:1:3::1]:4000", b), 0);
    assert_memory_not_equal(a, b, 16);
    /* IPv4-mapped is the IPv4 address. */
    assert_int_equal(vg_addrlim_key("[::ffff:192.0.2.1]:1", a), 0);
    assert_int_equal(vg_addrlim_key("192.0.2.1", b), 0);
    assert_memory_equal(a, b, 16);
    /* Not an address: a key all the same, distinct. */
    assert_int_equal(vg_addrlim_key("nonsense", a), -EINVAL);
    assert_int_equal(vg_addrlim_key("other nonsense", b), -EINVAL);
    assert_memory_not_equal(a, b, 16);
}

static void addr_limit(void **state)
{
    static struct vg_addrlim l;
    uint8_t k[16], k2[16];
    (void)state;

    memset(&l, 0, sizeof(l));
    l.window_ms = 60000;
    l.max = 10;
    vg_addrlim_key("198.51.100.7", k);
    vg_addrlim_key("198.51.100.8", k2);
    for (int i = 0; i < 9; i++)
        assert_int_equal(vg_addrlim_fail(&l, k, 1000), (unsigned)i + 1);
    assert_int_equal(vg_addrlim_limited(&l, k, 1000), 0);
    vg_addrlim_fail(&l, k, 1000);
    assert_int_equal(vg_addrlim_limited(&l, k, 1000), 1);
    assert_int_equal(vg_addrlim_limited(&l, k2, 1000), 0);
    /* The window ends. */
    assert_int_equal(vg_addrlim_limited(&l, k, 61000), 0);
    assert_int_equal(vg_addrlim_count(&l, k, 61000), 0);
}

/* Churn: a table full of live entries keeps them all (the limited address
 * stays limited) and counts the newcomers as untracked. */
static void addr_churn(void **state)
{
    static struct vg_addrlim l;
    uint8_t k[16], limited[16];
    char a[32];
    (void)state;

    memset(&l, 0, sizeof(l));
    l.window_ms = 60000;
    l.max = 3;
    vg_addrlim_key("203.0.113.1", limited);
    for (int i = 0; i < 3; i++)
        vg_addrlim_fail(&l, limited, 1000);
    for (int i = 0; i < 3 * VG_ADDRLIM_SLOTS; i++) {
        snprintf(a, sizeof(a), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        vg_addrlim_key(a, k);
        vg_addrlim_fail(&l, k, 2000);
    }
    assert_int_equal(vg_addrlim_limited(&l, limited, 3000), 1);
    assert_int_equal(l.untracked, 2 * VG_ADDRLIM_SLOTS + 1);
    /* Once their windows end, slots are reused. */
    vg_addrlim_key("10.200.0.1", k);
    assert_int_equal(vg_addrlim_fail(&l, k, 62000), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tally_flood_then_close),
        cmocka_unit_test(tally_steady_flood),
        cmocka_unit_test(tally_occasional),
        cmocka_unit_test(tally_quiet_again),
        cmocka_unit_test(bucket),
        cmocka_unit_test(addr_keys),
        cmocka_unit_test(addr_limit),
        cmocka_unit_test(addr_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
