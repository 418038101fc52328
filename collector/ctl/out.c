/*
 * vigilctl's output helpers: errors, usage errors, JSON, host-supplied
 * text.  Below main.c, the sub-commands and client.c, which all use them.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"

int ctl_err(const char *fmt, ...)
{
    va_list ap;
    fputs("vigilctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_FAIL;
}

int ctl_usage_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("vigilctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
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

void ctl_put_text(const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s, n = (unsigned char)s[1];
        if (c == 0xc2 && n >= 0x80 && n <= 0x9f) { /* C1 controls, UTF-8 encoded */
            putchar('?');
            s++;
        } else {
            putchar(c < 0x20 || c == 0x7f ? '?' : c);
        }
    }
}
