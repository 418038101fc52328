/* Report renderings: the sample document gives one CSV row per finding
 * and per host under a header, each row ending with the report's id,
 * as-of, collector and generation time; text is quoted per RFC 4180 and
 * guarded against formulas while numbers are not; the HTML carries the
 * summary figures under stable ids, escapes what hosts supply, holds no
 * script and no external reference; the summary layout never shows a
 * bare percentage while hosts are unconfirmed; every host and finding
 * value of the HTML (summary and full) equals its CSV cell; a document
 * missing optional parts renders, one missing what is needed is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../../collector/report_render.h"
#include "err.h"

#define FINDING_COLS 34 /* 30 fields and the 4 stamp columns */
#define HOST_COLS 21    /* 17 fields and the 4 stamp columns */
#define STAMP_COLS 4

static json_t *load_sample(void)
{
    char p[512];
    const char *base = getenv("VG_ROOT");
    json_error_t jerr;
    json_t *doc;

    snprintf(p, sizeof(p), "%s/tests/fixtures/report/sample.json", base ? base : ".");
    doc = json_load_file(p, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fail_msg("%s:%d: %s", p, jerr.line, jerr.text);
    return doc;
}

/* ---- a strict RFC 4180 reader: CRLF after every record, quotes doubled
 * inside quoted fields, nothing after a closing quote but , or CRLF ---- */

#define MAX_ROWS 64
#define MAX_FIELDS 40

struct csv {
    size_t nrows;
    size_t nfields[MAX_ROWS];
    char *cell[MAX_ROWS][MAX_FIELDS];
};

static void csv_free(struct csv *c)
{
    for (size_t r = 0; r < c->nrows; r++)
        for (size_t f = 0; f < c->nfields[r]; f++)
            free(c->cell[r][f]);
    memset(c, 0, sizeof(*c));
}

/* Returns 0, or -1 with the offset of the fault in *bad. */
static int csv_parse(const char *s, size_t len, struct csv *c, size_t *bad)
{
    size_t i = 0;

    memset(c, 0, sizeof(*c));
    while (i < len) {
        size_t r = c->nrows, nf = 0;
        if (r == MAX_ROWS)
            goto fail;
        c->nrows++;
        for (;;) {
            char *v = calloc(1, len + 1);
            size_t n = 0;
            if (!v || nf == MAX_FIELDS) {
                free(v);
                goto fail;
            }
            c->cell[r][nf] = v;
            c->nfields[r] = ++nf;
            if (i < len && s[i] == '"') {
                for (i++;; i++) {
                    if (i >= len)
                        goto fail;
                    if (s[i] == '"') {
                        if (i + 1 < len && s[i + 1] == '"') {
                            v[n++] = '"';
                            i++;
                            continue;
                        }
                        i++;
                        break;
                    }
                    v[n++] = s[i];
                }
            } else {
                while (i < len && s[i] != ',' && s[i] != '\r' && s[i] != '\n' && s[i] != '"')
                    v[n++] = s[i++];
            }
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') {
                i += 2;
                break;
            }
            goto fail; /* bare CR or LF, stray quote, or no final CRLF */
        }
    }
    return 0;
fail:
    *bad = i;
    return -1;
}

static void parse_or_fail(const char *s, size_t len, struct csv *c)
{
    size_t bad = 0;
    if (csv_parse(s, len, c, &bad) != 0)
        fail_msg("CSV malformed at offset %zu: \"%.40s\"", bad, s + (bad < len ? bad : len));
}

static int col_index(const struct csv *c, const char *name)
{
    for (size_t f = 0; f < c->nfields[0]; f++)
        if (strcmp(c->cell[0][f], name) == 0)
            return (int)f;
    fail_msg("no column %s", name);
    return -1;
}

static void test_csv_sample(void **state)
{
    json_t *doc = load_sample();
    char *fc, *hc;
    size_t fl, hl;
    struct csv c;
    int state_col;

    (void)state;
    assert_int_equal(report_render_csv(doc, &fc, &fl, &hc, &hl), 0);
    assert_int_equal(strlen(fc), fl);
    assert_int_equal(strlen(hc), hl);

    parse_or_fail(fc, fl, &c);
    assert_int_equal(c.nrows, json_array_size(json_object_get(doc, "findings")) + 1);
    for (size_t r = 0; r < c.nrows; r++)
        assert_int_equal(c.nfields[r], FINDING_COLS);
    assert_string_equal(c.cell[0][0], "agent_id");
    assert_string_equal(c.cell[0][FINDING_COLS - STAMP_COLS - 1], "id");
    assert_string_equal(c.cell[0][FINDING_COLS - 4], "report_id");
    assert_string_equal(c.cell[0][FINDING_COLS - 1], "generated");
    /* Each row says what its finding says, in document order. */
    state_col = col_index(&c, "state");
    for (size_t r = 1; r < c.nrows; r++) {
        json_t *f = json_array_get(json_object_get(doc, "findings"), r - 1);
        assert_string_equal(c.cell[r][state_col], json_string_value(json_object_get(f, "state")));
        assert_string_equal(c.cell[r][col_index(&c, "package")],
                            json_string_value(json_object_get(f, "package")));
    }
    /* Lists space-separated; null is an empty cell; booleans true/false. */
    assert_string_equal(c.cell[1][col_index(&c, "cves")], "CVE-2026-0990 CVE-2026-1044");
    assert_string_equal(c.cell[1][col_index(&c, "installed")], "");
    assert_string_equal(c.cell[1][col_index(&c, "in_scope")], "true");
    assert_string_equal(c.cell[1][col_index(&c, "days_open")], "29.6");
    assert_string_equal(c.cell[1][col_index(&c, "days_late")], "15.6");
    assert_string_equal(c.cell[1][col_index(&c, "released_from")], "advisory");
    assert_string_equal(c.cell[1][col_index(&c, "clock_confirmed")], "true");
    assert_string_equal(c.cell[1][col_index(&c, "exceptions")], "");
    assert_string_equal(c.cell[5][col_index(&c, "exceptions")], "3");
    assert_string_equal(c.cell[4][col_index(&c, "days_late")], "");
    /* Every row names its report. */
    for (size_t r = 1; r < c.nrows; r++) {
        assert_string_equal(c.cell[r][col_index(&c, "report_id")],
                            "5d0c3a9e7b21f4c86e1a0b93d2f7c415");
        assert_string_equal(c.cell[r][col_index(&c, "as_of")], "2026-11-20T06:00:00Z");
        assert_string_equal(c.cell[r][col_index(&c, "collector")],
                            "collector.example-trust.nhs.uk");
        assert_string_equal(c.cell[r][col_index(&c, "generated")], "2026-11-20T06:00:04.318Z");
    }
    csv_free(&c);

    parse_or_fail(hc, hl, &c);
    assert_int_equal(c.nrows, json_array_size(json_object_get(doc, "hosts")) + 1);
    for (size_t r = 0; r < c.nrows; r++)
        assert_int_equal(c.nfields[r], HOST_COLS);
    assert_string_equal(c.cell[0][HOST_COLS - STAMP_COLS - 1], "failing_rules");
    assert_string_equal(c.cell[5][col_index(&c, "status")], "unconfirmed");
    assert_string_equal(c.cell[5][col_index(&c, "unconfirmed")], "4");
    assert_string_equal(c.cell[5][col_index(&c, "reboot_required")], "true");
    for (size_t r = 1; r < c.nrows; r++)
        assert_string_equal(c.cell[r][col_index(&c, "report_id")],
                            "5d0c3a9e7b21f4c86e1a0b93d2f7c415");
    assert_string_equal(c.cell[3][col_index(&c, "failing_rules")],
                        "CE: unsupported OS (Debian 11 since 2026-08-31); 1 fix overdue (bind9); "
                        "DSPT: unsupported operating system; CAF-B4.d: unsupported software in "
                        "use; 1 fix overdue");
    assert_string_equal(c.cell[1][col_index(&c, "failing_rules")], "");
    assert_string_equal(c.cell[4][col_index(&c, "stale")], "true");
    csv_free(&c);

    free(fc);
    free(hc);
    json_decref(doc);
}

static void test_csv_quoting_and_guard(void **state)
{
    json_t *doc = load_sample();
    json_t *f = json_array_get(json_object_get(doc, "findings"), 0);
    char *fc, *hc;
    size_t fl, hl;
    struct csv c;

    (void)state;
    json_object_set_new(f, "scope_reason", json_string("a, \"b\"\r\nc"));
    json_object_set_new(f, "package", json_string("=HYPERLINK(\"http://x\",\"y\")"));
    json_object_set_new(f, "hostname", json_string("@SUM(1+1)"));
    json_object_set_new(f, "installed_version", json_string("+1"));
    json_object_set_new(f, "fixed_version", json_string("-2"));
    json_object_set_new(f, "effective_note", json_string("\tx"));
    json_object_set_new(f, "urgency", json_string("\rcr"));
    json_object_set_new(f, "binaries", json_pack("[ss]", "=a", "b"));
    /* Numbers stay numbers, negative or not. */
    json_object_set_new(f, "days_open", json_integer(-1));
    json_object_set_new(f, "cvss", json_real(-1.5));

    assert_int_equal(report_render_csv(doc, &fc, &fl, &hc, &hl), 0);
    /* On the wire: quoted, inner quotes doubled, the line break kept. */
    assert_non_null(strstr(fc, ",\"a, \"\"b\"\"\r\nc\","));
    assert_non_null(strstr(fc, ",-1,"));
    assert_non_null(strstr(fc, ",-1.5,"));
    assert_null(strstr(fc, "'-1"));

    parse_or_fail(fc, fl, &c);
    assert_int_equal(c.nrows, json_array_size(json_object_get(doc, "findings")) + 1);
    assert_int_equal(c.nfields[1], FINDING_COLS);
    assert_string_equal(c.cell[1][col_index(&c, "scope_reason")], "a, \"b\"\r\nc");
    assert_string_equal(c.cell[1][col_index(&c, "package")], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_string_equal(c.cell[1][col_index(&c, "hostname")], "'@SUM(1+1)");
    assert_string_equal(c.cell[1][col_index(&c, "installed_version")], "'+1");
    assert_string_equal(c.cell[1][col_index(&c, "fixed_version")], "'-2");
    assert_string_equal(c.cell[1][col_index(&c, "effective_note")], "'\tx");
    assert_string_equal(c.cell[1][col_index(&c, "urgency")], "'\rcr");
    assert_string_equal(c.cell[1][col_index(&c, "binaries")], "'=a b");
    assert_string_equal(c.cell[1][col_index(&c, "days_open")], "-1");
    assert_string_equal(c.cell[1][col_index(&c, "cvss")], "-1.5");
    /* A text cell that merely contains a formula character is left alone. */
    assert_string_equal(c.cell[1][col_index(&c, "agent_id")], "db01");
    /* No cell of any row starts a formula. */
    for (size_t r = 0; r < c.nrows; r++)
        for (size_t i = 0; i < c.nfields[r]; i++) {
            const char *v = c.cell[r][i];
            if (v[0] == '-' && (isdigit((unsigned char)v[1]) || v[1] == '.'))
                continue;
            if (v[0] && strchr("=+-@\t\r", v[0]))
                fail_msg("row %zu cell %zu starts a formula: %s", r, i, v);
        }
    csv_free(&c);
    free(fc);
    free(hc);
    json_decref(doc);
}

static char *render_layout(const json_t *doc, enum report_layout layout)
{
    char *html = NULL;
    size_t len = 0;

    assert_int_equal(report_render_html(doc, layout, &html, &len), 0);
    assert_non_null(html);
    assert_int_equal(strlen(html), len);
    return html;
}

static char *render_html(const json_t *doc)
{
    return render_layout(doc, REPORT_LAYOUT_FULL);
}

/* The text of the element with this id, up to its closing tag. */
static void expect_id(const char *html, const char *id, const char *want)
{
    char pat[128];
    const char *p, *end;

    snprintf(pat, sizeof(pat), "id=\"%s\">", id);
    p = strstr(html, pat);
    if (!p)
        fail_msg("no element with id %s", id);
    assert_null(strstr(p + 1, pat)); /* ids are unique */
    p += strlen(pat);
    end = strchr(p, '<');
    assert_non_null(end);
    if ((size_t)(end - p) != strlen(want) || strncmp(p, want, strlen(want)) != 0)
        fail_msg("id %s holds \"%.*s\", expected \"%s\"", id, (int)(end - p), p, want);
}

static void count_text(char *out, size_t n, const json_t *v)
{
    snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* 1 if any tag has an event-handler attribute (onload=, onclick=...).
 * Walks the tags as a browser would: attribute values in quotes may hold
 * anything but their quote. */
static int has_event_attr(const char *html)
{
    const char *p = html;

    while ((p = strchr(p, '<')) != NULL) {
        p++;
        if (!isalpha((unsigned char)*p))
            continue;
        while (*p && !isspace((unsigned char)*p) && *p != '>')
            p++;
        for (;;) {
            const char *name;
            while (isspace((unsigned char)*p) || *p == '/')
                p++;
            if (!*p || *p == '>')
                break;
            name = p;
            while (*p && !isspace((unsigned char)*p) && *p != '=' && *p != '>')
                p++;
            if (p - name > 2 && strncasecmp(name, "on", 2) == 0)
                return 1;
            if (*p != '=')
                continue;
            p++;
            if (*p == '"' || *p == '\'') {
                char q = *p++;
                while (*p && *p != q)
                    p++;
                if (*p)
                    p++;
            } else {
                while (*p && !isspace((unsigned char)*p) && *p != '>')
                    p++;
            }
        }
    }
    return 0;
}

static void test_html_sample(void **state)
{
    json_t *doc = load_sample();
    const json_t *sum = json_object_get(doc, "summary");
    static const struct {
        const char *id, *key;
    } counts[] = {
        {"sum-hosts", "hosts"},
        {"sum-compliant", "compliant"},
        {"sum-non-compliant", "non_compliant"},
        {"sum-unknown", "unknown"},
        {"sum-unconfirmed", "unconfirmed"},
        {"sum-unconfirmed-findings", "unconfirmed_findings"},
        {"sum-overdue", "overdue"},
        {"sum-unsupported-os", "unsupported_os"},
        {"sum-stale", "stale_hosts"},
        {"sum-reboot-pending", "reboot_pending"},
        {"sum-findings", "findings"},
        {"sum-open", "open"},
        {"sum-met", "met"},
        {"sum-met-late", "met_late"},
        {"sum-excepted", "excepted"},
        {"sum-no-fix-yet", "no_fix_yet"},
        {"sum-out-of-scope", "out_of_scope"},
    };
    char want[64], *html;

    (void)state;
    html = render_html(doc);
    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(html, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                                 "'none'; style-src 'unsafe-inline'; img-src data:\">"));
    /* One host unconfirmed: no percentage, however it would read. */
    expect_id(html, "sum-compliant-pct", "not\xc2\xa0" "confirmed");
    assert_null(strstr(html, "20.0%"));
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        count_text(want, sizeof(want), json_object_get(sum, counts[i].key));
        expect_id(html, counts[i].id, want);
    }
    snprintf(want, sizeof(want), "%.1f",
             json_number_value(json_object_get(sum, "mean_days_to_remediate")));
    expect_id(html, "sum-mttr", want);
    expect_id(html, "exc-in-force", "3");
    expect_id(html, "exc-expired", "1");

    /* Every section carries its rule tags; every host and finding is there. */
    assert_non_null(strstr(html, "<section class=\"sec\" id=\"trend\">"));
    assert_non_null(strstr(html, "Evidence for <span class=\"tag\" title=\"NCSC CAF B4.d "
                                 "Vulnerability management\">CAF-B4.d</span></p>"));
    assert_non_null(strstr(html, "legacy01.<wbr>example-trust.<wbr>nhs.<wbr>uk"));
    assert_non_null(strstr(html, "<span class=\"b s-no-fix-yet\">no-fix-yet</span>"));
    assert_non_null(strstr(html, "<span class=\"b e-expired\">expired</span>"));
    /* Full hashes, charts with a text alternative. */
    assert_non_null(strstr(html, json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(doc, "header"), "feeds"), 0), "sha256"))));
    assert_non_null(strstr(html, "<title id=\"chart-compliance-t\">"));
    assert_non_null(strstr(html, "<desc id=\"chart-overdue-d\">"));
    assert_non_null(strstr(html, "@page{size:A4;margin:15mm}"));

    /* Nothing active, nothing fetched. */
    assert_false(contains_ci(html, "<script"));
    assert_false(contains_ci(html, "<link"));
    assert_false(contains_ci(html, "<img"));
    assert_false(contains_ci(html, "<iframe"));
    assert_false(contains_ci(html, "src="));
    assert_false(contains_ci(html, "url("));
    assert_false(contains_ci(html, "@import"));
    assert_false(contains_ci(html, "http:"));
    assert_false(contains_ci(html, "https:"));
    assert_false(has_event_attr(html));
    free(html);
    json_decref(doc);
}

static void test_html_escapes(void **state)
{
    json_t *doc = load_sample();
    json_t *h = json_array_get(json_object_get(doc, "hosts"), 0);
    json_t *f = json_array_get(json_object_get(doc, "findings"), 0);
    json_t *r = json_array_get(json_object_get(doc, "rules"), 0);
    char *html;

    (void)state;
    json_object_set_new(h, "hostname", json_string("<script>alert(1)</script>"));
    json_object_set_new(f, "hostname", json_string("<script>alert(1)</script>"));
    json_object_set_new(f, "package", json_string("a&b 'q' \"dq\""));
    json_object_set_new(f, "state", json_string("x\" onclick=\"alert(1)"));
    json_object_set_new(r, "name", json_string("\"><img src=x onerror=alert(1)>"));
    json_object_set_new(json_object_get(doc, "header"), "organisation",
                        json_string("Org</style><script>alert(1)</script>\x01"));

    html = render_html(doc);
    assert_false(contains_ci(html, "<script"));
    assert_false(contains_ci(html, "<img"));
    assert_false(has_event_attr(html));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "a&amp;b &#39;q&#39; &quot;dq&quot;"));
    /* An unknown state gets a neutral class, never one made from the data. */
    assert_non_null(strstr(html, "<span class=\"b b-other\">x&quot; onclick=&quot;alert(1)</span>"));
    assert_non_null(strstr(html, "title=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\""));
    /* The organisation in the print footer's CSS string is escaped too. */
    assert_non_null(strstr(html, "content:\"Org\\00003c\\00002fstyle\\00003e"));
    assert_null(strstr(html, "\x01"));
    /* One </style>, the real one. */
    {
        const char *first = strstr(html, "</style>");
        assert_non_null(first);
        assert_null(strstr(first + 1, "</style>"));
    }
    free(html);
    json_decref(doc);
}

static void test_minimal_doc(void **state)
{
    json_t *doc = json_pack("{s:s, s:i, s:[{s:s}], s:[{s:s, s:s, s:n, s:[]}]}", "type",
                            "vigil-patch-report", "version", 1, "hosts", "agent_id", "h1",
                            "findings", "agent_id", "h1", "package", "p", "cvss", "cves");
    char *html, *fc, *hc;
    size_t fl, hl;
    struct csv c;

    (void)state;
    assert_non_null(doc);
    html = render_html(doc);
    expect_id(html, "sum-hosts", "\xe2\x80\x94");
    expect_id(html, "sum-compliant-pct", "\xe2\x80\x94");
    expect_id(html, "sum-mttr", "\xe2\x80\x94");
    assert_non_null(strstr(html, "agent <span class=\"mono\" data-field=\"agent_id\">h1</span>"));
    assert_non_null(strstr(html, "</html>\n"));
    free(html);

    assert_int_equal(report_render_csv(doc, &fc, &fl, &hc, &hl), 0);
    parse_or_fail(fc, fl, &c);
    assert_int_equal(c.nrows, 2);
    assert_int_equal(c.nfields[1], FINDING_COLS);
    assert_string_equal(c.cell[1][0], "h1");
    assert_string_equal(c.cell[1][col_index(&c, "package")], "p");
    assert_string_equal(c.cell[1][col_index(&c, "cvss")], "");
    assert_string_equal(c.cell[1][col_index(&c, "cves")], "");
    csv_free(&c);
    parse_or_fail(hc, hl, &c);
    assert_int_equal(c.nrows, 2);
    assert_int_equal(c.nfields[1], HOST_COLS);
    csv_free(&c);
    free(fc);
    free(hc);
    json_decref(doc);

    /* No hosts and no findings at all is still a report. */
    doc = json_pack("{s:s, s:i, s:[], s:[]}", "type", "vigil-patch-report", "version", 2,
                    "hosts", "findings");
    html = render_html(doc);
    assert_non_null(strstr(html, "No hosts in scope."));
    free(html);
    assert_int_equal(report_render_csv(doc, &fc, &fl, &hc, &hl), 0);
    assert_string_equal(hc, "agent_id,hostname,os,os_support,os_eol,last_seen,stale,"
                            "running_kernel,newest_kernel,reboot_required,open,overdue,"
                            "excepted,unconfirmed,status,unconfirmed_reason,failing_rules,"
                            "report_id,as_of,collector,generated\r\n");
    free(fc);
    free(hc);
    json_decref(doc);
}

/* ---- the layouts ----------------------------------------------------------- */

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_layouts(void **state)
{
    json_t *doc = load_sample();
    json_t *sum = json_object_get(doc, "summary");
    char *s, *f, *h2, *bad = NULL;
    size_t len;

    (void)state;
    s = render_layout(doc, REPORT_LAYOUT_SUMMARY);
    f = render_layout(doc, REPORT_LAYOUT_FULL);
    /* Both name the report at the top, in the footer and in every printed
     * page's margins. */
    for (char *h = s; h; h = h == s ? f : NULL) {
        expect_id(h, "stamp-report-id", "5d0c3a9e7b21f4c86e1a0b93d2f7c415");
        expect_id(h, "stamp-as-of", "2026-11-20T06:00:00Z");
        expect_id(h, "stamp-collector", "collector.example-trust.nhs.uk");
        expect_id(h, "stamp-generated", "2026-11-20T06:00:04.318Z");
        assert_int_equal(count_of(h, "5d0c3a9e7b21f4c86e1a0b93d2f7c415"), 4);
        assert_non_null(strstr(h, "@top-right{font-size:7pt;color:#56606b;content:\"report \" "
                                  "\"5d0c3a9e7b21f4c86e1a0b93d2f7c415\"}"));
        expect_id(h, "headline", json_string_value(json_object_get(sum, "headline")));
        assert_non_null(strstr(h, "id=\"rule-CE-status\"><span class=\"b h-fail\">fail</span>"));
        expect_id(h, "rule-DSPT-pass", "1");
        expect_id(h, "rule-CAF-B4.d-unconfirmed", "1");
        assert_non_null(strstr(h, "<th>Approved by (SIRO)</th>"));
        /* The rule's wording as the engine gives it. */
        assert_non_null(strstr(h, "fixes with no vendor rating are in scope (CE treats these as "
                                  "critical)."));
        /* Exceptions: host name beside the agent id; binary and tag scope. */
        assert_non_null(strstr(h, "<strong>ward01.example-trust.nhs.uk</strong><span "
                                  "class=\"sub agent\">agent <span class=\"mono\">ward01</span>"));
        assert_non_null(strstr(h, "libtiff-tools (binary package only)"));
        assert_non_null(strstr(h, "hosts tagged <span class=\"mono\">role=ward-kiosk</span>"));
        assert_non_null(strstr(h, "id=\"worst\""));
        assert_non_null(strstr(h, "id=\"overdue-cves\""));
        assert_non_null(strstr(h, "id=\"trend-summary\""));
        assert_null(strstr(h, "20.0%"));
    }
    expect_id(s, "exc-open", "3");
    /* Worst hosts: by overdue, then open, then unconfirmed, then document
     * order. */
    {
        static const char *const order[] = {"db01", "legacy01", "app01", "ward01", "web01"};
        const char *p = strstr(s, "id=\"worst\"");
        char pat[64];

        assert_non_null(p);
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
            snprintf(pat, sizeof(pat), "<tr data-host=\"%s\">", order[i]);
            p = strstr(p, pat);
            if (!p)
                fail_msg("worst hosts: %s missing or out of order", order[i]);
        }
    }
    /* The summary has no appendix and lists in-force exceptions only. */
    assert_null(strstr(s, "data-finding="));
    assert_null(strstr(s, "id=\"appendix\""));
    assert_null(strstr(s, "b e-expired"));
    assert_null(strstr(s, "b e-revoked"));
    /* The full layout has every host and every finding. */
    assert_int_equal(count_of(f, "<div class=\"host\" data-host="),
                     json_array_size(json_object_get(doc, "hosts")));
    assert_int_equal(count_of(f, "<tr data-finding="),
                     json_array_size(json_object_get(doc, "findings")));
    assert_non_null(strstr(f, "<span class=\"b e-revoked\">revoked</span>"));
    assert_non_null(strstr(f, "<span class=\"b h-unconfirmed\">unconfirmed</span>"));
    free(s);
    free(f);

    /* Once every host is confirmed, the share is shown. */
    json_object_set_new(sum, "unconfirmed", json_integer(0));
    h2 = render_layout(doc, REPORT_LAYOUT_SUMMARY);
    expect_id(h2, "sum-compliant-pct", "20.0%");
    free(h2);

    assert_int_equal(report_render_html(doc, (enum report_layout)7, &bad, &len), VG_EPROTO);
    assert_null(bad);
    json_decref(doc);
}

/* ---- one computation, every format -----------------------------------------
 * Every data-field element of the HTML under a data-host / data-finding
 * must show exactly the CSV cell of that host or finding, as the HTML
 * formats it: "—" for an empty cell, yes/no for true/false, one decimal
 * for days and CVSS, lists joined by ", " (rule tags, like the CSV, by
 * " "), times as the datetime of their <time>. */

static const char *const LIST_COLS[] = {"binaries", "advisories", "cves", "exceptions"};
static const char *const NUM1_COLS[] = {"cvss", "days_open", "days_late"};

static int in_list(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* The CSV cell as the HTML shows it. */
static void html_form(const char *col, const char *cell, char *out, size_t n)
{
    if (!*cell) {
        snprintf(out, n, "\xe2\x80\x94");
    } else if (strcmp(cell, "true") == 0 || strcmp(cell, "false") == 0) {
        snprintf(out, n, "%s", cell[0] == 't' ? "yes" : "no");
    } else if (in_list(col, NUM1_COLS, sizeof(NUM1_COLS) / sizeof(NUM1_COLS[0]))) {
        snprintf(out, n, "%.1f", strtod(cell, NULL));
    } else if (in_list(col, LIST_COLS, sizeof(LIST_COLS) / sizeof(LIST_COLS[0]))) {
        size_t o = 0;
        for (const char *p = cell; *p && o + 3 < n; p++) {
            if (*p == ' ') {
                out[o++] = ',';
                out[o++] = ' ';
            } else {
                out[o++] = *p;
            }
        }
        out[o] = '\0';
    } else {
        snprintf(out, n, "%s", cell);
    }
}

/* The text of the element whose start tag begins at tag: tags stripped,
 * entities decoded, white space collapsed; a <time> inside gives its
 * datetime instead. */
static void element_text(const char *tag, char *out, size_t n)
{
    char name[16];
    size_t nl = 0, o = 0;
    const char *p = tag + 1, *t;
    int depth = 1, space = 0;

    while (isalpha((unsigned char)*p) && nl + 1 < sizeof(name))
        name[nl++] = *p++;
    name[nl] = '\0';
    p = strchr(p, '>');
    assert_non_null(p);
    p++;
    t = strstr(p, "<time datetime=\"");
    while (*p && depth > 0) {
        if (*p == '<') {
            if (p[1] == '/' && strncmp(p + 2, name, nl) == 0 && p[2 + nl] == '>')
                depth--;
            else if (strncmp(p + 1, name, nl) == 0 && (p[1 + nl] == ' ' || p[1 + nl] == '>'))
                depth++;
            if (t && t == p) { /* the time's datetime, up to its quote */
                const char *q = p + strlen("<time datetime=\"");
                o = 0;
                while (*q && *q != '"' && o + 1 < n)
                    out[o++] = *q++;
                out[o] = '\0';
                return;
            }
            p = strchr(p, '>');
            assert_non_null(p);
            p++;
            continue;
        }
        if (*p == '&') {
            static const struct {
                const char *ent, *ch;
            } ents[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""},
                        {"&#39;", "'"}};
            size_t k;
            for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
                if (strncmp(p, ents[k].ent, strlen(ents[k].ent)) == 0)
                    break;
            assert_true(k < sizeof(ents) / sizeof(ents[0]));
            if (space && o > 0 && o + 1 < n)
                out[o++] = ' ';
            space = 0;
            if (o + 1 < n)
                out[o++] = ents[k].ch[0];
            p += strlen(ents[k].ent);
            continue;
        }
        if (isspace((unsigned char)*p)) {
            space = 1;
        } else {
            if (space && o > 0 && o + 1 < n)
                out[o++] = ' ';
            space = 0;
            if (o + 1 < n)
                out[o++] = *p;
        }
        p++;
    }
    out[o] = '\0';
}

/* The element with data-field="col" in [from, to), or NULL. */
static const char *find_field(const char *from, const char *to, const char *col)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), " data-field=\"%s\"", col);
    p = strstr(from, pat);
    if (!p || p >= to)
        return NULL;
    while (p > from && *p != '<')
        p--;
    return p;
}

/* Compares every data-field in [from, to) that is a CSV column with the
 * CSV row; returns how many were compared. */
static size_t compare_region(const char *what, const char *from, const char *to,
                             const struct csv *c, size_t row)
{
    size_t compared = 0;
    char got[2048], want[2048];

    for (size_t col = 0; col + STAMP_COLS < c->nfields[0]; col++) {
        const char *name = c->cell[0][col], *el = find_field(from, to, name);
        if (!el)
            continue;
        element_text(el, got, sizeof(got));
        html_form(name, c->cell[row][col], want, sizeof(want));
        if (strcmp(got, want) != 0)
            fail_msg("%s: %s is \"%s\" in the HTML, \"%s\" in the CSV", what, name, got,
                     c->cell[row][col]);
        compared++;
    }
    return compared;
}

static void test_cross_format(void **state)
{
    json_t *doc = load_sample();
    char *fc, *hc, *full, *sum;
    size_t fl, hl, compared = 0;
    struct csv fcsv, hcsv;

    (void)state;
    assert_int_equal(report_render_csv(doc, &fc, &fl, &hc, &hl), 0);
    parse_or_fail(fc, fl, &fcsv);
    parse_or_fail(hc, hl, &hcsv);
    full = render_layout(doc, REPORT_LAYOUT_FULL);
    sum = render_layout(doc, REPORT_LAYOUT_SUMMARY);

    /* Hosts: the host table of each appendix block holds every column. */
    for (size_t r = 1; r < hcsv.nrows; r++) {
        char pat[256];
        const char *agent = hcsv.cell[r][col_index(&hcsv, "agent_id")], *b, *e;
        const char *in[] = {full, sum};

        snprintf(pat, sizeof(pat), "<div class=\"host\" data-host=\"%s\">", agent);
        b = strstr(full, pat);
        if (!b)
            fail_msg("host %s is not in the appendix", agent);
        e = strstr(b, "</table>");
        assert_non_null(e);
        assert_int_equal(compare_region(agent, b, e, &hcsv, r),
                         hcsv.nfields[0] - STAMP_COLS);
        /* And wherever the summary lists it. */
        for (size_t k = 1; k < 2; k++) {
            snprintf(pat, sizeof(pat), "<tr data-host=\"%s\">", agent);
            for (b = strstr(in[k], pat); b; b = strstr(b + 1, pat)) {
                e = strstr(b, "</tr>");
                assert_non_null(e);
                compared += compare_region(agent, b, e, &hcsv, r);
            }
        }
    }
    /* The summary's tables showed some host values (worst hosts at least). */
    assert_true(compared >= 10);

    /* Findings: each row holds every column but agent_id and hostname,
     * which are those of the host block it sits in. */
    for (size_t r = 1; r < fcsv.nrows; r++) {
        char pat[256], got[512];
        const char *id = fcsv.cell[r][col_index(&fcsv, "id")], *b, *e, *hb, *p;
        size_t n;

        snprintf(pat, sizeof(pat), "<tr data-finding=\"%s\">", id);
        b = strstr(full, pat);
        if (!b)
            fail_msg("finding %s is not in the appendix", id);
        assert_null(strstr(b + 1, pat));
        e = strstr(b, "</tr>");
        assert_non_null(e);
        n = compare_region(id, b, e, &fcsv, r);
        assert_int_equal(n, fcsv.nfields[0] - STAMP_COLS - 2);
        /* The host block around it. */
        hb = NULL;
        for (p = strstr(full, "<div class=\"host\" data-host="); p && p < b;
             p = strstr(p + 1, "<div class=\"host\" data-host="))
            hb = p;
        assert_non_null(hb);
        element_text(find_field(hb, b, "agent_id"), got, sizeof(got));
        assert_string_equal(got, fcsv.cell[r][col_index(&fcsv, "agent_id")]);
        element_text(find_field(hb, b, "hostname"), got, sizeof(got));
        assert_string_equal(got, fcsv.cell[r][col_index(&fcsv, "hostname")]);
    }
    csv_free(&fcsv);
    csv_free(&hcsv);
    free(fc);
    free(hc);
    free(full);
    free(sum);
    json_decref(doc);
}

static void test_refuses_unusable(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"version\":1,\"hosts\":[],\"findings\":[]}",
        "{\"type\":\"other\",\"version\":1,\"hosts\":[],\"findings\":[]}",
        "{\"type\":\"vigil-patch-report\",\"version\":3,\"hosts\":[],\"findings\":[]}",
        "{\"type\":\"vigil-patch-report\",\"version\":\"1\",\"hosts\":[],\"findings\":[]}",
        "{\"type\":\"vigil-patch-report\",\"version\":1,\"findings\":[]}",
        "{\"type\":\"vigil-patch-report\",\"version\":1,\"hosts\":[],\"findings\":{}}",
        "{\"type\":\"vigil-patch-report\",\"version\":1,\"hosts\":[1],\"findings\":[]}",
        "{\"type\":\"vigil-patch-report\",\"version\":1,\"hosts\":[],\"findings\":[null]}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = json_loads(bad[i], 0, NULL);
        char *html = (char *)1, *fc = (char *)1, *hc = (char *)1;
        size_t len, fl, hl;

        assert_non_null(doc);
        assert_int_equal(report_render_html(doc, REPORT_LAYOUT_SUMMARY, &html, &len), VG_EPROTO);
        assert_null(html);
        assert_int_equal(report_render_html(doc, REPORT_LAYOUT_FULL, &html, &len), VG_EPROTO);
        assert_null(html);
        assert_int_equal(report_render_csv(doc, &fc, &fl, &hc, &hl), VG_EPROTO);
        assert_null(fc);
        assert_null(hc);
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_sample),
        cmocka_unit_test(test_csv_quoting_and_guard),
        cmocka_unit_test(test_html_sample),
        cmocka_unit_test(test_html_escapes),
        cmocka_unit_test(test_minimal_doc),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_cross_format),
        cmocka_unit_test(test_refuses_unusable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
