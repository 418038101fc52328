/*
 * Package lists (collecting side): what the dpkg and rpm inputs read and
 * `vigil-agent inventory` prints.  Strings are owned by the list.
 */
#ifndef VG_PKG_H
#define VG_PKG_H

#include <stddef.h>
#include <stdint.h>

struct pkg {
    char *name, *version, *arch;
    char *source, *source_version; /* dpkg Source: field (name, version) */
    char *status;                  /* "installed", "config-files", "half-installed", ... */
    int64_t install_time_ms;       /* 0: unknown */
    size_t order;                  /* position in the source file */
};

struct pkg_list {
    struct pkg *v;
    size_t n, cap;
};

/* Parse report: what was odd about the input (never fatal). */
struct pkg_report {
    unsigned stanzas, skipped_incomplete, duplicates, bad_versions, truncated;
    unsigned updates; /* files of dpkg's journal (updates/) applied */
};

#define PKG_STATUS_MAX (256u * 1024 * 1024)

void pkg_list_free(struct pkg_list *l);
/* Frees one package's strings (a package not in a list). */
void pkg_free_one(struct pkg *p);
/* Appends p (its strings move into the list).  Returns 0, or -ENOMEM
 * after freeing p's strings. */
int pkg_list_push(struct pkg_list *l, struct pkg *p);
/* Sorts by name, then architecture. */
void pkg_list_sort(struct pkg_list *l);

/* Parses the text of a dpkg status file (deb822 stanzas).  Packages whose
 * status is "not-installed" are left out; others are listed with their
 * status.  A later stanza for the same name and architecture replaces an
 * earlier one (counted as a duplicate).  Never fails on bad input: odd
 * stanzas are skipped and counted in rep.  Returns 0 or -ENOMEM. */
int pkg_dpkg_parse(const char *text, size_t len, struct pkg_list *out, struct pkg_report *rep);
/* Reads ROOT/var/lib/dpkg/status (through one open file, a piece at a
 * time, so a file replaced meanwhile is seen whole, old or new), then
 * applies dpkg's journal, ROOT/var/lib/dpkg/updates/NNNN in numeric
 * order, as dpkg does.  The list stays sorted.  Returns 0, -errno or
 * VG_ETOOBIG. */
int pkg_dpkg_read(const char *root, struct pkg_list *out, struct pkg_report *rep);
/* The same, keeping only packages whose name starts with prefix (the
 * kernels: "linux-image-"), at a fraction of the memory. */
int pkg_dpkg_read_prefix(const char *root, const char *prefix, struct pkg_list *out,
                         struct pkg_report *rep);

/* Fills install_time_ms from ROOT/var/log/dpkg.log* (gzipped rotations
 * too): the last time each package's current version became installed. */
void pkg_dpkg_log_times(const char *root, struct pkg_list *l);

/* Install history: what dpkg's logs (or rpm's install times) say
 * happened to packages, oldest first.  Strings are owned by the list. */
struct pkg_event {
    int64_t time_ms;   /* UTC */
    char *name, *arch;
    const char *action; /* "install", "upgrade", "downgrade", "remove" (static) */
    char *old_version;  /* "" when none (install) */
    char *new_version;  /* "" when none (remove) */
    size_t order;       /* arrival order, for a stable sort */
};

struct pkg_events {
    struct pkg_event *v;
    size_t n, cap;
    unsigned malformed; /* log lines that looked like events but were not */
    unsigned dropped;   /* past PKG_EVENTS_MAX */
};

#define PKG_EVENTS_MAX 200000u
#define PKG_EVENT_FIELD_MAX 256u

void pkg_events_free(struct pkg_events *e);
/* Sorts by time (stable: log order among equal times). */
void pkg_events_sort(struct pkg_events *e);
/* Adds the install, upgrade and remove lines of one dpkg log's text
 * (modified in place) at or after since_ms:
 *
 *   2026-11-20 10:11:12 upgrade libc6:amd64 2.36-9+deb12u3 2.36-9+deb12u4
 *   DATE       TIME     ACTION  PKG:ARCH    OLD (<none>)   NEW (<none>)
 *
 * dpkg logs downgrades as upgrades: they are told apart with
 * vg_dpkg_vercmp.  Times are local (dpkg's), converted to UTC.  Other
 * dpkg lines (status, configure, trigproc, startup, conffile) are
 * ignored; lines that match none of them are counted as malformed.
 * Returns 0 or -ENOMEM. */
int pkg_dpkg_history_parse(char *text, int64_t since_ms, struct pkg_events *out);
/* pkg_dpkg_history_parse over ROOT/var/log/dpkg.log and its rotations
 * (gzipped too), then sorted.  Returns 0, or -ENOMEM. */
int pkg_dpkg_history(const char *root, int64_t since_ms, struct pkg_events *out);
/* rpm has no log: each installed package's INSTALLTIME at or after
 * since_ms becomes an install event.  Returns 0 or -ENOMEM. */
int pkg_rpm_history(const struct pkg_list *l, int64_t since_ms, struct pkg_events *out);

/* rpm: runs `rpm --root ROOT -qa --qf ...` (no shell) and parses it.
 * version is [EPOCH:]VERSION-RELEASE; source is the source rpm and
 * source_version the vendor.  Returns 0, -errno (rpm missing: -ENOENT),
 * -EIO (rpm failed) or VG_ETOOBIG.  On a dpkg host where rpm can know no
 * package (pkg_rpm_worth_asking), 0 with no packages, rpm not run. */
int pkg_rpm_read(const char *root, struct pkg_list *out, struct pkg_report *rep);
/* 0 when rpm cannot know a package under root, so is not worth running:
 * a dpkg host, no rpm family in its os-release, and no rpm database that
 * may hold a package in rpm's usual places (pkg_rpm.c says which); 1
 * otherwise. */
int pkg_rpm_worth_asking(const char *root);
/* Parses rpm's output as formatted by pkg_rpm_read (modified in place). */
int pkg_rpm_parse(char *text, struct pkg_list *out, struct pkg_report *rep);

#endif
