/*
 * The collect command: a triage package (cmd_triage.c) built on a worker
 * thread into the upload directory, then queued for upload (upload.c).
 */
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log.h"
#include "triage.h"
#include "monitor.h"
#include "psmsg.h"
#include "util.h"

struct job {
    uv_work_t work;
    struct agent *a;
    triage_done_fn done;
    void *ctx;
    struct triage_opts o;
    char id[VG_UUID_STR], op[160], reason[512], name[160];
    char tmp[4300], final[4300];
    struct triage_result r;
    int rc;
    char err[512];
};

static void job_work(uv_work_t *w)
{
    struct job *j = w->data;
    j->rc = triage_build(&j->o, j->tmp, &j->r, j->err, sizeof(j->err));
}

static void job_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    char msg[700], hex[VG_SHA256_HEX];
    int rc = j->rc;

    (void)status;
    /* Built as root in a directory of the parent's own; handed to the
     * network process's user only when complete. */
    if (rc == 0) {
        uid_t uid;
        gid_t gid;
        monitor_child_user(j->a->mon, &uid, &gid);
        if (chown(j->tmp, uid, gid) != 0 || rename(j->tmp, j->final) != 0) {
            snprintf(j->err, sizeof(j->err), "cannot move %.300s into place: %s", j->tmp,
                     strerror(errno));
            rc = -errno;
        }
    }
    if (rc == 0) {
        struct vg_ps_upload u;
        memset(&u, 0, sizeof(u));
        vg_strlcpy(u.id, j->id, sizeof(u.id));
        vg_strlcpy(u.command_id, j->id, sizeof(u.command_id));
        vg_strlcpy(u.name, j->name, sizeof(u.name));
        u.size = j->r.size;
        memcpy(u.sha256, j->r.sha256, sizeof(u.sha256));
        if ((rc = monitor_upload(j->a->mon, &u)) != 0)
            snprintf(j->err, sizeof(j->err), "cannot queue the package for upload: %s",
                     vg_strerror(rc));
    }
    if (rc)
        snprintf(j->err, sizeof(j->err), "cannot queue the package for upload: %s",
                 vg_strerror(rc));
    if (rc) {
        unlink(j->tmp);
        unlink(j->final);
        snprintf(msg, sizeof(msg), "no package: %s", j->err);
        j->done(j->ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, msg);
    } else {
        vg_hex(j->r.sha256, sizeof(j->r.sha256), hex);
        snprintf(msg, sizeof(msg), "collected %u items (%llu bytes; %u skipped, %u errors, see "
                 "the manifest) into %s, %llu bytes, sha256 %s; uploading", j->r.items,
                 (unsigned long long)j->r.content_bytes, j->r.skipped, j->r.errors, j->name,
                 (unsigned long long)j->r.size, hex);
        j->done(j->ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED, msg);
    }
    free(j);
}

void triage_command(struct agent *a, const Vigil__V1__Command *cmd, triage_done_fn done,
                    void *ctx)
{
    struct job *j = calloc(1, sizeof(*j));
    char host[128] = "", when[32];
    time_t now = time(NULL);
    struct tm tm;
    int rc;

    if (!j || !a->mon) {
        free(j);
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, "out of memory");
        return;
    }
    j->a = a;
    j->done = done;
    j->ctx = ctx;
    vg_strlcpy(j->id, cmd->command_id, sizeof(j->id));
    vg_strlcpy(j->op, cmd->operator_, sizeof(j->op));
    vg_strlcpy(j->reason, cmd->reason, sizeof(j->reason));
    j->o.max_bytes = cmd->collect && cmd->collect->max_bytes ? cmd->collect->max_bytes
                                                             : 256ULL * 1024 * 1024;
    j->o.max_seconds = cmd->collect && cmd->collect->max_seconds ? cmd->collect->max_seconds : 300;
    if (j->o.max_seconds > 3600)
        j->o.max_seconds = 3600; /* a stopping agent waits for the build */
    j->o.hash_max = a->conf->hash_max_size;
    j->o.extra = &a->conf->triage_paths;
    j->o.agent_id = a->agent_id;
    j->o.command_id = j->id;
    j->o.operator_name = j->op;
    j->o.reason = j->reason;
    gethostname(host, sizeof(host) - 1);
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(j->name, sizeof(j->name), "triage-%.60s-%s.tar.lz4", host, when);
    snprintf(j->tmp, sizeof(j->tmp), "%s/triage", a->conf->state_dir);
    if (mkdir(j->tmp, 0700) < 0 && errno != EEXIST)
        log_warn("[triage] mkdir %s", j->tmp);
    snprintf(j->tmp, sizeof(j->tmp), "%s/triage/%s.tmp", a->conf->state_dir, j->id);
    snprintf(j->final, sizeof(j->final), "%s/uploads/%s.tar.lz4", a->conf->state_dir, j->id);
    j->work.data = j;
    {
        char sz[VG_FMT_MAX], dur[VG_FMT_MAX];
        log_info("[triage] collecting for command %s (at most %s, %s)", j->id,
                 vg_fmt_size(j->o.max_bytes, sz, sizeof(sz)),
                 vg_fmt_duration((uint64_t)j->o.max_seconds * 1000, dur, sizeof(dur)));
    }
    if ((rc = uv_queue_work(a->loop, &j->work, job_work, job_done)) != 0) {
        free(j);
        done(ctx, VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, uv_strerror(rc));
    }
}
