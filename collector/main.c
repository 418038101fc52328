/*
 * vigil-collector: receives agents' streams, stores them, serves operators.
 */
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "tls.h"

#define DEFAULT_CONF "/etc/vigil/collector.conf"

/* What would fail at start, found by --check-config too: the listen
 * addresses, and the CA, certificate and key (readable, the key 0600,
 * fitting together, valid now). */
static int validate(const void *c, const char *path, char *err, size_t errlen)
{
    const struct collector_conf *conf = c;
    struct sockaddr_storage ss;
    struct vg_tls_opts o;
    struct vg_tls_config *tls = NULL;
    char why[400];
    int rc;

    if (server_parse_listen(conf->listen, &ss, why, sizeof(why)) != 0 ||
        (conf->enroll_listen && conf->enroll_listen[0] &&
         server_parse_listen(conf->enroll_listen, &ss, why, sizeof(why)) != 0)) {
        snprintf(err, errlen, "%s: %s", path, why);
        return VG_ECONFIG;
    }
    if (scope_check_conf(&conf->operator_scopes, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return VG_ECONFIG;
    }
    memset(&o, 0, sizeof(o));
    o.server = 1;
    o.ca = conf->ca;
    o.cert = conf->cert;
    o.key = conf->key;
    if ((rc = vg_tls_config_new(&o, &tls, why, sizeof(why))) != 0) {
        snprintf(err, errlen, "%s: [tls]: %s", path, why);
        return VG_ECONFIG;
    }
    vg_tls_config_free(tls);
    return 0;
}

static const struct vg_daemon collector_daemon = {
    .name = "vigil-collector",
    .about = "The Vigil collector: agents stream to it, operators query it.",
    .footer = "Logs go to stderr (the journal under systemd).  SIGTERM or SIGINT stop it\n"
              "cleanly: no new connections, pending batches committed and acknowledged.",
    .default_conf = DEFAULT_CONF,
    .keys = collector_conf_keys,
    .log_level_offset = offsetof(struct collector_conf, log_level),
    .log_level_key = "[collector] log_level",
    .validate = validate,
};

int main(int argc, char **argv)
{
    struct collector_conf conf;
    struct server srv;
    char err[512];
    int rc;

    vg_log_init("vigil-collector", 0, VG_LOG_INFO);
    memset(&conf, 0, sizeof(conf));
    if ((rc = vg_daemon_start(&collector_daemon, argc, argv, &conf)) >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    if (server_start(&srv, uv_default_loop(), &conf, err, sizeof(err))) {
        log_error("%s", err);
        vg_conf_free(collector_conf_keys, &conf);
        return 1;
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    server_free(&srv);
    rc = uv_loop_close(uv_default_loop());
    if (rc)
        log_warnx("event loop closed with handles open: %s", uv_strerror(rc));
    vg_conf_free(collector_conf_keys, &conf);
    return 0;
}
