/* Break-glass release tokens; see rtoken.h for the format. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "rtoken.h"
#include "util.h"

static int payload(const struct vg_rtoken *t, const char *cert_pem, struct vg_buf *b)
{
    char issued[24], expires[24];
    static const char head[] = "vigil-release-token/1\n";
    snprintf(issued, sizeof(issued), "%lld", (long long)t->issued_ms);
    snprintf(expires, sizeof(expires), "%lld", (long long)t->expires_ms);
    if (vg_buf_append(b, head, sizeof(head) - 1) || vg_buf_append_field(b, t->token_id) ||
        vg_buf_append_field(b, t->agent_id) || vg_buf_append_field(b, issued) || vg_buf_append_field(b, expires) ||
        vg_buf_append_field(b, t->operator_name) || vg_buf_append_field(b, t->reason) || vg_buf_append_field(b, cert_pem))
        return -ENOMEM;
    return 0;
}

int vg_rtoken_sign(const struct vg_rtoken *t, const char *cert_pem, const struct vg_key *key,
                   char **json_out)
{
    struct vg_buf b;
    uint8_t sig[VG_SIG_MAX];
    char hex[2 * VG_SIG_MAX + 1];
    size_t siglen = 0;
    json_t *o;
    int rc;

    vg_buf_init(&b, VG_RTOKEN_MAX);
    if ((rc = payload(t, cert_pem, &b)) != 0)
        goto out;
    if ((rc = vg_sign(key, b.data, b.len, sig, &siglen)) != 0)
        goto out;
    vg_hex(sig, siglen, hex);
    o = json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "type",
                  "vigil-release-token", "version", 1, "token_id", t->token_id, "agent_id",
                  t->agent_id, "issued_ms", (json_int_t)t->issued_ms, "expires_ms",
                  (json_int_t)t->expires_ms, "operator", t->operator_name, "reason", t->reason,
                  "collector_certificate", cert_pem, "signature", hex);
    *json_out = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    rc = *json_out ? 0 : -ENOMEM;
out:
    vg_buf_free(&b);
    return rc;
}

static int copy_str(json_t *o, const char *k, char *dst, size_t dlen)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v) || strlen(json_string_value(v)) >= dlen)
        return -1;
    memcpy(dst, json_string_value(v), strlen(json_string_value(v)) + 1);
    return 0;
}

int vg_rtoken_verify(const char *json, size_t len, const struct vg_cert *ca,
                     const char *agent_id, int64_t now_ms, struct vg_rtoken *out, char *why,
                     size_t whylen)
{
    json_t *o = NULL, *v;
    struct vg_cert *cert = NULL;
    struct vg_buf b;
    const char *pem, *sighex;
    uint8_t sig[VG_SIG_MAX];
    size_t siglen;
    char vwhy[300];
    int rc = VG_EPROTO;

    memset(out, 0, sizeof(*out));
    vg_buf_init(&b, VG_RTOKEN_MAX);
    if (len > VG_RTOKEN_MAX) {
        snprintf(why, whylen, "not a release token (larger than %d bytes)", VG_RTOKEN_MAX);
        goto out;
    }
    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    v = o ? json_object_get(o, "type") : NULL;
    if (!json_is_string(v) || strcmp(json_string_value(v), "vigil-release-token") != 0) {
        snprintf(why, whylen, "not a Vigil release token");
        goto out;
    }
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        snprintf(why, whylen, "release token version not supported (this agent reads 1)");
        goto out;
    }
    pem = json_string_value(json_object_get(o, "collector_certificate"));
    sighex = json_string_value(json_object_get(o, "signature"));
    if (copy_str(o, "token_id", out->token_id, sizeof(out->token_id)) ||
        copy_str(o, "agent_id", out->agent_id, sizeof(out->agent_id)) ||
        copy_str(o, "operator", out->operator_name, sizeof(out->operator_name)) ||
        copy_str(o, "reason", out->reason, sizeof(out->reason)) ||
        !json_is_integer(json_object_get(o, "issued_ms")) ||
        !json_is_integer(json_object_get(o, "expires_ms")) || !pem || !sighex ||
        vg_unhex(sighex, sig, sizeof(sig), &siglen)) {
        snprintf(why, whylen, "release token malformed (a field is missing or wrong)");
        goto out;
    }
    out->issued_ms = json_integer_value(json_object_get(o, "issued_ms"));
    out->expires_ms = json_integer_value(json_object_get(o, "expires_ms"));
    if ((rc = vg_cert_collector(pem, ca, 0, &cert, vwhy, sizeof(vwhy))) != 0) {
        snprintf(why, whylen, "release token: %s", vwhy);
        goto out;
    }
    rc = -ENOMEM;
    if (payload(out, pem, &b) != 0)
        goto out;
    rc = VG_ECRYPTO;
    if (vg_verify(cert, b.data, b.len, sig, siglen) != 0) {
        snprintf(why, whylen, "the token's signature does not match (forged or altered)");
        goto out;
    }
    rc = -EACCES;
    if (strcmp(out->agent_id, agent_id) != 0) {
        snprintf(why, whylen, "the token is for host %s, not this one (%s)", out->agent_id,
                 agent_id);
        goto out;
    }
    rc = -ETIME;
    if (out->expires_ms <= now_ms) {
        char t[VG_TIME_STR_MAX];
        snprintf(why, whylen, "the token expired at %s",
                 vg_time_format(out->expires_ms, t, sizeof(t)));
        goto out;
    }
    rc = 0;
out:
    vg_buf_free(&b);
    vg_cert_free(cert);
    json_decref(o);
    return rc;
}
