/*
 * Growable byte buffer with a hard maximum set at creation (after curl's
 * dynbuf).  Every append checks the maximum before allocating, so a peer
 * or a file can never make it grow past what its owner allowed.
 * The data is always followed by a NUL byte not counted in len, so text
 * can be used as a C string.
 */
#ifndef VG_BUF_H
#define VG_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct vg_buf {
    uint8_t *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* len never exceeds this */
};

/* Initialises an empty buffer that may hold up to max bytes.  Allocates nothing. */
void vg_buf_init(struct vg_buf *b, size_t max);
/* Frees the storage (zeroising it first) and leaves b empty, reusable. */
void vg_buf_free(struct vg_buf *b);
/* Sets len to 0, keeping the storage. */
void vg_buf_reset(struct vg_buf *b);
/* Ensures room for extra more bytes.  Returns 0, VG_ETOOBIG or -ENOMEM. */
int vg_buf_reserve(struct vg_buf *b, size_t extra);
/* Appends n bytes.  Returns 0, VG_ETOOBIG (nothing appended) or -ENOMEM. */
int vg_buf_append(struct vg_buf *b, const void *p, size_t n);
/* Appends "<decimal length>:<s>\n": a field of a signed payload, which no
 * two different field lists serialise alike.  Returns 0 or -ENOMEM. */
int vg_buf_append_field(struct vg_buf *b, const char *s);
int vg_buf_append_str(struct vg_buf *b, const char *s);
int vg_buf_printf(struct vg_buf *b, const char *fmt, ...) VG_PRINTF(2, 3);
/* An empty buffer gives back storage over 64 KiB (a burst made it grow;
 * an idle process should not keep it resident).  Call only where b.data
 * is not used until the next append. */
void vg_buf_shrink(struct vg_buf *b);
/* Gives back storage over keep bytes once the content fits in keep: an
 * empty buffer is freed, a fuller one moves to keep bytes (the old copy
 * zeroised).  Content and max are kept; data may move.  Returns the bytes
 * held afterwards (cap). */
size_t vg_buf_trim(struct vg_buf *b, size_t keep);
/* Drops the first n bytes (n <= len). */
void vg_buf_consume(struct vg_buf *b, size_t n);
/* Hands the storage to the caller (free() it); b becomes empty.  May be
 * NULL if nothing was ever appended. */
uint8_t *vg_buf_take(struct vg_buf *b, size_t *len_out);

#endif
