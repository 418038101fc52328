/* The PROXY protocol, version 2: see proxyproto.h. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "proxyproto.h"

static const uint8_t sig[VG_PP2_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                             0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

int vg_pp2_parse(const uint8_t *data, size_t len, size_t *used, struct sockaddr_storage *src,
                 char *why, size_t whylen)
{
    size_t n = len < VG_PP2_SIG_LEN ? len : VG_PP2_SIG_LEN, body;
    unsigned cmd, fam;

    memset(src, 0, sizeof(*src));
    src->ss_family = AF_UNSPEC;
    *used = 0;
    /* A wrong first byte is refused at once, not after 16 of them: a
     * client that speaks TLS directly is told so without a wait. */
    if (memcmp(data, sig, n) != 0) {
        snprintf(why, whylen, "no PROXY protocol v2 header (%s)",
                 data[0] == 0x16 ? "TLS at once: not through the load balancer"
                 : data[0] == 'P' ? "version 1, text: use send-proxy-v2"
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
    } else if (fam == 0x21 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(data + 16))) {
        /* An IPv4 client on a dual-stack balancer: written as such, the
         * same as its direct connections. */
        struct sockaddr_in *a = (struct sockaddr_in *)src;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, data + 28, 4);
        memcpy(&a->sin_port, data + 48, 2);
    } else if (fam == 0x21) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)src;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, data + 16, 16);
        memcpy(&a->sin6_port, data + 48, 2);
    }
    return 1;
}
