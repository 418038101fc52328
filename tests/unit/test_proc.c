/*
 * Reading /proc (agent/priv/proc_read.c) from a fake /proc under a temporary
 * root: a comm holding ") (" and spaces, a zombie, a process that is
 * gone, kernel threads, a cmdline at the bound, Uid/Gid lines, damaged
 * stat files, and container ids in cgroup paths.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#define TMPDIR_TAG "proc"
#include "tmpdir.h"

#define VG_TEST_PRINTF __attribute__((format(printf, 3, 4)))

#include "../../agent/priv/proc.h"
#include "../../agent/priv/proc_hash.h"
#include "crypto.h"
#include "util.h"

static char root[PATH_MAX];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rooted(char *out, size_t n, const char *fmt, ...) VG_TEST_PRINTF;
static void rooted(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    size_t l = (size_t)snprintf(out, n, "%s", root);
    assert_true(l < n);
    va_start(ap, fmt);
    assert_true((size_t)vsnprintf(out + l, n - l, fmt, ap) < n - l);
    va_end(ap);
}

/* root/proc/PID/NAME = data (len bytes; -1: strlen). */
static void put(unsigned pid, const char *name, const char *data, long len)
{
    char p[PATH_MAX];
    rooted(p, sizeof(p), "/proc");
    mkdir(p, 0755);
    rooted(p, sizeof(p), "/proc/%u", pid);
    mkdir(p, 0755);
    rooted(p, sizeof(p), "/proc/%u/%s", pid, name);
    write_raw(p, data, len < 0 ? strlen(data) : (size_t)len);
}

/* A stat line: pid (comm) state ppid, then fields up to starttime (22). */
static void put_stat(unsigned pid, const char *comm, char state, unsigned ppid,
                     unsigned long long start_ticks)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "%u (%s) %c %u 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %llu 1000 100\n", pid,
             comm, state, ppid, start_ticks);
    put(pid, "stat", buf, -1);
}

static void setup_root(void)
{
    tpath(root, sizeof(root), "root");
    assert_int_equal(mkdir(root, 0755), 0);
}

static void test_read_fields(void **state)
{
    struct proc_info p;
    char big[PROC_ARGV_MAX + 100];
    (void)state;
    setup_root();
    /* A comm that tries to confuse the parser: ") (" and spaces. */
    put_stat(100, "a) (b c", 'S', 42, 12345);
    put(100, "status", "Name:\tx\nUid:\t1000\t1001\t1001\t1001\nGid:\t50\t51\t51\t51\n", -1);
    put(100, "loginuid", "1000", -1);
    put(100, "sessionid", "7", -1);
    put(100, "cmdline", "prog\0-x\0arg two\0", 17);
    assert_int_equal(proc_read(root, 100, &p), 0);
    assert_string_equal(p.comm, "a) (b c");
    assert_int_equal(p.ppid, 42);
    assert_int_equal(p.uid, 1000);
    assert_int_equal(p.euid, 1001);
    assert_int_equal(p.gid, 50);
    assert_int_equal(p.egid, 51);
    assert_int_equal(p.login_uid, 1000);
    assert_int_equal(p.session_id, 7);
    assert_true(p.start_boot_ns > 0);
    assert_int_equal(p.argv_len, 16); /* the final NUL is not part of argv */
    assert_memory_equal(p.argv, "prog\0-x\0arg two", 16);
    assert_false(p.argv_truncated);
    /* No exe link in a fake /proc: unknown, and said so. */
    assert_true(p.unknown & PROC_UNKNOWN_EXE);
    assert_false(p.unknown & (PROC_UNKNOWN_ARGV | PROC_UNKNOWN_CREDS | PROC_UNKNOWN_LOGIN));
    proc_info_free(&p);

    /* A cmdline longer than the bound is cut and flagged. */
    memset(big, 'a', sizeof(big));
    put_stat(101, "long", 'R', 1, 1);
    put(101, "cmdline", big, sizeof(big));
    assert_int_equal(proc_read(root, 101, &p), 0);
    assert_true(p.argv_truncated);
    assert_int_equal(p.argv_len, PROC_ARGV_MAX);
    /* No status, loginuid: marked unknown, not zero-and-silent. */
    assert_true(p.unknown & PROC_UNKNOWN_CREDS);
    assert_true(p.unknown & PROC_UNKNOWN_LOGIN);
    proc_info_free(&p);

    /* A zombie: its argv and exe are gone for good. */
    put_stat(102, "z", 'Z', 1, 1);
    put(102, "cmdline", "", 0);
    assert_int_equal(proc_read(root, 102, &p), 0);
    assert_true(p.unknown & PROC_UNKNOWN_ARGV);
    proc_info_free(&p);

    /* A kernel thread (parent 2) has no argv, and that is known. */
    put_stat(103, "kworker/0:1", 'I', 2, 1);
    put(103, "cmdline", "", 0);
    assert_int_equal(proc_read(root, 103, &p), 0);
    assert_false(p.unknown & (PROC_UNKNOWN_ARGV | PROC_UNKNOWN_EXE));
    proc_info_free(&p);

    /* Gone, or a stat file that is not one. */
    assert_int_equal(proc_read(root, 999, &p), -ENOENT);
    put(104, "stat", "104 (no closing paren S 1 1", -1);
    assert_int_not_equal(proc_read(root, 104, &p), 0);
    put(105, "stat", "105 (short) S 1 1 0\n", -1);
    assert_int_not_equal(proc_read(root, 105, &p), 0);
    put(106, "stat", "", 0);
    assert_int_not_equal(proc_read(root, 106, &p), 0);
}

static void test_snapshot(void **state)
{
    struct proc_info *v;
    size_t n;
    (void)state;
    /* The fake root from the test before: every readable pid, none of
     * the broken ones, and no entries that are not pids. */
    put(0, "stat", "0 (x) S 0 0", -1); /* pid 0 is never a process */
    {
        char p[PATH_MAX];
        rooted(p, sizeof(p), "/proc/self");
        mkdir(p, 0755);
    }
    assert_int_equal(proc_snapshot(root, &v, &n), 0);
    assert_int_equal(n, 4); /* 100-103; 104-106 are broken, 0 and "self" are not pids */
    proc_snapshot_free(v, n);
}

static void test_container_id(void **state)
{
    char id[80];
    static const char hex[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char buf[512];
    (void)state;
    snprintf(buf, sizeof(buf), "0::/system.slice/docker-%s.scope\n", hex);
    put(200, "cgroup", buf, -1);
    proc_container_id(root, 200, id, sizeof(id));
    assert_string_equal(id, hex);
    snprintf(buf, sizeof(buf), "4:memory:/kubepods/burstable/pod1/%s\n", hex);
    put(201, "cgroup", buf, -1);
    proc_container_id(root, 201, id, sizeof(id));
    assert_string_equal(id, hex);
    /* 63 or 65 hex digits, or upper case: not a container id. */
    put(202, "cgroup", "0::/x/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", -1);
    proc_container_id(root, 202, id, sizeof(id));
    assert_string_equal(id, "");
    put(203, "cgroup", "0::/x/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n", -1);
    proc_container_id(root, 203, id, sizeof(id));
    assert_string_equal(id, "");
    snprintf(buf, sizeof(buf), "0::/x/%s0\n", hex);
    put(204, "cgroup", buf, -1);
    proc_container_id(root, 204, id, sizeof(id));
    assert_string_equal(id, "");
    /* The host's own processes, and a process that is gone. */
    put(205, "cgroup", "0::/\n", -1);
    proc_container_id(root, 205, id, sizeof(id));
    assert_string_equal(id, "");
    assert_int_equal(proc_container_id(root, 9999, id, sizeof(id)), -1);
    assert_string_equal(id, "");
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the executable hasher (proc_hash.c): real files, a real loop ---- */

struct hwait {
    uint64_t ticket;
    int done;
    char sha[65];
    const char *note;
};

static void hready(void *ctx, uint64_t ticket, const char *sha, const char *note)
{
    struct hwait *w = ctx;
    if (ticket != w->ticket)
        return;
    w->done = 1;
    snprintf(w->sha, sizeof(w->sha), "%s", sha ? sha : "");
    w->note = note;
}

/* The digest of path through the hasher: from its cache (*cached = 1) or
 * its worker. */
static void hash_via(struct proc_hasher *h, uv_loop_t *loop, struct hwait *w, const char *path,
                     char sha[65], int *cached)
{
    const char *note = NULL;
    int rc;
    w->done = 0;
    rc = proc_hasher_lookup(h, path, sha, &note, &w->ticket);
    assert_int_not_equal(rc, -1);
    *cached = rc == 1;
    if (rc == 1)
        return;
    for (int i = 0; i < 5000 && !w->done; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(w->done);
    assert_null(w->note);
    memcpy(sha, w->sha, 65);
}

static void want_sha(const char *path, const char *sha)
{
    uint8_t d[VG_SHA256_LEN];
    char hex[65];
    assert_int_equal(vg_sha256_file(path, 1 << 20, d), 0);
    vg_hex(d, sizeof(d), hex);
    assert_string_equal(sha, hex);
}

static void test_hasher_cache(void **state)
{
    uv_loop_t loop;
    struct hwait w = { 0 };
    struct proc_hasher *h;
    char path[PATH_MAX + 32], sha[65];
    int cached;
    (void)state;

    assert_int_equal(uv_loop_init(&loop), 0);
    h = proc_hasher_new(&loop, 1 << 20, hready, &w);
    assert_non_null(h);
    /* Many files: each hashed once, right; then, in the reverse order,
     * from the cache (two per set: the newest two are there even when
     * they share a set). */
    for (int i = 0; i < 40; i++) {
        char text[64];
        snprintf(path, sizeof(path), "%s/exe-%d", tmpdir, i);
        snprintf(text, sizeof(text), "program %d\n", i);
        write_raw(path, text, strlen(text));
        hash_via(h, &loop, &w, path, sha, &cached);
        assert_false(cached);
        want_sha(path, sha);
    }
    {
        int hits = 0;
        for (int i = 39; i >= 0; i--) {
            snprintf(path, sizeof(path), "%s/exe-%d", tmpdir, i);
            hash_via(h, &loop, &w, path, sha, &cached);
            /* The last two always (even in one set); most of the rest. */
            if (i >= 38)
                assert_true(cached);
            hits += cached;
            want_sha(path, sha);
        }
        assert_true(hits >= 30);
    }
    /* A changed file (size and mtime) is hashed again, not answered from
     * the cache with its old digest. */
    snprintf(path, sizeof(path), "%s/exe-7", tmpdir);
    write_raw(path, "a different program\n", 21);
    hash_via(h, &loop, &w, path, sha, &cached);
    assert_false(cached);
    want_sha(path, sha);
    hash_via(h, &loop, &w, path, sha, &cached);
    assert_true(cached);
    proc_hasher_close(h);
    for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT); i++)
        ;
    uv_loop_close(&loop);
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "%s/exe-%d", tmpdir, i);
        unlink(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_fields),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_container_id),
        cmocka_unit_test(test_hasher_cache),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
