/*
 * lz4 block compression.  The only file that includes lz4.h: block sizes
 * and the decompressor's limits are handled here.
 */
#ifndef VG_LZ_H
#define VG_LZ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* lz4 cannot expand data by more than this ratio (its format caps a
 * match run at 255 bytes per input byte); a frame claiming more lies. */
#define VG_LZ_MAX_RATIO 255

/* Worst-case compressed size of n bytes, or 0 if n is too large for lz4. */
size_t vg_lz_bound(size_t n);
/* Compresses src into out (appended).  Returns the compressed length
 * (> 0), VG_ETOOBIG (input over lz4's limit or out's max) or -ENOMEM. */
int vg_lz_compress(const void *src, size_t n, struct vg_buf *out);
/* Decompresses src into dst, which must decompress to exactly dstlen
 * bytes.  Returns 0, or VG_ELZ4 if the data is malformed or its size is
 * not dstlen. */
int vg_lz_decompress(const void *src, size_t n, void *dst, size_t dstlen);

#endif
