/* The agent's run state; format and purpose in runstate.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "err.h"
#include "log.h"
#include "runstate.h"
#include "util.h"

#define MAGIC "VGR1"
#define FLAG_CLEAN 1u
#define FLAG_UNREADABLE 2u

struct runstate {
    int fd;
    struct runstate_prev cur; /* this run, as written */
    uv_timer_t timer;
    int started;
    /* Runs to report (runstate.h), oldest first. */
    struct runstate_prev unrep[RUNSTATE_PENDING_MAX];
    size_t nunrep;
};

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* UUID text (8-4-4-4-12) <-> 16 bytes; "" for all zeros. */
static void boot_bin(const char *text, uint8_t out[16])
{
    char hex[33];
    size_t n = 0, len;
    for (const char *c = text; *c && n < 32; c++)
        if (*c != '-')
            hex[n++] = *c;
    hex[n] = '\0';
    if (n != 32 || vg_unhex(hex, out, 16, &len) != 0 || len != 16)
        memset(out, 0, 16);
}

static void boot_text(const uint8_t in[16], char out[37])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    int zero = 1;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[in[i] >> 4];
        out[o++] = digits[in[i] & 15];
        zero &= in[i] == 0;
    }
    out[o] = '\0';
    if (zero)
        out[0] = '\0';
}

void runstate_encode(uint8_t rec[RUNSTATE_REC], const struct runstate_prev *st)
{
    memset(rec, 0, RUNSTATE_REC);
    memcpy(rec, MAGIC, 4); // NOLINT(bugprone-not-null-terminated-result): binary magic, not a string
    put32(rec + 4, (st->clean ? FLAG_CLEAN : 0) | (st->found && !st->readable ? FLAG_UNREADABLE : 0));
    put64(rec + 8, (uint64_t)st->start_ms);
    put64(rec + 16, (uint64_t)st->beat_ms);
    put32(rec + 24, st->pid);
    put32(rec + 28, st->pending);
    boot_bin(st->boot_id, rec + 32);
    put64(rec + 48, (uint64_t)st->stop_ms);
    put32(rec + 56, vg_crc32c(0, rec, 56));
}

int runstate_decode(const uint8_t rec[RUNSTATE_REC], struct runstate_prev *st)
{
    if (memcmp(rec, MAGIC, 4) != 0 || vg_crc32c(0, rec, 56) != get32(rec + 56))
        return VG_ECORRUPT;
    st->found = 1;
    st->readable = (get32(rec + 4) & FLAG_UNREADABLE) == 0;
    st->clean = (get32(rec + 4) & FLAG_CLEAN) != 0;
    st->start_ms = (int64_t)get64(rec + 8);
    st->beat_ms = (int64_t)get64(rec + 16);
    st->pid = get32(rec + 24);
    st->pending = get32(rec + 28);
    boot_text(rec + 32, st->boot_id);
    st->stop_ms = (int64_t)get64(rec + 48);
    return 0;
}

static void read_boot_id(char out[37])
{
    char *buf = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (vg_file_read("/proc/sys/kernel/random/boot_id", 64, &buf, &len) == 0) {
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
            len--;
        if (len == 36) {
            memcpy(out, buf, 36);
            out[36] = '\0';
        }
    }
    free(buf);
}

/* One pwrite of this run's record and the runs to report; durable when
 * sync. */
static int write_rec(struct runstate *r, int sync)
{
    uint8_t rec[RUNSTATE_REC * (1 + RUNSTATE_PENDING_MAX)];
    size_t len = RUNSTATE_REC * (1 + r->nunrep);
    r->cur.pending = (uint32_t)r->nunrep;
    runstate_encode(rec, &r->cur);
    for (size_t i = 0; i < r->nunrep; i++)
        runstate_encode(rec + RUNSTATE_REC * (i + 1), &r->unrep[i]);
    if (pwrite(r->fd, rec, len, 0) != (ssize_t)len)
        return errno ? -errno : -EIO;
    if (sync && fdatasync(r->fd) < 0)
        return -errno;
    return 0;
}

struct runstate *runstate_open(const char *state_dir, struct runstate_prev *prev, char *err,
                               size_t errlen)
{
    struct runstate *r = calloc(1, sizeof(*r));
    char path[PATH_MAX], *buf = NULL;
    size_t len = 0;
    int rc;

    memset(prev, 0, sizeof(*prev));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->fd = -1;
    if ((size_t)snprintf(path, sizeof(path), "%s/run", state_dir) >= sizeof(path)) {
        snprintf(err, errlen, "state directory path too long");
        goto fail;
    }
    rc = vg_file_read(path, 4096, &buf, &len);
    read_boot_id(r->cur.boot_id);
    if (rc == 0) {
        prev->found = 1;
        if (len < RUNSTATE_REC || runstate_decode((const uint8_t *)buf, prev) != 0) {
            prev->readable = 0;
        } else {
            /* Earlier runs an earlier start had not yet reported. */
            for (uint32_t i = 0; i < prev->pending && i < RUNSTATE_PENDING_MAX &&
                                 len >= RUNSTATE_REC * (i + 2);
                 i++) {
                struct runstate_prev *p = &r->unrep[r->nunrep];
                memset(p, 0, sizeof(*p));
                if (runstate_decode((const uint8_t *)buf + RUNSTATE_REC * (i + 1), p) == 0)
                    r->nunrep++;
            }
        }
    } else if (rc != -ENOENT) {
        prev->found = 1; /* there, but unreadable: said so in the event */
    }
    free(buf);
    if (prev->found && !(prev->readable && prev->clean)) {
        if (r->nunrep == RUNSTATE_PENDING_MAX) {
            /* Runs killed one after another before any could report: the
             * oldest goes (it was reported at least once before its
             * reporter died, or its successors' reports say enough). */
            memmove(r->unrep, r->unrep + 1, sizeof(r->unrep[0]) * (RUNSTATE_PENDING_MAX - 1));
            r->nunrep--;
        }
        r->unrep[r->nunrep] = *prev;
        r->unrep[r->nunrep].pending = 0;
        r->nunrep++;
    }
    for (size_t i = 0; i < r->nunrep; i++) {
        struct runstate_prev *p = &r->unrep[i];
        p->found = 1;
        if (p->readable && p->boot_id[0] && r->cur.boot_id[0])
            p->rebooted = strcmp(p->boot_id, r->cur.boot_id) != 0;
    }
    if (prev->readable && prev->boot_id[0] && r->cur.boot_id[0])
        prev->rebooted = strcmp(prev->boot_id, r->cur.boot_id) != 0;
    r->cur.found = r->cur.readable = 1;
    r->cur.start_ms = r->cur.beat_ms = vg_time_now_ms();
    r->cur.pid = (uint32_t)getpid();
    r->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    /* This run, at once: a death from now on is seen by the next start. */
    if ((rc = write_rec(r, 1)) != 0)
        log_warnx("[priv] cannot record this run's start in %s: %s", path, vg_strerror(rc));
    return r;
fail:
    if (r->fd >= 0)
        close(r->fd);
    free(r);
    return NULL;
}

static void beat_cb(uv_timer_t *t)
{
    struct runstate *r = t->data;
    int rc;
    r->cur.beat_ms = vg_time_now_ms();
    if ((rc = write_rec(r, 0)) != 0)
        log_warnx("[priv] cannot write the run state's heartbeat: %s", vg_strerror(rc));
}

size_t runstate_unreported(const struct runstate *r, const struct runstate_prev **list)
{
    *list = r->unrep;
    return r->nunrep;
}

int runstate_start(struct runstate *r, uv_loop_t *loop)
{
    int rc;

    r->nunrep = 0; /* reported: in the spool */
    r->cur.beat_ms = vg_time_now_ms();
    if ((rc = write_rec(r, 1)) != 0)
        return rc;
    if ((rc = uv_timer_init(loop, &r->timer)) != 0)
        return rc;
    r->timer.data = r;
    r->started = 1;
    return uv_timer_start(&r->timer, beat_cb, RUNSTATE_HEARTBEAT_MS, RUNSTATE_HEARTBEAT_MS);
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void runstate_clean_stop(struct runstate *r)
{
    int rc;
    if (!r)
        return;
    r->cur.beat_ms = r->cur.stop_ms = vg_time_now_ms();
    r->cur.clean = 1;
    if ((rc = write_rec(r, 1)) != 0)
        log_warnx("[priv] cannot record the clean stop: %s (the next start will report an "
                  "unclean one)", vg_strerror(rc));
    close(r->fd);
    r->fd = -1;
    if (r->started)
        uv_close((uv_handle_t *)&r->timer, timer_closed);
    else
        free(r);
}

int runstate_tamper(const struct runstate_prev *prev, int64_t now_ms, int ring_lost_known,
                    uint64_t ring_lost, Vigil__V1__Event *ev, Vigil__V1__AgentTamper *t)
{
    if (!prev->found || (prev->readable && prev->clean))
        return 0;
    vigil__v1__event__init(ev);
    vigil__v1__agent_tamper__init(t);
    t->kind = "unclean-stop";
    if (!prev->readable)
        t->how = "run state unreadable: the previous run's end is unknown";
    else if (prev->rebooted)
        t->how = "host rebooted without a clean stop (power loss, crash or forced reboot)";
    else
        t->how = "killed or crashed: no clean stop";
    t->prev_start_time_ms = prev->start_ms;
    t->prev_heartbeat_time_ms = prev->beat_ms;
    t->prev_pid = prev->pid;
    t->prev_boot_id = (char *)prev->boot_id;
    t->start_time_ms = now_ms;
    t->gap_ms = prev->readable && now_ms > prev->beat_ms ? (uint64_t)(now_ms - prev->beat_ms) : 0;
    t->heartbeat_interval_ms = RUNSTATE_HEARTBEAT_MS;
    t->ring_lost_known = ring_lost_known != 0;
    t->ring_lost = ring_lost;
    ev->time_ms = now_ms;
    ev->kind_case = VIGIL__V1__EVENT__KIND_AGENT_TAMPER;
    ev->agent_tamper = t;
    return 1;
}
