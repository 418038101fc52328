#include <errno.h>
#include <limits.h>
#include <lz4.h>

#include "err.h"
#include "lz.h"

size_t vg_lz_bound(size_t n)
{
    if (n > LZ4_MAX_INPUT_SIZE)
        return 0;
    return (size_t)LZ4_compressBound((int)n);
}

int vg_lz_compress(const void *src, size_t n, struct vg_buf *out)
{
    size_t bound = vg_lz_bound(n);
    int rc, c;

    if (bound == 0 && n > 0)
        return VG_ETOOBIG;
    if (bound > INT_MAX)
        return VG_ETOOBIG;
    rc = vg_buf_reserve(out, bound);
    if (rc)
        return rc;
    c = LZ4_compress_default(src, (char *)out->data + out->len, (int)n, (int)bound);
    if (c <= 0)
        return VG_ETOOBIG;
    out->len += (size_t)c;
    out->data[out->len] = '\0';
    return c;
}

int vg_lz_decompress(const void *src, size_t n, void *dst, size_t dstlen)
{
    int d;

    if (n > INT_MAX || dstlen > INT_MAX)
        return VG_ELZ4;
    /* _safe never writes past dst+dstlen nor reads past src+n. */
    d = LZ4_decompress_safe(src, dst, (int)n, (int)dstlen);
    if (d < 0 || (size_t)d != dstlen)
        return VG_ELZ4;
    return 0;
}
