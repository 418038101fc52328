/*
 * Operating-system end of life.
 *
 * Debian and Ubuntu: Debian's distro-info-data (/usr/share/distro-info/
 * debian.csv and ubuntu.csv), kept current by the distribution:
 *   debian.csv  version,codename,series,created,release,eol,eol-lts,eol-elts
 *   ubuntu.csv  version,codename,series,created,release,eol,eol-server,eol-esm
 * Support is counted to eol-lts for Debian (LTS is free and public) and
 * eol-server for Ubuntu LTS releases; paid extended support (Freexian
 * ELTS, Ubuntu Pro ESM) is not counted, since a host only has it under a
 * contract the collector cannot see.
 *
 * RHEL family and SUSE: the table below (end of maintenance support, as
 * the vendors publish it).
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compliance.h"
#include "log.h"
#include "util.h"
#include "vercmp.h"

struct os_row {
    char id[16], version[24], codename[24];
    int64_t eol_ms; /* 0: no end announced */
    int lts;        /* the end is LTS / server support */
};

/* debian-security-support: a source package (a regular expression in
 * the file, anchored), the last version supported ("0": every version),
 * when support ended. */
struct ended_row {
    char major[16];
    char *pattern, *last, *details;
    regex_t re;
    int64_t ended_ms;
};

struct os_support {
    struct os_row *v;
    size_t n, cap;
    struct ended_row *e;
    size_t ne, cape;
};

/* End of maintenance support, from the vendors' life-cycle pages. */
static const struct {
    const char *id, *major, *eol;
} shipped[] = {
    { "rhel", "7", "2024-06-30" },      { "rhel", "8", "2029-05-31" },
    { "rhel", "9", "2032-05-31" },      { "rhel", "10", "2035-05-31" },
    { "centos", "7", "2024-06-30" },    { "centos", "8", "2021-12-31" },
    { "centos", "9", "2027-05-31" },    { "centos", "10", "2030-01-01" },
    { "rocky", "8", "2029-05-31" },     { "rocky", "9", "2032-05-31" },
    { "rocky", "10", "2035-05-31" },    { "almalinux", "8", "2029-03-01" },
    { "almalinux", "9", "2032-05-31" }, { "almalinux", "10", "2035-05-31" },
    { "ol", "7", "2024-12-31" },        { "ol", "8", "2029-07-31" },
    { "ol", "9", "2032-06-30" },        { "sles", "12", "2024-10-31" },
    { "sles", "15", "2031-07-31" },     { "opensuse-leap", "15", "2025-12-31" },
};

/* "YYYY-MM-DD" as the last millisecond of that day (support runs to
 * the end of the day named); 0 when d is not such a date. */
static int64_t date_ms(const char *d)
{
    int64_t ms;
    if (!d || strlen(d) != 10 || d[4] != '-' || d[7] != '-' || vg_time_parse(d, &ms) != 0)
        return 0;
    return ms + 86400000 - 1;
}

static int add(struct os_support *s, const char *id, const char *version, const char *codename,
               int64_t eol, int lts)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct os_row *nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    memset(&s->v[s->n], 0, sizeof(s->v[0]));
    vg_strlcpy(s->v[s->n].id, id, sizeof(s->v[0].id));
    vg_strlcpy(s->v[s->n].version, version, sizeof(s->v[0].version));
    vg_strlcpy(s->v[s->n].codename, codename, sizeof(s->v[0].codename));
    s->v[s->n].eol_ms = eol;
    s->v[s->n].lts = lts;
    s->n++;
    return 0;
}

/* Reads one distro-info CSV: columns 1 (version), 3 (series), 6 (eol),
 * lts_col (eol-lts or eol-server). */
static int load_csv(struct os_support *s, const char *path, const char *id, int lts_col)
{
    FILE *f = fopen(path, "re");
    char line[512];
    int first = 1, rc = 0;
    if (!f) {
        log_warnx("[report] cannot read %s: %s; %s support is unknown (install distro-info-data)",
                  path, strerror(errno), id);
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char *col[9] = { 0 }, *p = line;
        int n = 0;
        line[strcspn(line, "\r\n")] = '\0';
        if (first) { /* the header */
            first = 0;
            continue;
        }
        while (n < 9) {
            col[n++] = p;
            p = strchr(p, ',');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (n < 3 || !col[0][0])
            continue; /* sid, experimental: no version */
        {
            /* "22.04 LTS" -> "22.04" */
            char v[24];
            int64_t eol = n > 5 ? date_ms(col[5]) : 0, lts = n > lts_col ? date_ms(col[lts_col]) : 0;
            vg_strlcpy(v, col[0], sizeof(v));
            v[strcspn(v, " ")] = '\0';
            if ((rc = add(s, id, v, col[2], lts ? lts : eol, lts != 0)) != 0)
                break;
        }
    }
    fclose(f);
    return rc;
}

int os_support_load(const char *dir, struct os_support **out)
{
    struct os_support *s = calloc(1, sizeof(*s));
    char path[512];
    int rc = 0;
    if (!s)
        return -ENOMEM;
    snprintf(path, sizeof(path), "%s/debian.csv", dir);
    rc = load_csv(s, path, "debian", 6);
    snprintf(path, sizeof(path), "%s/ubuntu.csv", dir);
    if (rc == 0)
        rc = load_csv(s, path, "ubuntu", 6);
    for (size_t i = 0; rc == 0 && i < sizeof(shipped) / sizeof(shipped[0]); i++)
        rc = add(s, shipped[i].id, shipped[i].major, "", date_ms(shipped[i].eol), 0);
    if (rc) {
        os_support_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void os_support_free(struct os_support *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ne; i++) {
        regfree(&s->e[i].re);
        free(s->e[i].pattern);
        free(s->e[i].last);
        free(s->e[i].details);
    }
    free(s->e);
    free(s->v);
    free(s);
}

static int ended_add(struct os_support *s, const char *major, const char *pat, const char *last,
                     int64_t ended, const char *details)
{
    struct ended_row *r;
    char *anchored;
    if (s->ne == s->cape) {
        size_t nc = s->cape ? s->cape * 2 : 64;
        struct ended_row *nv = realloc(s->e, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->e = nv;
        s->cape = nc;
    }
    r = &s->e[s->ne];
    memset(r, 0, sizeof(*r));
    if (asprintf(&anchored, "^(%s)$", pat) < 0)
        return -ENOMEM;
    if (regcomp(&r->re, anchored, REG_EXTENDED | REG_NOSUB) != 0) {
        free(anchored);
        return 1; /* not a pattern we can use: skipped */
    }
    free(anchored);
    vg_strlcpy(r->major, major, sizeof(r->major));
    r->pattern = strdup(pat);
    r->last = strdup(last);
    r->details = strdup(details);
    r->ended_ms = ended;
    if (!r->pattern || !r->last || !r->details) {
        regfree(&r->re);
        free(r->pattern);
        free(r->last);
        free(r->details);
        return -ENOMEM;
    }
    s->ne++;
    return 0;
}

/* Columns separated by blanks: source, last version, date, details. */
int os_support_load_ended(struct os_support *s, const char *dir)
{
    for (int major = 8; major <= 20; major++) {
        char path[600], line[1024], m[16];
        FILE *f;
        int rc = 0;
        snprintf(path, sizeof(path), "%s/security-support-ended.deb%d", dir, major);
        snprintf(m, sizeof(m), "%d", major);
        if (!(f = fopen(path, "re")))
            continue;
        while (rc >= 0 && fgets(line, sizeof(line), f)) {
            char *save = NULL, *src, *last, *date, *rest;
            int64_t ended;
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] == '#' || !(src = strtok_r(line, " \t", &save)) ||
                !(last = strtok_r(NULL, " \t", &save)) || !(date = strtok_r(NULL, " \t", &save)))
                continue;
            rest = save ? save + strspn(save, " \t") : "";
            if (!(ended = date_ms(date)))
                continue;
            /* Support ends at the start of the day named. */
            rc = ended_add(s, m, src, last, ended - 86400000 + 1, rest);
        }
        fclose(f);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int os_support_pkg_ended(const struct os_support *s, const char *major, const char *src,
                         const char *v, int64_t at_ms, int64_t *ended_ms, const char **details)
{
    for (size_t i = 0; s && i < s->ne; i++) {
        const struct ended_row *r = &s->e[i];
        if (strcmp(r->major, major) != 0 || r->ended_ms > at_ms ||
            regexec(&r->re, src, 0, NULL, 0) != 0)
            continue;
        if (strcmp(r->last, "0") != 0 && vg_dpkg_vercmp(v, r->last) > 0)
            continue; /* a later version than the last supported one */
        *ended_ms = r->ended_ms;
        *details = r->details;
        return 1;
    }
    return 0;
}

enum cx_support os_support_check(const struct os_support *s, const char *os_id,
                                 const char *version_id, const char *codename, int64_t at_ms,
                                 int64_t *eol_ms, char *note, size_t notelen)
{
    const struct os_row *r = NULL;
    char major[24];
    int is_debian = os_id && strcmp(os_id, "debian") == 0;
    int is_ubuntu = os_id && strcmp(os_id, "ubuntu") == 0;

    *eol_ms = 0;
    if (!os_id || !os_id[0]) {
        snprintf(note, notelen, "the host has not reported its operating system");
        return CX_UNKNOWN;
    }
    vg_strlcpy(major, version_id ? version_id : "", sizeof(major));
    if (!is_ubuntu) /* "9.3" -> "9"; Ubuntu's are "22.04" */
        major[strcspn(major, ".")] = '\0';
    for (size_t i = 0; s && i < s->n; i++) {
        const struct os_row *x = &s->v[i];
        if (strcmp(x->id, os_id) != 0)
            continue;
        if ((major[0] && strcmp(x->version, major) == 0) ||
            (is_debian && !major[0] && codename && codename[0] &&
             strcmp(x->codename, codename) == 0)) {
            r = x;
            break;
        }
    }
    if (!r) {
        if (is_debian && !major[0])
            snprintf(note, notelen, "Debian %s is a development release without security support",
                     codename && codename[0] ? codename : "(no version)");
        else
            snprintf(note, notelen, "no end-of-life data for %s %s", os_id,
                     version_id && version_id[0] ? version_id : "(no version)");
        return is_debian && !major[0] ? CX_UNSUPPORTED : CX_UNKNOWN;
    }
    *eol_ms = r->eol_ms;
    if (!r->eol_ms) {
        snprintf(note, notelen, "%s %s: supported, no end of support announced", os_id,
                 r->version);
        return CX_SUPPORTED;
    }
    {
        char d[16];
        int64_t secs = r->eol_ms / 1000;
        struct tm tm;
        time_t t = (time_t)secs;
        gmtime_r(&t, &tm);
        strftime(d, sizeof(d), "%Y-%m-%d", &tm);
        snprintf(note, notelen, "%s %s%s%s%s: security support %s %s%s", os_id, r->version,
                 r->codename[0] ? " (" : "", r->codename, r->codename[0] ? ")" : "",
                 at_ms <= r->eol_ms ? "until" : "ended", d,
                 r->lts ? (is_debian ? " (LTS)" : " (standard server support)") : "");
    }
    return at_ms <= r->eol_ms ? CX_SUPPORTED : CX_UNSUPPORTED;
}
