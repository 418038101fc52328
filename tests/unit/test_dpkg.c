/* dpkg status parser against hostile input: missing fields, huge lines,
 * duplicates, non-UTF-8, truncation, NUL bytes, garbage.  Each gives a
 * sane (possibly partial) result and a report, never a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../agent/priv/pkg.h"

#define TMPDIR_TAG "dpkg"
#include "tmpdir.h"

static void parse(const char *text, size_t len, struct pkg_list *l, struct pkg_report *r)
{
    memset(l, 0, sizeof(*l));
    assert_int_equal(pkg_dpkg_parse(text, len, l, r), 0);
}

static const char good[] = "Package: a\nStatus: install ok installed\nArchitecture: amd64\n"
                           "Version: 1.0\n\n"
                           "Package: b\nStatus: install ok installed\nArchitecture: all\n"
                           "Version: 2:3.4-5\nSource: bsrc (3.4-4)\n\n";

static void test_good_and_fields(void **state)
{
    struct pkg_list l;
    struct pkg_report r;
    (void)state;
    parse(good, sizeof(good) - 1, &l, &r);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[1].name, "b");
    assert_string_equal(l.v[1].version, "2:3.4-5");
    assert_string_equal(l.v[1].source, "bsrc");
    assert_string_equal(l.v[1].source_version, "3.4-4");
    assert_string_equal(l.v[0].source, "a");
    assert_string_equal(l.v[0].source_version, "1.0");
    assert_int_equal(r.stanzas, 2);
    pkg_list_free(&l);
}

static void test_truncated_everywhere(void **state)
{
    (void)state;
    /* Cut at every byte: never a crash; complete stanzas survive. */
    for (size_t cut = 0; cut <= sizeof(good) - 1; cut++) {
        struct pkg_list l;
        struct pkg_report r;
        parse(good, cut, &l, &r);
        assert_true(l.n <= 2);
        if (cut >= 72) /* the first stanza is whole */
            assert_true(l.n >= 1);
        pkg_list_free(&l);
    }
}

static void test_missing_fields(void **state)
{
    static const char t[] = "Package: nover\nStatus: install ok installed\n\n"
                            "Status: install ok installed\nVersion: 1\n\n"
                            "Package: nostatus\nVersion: 1\n\n"
                            "Package: onlyword\nStatus: installed\nVersion: 1\n\n"
                            "Package: noarch\nStatus: install ok installed\nVersion: 1\n\n";
    struct pkg_list l;
    struct pkg_report r;
    (void)state;
    parse(t, sizeof(t) - 1, &l, &r);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "noarch");
    assert_string_equal(l.v[0].arch, "");
    assert_int_equal(r.skipped_incomplete, 4);
    pkg_list_free(&l);
}

static void test_huge_line_and_garbage(void **state)
{
    size_t big = 2 * 1024 * 1024;
    char *t = malloc(big + 200);
    struct pkg_list l;
    struct pkg_report r;
    size_t n;
    (void)state;
    n = (size_t)snprintf(t, 200, "Package: x\nStatus: install ok installed\nDescription: ");
    memset(t + n, 'A', big);
    n += big;
    n += (size_t)snprintf(t + n, 100, "\nVersion: 9\nArchitecture: amd64\n");
    parse(t, n, &l, &r);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].version, "9");
    pkg_list_free(&l);
    /* Random bytes, NULs and non-UTF-8 included. */
    srand(42);
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < 4096; i++)
            t[i] = (char)(rand() % 4 == 0 ? '\n' : rand() % 256);
        parse(t, 4096, &l, &r);
        pkg_list_free(&l);
    }
    free(t);
}

static void test_duplicates_and_bytes(void **state)
{
    static const char t[] = "Package: p\nStatus: install ok installed\nArchitecture: amd64\n"
                            "Version: 1\n\n"
                            "Package: p\nStatus: install ok installed\nArchitecture: i386\n"
                            "Version: 1\n\n"
                            "Package: p\nStatus: install ok installed\nArchitecture: amd64\n"
                            "Version: 2\n\n"
                            "Package: caf\xe9\nStatus: install ok installed\nArchitecture: all\n"
                            "Version: 1\xff\n\r\n"
                            "package: lower\nSTATUS: install ok installed\nversion: 1\n\n";
    struct pkg_list l;
    struct pkg_report r;
    (void)state;
    parse(t, sizeof(t) - 1, &l, &r);
    assert_int_equal(l.n, 4);
    assert_int_equal(r.duplicates, 1);
    assert_string_equal(l.v[0].name, "caf\xe9"); /* bytes kept as they are */
    assert_int_equal(r.bad_versions, 1);        /* "1\xff" */
    assert_string_equal(l.v[1].name, "lower");  /* field names are case-insensitive */
    assert_string_equal(l.v[2].arch, "amd64");
    assert_string_equal(l.v[2].version, "2");   /* the later stanza wins */
    assert_string_equal(l.v[3].arch, "i386");
    pkg_list_free(&l);
}

/* NUL bytes inside values (found by fuzz_dpkg): a value ends at its NUL,
 * so "Package: \0..." has no name and is skipped, not listed nameless. */
static void test_nul_in_values(void **state)
{
    static const char t[] = "Package: \0l o\nStatus: install ok installed\nVersion: 1\n\n"
                            "Package: ab\0c\nStatus: install ok installed\nArchitecture: amd64\n"
                            "Version: 2\0junk\n";
    struct pkg_list l;
    struct pkg_report r;
    (void)state;
    parse(t, sizeof(t) - 1, &l, &r);
    assert_int_equal(l.n, 1);
    assert_int_equal(r.skipped_incomplete, 1);
    assert_string_equal(l.v[0].name, "ab");
    assert_string_equal(l.v[0].version, "2");
    assert_int_equal(r.bad_versions, 0);
    pkg_list_free(&l);
}

/* rpm's INSTALLTIME past what milliseconds can hold (found by fuzz_rpm:
 * the product overflowed): unknown, like an unreadable one. */
static void test_rpm_parse_install_time(void **state)
{
    char t[] = "a\t(none)\t1.0\t1.el9\tx86_64\t16999999169999999\tV\ta.src.rpm\n"
               "b\t1\t2.0\t3\tnoarch\t1700000000\t(none)\t(none)\n";
    struct pkg_list l = { NULL, 0, 0 };
    struct pkg_report r;
    (void)state;
    assert_int_equal(pkg_rpm_parse(t, &l, &r), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "a");
    assert_int_equal(l.v[0].install_time_ms, 0);
    assert_string_equal(l.v[1].version, "1:2.0-3");
    assert_int_equal(l.v[1].install_time_ms, 1700000000000LL);
    pkg_list_free(&l);
}

static void test_empty(void **state)
{
    struct pkg_list l;
    struct pkg_report r;
    (void)state;
    parse("", 0, &l, &r);
    assert_int_equal(l.n, 0);
    parse("\n\n\n", 3, &l, &r);
    assert_int_equal(l.n, 0);
    pkg_list_free(&l);
}

/* dpkg's journal: a status file, then updates/9 and updates/10 (numeric
 * order: 10 comes last, though it sorts first as text) and a tmp.i being
 * written (ignored).  The result is what dpkg-query shows: a upgraded
 * but only unpacked, b removed, d new, c untouched. */
static void test_updates_journal(void **state)
{
    char root[PATH_MAX], p[6][PATH_MAX];
    struct pkg_list l = { NULL, 0, 0 };
    struct pkg_report r;
    (void)state;

    tpath(root, sizeof(root), "jroot");
    tpath(p[0], sizeof(p[0]), "jroot/var");
    tpath(p[1], sizeof(p[1]), "jroot/var/lib");
    tpath(p[2], sizeof(p[2]), "jroot/var/lib/dpkg");
    tpath(p[3], sizeof(p[3]), "jroot/var/lib/dpkg/updates");
    assert_int_equal(mkdir(root, 0700), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mkdir(p[i], 0700), 0);
    tpath(p[4], sizeof(p[4]), "jroot/var/lib/dpkg/status");
    write_str(p[4], "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
                    "Package: b\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
                    "Package: c\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n");
    tpath(p[5], sizeof(p[5]), "jroot/var/lib/dpkg/updates/9");
    write_str(p[5], "Package: a\nStatus: install reinstreq half-installed\nArchitecture: amd64\n"
                    "Version: 2.0\n\n"
                    "Package: d\nStatus: install ok installed\nArchitecture: amd64\nVersion: 4.0\n");
    {
        char u10[PATH_MAX], tmp[PATH_MAX];
        tpath(u10, sizeof(u10), "jroot/var/lib/dpkg/updates/10");
        tpath(tmp, sizeof(tmp), "jroot/var/lib/dpkg/updates/tmp.i");
        write_str(u10, "Package: a\nStatus: install ok unpacked\nArchitecture: amd64\nVersion: 2.0\n\n"
                       "Package: b\nStatus: deinstall ok not-installed\nArchitecture: amd64\n");
        write_str(tmp, "Package: c\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9\n");

        assert_int_equal(pkg_dpkg_read(root, &l, &r), 0);
        assert_int_equal(r.updates, 2);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.v[0].name, "a");
        assert_string_equal(l.v[0].version, "2.0");
        assert_string_equal(l.v[0].status, "unpacked");
        assert_string_equal(l.v[1].name, "c");
        assert_string_equal(l.v[1].version, "1.0");
        assert_string_equal(l.v[2].name, "d");
        assert_string_equal(l.v[2].status, "installed");
        pkg_list_free(&l);

        /* Without the journal, the status file alone. */
        unlink(u10);
        unlink(tmp);
    }
    unlink(p[5]);
    assert_int_equal(pkg_dpkg_read(root, &l, &r), 0);
    assert_int_equal(r.updates, 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[1].name, "b");
    pkg_list_free(&l);
    unlink(p[4]);
    for (int i = 3; i >= 0; i--)
        rmdir(p[i]);
    rmdir(root);
}

/* ---- install history from dpkg.log ---- */

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000;
}

static void check_event(const struct pkg_event *e, int64_t t, const char *name, const char *arch,
                        const char *action, const char *oldv, const char *newv)
{
    assert_int_equal(e->time_ms, t);
    assert_string_equal(e->name, name);
    assert_string_equal(e->arch, arch);
    assert_string_equal(e->action, action);
    assert_string_equal(e->old_version, oldv);
    assert_string_equal(e->new_version, newv);
}

static void test_history_parse(void **state)
{
    char text[] =
        "2026-01-02 03:04:05 startup archives unpack\n"
        "2026-01-02 03:04:05 install libfoo:amd64 <none> 1.0-1\n"
        "2026-01-02 03:04:05 status half-installed libfoo:amd64 1.0-1\n"
        "2026-01-02 03:04:06 status installed libfoo:amd64 1.0-1\n"
        "2026-01-02 03:04:06 configure libfoo:amd64 1.0-1 <none>\n"
        "2026-01-02 03:04:07 conffile /etc/foo.conf keep\n"
        "2026-01-03 00:00:00 upgrade libfoo:amd64 1.0-1 1:0.9-1\n" /* epoch: newer */
        "2026-01-04 00:00:00 upgrade libfoo:amd64 1:0.9-1 1:0.8-1\n" /* downgrade */
        "2026-01-05 00:00:00 remove libfoo:amd64 1:0.8-1 <none>\n"
        "2026-01-05 00:00:01 purge libfoo:amd64 1:0.8-1 <none>\n"
        "2026-01-06 00:00:00 install oldstyle <none> 2.0\n"   /* pre-multiarch: no arch */
        "garbage\n"                                            /* malformed: 1 */
        "2026-13-01 00:00:00 install x:amd64 <none> 1\n"      /* 2: bad month */
        "2026-01-07 00:00:00 upgrade y:amd64 1.0\n"           /* 3: too few words */
        "2026-01-07 00:00:00 install z:amd64 <none> a=b\n"    /* 4: not a version */
        "2026-01-07 00:00:00 upgrade w:amd64 <none> 1.0\n"    /* 5: upgrade from nothing */
        "2026-01-07 00:00:00 frobnicate w:amd64 1 2\n"        /* 6: unknown action */
        "\n";
    struct pkg_events ev;
    (void)state;

    memset(&ev, 0, sizeof(ev));
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(pkg_dpkg_history_parse(text, 0, &ev), 0);
    assert_int_equal(ev.malformed, 6);
    assert_int_equal(ev.n, 5);
    check_event(&ev.v[0], utc(2026, 1, 2, 3, 4, 5), "libfoo", "amd64", "install", "", "1.0-1");
    check_event(&ev.v[1], utc(2026, 1, 3, 0, 0, 0), "libfoo", "amd64", "upgrade", "1.0-1",
                "1:0.9-1");
    check_event(&ev.v[2], utc(2026, 1, 4, 0, 0, 0), "libfoo", "amd64", "downgrade", "1:0.9-1",
                "1:0.8-1");
    check_event(&ev.v[3], utc(2026, 1, 5, 0, 0, 0), "libfoo", "amd64", "remove", "1:0.8-1", "");
    check_event(&ev.v[4], utc(2026, 1, 6, 0, 0, 0), "oldstyle", "", "install", "", "2.0");
    pkg_events_free(&ev);
}

static void test_history_local_time(void **state)
{
    char text[] = "2026-07-01 12:00:00 upgrade a:all 1 2\n";
    struct pkg_events ev;
    (void)state;

    memset(&ev, 0, sizeof(ev));
    setenv("TZ", "Europe/London", 1); /* BST: UTC+1 in July */
    tzset();
    assert_int_equal(pkg_dpkg_history_parse(text, 0, &ev), 0);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.v[0].time_ms, utc(2026, 7, 1, 11, 0, 0));
    pkg_events_free(&ev);
    setenv("TZ", "UTC", 1);
    tzset();
}

static void write_gz(const char *path, const char *text)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    assert_int_equal(gzclose(g), Z_OK);
}

/* A fake root with dpkg.log, dpkg.log.1 and dpkg.log.2.gz: events from all
 * three, in time order, cut at the window's start. */
static void test_history_rotations_and_window(void **state)
{
    char root[PATH_MAX], dir[PATH_MAX], f0[PATH_MAX], f1[PATH_MAX], f2[PATH_MAX],
        var[PATH_MAX];
    struct pkg_events ev;
    (void)state;

    setenv("TZ", "UTC", 1);
    tzset();
    tpath(root, sizeof(root), "root");
    tpath(var, sizeof(var), "root/var");
    tpath(dir, sizeof(dir), "root/var/log");
    assert_int_equal(mkdir(root, 0700), 0);
    assert_int_equal(mkdir(var, 0700), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    tpath(f0, sizeof(f0), "root/var/log/dpkg.log");
    tpath(f1, sizeof(f1), "root/var/log/dpkg.log.1");
    tpath(f2, sizeof(f2), "root/var/log/dpkg.log.2.gz");
    write_str(f0, "2026-03-01 00:00:00 upgrade openssl:amd64 3.0.11-1 3.0.13-1\n"
                  "not a line\n");
    write_str(f1, "2026-02-01 00:00:00 upgrade openssl:amd64 3.0.9-1 3.0.11-1\n");
    write_gz(f2, "2025-01-01 00:00:00 install openssl:amd64 <none> 3.0.8-1\n"
                 "2026-01-01 00:00:00 upgrade openssl:amd64 3.0.8-1 3.0.9-1\n");

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(pkg_dpkg_history(root, 0, &ev), 0);
    assert_int_equal(ev.n, 4);
    assert_int_equal(ev.malformed, 1);
    check_event(&ev.v[0], utc(2025, 1, 1, 0, 0, 0), "openssl", "amd64", "install", "", "3.0.8-1");
    check_event(&ev.v[1], utc(2026, 1, 1, 0, 0, 0), "openssl", "amd64", "upgrade", "3.0.8-1",
                "3.0.9-1");
    check_event(&ev.v[3], utc(2026, 3, 1, 0, 0, 0), "openssl", "amd64", "upgrade", "3.0.11-1",
                "3.0.13-1");
    pkg_events_free(&ev);

    /* The window starts after the install and the first upgrade. */
    assert_int_equal(pkg_dpkg_history(root, utc(2026, 1, 15, 0, 0, 0), &ev), 0);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.v[0].old_version, "3.0.9-1");
    assert_string_equal(ev.v[1].new_version, "3.0.13-1");
    pkg_events_free(&ev);

    /* No logs at all: no events, no error. */
    assert_int_equal(pkg_dpkg_history(dir, 0, &ev), 0);
    assert_int_equal(ev.n, 0);

    unlink(f0);
    unlink(f1);
    unlink(f2);
    rmdir(dir);
    rmdir(var);
    rmdir(root);
}

static void test_history_rpm(void **state)
{
    struct pkg p[2] = {
        { "bash", "5.1-6.el9", "x86_64", NULL, NULL, "installed", 2000, 0 },
        { "zlib", "1.2-40.el9", "x86_64", NULL, NULL, "installed", 1000, 1 },
    };
    struct pkg_list l = { p, 2, 2 };
    struct pkg_events ev;
    (void)state;

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(pkg_rpm_history(&l, 0, &ev), 0);
    assert_int_equal(ev.n, 2);
    check_event(&ev.v[0], 1000, "zlib", "x86_64", "install", "", "1.2-40.el9");
    check_event(&ev.v[1], 2000, "bash", "x86_64", "install", "", "5.1-6.el9");
    pkg_events_free(&ev);
    assert_int_equal(pkg_rpm_history(&l, 1500, &ev), 0);
    assert_int_equal(ev.n, 1);
    pkg_events_free(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_fields),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_huge_line_and_garbage),
        cmocka_unit_test(test_duplicates_and_bytes),
        cmocka_unit_test(test_nul_in_values),
        cmocka_unit_test(test_rpm_parse_install_time),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_updates_journal),
        cmocka_unit_test(test_history_parse),
        cmocka_unit_test(test_history_local_time),
        cmocka_unit_test(test_history_rotations_and_window),
        cmocka_unit_test(test_history_rpm),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
