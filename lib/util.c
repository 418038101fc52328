#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

int64_t vg_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t vg_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t vg_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

char *vg_time_format(int64_t ms, char *out, size_t outlen)
{
    /* Floor division so that times before 1970 format correctly. */
    int64_t secs = ms / 1000, frac = ms % 1000;
    struct tm tm;
    time_t t;

    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    t = (time_t)secs;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, outlen, "invalid-time");
        return out;
    }
    if (frac)
        snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    else
        snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return out;
}

/* Reads exactly n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -EINVAL;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : d[m - 1];
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int vg_time_parse(const char *s, int64_t *ms_out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    int64_t off_min = 0;
    const char *p = s;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -EINVAL;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -EINVAL;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
            digits(&p, 2, &sec))
            return -EINVAL;
        if (h > 23 || mi > 59 || sec > 60)
            return -EINVAL;
        if (*p == '.') {
            int n = 0, scale = 100;
            p++;
            while (isdigit((unsigned char)*p)) {
                if (n++ < 3) {
                    ms += (*p - '0') * scale;
                    scale /= 10;
                }
                p++;
            }
            if (n == 0)
                return -EINVAL;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return -EINVAL;
            off_min = sign * (oh * 60 + om);
        } else {
            return -EINVAL; /* RFC 3339 requires an offset */
        }
        if (*p)
            return -EINVAL;
    }
    if (sec == 60)
        sec = 59; /* leap second: clamp rather than reject */
    *ms_out = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_min * 60) *
               1000) + ms;
    return 0;
}

int vg_time_parse_rfc2822(const char *s, int64_t *ms_out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = s, *m;
    int d, mo, y, h, mi, sec = 0, off_min = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (isalpha((unsigned char)*p)) { /* day name */
        while (isalpha((unsigned char)*p))
            p++;
        if (*p++ != ',')
            return -EINVAL;
        while (*p == ' ')
            p++;
    }
    if (digits(&p, 2, &d) && digits(&p, 1, &d))
        return -EINVAL;
    if (*p++ != ' ' || strlen(p) < 4)
        return -EINVAL;
    for (m = months; *m; m += 3)
        if (strncasecmp(p, m, 3) == 0)
            break;
    if (!*m || p[3] != ' ')
        return -EINVAL;
    mo = (int)((m - months) / 3) + 1;
    p += 4;
    if (digits(&p, 4, &y) || *p++ != ' ' || digits(&p, 2, &h) || *p++ != ':' ||
        digits(&p, 2, &mi))
        return -EINVAL;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &sec))
            return -EINVAL;
    }
    if (d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    while (*p == ' ')
        p++;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        off_min = sign * (oh * 60 + om);
    } else if (strncmp(p, "UTC", 3) == 0 || strncmp(p, "GMT", 3) == 0) {
        p += 3;
    } else if (*p == 'Z') {
        p++;
    } else {
        return -EINVAL;
    }
    while (*p == ' ' || *p == '\r' || *p == '\t')
        p++;
    if (*p)
        return -EINVAL;
    if (sec == 60)
        sec = 59;
    *ms_out = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_min * 60) * 1000;
    return 0;
}

int vg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end)
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

const char *vg_fmt_duration(uint64_t ms, char *out, size_t len)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = { { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" } };

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms && ms % units[i].ms == 0) {
            snprintf(out, len, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return out;
        }
    snprintf(out, len, "%llums", (unsigned long long)ms);
    return out;
}

const char *vg_fmt_size(uint64_t bytes, char *out, size_t len)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(out, len, "%llu B", (unsigned long long)bytes);
        return out;
    }
    v /= 1024;
    /* 1023.99 KiB would print as "1024 KiB": move up a unit first. */
    while (v >= 999.5 && u + 1 < VG_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return out;
}

const char *vg_fmt_elapsed(uint64_t ms, char *out, size_t len)
{
    uint64_t s = ms / 1000;

    if (ms < 1000)
        snprintf(out, len, "%llums", (unsigned long long)ms);
    else if (ms < 10000)
        snprintf(out, len, "%llu.%llus", (unsigned long long)s,
                 (unsigned long long)(ms % 1000 / 100));
    else if (s < 60)
        snprintf(out, len, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(out, len, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(out, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(out, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
    return out;
}

int vg_parse_duration(const char *s, uint64_t *ms_out)
{
    static const struct { const char *u; uint64_t ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
        { "d", 86400000 }, { "w", 604800000 },
    };
    uint64_t total = 0;
    const char *p = s;
    int first = 1;

    if (!s || !*s)
        return -EINVAL;
    while (*p) {
        uint64_t n = 0, mult = 0;
        size_t ulen = 0;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        while (isdigit((unsigned char)*p)) {
            uint64_t d = (uint64_t)(*p++ - '0');
            if (n > (UINT64_MAX - d) / 10)
                return -ERANGE;
            n = n * 10 + d;
        }
        if (!*p && first) {
            mult = 1000; /* bare number: seconds */
        } else {
            for (size_t i = 0; i < VG_ARRAY_SIZE(units); i++) {
                size_t l = strlen(units[i].u);
                if (strncmp(p, units[i].u, l) == 0 && !isalpha((unsigned char)p[l])) {
                    mult = units[i].ms;
                    ulen = l;
                    break;
                }
            }
            if (!mult)
                return -EINVAL;
        }
        if (n && mult > UINT64_MAX / n)
            return -ERANGE;
        if (total > UINT64_MAX - n * mult)
            return -ERANGE;
        total += n * mult;
        p += ulen;
        first = 0;
    }
    *ms_out = total;
    return 0;
}

int vg_parse_size(const char *s, uint64_t *out)
{
    static const struct { const char *u; uint64_t mult; } units[] = {
        { "", 1 }, { "B", 1 },
        { "K", 1ULL << 10 }, { "KB", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "k", 1ULL << 10 },
        { "M", 1ULL << 20 }, { "MB", 1ULL << 20 }, { "MiB", 1ULL << 20 },
        { "G", 1ULL << 30 }, { "GB", 1ULL << 30 }, { "GiB", 1ULL << 30 },
        { "T", 1ULL << 40 }, { "TB", 1ULL << 40 }, { "TiB", 1ULL << 40 },
    };
    uint64_t n = 0;
    const char *p = s;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    while (isdigit((unsigned char)*p)) {
        uint64_t d = (uint64_t)(*p++ - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -ERANGE;
        n = n * 10 + d;
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(units); i++) {
        if (strcmp(p, units[i].u) == 0) {
            if (n && units[i].mult > UINT64_MAX / n)
                return -ERANGE;
            *out = n * units[i].mult;
            return 0;
        }
    }
    return -EINVAL;
}

int vg_parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "yes", "true", "on", "1" };
    static const char *no[] = { "no", "false", "off", "0" };
    for (size_t i = 0; i < VG_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

int vg_file_read(const char *path, size_t max, char **out, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    if (fd < 0)
        return -errno;
    rc = vg_fd_read(fd, max, out, len_out);
    close(fd);
    return rc;
}

int vg_open_regular(const char *path)
{
    struct stat st;
    int fd = -1;
#ifdef SYS_openat2
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    if (fd < 0 && errno != ENOSYS)
        return -errno;
#endif
    if (fd < 0)
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int rc = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(fd);
        return rc;
    }
    return fd;
}

int vg_fd_read(int fd, size_t max, char **out, size_t *len_out)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap;
    int rc = 0;

    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2; /* keeps max + 1 and the doubling below from wrapping */
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
        return VG_ETOOBIG;
    /* st_size may be 0 or stale (procfs, growing files): read to EOF, bounded. */
    cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap > max + 1)
        cap = max + 1;
    buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb;
            if (cap > max) {
                rc = VG_ETOOBIG;
                goto out;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            nb = realloc(buf, cap + 1);
            if (!nb) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        rc = VG_ETOOBIG;
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    if (len_out)
        *len_out = len;
out:
    free(buf);
    return rc;
}

int vg_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int excl)
{
    char tmp[PATH_MAX];
    const unsigned char *p = data;
    int fd = -1, rc = 0;

    if (excl && access(path, F_OK) == 0)
        return -EEXIST;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return -ENAMETOOLONG;
    /* O_EXCL with the final mode: the content is never readable by others,
     * not even for a moment. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, mode) < 0) { /* umask may have cut bits we asked for */
        rc = -errno;
        goto fail;
    }
    if ((rc = vg_fd_write(fd, p, len)) != 0)
        goto fail;
    if (fsync(fd) < 0) {
        rc = -errno;
        goto fail;
    }
    rc = close(fd);
    fd = -1;
    if (rc < 0) {
        rc = -errno;
        goto fail;
    }
    if (excl) {
        /* link() fails if path appeared meanwhile; rename() would replace it. */
        if (link(tmp, path) < 0) {
            rc = -errno;
            goto fail;
        }
        unlink(tmp);
    } else if (rename(tmp, path) < 0) {
        rc = -errno;
        goto fail;
    }
    (void)vg_fsync_parent(path);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int vg_fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    int dfd, rc = 0;

    if (slash) {
        size_t dl = slash == path ? 1 : (size_t)(slash - path);
        if (dl >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, path, dl);
        dir[dl] = '\0';
    } else {
        vg_strlcpy(dir, ".", sizeof(dir));
    }
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (fsync(dfd) < 0)
        rc = -errno;
    close(dfd);
    return rc;
}

char *vg_hex(const void *data, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

void vg_zeroize(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}

int vg_split_hostport(const char *a, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon = strrchr(a, ':');
    size_t n;
    uint64_t p;

    if (!colon || vg_parse_u64(colon + 1, 1, 65535, &p))
        return -EINVAL;
    n = (size_t)(colon - a);
    if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
        a++;
        n -= 2;
    }
    if (n == 0 || n >= hl)
        return -EINVAL;
    memcpy(host, a, n);
    host[n] = '\0';
    snprintf(port, pl, "%llu", (unsigned long long)p);
    return 0;
}

void vg_list_appendf(char *out, size_t len, const char *fmt, ...)
{
    size_t n = strlen(out);
    va_list ap;
    if (n + 3 >= len)
        return;
    if (n)
        n += (size_t)snprintf(out + n, len - n, "; ");
    va_start(ap, fmt);
    vsnprintf(out + n, len - n, fmt, ap);
    va_end(ap);
}

size_t vg_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xe0 && p[0] <= 0xef) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f))
            return 0; /* overlong, surrogates */
        return 3;
    }
    if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

char *vg_utf8_clean(const char *s)
{
    size_t n = strlen(s), i = 0, o = 0;
    char *out = malloc(n + 1);

    if (!out)
        return NULL;
    while (i < n) {
        size_t l = utf8_seq((const unsigned char *)s + i);
        if (l == 0 || i + l > n) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
    return out;
}

/* utf8_seq() on the bytes at p, of which n are left (no read past them). */
static size_t utf8_seq_n(const unsigned char *p, size_t n)
{
    unsigned char b[4] = {0};
    memcpy(b, p, n < 4 ? n : 4);
    return b[0] ? utf8_seq(b) : 0;
}

char *vg_utf8_replace(const char *s, size_t n, size_t *outn)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, bad = 0;
    char *out;

    *outn = 0;
    while (i < n) {
        size_t l = utf8_seq_n(p + i, n - i);
        if (l == 0 || l > n - i) {
            bad++;
            i++;
        } else {
            i += l;
        }
    }
    if (!bad)
        return NULL;
    if (!(out = malloc(n + 2 * bad + 1))) {
        *outn = SIZE_MAX;
        return NULL;
    }
    for (i = 0; i < n;) {
        size_t l = utf8_seq_n(p + i, n - i);
        if (l == 0 || l > n - i) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        }
    }
    out[o] = '\0';
    *outn = o;
    return out;
}

size_t vg_str_escape(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, need = 0;
    int full = 0;

    while (*p) {
        char u[8];
        size_t l = utf8_seq(p), k = 0;

        if (l == 0 || p[0] < 0x20 || p[0] == 0x7f || (p[0] == 0xc2 && p[1] <= 0x9f)) {
            /* An invalid byte, or a C1 control's first byte (its second
             * is not valid UTF-8 on its own, so is escaped next). */
            l = 1;
            u[k++] = '\\';
            u[k++] = 'x';
            u[k++] = hex[p[0] >> 4];
            u[k++] = hex[p[0] & 0xf];
        } else if (p[0] == '\\') {
            u[k++] = '\\';
            u[k++] = '\\';
        } else {
            memcpy(u, p, l);
            k = l;
        }
        p += l;
        need += k;
        if (!full && o + k < outlen) {
            memcpy(out + o, u, k);
            o += k;
        } else {
            full = 1; /* nothing after a cut, so no later, shorter unit slips in */
        }
    }
    if (outlen)
        out[o] = '\0';
    return need;
}

int vg_str_ends_with(const char *s, const char *suffix)
{
    size_t l = strlen(s), m = strlen(suffix);
    return l >= m && strcmp(s + l - m, suffix) == 0;
}

int vg_unhex(const char *s, uint8_t *out, size_t max, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + (size_t)j];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

int vg_fd_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}
