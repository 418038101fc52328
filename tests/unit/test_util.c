/* util: RFC 3339 times, number/duration/size/bool parsing, bounded file
 * reads, atomic file writes, hex, strlcpy, escaping of peer text.  File
 * tests use a private mkdtemp directory that must be empty again at the
 * end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "run.h"
#include "util.h"

#define TMPDIR_TAG "util"
#include "tmpdir.h"

/* Entries in tmpdir other than "." and "..". */
static int dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    return st.st_mode & 07777;
}

/* ---- time ---------------------------------------------------------------- */

static void check_format(int64_t ms, const char *want)
{
    char out[VG_TIME_STR_MAX];
    assert_ptr_equal(vg_time_format(ms, out, sizeof(out)), out);
    assert_string_equal(out, want);
}

static void test_time_format(void **state)
{
    (void)state;
    check_format(0, "1970-01-01T00:00:00Z");
    check_format(1795332777000, "2026-11-22T07:32:57Z");
    check_format(1795332777123, "2026-11-22T07:32:57.123Z");
    check_format(1795332777001, "2026-11-22T07:32:57.001Z");
    check_format(1709164800000, "2024-02-29T00:00:00Z");
    check_format(253402300799999, "9999-12-31T23:59:59.999Z");
}

/* Floor division: -1 ms is the last millisecond of 1969, not 1970 minus. */
static void test_time_format_pre_1970(void **state)
{
    (void)state;
    check_format(-1, "1969-12-31T23:59:59.999Z");
    check_format(-500, "1969-12-31T23:59:59.500Z");
    check_format(-1000, "1969-12-31T23:59:59Z");
    check_format(-1001, "1969-12-31T23:59:58.999Z");
    check_format(-86400000, "1969-12-31T00:00:00Z");
    check_format(-2208988800000, "1900-01-01T00:00:00Z");
    check_format(-62135596800000, "0001-01-01T00:00:00Z");
}

static void test_time_format_truncates(void **state)
{
    char out[11];
    (void)state;
    memset(out, 'x', sizeof(out));
    vg_time_format(1795332777123, out, sizeof(out));
    assert_string_equal(out, "2026-11-22");
}

static void check_parse(const char *s, int64_t want)
{
    int64_t ms = INT64_MIN;
    if (vg_time_parse(s, &ms) != 0)
        fail_msg("vg_time_parse(\"%s\") failed", s);
    if (ms != want)
        fail_msg("vg_time_parse(\"%s\") = %lld, want %lld", s, (long long)ms, (long long)want);
}

static void check_parse_bad(const char *s)
{
    int64_t ms = 12345;
    int rc = vg_time_parse(s, &ms);
    if (rc != -EINVAL)
        fail_msg("vg_time_parse(\"%s\") = %d, want -EINVAL", s, rc);
    assert_int_equal(ms, 12345); /* untouched on error */
}

/* apt Release files' Date: RFC 2822, with the zone forms apt writes and
 * reads; anything else is refused and leaves the output alone. */
static void test_time_parse_rfc2822(void **state)
{
    static const char *const bad[] = {
        "", "Sun, 22 Nov 2026", "Sun, 22 Foo 2026 07:32:57 UTC", "Sun, 31 Nov 2026 07:32:57 UTC",
        "Sun, 22 Nov 2026 24:00:00 UTC", "Sun, 22 Nov 2026 07:32:57", "Sun 22 Nov 2026 07:32:57 UTC",
        "Sun, 22 Nov 2026 07:32:57 UTC trailing", "Sun, 22 Nov 26 07:32:57 UTC",
        "Sun, 22 Nov 2026 07:32:57 +1", "2026-11-22T07:32:57Z",
    };
    int64_t ms = 0;
    (void)state;
    assert_int_equal(vg_time_parse_rfc2822("Sun, 22 Nov 2026 07:32:57 UTC", &ms), 0);
    assert_int_equal(ms, 1795332777000);
    assert_int_equal(vg_time_parse_rfc2822("22 Nov 2026 07:32:57 GMT", &ms), 0);
    assert_int_equal(ms, 1795332777000);
    assert_int_equal(vg_time_parse_rfc2822("Sun, 22 nov 2026 08:32:57 +0100\r", &ms), 0);
    assert_int_equal(ms, 1795332777000);
    assert_int_equal(vg_time_parse_rfc2822("Sun, 22 Nov 2026 02:02:57 -0530", &ms), 0);
    assert_int_equal(ms, 1795332777000);
    assert_int_equal(vg_time_parse_rfc2822("Sun, 1 Nov 2026 07:32 Z", &ms), 0);
    assert_int_equal(ms, 1793518320000);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 12345;
        if (vg_time_parse_rfc2822(bad[i], &ms) != -EINVAL || ms != 12345)
            fail_msg("vg_time_parse_rfc2822(\"%s\") accepted", bad[i]);
    }
}

static void test_time_parse_utc(void **state)
{
    (void)state;
    check_parse("1970-01-01T00:00:00Z", 0);
    check_parse("2026-11-22T07:32:57Z", 1795332777000);
    check_parse("2026-11-22t07:32:57z", 1795332777000);
    check_parse("2026-11-22 07:32:57Z", 1795332777000);
    check_parse("2026-11-22T07:32:57+00:00", 1795332777000);
    check_parse("2026-11-22T07:32:57-00:00", 1795332777000);
    check_parse("2016-12-31T23:59:60Z", 1483228799000); /* leap second clamped */
}

static void test_time_parse_offsets(void **state)
{
    (void)state;
    check_parse("2026-11-22T08:32:57+01:00", 1795332777000);
    check_parse("2026-11-22T02:02:57-05:30", 1795332777000);
    check_parse("2026-11-23T01:02:57+17:30", 1795332777000);
    check_parse("2026-11-22T00:30:00+01:00", 1795305600000 - 1800000); /* crosses midnight */
    check_parse("2026-11-21T23:59:59.500-05:00", 1795305600000 + 5 * 3600000 - 500);
    check_parse("1970-01-01T00:30:00+01:00", -1800000);
}

static void test_time_parse_fraction(void **state)
{
    (void)state;
    check_parse("2026-11-22T07:32:57.123Z", 1795332777123);
    check_parse("2026-11-22T07:32:57.1Z", 1795332777100);
    check_parse("2026-11-22T07:32:57.01Z", 1795332777010);
    check_parse("2026-11-22T07:32:57.000Z", 1795332777000);
    check_parse("2026-11-22T07:32:57.999999999Z", 1795332777999); /* truncated to ms */
    check_parse("2026-11-22T08:32:57.250+01:00", 1795332777250);
}

static void test_time_parse_dates(void **state)
{
    (void)state;
    check_parse("2026-11-22", 1795305600000);
    check_parse("1970-01-01", 0);
    check_parse("2024-02-29", 1709164800000);
    check_parse("2000-02-29", 951782400000); /* divisible by 400: leap */
    check_parse("2024-12-31", 1735603200000);
    check_parse_bad("2026-02-30");
    check_parse_bad("2025-02-29");
    check_parse_bad("1900-02-29"); /* divisible by 100: not leap */
    check_parse_bad("2026-04-31");
    check_parse_bad("2026-13-01");
    check_parse_bad("2026-00-10");
    check_parse_bad("2026-01-00");
    check_parse_bad("2026-01-32");
}

static void test_time_parse_pre_1970(void **state)
{
    (void)state;
    check_parse("1969-12-31T23:59:59Z", -1000);
    check_parse("1969-12-31T23:59:59.500Z", -500);
    check_parse("1969-12-31", -86400000);
    check_parse("1900-01-01T00:00:00Z", -2208988800000);
    check_parse("0001-01-01T00:00:00Z", -62135596800000);
}

static void test_time_parse_garbage(void **state)
{
    static const char *bad[] = {
        "",
        "garbage",
        "2026",
        "2026-11",
        "2026-1-22",
        "26-11-22",
        "2026/11/22",
        " 2026-11-22",
        "2026-11-22 ",
        "2026-11-22x",
        "2026-11-22T",
        "2026-11-22Z",
        "2026-11-22T07:32Z",
        "2026-11-22T07:32:57",        /* RFC 3339 requires an offset */
        "2026-11-22T7:32:57Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T07:60:00Z",
        "2026-11-22T07:32:61Z",
        "2026-11-22T07:32:57.Z",
        "2026-11-22T07:32:57.12",
        "2026-11-22T07:32:57+01",
        "2026-11-22T07:32:57+0100",
        "2026-11-22T07:32:57+24:00",
        "2026-11-22T07:32:57+01:60",
        "2026-11-22T07:32:57 +01:00",
        "2026-11-22T07:32:57Zjunk",
        "2026-11-22T07:32:57+01:00junk",
        "2026-11-22T07:32:57UTC",
        "-2026-11-22",
    };
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(bad); i++)
        check_parse_bad(bad[i]);
}

static void test_time_round_trip(void **state)
{
    static const int64_t vals[] = {
        0, 1, 999, 1000, -1, -999, -1000, -1001, 1795332777000, 1795332777123,
        1709164800000, 951782400000, -2208988800000, -62135596800000, 253402300799999,
        4102444799999, /* 2099-12-31T23:59:59.999Z */
    };
    char s[VG_TIME_STR_MAX];
    int64_t back;
    (void)state;

    for (size_t i = 0; i < VG_ARRAY_SIZE(vals); i++) {
        vg_time_format(vals[i], s, sizeof(s));
        back = INT64_MIN;
        if (vg_time_parse(s, &back) != 0 || back != vals[i])
            fail_msg("%lld -> \"%s\" -> %lld", (long long)vals[i], s, (long long)back);
    }
    /* Every day over two leap cycles, at an awkward time of day. */
    for (int64_t d = -800; d < 800; d++) {
        int64_t ms = d * 86400000 + 45296789; /* 12:34:56.789 */
        vg_time_format(ms, s, sizeof(s));
        assert_int_equal(vg_time_parse(s, &back), 0);
        assert_int_equal(back, ms);
    }
}

static void test_time_now(void **state)
{
    uint64_t m1, m2;
    (void)state;
    assert_true(vg_time_now_ms() > 1700000000000); /* after 2023-11 */
    m1 = vg_time_mono_ms();
    m2 = vg_time_mono_ms();
    assert_true(m2 >= m1);
}

/* ---- numbers --------------------------------------------------------------- */

static void test_parse_u64(void **state)
{
    uint64_t v;
    (void)state;

    assert_int_equal(vg_parse_u64("0", 0, 100, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vg_parse_u64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(vg_parse_u64("007", 0, 100, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(vg_parse_u64("100", 0, 100, &v), 0); /* max inclusive */
    assert_int_equal(v, 100);
    assert_int_equal(vg_parse_u64("10", 10, 100, &v), 0); /* min inclusive */
    assert_int_equal(v, 10);
    assert_int_equal(vg_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_parse_u64_range(void **state)
{
    uint64_t v = 77;
    (void)state;

    assert_int_equal(vg_parse_u64("101", 0, 100, &v), -ERANGE);
    assert_int_equal(vg_parse_u64("9", 10, 100, &v), -ERANGE);
    assert_int_equal(vg_parse_u64("0", 1, 100, &v), -ERANGE);
    assert_int_equal(vg_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(vg_parse_u64("99999999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(v, 77);
}

static void test_parse_u64_junk(void **state)
{
    static const char *bad[] = { "", " 1", "1 ", "-1", "+1", "0x10", "1.5", "12a", "a12",
                                 "1e3", "\t5", "5\n" };
    uint64_t v = 77;
    (void)state;

    for (size_t i = 0; i < VG_ARRAY_SIZE(bad); i++)
        if (vg_parse_u64(bad[i], 0, UINT64_MAX, &v) != -EINVAL)
            fail_msg("vg_parse_u64(\"%s\") accepted", bad[i]);
    assert_int_equal(vg_parse_u64(NULL, 0, 10, &v), -EINVAL);
    /* Junk wins over range: the caller learns it is not a number at all. */
    assert_int_equal(vg_parse_u64("99999999999999999999999x", 0, 10, &v), -EINVAL);
    assert_int_equal(v, 77);
}

static void check_duration(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    int rc = vg_parse_duration(s, &v);
    if (rc != 0 || v != want)
        fail_msg("vg_parse_duration(\"%s\") = %d, %llu; want %llu", s, rc,
                 (unsigned long long)v, (unsigned long long)want);
}

static void check_duration_bad(const char *s, int want_rc)
{
    uint64_t v = 12345;
    int rc = vg_parse_duration(s, &v);
    if (rc != want_rc)
        fail_msg("vg_parse_duration(\"%s\") = %d, want %d", s, rc, want_rc);
    assert_int_equal(v, 12345);
}

static void test_parse_duration(void **state)
{
    (void)state;
    check_duration("90s", 90000);
    check_duration("24h", 86400000);
    check_duration("1h30m", 5400000);
    check_duration("500ms", 500);
    check_duration("5m", 300000);
    check_duration("2d", 172800000);
    check_duration("1w", 604800000);
    check_duration("1m5s", 65000);
    check_duration("1s500ms", 1500);
    check_duration("1w1d1h1m1s1ms", 604800000 + 86400000 + 3600000 + 60000 + 1000 + 1);
    check_duration("0s", 0);
    check_duration("0ms", 0);
    /* A bare number is seconds. */
    check_duration("90", 90000);
    check_duration("0", 0);
    check_duration("007", 7000);
    /* Largest representable whole seconds, and one more. */
    check_duration("18446744073709551s", 18446744073709551000ULL);
    check_duration_bad("18446744073709552s", -ERANGE);
}

/* Sizes and elapsed times for people: units, a few figures, no "1024 KiB". */
static void test_fmt_human(void **state)
{
    char b[VG_FMT_MAX];
    static const struct { uint64_t n; const char *s; } sz[] = {
        { 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.00 KiB" }, { 1536, "1.50 KiB" },
        { 12345678, "11.8 MiB" }, { 1048064, "1.00 MiB" }, { 250ULL << 30, "250 GiB" },
        { UINT64_MAX, "16.0 EiB" },
    };
    static const struct { uint64_t ms; const char *s; } el[] = {
        { 0, "0ms" }, { 250, "250ms" }, { 4250, "4.2s" }, { 59999, "59s" }, { 65000, "1m05s" },
        { 7380000, "2h03m" }, { 273600000, "3d04h" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++)
        assert_string_equal(vg_fmt_size(sz[i].n, b, sizeof(b)), sz[i].s);
    for (size_t i = 0; i < sizeof(el) / sizeof(el[0]); i++)
        assert_string_equal(vg_fmt_elapsed(el[i].ms, b, sizeof(b)), el[i].s);
}

/* Durations in logs: the largest whole unit, read back as written. */
static void test_fmt_duration(void **state)
{
    char b[32];
    uint64_t ms;
    static const struct { uint64_t ms; const char *s; } v[] = {
        { 7776000000ULL, "90d" }, { 129600000, "36h" }, { 90000, "90s" }, { 60000, "1m" },
        { 250, "250ms" }, { 0, "0ms" }, { 1500, "1500ms" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_string_equal(vg_fmt_duration(v[i].ms, b, sizeof(b)), v[i].s);
        assert_int_equal(vg_parse_duration(b, &ms), 0);
        assert_int_equal(ms, v[i].ms);
    }
}

static void test_parse_duration_bad(void **state)
{
    static const char *bad[] = { "", "h", "s", "ms", "5x", "5 s", " 5s", "5s ", "5S", "5H",
                                 "-5s", "+5s", "1.5h", "5min", "5sec", "1hh", "s5",
                                 "1h30", /* after a unit, a bare number is ambiguous */
                                 "1ms5", "1h,30m", "1h 30m" };
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(bad); i++)
        check_duration_bad(bad[i], -EINVAL);
    assert_int_equal(vg_parse_duration(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_parse_duration_overflow(void **state)
{
    (void)state;
    check_duration_bad("99999999999999999999999s", -ERANGE);  /* digits */
    check_duration_bad("5124095576030432w", -ERANGE);         /* n * unit */
    check_duration("213503982334d", 213503982334ULL * 86400000);
    check_duration_bad("213503982335d", -ERANGE);
    check_duration_bad("10000000000000000000ms10000000000000000000ms", -ERANGE); /* sum */
    check_duration("9223372036854775807ms9223372036854775807ms", 18446744073709551614ULL);
}

static void check_size(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    int rc = vg_parse_size(s, &v);
    if (rc != 0 || v != want)
        fail_msg("vg_parse_size(\"%s\") = %d, %llu; want %llu", s, rc, (unsigned long long)v,
                 (unsigned long long)want);
}

static void test_parse_size(void **state)
{
    (void)state;
    check_size("0", 0);
    check_size("512", 512);
    check_size("512B", 512);
    check_size("64K", 65536);
    check_size("64k", 65536);
    check_size("1KB", 1024);
    check_size("1KiB", 1024);
    check_size("1M", 1048576);
    check_size("1MB", 1048576);
    check_size("1MiB", 1048576);
    check_size("10G", 10737418240ULL);
    check_size("1GiB", 1073741824);
    check_size("2T", 2199023255552ULL);
    check_size("16777215T", 16777215ULL << 40); /* largest whole TiB */
}

static void test_parse_size_bad(void **state)
{
    static const struct { const char *s; int rc; } bad[] = {
        { "", -EINVAL }, { "K", -EINVAL }, { "MiB", -EINVAL }, { "1.5G", -EINVAL },
        { "1 K", -EINVAL }, { " 1K", -EINVAL }, { "1K ", -EINVAL }, { "64X", -EINVAL },
        { "-1", -EINVAL }, { "+1", -EINVAL }, { "1KBB", -EINVAL }, { "1kib", -EINVAL },
        { "1m", -EINVAL }, { "1P", -EINVAL }, { "0x10", -EINVAL },
        { "16777216T", -ERANGE }, { "17179869184G", -ERANGE }, { "99999999999999999999", -ERANGE },
        { "99999999999999999999999K", -ERANGE },
    };
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(bad); i++) {
        uint64_t v = 12345;
        int rc = vg_parse_size(bad[i].s, &v);
        if (rc != bad[i].rc)
            fail_msg("vg_parse_size(\"%s\") = %d, want %d", bad[i].s, rc, bad[i].rc);
        assert_int_equal(v, 12345);
    }
    assert_int_equal(vg_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_parse_bool(void **state)
{
    static const char *yes[] = { "yes", "true", "on", "1", "YES", "True", "oN" };
    static const char *no[] = { "no", "false", "off", "0", "NO", "False", "OFF" };
    static const char *bad[] = { "", "2", "y", "n", "yess", " yes", "yes ", "enabled", "00" };
    int v;
    (void)state;

    for (size_t i = 0; i < VG_ARRAY_SIZE(yes); i++) {
        v = -1;
        assert_int_equal(vg_parse_bool(yes[i], &v), 0);
        assert_int_equal(v, 1);
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(no); i++) {
        v = -1;
        assert_int_equal(vg_parse_bool(no[i], &v), 0);
        assert_int_equal(v, 0);
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(bad); i++) {
        v = -1;
        if (vg_parse_bool(bad[i], &v) != -EINVAL)
            fail_msg("vg_parse_bool(\"%s\") accepted", bad[i]);
        assert_int_equal(v, -1);
    }
}

/* ---- vg_file_read ------------------------------------------------------------ */

static void test_file_read(void **state)
{
    char path[PATH_MAX];
    char *out = NULL;
    size_t len = 0;
    (void)state;

    tpath(path, sizeof(path), "read.txt");
    write_raw(path, "hello world\n", 12);
    assert_int_equal(vg_file_read(path, 1 << 20, &out, &len), 0);
    assert_int_equal(len, 12);
    assert_string_equal(out, "hello world\n");
    free(out);

    /* Exactly max bytes is fine; the buffer is still NUL-terminated. */
    out = NULL;
    assert_int_equal(vg_file_read(path, 12, &out, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(out, "hello world\n", 13);
    free(out);

    /* len_out may be NULL. */
    out = NULL;
    assert_int_equal(vg_file_read(path, 12, &out, NULL), 0);
    assert_string_equal(out, "hello world\n");
    free(out);
    assert_int_equal(unlink(path), 0);
}

static void test_file_read_too_big(void **state)
{
    char path[PATH_MAX];
    static char sentinel[] = "untouched";
    char *out = sentinel;
    size_t len = 99;
    (void)state;

    tpath(path, sizeof(path), "big.txt");
    write_raw(path, "hello world\n", 12);
    assert_int_equal(vg_file_read(path, 11, &out, &len), VG_ETOOBIG);
    assert_ptr_equal(out, sentinel); /* nothing handed out on error */
    assert_int_equal(len, 99);
    assert_int_equal(vg_file_read(path, 0, &out, &len), VG_ETOOBIG);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(unlink(path), 0);
}

static void test_file_read_empty_and_binary(void **state)
{
    static const char bin[] = { 'a', 0, 'b', 0, 0, (char)0xff, '\n' };
    char path[PATH_MAX];
    char *out = NULL;
    size_t len = 99;
    (void)state;

    tpath(path, sizeof(path), "empty");
    write_raw(path, "", 0);
    assert_int_equal(vg_file_read(path, 0, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(out[0], '\0');
    free(out);

    write_raw(path, bin, sizeof(bin));
    out = NULL;
    assert_int_equal(vg_file_read(path, sizeof(bin), &out, &len), 0);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(out, bin, sizeof(bin));
    assert_int_equal(out[len], '\0');
    free(out);
    assert_int_equal(unlink(path), 0);
}

static void test_file_read_errors(void **state)
{
    char path[PATH_MAX];
    char *out = NULL;
    size_t len = 0;
    (void)state;

    tpath(path, sizeof(path), "does-not-exist");
    assert_int_equal(vg_file_read(path, 1024, &out, &len), -ENOENT);
    assert_null(out);
    assert_int_equal(vg_file_read(tmpdir, 1024, &out, &len), -EISDIR);
    assert_null(out);
    tpath(path, sizeof(path), "does-not-exist/x");
    assert_int_equal(vg_file_read(path, 1024, &out, &len), -ENOENT);
    tpath(path, sizeof(path), "notdir");
    write_raw(path, "x", 1);
    tpath(path, sizeof(path), "notdir/x");
    assert_int_equal(vg_file_read(path, 1024, &out, &len), -ENOTDIR);
    tpath(path, sizeof(path), "notdir");
    assert_int_equal(unlink(path), 0);
}

/* A FIFO has no size to trust: the read must grow its buffer and still stop
 * at max. */
static void fifo_read(size_t total, size_t max, int want_rc)
{
    char path[PATH_MAX];
    char *out = NULL;
    size_t len = 0;
    pid_t pid;
    int st, rc;

    tpath(path, sizeof(path), "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char chunk[1000];
        int fd;
        signal(SIGPIPE, SIG_IGN);
        fd = open(path, O_WRONLY);
        if (fd < 0)
            _exit(1);
        for (size_t off = 0; off < total; off += sizeof(chunk)) {
            size_t n = total - off < sizeof(chunk) ? total - off : sizeof(chunk);
            for (size_t i = 0; i < n; i++)
                chunk[i] = (char)('a' + (off + i) % 26);
            if (write(fd, chunk, n) != (ssize_t)n)
                _exit(0); /* reader gave up: expected when over max */
        }
        _exit(0);
    }
    rc = vg_file_read(path, max, &out, &len);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rc, want_rc);
    if (want_rc == 0) {
        assert_int_equal(len, total);
        for (size_t i = 0; i < total; i++)
            assert_int_equal(out[i], 'a' + i % 26);
        assert_int_equal(out[total], '\0');
        free(out);
    } else {
        assert_null(out);
    }
}

static void test_file_read_fifo(void **state)
{
    (void)state;
    fifo_read(10000, 1 << 20, 0);     /* grows past the 4096 first guess */
    fifo_read(10000, 10000, 0);       /* exactly max */
    fifo_read(10001, 10000, VG_ETOOBIG);
    fifo_read(0, 10, 0);
}

/* ---- vg_file_write_atomic ------------------------------------------------------- */

static void check_content(const char *path, const char *want, size_t wantlen)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(vg_file_read(path, 1 << 20, &out, &len), 0);
    assert_int_equal(len, wantlen);
    assert_memory_equal(out, want, wantlen);
    free(out);
}

static void test_write_atomic_modes(void **state)
{
    static const mode_t modes[] = { 0600, 0644, 0640, 0664, 0400 };
    char path[PATH_MAX];
    mode_t old = umask(022);
    (void)state;

    tpath(path, sizeof(path), "out.conf");
    for (size_t i = 0; i < VG_ARRAY_SIZE(modes); i++) {
        assert_int_equal(vg_file_write_atomic(path, "data\n", 5, modes[i], 0), 0);
        if (file_mode(path) != modes[i])
            fail_msg("asked for %04o, got %04o", (unsigned)modes[i], (unsigned)file_mode(path));
        check_content(path, "data\n", 5);
        assert_int_equal(unlink(path), 0);
    }
    /* A stricter umask must not cut bits either. */
    umask(077);
    assert_int_equal(vg_file_write_atomic(path, "x", 1, 0644, 0), 0);
    assert_int_equal(file_mode(path), 0644);
    assert_int_equal(unlink(path), 0);
    umask(old);
    assert_int_equal(dir_entries(), 0);
}

static void test_write_atomic_replace(void **state)
{
    char path[PATH_MAX];
    static const char big[] = "second version, longer than the first one\n";
    mode_t old = umask(022);
    (void)state;

    tpath(path, sizeof(path), "replace");
    assert_int_equal(vg_file_write_atomic(path, "first\n", 6, 0644, 0), 0);
    check_content(path, "first\n", 6);
    assert_int_equal(vg_file_write_atomic(path, big, sizeof(big) - 1, 0600, 0), 0);
    check_content(path, big, sizeof(big) - 1);
    assert_int_equal(file_mode(path), 0600);
    /* Shorter content does not leave the old tail behind. */
    assert_int_equal(vg_file_write_atomic(path, "z", 1, 0600, 0), 0);
    check_content(path, "z", 1);
    /* Empty content gives an empty file. */
    assert_int_equal(vg_file_write_atomic(path, NULL, 0, 0600, 0), 0);
    check_content(path, "", 0);
    assert_int_equal(dir_entries(), 1); /* no temporary file left behind */
    assert_int_equal(unlink(path), 0);
    umask(old);
}

static void test_write_atomic_excl(void **state)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    mode_t old = umask(022);
    (void)state;

    tpath(path, sizeof(path), "excl");
    assert_int_equal(vg_file_write_atomic(path, "one", 3, 0600, 1), 0);
    check_content(path, "one", 3);
    assert_int_equal(file_mode(path), 0600);
    assert_int_equal(vg_file_write_atomic(path, "two", 3, 0644, 1), -EEXIST);
    check_content(path, "one", 3);
    assert_int_equal(file_mode(path), 0600);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(dir_entries(), 1);
    assert_int_equal(unlink(path), 0);

    /* A dangling symlink counts as existing: it must not be followed. */
    assert_int_equal(symlink("nowhere", path), 0);
    assert_int_equal(vg_file_write_atomic(path, "x", 1, 0600, 1), -EEXIST);
    tpath(tmp, sizeof(tmp), "nowhere");
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(dir_entries(), 0);
    umask(old);
}

static void test_write_atomic_errors(void **state)
{
    char path[PATH_MAX];
    (void)state;

    tpath(path, sizeof(path), "missing-dir/file");
    assert_int_equal(vg_file_write_atomic(path, "x", 1, 0600, 0), -ENOENT);
    assert_int_equal(dir_entries(), 0);
}

/* A bare file name is written in (and the directory fsync'd as) ".". */
static void test_write_atomic_relative(void **state)
{
    int cwd = open(".", O_RDONLY | O_DIRECTORY);
    (void)state;

    assert_true(cwd >= 0);
    assert_int_equal(chdir(tmpdir), 0);
    assert_int_equal(vg_file_write_atomic("rel.txt", "rel", 3, 0640, 0), 0);
    assert_int_equal(fchdir(cwd), 0);
    close(cwd);
    {
        char path[PATH_MAX];
        tpath(path, sizeof(path), "rel.txt");
        check_content(path, "rel", 3);
        assert_int_equal(file_mode(path), 0640);
        assert_int_equal(dir_entries(), 1);
        assert_int_equal(unlink(path), 0);
    }
}

/* ---- hex, strlcpy ------------------------------------------------------------ */

static void test_hex(void **state)
{
    static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
    char out[2 * sizeof(in) + 1 + 1];
    (void)state;

    memset(out, 'X', sizeof(out));
    assert_ptr_equal(vg_hex(in, sizeof(in), out), out);
    assert_string_equal(out, "00017f80abff");
    assert_int_equal(out[sizeof(out) - 1], 'X'); /* wrote exactly 2*len+1 */
    assert_string_equal(vg_hex(in, 0, out), "");
    assert_string_equal(vg_hex("\x12\x34", 2, out), "1234");
}

/* A reload's summary: items joined by "; ", truncated, never past the
 * buffer; an item with no room to start is dropped. */
static void test_list_appendf(void **state)
{
    char out[16] = "";
    (void)state;

    vg_list_appendf(out, sizeof(out), "a=%d", 1);
    assert_string_equal(out, "a=1");
    vg_list_appendf(out, sizeof(out), "%s", "bb");
    assert_string_equal(out, "a=1; bb");
    vg_list_appendf(out, sizeof(out), "%s", "cccccccc");
    assert_string_equal(out, "a=1; bb; cccccc"); /* truncated at 15 */
    vg_list_appendf(out, sizeof(out), "%s", "d");
    assert_string_equal(out, "a=1; bb; cccccc"); /* no room: dropped */
}

static void test_strlcpy(void **state)
{
    char dst[8];
    (void)state;

    assert_int_equal(vg_strlcpy(dst, "hello", sizeof(dst)), 5);
    assert_string_equal(dst, "hello");
    assert_int_equal(vg_strlcpy(dst, "1234567", sizeof(dst)), 7); /* exact fit */
    assert_string_equal(dst, "1234567");
    assert_int_equal(vg_strlcpy(dst, "12345678", sizeof(dst)), 8); /* >= size: truncated */
    assert_string_equal(dst, "1234567");
    assert_int_equal(vg_strlcpy(dst, "hello world", sizeof(dst)), 11);
    assert_string_equal(dst, "hello w");
    assert_int_equal(vg_strlcpy(dst, "", sizeof(dst)), 0);
    assert_string_equal(dst, "");
    assert_int_equal(vg_strlcpy(dst, "abc", 1), 3);
    assert_string_equal(dst, "");
    memcpy(dst, "keep", 5);
    assert_int_equal(vg_strlcpy(dst, "abc", 0), 3); /* writes nothing */
    assert_string_equal(dst, "keep");
}

static void test_zeroize(void **state)
{
    unsigned char b[16];
    static const unsigned char z[16];
    (void)state;

    memset(b, 0xa5, sizeof(b));
    vg_zeroize(b, sizeof(b));
    assert_memory_equal(b, z, sizeof(b));
    vg_zeroize(NULL, 10); /* no-op */
}

/* vg_utf8_replace on the n bytes at s: NULL when valid, else want. */
static void utf8_replace_is(const char *s, size_t n, const char *want)
{
    size_t outn = 99;
    char *out = vg_utf8_replace(s, n, &outn);

    if (!want) {
        assert_null(out);
        assert_int_equal(outn, 0);
        return;
    }
    assert_non_null(out);
    assert_int_equal(outn, strlen(want));
    assert_string_equal(out, want);
    free(out);
}

static void test_utf8_replace(void **state)
{
    (void)state;
    utf8_replace_is("", 0, NULL);
    utf8_replace_is("plain", 5, NULL);
    utf8_replace_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, NULL);
    utf8_replace_is("vg\xff\xfetool", 8, "vg\xef\xbf\xbd\xef\xbf\xbdtool");
    /* A sequence cut at the end of the n bytes: the bytes after n are not read. */
    utf8_replace_is("a\xe2\x82\xac", 3, "a\xef\xbf\xbd\xef\xbf\xbd");
    /* A NUL inside the n bytes (PostgreSQL text cannot hold one). */
    utf8_replace_is("a\0b", 3, "a\xef\xbf\xbd" "b");
    /* Overlong, a surrogate, past U+10FFFF. */
    utf8_replace_is("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    utf8_replace_is("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    utf8_replace_is("\xf4\x90\x80\x80", 4,
                    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

/* vg_str_escape on s gives exactly want, and says how long it is. */
static void escape_is(const char *s, const char *want)
{
    char out[256];
    assert_int_equal(vg_str_escape(out, sizeof(out), s), strlen(want));
    assert_string_equal(out, want);
}

/* What a hostile host could send: a terminal escape, a forged log line,
 * a tab, DEL, C1 controls, bytes that are not UTF-8, a backslash that
 * would make "\x1b" in a name look like an escape.  Printable UTF-8
 * passes unchanged. */
static void test_str_escape(void **state)
{
    (void)state;
    escape_is("", "");
    escape_is("web-01.example", "web-01.example");
    escape_is("\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07");
    escape_is("a\r\n2026-12-04T12:00:00Z vigil-collector: info: forged",
              "a\\x0d\\x0a2026-12-04T12:00:00Z vigil-collector: info: forged");
    escape_is("a\tb", "a\\x09b");
    escape_is("\x01\x1f\x7f", "\\x01\\x1f\\x7f");
    escape_is("C:\\x1b", "C:\\\\x1b");
    /* C1: U+009B is CSI on terminals that take 8-bit controls; U+0085 NEL. */
    escape_is("a\xc2\x9b" "31mb\xc2\x85", "a\\xc2\\x9b31mb\\xc2\\x85");
    /* U+00A0 is the first character past C1: printable. */
    escape_is("\xc2\xa0", "\xc2\xa0");
    /* Invalid: a lone continuation byte, a truncated sequence, an
     * overlong '/', a surrogate, beyond U+10FFFF, 0xff. */
    escape_is("\x80", "\\x80");
    escape_is("Z\xc3", "Z\\xc3");
    escape_is("\xc0\xaf", "\\xc0\\xaf");
    escape_is("\xed\xa0\x80", "\\xed\\xa0\\x80");
    escape_is("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
    escape_is("\xff", "\\xff");
    /* Valid multibyte text is left alone. */
    escape_is("Z\xc3\xbcrich", "Z\xc3\xbcrich");
    escape_is("\xe6\x9d\xb1\xe4\xba\xac", "\xe6\x9d\xb1\xe4\xba\xac");
    escape_is("\xf0\x9f\x94\x92", "\xf0\x9f\x94\x92");
}

/* A cut falls between whole escapes and characters, the result is always
 * terminated, and the return is the full length whatever the bound. */
static void test_str_escape_bound(void **state)
{
    char out[16];
    const char *s = "ab\x1b" "cd";
    (void)state;

    /* "ab\x1bcd" escaped is 8 bytes: a, b, 4 for ESC, c, d. */
    for (size_t len = 1; len <= 9; len++) {
        memset(out, 'Z', sizeof(out));
        assert_int_equal(vg_str_escape(out, len, s), 8);
        assert_true(strlen(out) < len);
        if (len <= 3)
            assert_memory_equal(out, "ab", strlen(out));
        else if (len <= 6)
            assert_string_equal(out, "ab"); /* never "ab\x" or "ab\x1" */
        else
            assert_memory_equal(out, "ab\\x1bcd", strlen(out));
    }
    /* A UTF-8 character is never split either, and nothing shorter
     * after it slips in: "Z\xc3\xbc" + "x" with room for 2 is "Z". */
    assert_int_equal(vg_str_escape(out, 3, "Z\xc3\xbcx"), 4);
    assert_string_equal(out, "Z");
    assert_int_equal(vg_str_escape(out, 4, "Z\xc3\xbcx"), 4);
    assert_string_equal(out, "Z\xc3\xbc");
    assert_int_equal(vg_str_escape(out, 1, "\x1b"), 4);
    assert_string_equal(out, "");
    assert_int_equal(vg_str_escape(NULL, 0, "a\x1b"), 5); /* measures only */
}

/* Helper programs: output, exit status, a missing program, a bound on
 * output and on time, and default signals in the child. */
static void test_run_capture(void **state)
{
    char *out;
    size_t len;
    int st;
    char *echo[] = { "printf", "a\\tb", NULL };
    char *fail[] = { "sh", "-c", "exit 3", NULL };
    char *none[] = { "vigil-no-such-program", NULL };
    char *flood[] = { "yes", NULL };
    char *slow[] = { "sleep", "10", NULL };
    char *pipe_sig[] = { "sh", "-c", "kill -PIPE $$; echo survived", NULL };
    uint64_t t0;
    (void)state;
    assert_int_equal(vg_run_capture(echo, 100, 0, &out, &len, &st), 0);
    assert_string_equal(out, "a\tb");
    assert_int_equal(len, 3);
    assert_int_equal(st, 0);
    free(out);
    assert_int_equal(vg_run_capture(fail, 100, 0, &out, &len, &st), 0);
    assert_int_equal(st, 3);
    free(out);
    assert_int_equal(vg_run_capture(none, 100, 0, &out, &len, &st), -ENOENT);
    assert_null(out);
    assert_int_equal(vg_run_capture(flood, 4096, 0, &out, &len, &st), VG_ETOOBIG);
    assert_null(out);
    t0 = vg_time_mono_ms();
    assert_int_equal(vg_run_capture(slow, 100, 200, &out, &len, &st), -ETIMEDOUT);
    assert_true(vg_time_mono_ms() - t0 < 5000);
    /* SIGPIPE ignored here must not be inherited: the child dies of it. */
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(vg_run_capture(pipe_sig, 100, 10000, &out, &len, &st), 0);
    assert_string_equal(out, "");
    assert_int_equal(st, -1);
    free(out);
    signal(SIGPIPE, SIG_DFL);
}

static void test_split_hostport(void **state)
{
    char h[24], p[8];
    (void)state;
    assert_int_equal(vg_split_hostport("siem.example.org:6514", h, sizeof(h), p, sizeof(p)), 0);
    assert_string_equal(h, "siem.example.org");
    assert_string_equal(p, "6514");
    assert_int_equal(vg_split_hostport("[2001:db8::1]:514", h, sizeof(h), p, sizeof(p)), 0);
    assert_string_equal(h, "2001:db8::1");
    assert_string_equal(p, "514");
    assert_int_equal(vg_split_hostport("10.0.0.1:7", h, sizeof(h), p, sizeof(p)), 0);
    assert_string_equal(p, "7");
    assert_int_equal(vg_split_hostport("host", h, sizeof(h), p, sizeof(p)), -EINVAL);
    assert_int_equal(vg_split_hostport(":514", h, sizeof(h), p, sizeof(p)), -EINVAL);
    assert_int_equal(vg_split_hostport("[]:514", h, sizeof(h), p, sizeof(p)), -EINVAL);
    assert_int_equal(vg_split_hostport("h:0", h, sizeof(h), p, sizeof(p)), -EINVAL);
    assert_int_equal(vg_split_hostport("h:65536", h, sizeof(h), p, sizeof(p)), -EINVAL);
    assert_int_equal(vg_split_hostport("h:", h, sizeof(h), p, sizeof(p)), -EINVAL);
    assert_int_equal(vg_split_hostport("a-name-that-is-far-too-long:1", h, sizeof(h), p, sizeof(p)),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test(test_time_parse_rfc2822),
        cmocka_unit_test(test_time_format_pre_1970),
        cmocka_unit_test(test_time_format_truncates),
        cmocka_unit_test(test_time_parse_utc),
        cmocka_unit_test(test_time_parse_offsets),
        cmocka_unit_test(test_time_parse_fraction),
        cmocka_unit_test(test_time_parse_dates),
        cmocka_unit_test(test_time_parse_pre_1970),
        cmocka_unit_test(test_time_parse_garbage),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_time_now),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_u64_range),
        cmocka_unit_test(test_parse_u64_junk),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_fmt_duration),
        cmocka_unit_test(test_parse_duration_bad),
        cmocka_unit_test(test_parse_duration_overflow),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_size_bad),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_file_read_too_big),
        cmocka_unit_test(test_file_read_empty_and_binary),
        cmocka_unit_test(test_file_read_errors),
        cmocka_unit_test(test_file_read_fifo),
        cmocka_unit_test(test_write_atomic_modes),
        cmocka_unit_test(test_write_atomic_replace),
        cmocka_unit_test(test_write_atomic_excl),
        cmocka_unit_test(test_write_atomic_errors),
        cmocka_unit_test(test_write_atomic_relative),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_list_appendf),
        cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_utf8_replace),
        cmocka_unit_test(test_str_escape),
        cmocka_unit_test(test_str_escape_bound),
        cmocka_unit_test(test_zeroize),
        cmocka_unit_test(test_run_capture),
        cmocka_unit_test(test_fmt_human),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
