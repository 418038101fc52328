/*
 * Logging, after OpenBSD's log.c: log_warn() appends strerror(errno),
 * log_warnx() does not; fatal()/fatalx() log and exit(1).
 *
 * Lines go to stderr (with an RFC 3339 UTC timestamp unless stderr is the
 * systemd journal, which stamps them itself) or to syslog.  Each line
 * carries the program name and, if set, the program part: "vigil-agent[net]".
 * The message is escaped with vg_str_escape (control characters, bytes
 * that are not UTF-8 and backslashes shown as "\xNN" and "\\"), so one
 * call is always one line, whatever a peer put in its arguments.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum vg_log_level {
    VG_LOG_ERROR = 0,
    VG_LOG_WARN = 1,
    VG_LOG_INFO = 2,
    VG_LOG_DEBUG = 3
};

#define VG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* prog: program name (not copied; must outlive logging).  use_syslog: 0 for stderr. */
void vg_log_init(const char *prog, int use_syslog, enum vg_log_level level);
/* part: e.g. "net", "priv"; NULL for none.  Not copied. */
void vg_log_set_part(const char *part);
void vg_log_set_level(enum vg_log_level level);
enum vg_log_level vg_log_get_level(void);
/* Parses "error", "warn", "info", "debug".  Returns 0 or -EINVAL. */
int vg_log_level_parse(const char *s, enum vg_log_level *out);

void vg_logv(enum vg_log_level level, const char *errstr, const char *fmt, va_list ap);

void log_debug(const char *fmt, ...) VG_PRINTF(1, 2);
void log_info(const char *fmt, ...) VG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) VG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) VG_PRINTF(1, 2);
void log_error(const char *fmt, ...) VG_PRINTF(1, 2);
void fatal(const char *fmt, ...) VG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) VG_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Rate limit for logs about bad input from the network or disk: at most
 * `burst` lines per `interval_ms`; the first line allowed after a quiet
 * spell reports how many were suppressed.  Zero-initialise, then set
 * interval_ms and burst (or use VG_RATELIMIT_INIT).
 */
struct vg_ratelimit {
    uint64_t interval_ms;
    unsigned burst;
    uint64_t window_start;
    unsigned printed;
    uint64_t suppressed;
};
#define VG_RATELIMIT_INIT(ms, n) { (ms), (n), 0, 0, 0 }

/* Returns 1 if a line may be logged now, 0 if it must be dropped (and is
 * counted).  *suppressed_out gets the count suppressed before this one. */
int vg_ratelimit(struct vg_ratelimit *rl, uint64_t *suppressed_out);

#endif
