/*
 * libFuzzer target: dpkg's log (agent/priv/pkg_dpkglog.c), for install
 * history and for install times.
 *
 * Input: LOG [%% STATUS] (a "%%" line between).  The log is parsed for
 * history (every event well formed, sortable) and, on disk beside the
 * status file, for the install times of the packages it lists.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* dpkg logs local times: one zone, so that a run is reproducible. */
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
    struct fuzz_part part[2];
    size_t np = fuzz_split(data, size, part, 2);
    struct pkg_events ev;
    struct pkg_list l = { NULL, 0, 0 };
    struct pkg_report rep;
    char *text = fuzz_strndup(part[0].p, part[0].n);
    const char *root;

    memset(&ev, 0, sizeof(ev));
    if (pkg_dpkg_history_parse(text, 0, &ev) != 0)
        abort();
    free(text);
    pkg_events_sort(&ev);
    for (size_t i = 0; i < ev.n; i++) {
        const struct pkg_event *e = &ev.v[i];
        if (!e->name[0] || strlen(e->name) > PKG_EVENT_FIELD_MAX ||
            strlen(e->old_version) > PKG_EVENT_FIELD_MAX ||
            strlen(e->new_version) > PKG_EVENT_FIELD_MAX || e->time_ms <= 0)
            abort();
        if (strcmp(e->action, "install") && strcmp(e->action, "upgrade") &&
            strcmp(e->action, "downgrade") && strcmp(e->action, "remove"))
            abort();
        if (strcmp(e->action, "remove") == 0 ? !e->old_version[0] : !e->new_version[0])
            abort();
        if (e->action[0] != 'i' && e->action[0] != 'r' && !e->old_version[0])
            abort(); /* an upgrade or downgrade from nothing */
        if (i > 0 && ev.v[i - 1].time_ms > e->time_ms)
            abort();
    }
    pkg_events_free(&ev);

    if (np < 2)
        return 0;
    if (pkg_dpkg_parse((const char *)part[1].p, part[1].n, &l, &rep) != 0)
        abort();
    pkg_list_sort(&l);
    root = fuzz_scratch();
    fuzz_put(root, "var/log/dpkg.log", part[0].p, part[0].n);
    pkg_dpkg_log_times(root, &l);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].install_time_ms < 0)
            abort();
    pkg_list_free(&l);
    return 0;
}
