/*
 * Frame codec: how every message crosses the wire between agent,
 * collector and vigilctl (inside TLS).
 *
 * A frame is a 12-byte header and a payload:
 *
 *   0               4       5       6               8               12
 *   +---------------+-------+-------+---------------+---------------+------------
 *   | payload_len   | vers  | flags | reserved = 0  | raw_len       | payload ...
 *   | u32 BE        | = 1   |       | u16           | u32 BE        | payload_len bytes
 *   +---------------+-------+-------+---------------+---------------+------------
 *
 *   flags bit 0 (VG_FRAME_LZ4): the payload is one lz4 block that
 *       decompresses to exactly raw_len bytes; otherwise the payload is
 *       stored and raw_len == payload_len.  Other bits must be 0.
 *   The raw bytes are one protobuf vigil.v1.Envelope (proto/vigil/v1).
 *
 * Limits are checked before anything is allocated: payload_len against
 * max_wire, raw_len against max_raw and against lz4's maximum expansion
 * ratio.  Each kind of bad frame has its own code:
 *   VG_ETOOBIG   length over a limit        VG_ETRUNC   input ends inside a frame
 *   VG_ELZ4      lz4 lies about its size    VG_EDECODE  protobuf does not decode
 *   VG_EVERSION  unknown version            VG_ECORRUPT bad flags/reserved/raw_len
 * None of them is recoverable on a stream: the connection must be closed.
 */
#ifndef VG_FRAME_H
#define VG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define VG_FRAME_HDR 12
#define VG_FRAME_VERSION 1
#define VG_FRAME_LZ4 0x01
/* Default limits: a batch or an upload chunk is far below these. */
#define VG_FRAME_DEFAULT_MAX_WIRE (8u * 1024 * 1024)
#define VG_FRAME_DEFAULT_MAX_RAW (16u * 1024 * 1024)
/* Payloads shorter than this are sent stored: lz4 cannot win there. */
#define VG_FRAME_COMPRESS_MIN 64

struct ProtobufCMessage;
struct ProtobufCMessageDescriptor;

struct vg_frame_limits {
    uint32_t max_wire; /* largest payload_len accepted */
    uint32_t max_raw;  /* largest raw_len accepted */
};

struct vg_frame_header {
    uint32_t payload_len;
    uint32_t raw_len;
    uint8_t flags;
};

/* Default limits. */
void vg_frame_limits_default(struct vg_frame_limits *l);

/* Checks a 12-byte header against the limits.  Returns 0 or an error code
 * as listed above. */
int vg_frame_header_parse(const uint8_t *hdr, const struct vg_frame_limits *l,
                          struct vg_frame_header *h);

/* Appends one frame carrying raw (len bytes) to out, compressed if that
 * makes it smaller.  Returns 0, VG_ETOOBIG (raw over the default max_raw,
 * or out's max) or -ENOMEM. */
int vg_frame_encode(const void *raw, size_t len, struct vg_buf *out);
/* Packs msg and appends it as one frame.  Same returns. */
int vg_frame_encode_msg(const struct ProtobufCMessage *msg, struct vg_buf *out);

/* Decodes the first frame in buf[0..len).  On success *raw_out is a new
 * buffer (free()) of *raw_len bytes and *consumed the frame's size.
 * Returns 0, VG_EAGAIN if buf holds only part of a frame (more may come),
 * or an error code.  Callers holding a complete message treat VG_EAGAIN
 * as VG_ETRUNC; vg_frame_decode_msg() does. */
int vg_frame_decode(const uint8_t *buf, size_t len, const struct vg_frame_limits *l,
                    size_t *consumed, uint8_t **raw_out, size_t *raw_len);
/* Decodes exactly one frame filling buf and unpacks its protobuf as desc.
 * *msg_out is freed with vg_pb_free().  Returns 0, VG_ETRUNC, VG_EDECODE,
 * VG_ECORRUPT (bytes after the frame) or another frame error. */
int vg_frame_decode_msg(const uint8_t *buf, size_t len, const struct vg_frame_limits *l,
                        const struct ProtobufCMessageDescriptor *desc,
                        struct ProtobufCMessage **msg_out);

/*
 * Stream reader: feed it bytes as they arrive (e.g. from a libuv read
 * callback) and take whole frames out.  It holds at most one frame plus
 * one feed; an over-long length prefix is refused as soon as the header
 * is complete, before the payload is buffered.
 */
struct vg_frame_reader {
    struct vg_buf in;
    struct vg_frame_limits limits;
    int error; /* sticky: once a frame is bad, the stream is dead */
};

void vg_frame_reader_init(struct vg_frame_reader *r, const struct vg_frame_limits *l);
void vg_frame_reader_free(struct vg_frame_reader *r);
/* Appends received bytes.  Returns 0 or the stream's error code. */
int vg_frame_reader_feed(struct vg_frame_reader *r, const void *data, size_t len);
/* Takes the next whole frame's raw bytes (new buffer, free()).  Returns 0,
 * VG_EAGAIN when no whole frame is buffered yet, or an error code (sticky). */
int vg_frame_reader_next(struct vg_frame_reader *r, uint8_t **raw_out, size_t *raw_len);
/* At end of stream: returns VG_ETRUNC if a partial frame is buffered, the
 * sticky error if any, else 0. */
int vg_frame_reader_finish(struct vg_frame_reader *r);
/* Storage a reader keeps between frames; more is given back. */
#define VG_FRAME_READER_KEEP (16 * 1024)
/* Gives back the storage a large frame made the reader grow to, once
 * what is buffered fits in VG_FRAME_READER_KEEP (call after taking the
 * frames out).  Returns the bytes it holds afterwards. */
size_t vg_frame_reader_trim(struct vg_frame_reader *r);
/* Bytes of storage the reader holds. */
size_t vg_frame_reader_held(const struct vg_frame_reader *r);

#endif
