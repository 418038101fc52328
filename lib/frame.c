#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"
#include "lz.h"
#include "pb.h"

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void vg_frame_limits_default(struct vg_frame_limits *l)
{
    l->max_wire = VG_FRAME_DEFAULT_MAX_WIRE;
    l->max_raw = VG_FRAME_DEFAULT_MAX_RAW;
}

int vg_frame_header_parse(const uint8_t *hdr, const struct vg_frame_limits *l,
                          struct vg_frame_header *h)
{
    h->payload_len = get32(hdr);
    h->flags = hdr[5];
    h->raw_len = get32(hdr + 8);
    if (hdr[4] != VG_FRAME_VERSION)
        return VG_EVERSION;
    if ((h->flags & ~VG_FRAME_LZ4) || hdr[6] || hdr[7])
        return VG_ECORRUPT;
    if (h->payload_len > l->max_wire || h->raw_len > l->max_raw)
        return VG_ETOOBIG;
    if (h->flags & VG_FRAME_LZ4) {
        /* A claim lz4 cannot honour: refuse before allocating raw_len. */
        if (h->payload_len == 0 || (uint64_t)h->raw_len > (uint64_t)h->payload_len * VG_LZ_MAX_RATIO)
            return VG_ELZ4;
    } else if (h->raw_len != h->payload_len) {
        return VG_ECORRUPT;
    }
    return 0;
}

int vg_frame_encode(const void *raw, size_t len, struct vg_buf *out)
{
    size_t start = out->len;
    uint8_t *hdr;
    int rc, c = 0;

    if (len > VG_FRAME_DEFAULT_MAX_RAW)
        return VG_ETOOBIG;
    rc = vg_buf_reserve(out, VG_FRAME_HDR);
    if (rc)
        return rc;
    out->len += VG_FRAME_HDR;
    if (len >= VG_FRAME_COMPRESS_MIN) {
        c = vg_lz_compress(raw, len, out);
        if (c == -ENOMEM) {
            out->len = start;
            return c;
        }
        if (c < 0 || (size_t)c >= len) { /* no gain (or no room): store */
            out->len = start + VG_FRAME_HDR;
            c = 0;
        }
    }
    if (c == 0) {
        rc = vg_buf_append(out, raw, len);
        if (rc) {
            out->len = start;
            return rc;
        }
    }
    hdr = out->data + start;
    put32(hdr, c ? (uint32_t)c : (uint32_t)len);
    hdr[4] = VG_FRAME_VERSION;
    hdr[5] = c ? VG_FRAME_LZ4 : 0;
    hdr[6] = hdr[7] = 0;
    put32(hdr + 8, (uint32_t)len);
    if (c && (size_t)c > VG_FRAME_DEFAULT_MAX_WIRE) {
        out->len = start;
        return VG_ETOOBIG;
    }
    return 0;
}

int vg_frame_encode_msg(const struct ProtobufCMessage *msg, struct vg_buf *out)
{
    struct vg_buf raw;
    int rc;

    vg_buf_init(&raw, VG_FRAME_DEFAULT_MAX_RAW);
    rc = vg_pb_pack(msg, &raw);
    if (rc == 0)
        rc = vg_frame_encode(raw.data ? raw.data : (const uint8_t *)"", raw.len, out);
    vg_buf_free(&raw);
    return rc;
}

int vg_frame_decode(const uint8_t *buf, size_t len, const struct vg_frame_limits *l,
                    size_t *consumed, uint8_t **raw_out, size_t *raw_len)
{
    struct vg_frame_header h;
    const uint8_t *payload;
    uint8_t *raw;
    int rc;

    if (len < VG_FRAME_HDR)
        return VG_EAGAIN;
    rc = vg_frame_header_parse(buf, l, &h);
    if (rc)
        return rc;
    if (len - VG_FRAME_HDR < h.payload_len)
        return VG_EAGAIN;
    payload = buf + VG_FRAME_HDR;
    raw = malloc(h.raw_len ? h.raw_len : 1);
    if (!raw)
        return -ENOMEM;
    if (h.flags & VG_FRAME_LZ4) {
        rc = vg_lz_decompress(payload, h.payload_len, raw, h.raw_len);
        if (rc) {
            free(raw);
            return rc;
        }
    } else if (h.raw_len) {
        memcpy(raw, payload, h.raw_len);
    }
    *consumed = VG_FRAME_HDR + (size_t)h.payload_len;
    *raw_out = raw;
    *raw_len = h.raw_len;
    return 0;
}

int vg_frame_decode_msg(const uint8_t *buf, size_t len, const struct vg_frame_limits *l,
                        const struct ProtobufCMessageDescriptor *desc,
                        struct ProtobufCMessage **msg_out)
{
    uint8_t *raw = NULL;
    size_t used = 0, rl = 0;
    int rc = vg_frame_decode(buf, len, l, &used, &raw, &rl);

    if (rc == VG_EAGAIN)
        return VG_ETRUNC;
    if (rc)
        return rc;
    if (used != len) {
        free(raw);
        return VG_ECORRUPT;
    }
    rc = vg_pb_unpack(desc, raw, rl, msg_out);
    free(raw);
    return rc;
}

void vg_frame_reader_init(struct vg_frame_reader *r, const struct vg_frame_limits *l)
{
    if (l)
        r->limits = *l;
    else
        vg_frame_limits_default(&r->limits);
    /* One whole frame, plus whatever one read may add beyond it. */
    vg_buf_init(&r->in, (size_t)VG_FRAME_HDR + r->limits.max_wire + 256 * 1024);
    r->error = 0;
}

void vg_frame_reader_free(struct vg_frame_reader *r)
{
    vg_buf_free(&r->in);
}

int vg_frame_reader_feed(struct vg_frame_reader *r, const void *data, size_t len)
{
    struct vg_frame_header h;
    int rc;

    if (r->error)
        return r->error;
    /* Check a complete header before taking more, so a lying length
     * prefix fails here rather than by filling the buffer. */
    if (r->in.len >= VG_FRAME_HDR) {
        rc = vg_frame_header_parse(r->in.data, &r->limits, &h);
        if (rc)
            return r->error = rc;
    }
    rc = vg_buf_append(&r->in, data, len);
    if (rc)
        return r->error = rc;
    return 0;
}

int vg_frame_reader_next(struct vg_frame_reader *r, uint8_t **raw_out, size_t *raw_len)
{
    size_t used = 0;
    int rc;

    if (r->error)
        return r->error;
    rc = vg_frame_decode(r->in.data, r->in.len, &r->limits, &used, raw_out, raw_len);
    if (rc == VG_EAGAIN)
        return rc;
    if (rc)
        return r->error = rc;
    vg_buf_consume(&r->in, used);
    return 0;
}

size_t vg_frame_reader_trim(struct vg_frame_reader *r)
{
    return vg_buf_trim(&r->in, VG_FRAME_READER_KEEP);
}

size_t vg_frame_reader_held(const struct vg_frame_reader *r)
{
    return r->in.cap;
}

int vg_frame_reader_finish(struct vg_frame_reader *r)
{
    if (r->error)
        return r->error;
    return r->in.len ? VG_ETRUNC : 0;
}
