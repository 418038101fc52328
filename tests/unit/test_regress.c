/* Regressions: bugs found in review of lib/ (boundary values, wraps). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "conf.h"
#include "err.h"
#include "util.h"

static void test_bug_duration_0h30(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(vg_parse_duration("1h30", &v), -EINVAL);
    assert_int_equal(vg_parse_duration("0h30", &v), -EINVAL);
}

static void test_bug_size_top(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(vg_parse_size("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_bug_file_read_size_max(void **state)
{
    char path[] = "/tmp/vg-bug-XXXXXX", *out = NULL;
    size_t len = 0;
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    assert_int_equal(vg_file_read(path, SIZE_MAX, &out, &len), 0);
    unlink(path);
    assert_int_equal(len, 5);
    assert_string_equal(out, "hello");
    free(out);
}

static void test_bug_buf_max_size_max(void **state)
{
    struct vg_buf b;
    (void)state;
    vg_buf_init(&b, SIZE_MAX);
    assert_int_equal(vg_buf_reserve(&b, SIZE_MAX), VG_ETOOBIG);
    assert_int_equal(vg_buf_append(&b, "hello", 5), 0);
    assert_string_equal((char *)b.data, "hello");
    vg_buf_free(&b);
}

struct pc { char *p; };
static const struct vg_conf_key pkeys[] = {
    { "s", "p", VG_CONF_PATH, NULL, offsetof(struct pc, p), 0, 0, NULL, 0, "" },
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};

static void test_bug_conf_root_dir(void **state)
{
    struct pc c = { NULL };
    char err[256];
    (void)state;
    assert_int_equal(vg_conf_parse(pkeys, &c, "/agent.conf", "[s]\np = x\n", 10, err,
                                   sizeof(err)), 0);
    assert_string_equal(c.p, "/x");
    vg_conf_free(pkeys, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bug_duration_0h30),
        cmocka_unit_test(test_bug_size_top),
        cmocka_unit_test(test_bug_file_read_size_max),
        cmocka_unit_test(test_bug_conf_root_dir),
        cmocka_unit_test(test_bug_buf_max_size_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
