/*
 * vigilctl's output helpers: errors, usage errors, JSON, host-supplied
 * text.  Below main.c, the sub-commands and client.c, which all use them.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

static int status_drawn; /* a status line is on stderr, the cursor at its end */

void ctl_status(const char *line)
{
    struct winsize ws;
    size_t cols = 80, n = strlen(line);

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        cols = ws.ws_col;
    /* One row, or \r would go back to the start of its last row only; cut
     * between characters (the text is escaped: ASCII, or whole UTF-8). */
    if (n > cols - 1) {
        n = cols - 1;
        while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
            n--;
    }
    fputc('\r', stderr);
    fwrite(line, 1, n, stderr);
    fputs("\033[K", stderr);
    fflush(stderr);
    status_drawn = 1;
}

void ctl_status_end(void)
{
    if (!status_drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    status_drawn = 0;
}

/* Errors name hosts, packages and the collector's own messages, which may
 * carry a host's text: escaped like all output. */
static void put_err(const char *fmt, va_list ap)
{
    char raw[2048], esc[4 * sizeof(raw)];

    ctl_status_end();
    vsnprintf(raw, sizeof(raw), fmt, ap);
    vg_str_escape(esc, sizeof(esc), raw);
    fputs("vigilctl: ", stderr);
    fputs(esc, stderr);
}

int ctl_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_err(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_FAIL;
}

int ctl_usage_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_err(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vigilctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CTL_EXIT_USAGE;
}

void ctl_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

char *ctl_text(char *buf, size_t len, const char *s)
{
    vg_str_escape(buf, len, s ? s : "");
    return buf;
}

void ctl_put_text(const char *s)
{
    char small[1024], *big = NULL, *p = small;
    size_t n = vg_str_escape(small, sizeof(small), s ? s : "");

    if (n >= sizeof(small) && (big = malloc(n + 1)) != NULL) {
        vg_str_escape(big, n + 1, s);
        p = big;
    }
    fputs(p, stdout);
    free(big);
}

/*
 * Terminal columns of escaped text (valid UTF-8, no controls): one per
 * character, two for East Asian wide ones, none for combining marks and
 * zero-width spaces.  Close enough to wcwidth() for table alignment
 * without depending on the locale.
 */
size_t ctl_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;

    while (*p) {
        uint32_t c;
        size_t l;
        if (*p < 0x80) {
            c = *p;
            l = 1;
        } else if (*p < 0xe0) {
            c = (uint32_t)(*p & 0x1f) << 6 | (p[1] & 0x3f);
            l = 2;
        } else if (*p < 0xf0) {
            c = (uint32_t)(*p & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
            l = 3;
        } else {
            c = (uint32_t)(*p & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
            l = 4;
        }
        for (size_t k = 1; k < l; k++)
            if (!p[k]) /* not escaped text; count what is there */
                l = k;
        p += l;
        if ((c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) || c == 0xfeff)
            continue;
        w += (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c != 0x303f) ||
                     (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
                     (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
                     (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
                     (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd)
                 ? 2
                 : 1;
    }
    return w;
}

void ctl_put_cell(const char *s, size_t width, int last)
{
    size_t w = ctl_width(s);

    fputs(s, stdout);
    if (last) {
        putchar('\n');
        return;
    }
    for (; w < width; w++)
        putchar(' ');
    fputs("  ", stdout);
}

int ctl_getopt(int argc, char **argv, const struct ctl_optset *os)
{
    return getopt_long(argc, argv, os->shortopts, os->longopts, NULL);
}
