/*
 * The collector's Prometheus endpoint ([metrics] listen): the server's
 * counters as they are, rendered on the loop at each scrape.  Every name
 * is listed in docs/OPERATIONS.md ("Metrics").
 *
 * Below the server in the call order: server.c starts, stops and feeds it
 * (commit durations); this file only reads struct server.
 */
#include <stdio.h>
#include <string.h>

#include "collector.h"
#include "err.h"
#include "export.h"

/* Group commit durations, seconds: the first bounds are one fsync on an
 * SSD, the last a disk that stalls. */
static const double commit_le[COMMIT_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1,     2.5,  5,     10 };

/* Error.Code by number (session.proto), as label values. */
static const char *const code_names[REFUSE_CODES] = {
    "other", "bad_request", "unauthenticated", "permission_denied", "not_found",
    "duplicate_identity", "unavailable", "internal", "version", "revoked", "too_big",
    "rate_limited",
};

void metrics_commit_observe(struct server *s, uint64_t us)
{
    size_t i = 0;

    while (i < COMMIT_BUCKETS && (double)us > commit_le[i] * 1e6)
        i++;
    s->commit_hist[i]++;
    s->commit_us_total += us;
}

/* A family with a sample per configured export sink (label sink). */
static void sink_family(struct vg_prom *p, const char *name, const char *type, const char *help,
                        const int on[2], const uint64_t v[2])
{
    static const char *const sink[2] = { "file", "syslog" };

    vg_prom_family(p, name, type, help);
    for (int i = 0; i < 2; i++)
        if (on[i])
            vg_prom_u64(p, name, "sink", sink[i], v[i]);
}

static void render(void *ctx, struct vg_prom *p)
{
    struct server *s = ctx;
    uint64_t handshaking = 0, agents = 0, operators = 0, enrolling = 0, closing = 0, paused = 0;
    uint64_t full = 0, resumed = 0, ck_thread = 0, ck_commit = 0;

    for (struct conn *c = s->conns; c; c = c->next) {
        paused += c->paused != 0;
        if (!c->closing && !c->ready_ms)
            handshaking++;
        else if (!c->closing && c->kind == CONN_AGENT)
            agents++;
        else if (!c->closing && c->kind == CONN_OPERATOR)
            operators++;
        else if (!c->closing && c->kind == CONN_ENROLL)
            enrolling++;
        else
            closing++; /* closing, or through the handshake and refused: on its way out */
    }
    vg_prom_family(p, "vigil_collector_connections", "gauge",
                   "Connections open, by state: in the TLS handshake, agents, operators, on "
                   "the enrollment port, closing.");
    vg_prom_u64(p, "vigil_collector_connections", "state", "handshaking", handshaking);
    vg_prom_u64(p, "vigil_collector_connections", "state", "agent", agents);
    vg_prom_u64(p, "vigil_collector_connections", "state", "operator", operators);
    vg_prom_u64(p, "vigil_collector_connections", "state", "enroll", enrolling);
    vg_prom_u64(p, "vigil_collector_connections", "state", "closing", closing);
    vg_prom_gauge(p, "vigil_collector_agent_connections_max",
                  "Agent connections allowed at once ([collector] max_connections, or fewer "
                  "when the descriptor limit is lower).", s->max_agents);
    vg_prom_counter(p, "vigil_collector_connections_accepted_total",
                    "Connections accepted since start.", s->accepted);
    vg_prom_gauge(p, "vigil_collector_connections_paused",
                  "Connections not read from until their batches are committed "
                  "(backpressure).", paused);
    vg_prom_counter(p, "vigil_collector_backpressure_pauses_total",
                    "Times a connection was paused until its batches were committed.", s->pauses);
    if (s->wstore && store_checkpoint_counts(s->wstore, &ck_thread, &ck_commit)) {
        vg_prom_family(p, "vigil_collector_wal_checkpoints_total", "counter",
                       "SQLite WAL checkpoints: by the checkpoint thread (those that copied "
                       "pages), or by a commit that found the WAL at 8,000 pages (that thread "
                       "behind, or a reader holding old pages).");
        vg_prom_u64(p, "vigil_collector_wal_checkpoints_total", "by", "thread", ck_thread);
        vg_prom_u64(p, "vigil_collector_wal_checkpoints_total", "by", "commit", ck_commit);
    }
    vg_prom_counter(p, "vigil_collector_hellos_deferred_total",
                    "Agent hellos answered only after a commit holding batches of the agent's "
                    "earlier connection.", s->hellos_deferred);

    if (s->tls)
        vg_tls_config_stats(s->tls, &full, &resumed);
    vg_prom_family(p, "vigil_collector_tls_handshakes_total", "counter",
                   "TLS handshakes completed on the agent and operator port: full, or resumed "
                   "from a session ticket.");
    vg_prom_u64(p, "vigil_collector_tls_handshakes_total", "type", "full", full);
    vg_prom_u64(p, "vigil_collector_tls_handshakes_total", "type", "resumed", resumed);

    vg_prom_family(p, "vigil_collector_refusals_total", "counter",
                   "Peers refused, by reason: a TLS handshake that failed, an enrollment "
                   "request refused, or the error code sent before the close.");
    vg_prom_u64(p, "vigil_collector_refusals_total", "reason", "tls_handshake", s->refused_tls);
    vg_prom_u64(p, "vigil_collector_refusals_total", "reason", "enrollment", s->refused_enroll);
    for (size_t i = 0; i < REFUSE_CODES; i++)
        if (code_names[i])
            vg_prom_u64(p, "vigil_collector_refusals_total", "reason", code_names[i],
                        s->refused_code[i]);
    vg_prom_family(p, "vigil_collector_connections_dropped_total", "counter",
                   "Connections closed before TLS to protect the collector: at the connection "
                   "limit, accepts that failed for want of descriptors, handshakes closed to "
                   "make room for newer ones, enrollment connections over 64.");
    vg_prom_u64(p, "vigil_collector_connections_dropped_total", "reason", "connection_limit",
                s->conn_full);
    vg_prom_u64(p, "vigil_collector_connections_dropped_total", "reason", "descriptors",
                s->fd_exhausted);
    vg_prom_u64(p, "vigil_collector_connections_dropped_total", "reason", "handshake_evicted",
                s->handshake_evicted);
    vg_prom_u64(p, "vigil_collector_connections_dropped_total", "reason", "enroll_busy",
                s->handshake_overflow);
    vg_prom_counter(p, "vigil_collector_proxy_refused_total",
                    "Connections from a load balancer of [collector] proxy_protocol refused "
                    "for want of a good PROXY protocol header (also counted in "
                    "refusals_total as tls_handshake).", s->proxy_refused);
    vg_prom_counter(p, "vigil_collector_proxy_checks_total",
                    "Health checks of a load balancer of [collector] proxy_protocol: a "
                    "connection that said nothing or a LOCAL header, then closed (not "
                    "refusals).", s->proxy_checks);
    vg_prom_counter(p, "vigil_collector_bad_frames_total",
                    "Frames that did not decode (the connection was closed).", s->bad_frames);

    vg_prom_family(p, "vigil_collector_batches_total", "counter",
                   "Batches from agents by outcome: stored, duplicate (a resend, acknowledged "
                   "again), rejected (a field over its limit), failed (the database's fault; "
                   "the agent resends).");
    vg_prom_u64(p, "vigil_collector_batches_total", "result", "stored", s->batches_stored);
    vg_prom_u64(p, "vigil_collector_batches_total", "result", "duplicate", s->batches_duplicate);
    vg_prom_u64(p, "vigil_collector_batches_total", "result", "rejected", s->batches_rejected);
    vg_prom_u64(p, "vigil_collector_batches_total", "result", "failed", s->batches_failed);
    vg_prom_counter(p, "vigil_collector_bookkeeping_dropped_total",
                    "Connection bookkeeping rows (hello, certificate seen, disconnect) the "
                    "database refused; each is logged.", s->book_dropped);
    vg_prom_counter(p, "vigil_collector_events_stored_total",
                    "Events stored (in batches stored).", s->events_stored);
    vg_prom_counter(p, "vigil_collector_fields_cut_total",
                    "Fields cut to their limits in stored batches.", s->fields_cut);

    vg_prom_histogram(p, "vigil_collector_commit_duration_seconds",
                      "Time of each group commit's transaction on the store thread (one fsync "
                      "with [collector] sync = full).",
                      commit_le, s->commit_hist, COMMIT_BUCKETS, s->commit_hist[COMMIT_BUCKETS],
                      (double)s->commit_us_total / 1e6);
    vg_prom_gauge(p, "vigil_collector_queued_batches",
                  "Batches decoded and waiting for the next group commit.", s->npend);
    vg_prom_gauge(p, "vigil_collector_queued_records",
                  "Connection records (hello, certificate, disconnect) waiting for the next "
                  "group commit.", s->nbook);
    vg_prom_gauge(p, "vigil_collector_reports_running",
                  "Compliance reports being rendered on the thread pool.", s->reports_running);
    vg_prom_gauge(p, "vigil_collector_connection_buffer_peak_bytes",
                  "The most one connection's buffers held at a frame's end since start.",
                  s->conn_held_peak);

    if (s->export) {
        struct export_stats st;
        export_stats(s->export, &st);
        sink_family(p, "vigil_collector_export_records_total", "counter",
                    "SIEM export ([export]): records written to the file or sent to the "
                    "syslog receiver, resends after a lost connection included.",
                    st.on, st.records);
        sink_family(p, "vigil_collector_export_rows_lost_total", "counter",
                    "SIEM export: audit entries and process rows that retention deleted "
                    "before the sink exported them (or that could not be rendered).",
                    st.on, st.gone);
        sink_family(p, "vigil_collector_export_active", "gauge",
                    "SIEM export: 1 while this collector exports to the sink, 0 while "
                    "another collector of its PostgreSQL database does.",
                    st.on, st.active);
        if (st.on[1])
            vg_prom_gauge(p, "vigil_collector_export_syslog_connected",
                          "1 while the SIEM export is connected to its syslog receiver.",
                          (uint64_t)st.syslog_up);
    }
}

int metrics_start(struct server *s, char *err, size_t errlen)
{
    return vg_metrics_listen(s->loop, s->conf->metrics_listen, s->conf->metrics_allow_remote,
                             render, s, &s->metrics, err, errlen);
}

void metrics_stop(struct server *s)
{
    vg_metrics_stop(s->metrics);
    s->metrics = NULL;
}
