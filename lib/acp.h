/*
 * Audit checkpoints: the collector's signed statement of its audit
 * chain's head, one line each, appended to a file beside its key and
 * optionally sent to syslog (a copy off the box).
 *
 *   vigil-audit-checkpoint 1 seq=42 time=2026-12-04T14:07:00.123Z entries=310
 *     last=310 head=<64 hex> prev=<64 hex> reason=interval sig=<hex>
 *
 * (one line; wrapped here).  Fields in this order, separated by one
 * space:
 *
 *   seq      1, 2, ... in the file: each checkpoint's number
 *   time     when it was made (RFC 3339, UTC)
 *   entries  how many audit entries the log held
 *   last     the id of the newest one (0: none)
 *   head     its hash, as the audit table stores it (64 zeros: none)
 *   prev     SHA-256 (hex) of the previous checkpoint's signed part; 64
 *            zeros for seq 1
 *   reason   start, interval, idle or stop
 *   sig      ECDSA P-256 / SHA-256 signature (DER, hex) of everything
 *            before " sig="
 *
 * prev links the checkpoints into a chain, so the signature of the last
 * one vouches for every line before it: a changed or removed line in the
 * middle breaks a link.  Dropping lines from the end leaves a shorter
 * valid file; only a copy kept elsewhere (syslog) shows that.
 *
 * A reader finds the magic anywhere in a line, so lines copied from a
 * syslog file (with its own prefix) parse as they are.
 */
#ifndef VG_ACP_H
#define VG_ACP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define VG_ACP_MAGIC "vigil-audit-checkpoint 1 "
#define VG_ACP_LINE_MAX 512 /* a longer line is not a checkpoint */
#define VG_ACP_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

struct vg_acp {
    uint64_t seq;
    int64_t time_ms;
    uint64_t entries;
    int64_t last;
    char head[VG_SHA256_HEX];
    char prev[VG_SHA256_HEX];
    char reason[12];
    /* Set by vg_acp_sign and vg_acp_parse: SHA-256 (hex) of the signed
     * part, the next checkpoint's prev. */
    char link[VG_SHA256_HEX];
    uint8_t sig[VG_SIG_MAX];
    size_t siglen;
};

/* One audit entry's hash, as the collector's store chains them: SHA-256
 * (hex, into out) over prev (the hash of the entry before; the genesis
 * for the first), "ID|TIME_MS", actor, action, target, detail and
 * result, each preceded by its length in bytes and ':' so that no two
 * entries serialise alike.  NULL strings count as "".  out is "" if
 * hashing failed (no memory). */
void vg_acp_entry_hash(const char *prev, int64_t id, int64_t time_ms, const char *actor,
                       const char *action, const char *target, const char *detail,
                       const char *result, char out[VG_SHA256_HEX]);

/* Signs cp (every field but link and sig, which it sets) with k and
 * writes the line, without a newline, into line.  Returns 0, -EINVAL (a
 * field that cannot be written), -ENOSPC (line too small: give
 * VG_ACP_LINE_MAX) or VG_ECRYPTO. */
int vg_acp_sign(struct vg_acp *cp, const struct vg_key *k, char *line, size_t linelen);
/* Parses one line (len bytes, no NUL needed; a trailing newline is
 * allowed) that holds a checkpoint after any prefix.  The signature is
 * not checked.  Returns 0 with cp filled, or VG_EPROTO with why. */
int vg_acp_parse(const char *line, size_t len, struct vg_acp *cp, char *why, size_t whylen);
/* Checks that cp's signature is k's (a private or a public key). Returns
 * 0 or VG_ECRYPTO. */
int vg_acp_verify(const struct vg_acp *cp, const struct vg_key *k);

#endif
