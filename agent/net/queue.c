#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "queue.h"
#include "util.h"

/* Field numbers of vigil.v1.Batch and vigil.v1.Event (telemetry.proto). */
#define BATCH_SEQ 1
#define BATCH_CREATED 2
#define BATCH_EVENTS 3
#define EVENT_OS_STATE 10
#define EVENT_LOSS 12
#define EVENT_PACKAGE_INVENTORY 20
#define EVENT_PACKAGE_DELTA 21
#define EVENT_PENDING_UPDATES 22
#define EVENT_PACKAGE_HISTORY 23
#define EVENT_ISOLATION_STATE 60
/* One event may not exceed this, whatever batch_max_bytes says. */
#define EVENT_MAX (4u * 1024 * 1024)

enum {
    LOSS_QUEUE,
    LOSS_SPOOL_FULL,
    LOSS_SPOOL_CORRUPT,
    LOSS_REJECTED,
    LOSS_JOURNAL,
    LOSS_UNDECODABLE,
    LOSS_N
};

struct queue {
    uv_loop_t *loop;
    const struct agent_conf *conf;
    void (*on_ready)(void *ctx);
    void *ctx;
    uv_timer_t timer, sync_timer;
    int closing;
    struct spool *spool;
    struct vg_buf open;
    uint32_t open_events;
    int open_keep;
    /* loss not yet reported, by source */
    struct loss {
        const char *source, *unit, *reason;
        uint64_t count, first_ms, last_ms;
    } loss[LOSS_N];
    uint64_t in_open[LOSS_N];  /* counts carried by loss records in the open batch */
    int reporting;
    uint64_t rep_dropped_records, rep_bad, rep_exit; /* spool totals already turned into loss */
    uint64_t rep_jnl;
    /* Replaying the journal at start: the events added are in it already,
     * until the batch they are in closes. */
    int jnl_holds;
    struct vg_ratelimit jnl_rl;
    int warned_full;
    struct agent_stats st;
};

static void note_loss(struct queue *q, int which, uint64_t count)
{
    struct loss *l = &q->loss[which];
    uint64_t now = (uint64_t)vg_time_now_ms();
    if (!count)
        return;
    l->count += count;
    if (!l->first_ms)
        l->first_ms = now;
    l->last_ms = now;
}

/* Is this encoded Event one whose batch must never be dropped? */
static int keep_kind(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t key = 0;
        int shift = 0;
        while (i < len && shift < 64) {
            key |= (uint64_t)(p[i] & 0x7f) << shift;
            shift += 7;
            if (!(p[i++] & 0x80))
                break;
        }
        if ((key >> 3) >= 10) {
            uint64_t f = key >> 3;
            /* A dropped loss record would lose the count it carries; a
             * dropped delta would leave the collector's inventory wrong. */
            return f == EVENT_OS_STATE || f == EVENT_LOSS || f == EVENT_PACKAGE_INVENTORY ||
                   f == EVENT_PACKAGE_DELTA || f == EVENT_PENDING_UPDATES ||
                   f == EVENT_PACKAGE_HISTORY || f == EVENT_ISOLATION_STATE;
        }
        if ((key & 7) == 0) { /* varint: skip it */
            while (i < len && (p[i++] & 0x80))
                ;
        } else {
            return 0; /* time_ms is the only field before the kind */
        }
    }
    return 0;
}

static int add_raw(struct queue *q, const uint8_t *ev, size_t len, const struct vg_ps_tag *tag);

/* Turns counted loss into LossRecord events in the open batch. */
static void report_loss(struct queue *q)
{
    struct spool_stats ss;

    spool_stats(q->spool, &ss);
    note_loss(q, LOSS_SPOOL_FULL, ss.dropped_events - q->rep_dropped_records);
    q->rep_dropped_records = ss.dropped_events;
    note_loss(q, LOSS_SPOOL_CORRUPT, ss.bad_records - q->rep_bad);
    q->rep_bad = ss.bad_records;
    note_loss(q, LOSS_QUEUE, ss.lost_at_exit_events - q->rep_exit);
    q->rep_exit = ss.lost_at_exit_events;
    note_loss(q, LOSS_JOURNAL, ss.journal_bad + ss.journal_torn - q->rep_jnl);
    q->rep_jnl = ss.journal_bad + ss.journal_torn;
    if (q->reporting)
        return;
    q->reporting = 1;
    for (int i = 0; i < LOSS_N; i++) {
        struct loss *l = &q->loss[i];
        Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
        Vigil__V1__LossRecord lr = VIGIL__V1__LOSS_RECORD__INIT;
        struct vg_buf b;
        if (!l->count)
            continue;
        lr.source = (char *)l->source;
        lr.count = l->count;
        lr.unit = (char *)l->unit;
        lr.first_time_ms = (int64_t)l->first_ms;
        lr.last_time_ms = (int64_t)l->last_ms;
        lr.reason = (char *)l->reason;
        ev.time_ms = vg_time_now_ms();
        ev.kind_case = VIGIL__V1__EVENT__KIND_LOSS;
        ev.loss = &lr;
        vg_buf_init(&b, 4096);
        if (vg_pb_pack(&ev.base, &b) == 0 && add_raw(q, b.data, b.len, NULL) == 0) {
            log_warnx("[queue] reporting loss: %llu %s (%s)", (unsigned long long)l->count,
                      l->unit, l->source);
            /* The count travels in the open batch now; it comes back here
             * if that batch cannot be kept (close_batch). */
            q->in_open[i] += l->count;
            l->count = l->first_ms = l->last_ms = 0;
        }
        vg_buf_free(&b);
    }
    q->reporting = 0;
}

static void close_batch(struct queue *q)
{
    struct vg_buf b;
    uint64_t seq = queue_next_seq(q);
    struct spool_stats ss;
    int rc;

    if (q->open_events == 0)
        return;
    uv_timer_stop(&q->timer);
    vg_buf_init(&b, q->open.len + 32);
    rc = vg_pb_put_varint(&b, BATCH_SEQ, seq);
    if (rc == 0)
        rc = vg_pb_put_varint(&b, BATCH_CREATED, (uint64_t)vg_time_now_ms());
    if (rc == 0)
        rc = vg_buf_append(&b, q->open.data, q->open.len);
    if (rc == 0)
        rc = spool_append(q->spool, q->open_keep ? SPOOL_KEEP : SPOOL_TELEMETRY,
                          q->open_events, b.data, b.len, &seq);
    if (rc) {
        log_warnx("[queue] cannot keep a batch of %u events: %s", q->open_events,
                  vg_strerror(rc));
        note_loss(q, LOSS_QUEUE, q->open_events);
        q->st.dropped_total += q->open_events;
        for (int i = 0; i < LOSS_N; i++) /* the loss records in it did not make it */
            note_loss(q, i, q->in_open[i]);
    }
    memset(q->in_open, 0, sizeof(q->in_open));
    vg_buf_free(&b);
    /* After the append: a death in between leaves a journal whose seq
     * the spool holds, which the next start discards (spool.h). */
    spool_journal_reset(q->spool);
    q->jnl_holds = 0;
    vg_buf_reset(&q->open);
    q->open_events = 0;
    q->open_keep = 0;

    spool_stats(q->spool, &ss);
    if (!q->warned_full && ss.bytes > q->conf->spool_max_bytes / 10 * 8) {
        char used[VG_FMT_MAX], max[VG_FMT_MAX];
        q->warned_full = 1;
        log_warnx("[spool] over 80%% full (%s of %s, %llu batches): the collector is not keeping "
                  "up or not reachable", vg_fmt_size(ss.bytes, used, sizeof(used)),
                  vg_fmt_size(q->conf->spool_max_bytes, max, sizeof(max)),
                  (unsigned long long)ss.records);
    } else if (q->warned_full && ss.bytes < q->conf->spool_max_bytes / 10 * 7) {
        q->warned_full = 0;
    }
    if (rc == 0)
        q->on_ready(q->ctx);
}

static void age_cb(uv_timer_t *t)
{
    close_batch(t->data);
    report_loss(t->data); /* goes at the head of the next batch */
}

static void sync_cb(uv_timer_t *t)
{
    struct queue *q = t->data;
    spool_sync(q->spool);
}

static void journal_failed(struct queue *q, int rc)
{
    uint64_t sup;
    if (rc && vg_ratelimit(&q->jnl_rl, &sup))
        log_warnx("[queue] cannot write the open batch's journal (%s): it is lost if the "
                  "agent dies before the batch closes", vg_strerror(rc));
}

static int add_raw(struct queue *q, const uint8_t *ev, size_t len, const struct vg_ps_tag *tag)
{
    int rc;
    int keep = keep_kind(ev, len);

    if (len > EVENT_MAX)
        return VG_ETOOBIG;
    /* Batches are of one class: events that must never be dropped do not
     * share a batch with telemetry, which a full spool may drop. */
    /* A loop: closing a batch may open the next with a loss record (of
     * the KEEP class), which must not take this event in. */
    while (q->open_events && (q->open.len + len + 8 > q->conf->batch_max_bytes ||
                              keep != q->open_keep))
        close_batch(q);
    rc = vg_pb_put_bytes(&q->open, BATCH_EVENTS, ev, len);
    if (rc)
        return rc;
    /* On disk before queue_add returns: a killed process loses nothing
     * it was given.  A journal that refuses (full disk) leaves the event
     * in memory only, as before the journal. */
    if (!q->jnl_holds)
        journal_failed(q, spool_journal_add_tagged(q->spool, ev, len, tag));
    /* Where it came from, before a close below puts it in a record. */
    if (tag)
        spool_set_mark(q->spool, tag);
    q->open_keep = keep;
    if (q->open_events++ == 0 && !q->closing)
        uv_timer_start(&q->timer, age_cb, q->conf->batch_max_age_ms, 0);
    q->st.events_total++;
    if (q->open_events >= q->conf->batch_max_events || q->open.len >= q->conf->batch_max_bytes)
        close_batch(q);
    return 0;
}

static void replay_cb(void *ctx, const uint8_t *ev, size_t len)
{
    struct queue *q = ctx;
    if (add_raw(q, ev, len, NULL)) {
        note_loss(q, LOSS_QUEUE, 1);
        q->st.dropped_total++;
    }
}

struct queue *queue_new(uv_loop_t *loop, const struct agent_conf *conf,
                        void (*on_ready)(void *ctx), void *ctx, char *err, size_t errlen)
{
    struct queue *q = calloc(1, sizeof(*q));
    struct spool_opts so;
    struct spool_stats ss;
    char dir[PATH_MAX];

    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->loop = loop;
    q->conf = conf;
    q->on_ready = on_ready;
    q->ctx = ctx;
    q->loss[LOSS_QUEUE] = (struct loss){ "queue", "events", "the spool could not keep a batch", 0, 0, 0 };
    q->loss[LOSS_SPOOL_FULL] = (struct loss){ "spool.full", "events",
                                              "spool full: oldest telemetry dropped", 0, 0, 0 };
    q->loss[LOSS_SPOOL_CORRUPT] = (struct loss){ "spool.corrupt", "batches",
                                                 "spool records failed their CRC or were torn "
                                                 "by a crash", 0, 0, 0 };
    q->loss[LOSS_REJECTED] = (struct loss){ "collector.rejected", "events",
                                            "batch rejected by the collector", 0, 0, 0 };
    q->loss[LOSS_JOURNAL] = (struct loss){ "spool.journal", "events",
                                           "entries of the open batch's journal failed their CRC "
                                           "or were torn by a crash", 0, 0, 0 };
    q->loss[LOSS_UNDECODABLE] = (struct loss){ "spool.undecodable", "events",
                                               "a spool record passed its CRC but holds no "
                                               "batch: skipped, never sent", 0, 0, 0 };
    q->jnl_rl.interval_ms = 60000;
    q->jnl_rl.burst = 1;
    snprintf(dir, sizeof(dir), "%s/spool", conf->state_dir);
    memset(&so, 0, sizeof(so));
    so.max_bytes = conf->spool_max_bytes;
    so.mem_max_bytes = conf->spool_memory_max;
    so.fsync = (enum spool_fsync)conf->spool_fsync;
    q->spool = spool_open(dir, &so, err, errlen);
    if (!q->spool) {
        free(q);
        return NULL;
    }
    spool_stats(q->spool, &ss);
    if (ss.recovered || ss.bad_records)
        log_info("[spool] %s: %llu unacknowledged batches to resend, %llu bad records skipped",
                 dir, (unsigned long long)ss.recovered, (unsigned long long)ss.bad_records);
    vg_buf_init(&q->open, conf->batch_max_bytes + EVENT_MAX + 64);
    uv_timer_init(loop, &q->timer);
    uv_timer_init(loop, &q->sync_timer);
    q->timer.data = q->sync_timer.data = q;
    if (conf->spool_fsync == SPOOL_FSYNC_INTERVAL)
        uv_timer_start(&q->sync_timer, sync_cb, conf->spool_fsync_interval_ms,
                       conf->spool_fsync_interval_ms);
    /* The open batch a killed process left, from the journal (which
     * keeps it until the batch is a record). */
    q->jnl_holds = 1;
    if (spool_journal_replay(q->spool, replay_cb, q))
        log_info("[queue] %llu events of the last open batch recovered from the journal",
                 (unsigned long long)ss.journal_recovered);
    q->jnl_holds = 0;
    /* Late already: they go now, not max_age after this start (a run
     * killed again before that would hold them back once more). */
    close_batch(q);
    report_loss(q); /* what the scan found goes out first */
    return q;
}

void queue_mark(const struct queue *q, struct vg_ps_tag *tag)
{
    spool_get_mark(q->spool, tag);
}

int queue_add(struct queue *q, const uint8_t *ev, size_t len, const struct vg_ps_tag *tag)
{
    int rc = add_raw(q, ev, len, tag);
    if (rc) {
        note_loss(q, LOSS_QUEUE, 1);
        q->st.dropped_total++;
    }
    report_loss(q); /* anything the closes above counted */
    return rc;
}

void queue_hold(struct queue *q)
{
    spool_journal_hold(q->spool);
}

void queue_trim(struct queue *q)
{
    if (q->open_events == 0)
        vg_buf_shrink(&q->open);
    spool_trim(q->spool);
}

void queue_commit(struct queue *q)
{
    journal_failed(q, spool_journal_flush(q->spool));
}

void queue_flush(struct queue *q)
{
    /* Closing may count loss, whose record then needs a batch of its own. */
    for (int i = 0; i < 3 && q->open_events; i++) {
        close_batch(q);
        report_loss(q);
    }
}

struct spool_rec *queue_next_unsent(struct queue *q)
{
    return spool_at(q->spool, spool_sent(q->spool));
}

size_t queue_in_flight(struct queue *q)
{
    return spool_sent(q->spool);
}

void queue_mark_sent(struct queue *q)
{
    spool_mark_sent(q->spool);
}

int queue_read(struct queue *q, const struct spool_rec *r, uint8_t **out)
{
    return spool_read(q->spool, r, out);
}

void queue_sync(struct queue *q)
{
    if (q->conf->spool_fsync == SPOOL_FSYNC_BATCH)
        spool_sync(q->spool);
}

void queue_mark_unsent(struct queue *q)
{
    spool_mark_unsent(q->spool);
    report_loss(q); /* what was dropped in flight and not stored */
}

void queue_ack(struct queue *q, uint64_t seq)
{
    spool_ack(q->spool, seq);
}

static void drop(struct queue *q, uint64_t seq, int kind, const char *why)
{
    size_t n = spool_count(q->spool);
    for (size_t i = 0; i < n; i++) {
        struct spool_rec *r = spool_at(q->spool, i);
        if (r->seq != seq)
            continue;
        log_warnx("[queue] dropped batch %llu (%u events): %s", (unsigned long long)seq,
                  r->events, why);
        if (kind >= 0)
            note_loss(q, kind, r->events);
        q->st.dropped_total += r->events;
        spool_drop(q->spool, seq);
        report_loss(q);
        return;
    }
}

void queue_drop(struct queue *q, uint64_t seq, const char *why)
{
    drop(q, seq, LOSS_REJECTED, why);
}

void queue_drop_recorded(struct queue *q, uint64_t seq, const char *why)
{
    drop(q, seq, -1, why);
}

void queue_drop_undecodable(struct queue *q, uint64_t seq)
{
    drop(q, seq, LOSS_UNDECODABLE, "it passed its CRC but does not decode as a batch");
}

uint64_t queue_recovered_high(const struct queue *q)
{
    return spool_recovered_high(q->spool);
}

void queue_new_epoch(struct queue *q)
{
    if (spool_new_epoch(q->spool))
        log_warnx("[spool] cannot record the new stream epoch on disk");
}

const uint8_t *queue_epoch(const struct queue *q) { return spool_epoch(q->spool); }
uint64_t queue_next_seq(const struct queue *q) { return spool_next_seq(q->spool); }
uint64_t queue_last_acked(const struct queue *q) { return spool_acked(q->spool); }

void queue_stats(const struct queue *q, struct agent_stats *out)
{
    struct spool_stats ss;
    spool_stats(q->spool, &ss);
    *out = q->st;
    out->dropped_total += ss.dropped_events;
    out->queued_events = q->open_events;
    out->queued_batches = ss.records;
    out->queued_bytes = ss.bytes;
}

static void queue_closed(uv_handle_t *h)
{
    struct queue *q = h->data;
    if (--q->closing > 0)
        return;
    spool_close(q->spool);
    vg_buf_free(&q->open);
    free(q);
}

void queue_free(struct queue *q)
{
    struct spool_stats ss;
    q->closing = 0;
    spool_settle(q->spool);
    report_loss(q);
    queue_flush(q); /* loss records counted while stopping are kept too */
    spool_stats(q->spool, &ss);
    if (ss.records)
        log_info("[spool] %llu unacknowledged batches stay spooled for the next start",
                 (unsigned long long)ss.records);
    q->closing = 2;
    uv_close((uv_handle_t *)&q->timer, queue_closed);
    uv_close((uv_handle_t *)&q->sync_timer, queue_closed);
}
