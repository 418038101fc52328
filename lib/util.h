/*
 * Small helpers shared by the three programs: time, number/size/duration
 * parsing, bounded file reads and atomic file writes, hex.
 *
 * Conventions: times are milliseconds since the Unix epoch, UTC, and are
 * printed as RFC 3339 ("2026-11-22T07:32:57Z", or with ".123" when the
 * milliseconds matter).
 */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VG_TIME_STR_MAX 32

/* Wall-clock and monotonic time in milliseconds. */
int64_t vg_time_now_ms(void);
uint64_t vg_time_mono_ms(void);
/* Monotonic time in microseconds. */
uint64_t vg_time_mono_us(void);

/* Writes RFC 3339 UTC ("...T...Z"; milliseconds shown only if non-zero)
 * into out (at least VG_TIME_STR_MAX bytes).  Returns out. */
char *vg_time_format(int64_t ms, char *out, size_t outlen);
/* Parses RFC 3339 ("2026-11-22T07:32:57Z", "+01:00" offsets, optional
 * fraction) or a bare date ("2026-11-22", midnight UTC).
 * Returns 0 or -EINVAL. */
int vg_time_parse(const char *s, int64_t *ms_out);
/* Parses an RFC 2822 date as apt's Release files carry it: "Sat, 11 Nov
 * 2023 09:42:11 UTC" (day name optional; zone UTC, GMT, Z or +HHMM /
 * -HHMM; seconds optional).  Returns 0 or -EINVAL. */
int vg_time_parse_rfc2822(const char *s, int64_t *ms_out);

/* Parses a decimal unsigned integer in [min, max], whole string.
 * Returns 0, -EINVAL (not a number) or -ERANGE. */
int vg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Parses a duration: a number with a unit ms, s, m, h, d, w ("90s", "24h",
 * "1h30m").  A bare number is seconds.  Result in milliseconds.
 * Returns 0, -EINVAL or -ERANGE. */
int vg_parse_duration(const char *s, uint64_t *ms_out);
/* Writes ms as vg_parse_duration() reads it, in the largest unit that
 * holds it whole ("90d", "36h", "90s", "250ms").  Returns out. */
const char *vg_fmt_duration(uint64_t ms, char *out, size_t len);
/* For people, not for parsing back: sizes in binary units with three
 * significant figures ("812 B", "1.50 KiB", "12.3 MiB", "250 GiB") and
 * elapsed times to about two figures ("250ms", "4.2s", "59s", "1m05s",
 * "2h03m", "3d04h").  Write into out (VG_FMT_MAX bytes will do) and
 * return it. */
#define VG_FMT_MAX 24
const char *vg_fmt_size(uint64_t bytes, char *out, size_t len);
const char *vg_fmt_elapsed(uint64_t ms, char *out, size_t len);
/* Parses a size: a number with optional unit B, K/KB/KiB, M/MB/MiB,
 * G/GB/GiB (all powers of 1024).  Returns 0, -EINVAL or -ERANGE. */
int vg_parse_size(const char *s, uint64_t *out);
/* Parses yes/no, true/false, on/off, 1/0.  Returns 0 or -EINVAL. */
int vg_parse_bool(const char *s, int *out);

/* Reads a whole file of at most max bytes into a new NUL-terminated
 * buffer (*out, owned by the caller, free()).  Returns 0, -errno, or
 * VG_ETOOBIG if the file is larger than max. */
int vg_file_read(const char *path, size_t max, char **out, size_t *len_out);
/* Writes data to path atomically (temporary file in the same directory,
 * fsync, rename, fsync of the directory) with the given mode, applied
 * before any byte is written.  If excl, fails with -EEXIST when path
 * exists.  Returns 0 or -errno. */
/* vg_file_read on an open descriptor (not closed).  Same returns. */
int vg_fd_read(int fd, size_t max, char **out, size_t *len_out);
/* Writes all n bytes to fd (retrying short writes and EINTR).  Returns 0
 * or -errno. */
int vg_fd_write(int fd, const void *p, size_t n);
/* Opens path for reading only if it is a regular file reached through no
 * symlink at all (openat2 RESOLVE_NO_SYMLINKS; where the kernel lacks it,
 * O_NOFOLLOW: the last component only), without blocking on a FIFO or a
 * device.  For files a local user controls.  Returns a descriptor, or
 * -ELOOP (a symlink on the way), -EINVAL (not a regular file), -errno. */
int vg_open_regular(const char *path);
int vg_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int excl);
/* Flushes the directory holding path ("." for a bare name), so that a
 * rename or unlink in it survives a power loss.  Returns 0 or -errno. */
int vg_fsync_parent(const char *path);

/* Lower-case hex of len bytes into out (2*len+1 bytes).  Returns out. */
char *vg_hex(const void *data, size_t len, char *out);
/* Lower-case hex s into out (at most max bytes); *len the bytes written.
 * Returns 0, or -1 for an odd length, a non-hex digit or too long. */
int vg_unhex(const char *s, uint8_t *out, size_t max, size_t *len);

/* A copy of s (malloc'd; NULL on allocation failure) in which every byte
 * that is not part of a valid UTF-8 sequence is replaced by '?': file
 * contents are not always UTF-8, JSON and protobuf strings must be. */
char *vg_utf8_clean(const char *s);
/* The n bytes at s with every byte that is not part of valid UTF-8 (a NUL
 * too) replaced by U+FFFD: a new NUL-terminated string of *outn bytes.
 * Returns NULL with *outn 0 when s is valid as it is (nothing to copy),
 * and NULL with *outn SIZE_MAX when out of memory. */
char *vg_utf8_replace(const char *s, size_t n, size_t *outn);

/*
 * Escapes s (text a peer sent: a hostname, a tag, a package name) so it can
 * go to a terminal or into a log line as it is: C0 controls (ESC, CR, LF
 * and tab included), DEL, C1 controls (U+0080..U+009F, as their two UTF-8
 * bytes) and every byte that is not part of valid UTF-8 are written "\xNN"
 * (lower-case hex), a backslash "\\"; valid printable UTF-8 is copied
 * unchanged.  out is always NUL-terminated (outlen 0: only measures; out
 * may be NULL) and is cut only between whole characters and escapes.
 * Returns the length of the whole escaped text, as snprintf: the output
 * was cut if it is >= outlen.
 */
size_t vg_str_escape(char *out, size_t outlen, const char *s);

/* Overwrites len bytes with zeros in a way the compiler keeps. */
void vg_zeroize(void *p, size_t len);

/* Copies src into dst (size dstlen), always NUL-terminating.
 * Returns strlen(src); truncation happened if >= dstlen (as strlcpy). */
size_t vg_strlcpy(char *dst, const char *src, size_t dstlen);
/* Appends a printf-formatted item to the NUL-terminated list in out
 * ("; " between items), truncating; an item that cannot start is
 * dropped.  For summaries such as a reload's. */
void vg_list_appendf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 if s ends with suffix. */
int vg_str_ends_with(const char *s, const char *suffix);

/* "HOST:PORT" (a name, IPv4, or [IPv6]) into host (brackets removed) and
 * port (1..65535, as digits).  Returns 0, or -EINVAL (no port, a bad one,
 * an empty HOST, or one longer than hl - 1). */
int vg_split_hostport(const char *a, char *host, size_t hl, char *port, size_t pl);

#endif
