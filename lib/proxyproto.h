/*
 * The PROXY protocol, version 2 (HAProxy's "send-proxy-v2"): a binary
 * header a TCP load balancer sends first on each connection it opens to
 * a server, saying whom the connection is really from.  Behind HAProxy
 * every agent would otherwise come from HAProxy's address, and the
 * collector's per-address limits and its record of agents' addresses
 * would see one host.  The collector reads the header only from the
 * addresses of [collector] proxy_protocol (anyone else could claim any
 * address); TLS follows it.
 *
 *   12 bytes  \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version 2 (high 4 bits), command: 0 LOCAL, 1 PROXY
 *    1 byte   family and transport: 0x11 TCP over IPv4, 0x21 TCP over IPv6
 *             (an IPv4-mapped source is taken as IPv4), 0x00 unspecified,
 *             0x12 0x22 0x31 0x32 (UDP, UNIX) as unspecified, others refused
 *    2 bytes  length of what follows (big-endian): the addresses, then
 *             TLVs (skipped)
 *   IPv4: source, destination (4 bytes each), source port, destination
 *   port (2 each); IPv6: the same with 16-byte addresses.
 *
 * LOCAL (a health check of the proxy's own) and the unspecified family
 * keep the connection's real endpoints.
 *
 * Version 1 (HAProxy's "send-proxy", nginx's "proxy_protocol on") is a
 * line of text, at most VG_PP1_MAX bytes with its CRLF:
 *   PROXY TCP4 192.0.2.7 10.0.0.11 40000 7443\r\n
 *   PROXY TCP6 2001:db8::42 2001:db8::1 40000 7443\r\n
 *   PROXY UNKNOWN ...\r\n    (the real endpoints stand)
 */
#ifndef VG_PROXYPROTO_H
#define VG_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define VG_PP2_SIG_LEN 12
#define VG_PP2_FIXED 16
/* The most the part after the fixed 16 bytes may take: the addresses
 * (36 bytes at most) and the TLVs HAProxy may add.  A longer header is
 * refused. */
#define VG_PP2_BODY_MAX 1024
#define VG_PP1_MAX 107

/* Reads a header of either version from the first len bytes a
 * connection sent.  Returns 0: not all of it yet (read on); 1: done, the
 * header took *used bytes (what follows is the client's), src holds the
 * client's address and port, or has ss_family AF_UNSPEC when the
 * connection's own endpoints stand (LOCAL, unspecified family, UNKNOWN);
 * or VG_EPROTO (not a PROXY header) or VG_ETOOBIG (longer than
 * VG_PP2_BODY_MAX, or a v1 line past VG_PP1_MAX), with why. */
int vg_pp_parse(const uint8_t *data, size_t len, size_t *used, struct sockaddr_storage *src,
                char *why, size_t whylen);

#endif
