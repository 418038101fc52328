/*
 * Renderings of the patch-compliance report: CSV for spreadsheets and
 * one self-contained HTML page for people, both made from the JSON
 * document that docs/report-schema.json describes (version 2).
 *
 * The renderers only format: every figure, state, day count and
 * sentence (the headline, the rule wording, scope reasons) comes from the
 * document, computed once by the engine, so CSV, JSON and HTML agree.
 *
 * The renderers need only "type" ("vigil-patch-report"), "version" (2;
 * 1 is still read, its renamed fields shown as missing) and the "hosts"
 * and "findings" arrays of objects.  Anything else that
 * is missing, null or of another type is shown as "—" in HTML and as an
 * empty cell in CSV, so a partial document still renders.  Every string
 * is treated as hostile (most come from the hosts): HTML-escaped, and in
 * CSV quoted and guarded against spreadsheet formulas.
 */
#ifndef VG_REPORT_RENDER_H
#define VG_REPORT_RENDER_H

#include <stddef.h>

#include <jansson.h>

/* Neither rendering may grow past this; a larger report is refused. */
#define REPORT_RENDER_MAX ((size_t)1 << 30)

/* What the HTML holds.  SUMMARY (the default) is what an assessor reads,
 * at most three A4 pages for a few hundred hosts: headline, each rule's
 * result, unsupported OS, worst hosts, overdue CVEs, exceptions in force,
 * trend.  FULL adds the estate figures, every exception, every CVE and
 * an appendix with every host and its findings. */
enum report_layout { REPORT_LAYOUT_SUMMARY, REPORT_LAYOUT_FULL };

/* CSV: one row per finding (findings) and one per host (hosts);
 * every row ends with the report's report_id, as_of, collector and
 * generated (from the header), so each file names the report it belongs to;
 * RFC 4180 (CRLF, quotes doubled), UTF-8 without a byte-order mark,
 * header row first.  A text cell starting with = + - @ TAB or CR gets a
 * leading single quote (OWASP's advice against formula injection);
 * numbers are written as numbers, true/false as true/false, lists
 * space-separated, failing_rules as "RULE: reason; RULE: reason".
 * On success *findings_csv and *hosts_csv are malloc'd, NUL-terminated
 * (lengths exclude the NUL) and owned by the caller; on failure both are
 * NULL.  Returns 0, -ENOMEM, VG_ETOOBIG (over REPORT_RENDER_MAX) or
 * VG_EPROTO (doc lacks what it needs). */
int report_render_csv(const json_t *doc, char **findings_csv, size_t *findings_len,
                      char **hosts_csv, size_t *hosts_len);

/* One self-contained HTML page in the given layout: inline CSS and SVG
 * only, no script, no external fetch (a Content-Security-Policy says so
 * to the browser too), laid out to print on A4, with the report id, as-of
 * time, collector and generation time at the top and on every printed
 * page.  In the FULL layout every host and finding value of the appendix
 * sits in an element with a data-field attribute named after its JSON
 * key (rows carry data-host / data-finding), so tests can compare it with
 * the CSV.  *html is malloc'd, NUL-terminated and owned by the caller;
 * NULL on failure.  Returns 0, -ENOMEM, VG_ETOOBIG or VG_EPROTO (also for
 * an unknown layout), as report_render_csv. */
int report_render_html(const json_t *doc, enum report_layout layout, char **html, size_t *len);

#endif
