/*
 * mbedtls-backed crypto.  Written against mbedtls 2.28 (Debian 12, Ubuntu
 * 22.04/24.04, EPEL 9); the VG_MBED3 paths follow the 3.x API changes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define VG_MBED3 1
#include <mbedtls/build_info.h>
#define VG_MBED_PRIV(x) MBEDTLS_PRIVATE(x)
#else
#include <mbedtls/config.h>
#define VG_MBED_PRIV(x) x
#endif
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <mbedtls/md.h>

#include "crypto.h"
#include "crypto-int.h"
#include "err.h"
#include "util.h"

struct vg_sha256 {
    mbedtls_sha256_context ctx;
};

/* mbedtls random callback: the kernel CSPRNG, no DRBG state to seed. */
int vg__rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    return vg_random(out, len) ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

int vg_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int vg_uuid4(char out[VG_UUID_STR])
{
    uint8_t b[16];
    int rc = vg_random(b, sizeof(b));
    if (rc)
        return rc;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, VG_UUID_STR,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* ---- hashing ---- */

#ifdef VG_MBED3
#define sha256_starts mbedtls_sha256_starts
#define sha256_update mbedtls_sha256_update
#define sha256_finish mbedtls_sha256_finish
#define sha256_oneshot mbedtls_sha256
#else
#define sha256_starts mbedtls_sha256_starts_ret
#define sha256_update mbedtls_sha256_update_ret
#define sha256_finish mbedtls_sha256_finish_ret
#define sha256_oneshot mbedtls_sha256_ret
#endif

int vg_sha256(const void *data, size_t len, uint8_t out[VG_SHA256_LEN])
{
    return sha256_oneshot(data, len, out, 0) ? VG_ECRYPTO : 0;
}

struct vg_sha256 *vg_sha256_new(void)
{
    struct vg_sha256 *h = malloc(sizeof(*h));
    if (!h)
        return NULL;
    mbedtls_sha256_init(&h->ctx);
    sha256_starts(&h->ctx, 0);
    return h;
}

void vg_sha256_update(struct vg_sha256 *h, const void *data, size_t len)
{
    sha256_update(&h->ctx, data, len);
}

void vg_sha256_final(struct vg_sha256 *h, uint8_t out[VG_SHA256_LEN])
{
    sha256_finish(&h->ctx, out);
    mbedtls_sha256_free(&h->ctx);
    free(h);
}

int vg_sha256_file(const char *path, uint64_t max, uint8_t out[VG_SHA256_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;
    if (fd < 0)
        return -errno;
    rc = vg_sha256_fd(fd, max, out);
    close(fd);
    return rc;
}

int vg_sha256_fd(int fd, uint64_t max, uint8_t out[VG_SHA256_LEN])
{
    /* 16 KiB: this runs on worker threads, whose stack pages, once
     * touched, stay resident. */
    unsigned char buf[16384];
    struct vg_sha256 *h;
    uint64_t total = 0;
    int rc = 0;

    h = vg_sha256_new();
    if (!h)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > max) {
            rc = VG_ETOOBIG;
            break;
        }
        vg_sha256_update(h, buf, (size_t)n);
    }
    vg_sha256_final(h, out);
    if (rc)
        memset(out, 0, VG_SHA256_LEN);
    return rc;
}

/* ---- roles ---- */

static const char *const role_names[] = {
    [VG_ROLE_NONE] = "none",         [VG_ROLE_AGENT] = "agent",
    [VG_ROLE_COLLECTOR] = "collector", [VG_ROLE_RESPONDER] = "responder",
    [VG_ROLE_AUDITOR] = "auditor",   [VG_ROLE_ADMIN] = "admin",
};

const char *vg_role_name(enum vg_role r)
{
    if ((unsigned)r < VG_ARRAY_SIZE(role_names))
        return role_names[r];
    return "none";
}

int vg_role_parse(const char *s, enum vg_role *out)
{
    for (unsigned i = VG_ROLE_AGENT; i < VG_ARRAY_SIZE(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum vg_role)i;
            return 0;
        }
    }
    return -EINVAL;
}

int vg_role_is_operator(enum vg_role r)
{
    return r == VG_ROLE_RESPONDER || r == VG_ROLE_AUDITOR || r == VG_ROLE_ADMIN;
}

/* ---- keys ---- */

int vg_key_generate(struct vg_key **out)
{
    struct vg_key *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    mbedtls_pk_init(&k->pk);
    if (mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k->pk), vg__rng, NULL)) {
        vg_key_free(k);
        return VG_ECRYPTO;
    }
    *out = k;
    return 0;
}

int vg_key_load(const char *path, struct vg_key **out)
{
    struct stat st;
    struct vg_key *k;
    char *data = NULL;
    size_t len = 0;
    int rc, fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    close(fd);
    if (st.st_mode & 077)
        return VG_EKEYMODE;
    rc = vg_file_read(path, 64 * 1024, &data, &len);
    if (rc)
        return rc;
    k = calloc(1, sizeof(*k));
    if (!k) {
        rc = -ENOMEM;
        goto out;
    }
    mbedtls_pk_init(&k->pk);
    /* PEM parsing wants the terminating NUL counted in the length. */
#ifdef VG_MBED3
    rc = mbedtls_pk_parse_key(&k->pk, (unsigned char *)data, len + 1, NULL, 0, vg__rng, NULL);
#else
    rc = mbedtls_pk_parse_key(&k->pk, (unsigned char *)data, len + 1, NULL, 0);
#endif
    if (rc) {
        vg_key_free(k);
        rc = VG_ECRYPTO;
        goto out;
    }
    *out = k;
out:
    vg_zeroize(data, len);
    free(data);
    return rc;
}

int vg_key_save(const struct vg_key *k, const char *path, int excl)
{
    unsigned char buf[2048];
    int rc;

    if (mbedtls_pk_write_key_pem((mbedtls_pk_context *)&k->pk, buf, sizeof(buf)))
        return VG_ECRYPTO;
    rc = vg_file_write_atomic(path, buf, strlen((char *)buf), 0600, excl);
    vg_zeroize(buf, sizeof(buf));
    return rc;
}

int vg_key_pem(const struct vg_key *k, uint8_t *out, size_t outlen, size_t *len)
{
    if (mbedtls_pk_write_key_pem((mbedtls_pk_context *)&k->pk, out, outlen))
        return VG_ECRYPTO;
    *len = strlen((char *)out);
    return 0;
}

int vg_key_parse(const uint8_t *pem, size_t len, struct vg_key **out)
{
    struct vg_key *k;
    uint8_t *z;
    int rc;

    if (len == 0 || !(z = malloc(len + 1)))
        return len ? -ENOMEM : VG_ECRYPTO;
    memcpy(z, pem, len);
    z[len] = 0;
    if (!(k = calloc(1, sizeof(*k)))) {
        vg_zeroize(z, len);
        free(z);
        return -ENOMEM;
    }
    mbedtls_pk_init(&k->pk);
#ifdef VG_MBED3
    rc = mbedtls_pk_parse_key(&k->pk, z, len + 1, NULL, 0, vg__rng, NULL);
#else
    rc = mbedtls_pk_parse_key(&k->pk, z, len + 1, NULL, 0);
#endif
    vg_zeroize(z, len);
    free(z);
    if (rc) {
        vg_key_free(k);
        return VG_ECRYPTO;
    }
    *out = k;
    return 0;
}

int vg_key_public_pem(const struct vg_key *k, char *out, size_t outlen)
{
    if (mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)&k->pk, (unsigned char *)out, outlen))
        return VG_ECRYPTO;
    return 0;
}

int vg_key_parse_public(const uint8_t *pem, size_t len, struct vg_key **out)
{
    struct vg_key *k = NULL, *priv = NULL;
    unsigned char der[256];
    uint8_t *z;
    int rc = VG_ECRYPTO, n;

    *out = NULL;
    if (len == 0 || len > 64 * 1024)
        return VG_ECRYPTO;
    if (!(z = malloc(len + 1)) || !(k = calloc(1, sizeof(*k)))) {
        free(z);
        return -ENOMEM;
    }
    memcpy(z, pem, len);
    z[len] = 0;
    mbedtls_pk_init(&k->pk);
    if (mbedtls_pk_parse_public_key(&k->pk, z, len + 1) == 0) {
        rc = 0;
    } else if (vg_key_parse(z, len, &priv) == 0) {
        /* A private key: keep only what verifies. */
        mbedtls_pk_free(&k->pk);
        mbedtls_pk_init(&k->pk);
        n = mbedtls_pk_write_pubkey_der(&priv->pk, der, sizeof(der));
        if (n > 0 && mbedtls_pk_parse_public_key(&k->pk, der + sizeof(der) - n, (size_t)n) == 0)
            rc = 0;
    }
    vg_key_free(priv);
    vg_zeroize(z, len);
    free(z);
    if (rc) {
        vg_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void vg_key_free(struct vg_key *k)
{
    if (!k)
        return;
    mbedtls_pk_free(&k->pk);
    free(k);
}

/* ---- certificates ---- */

int vg_cert_parse(const uint8_t *data, size_t len, struct vg_cert **out)
{
    struct vg_cert *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    mbedtls_x509_crt_init(&c->crt);
    /* Returns > 0 when some certificates of a bundle failed: accept only
     * a bundle that parses completely. */
    if (mbedtls_x509_crt_parse(&c->crt, data, len) != 0) {
        vg_cert_free(c);
        return VG_ECERT;
    }
    *out = c;
    return 0;
}

int vg_cert_load(const char *path, struct vg_cert **out)
{
    char *data = NULL;
    size_t len = 0;
    int rc = vg_file_read(path, 1024 * 1024, &data, &len);
    if (rc)
        return rc;
    /* Count the NUL for PEM; DER is binary and must not include it. */
    rc = vg_cert_parse((uint8_t *)data, strstr(data, "-----BEGIN") ? len + 1 : len, out);
    free(data);
    return rc;
}

void vg_cert_free(struct vg_cert *c)
{
    if (!c)
        return;
    mbedtls_x509_crt_free(&c->crt);
    free(c);
}

int vg_cert_name_check(const char *cn)
{
    size_t n = strlen(cn);
    if (n == 0 || n > VG_CERT_NAME_MAX || cn[0] == ' ' || cn[n - 1] == ' ')
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cn[i];
        if (!isalnum(c) && !strchr("._@:- ", c))
            return -EINVAL;
    }
    return 0;
}

static int san_ip(const char *s, unsigned char *out, size_t *len)
{
    if (inet_pton(AF_INET, s, out) == 1) {
        *len = 4;
        return 1;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        *len = 16;
        return 1;
    }
    return 0;
}

int vg_cert_san_check(const char *san)
{
    unsigned char ip[16];
    size_t iplen, n = strlen(san), label = 0;
    const char *p = san;

    if (san_ip(san, ip, &iplen))
        return 0;
    if (n == 0 || n > 253)
        return -EINVAL;
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    if (!*p)
        return -EINVAL;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (label == 0 || p[-1] == '-')
                return -EINVAL;
            label = 0;
            continue;
        }
        if (!isalnum(c) && !(c == '-' && label > 0))
            return -EINVAL;
        if (++label > 63)
            return -EINVAL;
    }
    return label == 0 ? -EINVAL : 0;
}

/* Writes the DER of a GeneralNames list (RFC 5280 4.2.1.6): dNSName [2]
 * IA5String, iPAddress [7] OCTET STRING.  mbedtls 2.28 has no writer for
 * this extension.  ASN.1 is written backwards from the end of buf;
 * returns the length, the DER starting at buf + size - length. */
static int write_san(unsigned char *buf, size_t size, const char *const *sans, size_t n)
{
    unsigned char *p = buf + size;
    size_t len = 0;
    int ret;

    for (size_t i = n; i-- > 0;) {
        unsigned char ip[16];
        size_t iplen, l = 0;
        int is_ip = san_ip(sans[i], ip, &iplen);
        const unsigned char *v = is_ip ? ip : (const unsigned char *)sans[i];
        size_t vl = is_ip ? iplen : strlen(sans[i]);
        MBEDTLS_ASN1_CHK_ADD(l, mbedtls_asn1_write_raw_buffer(&p, buf, v, vl));
        MBEDTLS_ASN1_CHK_ADD(l, mbedtls_asn1_write_len(&p, buf, vl));
        MBEDTLS_ASN1_CHK_ADD(l, mbedtls_asn1_write_tag(&p, buf,
                                                       MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                                           (is_ip ? 7 : 2)));
        len += l;
    }
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                                                 MBEDTLS_ASN1_SEQUENCE));
    return (int)len;
}

/* ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId.  2.28 has no writer. */
static int write_eku(unsigned char *buf, size_t size, int server, int client)
{
    unsigned char *p = buf + size;
    size_t len = 0;
    int ret;

    if (client)
        MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                                         MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
    if (server)
        MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                                         MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                                                 MBEDTLS_ASN1_SEQUENCE));
    return (int)len;
}

/* "YYYYMMDDhhmmss" (UTC), as mbedtls_x509write_crt_set_validity wants. */
static int x509_time(int64_t ms, char out[16])
{
    char iso[VG_TIME_STR_MAX];
    vg_time_format(ms - ((ms % 1000 + 1000) % 1000), iso, sizeof(iso));
    /* iso: YYYY-MM-DDThh:mm:ssZ */
    if (strlen(iso) != 20)
        return -EINVAL;
    snprintf(out, 16, "%.4s%.2s%.2s%.2s%.2s%.2s", iso, iso + 5, iso + 8, iso + 11, iso + 14,
             iso + 17);
    return 0;
}

/* The issuer's subject as an mbedtls name string ("CN=x,O=y"), rebuilt
 * attribute by attribute with ',' escaped, so that the issued
 * certificate's issuer field matches the CA's subject. */
static int issuer_name(const mbedtls_x509_name *dn, char *out, size_t outlen)
{
    size_t used = 0;
    for (const mbedtls_x509_name *n = dn; n; n = n->next) {
        const char *sn = NULL;
        if (!n->oid.p)
            continue;
        if (mbedtls_oid_get_attr_short_name(&n->oid, &sn) != 0)
            return -EINVAL;
        if (used + strlen(sn) + 3 >= outlen)
            return -ENAMETOOLONG;
        used += (size_t)snprintf(out + used, outlen - used, "%s%s=", used ? "," : "", sn);
        for (size_t i = 0; i < n->val.len; i++) {
            unsigned char c = n->val.p[i];
            if (used + 3 >= outlen)
                return -ENAMETOOLONG;
            if (c == ',')
                out[used++] = '\\';
            out[used++] = (char)c;
        }
        out[used] = '\0';
    }
    return used ? 0 : -EINVAL;
}

int vg_cert_issue(const struct vg_cert_req *req, const struct vg_key *subject_key,
                  const struct vg_cert *issuer, const struct vg_key *issuer_key, char **pem_out)
{
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char serial_raw[16], ext[4096];
    char subject[256], iss[512], nb[16], na[16];
    unsigned char *pem = NULL;
    int64_t not_before = req->not_before_ms;
    int rc = VG_ECRYPTO, len;

    if (vg_cert_name_check(req->cn))
        return -EINVAL;
    if (req->nsans > VG_CERT_MAX_SANS)
        return -EINVAL;
    for (size_t i = 0; i < req->nsans; i++)
        if (vg_cert_san_check(req->sans[i]))
            return -EINVAL;
    if (req->not_after_ms <= not_before)
        return -EINVAL;
    if (req->is_ca)
        snprintf(subject, sizeof(subject), "CN=%s,O=Vigil", req->cn);
    else
        snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=Vigil", req->cn,
                 vg_role_name(req->role));
    if (issuer) {
        if (issuer_name(&issuer->crt.subject, iss, sizeof(iss)))
            return -EINVAL;
    } else {
        vg_strlcpy(iss, subject, sizeof(iss));
    }
    if (x509_time(not_before, nb) || x509_time(req->not_after_ms, na))
        return -EINVAL;

    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
    pem = malloc(16384);
    if (!pem) {
        rc = -ENOMEM;
        goto out;
    }
    /* 127-bit random serial: positive, unique without bookkeeping. */
    if (vg_random(serial_raw, sizeof(serial_raw)))
        goto out;
    serial_raw[0] = (unsigned char)((serial_raw[0] & 0x7f) | 0x01);
    if (mbedtls_mpi_read_binary(&serial, serial_raw, sizeof(serial_raw)))
        goto out;

    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, (mbedtls_pk_context *)&subject_key->pk);
    mbedtls_x509write_crt_set_issuer_key(&crt, (mbedtls_pk_context *)&issuer_key->pk);
    if (mbedtls_x509write_crt_set_subject_name(&crt, subject) ||
        mbedtls_x509write_crt_set_issuer_name(&crt, iss) ||
        mbedtls_x509write_crt_set_serial(&crt, &serial) ||
        mbedtls_x509write_crt_set_validity(&crt, nb, na) ||
        /* A root may sign one level of intermediate CAs (enrollment); an
         * intermediate signs end certificates only. */
        mbedtls_x509write_crt_set_basic_constraints(&crt, req->is_ca,
                                                    req->is_ca ? (issuer ? 0 : 1) : -1) ||
        mbedtls_x509write_crt_set_subject_key_identifier(&crt) ||
        mbedtls_x509write_crt_set_authority_key_identifier(&crt))
        goto out;
    if (req->is_ca) {
        if (mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                          MBEDTLS_X509_KU_CRL_SIGN))
            goto out;
    } else {
        int server = req->role == VG_ROLE_COLLECTOR;
        if (mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE))
            goto out;
        len = write_eku(ext, sizeof(ext), server, !server);
        if (len < 0 ||
            mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                                0, ext + sizeof(ext) - len, (size_t)len))
            goto out;
    }
    if (req->nsans) {
        len = write_san(ext, sizeof(ext), req->sans, req->nsans);
        if (len < 0 ||
            mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                ext + sizeof(ext) - len, (size_t)len))
            goto out;
    }
    if (mbedtls_x509write_crt_pem(&crt, pem, 16384, vg__rng, NULL))
        goto out;
    *pem_out = (char *)pem;
    pem = NULL;
    rc = 0;
out:
    free(pem);
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    return rc;
}

static int64_t x509_time_ms(const mbedtls_x509_time *t)
{
    char s[32];
    int64_t ms = 0;
    snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02dZ", t->year, t->mon, t->day, t->hour,
             t->min, t->sec);
    if (vg_time_parse(s, &ms))
        return 0;
    return ms;
}

static void name_attr(const mbedtls_x509_name *dn, const char *oid, size_t oidlen, char *out,
                      size_t outlen)
{
    out[0] = '\0';
    for (const mbedtls_x509_name *n = dn; n; n = n->next) {
        if (n->oid.p && n->oid.len == oidlen && memcmp(n->oid.p, oid, oidlen) == 0) {
            size_t l = n->val.len < outlen - 1 ? n->val.len : outlen - 1;
            for (size_t i = 0; i < l; i++)
                out[i] = isprint(n->val.p[i]) ? (char)n->val.p[i] : '?';
            out[l] = '\0';
            return;
        }
    }
}

int vg_cert_info(const struct vg_cert *c, struct vg_cert_info *info)
{
    const mbedtls_x509_crt *crt = &c->crt;
    const mbedtls_x509_sequence *s;

    memset(info, 0, sizeof(*info));
    if (!crt->raw.p)
        return VG_ECERT;
    if (mbedtls_x509_dn_gets(info->subject, sizeof(info->subject), &crt->subject) < 0 ||
        mbedtls_x509_dn_gets(info->issuer, sizeof(info->issuer), &crt->issuer) < 0)
        return VG_ECERT;
    name_attr(&crt->subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), info->cn,
              sizeof(info->cn));
    name_attr(&crt->subject, MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT),
              info->ou, sizeof(info->ou));
    if (vg_role_parse(info->ou, &info->role))
        info->role = VG_ROLE_NONE;
    if (mbedtls_x509_serial_gets(info->serial, sizeof(info->serial), &crt->serial) < 0)
        info->serial[0] = '\0';
    info->not_before_ms = x509_time_ms(&crt->valid_from);
    info->not_after_ms = x509_time_ms(&crt->valid_to);
    info->is_ca = crt->VG_MBED_PRIV(ca_istrue);
    info->server_auth = mbedtls_x509_crt_check_extended_key_usage(
                            crt, MBEDTLS_OID_SERVER_AUTH,
                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0;
    info->client_auth = mbedtls_x509_crt_check_extended_key_usage(
                            crt, MBEDTLS_OID_CLIENT_AUTH,
                            MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) == 0;
    for (s = &crt->subject_alt_names; s && s->buf.p && info->nsans < VG_CERT_MAX_SANS;
         s = s->next) {
        char *out = info->sans[info->nsans];
        int type = s->buf.tag & 0x1f;
        if (type == 2 && s->buf.len < 256) {
            for (size_t i = 0; i < s->buf.len; i++)
                out[i] = isprint(s->buf.p[i]) ? (char)s->buf.p[i] : '?';
            out[s->buf.len] = '\0';
        } else if (type == 7 && (s->buf.len == 4 || s->buf.len == 16)) {
            inet_ntop(s->buf.len == 4 ? AF_INET : AF_INET6, s->buf.p, out, 256);
        } else {
            continue;
        }
        info->nsans++;
    }
    vg_sha256(crt->raw.p, crt->raw.len, info->sha256);
    return 0;
}

static int cert_verify(const struct vg_cert *c, const struct vg_cert *ca,
                       int (*f_vrfy)(void *, mbedtls_x509_crt *, int, uint32_t *), void *p_vrfy,
                       char *why, size_t whylen)
{
    uint32_t flags = 0;
    int rc = mbedtls_x509_crt_verify((mbedtls_x509_crt *)&c->crt, (mbedtls_x509_crt *)&ca->crt,
                                     NULL, NULL, &flags, f_vrfy, p_vrfy);
    if (rc == 0)
        return 0;
    if (why && whylen) {
        char buf[512];
        char *p;
        if (flags && mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", flags) > 0) {
            /* One line: "expired; not trusted" rather than a list. */
            while ((p = strrchr(buf, '\n')) && p[1] == '\0')
                *p = '\0';
            for (p = buf; *p; p++)
                if (*p == '\n')
                    *p = ';';
            vg_strlcpy(why, buf, whylen);
        } else {
            snprintf(why, whylen, "verification failed (mbedtls -0x%04x)", (unsigned)-rc);
        }
    }
    return VG_ECERT;
}

int vg_cert_verify(const struct vg_cert *c, const struct vg_cert *ca, char *why, size_t whylen)
{
    return cert_verify(c, ca, NULL, NULL, why, whylen);
}

/* Judges each certificate's validity at *at_ms instead of now. */
static int verify_at_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    int64_t at = *(const int64_t *)ctx;
    (void)depth;
    *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (at < x509_time_ms(&crt->valid_from))
        *flags |= MBEDTLS_X509_BADCERT_FUTURE;
    if (at > x509_time_ms(&crt->valid_to))
        *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
    return 0;
}

int vg_cert_verify_at(const struct vg_cert *c, const struct vg_cert *ca, int64_t at_ms,
                      char *why, size_t whylen)
{
    return cert_verify(c, ca, verify_at_cb, &at_ms, why, whylen);
}

int vg_cert_collector(const char *pem, const struct vg_cert *ca, int64_t at_ms,
                      struct vg_cert **out, char *why, size_t whylen)
{
    struct vg_cert *c = NULL;
    struct vg_cert_info info;
    char vwhy[300];

    *out = NULL;
    if (vg_cert_parse((const uint8_t *)pem, strlen(pem) + 1, &c) != 0) {
        snprintf(why, whylen, "its collector certificate cannot be read");
        return VG_ECERT;
    }
    if ((at_ms ? vg_cert_verify_at(c, ca, at_ms, vwhy, sizeof(vwhy))
               : vg_cert_verify(c, ca, vwhy, sizeof(vwhy))) != 0) {
        snprintf(why, whylen, "not signed by a collector of this CA: %s", vwhy);
        vg_cert_free(c);
        return VG_ECERT;
    }
    if (vg_cert_info(c, &info) != 0 || info.role != VG_ROLE_COLLECTOR) {
        snprintf(why, whylen, "its signer is not a collector");
        vg_cert_free(c);
        return VG_ECERT;
    }
    *out = c;
    return 0;
}

int vg_cert_matches_key(const struct vg_cert *c, const struct vg_key *k)
{
#ifdef VG_MBED3
    return mbedtls_pk_check_pair(&c->crt.pk, &k->pk, vg__rng, NULL) == 0;
#else
    return mbedtls_pk_check_pair(&c->crt.pk, &k->pk) == 0;
#endif
}

/* ---- signatures ---- */

int vg_sign(const struct vg_key *k, const void *data, size_t len, uint8_t *sig, size_t *siglen)
{
    uint8_t h[VG_SHA256_LEN];
    if (vg_sha256(data, len, h))
        return VG_ECRYPTO;
#ifdef VG_MBED3
    if (mbedtls_pk_sign((mbedtls_pk_context *)&k->pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig,
                        VG_SIG_MAX, siglen, vg__rng, NULL))
        return VG_ECRYPTO;
#else
    if (mbedtls_pk_sign((mbedtls_pk_context *)&k->pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig,
                        siglen, vg__rng, NULL))
        return VG_ECRYPTO;
#endif
    return 0;
}

int vg_key_verify(const struct vg_key *k, const void *data, size_t len, const uint8_t *sig,
                  size_t siglen)
{
    uint8_t h[VG_SHA256_LEN];
    if (vg_sha256(data, len, h))
        return VG_ECRYPTO;
    if (mbedtls_pk_verify((mbedtls_pk_context *)&k->pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig,
                          siglen))
        return VG_ECRYPTO;
    return 0;
}

int vg_verify(const struct vg_cert *c, const void *data, size_t len, const uint8_t *sig,
              size_t siglen)
{
    uint8_t h[VG_SHA256_LEN];
    if (vg_sha256(data, len, h))
        return VG_ECRYPTO;
    if (mbedtls_pk_verify((mbedtls_pk_context *)&c->crt.pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig,
                          siglen))
        return VG_ECRYPTO;
    return 0;
}

/* ---- certificate signing requests ---- */

int vg_csr_make(const struct vg_key *k, const char *cn, uint8_t **der_out, size_t *len_out)
{
    char subject[128];
    if (vg_cert_name_check(cn))
        return -EINVAL;
    snprintf(subject, sizeof(subject), "CN=%s", cn);
    return vg_csr_make_subject(k, subject, der_out, len_out);
}

int vg_csr_make_subject(const struct vg_key *k, const char *subject, uint8_t **der_out,
                        size_t *len_out)
{
    mbedtls_x509write_csr w;
    unsigned char *buf;
    int n;

    if (!(buf = malloc(4096)))
        return -ENOMEM;
    mbedtls_x509write_csr_init(&w);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, (mbedtls_pk_context *)&k->pk);
    n = mbedtls_x509write_csr_set_subject_name(&w, subject);
    if (n == 0)
        n = mbedtls_x509write_csr_der(&w, buf, 4096, vg__rng, NULL);
    mbedtls_x509write_csr_free(&w);
    if (n <= 0) {
        free(buf);
        return VG_ECRYPTO;
    }
    /* Written at the end of the buffer. */
    memmove(buf, buf + 4096 - n, (size_t)n);
    *der_out = buf;
    *len_out = (size_t)n;
    return 0;
}

int vg_csr_public_key(const uint8_t *der, size_t len, struct vg_key **pub_out)
{
    mbedtls_x509_csr csr;
    unsigned char hash[MBEDTLS_MD_MAX_SIZE], pub[256];
    const mbedtls_md_info_t *md;
    struct vg_key *k = NULL;
    int rc = VG_ECERT, n;

    *pub_out = NULL;
    if (len == 0 || len > 8192)
        return VG_ECERT;
    mbedtls_x509_csr_init(&csr);
    if (mbedtls_x509_csr_parse_der(&csr, der, len) != 0)
        goto out;
    /* mbedtls parses but does not check a CSR's own signature. */
#ifdef VG_MBED3
    md = mbedtls_md_info_from_type(csr.MBEDTLS_PRIVATE(sig_md));
    if (!md || mbedtls_md(md, csr.cri.p, csr.cri.len, hash) ||
        mbedtls_pk_verify_ext(csr.MBEDTLS_PRIVATE(sig_pk), csr.MBEDTLS_PRIVATE(sig_opts),
                              &csr.pk, csr.MBEDTLS_PRIVATE(sig_md), hash,
                              mbedtls_md_get_size(md), csr.MBEDTLS_PRIVATE(sig).p,
                              csr.MBEDTLS_PRIVATE(sig).len))
        goto out;
#else
    md = mbedtls_md_info_from_type(csr.sig_md);
    if (!md || mbedtls_md(md, csr.cri.p, csr.cri.len, hash) ||
        mbedtls_pk_verify_ext(csr.sig_pk, csr.sig_opts, &csr.pk, csr.sig_md, hash,
                              mbedtls_md_get_size(md), csr.sig.p, csr.sig.len))
        goto out;
#endif
    rc = -EINVAL;
    if (mbedtls_pk_get_type(&csr.pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_get_bitlen(&csr.pk) != 256)
        goto out;
    rc = VG_ECRYPTO;
    n = mbedtls_pk_write_pubkey_der(&csr.pk, pub, sizeof(pub));
    if (n <= 0)
        goto out;
    if (!(k = calloc(1, sizeof(*k)))) {
        rc = -ENOMEM;
        goto out;
    }
    mbedtls_pk_init(&k->pk);
    if (mbedtls_pk_parse_public_key(&k->pk, pub + sizeof(pub) - n, (size_t)n) != 0) {
        vg_key_free(k);
        goto out;
    }
    *pub_out = k;
    rc = 0;
out:
    mbedtls_x509_csr_free(&csr);
    return rc;
}

/* ---- certificate revocation lists ---- */

/*
 * mbedtls 2.28 parses CRLs but cannot write them: this is the minimal
 * RFC 5280 v2 CRL, written back to front with asn1write.
 *
 *   CertificateList ::= SEQUENCE {
 *     tbsCertList SEQUENCE {
 *       version INTEGER 1 (v2),
 *       signature AlgorithmIdentifier (ecdsa-with-SHA256, no parameters),
 *       issuer Name (the CA certificate's subject, byte for byte),
 *       thisUpdate Time, nextUpdate Time,
 *       revokedCertificates SEQUENCE OF SEQUENCE {
 *         userCertificate INTEGER, revocationDate Time } (absent if none),
 *       crlExtensions [0] { cRLNumber INTEGER } },
 *     signatureAlgorithm AlgorithmIdentifier,
 *     signatureValue BIT STRING (DER ECDSA signature of tbsCertList) }
 */
#define CRL_OID_ECDSA_SHA256 "\x2a\x86\x48\xce\x3d\x04\x03\x02"
#define CRL_OID_CRL_NUMBER "\x55\x1d\x14"
/* Adds f's length to g, or leaves for cleanup with ret set. */
#define CRL_ADD(g, f)                \
    do {                             \
        if ((ret = (f)) < 0)         \
            goto cleanup;            \
        (g) += (size_t)ret;          \
    } while (0)

/* UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
static int crl_time(unsigned char **p, unsigned char *start, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[64];
    int gen;

    if (!gmtime_r(&t, &tm))
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    gen = tm.tm_year + 1900 >= 2050 || tm.tm_year + 1900 < 1950;
    if (gen)
        snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    else
        snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return mbedtls_asn1_write_tagged_string(p, start, gen ? MBEDTLS_ASN1_GENERALIZED_TIME
                                                          : MBEDTLS_ASN1_UTC_TIME, s, strlen(s));
}

static int crl_alg(unsigned char **p, unsigned char *start)
{
    int ret;
    size_t len = 0;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(p, start, CRL_OID_ECDSA_SHA256,
                                                     sizeof(CRL_OID_ECDSA_SHA256) - 1));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONSTRUCTED |
                                                                    MBEDTLS_ASN1_SEQUENCE));
    return (int)len;
}

static int crl_seq(unsigned char **p, unsigned char *start, size_t len, int tag)
{
    int ret;
    size_t n = 0;
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, len));
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start, (unsigned char)tag));
    return (int)n;
}

int vg_serial_normalize(const char *in, char *out, size_t outlen)
{
    char hex[VG_SERIAL_MAX];
    size_t n = 0, o = 0, i = 0;

    for (; *in; in++) {
        if (*in == ':' || *in == ' ')
            continue;
        if (!isxdigit((unsigned char)*in) || n + 2 >= sizeof(hex))
            return -EINVAL;
        hex[n++] = (char)toupper((unsigned char)*in);
    }
    if (n == 0)
        return -EINVAL;
    hex[n] = '\0';
    /* Whole bytes; leading zero bytes dropped as mbedtls_x509_serial_gets does. */
    if (n % 2) {
        memmove(hex + 1, hex, n + 1);
        hex[0] = '0';
        n++;
    }
    while (n - i > 2 && hex[i] == '0' && hex[i + 1] == '0')
        i += 2;
    for (; i < n; i += 2) {
        if (o + 3 + (i + 2 < n) > outlen)
            return -EINVAL;
        out[o++] = hex[i];
        out[o++] = hex[i + 1];
        if (i + 2 < n)
            out[o++] = ':';
    }
    out[o] = '\0';
    return 0;
}

int vg_crl_make(const struct vg_cert *ca, const struct vg_key *ca_key,
                const struct vg_crl_entry *v, size_t n, int64_t this_update_ms,
                int64_t next_update_ms, uint64_t number, uint8_t **der_out, size_t *len_out)
{
    size_t cap = 1024 + n * 64, len = 0, rlen, tbs_len;
    unsigned char *buf = NULL, *p, *tbs;
    uint8_t h[VG_SHA256_LEN], sig[MBEDTLS_ECDSA_MAX_LEN + 16];
    size_t siglen = 0;
    mbedtls_mpi x;
    int ret;

    if (!mbedtls_pk_can_do((mbedtls_pk_context *)&ca_key->pk, MBEDTLS_PK_ECDSA) ||
        !mbedtls_pk_can_do((mbedtls_pk_context *)&ca->crt.pk, MBEDTLS_PK_ECDSA))
        return -EINVAL;
    if (!(buf = malloc(cap)))
        return -ENOMEM;
    mbedtls_mpi_init(&x);
    p = buf + cap;

    /* crlExtensions [0] EXPLICIT SEQUENCE { SEQUENCE { cRLNumber, OCTET STRING { INTEGER } } } */
    {
        size_t e = 0, in = 0;
        CRL_ADD(in, mbedtls_asn1_write_int(&p, buf, (int)(number & 0x7fffffff)));
        CRL_ADD(in, crl_seq(&p, buf, in, MBEDTLS_ASN1_OCTET_STRING));
        e = in;
        CRL_ADD(e, mbedtls_asn1_write_oid(&p, buf, CRL_OID_CRL_NUMBER,
                                                               sizeof(CRL_OID_CRL_NUMBER) - 1));
        CRL_ADD(e, crl_seq(&p, buf, e, MBEDTLS_ASN1_CONSTRUCTED |
                                                                MBEDTLS_ASN1_SEQUENCE));
        CRL_ADD(e, crl_seq(&p, buf, e, MBEDTLS_ASN1_CONSTRUCTED |
                                                                MBEDTLS_ASN1_SEQUENCE));
        CRL_ADD(e, crl_seq(&p, buf, e, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                                                MBEDTLS_ASN1_CONSTRUCTED | 0));
        len += e;
    }
    /* revokedCertificates, last first so that they read in order. */
    rlen = 0;
    for (size_t i = n; i-- > 0;) {
        size_t one = 0;
        char hex[VG_SERIAL_MAX], nz[VG_SERIAL_MAX];
        size_t k = 0;
        if (vg_serial_normalize(v[i].serial, nz, sizeof(nz))) {
            ret = -EINVAL;
            goto cleanup;
        }
        for (const char *s = nz; *s; s++)
            if (*s != ':')
                hex[k++] = *s;
        hex[k] = '\0';
        MBEDTLS_MPI_CHK(mbedtls_mpi_read_string(&x, 16, hex));
        CRL_ADD(one, crl_time(&p, buf, v[i].revoked_ms));
        CRL_ADD(one, mbedtls_asn1_write_mpi(&p, buf, &x));
        CRL_ADD(one, crl_seq(&p, buf, one, MBEDTLS_ASN1_CONSTRUCTED |
                                                                    MBEDTLS_ASN1_SEQUENCE));
        rlen += one;
    }
    if (n)
        CRL_ADD(rlen, crl_seq(&p, buf, rlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                                      MBEDTLS_ASN1_SEQUENCE));
    len += rlen;
    CRL_ADD(len, crl_time(&p, buf, next_update_ms));
    CRL_ADD(len, crl_time(&p, buf, this_update_ms));
    CRL_ADD(len, mbedtls_asn1_write_raw_buffer(
                                          &p, buf, ca->crt.subject_raw.p, ca->crt.subject_raw.len));
    CRL_ADD(len, crl_alg(&p, buf));
    CRL_ADD(len, mbedtls_asn1_write_int(&p, buf, 1));
    CRL_ADD(len, crl_seq(&p, buf, len, MBEDTLS_ASN1_CONSTRUCTED |
                                                                MBEDTLS_ASN1_SEQUENCE));
    tbs = p;
    tbs_len = len;
    if (vg_sha256(tbs, tbs_len, h)) {
        ret = VG_ECRYPTO;
        goto cleanup;
    }
#ifdef VG_MBED3
    ret = mbedtls_pk_sign((mbedtls_pk_context *)&ca_key->pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig,
                          sizeof(sig), &siglen, vg__rng, NULL);
#else
    ret = mbedtls_pk_sign((mbedtls_pk_context *)&ca_key->pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig,
                          &siglen, vg__rng, NULL);
#endif
    if (ret) {
        ret = VG_ECRYPTO;
        goto cleanup;
    }
    /* The whole, back to front in a second buffer: signature, its
     * algorithm, the tbs, the outer SEQUENCE. */
    {
        size_t cap2 = tbs_len + siglen + 64;
        unsigned char *out = malloc(cap2);
        if (!out) {
            ret = -ENOMEM;
            goto cleanup;
        }
        p = out + cap2;
        len = 0;
        if ((ret = mbedtls_asn1_write_bitstring(&p, out, sig, siglen * 8)) < 0 ||
            (len += (size_t)ret, (ret = crl_alg(&p, out)) < 0) ||
            (len += (size_t)ret, (ret = mbedtls_asn1_write_raw_buffer(&p, out, tbs, tbs_len)) < 0) ||
            (len += (size_t)ret, (ret = crl_seq(&p, out, len, MBEDTLS_ASN1_CONSTRUCTED |
                                                                  MBEDTLS_ASN1_SEQUENCE)) < 0)) {
            free(out);
            goto cleanup;
        }
        len += (size_t)ret;
        free(buf);
        buf = out;
    }
    memmove(buf, p, len);
    *der_out = buf;
    *len_out = len;
    buf = NULL;
    ret = 0;
cleanup:
    mbedtls_mpi_free(&x);
    free(buf);
    if (ret > 0)
        ret = VG_ECRYPTO;
    if (ret < 0 && ret != -EINVAL && ret != -ENOMEM && ret != VG_ECRYPTO)
        ret = VG_ECRYPTO;
    return ret;
}

int vg_crl_pem(const uint8_t *der, size_t len, char **pem_out)
{
    size_t cap = len * 4 / 3 + len / 32 + 128, olen = 0;
    unsigned char *pem = malloc(cap);

    if (!pem)
        return -ENOMEM;
    if (mbedtls_pem_write_buffer("-----BEGIN X509 CRL-----\n", "-----END X509 CRL-----\n", der,
                                 len, pem, cap, &olen)) {
        free(pem);
        return VG_ECRYPTO;
    }
    *pem_out = (char *)pem;
    return 0;
}
