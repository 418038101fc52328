/*
 * Messages between the agent's two processes (privilege separation).
 *
 * The root parent (agent/priv/) and the unprivileged network child
 * (agent/net/) share one AF_UNIX stream socketpair.  Each message is
 *
 *   0        4        8
 *   +--------+--------+---------------------
 *   | type   | len    | payload (len bytes)
 *   | u32 LE | u32 LE |
 *   +--------+--------+---------------------
 *
 * and every payload is a fixed sequence of fields, each one of
 *
 *   u8, u32, u64 (little-endian), i32, i64
 *   str: u16 LE length, then that many bytes, no NUL; at most the limit
 *        the message gives it (and never a NUL inside)
 *   bytes: u32 LE length, then the bytes, at most the given limit
 *
 * A payload must be consumed exactly: a short field, a string over its
 * limit or a trailing byte makes the message malformed.  What the parent
 * accepts from the child, in which state, is its permit table
 * (agent/priv/monitor.c); a malformed or unexpected message is fatal to
 * the child.  The child trusts the parent.
 *
 * Parent -> child carries bytes the parent encoded itself (events,
 * command results); child -> parent carries only flat, bounded fields:
 * the parent never decodes protobuf or anything else the network sent.
 */
#ifndef VG_PSMSG_H
#define VG_PSMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"

#define VG_PS_HDR 8
/* Largest payload either way: an inventory event (bus_emit's limit). */
#define VG_PS_MAX_PARENT (8u * 1024 * 1024 + 64)
/* Largest payload the child may send: a command with its allow list. */
#define VG_PS_MAX_CHILD (64u * 1024)
#define VG_PS_VERSION 2

enum vg_ps_type {
    /* child -> parent */
    VG_PS_HELLO = 1,      /* u32 version, u32 pid: the child is set up and confined */
    VG_PS_EVENT_ACK,      /* u64 events queued (spooled) by this child since it started */
    VG_PS_STATS,          /* struct vg_ps_stats */
    VG_PS_CONN,           /* struct vg_ps_conn: connected to a collector, or not */
    VG_PS_COMMAND,        /* struct vg_ps_command: a command from the collector */
    VG_PS_PROBE_DONE,     /* u32 id, i32 rc, str why */
    VG_PS_CERT,           /* struct vg_ps_cert: a renewed certificate to install */
    /* parent -> child */
    VG_PS_EVENT = 32,     /* struct vg_ps_tag, bytes: one encoded vigil.v1.Event */
    VG_PS_RESULT,         /* bytes: one encoded vigil.v1.CommandResult */
    VG_PS_UPLOAD,         /* struct vg_ps_upload: a package to upload */
    VG_PS_PROBE,          /* struct vg_ps_probe: probe a collector address */
    VG_PS_PINS,           /* struct vg_ps_pins: collector addresses to use while isolated */
    VG_PS_SOURCE,         /* str: the process source in use (for the hello) */
    VG_PS_CERT_DONE,      /* i32 rc, str message: the renewed certificate is installed (0) */
    VG_PS_SHUTDOWN,       /* u64 ms: send what is queued, wait at most ms, exit */
};

/* Where an event came from, so that one the spool already holds is not
 * queued twice (see monitor.c):
 *   epoch, seq  the parent's run (random) and the event's number in it
 *               (1, 2, ...): a new child is sent again what its dead
 *               predecessor may already have spooled;
 *   ring_id,    for events of an eBPF ring record: the ring (the kernel's
 *   ring_pos,   map id), the position just past the record and the
 *   ring_sub    event's index among the record's events (0, 1, ...): the
 *               ring's records stay until spooled, so a new parent reads
 *               again what its dead predecessor's child may have spooled.
 *               ring_id 0: not from a ring. */
struct vg_ps_tag {
    uint64_t epoch, seq;
    uint32_t ring_id, ring_sub;
    uint64_t ring_pos;
};
#define VG_PS_TAG_SIZE 32

/* The name of a message type, for logs ("unknown" if none). */
const char *vg_ps_name(uint32_t type);

/* ---- typed payloads ---- */

#define VG_PS_ID_MAX 36       /* a UUID */
#define VG_PS_TEXT_MAX 1024   /* operator names, reasons, messages */
#define VG_PS_HOST_MAX 255
#define VG_PS_ALLOW_MAX 64
#define VG_PS_PINS_MAX 32

struct vg_ps_stats {
    uint64_t queued_events, queued_batches, queued_bytes;
    uint64_t events_total, batches_sent, reconnects, dropped_total;
};

struct vg_ps_addr {
    uint8_t family;       /* AF_INET, AF_INET6 */
    uint8_t addr[16];     /* 4 or 16 bytes used */
    uint16_t port;
};

struct vg_ps_conn {
    uint8_t up;
    struct vg_ps_addr peer;
    char host[VG_PS_HOST_MAX + 1];
};

enum vg_ps_action { VG_PS_ACT_UNKNOWN, VG_PS_ACT_ISOLATE, VG_PS_ACT_RELEASE, VG_PS_ACT_COLLECT };

struct vg_ps_allow {
    char cidr[64];
    uint32_t port;
    char protocol[8];
};

/* A vigil.v1.Command, flattened by the child.  A command the child could
 * not flatten (a field over its limit, an unknown action) arrives with
 * action VG_PS_ACT_UNKNOWN and is refused by the parent. */
struct vg_ps_command {
    char id[VG_PS_ID_MAX + 1];
    char operator_name[VG_PS_TEXT_MAX + 1];
    char reason[VG_PS_TEXT_MAX + 1];
    int64_t issued_ms, expires_ms;
    uint32_t action;
    int64_t isolate_expires_ms;
    uint32_t nallow;
    struct vg_ps_allow allow[VG_PS_ALLOW_MAX];
    uint64_t collect_max_bytes;
    uint32_t collect_max_seconds;
};

struct vg_ps_upload {
    char id[VG_PS_ID_MAX + 1], command_id[VG_PS_ID_MAX + 1];
    char name[160];
    uint64_t size;
    uint8_t sha256[32];
};

struct vg_ps_probe {
    uint32_t id;
    struct vg_ps_addr addr;
    uint64_t timeout_ms;
};

struct vg_ps_pin {
    char host[VG_PS_HOST_MAX + 1];
    struct vg_ps_addr addr;
};
struct vg_ps_pins {
    uint32_t n;
    struct vg_ps_pin v[VG_PS_PINS_MAX];
};
/* 1 when a and b hold the same pins in the same order (member by member:
 * the structs have padding). */
int vg_ps_pins_equal(const struct vg_ps_pins *a, const struct vg_ps_pins *b);

#define VG_PS_CERT_MAX 8192
struct vg_ps_cert {
    uint32_t key_len, cert_len;
    uint8_t key[VG_PS_CERT_MAX];  /* PEM, as vg_key_save writes it; zeroised after use */
    uint8_t cert[VG_PS_CERT_MAX]; /* DER or PEM, as the collector sent it */
};

/* Each encoder appends one whole message (header and payload) to out.
 * Returns 0, VG_ETOOBIG (a field over its limit; nothing appended) or
 * -ENOMEM. */
int vg_ps_put_u64(struct vg_buf *out, uint32_t type, uint64_t v);
int vg_ps_put_bytes(struct vg_buf *out, uint32_t type, const void *p, size_t len);
/* VG_PS_EVENT: the tag, then the encoded event. */
int vg_ps_put_event(struct vg_buf *out, const struct vg_ps_tag *t, const void *ev, size_t len);
int vg_ps_put_str(struct vg_buf *out, uint32_t type, const char *s);
int vg_ps_put_hello(struct vg_buf *out, uint32_t version, uint32_t pid);
int vg_ps_put_stats(struct vg_buf *out, const struct vg_ps_stats *s);
int vg_ps_put_conn(struct vg_buf *out, const struct vg_ps_conn *c);
int vg_ps_put_command(struct vg_buf *out, const struct vg_ps_command *c);
int vg_ps_put_probe_done(struct vg_buf *out, uint32_t id, int32_t rc, const char *why);
int vg_ps_put_cert(struct vg_buf *out, const struct vg_ps_cert *c);
int vg_ps_put_upload(struct vg_buf *out, const struct vg_ps_upload *u);
int vg_ps_put_probe(struct vg_buf *out, const struct vg_ps_probe *p);
int vg_ps_put_pins(struct vg_buf *out, const struct vg_ps_pins *p);
int vg_ps_put_cert_done(struct vg_buf *out, int32_t rc, const char *msg);

/* Each decoder parses one payload (without its header) exactly.
 * Returns 0 or VG_EPROTO (malformed: short, over a limit, trailing
 * bytes, a NUL inside a string, a bad address family). */
int vg_ps_get_u64(const uint8_t *p, size_t len, uint64_t *v);
/* str payload into out (outlen includes the NUL; the limit is outlen-1). */
int vg_ps_get_str(const uint8_t *p, size_t len, char *out, size_t outlen);
/* bytes payload: *data points into p. */
int vg_ps_get_bytes(const uint8_t *p, size_t len, const uint8_t **data, size_t *n);
int vg_ps_get_event(const uint8_t *p, size_t len, struct vg_ps_tag *t, const uint8_t **ev,
                    size_t *n);
int vg_ps_get_hello(const uint8_t *p, size_t len, uint32_t *version, uint32_t *pid);
int vg_ps_get_stats(const uint8_t *p, size_t len, struct vg_ps_stats *s);
int vg_ps_get_conn(const uint8_t *p, size_t len, struct vg_ps_conn *c);
int vg_ps_get_command(const uint8_t *p, size_t len, struct vg_ps_command *c);
int vg_ps_get_probe_done(const uint8_t *p, size_t len, uint32_t *id, int32_t *rc, char *why,
                         size_t whylen);
int vg_ps_get_cert(const uint8_t *p, size_t len, struct vg_ps_cert *c);
int vg_ps_get_upload(const uint8_t *p, size_t len, struct vg_ps_upload *u);
int vg_ps_get_probe(const uint8_t *p, size_t len, struct vg_ps_probe *pr);
int vg_ps_get_pins(const uint8_t *p, size_t len, struct vg_ps_pins *pins);
int vg_ps_get_cert_done(const uint8_t *p, size_t len, int32_t *rc, char *msg, size_t msglen);

/* Addresses to and from struct sockaddr.  to: returns 0 or -EAFNOSUPPORT;
 * from: fills ss and returns its length (0 for a bad family). */
int vg_ps_addr_from(const struct sockaddr *sa, struct vg_ps_addr *out);
socklen_t vg_ps_addr_to(const struct vg_ps_addr *a, struct sockaddr_storage *ss);

/* ---- reading a stream of messages ---- */

/* Accumulates bytes read from the socket; each whole message is taken
 * out with vg_ps_next. */
struct vg_ps_reader {
    struct vg_buf in;
    size_t max_payload;
    size_t off; /* consumed prefix of in */
};

void vg_ps_reader_init(struct vg_ps_reader *r, size_t max_payload);
void vg_ps_reader_free(struct vg_ps_reader *r);
/* Appends n bytes read.  Returns 0 or -ENOMEM. */
/* Gives back a big buffer once everything in it was read. */
void vg_ps_reader_shrink(struct vg_ps_reader *r);
int vg_ps_feed(struct vg_ps_reader *r, const void *p, size_t n);
/* The next whole message: 1 with *type, *payload (valid until the next
 * feed) and *len; 0 when more bytes are needed; VG_EPROTO when the header
 * announces more than max_payload (the stream is then unusable). */
int vg_ps_next(struct vg_ps_reader *r, uint32_t *type, const uint8_t **payload, size_t *len);

#endif
