/*
 * os-release(5): KEY=value lines, the value optionally in single or
 * double quotes, with backslash escapes inside double quotes.  Read from
 * the host (or a host root given to the agent), so parsed as untrusted.
 */
#ifndef VG_OS_RELEASE_H
#define VG_OS_RELEASE_H

#include <stddef.h>

/* Copies the value of the first KEY= line of text (NUL-terminated) into
 * out (outlen > 0 bytes, truncated to fit); "" when there is none. */
void os_release_get(const char *text, const char *key, char *out, size_t outlen);

#endif
