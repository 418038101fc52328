/*
 * Addresses and networks with an optional port, as operators write them
 * for isolation's allow list and as the agent records its collectors:
 *
 *   192.0.2.7   192.0.2.0/24   192.0.2.7:22   192.0.2.0/24:443
 *   2001:db8::1   2001:db8::/32   [2001:db8::1]:22   [2001:db8::/32]:443
 */
#ifndef VG_NETADDR_H
#define VG_NETADDR_H

#include <stddef.h>
#include <stdint.h>

#define VG_NETADDR_STR 64

struct vg_netaddr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;  /* 32 / 128: one address */
    uint16_t port;    /* 0: any */
    uint8_t proto;    /* 0: tcp and udp; IPPROTO_TCP; IPPROTO_UDP */
};

/* Parses one of the forms above.  Bits past the prefix must be zero
 * (192.0.2.7/24 is refused: which was meant?).  Returns 0 or -EINVAL
 * with the reason in why (may be NULL). */
int vg_netaddr_parse(const char *s, struct vg_netaddr *out, char *why, size_t whylen);
/* Writes the canonical form (brackets for IPv6 with a port) into out
 * (VG_NETADDR_STR bytes).  Returns out. */
char *vg_netaddr_format(const struct vg_netaddr *a, char *out, size_t len);
/* Returns 1 if a and b are the same address, prefix, port and protocol
 * (member by member: padding bytes are not compared), 0 if not. */
int vg_netaddr_equal(const struct vg_netaddr *a, const struct vg_netaddr *b);

#endif
