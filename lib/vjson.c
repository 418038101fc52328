/* Small jansson helpers; see vjson.h. */
#include <stdlib.h>

#include "util.h"
#include "vjson.h"

json_t *vg_json_text(const char *s)
{
    char *c = vg_utf8_clean(s ? s : "");
    json_t *j = c ? json_string(c) : NULL;
    free(c);
    return j ? j : json_null();
}

json_t *vg_json_time(int64_t ms)
{
    char t[VG_TIME_STR_MAX];
    json_t *j = ms ? json_string(vg_time_format(ms, t, sizeof(t))) : NULL;
    return j ? j : json_null();
}
