#!/usr/bin/python3
"""One computation, every format: the HTML shows each host and finding
value exactly as the CSV holds it.

Usage: cross_check.py --findings-csv F.csv --hosts-csv H.csv [--json R.json] [--full] HTML...
Each HTML (the raw file or the DOM Chromium dumped) is read with Python's
HTML parser.  Every element with a data-field attribute inside an element
with data-host (or data-finding) is compared with the CSV cell of that
column for that host (or finding), formatted as the HTML shows it: an
empty cell as "\u2014", true/false as yes/no, days and CVSS with one
decimal, lists joined by ", " (rule tags by " "), a time as the datetime
of its <time> element.  With --full the HTML must be the full layout: every
host and finding of the CSV has its block or row there with every column
(a finding's agent_id and hostname are those of the host block it sits
in).  With --json, every CSV cell is also compared with the JSON
document's value of that column for that host or finding (the report the
collector made --as-of the same time).  Prints a summary and exits 0, or
lists differences and exits 1.
"""
import argparse
import csv
import json
import re
import sys
from html.parser import HTMLParser

DASH = "\u2014"
STAMP = 4
LISTS = {"binaries", "advisories", "cves", "exceptions"}
NUM1 = {"cvss", "days_open", "days_late"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


def html_form(col, cell):
    if cell == "":
        return DASH
    if cell in ("true", "false"):
        return "yes" if cell == "true" else "no"
    if col in NUM1:
        return "%.1f" % float(cell)
    if col in LISTS:
        return ", ".join(cell.split(" "))
    return cell


class Fields(HTMLParser):
    """Collects (field, text, host, finding, host-block) for each data-field."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []   # [tag, attrs, text parts, time datetime]
        self.fields = []
        self.blocks = {}  # agent -> {field: text} of <div class="host"> blocks
        self.rows = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "time" and "datetime" in a:
            for e in self.stack:
                if e[3] is None:
                    e[3] = a["datetime"]
        if tag in VOID:
            return
        self.stack.append([tag, a, [], None])
        if "data-finding" in a:
            self.rows.add(a["data-finding"])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for e in reversed(self.stack[i:]):
                    self.finish(e, self.stack[:self.stack.index(e)])
                del self.stack[i:]
                break

    def finish(self, e, parents):
        tag, a, parts, dt = e
        if "data-field" not in a:
            return
        text = dt if dt is not None else re.sub(r"\s+", " ", "".join(parts)).strip()
        host = finding = block = None
        for p in parents:
            if "data-host" in p[1]:
                host = p[1]["data-host"]
                if p[0] == "div":
                    block = host
            if "data-finding" in p[1]:
                finding = p[1]["data-finding"]
        self.fields.append((a["data-field"], text, host, finding, block))
        if block is not None and finding is None:
            self.blocks.setdefault(block, {})[a["data-field"]] = text

    def handle_data(self, data):
        for e in self.stack:
            e[2].append(data)


def load_csv(path, key):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    cols = rows[0][:-STAMP]
    return cols, {r[cols.index(key)]: dict(zip(cols, r)) for r in rows[1:]}


def json_cell(col, v):
    """The CSV text of a JSON value, as the collector's CSV writer makes it."""
    if v is None:
        return ""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, list):
        if col == "failing_rules":
            return "; ".join("%s: %s" % (x.get("rule", ""), x.get("reason", "")) for x in v)
        return " ".join(str(x) if not isinstance(x, float) else "%.15g" % x for x in v)
    if isinstance(v, float):
        return "%.15g" % v
    return str(v)


def compare_json(doc_path, fcols, findings, hcols, hosts, bad):
    """Every CSV cell against the JSON document's field of the same name."""
    with open(doc_path, encoding="utf-8") as f:
        doc = json.load(f)
    n = 0
    for kind, key, cols, rows in (("findings", "id", fcols, findings),
                                  ("hosts", "agent_id", hcols, hosts)):
        objs = {o[key]: o for o in doc[kind]}
        if set(objs) != set(rows):
            bad.append("%s: %s differ: JSON %d, CSV %d" % (doc_path, kind, len(objs), len(rows)))
        for k, row in rows.items():
            o = objs.get(k)
            if o is None:
                continue
            for col in cols:
                if col not in o:
                    continue
                n += 1
                if json_cell(col, o[col]) != row[col]:
                    bad.append("%s: %s %s: %s is %r in the JSON, %r in the CSV"
                               % (doc_path, kind, k, col, json_cell(col, o[col]), row[col]))
    if n == 0:
        bad.append("%s: nothing compared" % doc_path)
    print("  %s  report/cross %s (%d host and finding values compared with the CSV)"
          % ("FAIL" if bad else "PASS", doc_path, n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--findings-csv", required=True)
    ap.add_argument("--hosts-csv", required=True)
    ap.add_argument("--json")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("html", nargs="+")
    a = ap.parse_args()
    fcols, findings = load_csv(a.findings_csv, "id")
    hcols, hosts = load_csv(a.hosts_csv, "agent_id")
    bad = []
    if a.json:
        compare_json(a.json, fcols, findings, hcols, hosts, bad)
    for path in a.html:
        p = Fields()
        with open(path, encoding="utf-8") as f:
            p.feed(f.read())
        p.close()
        n = 0
        seen_f, seen_h = {}, {}
        for field, text, host, finding, block in p.fields:
            if finding is not None:
                row, cols, what, seen = findings.get(finding), fcols, "finding " + finding, seen_f
                key = finding
            elif host is not None:
                row, cols, what, seen = hosts.get(host), hcols, "host " + host, seen_h
                key = host
            else:
                continue
            if field not in cols:
                continue
            if row is None:
                bad.append("%s: %s is not in the CSV" % (path, what))
                continue
            want = html_form(field, row[field])
            if text != want:
                bad.append("%s: %s: %s is %r in the HTML, %r in the CSV"
                           % (path, what, field, text, row[field]))
            seen.setdefault(key, set()).add(field)
            n += 1
            if finding is not None and block is not None:
                # The host block a finding sits in is its host.
                for k in ("agent_id", "hostname"):
                    got = p.blocks.get(block, {}).get(k)
                    if got != html_form(k, row[k]):
                        bad.append("%s: finding %s sits under %s %r, the CSV says %r"
                                   % (path, finding, k, got, row[k]))
        if a.full:
            for aid in hosts:
                missing = set(hcols) - seen_h.get(aid, set())
                if missing:
                    bad.append("%s: host %s lacks %s" % (path, aid, ", ".join(sorted(missing))))
            for fid in findings:
                missing = set(fcols) - {"agent_id", "hostname"} - seen_f.get(fid, set())
                if missing:
                    bad.append("%s: finding %s lacks %s" % (path, fid,
                                                            ", ".join(sorted(missing))))
        if n == 0:
            bad.append("%s: no host or finding value found" % path)
        print("  %s  report/cross %s (%d host and finding values compared with the CSV)"
              % ("FAIL" if bad else "PASS", path, n))
    if bad:
        for b in bad[:30]:
            print("        " + b, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
