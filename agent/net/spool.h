/*
 * The agent's disk spool: every closed batch is written here before it
 * is sent, and removed only once the collector has acknowledged it.
 *
 * Layout, under STATE_DIR/spool/:
 *
 *   meta                 epoch, acknowledged and highest sequence numbers
 *                        (written atomically: temp file, fsync, rename)
 *   00000000000000000001.seg   segments, numbered in creation order; only
 *   00000000000000000002.seg   the newest one is appended to
 *
 * A segment is a run of records:
 *
 *   0        4        8                  16       18       20       24       28
 *   +--------+--------+------------------+--------+--------+--------+--------+------------
 *   | magic  | len    | seq              | class  | 0      | events | crc32c | payload ...
 *   | "VGS1" | u32 LE | u64 LE           | u16 LE | u16    | u32 LE | u32 LE | len bytes
 *   +--------+--------+------------------+--------+--------+--------+--------+------------
 *
 *   crc32c covers bytes 4..24 and the payload; the payload is one encoded
 *   vigil.v1.Batch.  class: SPOOL_TELEMETRY may be dropped when the spool
 *   is full, oldest first; SPOOL_KEEP (OS state, inventory snapshots,
 *   loss records, command results) is never dropped.
 *
 * Opening scans every segment: a record cut short at the end of the
 * newest segment (a crash mid-write) is truncated away; a record whose
 * CRC fails is skipped and counted; the scan resynchronises on the next
 * magic.  Both kinds of loss are reported to the caller.
 *
 * Invariants: a sequence number is never reused within an epoch (the
 * highest one assigned is persisted before any segment holding it is
 * deleted); meta's acknowledged sequence is persisted before segments
 * are deleted, so a crash can only cause resends, which the collector
 * de-duplicates.
 */
#ifndef VG_SPOOL_H
#define VG_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_TELEMETRY 0
#define SPOOL_KEEP 1
#define SPOOL_HDR 28
#define SPOOL_REC_MAX (16u * 1024 * 1024)

enum spool_fsync { SPOOL_FSYNC_ALWAYS, SPOOL_FSYNC_BATCH, SPOOL_FSYNC_INTERVAL };

struct spool_opts {
    uint64_t max_bytes;      /* all segments together */
    uint64_t mem_max_bytes;  /* records kept in memory when the disk refuses */
    enum spool_fsync fsync;
};

/* One unacknowledged batch. */
struct spool_rec {
    uint64_t seq;
    uint32_t len, events;
    uint16_t cls;
    uint64_t seg;            /* segment number; 0: memory only */
    uint64_t off;
    uint8_t *mem;            /* payload when memory only (disk full) */
};

/* What opening found, and what was dropped since (running totals). */
struct spool_stats {
    uint64_t recovered;      /* records found unacknowledged at open */
    uint64_t bad_records;    /* CRC or structure failures skipped */
    uint64_t torn_bytes;     /* truncated from the newest segment's tail */
    uint64_t dropped_records, dropped_events; /* dropped because full */
    uint64_t unspooled;      /* records kept in memory (disk refused) */
    uint64_t lost_at_exit_events; /* memory-only events lost at the last stop */
    uint64_t records, bytes; /* held now */
};

struct spool;

/* Opens (creating) DIR, scans it, and rebuilds the list of unacknowledged
 * records.  Returns NULL with a message in err. */
struct spool *spool_open(const char *dir, const struct spool_opts *o, char *err, size_t errlen);
void spool_close(struct spool *s);

const uint8_t *spool_epoch(const struct spool *s);
uint64_t spool_next_seq(const struct spool *s);
uint64_t spool_acked(const struct spool *s);
/* New random epoch; sequence numbers continue.  Returns 0 or -errno. */
int spool_new_epoch(struct spool *s);

/* Appends a closed batch under the next sequence number (returned in
 * *seq).  Makes room by dropping the oldest telemetry; if the disk
 * refuses (ENOSPC, EIO), keeps the record in memory within mem_max_bytes.
 * Returns 0, or VG_ETOOBIG if even that is impossible (the caller counts
 * the batch as lost). */
int spool_append(struct spool *s, uint16_t cls, uint32_t events, const void *data, size_t len,
                 uint64_t *seq);
/* Makes appended records durable (fsync policy batch/interval). */
int spool_sync(struct spool *s);

/* Records in sequence order; valid until the next append/ack/drop. */
size_t spool_count(const struct spool *s);
struct spool_rec *spool_at(struct spool *s, size_t i);
/* Records are sent in order: recs [0, spool_sent()) are in flight on the
 * current connection.  spool_mark_sent() adds the next one; after a
 * reconnect spool_mark_unsent() starts over. */
size_t spool_sent(const struct spool *s);
void spool_mark_sent(struct spool *s);
void spool_mark_unsent(struct spool *s);
/* Reads a record's payload into *out (malloc'd).  Returns 0 or an error. */
int spool_read(struct spool *s, const struct spool_rec *r, uint8_t **out);

/* Acknowledged: forgets records with seq <= seq, deletes dead segments. */
int spool_ack(struct spool *s, uint64_t seq);
/* Drops one record for good (rejected by the collector). */
int spool_drop(struct spool *s, uint64_t seq);
void spool_stats(const struct spool *s, struct spool_stats *out);

#endif
