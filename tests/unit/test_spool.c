/* Agent spool: persistence across reopen, acks, torn tails, corruption,
 * the size limit (oldest telemetry first, KEEP records survive). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/net/spool.h"
#include "psmsg.h"
#include "crc32c.h"
#include "err.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vg-test-spool-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct spool *open_spool(const char *sub, uint64_t max)
{
    char path[300], err[256];
    struct spool_opts o = { max, 1 << 20, SPOOL_FSYNC_ALWAYS };
    struct spool *s;
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    s = spool_open(path, &o, err, sizeof(err));
    if (!s)
        fail_msg("spool_open: %s", err);
    return s;
}

static void payload(char *buf, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (seq + i) % 26);
}

static void append_n(struct spool *s, int n, size_t len, uint16_t cls)
{
    char *buf = malloc(len);
    for (int i = 0; i < n; i++) {
        uint64_t seq;
        payload(buf, len, spool_next_seq(s));
        assert_int_equal(spool_append(s, cls, 7, buf, len, &seq), 0);
    }
    free(buf);
}

static void check_payload(struct spool *s, struct spool_rec *r)
{
    uint8_t *data = NULL;
    char *want = malloc(r->len);
    assert_int_equal(spool_read(s, r, &data), 0);
    payload(want, r->len, r->seq);
    assert_memory_equal(data, want, r->len);
    free(data);
    free(want);
}

static void seg_file(const char *sub, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/00000000000000000001.seg", dir, sub);
}

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(vg_crc32c(0, "123456789", 9), 0xe3069283);
    assert_int_equal(vg_crc32c(vg_crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
    assert_int_equal(vg_crc32c_soft(0, "123456789", 9), 0xe3069283);
    /* The CPU's instruction (where used) and the table agree on every
     * length and alignment, continued or not. */
    {
        uint8_t buf[300];
        uint32_t x = 12345;
        for (size_t i = 0; i < sizeof(buf); i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        for (size_t off = 0; off < 9; off++)
            for (size_t len = 0; off + len <= sizeof(buf); len += 7) {
                assert_int_equal(vg_crc32c(0, buf + off, len), vg_crc32c_soft(0, buf + off, len));
                assert_int_equal(vg_crc32c(0xdeadbeef, buf + off, len),
                                 vg_crc32c_soft(0xdeadbeef, buf + off, len));
            }
    }
}

static void test_reopen_and_ack(void **state)
{
    struct spool *s = open_spool("a", 1 << 24);
    uint8_t epoch[16];
    (void)state;

    assert_int_equal(spool_next_seq(s), 1);
    append_n(s, 10, 100, SPOOL_TELEMETRY);
    memcpy(epoch, spool_epoch(s), 16);
    spool_close(s);

    s = open_spool("a", 1 << 24);
    assert_memory_equal(spool_epoch(s), epoch, 16);
    assert_int_equal(spool_count(s), 10);
    assert_int_equal(spool_next_seq(s), 11);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(spool_at(s, i)->seq, i + 1);
        assert_int_equal(spool_at(s, i)->events, 7);
        check_payload(s, spool_at(s, i));
    }
    assert_int_equal(spool_ack(s, 5), 0);
    assert_int_equal(spool_count(s), 5);
    spool_close(s);

    s = open_spool("a", 1 << 24);
    assert_int_equal(spool_count(s), 5);
    assert_int_equal(spool_at(s, 0)->seq, 6);
    assert_int_equal(spool_acked(s), 5);
    /* Everything acknowledged: the counter still never goes back. */
    assert_int_equal(spool_ack(s, 10), 0);
    spool_close(s);
    s = open_spool("a", 1 << 24);
    assert_int_equal(spool_count(s), 0);
    assert_int_equal(spool_next_seq(s), 11);
    spool_close(s);
}

static void test_torn_tail(void **state)
{
    struct spool *s = open_spool("t", 1 << 24);
    struct spool_stats st;
    char path[300];
    struct stat sb;
    (void)state;

    append_n(s, 3, 200, SPOOL_TELEMETRY);
    spool_close(s);
    seg_file("t", path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 50), 0); /* cut inside record 3 */

    s = open_spool("t", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(spool_count(s), 2);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(st.torn_bytes, SPOOL_HDR + 200 - 50);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 2 * (SPOOL_HDR + 200)); /* truncated to the good prefix */
    /* Appending continues cleanly after the cut. */
    append_n(s, 1, 200, SPOOL_TELEMETRY);
    spool_close(s);
    s = open_spool("t", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(spool_count(s), 3);
    assert_int_equal(st.bad_records, 0);
    check_payload(s, spool_at(s, 2));
    spool_close(s);
}

/* A damaged record the collector had already acknowledged loses nothing:
 * not counted as a bad record (issue 19); an unacknowledged one is. */
static void test_corrupt_acked(void **state)
{
    struct spool *s = open_spool("k", 1 << 24);
    struct spool_stats st;
    char path[300];
    int fd;
    (void)state;

    append_n(s, 5, 300, SPOOL_TELEMETRY);
    assert_int_equal(spool_ack(s, 2), 0); /* records 1 and 2 stay in the segment */
    spool_close(s);
    seg_file("k", path, sizeof(path));
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    /* Inside record 2's payload (acknowledged), then record 4's. */
    assert_int_equal(pwrite(fd, "XXXX", 4, (SPOOL_HDR + 300) + SPOOL_HDR + 100), 4);
    assert_int_equal(pwrite(fd, "XXXX", 4, 3 * (SPOOL_HDR + 300) + SPOOL_HDR + 100), 4);
    close(fd);

    s = open_spool("k", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(spool_count(s), 2);
    assert_int_equal(spool_at(s, 0)->seq, 3);
    assert_int_equal(spool_at(s, 1)->seq, 5);
    assert_int_equal(spool_recovered_high(s), 5);
    spool_close(s);
}

static void test_corrupt_middle(void **state)
{
    struct spool *s = open_spool("c", 1 << 24);
    struct spool_stats st;
    char path[300];
    int fd;
    (void)state;

    append_n(s, 5, 300, SPOOL_TELEMETRY);
    spool_close(s);
    seg_file("c", path, sizeof(path));
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    /* Flip bytes inside record 2's payload, and record 4's magic. */
    assert_int_equal(pwrite(fd, "XXXX", 4, (SPOOL_HDR + 300) + SPOOL_HDR + 100), 4);
    assert_int_equal(pwrite(fd, "ZZ", 2, 3 * (SPOOL_HDR + 300)), 2);
    close(fd);

    s = open_spool("c", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.bad_records, 2);
    assert_int_equal(spool_count(s), 3);
    assert_int_equal(spool_at(s, 0)->seq, 1);
    assert_int_equal(spool_at(s, 1)->seq, 3);
    assert_int_equal(spool_at(s, 2)->seq, 5);
    for (size_t i = 0; i < 3; i++)
        check_payload(s, spool_at(s, i));
    assert_int_equal(spool_next_seq(s), 6);
    spool_close(s);
}

static void test_limit_drops_oldest_telemetry(void **state)
{
    struct spool *s = open_spool("l", 256 * 1024);
    struct spool_stats st;
    int found_keep = 0;
    (void)state;

    append_n(s, 1, 10000, SPOOL_KEEP);     /* seq 1: an inventory snapshot */
    append_n(s, 99, 10000, SPOOL_TELEMETRY); /* ~1 MB into 256 KiB */
    spool_stats(s, &st);
    assert_true(st.bytes <= 256 * 1024);
    assert_true(st.dropped_records > 0);
    assert_int_equal(st.dropped_events, st.dropped_records * 7);
    assert_int_equal(st.dropped_records + spool_count(s), 100);
    for (size_t i = 0; i < spool_count(s); i++) {
        struct spool_rec *r = spool_at(s, i);
        if (r->seq == 1) {
            found_keep = 1;
            assert_int_equal(r->cls, SPOOL_KEEP);
        }
        check_payload(s, r);
        if (i > 0)
            assert_true(r->seq > spool_at(s, i - 1)->seq);
    }
    assert_true(found_keep);
    /* The newest records are the ones kept. */
    assert_int_equal(spool_at(s, spool_count(s) - 1)->seq, 100);
    spool_close(s);
    s = open_spool("l", 256 * 1024);
    assert_int_equal(spool_at(s, 0)->seq, 1);
    assert_int_equal(spool_next_seq(s), 101);
    spool_close(s);
}

/* Records dropped (spool full) while sent and unacknowledged are counted
 * as dropped only once the collector's answer says they were not stored:
 * an acknowledgement covering them means stored; the next connection's
 * hello answer (spool_ack, then spool_mark_unsent) settles the rest.
 * Counted at once, a batch the collector stored was also reported lost. */
static void test_limit_drop_in_flight(void **state)
{
    struct spool *s = open_spool("f", 256 * 1024);
    struct spool_stats st;
    (void)state;

    append_n(s, 10, 10000, SPOOL_TELEMETRY);
    for (int i = 0; i < 10; i++)
        spool_mark_sent(s);
    append_n(s, 40, 10000, SPOOL_TELEMETRY); /* the 10 sent ones go */
    assert_true(spool_at(s, 0)->seq > 10);
    assert_int_equal(spool_sent(s), 0);
    spool_stats(s, &st);
    assert_true(st.dropped_records > 0);
    /* The 10 in flight wait for the collector's answer. */
    assert_int_equal(st.dropped_records + spool_count(s), 40);
    assert_int_equal(st.dropped_events, st.dropped_records * 7);
    /* Batches 1-5 were stored: acknowledged, never counted. */
    assert_int_equal(spool_ack(s, 5), 0);
    spool_stats(s, &st);
    assert_int_equal(st.dropped_records + spool_count(s), 40);
    /* The connection broke; the next one's hello says 5 is the last
     * stored: 6-10 were not, and count as dropped. */
    assert_int_equal(spool_ack(s, 5), 0);
    spool_mark_unsent(s);
    spool_stats(s, &st);
    assert_int_equal(st.dropped_records + spool_count(s), 45);
    assert_int_equal(st.dropped_events, st.dropped_records * 7);
    spool_mark_unsent(s); /* settled once */
    spool_stats(s, &st);
    assert_int_equal(st.dropped_records + spool_count(s), 45);
    /* Sent again, dropped again, and the agent stops with no answer:
     * counted as dropped then, not left out. */
    {
        uint64_t first = spool_at(s, 0)->seq, before = st.dropped_records;
        for (int i = 0; i < 5; i++)
            spool_mark_sent(s);
        append_n(s, 30, 10000, SPOOL_TELEMETRY);
        assert_true(spool_at(s, 0)->seq > first + 4);
        spool_stats(s, &st);
        assert_int_equal(st.dropped_records + spool_count(s), 45 + 30 - 5);
        spool_settle(s);
        spool_stats(s, &st);
        assert_int_equal(st.dropped_records + spool_count(s), 45 + 30);
        assert_true(st.dropped_records > before + 5);
    }
    spool_close(s);
}

/* Records large against the limit (a batch can be a quarter of it). */
static void test_limit_big_records(void **state)
{
    struct spool *s = open_spool("big", 256 * 1024);
    struct spool_stats st;
    (void)state;

    append_n(s, 1, 1000, SPOOL_KEEP);
    for (int i = 0; i < 20; i++)
        append_n(s, 1, i % 3 ? 60000 : i % 2 ? 160000 : 255000, SPOOL_TELEMETRY);
    spool_stats(s, &st);
    assert_int_equal(st.unspooled, 0);
    assert_true(st.bytes <= 256 * 1024);
    assert_int_equal(spool_at(s, 0)->seq, 1);
    assert_int_equal(spool_at(s, spool_count(s) - 1)->seq, 21);
    spool_close(s);
}

/* Small KEEP records between large telemetry ones all survive. */
static void test_limit_mixed(void **state)
{
    struct spool *s = open_spool("mix", 256 * 1024);
    size_t keeps = 0;
    (void)state;

    for (int i = 0; i < 200; i++)
        append_n(s, 1, i % 3 == 0 ? 100 : 16000, i % 3 == 0 ? SPOOL_KEEP : SPOOL_TELEMETRY);
    for (size_t i = 0; i < spool_count(s); i++) {
        keeps += spool_at(s, i)->cls == SPOOL_KEEP;
        check_payload(s, spool_at(s, i));
    }
    assert_int_equal(keeps, 67);
    spool_close(s);
    s = open_spool("mix", 256 * 1024);
    keeps = 0;
    for (size_t i = 0; i < spool_count(s); i++)
        keeps += spool_at(s, i)->cls == SPOOL_KEEP;
    assert_int_equal(keeps, 67);
    spool_close(s);
}

static void test_new_epoch_and_drop(void **state)
{
    struct spool *s = open_spool("e", 1 << 24);
    uint8_t old[16];
    (void)state;
    append_n(s, 3, 10, SPOOL_TELEMETRY);
    memcpy(old, spool_epoch(s), 16);
    assert_int_equal(spool_new_epoch(s), 0);
    assert_memory_not_equal(spool_epoch(s), old, 16);
    assert_int_equal(spool_next_seq(s), 4);
    assert_int_equal(spool_drop(s, 2), 1);
    assert_int_equal(spool_drop(s, 2), 0);
    assert_int_equal(spool_count(s), 2);
    assert_int_equal(spool_ack(s, 1), 0);
    assert_int_equal(spool_new_epoch(s), 0);
    spool_close(s);
    s = open_spool("e", 1 << 24);
    assert_memory_not_equal(spool_epoch(s), old, 16);
    /* Neither the dropped batch nor the acknowledged one comes back,
     * across a new epoch and a restart; nothing is counted as bad. */
    assert_int_equal(spool_count(s), 1);
    assert_int_equal(spool_at(s, 0)->seq, 3);
    {
        struct spool_stats st;
        spool_stats(s, &st);
        assert_int_equal(st.bad_records, 0);
    }
    spool_close(s);
}

/* A flipped length byte in the newest segment is corruption, not a torn
 * tail: the records after it survive. */
static void test_bad_length_not_torn(void **state)
{
    struct spool *s = open_spool("len", 1 << 24);
    struct spool_stats st;
    char path[300];
    int fd;
    (void)state;
    append_n(s, 5, 100, SPOOL_TELEMETRY);
    spool_close(s);
    seg_file("len", path, sizeof(path));
    fd = open(path, O_RDWR);
    assert_int_equal(pwrite(fd, "\x7f", 1, 6), 1); /* record 1's length: huge */
    close(fd);
    s = open_spool("len", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(spool_count(s), 4);
    assert_int_equal(spool_at(s, 0)->seq, 2);
    spool_close(s);
}

/* A record whose CRC holds but whose seq is 2^64-1 (found by fuzz_spool):
 * taken, it made the next sequence number wrap to 0, so new batches
 * reused acknowledged numbers and the collector dropped them as
 * duplicates.  It is damage, skipped and counted. */
static void test_seq_out_of_range(void **state)
{
    struct spool *s = open_spool("seqmax", 1 << 24);
    struct spool_stats st;
    uint8_t rec[SPOOL_HDR + 100];
    uint32_t crc;
    uint64_t seq;
    char path[300];
    int fd;
    (void)state;
    append_n(s, 3, 100, SPOOL_TELEMETRY);
    spool_close(s);
    seg_file("seqmax", path, sizeof(path));
    fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, rec, sizeof(rec), 2 * sizeof(rec)), (ssize_t)sizeof(rec));
    memset(rec + 8, 0xff, 8);
    crc = vg_crc32c(vg_crc32c(0, rec + 4, 20), rec + SPOOL_HDR, 100);
    for (int i = 0; i < 4; i++)
        rec[24 + i] = (uint8_t)(crc >> (8 * i));
    assert_int_equal(pwrite(fd, rec, sizeof(rec), 2 * sizeof(rec)), (ssize_t)sizeof(rec));
    close(fd);
    s = open_spool("seqmax", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(spool_count(s), 2);
    assert_int_equal(spool_next_seq(s), 4);
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 1, "x", 1, &seq), 0);
    assert_int_equal(seq, 4);
    spool_close(s);
}

/* A damaged record numbered INT64_MAX, the last number the spool assigns
 * (found by fuzz_spool near the old 2^62 bound: the spool numbered past
 * its bound, refused its own record at the next open and reused the
 * number): taken, and appends are refused from then on, counted. */
static void test_seq_exhausted(void **state)
{
    struct spool *s = open_spool("seqend", 1 << 24);
    uint8_t rec[SPOOL_HDR + 100];
    uint32_t crc;
    uint64_t seq, v = (uint64_t)INT64_MAX;
    char path[300];
    int fd;
    (void)state;
    append_n(s, 1, 100, SPOOL_TELEMETRY);
    spool_close(s);
    seg_file("seqend", path, sizeof(path));
    fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, rec, sizeof(rec), 0), (ssize_t)sizeof(rec));
    for (int i = 0; i < 8; i++)
        rec[8 + i] = (uint8_t)(v >> (8 * i));
    crc = vg_crc32c(vg_crc32c(0, rec + 4, 20), rec + SPOOL_HDR, 100);
    for (int i = 0; i < 4; i++)
        rec[24 + i] = (uint8_t)(crc >> (8 * i));
    assert_int_equal(pwrite(fd, rec, sizeof(rec), 0), (ssize_t)sizeof(rec));
    close(fd);
    s = open_spool("seqend", 1 << 24);
    assert_int_equal(spool_count(s), 1);
    assert_true(spool_next_seq(s) == v + 1);
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 1, "x", 1, &seq), VG_ETOOBIG);
    assert_int_equal(spool_count(s), 1);
    spool_close(s);
}

/* Acknowledged past the highest sequence number (found by fuzz_spool, as
 * a meta slot with acked > high; a confused collector can send the same):
 * the next batches got numbers already "acknowledged", were forgotten at
 * the next start and dropped by the collector as duplicates. */
static void test_ack_past_high(void **state)
{
    struct spool *s = open_spool("ackhigh", 1 << 24);
    uint64_t seq;
    (void)state;
    append_n(s, 2, 100, SPOOL_TELEMETRY);
    assert_int_equal(spool_ack(s, 1000), 0);
    assert_int_equal(spool_acked(s), 2);
    assert_int_equal(spool_count(s), 0);
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 1, "x", 1, &seq), 0);
    assert_int_equal(seq, 3);
    spool_close(s);
    s = open_spool("ackhigh", 1 << 24);
    assert_int_equal(spool_count(s), 1);
    assert_int_equal(spool_at(s, 0)->seq, 3);
    spool_close(s);
}

/* One sequence number twice, both CRCs good (found by fuzz_spool): both
 * were recovered and would have been sent.  The first is kept. */
static void test_duplicate_seq(void **state)
{
    struct spool *s = open_spool("dupseq", 1 << 24);
    struct spool_stats st;
    uint8_t rec[SPOOL_HDR + 100];
    char path[300];
    int fd;
    (void)state;
    append_n(s, 2, 100, SPOOL_TELEMETRY);
    spool_close(s);
    seg_file("dupseq", path, sizeof(path));
    fd = open(path, O_RDWR | O_APPEND);
    assert_int_equal(pread(fd, rec, sizeof(rec), 0), (ssize_t)sizeof(rec));
    assert_int_equal(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec)); /* seq 1 again */
    close(fd);
    s = open_spool("dupseq", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(spool_count(s), 2);
    assert_int_equal(spool_at(s, 0)->seq, 1);
    assert_int_equal(spool_at(s, 0)->off, 0);
    assert_int_equal(spool_at(s, 1)->seq, 2);
    check_payload(s, spool_at(s, 0));
    spool_close(s);
}

/* Big KEEP records moved forward never make a segment the scan skips. */
static void test_keep_relocation_bounded(void **state)
{
    struct spool *s = open_spool("kr", 4 * 1024 * 1024);
    size_t keeps = 0;
    (void)state;
    for (int g = 0; g < 6; g++) {
        append_n(s, 1, 300000, SPOOL_KEEP);
        append_n(s, 3, 200000, SPOOL_TELEMETRY);
    }
    spool_close(s);
    s = open_spool("kr", 4 * 1024 * 1024);
    for (size_t i = 0; i < spool_count(s); i++) {
        keeps += spool_at(s, i)->cls == SPOOL_KEEP;
        check_payload(s, spool_at(s, i));
    }
    assert_int_equal(keeps, 6);
    spool_close(s);
}


/* ---- the open batch's journal ---- */

struct got {
    int n;
    char ev[16][64];
    size_t len[16];
};

static void collect(void *ctx, const uint8_t *ev, size_t len)
{
    struct got *g = ctx;
    assert_true(g->n < 16 && len < 64);
    memcpy(g->ev[g->n], ev, len);
    g->len[g->n++] = len;
}

static void jnl_event(char *out, size_t len, int i)
{
    snprintf(out, len, "event-%d", i);
}

/* Adds events from..to-1 to the journal. */
static void jnl_add(struct spool *s, int from, int to)
{
    char ev[64];
    for (int i = from; i < to; i++) {
        jnl_event(ev, sizeof(ev), i);
        assert_int_equal(spool_journal_add(s, ev, strlen(ev)), 0);
    }
}

static void check_got(const struct got *g, int from, int n)
{
    char ev[64];
    assert_int_equal(g->n, n);
    for (int i = 0; i < n; i++) {
        jnl_event(ev, sizeof(ev), from + i);
        assert_int_equal(g->len[i], strlen(ev));
        assert_memory_equal(g->ev[i], ev, strlen(ev));
    }
}

/* The death of the process: what child() did stays as it left it (no
 * close, no meta written, no fsync). */
static void die_after(const char *sub, void (*child)(struct spool *s))
{
    pid_t pid = fork();
    int status;
    assert_true(pid >= 0);
    if (pid == 0) {
        struct spool *s = open_spool(sub, 1 << 24);
        child(s);
        kill(getpid(), SIGKILL);
        _exit(3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void jpath(const char *sub, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/journal", dir, sub);
}

static void kill_open_batch(struct spool *s)
{
    append_n(s, 2, 100, SPOOL_TELEMETRY); /* two closed batches before it */
    jnl_add(s, 0, 5);
}

/* Killed with an open batch of 5 events: the next start has them, once
 * per start until the batch closes; then never again. */
static void test_journal_recovers_open_batch(void **state)
{
    struct spool *s;
    struct spool_stats st;
    struct got g = { 0 };
    uint64_t seq;
    (void)state;

    die_after("j1", kill_open_batch);
    s = open_spool("j1", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_recovered, 5);
    assert_int_equal(st.journal_bad + st.journal_torn + st.journal_discarded, 0);
    assert_int_equal(spool_count(s), 2);
    assert_int_equal(spool_journal_replay(s, collect, &g), 5);
    check_got(&g, 0, 5);
    /* Dies again before the batch closes: still the open batch. */
    jnl_add(s, 5, 7);
    spool_close(s); /* as good as a death: the journal is not emptied */
    s = open_spool("j1", 1 << 24);
    memset(&g, 0, sizeof(g));
    assert_int_equal(spool_journal_replay(s, collect, &g), 7);
    check_got(&g, 0, 7);
    /* The batch closes: a record, the journal emptied; nothing comes back. */
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 7, "batch", 5, &seq), 0);
    assert_int_equal(seq, 3);
    assert_int_equal(spool_journal_reset(s), 0);
    spool_close(s);
    s = open_spool("j1", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_recovered, 0);
    assert_int_equal(spool_count(s), 3);
    memset(&g, 0, sizeof(g));
    assert_int_equal(spool_journal_replay(s, collect, &g), 0);
    spool_close(s);
}

/* Tags: where the journaled events came from survives a death, with each
 * event in the journal while the batch is open and in the mark file once
 * it closed; the ring position stays across events from elsewhere; replay
 * hands on the events without their tags. */
static void kill_with_tags(struct spool *s)
{
    struct vg_ps_tag t = { .epoch = 7, .seq = 1, .ring_id = 3, .ring_pos = 800, .ring_sub = 1 };
    char ev[64];
    spool_journal_hold(s);
    for (int i = 0; i < 3; i++) {
        jnl_event(ev, sizeof(ev), i);
        t.seq = (uint64_t)i + 1;
        t.ring_pos += 8;
        assert_int_equal(spool_journal_add_tagged(s, ev, strlen(ev), &t), 0);
    }
    assert_int_equal(spool_journal_flush(s), 0);
    /* Not from the ring: the ring position stays. */
    jnl_event(ev, sizeof(ev), 3);
    assert_int_equal(spool_journal_add_tagged(s, ev, strlen(ev),
                                              &(struct vg_ps_tag){ .epoch = 7, .seq = 4 }), 0);
    /* Untagged (the agent's own loss records). */
    jnl_add(s, 4, 5);
}

static void test_journal_tags(void **state)
{
    struct spool *s;
    struct spool_stats st;
    struct vg_ps_tag t;
    struct got g = { 0 };
    uint64_t seq;
    (void)state;

    die_after("jm", kill_with_tags);
    s = open_spool("jm", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_recovered, 5);
    assert_int_equal(st.journal_bad + st.journal_torn, 0);
    spool_get_mark(s, &t);
    assert_int_equal(t.epoch, 7);
    assert_int_equal(t.seq, 4);
    assert_int_equal(t.ring_id, 3);
    assert_int_equal(t.ring_pos, 824);
    assert_int_equal(t.ring_sub, 1);
    assert_int_equal(spool_journal_replay(s, collect, &g), 5);
    check_got(&g, 0, 5);
    /* The batch closes: the mark outlives the journal. */
    t.seq = 9;
    t.ring_pos = 1000;
    spool_set_mark(s, &t);
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 5, "batch", 5, &seq), 0);
    assert_int_equal(spool_journal_reset(s), 0);
    spool_close(s);
    s = open_spool("jm", 1 << 24);
    memset(&t, 0, sizeof(t));
    spool_get_mark(s, &t);
    assert_int_equal(t.seq, 9);
    assert_int_equal(t.ring_pos, 1000);
    memset(&g, 0, sizeof(g));
    assert_int_equal(spool_journal_replay(s, collect, &g), 0);
    spool_close(s);
}

static void kill_after_append(struct spool *s)
{
    uint64_t seq;
    jnl_add(s, 0, 4);
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 4, "batch", 5, &seq), 0);
    /* dies here, before spool_journal_reset */
}

/* Killed between "record appended" and "journal emptied": the journal's
 * seq is in the spool, so its events are not replayed (no duplicates). */
static void test_journal_after_append_not_resent(void **state)
{
    struct spool *s;
    struct spool_stats st;
    struct got g = { 0 };
    (void)state;

    die_after("j2", kill_after_append);
    s = open_spool("j2", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(spool_count(s), 1);
    assert_int_equal(st.journal_recovered, 0);
    assert_int_equal(st.journal_discarded, 4);
    assert_int_equal(st.journal_bad + st.journal_torn, 0);
    assert_int_equal(spool_journal_replay(s, collect, &g), 0);
    /* The next batch journals under the next seq. */
    jnl_add(s, 10, 12);
    spool_close(s);
    s = open_spool("j2", 1 << 24);
    assert_int_equal(spool_journal_replay(s, collect, &g), 2);
    check_got(&g, 10, 2);
    spool_close(s);
}

static void kill_mid_append(struct spool *s)
{
    uint64_t seq;
    char path[300];
    struct stat sb;
    jnl_add(s, 0, 3);
    assert_int_equal(spool_append(s, SPOOL_TELEMETRY, 3, "a batch of three", 16, &seq), 0);
    /* The record's write cut short by the death. */
    seg_file("j3", path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 6), 0);
}

/* Killed while appending the record: the torn record is truncated, and
 * since the journal has that batch whole, it is not counted as lost. */
static void test_journal_torn_record_not_loss(void **state)
{
    struct spool *s;
    struct spool_stats st;
    struct got g = { 0 };
    (void)state;

    die_after("j3", kill_mid_append);
    s = open_spool("j3", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(spool_count(s), 0);
    assert_int_equal(spool_next_seq(s), 1);
    assert_int_equal(st.bad_records, 0);
    assert_int_equal(st.journal_recovered, 3);
    assert_int_equal(spool_journal_replay(s, collect, &g), 3);
    check_got(&g, 0, 3);
    spool_close(s);
}

/* A torn last entry is truncated and counted; a damaged entry in the
 * middle is skipped and counted, once (the journal is rewritten). */
static void test_journal_torn_and_corrupt(void **state)
{
    struct spool *s = open_spool("j4", 1 << 24);
    struct spool_stats st;
    struct got g = { 0 };
    char path[300];
    struct stat sb;
    int fd;
    (void)state;

    jnl_add(s, 0, 4);
    spool_close(s);
    jpath("j4", path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 3), 0); /* event-3 torn */
    /* event-1's payload damaged: header 20, entry 0 is 12 + 7 bytes */
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, SPOOL_JNL_HDR + 19 + SPOOL_JNL_ENTRY_HDR + 2), 1);
    close(fd);

    s = open_spool("j4", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_recovered, 2);
    assert_int_equal(st.journal_bad, 1);
    assert_int_equal(st.journal_torn, 1);
    assert_int_equal(spool_journal_replay(s, collect, &g), 2);
    assert_string_equal(g.ev[0], "event-0");
    assert_string_equal(g.ev[1], "event-2");
    spool_close(s);
    /* Rewritten: the damage is not counted a second time. */
    s = open_spool("j4", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_recovered, 2);
    assert_int_equal(st.journal_bad + st.journal_torn, 0);
    /* and appending goes on after the kept entries */
    jnl_add(s, 7, 8);
    spool_close(s);
    s = open_spool("j4", 1 << 24);
    memset(&g, 0, sizeof(g));
    assert_int_equal(spool_journal_replay(s, collect, &g), 3);
    assert_string_equal(g.ev[2], "event-7");
    spool_close(s);
}

/* A header that is not one: the whole journal is counted as lost. */
static void test_journal_bad_header(void **state)
{
    struct spool *s = open_spool("j5", 1 << 24);
    struct spool_stats st;
    char path[300];
    int fd;
    (void)state;

    jnl_add(s, 0, 2);
    spool_close(s);
    jpath("j5", path, sizeof(path));
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "Z", 1, 9), 1); /* inside seq: the CRC fails */
    close(fd);
    s = open_spool("j5", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_recovered, 0);
    assert_int_equal(st.journal_bad, 1);
    spool_close(s);
    s = open_spool("j5", 1 << 24);
    spool_stats(s, &st);
    assert_int_equal(st.journal_bad, 0); /* emptied: counted once */
    spool_close(s);
}

/* Bounds: an event over SPOOL_JNL_EVENT_MAX is refused, the journal
 * stays as it was. */
static void test_journal_bounds(void **state)
{
    struct spool *s = open_spool("j6", 1 << 24);
    struct spool_stats st;
    struct got g = { 0 };
    char *big = calloc(1, SPOOL_JNL_EVENT_MAX + 1);
    (void)state;

    jnl_add(s, 0, 1);
    assert_int_equal(spool_journal_add(s, big, SPOOL_JNL_EVENT_MAX + 1), VG_ETOOBIG);
    jnl_add(s, 1, 2);
    spool_stats(s, &st);
    assert_int_equal(st.journal_write_errors, 1);
    spool_close(s);
    s = open_spool("j6", 1 << 24);
    assert_int_equal(spool_journal_replay(s, collect, &g), 2);
    check_got(&g, 0, 2);
    spool_close(s);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_reopen_and_ack),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_corrupt_acked),
        cmocka_unit_test(test_limit_drops_oldest_telemetry),
        cmocka_unit_test(test_limit_drop_in_flight),
        cmocka_unit_test(test_limit_big_records),
        cmocka_unit_test(test_limit_mixed),
        cmocka_unit_test(test_new_epoch_and_drop),
        cmocka_unit_test(test_bad_length_not_torn),
        cmocka_unit_test(test_keep_relocation_bounded),
        cmocka_unit_test(test_journal_recovers_open_batch),
        cmocka_unit_test(test_journal_after_append_not_resent),
        cmocka_unit_test(test_journal_torn_record_not_loss),
        cmocka_unit_test(test_journal_torn_and_corrupt),
        cmocka_unit_test(test_journal_bad_header),
        cmocka_unit_test(test_journal_bounds),
        cmocka_unit_test(test_journal_tags),
        cmocka_unit_test(test_seq_out_of_range),
        cmocka_unit_test(test_ack_past_high),
        cmocka_unit_test(test_duplicate_seq),
        cmocka_unit_test(test_seq_exhausted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
