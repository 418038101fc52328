#include <errno.h>
#include <stdlib.h>

#include "err.h"
#include "pb.h"
#include "util.h"
#include "wire.h"

int vg_wire_send(struct vg_tls_conn *c, Vigil__V1__Envelope *env)
{
    struct vg_buf b;
    int rc;

    env->sent_time_ms = vg_time_now_ms();
    vg_buf_init(&b, VG_FRAME_DEFAULT_MAX_WIRE + VG_FRAME_HDR);
    rc = vg_frame_encode_msg(&env->base, &b);
    if (rc == 0)
        rc = vg_tls_write(c, b.data, b.len);
    vg_buf_free(&b);
    return rc;
}

int vg_wire_heartbeat_reply(struct vg_tls_conn *c, const Vigil__V1__Heartbeat *hb)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Heartbeat echo = VIGIL__V1__HEARTBEAT__INIT;

    if (hb->echo)
        return 0;
    echo.id = hb->id;
    echo.echo = 1;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &echo;
    return vg_wire_send(c, &env);
}

void vg_wire_fail(struct vg_tls_conn *c, Vigil__V1__Error__Code code, const char *msg)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Error err = VIGIL__V1__ERROR__INIT;

    err.code = code;
    err.message = (char *)msg;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_ERROR;
    env.error = &err;
    (void)vg_wire_send(c, &env);
    vg_tls_close(c, msg);
}

int vg_wire_drain(struct vg_frame_reader *r, vg_wire_cb cb, void *ctx)
{
    for (;;) {
        uint8_t *raw = NULL;
        size_t rl = 0;
        ProtobufCMessage *m = NULL;
        int rc = vg_frame_reader_next(r, &raw, &rl);

        if (rc == VG_EAGAIN)
            return 0;
        if (rc)
            return rc;
        rc = vg_pb_unpack(&vigil__v1__envelope__descriptor, raw, rl, &m);
        free(raw);
        if (rc) {
            r->error = rc;
            return rc;
        }
        if (cb(ctx, (Vigil__V1__Envelope *)m))
            return 0;
    }
}

int vg_wire_feed(struct vg_frame_reader *r, const uint8_t *data, size_t len, vg_wire_cb cb,
                 void *ctx)
{
    int rc = vg_frame_reader_feed(r, data, len);
    if (rc)
        return rc;
    return vg_wire_drain(r, cb, ctx);
}

const char *vg_wire_body_name(const Vigil__V1__Envelope *env)
{
    switch (env->body_case) {
    case VIGIL__V1__ENVELOPE__BODY_HELLO: return "hello";
    case VIGIL__V1__ENVELOPE__BODY_HELLO_ACK: return "hello_ack";
    case VIGIL__V1__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
    case VIGIL__V1__ENVELOPE__BODY_ERROR: return "error";
    case VIGIL__V1__ENVELOPE__BODY_GOODBYE: return "goodbye";
    case VIGIL__V1__ENVELOPE__BODY_BATCH: return "batch";
    case VIGIL__V1__ENVELOPE__BODY_ACK: return "ack";
    case VIGIL__V1__ENVELOPE__BODY_COMMAND: return "command";
    case VIGIL__V1__ENVELOPE__BODY_COMMAND_RESULT: return "command_result";
    case VIGIL__V1__ENVELOPE__BODY_UPLOAD_CHUNK: return "upload_chunk";
    case VIGIL__V1__ENVELOPE__BODY_UPLOAD_ACK: return "upload_ack";
    case VIGIL__V1__ENVELOPE__BODY_ENROLL_REQUEST: return "enroll_request";
    case VIGIL__V1__ENVELOPE__BODY_ENROLL_RESPONSE: return "enroll_response";
    case VIGIL__V1__ENVELOPE__BODY_RENEW_REQUEST: return "renew_request";
    case VIGIL__V1__ENVELOPE__BODY_RENEW_RESPONSE: return "renew_response";
    case VIGIL__V1__ENVELOPE__BODY_OPERATOR_REQUEST: return "operator_request";
    case VIGIL__V1__ENVELOPE__BODY_OPERATOR_RESPONSE: return "operator_response";
    default: return "unknown";
    }
}

const char *vg_command_state_name(int st)
{
    switch (st) {
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED: return "queued";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_DELIVERED: return "delivered";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_RUNNING: return "running";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED: return "succeeded";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED: return "failed";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_ROLLED_BACK: return "rolled-back";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_EXPIRED: return "expired";
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_REJECTED: return "rejected";
    default: return "unknown";
    }
}
