/* Addresses and networks with an optional port; see netaddr.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"
#include "util.h"

static int fail(char *why, size_t whylen, const char *s, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "'%.80s': %s", s, msg);
    return -EINVAL;
}

int vg_netaddr_parse(const char *s, struct vg_netaddr *out, char *why, size_t whylen)
{
    char host[80];
    const char *port = NULL, *slash;
    size_t n;
    uint64_t v;

    memset(out, 0, sizeof(*out));
    if (!s || !s[0])
        return fail(why, whylen, "", "empty address");
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end)
            return fail(why, whylen, s, "missing ']'");
        n = (size_t)(end - s - 1);
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return fail(why, whylen, s, "expected ':PORT' after ']'");
        s++;
    } else {
        const char *colon = strchr(s, ':');
        n = strlen(s);
        if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4 with a port */
            n = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (n == 0 || n >= sizeof(host))
        return fail(why, whylen, s, "not an address");
    memcpy(host, s, n);
    host[n] = '\0';
    if ((slash = strchr(host, '/')) != NULL)
        host[slash - host] = '\0';
    out->family = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(out->family, host, out->addr) != 1)
        return fail(why, whylen, s, "not an IPv4 or IPv6 address");
    out->prefix = out->family == AF_INET ? 32 : 128;
    if (slash) {
        if (vg_parse_u64(slash + 1, 0, out->prefix, &v))
            return fail(why, whylen, s, "bad prefix length");
        out->prefix = (unsigned)v;
    }
    /* Bits past the prefix must be zero. */
    for (unsigned bit = out->prefix; bit < (out->family == AF_INET ? 32u : 128u); bit++)
        if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
            return fail(why, whylen, s, "address has bits set past the prefix length");
    if (port) {
        if (vg_parse_u64(port, 1, 65535, &v))
            return fail(why, whylen, s, "port must be 1-65535");
        out->port = (uint16_t)v;
    }
    return 0;
}

char *vg_netaddr_format(const struct vg_netaddr *a, char *out, size_t len)
{
    char txt[INET6_ADDRSTRLEN], pfx[8] = "";
    int full = a->prefix == (a->family == AF_INET ? 32u : 128u);
    inet_ntop(a->family, a->addr, txt, sizeof(txt));
    if (!full)
        snprintf(pfx, sizeof(pfx), "/%u", a->prefix);
    if (!a->port)
        snprintf(out, len, "%s%s", txt, pfx);
    else if (a->family == AF_INET6)
        snprintf(out, len, "[%s%s]:%u", txt, pfx, a->port);
    else
        snprintf(out, len, "%s%s:%u", txt, pfx, a->port);
    return out;
}

int vg_netaddr_equal(const struct vg_netaddr *a, const struct vg_netaddr *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0 &&
           a->prefix == b->prefix && a->port == b->port && a->proto == b->proto;
}
