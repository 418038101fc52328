/*
 * Commands from the collector, run at most once.
 *
 * Every command id is written to STATE_DIR/commands (fsynced) before
 * the command starts, and its outcome when it ends.  A command delivered
 * again (a reconnect, a collector that lost the result) is answered from
 * that record and never run twice; one that was running when the agent
 * stopped is reported failed ("interrupted"), not run again.  Isolate
 * and release run one at a time, in the order they arrive; collections
 * (up to MAX_COLLECTING) run beside them, so that a long collection
 * never holds up an isolation.
 *
 * The record is a text file, rewritten atomically on each change, the
 * newest MAX_RECORDS kept:
 *
 *   <command id> TAB <state> TAB <seen ms> TAB <finished ms> TAB <message> LF
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "buf.h"
#include "err.h"
#include "isolation.h"
#include "log.h"
#include "monitor.h"
#include "psmsg.h"
#include "triage.h"
#include "util.h"

#define MAX_RECORDS 1000
#define MSG_MAX 400
#define MAX_WAITING 16
#define MAX_COLLECTING 4

struct rec {
    char id[VG_UUID_STR];
    int state;
    int64_t seen_ms, finished_ms;
    char message[MSG_MAX];
};

struct cmds {
    struct agent *a;
    char path[4096];
    struct rec *v;
    size_t n;
    char running[VG_UUID_STR]; /* the isolation command in progress in this process */
    /* Collections run beside it (a collect must not hold up an isolate). */
    char collecting[MAX_COLLECTING][VG_UUID_STR];
    /* Commands that arrived while one was running, in order (copies):
     * they run one after the other, as the operator issued them. */
    Vigil__V1__Command *waiting[MAX_WAITING];
    size_t nwaiting;
};

struct run_ctx {
    struct cmds *c;
    char id[VG_UUID_STR];
    int64_t started_ms;
    int slot; /* collections: index in collecting; -1: the isolation lane */
};

/* 1 if this process is running command id now. */
static int in_progress(const struct cmds *c, const char *id)
{
    if (strcmp(c->running, id) == 0)
        return 1;
    for (int i = 0; i < MAX_COLLECTING; i++)
        if (strcmp(c->collecting[i], id) == 0)
            return 1;
    return 0;
}

static int save(struct cmds *c)
{
    struct vg_buf b;
    int rc = 0;
    size_t len;
    uint8_t *data;

    vg_buf_init(&b, (size_t)MAX_RECORDS * (MSG_MAX + 128));
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        rc = vg_buf_printf(&b, "%s\t%d\t%lld\t%lld\t%s\n", c->v[i].id, c->v[i].state,
                           (long long)c->v[i].seen_ms, (long long)c->v[i].finished_ms,
                           c->v[i].message);
    if (rc == 0) {
        data = vg_buf_take(&b, &len);
        rc = vg_file_write_atomic(c->path, data ? data : (const uint8_t *)"", len, 0600, 0);
        free(data);
    }
    vg_buf_free(&b);
    if (rc)
        log_warnx("[cmd] cannot write %s: %s", c->path, vg_strerror(rc));
    return rc;
}

static void load(struct cmds *c)
{
    char *data = NULL, *line, *save_p = NULL;
    size_t len;
    int rc = vg_file_read(c->path, (size_t)MAX_RECORDS * (MSG_MAX + 128) * 2, &data, &len);

    if (rc == -ENOENT)
        return;
    if (rc) {
        log_warnx("[cmd] cannot read %s: %s; commands seen before are forgotten", c->path,
                  vg_strerror(rc));
        return;
    }
    for (line = strtok_r(data, "\n", &save_p); line; line = strtok_r(NULL, "\n", &save_p)) {
        struct rec r;
        char *f[5], *p = line;
        int nf = 0;
        uint64_t st;
        memset(&r, 0, sizeof(r));
        while (nf < 5) {
            f[nf++] = p;
            if (nf == 5 || !(p = strchr(p, '\t')))
                break;
            *p++ = '\0';
        }
        if (nf != 5 || strlen(f[0]) != VG_UUID_STR - 1 || vg_parse_u64(f[1], 1, 8, &st)) {
            log_warnx("[cmd] %s: a damaged line skipped", c->path);
            continue;
        }
        memcpy(r.id, f[0], VG_UUID_STR);
        r.state = (int)st;
        r.seen_ms = strtoll(f[2], NULL, 10);
        r.finished_ms = strtoll(f[3], NULL, 10);
        vg_strlcpy(r.message, f[4], sizeof(r.message));
        if (c->n < MAX_RECORDS)
            c->v[c->n++] = r;
    }
    free(data);
}

struct cmds *cmds_new(struct agent *a)
{
    struct cmds *c = calloc(1, sizeof(*c));
    if (!c || !(c->v = calloc(MAX_RECORDS, sizeof(*c->v)))) {
        free(c);
        log_error("[cmd] out of memory");
        return NULL;
    }
    c->a = a;
    snprintf(c->path, sizeof(c->path), "%s/commands", a->conf->state_dir);
    load(c);
    return c;
}

void cmds_free(struct cmds *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nwaiting; i++)
        vigil__v1__command__free_unpacked(c->waiting[i], NULL);
    free(c->v);
    free(c);
}

static struct rec *find(struct cmds *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].id, id) == 0)
            return &c->v[i];
    return NULL;
}

/* Messages are one line, without tabs. */
static void set_message(struct rec *r, const char *m)
{
    vg_strlcpy(r->message, m ? m : "", sizeof(r->message));
    for (char *p = r->message; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = ' ';
}

static struct rec *add(struct cmds *c, const char *id, int state, const char *msg)
{
    struct rec *r;
    if (c->n == MAX_RECORDS) { /* the oldest goes */
        memmove(c->v, c->v + 1, (MAX_RECORDS - 1) * sizeof(*c->v));
        c->n--;
    }
    r = &c->v[c->n++];
    memset(r, 0, sizeof(*r));
    vg_strlcpy(r->id, id, sizeof(r->id));
    r->state = state;
    r->seen_ms = vg_time_now_ms();
    set_message(r, msg);
    return r;
}

static void report(struct cmds *c, const struct rec *r, int64_t started_ms)
{
    Vigil__V1__CommandResult res = VIGIL__V1__COMMAND_RESULT__INIT;
    res.command_id = (char *)r->id;
    res.state = (Vigil__V1__CommandState)r->state;
    res.message = (char *)r->message;
    res.started_time_ms = started_ms ? started_ms : r->seen_ms;
    res.finished_time_ms = r->finished_ms;
    if (monitor_send_result(c->a->mon, &res) != 0)
        log_info("[cmd] command %s: not connected; the outcome is sent when the collector asks "
                 "again", r->id);
}

static void deliver(struct agent *a, const Vigil__V1__Command *cmd, int queued);

static void finished(void *ctx, int state, const char *message)
{
    struct run_ctx *x = ctx;
    struct cmds *c = x->c;
    struct rec *r = find(c, x->id);

    log_info("[cmd] command %s %s: %s", x->id,
             state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED ? "succeeded"
             : state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_ROLLED_BACK ? "rolled back"
                                                                            : "failed",
             message);
    if (x->slot >= 0)
        c->collecting[x->slot][0] = '\0';
    else
        c->running[0] = '\0';
    if (r) {
        r->state = state;
        r->finished_ms = vg_time_now_ms();
        set_message(r, message);
        save(c);
        report(c, r, x->started_ms);
    }
    free(x);
    /* The next in line; those answered at once (already recorded, ...)
     * make way for the one after them. */
    while (c->nwaiting && !c->running[0]) {
        Vigil__V1__Command *next = c->waiting[0];
        memmove(c->waiting, c->waiting + 1, (c->nwaiting - 1) * sizeof(*c->waiting));
        c->nwaiting--;
        deliver(c->a, next, 1);
        vigil__v1__command__free_unpacked(next, NULL);
    }
}

/* Keeps a copy of cmd to run after the one in progress.  Returns 0, or
 * -ENOSPC / -ENOMEM (then the collector sends it again later). */
static int wait_in_line(struct cmds *c, const Vigil__V1__Command *cmd)
{
    size_t len = vigil__v1__command__get_packed_size(cmd);
    uint8_t *buf;
    Vigil__V1__Command *copy;

    for (size_t i = 0; i < c->nwaiting; i++)
        if (strcmp(c->waiting[i]->command_id, cmd->command_id) == 0)
            return 0; /* delivered again while waiting */
    if (c->nwaiting == MAX_WAITING)
        return -ENOSPC;
    if (!(buf = malloc(len ? len : 1)))
        return -ENOMEM;
    vigil__v1__command__pack(cmd, buf);
    copy = vigil__v1__command__unpack(NULL, len, buf);
    free(buf);
    if (!copy)
        return -ENOMEM;
    c->waiting[c->nwaiting++] = copy;
    return 0;
}

void cmd_deliver(struct agent *a, const Vigil__V1__Command *cmd)
{
    deliver(a, cmd, 0);
}

void cmd_deliver_flat(struct agent *a, const struct vg_ps_command *f)
{
    Vigil__V1__Command cmd = VIGIL__V1__COMMAND__INIT;
    Vigil__V1__IsolateAction iso = VIGIL__V1__ISOLATE_ACTION__INIT;
    Vigil__V1__ReleaseAction rel = VIGIL__V1__RELEASE_ACTION__INIT;
    Vigil__V1__CollectAction col = VIGIL__V1__COLLECT_ACTION__INIT;
    Vigil__V1__AllowRule rules[VG_PS_ALLOW_MAX], *rulep[VG_PS_ALLOW_MAX];

    cmd.command_id = (char *)f->id;
    cmd.operator_ = (char *)f->operator_name;
    cmd.reason = (char *)f->reason;
    cmd.issued_time_ms = f->issued_ms;
    cmd.expires_time_ms = f->expires_ms;
    switch (f->action) {
    case VG_PS_ACT_ISOLATE:
        for (uint32_t i = 0; i < f->nallow && i < VG_PS_ALLOW_MAX; i++) {
            vigil__v1__allow_rule__init(&rules[i]);
            rules[i].cidr = (char *)f->allow[i].cidr;
            rules[i].port = f->allow[i].port;
            rules[i].protocol = (char *)f->allow[i].protocol;
            rulep[i] = &rules[i];
        }
        iso.allow = rulep;
        iso.n_allow = f->nallow;
        iso.expires_time_ms = f->isolate_expires_ms;
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_ISOLATE;
        cmd.isolate = &iso;
        break;
    case VG_PS_ACT_RELEASE:
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_RELEASE;
        cmd.release = &rel;
        break;
    case VG_PS_ACT_COLLECT:
        col.max_bytes = f->collect_max_bytes;
        col.max_seconds = f->collect_max_seconds;
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_COLLECT;
        cmd.collect = &col;
        break;
    default:
        break; /* refused as an unknown action */
    }
    deliver(a, &cmd, 0);
}

/* queued: it waited in line here, so it was received in time. */
static void deliver(struct agent *a, const Vigil__V1__Command *cmd, int queued)
{
    struct cmds *c = a->cmds;
    struct rec *r;
    struct run_ctx *x;
    int64_t now = vg_time_now_ms();
    int isolate = cmd->action_case == VIGIL__V1__COMMAND__ACTION_ISOLATE;
    int release = cmd->action_case == VIGIL__V1__COMMAND__ACTION_RELEASE;
    int collect = cmd->action_case == VIGIL__V1__COMMAND__ACTION_COLLECT;
    int slot = -1;

    if (!c || strlen(cmd->command_id) != VG_UUID_STR - 1) {
        log_warnx("[cmd] ignoring a command with a malformed id");
        return;
    }
    if ((r = find(c, cmd->command_id)) != NULL) {
        if (r->state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_RUNNING &&
            !in_progress(c, r->id)) {
            /* Started by an earlier run of the agent, which stopped before
             * it finished: not run again. */
            r->state = VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED;
            r->finished_ms = now;
            set_message(r, "interrupted: the agent stopped while running it; not run again");
            save(c);
        }
        log_info("[cmd] command %s delivered again; answering from the record (%s), not "
                 "running it twice", r->id, r->message[0] ? r->message : "running");
        report(c, r, 0);
        return;
    }
    log_info("[cmd] command %s from %s: %s (reason: %s)", cmd->command_id, cmd->operator_,
             isolate ? "isolate" : release ? "release" : collect ? "collect" : "unknown action",
             cmd->reason);
    if (!isolate && !release && !collect) {
        r = add(c, cmd->command_id, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_REJECTED,
                "this agent does not know the command's action (is it older than the "
                "collector?)");
        r->finished_ms = now;
        save(c);
        report(c, r, 0);
        return;
    }
    if (!queued && cmd->expires_time_ms && cmd->expires_time_ms < now) {
        r = add(c, cmd->command_id, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_EXPIRED,
                "arrived after it expired; not run");
        r->finished_ms = now;
        save(c);
        report(c, r, 0);
        return;
    }
    if (collect) {
        for (slot = 0; slot < MAX_COLLECTING && c->collecting[slot][0]; slot++)
            ;
        if (slot == MAX_COLLECTING) {
            log_warnx("[cmd] command %s: %d collections already run; the collector sends it "
                      "again later", cmd->command_id, MAX_COLLECTING);
            return;
        }
    } else if (c->running[0]) {
        /* Not recorded yet: it has not started. */
        int rc = wait_in_line(c, cmd);
        if (rc)
            log_warnx("[cmd] command %s arrived while %s runs and cannot wait (%s); the "
                      "collector sends it again later", cmd->command_id, c->running,
                      vg_strerror(rc));
        else
            log_info("[cmd] command %s waits for command %s to finish", cmd->command_id,
                     c->running);
        return;
    }
    /* The record is on disk before anything runs: at most once. */
    r = add(c, cmd->command_id, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_RUNNING, "");
    if (save(c) != 0) {
        r->state = VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED;
        r->finished_ms = now;
        set_message(r, "cannot record the command in the state directory, so it was not run "
                       "(it must run at most once)");
        report(c, r, 0);
        c->n--; /* not recorded: a later delivery may try again */
        return;
    }
    report(c, r, now);
    if (!(x = calloc(1, sizeof(*x)))) {
        r->state = VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED;
        r->finished_ms = now;
        set_message(r, "out of memory");
        save(c);
        report(c, r, now);
        return;
    }
    x->c = c;
    vg_strlcpy(x->id, cmd->command_id, sizeof(x->id));
    x->started_ms = now;
    x->slot = collect ? slot : -1;
    if (collect)
        vg_strlcpy(c->collecting[slot], cmd->command_id, sizeof(c->collecting[slot]));
    else
        vg_strlcpy(c->running, cmd->command_id, sizeof(c->running));
    if (isolate)
        isolation_isolate(a->iso, cmd, finished, x);
    else if (collect)
        triage_command(a, cmd, finished, x);
    else
        isolation_release(a->iso, cmd, finished, x);
}
