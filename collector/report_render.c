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
    /* Version 1 (before release evidence and exact exceptions) still
     * renders: what it lacks shows as missing. */
    if (!json_is_integer(version) ||
        (json_integer_value(version) != 1 && json_integer_value(version) != 2))
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

/* The columns are the JSON keys of the same fields, in this order; the
 * order is part of the format (tests/html/check_report.py knows it). */
static const struct col FINDING_COLS[] = {
    {"agent_id", COL_PLAIN}, {"hostname", COL_PLAIN}, {"package", COL_PLAIN},
    {"binaries", COL_PLAIN}, {"manager", COL_PLAIN}, {"installed_version", COL_PLAIN},
    {"fixed_version", COL_PLAIN}, {"advisories", COL_PLAIN}, {"cves", COL_PLAIN},
    {"severity", COL_PLAIN}, {"cvss", COL_PLAIN}, {"urgency", COL_PLAIN},
    {"in_scope", COL_PLAIN}, {"scope_reason", COL_PLAIN}, {"released_at", COL_PLAIN},
    {"released_from", COL_PLAIN}, {"clock_confirmed", COL_PLAIN},
    {"first_seen_host", COL_PLAIN}, {"first_seen_fleet", COL_PLAIN}, {"clock_start", COL_PLAIN},
    {"due", COL_PLAIN}, {"installed", COL_PLAIN}, {"effective", COL_PLAIN},
    {"effective_note", COL_PLAIN}, {"days_open", COL_PLAIN}, {"days_late", COL_PLAIN},
    {"state", COL_PLAIN}, {"exceptions", COL_PLAIN}, {"rules", COL_PLAIN}, {"id", COL_PLAIN},
};

static const struct col HOST_COLS[] = {
    {"agent_id", COL_PLAIN}, {"hostname", COL_PLAIN}, {"os", COL_PLAIN},
    {"os_support", COL_PLAIN}, {"os_eol", COL_PLAIN}, {"last_seen", COL_PLAIN},
    {"stale", COL_PLAIN}, {"running_kernel", COL_PLAIN}, {"newest_kernel", COL_PLAIN},
    {"reboot_required", COL_PLAIN}, {"open", COL_PLAIN}, {"overdue", COL_PLAIN},
    {"excepted", COL_PLAIN}, {"unconfirmed", COL_PLAIN}, {"status", COL_PLAIN},
    {"unconfirmed_reason", COL_PLAIN}, {"failing_rules", COL_FAILING},
};

/* Trailing columns of every row of both files, from the header: which
 * report the row belongs to (the two files are one report). */
static const char *const STAMP_COLS[] = {"report_id", "as_of", "collector", "generated"};

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

static int csv_table(const json_t *rows, const struct col *cols, size_t ncols,
                     const json_t *header, char **res, size_t *len)
{
    struct out o, st;
    size_t i, c, stlen = 0;
    const json_t *row;
    char *stamp = NULL;
    int rc;

    /* The stamp cells are the same on every row: made once. */
    out_init(&st);
    for (c = 0; c < VG_ARRAY_SIZE(STAMP_COLS); c++) {
        put(&st, ",");
        csv_cell(&st, get(header, STAMP_COLS[c]), COL_PLAIN);
    }
    rc = out_take(&st, &stamp, &stlen);
    if (rc)
        return rc;
    out_init(&o);
    for (c = 0; c < ncols; c++) {
        put(&o, c ? "," : "");
        put(&o, cols[c].key);
    }
    for (c = 0; c < VG_ARRAY_SIZE(STAMP_COLS); c++) {
        put(&o, ",");
        put(&o, STAMP_COLS[c]);
    }
    put(&o, "\r\n");
    json_array_foreach(rows, i, row) {
        for (c = 0; c < ncols; c++) {
            put(&o, c ? "," : "");
            csv_cell(&o, get(row, cols[c].key), cols[c].kind);
        }
        putn(&o, stamp, stlen);
        put(&o, "\r\n");
    }
    free(stamp);
    return out_take(&o, res, len);
}

int report_render_csv(const json_t *doc, char **findings_csv, size_t *findings_len,
                      char **hosts_csv, size_t *hosts_len)
{
    int rc;

    *findings_csv = *hosts_csv = NULL;
    if (!doc_usable(doc))
        return VG_EPROTO;
    rc = csv_table(get(doc, "findings"), FINDING_COLS, VG_ARRAY_SIZE(FINDING_COLS),
                   get(doc, "header"), findings_csv, findings_len);
    if (rc)
        goto err;
    rc = csv_table(get(doc, "hosts"), HOST_COLS, VG_ARRAY_SIZE(HOST_COLS), get(doc, "header"),
                   hosts_csv, hosts_len);
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
    ".h-unconfirmed{background:#fff3c9;color:#6b5000;border-color:#dfc35e}\n"
    ".stamp{display:flex;flex-wrap:wrap;gap:2px 22px;margin:8px 0 0;font-size:12px}\n"
    ".stamp div{display:flex;gap:6px}\n"
    ".stamp dt{color:var(--muted)}\n"
    ".stamp dd{margin:0}\n"
    ".headline{font-size:17px;font-weight:700;margin:4px 0 10px;padding:8px 12px;"
    "border-left:5px solid var(--accent);background:var(--head);"
    "-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    ".headline.warn{border-left-color:#a01c12}\n"
    ".fig .v.small{font-size:20px;padding:5px 0}\n"
    "td.wording{font-size:11px}\n"
    ".more{font-size:12px;color:var(--muted);font-style:italic}\n"
    "td.bar,th.bar{width:18%}\n"
    "td.bar svg{display:block;width:100%;height:8px}\n"
    ".host{margin:14px 0 0}\n"
    "table.fixed td .sub.agent{overflow-wrap:normal;white-space:nowrap}\n"
    ".host table.hostinfo{margin-bottom:0;background:#f7f9fb}\n"
    ".host table.findings{margin-top:0;border-top:0}\n"
    "tr.inactive td{color:var(--muted)}\n"
    ".figs{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin:8px 0 14px;"
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
    "table{font-size:6.5pt}\n"
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
    ".lead{font-size:8.5pt;margin-bottom:4pt}\n"
    ".stamp{font-size:7.5pt;margin-top:3pt}\n"
    ".headline{font-size:11pt;padding:4pt 8pt;margin:2pt 0 6pt}\n"
    ".fig .v.small{font-size:11pt;padding:2pt 0}\n"
    "td.wording{font-size:6.5pt}\n"
    ".more{font-size:7pt}\n"
    ".sub.agent{font-size:5.5pt}\n"
    ".host{margin-top:8pt}\n"
    ".sec{margin-top:9pt;padding-top:4pt}\n"
    ".figs{margin:4pt 0 6pt}.fig .v{font-size:14pt}\n"
    "footer{margin-top:8pt;padding-top:4pt}\n"
    "footer .stamp{font-size:7pt}\n"
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
    const char *org = str(hd, "organisation"), *id = str(hd, "report_id");
    const char *as_of = str(hd, "as_of"), *coll = str(hd, "collector");
    const char *gen = str(hd, "generated");

    put(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; img-src data:\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"generator\" content=\"Vigil collector\">\n<title>Patch compliance report");
    if (org && *org) {
        put(o, " \xe2\x80\x94 ");
        esc_s(o, org);
    }
    if (as_of) {
        put(o, " \xe2\x80\x94 as of ");
        esc_s(o, as_of);
    }
    if (id && *id) {
        put(o, " \xe2\x80\x94 report ");
        esc_s(o, id);
    }
    put(o, "</title>\n<style>\n");
    put(o, CSS);
    /* Every printed page names the report (id, as-of, collector,
     * generation time) in its margins, so a loose page can be traced. */
    put(o, "@page{@top-left{font-size:7pt;color:#56606b;content:");
    css_string(o, org ? org : "");
    put(o, " \" \\2014  as of \" ");
    css_string(o, as_of ? as_of : "?");
    put(o, "}@top-right{font-size:7pt;color:#56606b;content:\"report \" ");
    css_string(o, id ? id : "?");
    put(o, "}@bottom-left{font-size:7pt;color:#56606b;content:\"collector \" ");
    css_string(o, coll && *coll ? coll : "?");
    put(o, " \" \\2014  generated \" ");
    css_string(o, gen ? gen : "?");
    put(o, "}@bottom-right{font-size:7pt;color:#56606b;"
           "content:\"page \" counter(page) \" of \" counter(pages)}}\n"
           "</style>\n</head>\n<body>\n");
}

/* Which report this is: the four values every file of a report carries.
 * With ids (once, at the top) tests can find them. */
static void h_stamp(struct out *o, const json_t *doc, int ids)
{
    static const struct {
        const char *key, *label, *id;
    } f[] = {
        {"report_id", "Report id", "stamp-report-id"},
        {"as_of", "As of (UTC)", "stamp-as-of"},
        {"collector", "Collector", "stamp-collector"},
        {"generated", "Generated (UTC)", "stamp-generated"},
    };
    const json_t *hd = get(doc, "header");

    put(o, "<dl class=\"stamp\">");
    for (size_t i = 0; i < VG_ARRAY_SIZE(f); i++) {
        putf(o, "<div><dt>%s</dt><dd class=\"mono\"", f[i].label);
        if (ids)
            putf(o, " id=\"%s\"", f[i].id);
        put(o, ">");
        h_str(o, get(hd, f[i].key));
        put(o, "</dd></div>");
    }
    put(o, "</dl>\n");
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

static void h_top(struct out *o, const json_t *doc, enum report_layout layout)
{
    const json_t *hd = get(doc, "header");

    put(o, "<header class=\"top\">\n<div class=\"kicker\">Vigil patch-compliance report");
    put(o, layout == REPORT_LAYOUT_FULL ? " \xe2\x80\x94 full, with every host and finding"
                                        : " \xe2\x80\x94 summary");
    put(o, "</div>\n<h1>");
    h_str(o, get(hd, "organisation"));
    put(o, "</h1>\n<p class=\"lead\">Security updates and operating-system support, as of ");
    h_time(o, get(hd, "as_of"));
    put(o, " (UTC). Scope: ");
    if (get(hd, "scope"))
        h_scope(o, get(hd, "scope"));
    else
        put(o, DASH);
    put(o, ". Fixes are due ");
    h_int(o, get(hd, "sla_days"));
    put(o, " days after release; hosts silent for over ");
    h_int(o, get(hd, "stale_days"));
    put(o, " days count as unknown.</p>\n");
    h_stamp(o, doc, 1);
    put(o, "</header>\n");
}

/* FULL only: how the report was made (versions, feeds). */
static void h_details(struct out *o, const json_t *doc)
{
    const json_t *hd = get(doc, "header"), *feeds = get(hd, "feeds"), *v, *f;
    size_t i, n = 0;

    sec_open(o, doc, "about", "How this report was made", NULL);
    put(o, "<table class=\"kv\"><tbody>\n<tr><th scope=\"row\">As of</th><td>");
    h_time(o, get(hd, "as_of"));
    put(o, "<span class=\"sub\">Every state, day count and figure is computed as at this "
           "time.</span></td></tr>\n<tr><th scope=\"row\">Generated</th><td>");
    h_time(o, get(hd, "generated"));
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
        put(o, "<p class=\"note\">" DASH " (no feed imports recorded)</p>\n</section>\n");
        return;
    }
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
    put(o, "</tbody></table>\n</section>\n");
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

/* The engine's headline, word for word, and the figures behind it.  While
 * any host is unconfirmed the compliant share is not a fact, so no
 * percentage is shown at all. */
static void h_headline(struct out *o, const json_t *doc)
{
    const json_t *sum = get(doc, "summary"), *hd = get(doc, "header");
    const json_t *unconf = get(sum, "unconfirmed");
    int confirmed = !(json_is_integer(unconf) && json_integer_value(unconf) > 0);

    put(o, "<section class=\"sec\" id=\"summary\">\n<p class=\"headline");
    put(o, confirmed ? "" : " warn");
    put(o, "\" id=\"headline\">");
    h_str(o, get(sum, "headline"));
    put(o, "</p>\n<div class=\"figs\">\n");
    if (confirmed) {
        fig(o, sum, "sum-compliant-pct", "compliant_pct", FIG_PCT, 0, " lead");
        put(o, "Hosts compliant");
    } else {
        /* A no-break space: one word for shell-built expectations too. */
        put(o, "<div class=\"fig lead bad\"><span class=\"v small\" id=\"sum-compliant-pct\">"
               "not\xc2\xa0" "confirmed</span><span class=\"l\">Hosts compliant: ");
        h_int(o, unconf);
        put(o, " host(s) unconfirmed");
    }
    if (json_is_integer(get(sum, "compliant")) && json_is_integer(get(sum, "hosts")))
        putf(o, " (%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " pass)",
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
    fig(o, sum, "sum-unconfirmed", "unconfirmed", FIG_COUNT, 1, "");
    put(o, "Unconfirmed hosts (fix release dates not known)");
    fig_end(o);
    fig(o, sum, "sum-unknown", "unknown", FIG_COUNT, 1, "");
    put(o, "Unknown hosts (stale or incomplete data)");
    fig_end(o);
    fig(o, sum, "sum-overdue", "overdue", FIG_COUNT, 1, "");
    put(o, "Overdue findings");
    fig_end(o);
    fig(o, sum, "sum-unconfirmed-findings", "unconfirmed_findings", FIG_COUNT, 1, "");
    put(o, "Open findings whose clock start is not confirmed");
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
    put(o, "</div>\n</section>\n");
}

static const char *const RULE_STATUSES[] = {"pass", "fail", "unconfirmed"};

/* Each rule's result with its counts and its wording, as the engine
 * states them (summary.rules; the wording falls back to doc.rules). */
static void h_rule_results(struct out *o, const json_t *doc)
{
    static const int w[] = {18, 9, 6, 6, 9, 8, 44};
    static const char *const counts[] = {"hosts_pass", "hosts_fail", "hosts_unconfirmed",
                                         "hosts_unknown"};
    const json_t *rules = get(get(doc, "summary"), "rules"), *r;
    size_t i;

    if (!json_array_size(rules))
        rules = get(doc, "rules"); /* version 1: the wording without results */
    sec_open(o, doc, "rules", "Results by rule", NULL);
    if (!json_array_size(rules)) {
        put(o, "<p>" DASH "</p>\n</section>\n");
        return;
    }
    put(o, "<table class=\"rule-results fixed\">");
    colgroup(o, w, VG_ARRAY_SIZE(w));
    put(o, "<thead><tr><th>Rule</th><th>Result</th><th class=\"n\">Hosts pass</th>"
           "<th class=\"n\">Fail</th><th class=\"n\">Uncon&shy;firmed</th><th class=\"n\">Un&shy;known</th>"
           "<th>What the rule requires</th></tr></thead><tbody>\n");
    json_array_foreach(rules, i, r) {
        const char *id = str(r, "id");
        const json_t *def = id ? rule_by_id(doc, id) : NULL;
        const json_t *name = get(r, "name"), *text = get(r, "text");

        if (!json_is_string(name))
            name = get(def, "name");
        if (!json_is_string(text) || !json_string_length(text))
            text = get(def, "text");
        put(o, "<tr><td><span class=\"tag\">");
        h_str(o, get(r, "id"));
        put(o, "</span> ");
        h_str(o, name);
        put(o, "</td><td");
        if (id) {
            put(o, " id=\"rule-");
            esc_s(o, id);
            put(o, "-status\"");
        }
        put(o, ">");
        badge(o, "h-", get(r, "status"), RULE_STATUSES, VG_ARRAY_SIZE(RULE_STATUSES));
        put(o, "</td>");
        for (size_t c = 0; c < VG_ARRAY_SIZE(counts); c++) {
            put(o, "<td class=\"n\"");
            if (id) {
                put(o, " id=\"rule-");
                esc_s(o, id);
                putf(o, "-%s\"", counts[c] + 6);
            }
            put(o, ">");
            h_int(o, get(r, counts[c]));
            put(o, "</td>");
        }
        put(o, "<td class=\"wording\">");
        h_str(o, text);
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n</section>\n");
}

/* Host name (breakable after each dot) with its agent id beside it, each
 * in a data-field element. */
static void h_host_cell(struct out *o, const json_t *row)
{
    const char *host = str(row, "hostname");

    put(o, "<td><strong data-field=\"hostname\">");
    if (host && *host) {
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
    put(o, "</strong><span class=\"sub agent\">agent <span class=\"mono\" data-field=\"agent_id\">");
    h_str(o, get(row, "agent_id"));
    put(o, "</span></span></td>");
}

/* failing_rules as "RULE: reason; " lines: the same text as the CSV cell. */
static void h_failing(struct out *o, const json_t *a)
{
    size_t i, n = 0;
    const json_t *fr;

    put(o, "<span data-field=\"failing_rules\">");
    json_array_foreach(a, i, fr) {
        const char *rule = str(fr, "rule"), *reason = str(fr, "reason");
        if (!rule && !reason)
            continue;
        put(o, n++ ? "; <br>" : "");
        put(o, "<strong>");
        esc_s(o, rule ? rule : "");
        put(o, "</strong>");
        if (reason) {
            put(o, ": ");
            esc(o, reason, json_string_length(get(fr, "reason")));
        }
    }
    if (!n)
        put(o, DASH);
    put(o, "</span>");
}

static const char *const HOST_STATUSES[] = {"pass", "fail", "unknown", "unconfirmed"};

/* A value in an element named after its JSON key. */
static void fv_open(struct out *o, const char *tag, const char *cls, const char *field)
{
    putf(o, "<%s%s%s%s data-field=\"%s\">", tag, cls ? " class=\"" : "", cls ? cls : "",
         cls ? "\"" : "", field);
}

static void fv_int(struct out *o, const json_t *row, const char *field)
{
    fv_open(o, "span", NULL, field);
    h_int(o, get(row, field));
    put(o, "</span>");
}

static void fv_str(struct out *o, const json_t *row, const char *cls, const char *field)
{
    fv_open(o, "span", cls, field);
    h_str(o, get(row, field));
    put(o, "</span>");
}

static void fv_time(struct out *o, const json_t *row, const char *field)
{
    fv_open(o, "span", NULL, field);
    h_time(o, get(row, field));
    put(o, "</span>");
}

static void fv_val(struct out *o, const json_t *row, const char *field)
{
    fv_open(o, "span", NULL, field);
    h_val(o, get(row, field));
    put(o, "</span>");
}

static void fv_num1(struct out *o, const json_t *row, const char *field)
{
    fv_open(o, "span", NULL, field);
    h_num1(o, get(row, field));
    put(o, "</span>");
}

static void fv_list(struct out *o, const json_t *row, const char *cls, const char *field)
{
    const json_t *a = get(row, field), *v;
    size_t i, n = 0;

    fv_open(o, "span", cls, field);
    json_array_foreach(a, i, v) {
        if (json_is_string(v) && json_string_length(v)) {
            put(o, n++ ? ", " : "");
            esc(o, json_string_value(v), json_string_length(v));
        } else if (json_is_integer(v)) {
            putf(o, "%s%" JSON_INTEGER_FORMAT, n++ ? ", " : "", json_integer_value(v));
        }
    }
    if (!n)
        put(o, DASH);
    put(o, "</span>");
}

static void fv_badge(struct out *o, const json_t *row, const char *field, const char *prefix,
                     const char *const *set, size_t n)
{
    fv_open(o, "span", NULL, field);
    badge(o, prefix, get(row, field), set, n);
    put(o, "</span>");
}

/* Rows picked and ordered for a summary table. */
struct pick {
    const json_t *v;
    json_int_t k[3]; /* sort keys, largest first */
    double x;        /* last key, largest first */
    size_t idx;      /* document order breaks ties */
};

static int pick_cmp(const void *pa, const void *pb)
{
    const struct pick *a = pa, *b = pb;

    for (int i = 0; i < 3; i++)
        if (a->k[i] != b->k[i])
            return a->k[i] < b->k[i] ? 1 : -1;
    if (a->x != b->x)
        return a->x < b->x ? 1 : -1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static json_int_t int_or0(const json_t *row, const char *key)
{
    return json_is_integer(get(row, key)) ? json_integer_value(get(row, key)) : 0;
}

/* Up to max rows of arr sorted as pick_cmp says, keeping those keep()
 * accepts; *total gets how many were kept before the cut.  NULL (and
 * o->err set) when memory runs out or there is nothing. */
static struct pick *pick_rows(struct out *o, const json_t *arr, int (*keep)(const json_t *),
                              void (*keys)(const json_t *, struct pick *), size_t *n,
                              size_t *total)
{
    struct pick *p;
    size_t i, k = 0;
    const json_t *v;

    *n = *total = 0;
    if (!json_array_size(arr))
        return NULL;
    p = calloc(json_array_size(arr), sizeof(*p));
    if (!p) {
        if (!o->err)
            o->err = -ENOMEM;
        return NULL;
    }
    json_array_foreach(arr, i, v) {
        if (!keep(v))
            continue;
        p[k].v = v;
        p[k].idx = i;
        keys(v, &p[k]);
        k++;
    }
    qsort(p, k, sizeof(*p), pick_cmp);
    *total = k;
    *n = k;
    return p;
}

static int is_unsupported(const json_t *h)
{
    const char *s = str(h, "os_support");
    return s && strcmp(s, "unsupported") == 0;
}

static void no_keys(const json_t *v, struct pick *p)
{
    (void)v;
    memset(p->k, 0, sizeof(p->k));
    p->x = 0;
}

enum { MAX_UNSUPPORTED = 25, MAX_WORST = 10, MAX_CVES = 20, MAX_EXCEPTIONS = 10 };

static void more_note(struct out *o, size_t shown, size_t total, const char *what)
{
    if (total > shown)
        putf(o, "<p class=\"more\">%zu more %s not shown here: every one is in the full "
                "layout (<span class=\"mono\">--layout full</span>) and the CSV.</p>\n",
             total - shown, what);
}

static void h_unsupported(struct out *o, const json_t *doc)
{
    static const int w[] = {40, 30, 15, 15};
    size_t n, total, i;
    struct pick *p = pick_rows(o, get(doc, "hosts"), is_unsupported, no_keys, &n, &total);

    sec_open(o, doc, "unsupported", "Hosts on an unsupported operating system", NULL);
    if (!n) {
        put(o, "<p>No host runs an operating system past its end of support.</p>\n</section>\n");
        free(p);
        return;
    }
    put(o, "<table class=\"unsupported fixed\">");
    colgroup(o, w, VG_ARRAY_SIZE(w));
    put(o, "<thead><tr><th>Host</th><th>Operating system</th><th>Support ended</th>"
           "<th>Status</th></tr></thead><tbody>\n");
    for (i = 0; i < n && i < MAX_UNSUPPORTED; i++) {
        put(o, "<tr data-host=\"");
        esc_s(o, str(p[i].v, "agent_id") ? str(p[i].v, "agent_id") : "");
        put(o, "\">");
        h_host_cell(o, p[i].v);
        put(o, "<td>");
        fv_str(o, p[i].v, NULL, "os");
        put(o, "</td><td>");
        fv_str(o, p[i].v, NULL, "os_eol");
        put(o, "</td><td>");
        fv_badge(o, p[i].v, "status", "h-", HOST_STATUSES, VG_ARRAY_SIZE(HOST_STATUSES));
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n");
    more_note(o, i, total, "hosts on an unsupported OS");
    put(o, "</section>\n");
    free(p);
}

static int is_worse_than_pass(const json_t *h)
{
    const char *s = str(h, "status");
    return int_or0(h, "overdue") > 0 || int_or0(h, "open") > 0 || int_or0(h, "unconfirmed") > 0 ||
           (s && strcmp(s, "pass") != 0);
}

static void worst_keys(const json_t *h, struct pick *p)
{
    p->k[0] = int_or0(h, "overdue");
    p->k[1] = int_or0(h, "open");
    p->k[2] = int_or0(h, "unconfirmed");
    p->x = 0;
}

static void h_worst(struct out *o, const json_t *doc)
{
    static const int w[] = {31, 10, 7, 6, 8, 7, 7, 24};
    size_t n, total, i;
    struct pick *p = pick_rows(o, get(doc, "hosts"), is_worse_than_pass, worst_keys, &n, &total);

    sec_open(o, doc, "worst", "Hosts most in need of attention", "hosts");
    if (!n) {
        put(o, "<p>Every host passes, with nothing open or unconfirmed.</p>\n</section>\n");
        free(p);
        return;
    }
    put(o, "<p class=\"note\">Ranked by overdue findings, then open, then unconfirmed.</p>\n"
           "<table class=\"worst fixed\">");
    colgroup(o, w, VG_ARRAY_SIZE(w));
    put(o, "<thead><tr><th>Host</th><th>Status</th><th class=\"n\">Over&shy;due</th>"
           "<th class=\"n\">Open</th><th class=\"n\">Uncon&shy;firmed</th>"
           "<th class=\"n\">Ex&shy;cepted</th><th>Reboot</th>"
           "<th>Failing rules; why unconfirmed</th></tr></thead><tbody>\n");
    for (i = 0; i < n && i < MAX_WORST; i++) {
        const json_t *h = p[i].v;
        const char *why = str(h, "unconfirmed_reason");

        put(o, "<tr data-host=\"");
        esc_s(o, str(h, "agent_id") ? str(h, "agent_id") : "");
        put(o, "\">");
        h_host_cell(o, h);
        put(o, "<td>");
        fv_badge(o, h, "status", "h-", HOST_STATUSES, VG_ARRAY_SIZE(HOST_STATUSES));
        put(o, "</td><td class=\"n\">");
        fv_int(o, h, "overdue");
        put(o, "</td><td class=\"n\">");
        fv_int(o, h, "open");
        put(o, "</td><td class=\"n\">");
        fv_int(o, h, "unconfirmed");
        put(o, "</td><td class=\"n\">");
        fv_int(o, h, "excepted");
        put(o, "</td><td>");
        fv_val(o, h, "reboot_required");
        put(o, "</td><td>");
        h_failing(o, get(h, "failing_rules"));
        if (why && *why) {
            put(o, "<span class=\"sub\">unconfirmed: ");
            fv_str(o, h, NULL, "unconfirmed_reason");
            put(o, "</span>");
        }
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n");
    more_note(o, i, total, "hosts that fail, are unconfirmed or have open findings");
    put(o, "</section>\n");
    free(p);
}

static const char *const STATES[] = {"open", "met", "met-late", "overdue", "excepted",
                                     "no-fix-yet"};

static int has_overdue(const json_t *c)
{
    return int_or0(c, "overdue") > 0;
}

static void cve_keys(const json_t *c, struct pick *p)
{
    p->k[0] = int_or0(c, "overdue");
    p->k[1] = int_or0(c, "hosts");
    p->k[2] = 0;
    p->x = json_is_number(get(c, "cvss")) ? json_number_value(get(c, "cvss")) : -1;
}

static void cve_row(struct out *o, const json_t *c)
{
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

static const char CVE_HEAD[] =
    "<thead><tr><th>CVE</th><th>Packages</th><th class=\"n\">Hosts</th>"
    "<th class=\"n\">Findings</th><th class=\"n\">Open</th><th class=\"n\">Overdue</th>"
    "<th class=\"n\">Excepted</th><th>Severity</th><th class=\"n\">CVSS</th>"
    "<th>Worst state</th></tr></thead><tbody>\n";

static void h_overdue_cves(struct out *o, const json_t *doc)
{
    size_t n, total, i;
    struct pick *p = pick_rows(o, get(doc, "cves"), has_overdue, cve_keys, &n, &total);

    sec_open(o, doc, "overdue-cves", "Overdue vulnerabilities (by CVE)", "cves");
    if (!n) {
        put(o, "<p>No CVE has an overdue finding.</p>\n</section>\n");
        free(p);
        return;
    }
    put(o, "<p class=\"note\">Ranked by overdue findings, then hosts affected, then CVSS.</p>\n"
           "<table class=\"cves\">");
    put(o, CVE_HEAD);
    for (i = 0; i < n && i < MAX_CVES; i++)
        cve_row(o, p[i].v);
    put(o, "</tbody></table>\n");
    more_note(o, i, total, "CVEs with overdue findings");
    put(o, "</section>\n");
    free(p);
}

static const char *const OS_SUPPORT[] = {"supported", "unsupported", "unknown"};
static const char *const EXC_STATUSES[] = {"in-force", "expired", "revoked"};

/* What an exception applies to: a host by name with its agent id beside
 * it, every host, or the hosts with a tag. */
static void exc_target(struct out *o, const json_t *e)
{
    const char *scope = str(e, "scope"), *host = str(e, "host");

    if ((scope && strcmp(scope, "all") == 0) || (!scope && host && strcmp(host, "*") == 0)) {
        put(o, "<strong>all hosts</strong>");
    } else if (scope && strcmp(scope, "tag") == 0) {
        put(o, "hosts tagged <span class=\"mono\">");
        h_str(o, get(e, "tag"));
        put(o, "</span>");
    } else {
        put(o, "<strong>");
        h_str(o, get(e, "hostname"));
        put(o, "</strong><span class=\"sub agent\">agent <span class=\"mono\">");
        h_str(o, get(e, "host"));
        put(o, "</span></span>");
    }
}

/* The package (a source package with all its binaries, or one binary
 * package) and the CVE an exception names; "any" where it names none. */
static void exc_what(struct out *o, const json_t *e)
{
    const json_t *pkg = get(e, "package"), *cve = get(e, "cve");
    const char *kind = str(e, "package_kind");

    if (json_is_string(pkg)) {
        h_str(o, pkg);
        if (kind && strcmp(kind, "binary") == 0)
            put(o, " (binary package only)");
        else if (kind && strcmp(kind, "source") == 0)
            put(o, " (source: all binaries)");
    } else {
        put(o, "any package");
    }
    put(o, "<span class=\"sub\">");
    if (json_is_string(cve))
        h_str(o, cve);
    else
        put(o, "any CVE");
    put(o, "</span>");
}

static int is_in_force(const json_t *e)
{
    const char *st = str(e, "status");
    return st && strcmp(st, "in-force") == 0;
}

static void exc_keys(const json_t *e, struct pick *p)
{
    p->k[0] = int_or0(e, "findings_covered");
    p->k[1] = p->k[2] = 0;
    p->x = 0;
}

/* Exceptions as a table: in force only, those covering most findings
 * first (summary), or all in document order with their status, record
 * and the ids of the findings they cover (full). */
static void exc_table(struct out *o, const json_t *doc, int all)
{
    static const int w_sum[] = {3, 25, 15, 34, 11, 7, 5};
    static const int w_all[] = {4, 8, 15, 12, 17, 11, 10, 8, 8, 7};
    const json_t *excs = get(doc, "exceptions"), *e;
    struct pick *p = NULL;
    size_t i, n = json_array_size(excs), total = n;

    put(o, all ? "<table class=\"exceptions fixed\">" : "<table class=\"exceptions-open fixed\">");
    if (all)
        colgroup(o, w_all, VG_ARRAY_SIZE(w_all));
    else
        colgroup(o, w_sum, VG_ARRAY_SIZE(w_sum));
    put(o, "<thead><tr><th class=\"n\">#</th>");
    if (all)
        put(o, "<th>Status</th>");
    put(o, "<th>Applies to</th><th>Package and CVE</th><th>Reason and compensating control</th>"
           "<th>Approved by (SIRO)</th>");
    if (all)
        put(o, "<th>Recorded</th>");
    put(o, "<th>Expires</th>");
    if (all)
        put(o, "<th>Revoked</th>");
    put(o, "<th class=\"n\">Find&shy;ings</th></tr></thead><tbody>\n");
    if (!all) {
        p = pick_rows(o, excs, is_in_force, exc_keys, &n, &total);
        if (n > MAX_EXCEPTIONS)
            n = MAX_EXCEPTIONS;
    }
    for (i = 0; i < n; i++) {
        int in_force;

        e = p ? p[i].v : json_array_get(excs, i);
        in_force = is_in_force(e);
        put(o, in_force ? "<tr>" : "<tr class=\"inactive\">");
        put(o, "<td class=\"n\">");
        h_int(o, get(e, "id"));
        put(o, "</td><td>");
        if (all) {
            badge(o, "e-", get(e, "status"), EXC_STATUSES, VG_ARRAY_SIZE(EXC_STATUSES));
            put(o, "</td><td>");
        }
        exc_target(o, e);
        put(o, "</td><td>");
        exc_what(o, e);
        put(o, "</td><td>");
        h_str(o, get(e, "reason"));
        put(o, all ? "<span class=\"sub\">control: " : " <span class=\"note\">Control: ");
        h_str(o, get(e, "control"));
        put(o, "</span></td><td>");
        h_str(o, get(e, "approver"));
        put(o, "</td><td>");
        if (all) {
            h_time(o, get(e, "created"));
            put(o, "<span class=\"sub\">by ");
            h_str(o, get(e, "created_by"));
            put(o, "</span></td><td>");
        }
        h_time(o, get(e, "expires"));
        put(o, "</td><td");
        if (all) {
            put(o, ">");
            h_time(o, get(e, "revoked"));
            put(o, "</td><td");
        }
        put(o, " class=\"n\">");
        h_int(o, get(e, "findings_covered"));
        if (all && json_array_size(get(e, "covered_findings"))) {
            put(o, "<span class=\"sub hash\">");
            h_list(o, get(e, "covered_findings"), " ");
            put(o, "</span>");
        }
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table>\n");
    if (!all)
        more_note(o, n, total, "exceptions in force");
    free(p);
}

static void exc_counts(const json_t *doc, size_t *in_force, size_t *expired, size_t *revoked)
{
    const json_t *e;
    size_t i;

    *in_force = *expired = *revoked = 0;
    json_array_foreach(get(doc, "exceptions"), i, e) {
        const char *st = str(e, "status");
        if (!st)
            continue;
        *in_force += strcmp(st, "in-force") == 0;
        *expired += strcmp(st, "expired") == 0;
        *revoked += strcmp(st, "revoked") == 0;
    }
}

static void h_open_exceptions(struct out *o, const json_t *doc)
{
    size_t in_force, expired, revoked;

    exc_counts(doc, &in_force, &expired, &revoked);
    sec_open(o, doc, "open-exceptions", "Exceptions in force (accepted risks)", "exceptions");
    putf(o, "<p class=\"note\"><strong id=\"exc-open\">%zu</strong> in force (%zu expired and "
            "%zu revoked are listed in the full layout). Each is a risk accepted by the SIRO; "
            "only an exception in force covers findings.</p>\n",
         in_force, expired, revoked);
    if (in_force)
        exc_table(o, doc, 0);
    put(o, "</section>\n");
}

static void h_exceptions(struct out *o, const json_t *doc)
{
    size_t in_force, expired, revoked;

    exc_counts(doc, &in_force, &expired, &revoked);
    sec_open(o, doc, "exceptions", "All exceptions", "exceptions");
    putf(o, "<p><strong id=\"exc-in-force\">%zu</strong> in force, "
            "<strong id=\"exc-expired\">%zu</strong> expired, "
            "<strong id=\"exc-revoked\">%zu</strong> revoked. ", in_force, expired, revoked);
    put(o, "Only an exception in force covers findings; once it expires or is revoked, the "
           "findings it covered count as failures again.</p>\n");
    if (json_array_size(get(doc, "exceptions")))
        exc_table(o, doc, 1);
    put(o, "</section>\n");
}

static void h_cves(struct out *o, const json_t *doc)
{
    const json_t *cves = get(doc, "cves"), *c;
    size_t i;

    sec_open(o, doc, "cves", "All vulnerabilities (by CVE)", "cves");
    if (!json_array_size(cves)) {
        put(o, "<p>" DASH " (no CVEs in this report)</p>\n</section>\n");
        return;
    }
    put(o, "<table class=\"cves\">");
    put(o, CVE_HEAD);
    json_array_foreach(cves, i, c)
        cve_row(o, c);
    put(o, "</tbody></table>\n</section>\n");
}

/* FULL only: findings by state. */
static void h_states(struct out *o, const json_t *doc)
{
    const json_t *sum = get(doc, "summary");
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

    sec_open(o, doc, "states", "Findings by state", "summary");
    put(o, "<table class=\"states\"><thead><tr><th>State</th><th class=\"n\">Findings</th>"
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
    put(o, "</td><td>outside the 14-day rule: tracked for CAF B4.d only (each finding says "
           "why)</td></tr>\n<tr><th scope=\"row\">All findings</th>"
           "<th class=\"n\" id=\"sum-findings\">");
    h_int(o, get(sum, "findings"));
    put(o, "</th><th></th></tr>\n</tbody></table>\n</section>\n");
}

/* The summary's trend: one line per week, the overdue backlog drawn as a
 * bar scaled to the largest week. */
static void h_trend_table(struct out *o, const json_t *doc)
{
    const json_t *weeks = get(get(doc, "trend"), "weeks"), *w;
    double max = 0;
    size_t i;

    sec_open(o, doc, "trend-summary", "Trend (12 weeks)", "trend");
    if (!json_array_size(weeks)) {
        put(o, "<p>" DASH " (no history)</p>\n</section>\n");
        return;
    }
    json_array_foreach(weeks, i, w) {
        const json_t *v = get(w, "overdue");
        if (json_is_number(v) && json_number_value(v) > max)
            max = json_number_value(v);
    }
    put(o, "<table class=\"trend trend-sum\"><thead><tr><th>Week ending (UTC)</th>"
           "<th class=\"n\">Hosts</th><th class=\"n\">Compliant</th>"
           "<th class=\"n\">Overdue findings</th><th class=\"bar\"></th>"
           "<th class=\"n\">Remediated in the week</th><th class=\"n\">Mean days to remediate</th>"
           "</tr></thead><tbody>\n");
    json_array_foreach(weeks, i, w) {
        const json_t *ov = get(w, "overdue");
        double bw = json_is_number(ov) && max > 0 ? 100.0 * json_number_value(ov) / max : 0;

        put(o, "<tr><td>");
        h_time(o, get(w, "week_ending"));
        put(o, "</td><td class=\"n\">");
        h_int(o, get(w, "hosts"));
        put(o, "</td><td class=\"n\">");
        h_num1(o, get(w, "compliant_pct"));
        if (json_is_number(get(w, "compliant_pct")))
            put(o, "%");
        put(o, "</td><td class=\"n\">");
        h_int(o, ov);
        putf(o, "</td><td class=\"bar\"><svg viewBox=\"0 0 100 8\" preserveAspectRatio=\"none\" "
                "aria-hidden=\"true\"><rect x=\"0\" y=\"0\" width=\"%.1f\" height=\"8\" "
                "fill=\"#b3382c\"/></svg></td><td class=\"n\">",
             bw < 0 ? 0 : bw);
        h_int(o, get(w, "remediated"));
        put(o, "</td><td class=\"n\">");
        h_num1(o, get(w, "mean_days_to_remediate"));
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
    for (int k = 0; k * step <= ymax + 1e-9; k++) {
        double t = k * step, y = T + ph - ph * t / ymax;
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

/* ---- HTML: the appendix (FULL) ------------------------------------------------- */

/* One "label | value" pair of the dates grid. */
static void date_line(struct out *o, const char *label, const json_t *f, const char *field)
{
    putf(o, "<span class=\"dl\">%s</span><span>", label);
    fv_time(o, f, field);
    put(o, "</span>");
}

static const int HOSTINFO_W[] = {10, 22, 14, 20, 14, 20};
static const int FINDING_W[] = {12, 13, 13, 15, 19, 12, 6, 10};

static void finding_row(struct out *o, const json_t *doc, const json_t *f)
{
    const json_t *sev = get(f, "severity");

    put(o, "<tr data-finding=\"");
    esc_s(o, str(f, "id") ? str(f, "id") : "");
    put(o, "\"><td><strong data-field=\"package\">");
    h_str(o, get(f, "package"));
    put(o, "</strong><span class=\"sub\">");
    fv_list(o, f, NULL, "binaries");
    put(o, "</span><span class=\"sub\">");
    fv_str(o, f, NULL, "manager");
    put(o, "</span></td><td>");
    fv_str(o, f, "ver", "installed_version");
    put(o, "<span class=\"sub\">\xe2\x86\x92 ");
    fv_str(o, f, "ver", "fixed_version");
    if (!json_is_string(get(f, "fixed_version")))
        put(o, " no fix released");
    put(o, "</span></td><td>");
    fv_list(o, f, NULL, "advisories");
    put(o, "<span class=\"sub\">");
    fv_list(o, f, NULL, "cves");
    put(o, "</span><span class=\"sub\">source: ");
    h_str(o, get(f, "source"));
    put(o, "</span></td><td>severity ");
    fv_str(o, f, NULL, "severity");
    if (!json_is_string(sev) || !json_string_length(sev))
        put(o, " (none from the vendor)");
    put(o, "<span class=\"sub\">CVSS ");
    fv_num1(o, f, "cvss");
    put(o, ", urgency ");
    fv_str(o, f, NULL, "urgency");
    put(o, "</span><span class=\"sub\"><strong>in scope: ");
    fv_val(o, f, "in_scope");
    put(o, "</strong></span><span class=\"sub\">");
    fv_str(o, f, NULL, "scope_reason");
    put(o, "</span></td><td><div class=\"dates\">");
    date_line(o, "released", f, "released_at");
    put(o, "<span class=\"dl\">evidence</span><span>");
    fv_str(o, f, NULL, "released_from");
    put(o, ", confirmed ");
    fv_val(o, f, "clock_confirmed");
    put(o, "</span>");
    date_line(o, "in estate", f, "first_seen_fleet");
    date_line(o, "on host", f, "first_seen_host");
    date_line(o, "clock start", f, "clock_start");
    date_line(o, "<strong>due</strong>", f, "due");
    put(o, "</div></td><td>installed ");
    fv_time(o, f, "installed");
    put(o, "<span class=\"sub\">effective: ");
    fv_val(o, f, "effective");
    if (json_is_string(get(f, "effective_at"))) {
        put(o, ", ");
        h_time(o, get(f, "effective_at"));
    }
    put(o, "</span><span class=\"sub\">");
    fv_str(o, f, NULL, "effective_note");
    put(o, "</span></td><td class=\"n\">");
    fv_num1(o, f, "days_open");
    put(o, "<span class=\"sub\">late ");
    fv_num1(o, f, "days_late");
    put(o, "</span></td><td>");
    fv_badge(o, f, "state", "s-", STATES, VG_ARRAY_SIZE(STATES));
    put(o, "<span class=\"sub\">exceptions ");
    fv_list(o, f, NULL, "exceptions");
    put(o, "</span><span class=\"sub\" data-field=\"rules\">");
    rule_tags(o, doc, get(f, "rules"));
    put(o, "</span><span class=\"sub mono\">");
    fv_str(o, f, NULL, "id");
    put(o, "</span></td></tr>\n");
}

/* One host: its own values, then its findings (indices into findings). */
static void host_block(struct out *o, const json_t *doc, const json_t *h,
                       const json_t *findings, const json_t *idx)
{
    const json_t *v;
    size_t i;

    put(o, "<div class=\"host\" data-host=\"");
    esc_s(o, str(h, "agent_id") ? str(h, "agent_id") : "");
    put(o, "\">\n<table class=\"hostinfo fixed\">");
    colgroup(o, HOSTINFO_W, VG_ARRAY_SIZE(HOSTINFO_W));
    put(o, "<thead><tr><th>Host</th><th>Operating system</th><th>Last check-in</th>"
           "<th>Kernel</th><th>Findings</th><th>Failing rules; why unconfirmed</th></tr>"
           "</thead><tbody><tr>");
    h_host_cell(o, h);
    put(o, "<td>");
    fv_str(o, h, NULL, "os");
    put(o, "<span class=\"sub\">");
    fv_badge(o, h, "os_support", "o-", OS_SUPPORT, VG_ARRAY_SIZE(OS_SUPPORT));
    put(o, " end of support ");
    fv_str(o, h, NULL, "os_eol");
    put(o, "</span>");
    if (str(h, "os_support_note") && *str(h, "os_support_note")) {
        put(o, "<span class=\"sub\">");
        h_str(o, get(h, "os_support_note"));
        put(o, "</span>");
    }
    put(o, "</td><td>");
    fv_time(o, h, "last_seen");
    put(o, "<span class=\"sub\">stale: ");
    fv_val(o, h, "stale");
    put(o, "</span></td><td>running ");
    fv_str(o, h, "ver", "running_kernel");
    put(o, "<span class=\"sub\">newest ");
    fv_str(o, h, "ver", "newest_kernel");
    put(o, "</span><span class=\"sub\">reboot required: ");
    fv_val(o, h, "reboot_required");
    put(o, "</span></td><td>status ");
    fv_badge(o, h, "status", "h-", HOST_STATUSES, VG_ARRAY_SIZE(HOST_STATUSES));
    put(o, "<span class=\"sub\">open ");
    fv_int(o, h, "open");
    put(o, ", overdue ");
    fv_int(o, h, "overdue");
    put(o, "</span><span class=\"sub\">excepted ");
    fv_int(o, h, "excepted");
    put(o, ", met late ");
    h_int(o, get(h, "met_late"));
    put(o, "</span><span class=\"sub\">unconfirmed ");
    fv_int(o, h, "unconfirmed");
    put(o, "</span></td><td>");
    h_failing(o, get(h, "failing_rules"));
    put(o, "<span class=\"sub\">unconfirmed: ");
    fv_str(o, h, NULL, "unconfirmed_reason");
    put(o, "</span></td></tr></tbody></table>\n");
    if (!json_array_size(idx)) {
        put(o, "<p class=\"note\">No findings.</p>\n</div>\n");
        return;
    }
    put(o, "<table class=\"findings fixed\">");
    colgroup(o, FINDING_W, VG_ARRAY_SIZE(FINDING_W));
    put(o, "<thead><tr><th>Package</th><th>Installed \xe2\x86\x92 fixed</th>"
           "<th>Advisories and CVEs</th><th>Severity and scope</th><th>Dates (UTC)</th>"
           "<th>Installed and effective</th><th class=\"n\">Days open</th><th>State</th>"
           "</tr></thead><tbody>\n");
    json_array_foreach(idx, i, v)
        finding_row(o, doc, json_array_get(findings, (size_t)json_integer_value(v)));
    put(o, "</tbody></table>\n</div>\n");
}

/* Every host with its findings.  The findings are grouped by agent id
 * through an index built once (agent id -> array of positions), so the
 * appendix stays linear in the size of the report.  Findings of an agent
 * that is not among the hosts get a block of their own at the end. */
static void h_appendix(struct out *o, const json_t *doc)
{
    const json_t *hosts = get(doc, "hosts"), *findings = get(doc, "findings"), *v;
    json_t *index = json_object(), *none = json_array();
    size_t i;

    sec_open(o, doc, "appendix", "Appendix: every host and its findings", "findings");
    put(o, "<p class=\"note\">One table per host, then one row per fix it needs or needed. "
           "A finding's clock starts at the fix's release (its evidence is shown; only an "
           "advisory date confirms it); the fix is due ");
    h_int(o, get(get(doc, "header"), "sla_days"));
    put(o, " \xc3\x97 24 hours later. A fix is effective when it is installed and, for a "
           "kernel, running.</p>\n");
    if (!index || !none)
        goto nomem;
    json_array_foreach(findings, i, v) {
        const char *agent = str(v, "agent_id");
        json_t *a = json_object_get(index, agent ? agent : "");
        if (!a) {
            a = json_array();
            if (!a || json_object_set_new(index, agent ? agent : "", a) != 0)
                goto nomem;
        }
        if (json_array_append_new(a, json_integer((json_int_t)i)) != 0)
            goto nomem;
    }
    if (!json_array_size(hosts) && !json_array_size(findings))
        put(o, "<p>No hosts in scope.</p>\n");
    json_array_foreach(hosts, i, v) {
        const char *agent = str(v, "agent_id");
        json_t *a = json_object_get(index, agent ? agent : "");
        host_block(o, doc, v, findings, a ? a : none);
        if (a)
            json_object_del(index, agent ? agent : "");
    }
    json_array_foreach(findings, i, v) {
        const char *agent = str(v, "agent_id");
        json_t *a = json_object_get(index, agent ? agent : "");
        if (!a)
            continue;
        /* Not a listed host: its identity as its findings give it. */
        host_block(o, doc, v, findings, a);
        json_object_del(index, agent ? agent : "");
    }
    goto out;
nomem:
    if (!o->err)
        o->err = -ENOMEM;
out:
    json_decref(index);
    json_decref(none);
    put(o, "</section>\n");
}

int report_render_html(const json_t *doc, enum report_layout layout, char **html, size_t *len)
{
    struct out o;

    *html = NULL;
    if (!doc_usable(doc) || (layout != REPORT_LAYOUT_SUMMARY && layout != REPORT_LAYOUT_FULL))
        return VG_EPROTO;
    out_init(&o);
    h_head(&o, doc);
    h_top(&o, doc, layout);
    put(&o, "<main>\n");
    h_headline(&o, doc);
    h_rule_results(&o, doc);
    h_unsupported(&o, doc);
    h_worst(&o, doc);
    h_overdue_cves(&o, doc);
    h_open_exceptions(&o, doc);
    h_trend_table(&o, doc);
    if (layout == REPORT_LAYOUT_FULL) {
        h_details(&o, doc);
        h_states(&o, doc);
        h_cves(&o, doc);
        h_exceptions(&o, doc);
        h_trend(&o, doc);
        h_appendix(&o, doc);
    }
    put(&o, "</main>\n<footer>\n");
    h_stamp(&o, doc, 0);
    put(&o, "<p>Vigil patch-compliance report, document version ");
    h_int(&o, get(doc, "version"));
    put(&o, ", produced by vigil-collector ");
    h_str(&o, get(get(doc, "header"), "collector_version"));
    put(&o, ". All times are UTC. " DASH " marks a value that is not known or does not "
            "apply. Every figure and sentence is the report engine's; the CSV and JSON forms "
            "of this report hold the same values (docs/report-schema.json).</p>\n</footer>\n"
            "</body>\n</html>\n");
    return out_take(&o, html, len);
}
