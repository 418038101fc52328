/*
 * Patch compliance: the findings engine behind `vigilctl report patch`.
 *
 * The store loads a fleet (struct cx_fleet): every host with the history
 * of its packages, pending updates, OS state and agent version, the
 * advisory fixes of the feed imports current at the report's as-of time,
 * and the exceptions.  Every history row carries the collector time it
 * became known (from_ms) and, if it ended, when (to_ms), so the engine
 * can judge the fleet at any point up to as-of from the same rows: the
 * report for a past date is the report that would have been produced on
 * that date.
 *
 * The engine is plain C over those arrays: no SQLite, no clock.  It
 * produces the report document (JSON, docs/report-schema.json), from
 * which report_render.c makes the CSV and HTML forms.
 *
 * Rules applied (README "Patch compliance"):
 *   - a finding is a fix (a package at a fixed version, from an imported
 *     feed or from the host's own pending security updates) that a host
 *     lacks, or installed within the history window;
 *   - its release date comes from the advisory (DSA/DLA list, CSAF),
 *     else from the earliest evidence the fleet holds: any host's first
 *     sight of the fixed version pending, the Date: of the Release file
 *     it was seen in, any host's install of it (package history); else
 *     when a feed first listed it.  Only an advisory date is exact: the
 *     rest bound the release from above, so the fix's age from below;
 *   - its clock starts at the earliest of those; it is due sla_days x
 *     24 h later;
 *   - a host with an open in-scope finding whose clock is not confirmed
 *     by an advisory date is "unconfirmed", never "pass";
 *   - effective: installed and, for a kernel fix, the running kernel is
 *     at or above the fixed version;
 *   - states: open, met, met-late, overdue, excepted, no-fix-yet;
 *   - exceptions name a host, a tag or all hosts, and a source package
 *     or one binary package and/or a CVE; a finding is excepted when
 *     every (binary, CVE) pair of it is covered by some exception in
 *     force, and lists every exception that covers a part of it.
 */
#ifndef VG_COMPLIANCE_H
#define VG_COMPLIANCE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CX_FOREVER INT64_MAX

/* One version of one package a host had, from when to when (collector
 * times; to_ms CX_FOREVER: still there). */
struct cx_pkg {
    const char *name, *arch, *version, *source, *source_version;
    int64_t from_ms, to_ms;
    int64_t install_ms; /* the agent's install time (dpkg.log, rpm); 0 unknown */
};

/* One pending update a host reported, while it was listed. */
struct cx_pend {
    const char *name, *arch, *installed, *candidate, *advisory, *severity;
    int security;
    int64_t released_ms; /* the repository's date for it; 0 unknown */
    int64_t first_ms;    /* the agent's first sight of it (survives restarts) */
    int64_t from_ms, to_ms;
    int64_t release_file_ms; /* apt: Date: of the Release file it came from; 0 unknown */
};

/* One change from the host's package history (dpkg.log, rpm install
 * times), as the agent read it: what happened to name/arch at time_ms
 * (the agent's clock).  Versions are "" when none (install: old;
 * remove: new).  Only changes before the collector first listed the
 * package are used: after that the collector's own rows are the truth. */
struct cx_hist {
    const char *name, *arch, *action, *old_version, *new_version;
    int64_t time_ms;
};

/* The host's OS state from from_ms on. */
struct cx_os {
    int64_t from_ms;
    const char *os_id, *version_id, *codename, *pretty, *kernel, *newest_kernel;
    int reboot_required;
};

struct cx_ver {
    int64_t from_ms;
    const char *version;
};

struct cx_host {
    const char *agent_id, *hostname, *manager; /* manager: "dpkg" or "rpm" */
    int64_t first_seen_ms, revoked_ms;         /* revoked_ms 0: not revoked */
    struct cx_pkg *pkg;
    size_t npkg;
    struct cx_pend *pend;
    size_t npend;
    struct cx_os *os; /* by from_ms */
    size_t nos;
    struct cx_ver *ver; /* by from_ms */
    size_t nver;
    int64_t *last_seen; /* per point (cx_fleet.points): last check-in at or before it; 0 none */
    int excluded; /* outside the report's --hosts pattern: only its sightings of fixes count */
    struct cx_hist *hist; /* by time_ms; folded into pkg by cx_fleet_apply_history */
    size_t nhist;
    const char **tag_key, **tag_value; /* the host's tags (current) */
    size_t ntags;
};

struct cx_import {
    int64_t id;
    const char *format, *doc_key, *source, *sha256, *imported_by;
    int64_t size, imported_ms, records;
};

/* One fix from a feed (advisory.h's struct adv_fix, as stored). */
struct cx_fix {
    int64_t import_id, imported_ms;
    const char *release, *package, *arch, *fixed, *advisory, *cves, *severity, *urgency;
    double cvss; /* -1 unknown */
    int64_t released_ms;
};

struct cx_exception {
    int64_t id;
    const char *host, *package, *cve, *reason, *approver, *control, *created_by;
    int64_t created_ms, expires_ms, revoked_ms;
    const char *revoked_by, *revoke_reason;
    /* What `package` names: "source", "binary", or NULL/"" for exceptions
     * made before the two were told apart (matched as a source when it
     * is the finding's source, else as a binary). */
    const char *package_kind;
    const char *hostname; /* the named host's current name; "" when none */
};

/* Operating-system support, answered by ossupport.c. */
enum cx_support { CX_SUPPORTED, CX_UNSUPPORTED, CX_UNKNOWN };
struct os_support;

struct cx_fleet {
    struct cx_host *hosts;
    size_t nhosts;
    struct cx_import *imports; /* the imports current at as-of */
    size_t nimports;
    struct cx_fix *fixes;
    size_t nfixes;
    struct cx_exception *exc;
    size_t nexc;
    /* The points the hosts' last_seen are given for: points[0] is as-of,
     * then the ends of the trend weeks going back. */
    int64_t *points;
    size_t npoints;
    struct cx_arena *arena; /* owns every string and array above */
    size_t excluded_pattern; /* hosts left out by the --hosts pattern */
};

struct cx_opts {
    const char *organisation;
    const char *hosts_pattern; /* NULL: all */
    const char *collector_version;
    int64_t generated_ms, as_of_ms;
    int sla_days, stale_days, history_days, trend_weeks;
    int64_t stale_ms; /* a host not seen for longer is unknown */
    const struct os_support *os;
    const atomic_int *cancel; /* NULL, or set from another thread to stop: cx_report gives NULL */
};

/* Strings and arrays of a fleet, freed together. */
struct cx_arena;
struct cx_arena *cx_arena_new(void);
void cx_arena_free(struct cx_arena *a);
/* A copy of s in the arena ("" for NULL); NULL when out of memory. */
const char *cx_strdup(struct cx_arena *a, const char *s);
/* Zeroed memory in the arena; NULL when out of memory. */
void *cx_alloc(struct cx_arena *a, size_t n);

void cx_fleet_free(struct cx_fleet *f);

/* Folds each host's package history into its package rows: rows for the
 * versions the history shows before the collector first listed each
 * package (install time from the log), so a fix installed before the
 * host enrolled is judged like one installed after.  Call once, after
 * loading.  Returns 0 or -ENOMEM. */
int cx_fleet_apply_history(struct cx_fleet *f);

/* The feeds' name for a release: "bookworm" (Debian and Ubuntu
 * codename), "el9" (RHEL family), or "" when there is none. */
void cx_release_of(const char *os_id, const char *version_id, const char *codename, char *out,
                   size_t n);

/* The report document for the fleet at opts->as_of_ms.  NULL when out of
 * memory. */
json_t *cx_report(const struct cx_fleet *f, const struct cx_opts *o);

/* The rule texts, as stated in every report. */
extern const char *const cx_rule_ce, *const cx_rule_dspt, *const cx_rule_caf;

/* ossupport.c: end-of-life tables.  Loads Debian's distro-info-data CSVs
 * from dir (debian.csv, ubuntu.csv) and adds the shipped table for the
 * RHEL family and SUSE.  A missing dir leaves Debian and Ubuntu unknown
 * (logged).  Returns 0 or -ENOMEM. */
int os_support_load(const char *dir, struct os_support **out);
void os_support_free(struct os_support *s);
/* Whether os_id/version_id was supported at at_ms; *eol_ms the end of
 * support (0 unknown), and a short note ("Debian 12 (bookworm): security
 * support until 2028-06-30 (LTS)"). */
enum cx_support os_support_check(const struct os_support *s, const char *os_id,
                                 const char *version_id, const char *codename, int64_t at_ms,
                                 int64_t *eol_ms, char *note, size_t notelen);

/* Debian packages whose security support ended before their release's
 * (debian-security-support: DIR/security-support-ended.debN).  Loaded
 * with os_support_load's second call; absent files leave it empty. */
int os_support_load_ended(struct os_support *s, const char *dir);
/* Whether source package src at version v on Debian `major` had lost its
 * security support at at_ms: 1 with *ended_ms and details (a pointer
 * into s), else 0. */
int os_support_pkg_ended(const struct os_support *s, const char *major, const char *src,
                         const char *v, int64_t at_ms, int64_t *ended_ms, const char **details);

#endif
