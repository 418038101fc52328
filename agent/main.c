/*
 * vigil-agent: collects host state and streams it to the collector.
 *
 * Two processes (privilege separation, as OpenSSH's): this root parent
 * runs the inputs (agent/priv/inputs), commands, isolation and triage,
 * and supervises the network child (agent/net/child.c), which runs as an
 * unprivileged user under seccomp and does everything that touches the
 * network.  They meet only through the messages of lib/psmsg.h; see
 * agent/priv/monitor.c.
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
#include "certs.h"
#include "daemon.h"
#include "isolation.h"
#include "triage.h"
#include "err.h"
#include "log.h"
#include "monitor.h"
#include "proc.h"
#include "runstate.h"
#include "util.h"



static const struct input_ops *const input_list[] = { &in_os_ops, &in_dpkg_ops, &in_rpm_ops,
                                                       &in_pending_ops, &in_proc_ops,
                                                       &in_dummy_ops };

/* ---- start and stop ---- */

/* The run state (runstate.h): opened at start, which records this run's
 * start with the earlier runs still to report; those are dropped and the
 * heartbeat starts once their unclean-stop events are in the spool (a
 * kill before that reports them again rather than never); clean stop in
 * all_closed(). */
static struct runstate *the_runstate;
static struct runstate_prev prev_run;
static uv_timer_t runstate_wait;
static uint64_t tamper_sent;

/* After unclean stops of earlier runs (kill -9, crash, power loss): an
 * AgentTamper event each, the first through the bus. */
static void emit_tamper(struct agent *a)
{
    const struct runstate_prev *runs;
    size_t n = the_runstate ? runstate_unreported(the_runstate, &runs) : 0;
    uint64_t lost = 0;
    int known = proc_bpf_pinned_lost(a->conf->bpf_pin_dir, &lost) == 0;

    for (size_t i = 0; i < n; i++) {
        Vigil__V1__Event ev;
        Vigil__V1__AgentTamper t;
        /* The ring's gap loss belongs to the last run's gap. */
        if (!runstate_tamper(&runs[i], vg_time_now_ms(), known && i == n - 1,
                             i == n - 1 ? lost : 0, &ev, &t))
            continue;
        {
            char hb[VG_TIME_STR_MAX], gap[VG_FMT_MAX];
            log_warnx("an earlier run (pid %u) did not stop cleanly: %s; last heartbeat %s, "
                      "%s before this start", t.prev_pid, t.how,
                      t.prev_heartbeat_time_ms
                          ? vg_time_format(t.prev_heartbeat_time_ms, hb, sizeof(hb))
                          : "unknown",
                      vg_fmt_elapsed(t.gap_ms, gap, sizeof(gap)));
        }
        if (bus_emit(a, &ev) != 0)
            log_warnx("cannot queue the unclean-stop event");
        else
            tamper_sent++;
    }
}

static void runstate_wait_cb(uv_timer_t *t)
{
    struct agent *a = t->data;
    if (tamper_sent && bus_acked(a) < tamper_sent)
        return;
    uv_timer_stop(t);
    if (the_runstate && runstate_start(the_runstate, a->loop) != 0)
        log_warnx("cannot start the run state's heartbeat");
}

static void all_closed(struct agent *a)
{
    struct agent_stats st;
    bus_stats(a, &st);
    log_info("[priv] stopped: %llu events queued by the network process, %llu dropped "
             "(its own totals are above)", (unsigned long long)st.events_total,
             (unsigned long long)st.dropped_total);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
    uv_close((uv_handle_t *)&a->watchdog, NULL);
    uv_close((uv_handle_t *)&runstate_wait, NULL);
    /* Last: everything before it was sent or spooled. */
    runstate_clean_stop(the_runstate);
    the_runstate = NULL;
}

static void input_done(struct input *in)
{
    struct agent *a = in->agent;
    if (--a->inputs_open > 0)
        return;
    /* Inputs are quiet: the child closes the last batch, sends it, then stops. */
    monitor_stop(a->mon, 3000, all_closed);
}

/* ---- reload (SIGHUP) ---- */

/* The configuration in force (main's; the inputs point at it). */
static struct agent_conf *the_conf;
/* Fingerprints of the TLS files the network process last started with. */
static uint8_t tls_sums[3][VG_SHA256_LEN];

static void tls_files_sum(const struct agent_conf *c, uint8_t out[3][VG_SHA256_LEN])
{
    const char *f[3] = { c->ca, c->cert, c->key };
    for (int i = 0; i < 3; i++)
        if (!f[i] || vg_sha256_file(f[i], 1024 * 1024, out[i]) != 0)
            memset(out[i], 0, VG_SHA256_LEN);
}

/* The file again, with --check-config's checks (the TLS files too).  The
 * root parent's own keys (VG_CONF_RESTART) keep their values, a change
 * logged as needing a restart; the log level changes at once; the
 * network process's keys ([collector], [batch], [spool], [tls], [agent]
 * tags) and the TLS files, when changed, take effect by restarting it
 * gracefully: it reads the file as it starts, and what it had not
 * spooled is sent to the new one, so nothing is lost.  [agent] state_dir
 * and user are read by both: a change refuses the whole reload. */
static void reload(struct agent *a)
{
    struct agent_conf *cur = the_conf, next;
    uint8_t sums[3][VG_SHA256_LEN];
    static const char *const tls_names[3] = { "ca", "cert", "key" };
    char err[1024], sum[2048] = "";
    int rc, child = 0;

    memset(&next, 0, sizeof(next));
    rc = vg_daemon_reload(&agent_daemon, &next, err, sizeof(err));
    if (rc == 0 && agent_daemon.check_only &&
        (rc = agent_daemon.check_only(&next, vg_daemon_conf_path(), err, sizeof(err))) != 0)
        vg_conf_free(agent_conf_keys, &next);
    if (rc == 0 && (strcmp(cur->state_dir, next.state_dir) != 0 ||
                    strcmp(cur->user ? cur->user : "", next.user ? next.user : "") != 0)) {
        snprintf(err, sizeof(err), "%s: [agent] %s changed: both processes use it, so it needs "
                 "a restart of the agent (systemctl restart vigil-agent)", vg_daemon_conf_path(),
                 strcmp(cur->state_dir, next.state_dir) != 0 ? "state_dir" : "user");
        vg_conf_free(agent_conf_keys, &next);
        rc = VG_ECONFIG;
    }
    if (rc) {
        log_error("[priv] reload refused, running on with the previous configuration: %s", err);
        return;
    }
    for (const struct vg_conf_key *k = agent_conf_keys; k->key; k++) {
        char x[512], y[512];
        if (vg_conf_same(k, cur, &next))
            continue;
        vg_conf_value(k, cur, x, sizeof(x));
        vg_conf_value(k, &next, y, sizeof(y));
        if (k->flags & VG_CONF_RESTART) {
            log_warnx("[priv] reload: [%s] %s changed (%s -> %s): needs a restart of the "
                      "agent; %s stays in force until then", k->section, k->key, x, y, x);
            continue;
        }
        vg_list_appendf(sum, sizeof(sum), "[%s] %s %s -> %s", k->section, k->key, x, y);
        if (strcmp(k->key, "log_level") == 0) {
            enum vg_log_level lvl;
            if (vg_log_level_parse(next.log_level, &lvl) == 0)
                vg_log_set_level(lvl);
        } else {
            child = 1;
        }
        /* The parent's copy follows (certificate installs use [tls]);
         * not the addresses, which the isolation's resolver reads on
         * another thread: its allow-list keeps them until a restart. */
        if (strcmp(k->section, "collector") == 0 && strcmp(k->key, "address") == 0)
            vg_list_appendf(sum, sizeof(sum), "(an isolation keeps allowing the old addresses until the "
                 "agent restarts)");
        else
            vg_conf_swap(k, cur, &next);
    }
    tls_files_sum(cur, sums);
    for (int i = 0; i < 3; i++)
        if (memcmp(sums[i], tls_sums[i], VG_SHA256_LEN) != 0) {
            vg_list_appendf(sum, sizeof(sum), "[tls] %s file %s changed", tls_names[i],
                 i == 0 ? cur->ca : i == 1 ? cur->cert : cur->key);
            child = 1;
        }
    memcpy(tls_sums, sums, sizeof(sums));
    vg_conf_free(agent_conf_keys, &next);
    if (child) {
        vg_list_appendf(sum, sizeof(sum), "the network process restarts with it");
        log_info("[priv] reload: %s", sum);
        monitor_restart(a->mon, "configuration reloaded");
    } else {
        log_info("[priv] reload: %s", sum[0] ? sum : "nothing changed");
    }
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct agent *a = h->data;
    if (signum == SIGHUP) {
        log_info("[priv] SIGHUP: reloading the configuration");
        if (!a->stopping)
            reload(a);
        return;
    }
    if (a->stopping)
        return;
    a->stopping = 1;
    log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    agent_metrics_stop(a);
    vg_notify("STOPPING=1");
    /* Isolation stays in force: only a release lifts it. */
    isolation_stop(a->iso);
    /* A triage build in progress ends now (its package says so). */
    triage_abort();
    for (size_t i = 0; i < a->ninputs; i++)
        a->inputs[i].ops->exit(&a->inputs[i], input_done);
}

static int make_state_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state directory %s is not a directory; set [agent] state_dir to "
                 "a directory (the agent makes it if missing)", dir);
        return -ENOTDIR;
    }
    /* The network child (another user) reaches its own directories in
     * it by name; it may not list or read anything else. */
    if ((st.st_mode & 07777) != 0711 && chmod(dir, 0711) != 0) {
        snprintf(err, errlen, "cannot chmod %s: %s", dir, strerror(errno));
        return -errno;
    }
    return 0;
}

/* ---- what the monitor hands up ---- */

static void on_command(struct agent *a, const struct vg_ps_command *c)
{
    cmd_deliver_flat(a, c);
}

static void on_pins(struct agent *a, struct vg_ps_pins *out)
{
    isolation_pins(a->iso, out);
}


int agent_inventory_main(int argc, char **argv);
int agent_processes_main(int argc, char **argv);

/* The descriptor the parent passed in env var name (always 3), taken
 * out of the environment; -1 when the variable is not set. */
static int inherited_fd(const char *name)
{
    const char *v = getenv(name);
    int ok;
    if (!v)
        return -1;
    ok = strcmp(v, "3") == 0;
    if (!ok)
        fatalx("%s=%s: not a descriptor from the agent's parent", name, v);
    unsetenv(name);
    return 3;
}

static void free_argv(char **v)
{
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

int main(int argc, char **argv)
{
    struct agent_conf conf;
    struct agent a;
    struct monitor_hooks hooks = { on_command, on_pins };
    char err[512], **child_argv;
    int rc, fd;

    vg_log_init("vigil-agent", 0, VG_LOG_INFO);
    /* One loop thread, and thread-pool work now and then (pending
     * updates): a malloc arena per thread would only keep freed memory
     * resident. */
    mallopt(M_ARENA_MAX, 1);
    /* libuv's worker threads (hashing executables, pending updates, name
     * lookups): two, not its default four, each with a stack resident. */
    setenv("UV_THREADPOOL_SIZE", "2", 0);
    /* Started by the parent as its network process, or to enroll. */
    if ((fd = inherited_fd("VIGIL_NET_CHILD")) >= 0)
        return net_child_main(argc, argv, fd);
    if ((fd = inherited_fd("VIGIL_NET_ENROLL")) >= 0)
        return net_enroll_main(argc, argv, fd);
    /* Big blocks (the process input's tables, the command records) are
     * mapped on their own and become resident only where they are used.
     * Fixed: glibc would raise the threshold after libbpf frees the
     * kernel's parsed BTF (megabytes), and calloc would then clear those
     * blocks inside the heap, making every page of them resident.  (Not
     * in the network process: its batch buffers would be mapped and
     * unmapped for every batch.) */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    if (argc > 1 && strcmp(argv[1], "inventory") == 0)
        return agent_inventory_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "processes") == 0)
        return agent_processes_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "release") == 0)
        return agent_release_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "isolation-keeper") == 0)
        return agent_keeper_main(argc - 1, argv + 1);
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
    /* The network process is started with the same command line
     * (getopt may reorder argv: copied first). */
    if (!(child_argv = calloc((size_t)argc + 1, sizeof(*child_argv))))
        fatalx("out of memory");
    for (int i = 0; i < argc; i++)
        if (!(child_argv[i] = strdup(argv[i])))
            fatalx("out of memory");
    memset(&conf, 0, sizeof(conf));
    if ((rc = vg_daemon_start(&agent_daemon, argc, argv, &conf)) >= 0) {
        /* --help, --check-config, ...: done, nothing started. */
        free_argv(child_argv);
        return rc;
    }

    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof(a));
    a.loop = uv_default_loop();
    a.conf = &conf;
    rc = make_state_dir(conf.state_dir, err, sizeof(err));
    /* Before anything else: a host that was isolated stays isolated
     * through restarts, reboots and upgrades. */
    if (rc == 0)
        isolation_restore(&conf);
    if (rc == 0 && !(the_runstate = runstate_open(conf.state_dir, &prev_run, err, sizeof(err))))
        rc = -EIO;
    /* No certificate yet: enroll first (a fresh install with a token). */
    if (rc == 0 && (rc = agent_enroll(&conf, child_argv)) != 0)
        snprintf(err, sizeof(err), "cannot enroll; see above");
    /* Children (firewall tools, journalctl) do not inherit the token. */
    {
        char *v = getenv("VIGIL_ENROLL_TOKEN");
        if (v) {
            vg_zeroize(v, strlen(v));
            unsetenv("VIGIL_ENROLL_TOKEN");
        }
    }
    if (rc == 0) {
        certs_finish_rotation(&conf);
        rc = certs_agent_id(&conf, a.agent_id, sizeof(a.agent_id), err, sizeof(err));
    }
    /* Before the network process starts: a stop may come as soon as it
     * is connected, and is handled once the loop runs. */
    if (rc == 0) {
        uv_signal_init(a.loop, &a.sigterm);
        uv_signal_init(a.loop, &a.sigint);
        uv_signal_init(a.loop, &a.sighup);
        a.sigterm.data = a.sigint.data = a.sighup.data = &a;
        uv_signal_start(&a.sigterm, signal_cb, SIGTERM);
        uv_signal_start(&a.sigint, signal_cb, SIGINT);
        uv_signal_start(&a.sighup, signal_cb, SIGHUP);
        the_conf = &conf;
        tls_files_sum(&conf, tls_sums);
    }
    /* Before the child: nothing to undo when the port is taken. */
    if (rc == 0)
        rc = agent_metrics_start(&a, err, sizeof(err));
    if (rc == 0 && !monitor_start(&a, child_argv, &hooks, err, sizeof(err)))
        rc = -ECHILD;
    if (rc) {
        log_error("%s", err);
        vg_conf_free(agent_conf_keys, &conf);
        free_argv(child_argv);
        return 1;
    }
    log_info("agent %s starting (version %s), collector %s", a.agent_id, VG_VERSION,
             conf.address.v[0]);
    /* Before the inputs: the pinned ring's gap loss is read before
     * in_proc takes the pins over. */
    emit_tamper(&a);
    uv_timer_init(a.loop, &runstate_wait);
    runstate_wait.data = &a;
    uv_timer_start(&runstate_wait, runstate_wait_cb, 0, 200);
    a.cmds = cmds_new(&a);
    a.iso = isolation_new(&a);

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
    {
        char st[300];
        snprintf(st, sizeof(st), "agent %s, collector %s", a.agent_id, conf.address.v[0]);
        vg_notify_ready(a.loop, &a.watchdog, st);
    }

    uv_run(a.loop, UV_RUN_DEFAULT);

    monitor_free(a.mon);
    isolation_free(a.iso);
    cmds_free(a.cmds);
    free(a.inputs);
    for (int i = 0; child_argv[i]; i++)
        free(child_argv[i]);
    free(child_argv);
    rc = uv_loop_close(a.loop);
    if (rc)
        log_warnx("event loop closed with handles open: %s", uv_strerror(rc));
    log_info("stopped");
    vg_conf_free(agent_conf_keys, &conf);
    return 0;
}
