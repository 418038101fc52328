#include <errno.h>
#include <protobuf-c/protobuf-c.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pb.h"

int vg_pb_pack(const ProtobufCMessage *msg, struct vg_buf *out)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    int rc = vg_buf_reserve(out, n);

    if (rc)
        return rc;
    if (protobuf_c_message_pack(msg, out->data + out->len) != n)
        return VG_EDECODE; /* cannot happen: the size was just computed */
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

/*
 * Decoding allocates through a budget: protobuf-c's decoded form can be
 * far larger than its input (an empty repeated message is 2 bytes on the
 * wire and ~90 in memory), so an lz4 frame of a few KiB could otherwise
 * cost gigabytes.  Each block carries its size in a header so that the
 * free side needs no state.
 */
struct budget {
    size_t used, max;
};

#define HDR 16 /* keeps the returned pointer max-aligned */

static void *budget_alloc(void *data, size_t size)
{
    struct budget *b = data;
    unsigned char *p;

    if (size > b->max - b->used || size > SIZE_MAX - HDR)
        return NULL;
    p = malloc(size + HDR);
    if (!p)
        return NULL;
    b->used += size;
    memcpy(p, &size, sizeof(size));
    return p + HDR;
}

static void budget_free(void *data, void *ptr)
{
    (void)data;
    if (ptr)
        free((unsigned char *)ptr - HDR);
}

static ProtobufCAllocator free_allocator = { budget_alloc, budget_free, NULL };

/*
 * protobuf-c refuses field number 0 in a one-byte tag but takes it from
 * an over-long one ("80 00"), keeping it as an unknown field that it
 * then packs as the one-byte form it refuses: a message that decodes
 * but whose re-encoding does not.  Such a message is malformed; this
 * finds one anywhere in the tree (the schema has no recursive message,
 * so the depth is bounded).
 */
static int has_field_zero(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;

    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage *const *v;
            memcpy(&n, base + f->quantifier_offset, sizeof(n));
            memcpy(&v, base + f->offset, sizeof(v));
            for (size_t k = 0; k < n; k++)
                if (v[k] && has_field_zero(v[k]))
                    return 1;
        } else {
            const ProtobufCMessage *sub;
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t q;
                memcpy(&q, base + f->quantifier_offset, sizeof(q));
                if (q != f->id)
                    continue;
            }
            memcpy(&sub, base + f->offset, sizeof(sub));
            if (sub && has_field_zero(sub))
                return 1;
        }
    }
    return 0;
}

int vg_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                 ProtobufCMessage **out)
{
    struct budget b = { 0, VG_PB_DECODE_BUDGET };
    ProtobufCAllocator a = { budget_alloc, budget_free, &b };
    /* protobuf-c returns NULL for malformed input and for a refused
     * allocation alike: both are undecodable here. */
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, len, data);
    if (!m)
        return VG_EDECODE;
    if (has_field_zero(m)) {
        protobuf_c_message_free_unpacked(m, &a);
        return VG_EDECODE;
    }
    *out = m;
    return 0;
}

void vg_pb_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, &free_allocator);
}

static int put_raw_varint(struct vg_buf *out, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    return vg_buf_append(out, b, n);
}

int vg_pb_put_varint(struct vg_buf *out, uint32_t field, uint64_t v)
{
    size_t mark = out->len;
    int rc = put_raw_varint(out, (uint64_t)field << 3 | 0);
    if (rc == 0)
        rc = put_raw_varint(out, v);
    if (rc)
        out->len = mark;
    return rc;
}

int vg_pb_put_bytes(struct vg_buf *out, uint32_t field, const void *data, size_t len)
{
    size_t mark = out->len;
    int rc = put_raw_varint(out, (uint64_t)field << 3 | 2);
    if (rc == 0)
        rc = put_raw_varint(out, len);
    if (rc == 0)
        rc = vg_buf_append(out, data, len);
    if (rc)
        out->len = mark;
    return rc;
}
