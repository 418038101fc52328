/*
 * libFuzzer target: the spool as a restarted agent finds it on disk
 * (agent/net/spool.c), through the public API only, so that it keeps
 * working whatever files the spool adds.
 *
 * Input (binary):
 *
 *   flags u8 | [meta_len u16 LE | meta] | [jnl_len u16 LE | journal]
 *            | seg 1 | seg 2 | ... | last seg
 *   flags: bit 0 meta present; bits 1-2 segments (0-3); bit 3 append
 *   after open; bit 4 acknowledge the middle record (with one record
 *   or none: a sequence number never assigned); bit 5 drop one;
 *   bit 6 fix the CRCs of meta slots and of records with a plausible
 *   header (so that the fuzzer gets past them to the record semantics);
 *   bit 7 a "journal" file (the open batch's journal, issue 18: read at
 *   open by a spool that has one, ignored by one that has not).
 *   Every segment but the last is prefixed by its length (u32 LE).
 *
 * Segments are named 1, 2, 3 (so the last one is the newest).  After
 * spool_open: every record is in sequence order, above the acknowledged
 * sequence and readable (or reported corrupt); an append gets a new
 * sequence number; whatever we did survives a reopen.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "err.h"
#include "log.h"
#include "spool.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As in spool.c: no sequence number is assigned past this. */
#define SEQ_MAX ((uint64_t)INT64_MAX)

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Meta slots are 64 bytes, CRC at 52 over 0..52 (spool.c). */
static void fix_meta(uint8_t *m, size_t n)
{
    for (size_t off = 0; off + 64 <= n && off < 128; off += 64)
        put32(m + off + 52, vg_crc32c(0, m + off, 52));
}

static void fix_records(uint8_t *b, size_t n)
{
    for (size_t off = 0; off + SPOOL_HDR <= n; off++) {
        uint32_t len;
        if (memcmp(b + off, "VGS1", 4) != 0 && memcmp(b + off, "VGSD", 4) != 0)
            continue;
        len = get32(b + off + 4);
        if (len > n - off - SPOOL_HDR)
            continue;
        put32(b + off + 24, vg_crc32c(vg_crc32c(0, b + off + 4, 20), b + off + SPOOL_HDR, len));
        off += SPOOL_HDR + len - 1;
    }
}

/* The journal (zeroloss's format): header "VGJ1" 0 seq crc(0..16);
 * entries "VGJE" len crc(len, payload) payload. */
static void fix_journal(uint8_t *b, size_t n)
{
    if (n >= 20 && memcmp(b, "VGJ1", 4) == 0)
        put32(b + 16, vg_crc32c(0, b, 16));
    for (size_t off = 0; off + 12 <= n; off++) {
        uint32_t len;
        if (memcmp(b + off, "VGJE", 4) != 0)
            continue;
        len = get32(b + off + 4);
        if (len > n - off - 12)
            continue;
        put32(b + off + 8, vg_crc32c(vg_crc32c(0, b + off + 4, 4), b + off + 12, len));
        off += 12 + len - 1;
    }
}

/* Checks the open spool's records; returns their count. */
static size_t check(struct spool *s)
{
    size_t n = spool_count(s);
    uint64_t prev = 0;
    struct spool_stats st;

    for (size_t i = 0; i < n; i++) {
        struct spool_rec *r = spool_at(s, i);
        uint8_t *buf = NULL;
        int rc;
        if (!r || r->seq <= prev || r->seq <= spool_acked(s) || r->seq >= spool_next_seq(s) ||
            r->len > SPOOL_REC_MAX)
            abort();
        prev = r->seq;
        rc = spool_read(s, r, &buf);
        if (rc == 0)
            free(buf);
        else if (rc != VG_ECORRUPT && rc != -EIO)
            abort();
    }
    if (spool_at(s, n) || spool_next_seq(s) <= spool_acked(s))
        abort(); /* the next batch would count as acknowledged */
    spool_stats(s, &st);
    if (st.records != n)
        abort();
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct spool_opts o = { 1 << 20, 1 << 16, SPOOL_FSYNC_BATCH };
    static int quiet;
    char dir[PATH_MAX], err[256];
    const char *root;
    unsigned flags, nseg;
    struct spool *s;
    uint64_t seq = 0, want_seq = 0;
    size_t n;

    if (!quiet) {
        vg_log_set_level(VG_LOG_ERROR);
        quiet = 1;
    }
    if (size < 1)
        return 0;
    flags = data[0];
    nseg = (flags >> 1) & 3;
    data++;
    size--;
    root = fuzz_scratch();
    snprintf(dir, sizeof(dir), "%s/spool", root);
    if (mkdir(dir, 0700) < 0)
        abort();
    if (flags & 1) {
        size_t ml;
        if (size < 2)
            return 0;
        ml = (size_t)(data[0] | data[1] << 8);
        data += 2;
        size -= 2;
        if (ml > size)
            ml = size;
        if (flags & 64) {
            uint8_t *m = malloc(ml ? ml : 1);
            if (!m)
                abort();
            memcpy(m, data, ml);
            fix_meta(m, ml);
            fuzz_put(dir, "meta", m, ml);
            free(m);
        } else {
            fuzz_put(dir, "meta", data, ml);
        }
        data += ml;
        size -= ml;
    }
    if (flags & 128) {
        size_t jl;
        if (size < 2)
            return 0;
        jl = (size_t)(data[0] | data[1] << 8);
        data += 2;
        size -= 2;
        if (jl > size)
            jl = size;
        if (flags & 64) {
            uint8_t *j = malloc(jl ? jl : 1);
            if (!j)
                abort();
            memcpy(j, data, jl);
            fix_journal(j, jl);
            fuzz_put(dir, "journal", j, jl);
            free(j);
        } else {
            fuzz_put(dir, "journal", data, jl);
        }
        data += jl;
        size -= jl;
    }
    for (unsigned i = 1; i <= nseg; i++) {
        char name[32];
        size_t sl = size;
        if (i < nseg) {
            if (size < 4)
                break;
            sl = get32(data);
            data += 4;
            size -= 4;
            if (sl > size)
                sl = size;
        }
        snprintf(name, sizeof(name), "%020u.seg", i);
        if (flags & 64) {
            uint8_t *b = malloc(sl ? sl : 1);
            if (!b)
                abort();
            memcpy(b, data, sl);
            fix_records(b, sl);
            fuzz_put(dir, name, b, sl);
            free(b);
        } else {
            fuzz_put(dir, name, data, sl);
        }
        data += sl;
        size -= sl;
    }

    s = spool_open(dir, &o, err, sizeof(err));
    if (!s)
        return 0;
    n = check(s);
    if (flags & 8) {
        static const char payload[] = "\x0a\x03" "abc";
        uint64_t next = spool_next_seq(s);
        int rc = spool_append(s, SPOOL_KEEP, 1, payload, sizeof(payload) - 1, &seq);
        if (rc == VG_ETOOBIG && next > SEQ_MAX) {
            /* Numbers exhausted (a damaged record took them): refused. */
        } else if (rc != 0 || seq != next || spool_next_seq(s) <= seq ||
                   spool_count(s) != n + 1) {
            abort();
        } else {
            want_seq = seq;
        }
    }
    if ((flags & 16) && spool_count(s) <= 1) {
        /* An acknowledgement of batches never sent (a confused peer). */
        spool_ack(s, spool_next_seq(s) + 1000);
        want_seq = 0;
    }
    if ((flags & 16) && spool_count(s) > 1) {
        uint64_t mid = spool_at(s, spool_count(s) / 2 - 1)->seq;
        spool_ack(s, mid);
        if (spool_acked(s) < mid || (spool_count(s) && spool_at(s, 0)->seq <= mid))
            abort();
        if (want_seq && want_seq <= mid)
            want_seq = 0;
    }
    if ((flags & 32) && spool_count(s) > 0) {
        uint64_t first = spool_at(s, 0)->seq;
        if (spool_drop(s, first) != 1)
            abort();
        if (first == want_seq)
            want_seq = 0;
    }
    (void)spool_sync(s);
    check(s);
    {
        uint64_t next = spool_next_seq(s), acked = spool_acked(s);
        spool_close(s);
        s = spool_open(dir, &o, err, sizeof(err));
        if (!s)
            { fprintf(stderr, "reopen: %s\n", err); abort(); } /* we wrote it: it must open */
        check(s);
        /* Sequence numbers are never reused. */
        if (spool_next_seq(s) < next || spool_acked(s) < acked) {
            fprintf(stderr, "next %llu -> %llu, acked %llu -> %llu\n", (unsigned long long)next,
                    (unsigned long long)spool_next_seq(s), (unsigned long long)acked,
                    (unsigned long long)spool_acked(s));
            abort();
        }
    }
    if (want_seq) {
        /* The batch appended before the reopen is still there, intact. */
        int found = 0;
        for (size_t i = 0; i < spool_count(s); i++) {
            struct spool_rec *r = spool_at(s, i);
            uint8_t *buf = NULL;
            if (r->seq != want_seq)
                continue;
            found = 1;
            if (spool_read(s, r, &buf) != 0 || r->len != 5 || memcmp(buf, "\x0a\x03" "abc", 5))
                abort();
            free(buf);
        }
        if (!found)
            abort();
    }
    spool_close(s);
    return 0;
}
