/*
 * dpkg's status database, read directly: /var/lib/dpkg/status is a
 * sequence of deb822 stanzas separated by blank lines:
 *
 *   Package: libc6
 *   Status: install ok installed
 *   Architecture: amd64
 *   Source: glibc
 *   Version: 2.36-9+deb12u4
 *   Description: GNU C Library: Shared libraries
 *    Contains the standard libraries ...     <- continuation line
 *
 * The third word of Status is the package's state; "installed" is what
 * dpkg-query shows as "ii".  Source may carry a version in parentheses
 * when it differs from the binary's.
 *
 * dpkg does not rewrite the status file for every step: it appends each
 * change as a file of its own in /var/lib/dpkg/updates/ (named by a
 * number: 0000, 0001, ...; each holds whole stanzas) and folds them into
 * the status file now and then.  Every reader, dpkg-query included,
 * applies them in numeric order over the status file, a stanza replacing
 * the package's one (a not-installed one removing it); so does this, so
 * that a host interrupted mid-upgrade reads as dpkg-query shows it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "err.h"
#include "pkg.h"
#include "util.h"
#include "vercmp.h"

void pkg_free_one(struct pkg *p)
{
    free(p->name);
    free(p->version);
    free(p->arch);
    free(p->source);
    free(p->source_version);
    free(p->status);
}

void pkg_list_free(struct pkg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        pkg_free_one(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int pkg_list_push(struct pkg_list *l, struct pkg *p)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 1024;
        struct pkg *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) {
            pkg_free_one(p);
            return -ENOMEM;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *p;
    return 0;
}

static int cmp_pkg(const void *a, const void *b)
{
    const struct pkg *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->arch, y->arch);
}

/* Same, then file order: the last stanza of a package sorts last. */
static int cmp_pkg_order(const void *a, const void *b)
{
    const struct pkg *x = a, *y = b;
    int c = cmp_pkg(a, b);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

void pkg_list_sort(struct pkg_list *l)
{
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), cmp_pkg);
}

/* One stanza's fields, pointing into the text. */
struct stanza {
    const char *f[6];
    size_t fl[6];
};
enum { F_PACKAGE, F_STATUS, F_VERSION, F_ARCH, F_SOURCE, F_NFIELDS };

static const char *const field_names[F_NFIELDS] = { "Package", "Status", "Version",
                                                    "Architecture", "Source" };

static char *dupn(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static void trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r'))
        (*n)--;
}

struct popts {
    /* A not-installed package is kept too (version "", status
     * "not-installed"): in an updates file it says the package went. */
    int keep_gone;
    /* Only packages whose name starts with it (NULL: all). */
    const char *prefix;
};

/* Adds (or replaces) the package a complete stanza describes. */
static int add(struct pkg_list *out, const struct stanza *st, struct pkg_report *rep,
               const struct popts *o)
{
    const char *status = st->f[F_STATUS], *w3;
    size_t sl = st->fl[F_STATUS], w3l;
    int keep_gone = o->keep_gone;
    struct pkg p;

    if (o->prefix && st->f[F_PACKAGE] &&
        (st->fl[F_PACKAGE] < strlen(o->prefix) ||
         memcmp(st->f[F_PACKAGE], o->prefix, strlen(o->prefix)) != 0))
        return 0;

    if (keep_gone && st->f[F_PACKAGE] && st->fl[F_PACKAGE] && status && sl >= 13 &&
        memcmp(status + sl - 13, "not-installed", 13) == 0) {
        memset(&p, 0, sizeof(p));
        p.name = dupn(st->f[F_PACKAGE], st->fl[F_PACKAGE]);
        p.arch = dupn(st->f[F_ARCH] ? st->f[F_ARCH] : "", st->f[F_ARCH] ? st->fl[F_ARCH] : 0);
        p.version = dupn("", 0);
        p.status = dupn("not-installed", 13);
        p.source = dupn("", 0);
        p.source_version = dupn("", 0);
        if (!p.name || !p.arch || !p.version || !p.status || !p.source || !p.source_version) {
            pkg_free_one(&p);
            return -ENOMEM;
        }
        p.order = rep->stanzas;
        return pkg_list_push(out, &p);
    }

    if (!st->f[F_PACKAGE] || !st->fl[F_PACKAGE] || !status || !st->f[F_VERSION] ||
        !st->fl[F_VERSION]) {
        /* not-installed stanzas may lack a Version: not worth counting */
        if (!(status && sl >= 13 && memcmp(status + sl - 13, "not-installed", 13) == 0))
            rep->skipped_incomplete++;
        return 0;
    }
    /* Status: want flag status -> the third word. */
    w3 = status + sl;
    while (w3 > status && w3[-1] != ' ')
        w3--;
    w3l = (size_t)(status + sl - w3);
    if (w3 == status || (w3l == 13 && memcmp(w3, "not-installed", 13) == 0))
        return w3 == status ? (rep->skipped_incomplete++, 0) : 0;

    memset(&p, 0, sizeof(p));
    p.name = dupn(st->f[F_PACKAGE], st->fl[F_PACKAGE]);
    p.version = dupn(st->f[F_VERSION], st->fl[F_VERSION]);
    p.arch = dupn(st->f[F_ARCH] ? st->f[F_ARCH] : "", st->f[F_ARCH] ? st->fl[F_ARCH] : 0);
    p.status = dupn(w3, w3l);
    if (st->f[F_SOURCE]) {
        const char *s = st->f[F_SOURCE], *paren = memchr(s, '(', st->fl[F_SOURCE]);
        size_t nl = paren ? (size_t)(paren - s) : st->fl[F_SOURCE];
        while (nl && s[nl - 1] == ' ')
            nl--;
        p.source = dupn(s, nl);
        if (paren) {
            const char *close = memchr(paren, ')', st->fl[F_SOURCE] - (size_t)(paren - s));
            if (close)
                p.source_version = dupn(paren + 1, (size_t)(close - paren - 1));
        }
    } else {
        p.source = dupn(p.name ? p.name : "", p.name ? strlen(p.name) : 0);
    }
    if (!p.source_version)
        p.source_version = p.version ? dupn(p.version, strlen(p.version)) : NULL;
    if (!p.name || !p.version || !p.arch || !p.status || !p.source || !p.source_version) {
        pkg_free_one(&p);
        return -ENOMEM;
    }
    if (vg_dpkg_version_check(p.version))
        rep->bad_versions++; /* kept: dpkg itself lists it */
    p.order = rep->stanzas;
    return pkg_list_push(out, &p);
}

/* Parses the lines of text; stanzas are added as their blank line ends
 * them.  With final, text is all there is (the last stanza ends with
 * it); else only whole lines are read and *used is where the stanza in
 * progress starts: the caller gives it again with what follows. */
static int parse_lines(const char *text, size_t len, int final, struct pkg_list *out,
                       struct pkg_report *rep, const struct popts *o, size_t *used)
{
    struct stanza st;
    const char *p = text, *end = text + len, *start = text;
    int in_stanza = 0, rc;

    memset(&st, 0, sizeof(st));
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        size_t ll = (size_t)(le - p);

        if (!eol && !final)
            break;
        if (!eol)
            rep->truncated = 1; /* last line without newline: kept if complete */
        if (ll == 0 || (ll == 1 && *p == '\r')) {
            if (in_stanza) {
                rep->stanzas++;
                if ((rc = add(out, &st, rep, o)) != 0)
                    return rc;
            }
            memset(&st, 0, sizeof(st));
            in_stanza = 0;
            start = eol ? eol + 1 : end;
        } else if (*p != ' ' && *p != '\t' && *p != '#') {
            const char *colon = memchr(p, ':', ll);
            in_stanza = 1;
            if (colon) {
                size_t nl = (size_t)(colon - p);
                for (int f = 0; f < F_NFIELDS; f++) {
                    if (strlen(field_names[f]) == nl && strncasecmp(p, field_names[f], nl) == 0) {
                        const char *v = colon + 1;
                        /* Cut at a NUL: the value is used as a C string. */
                        size_t vl = strnlen(v, (size_t)(le - v));
                        trim(&v, &vl);
                        st.f[f] = v;
                        st.fl[f] = vl;
                    }
                }
            }
        }
        p = eol ? eol + 1 : end;
    }
    if (!final) {
        /* Lines before the stanza in progress that are not part of one
         * (comments, continuations) are read: skip them too. */
        *used = in_stanza ? (size_t)(start - text) : (size_t)(p - text);
        return 0;
    }
    if (in_stanza) {
        rep->stanzas++;
        if ((rc = add(out, &st, rep, o)) != 0)
            return rc;
    }
    *used = len;
    return 0;
}

/* After the last stanza: a later stanza for the same package replaces
 * an earlier one. */
static void dedup(struct pkg_list *out, struct pkg_report *rep)
{
    size_t w = 0;

    if (out->n)
        qsort(out->v, out->n, sizeof(*out->v), cmp_pkg_order);
    for (size_t i = 0; i < out->n; i++) {
        if (w > 0 && cmp_pkg(&out->v[w - 1], &out->v[i]) == 0) {
            pkg_free_one(&out->v[w - 1]);
            out->v[w - 1] = out->v[i];
            memset(&out->v[i], 0, sizeof(out->v[i])); /* moved: owned by v[w - 1] */
            rep->duplicates++;
            continue;
        }
        out->v[w++] = out->v[i];
    }
    out->n = w;
}

static int parse(const char *text, size_t len, struct pkg_list *out, struct pkg_report *rep,
                 const struct popts *o)
{
    size_t used;
    int rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = parse_lines(text, len, 1, out, rep, o, &used)) != 0)
        return rc;
    dedup(out, rep);
    return 0;
}

/* The status file, read and parsed a piece at a time: a 900 KB file read
 * whole costs more in fresh memory (page faults) than parsing it.  The
 * buffer grows only for a stanza longer than it. */
#define READ_CHUNK (64 * 1024)

static int parse_file(const char *path, struct pkg_list *out, struct pkg_report *rep,
                      const struct popts *o)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    size_t cap = READ_CHUNK, len = 0, total = 0, used;
    char *buf;

    memset(rep, 0, sizeof(*rep));
    if (fd < 0)
        return -errno;
    if (!(buf = malloc(cap))) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb = cap * 2 <= PKG_STATUS_MAX ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rc = cap * 2 <= PKG_STATUS_MAX ? -ENOMEM : VG_ETOOBIG;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if ((total += (size_t)n) > PKG_STATUS_MAX) {
            rc = VG_ETOOBIG;
            break;
        }
        len += (size_t)n;
        if ((rc = parse_lines(buf, len, n == 0, out, rep, o, &used)) != 0 || n == 0)
            break;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    free(buf);
    close(fd);
    if (rc == 0)
        dedup(out, rep);
    return rc;
}

int pkg_dpkg_parse(const char *text, size_t len, struct pkg_list *out, struct pkg_report *rep)
{
    static const struct popts all = { 0, NULL };
    return parse(text, len, out, rep, &all);
}

/* Applies one updates file's packages (sorted, one per key) over l
 * (sorted): a merge into a new list. */
static int merge_update(struct pkg_list *l, struct pkg_list *u)
{
    struct pkg_list m = { NULL, 0, 0 };
    size_t i = 0, j = 0;
    int rc = 0;

    while (rc == 0 && (i < l->n || j < u->n)) {
        int c = i == l->n ? 1 : j == u->n ? -1 : cmp_pkg(&l->v[i], &u->v[j]);
        struct pkg p;
        if (c < 0) {
            p = l->v[i++];
        } else {
            if (c == 0)
                pkg_free_one(&l->v[i++]);
            p = u->v[j++];
            if (strcmp(p.status, "not-installed") == 0) {
                pkg_free_one(&p);
                continue;
            }
        }
        rc = pkg_list_push(&m, &p);
    }
    /* What was not moved (only after -ENOMEM) is freed with its list. */
    for (; i < l->n; i++)
        pkg_free_one(&l->v[i]);
    for (; j < u->n; j++)
        pkg_free_one(&u->v[j]);
    free(l->v);
    free(u->v);
    memset(u, 0, sizeof(*u));
    *l = m;
    return rc;
}

static int cmp_update_name(const void *a, const void *b)
{
    unsigned long long x = strtoull(*(char *const *)a, NULL, 10),
                       y = strtoull(*(char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

#define UPDATES_MAX 100000

/* dpkg's journal: ROOT/var/lib/dpkg/updates/NNNN, in numeric order. */
static int apply_updates(const char *root, struct pkg_list *out, struct pkg_report *rep,
                         const char *prefix)
{
    const struct popts uo = { 1, prefix };
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/var/lib/dpkg/updates", root);
    d = opendir(dir);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len == 0 || len > 10 || strspn(e->d_name, "0123456789") != len)
            continue; /* "tmp.i": being written, not part of the journal */
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = nc <= UPDATES_MAX ? realloc(names, nc * sizeof(*nn)) : NULL;
            if (!nn) {
                rc = nc <= UPDATES_MAX ? -ENOMEM : VG_ETOOBIG;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_update_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[PATH_MAX * 2], *text = NULL;
        size_t len = 0;
        struct pkg_list u = { NULL, 0, 0 };
        struct pkg_report ur;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (vg_file_read(path, PKG_STATUS_MAX, &text, &len))
            continue; /* gone meanwhile (dpkg folded it in): the status has it */
        rc = parse(text, len, &u, &ur, &uo);
        free(text);
        if (rc == 0) {
            rep->updates++;
            rep->skipped_incomplete += ur.skipped_incomplete;
            rep->bad_versions += ur.bad_versions;
            rc = merge_update(out, &u);
        }
        pkg_list_free(&u);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int pkg_dpkg_read_prefix(const char *root, const char *prefix, struct pkg_list *out,
                         struct pkg_report *rep)
{
    const struct popts o = { 0, prefix };
    char path[PATH_MAX];
    int rc;

    if (!root || strcmp(root, "/") == 0)
        root = "";
    snprintf(path, sizeof(path), "%s/var/lib/dpkg/status", root);
    rc = parse_file(path, out, rep, &o);
    if (rc == 0)
        rc = apply_updates(root, out, rep, prefix);
    return rc;
}

int pkg_dpkg_read(const char *root, struct pkg_list *out, struct pkg_report *rep)
{
    return pkg_dpkg_read_prefix(root, NULL, out, rep);
}
