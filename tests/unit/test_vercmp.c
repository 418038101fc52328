/* Version comparison: vectors re-derived from dpkg's and rpm's published
 * behaviour, and dpkg --compare-versions itself on generated pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vercmp.h"

extern char **environ;

static int sign(int x) { return (x > 0) - (x < 0); }

struct vec {
    const char *a, *b;
    int want;
};

static void test_dpkg_vectors(void **state)
{
    static const struct vec v[] = {
        { "1.0", "1.0", 0 }, { "1.0", "1.1", -1 }, { "1.1", "1.0", 1 },
        { "1.0-1", "1.0-2", -1 }, { "1.0-10", "1.0-9", 1 },
        { "1:1.0", "2.0", 1 }, { "0:1.0", "1.0", 0 }, { "2:0.1", "1:9.9", 1 },
        /* Policy: ~~ < ~~a < ~ < (end) < a */
        { "1.0~~", "1.0~~a", -1 }, { "1.0~~a", "1.0~", -1 }, { "1.0~", "1.0", -1 },
        { "1.0", "1.0a", -1 }, { "1.0~rc1", "1.0", -1 }, { "1.0~rc1", "1.0~rc2", -1 },
        { "1.0+b1", "1.0", 1 }, { "1.0.1", "1.0", 1 }, { "1.0-0", "1.0", 0 },
        { "1.00", "1.0", 0 }, { "1.002", "1.2", 0 }, { "1.0a", "1.0b", -1 },
        /* Letters sort before non-letters. */
        { "1.0a", "1.0+", -1 }, { "1.0.", "1.0a", 1 }, { "1.0-1ubuntu1", "1.0-1", 1 },
        { "2.36-9+deb12u4", "2.36-9+deb12u3", 1 }, { "2.36-9+deb12u10", "2.36-9+deb12u9", 1 },
        { "3.0.11-1~deb12u2", "3.0.11-1", -1 }, { "1:2.3", "1:2.3-0", 0 },
        { "1.2.3-1-2", "1.2.3-1-1", 1 }, /* revision is after the last '-' */
        { "10", "9", 1 }, { "1.0", "1", 1 }, { "a", "b", -1 }, { "", "", 0 },
        { "7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1 },
        { "1.0~rc1+dfsg", "1.0~rc1", 1 }, { "0.9.8", "0.9.10", -1 },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int got = sign(vg_dpkg_vercmp(v[i].a, v[i].b));
        if (got != v[i].want)
            fail_msg("dpkg %s vs %s: got %d, want %d", v[i].a, v[i].b, got, v[i].want);
        if (sign(vg_dpkg_vercmp(v[i].b, v[i].a)) != -v[i].want)
            fail_msg("dpkg %s vs %s: not antisymmetric", v[i].b, v[i].a);
    }
    assert_int_equal(vg_dpkg_version_check("1:2.36-9+deb12u4"), 0);
    assert_int_equal(vg_dpkg_version_check("1.0~rc1"), 0);
    assert_int_equal(vg_dpkg_version_check("a1.0"), -22);
    assert_int_equal(vg_dpkg_version_check("x:1.0"), -22);
    assert_int_equal(vg_dpkg_version_check("1.0-"), -22);
    assert_int_equal(vg_dpkg_version_check("1.0 2"), -22);
    assert_int_equal(vg_dpkg_version_check(""), -22);
}

static void test_rpm_vectors(void **state)
{
    /* rpm's rpmvercmp test vectors (rpmvercmp.at), as published. */
    static const struct vec v[] = {
        { "1.0", "1.0", 0 }, { "1.0", "2.0", -1 }, { "2.0", "1.0", 1 },
        { "2.0.1", "2.0.1", 0 }, { "2.0", "2.0.1", -1 }, { "2.0.1", "2.0", 1 },
        { "2.0.1a", "2.0.1a", 0 }, { "2.0.1a", "2.0.1", 1 }, { "2.0.1", "2.0.1a", -1 },
        { "5.5p1", "5.5p1", 0 }, { "5.5p1", "5.5p2", -1 }, { "5.5p2", "5.5p1", 1 },
        { "5.5p10", "5.5p10", 0 }, { "5.5p1", "5.5p10", -1 }, { "5.5p10", "5.5p1", 1 },
        { "10xyz", "10.1xyz", -1 }, { "10.1xyz", "10xyz", 1 },
        { "xyz10", "xyz10", 0 }, { "xyz10", "xyz10.1", -1 }, { "xyz10.1", "xyz10", 1 },
        { "xyz.4", "xyz.4", 0 }, { "xyz.4", "8", -1 }, { "8", "xyz.4", 1 },
        { "xyz.4", "2", -1 }, { "2", "xyz.4", 1 },
        { "5.5p2", "5.6p1", -1 }, { "5.6p1", "5.5p2", 1 },
        { "5.6p1", "6.5p1", -1 }, { "6.5p1", "5.6p1", 1 },
        { "6.0.rc1", "6.0", 1 }, { "6.0", "6.0.rc1", -1 },
        { "10b2", "10a1", 1 }, { "10a2", "10b2", -1 },
        { "1.0aa", "1.0aa", 0 }, { "1.0a", "1.0aa", -1 }, { "1.0aa", "1.0a", 1 },
        { "10.0001", "10.0001", 0 }, { "10.0001", "10.1", 0 }, { "10.1", "10.0001", 0 },
        { "10.0001", "10.0039", -1 }, { "10.0039", "10.0001", 1 },
        { "4.999.9", "5.0", -1 }, { "5.0", "4.999.9", 1 },
        { "20101121", "20101121", 0 }, { "20101121", "20101122", -1 },
        { "20101122", "20101121", 1 },
        { "2_0", "2_0", 0 }, { "2.0", "2_0", 0 }, { "2_0", "2.0", 0 },
        { "a", "a", 0 }, { "a+", "a+", 0 }, { "a+", "a_", 0 }, { "a_", "a+", 0 },
        { "+a", "+a", 0 }, { "+a", "_a", 0 }, { "_a", "+a", 0 },
        { "+_", "+_", 0 }, { "_+", "+_", 0 }, { "_+", "_+", 0 }, { "+", "_", 0 }, { "_", "+", 0 },
        { "1.0~rc1", "1.0~rc1", 0 }, { "1.0~rc1", "1.0", -1 }, { "1.0", "1.0~rc1", 1 },
        { "1.0~rc1", "1.0~rc2", -1 }, { "1.0~rc2", "1.0~rc1", 1 },
        { "1.0~rc1~git123", "1.0~rc1~git123", 0 }, { "1.0~rc1~git123", "1.0~rc1", -1 },
        { "1.0~rc1", "1.0~rc1~git123", 1 },
        { "1.0^", "1.0^", 0 }, { "1.0^", "1.0", 1 }, { "1.0", "1.0^", -1 },
        { "1.0^git1", "1.0^git1", 0 }, { "1.0^git1", "1.0", 1 }, { "1.0", "1.0^git1", -1 },
        { "1.0^git1", "1.0^git2", -1 }, { "1.0^git2", "1.0^git1", 1 },
        { "1.0^git1", "1.01", -1 }, { "1.01", "1.0^git1", 1 },
        { "1.0^20160101", "1.0^20160101", 0 }, { "1.0^20160101", "1.0.1", -1 },
        { "1.0.1", "1.0^20160101", 1 }, { "1.0^20160101^git1", "1.0^20160101^git1", 0 },
        { "1.0^20160102", "1.0^20160101^git1", 1 }, { "1.0^20160101^git1", "1.0^20160102", -1 },
        { "1.0~rc1^git1", "1.0~rc1^git1", 0 }, { "1.0~rc1^git1", "1.0~rc1", 1 },
        { "1.0~rc1", "1.0~rc1^git1", -1 }, { "1.0^git1~pre", "1.0^git1~pre", 0 },
        { "1.0^git1", "1.0^git1~pre", 1 }, { "1.0^git1~pre", "1.0^git1", -1 },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int got = sign(vg_rpm_vercmp(v[i].a, v[i].b));
        if (got != v[i].want)
            fail_msg("rpm %s vs %s: got %d, want %d", v[i].a, v[i].b, got, v[i].want);
    }
    assert_true(vg_rpm_evrcmp("1", "1.0", "1", NULL, "9.0", "1") > 0);
    assert_true(vg_rpm_evrcmp(NULL, "3.0.7", "24.el9", "0", "3.0.7", "25.el9") < 0);
    assert_int_equal(vg_rpm_evrcmp("", "1.0", "1.el9", "0", "1.0", "1.el9"), 0);
}

/* Random valid Debian versions built from the characters that matter. */
static void gen(char *out, size_t len, unsigned *seed)
{
    static const char up[] = "0123456789abcz.+~";
    static const char rev[] = "0123456789abz.+~";
    size_t n = 0;
    int r;

    if (rand_r(seed) % 5 == 0)
        n += (size_t)snprintf(out, len, "%d:", rand_r(seed) % 3);
    out[n++] = (char)('0' + rand_r(seed) % 10);
    r = rand_r(seed) % 8;
    for (int i = 0; i < r && n < len - 12; i++)
        out[n++] = up[rand_r(seed) % (sizeof(up) - 1)];
    if (rand_r(seed) % 2) {
        out[n++] = '-';
        r = 1 + rand_r(seed) % 5;
        for (int i = 0; i < r && n < len - 2; i++)
            out[n++] = rev[rand_r(seed) % (sizeof(rev) - 1)];
    }
    out[n] = '\0';
}

/* dpkg --compare-versions A OP B: 1 if it holds. */
static int dpkg_says(const char *a, const char *op, const char *b)
{
    char *argv[] = { "dpkg", "--compare-versions", (char *)a, (char *)op, (char *)b, NULL };
    pid_t pid;
    int st;
    if (posix_spawnp(&pid, "dpkg", NULL, NULL, argv, environ) != 0)
        fail_msg("cannot run dpkg");
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_against_dpkg(void **state)
{
    unsigned seed = 20261122;
    int n = getenv("VG_VERCMP_PAIRS") ? (int)strtol(getenv("VG_VERCMP_PAIRS"), NULL, 10) : 3000;
    (void)state;

    int compared = 0;

    if (access("/usr/bin/dpkg", X_OK) != 0)
        skip();
    for (int i = 0; i < n; i++) {
        char a[64], b[64];
        int ours;
        const char *op;
        gen(a, sizeof(a), &seed);
        /* Half the pairs share a prefix, where the subtle cases are. */
        if (i % 2) {
            memcpy(b, a, sizeof(b));
            gen(b + strlen(b) / 2, sizeof(b) - strlen(b) / 2, &seed);
            if (vg_dpkg_version_check(b) != 0)
                gen(b, sizeof(b), &seed);
        } else {
            gen(b, sizeof(b), &seed);
        }
        if (vg_dpkg_version_check(a) || vg_dpkg_version_check(b))
            continue;
        ours = vg_dpkg_vercmp(a, b);
        op = ours < 0 ? "lt" : ours > 0 ? "gt" : "eq";
        if (!dpkg_says(a, op, b))
            fail_msg("pair %d: we say '%s' %s '%s', dpkg disagrees", i, a, op, b);
        compared++;
    }
    assert_true(compared >= n * 9 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dpkg_vectors),
        cmocka_unit_test(test_rpm_vectors),
        cmocka_unit_test(test_against_dpkg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
