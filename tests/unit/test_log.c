/* Logging: levels, line format, escaping, errno handling, rate limiting;
 * error texts. */
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

#include "err.h"
#include "log.h"
#include "util.h"

/* Runs fn with stderr redirected to a file; returns what was written. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/vg-test-log-XXXXXX";
    int fd = mkstemp(path), saved;
    char *out = NULL;
    size_t len;

    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    assert_int_equal(vg_file_read(path, 1 << 20, &out, &len), 0);
    unlink(path);
    return out;
}

static void emit_levels(void)
{
    vg_log_set_part("net");
    log_debug("hidden %d", 1);
    log_info("shown %s", "info");
    errno = ENOENT;
    log_warn("open %s", "/x");
    log_warnx("no errno here");
    vg_log_set_part(NULL);
    log_error("plain");
}

static void test_format_and_levels(void **state)
{
    char *out;
    (void)state;

    unsetenv("JOURNAL_STREAM");
    vg_log_init("vigil-test", 0, VG_LOG_INFO);
    out = capture(emit_levels);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "vigil-test[net]: info: shown info\n"));
    assert_non_null(strstr(out, "vigil-test[net]: warning: open /x: No such file or directory\n"));
    assert_non_null(strstr(out, "vigil-test[net]: warning: no errno here\n"));
    assert_non_null(strstr(out, "vigil-test: error: plain\n"));
    /* Lines start with an RFC 3339 UTC timestamp. */
    assert_true(out[4] == '-' && out[10] == 'T' && strchr(out, 'Z') != NULL);
    free(out);

    /* Under the journal, no timestamp of our own. */
    setenv("JOURNAL_STREAM", "8:1234", 1);
    vg_log_init("vigil-test", 0, VG_LOG_DEBUG);
    out = capture(emit_levels);
    assert_non_null(strstr(out, "vigil-test[net]: debug: hidden 1\n"));
    assert_memory_equal(out, "vigil-test[net]: debug", 22);
    free(out);
    unsetenv("JOURNAL_STREAM");
}

static void emit_hostile(void)
{
    vg_log_set_part("net");
    log_warnx("agent %s: hello refused",
              "evil\n2026-12-04T12:00:00Z vigil-collector: info: agent root-ok enrolled\x1b[2J");
    log_info("tag %s", "a\\b\rc\xc2\x9b");
    vg_log_set_part(NULL);
}

/* What a peer put in a message cannot start a line of its own or reach
 * the terminal: one call, one line, controls shown as \xNN. */
static void test_escapes_peer_text(void **state)
{
    char *out;
    size_t lines = 0;
    (void)state;

    setenv("JOURNAL_STREAM", "8:1234", 1);
    vg_log_init("vigil-test", 0, VG_LOG_INFO);
    out = capture(emit_hostile);
    unsetenv("JOURNAL_STREAM");
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\r'));
    assert_string_equal(out, "vigil-test[net]: warning: agent evil\\x0a2026-12-04T12:00:00Z "
                             "vigil-collector: info: agent root-ok enrolled\\x1b[2J: hello "
                             "refused\n"
                             "vigil-test[net]: info: tag a\\\\b\\x0dc\\xc2\\x9b\n");
    free(out);
}

static void test_level_parse(void **state)
{
    enum vg_log_level l;
    (void)state;
    assert_int_equal(vg_log_level_parse("debug", &l), 0);
    assert_int_equal(l, VG_LOG_DEBUG);
    assert_int_equal(vg_log_level_parse("warning", &l), 0);
    assert_int_equal(l, VG_LOG_WARN);
    assert_int_equal(vg_log_level_parse("loud", &l), -EINVAL);
}

static void test_ratelimit(void **state)
{
    struct vg_ratelimit rl = VG_RATELIMIT_INIT(60000, 3);
    uint64_t sup = 99;
    int allowed = 0;
    (void)state;

    for (int i = 0; i < 10; i++)
        allowed += vg_ratelimit(&rl, &sup);
    assert_int_equal(allowed, 3);
    assert_int_equal(rl.suppressed, 7);
    /* A new window reports what was suppressed. */
    rl.window_start -= 60001;
    assert_int_equal(vg_ratelimit(&rl, &sup), 1);
    assert_int_equal(sup, 7);
    assert_int_equal(rl.suppressed, 0);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(vg_strerror(0), "success");
    assert_string_equal(vg_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(vg_strerror(VG_ETOOBIG), "size over limit");
    assert_string_equal(vg_strerror(VG_ELZ4), "lz4 payload does not match its stated size");
    assert_string_equal(vg_strerror(VG_EDECODE), "protobuf payload does not decode");
    /* Every code has its own text. */
    for (int a = VG_EBASE; a > VG_ELAST; a--)
        for (int b = a - 1; b > VG_ELAST; b--)
            assert_string_not_equal(vg_strerror(a), vg_strerror(b));
    assert_string_equal(vg_strerror(VG_ELAST), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_levels),
        cmocka_unit_test(test_escapes_peer_text),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
