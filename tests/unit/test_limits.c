/* Field limits (lib/pb.c vg_pb_limit, collector/limits.c): argv is cut
 * and flagged, identity and package fields refuse the batch, what an
 * honest agent sends passes untouched, strings are cut between UTF-8
 * characters, and README.md shows the table as it is. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../collector/collector.h"
#include "buf.h"
#include "err.h"
#include "pb.h"
#include "util.h"

/* bytes of an encoded Batch with one event, decoded as the collector does */
static Vigil__V1__Batch *decode(Vigil__V1__Event *ev)
{
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    ProtobufCMessage *m = NULL;
    struct vg_buf buf;

    b.seq = 1;
    b.n_events = 1;
    b.events = &ev;
    vg_buf_init(&buf, 64u << 20);
    assert_int_equal(vg_pb_pack(&b.base, &buf), 0);
    assert_int_equal(vg_pb_unpack(&vigil__v1__batch__descriptor, buf.data, buf.len, &m), 0);
    vg_buf_free(&buf);
    return (Vigil__V1__Batch *)m;
}

static Vigil__V1__Batch *exec_batch(size_t n, size_t each)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__ProcessExec x = VIGIL__V1__PROCESS_EXEC__INIT;
    ProtobufCBinaryData *argv = calloc(n, sizeof(*argv));
    uint8_t *arg = malloc(each ? each : 1);
    Vigil__V1__Batch *b;

    assert_non_null(argv);
    assert_non_null(arg);
    memset(arg, 'x', each);
    for (size_t i = 0; i < n; i++) {
        argv[i].data = arg;
        argv[i].len = each;
    }
    x.exe_path.data = (uint8_t *)"/bin/true";
    x.exe_path.len = 9;
    x.n_argv = n;
    x.argv = argv;
    ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
    ev.process_exec = &x;
    b = decode(&ev);
    free(argv);
    free(arg);
    return b;
}

/* The measured attack: 1 MiB of argv in many entries.  Cut to the limit,
 * flagged, and it still encodes. */
static void test_argv_cut(void **state)
{
    Vigil__V1__Batch *b = exec_batch(20000, 60);
    struct vg_pb_limit_report r;
    const Vigil__V1__ProcessExec *x;
    size_t total = 0;
    struct vg_buf out;
    char why[256];
    (void)state;

    assert_int_equal(limits_check(&b->base, &r), 0);
    x = b->events[0]->process_exec;
    assert_true(x->argv_truncated);
    assert_true(x->n_argv <= 4096);
    for (size_t i = 0; i < x->n_argv; i++)
        total += x->argv[i].len + 1;
    assert_true(total <= 65536);
    assert_true(total > 65536 - 64);
    assert_int_equal(r.cut, 1);
    limits_describe(&r, why, sizeof(why));
    assert_non_null(strstr(why, "ProcessExec.argv is 20000 entries, over its limit of 4096"));
    assert_non_null(strstr(why, "argv_truncated set"));
    vg_buf_init(&out, 1u << 20);
    assert_int_equal(vg_pb_pack(&b->base, &out), 0);
    vg_buf_free(&out);
    vg_pb_free(&b->base);

    /* Few entries, each big: cut in bytes in all. */
    b = exec_batch(3, 40000);
    assert_int_equal(limits_check(&b->base, &r), 0);
    x = b->events[0]->process_exec;
    assert_true(x->argv_truncated);
    assert_int_equal(x->n_argv, 2);
    assert_int_equal(x->argv[0].len + x->argv[1].len + 2, 65536);
    assert_string_equal(r.unit, "bytes in all");
    vg_pb_free(&b->base);
}

/* What the agent sends at most passes untouched. */
static void test_honest(void **state)
{
    Vigil__V1__Batch *b = exec_batch(512, 7); /* 4096 bytes, 512 entries */
    struct vg_pb_limit_report r;
    (void)state;

    assert_int_equal(limits_check(&b->base, &r), 0);
    assert_int_equal(r.cut, 0);
    assert_int_equal(r.found, 0);
    assert_false(b->events[0]->process_exec->argv_truncated);
    assert_int_equal(b->events[0]->process_exec->n_argv, 512);
    vg_pb_free(&b->base);
}

static void test_refused(void **state)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__OsState os = VIGIL__V1__OS_STATE__INIT;
    Vigil__V1__PackageInventory inv = VIGIL__V1__PACKAGE_INVENTORY__INIT;
    Vigil__V1__Package pkg = VIGIL__V1__PACKAGE__INIT, *pp = &pkg;
    struct vg_pb_limit_report r;
    Vigil__V1__Batch *b;
    char host[300], name[5000], why[256];
    (void)state;

    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    os.hostname = host;
    ev.kind_case = VIGIL__V1__EVENT__KIND_OS_STATE;
    ev.os_state = &os;
    b = decode(&ev);
    assert_int_equal(limits_check(&b->base, &r), VG_ETOOBIG);
    limits_describe(&r, why, sizeof(why));
    assert_string_equal(why, "OsState.hostname is 299 bytes, over its limit of 255");
    vg_pb_free(&b->base);

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    pkg.name = name;
    pkg.version = "1";
    inv.n_packages = 1;
    inv.packages = &pp;
    ev.kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_INVENTORY;
    ev.package_inventory = &inv;
    b = decode(&ev);
    assert_int_equal(limits_check(&b->base, &r), VG_ETOOBIG);
    assert_string_equal(r.field, "Package.name");
    assert_int_equal(r.size, 4999);
    assert_int_equal(r.max, 4096);
    vg_pb_free(&b->base);
}

/* A flagged string is cut between characters, never inside one. */
static void test_utf8(void **state)
{
    static const struct vg_pb_limit tab[] = { { "ProcessExec.comm", 4, 0, 0, "forked" } };
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__ProcessExec x = VIGIL__V1__PROCESS_EXEC__INIT;
    struct vg_pb_limit_report r;
    Vigil__V1__Batch *b;
    (void)state;

    x.comm = "ab\xc3\xa9\xc3\xa9"; /* "abéé": é is 2 bytes; 4 would end inside the 2nd */
    ev.kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC;
    ev.process_exec = &x;
    b = decode(&ev);
    assert_int_equal(vg_pb_limit(&b->base, tab, 1, &r), 0);
    assert_string_equal(b->events[0]->process_exec->comm, "ab\xc3\xa9");
    assert_true(b->events[0]->process_exec->forked);
    vg_pb_free(&b->base);
}

/* README.md's table has a row for each entry, as limits_row() makes it. */
static void test_readme(void **state)
{
    char *text = NULL, row[256];
    size_t len;
    (void)state;

    assert_int_equal(vg_file_read("README.md", 1u << 20, &text, &len), 0);
    for (size_t i = 0; i < collector_nlimits; i++) {
        limits_row(&collector_limits[i], row, sizeof(row));
        if (!strstr(text, row))
            fail_msg("README.md has no row\n%s", row);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_cut),
        cmocka_unit_test(test_honest),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_readme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
