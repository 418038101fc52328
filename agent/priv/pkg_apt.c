/*
 * Pending updates on apt hosts, from apt's own data, without running apt:
 *
 *   ROOT/var/lib/apt/lists/..._Packages[.gz|.xz|.lz4]  what each source offers
 *   ROOT/var/lib/apt/lists/..._InRelease (or _Release) each source's release
 *                                                       (Origin, Label, Suite,
 *                                                       NotAutomatic, Date ...)
 *   ROOT/etc/apt/preferences, preferences.d/NAME         pins
 *
 * The candidate of each installed package is chosen as apt's policy does
 * (apt-pkg/policy.cc, documented in apt_preferences(5)):
 *
 *   - each package list has a priority: 500; 1 if its release says
 *     NotAutomatic: yes; 100 if it also says ButAutomaticUpgrades: yes;
 *     the installed version (dpkg's status file) has 100.  The first
 *     "Package: *" pin whose release or origin matches a list sets the
 *     list's priority instead.
 *   - a version's priority is that of the first pin naming its package
 *     that matches it (by version, or by release/origin of one of its
 *     lists), else the highest priority among its lists.
 *   - going down from the newest version, the candidate is the first one
 *     with the highest priority, but once the installed version is
 *     reached only a priority above 1000 can still win (a downgrade).
 *
 * A pending update is security when a version newer than the installed
 * one, and no newer than the candidate, comes from a security release:
 * Label "Debian-Security", or a Suite or Codename ending in "-security"
 * (Ubuntu's "jammy-security"), as unattended-upgrades' default origin
 * patterns select them.
 *
 * apt reads only the lists of configured sources; this reads every list
 * in the directory (apt update deletes the lists of removed sources).
 * Not modelled: APT::Default-Release (990), phased updates (Ubuntu) and
 * held packages (apt keeps them back; they are still reported pending).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "err.h"
#include "pending.h"
#include "util.h"
#include "vercmp.h"
#include "zfile.h"

#define LIST_MAX (2ull * 1024 * 1024 * 1024) /* uncompressed bytes per list */
#define RELEASE_MAX (64u * 1024 * 1024)
#define PREFS_MAX (4u * 1024 * 1024)
#define LINE_MAX_LEN (1u << 20)
#define FILES_MAX 4096
#define STATUS_FILE 0 /* file index of dpkg's status file */

/* ---- lists and releases ------------------------------------------------ */

struct rel {
    char *prefix; /* its file name without "InRelease": "..._dists_bookworm_" */
    char *origin, *label, *suite, *codename, *version;
    int not_auto, but_auto, security;
    int64_t date_ms; /* Date: (RFC 2822), UTC; 0: none or unreadable */
};

struct pfile {
    char *path;   /* list file name (not the whole path) */
    char *site;   /* "deb.debian.org"; "" for the status file */
    char *component, *arch;
    struct rel *rel; /* NULL: no release file */
    int prio;
    int fixed;    /* a generic pin set prio */
};

/* ---- versions of installed packages ------------------------------------ */

struct ver {
    char *v;
    uint16_t *files;
    uint16_t nfiles, capfiles;
    int pin_prio;  /* when pinned */
    int pinned;
};

struct ent {
    const struct pkg *inst;
    char *key;     /* "name\0arch" hashed, arch normalised (all -> native) */
    struct ver *vers;
    size_t nvers, capvers;
};

struct pin {
    enum { PIN_VERSION, PIN_RELEASE, PIN_ORIGIN } type;
    char *data;
    int prio;
    char **pkgs;   /* NULL: "Package: *" */
    size_t npkgs;
};

struct apt {
    const char *root;
    struct apt_report *rep;
    struct pfile *files;
    size_t nfiles;
    struct rel **rels;
    size_t nrels;
    struct ent *tab;  /* open addressing, size mask+1 */
    size_t mask;
    struct pin *pins;
    size_t npins;
    char native[32];
};

static void note(struct apt *a, const char *fmt, const char *what, const char *why)
{
    if (a->rep->first_error[0] == '\0')
        snprintf(a->rep->first_error, sizeof(a->rep->first_error), fmt, what, why);
}

static uint64_t hash2(const char *name, size_t nl, const char *arch, size_t al)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < nl; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (size_t i = 0; i < al; i++)
        h = (h ^ (unsigned char)arch[i]) * 1099511628211ull;
    return h;
}

/* arch "all" (and none) is apt's native architecture. */
static void norm_arch(const struct apt *a, const char **arch, size_t *al)
{
    if (*al == 0 || (*al == 3 && memcmp(*arch, "all", 3) == 0)) {
        *arch = a->native;
        *al = strlen(a->native);
    }
}

static struct ent *lookup(struct apt *a, const char *name, size_t nl, const char *arch,
                          size_t al, int insert)
{
    size_t i;
    norm_arch(a, &arch, &al);
    i = hash2(name, nl, arch, al) & a->mask;
    for (;; i = (i + 1) & a->mask) {
        struct ent *e = &a->tab[i];
        if (!e->key) {
            if (!insert)
                return NULL;
            e->key = malloc(nl + al + 2);
            if (!e->key)
                return NULL;
            memcpy(e->key, name, nl);
            e->key[nl] = '\0';
            memcpy(e->key + nl + 1, arch, al);
            e->key[nl + 1 + al] = '\0';
            return e;
        }
        if (strlen(e->key) == nl && memcmp(e->key, name, nl) == 0) {
            const char *ea = e->key + nl + 1;
            if (strlen(ea) == al && memcmp(ea, arch, al) == 0)
                return e;
        }
    }
}

static int add_version(struct ent *e, const char *v, size_t vl, uint16_t file)
{
    struct ver *x = NULL;
    for (size_t i = 0; i < e->nvers; i++)
        if (strlen(e->vers[i].v) == vl && memcmp(e->vers[i].v, v, vl) == 0) {
            x = &e->vers[i];
            break;
        }
    if (!x) {
        if (e->nvers == e->capvers) {
            size_t nc = e->capvers ? e->capvers * 2 : 2;
            struct ver *nv = realloc(e->vers, nc * sizeof(*nv));
            if (!nv)
                return -ENOMEM;
            e->vers = nv;
            e->capvers = nc;
        }
        x = &e->vers[e->nvers];
        memset(x, 0, sizeof(*x));
        if (!(x->v = strndup(v, vl)))
            return -ENOMEM;
        e->nvers++;
    }
    for (size_t i = 0; i < x->nfiles; i++)
        if (x->files[i] == file)
            return 0;
    if (x->nfiles == x->capfiles) {
        uint16_t nc = x->capfiles ? (uint16_t)(x->capfiles * 2) : 2;
        uint16_t *nf = realloc(x->files, nc * sizeof(*nf));
        if (!nf)
            return -ENOMEM;
        x->files = nf;
        x->capfiles = nc;
    }
    x->files[x->nfiles++] = file;
    return 0;
}

/* ---- deb822 helpers ---------------------------------------------------- */

/* If line (len n) is field `name`, returns its value, trimmed. */
static const char *field(const char *line, size_t n, const char *name, size_t *vl)
{
    size_t k = strlen(name);
    const char *v, *end = line + n;
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return NULL;
    v = line + k + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *vl = (size_t)(end - v);
    return v;
}

static char *dupfield(const char *line, size_t n, const char *name)
{
    size_t vl;
    const char *v = field(line, n, name, &vl);
    return v ? strndup(v, vl) : NULL;
}

/* dir/name into out; nonzero when it does not fit. */
static int join(char *out, size_t n, const char *dir, const char *name)
{
    int r = snprintf(out, n, "%s/%s", dir, name);
    return r < 0 || (size_t)r >= n;
}

/* ---- Release files ----------------------------------------------------- */

static void rel_free(struct rel *r)
{
    if (!r)
        return;
    free(r->prefix);
    free(r->origin);
    free(r->label);
    free(r->suite);
    free(r->codename);
    free(r->version);
    free(r);
}

static int yes(const char *line, size_t n, const char *name)
{
    size_t vl;
    const char *v = field(line, n, name, &vl);
    return v && vl == 3 && strncasecmp(v, "yes", 3) == 0;
}

static void set_once(char **dst, char *val)
{
    if (val && !*dst)
        *dst = val;
    else
        free(val);
}

/* Parses a Release or InRelease text (the clear-signed wrapper skipped). */
static struct rel *rel_parse(char *text)
{
    struct rel *r = calloc(1, sizeof(*r));
    char *p = text, *stop, *date = NULL;
    if (!r)
        return NULL;
    if (strncmp(p, "-----BEGIN PGP SIGNED MESSAGE-----", 34) == 0) {
        /* Armor headers ("Hash: SHA512") end at the first empty line. */
        char *blank = strstr(p, "\n\n");
        char *blank_cr = strstr(p, "\n\r\n");
        if (blank_cr && (!blank || blank_cr < blank))
            blank = blank_cr + 1;
        p = blank ? blank + 2 : p + strlen(p);
    }
    stop = strstr(p, "\n-----BEGIN PGP SIGNATURE-----");
    if (stop)
        stop[1] = '\0';
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const char *line = p;
        if (n >= 2 && line[0] == '-' && line[1] == ' ') {
            line += 2; /* dash-escaped (RFC 4880 7.1) */
            n -= 2;
        }
        if (n == 0 || (n == 1 && line[0] == '\r'))
            break; /* the release stanza ends */
        if (line[0] != ' ' && line[0] != '\t') {
            set_once(&r->origin, dupfield(line, n, "Origin"));
            set_once(&r->label, dupfield(line, n, "Label"));
            set_once(&r->suite, dupfield(line, n, "Suite"));
            set_once(&r->codename, dupfield(line, n, "Codename"));
            set_once(&r->version, dupfield(line, n, "Version"));
            set_once(&date, dupfield(line, n, "Date"));
            r->not_auto |= yes(line, n, "NotAutomatic");
            r->but_auto |= yes(line, n, "ButAutomaticUpgrades");
        }
        p = nl ? nl + 1 : p + n;
    }
    if (date && vg_time_parse_rfc2822(date, &r->date_ms))
        r->date_ms = 0;
    free(date);
    r->security = (r->label && strcmp(r->label, "Debian-Security") == 0) ||
                  (r->suite && vg_str_ends_with(r->suite, "-security")) ||
                  (r->codename && vg_str_ends_with(r->codename, "-security"));
    return r;
}

/* ---- pins -------------------------------------------------------------- */

/* apt's ExpressionMatches: /regex/ (case-insensitive) or a glob
 * (fnmatch, case-insensitive; a plain string is then a case-insensitive
 * equality). */
static int pattern_match(const char *pat, size_t pl, const char *s)
{
    char buf[512];
    if (!s)
        s = "";
    if (pl >= sizeof(buf))
        return 0;
    memcpy(buf, pat, pl);
    buf[pl] = '\0';
    if (pl >= 2 && buf[0] == '/' && buf[pl - 1] == '/') {
        regex_t re;
        int m;
        buf[pl - 1] = '\0';
        if (regcomp(&re, buf + 1, REG_EXTENDED | REG_NOSUB | REG_ICASE))
            return 0;
        m = regexec(&re, s, 0, NULL, 0) == 0;
        regfree(&re);
        return m;
    }
    return fnmatch(buf, s, FNM_CASEFOLD) == 0;
}

/* apt's MatchVer: the version without its epoch equals want, or starts
 * with it when the pattern ended in '*'. */
static int match_ver(const char *v, const char *want, size_t wl, int prefix)
{
    const char *colon;
    if (!v)
        return 0;
    colon = strchr(v, ':');
    if (colon)
        v = colon + 1;
    return prefix ? strlen(v) >= wl && strncmp(v, want, wl) == 0
                  : strlen(v) == wl && strncmp(v, want, wl) == 0;
}

/* A version pattern as apt reads one ("12.4", "12*", a glob, /re/). */
static int version_match(const char *pat, size_t pl, const char *v)
{
    int prefix = pl > 0 && pat[pl - 1] == '*';
    size_t l = prefix ? pl - 1 : pl;
    return match_ver(v, pat, l, prefix) || pattern_match(pat, l, v);
}

/* Does a release pin match list f?  apt's pkgVersionMatch: "*" matches
 * every list; a bare value is the release's version when it starts with
 * a digit, else its archive or codename; otherwise comma-separated k=v
 * pairs (a archive, n codename, v version, o origin, l label, c
 * component, b architecture), all of which must match.  Unknown keys are
 * ignored; nothing known to match means no match. */
static int release_match(const char *data, const struct pfile *f)
{
    const struct rel *r = f->rel;
    const char *archive = f->path == NULL ? "now" : r ? r->suite : NULL;
    const char *p = data;
    int any = 0;

    if (strcmp(data, "*") == 0)
        return 1;
    if (!strchr(data, '=')) {
        size_t l = strlen(data);
        if (l == 0)
            return 0;
        if (isdigit((unsigned char)data[0]))
            return r && version_match(data, l, r->version);
        return (archive && pattern_match(data, l, archive)) ||
               (r && r->codename && pattern_match(data, l, r->codename));
    }
    while (*p) {
        const char *comma = strchr(p, ','), *eq, *val, *have = NULL;
        size_t n = comma ? (size_t)(comma - p) : strlen(p), vl;
        const char *next = p + n + (comma ? 1 : 0);
        int known = 1, ok;
        while (n && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        eq = memchr(p, '=', n);
        if (!eq || eq - p != 1) {
            p = next;
            continue;
        }
        val = eq + 1;
        vl = n - (size_t)(val - p);
        while (vl && isspace((unsigned char)val[vl - 1]))
            vl--;
        switch (*p) {
        case 'a': have = archive; break;
        case 'n': have = r ? r->codename : NULL; break;
        case 'v': have = r ? r->version : NULL; break;
        case 'o': have = r ? r->origin : NULL; break;
        case 'l': have = r ? r->label : NULL; break;
        case 'c': have = f->component; break;
        case 'b': have = f->arch; break;
        default: known = 0; break;
        }
        if (known) {
            ok = *p == 'v' ? have && version_match(val, vl, have)
                           : have && pattern_match(val, vl, have);
            if (!ok)
                return 0;
            any = 1;
        }
        p = next;
    }
    return any;
}

static int pin_file_match(const struct pin *pin, const struct pfile *f)
{
    if (pin->type == PIN_RELEASE)
        return release_match(pin->data, f);
    /* Origin "" means local (file:) sources, never dpkg's status file. */
    if (pin->type == PIN_ORIGIN)
        return f->path != NULL && pattern_match(pin->data, strlen(pin->data), f->site);
    return 0;
}

static void pin_free(struct pin *p)
{
    free(p->data);
    for (size_t i = 0; i < p->npkgs; i++)
        free(p->pkgs[i]);
    free(p->pkgs);
}

/* Adds the pin of one preferences stanza.  Returns 0, or -1 for a stanza
 * apt would ignore (counted). */
static int pin_add(struct apt *a, const char *pkgs, size_t pkl, const char *pin, size_t pnl,
                   const char *prio, size_t prl, const char *file)
{
    struct pin p;
    char num[16];
    char *end;
    long v;
    const char *w = pin;
    size_t wl;

    memset(&p, 0, sizeof(p));
    while (w < pin + pnl && !isspace((unsigned char)*w))
        w++;
    wl = (size_t)(w - pin);
    while (w < pin + pnl && isspace((unsigned char)*w))
        w++;
    if (wl == 7 && strncasecmp(pin, "version", 7) == 0)
        p.type = PIN_VERSION;
    else if (wl == 7 && strncasecmp(pin, "release", 7) == 0)
        p.type = PIN_RELEASE;
    else if (wl == 6 && strncasecmp(pin, "origin", 6) == 0)
        p.type = PIN_ORIGIN;
    else {
        note(a, "%s: unknown pin type in '%s'", file, "Pin");
        return -1;
    }
    if (!prl || prl >= sizeof(num)) {
        note(a, "%s: %s", file, "a pin without Pin-Priority is ignored (as apt does)");
        return -1;
    }
    memcpy(num, prio, prl);
    num[prl] = '\0';
    errno = 0;
    v = strtol(num, &end, 10);
    if (errno || *end || v == 0 || v < -32768 || v > 32767) {
        note(a, "%s: %s", file, "Pin-Priority must be a non-zero integer");
        return -1;
    }
    p.prio = (int)v;
    /* origin "" (quoted) means local files. */
    if (p.type == PIN_ORIGIN && (size_t)(pin + pnl - w) == 2 && w[0] == '"' && w[1] == '"')
        p.data = strdup("");
    else
        p.data = strndup(w, (size_t)(pin + pnl - w));
    if (!p.data)
        return -ENOMEM;
    if (pkl == 0) {
        note(a, "%s: %s", file, "a record with an empty Package line is ignored (as apt does)");
        free(p.data);
        return -1;
    }
    if (!(pkl == 1 && pkgs[0] == '*')) {
        const char *s = pkgs, *e = pkgs + pkl;
        while (s < e) {
            const char *t;
            char **np;
            while (s < e && isspace((unsigned char)*s))
                s++;
            t = s;
            while (t < e && !isspace((unsigned char)*t))
                t++;
            if (t == s)
                break;
            np = realloc(p.pkgs, (p.npkgs + 1) * sizeof(*np));
            if (!np || !(np[p.npkgs] = strndup(s, (size_t)(t - s)))) {
                if (np)
                    p.pkgs = np;
                pin_free(&p);
                return -ENOMEM;
            }
            p.pkgs = np;
            p.npkgs++;
            s = t;
        }
    } else if (p.type == PIN_VERSION) {
        note(a, "%s: %s", file, "a version pin needs package names, not '*' (apt ignores it)");
        free(p.data);
        return -1;
    }
    {
        struct pin *np = realloc(a->pins, (a->npins + 1) * sizeof(*np));
        if (!np) {
            pin_free(&p);
            return -ENOMEM;
        }
        a->pins = np;
        a->pins[a->npins++] = p;
    }
    return 0;
}

static int read_prefs_file(struct apt *a, const char *path, const char *shown)
{
    char *text;
    size_t len;
    int rc = vg_file_read(path, PREFS_MAX, &text, &len);
    const char *pk = NULL, *pn = NULL, *pr = NULL;
    size_t pkl = 0, pnl = 0, prl = 0;
    char *p;

    if (rc == -ENOENT)
        return 0;
    if (rc) {
        note(a, "%s: %s", shown, vg_strerror(rc));
        a->rep->pin_errors++;
        return 0;
    }
    p = text;
    for (;;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int blank = 1;
        for (size_t i = 0; i < n; i++)
            if (!isspace((unsigned char)p[i]))
                blank = 0;
        if (p[0] == '#') {
            /* comment lines are allowed anywhere */
        } else if (blank || !*p) {
            if (pk || pn || pr) {
                if (!pk) {
                    note(a, "%s: %s", shown, "a record without a Package line");
                    a->rep->pin_errors++;
                } else if (pn) {
                    rc = pin_add(a, pk, pkl, pn, pnl, pr, prl, shown);
                    if (rc == -ENOMEM)
                        break;
                    if (rc)
                        a->rep->pin_errors++;
                    else
                        a->rep->pins++;
                }
                pk = pn = pr = NULL;
                pkl = pnl = prl = 0;
            }
            rc = 0;
            if (!*p || !nl)
                break;
        } else if (p[0] != ' ' && p[0] != '\t') {
            size_t vl;
            const char *v;
            if ((v = field(p, n, "Package", &vl))) {
                pk = v;
                pkl = vl;
            } else if ((v = field(p, n, "Pin", &vl))) {
                pn = v;
                pnl = vl;
            } else if ((v = field(p, n, "Pin-Priority", &vl))) {
                pr = v;
                prl = vl;
            }
        }
        if (!nl) {
            p += n;
            continue; /* handle the last record at the end of text */
        }
        p = nl + 1;
    }
    free(text);
    return rc == -ENOMEM ? rc : 0;
}

static int cmpstr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* apt's rules for parts directories: names of [A-Za-z0-9_.-], with no
 * extension or ".pref", in C-locale order. */
static int read_prefs(struct apt *a)
{
    char path[PATH_MAX], dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/etc/apt/preferences", a->root);
    if ((rc = read_prefs_file(a, path, "/etc/apt/preferences")))
        return rc;
    snprintf(dir, sizeof(dir), "%s/etc/apt/preferences.d", a->root);
    d = opendir(dir);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name, *dot;
        char **nn;
        int ok = nm[0] != '.';
        for (const char *c = nm; ok && *c; c++)
            ok = isalnum((unsigned char)*c) || *c == '_' || *c == '-' || *c == '.';
        dot = strrchr(nm, '.');
        if (!ok || (dot && strcmp(dot, ".pref") != 0))
            continue;
        nn = realloc(names, (n + 1) * sizeof(*nn));
        if (!nn || !(nn[n] = strdup(nm))) {
            names = nn ? nn : names;
            rc = -ENOMEM;
            break;
        }
        names = nn;
        n++;
    }
    closedir(d);
    if (names)
        qsort(names, n, sizeof(*names), cmpstr);
    for (size_t i = 0; i < n; i++) {
        char shown[PATH_MAX];
        if (join(path, sizeof(path), dir, names[i])) {
            free(names[i]);
            continue;
        }
        snprintf(shown, sizeof(shown), "/etc/apt/preferences.d/%s", names[i]);
        if (!rc)
            rc = read_prefs_file(a, path, shown);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Package names in pins: exact, a glob, or a /regex/ (the last, as apt
 * compiles it, ignoring case); names are case-sensitive otherwise. */
static int name_match(const char *pat, size_t pl, const char *name)
{
    char buf[256];
    if (pl >= sizeof(buf))
        return 0;
    if (pl >= 2 && pat[0] == '/' && pat[pl - 1] == '/')
        return pattern_match(pat, pl, name);
    memcpy(buf, pat, pl);
    buf[pl] = '\0';
    return fnmatch(buf, name, 0) == 0;
}

static int pkg_pattern_match(const char *pat, const struct ent *e)
{
    const char *name = e->key, *arch = e->key + strlen(e->key) + 1;
    const char *colon;
    if (strncmp(pat, "src:", 4) == 0) {
        const char *src = e->inst->source && e->inst->source[0] ? e->inst->source : name;
        return name_match(pat + 4, strlen(pat + 4), src);
    }
    colon = pat[0] != '/' ? strchr(pat, ':') : NULL;
    if (colon) {
        /* name:arch */
        return name_match(pat, (size_t)(colon - pat), name) &&
               name_match(colon + 1, strlen(colon + 1), arch);
    }
    return name_match(pat, strlen(pat), name);
}

/* ---- package lists ----------------------------------------------------- */

struct lines {
    struct zfile *z;
    char *buf;
    size_t start, end;
    int eof, err, too_long;
};

/* Next line (without '\n') or NULL at the end or on error (l->err). */
static const char *next_line(struct lines *l, size_t *n)
{
    for (;;) {
        char *nl = l->end > l->start ? memchr(l->buf + l->start, '\n', l->end - l->start) : NULL;
        if (nl) {
            const char *line = l->buf + l->start;
            *n = (size_t)(nl - line);
            l->start = (size_t)(nl - l->buf) + 1;
            return line;
        }
        if (l->eof) {
            if (l->end > l->start) {
                const char *line = l->buf + l->start;
                *n = l->end - l->start;
                l->start = l->end;
                return line;
            }
            return NULL;
        }
        if (l->start > 0) {
            memmove(l->buf, l->buf + l->start, l->end - l->start);
            l->end -= l->start;
            l->start = 0;
        }
        if (l->end == LINE_MAX_LEN) {
            /* A line longer than the buffer: skip to its end. */
            l->too_long++;
            l->end = 0;
            for (;;) {
                ssize_t r = zfile_read(l->z, l->buf, LINE_MAX_LEN);
                char *q;
                if (r <= 0) {
                    l->err = (int)r;
                    l->eof = 1;
                    return NULL;
                }
                q = memchr(l->buf, '\n', (size_t)r);
                if (q) {
                    l->start = (size_t)(q - l->buf) + 1;
                    l->end = (size_t)r;
                    break;
                }
            }
            continue;
        }
        {
            ssize_t r = zfile_read(l->z, l->buf + l->end, LINE_MAX_LEN - l->end);
            if (r < 0) {
                l->err = (int)r;
                return NULL;
            }
            if (r == 0)
                l->eof = 1;
            l->end += (size_t)r;
        }
    }
}

static int read_list(struct apt *a, const char *dir, uint16_t fidx)
{
    char path[PATH_MAX];
    struct lines l;
    const char *line;
    size_t n;
    const char *pkg = NULL, *ver = NULL, *arch = NULL;
    size_t pl = 0, vl = 0, al = 0;
    char *pk = NULL, *vr = NULL, *ar = NULL; /* copies: lines move in the buffer */
    int rc;

    memset(&l, 0, sizeof(l));
    rc = join(path, sizeof(path), dir, a->files[fidx].path) ? -ENAMETOOLONG
                                                             : zfile_open(path, LIST_MAX, &l.z);
    if (rc) {
        if (rc == -ENOTSUP)
            a->rep->lists_unsupported++;
        else
            a->rep->lists_failed++;
        note(a, "%s: %s", a->files[fidx].path,
             rc == -ENOTSUP ? "compression not supported (use gz, xz or lz4)" : vg_strerror(rc));
        return rc == -ENOMEM ? rc : 0;
    }
    if (!(l.buf = malloc(LINE_MAX_LEN))) {
        zfile_close(l.z);
        return -ENOMEM;
    }
    rc = 0;
    for (;;) {
        line = next_line(&l, &n);
        if (!line || n == 0 || (n == 1 && line[0] == '\r')) {
            if (pk && vr) {
                /* Lengths of the copies: a value holding a NUL is cut there. */
                struct ent *e = lookup(a, pk, strlen(pk), ar ? ar : "", ar ? strlen(ar) : 0, 0);
                a->rep->stanzas++;
                if (e && (rc = add_version(e, vr, strlen(vr), fidx)))
                    break;
            }
            free(pk);
            free(vr);
            free(ar);
            pk = vr = ar = NULL;
            if (!line)
                break;
            continue;
        }
        switch (line[0]) {
        case 'P': case 'p':
            if (!pk && (pkg = field(line, n, "Package", &pl)) && !(pk = strndup(pkg, pl)))
                rc = -ENOMEM;
            break;
        case 'V': case 'v':
            if (!vr && (ver = field(line, n, "Version", &vl)) && !(vr = strndup(ver, vl)))
                rc = -ENOMEM;
            break;
        case 'A': case 'a':
            if (!ar && (arch = field(line, n, "Architecture", &al)) && !(ar = strndup(arch, al)))
                rc = -ENOMEM;
            break;
        default:
            break;
        }
        if (rc)
            break;
    }
    free(pk);
    free(vr);
    free(ar);
    if (!rc && l.err) {
        a->rep->lists_failed++;
        note(a, "%s: %s (its packages up to the damage are used)", a->files[fidx].path,
             vg_strerror(l.err));
    }
    a->rep->lines_too_long += (unsigned)l.too_long;
    free(l.buf);
    zfile_close(l.z);
    return rc;
}

static const char *const list_exts[] = { "", ".lz4", ".gz", ".xz", ".zst", ".bz2", ".lzma" };

/* Length of the "_Packages[.ext]" ending, or 0. */
static size_t packages_suffix(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < VG_ARRAY_SIZE(list_exts); i++) {
        char suf[32];
        size_t sl;
        snprintf(suf, sizeof(suf), "_Packages%s", list_exts[i]);
        sl = strlen(suf);
        if (l > sl && strcmp(name + l - sl, suf) == 0)
            return sl;
    }
    return 0;
}

/* The host of the source's URI, as apt's "origin" pins see it: the list
 * file name up to the first '_', without a port (":8080", or "%3a8080"
 * in older apt's names). */
static char *site_of(const char *name)
{
    size_t n = strcspn(name, "_:%");
    return strndup(name, n);
}

static int add_file(struct apt *a, const char *name, size_t suflen, const char *dir)
{
    struct pfile *f;
    char *base = strndup(name, strlen(name) - suflen);
    size_t best = 0;
    char path[PATH_MAX];
    struct stat st;

    if (!base)
        return -ENOMEM;
    if (a->nfiles >= FILES_MAX) {
        note(a, "%s: %s", name, "more than 4096 package lists; the rest are not read");
        a->rep->lists_failed++;
        free(base);
        return 0;
    }
    f = &a->files[a->nfiles];
    memset(f, 0, sizeof(*f));
    f->prio = 500;
    if (!(f->path = strdup(name)) || !(f->site = site_of(name))) {
        free(base);
        free(f->path);
        return -ENOMEM;
    }
    /* The release whose file-name prefix ("..._dists_bookworm_", or for a
     * flat repository "host_path_") is the longest prefix of ours. */
    for (size_t i = 0; i < a->nrels; i++) {
        struct rel *r = a->rels[i];
        size_t pl = strlen(r->prefix);
        if (pl > best && strncmp(name, r->prefix, pl) == 0) {
            best = pl;
            f->rel = r;
        }
    }
    if (best > strlen(base))
        best = strlen(base);
    {
        /* What follows: COMPONENT (with '/' as '_') + _binary-ARCH. */
        const char *rest = base + best, *bin = strstr(rest, "binary-");
        if (bin) {
            size_t cl = (size_t)(bin - rest);
            f->component = strndup(rest, cl ? cl - 1 : 0);
            f->arch = strdup(bin + 7);
            for (char *c = f->component; c && *c; c++)
                if (*c == '_')
                    *c = '/';
        }
    }
    if (f->rel) {
        f->prio = f->rel->not_auto ? (f->rel->but_auto ? 100 : 1) : 500;
    }
    if (!join(path, sizeof(path), dir, name) && stat(path, &st) == 0) {
        int64_t ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (ms > a->rep->refreshed_ms)
            a->rep->refreshed_ms = ms;
    }
    free(base);
    a->nfiles++;
    return 0;
}

/* ---- the policy -------------------------------------------------------- */

static int version_pin_match(const struct pin *pin, const struct ver *v)
{
    return version_match(pin->data, strlen(pin->data), v->v);
}

static void apply_pins(struct apt *a)
{
    /* Generic pins: the first that matches a list sets its priority. */
    for (size_t i = 0; i < a->npins; i++) {
        const struct pin *p = &a->pins[i];
        if (p->pkgs)
            continue;
        for (size_t f = 0; f < a->nfiles; f++)
            if (!a->files[f].fixed && pin_file_match(p, &a->files[f])) {
                a->files[f].prio = p->prio;
                a->files[f].fixed = 1;
            }
    }
    /* Package pins: the first that matches a version sets its priority. */
    for (size_t i = 0; i < a->npins; i++) {
        const struct pin *p = &a->pins[i];
        if (!p->pkgs)
            continue;
        for (size_t t = 0; t <= a->mask; t++) {
            struct ent *e = &a->tab[t];
            int named = 0;
            if (!e->key || !e->inst)
                continue;
            for (size_t k = 0; k < p->npkgs && !named; k++)
                named = pkg_pattern_match(p->pkgs[k], e);
            if (!named)
                continue;
            for (size_t v = 0; v < e->nvers; v++) {
                struct ver *x = &e->vers[v];
                int m = 0;
                if (x->pinned)
                    continue;
                if (p->type == PIN_VERSION)
                    m = version_pin_match(p, x);
                else
                    for (size_t f = 0; f < x->nfiles && !m; f++)
                        m = pin_file_match(p, &a->files[x->files[f]]);
                if (m) {
                    x->pinned = 1;
                    x->pin_prio = p->prio;
                }
            }
        }
    }
}

static int ver_prio(const struct apt *a, const struct ent *e, const struct ver *v)
{
    int best = INT_MIN;
    int installed = strcmp(v->v, e->inst->version) == 0;
    if (v->pinned)
        return v->pin_prio;
    for (size_t f = 0; f < v->nfiles; f++) {
        if (v->files[f] == STATUS_FILE && !installed)
            continue;
        if (a->files[v->files[f]].prio > best)
            best = a->files[v->files[f]].prio;
    }
    return best == INT_MIN ? 0 : best;
}

static int cmp_ver_desc(const void *x, const void *y)
{
    return vg_dpkg_vercmp(((const struct ver *)y)->v, ((const struct ver *)x)->v);
}

static const struct ver *candidate(const struct apt *a, struct ent *e)
{
    const struct ver *pref = NULL, *alt = NULL;
    int max = 0, maxalt = 0;
    qsort(e->vers, e->nvers, sizeof(*e->vers), cmp_ver_desc);
    for (size_t i = 0; i < e->nvers; i++) {
        const struct ver *v = &e->vers[i];
        int inst = strcmp(v->v, e->inst->version) == 0;
        int prio = ver_prio(a, e, v);
        if (prio == 0)
            continue;
        if (prio > max) {
            pref = v;
            max = prio;
        }
        if (prio > maxalt) {
            alt = v;
            maxalt = prio;
        }
        if (inst && max < 1000) {
            /* No downgrades unless pinned above 1000. */
            if (!pref)
                pref = v;
            max = 1000;
        }
    }
    return pref ? pref : maxalt > 0 ? alt : NULL;
}

/* The list a version is best described by: a security one if any, else
 * the highest priority. */
static const struct pfile *best_file(const struct apt *a, const struct ver *v)
{
    const struct pfile *best = NULL;
    for (size_t f = 0; f < v->nfiles; f++) {
        const struct pfile *pf = &a->files[v->files[f]];
        if (v->files[f] == STATUS_FILE)
            continue;
        if (!best || (pf->rel && pf->rel->security && !(best->rel && best->rel->security)) ||
            (pf->prio > best->prio &&
             !(best->rel && best->rel->security && !(pf->rel && pf->rel->security))))
            best = pf;
    }
    return best;
}

static char *sdup(const char *s)
{
    return strdup(s ? s : "");
}

static int emit(const struct apt *a, const struct ent *e, const struct ver *cand,
                struct pending_list *out)
{
    struct pending p;
    const struct pfile *f = best_file(a, cand);
    memset(&p, 0, sizeof(p));
    for (size_t i = 0; i < e->nvers; i++) {
        const struct ver *v = &e->vers[i];
        if (vg_dpkg_vercmp(v->v, e->inst->version) <= 0 ||
            vg_dpkg_vercmp(v->v, cand->v) > 0)
            continue;
        for (size_t k = 0; k < v->nfiles; k++) {
            const struct pfile *pf = &a->files[v->files[k]];
            if (pf->rel && pf->rel->security)
                p.security = 1;
        }
    }
    p.name = strdup(e->inst->name);
    p.arch = strdup(e->inst->arch);
    p.installed = strdup(e->inst->version);
    p.candidate = strdup(cand->v);
    p.archive = sdup(f && f->rel ? f->rel->suite : NULL);
    p.origin = sdup(f && f->rel ? f->rel->origin : NULL);
    p.label = sdup(f && f->rel ? f->rel->label : NULL);
    p.site = sdup(f ? f->site : NULL);
    p.release_file_ms = f && f->rel ? f->rel->date_ms : 0;
    p.advisory = sdup(NULL);
    p.severity = sdup(NULL);
    if (!p.name || !p.arch || !p.installed || !p.candidate || !p.archive || !p.origin ||
        !p.label || !p.site || !p.advisory || !p.severity) {
        pending_free_one(&p);
        return -ENOMEM;
    }
    return pending_list_push(out, &p);
}

/* dpkg states in which apt counts a version as installed. */
static int counts_installed(const char *status)
{
    return strcmp(status, "config-files") != 0 && strcmp(status, "not-installed") != 0;
}

static void native_arch(struct apt *a, const struct pkg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, "dpkg") == 0 && strcmp(l->v[i].arch, "all") != 0) {
            snprintf(a->native, sizeof(a->native), "%s", l->v[i].arch);
            return;
        }
#if defined(__x86_64__)
    snprintf(a->native, sizeof(a->native), "amd64");
#elif defined(__aarch64__)
    snprintf(a->native, sizeof(a->native), "arm64");
#elif defined(__i386__)
    snprintf(a->native, sizeof(a->native), "i386");
#else
    snprintf(a->native, sizeof(a->native), "unknown");
#endif
}

static int pfile_cmp(const void *x, const void *y)
{
    return strcmp(((const struct pfile *)x)->path, ((const struct pfile *)y)->path);
}

static int load_lists(struct apt *a)
{
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *de;
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/var/lib/apt/lists", a->root);
    d = opendir(dir);
    if (!d)
        return -errno;
    /* Releases first: lists refer to them. */
    while ((de = readdir(d)) != NULL && !rc) {
        const char *nm = de->d_name;
        size_t l = strlen(nm), sl;
        char path[PATH_MAX], *text;
        struct rel *r, **nr;
        char *prefix;
        if (vg_str_ends_with(nm, "_InRelease"))
            sl = strlen("InRelease");
        else if (vg_str_ends_with(nm, "_Release"))
            sl = strlen("Release");
        else
            continue;
        if (sl == strlen("Release")) {
            /* Prefer InRelease when both are there. */
            char in[PATH_MAX], inname[NAME_MAX + 16];
            struct stat st;
            snprintf(inname, sizeof(inname), "%.*sInRelease", (int)(l - sl), nm);
            if (!join(in, sizeof(in), dir, inname) && stat(in, &st) == 0)
                continue;
        }
        rc = join(path, sizeof(path), dir, nm) ? -ENAMETOOLONG
                                               : vg_file_read(path, RELEASE_MAX, &text, NULL);
        if (rc) {
            note(a, "%s: %s", nm, vg_strerror(rc));
            a->rep->lists_failed++;
            rc = rc == -ENOMEM ? rc : 0;
            continue;
        }
        r = rel_parse(text);
        free(text);
        prefix = strndup(nm, l - sl);
        nr = realloc(a->rels, (a->nrels + 1) * sizeof(*nr));
        if (!r || !prefix || !nr) {
            rel_free(r);
            free(prefix);
            if (nr)
                a->rels = nr;
            rc = -ENOMEM;
            break;
        }
        r->prefix = prefix;
        a->rels = nr;
        a->rels[a->nrels++] = r;
        a->rep->releases++;
    }
    if (!rc) {
        rewinddir(d);
        while ((de = readdir(d)) != NULL && !rc) {
            size_t sl = packages_suffix(de->d_name);
            if (sl)
                rc = add_file(a, de->d_name, sl, dir);
        }
    }
    closedir(d);
    if (rc)
        return rc;
    /* Same list in two compressions (a half-finished update): keep one.
     * Sorted by name, the forms of one list are neighbours. */
    qsort(a->files + 1, a->nfiles - 1, sizeof(*a->files), pfile_cmp);
    for (size_t i = 2, keep = 1; i < a->nfiles; i++) {
        const char *k = a->files[keep].path, *c = a->files[i].path;
        size_t kb = strlen(k) - packages_suffix(k), cb = strlen(c) - packages_suffix(c);
        if (kb == cb && strncmp(k, c, kb) == 0)
            a->files[i].prio = INT_MIN; /* skipped below */
        else
            keep = i;
    }
    for (size_t i = 1; i < a->nfiles && !rc; i++) {
        if (a->files[i].prio == INT_MIN)
            continue;
        a->rep->lists++;
        rc = read_list(a, dir, (uint16_t)i);
    }
    return rc;
}

int pkg_apt_pending(const char *root, const struct pkg_list *installed,
                    struct pending_list *out, struct apt_report *rep)
{
    struct apt a;
    size_t size = 16;
    int rc = 0;

    memset(rep, 0, sizeof(*rep));
    memset(&a, 0, sizeof(a));
    a.root = strcmp(root, "/") == 0 ? "" : root;
    a.rep = rep;
    native_arch(&a, installed);
    snprintf(rep->native_arch, sizeof(rep->native_arch), "%s", a.native);
    while (size < installed->n * 2 + 16)
        size *= 2;
    a.tab = calloc(size, sizeof(*a.tab));
    a.files = calloc(FILES_MAX, sizeof(*a.files));
    if (!a.tab || !a.files) {
        rc = -ENOMEM;
        goto out;
    }
    a.mask = size - 1;
    /* File 0: dpkg's status file, priority 100, archive "now". */
    a.files[0].prio = 100;
    a.files[0].site = strdup("");
    a.nfiles = 1;
    for (size_t i = 0; i < installed->n && !rc; i++) {
        const struct pkg *p = &installed->v[i];
        struct ent *e;
        if (!counts_installed(p->status))
            continue;
        e = lookup(&a, p->name, strlen(p->name), p->arch, strlen(p->arch), 1);
        if (!e) {
            rc = -ENOMEM;
            break;
        }
        e->inst = p;
        rc = add_version(e, p->version, strlen(p->version), STATUS_FILE);
    }
    if (rc)
        goto out;
    rc = load_lists(&a);
    if (rc)
        goto out;
    if ((rc = read_prefs(&a)))
        goto out;
    /* Pins can set the priority of the releases of the status file too. */
    apply_pins(&a);
    for (size_t t = 0; t <= a.mask && !rc; t++) {
        struct ent *e = &a.tab[t];
        const struct ver *c;
        if (!e->key || !e->inst || e->nvers < 2)
            continue;
        c = candidate(&a, e);
        if (c && vg_dpkg_vercmp(c->v, e->inst->version) > 0)
            rc = emit(&a, e, c, out);
    }
out:
    for (size_t t = 0; a.tab && t <= a.mask; t++) {
        struct ent *e = &a.tab[t];
        for (size_t v = 0; v < e->nvers; v++) {
            free(e->vers[v].v);
            free(e->vers[v].files);
        }
        free(e->vers);
        free(e->key);
    }
    free(a.tab);
    for (size_t f = 0; a.files && f < a.nfiles; f++) {
        free(a.files[f].path);
        free(a.files[f].site);
        free(a.files[f].component);
        free(a.files[f].arch);
    }
    free(a.files);
    for (size_t r = 0; r < a.nrels; r++)
        rel_free(a.rels[r]);
    free(a.rels);
    for (size_t p = 0; p < a.npins; p++)
        pin_free(&a.pins[p]);
    free(a.pins);
    if (rc) {
        pending_list_free(out);
        return rc;
    }
    if (a.nrels == 0 && a.nfiles <= 1)
        return -ENOENT;
    pending_list_sort(out);
    return 0;
}
