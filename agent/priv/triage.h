/*
 * Triage collection (cmd_triage.c): the host's volatile state and key
 * artefacts, packaged for a responder as a tar archive in the lz4 frame
 * format (`lz4 -d FILE | tar t` lists it):
 *
 *   triage/manifest.json     every item: archive path, source, how it was
 *                            read, size, SHA-256; every skip and error; the
 *                            sources looked for that this host does not have
 *   triage/processes.json    pid, parent, user, exe, argv, exe SHA-256
 *   triage/sockets.json      TCP/UDP sockets (/proc/net) and their processes
 *   triage/logins.json       utmp (logged in now) and wtmp (recent logins)
 *   triage/packages.json     the package inventory
 *   triage/listings.json     /tmp, /var/tmp, /dev/shm, ~/.ssh/authorized_keys
 *   triage/units.json        systemd units and timers; which no package owns
 *   triage/journal.export or triage/files/var/log/...   the logs' tails
 *   triage/files/...         copies: passwd, group, sudoers, cron tables,
 *                            unpackaged units, /proc/modules, /proc/1/mountinfo
 *
 * Built within a size bound (the items' total) and a time bound: what
 * does not fit is listed in the manifest as skipped, never left out
 * silently.  Nothing is collected by running a shell.
 */
#ifndef VG_TRIAGE_H
#define VG_TRIAGE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "crypto.h"
#include "vigil/v1/envelope.pb-c.h"

struct triage_opts {
    uint64_t max_bytes;     /* items' total size */
    uint64_t max_seconds;
    uint64_t hash_max;      /* files larger than this are listed unhashed */
    const char *agent_id, *command_id, *operator_name, *reason;
    const struct vg_strlist *extra; /* more globs to copy (may be NULL) */
};

struct triage_result {
    uint64_t size;          /* of the archive */
    uint8_t sha256[VG_SHA256_LEN];
    unsigned items, skipped, errors;
    uint64_t content_bytes; /* the items' total */
};

/* Writes the package to path (0600; replaced if present).  Safe on a
 * worker thread.  Returns 0, or an error with err (the package could not
 * be written at all; items that fail are only recorded). */
int triage_build(const struct triage_opts *o, const char *path, struct triage_result *r,
                 char *err, size_t errlen);

struct agent;
/* Runs a collect command: the package is built on a worker thread and
 * queued for upload; done(ctx, vigil.v1.CommandState, message) once. */
typedef void (*triage_done_fn)(void *ctx, int state, const char *message);
void triage_command(struct agent *a, const Vigil__V1__Command *cmd, triage_done_fn done,
                    void *ctx);

/* Makes builds in progress finish at once (the rest listed as skipped):
 * the agent is stopping.  Safe from any thread. */
void triage_abort(void);

/* vigil-agent triage -o FILE [--max-size SIZE] [--max-time D]. */
int agent_triage_main(int argc, char **argv);

#endif
