/*
 * protobuf-c wrappers.  Callers use the generated message structs (from
 * build/gen/vigil/v1/ (one .pb-c.h per .proto)) but pack and unpack only through here, so
 * that size limits and allocation failures are handled in one place.
 */
#ifndef VG_PB_H
#define VG_PB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct ProtobufCMessage;
struct ProtobufCMessageDescriptor;

/* Appends the encoding of msg to out.  Returns 0, VG_ETOOBIG (over
 * out's max) or -ENOMEM. */
int vg_pb_pack(const struct ProtobufCMessage *msg, struct vg_buf *out);
/* Decoded messages may use at most this much memory each. */
#define VG_PB_DECODE_BUDGET (64u * 1024 * 1024)

/* Decodes len bytes as a message of type desc.  On success *out is a new
 * message the caller frees with vg_pb_free() (and only with it).
 * Returns 0 or VG_EDECODE (malformed, or over VG_PB_DECODE_BUDGET). */
int vg_pb_unpack(const struct ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                 struct ProtobufCMessage **out);
/* Hand encoding, for messages assembled from pre-encoded parts (the
 * agent builds a Batch from already-encoded events).  Each appends one
 * field to out and returns 0, VG_ETOOBIG or -ENOMEM. */
int vg_pb_put_varint(struct vg_buf *out, uint32_t field, uint64_t v);
int vg_pb_put_bytes(struct vg_buf *out, uint32_t field, const void *data, size_t len);

/* Frees a message from vg_pb_unpack().  NULL is a no-op. */
void vg_pb_free(struct ProtobufCMessage *msg);

#endif
