/*
 * The findings engine on hand-made fleets: the paths the end-to-end
 * fixture fleet (Debian hosts, tracker and DSA feeds) does not take:
 * Red Hat fixes with severity and CVSS, the in-scope rule, findings from
 * pending updates only, the fleet-wide first sight of a fix, exceptions
 * by CVE for all hosts, stale hosts, unknown operating systems, and
 * judging at a past point; package history from before enrolment,
 * unconfirmed clocks and their evidence, and exact exceptions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../collector/compliance.h"

#define DAY 86400000LL
/* 2026-12-01T00:00:00Z */
#define T0 1796083200000LL

static struct os_support *os;

static int setup(void **state)
{
    (void)state;
    return os_support_load("/usr/share/distro-info", &os);
}

static int teardown(void **state)
{
    (void)state;
    os_support_free(os);
    return 0;
}

static struct cx_opts opts(int64_t at)
{
    struct cx_opts o;
    memset(&o, 0, sizeof(o));
    o.organisation = "Test";
    o.collector_version = "test";
    o.generated_ms = at;
    o.as_of_ms = at;
    o.sla_days = 14;
    o.stale_days = 7;
    o.stale_ms = 7 * DAY;
    o.history_days = 90;
    o.trend_weeks = 1;
    o.os = os;
    return o;
}

static json_t *finding(json_t *doc, const char *agent, const char *package)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "findings"), i, f)
        if (strcmp(json_string_value(json_object_get(f, "agent_id")), agent) == 0 &&
            strcmp(json_string_value(json_object_get(f, "package")), package) == 0)
            return f;
    return NULL;
}

static json_t *host(json_t *doc, const char *agent)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "hosts"), i, h)
        if (strcmp(json_string_value(json_object_get(h, "agent_id")), agent) == 0)
            return h;
    return NULL;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "(null)";
}

/* An el9 host: Red Hat severity and CVSS decide the scope. */
static void test_redhat_scope(void **state)
{
    struct cx_pkg pk[] = {
        { "openssl", "x86_64", "1:3.0.7-16.el9", "", "", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "less", "x86_64", "590-1.el9", "", "", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "vim-minimal", "x86_64", "2:8.2.2637-20.el9", "", "", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "bash", "x86_64", "5.1.8-6.el9", "", "", T0 - 60 * DAY, CX_FOREVER, 0 },
    };
    struct cx_os o[] = { { T0 - 60 * DAY, "rocky", "9.3", "", "Rocky Linux 9.3",
                           "5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.8.1.el9_3.x86_64", 0 } };
    int64_t seen[1] = { T0 - DAY };
    struct cx_host h = { "rh-1", "rh-1", "rpm", T0 - 60 * DAY, 0, pk, 4, NULL, 0, o, 1, NULL, 0,
                         seen, 0, NULL, 0, NULL, NULL, 0 };
    struct cx_fix fx[] = {
        { 1, T0 - 30 * DAY, "el9", "openssl", "x86_64", "1:3.0.7-17.el9_2", "RHSA-2026:0001",
          "CVE-2026-1000", "important", "", 7.5, T0 - 20 * DAY },
        { 1, T0 - 30 * DAY, "el9", "less", "x86_64", "590-2.el9_2", "RHSA-2026:0002",
          "CVE-2026-1001", "moderate", "", 5.5, T0 - 20 * DAY },
        { 1, T0 - 30 * DAY, "el9", "vim-minimal", "x86_64", "2:8.2.2637-21.el9", "RHSA-2026:0003",
          "CVE-2026-1002", "moderate", "", 7.8, T0 - 20 * DAY },
        /* bash is at the fixed version already: never listed. */
        { 1, T0 - 30 * DAY, "el9", "bash", "x86_64", "5.1.8-6.el9", "RHSA-2026:0004",
          "CVE-2026-1003", "critical", "", 9.8, T0 - 20 * DAY },
    };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { &h, 1, NULL, 0, fx, 4, NULL, 0, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc = cx_report(&f, &op), *x;
    (void)state;

    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "findings")), 3);
    x = finding(doc, "rh-1", "openssl");
    assert_non_null(x);
    assert_string_equal(str(x, "state"), "overdue");
    assert_true(json_is_true(json_object_get(x, "in_scope")));
    assert_string_equal(str(x, "scope_reason"), "vendor severity important");
    x = finding(doc, "rh-1", "less");
    assert_string_equal(str(x, "state"), "overdue");
    assert_true(json_is_false(json_object_get(x, "in_scope")));
    x = finding(doc, "rh-1", "vim-minimal");
    assert_true(json_is_true(json_object_get(x, "in_scope")));
    assert_string_equal(str(x, "scope_reason"), "CVSS v3 7.8 (7 or more)");
    assert_null(finding(doc, "rh-1", "bash"));
    /* Two in-scope fixes overdue, one out of scope. */
    x = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(x, "overdue")), 2);
    assert_int_equal(json_integer_value(json_object_get(x, "out_of_scope")), 1);
    x = host(doc, "rh-1");
    assert_string_equal(str(x, "status"), "fail");
    assert_string_equal(str(x, "os_support"), "supported");
    json_decref(doc);
}

/* Ubuntu hosts without a feed: findings from pending security updates;
 * the clock starts at the first sight anywhere in the fleet. */
static void test_pending_fleet_first_sight(void **state)
{
    struct cx_pkg pa[] = { { "curl", "amd64", "7.81.0-1ubuntu1.15", "curl", "", T0 - 90 * DAY,
                             CX_FOREVER, 0 } };
    struct cx_pkg pb[] = { { "curl", "amd64", "7.81.0-1ubuntu1.16", "curl", "", T0 - 3 * DAY,
                             CX_FOREVER, T0 - 3 * DAY },
                           { "curl", "amd64", "7.81.0-1ubuntu1.15", "curl", "", T0 - 90 * DAY,
                             T0 - 3 * DAY, 0 } };
    /* Host B saw the update 20 days ago; host A only 5 days ago. */
    struct cx_pend da[] = { { "curl", "amd64", "7.81.0-1ubuntu1.15", "7.81.0-1ubuntu1.16", "", "",
                              1, 0, T0 - 5 * DAY, T0 - 5 * DAY, CX_FOREVER, 0 } };
    struct cx_pend db[] = { { "curl", "amd64", "7.81.0-1ubuntu1.15", "7.81.0-1ubuntu1.16", "", "",
                              1, 0, T0 - 20 * DAY, T0 - 20 * DAY, T0 - 3 * DAY, 0 } };
    struct cx_os o[] = { { T0 - 90 * DAY, "ubuntu", "22.04", "jammy", "Ubuntu 22.04.3 LTS",
                           "5.15.0-91-generic", "5.15.0-91-generic", 0 } };
    int64_t seen_a[1] = { T0 - DAY }, seen_b[1] = { T0 - 8 * DAY };
    struct cx_host h[] = {
        { "ub-a", "ub-a", "dpkg", T0 - 90 * DAY, 0, pa, 1, da, 1, o, 1, NULL, 0, seen_a, 0, NULL, 0, NULL, NULL, 0 },
        { "ub-b", "ub-b", "dpkg", T0 - 90 * DAY, 0, pb, 2, db, 1, o, 1, NULL, 0, seen_b, 0, NULL, 0, NULL, NULL, 0 },
    };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { h, 2, NULL, 0, NULL, 0, NULL, 0, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc = cx_report(&f, &op), *x;
    (void)state;

    assert_non_null(doc);
    x = finding(doc, "ub-a", "curl");
    assert_non_null(x);
    assert_string_equal(str(x, "source"), "pending");
    /* Clock from host B's sight 20 days ago: overdue, though A saw it 5 days ago. */
    assert_string_equal(str(x, "state"), "overdue");
    assert_string_equal(str(x, "first_seen_fleet"), "2026-11-11T00:00:00Z");
    assert_string_equal(str(x, "first_seen_host"), "2026-11-26T00:00:00Z");
    /* B installed it 17 days after its first sight: met-late. */
    x = finding(doc, "ub-b", "curl");
    assert_non_null(x);
    assert_string_equal(str(x, "state"), "met-late");
    /* B has not checked in for 8 days: unknown, not compliant. */
    x = host(doc, "ub-b");
    assert_string_equal(str(x, "status"), "unknown");
    assert_true(json_is_true(json_object_get(x, "stale")));
    json_decref(doc);

    /* Judged 10 days ago, A had not seen it and B had it pending for 10
     * days: open, 4 days to go. */
    {
        int64_t p2[1] = { T0 - 10 * DAY };
        int64_t s2[1] = { T0 - 10 * DAY };
        struct cx_opts op2 = opts(T0 - 10 * DAY);
        h[0].last_seen = s2;
        h[1].last_seen = s2;
        f.points = p2;
        doc = cx_report(&f, &op2);
        assert_non_null(doc);
        assert_null(finding(doc, "ub-a", "curl"));
        x = finding(doc, "ub-b", "curl");
        assert_non_null(x);
        assert_string_equal(str(x, "state"), "open");
        /* Its clock is only the fleet's first sight (no advisory date):
         * never "pass", since the fix may be older than that. */
        assert_string_equal(str(x, "released_from"), "first-seen");
        assert_false(json_is_true(json_object_get(x, "clock_confirmed")));
        assert_string_equal(str(host(doc, "ub-b"), "status"), "unconfirmed");
        json_decref(doc);
    }
}

/* An exception by CVE for all hosts covers exactly that CVE, until it
 * expires; an unknown OS fails the host. */
static void test_exception_scope(void **state)
{
    struct cx_pkg pk[] = {
        { "libx1", "amd64", "1.0-1", "x", "1.0-1", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "y", "amd64", "1.0-1", "y", "1.0-1", T0 - 60 * DAY, CX_FOREVER, 0 },
    };
    struct cx_os o[] = { { T0 - 60 * DAY, "debian", "12", "bookworm", "Debian 12", "6.1.0-1",
                           "6.1.0-1", 0 } };
    struct cx_os weird[] = { { T0 - 60 * DAY, "plan9", "4", "", "Plan 9", "", "", 0 } };
    int64_t seen[1] = { T0 - DAY };
    struct cx_host h[] = {
        { "d-1", "d-1", "dpkg", T0 - 60 * DAY, 0, pk, 2, NULL, 0, o, 1, NULL, 0, seen, 0, NULL, 0, NULL, NULL, 0 },
        { "p-1", "p-1", "dpkg", T0 - 60 * DAY, 0, NULL, 0, NULL, 0, weird, 1, NULL, 0, seen, 0, NULL, 0, NULL, NULL, 0 },
    };
    struct cx_fix fx[] = {
        { 1, T0 - 30 * DAY, "bookworm", "x", "", "1.0-1+deb12u1", "DSA-1", "CVE-2026-2000", "",
          "", -1, T0 - 20 * DAY },
        { 1, T0 - 30 * DAY, "bookworm", "y", "", "1.0-1+deb12u1", "DSA-2", "CVE-2026-2001", "",
          "", -1, T0 - 20 * DAY },
    };
    struct cx_exception ex[] = { { 7, "*", "", "CVE-2026-2000", "r", "SIRO", "", "admin a",
                                   T0 - 2 * DAY, T0 + DAY, 0, "", "", "", "" } };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { h, 2, NULL, 0, fx, 2, ex, 1, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc = cx_report(&f, &op), *x;
    (void)state;

    assert_non_null(doc);
    x = finding(doc, "d-1", "x");
    assert_string_equal(str(x, "state"), "excepted");
    assert_int_equal(json_array_size(json_object_get(x, "exceptions")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(x, "exceptions"), 0)), 7);
    assert_string_equal(str(finding(doc, "d-1", "y"), "state"), "overdue");
    x = host(doc, "p-1");
    assert_string_equal(str(x, "status"), "fail");
    assert_string_equal(str(x, "os_support"), "unknown");
    json_decref(doc);

    /* After expiry the same finding is overdue and the exception expired. */
    {
        int64_t p2[1] = { T0 + 2 * DAY };
        struct cx_opts op2 = opts(T0 + 2 * DAY);
        int64_t s2[1] = { T0 + 2 * DAY };
        h[0].last_seen = s2;
        h[1].last_seen = s2;
        f.points = p2;
        doc = cx_report(&f, &op2);
        assert_string_equal(str(finding(doc, "d-1", "x"), "state"), "overdue");
        x = json_array_get(json_object_get(doc, "exceptions"), 0);
        assert_string_equal(str(x, "status"), "expired");
        json_decref(doc);
    }
}

/* Debian's signed kernel images: source linux-signed-amd64, fixes under
 * linux, compared by the image's own version; an exception needs its
 * package and its CVE to match; hosts outside --hosts still count as
 * "anywhere in the fleet" but are not reported. */
static void test_kernel_and_scope_rules(void **state)
{
    struct cx_pkg pk[] = {
        { "linux-image-6.1.0-13-amd64", "amd64", "6.1.55-1", "linux-signed-amd64", "6.1.55+1",
          T0 - 60 * DAY, CX_FOREVER, 0 },
        { "libx1", "amd64", "1.0-1", "x", "1.0-1", T0 - 60 * DAY, CX_FOREVER, 0 },
    };
    struct cx_os o[] = { { T0 - 60 * DAY, "debian", "12", "bookworm", "Debian 12",
                           "6.1.0-13-amd64", "6.1.0-13-amd64", 0 } };
    int64_t seen[1] = { T0 - DAY };
    struct cx_host h[] = {
        { "k-1", "k-1", "dpkg", T0 - 60 * DAY, 0, pk, 2, NULL, 0, o, 1, NULL, 0, seen, 0, NULL, 0, NULL, NULL, 0 },
        { "k-2", "k-2", "dpkg", T0 - 60 * DAY, 0, pk, 2, NULL, 0, o, 1, NULL, 0, seen, 1, NULL, 0, NULL, NULL, 0 },
    };
    struct cx_fix fx[] = {
        { 1, T0 - 30 * DAY, "bookworm", "linux", "", "6.1.55-2", "DSA-7", "CVE-2026-3000", "",
          "", -1, T0 - 3 * DAY },
        { 1, T0 - 30 * DAY, "bookworm", "x", "", "1.0-1+deb12u1", "DSA-8",
          "CVE-2026-3001 CVE-2026-3002", "", "", -1, T0 - 3 * DAY },
    };
    /* Package y (not x) with x's CVE: covers nothing.  x's first CVE
     * alone: not the fix's other CVE, so not the finding. */
    struct cx_exception ex[] = {
        { 1, "*", "y", "CVE-2026-3001", "r", "SIRO", "", "admin a", T0 - DAY, T0 + DAY, 0, "", "", "", "" },
        { 2, "k-1", "", "CVE-2026-3001", "r", "SIRO", "", "admin a", T0 - DAY, T0 + DAY, 0, "",
          "", "", "" },
    };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { h, 2, NULL, 0, fx, 2, ex, 2, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc = cx_report(&f, &op), *x;
    (void)state;

    assert_non_null(doc);
    x = finding(doc, "k-1", "linux");
    assert_non_null(x);
    assert_string_equal(str(x, "state"), "open");
    assert_string_equal(str(x, "installed_version"), "6.1.55-1");
    assert_string_equal(str(finding(doc, "k-1", "x"), "state"), "open");
    assert_null(finding(doc, "k-2", "x")); /* outside the pattern */
    assert_int_equal(json_array_size(json_object_get(doc, "hosts")), 1);
    /* Every CVE of x excepted (the second by a new exception): excepted. */
    {
        struct cx_exception ex2[] = {
            ex[0], ex[1],
            { 3, "k-1", "libx1", "CVE-2026-3002", "r", "SIRO", "", "admin a", T0 - DAY, T0 + DAY,
              0, "", "", "", "" },
        };
        json_t *d2;
        f.exc = ex2;
        f.nexc = 3;
        d2 = cx_report(&f, &op);
        assert_string_equal(str(finding(d2, "k-1", "x"), "state"), "excepted");
        /* Both CVE exceptions are credited: each covers one CVE. */
        x = json_object_get(finding(d2, "k-1", "x"), "exceptions");
        assert_int_equal(json_array_size(x), 2);
        assert_int_equal(json_integer_value(json_array_get(x, 0)), 2);
        assert_int_equal(json_integer_value(json_array_get(x, 1)), 3);
        json_decref(d2);
    }
    json_decref(doc);
}

static json_t *exception_of(json_t *doc, int64_t id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "exceptions"), i, e)
        if (json_integer_value(json_object_get(e, "id")) == id)
            return e;
    return NULL;
}

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* A host that patched two fixes 3 and 6 days late, before the collector
 * first saw it: its package history (dpkg.log) makes them met-late with
 * the right days, and the mean time to remediate counts them. */
static void test_history_before_enrolment(void **state)
{
    struct cx_arena *a = cx_arena_new();
    /* The collector first saw the host 2 days ago with the fixed versions. */
    struct cx_pkg pk[] = {
        { "libfoo1", "amd64", "1.0-1+deb12u1", "foo", "1.0-1+deb12u1", T0 - 2 * DAY, CX_FOREVER,
          T0 - 23 * DAY },
        { "bar", "amd64", "2.0-1+deb12u1", "", "", T0 - 2 * DAY, CX_FOREVER, T0 - 10 * DAY },
    };
    /* foo's fix released 40 days ago (due 26 days ago), installed 23 days
     * ago: 3 days late.  bar's released 30 days ago (due 16 days ago),
     * installed 10 days ago: 6 days late. */
    struct cx_hist hi[] = {
        { "libfoo1", "amd64", "upgrade", "1.0-1", "1.0-1+deb12u1", T0 - 23 * DAY },
        { "bar", "amd64", "upgrade", "2.0-1", "2.0-1+deb12u1", T0 - 10 * DAY },
        { "libfoo1", "amd64", "install", "", "1.0-1", T0 - 200 * DAY },
    };
    struct cx_os o[] = { { T0 - 2 * DAY, "debian", "12", "bookworm", "Debian 12", "6.1.0-13-amd64",
                           "6.1.0-13-amd64", 0 } };
    int64_t seen[1] = { T0 - 1 * DAY };
    struct cx_host h = { "hist-1", "hist-1", "dpkg", T0 - 2 * DAY, 0, pk, 2, NULL, 0, o, 1, NULL,
                         0, seen, 0, hi, 3, NULL, NULL, 0 };
    struct cx_fix fx[] = {
        { 1, T0 - 45 * DAY, "bookworm", "foo", "", "1.0-1+deb12u1", "DSA-10", "CVE-2026-4000", "",
          "", -1, T0 - 40 * DAY },
        { 1, T0 - 45 * DAY, "bookworm", "bar", "", "2.0-1+deb12u1", "DSA-11", "CVE-2026-4001", "",
          "", -1, T0 - 30 * DAY },
    };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { &h, 1, NULL, 0, fx, 2, NULL, 0, points, 1, a, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc, *x;
    (void)state;

    /* Without the history neither fix is listed: the collector never saw
     * a vulnerable version. */
    doc = cx_report(&f, &op);
    assert_int_equal(json_array_size(json_object_get(doc, "findings")), 0);
    json_decref(doc);

    assert_int_equal(cx_fleet_apply_history(&f), 0);
    doc = cx_report(&f, &op);
    assert_non_null(doc);
    x = finding(doc, "hist-1", "foo");
    assert_non_null(x);
    assert_string_equal(str(x, "state"), "met-late");
    assert_true(num(x, "days_late") == 3.0);
    assert_true(num(x, "days_open") == 17.0);
    assert_string_equal(str(x, "released_from"), "advisory");
    assert_string_equal(str(x, "effective_at"), "2026-11-08T00:00:00Z");
    x = finding(doc, "hist-1", "bar");
    assert_non_null(x);
    assert_string_equal(str(x, "state"), "met-late");
    assert_true(num(x, "days_late") == 6.0);
    x = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(x, "met_late")), 2);
    assert_true(num(x, "mean_days_to_remediate") == 18.5);
    x = host(doc, "hist-1");
    assert_int_equal(json_integer_value(json_object_get(x, "met_late")), 2);
    assert_string_equal(str(x, "status"), "pass");
    json_decref(doc);
    cx_arena_free(a);
}

/* Pending security updates and no advisories: no host is compliant, the
 * headline says why; with an advisory date the states are exact.  A fix
 * another host installed long ago dates it (install history). */
static void test_unconfirmed_until_dated(void **state)
{
    struct cx_pkg pa[] = { { "openssl", "amd64", "3.0.11-1~deb12u1", "", "", T0 - 3 * DAY,
                             CX_FOREVER, 0 } };
    struct cx_pkg pb[] = { { "openssl", "amd64", "3.0.11-1~deb12u2", "", "", T0 - 3 * DAY,
                             CX_FOREVER, T0 - 100 * DAY } };
    struct cx_pkg pc[] = { { "zlib1g", "amd64", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1",
                             T0 - 3 * DAY, CX_FOREVER, 0 } };
    struct cx_pend da[] = { { "openssl", "amd64", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "", "",
                              1, 0, T0 - 3 * DAY, T0 - 3 * DAY, CX_FOREVER, 0 } };
    struct cx_pend dc[] = { { "zlib1g", "amd64", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1", "",
                              "", 1, 0, T0 - 3 * DAY, T0 - 3 * DAY, CX_FOREVER, 0 } };
    struct cx_os o[] = { { T0 - 3 * DAY, "debian", "12", "bookworm", "Debian 12", "6.1.0-13-amd64",
                           "6.1.0-13-amd64", 0 } };
    int64_t seen[1] = { T0 - DAY };
    struct cx_host h[] = {
        { "a", "a", "dpkg", T0 - 3 * DAY, 0, pa, 1, da, 1, o, 1, NULL, 0, seen, 0, NULL, 0, NULL,
          NULL, 0 },
        { "b", "b", "dpkg", T0 - 3 * DAY, 0, pb, 1, NULL, 0, o, 1, NULL, 0, seen, 0, NULL, 0, NULL,
          NULL, 0 },
        { "c", "c", "dpkg", T0 - 3 * DAY, 0, pc, 1, dc, 1, o, 1, NULL, 0, seen, 0, NULL, 0, NULL,
          NULL, 0 },
    };
    struct cx_fix fx[] = { { 1, T0 - DAY, "bookworm", "zlib", "", "1:1.2.13.dfsg-1+deb12u1",
                             "DSA-20", "CVE-2026-5000", "", "", -1, T0 - 60 * DAY } };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { h, 3, NULL, 0, NULL, 0, NULL, 0, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc, *x, *sum;
    (void)state;

    doc = cx_report(&f, &op);
    assert_non_null(doc);
    /* openssl on a: b installed the fixed version 100 days ago, so it was
     * out then: overdue, dated by the install history. */
    x = finding(doc, "a", "openssl");
    assert_string_equal(str(x, "released_from"), "install-history");
    assert_string_equal(str(x, "state"), "overdue");
    assert_string_equal(str(host(doc, "a"), "status"), "fail");
    /* zlib on c: only first sight 3 days ago: open, not confirmed. */
    x = finding(doc, "c", "zlib");
    assert_string_equal(str(x, "released_from"), "first-seen");
    assert_string_equal(str(x, "state"), "open");
    x = host(doc, "c");
    assert_string_equal(str(x, "status"), "unconfirmed");
    assert_int_equal(json_integer_value(json_object_get(x, "unconfirmed")), 1);
    sum = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "compliant")), 1); /* b */
    assert_int_equal(json_integer_value(json_object_get(sum, "unconfirmed")), 1);
    assert_non_null(strstr(str(sum, "headline"), "cannot be confirmed for 1 of 3 hosts"));
    assert_non_null(strstr(str(sum, "headline"), "vigilctl advisories import"));
    assert_null(strstr(str(sum, "headline"), "%"));
    json_decref(doc);

    /* The DSA list dates zlib's fix 60 days ago: overdue, exact. */
    f.fixes = fx;
    f.nfixes = 1;
    doc = cx_report(&f, &op);
    x = finding(doc, "c", "zlib");
    assert_string_equal(str(x, "released_from"), "advisory");
    assert_true(json_is_true(json_object_get(x, "clock_confirmed")));
    assert_string_equal(str(x, "state"), "overdue");
    assert_true(num(x, "days_late") == 46.0);
    assert_string_equal(str(host(doc, "c"), "status"), "fail");
    sum = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "unconfirmed")), 0);
    assert_non_null(strstr(str(sum, "headline"), "1 of 3 hosts compliant (33.3%)"));
    json_decref(doc);
}

/* Exceptions mean exactly what they say: a binary exception covers that
 * binary only, a CVE exception that CVE only, expired and revoked ones
 * nothing, a tag exception the hosts with that tag; findings_covered is
 * exact and every covering exception is listed. */
static void test_exceptions_exact(void **state)
{
    struct cx_pkg pk[] = {
        { "libssl3", "amd64", "3.0.11-1", "openssl", "3.0.11-1", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "openssl", "amd64", "3.0.11-1", "openssl", "3.0.11-1", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "curl", "amd64", "7.88.1-10", "curl", "7.88.1-10", T0 - 60 * DAY, CX_FOREVER, 0 },
        { "libcurl4", "amd64", "7.88.1-10", "curl", "7.88.1-10", T0 - 60 * DAY, CX_FOREVER, 0 },
    };
    struct cx_os o[] = { { T0 - 60 * DAY, "debian", "12", "bookworm", "Debian 12",
                           "6.1.0-13-amd64", "6.1.0-13-amd64", 0 } };
    int64_t seen[1] = { T0 - DAY };
    const char *tk[] = { "site" }, *tv_leeds[] = { "leeds" }, *tv_york[] = { "york" };
    struct cx_host h[] = {
        { "id-1", "web-1", "dpkg", T0 - 60 * DAY, 0, pk, 4, NULL, 0, o, 1, NULL, 0, seen, 0, NULL,
          0, tk, tv_leeds, 1 },
        { "id-2", "web-2", "dpkg", T0 - 60 * DAY, 0, pk, 4, NULL, 0, o, 1, NULL, 0, seen, 0, NULL,
          0, tk, tv_york, 1 },
    };
    struct cx_fix fx[] = {
        { 1, T0 - 30 * DAY, "bookworm", "openssl", "", "3.0.11-1+deb12u1", "DSA-30",
          "CVE-2026-6000 CVE-2026-6001", "", "", -1, T0 - 20 * DAY },
        { 1, T0 - 30 * DAY, "bookworm", "curl", "", "7.88.1-10+deb12u1", "DSA-31", "CVE-2026-6100",
          "", "", -1, T0 - 20 * DAY },
    };
    struct cx_exception ex[] = {
        /* 1: binary libssl3 only, both CVEs: openssl binary not covered. */
        { 1, "id-1", "libssl3", "", "r", "SIRO", "", "admin", T0 - DAY, T0 + DAY, 0, "", "",
          "binary", "" },
        /* 2: one CVE of openssl, source: not the other CVE. */
        { 2, "id-2", "openssl", "CVE-2026-6000", "r", "SIRO", "", "admin", T0 - DAY, T0 + DAY, 0,
          "", "", "source", "" },
        /* 3: the other CVE, source: with 2 the whole finding on id-2. */
        { 3, "id-2", "", "CVE-2026-6001", "r", "SIRO", "", "admin", T0 - DAY, T0 + DAY, 0, "", "",
          "", "" },
        /* 4: expired; 5: revoked: cover nothing. */
        { 4, "*", "curl", "", "r", "SIRO", "", "admin", T0 - 9 * DAY, T0 - DAY, 0, "", "",
          "source", "" },
        { 5, "id-1", "curl", "", "r", "SIRO", "", "admin", T0 - 9 * DAY, T0 + DAY, T0 - 2 * DAY,
          "admin", "fixed", "source", "" },
        /* 6: tag site=york, source curl: id-2 only. */
        { 6, "tag:site=york", "curl", "", "r", "SIRO", "", "admin", T0 - DAY, T0 + DAY, 0, "", "",
          "source", "" },
    };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { h, 2, NULL, 0, fx, 2, ex, 6, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc, *x, *e;
    (void)state;

    doc = cx_report(&f, &op);
    assert_non_null(doc);
    x = finding(doc, "id-1", "openssl");
    assert_string_equal(str(x, "state"), "overdue"); /* the openssl binary is not excepted */
    assert_int_equal(json_array_size(json_object_get(x, "exceptions")), 0);
    x = finding(doc, "id-2", "openssl");
    assert_string_equal(str(x, "state"), "excepted");
    assert_int_equal(json_array_size(json_object_get(x, "exceptions")), 2);
    x = finding(doc, "id-1", "curl");
    assert_string_equal(str(x, "state"), "overdue"); /* 4 expired, 5 revoked, 6 another tag */
    x = finding(doc, "id-2", "curl");
    assert_string_equal(str(x, "state"), "excepted");

    e = exception_of(doc, 1);
    assert_int_equal(json_integer_value(json_object_get(e, "findings_covered")), 0);
    assert_string_equal(str(e, "hostname"), "web-1");
    assert_string_equal(str(e, "package_kind"), "binary");
    e = exception_of(doc, 2);
    assert_int_equal(json_integer_value(json_object_get(e, "findings_covered")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(e, "covered_findings"), 0)),
                        str(finding(doc, "id-2", "openssl"), "id"));
    e = exception_of(doc, 3);
    assert_int_equal(json_integer_value(json_object_get(e, "findings_covered")), 1);
    e = exception_of(doc, 4);
    assert_string_equal(str(e, "status"), "expired");
    assert_int_equal(json_integer_value(json_object_get(e, "findings_covered")), 0);
    e = exception_of(doc, 5);
    assert_string_equal(str(e, "status"), "revoked");
    assert_int_equal(json_integer_value(json_object_get(e, "findings_covered")), 0);
    e = exception_of(doc, 6);
    assert_string_equal(str(e, "scope"), "tag");
    assert_string_equal(str(e, "tag"), "site=york");
    assert_int_equal(json_integer_value(json_object_get(e, "findings_covered")), 1);
    assert_string_equal(str(host(doc, "id-2"), "status"), "fail"); /* CE allows no exceptions */
    json_decref(doc);

    /* A binary exception for each binary of openssl on id-1 covers it. */
    {
        struct cx_exception ex2[7];
        memcpy(ex2, ex, sizeof(ex));
        ex2[6] = ex[0];
        ex2[6].id = 7;
        ex2[6].package = "openssl";
        f.exc = ex2;
        f.nexc = 7;
        doc = cx_report(&f, &op);
        x = finding(doc, "id-1", "openssl");
        assert_string_equal(str(x, "state"), "excepted");
        assert_int_equal(json_integer_value(json_object_get(exception_of(doc, 1),
                                                            "findings_covered")),
                         1);
        json_decref(doc);
    }
}

/* No hosts at all (a new collector): a report, not a crash. */
static void test_empty_fleet(void **state)
{
    int64_t points[1] = { T0 };
    struct cx_fleet f = { NULL, 0, NULL, 0, NULL, 0, NULL, 0, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc = cx_report(&f, &op);
    (void)state;
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "findings")), 0);
    assert_string_equal(str(json_object_get(doc, "summary"), "headline"), "No hosts in scope.");
    json_decref(doc);
}

/* The Date: of the Release file an update was pending from dates it when
 * no advisory does: the earliest such date in the fleet, not a later
 * first sight. */
static void test_release_file_evidence(void **state)
{
    struct cx_pkg pk[] = { { "curl", "amd64", "7.88.1-10", "curl", "7.88.1-10", T0 - 5 * DAY,
                             CX_FOREVER, 0 } };
    /* Seen pending 5 days ago, from a Release file dated 40 days ago. */
    struct cx_pend pd[] = { { "curl", "amd64", "7.88.1-10", "7.88.1-10+deb12u5", "", "", 1, 0,
                              T0 - 5 * DAY, T0 - 5 * DAY, CX_FOREVER, T0 - 40 * DAY } };
    struct cx_os o[] = { { T0 - 5 * DAY, "debian", "12", "bookworm", "Debian 12", "6.1.0-13-amd64",
                           "6.1.0-13-amd64", 0 } };
    int64_t seen[1] = { T0 - DAY };
    struct cx_host h = { "r-1", "r-1", "dpkg", T0 - 5 * DAY, 0, pk, 1, pd, 1, o, 1, NULL, 0, seen,
                         0, NULL, 0, NULL, NULL, 0 };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { &h, 1, NULL, 0, NULL, 0, NULL, 0, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    json_t *doc, *x;
    (void)state;

    doc = cx_report(&f, &op);
    x = finding(doc, "r-1", "curl");
    assert_non_null(x);
    assert_string_equal(str(x, "released_from"), "release-file");
    assert_string_equal(str(x, "released_at"), "2026-10-22T00:00:00Z");
    assert_string_equal(str(x, "state"), "overdue");
    assert_true(num(x, "days_late") == 26.0);
    assert_string_equal(str(host(doc, "r-1"), "status"), "fail");
    json_decref(doc);
    /* A Release file dated after the first sight bounds nothing better. */
    pd[0].release_file_ms = T0 - 2 * DAY;
    doc = cx_report(&f, &op);
    x = finding(doc, "r-1", "curl");
    assert_string_equal(str(x, "released_from"), "first-seen");
    assert_string_equal(str(x, "state"), "open");
    assert_string_equal(str(host(doc, "r-1"), "status"), "unconfirmed");
    json_decref(doc);
}

/* A report given up (the collector is stopping) gives no document. */
static void test_cancel(void **state)
{
    struct cx_os o[] = { { T0 - 60 * DAY, "debian", "12", "bookworm", "Debian 12",
                           "6.1.0-13-amd64", "6.1.0-13-amd64", 0 } };
    int64_t seen[1] = { T0 - DAY };
    struct cx_host h = { "c-1", "c-1", "dpkg", T0 - 60 * DAY, 0, NULL, 0, NULL, 0, o, 1, NULL, 0,
                         seen, 0, NULL, 0, NULL, NULL, 0 };
    int64_t points[1] = { T0 };
    struct cx_fleet f = { &h, 1, NULL, 0, NULL, 0, NULL, 0, points, 1, NULL, 0 };
    struct cx_opts op = opts(T0);
    atomic_int stop = 0;
    json_t *doc;
    (void)state;
    op.cancel = &stop;
    doc = cx_report(&f, &op);
    assert_non_null(doc);
    json_decref(doc);
    atomic_store(&stop, 1);
    assert_null(cx_report(&f, &op));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redhat_scope),
        cmocka_unit_test(test_pending_fleet_first_sight),
        cmocka_unit_test(test_exception_scope),
        cmocka_unit_test(test_kernel_and_scope_rules),
        cmocka_unit_test(test_history_before_enrolment),
        cmocka_unit_test(test_unconfirmed_until_dated),
        cmocka_unit_test(test_exceptions_exact),
        cmocka_unit_test(test_empty_fleet),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_release_file_evidence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
