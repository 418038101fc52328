/*
 * libFuzzer target: text from files and hosts on its way into JSON
 * (lib/vjson.c, vg_utf8_clean in lib/util.c).  The cleaned text is valid
 * UTF-8 (jansson accepts it), as long as the input, unchanged when it was
 * valid already, and cleaning is idempotent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *c, *c2;
    json_t *j;

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    c = vg_utf8_clean(s);
    if (!c || strlen(c) != strlen(s))
        abort();
    j = json_string(c);
    if (!j)
        abort(); /* not valid UTF-8 */
    json_decref(j);
    j = json_string(s);
    if (j && strcmp(c, s) != 0)
        abort(); /* valid input was changed */
    json_decref(j);
    c2 = vg_utf8_clean(c);
    if (!c2 || strcmp(c, c2) != 0)
        abort();
    j = vg_json_text(s);
    if (!json_is_string(j) || strcmp(json_string_value(j), c) != 0)
        abort();
    json_decref(j);
    if (size >= 8) {
        int64_t ms;
        memcpy(&ms, data, 8);
        j = vg_json_time(ms);
        if (!j)
            abort();
        json_decref(j);
    }
    free(c2);
    free(c);
    free(s);
    return 0;
}
