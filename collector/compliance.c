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
        memcpy(p, s, n + 1);
    return p;
}

void cx_fleet_free(struct cx_fleet *f)
{
    if (!f)
        return;
    cx_arena_free(f->arena);
    memset(f, 0, sizeof(*f));
}

/* ---- package history -------------------------------------------------------- */

struct first_row { /* the collector's first row of each (name, arch) */
    const char *name, *arch, *source, *source_version, *version;
    int64_t from_ms;
};

static int first_row_cmp(const void *a, const void *b)
{
    const struct first_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->arch, y->arch);
}

static int hist_cmp(const void *a, const void *b)
{
    const struct cx_hist *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->arch, y->arch);
    if (!c)
        c = (x->time_ms > y->time_ms) - (x->time_ms < y->time_ms);
    return c;
}

/* The collector's first row for name (and arch, when given), or NULL. */
static const struct first_row *first_row_of(const struct first_row *v, size_t n, const char *name,
                                            const char *arch)
{
    size_t l = 0, r = n;
    while (l < r) {
        size_t m = (l + r) / 2;
        if (strcmp(v[m].name, name) < 0)
            l = m + 1;
        else
            r = m;
    }
    for (size_t i = l; i < n && strcmp(v[i].name, name) == 0; i++)
        if (!arch || strcmp(v[i].arch, arch) == 0)
            return &v[i];
    return NULL;
}

/* Rows for host h's history before the collector first listed each
 * package, put before its own rows (later rows win where order counts). */
static int host_history(struct cx_arena *a, struct cx_host *h)
{
    struct first_row *fr = NULL;
    struct cx_pkg *rows = NULL, *nv;
    size_t nfr = 0, nrows = 0, cap;
    int64_t start;
    int rc = -ENOMEM;

    if (!h->nhist)
        return 0;
    fr = calloc(h->npkg ? h->npkg : 1, sizeof(*fr));
    cap = 2 * h->nhist;
    rows = calloc(cap, sizeof(*rows));
    if (!fr || !rows)
        goto out;
    for (size_t i = 0; i < h->npkg; i++) {
        const struct cx_pkg *p = &h->pkg[i];
        struct first_row k = { p->name, p->arch, p->source, p->source_version, p->version,
                               p->from_ms };
        fr[nfr++] = k;
    }
    qsort(fr, nfr, sizeof(*fr), first_row_cmp);
    { /* keep the earliest of each (name, arch) */
        size_t w = 0;
        for (size_t i = 0; i < nfr; i++) {
            if (w && first_row_cmp(&fr[w - 1], &fr[i]) == 0) {
                if (fr[i].from_ms < fr[w - 1].from_ms)
                    fr[w - 1] = fr[i];
                continue;
            }
            fr[w++] = fr[i];
        }
        nfr = w;
    }
    qsort(h->hist, h->nhist, sizeof(*h->hist), hist_cmp);
    start = h->hist[0].time_ms;
    for (size_t i = 0; i < h->nhist; i++)
        if (h->hist[i].time_ms < start)
            start = h->hist[i].time_ms;
    for (size_t g = 0, ge; g < h->nhist; g = ge) {
        const struct cx_hist *e0 = &h->hist[g];
        const struct first_row *own = first_row_of(fr, nfr, e0->name, e0->arch);
        const struct first_row *any = own ? own : first_row_of(fr, nfr, e0->name, NULL);
        /* The collector's rows are the truth from when it first saw the
         * host (or listed the package, if earlier). */
        int64_t cutoff = own && own->from_ms < h->first_seen_ms ? own->from_ms : h->first_seen_ms;
        struct cx_pkg *cur = NULL;
        size_t gstart = nrows;
        for (ge = g; ge < h->nhist && strcmp(h->hist[ge].name, e0->name) == 0 &&
                     strcmp(h->hist[ge].arch, e0->arch) == 0;
             ge++)
            ;
        for (size_t i = g; i < ge; i++) {
            const struct cx_hist *e = &h->hist[i];
            if (e->time_ms >= cutoff)
                break;
            if (nrows + 2 > cap)
                goto out; /* cannot happen: at most two rows per event */
            if (!cur && e->old_version[0]) {
                /* The version it replaced, there since before the log. */
                struct cx_pkg *p = &rows[nrows++];
                p->name = e->name;
                p->arch = e->arch;
                p->version = e->old_version;
                p->from_ms = start < e->time_ms ? start : e->time_ms;
                p->to_ms = e->time_ms;
            } else if (cur) {
                cur->to_ms = e->time_ms;
            }
            cur = NULL;
            if (e->new_version[0]) {
                cur = &rows[nrows++];
                cur->name = e->name;
                cur->arch = e->arch;
                cur->version = e->new_version;
                cur->from_ms = cur->install_ms = e->time_ms;
                cur->to_ms = cutoff;
            }
        }
        /* Source: as the collector lists the package; its source version
         * only where the binary's version is the same (else the binary's
         * own version stands in, as it does for most packages). */
        for (size_t r = gstart; r < nrows; r++) {
            struct cx_pkg *p = &rows[r];
            p->source = any && any->source ? any->source : "";
            p->source_version =
                any && any->source_version && any->source_version[0] && p->version &&
                        strcmp(any->version, p->version) == 0
                    ? any->source_version
                    : "";
        }
    }
    if (!nrows) {
        rc = 0;
        goto out;
    }
    nv = cx_alloc(a, (nrows + h->npkg) * sizeof(*nv));
    if (!nv)
        goto out;
    memcpy(nv, rows, nrows * sizeof(*rows));
    if (h->npkg)
        memcpy(nv + nrows, h->pkg, h->npkg * sizeof(*nv));
    h->pkg = nv;
    h->npkg += nrows;
    rc = 0;
out:
    free(fr);
    free(rows);
    return rc;
}

int cx_fleet_apply_history(struct cx_fleet *f)
{
    for (size_t i = 0; i < f->nhosts; i++) {
        int rc = host_history(f->arena, &f->hosts[i]);
        if (rc)
            return rc;
    }
    return 0;
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
    int64_t first_ms, from_ms, release_file_ms;
    int rpm;
};

struct inst_ix { /* every install the fleet's package rows and histories show */
    const char *release, *name, *version;
    int64_t at_ms;
};

/* Fleet-wide evidence of one (release, name, fixed) at one point: the
 * same for every host with that finding, so worked out once (without it
 * a report costs hosts x hosts). */
struct ev_memo {
    char release[32]; /* a copy: the caller's is a buffer reused per host */
    const char *name, *fixed; /* the fleet's strings; name NULL: a free slot */
    int64_t seen, relfile, inst;
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
    int64_t released_at; /* the release date, or the earliest evidence of it */
    const char *released_from;
    int confirmed; /* the clock starts at an advisory's date */
    int installed_ok, effective, kernel, src_pending, rpm;
    int in_scope;
    char scope_reason[128], note[200];
    enum st state;
    const struct cx_exception *exc[8]; /* the exceptions covering a part of it */
    size_t nexc;
    char id[17];
};

struct hostres {
    const struct cx_host *h;
    const struct cx_os *os;
    const char *hostname;
    enum cx_support support;
    int64_t eol_ms, last_seen;
    char support_note[160];
    int stale, open, overdue, excepted, met_late, kernel_effective; /* -1 none */
    int unconfirmed;        /* open in-scope findings whose clock is not an advisory's */
    int64_t unconfirmed_from; /* the oldest such finding's clock start */
    int reboot;             /* the OS says so, or a fixed kernel is not running */
    json_t *failing;
    json_t *unsupported; /* packages whose security support ended */
    const char *status;
};

struct point {
    int64_t at;
    size_t nhosts, pass, fail, unknown, unsupported, stale, reboot, revoked, unconfirmed;
    size_t unconfirmed_findings;
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
    struct inst_ix *iix;
    size_t niix;
    struct ev_memo *memo; /* open addressing */
    size_t memo_cap, memo_n;
    int64_t memo_at;
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

/* The first element of sorted base[0..n) not less than key. */
static size_t lower_bound(const void *base, size_t n, size_t size, const void *key,
                          int (*cmp)(const void *, const void *))
{
    size_t l = 0, r = n;
    while (l < r) {
        size_t m = (l + r) / 2;
        if (cmp((const char *)base + m * size, key) < 0)
            l = m + 1;
        else
            r = m;
    }
    return l;
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
        struct pend_ix key = { release, name, NULL, 0, 0, 0, 0 };
        size_t l = lower_bound(c->pix, c->npix, sizeof(*c->pix), &key, pix_cmp);
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

/* By release, name and version string, then time: the first entry of a
 * version is its earliest install. */
static int iix_cmp(const void *a, const void *b)
{
    const struct inst_ix *x = a, *y = b;
    int c = strcmp(x->release, y->release);
    if (!c)
        c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->version, y->version);
    return c;
}

static int iix_sort_cmp(const void *a, const void *b)
{
    const struct inst_ix *x = a, *y = b;
    int c = iix_cmp(a, b);
    return c ? c : (x->at_ms > y->at_ms) - (x->at_ms < y->at_ms);
}

/* Release-date evidence for `name` at `fixed` in the fleet, at or before
 * at: the earliest Date: of a Release file it (or a later version) was
 * pending from, and the earliest install of that version on any host. */
static void fleet_evidence(const struct ctx *c, const char *release, const char *name,
                           const char *fixed, int rpm, int64_t at, int64_t *relfile,
                           int64_t *inst)
{
    struct pend_ix pk = { release, name, NULL, 0, 0, 0, 0 };
    struct inst_ix ik = { release, name, fixed, 0 };
    size_t l = lower_bound(c->pix, c->npix, sizeof(*c->pix), &pk, pix_cmp);
    for (; l < c->npix && pix_cmp(&c->pix[l], &pk) == 0; l++) {
        const struct pend_ix *p = &c->pix[l];
        if (!p->release_file_ms || p->from_ms > at || p->release_file_ms > at ||
            vcmp(rpm, p->candidate, fixed) < 0)
            continue;
        if (!*relfile || p->release_file_ms < *relfile)
            *relfile = p->release_file_ms;
    }
    /* That very version: a later one (from backports, say) may predate
     * the fix in the release's own archive.  The first is the earliest. */
    l = lower_bound(c->iix, c->niix, sizeof(*c->iix), &ik, iix_cmp);
    if (l < c->niix && iix_cmp(&c->iix[l], &ik) == 0 && c->iix[l].at_ms <= at &&
        (!*inst || c->iix[l].at_ms < *inst))
        *inst = c->iix[l].at_ms;
}

static uint64_t memo_hash(const char *release, const char *name, const char *fixed)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = { release, name, fixed };
    for (int i = 0; i < 3; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

/* Makes room for one more memo entry; 0, or -ENOMEM (then no memo). */
static int memo_grow(struct ctx *c)
{
    struct ev_memo *old = c->memo, *nv;
    size_t oc = c->memo_cap, nc = oc ? oc * 2 : 4096;
    if (c->memo_n * 2 < oc)
        return 0;
    nv = calloc(nc, sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    for (size_t i = 0; i < oc; i++) {
        size_t j;
        if (!old[i].name)
            continue;
        j = memo_hash(old[i].release, old[i].name, old[i].fixed) & (nc - 1);
        while (nv[j].name)
            j = (j + 1) & (nc - 1);
        nv[j] = old[i];
    }
    free(old);
    c->memo = nv;
    c->memo_cap = nc;
    return 0;
}

/* The fleet's evidence for (release, name, fixed) at `at`: first sight
 * pending, Release-file date, install of that version. */
static void fleet_lookup(struct ctx *c, const char *release, const char *name, const char *fixed,
                         int rpm, int64_t at, int64_t *seen, int64_t *relfile, int64_t *inst)
{
    struct ev_memo *m = NULL;
    if (c->memo_at != at) { /* a new point: nothing known yet */
        if (c->memo)
            memset(c->memo, 0, c->memo_cap * sizeof(*c->memo));
        c->memo_n = 0;
        c->memo_at = at;
    }
    if (memo_grow(c) == 0 && c->memo_cap) {
        size_t j = memo_hash(release, name, fixed) & (c->memo_cap - 1);
        for (; c->memo[j].name; j = (j + 1) & (c->memo_cap - 1))
            if (strcmp(c->memo[j].release, release) == 0 && strcmp(c->memo[j].name, name) == 0 &&
                strcmp(c->memo[j].fixed, fixed) == 0) {
                *seen = c->memo[j].seen;
                *relfile = c->memo[j].relfile;
                *inst = c->memo[j].inst;
                return;
            }
        m = &c->memo[j];
    }
    *seen = first_avail(c, NULL, release, name, fixed, rpm, at);
    *relfile = *inst = 0;
    fleet_evidence(c, release, name, fixed, rpm, at, relfile, inst);
    if (m) {
        vg_strlcpy(m->release, release, sizeof(m->release));
        m->name = name;
        m->fixed = fixed;
        m->seen = *seen;
        m->relfile = *relfile;
        m->inst = *inst;
        c->memo_n++;
    }
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
                 f->mf ? "in scope: no vendor rating (CE treats these as critical); Debian "
                         "security fix"
                       : "in scope: no vendor rating (CE treats these as critical); update from "
                         "the distribution's security archive");
    } else if (sev_rank(sev) >= 3) {
        f->in_scope = 1;
        snprintf(f->scope_reason, sizeof(f->scope_reason), "vendor severity %s", sev);
    } else if (cvss >= 7.0) {
        f->in_scope = 1;
        snprintf(f->scope_reason, sizeof(f->scope_reason), "CVSS v3 %.1f (7 or more)", cvss);
    } else if (!sev || !sev[0]) {
        f->in_scope = cvss < 0;
        snprintf(f->scope_reason, sizeof(f->scope_reason),
                 cvss < 0 ? "in scope: no vendor rating (CE treats these as critical)"
                          : "out of scope: no vendor severity, CVSS v3 %.1f (under 7)",
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

static int exc_in_force(const struct cx_exception *e, int64_t at)
{
    return e->created_ms <= at && !(e->revoked_ms && e->revoked_ms <= at) && e->expires_ms > at;
}

/* Whether host h has tag "KEY=VALUE". */
static int host_has_tag(const struct cx_host *h, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t kl;
    if (!eq)
        return 0;
    kl = (size_t)(eq - kv);
    for (size_t i = 0; i < h->ntags; i++)
        if (strlen(h->tag_key[i]) == kl && strncmp(h->tag_key[i], kv, kl) == 0 &&
            strcmp(h->tag_value[i], eq + 1) == 0)
            return 1;
    return 0;
}

static int exc_host_match(const struct cx_exception *e, const struct cx_host *h)
{
    if (strcmp(e->host, "*") == 0)
        return 1;
    if (strncmp(e->host, "tag:", 4) == 0)
        return host_has_tag(h, e->host + 4);
    return strcmp(e->host, h->agent_id) == 0;
}

/* Whether e covers binary `bin` of finding f for CVE `cve` (NULL: the
 * fix lists none).  A source exception covers every binary of its
 * source, a binary exception that binary only. */
static int exc_covers(const struct cx_exception *e, const struct fnd *f, const char *bin,
                      const char *cve)
{
    if (e->package && e->package[0]) {
        const char *kind = e->package_kind ? e->package_kind : "";
        int src = strcmp(kind, "source") == 0 ||
                  (!kind[0] && strcmp(e->package, f->package) == 0);
        if (src ? strcmp(e->package, f->package) != 0 : strcmp(e->package, bin) != 0)
            return 0;
    }
    if (e->cve && e->cve[0] && (!cve || strcmp(e->cve, cve) != 0))
        return 0;
    return 1;
}

/* Whether finding f is excepted at `at`: every (binary, CVE) pair of it
 * is covered by an exception in force for its host, so excepting one CVE
 * or one binary does not hide the rest.  Fills f->exc with every
 * exception that covers a part of it. */
static int excepted(const struct ctx *c, struct fnd *f, int64_t at)
{
    const struct cx_exception *mine[256];
    size_t nmine = 0, ncve = f->mf ? json_array_size(f->mf->cves) : 0;
    size_t nb = f->nbin ? f->nbin : 1;

    f->nexc = 0;
    for (size_t i = 0; i < c->fl->nexc && nmine < VG_ARRAY_SIZE(mine); i++) {
        const struct cx_exception *e = &c->fl->exc[i];
        if (exc_in_force(e, at) && exc_host_match(e, f->h))
            mine[nmine++] = e;
    }
    if (!nmine)
        return 0;
    for (size_t b = 0; b < nb; b++) {
        const char *bin = f->nbin ? f->bin[b] : f->package;
        for (size_t k = 0; k < (ncve ? ncve : 1); k++) {
            const char *cve = ncve ? json_string_value(json_array_get(f->mf->cves, k)) : NULL;
            int covered = 0;
            for (size_t i = 0; i < nmine; i++) {
                size_t j;
                if (!exc_covers(mine[i], f, bin, cve))
                    continue;
                covered = 1;
                for (j = 0; j < f->nexc && f->exc[j] != mine[i]; j++)
                    ;
                if (j == f->nexc && f->nexc < VG_ARRAY_SIZE(f->exc))
                    f->exc[f->nexc++] = mine[i];
            }
            if (!covered) {
                f->nexc = 0;
                return 0;
            }
        }
    }
    return 1;
}

/* Clock, state and counts of a finding whose installed/effective facts
 * are set.  Returns 0 to keep it, 1 to drop it (not yet known at `at`,
 * or remediated before the history window). */
static int settle(struct ctx *c, struct point *pt, struct fnd *f, const char *release)
{
    int64_t at = pt->at;
    int64_t t = 0, relfile = 0, inst = 0;

    if (f->fixed[0]) {
        size_t nn = f->nbin ? f->nbin : 1;
        f->first_host = 0;
        f->first_fleet = 0;
        for (size_t b = 0; b < nn; b++) {
            const char *name = f->nbin ? f->bin[b] : f->package;
            int64_t x = first_avail(c, f->h, release, name, f->fixed, f->rpm, at);
            if (x && (!f->first_host || x < f->first_host))
                f->first_host = x;
            {
                int64_t rf, in;
                fleet_lookup(c, release, name, f->fixed, f->rpm, at, &x, &rf, &in);
                if (x && (!f->first_fleet || x < f->first_fleet))
                    f->first_fleet = x;
                if (rf && (!relfile || rf < relfile))
                    relfile = rf;
                if (in && (!inst || in < inst))
                    inst = in;
            }
        }
        if (f->first_host)
            f->src_pending = 1;
    }
    f->confirmed = 0;
    f->released_at = 0;
    f->released_from = "unknown";
    if (f->released > 0) {
        /* The vendor's date; a sighting before it (the archive ahead of
         * the advisory list) starts the clock earlier. */
        f->released_at = f->released;
        f->released_from = "advisory";
        f->confirmed = 1;
        t = f->released;
        if (f->first_host && f->first_host < t)
            t = f->first_host;
        if (f->first_fleet && f->first_fleet < t)
            t = f->first_fleet;
    } else {
        /* Fleet-wide evidence: each shows the fix existed by then. */
        const int64_t ev[3] = { f->first_fleet, relfile, inst };
        static const char *const from[3] = { "first-seen", "release-file", "install-history" };
        for (size_t i = 0; i < 3; i++)
            if (ev[i] > 0 && (!t || ev[i] < t)) {
                t = ev[i];
                f->released_from = from[i];
            }
        if (!t && f->mf && f->mf->imported_ms) {
            t = f->mf->imported_ms; /* when a feed first told us */
            f->released_from = "feed-import";
        }
        f->released_at = t;
    }
    if (!t || t > at)
        return 1;
    f->clock_start = t;
    f->due = f->fixed[0] ? t + (int64_t)c->o->sla_days * DAY_MS : 0;
    if (f->effective && f->effective_at < at - (int64_t)c->o->history_days * DAY_MS)
        return 1;
    scope(f);
    f->nexc = 0;
    if (f->effective)
        f->state = f->effective_at <= f->due ? ST_MET : ST_MET_LATE;
    else if (!f->fixed[0])
        f->state = ST_NOFIX;
    else if (excepted(c, f, at))
        f->state = ST_EXCEPTED;
    else
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
        {
            /* One finding per source and fixed version: its binaries
             * (openssl, libssl3) join the first one's. */
            const char *src = rpm ? p->name : src_of(cur);
            int ok = vcmp(rpm, cur->version, p->candidate) >= 0;
            struct fnd *x = NULL;
            for (size_t k = first; k < pt->nf && !x; k++)
                if (!pt->f[k].mf && strcmp(pt->f[k].package, src) == 0 &&
                    strcmp(pt->f[k].arch, p->arch) == 0 && strcmp(pt->f[k].fixed, p->candidate) == 0)
                    x = &pt->f[k];
            if (x) {
                if (x->nbin < MAX_BIN)
                    x->bin[x->nbin++] = p->name;
                if (!ok && x->effective) {
                    x->installed_ok = x->effective = 0;
                    x->installed_at = x->effective_at = 0;
                    x->installed = cur->version;
                    snprintf(x->note, sizeof(x->note), "security update pending on the host");
                } else if (ok && x->effective) {
                    int64_t t = cur->install_ms ? cur->install_ms : cur->from_ms;
                    if (t > x->effective_at)
                        x->installed_at = x->effective_at = t;
                }
                settle(c, pt, x, release);
                continue;
            }
        }
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
        if (o->cancel && atomic_load(o->cancel)) {
            c->oom = 1; /* gives NULL, as when out of memory */
            break;
        }
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
            if (f->state == ST_OPEN && !f->confirmed) {
                r->unconfirmed++;
                pt->unconfirmed_findings++;
                if (!r->unconfirmed_from || f->clock_start < r->unconfirmed_from)
                    r->unconfirmed_from = f->clock_start;
            }
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
                     "%d in-scope fix%s (vendor-rated critical or high, or unrated) not effective "
                     "within %d days and not covered by an exception approved by the SIRO",
                     r->overdue, r->overdue == 1 ? "" : "es", o->sla_days);
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
        /* As `vigilctl host` says it: the OS flag, a newer kernel
         * installed than the one running, or a fixed kernel not running. */
        r->reboot = (os && (os->reboot_required ||
                            (os->newest_kernel[0] && os->kernel[0] &&
                             strcmp(os->newest_kernel, os->kernel) != 0))) ||
                    r->kernel_effective == 0;
        if (r->reboot)
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
        } else if (r->unconfirmed) {
            /* No green without evidence: the fix may be older than the
             * fleet's first sight of it, so possibly overdue. */
            r->status = "unconfirmed";
            pt->unconfirmed++;
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

/* A finding's stable id: host, package, arch and fixed version. */
static void fnd_set_id(struct fnd *f)
{
    uint8_t d[VG_SHA256_LEN];
    char idbuf[512];
    snprintf(idbuf, sizeof(idbuf), "%s|%s|%s|%s", f->h->agent_id, f->package, f->arch, f->fixed);
    vg_sha256(idbuf, strlen(idbuf), d);
    vg_hex(d, 8, f->id);
}

static json_t *finding_json(const struct fnd *f, int64_t at)
{
    json_t *o = json_object(), *bins = json_array(), *exc = json_array();
    const char *adv_lists[1];
    int64_t end = f->effective ? f->effective_at : at;
    int late = f->due && (f->state == ST_MET_LATE || f->state == ST_OVERDUE ||
                          (f->state == ST_EXCEPTED && end > f->due));

    for (size_t i = 0; i < f->nexc; i++)
        json_array_append_new(exc, json_integer(f->exc[i]->id));
    for (size_t b = 0; b < f->nbin; b++)
        json_array_append_new(bins, vg_json_text(f->bin[b]));
    json_object_set_new(o, "id", json_string(f->id));
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
    json_object_set_new(o, "released_at", vg_json_time(f->released_at));
    json_object_set_new(o, "released_from", json_string(f->released_from));
    json_object_set_new(o, "clock_confirmed", json_boolean(f->confirmed));
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
    json_object_set_new(o, "days_late",
                        late ? json_real(round1((double)(end - f->due) / DAY_MS)) : json_null());
    json_object_set_new(o, "state", json_string(st_name[f->state]));
    json_object_set_new(o, "exceptions", exc);
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
    json_object_set_new(o, "reboot_required", json_boolean(r->reboot));
    json_object_set_new(o, "open", json_integer(r->open));
    json_object_set_new(o, "overdue", json_integer(r->overdue));
    json_object_set_new(o, "excepted", json_integer(r->excepted));
    json_object_set_new(o, "met_late", json_integer(r->met_late));
    json_object_set_new(o, "unconfirmed", json_integer(r->unconfirmed));
    if (r->unconfirmed) {
        char why[300];
        snprintf(why, sizeof(why),
                 "%d open fix%s with no release date from an advisory: the earliest evidence "
                 "(%.1f days ago) only bounds %s age from below, so %s may already be overdue",
                 r->unconfirmed, r->unconfirmed == 1 ? "" : "es",
                 round1((double)(at - r->unconfirmed_from) / DAY_MS),
                 r->unconfirmed == 1 ? "its" : "their", r->unconfirmed == 1 ? "it" : "they");
        json_object_set_new(o, "unconfirmed_reason", json_string(why));
    } else {
        json_object_set_new(o, "unconfirmed_reason", json_string(""));
    }
    {
        json_t *tags = json_object();
        for (size_t i = 0; i < r->h->ntags; i++)
            json_object_set_new(tags, r->h->tag_key[i], vg_json_text(r->h->tag_value[i]));
        json_object_set_new(o, "tags", tags);
    }
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
        json_t *o, *cov = json_array();
        const char *status, *hostname = NULL, *kind = NULL;
        const char *scope = strcmp(e->host, "*") == 0            ? "all"
                            : strncmp(e->host, "tag:", 4) == 0 ? "tag"
                                                               : "host";
        if (e->created_ms > at) {
            json_decref(cov);
            continue;
        }
        for (size_t j = 0; j < pt->nf; j++) {
            const struct fnd *f = &pt->f[j];
            if (f->state != ST_EXCEPTED)
                continue;
            for (size_t k = 0; k < f->nexc; k++)
                if (f->exc[k] == e)
                    json_array_append_new(cov, json_string(f->id));
        }
        /* The name at as-of, else the name the collector holds now. */
        for (size_t j = 0; strcmp(scope, "host") == 0 && j < c->fl->nhosts; j++)
            if (strcmp(c->fl->hosts[j].agent_id, e->host) == 0)
                hostname = c->fl->hosts[j].hostname;
        if (!hostname && strcmp(scope, "host") == 0)
            hostname = e->hostname;
        if (e->package && e->package[0])
            kind = e->package_kind && e->package_kind[0] ? e->package_kind : "source-or-binary";
        status = e->revoked_ms && e->revoked_ms <= at ? "revoked"
                 : e->expires_ms <= at                ? "expired"
                                                      : "in-force";
        o = json_object();
        json_object_set_new(o, "id", json_integer(e->id));
        json_object_set_new(o, "host", vg_json_text(e->host));
        json_object_set_new(o, "hostname", str_or_null(hostname));
        json_object_set_new(o, "scope", json_string(scope));
        json_object_set_new(o, "tag", strcmp(scope, "tag") == 0 ? vg_json_text(e->host + 4)
                                                                 : json_null());
        json_object_set_new(o, "package", str_or_null(e->package));
        json_object_set_new(o, "package_kind", str_or_null(kind));
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
        json_object_set_new(o, "findings_covered", json_integer((json_int_t)json_array_size(cov)));
        json_object_set_new(o, "covered_findings", cov);
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
            c->pix[c->npix].release_file_ms = p->release_file_ms;
            c->pix[c->npix].rpm = host_rpm(h);
            c->npix++;
        }
    }
    qsort(c->pix, c->npix, sizeof(*c->pix), pix_cmp);
    n = 0;
    for (size_t i = 0; i < c->fl->nhosts; i++)
        n += c->fl->hosts[i].npkg;
    c->iix = calloc(n ? n : 1, sizeof(*c->iix));
    if (!c->iix)
        return -ENOMEM;
    for (size_t i = 0; i < c->fl->nhosts; i++) {
        const struct cx_host *h = &c->fl->hosts[i];
        for (size_t j = 0; j < h->npkg; j++) {
            const struct cx_pkg *p = &h->pkg[j];
            if (!p->install_ms || !c->rel[i][0])
                continue;
            c->iix[c->niix].release = c->rel[i];
            c->iix[c->niix].name = p->name;
            c->iix[c->niix].version = p->version;
            c->iix[c->niix].at_ms = p->install_ms;
            c->niix++;
        }
    }
    qsort(c->iix, c->niix, sizeof(*c->iix), iix_sort_cmp);
    return 0;
}

static int fix_ptr_cmp(const void *a, const void *b)
{
    const struct fnd *x = *(const struct fnd *const *)a, *y = *(const struct fnd *const *)b;
    int c = strcmp(x->package, y->package);
    return c ? c : strcmp(x->fixed, y->fixed);
}

/* Distinct fixes (package, fixed version) behind the unconfirmed findings. */
static size_t unconfirmed_fixes(const struct point *pt)
{
    const struct fnd **v = calloc(pt->nf ? pt->nf : 1, sizeof(*v));
    size_t n = 0, d = 0;
    if (!v)
        return pt->unconfirmed_findings;
    for (size_t i = 0; i < pt->nf; i++)
        if (pt->f[i].in_scope && pt->f[i].state == ST_OPEN && !pt->f[i].confirmed)
            v[n++] = &pt->f[i];
    qsort(v, n, sizeof(*v), fix_ptr_cmp);
    for (size_t i = 0; i < n; i++)
        d += i == 0 || fix_ptr_cmp(&v[i - 1], &v[i]) != 0;
    free(v);
    return d;
}

/* The report's first line, the same in every format: never a bare
 * percentage while any host cannot be confirmed. */
static json_t *headline(const struct point *pt, size_t fx)
{
    char t[512];
    if (!pt->nhosts) {
        snprintf(t, sizeof(t), "No hosts in scope.");
    } else if (pt->unconfirmed) {
        snprintf(t, sizeof(t),
                 "Compliance cannot be confirmed for %zu of %zu host%s: %zu fix%s no release date "
                 "from an advisory. Import advisories: vigilctl advisories import. "
                 "%zu non-compliant, %zu unknown, %zu compliant.",
                 pt->unconfirmed, pt->nhosts, pt->nhosts == 1 ? "" : "s", fx,
                 fx == 1 ? " has" : "es have", pt->fail, pt->unknown, pt->pass);
    } else {
        snprintf(t, sizeof(t), "%zu of %zu host%s compliant (%.1f%%): %zu non-compliant, %zu unknown.",
                 pt->pass, pt->nhosts, pt->nhosts == 1 ? "" : "s",
                 round1(100.0 * (double)pt->pass / (double)pt->nhosts), pt->fail, pt->unknown);
    }
    return json_string(t);
}

static int fails_rule(const struct hostres *r, const char *rule)
{
    size_t i;
    json_t *x;
    json_array_foreach(r->failing, i, x)
        if (strcmp(json_string_value(json_object_get(x, "rule")), rule) == 0)
            return 1;
    return 0;
}

/* Each rule's verdict over the hosts.  CE and DSPT from the hosts'
 * failing rules; CAF B4.d (tracked and mitigated promptly) fails a host
 * with an overdue fix. */
static json_t *rules_summary(const struct point *pt)
{
    static const char *const id[] = { "CE", "DSPT", "CAF-B4.d" };
    const char *const name[] = { "Cyber Essentials: security update management",
                                 "NHS Data Security and Protection Toolkit",
                                 "NCSC CAF B4.d Vulnerability management" };
    const char *const text[] = { cx_rule_ce, cx_rule_dspt, cx_rule_caf };
    json_t *a = json_array();
    for (int k = 0; k < 3; k++) {
        size_t pass = 0, fail = 0, unc = 0, unk = 0;
        const char *st;
        for (size_t i = 0; i < pt->nhr; i++) {
            const struct hostres *r = &pt->hr[i];
            if (k < 2 ? fails_rule(r, id[k]) : r->overdue > 0)
                fail++;
            else if (strcmp(r->status, "unknown") == 0)
                unk++;
            else if (r->unconfirmed)
                unc++;
            else
                pass++;
        }
        st = fail ? "fail" : (unc || unk || !pt->nhr) ? "unconfirmed" : "pass";
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "id", id[k], "name", name[k],
                         "status", st, "hosts_pass", (json_int_t)pass, "hosts_fail",
                         (json_int_t)fail, "hosts_unconfirmed", (json_int_t)unc, "hosts_unknown",
                         (json_int_t)unk, "text", text[k]));
    }
    return a;
}

/* The trend's remediations come from what is known at as-of, so fixes a
 * host's package history shows installed before the collector knew the
 * host count in their week. */
static void trend_remediation(const struct point *now, struct point *pts, size_t np)
{
    for (size_t k = 0; k < np; k++) {
        pts[k].remediated_week = 0;
        pts[k].rem_week_days_sum = 0;
        for (size_t i = 0; i < now->nf; i++) {
            const struct fnd *f = &now->f[i];
            if (!f->in_scope || (f->state != ST_MET && f->state != ST_MET_LATE) ||
                f->effective_at > pts[k].at || f->effective_at <= pts[k].at - 7 * DAY_MS)
                continue;
            pts[k].remediated_week++;
            pts[k].rem_week_days_sum += (double)(f->effective_at - f->clock_start) / DAY_MS;
        }
    }
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
    if (now->nf) /* f is NULL for an empty fleet */
        qsort(now->f, now->nf, sizeof(*now->f), fnd_cmp);
    for (size_t i = 0; i < now->nf; i++)
        fnd_set_id(&now->f[i]);
    trend_remediation(now, pts, np);

    doc = json_object();
    json_object_set_new(doc, "type", json_string("vigil-patch-report"));
    json_object_set_new(doc, "version", json_integer(2));
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
    json_object_set_new(sum, "unconfirmed", json_integer((json_int_t)now->unconfirmed));
    json_object_set_new(sum, "unconfirmed_findings",
                        json_integer((json_int_t)now->unconfirmed_findings));
    {
        size_t fx = unconfirmed_fixes(now); /* a sort: once */
        json_object_set_new(sum, "unconfirmed_fixes", json_integer((json_int_t)fx));
        json_object_set_new(sum, "headline", headline(now, fx));
    }
    json_object_set_new(sum, "rules", rules_summary(now));
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
    free(c.iix);
    free(c.memo);
    free(c.rel);
    free(c.hosts);
    return doc;
}
