/*
 * The store's part of patch compliance: loading a fleet for the findings
 * engine (compliance.h), advisory imports and exceptions.
 *
 * As-of: every row is taken as the collector knew it at as_of: history
 * rows that appeared later are left out, and rows that ended later are
 * treated as still there.  So a report for a past date, generated today,
 * is the report that was (or would have been) generated on that date.
 */
#include <errno.h>
#include <stddef.h>
#include <fnmatch.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

static int db_fail(struct db *db, const char *what)
{
    log_warnx("[store] %s: %s", what, db_errmsg(db));
    return -EIO;
}

static const char *col(struct db_stmt *st, int i)
{
    const char *t = db_column_text(st, i);
    return t ? t : "";
}

/* A growing array of elem-sized items (malloc'd; moved into the arena
 * when complete). */
struct vec {
    void *v;
    size_t n, cap, elem;
};

static void *vec_push(struct vec *x)
{
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 256;
        void *nv = realloc(x->v, nc * x->elem);
        if (!nv)
            return NULL;
        x->v = nv;
        x->cap = nc;
    }
    memset((char *)x->v + x->n * x->elem, 0, x->elem);
    return (char *)x->v + x->n++ * x->elem;
}

static void *vec_keep(struct cx_arena *a, struct vec *x)
{
    void *p = cx_alloc(a, x->n * x->elem + 1);
    if (p && x->n)
        memcpy(p, x->v, x->n * x->elem);
    free(x->v);
    x->v = NULL;
    return p;
}

struct hostmap {
    int64_t db_id;
    size_t ix;
};

static int hm_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct hostmap *)a)->db_id, y = ((const struct hostmap *)b)->db_id;
    return x < y ? -1 : x > y;
}

static long host_ix(const struct hostmap *m, size_t n, int64_t db_id)
{
    struct hostmap key = { db_id, 0 };
    const struct hostmap *r;

    if (!m || n == 0) /* bsearch may not be given NULL */
        return -1;
    r = bsearch(&key, m, n, sizeof(*m), hm_cmp);
    return r ? (long)r->ix : -1;
}

/* Rows of a per-host query (ordered by host_id) into each host's slice.
 * fill() makes one row from st into the element; returns 0, 1 to skip
 * it, or an error. */
typedef int (*fill_fn)(struct cx_arena *a, struct db_stmt *st, void *elem, void *prev);

static int load_rows(struct db *db, struct cx_fleet *f, const struct hostmap *hm, const char *sql,
                     int64_t as_of, int64_t window, size_t elem, fill_fn fill, size_t off_ptr,
                     size_t off_n)
{
    struct db_stmt *st = NULL;
    struct vec cur = { NULL, 0, 0, elem };
    long cur_host = -1;
    int rc = 0, step;

    if (db_prepare(db, sql, &st) != DB_OK)
        return db_fail(db, "cannot prepare a report query");
    db_bind_int64(st, 1, as_of);
    db_bind_int64(st, 2, window);
    while (rc == 0 && (step = db_step(st)) == DB_ROW) {
        long ix = host_ix(hm, f->nhosts, db_column_int64(st, 0));
        void *e;
        if (ix < 0)
            continue;
        if (ix != cur_host) {
            if (cur_host >= 0) {
                char *h = (char *)&f->hosts[cur_host];
                *(void **)(h + off_ptr) = vec_keep(f->arena, &cur);
                *(size_t *)(h + off_n) = cur.n;
                cur.n = cur.cap = 0;
            }
            cur_host = ix;
        }
        e = vec_push(&cur);
        if (!e) {
            rc = -ENOMEM;
            break;
        }
        rc = fill(f->arena, st, e, cur.n > 1 ? (char *)e - elem : NULL);
        if (rc == 1) {
            cur.n--;
            rc = 0;
        }
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot read a report query");
    if (rc == 0 && cur_host >= 0) {
        char *h = (char *)&f->hosts[cur_host];
        *(void **)(h + off_ptr) = vec_keep(f->arena, &cur);
        *(size_t *)(h + off_n) = cur.n;
    } else {
        free(cur.v);
    }
    db_finalize(st);
    return rc;
}

#define S(x) cx_strdup(a, col(st, x))

static int fill_pkg(struct cx_arena *a, struct db_stmt *st, void *elem, void *prev)
{
    struct cx_pkg *p = elem;
    (void)prev;
    p->name = S(1);
    p->arch = S(2);
    p->version = S(3);
    p->source = S(4);
    p->source_version = S(5);
    p->install_ms = db_column_int64(st, 6);
    p->from_ms = db_column_int64(st, 7);
    p->to_ms = db_column_type(st, 8) == DB_NULL ? CX_FOREVER
                                                         : db_column_int64(st, 8);
    return p->name && p->arch && p->version && p->source && p->source_version ? 0 : -ENOMEM;
}

static int fill_pend(struct cx_arena *a, struct db_stmt *st, void *elem, void *prev)
{
    struct cx_pend *p = elem;
    (void)prev;
    p->name = S(1);
    p->arch = S(2);
    p->installed = S(3);
    p->candidate = S(4);
    p->advisory = S(5);
    p->security = (int)db_column_int64(st, 6);
    p->severity = S(7);
    p->released_ms = db_column_int64(st, 8);
    p->first_ms = db_column_int64(st, 9);
    p->from_ms = db_column_int64(st, 10);
    p->to_ms = db_column_type(st, 11) == DB_NULL ? CX_FOREVER
                                                          : db_column_int64(st, 11);
    p->release_file_ms = db_column_int64(st, 12);
    return p->name && p->candidate && p->severity ? 0 : -ENOMEM;
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static int fill_os(struct cx_arena *a, struct db_stmt *st, void *elem, void *prev)
{
    struct cx_os *o = elem;
    const struct cx_os *p = prev;
    /* Unchanged reports (the hourly "still here") add nothing but time. */
    if (p && same(p->os_id, col(st, 2)) && same(p->version_id, col(st, 3)) &&
        same(p->codename, col(st, 4)) && same(p->pretty, col(st, 5)) &&
        same(p->kernel, col(st, 6)) && same(p->newest_kernel, col(st, 7)) &&
        p->reboot_required == (int)db_column_int64(st, 8))
        return 1;
    o->from_ms = db_column_int64(st, 1);
    o->os_id = S(2);
    o->version_id = S(3);
    o->codename = S(4);
    o->pretty = S(5);
    o->kernel = S(6);
    o->newest_kernel = S(7);
    o->reboot_required = (int)db_column_int64(st, 8);
    return o->os_id && o->newest_kernel ? 0 : -ENOMEM;
}

#define PEND_SQL                                                                 \
    "SELECT host_id, name, arch, installed_version, candidate_version,"                   \
    " advisory, security, coalesce(severity, ''), coalesce(released_ms, 0),"              \
    " CASE WHEN coalesce(security_first_seen_ms, 0) > 0"                                  \
    " THEN security_first_seen_ms ELSE coalesce(agent_first_seen_ms, 0) END,"             \
    " appeared_ms,"                                                                       \
    " CASE WHEN disappeared_ms > ?1 THEN NULL ELSE disappeared_ms END,"                   \
    " coalesce(release_file_ms, 0)"                                                           \
    " FROM pending_history WHERE appeared_ms <= ?1 AND security <> 0 AND ?2 = ?2"         \
    " ORDER BY host_id, appeared_ms, id"

static int fill_hist(struct cx_arena *a, struct db_stmt *st, void *elem, void *prev)
{
    struct cx_hist *h = elem;
    (void)prev;
    h->name = S(1);
    h->arch = S(2);
    h->action = S(3);
    h->old_version = S(4);
    h->new_version = S(5);
    h->time_ms = db_column_int64(st, 6);
    return h->name && h->arch && h->action && h->old_version && h->new_version ? 0 : -ENOMEM;
}

/* Each host's tags, from the hosts table's JSON object. */
static int load_tags(struct db *db, struct cx_fleet *f, const struct hostmap *hm)
{
    struct db_stmt *st = NULL;
    int step, rc = 0;
    if (db_prepare(db, "SELECT id, tags FROM hosts", &st) != DB_OK)
        return db_fail(db, "cannot prepare the tags query");
    while (rc == 0 && (step = db_step(st)) == DB_ROW) {
        long ix = host_ix(hm, f->nhosts, db_column_int64(st, 0));
        json_t *o;
        struct cx_host *h;
        const char *k;
        json_t *v;
        size_t n, i = 0;
        if (ix < 0 || !(o = json_loads(col(st, 1), 0, NULL)))
            continue;
        h = &f->hosts[ix];
        n = json_is_object(o) ? json_object_size(o) : 0;
        h->tag_key = cx_alloc(f->arena, (n + 1) * sizeof(char *));
        h->tag_value = cx_alloc(f->arena, (n + 1) * sizeof(char *));
        if (!h->tag_key || !h->tag_value) {
            rc = -ENOMEM;
        } else if (n) {
            json_object_foreach(o, k, v) {
                if (!json_is_string(v))
                    continue;
                h->tag_key[i] = cx_strdup(f->arena, k);
                h->tag_value[i] = cx_strdup(f->arena, json_string_value(v));
                if (!h->tag_key[i] || !h->tag_value[i]) {
                    rc = -ENOMEM;
                    break;
                }
                i++;
            }
            h->ntags = i;
        }
        json_decref(o);
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot read tags");
    db_finalize(st);
    return rc;
}

static int fill_ver(struct cx_arena *a, struct db_stmt *st, void *elem, void *prev)
{
    struct cx_ver *v = elem;
    (void)prev;
    v->from_ms = db_column_int64(st, 1);
    v->version = S(2);
    return v->version ? 0 : -ENOMEM;
}

/* Last check-in at each point: the latest OS state report (agents send
 * one at least every [os] interval, 1 h by default, changed or not). */
static int load_last_seen(struct db *db, struct cx_fleet *f, const struct hostmap *hm)
{
    struct db_stmt *st = NULL;
    int rc = 0;
    /* One index seek per host (os_history_recv), not a scan per point. */
    if (db_prepare(db, "SELECT h.id, (SELECT max(o.recv_time_ms) FROM os_history o"
                           " WHERE o.host_id = h.id AND o.recv_time_ms <= ?1) FROM hosts h", &st) != DB_OK)
        return db_fail(db, "cannot prepare the check-in query");
    for (size_t k = 0; k < f->npoints && rc == 0; k++) {
        int step;
        db_reset(st);
        db_bind_int64(st, 1, f->points[k]);
        while ((step = db_step(st)) == DB_ROW) {
            long ix = host_ix(hm, f->nhosts, db_column_int64(st, 0));
            if (ix >= 0)
                f->hosts[ix].last_seen[k] = db_column_int64(st, 1);
        }
        if (step != DB_DONE)
            rc = db_fail(db, "cannot read check-ins");
    }
    db_finalize(st);
    return rc;
}

static int load_imports(struct db *db, struct cx_fleet *f, int64_t as_of)
{
    struct cx_arena *a = f->arena;
    struct db_stmt *st = NULL;
    struct vec v = { NULL, 0, 0, sizeof(struct cx_import) };
    int step, rc = 0;
    if (db_prepare(db, "SELECT id, format, doc_key, source, sha256, size, imported_ms,"
                           " imported_by, records FROM advisory_imports i WHERE imported_ms <= ?1"
                           " AND id = (SELECT max(id) FROM advisory_imports j"
                           " WHERE j.doc_key = i.doc_key AND j.format = i.format"
                           " AND j.imported_ms <= ?1) ORDER BY id", &st) != DB_OK)
        return db_fail(db, "cannot prepare the imports query");
    db_bind_int64(st, 1, as_of);
    while ((step = db_step(st)) == DB_ROW) {
        struct cx_import *im = vec_push(&v);
        if (!im) {
            rc = -ENOMEM;
            break;
        }
        im->id = db_column_int64(st, 0);
        im->format = S(1);
        im->doc_key = S(2);
        im->source = S(3);
        im->sha256 = S(4);
        im->size = db_column_int64(st, 5);
        im->imported_ms = db_column_int64(st, 6);
        im->imported_by = S(7);
        im->records = db_column_int64(st, 8);
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot read imports");
    db_finalize(st);
    f->nimports = v.n;
    f->imports = vec_keep(a, &v);
    return rc ? rc : (f->imports ? 0 : -ENOMEM);
}

/* The fixes of the current imports, for the releases the fleet runs. */
static int load_fixes(struct db *db, struct cx_fleet *f)
{
    struct cx_arena *a = f->arena;
    struct db_stmt *st = NULL;
    struct vec v = { NULL, 0, 0, sizeof(struct cx_fix) };
    char *sql = NULL, *ids = sqlite3_mprintf("-1"), *rels = sqlite3_mprintf("''");
    int step, rc = 0;

    for (size_t i = 0; ids && i < f->nimports; i++) {
        char *n = sqlite3_mprintf("%s,%lld", ids, (long long)f->imports[i].id);
        sqlite3_free(ids);
        ids = n;
    }
    {
        /* The releases the fleet runs, each once. */
        char seen[64][32];
        size_t nseen = 0;
        for (size_t i = 0; rels && i < f->nhosts; i++) {
            for (size_t j = 0; rels && j < f->hosts[i].nos; j++) {
                const struct cx_os *o = &f->hosts[i].os[j];
                char r[32], *n;
                size_t k;
                cx_release_of(o->os_id, o->version_id, o->codename, r, sizeof(r));
                for (k = 0; k < nseen && strcmp(seen[k], r) != 0; k++)
                    ;
                if (!r[0] || k < nseen)
                    continue;
                if (nseen < 64)
                    memcpy(seen[nseen++], r, sizeof(r));
                n = sqlite3_mprintf("%s,%Q", rels, r);
                sqlite3_free(rels);
                rels = n;
            }
        }
    }
    if (ids && rels)
        sql = sqlite3_mprintf(
            /* imported_ms: when an import of this document first listed
             * the fix (a re-import does not restart an undated fix's
             * clock). */
            "SELECT a.import_id, (SELECT min(i2.imported_ms) FROM advisories a2"
            " JOIN advisory_imports i2 ON i2.id = a2.import_id WHERE i2.doc_key = i.doc_key"
            " AND i2.format = i.format AND i2.imported_ms <= i.imported_ms"
            " AND a2.release = a.release AND a2.package = a.package AND a2.arch = a.arch"
            " AND a2.fixed_version = a.fixed_version), a.release, a.package, a.arch,"
            " a.fixed_version, a.advisory, a.cves, a.severity, a.urgency, coalesce(a.cvss, -1),"
            " a.released_ms FROM advisories a JOIN advisory_imports i ON i.id = a.import_id"
            " WHERE a.import_id IN (%s) AND a.release IN (%s)",
            ids, rels);
    sqlite3_free(ids);
    sqlite3_free(rels);
    if (!sql)
        return -ENOMEM;
    if (db_prepare(db, sql, &st) != DB_OK) {
        sqlite3_free(sql);
        return db_fail(db, "cannot prepare the advisories query");
    }
    sqlite3_free(sql);
    while ((step = db_step(st)) == DB_ROW) {
        struct cx_fix *x = vec_push(&v);
        if (!x) {
            rc = -ENOMEM;
            break;
        }
        x->import_id = db_column_int64(st, 0);
        x->imported_ms = db_column_int64(st, 1);
        x->release = S(2);
        x->package = S(3);
        x->arch = S(4);
        x->fixed = S(5);
        x->advisory = S(6);
        x->cves = S(7);
        x->severity = S(8);
        x->urgency = S(9);
        x->cvss = db_column_double(st, 10);
        x->released_ms = db_column_int64(st, 11);
        if (!x->urgency) {
            rc = -ENOMEM;
            break;
        }
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot read advisories");
    db_finalize(st);
    f->nfixes = v.n;
    f->fixes = vec_keep(a, &v);
    return rc ? rc : (f->fixes ? 0 : -ENOMEM);
}

static int exc_row(struct cx_arena *a, struct db_stmt *st, struct cx_exception *e)
{
    e->id = db_column_int64(st, 0);
    e->host = S(1);
    e->package = S(2);
    e->cve = S(3);
    e->reason = S(4);
    e->approver = S(5);
    e->control = S(6);
    e->created_ms = db_column_int64(st, 7);
    e->created_by = S(8);
    e->expires_ms = db_column_int64(st, 9);
    e->revoked_ms = db_column_int64(st, 10);
    e->revoked_by = S(11);
    e->revoke_reason = S(12);
    e->package_kind = S(13);
    e->hostname = S(14);
    return e->revoke_reason && e->package_kind && e->hostname ? 0 : -ENOMEM;
}

#define EXC_COLS                                                                          \
    "SELECT id, host, package, cve, reason, approver, control, created_ms, created_by,"   \
    " expires_ms, coalesce(revoked_ms, 0), revoked_by, revoke_reason,"                    \
    " coalesce(package_kind, ''),"                                                       \
    " coalesce((SELECT h.hostname FROM hosts h WHERE h.agent_id = exceptions.host), '')"  \
    " FROM exceptions"

static int load_exceptions(struct db *db, struct cx_fleet *f, int64_t as_of)
{
    struct db_stmt *st = NULL;
    struct vec v = { NULL, 0, 0, sizeof(struct cx_exception) };
    int step, rc = 0;
    if (db_prepare(db, EXC_COLS " WHERE created_ms <= ?1 ORDER BY id", &st) !=
        DB_OK)
        return db_fail(db, "cannot prepare the exceptions query");
    db_bind_int64(st, 1, as_of);
    while ((step = db_step(st)) == DB_ROW) {
        struct cx_exception *e = vec_push(&v);
        if (!e || exc_row(f->arena, st, e)) {
            rc = -ENOMEM;
            break;
        }
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot read exceptions");
    db_finalize(st);
    f->nexc = v.n;
    f->exc = vec_keep(f->arena, &v);
    return rc ? rc : (f->exc ? 0 : -ENOMEM);
}

static int load_cancelled(void *arg)
{
    return atomic_load((const atomic_int *)arg) != 0;
}

int store_report_load(const char *path, int64_t as_of, int64_t window_ms, const int64_t *points,
                      size_t npoints, const char *pattern, const atomic_int *cancel,
                      struct cx_fleet *out)
{
    struct db *db = NULL;
    struct db_stmt *st = NULL;
    struct cx_arena *a;
    struct vec hv = { NULL, 0, 0, sizeof(struct cx_host) };
    struct hostmap *hm = NULL;
    int step, rc = 0;
    char why[300];

    memset(out, 0, sizeof(*out));
    if (cancel && atomic_load(cancel))
        return -ECANCELED;
    /* A connection of its own, read-only: this runs on a worker thread,
     * beside the event loop's writes (WAL lets readers be). */
    if (db_open(path, DB_OPEN_READONLY, &db, why, sizeof(why)) != DB_OK) {
        log_warnx("[report] cannot open %s: %s", path, why);
        return -EIO;
    }
    db_busy_timeout(db, 5000);
    if (cancel) /* a stopping collector interrupts the queries */
        db_progress_handler(db, 100000, load_cancelled, (void *)cancel);
    a = out->arena = cx_arena_new();
    if (!a) {
        db_close(db);
        return -ENOMEM;
    }
    out->npoints = npoints;
    out->points = cx_alloc(a, (npoints + 1) * sizeof(*out->points));
    if (!out->points)
        goto oom;
    memcpy(out->points, points, npoints * sizeof(*points));
    /* One read transaction: every table as of the same instant. */
    db_begin_read(db);
    if (db_prepare(db, "SELECT h.id, h.agent_id, coalesce((SELECT o.hostname FROM os_history o"
                           " WHERE o.host_id = h.id AND o.recv_time_ms <= ?1 AND o.hostname"
                           " IS NOT NULL ORDER BY o.recv_time_ms DESC LIMIT 1), h.hostname, ''),"
                           " h.first_seen_ms, coalesce(h.revoked_ms, 0),"
                           " EXISTS(SELECT 1 FROM package_history p WHERE p.host_id = h.id"
                           " AND p.manager = 'rpm'), coalesce(h.retired_ms, 0) FROM hosts h"
                           " WHERE h.first_seen_ms <= ?1"
                           " ORDER BY h.id", &st) != DB_OK) {
        rc = db_fail(db, "cannot prepare the hosts query");
        goto out;
    }
    db_bind_int64(st, 1, as_of);
    while ((step = db_step(st)) == DB_ROW) {
        struct cx_host *h;
        int excluded = pattern && pattern[0] && fnmatch(pattern, col(st, 2), 0) != 0 &&
                       fnmatch(pattern, col(st, 1), 0) != 0;
        h = vec_push(&hv);
        if (!h)
            break;
        /* Hosts outside the pattern are loaded too: their sightings of a
         * fix start its clock for every host ("anywhere in the fleet"). */
        h->excluded = excluded;
        out->excluded_pattern += (size_t)excluded;
        /* Retired by then (vigilctl hosts retire): left out the same way. */
        if (db_column_int64(st, 6) && db_column_int64(st, 6) <= as_of)
            h->excluded = 1;
        h->agent_id = S(1);
        h->hostname = S(2);
        h->first_seen_ms = db_column_int64(st, 3);
        h->revoked_ms = db_column_int64(st, 4);
        h->manager = (int)db_column_int64(st, 5) ? "rpm" : "dpkg";
        h->last_seen = cx_alloc(a, (npoints + 1) * sizeof(int64_t));
        if (!h->last_seen || !h->hostname)
            break;
        {
            struct hostmap *nm = realloc(hm, hv.n * sizeof(*hm));
            if (!nm)
                break;
            hm = nm;
        }
        hm[hv.n - 1].db_id = db_column_int64(st, 0);
        hm[hv.n - 1].ix = hv.n - 1;
    }
    db_finalize(st);
    st = NULL;
    if (step != DB_DONE) {
        rc = step == DB_ROW ? -ENOMEM : db_fail(db, "cannot read hosts");
        free(hv.v);
        goto out;
    }
    out->nhosts = hv.n;
    out->hosts = vec_keep(a, &hv);
    if (!out->hosts)
        goto oom;
    /* Rows come by host id, the order hm is in. */
    rc = load_rows(db, out, hm,
                   "SELECT host_id, name, arch, version, coalesce(source_name, ''),"
                   " coalesce(source_version, ''), coalesce(install_time_ms, 0), appeared_ms,"
                   " CASE WHEN disappeared_ms > ?1 THEN NULL ELSE disappeared_ms END"
                   " FROM package_history WHERE appeared_ms <= ?1 AND status = 'installed'"
                   " AND (disappeared_ms IS NULL OR disappeared_ms > ?2)"
                   " ORDER BY host_id, appeared_ms, id",
                   as_of, window_ms, sizeof(struct cx_pkg), fill_pkg,
                   offsetof(struct cx_host, pkg), offsetof(struct cx_host, npkg));
    if (rc == 0)
        rc = load_rows(db, out, hm, PEND_SQL,
                       as_of, window_ms, sizeof(struct cx_pend), fill_pend,
                       offsetof(struct cx_host, pend), offsetof(struct cx_host, npend));
    if (rc == 0)
        rc = load_rows(
            db, out, hm,
            "SELECT o.host_id, o.recv_time_ms, coalesce(o.os_id, h.os_id, ''),"
            " coalesce(o.os_version_id, h.os_version_id, ''),"
            " coalesce(o.os_version_codename, h.os_version_codename, ''),"
            " coalesce(o.os_pretty_name, ''), coalesce(o.kernel_release, ''),"
            " coalesce(o.newest_kernel, ''), coalesce(o.reboot_required, 0)"
            " FROM os_history o JOIN hosts h ON h.id = o.host_id WHERE o.recv_time_ms <= ?1"
            " AND (o.recv_time_ms > ?2 OR o.id IN (SELECT max(id) FROM os_history"
            " WHERE recv_time_ms <= ?2 GROUP BY host_id))"
            " ORDER BY o.host_id, o.recv_time_ms, o.id",
            as_of, window_ms, sizeof(struct cx_os), fill_os, offsetof(struct cx_host, os),
            offsetof(struct cx_host, nos));
    if (rc == 0)
        rc = load_rows(db, out, hm,
                       "SELECT host_id, first_ms, version FROM agent_versions"
                       " WHERE first_ms <= ?1 AND ?2 = ?2 ORDER BY host_id, id",
                       as_of, window_ms, sizeof(struct cx_ver), fill_ver,
                       offsetof(struct cx_host, ver), offsetof(struct cx_host, nver));
    /* Package history: what the agent's logs showed, as the collector
     * had received it by as-of. */
    if (rc == 0)
        rc = load_rows(db, out, hm,
                       "SELECT host_id, name, arch, action, old_version, new_version, time_ms"
                       " FROM package_events WHERE recv_ms <= ?1 AND time_ms <= ?1 AND ?2 = ?2"
                       " ORDER BY host_id, name, arch, time_ms",
                       as_of, window_ms, sizeof(struct cx_hist), fill_hist,
                       offsetof(struct cx_host, hist), offsetof(struct cx_host, nhist));
    if (rc == 0)
        rc = load_tags(db, out, hm);
    if (rc == 0)
        rc = cx_fleet_apply_history(out);
    if (rc == 0)
        rc = load_last_seen(db, out, hm);
    if (rc == 0)
        rc = load_imports(db, out, as_of);
    if (rc == 0)
        rc = load_fixes(db, out);
    if (rc == 0)
        rc = load_exceptions(db, out, as_of);
out:
    db_commit(db);
    db_close(db);
    free(hm);
    if (rc && cancel && atomic_load(cancel))
        rc = -ECANCELED; /* not a store failure */
    if (rc)
        cx_fleet_free(out);
    return rc;
oom:
    rc = -ENOMEM;
    goto out;
}

/* ---- imports ------------------------------------------------------------------ */

int store_import_begin(struct store *s, const char *format, const char *doc_key,
                       const char *source, const char *sha256, uint64_t size,
                       const char *operator_name, int64_t now, int64_t *id)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc;
    if (db_prepare(db, "INSERT INTO advisory_imports(format, doc_key, source, sha256, size,"
                           " imported_ms, imported_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st) != DB_OK)
        return db_fail(db, "cannot prepare the import");
    db_bind_text(st, 1, format, -1);
    db_bind_text(st, 2, doc_key, -1);
    db_bind_text(st, 3, source, -1);
    db_bind_text(st, 4, sha256, -1);
    db_bind_int64(st, 5, (int64_t)size);
    db_bind_int64(st, 6, now);
    db_bind_text(st, 7, operator_name, -1);
    rc = db_step(st) == DB_DONE ? 0 : db_fail(db, "cannot record the import");
    db_finalize(st);
    *id = db_last_insert_rowid(db);
    return rc;
}

/* The insert is prepared once per import (an import adds hundreds of
 * thousands of rows) and finalized by store_import_finish or
 * store_import_end. */
static struct db_stmt *fix_stmt;
static struct db *fix_db;

int store_import_fix(struct store *s, int64_t id, const char *release, const char *package,
                     const char *arch, const char *fixed, const char *advisory, const char *cves,
                     const char *severity, const char *urgency, double cvss, int64_t released_ms)
{
    struct db *db = store_db(s);
    struct db_stmt *st;
    if (fix_db != db) {
        db_finalize(fix_stmt);
        fix_stmt = NULL;
        fix_db = NULL;
        if (db_prepare(db, "INSERT INTO advisories(import_id, release, package, arch,"
                               " fixed_version, advisory, cves, severity, urgency, cvss,"
                               " released_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &fix_stmt) != DB_OK)
            return db_fail(db, "cannot prepare the advisory insert");
        fix_db = db;
    }
    st = fix_stmt;
    db_reset(st);
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, release, -1);
    db_bind_text(st, 3, package, -1);
    db_bind_text(st, 4, arch ? arch : "", -1);
    db_bind_text(st, 5, fixed ? fixed : "", -1);
    db_bind_text(st, 6, advisory ? advisory : "", -1);
    db_bind_text(st, 7, cves ? cves : "", -1);
    db_bind_text(st, 8, severity ? severity : "", -1);
    db_bind_text(st, 9, urgency ? urgency : "", -1);
    if (cvss >= 0)
        db_bind_double(st, 10, cvss);
    else
        db_bind_null(st, 10);
    db_bind_int64(st, 11, released_ms);
    return db_step(st) == DB_DONE ? 0 : db_fail(db, "cannot store an advisory");
}

void store_import_end(void)
{
    db_finalize(fix_stmt);
    fix_stmt = NULL;
    fix_db = NULL;
}

int store_import_finish(struct store *s, int64_t id, uint64_t records, uint64_t skipped)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc;
    store_import_end();
    if (db_prepare(db, "UPDATE advisory_imports SET records = ?2, skipped = ?3 WHERE id = ?1", &st) != DB_OK)
        return db_fail(db, "cannot prepare the import update");
    db_bind_int64(st, 1, id);
    db_bind_int64(st, 2, (int64_t)records);
    db_bind_int64(st, 3, (int64_t)skipped);
    rc = db_step(st) == DB_DONE ? 0 : db_fail(db, "cannot finish the import");
    db_finalize(st);
    return rc;
}

int store_import_set_key(struct store *s, int64_t id, const char *doc_key)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc;
    if (db_prepare(db, "UPDATE advisory_imports SET doc_key = ?2 WHERE id = ?1", &st) != DB_OK)
        return db_fail(db, "cannot prepare the import update");
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, doc_key, -1);
    rc = db_step(st) == DB_DONE ? 0 : db_fail(db, "cannot name the import");
    db_finalize(st);
    return rc;
}

int store_imports(struct store *s, int (*cb)(void *ctx, const struct store_import *im),
                  void *ctx)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int step, rc = 0;
    if (db_prepare(db, "SELECT id, format, doc_key, source, sha256, size, imported_ms,"
                           " imported_by, records, skipped, id = (SELECT max(id) FROM"
                           " advisory_imports j WHERE j.doc_key = i.doc_key AND j.format ="
                           " i.format) FROM advisory_imports i ORDER BY id", &st) != DB_OK)
        return db_fail(db, "cannot prepare the imports list");
    while (rc == 0 && (step = db_step(st)) == DB_ROW) {
        struct store_import im = {
            db_column_int64(st, 0), col(st, 1), col(st, 2), col(st, 3), col(st, 4),
            col(st, 7), (uint64_t)db_column_int64(st, 5),
            (uint64_t)db_column_int64(st, 8), (uint64_t)db_column_int64(st, 9),
            db_column_int64(st, 6), (int)db_column_int64(st, 10),
        };
        rc = cb(ctx, &im);
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot list imports");
    db_finalize(st);
    return rc;
}

/* ---- exceptions ------------------------------------------------------------------ */

static void bind_opt(struct db_stmt *st, int i, const char *v)
{
    db_bind_text(st, i, v && v[0] ? v : NULL, -1);
}

int store_exception_add(struct store *s, const struct cx_exception *e, int64_t *id)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc;
    if (db_prepare(db, "INSERT INTO exceptions(host, package, cve, reason, approver, control,"
                           " created_ms, created_by, expires_ms, package_kind) VALUES(?1, ?2, ?3,"
                           " ?4, ?5, ?6, ?7, ?8, ?9, ?10)", &st) != DB_OK)
        return db_fail(db, "cannot prepare the exception");
    db_bind_text(st, 1, e->host, -1);
    bind_opt(st, 2, e->package);
    bind_opt(st, 3, e->cve);
    db_bind_text(st, 4, e->reason, -1);
    db_bind_text(st, 5, e->approver, -1);
    bind_opt(st, 6, e->control);
    db_bind_int64(st, 7, e->created_ms);
    db_bind_text(st, 8, e->created_by, -1);
    db_bind_int64(st, 9, e->expires_ms);
    bind_opt(st, 10, e->package_kind);
    rc = db_step(st) == DB_DONE ? 0 : db_fail(db, "cannot store the exception");
    db_finalize(st);
    *id = db_last_insert_rowid(db);
    return rc;
}

int store_exception_revoke(struct store *s, int64_t id, const char *by, const char *reason,
                           int64_t now)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    int rc, step;
    if (db_prepare(db, "SELECT revoked_ms IS NOT NULL FROM exceptions WHERE id = ?1", &st) != DB_OK)
        return db_fail(db, "cannot prepare the exception lookup");
    db_bind_int64(st, 1, id);
    step = db_step(st);
    rc = step == DB_ROW ? ((int)db_column_int64(st, 0) ? -EALREADY : 0)
         : step == DB_DONE ? -ENOENT
                               : db_fail(db, "cannot find the exception");
    db_finalize(st);
    if (rc)
        return rc;
    if (db_prepare(db, "UPDATE exceptions SET revoked_ms = ?2, revoked_by = ?3,"
                           " revoke_reason = ?4 WHERE id = ?1", &st) != DB_OK)
        return db_fail(db, "cannot prepare the revocation");
    db_bind_int64(st, 1, id);
    db_bind_int64(st, 2, now);
    db_bind_text(st, 3, by, -1);
    db_bind_text(st, 4, reason, -1);
    rc = db_step(st) == DB_DONE ? 0 : db_fail(db, "cannot revoke the exception");
    db_finalize(st);
    return rc;
}

int store_exceptions(struct store *s, int all, int64_t now,
                     int (*cb)(void *ctx, const struct cx_exception *e), void *ctx)
{
    struct db *db = store_db(s);
    struct db_stmt *st = NULL;
    struct cx_arena *a = cx_arena_new();
    int step, rc = 0;
    if (!a)
        return -ENOMEM;
    if (db_prepare(db, EXC_COLS " WHERE ?1 <> 0 OR (revoked_ms IS NULL AND expires_ms > ?2)"
                                    " ORDER BY id", &st) != DB_OK) {
        cx_arena_free(a);
        return db_fail(db, "cannot prepare the exceptions list");
    }
    db_bind_int64(st, 1, all);
    db_bind_int64(st, 2, now);
    while (rc == 0 && (step = db_step(st)) == DB_ROW) {
        struct cx_exception e;
        memset(&e, 0, sizeof(e));
        rc = exc_row(a, st, &e);
        if (rc == 0)
            rc = cb(ctx, &e);
    }
    if (rc == 0 && step != DB_DONE)
        rc = db_fail(db, "cannot list exceptions");
    db_finalize(st);
    cx_arena_free(a);
    return rc;
}
