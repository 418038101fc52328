/* Messages between the agent's two processes (lib/psmsg.c): every typed
 * message round-trips; the parent's decoders refuse what is not exact
 * (short, trailing bytes, over a limit, a NUL in a string, a bad family
 * or count); the stream reader refuses a header over its limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "psmsg.h"
#include "util.h"

/* The single message in b: its type, payload and length. */
static const uint8_t *only(struct vg_buf *b, uint32_t *type, size_t *len)
{
    static struct vg_ps_reader r;
    const uint8_t *p;
    vg_ps_reader_free(&r);
    vg_ps_reader_init(&r, VG_PS_MAX_PARENT);
    assert_int_equal(vg_ps_feed(&r, b->data, b->len), 0);
    assert_int_equal(vg_ps_next(&r, type, &p, len), 1);
    return p;
}

static void test_command_round_trip(void **state)
{
    struct vg_ps_command *c = calloc(1, sizeof(*c)), *d = calloc(1, sizeof(*d));
    struct vg_buf b;
    uint32_t type;
    size_t len;
    const uint8_t *p;

    (void)state;
    vg_strlcpy(c->id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", sizeof(c->id));
    vg_strlcpy(c->operator_name, "alice", sizeof(c->operator_name));
    vg_strlcpy(c->reason, "incident 42", sizeof(c->reason));
    c->issued_ms = 1;
    c->expires_ms = -1;
    c->action = VG_PS_ACT_ISOLATE;
    c->nallow = 2;
    vg_strlcpy(c->allow[0].cidr, "10.0.0.0/8", sizeof(c->allow[0].cidr));
    c->allow[0].port = 22;
    vg_strlcpy(c->allow[0].protocol, "tcp", sizeof(c->allow[0].protocol));
    vg_strlcpy(c->allow[1].cidr, "::1/128", sizeof(c->allow[1].cidr));
    vg_buf_init(&b, 1 << 20);
    assert_int_equal(vg_ps_put_command(&b, c), 0);
    p = only(&b, &type, &len);
    assert_int_equal(type, VG_PS_COMMAND);
    assert_int_equal(vg_ps_get_command(p, len, d), 0);
    assert_memory_equal(c, d, sizeof(*c));
    /* One byte more or less: refused. */
    assert_int_equal(vg_ps_get_command(p, len - 1, d), VG_EPROTO);
    {
        uint8_t *q = malloc(len + 1);
        memcpy(q, p, len);
        q[len] = 0;
        assert_int_equal(vg_ps_get_command(q, len + 1, d), VG_EPROTO);
        free(q);
    }
    /* A count over the limit, in an otherwise good message. */
    c->nallow = VG_PS_ALLOW_MAX + 1;
    assert_int_equal(vg_ps_put_command(&b, c), VG_ETOOBIG);
    vg_buf_free(&b);
    free(c);
    free(d);
}

static void test_string_limits(void **state)
{
    uint8_t msg[22 + VG_PS_HOST_MAX + 1];
    struct vg_ps_conn c;
    char big[VG_PS_TEXT_MAX + 2];
    struct vg_buf b;
    size_t n = 0;

    (void)state;
    /* conn: up, family, addr[16], port, then a host of 256 bytes: over. */
    memset(msg, 'a', sizeof(msg));
    msg[n++] = 1;
    msg[n++] = AF_INET;
    n += 16;
    msg[n++] = 0x50;
    msg[n++] = 0;
    msg[n++] = (uint8_t)(VG_PS_HOST_MAX + 1);
    msg[n++] = 0;
    assert_int_equal(vg_ps_get_conn(msg, n + VG_PS_HOST_MAX + 1, &c), VG_EPROTO);
    /* 255 bytes is the limit. */
    msg[n - 2] = VG_PS_HOST_MAX;
    assert_int_equal(vg_ps_get_conn(msg, n + VG_PS_HOST_MAX, &c), 0);
    assert_int_equal(strlen(c.host), VG_PS_HOST_MAX);
    /* A NUL inside a string. */
    msg[n + 3] = 0;
    assert_int_equal(vg_ps_get_conn(msg, n + VG_PS_HOST_MAX, &c), VG_EPROTO);
    msg[n + 3] = 'a';
    /* A family that is neither IPv4 nor IPv6. */
    msg[1] = AF_UNIX;
    assert_int_equal(vg_ps_get_conn(msg, n + VG_PS_HOST_MAX, &c), VG_EPROTO);
    /* up must be 0 or 1. */
    msg[1] = AF_INET6;
    msg[0] = 2;
    assert_int_equal(vg_ps_get_conn(msg, n + VG_PS_HOST_MAX, &c), VG_EPROTO);
    /* The encoder refuses a string over its limit. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vg_buf_init(&b, 1 << 20);
    assert_int_equal(vg_ps_put_str(&b, VG_PS_SOURCE, big), VG_ETOOBIG);
    assert_int_equal(b.len, 0);
    vg_buf_free(&b);
}

static void test_stream(void **state)
{
    struct vg_ps_reader r;
    struct vg_ps_stats s = { 1, 2, 3, 4, 5, 6, 7 }, t;
    struct vg_buf b;
    uint32_t type;
    const uint8_t *p;
    size_t len;
    uint64_t v;

    (void)state;
    vg_buf_init(&b, 1 << 20);
    assert_int_equal(vg_ps_put_stats(&b, &s), 0);
    assert_int_equal(vg_ps_put_u64(&b, VG_PS_EVENT_ACK, 99), 0);
    vg_ps_reader_init(&r, VG_PS_MAX_CHILD);
    /* Byte by byte, as reads may come. */
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(vg_ps_feed(&r, b.data + i, 1), 0);
    assert_int_equal(vg_ps_next(&r, &type, &p, &len), 1);
    assert_int_equal(type, VG_PS_STATS);
    assert_int_equal(vg_ps_get_stats(p, len, &t), 0);
    assert_memory_equal(&s, &t, sizeof(s));
    assert_int_equal(vg_ps_next(&r, &type, &p, &len), 1);
    assert_int_equal(type, VG_PS_EVENT_ACK);
    assert_int_equal(vg_ps_get_u64(p, len, &v), 0);
    assert_int_equal(v, 99);
    assert_int_equal(vg_ps_next(&r, &type, &p, &len), 0);
    /* A header announcing more than the child may send. */
    {
        uint8_t h[8] = { 5, 0, 0, 0, 0, 0, 0, 0 };
        uint32_t n = VG_PS_MAX_CHILD + 1;
        memcpy(h + 4, &n, 4);
        assert_int_equal(vg_ps_feed(&r, h, sizeof(h)), 0);
        assert_int_equal(vg_ps_next(&r, &type, &p, &len), VG_EPROTO);
    }
    vg_ps_reader_free(&r);
    vg_buf_free(&b);
}

static void test_addresses(void **state)
{
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
    struct vg_ps_addr a;

    (void)state;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(8443);
    in6.sin6_addr.s6_addr[15] = 1;
    assert_int_equal(vg_ps_addr_from((struct sockaddr *)&in6, &a), 0);
    assert_int_equal(a.port, 8443);
    assert_int_equal(vg_ps_addr_to(&a, &ss), sizeof(in6));
    assert_memory_equal(&ss, &in6, sizeof(in6));
    a.family = 0;
    assert_int_equal(vg_ps_addr_to(&a, &ss), 0);
}

/* Pins compare by what they hold, not by their padding or the bytes an
 * IPv4 address leaves unused. */
static void test_pins_equal(void **state)
{
    struct vg_ps_pins *a = calloc(1, sizeof(*a)), *b = malloc(sizeof(*b));
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    memset(b, 0x5a, sizeof(*b)); /* other padding and unused bytes */
    a->n = b->n = 2;
    for (uint32_t i = 0; i < 2; i++) {
        snprintf(a->v[i].host, sizeof(a->v[i].host), "collector-%u", i);
        snprintf(b->v[i].host, sizeof(b->v[i].host), "collector-%u", i);
        a->v[i].addr.family = b->v[i].addr.family = AF_INET;
        a->v[i].addr.port = b->v[i].addr.port = 443;
        memcpy(a->v[i].addr.addr, "\x0a\x00\x00\x01", 4);
        memcpy(b->v[i].addr.addr, "\x0a\x00\x00\x01", 4);
    }
    assert_true(vg_ps_pins_equal(a, b));
    b->v[1].addr.port = 444;
    assert_false(vg_ps_pins_equal(a, b));
    b->v[1].addr.port = 443;
    b->v[1].addr.addr[3] = 2;
    assert_false(vg_ps_pins_equal(a, b));
    b->v[1].addr.addr[3] = 1;
    b->v[0].host[0] = 'C';
    assert_false(vg_ps_pins_equal(a, b));
    b->v[0].host[0] = 'c';
    b->n = 1;
    assert_false(vg_ps_pins_equal(a, b));
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_round_trip),
        cmocka_unit_test(test_string_limits),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_pins_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
