/*
 * Enrollment: an agent with no certificate gets one from the collector
 * with a token, before it starts.
 *
 *   key (EC P-256, made here, never sent) -> CSR -> TLS to [enroll]
 *   address, verifying the collector against [tls] ca (the agent has no
 *   certificate yet) -> EnrollRequest{token, CSR} -> EnrollResponse{agent
 *   id, certificate} -> key and certificate handed to the root parent,
 *   which checks and installs them (agent/priv/certs.c) -> the agent
 *   starts as usual, with mutual TLS.
 *
 * It runs in a network process of its own (VIGIL_NET_ENROLL), confined
 * as the streaming one is: the collector's answer is never decoded as
 * root.
 *
 * The token comes from VIGIL_ENROLL_TOKEN, [enroll] token or [enroll]
 * token_file (default /etc/vigil/enroll.token, the file a package
 * install or configuration management drops; the parent deletes it once
 * the certificate is installed, see enroll_run.c).  A refusal or an
 * unreachable collector is logged and the parent tries again (every
 * 30 s), so that a fleet rolled out before its tokens or its collector
 * keeps trying.
 *
 * With [collector] proxy, the enrollment endpoint is reached through that
 * proxy too (a CONNECT tunnel; lib/proxy.h).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "psmsg.h"
#include "pb.h"
#include "proxy.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define ENROLL_TIMEOUT_MS 30000
#define RETRY_S 30

/* The token, or NULL with why. */
static char *read_token(const struct agent_conf *conf, char *why, size_t wlen)
{
    enum enroll_token_source src = agent_enroll_token_source(conf);
    const char *env = getenv("VIGIL_ENROLL_TOKEN");
    char *t = NULL;
    size_t len;
    if (src == ENROLL_TOKEN_ENV && env)
        return strdup(env);
    if (src == ENROLL_TOKEN_CONF)
        return strdup(conf->enroll_token);
    if (vg_file_read(conf->enroll_token_file, 4096, &t, &len) != 0) {
        snprintf(why, wlen, "no certificate at %s ([tls] cert) and no enrollment token to get "
                 "one: fix the path, or give a token (VIGIL_ENROLL_TOKEN, [enroll] token, or the "
                 "file %s)", conf->cert, conf->enroll_token_file);
        return NULL;
    }
    t[strcspn(t, " \t\r\n")] = '\0';
    return t;
}

/* One attempt, in the network process: token and CA read before it was
 * confined.  Returns 0 with the key and certificate in *out, or an error
 * with err. */
static int attempt(const struct agent_conf *conf, const char *token, const struct vg_cert *ca,
                   struct vg_tls_config *cfg, const struct vg_proxy *proxy,
                   const char *hostname, const char *mid, struct vg_ps_cert *out, char *err,
                   size_t errlen)
{
    struct vg_tls_tunnel tun;
    struct vg_buf treq;
    struct vg_key *key = NULL;
    struct vg_cert *cert = NULL;
    struct vg_cert_info info;
    Vigil__V1__EnrollRequest req = VIGIL__V1__ENROLL_REQUEST__INIT;
    struct addrinfo hints, *res = NULL;
    char host[256], port[8], tbuf[40];
    const char *colon;
    uint8_t *csr = NULL;
    size_t csrlen, klen = 0;
    Vigil__V1__Envelope *resp_env = NULL;
    int rc = -EIO;

    vg_buf_init(&treq, 4096);
    colon = conf->enroll_address ? strrchr(conf->enroll_address, ':') : NULL;
    if (!colon || colon == conf->enroll_address) {
        snprintf(err, errlen, "[enroll] address is not set (HOST:PORT of the collector's "
                 "enrollment endpoint)");
        rc = VG_ECONFIG;
        goto out;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - conf->enroll_address),
             conf->enroll_address);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    vg_strlcpy(port, colon + 1, sizeof(port));
    /* The key is made here and never leaves the host. */
    /* VIGIL_TEST_CSR_SUBJECT: a test asks for another name and role,
     * which the collector must ignore. */
    rc = vg_key_generate(&key);
#ifdef VG_TEST_HOOKS
    if (rc == 0 && getenv("VIGIL_TEST_CSR_SUBJECT"))
        rc = vg_csr_make_subject(key, getenv("VIGIL_TEST_CSR_SUBJECT"), &csr, &csrlen);
    else
#endif
    if (rc == 0)
        rc = vg_csr_make(key, "vigil-agent", &csr, &csrlen);
    if (rc != 0) {
        snprintf(err, errlen, "cannot make a key and request: %s", vg_strerror(rc));
        goto out;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    /* Through a proxy, only the proxy's name is resolved here. */
    if ((rc = getaddrinfo(proxy ? proxy->host : host, proxy ? proxy->port : port, &hints,
                          &res)) != 0) {
        snprintf(err, errlen, "cannot resolve %s%s: %s", proxy ? "the proxy " : "",
                 proxy ? proxy->host : host, gai_strerror(rc));
        rc = -EIO;
        goto out;
    }
    if (proxy && (rc = vg_proxy_tunnel(proxy, host, port, &treq, &tun)) != 0) {
        snprintf(err, errlen, "cannot make the proxy's CONNECT request: %s", vg_strerror(rc));
        goto out;
    }
    req.token = (char *)token;
    req.csr_der.data = csr;
    req.csr_der.len = csrlen;
    req.hostname = (char *)hostname;
    req.machine_id = (char *)mid;
    req.software_version = VG_VERSION;
    {
        Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
        env.body_case = VIGIL__V1__ENVELOPE__BODY_ENROLL_REQUEST;
        env.enroll_request = &req;
        if (vg_wire_call_via(cfg, res->ai_addr, conf->server_name ? conf->server_name : host,
                             proxy ? &tun : NULL, &env, VIGIL__V1__ENVELOPE__BODY_ENROLL_RESPONSE,
                             ENROLL_TIMEOUT_MS, &resp_env, err, errlen) != 0) {
            if (proxy) {
                char pn[270], e2[700];
                snprintf(e2, sizeof(e2), "%s (through the proxy %s)", err,
                         vg_proxy_name(proxy, pn, sizeof(pn)));
                vg_strlcpy(err, e2, errlen);
            }
            rc = -EIO;
            goto out;
        }
    }
    rc = -EIO;
    {
        const Vigil__V1__EnrollResponse *r = resp_env->enroll_response;
        if (!r->ok) {
            snprintf(err, errlen, "the collector refused to enroll this agent: %s", r->error);
            rc = -EACCES;
            goto out;
        }
        if (vg_cert_parse(r->cert_der.data, r->cert_der.len, &cert) != 0 ||
            vg_cert_info(cert, &info) != 0 || !vg_cert_matches_key(cert, key) ||
            info.role != VG_ROLE_AGENT || strcmp(info.cn, r->agent_id) != 0) {
            snprintf(err, errlen, "the collector's certificate is not for this key, or not an "
                     "agent's");
            goto out;
        }
        {
            /* One that would not get in is not worth handing over. */
            char why[256] = "";
            if (!ca || vg_cert_verify(cert, ca, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "the issued certificate does not verify against %s (%s)",
                         conf->ca, why);
                goto out;
            }
        }
        if (r->cert_der.len > VG_PS_CERT_MAX ||
            (rc = vg_key_pem(key, out->key, sizeof(out->key), &klen)) != 0) {
            snprintf(err, errlen, "the certificate or key is too large to hand over");
            rc = -EIO;
            goto out;
        }
        out->key_len = (uint32_t)klen;
        out->cert_len = (uint32_t)r->cert_der.len;
        memcpy(out->cert, r->cert_der.data, r->cert_der.len);
        log_info("[enroll] enrolled as agent %s (certificate valid until %s)", info.cn,
                 vg_time_format(info.not_after_ms, tbuf, sizeof(tbuf)));
        rc = 0;
    }
out:
    vg_zeroize(treq.data, treq.len);
    vg_buf_free(&treq);
    if (resp_env)
        vg_pb_free(&resp_env->base);
    if (res)
        freeaddrinfo(res);
    vg_key_free(key);
    vg_cert_free(cert);
    free(csr);
    return rc;
}

int net_enroll_attempt(const struct agent_conf *conf, struct vg_ps_cert *out, char *err,
                       size_t errlen, int (*confine_cb)(void *ctx, char *err, size_t errlen),
                       void *ctx)
{
    struct vg_cert *ca = NULL;
    struct vg_tls_config *cfg = NULL;
    struct vg_tls_opts o;
    struct vg_proxy proxy;
    int use_proxy = conf->proxy && conf->proxy[0];
    char *token, hostname[256] = "", *mid = NULL;
    size_t mlen;
    int rc;

    /* Read while still root: the token file, the CA, the proxy's
     * credentials and the host root may be root's. */
    memset(&proxy, 0, sizeof(proxy));
    if (use_proxy && (vg_proxy_parse(conf->proxy, &proxy, err, errlen) != 0 ||
                      (conf->proxy_auth_file &&
                       vg_proxy_auth_file(&proxy, conf->proxy_auth_file, err, errlen) != 0))) {
        vg_proxy_clear(&proxy);
        return VG_ECONFIG;
    }
    if (!(token = read_token(conf, err, errlen))) {
        vg_proxy_clear(&proxy);
        return VG_ECONFIG;
    }
    if (vg_cert_load(conf->ca, &ca) != 0)
        ca = NULL; /* said when the certificate arrives */
    memset(&o, 0, sizeof(o));
    o.ca = conf->ca;
    o.no_client_auth = 1;
    agent_hostname(conf->inventory_root, hostname, sizeof(hostname));
    if (vg_file_read("/etc/machine-id", 256, &mid, &mlen) == 0)
        mid[strcspn(mid, "\n")] = '\0';
    if ((rc = vg_tls_config_new(&o, &cfg, err, errlen)) == 0 &&
        (rc = confine_cb(ctx, err, errlen)) == 0)
        rc = attempt(conf, token, ca, cfg, use_proxy ? &proxy : NULL, hostname, mid ? mid : "",
                     out, err, errlen);
    vg_proxy_clear(&proxy);
    vg_zeroize(token, strlen(token));
    free(token);
    free(mid);
    vg_tls_config_free(cfg);
    vg_cert_free(ca);
    return rc;
}
