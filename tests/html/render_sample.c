/* Renders a report document to HTML and CSV, for tests/html/check_html.sh
 * and the eye: render_report IN.json OUT_PREFIX writes OUT_PREFIX.html
 * (summary layout), OUT_PREFIX-full.html (full layout), OUT_PREFIX.csv
 * (findings) and OUT_PREFIX-hosts.csv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../collector/report_render.h"
#include "err.h"
#include "util.h"

static int write_out(const char *prefix, const char *suffix, const char *data, size_t len)
{
    char path[4096];
    int rc;

    if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix, suffix) >= sizeof(path)) {
        fprintf(stderr, "render_report: output prefix too long\n");
        return -1;
    }
    rc = vg_file_write_atomic(path, data, len, 0644, 0);
    if (rc) {
        fprintf(stderr, "render_report: %s: %s\n", path, vg_strerror(rc));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    json_error_t jerr;
    json_t *doc;
    char *html = NULL, *full = NULL, *fcsv = NULL, *hcsv = NULL;
    size_t hlen = 0, fulllen = 0, flen = 0, hclen = 0;
    int rc, status = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: render_report IN.json OUT_PREFIX\n");
        return 2;
    }
    doc = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        fprintf(stderr, "render_report: %s:%d: %s\n", argv[1], jerr.line, jerr.text);
        return 1;
    }
    rc = report_render_html(doc, REPORT_LAYOUT_SUMMARY, &html, &hlen);
    if (rc == 0)
        rc = report_render_html(doc, REPORT_LAYOUT_FULL, &full, &fulllen);
    if (rc) {
        fprintf(stderr, "render_report: html: %s\n", vg_strerror(rc));
        goto out;
    }
    rc = report_render_csv(doc, &fcsv, &flen, &hcsv, &hclen);
    if (rc) {
        fprintf(stderr, "render_report: csv: %s\n", vg_strerror(rc));
        goto out;
    }
    if (write_out(argv[2], ".html", html, hlen) ||
        write_out(argv[2], "-full.html", full, fulllen) || write_out(argv[2], ".csv", fcsv, flen) ||
        write_out(argv[2], "-hosts.csv", hcsv, hclen))
        goto out;
    status = 0;
out:
    free(html);
    free(full);
    free(fcsv);
    free(hcsv);
    json_decref(doc);
    return status;
}
