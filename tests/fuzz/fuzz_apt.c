/*
 * libFuzzer target: apt's package lists, Release/InRelease files and
 * preferences (agent/priv/pkg_apt.c), through pkg_apt_pending on a
 * fixture root, against a dpkg status file.
 *
 * Input (parts joined by a "%%" line; missing parts: no such file):
 *
 *   STATUS %% MAIN-Packages %% MAIN-Release %% SEC-Packages
 *   %% SEC-InRelease %% preferences %% preferences.d/local.pref
 *
 * Every update listed is newer than its installed version, installed
 * (not config-files), and has every string set; the list is sorted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pending.h"
#include "vercmp.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define L "var/lib/apt/lists/"
static const char *const files[] = {
    "var/lib/dpkg/status",
    L "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
    L "deb.debian.org_debian_dists_bookworm_Release",
    L "security.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
    L "security.debian.org_debian-security_dists_bookworm-security_InRelease",
    "etc/apt/preferences",
    "etc/apt/preferences.d/local.pref",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static const struct pkg *installed(const struct pkg_list *l, const struct pending *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, p->name) == 0 && strcmp(l->v[i].arch, p->arch) == 0)
            return &l->v[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part part[NFILES];
    size_t np = fuzz_split(data, size, part, NFILES);
    struct pkg_list inst = { NULL, 0, 0 };
    struct pending_list out = { NULL, 0, 0 };
    struct pkg_report prep;
    struct apt_report rep;
    const char *root = fuzz_scratch();
    int rc;

    for (size_t i = 0; i < np; i++)
        fuzz_put(root, files[i], part[i].p, part[i].n);
    if (pkg_dpkg_parse((const char *)part[0].p, part[0].n, &inst, &prep) != 0)
        abort();
    pkg_list_sort(&inst);
    rc = pkg_apt_pending(root, &inst, &out, &rep);
    if (rc != 0 && rc != -ENOENT)
        abort();
    if (rc == -ENOENT && (out.n || np > 2))
        abort(); /* there were lists */
    for (size_t i = 0; i < out.n; i++) {
        const struct pending *p = &out.v[i];
        const struct pkg *k;
        if (!p->name || !p->arch || !p->installed || !p->candidate || !p->archive ||
            !p->origin || !p->label || !p->site || !p->advisory || !p->severity)
            abort();
        if (!(k = installed(&inst, p)) || strcmp(k->version, p->installed) != 0 ||
            strcmp(k->status, "config-files") == 0 || strcmp(k->status, "not-installed") == 0)
            abort();
        if (vg_dpkg_vercmp(p->candidate, p->installed) <= 0)
            abort();
        if (strlen(rep.native_arch) >= sizeof(rep.native_arch) ||
            strlen(rep.first_error) >= sizeof(rep.first_error))
            abort();
    }
    pending_list_free(&out);
    pkg_list_free(&inst);
    return 0;
}
