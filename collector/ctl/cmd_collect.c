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

/* Downloads a complete collection into path and checks its hash.
 * Returns an exit status. */
static int download(struct ctl *ctl, const char *id, const char *path, int force, int quiet)
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
    }
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
    if (!quiet)
        printf("wrote %s: %llu bytes, sha256 %s (matches the collector's record)\n", path,
               (unsigned long long)total, hex);
    return CTL_EXIT_OK;
}

void ctl_usage_collect(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] collect HOST --reason TEXT [-o FILE [--force]]\n"
            "                                   [--max-size SIZE] [--max-time D] [--no-wait]\n"
            "                                   [--timeout D]\n"
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
            "\n"
            "Exit status: 0 downloaded and verified, 1 failed, 2 usage, 3 not ready when the\n"
            "wait ended (see 'vigilctl collections').\n");
}

static const struct option collect_long[] = {
    { "reason", required_argument, NULL, 'r' },
    { "output", required_argument, NULL, 'o' },
    { "max-size", required_argument, NULL, 's' },
    { "max-time", required_argument, NULL, 't' },
    { "no-wait", no_argument, NULL, 'n' },
    { "timeout", required_argument, NULL, 'T' },
    { "force", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_collect[] = {
    { NULL, ":ho:", collect_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_collect(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__CollectRequest cq = VIGIL__V1__COLLECT_REQUEST__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    const char *reason = NULL, *outp = NULL;
    char agent[256], cmd_id[64], out_name[300], coll_id[64], hn[1024], ai[1024];
    uint64_t max_size = 0, max_ms = 0, timeout_ms = 600000, deadline;
    long pause = 100;
    int c, rc, nowait = 0, force = 0, cmd_state = 0;
    uint64_t got = 0, size = 0;
    int arriving = 0;

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
        case 'f': force = 1; break;
        case 'T':
            if (vg_parse_duration(optarg, &timeout_ms))
                return ctl_usage_err("collect", "--timeout '%s': a duration like 10m", optarg);
            break;
        case 'h': ctl_usage_collect(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("collect", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("collect", "unknown option '%s'", argv[optind - 1]);
        }
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
    vg_strlcpy(cmd_id, resp->command->command_id, sizeof(cmd_id));
    fprintf(nowait ? stdout : stderr, "command %s: collect %s (%s) %s\n", cmd_id,
            ctl_text(hn, sizeof(hn), resp->command->hostname), ctl_text(ai, sizeof(ai), agent),
            resp->command->agent_connected ? "sent to the agent" : "queued: the agent is offline");
    ctl_call_free(owner);
    if (nowait)
        return CTL_EXIT_OK;
    /* The package arrives under the command's id. */
    deadline = vg_time_mono_ms() + timeout_ms;
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
            q2.command_id = cmd_id;
            q2.limit = 1;
            r2.request_id = 32;
            r2.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_COMMANDS;
            r2.commands = &q2;
            if (ctl_query(ctl, &r2, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COMMANDS, &resp,
                          &owner) == 0) {
                int st = resp->commands->n_commands ? (int)resp->commands->commands[0]->state : 0;
                cmd_state = st;
                if (st >= VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED) {
                    fprintf(stderr, "vigilctl: collect %s: ", vg_command_state_name(st));
                    ctl_call_free(owner);
                    return ctl_err("see 'vigilctl commands --id %s'", cmd_id);
                }
                ctl_call_free(owner);
            }
        }
        if (vg_time_mono_ms() >= deadline) {
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
    return download(ctl, coll_id, out_name, force, 0);
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
    return download(ctl, argv[optind + 1], outp, force, 0);
}
