/*
 * Compressed or plain files, read as a stream (see zfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "err.h"
#include "util.h"
#include "zfile.h"

#define IN_CHUNK (128u * 1024)
#define XZ_MEMLIMIT (256u * 1024 * 1024)

enum kind { K_PLAIN, K_GZ, K_XZ, K_LZ4 };

struct zfile {
    enum kind kind;
    int fd;
    int eof_in;  /* the compressed input is exhausted */
    int done;    /* the decompressor reached the end of its stream */
    uint64_t out_total, max_out;
    unsigned char *in;
    size_t in_pos, in_len;
    z_stream gz;
    lzma_stream xz;
    LZ4F_dctx *lz4;
};

int zfile_open(const char *path, uint64_t max_out, struct zfile **out)
{
    struct zfile *z;
    enum kind kind = K_PLAIN;

    *out = NULL;
    if (vg_str_ends_with(path, ".gz"))
        kind = K_GZ;
    else if (vg_str_ends_with(path, ".xz"))
        kind = K_XZ;
    else if (vg_str_ends_with(path, ".lz4"))
        kind = K_LZ4;
    else if (vg_str_ends_with(path, ".zst") || vg_str_ends_with(path, ".bz2") || vg_str_ends_with(path, ".lzma"))
        return -ENOTSUP;
    z = calloc(1, sizeof(*z));
    if (!z)
        return -ENOMEM;
    z->kind = kind;
    z->max_out = max_out;
    z->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (z->fd < 0) {
        int e = -errno;
        free(z);
        return e;
    }
    if (kind != K_PLAIN && !(z->in = malloc(IN_CHUNK)))
        goto nomem;
    switch (kind) {
    case K_GZ:
        /* 15 + 32: zlib or gzip, by the header. */
        if (inflateInit2(&z->gz, 15 + 32) != Z_OK)
            goto nomem;
        break;
    case K_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        z->xz = init;
        if (lzma_stream_decoder(&z->xz, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK)
            goto nomem;
        break;
    }
    case K_LZ4:
        if (LZ4F_isError(LZ4F_createDecompressionContext(&z->lz4, LZ4F_VERSION)))
            goto nomem;
        break;
    case K_PLAIN:
        break;
    }
    *out = z;
    return 0;
nomem:
    close(z->fd);
    free(z->in);
    free(z);
    return -ENOMEM;
}

/* Refills the input buffer when it is empty.  Returns 0 or -errno. */
static int fill(struct zfile *z)
{
    ssize_t n;
    if (z->in_pos < z->in_len || z->eof_in)
        return 0;
    do
        n = read(z->fd, z->in, IN_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    z->in_pos = 0;
    z->in_len = (size_t)n;
    z->eof_in = n == 0;
    return 0;
}

static ssize_t read_gz(struct zfile *z, void *buf, size_t len)
{
    for (;;) {
        int rc = fill(z);
        size_t before;
        if (rc)
            return rc;
        if (z->done) {
            /* Another gzip member may follow (gzip -c a b > ab); anything
             * else after a member (zero padding) is ignored, as gzread
             * and apt ignore it. */
            if (z->in_pos == z->in_len)
                return 0;
            if (z->in[z->in_pos] != 0x1f ||
                (z->in_pos + 1 < z->in_len && z->in[z->in_pos + 1] != 0x8b))
                return 0;
            if (inflateReset(&z->gz) != Z_OK)
                return VG_ECORRUPT;
            z->done = 0;
        }
        z->gz.next_in = z->in + z->in_pos;
        z->gz.avail_in = (uInt)(z->in_len - z->in_pos);
        z->gz.next_out = buf;
        z->gz.avail_out = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
        before = z->gz.avail_out;
        rc = inflate(&z->gz, Z_NO_FLUSH);
        z->in_pos = z->in_len - z->gz.avail_in;
        if (rc == Z_STREAM_END)
            z->done = 1;
        else if (rc == Z_BUF_ERROR && z->eof_in)
            return VG_ECORRUPT; /* cut short */
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return rc == Z_MEM_ERROR ? -ENOMEM : VG_ECORRUPT;
        if (before - z->gz.avail_out > 0)
            return (ssize_t)(before - z->gz.avail_out);
        if (z->eof_in && !z->done)
            return VG_ECORRUPT;
    }
}

static ssize_t read_xz(struct zfile *z, void *buf, size_t len)
{
    for (;;) {
        int rc = fill(z);
        lzma_ret lr;
        if (rc)
            return rc;
        if (z->done)
            return 0;
        z->xz.next_in = z->in + z->in_pos;
        z->xz.avail_in = z->in_len - z->in_pos;
        z->xz.next_out = buf;
        z->xz.avail_out = len;
        lr = lzma_code(&z->xz, z->eof_in ? LZMA_FINISH : LZMA_RUN);
        z->in_pos = z->in_len - z->xz.avail_in;
        if (lr == LZMA_STREAM_END)
            z->done = 1;
        else if (lr == LZMA_MEM_ERROR || lr == LZMA_MEMLIMIT_ERROR)
            return -ENOMEM;
        else if (lr != LZMA_OK)
            return VG_ECORRUPT;
        if (len - z->xz.avail_out > 0)
            return (ssize_t)(len - z->xz.avail_out);
        if (z->eof_in && !z->done)
            return VG_ECORRUPT;
    }
}

static ssize_t read_lz4(struct zfile *z, void *buf, size_t len)
{
    for (;;) {
        int rc = fill(z);
        size_t in_n, out_n = len;
        size_t hint;
        if (rc)
            return rc;
        in_n = z->in_len - z->in_pos;
        if (in_n == 0 && z->eof_in && z->done)
            return 0;
        /* With no input left this still drains what the context holds. */
        hint = LZ4F_decompress(z->lz4, buf, &out_n, z->in + z->in_pos, &in_n, NULL);
        if (LZ4F_isError(hint))
            return VG_ECORRUPT;
        z->in_pos += in_n;
        /* hint 0: a frame ended (another may follow). */
        z->done = hint == 0;
        if (out_n > 0)
            return (ssize_t)out_n;
        if (in_n == 0 && z->eof_in)
            return z->done ? 0 : VG_ECORRUPT; /* cut short */
    }
}

ssize_t zfile_read(struct zfile *z, void *buf, size_t len)
{
    ssize_t n;
    char probe;
    if (len == 0)
        return 0;
    /* z is not NULL: the analyser loses that zfile_open's -errno is not 0. */
    if (z->out_total >= z->max_out) { // NOLINT(clang-analyzer-core.NullDereference)
        /* At the cap: only a clean end is acceptable. */
        buf = &probe;
        len = 1;
    } else if (len > z->max_out - z->out_total) {
        len = (size_t)(z->max_out - z->out_total);
    }
    switch (z->kind) {
    case K_GZ: n = read_gz(z, buf, len); break;
    case K_XZ: n = read_xz(z, buf, len); break;
    case K_LZ4: n = read_lz4(z, buf, len); break;
    default:
        do
            n = read(z->fd, buf, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            n = -errno;
        break;
    }
    if (n > 0 && z->out_total >= z->max_out)
        return VG_ETOOBIG;
    if (n > 0)
        z->out_total += (uint64_t)n;
    return n;
}

void zfile_close(struct zfile *z)
{
    if (!z)
        return;
    switch (z->kind) {
    case K_GZ: inflateEnd(&z->gz); break;
    case K_XZ: lzma_end(&z->xz); break;
    case K_LZ4: LZ4F_freeDecompressionContext(z->lz4); break;
    case K_PLAIN: break;
    }
    close(z->fd);
    free(z->in);
    free(z);
}

int zfile_slurp(const char *path, uint64_t max_out, char **out, size_t *len_out)
{
    struct zfile *z;
    size_t cap = 64 * 1024, len = 0;
    char *buf;
    int rc = zfile_open(path, max_out, &z);

    *out = NULL;
    if (rc)
        return rc;
    buf = malloc(cap + 1);
    if (!buf) {
        zfile_close(z);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        n = zfile_read(z, buf + len, cap - len);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        len += (size_t)n;
    }
    zfile_close(z);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    if (len_out)
        *len_out = len;
    return 0;
}
