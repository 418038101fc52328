#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"
#include "util.h"

static const char *log_prog = "vigil";
static const char *log_part;
static int log_syslog;
static int log_stamp = 1;
/* Set on SIGHUP by the loop while other threads log: atomic. */
static _Atomic int log_level = VG_LOG_INFO;

void vg_log_init(const char *prog, int use_syslog, enum vg_log_level level)
{
    log_prog = prog;
    log_level = level;
    log_syslog = use_syslog;
    /* Under systemd, stderr is usually the journal, which stamps lines. */
    log_stamp = getenv("JOURNAL_STREAM") == NULL;
    if (use_syslog)
        openlog(prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void vg_log_set_part(const char *part) { log_part = part; }
void vg_log_set_level(enum vg_log_level level) { log_level = level; }
enum vg_log_level vg_log_get_level(void) { return (enum vg_log_level)log_level; }

int vg_log_level_parse(const char *s, enum vg_log_level *out)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum vg_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = VG_LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

void vg_logv(enum vg_log_level level, const char *errstr, const char *fmt, va_list ap)
{
    static const char *tag[] = { "error", "warning", "info", "debug" };
    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
    char raw[1024], msg[4 * sizeof(raw)]; /* an escape is at most 4 bytes per byte */
    int saved = errno;

    if ((int)level > log_level)
        return;
    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* Messages carry what peers sent (hostnames, tags, their errors): with
     * control characters escaped no peer can start a line of its own or
     * drive the terminal of whoever reads the log.  No message of ours
     * spans lines. */
    vg_str_escape(msg, sizeof(msg), raw);
    if (log_syslog) {
        syslog(prio[level], "%s%s%s%s%s%s", log_part ? "[" : "", log_part ? log_part : "",
               log_part ? "] " : "", msg, errstr ? ": " : "", errstr ? errstr : "");
    } else {
        char ts[VG_TIME_STR_MAX] = "";
        if (log_stamp)
            vg_time_format(vg_time_now_ms(), ts, sizeof(ts));
        /* One call, so one line: stdio locks the stream per call, and the
         * collector's store thread logs too. */
        fprintf(stderr, "%s%s%s%s%s%s: %s: %s%s%s\n", ts, ts[0] ? " " : "", log_prog,
                log_part ? "[" : "", log_part ? log_part : "", log_part ? "]" : "", tag[level],
                msg, errstr ? ": " : "", errstr ? errstr : "");
    }
    errno = saved;
}

#define LOG_FN(name, level, with_errno)                                          \
    void name(const char *fmt, ...)                                              \
    {                                                                            \
        va_list ap;                                                              \
        const char *e = (with_errno) ? strerror(errno) : NULL;                   \
        va_start(ap, fmt);                                                       \
        vg_logv(level, e, fmt, ap);                                              \
        va_end(ap);                                                              \
    }

LOG_FN(log_debug, VG_LOG_DEBUG, 0)
LOG_FN(log_info, VG_LOG_INFO, 0)
LOG_FN(log_warn, VG_LOG_WARN, 1)
LOG_FN(log_warnx, VG_LOG_WARN, 0)
LOG_FN(log_error, VG_LOG_ERROR, 0)

void fatal(const char *fmt, ...)
{
    va_list ap;
    const char *e = strerror(errno);
    va_start(ap, fmt);
    vg_logv(VG_LOG_ERROR, e, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vg_logv(VG_LOG_ERROR, NULL, fmt, ap);
    va_end(ap);
    exit(1);
}

int vg_ratelimit(struct vg_ratelimit *rl, uint64_t *suppressed_out)
{
    uint64_t now = vg_time_mono_ms();

    if (suppressed_out)
        *suppressed_out = 0;
    if (rl->window_start == 0 || now - rl->window_start >= rl->interval_ms) {
        rl->window_start = now ? now : 1;
        rl->printed = 0;
    }
    if (rl->printed >= rl->burst) {
        rl->suppressed++;
        return 0;
    }
    rl->printed++;
    if (suppressed_out)
        *suppressed_out = rl->suppressed;
    rl->suppressed = 0;
    return 1;
}
