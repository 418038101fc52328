/*
 * vigilctl db backup (admin): a copy of the database made while ingest
 * goes on, then fetched by vigilctl in pieces and checked against its
 * SHA-256, as triage packages are (collect.c).
 *
 *   DbBackup{}                 start: the copy is made on libuv's thread
 *                              pool (store_backup, connections of its own)
 *                              into DB-backup-ID.tmp beside the database
 *   DbBackup{id}               its state: running (pages done), ready
 *                              (size, sha256), failed (why)
 *   DbBackup{id, off, max}     once ready: the bytes from off; the copy
 *                              is deleted after its last byte is served
 *
 * One copy at a time.  A copy nobody asks about for 10 minutes is
 * deleted, and so are copies a killed collector left (at start).  The
 * start and the first piece served are audited.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "crypto.h"
#include "db.h"
#include "err.h"
#include "store.h"
#include "util.h"

#define BACKUP_IDLE_MS (10 * 60 * 1000)
/* A finished copy nobody fetches may be replaced by a new one after this. */
#define BACKUP_REPLACE_MS (60 * 1000)
#define BACKUP_PIECE_MAX (1024 * 1024)

enum { B_RUNNING, B_READY, B_FAILED };

struct backup {
    struct server *s;
    uv_work_t w;
    char id[33];
    char db[4096];
    char path[4200];
    char who[300];
    int working;      /* on the thread pool: freed by its after-callback */
    int state;        /* B_* (the loop's; the worker sets rc and err) */
    int rc;
    char err[300];
    struct store_backup_progress p;
    atomic_int cancel;
    uint64_t size;
    char sha256[VG_SHA256_HEX];
    uint64_t asked_ms; /* monotonic: last asked about */
    int served;        /* the first piece was served (audited) */
};

static void backup_drop(struct server *s)
{
    struct backup *b = s->backup;
    if (!b)
        return;
    s->backup = NULL;
    if (b->working) {
        /* The worker finishes first: its after-callback frees. */
        atomic_store(&b->cancel, 1);
        return;
    }
    unlink(b->path);
    free(b);
}

static void backup_work(uv_work_t *w)
{
    static _Thread_local int niced;
    struct backup *b = w->data;
    uint8_t d[VG_SHA256_LEN];
    struct stat st;
    int rc;

    /* The event loop, which acknowledges agents' batches, comes first. */
    if (!niced) {
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
            log_warn("[backup] cannot lower the backup thread's priority");
        niced = 1;
    }
    rc = store_backup(b->db, b->path, &b->p, &b->cancel, b->err, sizeof(b->err));
    if (rc == 0 && (rc = vg_sha256_file(b->path, UINT64_MAX, d)) != 0)
        snprintf(b->err, sizeof(b->err), "cannot read the copy: %s", vg_strerror(rc));
    if (rc == 0 && stat(b->path, &st) != 0) {
        rc = -errno;
        snprintf(b->err, sizeof(b->err), "cannot read the copy: %s", strerror(errno));
    }
    if (rc == 0) {
        vg_hex(d, sizeof(d), b->sha256);
        b->size = (uint64_t)st.st_size;
    }
    b->rc = rc;
}

static void backup_done(uv_work_t *w, int status)
{
    struct backup *b = w->data;
    struct server *s = b->s;

    b->working = 0;
    if (s->backup != b) { /* dropped meanwhile */
        unlink(b->path);
        free(b);
        return;
    }
    if (status != 0 && !b->rc) {
        b->rc = status;
        snprintf(b->err, sizeof(b->err), "the copy was not made: %s", uv_strerror(status));
    }
    if (b->rc) {
        b->state = B_FAILED;
        unlink(b->path);
        log_warnx("%s: database backup %s failed: %s", b->who, b->id, b->err);
        return;
    }
    b->state = B_READY;
    log_info("%s: database backup %s ready: %llu bytes, sha256 %s", b->who, b->id,
             (unsigned long long)b->size, b->sha256);
}

static Vigil__V1__DbBackupResult *result(const struct backup *b)
{
    Vigil__V1__DbBackupResult *r = calloc(1, sizeof(*r));
    static const char *const names[] = { "running", "ready", "failed" };
    if (!r)
        return NULL;
    vigil__v1__db_backup_result__init(r);
    r->backup_id = strdup(b->id);
    r->state = strdup(names[b->state]);
    r->error = strdup(b->state == B_FAILED ? b->err : "");
    r->sha256 = strdup(b->state == B_READY ? b->sha256 : "");
    r->pages_done = atomic_load(&b->p.pages_done);
    r->pages_total = atomic_load(&b->p.pages_total);
    r->schema_version = atomic_load(&b->p.schema_version);
    r->snapshot_time_ms = atomic_load(&b->p.snapshot_ms);
    r->total_size = b->state == B_READY ? b->size : 0;
    if (!r->backup_id || !r->state || !r->error || !r->sha256) {
        free(r->backup_id);
        free(r->state);
        free(r->error);
        free(r->sha256);
        free(r);
        return NULL;
    }
    return r;
}

static int answer(Vigil__V1__OperatorResponse *resp, const struct backup *b)
{
    Vigil__V1__DbBackupResult *r = result(b);
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_DB_BACKUP;
    resp->db_backup = r;
    resp->ok = 1;
    return 0;
}

static int start(struct server *s, struct conn *op, Vigil__V1__OperatorResponse *resp)
{
    struct backup *b = s->backup;
    uint8_t rnd[16];
    char detail[200];
    int fd, rc;

    if (db_is_url(conf_store_target(s->conf))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "the store is a PostgreSQL database ([store] url): back it up with the "
                   "server's tools (pg_dump -Fc; see OPERATIONS.md, Backup and restore)");
        return 0;
    }
    if (b && (b->working || b->state == B_RUNNING ||
              vg_time_mono_ms() - b->asked_ms < BACKUP_REPLACE_MS)) {
        snprintf(detail, sizeof(detail), "another backup (%s) is %s; try again in a minute",
                 b->id, b->state == B_READY ? "being fetched" : "being made");
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE, detail);
        return 0;
    }
    backup_drop(s);
    if (!(b = calloc(1, sizeof(*b))) || vg_random(rnd, sizeof(rnd)) != 0) {
        free(b);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    b->s = s;
    vg_hex(rnd, sizeof(rnd), b->id);
    vg_strlcpy(b->db, s->conf->db, sizeof(b->db));
    snprintf(b->path, sizeof(b->path), "%s-backup-%s.tmp", s->conf->db, b->id);
    vg_strlcpy(b->who, conn_who(op), sizeof(b->who));
    b->asked_ms = vg_time_mono_ms();
    fd = open(b->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("cannot make %s for a database backup", b->path);
        free(b);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector cannot write the copy beside its database; see its log");
        return 0;
    }
    close(fd);
    snprintf(detail, sizeof(detail), "backup %s started", b->id);
    if (store_audit_append(s->store, b->who, "db.backup", "", detail, "started") != 0) {
        unlink(b->path);
        free(b);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the backup could not be audited, so it is not made");
        return 0;
    }
    b->w.data = b;
    if ((rc = uv_queue_work(s->loop, &b->w, backup_work, backup_done)) != 0) {
        unlink(b->path);
        free(b);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "cannot start the backup");
        return 0;
    }
    b->working = 1;
    s->backup = b;
    log_info("%s: database backup %s started", b->who, b->id);
    return answer(resp, b);
}

/* A piece of a ready copy.  The last one deletes it. */
static int piece(struct server *s, struct conn *op, const Vigil__V1__DbBackup *q,
                 Vigil__V1__OperatorResponse *resp)
{
    struct backup *b = s->backup;
    uint32_t want = q->max_bytes < BACKUP_PIECE_MAX ? q->max_bytes : BACKUP_PIECE_MAX;
    Vigil__V1__DbBackupResult *r;
    uint8_t *buf = NULL;
    ssize_t n = 0;
    int fd;

    if (q->offset > b->size) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "offset past the end");
        return 0;
    }
    if (!b->served || q->offset == 0) {
        char detail[300];
        snprintf(detail, sizeof(detail), "backup %s (%llu bytes, sha256 %s) fetched", b->id,
                 (unsigned long long)b->size, b->sha256);
        if (store_audit_append(s->store, conn_who(op), "db.backup", "", detail, "served") != 0) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                       "the download could not be audited, so it is not served");
            return 0;
        }
        b->served = 1;
    }
    if (b->size - q->offset < want)
        want = (uint32_t)(b->size - q->offset);
    fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !(buf = malloc(want ? want : 1)) ||
        (want && (n = pread(fd, buf, want, (off_t)q->offset)) != (ssize_t)want)) {
        if (fd >= 0)
            close(fd);
        free(buf);
        log_warn("cannot read %s", b->path);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "cannot read the copy; see the collector's log");
        return 0;
    }
    close(fd);
    if (!(r = result(b))) {
        free(buf);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    r->offset = q->offset;
    r->data.data = buf;
    r->data.len = (size_t)n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_DB_BACKUP;
    resp->db_backup = r;
    resp->ok = 1;
    if (q->offset + (uint64_t)n >= b->size) {
        log_info("%s: database backup %s fetched whole; the copy is deleted", conn_who(op),
                 b->id);
        backup_drop(s);
    }
    return 0;
}

int backup_request(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__DbBackup *q = req->db_backup;
    struct backup *b = s->backup;
    struct scope sc;

    /* The copy holds every host: not for an operator limited to some. */
    if (scope_get(s, op, &sc)) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%s is limited to hosts tagged %s; a database backup holds "
                 "every host", vg_tls_peer(op->tls)->cn, sc.text);
        resp_refuse(s, op, resp, VIGIL__V1__ERROR__CODE__CODE_PERMISSION_DENIED, "db.backup", "",
                    msg);
        return 0;
    }
    if (!q->backup_id[0])
        return start(s, op, resp);
    if (!b || strcmp(b->id, q->backup_id) != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND,
                   "no such backup (fetched whole already, or deleted after 10 minutes "
                   "unasked); start another with vigilctl db backup");
        return 0;
    }
    b->asked_ms = vg_time_mono_ms();
    if (b->state == B_READY && q->max_bytes)
        return piece(s, op, q, resp);
    return answer(resp, b);
}

void backup_free_response(Vigil__V1__OperatorResponse *resp)
{
    Vigil__V1__DbBackupResult *r = resp->db_backup;
    if (resp->response_case != VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_DB_BACKUP || !r)
        return;
    free(r->backup_id);
    free(r->state);
    free(r->error);
    free(r->sha256);
    free(r->data.data);
    free(r);
}

void backup_sweep(struct server *s)
{
    struct backup *b = s->backup;
    if (b && !b->working && vg_time_mono_ms() - b->asked_ms > BACKUP_IDLE_MS) {
        log_info("database backup %s: nobody asked for it in 10 minutes; the copy is deleted",
                 b->id);
        backup_drop(s);
    }
}

void backup_cancel(struct server *s)
{
    if (s->backup)
        atomic_store(&s->backup->cancel, 1);
}

void backup_free(struct server *s)
{
    backup_drop(s);
}

void backup_cleanup(const char *db)
{
    char dir[4096], base[4096], prefix[4200], path[8400];
    const char *dn;
    struct dirent *e;
    DIR *d;

    vg_strlcpy(dir, db, sizeof(dir));
    vg_strlcpy(base, db, sizeof(base));
    snprintf(prefix, sizeof(prefix), "%s-backup-", basename(base));
    dn = dirname(dir);
    if (!(d = opendir(dn)))
        return;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || l < 4 ||
            strcmp(e->d_name + l - 4, ".tmp") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dn, e->d_name);
        if (unlink(path) == 0)
            log_info("deleted %s, a database backup a stopped collector left", path);
    }
    closedir(d);
}
