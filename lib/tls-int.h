/*
 * Library-internal: the session ticket keys behind lib/tls.c's ticket
 * callbacks, for lib/tls.c and its unit test.  The formats (key file and
 * ticket) are drawn in lib/tls.c.  Times are unix seconds, passed in so
 * that tests can move the clock.
 */
#ifndef VG_TLS_INT_H
#define VG_TLS_INT_H

#include <stddef.h>
#include <stdint.h>

struct vg__tickets;

/* Loads the keys from path (mode 0600 or stricter), or creates the file
 * with a new key if it is missing; path NULL keeps the keys in memory
 * only.  Rotates at once when the current key is lifetime_s old.
 * Returns 0, VG_EKEYMODE (group or others may read the file),
 * VG_ECORRUPT (not a key file), or -errno, with a message in err. */
int vg__tickets_new(const char *path, uint32_t lifetime_s, int64_t now_s,
                    struct vg__tickets **out, char *err, size_t errlen);
/* Zeroises the keys.  NULL: no-op. */
void vg__tickets_free(struct vg__tickets *t);
/* Makes a new current key, keeps the old one as the previous (the one
 * before it is forgotten) and rewrites the file atomically.  Returns 0,
 * or the write's error (the new key is in use all the same). */
int vg__tickets_rotate(struct vg__tickets *t, int64_t now_s);
/* Seals in (at most 65535 bytes) into out with the current key, rotating
 * first when it is due.  Returns 0 (*outlen set), VG_ETOOBIG or
 * VG_ECRYPTO. */
int vg__tickets_seal(struct vg__tickets *t, int64_t now_s, const uint8_t *in, size_t inlen,
                     uint8_t *out, size_t outmax, size_t *outlen);
/* Opens a sealed ticket in place; *pt points into buf.  Returns 0,
 * -ENOKEY (neither key's id), VG_ECORRUPT (malformed or not authentic)
 * or -EKEYEXPIRED (issued lifetime ago or more, or in the future). */
int vg__tickets_open(struct vg__tickets *t, int64_t now_s, uint8_t *buf, size_t len,
                     uint8_t **pt, size_t *ptlen);
/* Counters since start: rotations, tickets that did not open, expired. */
void vg__tickets_stats(const struct vg__tickets *t, uint64_t *rotations, uint64_t *bad,
                       uint64_t *expired);

#endif
