/*
 * The agent's batch queue (network side).  Events are appended to the
 * open batch as already-encoded `Batch.events` fields; a batch closes
 * when it reaches batch_max_events or batch_max_bytes, or is
 * batch_max_age old.  Closed batches get the next sequence number and
 * wait, in order, until the collector acknowledges them.
 *
 * Memory is bounded by queue_max_bytes: past it the oldest batches are
 * dropped, counted, and reported in a LossRecord event.  (The disk spool
 * replaces this with store-and-forward.)
 */
#ifndef VG_QUEUE_H
#define VG_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent.h"

struct qbatch {
    struct qbatch *next;
    uint64_t seq;
    uint32_t events;
    int sent;
    size_t len;
    uint8_t *data; /* encoded vigil.v1.Batch */
};

struct queue;

/* on_ready is called when a batch closes.  Returns NULL on allocation failure. */
struct queue *queue_new(uv_loop_t *loop, const struct agent_conf *conf,
                        void (*on_ready)(void *ctx), void *ctx);
/* Adds one encoded Event.  Returns 0 or an error (counted as loss). */
int queue_add(struct queue *q, const uint8_t *event_pb, size_t len);
/* Closes the open batch now, if it holds events. */
void queue_flush(struct queue *q);
/* First closed batch not yet sent on this connection, or NULL. */
struct qbatch *queue_next_unsent(struct queue *q);
/* After a reconnect: everything unacknowledged must be sent again. */
void queue_mark_unsent(struct queue *q);
/* Drops batches with seq <= seq.  Returns how many were dropped. */
size_t queue_ack(struct queue *q, uint64_t seq);
/* Drops the batch seq for good (the collector rejected it, or it can
 * never be sent), counting its events as lost.  Returns 1 if found. */
int queue_drop(struct queue *q, uint64_t seq, const char *why);
/* Starts a new random stream epoch: used when the collector has stored
 * more of the current one than this agent knows of. */
void queue_new_epoch(struct queue *q);
const uint8_t *queue_epoch(const struct queue *q);
uint64_t queue_next_seq(const struct queue *q);
uint64_t queue_last_acked(const struct queue *q);
void queue_stats(const struct queue *q, struct agent_stats *out);
/* Closes its timer; frees everything in the close callback. */
void queue_free(struct queue *q);

#endif
