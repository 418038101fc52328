/* libFuzzer target: bytes from the network through the frame reader and
 * the Envelope decoder.  Must never crash, leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"
#include "pb.h"
#include "vigil/v1/envelope.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_frame_limits l = { 1 << 20, 4 << 20 };
    struct vg_frame_reader r;
    ProtobufCMessage *m = NULL;
    uint8_t *raw;
    size_t rl, off = 0;

    /* Whole-buffer decode. */
    if (vg_frame_decode_msg(data, size, &l, &vigil__v1__envelope__descriptor, &m) == 0)
        vg_pb_free(m);

    /* Streamed in uneven pieces, as reads arrive. */
    vg_frame_reader_init(&r, &l);
    while (off < size) {
        size_t n = 1 + (data[off] % 64);
        if (n > size - off)
            n = size - off;
        if (vg_frame_reader_feed(&r, data + off, n))
            break;
        off += n;
        while (vg_frame_reader_next(&r, &raw, &rl) == 0) {
            m = NULL;
            if (vg_pb_unpack(&vigil__v1__envelope__descriptor, raw, rl, &m) == 0)
                vg_pb_free(m);
            free(raw);
        }
    }
    (void)vg_frame_reader_finish(&r);
    vg_frame_reader_free(&r);
    return 0;
}
