/*
 * in_dummy: synthetic events at a fixed rate, for load tests and fault
 * tests that need a known count (like Fluent Bit's dummy input).  Off
 * unless [dummy] rate is set.  Each event is a ProcessExec whose pid is
 * a running counter and whose argv carries [dummy] size bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../agent.h"
#include "log.h"
#include "util.h"

#define TICK_MS 10

struct dummy {
    uv_timer_t timer;
    void (*done)(struct input *in);
    uint64_t emitted, start_ms;
    char *filler;
};

static void tick(uv_timer_t *t)
{
    struct input *in = t->data;
    struct dummy *d = in->priv;
    uint64_t due = (vg_time_mono_ms() - d->start_ms) * in->conf->dummy_rate / 1000;

    while (d->emitted < due && bus_backlog(in->agent) < BUS_BACKLOG_HIGH) {
        Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
        Vigil__V1__ProcessExec px = VIGIL__V1__PROCESS_EXEC__INIT;
        ProtobufCBinaryData argv[2];
        argv[0].data = (uint8_t *)"dummy";
        argv[0].len = 5;
        argv[1].data = (uint8_t *)d->filler;
        argv[1].len = in->conf->dummy_size;
        px.pid = (uint32_t)(d->emitted + 1);
        px.comm = "dummy";
        px.argv = argv;
        px.n_argv = 2;
        ev.time_ms = vg_time_now_ms();
        ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
        ev.process_exec = &px;
        bus_emit(in->agent, &ev);
        d->emitted++;
    }
}

static int dummy_init(struct input *in)
{
    struct dummy *d;

    if (in->conf->dummy_rate == 0)
        return 0;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->filler = malloc(in->conf->dummy_size + 1);
    if (!d->filler) {
        free(d);
        return -ENOMEM;
    }
    memset(d->filler, 'x', in->conf->dummy_size);
    in->priv = d;
    d->start_ms = vg_time_mono_ms();
    uv_timer_init(in->loop, &d->timer);
    d->timer.data = in;
    uv_timer_start(&d->timer, tick, TICK_MS, TICK_MS);
    log_info("[in_dummy] %llu events/s of %llu bytes", (unsigned long long)in->conf->dummy_rate,
             (unsigned long long)in->conf->dummy_size);
    return 0;
}

static void dummy_closed(uv_handle_t *h)
{
    struct input *in = h->data;
    struct dummy *d = in->priv;
    void (*done)(struct input *) = d->done;
    log_info("[in_dummy] emitted %llu events", (unsigned long long)d->emitted);
    free(d->filler);
    free(d);
    in->priv = NULL;
    done(in);
}

static void dummy_exit(struct input *in, void (*done)(struct input *in))
{
    struct dummy *d = in->priv;
    if (!d) {
        done(in);
        return;
    }
    d->done = done;
    uv_close((uv_handle_t *)&d->timer, dummy_closed);
}

const struct input_ops in_dummy_ops = {
    .name = "dummy",
    .init = dummy_init,
    .exit = dummy_exit,
};
