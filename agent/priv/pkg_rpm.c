/*
 * rpm's package database, through `rpm -qa --qf` run without a shell.
 *
 * Why the rpm command rather than librpm: the database format differs
 * between distributions and rpm versions (Berkeley DB, ndb, sqlite), and
 * librpm's ABI with it; the query format of the command line is stable
 * and documented, so one agent binary reads every rpm host.  The command
 * gets a fixed argv (no shell, no user strings) and its output is bounded.
 *
 * rpm is not asked where it cannot know a package: running it costs tens
 * of milliseconds (rpm, its libraries, on Debian a shell to evaluate its
 * %_dbpath, the database), more than the whole dpkg inventory, and Debian
 * and Ubuntu hosts often have rpm installed with an empty database.  It
 * is skipped only on a dpkg host (ROOT/var/lib/dpkg/status present) whose
 * os-release names no rpm family, and only when none of rpm's usual
 * database places (ROOT/var/lib/rpm, ROOT/usr/lib/sysimage/rpm,
 * ROOT/root/.rpmdb and ROOT$HOME/.rpmdb, the last two Debian's) holds a
 * database that may have packages.  "May have": any Berkeley DB or ndb
 * one (Packages, Packages.db), a sqlite one (rpmdb.sqlite) with a row in
 * its Packages table, an unmerged write-ahead log, or anything not read
 * as expected.  So a dpkg host with packages installed through rpm is
 * still listed in full; what is missed is only a database moved elsewhere
 * by a %_dbpath of the host's own on a dpkg host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "pkg.h"
#include "run.h"
#include "util.h"

#define QF "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{VENDOR}\\t%{SOURCERPM}\\n"
#define OUT_MAX (64u * 1024 * 1024)
/* rpm waits on a locked database; never for ever. */
#define RPM_TIMEOUT_MS (5 * 60 * 1000)

static char *field(char **p)
{
    char *s = *p, *t = strchr(s, '\t');
    if (t) {
        *t = '\0';
        *p = t + 1;
    } else {
        *p = s + strlen(s);
    }
    return strcmp(s, "(none)") == 0 ? s + strlen(s) : s;
}

int pkg_rpm_parse(char *text, struct pkg_list *out, struct pkg_report *rep)
{
    char *save = NULL, *line;

    memset(rep, 0, sizeof(*rep));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line, *name, *epoch, *ver, *rel, *arch, *itime, *vendor, *srpm;
        struct pkg k;
        uint64_t t = 0;
        size_t vl;

        rep->stanzas++;
        name = field(&p);
        epoch = field(&p);
        ver = field(&p);
        rel = field(&p);
        arch = field(&p);
        itime = field(&p);
        vendor = field(&p);
        srpm = field(&p);
        if (!name[0] || !ver[0]) {
            rep->skipped_incomplete++;
            continue;
        }
        memset(&k, 0, sizeof(k));
        /* Version as rpm prints it: [EPOCH:]VERSION-RELEASE. */
        vl = strlen(epoch) + strlen(ver) + strlen(rel) + 3;
        k.version = malloc(vl);
        if (k.version)
            snprintf(k.version, vl, "%s%s%s%s%s", epoch, epoch[0] ? ":" : "", ver,
                     rel[0] ? "-" : "", rel);
        k.name = strdup(name);
        k.arch = strdup(arch);
        k.status = strdup("installed");
        k.source = strdup(srpm);
        k.source_version = strdup(vendor); /* rpm: the vendor rides here */
        if (vg_parse_u64(itime, 0, INT64_MAX / 1000, &t) == 0)
            k.install_time_ms = (int64_t)t * 1000;
        k.order = rep->stanzas;
        if (!k.version || !k.name || !k.arch || !k.status || !k.source || !k.source_version) {
            pkg_free_one(&k);
            return -ENOMEM;
        }
        if (pkg_list_push(out, &k))
            return -ENOMEM;
    }
    pkg_list_sort(out);
    return 0;
}

/* ---- is rpm worth asking ---- */

/* SQLite's file format (sqlite.org/fileformat.html), only as far as
 * finding whether one table has a row:
 *
 *   header (100 bytes, page 1):  0 "SQLite format 3\0"  16 page size (BE16,
 *                                1 = 65536)  20 reserved bytes per page
 *                                56 text encoding (1 = UTF-8)
 *   b-tree page header:          0 type (5 table interior, 13 table leaf)
 *                                3 cells (BE16)  8 right child (interior)
 *                                then the cells' offsets, BE16 each
 *   table leaf cell:             varint payload size, varint rowid, record
 *   table interior cell:         BE32 left child, varint key
 *   record:                      varint header size, varint serial types,
 *                                the values
 *
 * The schema table (page 1's tree) has rows (type, name, tbl_name,
 * rootpage, sql); rpm's Packages table is empty when its root page is a
 * leaf without cells. */
#define SQ_PAGES_MAX 256 /* schema pages read at most */
#define SQ_DEPTH_MAX 6

struct sq {
    int fd;
    uint32_t psize, usable;
    unsigned reads;
};

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Returns the bytes used, 0 if it runs past end. */
static int varint(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 9 && p + i < end; i++) {
        if (i == 8) {
            *v = x << 8 | p[i];
            return 9;
        }
        x = x << 7 | (p[i] & 0x7f);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

static int sq_read(struct sq *q, uint32_t no, unsigned char *page)
{
    if (no == 0 || ++q->reads > SQ_PAGES_MAX)
        return -1;
    return pread(q->fd, page, q->psize, (off_t)(no - 1) * q->psize) == (ssize_t)q->psize ? 0 : -1;
}

/* Bytes of a value of serial type t. */
static uint64_t sq_len(uint64_t t)
{
    static const unsigned char n[] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0 };
    return t < 12 ? n[t] : (t - 12) / 2;
}

/* One schema row: its rootpage if it is the table `name`, else 0. */
static uint32_t sq_row(const struct sq *q, const unsigned char *p, const unsigned char *end,
                       const char *name)
{
    uint64_t psize, rowid, hsize, t[4], x = q->usable - 35, m = (q->usable - 12) * 32 / 255 - 23;
    const unsigned char *h, *d;
    uint64_t local, root = 0;
    int n;

    if (!(n = varint(p, end, &psize)))
        return 0;
    p += n;
    if (!(n = varint(p, end, &rowid)))
        return 0;
    p += n;
    local = psize <= x ? psize : m + (psize - m) % (q->usable - 4) <= x ? m + (psize - m) % (q->usable - 4) : m;
    if (local > (uint64_t)(end - p))
        return 0;
    end = p + local;
    if (!(n = varint(p, end, &hsize)) || hsize > local)
        return 0;
    h = p + n;
    d = p + hsize;
    for (int i = 0; i < 4; i++) {
        if (!(n = varint(h, p + hsize, &t[i])))
            return 0;
        h += n;
    }
    /* type "table", then name */
    if (t[0] != 13 + 2 * 5 || sq_len(t[0]) > (uint64_t)(end - d) || memcmp(d, "table", 5) != 0)
        return 0;
    d += 5;
    if (t[1] < 13 || !(t[1] & 1) || sq_len(t[1]) != strlen(name) ||
        sq_len(t[1]) > (uint64_t)(end - d) || memcmp(d, name, strlen(name)) != 0)
        return 0;
    d += sq_len(t[1]);
    if (t[2] >= 12 && sq_len(t[2]) > (uint64_t)(end - d))
        return 0;
    d += sq_len(t[2]);
    if (t[3] < 1 || t[3] > 6 || sq_len(t[3]) > (uint64_t)(end - d))
        return 0;
    for (uint64_t i = 0; i < sq_len(t[3]); i++)
        root = root << 8 | d[i];
    return root <= UINT32_MAX ? (uint32_t)root : 0;
}

/* Finds table name's root page in the schema tree under page no: the
 * page, 0 if absent, -1 if the file is not as expected. */
static int64_t sq_find(struct sq *q, uint32_t no, const char *name, int depth)
{
    unsigned char *page = malloc(q->psize);
    uint32_t hdr = no == 1 ? 100 : 0, ncells;
    int64_t found = -1;

    if (!page || depth > SQ_DEPTH_MAX || sq_read(q, no, page) != 0)
        goto out;
    ncells = be16(page + hdr + 3);
    if (page[hdr] == 13) {
        found = 0;
        for (uint32_t i = 0; i < ncells && hdr + 8 + 2 * i + 2 <= q->usable; i++) {
            uint32_t off = be16(page + hdr + 8 + 2 * i), r;
            if (off >= q->usable)
                continue;
            if ((r = sq_row(q, page + off, page + q->usable, name)) != 0) {
                found = r;
                break;
            }
        }
    } else if (page[hdr] == 5) {
        found = 0;
        for (uint32_t i = 0; i <= ncells && found == 0; i++) {
            uint32_t child;
            if (i < ncells) {
                uint32_t off = be16(page + hdr + 12 + 2 * i);
                if (hdr + 12 + 2 * i + 2 > q->usable || off + 4 > q->usable) {
                    found = -1;
                    break;
                }
                child = be32(page + off);
            } else {
                child = be32(page + hdr + 8);
            }
            found = sq_find(q, child, name, depth + 1);
        }
    }
out:
    free(page);
    return found;
}

/* 0 when the sqlite database at path has no row in its Packages table
 * (or is an empty file), 1 otherwise. */
static int sqlite_may_have_packages(const char *path)
{
    unsigned char h[100], *page = NULL;
    char wal[4200];
    struct stat st;
    struct sq q = { -1, 0, 0, 0 };
    int64_t root;
    int maybe = 1;

    if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal) ||
        (stat(wal, &st) == 0 && st.st_size > 0))
        return 1;
    if ((q.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
        return 1;
    if (fstat(q.fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
        maybe = 0;
        goto out;
    }
    if (pread(q.fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        memcmp(h, "SQLite format 3", 16) != 0 || be32(h + 56) != 1)
        goto out;
    q.psize = be16(h + 16) == 1 ? 65536 : be16(h + 16);
    if (q.psize < 512 || (q.psize & (q.psize - 1)) || h[20] > q.psize - 480)
        goto out;
    q.usable = q.psize - h[20];
    root = sq_find(&q, 1, "Packages", 0);
    if (root <= 0 || !(page = malloc(q.psize)) || sq_read(&q, (uint32_t)root, page) != 0)
        goto out;
    maybe = !(page[0] == 13 && be16(page + 3) == 0);
out:
    free(page);
    close(q.fd);
    return maybe;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* 1 if ROOT's os-release has a word of an rpm family in ID or ID_LIKE. */
static int rpm_family(const char *root)
{
    static const char *const fam[] = { "fedora", "rhel", "centos", "suse", "opensuse", "sles",
                                       "amzn", "mariner", "azurelinux", "mageia", "openmandriva",
                                       "ol", "rocky", "almalinux" };
    char path[4200], *text = NULL, *save = NULL;
    size_t len;
    int yes = 0;

    snprintf(path, sizeof(path), "%s/etc/os-release", root);
    if (vg_file_read(path, 64 * 1024, &text, &len) != 0) {
        snprintf(path, sizeof(path), "%s/usr/lib/os-release", root);
        if (vg_file_read(path, 64 * 1024, &text, &len) != 0)
            return 0;
    }
    for (char *line = strtok_r(text, "\n", &save); line && !yes;
         line = strtok_r(NULL, "\n", &save)) {
        char *v, *w, *ws = NULL;
        if (strncmp(line, "ID=", 3) == 0)
            v = line + 3;
        else if (strncmp(line, "ID_LIKE=", 8) == 0)
            v = line + 8;
        else
            continue;
        for (w = strtok_r(v, "\"' \t", &ws); w && !yes; w = strtok_r(NULL, "\"' \t", &ws))
            for (size_t i = 0; i < VG_ARRAY_SIZE(fam) && !yes; i++)
                yes = strcmp(w, fam[i]) == 0;
    }
    free(text);
    return yes;
}

int pkg_rpm_worth_asking(const char *root)
{
    const char *home = getenv("HOME");
    const char *dirs[] = { "/var/lib/rpm", "/usr/lib/sysimage/rpm", "/root/.rpmdb",
                           home && home[0] == '/' ? home : NULL };
    char path[4200];

    if (!root || strcmp(root, "/") == 0)
        root = "";
    snprintf(path, sizeof(path), "%s/var/lib/dpkg/status", root);
    if (!exists(path) || rpm_family(root))
        return 1;
    for (size_t i = 0; i < VG_ARRAY_SIZE(dirs); i++) {
        if (!dirs[i])
            continue;
        snprintf(path, sizeof(path), "%s%s%s/Packages", root, dirs[i], i == 3 ? "/.rpmdb" : "");
        if (exists(path))
            return 1;
        snprintf(path, sizeof(path), "%s%s%s/Packages.db", root, dirs[i], i == 3 ? "/.rpmdb" : "");
        if (exists(path))
            return 1;
        snprintf(path, sizeof(path), "%s%s%s/rpmdb.sqlite", root, dirs[i], i == 3 ? "/.rpmdb" : "");
        if (exists(path) && sqlite_may_have_packages(path))
            return 1;
    }
    return 0;
}

int pkg_rpm_read(const char *root, struct pkg_list *out, struct pkg_report *rep)
{
    char *argv[] = { "rpm", "--root", (char *)(root && root[0] ? root : "/"), "-qa", "--qf", QF,
                     NULL };
    char *text;
    int st, rc;

    memset(rep, 0, sizeof(*rep));
    if (!pkg_rpm_worth_asking(root))
        return 0; /* what rpm would say: no packages */
    rc = vg_run_capture(argv, OUT_MAX, RPM_TIMEOUT_MS, &text, NULL, &st);
    if (rc)
        return rc;
    rc = st == 0 ? pkg_rpm_parse(text, out, rep) : -EIO;
    free(text);
    return rc;
}
