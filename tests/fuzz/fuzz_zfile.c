/*
 * libFuzzer target: the compressed-file reader (agent/priv/zfile.c) that
 * apt's lists and dpkg's rotated logs go through: gzip, xz, lz4 frames
 * and plain files.
 *
 * Input: one byte, then the file's bytes.  The byte's bits 0-2 choose the
 * name's ending (plain, .gz, .xz, .lz4, .zst), bits 3-4 the output cap
 * (16 B, 4 KiB, 1 MiB, 64 MiB), bits 5-7 the size of the reads.
 * zfile_slurp and a stream of small reads must agree: the same bytes,
 * or the same error; never more than the cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "zfile.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ext[] = { "plain", "f.gz", "f.xz", "f.lz4", "f.zst" };
    static const uint64_t caps[] = { 16, 4096, 1u << 20, 64u << 20 };
    static const size_t chunks[] = { 1, 3, 64, 511, 4096, 65536, 100000, 7 };
    const char *root;
    char path[PATH_MAX], *all = NULL, *got = NULL;
    size_t alen = 0, glen = 0, gcap = 0, chunk;
    uint64_t cap;
    struct zfile *z;
    int rc, rc2 = 0;

    if (size < 1 || (data[0] & 7) >= sizeof(ext) / sizeof(ext[0]))
        return 0;
    cap = caps[(data[0] >> 3) & 3];
    chunk = chunks[data[0] >> 5];
    root = fuzz_scratch();
    fuzz_put(root, ext[data[0] & 7], data + 1, size - 1);
    snprintf(path, sizeof(path), "%s/%s", root, ext[data[0] & 7]);

    rc = zfile_slurp(path, cap, &all, &alen);
    if (rc == 0 && (alen > cap || all[alen] != '\0'))
        abort();
    if (rc != 0 && rc != VG_ECORRUPT && rc != VG_ETOOBIG && rc != -ENOTSUP && rc != -ENOMEM)
        abort();

    if ((rc2 = zfile_open(path, cap, &z)) == 0) {
        char *buf = malloc(chunk);
        if (!buf)
            abort();
        for (;;) {
            ssize_t n = zfile_read(z, buf, chunk);
            if (n <= 0) {
                rc2 = (int)n;
                break;
            }
            if ((size_t)n > chunk)
                abort();
            if (glen + (size_t)n > gcap) {
                gcap = (glen + (size_t)n) * 2;
                if (!(got = realloc(got, gcap)))
                    abort();
            }
            memcpy(got + glen, buf, (size_t)n);
            glen += (size_t)n;
            if (glen > cap)
                abort();
        }
        free(buf);
        zfile_close(z);
    }
    if (rc != rc2 || (rc == 0 && (glen != alen || (alen && memcmp(all, got, alen) != 0))))
        abort();
    free(all);
    free(got);
    return 0;
}
