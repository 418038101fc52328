/*
 * The SIEM export: see export.h for the design.
 *
 * A syslog message (RFC 5424, framed as RFC 6587 octet counting):
 *
 *   LEN SP <PRI>1 TIMESTAMP HOSTNAME vigil-collector - MSGID - {json}
 *
 *   PRI     audit entries: facility 13 (log audit), severity 5 (notice),
 *           4 (warning) for a refusal or failure; process events:
 *           facility 1 (user), severity 6 (info)
 *   HOSTNAME the agent's host for process events, the collector's for
 *           audit entries ("-" when unknown)
 *   MSGID   "audit" or "process"
 *
 * The JSON line of the file sink is the same document.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "collector.h"
#include "crypto.h"
#include "err.h"
#include "export.h"
#include "log.h"
#include "store.h"
#include "tls.h"
#include "util.h"
#include "vjson.h"

#define TICK_MS 500
#define CLAIM_MS 2000 /* how often a waiting collector asks to export */
#define SAVE_MS 2000         /* cursors saved at most this often */
#define CHUNK 500            /* rows per read */
#define CHUNKS_PER_TICK 2    /* per sink: the loop does other work between */
#define TLS_LOW (256 * 1024) /* read more only while less waits for the socket */
#define FILE_FLUSH (256 * 1024)
#define RECORD_MAX (1024 * 1024) /* the largest record: argv is bounded far below */
#define CHECKPOINTS 128
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

enum { ST_AUDIT, ST_PROC, NSTREAMS };
/* A position: the id of each stream, and the txid of the process row
 * (0 on SQLite; store.h). */
enum { POS_PROC_TX = NSTREAMS, NPOS };

enum { SK_FILE, SK_SYSLOG };
enum { SY_IDLE, SY_RESOLVING, SY_CONNECTING, SY_UP, SY_CLOSED };

struct checkpoint {
    uint64_t ms;
    int64_t pos[NPOS];
};

struct sink {
    struct export *ex;
    int kind;
    const char *name; /* its row in export_cursors */
    int on;
    int64_t pos[NPOS];   /* written or sent up to this position */
    int64_t done[NPOS];  /* delivered up to this position */
    int64_t saved[NPOS]; /* as in the database */
    uint64_t records, gone, failures;
    int leader;         /* this collector exports to it (store_export_claim) */
    int waited;         /* another one did: logged */
    uint64_t claim_ms;  /* when to ask again */
    /* file */
    int fd;
    uint64_t size;
    int dirty; /* written since the last fdatasync */
    /* syslog */
    int state;
    struct vg_tls_conn *conn;
    uv_timer_t retry;
    uv_getaddrinfo_t gai;
    unsigned fails;
    struct checkpoint cp[CHECKPOINTS];
    unsigned ncp;
    int stop_read; /* set by a record that did not fit (VG_EAGAIN) */
};

struct export {
    uv_loop_t *loop;
    struct store *store;
    /* [export], copied: a reload frees the configuration it came from
     * (the keys are read at start only). */
    char path[4096];
    uint64_t max_size, keep, window_ms, hold_ms;
    uv_timer_t timer;
    struct sink file, syslog;
    struct vg_tls_config *tls;
    char host[256], port[8], server_name[256], self[256];
    struct vg_buf rec, out; /* one record; the file's pending output */
    uint64_t saved_ms;
    int stopping;
    unsigned closing; /* handles and connections still to close */
    struct vg_ratelimit rl;
};

/* ---- records ---- */

static json_t *ts(int64_t ms)
{
    char t[96];
    struct tm tm;
    time_t sec = (time_t)(ms / 1000);

    if (ms <= 0 || !gmtime_r(&sec, &tm))
        return json_null();
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(t);
}

/* Bytes (a path, an argument) as a JSON string, invalid UTF-8 replaced. */
static json_t *bytes(const uint8_t *p, size_t n)
{
    char *s;
    json_t *j;

    if (!p)
        return json_null();
    if (!(s = malloc(n + 1)))
        return json_null();
    memcpy(s, p, n);
    s[n] = '\0';
    j = vg_json_text(s);
    free(s);
    return j;
}

static void put(json_t *o, const char *k, json_t *v)
{
    if (v && !json_is_null(v))
        json_object_set_new(o, k, v);
    else
        json_decref(v);
}

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v && v[0])
        put(o, k, vg_json_text(v));
}

static json_t *id_str(int64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%lld", (long long)v);
    return json_string(b);
}

static json_t *strings(const char *a, const char *b)
{
    json_t *l = json_array();
    json_array_append_new(l, json_string(a));
    if (b)
        json_array_append_new(l, json_string(b));
    return l;
}

static json_t *event_obj(const char *id, const char *category, const char *type,
                         const char *type2, const char *action, const char *dataset)
{
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(id));
    json_object_set_new(e, "kind", json_string("event"));
    json_object_set_new(e, "category", strings(category, NULL));
    json_object_set_new(e, "type", strings(type, type2));
    put_str(e, "action", action);
    json_object_set_new(e, "module", json_string("vigil"));
    json_object_set_new(e, "dataset", json_string(dataset));
    return e;
}

static int refusal(const char *result)
{
    static const char *const bad[] = { "refused", "failed", "expired", "rejected", "locked",
                                       "error" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (result && strcmp(result, bad[i]) == 0)
            return 1;
    return 0;
}

static json_t *audit_json(struct export *ex, const struct store_audit *a)
{
    json_t *o = json_object(), *e, *v, *h;
    char id[40], msg[1024];

    snprintf(id, sizeof(id), "audit-%lld", (long long)a->id);
    json_object_set_new(o, "@timestamp", ts(a->time_ms));
    e = event_obj(id, "configuration", "change", NULL, a->action, "vigil.audit");
    json_object_set_new(e, "outcome", json_string(refusal(a->result) ? "failure" : "success"));
    json_object_set_new(o, "event", e);
    h = json_object();
    put_str(h, "name", ex->self);
    json_object_set_new(o, "host", h);
    v = json_object();
    put_str(v, "name", a->actor);
    json_object_set_new(o, "user", v);
    snprintf(msg, sizeof(msg), "%s: %s %s%s%s (%s)", a->actor ? a->actor : "",
             a->action ? a->action : "", a->target ? a->target : "",
             a->detail && a->detail[0] ? ": " : "", a->detail ? a->detail : "",
             a->result ? a->result : "");
    put_str(o, "message", msg);
    v = json_object();
    json_object_set_new(v, "id", json_integer(a->id));
    put_str(v, "target", a->target);
    put_str(v, "detail", a->detail);
    put_str(v, "result", a->result);
    put_str(v, "hash", a->hash);
    h = json_object();
    json_object_set_new(h, "audit", v);
    json_object_set_new(o, "vigil", h);
    return o;
}

static json_t *proc_json(const struct store_export_proc *p)
{
    json_t *o = json_object(), *e, *pr, *par, *v, *args;
    char id[40];
    size_t i, start, nargs = 0;
    int exited = p->exit_ms != 0;

    snprintf(id, sizeof(id), "proc-%lld", (long long)p->id);
    json_object_set_new(o, "@timestamp", ts(p->start_ms ? p->start_ms : p->recv_ms));
    e = event_obj(id, "process", "start", exited ? "end" : NULL, "exec", "vigil.process");
    put(e, "created", ts(p->recv_ms));
    json_object_set_new(o, "event", e);
    v = json_object();
    put_str(v, "name", p->hostname);
    put_str(v, "hostname", p->hostname);
    put_str(v, "id", p->machine_id);
    json_object_set_new(o, "host", v);
    v = json_object();
    put_str(v, "id", p->agent_id);
    json_object_set_new(v, "type", json_string("vigil"));
    json_object_set_new(o, "agent", v);

    pr = json_object();
    json_object_set_new(pr, "pid", json_integer(p->pid));
    put_str(pr, "name", p->comm);
    put(pr, "executable", bytes(p->exe, p->exe_len));
    args = json_array();
    for (i = 0, start = 0; p->argv && i <= p->argv_len; i++) {
        if (i == p->argv_len || p->argv[i] == '\0') {
            if (i > start || i < p->argv_len) {
                json_array_append_new(args, bytes(p->argv + start, i - start));
                nargs++;
            }
            start = i + 1;
        }
    }
    json_object_set_new(pr, "args", args);
    json_object_set_new(pr, "args_count", json_integer((json_int_t)nargs));
    put(pr, "working_directory", bytes(p->cwd, p->cwd_len));
    if (p->sha256 && p->sha256[0]) {
        v = json_object();
        put_str(v, "sha256", p->sha256);
        json_object_set_new(pr, "hash", v);
    }
    par = json_object();
    if (p->has_ppid)
        json_object_set_new(par, "pid", json_integer(p->ppid));
    put(par, "executable", bytes(p->parent_exe, p->parent_exe_len));
    json_object_set_new(pr, "parent", par);
    put(pr, "start", ts(p->start_ms));
    if (exited) {
        put(pr, "end", ts(p->exit_ms));
        if (p->has_exit_code && !p->has_signal)
            json_object_set_new(pr, "exit_code", json_integer(p->exit_code));
    }
    if (p->has_uid) {
        v = json_object();
        json_object_set_new(v, "id", id_str(p->euid));
        json_object_set_new(pr, "user", v);
        v = json_object();
        json_object_set_new(v, "id", id_str(p->uid));
        json_object_set_new(pr, "real_user", v);
    }
    if (p->has_gid) {
        v = json_object();
        json_object_set_new(v, "id", id_str(p->egid));
        json_object_set_new(pr, "group", v);
        v = json_object();
        json_object_set_new(v, "id", id_str(p->gid));
        json_object_set_new(pr, "real_group", v);
    }
    json_object_set_new(o, "process", pr);
    if (p->has_uid) {
        v = json_object();
        json_object_set_new(v, "id", id_str(p->uid));
        json_object_set_new(o, "user", v);
    }
    if (p->container_id && p->container_id[0]) {
        v = json_object();
        put_str(v, "id", p->container_id);
        json_object_set_new(o, "container", v);
    }
    /* What ECS has no field for. */
    v = json_object();
    json_object_set_new(v, "row_id", json_integer(p->id));
    put_str(v, "source", p->source);
    if (p->argv_truncated)
        json_object_set_new(v, "argv_truncated", json_true());
    if (p->similar)
        json_object_set_new(v, "similar", json_integer(p->similar));
    if (exited && p->has_signal) {
        json_object_set_new(v, "signal", json_integer(p->signal));
        if (p->core_dumped)
            json_object_set_new(v, "core_dumped", json_true());
    }
    /* (uint32_t)-1: not set (no login session) */
    if (p->has_login_uid && p->login_uid != 4294967295LL)
        json_object_set_new(v, "login_uid", json_integer(p->login_uid));
    if (p->has_session && p->session_id != 4294967295LL)
        json_object_set_new(v, "session_id", json_integer(p->session_id));
    if (p->cgroup_id)
        json_object_set_new(v, "cgroup_id", json_integer(p->cgroup_id));
    if (p->forked)
        json_object_set_new(v, "forked", json_true());
    put_str(v, "unknown", p->unknown);
    put_str(v, "hash_note", p->hash_note);
    put_str(v, "tty", p->tty);
    e = json_object();
    json_object_set_new(e, "process", v);
    json_object_set_new(o, "vigil", e);
    return o;
}

/* A syslog HOSTNAME: printable US-ASCII without spaces, at most 255. */
static void syslog_host(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; in && *in && n + 1 < len && n < 255; in++)
        if (*in > 32 && *in < 127)
            out[n++] = *in;
    if (n == 0)
        out[n++] = '-';
    out[n] = '\0';
}

/* ex->rec = the record for sink k: a JSON line, or a framed syslog
 * message.  Returns 0 or an error (out of memory, over RECORD_MAX). */
static int render(struct export *ex, struct sink *k, json_t *doc, int64_t time_ms,
                  const char *hostname, int pri, const char *msgid)
{
    char *js = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = 0;

    vg_buf_reset(&ex->rec);
    if (!js)
        return -ENOMEM;
    if (k->kind == SK_FILE) {
        if (vg_buf_append_str(&ex->rec, js) || vg_buf_append(&ex->rec, "\n", 1))
            rc = VG_ETOOBIG;
    } else {
        char head[400], host[256];
        json_t *t = ts(time_ms);
        int hl;
        syslog_host(hostname, host, sizeof(host));
        hl = snprintf(head, sizeof(head), "<%d>1 %s %s vigil-collector - %s - ", pri,
                      json_is_string(t) ? json_string_value(t) : "-", host, msgid);
        json_decref(t);
        if (hl < 0 || (size_t)hl >= sizeof(head) ||
            vg_buf_printf(&ex->rec, "%zu ", (size_t)hl + strlen(js)) ||
            vg_buf_append(&ex->rec, head, (size_t)hl) || vg_buf_append_str(&ex->rec, js))
            rc = VG_ETOOBIG;
    }
    free(js);
    return rc;
}

/* ---- the file sink ---- */

static int file_open(struct export *ex, struct sink *k, char *err, size_t errlen)
{
    struct stat st;

    k->fd = open(ex->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (k->fd < 0 || fstat(k->fd, &st) != 0) {
        snprintf(err, errlen, "[export] file %s: cannot open it: %s", ex->path,
                 strerror(errno));
        if (k->fd >= 0)
            close(k->fd);
        k->fd = -1;
        return -errno;
    }
    k->size = (uint64_t)st.st_size;
    return 0;
}

/* FILE -> FILE.1 -> ... -> FILE.keep (deleted).  The file is synced
 * first: what it holds is delivered. */
static int file_rotate(struct export *ex, struct sink *k)
{
    const char *f = ex->path;
    char from[4200], to[4200], err[512];

    if (k->fd >= 0) {
        fdatasync(k->fd);
        close(k->fd);
        k->fd = -1;
    }
    k->dirty = 0;
    memcpy(k->done, k->pos, sizeof(k->done));
    snprintf(to, sizeof(to), "%s.%llu", f, (unsigned long long)ex->keep);
    unlink(to);
    for (uint64_t i = ex->keep; i > 1; i--) {
        snprintf(from, sizeof(from), "%s.%llu", f, (unsigned long long)(i - 1));
        snprintf(to, sizeof(to), "%s.%llu", f, (unsigned long long)i);
        rename(from, to);
    }
    snprintf(to, sizeof(to), "%s.1", f);
    if (rename(f, to) != 0 && errno != ENOENT)
        log_warn("export: cannot rotate %s to %s", f, to);
    if (file_open(ex, k, err, sizeof(err)) != 0) {
        log_warnx("export: %s", err);
        return -EIO;
    }
    log_info("export: %s rotated (the previous one is %s)", f, to);
    return 0;
}

/* Writes what waits in ex->out; on failure the file is cut back to what
 * it held, and the caller rewinds.  Returns 0 or an error. */
static int file_flush(struct export *ex, struct sink *k)
{
    int rc;

    if (!ex->out.len)
        return 0;
    if (k->fd < 0)
        return -EIO;
    if ((rc = vg_fd_write(k->fd, ex->out.data, ex->out.len)) != 0) {
        uint64_t sup;
        if (ftruncate(k->fd, (off_t)k->size) != 0) {
            /* A partial line is left: the next starts on a line of its own. */
            k->size = (uint64_t)lseek(k->fd, 0, SEEK_END);
        }
        if (vg_ratelimit(&ex->rl, &sup) == 0)
            log_warnx("export: cannot write to %s: %s; trying again", ex->path,
                      vg_strerror(rc));
        vg_buf_reset(&ex->out);
        k->failures++;
        return rc;
    }
    k->size += ex->out.len;
    k->dirty = 1;
    vg_buf_reset(&ex->out);
    return 0;
}

/* ---- reading ---- */

struct emit {
    struct export *ex;
    struct sink *k;
    int stream;
    int64_t flushed; /* file: pos of what is in the file */
    int err;
    int64_t now;     /* wall clock, ms */
    int held;        /* stopped at an exec waiting for its exit */
    int64_t flushed_tx; /* and its txid (processes) */
};

/* One record to sink k.  Returns 0 (pos advanced), or 1 to stop reading
 * (the connection is full, or a write failed). */
static int emit_one(struct emit *m, int64_t tx, int64_t id, json_t *doc, int64_t time_ms,
                    const char *hostname, int pri, const char *msgid)
{
    struct export *ex = m->ex;
    struct sink *k = m->k;
    int rc;

    if (!doc)
        return m->err = -ENOMEM, 1;
    rc = render(ex, k, doc, time_ms, hostname, pri, msgid);
    json_decref(doc);
    if (rc) {
        /* Cannot be sent (out of memory): skipped, counted, never retried
         * in a loop. */
        k->gone++;
        goto advance;
    }
    if (k->kind == SK_FILE) {
        uint64_t have = k->size + ex->out.len;
        if (have + ex->rec.len > ex->max_size && have > 0) {
            if (file_flush(ex, k) != 0)
                return m->err = -EIO, 1;
            m->flushed = k->pos[m->stream];
            m->flushed_tx = k->pos[POS_PROC_TX];
            if (file_rotate(ex, k) != 0)
                return m->err = -EIO, 1;
        }
        if (vg_buf_append(&ex->out, ex->rec.data, ex->rec.len) != 0)
            return 1;
        if (ex->out.len >= FILE_FLUSH) {
            if (file_flush(ex, k) != 0)
                return m->err = -EIO, 1;
            m->flushed = id;
            m->flushed_tx = tx;
        }
    } else {
        rc = vg_tls_write(k->conn, ex->rec.data, ex->rec.len);
        if (rc == VG_EAGAIN) {
            k->stop_read = 1;
            return 1;
        }
        if (rc != 0)
            return m->err = rc, 1;
    }
advance:
    /* Rows deleted before export, where ids come in order (not PostgreSQL's
     * process rows, read in txid order). */
    if (tx == 0 && k->pos[m->stream] > 0 && id > k->pos[m->stream] + 1)
        k->gone += (uint64_t)(id - k->pos[m->stream] - 1);
    k->pos[m->stream] = id;
    if (m->stream == ST_PROC)
        k->pos[POS_PROC_TX] = tx;
    k->records++;
    return 0;
}

static int on_audit(void *ctx, const struct store_audit *a)
{
    struct emit *m = ctx;
    return emit_one(m, 0, a->id, audit_json(m->ex, a), a->time_ms, m->ex->self,
                    13 * 8 + (refusal(a->result) ? 4 : 5), "audit");
}

static int on_proc(void *ctx, const struct store_export_proc *p)
{
    struct emit *m = ctx;
    /* An exec not yet exited waits a little for its exit, so that most
     * records carry it (exits that come later are not exported). */
    if (!p->exit_ms && m->ex->hold_ms && p->recv_ms + (int64_t)m->ex->hold_ms > m->now) {
        m->held = 1;
        return 1;
    }
    return emit_one(m, p->txid, p->id, proc_json(p), p->start_ms ? p->start_ms : p->recv_ms, p->hostname,
                    1 * 8 + 6, "process");
}

static int sink_ready(struct sink *k)
{
    if (k->kind == SK_FILE && k->fd < 0) {
        /* Not reopened after a failed rotation: try again, now and then. */
        struct export *ex = k->ex;
        char err[512];
        uint64_t sup;
        if (file_open(ex, k, err, sizeof(err)) != 0 && vg_ratelimit(&ex->rl, &sup) == 0)
            log_warnx("export: %s; trying again", err);
    }
    if (k->kind == SK_FILE)
        return k->fd >= 0;
    return k->state == SY_UP && k->conn && !k->stop_read && vg_tls_queued(k->conn) < TLS_LOW;
}

/* Reads and sends what is new for k, a few chunks at most.  Returns 1 if
 * more may wait (come back soon), else 0. */
static int pump(struct export *ex, struct sink *k)
{
    int more = 0;

    for (int sidx = 0; sidx < NSTREAMS; sidx++) {
        for (int c = 0; c < CHUNKS_PER_TICK; c++) {
            struct emit m = { ex, k, sidx, k->pos[sidx], 0, vg_time_now_ms(), 0,
                              k->pos[POS_PROC_TX] };
            int n;
            if (!sink_ready(k))
                return 0;
            n = sidx == ST_AUDIT ? store_export_audit(ex->store, k->pos[sidx], CHUNK, on_audit, &m)
                                 : store_export_processes(ex->store, k->pos[POS_PROC_TX],
                                                          k->pos[sidx], CHUNK, on_proc, &m);
            if (k->kind == SK_FILE) {
                if (m.err == 0 && file_flush(ex, k) != 0)
                    m.err = -EIO;
                if (m.err) {
                    /* What did not reach the file comes again. */
                    k->pos[sidx] = m.flushed;
                    if (sidx == ST_PROC)
                        k->pos[POS_PROC_TX] = m.flushed_tx;
                    vg_buf_reset(&ex->out);
                    return 0;
                }
            }
            if (m.err && k->kind == SK_SYSLOG) {
                k->stop_read = 1; /* until on_close */
                vg_tls_close(k->conn, "cannot write to it");
                return 0;
            }
            if (n == -EBUSY)
                return 1;
            if (m.held)
                break; /* come back next tick */
            if (n < 0 && n != -1)
                return 0; /* the database's trouble, logged: next tick */
            if (n < CHUNK && n >= 0)
                break;
            more = 1;
        }
    }
    return more;
}

/* ---- the syslog sink ---- */

static void syslog_connect(struct export *ex);
static void tick(uv_timer_t *t);

static void retry_cb(uv_timer_t *t)
{
    struct export *ex = t->data;
    syslog_connect(ex);
}

static void syslog_later(struct export *ex)
{
    struct sink *k = &ex->syslog;
    uint64_t ceil = BACKOFF_MIN_MS, delay;
    uint32_t r = 0;

    for (unsigned i = 0; i < k->fails && ceil < BACKOFF_MAX_MS; i++)
        ceil *= 2;
    if (ceil > BACKOFF_MAX_MS)
        ceil = BACKOFF_MAX_MS;
    vg_random(&r, sizeof(r));
    delay = ceil / 2 + r % (ceil / 2 + 1); /* half jitter: never a storm, never at once */
    if (k->fails < 31)
        k->fails++;
    k->state = SY_IDLE;
    uv_timer_start(&k->retry, retry_cb, delay, 0);
}

static void maybe_free(struct export *ex)
{
    if (!ex->stopping || ex->closing)
        return;
    vg_tls_config_free(ex->tls);
    vg_buf_free(&ex->rec);
    vg_buf_free(&ex->out);
    free(ex);
}

static int on_ready(struct vg_tls_conn *c)
{
    struct export *ex = vg_tls_data(c);
    struct sink *k = &ex->syslog;

    k->state = SY_UP;
    k->stop_read = 0;
    k->ncp = 0;
    memcpy(k->pos, k->done, sizeof(k->pos));
    log_info("export: connected to the syslog receiver %s:%s (%s); sending from audit entry "
             "%lld and process row %lld on",
             ex->host, ex->port, vg_tls_suite(c), (long long)k->pos[ST_AUDIT] + 1,
             (long long)k->pos[ST_PROC] + 1);
    if (!ex->stopping)
        uv_timer_start(&ex->timer, tick, 1, 0); /* send what waited */
    return 0;
}

static void on_data(struct vg_tls_conn *c, const uint8_t *data, size_t len)
{
    (void)c; /* receivers send nothing we use */
    (void)data;
    (void)len;
}

static void on_drain(struct vg_tls_conn *c)
{
    struct export *ex = vg_tls_data(c);
    ex->syslog.stop_read = 0;
    if (!ex->stopping)
        uv_timer_start(&ex->timer, tick, 1, 0);
}

static void on_close(struct vg_tls_conn *c, int err)
{
    struct export *ex = vg_tls_data(c);
    struct sink *k = &ex->syslog;
    int was_up = k->state == SY_UP;

    k->conn = NULL;
    if (ex->stopping) {
        k->state = SY_CLOSED;
        ex->closing--;
        maybe_free(ex);
        return;
    }
    /* What was sent but is not known delivered goes again. */
    memcpy(k->pos, k->done, sizeof(k->pos));
    k->ncp = 0;
    k->stop_read = 0;
    if (was_up)
        log_warnx("export: the connection to the syslog receiver %s:%s ended%s%s; sending "
                  "again from audit entry %lld and process row %lld once it is back",
                  ex->host, ex->port, vg_tls_why(c)[0] ? ": " : "", vg_tls_why(c),
                  (long long)k->done[ST_AUDIT] + 1, (long long)k->done[ST_PROC] + 1);
    else if (k->fails < 3 || k->fails % 10 == 0)
        log_warnx("export: cannot connect to the syslog receiver %s:%s: %s", ex->host, ex->port,
                  vg_tls_why(c)[0] ? vg_tls_why(c) : vg_strerror(err));
    if (was_up)
        k->fails = 0;
    syslog_later(ex);
}

static const struct vg_tls_handlers handlers = {
    .on_ready = on_ready, .on_data = on_data, .on_drain = on_drain, .on_close = on_close,
};

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct export *ex = req->data;
    struct sink *k = &ex->syslog;
    int rc;

    if (ex->stopping) {
        uv_freeaddrinfo(res);
        k->state = SY_CLOSED;
        ex->closing--;
        maybe_free(ex);
        return;
    }
    if (status < 0 || !res) {
        if (k->fails < 3 || k->fails % 10 == 0)
            log_warnx("export: cannot resolve the syslog receiver %s: %s", ex->host,
                      uv_strerror(status));
        uv_freeaddrinfo(res);
        syslog_later(ex);
        return;
    }
    k->state = SY_CONNECTING;
    rc = vg_tls_connect(ex->loop, ex->tls, res->ai_addr, ex->server_name, NULL, &handlers, ex,
                        &k->conn);
    uv_freeaddrinfo(res);
    if (rc) {
        k->conn = NULL;
        log_warnx("export: cannot connect to the syslog receiver %s:%s: %s", ex->host, ex->port,
                  uv_strerror(rc));
        syslog_later(ex);
    }
}

static void syslog_connect(struct export *ex)
{
    struct sink *k = &ex->syslog;
    struct addrinfo hints;

    if (ex->stopping || k->state != SY_IDLE)
        return;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    k->gai.data = ex;
    k->state = SY_RESOLVING;
    if (uv_getaddrinfo(ex->loop, &k->gai, on_resolved, ex->host, ex->port, &hints) != 0)
        syslog_later(ex);
}

/* Delivered: flushed to the socket at a checkpoint that the connection
 * has outlived by resend_window. */
static void syslog_delivery(struct export *ex, uint64_t now)
{
    struct sink *k = &ex->syslog;
    unsigned i = 0;

    if (k->state != SY_UP || !k->conn)
        return;
    if (vg_tls_queued(k->conn) == 0 && k->ncp < CHECKPOINTS &&
        memcmp(k->ncp ? k->cp[k->ncp - 1].pos : k->done, k->pos, sizeof(k->pos)) != 0) {
        k->cp[k->ncp].ms = now;
        memcpy(k->cp[k->ncp].pos, k->pos, sizeof(k->pos));
        k->ncp++;
    }
    while (i < k->ncp && k->cp[i].ms + ex->window_ms <= now) {
        memcpy(k->done, k->cp[i].pos, sizeof(k->done));
        i++;
    }
    if (i) {
        memmove(k->cp, k->cp + i, (k->ncp - i) * sizeof(k->cp[0]));
        k->ncp -= i;
    }
}

/* ---- the cursors ---- */

static void save(struct export *ex, struct sink *k)
{
    int rc;

    if (!k->on || !k->leader)
        return;
    if (k->kind == SK_FILE && k->dirty && k->fd >= 0) {
        if (fdatasync(k->fd) != 0)
            return;
        k->dirty = 0;
        memcpy(k->done, k->pos, sizeof(k->done));
    }
    if (!memcmp(k->done, k->saved, sizeof(k->done)))
        return;
    rc = store_export_cursor_set(ex->store, k->name, k->done[ST_AUDIT], k->done[POS_PROC_TX],
                                 k->done[ST_PROC]);
    if (rc == 0)
        memcpy(k->saved, k->done, sizeof(k->saved));
}

/* Several collectors on one PostgreSQL share each sink's cursor: one at a
 * time exports to it, the others wait and take over when it stops (its
 * connection to the database ends).  Returns 1 if this one exports to k. */
static int claim(struct export *ex, struct sink *k, uint64_t now)
{
    int rc;

    if (k->leader)
        return 1;
    if (now < k->claim_ms)
        return 0;
    k->claim_ms = now + CLAIM_MS;
    rc = store_export_claim(ex->store, k->name);
    if (rc == 0 && !k->waited) {
        log_info("export: another collector of this database exports to the %s sink (their "
                 "cursor is shared); this one takes over when that one stops", k->name);
        k->waited = 1;
    }
    if (rc != 1)
        return 0;
    /* Taking over: from where the last one to export got to.  (At start
     * the cursor was read just before: at worst a little behind, so rows
     * come again, never skipped.) */
    if (k->waited) {
        if (store_export_cursor_get(ex->store, k->name, &k->done[ST_AUDIT],
                                    &k->done[POS_PROC_TX], &k->done[ST_PROC]) != 0)
            return 0; /* logged; the lock is held, asked again later */
        memcpy(k->pos, k->done, sizeof(k->pos));
        memcpy(k->saved, k->done, sizeof(k->saved));
        k->ncp = 0;
        /* A file the other one wrote (the same path on one host or shared
         * storage) may have rotated meanwhile: opened again, its size read
         * again (sink_ready). */
        if (k->kind == SK_FILE && k->fd >= 0) {
            close(k->fd);
            k->fd = -1;
        }
        log_info("export: this collector exports to the %s sink now, from audit entry %lld and "
                 "process row %lld", k->name, (long long)k->done[ST_AUDIT] + 1,
                 (long long)k->done[ST_PROC] + 1);
    }
    k->leader = 1;
    return 1;
}

static void tick(uv_timer_t *t)
{
    struct export *ex = t->data;
    uint64_t now = vg_time_mono_ms();
    int more = 0;

    if (ex->file.on && claim(ex, &ex->file, now))
        more |= pump(ex, &ex->file);
    if (ex->syslog.on && claim(ex, &ex->syslog, now)) {
        /* Connected once this collector exports (not while it waits). */
        if (ex->syslog.state == SY_IDLE && !uv_is_active((uv_handle_t *)&ex->syslog.retry))
            syslog_connect(ex);
        syslog_delivery(ex, now); /* before writing more: was the last flushed? */
        more |= pump(ex, &ex->syslog);
    }
    if (now >= ex->saved_ms + SAVE_MS) {
        ex->saved_ms = now;
        save(ex, &ex->file);
        save(ex, &ex->syslog);
    }
    uv_timer_start(&ex->timer, tick, more ? 1 : TICK_MS, 0);
}

/* ---- start and stop ---- */

int export_check_conf(const struct collector_conf *conf, char *err, size_t errlen)
{
    char host[256], port[8];
    struct vg_tls_opts o;
    struct vg_tls_config *tls = NULL;
    char why[400];

    if ((conf->export_syslog_cert != NULL) != (conf->export_syslog_key != NULL)) {
        snprintf(err, errlen, "[export] syslog_cert and syslog_key go together: set both or "
                              "neither");
        return VG_ECONFIG;
    }
    if (!conf->export_syslog || !conf->export_syslog[0])
        return 0;
    if (vg_split_hostport(conf->export_syslog, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "[export] syslog '%s': expected HOST:PORT (e.g. "
                              "siem.example.org:6514)", conf->export_syslog);
        return VG_ECONFIG;
    }
    if (!conf->export_syslog_ca) {
        snprintf(err, errlen, "[export] syslog is set but syslog_ca is not: give the CA that "
                              "issued the receiver's certificate");
        return VG_ECONFIG;
    }
    memset(&o, 0, sizeof(o));
    o.ca = conf->export_syslog_ca;
    o.cert = conf->export_syslog_cert;
    o.key = conf->export_syslog_key;
    o.no_client_auth = !o.cert;
    if (vg_tls_config_new(&o, &tls, why, sizeof(why)) != 0) {
        if (strstr(why, "not usable as a TLS client"))
            snprintf(err, errlen, "[export] syslog_cert %s is not usable as a TLS client (its "
                     "extended key usage lacks clientAuth); give one made for clients, e.g. "
                     "'vigilctl pki issue --role agent --name siem-export' when the receiver "
                     "trusts Vigil's CA", o.cert);
        else
            snprintf(err, errlen, "[export] syslog TLS: %s", why);
        return VG_ECONFIG;
    }
    vg_tls_config_free(tls);
    return 0;
}

static void sink_init(struct export *ex, struct sink *k, int kind, const char *name)
{
    k->ex = ex;
    k->kind = kind;
    k->name = name;
    k->fd = -1;
}

int export_start(uv_loop_t *loop, struct store *store, const struct collector_conf *conf,
                 struct export **out, char *err, size_t errlen)
{
    struct export *ex;
    struct vg_tls_opts o;
    int rc;

    *out = NULL;
    if (!conf->export_file && !(conf->export_syslog && conf->export_syslog[0]))
        return 0;
    if ((rc = export_check_conf(conf, err, errlen)) != 0)
        return rc;
    if (!(ex = calloc(1, sizeof(*ex))))
        return -ENOMEM;
    ex->loop = loop;
    ex->store = store;
    if (conf->export_file)
        vg_strlcpy(ex->path, conf->export_file, sizeof(ex->path));
    ex->max_size = conf->export_file_max_size;
    ex->keep = conf->export_file_keep;
    ex->window_ms = conf->export_resend_window_ms;
    ex->hold_ms = conf->export_hold_ms;
    ex->rl = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 3);
    vg_buf_init(&ex->rec, RECORD_MAX);
    vg_buf_init(&ex->out, FILE_FLUSH + RECORD_MAX);
    if (gethostname(ex->self, sizeof(ex->self)) != 0)
        ex->self[0] = '\0';
    ex->self[sizeof(ex->self) - 1] = '\0';
    sink_init(ex, &ex->file, SK_FILE, "file");
    sink_init(ex, &ex->syslog, SK_SYSLOG, "syslog");

    if (conf->export_file) {
        struct sink *k = &ex->file;
        if ((rc = file_open(ex, k, err, errlen)) != 0)
            goto fail;
        if ((rc = store_export_cursor_get(store, k->name, &k->done[ST_AUDIT],
                                          &k->done[POS_PROC_TX], &k->done[ST_PROC])) != 0) {
            snprintf(err, errlen, "[export] cannot read the export cursors from the database");
            goto fail;
        }
        memcpy(k->pos, k->done, sizeof(k->pos));
        memcpy(k->saved, k->done, sizeof(k->saved));
        k->on = 1;
        log_info("export: JSON lines to %s from audit entry %lld and process row %lld on",
                 conf->export_file, (long long)k->pos[ST_AUDIT] + 1,
                 (long long)k->pos[ST_PROC] + 1);
        claim(ex, k, vg_time_mono_ms());
    }
    if (conf->export_syslog && conf->export_syslog[0]) {
        struct sink *k = &ex->syslog;
        vg_split_hostport(conf->export_syslog, ex->host, sizeof(ex->host), ex->port,
                          sizeof(ex->port));
        vg_strlcpy(ex->server_name, conf->export_syslog_name ? conf->export_syslog_name : ex->host,
                   sizeof(ex->server_name));
        memset(&o, 0, sizeof(o));
        o.ca = conf->export_syslog_ca;
        o.cert = conf->export_syslog_cert;
        o.key = conf->export_syslog_key;
        o.no_client_auth = !o.cert;
        if ((rc = vg_tls_config_new(&o, &ex->tls, err, errlen)) != 0)
            goto fail;
        if ((rc = store_export_cursor_get(store, k->name, &k->done[ST_AUDIT],
                                          &k->done[POS_PROC_TX], &k->done[ST_PROC])) != 0) {
            snprintf(err, errlen, "[export] cannot read the export cursors from the database");
            goto fail;
        }
        memcpy(k->pos, k->done, sizeof(k->pos));
        memcpy(k->saved, k->done, sizeof(k->saved));
        uv_timer_init(loop, &k->retry);
        k->retry.data = ex;
        k->on = 1;
        k->state = SY_IDLE;
        if (claim(ex, k, vg_time_mono_ms()))
            syslog_connect(ex);
    }
    uv_timer_init(loop, &ex->timer);
    ex->timer.data = ex;
    ex->saved_ms = vg_time_mono_ms();
    uv_timer_start(&ex->timer, tick, TICK_MS, 0);
    *out = ex;
    return 0;
fail:
    if (ex->file.fd >= 0)
        close(ex->file.fd);
    vg_tls_config_free(ex->tls);
    vg_buf_free(&ex->rec);
    vg_buf_free(&ex->out);
    free(ex);
    return rc;
}

void export_stats(const struct export *ex, struct export_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!ex)
        return;
    st->on[0] = ex->file.on;
    st->on[1] = ex->syslog.on;
    st->active[0] = (uint64_t)ex->file.leader;
    st->active[1] = (uint64_t)ex->syslog.leader;
    st->records[0] = ex->file.records;
    st->records[1] = ex->syslog.records;
    st->gone[0] = ex->file.gone;
    st->gone[1] = ex->syslog.gone;
    st->syslog_up = ex->syslog.state == SY_UP;
}

static void closed_cb(uv_handle_t *h)
{
    struct export *ex = h->data;
    ex->closing--;
    maybe_free(ex);
}

static void log_sink(const struct sink *k, const char *what)
{
    if (!k->on)
        return;
    if (!k->leader) {
        log_info("export: %s: another collector of this database exported to it this run", what);
        return;
    }
    log_info("export: %s: %llu records written this run, delivered up to audit entry %lld and "
             "process row %lld%s",
             what, (unsigned long long)k->records, (long long)k->done[ST_AUDIT],
             (long long)k->done[ST_PROC], k->gone ? " (some rows were deleted before export)" : "");
    if (k->gone)
        log_warnx("export: %s: %llu rows were deleted by retention (or could not be rendered) "
                  "before they were exported", what, (unsigned long long)k->gone);
}

void export_stop(struct export *ex)
{
    struct sink *k;

    if (!ex || ex->stopping)
        return;
    /* Last words to the sinks, then the cursors. */
    if (ex->file.on && ex->file.leader) {
        pump(ex, &ex->file);
        if (ex->file.fd >= 0 && fdatasync(ex->file.fd) == 0) {
            ex->file.dirty = 0;
            memcpy(ex->file.done, ex->file.pos, sizeof(ex->file.done));
        }
    }
    save(ex, &ex->file);
    save(ex, &ex->syslog);
    log_sink(&ex->file, ex->path);
    log_sink(&ex->syslog, "syslog");
    ex->stopping = 1;
    if (ex->file.fd >= 0)
        close(ex->file.fd);
    ex->file.fd = -1;
    uv_timer_stop(&ex->timer);
    ex->closing++;
    uv_close((uv_handle_t *)&ex->timer, closed_cb);
    k = &ex->syslog;
    if (k->on) {
        uv_timer_stop(&k->retry);
        ex->closing++;
        uv_close((uv_handle_t *)&k->retry, closed_cb);
        if (k->state == SY_RESOLVING) {
            ex->closing++; /* on_resolved sees stopping */
            uv_cancel((uv_req_t *)&k->gai);
        } else if (k->conn) {
            ex->closing++; /* on_close sees stopping */
            vg_tls_close(k->conn, "the collector is stopping");
        }
    }
}
