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
 *
 * The same logs give the install history (pkg_dpkg_history): the
 * install, upgrade and remove lines, with the versions before and after.
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
#include "vercmp.h"
#include "zfile.h"

#define LOG_MAX (64u * 1024 * 1024)

/* Reads a log, gunzipping *.gz.  Returns a malloc'd NUL-terminated text or NULL. */
static char *read_log(const char *path)
{
    char *buf;
    return zfile_slurp(path, LOG_MAX, &buf, NULL) == 0 ? buf : NULL;
}

/* n digits at p, as a number; -1 if any is not a digit. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" "HH:MM:SS" in local time, to UTC ms; 0 if malformed. */
static int64_t local_ms(const char *date, const char *tod)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    time_t t;

    if (strlen(date) != 10 || strlen(tod) != 8 || date[4] != '-' || date[7] != '-' ||
        tod[2] != ':' || tod[5] != ':')
        return 0;
    y = digits(date, 4);
    mo = digits(date + 5, 2);
    d = digits(date + 8, 2);
    h = digits(tod, 2);
    mi = digits(tod + 3, 2);
    se = digits(tod + 6, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return 0;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    return t == (time_t)-1 ? 0 : (int64_t)t * 1000;
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
        if (!t)
            continue;
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

/* Calls fn(text, ctx) for ROOT/var/log/dpkg.log and each rotation. */
static int each_log(const char *root, int (*fn)(char *text, void *ctx), void *ctx)
{
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/var/log", root && strcmp(root, "/") != 0 ? root : "");
    d = opendir(dir);
    if (!d)
        return 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char path[PATH_MAX * 2], *text;
        if (strncmp(e->d_name, "dpkg.log", 8) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        text = read_log(path);
        if (text) {
            rc = fn(text, ctx);
            free(text);
        }
    }
    closedir(d);
    return rc;
}

static int times_fn(char *text, void *ctx)
{
    apply(ctx, text);
    return 0;
}

void pkg_dpkg_log_times(const char *root, struct pkg_list *l)
{
    each_log(root, times_fn, l);
}

/* ---- install history ---- */

void pkg_events_free(struct pkg_events *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].name);
        free(e->v[i].arch);
        free(e->v[i].old_version);
        free(e->v[i].new_version);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static int cmp_event(const void *a, const void *b)
{
    const struct pkg_event *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

void pkg_events_sort(struct pkg_events *e)
{
    if (e->n)
        qsort(e->v, e->n, sizeof(*e->v), cmp_event);
}

static char *dup_or_empty(const char *s)
{
    return strdup(strcmp(s, "<none>") == 0 ? "" : s);
}

/* Appends one event (strings copied).  Returns 0 or -ENOMEM. */
static int push_event(struct pkg_events *out, int64_t t, const char *name, const char *arch,
                      const char *action, const char *oldv, const char *newv)
{
    struct pkg_event ev;

    if (out->n >= PKG_EVENTS_MAX) {
        out->dropped++;
        return 0;
    }
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 256;
        struct pkg_event *nv = realloc(out->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        out->v = nv;
        out->cap = nc;
    }
    ev.time_ms = t;
    ev.action = action;
    ev.name = strdup(name);
    ev.arch = strdup(arch);
    ev.old_version = dup_or_empty(oldv);
    ev.new_version = dup_or_empty(newv);
    ev.order = out->n;
    if (!ev.name || !ev.arch || !ev.old_version || !ev.new_version) {
        free(ev.name);
        free(ev.arch);
        free(ev.old_version);
        free(ev.new_version);
        return -ENOMEM;
    }
    out->v[out->n++] = ev;
    return 0;
}

/* dpkg log lines that are not package events. */
static int other_line(const char *word)
{
    static const char *const words[] = { "status", "configure", "trigproc", "startup",
                                         "conffile", "purge" };
    for (size_t i = 0; i < VG_ARRAY_SIZE(words); i++)
        if (strcmp(word, words[i]) == 0)
            return 1;
    return 0;
}

static int version_ok(const char *v)
{
    return strcmp(v, "<none>") == 0 || vg_dpkg_version_check(v) == 0;
}

int pkg_dpkg_history_parse(char *text, int64_t since_ms, struct pkg_events *out)
{
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *w[7], *s2 = NULL, *colon;
        const char *action;
        int n = 0, rc;
        int64_t t;

        for (char *tok = strtok_r(line, " \r", &s2); tok && n < 7; tok = strtok_r(NULL, " \r", &s2))
            w[n++] = tok;
        if (n == 0)
            continue;
        if (n < 3 || !(t = local_ms(w[0], w[1]))) {
            out->malformed++;
            continue;
        }
        if (other_line(w[2]))
            continue;
        if (strcmp(w[2], "install") != 0 && strcmp(w[2], "upgrade") != 0 &&
            strcmp(w[2], "remove") != 0) {
            out->malformed++;
            continue;
        }
        if (n != 6 || strlen(w[3]) > PKG_EVENT_FIELD_MAX || strlen(w[4]) > PKG_EVENT_FIELD_MAX ||
            strlen(w[5]) > PKG_EVENT_FIELD_MAX || !version_ok(w[4]) || !version_ok(w[5]) ||
            w[3][0] == ':' || (w[2][0] == 'u' && (w[4][0] == '<' || w[5][0] == '<')) ||
            (w[2][0] == 'i' && w[5][0] == '<') || (w[2][0] == 'r' && w[4][0] == '<')) {
            out->malformed++;
            continue;
        }
        if (t < since_ms)
            continue;
        action = w[2][0] == 'i' ? "install" : w[2][0] == 'r' ? "remove" : "upgrade";
        if (w[2][0] == 'u' && vg_dpkg_vercmp(w[5], w[4]) < 0)
            action = "downgrade";
        colon = strchr(w[3], ':');
        if (colon)
            *colon++ = '\0';
        rc = push_event(out, t, w[3], colon ? colon : "", action, w[4], w[5]);
        if (rc)
            return rc;
    }
    return 0;
}

struct hist_ctx {
    int64_t since_ms;
    struct pkg_events *out;
};

static int hist_fn(char *text, void *ctx)
{
    struct hist_ctx *h = ctx;
    return pkg_dpkg_history_parse(text, h->since_ms, h->out);
}

int pkg_dpkg_history(const char *root, int64_t since_ms, struct pkg_events *out)
{
    struct hist_ctx h = { since_ms, out };
    int rc = each_log(root, hist_fn, &h);
    pkg_events_sort(out);
    return rc;
}

int pkg_rpm_history(const struct pkg_list *l, int64_t since_ms, struct pkg_events *out)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct pkg *p = &l->v[i];
        int rc;
        if (!p->install_time_ms || p->install_time_ms < since_ms)
            continue;
        rc = push_event(out, p->install_time_ms, p->name, p->arch, "install", "<none>",
                        p->version);
        if (rc)
            return rc;
    }
    pkg_events_sort(out);
    return 0;
}
