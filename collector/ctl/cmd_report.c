/*
 * vigilctl advisories, exception, report: patch compliance.
 *
 * advisories import sends a feed file to the collector in 4 MiB pieces
 * with its SHA-256; the collector parses and records it, all or nothing.
 * report patch has the collector render the report, a set of files bound
 * by FILE.manifest, and with --sign sign the manifest (lib/rsig.h);
 * report verify checks the set offline against the CA.
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
#include <unistd.h>

#include "crypto.h"
#include "ctl.h"
#include "err.h"
#include "lz.h"
#include "rsig.h"
#include "util.h"
#include "vjson.h"

#define CHUNK (4u * 1024 * 1024)
#define FEED_MAX (4ULL * 1024 * 1024 * 1024)
#define REPORT_MAX (2ULL * 1024 * 1024 * 1024)

void ctl_usage_advisories(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] advisories import FILE\n"
            "                          [--format debian-json|dsa-list|csaf] [--source TEXT]\n"
            "       vigilctl [OPTIONS] advisories list\n"
            "\n"
            "Imports an advisory feed into the collector (admin role), offline: the file is\n"
            "one you fetched and checked yourself.  Formats (detected from the content when\n"
            "--format is not given):\n"
            "  debian-json  the Debian Security Tracker export\n"
            "               (https://security-tracker.debian.org/tracker/data/json)\n"
            "  dsa-list     the tracker's data/DSA/list or data/DLA/list: release dates\n"
            "  csaf         a Red Hat CSAF advisory (severity, CVSS, fixed packages)\n"
            "Each import is recorded with its source, time and SHA-256, and named in every\n"
            "report.  A later import of the same document (the tracker export, the DSA or\n"
            "DLA list, one CSAF advisory) replaces it for reports from then on.\n"
            "\n"
            "  --source TEXT   where the file came from (default: its name)\n");
}

void ctl_usage_exception(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] exception add (--host HOST | --tag KEY=VALUE | --all)\n"
            "                          (--source P | --binary P) [--cve C] | --cve C\n"
            "                          --reason TEXT --approver NAME --expires WHEN\n"
            "                          [--control TEXT]\n"
            "       vigilctl [OPTIONS] exception list [--all]\n"
            "       vigilctl [OPTIONS] exception revoke ID --reason TEXT\n"
            "\n"
            "Risk acceptance (admin role; audited).  An exception covers exactly what it\n"
            "names: the host (or every host with the tag, or every host with --all), the\n"
            "source package (every binary built from it) or the one binary package, and the\n"
            "CVE if given.  A finding is reported 'excepted' instead of open or overdue only\n"
            "when every binary and CVE of it is covered (by one exception or several), until\n"
            "they expire or are revoked; an expired exception covers nothing, so its\n"
            "findings fail again.  Cyber Essentials allows no exceptions: a fix past 14 days\n"
            "still fails CE.\n"
            "\n"
            "  --source P      a source package (as `vigilctl report` lists findings)\n"
            "  --binary P      one binary package, not the rest of its source\n"
            "  --package P     the same as --source\n"
            "  --tag KEY=VALUE every host with this tag (as the collector holds tags when\n"
            "                  the report is made)\n"
            "  --expires WHEN  a date (2027-03-31), a time (RFC 3339) or a duration from now\n"
            "                  (90d); at most a year away\n"
            "  --approver NAME who accepted the risk (for NHS DSPT: the SIRO)\n"
            "  --control TEXT  the risk-register entry or control it is recorded under\n"
            "  --all           (list) also expired and revoked exceptions\n");
}

void ctl_usage_report(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] report patch --format csv|json|html -o FILE\n"
            "                          [--as-of WHEN] [--hosts PATTERN]\n"
            "                          [--layout summary|full] [--sign]\n"
            "       vigilctl [OPTIONS] report verify FILE [--ca CA] [--hash-only]\n"
            "\n"
            "patch: the patch-compliance report (any operator role; the auditor role\n"
            "suffices), rendered by the collector.  It tests every host against Cyber\n"
            "Essentials (security fixes effective within 14 days of release; supported\n"
            "software), NHS DSPT and NCSC CAF B4.d, and lists the findings.  A report is\n"
            "one set of files: FILE (csv: also the hosts table beside it, report.csv ->\n"
            "report-hosts.csv) and FILE.manifest, the SHA-256 of each file as\n"
            "`sha256sum -c` reads it, after lines with the report's id, as-of time,\n"
            "collector and generation time.  Files are created mode 0600: they list every\n"
            "host's unpatched vulnerabilities.  Keep the set's names: the manifest lists\n"
            "them.\n"
            "\n"
            "  --as-of WHEN     the report as it was (or would have been) at that time: a\n"
            "                   date (midnight UTC) or an RFC 3339 time; default now\n"
            "  --hosts PATTERN  only hosts whose name or agent id matches the glob\n"
            "  --layout L       html only: summary (the default: headline, rules, worst\n"
            "                   hosts, overdue CVEs, exceptions, trend) or full (adds the\n"
            "                   per-host appendix)\n"
            "  --sign           the collector signs the manifest with its key:\n"
            "                   FILE.manifest.sig (DER ECDSA, SHA-256) and its certificate,\n"
            "                   FILE.collector.pem; openssl alone can check them (README)\n"
            "\n"
            "verify: checks a report's set offline (FILE, or FILE.manifest): the manifest's\n"
            "signature, that its certificate is a collector's of the CA (when it signed),\n"
            "and that every file the manifest lists is there with its SHA-256; prints the\n"
            "report id, as-of time, collector and signing time.  Exit 0 only when all\n"
            "hold; 1 otherwise, naming the file, and when there is no signature.\n"
            "--hash-only checks the files against FILE.manifest alone: that they are\n"
            "intact, not who made them.\n");
}

static int parse_when(const char *s, int64_t *out)
{
    uint64_t d;
    if (vg_time_parse(s, out) == 0)
        return 0;
    if (vg_parse_duration(s, &d) == 0 && d) {
        *out = vg_time_now_ms() + (int64_t)d;
        return 0;
    }
    return -EINVAL;
}

/* ---- advisories ---- */

static json_t *import_json(const Vigil__V1__AdvisoryImportInfo *i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(i->id));
    json_object_set_new(o, "format", vg_json_text(i->format));
    json_object_set_new(o, "doc_key", vg_json_text(i->doc_key));
    json_object_set_new(o, "source", vg_json_text(i->source));
    json_object_set_new(o, "sha256", vg_json_text(i->sha256));
    json_object_set_new(o, "size", json_integer((json_int_t)i->size));
    json_object_set_new(o, "imported", vg_json_time(i->imported_time_ms));
    json_object_set_new(o, "imported_by", vg_json_text(i->imported_by));
    json_object_set_new(o, "records", json_integer((json_int_t)i->records));
    json_object_set_new(o, "skipped", json_integer((json_int_t)i->skipped));
    json_object_set_new(o, "current", json_boolean(i->current));
    return o;
}

static int advisories_import(struct ctl *ctl, const char *path, const char *format,
                             const char *source)
{
    uint8_t d[VG_SHA256_LEN];
    char hex[2 * VG_SHA256_LEN + 1], id[64] = "";
    struct stat st;
    uint8_t *buf = NULL;
    uint64_t off = 0;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ctl_err("cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return ctl_err("%s: not a regular, non-empty file", path);
    }
    if ((uint64_t)st.st_size > FEED_MAX) {
        close(fd);
        return ctl_err("%s: larger than 4 GiB", path);
    }
    if ((rc = vg_sha256_fd(fd, FEED_MAX, d)) != 0) {
        close(fd);
        return ctl_err("cannot read %s: %s", path, vg_strerror(rc));
    }
    vg_hex(d, sizeof(d), hex);
    buf = malloc(CHUNK);
    if (!buf || lseek(fd, 0, SEEK_SET) != 0) {
        free(buf);
        close(fd);
        return ctl_err("cannot read %s", path);
    }
    for (;;) {
        Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
        Vigil__V1__AdvisoryImport im = VIGIL__V1__ADVISORY_IMPORT__INIT;
        Vigil__V1__OperatorResponse *resp = NULL;
        void *owner = NULL;
        ssize_t n = 0;
        size_t got = 0;
        const Vigil__V1__AdvisoryImportResult *r;

        while (got < CHUNK && off + got < (uint64_t)st.st_size) {
            n = read(fd, buf + got, CHUNK - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (n < 0) {
            rc = ctl_err("cannot read %s: %s", path, strerror(errno));
            break;
        }
        im.upload_id = id;
        im.offset = off;
        im.data.data = buf;
        im.data.len = got;
        im.total_size = (uint64_t)st.st_size;
        im.sha256 = hex;
        im.format = (char *)(format ? format : "");
        im.source = (char *)source;
        req.request_id = 70;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ADVISORY_IMPORT;
        req.advisory_import = &im;
        rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ADVISORY_IMPORT, &resp,
                       &owner);
        if (rc)
            break;
        r = resp->advisory_import;
        vg_strlcpy(id, r->upload_id, sizeof(id));
        off += got;
        if (r->done && r->import) {
            const Vigil__V1__AdvisoryImportInfo *i = r->import;
            if (ctl->json) {
                json_t *o = import_json(i);
                ctl_print_json(o);
                json_decref(o);
            } else {
                char dk[1024];
                printf("imported %s (%s) as import %lld: %llu fixes recorded",
                       ctl_text(dk, sizeof(dk), i->doc_key), i->format, (long long)i->id,
                       (unsigned long long)i->records);
                if (i->skipped)
                    printf(", %llu entries skipped (malformed or too long)",
                           (unsigned long long)i->skipped);
                printf("\nsha256 %s\n", i->sha256);
            }
            ctl_call_free(owner);
            rc = CTL_EXIT_OK;
            break;
        }
        ctl_call_free(owner);
        if (got == 0 || off >= (uint64_t)st.st_size) {
            rc = ctl_err("the collector did not finish the import (it has %llu of %llu bytes)",
                         (unsigned long long)r->received, (unsigned long long)st.st_size);
            break;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

static const struct option advisories_long[] = {
    { "format", required_argument, NULL, 'f' },
    { "source", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_advisories[] = {
    { NULL, ":h", advisories_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_advisories(struct ctl *ctl, int argc, char **argv)
{
    const char *format = NULL, *source = NULL;
    int c;

    while ((c = ctl_getopt(argc, argv, ctl_opts_advisories)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "debian-json") != 0 && strcmp(optarg, "dsa-list") != 0 &&
                strcmp(optarg, "csaf") != 0)
                return ctl_usage_err("advisories", "unknown --format '%s': give debian-json, "
                                     "dsa-list or csaf", optarg);
            format = optarg;
            break;
        case 's': source = optarg; break;
        case 'h': ctl_usage_advisories(stdout); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err("advisories", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("advisories", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc && strcmp(argv[optind], "import") == 0 && optind + 2 == argc) {
        const char *path = argv[optind + 1], *base = strrchr(path, '/');
        return advisories_import(ctl, path, format,
                                 source ? source : (base ? base + 1 : path));
    }
    if (optind < argc && strcmp(argv[optind], "list") == 0 && optind + 1 == argc) {
        Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
        Vigil__V1__AdvisoryImportsQuery q = VIGIL__V1__ADVISORY_IMPORTS_QUERY__INIT;
        Vigil__V1__OperatorResponse *resp = NULL;
        void *owner = NULL;
        json_t *a = json_array();
        int rc;
        req.request_id = 71;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_ADVISORY_IMPORTS;
        req.advisory_imports = &q;
        if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ADVISORY_IMPORTS,
                            &resp, &owner)) != 0) {
            json_decref(a);
            return rc;
        }
        if (!ctl->json)
            printf("%-5s %-24s %-11s %-8s %-9s %s\n", "ID", "IMPORTED", "FORMAT", "FIXES",
                   "CURRENT", "DOCUMENT / SOURCE / SHA-256");
        for (size_t i = 0; i < resp->advisory_imports->n_imports; i++) {
            const Vigil__V1__AdvisoryImportInfo *x = resp->advisory_imports->imports[i];
            char t[VG_TIME_STR_MAX];
            if (ctl->json) {
                json_array_append_new(a, import_json(x));
                continue;
            }
            printf("%-5lld %-24s %-11s %-8llu %-9s ", (long long)x->id,
                   vg_time_format(x->imported_time_ms, t, sizeof(t)), x->format,
                   (unsigned long long)x->records, x->current ? "yes" : "replaced");
            ctl_put_text(x->doc_key);
            printf(" / ");
            ctl_put_text(x->source);
            printf(" / %s\n", x->sha256);
        }
        if (ctl->json)
            ctl_print_json(a);
        json_decref(a);
        ctl_call_free(owner);
        return CTL_EXIT_OK;
    }
    return ctl_usage_err("advisories", "expected: import FILE [--format F] | list");
}

/* ---- exceptions ---- */

static json_t *exc_json(const Vigil__V1__ExceptionInfo *e, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "host", vg_json_text(e->host));
    json_object_set_new(o, "hostname", e->hostname[0] ? vg_json_text(e->hostname) : json_null());
    json_object_set_new(o, "package", e->package[0] ? vg_json_text(e->package) : json_null());
    json_object_set_new(o, "package_kind",
                        !e->package[0]       ? json_null()
                        : e->package_kind[0] ? vg_json_text(e->package_kind)
                                             : json_string("source-or-binary"));
    json_object_set_new(o, "cve", e->cve[0] ? vg_json_text(e->cve) : json_null());
    json_object_set_new(o, "reason", vg_json_text(e->reason));
    json_object_set_new(o, "approver", vg_json_text(e->approver));
    json_object_set_new(o, "control", e->control[0] ? vg_json_text(e->control) : json_null());
    json_object_set_new(o, "created", vg_json_time(e->created_time_ms));
    json_object_set_new(o, "created_by", vg_json_text(e->created_by));
    json_object_set_new(o, "expires", vg_json_time(e->expires_time_ms));
    json_object_set_new(o, "revoked", vg_json_time(e->revoked_time_ms));
    json_object_set_new(o, "revoked_by",
                        e->revoked_by[0] ? vg_json_text(e->revoked_by) : json_null());
    json_object_set_new(o, "status", json_string(e->revoked_time_ms              ? "revoked"
                                                 : e->expires_time_ms <= now ? "expired"
                                                                             : "in-force"));
    return o;
}

static void exc_print(const Vigil__V1__ExceptionInfo *e, int64_t now)
{
    char t[VG_TIME_STR_MAX];
    printf("%-4lld %-8s until %s  host ", (long long)e->id,
           e->revoked_time_ms              ? "REVOKED"
           : e->expires_time_ms <= now ? "EXPIRED"
                                       : "in force",
           vg_time_format(e->expires_time_ms, t, sizeof(t)));
    ctl_put_text(e->host);
    if (e->hostname[0]) {
        printf(" (");
        ctl_put_text(e->hostname);
        printf(")");
    }
    if (e->package[0]) {
        printf("  %s ", e->package_kind[0] ? e->package_kind : "package");
        ctl_put_text(e->package);
    }
    if (e->cve[0])
        printf("  %s", e->cve);
    printf("\n     approved by ");
    ctl_put_text(e->approver);
    if (e->control[0]) {
        printf(", control ");
        ctl_put_text(e->control);
    }
    printf("; added by ");
    ctl_put_text(e->created_by);
    printf(": ");
    ctl_put_text(e->reason);
    printf("\n");
}

static const struct option exception_long[] = {
    { "host", required_argument, NULL, 'H' },
    { "all", no_argument, NULL, 'a' },
    { "package", required_argument, NULL, 'p' },
    { "source", required_argument, NULL, 'p' },
    { "binary", required_argument, NULL, 'b' },
    { "tag", required_argument, NULL, 't' },
    { "cve", required_argument, NULL, 'c' },
    { "reason", required_argument, NULL, 'r' },
    { "approver", required_argument, NULL, 'A' },
    { "expires", required_argument, NULL, 'e' },
    { "control", required_argument, NULL, 'C' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_exception[] = {
    { NULL, ":h", exception_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_exception(struct ctl *ctl, int argc, char **argv)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__ExceptionAdd add = VIGIL__V1__EXCEPTION_ADD__INIT;
    Vigil__V1__ExceptionsQuery q = VIGIL__V1__EXCEPTIONS_QUERY__INIT;
    Vigil__V1__ExceptionRevoke rv = VIGIL__V1__EXCEPTION_REVOKE__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    void *owner = NULL;
    const char *host = NULL, *sub;
    char agent_id[256];
    int64_t now = vg_time_now_ms();
    int c, all = 0, rc, want;

    while ((c = ctl_getopt(argc, argv, ctl_opts_exception)) != -1) {
        switch (c) {
        case 'H': host = optarg; break;
        case 'a': all = 1; break;
        case 'p':
        case 'b':
            if (add.package[0])
                return ctl_usage_err("exception", "name one package: --source P or --binary P");
            add.package = optarg;
            add.package_kind = c == 'b' ? "binary" : "source";
            break;
        case 't': add.tag = optarg; break;
        case 'c': add.cve = optarg; break;
        case 'r': add.reason = rv.reason = optarg; break;
        case 'A': add.approver = optarg; break;
        case 'C': add.control = optarg; break;
        case 'e':
            if (parse_when(optarg, &add.expires_time_ms))
                return ctl_usage_err("exception",
                                     "--expires '%s': a date, an RFC 3339 time or a duration",
                                     optarg);
            break;
        case 'h': ctl_usage_exception(stdout); return CTL_EXIT_OK;
        case ':':
            return ctl_usage_err("exception", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("exception", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return ctl_usage_err("exception", "add, list or revoke?");
    sub = argv[optind];
    req.request_id = 72;
    if (strcmp(sub, "add") == 0 && optind + 1 == argc) {
        /* getopt gives a required_argument option a non-NULL optarg. */
        if ((host != NULL) + all + (add.tag[0] != '\0') != 1) // NOLINT(clang-analyzer-core.NullDereference)
            return ctl_usage_err("exception",
                                 "add needs one of --host HOST, --tag KEY=VALUE or --all");
        if (add.tag[0] && !strchr(add.tag, '='))
            return ctl_usage_err("exception", "--tag takes KEY=VALUE");
        if (!add.package[0] && !add.cve[0])
            return ctl_usage_err("exception", "add needs --source P, --binary P or --cve C");
        if (!add.reason[0] || !add.approver[0] || !add.expires_time_ms) // NOLINT(clang-analyzer-core.NullDereference)
            return ctl_usage_err("exception", "add needs --reason, --approver and --expires");
        if (host) {
            if ((rc = ctl_resolve_agent_id(ctl, host, agent_id, sizeof(agent_id))) != 0)
                return rc;
            add.host = agent_id;
        }
        add.all_hosts = all;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_EXCEPTION_ADD;
        req.exception_add = &add;
        want = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTION;
    } else if (strcmp(sub, "list") == 0 && optind + 1 == argc) {
        q.all = all;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_EXCEPTIONS;
        req.exceptions = &q;
        want = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTIONS;
    } else if (strcmp(sub, "revoke") == 0 && optind + 2 == argc) {
        uint64_t id;
        if (vg_parse_u64(argv[optind + 1], 1, INT64_MAX, &id))
            return ctl_usage_err("exception", "revoke takes the exception's number");
        if (!rv.reason[0])
            return ctl_usage_err("exception", "revoke needs --reason TEXT");
        rv.id = (int64_t)id;
        req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_EXCEPTION_REVOKE;
        req.exception_revoke = &rv;
        want = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTION;
    } else {
        return ctl_usage_err("exception", "expected: add OPTIONS | list [--all] | revoke ID");
    }
    if ((rc = ctl_query(ctl, &req, want, &resp, &owner)) != 0)
        return rc;
    if (want == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_EXCEPTION) {
        if (ctl->json) {
            json_t *o = exc_json(resp->exception, now);
            ctl_print_json(o);
            json_decref(o);
        } else {
            exc_print(resp->exception, now);
        }
    } else {
        json_t *a = json_array();
        if (!ctl->json)
            printf("%-4s %-8s %s\n", "ID", "STATE", "COVERS (approval on the next line)");
        for (size_t i = 0; i < resp->exceptions->n_exceptions; i++) {
            if (ctl->json)
                json_array_append_new(a, exc_json(resp->exceptions->exceptions[i], now));
            else
                exc_print(resp->exceptions->exceptions[i], now);
        }
        if (ctl->json)
            ctl_print_json(a);
        json_decref(a);
    }
    ctl_call_free(owner);
    return CTL_EXIT_OK;
}

/* ---- reports ---- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* name in path's directory: ("dir/report.csv", "report-hosts.csv") ->
 * "dir/report-hosts.csv". */
static void beside(const char *path, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%.*s%s", (int)(base_name(path) - path), path, name);
}

static int write_file(const char *path, const void *data, size_t len)
{
    int rc = vg_file_write_atomic(path, data, len, 0600, 0);
    if (rc)
        return ctl_err("cannot write %s: %s", path, vg_strerror(rc));
    return 0;
}

/* The file's content, decompressed and checked against its hash and the
 * manifest's line for it.  *data is f's or a new buffer (free() it if
 * it differs from f->content.data). */
static int report_content(const Vigil__V1__ReportFile *f, const struct vg_rsig_file *listed,
                          uint8_t **data, size_t *len)
{
    uint8_t d[VG_SHA256_LEN];
    char hex[VG_SHA256_HEX];

    *data = f->content.data;
    *len = f->content.len;
    if (strcmp(f->name, listed->name) != 0)
        return ctl_err("the collector sent %s where its manifest lists %s", f->name,
                       listed->name);
    if (f->lz4) {
        if (f->size > (uint64_t)f->content.len * VG_LZ_MAX_RATIO || f->size > REPORT_MAX ||
            !(*data = malloc(f->size ? f->size : 1)) ||
            vg_lz_decompress(f->content.data, f->content.len, *data, f->size) != 0) {
            free(*data);
            *data = NULL;
            return ctl_err("the report arrived damaged (%s does not decompress)", f->name);
        }
        *len = f->size;
    }
    vg_sha256(*data, *len, d);
    vg_hex(d, sizeof(d), hex);
    if (strcmp(hex, f->sha256) != 0 || strcmp(hex, listed->sha256) != 0) {
        if (*data != f->content.data)
            free(*data);
        *data = NULL;
        return ctl_err("the report arrived damaged (%s has SHA-256 %s, the manifest says %s)",
                       f->name, hex, listed->sha256);
    }
    return 0;
}

/* The collector's signature, checked before anything is written: a
 * collector whose key and certificate disagree is found now, not by
 * the assessor. */
static int report_check_signature(const struct ctl *ctl, const Vigil__V1__ReportResult *r)
{
    struct vg_cert *cab = NULL;
    struct vg_rsig m;
    char why[600];
    int rc;

    if (!r->manifest_signature.len || !r->collector_certificate ||
        !r->collector_certificate[0])
        return ctl_err("the collector did not sign the report");
    if (!ctl->ca)
        return 0; /* the TLS session already authenticated the collector */
    if ((rc = vg_cert_load(ctl->ca, &cab)) != 0)
        return ctl_err("cannot load the CA %s: %s", ctl->ca, vg_strerror(rc));
    rc = vg_rsig_verify((const char *)r->manifest.data, r->manifest.len,
                        r->manifest_signature.data, r->manifest_signature.len,
                        r->collector_certificate, cab, &m, why, sizeof(why));
    vg_cert_free(cab);
    if (rc)
        return ctl_err("the collector's signature does not verify against %s: %s", ctl->ca,
                       why);
    return 0;
}

static int report_patch(struct ctl *ctl, const char *format, const char *out, int64_t as_of,
                        const char *pattern, const char *layout, int sign)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__ReportRequest rr = VIGIL__V1__REPORT_REQUEST__INIT;
    Vigil__V1__OperatorResponse *resp = NULL;
    const Vigil__V1__ReportResult *r;
    struct vg_rsig m;
    void *owner = NULL;
    char path[4400], why[600];
    int rc;

    if (strlen(out) > 4000 || vg_rsig_name_check(base_name(out)) != 0)
        return ctl_usage_err("report", "-o FILE: a path of at most 4000 bytes whose file name "
                                       "(at most 200 bytes) has no '\\' or control characters");
    rr.kind = "patch";
    rr.format = (char *)format;
    rr.as_of_time_ms = as_of;
    rr.hosts_pattern = (char *)(pattern ? pattern : "");
    rr.sign = sign;
    rr.layout = (char *)(layout ? layout : "");
    rr.file_name = (char *)base_name(out);
    req.request_id = 75;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_REPORT;
    req.report = &rr;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_REPORT, &resp,
                        &owner)) != 0)
        return rc;
    r = resp->report;
    if (!r->manifest.len) {
        rc = ctl_err("the collector sent no manifest (it is older than this vigilctl)");
        goto out;
    }
    if (vg_rsig_parse((const char *)r->manifest.data, r->manifest.len, &m, why, sizeof(why))) {
        rc = ctl_err("the collector's manifest is malformed: %s", why);
        goto out;
    }
    if (m.nfiles != r->n_files || strcmp(m.files[0].name, base_name(out)) != 0) {
        rc = ctl_err("the collector's manifest does not list the files it sent");
        goto out;
    }
    if (sign && (rc = report_check_signature(ctl, r)) != 0)
        goto out;
    for (size_t i = 0; i < r->n_files && rc == 0; i++) {
        const Vigil__V1__ReportFile *f = r->files[i];
        uint8_t *data;
        size_t len;
        if ((rc = report_content(f, &m.files[i], &data, &len)) != 0)
            break;
        beside(out, f->name, path, sizeof(path));
        rc = write_file(path, data, len);
        if (data != f->content.data)
            free(data);
        if (rc == 0)
            fprintf(stderr, "wrote %s (%zu bytes, sha256 %s)\n", path, len, f->sha256);
    }
    snprintf(path, sizeof(path), "%s.manifest", out);
    if (rc == 0)
        rc = write_file(path, r->manifest.data, r->manifest.len);
    snprintf(path, sizeof(path), "%s.manifest.sig", out);
    if (rc == 0 && sign)
        rc = write_file(path, r->manifest_signature.data, r->manifest_signature.len);
    else if (rc == 0)
        unlink(path); /* an earlier signed report's, which would not match */
    snprintf(path, sizeof(path), "%s.collector.pem", out);
    if (rc == 0 && sign)
        rc = write_file(path, r->collector_certificate, strlen(r->collector_certificate));
    else if (rc == 0)
        unlink(path);
    if (rc == 0)
        fprintf(stderr, "wrote %s.manifest: report %s%s%s%s\n", out, m.report_id,
                sign ? ", signed by collector " : " (unsigned)", sign ? m.collector : "",
                sign ? " (.manifest.sig, .collector.pem)" : "");
out:
    ctl_call_free(owner);
    return rc;
}

/* Prints one verification failure naming the file; returns 1. */
static int failed(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failed(const char *file, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vigilctl: %s: FAILED: ", file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_FAIL;
}

/* Checks a report's set: FILE.manifest (FILE may be the manifest
 * itself), its signature and certificate unless hash_only, and every
 * file it lists. */
static int report_verify(const char *file, const char *ca, int hash_only)
{
    char stem[4100], mpath[4200], sigp[4200], pemp[4200], path[4400], why[600];
    char t1[VG_TIME_STR_MAX], t2[VG_TIME_STR_MAX];
    char *text = NULL, *pem = NULL, *sig = NULL;
    size_t tlen = 0, plen = 0, slen = 0, n = strlen(file);
    const char *listed = NULL;
    struct vg_cert *cab = NULL;
    struct vg_rsig m;
    int rc, bad = 0;

    if (n > 4000)
        return ctl_usage_err("report", "verify: the path is too long");
    if (n > 9 && strcmp(file + n - 9, ".manifest") == 0) {
        snprintf(stem, sizeof(stem), "%.*s", (int)(n - 9), file);
    } else {
        snprintf(stem, sizeof(stem), "%s", file);
        listed = base_name(file);
    }
    snprintf(mpath, sizeof(mpath), "%s.manifest", stem);
    snprintf(sigp, sizeof(sigp), "%s.manifest.sig", stem);
    snprintf(pemp, sizeof(pemp), "%s.collector.pem", stem);
    if (!hash_only && !ca)
        return ctl_usage_err("report", "verify needs --ca CA (the fleet's CA certificate)");
    rc = vg_file_read(mpath, VG_RSIG_MAX, &text, &tlen);
    if (rc == -ENOENT) {
        snprintf(path, sizeof(path), "%s.sig", stem);
        if (access(path, F_OK) == 0)
            return failed(file, "%s is a single-file signature from a Vigil development "
                                "version before report manifests, which this vigilctl does "
                                "not check: make the report again with --sign",
                          path);
        return failed(file, "no %s beside it: give the report's main file (the name given "
                            "to -o) or its .manifest",
                      mpath);
    }
    if (rc)
        return ctl_err("cannot read %s: %s", mpath, vg_strerror(rc));
    memset(&m, 0, sizeof(m)); /* read below only if bad stays 0; zeroed so no path reads it unset */
    if (hash_only) {
        if (vg_rsig_parse(text, tlen, &m, why, sizeof(why)) != 0)
            bad = failed(mpath, "%s", why);
    } else if ((rc = vg_cert_load(ca, &cab)) != 0) {
        free(text);
        return ctl_err("cannot load the CA %s: %s", ca, vg_strerror(rc));
    } else if ((rc = vg_file_read(sigp, 4096, &sig, &slen)) != 0) {
        bad = rc == -ENOENT ? failed(file, "no signature (%s): nothing shows the collector made "
                                           "it (--hash-only checks the manifest alone, which "
                                           "anyone can rewrite)",
                                     sigp)
                            : failed(sigp, "cannot read it: %s", vg_strerror(rc));
    } else if ((rc = vg_file_read(pemp, VG_RSIG_MAX, &pem, &plen)) != 0) {
        bad = failed(pemp, "cannot read the collector's certificate: %s", vg_strerror(rc));
    } else if ((rc = vg_rsig_verify(text, tlen, (const uint8_t *)sig, slen, pem, cab, &m, why,
                                    sizeof(why))) != 0) {
        bad = failed(rc == VG_ECERT ? pemp : rc == VG_ECRYPTO ? sigp : mpath, "%s", why);
    }
    vg_cert_free(cab);
    free(sig);
    free(pem);
    free(text);
    if (bad)
        return CTL_EXIT_FAIL;
    if (listed) {
        size_t i;
        for (i = 0; i < m.nfiles && strcmp(m.files[i].name, listed) != 0; i++)
            ;
        if (i == m.nfiles)
            return failed(file, "not listed in %s", mpath);
    }
    for (size_t i = 0; i < m.nfiles; i++) {
        uint8_t d[VG_SHA256_LEN];
        char hex[VG_SHA256_HEX];
        beside(mpath, m.files[i].name, path, sizeof(path));
        if ((rc = vg_sha256_file(path, UINT64_MAX, d)) != 0) {
            bad = rc == -ENOENT ? failed(path, "missing (%s lists it)", mpath)
                                : failed(path, "cannot read it: %s", vg_strerror(rc));
            continue;
        }
        if (strcmp(vg_hex(d, sizeof(d), hex), m.files[i].sha256) != 0) {
            bad = failed(path, "altered (SHA-256 %s, the manifest says %s)", hex,
                         m.files[i].sha256);
            continue;
        }
        printf("%s: OK\n", path);
    }
    if (bad)
        return ctl_err("report %s: FAILED: a file of the set is missing or altered",
                       m.report_id);
    if (hash_only)
        printf("%s: the files match (a checksum only: it shows them intact, not who made "
               "them)\n",
               mpath);
    else
        printf("%s: OK, signed by collector %s at %s\n", mpath, m.collector,
               vg_time_format(m.generated_ms, t1, sizeof(t1)));
    printf("report %s: %s%s%s, as of %s\n", m.report_id, m.format, m.layout[0] ? " " : "",
           m.layout, vg_time_format(m.as_of_ms, t2, sizeof(t2)));
    return CTL_EXIT_OK;
}

static const struct option report_long[] = {
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, 'o' },
    { "as-of", required_argument, NULL, 'a' },
    { "hosts", required_argument, NULL, 'H' },
    { "layout", required_argument, NULL, 'l' },
    { "sign", no_argument, NULL, 's' },
    { "ca", required_argument, NULL, 'c' },
    { "hash-only", no_argument, NULL, 'x' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_report[] = {
    { NULL, ":ho:", report_long },
    { NULL, NULL, NULL },
};

int ctl_cmd_report(struct ctl *ctl, int argc, char **argv)
{
    const char *format = NULL, *out = NULL, *pattern = NULL, *layout = NULL, *ca = ctl->ca;
    int64_t as_of = 0;
    int c, sign = 0, hash_only = 0;

    while ((c = ctl_getopt(argc, argv, ctl_opts_report)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "json") != 0 &&
                strcmp(optarg, "html") != 0)
                return ctl_usage_err("report", "unknown --format '%s': give csv, json or html",
                                     optarg);
            format = optarg;
            break;
        case 'o': out = optarg; break;
        case 'a':
            if (vg_time_parse(optarg, &as_of) || as_of <= 0)
                return ctl_usage_err("report", "--as-of '%s': a date (2026-11-01) or an RFC 3339 time",
                                     optarg);
            break;
        case 'H': pattern = optarg; break;
        case 'l':
            if (strcmp(optarg, "summary") != 0 && strcmp(optarg, "full") != 0)
                return ctl_usage_err("report", "--layout '%s': summary or full", optarg);
            layout = optarg;
            break;
        case 's': sign = 1; break;
        case 'c': ca = optarg; break;
        case 'x': hash_only = 1; break;
        case 'h': ctl_usage_report(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_err("report", "option '%s' needs a value", argv[optind - 1]);
        default: return ctl_usage_err("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc && strcmp(argv[optind], "patch") == 0 && optind + 1 == argc) {
        if (!format || !out)
            return ctl_usage_err("report", "patch needs --format csv|json|html and -o FILE");
        if (layout && strcmp(format, "html") != 0)
            return ctl_usage_err("report", "--layout applies to --format html only");
        return report_patch(ctl, format, out, as_of, pattern, layout, sign);
    }
    if (optind < argc && strcmp(argv[optind], "verify") == 0 && optind + 2 == argc)
        return report_verify(argv[optind + 1], ca, hash_only);
    return ctl_usage_err("report", "expected: patch --format F -o FILE | verify FILE");
}
