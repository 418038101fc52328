/*
 * vigilctl pki: a small CA for Vigil, with no openssl needed.
 *
 *   pki init  --dir D [--name N] [--days N] [--force]
 *   pki issue --dir D --role ROLE --name N [--san S]... [--days N | --not-after T] [--force]
 *   pki show  FILE [--ca FILE]
 *   pki crl   --dir D --out FILE [--pem] [--days N] [--revoked FILE]
 *
 * Keys are EC P-256, written 0600; the CA directory is made 0700.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "ctl.h"
#include "err.h"
#include "util.h"

#define DAY_MS (86400LL * 1000)
/* Certificates start a little in the past so that hosts whose clock is
 * slightly behind accept them at once. */
#define BACKDATE_MS (5LL * 60 * 1000)

void ctl_usage_pki(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl pki init --dir DIR [--name NAME] [--days N] [--force]\n"
            "       vigilctl pki issue --dir DIR --role ROLE --name NAME [--san NAME]...\n"
            "                          (ROLE: agent, collector, responder, auditor, admin, or\n"
            "                          ca for an intermediate CA, e.g. the collector's\n"
            "                          enrollment CA, so that the root can stay offline)\n"
            "                          [--days N | --not-after TIME] [--force]\n"
            "       vigilctl pki show FILE [--ca FILE]\n"
            "       vigilctl pki crl --dir DIR --out FILE [--pem] [--days N] [--revoked FILE]\n"
            "\n"
            "init   creates DIR (mode 0700) with a new CA: DIR/ca.crt and DIR/ca.key\n"
            "       (EC P-256, key mode 0600).  NAME is the CA's common name (default\n"
            "       \"Vigil CA\"); --days its validity (default 3650).  Refuses to replace\n"
            "       an existing CA unless --force.\n"
            "\n"
            "issue  writes DIR/NAME.key (0600) and DIR/NAME.crt signed by DIR's CA.\n"
            "       ROLE is agent, collector, responder, auditor or admin; it becomes the\n"
            "       subject OU, NAME the CN.  Collectors get the serverAuth extended key\n"
            "       usage, all others clientAuth.  --san adds a DNS name or IP address\n"
            "       to subjectAltName (repeatable; collectors need the name agents use).\n"
            "       --days: validity (default 90 for agents and operators, 365 for\n"
            "       collectors, 1825 for an intermediate CA).\n"
            "       --not-after TIME: end of validity instead, RFC 3339 or YYYY-MM-DD;\n"
            "       a time in the past issues an expired certificate (for tests).\n"
            "       NAME: letters, digits, '.', '_', '-', '@', ':'; at most 64.\n"
            "\n"
            "show   prints a certificate's name, role, validity, SANs and fingerprint;\n"
            "       with --ca, also verifies it against that CA (exit 1 if it fails).\n"
            "\n"
            "crl    writes a certificate revocation list signed with DIR's CA key, listing\n"
            "       every certificate the collector has revoked (hosts and operators), for\n"
            "       other tools (a VPN, a web proxy, openssl).  The list comes from the\n"
            "       collector (vigilctl revoked; auditor role or above), or with --revoked\n"
            "       FILE from the output of 'vigilctl --json revoked' saved earlier, so that\n"
            "       the CA key can stay on an offline machine.  DER unless --pem; valid\n"
            "       for --days (default 7): make a new one before then.\n"
            "\n"
            "Examples:\n"
            "  vigilctl pki init --dir /etc/vigil/pki\n"
            "  vigilctl pki issue --dir /etc/vigil/pki --role collector --name collector1 \\\n"
            "      --san collector1.example.org\n"
            "  vigilctl pki issue --dir /etc/vigil/pki --role responder --name alice\n"
            "  vigilctl pki show /etc/vigil/pki/alice.crt --ca /etc/vigil/pki/ca.crt\n");
}

static int join(char *out, size_t outlen, const char *dir, const char *name, const char *ext)
{
    if ((size_t)snprintf(out, outlen, "%s/%s%s", dir, name, ext) >= outlen)
        return ctl_err("path too long: %s/%s%s", dir, name, ext);
    return 0;
}

static int ensure_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return ctl_err("cannot create directory %s: %s", dir, strerror(errno));
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return ctl_err("%s exists and is not a directory", dir);
    return 0;
}

static json_t *cert_json(const struct vg_cert_info *in, const char *file)
{
    char nb[VG_TIME_STR_MAX], na[VG_TIME_STR_MAX], fp[VG_SHA256_HEX];
    json_t *o = json_object(), *sans = json_array();

    for (size_t i = 0; i < in->nsans; i++)
        json_array_append_new(sans, json_string(in->sans[i]));
    json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "subject", json_string(in->subject));
    json_object_set_new(o, "name", json_string(in->cn));
    json_object_set_new(o, "role", in->is_ca ? json_string("ca") : json_string(vg_role_name(in->role)));
    json_object_set_new(o, "issuer", json_string(in->issuer));
    json_object_set_new(o, "serial", json_string(in->serial));
    json_object_set_new(o, "not_before", json_string(vg_time_format(in->not_before_ms, nb, sizeof(nb))));
    json_object_set_new(o, "not_after", json_string(vg_time_format(in->not_after_ms, na, sizeof(na))));
    json_object_set_new(o, "expired", json_boolean(in->not_after_ms < vg_time_now_ms()));
    json_object_set_new(o, "is_ca", json_boolean(in->is_ca));
    json_object_set_new(o, "server_auth", json_boolean(in->server_auth));
    json_object_set_new(o, "client_auth", json_boolean(in->client_auth));
    json_object_set_new(o, "sans", sans);
    json_object_set_new(o, "sha256", json_string(vg_hex(in->sha256, VG_SHA256_LEN, fp)));
    return o;
}

/* Writes key and cert; with --force replaces existing files. */
static int write_pair(const struct vg_key *key, const char *pem, const char *key_path,
                      const char *crt_path, int force)
{
    int rc;

    if (!force) {
        if (access(key_path, F_OK) == 0)
            return ctl_err("%s already exists; refusing to replace it (use --force to replace)",
                           key_path);
        if (access(crt_path, F_OK) == 0)
            return ctl_err("%s already exists; refusing to replace it (use --force to replace)",
                           crt_path);
    }
    rc = vg_key_save(key, key_path, 0);
    if (rc)
        return ctl_err("cannot write %s: %s", key_path, vg_strerror(rc));
    rc = vg_file_write_atomic(crt_path, pem, strlen(pem), 0644, 0);
    if (rc)
        return ctl_err("cannot write %s: %s", crt_path, vg_strerror(rc));
    return 0;
}

static int report_issued(struct ctl *ctl, const char *pem, const char *crt_path,
                         const char *key_path)
{
    struct vg_cert *c = NULL;
    struct vg_cert_info info;
    char na[VG_TIME_STR_MAX];

    if (vg_cert_parse((const uint8_t *)pem, strlen(pem) + 1, &c) || vg_cert_info(c, &info)) {
        vg_cert_free(c);
        return ctl_err("internal error: the new certificate %s does not parse", crt_path);
    }
    vg_cert_free(c);
    if (ctl->json) {
        json_t *o = cert_json(&info, crt_path);
        json_object_set_new(o, "key_file", json_string(key_path));
        ctl_print_json(o);
        json_decref(o);
    } else {
        printf("%s: %s%s%s \"%s\", valid until %s\n%s: private key (mode 0600)\n", crt_path,
               info.is_ca ? "CA" : vg_role_name(info.role), info.is_ca ? "" : " certificate",
               info.is_ca ? "" : " for", info.cn,
               vg_time_format(info.not_after_ms, na, sizeof(na)), key_path);
    }
    return 0;
}

static const struct option pki_init_long[] = {
    { "dir", required_argument, NULL, 'd' },
    { "name", required_argument, NULL, 'n' },
    { "days", required_argument, NULL, 'D' },
    { "force", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int pki_init(struct ctl *ctl, int argc, char **argv)
{
    const char *dir = NULL, *name = "Vigil CA";
    uint64_t days = 3650;
    int force = 0, c, rc = CTL_EXIT_FAIL;
    char key_path[PATH_MAX], crt_path[PATH_MAX];
    struct vg_key *key = NULL;
    char *pem = NULL;
    int64_t now = vg_time_now_ms();
    struct vg_cert_req req;

    while ((c = ctl_getopt(argc, argv, &ctl_opts_pki[0])) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': name = optarg; break;
        case 'D':
            if (vg_parse_u64(optarg, 1, 36500, &days))
                return ctl_usage_err("pki", "--days: '%s' is not a number of days (1-36500)", optarg);
            break;
        case 'f': force = 1; break;
        case 'h': ctl_usage_pki(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("pki", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("pki", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_err("pki", "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return ctl_usage_err("pki", "pki init needs --dir DIR");
    if (vg_cert_name_check(name))
        return ctl_usage_err("pki", "--name '%s': use letters, digits, spaces and . _ - @ : "
                                    "(at most 64)", name);
    if (join(key_path, sizeof(key_path), dir, "ca", ".key") ||
        join(crt_path, sizeof(crt_path), dir, "ca", ".crt") || ensure_dir(dir))
        return CTL_EXIT_FAIL;
    if (!force && (access(key_path, F_OK) == 0 || access(crt_path, F_OK) == 0))
        return ctl_err("%s already holds a CA (%s); refusing to replace it, since every "
                       "certificate it issued would stop working (use --force to replace)",
                       dir, access(key_path, F_OK) == 0 ? key_path : crt_path);
    if (vg_key_generate(&key)) {
        ctl_err("cannot generate a key");
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.cn = name;
    req.is_ca = 1;
    req.not_before_ms = now - BACKDATE_MS;
    req.not_after_ms = now + (int64_t)days * DAY_MS;
    if ((rc = vg_cert_issue(&req, key, NULL, key, &pem)) != 0) {
        ctl_err("cannot create the CA certificate: %s", vg_strerror(rc));
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = write_pair(key, pem, key_path, crt_path, 1);
    if (rc == 0)
        rc = report_issued(ctl, pem, crt_path, key_path);
out:
    free(pem);
    vg_key_free(key);
    return rc;
}

static const struct option pki_issue_long[] = {
    { "dir", required_argument, NULL, 'd' },
    { "role", required_argument, NULL, 'r' },
    { "name", required_argument, NULL, 'n' },
    { "san", required_argument, NULL, 's' },
    { "days", required_argument, NULL, 'D' },
    { "not-after", required_argument, NULL, 'A' },
    { "force", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int pki_issue(struct ctl *ctl, int argc, char **argv)
{
    const char *dir = NULL, *name = NULL, *sans[VG_CERT_MAX_SANS];
    size_t nsans = 0;
    enum vg_role role = VG_ROLE_NONE;
    int intermediate = 0;
    uint64_t days = 0;
    int64_t not_after = 0, now = vg_time_now_ms();
    int have_not_after = 0, force = 0, c, rc = CTL_EXIT_FAIL;
    char key_path[PATH_MAX], crt_path[PATH_MAX], ca_key_path[PATH_MAX], ca_crt_path[PATH_MAX];
    struct vg_key *key = NULL, *ca_key = NULL;
    struct vg_cert *ca = NULL;
    struct vg_cert_info ca_info;
    struct vg_cert_req req;
    char *pem = NULL;

    while ((c = ctl_getopt(argc, argv, &ctl_opts_pki[1])) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': name = optarg; break;
        case 'r':
            if (strcmp(optarg, "ca") == 0) { /* an intermediate CA */
                intermediate = 1;
                role = VG_ROLE_NONE;
                break;
            }
            if (vg_role_parse(optarg, &role))
                return ctl_usage_err("pki", "--role '%s': use agent, collector, responder, "
                                            "auditor or admin (or ca, for an intermediate "
                                            "CA, e.g. for enrollment)", optarg);
            break;
        case 's':
            if (nsans == VG_CERT_MAX_SANS)
                return ctl_usage_err("pki", "at most %d --san", VG_CERT_MAX_SANS);
            if (vg_cert_san_check(optarg))
                return ctl_usage_err("pki", "--san '%s' is neither a DNS name nor an IP address",
                                     optarg);
            sans[nsans++] = optarg;
            break;
        case 'D':
            if (vg_parse_u64(optarg, 1, 36500, &days))
                return ctl_usage_err("pki", "--days: '%s' is not a number of days (1-36500)", optarg);
            break;
        case 'A':
            if (vg_time_parse(optarg, &not_after))
                return ctl_usage_err("pki", "--not-after: '%s' is not a time (RFC 3339, e.g. "
                                            "2027-01-31T12:00:00Z, or YYYY-MM-DD)", optarg);
            have_not_after = 1;
            break;
        case 'f': force = 1; break;
        case 'h': ctl_usage_pki(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("pki", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("pki", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_err("pki", "unexpected argument '%s'", argv[optind]);
    if (!dir || !name || (role == VG_ROLE_NONE && !intermediate))
        return ctl_usage_err("pki", "pki issue needs --dir DIR, --role ROLE and --name NAME");
    if (vg_cert_name_check(name))
        return ctl_usage_err("pki", "--name '%s': use letters, digits, spaces and . _ - @ : "
                                    "(at most 64)", name);
    if (days && have_not_after)
        return ctl_usage_err("pki", "give --days or --not-after, not both");
    if (!have_not_after)
        not_after = now + (int64_t)(days              ? days
                                    : intermediate     ? 1825
                                    : role == VG_ROLE_AGENT || vg_role_is_operator(role)
                                                            ? 90
                                                            : 365) * DAY_MS;

    if (join(key_path, sizeof(key_path), dir, name, ".key") ||
        join(crt_path, sizeof(crt_path), dir, name, ".crt") ||
        join(ca_key_path, sizeof(ca_key_path), dir, "ca", ".key") ||
        join(ca_crt_path, sizeof(ca_crt_path), dir, "ca", ".crt"))
        return CTL_EXIT_FAIL;
    if (strcmp(name, "ca") == 0)
        return ctl_usage_err("pki", "--name ca would overwrite the CA's own files");
    if ((rc = vg_cert_load(ca_crt_path, &ca)) != 0) {
        ctl_err("cannot load the CA certificate %s: %s (create one with 'vigilctl pki init "
                "--dir %s')", ca_crt_path, vg_strerror(rc), dir);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    if ((rc = vg_key_load(ca_key_path, &ca_key)) != 0) {
        ctl_err("cannot load the CA key %s: %s", ca_key_path, vg_strerror(rc));
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = CTL_EXIT_FAIL;
    if (!vg_cert_matches_key(ca, ca_key)) {
        ctl_err("%s is not the key of %s", ca_key_path, ca_crt_path);
        goto out;
    }
    if (vg_cert_info(ca, &ca_info) || !ca_info.is_ca) {
        ctl_err("%s is not a CA certificate", ca_crt_path);
        goto out;
    }
    if (ca_info.not_after_ms < not_after && not_after > now)
        fprintf(stderr, "vigilctl: warning: the CA expires before this certificate would; "
                        "peers will stop accepting it then\n");
    memset(&req, 0, sizeof(req));
    req.cn = name;
    req.role = role;
    req.is_ca = intermediate;
    req.sans = sans;
    req.nsans = nsans;
    req.not_after_ms = not_after;
    req.not_before_ms = now - BACKDATE_MS;
    if (req.not_before_ms >= not_after) /* an expired certificate, on request */
        req.not_before_ms = not_after - DAY_MS;
    if (vg_key_generate(&key)) {
        ctl_err("cannot generate a key");
        goto out;
    }
    if ((c = vg_cert_issue(&req, key, ca, ca_key, &pem)) != 0) {
        ctl_err("cannot issue the certificate: %s", vg_strerror(c));
        goto out;
    }
    rc = write_pair(key, pem, key_path, crt_path, force);
    if (rc == 0)
        rc = report_issued(ctl, pem, crt_path, key_path);
out:
    free(pem);
    vg_key_free(key);
    vg_key_free(ca_key);
    vg_cert_free(ca);
    return rc;
}

static const struct option pki_show_long[] = {
    { "ca", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static const struct option pki_crl_long[] = {
    { "dir", required_argument, NULL, 'd' },
    { "out", required_argument, NULL, 'o' },
    { "pem", no_argument, NULL, 'p' },
    { "days", required_argument, NULL, 'D' },
    { "revoked", required_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

const struct ctl_optset ctl_opts_pki[] = {
    { "init", ":h", pki_init_long },
    { "issue", ":h", pki_issue_long },
    { "show", ":h", pki_show_long },
    { "crl", ":h", pki_crl_long },
    { NULL, NULL, NULL },
};

static int pki_show(struct ctl *ctl, int argc, char **argv)
{
    const char *ca_path = NULL, *file;
    struct vg_cert *cert = NULL, *ca = NULL;
    struct vg_cert_info info;
    char why[512] = "", nb[VG_TIME_STR_MAX], na[VG_TIME_STR_MAX], fp[VG_SHA256_HEX];
    int c, rc = CTL_EXIT_FAIL, verified = -1;

    while ((c = ctl_getopt(argc, argv, &ctl_opts_pki[2])) != -1) {
        switch (c) {
        case 'c': ca_path = optarg; break;
        case 'h': ctl_usage_pki(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("pki", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("pki", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return ctl_usage_err("pki", "pki show needs exactly one certificate FILE");
    file = argv[optind];
    if ((c = vg_cert_load(file, &cert)) != 0) {
        ctl_err("cannot load certificate %s: %s", file, vg_strerror(c));
        goto out;
    }
    if (vg_cert_info(cert, &info)) {
        ctl_err("%s: cannot read the certificate's fields", file);
        goto out;
    }
    if (ca_path) {
        if ((c = vg_cert_load(ca_path, &ca)) != 0) {
            ctl_err("cannot load CA certificate %s: %s", ca_path, vg_strerror(c));
            goto out;
        }
        verified = vg_cert_verify(cert, ca, why, sizeof(why)) == 0;
    }
    if (ctl->json) {
        json_t *o = cert_json(&info, file);
        if (verified >= 0) {
            json_object_set_new(o, "verified", json_boolean(verified));
            if (!verified)
                json_object_set_new(o, "verify_error", json_string(why));
        }
        ctl_print_json(o);
        json_decref(o);
    } else {
        char tx[2048];
        printf("file:        %s\n", file);
        /* A certificate names what its requester asked for: escaped. */
        printf("subject:     %s\n", ctl_text(tx, sizeof(tx), info.subject));
        printf("name:        %s\n", ctl_text(tx, sizeof(tx), info.cn));
        printf("role:        %s\n", info.is_ca ? "ca" : vg_role_name(info.role));
        printf("issuer:      %s\n", ctl_text(tx, sizeof(tx), info.issuer));
        printf("serial:      %s\n", info.serial);
        printf("not before:  %s\n", vg_time_format(info.not_before_ms, nb, sizeof(nb)));
        printf("not after:   %s%s\n", vg_time_format(info.not_after_ms, na, sizeof(na)),
               info.not_after_ms < vg_time_now_ms() ? " (EXPIRED)" : "");
        printf("usage:       %s\n", info.is_ca ? "CA"
                                    : info.server_auth && info.client_auth ? "server auth, client auth"
                                    : info.server_auth ? "server auth"
                                    : info.client_auth ? "client auth" : "none");
        printf("sans:        ");
        for (size_t i = 0; i < info.nsans; i++)
            printf("%s%s", i ? ", " : "", ctl_text(tx, sizeof(tx), info.sans[i]));
        printf("%s\n", info.nsans ? "" : "(none)");
        printf("sha256:      %s\n", vg_hex(info.sha256, VG_SHA256_LEN, fp));
        if (verified >= 0)
            printf("verify:      %s%s (against %s)\n", verified ? "ok" : "FAILED: ",
                   verified ? "" : ctl_text(tx, sizeof(tx), why), ca_path);
    }
    rc = verified == 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
    vg_cert_free(cert);
    vg_cert_free(ca);
    return rc;
}

/* The revoked list: from FILE ('vigilctl --json revoked' output), or
 * from the collector.  Returns 0 with *out a JSON array, or an exit status. */
static int crl_revoked(struct ctl *ctl, const char *file, json_t **out)
{
    json_error_t e;
    json_t *a;

    if (!file)
        return ctl_revoked_json(ctl, out);
    if (!(a = json_load_file(file, 0, &e)))
        return ctl_err("%s: not JSON: %s (line %d)", file, e.text, e.line);
    if (!json_is_array(a)) {
        json_decref(a);
        return ctl_err("%s: expected the array 'vigilctl --json revoked' prints", file);
    }
    *out = a;
    return 0;
}

static int pki_crl(struct ctl *ctl, int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *from = NULL;
    char ca_key_path[PATH_MAX], ca_crt_path[PATH_MAX];
    struct vg_cert *ca = NULL;
    struct vg_key *key = NULL;
    struct vg_crl_entry *v = NULL;
    json_t *a = NULL, *it;
    uint64_t days = 7;
    uint8_t *der = NULL;
    char *pem = NULL;
    size_t n = 0, len = 0, i;
    int c, pem_out = 0, rc = CTL_EXIT_FAIL;
    int64_t now = vg_time_now_ms();

    while ((c = ctl_getopt(argc, argv, &ctl_opts_pki[3])) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'o': out = optarg; break;
        case 'p': pem_out = 1; break;
        case 'r': from = optarg; break;
        case 'D':
            if (vg_parse_u64(optarg, 1, 3650, &days))
                return ctl_usage_err("pki", "--days: '%s' is not a number of days (1-3650)", optarg);
            break;
        case 'h': ctl_usage_pki(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("pki", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("pki", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!dir || !out || optind != argc)
        return ctl_usage_err("pki", "pki crl needs --dir DIR and --out FILE");
    if (join(ca_key_path, sizeof(ca_key_path), dir, "ca", ".key") ||
        join(ca_crt_path, sizeof(ca_crt_path), dir, "ca", ".crt"))
        return ctl_usage_err("pki", "--dir: path too long");
    if ((c = vg_cert_load(ca_crt_path, &ca)) != 0) {
        ctl_err("cannot load CA certificate %s: %s", ca_crt_path, vg_strerror(c));
        goto out;
    }
    if ((c = vg_key_load(ca_key_path, &key)) != 0) {
        ctl_err("cannot load CA key %s: %s", ca_key_path, vg_strerror(c));
        goto out;
    }
    if (!vg_cert_matches_key(ca, key)) {
        ctl_err("%s does not belong to %s", ca_key_path, ca_crt_path);
        goto out;
    }
    if ((rc = crl_revoked(ctl, from, &a)) != 0)
        goto out;
    rc = CTL_EXIT_FAIL;
    if (!(v = calloc(json_array_size(a) + 1, sizeof(*v))))
        goto out;
    json_array_foreach(a, i, it) {
        const char *serial = json_string_value(json_object_get(it, "serial"));
        const char *when = json_string_value(json_object_get(it, "revoked_time"));
        int64_t t = now;
        if (!serial) {
            ctl_err("revoked list: entry %zu has no serial", i);
            goto out;
        }
        if (when && vg_time_parse(when, &t) != 0)
            t = now;
        v[n].serial = serial;
        v[n++].revoked_ms = t;
    }
    /* The cRLNumber grows with time: seconds since 2020. */
    c = vg_crl_make(ca, key, v, n, now - BACKDATE_MS, now + (int64_t)days * DAY_MS,
                    (uint64_t)(now / 1000 - 1577836800), &der, &len);
    if (c != 0) {
        ctl_err("cannot make the CRL: %s", c == -EINVAL ? "the CA key is not EC, or a serial "
                                                          "is not hex" : vg_strerror(c));
        goto out;
    }
    if (pem_out && (c = vg_crl_pem(der, len, &pem)) != 0) {
        ctl_err("cannot encode the CRL as PEM: %s", vg_strerror(c));
        goto out;
    }
    if ((c = vg_file_write_atomic(out, pem ? (const void *)pem : der, pem ? strlen(pem) : len,
                                  0644, 0)) != 0) {
        ctl_err("cannot write %s: %s", out, vg_strerror(c));
        goto out;
    }
    if (ctl->json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(out));
        json_object_set_new(o, "format", json_string(pem ? "pem" : "der"));
        json_object_set_new(o, "revoked", json_integer((json_int_t)n));
        json_object_set_new(o, "days", json_integer((json_int_t)days));
        ctl_print_json(o);
        json_decref(o);
    } else {
        printf("wrote %s: a %s CRL of %zu revoked certificate%s, valid %llu days\n", out,
               pem ? "PEM" : "DER", n, n == 1 ? "" : "s", (unsigned long long)days);
    }
    rc = CTL_EXIT_OK;
out:
    free(v);
    free(der);
    free(pem);
    json_decref(a);
    vg_cert_free(ca);
    vg_key_free(key);
    return rc;
}

int ctl_cmd_pki(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage_err("pki", "pki needs a sub-command: init, issue or show");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        ctl_usage_pki(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "init") == 0)
        return pki_init(ctl, argc - 1, argv + 1);
    if (strcmp(argv[1], "issue") == 0)
        return pki_issue(ctl, argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return pki_show(ctl, argc - 1, argv + 1);
    if (strcmp(argv[1], "crl") == 0)
        return pki_crl(ctl, argc - 1, argv + 1);
    return ctl_usage_err("pki", "unknown pki sub-command '%s' (init, issue, show, crl)", argv[1]);
}
