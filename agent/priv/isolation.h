/*
 * Network isolation of the host (cmd_isolate.c, cmd_isolate_nft.c).
 *
 * While isolated, the host talks to nothing but its collectors, loopback,
 * DHCP, the operator's --allow list and (with [isolation] allow_dns) its
 * resolvers.  The rules live in a table of the agent's own and are
 * described by an iso_spec; the spec is persisted in STATE_DIR/isolation
 * so that a restart, a reboot or an upgrade re-applies it before the
 * agent does anything else.
 */
#ifndef VG_ISOLATION_H
#define VG_ISOLATION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "agent.h"
#include "netaddr.h"

#define ISO_MAX_COLLECTORS 32
#define ISO_MAX_ALLOW 64
#define ISO_MAX_DNS 8
#define ISO_MAX_DHCP 8
#define ISO_NAME_MAX 256
/* The conntrack mark of the collector connection ("vigl"). */
#define ISO_CTMARK "0x7669676c"
/* The keeper's table (iso_keeper.c), owned by its netlink socket. */
#define ISO_KEEP_TABLE "vigil_isolation_keep"

#define iso_addr vg_netaddr

/* Zero it before filling it; spec_equal compares the entries in use. */
struct iso_spec {
    struct iso_addr collectors[ISO_MAX_COLLECTORS]; /* tcp, to their port */
    /* The [collector] address host each came from: while isolated the
     * agent connects to these addresses, since DNS is cut. */
    char names[ISO_MAX_COLLECTORS][ISO_NAME_MAX];
    size_t ncollectors;
    struct iso_addr allow[ISO_MAX_ALLOW];
    size_t nallow;
    struct iso_addr dns[ISO_MAX_DNS];
    size_t ndns;
    /* DHCPv4 servers of the leases in force at isolation (none: no DHCP). */
    struct iso_addr dhcp[ISO_MAX_DHCP];
    size_t ndhcp;
    /* The network process's uid: only its sockets reach the collector
     * (has_uid 0: by address and port only, as agents before 0.9 did). */
    uid_t uid;
    int has_uid;
};


/* A firewall back end (cmd_isolate_nft.c, cmd_isolate_ipt.c). */
struct iso_backend {
    const char *name;
    /* 1 if usable on this host. */
    int (*available)(const struct agent_conf *c);
    /* Installs spec, replacing what the agent had installed before.
     * Returns 0 or an error with err. */
    int (*apply)(const struct agent_conf *c, const struct iso_spec *spec, char *err,
                 size_t errlen);
    /* Removes exactly what apply installed; absent is fine. */
    int (*remove)(const struct agent_conf *c, char *err, size_t errlen);
    /* A text that changes when the installed rules change (or stop
     * being first in line); *out NULL when they are absent.  Returns 0
     * or an error. */
    int (*fingerprint)(const struct agent_conf *c, char **out, char *err, size_t errlen);
};

extern const struct iso_backend iso_nft_backend;
extern const struct iso_backend iso_ipt_backend;

/* Renders spec as an nft script (for tests); the keeper's, owned table. */
int iso_nft_script(const struct iso_spec *spec, char **out);
int iso_nft_keep_script(const struct iso_spec *spec, char **out);
/* In the keeper: installs spec as its owned table (NULL: removes it),
 * through a netlink socket held until the process ends.  Returns 0 or
 * -EIO with nft's error in err. */
int iso_nft_keep(const struct iso_spec *spec, char *err, size_t errlen);
/* 1 if some keeper's table is in the ruleset. */
int iso_nft_keep_present(void);
/* Renders spec as iptables-restore input for one family (AF_INET or
 * AF_INET6): deletes njumps[i] existing jumps from INPUT, OUTPUT and
 * FORWARD (NULL: none) and inserts one on top of each. */
int iso_ipt_script(const struct iso_spec *spec, int family, const unsigned njumps[3], char **out);

/* ---- the agent side (cmd_isolate.c) ---- */

struct isolation;

/* At start, before anything else: re-applies a persisted isolation
 * (and drops an isolate that was interrupted before it was verified).
 * Returns 0 (also when there was none) or an error, logged (the check
 * timer keeps trying). */
int isolation_restore(const struct agent_conf *conf);
/* The keeper's --restore (at boot): applies the isolation in force from
 * the state file, and leaves a pending isolate and the state file alone.
 * Returns 0 or an error (logged). */
int iso_restore_rules(const struct agent_conf *conf);
/* While isolated: the collector addresses resolved before isolating,
 * with the [collector] host each came from (n = 0 when not isolated). */
struct vg_ps_pins;
void isolation_pins(const struct isolation *iso, struct vg_ps_pins *out);
/* Starts the tamper check and reports a break-glass release made while
 * the agent was stopped.  Returns NULL on allocation failure. */
struct isolation *isolation_new(struct agent *a);
void isolation_stop(struct isolation *iso);
void isolation_free(struct isolation *iso);
/* 1 while isolated (for the health report). */
int isolation_active(const struct isolation *iso);

/* Runs an isolate or release command; done(ctx, state, message) once,
 * with a vigil.v1.CommandState. */
typedef void (*iso_done_fn)(void *ctx, int state, const char *message);
void isolation_isolate(struct isolation *iso, const Vigil__V1__Command *cmd, iso_done_fn done,
                       void *ctx);
void isolation_release(struct isolation *iso, const Vigil__V1__Command *cmd, iso_done_fn done,
                       void *ctx);

/* vigil-agent release --token FILE [-c CONF]. */
int agent_release_main(int argc, char **argv);

/* The DHCP lease files looked at (globs, NULL-terminated). */
extern const char *const iso_lease_globs[];
/* Adds to sp->dhcp the servers of the leases in force in the files
 * matching pats: files root's alone, leases unexpired, for an address
 * this host holds (the newest dhclient block per interface). */
void iso_dhcp_servers(const char *const *pats, struct iso_spec *sp);

/* What the isolation state file asks for: the spec to enforce (the
 * pending one while an isolate is being verified, else the isolation in
 * force).  Returns 1 with *out, 0 when not isolated, or an error. */
int iso_state_spec(const struct agent_conf *c, struct iso_spec *out);
/* 1 if a and b describe the same rules (member by member). */
int iso_spec_equal(const struct iso_spec *a, const struct iso_spec *b);

/* ---- the keeper (iso_keeper.c; the process: iso_keeper_main.c) ----
 *
 * A small process that holds the owned copy of the rules while the host
 * is isolated, so that neither a flushed ruleset nor a killed agent
 * opens the host.  It follows STATE_DIR/isolation (inotify). */

/* vigil-agent isolation-keeper [-c CONF] [--restore] [--follow]. */
int agent_keeper_main(int argc, char **argv);
/* Starts a keeper unless one runs for this state directory (nft back end
 * only).  Returns 1 started, 0 one runs already, or an error (logged). */
int iso_keeper_ensure(const struct agent_conf *c);
/* After a release: waits (up to 3 s) for the keeper to drop its table,
 * then stops it. */
void iso_keeper_released(const struct agent_conf *c);
/* 1 if a keeper holds the state directory's keeper lock. */
int iso_keeper_running(const struct agent_conf *c);
/* STATE_DIR/isolation-keeper.lock, the keeper's for its life. */
void iso_keeper_lock_path(const struct agent_conf *c, char *out, size_t len);
/* Sleeps ms milliseconds (through signals). */
void iso_sleep_ms(long ms);

#endif
