/*
 * Patch-compliance report renderings (CSV and HTML); see report_render.h.
 *
 * Output goes through struct out: a bounded vg_buf plus the first error,
 * so that the many small appends need no check each and the error is
 * looked at once, when the rendering is handed over.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "report_render.h"
#include "util.h"

#define DASH "\xe2\x80\x94" /* U+2014, shown for what is missing or null */
#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD, for control characters */

struct out {
    struct vg_buf b;
    int err; /* first failure; later appends do nothing */
};

static void out_init(struct out *o)
{
    vg_buf_init(&o->b, REPORT_RENDER_MAX);
    o->err = 0;
}

static void putn(struct out *o, const char *s, size_t n)
{
    if (!o->err)
        o->err = vg_buf_append(&o->b, s, n);
}

static void put(struct out *o, const char *s)
{
    putn(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) VG_PRINTF(2, 3);
static void putf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->err)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { /* an encoding error: not with these formats */
        o->err = -EINVAL;
        return;
    }
    o->err = vg_buf_reserve(&o->b, (size_t)n);
    if (o->err)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)o->b.data + o->b.len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->b.len += (size_t)n;
}

/* Hands the text over (never NULL on success), or frees it and returns
 * the first error. */
static int out_take(struct out *o, char **res, size_t *len)
{
    putn(o, "", 0); /* allocates, so that even empty text is a string */
    if (o->err) {
        vg_buf_free(&o->b);
        return o->err;
    }
    *res = (char *)vg_buf_take(&o->b, len);
    return 0;
}

/* ---- document access ------------------------------------------------------ */

static const json_t *get(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* The string at key, or NULL if missing or not a string. */
static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(get(obj, key));
}

static int is_array_of_objects(const json_t *a)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(a))
        return 0;
    json_array_foreach(a, i, v) {
        if (!json_is_object(v))
            return 0;
    }
    return 1;
}

/* What both renderings need; the rest is optional. */
static int doc_usable(const json_t *doc)
{
    const char *type = str(doc, "type");
    const json_t *version = get(doc, "version");

    if (!type || strcmp(type, "vigil-patch-report") != 0)
        return 0;
    if (!json_is_integer(version) || json_integer_value(version) != 1)
        return 0;
    return is_array_of_objects(get(doc, "hosts")) && is_array_of_objects(get(doc, "findings"));
}

static int in_set(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* ---- CSV ------------------------------------------------------------------ */

enum col_kind { COL_PLAIN, COL_FAILING };

struct col {
    const char *key; /* also the header */
    enum col_kind kind;
};

static const struct col FINDING_COLS[] = {
    {"agent_id", COL_PLAIN}, {"hostname", COL_PLAIN}, {"package", COL_PLAIN},
    {"binaries", COL_PLAIN}, {"manager", COL_PLAIN}, {"installed_version", COL_PLAIN},
    {"fixed_version", COL_PLAIN}, {"advisories", COL_PLAIN}, {"cves", COL_PLAIN},
    {"severity", COL_PLAIN}, {"cvss", COL_PLAIN}, {"urgency", COL_PLAIN},
    {"in_scope", COL_PLAIN}, {"scope_reason", COL_PLAIN}, {"released", COL_PLAIN},
    {"first_seen_host", COL_PLAIN}, {"first_seen_fleet", COL_PLAIN}, {"clock_start", COL_PLAIN},
    {"due", COL_PLAIN}, {"installed", COL_PLAIN}, {"effective", COL_PLAIN},
    {"effective_note", COL_PLAIN}, {"days_open", COL_PLAIN}, {"state", COL_PLAIN},
    {"exception", COL_PLAIN}, {"rules", COL_PLAIN},
};

static const struct col HOST_COLS[] = {
    {"agent_id", COL_PLAIN}, {"hostname", COL_PLAIN}, {"os", COL_PLAIN},
    {"os_support", COL_PLAIN}, {"os_eol", COL_PLAIN}, {"last_seen", COL_PLAIN},
    {"stale", COL_PLAIN}, {"running_kernel", COL_PLAIN}, {"newest_kernel", COL_PLAIN},
    {"reboot_required", COL_PLAIN}, {"open", COL_PLAIN}, {"overdue", COL_PLAIN},
    {"excepted", COL_PLAIN}, {"status", COL_PLAIN}, {"failing_rules", COL_FAILING},
};

/* A text field.  Quoted when it holds a separator, a quote or a line
 * break; a leading = + - @ TAB or CR (which spreadsheets take for a
 * formula) gets a single quote in front, inside the quotes. */
static void csv_text(struct out *o, const char *s, size_t n)
{
    int guard = n > 0 && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
    int quote = guard;
    size_t i, start;

    for (i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n' || s[i] == '\0';
    if (!quote) {
        putn(o, s, n);
        return;
    }
    put(o, guard ? "\"'" : "\"");
    for (i = start = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\0')
            continue;
        putn(o, s + start, i - start);
        put(o, s[i] == '"' ? "\"\"" : REPLACEMENT);
        start = i + 1;
    }
    putn(o, s + start, n - start);
    put(o, "\"");
}

static void csv_number(struct out *o, const json_t *v)
{
    if (json_is_integer(v))
        putf(o, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        putf(o, "%.15g", json_real_value(v));
}

/* A list cell: the elements joined by spaces (or, for failing_rules,
 * "RULE: reason" joined by "; "), then written as one text field. */
static void csv_list(struct out *o, const json_t *a, enum col_kind kind)
{
    struct out t;
    size_t i, n = 0;
    const json_t *v;
    char *s = NULL;
    size_t len = 0;

    out_init(&t);
    json_array_foreach(a, i, v) {
        if (kind == COL_FAILING) {
            const char *rule = str(v, "rule"), *reason = str(v, "reason");
            if (!rule && !reason)
                continue;
            put(&t, n++ ? "; " : "");
            put(&t, rule ? rule : "");
            if (reason) {
                put(&t, ": ");
                putn(&t, reason, json_string_length(get(v, "reason")));
            }
        } else if (json_is_string(v)) {
            put(&t, n++ ? " " : "");
            putn(&t, json_string_value(v), json_string_length(v));
        } else if (json_is_number(v)) {
            put(&t, n++ ? " " : "");
            csv_number(&t, v);
        }
    }
    if (out_take(&t, &s, &len) != 0) {
        if (!o->err)
            o->err = t.err;
        return;
    }
    csv_text(o, s, len);
    free(s);
}

static void csv_cell(struct out *o, const json_t *v, enum col_kind kind)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        csv_text(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        csv_number(o, v);
        break;
    case JSON_TRUE:
        put(o, "true");
        break;
    case JSON_FALSE:
        put(o, "false");
        break;
    case JSON_ARRAY:
        csv_list(o, v, kind);
        break;
    default: /* null, missing, or an object where a value belongs: empty */
        break;
    }
}

static int csv_table(const json_t *rows, const struct col *cols, size_t ncols, char **res,
                     size_t *len)
{
    struct out o;
    size_t i, c;
    const json_t *row;

    out_init(&o);
    for (c = 0; c < ncols; c++) {
        put(&o, c ? "," : "");
        put(&o, cols[c].key);
    }
    put(&o, "\r\n");
    json_array_foreach(rows, i, row) {
        for (c = 0; c < ncols; c++) {
            put(&o, c ? "," : "");
            csv_cell(&o, get(row, cols[c].key), cols[c].kind);
        }
        put(&o, "\r\n");
    }
    return out_take(&o, res, len);
}

int report_render_csv(const json_t *doc, char **findings_csv, size_t *findings_len,
                      char **hosts_csv, size_t *hosts_len)
{
    int rc;

    *findings_csv = *hosts_csv = NULL;
    if (!doc_usable(doc))
        return VG_EPROTO;
    rc = csv_table(get(doc, "findings"), FINDING_COLS, VG_ARRAY_SIZE(FINDING_COLS), findings_csv,
                   findings_len);
    if (rc)
        goto err;
    rc = csv_table(get(doc, "hosts"), HOST_COLS, VG_ARRAY_SIZE(HOST_COLS), hosts_csv, hosts_len);
    if (rc)
        goto err;
    return 0;
err:
    free(*findings_csv);
    *findings_csv = NULL;
    return rc;
}

/* ---- HTML: text and values ------------------------------------------------ */

/* Text escaped for element content and quoted attribute values alike.
 * Control characters other than TAB, LF and CR (never valid in HTML)
 * become U+FFFD. */
static void esc(struct out *o, const char *s, size_t n)
{
    size_t i, start = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;

        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            rep = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f ? REPLACEMENT
                                                                                 : NULL;
        }
        if (!rep)
            continue;
        putn(o, s + start, i - start);
        put(o, rep);
        start = i + 1;
    }
    putn(o, s + start, n - start);
}

static void esc_s(struct out *o, const char *s)
{
    esc(o, s, strlen(s));
}

/* A string value (escaped), or "—" when missing or empty. */
static void h_str(struct out *o, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0)
        esc(o, json_string_value(v), json_string_length(v));
    else
        put(o, DASH);
}

/* Any scalar: text escaped, numbers as they are, booleans as yes/no. */
static void h_val(struct out *o, const json_t *v)
{
    if (json_is_integer(v))
        putf(o, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        putf(o, "%.15g", json_real_value(v));
    else if (json_is_boolean(v))
        put(o, json_is_true(v) ? "yes" : "no");
    else
        h_str(o, v);
}

/* A number with one decimal (percentages, days, CVSS), or "—". */
static void h_num1(struct out *o, const json_t *v)
{
    if (json_is_number(v))
        putf(o, "%.1f", json_number_value(v));
    else
        put(o, DASH);
}

/* A count, or "—". */
static void h_int(struct out *o, const json_t *v)
{
    if (json_is_integer(v))
        putf(o, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        putf(o, "%.15g", json_real_value(v));
    else
        put(o, DASH);
}

/* A time "YYYY-MM-DDTHH:MM:SSZ" shown with a space for the T, in a
 * <time> element that may wrap between date and time but not inside
 * either; or "—". */
static void h_time(struct out *o, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (!s || n == 0) {
        put(o, DASH);
        return;
    }
    put(o, "<time datetime=\"");
    esc(o, s, n);
    put(o, "\">");
    if (n > 10 && s[10] == 'T') {
        put(o, "<span class=\"nw\">");
        esc(o, s, 10);
        put(o, "</span> <span class=\"nw\">");
        esc(o, s + 11, n - 11);
        put(o, "</span>");
    } else {
        esc(o, s, n);
    }
    put(o, "</time>");
}

/* The strings of an array joined by sep (markup, not escaped), or "—". */
static void h_list(struct out *o, const json_t *a, const char *sep)
{
    size_t i, n = 0;
    const json_t *v;

    json_array_foreach(a, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            continue;
        put(o, n++ ? sep : "");
        esc(o, json_string_value(v), json_string_length(v));
    }
    if (!n)
        put(o, DASH);
}

static const char *const STATES[] = {"open", "met", "met-late", "overdue", "excepted",
                                     "no-fix-yet"};
static const char *const HOST_STATUSES[] = {"pass", "fail", "unknown"};
static const char *const OS_SUPPORT[] = {"supported", "unsupported", "unknown"};
static const char *const EXC_STATUSES[] = {"in-force", "expired", "revoked"};

/* A coloured label for an enumerated value.  The class comes from the
 * value only when it is one of the known ones: the value is data. */
static void badge_s(struct out *o, const char *prefix, const char *s, const char *const *set,
                    size_t n)
{
    if (!s || !*s) {
        put(o, DASH);
        return;
    }
    put(o, "<span class=\"b ");
    if (in_set(s, set, n)) {
        put(o, prefix);
        put(o, s);
    } else {
        put(o, "b-other");
    }
    put(o, "\">");
    esc_s(o, s);
    put(o, "</span>");
}

static void badge(struct out *o, const char *prefix, const json_t *v, const char *const *set,
                  size_t n)
{
    badge_s(o, prefix, json_string_value(v), set, n);
}

static const json_t *rule_by_id(const json_t *doc, const char *id)
{
    size_t i;
    const json_t *r;

    json_array_foreach(get(doc, "rules"), i, r) {
        const char *rid = str(r, "id");
        if (rid && strcmp(rid, id) == 0)
            return r;
    }
    return NULL;
}

/* Tags for a list of rule ids, each titled with the rule's name. */
static void rule_tags(struct out *o, const json_t *doc, const json_t *ids)
{
    size_t i, n = 0;
    const json_t *v;

    json_array_foreach(ids, i, v) {
        const char *id = json_string_value(v), *name;
        if (!id || !*id)
            continue;
        name = str(rule_by_id(doc, id), "name");
        put(o, n++ ? " " : "");
        put(o, "<span class=\"tag\" title=\"");
        esc_s(o, name ? name : id);
        put(o, "\">");
        esc_s(o, id);
        put(o, "</span>");
    }
    if (!n)
        put(o, DASH);
}

static void sec_open(struct out *o, const json_t *doc, const char *id, const char *title,
                     const char *rules_key)
{
    putf(o, "<section class=\"sec\" id=\"%s\">\n<div class=\"sec-head\"><h2>%s</h2>", id, title);
    if (rules_key) {
        put(o, "<p class=\"evidence\">Evidence for ");
        rule_tags(o, doc, get(get(doc, "section_rules"), rules_key));
        put(o, "</p>");
    }
    put(o, "</div>\n");
}

/* Column widths in percent, for a table laid out as fixed (so that long
 * versions and hashes wrap instead of squeezing their neighbours). */
static void colgroup(struct out *o, const int *pct, size_t n)
{
    put(o, "<colgroup>");
    for (size_t i = 0; i < n; i++)
        putf(o, "<col style=\"width:%d%%\">", pct[i]);
    put(o, "</colgroup>");
}

/* ---- HTML: style ------------------------------------------------------------- */

/* Sober, print-first: light tints only (readable in greyscale, since every
 * coloured label also says what it means), tables that repeat their
 * heading on each page and never split a row. */
static const char CSS[] =
    ":root{--ink:#1b1f24;--muted:#56606b;--line:#c8d0d8;--head:#eef1f5;--accent:#1d4f91}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-text-size-adjust:100%}\n"
    "body{margin:0 auto;max-width:1280px;padding:24px 32px 40px;color:var(--ink);background:#fff;"
    "font:14px/1.45 \"DejaVu Sans\",\"Liberation Sans\",Arial,Helvetica,sans-serif}\n"
    "h1{font-size:26px;margin:2px 0 4px}\n"
    "h2{font-size:19px;margin:0;color:var(--accent)}\n"
    "h3{font-size:15px;margin:18px 0 6px}\n"
    "p{margin:6px 0}\n"
    ".kicker{text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:var(--muted);"
    "font-weight:600}\n"
    ".lead{font-size:15px;color:var(--muted);margin:0 0 14px}\n"
    ".top{border-bottom:3px solid var(--accent);padding-bottom:12px}\n"
    "nav.toc{font-size:13px;margin:10px 0 0}\n"
    "nav.toc a{color:var(--accent);margin-right:14px;text-decoration:none}\n"
    "nav.toc a:hover{text-decoration:underline}\n"
    ".sec{margin-top:28px;border-top:1px solid var(--line);padding-top:12px}\n"
    "main>.sec:first-child{border-top:0}\n"
    ".sec-head{display:flex;justify-content:space-between;align-items:baseline;gap:12px;"
    "flex-wrap:wrap;margin-bottom:8px}\n"
    ".evidence{font-size:12px;color:var(--muted);margin:0}\n"
    ".tag{display:inline-block;border:1px solid var(--accent);color:var(--accent);"
    "border-radius:3px;padding:0 6px;font-weight:700;font-size:11px;line-height:1.6}\n"
    ".note{font-size:12px;color:var(--muted)}\n"
    "table{border-collapse:collapse;width:100%;font-size:12px;margin:6px 0}\n"
    "th,td{border:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top;"
    "overflow-wrap:break-word}\n"
    "table.fixed{table-layout:fixed}\n"
    "table.fixed td,table.fixed th{overflow-wrap:anywhere}\n"
    "thead{display:table-header-group}\n"
    "thead th{background:var(--head);font-weight:600}\n"
    "tr{break-inside:avoid;page-break-inside:avoid}\n"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.n{white-space:nowrap}\n"
    "table.kv{width:auto;min-width:60%}\n"
    "table.kv th{width:13em;background:var(--head)}\n"
    ".mono,.ver,.hash{font-family:\"DejaVu Sans Mono\",\"Liberation Mono\",Consolas,monospace}\n"
    ".ver{font-size:11px;word-break:break-all}\n"
    ".hash{font-size:10px;word-break:break-all;line-height:1.3}\n"
    ".sub{display:block;color:var(--muted);font-size:11px}\n"
    ".nw{white-space:nowrap}\n"
    ".dates{display:grid;grid-template-columns:auto 1fr;column-gap:6px;font-size:11px}\n"
    ".dates .dl{color:var(--muted);white-space:nowrap}\n"
    ".b{display:inline-block;padding:0 6px;border:1px solid;border-radius:3px;font-size:11px;"
    "font-weight:700;white-space:nowrap;line-height:1.6;"
    "-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    ".s-overdue,.h-fail,.o-unsupported,.e-expired{background:#fbe4e2;color:#8f1d14;"
    "border-color:#e0a39c}\n"
    ".s-open{background:#fff3c9;color:#6b5000;border-color:#dfc35e}\n"
    ".s-met,.h-pass,.o-supported{background:#e1f2e6;color:#1c5c2e;border-color:#9acda8}\n"
    ".s-met-late{background:#ffe6d0;color:#8a3b00;border-color:#eeaa6c}\n"
    ".s-excepted,.e-in-force{background:#e3eaf4;color:#27476d;border-color:#a6b9d3}\n"
    ".s-no-fix-yet{background:#eee5f7;color:#54307d;border-color:#bea5da}\n"
    ".h-unknown,.o-unknown,.e-revoked,.b-other{background:#eceff2;color:#46505a;"
    "border-color:#b9c1c9}\n"
    "tr.inactive td{color:var(--muted)}\n"
    ".figs{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin:8px 0 14px;"
    "break-inside:avoid;page-break-inside:avoid}\n"
    ".fig{border:1px solid var(--line);border-radius:4px;padding:10px 12px;"
    "break-inside:avoid;page-break-inside:avoid}\n"
    ".fig .v{display:block;font-size:30px;font-weight:700;line-height:1.15;"
    "font-variant-numeric:tabular-nums}\n"
    ".fig .l{display:block;font-size:12px;color:var(--muted)}\n"
    ".fig.lead{border-color:var(--accent);border-width:2px}\n"
    ".fig.lead .v{color:var(--accent)}\n"
    ".fig.bad .v{color:#a01c12}\n"
    ".rules dt{font-weight:700;margin-top:8px}\n"
    ".rules dd{margin:2px 0 0 0;max-width:62em}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}\n"
    "figure{margin:0;break-inside:avoid;page-break-inside:avoid}\n"
    "figcaption{font-weight:600;font-size:13px;margin-bottom:4px}\n"
    "svg.chart{width:100%;height:auto;max-width:720px;display:block}\n"
    "svg.chart text{font-family:\"DejaVu Sans\",\"Liberation Sans\",Arial,sans-serif;"
    "font-size:11px;fill:#333}\n"
    "svg.chart .grid{stroke:#dde2e7;stroke-width:1}\n"
    "svg.chart .axis{stroke:#6b7580;stroke-width:1}\n"
    "svg.chart text.val{font-size:10px;fill:#1b1f24}\n"
    "svg.chart text.na{fill:#8a939c;font-style:italic}\n"
    "footer{margin-top:28px;border-top:1px solid var(--line);padding-top:8px;font-size:11px;"
    "color:var(--muted)}\n"
    "@page{size:A4;margin:15mm}\n"
    "@media print{\n"
    "body{max-width:none;padding:0;font-size:9pt}\n"
    "nav.toc{display:none}\n"
    "h1{font-size:17pt}h2{font-size:12.5pt}h3{font-size:10pt}\n"
    ".lead{font-size:10pt}\n"
    "table{font-size:7pt}\n"
    "th,td{padding:2px 3px}\n"
    ".ver{font-size:6.5pt}.hash{font-size:6pt}.sub,.dates{font-size:6.5pt}\n"
    ".dates{column-gap:3pt}\n"
    ".b,.tag{font-size:6.5pt;padding:0 3px}\n"
    ".evidence,.note{font-size:7.5pt}\n"
    ".sec{margin-top:14pt;padding-top:6pt}\n"
    ".sec-head,h2,h3{break-after:avoid;page-break-after:avoid}\n"
    ".figs{gap:5pt}.fig{padding:5pt 7pt}\n"
    ".fig .v{font-size:17pt}.fig .l{font-size:7pt}\n"
    ".charts{display:block}\n"
    "figure{margin-bottom:8pt}\n"
    ".sec-head+.note{break-after:avoid;page-break-after:avoid}\n"
    "svg.chart{max-width:150mm}\n"
    "a{color:inherit;text-decoration:none}\n"
    "footer{font-size:7pt}\n"
    "}\n";

/* The organisation as a CSS string for the printed page footer: every
 * ASCII character other than a letter, digit or space as a CSS escape,
 * so nothing can close the string or the <style> element. */
static void css_string(struct out *o, const char *s)
{
    put(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == ' ' || c >= 0x80)
            putn(o, s, 1);
        else
            putf(o, "\\%06x", c);
    }
    put(o, "\"");
}

/* ---- HTML: sections --------------------------------------------------------- */

static void h_head(struct out *o, const json_t *doc)
{
    const json_t *hd = get(doc, "header");
    const char *org = str(hd, "organisation");

    put(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; img-src data:\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"generator\" content=\"Vigil collector\">\n<title>Patch compliance report");
    if (org && *org) {
        put(o, " \xe2\x80\x94 ");
        esc_s(o, org);
    }
    if (str(hd, "as_of")) {
        put(o, " \xe2\x80\x94 as of ");
        esc_s(o, str(hd, "as_of"));
    }
    put(o, "</title>\n<style>\n");
    put(o, CSS);
    /* Running footer on printed pages (ignored where margin boxes are
     * not supported). */
    put(o, "@page{@bottom-left{font-size:7pt;color:#56606b;content:");
    css_string(o, org ? org : "");
    if (str(hd, "as_of")) {
        put(o, " \" \\2014  as of \" ");
        css_string(o, str(hd, "as_of"));
    }
    put(o, "}@bottom-right{font-size:7pt;color:#56606b;"
           "content:\"Patch compliance report \\2014  page \" counter(page) \" of \" "
           "counter(pages)}}\n</style>\n</head>\n<body>\n");
}

static void h_scope(struct out *o, const json_t *scope)
{
    const json_t *pattern = get(scope, "hosts_pattern");

    h_int(o, get(scope, "hosts"));
    put(o, " hosts");
    if (json_is_string(pattern) && json_string_length(pattern) > 0) {
        put(o, " matching <span class=\"mono\">");
        esc(o, json_string_value(pattern), json_string_length(pattern));
        put(o, "</span>");
    } else {
        put(o, " (the whole estate)");
    }
    if (json_is_integer(get(scope, "excluded_revoked"))) {
        put(o, "; ");
        h_int(o, get(scope, "excluded_revoked"));
        put(o, " decommissioned host(s) with a revoked certificate excluded");
    }
}

static void h_size(struct out *o, const json_t *v)
{
    double b;

    if (!json_is_integer(v)) {
        put(o, DASH);
        return;
    }
    b = (double)json_integer_value(v);
    if (b >= 1024.0 * 1024.0)
        putf(o, "%.1f MiB", b / (1024.0 * 1024.0));
    else if (b >= 1024.0)
        putf(o, "%.1f KiB", b / 1024.0);
    else
        putf(o, "%.0f B", b);
    putf(o, "<span class=\"sub\">%" JSON_INTEGER_FORMAT " bytes</span>", json_integer_value(v));
}

static void h_header(struct out *o, const json_t *doc)
{
    const json_t *hd = get(doc, "header"), *feeds = get(hd, "feeds"), *v, *f;
    size_t i, n = 0;

    put(o, "<header class=\"top\">\n<div class=\"kicker\">Vigil patch-compliance report</div>\n"
           "<h1>");
    h_str(o, get(hd, "organisation"));
    put(o, "</h1>\n<p class=\"lead\">Security updates and operating-system support, as of ");
    h_time(o, get(hd, "as_of"));
    put(o, " (UTC)</p>\n<table class=\"kv\"><tbody>\n<tr><th scope=\"row\">As of</th><td>");
    h_time(o, get(hd, "as_of"));
    put(o, "<span class=\"sub\">Every state, day count and figure is computed as at this "
           "time.</span></td></tr>\n<tr><th scope=\"row\">Generated</th><td>");
    h_time(o, get(hd, "generated"));
    put(o, "</td></tr>\n<tr><th scope=\"row\">Scope</th><td>");
    if (get(hd, "scope"))
        h_scope(o, get(hd, "scope"));
    else
        put(o, DASH);
    put(o, "</td></tr>\n<tr><th scope=\"row\">Time allowed</th><td>");
    h_int(o, get(hd, "sla_days"));
    put(o, " days from the start of a finding's clock to an effective fix</td></tr>\n"
           "<tr><th scope=\"row\">Stale after</th><td>");
    h_int(o, get(hd, "stale_days"));
    put(o, " days without a check-in (such hosts count as unknown, not compliant)</td></tr>\n"
           "<tr><th scope=\"row\">History</th><td>");
    h_int(o, get(hd, "history_days"));
    put(o, " days</td></tr>\n<tr><th scope=\"row\">Collector version</th><td>");
    h_str(o, get(hd, "collector_version"));
    put(o, "</td></tr>\n<tr><th scope=\"row\">Agent versions</th><td>");
    json_array_foreach(get(hd, "agent_versions"), i, v) {
        put(o, n++ ? "; " : "");
        h_str(o, get(v, "version"));
        put(o, " (");
        h_int(o, get(v, "hosts"));
        put(o, json_integer_value(get(v, "hosts")) == 1 ? " host)" : " hosts)");
    }
    if (!n)
        put(o, DASH);
    put(o, "</td></tr>\n</tbody></table>\n<h3>Advisory feeds imported</h3>\n");
    if (!json_array_size(feeds)) {
        put(o, "<p class=\"note\">" DASH " (no feed imports recorded)</p>\n");
    } else {
        static const int w[] = {4, 9, 13, 18, 8, 9, 13, 26};
        put(o, "<table class=\"feeds fixed\">");
        colgroup(o, w, VG_ARRAY_SIZE(w));
        put(o, "<thead><tr><th class=\"n\">#</th><th>Format</th>"
               "<th>Document</th><th>Source</th><th class=\"n\">Records</th><th>Size</th>"
               "<th>Imported</th><th>SHA-256</th></tr></thead><tbody>\n");
        json_array_foreach(feeds, i, f) {
            put(o, "<tr><td class=\"n\">");
            h_int(o, get(f, "id"));
            put(o, "</td><td>");
            h_str(o, get(f, "format"));
            put(o, "</td><td>");
            h_str(o, get(f, "doc_key"));
            put(o, "</td><td>");
            h_str(o, get(f, "source"));
            put(o, "</td><td class=\"n\">");
            h_int(o, get(f, "records"));
            put(o, "</td><td>");
            h_size(o, get(f, "size"));
            put(o, "</td><td>");
            h_time(o, get(f, "imported"));
            put(o, "<span class=\"sub\">by ");
            h_str(o, get(f, "imported_by"));
            put(o, "</span></td><td class=\"hash\">");
            h_str(o, get(f, "sha256"));
            put(o, "</td></tr>\n");
        }
        put(o, "</tbody></table>\n");
    }
    put(o, "<nav class=\"toc\" aria-label=\"Contents\"><a href=\"#rules\">The rules</a>"
           "<a href=\"#summary\">Summary</a><a href=\"#hosts\">Hosts</a>"
           "<a href=\"#findings\">Findings</a><a href=\"#cves\">CVEs</a>"
           "<a href=\"#exceptions\">Exceptions</a><a href=\"#trend\">Trend</a></nav>\n"
           "</header>\n");
}

static void h_rules(struct out *o, const json_t *doc)
{
    const json_t *r;
    size_t i;

    sec_open(o, doc, "rules", "The rules", NULL);
    put(o, "<p class=\"note\">The requirements this report measures the estate against, "
           "as it applies them. Each section below is tagged with the rules it is evidence "
           "for.</p>\n");
    if (!json_array_size(get(doc, "rules"))) {
        put(o, "<p>" DASH "</p>\n</section>\n");
        return;
    }
    put(o, "<dl class=\"rules\">\n");
    json_array_foreach(get(doc, "rules"), i, r) {
        put(o, "<dt><span class=\"tag\">");
        h_str(o, get(r, "id"));
        put(o, "</span> ");
        h_str(o, get(r, "name"));
        put(o, "</dt><dd>");
        h_str(o, get(r, "text"));
        put(o, "</dd>\n");
    }
    put(o, "</dl>\n</section>\n");
}

enum fig_kind { FIG_COUNT, FIG_PCT, FIG_DAYS };

/* One big figure; id lets a test find it.  "bad" figures turn red when
 * above zero. */
static void fig(struct out *o, const json_t *sum, const char *id, const char *key,
                enum fig_kind kind, int bad, const char *cls)
{
    const json_t *v = get(sum, key);
    int red = bad && json_is_number(v) && json_number_value(v) > 0;

    putf(o, "<div class=\"fig%s%s\"><span class=\"v\" id=\"%s\">", cls, red ? " bad" : "", id);
    if (kind == FIG_COUNT)
        h_int(o, v);
    else
        h_num1(o, v);
    if (kind == FIG_PCT && json_is_number(v))
        put(o, "%");
    put(o, "</span><span class=\"l\">");
}

static void fig_end(struct out *o)
{
    put(o, "</span></div>\n");
}

static void h_summary(struct out *o, const json_t *doc)
{
    const json_t *sum = get(doc, "summary"), *hd = get(doc, "header");
    static const struct {
        const char *state, *key, *id, *meaning;
    } rows[] = {
        {"overdue", "overdue", NULL, "not effective, past due"},
        {"open", "open", "sum-open", "not yet effective, still within its days"},
        {"no-fix-yet", "no_fix_yet", "sum-no-fix-yet",
         "no fix released by the vendor: tracked as risk, not a Cyber Essentials failure"},
        {"excepted", "excepted", "sum-excepted", "covered by an exception in force"},
        {"met-late", "met_late", "sum-met-late", "made effective, but after it was due"},
        {"met", "met", "sum-met", "made effective on time"},
    };

    sec_open(o, doc, "summary", "Estate summary", "summary");
    put(o, "<div class=\"figs\">\n");
    fig(o, sum, "sum-compliant-pct", "compliant_pct", FIG_PCT, 0, " lead");
    put(o, "Hosts compliant");
    if (json_is_integer(get(sum, "compliant")) && json_is_integer(get(sum, "hosts")))
        putf(o, " (%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT ")",
             json_integer_value(get(sum, "compliant")), json_integer_value(get(sum, "hosts")));
    fig_end(o);
    fig(o, sum, "sum-hosts", "hosts", FIG_COUNT, 0, "");
    put(o, "Hosts in scope");
    fig_end(o);
    fig(o, sum, "sum-compliant", "compliant", FIG_COUNT, 0, "");
    put(o, "Compliant hosts (pass)");
    fig_end(o);
    fig(o, sum, "sum-non-compliant", "non_compliant", FIG_COUNT, 1, "");
    put(o, "Non-compliant hosts (fail)");
    fig_end(o);
    fig(o, sum, "sum-unknown", "unknown", FIG_COUNT, 1, "");
    put(o, "Unknown hosts (stale or incomplete data)");
    fig_end(o);
    fig(o, sum, "sum-overdue", "overdue", FIG_COUNT, 1, "");
    put(o, "Overdue findings");
    fig_end(o);
    fig(o, sum, "sum-unsupported-os", "unsupported_os", FIG_COUNT, 1, "");
    put(o, "Hosts on an unsupported OS");
    fig_end(o);
    fig(o, sum, "sum-stale", "stale_hosts", FIG_COUNT, 1, "");
    put(o, "Stale hosts (no check-in for over ");
    h_int(o, get(hd, "stale_days"));
    put(o, " days)");
    fig_end(o);
    fig(o, sum, "sum-reboot-pending", "reboot_pending", FIG_COUNT, 1, "");
    put(o, "Hosts with a reboot pending");
    fig_end(o);
    fig(o, sum, "sum-mttr", "mean_days_to_remediate", FIG_DAYS, 0, "");
    put(o, "Mean days to remediate");
    fig_end(o);
    put(o, "</div>\n<h3>Findings by state</h3>\n"
           "<table class=\"states\"><thead><tr><th>State</th><th class=\"n\">Findings</th>"
           "<th>Meaning</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < VG_ARRAY_SIZE(rows); i++) {
        put(o, "<tr><td>");
        badge_s(o, "s-", rows[i].state, STATES, VG_ARRAY_SIZE(STATES));
        put(o, "</td><td class=\"n\"");
        if (rows[i].id)
            putf(o, " id=\"%s\"", rows[i].id);
        put(o, ">");
        h_int(o, get(sum, rows[i].key));
        putf(o, "</td><td>%s</td></tr>\n", rows[i].meaning);
    }
    put(o, "<tr><td>out of scope</td><td class=\"n\" id=\"sum-out-of-scope\">");
    h_int(o, get(sum, "out_of_scope"));
    put(o, "</td><td>outside the 14-day rule (vendor severity below high and CVSS below 7): "
           "tracked for CAF B4.d only</td></tr>\n<tr><th scope=\"row\">All findings</th>"
           "<th class=\"n\" id=\"sum-findings\">");
    h_int(o, get(sum, "findings"));
    put(o, "</th><th></th></tr>\n</tbody></table>\n</section>\n");
}

/* The exception with this id, for its status next to a finding. */
static const json_t *exception_by_id(const json_t *doc, json_int_t id)
{
    size_t i;
    const json_t *e;

    json_array_foreach(get(doc, "exceptions"), i, e) {
        if (json_integer_value(get(e, "id")) == id)
            return e;
    }
    return NULL;
}

static void h_host_cell(struct out *o, const json_t *row)
{
    const char *host = str(row, "hostname"), *agent = str(row, "agent_id");

    put(o, "<td><strong>");
    if (host && *host) {
        /* Allow a line break after each dot of a long host name. */
        const char *p = host, *dot;
        while ((dot = strchr(p, '.')) != NULL) {
            esc(o, p, (size_t)(dot - p) + 1);
            put(o, "<wbr>");
            p = dot + 1;
        }
        esc_s(o, p);
    } else {
        put(o, DASH);
    }
    put(o, "</strong>");
    if (agent && *agent && (!host || strcmp(host, agent) != 0)) {
        put(o, "<span class=\"sub\">agent ");
        esc_s(o, agent);
        put(o, "</span>");
    }
    put(o, "</td>");
}

static const int HOST_W[] = {13, 17, 11, 15, 8, 10, 8, 18};

static void h_hosts(struct out *o, const json_t *doc)
{
    const json_t *hosts = get(doc, "hosts"), *h, *fr;
    size_t i, j;

    sec_open(o, doc, "hosts", "Hosts", "hosts");
    put(o, "<p class=\"note\">A host passes when it runs a supported operating system and "
           "has no in-scope fix overdue (exceptions in force aside). A host that has not "
           "checked in recently is unknown: it does not count as compliant.</p>\n");
    if (!json_array_size(hosts)) {
        put(o, "<p>No hosts in scope.</p>\n</section>\n");
        return;
    }
    put(o, "<table class=\"hosts fixed\">");
    colgroup(o, HOST_W, VG_ARRAY_SIZE(HOST_W));
    put(o, "<thead><tr><th>Host</th><th>Operating system</th>"
           "<th>Last check-in</th><th>Kernel (running / newest)</th><th class=\"n\">Overdue</th>"
           "<th>Other findings</th><th>Status</th><th>Failing rules</th></tr></thead>"
           "<tbody>\n");
    json_array_foreach(hosts, i, h) {
        const char *run = str(h, "running_kernel"), *newest = str(h, "newest_kernel");
        const json_t *keff = get(h, "kernel_effective");
        size_t n = 0;

        put(o, "<tr>");
        h_host_cell(o, h);
        put(o, "<td>");
        h_str(o, get(h, "os"));
        put(o, "<span class=\"sub\">");
        badge(o, "o-", get(h, "os_support"), OS_SUPPORT, VG_ARRAY_SIZE(OS_SUPPORT));
        if (json_is_string(get(h, "os_eol"))) {
            const char *sup = str(h, "os_support");
            put(o, sup && strcmp(sup, "supported") == 0     ? " until "
                   : sup && strcmp(sup, "unsupported") == 0 ? " since "
                                                            : " end of support ");
            h_str(o, get(h, "os_eol"));
        }
        put(o, "</span>");
        if (str(h, "os_support_note") && *str(h, "os_support_note")) {
            put(o, "<span class=\"sub\">");
            h_str(o, get(h, "os_support_note"));
            put(o, "</span>");
        }
        put(o, "</td><td>");
        h_time(o, get(h, "last_seen"));
        if (json_is_true(get(h, "stale")))
            put(o, " <span class=\"b h-unknown\">stale</span>");
        put(o, "</td><td><span class=\"ver\">");
        h_str(o, get(h, "running_kernel"));
        put(o, "</span>");
        if (newest && *newest && (!run || strcmp(run, newest) != 0)) {
            put(o, "<span class=\"sub ver\">newest ");
            esc_s(o, newest);
            put(o, "</span>");
        }
        if (json_is_true(get(h, "reboot_required")) || json_is_false(keff))
            put(o, "<span class=\"sub\"><span class=\"b s-open\">reboot pending</span></span>");
        else if (json_is_true(keff))
            put(o, "<span class=\"sub\">running the newest installed</span>");
        put(o, "</td><td class=\"n\">");
        h_int(o, get(h, "overdue"));
        put(o, "</td><td><span class=\"nw\">open ");
        h_int(o, get(h, "open"));
        put(o, "</span><br><span class=\"nw\">excepted ");
        h_int(o, get(h, "excepted"));
        put(o, "</span><br><span class=\"nw\">met late ");
        h_int(o, get(h, "met_late"));
        put(o, "</span></td><td>");
        badge(o, "h-", get(h, "status"), HOST_STATUSES, VG_ARRAY_SIZE(HOST_STATUSES));
        put(o, "</td><td>");
        json_array_foreach(get(h, "failing_rules"), j, fr) {
            put(o, n++ ? "<br>" : "");
            put(o, "<strong>");
            h_str(o, get(fr, "rule"));
            put(o, "</strong>: ");
            h_str(o, get(fr, "reason"));
        }
        if (!n)
            put(o, DASH);
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n</section>\n");
}

/* One "label | time" pair of the dates grid. */
static void date_line(struct out *o, const char *label, const json_t *v)
{
    putf(o, "<span class=\"dl\">%s</span><span>", label);
    h_time(o, v);
    put(o, "</span>");
}

static const int FINDING_W[] = {10, 11, 13, 12, 12, 17, 11, 5, 9};

static void h_findings(struct out *o, const json_t *doc)
{
    const json_t *findings = get(doc, "findings"), *f;
    size_t i;

    sec_open(o, doc, "findings", "Findings", "findings");
    put(o, "<p class=\"note\">One row per host and fix. The clock starts at the earliest of "
           "the vendor's release and the first time the fix was seen available, on this host "
           "or anywhere in the estate; the fix is due ");
    h_int(o, get(get(doc, "header"), "sla_days"));
    put(o, " \xc3\x97 24 hours later. A fix is effective when it is installed and, for a "
           "kernel, running.</p>\n");
    if (!json_array_size(findings)) {
        put(o, "<p>No findings.</p>\n</section>\n");
        return;
    }
    put(o, "<table class=\"findings fixed\">");
    colgroup(o, FINDING_W, VG_ARRAY_SIZE(FINDING_W));
    put(o, "<thead><tr><th>Host</th><th>Package</th>"
           "<th>Installed \xe2\x86\x92 fixed version</th><th>Advisories and CVEs</th>"
           "<th>Severity and scope</th><th>Dates (UTC)</th><th>Installed and effective</th>"
           "<th class=\"n\">Days open</th><th>State</th></tr></thead><tbody>\n");
    json_array_foreach(findings, i, f) {
        const json_t *exc = get(f, "exception"), *sev = get(f, "severity");
        const json_t *cvss = get(f, "cvss"), *urg = get(f, "urgency");

        put(o, "<tr>");
        h_host_cell(o, f);
        put(o, "<td><strong>");
        h_str(o, get(f, "package"));
        put(o, "</strong><span class=\"sub\">");
        h_list(o, get(f, "binaries"), ", ");
        put(o, "</span><span class=\"sub\">");
        h_str(o, get(f, "manager"));
        put(o, "</span></td><td><span class=\"ver\">");
        h_str(o, get(f, "installed_version"));
        put(o, "</span><span class=\"sub\">\xe2\x86\x92 <span class=\"ver\">");
        if (json_is_string(get(f, "fixed_version")))
            h_str(o, get(f, "fixed_version"));
        else
            put(o, "no fix released");
        put(o, "</span></span></td><td>");
        h_list(o, get(f, "advisories"), "<br>");
        put(o, "<span class=\"sub\">");
        h_list(o, get(f, "cves"), "<br>");
        put(o, "</span><span class=\"sub\">source: ");
        h_str(o, get(f, "source"));
        put(o, "</span></td><td>");
        if (json_is_string(sev) && json_string_length(sev))
            h_str(o, sev);
        else
            put(o, "no vendor severity");
        if (json_is_number(cvss)) {
            put(o, "<span class=\"sub\">CVSS ");
            h_num1(o, cvss);
            put(o, "</span>");
        }
        if (json_is_string(urg) && json_string_length(urg)) {
            put(o, "<span class=\"sub\">urgency ");
            h_str(o, urg);
            put(o, "</span>");
        }
        put(o, "<span class=\"sub\"><strong>");
        if (json_is_boolean(get(f, "in_scope")))
            put(o, json_is_true(get(f, "in_scope")) ? "In scope" : "Out of scope");
        else
            put(o, "Scope " DASH);
        put(o, "</strong>: ");
        h_str(o, get(f, "scope_reason"));
        put(o, "</span></td><td><div class=\"dates\">");
        date_line(o, "released", get(f, "released"));
        date_line(o, "in estate", get(f, "first_seen_fleet"));
        date_line(o, "on host", get(f, "first_seen_host"));
        date_line(o, "clock start", get(f, "clock_start"));
        date_line(o, "<strong>due</strong>", get(f, "due"));
        put(o, "</div></td><td>");
        put(o, "installed ");
        h_time(o, get(f, "installed"));
        put(o, "<span class=\"sub\">effective: ");
        h_val(o, get(f, "effective"));
        if (json_is_string(get(f, "effective_at"))) {
            put(o, ", ");
            h_time(o, get(f, "effective_at"));
        }
        put(o, "</span>");
        if (str(f, "effective_note") && *str(f, "effective_note")) {
            put(o, "<span class=\"sub\">");
            h_str(o, get(f, "effective_note"));
            put(o, "</span>");
        }
        put(o, "</td><td class=\"n\">");
        h_num1(o, get(f, "days_open"));
        put(o, "</td><td>");
        badge(o, "s-", get(f, "state"), STATES, VG_ARRAY_SIZE(STATES));
        if (json_is_integer(exc)) {
            const char *st = str(exception_by_id(doc, json_integer_value(exc)), "status");
            putf(o, "<span class=\"sub\">exception #%" JSON_INTEGER_FORMAT,
                 json_integer_value(exc));
            if (st) {
                put(o, " (");
                esc_s(o, st);
                put(o, ")");
            }
            put(o, "</span>");
        }
        put(o, "<span class=\"sub\">");
        rule_tags(o, doc, get(f, "rules"));
        put(o, "</span>");
        if (str(f, "id")) {
            put(o, "<span class=\"sub mono\">");
            h_str(o, get(f, "id"));
            put(o, "</span>");
        }
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n</section>\n");
}

static void h_cves(struct out *o, const json_t *doc)
{
    const json_t *cves = get(doc, "cves"), *c;
    size_t i;

    sec_open(o, doc, "cves", "Vulnerabilities (by CVE)", "cves");
    if (!json_array_size(cves)) {
        put(o, "<p>" DASH " (no CVEs in this report)</p>\n</section>\n");
        return;
    }
    put(o, "<table class=\"cves\"><thead><tr><th>CVE</th><th>Packages</th>"
           "<th class=\"n\">Hosts</th><th class=\"n\">Findings</th><th class=\"n\">Open</th>"
           "<th class=\"n\">Overdue</th><th class=\"n\">Excepted</th><th>Severity</th>"
           "<th class=\"n\">CVSS</th><th>Worst state</th></tr></thead><tbody>\n");
    json_array_foreach(cves, i, c) {
        put(o, "<tr><td class=\"mono\">");
        h_str(o, get(c, "cve"));
        put(o, "</td><td>");
        h_list(o, get(c, "packages"), ", ");
        put(o, "</td><td class=\"n\">");
        h_int(o, get(c, "hosts"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(c, "findings"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(c, "open"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(c, "overdue"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(c, "excepted"));
        put(o, "</td><td>");
        h_str(o, get(c, "severity"));
        put(o, "</td><td class=\"n\">");
        h_num1(o, get(c, "cvss"));
        put(o, "</td><td>");
        badge(o, "s-", get(c, "worst_state"), STATES, VG_ARRAY_SIZE(STATES));
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n</section>\n");
}

static void h_exceptions(struct out *o, const json_t *doc)
{
    const json_t *excs = get(doc, "exceptions"), *e;
    size_t i, in_force = 0, expired = 0, revoked = 0;

    sec_open(o, doc, "exceptions", "Exceptions (accepted risks)", "exceptions");
    json_array_foreach(excs, i, e) {
        const char *st = str(e, "status");
        if (!st)
            continue;
        in_force += strcmp(st, "in-force") == 0;
        expired += strcmp(st, "expired") == 0;
        revoked += strcmp(st, "revoked") == 0;
    }
    putf(o, "<p><strong id=\"exc-in-force\">%zu</strong> in force, "
            "<strong id=\"exc-expired\">%zu</strong> expired, "
            "<strong id=\"exc-revoked\">%zu</strong> revoked. ", in_force, expired, revoked);
    put(o, "Only an exception in force covers findings; once it expires or is revoked, the "
           "findings it covered count as failures again.</p>\n");
    if (!json_array_size(excs)) {
        put(o, "</section>\n");
        return;
    }
    static const int w[] = {4, 9, 12, 15, 16, 9, 11, 9, 8, 7};

    put(o, "<table class=\"exceptions fixed\">");
    colgroup(o, w, VG_ARRAY_SIZE(w));
    put(o, "<thead><tr><th class=\"n\">#</th><th>Status</th>"
           "<th>Applies to</th><th>Reason</th><th>Compensating control</th><th>Approved by</th>"
           "<th>Recorded</th><th>Expires</th><th>Revoked</th><th class=\"n\">Covers</th>"
           "</tr></thead><tbody>\n");
    json_array_foreach(excs, i, e) {
        const char *st = str(e, "status"), *host = str(e, "host");
        const json_t *pkg = get(e, "package"), *cve = get(e, "cve");

        put(o, st && strcmp(st, "in-force") == 0 ? "<tr>" : "<tr class=\"inactive\">");
        put(o, "<td class=\"n\">");
        h_int(o, get(e, "id"));
        put(o, "</td><td>");
        badge(o, "e-", get(e, "status"), EXC_STATUSES, VG_ARRAY_SIZE(EXC_STATUSES));
        put(o, "</td><td>");
        if (host && strcmp(host, "*") == 0)
            put(o, "all hosts");
        else
            h_str(o, get(e, "host"));
        put(o, "<span class=\"sub\">package ");
        if (json_is_string(pkg))
            h_str(o, pkg);
        else
            put(o, "any");
        put(o, "</span><span class=\"sub\">CVE ");
        if (json_is_string(cve))
            h_str(o, cve);
        else
            put(o, "any");
        put(o, "</span></td><td>");
        h_str(o, get(e, "reason"));
        put(o, "</td><td>");
        h_str(o, get(e, "control"));
        put(o, "</td><td>");
        h_str(o, get(e, "approver"));
        put(o, "</td><td>");
        h_time(o, get(e, "created"));
        put(o, "<span class=\"sub\">by ");
        h_str(o, get(e, "created_by"));
        put(o, "</span></td><td>");
        h_time(o, get(e, "expires"));
        put(o, "</td><td>");
        h_time(o, get(e, "revoked"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(e, "findings_covered"));
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n</section>\n");
}

/* ---- HTML: trend charts --------------------------------------------------------- */

/* "4 Sep" from "2026-09-04...", or the text as it is. */
static void short_date(struct out *o, const char *s)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int m, d;

    if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-') {
        esc_s(o, s ? s : "?");
        return;
    }
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > 31) {
        esc_s(o, s);
        return;
    }
    putf(o, "%d %s", d, mon[m - 1]);
}

/* Bars for one figure of each week: y axis with gridlines and labels, a
 * value over each bar ("n/a" for null), week-ending dates under them, and
 * <title>/<desc> giving the same numbers as text. */
static void bar_chart(struct out *o, const json_t *weeks, const char *id, const char *key,
                      const char *title, const char *ylabel, int pct, const char *colour)
{
    enum { W = 720, H = 260, L = 56, R = 12, T = 22, B = 48 };
    const double pw = W - L - R, ph = H - T - B;
    size_t n = json_array_size(weeks), i;
    double max = 0, step, ymax, slot, bw;
    const json_t *w;

    json_array_foreach(weeks, i, w) {
        const json_t *v = get(w, key);
        if (json_is_number(v) && json_number_value(v) > max)
            max = json_number_value(v);
    }
    if (pct) {
        ymax = 100;
        step = 25;
    } else {
        /* Whole-number ticks 1, 2, 5, 10, 20, 50, ... apart, at most five. */
        static const double mant[] = {1, 2, 5};
        long long k;
        double scale = 1;

        for (i = 1, step = 1; max / step > 5; i++) {
            if (i == VG_ARRAY_SIZE(mant)) {
                i = 0;
                scale *= 10;
            }
            step = mant[i] * scale;
        }
        k = (long long)(max / step);
        if ((double)k * step < max)
            k++;
        ymax = (double)(k > 0 ? k : 1) * step;
    }
    slot = pw / (double)(n ? n : 1);
    bw = slot * 0.62;

    putf(o, "<figure><figcaption>%s</figcaption>\n<svg class=\"chart\" viewBox=\"0 0 %d %d\" "
            "role=\"img\" aria-labelledby=\"%s-t %s-d\">\n<title id=\"%s-t\">%s</title>\n"
            "<desc id=\"%s-d\">%s by week ending (UTC): ",
         title, W, H, id, id, id, title, id, ylabel);
    json_array_foreach(weeks, i, w) {
        put(o, i ? "; " : "");
        esc_s(o, str(w, "week_ending") ? str(w, "week_ending") : "?");
        put(o, " ");
        if (pct)
            h_num1(o, get(w, key));
        else
            h_int(o, get(w, key));
        if (pct && json_is_number(get(w, key)))
            put(o, "%");
    }
    put(o, ".</desc>\n");
    for (double t = 0; t <= ymax + 1e-9; t += step) {
        double y = T + ph - ph * t / ymax;
        putf(o, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f%s</text>\n",
             L, W - R, y, y, L - 6, y + 4, t, pct ? "%" : "");
    }
    putf(o, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>"
            "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n",
         L, W - R, T + (int)ph, T + (int)ph, L, L, T, T + (int)ph);
    putf(o, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">"
            "%s</text>\n",
         T + ph / 2, T + ph / 2, ylabel);
    putf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">Week ending (UTC)</text>\n",
         L + pw / 2, H - 6);
    json_array_foreach(weeks, i, w) {
        const json_t *v = get(w, key);
        double cx = L + slot * ((double)i + 0.5), base = T + ph;

        if (json_is_number(v)) {
            double val = json_number_value(v), h = ph * (val < 0 ? 0 : val) / ymax;
            if (h > ph)
                h = ph;
            putf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>",
                 cx - bw / 2, base - h, bw, h, colour);
            esc_s(o, str(w, "week_ending") ? str(w, "week_ending") : "?");
            put(o, ": ");
            if (pct)
                h_num1(o, v);
            else
                h_int(o, v);
            putf(o, "</title></rect><text class=\"val\" x=\"%.1f\" y=\"%.1f\" "
                    "text-anchor=\"middle\">", cx, base - h - 4);
            if (pct)
                h_num1(o, v);
            else
                h_int(o, v);
            put(o, "</text>\n");
        } else {
            putf(o, "<text class=\"na\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">n/a</text>\n",
                 cx, base - 4);
        }
        putf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx, base + 16);
        short_date(o, str(w, "week_ending"));
        put(o, "</text>\n");
    }
    put(o, "</svg>\n</figure>\n");
}

static void h_trend(struct out *o, const json_t *doc)
{
    const json_t *weeks = get(get(doc, "trend"), "weeks"), *w;
    size_t i;

    sec_open(o, doc, "trend", "Trend", "trend");
    if (!json_array_size(weeks)) {
        put(o, "<p>" DASH " (no history)</p>\n</section>\n");
        return;
    }
    put(o, "<p class=\"note\">Each week's figures are computed as at the end of that week, as "
           "if the report had been made then. The table below the charts gives the same "
           "figures.</p>\n<div class=\"charts\">\n");
    bar_chart(o, weeks, "chart-compliance", "compliant_pct", "Hosts compliant, by week",
              "Hosts compliant (%)", 1, "#2f6fb5");
    bar_chart(o, weeks, "chart-overdue", "overdue", "Overdue findings (backlog), by week",
              "Overdue findings", 0, "#b3382c");
    put(o, "</div>\n<h3>Weekly figures and time to remediate</h3>\n"
           "<table class=\"trend\"><thead><tr><th>Week ending (UTC)</th><th class=\"n\">Hosts</th>"
           "<th class=\"n\">Compliant</th><th class=\"n\">Overdue findings</th>"
           "<th class=\"n\">Remediated in the week</th>"
           "<th class=\"n\">Mean days to remediate</th></tr></thead><tbody>\n");
    json_array_foreach(weeks, i, w) {
        put(o, "<tr><td>");
        h_time(o, get(w, "week_ending"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(w, "hosts"));
        put(o, "</td><td class=\"n\">");
        h_num1(o, get(w, "compliant_pct"));
        if (json_is_number(get(w, "compliant_pct")))
            put(o, "%");
        put(o, "</td><td class=\"n\">");
        h_int(o, get(w, "overdue"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(w, "remediated"));
        put(o, "</td><td class=\"n\">");
        h_num1(o, get(w, "mean_days_to_remediate"));
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n</section>\n");
}

int report_render_html(const json_t *doc, enum report_layout layout, char **html, size_t *len)
{
    struct out o;
    const json_t *hd;

    (void)layout; /* both layouts are the full page until the summary lands */
    *html = NULL;
    if (!doc_usable(doc))
        return VG_EPROTO;
    hd = get(doc, "header");
    out_init(&o);
    h_head(&o, doc);
    h_header(&o, doc);
    put(&o, "<main>\n");
    h_rules(&o, doc);
    h_summary(&o, doc);
    h_hosts(&o, doc);
    h_findings(&o, doc);
    h_cves(&o, doc);
    h_exceptions(&o, doc);
    h_trend(&o, doc);
    put(&o, "</main>\n<footer>Vigil patch-compliance report, format version 1. Produced by "
            "vigil-collector ");
    h_str(&o, get(hd, "collector_version"));
    put(&o, " at ");
    h_time(&o, get(hd, "generated"));
    put(&o, ". All times are UTC. " DASH " marks a value that is not known or does not "
            "apply. The JSON form of this report holds the same data and is described by "
            "docs/report-schema.json.</footer>\n</body>\n</html>\n");
    return out_take(&o, html, len);
}
