/*
 * Break-glass release tokens: a collector-signed authorisation for one
 * host to lift its network isolation offline (vigil-agent release
 * --token FILE), for when its collector is gone for good.
 *
 * The token is a JSON document:
 *
 *   { "type": "vigil-release-token", "version": 1,
 *     "token_id": UUID, "agent_id": ..., "issued_ms": ..., "expires_ms": ...,
 *     "operator": "admin alice", "reason": ...,
 *     "collector_certificate": PEM of the signing collector,
 *     "signature": hex of ECDSA/SHA-256 over the payload below }
 *
 * The signed payload is every field but the last two, each as
 * "<decimal length>:<bytes>\n" in the order above, after the line
 * "vigil-release-token/1\n": no two tokens serialise alike, and JSON
 * formatting does not matter.  The agent checks the certificate against
 * its CA (role collector), the signature, its own agent id and the time.
 */
#ifndef VG_RTOKEN_H
#define VG_RTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define VG_RTOKEN_MAX (64 * 1024) /* a token file is refused past this */

struct vg_rtoken {
    char token_id[VG_UUID_STR];
    char agent_id[VG_CERT_NAME_MAX + 1];
    int64_t issued_ms, expires_ms;
    char operator_name[160];
    char reason[512];
};

/* Signs t with key, embedding the collector's certificate (PEM text).
 * *json_out is a new NUL-terminated string (free()).  Returns 0,
 * VG_ECRYPTO or -ENOMEM. */
int vg_rtoken_sign(const struct vg_rtoken *t, const char *cert_pem, const struct vg_key *key,
                   char **json_out);
/* Parses and checks a token for agent_id at time now_ms against the CA
 * bundle.  On success returns 0 and fills *out; otherwise VG_EPROTO
 * (malformed), VG_ECERT (certificate not from this CA or not a
 * collector's), VG_ECRYPTO (forged or altered), -EACCES (another host),
 * -ETIME (expired), with the reason in why. */
int vg_rtoken_verify(const char *json, size_t len, const struct vg_cert *ca,
                     const char *agent_id, int64_t now_ms, struct vg_rtoken *out, char *why,
                     size_t whylen);

#endif
