/*
 * Patch-compliance operator requests: advisory feed imports, exceptions
 * and reports.  The collector renders and signs reports, so operators
 * never hold its key; see compliance.h for the rules.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advisory.h"
#include "collector.h"
#include "compliance.h"
#include "crypto.h"
#include "daemon.h"
#include "err.h"
#include "lz.h"
#include "report_render.h"
#include "rsig.h"
#include "store.h"
#include "util.h"

#define DAY_MS 86400000LL
#define UPLOADS_MAX 4
#define UPLOAD_IDLE_MS (10LL * 60 * 1000)
#define EXCEPTION_MAX_MS (366LL * DAY_MS)
/* A response must fit one frame (vigilctl reads up to 8 MiB on the
 * wire); leave room for the rest.  The files go lz4-compressed, so that
 * is about 70-150 MiB of report. */
#define REPORT_MAX_BYTES (7u * 1024 * 1024)

struct upload {
    char id[VG_UUID_STR];
    char owner[160];
    char path[4200];
    int fd;
    uint64_t total, received;
    char sha256[65], format[16], source[256];
    struct vg_sha256 *h;
    int64_t last_ms;
    struct upload *next;
};

static void upload_drop(struct server *s, struct upload *u)
{
    struct upload **pp = &s->uploads;
    while (*pp && *pp != u)
        pp = &(*pp)->next;
    if (*pp)
        *pp = u->next;
    if (u->fd >= 0)
        close(u->fd);
    unlink(u->path);
    if (u->h) {
        uint8_t d[VG_SHA256_LEN];
        vg_sha256_final(u->h, d);
    }
    free(u);
}

/* Drops uploads idle for 10 minutes (the operator went away). */
static void uploads_sweep(struct server *s, int64_t now)
{
    struct upload *u = s->uploads, *n;
    for (; u; u = n) {
        n = u->next;
        if (now - u->last_ms > UPLOAD_IDLE_MS) {
            log_warnx("advisory upload %s abandoned after %llu of %llu bytes", u->id,
                      (unsigned long long)u->received, (unsigned long long)u->total);
            upload_drop(s, u);
        }
    }
}

int report_init(struct server *s, char *err, size_t errlen)
{
    const char *db = s->conf->db;
    const char *slash = strrchr(db, '/');
    DIR *d;
    struct dirent *e;
    int rc;

    if ((rc = os_support_load(s->conf->distro_info_dir, &s->os)) != 0 ||
        (rc = os_support_load_ended(s->os, s->conf->security_support_dir)) != 0) {
        snprintf(err, errlen, "cannot load end-of-life data: %s", vg_strerror(rc));
        return rc;
    }
    if (slash)
        snprintf(s->imports_dir, sizeof(s->imports_dir), "%.*s/imports", (int)(slash - db), db);
    else
        snprintf(s->imports_dir, sizeof(s->imports_dir), "imports");
    if (mkdir(s->imports_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", s->imports_dir, strerror(errno));
        return -errno;
    }
    /* Pieces of uploads a previous run did not finish. */
    if ((d = opendir(s->imports_dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n > 5 && strcmp(e->d_name + n - 5, ".part") == 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    return 0;
}

void report_free(struct server *s)
{
    while (s->uploads)
        upload_drop(s, s->uploads);
    os_support_free(s->os);
    s->os = NULL;
}

static Vigil__V1__AdvisoryImportInfo *import_info(const struct store_import *im)
{
    Vigil__V1__AdvisoryImportInfo *i = calloc(1, sizeof(*i));
    if (!i)
        return NULL;
    vigil__v1__advisory_import_info__init(i);
    i->id = im->id;
    i->format = strdup(im->format);
    i->doc_key = strdup(im->doc_key);
    i->source = strdup(im->source);
    i->sha256 = strdup(im->sha256);
    i->size = im->size;
    i->imported_time_ms = im->imported_ms;
    i->imported_by = strdup(im->imported_by);
    i->records = im->records;
    i->skipped = im->skipped;
    i->current = im->current;
    return i;
}

static void import_info_free(Vigil__V1__AdvisoryImportInfo *i)
{
    if (!i)
        return;
    free(i->format);
    free(i->doc_key);
    free(i->source);
    free(i->sha256);
    free(i->imported_by);
    free(i);
}

struct imp_ctx {
    struct store *st;
    int64_t id;
    uint64_t records, skipped;
    uint64_t pinged_ms;
};

static int imp_cb(void *ctx, const struct adv_fix *f)
{
    struct imp_ctx *x = ctx;
    int rc;
    if (!f->release[0] || !f->package[0]) {
        x->skipped++;
        return 0;
    }
    rc = store_import_fix(x->st, x->id, f->release, f->package, f->arch, f->fixed_version,
                          f->advisory, f->cves, f->severity, f->urgency, f->cvss,
                          f->released_ms);
    if (rc == 0 && ++x->records % 50000 == 0) {
        /* A large feed holds the loop for seconds: keep systemd's
         * watchdog (WatchdogSec=30s) from taking that for a hang. */
        uint64_t now = vg_time_mono_ms();
        if (now - x->pinged_ms > 5000) {
            vg_notify("WATCHDOG=1");
            x->pinged_ms = now;
        }
    }
    return rc;
}

/* The whole file is here and its hash checked: parse and record it, all
 * or nothing.  Returns 0 with *out filled, or an error with msg. */
static int import_finish(struct server *s, struct conn *op, struct upload *u,
                         struct store_import *out, char *msg, size_t msglen)
{
    struct imp_ctx x = { s->store, 0, 0, 0, vg_time_mono_ms() };
    enum adv_format fmt = ADV_AUTO;
    char key[ADV_DOC_KEY_MAX > 256 ? ADV_DOC_KEY_MAX : 256], perr[300], opname[160], detail[800];
    void *map;
    int rc;

    if (u->format[0] && adv_format_parse(u->format, &fmt) != 0) {
        snprintf(msg, msglen, "unknown format '%s' (debian-json, dsa-list or csaf)", u->format);
        return VG_EPROTO;
    }
    map = mmap(NULL, u->total, PROT_READ, MAP_PRIVATE, u->fd, 0);
    if (map == MAP_FAILED) {
        snprintf(msg, msglen, "cannot read the uploaded file: %s", strerror(errno));
        return -EIO;
    }
    if (fmt == ADV_AUTO && (rc = adv_detect(map, u->total, &fmt, perr, sizeof(perr))) != 0) {
        munmap(map, u->total);
        snprintf(msg, msglen, "cannot tell the feed's format: %s (give --format)", perr);
        return rc;
    }
    conn_operator_name(op, opname, sizeof(opname));
    if ((rc = store_begin(s->store)) != 0) {
        munmap(map, u->total);
        snprintf(msg, msglen, "the store is unavailable");
        return rc;
    }
    /* doc_key is known only after parsing: record it at the end. */
    rc = store_import_begin(s->store, adv_format_name(fmt), "", u->source, u->sha256, u->total,
                            opname, vg_time_now_ms(), &x.id);
    key[0] = '\0';
    perr[0] = '\0';
    if (rc == 0) {
        struct adv_stats stats;
        memset(&stats, 0, sizeof(stats));
        rc = adv_parse_stats(fmt, map, u->total, imp_cb, &x, key, sizeof(key), &stats, perr,
                             sizeof(perr));
        x.skipped += stats.skipped;
        if (stats.skipped)
            log_warnx("feed %s: %zu entries skipped as malformed, the first: %s", u->source,
                      stats.skipped, stats.skip_reason);
    }
    munmap(map, u->total);
    if (rc == 0)
        rc = store_import_finish(s->store, x.id, x.records, x.skipped);
    else
        store_import_end();
    if (rc == 0)
        rc = store_import_set_key(s->store, x.id, key[0] ? key : adv_format_name(fmt));
    if (rc == 0) {
        snprintf(detail, sizeof(detail),
                 "feed import %lld: format %s, document %s, source %.200s, sha256 %s, %llu bytes, "
                 "%llu fixes recorded, %llu entries skipped",
                 (long long)x.id, adv_format_name(fmt), key, u->source, u->sha256,
                 (unsigned long long)u->total, (unsigned long long)x.records,
                 (unsigned long long)x.skipped);
        rc = store_audit_append(s->store, conn_who(op), "advisories.import", key, detail,
                                "imported");
    }
    if (rc == 0)
        rc = store_commit(s->store);
    if (rc) {
        store_rollback(s->store);
        if (perr[0])
            snprintf(msg, msglen, "the feed was not imported: %s", perr);
        else
            snprintf(msg, msglen, "the feed was not imported: %s", vg_strerror(rc));
        return rc;
    }
    log_info("%s: imported %s feed %s (%llu fixes, sha256 %s)", conn_who(op),
             adv_format_name(fmt), key, (unsigned long long)x.records, u->sha256);
    memset(out, 0, sizeof(*out));
    out->id = x.id;
    out->format = adv_format_name(fmt);
    out->doc_key = key[0] ? strdup(key) : strdup(adv_format_name(fmt));
    out->source = u->source;
    out->sha256 = u->sha256;
    out->imported_by = strdup(opname);
    out->size = u->total;
    out->records = x.records;
    out->skipped = x.skipped;
    out->imported_ms = vg_time_now_ms();
    out->current = 1;
    return 0;
}

int report_import(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                  Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__AdvisoryImport *r = req->advisory_import;
    int64_t now = vg_time_now_ms();
    struct upload *u = NULL;
    Vigil__V1__AdvisoryImportResult *res;
    char msg[600];
    size_t nup = 0, diglen = 0;
    uint8_t dig[VG_SHA256_LEN];

    uploads_sweep(s, now);
    if (!r->upload_id[0]) {
        if (r->offset != 0 || !r->total_size || r->total_size > s->conf->max_import_size) {
            snprintf(msg, sizeof(msg),
                     r->total_size > s->conf->max_import_size
                         ? "the feed is larger than [report] max_import_size (%llu bytes)"
                         : "a new upload starts at offset 0 with its total size (%llu max)",
                     (unsigned long long)s->conf->max_import_size);
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_TOO_BIG, msg);
            return 0;
        }
        if (vg_unhex(r->sha256, dig, sizeof(dig), &diglen) != 0 || diglen != sizeof(dig) || strlen(r->format) >= sizeof(u->format) ||
            strlen(r->source) >= sizeof(u->source)) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                       "an upload needs the file's SHA-256 (64 lower-case hex digits), a format "
                       "of at most 15 characters and a source of at most 255");
            return 0;
        }
        for (struct upload *x = s->uploads; x; x = x->next)
            nup++;
        if (nup >= UPLOADS_MAX) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                       "too many feed uploads in progress; try again in a few minutes");
            return 0;
        }
        u = calloc(1, sizeof(*u));
        if (!u || !(u->h = vg_sha256_new())) {
            free(u);
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
            return 0;
        }
        vg_uuid4(u->id);
        conn_operator_name(op, u->owner, sizeof(u->owner));
        snprintf(u->path, sizeof(u->path), "%s/%s.part", s->imports_dir, u->id);
        u->fd = open(u->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        u->total = r->total_size;
        vg_strlcpy(u->sha256, r->sha256, sizeof(u->sha256));
        vg_strlcpy(u->format, r->format, sizeof(u->format));
        vg_strlcpy(u->source, r->source[0] ? r->source : "(unnamed)", sizeof(u->source));
        u->next = s->uploads;
        s->uploads = u;
        if (u->fd < 0) {
            snprintf(msg, sizeof(msg), "cannot create %.400s: %s", u->path, strerror(errno));
            upload_drop(s, u);
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, msg);
            return 0;
        }
    } else {
        char who[160];
        conn_operator_name(op, who, sizeof(who));
        for (u = s->uploads; u && strcmp(u->id, r->upload_id) != 0; u = u->next)
            ;
        if (!u || strcmp(u->owner, who) != 0) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND,
                       "no such upload in progress (it may have been idle for 10 minutes)");
            return 0;
        }
        if (r->offset != u->received) {
            snprintf(msg, sizeof(msg), "upload %s: expected offset %llu, got %llu", u->id,
                     (unsigned long long)u->received, (unsigned long long)r->offset);
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, msg);
            return 0;
        }
    }
    if (r->data.len > u->total - u->received) {
        upload_drop(s, u);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_TOO_BIG,
                   "the upload sent more than its announced size; dropped");
        return 0;
    }
    if (r->data.len && vg_fd_write(u->fd, r->data.data, r->data.len) != 0) {
        snprintf(msg, sizeof(msg), "cannot write %.400s: %s", u->path, strerror(errno));
        upload_drop(s, u);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, msg);
        return 0;
    }
    vg_sha256_update(u->h, r->data.data, r->data.len);
    u->received += r->data.len;
    u->last_ms = now;
    res = calloc(1, sizeof(*res));
    if (!res) {
        upload_drop(s, u);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__advisory_import_result__init(res);
    res->upload_id = strdup(u->id);
    res->received = u->received;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ADVISORY_IMPORT;
    resp->advisory_import = res;
    if (u->received == u->total) {
        uint8_t d[VG_SHA256_LEN];
        char hex[2 * VG_SHA256_LEN + 1];
        struct store_import im;
        int rc;
        vg_sha256_final(u->h, d);
        u->h = NULL;
        vg_hex(d, sizeof(d), hex);
        if (strcmp(hex, u->sha256) != 0) {
            snprintf(msg, sizeof(msg),
                     "the upload's SHA-256 is %s, not %s as announced: damaged in transit; "
                     "nothing was imported",
                     hex, u->sha256);
            upload_drop(s, u);
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, msg);
            return 0;
        }
        rc = import_finish(s, op, u, &im, msg, sizeof(msg));
        if (rc == 0) {
            /* im points into u: copy before u goes. */
            res->done = 1;
            res->import = import_info(&im);
            free((char *)im.doc_key);
            free((char *)im.imported_by);
        }
        upload_drop(s, u);
        if (rc) {
            resp_error(resp, rc == VG_EPROTO ? VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST
                                            : VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                      msg);
            return 0;
        }
    }
    resp->ok = 1;
    return 0;
}

struct list_ctx {
    Vigil__V1__AdvisoryImportInfo **v;
    size_t n, cap;
    int oom;
};

static int list_cb(void *ctx, const struct store_import *im)
{
    struct list_ctx *x = ctx;
    Vigil__V1__AdvisoryImportInfo **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
    if (!nv)
        return 1;
    x->v = nv;
    if (!(x->v[x->n] = import_info(im))) {
        x->oom = 1;
        return 1;
    }
    x->n++;
    return 0;
}

int report_imports(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                   Vigil__V1__OperatorResponse *resp)
{
    struct list_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__AdvisoryImports *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    (void)req;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__advisory_imports__init(r);
    rc = store_imports(s->store, list_cb, &x);
    r->imports = x.v;
    r->n_imports = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ADVISORY_IMPORTS;
    resp->advisory_imports = r;
    if (rc || x.oom)
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not read its store; see its log");
    else
        resp->ok = 1;
    return 0;
}

/* ---- exceptions ------------------------------------------------------------------ */

static Vigil__V1__ExceptionInfo *exc_info(const struct cx_exception *e)
{
    Vigil__V1__ExceptionInfo *i = calloc(1, sizeof(*i));
    if (!i)
        return NULL;
    vigil__v1__exception_info__init(i);
    i->id = e->id;
    i->host = strdup(e->host ? e->host : "");
    i->package = strdup(e->package ? e->package : "");
    i->cve = strdup(e->cve ? e->cve : "");
    i->reason = strdup(e->reason ? e->reason : "");
    i->approver = strdup(e->approver ? e->approver : "");
    i->control = strdup(e->control ? e->control : "");
    i->created_time_ms = e->created_ms;
    i->created_by = strdup(e->created_by ? e->created_by : "");
    i->expires_time_ms = e->expires_ms;
    i->revoked_time_ms = e->revoked_ms;
    i->revoked_by = strdup(e->revoked_by ? e->revoked_by : "");
    i->revoke_reason = strdup(e->revoke_reason ? e->revoke_reason : "");
    i->package_kind = strdup(e->package_kind ? e->package_kind : "");
    i->hostname = strdup(e->hostname ? e->hostname : "");
    return i;
}

static void exc_info_free(Vigil__V1__ExceptionInfo *i)
{
    if (!i)
        return;
    free(i->host);
    free(i->package);
    free(i->cve);
    free(i->reason);
    free(i->approver);
    free(i->control);
    free(i->created_by);
    free(i->revoked_by);
    free(i->revoke_reason);
    free(i->package_kind);
    free(i->hostname);
    free(i);
}

static int cve_ok(const char *c)
{
    size_t n = strlen(c);
    if (strncmp(c, "CVE-", 4) != 0 || n < 13 || n > 24 || c[8] != '-')
        return 0;
    for (size_t i = 4; i < n; i++)
        if (i != 8 && (c[i] < '0' || c[i] > '9'))
            return 0;
    return 1;
}

int report_exception_add(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                         Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ExceptionAdd *r = req->exception_add;
    struct cx_exception e;
    int64_t now = vg_time_now_ms(), id = 0, hid;
    char opname[160], detail[2400], until[VG_TIME_STR_MAX], hn[256], tagh[300];
    const char *host = r->all_hosts ? "*" : r->host;
    const char *kind = r->package_kind[0] ? r->package_kind : "source";
    int rc;

    hn[0] = '\0';
    if (r->tag[0]) {
        /* A tag scope: stored as "tag:KEY=VALUE". */
        const char *eq = strchr(r->tag, '=');
        if (r->all_hosts || r->host[0] || !eq || eq == r->tag || !eq[1] ||
            strlen(r->tag) > 256) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                       "--tag takes KEY=VALUE (and replaces --host and --all)");
            return 0;
        }
        snprintf(tagh, sizeof(tagh), "tag:%s", r->tag);
        host = tagh;
    }
    if (!host[0] || (!r->package[0] && !r->cve[0]) || !r->reason[0] || !r->approver[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "an exception needs --host HOST, --tag KEY=VALUE or --all; --source P, "
                   "--binary P or --cve C; --reason TEXT and --approver NAME");
        return 0;
    }
    if (strcmp(kind, "source") != 0 && strcmp(kind, "binary") != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "the package kind must be source or binary");
        return 0;
    }
    if (r->cve[0] && !cve_ok(r->cve)) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "--cve takes a CVE id like CVE-2024-12345");
        return 0;
    }
    if (r->expires_time_ms <= now || r->expires_time_ms > now + EXCEPTION_MAX_MS) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "--expires must be in the future and at most a year away (exceptions are "
                   "reviewed at least yearly)");
        return 0;
    }
    if (strlen(r->reason) > 1000 || strlen(r->approver) > 200 || strlen(r->package) > 256 ||
        strlen(r->control) > 200) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_TOO_BIG,
                   "reason (1000), approver (200), package (256) or control (200) too long");
        return 0;
    }
    if (strcmp(host, "*") != 0 && strncmp(host, "tag:", 4) != 0 &&
        (rc = store_host_find(s->store, host, &hid, hn, sizeof(hn))) <= 0) {
        resp_error(resp,
                   rc == 0 ? VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND
                          : VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                  rc == 0 ? "no such host (see vigilctl hosts)" : "store failed");
        return 0;
    }
    conn_operator_name(op, opname, sizeof(opname));
    memset(&e, 0, sizeof(e));
    e.host = host;
    e.package = r->package;
    e.package_kind = r->package[0] ? kind : NULL;
    e.hostname = hn;
    e.cve = r->cve;
    e.reason = r->reason;
    e.approver = r->approver;
    e.control = r->control;
    e.created_ms = now;
    e.created_by = opname;
    e.expires_ms = r->expires_time_ms;
    snprintf(detail, sizeof(detail),
             "exception for host %s, %s%s%s%s%s until %s, approved by %.200s%s%.200s; reason: "
             "%.800s",
             host, r->package[0] ? (strcmp(kind, "binary") == 0 ? "binary " : "source ") : "",
             r->package, r->package[0] && r->cve[0] ? ", " : "",
             r->cve[0] ? "CVE " : "", r->cve, vg_time_format(e.expires_ms, until, sizeof(until)),
             r->approver, r->control[0] ? ", control " : "", r->control, r->reason);
    if ((rc = store_begin(s->store)) == 0) {
        rc = store_exception_add(s->store, &e, &id);
        if (rc == 0)
            rc = store_audit_append(s->store, conn_who(op), "exception.add", host, detail,
                                    "added");
        if (rc == 0)
            rc = store_commit(s->store);
        if (rc)
            store_rollback(s->store);
    }
    if (rc) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not store the exception; see its log");
        return 0;
    }
    e.id = id;
    resp->exception = exc_info(&e);
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTION;
    resp->ok = resp->exception != NULL;
    log_info("%s: exception %lld added for %s", conn_who(op), (long long)id, host);
    return 0;
}

struct exc_ctx {
    Vigil__V1__ExceptionInfo **v;
    size_t n, cap;
    int oom;
    int64_t want; /* 0: all */
};

static int exc_cb(void *ctx, const struct cx_exception *e)
{
    struct exc_ctx *x = ctx;
    Vigil__V1__ExceptionInfo **nv;
    if (x->want && e->id != x->want)
        return 0;
    nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
    if (!nv)
        return 1;
    x->v = nv;
    if (!(x->v[x->n] = exc_info(e))) {
        x->oom = 1;
        return 1;
    }
    x->n++;
    return 0;
}

int report_exceptions(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ExceptionsQuery *q = req->exceptions;
    struct exc_ctx x = { NULL, 0, 0, 0, 0 };
    Vigil__V1__Exceptions *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__exceptions__init(r);
    rc = store_exceptions(s->store, q->all, vg_time_now_ms(), exc_cb, &x);
    r->exceptions = x.v;
    r->n_exceptions = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTIONS;
    resp->exceptions = r;
    if (rc || x.oom)
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not read its store; see its log");
    else
        resp->ok = 1;
    return 0;
}

int report_exception_revoke(struct server *s, struct conn *op,
                            const Vigil__V1__OperatorRequest *req,
                            Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ExceptionRevoke *r = req->exception_revoke;
    char opname[160], target[32], detail[1200];
    struct exc_ctx x = { NULL, 0, 0, 0, r->id };
    int64_t now = vg_time_now_ms();
    int rc;

    snprintf(target, sizeof(target), "exception %lld", (long long)r->id);
    if (!r->reason[0]) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "a reason is required (--reason TEXT); it goes to the audit log");
        return 0;
    }
    conn_operator_name(op, opname, sizeof(opname));
    snprintf(detail, sizeof(detail), "exception %lld revoked; reason: %.1000s", (long long)r->id,
             r->reason);
    if ((rc = store_begin(s->store)) == 0) {
        rc = store_exception_revoke(s->store, r->id, opname, r->reason, now);
        if (rc == 0)
            rc = store_audit_append(s->store, conn_who(op), "exception.revoke", target, detail,
                                    "revoked");
        if (rc == 0)
            rc = store_commit(s->store);
        if (rc)
            store_rollback(s->store);
    }
    if (rc == -ENOENT || rc == -EALREADY) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND,
                   rc == -ENOENT ? "no exception with that id (see vigilctl exception list)"
                                : "that exception is already revoked");
        return 0;
    }
    if (rc == 0)
        rc = store_exceptions(s->store, 1, now, exc_cb, &x);
    if (rc || x.n != 1) {
        for (size_t i = 0; i < x.n; i++)
            exc_info_free(x.v[i]);
        free(x.v);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not revoke the exception; see its log");
        return 0;
    }
    resp->exception = x.v[0];
    free(x.v);
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTION;
    resp->ok = 1;
    return 0;
}

/* ---- reports ------------------------------------------------------------------ */

/* Adds one file of the set, lz4-compressed; takes data.  Returns 0 or
 * an error. */
static int add_file(Vigil__V1__ReportResult *res, const char *name, char *data, size_t len)
{
    Vigil__V1__ReportFile *f = calloc(1, sizeof(*f)), **nv;
    uint8_t d[VG_SHA256_LEN];
    char hex[VG_SHA256_HEX];
    struct vg_buf b;
    int rc;

    nv = realloc(res->files, (res->n_files + 1) * sizeof(*nv));
    if (!f || !nv) {
        free(f);
        free(data);
        if (nv)
            res->files = nv;
        return -ENOMEM;
    }
    res->files = nv;
    vigil__v1__report_file__init(f);
    res->files[res->n_files++] = f;
    f->name = strdup(name);
    vg_sha256(data, len, d);
    f->sha256 = strdup(vg_hex(d, sizeof(d), hex));
    f->size = len;
    f->lz4 = 1;
    vg_buf_init(&b, vg_lz_bound(len) + 16);
    rc = vg_lz_compress(data, len, &b);
    free(data);
    if (rc < 0) {
        vg_buf_free(&b);
        return rc;
    }
    f->content.data = b.data; /* owned from here */
    f->content.len = b.len;
    return f->name && f->sha256 ? 0 : -ENOMEM;
}

static int hash_cb(const char *buf, size_t size, void *h)
{
    vg_sha256_update(h, buf, size);
    return 0;
}

/* Sets header.collector and header.report_id (docs/report-schema.json):
 * the id is the first 16 bytes of the SHA-256 of the document, compact
 * with sorted keys, without header.generated, generated_ms and
 * report_id, so the report made --as-of the same time again has the same
 * id.  The collector's name is set first: the id covers it.  Writes the
 * id into id.  Returns 0, VG_EPROTO (no header) or -ENOMEM. */
static int set_identity(json_t *doc, const char *collector, char id[VG_RSIG_ID_HEX])
{
    json_t *hd = json_object_get(doc, "header"), *h2 = NULL, *d2 = NULL;
    struct vg_sha256 *h = NULL;
    uint8_t d[VG_SHA256_LEN];
    int rc = -ENOMEM;

    if (!json_is_object(hd))
        return VG_EPROTO;
    if (json_object_set_new(hd, "collector", json_string(collector)) != 0)
        return -ENOMEM;
    /* Shallow copies: the body is shared, not duplicated. */
    if (!(h2 = json_copy(hd)) || !(d2 = json_copy(doc)) || !(h = vg_sha256_new()))
        goto out;
    json_object_del(h2, "generated");
    json_object_del(h2, "generated_ms");
    json_object_del(h2, "report_id");
    if (json_object_set(d2, "header", h2) != 0)
        goto out;
    rc = json_dump_callback(d2, hash_cb, h,
                            JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    vg_sha256_final(h, d);
    h = NULL;
    if (rc != 0) {
        rc = -ENOMEM;
        goto out;
    }
    vg_hex(d, 16, id);
    rc = json_object_set_new(hd, "report_id", json_string(id)) != 0 ? -ENOMEM : 0;
out:
    if (h)
        vg_sha256_final(h, d);
    json_decref(h2);
    json_decref(d2);
    return rc;
}

/* A report in the making: loaded on the loop thread (the store is the
 * loop's), judged, rendered, compressed and signed on the thread pool,
 * answered on the loop thread. */
struct report_job {
    uv_work_t w;
    struct server *s;
    uint64_t serial, request_id;
    char who[256], format[8], pattern[260];
    enum report_layout layout;
    char name[VG_RSIG_NAME_MAX + 1];       /* the main file's */
    char hosts_name[VG_RSIG_NAME_MAX + 1]; /* csv: the hosts table's */
    int sign;
    struct cx_fleet fleet;
    struct cx_opts o;
    struct scope scope; /* the operator's groups: hosts outside are left out */
    char db[4096];
    char organisation[1024]; /* a copy: a reload may free the configuration's */
    int64_t points[64], window_ms;
    size_t npoints;
    char *cert_pem;
    struct vg_key *key;
    char collector[VG_CERT_NAME_MAX + 1]; /* the certificate's CN, "" if unreadable */
    int64_t now;
    /* results */
    Vigil__V1__ReportResult *res;
    char manifest_sha256[VG_SHA256_HEX];
    int rc;
    int too_big;
};

#define REPORTS_MAX 2

static const char *layout_name(enum report_layout l)
{
    return l == REPORT_LAYOUT_FULL ? "full" : "summary";
}

/* The manifest of the files rendered, and with sign its signature and
 * the certificate to check it with.  Returns 0 or an error. */
static int seal(struct report_job *j, const char *report_id)
{
    Vigil__V1__ReportResult *res = j->res;
    struct vg_rsig m;
    uint8_t d[VG_SHA256_LEN];
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(&m, 0, sizeof(m));
    if (res->n_files > VG_RSIG_FILES_MAX)
        return -EINVAL;
    vg_strlcpy(m.report_id, report_id, sizeof(m.report_id));
    vg_strlcpy(m.format, j->format, sizeof(m.format));
    if (strcmp(j->format, "html") == 0)
        vg_strlcpy(m.layout, layout_name(j->layout), sizeof(m.layout));
    m.as_of_ms = j->o.as_of_ms;
    m.generated_ms = j->now;
    vg_strlcpy(m.collector, j->collector, sizeof(m.collector));
    for (size_t i = 0; i < res->n_files; i++) {
        vg_strlcpy(m.files[i].name, res->files[i]->name, sizeof(m.files[i].name));
        vg_strlcpy(m.files[i].sha256, res->files[i]->sha256, sizeof(m.files[i].sha256));
    }
    m.nfiles = res->n_files;
    if ((rc = vg_rsig_format(&m, &text, &len)) != 0)
        return rc;
    res->manifest.data = (uint8_t *)text;
    res->manifest.len = len;
    vg_sha256(text, len, d);
    vg_hex(d, sizeof(d), j->manifest_sha256);
    if (!(res->report_id = strdup(report_id)))
        return -ENOMEM;
    if (!j->sign)
        return 0;
    if (!(res->manifest_signature.data = malloc(VG_SIG_MAX)) ||
        !(res->collector_certificate = strdup(j->cert_pem)))
        return -ENOMEM;
    return vg_sign(j->key, text, len, res->manifest_signature.data,
                   &res->manifest_signature.len);
}

static void report_work(uv_work_t *w)
{
    static _Thread_local int niced;
    struct report_job *j = w->data;
    json_t *doc = NULL;
    char id[VG_RSIG_ID_HEX];
    size_t total = 0;
    int rc;

    /* A large report takes a core for a while; the event loop, which
     * acknowledges agents' batches, comes first.  The pool's threads do
     * nothing but reports in the collector, so they stay at nice 10. */
    if (!niced) {
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
            log_warn("[report] cannot lower the report thread's priority");
        niced = 1;
    }

    rc = store_report_load(j->db, j->o.as_of_ms, j->window_ms, j->points, j->npoints,
                           j->pattern[0] ? j->pattern : NULL, j->o.cancel, &j->fleet);
    if (rc) {
        j->rc = rc;
        return;
    }
    for (size_t i = 0; j->scope.scoped && i < j->fleet.nhosts; i++) {
        struct cx_host *h = &j->fleet.hosts[i];
        if (!h->excluded && !scope_match_kv(&j->scope, h->tag_key, h->tag_value, h->ntags)) {
            h->excluded = 1;
            j->fleet.excluded_pattern++;
        }
    }
    doc = cx_report(&j->fleet, &j->o);
    rc = atomic_load(&j->s->reports_cancel) ? -ECANCELED : -ENOMEM;
    cx_fleet_free(&j->fleet);
    j->res = calloc(1, sizeof(*j->res));
    if (!doc || !j->res)
        goto out;
    vigil__v1__report_result__init(j->res);
    /* Strings are set only when made (NULL packs as empty), so that
     * report_free_response frees what it finds. */
    j->res->collector_certificate = NULL;
    j->res->report_id = NULL;
    /* Every format renders the document with its identity set. */
    if ((rc = set_identity(doc, j->collector, id)) != 0)
        goto out;
    if (strcmp(j->format, "json") == 0) {
        char *t = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        size_t tl = t ? strlen(t) : 0;
        char *k = t ? realloc(t, tl + 2) : NULL;
        rc = -ENOMEM;
        if (!k) {
            free(t);
            goto out;
        }
        k[tl] = '\n';
        k[tl + 1] = '\0';
        rc = add_file(j->res, j->name, k, tl + 1);
    } else if (strcmp(j->format, "csv") == 0) {
        char *fc = NULL, *hc = NULL;
        size_t fl = 0, hl = 0;
        rc = report_render_csv(doc, &fc, &fl, &hc, &hl);
        if (rc == 0) {
            rc = add_file(j->res, j->name, fc, fl);
            if (rc == 0)
                rc = add_file(j->res, j->hosts_name, hc, hl);
            else
                free(hc);
        }
    } else {
        char *h = NULL;
        size_t hl = 0;
        rc = report_render_html(doc, j->layout, &h, &hl);
        if (rc == 0)
            rc = add_file(j->res, j->name, h, hl);
    }
    if (rc == 0)
        rc = seal(j, id);
    for (size_t i = 0; rc == 0 && i < j->res->n_files; i++)
        total += j->res->files[i]->content.len;
    if (rc == 0)
        total += j->res->manifest.len + j->res->manifest_signature.len +
                 (j->res->collector_certificate ? strlen(j->res->collector_certificate) : 0);
    j->too_big = total > REPORT_MAX_BYTES;
out:
    json_decref(doc);
    j->rc = rc;
}

static void job_free(struct report_job *j)
{
    cx_fleet_free(&j->fleet);
    vg_key_free(j->key);
    free(j->cert_pem);
    free(j);
}

static void report_done(uv_work_t *w, int status)
{
    struct report_job *j = w->data;
    struct server *s = j->s;
    Vigil__V1__OperatorResponse resp = VIGIL__V1__OPERATOR_RESPONSE__INIT;
    struct conn *c;
    char detail[1200], asof_s[VG_TIME_STR_MAX];

    s->reports_running--;
    resp.request_id = j->request_id;
    resp.response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REPORT;
    resp.report = j->res;
    if (status != 0 || j->rc || !j->res || j->too_big) {
        /* An error goes without the files. */
        report_free_response(&resp);
        resp.response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE__NOT_SET;
        resp.report = NULL;
        j->res = NULL;
    }
    if (status == 0 && j->rc == -ECANCELED) {
        log_info("%s: report given up: the collector is stopping", j->who);
        resp_error(&resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector is stopping; ask again when it is back");
    } else if (status != 0 || j->rc || !j->res) {
        log_warnx("cannot make a report: %s",
                  vg_strerror(status ? status : j->rc ? j->rc : -ENOMEM));
        resp_error(&resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not read its store or render the report; see its log");
    } else if (j->too_big) {
        resp_error(&resp, VIGIL__V1__ERROR__CODE__CODE_TOO_BIG,
                   "the report is larger than 7 MiB compressed; narrow it with --hosts PATTERN, "
                   "or use csv");
    } else {
        snprintf(detail, sizeof(detail),
                 "patch report %s, %s, as of %s, hosts %.200s, manifest sha256 %s%s",
                 j->res->report_id, j->format,
                 vg_time_format(j->o.as_of_ms, asof_s, sizeof(asof_s)),
                 j->pattern[0] ? j->pattern : "(all)", j->manifest_sha256,
                 j->sign ? ", signed" : "");
        if (store_audit_append(s->store, j->who, "report", "patch", detail, "generated") != 0)
            resp_error(&resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                       "the collector could not audit the report, so it gives none");
        else
            resp.ok = 1;
    }
    c = conn_find(s, j->serial);
    if (c) {
        c->jobs--;
        c->last_rx_ms = vg_time_mono_ms(); /* idle from the answer on */
        conn_send_response(c, &resp);
    }
    else
        log_info("%s went away before its report was ready", j->who);
    report_free_response(&resp);
    if (resp.error) {
        free(resp.error->message);
        free(resp.error);
    }
    job_free(j);
}

/* Checks the request's layout and file name into j.  Returns NULL or
 * the message for the operator. */
static const char *report_names(struct report_job *j, const Vigil__V1__ReportRequest *r)
{
    int html = strcmp(r->format, "html") == 0;
    if (!r->layout[0] || strcmp(r->layout, "summary") == 0)
        j->layout = REPORT_LAYOUT_SUMMARY;
    else if (strcmp(r->layout, "full") == 0)
        j->layout = REPORT_LAYOUT_FULL;
    else
        return "--layout must be summary or full";
    if (r->layout[0] && !html)
        return "--layout applies to --format html only";
    if (!r->file_name[0])
        snprintf(j->name, sizeof(j->name), "report.%s", r->format);
    else if (vg_rsig_name_check(r->file_name) != 0)
        return "the report's file name must be a base name of at most 200 bytes without '/', "
               "'\\' or control characters";
    else
        vg_strlcpy(j->name, r->file_name, sizeof(j->name));
    if (strcmp(r->format, "csv") == 0 &&
        vg_rsig_name_suffix(j->name, "-hosts", j->hosts_name, sizeof(j->hosts_name)) != 0)
        return "the report's file name is too long for its hosts file (-hosts)";
    return NULL;
}

int report_render(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                  Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__ReportRequest *r = req->report;
    uint64_t request_id = req->request_id;
    const struct collector_conf *cf = s->conf;
    int64_t now = vg_time_now_ms(), as_of = r->as_of_time_ms ? r->as_of_time_ms : now;
    size_t np = cf->trend_weeks < 64 ? (size_t)cf->trend_weeks : 63;
    struct report_job *j;
    struct vg_cert *c = NULL;
    struct vg_cert_info ci;
    const char *bad;
    int rc;

    if (strcmp(r->kind[0] ? r->kind : "patch", "patch") != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "unknown report kind (this collector makes: patch)");
        return 0;
    }
    if (strcmp(r->format, "json") != 0 && strcmp(r->format, "csv") != 0 &&
        strcmp(r->format, "html") != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "--format must be csv, json or html");
        return 0;
    }
    if (as_of > now || as_of < 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "--as-of must not be in the future");
        return 0;
    }
    if (strlen(r->hosts_pattern) > 256) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_TOO_BIG, "--hosts pattern too long");
        return 0;
    }
    if (s->reports_running >= REPORTS_MAX) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector is already making two reports; try again shortly");
        return 0;
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    if ((bad = report_names(j, r)) != NULL) {
        job_free(j);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, bad);
        return 0;
    }
    j->s = s;
    j->serial = op->serial;
    j->request_id = request_id;
    j->now = now;
    j->sign = r->sign;
    vg_strlcpy(j->who, conn_who(op), sizeof(j->who));
    scope_get(s, op, &j->scope);
    vg_strlcpy(j->format, r->format, sizeof(j->format));
    vg_strlcpy(j->pattern, r->hosts_pattern, sizeof(j->pattern));
    if (np == 0)
        np = 1;
    j->points[0] = as_of;
    for (size_t k = 1; k < np; k++)
        j->points[k] = as_of - (int64_t)k * 7 * DAY_MS;
    j->npoints = np;
    j->window_ms = j->points[np - 1] - (int64_t)cf->history_ms - 14 * DAY_MS;
    vg_strlcpy(j->db, conf_store_target(cf), sizeof(j->db));
    vg_strlcpy(j->organisation, cf->organisation ? cf->organisation : "",
               sizeof(j->organisation));
    j->o.organisation = j->organisation;
    j->o.hosts_pattern = j->pattern[0] ? j->pattern : NULL;
    j->o.collector_version = VG_VERSION;
    j->o.generated_ms = now;
    j->o.as_of_ms = as_of;
    j->o.sla_days = 14;
    j->o.stale_days = (int)(cf->stale_ms / DAY_MS);
    j->o.stale_ms = (int64_t)cf->stale_ms;
    j->o.history_days = (int)(cf->history_ms / DAY_MS);
    j->o.trend_weeks = (int)np;
    j->o.os = s->os;
    j->o.cancel = &s->reports_cancel;
    /* Every report names its collector; a signed one also carries the
     * certificate and is signed with the key, which never leaves here. */
    rc = vg_cert_load(cf->cert, &c);
    if (rc == 0 && vg_cert_info(c, &ci) == 0)
        vg_strlcpy(j->collector, ci.cn, sizeof(j->collector));
    vg_cert_free(c);
    if (r->sign) {
        size_t pl;
        if (rc == 0)
            rc = vg_file_read(cf->cert, 64 * 1024, &j->cert_pem, &pl);
        if (rc == 0)
            rc = vg_key_load(cf->key, &j->key);
        if (rc) {
            log_warnx("cannot load the collector's key to sign a report: %s", vg_strerror(rc));
            job_free(j);
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                       "the collector could not load its key to sign; see its log");
            return 0;
        }
    }
    j->w.data = j;
    if ((rc = uv_queue_work(s->loop, &j->w, report_work, report_done)) != 0) {
        job_free(j);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "cannot start the report");
        return 0;
    }
    s->reports_running++;
    op->jobs++; /* an operator waiting for a long report is not idle */
    return 1;
}

void report_free_response(Vigil__V1__OperatorResponse *resp)
{
    switch (resp->response_case) {
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ADVISORY_IMPORT:
        if (resp->advisory_import) {
            free(resp->advisory_import->upload_id);
            import_info_free(resp->advisory_import->import);
            free(resp->advisory_import);
        }
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ADVISORY_IMPORTS:
        if (resp->advisory_imports) {
            for (size_t i = 0; i < resp->advisory_imports->n_imports; i++)
                import_info_free(resp->advisory_imports->imports[i]);
            free(resp->advisory_imports->imports);
            free(resp->advisory_imports);
        }
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTION:
        exc_info_free(resp->exception);
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTIONS:
        if (resp->exceptions) {
            for (size_t i = 0; i < resp->exceptions->n_exceptions; i++)
                exc_info_free(resp->exceptions->exceptions[i]);
            free(resp->exceptions->exceptions);
            free(resp->exceptions);
        }
        break;
    case VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REPORT:
        if (resp->report) {
            for (size_t i = 0; i < resp->report->n_files; i++) {
                Vigil__V1__ReportFile *f = resp->report->files[i];
                free(f->name);
                free(f->content.data);
                free(f->sha256);
                free(f);
            }
            free(resp->report->files);
            free(resp->report->manifest.data);
            free(resp->report->manifest_signature.data);
            free(resp->report->collector_certificate);
            free(resp->report->report_id);
            free(resp->report);
        }
        break;
    default:
        break;
    }
}
