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

#include "../../agent/pkg.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_fields),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_huge_line_and_garbage),
        cmocka_unit_test(test_duplicates_and_bytes),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
