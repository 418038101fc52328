/*
 * rpm's package database, through `rpm -qa --qf` run without a shell.
 *
 * Why the rpm command rather than librpm: the database format differs
 * between distributions and rpm versions (Berkeley DB, ndb, sqlite), and
 * librpm's ABI with it; the query format of the command line is stable
 * and documented, so one agent binary reads every rpm host.  The command
 * gets a fixed argv (no shell, no user strings) and its output is bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pkg.h"
#include "run.h"
#include "util.h"

#define QF "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{VENDOR}\\t%{SOURCERPM}\\n"
#define OUT_MAX (64u * 1024 * 1024)
/* rpm waits on a locked database; never for ever. */
#define RPM_TIMEOUT_MS (5 * 60 * 1000)

static char *field(char **p)
{
    char *s = *p, *t = strchr(s, '\t');
    if (t) {
        *t = '\0';
        *p = t + 1;
    } else {
        *p = s + strlen(s);
    }
    return strcmp(s, "(none)") == 0 ? s + strlen(s) : s;
}

int pkg_rpm_parse(char *text, struct pkg_list *out, struct pkg_report *rep)
{
    char *save = NULL, *line;

    memset(rep, 0, sizeof(*rep));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line, *name, *epoch, *ver, *rel, *arch, *itime, *vendor, *srpm;
        struct pkg k;
        uint64_t t = 0;
        size_t vl;

        rep->stanzas++;
        name = field(&p);
        epoch = field(&p);
        ver = field(&p);
        rel = field(&p);
        arch = field(&p);
        itime = field(&p);
        vendor = field(&p);
        srpm = field(&p);
        if (!name[0] || !ver[0]) {
            rep->skipped_incomplete++;
            continue;
        }
        memset(&k, 0, sizeof(k));
        /* Version as rpm prints it: [EPOCH:]VERSION-RELEASE. */
        vl = strlen(epoch) + strlen(ver) + strlen(rel) + 3;
        k.version = malloc(vl);
        if (k.version)
            snprintf(k.version, vl, "%s%s%s%s%s", epoch, epoch[0] ? ":" : "", ver,
                     rel[0] ? "-" : "", rel);
        k.name = strdup(name);
        k.arch = strdup(arch);
        k.status = strdup("installed");
        k.source = strdup(srpm);
        k.source_version = strdup(vendor); /* rpm: the vendor rides here */
        if (vg_parse_u64(itime, 0, INT64_MAX / 1000, &t) == 0)
            k.install_time_ms = (int64_t)t * 1000;
        k.order = rep->stanzas;
        if (!k.version || !k.name || !k.arch || !k.status || !k.source || !k.source_version) {
            pkg_free_one(&k);
            return -ENOMEM;
        }
        if (pkg_list_push(out, &k))
            return -ENOMEM;
    }
    pkg_list_sort(out);
    return 0;
}

int pkg_rpm_read(const char *root, struct pkg_list *out, struct pkg_report *rep)
{
    char *argv[] = { "rpm", "--root", (char *)(root && root[0] ? root : "/"), "-qa", "--qf", QF,
                     NULL };
    char *text;
    int st, rc;

    memset(rep, 0, sizeof(*rep));
    rc = vg_run_capture(argv, OUT_MAX, RPM_TIMEOUT_MS, &text, NULL, &st);
    if (rc)
        return rc;
    rc = st == 0 ? pkg_rpm_parse(text, out, rep) : -EIO;
    free(text);
    return rc;
}
