/*
 * vigil-agent: collects host state and streams it to the collector.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "daemon.h"
#include "isolation.h"
#include "triage.h"
#include "upload.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "proc.h"
#include "queue.h"
#include "runstate.h"
#include "transport.h"
#include "util.h"

#define DEFAULT_CONF "/etc/vigil/agent.conf"

static const struct input_ops *const input_list[] = { &in_os_ops, &in_dpkg_ops, &in_rpm_ops,
                                                       &in_pending_ops, &in_proc_ops,
                                                     &in_dummy_ops };

/* ---- the bus (see agent.h) ---- */

int bus_event(struct agent *a, const uint8_t *ev, size_t len)
{
    return queue_add(a->queue, ev, len);
}

int bus_emit(struct agent *a, const Vigil__V1__Event *ev)
{
    struct vg_buf b;
    int rc;

    vg_buf_init(&b, 8 * 1024 * 1024);
    rc = vg_pb_pack(&ev->base, &b);
    if (rc == 0)
        rc = bus_event(a, b.data, b.len);
    vg_buf_free(&b);
    return rc;
}

void bus_stats(struct agent *a, struct agent_stats *out)
{
    queue_stats(a->queue, out);
    if (a->transport)
        transport_stats(a->transport, out);
}

static void on_batch_ready(void *ctx)
{
    struct agent *a = ctx;
    if (a->transport)
        transport_kick(a->transport);
}

/* ---- start and stop ---- */

/* [zeroloss] The run state (runstate.h): opened at start, heartbeat while
 * running, clean stop in all_closed().  In the split agent: the
 * privileged parent's. */
static struct runstate *the_runstate;
static struct runstate_prev prev_run;

/* [zeroloss] After an unclean stop of the previous run (kill -9, crash,
 * power loss): the AgentTamper event, through the bus like any event. */
static void emit_tamper(struct agent *a)
{
    Vigil__V1__Event ev;
    Vigil__V1__AgentTamper t;
    uint64_t lost = 0;
    int known = proc_bpf_pinned_lost(a->conf->bpf_pin_dir, &lost) == 0;

    if (!runstate_tamper(&prev_run, vg_time_now_ms(), known, lost, &ev, &t))
        return;
    log_warnx("previous run (pid %u) did not stop cleanly: %s; last heartbeat %llu ms ago",
              t.prev_pid, t.how, (unsigned long long)t.gap_ms);
    if (bus_emit(a, &ev) != 0)
        log_warnx("cannot queue the unclean-stop event");
}

static void all_closed(struct agent *a)
{
    struct agent_stats st;
    bus_stats(a, &st);
    log_info("totals: %llu events, %llu dropped, last sequence %llu",
             (unsigned long long)st.events_total, (unsigned long long)st.dropped_total,
             (unsigned long long)(queue_next_seq(a->queue) - 1));
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->watchdog, NULL);
    /* [zeroloss] Last: everything before it was sent or spooled. */
    runstate_clean_stop(the_runstate);
    the_runstate = NULL;
    queue_free(a->queue);
}

/* The transport's stop callback has no context argument. */
static struct agent *the_agent;

static void transport_stopped(struct transport *t)
{
    (void)t;
    all_closed(the_agent);
}

static void input_done(struct input *in)
{
    struct agent *a = in->agent;
    if (--a->inputs_open > 0)
        return;
    /* Inputs are quiet: close the last batch, send it, then stop. */
    queue_flush(a->queue);
    transport_drain_then_stop(a->transport, 3000, transport_stopped);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct agent *a = h->data;
    if (a->stopping)
        return;
    a->stopping = 1;
    log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    vg_notify("STOPPING=1");
    /* Isolation stays in force: only a release lifts it. */
    isolation_stop(a->iso);
    /* A triage build in progress ends now (its package says so). */
    triage_abort();
    for (size_t i = 0; i < a->ninputs; i++)
        a->inputs[i].ops->exit(&a->inputs[i], input_done);
}

static int check_tags(const struct agent_conf *c, const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->tags.n; i++) {
        const char *t = c->tags.v[i], *eq = strchr(t, '=');
        if (!eq || eq == t || strlen(t) > 500) {
            snprintf(err, errlen, "%s: [agent] tags: '%s' is not key=value", path, t);
            return VG_ECONFIG;
        }
    }
    return 0;
}

static int make_state_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state directory %s is not a directory", dir);
        return -ENOTDIR;
    }
    return 0;
}

int agent_inventory_main(int argc, char **argv);
int agent_processes_main(int argc, char **argv);

static int validate(const void *conf, const char *path, char *err, size_t errlen)
{
    const struct agent_conf *c = conf;
    int rc = check_tags(c, path, err, errlen);
    if (rc == 0)
        rc = transport_check_addresses(&c->address, err, errlen);
    return rc;
}

static const struct vg_daemon agent_daemon = {
    .name = "vigil-agent",
    .about = "The Vigil endpoint agent: collects host state and streams it to the collector\n"
             "over mutual TLS.",
    .footer = "Logs go to stderr (the journal under systemd).  SIGTERM or SIGINT stop it:\n"
              "the last batch is sent and acknowledged (waiting at most 3 s) first.\n"
              "\n"
              "With no certificate at [tls] cert, the agent enrolls first, with the token\n"
              "of --enroll-token TOKEN, VIGIL_ENROLL_TOKEN, [enroll] token or [enroll]\n"
              "token_file (default /etc/vigil/enroll.token).",
    .commands = "One-shot commands (no collector needed):\n"
                "  vigil-agent inventory [-c FILE] [--root DIR] [--json] [--no-pending]\n"
                "                        print this host's packages and pending updates\n"
                "  vigil-agent processes [--json]\n"
                "                        print the running processes as snapshots see them\n"
                "  vigil-agent release --token FILE [-c FILE]\n"
                "                        lift network isolation offline with a break-glass token\n"
                "  vigil-agent triage -o FILE [--max-size SIZE] [--max-time D]\n"
                "                        collect this host's triage package locally",
    .default_conf = DEFAULT_CONF,
    .keys = agent_conf_keys,
    .log_level_offset = offsetof(struct agent_conf, log_level),
    .log_level_key = "[agent] log_level",
    .validate = validate,
};

int main(int argc, char **argv)
{
    struct agent_conf conf;
    struct agent a;
    char err[512];
    int rc;

    vg_log_init("vigil-agent", 0, VG_LOG_INFO);
    /* One loop thread, and thread-pool work now and then (pending
     * updates): a malloc arena per thread would only keep freed memory
     * resident. */
    mallopt(M_ARENA_MAX, 1);
    if (argc > 1 && strcmp(argv[1], "inventory") == 0)
        return agent_inventory_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "processes") == 0)
        return agent_processes_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "release") == 0)
        return agent_release_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "triage") == 0)
        return agent_triage_main(argc - 1, argv + 1);
    /* --enroll-token TOKEN: as VIGIL_ENROLL_TOKEN (taken out before the
     * common options are parsed). */
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--enroll-token") == 0) {
            setenv("VIGIL_ENROLL_TOKEN", argv[i + 1], 1);
            /* Not left readable in /proc/PID/cmdline. */
            vg_zeroize(argv[i + 1], strlen(argv[i + 1]));
            memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(*argv));
            argc -= 2;
            break;
        }
    }
    memset(&conf, 0, sizeof(conf));
    if ((rc = vg_daemon_start(&agent_daemon, argc, argv, &conf)) >= 0)
        return rc;

    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof(a));
    the_agent = &a;
    a.loop = uv_default_loop();
    a.conf = &conf;
    rc = make_state_dir(conf.state_dir, err, sizeof(err));
    /* [zeroloss] Reads how the previous run ended, records this start. */
    if (rc == 0 && !(the_runstate = runstate_open(conf.state_dir, &prev_run, err, sizeof(err))))
        log_warnx("%s: an unclean stop of this run will not be detected", err);
    /* Before anything else: a host that was isolated stays isolated
     * through restarts, reboots and upgrades. */
    if (rc == 0)
        isolation_restore(&conf);
    /* No certificate yet: enroll first (a fresh install with a token). */
    if (rc == 0 && access(conf.cert, F_OK) != 0 && (rc = agent_enroll(&conf)) != 0)
        snprintf(err, sizeof(err), "cannot enroll; see above");
    /* Children (firewall tools, journalctl) do not inherit the token. */
    if (getenv("VIGIL_ENROLL_TOKEN")) {
        char *v = getenv("VIGIL_ENROLL_TOKEN");
        vg_zeroize(v, strlen(v));
        unsetenv("VIGIL_ENROLL_TOKEN");
    }
    if (rc == 0) {
        a.queue = queue_new(a.loop, &conf, on_batch_ready, &a, err, sizeof(err));
        if (!a.queue)
            rc = -EIO;
    }
    if (rc == 0) {
        a.transport = transport_new(&a, a.queue, err, sizeof(err));
        if (!a.transport)
            rc = VG_ECONFIG;
    }
    if (rc) {
        log_error("%s", err);
        vg_conf_free(agent_conf_keys, &conf);
        return 1;
    }
    log_info("agent %s starting (version %s), collector %s", a.agent_id, VG_VERSION,
             conf.address.v[0]);
    /* [zeroloss] Before the inputs: the pinned ring's gap loss is read
     * before in_proc takes the pins over. */
    emit_tamper(&a);
    if (the_runstate && runstate_start(the_runstate, a.loop) != 0)
        log_warnx("cannot start the run state's heartbeat");
    a.cmds = cmds_new(&a);
    a.iso = isolation_new(&a);
    a.uploader = uploader_new(&a);

    a.ninputs = VG_ARRAY_SIZE(input_list);
    a.inputs = calloc(a.ninputs, sizeof(*a.inputs));
    for (size_t i = 0; a.inputs && i < a.ninputs; i++) {
        struct input *in = &a.inputs[i];
        in->ops = input_list[i];
        in->agent = &a;
        in->loop = a.loop;
        in->conf = &conf;
        if (in->ops->init(in) != 0)
            fatalx("input %s failed to start", in->ops->name);
        a.inputs_open++;
    }
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, signal_cb, SIGTERM);
    uv_signal_start(&a.sigint, signal_cb, SIGINT);
    {
        char st[300];
        snprintf(st, sizeof(st), "agent %s, collector %s", a.agent_id, conf.address.v[0]);
        vg_notify_ready(a.loop, &a.watchdog, st);
    }

    uv_run(a.loop, UV_RUN_DEFAULT);

    transport_free(a.transport);
    isolation_free(a.iso);
    cmds_free(a.cmds);
    uploader_free(a.uploader);
    free(a.inputs);
    rc = uv_loop_close(a.loop);
    if (rc)
        log_warnx("event loop closed with handles open: %s", uv_strerror(rc));
    log_info("stopped");
    vg_conf_free(agent_conf_keys, &conf);
    return 0;
}
