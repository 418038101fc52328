/*
 * libFuzzer target: the agent's reading of an HTTP proxy's answer to
 * CONNECT (lib/proxy.c), the first bytes it takes from the network
 * through a proxy.  The answer is fed whole and in two pieces; the
 * parser must agree with itself, never read past what it was given nor
 * past VG_PROXY_REPLY_MAX, and always say why it refused.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_proxy p;
    char why[400], why2[400], err[200];
    size_t used = 0, used2 = 0, cut;
    uint8_t *copy;
    int rc, rc2;

    if (size > 2 * VG_PROXY_REPLY_MAX)
        return 0;
    /* An exact-size copy, so that ASan sees any read past the end. */
    copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (vg_proxy_parse(size && (data[0] & 1) ? "http://u:p@proxy:3128" : "http://proxy:3128",
                       &p, err, sizeof(err)) != 0)
        abort();
    rc = vg_proxy_reply(&p, copy, size, &used, why, sizeof(why));
    if (rc == 1 && (used == 0 || used > size || used > VG_PROXY_REPLY_MAX))
        abort();
    if (rc < 0 && (!why[0] || strlen(why) >= sizeof(why)))
        abort();
    if (rc == 0 && size >= VG_PROXY_REPLY_MAX)
        abort();
    if (rc != 0 && rc != 1 && rc != -EACCES && rc != VG_EPROTO && rc != VG_ETOOBIG)
        abort();
    /* Read as it arrives: a shorter prefix never decides differently
     * once it has decided. */
    cut = size / 2;
    rc2 = vg_proxy_reply(&p, copy, cut, &used2, why2, sizeof(why2));
    if (rc2 != 0 && (rc2 != rc || (rc2 == 1 && used2 != used)))
        abort();
    free(copy);
    vg_proxy_clear(&p);
    return 0;
}
