/*
 * libFuzzer target: the date parsers (lib/util.c) that read outside text:
 * RFC 3339 (advisories, manifests, operator requests) and RFC 2822
 * (apt's Release files).  An RFC 3339 time that parses formats to a
 * string that parses to the same instant.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128], out[VG_TIME_STR_MAX];
    int64_t ms, ms2;

    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (vg_time_parse(s, &ms) == 0) {
        vg_time_format(ms, out, sizeof(out));
        if (strlen(out) >= sizeof(out))
            abort();
        if (vg_time_parse(out, &ms2) != 0 || ms2 != ms)
            abort();
    }
    (void)vg_time_parse_rfc2822(s, &ms);
    return 0;
}
