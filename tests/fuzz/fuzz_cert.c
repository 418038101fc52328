/*
 * libFuzzer target: certificates and signing requests (lib/crypto.c):
 * PEM or DER certificates (CA bundles, the collector certificate beside
 * a signed report, enrollment answers) and PKCS#10 requests (what an
 * enrolling agent sends).  Descriptions are bounded and NUL-terminated;
 * nothing but the CA itself verifies against the CA.
 *
 * Input: one byte (bit 0: as a request, else a certificate; bit 1: add
 * a NUL, as PEM readers want), then the bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_cert *ca;
static struct vg_key *ca_key;

static void make_ca(void)
{
    struct vg_cert_req req;
    char *pem = NULL;
    memset(&req, 0, sizeof(req));
    req.cn = "Fuzz CA";
    req.is_ca = 1;
    req.not_before_ms = vg_time_now_ms() - 60000;
    req.not_after_ms = vg_time_now_ms() + 86400000LL;
    if (vg_key_generate(&ca_key) || vg_cert_issue(&req, ca_key, NULL, ca_key, &pem) ||
        vg_cert_parse((const uint8_t *)pem, strlen(pem) + 1, &ca))
        abort();
    free(pem);
}

static void bounded(const char *s, size_t max)
{
    if (!memchr(s, '\0', max))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b;
    size_t n;

    if (!ca)
        make_ca();
    if (size < 1)
        return 0;
    n = size - 1;
    b = malloc(n + 1);
    if (!b)
        abort();
    memcpy(b, data + 1, n);
    if (data[0] & 2)
        b[n++] = '\0';
    if (data[0] & 1) {
        struct vg_key *pub = NULL;
        if (vg_csr_public_key(b, n, &pub) == 0) {
            if (!pub)
                abort();
            vg_key_free(pub);
        }
    } else {
        struct vg_cert *c = NULL;
        if (vg_cert_parse(b, n, &c) == 0) {
            struct vg_cert_info info;
            char why[300];
            if (vg_cert_info(c, &info) == 0) {
                bounded(info.subject, sizeof(info.subject));
                bounded(info.issuer, sizeof(info.issuer));
                bounded(info.cn, sizeof(info.cn));
                bounded(info.ou, sizeof(info.ou));
                bounded(info.serial, sizeof(info.serial));
                if (info.nsans > VG_CERT_MAX_SANS)
                    abort();
                for (size_t i = 0; i < info.nsans; i++)
                    bounded(info.sans[i], sizeof(info.sans[i]));
            }
            if (vg_cert_verify(c, ca, why, sizeof(why)) == 0 && vg_cert_matches_key(c, ca_key) != 1)
                abort(); /* only the CA's own certificate can pass */
            (void)vg_cert_matches_key(c, ca_key);
            vg_cert_free(c);
        }
    }
    free(b);
    return 0;
}
