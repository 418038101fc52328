/*
 * The findings engine: see compliance.h for the rules.  Plain C over the
 * arrays the store loaded; the same rows judged at several points (as-of
 * and the ends of the trend weeks).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "compliance.h"
#include "crypto.h"
#include "util.h"
#include "vercmp.h"
#include "vjson.h"

#define DAY_MS 86400000LL
#define MAX_BIN 64

const char *const cx_rule_ce =
    "Cyber Essentials (security update management): software is licensed and supported, and "
    "updates that fix vulnerabilities the vendor rates critical or high, or with a CVSS v3 score "
    "of 7 or more, or for which the vendor gives no severity, are installed within 14 days of "
    "release.";
const char *const cx_rule_dspt =
    "NHS DSPT: no unsupported operating systems or software; critical and high vulnerabilities "
    "are remediated within 14 days, or the risk is documented and accepted by the SIRO (an "
    "exception).";
const char *const cx_rule_caf =
    "NCSC CAF B4.d: exposure to known vulnerabilities is tracked, prioritised and mitigated "
    "promptly; the use of supported software is maximised.";

/* ---- arena ---------------------------------------------------------------- */

struct blk {
    struct blk *next;
    size_t used, cap;
    max_align_t data[];
};

struct cx_arena {
    struct blk *head;
};

struct cx_arena *cx_arena_new(void)
{
    return calloc(1, sizeof(struct cx_arena));
}

void cx_arena_free(struct cx_arena *a)
{
    if (!a)
        return;
    while (a->head) {
        struct blk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    free(a);
}

void *cx_alloc(struct cx_arena *a, size_t n)
{
    struct blk *b = a->head;
    void *p;
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

const char *cx_strdup(struct cx_arena *a, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *p = cx_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

void cx_fleet_free(struct cx_fleet *f)
{
    if (!f)
        return;
    cx_arena_free(f->arena);
    memset(f, 0, sizeof(*f));
}

/* ---- helpers -------------------------------------------------------------- */

static int vcmp(int rpm, const char *a, const char *b)
{
    return rpm ? vg_rpm_evr_strcmp(a, b) : vg_dpkg_vercmp(a, b);
}

static int is_rhel_family(const char *id)
{
    static const char *const ids[] = { "rhel", "centos", "rocky", "almalinux", "ol", "fedora" };
    for (size_t i = 0; id && i < VG_ARRAY_SIZE(ids); i++)
        if (strcmp(id, ids[i]) == 0)
            return 1;
    return 0;
}

void cx_release_of(const char *os_id, const char *version_id, const char *codename, char *out,
                   size_t n)
{
    out[0] = '\0';
    if (is_rhel_family(os_id)) {
        char major[16];
        vg_strlcpy(major, version_id ? version_id : "", sizeof(major));
        major[strcspn(major, ".")] = '\0';
        if (major[0])
            snprintf(out, n, "el%s", major);
    } else if (codename && codename[0]) {
        vg_strlcpy(out, codename, n);
    }
}

static void host_release(const struct cx_os *os, char *out, size_t n)
{
    out[0] = '\0';
    if (os)
        cx_release_of(os->os_id, os->version_id, os->codename, out, n);
}

static int sev_rank(const char *s)
{
    if (!s || !s[0])
        return 0;
    if (strcasecmp(s, "low") == 0)
        return 1;
    if (strcasecmp(s, "moderate") == 0 || strcasecmp(s, "medium") == 0)
        return 2;
    if (strcasecmp(s, "important") == 0 || strcasecmp(s, "high") == 0)
        return 3;
    if (strcasecmp(s, "critical") == 0)
        return 4;
    return 0;
}

static double round1(double x)
{
    return round(x * 10.0) / 10.0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Words of space-separated lists, sorted and unique, as a JSON array. */
static json_t *word_set(const char *const *lists, size_t nlists)
{
    size_t cap = 16, n = 0;
    char **w = malloc(cap * sizeof(*w));
    json_t *out = json_array();
    for (size_t i = 0; w && i < nlists; i++) {
        const char *p = lists[i];
        while (p && *p) {
            size_t len;
            p += strspn(p, " ,");
            len = strcspn(p, " ,");
            if (!len)
                break;
            if (n == cap) {
                char **nw = realloc(w, cap * 2 * sizeof(*w));
                if (!nw)
                    break;
                w = nw;
                cap *= 2;
            }
            w[n] = strndup(p, len);
            if (w[n])
                n++;
            p += len;
        }
    }
    if (w) {
        qsort(w, n, sizeof(*w), cmp_str);
        for (size_t i = 0; i < n; i++)
            if (i == 0 || strcmp(w[i], w[i - 1]) != 0)
                json_array_append_new(out, vg_json_text(w[i]));
        for (size_t i = 0; i < n; i++)
            free(w[i]);
        free(w);
    }
    return out;
}

/* ---- merged fixes ----------------------------------------------------------- */

/* Every feed's records for one (release, package, arch, fixed version):
 * the tracker's CVEs, the DSA's date and id, a CSAF's severity. */
struct mfix {
    const char *release, *package, *arch, *fixed, *urgency;
    json_t *cves, *advisories;
    const char *severity;
    double cvss;
    int64_t released_ms, imported_ms;
};

static int fix_key_cmp(const struct cx_fix *a, const struct cx_fix *b)
{
    int c = strcmp(a->release, b->release);
    if (!c)
        c = strcmp(a->package, b->package);
    if (!c)
        c = strcmp(a->arch, b->arch);
    if (!c)
        c = strcmp(a->fixed, b->fixed);
    return c;
}

static int fixp_cmp(const void *a, const void *b)
{
    return fix_key_cmp(*(const struct cx_fix *const *)a, *(const struct cx_fix *const *)b);
}

/* ---- evaluation ------------------------------------------------------------- */

struct pend_ix { /* every pending security update in the fleet, for first sight */
    const char *release, *name, *candidate;
    int64_t first_ms, from_ms;
    int rpm;
};

enum st { ST_OPEN, ST_MET, ST_MET_LATE, ST_OVERDUE, ST_EXCEPTED, ST_NOFIX };
static const char *const st_name[] = { "open", "met", "met-late", "overdue", "excepted",
                                       "no-fix-yet" };
/* Worst first, for the CVE view. */
static const int st_worst[] = { [ST_OVERDUE] = 6, [ST_OPEN] = 5, [ST_EXCEPTED] = 4,
                                [ST_NOFIX] = 3, [ST_MET_LATE] = 2, [ST_MET] = 1 };

struct fnd {
    const struct cx_host *h;
    const char *hostname;
    const struct mfix *mf; /* NULL: from pending updates only */
    const char *package, *arch, *fixed, *installed;
    const char *bin[MAX_BIN];
    size_t nbin;
    const char *p_adv, *p_sev; /* pending-only */
    int64_t released, first_host, first_fleet, clock_start, due, installed_at, effective_at;
    int installed_ok, effective, kernel, src_pending, rpm;
    int in_scope;
    char scope_reason[128], note[200];
    enum st state;
    int64_t exc_id;
};

struct hostres {
    const struct cx_host *h;
    const struct cx_os *os;
    const char *hostname;
    enum cx_support support;
    int64_t eol_ms, last_seen;
    char support_note[160];
    int stale, open, overdue, excepted, met_late, kernel_effective; /* -1 none */
    json_t *failing;
    json_t *unsupported; /* packages whose security support ended */
    const char *status;
};

struct point {
    int64_t at;
    size_t nhosts, pass, fail, unknown, unsupported, stale, reboot, revoked;
    size_t cnt[6], out_of_scope, findings;
    size_t remediated_week;
    double rem_days_sum, rem_week_days_sum;
    size_t rem_n;
    struct fnd *f;
    size_t nf, capf;
    struct hostres *hr;
    size_t nhr;
};

struct ctx {
    const struct cx_fleet *fl;
    const struct cx_opts *o;
    struct mfix *mf;
    size_t nmf;
    struct pend_ix *pix;
    size_t npix;
    const struct cx_host **hosts; /* sorted by hostname */
    char (*rel)[32];              /* each host's release, by fleet index */
    int oom;
};

static const struct cx_os *os_at(const struct cx_host *h, int64_t at)
{
    const struct cx_os *r = NULL;
    for (size_t i = 0; i < h->nos; i++)
        if (h->os[i].from_ms <= at)
            r = &h->os[i];
    return r;
}

static int alive(int64_t from, int64_t to, int64_t at)
{
    return from <= at && to > at;
}

static int mf_cmp_key(const struct mfix *m, const char *release, const char *package)
{
    int c = strcmp(m->release, release);
    return c ? c : strcmp(m->package, package);
}

/* [*lo, *hi) of the merged fixes for (release, package). */
static void mf_range(const struct ctx *c, const char *release, const char *package, size_t *lo,
                     size_t *hi)
{
    size_t l = 0, r = c->nmf;
    while (l < r) {
        size_t m = (l + r) / 2;
        if (mf_cmp_key(&c->mf[m], release, package) < 0)
            l = m + 1;
        else
            r = m;
    }
    *lo = l;
    while (l < c->nmf && mf_cmp_key(&c->mf[l], release, package) == 0)
        l++;
    *hi = l;
}

static int pix_cmp(const void *a, const void *b)
{
    const struct pend_ix *x = a, *y = b;
    int c = strcmp(x->release, y->release);
    return c ? c : strcmp(x->name, y->name);
}

/* Earliest sight, at or before at, of an update of `name` to `fixed` or
 * later: on host h when h is set, else anywhere in the fleet. */
static int64_t first_avail(const struct ctx *c, const struct cx_host *h, const char *release,
                           const char *name, const char *fixed, int rpm, int64_t at)
{
    int64_t best = 0;
    if (h) {
        for (size_t i = 0; i < h->npend; i++) {
            const struct cx_pend *p = &h->pend[i];
            int64_t t;
            if (!p->security || p->from_ms > at || strcmp(p->name, name) != 0 ||
                vcmp(rpm, p->candidate, fixed) < 0)
                continue;
            t = p->first_ms && p->first_ms < p->from_ms ? p->first_ms : p->from_ms;
            if (!best || t < best)
                best = t;
        }
        return best;
    }
    {
        struct pend_ix key = { release, name, NULL, 0, 0, 0 };
        size_t l = 0, r = c->npix;
        while (l < r) {
            size_t m = (l + r) / 2;
            if (pix_cmp(&c->pix[m], &key) < 0)
                l = m + 1;
            else
                r = m;
        }
        for (; l < c->npix && pix_cmp(&c->pix[l], &key) == 0; l++) {
            const struct pend_ix *p = &c->pix[l];
            int64_t t;
            if (p->from_ms > at || vcmp(rpm, p->candidate, fixed) < 0)
                continue;
            t = p->first_ms && p->first_ms < p->from_ms ? p->first_ms : p->from_ms;
            if (!best || t < best)
                best = t;
        }
    }
    return best;
}

static struct fnd *add_fnd(struct ctx *c, struct point *pt)
{
    if (pt->nf == pt->capf) {
        size_t nc = pt->capf ? pt->capf * 2 : 64;
        struct fnd *nv = realloc(pt->f, nc * sizeof(*nv));
        if (!nv) {
            c->oom = 1;
            return NULL;
        }
        pt->f = nv;
        pt->capf = nc;
    }
    memset(&pt->f[pt->nf], 0, sizeof(pt->f[0]));
    return &pt->f[pt->nf++];
}

/* The source package, as the feeds name it.  Debian's signed kernel
 * images come from linux-signed-ARCH, whose fixes the feeds list under
 * linux. */
static const char *src_of(const struct cx_pkg *p)
{
    const char *s = p->source && p->source[0] ? p->source : p->name;
    return strncmp(s, "linux-signed-", 13) == 0 ? "linux" : s;
}

static const char *srcver_of(const struct cx_pkg *p, int rpm)
{
    return !rpm && p->source_version && p->source_version[0] ? p->source_version : p->version;
}

/* Kernel packages: effective only once running.  rpm: kernel and its
 * install-only parts (kernel-core, kernel-modules, ...). */
static int is_kernel_src(int rpm, const char *pkg)
{
    return rpm ? strncmp(pkg, "kernel", 6) == 0 && (pkg[6] == '\0' || pkg[6] == '-')
               : strcmp(pkg, "linux") == 0;
}

/* The version of the package that provides running kernel `k` on h (any
 * time up to at); NULL when unknown. */
static const char *running_kernel_version(const struct cx_host *h, int rpm, const char *k,
                                          int64_t at, char *buf, size_t buflen)
{
    if (!k || !k[0])
        return NULL;
    if (rpm) { /* "5.14.0-362.8.1.el9_3.x86_64": VERSION-RELEASE.ARCH */
        char *dot;
        vg_strlcpy(buf, k, buflen);
        dot = strrchr(buf, '.');
        if (dot && (strcmp(dot, ".x86_64") == 0 || strcmp(dot, ".aarch64") == 0 ||
                    strcmp(dot, ".ppc64le") == 0 || strcmp(dot, ".s390x") == 0))
            *dot = '\0';
        return buf;
    }
    {
        const char *best = NULL;
        for (size_t i = 0; i < h->npkg; i++) {
            const struct cx_pkg *p = &h->pkg[i];
            if (p->from_ms > at || strncmp(p->name, "linux-image-", 12) != 0 ||
                strcmp(p->name + 12, k) != 0)
                continue;
            best = p->version;
        }
        return best;
    }
}

static int kernel_fixed(const struct cx_host *h, int rpm, const char *k, const char *fixed,
                        int64_t at)
{
    char buf[256];
    const char *v = running_kernel_version(h, rpm, k, at, buf, sizeof(buf));
    return v && vcmp(rpm, v, fixed) >= 0;
}

static void scope(struct fnd *f)
{
    const char *sev = f->mf ? f->mf->severity : f->p_sev;
    double cvss = f->mf ? f->mf->cvss : -1;
    if (!f->rpm) {
        f->in_scope = 1;
        snprintf(f->scope_reason, sizeof(f->scope_reason), "%s",
                 f->mf ? "Debian security fix: Debian gives no vendor severity, so every one is "
                         "in scope"
                       : "update from the distribution's security archive, no vendor severity "
                         "given: in scope");
    } else if (sev_rank(sev) >= 3) {
        f->in_scope = 1;
        snprintf(f->scope_reason, sizeof(f->scope_reason), "vendor severity %s", sev);
    } else if (cvss >= 7.0) {
        f->in_scope = 1;
        snprintf(f->scope_reason, sizeof(f->scope_reason), "CVSS v3 %.1f (7 or more)", cvss);
    } else if (!sev || !sev[0]) {
        f->in_scope = cvss < 0;
        snprintf(f->scope_reason, sizeof(f->scope_reason),
                 cvss < 0 ? "the vendor gives no severity" : "no vendor severity, CVSS v3 %.1f",
                 cvss);
    } else {
        f->in_scope = 0;
        if (cvss >= 0)
            snprintf(f->scope_reason, sizeof(f->scope_reason),
                     "out of scope: vendor severity %s, CVSS v3 %.1f", sev, cvss);
        else
            snprintf(f->scope_reason, sizeof(f->scope_reason),
                     "out of scope: vendor severity %s, no CVSS", sev);
    }
}

static int exc_active(const struct cx_exception *e, const struct fnd *f, int64_t at)
{
    return e->created_ms <= at && !(e->revoked_ms && e->revoked_ms <= at) && e->expires_ms > at &&
           (strcmp(e->host, "*") == 0 || strcmp(e->host, f->h->agent_id) == 0);
}

static int exc_pkg_match(const struct cx_exception *e, const struct fnd *f)
{
    if (!e->package || !e->package[0])
        return 1;
    if (strcmp(e->package, f->package) == 0)
        return 1;
    for (size_t b = 0; b < f->nbin; b++)
        if (strcmp(e->package, f->bin[b]) == 0)
            return 1;
    return 0;
}

/* The exception that covers finding f at `at`, or NULL.  An exception's
 * host (an agent id, or "*"), package and CVE must all match; one with a
 * CVE covers a fix only when every CVE the fix addresses is excepted (by
 * it or by others), so excepting one CVE does not hide the rest. */
static const struct cx_exception *exception_for(const struct ctx *c, const struct fnd *f,
                                                int64_t at)
{
    const struct cx_exception *first = NULL;
    size_t j, ncve = f->mf ? json_array_size(f->mf->cves) : 0;
    json_t *cv;

    for (size_t i = 0; i < c->fl->nexc; i++) {
        const struct cx_exception *e = &c->fl->exc[i];
        if (exc_active(e, f, at) && (!e->cve || !e->cve[0]) && e->package && e->package[0] &&
            exc_pkg_match(e, f))
            return e; /* the whole package */
    }
    if (!ncve)
        return NULL;
    json_array_foreach(f->mf->cves, j, cv) {
        const struct cx_exception *hit = NULL;
        for (size_t i = 0; i < c->fl->nexc && !hit; i++) {
            const struct cx_exception *e = &c->fl->exc[i];
            if (exc_active(e, f, at) && e->cve && strcmp(e->cve, json_string_value(cv)) == 0 &&
                exc_pkg_match(e, f))
                hit = e;
        }
        if (!hit)
            return NULL;
        if (!first)
            first = hit;
    }
    return first;
}

/* Clock, state and counts of a finding whose installed/effective facts
 * are set.  Returns 0 to keep it, 1 to drop it (not yet known at `at`,
 * or remediated before the history window). */
static int settle(struct ctx *c, struct point *pt, struct fnd *f, const char *release)
{
    const struct cx_exception *e;
    int64_t at = pt->at;
    int64_t t = 0;
    int64_t cands[3] = { f->released, f->first_host, f->first_fleet };

    if (f->fixed[0]) {
        f->first_host = first_avail(c, f->h, release, f->nbin ? f->bin[0] : f->package, f->fixed,
                                    f->rpm, at);
        for (size_t b = 1; b < f->nbin; b++) {
            int64_t x = first_avail(c, f->h, release, f->bin[b], f->fixed, f->rpm, at);
            if (x && (!f->first_host || x < f->first_host))
                f->first_host = x;
        }
        f->first_fleet = 0;
        for (size_t b = 0; b < (f->nbin ? f->nbin : 1); b++) {
            int64_t x = first_avail(c, NULL, release, f->nbin ? f->bin[b] : f->package, f->fixed,
                                    f->rpm, at);
            if (x && (!f->first_fleet || x < f->first_fleet))
                f->first_fleet = x;
        }
        if (f->first_host)
            f->src_pending = 1;
    }
    cands[1] = f->first_host;
    cands[2] = f->first_fleet;
    for (size_t i = 0; i < 3; i++)
        if (cands[i] > 0 && (!t || cands[i] < t))
            t = cands[i];
    if (!t && f->mf)
        t = f->mf->imported_ms; /* when a feed first told us */
    if (!t || t > at)
        return 1;
    f->clock_start = t;
    f->due = f->fixed[0] ? t + (int64_t)c->o->sla_days * DAY_MS : 0;
    if (f->effective && f->effective_at < at - (int64_t)c->o->history_days * DAY_MS)
        return 1;
    scope(f);
    f->exc_id = 0;
    if (f->effective)
        f->state = f->effective_at <= f->due ? ST_MET : ST_MET_LATE;
    else if (!f->fixed[0])
        f->state = ST_NOFIX;
    else if ((e = exception_for(c, f, at)) != NULL) {
        f->state = ST_EXCEPTED;
        f->exc_id = e->id;
    } else
        f->state = at > f->due ? ST_OVERDUE : ST_OPEN;
    return 0;
}

static int row_src_cmp(const void *a, const void *b)
{
    const struct cx_pkg *x = *(const struct cx_pkg *const *)a, *y = *(const struct cx_pkg *const *)b;
    int c = strcmp(src_of(x), src_of(y));
    return c ? c : (x->from_ms > y->from_ms) - (x->from_ms < y->from_ms);
}

static int row_name_cmp(const void *a, const void *b)
{
    const struct cx_pkg *x = *(const struct cx_pkg *const *)a, *y = *(const struct cx_pkg *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->from_ms > y->from_ms) - (x->from_ms < y->from_ms);
}

/* Feed findings of host h at pt->at. */
static void feed_findings(struct ctx *c, struct point *pt, const struct cx_host *h,
                          const char *hostname, const struct cx_os *os, const char *release,
                          int rpm)
{
    int64_t at = pt->at;
    const struct cx_pkg **rows;
    size_t nr = h->npkg;

    if (!release[0] || !c->nmf || !nr)
        return;
    /* The host's rows (any time) by source, so each source's fixes look
     * only at its own packages. */
    rows = malloc(nr * sizeof(*rows));
    if (!rows) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < nr; i++)
        rows[i] = &h->pkg[i];
    qsort(rows, nr, sizeof(*rows), rpm ? row_name_cmp : row_src_cmp);
    for (size_t g = 0, ge; g < nr && !c->oom; g = ge) {
        const char *src = rpm ? rows[g]->name : src_of(rows[g]);
        size_t lo, hi;
        int alive_any = 0;
        for (ge = g; ge < nr && strcmp(rpm ? rows[ge]->name : src_of(rows[ge]), src) == 0; ge++)
            alive_any |= alive(rows[ge]->from_ms, rows[ge]->to_ms, at);
        if (!alive_any)
            continue;
        mf_range(c, release, src, &lo, &hi);
        for (size_t m = lo; m < hi && !c->oom; m++) {
            const struct mfix *mf = &c->mf[m];
            int kernel = is_kernel_src(rpm, src);
            int had_vuln = 0, any = 0, img_fixed = 0;
            int64_t inst_at = 0, img_inst = 0, avail;
            const char *lowest = NULL;
            struct fnd *f;

            avail = mf->released_ms ? mf->released_ms : mf->imported_ms;
            f = add_fnd(c, pt);
            if (!f)
                break;
            f->h = h;
            f->hostname = hostname;
            f->mf = mf;
            f->rpm = rpm;
            f->package = src;
            f->arch = mf->arch;
            f->fixed = mf->fixed;
            f->released = mf->released_ms;
            f->kernel = kernel;
            for (size_t i = g; i < ge; i++) {
                const struct cx_pkg *p = rows[i];
                /* A kernel image's own version is the kernel's (the
                 * signed source's version is not comparable). */
                const char *v = kernel && !rpm ? p->version : srcver_of(p, rpm);
                if (p->from_ms > at)
                    continue;
                if (kernel && !rpm && mf->fixed[0] && strncmp(p->name, "linux-image-", 12) != 0)
                    continue; /* headers, tools: the kernel is the image */
                if (rpm && mf->arch[0] && strcmp(mf->arch, p->arch) != 0 &&
                    strcmp(mf->arch, "noarch") != 0)
                    continue;
                if (!mf->fixed[0]) {
                    if (alive(p->from_ms, p->to_ms, at) && f->nbin < MAX_BIN) {
                        f->bin[f->nbin++] = p->name;
                        any = 1;
                        if (!lowest || vcmp(rpm, v, lowest) < 0)
                            lowest = v;
                    }
                    continue;
                }
                /* Vulnerable while the fix was out: this host needed it. */
                if (vcmp(rpm, v, mf->fixed) < 0 && p->to_ms > avail)
                    had_vuln = 1;
                if (!alive(p->from_ms, p->to_ms, at))
                    continue;
                any = 1;
                if (f->nbin < MAX_BIN) {
                    size_t b;
                    for (b = 0; b < f->nbin && strcmp(f->bin[b], p->name) != 0; b++)
                        ;
                    if (b == f->nbin)
                        f->bin[f->nbin++] = p->name;
                }
                if (kernel) {
                    if (vcmp(rpm, v, mf->fixed) >= 0) {
                        int64_t t = p->install_ms ? p->install_ms : p->from_ms;
                        img_fixed = 1;
                        if (!img_inst || t < img_inst)
                            img_inst = t;
                    } else if (!lowest || vcmp(rpm, v, lowest) < 0) {
                        lowest = v;
                    }
                    continue;
                }
                if (vcmp(rpm, v, mf->fixed) < 0) {
                    if (!lowest || vcmp(rpm, v, lowest) < 0)
                        lowest = v;
                    inst_at = -1;
                } else {
                    int64_t t = p->install_ms ? p->install_ms : p->from_ms;
                    if (inst_at >= 0 && t > inst_at)
                        inst_at = t;
                    if (!lowest)
                        lowest = v;
                }
            }
            if (!any) {
                pt->nf--;
                continue;
            }
            if (!mf->fixed[0]) {
                f->installed = lowest ? lowest : "";
                f->installed_ok = 0;
                snprintf(f->note, sizeof(f->note), "no fixed version published yet");
                if (settle(c, pt, f, release))
                    pt->nf--;
                continue;
            }
            if (kernel) {
                const char *k = os ? os->kernel : NULL;
                char buf[256];
                const char *rv = running_kernel_version(h, rpm, k, at, buf, sizeof(buf));
                f->installed_ok = img_fixed;
                f->installed = rv ? rv : (lowest ? lowest : mf->fixed);
                f->installed_at = img_fixed ? img_inst : 0;
                f->effective = img_fixed && kernel_fixed(h, rpm, k, mf->fixed, at);
                if (f->effective) {
                    /* Effective since the first boot, after which every
                     * report ran a fixed kernel. */
                    int64_t since = f->installed_at;
                    for (size_t i = 0; i < h->nos; i++) {
                        if (h->os[i].from_ms > at)
                            break;
                        if (!kernel_fixed(h, rpm, h->os[i].kernel, mf->fixed, at))
                            since = 0;
                        else if (!since || since < f->installed_at)
                            since = h->os[i].from_ms > f->installed_at ? h->os[i].from_ms
                                                                       : f->installed_at;
                    }
                    f->effective_at = since ? since : f->installed_at;
                    snprintf(f->note, sizeof(f->note), "running kernel %s is fixed", k);
                } else if (img_fixed) {
                    snprintf(f->note, sizeof(f->note),
                             "fixed kernel installed, but the running kernel %s is older: "
                             "not effective until the host reboots",
                             k && k[0] ? k : "(unknown)");
                } else {
                    snprintf(f->note, sizeof(f->note), "no fixed kernel installed");
                }
            } else {
                f->installed = lowest ? lowest : "";
                f->installed_ok = inst_at >= 0;
                f->effective = f->installed_ok;
                f->installed_at = f->effective_at = f->installed_ok ? inst_at : 0;
                snprintf(f->note, sizeof(f->note), "%s",
                         f->installed_ok ? "fixed version installed" : "fixed version not installed");
            }
            /* Listed only if this host had a vulnerable version while the
             * fix was out: a host that got the fixed version first (a new
             * install, or before the collector knew it) never needed it. */
            if (f->installed_ok && !had_vuln) {
                pt->nf--;
                continue;
            }
            if (settle(c, pt, f, release))
                pt->nf--;
        }
    }
    free(rows);
}

/* Findings from the host's own pending security updates that no feed
 * finding covers. */
static void pending_findings(struct ctx *c, struct point *pt, size_t first, const struct cx_host *h,
                             const char *hostname, const char *release, int rpm)
{
    int64_t at = pt->at;
    for (size_t i = 0; i < h->npend && !c->oom; i++) {
        const struct cx_pend *p = &h->pend[i];
        const struct cx_pkg *cur = NULL;
        struct fnd *f;
        int dup = 0, covered = 0;
        if (!p->security || p->from_ms > at)
            continue;
        /* Once per (name, arch, candidate). */
        for (size_t j = 0; j < i && !dup; j++)
            dup = h->pend[j].security && h->pend[j].from_ms <= at &&
                  strcmp(h->pend[j].name, p->name) == 0 && strcmp(h->pend[j].arch, p->arch) == 0 &&
                  strcmp(h->pend[j].candidate, p->candidate) == 0;
        if (dup)
            continue;
        for (size_t k = first; k < pt->nf && !covered; k++) {
            struct fnd *x = &pt->f[k];
            if (!x->fixed[0] || vcmp(rpm, x->fixed, p->candidate) > 0)
                continue;
            for (size_t b = 0; b < x->nbin && !covered; b++)
                covered = strcmp(x->bin[b], p->name) == 0;
            if (covered)
                x->src_pending = 1;
        }
        if (covered)
            continue;
        for (size_t k = 0; k < h->npkg; k++)
            if (alive(h->pkg[k].from_ms, h->pkg[k].to_ms, at) &&
                strcmp(h->pkg[k].name, p->name) == 0 && strcmp(h->pkg[k].arch, p->arch) == 0)
                cur = &h->pkg[k];
        if (!cur)
            continue; /* removed: nothing to fix */
        f = add_fnd(c, pt);
        if (!f)
            return;
        f->h = h;
        f->hostname = hostname;
        f->rpm = rpm;
        f->package = rpm ? p->name : src_of(cur);
        f->arch = p->arch;
        f->bin[f->nbin++] = p->name;
        f->fixed = p->candidate;
        f->p_adv = p->advisory;
        f->p_sev = p->severity;
        f->src_pending = 1;
        f->released = p->released_ms;
        if (vcmp(rpm, cur->version, p->candidate) >= 0) {
            f->installed_ok = f->effective = 1;
            f->installed = cur->version;
            f->installed_at = f->effective_at = cur->install_ms ? cur->install_ms : cur->from_ms;
            snprintf(f->note, sizeof(f->note), "update installed");
        } else {
            f->installed = cur->version;
            snprintf(f->note, sizeof(f->note), "security update pending on the host");
        }
        if (settle(c, pt, f, release))
            pt->nf--;
    }
}

static int fnd_cmp(const void *a, const void *b)
{
    const struct fnd *x = a, *y = b;
    int r = strcmp(x->hostname, y->hostname);
    if (!r)
        r = strcmp(x->h->agent_id, y->h->agent_id);
    if (!r)
        r = strcmp(x->package, y->package);
    if (!r)
        r = strcmp(x->arch, y->arch);
    if (!r)
        r = strcmp(x->fixed, y->fixed);
    return r;
}

static int host_rpm(const struct cx_host *h)
{
    return h->manager && strcmp(h->manager, "rpm") == 0;
}

static void add_fail(struct hostres *r, const char *rule, const char *reason)
{
    json_t *o = json_object();
    json_object_set_new(o, "rule", json_string(rule));
    json_object_set_new(o, "reason", vg_json_text(reason));
    json_array_append_new(r->failing, o);
}

/* Debian packages on h whose security support ended before the
 * release's (debian-security-support): each fails CE (software must be
 * supported) and DSPT (no unsupported software). */
static void unsupported_software(struct ctx *c, struct hostres *r, const struct cx_host *h,
                                 const struct cx_os *os, int64_t at)
{
    char major[8], why[400];
    size_t n = 0, len = 0;
    r->unsupported = json_array();
    if (!os || strcmp(os->os_id, "debian") != 0)
        return;
    vg_strlcpy(major, os->version_id, sizeof(major));
    major[strcspn(major, ".")] = '\0';
    why[0] = '\0';
    for (size_t i = 0; i < h->npkg; i++) {
        const struct cx_pkg *p = &h->pkg[i];
        const char *details, *src = src_of(p);
        int64_t ended;
        size_t j;
        json_t *x;
        int dup = 0;
        if (!alive(p->from_ms, p->to_ms, at) ||
            !os_support_pkg_ended(c->o->os, major, src, srcver_of(p, 0), at, &ended, &details))
            continue;
        json_array_foreach(r->unsupported, j, x)
            dup |= strcmp(json_string_value(json_object_get(x, "package")), src) == 0;
        if (dup)
            continue;
        json_array_append_new(r->unsupported,
                              json_pack("{s:o,s:o,s:o,s:o}", "package", vg_json_text(src),
                                        "version", vg_json_text(srcver_of(p, 0)), "ended",
                                        vg_json_time(ended), "details", vg_json_text(details)));
        if (len < sizeof(why) - 80)
            len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s", n ? ", " : "", src);
        n++;
    }
    if (n) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "unsupported software: security support ended for %zu package%s (%s)", n,
                 n == 1 ? "" : "s", why);
        add_fail(r, "CE", msg);
        add_fail(r, "DSPT", msg);
    }
}

/* Judges the fleet at pt->at (point index k). */
static void eval_point(struct ctx *c, struct point *pt, size_t k)
{
    const struct cx_opts *o = c->o;
    int64_t at = pt->at;

    pt->hr = calloc(c->fl->nhosts ? c->fl->nhosts : 1, sizeof(*pt->hr));
    if (!pt->hr) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < c->fl->nhosts && !c->oom; i++) {
        const struct cx_host *h = c->hosts[i];
        struct hostres *r;
        const struct cx_os *os;
        char release[32];
        size_t first = pt->nf;
        int rpm = host_rpm(h);
        int excepted_late = 0;

        if (h->first_seen_ms > at || h->excluded)
            continue;
        if (h->revoked_ms && h->revoked_ms <= at) {
            pt->revoked++;
            continue;
        }
        os = os_at(h, at);
        r = &pt->hr[pt->nhr++];
        r->h = h;
        r->os = os;
        r->hostname = h->hostname;
        r->failing = json_array();
        r->kernel_effective = -1;
        host_release(os, release, sizeof(release));
        feed_findings(c, pt, h, r->hostname, os, release, rpm);
        pending_findings(c, pt, first, h, r->hostname, release, rpm);

        r->support = os_support_check(o->os, os ? os->os_id : NULL, os ? os->version_id : NULL,
                                      os ? os->codename : NULL, at, &r->eol_ms, r->support_note,
                                      sizeof(r->support_note));
        r->last_seen = k < c->fl->npoints ? h->last_seen[k] : 0;
        r->stale = !r->last_seen || r->last_seen < at - o->stale_ms;
        for (size_t j = first; j < pt->nf; j++) {
            struct fnd *f = &pt->f[j];
            if (f->kernel && f->fixed[0] && !f->effective_at) {
                if (f->installed_ok)
                    r->kernel_effective = 0;
            } else if (f->kernel && f->effective && r->kernel_effective < 0) {
                r->kernel_effective = 1;
            }
            if (!f->in_scope) {
                pt->out_of_scope++;
                continue;
            }
            pt->cnt[f->state]++;
            if (f->state == ST_OPEN)
                r->open++;
            else if (f->state == ST_OVERDUE)
                r->overdue++;
            else if (f->state == ST_EXCEPTED) {
                r->excepted++;
                if (at > f->due)
                    excepted_late++;
            }
            else if (f->state == ST_MET_LATE)
                r->met_late++;
            if (f->state == ST_MET || f->state == ST_MET_LATE) {
                double d = (double)(f->effective_at - f->clock_start) / DAY_MS;
                pt->rem_days_sum += d;
                pt->rem_n++;
                if (f->effective_at > at - 7 * DAY_MS) {
                    pt->remediated_week++;
                    pt->rem_week_days_sum += d;
                }
            }
        }
        pt->findings += pt->nf - first;
        if (k > 0) /* a trend point needs the counts only */
            pt->nf = first;
        if (r->support == CX_UNSUPPORTED) {
            char why[256];
            snprintf(why, sizeof(why), "unsupported operating system: %s", r->support_note);
            add_fail(r, "CE", why);
            add_fail(r, "DSPT", why);
            pt->unsupported++;
        } else if (r->support == CX_UNKNOWN) {
            char why[256];
            snprintf(why, sizeof(why), "operating system support not established: %s",
                     r->support_note);
            add_fail(r, "CE", why);
        }
        unsupported_software(c, r, h, os, at);
        if (r->overdue) {
            char why[160];
            snprintf(why, sizeof(why),
                     "%d in-scope security fix%s not effective within %d days of release",
                     r->overdue, r->overdue == 1 ? "" : "es", o->sla_days);
            add_fail(r, "CE", why);
            snprintf(why, sizeof(why),
                     "%d critical/high fix%s overdue without an accepted exception", r->overdue,
                     r->overdue == 1 ? "" : "es");
            add_fail(r, "DSPT", why);
        }
        if (excepted_late) {
            /* A risk accepted under DSPT is still a missed patch under
             * Cyber Essentials, which allows no exceptions. */
            char why[200];
            snprintf(why, sizeof(why),
                     "%d in-scope security fix%s past %d days under an exception (DSPT accepts "
                     "the risk; Cyber Essentials does not)",
                     excepted_late, excepted_late == 1 ? "" : "es", o->sla_days);
            add_fail(r, "CE", why);
        }
        if ((os && os->reboot_required) || r->kernel_effective == 0)
            pt->reboot++;
        if (r->stale) {
            char why[160];
            if (r->last_seen)
                snprintf(why, sizeof(why),
                         "no check-in for %.1f days (more than %.1f): current state unknown",
                         round1((double)(at - r->last_seen) / DAY_MS),
                         round1((double)o->stale_ms / DAY_MS));
            else
                snprintf(why, sizeof(why), "the host has never checked in");
            add_fail(r, "CE", why);
            r->status = "unknown";
            pt->unknown++;
            pt->stale++;
        } else if (json_array_size(r->failing)) {
            r->status = "fail";
            pt->fail++;
        } else {
            r->status = "pass";
            pt->pass++;
        }
        pt->nhosts++;
    }
}

static void point_free(struct point *pt)
{
    for (size_t i = 0; i < pt->nhr; i++) {
        json_decref(pt->hr[i].failing);
        json_decref(pt->hr[i].unsupported);
    }
    free(pt->hr);
    free(pt->f);
}

/* ---- the document ------------------------------------------------------------ */

static json_t *rules_array(void)
{
    json_t *a = json_array();
    static const char *const id[] = { "CE", "DSPT", "CAF-B4.d" };
    const char *const name[] = { "Cyber Essentials: security update management",
                                 "NHS Data Security and Protection Toolkit",
                                 "NCSC CAF B4.d Vulnerability management" };
    const char *const text[] = { cx_rule_ce, cx_rule_dspt, cx_rule_caf };
    for (int i = 0; i < 3; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "id", id[i], "name", name[i],
                                           "text", text[i]));
    return a;
}

static json_t *ids(const char *a, const char *b, const char *c3)
{
    json_t *v = json_array();
    if (a)
        json_array_append_new(v, json_string(a));
    if (b)
        json_array_append_new(v, json_string(b));
    if (c3)
        json_array_append_new(v, json_string(c3));
    return v;
}

static json_t *pct(size_t n, size_t d)
{
    return d ? json_real(round1(100.0 * (double)n / (double)d)) : json_null();
}

static json_t *mean_days(double sum, size_t n)
{
    return n ? json_real(round1(sum / (double)n)) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? vg_json_text(s) : json_null();
}

static json_t *finding_json(const struct fnd *f, int64_t at)
{
    json_t *o = json_object(), *bins = json_array();
    uint8_t d[VG_SHA256_LEN];
    char idbuf[512], hex[VG_SHA256_LEN * 2 + 1];
    const char *adv_lists[1];
    int64_t end = f->effective ? f->effective_at : at;

    snprintf(idbuf, sizeof(idbuf), "%s|%s|%s|%s", f->h->agent_id, f->package, f->arch, f->fixed);
    vg_sha256(idbuf, strlen(idbuf), d);
    vg_hex(d, 8, hex);
    for (size_t b = 0; b < f->nbin; b++)
        json_array_append_new(bins, vg_json_text(f->bin[b]));
    json_object_set_new(o, "id", json_string(hex));
    json_object_set_new(o, "agent_id", vg_json_text(f->h->agent_id));
    json_object_set_new(o, "hostname", vg_json_text(f->hostname));
    json_object_set_new(o, "package", vg_json_text(f->package));
    json_object_set_new(o, "binaries", bins);
    json_object_set_new(o, "manager", json_string(f->rpm ? "rpm" : "dpkg"));
    json_object_set_new(o, "installed_version", vg_json_text(f->installed));
    json_object_set_new(o, "fixed_version", str_or_null(f->fixed));
    if (f->mf) {
        json_object_set(o, "advisories", f->mf->advisories);
        json_object_set(o, "cves", f->mf->cves);
    } else {
        adv_lists[0] = f->p_adv;
        json_object_set_new(o, "advisories", word_set(adv_lists, 1));
        json_object_set_new(o, "cves", json_array());
    }
    json_object_set_new(o, "severity", str_or_null(f->mf ? f->mf->severity : f->p_sev));
    json_object_set_new(o, "cvss",
                        f->mf && f->mf->cvss >= 0 ? json_real(round1(f->mf->cvss)) : json_null());
    json_object_set_new(o, "urgency", str_or_null(f->mf ? f->mf->urgency : NULL));
    json_object_set_new(o, "in_scope", json_boolean(f->in_scope));
    json_object_set_new(o, "scope_reason", vg_json_text(f->scope_reason));
    json_object_set_new(o, "released", vg_json_time(f->released));
    json_object_set_new(o, "first_seen_host", vg_json_time(f->first_host));
    json_object_set_new(o, "first_seen_fleet", vg_json_time(f->first_fleet));
    json_object_set_new(o, "clock_start", vg_json_time(f->clock_start));
    json_object_set_new(o, "due", vg_json_time(f->due));
    json_object_set_new(o, "installed", vg_json_time(f->installed_ok ? f->installed_at : 0));
    json_object_set_new(o, "effective", json_boolean(f->effective));
    json_object_set_new(o, "effective_at", vg_json_time(f->effective ? f->effective_at : 0));
    json_object_set_new(o, "effective_note", vg_json_text(f->note));
    json_object_set_new(o, "days_open",
                        json_real(round1((double)(end - f->clock_start) / DAY_MS)));
    json_object_set_new(o, "state", json_string(st_name[f->state]));
    json_object_set_new(o, "exception", f->exc_id ? json_integer(f->exc_id) : json_null());
    json_object_set_new(o, "source",
                        json_string(f->mf ? (f->src_pending ? "feed+pending" : "feed")
                                          : "pending"));
    json_object_set_new(o, "rules", f->in_scope ? ids("CE", "DSPT", "CAF-B4.d")
                                                : ids("CAF-B4.d", NULL, NULL));
    return o;
}

static json_t *host_json(const struct hostres *r, int64_t at)
{
    const struct cx_os *os = r->os;
    static const char *const sup[] = { "supported", "unsupported", "unknown" };
    json_t *o = json_object();
    char d[16];
    (void)at;
    json_object_set_new(o, "agent_id", vg_json_text(r->h->agent_id));
    json_object_set_new(o, "hostname", vg_json_text(r->hostname));
    json_object_set_new(o, "os", vg_json_text(os ? os->pretty : ""));
    json_object_set_new(o, "os_id", vg_json_text(os ? os->os_id : ""));
    json_object_set_new(o, "os_version", vg_json_text(os ? os->version_id : ""));
    json_object_set_new(o, "os_support", json_string(sup[r->support]));
    if (r->eol_ms) {
        time_t t = (time_t)(r->eol_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(d, sizeof(d), "%Y-%m-%d", &tm);
        json_object_set_new(o, "os_eol", json_string(d));
    } else {
        json_object_set_new(o, "os_eol", json_null());
    }
    json_object_set_new(o, "os_support_note", vg_json_text(r->support_note));
    json_object_set_new(o, "last_seen", vg_json_time(r->last_seen));
    json_object_set_new(o, "stale", json_boolean(r->stale));
    json_object_set_new(o, "running_kernel", vg_json_text(os ? os->kernel : ""));
    json_object_set_new(o, "newest_kernel", vg_json_text(os ? os->newest_kernel : ""));
    json_object_set_new(o, "kernel_effective",
                        r->kernel_effective < 0 ? json_null() : json_boolean(r->kernel_effective));
    json_object_set_new(o, "reboot_required", json_boolean(os && os->reboot_required));
    json_object_set_new(o, "open", json_integer(r->open));
    json_object_set_new(o, "overdue", json_integer(r->overdue));
    json_object_set_new(o, "excepted", json_integer(r->excepted));
    json_object_set_new(o, "met_late", json_integer(r->met_late));
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set(o, "failing_rules", r->failing);
    json_object_set(o, "unsupported_packages", r->unsupported);
    return o;
}

struct cve_row {
    const char *cve;
    const struct fnd *f;
};

static int cve_row_cmp(const void *a, const void *b)
{
    const struct cve_row *x = a, *y = b;
    int c = strcmp(x->cve, y->cve);
    if (!c)
        c = strcmp(x->f->h->agent_id, y->f->h->agent_id);
    return c;
}

static json_t *cves_json(const struct point *pt)
{
    json_t *out = json_array();
    struct cve_row *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < pt->nf; i++) {
        const struct fnd *f = &pt->f[i];
        size_t j;
        json_t *c;
        if (!f->mf)
            continue;
        json_array_foreach(f->mf->cves, j, c) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                struct cve_row *nv = realloc(v, nc * sizeof(*nv));
                if (!nv) {
                    free(v);
                    return out;
                }
                v = nv;
                cap = nc;
            }
            v[n].cve = json_string_value(c);
            v[n].f = f;
            n++;
        }
    }
    if (n)
        qsort(v, n, sizeof(*v), cve_row_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i, hosts = 0, open = 0, overdue = 0, exc = 0;
        int worst = -1, sev = 0;
        double cvss = -1;
        const char *sevs = NULL;
        const char *plist[64];
        size_t np = 0;
        json_t *o = json_object();
        for (; j < n && strcmp(v[j].cve, v[i].cve) == 0; j++) {
            const struct fnd *f = v[j].f;
            if (j == i || strcmp(f->h->agent_id, v[j - 1].f->h->agent_id) != 0)
                hosts++;
            open += f->state == ST_OPEN;
            overdue += f->state == ST_OVERDUE;
            exc += f->state == ST_EXCEPTED;
            if (worst < 0 || st_worst[f->state] > st_worst[worst])
                worst = (int)f->state;
            if (sev_rank(f->mf->severity) > sev) {
                sev = sev_rank(f->mf->severity);
                sevs = f->mf->severity;
            }
            if (f->mf->cvss > cvss)
                cvss = f->mf->cvss;
            if (np < 64)
                plist[np++] = f->package;
        }
        json_object_set_new(o, "cve", vg_json_text(v[i].cve));
        json_object_set_new(o, "packages", word_set(plist, np));
        json_object_set_new(o, "hosts", json_integer((json_int_t)hosts));
        json_object_set_new(o, "findings", json_integer((json_int_t)(j - i)));
        json_object_set_new(o, "open", json_integer((json_int_t)open));
        json_object_set_new(o, "overdue", json_integer((json_int_t)overdue));
        json_object_set_new(o, "excepted", json_integer((json_int_t)exc));
        json_object_set_new(o, "severity", str_or_null(sevs));
        json_object_set_new(o, "cvss", cvss >= 0 ? json_real(round1(cvss)) : json_null());
        json_object_set_new(o, "worst_state", json_string(st_name[worst < 0 ? 0 : worst]));
        json_array_append_new(out, o);
        i = j;
    }
    free(v);
    return out;
}

static json_t *exceptions_json(const struct ctx *c, const struct point *pt)
{
    json_t *out = json_array();
    int64_t at = pt->at;
    for (size_t i = 0; i < c->fl->nexc; i++) {
        const struct cx_exception *e = &c->fl->exc[i];
        json_t *o;
        size_t covered = 0;
        const char *status;
        if (e->created_ms > at)
            continue;
        for (size_t j = 0; j < pt->nf; j++)
            covered += pt->f[j].exc_id == e->id;
        status = e->revoked_ms && e->revoked_ms <= at ? "revoked"
                 : e->expires_ms <= at                ? "expired"
                                                      : "in-force";
        o = json_object();
        json_object_set_new(o, "id", json_integer(e->id));
        json_object_set_new(o, "host", vg_json_text(e->host));
        json_object_set_new(o, "package", str_or_null(e->package));
        json_object_set_new(o, "cve", str_or_null(e->cve));
        json_object_set_new(o, "reason", vg_json_text(e->reason));
        json_object_set_new(o, "approver", vg_json_text(e->approver));
        json_object_set_new(o, "control", str_or_null(e->control));
        json_object_set_new(o, "created", vg_json_time(e->created_ms));
        json_object_set_new(o, "created_by", vg_json_text(e->created_by));
        json_object_set_new(o, "expires", vg_json_time(e->expires_ms));
        json_object_set_new(o, "revoked",
                            vg_json_time(e->revoked_ms && e->revoked_ms <= at ? e->revoked_ms : 0));
        json_object_set_new(o, "status", json_string(status));
        json_object_set_new(o, "findings_covered", json_integer((json_int_t)covered));
        json_array_append_new(out, o);
    }
    return out;
}

static int host_cmp(const void *a, const void *b)
{
    const struct cx_host *x = *(const struct cx_host *const *)a,
                         *y = *(const struct cx_host *const *)b;
    int c = strcmp(x->hostname, y->hostname);
    return c ? c : strcmp(x->agent_id, y->agent_id);
}

static int merge_fixes(struct ctx *c)
{
    const struct cx_fleet *fl = c->fl;
    const struct cx_fix **ix;
    size_t n = fl->nfixes;
    if (!n)
        return 0;
    ix = malloc(n * sizeof(*ix));
    c->mf = calloc(n, sizeof(*c->mf));
    if (!ix || !c->mf) {
        free(ix);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ix[i] = &fl->fixes[i];
    qsort(ix, n, sizeof(*ix), fixp_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        struct mfix *m = &c->mf[c->nmf++];
        const char **cl = malloc(n * sizeof(*cl)), **al = malloc(n * sizeof(*al));
        size_t nc = 0, na = 0;
        if (!cl || !al) {
            free(cl);
            free(al);
            free(ix);
            return -ENOMEM;
        }
        m->release = ix[i]->release;
        m->package = ix[i]->package;
        m->arch = ix[i]->arch;
        m->fixed = ix[i]->fixed;
        m->urgency = "";
        m->severity = "";
        m->cvss = -1;
        for (; j < n && fix_key_cmp(ix[j], ix[i]) == 0; j++) {
            const struct cx_fix *x = ix[j];
            cl[nc++] = x->cves;
            al[na++] = x->advisory;
            if (x->released_ms && (!m->released_ms || x->released_ms < m->released_ms))
                m->released_ms = x->released_ms;
            if (!m->imported_ms || x->imported_ms < m->imported_ms)
                m->imported_ms = x->imported_ms;
            if (sev_rank(x->severity) > sev_rank(m->severity))
                m->severity = x->severity;
            if (x->cvss > m->cvss)
                m->cvss = x->cvss;
            if (!m->urgency[0] && x->urgency && x->urgency[0])
                m->urgency = x->urgency;
        }
        m->cves = word_set(cl, nc);
        m->advisories = word_set(al, na);
        free(cl);
        free(al);
        i = j;
    }
    free(ix);
    return 0;
}

static int build_pix(struct ctx *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->fl->nhosts; i++)
        n += c->fl->hosts[i].npend;
    c->pix = calloc(n ? n : 1, sizeof(*c->pix));
    c->rel = calloc(c->fl->nhosts ? c->fl->nhosts : 1, sizeof(*c->rel));
    if (!c->pix || !c->rel)
        return -ENOMEM;
    for (size_t i = 0; i < c->fl->nhosts; i++) {
        const struct cx_host *h = &c->fl->hosts[i];
        const struct cx_os *os = h->nos ? &h->os[h->nos - 1] : NULL;
        char *r = c->rel[i];
        host_release(os, r, sizeof(c->rel[i]));
        for (size_t j = 0; j < h->npend; j++) {
            const struct cx_pend *p = &h->pend[j];
            if (!p->security)
                continue;
            c->pix[c->npix].release = r;
            c->pix[c->npix].name = p->name;
            c->pix[c->npix].candidate = p->candidate;
            c->pix[c->npix].first_ms = p->first_ms;
            c->pix[c->npix].from_ms = p->from_ms;
            c->pix[c->npix].rpm = host_rpm(h);
            c->npix++;
        }
    }
    qsort(c->pix, c->npix, sizeof(*c->pix), pix_cmp);
    return 0;
}

json_t *cx_report(const struct cx_fleet *fl, const struct cx_opts *o)
{
    struct ctx c;
    struct point *pts;
    size_t np = fl->npoints ? fl->npoints : 1;
    json_t *doc = NULL, *hdr, *scope, *av, *feeds, *sum, *hosts, *finds, *weeks, *sr;
    struct point *now;

    memset(&c, 0, sizeof(c));
    c.fl = fl;
    c.o = o;
    c.hosts = calloc(fl->nhosts ? fl->nhosts : 1, sizeof(*c.hosts));
    pts = calloc(np, sizeof(*pts));
    if (!c.hosts || !pts || merge_fixes(&c) || build_pix(&c))
        goto out;
    for (size_t i = 0; i < fl->nhosts; i++)
        c.hosts[i] = &fl->hosts[i];
    qsort(c.hosts, fl->nhosts, sizeof(*c.hosts), host_cmp);
    for (size_t k = 0; k < np && !c.oom; k++) {
        pts[k].at = fl->npoints ? fl->points[k] : o->as_of_ms;
        eval_point(&c, &pts[k], k);
    }
    if (c.oom)
        goto out;
    now = &pts[0];
    qsort(now->f, now->nf, sizeof(*now->f), fnd_cmp);

    doc = json_object();
    json_object_set_new(doc, "type", json_string("vigil-patch-report"));
    json_object_set_new(doc, "version", json_integer(1));
    json_object_set_new(doc, "rules", rules_array());
    sr = json_object();
    json_object_set_new(sr, "summary", ids("CE", "DSPT", "CAF-B4.d"));
    json_object_set_new(sr, "hosts", ids("CE", "DSPT", "CAF-B4.d"));
    json_object_set_new(sr, "findings", ids("CE", "DSPT", "CAF-B4.d"));
    json_object_set_new(sr, "cves", ids("CAF-B4.d", NULL, NULL));
    json_object_set_new(sr, "exceptions", ids("DSPT", "CAF-B4.d", NULL));
    json_object_set_new(sr, "trend", ids("CAF-B4.d", NULL, NULL));
    json_object_set_new(doc, "section_rules", sr);

    hdr = json_object();
    json_object_set_new(hdr, "organisation", vg_json_text(o->organisation));
    json_object_set_new(hdr, "generated", vg_json_time(o->generated_ms));
    json_object_set_new(hdr, "generated_ms", json_integer(o->generated_ms));
    json_object_set_new(hdr, "as_of", vg_json_time(o->as_of_ms));
    json_object_set_new(hdr, "as_of_ms", json_integer(o->as_of_ms));
    scope = json_object();
    json_object_set_new(scope, "hosts_pattern", str_or_null(o->hosts_pattern));
    json_object_set_new(scope, "hosts", json_integer((json_int_t)now->nhosts));
    json_object_set_new(scope, "excluded_revoked", json_integer((json_int_t)now->revoked));
    json_object_set_new(hdr, "scope", scope);
    json_object_set_new(hdr, "collector_version", vg_json_text(o->collector_version));
    av = json_array();
    {
        /* Agent versions at as-of: a sorted list of each host's latest. */
        const char **vs = calloc(now->nhr ? now->nhr : 1, sizeof(*vs));
        size_t nv = 0;
        for (size_t i = 0; vs && i < now->nhr; i++) {
            const struct cx_host *h = now->hr[i].h;
            const char *v = "unknown";
            for (size_t j = 0; j < h->nver; j++)
                if (h->ver[j].from_ms <= o->as_of_ms)
                    v = h->ver[j].version;
            vs[nv++] = v;
        }
        if (vs)
            qsort(vs, nv, sizeof(*vs), cmp_str);
        for (size_t i = 0; i < nv;) {
            size_t j = i;
            while (j < nv && strcmp(vs[j], vs[i]) == 0)
                j++;
            json_array_append_new(av, json_pack("{s:o,s:I}", "version", vg_json_text(vs[i]),
                                                "hosts", (json_int_t)(j - i)));
            i = j;
        }
        free(vs);
    }
    json_object_set_new(hdr, "agent_versions", av);
    json_object_set_new(hdr, "sla_days", json_integer(o->sla_days));
    json_object_set_new(hdr, "stale_days", json_integer(o->stale_days));
    json_object_set_new(hdr, "history_days", json_integer(o->history_days));
    feeds = json_array();
    for (size_t i = 0; i < fl->nimports; i++) {
        const struct cx_import *im = &fl->imports[i];
        json_t *f = json_object();
        json_object_set_new(f, "id", json_integer(im->id));
        json_object_set_new(f, "format", vg_json_text(im->format));
        json_object_set_new(f, "doc_key", vg_json_text(im->doc_key));
        json_object_set_new(f, "source", vg_json_text(im->source));
        json_object_set_new(f, "sha256", vg_json_text(im->sha256));
        json_object_set_new(f, "size", json_integer(im->size));
        json_object_set_new(f, "imported", vg_json_time(im->imported_ms));
        json_object_set_new(f, "imported_by", vg_json_text(im->imported_by));
        json_object_set_new(f, "records", json_integer(im->records));
        json_array_append_new(feeds, f);
    }
    json_object_set_new(hdr, "feeds", feeds);
    json_object_set_new(doc, "header", hdr);

    sum = json_object();
    json_object_set_new(sum, "hosts", json_integer((json_int_t)now->nhosts));
    json_object_set_new(sum, "compliant", json_integer((json_int_t)now->pass));
    json_object_set_new(sum, "non_compliant", json_integer((json_int_t)now->fail));
    json_object_set_new(sum, "unknown", json_integer((json_int_t)now->unknown));
    json_object_set_new(sum, "compliant_pct", pct(now->pass, now->nhosts));
    json_object_set_new(sum, "findings", json_integer((json_int_t)now->findings));
    json_object_set_new(sum, "open", json_integer((json_int_t)now->cnt[ST_OPEN]));
    json_object_set_new(sum, "overdue", json_integer((json_int_t)now->cnt[ST_OVERDUE]));
    json_object_set_new(sum, "met", json_integer((json_int_t)now->cnt[ST_MET]));
    json_object_set_new(sum, "met_late", json_integer((json_int_t)now->cnt[ST_MET_LATE]));
    json_object_set_new(sum, "excepted", json_integer((json_int_t)now->cnt[ST_EXCEPTED]));
    json_object_set_new(sum, "no_fix_yet", json_integer((json_int_t)now->cnt[ST_NOFIX]));
    json_object_set_new(sum, "out_of_scope", json_integer((json_int_t)now->out_of_scope));
    json_object_set_new(sum, "unsupported_os", json_integer((json_int_t)now->unsupported));
    json_object_set_new(sum, "stale_hosts", json_integer((json_int_t)now->stale));
    json_object_set_new(sum, "reboot_pending", json_integer((json_int_t)now->reboot));
    json_object_set_new(sum, "mean_days_to_remediate", mean_days(now->rem_days_sum, now->rem_n));
    json_object_set_new(doc, "summary", sum);

    hosts = json_array();
    for (size_t i = 0; i < now->nhr; i++)
        json_array_append_new(hosts, host_json(&now->hr[i], now->at));
    json_object_set_new(doc, "hosts", hosts);
    finds = json_array();
    for (size_t i = 0; i < now->nf; i++)
        json_array_append_new(finds, finding_json(&now->f[i], now->at));
    json_object_set_new(doc, "findings", finds);
    json_object_set_new(doc, "cves", cves_json(now));
    json_object_set_new(doc, "exceptions", exceptions_json(&c, now));
    weeks = json_array();
    for (size_t k = np; k-- > 0;) {
        const struct point *p = &pts[k];
        json_t *w = json_object();
        json_object_set_new(w, "week_ending", vg_json_time(p->at));
        json_object_set_new(w, "hosts", json_integer((json_int_t)p->nhosts));
        json_object_set_new(w, "compliant_pct", pct(p->pass, p->nhosts));
        json_object_set_new(w, "overdue", json_integer((json_int_t)p->cnt[ST_OVERDUE]));
        json_object_set_new(w, "remediated", json_integer((json_int_t)p->remediated_week));
        json_object_set_new(w, "mean_days_to_remediate",
                            mean_days(p->rem_week_days_sum, p->remediated_week));
        json_array_append_new(weeks, w);
    }
    json_object_set_new(doc, "trend", json_pack("{s:o}", "weeks", weeks));
out:
    for (size_t k = 0; pts && k < np; k++)
        point_free(&pts[k]);
    free(pts);
    for (size_t i = 0; i < c.nmf; i++) {
        json_decref(c.mf[i].cves);
        json_decref(c.mf[i].advisories);
    }
    free(c.mf);
    free(c.pix);
    free(c.rel);
    free(c.hosts);
    return doc;
}
