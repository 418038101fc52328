/* metrics: the endpoint's address (loopback unless allowed), the text
 * format's helpers (escaping, cumulative histogram buckets, a sticky
 * error at the buffer's maximum), and vg_pb_first_field, which the agent
 * uses to count events by kind. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metrics.h"
#include "pb.h"

static void test_listen(void **state)
{
    struct sockaddr_storage ss;
    char err[300];
    (void)state;

    assert_int_equal(vg_metrics_parse_listen("127.0.0.1:9810", 0, "[metrics] listen", &ss, err,
                                             sizeof(err)), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9810);
    assert_int_equal(vg_metrics_parse_listen("127.8.9.10:1", 0, "k", &ss, err, sizeof(err)), 0);
    assert_int_equal(vg_metrics_parse_listen("[::1]:9810", 0, "k", &ss, err, sizeof(err)), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    /* Not loopback: refused unless allowed. */
    assert_int_equal(vg_metrics_parse_listen("0.0.0.0:9810", 0, "[metrics] listen", &ss, err,
                                             sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "[metrics] listen '0.0.0.0:9810': not a loopback address"));
    assert_int_equal(vg_metrics_parse_listen("[::]:9810", 0, "k", &ss, err, sizeof(err)),
                     VG_ECONFIG);
    assert_int_equal(vg_metrics_parse_listen("[::ffff:127.0.0.1]:9810", 0, "k", &ss, err,
                                             sizeof(err)), VG_ECONFIG);
    assert_int_equal(vg_metrics_parse_listen("192.0.2.1:9810", 1, "k", &ss, err, sizeof(err)), 0);
    /* Not an address and a port. */
    assert_int_equal(vg_metrics_parse_listen("127.0.0.1", 0, "k", &ss, err, sizeof(err)),
                     VG_ECONFIG);
    assert_int_equal(vg_metrics_parse_listen("localhost:9810", 0, "k", &ss, err, sizeof(err)),
                     VG_ECONFIG);
    assert_int_equal(vg_metrics_parse_listen("127.0.0.0/8:9810", 0, "k", &ss, err, sizeof(err)),
                     VG_ECONFIG);
    assert_int_equal(vg_metrics_parse_listen("127.0.0.1:0", 0, "k", &ss, err, sizeof(err)),
                     VG_ECONFIG);
    assert_int_equal(vg_metrics_parse_listen("", 0, "k", &ss, err, sizeof(err)), VG_ECONFIG);
}

static void test_text(void **state)
{
    struct vg_prom p;
    static const double le[] = { 0.001, 0.5, 2 };
    static const uint64_t counts[] = { 1, 0, 3 };
    (void)state;

    memset(&p, 0, sizeof(p));
    vg_buf_init(&p.b, 4096);
    vg_prom_counter(&p, "a_total", "Line\\one\ntwo", 7);
    vg_prom_family(&p, "b", "gauge", "B.");
    vg_prom_u64(&p, "b", "why", "q\"uo\\te\nnl", 1);
    vg_prom_double(&p, "b", "why", "half", 0.5);
    vg_prom_histogram(&p, "h_seconds", "H.", le, counts, 3, 2, 12.25);
    assert_int_equal(p.err, 0);
    assert_string_equal((char *)p.b.data,
                        "# HELP a_total Line\\\\one\\ntwo\n"
                        "# TYPE a_total counter\n"
                        "a_total 7\n"
                        "# HELP b B.\n"
                        "# TYPE b gauge\n"
                        "b{why=\"q\\\"uo\\\\te\\nnl\"} 1\n"
                        "b{why=\"half\"} 0.5\n"
                        "# HELP h_seconds H.\n"
                        "# TYPE h_seconds histogram\n"
                        "h_seconds_bucket{le=\"0.001\"} 1\n"
                        "h_seconds_bucket{le=\"0.5\"} 1\n"
                        "h_seconds_bucket{le=\"2\"} 4\n"
                        "h_seconds_bucket{le=\"+Inf\"} 6\n"
                        "h_seconds_sum 12.25\n"
                        "h_seconds_count 6\n");
    vg_buf_free(&p.b);
}

static void test_full(void **state)
{
    struct vg_prom p;
    size_t len;
    (void)state;

    memset(&p, 0, sizeof(p));
    vg_buf_init(&p.b, 40);
    vg_prom_gauge(&p, "g", "G.", 1); /* 25 bytes */
    assert_int_equal(p.err, 0);
    vg_prom_gauge(&p, "another_gauge", "Another.", 2);
    assert_int_equal(p.err, VG_ETOOBIG);
    len = p.b.len;
    vg_prom_gauge(&p, "g", "G.", 1); /* nothing after an error */
    assert_int_equal(p.b.len, len);
    vg_buf_free(&p.b);
}

static void test_first_field(void **state)
{
    struct vg_buf b;
    (void)state;

    vg_buf_init(&b, 1024);
    /* time_ms = 1 (varint), a fixed64 (3), a fixed32 (4), then field 40. */
    assert_int_equal(vg_pb_put_varint(&b, 1, 1700000000000ULL), 0);
    {
        static const uint8_t f64[] = { 3 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8 };
        static const uint8_t f32[] = { 4 << 3 | 5, 1, 2, 3, 4 };
        assert_int_equal(vg_buf_append(&b, f64, sizeof(f64)), 0);
        assert_int_equal(vg_buf_append(&b, f32, sizeof(f32)), 0);
    }
    assert_int_equal(vg_pb_put_bytes(&b, 40, "xyz", 3), 0);
    assert_int_equal(vg_pb_first_field(b.data, b.len, 10, 127), 40);
    assert_int_equal(vg_pb_first_field(b.data, b.len, 1, 127), 1);
    assert_int_equal(vg_pb_first_field(b.data, b.len, 41, 127), 0);
    /* Cut short (inside field 40's key, or before it): nothing. */
    assert_int_equal(vg_pb_first_field(b.data, b.len - 5, 10, 127), 0);
    assert_int_equal(vg_pb_first_field(b.data, 3, 10, 127), 0);
    {
        /* A length past the end; a wire type that does not exist. */
        static const uint8_t bad1[] = { 2 << 3 | 2, 100, 0 };
        static const uint8_t bad2[] = { 2 << 3 | 7, 0 };
        assert_int_equal(vg_pb_first_field(bad1, sizeof(bad1), 10, 127), 0);
        assert_int_equal(vg_pb_first_field(bad2, sizeof(bad2), 10, 127), 0);
    }
    vg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_first_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
