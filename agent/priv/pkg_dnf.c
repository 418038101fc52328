/*
 * Pending security updates on rpm hosts, from dnf's advisory metadata:
 *
 *   dnf -C -q updateinfo list --security       (dnf 4: RHEL 8/9, Fedora < 41)
 *
 * dnf 5 (Fedora 41+) answers the same command (updateinfo is an alias of
 * advisory) with a table that also carries the issue date.  `-C` keeps
 * dnf on its cache: the agent never makes it download.  Both outputs
 * list one line per advisory and package; the package is the update's
 * NEVRA, whose version-release becomes the candidate.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "pending.h"
#include "run.h"
#include "util.h"
#include "vercmp.h"

#define OUT_MAX (64u * 1024 * 1024)
/* dnf waits on another dnf's lock; never for ever. */
#define DNF_TIMEOUT_MS (10 * 60 * 1000)

/* Splits NEVRA "name-[epoch:]version-release.arch", as dnf prints it.
 * Modifies s.  Returns 0 or -1. */
static int split_nevra(char *s, char **name, char **evr, char **arch)
{
    char *dot = strrchr(s, '.'), *d1, *d2, *colon;
    if (!dot || dot == s)
        return -1;
    *dot = '\0';
    *arch = dot + 1;
    d1 = strrchr(s, '-');
    if (!d1 || d1 == s)
        return -1;
    *d1 = '\0';
    d2 = strrchr(s, '-');
    *d1 = '-';
    if (!d2 || d2 == s)
        return -1;
    *d2 = '\0';
    *name = s;
    *evr = d2 + 1;
    /* dnf prints the epoch after the name: "dbus-1:1.12.20-7.el9_1". */
    colon = strchr(s, ':');
    if (colon)
        return -1;
    return **name && **evr && **arch ? 0 : -1;
}

static int64_t parse_issued(const char *date, const char *tod)
{
    struct tm tm;
    char buf[64];
    char *end;
    memset(&tm, 0, sizeof(tm));
    snprintf(buf, sizeof(buf), "%s %s", date, tod ? tod : "00:00:00");
    end = strptime(buf, "%Y-%m-%d %H:%M:%S", &tm);
    if (!end || *end)
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

static int is_type(const char *t)
{
    return strcmp(t, "security") == 0 || strcmp(t, "bugfix") == 0 ||
           strcmp(t, "enhancement") == 0 || strcmp(t, "newpackage") == 0 ||
           strcmp(t, "unspecified") == 0 || strcmp(t, "unknown") == 0;
}

int pkg_dnf_parse(char *text, struct pending_list *out, unsigned *bad)
{
    char *save = NULL, *line;

    *bad = 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tok[8], *ts = NULL, *t;
        char *id, *sev = NULL, *nevra, *name, *evr, *arch;
        int n = 0, security = 0;
        int64_t issued = 0;
        struct pending p;

        for (t = strtok_r(line, " \t\r", &ts); t && n < 8; t = strtok_r(NULL, " \t\r", &ts))
            tok[n++] = t;
        if (n == 0)
            continue;
        if (n >= 4 && strcmp(tok[0], "Name") == 0 && strcmp(tok[1], "Type") == 0)
            continue; /* dnf 5's header */
        if (strcmp(tok[0], "Last") == 0 || strcmp(tok[0], "Updating") == 0)
            continue; /* "Last metadata expiration check: ..." */
        id = tok[0];
        if (n >= 4 && is_type(tok[1])) {
            /* dnf 5: NAME TYPE SEVERITY PACKAGE ISSUED-DATE ISSUED-TIME */
            security = strcmp(tok[1], "security") == 0;
            sev = tok[2];
            nevra = tok[3];
            if (n >= 5)
                issued = parse_issued(tok[4], n >= 6 ? tok[5] : NULL);
        } else if (n == 3) {
            /* dnf 4: ID SEVERITY/Sec. PACKAGE */
            char *slash = strchr(tok[1], '/');
            security = strcmp(tok[1], "Sec.") == 0 || (slash && strcmp(slash, "/Sec.") == 0);
            if (slash) {
                *slash = '\0';
                sev = tok[1];
            }
            nevra = tok[2];
        } else {
            continue; /* subscription-manager's and dnf's chatter */
        }
        if (!security)
            continue; /* asked for --security; anything else is not ours */
        if (split_nevra(nevra, &name, &evr, &arch)) {
            (*bad)++;
            continue;
        }
        if (sev && (strcasecmp(sev, "none") == 0 || strcasecmp(sev, "unknown") == 0))
            sev = NULL;
        memset(&p, 0, sizeof(p));
        p.security = 1;
        p.released_ms = issued;
        p.name = strdup(name);
        p.arch = strdup(arch);
        p.installed = strdup("");
        p.candidate = strdup(evr);
        p.archive = strdup("");
        p.origin = strdup("");
        p.label = strdup("");
        p.site = strdup("");
        p.advisory = strdup(id);
        p.severity = strdup(sev ? sev : "");
        if (!p.name || !p.arch || !p.installed || !p.candidate || !p.archive || !p.origin ||
            !p.label || !p.site || !p.advisory || !p.severity) {
            pending_free_one(&p);
            return -ENOMEM;
        }
        if (pending_list_push(out, &p))
            return -ENOMEM;
    }
    return 0;
}

/* dnf 4's `updateinfo info`: blocks of right-aligned "Label: value"
 * lines; "Update ID" and "Updated" (local time: the later of issued and
 * updated) give each advisory's date. */
void pkg_dnf_parse_info(char *text, struct pending_list *l)
{
    char *save = NULL, *line, id[128] = "";

    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':'), *label = line, *val;
        if (!colon)
            continue;
        while (*label == ' ')
            label++;
        *colon = '\0';
        val = colon + 1;
        while (*val == ' ')
            val++;
        if (strcmp(label, "Update ID") == 0) {
            snprintf(id, sizeof(id), "%s", val);
        } else if (strcmp(label, "Updated") == 0 && id[0]) {
            struct tm tm;
            char *end;
            int64_t ms;
            memset(&tm, 0, sizeof(tm));
            end = strptime(val, "%Y-%m-%d %H:%M:%S", &tm);
            if (!end)
                continue;
            tm.tm_isdst = -1;
            ms = (int64_t)mktime(&tm) * 1000;
            for (size_t i = 0; i < l->n; i++)
                if (l->v[i].advisory && strcmp(l->v[i].advisory, id) == 0)
                    l->v[i].released_ms = ms;
            id[0] = '\0';
        }
    }
}

int pkg_dnf_pending(const char *root, struct pending_list *out, unsigned *bad)
{
    char *rooted[] = { "dnf", "-C", "-q", "--installroot", (char *)root, "updateinfo", "list",
                       "--security", NULL };
    char *plain[] = { "dnf", "-C", "-q", "updateinfo", "list", "--security", NULL };
    int is_root = !root || !root[0] || strcmp(root, "/") == 0;
    char *text;
    int st, rc;

    *bad = 0;
    rc = vg_run_capture(is_root ? plain : rooted, OUT_MAX, DNF_TIMEOUT_MS, &text, NULL, &st);
    if (rc)
        return rc;
    rc = st == 0 ? pkg_dnf_parse(text, out, bad) : -EIO;
    free(text);
    if (rc == 0 && out->n && out->v[out->n - 1].released_ms == 0) {
        /* dnf 4 lists no dates: its info blocks have them. */
        char *irooted[] = { "dnf", "-C", "-q", "--installroot", (char *)root, "updateinfo",
                            "info", "--security", NULL };
        char *iplain[] = { "dnf", "-C", "-q", "updateinfo", "info", "--security", NULL };
        if (vg_run_capture(is_root ? iplain : irooted, OUT_MAX, DNF_TIMEOUT_MS, &text, NULL, &st) == 0) {
            if (st == 0)
                pkg_dnf_parse_info(text, out);
            free(text);
        }
    }
    return rc;
}

/* Fills installed versions from the rpm inventory, and drops advisories
 * for packages that are not installed or already at the fixed version. */
void pending_match_installed(struct pending_list *l, const struct pkg_list *rpm)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct pending *p = &l->v[i];
        const struct pkg *inst = NULL;
        if (p->installed && p->installed[0]) {
            l->v[k++] = *p;
            continue; /* not from dnf */
        }
        /* Several versions may be installed (kernels): the newest counts. */
        for (size_t j = 0; j < rpm->n; j++)
            if (strcmp(rpm->v[j].name, p->name) == 0 && strcmp(rpm->v[j].arch, p->arch) == 0 &&
                (!inst || vg_rpm_evr_strcmp(rpm->v[j].version, inst->version) > 0))
                inst = &rpm->v[j];
        if (inst && vg_rpm_evr_strcmp(p->candidate, inst->version) > 0) {
            char *v = strdup(inst->version);
            if (v) {
                free(p->installed);
                p->installed = v;
                l->v[k++] = *p;
                continue;
            }
        }
        pending_free_one(p);
    }
    l->n = k;
}
