/* The agent's disk spool; format and invariants in spool.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "psmsg.h"
#include "spool.h"
#include "util.h"

#define MAGIC "VGS1"
#define TOMB "VGSD" /* a dropped record: skipped by the scan, not counted */
#define META_MAGIC "VGM2"
#define META_SLOT 64
#define SEG_MAX_DEFAULT (8u * 1024 * 1024)
#define JNL_MAGIC "VGJ1"
#define JNL_ENTRY "VGJE"
#define JNL_TAGGED "VGJT"
#define MARK_FILE_MAGIC "VGMF"
/* Sequence numbers count batches from 1 and are never assigned past
 * this (the collector keeps them as SQLite's signed 64-bit integers);
 * one past it found at open is damage, and taking it would let the next
 * number wrap to 0. */
#define SEQ_MAX ((uint64_t)INT64_MAX)

struct seg {
    uint64_t first; /* name */
    uint64_t size;
    uint32_t live;
};

struct spool {
    char dir[PATH_MAX - 32];
    struct spool_opts o;
    uint8_t epoch[16];
    uint64_t acked, high;
    /* Unacknowledged records in sequence order: recs[0..n) lives at
     * base[off..off+n), so that acknowledging from the front is O(1). */
    struct spool_rec *base, *recs;
    size_t off, n, cap;
    size_t nsent; /* recs[0..nsent) were sent on the current connection */
    /* Records dropped (spool full) while sent and not yet acknowledged:
     * the collector may still store them, so they are counted as dropped
     * only once an acknowledgement says it did not (spool_ack,
     * spool_mark_unsent).  Counted at once they were counted twice, as
     * stored and as lost. */
    struct limbo {
        uint64_t seq;
        uint32_t events;
    } *limbo;
    size_t nlimbo, caplimbo;
    struct seg *segs;
    size_t nseg, capseg;
    int cur_fd;          /* newest segment, open for append; -1 if none */
    uint64_t seg_max;
    uint64_t disk_bytes, mem_bytes;
    int dirty;
    uint64_t next_seg; /* segments are numbered in creation order */
    uint64_t meta_gen; /* generation of the newest meta slot */
    uint64_t lost_at_exit; /* events held in memory at the last stop (reported) */
    uint64_t torn_seq;     /* seq of a torn record truncated at open, 0: none */
    uint64_t recovered_high; /* the highest seq found unacknowledged at open */
    /* The open batch's journal: descriptor (O_APPEND; -1 when it could not
     * be opened), bytes in it (0: empty, no header yet), and what open
     * recovered from it for spool_journal_replay(). */
    int jfd;
    uint64_t jsize;
    /* Entries not yet written (spool_journal_hold), and how many. */
    struct vg_buf jpend;
    size_t jpend_n;
    int jhold;
    uint8_t *jrec;
    size_t jrec_len;
    struct vg_ps_tag mark; /* spool.h: the last tag set or found */
    struct spool_stats st;
};

static int new_segment(struct spool *s);
static int write_rec(struct spool *s, const uint8_t *hdr, const void *data, size_t len,
                     uint64_t *off_out);
static void make_header(uint8_t *h, uint64_t seq, uint16_t cls, uint32_t events, const void *data,
                        size_t len);
static void journal_open(struct spool *s);

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void seg_path(const struct spool *s, uint64_t first, char *out, size_t len)
{
    snprintf(out, len, "%s/%020llu.seg", s->dir, (unsigned long long)first);
}

static struct seg *seg_find(struct spool *s, uint64_t first)
{
    for (size_t i = 0; i < s->nseg; i++)
        if (s->segs[i].first == first)
            return &s->segs[i];
    return NULL;
}

static int seg_add(struct spool *s, uint64_t first, uint64_t size)
{
    if (s->nseg == s->capseg) {
        size_t nc = s->capseg ? s->capseg * 2 : 16;
        struct seg *ns = realloc(s->segs, nc * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        s->segs = ns;
        s->capseg = nc;
    }
    s->segs[s->nseg].first = first;
    s->segs[s->nseg].size = size;
    s->segs[s->nseg].live = 0;
    s->nseg++;
    return 0;
}

static int rec_push(struct spool *s, const struct spool_rec *r)
{
    if (s->off + s->n == s->cap) {
        if (s->off > s->n) {
            memmove(s->base, s->recs, s->n * sizeof(*s->recs));
            s->off = 0;
        } else {
            size_t nc = s->cap ? s->cap * 2 : 64;
            struct spool_rec *nr = realloc(s->base, nc * sizeof(*nr));
            if (!nr)
                return -ENOMEM;
            s->base = nr;
            s->cap = nc;
        }
        s->recs = s->base + s->off;
    }
    s->recs[s->n++] = *r;
    return 0;
}

/*
 * meta holds two 64-byte slots, written alternately in place with pwrite
 * and fdatasync, so that updating it needs no free disk space (a full
 * disk must still be able to delete acknowledged segments) and a torn
 * write leaves the other slot intact:
 *
 *   0      4          12         28        36       44       52       60
 *   | "VGM2" | gen u64 | epoch[16] | acked | high   | lost   | crc32c | 0
 */
static void meta_slot(const struct spool *s, uint64_t gen, uint8_t *m)
{
    memset(m, 0, META_SLOT);
    memcpy(m, META_MAGIC, 4); // NOLINT(bugprone-not-null-terminated-result): binary magic, not a string
    put64(m + 4, gen);
    memcpy(m + 12, s->epoch, 16);
    put64(m + 28, s->acked);
    put64(m + 36, s->high);
    put64(m + 44, s->lost_at_exit);
    put32(m + 52, vg_crc32c(0, m, 52));
}

static int write_meta(struct spool *s)
{
    uint8_t m[2 * META_SLOT];
    char path[PATH_MAX];
    int fd, rc = 0;

    snprintf(path, sizeof(path), "%s/meta", s->dir);
    s->meta_gen++;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        /* First time: both slots, atomically. */
        meta_slot(s, s->meta_gen, m);
        meta_slot(s, s->meta_gen, m + META_SLOT);
        return vg_file_write_atomic(path, m, sizeof(m), 0600, 0);
    }
    meta_slot(s, s->meta_gen, m);
    if (pwrite(fd, m, META_SLOT, (off_t)((s->meta_gen & 1) * META_SLOT)) != META_SLOT ||
        fdatasync(fd) < 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    return rc;
}

/* Deletes segments with no live record, other than the one being
 * appended to.  meta first: the deleted sequence numbers must stay
 * known as used. */
static void collect_garbage(struct spool *s)
{
    int any = 0;
    for (size_t i = 0; i < s->nseg; i++)
        if (s->segs[i].live == 0 && !(s->cur_fd >= 0 && i == s->nseg - 1))
            any = 1;
    if (!any)
        return;
    if (write_meta(s) != 0) {
        log_warnx("[spool] cannot write %s/meta; keeping acknowledged segments", s->dir);
        return;
    }
    for (size_t i = 0; i < s->nseg;) {
        int is_cur = s->cur_fd >= 0 && i == s->nseg - 1;
        if (s->segs[i].live == 0 && !is_cur) {
            char path[PATH_MAX];
            seg_path(s, s->segs[i].first, path, sizeof(path));
            if (unlink(path) < 0 && errno != ENOENT)
                log_warn("[spool] cannot delete %s", path);
            s->disk_bytes -= s->segs[i].size;
            memmove(&s->segs[i], &s->segs[i + 1], (s->nseg - i - 1) * sizeof(*s->segs));
            s->nseg--;
        } else {
            i++;
        }
    }
}

/* By sequence number, then where it was written. */
static int cmp_rec(const void *a, const void *b)
{
    const struct spool_rec *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

static int check_header(const uint8_t *h, uint64_t avail_after, uint32_t *len)
{
    if (memcmp(h, MAGIC, 4) != 0 && memcmp(h, TOMB, 4) != 0)
        return VG_ECORRUPT;
    *len = get32(h + 4);
    if (*len > SPOOL_REC_MAX || get16(h + 18) != 0)
        return VG_ECORRUPT;
    if (*len > avail_after)
        return VG_ETRUNC;
    return 0;
}

/* Scans one segment's bytes, adding live records.  Returns the length of
 * the valid prefix for a torn tail (== size when intact). */
/* Is there a whole, valid record starting anywhere in buf[from..size)? */
static int valid_after(const uint8_t *buf, uint64_t from, uint64_t size)
{
    for (uint64_t o = from; o + SPOOL_HDR <= size; o++) {
        uint32_t len;
        if (memcmp(buf + o, MAGIC, 4) != 0 && memcmp(buf + o, TOMB, 4) != 0)
            continue;
        if (check_header(buf + o, size - o - SPOOL_HDR, &len) == 0 &&
            vg_crc32c(vg_crc32c(0, buf + o + 4, 20), buf + o + SPOOL_HDR, len) ==
                get32(buf + o + 24))
            return 1;
    }
    return 0;
}

static uint64_t scan_segment(struct spool *s, struct seg *sg, const uint8_t *buf, uint64_t size,
                             int newest, uint64_t *max_seq)
{
    uint64_t off = 0, good_end = 0;
    int resync = 0;

    while (off < size) {
        uint32_t len = 0;
        int rc;
        if (size - off < SPOOL_HDR) {
            rc = VG_ETRUNC;
        } else {
            rc = check_header(buf + off, size - off - SPOOL_HDR, &len);
        }
        if (rc == VG_ETRUNC && newest && !valid_after(buf, off + 1, size)) {
            /* Cut short by a crash: everything from here is the torn tail.
             * (If a valid record follows, this one is corrupt instead.)
             * Its seq, when the header made it, lets the journal say
             * that the batch survived there (spool_open). */
            if (size - off >= SPOOL_HDR && memcmp(buf + off, MAGIC, 4) == 0)
                s->torn_seq = get64(buf + off + 8);
            break;
        }
        if (rc == 0) {
            uint32_t crc = vg_crc32c(0, buf + off + 4, 20);
            crc = vg_crc32c(crc, buf + off + SPOOL_HDR, len);
            if (crc != get32(buf + off + 24) || get64(buf + off + 8) > SEQ_MAX)
                rc = VG_ECORRUPT;
        }
        if (rc) {
            /* Skip to the next magic; one bad record per skipped run.  A
             * damaged record whose header names a batch the collector
             * already acknowledged loses nothing. */
            if (!resync && !(rc == VG_ECORRUPT && get64(buf + off + 8) <= s->acked))
                s->st.bad_records++;
            resync = 1;
            off++;
            while (off + 4 <= size && memcmp(buf + off, MAGIC, 4) != 0 &&
                   memcmp(buf + off, TOMB, 4) != 0)
                off++;
            if (off + 4 > size)
                off = size;
            good_end = off;
            continue;
        }
        resync = 0;
        if (memcmp(buf + off, TOMB, 4) == 0) {
            off += SPOOL_HDR + len; /* dropped on purpose, already counted */
            good_end = off;
            continue;
        }
        {
            struct spool_rec r;
            memset(&r, 0, sizeof(r));
            r.seq = get64(buf + off + 8);
            r.cls = get16(buf + off + 16);
            r.events = get32(buf + off + 20);
            r.len = len;
            r.seg = sg->first;
            r.off = off;
            if (r.seq > *max_seq)
                *max_seq = r.seq;
            if (r.seq > s->acked && rec_push(s, &r) == 0) {
                sg->live++;
                s->st.recovered++;
                if (r.seq > s->recovered_high)
                    s->recovered_high = r.seq;
            }
        }
        off += SPOOL_HDR + len;
        good_end = off;
    }
    return newest ? good_end : size;
}

static int scan(struct spool *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    uint64_t *firsts = NULL, max_seq = 0;
    size_t nf = 0, cf = 0;
    int rc = 0;

    if (!d) {
        snprintf(err, errlen, "cannot open spool directory %s: %s", s->dir, strerror(errno));
        return -errno;
    }
    while ((e = readdir(d)) != NULL) {
        uint64_t v;
        char num[32];
        size_t l = strlen(e->d_name);
        if (l != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        memcpy(num, e->d_name, 20);
        num[20] = '\0';
        if (vg_parse_u64(num, 1, UINT64_MAX, &v))
            continue;
        if (nf == cf) {
            size_t nc = cf ? cf * 2 : 16;
            uint64_t *nfp = realloc(firsts, nc * sizeof(*nfp));
            if (!nfp) {
                rc = -ENOMEM;
                break;
            }
            firsts = nfp;
            cf = nc;
        }
        firsts[nf++] = v;
    }
    closedir(d);
    if (rc)
        goto out;
    if (nf)
        qsort(firsts, nf, sizeof(*firsts), cmp_u64);
    s->next_seg = nf ? firsts[nf - 1] + 1 : 1;
    for (size_t i = 0; i < nf; i++) {
        char path[PATH_MAX], *buf = NULL;
        size_t size = 0;
        uint64_t keep;
        struct seg *sg;
        seg_path(s, firsts[i], path, sizeof(path));
        rc = vg_file_read(path, SPOOL_REC_MAX + s->seg_max + SPOOL_HDR, &buf, &size);
        if (rc) {
            log_warnx("[spool] cannot read %s: %s; skipping it", path, vg_strerror(rc));
            s->st.bad_records++;
            rc = 0;
            continue;
        }
        if ((rc = seg_add(s, firsts[i], size)) != 0) {
            free(buf);
            goto out;
        }
        sg = &s->segs[s->nseg - 1];
        keep = scan_segment(s, sg, (uint8_t *)buf, size, i == nf - 1, &max_seq);
        free(buf);
        if (keep < size) {
            log_warnx("[spool] %s: torn tail of %llu bytes (a write cut by a crash); truncating",
                      path, (unsigned long long)(size - keep));
            s->st.torn_bytes += size - keep;
            s->st.bad_records++;
            if (truncate(path, (off_t)keep) < 0)
                log_warn("[spool] cannot truncate %s", path);
            sg->size = keep;
        }
        s->disk_bytes += sg->size;
    }
    if (s->n) {
        size_t w = 1;
        qsort(s->recs, s->n, sizeof(*s->recs), cmp_rec);
        /* One sequence number twice (damage): the first written is kept,
         * the others are counted bad, or both would be sent. */
        for (size_t i = 1; i < s->n; i++) {
            if (s->recs[i].seq == s->recs[w - 1].seq) {
                struct seg *dup = seg_find(s, s->recs[i].seg);
                if (dup && dup->live)
                    dup->live--;
                s->st.recovered--;
                s->st.bad_records++;
                continue;
            }
            s->recs[w++] = s->recs[i];
        }
        s->n = w;
    }
    if (max_seq > s->high)
        s->high = max_seq;
out:
    free(firsts);
    return rc;
}

static int read_meta(struct spool *s)
{
    char path[PATH_MAX], *buf = NULL;
    size_t len = 0;
    int rc, found = 0;

    snprintf(path, sizeof(path), "%s/meta", s->dir);
    rc = vg_file_read(path, 4096, &buf, &len);
    if (rc)
        return rc;
    for (size_t off = 0; off + META_SLOT <= len && off < 2 * META_SLOT; off += META_SLOT) {
        const uint8_t *m = (const uint8_t *)buf + off;
        uint64_t gen = get64(m + 4);
        /* Damaged if acked > high: the next batch would be "acknowledged". */
        if (memcmp(m, META_MAGIC, 4) != 0 || vg_crc32c(0, m, 52) != get32(m + 52) ||
            get64(m + 36) > SEQ_MAX || get64(m + 28) > get64(m + 36))
            continue;
        if (found && gen <= s->meta_gen)
            continue;
        found = 1;
        s->meta_gen = gen;
        memcpy(s->epoch, m + 12, 16);
        s->acked = get64(m + 28);
        s->high = get64(m + 36);
        s->lost_at_exit = get64(m + 44);
    }
    free(buf);
    return found ? 0 : VG_ECORRUPT;
}

struct spool *spool_open(const char *dir, const struct spool_opts *o, char *err, size_t errlen)
{
    struct spool *s = calloc(1, sizeof(*s));
    int rc, fresh = 0;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->cur_fd = -1;
    s->jfd = -1;
    vg_buf_init(&s->jpend, SPOOL_JNL_MAX);
    s->seg_max = o->max_bytes / 8 < SEG_MAX_DEFAULT ? o->max_bytes / 8 : SEG_MAX_DEFAULT;
    if (s->seg_max < 64 * 1024)
        s->seg_max = 64 * 1024;
    if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", dir) >= sizeof(s->dir)) {
        snprintf(err, errlen, "spool directory path too long: %s", dir);
        goto fail;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create spool directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    rc = read_meta(s);
    if (rc == -ENOENT) {
        fresh = 1;
    } else if (rc) {
        log_warnx("[spool] %s/meta is unreadable (%s); starting a new stream epoch", dir,
                  vg_strerror(rc));
        fresh = 1;
    }
    if (fresh) {
        if (vg_random(s->epoch, sizeof(s->epoch))) {
            snprintf(err, errlen, "no randomness for the stream epoch");
            goto fail;
        }
        s->acked = 0;
    }
    if (scan(s, err, errlen))
        goto fail;
    if (s->lost_at_exit) {
        s->st.lost_at_exit_events = s->lost_at_exit;
        s->lost_at_exit = 0;
        fresh = 1; /* write meta now so it is reported once */
    }
    if (fresh && write_meta(s)) {
        snprintf(err, errlen, "cannot write %s/meta: %s", dir, strerror(errno));
        goto fail;
    }
    journal_open(s);
    /* Append to the newest segment if it has room. */
    if (s->nseg && s->segs[s->nseg - 1].size < s->seg_max) {
        char path[PATH_MAX];
        seg_path(s, s->segs[s->nseg - 1].first, path, sizeof(path));
        s->cur_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    collect_garbage(s);
    return s;
fail:
    spool_close(s);
    return NULL;
}

static void limbo_settle(struct spool *s, uint64_t seq, int final);

void spool_close(struct spool *s)
{
    if (!s)
        return;
    /* Batches held in memory (the disk refused them) get one more try;
     * what still cannot be written is counted, and reported next start. */
    for (size_t i = 0; s->segs && i < s->n; i++) {
        struct spool_rec *r = &s->recs[i];
        uint8_t hdr[SPOOL_HDR];
        uint64_t off = 0;
        if (r->seg)
            continue;
        make_header(hdr, r->seq, r->cls, r->events, r->mem, r->len);
        if ((s->cur_fd >= 0 || new_segment(s) == 0) &&
            write_rec(s, hdr, r->mem, r->len, &off) == 0)
            continue;
        s->lost_at_exit += r->events;
        log_warnx("[spool] batch %llu (%u events) held in memory could not be written; "
                  "counted as lost", (unsigned long long)r->seq, r->events);
    }
    if (s->cur_fd >= 0) {
        fsync(s->cur_fd);
        close(s->cur_fd);
    }
    /* Best effort: fewer resends after a clean stop, and an acknowledgement
     * of everything (no segment left) is not forgotten. */
    if (s->dir[0])
        write_meta(s);
    if (s->jfd >= 0) {
        spool_journal_flush(s);
        close(s->jfd); /* not emptied: what it holds is the next start's */
    }
    free(s->limbo);
    free(s->jrec);
    vg_buf_free(&s->jpend);
    for (size_t i = 0; i < s->n; i++)
        free(s->recs[i].mem);
    free(s->base);
    free(s->segs);
    free(s);
}

const uint8_t *spool_epoch(const struct spool *s) { return s->epoch; }
uint64_t spool_next_seq(const struct spool *s) { return s->high + 1; }
uint64_t spool_acked(const struct spool *s) { return s->acked; }

int spool_new_epoch(struct spool *s)
{
    int rc = vg_random(s->epoch, sizeof(s->epoch));
    if (rc)
        return rc;
    /* Sequence numbers go on across epochs: what is acknowledged stays
     * acknowledged (segments still on disk may hold it). */
    s->acked = s->n ? s->recs[0].seq - 1 : s->high;
    /* The collector holds more of the old stream than was made: what was
     * dropped in flight cannot be told stored, and counts as dropped. */
    limbo_settle(s, 0, 1);
    return write_meta(s);
}

size_t spool_count(const struct spool *s) { return s->n; }
size_t spool_sent(const struct spool *s) { return s->nsent; }

void spool_mark_sent(struct spool *s)
{
    if (s->nsent < s->n)
        s->nsent++;
}

void spool_mark_unsent(struct spool *s)
{
    /* A new connection's hello was answered (spool_ack with what the
     * collector stored came first): what was dropped in flight on the
     * last one and is not acknowledged was not stored. */
    limbo_settle(s, s->acked, 1);
    s->nsent = 0;
}
struct spool_rec *spool_at(struct spool *s, size_t i) { return i < s->n ? &s->recs[i] : NULL; }

static void forget(struct spool *s, size_t i)
{
    struct spool_rec *r = &s->recs[i];
    if (r->seg) {
        struct seg *sg = seg_find(s, r->seg);
        if (sg && sg->live)
            sg->live--;
    } else {
        s->mem_bytes -= r->len;
        free(r->mem);
    }
    if (i < s->nsent)
        s->nsent--;
    if (i == 0) {
        s->recs++;
        s->off++;
    } else {
        memmove(&s->recs[i], &s->recs[i + 1], (s->n - i - 1) * sizeof(*s->recs));
    }
    s->n--;
}

static int new_segment(struct spool *s)
{
    char path[PATH_MAX];
    uint64_t first = s->next_seg++;
    int fd;

    if (s->cur_fd >= 0) {
        fsync(s->cur_fd);
        close(s->cur_fd);
        s->cur_fd = -1;
    }
    seg_path(s, first, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (seg_add(s, first, 0)) {
        close(fd);
        unlink(path);
        return -ENOMEM;
    }
    s->cur_fd = fd;
    {
        int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

/* Writes one record to the current segment; on failure undoes a partial
 * write.  Returns 0 or -errno. */
static int write_rec(struct spool *s, const uint8_t *hdr, const void *data, size_t len,
                     uint64_t *off_out)
{
    struct seg *cur = &s->segs[s->nseg - 1];
    uint64_t start = cur->size;
    /* Header and payload in one system call: the death of the process
     * between the two would tear the record. */
    struct iovec iov[2] = { { (void *)hdr, SPOOL_HDR }, { (void *)data, len } };
    size_t total = SPOOL_HDR + len, done = 0;

    while (done < total) {
        ssize_t w = writev(s->cur_fd, iov, 2);
        if (w < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (ftruncate(s->cur_fd, (off_t)start) < 0)
                log_warn("[spool] cannot undo a partial write");
            /* Start the next append in a fresh segment: this one's size
             * may no longer be what we think. */
            close(s->cur_fd);
            s->cur_fd = -1;
            return -e;
        }
        done += (size_t)w;
        for (int i = 0; i < 2; i++) {
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    if (s->o.fsync == SPOOL_FSYNC_ALWAYS && fdatasync(s->cur_fd) < 0) {
        int e = errno;
        if (ftruncate(s->cur_fd, (off_t)start) < 0)
            log_warn("[spool] cannot undo a partial write");
        close(s->cur_fd);
        s->cur_fd = -1;
        return -e;
    }
    s->dirty = s->o.fsync != SPOOL_FSYNC_ALWAYS;
    cur->size += SPOOL_HDR + len;
    s->disk_bytes += SPOOL_HDR + len;
    *off_out = start;
    return 0;
}

static void make_header(uint8_t *h, uint64_t seq, uint16_t cls, uint32_t events, const void *data,
                        size_t len)
{
    uint32_t crc;
    memcpy(h, MAGIC, 4); // NOLINT(bugprone-not-null-terminated-result): binary magic, not a string
    put32(h + 4, (uint32_t)len);
    put64(h + 8, seq);
    put16(h + 16, cls);
    put16(h + 18, 0);
    put32(h + 20, events);
    crc = vg_crc32c(0, h + 4, 20);
    put32(h + 24, vg_crc32c(crc, data, len));
}

/* A record dropped while in flight waits for the collector's answer.
 * Returns 0, or -ENOMEM (then it is counted as dropped at once). */
static int limbo_add(struct spool *s, uint64_t seq, uint32_t events)
{
    if (s->nlimbo == s->caplimbo) {
        size_t cap = s->caplimbo ? 2 * s->caplimbo : 16;
        struct limbo *l = realloc(s->limbo, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        s->limbo = l;
        s->caplimbo = cap;
    }
    s->limbo[s->nlimbo++] = (struct limbo){ seq, events };
    return 0;
}

/* Records dropped in flight up to seq were stored: forgotten.  final: the
 * connection they were sent on is gone and seq is all the collector
 * stored, so the rest were not: counted as dropped. */
static void limbo_settle(struct spool *s, uint64_t seq, int final)
{
    size_t w = 0;
    for (size_t i = 0; i < s->nlimbo; i++) {
        struct limbo *l = &s->limbo[i];
        if (l->seq <= seq)
            continue;
        if (final) {
            s->st.dropped_records++;
            s->st.dropped_events += l->events;
            continue;
        }
        s->limbo[w++] = *l;
    }
    s->nlimbo = w;
}

void spool_settle(struct spool *s)
{
    struct spool_stats before = s->st;
    limbo_settle(s, s->acked, 1);
    if (s->st.dropped_records > before.dropped_records)
        log_warnx("[spool] counting %llu batches (%llu events) as dropped: the full spool "
                  "dropped them while the collector had them unacknowledged, and no answer "
                  "came before the stop (it may have stored them)",
                  (unsigned long long)(s->st.dropped_records - before.dropped_records),
                  (unsigned long long)(s->st.dropped_events - before.dropped_events));
}

/* Frees room by removing the oldest segment: its KEEP records move to the
 * newest segment, its telemetry is dropped and counted (limbo_add: that
 * of records in flight once the collector's answer says so).  Returns 0, or
 * -ENOSPC when nothing can be freed. */
static int drop_oldest(struct spool *s)
{
    uint64_t victim = 0, cur;
    int cur_has_telemetry = 0;

    if (s->nseg == 0)
        return -ENOSPC;
    cur = s->cur_fd >= 0 ? s->segs[s->nseg - 1].first : 0;
    /* The oldest segment, other than the one being appended to, that
     * holds telemetry: segments of KEEP records only are left alone. */
    for (size_t i = 0; i < s->n && !victim; i++) {
        if (s->recs[i].cls == SPOOL_KEEP || !s->recs[i].seg)
            continue;
        if (s->recs[i].seg == cur)
            cur_has_telemetry = 1;
        else
            victim = s->recs[i].seg;
    }
    if (!victim) {
        if (!cur_has_telemetry)
            return -ENOSPC; /* all that is left must be kept */
        /* Only the current segment has telemetry: start a new one so
         * that it can go. */
        if (new_segment(s))
            return -ENOSPC;
        victim = cur;
    }
    /* KEEP records move to the newest segment (a fresh one when needed). */
    for (size_t i = 0; i < s->n; i++) {
        struct spool_rec *r = &s->recs[i];
        uint8_t *data = NULL, hdr[SPOOL_HDR];
        uint64_t off = 0;
        struct seg *sg;
        if (r->seg != victim || r->cls != SPOOL_KEEP)
            continue;
        if (s->cur_fd < 0 || s->segs[s->nseg - 1].first == victim ||
            s->segs[s->nseg - 1].size + SPOOL_HDR + r->len > s->seg_max)
            if (new_segment(s))
                return -ENOSPC;
        if (spool_read(s, r, &data))
            return -ENOSPC; /* it stays, and so does its segment */
        make_header(hdr, r->seq, r->cls, r->events, data, r->len);
        if (write_rec(s, hdr, data, r->len, &off)) {
            free(data);
            return -ENOSPC;
        }
        free(data);
        sg = seg_find(s, victim);
        if (sg)
            sg->live--;
        r->seg = s->segs[s->nseg - 1].first;
        r->off = off;
        s->segs[s->nseg - 1].live++;
    }
    /* Moved records must be durable before their old copies go. */
    if (s->cur_fd >= 0 && s->o.fsync != SPOOL_FSYNC_ALWAYS)
        fdatasync(s->cur_fd);
    /* The victim's telemetry goes, in one pass over the list. */
    {
        size_t w = 0, sent_removed = 0;
        for (size_t i = 0; i < s->n; i++) {
            struct spool_rec *r = &s->recs[i];
            if (r->seg == victim) {
                struct seg *sg = seg_find(s, victim);
                if (sg && sg->live)
                    sg->live--;
                if (i < s->nsent) {
                    sent_removed++;
                    if (limbo_add(s, r->seq, r->events) == 0)
                        continue;
                }
                s->st.dropped_records++;
                s->st.dropped_events += r->events;
                continue;
            }
            s->recs[w++] = *r;
        }
        s->n = w;
        s->nsent -= sent_removed;
    }
    collect_garbage(s);
    return seg_find(s, victim) ? -ENOSPC : 0;
}

int spool_append(struct spool *s, uint16_t cls, uint32_t events, const void *data, size_t len,
                 uint64_t *seq_out)
{
    uint8_t hdr[SPOOL_HDR];
    struct spool_rec r;
    uint64_t seq = s->high + 1, off = 0;
    int rc = -ENOSPC;

    if (s->high >= SEQ_MAX) {
        /* Only after a damaged record near SEQ_MAX was taken at open. */
        log_warnx("[spool] %s: sequence numbers exhausted; batch lost", s->dir);
        return VG_ETOOBIG;
    }
    if (len > SPOOL_REC_MAX || len + SPOOL_HDR > s->o.max_bytes)
        return VG_ETOOBIG;
    make_header(hdr, seq, cls, events, data, len);
    while (s->disk_bytes + SPOOL_HDR + len > s->o.max_bytes)
        if (drop_oldest(s))
            break;
    if (s->disk_bytes + SPOOL_HDR + len <= s->o.max_bytes) {
        rc = 0;
        if (s->cur_fd < 0 || (s->segs[s->nseg - 1].size > 0 &&
                              s->segs[s->nseg - 1].size + SPOOL_HDR + len > s->seg_max))
            rc = new_segment(s);
        if (rc == 0)
            rc = write_rec(s, hdr, data, len, &off);
        if (rc == -ENOSPC && s->nseg && s->segs[s->nseg - 1].live == 0) {
            /* The disk is full and the newest segment holds only
             * acknowledged records: let it go and start afresh. */
            if (s->cur_fd >= 0) {
                close(s->cur_fd);
                s->cur_fd = -1;
            }
            collect_garbage(s);
            rc = new_segment(s);
            if (rc == 0)
                rc = write_rec(s, hdr, data, len, &off);
        }
    }
    memset(&r, 0, sizeof(r));
    r.seq = seq;
    r.len = (uint32_t)len;
    r.events = events;
    r.cls = cls;
    if (rc == 0) {
        r.seg = s->segs[s->nseg - 1].first;
        r.off = off;
        s->segs[s->nseg - 1].live++;
    } else {
        /* The disk refused (full, or the spool full of records to keep):
         * hold it in memory, bounded, and try the disk again next time. */
        /* KEEP records (small: OS state, loss records) get a reserve on
         * top, so that the count of what was lost is not lost too. */
        if (s->mem_bytes + len > s->o.mem_max_bytes +
                                     (cls == SPOOL_KEEP ? s->o.mem_max_bytes + 65536 : 0))
            return VG_ETOOBIG;
        r.mem = malloc(len ? len : 1);
        if (!r.mem)
            return -ENOMEM;
        memcpy(r.mem, data, len);
        s->mem_bytes += len;
        s->st.unspooled++;
        log_warnx("[spool] cannot write to %s (%s); holding batch %llu in memory", s->dir,
                  strerror(-rc), (unsigned long long)seq);
    }
    if (rec_push(s, &r)) {
        free(r.mem);
        return -ENOMEM;
    }
    s->high = seq;
    *seq_out = seq;
    return 0;
}

int spool_sync(struct spool *s)
{
    if (!s->dirty || s->cur_fd < 0)
        return 0;
    s->dirty = 0;
    return fdatasync(s->cur_fd) < 0 ? -errno : 0;
}

int spool_read(struct spool *s, const struct spool_rec *r, uint8_t **out)
{
    char path[PATH_MAX];
    uint8_t hdr[SPOOL_HDR], *buf;
    uint32_t crc;
    int fd;

    buf = malloc(r->len ? r->len : 1);
    if (!buf)
        return -ENOMEM;
    if (!r->seg) {
        memcpy(buf, r->mem, r->len);
        *out = buf;
        return 0;
    }
    seg_path(s, r->seg, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, hdr, SPOOL_HDR, (off_t)r->off) != SPOOL_HDR ||
        pread(fd, buf, r->len, (off_t)(r->off + SPOOL_HDR)) != (ssize_t)r->len) {
        int e = fd < 0 ? errno : EIO;
        if (fd >= 0)
            close(fd);
        free(buf);
        return -e;
    }
    close(fd);
    crc = vg_crc32c(vg_crc32c(0, hdr + 4, 20), buf, r->len);
    if (memcmp(hdr, MAGIC, 4) != 0 || get64(hdr + 8) != r->seq || crc != get32(hdr + 24)) {
        free(buf);
        return VG_ECORRUPT;
    }
    *out = buf;
    return 0;
}

int spool_ack(struct spool *s, uint64_t seq)
{
    /* Nothing past the highest sequence number was ever sent: taking
     * more would make the next batches "acknowledged" before they exist. */
    if (seq > s->high)
        seq = s->high;
    while (s->n && s->recs[0].seq <= seq)
        forget(s, 0);
    if (seq > s->acked)
        s->acked = seq;
    limbo_settle(s, s->acked, 0);
    collect_garbage(s);
    return 0;
}

int spool_drop(struct spool *s, uint64_t seq)
{
    for (size_t i = 0; i < s->n; i++) {
        struct spool_rec *r = &s->recs[i];
        if (r->seq != seq)
            continue;
        if (r->seg) {
            /* Mark it on disk too, or it would come back at the next start.
             * The CRC does not cover the magic, so this is all it takes. */
            char path[PATH_MAX];
            int fd;
            seg_path(s, r->seg, path, sizeof(path));
            fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0 || pwrite(fd, TOMB, 4, (off_t)r->off) != 4)
                log_warn("[spool] cannot mark batch %llu dropped in %s",
                         (unsigned long long)seq, path);
            else if (s->o.fsync == SPOOL_FSYNC_ALWAYS)
                fdatasync(fd);
            if (fd >= 0)
                close(fd);
        }
        forget(s, i);
        collect_garbage(s);
        return 1;
    }
    return 0;
}

void spool_stats(const struct spool *s, struct spool_stats *out)
{
    *out = s->st;
    out->records = s->n;
    out->bytes = s->disk_bytes + s->mem_bytes;
}

/* ---- the open batch's journal (format in spool.h) ---- */

static void journal_path(const struct spool *s, char *out, size_t len)
{
    snprintf(out, len, "%s/journal", s->dir);
}

/* Is buf[o..size) a whole entry with a good CRC?  *len gets its length. */
static int jnl_entry_ok(const uint8_t *buf, uint64_t o, uint64_t size, uint32_t *len)
{
    int tagged;
    if (size - o < SPOOL_JNL_ENTRY_HDR)
        return 0;
    tagged = memcmp(buf + o, JNL_TAGGED, 4) == 0;
    if (!tagged && memcmp(buf + o, JNL_ENTRY, 4) != 0)
        return 0;
    *len = get32(buf + o + 4);
    if (*len > SPOOL_JNL_EVENT_MAX + (tagged ? VG_PS_TAG_SIZE : 0) ||
        *len > size - o - SPOOL_JNL_ENTRY_HDR || (tagged && *len < VG_PS_TAG_SIZE))
        return 0;
    return vg_crc32c(vg_crc32c(0, buf + o + 4, 4), buf + o + SPOOL_JNL_ENTRY_HDR, *len) ==
           get32(buf + o + 8);
}

/* Offset of the first whole entry at or after from; size if none. */
static uint64_t jnl_next_valid(const uint8_t *buf, uint64_t from, uint64_t size)
{
    uint32_t len;
    for (uint64_t o = from; o + SPOOL_JNL_ENTRY_HDR <= size; o++)
        if (jnl_entry_ok(buf, o, size, &len))
            return o;
    return size;
}

static void jnl_header(uint8_t *h, uint64_t seq)
{
    memcpy(h, JNL_MAGIC, 4); // NOLINT(bugprone-not-null-terminated-result): binary magic, not a string
    put32(h + 4, 0);
    put64(h + 8, seq);
    put32(h + 16, vg_crc32c(0, h, 16));
}

static void mark_put(uint8_t *p, const struct vg_ps_tag *t)
{
    put64(p, t->epoch);
    put64(p + 8, t->seq);
    put32(p + 16, t->ring_id);
    put32(p + 20, t->ring_sub);
    put64(p + 24, t->ring_pos);
}

static void mark_get(const uint8_t *p, struct vg_ps_tag *t)
{
    t->epoch = get64(p);
    t->seq = get64(p + 8);
    t->ring_id = get32(p + 16);
    t->ring_sub = get32(p + 20);
    t->ring_pos = get64(p + 24);
}

static void mark_merge(struct vg_ps_tag *m, const struct vg_ps_tag *t)
{
    /* The ring's position stays across events not from the ring. */
    m->epoch = t->epoch;
    m->seq = t->seq;
    if (t->ring_id) {
        m->ring_id = t->ring_id;
        m->ring_sub = t->ring_sub;
        m->ring_pos = t->ring_pos;
    }
}

/* The entry at buf[o] (whole, its CRC checked): its tag into the mark,
 * if it has one.  Returns where its event starts and *evlen its length. */
static const uint8_t *jnl_event(const uint8_t *buf, uint64_t o, uint32_t len, struct vg_ps_tag *mark,
                                uint32_t *evlen)
{
    const uint8_t *p = buf + o + SPOOL_JNL_ENTRY_HDR;
    if (memcmp(buf + o, JNL_TAGGED, 4) != 0) {
        *evlen = len;
        return p;
    }
    if (mark) {
        struct vg_ps_tag t;
        mark_get(p, &t);
        mark_merge(mark, &t);
    }
    *evlen = len - VG_PS_TAG_SIZE;
    return p + VG_PS_TAG_SIZE;
}

static void mark_file_read(struct spool *s)
{
    char path[PATH_MAX], *raw = NULL;
    size_t size = 0;
    const uint8_t *b;

    snprintf(path, sizeof(path), "%s/mark", s->dir);
    if (vg_file_read(path, 64, &raw, &size) != 0)
        return;
    b = (const uint8_t *)raw;
    if (size == 4 + VG_PS_TAG_SIZE + 4 && memcmp(b, MARK_FILE_MAGIC, 4) == 0 &&
        vg_crc32c(0, b, 4 + VG_PS_TAG_SIZE) == get32(b + 4 + VG_PS_TAG_SIZE))
        mark_get(b + 4, &s->mark);
    else
        log_warnx("[spool] %s is damaged: events spooled just before the last death may be "
                  "queued twice", path);
    free(raw);
}

/* Before the journal is emptied: its last mark, kept. */
static void mark_file_write(struct spool *s)
{
    char path[PATH_MAX];
    uint8_t b[4 + VG_PS_TAG_SIZE + 4];
    int fd;

    if (!s->mark.epoch && !s->mark.ring_id)
        return;
    memcpy(b, MARK_FILE_MAGIC, 4); // NOLINT(bugprone-not-null-terminated-result): binary magic
    mark_put(b + 4, &s->mark);
    put32(b + 4 + VG_PS_TAG_SIZE, vg_crc32c(0, b, 4 + VG_PS_TAG_SIZE));
    snprintf(path, sizeof(path), "%s/mark", s->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
        log_warn("[spool] cannot write %s", path);
    if (fd >= 0)
        close(fd);
}

void spool_set_mark(struct spool *s, const struct vg_ps_tag *t)
{
    mark_merge(&s->mark, t);
}

void spool_get_mark(const struct spool *s, struct vg_ps_tag *t)
{
    *t = s->mark;
}

/* Reads the journal a killed process left: keeps, for replay, the entries
 * of a batch that never became a record; counts what is damaged; and
 * leaves the file holding exactly what is kept (rewritten through a
 * rename when that differs from what is there, so that a second crash
 * finds either the old or the new journal, whole). */
static void journal_open(struct spool *s)
{
    char path[PATH_MAX], tmp[PATH_MAX], *raw = NULL;
    const uint8_t *buf;
    size_t size = 0;
    uint64_t seq, next = s->high + 1, off, kept = 0;
    int rc, changed = 0;

    mark_file_read(s); /* the journal's own tags, if any, are newer */
    journal_path(s, path, sizeof(path));
    rc = vg_file_read(path, SPOOL_JNL_MAX, &raw, &size);
    buf = (const uint8_t *)raw;
    if (rc == -ENOENT || (rc == 0 && size == 0))
        goto open;
    if (rc) {
        log_warnx("[spool] %s is unreadable (%s): the open batch it held is lost", path,
                  vg_strerror(rc));
        s->st.journal_bad++;
        goto reset;
    }
    if (size < SPOOL_JNL_HDR || memcmp(buf, JNL_MAGIC, 4) != 0 || get32(buf + 4) != 0 ||
        vg_crc32c(0, buf, 16) != get32(buf + 16)) {
        /* The header goes with the first entry in one write: a short
         * file that starts right is that write, cut. */
        if (size < SPOOL_JNL_HDR + SPOOL_JNL_ENTRY_HDR && memcmp(buf, JNL_MAGIC, size < 4 ? size : 4) == 0)
            s->st.journal_torn++;
        else
            s->st.journal_bad++;
        log_warnx("[spool] %s: bad header; the open batch it held is lost", path);
        goto reset;
    }
    seq = get64(buf + 8);
    if (seq < next) {
        /* Its batch is a record already (the process died between
         * appending it and emptying the journal): replaying would send
         * those events twice. */
        uint32_t len;
        uint32_t evlen;
        for (off = SPOOL_JNL_HDR; jnl_entry_ok(buf, off, size, &len);
             off += SPOOL_JNL_ENTRY_HDR + len) {
            jnl_event(buf, off, len, &s->mark, &evlen);
            s->st.journal_discarded++;
        }
        log_info("[spool] journal of batch %llu: already spooled, %llu events not replayed",
                 (unsigned long long)seq, (unsigned long long)s->st.journal_discarded);
        goto reset;
    }
    s->jrec = malloc(size);
    if (!s->jrec) {
        s->st.journal_bad++;
        goto reset;
    }
    for (off = SPOOL_JNL_HDR; off < size;) {
        uint32_t len;
        if (jnl_entry_ok(buf, off, size, &len)) {
            uint32_t evlen;
            memcpy(s->jrec + s->jrec_len, buf + off, SPOOL_JNL_ENTRY_HDR + len);
            s->jrec_len += SPOOL_JNL_ENTRY_HDR + len;
            jnl_event(buf, off, len, &s->mark, &evlen);
            kept++;
            off += SPOOL_JNL_ENTRY_HDR + len;
            continue;
        }
        changed = 1;
        off = jnl_next_valid(buf, off + 1, size);
        if (off == size) {
            /* Nothing whole after it: the last write, cut by the death
             * of the process. */
            s->st.journal_torn++;
            break;
        }
        s->st.journal_bad++; /* one per damaged run, skipped */
    }
    if (s->torn_seq && s->torn_seq == seq) {
        /* The record torn at the end of the newest segment was this very
         * batch, being appended when the process died: the journal still
         * has it whole, so it is not lost. */
        s->st.bad_records--;
        s->torn_seq = 0;
    }
    if (s->st.journal_bad || s->st.journal_torn)
        log_warnx("[spool] %s: %llu damaged entries skipped, %llu torn at the end", path,
                  (unsigned long long)s->st.journal_bad, (unsigned long long)s->st.journal_torn);
    if (!kept)
        goto reset;
    s->st.journal_recovered = kept;
    s->jsize = SPOOL_JNL_HDR + s->jrec_len;
    if (changed || seq != next) {
        uint8_t h[SPOOL_JNL_HDR];
        struct iovec iov[2] = { { h, SPOOL_JNL_HDR }, { s->jrec, s->jrec_len } };
        int fd;
        jnl_header(h, next);
        snprintf(tmp, sizeof(tmp), "%s/journal.tmp", s->dir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || writev(fd, iov, 2) != (ssize_t)s->jsize || rename(tmp, path) < 0) {
            /* The old journal stays: the next start counts its damage
             * again, which over-reports but loses nothing. */
            log_warn("[spool] cannot rewrite %s", path);
            unlink(tmp);
        }
        if (fd >= 0)
            close(fd);
    }
    log_info("[spool] journal: %llu events of the open batch recovered", (unsigned long long)kept);
open:
    free(raw);
    s->jfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (s->jfd < 0)
        log_warn("[spool] cannot open %s: the open batch is not kept across a crash", path);
    return;
reset:
    free(raw);
    raw = NULL;
    mark_file_write(s); /* marks of a journal about to be emptied */
    s->jsize = 0;
    s->jfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (s->jfd < 0)
        log_warn("[spool] cannot open %s: the open batch is not kept across a crash", path);
}

int spool_journal_add(struct spool *s, const void *ev, size_t len)
{
    return spool_journal_add_tagged(s, ev, len, NULL);
}

int spool_journal_add_tagged(struct spool *s, const void *ev, size_t len,
                             const struct vg_ps_tag *tag)
{
    uint8_t h[SPOOL_JNL_HDR], e[SPOOL_JNL_ENTRY_HDR + VG_PS_TAG_SIZE];
    size_t before = s->jpend.len, tl = tag ? VG_PS_TAG_SIZE : 0;
    int rc = 0;

    if (len > SPOOL_JNL_EVENT_MAX ||
        s->jsize + s->jpend.len + SPOOL_JNL_HDR + SPOOL_JNL_ENTRY_HDR + tl + len > SPOOL_JNL_MAX) {
        s->st.journal_write_errors++;
        return VG_ETOOBIG;
    }
    if (s->jfd < 0) {
        s->st.journal_write_errors++;
        return -EBADF;
    }
    if (s->jsize == 0 && s->jpend.len == 0) {
        jnl_header(h, s->high + 1);
        rc = vg_buf_append(&s->jpend, h, SPOOL_JNL_HDR);
    }
    memcpy(e, tag ? JNL_TAGGED : JNL_ENTRY, 4); // NOLINT(bugprone-not-null-terminated-result): binary magic
    put32(e + 4, (uint32_t)(tl + len));
    if (tag)
        mark_put(e + SPOOL_JNL_ENTRY_HDR, tag);
    put32(e + 8, vg_crc32c(vg_crc32c(vg_crc32c(0, e + 4, 4), e + SPOOL_JNL_ENTRY_HDR, tl), ev, len));
    if (rc == 0)
        rc = vg_buf_append(&s->jpend, e, SPOOL_JNL_ENTRY_HDR + tl);
    if (rc == 0)
        rc = vg_buf_append(&s->jpend, ev, len);
    if (rc) {
        s->jpend.len = before;
        s->st.journal_write_errors++;
        return rc;
    }
    s->jpend_n++;
    return s->jhold ? 0 : spool_journal_flush(s);
}

uint64_t spool_recovered_high(const struct spool *s)
{
    return s->recovered_high;
}

void spool_trim(struct spool *s)
{
    vg_buf_shrink(&s->jpend);
}

void spool_journal_hold(struct spool *s)
{
    s->jhold = 1;
}

int spool_journal_flush(struct spool *s)
{
    size_t total = s->jpend.len;
    ssize_t w;
    int rc = 0;

    s->jhold = 0;
    if (total == 0)
        return 0;
    do {
        w = write(s->jfd, s->jpend.data, total);
    } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)total) {
        rc = w < 0 ? -errno : -EIO;
        /* Undo a short write: a hole would make the next entries
         * unreadable. */
        if (w > 0 && ftruncate(s->jfd, (off_t)s->jsize) < 0)
            log_warn("[spool] cannot undo a partial journal write");
        s->st.journal_write_errors += s->jpend_n;
    } else {
        s->jsize += total;
    }
    vg_buf_reset(&s->jpend);
    s->jpend_n = 0;
    return rc;
}

int spool_journal_reset(struct spool *s)
{
    char path[PATH_MAX];

    /* Entries not written yet are in the record now; where they came from
     * outlives the journal. */
    mark_file_write(s);
    vg_buf_reset(&s->jpend);
    s->jpend_n = 0;
    free(s->jrec);
    s->jrec = NULL;
    s->jrec_len = 0;
    if (s->jsize == 0 || s->jfd < 0)
        return 0;
    if (ftruncate(s->jfd, 0) == 0) {
        s->jsize = 0;
        return 0;
    }
    /* Entries left behind under this header would take the next batch's
     * with them when discarded: start a new file instead. */
    log_warn("[spool] cannot empty the journal; replacing it");
    journal_path(s, path, sizeof(path));
    close(s->jfd);
    unlink(path);
    s->jsize = 0;
    s->jfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    return s->jfd < 0 ? -errno : 0;
}

size_t spool_journal_replay(struct spool *s, void (*fn)(void *ctx, const uint8_t *ev, size_t len),
                            void *ctx)
{
    size_t n = 0;
    uint8_t *rec = s->jrec;
    size_t rec_len = s->jrec_len;

    /* Taken first: fn may close the batch, which resets the journal. */
    s->jrec = NULL;
    s->jrec_len = 0;
    for (size_t off = 0; off + SPOOL_JNL_ENTRY_HDR <= rec_len; n++) {
        uint32_t len = get32(rec + off + 4), evlen;
        const uint8_t *ev = jnl_event(rec, off, len, NULL, &evlen);
        fn(ctx, ev, evlen);
        off += SPOOL_JNL_ENTRY_HDR + len;
    }
    free(rec);
    return n;
}
