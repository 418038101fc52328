/*
 * vigilctl collect, collections, collection get: triage packages.
 *
 * collect queues the command, waits for the agent to build the package
 * and for the collector to hold it whole, then downloads it and checks
 * its SHA-256 against the collector's record.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "ctl.h"
#include "util.h"
#include "vjson.h"
#include "wire.h"

#define CTL_EXIT_PENDING 3

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/*
 * collect's progress on stderr (--progress): on a terminal one line,
 * redrawn in place; as JSON lines for scripts; or nothing.  The states,
 * in order (the collector's command states, then its collection's):
 *
 *   queued       the collector holds the command (the host is offline, or
 *                has not been sent it yet)
 *   sent         the agent has it (delivered), not yet started
 *   collecting   the agent is building the package (running)
 *   uploading    the package is arriving at the collector (receiving);
 *                its size is known only once the last chunk is in
 *   downloading  vigilctl is fetching the complete package
 *   done         written and verified (JSON only)
 */
enum { PROG_NONE, PROG_TTY, PROG_JSON };

struct progress {
    int mode;
    const char *cmd_id, *agent;
    char host[256];            /* as the collector names it (raw) */
    const char *state;         /* the state last shown; NULL before the first */
    char note[512];            /* a sentence for people: where it is */
    int64_t last_seen_ms;      /* the host's, while it is offline; 0 unknown */
    uint64_t t0;               /* the start of the wait (monotonic ms) */
    uint64_t phase_ms, phase_bytes; /* the rate is measured from here */
    uint64_t shown_ms;
    int wrote_to_stderr;       /* the "wrote FILE" line: stdout holds a JSON document */
};

/* Appends to buf (len bytes, *n used so far), cutting what does not fit. */
static void append(char *buf, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (*n >= len - 1)
        return;
    va_start(ap, fmt);
    w = vsnprintf(buf + *n, len - *n, fmt, ap);
    va_end(ap);
    if (w > 0)
        *n = (size_t)w >= len - *n ? len - 1 : *n + (size_t)w;
}

/* Shows state (one of the names above) with bytes so far of total (0:
 * unknown) where has_bytes, and p->note.  Redraws the terminal line at
 * most 5 times a second and writes a JSON line at most once a second,
 * and at once when the state changes. */
static void prog_show(struct progress *p, const char *state, int has_bytes, uint64_t bytes,
                      uint64_t total)
{
    uint64_t now = vg_time_mono_ms(), rate = 0, eta_ms = 0;
    int changed = !p->state || strcmp(p->state, state) != 0;

    if (p->mode == PROG_NONE)
        return;
    if (changed) {
        p->state = state;
        p->phase_ms = now;
        p->phase_bytes = bytes;
    } else if (now - p->shown_ms < (p->mode == PROG_JSON ? 1000u : 200u)) {
        return;
    }
    p->shown_ms = now;
    if (has_bytes && now - p->phase_ms >= 500 && bytes > p->phase_bytes)
        rate = (bytes - p->phase_bytes) * 1000 / (now - p->phase_ms);
    if (rate && total > bytes)
        eta_ms = (total - bytes) / rate * 1000 + (total - bytes) % rate * 1000 / rate;
    if (p->mode == PROG_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "time", vg_json_time(vg_time_now_ms()));
        json_object_set_new(o, "state", json_string(state));
        json_object_set_new(o, "command_id", json_string(p->cmd_id));
        json_object_set_new(o, "agent_id", json_string(p->agent));
        json_object_set_new(o, "hostname", vg_json_text(p->host));
        json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)(now - p->t0)));
        if (strcmp(state, "queued") == 0)
            json_object_set_new(o, "last_seen", vg_json_time(p->last_seen_ms));
        if (has_bytes) {
            json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
            json_object_set_new(o, "total_bytes",
                                total ? json_integer((json_int_t)total) : json_null());
            json_object_set_new(o, "rate_bytes_per_s",
                                rate ? json_integer((json_int_t)rate) : json_null());
            json_object_set_new(o, "eta_s", eta_ms ? json_integer((json_int_t)(eta_ms + 999) / 1000)
                                                   : json_null());
        }
        json_object_set_new(o, "message", vg_json_text(p->note));
        json_dumpf(o, stderr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        fputc('\n', stderr);
        fflush(stderr);
    } else {
        char line[1024], esc[1024], a[VG_FMT_MAX], b[VG_FMT_MAX];
        size_t n = 0;
        append(line, sizeof(line), &n, "collect: %s", ctl_text(esc, sizeof(esc), p->note));
        if (has_bytes) {
            append(line, sizeof(line), &n, ": %s", vg_fmt_size(bytes, a, sizeof(a)));
            if (total)
                append(line, sizeof(line), &n, " of %s (%llu%%)", vg_fmt_size(total, b, sizeof(b)),
                       (unsigned long long)(bytes * 100 / total));
            if (rate)
                append(line, sizeof(line), &n, ", %s/s", vg_fmt_size(rate, a, sizeof(a)));
            if (eta_ms)
                append(line, sizeof(line), &n, ", ETA %s", vg_fmt_elapsed(eta_ms, b, sizeof(b)));
        }
        append(line, sizeof(line), &n, " [%s]", vg_fmt_elapsed(now - p->t0, a, sizeof(a)));
        ctl_status(line);
    }
}

/* The sentence for a host that is offline, or for one that is not. */
static void prog_host(struct ctl *ctl, struct progress *p, int connected)
{
    const Vigil__V1__HostInfo *h = NULL;
    void *owner = NULL;
    char t[VG_TIME_STR_MAX];

    p->last_seen_ms = 0;
    /* Best effort: the collector told us whether it was connected; the
     * last-seen time is a second query (its errors are not collect's). */
    if (!connected && ctl_resolve_host(ctl, p->agent, &h, &owner) == 0) {
        connected = h->connected;
        p->last_seen_ms = h->last_seen_time_ms;
        ctl_call_free(owner);
    }
    if (connected)
        snprintf(p->note, sizeof(p->note), "queued: host %s is connected; the collector has "
                 "not sent the request yet", p->host);
    else if (p->last_seen_ms)
        snprintf(p->note, sizeof(p->note), "queued: host %s is offline (last seen %s); the "
                 "agent will run it when it reconnects", p->host,
                 vg_time_format(p->last_seen_ms, t, sizeof(t)));
    else
        snprintf(p->note, sizeof(p->note), "queued: host %s is offline (never seen); the agent "
                 "will run it when it connects", p->host);
}

static json_t *coll_json(const Vigil__V1__CollectionInfo *c)
{
    json_t *o = json_object(), *dl = json_array();
    json_object_set_new(o, "collection_id", json_string(c->collection_id));
    json_object_set_new(o, "command_id", json_string(c->command_id));
    json_object_set_new(o, "agent_id", json_string(c->agent_id));
    json_object_set_new(o, "hostname", json_string(c->hostname));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "state", json_string(c->state));
    json_object_set_new(o, "error", json_string(c->error));
    json_object_set_new(o, "operator", json_string(c->operator_));
    json_object_set_new(o, "reason", json_string(c->reason));
    json_object_set_new(o, "requested", vg_json_time(c->requested_time_ms));
    json_object_set_new(o, "started", vg_json_time(c->started_time_ms));
    json_object_set_new(o, "completed", vg_json_time(c->completed_time_ms));
    json_object_set_new(o, "size", json_integer((json_int_t)c->size));
    json_object_set_new(o, "received", json_integer((json_int_t)c->received));
    json_object_set_new(o, "chunks", json_integer(c->chunks));
    json_object_set_new(o, "sha256", json_string(c->sha256));
    for (size_t i = 0; i < c->n_downloads; i++)
        json_array_append_new(dl, json_pack("{s:s, s:o, s:s}", "operator",
                                            c->downloads[i]->operator_, "time",
                                            vg_json_time(c->downloads[i]->time_ms), "peer",
                                            c->downloads[i]->peer));
    json_object_set_new(o, "downloads", dl);
    return o;
}

/* One query.  Returns 0 with *resp, or an exit status. */
static int query(struct ctl *ctl, const char *agent, const char *id, const char *command,
                 Vigil__V1__OperatorResponse **resp, void **owner)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CollectionsQuery q = VIGIL__V1__COLLECTIONS_QUERY__INIT;
    q.agent_id = (char *)(agent ? agent : "");
    q.collection_id = (char *)(id ? id : "");
    q.command_id = (char *)(command ? command : "");
    req.request_id = 35;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECTIONS;
    req.collections = &q;
    return ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTIONS, resp, owner);
}

/* -o FILE names evidence: an existing file is replaced only with --force.
 * Returns 0, or prints why not and returns CTL_EXIT_FAIL. */
static int refuse_existing(const char *path, int force)
{
    struct stat st;
    if (force || lstat(path, &st) != 0)
        return 0;
    return ctl_err("%s exists; it was left unchanged (give --force to replace it)", path);
}

/* Moves the finished download into place; without force, never over an
 * existing file (RENAME_NOREPLACE; link() where the file system lacks it).
 * Returns 0 or an errno. */
static int place(const char *tmp, const char *path, int force)
{
    if (force)
        return rename(tmp, path) == 0 ? 0 : errno;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    if (link(tmp, path) != 0)
        return errno;
    unlink(tmp);
    return 0;
}

/* Downloads a complete collection into path and checks its hash,
 * showing progress on p (NULL: none).  Returns an exit status. */
static int download(struct ctl *ctl, const char *id, const char *path, int force,
                    struct progress *p)
{
    struct vg_sha256 *h = vg_sha256_new();
    uint8_t d[VG_SHA256_LEN];
    char hex[VG_SHA256_HEX], want[VG_SHA256_HEX] = "", tmp[4200];
    uint64_t off = 0, total = 0;
    int fd, rc = CTL_EXIT_OK;

    snprintf(tmp, sizeof(tmp), "%s.part", path);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !h) {
        if (fd >= 0)
            close(fd);
        if (h)
            vg_sha256_final(h, d);
        return ctl_err("cannot write %s: %s", tmp, strerror(errno));
    }
    if (p) {
        snprintf(p->note, sizeof(p->note), "downloading %s", path);
        prog_show(p, "downloading", 1, 0, 0);
    }
    for (;;) {
        Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
        Vigil__V1__CollectionGet g = VIGIL__V1__COLLECTION_GET__INIT;
        Vigil__V1__OperatorResponse *resp;
        const Vigil__V1__CollectionData *cd;
        void *owner;
        g.collection_id = (char *)id;
        g.offset = off;
        g.max_bytes = 1024 * 1024;
        req.request_id = 36;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECTION_GET;
        req.collection_get = &g;
        if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTION_DATA,
                            &resp, &owner)) != 0)
            break;
        cd = resp->collection_data;
        total = cd->total_size;
        vg_strlcpy(want, cd->sha256, sizeof(want));
        if (cd->offset != off || (cd->data.len == 0 && off < total) ||
            write(fd, cd->data.data, cd->data.len) != (ssize_t)cd->data.len) {
            ctl_call_free(owner);
            rc = ctl_err("download of %s failed at offset %llu", id, (unsigned long long)off);
            break;
        }
        vg_sha256_update(h, cd->data.data, cd->data.len);
        off += cd->data.len;
        ctl_call_free(owner);
        if (off >= total)
            break;
        if (p)
            prog_show(p, "downloading", 1, off, total);
    }
    if (p)
        ctl_status_end();
    vg_sha256_final(h, d);
    if (fsync(fd) != 0 && rc == 0)
        rc = ctl_err("cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    vg_hex(d, sizeof(d), hex);
    if (strcmp(hex, want) != 0) {
        unlink(tmp);
        return ctl_err("downloaded %s but its SHA-256 %s is not the collector's record %s; "
                       "nothing written", id, hex, want);
    }
    if ((rc = place(tmp, path, force)) != 0) {
        unlink(tmp);
        if (rc == EEXIST)
            return ctl_err("%s exists; it was left unchanged (give --force to replace it; "
                           "the collector keeps the package: vigilctl collection get %s -o FILE)",
                           path, id);
        return ctl_err("cannot write %s: %s", path, strerror(rc));
    }
    if (p && p->mode == PROG_JSON) {
        snprintf(p->note, sizeof(p->note), "wrote %s", path);
        p->shown_ms = 0;
        prog_show(p, "done", 1, total, total);
    }
    fprintf(p && p->wrote_to_stderr ? stderr : stdout,
            "wrote %s: %llu bytes, sha256 %s (matches the collector's record)\n", path,
            (unsigned long long)total, hex);
    return CTL_EXIT_OK;
}

/* Waits until the package of command cmd_id (for agent) is complete,
 * or deadline (monotonic ms) passes, showing progress on prog; then
 * downloads it to outp (NULL: triage-AGENT-ID.tar.lz4 here).  Returns an
 * exit status (3: not ready when the wait ended). */
static int collect_wait(struct ctl *ctl, struct progress *prog, const char *cmd_id,
                        const char *agent, const char *outp, int force, uint64_t deadline)
{
    Vigil__V1__OperatorResponse *resp;
    void *owner;
    char out_name[300], coll_id[64];
    long pause = 100;
    int rc, cmd_state = 0, arriving = 0;
    uint64_t got = 0, size = 0, host_checked = vg_time_mono_ms();
    for (;;) {
        const Vigil__V1__CollectionInfo *ci = NULL;
        if ((rc = query(ctl, NULL, NULL, cmd_id, &resp, &owner)) != 0)
            return rc;
        if (resp->collections->n_collections)
            ci = resp->collections->collections[0];
        if (ci && strcmp(ci->state, "complete") == 0) {
            vg_strlcpy(coll_id, ci->collection_id, sizeof(coll_id));
            if (outp) {
                snprintf(out_name, sizeof(out_name), "%s", outp);
            } else {
                /* Our own name, never the host's: it could say ".bashrc". */
                char safe[80];
                size_t k = 0;
                for (const char *p = agent; *p && k < sizeof(safe) - 1; p++)
                    safe[k++] = (char)(((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                        (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
                                           ? *p
                                           : '_');
                safe[k] = '\0';
                snprintf(out_name, sizeof(out_name), "triage-%s-%.8s.tar.lz4", safe, coll_id);
                if (!force && access(out_name, F_OK) == 0) {
                    ctl_call_free(owner);
                    return ctl_err("%s exists; give -o FILE or --force (the package is kept "
                                   "by the collector: vigilctl collection get %s -o FILE)",
                                   out_name, coll_id);
                }
            }
            ctl_call_free(owner);
            break;
        }
        if (ci && strcmp(ci->state, "failed") == 0) {
            rc = ctl_err("the collection failed: %s", ci->error);
            ctl_call_free(owner);
            return rc;
        }
        if (ci) {
            arriving = 1;
            got = ci->received;
            size = ci->size;
        }
        ctl_call_free(owner);
        {
            /* The command itself may have failed (no package at all). */
            Vigil__V1__OperatorRequest r2 = VIGIL__V1__OPERATOR_REQUEST__INIT;
            Vigil__V1__CommandsQuery q2 = VIGIL__V1__COMMANDS_QUERY__INIT;
            q2.command_id = (char *)cmd_id;
            q2.limit = 1;
            r2.request_id = 32;
            r2.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMANDS;
            r2.commands = &q2;
            if (ctl_query(ctl, &r2, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS, &resp,
                          &owner) == 0) {
                int st = resp->commands->n_commands ? (int)resp->commands->commands[0]->state : 0;
                cmd_state = st;
                if (st >= VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED) {
                    ctl_status_end();
                    fprintf(stderr, "vigilctl: collect %s: ", vg_command_state_name(st));
                    ctl_call_free(owner);
                    return ctl_err("see 'vigilctl commands --id %s'", cmd_id);
                }
                ctl_call_free(owner);
            }
        }
        if (arriving) {
            snprintf(prog->note, sizeof(prog->note), "uploading from %s to the collector",
                     prog->host);
            prog_show(prog, "uploading", 1, got, size);
        } else if (cmd_state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED) {
            /* Offline hosts come back: look again now and then. */
            if (prog->mode != PROG_NONE && vg_time_mono_ms() - host_checked >= 5000) {
                prog_host(ctl, prog, 0);
                host_checked = vg_time_mono_ms();
            }
            prog_show(prog, "queued", 0, 0, 0);
        } else if (cmd_state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_DELIVERED) {
            snprintf(prog->note, sizeof(prog->note), "sent to the agent on %s; waiting for it to "
                     "start", prog->host);
            prog_show(prog, "sent", 0, 0, 0);
        } else {
            snprintf(prog->note, sizeof(prog->note), "collecting: the agent on %s is building it",
                     prog->host);
            prog_show(prog, "collecting", 0, 0, 0);
        }
        if (vg_time_mono_ms() >= deadline) {
            ctl_status_end();
            /* Say exactly where it is: not received, being built, arriving. */
            if (arriving && size)
                fprintf(stderr, "vigilctl: the package is arriving: %llu of %llu bytes so far.\n",
                        (unsigned long long)got, (unsigned long long)size);
            else if (arriving)
                fprintf(stderr, "vigilctl: the package is arriving: %llu bytes so far.\n",
                        (unsigned long long)got);
            else if (cmd_state == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED)
                fprintf(stderr, "vigilctl: the agent has not received the request: the host is "
                                "offline or has not connected since; it gets it when it "
                                "reconnects, unless the command expires first.\n");
            else
                fprintf(stderr, "vigilctl: the agent is building the package (command %s).\n",
                        cmd_state ? vg_command_state_name(cmd_state) : "sent");
            fprintf(stderr, "vigilctl: the request stands. Follow it with 'vigilctl commands --id "
                            "%s' and 'vigilctl collections --command %s'; once the package is "
                            "complete, 'vigilctl collection get ID -o FILE' fetches it.\n",
                    cmd_id, cmd_id);
            return CTL_EXIT_PENDING;
        }
        sleep_ms(pause);
        if (pause < 1000)
            pause *= 2;
    }
    return download(ctl, coll_id, out_name, force, prog);
}

void ctl_usage_collect(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] collect HOST --reason TEXT [-o FILE [--force]]\n"
            "                                   [--max-size SIZE] [--max-time D] [--no-wait]\n"
            "                                   [--timeout D] [--progress auto|json|none]\n"
            "       vigilctl [OPTIONS] collect {--tag K=V... | HOST HOST...} --reason TEXT\n"
            "                                   [--yes | --dry-run] [OPTIONS]\n"
            "\n"
            "Collects a triage package from HOST: processes (exe, argv, user, exe SHA-256),\n"
            "sockets and their processes, logins, accounts, sudoers, cron, unpackaged systemd\n"
            "units and timers, kernel modules, mounts, packages, listings of /tmp, /var/tmp,\n"
            "/dev/shm and authorized_keys, and the logs' tails.  The agent builds it (a tar\n"
            "archive in the lz4 frame format, with triage/manifest.json giving every item's\n"
            "SHA-256 and every skip) and streams it to the collector, which records its\n"
            "chain of custody.  Then vigilctl downloads it and checks its SHA-256.  Needs\n"
            "the responder or admin role; the request and every download are audited.\n"
            "\n"
            "  --reason TEXT    why (required)\n"
            "  -o FILE          where to write it (default: triage-HOST-ID.tar.lz4, here);\n"
            "                   an existing file is refused before anything is queued\n"
            "  --force          replace FILE if it exists\n"
            "  --max-size SIZE  bound on the items' total (default 256M); what does not fit\n"
            "                   is listed in the manifest as skipped\n"
            "  --max-time D     bound on the collection's time (default 5m)\n"
            "  --no-wait        return once the command is queued\n"
            "  --timeout D      how long to wait for the package (default 10m)\n"
            "  --progress MODE  auto (default): on a terminal, one line on stderr redrawn in\n"
            "                   place with the state (queued, sent, collecting, uploading,\n"
            "                   downloading), bytes, rate and time left; nothing otherwise.\n"
            "                   json: one JSON object a line on stderr, at each change of\n"
            "                   state and at most once a second: {time, state, command_id,\n"
            "                   agent_id, hostname, elapsed_ms, [last_seen], [bytes,\n"
            "                   total_bytes, rate_bytes_per_s, eta_s], message}, ending with\n"
            "                   state done.  none: no progress\n"
            "\n"
            "Several hosts at once: --tag KEY=VALUE (repeatable) or several HOSTs, shown\n"
            "and confirmed as for 'vigilctl isolate' (--yes, --dry-run); each package is\n"
            "written here as triage-HOST-ID.tar.lz4 (-o is refused), one line per host,\n"
            "then one summary.\n"
            "\n"
            "Exit status: 0 downloaded and verified, 1 failed, 2 usage, 3 not ready when the\n"
            "wait ended (see 'vigilctl collections').  Several hosts: 1 if any failed or\n"
            "was refused, else 3 if any is not ready, else 0.\n");
}

static const struct option collect_long[] = {
    { "reason", required_argument, NULL, 'r' },
    { "output", required_argument, NULL, 'o' },
    { "max-size", required_argument, NULL, 's' },
    { "max-time", required_argument, NULL, 't' },
    { "no-wait", no_argument, NULL, 'n' },
    { "timeout", required_argument, NULL, 'T' },
    { "progress", required_argument, NULL, 'p' },
    { "force", no_argument, NULL, 'f' },
    { "tag", required_argument, NULL, 'g' },
    { "yes", no_argument, NULL, 'y' },
    { "dry-run", no_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_collect[] = {
    { NULL, ":ho:", collect_long },
    { NULL, NULL, NULL },
};

/* collect on a selection: confirm, one request per host (checked and
 * audited as one host's), then each package waited for and downloaded in
 * turn (the agents build them meanwhile), one line each, one summary. */
static int fleet_collect(struct ctl *ctl, struct ctl_fleet *f, const char *reason,
                         uint64_t max_size, uint64_t max_ms, int nowait, int force, int progress,
                         uint64_t timeout_ms)
{
    uint64_t deadline;
    char sel[600];
    int rc;

    if ((rc = ctl_fleet_confirm(ctl, "collect", f)) != 0)
        return rc < 0 ? CTL_EXIT_OK : rc;
    snprintf(sel, sizeof(sel), "%s, %zu host%s", f->selection, f->n, f->n == 1 ? "" : "s");
    if (!ctl->json) {
        printf("collect %zu host%s (", f->n, f->n == 1 ? "" : "s");
        ctl_put_text(f->selection);
        printf(")\n");
    }
    for (size_t i = 0; i < f->n; i++) {
        Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
        Vigil__V1__CollectRequest cq = VIGIL__V1__COLLECT_REQUEST__INIT;
        Vigil__V1__OperatorResponse *resp = NULL;
        struct ctl_target *t = &f->t[i];
        void *owner = NULL;
        cq.agent_id = t->agent_id;
        cq.reason = (char *)reason;
        cq.max_bytes = max_size;
        cq.max_seconds = (uint32_t)(max_ms / 1000);
        cq.selection = sel;
        req.request_id = 34;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECT;
        req.collect = &cq;
        if (ctl_call(ctl, &req, &resp, &owner) != 0) {
            snprintf(t->message, sizeof(t->message), "no answer from the collector");
            ctl_fleet_line(ctl, t, "not queued", t->message);
            break;
        }
        if (!resp->ok || resp->response_case != VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND) {
            snprintf(t->message, sizeof(t->message), "%s",
                     resp->error && resp->error->message[0] ? resp->error->message
                                                            : "unexpected answer");
            ctl_fleet_line(ctl, t, "refused", t->message);
        } else {
            char what[128];
            vg_strlcpy(t->command_id, resp->command->command_id, sizeof(t->command_id));
            vg_strlcpy(t->hostname, resp->command->hostname, sizeof(t->hostname));
            t->state = resp->command->state;
            snprintf(what, sizeof(what), "command %s", t->command_id);
            ctl_fleet_line(ctl, t, what, ctl_queued_note(resp->command));
        }
        ctl_call_free(owner);
    }
    if (nowait)
        return ctl_fleet_summary(ctl, "collect", f, 0);
    deadline = vg_time_mono_ms() + timeout_ms;
    for (size_t i = 0; i < f->n; i++) {
        struct ctl_target *t = &f->t[i];
        struct progress prog;
        if (!t->command_id[0])
            continue;
        memset(&prog, 0, sizeof(prog));
        prog.mode = progress >= 0 ? progress : isatty(STDERR_FILENO) ? PROG_TTY : PROG_NONE;
        prog.cmd_id = t->command_id;
        prog.agent = t->agent_id;
        prog.t0 = vg_time_mono_ms();
        prog.wrote_to_stderr = ctl->json;
        vg_strlcpy(prog.host, t->hostname, sizeof(prog.host));
        prog_host(ctl, &prog, t->state != VIGIL__V1__COMMAND_STATE__COMMAND_STATE_QUEUED);
        rc = collect_wait(ctl, &prog, t->command_id, t->agent_id, NULL, force, deadline);
        t->state = rc == CTL_EXIT_OK        ? VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED
                   : rc == CTL_EXIT_PENDING ? VIGIL__V1__COMMAND_STATE__COMMAND_STATE_RUNNING
                                            : VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED;
        ctl_fleet_line(ctl, t, rc == CTL_EXIT_OK ? "collected" : rc == CTL_EXIT_PENDING
                                                                   ? "not ready yet"
                                                                   : "failed", "");
    }
    return ctl_fleet_summary(ctl, "collect", f, 1);
}

int ctl_cmd_collect(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CollectRequest cq = VIGIL__V1__COLLECT_REQUEST__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    const char *reason = NULL, *outp = NULL;
    char agent[256], cmd_id[64], hn[1024], ai[1024], nb[2048];
    uint64_t max_size = 0, max_ms = 0, timeout_ms = 600000;
    int c, rc, nowait = 0, force = 0, progress = -1;
    struct ctl_fleet fleet;
    struct progress prog;

    memset(&fleet, 0, sizeof(fleet));
    while ((c = ctl_getopt(argc, argv, ctl_opts_collect)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'o': outp = optarg; break;
        case 's':
            if (vg_parse_size(optarg, &max_size) || !max_size)
                return ctl_usage_err("collect", "--max-size '%s': a size like 100M", optarg);
            break;
        case 't':
            if (vg_parse_duration(optarg, &max_ms) || max_ms < 1000)
                return ctl_usage_err("collect", "--max-time '%s': a duration like 5m", optarg);
            break;
        case 'n': nowait = 1; break;
        case 'p':
            if (strcmp(optarg, "auto") == 0)
                progress = -1;
            else if (strcmp(optarg, "json") == 0)
                progress = PROG_JSON;
            else if (strcmp(optarg, "none") == 0)
                progress = PROG_NONE;
            else
                return ctl_usage_err("collect", "--progress '%s': auto, json or none", optarg);
            break;
        case 'f': force = 1; break;
        case 'g':
            if ((rc = ctl_fleet_tag(&fleet, "collect", optarg)) != 0)
                return rc;
            break;
        case 'y': fleet.yes = 1; break;
        case 'd': fleet.dry_run = 1; break;
        case 'T':
            if (vg_parse_duration(optarg, &timeout_ms))
                return ctl_usage_err("collect", "--timeout '%s': a duration like 10m", optarg);
            break;
        case 'h': ctl_usage_collect(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("collect", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("collect", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (ctl_fleet_wanted(&fleet, argc - optind)) {
        if (outp)
            return ctl_usage_err("collect", "-o names one file; with several hosts each package "
                                 "is written here as triage-HOST-ID.tar.lz4");
        if (!reason || !reason[0])
            return ctl_usage_err("collect", "--reason TEXT is required: it goes to the audit log");
        if ((rc = ctl_fleet_select(ctl, "collect", &fleet, argv + optind, argc - optind)) == 0)
            rc = fleet_collect(ctl, &fleet, reason, max_size, max_ms, nowait, force,
                               progress, timeout_ms);
        ctl_fleet_free(&fleet);
        return rc;
    }
    if (optind + 1 != argc)
        return ctl_usage_err("collect", "give exactly one HOST");
    if (!reason || !reason[0])
        return ctl_usage_err("collect", "--reason TEXT is required: it goes to the audit log");
    if (outp && (rc = refuse_existing(outp, force)) != 0)
        return rc;
    if ((rc = ctl_resolve_agent_id(ctl, argv[optind], agent, sizeof(agent))) != 0)
        return rc;
    cq.agent_id = agent;
    cq.reason = (char *)reason;
    cq.max_bytes = max_size;
    cq.max_seconds = (uint32_t)(max_ms / 1000);
    req.request_id = 34;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COLLECT;
    req.collect = &cq;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMAND, &resp,
                        &owner)) != 0)
        return rc;
    memset(&prog, 0, sizeof(prog));
    prog.mode = progress >= 0 ? progress : isatty(STDERR_FILENO) ? PROG_TTY : PROG_NONE;
    if (nowait)
        prog.mode = PROG_NONE;
    prog.cmd_id = cmd_id;
    prog.agent = agent;
    prog.t0 = vg_time_mono_ms();
    vg_strlcpy(cmd_id, resp->command->command_id, sizeof(cmd_id));
    vg_strlcpy(prog.host, resp->command->hostname, sizeof(prog.host));
    prog_host(ctl, &prog, resp->command->agent_connected);
    /* The command's id, and where it stands, whatever --progress says
     * (a JSON line instead with --progress json). */
    if (prog.mode != PROG_JSON)
        fprintf(nowait ? stdout : stderr, "command %s: collect %s (%s) %s\n", cmd_id,
                ctl_text(hn, sizeof(hn), resp->command->hostname),
                ctl_text(ai, sizeof(ai), agent),
                resp->command->agent_connected ? ctl_queued_note(resp->command)
                                               : ctl_text(nb, sizeof(nb), prog.note));
    ctl_call_free(owner);
    if (nowait)
        return CTL_EXIT_OK;
    /* The package arrives under the command's id. */
    return collect_wait(ctl, &prog, cmd_id, agent, outp, force, vg_time_mono_ms() + timeout_ms);
}

void ctl_usage_collections(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] collections [HOST] [--command ID]\n"
            "       vigilctl [OPTIONS] collection get ID -o FILE [--force]\n"
            "\n"
            "Lists the triage packages the collector holds, newest first, with their chain\n"
            "of custody: who asked and why, when it arrived (in how many chunks), its size\n"
            "and SHA-256, and every download.  'collection get' downloads one again and\n"
            "checks its SHA-256 (responder or admin; audited).  It never replaces an\n"
            "existing FILE unless --force is given.\n"
            "\n"
            "  --command ID     only the package of that collect command\n"
            "  -o FILE          (collection get) where to write it\n"
            "  --force          (collection get) replace FILE if it exists\n"
            "\n"
            "With --json (before the command): an array of {collection_id, command_id,\n"
            "agent_id, hostname, name, state, error, operator, reason, requested, started,\n"
            "completed, size, received, chunks, sha256, downloads: [{operator, time, peer}]}.\n");
}

static const struct option collections_long[] = {
    { "command", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_collections[] = {
    { NULL, ":h", collections_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_collections(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorResponse *resp;
    void *owner;
    const char *command = NULL;
    char agent[256] = "";
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_collections)) != -1) {
        switch (c) {
        case 'c': command = optarg; break;
        case 'h': ctl_usage_collections(stdout); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err("collections", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("collections", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 < argc)
        return ctl_usage_err("collections", "unexpected argument '%s'", argv[optind + 1]);
    if (optind < argc &&
        (rc = ctl_resolve_agent_id(ctl, argv[optind], agent, sizeof(agent))) != 0)
        return rc;
    if ((rc = query(ctl, agent, NULL, command, &resp, &owner)) != 0)
        return rc;
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < resp->collections->n_collections; i++)
            json_array_append_new(a, coll_json(resp->collections->collections[i]));
        ctl_print_json(a);
        json_decref(a);
    } else {
        size_t wi = 2;
        for (size_t i = 0; i < resp->collections->n_collections; i++)
            if (strlen(resp->collections->collections[i]->collection_id) > wi)
                wi = strlen(resp->collections->collections[i]->collection_id);
        /* Each package takes several lines; the header names the first. */
        printf("%-*s  %-9s %s\n", (int)wi, "ID", "STATE", "HOSTNAME (AGENT ID)  NAME");
        for (size_t i = 0; i < resp->collections->n_collections; i++) {
            const Vigil__V1__CollectionInfo *ci = resp->collections->collections[i];
            char t1[VG_TIME_STR_MAX], t2[VG_TIME_STR_MAX];
            printf("%-*s  %-9s ", (int)wi, ci->collection_id, ci->state);
            ctl_put_text(ci->hostname);
            printf(" (");
            ctl_put_text(ci->agent_id);
            printf(")  ");
            ctl_put_text(ci->name);
            printf("\n    asked by ");
            ctl_put_text(ci->operator_);
            printf(" at %s: ", vg_time_format(ci->requested_time_ms, t1, sizeof(t1)));
            ctl_put_text(ci->reason);
            printf("\n    %llu bytes in %u chunks, complete %s, sha256 %s\n",
                   (unsigned long long)(ci->size ? ci->size : ci->received), ci->chunks,
                   ci->completed_time_ms ? vg_time_format(ci->completed_time_ms, t2, sizeof(t2))
                                         : "-",
                   ci->sha256[0] ? ci->sha256 : "-");
            if (ci->error[0]) {
                printf("    error: ");
                ctl_put_text(ci->error);
                printf("\n");
            }
            for (size_t k = 0; k < ci->n_downloads; k++) {
                printf("    downloaded by ");
                ctl_put_text(ci->downloads[k]->operator_);
                printf(" (%s) at %s\n", ci->downloads[k]->peer,
                       vg_time_format(ci->downloads[k]->time_ms, t1, sizeof(t1)));
            }
        }
        printf("%zu collections\n", resp->collections->n_collections);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

static const struct option collection_long[] = {
    { "output", required_argument, NULL, 'o' },
    { "force", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_collection[] = {
    { NULL, ":ho:", collection_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_collection(struct ctl *ctl, int argc, char **argv)
{
    const char *outp = NULL;
    int c, rc, force = 0;

    while ((c = ctl_getopt(argc, argv, ctl_opts_collection)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'f': force = 1; break;
        case 'h': ctl_usage_collections(stdout); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err("collection", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("collection", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 2 != argc || strcmp(argv[optind], "get") != 0)
        return ctl_usage_err("collection", "expected: collection get ID -o FILE");
    if (!outp)
        return ctl_usage_err("collection", "-o FILE is required");
    if ((rc = refuse_existing(outp, force)) != 0)
        return rc;
    return download(ctl, argv[optind + 1], outp, force, NULL);
}
