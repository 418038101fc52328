/*
 * The findings engine on a synthetic fleet: how long a patch report
 * takes the collector (CPU, single thread), whole trend included.
 *
 * The fleet exercises what the engine does besides comparing versions:
 *   - a quarter of each host's packages lack a fix (far more findings
 *     than a kept estate has); one fix in ten has no advisory date, so
 *     its release date comes from the fleet's evidence;
 *   - a fifth of the hosts list pending security updates, with the
 *     agent's first sight and, for half, the Release file's date; some
 *     candidates are in no feed (pending-only findings);
 *   - every host sends ~60 package history events over 400 days (dpkg
 *     log), folded in by cx_fleet_apply_history; a third of the hosts
 *     enrolled 30 days ago, so their history before enrolment counts;
 *   - tags on every host, a few exceptions: host + CVE, source, binary,
 *     tag-scoped, expired, revoked;
 *   - 5 % of hosts on Debian 11, 5 % with a reboot pending, 2 % stale.
 * Package and source names are shared between hosts (the store copies
 * them per row; the engine does not care).
 *
 * Prints the engine's time (cx_report alone, and the history fold),
 * findings, JSON size and the process's peak RSS.  Never fails on time.
 *
 * Usage: bench_report [HOSTS [PACKAGES [FIXES]]]   (default 1000 800 20000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../../collector/compliance.h"

#define DAY 86400000LL
#define HIST_PER_HOST 60

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* Arena memory, or the end of the run: a bench has no use for half a fleet. */
static void *alloc(struct cx_arena *a, size_t n)
{
    void *p = cx_alloc(a, n);
    if (!p) {
        fprintf(stderr, "bench_report: out of memory\n");
        exit(1);
    }
    return p;
}

static long long sum_of(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* The exceptions: a mix of every kind, two of them no longer in force. */
static void exceptions(struct cx_fleet *f, int64_t t0)
{
    static const struct {
        const char *host, *package, *kind, *cve;
        int64_t revoked_ago, expires_in;
    } e[] = {
        { "host-00001", NULL, NULL, "CVE-2026-00007", 0, 90 },
        { "host-00002", "src5", "source", NULL, 0, 90 },
        { "host-00003", "pkg15", "binary", NULL, 0, 90 },
        { "tag:role=db", "src7", "source", NULL, 0, 180 },
        { "tag:site=dc1", NULL, NULL, "CVE-2026-00021", 0, 180 },
        { "host-00004", "src9", "source", NULL, 0, -5 },  /* expired */
        { "host-00005", "src11", "source", NULL, 10, 90 }, /* revoked */
    };
    struct cx_arena *a = f->arena;
    f->nexc = sizeof(e) / sizeof(e[0]);
    f->exc = alloc(a, f->nexc * sizeof(*f->exc));
    for (size_t i = 0; i < f->nexc; i++) {
        struct cx_exception *x = &f->exc[i];
        x->id = (int64_t)i + 1;
        x->host = e[i].host;
        x->package = e[i].package ? e[i].package : "";
        x->package_kind = e[i].kind ? e[i].kind : "";
        x->cve = e[i].cve ? e[i].cve : "";
        x->reason = "compensating control: host not internet-facing";
        x->approver = "SIRO";
        x->control = "DSPT 8.3";
        x->created_by = "admin-1";
        x->created_ms = t0 - 60 * DAY;
        x->expires_ms = t0 + e[i].expires_in * DAY;
        x->revoked_ms = e[i].revoked_ago ? t0 - e[i].revoked_ago * DAY : 0;
        x->revoked_by = e[i].revoked_ago ? "admin-1" : "";
        x->revoke_reason = e[i].revoked_ago ? "patched" : "";
        x->hostname = strncmp(x->host, "host-", 5) == 0 ? x->host : "";
    }
}

int main(int argc, char **argv)
{
    size_t nh = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    size_t np = argc > 2 ? strtoul(argv[2], NULL, 10) : 800;
    size_t nf = argc > 3 ? strtoul(argv[3], NULL, 10) : 20000;
    int64_t t0 = 1796083200000LL;
    struct cx_fleet f;
    struct cx_arena *a = cx_arena_new();
    struct os_support *os = NULL;
    struct cx_opts o;
    int64_t points[12];
    const char **pname, **sname;
    char buf[64];
    double t1, t2, t3, tb, rss_built;
    size_t npend = 0, nhist = 0;
    json_t *doc, *sum;
    char *text;

    if (!a || nh == 0 || np < 16 || os_support_load("/usr/share/distro-info", &os) != 0)
        return 1;
    tb = now_ms();
    pname = alloc(a, np * sizeof(*pname));
    sname = alloc(a, np * sizeof(*sname));
    for (size_t j = 0; j < np; j++) {
        snprintf(buf, sizeof(buf), "pkg%zu", j);
        pname[j] = cx_strdup(a, buf);
        snprintf(buf, sizeof(buf), "src%zu", j / 3);
        sname[j] = cx_strdup(a, buf);
    }
    memset(&f, 0, sizeof(f));
    f.arena = a;
    for (int k = 0; k < 12; k++)
        points[k] = t0 - k * 7 * DAY;
    f.points = points;
    f.npoints = 12;
    f.nhosts = nh;
    f.hosts = alloc(a, nh * sizeof(*f.hosts));
    for (size_t i = 0; i < nh; i++) {
        struct cx_host *h = &f.hosts[i];
        int recent = i % 3 == 1;        /* enrolled 30 days ago */
        int pending = i % 5 == 0;       /* lists pending security updates */
        int old_os = i % 20 == 19;      /* Debian 11 */
        int stale = i % 50 == 49;       /* not seen for 10 days */
        size_t nhi = 0;

        snprintf(buf, sizeof(buf), "host-%05zu", i);
        h->agent_id = h->hostname = cx_strdup(a, buf);
        h->manager = "dpkg";
        h->first_seen_ms = t0 - (recent ? 30 : 200) * DAY;
        h->ntags = 2;
        h->tag_key = alloc(a, 2 * sizeof(char *));
        h->tag_value = alloc(a, 2 * sizeof(char *));
        h->tag_key[0] = "role";
        h->tag_value[0] = i % 10 == 0 ? "db" : "web";
        h->tag_key[1] = "site";
        h->tag_value[1] = i % 3 == 0 ? "dc0" : i % 3 == 1 ? "dc1" : "dc2";
        h->npkg = np;
        h->pkg = alloc(a, np * sizeof(*h->pkg));
        for (size_t j = 0; j < np; j++) {
            struct cx_pkg *p = &h->pkg[j];
            p->name = pname[j];
            p->source = sname[j];
            p->arch = "amd64";
            /* Some hosts patched, some not. */
            p->version = (i + j) % 4 ? "1.0-1" : "1.0-1+deb12u2";
            p->source_version = "";
            p->from_ms = h->first_seen_ms;
            p->to_ms = CX_FOREVER;
        }
        /* dpkg.log over 400 days: upgrades to the patched version (before
         * enrolment for the recent hosts: fixes met before the collector
         * saw them), and earlier churn on other packages. */
        h->hist = alloc(a, HIST_PER_HOST * sizeof(*h->hist));
        for (size_t j = 0; j < np && nhi < HIST_PER_HOST; j += 7) {
            struct cx_hist *e = &h->hist[nhi++];
            int patched = (i + j) % 4 == 0;
            e->name = pname[j];
            e->arch = "amd64";
            e->action = "upgrade";
            e->old_version = patched ? "1.0-1" : "0.9-1";
            e->new_version = patched ? "1.0-1+deb12u2" : "1.0-1";
            e->time_ms = t0 - (int64_t)(400 - (i * 13 + j) % 390) * DAY;
        }
        h->nhist = nhi;
        nhist += nhi;
        if (pending) {
            size_t n = 0;
            h->pend = alloc(a, (np / 10 + 1) * sizeof(*h->pend));
            for (size_t j = 0; j < np; j += 10) {
                struct cx_pend *q;
                if ((i + j) % 4 == 0)
                    continue; /* already patched */
                q = &h->pend[n++];
                q->name = pname[j];
                q->arch = "amd64";
                q->installed = "1.0-1";
                /* One in three is in no feed: a pending-only finding. */
                q->candidate = j % 3 ? "1.0-1+deb12u2" : "1.0-1+deb12u3";
                q->advisory = "";
                q->severity = "";
                q->security = 1;
                q->first_ms = t0 - (int64_t)((i + j) % 90) * DAY;
                q->from_ms = q->first_ms > h->first_seen_ms ? q->first_ms : h->first_seen_ms;
                q->to_ms = CX_FOREVER;
                q->release_file_ms = j % 20 ? 0 : q->first_ms - 2 * DAY;
            }
            h->npend = n;
            npend += n;
        }
        h->nos = 1;
        h->os = alloc(a, sizeof(*h->os));
        h->os[0] = old_os ? (struct cx_os){ h->first_seen_ms, "debian", "11", "bullseye",
                                            "Debian GNU/Linux 11 (bullseye)", "5.10.0-26-amd64",
                                            "5.10.0-26-amd64", 0 }
                          : (struct cx_os){ h->first_seen_ms, "debian", "12", "bookworm",
                                            "Debian GNU/Linux 12 (bookworm)", "6.1.0-13-amd64",
                                            i % 20 == 3 ? "6.1.0-15-amd64" : "6.1.0-13-amd64",
                                            i % 20 == 3 };
        h->nver = 1;
        h->ver = alloc(a, sizeof(*h->ver));
        h->ver[0] = (struct cx_ver){ h->first_seen_ms, "0.9.0" };
        h->last_seen = alloc(a, 12 * sizeof(int64_t));
        for (int k = 0; k < 12; k++) {
            int64_t seen = points[k] - (stale ? 10 * DAY : 3600000);
            h->last_seen[k] = seen >= h->first_seen_ms ? seen : 0;
        }
    }
    f.nimports = 1;
    f.imports = alloc(a, sizeof(*f.imports));
    f.imports[0] = (struct cx_import){ .id = 1, .format = "debian-tracker",
                                       .doc_key = "debian-tracker", .source = "bench",
                                       .sha256 = "", .imported_by = "admin-1", .size = 50000000,
                                       .imported_ms = t0 - 150 * DAY, .records = (int64_t)nf };
    f.nfixes = nf;
    f.fixes = alloc(a, nf * sizeof(*f.fixes));
    for (size_t i = 0; i < nf; i++) {
        struct cx_fix *x = &f.fixes[i];
        snprintf(buf, sizeof(buf), "src%zu", (i * 7) % (np * 2)); /* half the sources exist */
        x->import_id = 1;
        x->package = cx_strdup(a, buf);
        x->release = "bookworm";
        x->arch = "";
        x->fixed = i % 2 ? "1.0-1+deb12u1" : "0.9-1";
        snprintf(buf, sizeof(buf), "CVE-2026-%05zu", i);
        x->cves = cx_strdup(a, buf);
        if (i % 4 == 1) {
            snprintf(buf, sizeof(buf), "DSA-%zu-1", 5000 + i);
            x->advisory = cx_strdup(a, buf);
        } else {
            x->advisory = "";
        }
        x->severity = i % 10 == 3 ? "high" : "";
        x->urgency = i % 10 == 3 ? "high" : "not yet assigned";
        x->cvss = i % 10 == 3 ? 7.5 : -1;
        /* One in ten undated: the fleet's evidence dates it, or nothing. */
        x->released_ms = i % 10 == 5 ? 0 : t0 - (int64_t)(i % 120) * DAY;
        x->imported_ms = t0 - 150 * DAY;
    }
    exceptions(&f, t0);
    tb = now_ms() - tb;
    rss_built = peak_rss_mb();

    memset(&o, 0, sizeof(o));
    o.organisation = "bench";
    o.collector_version = "bench";
    o.generated_ms = o.as_of_ms = t0;
    o.sla_days = 14;
    o.stale_days = 7;
    o.stale_ms = 7 * DAY;
    o.history_days = 90;
    o.trend_weeks = 12;
    o.os = os;
    t1 = now_ms();
    if (cx_fleet_apply_history(&f) != 0)
        return 1;
    t2 = now_ms();
    doc = cx_report(&f, &o);
    t3 = now_ms();
    if (!doc)
        return 1;
    sum = json_object_get(doc, "summary");
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("bench_report: %zu hosts x %zu packages, %zu feed fixes, %zu pending security updates, "
           "%zu history events, %zu exceptions, 12 trend weeks\n",
           nh, np, nf, npend, nhist, f.nexc);
    printf("  findings engine %.0f ms (%.2f ms per host) + history fold %.0f ms; fleet built in "
           "%.0f ms\n",
           t3 - t2, (t3 - t2) / (double)nh, t2 - t1, tb);
    printf("  %zu findings (open %lld, overdue %lld, met %lld, met-late %lld, excepted %lld); "
           "hosts: %lld compliant, %lld not, %lld unconfirmed, %lld unknown\n",
           json_array_size(json_object_get(doc, "findings")), sum_of(sum, "open"),
           sum_of(sum, "overdue"), sum_of(sum, "met"), sum_of(sum, "met_late"),
           sum_of(sum, "excepted"), sum_of(sum, "compliant"), sum_of(sum, "non_compliant"),
           sum_of(sum, "unconfirmed"), sum_of(sum, "unknown"));
    printf("  JSON %.1f MB (dump %.0f ms); peak RSS %.0f MB (%.0f MB of it the fleet's arrays)\n",
           text ? (double)strlen(text) / 1e6 : 0.0, now_ms() - t3, peak_rss_mb(), rss_built);
    fflush(stdout);
    free(text);
    json_decref(doc);
    os_support_free(os);
    cx_arena_free(a);
    return 0;
}
