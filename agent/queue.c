#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "queue.h"
#include "util.h"

/* Field numbers of vigil.v1.Batch (telemetry.proto). */
#define BATCH_SEQ 1
#define BATCH_CREATED 2
#define BATCH_EVENTS 3
/* One event may not exceed this, whatever batch_max_bytes says. */
#define EVENT_MAX (4u * 1024 * 1024)

struct queue {
    uv_loop_t *loop;
    const struct agent_conf *conf;
    void (*on_ready)(void *ctx);
    void *ctx;
    uv_timer_t timer;
    struct vg_buf open;
    uint32_t open_events;
    int64_t open_since_ms;
    struct qbatch *head, *tail;
    size_t nbatches, bytes;
    uint64_t next_seq, last_acked;
    uint8_t epoch[16];
    /* loss not yet reported */
    uint64_t lost_events, lost_first_ms, lost_last_ms;
    struct agent_stats st;
};

struct queue *queue_new(uv_loop_t *loop, const struct agent_conf *conf,
                        void (*on_ready)(void *ctx), void *ctx)
{
    struct queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->loop = loop;
    q->conf = conf;
    q->on_ready = on_ready;
    q->ctx = ctx;
    q->next_seq = 1;
    if (vg_random(q->epoch, sizeof(q->epoch))) {
        free(q);
        return NULL;
    }
    vg_buf_init(&q->open, conf->batch_max_bytes + EVENT_MAX + 64);
    uv_timer_init(loop, &q->timer);
    q->timer.data = q;
    return q;
}

static void report_loss(struct queue *q);

static void close_batch(struct queue *q)
{
    struct vg_buf b;
    struct qbatch *qb;

    if (q->open_events == 0)
        return;
    uv_timer_stop(&q->timer);
    vg_buf_init(&b, q->open.len + 32);
    qb = calloc(1, sizeof(*qb));
    if (!qb || vg_pb_put_varint(&b, BATCH_SEQ, q->next_seq) ||
        vg_pb_put_varint(&b, BATCH_CREATED, (uint64_t)vg_time_now_ms()) ||
        vg_buf_append(&b, q->open.data, q->open.len)) {
        /* Out of memory: the events are lost, and counted. */
        free(qb);
        vg_buf_free(&b);
        q->lost_events += q->open_events;
        q->st.dropped_total += q->open_events;
        vg_buf_reset(&q->open);
        q->open_events = 0;
        return;
    }
    qb->seq = q->next_seq++;
    qb->events = q->open_events;
    qb->data = vg_buf_take(&b, &qb->len);
    if (q->tail)
        q->tail->next = qb;
    else
        q->head = qb;
    q->tail = qb;
    q->nbatches++;
    q->bytes += qb->len;
    vg_buf_reset(&q->open);
    q->open_events = 0;

    /* Over the memory bound: drop the oldest, unacknowledged, batches. */
    while (q->bytes > q->conf->queue_max_bytes && q->head && q->head != q->tail) {
        struct qbatch *old = q->head;
        int64_t now = vg_time_now_ms();
        q->head = old->next;
        q->nbatches--;
        q->bytes -= old->len;
        q->lost_events += old->events;
        q->st.dropped_total += old->events;
        if (!q->lost_first_ms)
            q->lost_first_ms = (uint64_t)now;
        q->lost_last_ms = (uint64_t)now;
        log_warnx("[queue] collector unreachable and queue full (%llu bytes): dropped batch "
                  "%llu (%u events)", (unsigned long long)q->conf->queue_max_bytes,
                  (unsigned long long)old->seq, old->events);
        free(old->data);
        free(old);
    }
    if (q->lost_events)
        report_loss(q);
    q->on_ready(q->ctx);
}

static void age_cb(uv_timer_t *t)
{
    close_batch(t->data);
}

static int add_raw(struct queue *q, const uint8_t *ev, size_t len)
{
    int rc;

    if (len > EVENT_MAX)
        return VG_ETOOBIG;
    if (q->open_events && q->open.len + len + 8 > q->conf->batch_max_bytes)
        close_batch(q);
    rc = vg_pb_put_bytes(&q->open, BATCH_EVENTS, ev, len);
    if (rc)
        return rc;
    if (q->open_events++ == 0) {
        q->open_since_ms = vg_time_now_ms();
        uv_timer_start(&q->timer, age_cb, q->conf->batch_max_age_ms, 0);
    }
    q->st.events_total++;
    if (q->open_events >= q->conf->batch_max_events || q->open.len >= q->conf->batch_max_bytes)
        close_batch(q);
    return 0;
}

/* Puts a LossRecord for what was dropped into the open batch. */
static void report_loss(struct queue *q)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__LossRecord lr = VIGIL__V1__LOSS_RECORD__INIT;
    struct vg_buf b;

    lr.source = "queue.full";
    lr.count = q->lost_events;
    lr.unit = "events";
    lr.first_time_ms = (int64_t)q->lost_first_ms;
    lr.last_time_ms = (int64_t)q->lost_last_ms;
    lr.reason = "collector unreachable and the memory queue was full";
    ev.time_ms = vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_LOSS;
    ev.loss = &lr;
    vg_buf_init(&b, 4096);
    if (vg_pb_pack(&ev.base, &b) == 0) {
        q->lost_events = 0;
        q->lost_first_ms = q->lost_last_ms = 0;
        (void)add_raw(q, b.data, b.len);
    }
    vg_buf_free(&b);
}

int queue_add(struct queue *q, const uint8_t *ev, size_t len)
{
    int rc = add_raw(q, ev, len);
    if (rc) {
        int64_t now = vg_time_now_ms();
        q->lost_events++;
        q->st.dropped_total++;
        if (!q->lost_first_ms)
            q->lost_first_ms = (uint64_t)now;
        q->lost_last_ms = (uint64_t)now;
    }
    return rc;
}

void queue_flush(struct queue *q)
{
    close_batch(q);
}

struct qbatch *queue_next_unsent(struct queue *q)
{
    for (struct qbatch *b = q->head; b; b = b->next)
        if (!b->sent)
            return b;
    return NULL;
}

void queue_mark_unsent(struct queue *q)
{
    for (struct qbatch *b = q->head; b; b = b->next)
        b->sent = 0;
}

size_t queue_ack(struct queue *q, uint64_t seq)
{
    size_t n = 0;
    while (q->head && q->head->seq <= seq) {
        struct qbatch *b = q->head;
        q->head = b->next;
        if (!q->head)
            q->tail = NULL;
        q->nbatches--;
        q->bytes -= b->len;
        free(b->data);
        free(b);
        n++;
    }
    if (seq > q->last_acked)
        q->last_acked = seq;
    return n;
}

int queue_drop(struct queue *q, uint64_t seq, const char *why)
{
    struct qbatch **pp = &q->head, *prev = NULL;
    int64_t now = vg_time_now_ms();

    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        struct qbatch *b = *pp;
        if (b->seq != seq)
            continue;
        *pp = b->next;
        if (q->tail == b)
            q->tail = prev;
        q->nbatches--;
        q->bytes -= b->len;
        q->lost_events += b->events;
        q->st.dropped_total += b->events;
        if (!q->lost_first_ms)
            q->lost_first_ms = (uint64_t)now;
        q->lost_last_ms = (uint64_t)now;
        log_warnx("[queue] dropped batch %llu (%u events): %s", (unsigned long long)seq,
                  b->events, why);
        free(b->data);
        free(b);
        report_loss(q);
        return 1;
    }
    return 0;
}

void queue_new_epoch(struct queue *q)
{
    vg_random(q->epoch, sizeof(q->epoch));
    q->last_acked = 0;
}

const uint8_t *queue_epoch(const struct queue *q) { return q->epoch; }
uint64_t queue_next_seq(const struct queue *q) { return q->next_seq; }
uint64_t queue_last_acked(const struct queue *q) { return q->last_acked; }

void queue_stats(const struct queue *q, struct agent_stats *out)
{
    *out = q->st;
    out->queued_events = q->open_events;
    out->queued_batches = q->nbatches;
    out->queued_bytes = q->bytes + q->open.len;
}

static void queue_closed(uv_handle_t *h)
{
    struct queue *q = h->data;
    while (q->head) {
        struct qbatch *b = q->head;
        q->head = b->next;
        free(b->data);
        free(b);
    }
    vg_buf_free(&q->open);
    free(q);
}

void queue_free(struct queue *q)
{
    if (q->nbatches || q->open_events)
        log_warnx("[queue] exiting with %zu unacknowledged batches and %u open events; without "
                  "a disk spool they are lost", q->nbatches, q->open_events);
    uv_close((uv_handle_t *)&q->timer, queue_closed);
}
