/*
 * The root parent's side of privilege separation (monitor.c): starts the
 * network child (agent/net/child.c), restarts it with backoff when it
 * dies, checks every message it sends against a permit table, and offers
 * the parent's modules what they need from the network as calls.
 */
#ifndef VG_MONITOR_H
#define VG_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "agent.h"
#include "psmsg.h"

struct monitor;

struct monitor_hooks {
    /* A command from the collector, flattened by the child. */
    void (*command)(struct agent *a, const struct vg_ps_command *c);
    /* The addresses to pin while isolated (n = 0: not isolated). */
    void (*pins)(struct agent *a, struct vg_ps_pins *out);
};

/* Starts the child: this binary again (argv, as the parent was started)
 * with VIGIL_NET_CHILD.  Returns NULL with err. */
struct monitor *monitor_start(struct agent *a, char **argv, const struct monitor_hooks *h,
                              char *err, size_t errlen);
/* Asks the child to send what is queued (waiting at most max_wait_ms for
 * acknowledgements) and exit; stopped(a) runs once it has, and every
 * handle is closed. */
/* Stops the network process gracefully (it sends what it holds) and
 * starts it again at once, reading the configuration file anew; after
 * its hello if it is still starting; nothing when it is not running (its
 * next start reads the file).  why is logged. */
void monitor_restart(struct monitor *m, const char *why);
void monitor_stop(struct monitor *m, uint64_t max_wait_ms, void (*stopped)(struct agent *a));
void monitor_free(struct monitor *m);

/* Sends a command's result (encoded here).  Returns 0 or an error (the
 * collector delivers unfinished commands again). */
int monitor_send_result(struct monitor *m, const Vigil__V1__CommandResult *r);
/* Hands a package in the upload directory to the child. */
int monitor_upload(struct monitor *m, const struct vg_ps_upload *u);
/* The user the child runs as, who must own what it uploads. */
void monitor_child_user(const struct monitor *m, uid_t *uid, gid_t *gid);
/* The current collector connection: 0 with its address, or -ENOTCONN. */
int monitor_peer(const struct monitor *m, struct sockaddr_storage *out);
/* The host part of the [collector] address in use ("" if none). */
const char *monitor_host(const struct monitor *m);
/* A fresh TLS connection to addr made by the child; cb(ctx, rc, why)
 * runs once (rc -ECONNRESET if the child died meanwhile).  Returns 0 or
 * -ENOMEM. */
int monitor_probe(struct monitor *m, const struct sockaddr *addr, uint64_t timeout_ms,
                  void (*cb)(void *ctx, int rc, const char *why), void *ctx);
/* The isolation changed: the pins are sent again. */
void monitor_pins_changed(struct monitor *m);
/* Restarts since start, for tests and the health report. */
uint64_t monitor_restarts(const struct monitor *m);

/* What the metrics endpoint shows (agent/priv/metrics.c). */
/* Event.kind's field numbers: from 10 (1-9 are metadata), below 128. */
#define MONITOR_KIND_FIRST 10
#define MONITOR_KINDS 128
struct monitor_figures {
    /* Events handed to the network process since start, by the number of
     * their Event.kind field (0: none recognised). */
    uint64_t by_kind[MONITOR_KINDS];
    uint64_t lost;          /* refused at the hand-over (the buffer was full) */
    uint64_t loss_reported; /* events inputs reported lost in LossRecords */
    uint64_t backlog;       /* handed over, not yet in the spool */
    uint64_t restarts;      /* of the network process */
    int connected;          /* to a collector, as the child last said */
    struct vg_ps_stats child; /* the child's last statistics (its counters
                                 start again when it is restarted) */
};
void monitor_figures(const struct monitor *m, struct monitor_figures *out);

#endif
