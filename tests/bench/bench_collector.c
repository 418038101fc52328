/*
 * Collector benchmark, run against a real vigil-collector by
 * scripts/bench.sh:
 *   1. TLS handshakes: sequential full handshakes vs resumed ones (session
 *      tickets), with the collector's CPU time per handshake read from
 *      /proc/PID/stat;
 *   2. throughput: one agent connection streaming batches of process-exec
 *      events with a window of unacknowledged batches; batches/s, events/s
 *      and wire bytes per event.
 *   3. latency (its own mode, for scripts/bench_report_load.sh): one agent
 *      connection sending a batch at a steady rate, as a busy agent
 *      does, with each batch's acknowledgement latency (from when the
 *      batch was due, so a stalled collector shows, not a stalled
 *      sender) written to a file, one line per batch:
 *          DUE_MS LATENCY_US      (DUE_MS: CLOCK_REALTIME, ms)
 *      until SIGTERM or SIGINT.
 * Prints figures; never fails on time.
 *
 * Usage: bench_collector HOST:PORT CA CERT KEY COLLECTOR_PID [SECONDS]
 *        bench_collector --latency HOST:PORT CA CERT KEY BATCHES_PER_SEC OUT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "frame.h"
#include "pb.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define EVENTS_PER_BATCH 100
#define WINDOW 32

static struct sockaddr_storage addr;
static struct vg_tls_config *cfg;
static int collector_pid;

static int atoi_safe_port(const char *s)
{
    uint64_t v = 0;
    return vg_parse_u64(s, 1, 65535, &v) ? -1 : (int)v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of a process in seconds, from /proc/PID/schedstat (ns). */
static double cpu_of(int pid)
{
    char path[64], *buf = NULL;
    size_t len;
    double r = 0;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    if (vg_file_read(path, 4096, &buf, &len))
        return 0;
    buf[strcspn(buf, " ")] = '\0';
    r = (double)strtoull(buf, NULL, 10) / 1e9;
    free(buf);
    return r;
}

/* ---- handshakes ---- */

struct hs {
    int done, ok, resumed;
};

static int hs_ready(struct vg_tls_conn *c)
{
    struct hs *h = vg_tls_data(c);
    h->ok = 1;
    h->resumed = vg_tls_resumed(c);
    vg_tls_close(c, NULL);
    return 0;
}
static void hs_data(struct vg_tls_conn *c, const uint8_t *d, size_t n) { (void)c; (void)d; (void)n; }
static void hs_close(struct vg_tls_conn *c, int err)
{
    struct hs *h = vg_tls_data(c);
    (void)err;
    h->done = 1;
}
static const struct vg_tls_handlers hs_handlers = {
    .on_ready = hs_ready,
    .on_data = hs_data,
    .on_close = hs_close,
};

static void handshakes(int n, int resume)
{
    uv_loop_t loop;
    struct vg_tls_session *sess = resume ? vg_tls_session_new() : NULL;
    double t0, c0, wall, cpu;
    int ok = 0, resumed = 0;

    uv_loop_init(&loop);
    if (resume) { /* prime the session */
        struct hs h = { 0, 0, 0 };
        struct vg_tls_conn *c;
        vg_tls_connect(&loop, cfg, (struct sockaddr *)&addr, "localhost", sess, &hs_handlers, &h, &c);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    c0 = cpu_of(collector_pid);
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        struct hs h = { 0, 0, 0 };
        struct vg_tls_conn *c;
        if (vg_tls_connect(&loop, cfg, (struct sockaddr *)&addr, "localhost", sess, &hs_handlers,
                           &h, &c))
            break;
        uv_run(&loop, UV_RUN_DEFAULT);
        ok += h.ok;
        resumed += h.resumed;
    }
    wall = now_s() - t0;
    usleep(200000); /* let the collector log the closes */
    cpu = cpu_of(collector_pid) - c0;
    (void)resumed; /* mbedtls 2.28 tells only the server; see the collector's log */
    printf("  %-8s handshakes: %d, %.0f/s sequential, collector CPU %.3f ms each\n",
           resume ? "resumed" : "full", ok, ok / wall, ok ? cpu * 1000.0 / ok : 0);
    uv_loop_close(&loop);
    vg_tls_session_free(sess);
}

/* ---- throughput ---- */

struct tp {
    struct vg_tls_conn *c;
    struct vg_frame_reader rd;
    uint64_t next_seq, acked;
    int ready;
    double end;
    uint64_t wire_bytes, events;
    uint8_t *batch;
    size_t batch_len;
    int stopping;
};

/* Sends batch next_seq; next_seq moves on unless the write is refused. */
static void tp_send_one(struct tp *t)
{
    {
        struct vg_buf raw, fr;
        vg_buf_init(&raw, t->batch_len + 64);
        vg_buf_init(&fr, t->batch_len * 2 + 64);
        /* Envelope{1: time, 20: Batch{1: seq, 2: created, 3...: events}} */
        {
            struct vg_buf b;
            vg_buf_init(&b, t->batch_len + 32);
            vg_pb_put_varint(&b, 1, t->next_seq);
            vg_pb_put_varint(&b, 2, (uint64_t)vg_time_now_ms());
            vg_buf_append(&b, t->batch, t->batch_len);
            vg_pb_put_varint(&raw, 1, (uint64_t)vg_time_now_ms());
            vg_pb_put_bytes(&raw, 20, b.data, b.len);
            vg_buf_free(&b);
        }
        vg_frame_encode(raw.data, raw.len, &fr);
        if (vg_tls_write(t->c, fr.data, fr.len)) {
            vg_buf_free(&raw);
            vg_buf_free(&fr);
            return;
        }
        t->wire_bytes += fr.len;
        t->next_seq++;
        vg_buf_free(&raw);
        vg_buf_free(&fr);
    }
}

static void tp_send(struct tp *t)
{
    while (t->ready && !t->stopping && t->next_seq - t->acked <= WINDOW) {
        uint64_t before = t->next_seq;
        tp_send_one(t);
        if (t->next_seq == before)
            return;
    }
}

static int tp_env(void *ctx, Vigil__V1__Envelope *env)
{
    struct tp *t = ctx;
    if (env->body_case == VIGIL__V1__ENVELOPE__BODY_HELLO_ACK) {
        t->ready = 1;
    } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_ACK) {
        t->acked = env->ack->seq;
        t->events += EVENTS_PER_BATCH;
        if (now_s() >= t->end && !t->stopping) {
            t->stopping = 1;
            vg_tls_close(t->c, NULL);
        }
    } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_ERROR) {
        fprintf(stderr, "bench: collector error: %s\n", env->error->message);
    }
    vg_pb_free(&env->base);
    tp_send(t);
    return 0;
}

static int tp_ready(struct vg_tls_conn *c)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    uint8_t epoch[16];
    vg_random(epoch, sizeof(epoch));
    h.protocol_version = 1;
    h.agent_id = (char *)vg_tls_config_self(cfg)->cn;
    h.stream_epoch.data = epoch;
    h.stream_epoch.len = 16;
    h.software_version = "bench";
    h.hostname = "bench";
    env.body_case = VIGIL__V1__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    return vg_wire_send(c, &env);
}

static void tp_data(struct vg_tls_conn *c, const uint8_t *d, size_t n)
{
    struct tp *t = vg_tls_data(c);
    if (vg_wire_feed(&t->rd, d, n, tp_env, t))
        vg_tls_close(c, NULL);
}

static void tp_drain(struct vg_tls_conn *c) { tp_send(vg_tls_data(c)); }
static void tp_close(struct vg_tls_conn *c, int err)
{
    (void)c;
    (void)err;
}
static const struct vg_tls_handlers tp_handlers = {
    .on_ready = tp_ready,
    .on_data = tp_data,
    .on_drain = tp_drain,
    .on_close = tp_close,
};

/* EVENTS_PER_BATCH encoded process-exec events as Batch.events fields. */
static void make_events(struct tp *t)
{
    struct vg_buf all;
    vg_buf_init(&all, 1 << 22);
    for (int i = 0; i < EVENTS_PER_BATCH; i++) {
        Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
        Vigil__V1__ProcessExec px = VIGIL__V1__PROCESS_EXEC__INIT;
        ProtobufCBinaryData argv[3];
        char a1[48], a2[48];
        struct vg_buf b;
        snprintf(a1, sizeof(a1), "/opt/app/worker-%d.py", i % 17);
        snprintf(a2, sizeof(a2), "--job=%08x", (unsigned)(i * 2654435761u));
        argv[0].data = (uint8_t *)"python3";
        argv[0].len = 7;
        argv[1].data = (uint8_t *)a1;
        argv[1].len = strlen(a1);
        argv[2].data = (uint8_t *)a2;
        argv[2].len = strlen(a2);
        px.pid = 20000u + (unsigned)i;
        px.ppid = 1234;
        px.uid = px.euid = 1000;
        px.comm = "python3";
        px.exe_path.data = (uint8_t *)"/usr/bin/python3.11";
        px.exe_path.len = 19;
        px.argv = argv;
        px.n_argv = 3;
        px.start_time_ms = vg_time_now_ms();
        ev.time_ms = px.start_time_ms;
        ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev.process_exec = &px;
        vg_buf_init(&b, 4096);
        vg_pb_pack(&ev.base, &b);
        vg_pb_put_bytes(&all, 3, b.data, b.len);
        vg_buf_free(&b);
    }
    t->batch = vg_buf_take(&all, &t->batch_len);
}

static void throughput(double seconds)
{
    uv_loop_t loop;
    struct tp t;
    double t0, c0, wall, cpu;

    memset(&t, 0, sizeof(t));
    make_events(&t);
    t.next_seq = 1;
    vg_frame_reader_init(&t.rd, NULL);
    uv_loop_init(&loop);
    t0 = now_s();
    t.end = t0 + seconds;
    c0 = cpu_of(collector_pid);
    vg_tls_connect(&loop, cfg, (struct sockaddr *)&addr, "localhost", NULL, &tp_handlers, &t, &t.c);
    uv_run(&loop, UV_RUN_DEFAULT);
    wall = now_s() - t0;
    cpu = cpu_of(collector_pid) - c0;
    printf("  stream: %llu batches of %d events acknowledged in %.1f s: %.0f batches/s, %.0f "
           "events/s\n", (unsigned long long)t.acked, EVENTS_PER_BATCH, wall,
           (double)t.acked / wall, (double)t.events / wall);
    printf("  stream: %.1f wire bytes per event (lz4 frames; TLS adds ~29 B per record), "
           "collector CPU %.1f us per event\n",
           t.next_seq > 1 ? (double)t.wire_bytes / ((double)(t.next_seq - 1) * EVENTS_PER_BATCH) : 0,
           t.events ? cpu * 1e6 / (double)t.events : 0);
    uv_loop_close(&loop);
    vg_frame_reader_free(&t.rd);
    free(t.batch);
}

/* ---- acknowledgement latency at a steady rate ---- */

#define LAT_RING 4096 /* batches due but not yet acknowledged, at most */

struct lat {
    struct tp t; /* first: the connection's data is a struct lat */
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uint64_t interval_ms;
    FILE *out;
    double due[LAT_RING];    /* CLOCK_MONOTONIC s, by seq % LAT_RING */
    double due_rt[LAT_RING]; /* the same instant, CLOCK_REALTIME ms */
    uint64_t ndue;           /* batches due so far: seq 1 .. ndue */
    uint64_t lines, skipped;
    double rate, start, start_rt; /* batch k is due at start + k / rate */
};

static double realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Sends the batches that are due, within the window. */
static void lat_send(struct lat *l)
{
    struct tp *t = &l->t;
    while (t->ready && !t->stopping && t->next_seq <= l->ndue &&
           t->next_seq - t->acked <= WINDOW) {
        uint64_t before = t->next_seq;
        tp_send_one(t);
        if (t->next_seq == before)
            return; /* over the write mark: on_drain resumes */
    }
}

/* Makes due every batch whose time has come: a late timer (a busy
 * machine) catches up rather than sending less. */
static void lat_tick(uv_timer_t *h)
{
    struct lat *l = h->data;
    uint64_t target = (uint64_t)((now_s() - l->start) * l->rate);
    while (l->ndue + l->skipped < target) {
        double off = (double)(l->ndue + l->skipped + 1) / l->rate;
        if (l->ndue + 1 - l->t.acked >= LAT_RING) {
            l->skipped++; /* LAT_RING batches behind already: not sent */
            continue;
        }
        l->ndue++;
        l->due[l->ndue % LAT_RING] = l->start + off;
        l->due_rt[l->ndue % LAT_RING] = l->start_rt + off * 1000.0;
    }
    lat_send(l);
}

static int lat_env(void *ctx, Vigil__V1__Envelope *env)
{
    struct lat *l = ctx;
    struct tp *t = &l->t;
    if (env->body_case == VIGIL__V1__ENVELOPE__BODY_HELLO_ACK) {
        t->ready = 1;
        l->start = now_s();
        l->start_rt = realtime_ms();
        uv_timer_start(&l->tick, lat_tick, l->interval_ms, l->interval_ms);
    } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_ACK) {
        double now = now_s();
        /* Acknowledgements come in order, one per batch. */
        for (uint64_t s = t->acked + 1; s <= env->ack->seq && s <= l->ndue; s++) {
            fprintf(l->out, "%.0f %.0f\n", l->due_rt[s % LAT_RING],
                    (now - l->due[s % LAT_RING]) * 1e6);
            l->lines++;
        }
        if (env->ack->seq > t->acked)
            t->acked = env->ack->seq;
    } else if (env->body_case == VIGIL__V1__ENVELOPE__BODY_ERROR) {
        fprintf(stderr, "bench: collector error: %s\n", env->error->message);
    }
    vg_pb_free(&env->base);
    lat_send(l);
    return 0;
}

static void lat_data(struct vg_tls_conn *c, const uint8_t *d, size_t n)
{
    struct lat *l = vg_tls_data(c);
    if (vg_wire_feed(&l->t.rd, d, n, lat_env, l))
        vg_tls_close(c, NULL);
}

static void lat_drain(struct vg_tls_conn *c) { lat_send(vg_tls_data(c)); }

static void lat_stop_all(struct lat *l)
{
    if (l->t.stopping)
        return;
    l->t.stopping = 1;
    uv_close((uv_handle_t *)&l->tick, NULL);
    uv_close((uv_handle_t *)&l->sigterm, NULL);
    uv_close((uv_handle_t *)&l->sigint, NULL);
}

static void lat_close(struct vg_tls_conn *c, int err)
{
    struct lat *l = vg_tls_data(c);
    if (!l->t.stopping)
        fprintf(stderr, "bench: connection closed: %s\n", err ? vg_strerror(err) : "by peer");
    lat_stop_all(l);
}
static const struct vg_tls_handlers lat_handlers = {
    .on_ready = tp_ready,
    .on_data = lat_data,
    .on_drain = lat_drain,
    .on_close = lat_close,
};

static void lat_signal(uv_signal_t *h, int signum)
{
    struct lat *l = h->data;
    (void)signum;
    vg_tls_close(l->t.c, NULL);
    lat_stop_all(l);
}

static int latency(double rate, const char *path)
{
    uv_loop_t loop;
    struct lat *l = calloc(1, sizeof(*l));

    if (!l || rate <= 0 || rate > 1000 || !(l->out = fopen(path, "w"))) {
        fprintf(stderr, "bench_collector: cannot write %s or bad rate\n", path);
        free(l);
        return 1;
    }
    make_events(&l->t);
    l->t.next_seq = 1;
    l->rate = rate;
    l->interval_ms = 1; /* sends within 1 ms of each due time */
    vg_frame_reader_init(&l->t.rd, NULL);
    uv_loop_init(&loop);
    uv_timer_init(&loop, &l->tick);
    l->tick.data = l;
    uv_signal_init(&loop, &l->sigterm);
    uv_signal_init(&loop, &l->sigint);
    l->sigterm.data = l->sigint.data = l;
    uv_signal_start(&l->sigterm, lat_signal, SIGTERM);
    uv_signal_start(&l->sigint, lat_signal, SIGINT);
    if (vg_tls_connect(&loop, cfg, (struct sockaddr *)&addr, "localhost", NULL, &lat_handlers, l,
                       &l->t.c)) {
        fprintf(stderr, "bench_collector: cannot connect\n");
        lat_stop_all(l);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    fclose(l->out);
    printf("bench_collector: %llu batches of %d events due at %.0f/s, %llu acknowledged, "
           "%llu not sent (too far behind)\n",
           (unsigned long long)l->ndue, EVENTS_PER_BATCH, rate, (unsigned long long)l->lines,
           (unsigned long long)l->skipped);
    uv_loop_close(&loop);
    vg_frame_reader_free(&l->t.rd);
    free(l->t.batch);
    free(l);
    return 0;
}

int main(int argc, char **argv)
{
    struct vg_tls_opts o;
    char err[512], host[64];
    const char *colon;
    int lat_mode = argc > 1 && strcmp(argv[1], "--latency") == 0;

    if (lat_mode) {
        if (argc != 8) {
            fprintf(stderr, "usage: bench_collector --latency HOST:PORT CA CERT KEY "
                            "BATCHES_PER_SEC OUT\n");
            return 2;
        }
        argv++;
        argc--;
    }
    if (argc < 6) {
        fprintf(stderr, "usage: bench_collector HOST:PORT CA CERT KEY COLLECTOR_PID [SECONDS]\n");
        return 2;
    }
    colon = strrchr(argv[1], ':');
    snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - argv[1]) : 0, argv[1]);
    if (!colon || uv_ip4_addr(host, atoi_safe_port(colon + 1), (struct sockaddr_in *)&addr)) {
        fprintf(stderr, "bad address %s\n", argv[1]);
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.ca = argv[2];
    o.cert = argv[3];
    o.key = argv[4];
    if (vg_tls_config_new(&o, &cfg, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (lat_mode) {
        int rc = latency(strtod(argv[5], NULL), argv[6]);
        vg_tls_config_free(cfg);
        return rc;
    }
    collector_pid = (int)strtol(argv[5], NULL, 10);
    printf("bench_collector: against %s (collector pid %d)\n", argv[1], collector_pid);
    handshakes(200, 0);
    handshakes(200, 1);
    throughput(argc > 6 ? strtod(argv[6], NULL) : 5.0);
    vg_tls_config_free(cfg);
    return 0;
}
