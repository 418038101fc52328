/*
 * The agent's run state, STATE_DIR/run: when this run started, that it
 * is alive (a heartbeat every RUNSTATE_HEARTBEAT_MS), and whether it
 * stopped cleanly.  The next start reads it: a run that left no clean
 * stop was killed (kill -9), crashed, or went down with the host, and is
 * reported as an AgentTamper event (telemetry.proto).
 *
 * One 64-byte record, rewritten in place with one pwrite (the heartbeat:
 * no fsync, it need only survive the process; the start and the clean
 * stop: fdatasync, they must survive the power):
 *
 *   0        4        8            16           24       28       32
 *   +--------+--------+------------+------------+--------+--------+
 *   | "VGR1" | flags  | start_ms   | beat_ms    | pid    | pending|
 *   |        | u32 LE | u64 LE     | u64 LE     | u32 LE | u32 LE |
 *   +--------+--------+------------+------------+--------+--------+
 *   32                   48           56       60       64
 *   +--------------------+------------+--------+--------+
 *   | boot_id[16]        | stop_ms    | crc32c | 0      |
 *   | (kernel boot UUID) | u64 LE     | u32 LE | u32    |
 *   +--------------------+------------+--------+--------+
 *
 *   flags: 1 = stopped cleanly, 2 = its record was unreadable.  crc32c
 *   covers bytes 0..56.  Times are the agent's wall clock, ms since the
 *   Unix epoch.
 *
 * The first record is this run.  pending more records follow it (at most
 * RUNSTATE_PENDING_MAX, at offsets 64, 128, ...): earlier runs that
 * stopped uncleanly and whose AgentTamper event is not yet known to be in
 * the spool.  A start writes itself and them at once (so that its own
 * death is seen even if it comes before its report of theirs is spooled),
 * and drops them once that report is spooled (runstate_start).
 *
 * Written by the privileged part only (root, mode 0600): in the split
 * agent the network child must not be able to replace it, or it could
 * forge a clean stop.
 */
#ifndef VG_RUNSTATE_H
#define VG_RUNSTATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "vigil/v1/telemetry.pb-c.h"

#define RUNSTATE_HEARTBEAT_MS 2000
#define RUNSTATE_REC 64
#define RUNSTATE_PENDING_MAX 8

/* What the previous run left. */
struct runstate_prev {
    int found;      /* STATE_DIR/run existed (0: first start, nothing to say) */
    int readable;   /* its record was whole (magic and CRC) */
    int clean;      /* it stopped cleanly */
    int rebooted;   /* it ran under another boot of the kernel */
    int64_t start_ms, beat_ms, stop_ms;
    uint32_t pid;
    uint32_t pending; /* records following this one (the first record only) */
    char boot_id[37]; /* UUID text, "" when unknown */
};

struct runstate;

/* Reads STATE_DIR/run into *prev, opens it for this run and records this
 * run's start with the runs still to report (runstate_unreported) before
 * it returns: from then on, a death is this run's unclean stop.  Returns
 * NULL with a message in err (the caller goes on without: an unclean stop
 * is then not detected next time). */
struct runstate *runstate_open(const char *state_dir, struct runstate_prev *prev, char *err,
                               size_t errlen);
/* Records this run's start (durably: from now on a death is this run's
 * unclean stop), then a heartbeat every RUNSTATE_HEARTBEAT_MS on loop.
 * Call it once the AgentTamper events of runstate_unreported() are in the
 * spool: a death before leaves them in place, to be reported by the next
 * start (so an unclean stop is reported at least once; twice only if the
 * death falls between the two, recognisable by the same prev_pid and
 * prev_start_time_ms, which the collector counts once).
 * Returns 0 or an error. */
int runstate_start(struct runstate *r, uv_loop_t *loop);
/* The runs to report as unclean stops, oldest first: those an earlier
 * start had not yet got into the spool, then prev if it did not stop
 * cleanly.  Valid until runstate_start() or runstate_clean_stop(). */
size_t runstate_unreported(const struct runstate *r, const struct runstate_prev **list);
/* Records the clean stop (durably), stops the heartbeat and frees r once
 * its timer is closed (the loop must run on).  NULL is a no-op. */
void runstate_clean_stop(struct runstate *r);

/* Does prev call for an AgentTamper event?  1 (and fills ev and t, whose
 * strings are static or point into prev) or 0.  now_ms: this start.
 * ring_lost: process events the pinned ring buffer could not hold during
 * the gap (ring_lost_known 0: not known). */
int runstate_tamper(const struct runstate_prev *prev, int64_t now_ms, int ring_lost_known,
                    uint64_t ring_lost, Vigil__V1__Event *ev, Vigil__V1__AgentTamper *t);

/* ---- the record, for tests ---- */

/* Encodes / decodes one record.  decode returns 0 or VG_ECORRUPT. */
void runstate_encode(uint8_t rec[RUNSTATE_REC], const struct runstate_prev *st);
int runstate_decode(const uint8_t rec[RUNSTATE_REC], struct runstate_prev *st);

#endif
