/*
 * libFuzzer target: a byte stream from a peer through vg_wire_feed and
 * vg_wire_drain (lib/wire.c), in uneven reads, with the consumer pausing
 * now and then as a connection under back-pressure does.  Every envelope
 * delivered has a body name; after an error the stream stays dead.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pb.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    unsigned n, pause_every;
};

static int on_env(void *arg, Vigil__V1__Envelope *env)
{
    struct ctx *c = arg;
    const char *name = vg_wire_body_name(env);
    if (!name || !name[0])
        abort();
    vg_pb_free(&env->base);
    c->n++;
    return c->pause_every && c->n % c->pause_every == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_frame_limits l = { 64 * 1024, 256 * 1024 };
    struct vg_frame_reader r;
    struct ctx c = { 0, 0 };
    size_t off = 1;
    int rc = 0;

    if (size < 1)
        return 0;
    c.pause_every = data[0] & 3;
    vg_frame_reader_init(&r, &l);
    while (off < size) {
        size_t n = 1 + (data[off] % 200);
        if (n > size - off)
            n = size - off;
        rc = vg_wire_feed(&r, data + off, n, on_env, &c);
        off += n;
        if (rc)
            break;
        if (c.pause_every && (rc = vg_wire_drain(&r, on_env, &c)) != 0)
            break;
    }
    while (!rc && c.pause_every) {
        unsigned before = c.n;
        rc = vg_wire_drain(&r, on_env, &c);
        if (c.n == before)
            break;
    }
    if (rc) {
        /* Sticky: the connection is closed on any error. */
        if (vg_wire_feed(&r, (const uint8_t *)"", 0, on_env, &c) == 0 &&
            vg_frame_reader_finish(&r) == 0)
            abort();
    }
    (void)vg_frame_reader_finish(&r);
    vg_frame_reader_free(&r);
    return 0;
}
