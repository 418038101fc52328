/*
 * vigil-agent internals.
 *
 * The agent is shaped for privilege separation (a later step splits it
 * into processes, as OpenSSH does): the collecting side (inputs, later
 * command executors) and the network side (queue, transport, protobuf
 * framing) meet only through the bus below, whose messages are
 * self-contained byte strings that can cross a socketpair unchanged.
 */
#ifndef VG_AGENT_H
#define VG_AGENT_H

#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "crypto.h"
#include "vigil/v1/envelope.pb-c.h"

enum iso_backend_kind { ISO_BACKEND_AUTO, ISO_BACKEND_NFT, ISO_BACKEND_IPTABLES };
enum proc_source_kind { PROC_SRC_AUTO, PROC_SRC_EBPF, PROC_SRC_NETLINK, PROC_SRC_PROC, PROC_SRC_OFF };

struct agent_conf {
    /* [agent] */
    char *state_dir;
    struct vg_strlist tags;
    char *log_level;
    char *user;
    uint64_t health_interval_ms;
    /* [collector] */
    struct vg_strlist address;
    uint64_t backoff_base_ms, backoff_cap_ms;
    uint64_t heartbeat_ms, dead_after_ms;
    uint64_t window;
    char *proxy, *proxy_auth_file; /* http://[USER:PASSWORD@]HOST:PORT; its credentials */
    /* [batch] */
    uint64_t batch_max_events, batch_max_bytes, batch_max_age_ms;
    /* [spool] */
    uint64_t spool_max_bytes, spool_memory_max;
    int spool_fsync; /* enum spool_fsync */
    uint64_t spool_fsync_interval_ms;
    /* [os] */
    uint64_t os_check_ms, os_interval_ms;
    /* [inventory] */
    char *inventory_root;
    uint64_t inventory_poll_ms;
    uint64_t pending_interval_ms;
    uint64_t history_days;
    /* [telemetry] */
    int process_source; /* enum proc_source_kind */
    uint64_t process_snapshot_ms, process_scan_ms;
    uint64_t exec_rate_per_exe;
    uint64_t hash_max_size;
    uint64_t ring_buffer_size;
    char *bpf_pin_dir; /* "": not pinned */
    /* [isolation] */
    int isolation_backend; /* enum iso_backend_kind */
    char *isolation_iptables;
    int isolation_allow_dns;
    uint64_t isolation_check_ms, isolation_verify_ms;
    /* [enroll] */
    char *enroll_address, *enroll_token, *enroll_token_file;
    int enroll_remove_token_file;
    /* [triage] */
    struct vg_strlist triage_paths;
    /* [dummy] */
    uint64_t dummy_rate, dummy_size;
    /* [tls] */
    char *ca, *cert, *key, *server_name;
    /* [metrics] */
    char *metrics_listen;
    int metrics_allow_remote;
};

extern const struct vg_conf_key agent_conf_keys[];
/* The command line and configuration start-up (conf.c). */
struct vg_daemon;
extern const struct vg_daemon agent_daemon;

/* ---- the bus: collecting side -> network side ---- */

/* Counters the network side exposes to the collecting side (health). */
struct agent_stats {
    uint64_t queued_events;   /* in the open batch */
    uint64_t queued_batches;  /* closed, not yet acknowledged */
    uint64_t queued_bytes;
    uint64_t events_total, batches_sent, reconnects, dropped_total;
};

struct agent;

/* Hands one encoded vigil.v1.Event to the network side.  Returns 0 or an
 * error (the event is then counted as lost). */
int bus_event(struct agent *a, const uint8_t *event_pb, size_t len);
/* A burst: events handed over between bus_hold() and bus_release() go to
 * the network process together, in one write, at the release (rather
 * than one write each).  Holds nest. */
void bus_hold(struct agent *a);
void bus_release(struct agent *a);
/* Encodes ev and calls bus_event. */
int bus_emit(struct agent *a, const Vigil__V1__Event *ev);
void bus_stats(struct agent *a, struct agent_stats *out);
/* Events handed over and not yet in the spool.  Inputs that can wait
 * (their source buffers, or they are synthetic) hold back above
 * BUS_BACKLOG_HIGH, so that the network process sets the pace. */
#define BUS_BACKLOG_HIGH 4096
size_t bus_backlog(struct agent *a);
/* Events the network process has put in the spool since start, in the
 * order they were handed over. */
uint64_t bus_acked(struct agent *a);
/* Events handed over since start (acknowledged or not): bus_acked()
 * reaching it means every one of them is in the spool. */
uint64_t bus_handed(struct agent *a);
/* Events handed over from now on come from an eBPF ring's record: ring
 * (the map's id, 0: none) up to position pos.  The network process skips
 * those its spool already holds (a ring read again after a restart). */
void bus_origin(struct agent *a, uint32_t ring, uint64_t pos);
/* 1 when an event handed over now goes straight to a live network
 * process; sources whose records can wait in the kernel wait otherwise. */
int bus_ready(struct agent *a);

/* ---- inputs ---- */

struct input;
struct input_ops {
    const char *name;
    /* Starts collecting on loop; returns 0 or an error (logged). */
    int (*init)(struct input *in);
    /* Stops: closes its handles; `done` is called once they are closed. */
    void (*exit)(struct input *in, void (*done)(struct input *in));
};

struct input {
    const struct input_ops *ops;
    struct agent *agent;
    uv_loop_t *loop;
    const struct agent_conf *conf;
    void *priv;
};

extern const struct input_ops in_os_ops;
extern const struct input_ops in_dummy_ops;
extern const struct input_ops in_dpkg_ops;
extern const struct input_ops in_rpm_ops;
extern const struct input_ops in_pending_ops;
extern const struct input_ops in_proc_ops;

/* ---- network side (queue.c, transport.c) ---- */

struct queue;
struct transport;
struct isolation;
struct cmds;
struct uploader;
struct monitor;
struct vg_metrics;

/* OS state read once, as in_os sends it, for `vigil-agent inventory`
 * (in_os.c).  root: the host root ("" or "/": this host).  Returns NULL
 * only when out of memory; free with os_snapshot_free (NULL is fine). */
struct os_snapshot;
struct os_snapshot *os_snapshot_read(const char *root);
/* The state; its strings belong to the snapshot. */
const Vigil__V1__OsState *os_snapshot_state(const struct os_snapshot *s);
void os_snapshot_free(struct os_snapshot *s);

/* The host's name into out (hostname.c): ROOT/etc/hostname when root is
 * set (not "/") and names a host, else the kernel's.  Always
 * NUL-terminated. */
void agent_hostname(const char *root, char *out, size_t outlen);

/* Where the enrollment token comes from: the first of VIGIL_ENROLL_TOKEN
 * (which --enroll-token sets), [enroll] token and [enroll] token_file.
 * Asked by both sides (agent/conf.c): the network process reads the
 * token, the parent removes the file once enrolled. */
enum enroll_token_source { ENROLL_TOKEN_ENV, ENROLL_TOKEN_CONF, ENROLL_TOKEN_FILE };
enum enroll_token_source agent_enroll_token_source(const struct agent_conf *conf);

/* Enrollment, in the root parent (agent/priv/enroll_run.c): with no
 * certificate at [tls] cert, runs the network process in enrollment mode
 * (VIGIL_NET_ENROLL) until it gets one with a token, and installs it
 * (retrying every 30 s); then removes the token file ([enroll]
 * remove_token_file).  With a certificate, only warns again about a token
 * file an enrollment could not remove.  argv: the parent's command line.
 * Returns 0, or VG_ECONFIG. */
int agent_enroll(const struct agent_conf *conf, char **argv);
/* The enrollment process's main (agent/net/child.c); fd: the pipe to the
 * parent, which receives one VG_PS_CERT message. */
int net_enroll_main(int argc, char **argv, int fd);
/* One enrollment attempt (agent/net/enroll.c): reads the token and CA,
 * calls confine (which drops privileges and installs the sandbox), then
 * talks to [enroll] address.  Returns 0 with the key and certificate in
 * *out, VG_ECONFIG (no token, no address: do not retry) or another error,
 * with err. */
struct vg_ps_cert;
int net_enroll_attempt(const struct agent_conf *conf, struct vg_ps_cert *out, char *err,
                       size_t errlen, int (*confine)(void *ctx, char *err, size_t errlen),
                       void *ctx);

/* ---- commands (cmd.c) ---- */

/* Opens the record of commands seen (STATE_DIR/commands).  NULL on
 * failure, logged. */
struct cmds *cmds_new(struct agent *a);
void cmds_free(struct cmds *c);
/* A command from the collector: run at most once, the outcome sent back. */
void cmd_deliver(struct agent *a, const Vigil__V1__Command *cmd);
/* The same, from the flat form the network child sends (lib/psmsg.h). */
struct vg_ps_command;
void cmd_deliver_flat(struct agent *a, const struct vg_ps_command *c);

struct agent {
    uv_loop_t *loop;
    const struct agent_conf *conf;
    char agent_id[VG_CERT_NAME_MAX + 1];
    struct queue *queue;
    struct transport *transport;
    struct input *inputs;
    size_t ninputs;
    size_t inputs_open;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t watchdog; /* systemd */
    int stopping;
    /* The process source in use ("ebpf", ...; "starting" until verified),
     * for the health reports. */
    const char *proc_source;
    struct isolation *iso;
    /* While isolated: when the rules were last found in place (0: not
     * isolated), for the health reports. */
    int64_t iso_verified_ms;
    struct cmds *cmds;
    struct uploader *uploader;
    struct monitor *mon; /* the parent's link to the network child */
    struct vg_metrics *metrics; /* [metrics] listen (agent/priv/metrics.c); NULL: off */
    /* Called when the network process says more events are in the spool
     * (bus_acked() moved); may be NULL. */
    void (*spooled)(void *ctx);
    void *spooled_ctx;
};

/* The metrics endpoint, in the root parent (agent/priv/metrics.c): started
 * when [metrics] listen is set (returns 0, or an error with err), closed
 * at the stop (NULL endpoint: nothing). */
int agent_metrics_start(struct agent *a, char *err, size_t errlen);
void agent_metrics_stop(struct agent *a);

/* The network child's main (agent/net/child.c): fd is its socket to the
 * parent.  Returns the exit status. */
int net_child_main(int argc, char **argv, int fd);

#endif
