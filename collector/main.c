/*
 * vigil-collector: receives agents' streams, stores them, serves operators.
 */
#include <stddef.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "daemon.h"
#include "err.h"
#include "export.h"
#include "log.h"
#include "tls.h"
#include "util.h"

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
         server_parse_listen(conf->enroll_listen, &ss, why, sizeof(why)) != 0) ||
        (conf->metrics_listen && conf->metrics_listen[0] &&
         vg_metrics_parse_listen(conf->metrics_listen, conf->metrics_allow_remote,
                                 "[metrics] listen", &ss, why, sizeof(why)) != 0)) {
        snprintf(err, errlen, "%s: %s", path, why);
        return VG_ECONFIG;
    }
    {
        struct vg_netaddr nets[PROXIES_MAX];
        size_t n;
        if (server_parse_proxies(conf->proxy_protocol, nets, &n, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            return VG_ECONFIG;
        }
    }
    if (scope_check_conf(&conf->operator_scopes, why, sizeof(why)) != 0 ||
        export_check_conf(conf, why, sizeof(why)) != 0) {
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
              "cleanly: no new connections, pending batches committed and acknowledged.\n"
              "SIGHUP reloads the configuration, certificate, key, CA and revocations,\n"
              "keeping the connections still valid; an invalid one is refused (logged)\n"
              "and the collector runs on with the old.",
    .default_conf = DEFAULT_CONF,
    .keys = collector_conf_keys,
    .log_level_offset = offsetof(struct collector_conf, log_level),
    .log_level_key = "[collector] log_level",
    .validate = validate,
};

/* The configuration in force (server_reload replaces it). */
static struct collector_conf *conf;

/* SIGHUP: the file again, checked as at start; the server applies it or
 * nothing changes. */
static void reload(struct server *s)
{
    struct collector_conf *next = calloc(1, sizeof(*next));
    char err[1024];
    int rc;

    if (!next) {
        log_error("reload refused: out of memory; running on with the previous configuration");
        return;
    }
    if ((rc = vg_daemon_reload(&collector_daemon, next, err, sizeof(err))) == 0 &&
        (rc = server_reload(s, next, err, sizeof(err))) != 0) {
        char why[1100];
        snprintf(why, sizeof(why), "%s: %s", vg_daemon_conf_path(), err);
        vg_strlcpy(err, why, sizeof(err));
        vg_conf_free(collector_conf_keys, next);
    }
    if (rc) {
        log_error("reload refused, running on with the previous configuration: %s", err);
        free(next);
        return;
    }
    vg_conf_free(collector_conf_keys, conf);
    free(conf);
    conf = next;
}

int main(int argc, char **argv)
{
    struct server srv;
    char err[512];
    int rc;

    vg_log_init("vigil-collector", 0, VG_LOG_INFO);
#ifdef __GLIBC__
    /* The top of the heap is not handed back to the kernel at every free:
     * in a reconnect storm of 10,000 agents, shrinking and growing it
     * (brk, then page faults and TLB flushes on every core) took a fifth
     * of the collector's CPU.  What connections let go is still returned
     * by the periodic malloc_trim (server.c). */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
    /* Setting those fixes the size from which a block is mapped on its
     * own (glibc would raise it as big blocks are freed): frames and
     * inventories of up to 1 MiB come from the heap, not an mmap and
     * munmap each. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    if (!(conf = calloc(1, sizeof(*conf))))
        return 1;
    if ((rc = vg_daemon_start(&collector_daemon, argc, argv, conf)) >= 0) {
        free(conf);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    if (server_start(&srv, uv_default_loop(), conf, err, sizeof(err))) {
        log_error("%s", err);
        vg_conf_free(collector_conf_keys, conf);
        free(conf);
        return 1;
    }
    srv.on_reload = reload;
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    server_free(&srv);
    rc = uv_loop_close(uv_default_loop());
    if (rc)
        log_warnx("event loop closed with handles open: %s", uv_strerror(rc));
    vg_conf_free(collector_conf_keys, conf);
    free(conf);
    return 0;
}
