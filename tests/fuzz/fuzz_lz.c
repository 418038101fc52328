/*
 * libFuzzer target: lz4 blocks (lib/lz.c) as frames from the network
 * carry them.  Input: the claimed decompressed size (u16 LE), then the
 * block.  The decompressor writes exactly that many bytes or fails; what
 * it accepts compresses and decompresses back to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "lz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t want;
    uint8_t *out, *back;
    struct vg_buf b;
    int c;

    if (size < 2)
        return 0;
    want = (size_t)(data[0] | data[1] << 8);
    out = malloc(want ? want : 1);
    if (!out)
        abort();
    if (vg_lz_decompress(data + 2, size - 2, out, want) == 0) {
        vg_buf_init(&b, 1u << 20);
        c = vg_lz_compress(out, want, &b);
        if (c <= 0 || (size_t)c != b.len || b.len > vg_lz_bound(want))
            abort();
        back = malloc(want ? want : 1);
        if (!back || vg_lz_decompress(b.data, b.len, back, want) != 0 ||
            memcmp(back, out, want) != 0)
            abort();
        free(back);
        vg_buf_free(&b);
    }
    free(out);
    return 0;
}
