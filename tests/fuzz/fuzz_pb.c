/*
 * libFuzzer target: protobuf decoding and encoding (lib/pb.c) of the
 * Envelope, the message every peer sends (its bodies reach every other
 * message type).  A decoded envelope re-encodes to bytes that decode and
 * re-encode to the very same bytes (unknown fields included).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "pb.h"
#include "vigil/v1/envelope.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = NULL, *m2 = NULL;
    struct vg_buf a, b;

    if (vg_pb_unpack(&vigil__v1__envelope__descriptor, data, size, &m) != 0)
        return 0;
    vg_buf_init(&a, 1u << 24);
    vg_buf_init(&b, 1u << 24);
    if (vg_pb_pack(m, &a) != 0)
        abort();
    if (vg_pb_unpack(&vigil__v1__envelope__descriptor, a.data, a.len, &m2) != 0)
        abort();
    if (vg_pb_pack(m2, &b) != 0)
        abort();
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
        abort();
    vg_pb_free(m);
    vg_pb_free(m2);
    vg_buf_free(&a);
    vg_buf_free(&b);
    return 0;
}
