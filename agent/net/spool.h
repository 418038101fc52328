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
 * The open batch (not yet a record) is kept in STATE_DIR/spool/journal,
 * so that the death of the process (kill -9) loses nothing that was
 * added: each event is appended with one write() before queue_add()
 * returns (no fsync: it survives the process, not the power; closed
 * batches keep the fsync policy above).
 *
 *   header, once, at offset 0 (written together with the first entry):
 *   0        4        8                  16       20
 *   +--------+--------+------------------+--------+
 *   | "VGJ1" | 0      | seq              | crc32c |
 *   |        | u32    | u64 LE           | u32 LE |
 *   +--------+--------+------------------+--------+
 *   entries, one per event:
 *   0        4        8        12
 *   +--------+--------+--------+-----------------------------------
 *   | "VGJE" | len    | crc32c | payload: one encoded vigil.v1.Event
 *   |        | u32 LE | u32 LE | len bytes (<= SPOOL_JNL_EVENT_MAX)
 *   +--------+--------+--------+-----------------------------------
 *
 *   The header's crc32c covers bytes 0..16; an entry's covers len and
 *   the payload.  seq is the sequence number the batch will get when it
 *   closes.  Closing appends the record, then truncates the journal to
 *   0 bytes.  A process killed between the two leaves a journal whose
 *   seq the spool already holds (seq < spool_next_seq): it is discarded,
 *   so nothing is sent twice.  Otherwise its entries are the open batch
 *   of the next start: a torn last entry is truncated, entries failing
 *   their CRC are skipped (the scan resynchronises on "VGJE"), and both
 *   are counted (journal_torn, journal_bad), never dropped silently.
 *   The file holds at most one batch: SPOOL_JNL_MAX bytes.
 *
 *   An event that came with a tag (struct vg_ps_tag: the parent's run and
 *   event number, the eBPF ring position) is a "VGJT" entry: the same
 *   header, then the tag (32 bytes, LE) and the event, both in len and
 *   the CRC, so that an event and where it came from reach the file
 *   together (a write cut by SIGKILL at a page keeps whole entries only).
 *   The last tag (the mark) tells the next start which events the spool
 *   already holds, so that they are not queued again.  When the journal
 *   is emptied the mark goes to STATE_DIR/spool/mark first ("VGMF", the
 *   tag, crc32c; no fsync: it is for the death of the process, as the
 *   journal is).
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
#define SPOOL_JNL_HDR 20
#define SPOOL_JNL_ENTRY_HDR 12
#define SPOOL_JNL_EVENT_MAX (4u * 1024 * 1024)
/* A batch (<= 4 MiB), its last event (<= 4 MiB), 100000 entry headers. */
#define SPOOL_JNL_MAX (10u * 1024 * 1024)

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
    /* The journal found at open: events recovered into the open batch,
     * events discarded because their batch was already a record, and
     * loss (entries failing their CRC, a torn last entry, an unreadable
     * journal: one each). */
    uint64_t journal_recovered, journal_discarded, journal_bad, journal_torn;
    uint64_t journal_write_errors; /* events the journal could not take */
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
/* At a stop: batches dropped (spool full) while the collector had them
 * unacknowledged, still without an answer, are counted as dropped, and
 * logged: reported rather than left out, though the collector may have
 * stored them. */
void spool_settle(struct spool *s);

/* ---- the open batch's journal (format above) ---- */

/* Appends one encoded event to the journal with a single write() (the
 * header goes in the same write when the journal is empty).  Returns 0,
 * VG_ETOOBIG (over SPOOL_JNL_EVENT_MAX or SPOOL_JNL_MAX) or -errno; on
 * failure the journal is left as it was (the event is then only in
 * memory: the caller keeps it, and it is counted in journal_write_errors). */
int spool_journal_add(struct spool *s, const void *ev, size_t len);
struct vg_ps_tag;
/* The same, with where the event came from (NULL: spool_journal_add). */
int spool_journal_add_tagged(struct spool *s, const void *ev, size_t len,
                             const struct vg_ps_tag *tag);
/* Where the events added so far came from (kept in memory for the mark
 * file, written when the journal is emptied): the epoch and number of t,
 * and its ring position if it has one (otherwise the last ring position
 * set stays). */
void spool_set_mark(struct spool *s, const struct vg_ps_tag *t);
/* The last mark found at open (zeroes if none) or set since. */
void spool_get_mark(const struct spool *s, struct vg_ps_tag *t);
/* Holds the entries spool_journal_add() takes in memory until
 * spool_journal_flush(), which writes them all with one write() (a burst
 * of events costs one system call, not one each).  Until then they are
 * only in memory: acknowledge nothing before the flush. */
void spool_journal_hold(struct spool *s);
/* Writes what is held and ends the hold.  Returns 0 or -errno; on failure
 * the journal is left as it was and the held events are counted in
 * journal_write_errors (they are in the open batch, in memory only). */
int spool_journal_flush(struct spool *s);
/* The highest sequence number found unacknowledged on disk at open (0:
 * none): records up to it were written by an earlier process. */
uint64_t spool_recovered_high(const struct spool *s);
/* Gives back the journal's write buffer when a burst made it big. */
void spool_trim(struct spool *s);
/* The open batch was appended as a record (or given up): empties the
 * journal.  Returns 0 or -errno. */
int spool_journal_reset(struct spool *s);
/* Events the journal held at open for the batch to come, in order: calls
 * fn for each (ev is valid during the call only), then frees them.  The
 * journal file keeps them until spool_journal_reset().  Returns how many
 * there were. */
size_t spool_journal_replay(struct spool *s, void (*fn)(void *ctx, const uint8_t *ev, size_t len),
                            void *ctx);

#endif
