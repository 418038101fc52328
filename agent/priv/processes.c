/*
 * vigil-agent processes: the process table as the agent reads it for
 * snapshots, printed for people (or as JSON), without a collector.
 *
 *   vigil-agent processes [--json]
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent processes [--json]\n"
            "\n"
            "Prints the running processes as the agent's snapshots see them, read from\n"
            "/proc: pid, parent, uid, start time and command line.\n"
            "\n"
            "  --json   an array of objects: pid, ppid, uid, euid, gid, egid, login_uid,\n"
            "           session_id, comm, exe, argv (array), argv_truncated, cwd,\n"
            "           start_time, unknown (fields that could not be read)\n");
}

static json_t *jstr_n(const char *s, size_t n)
{
    char *raw = strndup(s ? s : "", s ? n : 0), *clean;
    json_t *j;
    if (!raw)
        return json_null();
    clean = vg_utf8_clean(raw);
    free(raw);
    j = clean ? json_string(clean) : json_null();
    free(clean);
    return j ? j : json_null();
}

int agent_processes_main(int argc, char **argv);
int agent_processes_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct proc_info *v;
    size_t n;
    int c, json = 0, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-agent processes: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if ((rc = proc_snapshot("", &v, &n)) != 0) {
        fprintf(stderr, "vigil-agent processes: cannot read /proc: %s\n", strerror(-rc));
        return 1;
    }
    if (json) {
        json_t *a = json_array();
        char *s;
        for (size_t i = 0; i < n; i++) {
            const struct proc_info *p = &v[i];
            json_t *o = json_object(), *args = json_array(), *unk = json_array();
            char t[VG_TIME_STR_MAX];
            size_t k = 0;
            json_object_set_new(o, "pid", json_integer(p->pid));
            json_object_set_new(o, "ppid", json_integer(p->ppid));
            json_object_set_new(o, "uid", json_integer(p->uid));
            json_object_set_new(o, "euid", json_integer(p->euid));
            json_object_set_new(o, "gid", json_integer(p->gid));
            json_object_set_new(o, "egid", json_integer(p->egid));
            json_object_set_new(o, "login_uid", json_integer(p->login_uid));
            json_object_set_new(o, "session_id", json_integer(p->session_id));
            json_object_set_new(o, "comm", jstr_n(p->comm, strlen(p->comm)));
            json_object_set_new(o, "exe", jstr_n(p->exe, p->exe ? strlen(p->exe) : 0));
            while (k < p->argv_len) {
                size_t l = strnlen(p->argv + k, p->argv_len - k);
                json_array_append_new(args, jstr_n(p->argv + k, l));
                k += l + 1;
            }
            json_object_set_new(o, "argv", args);
            json_object_set_new(o, "argv_truncated", json_boolean(p->argv_truncated));
            json_object_set_new(o, "cwd", jstr_n(p->cwd, p->cwd ? strlen(p->cwd) : 0));
            json_object_set_new(o, "start_time",
                                json_string(vg_time_format(proc_boot_to_wall_ms(p->start_boot_ns),
                                                           t, sizeof(t))));
            if (p->unknown & PROC_UNKNOWN_ARGV)
                json_array_append_new(unk, json_string("argv"));
            if (p->unknown & PROC_UNKNOWN_EXE)
                json_array_append_new(unk, json_string("exe"));
            if (p->unknown & PROC_UNKNOWN_CREDS)
                json_array_append_new(unk, json_string("uid"));
            if (p->unknown & PROC_UNKNOWN_LOGIN)
                json_array_append_new(unk, json_string("login_uid"));
            json_object_set_new(o, "unknown", unk);
            json_array_append_new(a, o);
        }
        s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(a);
    } else {
        printf("%7s %7s %6s  %-24s %s\n", "PID", "PPID", "UID", "STARTED", "COMMAND");
        for (size_t i = 0; i < n; i++) {
            const struct proc_info *p = &v[i];
            char t[VG_TIME_STR_MAX];
            printf("%7u %7u %6u  %-24s ", p->pid, p->ppid, p->uid,
                   vg_time_format(proc_boot_to_wall_ms(p->start_boot_ns), t, sizeof(t)));
            if (p->argv_len == 0) {
                printf("[%s]\n", p->comm); /* kernel threads, as ps shows them */
                continue;
            }
            for (size_t k = 0; k < p->argv_len; k++) {
                unsigned char ch = (unsigned char)p->argv[k];
                putchar(ch == '\0' ? ' ' : ch >= 0x20 && ch < 0x7f ? ch : '?');
            }
            putchar('\n');
        }
        printf("%zu processes\n", n);
    }
    proc_snapshot_free(v, n);
    return 0;
}
