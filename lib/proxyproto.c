/* The PROXY protocol, versions 1 and 2: see proxyproto.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "proxyproto.h"

static const uint8_t sig[VG_PP2_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                             0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* An IPv4 client of a dual-stack balancer (::ffff:a.b.c.d) is written as
 * IPv4, the same as its direct connections. */
static void unmap(struct sockaddr_storage *src)
{
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)src;
    struct sockaddr_in a4;

    if (src->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
        return;
    memset(&a4, 0, sizeof(a4));
    a4.sin_family = AF_INET;
    a4.sin_port = a6->sin6_port;
    memcpy(&a4.sin_addr, a6->sin6_addr.s6_addr + 12, 4);
    memset(src, 0, sizeof(*src));
    memcpy(src, &a4, sizeof(a4));
}

/* A port of version 1: decimal, 0 to 65535. */
static int v1_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;

    if (!*s || strlen(s) > 5)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    if (v > 65535)
        return -1;
    *out = htons((uint16_t)v);
    return 0;
}

/* Version 1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN
 * ...\r\n", VG_PP1_MAX bytes at most. */
static int v1_parse(const uint8_t *data, size_t len, size_t *used, struct sockaddr_storage *src,
                    char *why, size_t whylen)
{
    static const char lead[] = "PROXY ";
    size_t n = len < sizeof(lead) - 1 ? len : sizeof(lead) - 1, end;
    char line[VG_PP1_MAX + 1], *tok[7], *save = NULL;
    int ntok = 0;

    if (memcmp(data, lead, n) != 0) {
        snprintf(why, whylen, "no PROXY protocol header (other bytes)");
        return VG_EPROTO;
    }
    for (end = 0; end + 1 < len && end + 2 <= VG_PP1_MAX; end++)
        if (data[end] == '\r' && data[end + 1] == '\n')
            break;
    if (end + 1 >= len || data[end] != '\r' || data[end + 1] != '\n') {
        if (len < VG_PP1_MAX)
            return 0;
        snprintf(why, whylen, "PROXY protocol v1 line longer than %d bytes", VG_PP1_MAX);
        return VG_ETOOBIG;
    }
    memcpy(line, data, end);
    line[end] = '\0';
    if (memchr(line, '\0', end)) {
        snprintf(why, whylen, "PROXY protocol v1 line with a NUL byte");
        return VG_EPROTO;
    }
    for (char *t = strtok_r(line, " ", &save); t && ntok < 7; t = strtok_r(NULL, " ", &save))
        tok[ntok++] = t;
    *used = end + 2;
    if (ntok >= 2 && strcmp(tok[1], "UNKNOWN") == 0)
        return 1; /* the connection's own endpoints */
    if (ntok == 6 &&
        (strcmp(tok[1], "TCP4") == 0 || strcmp(tok[1], "TCP6") == 0)) {
        int v6 = tok[1][3] == '6';
        uint8_t dst[16];
        uint16_t sport, dport;
        if (v6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)src;
            if (inet_pton(AF_INET6, tok[2], &a->sin6_addr) == 1 &&
                inet_pton(AF_INET6, tok[3], dst) == 1 && v1_port(tok[4], &sport) == 0 &&
                v1_port(tok[5], &dport) == 0) {
                a->sin6_family = AF_INET6;
                a->sin6_port = sport;
                return 1;
            }
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)src;
            if (inet_pton(AF_INET, tok[2], &a->sin_addr) == 1 &&
                inet_pton(AF_INET, tok[3], dst) == 1 && v1_port(tok[4], &sport) == 0 &&
                v1_port(tok[5], &dport) == 0) {
                a->sin_family = AF_INET;
                a->sin_port = sport;
                return 1;
            }
        }
        memset(src, 0, sizeof(*src));
        src->ss_family = AF_UNSPEC;
    }
    *used = 0;
    /* Quoted in the log: again (strtok_r cut it), printable only. */
    memcpy(line, data, end);
    for (size_t i = 0; i < end; i++)
        if (line[i] < 0x20 || line[i] >= 0x7f)
            line[i] = '?';
    line[end] = '\0';
    snprintf(why, whylen, "PROXY protocol v1 line not understood: '%.80s'", line);
    return VG_EPROTO;
}

int vg_pp_parse(const uint8_t *data, size_t len, size_t *used, struct sockaddr_storage *src,
                char *why, size_t whylen)
{
    size_t n = len < VG_PP2_SIG_LEN ? len : VG_PP2_SIG_LEN, body;
    unsigned cmd, fam;

    memset(src, 0, sizeof(*src));
    src->ss_family = AF_UNSPEC;
    *used = 0;
    if (len && data[0] == 'P') {
        int rc = v1_parse(data, len, used, src, why, whylen);
        if (rc == 1)
            unmap(src);
        return rc;
    }
    /* A wrong first byte is refused at once, not after 16 of them: a
     * client that speaks TLS directly is told so without a wait. */
    if (memcmp(data, sig, n) != 0) {
        snprintf(why, whylen, "no PROXY protocol header (%s)",
                 data[0] == 0x16 ? "TLS at once: not through the load balancer"
                                 : "other bytes");
        return VG_EPROTO;
    }
    if (len < VG_PP2_FIXED)
        return 0;
    if (data[12] >> 4 != 2) {
        snprintf(why, whylen, "PROXY protocol version %u, not 2", (unsigned)(data[12] >> 4));
        return VG_EPROTO;
    }
    cmd = data[12] & 0x0f;
    if (cmd > 1) {
        snprintf(why, whylen, "PROXY protocol command %u, neither LOCAL nor PROXY", cmd);
        return VG_EPROTO;
    }
    body = (size_t)data[14] << 8 | data[15];
    if (body > VG_PP2_BODY_MAX) {
        snprintf(why, whylen, "PROXY protocol header of %zu bytes, over %d", body,
                 VG_PP2_BODY_MAX);
        return VG_ETOOBIG;
    }
    fam = data[13];
    /* LOCAL ignores the family; PROXY's must be one the protocol has:
     * unspecified, or TCP/UDP over IPv4/IPv6, or a UNIX socket. */
    if (cmd == 1 && fam != 0x00 && fam != 0x11 && fam != 0x12 && fam != 0x21 && fam != 0x22 &&
        fam != 0x31 && fam != 0x32) {
        snprintf(why, whylen, "PROXY protocol address family 0x%02x unknown", fam);
        return VG_EPROTO;
    }
    if (cmd == 1 && fam == 0x11 && body < 12) {
        snprintf(why, whylen, "PROXY protocol header too short for IPv4 addresses (%zu bytes)",
                 body);
        return VG_EPROTO;
    }
    if (cmd == 1 && fam == 0x21 && body < 36) {
        snprintf(why, whylen, "PROXY protocol header too short for IPv6 addresses (%zu bytes)",
                 body);
        return VG_EPROTO;
    }
    if (len < VG_PP2_FIXED + body)
        return 0;
    *used = VG_PP2_FIXED + body;
    if (cmd == 0)
        return 1; /* LOCAL: the proxy's own connection */
    if (fam == 0x11) {
        struct sockaddr_in *a = (struct sockaddr_in *)src;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, data + 16, 4);
        memcpy(&a->sin_port, data + 24, 2);
    } else if (fam == 0x21) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)src;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, data + 16, 16);
        memcpy(&a->sin6_port, data + 48, 2);
        unmap(src);
    }
    return 1;
}
