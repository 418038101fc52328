/*
 * Advisory feeds: pure parsers (no SQLite, no network) for what an admin
 * imports with `vigilctl advisories import FILE [--format F]`.  Each
 * parser turns a vendor document into fixes, one struct adv_fix per
 * (release, package[, arch], fixed version), handed to a callback.
 *
 * 1. Debian Security Tracker JSON ("debian-json",
 *    https://security-tracker.debian.org/tracker/data/json; one compact
 *    line, ~100 MB):
 *
 *      { "SRCPKG": { "CVE-YYYY-NNNN" | "TEMP-NNNNNNN-XXXXXX": {
 *          "description": ..., "scope": ..., "debianbug": N,
 *          "releases": { "bookworm": {
 *              "status": "resolved" | "open" | "undetermined",
 *              "repositories": { "bookworm": VER, "bookworm-security": VER },
 *              "fixed_version": VER,       (resolved only; "0": not affected)
 *              "urgency": "not yet assigned" | "unimportant" | "low" |
 *                         "medium" | "high" | "end-of-life" (NVD-derived:
 *                         "low**" ...),
 *              "nodsa": TEXT, "nodsa_reason": "" | "ignored" | "postponed",
 *              "next_point_update": true } } } } }
 *
 *    One fix per (package, issue, release): resolved -> fixed_version as
 *    given; open -> "" (no fix yet).  Not emitted ("ignored"): resolved
 *    with fixed_version "0" (not affected), undetermined, and open issues
 *    of urgency "unimportant" or "end-of-life" (the tracker does not count
 *    those as risk).  TEMP- ids are kept: vulnerabilities without a CVE
 *    id yet.  Other keys and values of unexpected types are skipped and
 *    counted, never fatal; only a top level that is not an object, or
 *    invalid JSON, is.  severity "", arch "", advisory "", released_ms 0
 *    (the tracker has no dates: they come from the DSA/DLA lists).
 *    The top-level object is walked member by member and each package's
 *    value parsed on its own, so memory follows the largest package
 *    (linux: a few MB), not the file (a jansson tree is ~8x its text).
 *
 * 2. DSA/DLA lists ("dsa-list": the tracker's data/DSA/list, data/DLA/list):
 *
 *      [21 Nov 2023] DSA-5560-1 strongswan - security update
 *      <TAB>{CVE-2023-41913}
 *      <TAB>[bookworm] - strongswan 5.9.8-5+deb12u1
 *      <TAB>[bullseye] - strongswan <not-affected> (reason)
 *      <TAB>NOTE: free text
 *
 *    A header line per advisory (newest first; day, English month, year;
 *    "DSA-N-R" or "DLA-N-R"), then indented annotations in any order:
 *    "{...}" cross-references (CVE ids kept, anything else ignored),
 *    "[release] - package VERSION|<tag> [(...)]", and free text (NOTE:).
 *    One fix per package line, with every CVE of the entry; released_ms
 *    is 00:00:00 UTC of the date.  <unfixed> (or no version) -> "" ;
 *    <not-affected>, <no-dsa>, <end-of-life>, <ignored>, <postponed>,
 *    <removed>, <itp>, <undetermined> -> ignored (this advisory fixes
 *    nothing there).  Lines that break this grammar (unknown month, no
 *    such date, unknown <tag>, a package line without [release], DSA
 *    and DLA ids mixed) are VG_EPROTO naming the line.
 *
 * 3. Red Hat CSAF 2.0 advisories ("csaf": document.category
 *    "csaf_security_advisory", one RHSA per file):
 *
 *      document.tracking.id                 "RHSA-2023:1234" -> advisory, doc key
 *      document.tracking.initial_release_date  -> released_ms
 *      document.aggregate_severity.text     "Important" -> "important"
 *      product_tree.branches[..].product    { product_id: "AppStream-9.2.0.Z.MAIN",
 *          product_identification_helper.cpe: "cpe:/a:redhat:enterprise_linux:9::appstream" }
 *      product_tree.relationships[]         full_product_name.product_id
 *          "AppStream-9.2.0.Z.MAIN:openssl-1:3.0.7-17.el9_2.x86_64" =
 *          product_reference (component NEVRA) of relates_to_product_reference
 *          (platform; followed through module layers to the root)
 *      vulnerabilities[].cve, .product_status.fixed[] (full product ids),
 *          .threats[category=impact].details + product_ids,
 *          .scores[].cvss_v3.baseScore + products,
 *          .remediations[category=vendor_fix].date + product_ids
 *
 *    A full product id not in the relationships is split at its first ':'.
 *    The platform maps to "el<major>" by its CPE: vendor redhat, product
 *    enterprise_linux or rhel_* (rhel_eus, rhel_aus, ...), major from the
 *    version field.  CPEs of other products, or naming an "elN" base
 *    (layered products: "cpe:/a:redhat:openshift:4.13::el8"), are ignored:
 *    their packages are not RHEL's and would be compared with RHEL's own
 *    builds.  Without a CPE: leading digits of a "7Server"/"8Base" style
 *    id, else the first "-<digits>" ("AppStream-9.2.0.Z.MAIN" -> 9).
 *    Components: NEVRA "name-[epoch:]version-release.arch"; ".src" is
 *    ignored (hosts report binary names); epoch 0 is dropped.  One fix
 *    per (release, name, arch, version) over the whole document, with the
 *    CVEs of every vulnerability that fixes it.  Per vulnerability the
 *    severity of a product is its impact threat (one without product_ids
 *    covers all), else the aggregate severity; the fix gets the highest.
 *    cvss: highest cvss_v3.baseScore whose products include it (or list
 *    none).  released_ms: earliest vendor_fix date covering it, else the
 *    initial release date.
 *
 * Bounds: input at most ADV_INPUT_MAX; package names and versions at
 * most ADV_STR_MAX bytes (longer: the entry is skipped and counted);
 * list lines at most ADV_LINE_MAX bytes, a tracker package's value and
 * a whole CSAF document at most ADV_JSON_MAX bytes (longer: VG_EPROTO).
 * Nothing recurses on input depth beyond jansson's own limit, and the
 * CSAF branch walk stops at 16 levels.
 *
 * CVE lists are sorted by year then number (CVE-2023-9999 before
 * CVE-2023-10000), then TEMP- ids; deduplicated; space-separated.
 */
#ifndef VG_ADVISORY_H
#define VG_ADVISORY_H

#include <stddef.h>
#include <stdint.h>

#define ADV_INPUT_MAX ((size_t)256 * 1024 * 1024)
#define ADV_JSON_MAX ((size_t)64 * 1024 * 1024)
#define ADV_LINE_MAX ((size_t)256 * 1024)
#define ADV_STR_MAX 256
/* doc_key buffers: at least this many bytes. */
#define ADV_DOC_KEY_MAX 80

enum adv_format { ADV_AUTO = 0, ADV_DEBIAN_JSON, ADV_DSA_LIST, ADV_CSAF };

/* "debian-json", "dsa-list", "csaf" (and "auto") <-> enum; returns 0 or -EINVAL. */
int adv_format_parse(const char *s, enum adv_format *out);
/* Static string; "auto" for ADV_AUTO, "?" for anything else unknown. */
const char *adv_format_name(enum adv_format f);

/* One fixed (or not yet fixed) package in one distribution release. All strings valid only during the callback. */
struct adv_fix {
    const char *release;       /* Debian codename "bookworm"; Red Hat family "el9" (major version) */
    const char *package;       /* Debian: SOURCE package name; Red Hat: binary rpm name */
    const char *arch;          /* Red Hat: rpm arch ("x86_64", "noarch"); Debian: "" */
    const char *fixed_version; /* "" = no fix yet; Debian version as dpkg prints it; rpm "[EPOCH:]VERSION-RELEASE" (epoch only if non-zero) */
    const char *advisory;      /* "DSA-5560-1", "DLA-3672-1", "RHSA-2023:1234", or "" */
    const char *cves;          /* space-separated CVE ids, sorted, deduplicated ("" if none) */
    const char *severity;      /* Red Hat: lower-case "critical|important|moderate|low"; Debian: "" */
    const char *urgency;       /* Debian tracker urgency as given ("high", "not yet assigned", ...); else "" */
    double cvss;               /* highest CVSS v3 base score given for these CVEs on this product, -1 if none */
    int64_t released_ms;       /* vendor release time, ms since epoch UTC; 0 unknown */
    /* Added: CSAF platform products that ship this fix, space-separated,
     * sorted ("AppStream-9.2.0.Z.EUS AppStream-9.2.0.Z.MAIN"), so EUS/AUS
     * streams can be told apart; "" for Debian. */
    const char *platforms;
};

/* What a parse did besides the fixes it emitted. */
struct adv_stats {
    size_t fixes;   /* callbacks made */
    size_t skipped; /* entries dropped as malformed: wrong JSON type, over a size limit, bad version */
    size_t ignored; /* entries dropped by the mapping rules above (not affected, ".src", ...) */
    char skip_reason[160]; /* why the first skipped entry was ("" if none); one line */
};

/* Detects the format from content (first non-blank bytes, then structure). Returns 0 or VG_EPROTO with a one-line reason in err. */
int adv_detect(const char *buf, size_t len, enum adv_format *out, char *err, size_t errlen);

/* Parses buf (fmt may be ADV_AUTO: detected) and calls cb for each fix; a non-zero cb return stops and is returned.
 * doc_key gets what the document replaces on a later import: "debian-tracker" for the tracker JSON, "dsa-list" or "dla-list" (from the ids in the list), and the CSAF tracking id (e.g. "RHSA-2023:1234") for CSAF.
 * Returns 0; VG_EPROTO for malformed input with a one-line reason in err (naming line numbers for lists, the JSON path for JSON); -ENOMEM.
 * Also VG_ETOOBIG (len over ADV_INPUT_MAX) and -EINVAL (doc_key given but
 * keylen under ADV_DOC_KEY_MAX).  doc_key may be NULL.  Errors can be
 * found after some callbacks were made: import in one transaction. */
int adv_parse(enum adv_format fmt, const char *buf, size_t len,
              int (*cb)(void *ctx, const struct adv_fix *f), void *ctx,
              char *doc_key, size_t keylen, char *err, size_t errlen);

/* adv_parse that also fills *st (may be NULL). */
int adv_parse_stats(enum adv_format fmt, const char *buf, size_t len,
                    int (*cb)(void *ctx, const struct adv_fix *f), void *ctx, char *doc_key,
                    size_t keylen, struct adv_stats *st, char *err, size_t errlen);

#endif
