/*
 * libFuzzer target: addresses and networks with ports (lib/netaddr.c),
 * as operators give them for isolation's allow list.  What parses
 * formats to a canonical form that parses to the same thing and formats
 * the same again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_netaddr a, b;
    char s[256], why[200], f1[VG_NETADDR_STR], f2[VG_NETADDR_STR];

    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (vg_netaddr_parse(s, &a, why, sizeof(why)) != 0) {
        if (!why[0] || strlen(why) >= sizeof(why))
            abort();
        return 0;
    }
    if ((a.family == AF_INET && a.prefix > 32) || a.prefix > 128)
        abort();
    vg_netaddr_format(&a, f1, sizeof(f1));
    if (vg_netaddr_parse(f1, &b, why, sizeof(why)) != 0)
        abort();
    if (a.family != b.family || a.prefix != b.prefix || a.port != b.port ||
        memcmp(a.addr, b.addr, sizeof(a.addr)) != 0)
        abort();
    vg_netaddr_format(&b, f2, sizeof(f2));
    if (strcmp(f1, f2) != 0)
        abort();
    return 0;
}
