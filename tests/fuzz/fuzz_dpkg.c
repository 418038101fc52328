/*
 * libFuzzer target: dpkg's status database (agent/priv/pkg_dpkg.c), in
 * memory and on disk with its journal.
 *
 * Input: STATUS [%% UPDATE-0001 [%% UPDATE-0002]] (parts joined by a
 * "%%" line).  The parse never fails on bad input; the list it returns
 * is sorted by name and architecture with one entry for each, none of
 * them not-installed, every string set.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct pkg_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct pkg *p = &l->v[i];
        if (!p->name || !p->version || !p->arch || !p->source || !p->source_version ||
            !p->status || !p->name[0] || strcmp(p->status, "not-installed") == 0)
            abort();
        if (i > 0) {
            const struct pkg *q = &l->v[i - 1];
            int c = strcmp(q->name, p->name);
            if (c > 0 || (c == 0 && strcmp(q->arch, p->arch) >= 0))
                abort(); /* unsorted, or the same package twice */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part part[3];
    size_t np = fuzz_split(data, size, part, 3);
    struct pkg_list l = { NULL, 0, 0 };
    struct pkg_report rep;
    const char *root;

    if (pkg_dpkg_parse((const char *)data, size, &l, &rep) != 0)
        abort();
    pkg_list_sort(&l);
    check(&l);
    pkg_list_free(&l);

    root = fuzz_scratch();
    fuzz_put(root, "var/lib/dpkg/status", part[0].p, part[0].n);
    for (size_t i = 1; i < np; i++) {
        char name[64];
        snprintf(name, sizeof(name), "var/lib/dpkg/updates/%04zu", i);
        fuzz_put(root, name, part[i].p, part[i].n);
    }
    if (pkg_dpkg_read(root, &l, &rep) != 0)
        abort();
    check(&l);
    if (rep.updates != np - 1)
        abort();
    pkg_list_free(&l);
    return 0;
}
