/*
 * libFuzzer target: the collector's reading of a load balancer's PROXY
 * protocol header, v1 or v2 (lib/proxyproto.c), the first bytes it takes from a
 * connection of [collector] proxy_protocol.  The header is read whole
 * and from every shorter prefix; the parser must agree with itself,
 * never read past what it was given, never take more than the fixed
 * part and VG_PP2_BODY_MAX (v2) or VG_PP1_MAX (v1), and always say why
 * it refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage ss, ss2;
    char why[200], why2[200];
    size_t used = 0, used2 = 0;
    uint8_t *copy;
    int rc;

    if (size == 0 || size > 2 * (VG_PP2_FIXED + VG_PP2_BODY_MAX))
        return 0;
    /* An exact-size copy, so that ASan sees any read past the end. */
    copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    why[0] = '\0';
    rc = vg_pp_parse(copy, size, &used, &ss, why, sizeof(why));
    if (rc == 1 && (used > size || (data[0] == 'P' ? used < 15 || used > VG_PP1_MAX
                                                   : used < VG_PP2_FIXED ||
                                                         used > VG_PP2_FIXED + VG_PP2_BODY_MAX)))
        abort();
    if (rc == 1 && ss.ss_family != AF_UNSPEC && ss.ss_family != AF_INET &&
        ss.ss_family != AF_INET6)
        abort();
    if (rc < 0 && (!why[0] || (rc != VG_EPROTO && rc != VG_ETOOBIG)))
        abort();
    if (rc == 0 && size >= VG_PP2_FIXED + VG_PP2_BODY_MAX)
        abort();
    if (rc != 0 && rc != 1 && rc >= 0)
        abort();
    /* Read as it arrives: a prefix never decides differently. */
    for (size_t cut = 1; cut < size; cut += 1 + cut / 4) {
        free(copy);
        copy = malloc(cut);
        if (!copy)
            return 0;
        memcpy(copy, data, cut);
        int r2 = vg_pp_parse(copy, cut, &used2, &ss2, why2, sizeof(why2));
        if (r2 != 0 && (r2 != rc || (r2 == 1 && (used2 != used ||
                                                  memcmp(&ss, &ss2, sizeof(ss)) != 0))))
            abort();
    }
    free(copy);
    return 0;
}
