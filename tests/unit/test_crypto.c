/* Keys, certificates (checked independently with mbedtls' own verifier),
 * signatures, hashes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#include "crypto.h"
#include "rsig.h"
#include "err.h"
#include "util.h"

#define DAY (86400LL * 1000)

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vg-test-crypto-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

struct pki {
    struct vg_key *ca_key;
    struct vg_cert *ca;
    char *ca_pem;
};

static void make_ca_from(struct pki *p, const char *cn, int64_t not_before)
{
    struct vg_cert_req req;
    int64_t now = vg_time_now_ms();

    memset(&req, 0, sizeof(req));
    req.cn = cn;
    req.is_ca = 1;
    req.not_before_ms = not_before;
    req.not_after_ms = now + 3650 * DAY;
    assert_int_equal(vg_key_generate(&p->ca_key), 0);
    assert_int_equal(vg_cert_issue(&req, p->ca_key, NULL, p->ca_key, &p->ca_pem), 0);
    assert_int_equal(vg_cert_parse((uint8_t *)p->ca_pem, strlen(p->ca_pem) + 1, &p->ca), 0);
}

static void make_ca(struct pki *p, const char *cn)
{
    make_ca_from(p, cn, vg_time_now_ms() - 60000);
}

static void free_ca(struct pki *p)
{
    vg_key_free(p->ca_key);
    vg_cert_free(p->ca);
    free(p->ca_pem);
}

static char *issue(struct pki *p, const char *cn, enum vg_role role, const char *const *sans,
                   size_t nsans, int64_t not_after, struct vg_key **key_out)
{
    struct vg_cert_req req;
    struct vg_key *k = NULL;
    char *pem = NULL;

    memset(&req, 0, sizeof(req));
    req.cn = cn;
    req.role = role;
    req.sans = sans;
    req.nsans = nsans;
    req.not_before_ms = vg_time_now_ms() - 60000;
    if (req.not_before_ms >= not_after)
        req.not_before_ms = not_after - 30 * DAY;
    req.not_after_ms = not_after;
    assert_int_equal(vg_key_generate(&k), 0);
    assert_int_equal(vg_cert_issue(&req, k, p->ca, p->ca_key, &pem), 0);
    if (key_out)
        *key_out = k;
    else
        vg_key_free(k);
    return pem;
}

/* Verifies with mbedtls directly, optionally checking a name against
 * the SANs (mbedtls' own SAN parser).  Returns the verify flags. */
static uint32_t mbed_verify(const char *pem, const char *ca_pem, const char *name)
{
    mbedtls_x509_crt crt, ca;
    uint32_t flags = 0;

    mbedtls_x509_crt_init(&crt);
    mbedtls_x509_crt_init(&ca);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
    assert_int_equal(mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1),
                     0);
    mbedtls_x509_crt_verify(&crt, &ca, NULL, name, &flags, NULL, NULL);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);
    return flags;
}

static void test_sha256_vectors(void **state)
{
    uint8_t h[VG_SHA256_LEN];
    char hex[VG_SHA256_HEX];
    struct vg_sha256 *s;
    (void)state;

    assert_int_equal(vg_sha256("abc", 3, h), 0);
    assert_string_equal(vg_hex(h, sizeof(h), hex),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(vg_sha256("", 0, h), 0);
    assert_string_equal(vg_hex(h, sizeof(h), hex),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    s = vg_sha256_new();
    vg_sha256_update(s, "a", 1);
    vg_sha256_update(s, "bc", 2);
    vg_sha256_final(s, h);
    assert_string_equal(vg_hex(h, sizeof(h), hex),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sha256_file(void **state)
{
    char p[PATH_MAX];
    uint8_t h[VG_SHA256_LEN];
    char hex[VG_SHA256_HEX];
    (void)state;

    path(p, "abc.txt");
    assert_int_equal(vg_file_write_atomic(p, "abc", 3, 0644, 0), 0);
    assert_int_equal(vg_sha256_file(p, 100, h), 0);
    assert_string_equal(vg_hex(h, sizeof(h), hex),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(vg_sha256_file(p, 2, h), VG_ETOOBIG);
    path(p, "missing");
    assert_int_equal(vg_sha256_file(p, 100, h), -ENOENT);
}

static void test_uuid(void **state)
{
    char a[VG_UUID_STR], b[VG_UUID_STR];
    (void)state;
    assert_int_equal(vg_uuid4(a), 0);
    assert_int_equal(vg_uuid4(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
}

static void test_roles_and_names(void **state)
{
    enum vg_role r;
    (void)state;
    assert_int_equal(vg_role_parse("responder", &r), 0);
    assert_int_equal(r, VG_ROLE_RESPONDER);
    assert_string_equal(vg_role_name(VG_ROLE_AUDITOR), "auditor");
    assert_int_equal(vg_role_parse("root", &r), -EINVAL);
    assert_int_equal(vg_role_parse("none", &r), -EINVAL);
    assert_true(vg_role_is_operator(VG_ROLE_ADMIN));
    assert_false(vg_role_is_operator(VG_ROLE_AGENT));

    assert_int_equal(vg_cert_name_check("host-1.example.org"), 0);
    assert_int_equal(vg_cert_name_check("alice@nhs.net"), 0);
    assert_int_equal(vg_cert_name_check(""), -EINVAL);
    assert_int_equal(vg_cert_name_check("a,OU=admin"), -EINVAL);
    assert_int_equal(vg_cert_name_check("a/b"), -EINVAL);
    assert_int_equal(vg_cert_name_check(
                         "0123456789012345678901234567890123456789012345678901234567890123456789"),
                     -EINVAL);

    assert_int_equal(vg_cert_san_check("collector.example.org"), 0);
    assert_int_equal(vg_cert_san_check("*.example.org"), 0);
    assert_int_equal(vg_cert_san_check("10.1.2.3"), 0);
    assert_int_equal(vg_cert_san_check("fe80::1"), 0);
    assert_int_equal(vg_cert_san_check("bad_name"), -EINVAL);
    assert_int_equal(vg_cert_san_check("a..b"), -EINVAL);
    assert_int_equal(vg_cert_san_check("-a.b"), -EINVAL);
    assert_int_equal(vg_cert_san_check(""), -EINVAL);
}

static void test_key_files(void **state)
{
    char p[PATH_MAX];
    struct vg_key *k = NULL, *k2 = NULL;
    struct stat st;
    (void)state;

    path(p, "k.key");
    assert_int_equal(vg_key_generate(&k), 0);
    umask(022);
    assert_int_equal(vg_key_save(k, p, 1), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(vg_key_save(k, p, 1), -EEXIST);
    assert_int_equal(vg_key_load(p, &k2), 0);
    vg_key_free(k2);
    /* A key others can read is refused, like ssh does. */
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(vg_key_load(p, &k2), VG_EKEYMODE);
    assert_int_equal(chmod(p, 0600), 0);
    /* Not a key. */
    path(p, "junk.key");
    assert_int_equal(vg_file_write_atomic(p, "not a key\n", 10, 0600, 0), 0);
    assert_int_equal(vg_key_load(p, &k2), VG_ECRYPTO);
    path(p, "missing.key");
    assert_int_equal(vg_key_load(p, &k2), -ENOENT);
    vg_key_free(k);
    vg_key_free(NULL);
}

static void test_issue_and_verify(void **state)
{
    struct pki p;
    struct vg_cert *c = NULL;
    struct vg_key *k = NULL;
    struct vg_cert_info info;
    const char *sans[] = { "collector1.example.org", "127.0.0.1", "::1" };
    char why[256];
    int64_t na = vg_time_now_ms() + 365 * DAY;
    char *pem;
    (void)state;

    make_ca(&p, "Test CA");
    pem = issue(&p, "collector1", VG_ROLE_COLLECTOR, sans, 3, na, &k);
    assert_int_equal(vg_cert_parse((uint8_t *)pem, strlen(pem) + 1, &c), 0);
    assert_int_equal(vg_cert_verify(c, p.ca, why, sizeof(why)), 0);
    assert_true(vg_cert_matches_key(c, k));
    assert_false(vg_cert_matches_key(c, p.ca_key));

    assert_int_equal(vg_cert_info(c, &info), 0);
    assert_string_equal(info.cn, "collector1");
    assert_string_equal(info.ou, "collector");
    assert_int_equal(info.role, VG_ROLE_COLLECTOR);
    assert_false(info.is_ca);
    assert_true(info.server_auth);
    assert_false(info.client_auth);
    assert_int_equal(info.nsans, 3);
    assert_string_equal(info.sans[0], "collector1.example.org");
    assert_string_equal(info.sans[1], "127.0.0.1");
    assert_string_equal(info.sans[2], "::1");
    assert_true(info.not_after_ms / 1000 == na / 1000);

    /* mbedtls' own verifier, matching the name against our SAN encoding. */
    assert_int_equal(mbed_verify(pem, p.ca_pem, "collector1.example.org"), 0);
    assert_int_equal(mbed_verify(pem, p.ca_pem, "other.example.org"), MBEDTLS_X509_BADCERT_CN_MISMATCH);
    free(pem);
    vg_cert_free(c);
    vg_key_free(k);

    pem = issue(&p, "alice", VG_ROLE_RESPONDER, NULL, 0, na, NULL);
    assert_int_equal(vg_cert_parse((uint8_t *)pem, strlen(pem) + 1, &c), 0);
    assert_int_equal(vg_cert_info(c, &info), 0);
    assert_int_equal(info.role, VG_ROLE_RESPONDER);
    assert_true(info.client_auth);
    assert_false(info.server_auth);
    assert_int_equal(info.nsans, 0);
    assert_int_equal(mbed_verify(pem, p.ca_pem, NULL), 0);
    free(pem);
    vg_cert_free(c);
    free_ca(&p);
}

static void test_expired_and_foreign(void **state)
{
    struct pki p, other;
    struct vg_cert *c = NULL;
    char why[256] = "";
    char *pem;
    (void)state;

    make_ca(&p, "Test CA");
    make_ca(&other, "Other CA");
    pem = issue(&p, "old", VG_ROLE_AGENT, NULL, 0, vg_time_now_ms() - DAY, NULL);
    assert_int_equal(vg_cert_parse((uint8_t *)pem, strlen(pem) + 1, &c), 0);
    assert_int_equal(vg_cert_verify(c, p.ca, why, sizeof(why)), VG_ECERT);
    assert_non_null(strstr(why, "expired"));
    assert_true(mbed_verify(pem, p.ca_pem, NULL) & MBEDTLS_X509_BADCERT_EXPIRED);
    free(pem);
    vg_cert_free(c);

    /* Signed by another CA with the same subject shape. */
    pem = issue(&other, "host", VG_ROLE_AGENT, NULL, 0, vg_time_now_ms() + DAY, NULL);
    assert_int_equal(vg_cert_parse((uint8_t *)pem, strlen(pem) + 1, &c), 0);
    assert_int_equal(vg_cert_verify(c, p.ca, why, sizeof(why)), VG_ECERT);
    assert_true(mbed_verify(pem, p.ca_pem, NULL) & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
    assert_int_equal(vg_cert_verify(c, other.ca, why, sizeof(why)), 0);
    free(pem);
    vg_cert_free(c);
    free_ca(&p);
    free_ca(&other);
}

static void test_issue_rejects_bad_input(void **state)
{
    struct pki p;
    struct vg_cert_req req;
    struct vg_key *k = NULL;
    char *pem = NULL;
    const char *bad_san[] = { "not a name" };
    (void)state;

    make_ca(&p, "Test CA");
    assert_int_equal(vg_key_generate(&k), 0);
    memset(&req, 0, sizeof(req));
    req.cn = "x,OU=admin";
    req.role = VG_ROLE_AGENT;
    req.not_before_ms = 0;
    req.not_after_ms = DAY;
    assert_int_equal(vg_cert_issue(&req, k, p.ca, p.ca_key, &pem), -EINVAL);
    req.cn = "x";
    req.sans = bad_san;
    req.nsans = 1;
    assert_int_equal(vg_cert_issue(&req, k, p.ca, p.ca_key, &pem), -EINVAL);
    req.nsans = 0;
    req.not_after_ms = req.not_before_ms;
    assert_int_equal(vg_cert_issue(&req, k, p.ca, p.ca_key, &pem), -EINVAL);
    assert_null(pem);
    vg_key_free(k);
    free_ca(&p);
}

static void test_cert_parse_garbage(void **state)
{
    struct vg_cert *c = NULL;
    char p[PATH_MAX];
    (void)state;
    assert_int_equal(vg_cert_parse((const uint8_t *)"garbage", 8, &c), VG_ECERT);
    assert_int_equal(vg_cert_parse((const uint8_t *)"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                    "-----END CERTIFICATE-----\n",
                                   60, &c),
                     VG_ECERT);
    path(p, "empty.crt");
    assert_int_equal(vg_file_write_atomic(p, "", 0, 0644, 0), 0);
    assert_int_equal(vg_cert_load(p, &c), VG_ECERT);
    assert_null(c);
    vg_cert_free(NULL);
}

static void test_signatures(void **state)
{
    struct pki p;
    struct vg_key *k = NULL;
    struct vg_cert *c = NULL;
    uint8_t sig[VG_SIG_MAX];
    size_t siglen = 0;
    char *pem;
    (void)state;

    make_ca(&p, "Test CA");
    pem = issue(&p, "signer", VG_ROLE_ADMIN, NULL, 0, vg_time_now_ms() + DAY, &k);
    assert_int_equal(vg_cert_parse((uint8_t *)pem, strlen(pem) + 1, &c), 0);
    assert_int_equal(vg_sign(k, "manifest", 8, sig, &siglen), 0);
    assert_true(siglen > 0 && siglen <= VG_SIG_MAX);
    assert_int_equal(vg_verify(c, "manifest", 8, sig, siglen), 0);
    assert_int_equal(vg_verify(c, "manifesT", 8, sig, siglen), VG_ECRYPTO);
    sig[siglen / 2] ^= 1;
    assert_int_equal(vg_verify(c, "manifest", 8, sig, siglen), VG_ECRYPTO);
    /* Signed by the CA key, checked against the leaf: fails. */
    assert_int_equal(vg_sign(p.ca_key, "manifest", 8, sig, &siglen), 0);
    assert_int_equal(vg_verify(c, "manifest", 8, sig, siglen), VG_ECRYPTO);
    assert_int_equal(vg_verify(p.ca, "manifest", 8, sig, siglen), 0);
    free(pem);
    vg_cert_free(c);
    vg_key_free(k);
    free_ca(&p);
}

/* A manifest of two files, as the collector makes one. */
static void sample_manifest(struct vg_rsig *m, const char *collector, int64_t generated)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->report_id, sizeof(m->report_id), "0123456789abcdef0123456789abcdef");
    snprintf(m->format, sizeof(m->format), "csv");
    m->as_of_ms = 1764547200000LL; /* 2025-12-01T00:00:00Z */
    m->generated_ms = generated;
    snprintf(m->collector, sizeof(m->collector), "%s", collector);
    snprintf(m->files[0].name, sizeof(m->files[0].name), "report.csv");
    snprintf(m->files[1].name, sizeof(m->files[1].name), "report-hosts.csv");
    memset(m->files[0].sha256, 'a', 64);
    memset(m->files[1].sha256, 'b', 64);
    m->files[0].sha256[64] = m->files[1].sha256[64] = '\0';
    m->nfiles = 2;
}

/* A control character in the collector value (found by fuzz_rsig): the
 * parser took what vg_rsig_format refuses to write; now both refuse it. */
static void test_manifest_control_in_value(void **state)
{
    static const char text[] = "# vigil-report-manifest 1\n"
                               "# report_id: 0123456789abcdef0123456789abcdef\n"
                               "# format: csv\n"
                               "# as_of: 2025-12-01T00:00:00Z\n"
                               "# collector: co\x1fllector-1\n"
                               "# generated: 2025-12-04T00:00:12.345Z\n"
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  "
                               "report.csv\n";
    struct vg_rsig m;
    char why[300];
    (void)state;
    assert_int_equal(vg_rsig_parse(text, sizeof(text) - 1, &m, why, sizeof(why)), VG_EPROTO);
}

/* The manifest's text: sha256sum -c lines after '#' lines, and back. */
static void test_manifest_format(void **state)
{
    struct vg_rsig m, back;
    char *text = NULL, why[300], name[VG_RSIG_NAME_MAX + 1];
    size_t len = 0;
    (void)state;

    sample_manifest(&m, "collector-1", 1764806412345LL);
    assert_int_equal(vg_rsig_format(&m, &text, &len), 0);
    assert_string_equal(text, "# vigil-report-manifest 1\n"
                              "# report_id: 0123456789abcdef0123456789abcdef\n"
                              "# format: csv\n"
                              "# as_of: 2025-12-01T00:00:00Z\n"
                              "# collector: collector-1\n"
                              "# generated: 2025-12-04T00:00:12.345Z\n"
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  "
                              "report.csv\n"
                              "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  "
                              "report-hosts.csv\n");
    assert_int_equal(len, strlen(text));
    assert_int_equal(vg_rsig_parse(text, len, &back, why, sizeof(why)), 0);
    assert_memory_equal(&m, &back, sizeof(m));
    /* Not newline-terminated, another version, a bad line: refused. */
    assert_int_equal(vg_rsig_parse(text, len - 1, &back, why, sizeof(why)), VG_EPROTO);
    text[24] = '2';
    assert_int_equal(vg_rsig_parse(text, len, &back, why, sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "version 1"));
    free(text);
    assert_int_equal(vg_rsig_parse("# vigil-report-manifest 1\n# report_id: 0123\n", 44, &back,
                                   why, sizeof(why)),
                     VG_EPROTO);
    /* Names a verifier could be led astray by are never written. */
    snprintf(m.files[1].name, sizeof(m.files[1].name), "../x.csv");
    assert_int_equal(vg_rsig_format(&m, &text, &len), -EINVAL);
    snprintf(m.files[1].name, sizeof(m.files[1].name), "a\\b");
    assert_int_equal(vg_rsig_format(&m, &text, &len), -EINVAL);
    snprintf(m.files[1].name, sizeof(m.files[1].name), "a\nb");
    assert_int_equal(vg_rsig_format(&m, &text, &len), -EINVAL);
    assert_int_equal(vg_rsig_name_check(".."), -EINVAL);
    assert_int_equal(vg_rsig_name_check("report 1.csv"), 0);
    /* The hosts file's name. */
    assert_int_equal(vg_rsig_name_suffix("report.csv", "-hosts", name, sizeof(name)), 0);
    assert_string_equal(name, "report-hosts.csv");
    assert_int_equal(vg_rsig_name_suffix("report", "-hosts", name, sizeof(name)), 0);
    assert_string_equal(name, "report-hosts");
    assert_int_equal(vg_rsig_name_suffix(".report", "-hosts", name, sizeof(name)), 0);
    assert_string_equal(name, ".report-hosts");
    assert_int_equal(vg_rsig_name_suffix("r.csv", "-hosts", name, 8), -ENAMETOOLONG);
}

/* One signature over the manifest: verifies against the CA; one byte
 * changed, another key, another CA, a non-collector signer, a collector
 * other than the one named all fail; a certificate expired since still
 * verifies what it signed while valid. */
static void test_manifest_signature(void **state)
{
    struct pki p, other;
    struct vg_key *k = NULL, *k2 = NULL, *ak = NULL, *ok = NULL;
    struct vg_rsig m, got;
    char *pem, *pem2, *apem, *opem, *text = NULL, why[300];
    uint8_t sig[VG_SIG_MAX];
    size_t len = 0, siglen = 0;
    int64_t now = vg_time_now_ms();
    (void)state;

    make_ca_from(&p, "Sig CA", now - 365 * DAY);
    make_ca_from(&other, "Other CA", now - 365 * DAY);
    /* A collector certificate that expired yesterday, used while valid. */
    {
        struct vg_cert_req req;
        memset(&req, 0, sizeof(req));
        req.cn = "collector-old";
        req.role = VG_ROLE_COLLECTOR;
        req.not_before_ms = now - 30 * DAY;
        req.not_after_ms = now - DAY;
        assert_int_equal(vg_key_generate(&k), 0);
        assert_int_equal(vg_cert_issue(&req, k, p.ca, p.ca_key, &pem), 0);
    }
    sample_manifest(&m, "collector-old", now - 10 * DAY);
    assert_int_equal(vg_rsig_format(&m, &text, &len), 0);
    assert_int_equal(vg_sign(k, text, len, sig, &siglen), 0);
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem, p.ca, &got, why, sizeof(why)),
                     0);
    assert_string_equal(got.report_id, m.report_id);
    assert_string_equal(got.collector, "collector-old");
    assert_int_equal(got.generated_ms, now - 10 * DAY);
    assert_int_equal(got.nfiles, 2);
    /* Each byte of the manifest changed in turn: never verifies. */
    for (size_t i = 0; i < len; i++) {
        text[i] ^= 1;
        assert_int_not_equal(
            vg_rsig_verify(text, len, sig, siglen, pem, p.ca, &got, why, sizeof(why)), 0);
        text[i] ^= 1;
    }
    /* A file's hash changed (the manifest still parses): the signature. */
    text[len - 20] = text[len - 20] == 'b' ? 'c' : 'b';
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem, p.ca, &got, why, sizeof(why)),
                     VG_ECRYPTO);
    text[len - 20] = 'b';
    /* The signature changed. */
    sig[siglen - 3] ^= 0x40;
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem, p.ca, &got, why, sizeof(why)),
                     VG_ECRYPTO);
    sig[siglen - 3] ^= 0x40;
    assert_int_equal(vg_rsig_verify(text, len, sig, 0, pem, p.ca, &got, why, sizeof(why)),
                     VG_ECRYPTO);
    /* Another CA. */
    assert_int_equal(
        vg_rsig_verify(text, len, sig, siglen, pem, other.ca, &got, why, sizeof(why)), VG_ECERT);
    assert_non_null(strstr(why, "not signed by a collector of this CA"));
    /* The wrong key: a collector of this CA with the same name, but the
     * signature is another key's. */
    {
        struct vg_cert_req req;
        memset(&req, 0, sizeof(req));
        req.cn = "collector-old";
        req.role = VG_ROLE_COLLECTOR;
        req.not_before_ms = now - 30 * DAY;
        req.not_after_ms = now + DAY;
        assert_int_equal(vg_key_generate(&k2), 0);
        assert_int_equal(vg_cert_issue(&req, k2, p.ca, p.ca_key, &pem2), 0);
    }
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem2, p.ca, &got, why, sizeof(why)),
                     VG_ECRYPTO);
    /* A collector certificate from another CA, with its own signature. */
    opem = issue(&other, "collector-old", VG_ROLE_COLLECTOR, NULL, 0, now + DAY, &ok);
    free(text);
    sample_manifest(&m, "collector-old", now);
    assert_int_equal(vg_rsig_format(&m, &text, &len), 0);
    assert_int_equal(vg_sign(ok, text, len, sig, &siglen), 0);
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, opem, p.ca, &got, why, sizeof(why)),
                     VG_ECERT);
    assert_int_equal(
        vg_rsig_verify(text, len, sig, siglen, opem, other.ca, &got, why, sizeof(why)), 0);
    /* Signed (it says) after the certificate expired. */
    assert_int_equal(vg_sign(k, text, len, sig, &siglen), 0);
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem, p.ca, &got, why, sizeof(why)),
                     VG_ECERT);
    /* The same collector's new certificate and key: verifies; naming
     * another collector than its certificate's CN: does not. */
    assert_int_equal(vg_sign(k2, text, len, sig, &siglen), 0);
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem2, p.ca, &got, why, sizeof(why)),
                     0);
    free(text);
    sample_manifest(&m, "collector-new", now);
    assert_int_equal(vg_rsig_format(&m, &text, &len), 0);
    assert_int_equal(vg_sign(k2, text, len, sig, &siglen), 0);
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, pem2, p.ca, &got, why, sizeof(why)),
                     VG_ECERT);
    assert_non_null(strstr(why, "collector-new"));
    /* An agent's certificate is not a collector's. */
    free(text);
    sample_manifest(&m, "agent-x", now);
    assert_int_equal(vg_rsig_format(&m, &text, &len), 0);
    apem = issue(&p, "agent-x", VG_ROLE_AGENT, NULL, 0, now + DAY, &ak);
    assert_int_equal(vg_sign(ak, text, len, sig, &siglen), 0);
    assert_int_equal(vg_rsig_verify(text, len, sig, siglen, apem, p.ca, &got, why, sizeof(why)),
                     VG_ECERT);
    assert_non_null(strstr(why, "not a collector"));
    free(text);
    free(apem);
    free(opem);
    free(pem2);
    free(pem);
    vg_key_free(k);
    vg_key_free(k2);
    vg_key_free(ak);
    vg_key_free(ok);
    free_ca(&p);
    free_ca(&other);
}

static void test_serial_normalize(void **state)
{
    char out[VG_SERIAL_MAX];
    (void)state;
    assert_int_equal(vg_serial_normalize("4df9ae6c", out, sizeof(out)), 0);
    assert_string_equal(out, "4D:F9:AE:6C");
    assert_int_equal(vg_serial_normalize("4D:F9:AE:6C", out, sizeof(out)), 0);
    assert_string_equal(out, "4D:F9:AE:6C");
    assert_int_equal(vg_serial_normalize("00:8a", out, sizeof(out)), 0);
    assert_string_equal(out, "8A");
    assert_int_equal(vg_serial_normalize("a", out, sizeof(out)), 0);
    assert_string_equal(out, "0A");
    assert_int_equal(vg_serial_normalize("00", out, sizeof(out)), 0);
    assert_string_equal(out, "00");
    assert_int_equal(vg_serial_normalize("", out, sizeof(out)), -EINVAL);
    assert_int_equal(vg_serial_normalize("zz", out, sizeof(out)), -EINVAL);
    assert_int_equal(vg_serial_normalize("0102030405", out, 8), -EINVAL);
}

static void test_crl(void **state)
{
    struct pki p;
    struct vg_crl_entry v[2] = { { "4D:F9:AE:6C:9E:7F:5E:08:58:FE:65:28:AD:B4:8D:8F", 1700000000000 },
                                 { "0a", 2600000000000 } };
    struct vg_crl_entry bad = { "nothex", 1 };
    uint8_t *der = NULL;
    char *pem = NULL;
    size_t len = 0;
    int64_t now = vg_time_now_ms();
    (void)state;

    make_ca(&p, "CRL CA");
    assert_int_equal(vg_crl_make(p.ca, p.ca_key, v, 2, now, now + DAY, 7, &der, &len), 0);
    assert_true(len > 100);
    assert_int_equal(der[0], 0x30);
    /* The serial's bytes and the issuer's name are in it. */
    assert_non_null(memmem(der, len, "\x4d\xf9\xae\x6c\x9e\x7f", 6));
    assert_non_null(memmem(der, len, "CRL CA", 6));
    assert_int_equal(vg_crl_pem(der, len, &pem), 0);
    assert_non_null(strstr(pem, "-----BEGIN X509 CRL-----"));
    free(pem);
    free(der);
    der = NULL;
    /* No entries: still a CRL. */
    assert_int_equal(vg_crl_make(p.ca, p.ca_key, NULL, 0, now, now + DAY, 8, &der, &len), 0);
    free(der);
    der = NULL;
    assert_int_equal(vg_crl_make(p.ca, p.ca_key, &bad, 1, now, now + DAY, 9, &der, &len), -EINVAL);
    assert_null(der);
    free_ca(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_roles_and_names),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_issue_and_verify),
        cmocka_unit_test(test_expired_and_foreign),
        cmocka_unit_test(test_issue_rejects_bad_input),
        cmocka_unit_test(test_cert_parse_garbage),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_manifest_control_in_value),
        cmocka_unit_test(test_manifest_format),
        cmocka_unit_test(test_manifest_signature),
        cmocka_unit_test(test_serial_normalize),
        cmocka_unit_test(test_crl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
