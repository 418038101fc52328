/*
 * vigilctl's connection to the collector: one request, one response,
 * over mutual TLS with the operator's certificate.
 *
 * Connection settings, first found wins: command-line options, the
 * environment (VIGIL_COLLECTOR, VIGIL_CA, VIGIL_CERT, VIGIL_KEY,
 * VIGIL_SERVER_NAME), then ~/.config/vigil/ctl.conf:
 *
 *   [ctl]
 *   collector = collector1.example.org:7443
 *   ca = /etc/vigil/pki/ca.crt
 *   cert = ~/.config/vigil/alice.crt   (relative paths: to the file's directory)
 *   key = ~/.config/vigil/alice.key
 *   server_name = collector1.example.org
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "err.h"
#include "pb.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define REQUEST_TIMEOUT_MS 30000
/* Reports of large fleets and feed imports take the collector longer. */
#define LONG_TIMEOUT_MS (15 * 60 * 1000)

struct file_conf {
    char *collector, *ca, *cert, *key, *server_name;
};

#define O(f) offsetof(struct file_conf, f)
static const struct vg_conf_key file_keys[] = {
    { "ctl", "collector", VG_CONF_STR, NULL, O(collector), 0, 0, NULL, 0, "collector HOST:PORT" },
    { "ctl", "ca", VG_CONF_PATH, NULL, O(ca), 0, 0, NULL, 0, "CA certificate" },
    { "ctl", "cert", VG_CONF_PATH, NULL, O(cert), 0, 0, NULL, 0, "operator certificate" },
    { "ctl", "key", VG_CONF_PATH, NULL, O(key), 0, 0, NULL, 0, "operator private key" },
    { "ctl", "server_name", VG_CONF_STR, NULL, O(server_name), 0, 0, NULL, 0,
      "name in the collector's certificate" },
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};

static void load_file(struct file_conf *fc)
{
    const char *home = getenv("HOME");
    char path[PATH_MAX], err[512];

    memset(fc, 0, sizeof(*fc));
    if (!home)
        return;
    snprintf(path, sizeof(path), "%s/.config/vigil/ctl.conf", home);
    if (access(path, F_OK) != 0)
        return;
    if (vg_conf_load_ex(file_keys, fc, path, VG_CONF_NO_DROPINS, NULL, err, sizeof(err)))
        fprintf(stderr, "vigilctl: warning: ignoring %s\n", err);
}

int ctl_call(struct ctl *ctl, Vigil__V1__OperatorRequest *req, Vigil__V1__OperatorResponse **resp_out,
             void **owner_out)
{
    struct file_conf fc;
    struct vg_tls_opts o;
    struct vg_tls_config *cfg = NULL;
    struct addrinfo hints, *res = NULL;
    const char *collector, *ca, *cert, *key, *sname;
    char host[256], port[8], err[512];
    const char *colon;
    int rc = CTL_EXIT_FAIL;

    load_file(&fc);
    collector = ctl->collector ? ctl->collector : fc.collector;
    ca = ctl->ca ? ctl->ca : fc.ca;
    cert = ctl->cert ? ctl->cert : fc.cert;
    key = ctl->key ? ctl->key : fc.key;
    sname = ctl->server_name ? ctl->server_name
            : getenv("VIGIL_SERVER_NAME") ? getenv("VIGIL_SERVER_NAME") : fc.server_name;
    if (!collector || !ca || !cert || !key) {
        rc = ctl_err("which collector, and as whom? Give --collector HOST:PORT --ca FILE --cert "
                     "FILE --key FILE (or VIGIL_COLLECTOR, VIGIL_CA, VIGIL_CERT, VIGIL_KEY, or "
                     "~/.config/vigil/ctl.conf)");
        goto out_conf;
    }
    colon = strrchr(collector, ':');
    if (!colon || colon == collector || !colon[1] || strlen(colon + 1) >= sizeof(port)) {
        rc = ctl_err("collector '%s': expected HOST:PORT (e.g. collector.example.org:7443)",
                     collector);
        goto out_conf;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - collector), collector);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    vg_strlcpy(port, colon + 1, sizeof(port));
    memset(&o, 0, sizeof(o));
    o.ca = ca;
    o.cert = cert;
    o.key = key;
    if (vg_tls_config_new(&o, &cfg, err, sizeof(err))) {
        rc = ctl_err("%s", err);
        goto out_conf;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        rc = ctl_err("cannot resolve %s: %s", host, gai_strerror(rc));
        goto out_cfg;
    }
    {
        Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT, *resp = NULL;
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        int called;
        env.body_case = VIGIL__V1__ENVELOPE__BODY_OPERATOR_REQUEST;
        env.operator_request = req;
        /* A collector that refuses the certificate (revoked) closes at
         * once: the request's write must fail with EPIPE, not kill us.
         * Output to a closed pipe still ends vigilctl as usual. */
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, &old);
        called = vg_wire_call(cfg, res->ai_addr, sname ? sname : host, &env,
                         VIGIL__V1__ENVELOPE__BODY_OPERATOR_RESPONSE,
                         req->request_case == VIGIL__V1__OPERATOR_REQUEST__REQUEST_REPORT ||
                                 req->request_case ==
                                     VIGIL__V1__OPERATOR_REQUEST__REQUEST_ADVISORY_IMPORT
                             ? LONG_TIMEOUT_MS
                             : REQUEST_TIMEOUT_MS,
                         &resp,
                         err, sizeof(err));
        sigaction(SIGPIPE, &old, NULL);
        if (called == 0) {
            *resp_out = resp->operator_response;
            *owner_out = resp;
            rc = 0;
        } else {
            rc = ctl_err("%s (collector %s)", err, collector);
        }
    }
out_cfg:
    if (res)
        freeaddrinfo(res);
    vg_tls_config_free(cfg);
out_conf:
    vg_conf_free(file_keys, &fc);
    return rc;
}

void ctl_call_free(void *owner)
{
    if (owner)
        vg_pb_free(&((Vigil__V1__Envelope *)owner)->base);
}

int ctl_query(struct ctl *ctl, Vigil__V1__OperatorRequest *req, int want,
              Vigil__V1__OperatorResponse **resp, void **owner)
{
    int rc = ctl_call(ctl, req, resp, owner);
    if (rc)
        return rc;
    if ((rc = ctl_response_error(*resp)) != 0 || (int)(*resp)->response_case != want) {
        ctl_call_free(*owner);
        *owner = NULL;
        return rc ? rc : ctl_err("unexpected answer from the collector");
    }
    return 0;
}

int ctl_response_error(const Vigil__V1__OperatorResponse *r)
{
    if (r->ok)
        return 0;
    if (r->error && r->error->code == VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED)
        return ctl_err("permission denied: %s", r->error->message);
    return ctl_err("the collector could not answer: %s",
                   r->error && r->error->message[0] ? r->error->message : "no reason given");
}
