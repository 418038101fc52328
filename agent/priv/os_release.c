/* os-release(5) values; see os_release.h. */
#include <string.h>

#include "os_release.h"

void os_release_get(const char *text, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    const char *p = text;

    out[0] = '\0';
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1, *end = p + ll;
            char q = 0;
            size_t o = 0;
            if (v < end && (*v == '"' || *v == '\'')) {
                q = *v++;
            }
            for (; v < end && o + 1 < outlen; v++) {
                if (q && *v == q)
                    break;
                if (q == '"' && *v == '\\' && v + 1 < end)
                    v++;
                out[o++] = *v;
            }
            out[o] = '\0';
            return;
        }
        p = eol ? eol + 1 : NULL;
    }
}
