/*
 * Install and upgrade times from dpkg's logs: /var/log/dpkg.log and its
 * rotations (dpkg.log.1, dpkg.log.2.gz, ...).  A line
 *
 *   2026-11-20 10:11:12 status installed libc6:amd64 2.36-9+deb12u4
 *
 * says when that version reached "installed"; the latest such line for a
 * package's current version is its install time.  dpkg writes local
 * time.  Gzipped rotations are read with zlib (already a dependency of
 * dpkg and rpm themselves, so present on every host); each log is read
 * whole within a bound.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg.h"
#include "util.h"
#include "zfile.h"

#define LOG_MAX (64u * 1024 * 1024)

/* Reads a log, gunzipping *.gz.  Returns a malloc'd NUL-terminated text or NULL. */
static char *read_log(const char *path)
{
    char *buf;
    return zfile_slurp(path, LOG_MAX, &buf, NULL) == 0 ? buf : NULL;
}

static int64_t local_ms(const char *date, const char *tod)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strlen(date) != 10 || strlen(tod) != 8)
        return 0;
    tm.tm_year = (int)strtol(date, NULL, 10) - 1900;
    tm.tm_mon = (int)strtol(date + 5, NULL, 10) - 1;
    tm.tm_mday = (int)strtol(date + 8, NULL, 10);
    tm.tm_hour = (int)strtol(tod, NULL, 10);
    tm.tm_min = (int)strtol(tod + 3, NULL, 10);
    tm.tm_sec = (int)strtol(tod + 6, NULL, 10);
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

/* Applies one log's "status installed" lines to the list (sorted by name). */
static void apply(struct pkg_list *l, char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *w[6], *s2 = NULL, *colon;
        int n = 0;
        int64_t t;
        for (char *tok = strtok_r(line, " ", &s2); tok && n < 6; tok = strtok_r(NULL, " ", &s2))
            w[n++] = tok;
        if (n != 6 || strcmp(w[2], "status") != 0 || strcmp(w[3], "installed") != 0)
            continue;
        colon = strchr(w[4], ':');
        if (colon)
            *colon = '\0';
        t = local_ms(w[0], w[1]);
        /* The list is sorted by name: find the first entry of this name. */
        size_t lo = 0, hi = l->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(l->v[mid].name, w[4]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < l->n && strcmp(l->v[i].name, w[4]) == 0; i++) {
            struct pkg *p = &l->v[i];
            if (strcmp(p->version, w[5]) != 0)
                continue;
            if (colon && p->arch[0] && strcmp(p->arch, colon + 1) != 0)
                continue;
            if (t > p->install_time_ms)
                p->install_time_ms = t;
        }
    }
}

void pkg_dpkg_log_times(const char *root, struct pkg_list *l)
{
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/var/log", root && strcmp(root, "/") != 0 ? root : "");
    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX * 2], *text;
        if (strncmp(e->d_name, "dpkg.log", 8) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        text = read_log(path);
        if (text) {
            apply(l, text);
            free(text);
        }
    }
    closedir(d);
}
