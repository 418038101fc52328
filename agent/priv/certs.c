/* Installing the agent's certificate and key; see certs.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "util.h"

int certs_install(const struct agent_conf *c, const char *agent_id, const uint8_t *key,
                  size_t keylen, const uint8_t *cert, size_t certlen, char *err, size_t errlen)
{
    struct vg_cert *crt = NULL, *ca = NULL;
    struct vg_key *k = NULL;
    struct vg_cert_info info;
    char knext[4200], cnext[4200], why[256] = "", tbuf[40];
    int rc;

    if ((rc = vg_key_parse(key, keylen, &k)) != 0) {
        snprintf(err, errlen, "the key does not parse");
        goto out;
    }
    if ((rc = vg_cert_parse(cert, certlen, &crt)) != 0 || (rc = vg_cert_info(crt, &info)) != 0) {
        snprintf(err, errlen, "the certificate does not parse");
        goto out;
    }
    if (!vg_cert_matches_key(crt, k) || info.role != VG_ROLE_AGENT ||
        (agent_id ? strcmp(info.cn, agent_id) != 0 : vg_cert_name_check(info.cn) != 0)) {
        snprintf(err, errlen, "the certificate is not %s%s's for this key",
                 agent_id ? "agent " : "an agent", agent_id ? agent_id : "");
        rc = VG_ECRYPTO;
        goto out;
    }
    if ((rc = vg_cert_load(c->ca, &ca)) != 0 ||
        (rc = vg_cert_verify(crt, ca, why, sizeof(why))) != 0) {
        snprintf(err, errlen, "the certificate does not verify against %s: %s", c->ca,
                 why[0] ? why : vg_strerror(rc));
        goto out;
    }
    snprintf(knext, sizeof(knext), "%s.next", c->key);
    snprintf(cnext, sizeof(cnext), "%s.next", c->cert);
    if ((rc = vg_key_save(k, knext, 0)) != 0 ||
        (rc = vg_file_write_atomic(cnext, cert, certlen && cert[certlen - 1] == 0 ? certlen - 1
                                                                              : certlen,
                                   0644, 0)) != 0) {
        snprintf(err, errlen, "cannot write %s or %s: %s", knext, cnext, vg_strerror(rc));
        goto out;
    }
    /* Key first: a stop between the two renames is finished at start
     * (certs_finish_rotation). */
    if (rename(knext, c->key) != 0 || rename(cnext, c->cert) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot install %s and %s: %s", c->key, c->cert, strerror(errno));
        goto out;
    }
    /* The renames on disk before anyone acts on them (an enrollment
     * deletes its token file next). */
    if ((rc = vg_fsync_parent(c->key)) != 0 || (rc = vg_fsync_parent(c->cert)) != 0) {
        snprintf(err, errlen, "cannot flush the directory of %s or %s: %s", c->key, c->cert,
                 vg_strerror(rc));
        goto out;
    }
    log_info("[priv] installed the %s certificate of agent %s (serial %s, valid until %s) in "
             "%s, its key in %s (0600)", agent_id ? "renewed" : "enrolled", info.cn, info.serial,
             vg_time_format(info.not_after_ms, tbuf, sizeof(tbuf)), c->cert, c->key);
out:
    vg_cert_free(crt);
    vg_cert_free(ca);
    vg_key_free(k);
    return rc;
}

void certs_finish_rotation(const struct agent_conf *c)
{
    char cnext[4200];
    struct vg_cert *next = NULL;
    struct vg_key *key = NULL;

    snprintf(cnext, sizeof(cnext), "%s.next", c->cert);
    if (access(cnext, F_OK) != 0)
        return;
    if (vg_cert_load(cnext, &next) == 0 && vg_key_load(c->key, &key) == 0 &&
        vg_cert_matches_key(next, key) && rename(cnext, c->cert) == 0)
        log_info("[priv] finished installing the renewed certificate %s", c->cert);
    vg_cert_free(next);
    vg_key_free(key);
}

int certs_agent_id(const struct agent_conf *c, char *out, size_t outlen, char *err,
                   size_t errlen)
{
    struct vg_cert *crt = NULL;
    struct vg_cert_info info;
    int rc;

    if ((rc = vg_cert_load(c->cert, &crt)) != 0 || (rc = vg_cert_info(crt, &info)) != 0) {
        snprintf(err, errlen, "cannot read the certificate %s: %s", c->cert, vg_strerror(rc));
        vg_cert_free(crt);
        return rc;
    }
    vg_cert_free(crt);
    if (info.role != VG_ROLE_AGENT) {
        snprintf(err, errlen, "certificate %s has role %s; the agent needs one with role agent "
                 "(vigilctl pki issue --role agent --name HOST, or enroll with a token)",
                 c->cert, vg_role_name(info.role));
        return VG_ECONFIG;
    }
    vg_strlcpy(out, info.cn, outlen);
    return 0;
}
