/* Small jansson helpers shared by the programs' JSON output. */
#ifndef VG_VJSON_H
#define VG_VJSON_H

#include <jansson.h>
#include <stdint.h>

/* s as a JSON string, invalid UTF-8 replaced (NULL: ""); never NULL. */
json_t *vg_json_text(const char *s);
/* ms (Unix epoch, UTC) as RFC 3339, or null for 0; never NULL. */
json_t *vg_json_time(int64_t ms);

#endif
