/*
 * Network isolation: the isolate and release commands, persistence,
 * the tamper check and break-glass release.
 *
 * isolate:  resolve the collectors (worker thread; after this no DNS is
 *           needed) -> persist the spec as pending -> apply (one
 *           transaction) -> open a fresh TCP+TLS connection to the
 *           collector -> persist it as the isolation, report succeeded.
 *           Any failure before the proof puts the host back as it was
 *           (the previous isolation, or none) and reports failed or
 *           rolled-back.
 * restart:  the isolation is applied before anything else; a pending
 *           isolate (the agent died before its proof) is dropped.
 * tamper:   every check_interval the installed rules and the state file
 *           are compared with what was applied; if changed or gone they
 *           are applied again and the tampering is reported (an
 *           IsolationState event, which the collector writes to its
 *           audit log).
 * release:  the agent's tables or chains are deleted, nothing else.
 *
 * The state file's format is below, at state_save.  The tamper check and
 * `vigil-agent release` take STATE_DIR/isolation.lock, so that a
 * break-glass release is never taken for tampering.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "crypto.h"
#include "err.h"
#include "isolation.h"
#include "log.h"
#include "rtoken.h"
#include "monitor.h"
#include "proxy.h"
#include "psmsg.h"
#include "util.h"

#define STATE_FILE "isolation"
#define BREAKGLASS_FILE "breakglass"
#define BREAKGLASS_USED "breakglass-used"
#define LOCK_FILE "isolation.lock"
/* Clock difference tolerated between the collector (token) and the host. */
#define TOKEN_SKEW_MS (10 * 60 * 1000)

/* A socket address as an iso_addr (one host, its port, tcp). */
static int sockaddr_to_addr(const struct sockaddr *sa, struct iso_addr *x)
{
    memset(x, 0, sizeof(*x));
    x->family = sa->sa_family;
    x->proto = IPPROTO_TCP;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memcpy(x->addr, &s4->sin_addr, 4);
        x->prefix = 32;
        x->port = ntohs(s4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(x->addr, &s6->sin6_addr, 16);
        x->prefix = 128;
        x->port = ntohs(s6->sin6_port);
        return 0;
    }
    return -1;
}

/* What STATE_DIR/isolation holds. */
struct iso_state {
    int isolated;              /* a verified isolation is in force */
    struct iso_spec spec;
    char command_id[VG_UUID_STR];
    int64_t since_ms;
    int pending;               /* an isolate applied but not yet verified */
    struct iso_spec pending_spec;
    char pending_id[VG_UUID_STR];
    char backend[16];          /* the back end that installed the rules */
    char pending_backend[16];  /* ... and the pending ones */
};

struct isolation {
    struct agent *a;
    const struct agent_conf *conf;
    const struct iso_backend *be; /* in force (or the configured one) */
    uv_timer_t check;
    int active;                /* isolated (verified) */
    struct iso_state st;       /* as last written */
    char *fingerprint;         /* what the installed rules looked like */
    struct vg_ratelimit rl, rl_report;
    /* Repairs reported (log and event) at a bounded pace; the rest are
     * counted and reported in one line: a loop that deletes the table
     * cannot flood the audit log. */
    struct vg_ratelimit rl_tamper;
    uint64_t tamper_unreported;
    /* the command in progress */
    int busy;
    iso_done_fn done;
    void *done_ctx;
    const struct iso_backend *be_next;
    struct iso_spec next;
    char next_id[VG_UUID_STR];
    char peer_host[ISO_NAME_MAX];
    uv_work_t work;
    char resolve_err[512];
    /* nftables change notifications: a change is checked at once. */
    uv_poll_t watch;
    int watch_fd;
    uint64_t notified_us; /* when the change that runs the check was seen */
    /* The keeper: started for this isolation, and seen running since. */
    int keeper_started, keeper_seen;
};

/* Set by isolation_restore for isolation_new: what to report, and
 * whether the isolation is in force. */
static char restore_note[300];
static int restore_applied;

/* Takes STATE_DIR/isolation.lock: returns the descriptor (close it to
 * let go), or -1 if another holds it (wait: block until it is free). */
static int state_lock(const struct agent_conf *c, int wait)
{
    char path[4096];
    int fd;
    snprintf(path, sizeof(path), "%s/%s", c->state_dir, LOCK_FILE);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return wait ? -2 : -1; /* -2: no lock to take; go on without */
    if (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static const struct iso_backend *backend_named(const char *name)
{
    if (strcmp(name, "iptables") == 0)
        return &iso_ipt_backend;
    if (strcmp(name, "nft") == 0)
        return &iso_nft_backend;
    return NULL;
}

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

/* The back end that installed what the state describes. */
static const struct iso_backend *backend_of(const struct agent_conf *c, const struct iso_state *st)
{
    const struct iso_backend *be = backend_named(st->backend);
    return be ? be : backend_for(c);
}

static void state_path(const struct agent_conf *c, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->state_dir, name);
}

/* ---- the state file ----
 *
 *   { "backend": "nft", "pending_backend": "nft",
 *     "isolated": { "command_id", "since_ms", "collectors": [{"addr", "name"}],
 *                   "allow": [...], "dns": [...], "dhcp": [...] } | null,
 *     "pending":  { "command_id", ...the same lists } | null }
 *
 * "pending" is an isolate applied but not yet proven safe: at start it is
 * dropped, and "isolated" (the isolation before it, if any) re-applied. */

/* "192.0.2.7:22", or "192.0.2.7:22 tcp" for one protocol. */
static json_t *addr_list(const struct iso_addr *v, size_t n)
{
    json_t *a = json_array();
    char txt[VG_NETADDR_STR], item[VG_NETADDR_STR + 8];
    for (size_t i = 0; a && i < n; i++) {
        snprintf(item, sizeof(item), "%s%s", vg_netaddr_format(&v[i], txt, sizeof(txt)),
                 v[i].proto == IPPROTO_TCP ? " tcp" : v[i].proto == IPPROTO_UDP ? " udp" : "");
        json_array_append_new(a, json_string(item));
    }
    return a;
}

static json_t *spec_json(const struct iso_spec *sp, const char *id, int64_t since)
{
    json_t *c = json_array();
    char txt[VG_NETADDR_STR];
    for (size_t i = 0; c && i < sp->ncollectors; i++)
        json_array_append_new(c, json_pack("{s:s, s:s}", "addr",
                                           vg_netaddr_format(&sp->collectors[i], txt,
                                                             sizeof(txt)),
                                           "name", sp->names[i]));
    json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o}", "command_id", id, "since_ms",
                          (json_int_t)since, "collectors", c, "allow",
                          addr_list(sp->allow, sp->nallow), "dns", addr_list(sp->dns, sp->ndns),
                          "dhcp", addr_list(sp->dhcp, sp->ndhcp));
    /* The network process's uid: only its sockets reach the collector. */
    if (o && sp->has_uid)
        json_object_set_new(o, "uid", json_integer((json_int_t)sp->uid));
    return o;
}

static int state_save(const struct agent_conf *c, const struct iso_state *st)
{
    char path[4096], *text;
    json_t *o;
    int rc;

    state_path(c, STATE_FILE, path, sizeof(path));
    if (!st->isolated && !st->pending) {
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        return 0;
    }
    o = json_pack("{s:s, s:s, s:o, s:o}", "backend", st->backend, "pending_backend",
                  st->pending_backend[0] ? st->pending_backend : st->backend, "isolated",
                  st->isolated ? spec_json(&st->spec, st->command_id, st->since_ms)
                               : json_null(),
                  "pending", st->pending ? spec_json(&st->pending_spec, st->pending_id, 0)
                                         : json_null());
    if (!o || !(text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        json_decref(o);
        return -ENOMEM;
    }
    json_decref(o);
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
        char item[VG_NETADDR_STR + 8], *sp;
        uint8_t proto = 0;
        if (!json_is_string(e) || strlen(json_string_value(e)) >= sizeof(item))
            return -1;
        vg_strlcpy(item, json_string_value(e), sizeof(item));
        if ((sp = strchr(item, ' ')) != NULL) {
            *sp++ = '\0';
            if (strcmp(sp, "tcp") == 0)
                proto = IPPROTO_TCP;
            else if (strcmp(sp, "udp") == 0)
                proto = IPPROTO_UDP;
            else
                return -1;
        }
        if (vg_netaddr_parse(item, &v[i], NULL, 0))
            return -1;
        v[i].proto = proto;
        (*n)++;
    }
    return 0;
}

static int spec_load(json_t *o, struct iso_spec *sp, char *id, int64_t *since)
{
    json_t *c = json_object_get(o, "collectors"), *e;
    const char *cid = json_string_value(json_object_get(o, "command_id"));
    size_t i;

    memset(sp, 0, sizeof(*sp));
    if (!cid || strlen(cid) >= VG_UUID_STR || !json_is_array(c) || json_array_size(c) == 0 ||
        json_array_size(c) > ISO_MAX_COLLECTORS)
        return -1;
    json_array_foreach(c, i, e) {
        const char *a = json_string_value(json_object_get(e, "addr"));
        const char *n = json_string_value(json_object_get(e, "name"));
        if (!a || vg_netaddr_parse(a, &sp->collectors[i], NULL, 0) || !sp->collectors[i].port)
            return -1;
        sp->collectors[i].proto = IPPROTO_TCP;
        vg_strlcpy(sp->names[i], n ? n : "", sizeof(sp->names[i]));
        sp->ncollectors++;
    }
    if (addr_list_load(json_object_get(o, "allow"), sp->allow, ISO_MAX_ALLOW, &sp->nallow) ||
        addr_list_load(json_object_get(o, "dns"), sp->dns, ISO_MAX_DNS, &sp->ndns) ||
        addr_list_load(json_object_get(o, "dhcp"), sp->dhcp, ISO_MAX_DHCP, &sp->ndhcp))
        return -1;
    if (json_is_integer(json_object_get(o, "uid"))) {
        json_int_t u = json_integer_value(json_object_get(o, "uid"));
        if (u < 0 || u > (json_int_t)UINT32_MAX - 1)
            return -1;
        sp->uid = (uid_t)u;
        sp->has_uid = 1;
    }
    vg_strlcpy(id, cid, VG_UUID_STR);
    if (since)
        *since = json_integer_value(json_object_get(o, "since_ms"));
    return 0;
}

/* Returns 1 (loaded), 0 (no file) or an error (logged). */
static int state_load(const struct agent_conf *c, struct iso_state *st)
{
    char path[4096], *data = NULL;
    const char *be;
    size_t len;
    json_t *o, *x;
    int rc;

    memset(st, 0, sizeof(*st));
    state_path(c, STATE_FILE, path, sizeof(path));
    rc = vg_file_read(path, 1024 * 1024, &data, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        log_error("[iso] cannot read %s: %s", path, vg_strerror(rc));
        return rc;
    }
    o = json_loadb(data, len, 0, NULL);
    free(data);
    be = o ? json_string_value(json_object_get(o, "backend")) : NULL;
    if (!be || !backend_named(be))
        goto bad;
    vg_strlcpy(st->backend, be, sizeof(st->backend));
    if ((x = json_object_get(o, "isolated")) && !json_is_null(x)) {
        if (spec_load(x, &st->spec, st->command_id, &st->since_ms))
            goto bad;
        st->isolated = 1;
    }
    if ((x = json_object_get(o, "pending")) && !json_is_null(x)) {
        const char *pb = json_string_value(json_object_get(o, "pending_backend"));
        if (spec_load(x, &st->pending_spec, st->pending_id, NULL) || !pb || !backend_named(pb))
            goto bad;
        vg_strlcpy(st->pending_backend, pb, sizeof(st->pending_backend));
        st->pending = 1;
    }
    if (!st->isolated && !st->pending)
        goto bad; /* the file is removed when neither */
    json_decref(o);
    return 1;
bad:
    json_decref(o);
    log_error("[iso] %s is damaged", path);
    return VG_ECORRUPT;
}

int iso_state_spec(const struct agent_conf *c, struct iso_spec *out)
{
    struct iso_state *st = calloc(1, sizeof(*st));
    int rc;
    if (!st)
        return -ENOMEM;
    rc = state_load(c, st);
    if (rc == 1 && st->pending)
        *out = st->pending_spec;
    else if (rc == 1 && st->isolated)
        *out = st->spec;
    else if (rc == 1)
        rc = 0;
    free(st);
    return rc;
}

/* ---- at start ---- */

int iso_restore_rules(const struct agent_conf *conf)
{
    struct iso_state *st = calloc(1, sizeof(*st));
    char err[512];
    int rc;

    if (!st)
        return -ENOMEM;
    rc = state_load(conf, st);
    if (rc == 1 && st->pending) {
        /* An isolate being verified by a running agent, or interrupted:
         * the agent decides at its start.  Not touched here. */
        log_info("[iso] an isolate (command %s) is pending; its rules are left to the agent",
                 st->pending_id);
    } else if (rc == 1 && st->isolated) {
        rc = backend_of(conf, st)->apply(conf, &st->spec, err, sizeof(err));
        if (rc)
            log_error("[iso] the host must be isolated (command %s) but the rules cannot be "
                      "applied: %s", st->command_id, err);
        else
            log_info("[iso] isolation restored (command %s, %zu collector addresses, %zu "
                     "allowed)", st->command_id, st->spec.ncollectors, st->spec.nallow);
    }
    free(st);
    return rc < 0 ? rc : 0;
}

int isolation_restore(const struct agent_conf *conf)
{
    struct iso_state *st = calloc(1, sizeof(*st));
    const struct iso_backend *be;
    char err[512];
    int rc;

    if (!st)
        return -ENOMEM;
    restore_note[0] = '\0';
    restore_applied = 0;
    rc = state_load(conf, st);
    if (rc <= 0)
        goto out;
    be = backend_of(conf, st);
    if (st->pending) {
        /* The agent stopped between applying an isolate and proving the
         * collector reachable: that command never succeeded. */
        const struct iso_backend *pb = backend_named(st->pending_backend);
        log_warnx("[iso] isolate command %s was interrupted before it was verified; %s",
                  st->pending_id, st->isolated ? "going back to the isolation before it"
                                               : "removing it");
        snprintf(restore_note, sizeof(restore_note),
                 "isolate command %s was interrupted by an agent stop before it was verified; "
                 "%s", st->pending_id, st->isolated ? "the isolation before it was restored"
                                                    : "its rules were removed");
        if (pb && (pb != be || !st->isolated) && pb->remove(conf, err, sizeof(err))) {
            /* Kept pending: the next start tries again. */
            log_error("[iso] cannot remove the interrupted isolate's rules: %s", err);
            rc = -EIO;
            goto out;
        }
        st->pending = 0;
        state_save(conf, st);
    }
    if (!st->isolated)
        goto out;
    if ((rc = be->apply(conf, &st->spec, err, sizeof(err))) != 0) {
        log_error("[iso] the host must be isolated (command %s) but the rules cannot be "
                  "applied: %s; retrying every check interval", st->command_id, err);
        goto out;
    }
    restore_applied = 1;
    log_info("[iso] isolation restored (command %s, %zu collector addresses, %zu allowed)",
             st->command_id, st->spec.ncollectors, st->spec.nallow);
out:
    free(st);
    return rc < 0 ? rc : 0;
}

void isolation_pins(const struct isolation *iso, struct vg_ps_pins *out)
{
    memset(out, 0, sizeof(*out));
    if (!iso || !iso->active)
        return;
    for (size_t i = 0; i < iso->st.spec.ncollectors && out->n < VG_PS_PINS_MAX; i++) {
        const struct iso_addr *a = &iso->st.spec.collectors[i];
        struct vg_ps_pin *p = &out->v[out->n];
        if (a->family != AF_INET && a->family != AF_INET6)
            continue;
        vg_strlcpy(p->host, iso->st.spec.names[i], sizeof(p->host));
        p->addr.family = (uint8_t)a->family;
        memcpy(p->addr.addr, a->addr, a->family == AF_INET ? 4 : 16);
        p->addr.port = a->port;
        out->n++;
    }
}

/* ---- events ---- */

static void emit(struct isolation *iso, const char *change, const char *detail)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__IsolationState st = VIGIL__V1__ISOLATION_STATE__INIT;
    char txt[ISO_MAX_ALLOW][VG_NETADDR_STR];
    char *allowed[ISO_MAX_ALLOW];

    for (size_t i = 0; iso->active && i < iso->st.spec.nallow; i++)
        allowed[i] = vg_netaddr_format(&iso->st.spec.allow[i], txt[i], sizeof(txt[i]));
    st.isolated = iso->active;
    st.command_id = iso->active ? iso->st.command_id : "";
    st.allowed = allowed;
    st.n_allowed = iso->active ? iso->st.spec.nallow : 0;
    st.since_time_ms = iso->active ? iso->st.since_ms : 0;
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

static void set_inactive(struct isolation *iso)
{
    iso->active = 0;
    monitor_pins_changed(iso->a->mon);
    iso->st.isolated = 0;
    iso->keeper_started = iso->keeper_seen = 0;
    iso->a->iso_verified_ms = 0;
    free(iso->fingerprint);
    iso->fingerprint = NULL;
}

/* ---- break-glass ---- */

/* A release made with `vigil-agent release --token`: reported once. */
static int breakglass_pending(const struct agent_conf *c, char *detail, size_t len)
{
    char path[4096], *data = NULL;
    size_t n;
    state_path(c, BREAKGLASS_FILE, path, sizeof(path));
    if (vg_file_read(path, 4096, &data, &n) != 0)
        return 0;
    snprintf(detail, len, "%s", data);
    free(data);
    return 1;
}

static void breakglass_reported(const struct agent_conf *c)
{
    char path[4096];
    state_path(c, BREAKGLASS_FILE, path, sizeof(path));
    unlink(path);
}

/* ---- the tamper check ---- */

static int addrs_equal(const struct iso_addr *a, const struct iso_addr *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!vg_netaddr_equal(&a[i], &b[i]))
            return 0;
    return 1;
}

/* Member by member: padding bytes are not part of the spec. */
int iso_spec_equal(const struct iso_spec *a, const struct iso_spec *b)
{
    if (a->ncollectors != b->ncollectors || a->nallow != b->nallow || a->ndns != b->ndns ||
        a->ndhcp != b->ndhcp || a->has_uid != b->has_uid || (a->has_uid && a->uid != b->uid))
        return 0;
    for (size_t i = 0; i < a->ncollectors; i++)
        if (strncmp(a->names[i], b->names[i], sizeof(a->names[i])) != 0)
            return 0;
    return addrs_equal(a->collectors, b->collectors, a->ncollectors) &&
           addrs_equal(a->allow, b->allow, a->nallow) && addrs_equal(a->dns, b->dns, a->ndns) &&
           addrs_equal(a->dhcp, b->dhcp, a->ndhcp);
}

static void check(struct isolation *iso, struct iso_state *st);

static void check_now(struct isolation *iso)
{
    struct iso_state *st = calloc(1, sizeof(*st));
    int lock;

    if (!st || iso->busy) {
        free(st);
        return;
    }
    /* `vigil-agent release` at work: look again next time. */
    if ((lock = state_lock(iso->conf, 0)) == -1) {
        free(st);
        return;
    }
    check(iso, st);
    if (lock >= 0)
        close(lock);
    free(st);
}

static void check_cb(uv_timer_t *t)
{
    check_now(t->data);
}

/* The keeper holds the owned copy of the rules (nft only): started once
 * per isolation; gone after it was seen running means someone stopped
 * it, which is reported and undone. */
static void keeper_check(struct isolation *iso)
{
    if (iso->be != &iso_nft_backend)
        return;
    if (iso_keeper_running(iso->conf)) {
        iso->keeper_seen = 1;
        return;
    }
    if (iso->keeper_seen) {
        const char *d = "the isolation keeper process was stopped outside Vigil; started again";
        log_warnx("[iso] tampering: %s", d);
        emit(iso, "tampered", d);
    } else if (iso->keeper_started) {
        return; /* it could not run here: its log says why */
    }
    iso->keeper_seen = 0;
    if (iso_keeper_ensure(iso->conf) >= 0)
        iso->keeper_started = 1;
}

/* The rules were found in place (or put back): the health report says
 * when, so that the collector can tell a confirmed isolation from one
 * it has not heard about lately. */
static void confirmed(struct isolation *iso)
{
    iso->a->iso_verified_ms = vg_time_now_ms();
    keeper_check(iso);
}

/* nftables notifications (NFNLGRP_NFTABLES): any change to any table
 * runs the check now, not at the next tick, so that a flushed ruleset
 * is put back within milliseconds. */
static void watch_cb(uv_poll_t *h, int status, int events)
{
    struct isolation *iso = h->data;
    char buf[8192];
    int any = 0;

    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < 256; i++) {
        ssize_t n = recv(iso->watch_fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != ENOBUFS) /* ENOBUFS: missed some; still a change */
            break;
        any = 1;
    }
    if (any && iso->active && !iso->busy) {
        iso->notified_us = vg_time_mono_us();
        check_now(iso);
        iso->notified_us = 0;
    }
}

static void watch_start(struct isolation *iso)
{
    struct sockaddr_nl sa;
    char every[VG_FMT_MAX];
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);

    iso->watch_fd = -1;
    if (fd < 0) {
        log_warn("[iso] no nftables notifications (the rules are checked every %s)",
                 vg_fmt_duration(iso->conf->isolation_check_ms, every, sizeof(every)));
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = 1U << (NFNLGRP_NFTABLES - 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        uv_poll_init(iso->a->loop, &iso->watch, fd) != 0) {
        log_warn("[iso] no nftables notifications (the rules are checked every %s)",
                 vg_fmt_duration(iso->conf->isolation_check_ms, every, sizeof(every)));
        close(fd);
        return;
    }
    iso->watch_fd = fd;
    iso->watch.data = iso;
    uv_poll_start(&iso->watch, UV_READABLE, watch_cb);
}

static void check(struct isolation *iso, struct iso_state *st)
{
    char err[512], detail[700], *now = NULL;
    int rc, loaded;
    uint64_t sup;

    loaded = state_load(iso->conf, st);
    if (!iso->active) {
        if (breakglass_pending(iso->conf, detail, sizeof(detail))) {
            /* Used on a host that was not isolated, or whose rules could
             * not be applied: still reported. */
            emit(iso, "break-glass", detail);
            breakglass_reported(iso->conf);
            return;
        }
        /* The restore at start failed: try again. */
        if (loaded == 1 && st->isolated && !st->pending &&
            backend_of(iso->conf, st)->apply(iso->conf, &st->spec, err, sizeof(err)) == 0) {
            iso->st = *st;
            iso->be = backend_of(iso->conf, st);
            iso->active = 1;
            monitor_pins_changed(iso->a->mon);
            refresh_fingerprint(iso);
            log_info("[iso] isolation applied (command %s)", st->command_id);
            emit(iso, "restored", "isolation applied again after it could not be at start");
            confirmed(iso);
        }
        return;
    }
    if (loaded == 0 && breakglass_pending(iso->conf, detail, sizeof(detail))) {
        set_inactive(iso);
        log_warnx("[iso] released locally with a break-glass token: %s", detail);
        emit(iso, "break-glass", detail);
        breakglass_reported(iso->conf);
        return;
    }
    if (loaded != 1 || !st->isolated || st->pending || st->since_ms != iso->st.since_ms ||
        strcmp(st->backend, iso->st.backend) != 0 ||
        strcmp(st->command_id, iso->st.command_id) != 0 || !iso_spec_equal(&st->spec, &iso->st.spec)) {
        /* Removed, damaged or edited: what the agent holds is the truth. */
        state_save(iso->conf, &iso->st);
        snprintf(detail, sizeof(detail), "the isolation state file was %s outside Vigil; "
                 "written again", loaded == 0 ? "removed" : "changed");
        log_warnx("[iso] tampering: %s", detail);
        emit(iso, "tampered", detail);
    }
    rc = iso->be->fingerprint(iso->conf, &now, err, sizeof(err));
    if (rc == 0 && now && iso->fingerprint && strcmp(now, iso->fingerprint) == 0) {
        free(now);
        if (iso->tamper_unreported && vg_ratelimit(&iso->rl_tamper, &sup)) {
            snprintf(detail, sizeof(detail), "the isolation rules were changed or removed "
                     "outside Vigil %llu more times since the last report; applied again each "
                     "time", (unsigned long long)iso->tamper_unreported);
            log_warnx("[iso] tampering: %s", detail);
            emit(iso, "tampered", detail);
            iso->tamper_unreported = 0;
        }
        confirmed(iso);
        return;
    }
    snprintf(detail, sizeof(detail), "%s",
             rc ? err : !now ? "the isolation rules were removed outside Vigil; applied again"
                             : "the isolation rules were changed outside Vigil; applied again");
    free(now);
    if ((rc = iso->be->apply(iso->conf, &iso->st.spec, err, sizeof(err))) != 0) {
        char msg[1300];
        snprintf(msg, sizeof(msg), "the isolation rules were changed or removed outside Vigil "
                 "and cannot be applied again (%s): the host may not be isolated", err);
        if (vg_ratelimit(&iso->rl, &sup))
            log_error("[iso] tampering: %s", msg);
        if (vg_ratelimit(&iso->rl_report, &sup))
            emit(iso, "tampered", msg);
        return;
    }
    refresh_fingerprint(iso);
    if (!vg_ratelimit(&iso->rl_tamper, &sup)) {
        iso->tamper_unreported++;
    } else {
        if (iso->tamper_unreported) {
            size_t n = strlen(detail);
            snprintf(detail + n, sizeof(detail) - n, " (and %llu more times since the last "
                     "report)", (unsigned long long)iso->tamper_unreported);
            iso->tamper_unreported = 0;
        }
        if (iso->notified_us)
            log_warnx("[iso] tampering: %s (%.1f ms after the change was notified)", detail,
                      (double)(vg_time_mono_us() - iso->notified_us) / 1000.0);
        else
            log_warnx("[iso] tampering: %s", detail);
        emit(iso, "tampered", detail);
    }
    confirmed(iso);
}

struct isolation *isolation_new(struct agent *a)
{
    struct isolation *iso = calloc(1, sizeof(*iso));
    char bg[4096];

    if (!iso)
        return NULL;
    iso->a = a;
    iso->conf = a->conf;
    iso->be = backend_for(a->conf);
    iso->rl = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 5);
    iso->rl_report = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 1);
    iso->rl_tamper = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 10);
    if (state_load(a->conf, &iso->st) == 1 && iso->st.isolated) {
        char *fp = NULL, err[256];
        iso->be = backend_of(a->conf, &iso->st);
        /* Only if isolation_restore managed to apply it. */
        if (restore_applied && iso->be->fingerprint(a->conf, &fp, err, sizeof(err)) == 0 && fp) {
            uid_t uid;
            gid_t gid;
            /* The network process's user may have changed (its uid, or
             * [agent] user): the rules follow, or the collector would be
             * out of reach for good. */
            monitor_child_user(a->mon, &uid, &gid);
            if (iso->st.spec.has_uid && iso->st.spec.uid != uid) {
                log_warnx("[iso] the network process now runs as uid %u, not %u: the isolation "
                          "rules follow", (unsigned)uid, (unsigned)iso->st.spec.uid);
                iso->st.spec.uid = uid;
                if (state_save(a->conf, &iso->st) != 0 ||
                    iso->be->apply(a->conf, &iso->st.spec, err, sizeof(err)) != 0)
                    log_error("[iso] cannot apply the rules for uid %u", (unsigned)uid);
                free(fp);
                fp = NULL;
                iso->be->fingerprint(a->conf, &fp, err, sizeof(err));
            }
            iso->active = 1;
            monitor_pins_changed(iso->a->mon);
            iso->fingerprint = fp;
            emit(iso, "restored", restore_note[0] ? restore_note
                                                  : "isolation re-applied at agent start");
            confirmed(iso);
        }
    } else {
        memset(&iso->st, 0, sizeof(iso->st));
        if (restore_note[0])
            emit(iso, "interrupted", restore_note);
    }
    if (!iso->active && breakglass_pending(a->conf, bg, sizeof(bg))) {
        emit(iso, "break-glass", bg);
        breakglass_reported(a->conf);
    }
    watch_start(iso);
    uv_timer_init(a->loop, &iso->check);
    iso->check.data = iso;
    uv_timer_start(&iso->check, check_cb, a->conf->isolation_check_ms,
                   a->conf->isolation_check_ms);
    return iso;
}

static void watch_closed(uv_handle_t *h)
{
    struct isolation *iso = h->data;
    close(iso->watch_fd);
    iso->watch_fd = -1;
}

void isolation_stop(struct isolation *iso)
{
    if (!iso)
        return;
    uv_close((uv_handle_t *)&iso->check, NULL);
    if (iso->watch_fd >= 0)
        uv_close((uv_handle_t *)&iso->watch, watch_closed);
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
    int rc = 0;
    char e2[300];

    iso->st.pending = 0;
    if (iso->be_next && iso->be_next != iso->be &&
        iso->be_next->remove(iso->conf, e2, sizeof(e2)) != 0)
        log_warnx("[iso] cannot remove the new rules: %s", e2);
    if (iso->active) {
        rc = iso->be->apply(iso->conf, &iso->st.spec, err, errlen);
        refresh_fingerprint(iso);
    } else {
        rc = iso->be->remove(iso->conf, err, errlen);
    }
    if (state_save(iso->conf, &iso->st) != 0)
        log_error("[iso] cannot update the isolation state file");
    return rc;
}

/* Worker thread: resolves every collector address (and reads the
 * resolvers and DHCP leases), so that nothing needs DNS once isolated.
 * With [collector] proxy the agent reaches only the proxy, and the
 * proxy the collector: the proxy's addresses are the ones let through
 * (and pinned), under the proxy's name, which the network process looks
 * them up by. */
static void resolve_work(uv_work_t *w)
{
    struct isolation *iso = w->data;
    struct iso_spec *sp = &iso->next;
    const struct vg_strlist *l = &iso->conf->address;
    struct vg_proxy px;
    char pxaddr[300];
    const char *proxy_only[1];
    struct vg_strlist pl = { (char **)proxy_only, 1 };

    iso->resolve_err[0] = '\0';
    memset(&px, 0, sizeof(px));
    if (iso->conf->proxy && iso->conf->proxy[0]) {
        if (vg_proxy_parse(iso->conf->proxy, &px, iso->resolve_err,
                           sizeof(iso->resolve_err)) != 0)
            return;
        vg_proxy_clear(&px); /* the credentials are not needed here */
        proxy_only[0] = vg_proxy_name(&px, pxaddr, sizeof(pxaddr));
        l = &pl;
    }
    for (size_t i = 0; i < l->n; i++) {
        char host[ISO_NAME_MAX], port[8];
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
            if (sockaddr_to_addr(r->ai_addr, &x) != 0)
                continue;
            vg_strlcpy(sp->names[sp->ncollectors], host, ISO_NAME_MAX);
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
    iso_dhcp_servers(iso_lease_globs, sp);
}

static void probe_done(void *ctx, int rc, const char *why)
{
    struct isolation *iso = ctx;
    char msg[900], err[400];

    if (rc == 0) {
        struct iso_state saved = iso->st;
        int was = iso->active;
        iso->st.isolated = 1;
        iso->st.spec = iso->next;
        vg_strlcpy(iso->st.command_id, iso->next_id, sizeof(iso->st.command_id));
        if (!was)
            iso->st.since_ms = vg_time_now_ms();
        iso->st.pending = 0;
        vg_strlcpy(iso->st.backend, iso->be_next->name, sizeof(iso->st.backend));
        if (state_save(iso->conf, &iso->st) != 0) {
            /* Unrecorded, a restart would lift it: undo instead. */
            iso->st = saved;
            if (put_back(iso, err, sizeof(err)) != 0)
                log_error("[iso] cannot undo the isolation: %s", err);
            finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
                   "not isolated: the isolation could not be recorded in the state directory, "
                   "so it would not survive a restart; the host is as it was");
            return;
        }
        if (was && iso->be != iso->be_next) {
            char e2[300];
            if (iso->be->remove(iso->conf, e2, sizeof(e2)) != 0)
                log_warnx("[iso] cannot remove the %s rules: %s", iso->be->name, e2);
        }
        iso->be = iso->be_next;
        iso->active = 1;
        monitor_pins_changed(iso->a->mon);
        refresh_fingerprint(iso);
        {
            char extra[160] = "";
            if (iso->st.spec.nallow)
                snprintf(extra, sizeof(extra), ", %zu allowed address%s", iso->st.spec.nallow,
                         iso->st.spec.nallow == 1 ? "" : "es");
            int px = iso->conf->proxy && iso->conf->proxy[0];
            snprintf(msg, sizeof(msg),
                     "isolated (%s): the host reaches only its collector%s (%zu address%s), "
                     "loopback, DHCP%s%s; a new connection to the collector succeeded after "
                     "isolating",
                     iso->be->name, px ? "'s proxy, [collector] proxy" : "",
                     iso->st.spec.ncollectors, iso->st.spec.ncollectors == 1 ? "" : "es",
                     iso->st.spec.ndns ? ", DNS to its resolvers" : "", extra);
        }
        emit(iso, was ? "updated" : "isolated", msg);
        confirmed(iso);
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
             "connection within %llu s after isolating (%s); the host is as it was before the "
             "command", (unsigned long long)(iso->conf->isolation_verify_ms / 1000), why);
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
    /* The connection and its name, read together. */
    have_peer = monitor_peer(iso->a->mon, &peer) == 0;
    vg_strlcpy(iso->peer_host, have_peer ? monitor_host(iso->a->mon) : "",
               sizeof(iso->peer_host));
    /* The connection in use is always allowed, whatever DNS said. */
    if (have_peer && sp->ncollectors < ISO_MAX_COLLECTORS) {
        struct iso_addr x;
        int dup = 0;
        if (sockaddr_to_addr((struct sockaddr *)&peer, &x) == 0) {
            for (size_t i = 0; i < sp->ncollectors; i++)
                dup |= vg_netaddr_equal(&sp->collectors[i], &x) &&
                       strcmp(sp->names[i], iso->peer_host) == 0;
            if (!dup) {
                vg_strlcpy(sp->names[sp->ncollectors], iso->peer_host, ISO_NAME_MAX);
                sp->collectors[sp->ncollectors++] = x;
            }
        }
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
    /* Recorded as pending first: if the agent dies before the proof, the
     * next start goes back to what was before rather than keep an
     * unproven set. */
    iso->st.pending = 1;
    iso->st.pending_spec = *sp;
    vg_strlcpy(iso->st.pending_id, iso->next_id, sizeof(iso->st.pending_id));
    vg_strlcpy(iso->st.pending_backend, iso->be_next->name, sizeof(iso->st.pending_backend));
    if (!iso->active)
        vg_strlcpy(iso->st.backend, iso->be_next->name, sizeof(iso->st.backend));
    if (state_save(iso->conf, &iso->st) != 0) {
        iso->st.pending = 0;
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
               "not isolated: cannot write the isolation state file");
        return;
    }
    if (iso->be_next->apply(iso->conf, sp, err, sizeof(err)) != 0) {
        char e2[300];
        put_back(iso, e2, sizeof(e2));
        snprintf(msg, sizeof(msg), "not isolated: the rules could not be applied (%s); the "
                 "host is as it was", err);
        finish(iso, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
        return;
    }
    if (monitor_probe(iso->a->mon, (struct sockaddr *)&peer,
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
    {
        gid_t gid;
        monitor_child_user(iso->a->mon, &iso->next.uid, &gid);
        iso->next.has_uid = 1;
    }
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
    iso->be_next = backend_for(iso->conf);
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
    struct iso_state saved;
    char err[512], msg[700];
    int was;

    (void)cmd;
    if (!iso || iso->busy) {
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
             "another isolation command is running");
        return;
    }
    was = iso->active;
    saved = iso->st;
    /* State first: the tamper check must not put back what is released. */
    memset(&iso->st, 0, sizeof(iso->st));
    if (state_save(iso->conf, &iso->st) != 0) {
        iso->st = saved;
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED,
             "not released: cannot remove the isolation state file");
        return;
    }
    if (iso->be->remove(iso->conf, err, sizeof(err)) != 0) {
        iso->st = saved;
        state_save(iso->conf, &iso->st);
        snprintf(msg, sizeof(msg), "not released: %s", err);
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
        return;
    }
    set_inactive(iso);
    iso_keeper_released(iso->conf);
    snprintf(msg, sizeof(msg), was ? "released: the isolation rules were removed; the rest of "
                                     "the host's firewall is untouched"
                                   : "the host was not isolated; nothing to release");
    if (was)
        emit(iso, "released", msg);
    iso->be = backend_for(iso->conf);
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
    struct iso_state *st = NULL;
    const struct iso_backend *be;
    char err[512], why[400], path[4096], detail[1200], when[VG_TIME_STR_MAX];
    char *data = NULL;
    size_t len;
    int c, rc = 1, lrc = 0, lock = -1;

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
    st = calloc(1, sizeof(*st));
    if (!st) {
        fprintf(stderr, "vigil-agent release: out of memory\n");
        goto out;
    }
    /* A running agent's tamper check waits while this works. */
    lock = state_lock(&conf, 1);
    if ((lrc = state_load(&conf, st)) < 0) {
        fprintf(stderr, "vigil-agent release: the isolation state in %s cannot be read; "
                "removing the rules anyway\n", conf.state_dir);
        memset(st, 0, sizeof(*st));
    }
    be = lrc == 1 ? backend_of(&conf, st) : backend_for(&conf);
    {
        char *fp = NULL;
        if (lrc == 0 && be->fingerprint(&conf, &fp, err, sizeof(err)) == 0 && !fp) {
            printf("host %s is not isolated; nothing to release (the token was not used)\n",
                   me.cn);
            rc = 0;
            goto out;
        }
        free(fp);
    }
    /* A token works only for an isolation that began before it was
     * issued: an old token cannot undo a later incident's isolation. */
    if (lrc == 1 && st->isolated && tok.issued_ms + TOKEN_SKEW_MS < st->since_ms) {
        char t1[VG_TIME_STR_MAX], t2[VG_TIME_STR_MAX];
        fprintf(stderr, "vigil-agent release: token refused: it was issued at %s, before this "
                "isolation began (%s); ask for a new one\n",
                vg_time_format(tok.issued_ms, t1, sizeof(t1)),
                vg_time_format(st->since_ms, t2, sizeof(t2)));
        goto out;
    }
    snprintf(detail, sizeof(detail), "token %s issued by %s at %s; reason: %s", tok.token_id,
             tok.operator_name, vg_time_format(tok.issued_ms, when, sizeof(when)), tok.reason);
    /* Order: the report, then the state, then the rules, so that a
     * running agent sees a break-glass release, not tampering; the token
     * is spent once the rules are gone. */
    state_path(&conf, BREAKGLASS_FILE, path, sizeof(path));
    if (vg_file_write_atomic(path, detail, strlen(detail), 0600, 0) != 0) {
        fprintf(stderr, "vigil-agent release: cannot write to %s\n", conf.state_dir);
        goto out;
    }
    {
        struct iso_state none;
        memset(&none, 0, sizeof(none));
        state_save(&conf, &none);
    }
    if (be->remove(&conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigil-agent release: cannot remove the isolation rules: %s\n", err);
        if (lrc == 1)
            state_save(&conf, st);
        unlink(path);
        goto out;
    }
    iso_keeper_released(&conf);
    if (token_mark_used(&conf, tok.token_id) != 0)
        fprintf(stderr, "vigil-agent release: warning: cannot record the token as used\n");
    printf("released: host %s is no longer isolated (break-glass %s).\n"
           "The collector is told when the agent next connects.\n",
           me.cn, detail);
    rc = 0;
out:
    if (lock >= 0)
        close(lock);
    free(st);
    free(data);
    vg_cert_free(ca);
    vg_cert_free(self);
    vg_conf_free(agent_conf_keys, &conf);
    return rc;
}
