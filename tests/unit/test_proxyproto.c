/* The PROXY protocol header (lib/proxyproto.c): version 2 in both
 * address families, LOCAL, TLVs skipped, version 1's lines, headers read
 * in pieces, and each refusal with its reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "proxyproto.h"

static const uint8_t SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A header: ver_cmd, fam, then body (len bytes), into out; its size. */
static size_t hdr(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t len)
{
    memcpy(out, SIG, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(len >> 8);
    out[15] = (uint8_t)len;
    if (len)
        memcpy(out + 16, body, len);
    return 16 + len;
}

static void test_ipv4(void **state)
{
    /* 192.0.2.7:40000 -> 10.0.0.11:7443, then a TLV, then TLS bytes. */
    static const uint8_t body[] = {192, 0, 2, 7, 10, 0, 0, 11, 0x9c, 0x40, 0x1d, 0x13,
                                   0x04, 0x00, 0x02, 'a', 'b'};
    uint8_t buf[128];
    size_t n = hdr(buf, 0x21, 0x11, body, sizeof(body)), used;
    struct sockaddr_storage ss;
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    char why[200] = "", ip[64];

    (void)state;
    buf[n] = 0x16; /* the ClientHello's first byte */
    assert_int_equal(vg_pp_parse(buf, n + 1, &used, &ss, why, sizeof(why)), 1);
    assert_int_equal(used, n);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_string_equal(inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)), "192.0.2.7");
    assert_int_equal(ntohs(a->sin_port), 40000);
    /* Every shorter prefix asks for more, and never decides otherwise. */
    for (size_t k = 1; k < n; k++)
        assert_int_equal(vg_pp_parse(buf, k, &used, &ss, why, sizeof(why)), 0);
}

static void test_ipv6_and_local(void **state)
{
    uint8_t body[36] = {0}, buf[128];
    size_t n, used;
    struct sockaddr_storage ss;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    char why[200] = "", ip[64];

    (void)state;
    inet_pton(AF_INET6, "2001:db8::42", body);
    inet_pton(AF_INET6, "2001:db8::1", body + 16);
    body[32] = 0x12;
    body[33] = 0x34;
    n = hdr(buf, 0x21, 0x21, body, sizeof(body));
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), 1);
    assert_int_equal(used, n);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_string_equal(inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip)), "2001:db8::42");
    assert_int_equal(ntohs(a->sin6_port), 0x1234);
    /* An IPv4 client of a dual-stack balancer: IPv4. */
    memset(body, 0, 16);
    body[10] = body[11] = 0xff;
    body[12] = 192, body[13] = 0, body[14] = 2, body[15] = 9;
    n = hdr(buf, 0x21, 0x21, body, sizeof(body));
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), 1);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_string_equal(inet_ntop(AF_INET, &((const struct sockaddr_in *)&ss)->sin_addr, ip,
                                  sizeof(ip)),
                        "192.0.2.9");
    assert_int_equal(ntohs(((const struct sockaddr_in *)&ss)->sin_port), 0x1234);
    /* LOCAL (a health check), with or without addresses: the real
     * endpoints stand. */
    n = hdr(buf, 0x20, 0x00, NULL, 0);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), 1);
    assert_int_equal(used, 16);
    assert_int_equal(ss.ss_family, AF_UNSPEC);
    n = hdr(buf, 0x20, 0x21, body, sizeof(body));
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), 1);
    assert_int_equal(ss.ss_family, AF_UNSPEC);
    /* PROXY over UDP or a UNIX socket: no TCP source to take. */
    n = hdr(buf, 0x21, 0x12, body, 12);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), 1);
    assert_int_equal(ss.ss_family, AF_UNSPEC);
}

static void test_refused(void **state)
{
    static const struct {
        const char *hex_or_text;
        int text;
        int rc;
        const char *why;
    } cases[] = {
        {"\x16\x03\x01", 1, VG_EPROTO, "TLS at once"},
        {"GET / HTTP/1.1\r\n", 1, VG_EPROTO, "other bytes"},
        {"PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1, VG_EPROTO, "other bytes"},
        {"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n", 1, VG_EPROTO, "v1 line not understood"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 1, VG_EPROTO, "not understood"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 1, VG_EPROTO, "not understood"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 1, VG_EPROTO, "not understood"},
        {"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", 1, VG_EPROTO, "not understood"},
        {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 1, VG_EPROTO, "not understood"},
    };
    uint8_t body[64] = {0}, buf[2048];
    size_t n, used;
    struct sockaddr_storage ss;
    char why[200];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why[0] = '\0';
        assert_int_equal(vg_pp_parse((const uint8_t *)cases[i].hex_or_text,
                                      strlen(cases[i].hex_or_text), &used, &ss, why,
                                      sizeof(why)),
                         cases[i].rc);
        assert_non_null(strstr(why, cases[i].why));
    }
    /* A wrong first byte is refused at once, alone. */
    assert_int_equal(vg_pp_parse((const uint8_t *)"\x16", 1, &used, &ss, why, sizeof(why)),
                     VG_EPROTO);
    n = hdr(buf, 0x11, 0x11, body, 12);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "version 1, not 2"));
    n = hdr(buf, 0x2f, 0x11, body, 12);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "command 15"));
    n = hdr(buf, 0x21, 0x11, body, 11);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "too short for IPv4"));
    n = hdr(buf, 0x21, 0x21, body, 35);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "too short for IPv6"));
    n = hdr(buf, 0x21, 0x55, body, 12);
    assert_int_equal(vg_pp_parse(buf, n, &used, &ss, why, sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "address family 0x55 unknown"));
    /* Too long: refused from its 16 bytes, without waiting for the rest. */
    n = hdr(buf, 0x21, 0x11, body, 12);
    buf[14] = (VG_PP2_BODY_MAX + 1) >> 8;
    buf[15] = (VG_PP2_BODY_MAX + 1) & 0xff;
    assert_int_equal(vg_pp_parse(buf, 16, &used, &ss, why, sizeof(why)), VG_ETOOBIG);
    assert_non_null(strstr(why, "over 1024"));
}

static void test_v1(void **state)
{
    static const char *const lines[] = {
        "PROXY TCP4 192.0.2.7 10.0.0.11 40000 7443\r\n",
        "PROXY TCP6 2001:db8::42 2001:db8::1 4660 7443\r\n",
        "PROXY UNKNOWN\r\n",
        "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
    };
    struct sockaddr_storage ss;
    char why[200] = "", ip[64], buf[256], longline[200];
    size_t used;

    (void)state;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        size_t n = strlen(lines[i]);
        snprintf(buf, sizeof(buf), "%s%s", lines[i], "\x16\x03\x01");
        assert_int_equal(vg_pp_parse((const uint8_t *)buf, n + 3, &used, &ss, why, sizeof(why)),
                         1);
        assert_int_equal(used, n);
        for (size_t k = 1; k < n; k++)
            assert_int_equal(vg_pp_parse((const uint8_t *)buf, k, &used, &ss, why, sizeof(why)),
                             0);
    }
    assert_int_equal(vg_pp_parse((const uint8_t *)lines[0], strlen(lines[0]), &used, &ss, why,
                                 sizeof(why)),
                     1);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_string_equal(inet_ntop(AF_INET, &((const struct sockaddr_in *)&ss)->sin_addr, ip,
                                  sizeof(ip)),
                        "192.0.2.7");
    assert_int_equal(ntohs(((const struct sockaddr_in *)&ss)->sin_port), 40000);
    assert_int_equal(vg_pp_parse((const uint8_t *)lines[1], strlen(lines[1]), &used, &ss, why,
                                 sizeof(why)),
                     1);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port), 4660);
    assert_int_equal(vg_pp_parse((const uint8_t *)lines[2], strlen(lines[2]), &used, &ss, why,
                                 sizeof(why)),
                     1);
    assert_int_equal(ss.ss_family, AF_UNSPEC);
    /* A line that does not parse is quoted, printable bytes only (it
     * goes to the log). */
    assert_int_equal(vg_pp_parse((const uint8_t *)"PROXY TCP4 a\nb\x1b[31m\r\n", 21, &used, &ss,
                                 why, sizeof(why)),
                     VG_EPROTO);
    assert_string_equal(why, "PROXY protocol v1 line not understood: 'PROXY TCP4 a?b?[31m'");
    /* An IPv4-mapped source, as in v2: IPv4. */
    assert_int_equal(vg_pp_parse((const uint8_t *)"PROXY TCP6 ::ffff:192.0.2.9 ::1 5 6\r\n", 37,
                                 &used, &ss, why, sizeof(why)),
                     1);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&ss)->sin_port), 5);
    /* No CRLF within 107 bytes: refused, not waited for. */
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "PROXY UNKNOWN ", 14);
    assert_int_equal(vg_pp_parse((const uint8_t *)longline, 106, &used, &ss, why, sizeof(why)),
                     0);
    assert_int_equal(vg_pp_parse((const uint8_t *)longline, sizeof(longline), &used, &ss, why,
                                 sizeof(why)),
                     VG_ETOOBIG);
    assert_non_null(strstr(why, "longer than 107"));
    /* 107 bytes with its CRLF is the most. */
    longline[105] = '\r';
    longline[106] = '\n';
    assert_int_equal(vg_pp_parse((const uint8_t *)longline, 107, &used, &ss, why, sizeof(why)),
                     1);
    assert_int_equal(used, 107);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6_and_local),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
