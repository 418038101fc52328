/*
 * libFuzzer target: os-release(5) text (agent/priv/os_release.c), as
 * in_os reads it from the host root, for the keys the agent reports.
 * The value fits its buffer, and a smaller buffer gets a prefix of it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "os_release.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = { "ID", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME",
                                        "ID_LIKE", "NAME" };
    static const size_t lens[] = { 1, 2, 7, 256 };
    char *text = fuzz_strndup(data, size);

    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        char full[256 + 8], small[256];
        os_release_get(text, keys[k], full, 256);
        if (strlen(full) >= 256)
            abort();
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            memset(small, 'x', sizeof(small));
            os_release_get(text, keys[k], small, lens[i]);
            if (strlen(small) >= lens[i] || strncmp(small, full, strlen(small)) != 0)
                abort();
        }
    }
    free(text);
    return 0;
}
