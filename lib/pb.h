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

/* The number of the first top-level field of an encoded message that lies
 * in [lo, hi] (a oneof's case, read without decoding the message), or 0
 * when there is none or the encoding is cut short. */
uint32_t vg_pb_first_field(const uint8_t *data, size_t len, uint32_t lo, uint32_t hi);
/* The name of field number of messages of type desc ("process_exec"), or
 * NULL when it has none. */
const char *vg_pb_field_name(const struct ProtobufCMessageDescriptor *desc, uint32_t number);

/* Frees a message from vg_pb_unpack().  NULL is a no-op. */
void vg_pb_free(struct ProtobufCMessage *msg);

/* A bound on fields of a decoded message, for vg_pb_limit().  field is
 * "Message.field" (the message's short name, "ProcessExec.argv"), or one
 * of the defaults: "*.string" for every string and bytes field,
 * "*.repeated" for every repeated field.  Zero means no bound of the
 * entry's own (the default's applies; with max_total, max_len 0 means
 * none but the total). */
struct vg_pb_limit {
    const char *field;
    uint32_t max_len;   /* bytes of each string or bytes value */
    uint32_t max_count; /* elements of a repeated field */
    uint32_t max_total; /* bytes of all elements of a repeated string or bytes
                           field, one separator each counted (0: none) */
    const char *flag;   /* a bool field of the same message: values over a
                           bound are cut to fit and it is set.  NULL: a value
                           over a bound refuses the whole message. */
};

/* What vg_pb_limit() found: the first field over a bound. */
struct vg_pb_limit_report {
    uint64_t cut;      /* fields cut to fit (their flags set) */
    int found;         /* the fields below describe one */
    char field[80];    /* "OsState.hostname" */
    uint64_t size, max;
    const char *unit;  /* "bytes", "entries" or "bytes in all" */
    const char *flag;  /* its flag, NULL if it refused the message */
};

/* Checks every string, bytes and repeated field of msg, a message from
 * vg_pb_unpack() (and only such: cutting frees what it drops), and of the
 * messages in it, against tab (n entries).  A value over a bound with a
 * flag is cut in place (elements dropped, bytes shortened, strings cut at
 * a UTF-8 character boundary) and the flag set.  Returns 0 (r->cut says
 * how many were cut) or VG_ETOOBIG when a value is over a bound without a
 * flag: r describes that one, and msg may be partly cut. */
int vg_pb_limit(struct ProtobufCMessage *msg, const struct vg_pb_limit *tab, size_t n,
                struct vg_pb_limit_report *r);

#endif
