/*
 * The host's name, as the agent reports it (hello, OS state, enrollment).
 *
 * With [inventory] root set (an agent in a container with the host
 * mounted at /host, or a test's fixture root) the host is the one under
 * the root, so its name is ROOT/etc/hostname (hostname(5): the first line
 * that is not empty or a "#" comment), as that host sets it at boot.
 * Where the file is missing or holds no valid name, the kernel's name
 * (gethostname) stands in.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

#define HOSTNAME_MAX 253 /* a DNS name */

/* Letters, digits, '-', '_' and '.', not starting with '-' or '.'. */
static int valid(const char *s, size_t n)
{
    if (n == 0 || n > HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int from_file(const char *root, char *out, size_t outlen)
{
    char path[PATH_MAX], *text = NULL, *p;
    size_t len;
    int found = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/etc/hostname", root) >= sizeof(path) ||
        vg_file_read(path, 4096, &text, &len) != 0)
        return 0;
    for (p = text; *p && !found;) {
        size_t ll = strcspn(p, "\n"), b = 0, e = ll;
        while (b < e && (p[b] == ' ' || p[b] == '\t'))
            b++;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\r'))
            e--;
        if (b < e && p[b] != '#') {
            if (valid(p + b, e - b) && e - b < outlen) {
                memcpy(out, p + b, e - b);
                out[e - b] = '\0';
                found = 1;
            }
            break; /* the first name line decides */
        }
        p += ll + (p[ll] == '\n');
    }
    free(text);
    return found;
}

void agent_hostname(const char *root, char *out, size_t outlen)
{
    if (!outlen)
        return;
    if (root && root[0] && strcmp(root, "/") != 0 && from_file(root, out, outlen))
        return;
    out[0] = '\0';
    if (gethostname(out, outlen - 1) < 0)
        out[0] = '\0';
    out[outlen - 1] = '\0';
}
