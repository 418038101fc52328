/*
 * The agent's Prometheus endpoint ([metrics] listen), served by the root
 * parent on its loop: the network process's sandbox allows no listening
 * socket, and the parent already holds what it reports (the hand-over,
 * and the statistics the child sends up every few seconds).  Every name
 * is listed in docs/OPERATIONS.md ("Metrics").
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "pb.h"
#include "vigil/v1/telemetry.pb-c.h"

static void render(void *ctx, struct vg_prom *p)
{
    struct agent *a = ctx;
    struct monitor_figures f;

    monitor_figures(a->mon, &f);
    vg_prom_family(p, "vigil_agent_events_total", "counter",
                   "Events the inputs handed to the network process, by kind (the Event "
                   "field: process_exec, package_delta, os_state, ...).");
    for (uint32_t k = 0; k < MONITOR_KINDS; k++) {
        const char *name = k ? vg_pb_field_name(&vigil__v1__event__descriptor, k) : "unknown";
        if (name && (f.by_kind[k] || k == 0))
            vg_prom_u64(p, "vigil_agent_events_total", "kind", name, f.by_kind[k]);
    }
    vg_prom_family(p, "vigil_agent_events_dropped_total", "counter",
                   "Events dropped: refused at the hand-over to the network process "
                   "(stage=handover), or by the network process (stage=spool: a full spool, "
                   "corrupt records, batches over the memory limit; since it started).");
    vg_prom_u64(p, "vigil_agent_events_dropped_total", "stage", "handover", f.lost);
    vg_prom_u64(p, "vigil_agent_events_dropped_total", "stage", "spool", f.child.dropped_total);
    vg_prom_counter(p, "vigil_agent_loss_reported_events_total",
                    "Events the inputs counted as lost at their source (eBPF ring-buffer "
                    "overruns, netlink overruns) and reported as loss records.",
                    f.loss_reported);
    vg_prom_gauge(p, "vigil_agent_handover_backlog_events",
                  "Events handed to the network process and not yet in its spool.", f.backlog);
    vg_prom_gauge(p, "vigil_agent_open_batch_events",
                  "Events in the batch being filled.", f.child.queued_events);
    vg_prom_gauge(p, "vigil_agent_spool_batches",
                  "Batches in the spool not yet acknowledged by the collector.",
                  f.child.queued_batches);
    vg_prom_gauge(p, "vigil_agent_spool_bytes",
                  "Bytes the spool's files hold (acknowledged records go with their file).",
                  f.child.queued_bytes);
    vg_prom_counter(p, "vigil_agent_spooled_events_total",
                    "Events the network process put in batches (since it started).",
                    f.child.events_total);
    vg_prom_counter(p, "vigil_agent_batches_sent_total",
                    "Batches sent to the collector (since the network process started).",
                    f.child.batches_sent);
    vg_prom_counter(p, "vigil_agent_reconnects_total",
                    "Connections to the collector made again after one was lost (since the "
                    "network process started).", f.child.reconnects);
    vg_prom_gauge(p, "vigil_agent_collector_connected",
                  "1 while the network process is connected to a collector.", f.connected);
    vg_prom_counter(p, "vigil_agent_network_process_restarts_total",
                    "Times the network process was started again after it died.", f.restarts);
}

int agent_metrics_start(struct agent *a, char *err, size_t errlen)
{
    return vg_metrics_listen(a->loop, a->conf->metrics_listen, a->conf->metrics_allow_remote,
                             render, a, &a->metrics, err, errlen);
}

void agent_metrics_stop(struct agent *a)
{
    vg_metrics_stop(a->metrics);
    a->metrics = NULL;
}
