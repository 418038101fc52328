/* vigil-collector internals: configuration and the server. */
#ifndef VG_COLLECTOR_H
#define VG_COLLECTOR_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "frame.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "pb.h"
#include "store.h"
#include "tls.h"
#include "vigil/v1/envelope.pb-c.h"

/* Load balancers in [collector] proxy_protocol, at most. */
#define PROXIES_MAX 32

struct collector_conf {
    /* [collector] */
    char *listen;
    char *db;
    char *store_url;          /* [store] url: PostgreSQL (NULL: SQLite at db) */
    char *log_level;
    int sync;                 /* 0 full, 1 normal */
    uint64_t idle_timeout_ms; /* close an agent silent this long */
    uint64_t heartbeat_ms;    /* interval agents are asked to use */
    uint64_t max_frame;
    uint64_t max_connections; /* agent connections at once */
    char *proxy_protocol;     /* load balancers' addresses (server_parse_proxies) */
    char *collections_dir;
    uint64_t collection_max_size;
    /* [retention] */
    uint64_t process_max_age_ms, process_max_rows, collection_max_age_ms;
    uint64_t events_max_age_ms, history_max_age_ms, commands_max_age_ms;
    /* [enroll] */
    char *enroll_listen, *enroll_ca_key, *enroll_ca_cert;
    uint64_t enroll_lifetime_ms;
    /* [report] */
    char *organisation, *distro_info_dir, *security_support_dir;
    uint64_t stale_ms, history_ms, trend_weeks, max_import_size;
    /* [audit] */
    char *audit_key, *audit_checkpoints;
    uint64_t audit_interval_ms;
    int audit_syslog;
    /* [tls] */
    char *ca, *cert, *key;
    uint64_t ticket_lifetime_ms;
    char *ticket_key_file;
    /* [metrics] */
    char *metrics_listen;
    int metrics_allow_remote;
    /* [operators] */
    struct vg_strlist operator_scopes; /* "NAME:KEY=VALUE" (scope.c) */
    /* [export] (export.c) */
    char *export_file;
    uint64_t export_file_max_size, export_file_keep;
    char *export_syslog, *export_syslog_ca, *export_syslog_name;
    char *export_syslog_cert, *export_syslog_key;
    uint64_t export_resend_window_ms, export_hold_ms;
};

extern const struct vg_conf_key collector_conf_keys[];

enum conn_kind { CONN_NEW, CONN_AGENT, CONN_OPERATOR, CONN_ENROLL };

/* Refusals a peer can repeat without end on one connection, each kind
 * reported through its own tally (conn_report): the first few one by one
 * (log, and audit for the audit-worthy), then one summary per interval
 * and one at the close. */
enum conn_report_kind {
    REPORT_UPLOAD,  /* upload chunks refused (no such collect command, another host's) */
    REPORT_REQUEST, /* operator requests refused (role, unknown target) */
    REPORT_RESULT,  /* command results ignored (bad state) */
    REPORT_KINDS
};
#define REPORT_INTERVAL_MS 10000
#define REPORT_BURST 3

struct conn_tally {
    struct vg_tally t;
    char action[32];  /* of the last one */
    char last[480];   /* what the last one was */
};

struct store;
struct store_audit;
struct server;

/* One accepted connection. */
struct conn {
    struct server *srv;
    struct vg_tls_conn *tls;
    struct vg_frame_reader rd;
    enum conn_kind kind;
    int hello_done;
    int64_t host_id;
    int64_t hello_ms;        /* wall clock of its hello (hosts.last_connect_ms) */
    uint8_t epoch[16];
    uint64_t last_rx_ms;
    uint64_t ready_ms;
    uint64_t accept_ms;
    unsigned pending;        /* batches waiting for the commit */
    uint64_t pending_events;
    int paused;              /* reading stopped until the commit (backpressure) */
    Vigil__V1__Envelope *hello_wait; /* its hello, answered once no batch of its host's
                                        earlier connection can still be stored (not
                                        read from meanwhile) */
    struct conn *hw_next, *hw_prev; /* the server's list of waiting hellos */
    int hello_deferred;      /* counted once in hellos_deferred */
    unsigned jobs;           /* requests of its being worked on (a report): not idle */
    int closing;             /* we asked for the close: no more refusals or acks */
    int batch_failed;        /* a batch of its could not be stored (the database's
                                fault): none after it is, so that no later ack or
                                hello skips it; it is resent on the next connection */
    uint64_t serial;         /* unique per accepted connection */
    int op_seen;             /* its operator certificate recorded (operators_seen) */
    int evicted;             /* closed to make room for a newer handshake */
    int spoke;               /* known to have sent bytes in its handshake */
    int proxy_wait;          /* from a load balancer, its PROXY header not read yet */
    int proxy_check;         /* ... or read, LOCAL: a health check unless TLS follows */
    int in_hs;               /* on the server's list of handshakes, oldest first */
    struct conn *hs_next, *hs_prev;
    char addr[64];           /* the peer's address, without its port */
    struct conn_tally tally[REPORT_KINDS];
    struct conn *next, *prev;     /* all connections */
    struct conn *hnext;           /* agent id hash chain */
#ifdef VG_TEST_HOOKS
    /* VIGIL_TEST_UPLOAD_HOLD_EVENTS: an upload acknowledgement held back
     * until this many more events of this connection are stored. */
    uint64_t held_events;
    char held_id[64];
    uint64_t held_next;
#endif
};

struct pending {
    struct conn *c; /* NULL once the connection is gone */
    Vigil__V1__Envelope *env;
    int64_t recv_ms;
    char *reject; /* rejected at decode (a field over its limit): why; owned */
    /* What the store thread needs of the connection, copied when the
     * group is handed over (it never reads c, which the loop may clear):
     * the stream, whether to store it, and which connection it came on. */
    int64_t host_id;
    uint8_t epoch[16];
    uintptr_t from;
    int skip;
};

/* Connection bookkeeping waiting for the group commit, which writes it
 * first in its transaction, in this order: a batch of a connection is
 * never acknowledged before its hello is durable, and a reconnect costs
 * no fsync of its own. */
enum book_kind { BOOK_HELLO, BOOK_CERT, BOOK_DISCONNECT, BOOK_DUPLICATE };
struct book {
    enum book_kind kind;
    int64_t host_id;
    int64_t now;
    int64_t since;              /* BOOK_DISCONNECT: the connection's hello time */
    Vigil__V1__Envelope *hello; /* BOOK_HELLO: the agent's hello; owned */
    char *text;                 /* the peer's address, or the serial (BOOK_CERT); owned */
    char *agent_id;             /* BOOK_DUPLICATE; owned */
};
/* Past this many, bookkeeping is written at once (a store that cannot
 * commit must not make the queue grow without end). */
#define BOOK_MAX 65536

/* A group on its way through the commit: the batches and bookkeeping
 * taken from the server's queues, and what became of each. */
struct commit_job {
    struct pending *pend;
    size_t npend, cappend;
    struct book *book;
    size_t nbook, capbook;
    int *res;  /* per batch: B_* (server.c) */
    int rc;    /* 0, or the error that lost the whole group */
    uint64_t ms; /* how long its transaction took */
    uint64_t us; /* the same in microseconds (the metrics' histogram) */
    uint64_t stored_before; /* batches stored before this group (test hook) */
    uint64_t book_dropped;  /* bookkeeping rows the database refused (book_run) */
};

#define AGENT_HASH 4096
#define COMMIT_BUCKETS 13
#define REFUSE_CODES 16
/* A batch with more events is refused (Ack.rejected_seq) and counted
 * (limits.c, "*.repeated"). */
#define MAX_BATCH_EVENTS 100000
/* Reading from a connection pauses while this much waits for the commit. */
#define PAUSE_BATCHES 64
#define PAUSE_EVENTS 200000
/* ... and every connection pauses while this many wait in total. */
#define PAUSE_TOTAL_BATCHES 4096
/* Connections accepted but not yet through the TLS handshake, in all and
 * from one address (port aside): past either, the oldest such connection
 * (of that address) is closed to make room, so that sockets that never
 * start TLS cannot keep a real agent or operator out. */
/* Connections beyond [collector] max_connections that only operators may
 * use, and descriptors kept for everything else (database, logs,
 * listeners, uploads being written, report jobs). */
#define OPERATOR_RESERVE 64
#define FD_OVERHEAD 256
#define MAX_HANDSHAKING 512
#define MAX_HANDSHAKING_PER_ADDR 32
/* Failed enrollment tries that no token can be blamed for (an unknown
 * token): per address (IPv6 by /64) and from all addresses together, a
 * minute; past either, such tries are refused unchecked (enroll.c). */
#define ENROLL_ADDR_MAX_FAILURES 10
#define ENROLL_MAX_FAILURES 60

struct server {
    uv_loop_t *loop;
    const struct collector_conf *conf;
    uv_tcp_t listener;
    uv_check_t commit;
    uv_timer_t sweep;
    uv_timer_t watchdog; /* systemd */
    uv_signal_t sigterm, sigint, sighup;
    /* SIGHUP: set by the owner after server_start (main.c loads the file
     * and calls server_reload); NULL: ignored. */
    void (*on_reload)(struct server *s);
    struct vg_tls_config *tls;
    struct vg_netaddr proxies[PROXIES_MAX]; /* [collector] proxy_protocol */
    size_t nproxies;
    uint64_t proxy_refused; /* connections from them without a good PROXY header */
    uint64_t proxy_checks;  /* their health checks (LOCAL, or nothing, then a close) */
    char ticket_keys[4096]; /* default [tls] ticket_key_file */
    struct store *store;
    /* The store thread: commits the group on a connection of its own
     * (wstore), so that the loop goes on reading, handshaking and
     * answering operators during an fsync.  job is the group it holds
     * (job_state JOB_*); NULL wstore: commits run on the loop. */
    struct store *wstore;
    uv_thread_t store_thread;
    uv_mutex_t job_mu;
    uv_cond_t job_cv;
    uv_async_t job_done;
    struct commit_job job;
    int job_state, job_quit;
    uint64_t commits, commit_ms_total, commit_ms_max; /* groups committed, and their time */
    uint64_t commit_hold_ms; /* a group failed whole (the database away): none before this */
    /* The metrics endpoint ([metrics] listen; NULL: off) and what only it
     * shows: group commits by duration (metrics.c's bounds, the last
     * slot above them), refusals by the error code sent (Error.Code
     * below REFUSE_CODES; others in 0), failed handshakes, refused
     * enrollments. */
    struct vg_metrics *metrics;
    uint64_t commit_hist[COMMIT_BUCKETS + 1], commit_us_total;
    uint64_t refused_code[REFUSE_CODES], refused_tls, refused_enroll;
    struct vg_frame_limits limits;
    struct conn *conns;
    struct conn *agents[AGENT_HASH];
    struct pending *pend;
    size_t npend, cappend;
    struct book *book;
    size_t nbook, capbook;
    int stopping;
    struct vg_ratelimit rl_refuse, rl_frame;
    /* counters, since start */
    uint64_t accepted, refused, bad_frames, batches_stored, batches_duplicate, events_stored,
        duplicate_ids, batches_rejected, handshake_overflow, handshake_evicted, fields_cut,
        batches_failed, book_dropped, pauses, hellos_deferred;
    struct conn *hw_head;   /* connections with a hello_wait, newest first */
    size_t job_orphans;     /* batches of the group the store thread holds whose
                               connection went since (stored all the same) */
    struct vg_ratelimit rl_reject; /* log lines about rejected and cut batches */
    /* Connection buffers (frame reader and TLS ciphertext; mbedtls's own
     * records aside): the most one connection held at a frame's end, before
     * giving back what the frame made it grow to, and the last report. */
    size_t conn_held_peak;
    size_t held_logged;
    unsigned held_logged_n;
    uint64_t held_log_ms;
    /* Connections open (all kinds) and of them agents; agents may hold
     * max_agents, operators OPERATOR_RESERVE more. */
    uint64_t nconns, nagents, max_agents;
    uint64_t conn_full, fd_exhausted; /* refused at the connection limit; accepts failed */
    struct vg_ratelimit rl_full;
    unsigned handshaking;
    unsigned evicting; /* of them, closed to make room, not gone yet */
    struct conn *hs_head, *hs_tail; /* them, oldest first */
    struct vg_ratelimit rl_evict;
    /* Refused connections and enrollment requests: the first few logged
     * and audited one by one, then summaries (conn_report_global). */
    struct conn_tally tl_refuse, tl_enroll;
#ifdef VG_TEST_HOOKS
    /* Fault injection, test builds only (VIGIL_TEST_CRASH_AFTER_COMMIT=N):
     * die by SIGKILL once N batches are committed, before they are
     * acknowledged. */
    uint64_t crash_after;
    /* VIGIL_TEST_NO_FIELD_LIMITS=1: batches are not checked against the
     * field limits, so that what they would stop reaches the store. */
    int no_field_limits;
    /* VIGIL_TEST_COMMIT_GATE=PATH: the store thread holds each group
     * until PATH exists (the loop must go on meanwhile); a held group that
     * finds PATH.once too removes both: one commit goes, the next waits. */
    const char *commit_gate;
#endif
    uint64_t retention_due_ms; /* monotonic: next retention pass */
    int retaining;             /* a pass is going on, a chunk a second */
    uint64_t retained[RETAIN_KINDS]; /* rows it deleted so far, by kind */
    char collections_dir[4096];
    /* When a reload last changed the CA bundle (monotonic ms; 0: never):
     * from then on resumed sessions, and handshakes begun before it, have
     * their peer's certificate verified against the new bundle. */
    uint64_t ca_reload_ms;
    /* Revoked certificate serials (hex), sorted: checked at every
     * handshake, resumed ones included. */
    char **revoked;
    size_t nrevoked, caprevoked;
    /* Enrollment ([enroll] listen and ca_key set). */
    int enroll_on;
    unsigned enrolling; /* connections open on the enrollment port */
    /* Guesses no token can be blamed for (enroll.c): per address, and in
     * all. */
    struct vg_addrlim enroll_addr;
    struct vg_bucket enroll_global;
    struct vg_frame_limits enroll_limits;
    uv_tcp_t enroll_listener;
    struct vg_tls_config *enroll_tls;
    struct vg_cert *enroll_ca;
    struct vg_key *enroll_ca_key;
    char *enroll_chain; /* PEM of an intermediate issuing CA, sent with certificates */
    /* Patch compliance (report.c). */
    struct os_support *os;
    struct upload *uploads; /* advisory feeds being uploaded */
    char imports_dir[4096];
    unsigned reports_running; /* report jobs on the thread pool */
    atomic_int reports_cancel; /* set when stopping: reports give up */
    struct audit *audit;       /* audit checkpoints (audit.c) */
    struct backup *backup;     /* the database copy being made or fetched (backup.c) */
    struct export *export;     /* the SIEM export (export.c); NULL: none */
    struct notify *notify;     /* commands from other collectors (notify.c); NULL: none */
};

/* "HOST:PORT" (IPv4, [IPv6], or empty HOST: all) into ss.  Returns 0, or
 * VG_ECONFIG with a message naming [collector] listen in err. */
int server_parse_listen(const char *spec, struct sockaddr_storage *ss, char *err, size_t errlen);
/* [collector] proxy_protocol: addresses or networks (192.0.2.7,
 * 2001:db8::/64) separated by commas or spaces, at most PROXIES_MAX.
 * Returns 0 (the count in *n) or VG_ECONFIG with why. */
int server_parse_proxies(const char *spec, struct vg_netaddr *out, size_t *n, char *err,
                         size_t errlen);
int server_start(struct server *s, uv_loop_t *loop, const struct collector_conf *conf,
                 char *err, size_t errlen);
/* Reload: next (loaded and checked by the caller) replaces the
 * configuration in force, except for the keys read at start only
 * (VG_CONF_RESTART: logged as needing a restart, their old values moved
 * into next).  Certificate, key and CA files are read again; connections
 * stay unless their peer's certificate is revoked or no longer verifies
 * against a changed CA.  Logs a summary of what changed.  Returns 0: the
 * caller then frees the old configuration (vg_conf_free), next being in
 * force; or an error code with a message in err, nothing changed (next
 * left to the caller). */
int server_reload(struct server *s, struct collector_conf *next, char *err, size_t errlen);
/* Stops accepting, commits, says goodbye and closes every connection;
 * the loop ends once they are closed. */
void server_stop(struct server *s);
/* After the loop ended: closes the store, logs the counters. */
void server_free(struct server *s);

/* ---- the metrics endpoint (metrics.c) ---- */

/* Starts it when [metrics] listen is set.  Returns 0, or an error with err
 * (the address refused or taken). */
int metrics_start(struct server *s, char *err, size_t errlen);
/* Closes it (at the stop; NULL endpoint: nothing). */
void metrics_stop(struct server *s);
/* A group commit took us microseconds. */
void metrics_commit_observe(struct server *s, uint64_t us);

/* ---- field limits (limits.c) ---- */

/* The bounds on the fields of an agent's Hello and batches (README,
 * "Limits"). */
extern const struct vg_pb_limit collector_limits[];
extern const size_t collector_nlimits;
/* Checks m (a Hello or a Batch from vg_pb_unpack) against them: cuts what
 * may be cut.  Returns 0 or VG_ETOOBIG (refused); r says what was found. */
int limits_check(ProtobufCMessage *m, struct vg_pb_limit_report *r);
/* "ProcessExec.argv is 1048576 bytes in all, over its limit of 65536: cut
 * to it (argv_truncated set)", for logs and Ack.rejected_reason. */
void limits_describe(const struct vg_pb_limit_report *r, char *out, size_t len);
/* l's row of README.md's table of limits ("| `OsState.hostname` | 255
 * bytes | batch rejected |"). */
void limits_row(const struct vg_pb_limit *l, char *out, size_t len);

/* ---- operator requests (api.c) ---- */

/* A handler of one operator request kind: fills resp (strings it sets
 * stay valid until the table's free for that kind).  The role check is
 * done before, in api.c's table, and nowhere else.  Returns 1 when the
 * answer will be sent later (the work runs off the event loop; resp is
 * left empty), else 0. */
typedef int (*api_handler_fn)(struct server *s, struct conn *op,
                              const Vigil__V1__OperatorRequest *req,
                              Vigil__V1__OperatorResponse *resp);
/* Frees what a handler put into resp (not resp->error). */
typedef void (*api_free_fn)(Vigil__V1__OperatorResponse *resp);

/* Answers one operator request on c: the table entry for its kind, the
 * role check (a refusal is logged and audited), the handler, the response
 * sent and freed.  Returns 1 if the connection must stop reading (the
 * send failed), else 0. */
int api_handle(struct server *s, struct conn *c, const Vigil__V1__OperatorRequest *req);
/* The agent is connected to this collector, or (PostgreSQL shared by
 * several) has a live connection to another: live_seen_ms is
 * store_host_live_seen()'s. */
int host_connected(struct server *s, const char *agent_id, int64_t live_seen_ms);

/* ---- responses (resp.c) ---- */

/* The array of a result with room for one more element: the (maybe
 * moved) array, or NULL with *oom set.  Use as v = resp_grow(v, ...). */
void *resp_grow(void *v, size_t *cap, size_t n, size_t elem, int *oom);
/* Sets resp to a failure with code and message. */
void resp_error(Vigil__V1__OperatorResponse *resp, Vigil__V1__Error__Code code, const char *msg);
/* Refuses a request: logged, audited ("refused", action, target; past
 * the first few on a connection, summarised: conn_report), resp
 * set to a failure with code and msg. */
void resp_refuse(struct server *s, struct conn *op, Vigil__V1__OperatorResponse *resp,
                 Vigil__V1__Error__Code code, const char *action, const char *target,
                 const char *msg);

/* ---- connection services (conn.c), below every handler ---- */

/* "role name (address)" of a connection, for logs and the audit log
 * (a static buffer, valid until the next call). */
const char *conn_who(struct conn *c);
/* "role name" of an operator connection (no address), as stored with
 * what it asked for. */
void conn_operator_name(struct conn *c, char *out, size_t len);
/* The open connection with this serial, or NULL (it closed). */
struct conn *conn_find(struct server *s, uint64_t serial);
/* Bytes c holds in its buffers (frame reader, TLS ciphertext). */
size_t conn_held(const struct conn *c);
/* The connected agent (hello done) with this id, or NULL. */
struct conn *conn_find_agent(struct server *s, const char *agent_id);
/* Adds c to / removes c from the connected agents. */
void conn_agent_add(struct server *s, struct conn *c);
void conn_agent_remove(struct server *s, struct conn *c);
/* c's batches waiting for the commit will not be acknowledged; those not yet
 * handed to the store thread will not be stored either. */
void conn_forget_pending(struct server *s, struct conn *c);
/* Closes c once, orderly. */
void conn_close(struct conn *c, const char *why);
/* Sends an Error, then closes, once. */
void conn_fail(struct conn *c, Vigil__V1__Error__Code code, const char *msg);
/* A refusal of c's peer that it may repeat (kind): logged (and, for
 * uploads and requests, audited as action on target with detail) one by
 * one at first, then counted and summarised ("5000 refused upload chunks
 * from agent X in 1.6 s (...; last: ...)") once per REPORT_INTERVAL_MS
 * and at the close.  The connection stays open. */
void conn_report(struct conn *c, enum conn_report_kind kind, const char *action,
                 const char *target, const char *detail);
/* Writes c's due summaries (all that wait, if force: at the close).  From
 * the sweep, once a second, and from the close. */
void conn_report_flush(struct conn *c, int force);
/* A refusal counted in one of the server's tallies (tl_refuse,
 * tl_enroll; detail names the peer): 1 if the caller logs and audits it
 * on its own, else 0 (counted; a due summary written). */
int conn_report_global(struct server *s, struct conn_tally *t, const char *action,
                       const char *detail);
/* Due summaries of every connection and of the server's tallies (all, if
 * force: at the stop).  Once a second from the sweep. */
void conn_reports_sweep(struct server *s, int force);
/* conn_fail, with the refusal counted, logged and audited (rate-limited). */
void conn_refuse(struct conn *c, Vigil__V1__Error__Code code, const char *fmt, ...)
    VG_PRINTF(3, 4);
/* Sends env on c; on failure (other than a closed peer) logs and closes.
 * Returns 0 or the error. */
int conn_send(struct conn *c, Vigil__V1__Envelope *env);
/* Sends an operator response on c; returns 0 or an error (then c is
 * closing). */
int conn_send_response(struct conn *c, Vigil__V1__OperatorResponse *resp);
/* 1 if the certificate serial (hex) is revoked. */
int conn_is_revoked(const struct server *s, const char *serial);
/* Adds a revoked serial (ctx: the server; a store_revoked callback).
 * Returns 0 or -ENOMEM. */
int conn_revoked_add(void *ctx, const char *serial);

/* ---- handlers: operator requests, agent messages ---- */

/* Commands (command.c): operator requests that queue them, delivery to
 * agents, their reports, expiry, break-glass tokens. */
/* isolate, release and collect requests: the command queued. */
int command_isolate(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                    Vigil__V1__OperatorResponse *resp);
int command_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                 Vigil__V1__OperatorResponse *resp);
int command_release_token(struct server *s, struct conn *op,
                          const Vigil__V1__OperatorRequest *req,
                          Vigil__V1__OperatorResponse *resp);
/* command_cancel: a queued command cancelled (audited); one already sent
 * to its agent, or finished, is refused (audited). */
int command_cancel(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp);
void command_free_response(Vigil__V1__OperatorResponse *resp);
/* After an agent's hello: sends what is queued for it. */
void commands_deliver(struct server *s, struct conn *agent);
/* The queued commands of a connected agent only (another collector
 * queued them: notify.c). */
void commands_deliver_queued(struct server *s, struct conn *agent);
/* An agent's report on a command. */
void commands_on_result(struct server *s, struct conn *agent, const Vigil__V1__CommandResult *r);
/* Once a second: expires queued commands. */
void commands_sweep(struct server *s);
/* Triage packages (collect.c). */
int collect_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                 Vigil__V1__OperatorResponse *resp);
int collect_get(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp);
void collect_free_response(Vigil__V1__OperatorResponse *resp);
/* An agent's chunk: stored, acknowledged.  Returns 1 if the connection
 * must close. */
int collect_on_chunk(struct server *s, struct conn *c, const Vigil__V1__UploadChunk *ch);
#ifdef VG_TEST_HOOKS
/* n events of c's were stored: sends a held upload acknowledgement once
 * enough have been. */
void collect_test_events_stored(struct conn *c, uint64_t n);
#endif
/* Creates the directory; at start.  Returns 0 or an error with err. */
int collect_init(struct server *s, char *err, size_t errlen);
/* Deletes packages past their retention (from the sweep). */
void collect_retention(struct server *s);
/* vigilctl revoke (revoke.c): revokes a host's certificates, closes its
 * connection, drops its batches not yet stored. */
int revoke_host(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp);
void revoke_free_response(Vigil__V1__OperatorResponse *resp);
/* vigilctl hosts retire (revoke.c): a host that is gone hidden from lists
 * and reports (or brought back, undo), audited. */
int retire_host(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp);
void retire_free_response(Vigil__V1__OperatorResponse *resp);
/* vigilctl db backup (backup.c): an online copy of the database, made on
 * the thread pool with a connection of its own, then fetched in pieces. */
int backup_request(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp);
void backup_free_response(Vigil__V1__OperatorResponse *resp);
/* Once a second: deletes a copy nobody asked for in 10 minutes. */
void backup_sweep(struct server *s);
/* At the stop: a copy being made gives up soon. */
void backup_cancel(struct server *s);
/* After the loop ended: deletes what is left. */
void backup_free(struct server *s);
/* At start: deletes copies a killed collector left in the database's
 * directory. */
void backup_cleanup(const char *db);
/* notify.c: with a PostgreSQL store, listens for commands other
 * collectors queued for this one's agents.  Returns 0 or an error. */
int notify_start(struct server *s, char *err, size_t errlen);
void notify_stop(struct server *s);
/* What the store opens: [store] url, or the SQLite file [collector] db. */
const char *conf_store_target(const struct collector_conf *c);
/* Operator scopes (scope.c, [operators] scopes = NAME:KEY=VALUE, ...). */
#define SCOPE_MAX 16
struct scope {
    int scoped;   /* 0: the operator sees every host */
    size_t n;     /* its tags: a host with any one of them is in scope */
    char key[SCOPE_MAX][64], value[SCOPE_MAX][128];
    char text[512]; /* "site=a, site=b", for messages */
};
/* The agent ids in a scope, sorted. */
struct scope_set {
    char **v;
    size_t n;
};
/* 0, or VG_ECONFIG with err set when an entry is not NAME:KEY=VALUE. */
int scope_check_conf(const struct vg_strlist *l, char *err, size_t errlen);
/* Fills *sc with op's scope.  Returns 1 if op is scoped, else 0. */
int scope_get(const struct server *s, const struct conn *op, struct scope *sc);
/* 1 if a host with these tags (a JSON object; or n keys and values) is in sc. */
int scope_match_tags(const struct scope *sc, const char *tags_json);
int scope_match_kv(const struct scope *sc, const char *const *keys, const char *const *values,
                   size_t n);
/* 1 if the host agent_id is in sc, 0 if not, -ENOENT if there is no such
 * host, or a store error. */
int scope_host(struct server *s, const struct scope *sc, const char *agent_id);
/* The agent ids in sc (*set is new; scope_set_free).  Returns 0 or an error. */
int scope_set_load(struct server *s, const struct scope *sc, struct scope_set *set);
int scope_set_has(const struct scope_set *set, const char *agent_id);
void scope_set_free(struct scope_set *set);
/* Operator certificates (operators.c): operators_seen records c's
 * certificate (once per connection); vigilctl operators and revoked. */
void operators_seen(struct server *s, struct conn *c);
int operators_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp);
int operators_revoked(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp);
void operators_free_response(Vigil__V1__OperatorResponse *resp);
/* Enrollment (enroll.c): tokens for operators, the endpoint for agents. */
int enroll_token_create(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                        Vigil__V1__OperatorResponse *resp);
int enroll_token_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp);
int enroll_token_revoke(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                        Vigil__V1__OperatorResponse *resp);
void enroll_free_response(Vigil__V1__OperatorResponse *resp);
/* A message on the enrollment port: answered, then the connection
 * closes.  Takes env.  Returns 1. */
int enroll_on_env(struct server *s, struct conn *c, Vigil__V1__Envelope *env);
/* An agent's renewal request (over its mutual-TLS connection). */
void enroll_on_renew(struct server *s, struct conn *c, const Vigil__V1__RenewRequest *r);
/* Patch compliance (report.c): feed imports, exceptions, reports. */
int report_init(struct server *s, char *err, size_t errlen);
void report_free(struct server *s);
int report_import(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                  Vigil__V1__OperatorResponse *resp);
int report_imports(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp);
int report_exception_add(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                         Vigil__V1__OperatorResponse *resp);
int report_exceptions(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp);
int report_exception_revoke(struct server *s, struct conn *op,
                            const Vigil__V1__OperatorRequest *req,
                            Vigil__V1__OperatorResponse *resp);
/* Returns 1 when the report is being made on the thread pool: the
 * answer goes to op when done (or nowhere if op closed meanwhile). */
int report_render(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                  Vigil__V1__OperatorResponse *resp);
void report_free_response(Vigil__V1__OperatorResponse *resp);

/* ---- audit checkpoints (audit.c) ---- */

/* Loads (or makes, at first start) the checkpoint key, reads the
 * checkpoint file, checks the audit log against it (a mismatch is logged,
 * and sent to syslog when configured) and signs a "start" checkpoint.
 * After store_open.  Returns 0 or an error with err. */
int audit_init(struct server *s, char *err, size_t errlen);
/* Once a second: a checkpoint when the interval passed and the head
 * moved (or an hour passed). */
void audit_tick(struct server *s);
/* A last ("stop") checkpoint, then frees the state; before the store
 * closes.  NULL state: nothing. */
void audit_stop(struct server *s);
/* Frees the state without a checkpoint (a failed start). */
void audit_free(struct server *s);

/* What `vigilctl audit --verify` learns. */
struct audit_verdict {
    int ok;
    int64_t broken_id;  /* the entry concerned, when one is (0: none) */
    char kind[16];      /* "", edited, deleted, truncated, emptied, rewritten, checkpoints */
    char why[400];
    /* The newest checkpoint compared (seq 0: none yet). */
    uint64_t cp_seq, cp_entries;
    int64_t cp_time_ms, cp_last;
    char cp_head[65];
};
/* Walks the whole audit log, checks its hash chain and every signed
 * checkpoint in the file against it, and calls cb (may be NULL) for each
 * entry since since_ms.  Returns 0 (v filled), cb's non-zero, or an error
 * (the log could not be read). */
int audit_verify(struct server *s, int64_t since_ms,
                 int (*cb)(void *ctx, const struct store_audit *a), void *ctx,
                 struct audit_verdict *v);

/* ---- server (server.c) ---- */

/* One decoded envelope from c (a vg_wire_cb; ctx is the conn): the
 * agent session (hello, batches queued for the commit, heartbeats,
 * command results, uploads), operator requests, enrollment.  Takes env.
 * Returns 1 to stop reading from c for now. */
int server_on_env(void *ctx, Vigil__V1__Envelope *env);
/* Group commit: stores the queued batches in one transaction, then
 * acknowledges them. */
void server_commit(struct server *s);

#endif
