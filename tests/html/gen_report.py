#!/usr/bin/python3
"""Writes a realistic, deterministic report document (version 2) for a
fleet of N hosts, for the page-count check of the summary layout.

Usage: gen_report.py [--hosts N] [--seed S] OUT.json
The same arguments always give the same document.  Each host has about
fifteen findings (a few thousand for 200 hosts) in every state, release
dates from every kind of evidence, some hosts unsupported, stale or
unconfirmed, and exceptions of each scope.  The figures of the summary
are counted from the hosts and findings made here, as the engine would.
"""
import argparse
import hashlib
import json
import random
import sys
from datetime import datetime, timedelta, timezone

AS_OF = datetime(2026, 11, 20, 6, 0, 0, tzinfo=timezone.utc)
SLA = 14
UNRATED = "in scope: no vendor rating (CE treats these as critical)"
RULES = [
    ("CE", "Cyber Essentials: security update management",
     "Cyber Essentials (security update management): software is licensed and supported, and "
     "updates that fix vulnerabilities the vendor rates critical or high, or with a CVSS v3 score "
     "of 7 or more, are installed within 14 days of release; fixes with no vendor rating are in "
     "scope (CE treats these as critical)."),
    ("DSPT", "NHS Data Security and Protection Toolkit",
     "NHS DSPT (8.3, 9.2.3): no unsupported operating systems or software; critical and high "
     "vulnerabilities are remediated within 14 days, or the risk is documented and accepted by "
     "the SIRO (an exception approved by the SIRO)."),
    ("CAF-B4.d", "NCSC CAF B4.d Vulnerability management",
     "NCSC CAF B4.d: exposure to known vulnerabilities is tracked, prioritised and mitigated "
     "promptly; the use of supported software is maximised."),
]
PACKAGES = ("openssl curl libxml2 sudo bind9 postgresql-15 nginx expat tiff imagemagick "
            "chromium firefox-esr glibc systemd openssh python3.11 git vim krb5 samba "
            "libvpx libwebp ghostscript cups exim4 apache2 php8.2 qemu xorg-server "
            "linux ntp less tar gnutls28 nss libssh2 zlib sqlite3 poppler").split()
FROM = ["advisory"] * 12 + ["release-file", "install-history", "feed-import", "first-seen",
                            "unknown"]
STATES = ["met"] * 120 + ["met-late"] * 20 + ["open"] * 24 + ["overdue"] * 12 + ["excepted"] + \
         ["no-fix-yet"] * 4


def ts(t):
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def days(a, b):
    return round((b - a).total_seconds() / 86400, 1)


def make(nhosts, seed):
    rnd = random.Random(seed)
    fixes = []
    for i in range(160):
        pkg = PACKAGES[i % len(PACKAGES)]
        rel = AS_OF - timedelta(days=rnd.uniform(1, 110), minutes=rnd.randrange(1440))
        frm = rnd.choice(FROM)
        fixes.append({
            "package": pkg, "n": i,
            "cves": ["CVE-2026-%d" % (1000 + 37 * i + k) for k in range(rnd.choice([1, 1, 2, 3]))],
            "advisory": "DSA-%d-1" % (5900 + i) if frm == "advisory" else None,
            "released": None if frm == "unknown" else rel, "from": frm, "clock": rel,
            "severity": rnd.choice([None, None, None, "Important", "Moderate"]),
        })
    hosts, findings = [], []
    exc_specs = []
    for h in range(nhosts):
        site = ["north", "south", "east", "west"][h % 4]
        role = rnd.choice(["web", "db", "app", "ward-kiosk", "file", "print"])
        agent = "%08x-%04x-4%03x-a%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
                                                  rnd.getrandbits(12), rnd.getrandbits(12),
                                                  rnd.getrandbits(48))
        name = "%s-%s-%03d.example-trust.nhs.uk" % (role, site, h)
        rhel = h % 7 == 3
        unsupported = h % 23 == 5
        stale = h % 31 == 7
        os_ = ("Red Hat Enterprise Linux 9.6 (Plow)" if rhel else
               "Debian GNU/Linux 11 (bullseye)" if unsupported else "Debian GNU/Linux 12 (bookworm)")
        counts = dict(open=0, overdue=0, excepted=0, met_late=0, unconfirmed=0)
        reasons = []
        for fx in rnd.sample(fixes, 15):
            st = rnd.choice(STATES)
            clock = fx["clock"]
            due = clock + timedelta(days=SLA)
            if st in ("open", "overdue") and due > AS_OF and st == "overdue":
                st = "open"
            if st == "open" and due < AS_OF:
                st = "overdue"
            in_scope = fx["severity"] != "Moderate"
            confirmed = fx["from"] == "advisory"
            eff = None
            if st == "met":
                eff = clock + timedelta(days=rnd.uniform(0.2, SLA - 0.1))
            elif st == "met-late":
                eff = due + timedelta(days=rnd.uniform(0.5, 20))
            if eff and eff > AS_OF:
                eff, st = None, "open" if due > AS_OF else "overdue"
            exceptions = []
            if st == "excepted":
                exc_specs.append((len(findings), agent, name, fx["package"]))
            if st == "open" and in_scope:
                counts["open"] += 1
                if not confirmed:
                    counts["unconfirmed"] += 1
            if st == "overdue" and in_scope:
                counts["overdue"] += 1
            if st == "excepted":
                counts["excepted"] += 1
            if st == "met-late":
                counts["met_late"] += 1
            late = None
            if st == "met-late":
                late = days(due, eff)
            elif st in ("overdue", "excepted") and due < AS_OF:
                late = days(due, AS_OF)
            fid = hashlib.sha256(("%s/%d" % (agent, fx["n"])).encode()).hexdigest()[:16]
            nofix = st == "no-fix-yet"
            findings.append({
                "id": fid, "agent_id": agent, "hostname": name, "package": fx["package"],
                "binaries": [fx["package"]], "manager": "rpm" if rhel else "dpkg",
                "installed_version": "1.%d.0-1" % fx["n"],
                "fixed_version": None if nofix else "1.%d.0-2" % fx["n"],
                "advisories": [fx["advisory"]] if fx["advisory"] else [], "cves": fx["cves"],
                "severity": fx["severity"], "cvss": 5.3 if fx["severity"] == "Moderate" else None,
                "urgency": None, "in_scope": in_scope,
                "scope_reason": UNRATED if fx["severity"] is None else
                "vendor severity %s" % fx["severity"],
                "released_at": None if nofix else ts(fx["released"]),
                "released_from": "unknown" if nofix else fx["from"],
                "clock_confirmed": confirmed and not nofix,
                "first_seen_host": ts(clock + timedelta(hours=3)),
                "first_seen_fleet": ts(clock + timedelta(hours=1)),
                "clock_start": None if nofix else ts(clock), "due": None if nofix else ts(due),
                "installed": ts(eff), "effective": eff is not None, "effective_at": ts(eff),
                "effective_note": "", "days_open": 0.0 if nofix else days(clock, eff or AS_OF),
                "days_late": late, "state": st, "exceptions": exceptions, "source": "feed+pending",
                "rules": ["CE", "DSPT", "CAF-B4.d"] if in_scope else ["CAF-B4.d"],
            })
        failing = []
        if unsupported:
            failing.append({"rule": "CE", "reason": "unsupported OS (Debian 11 since 2026-08-31)"})
        if counts["overdue"]:
            failing.append({"rule": "CE", "reason": "%d fixes overdue" % counts["overdue"]}
                           if not unsupported else {"rule": "DSPT", "reason": "%d fixes overdue"
                                                    % counts["overdue"]})
        if stale:
            status, failing = "unknown", []
        elif failing:
            status = "fail"
        elif counts["unconfirmed"]:
            status = "unconfirmed"
            reasons.append("%d open fixes have no confirmed release date" % counts["unconfirmed"])
        else:
            status = "pass"
        hosts.append({
            "agent_id": agent, "hostname": name, "os": os_, "os_id": "rhel" if rhel else "debian",
            "os_version": "9.6" if rhel else "11" if unsupported else "12",
            "os_support": "unsupported" if unsupported else "supported",
            "os_eol": "2026-08-31" if unsupported else "2032-05-31" if rhel else "2028-06-30",
            "os_support_note": "", "last_seen": ts(AS_OF - timedelta(days=9 if stale else 0.01)),
            "stale": stale, "running_kernel": "6.1.0-41-amd64", "newest_kernel": "6.1.0-41-amd64",
            "kernel_effective": True, "reboot_required": h % 9 == 2,
            "open": counts["open"], "overdue": counts["overdue"], "excepted": counts["excepted"],
            "unconfirmed": counts["unconfirmed"], "met_late": counts["met_late"],
            "status": status, "failing_rules": failing, "unsupported_packages": [],
            "unconfirmed_reason": "; ".join(reasons), "tags": {"role": role, "site": site},
        })
    exceptions = []
    for n, (fi, agent, name, pkg) in enumerate(exc_specs, 1):
        fid = findings[fi]["id"]
        findings[fi]["exceptions"] = [n]
        scope = "tag" if n % 5 == 0 else "host"
        exceptions.append({
            "id": n, "host": agent if scope == "host" else "tag:role=ward-kiosk",
            "hostname": name if scope == "host" else None, "scope": scope,
            "tag": "role=ward-kiosk" if scope == "tag" else None, "package": pkg,
            "package_kind": "binary" if n % 3 == 0 else "source", "cve": None,
            "reason": "Supplier certification of the fixed %s pending (change CHG-%d)." % (pkg, 2200 + n),
            "approver": "Dr A. Patel (SIRO)", "control": "Host segregated; inbound restricted.",
            "created": ts(AS_OF - timedelta(days=20)), "created_by": "admin-jsmith",
            "expires": ts(AS_OF + timedelta(days=40)), "revoked": None, "status": "in-force",
            "findings_covered": 1, "covered_findings": [fid],
        })
    for k, st in enumerate(["expired", "expired", "revoked"]):
        exceptions.append({
            "id": len(exceptions) + 1, "host": "*", "hostname": None, "scope": "all", "tag": None,
            "package": None, "package_kind": None, "cve": "CVE-2026-%d" % (1000 + k),
            "reason": "Held for regression testing.", "approver": "Dr A. Patel (SIRO)",
            "control": None, "created": ts(AS_OF - timedelta(days=60)), "created_by": "admin-mkhan",
            "expires": ts(AS_OF - timedelta(days=10)),
            "revoked": ts(AS_OF - timedelta(days=30)) if st == "revoked" else None,
            "status": st, "findings_covered": 0, "covered_findings": [],
        })
    cves = {}
    for f in findings:
        for c in f["cves"]:
            e = cves.setdefault(c, {"cve": c, "packages": [f["package"]], "hosts": set(),
                                    "findings": 0, "open": 0, "overdue": 0, "excepted": 0,
                                    "severity": f["severity"], "cvss": f["cvss"],
                                    "worst_state": f["state"]})
            e["hosts"].add(f["agent_id"])
            e["findings"] += 1
            for s in ("open", "overdue", "excepted"):
                e[s] += f["state"] == s
            if f["state"] == "overdue":
                e["worst_state"] = "overdue"
    cve_list = []
    for c in sorted(cves):
        e = cves[c]
        e["hosts"] = len(e["hosts"])
        cve_list.append(e)

    def count(st):
        return sum(1 for h in hosts if h["status"] == st)

    def fcount(st, scope=True):
        return sum(1 for f in findings if f["state"] == st and f["in_scope"] == scope)

    n, passing, unconf = len(hosts), count("pass"), count("unconfirmed")
    unconf_f = sum(h["unconfirmed"] for h in hosts)
    if unconf:
        headline = ("Compliance cannot be confirmed for %d of %d hosts: %d fixes have no release "
                    "date. Import advisories: vigilctl advisories import" % (unconf, n, unconf_f))
    else:
        headline = "%d of %d hosts compliant (%.1f%%)" % (passing, n, 100.0 * passing / n)
    rules = [{"id": i, "name": nm, "status": "fail" if count("fail") else
              "unconfirmed" if unconf else "pass", "hosts_pass": passing,
              "hosts_fail": count("fail"), "hosts_unconfirmed": unconf,
              "hosts_unknown": count("unknown"), "text": tx} for i, nm, tx in RULES]
    weeks = []
    for w in range(12):
        end = AS_OF - timedelta(days=7 * (11 - w))
        weeks.append({"week_ending": ts(end), "hosts": n, "compliant_pct": round(40 + 3.1 * w, 1),
                      "overdue": 300 - 17 * w + (w % 3) * 9, "remediated": 120 + 5 * (w % 4),
                      "mean_days_to_remediate": round(9.5 - 0.3 * w, 1)})
    doc = {
        "type": "vigil-patch-report", "version": 2,
        "rules": [{"id": i, "name": nm, "text": tx} for i, nm, tx in RULES],
        "section_rules": {"summary": ["CE", "DSPT", "CAF-B4.d"], "hosts": ["CE", "DSPT", "CAF-B4.d"],
                          "findings": ["CE", "DSPT", "CAF-B4.d"], "cves": ["CAF-B4.d"],
                          "exceptions": ["DSPT", "CAF-B4.d"], "trend": ["CAF-B4.d"]},
        "header": {
            "organisation": "Example NHS Foundation Trust", "generated": "2026-11-20T06:00:09.112Z",
            "generated_ms": 1795154409112,
            "report_id": hashlib.sha256(b"gen-report %d %d" % (nhosts, seed)).hexdigest()[:32],
            "as_of": ts(AS_OF), "as_of_ms": 1795154400000,
            "collector": "collector.example-trust.nhs.uk",
            "scope": {"hosts_pattern": None, "hosts": n, "excluded_revoked": 0},
            "collector_version": "0.1.0", "agent_versions": [{"version": "0.1.0", "hosts": n}],
            "sla_days": SLA, "stale_days": 7, "history_days": 400, "feeds": [],
        },
        "summary": {
            "hosts": n, "compliant": passing, "non_compliant": count("fail"),
            "unknown": count("unknown"), "unconfirmed": unconf,
            "compliant_pct": round(100.0 * passing / n, 1), "unconfirmed_findings": unconf_f,
            "unconfirmed_fixes": len({(f["package"], f["fixed_version"]) for f in findings
                                      if f["in_scope"] and f["state"] == "open"
                                      and not f["clock_confirmed"]}),
            "findings": len(findings), "open": fcount("open"), "overdue": fcount("overdue"),
            "met": fcount("met"), "met_late": fcount("met-late"), "excepted": fcount("excepted"),
            "no_fix_yet": fcount("no-fix-yet"),
            "out_of_scope": sum(1 for f in findings if not f["in_scope"]),
            "unsupported_os": sum(1 for h in hosts if h["os_support"] == "unsupported"),
            "stale_hosts": sum(1 for h in hosts if h["stale"]),
            "reboot_pending": sum(1 for h in hosts if h["reboot_required"]),
            "mean_days_to_remediate": 8.2, "headline": headline, "rules": rules,
        },
        "hosts": hosts, "findings": findings, "cves": cve_list, "exceptions": exceptions,
        "trend": {"weeks": weeks},
    }
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    doc = make(a.hosts, a.seed)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print("gen_report: %s: %d hosts, %d findings, %d exceptions"
          % (a.out, len(doc["hosts"]), len(doc["findings"]), len(doc["exceptions"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
