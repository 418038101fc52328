/*
 * Detached signatures of reports (vigilctl report ... --sign writes
 * FILE.sig beside FILE).  The collector signs, operators never hold its
 * key; anyone with the CA certificate checks offline:
 *
 *   { "type": "vigil-report-signature", "version": 1,
 *     "file_sha256": hex, "size": bytes, "signed_ms": ..., "signer": CN,
 *     "collector_certificate": PEM of the signing collector,
 *     "signature": hex of ECDSA/SHA-256 over the payload below }
 *
 * The signed payload is "vigil-report-signature/1\n" then the SHA-256,
 * size, time and signer, each as "<decimal length>:<bytes>\n", then the
 * certificate the same way: JSON formatting does not matter, and nothing
 * in the file can be changed without breaking the signature.
 */
#ifndef VG_RSIG_H
#define VG_RSIG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define VG_RSIG_MAX (64 * 1024) /* a signature file is refused past this */

/* Signs (sha256, size) at signed_ms with key, embedding cert_pem; signer
 * is the certificate's CN.  *json_out is a new string (free()).  Returns
 * 0, VG_ECRYPTO or -ENOMEM. */
int vg_rsig_sign(const uint8_t sha256[VG_SHA256_LEN], uint64_t size, int64_t signed_ms,
                 const char *signer, const char *cert_pem, const struct vg_key *key,
                 char **json_out);
/* Checks a signature file against the file's sha256 and size and the CA
 * bundle.  Returns 0 (*signed_ms and signer filled); VG_EPROTO
 * (malformed); VG_ECERT (not a collector of this CA); VG_ECRYPTO (the
 * signature does not match: file or signature altered); with the reason
 * in why. */
int vg_rsig_verify(const char *json, size_t len, const struct vg_cert *ca,
                   const uint8_t sha256[VG_SHA256_LEN], uint64_t size, int64_t *signed_ms,
                   char *signer, size_t signerlen, char *why, size_t whylen);

#endif
