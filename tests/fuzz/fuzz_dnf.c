/*
 * libFuzzer target: dnf's advisory listings (agent/priv/pkg_dnf.c):
 * `dnf updateinfo list --security` (dnf 4) or `dnf advisory list` (dnf
 * 5), `dnf updateinfo info` for the dates, matched against an rpm
 * inventory (`rpm -qa --qf`, agent/priv/pkg_rpm.c).
 *
 * Input: LIST [%% INFO [%% RPM-QA]] (a "%%" line between).  Every entry
 * is a security update with name, arch and candidate set; after
 * matching, each one is newer than the installed version it names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pending.h"
#include "pkg.h"
#include "vercmp.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part part[3];
    size_t np = fuzz_split(data, size, part, 3);
    struct pending_list l = { NULL, 0, 0 };
    struct pkg_list rpm = { NULL, 0, 0 };
    struct pkg_report rep;
    unsigned bad = 0;
    char *text = fuzz_strndup(part[0].p, part[0].n);

    if (pkg_dnf_parse(text, &l, &bad) != 0)
        abort();
    free(text);
    for (size_t i = 0; i < l.n; i++) {
        const struct pending *p = &l.v[i];
        if (!p->security || !p->name[0] || !p->arch[0] || !p->candidate[0] ||
            !p->advisory[0] || !p->severity || p->installed[0])
            abort();
    }
    if (np > 1) {
        text = fuzz_strndup(part[1].p, part[1].n);
        pkg_dnf_parse_info(text, &l);
        free(text);
    }
    if (np > 2) {
        text = fuzz_strndup(part[2].p, part[2].n);
        if (pkg_rpm_parse(text, &rpm, &rep) != 0)
            abort();
        free(text);
        pending_match_installed(&l, &rpm);
        for (size_t i = 0; i < l.n; i++)
            if (!l.v[i].installed[0] || vg_rpm_evr_strcmp(l.v[i].candidate, l.v[i].installed) <= 0)
                abort();
    }
    pending_list_sort(&l);
    pending_list_free(&l);
    pkg_list_free(&rpm);
    return 0;
}
