/*
 * Pending updates: for each installed package, the version the package
 * manager would upgrade it to, whether that fixes a security issue, and
 * since when this agent has seen it pending.
 *
 * apt hosts (pkg_apt.c): apt's own lists and policy, read directly.
 * rpm hosts (pkg_dnf.c): `dnf updateinfo list --security` parsed.
 * First-seen times (pending_state.c): kept in STATE_DIR/pending-seen.
 */
#ifndef VG_PENDING_H
#define VG_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "pkg.h"

struct pending {
    char *name, *arch;
    char *installed, *candidate;
    /* Where the candidate comes from: the release's archive ("Suite":
     * "bookworm-security"), Origin, Label and the site it is fetched
     * from ("deb.debian.org").  dnf: the advisory's repository is not
     * known; archive stays empty. */
    char *archive, *origin, *label, *site;
    /* A version newer than the installed one, and not newer than the
     * candidate, comes from a security source. */
    int security;
    /* dnf: advisory id ("RHSA-2026:1234"), severity ("Important"). */
    char *advisory, *severity;
    int64_t released_ms; /* advisory issued (0: unknown) */
    /* apt: Date: of the Release/InRelease file of the candidate's suite
     * (0: unknown; dnf: always). */
    int64_t release_file_ms;
    /* When this agent first saw the installed version outdated, and first
     * saw a security fix pending for it (0: not seen / not security). */
    int64_t first_seen_ms, security_first_seen_ms;
};

struct pending_list {
    struct pending *v;
    size_t n, cap;
};

/* What the apt reader met: never fatal, but worth a log line. */
struct apt_report {
    unsigned lists, releases, stanzas, pins;
    unsigned lists_failed, lists_unsupported, pin_errors, lines_too_long;
    /* Newest modification time of the lists read (when apt last updated
     * them; stale lists mean unknown pending updates), ms. */
    int64_t refreshed_ms;
    char native_arch[32];
    char first_error[256];
};

void pending_list_free(struct pending_list *l);
int pending_list_push(struct pending_list *l, struct pending *p);
void pending_free_one(struct pending *p);
/* By name, arch, installed and candidate version, advisory. */
void pending_list_sort(struct pending_list *l);

/* Reads ROOT/var/lib/apt/lists (every ..._Packages list, plain, .gz, .xz
 * or .lz4, with its InRelease or Release file) and ROOT/etc/apt/
 * preferences and preferences.d, and computes apt's candidate for each package in
 * `installed` the way apt's default policy does (pkgPolicy): priorities
 * 500, 100 for the installed version and for NotAutomatic +
 * ButAutomaticUpgrades releases, 1 for NotAutomatic ones; pins by
 * version, release and origin, the first matching pin winning; no
 * downgrade below 1000.  Lists out the packages whose candidate is newer
 * than the installed version, sorted by name and arch.
 * Returns 0 (rep says what was odd), -ENOENT when there are no lists, or
 * -ENOMEM. */
int pkg_apt_pending(const char *root, const struct pkg_list *installed,
                    struct pending_list *out, struct apt_report *rep);

/* Parses the output of `dnf updateinfo list --security` (dnf 4) or
 * `dnf advisory list --security` (dnf 5) into `out` (one entry per
 * package and advisory; candidate is VERSION-RELEASE, installed and
 * first-seen are left to the caller).  Lines it cannot read are counted
 * in *bad.  Modifies text in place.  Returns 0 or -ENOMEM. */
int pkg_dnf_parse(char *text, struct pending_list *out, unsigned *bad);
/* Fills released_ms from dnf 4's `updateinfo info --security` blocks. */
void pkg_dnf_parse_info(char *text, struct pending_list *l);
/* Runs dnf (no shell, bounded output, `-C` so it never downloads) and
 * parses it.  Returns 0, -ENOENT when dnf is absent, -EIO when it fails. */
int pkg_dnf_pending(const char *root, struct pending_list *out, unsigned *bad);

/* Fills dnf entries' installed versions from the rpm inventory and drops
 * those for packages not installed or already at the fixed version. */
void pending_match_installed(struct pending_list *l, const struct pkg_list *rpm);

/* First-seen times, keyed by (name, arch, installed version). */
struct pending_seen;
/* Loads PATH (missing: empty).  Bad lines are skipped and counted. */
struct pending_seen *pending_seen_load(const char *path, unsigned *bad);
/* Stamps each update in l with its first-seen times (now_ms for new
 * ones; 0: leave them unstamped and unrecorded) and forgets entries no
 * longer pending, unless keep_missing (the list is known incomplete).
 * Returns 1 if anything changed (then save), 0 if not. */
int pending_seen_apply(struct pending_seen *s, struct pending_list *l, int64_t now_ms,
                       int keep_missing);
/* Writes the state atomically (0600).  Refuses (-EIO) when the file
 * existed but could not be read at load: it is not overwritten. */
int pending_seen_save(struct pending_seen *s, const char *path);
void pending_seen_free(struct pending_seen *s);

#endif
