/*
 * Reading files that may be compressed, chosen by the name's ending:
 * ".gz" (zlib), ".xz" (liblzma), ".lz4" (lz4 frame format), anything
 * else plain.  apt keeps its package lists in whichever of these it
 * downloaded (or recompressed to, with Acquire::GzipIndexes), and
 * logrotate gzips dpkg's logs.
 *
 * Every reader has a hard cap on the bytes it will produce, so a
 * decompression bomb ends in VG_ETOOBIG rather than in memory or time.
 */
#ifndef VG_ZFILE_H
#define VG_ZFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct zfile;

/* Opens path.  Returns 0, -errno, or -ENOTSUP for a compression it
 * cannot read (".zst", ".bz2", ".lzma"). */
int zfile_open(const char *path, uint64_t max_out, struct zfile **out);
/* Reads up to len bytes.  Returns the count, 0 at the end, or a
 * negative error: -errno, VG_ECORRUPT (bad compressed data, or a file
 * cut short), VG_ETOOBIG (more than max_out bytes), -ENOMEM. */
ssize_t zfile_read(struct zfile *z, void *buf, size_t len);
void zfile_close(struct zfile *z);

/* The whole file, NUL-terminated (embedded NULs are kept; *len_out says
 * how much).  Same errors as above. */
int zfile_slurp(const char *path, uint64_t max_out, char **out, size_t *len_out);

#endif
