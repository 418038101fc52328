/*
 * libFuzzer target: the output of `rpm -qa --qf` as pkg_rpm_read asks
 * for it (agent/priv/pkg_rpm.c: NAME EPOCH VERSION RELEASE ARCH
 * INSTALLTIME VENDOR SOURCERPM, tab-separated), and the install history
 * made from it.  The list is sorted, every string set; every version
 * compares equal to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg.h"
#include "vercmp.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    struct pkg_list l = { NULL, 0, 0 };
    struct pkg_report rep;
    struct pkg_events ev;

    if (pkg_rpm_parse(text, &l, &rep) != 0)
        abort();
    free(text);
    for (size_t i = 0; i < l.n; i++) {
        const struct pkg *p = &l.v[i];
        if (!p->name[0] || !p->version[0] || !p->arch || !p->source || !p->source_version ||
            strcmp(p->status, "installed") != 0 || p->install_time_ms < 0)
            abort();
        if (vg_rpm_evr_strcmp(p->version, p->version) != 0)
            abort();
        if (i > 0 && strcmp(l.v[i - 1].name, p->name) > 0)
            abort();
    }
    memset(&ev, 0, sizeof(ev));
    if (pkg_rpm_history(&l, 1, &ev) != 0)
        abort();
    for (size_t i = 0; i < ev.n; i++)
        if (strcmp(ev.v[i].action, "install") != 0 || ev.v[i].time_ms < 1)
            abort();
    pkg_events_free(&ev);
    pkg_list_free(&l);
    return 0;
}
