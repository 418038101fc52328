/*
 * vigil-agent inventory: the local inventory, printed for people (or as
 * JSON for scripts), without a collector.
 *
 *   vigil-agent inventory [-c FILE] [--root DIR] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "pending.h"
#include "pkg.h"
#include "util.h"
#include "vjson.h"

static json_t *jtime(int64_t ms)
{
    char t[VG_TIME_STR_MAX];
    return json_string(vg_time_format(ms, t, sizeof(t)));
}

static json_t *pending_json(const struct pending_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct pending *p = &l->v[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", vg_json_text(p->name));
        json_object_set_new(o, "arch", vg_json_text(p->arch));
        json_object_set_new(o, "installed_version", vg_json_text(p->installed));
        json_object_set_new(o, "candidate_version", vg_json_text(p->candidate));
        json_object_set_new(o, "security", json_boolean(p->security));
        json_object_set_new(o, "archive", vg_json_text(p->archive));
        json_object_set_new(o, "origin", vg_json_text(p->origin));
        json_object_set_new(o, "label", vg_json_text(p->label));
        json_object_set_new(o, "site", vg_json_text(p->site));
        if (p->advisory && p->advisory[0])
            json_object_set_new(o, "advisory", vg_json_text(p->advisory));
        if (p->severity && p->severity[0])
            json_object_set_new(o, "severity", vg_json_text(p->severity));
        if (p->released_ms)
            json_object_set_new(o, "released", jtime(p->released_ms));
        if (p->release_file_ms)
            json_object_set_new(o, "release_file_date", jtime(p->release_file_ms));
        if (p->first_seen_ms)
            json_object_set_new(o, "first_seen", jtime(p->first_seen_ms));
        if (p->security_first_seen_ms)
            json_object_set_new(o, "security_first_seen", jtime(p->security_first_seen_ms));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *os_json(const Vigil__V1__OsState *os)
{
    json_t *o = json_object(), *pk = json_array();
    for (size_t i = 0; i < os->n_reboot_required_packages; i++)
        json_array_append_new(pk, vg_json_text(os->reboot_required_packages[i]));
    json_object_set_new(o, "hostname", vg_json_text(os->hostname));
    json_object_set_new(o, "os_id", vg_json_text(os->os_id));
    json_object_set_new(o, "os_version_id", vg_json_text(os->os_version_id));
    json_object_set_new(o, "os_pretty_name", vg_json_text(os->os_pretty_name));
    json_object_set_new(o, "os_version_codename", vg_json_text(os->os_version_codename));
    json_object_set_new(o, "os_id_like", vg_json_text(os->os_id_like));
    json_object_set_new(o, "kernel_release", vg_json_text(os->kernel_release));
    json_object_set_new(o, "kernel_version", vg_json_text(os->kernel_version));
    json_object_set_new(o, "arch", vg_json_text(os->arch));
    json_object_set_new(o, "newest_kernel", vg_json_text(os->newest_kernel));
    json_object_set_new(o, "kernel_update_pending", json_boolean(os->kernel_update_pending));
    json_object_set_new(o, "reboot_required", json_boolean(os->reboot_required));
    json_object_set_new(o, "reboot_required_packages", pk);
    json_object_set_new(o, "boot_time", os->boot_time_ms ? jtime(os->boot_time_ms) : json_null());
    json_object_set_new(o, "machine_id", vg_json_text(os->machine_id));
    return o;
}

static void print_os(const Vigil__V1__OsState *os)
{
    printf("Host: %s, %s, kernel %s", os->hostname[0] ? os->hostname : "?",
           os->os_pretty_name[0] ? os->os_pretty_name : "unknown OS", os->kernel_release);
    if (os->kernel_update_pending)
        printf(" (newest installed: %s; REBOOT to use it)", os->newest_kernel);
    printf("\nReboot: %s", os->reboot_required ? "required" : "not required");
    for (size_t i = 0; i < os->n_reboot_required_packages; i++)
        printf("%s%s", i ? ", " : " (by ", os->reboot_required_packages[i]);
    printf("%s\n\n", os->n_reboot_required_packages ? ")" : "");
}

static void print_pending(const struct pending_list *l, int known, size_t nsec,
                          int64_t refreshed_ms)
{
    size_t wn = 4, wv = 9, wc = 9;
    char t[VG_TIME_STR_MAX];

    if (!known) {
        printf("\nPending updates: unknown (no apt lists or dnf cache here)\n");
        return;
    }
    printf("\nPending updates: %zu, %zu of them security", l->n, nsec);
    if (refreshed_ms)
        printf(" (package lists from %s)", vg_time_format(refreshed_ms, t, sizeof(t)));
    printf("\n");
    if (!l->n)
        return;
    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->v[i].name) > wn)
            wn = strlen(l->v[i].name);
        if (strlen(l->v[i].installed) > wv)
            wv = strlen(l->v[i].installed);
        if (strlen(l->v[i].candidate) > wc)
            wc = strlen(l->v[i].candidate);
    }
    printf("%-*s  %-*s  %-*s  %-8s  %s\n", (int)wn, "NAME", (int)wv, "INSTALLED", (int)wc,
           "CANDIDATE", "SECURITY", "FROM");
    for (size_t i = 0; i < l->n; i++) {
        const struct pending *p = &l->v[i];
        printf("%-*s  %-*s  %-*s  %-8s  %s\n", (int)wn, p->name, (int)wv, p->installed,
               (int)wc, p->candidate, p->security ? "yes" : "no",
               p->advisory && p->advisory[0] ? p->advisory
               : p->archive && p->archive[0] ? p->archive : "-");
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent inventory [-c FILE] [--root DIR] [--json] [--no-pending]\n"
            "\n"
            "Prints this host's OS, kernel and reboot state and its package inventory\n"
            "without contacting a collector (what the agent would send): dpkg's\n"
            "database read directly, and rpm's through 'rpm -qa' when rpm is present and\n"
            "knows packages.  Packages not fully installed are listed with their dpkg\n"
            "state (config-files, half-installed, ...).\n"
            "\n"
            "  -c, --config FILE  take [inventory] root from this agent configuration\n"
            "      --root DIR     read the host mounted at DIR (default /)\n"
            "      --no-pending   packages only: skip working out pending updates\n"
            "      --json         one JSON object: {\"root\", \"os\": {\"hostname\",\n"
            "                     \"os_pretty_name\", \"kernel_release\", \"newest_kernel\",\n"
            "                     \"kernel_update_pending\", \"reboot_required\", ...},\n"
            "                     \"packages\": [{\"name\",\n"
            "                     \"version\", \"arch\", \"status\", \"source\",\n"
            "                     \"source_version\", \"manager\"}...], \"pending_updates\":\n"
            "                     [{\"name\", \"arch\", \"installed_version\",\n"
            "                     \"candidate_version\", \"security\", \"archive\", ...}],\n"
            "                     \"summary\"}\n"
            "\n"
            "Pending updates are what apt would upgrade to, worked out from apt's lists\n"
            "and preferences under /var/lib/apt/lists and /etc/apt as they are now (run\n"
            "'apt update' first for fresh lists); on rpm hosts, dnf's security advisories\n"
            "from its cache.  With -c, first-seen times come from the agent's state_dir.\n");
}

int agent_inventory_main(int argc, char **argv);
int agent_inventory_main(int argc, char **argv)
{
    enum { OPT_ROOT = 256, OPT_JSON, OPT_NO_PENDING };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "root", required_argument, NULL, OPT_ROOT },
        { "json", no_argument, NULL, OPT_JSON },
        { "no-pending", no_argument, NULL, OPT_NO_PENDING },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *conf_path = NULL, *root = NULL;
    struct agent_conf conf;
    struct pkg_list l = { NULL, 0, 0 }, r = { NULL, 0, 0 };
    struct pkg_report rep, rrep;
    int have_dpkg, have_rpm, have_apt = 0, have_dnf = 0;
    struct pending_list pend = { NULL, 0, 0 };
    struct apt_report arep;
    size_t nsec = 0;
    struct os_snapshot *osnap = NULL;
    char absroot[PATH_MAX];
    char err[512];
    int c, json = 0, no_pending = 0, rc;
    size_t installed = 0;

    memset(&conf, 0, sizeof(conf));
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case OPT_ROOT: root = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_NO_PENDING: no_pending = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-agent inventory: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (conf_path) {
        if (vg_conf_load(agent_conf_keys, &conf, conf_path, err, sizeof(err))) {
            fprintf(stderr, "vigil-agent inventory: %s\n", err);
            vg_conf_free(agent_conf_keys, &conf);
            return 1;
        }
        if (!root)
            root = conf.inventory_root;
    }
    if (!root)
        root = "/";
    /* rpm --root wants an absolute path. */
    if (root[0] != '/' && realpath(root, absroot))
        root = absroot;
    memset(&rep, 0, sizeof(rep));
    rc = pkg_dpkg_read(root, &l, &rep);
    have_dpkg = rc == 0;
    /* Install times are in the JSON only; the logs are half a megabyte
     * and more to read. */
    if (have_dpkg && json)
        pkg_dpkg_log_times(root, &l);
    have_rpm = pkg_rpm_read(root, &r, &rrep) == 0 && r.n > 0;
    if (have_rpm && !have_dpkg)
        rc = 0;
    if (rc) {
        fprintf(stderr, "vigil-agent inventory: cannot read %s%svar/lib/dpkg/status: %s%s\n",
                root, root[strlen(root) - 1] == '/' ? "" : "/", vg_strerror(rc),
                rc == -2 ? " (and rpm knows no packages there either)" : "");
        vg_conf_free(agent_conf_keys, &conf);
        return 1;
    }
    for (size_t i = 0; i < l.n; i++)
        installed += strcmp(l.v[i].status, "installed") == 0;
    (void)rrep;
    memset(&arep, 0, sizeof(arep));
    if (have_dpkg && !no_pending) {
        rc = pkg_apt_pending(root, &l, &pend, &arep);
        have_apt = rc == 0;
        if (rc && rc != -ENOENT)
            fprintf(stderr, "vigil-agent inventory: pending updates unknown: %s\n",
                    vg_strerror(rc));
    }
    if (have_rpm && !no_pending) {
        unsigned bad = 0;
        have_dnf = pkg_dnf_pending(root, &pend, &bad) == 0;
        pending_match_installed(&pend, &r);
    }
    if (conf_path && conf.state_dir && pend.n) {
        /* Read-only: the daemon owns the file; unknown updates show no time. */
        char sp[PATH_MAX];
        unsigned bad;
        struct pending_seen *seen;
        snprintf(sp, sizeof(sp), "%s/pending-seen", conf.state_dir);
        seen = pending_seen_load(sp, &bad);
        if (seen)
            pending_seen_apply(seen, &pend, 0, 1);
        pending_seen_free(seen);
    }
    pending_list_sort(&pend);
    for (size_t i = 0; i < pend.n; i++)
        nsec += pend.v[i].security != 0;
    osnap = os_snapshot_read(root);
    if (json) {
        json_t *o = json_object(), *a = json_array(), *sum = json_object();
        char *s;
        for (int m = 0; m < 2; m++) {
            const struct pkg_list *L = m ? &r : &l;
            for (size_t i = 0; i < L->n; i++) {
                json_t *p = json_object();
                json_object_set_new(p, "name", vg_json_text(L->v[i].name));
                json_object_set_new(p, "version", vg_json_text(L->v[i].version));
                json_object_set_new(p, "arch", vg_json_text(L->v[i].arch));
                json_object_set_new(p, "status", vg_json_text(L->v[i].status));
                json_object_set_new(p, "source", vg_json_text(L->v[i].source));
                if (m) {
                    json_object_set_new(p, "vendor", vg_json_text(L->v[i].source_version));
                    json_object_set_new(p, "install_time_ms",
                                        json_integer(L->v[i].install_time_ms));
                } else {
                    json_object_set_new(p, "source_version", vg_json_text(L->v[i].source_version));
                }
                if (L->v[i].install_time_ms) {
                    char t[VG_TIME_STR_MAX];
                    json_object_set_new(p, "install_time",
                                        json_string(vg_time_format(L->v[i].install_time_ms, t,
                                                                   sizeof(t))));
                }
                json_object_set_new(p, "manager", json_string(m ? "rpm" : "dpkg"));
                json_array_append_new(a, p);
            }
        }
        json_object_set_new(o, "root", vg_json_text(root));
        json_object_set_new(o, "os", osnap ? os_json(os_snapshot_state(osnap)) : json_null());
        json_object_set_new(o, "packages", a);
        json_object_set_new(o, "pending_updates", pending_json(&pend));
        json_object_set_new(sum, "installed", json_integer((json_int_t)installed + (json_int_t)r.n));
        json_object_set_new(sum, "other_states", json_integer((json_int_t)(l.n - installed)));
        json_object_set_new(sum, "duplicate_stanzas", json_integer(rep.duplicates));
        json_object_set_new(sum, "skipped_stanzas", json_integer(rep.skipped_incomplete));
        if (have_apt || have_dnf) {
            json_object_set_new(sum, "pending_updates", json_integer((json_int_t)pend.n));
            json_object_set_new(sum, "pending_security", json_integer((json_int_t)nsec));
        } else {
            /* Unknown, not zero. */
            json_object_set_new(sum, "pending_updates", json_null());
            json_object_set_new(sum, "pending_security", json_null());
        }
        if (arep.refreshed_ms)
            json_object_set_new(sum, "lists_refreshed", jtime(arep.refreshed_ms));
        json_object_set_new(o, "summary", sum);
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        size_t wn = 4, wv = 7, wa = 4;
        if (osnap)
            print_os(os_snapshot_state(osnap));
        for (size_t i = 0; i < l.n; i++) {
            if (strlen(l.v[i].name) > wn)
                wn = strlen(l.v[i].name);
            if (strlen(l.v[i].version) > wv)
                wv = strlen(l.v[i].version);
            if (strlen(l.v[i].arch) > wa)
                wa = strlen(l.v[i].arch);
        }
        printf("%-*s  %-*s  %-*s  %s\n", (int)wn, "NAME", (int)wv, "VERSION", (int)wa, "ARCH",
               "STATUS");
        for (size_t i = 0; i < l.n; i++)
            printf("%-*s  %-*s  %-*s  %s\n", (int)wn, l.v[i].name, (int)wv, l.v[i].version,
                   (int)wa, l.v[i].arch, l.v[i].status);
        for (size_t i = 0; i < r.n; i++)
            printf("%-*s  %-*s  %-*s  %s (rpm)\n", (int)wn, r.v[i].name, (int)wv, r.v[i].version,
                   (int)wa, r.v[i].arch, r.v[i].status);
        printf("%zu installed, %zu in other states%s\n", installed + r.n, l.n - installed,
               have_rpm ? " (dpkg and rpm)" : "");
        if (!no_pending)
            print_pending(&pend, have_apt || have_dnf, nsec, arep.refreshed_ms);
    }
    if (rep.skipped_incomplete || rep.duplicates)
        fprintf(stderr, "vigil-agent inventory: note: %u incomplete stanzas skipped, %u "
                "duplicate stanzas (the last one counts)\n", rep.skipped_incomplete,
                rep.duplicates);
    if (arep.first_error[0])
        fprintf(stderr, "vigil-agent inventory: note: apt data: %s\n", arep.first_error);
    os_snapshot_free(osnap);
    pending_list_free(&pend);
    pkg_list_free(&l);
    pkg_list_free(&r);
    vg_conf_free(agent_conf_keys, &conf);
    return 0;
}
