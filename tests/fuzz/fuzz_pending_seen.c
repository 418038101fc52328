/*
 * libFuzzer target: STATE_DIR/pending-seen (agent/priv/pending_state.c),
 * the first-seen times of pending updates, read back from disk at every
 * start.
 *
 * Input: FILE [%% DNF-LIST] (a "%%" line between).  The file is loaded,
 * stamped with the updates of the dnf listing (installed version "1.0"),
 * saved and loaded again: the second load finds nothing bad and the
 * same entries the first one kept.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pending.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part part[2];
    size_t np = fuzz_split(data, size, part, 2);
    struct pending_list l = { NULL, 0, 0 };
    struct pending_seen *s, *s2;
    const char *root = fuzz_scratch();
    char path[PATH_MAX], *text;
    unsigned bad = 0, bad2 = 0;

    fuzz_put(root, "pending-seen", part[0].p, part[0].n);
    snprintf(path, sizeof(path), "%s/pending-seen", root);
    if (!(s = pending_seen_load(path, &bad)))
        abort();
    if (np > 1) {
        text = fuzz_strndup(part[1].p, part[1].n);
        if (pkg_dnf_parse(text, &l, &bad2) != 0)
            abort();
        free(text);
        for (size_t i = 0; i < l.n; i++) {
            free(l.v[i].installed);
            if (!(l.v[i].installed = strdup("1.0")))
                abort();
        }
    }
    (void)pending_seen_apply(s, &l, 1000, size & 1);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].first_seen_ms <= 0 || (l.v[i].security && l.v[i].security_first_seen_ms <= 0))
            abort();
    if (pending_seen_save(s, path) != 0)
        abort();
    if (!(s2 = pending_seen_load(path, &bad2)) || bad2 != 0)
        abort();
    /* Stamping again with the same list changes nothing. */
    if (pending_seen_apply(s2, &l, 2000, size & 1) != 0)
        abort();
    pending_seen_free(s);
    pending_seen_free(s2);
    pending_list_free(&l);
    return 0;
}
