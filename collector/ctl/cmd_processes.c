/*
 * vigilctl processes HOST: stored execs, with their exits; vigilctl
 * process-tree HOST PID: a process's ancestry.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

void ctl_usage_processes(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] processes HOST [--since TIME] [--exe PATH] [--pid N]\n"
            "                [--limit N]\n"
            "\n"
            "Lists the execs stored for HOST (an agent id or unique hostname), oldest\n"
            "first: start time, pid, parent pid, user, executable and arguments, with\n"
            "the exit when it is known.\n"
            "\n"
            "  --since TIME   RFC 3339 time (2026-11-27T10:00:00Z) or a duration back from\n"
            "                 now (90s, 15m, 2h, 7d); default: 1h\n"
            "  --exe PATH     only this executable (the path as exec was given it)\n"
            "  --pid N        only this pid\n"
            "  --limit N      at most N (default and most 10000)\n"
            "\n"
            "With --json (before 'processes'): an array of objects with time, pid, ppid,\n"
            "uid, euid, gid, login_uid, session_id, comm, exe, argv (an array),\n"
            "argv_truncated, cwd, tty, parent_exe, container_id, sha256, hash_note (why no\n"
            "sha256: too big, gone, busy, unreadable), source, similar (more\n"
            "execs this one stands for), forked (a fork still running a second later\n"
            "without exec: its parent's program), unknown (fields the source could not see),\n"
            "exited, exit_time, exit_code, signal, core_dumped, lifetime_ms.  Bytes that\n"
            "are not UTF-8 show as '?'.\n"
            "\n"
            "Examples:\n"
            "  vigilctl processes web-01 --since 30m\n"
            "  vigilctl --json processes web-01 --exe /usr/bin/curl\n");
}

void ctl_usage_process_tree(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] process-tree HOST PID [--at TIME]\n"
            "\n"
            "Shows PID's ancestry on HOST: its latest exec (before --at, default now),\n"
            "its parent as it was when PID started, and so on up to the root.  Ancestors\n"
            "that started before the agent come from process snapshots.  With --json: an\n"
            "array from the root down, objects as in 'vigilctl processes'.\n");
}

static json_t *jbytes(const ProtobufCBinaryData *b)
{
    char *raw = malloc(b->len + 1), *clean;
    json_t *j;
    if (!raw)
        return json_null();
    if (b->len)
        memcpy(raw, b->data, b->len);
    raw[b->len] = '\0';
    clean = vg_utf8_clean(raw);
    free(raw);
    j = clean ? json_string(clean) : json_null();
    free(clean);
    return j ? j : json_null();
}

static json_t *proc_json(const Vigil__V1__StoredProcess *sp)
{
    const Vigil__V1__ProcessExec *x = sp->exec;
    json_t *o = json_object(), *argv = json_array(), *unk = json_array();
    char t[VG_TIME_STR_MAX];
    json_object_set_new(o, "time", json_string(vg_time_format(x->start_time_ms, t, sizeof(t))));
    json_object_set_new(o, "pid", json_integer(x->pid));
    json_object_set_new(o, "ppid", json_integer(x->ppid));
    json_object_set_new(o, "uid", json_integer(x->uid));
    json_object_set_new(o, "euid", json_integer(x->euid));
    json_object_set_new(o, "gid", json_integer(x->gid));
    json_object_set_new(o, "login_uid", json_integer(x->login_uid));
    json_object_set_new(o, "session_id", json_integer(x->session_id));
    json_object_set_new(o, "comm", json_string(x->comm));
    json_object_set_new(o, "exe", jbytes(&x->exe_path));
    for (size_t i = 0; i < x->n_argv; i++)
        json_array_append_new(argv, jbytes(&x->argv[i]));
    json_object_set_new(o, "argv", argv);
    json_object_set_new(o, "argv_truncated", json_boolean(x->argv_truncated));
    json_object_set_new(o, "cwd", jbytes(&x->cwd));
    json_object_set_new(o, "tty", json_string(x->tty));
    json_object_set_new(o, "parent_exe", jbytes(&x->parent_exe));
    json_object_set_new(o, "container_id", json_string(x->container_id));
    json_object_set_new(o, "sha256", json_string(x->exe_sha256));
    json_object_set_new(o, "hash_note", json_string(x->hash_note));
    json_object_set_new(o, "source", json_string(x->source));
    json_object_set_new(o, "similar", json_integer(x->similar));
    json_object_set_new(o, "forked", json_boolean(x->forked));
    for (size_t i = 0; i < x->n_unknown; i++)
        json_array_append_new(unk, json_string(x->unknown[i]));
    json_object_set_new(o, "unknown", unk);
    json_object_set_new(o, "exited", json_boolean(sp->exited));
    if (sp->exited) {
        json_object_set_new(o, "exit_time",
                            json_string(vg_time_format(sp->exit_time_ms, t, sizeof(t))));
        json_object_set_new(o, "exit_code", json_integer(sp->exit_code));
        json_object_set_new(o, "signal", json_integer(sp->signal));
        json_object_set_new(o, "core_dumped", json_boolean(sp->core_dumped));
        json_object_set_new(o, "lifetime_ms", json_integer((json_int_t)(sp->lifetime_ns / 1000000)));
    }
    return o;
}

static void print_line(const Vigil__V1__StoredProcess *sp, int indent)
{
    const Vigil__V1__ProcessExec *x = sp->exec;
    char t[VG_TIME_STR_MAX], ex[32];
    size_t room = 160;
    if (!sp->exited)
        snprintf(ex, sizeof(ex), "-");
    else if (sp->signal)
        snprintf(ex, sizeof(ex), "sig %u%s", sp->signal, sp->core_dumped ? " core" : "");
    else
        snprintf(ex, sizeof(ex), "%d", sp->exit_code);
    printf("%-24s %*s%7u %7u %6u  %-7s ", vg_time_format(x->start_time_ms, t, sizeof(t)),
           indent, "", x->pid, x->ppid, x->uid, ex);
    /* The command line, printable, cut to fit a screen. */
    for (size_t i = 0; i < x->n_argv && room; i++) {
        for (size_t k = 0; k < x->argv[i].len && room; k++, room--) {
            unsigned char c = x->argv[i].data[k];
            putchar(c >= 0x20 && c < 0x7f ? c : '?');
        }
        if (room) {
            putchar(' ');
            room--;
        }
    }
    if (x->n_argv == 0) {
        /* No arguments: the executable, printable characters only. */
        putchar('[');
        for (size_t k = 0; k < x->exe_path.len && k < 160; k++) {
            unsigned char c = x->exe_path.data[k];
            putchar(c >= 0x20 && c < 0x7f ? c : '?');
        }
        putchar(']');
    }
    if (x->similar)
        printf(" (+%u similar)", x->similar);
    if (x->forked)
        printf(" (forked, no exec)");
    if (x->n_unknown)
        printf(" (unknown: %zu fields)", x->n_unknown);
    printf("\n");
}

static int print_result(struct ctl *ctl, const Vigil__V1__ProcessesResult *r, int tree)
{
    if (ctl->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_processes; i++) {
            size_t k = tree ? r->n_processes - 1 - i : i;
            json_array_append_new(a, proc_json(r->processes[k]));
        }
        ctl_print_json(a);
        json_decref(a);
        return CTL_EXIT_OK;
    }
    printf("%-24s %s%7s %7s %6s  %-7s %s\n", "STARTED", "", "PID", "PPID", "UID", "EXIT",
           "COMMAND");
    for (size_t i = 0; i < r->n_processes; i++) {
        size_t k = tree ? r->n_processes - 1 - i : i;
        print_line(r->processes[k], tree ? (int)i * 2 : 0);
    }
    if (!tree)
        printf("%zu execs%s\n", r->n_processes,
               r->truncated ? " (more match: narrow with --since, --exe or --limit)" : "");
    return CTL_EXIT_OK;
}

/* "2h" back from now, or an RFC 3339 time. */
static int parse_since(const char *s, int64_t *out)
{
    uint64_t ms;
    if (vg_parse_duration(s, &ms) == 0) {
        *out = vg_time_now_ms() - (int64_t)ms;
        return 0;
    }
    return vg_time_parse(s, out);
}

static int resolve(struct ctl *ctl, const char *host, char *id, size_t idlen)
{
    const Vigil__V1__HostInfo *h;
    void *owner = NULL;
    int rc = ctl_resolve_host(ctl, host, &h, &owner);
    if (rc)
        return rc;
    vg_strlcpy(id, h->agent_id, idlen);
    ctl_call_free(owner);
    return 0;
}

static const struct option processes_long[] = {
    { "since", required_argument, NULL, 's' }, { "exe", required_argument, NULL, 'e' },
    { "pid", required_argument, NULL, 'p' },   { "limit", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_processes[] = {
    { NULL, ":h", processes_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_processes(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__ProcessesQuery q = VIGIL__V1__PROCESSES_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    char id[128];
    int64_t since = vg_time_now_ms() - 3600000;
    uint64_t v;
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_processes)) != -1) {
        switch (c) {
        case 's':
            if (parse_since(optarg, &since))
                return ctl_usage_err("processes", "--since '%s': give an RFC 3339 time or a "
                                     "duration like 30m", optarg);
            break;
        case 'e':
            q.exe.data = (uint8_t *)optarg;
            q.exe.len = strlen(optarg);
            break;
        case 'p':
            if (vg_parse_u64(optarg, 1, UINT32_MAX, &v))
                return ctl_usage_err("processes", "--pid '%s' is not a pid", optarg);
            q.pid = (uint32_t)v;
            break;
        case 'l':
            if (vg_parse_u64(optarg, 1, 10000, &v))
                return ctl_usage_err("processes", "--limit must be 1 to 10000");
            q.limit = (uint32_t)v;
            break;
        case 'h': ctl_usage_processes(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("processes", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("processes", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return ctl_usage_err("processes", "processes needs exactly one HOST");
    if ((rc = resolve(ctl, argv[optind], id, sizeof(id))) != 0)
        return rc;
    q.agent_id = id;
    q.since_time_ms = since;
    req.request_id = 5;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_PROCESSES;
    req.processes = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESSES, &resp,
                        &owner)) != 0)
        return rc;
    rc = print_result(ctl, resp->processes, 0);
    ctl_call_free(owner);
    return rc;
}

static const struct option process_tree_long[] = {
    { "at", required_argument, NULL, 'a' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_process_tree[] = {
    { NULL, ":h", process_tree_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_process_tree(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__ProcessTreeQuery q = VIGIL__V1__PROCESS_TREE_QUERY__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    char id[128];
    uint64_t pid;
    int c, rc;

    while ((c = ctl_getopt(argc, argv, ctl_opts_process_tree)) != -1) {
        switch (c) {
        case 'a':
            if (parse_since(optarg, &q.at_time_ms))
                return ctl_usage_err("process-tree", "--at '%s': give an RFC 3339 time or a "
                                     "duration back from now", optarg);
            break;
        case 'h': ctl_usage_process_tree(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("process-tree", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("process-tree", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return ctl_usage_err("process-tree", "process-tree needs HOST and PID");
    if (vg_parse_u64(argv[optind + 1], 1, UINT32_MAX, &pid))
        return ctl_usage_err("process-tree", "'%s' is not a pid", argv[optind + 1]);
    if ((rc = resolve(ctl, argv[optind], id, sizeof(id))) != 0)
        return rc;
    q.agent_id = id;
    q.pid = (uint32_t)pid;
    req.request_id = 6;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_PROCESS_TREE;
    req.process_tree = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_PROCESS_TREE, &resp,
                        &owner)) != 0)
        return rc;
    if (resp->process_tree->n_processes == 0) {
        char t[512];
        fprintf(stderr, "vigilctl: no process %llu is known on %s (not in stored execs or "
                "snapshots)\n", (unsigned long long)pid, ctl_text(t, sizeof(t), id));
        ctl_call_free(owner);
        return CTL_EXIT_FAIL;
    }
    rc = print_result(ctl, resp->process_tree, 1);
    ctl_call_free(owner);
    return rc;
}
