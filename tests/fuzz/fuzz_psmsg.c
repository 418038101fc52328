/* libFuzzer target: the messages the agent's root parent reads from its
 * unprivileged network child (lib/psmsg.c), streamed in uneven pieces.
 * Every decoder must reject what is not exact and never crash, leak or
 * read out of bounds; what decodes must encode back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct vg_buf *b, uint32_t type, const uint8_t *p, size_t len)
{
    /* Header (8 bytes) then the payload as received. */
    if (b->len != len + VG_PS_HDR || memcmp(b->data + VG_PS_HDR, p, len) != 0 ||
        (b->data[0] | b->data[1] << 8 | b->data[2] << 16 | (uint32_t)b->data[3] << 24) != type)
        abort();
}

static void one(uint32_t type, const uint8_t *p, size_t len)
{
    static struct vg_ps_command cmd;
    static struct vg_ps_cert cert;
    struct vg_ps_tag tag;
    static struct vg_ps_pins pins;
    struct vg_ps_stats st;
    struct vg_ps_conn conn;
    struct vg_ps_upload up;
    struct vg_ps_probe pr;
    struct vg_buf b;
    uint32_t a, c;
    int32_t rc;
    uint64_t v;
    char text[VG_PS_TEXT_MAX + 1];
    const uint8_t *d;
    size_t n;

    vg_buf_init(&b, VG_PS_MAX_PARENT + 64);
    switch (type % 16) {
    case 0:
        if (vg_ps_get_hello(p, len, &a, &c) == 0 && vg_ps_put_hello(&b, a, c) == 0)
            same(&b, VG_PS_HELLO, p, len);
        break;
    case 1:
        if (vg_ps_get_u64(p, len, &v) == 0 && vg_ps_put_u64(&b, VG_PS_EVENT_ACK, v) == 0)
            same(&b, VG_PS_EVENT_ACK, p, len);
        break;
    case 2:
        if (vg_ps_get_stats(p, len, &st) == 0 && vg_ps_put_stats(&b, &st) == 0)
            same(&b, VG_PS_STATS, p, len);
        break;
    case 3:
        if (vg_ps_get_conn(p, len, &conn) == 0 && vg_ps_put_conn(&b, &conn) == 0)
            same(&b, VG_PS_CONN, p, len);
        break;
    case 4:
        if (vg_ps_get_command(p, len, &cmd) == 0 && vg_ps_put_command(&b, &cmd) == 0)
            same(&b, VG_PS_COMMAND, p, len);
        break;
    case 5:
        if (vg_ps_get_probe_done(p, len, &a, &rc, text, sizeof(text)) == 0 &&
            vg_ps_put_probe_done(&b, a, rc, text) == 0)
            same(&b, VG_PS_PROBE_DONE, p, len);
        break;
    case 6:
        if (vg_ps_get_cert(p, len, &cert) == 0 && vg_ps_put_cert(&b, &cert) == 0)
            same(&b, VG_PS_CERT, p, len);
        break;
    case 7:
        if (vg_ps_get_event(p, len, &tag, &d, &n) == 0 && vg_ps_put_event(&b, &tag, d, n) == 0)
            same(&b, VG_PS_EVENT, p, len);
        break;
    case 8:
        if (vg_ps_get_upload(p, len, &up) == 0 && vg_ps_put_upload(&b, &up) == 0)
            same(&b, VG_PS_UPLOAD, p, len);
        break;
    case 9:
        if (vg_ps_get_probe(p, len, &pr) == 0 && vg_ps_put_probe(&b, &pr) == 0)
            same(&b, VG_PS_PROBE, p, len);
        break;
    case 10:
        if (vg_ps_get_pins(p, len, &pins) == 0 && vg_ps_put_pins(&b, &pins) == 0)
            same(&b, VG_PS_PINS, p, len);
        break;
    case 11:
        if (vg_ps_get_str(p, len, text, sizeof(text)) == 0 &&
            vg_ps_put_str(&b, VG_PS_SOURCE, text) == 0)
            same(&b, VG_PS_SOURCE, p, len);
        break;
    case 12:
        if (vg_ps_get_cert_done(p, len, &rc, text, sizeof(text)) == 0 &&
            vg_ps_put_cert_done(&b, rc, text) == 0)
            same(&b, VG_PS_CERT_DONE, p, len);
        break;
    default:
        break;
    }
    vg_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_ps_reader r;
    uint32_t type;
    const uint8_t *p;
    size_t len, off = 0;
    int rc = 0;

    /* The parent's limit for what the child sends. */
    vg_ps_reader_init(&r, VG_PS_MAX_CHILD);
    while (off < size && rc >= 0) {
        size_t n = 1 + (data[off] % 97);
        if (n > size - off)
            n = size - off;
        if (vg_ps_feed(&r, data + off, n) != 0)
            break;
        off += n;
        while ((rc = vg_ps_next(&r, &type, &p, &len)) == 1)
            one(type, p, len);
    }
    vg_ps_reader_free(&r);
    return 0;
}
