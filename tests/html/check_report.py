#!/usr/bin/python3
"""Checks the machine-readable forms of a patch-compliance report.

  check_report.py --json FILE --schema docs/report-schema.json [--negative]
      FILE validates against the JSON Schema (draft-07, python3-jsonschema).
      With --negative, each of a set of small corruptions of FILE (an
      unknown state, a stray property, a time without its Z, ...) must
      then fail to validate: the schema is as strict as it claims.
  check_report.py --csv FILE --columns N
      FILE loads with Python's csv module as UTF-8; its header has N
      distinct, non-empty names (exactly the findings or hosts columns when
      N is 34 or 21); every row has N fields and ends with the same four
      report columns (report_id, as_of, collector, generated); records end
      in CRLF; no cell starts a spreadsheet formula (= + - @ TAB CR, a
      negative number aside).
  check_report.py --expect-summary FILE [--stamp] [--headline]
      prints, one per line, the #ID=TEXT expectations for
      tests/html/check_html.sh that the report FILE's summary implies: the
      figures and each rule's result and counts; with --stamp also the
      report id, as-of, collector and generation time (only when the HTML
      was rendered from FILE itself, not from another run); with
      --headline also the headline (a line with spaces: pass the lines to
      check_html.sh whole, e.g. with xargs -0 after tr '\n' '\0').

Exits 0 when the check passes, 1 when it fails (saying why), 2 on misuse.
"""
import argparse
import csv
import io
import json
import re
import sys

STAMP_COLUMNS = "report_id as_of collector generated".split()
FINDING_COLUMNS = (
    "agent_id hostname package binaries manager installed_version fixed_version advisories "
    "cves severity cvss urgency in_scope scope_reason released_at released_from "
    "clock_confirmed first_seen_host first_seen_fleet clock_start due installed effective "
    "effective_note days_open days_late state exceptions rules id").split() + STAMP_COLUMNS
HOST_COLUMNS = (
    "agent_id hostname os os_support os_eol last_seen stale running_kernel newest_kernel "
    "reboot_required open overdue excepted unconfirmed status unconfirmed_reason "
    "failing_rules").split() + STAMP_COLUMNS
KNOWN = {len(FINDING_COLUMNS): FINDING_COLUMNS, len(HOST_COLUMNS): HOST_COLUMNS}
NEGATIVE_NUMBER = re.compile(r"^-[0-9.]")
DASH = "\u2014"


def fail(msg):
    print("check_report: " + msg, file=sys.stderr)
    return 1


def _set(doc, path, value):
    o = doc
    for k in path[:-1]:
        o = o[k]
    o[path[-1]] = value


def _del(doc, path):
    o = doc
    for k in path[:-1]:
        o = o[k]
    del o[path[-1]]


# (what it breaks, how): each must make a valid document invalid.
NEGATIVE = [
    ("unknown top-level property", lambda d: _set(d, ["extra"], 1)),
    ("wrong type", lambda d: _set(d, ["type"], "vigil-report")),
    ("wrong version", lambda d: _set(d, ["version"], 3)),
    ("report id not 32 hex", lambda d: _set(d, ["header", "report_id"], "xyz")),
    ("unknown release evidence", lambda d: _set(d, ["findings", 0, "released_from"], "guess")),
    ("unknown rule result", lambda d: _set(d, ["summary", "rules", 0, "status"], "green")),
    ("missing summary figure", lambda d: _del(d, ["summary", "overdue"])),
    ("negative count", lambda d: _set(d, ["summary", "stale_hosts"], -1)),
    ("percentage over 100", lambda d: _set(d, ["summary", "compliant_pct"], 100.1)),
    ("time without Z", lambda d: _set(d, ["header", "generated"], "2026-11-20T06:00:00")),
    ("time with offset", lambda d: _set(d, ["header", "as_of"], "2026-11-20T06:00:00+01:00")),
    ("time with microseconds", lambda d: _set(d, ["header", "as_of"], "2026-11-20T06:00:00.123456Z")),
    ("date-only time", lambda d: _set(d, ["findings", 0, "due"], "2026-11-20")),
    ("upper-case sha256", lambda d: _set(d, ["header", "feeds", 0, "sha256"], "AB" * 32)),
    ("short sha256", lambda d: _set(d, ["header", "feeds", 0, "sha256"], "ab" * 31)),
    ("unknown feed format", lambda d: _set(d, ["header", "feeds", 0, "format"], "oval")),
    ("unknown finding state", lambda d: _set(d, ["findings", 0, "state"], "closed")),
    ("unknown finding property", lambda d: _set(d, ["findings", 0, "notes"], "")),
    ("missing finding field", lambda d: _del(d, ["findings", 0, "clock_start"])),
    ("finding id not 16 hex", lambda d: _set(d, ["findings", 0, "id"], "xyz")),
    ("CVSS over 10", lambda d: _set(d, ["findings", 0, "cvss"], 10.5)),
    ("malformed CVE id", lambda d: _set(d, ["findings", 0, "cves"], ["CVE-26-1"])),
    ("unknown rule id", lambda d: _set(d, ["findings", 0, "rules"], ["ISO27001"])),
    ("repeated rule id", lambda d: _set(d, ["section_rules", "hosts"], ["CE", "CE"])),
    ("excepted without exception", lambda d: (_set(d, ["findings", 0, "state"], "excepted"),
                                              _set(d, ["findings", 0, "exceptions"], []))),
    ("unknown host status", lambda d: _set(d, ["hosts", 0, "status"], "ok")),
    ("pass with unconfirmed fixes", lambda d: (_set(d, ["hosts", 0, "status"], "pass"),
                                               _set(d, ["hosts", 0, "failing_rules"], []),
                                               _set(d, ["hosts", 0, "unconfirmed"], 2))),
    ("unknown release evidence", lambda d: _set(d, ["findings", 0, "released_from"], "rumour")),
    ("unknown OS support", lambda d: _set(d, ["hosts", 0, "os_support"], "eol")),
    ("bad EOL date", lambda d: _set(d, ["hosts", 0, "os_eol"], "2028-13-01")),
    ("pass with failing rules", lambda d: (_set(d, ["hosts", 0, "status"], "pass"),
                                           _set(d, ["hosts", 0, "failing_rules"],
                                                [{"rule": "CE", "reason": "x"}]))),
    ("fail without failing rules", lambda d: (_set(d, ["hosts", 0, "status"], "fail"),
                                              _set(d, ["hosts", 0, "failing_rules"], []))),
    ("unknown exception status", lambda d: _set(d, ["exceptions", 0, "status"], "active")),
    ("trend week missing a figure", lambda d: _del(d, ["trend", "weeks", 0, "overdue"])),
]


def check_json(path, schema_path, negative=False):
    try:
        import jsonschema
    except ImportError:
        return fail("python3-jsonschema is not installed (scripts/install-deps.sh installs it)")
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return fail(str(e))
    jsonschema.Draft7Validator.check_schema(schema)
    v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        for e in errors[:20]:
            where = "/".join(str(p) for p in e.absolute_path) or "(document)"
            print("  %s: %s" % (where, e.message), file=sys.stderr)
        return fail("%s: %d schema error(s)%s" % (path, len(errors),
                                                   " (first 20 shown)" if len(errors) > 20 else ""))
    print("  PASS  report/json %s (%d hosts, %d findings, schema %s)"
          % (path, len(doc["hosts"]), len(doc["findings"]), schema_path))
    if not negative:
        return 0
    accepted = []
    for what, corrupt in NEGATIVE:
        bad = json.loads(json.dumps(doc))
        try:
            corrupt(bad)
        except (KeyError, IndexError, TypeError):
            return fail("%s: cannot apply the corruption %r to this document" % (path, what))
        if v.is_valid(bad):
            accepted.append(what)
    if accepted:
        return fail("the schema accepts corrupted documents: " + "; ".join(accepted))
    print("  PASS  report/schema rejects all %d corrupted variants" % len(NEGATIVE))
    return 0


def check_csv(path, columns):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except OSError as e:
        return fail(str(e))
    except UnicodeDecodeError as e:
        return fail("%s: not UTF-8 (%s)" % (path, e))
    if text.startswith("\ufeff"):
        return fail("%s: starts with a byte-order mark" % path)
    if not text.endswith("\r\n"):
        return fail("%s: the last record does not end in CRLF" % path)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        return fail("%s: %s" % (path, e))
    if not rows:
        return fail("%s: empty" % path)
    header = rows[0]
    if len(header) != columns:
        return fail("%s: header has %d columns, expected %d" % (path, len(header), columns))
    if any(not h for h in header) or len(set(header)) != len(header):
        return fail("%s: header has empty or repeated names: %s" % (path, header))
    if columns in KNOWN and header != KNOWN[columns]:
        return fail("%s: header is %s, expected %s" % (path, ",".join(header),
                                                        ",".join(KNOWN[columns])))
    stamp = None
    if header[-len(STAMP_COLUMNS):] != STAMP_COLUMNS:
        return fail("%s: the header does not end with %s" % (path, ",".join(STAMP_COLUMNS)))
    for n, row in enumerate(rows[1:], 2):
        if len(row) != columns:
            return fail("%s: record %d has %d fields, expected %d" % (path, n, len(row), columns))
        if stamp is None:
            stamp = row[-len(STAMP_COLUMNS):]
            if not all(stamp[i] for i in (0, 1, 3)):
                return fail("%s: record %d lacks its report id, as-of or generation time"
                            % (path, n))
        elif row[-len(STAMP_COLUMNS):] != stamp:
            return fail("%s: record %d names another report: %s" % (path, n, row[-4:]))
        for name, cell in zip(header, row):
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not NEGATIVE_NUMBER.match(cell):
                return fail("%s: record %d, %s starts a formula: %r" % (path, n, name, cell))
    print("  PASS  report/csv %s (%d records of %d fields)" % (path, len(rows) - 1, columns))
    return 0


def expectations(path, headline=False, stamp=False):
    """The figures the HTML summary must show, as check_html.sh arguments."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    s = doc.get("summary") or {}
    hd = doc.get("header") or {}

    def count(key):
        v = s.get(key)
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else DASH

    def one_decimal(key, suffix=""):
        v = s.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return "%.1f%s" % (v, suffix)
        return DASH

    unconfirmed = s.get("unconfirmed")
    # While any host is unconfirmed no percentage may be shown.
    if isinstance(unconfirmed, int) and unconfirmed > 0:
        out = ["#sum-compliant-pct=not\u00a0confirmed"]  # one word for the shell
    else:
        out = ["#sum-compliant-pct=" + one_decimal("compliant_pct", "%")]
    out.append("#sum-mttr=" + one_decimal("mean_days_to_remediate"))
    for ident, key in (("sum-hosts", "hosts"), ("sum-compliant", "compliant"),
                       ("sum-non-compliant", "non_compliant"), ("sum-unknown", "unknown"),
                       ("sum-unconfirmed", "unconfirmed"),
                       ("sum-unconfirmed-findings", "unconfirmed_findings"),
                       ("sum-overdue", "overdue"), ("sum-unsupported-os", "unsupported_os"),
                       ("sum-stale", "stale_hosts"), ("sum-reboot-pending", "reboot_pending")):
        out.append("#%s=%s" % (ident, count(key)))
    for r in s.get("rules") or []:
        rid = r.get("id")
        if not isinstance(rid, str):
            continue
        out.append("#rule-%s-status=%s" % (rid, r.get("status", DASH)))
        for k in ("pass", "fail", "unconfirmed", "unknown"):
            v = r.get("hosts_" + k)
            out.append("#rule-%s-%s=%s" % (rid, k, v if isinstance(v, int) else DASH))
    for ident, key in (("stamp-report-id", "report_id"), ("stamp-as-of", "as_of"),
                       ("stamp-collector", "collector"), ("stamp-generated", "generated")):
        v = hd.get(key)
        if stamp:
            out.append("#%s=%s" % (ident, v if isinstance(v, str) and v else DASH))
    if headline:
        out.append("#headline=" + (s.get("headline") or DASH))
    print("\n".join(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--schema", metavar="SCHEMA")
    ap.add_argument("--negative", action="store_true")
    ap.add_argument("--csv", metavar="FILE")
    ap.add_argument("--columns", type=int, metavar="N")
    ap.add_argument("--expect-summary", metavar="FILE")
    ap.add_argument("--headline", action="store_true")
    ap.add_argument("--stamp", action="store_true")
    a = ap.parse_args()
    if a.json:
        if not a.schema:
            ap.error("--json needs --schema")
        return check_json(a.json, a.schema, a.negative)
    if a.csv:
        if not a.columns or a.columns < 1:
            ap.error("--csv needs --columns N")
        return check_csv(a.csv, a.columns)
    if a.expect_summary:
        return expectations(a.expect_summary, a.headline, a.stamp)
    ap.error("one of --json, --csv or --expect-summary is needed")
    return 2


if __name__ == "__main__":
    sys.exit(main())
