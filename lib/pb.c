#include <errno.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
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

/* ---- field bounds ---- */

struct lim_ctx {
    const struct vg_pb_limit *tab, *dstr, *drep;
    size_t n;
    uint32_t minlen, mincount; /* below both, no lookup is needed */
    struct vg_pb_limit_report *r;
};

/* The bounds of field f of d: its entry's own, the defaults' otherwise. */
static void lim_of(const struct lim_ctx *x, const ProtobufCMessageDescriptor *d,
                   const ProtobufCFieldDescriptor *f, struct vg_pb_limit *out)
{
    const struct vg_pb_limit *e = NULL;
    size_t dl = strlen(d->short_name);

    for (size_t i = 0; i < x->n && !e; i++)
        if (strncmp(x->tab[i].field, d->short_name, dl) == 0 && x->tab[i].field[dl] == '.' &&
            strcmp(x->tab[i].field + dl + 1, f->name) == 0)
            e = &x->tab[i];
    memset(out, 0, sizeof(*out));
    /* A bound in all stands for the default on each value too. */
    out->max_len = e && (e->max_len || e->max_total) ? e->max_len
                   : x->dstr                        ? x->dstr->max_len
                                                    : 0;
    out->max_count = e && e->max_count ? e->max_count : x->drep ? x->drep->max_count : 0;
    out->max_total = e ? e->max_total : 0;
    out->flag = e ? e->flag : NULL;
}

/* Notes a value over a bound.  Returns VG_ETOOBIG if it refuses the
 * message (no flag), else 0 (it is to be cut). */
static int over(struct lim_ctx *x, const ProtobufCMessageDescriptor *d,
                const ProtobufCFieldDescriptor *f, const struct vg_pb_limit *l, uint64_t size,
                uint64_t max, const char *unit)
{
    struct vg_pb_limit_report *r = x->r;
    if (!r->found || (!l->flag && r->flag)) { /* a refusal outranks a cut */
        r->found = 1;
        snprintf(r->field, sizeof(r->field), "%s.%s", d->short_name, f->name);
        r->size = size;
        r->max = max;
        r->unit = unit;
        r->flag = l->flag;
    }
    return l->flag ? 0 : VG_ETOOBIG;
}

static void set_flag(ProtobufCMessage *m, const char *flag)
{
    const ProtobufCFieldDescriptor *f =
        flag ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, flag) : NULL;
    if (f && f->type == PROTOBUF_C_TYPE_BOOL && f->label == PROTOBUF_C_LABEL_NONE) {
        protobuf_c_boolean t = 1;
        memcpy((char *)m + f->offset, &t, sizeof(t));
    }
}

/* Cuts a string to at most max bytes, at a UTF-8 character boundary. */
static void cut_string(char *s, size_t max)
{
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    s[max] = '\0';
}

static size_t value_len(const ProtobufCFieldDescriptor *f, const void *p)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s;
        memcpy(&s, p, sizeof(s));
        return s ? strlen(s) : 0;
    }
    return ((const ProtobufCBinaryData *)p)->len;
}

static void value_cut(const ProtobufCFieldDescriptor *f, void *p, size_t max)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s;
        memcpy(&s, p, sizeof(s));
        cut_string(s, max);
    } else {
        ((ProtobufCBinaryData *)p)->len = max;
    }
}

/* Frees element k of a repeated field being shortened. */
static void drop_elem(const ProtobufCFieldDescriptor *f, char *arr, size_t k)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s;
        memcpy(&s, arr + k * sizeof(char *), sizeof(s));
        budget_free(NULL, s);
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        budget_free(NULL, ((ProtobufCBinaryData *)arr)[k].data);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *m;
        memcpy(&m, arr + k * sizeof(m), sizeof(m));
        protobuf_c_message_free_unpacked(m, &free_allocator);
    }
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData) : sizeof(void *);
}

static int lim_walk(struct lim_ctx *x, ProtobufCMessage *m);

static int lim_repeated(struct lim_ctx *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m, *arr;
    int str = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES;
    struct vg_pb_limit l;
    size_t cnt, keep, total = 0;
    int rc, cut = 0;

    memcpy(&cnt, base + f->quantifier_offset, sizeof(cnt));
    memcpy(&arr, base + f->offset, sizeof(arr));
    if (cnt == 0)
        return 0;
    lim_of(x, d, f, &l);
    keep = cnt;
    if (l.max_count && cnt > l.max_count) {
        if ((rc = over(x, d, f, &l, cnt, l.max_count, "entries")) != 0)
            return rc;
        keep = l.max_count;
        cut = 1;
    }
    for (size_t k = 0; k < keep && (str || f->type == PROTOBUF_C_TYPE_MESSAGE); k++) {
        void *p = arr + k * elem_size(f);
        if (!str) {
            ProtobufCMessage *sub;
            memcpy(&sub, p, sizeof(sub));
            if (sub && (rc = lim_walk(x, sub)) != 0)
                return rc;
            continue;
        }
        size_t len = value_len(f, p);
        if (l.max_len && len > l.max_len) {
            if ((rc = over(x, d, f, &l, len, l.max_len, "bytes")) != 0)
                return rc;
            value_cut(f, p, l.max_len);
            len = value_len(f, p);
            cut = 1;
        }
        if (l.max_total && total + len + 1 > l.max_total) {
            size_t room = l.max_total - total;
            if ((rc = over(x, d, f, &l, total + len + 1, l.max_total, "bytes in all")) != 0)
                return rc;
            /* This one cut to what is left (if anything), the rest dropped. */
            if (room > 1) {
                value_cut(f, p, room - 1);
                k++;
            }
            keep = k;
            cut = 1;
            break;
        }
        total += len + 1;
    }
    if (keep < cnt) {
        for (size_t k = keep; k < cnt; k++)
            drop_elem(f, arr, k);
        memcpy(base + f->quantifier_offset, &keep, sizeof(keep));
    }
    if (cut) {
        set_flag(m, l.flag);
        x->r->cut++;
    }
    return 0;
}

static int lim_walk(struct lim_ctx *x, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int rc;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t q;
            memcpy(&q, base + f->quantifier_offset, sizeof(q));
            if (q != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t cnt;
            memcpy(&cnt, base + f->quantifier_offset, sizeof(cnt));
            if (f->type == PROTOBUF_C_TYPE_MESSAGE || cnt > x->mincount ||
                (cnt && (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES)))
                if ((rc = lim_repeated(x, m, f)) != 0)
                    return rc;
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *sub;
            memcpy(&sub, base + f->offset, sizeof(sub));
            if (sub && (rc = lim_walk(x, sub)) != 0)
                return rc;
        } else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
            size_t len = value_len(f, base + f->offset);
            struct vg_pb_limit l;
            if (len <= x->minlen)
                continue;
            lim_of(x, d, f, &l);
            if (!l.max_len || len <= l.max_len)
                continue;
            if ((rc = over(x, d, f, &l, len, l.max_len, "bytes")) != 0)
                return rc;
            value_cut(f, base + f->offset, l.max_len);
            set_flag(m, l.flag);
            x->r->cut++;
        }
    }
    return 0;
}

int vg_pb_limit(ProtobufCMessage *msg, const struct vg_pb_limit *tab, size_t n,
                struct vg_pb_limit_report *r)
{
    struct lim_ctx x;

    memset(r, 0, sizeof(*r));
    memset(&x, 0, sizeof(x));
    x.tab = tab;
    x.n = n;
    x.r = r;
    x.minlen = x.mincount = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].field, "*.string") == 0)
            x.dstr = &tab[i];
        else if (strcmp(tab[i].field, "*.repeated") == 0)
            x.drep = &tab[i];
        if (tab[i].max_len && tab[i].max_len < x.minlen)
            x.minlen = tab[i].max_len;
        if (tab[i].max_total && tab[i].max_total < x.minlen)
            x.minlen = tab[i].max_total;
        if (tab[i].max_count && tab[i].max_count < x.mincount)
            x.mincount = tab[i].max_count;
    }
    return lim_walk(&x, msg);
}

/* A varint at *p (below end): 0 and *p moved past it, or -1. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

uint32_t vg_pb_first_field(const uint8_t *data, size_t len, uint32_t lo, uint32_t hi)
{
    const uint8_t *p = data, *end = data + len;
    uint64_t key, v;

    while (p < end) {
        if (get_varint(&p, end, &key) != 0)
            return 0;
        if (key >> 3 >= lo && key >> 3 <= hi)
            return (uint32_t)(key >> 3);
        switch (key & 7) {
        case 0:
            if (get_varint(&p, end, &v) != 0)
                return 0;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 2:
            if (get_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return 0;
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

const char *vg_pb_field_name(const ProtobufCMessageDescriptor *desc, uint32_t number)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, number);
    return f ? f->name : NULL;
}
