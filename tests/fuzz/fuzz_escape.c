/*
 * libFuzzer target: vg_str_escape (lib/util.c), which stands between what
 * hosts send and terminals and log lines.  The escaped text holds no C0
 * control, DEL, C1 control or invalid UTF-8; printable UTF-8 input comes
 * out unchanged; unescaping gives the input back; a bounded output is a
 * prefix of the whole one ending between escapes, and the return is the
 * whole length whatever the bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Unescapes e into out (room for strlen(e) + 1); aborts on anything that
 * is not a "\\xNN" or "\\\\" escape. */
static void unescape(const char *e, char *out)
{
    size_t o = 0;
    while (*e) {
        if (*e != '\\') {
            out[o++] = *e++;
        } else if (e[1] == '\\') {
            out[o++] = '\\';
            e += 2;
        } else if (e[1] == 'x' && e[2] && e[3]) {
            char h[3] = { e[2], e[3], 0 };
            char *end;
            unsigned long v = strtoul(h, &end, 16);
            if (*end || v == 0)
                abort();
            out[o++] = (char)v;
            e += 4;
        } else {
            abort(); /* a cut escape, or a lone backslash */
        }
    }
    out[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, *full, *cut, *back;
    size_t n, bound;
    json_t *j;

    if (size < 1)
        return 0;
    bound = data[0]; /* the first byte is the bound of the cut output */
    s = malloc(size);
    if (!s)
        abort();
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    n = vg_str_escape(NULL, 0, s);
    full = malloc(n + 1);
    back = malloc(n + 1);
    cut = malloc(bound + 1);
    if (!full || !back || !cut)
        abort();
    if (vg_str_escape(full, n + 1, s) != n || strlen(full) != n)
        abort();
    for (const unsigned char *p = (const unsigned char *)full; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            abort();
    j = json_string(full);
    if (!j)
        abort(); /* not valid UTF-8 */
    json_decref(j);
    if (!strchr(s, '\\') && n == strlen(s) && strcmp(full, s) != 0)
        abort();
    unescape(full, back);
    if (strcmp(back, s) != 0)
        abort();
    if (bound) {
        if (vg_str_escape(cut, bound, s) != n || strlen(cut) >= bound ||
            strncmp(cut, full, strlen(cut)) != 0)
            abort();
        unescape(cut, back);
        if (strncmp(back, s, strlen(back)) != 0)
            abort();
        j = json_string(cut);
        if (!j)
            abort(); /* a character was split */
        json_decref(j);
    }
    free(cut);
    free(back);
    free(full);
    free(s);
    return 0;
}
