/* libFuzzer target: configuration text through the INI loader with a
 * table holding every key type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    char *s, *p;
    int b, e;
    uint64_t u, d, z;
    struct vg_strlist l;
};

#define O(f) offsetof(struct fz, f)
static const struct vg_conf_key keys[] = {
    { "a", "s", VG_CONF_STR, "x", O(s), 0, 0, NULL, 0, "" },
    { "a", "p", VG_CONF_PATH, NULL, O(p), 0, 0, NULL, 0, "" },
    { "a", "b", VG_CONF_BOOL, "no", O(b), 0, 0, NULL, 0, "" },
    { "b", "u", VG_CONF_UINT, "1", O(u), 1, 100, NULL, 0, "" },
    { "b", "d", VG_CONF_DURATION, "1s", O(d), 0, 0, NULL, 0, "" },
    { "b", "z", VG_CONF_SIZE, "1K", O(z), 0, 0, NULL, 0, "" },
    { "c", "l", VG_CONF_LIST, NULL, O(l), 0, 0, NULL, 0, "" },
    { "c", "e", VG_CONF_ENUM, "x", O(e), 0, 0, "x|y|z", 0, "" },
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;
    char err[256];

    memset(&f, 0, sizeof(f));
    if (vg_conf_defaults(keys, &f) == 0)
        (void)vg_conf_parse(keys, &f, "/etc/fuzz.conf", (const char *)data, size, err,
                            sizeof(err));
    vg_conf_free(keys, &f);
    return 0;
}
