/*
 * Running a helper program without a shell: a fixed argv, stdin and
 * stderr on /dev/null, stdout captured up to a bound.
 */
#ifndef VG_RUN_H
#define VG_RUN_H

#include <stddef.h>

/* Runs argv[0] (looked up in PATH) and collects its standard output,
 * NUL-terminated, into *out (malloc'd; free it).  *status gets the exit
 * status (-1 if killed by a signal).  Returns 0 when it ran (whatever
 * its exit status), -ENOENT when the program is missing, -ETIMEDOUT
 * when it ran past timeout_ms (> 0; it is killed), VG_ETOOBIG when the
 * output passed max (killed too), or another -errno. */
int vg_run_capture(char *const argv[], size_t max, int timeout_ms, char **out, size_t *len,
                   int *status);

/* The same, with standard error captured too (interleaved with standard
 * output), for helpers whose only explanation of a failure is there. */
int vg_run_capture_all(char *const argv[], size_t max, int timeout_ms, char **out, size_t *len,
                       int *status);

#endif
