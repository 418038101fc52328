/*
 * Network isolation: the isolate and release commands, persistence,
 * the tamper check and break-glass release.
 *
 * isolate:  resolve the collectors (worker thread; after this no DNS is
 *           needed) -> persist the spec, unverified -> apply (one
 *           transaction) -> open a fresh TCP+TLS connection to the
 *           collector -> persist verified, report succeeded.
 *           Any failure before the proof puts the host back as it was
 *           (the previous isolation, or none) and reports failed or
 *           rolled-back.
 * restart:  a verified spec is applied before anything else; an
 *           unverified one (the agent died mid-isolate) is removed.
 * tamper:   every check_interval the installed rules are compared with
 *           what was applied; if changed or gone they are applied again
 *           and the tampering is reported (an IsolationState event, which
 *           the collector writes to its audit log).
 * release:  the agent's table is deleted, nothing else.
 *
 * STATE_DIR/isolation (JSON, 0600, written atomically):
 *   { "command_id", "since_ms", "verified", "backend",
 *     "collectors": ["192.0.2.1:7443", ...], "allow": [...], "dns": [...] }
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "crypto.h"
#include "err.h"
#include "isolation.h"
#include "log.h"
#include "rtoken.h"
#include "transport.h"
#include "util.h"

#define STATE_FILE "isolation"
#define BREAKGLASS_FILE "breakglass"
#define BREAKGLASS_USED "breakglass-used"

struct isolation {
    struct agent *a;
    const struct agent_conf *conf;
    const struct iso_backend *be;
    uv_timer_t check;
    int active;            /* isolated (verified) */
    struct iso_spec spec;  /* in force when active */
    char command_id[VG_UUID_STR];
    int64_t since_ms;
    char *fingerprint;     /* what the installed rules looked like */
    struct vg_ratelimit rl;
    /* the command in progress */
    int busy;
    iso_done_fn done;
    void *done_ctx;
    struct iso_spec next;
    char next_id[VG_UUID_STR];
    uv_work_t work;
    struct vg_strlist resolve_in;
    char resolve_err[512];
};

static const struct iso_backend *backend_for(const struct agent_conf *c)
{
    static int logged;
    if (c->isolation_backend == ISO_BACKEND_NFT)
        return &iso_nft_backend;
    if (c->isolation_backend == ISO_BACKEND_IPTABLES)
        return &iso_ipt_backend;
    if (iso_nft_backend.available(c))
        return &iso_nft_backend;
    if (!logged++)
        log_info("[iso] nftables is not usable here; isolation uses %s", c->isolation_iptables);
    return &iso_ipt_backend;
}

static void state_path(const struct agent_conf *c, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->state_dir, name);
}

/* ---- the state file ---- */

static json_t *addr_list(const struct iso_addr *v, size_t n)
{
    json_t *a = json_array();
    char txt[VG_NETADDR_STR];
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(vg_netaddr_format(&v[i], txt, sizeof(txt))));
    return a;
}

static int state_save(const struct agent_conf *c, const struct iso_spec *sp, const char *id,
                      int64_t since, int verified, const char *backend)
{
    char path[4096], *text;
    json_t *o = json_pack("{s:s, s:I, s:b, s:s, s:o, s:o, s:o}", "command_id", id, "since_ms",
                          (json_int_t)since, "verified", verified, "backend", backend,
                          "collectors", addr_list(sp->collectors, sp->ncollectors), "allow",
                          addr_list(sp->allow, sp->nallow), "dns", addr_list(sp->dns, sp->ndns));
    int rc;

    if (!o || !(text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        json_decref(o);
        return -ENOMEM;
    }
    json_decref(o);
    state_path(c, STATE_FILE, path, sizeof(path));
    rc = vg_file_write_atomic(path, text, strlen(text), 0600, 0);
    free(text);
    return rc;
}

static int addr_list_load(json_t *a, struct iso_addr *v, size_t max, size_t *n)
{
    size_t i;
    json_t *e;
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) > max)
        return -1;
    json_array_foreach(a, i, e) {
        if (!json_is_string(e) || vg_netaddr_parse(json_string_value(e), &v[i], NULL, 0))
            return -1;
        (*n)++;
    }
    return 0;
}

/* Returns 1 (loaded), 0 (no file) or an error (logged). */
static int state_load(const struct agent_conf *c, struct iso_spec *sp, char *id, int64_t *since,
                      int *verified)
{
    char path[4096], *data = NULL;
    size_t len;
    json_t *o;
    int rc;

    memset(sp, 0, sizeof(*sp));
    state_path(c, STATE_FILE, path, sizeof(path));
    rc = vg_file_read(path, 256 * 1024, &data, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        log_error("[iso] cannot read %s: %s", path, vg_strerror(rc));
        return rc;
    }
    o = json_loadb(data, len, 0, NULL);
    free(data);
    if (!o || !json_is_string(json_object_get(o, "command_id")) ||
        addr_list_load(json_object_get(o, "collectors"), sp->collectors, ISO_MAX_COLLECTORS,
                       &sp->ncollectors) ||
        addr_list_load(json_object_get(o, "allow"), sp->allow, ISO_MAX_ALLOW, &sp->nallow) ||
        addr_list_load(json_object_get(o, "dns"), sp->dns, ISO_MAX_DNS, &sp->ndns) ||
        sp->ncollectors == 0) {
        json_decref(o);
        log_error("[iso] %s is damaged; the host stays as its firewall is now", path);
        return VG_ECORRUPT;
    }
    for (size_t i = 0; i < sp->ncollectors; i++)
        sp->collectors[i].proto = IPPROTO_TCP;
    vg_strlcpy(id, json_string_value(json_object_get(o, "command_id")), VG_UUID_STR);
    *since = json_integer_value(json_object_get(o, "since_ms"));
    *verified = json_is_true(json_object_get(o, "verified"));
    json_decref(o);
    return 1;
}

static void state_remove(const struct agent_conf *c)
{
    char path[4096];
    state_path(c, STATE_FILE, path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT)
        log_warnx("[iso] cannot remove %s: %s", path, strerror(errno));
}

/* ---- at start ---- */

int isolation_restore(const struct agent_conf *conf)
{
    const struct iso_backend *be = backend_for(conf);
    struct iso_spec sp;
    char id[VG_UUID_STR], err[512];
    int64_t since;
    int verified, rc;

    rc = state_load(conf, &sp, id, &since, &verified);
    if (rc <= 0)
        return rc;
    if (!verified) {
        /* The agent stopped between applying and proving the collector
         * reachable: the command never succeeded, so undo it. */
        log_warnx("[iso] isolation by command %s was interrupted before it was verified; "
                  "removing it (the command is reported failed)", id);
        if (be->remove(conf, err, sizeof(err)))
            log_error("[iso] cannot remove the isolation rules: %s", err);
        state_remove(conf);
        return 0;
    }
    if ((rc = be->apply(conf, &sp, err, sizeof(err))) != 0) {
        log_error("[iso] the host must be isolated (command %s) but the rules cannot be "
                  "applied: %s; retrying every check interval", id, err);
        return rc;
    }
    log_info("[iso] isolation restored (command %s, %zu collector addresses, %zu allowed)", id,
             sp.ncollectors, sp.nallow);
    return 0;
}

/* ---- events ---- */

static void emit(struct isolation *iso, const char *change, const char *detail)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__IsolationState st = VIGIL__V1__ISOLATION_STATE__INIT;
    char txt[ISO_MAX_ALLOW][VG_NETADDR_STR];
    char *allowed[ISO_MAX_ALLOW];

    for (size_t i = 0; iso->active && i < iso->spec.nallow; i++)
        allowed[i] = vg_netaddr_format(&iso->spec.allow[i], txt[i], sizeof(txt[i]));
    st.isolated = iso->active;
    st.command_id = iso->command_id;
    st.allowed = allowed;
    st.n_allowed = iso->active ? iso->spec.nallow : 0;
    st.since_time_ms = iso->active ? iso->since_ms : 0;
    st.change = (char *)change;
    st.detail = (char *)detail;
    st.backend = (char *)iso->be->name;
    ev.time_ms = vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_ISOLATION_STATE;
    ev.isolation_state = &st;
    if (bus_emit(iso->a, &ev) != 0)
        log_warnx("[iso] cannot queue the isolation report (%s)", change);
}

static void refresh_fingerprint(struct isolation *iso)
{
    char err[256];
    free(iso->fingerprint);
    iso->fingerprint = NULL;
    if (iso->be->fingerprint(iso->conf, &iso->fingerprint, err, sizeof(err)))
        log_warnx("[iso] cannot read back the isolation rules: %s", err);
}

/* ---- break-glass ---- */

/* A release made with `vigil-agent release --token`: reported once. */
static int breakglass_pending(struct isolation *iso, char *detail, size_t len)
{
    char path[4096], *data = NULL;
    size_t n;
    state_path(iso->conf, BREAKGLASS_FILE, path, sizeof(path));
    if (vg_file_read(path, 4096, &data, &n) != 0)
        return 0;
    snprintf(detail, len, "%s", data);
    free(data);
    return 1;
}

static void breakglass_reported(struct isolation *iso)
{
    char path[4096];
    state_path(iso->conf, BREAKGLASS_FILE, path, sizeof(path));
    unlink(path);
}

/* ---- the tamper check ---- */

static void check_cb(uv_timer_t *t)
{
    struct isolation *iso = t->data;
    struct iso_spec sp;
    char id[VG_UUID_STR], err[512], detail[600], *now = NULL;
    int64_t since;
    int verified, rc;
    uint64_t sup;

    if (iso->busy)
        return;
    if (!iso->active && breakglass_pending(iso, detail, sizeof(detail))) {
        /* A token used on a host that was not isolated (or whose agent
         * never managed to apply it): still reported. */
        emit(iso, "break-glass", detail);
        breakglass_reported(iso);
    }
    if (!iso->active) {
        /* Restore failed at start, or a restart found state: try again. */
        if (state_load(iso->conf, &sp, id, &since, &verified) == 1 && verified &&
            iso->be->apply(iso->conf, &sp, err, sizeof(err)) == 0) {
            iso->active = 1;
            iso->spec = sp;
            iso->since_ms = since;
            vg_strlcpy(iso->command_id, id, sizeof(iso->command_id));
            refresh_fingerprint(iso);
            log_info("[iso] isolation applied (command %s)", id);
            emit(iso, "restored", "isolation applied again after it could not be at start");
        }
        return;
    }
    if (state_load(iso->conf, &sp, id, &since, &verified) == 0) {
        char bg[4096];
        if (breakglass_pending(iso, bg, sizeof(bg))) {
            iso->active = 0;
            free(iso->fingerprint);
            iso->fingerprint = NULL;
            log_warnx("[iso] released locally with a break-glass token: %s", bg);
            emit(iso, "break-glass", bg);
            breakglass_reported(iso);
            return;
        }
        /* The state file went, but no release came: put it back. */
        state_save(iso->conf, &iso->spec, iso->command_id, iso->since_ms, 1, iso->be->name);
        snprintf(detail, sizeof(detail), "the isolation state file was removed outside Vigil; "
                 "written again");
        log_warnx("[iso] tampering: %s", detail);
        emit(iso, "tampered", detail);
    }
    rc = iso->be->fingerprint(iso->conf, &now, err, sizeof(err));
    if (rc == 0 && now && iso->fingerprint && strcmp(now, iso->fingerprint) == 0) {
        free(now);
        return;
    }
    snprintf(detail, sizeof(detail), "%s",
             rc ? err : !now ? "the isolation rules were removed outside Vigil; applied again"
                             : "the isolation rules were changed outside Vigil; applied again");
    free(now);
    if ((rc = iso->be->apply(iso->conf, &iso->spec, err, sizeof(err))) != 0) {
        if (vg_ratelimit(&iso->rl, &sup))
            log_error("[iso] tampering: %s, and they cannot be applied again: %s", detail, err);
        return;
    }
    refresh_fingerprint(iso);
    log_warnx("[iso] tampering: %s", detail);
    emit(iso, "tampered", detail);
}

struct isolation *isolation_new(struct agent *a)
{
    struct isolation *iso = calloc(1, sizeof(*iso));
    struct iso_spec sp;
    char id[VG_UUID_STR], bg[4096];
    int64_t since;
    int verified;

    if (!iso)
        return NULL;
    iso->a = a;
    iso->conf = a->conf;
    iso->be = backend_for(a->conf);
    iso->rl = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 5);
    if (state_load(a->conf, &sp, id, &since, &verified) == 1 && verified) {
        char *fp = NULL, err[256];
        iso->spec = sp;
        iso->since_ms = since;
        vg_strlcpy(iso->command_id, id, sizeof(iso->command_id));
        /* Only if isolation_restore managed to apply it. */
        if (iso->be->fingerprint(a->conf, &fp, err, sizeof(err)) == 0 && fp) {
            iso->active = 1;
            iso->fingerprint = fp;
            emit(iso, "restored", "isolation re-applied at agent start");
        }
    }
    if (!iso->active && breakglass_pending(iso, bg, sizeof(bg))) {
        emit(iso, "break-glass", bg);
        breakglass_reported(iso);
    }
    uv_timer_init(a->loop, &iso->check);
    iso->check.data = iso;
    uv_timer_start(&iso->check, check_cb, a->conf->isolation_check_ms,
                   a->conf->isolation_check_ms);
    return iso;
}

void isolation_stop(struct isolation *iso)
{
    if (iso)
        uv_close((uv_handle_t *)&iso->check, NULL);
}

void isolation_free(struct isolation *iso)
{
    if (!iso)
        return;
    free(iso->fingerprint);
    free(iso);
}

int isolation_active(const struct isolation *iso)
{
    return iso && iso->active;
}

/* ---- isolate ---- */

static void finish(struct isolation *iso, int state, const char *msg)
{
    iso_done_fn done = iso->done;
    void *ctx = iso->done_ctx;
    iso->busy = 0;
    iso->done = NULL;
    done(ctx, state, msg);
}

/* Puts the host back as it was before the command: the previous
 * isolation, or none.  Returns 0 or an error with err. */
static int put_back(struct isolation *iso, char *err, size_t errlen)
{
    if (iso->active) {
        int rc = iso->be->apply(iso->conf, &iso->spec, err, errlen);
        state_save(iso->conf, &iso->spec, iso->command_id, iso->since_ms, 1, iso->be->name);
        return rc;
    }
    state_remove(iso->conf);
    return iso->be->remove(iso->conf, err, errlen);
}

/* Worker thread: resolves every collector address (and reads the
 * resolvers), so that nothing needs DNS once isolated. */
static void resolve_work(uv_work_t *w)
{
    struct isolation *iso = w->data;
    struct iso_spec *sp = &iso->next;
    const struct vg_strlist *l = &iso->conf->address;

    iso->resolve_err[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        char host[256], port[8];
        const char *a = l->v[i], *colon = strrchr(a, ':');
        struct addrinfo hints, *res = NULL, *r;
        size_t hl;
        int rc;
        if (!colon)
            continue;
        hl = (size_t)(colon - a);
        if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
            a++;
            hl -= 2;
        }
        if (hl >= sizeof(host))
            continue;
        memcpy(host, a, hl);
        host[hl] = '\0';
        vg_strlcpy(port, colon + 1, sizeof(port));
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc) {
            snprintf(iso->resolve_err, sizeof(iso->resolve_err), "cannot resolve %s: %s", host,
                     gai_strerror(rc));
            continue;
        }
        for (r = res; r && sp->ncollectors < ISO_MAX_COLLECTORS; r = r->ai_next) {
            struct iso_addr x;
            memset(&x, 0, sizeof(x));
            x.family = r->ai_family;
            x.proto = IPPROTO_TCP;
            if (r->ai_family == AF_INET) {
                struct sockaddr_in *s4 = (struct sockaddr_in *)r->ai_addr;
                memcpy(x.addr, &s4->sin_addr, 4);
                x.prefix = 32;
                x.port = ntohs(s4->sin_port);
            } else if (r->ai_family == AF_INET6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)r->ai_addr;
                memcpy(x.addr, &s6->sin6_addr, 16);
                x.prefix = 128;
                x.port = ntohs(s6->sin6_port);
            } else {
                continue;
            }
            sp->collectors[sp->ncollectors++] = x;
        }
        freeaddrinfo(res);
    }
    if (iso->conf->isolation_allow_dns) {
        char *rc = NULL, *line, *save = NULL;
        size_t len;
        if (vg_file_read("/etc/resolv.conf", 64 * 1024, &rc, &len) == 0) {
            for (line = strtok_r(rc, "\n", &save); line && sp->ndns < ISO_MAX_DNS;
                 line = strtok_r(NULL, "\n", &save)) {
                char ns[80];
                struct iso_addr x;
                if (strncmp(line, "nameserver", 10) != 0 || (line[10] != ' ' && line[10] != '\t'))
                    continue;
                line += 11;
                while (*line == ' ' || *line == '\t')
                    line++;
                vg_strlcpy(ns, line, sizeof(ns));
                ns[strcspn(ns, " \t%")] = '\0';
                if (vg_netaddr_parse(ns, &x, NULL, 0) == 0) {
                    x.port = 53;
                    sp->dns[sp->ndns++] = x;
                }
            }
            free(rc);
        }
    }
}

static void probe_done(void *ctx, int rc, const char *why)
{
    struct isolation *iso = ctx;
    char msg[700], err[400];

    if (rc == 0) {
        int was = iso->active;
        iso->spec = iso->next;
        vg_strlcpy(iso->command_id, iso->next_id, sizeof(iso->command_id));
        if (!was)
            iso->since_ms = vg_time_now_ms();
        if (state_save(iso->conf, &iso->spec, iso->command_id, iso->since_ms, 1,
                       iso->be->name) != 0)
            log_error("[iso] cannot record the isolation as verified; a restart would lift it");
        iso->active = 1;
        refresh_fingerprint(iso);
        {
            char extra[160] = "";
            if (iso->spec.nallow)
                snprintf(extra, sizeof(extra), ", %zu allowed address%s", iso->spec.nallow,
                         iso->spec.nallow == 1 ? "" : "es");
            snprintf(msg, sizeof(msg),
                     "isolated (%s): the host reaches only its collector (%zu address%s), "
                     "loopback, DHCP%s%s; a new connection to the collector succeeded after "
                     "isolating",
                     iso->be->name, iso->spec.ncollectors,
                     iso->spec.ncollectors == 1 ? "" : "es",
                     iso->spec.ndns ? ", DNS to its resolvers" : "", extra);
        }
        emit(iso, was ? "updated" : "isolated", msg);
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED, msg);
        return;
    }
    if (put_back(iso, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "the collector could not be reached over a new connection "
                 "after isolating (%s), and undoing it failed: %s", why, err);
        log_error("[iso] %s", msg);
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "rolled back: the collector could not be reached over a new "
             "connection within %llu s after isolating (%s); the rules were removed and the "
             "host is as it was", (unsigned long long)(iso->conf->isolation_verify_ms / 1000),
             why);
    log_warnx("[iso] %s", msg);
    finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_ROLLED_BACK, msg);
}

static void resolved(uv_work_t *w, int status)
{
    struct isolation *iso = w->data;
    struct iso_spec *sp = &iso->next;
    struct sockaddr_storage peer;
    char err[600], msg[800];
    int have_peer;

    (void)status;
    have_peer = iso->a->transport && transport_peer(iso->a->transport, &peer) == 0;
    /* The connection in use is always allowed, whatever DNS said. */
    if (have_peer && sp->ncollectors < ISO_MAX_COLLECTORS) {
        struct iso_addr x;
        int dup = 0;
        memset(&x, 0, sizeof(x));
        x.family = peer.ss_family;
        x.proto = IPPROTO_TCP;
        if (peer.ss_family == AF_INET) {
            memcpy(x.addr, &((struct sockaddr_in *)&peer)->sin_addr, 4);
            x.prefix = 32;
            x.port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
        } else {
            memcpy(x.addr, &((struct sockaddr_in6 *)&peer)->sin6_addr, 16);
            x.prefix = 128;
            x.port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
        }
        for (size_t i = 0; i < sp->ncollectors; i++)
            dup |= memcmp(&sp->collectors[i], &x, sizeof(x)) == 0;
        if (!dup)
            sp->collectors[sp->ncollectors++] = x;
    }
    if (sp->ncollectors == 0 || !have_peer) {
        snprintf(msg, sizeof(msg), "not isolated: %s",
                 !have_peer ? "the connection to the collector is down, so reaching it "
                              "afterwards cannot be proven"
                            : iso->resolve_err[0] ? iso->resolve_err
                                                  : "no collector address resolved");
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
        return;
    }
    /* Recorded unverified first: if the agent dies before the proof, the
     * next start removes the rules rather than keeping an unproven set. */
    if (state_save(iso->conf, sp, iso->next_id, iso->active ? iso->since_ms : vg_time_now_ms(),
                   0, iso->be->name) != 0) {
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
               "not isolated: cannot write the isolation state file");
        return;
    }
    if (iso->be->apply(iso->conf, sp, err, sizeof(err)) != 0) {
        char e2[300];
        put_back(iso, e2, sizeof(e2));
        snprintf(msg, sizeof(msg), "not isolated: the rules could not be applied (%s); the "
                 "host is as it was", err);
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
        return;
    }
    if (transport_probe(iso->a->transport, (struct sockaddr *)&peer,
                        iso->conf->isolation_verify_ms, probe_done, iso) != 0)
        probe_done(iso, -ENOMEM, "out of memory");
}

void isolation_isolate(struct isolation *iso, const Vigil__V1__Command *cmd, iso_done_fn done,
                       void *ctx)
{
    const Vigil__V1__IsolateAction *ia = cmd->isolate;
    char why[200], msg[300];
    int rc;

    if (!iso || iso->busy) {
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
             "another isolation command is running");
        return;
    }
    memset(&iso->next, 0, sizeof(iso->next));
    if (ia->n_allow > ISO_MAX_ALLOW) {
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, "too many allow rules");
        return;
    }
    for (size_t i = 0; i < ia->n_allow; i++) {
        struct iso_addr *x = &iso->next.allow[i];
        const Vigil__V1__AllowRule *r = ia->allow[i];
        if (vg_netaddr_parse(r->cidr, x, why, sizeof(why)) != 0 || x->port || r->port > 65535) {
            snprintf(msg, sizeof(msg), "not isolated: bad allow rule %s", why);
            done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
            return;
        }
        x->port = (uint16_t)r->port;
        x->proto = strcmp(r->protocol, "tcp") == 0   ? IPPROTO_TCP
                   : strcmp(r->protocol, "udp") == 0 ? IPPROTO_UDP
                                                     : 0;
        iso->next.nallow++;
    }
    iso->busy = 1;
    iso->done = done;
    iso->done_ctx = ctx;
    vg_strlcpy(iso->next_id, cmd->command_id, sizeof(iso->next_id));
    iso->work.data = iso;
    rc = uv_queue_work(iso->a->loop, &iso->work, resolve_work, resolved);
    if (rc) {
        snprintf(msg, sizeof(msg), "not isolated: %s", uv_strerror(rc));
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
    }
}

void isolation_release(struct isolation *iso, const Vigil__V1__Command *cmd, iso_done_fn done,
                       void *ctx)
{
    char err[512], msg[700];
    int was;

    (void)cmd;
    if (!iso || iso->busy) {
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
             "another isolation command is running");
        return;
    }
    was = iso->active;
    /* State first: the tamper check must not put back what is released. */
    state_remove(iso->conf);
    if (iso->be->remove(iso->conf, err, sizeof(err)) != 0) {
        if (was)
            state_save(iso->conf, &iso->spec, iso->command_id, iso->since_ms, 1, iso->be->name);
        snprintf(msg, sizeof(msg), "not released: %s", err);
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
        return;
    }
    iso->active = 0;
    free(iso->fingerprint);
    iso->fingerprint = NULL;
    snprintf(msg, sizeof(msg), was ? "released: the isolation rules were removed; the rest of "
                                     "the host's firewall is untouched"
                                   : "the host was not isolated; nothing to release");
    if (was)
        emit(iso, "released", msg);
    done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED, msg);
}

/* ---- vigil-agent release --token FILE ---- */

static void release_usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent release --token FILE [-c FILE]\n"
            "\n"
            "Lifts this host's network isolation locally, without the collector: for a host\n"
            "whose collector is gone for good.  FILE is a break-glass token made for this\n"
            "host by an admin (vigilctl release-token HOST --reason TEXT -o FILE), signed\n"
            "by the collector and checked here against the agent's CA, offline.  A token\n"
            "works once.  The release is reported to the collector when the agent next\n"
            "connects.\n"
            "\n"
            "  --token FILE   the token\n"
            "  -c, --config FILE  the agent's configuration (default /etc/vigil/agent.conf)\n"
            "\n"
            "Exit status: 0 released, 1 refused or failed, 2 usage error.\n");
}

static int token_used(const struct agent_conf *c, const char *id)
{
    char path[4096], *data = NULL;
    size_t len;
    int used;
    state_path(c, BREAKGLASS_USED, path, sizeof(path));
    if (vg_file_read(path, 1024 * 1024, &data, &len) != 0)
        return 0;
    used = strstr(data, id) != NULL;
    free(data);
    return used;
}

static int token_mark_used(const struct agent_conf *c, const char *id)
{
    char path[4096], *data = NULL, *nd;
    size_t len = 0;
    int rc;
    state_path(c, BREAKGLASS_USED, path, sizeof(path));
    if (vg_file_read(path, 1024 * 1024, &data, &len) != 0)
        len = 0;
    if (!(nd = malloc(len + VG_UUID_STR + 2))) {
        free(data);
        return -ENOMEM;
    }
    if (len)
        memcpy(nd, data, len);
    snprintf(nd + len, VG_UUID_STR + 2, "%s\n", id);
    rc = vg_file_write_atomic(path, nd, len + strlen(id) + 1, 0600, 0);
    free(nd);
    free(data);
    return rc;
}

int agent_release_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "token", required_argument, NULL, 't' },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct agent_conf conf;
    const char *conf_path = "/etc/vigil/agent.conf", *token_path = NULL;
    struct vg_cert *ca = NULL, *self = NULL;
    struct vg_cert_info me;
    struct vg_rtoken tok;
    char err[512], why[400], path[4096], detail[1200], when[VG_TIME_STR_MAX];
    char *data = NULL;
    size_t len;
    int c, rc = 1;

    optind = 0;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': token_path = optarg; break;
        case 'c': conf_path = optarg; break;
        case 'h': release_usage(stdout); return 0;
        default: release_usage(stderr); return 2;
        }
    }
    if (!token_path || optind < argc) {
        fprintf(stderr, "vigil-agent release: %s\n",
                token_path ? "unexpected argument" : "--token FILE is required");
        release_usage(stderr);
        return 2;
    }
    memset(&conf, 0, sizeof(conf));
    if (vg_conf_load(agent_conf_keys, &conf, conf_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigil-agent release: %s\n", err);
        return 1;
    }
    if (vg_cert_load(conf.ca, &ca) != 0 || vg_cert_load(conf.cert, &self) != 0 ||
        vg_cert_info(self, &me) != 0) {
        fprintf(stderr, "vigil-agent release: cannot read the agent's CA (%s) or certificate "
                "(%s)\n", conf.ca, conf.cert);
        goto out;
    }
    if ((rc = vg_file_read(token_path, VG_RTOKEN_MAX, &data, &len)) != 0) {
        fprintf(stderr, "vigil-agent release: cannot read %s: %s\n", token_path,
                vg_strerror(rc));
        rc = 1;
        goto out;
    }
    rc = 1;
    if (vg_rtoken_verify(data, len, ca, me.cn, vg_time_now_ms(), &tok, why, sizeof(why)) != 0) {
        fprintf(stderr, "vigil-agent release: token refused: %s\n", why);
        log_warnx("[iso] break-glass token %s refused: %s", token_path, why);
        goto out;
    }
    if (token_used(&conf, tok.token_id)) {
        fprintf(stderr, "vigil-agent release: token refused: token %s was used already; ask "
                "for a new one\n", tok.token_id);
        goto out;
    }
    {
        char *fp = NULL;
        struct iso_spec sp;
        char sid[VG_UUID_STR];
        int64_t since;
        int verified;
        int have_state = state_load(&conf, &sp, sid, &since, &verified) == 1;
        if (!have_state && backend_for(&conf)->fingerprint(&conf, &fp, err, sizeof(err)) == 0 &&
            !fp) {
            printf("host %s is not isolated; nothing to release (the token was not used)\n",
                   me.cn);
            rc = 0;
            goto out;
        }
        free(fp);
    }
    snprintf(detail, sizeof(detail), "token %s issued by %s at %s; reason: %s", tok.token_id,
             tok.operator_name, vg_time_format(tok.issued_ms, when, sizeof(when)), tok.reason);
    /* Order: the report, then the state, then the rules, so that a
     * running agent sees a break-glass release, not tampering. */
    state_path(&conf, BREAKGLASS_FILE, path, sizeof(path));
    if (token_mark_used(&conf, tok.token_id) != 0 ||
        vg_file_write_atomic(path, detail, strlen(detail), 0600, 0) != 0) {
        fprintf(stderr, "vigil-agent release: cannot write to %s\n", conf.state_dir);
        goto out;
    }
    state_remove(&conf);
    if (backend_for(&conf)->remove(&conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigil-agent release: cannot remove the isolation rules: %s\n", err);
        goto out;
    }
    printf("released: host %s is no longer isolated (break-glass %s).\n"
           "The collector is told when the agent next connects.\n",
           me.cn, detail);
    rc = 0;
out:
    free(data);
    vg_cert_free(ca);
    vg_cert_free(self);
    vg_conf_free(agent_conf_keys, &conf);
    return rc;
}
