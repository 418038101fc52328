/* Frame codec, lz4 and protobuf wrappers, including hostile frames. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "frame.h"
#include "lz.h"
#include "pb.h"
#include "vigil/v1/envelope.pb-c.h"

static struct vg_frame_limits limits(void)
{
    struct vg_frame_limits l;
    vg_frame_limits_default(&l);
    return l;
}

/* An Envelope carrying a Batch with n process-exec events. */
static void make_batch(struct vg_buf *out, size_t n)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Batch batch = VIGIL__V1__BATCH__INIT;
    Vigil__V1__Event **evs = calloc(n, sizeof(*evs));
    Vigil__V1__Event *ev = calloc(n, sizeof(*ev));
    Vigil__V1__ProcessExec *px = calloc(n, sizeof(*px));

    assert_non_null(evs);
    for (size_t i = 0; i < n; i++) {
        vigil__v1__event__init(&ev[i]);
        vigil__v1__process_exec__init(&px[i]);
        px[i].pid = (uint32_t)(1000 + i);
        px[i].comm = "bash";
        px[i].exe_path.data = (uint8_t *)"/usr/bin/bash";
        px[i].exe_path.len = 13;
        ev[i].time_ms = 1700000000000 + (int64_t)i;
        ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev[i].process_exec = &px[i];
        evs[i] = &ev[i];
    }
    batch.seq = 42;
    batch.n_events = n;
    batch.events = evs;
    env.sent_time_ms = 1700000000000;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_BATCH;
    env.batch = &batch;
    assert_int_equal(vg_frame_encode_msg(&env.base, out), 0);
    free(evs);
    free(ev);
    free(px);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_roundtrip_compressed(void **state)
{
    struct vg_buf b;
    struct vg_frame_limits l = limits();
    ProtobufCMessage *m = NULL;
    Vigil__V1__Envelope *env;
    (void)state;

    vg_buf_init(&b, 1 << 20);
    make_batch(&b, 200);
    assert_true(b.data[5] & VG_FRAME_LZ4); /* repetitive events compress */
    assert_int_equal(vg_frame_decode_msg(b.data, b.len, &l, &vigil__v1__envelope__descriptor, &m), 0);
    env = (Vigil__V1__Envelope *)m;
    assert_int_equal(env->body_case, VIGIL__V1__ENVELOPE__BODY_BATCH);
    assert_int_equal(env->batch->seq, 42);
    assert_int_equal(env->batch->n_events, 200);
    assert_int_equal(env->batch->events[199]->process_exec->pid, 1199);
    assert_string_equal(env->batch->events[5]->process_exec->comm, "bash");
    vg_pb_free(m);
    vg_buf_free(&b);
}

static void test_roundtrip_small_stored(void **state)
{
    struct vg_buf b;
    struct vg_frame_limits l = limits();
    uint8_t *raw = NULL;
    size_t used = 0, rl = 0;
    (void)state;

    vg_buf_init(&b, 1024);
    assert_int_equal(vg_frame_encode("hello", 5, &b), 0);
    assert_int_equal(b.len, VG_FRAME_HDR + 5);
    assert_int_equal(b.data[5], 0);
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), 0);
    assert_int_equal(used, b.len);
    assert_int_equal(rl, 5);
    assert_memory_equal(raw, "hello", 5);
    free(raw);
    /* Empty payload is a valid (empty) protobuf message. */
    vg_buf_reset(&b);
    assert_int_equal(vg_frame_encode("", 0, &b), 0);
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), 0);
    assert_int_equal(rl, 0);
    free(raw);
    vg_buf_free(&b);
}

static void test_oversized_length_prefix(void **state)
{
    struct vg_frame_limits l = limits();
    uint8_t hdr[VG_FRAME_HDR] = { 0 };
    uint8_t *raw = NULL;
    size_t used, rl;
    struct vg_frame_reader r;
    (void)state;

    put32(hdr, 0xffffffffu);
    hdr[4] = VG_FRAME_VERSION;
    put32(hdr + 8, 0xffffffffu);
    assert_int_equal(vg_frame_decode(hdr, sizeof(hdr), &l, &used, &raw, &rl), VG_ETOOBIG);
    /* Just over the wire limit. */
    put32(hdr, l.max_wire + 1);
    put32(hdr + 8, l.max_wire + 1);
    assert_int_equal(vg_frame_decode(hdr, sizeof(hdr), &l, &used, &raw, &rl), VG_ETOOBIG);
    /* Raw length over its limit while the payload is small. */
    put32(hdr, 1000);
    hdr[5] = VG_FRAME_LZ4;
    put32(hdr + 8, l.max_raw + 1);
    assert_int_equal(vg_frame_decode(hdr, sizeof(hdr), &l, &used, &raw, &rl), VG_ETOOBIG);

    /* The stream reader refuses as soon as the header is in, without
     * waiting for (or buffering) the 4 GiB it announces. */
    hdr[5] = 0;
    put32(hdr, 0xfffffff0u);
    put32(hdr + 8, 0xfffffff0u);
    vg_frame_reader_init(&r, &l);
    assert_int_equal(vg_frame_reader_feed(&r, hdr, sizeof(hdr)), 0);
    assert_int_equal(vg_frame_reader_next(&r, &raw, &rl), VG_ETOOBIG);
    assert_int_equal(vg_frame_reader_feed(&r, hdr, sizeof(hdr)), VG_ETOOBIG); /* sticky */
    assert_true(r.in.len <= sizeof(hdr));
    vg_frame_reader_free(&r);
}

static void test_truncated(void **state)
{
    struct vg_buf b;
    struct vg_frame_limits l = limits();
    ProtobufCMessage *m = NULL;
    uint8_t *raw = NULL;
    size_t used, rl;
    struct vg_frame_reader r;
    (void)state;

    vg_buf_init(&b, 1 << 20);
    make_batch(&b, 50);
    for (size_t cut = 0; cut < b.len; cut += (cut < 20 ? 1 : 97)) {
        assert_int_equal(vg_frame_decode(b.data, cut, &l, &used, &raw, &rl), VG_EAGAIN);
        assert_int_equal(vg_frame_decode_msg(b.data, cut, &l, &vigil__v1__envelope__descriptor,
                                             &m),
                         VG_ETRUNC);
    }
    /* Stream ends mid-frame. */
    vg_frame_reader_init(&r, &l);
    assert_int_equal(vg_frame_reader_feed(&r, b.data, b.len - 1), 0);
    assert_int_equal(vg_frame_reader_next(&r, &raw, &rl), VG_EAGAIN);
    assert_int_equal(vg_frame_reader_finish(&r), VG_ETRUNC);
    vg_frame_reader_free(&r);
    vg_buf_free(&b);
}

/* A frame far larger than the reader keeps: once it is taken out, the
 * reader gives the storage back, keeping the next frame's first bytes. */
static void test_reader_trim(void **state)
{
    struct vg_frame_limits l = limits();
    struct vg_frame_reader r;
    struct vg_buf big, small;
    uint8_t *raw = NULL, *noise = malloc(200000);
    uint32_t x = 2463534242u;
    size_t rl;
    (void)state;

    assert_non_null(noise);
    for (size_t i = 0; i < 200000; i++) { /* xorshift: lz4 cannot shrink it */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise[i] = (uint8_t)x;
    }
    vg_buf_init(&big, 1 << 20);
    vg_buf_init(&small, 1 << 20);
    assert_int_equal(vg_frame_encode(noise, 200000, &big), 0);
    assert_int_equal(vg_frame_encode("hello", 5, &small), 0);
    vg_frame_reader_init(&r, &l);
    assert_int_equal(vg_frame_reader_feed(&r, big.data, big.len), 0);
    assert_int_equal(vg_frame_reader_feed(&r, small.data, 7), 0);
    /* Mid-frame, nothing is given back. */
    assert_true(vg_frame_reader_held(&r) > 200000);
    assert_int_equal(vg_frame_reader_next(&r, &raw, &rl), 0);
    assert_int_equal(rl, 200000);
    assert_int_equal(memcmp(raw, noise, rl), 0);
    free(raw);
    assert_int_equal(vg_frame_reader_trim(&r), VG_FRAME_READER_KEEP);
    assert_int_equal(vg_frame_reader_held(&r), VG_FRAME_READER_KEEP);
    /* The next frame's first bytes survived the move. */
    assert_int_equal(vg_frame_reader_feed(&r, small.data + 7, small.len - 7), 0);
    assert_int_equal(vg_frame_reader_next(&r, &raw, &rl), 0);
    assert_int_equal(rl, 5);
    assert_int_equal(memcmp(raw, "hello", 5), 0);
    free(raw);
    assert_int_equal(vg_frame_reader_trim(&r), VG_FRAME_READER_KEEP); /* kept for the next */
    assert_int_equal(vg_frame_reader_finish(&r), 0);
    vg_frame_reader_free(&r);
    vg_buf_free(&big);
    vg_buf_free(&small);
    free(noise);
}

static void test_lz4_lies(void **state)
{
    struct vg_buf b;
    struct vg_frame_limits l = limits();
    uint8_t *raw = NULL, hdr[VG_FRAME_HDR];
    size_t used, rl;
    uint32_t real;
    (void)state;

    vg_buf_init(&b, 1 << 20);
    make_batch(&b, 100);
    assert_true(b.data[5] & VG_FRAME_LZ4);
    real = (uint32_t)b.data[8] << 24 | (uint32_t)b.data[9] << 16 | (uint32_t)b.data[10] << 8 |
           b.data[11];
    /* Claims one byte more, and one byte less, than the block holds. */
    put32(b.data + 8, real + 1);
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_ELZ4);
    put32(b.data + 8, real - 1);
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_ELZ4);
    /* A raw size lz4 cannot reach from this many bytes: refused before
     * allocating it. */
    memset(hdr, 0, sizeof(hdr));
    put32(hdr, 10);
    hdr[4] = VG_FRAME_VERSION;
    hdr[5] = VG_FRAME_LZ4;
    put32(hdr + 8, 10 * VG_LZ_MAX_RATIO + 1);
    assert_int_equal(vg_frame_decode(hdr, sizeof(hdr), &l, &used, &raw, &rl), VG_ELZ4);
    /* Garbage in the lz4 block with a plausible size. */
    put32(b.data + 8, real);
    memset(b.data + VG_FRAME_HDR, 0xff, 16);
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_ELZ4);
    vg_buf_free(&b);
}

static void test_protobuf_garbage(void **state)
{
    struct vg_buf b;
    struct vg_frame_limits l = limits();
    ProtobufCMessage *m = NULL;
    /* Field 1 varint with no end; then a length-delimited field that
     * claims more bytes than remain. */
    static const uint8_t bad1[] = { 0x08, 0xff, 0xff, 0xff };
    static const uint8_t bad2[] = { 0xa2, 0x01, 0x7f, 0x01, 0x02 };
    (void)state;

    vg_buf_init(&b, 1024);
    assert_int_equal(vg_frame_encode(bad1, sizeof(bad1), &b), 0);
    assert_int_equal(vg_frame_decode_msg(b.data, b.len, &l, &vigil__v1__envelope__descriptor, &m),
                     VG_EDECODE);
    vg_buf_reset(&b);
    assert_int_equal(vg_frame_encode(bad2, sizeof(bad2), &b), 0);
    assert_int_equal(vg_frame_decode_msg(b.data, b.len, &l, &vigil__v1__envelope__descriptor, &m),
                     VG_EDECODE);
    assert_null(m);
    vg_buf_free(&b);
}

/* Field number 0 in an over-long tag, "80 00" (found by fuzz_pb):
 * protobuf-c kept it as an unknown field and packed it as "00", which it
 * then refuses; a message that decodes must re-encode to one that
 * decodes, so it is refused at once, at any depth. */
static void test_protobuf_field_zero(void **state)
{
    /* In the Envelope; then in its Heartbeat (field 12). */
    static const uint8_t top[] = { 0x80, 0x00, 0x08 };
    static const uint8_t nested[] = { 0x62, 0x03, 0x80, 0x00, 0x08 };
    static const uint8_t ok[] = { 0x08, 0x01 };
    ProtobufCMessage *m = NULL;
    (void)state;
    assert_int_equal(vg_pb_unpack(&vigil__v1__envelope__descriptor, top, sizeof(top), &m),
                     VG_EDECODE);
    assert_null(m);
    assert_int_equal(vg_pb_unpack(&vigil__v1__envelope__descriptor, nested, sizeof(nested), &m),
                     VG_EDECODE);
    assert_int_equal(vg_pb_unpack(&vigil__v1__envelope__descriptor, ok, sizeof(ok), &m), 0);
    vg_pb_free(m);
}

static void test_bad_header_fields(void **state)
{
    struct vg_buf b;
    struct vg_frame_limits l = limits();
    uint8_t *raw = NULL;
    size_t used, rl;
    (void)state;

    vg_buf_init(&b, 1024);
    assert_int_equal(vg_frame_encode("abc", 3, &b), 0);
    b.data[4] = 2;
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_EVERSION);
    b.data[4] = VG_FRAME_VERSION;
    b.data[5] = 0x80;
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_ECORRUPT);
    b.data[5] = 0;
    b.data[7] = 1;
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_ECORRUPT);
    b.data[7] = 0;
    put32(b.data + 8, 4); /* stored, but raw_len != payload_len */
    assert_int_equal(vg_frame_decode(b.data, b.len, &l, &used, &raw, &rl), VG_ECORRUPT);
    /* TLS client speaking HTTP at us. */
    assert_int_not_equal(vg_frame_decode((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &l, &used,
                                         &raw, &rl),
                         0);
    /* Trailing bytes after a whole message. */
    put32(b.data + 8, 3);
    assert_int_equal(vg_buf_append(&b, "x", 1), 0);
    {
        ProtobufCMessage *m = NULL;
        assert_int_equal(vg_frame_decode_msg(b.data, b.len, &l, &vigil__v1__envelope__descriptor,
                                             &m),
                         VG_ECORRUPT);
    }
    vg_buf_free(&b);
}

/* Many frames fed one byte at a time, then in uneven chunks. */
static void test_reader_stream(void **state)
{
    struct vg_buf b;
    struct vg_frame_reader r;
    uint8_t *raw;
    size_t rl, got = 0;
    (void)state;

    vg_buf_init(&b, 1 << 22);
    for (int i = 0; i < 20; i++)
        make_batch(&b, (size_t)(1 + i * 7));
    vg_frame_reader_init(&r, NULL);
    for (size_t i = 0; i < b.len; i++) {
        assert_int_equal(vg_frame_reader_feed(&r, b.data + i, 1), 0);
        while (vg_frame_reader_next(&r, &raw, &rl) == 0) {
            ProtobufCMessage *m = NULL;
            assert_int_equal(vg_pb_unpack(&vigil__v1__envelope__descriptor, raw, rl, &m), 0);
            assert_int_equal(((Vigil__V1__Envelope *)m)->batch->n_events, 1 + got * 7);
            vg_pb_free(m);
            free(raw);
            got++;
        }
    }
    assert_int_equal(got, 20);
    assert_int_equal(vg_frame_reader_finish(&r), 0);
    vg_frame_reader_free(&r);

    got = 0;
    vg_frame_reader_init(&r, NULL);
    for (size_t off = 0; off < b.len;) {
        size_t n = b.len - off < 1000 ? b.len - off : 333 + off % 700;
        assert_int_equal(vg_frame_reader_feed(&r, b.data + off, n), 0);
        off += n;
        while (vg_frame_reader_next(&r, &raw, &rl) == 0) {
            free(raw);
            got++;
        }
    }
    assert_int_equal(got, 20);
    vg_frame_reader_free(&r);
    vg_buf_free(&b);
}

static void test_encode_limits(void **state)
{
    struct vg_buf b;
    uint8_t *big;
    (void)state;

    /* Output buffer too small: nothing appended. */
    vg_buf_init(&b, 8);
    assert_int_equal(vg_frame_encode("hello", 5, &b), VG_ETOOBIG);
    assert_int_equal(b.len, 0);
    vg_buf_free(&b);
    /* Raw over the limit is refused. */
    big = calloc(1, VG_FRAME_DEFAULT_MAX_RAW + 1);
    assert_non_null(big);
    vg_buf_init(&b, VG_FRAME_DEFAULT_MAX_RAW * 2);
    assert_int_equal(vg_frame_encode(big, VG_FRAME_DEFAULT_MAX_RAW + 1, &b), VG_ETOOBIG);
    /* At the limit it works (zeros compress well). */
    assert_int_equal(vg_frame_encode(big, VG_FRAME_DEFAULT_MAX_RAW, &b), 0);
    assert_true(b.len < 100000);
    free(big);
    vg_buf_free(&b);
}

static void test_lz_direct(void **state)
{
    struct vg_buf b;
    char out[64];
    (void)state;

    vg_buf_init(&b, 1024);
    assert_true(vg_lz_compress("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 42, &b) > 0);
    assert_int_equal(vg_lz_decompress(b.data, b.len, out, 42), 0);
    assert_memory_equal(out, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 42);
    assert_int_equal(vg_lz_decompress(b.data, b.len, out, 41), VG_ELZ4);
    assert_int_equal(vg_lz_decompress(b.data, b.len - 1, out, 42), VG_ELZ4);
    vg_buf_free(&b);
}

/* An lz4 frame of a few hundred KiB holding millions of empty events
 * would decode to gigabytes: the decode budget refuses it. */
static void test_decode_budget(void **state)
{
    struct vg_buf batch, env, fr;
    struct vg_frame_limits l = limits();
    ProtobufCMessage *m = NULL;
    const size_t n = 4u * 1024 * 1024;
    (void)state;

    vg_buf_init(&batch, 2 * n + 16);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vg_buf_append(&batch, "\x1a\x00", 2), 0); /* Batch.events = {} */
    vg_buf_init(&env, batch.len + 16);
    assert_int_equal(vg_pb_put_bytes(&env, 20, batch.data, batch.len), 0);
    vg_buf_init(&fr, 32u << 20);
    assert_int_equal(vg_frame_encode(env.data, env.len, &fr), 0);
    assert_true(fr.len < 64 * 1024); /* tiny on the wire */
    assert_int_equal(vg_frame_decode_msg(fr.data, fr.len, &l, &vigil__v1__envelope__descriptor, &m),
                     VG_EDECODE);
    assert_null(m);
    vg_buf_free(&batch);
    vg_buf_free(&env);
    vg_buf_free(&fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_compressed),
        cmocka_unit_test(test_roundtrip_small_stored),
        cmocka_unit_test(test_oversized_length_prefix),
        cmocka_unit_test(test_reader_trim),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_lz4_lies),
        cmocka_unit_test(test_protobuf_garbage),
        cmocka_unit_test(test_protobuf_field_zero),
        cmocka_unit_test(test_bad_header_fields),
        cmocka_unit_test(test_reader_stream),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_lz_direct),
        cmocka_unit_test(test_decode_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
