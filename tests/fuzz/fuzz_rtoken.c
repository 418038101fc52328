/* libFuzzer target: break-glass token files (read from disk by
 * `vigil-agent release --token`) through the verifier, and the same
 * bytes as an address for isolation's allow lists. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "netaddr.h"
#include "rtoken.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_cert *ca;

static void make_ca(void)
{
    struct vg_cert_req req;
    struct vg_key *k = NULL;
    char *pem = NULL;
    memset(&req, 0, sizeof(req));
    req.cn = "Fuzz CA";
    req.is_ca = 1;
    req.not_before_ms = vg_time_now_ms() - 60000;
    req.not_after_ms = vg_time_now_ms() + 86400000LL;
    if (vg_key_generate(&k) || vg_cert_issue(&req, k, NULL, k, &pem) ||
        vg_cert_parse((const uint8_t *)pem, strlen(pem) + 1, &ca))
        abort();
    vg_key_free(k);
    free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_rtoken t;
    struct vg_netaddr a;
    char why[400], s[128], out[VG_NETADDR_STR];

    if (!ca)
        make_ca();
    (void)vg_rtoken_verify((const char *)data, size, ca, "agent-1", vg_time_now_ms(), &t, why,
                           sizeof(why));
    if (size < sizeof(s)) {
        memcpy(s, data, size);
        s[size] = '\0';
        if (vg_netaddr_parse(s, &a, why, sizeof(why)) == 0)
            vg_netaddr_format(&a, out, sizeof(out));
    }
    return 0;
}
