/* dlib: a library opened at first use: its symbols typed and resolved,
 * references counted, a clear error when the library or a symbol is
 * missing, and the library unmapped again at the last close. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dlib.h"

/* libz is not linked into this test (nor into libvigil): opening it is
 * what maps it. */
static VG_DLSYM(zlibVersion);
static VG_DLSYM(crc32);
static const struct vg_dlsym z_syms[] = { VG_DLSYM_ENTRY(zlibVersion), VG_DLSYM_ENTRY(crc32) };

static int mapped(const char *name)
{
    char line[512];
    int found = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        found |= strstr(line, name) != NULL;
    fclose(f);
    return found;
}

static void test_open_use_close(void **state)
{
    struct vg_dlib z = VG_DLIB_INIT("libz.so.1", "test needs zlib1g", z_syms);
    char err[256] = "";
    (void)state;

    assert_false(mapped("libz.so"));
    assert_int_equal(vg_dlib_open(&z, err, sizeof(err)), 0);
    assert_true(vg_dlib_is_open(&z));
    assert_true(mapped("libz.so"));
    assert_non_null(sym_zlibVersion);
    assert_string_equal(sym_zlibVersion(), ZLIB_VERSION);
    assert_int_equal(sym_crc32(0, (const Bytef *)"123456789", 9), 0xcbf43926UL);
    /* A second reference; the first close keeps it open. */
    assert_int_equal(vg_dlib_open(&z, err, sizeof(err)), 0);
    vg_dlib_close(&z);
    assert_true(vg_dlib_is_open(&z));
    assert_non_null(sym_crc32);
    vg_dlib_close(&z);
    assert_false(vg_dlib_is_open(&z));
    assert_null(sym_crc32);
    assert_null(sym_zlibVersion);
    assert_false(mapped("libz.so"));
    vg_dlib_close(&z); /* closed already: nothing happens */
}

static void test_missing_library(void **state)
{
    struct vg_dlib z = VG_DLIB_INIT("libvigil-no-such.so.9", "isolation needs libnothing1", z_syms);
    char err[256] = "";
    (void)state;

    assert_int_equal(vg_dlib_open(&z, err, sizeof(err)), -ENOENT);
    assert_false(vg_dlib_is_open(&z));
    assert_null(sym_crc32);
    assert_non_null(strstr(err, "isolation needs libnothing1: "));
    assert_non_null(strstr(err, "libvigil-no-such.so.9"));
}

static int (*sym_vg_no_such_function)(void);

static void test_missing_symbol(void **state)
{
    static const struct vg_dlsym bad[] = { VG_DLSYM_ENTRY(zlibVersion),
                                           VG_DLSYM_ENTRY(vg_no_such_function) };
    struct vg_dlib z = VG_DLIB_INIT("libz.so.1", "test needs zlib1g", bad);
    char err[256] = "";
    (void)state;

    assert_int_equal(vg_dlib_open(&z, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "test needs zlib1g: libz.so.1: "));
    assert_non_null(strstr(err, "vg_no_such_function"));
    /* Nothing half-resolved stays behind. */
    assert_null(sym_zlibVersion);
    assert_false(vg_dlib_is_open(&z));
    assert_false(mapped("libz.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_use_close),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_symbol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
