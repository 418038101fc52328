/*
 * The collector's store.  One back end for now: SQLite (store_sqlite.c),
 * one file, WAL mode.  Everything the collector must not lose goes
 * through a transaction that commits before the agent is acknowledged.
 *
 * One struct store is used by one thread at a time.  The collector opens
 * two: the loop's (operators, hellos, commands) and the store thread's
 * (the group commit of batches and connection bookkeeping); SQLite's WAL
 * lets the loop read while the other writes.
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/v1/envelope.pb-c.h"

struct store;

/* sync_full: fsync every commit (power-loss safe).  Returns 0 or an
 * error with a message in err. */
int store_open(const char *path, int sync_full, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
/* How long a write waits for another connection's transaction (the
 * default: 5 s) before it fails. */
void store_busy_timeout(struct store *s, int ms);
/* SQLite: WAL checkpoints on a thread of their own rather than in this
 * connection's commits (db_checkpointer_start); PostgreSQL: nothing. */
int store_checkpointer_start(struct store *s, char *err, size_t errlen);
/* Checkpoints so far: by that thread, and by commits (it fell behind).
 * Returns 0 when no such thread runs (PostgreSQL). */
int store_checkpoint_counts(struct store *s, uint64_t *by_thread, uint64_t *by_commit);

/* Records an agent's hello: creates or updates its host row.  Returns 0
 * or an error; *host_id is the host's row and *last_seq the highest
 * sequence stored for this epoch (0: none). */
int store_hello(struct store *s, const Vigil__V1__Hello *h, const char *peer_addr, int64_t now,
                int64_t *host_id, uint64_t *last_seq);
/* The writes of store_hello: creates or updates the host row and its
 * agent version.  Returns 0 or an error; *host_id is the host's row. */
int store_host_seen(struct store *s, const Vigil__V1__Hello *h, const char *peer_addr,
                    int64_t now, int64_t *host_id);
/* Reads the highest sequence stored for (host_id, epoch) into *last_seq
 * (0: none).  Returns 0 or an error.  Writes nothing. */
int store_stream_last(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                      uint64_t *last_seq);
/* Marks a host disconnected at now, if the connection that ends (its
 * hello at since) is its latest: another collector sharing the database
 * may have the host's newer one. */
int store_disconnect(struct store *s, int64_t host_id, int64_t now, int64_t since);
/* Counts a refused duplicate connection for agent_id (if known). */
int store_duplicate(struct store *s, const char *agent_id, const char *peer_addr, int64_t now);

int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* Inside a transaction: stores a batch and its events, with alone in a
 * savepoint of their own.  Returns 1 if stored, 0 if this (host, epoch,
 * seq) was already stored or rejected (a resend), or a negative error.
 * Then, with alone, the batch is undone alone and the transaction goes on
 * without it, unless store_txn_lost() (the database rolled it all back);
 * without, the transaction holds part of the batch and must be rolled
 * back.  VG_ETOOBIG, VG_EPROTO, VG_EDECODE: its content cannot be stored,
 * now or ever (store_last_error() says which event and why); other errors
 * are the database's (disk full, I/O) and may pass. */
int store_batch(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                const Vigil__V1__Batch *b, int64_t agent_sent_ms, int64_t recv_ms, int alone);
/* Inside a transaction: records that batch b is rejected for good (why)
 * and its events as loss ("collector.rejected"), so that a resend is
 * known.  Returns 1, 0 if it was already stored or rejected, or an error. */
int store_batch_reject(struct store *s, int64_t host_id, const ProtobufCBinaryData *epoch,
                       const Vigil__V1__Batch *b, int64_t recv_ms, const char *why);
/* 1 if the transaction begun by store_begin() is gone: the database
 * rolled it back after an error (disk full, I/O); nothing in it stays. */
int store_txn_lost(struct store *s);
/* What the last failing call was doing and why (a static buffer of s). */
const char *store_last_error(struct store *s);

/* One row of `vigilctl hosts`.  Strings are valid during the callback. */
struct store_host {
    const char *agent_id, *hostname, *tags_json, *os_pretty_name, *kernel_release,
        *agent_version;
    int64_t first_seen_ms, last_seen_ms, clock_skew_ms;
    uint64_t last_seq, spool_batches, spool_bytes, loss_events, loss_batches;
    const char *newest_kernel;
    int kernel_update_pending, reboot_required;
    int64_t packages_changed_ms, boot_time_ms;
    /* Pending updates: known once the agent sent a list. */
    int pending_known;
    uint32_t pending_updates, pending_security;
    int64_t pending_security_since_ms, pending_refreshed_ms;
    const char *pending_error;
    const char *process_source; /* from the agent's health: "ebpf", ... */
    int isolated;
    int64_t isolated_since_ms;
    /* The agent last found its isolation rules in place (agent clock;
     * 0: never said), and how often it says so (0: unknown). */
    int64_t isolation_verified_ms;
    uint64_t confirm_interval_ms;
    int64_t revoked_ms; /* 0: not revoked */
    /* Agent starts after an unclean stop (AgentTamper), the last one. */
    uint64_t unclean_stops, last_unclean_gap_ms;
    int64_t last_unclean_stop_ms;
    /* Retired by an operator (0: not), by whom and why. */
    int64_t retired_ms;
    const char *retired_by, *retire_reason;
    /* Signs of two machines with one agent certificate (store_host_seen,
     * apply_os): how many, the first and last time, the last one. */
    uint64_t clone_count;
    int64_t clone_first_ms, clone_last_ms;
    const char *clone_evidence;
    /* Connections refused because the id was connected already. */
    uint64_t duplicates_refused;
    int64_t last_duplicate_ms;
    const char *last_duplicate_addr, *machine_id;
    /* While a connection is open (its hello is later than the last
     * disconnect): when it was last heard from; else 0. */
    int64_t live_seen_ms;
};
/* Calls cb for every host, ordered by hostname.  Returns 0 or an error;
 * a non-zero return from cb stops the walk and is returned. */
int store_hosts(struct store *s, int (*cb)(void *ctx, const struct store_host *h), void *ctx);

/* One package of a host's current inventory. */
struct store_pkg {
    const char *manager, *name, *arch, *version, *status, *source_name, *source_version;
    int64_t first_seen_ms;
};
/* Calls cb for every package agent_id has now, by name.  Returns 0 or an
 * error; a non-zero return from cb stops the walk and is returned. */
int store_inventory(struct store *s, const char *agent_id,
                    int (*cb)(void *ctx, const struct store_pkg *p), void *ctx);
/* Calls cb for every host that has package `name` now (host fields in
 * agent_id and hostname), by hostname.  Same returns. */
int store_package_hosts(struct store *s, const char *name,
                        int (*cb)(void *ctx, const char *agent_id, const char *hostname,
                                  const struct store_pkg *p),
                        void *ctx);

/* One stored exec, with its exit when known.  Byte fields are exact
 * (argv NUL-separated); pointers live until the callback returns. */
struct store_proc {
    uint32_t pid, ppid, uid, euid, gid, egid, login_uid, session_id;
    const char *comm, *container_id, *sha256, *hash_note, *unknown, *source, *tty;
    const void *exe, *argv, *cwd, *parent_exe;
    size_t exe_len, argv_len, cwd_len, parent_exe_len;
    int argv_truncated;
    uint64_t cgroup_id, start_boot_ns, lifetime_ns;
    int64_t start_ms, exit_ms, recv_ms;
    uint32_t similar, signal;
    int exited, core_dumped, forked;
    int32_t exit_code;
};
/* Execs of agent_id since since_ms, optionally of one executable (exact
 * path) or pid (0: any), oldest first, at most limit (0: all).  Same
 * returns as above. */
int store_processes(struct store *s, const char *agent_id, int64_t since_ms, const char *exe,
                    uint32_t pid, uint32_t limit,
                    int (*cb)(void *ctx, const struct store_proc *p), void *ctx);
/* The latest exec of pid that started no later than before_ms: calls cb
 * and returns 1 (or cb's non-zero), 0 when there is none, or an error. */
int store_process_at(struct store *s, const char *agent_id, uint32_t pid, int64_t before_ms,
                     int (*cb)(void *ctx, const struct store_proc *p), void *ctx);
/* What retention keeps: rows older than these times (ms since the
 * epoch) go.  Audit entries, hosts and current state never do. */
struct store_retain {
    int64_t process_min_ms;  /* execs, exits, snapshots and their raw events */
    uint64_t process_max_rows; /* and execs beyond the newest this many */
    int64_t events_min_ms;   /* raw events of every other kind, and batch receipts */
    int64_t history_min_ms;  /* closed rows of the histories (packages, pending, OS,
                              * package manager logs) and loss records */
    int64_t commands_min_ms; /* finished commands */
};
enum { RETAIN_PROCESSES, RETAIN_EVENTS, RETAIN_BATCHES, RETAIN_HISTORY, RETAIN_COMMANDS,
       RETAIN_KINDS };
/* Deletes up to `chunk` rows of each kind past r, each table in its own
 * short transaction (ingest waits for one chunk at most, not for the whole
 * pass); deleted[RETAIN_*] grows by what went.  Returns 1 if rows past r
 * remain (call again), 0 when none do, or an error.  A batch whose
 * receipt is gone is still known as stored (streams.last_seq). */
int store_retention(struct store *s, const struct store_retain *r, unsigned chunk,
                    uint64_t deleted[RETAIN_KINDS]);

/* One audit log entry. */
struct store_audit {
    int64_t id, time_ms;
    const char *actor, *action, *target, *detail, *result;
    const char *hash; /* as stored (listing only) */
};
/* Appends an entry, chained to the last one by its hash.  Returns 0 or
 * an error. */
int store_audit_append(struct store *s, const char *actor, const char *action,
                       const char *target, const char *detail, const char *result);
/* Calls cb for each entry since since_ms, in order.  With verify, the
 * whole chain is checked: *broken_id gets the first entry that does not
 * hold (0: none) and why says how.  Returns 0, cb's non-zero, or an error. */
int store_audit_list(struct store *s, int64_t since_ms, int verify,
                     int (*cb)(void *ctx, const struct store_audit *a), void *ctx,
                     int64_t *broken_id, char *why, size_t whylen);
/* The chain's head as committed: how many entries, the newest one's id
 * and hash (0 and 64 zeros when empty).  Returns 0, -EBUSY (a
 * transaction is open: its entries may yet be rolled back) or an error. */
int store_audit_head(struct store *s, uint64_t *entries, int64_t *last, char head[65]);

/* ---- the SIEM export (store_export.c) ----
 *
 * Audit entries are read by id: ids only grow, in commit order (one
 * writer at a time: SQLite's lock, PostgreSQL's audit lock), so "id >
 * cursor" misses nothing that later commits.  Process rows are read by
 * (txid, id): on SQLite txid is 0 (one writer, ids in commit order); on
 * PostgreSQL several collectors write at once, a row with a lower id can
 * commit after one with a higher id, so rows are read in the order of
 * the transaction that wrote them, and only those of transactions older
 * than every transaction still running (pg_snapshot_xmin): none can come
 * later before the cursor.  The reads return -EBUSY when a transaction is
 * open on s (its rows may yet be rolled back); call again later. */

/* One exec, with its exit if that is stored yet, and its host. */
struct store_export_proc {
    int64_t txid, id, recv_ms, start_ms, exit_ms; /* exit_ms 0: no exit yet */
    int64_t pid, ppid, uid, euid, gid, egid, login_uid, session_id, cgroup_id;
    int64_t exit_code, signal, similar;
    int has_ppid, has_uid, has_gid, has_login_uid, has_session, has_exit_code, has_signal;
    int argv_truncated, core_dumped, forked;
    const char *agent_id, *hostname, *machine_id; /* host; NULL when unknown */
    const char *comm, *container_id, *sha256, *source, *unknown, *hash_note, *tty; /* or NULL */
    const uint8_t *exe, *argv, *cwd, *parent_exe; /* bytes, argv NUL-separated; or NULL */
    size_t exe_len, argv_len, cwd_len, parent_exe_len;
};
/* Calls cb for up to limit audit entries with id > after, in id order
 * (hash set).  Returns how many, cb's non-zero (negated if positive), or
 * an error. */
int store_export_audit(struct store *s, int64_t after, unsigned limit,
                       int (*cb)(void *ctx, const struct store_audit *a), void *ctx);
/* The same for process rows (execs) after (after_tx, after), in (txid,
 * id) order. */
int store_export_processes(struct store *s, int64_t after_tx, int64_t after, unsigned limit,
                           int (*cb)(void *ctx, const struct store_export_proc *p), void *ctx);
/* With several collectors on one PostgreSQL, one at a time exports to a
 * sink (its cursor is shared): takes that role for sink, held until the
 * connection ends.  Returns 1 (this collector has it; always on SQLite),
 * 0 (another has it), -EBUSY (a transaction is open on s) or an error. */
int store_export_claim(struct store *s, const char *sink);
/* The sink's cursor (all 0 for a sink never seen).  Returns 0 or an
 * error. */
int store_export_cursor_get(struct store *s, const char *sink, int64_t *audit_id,
                            int64_t *process_tx, int64_t *process_id);
/* Records it, in a transaction of its own.  Returns 0, -EBUSY (one is
 * open on s: try later) or an error. */
int store_export_cursor_set(struct store *s, const char *sink, int64_t audit_id,
                            int64_t process_tx, int64_t process_id);

/* One pending update of a host. */
struct store_pending {
    const char *agent_id, *hostname, *manager, *name, *arch, *installed_version,
        *candidate_version, *advisory, *severity, *origin, *release_label, *release_origin, *site;
    int security;
    int64_t released_ms, agent_first_seen_ms, security_first_seen_ms, first_seen_ms,
        refreshed_ms;
    int64_t release_file_ms; /* apt: the candidate's Release file Date: (0: unknown) */
};
/* Calls cb for every pending update of agent_id (NULL: all hosts), only
 * security ones if asked, by host and name.  Same returns as above. */
int store_pending(struct store *s, const char *agent_id, int security_only,
                  int (*cb)(void *ctx, const struct store_pending *p), void *ctx);

/* ---- commands ---- */

/* A queued command (adding: id, host_id, action, operator_name, reason,
 * detail, issued_ms, expires_ms; listing: everything).  state is a
 * vigil.v1.CommandState value. */
struct store_command {
    const char *id, *agent_id, *hostname, *action, *operator_name, *reason, *detail, *message;
    int64_t host_id, issued_ms, expires_ms, delivered_ms, finished_ms, updated_ms;
    int state;
};

/* The host's last_seen_ms while a connection of its is open in the store
 * (any collector's), else 0 (also on error). */
int64_t store_host_live_seen(struct store *s, int64_t host_id);
/* Finds a host by agent id: returns 1 (found, *host_id and hostname
 * set), 0 (unknown) or an error. */
int store_host_find(struct store *s, const char *agent_id, int64_t *host_id, char *hostname,
                    size_t hlen);
/* Retires host_id at now (hidden from lists and reports, its data kept),
 * by operator `by` for reason; now 0: brings it back.  A hello brings it
 * back too (store_host_seen).  Returns 0 or an error. */
int store_host_retire(struct store *s, int64_t host_id, int64_t now, const char *by,
                      const char *reason);
/* Queues a command; body is the encoded vigil.v1.Command.  Returns 0 or
 * an error. */
int store_command_add(struct store *s, const struct store_command *c, const void *body,
                      size_t len);
/* Calls cb for each unfinished command of a host (queued, delivered,
 * running), oldest first, at most 100.  Returns 0 or an error. */
int store_commands_unfinished(struct store *s, int64_t host_id,
                              int (*cb)(void *ctx, const char *id, const void *body, size_t len,
                                        int state),
                              void *ctx);
/* Several collectors on one PostgreSQL database: in the transaction that
 * queues a command, tells the others (NOTIFY on STORE_NOTIFY_CHANNEL, the
 * agent id as payload, sent at commit) that agent_id has one.  Nothing on
 * SQLite.  Returns 0 or an error. */
#define STORE_NOTIFY_CHANNEL "vigil_commands"
int store_command_notify(struct store *s, const char *agent_id);
/* Calls cb for each agent with a queued command (at most max, by agent
 * id).  Returns 0, cb's non-zero, or an error. */
int store_commands_queued_agents(struct store *s, unsigned max,
                                 int (*cb)(void *ctx, const char *agent_id), void *ctx);
/* Marks a queued command delivered: returns 1 if it was queued until
 * now, 0 if not, or an error. */
int store_command_delivered(struct store *s, const char *id, int64_t now);
/* Cancels a queued command (state cancelled, message recorded): returns
 * 1 if it was queued until now, 0 if not (unknown, delivered or
 * finished), or an error. */
int store_command_cancel(struct store *s, const char *id, const char *message, int64_t now);
/* Records an agent's report on its command (only host_id's, and never
 * over a final state).  Returns 1 if recorded (action set), 0 if unknown
 * or already final, or an error. */
int store_command_update(struct store *s, int64_t host_id, const char *id, int state,
                         const char *message, int64_t now, char *action, size_t alen);
/* Expires queued commands past their time; cb for each.  Returns 0. */
int store_commands_expire(struct store *s, int64_t now,
                          int (*cb)(void *ctx, const char *id, const char *action,
                                    const char *agent_id),
                          void *ctx);
/* Command history, newest first, filtered by agent id and/or command id
 * (NULL: any).  Same returns as store_hosts. */
int store_commands(struct store *s, const char *agent_id, const char *command_id,
                   uint32_t limit, int (*cb)(void *ctx, const struct store_command *c), void *ctx);
/* Records whether a host is isolated, and since when. */
int store_host_isolation(struct store *s, int64_t host_id, int isolated, int64_t since_ms);

/* ---- certificates ---- */

/* Records that host_id used the certificate with this serial (hex). */
int store_cert_seen(struct store *s, int64_t host_id, const char *serial, int64_t now);
/* Revokes every certificate host_id was seen with (cb for each newly
 * revoked serial) and marks the host revoked, in the caller's
 * transaction if one is open.  Returns 0 or an error. */
int store_revoke_host(struct store *s, int64_t host_id, const char *reason, const char *op,
                      int64_t now, int (*cb)(void *ctx, const char *serial), void *ctx);
/* When host_id was revoked (0: it was not), or a negative error. */
int64_t store_host_revoked(struct store *s, int64_t host_id);
/* Every revoked serial.  Returns 0 or an error. */
int store_revoked(struct store *s, int (*cb)(void *ctx, const char *serial), void *ctx);

/* A host's tags as a JSON object ("{}" if none) into *tags_json (new;
 * free()).  Returns 1, 0 (no such host) or an error. */
int store_host_tags(struct store *s, const char *agent_id, char **tags_json);

/* ---- operator certificates ---- */

/* Records (or refreshes the last use of) an operator certificate. */
int store_operator_seen(struct store *s, const char *serial, const char *name, const char *role,
                        int64_t not_after_ms, int64_t now);
struct store_operator {
    const char *serial, *name, *role;
    int64_t not_after_ms, first_seen_ms, last_seen_ms;
    int64_t revoked_ms;        /* 0: not revoked */
    const char *revoke_reason; /* NULL unless revoked */
};
/* Every operator certificate seen, by name; the strings live until cb
 * returns.  Returns 0, cb's non-zero return, or an error. */
int store_operators(struct store *s, int (*cb)(void *ctx, const struct store_operator *o),
                    void *ctx);
/* Revokes every operator certificate seen with this name (serial NULL),
 * or the one serial (name NULL; normalized hex, seen or not), in the
 * caller's transaction; cb for each newly revoked serial.  Returns 0 or
 * an error. */
int store_revoke_operator(struct store *s, const char *name, const char *serial,
                          const char *reason, const char *op, int64_t now,
                          int (*cb)(void *ctx, const char *serial), void *ctx);
struct store_revoked {
    const char *serial, *reason, *by;
    const char *subject; /* "host AGENT_ID", "operator NAME" or "" */
    int64_t time_ms;
};
/* Every revoked certificate, oldest revocation first.  Returns 0, cb's
 * non-zero return, or an error. */
int store_revoked_list(struct store *s, int (*cb)(void *ctx, const struct store_revoked *r),
                       void *ctx);

/* ---- enrollment tokens ---- */

struct store_token {
    const char *hash, *label, *created_by;
    int64_t created_ms, expires_ms, revoked_ms;
    uint32_t max_uses, uses;
    uint32_t failures; /* wrong secrets given with its selector */
    int64_t locked_ms; /* 0: not locked (by too many failures) */
};

/* selector: the token's public part (vge2 tokens), or NULL (vge1).
 * Returns 0 or an error. */
int store_token_add(struct store *s, const char *hash, const char *selector, const char *label,
                    const char *by, int64_t now, int64_t expires, uint32_t max_uses);
/* Returns 1 (cb called), 0 unknown, or an error. */
int store_token_find(struct store *s, const char *hash,
                     int (*cb)(void *ctx, const struct store_token *t), void *ctx);
/* The token with this selector: 1 (cb called), 0 unknown, or an error. */
int store_token_find_selector(struct store *s, const char *selector,
                              int (*cb)(void *ctx, const struct store_token *t), void *ctx);
/* Counts one failed try of the token (hash); it is locked (at now) once
 * it has max_failures.  *failures and *locked_ms: as they now stand.
 * Returns 0 or an error. */
int store_token_fail(struct store *s, const char *hash, uint32_t max_failures, int64_t now,
                     uint32_t *failures, int64_t *locked_ms);
/* Counts one use if the token is still good (not revoked, expired, used
 * up or locked): 1 used, 0 not, or an error. */
int store_token_use(struct store *s, const char *hash, int64_t now);
int store_tokens(struct store *s, int (*cb)(void *ctx, const struct store_token *t), void *ctx);
/* Revokes tokens whose hash starts with the prefix: how many, or an error. */
int store_token_revoke(struct store *s, const char *hash_prefix, int64_t now);
int store_enrollment_add(struct store *s, const char *agent_id, const char *token_hash,
                         const char *label, int64_t now, const char *addr, const char *hostname,
                         const char *machine_id, const char *serial);

/* ---- collections (triage packages) ---- */

struct store_collection {
    const char *id, *command_id, *agent_id, *hostname, *name, *operator_name, *reason, *state,
        *error, *sha256, *path;
    int64_t host_id, requested_ms, started_ms, completed_ms;
    uint64_t size, received;
    uint32_t chunks;
};

/* A command's owner, action, state and body (malloc'd when asked).
 * Returns 1 found, 0 unknown, or an error. */
int store_command_info(struct store *s, const char *id, int64_t *host_id, char *action,
                       size_t alen, int *state, void **body, size_t *blen);
/* Calls cb with the collection (host_id, agent_id, path... set).  Returns
 * 1 found (or cb's non-zero), 0 unknown, or an error. */
int store_collection_get(struct store *s, const char *id,
                         int (*cb)(void *ctx, const struct store_collection *c), void *ctx);
int store_collection_create(struct store *s, const char *id, const char *command_id,
                            int64_t host_id, const char *name, const char *path, int64_t now);
/* Records a chunk at offset (which must be what was received so far):
 * 0, -ESTALE (not the expected offset, or not receiving) or an error. */
int store_collection_chunk(struct store *s, const char *id, uint64_t offset, uint64_t len,
                           int64_t now);
/* Lowers what is recorded as received (the file holds less). */
int store_collection_rewind(struct store *s, const char *id, uint64_t received);
/* state: "complete", "failed" or "expired"; path NULL keeps it. */
int store_collection_finish(struct store *s, const char *id, const char *state,
                            const char *error, uint64_t size, const char *sha256,
                            const char *path, int64_t now);
/* Newest first, filtered (NULL: any), at most 1000. */
int store_collections(struct store *s, const char *agent_id, const char *collection_id,
                      const char *command_id,
                      int (*cb)(void *ctx, const struct store_collection *c), void *ctx);
int store_collection_downloads(struct store *s, const char *id,
                               int (*cb)(void *ctx, const char *op, const char *peer,
                                         int64_t time_ms),
                               void *ctx);
int store_collection_download(struct store *s, const char *id, const char *op,
                              const char *peer, int64_t now);
/* Collections finished (or abandoned) before before_ms, for retention. */
int store_collections_old(struct store *s, int64_t before_ms,
                          int (*cb)(void *ctx, const char *id, const char *path), void *ctx);

/* ---- backup (store_backup.c) ---- */

/* What a backup has done so far, read by the loop while a worker copies. */
struct store_backup_progress {
    _Atomic uint64_t pages_done, pages_total;
    _Atomic unsigned schema_version;
    _Atomic int64_t snapshot_ms; /* when its snapshot was taken */
};
/* Copies the database at src_path, as of one instant, into dst_path (an
 * empty file the caller made) with SQLite's online backup API, through
 * connections of its own (any thread; ingest goes on meanwhile), a few
 * MiB per step, updating p; then checks the copy (PRAGMA quick_check).
 * When cancel (may be NULL) is set meanwhile, from another thread, it
 * stops soon.  Returns 0, -ECANCELED or -EIO with a message in err. */
int store_backup(const char *src_path, const char *dst_path, struct store_backup_progress *p,
                 const atomic_int *cancel, char *err, size_t errlen);

/* ---- patch compliance (store_report.c) ---- */

struct cx_fleet;
struct cx_exception;

/* Loads what a report at as_of needs (compliance.h) from the database
 * at path, through a read-only connection of its own (so any thread may
 * call it while the event loop writes): hosts, those outside pattern
 * (fnmatch on hostname or agent id; NULL: all) marked excluded, with their
 * histories from window_ms on, the feed imports current at as_of and
 * their fixes for the fleet's releases, the exceptions created by then,
 * and each host's last check-in at each of points[0..npoints).  When
 * cancel (may be NULL) is set meanwhile, from another thread, it stops
 * soon.  Returns 0, -ENOMEM, -EIO or -ECANCELED. */
int store_report_load(const char *path, int64_t as_of, int64_t window_ms, const int64_t *points,
                      size_t npoints, const char *pattern, const atomic_int *cancel,
                      struct cx_fleet *out);

/* An advisory import: begin (inside store_begin), add each fix, finish. */
int store_import_begin(struct store *s, const char *format, const char *doc_key,
                       const char *source, const char *sha256, uint64_t size,
                       const char *operator_name, int64_t now, int64_t *id);
int store_import_fix(struct store *s, int64_t id, const char *release, const char *package,
                     const char *arch, const char *fixed, const char *advisory, const char *cves,
                     const char *severity, const char *urgency, double cvss, int64_t released_ms);
int store_import_finish(struct store *s, int64_t id, uint64_t records, uint64_t skipped);
/* What the import replaces on a later import (known once parsed). */
int store_import_set_key(struct store *s, int64_t id, const char *doc_key);
/* Drops what an abandoned import prepared (after a rollback). */
void store_import_end(void);
struct store_import {
    int64_t id;
    const char *format, *doc_key, *source, *sha256, *imported_by;
    uint64_t size, records, skipped;
    int64_t imported_ms;
    int current; /* the newest of its doc_key */
};
/* Every import, oldest first. */
int store_imports(struct store *s, int (*cb)(void *ctx, const struct store_import *im),
                  void *ctx);

/* Exceptions (risk acceptance).  add fills *id. */
int store_exception_add(struct store *s, const struct cx_exception *e, int64_t *id);
/* 0, -ENOENT (no such exception), -EALREADY (already revoked), or an error. */
int store_exception_revoke(struct store *s, int64_t id, const char *by, const char *reason,
                           int64_t now);
/* In id order; all = also expired and revoked ones (at now). */
int store_exceptions(struct store *s, int all, int64_t now,
                     int (*cb)(void *ctx, const struct cx_exception *e), void *ctx);

#endif
