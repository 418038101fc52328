/*
 * Hashes, random numbers, keys, certificates and signatures.  The only
 * file besides lib/tls.c that includes mbedtls: its types stay behind the
 * opaque structs below.  Keys are EC P-256; signatures ECDSA with SHA-256.
 *
 * Identity in Vigil certificates: the subject's CN is the name (agent id
 * for agents, user name for operators, host name for collectors) and the
 * subject's OU is the role.  Roles also fix the extended key usage:
 * collectors get serverAuth, everyone else clientAuth.
 */
#ifndef VG_CRYPTO_H
#define VG_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define VG_SHA256_LEN 32
#define VG_SHA256_HEX (2 * VG_SHA256_LEN + 1)
#define VG_UUID_STR 37
#define VG_CERT_NAME_MAX 64 /* X.509 upper bound for CN */
#define VG_CERT_MAX_SANS 32

/* ---- hashing and randomness ---- */

/* Returns 0 or VG_ECRYPTO. */
int vg_sha256(const void *data, size_t len, uint8_t out[VG_SHA256_LEN]);

struct vg_sha256;
/* Streaming SHA-256.  new returns NULL on allocation failure. */
struct vg_sha256 *vg_sha256_new(void);
void vg_sha256_update(struct vg_sha256 *h, const void *data, size_t len);
/* Writes the digest and frees h. */
void vg_sha256_final(struct vg_sha256 *h, uint8_t out[VG_SHA256_LEN]);
/* Hashes a file, reading at most max bytes (VG_ETOOBIG past that).
 * Returns 0, -errno or VG_ETOOBIG. */
int vg_sha256_file(const char *path, uint64_t max, uint8_t out[VG_SHA256_LEN]);
/* The same for an open descriptor (read to its end; not closed). */
int vg_sha256_fd(int fd, uint64_t max, uint8_t out[VG_SHA256_LEN]);

/* Fills buf from the kernel's CSPRNG (getrandom).  Returns 0 or -errno. */
int vg_random(void *buf, size_t len);
/* Writes a random (version 4) UUID, lower case, into out.  Returns 0 or -errno. */
int vg_uuid4(char out[VG_UUID_STR]);

/* ---- roles ---- */

enum vg_role {
    VG_ROLE_NONE = 0,
    VG_ROLE_AGENT,
    VG_ROLE_COLLECTOR,
    VG_ROLE_RESPONDER,
    VG_ROLE_AUDITOR,
    VG_ROLE_ADMIN
};

/* "agent", "collector", ...; "none" for VG_ROLE_NONE. */
const char *vg_role_name(enum vg_role r);
/* Returns 0 or -EINVAL. */
int vg_role_parse(const char *s, enum vg_role *out);
/* 1 for the operator roles (responder, auditor, admin). */
int vg_role_is_operator(enum vg_role r);

/* ---- keys ---- */

struct vg_key;

/* Generates an EC P-256 key.  Returns 0, VG_ECRYPTO or -ENOMEM. */
int vg_key_generate(struct vg_key **out);
/* Loads a PEM or DER private key.  Refuses (VG_EKEYMODE) a file that
 * group or others may access.  Returns 0, -errno, VG_EKEYMODE or
 * VG_ECRYPTO (not a key). */
int vg_key_load(const char *path, struct vg_key **out);
/* Writes the key as PEM with mode 0600, atomically.  If excl, refuses to
 * replace an existing file (-EEXIST).  Returns 0, -errno or VG_ECRYPTO. */
int vg_key_save(const struct vg_key *k, const char *path, int excl);
/* The key as PEM into out (NUL-terminated; *len without the NUL).
 * Returns 0 or VG_ECRYPTO (out too small).  The caller zeroises out. */
int vg_key_pem(const struct vg_key *k, uint8_t *out, size_t outlen, size_t *len);
/* Parses a PEM key of len bytes (no NUL needed).  Returns 0, -ENOMEM or
 * VG_ECRYPTO. */
int vg_key_parse(const uint8_t *pem, size_t len, struct vg_key **out);
/* The public half of k as PEM ("BEGIN PUBLIC KEY") into out
 * (NUL-terminated).  Returns 0 or VG_ECRYPTO (out too small). */
int vg_key_public_pem(const struct vg_key *k, char *out, size_t outlen);
/* Parses a PEM public key of len bytes (no NUL needed), or a private
 * key's public half: a key that verifies and cannot sign.  Returns 0,
 * -ENOMEM or VG_ECRYPTO. */
int vg_key_parse_public(const uint8_t *pem, size_t len, struct vg_key **out);
/* Zeroises and frees.  NULL is a no-op. */
void vg_key_free(struct vg_key *k);

/* ---- certificates ---- */

struct vg_cert; /* a certificate, or a chain of them (a CA bundle) */

/* Loads PEM (one or more certificates) or DER.  Returns 0, -errno or VG_ECERT. */
int vg_cert_load(const char *path, struct vg_cert **out);
/* Parses PEM (NUL-terminated, len includes the NUL) or DER. */
int vg_cert_parse(const uint8_t *data, size_t len, struct vg_cert **out);
void vg_cert_free(struct vg_cert *c);

/* What to put in a new certificate. */
struct vg_cert_req {
    const char *cn;            /* [A-Za-z0-9._@:-] and spaces, 1..64 */
    enum vg_role role;         /* NONE for a CA */
    const char *const *sans;   /* DNS names or IP addresses (detected) */
    size_t nsans;
    int64_t not_before_ms;
    int64_t not_after_ms;
    int is_ca;
};

/* Checks a certificate name: returns 0 or -EINVAL. */
int vg_cert_name_check(const char *cn);
/* Checks a SAN: a DNS name (letters, digits, '-', '.', leading "*."),
 * or an IPv4/IPv6 address.  Returns 0 or -EINVAL. */
int vg_cert_san_check(const char *san);

/* Issues a certificate for subject_key, signed by issuer_key.  issuer is
 * the issuing CA's certificate, or NULL for a self-signed CA.  *pem_out
 * is a new NUL-terminated PEM string (free()).  Returns 0, -EINVAL (bad
 * name or SAN), VG_ECRYPTO or -ENOMEM. */
int vg_cert_issue(const struct vg_cert_req *req, const struct vg_key *subject_key,
                  const struct vg_cert *issuer, const struct vg_key *issuer_key, char **pem_out);

/* Room for a serial as vg_cert_info writes it ("7F:0A:..."). */
#define VG_SERIAL_MAX 80
/* Writes serial (hex, colons and case optional) into out as vg_cert_info
 * does: upper case, whole bytes, ':' between them, no leading zero
 * byte.  Returns 0 or -EINVAL (not hex, empty, too long for outlen). */
int vg_serial_normalize(const char *serial, char *out, size_t outlen);

/* One revoked certificate of a CRL. */
struct vg_crl_entry {
    const char *serial; /* hex, as vg_serial_normalize takes it */
    int64_t revoked_ms;
};
/* A v2 CRL (DER) issued by ca, signed with ca_key (EC: ECDSA/SHA-256)
 * listing v[0..n), with the cRLNumber number.  *der_out is new
 * (free()).  Returns 0, -EINVAL (not an EC key, or a bad serial),
 * VG_ECRYPTO or -ENOMEM. */
int vg_crl_make(const struct vg_cert *ca, const struct vg_key *ca_key,
                const struct vg_crl_entry *v, size_t n, int64_t this_update_ms,
                int64_t next_update_ms, uint64_t number, uint8_t **der_out, size_t *len_out);
/* der as PEM ("X509 CRL"), a new NUL-terminated string (free()).
 * Returns 0, VG_ECRYPTO or -ENOMEM. */
int vg_crl_pem(const uint8_t *der, size_t len, char **pem_out);

struct vg_cert_info {
    char subject[256];
    char issuer[256];
    char cn[VG_CERT_NAME_MAX + 1];
    char ou[VG_CERT_NAME_MAX + 1];
    enum vg_role role; /* from ou; NONE if absent or unknown */
    char serial[VG_SERIAL_MAX]; /* hex, "7F:0A:..." */
    int64_t not_before_ms, not_after_ms;
    int is_ca;
    int server_auth, client_auth; /* usable for (no EKU extension: both) */
    uint8_t sha256[VG_SHA256_LEN]; /* fingerprint of the DER */
    size_t nsans;
    /* DNS names and IP addresses as text.  Last, so that a copy may stop
     * after the nsans used (vg_cert_info_size): a TLS connection keeps its
     * peer's so, not 8 KB of names it does not have. */
    char sans[VG_CERT_MAX_SANS][256];
};
/* The bytes of info that matter: up to its last SAN used. */
#define vg_cert_info_size(info) \
    (offsetof(struct vg_cert_info, sans) + (info)->nsans * sizeof((info)->sans[0]))

/* Describes the first certificate of c.  Returns 0 or VG_ECERT. */
int vg_cert_info(const struct vg_cert *c, struct vg_cert_info *info);
/* Verifies the first certificate of c against the CA bundle ca at time
 * now (validity, signature, chain).  On failure returns VG_ECERT and
 * writes the reasons into why. */
int vg_cert_verify(const struct vg_cert *c, const struct vg_cert *ca, char *why, size_t whylen);
/* The same, with every certificate's validity judged at at_ms instead of
 * now (a signature made then by a certificate since expired). */
int vg_cert_verify_at(const struct vg_cert *c, const struct vg_cert *ca, int64_t at_ms,
                      char *why, size_t whylen);
/* A signed document's embedded signer (PEM): it must be a collector's
 * certificate from ca, valid at at_ms (0: now).  Returns 0 with *out
 * (vg_cert_free), or VG_ECERT with why. */
int vg_cert_collector(const char *pem, const struct vg_cert *ca, int64_t at_ms,
                      struct vg_cert **out, char *why, size_t whylen);
/* 1 if the key is the private half of the certificate's public key. */
int vg_cert_matches_key(const struct vg_cert *c, const struct vg_key *k);

/* ---- certificate signing requests (enrollment) ---- */

/* A PKCS#10 request (DER) for key, subject CN=cn.  *der_out is malloc'd.
 * Returns 0, -EINVAL (bad name), VG_ECRYPTO or -ENOMEM. */
int vg_csr_make(const struct vg_key *k, const char *cn, uint8_t **der_out, size_t *len_out);
/* The same with a whole subject ("CN=x,OU=admin"), for tests of what an
 * issuer must ignore. */
int vg_csr_make_subject(const struct vg_key *k, const char *subject, uint8_t **der_out,
                        size_t *len_out);
/* Parses a request (DER, at most 8 KiB), checks its self-signature and
 * returns its public key alone (usable as vg_cert_issue's subject_key).
 * Its subject is ignored: the issuer decides the name and the role.
 * Returns 0, VG_ECERT (malformed or badly signed), -EINVAL (not an EC
 * P-256 key), VG_ECRYPTO or -ENOMEM. */
int vg_csr_public_key(const uint8_t *der, size_t len, struct vg_key **pub_out);

/* ---- signatures ---- */

#define VG_SIG_MAX 80 /* DER ECDSA P-256 signature */

/* ECDSA/SHA-256 signature of data into sig (VG_SIG_MAX bytes).
 * Returns 0 or VG_ECRYPTO. */
int vg_sign(const struct vg_key *k, const void *data, size_t len, uint8_t *sig, size_t *siglen);
/* Returns 0 if sig is a valid signature of data by the key (a private
 * key's public half, or a public key), VG_ECRYPTO otherwise. */
int vg_key_verify(const struct vg_key *k, const void *data, size_t len, const uint8_t *sig,
                  size_t siglen);
/* Returns 0 if sig is a valid signature of data by the certificate's key,
 * VG_ECRYPTO otherwise. */
int vg_verify(const struct vg_cert *c, const void *data, size_t len, const uint8_t *sig,
              size_t siglen);

#endif
