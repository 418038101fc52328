/*
 * Shared by the unit tests that need files: one temporary directory per
 * test binary (set up and torn down as a cmocka group) and small file
 * helpers.  Included by test_*.c only; every helper is static inline so
 * a test that uses few of them builds warning-free.
 */
#ifndef VG_TEST_TMPDIR_H
#define VG_TEST_TMPDIR_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each test binary defines TMPDIR_TAG ("conf", "util", ...) first. */
static char tmpdir[PATH_MAX];

static inline int group_setup(void **state)
{
    const char *base = getenv("TMPDIR");
    (void)state;
    if (!base || !base[0])
        base = "/tmp";
    if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/vg-test-" TMPDIR_TAG "-XXXXXX", base) >=
        sizeof(tmpdir))
        return -1;
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Tests clean up after themselves; anything left (a test failed part-way,
 * or forgot) is removed here and fails the group. */
static inline int group_teardown(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[PATH_MAX];
    int left = 0;
    (void)state;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name) < sizeof(path))
            unlink(path);
        left++;
    }
    closedir(d);
    if (rmdir(tmpdir) < 0 || left) {
        fprintf(stderr, "%s: %d file(s) left behind\n", tmpdir, left);
        return -1;
    }
    return 0;
}

static inline void tpath(char *out, size_t outlen, const char *name)
{
    assert_true((size_t)snprintf(out, outlen, "%s/%s", tmpdir, name) < outlen);
}

static inline void write_raw(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static inline void write_str(const char *path, const char *text)
{
    write_raw(path, text, strlen(text));
}

#endif
