#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    case VIGIL__V1__COMMAND_STATE__COMMAND_STATE_CANCELLED: return "cancelled";
    default: return "unknown";
    }
}

/* ---- one request, one answer ---- */

struct call {
    uv_loop_t loop;
    uv_timer_t timer;
    struct vg_tls_conn *conn;
    struct vg_frame_reader rd;
    Vigil__V1__Envelope *req;
    int want;
    uint32_t timeout_ms;
    Vigil__V1__Envelope *resp;
    char err[512];
    int done;
};

static void call_finish(struct call *c, const char *fmt, ...) VG_PRINTF(2, 3);
static void call_finish(struct call *c, const char *fmt, ...)
{
    if (fmt && !c->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
    }
    c->done = 1;
    uv_timer_stop(&c->timer);
    if (c->conn)
        vg_tls_close(c->conn, NULL);
}

static int call_env(void *ctx, Vigil__V1__Envelope *env)
{
    struct call *c = ctx;
    if ((int)env->body_case == c->want && !c->resp) {
        c->resp = env;
        call_finish(c, NULL);
        return 1;
    }
    if (env->body_case == VIGIL__V1__ENVELOPE__BODY_ERROR)
        call_finish(c, "the collector refused the request: %s", env->error->message);
    else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_GOODBYE)
        call_finish(c, "the collector is shutting down; try again shortly");
    vg_pb_free(&env->base);
    return c->done;
}

static int call_ready(struct vg_tls_conn *t)
{
    struct call *c = vg_tls_data(t);
    if (vg_tls_peer(t)->role != VG_ROLE_COLLECTOR) {
        call_finish(c, "%s presents a %s certificate, not a collector's", vg_tls_peer_addr(t),
                    vg_role_name(vg_tls_peer(t)->role));
        return -1;
    }
    if (vg_wire_send(t, c->req)) {
        call_finish(c, "cannot send the request");
        return -1;
    }
    return 0;
}

static void call_data(struct vg_tls_conn *t, const uint8_t *data, size_t len)
{
    struct call *c = vg_tls_data(t);
    int rc = vg_wire_feed(&c->rd, data, len, call_env, c);
    if (rc)
        call_finish(c, "bad frame from the collector: %s", vg_strerror(rc));
}

static void call_close(struct vg_tls_conn *t, int err)
{
    struct call *c = vg_tls_data(t);
    c->conn = NULL;
    if (!c->done || (!c->resp && !c->err[0])) {
        const char *why = vg_tls_why(t)[0] ? vg_tls_why(t) : vg_strerror(err);
        /* Nobody listening: say what to look at. */
        call_finish(c, "connection to %s failed: %s%s", vg_tls_peer_addr(t), why,
                    err == UV_ECONNREFUSED ? "; is vigil-collector running and listening "
                                             "there? (systemctl status vigil-collector; "
                                             "[collector] listen)"
                                           : "");
    }
    uv_close((uv_handle_t *)&c->timer, NULL);
}

static const struct vg_tls_handlers call_handlers = {
    .on_ready = call_ready, .on_data = call_data, .on_close = call_close,
};

static void call_timeout(uv_timer_t *t)
{
    struct call *c = t->data;
    call_finish(c, "no answer from the collector within %u s", c->timeout_ms / 1000);
}

int vg_wire_call(struct vg_tls_config *cfg, const struct sockaddr *addr, const char *server_name,
                 Vigil__V1__Envelope *req, int want, uint32_t timeout_ms,
                 Vigil__V1__Envelope **resp, char *err, size_t errlen)
{
    return vg_wire_call_via(cfg, addr, server_name, NULL, req, want, timeout_ms, resp, err,
                            errlen);
}

int vg_wire_call_via(struct vg_tls_config *cfg, const struct sockaddr *addr,
                     const char *server_name, const struct vg_tls_tunnel *tunnel,
                     Vigil__V1__Envelope *req, int want, uint32_t timeout_ms,
                     Vigil__V1__Envelope **resp, char *err, size_t errlen)
{
    struct call *c = calloc(1, sizeof(*c));
    int rc;

    *resp = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    uv_loop_init(&c->loop);
    uv_timer_init(&c->loop, &c->timer);
    c->timer.data = c;
    c->req = req;
    c->want = want;
    c->timeout_ms = timeout_ms;
    vg_frame_reader_init(&c->rd, NULL);
    uv_timer_start(&c->timer, call_timeout, timeout_ms, 0);
    if ((rc = vg_tls_connect_via(&c->loop, cfg, addr, server_name, NULL, tunnel,
                                 &call_handlers, c, &c->conn)) != 0) {
        snprintf(c->err, sizeof(c->err), "cannot connect: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&c->timer, NULL);
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    vg_frame_reader_free(&c->rd);
    *resp = c->resp;
    rc = c->resp ? 0 : -EIO;
    if (rc)
        snprintf(err, errlen, "%s", c->err[0] ? c->err : "no answer from the collector");
    free(c);
    return rc;
}
