/*
 * The agent's batch queue (network side).  Events are appended to the
 * open batch as already-encoded `Batch.events` fields; a batch closes
 * when it reaches batch_max_events or batch_max_bytes, or is
 * batch_max_age old.  A closed batch is written to the disk spool
 * (spool.h) under the next sequence number before it can be sent, and
 * stays there until the collector acknowledges it.
 *
 * Loss is never silent: batches the spool had to drop (full), records
 * it found corrupt at start-up, and batches the collector rejected are
 * counted and reported in a LossRecord event at the head of the next
 * batch.
 */
#ifndef VG_QUEUE_H
#define VG_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent.h"
#include "spool.h"

struct queue;

/* Opens the spool under conf->state_dir.  on_ready is called when a batch
 * is ready to send.  Returns NULL with a message in err. */
struct queue *queue_new(uv_loop_t *loop, const struct agent_conf *conf,
                        void (*on_ready)(void *ctx), void *ctx, char *err, size_t errlen);
/* Adds one encoded Event.  Returns 0 or an error (counted as loss).  It is
 * in the open batch's journal (on disk) when this returns, unless held: */
struct vg_ps_tag;
/* tag (may be NULL): where the event came from, kept with it in the spool
 * (spool.h: marks). */
int queue_add(struct queue *q, const uint8_t *event_pb, size_t len, const struct vg_ps_tag *tag);
/* The tag of the last event the spool holds, as found at open or added
 * since (zeroes if none). */
void queue_mark(const struct queue *q, struct vg_ps_tag *tag);
/* A burst: events queue_add() takes after queue_hold() reach the journal
 * together, with one write, at queue_commit().  Acknowledge them after. */
void queue_hold(struct queue *q);
/* Gives back buffers a burst made big, where they are empty (now and
 * then, from a timer: not on every batch). */
void queue_trim(struct queue *q);
void queue_commit(struct queue *q);
/* Closes the open batch now, if it holds events. */
void queue_flush(struct queue *q);
/* First spooled batch not yet sent on this connection, or NULL. */
struct spool_rec *queue_next_unsent(struct queue *q);
/* The batch queue_next_unsent() returned was sent. */
void queue_mark_sent(struct queue *q);
/* Number of batches sent on this connection and not yet acknowledged. */
size_t queue_in_flight(struct queue *q);
/* Reads a batch's encoded bytes (malloc'd).  Returns 0 or an error. */
int queue_read(struct queue *q, const struct spool_rec *r, uint8_t **out);
/* Makes spooled batches durable before they are sent (fsync = batch). */
void queue_sync(struct queue *q);
/* After a reconnect: everything unacknowledged must be sent again. */
void queue_mark_unsent(struct queue *q);
/* Forgets batches with seq <= seq. */
void queue_ack(struct queue *q, uint64_t seq);
/* Drops one batch for good, counting it as lost. */
void queue_drop(struct queue *q, uint64_t seq, const char *why);
/* The same for a record that passed its CRC but is no batch (counted as
 * spool.undecodable loss). */
void queue_drop_undecodable(struct queue *q, uint64_t seq);
/* Drops batch seq, rejected by a collector that recorded the loss itself
 * (Ack.rejected_reason: why): logged and counted in dropped_total, but
 * not reported again as a LossRecord. */
void queue_drop_recorded(struct queue *q, uint64_t seq, const char *why);
/* Records up to this seq were found on disk at start (spool.h). */
uint64_t queue_recovered_high(const struct queue *q);
void queue_new_epoch(struct queue *q);
const uint8_t *queue_epoch(const struct queue *q);
uint64_t queue_next_seq(const struct queue *q);
uint64_t queue_last_acked(const struct queue *q);
void queue_stats(const struct queue *q, struct agent_stats *out);
/* Closes its timers and the spool; frees itself in the close callback. */
void queue_free(struct queue *q);

#endif
