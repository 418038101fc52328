/*
 * The findings engine on a synthetic fleet: how long a patch report
 * takes the collector (CPU, single thread), whole trend included.
 *
 * Usage: bench_report [HOSTS [PACKAGES [FIXES]]]   (default 1000 800 20000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../collector/compliance.h"

#define DAY 86400000LL

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
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
    char buf[64];
    double t1, t2;
    json_t *doc;
    char *text;

    if (!a || os_support_load("/usr/share/distro-info", &os) != 0)
        return 1;
    memset(&f, 0, sizeof(f));
    f.arena = a;
    for (int k = 0; k < 12; k++)
        points[k] = t0 - k * 7 * DAY;
    f.points = points;
    f.npoints = 12;
    f.nhosts = nh;
    f.hosts = cx_alloc(a, nh * sizeof(*f.hosts));
    for (size_t i = 0; i < nh; i++) {
        struct cx_host *h = &f.hosts[i];
        snprintf(buf, sizeof(buf), "host-%05zu", i);
        h->agent_id = h->hostname = cx_strdup(a, buf);
        h->manager = "dpkg";
        h->first_seen_ms = t0 - 200 * DAY;
        h->npkg = np;
        h->pkg = cx_alloc(a, np * sizeof(*h->pkg));
        for (size_t j = 0; j < np; j++) {
            struct cx_pkg *p = &h->pkg[j];
            snprintf(buf, sizeof(buf), "pkg%zu", j);
            p->name = cx_strdup(a, buf);
            snprintf(buf, sizeof(buf), "src%zu", j / 3);
            p->source = cx_strdup(a, buf);
            p->arch = "amd64";
            /* Some hosts patched, some not. */
            p->version = (i + j) % 4 ? "1.0-1" : "1.0-1+deb12u2";
            p->source_version = "";
            p->from_ms = t0 - 200 * DAY;
            p->to_ms = CX_FOREVER;
        }
        h->nos = 1;
        h->os = cx_alloc(a, sizeof(*h->os));
        h->os[0] = (struct cx_os){ t0 - 200 * DAY, "debian", "12", "bookworm",
                                   "Debian GNU/Linux 12 (bookworm)", "6.1.0-13-amd64",
                                   "6.1.0-13-amd64", 0 };
        h->last_seen = cx_alloc(a, 12 * sizeof(int64_t));
        for (int k = 0; k < 12; k++)
            h->last_seen[k] = points[k] - 3600000;
    }
    f.nfixes = nf;
    f.fixes = cx_alloc(a, nf * sizeof(*f.fixes));
    for (size_t i = 0; i < nf; i++) {
        struct cx_fix *x = &f.fixes[i];
        snprintf(buf, sizeof(buf), "src%zu", (i * 7) % (np * 2)); /* half the sources exist */
        x->package = cx_strdup(a, buf);
        x->release = "bookworm";
        x->arch = "";
        x->fixed = i % 2 ? "1.0-1+deb12u1" : "0.9-1";
        snprintf(buf, sizeof(buf), "CVE-2026-%05zu", i);
        x->cves = cx_strdup(a, buf);
        x->advisory = "";
        x->severity = "";
        x->urgency = "";
        x->cvss = -1;
        x->released_ms = t0 - (int64_t)(i % 120) * DAY;
        x->imported_ms = t0 - 150 * DAY;
    }
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
    doc = cx_report(&f, &o);
    t2 = now_ms();
    if (!doc)
        return 1;
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("bench_report: %zu hosts x %zu packages, %zu feed fixes, 12 trend weeks: findings "
           "engine %.0f ms (%.2f ms per host), %zu findings, JSON %.1f MB (dump %.0f ms)\n",
           nh, np, nf, t2 - t1, (t2 - t1) / (double)nh,
           json_array_size(json_object_get(doc, "findings")),
           text ? (double)strlen(text) / 1e6 : 0.0, now_ms() - t2);
    free(text);
    json_decref(doc);
    os_support_free(os);
    cx_arena_free(a);
    return 0;
}
