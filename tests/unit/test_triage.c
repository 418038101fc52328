/* Triage packages (agent/priv/cmd_triage.c), read back with libarchive: every
 * entry is in the manifest with its SHA-256; this very process is in
 * processes.json; a bound skips what does not fit (listed); a FIFO and a
 * symlink among the files to copy are skipped, not followed or waited on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../agent/priv/triage.h"
#include "crypto.h"
#include "util.h"

static char dir[256];

static int setup(void **state)
{
    char p[400];
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vg-test-triage-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(p, sizeof(p), "%s/x-fifo", dir);
    if (mkfifo(p, 0600) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/x-link", dir);
    if (symlink("/etc/hostname", p) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/x-file", dir);
    return vg_file_write_atomic(p, "hello\n", 6, 0600, 0);
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads the package: entry name -> SHA-256 hex; the manifest parsed. */
struct entry { char name[512]; char sha[VG_SHA256_HEX]; char *data; size_t len; };

static size_t read_pkg(const char *path, struct entry *v, size_t max, json_t **manifest)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    size_t n = 0;
    archive_read_support_filter_lz4(a);
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    *manifest = NULL;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK && n < max) {
        size_t len = (size_t)archive_entry_size(e);
        char *buf = malloc(len + 1);
        uint8_t h[VG_SHA256_LEN];
        assert_non_null(buf);
        assert_int_equal(archive_read_data(a, buf, len), (la_ssize_t)len);
        buf[len] = '\0';
        snprintf(v[n].name, sizeof(v[n].name), "%s", archive_entry_pathname(e));
        vg_sha256(buf, len, h);
        vg_hex(h, sizeof(h), v[n].sha);
        if (strcmp(v[n].name, "triage/manifest.json") == 0)
            *manifest = json_loads(buf, 0, NULL);
        v[n].data = buf;
        v[n].len = len;
        n++;
    }
    archive_read_free(a);
    assert_non_null(*manifest);
    return n;
}

static void opts(struct triage_opts *o, struct vg_strlist *extra)
{
    memset(o, 0, sizeof(*o));
    o->max_seconds = 120;
    o->hash_max = 1024 * 1024;
    o->agent_id = "agent-t";
    o->command_id = "cmd";
    o->operator_name = "responder t";
    o->reason = "unit test";
    o->extra = extra;
}

static void test_package(void **state)
{
    struct triage_opts o;
    struct triage_result r;
    struct vg_strlist extra;
    struct entry *v = calloc(4096, sizeof(*v));
    char pkg[400], globp[400], err[256], pid[32], *globs[1] = { globp };
    json_t *m, *it;
    size_t n, i;
    int found_self = 0;

    (void)state;
    snprintf(pkg, sizeof(pkg), "%s/p.tar.lz4", dir);
    snprintf(globp, sizeof(globp), "%s/x-*", dir);
    extra.v = globs;
    extra.n = 1;
    opts(&o, &extra);
    o.max_bytes = 64 * 1024 * 1024;
    assert_int_equal(triage_build(&o, pkg, &r, err, sizeof(err)), 0);
    n = read_pkg(pkg, v, 4096, &m);
    assert_int_equal(json_array_size(json_object_get(m, "items")) + 1, n);
    assert_int_equal(r.items + 1, n);
    /* Every entry but the manifest is listed, with its hash. */
    for (i = 0; i < n; i++) {
        int listed = 0;
        size_t k;
        if (strcmp(v[i].name, "triage/manifest.json") == 0)
            continue;
        json_array_foreach(json_object_get(m, "items"), k, it) {
            if (strcmp(json_string_value(json_object_get(it, "path")), v[i].name) == 0) {
                assert_string_equal(json_string_value(json_object_get(it, "sha256")), v[i].sha);
                assert_int_equal(json_integer_value(json_object_get(it, "size")), v[i].len);
                listed = 1;
            }
        }
        if (!listed)
            fail_msg("%s is not in the manifest", v[i].name);
        if (strcmp(v[i].name, "triage/processes.json") == 0) {
            snprintf(pid, sizeof(pid), "\"pid\": %d,", (int)getpid());
            found_self = strstr(v[i].data, pid) != NULL;
        }
    }
    assert_true(found_self);
    /* The regular file is copied; the FIFO and the symlink are skipped. */
    {
        char want[500], *dump = json_dumps(json_object_get(m, "skipped"), 0);
        int copied = 0;
        snprintf(want, sizeof(want), "triage/files%s/x-file", dir);
        for (i = 0; i < n; i++)
            copied |= strcmp(v[i].name, want) == 0 && v[i].len == 6;
        if (!copied)
            fail_msg("%s not copied; skipped: %s", want, dump);
        assert_non_null(strstr(dump, "x-fifo"));
        assert_non_null(strstr(dump, "not a regular file"));
        assert_non_null(strstr(dump, "x-link"));
        assert_non_null(strstr(dump, "symlink"));
        free(dump);
    }
    json_decref(m);
    for (i = 0; i < n; i++)
        free(v[i].data);

    /* A bound of 2 KiB: little fits, everything else is listed skipped,
     * and the manifest is there whatever the bound. */
    o.max_bytes = 2048;
    assert_int_equal(triage_build(&o, pkg, &r, err, sizeof(err)), 0);
    n = read_pkg(pkg, v, 4096, &m);
    assert_true(r.skipped >= 3);
    assert_true(json_integer_value(json_object_get(m, "content_bytes")) <= 2048);
    assert_int_equal(json_array_size(json_object_get(m, "skipped")), r.skipped);
    json_decref(m);
    for (i = 0; i < n; i++)
        free(v[i].data);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_package),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
