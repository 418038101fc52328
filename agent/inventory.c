/*
 * vigil-agent inventory: the local inventory, printed for people (or as
 * JSON for scripts), without a collector.
 *
 *   vigil-agent inventory [-c FILE] [--root DIR] [--json]
 */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "pkg.h"
#include "util.h"

static json_t *jstr(const char *s)
{
    char *c = vg_utf8_clean(s ? s : "");
    json_t *j = c ? json_string(c) : json_null();
    free(c);
    return j ? j : json_null();
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent inventory [-c FILE] [--root DIR] [--json]\n"
            "\n"
            "Prints this host's package inventory without contacting a collector: dpkg's\n"
            "database read directly, and rpm's through 'rpm -qa' when rpm is present and\n"
            "knows packages.  Packages not fully installed are listed with their dpkg\n"
            "state (config-files, half-installed, ...).\n"
            "\n"
            "  -c, --config FILE  take [inventory] root from this agent configuration\n"
            "      --root DIR     read the host mounted at DIR (default /)\n"
            "      --json         one JSON object: {\"root\", \"packages\": [{\"name\",\n"
            "                     \"version\", \"arch\", \"status\", \"source\",\n"
            "                     \"source_version\", \"manager\"}...], \"summary\"}\n");
}

int agent_inventory_main(int argc, char **argv);
int agent_inventory_main(int argc, char **argv)
{
    enum { OPT_ROOT = 256, OPT_JSON };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "root", required_argument, NULL, OPT_ROOT },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *conf_path = NULL, *root = NULL;
    struct agent_conf conf;
    struct pkg_list l = { NULL, 0, 0 }, r = { NULL, 0, 0 };
    struct pkg_report rep, rrep;
    int have_dpkg, have_rpm;
    char absroot[PATH_MAX];
    char err[512];
    int c, json = 0, rc;
    size_t installed = 0;

    memset(&conf, 0, sizeof(conf));
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case OPT_ROOT: root = optarg; break;
        case OPT_JSON: json = 1; break;
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
    if (have_dpkg)
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
    if (json) {
        json_t *o = json_object(), *a = json_array(), *sum = json_object();
        char *s;
        for (int m = 0; m < 2; m++) {
            const struct pkg_list *L = m ? &r : &l;
            for (size_t i = 0; i < L->n; i++) {
                json_t *p = json_object();
                json_object_set_new(p, "name", jstr(L->v[i].name));
                json_object_set_new(p, "version", jstr(L->v[i].version));
                json_object_set_new(p, "arch", jstr(L->v[i].arch));
                json_object_set_new(p, "status", jstr(L->v[i].status));
                json_object_set_new(p, "source", jstr(L->v[i].source));
                if (m) {
                    json_object_set_new(p, "vendor", jstr(L->v[i].source_version));
                    json_object_set_new(p, "install_time_ms",
                                        json_integer(L->v[i].install_time_ms));
                } else {
                    json_object_set_new(p, "source_version", jstr(L->v[i].source_version));
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
        json_object_set_new(sum, "installed", json_integer((json_int_t)(installed + r.n)));
        json_object_set_new(sum, "other_states", json_integer((json_int_t)(l.n - installed)));
        json_object_set_new(sum, "duplicate_stanzas", json_integer(rep.duplicates));
        json_object_set_new(sum, "skipped_stanzas", json_integer(rep.skipped_incomplete));
        json_object_set_new(o, "root", jstr(root));
        json_object_set_new(o, "packages", a);
        json_object_set_new(o, "summary", sum);
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        size_t wn = 4, wv = 7, wa = 4;
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
    }
    if (rep.skipped_incomplete || rep.duplicates)
        fprintf(stderr, "vigil-agent inventory: note: %u incomplete stanzas skipped, %u "
                "duplicate stanzas (the last one counts)\n", rep.skipped_incomplete,
                rep.duplicates);
    pkg_list_free(&l);
    pkg_list_free(&r);
    vg_conf_free(agent_conf_keys, &conf);
    return 0;
}
