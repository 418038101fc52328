/* Detached report signatures; see rsig.h for the format. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "rsig.h"
#include "util.h"

static int payload(const char *shahex, uint64_t size, int64_t signed_ms, const char *signer,
                   const char *cert_pem, struct vg_buf *b)
{
    char sz[24], t[24];
    static const char head[] = "vigil-report-signature/1\n";
    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
    snprintf(t, sizeof(t), "%lld", (long long)signed_ms);
    if (vg_buf_append(b, head, sizeof(head) - 1) || vg_buf_append_field(b, shahex) || vg_buf_append_field(b, sz) ||
        vg_buf_append_field(b, t) || vg_buf_append_field(b, signer) || vg_buf_append_field(b, cert_pem))
        return -ENOMEM;
    return 0;
}

int vg_rsig_sign(const uint8_t sha256[VG_SHA256_LEN], uint64_t size, int64_t signed_ms,
                 const char *signer, const char *cert_pem, const struct vg_key *key,
                 char **json_out)
{
    struct vg_buf b;
    uint8_t sig[VG_SIG_MAX];
    char hex[2 * VG_SIG_MAX + 1], shahex[2 * VG_SHA256_LEN + 1];
    size_t siglen = 0;
    json_t *o;
    int rc;

    *json_out = NULL;
    vg_hex(sha256, VG_SHA256_LEN, shahex);
    vg_buf_init(&b, VG_RSIG_MAX);
    if ((rc = payload(shahex, size, signed_ms, signer, cert_pem, &b)) != 0)
        goto out;
    if ((rc = vg_sign(key, b.data, b.len, sig, &siglen)) != 0)
        goto out;
    vg_hex(sig, siglen, hex);
    o = json_pack("{s:s, s:i, s:s, s:I, s:I, s:s, s:s, s:s}", "type", "vigil-report-signature",
                  "version", 1, "file_sha256", shahex, "size", (json_int_t)size, "signed_ms",
                  (json_int_t)signed_ms, "signer", signer, "collector_certificate", cert_pem,
                  "signature", hex);
    *json_out = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    rc = *json_out ? 0 : -ENOMEM;
out:
    vg_buf_free(&b);
    return rc;
}

int vg_rsig_verify(const char *json, size_t len, const struct vg_cert *ca,
                   const uint8_t sha256[VG_SHA256_LEN], uint64_t size, int64_t *signed_ms,
                   char *signer, size_t signerlen, char *why, size_t whylen)
{
    json_t *o = NULL, *v;
    struct vg_cert *cert = NULL;
    struct vg_buf b;
    const char *pem, *sighex, *shahex, *who;
    uint8_t sig[VG_SIG_MAX];
    char mine[2 * VG_SHA256_LEN + 1];
    size_t siglen;
    int rc = VG_EPROTO;

    vg_buf_init(&b, VG_RSIG_MAX);
    if (len > VG_RSIG_MAX) {
        snprintf(why, whylen, "not a report signature (larger than %d bytes)", VG_RSIG_MAX);
        goto out;
    }
    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    v = o ? json_object_get(o, "type") : NULL;
    if (!json_is_string(v) || strcmp(json_string_value(v), "vigil-report-signature") != 0) {
        snprintf(why, whylen, "not a Vigil report signature");
        goto out;
    }
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        snprintf(why, whylen, "report signature version not supported (this vigilctl reads 1)");
        goto out;
    }
    pem = json_string_value(json_object_get(o, "collector_certificate"));
    sighex = json_string_value(json_object_get(o, "signature"));
    shahex = json_string_value(json_object_get(o, "file_sha256"));
    who = json_string_value(json_object_get(o, "signer"));
    if (!pem || !sighex || !shahex || !who || !json_is_integer(json_object_get(o, "size")) ||
        !json_is_integer(json_object_get(o, "signed_ms")) ||
        vg_unhex(sighex, sig, sizeof(sig), &siglen)) {
        snprintf(why, whylen, "report signature malformed (a field is missing or wrong)");
        goto out;
    }
    *signed_ms = json_integer_value(json_object_get(o, "signed_ms"));
    vg_strlcpy(signer, who, signerlen);
    /* Evidence outlives certificates: the collector's certificate must
     * have been valid when it signed, not now. */
    if ((rc = vg_cert_collector(pem, ca, *signed_ms, &cert, why, whylen)) != 0)
        goto out;
    rc = -ENOMEM;
    if (payload(shahex, (uint64_t)json_integer_value(json_object_get(o, "size")), *signed_ms,
                who, pem, &b) != 0)
        goto out;
    rc = VG_ECRYPTO;
    if (vg_verify(cert, b.data, b.len, sig, siglen) != 0) {
        snprintf(why, whylen, "the signature does not match its contents (signature file altered)");
        goto out;
    }
    vg_hex(sha256, VG_SHA256_LEN, mine);
    if (strcmp(mine, shahex) != 0 ||
        (uint64_t)json_integer_value(json_object_get(o, "size")) != size) {
        snprintf(why, whylen,
                 "the file is not the one signed (SHA-256 %s, signed %s): it was altered", mine,
                 shahex);
        goto out;
    }
    rc = 0;
out:
    vg_buf_free(&b);
    vg_cert_free(cert);
    json_decref(o);
    return rc;
}
