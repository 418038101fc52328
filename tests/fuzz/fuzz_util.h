/*
 * Helpers shared by the fuzz targets that need files: a scratch
 * directory (on tmpfs when there is one: fsync and rename there cost
 * nothing), emptied before each input, and splitting one input into the
 * parts of a fixture tree.
 *
 * Multi-part inputs of text parsers are the parts joined by a line
 * holding only "%%" (FUZZ_SEP), so that seeds stay readable files.
 */
#ifndef VG_FUZZ_UTIL_H
#define VG_FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_SEP "\n%%\n"

struct fuzz_part {
    const uint8_t *p;
    size_t n;
};

/* Splits data at FUZZ_SEP into at most max parts (the last one keeps
 * any further separators).  Returns the count (>= 1). */
static inline size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts,
                                size_t max)
{
    size_t k = 0, sl = strlen(FUZZ_SEP);
    const uint8_t *p = data, *end = data + size;

    while (k + 1 < max) {
        const uint8_t *s = memmem(p, (size_t)(end - p), FUZZ_SEP, sl);
        if (!s)
            break;
        parts[k].p = p;
        parts[k].n = (size_t)(s - p);
        k++;
        p = s + sl;
    }
    parts[k].p = p;
    parts[k].n = (size_t)(end - p);
    return k + 1;
}

/* A NUL-terminated copy (parsers that take C strings or edit in place). */
static inline char *fuzz_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static inline int fuzz_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    if (f->level > 0)
        (void)remove(p);
    return 0;
}

static char fuzz_dir[PATH_MAX];

static inline void fuzz_scratch_remove(void)
{
    (void)nftw(fuzz_dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    (void)rmdir(fuzz_dir);
}

/* The scratch directory, created once per process (removed at exit) and
 * emptied on each call. */
static inline const char *fuzz_scratch(void)
{
    char *dir = fuzz_dir;

    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(dir, sizeof(fuzz_dir), "%s/vigil-fuzz-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir))
            abort();
        atexit(fuzz_scratch_remove);
    }
    (void)nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return dir;
}

/* Creates DIR/REL's parent directories, then writes the file. */
static inline void fuzz_put(const char *dir, const char *rel, const void *data, size_t n)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            abort();
        *s = '/';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n))
        abort();
    close(fd);
}

#endif
