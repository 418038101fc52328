/* Frame codec cost: a realistic batch (process execs with argv) packed,
 * framed with lz4 and decoded, against the protobuf pack/unpack alone as
 * the baseline measured in the same run.  Prints figures; never fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "frame.h"
#include "pb.h"
#include "vigil/v1/envelope.pb-c.h"

#define EVENTS 500
#define ROUNDS 400

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    static Vigil__V1__Event ev[EVENTS], *evp[EVENTS];
    static Vigil__V1__ProcessExec px[EVENTS];
    static ProtobufCBinaryData argv[EVENTS][3];
    static char args[EVENTS][3][48];
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Batch batch = VIGIL__V1__BATCH__INIT;
    struct vg_frame_limits l;
    struct vg_buf raw, fr;
    double t0, t_pb, t_frame;
    ProtobufCMessage *m;

    for (int i = 0; i < EVENTS; i++) {
        vigil__v1__event__init(&ev[i]);
        vigil__v1__process_exec__init(&px[i]);
        px[i].pid = 20000u + (unsigned)i;
        px[i].ppid = 1234;
        px[i].uid = px[i].euid = 1000;
        px[i].comm = i % 3 ? "python3" : "bash";
        px[i].exe_path.data = (uint8_t *)(i % 3 ? "/usr/bin/python3.11" : "/usr/bin/bash");
        px[i].exe_path.len = strlen((char *)px[i].exe_path.data);
        snprintf(args[i][0], sizeof(args[i][0]), "%s", px[i].comm);
        snprintf(args[i][1], sizeof(args[i][1]), "/opt/app/worker-%d.py", i % 17);
        snprintf(args[i][2], sizeof(args[i][2]), "--job=%08x", (unsigned)(i * 2654435761u));
        for (int a = 0; a < 3; a++) {
            argv[i][a].data = (uint8_t *)args[i][a];
            argv[i][a].len = strlen(args[i][a]);
        }
        px[i].argv = argv[i];
        px[i].n_argv = 3;
        px[i].cgroup_id = 4242;
        px[i].start_boot_ns = 1000000000ull * (unsigned)i;
        px[i].start_time_ms = 1763800000000ll + i;
        ev[i].time_ms = px[i].start_time_ms;
        ev[i].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev[i].process_exec = &px[i];
        evp[i] = &ev[i];
    }
    batch.seq = 1;
    batch.n_events = EVENTS;
    batch.events = evp;
    env.body_case = VIGIL__V1__ENVELOPE__BODY_BATCH;
    env.batch = &batch;
    vg_frame_limits_default(&l);
    vg_buf_init(&raw, 64 << 20);
    vg_buf_init(&fr, 64 << 20);

    /* Baseline: protobuf alone. */
    t0 = now_s();
    for (int r = 0; r < ROUNDS; r++) {
        vg_buf_reset(&raw);
        vg_pb_pack(&env.base, &raw);
        m = NULL;
        if (vg_pb_unpack(&vigil__v1__envelope__descriptor, raw.data, raw.len, &m) == 0)
            vg_pb_free(m);
    }
    t_pb = now_s() - t0;

    t0 = now_s();
    for (int r = 0; r < ROUNDS; r++) {
        vg_buf_reset(&fr);
        vg_frame_encode_msg(&env.base, &fr);
        m = NULL;
        if (vg_frame_decode_msg(fr.data, fr.len, &l, &vigil__v1__envelope__descriptor, &m) == 0)
            vg_pb_free(m);
    }
    t_frame = now_s() - t0;

    printf("bench_frame: batch of %d process-exec events\n", EVENTS);
    printf("  protobuf bytes      %zu (%.1f B/event)\n", raw.len, (double)raw.len / EVENTS);
    printf("  framed lz4 bytes    %zu (%.1f B/event, ratio %.2f)\n", fr.len,
           (double)fr.len / EVENTS, (double)raw.len / (double)fr.len);
    printf("  pb pack+unpack      %.0f events/s\n", EVENTS * ROUNDS / t_pb);
    printf("  frame enc+dec (lz4) %.0f events/s (%.2fx the protobuf-only time)\n",
           EVENTS * ROUNDS / t_frame, t_frame / t_pb);
    vg_buf_free(&raw);
    vg_buf_free(&fr);
    return 0;
}
