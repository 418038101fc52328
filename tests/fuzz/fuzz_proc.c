/*
 * libFuzzer target: the /proc readers (agent/priv/proc_read.c) on a fake
 * /proc under a scratch root, as tests/unit/test_proc.c builds it.
 *
 * Input: the files of process 4242, joined by a "%%" line:
 *
 *   stat %% status %% cmdline %% cgroup %% loginuid %% sessionid %% exe
 *
 * (exe: the target of the exe symlink; missing parts: no such file).
 * Reads never crash and give bounded fields: comm NUL-terminated within
 * its 17 bytes, argv at most PROC_ARGV_MAX, a container id of 64
 * lower-case hex digits or none.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "stat",     "status",    "cmdline", "cgroup",
                                     "loginuid", "sessionid", "exe" };
#define NPARTS (sizeof(names) / sizeof(names[0]))

static void check(const struct proc_info *p)
{
    if (memchr(p->comm, '\0', sizeof(p->comm)) == NULL || !p->exe ||
        p->argv_len > PROC_ARGV_MAX || (p->argv_len && !p->argv))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part part[NPARTS];
    size_t np = fuzz_split(data, size, part, NPARTS);
    const char *root = fuzz_scratch();
    struct proc_info p, *v = NULL;
    char id[80];
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < np && i < NPARTS - 1; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "proc/4242/%s", names[i]);
        fuzz_put(root, rel, part[i].p, part[i].n);
    }
    if (np == NPARTS && part[NPARTS - 1].n && part[NPARTS - 1].n < PATH_MAX &&
        !memchr(part[NPARTS - 1].p, '\0', part[NPARTS - 1].n)) {
        char link[PATH_MAX], *target = fuzz_strndup(part[NPARTS - 1].p, part[NPARTS - 1].n);
        snprintf(link, sizeof(link), "%s/proc/4242/exe", root);
        if (symlink(target, link) < 0)
            abort();
        free(target);
    }

    rc = proc_read(root, 4242, &p);
    if (rc == 0) {
        struct proc_exec e;
        check(&p);
        proc_exec_from_info(&e, &p);
        if (!(e.unknown & PROC_UNKNOWN_CGROUP) || e.argv_len != p.argv_len)
            abort();
        proc_info_free(&p);
    } else if (rc != -EIO && rc != -ENOENT && rc != -EISDIR) {
        abort();
    }
    if (proc_read(root, 4343, &p) != -ENOENT)
        abort();

    if (proc_snapshot(root, &v, &n) != 0 || n > 1)
        abort();
    for (size_t i = 0; i < n; i++)
        check(&v[i]);
    proc_snapshot_free(v, n);

    memset(id, 'x', sizeof(id));
    proc_container_id(root, 4242, id, sizeof(id));
    if (id[0]) {
        if (strlen(id) != 64)
            abort();
        for (size_t i = 0; i < 64; i++)
            if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
                abort();
    }
    return 0;
}
