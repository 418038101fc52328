/*
 * Advisory feed parsers: Debian tracker JSON, DSA/DLA lists, Red Hat
 * CSAF.  The formats and the mapping rules are described in advisory.h.
 *
 * Everything here reads input an admin hands over but did not write:
 * strings are length-checked before use, JSON types are checked before
 * every access, messages quoting the input are cut short and made one
 * printable line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "advisory.h"
#include "err.h"
#include "util.h"
#include "vercmp.h"

#define BRANCH_DEPTH_MAX 16 /* CSAF product_tree.branches: Red Hat uses 3 */
#define REL_HOPS_MAX 8      /* relationships chained to a platform (modules: 2) */
#define RELEASE_MAX 64
#define URGENCY_MAX 64
#define ID_MAX 64 /* advisory ids, CSAF tracking ids */

struct run {
    int (*cb)(void *ctx, const struct adv_fix *f);
    void *ctx;
    struct adv_stats *st;
    const char *name; /* prefix of messages: the format being read */
    char *err;
    size_t errlen;
};

/* ---- common ------------------------------------------------------------ */

static int dig(char c)
{
    return c >= '0' && c <= '9';
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Messages quote the input: keep them one line of printable ASCII. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

static int fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct run *r, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!r->err || !r->errlen)
        return VG_EPROTO;
    n = snprintf(r->err, r->errlen, "%s: ", r->name);
    if (n >= 0 && (size_t)n < r->errlen) {
        va_start(ap, fmt);
        vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    one_line(r->err);
    return VG_EPROTO;
}

/* Counts an entry dropped as malformed; the first one says why. */
static void skip(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(struct run *r, const char *fmt, ...)
{
    va_list ap;

    if (r->st->skipped++)
        return;
    va_start(ap, fmt);
    vsnprintf(r->st->skip_reason, sizeof(r->st->skip_reason), fmt, ap);
    va_end(ap);
    one_line(r->st->skip_reason);
}

static int emit(struct run *r, const struct adv_fix *f)
{
    r->st->fixes++;
    return r->cb ? r->cb(r->ctx, f) : 0;
}

/* 1..max bytes of printable ASCII without spaces: names, versions, ids. */
static int token_ok(const char *s, size_t max)
{
    size_t n;

    for (n = 0; s[n]; n++)
        if (n >= max || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n > 0;
}

/* Debian codenames ("bookworm"), 1..RELEASE_MAX of [a-z0-9-]. */
static int release_ok(const char *s)
{
    size_t n;

    for (n = 0; s[n]; n++)
        if (n >= RELEASE_MAX || !((s[n] >= 'a' && s[n] <= 'z') || dig(s[n]) || s[n] == '-'))
            return 0;
    return n > 0;
}

/* "CVE-YYYY-NNNN", 4 to 19 digits of number, nothing else. */
static int is_cve(const char *s)
{
    size_t i;

    if (strncmp(s, "CVE-", 4) != 0)
        return 0;
    for (i = 4; i < 8; i++)
        if (!dig(s[i]))
            return 0;
    if (s[8] != '-')
        return 0;
    for (i = 9; dig(s[i]); i++)
        ;
    return i - 9 >= 4 && i - 9 <= 19 && s[i] == '\0';
}

/* The tracker's ids for issues without a CVE yet: "TEMP-0290435-0B57B5". */
static int is_temp(const char *s)
{
    size_t i;

    if (strncmp(s, "TEMP-", 5) != 0)
        return 0;
    for (i = 5; s[i]; i++)
        if (i >= 5 + 40 || !(dig(s[i]) || (s[i] >= 'A' && s[i] <= 'Z') ||
                             (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            return 0;
    return i > 5;
}

/* CVE ids by year, then number (a longer number is a larger one), then
 * TEMP- and anything else by bytes. */
static int bug_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int cx = is_cve(x), cy = is_cve(y), c;
    size_t lx, ly;

    if (cx != cy)
        return cx ? -1 : 1;
    if (!cx)
        return strcmp(x, y);
    if ((c = memcmp(x + 4, y + 4, 4)) != 0)
        return c;
    lx = strlen(x + 9);
    ly = strlen(y + 9);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x + 9, y + 9);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A set of strings (CVE ids of one fix, platforms): appended (a repeat
 * of the last one dropped at once), sorted and deduplicated when joined,
 * so hostile input with many ids costs n log n, not n^2. */
struct strset {
    char **v;
    size_t n, cap;
};

static int set_add(struct strset *s, const char *p)
{
    char **nv, *c;

    if (s->n && strcmp(s->v[s->n - 1], p) == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        if (!(nv = realloc(s->v, cap * sizeof(*nv))))
            return -ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    if (!(c = strdup(p)))
        return -ENOMEM;
    s->v[s->n++] = c;
    return 0;
}

static void set_clear(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

static void set_free(struct strset *s)
{
    set_clear(s);
    free(s->v);
    s->v = NULL;
    s->cap = 0;
}

/* Sorts the set, drops repeats and joins it with spaces into *out
 * (malloc'd). */
static int set_join(struct strset *s, int (*cmp)(const void *, const void *), char **out)
{
    size_t len = 1, o = 0, n = 0;
    char *j;

    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp);
    for (size_t i = 0; i < s->n; i++) {
        if (n && strcmp(s->v[n - 1], s->v[i]) == 0) {
            free(s->v[i]);
            continue;
        }
        s->v[n++] = s->v[i];
    }
    s->n = n;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->v[i]) + 1;
    if (!(j = malloc(len)))
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->v[i]);
        if (i)
            j[o++] = ' ';
        memcpy(j + o, s->v[i], l);
        o += l;
    }
    j[o] = '\0';
    *out = j;
    return 0;
}

static void set_key(char *doc_key, const char *k)
{
    if (doc_key)
        vg_strlcpy(doc_key, k, ADV_DOC_KEY_MAX);
}

/* ---- DSA/DLA lists ----------------------------------------------------- */

static const char *const months[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

enum { LIST_NONE, LIST_DSA, LIST_DLA };

struct pline {
    char *release, *package, *version; /* version "": not fixed yet */
};

/* One advisory of a list: emitted when the next header (or the end)
 * comes, since its {CVE} line may follow the package lines. */
struct entry {
    char id[32];
    int64_t ms;
    struct pline *p;
    size_t np, cap;
    struct strset cves;
};

static void entry_clear(struct entry *e)
{
    for (size_t i = 0; i < e->np; i++) {
        free(e->p[i].release);
        free(e->p[i].package);
        free(e->p[i].version);
    }
    e->np = 0;
    set_clear(&e->cves);
    e->id[0] = '\0';
}

static int entry_flush(struct run *r, struct entry *e)
{
    char *cves;
    int rc = 0;

    if (!e->id[0])
        return 0;
    if (set_join(&e->cves, bug_cmp, &cves) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < e->np && !rc; i++) {
        struct adv_fix f = {
            .release = e->p[i].release,
            .package = e->p[i].package,
            .arch = "",
            .fixed_version = e->p[i].version,
            .advisory = e->id,
            .cves = cves,
            .severity = "",
            .urgency = "",
            .cvss = -1,
            .released_ms = e->ms,
            .platforms = "",
        };
        rc = emit(r, &f);
    }
    free(cves);
    entry_clear(e);
    return rc;
}

/* "[DD Mon YYYY] DSA-NNNN-N rest": starts entry e. */
static int list_header(struct run *r, unsigned ln, const char *s, struct entry *e, int *kind)
{
    const char *p = s, *id;
    int d = 0, y = 0, m, k;
    size_t n;
    char date[32];

    if (*p++ != '[')
        goto bad;
    for (n = 0; n < 2 && dig(*p); n++)
        d = d * 10 + (*p++ - '0');
    if (!n || *p++ != ' ')
        goto bad;
    for (m = 0; m < 12 && strncmp(p, months[m], 3) != 0; m++)
        ;
    if (m == 12)
        return fail(r, "line %u: unknown month \"%.3s\"", ln, p);
    p += 3;
    if (*p++ != ' ')
        goto bad;
    for (n = 0; n < 4 && dig(*p); n++)
        y = y * 10 + (*p++ - '0');
    if (n != 4 || *p++ != ']')
        goto bad;
    snprintf(date, sizeof(date), "%04d-%02d-%02d", y, m + 1, d);
    if (y < 1970 || vg_time_parse(date, &e->ms) < 0)
        return fail(r, "line %u: no such date \"%d %s %d\"", ln, d, months[m], y);
    if (!is_ws(*p))
        goto bad;
    while (is_ws(*p))
        p++;
    id = p;
    k = strncmp(p, "DSA-", 4) == 0 ? LIST_DSA : strncmp(p, "DLA-", 4) == 0 ? LIST_DLA : LIST_NONE;
    if (k == LIST_NONE)
        return fail(r, "line %u: expected a DSA- or DLA- id after the date", ln);
    p += 4;
    for (n = 0; n < 9 && dig(*p); n++)
        p++;
    if (!n)
        goto bad;
    if (*p == '-') {
        p++;
        for (n = 0; n < 5 && dig(*p); n++)
            p++;
        if (!n)
            goto bad;
    }
    if (*p && !is_ws(*p))
        goto bad;
    if (*kind != LIST_NONE && *kind != k)
        return fail(r, "line %u: %s id in a list of %s ids", ln, k == LIST_DSA ? "DSA" : "DLA",
                    *kind == LIST_DSA ? "DSA" : "DLA");
    *kind = k;
    memcpy(e->id, id, (size_t)(p - id));
    e->id[p - id] = '\0';
    return 0;
bad:
    return fail(r, "line %u: expected \"[DD Mon YYYY] DSA-NNNN-N ...\"", ln);
}

/* Tags that mean "this advisory fixes nothing in that release". */
static int ignored_tag(const char *t)
{
    static const char *const tags[] = { "not-affected", "no-dsa",    "end-of-life", "ignored",
                                        "postponed",    "removed",   "itp",         "undetermined" };
    for (size_t i = 0; i < VG_ARRAY_SIZE(tags); i++)
        if (strcmp(t, tags[i]) == 0)
            return 1;
    return 0;
}

/* "[release] - package VERSION|<tag> [(...)]"; t is trimmed. */
static int list_package(struct run *r, unsigned ln, char *t, struct entry *e)
{
    char *p = t + 1, *rel, *pkg, *ver = "";
    struct pline *pl;

    rel = p;
    while (*p && *p != ']')
        p++;
    if (!*p)
        return fail(r, "line %u: \"[\" without \"]\"", ln);
    *p++ = '\0';
    if (!release_ok(rel))
        return fail(r, "line %u: bad release name \"%.32s\"", ln, rel);
    if (!is_ws(*p))
        goto bad;
    while (is_ws(*p))
        p++;
    if (*p++ != '-' || !is_ws(*p))
        goto bad;
    while (is_ws(*p))
        p++;
    pkg = p;
    while (*p && !is_ws(*p))
        p++;
    if (p == pkg)
        goto bad;
    if (*p)
        *p++ = '\0';
    while (is_ws(*p))
        p++;
    if (*p == '<') {
        char *tag = p + 1, *gt = strchr(tag, '>');
        if (!gt)
            return fail(r, "line %u: \"<\" without \">\"", ln);
        *gt = '\0';
        p = gt + 1;
        if (ignored_tag(tag)) {
            r->st->ignored++;
            return 0;
        }
        if (strcmp(tag, "unfixed") != 0)
            return fail(r, "line %u: unknown <%.32s>", ln, tag);
    } else if (*p && *p != '(') {
        ver = p;
        while (*p && !is_ws(*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    while (is_ws(*p))
        p++;
    if (*p && *p != '(') /* "(bug #1234; low)" and such: not needed */
        return fail(r, "line %u: unexpected text after the version", ln);
    if (!token_ok(pkg, ADV_STR_MAX)) {
        skip(r, "line %u: package name over %d bytes or not printable", ln, ADV_STR_MAX);
        return 0;
    }
    if (*ver && strlen(ver) > ADV_STR_MAX) {
        skip(r, "line %u: version over %d bytes", ln, ADV_STR_MAX);
        return 0;
    }
    if (*ver && vg_dpkg_version_check(ver) < 0) {
        skip(r, "line %u: \"%.64s\" is not a Debian version", ln, ver);
        return 0;
    }
    if (e->np == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        struct pline *np = realloc(e->p, cap * sizeof(*np));
        if (!np)
            return -ENOMEM;
        e->p = np;
        e->cap = cap;
    }
    pl = &e->p[e->np];
    pl->release = strdup(rel);
    pl->package = strdup(pkg);
    pl->version = strdup(ver);
    e->np++; /* entry_clear frees what was made */
    if (!pl->release || !pl->package || !pl->version)
        return -ENOMEM;
    return 0;
bad:
    return fail(r, "line %u: expected \"[release] - package version\"", ln);
}

/* One indented line; t is trimmed. */
static int list_annotation(struct run *r, unsigned ln, char *t, struct entry *e)
{
    if (*t == '{') {
        size_t n = strlen(t);
        char *p;
        int rc;

        if (t[n - 1] != '}')
            return fail(r, "line %u: \"{\" without a closing \"}\"", ln);
        t[n - 1] = '\0';
        /* Cross-references: CVE ids; other ids (DSA-, bug numbers) are not ours. */
        for (p = t + 1; *p;) {
            char *w;
            while (is_ws(*p))
                p++;
            w = p;
            while (*p && !is_ws(*p))
                p++;
            if (*p)
                *p++ = '\0';
            if (*w && is_cve(w) && (rc = set_add(&e->cves, w)) < 0)
                return rc;
        }
        return 0;
    }
    if (*t == '[')
        return list_package(r, ln, t, e);
    if (*t == '-')
        return fail(r, "line %u: package line without a [release]", ln);
    return 0; /* NOTE:, TODO: and other free text */
}

static int parse_list(struct run *r, const char *buf, size_t len, char *doc_key)
{
    struct entry e;
    char *line;
    size_t off = 0;
    unsigned ln = 0;
    int kind = LIST_NONE, rc = 0;

    memset(&e, 0, sizeof(e));
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        off = 3; /* a UTF-8 byte order mark */
    if (!(line = malloc(ADV_LINE_MAX + 1)))
        return -ENOMEM;
    while (off < len) {
        const char *s = buf + off, *nl = memchr(s, '\n', len - off);
        size_t n = nl ? (size_t)(nl - s) : len - off;
        char *t;

        off += n + (nl ? 1 : 0);
        ln++;
        if (n > ADV_LINE_MAX) {
            rc = fail(r, "line %u: longer than %zu bytes", ln, ADV_LINE_MAX);
            goto out;
        }
        if (memchr(s, '\0', n)) {
            rc = fail(r, "line %u: NUL byte", ln);
            goto out;
        }
        memcpy(line, s, n);
        while (n && (line[n - 1] == '\r' || is_ws(line[n - 1])))
            n--;
        line[n] = '\0';
        for (t = line; is_ws(*t); t++)
            ;
        if (!*t)
            continue;
        if (t == line) {
            if ((rc = entry_flush(r, &e)) != 0)
                goto out;
            if ((rc = list_header(r, ln, line, &e, &kind)) != 0)
                goto out;
            set_key(doc_key, kind == LIST_DSA ? "dsa-list" : "dla-list");
        } else if (!e.id[0]) {
            rc = fail(r, "line %u: indented line before the first advisory", ln);
            goto out;
        } else if ((rc = list_annotation(r, ln, t, &e)) != 0) {
            goto out;
        }
    }
    if ((rc = entry_flush(r, &e)) != 0)
        goto out;
    if (kind == LIST_NONE)
        rc = fail(r, "no DSA or DLA entries");
out:
    entry_clear(&e);
    free(e.p);
    set_free(&e.cves);
    free(line);
    return rc;
}

/* ---- JSON: a walk over the top-level object ---------------------------- */

static size_t skip_ws(const char *b, size_t len, size_t i)
{
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

static size_t skip_bom_ws(const char *b, size_t len)
{
    size_t i = len >= 3 && memcmp(b, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    return skip_ws(b, len, i);
}

/* One past the end of the JSON value that starts at b[i], found by
 * quoting and bracket depth only (jansson checks the value itself, and
 * nothing recurses here); 0 if it does not end. */
static size_t value_end(const char *b, size_t len, size_t i)
{
    size_t depth = 0;
    int str = 0;

    if (b[i] != '{' && b[i] != '[' && b[i] != '"') {
        size_t s = i;
        while (i < len && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' &&
               b[i] != '\t' && b[i] != '\n' && b[i] != '\r')
            i++;
        return i > s ? i : 0;
    }
    for (; i < len; i++) {
        char c = b[i];
        if (str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                str = 0;
                if (depth == 0)
                    return i + 1;
            }
        } else if (c == '"') {
            str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

static void line_col(const char *b, size_t pos, unsigned *line, unsigned *col)
{
    size_t ls = 0;
    unsigned l = 1;

    for (size_t i = 0; i < pos; i++)
        if (b[i] == '\n') {
            l++;
            ls = i + 1;
        }
    *line = l;
    *col = (unsigned)(pos - ls + 1);
}

/* Parses the value b[off, off+vlen) with jansson; on error fails with the
 * absolute line and column. */
static int load_value(struct run *r, const char *path, const char *b, size_t off, size_t vlen,
                      json_t **out)
{
    json_error_t je;
    unsigned l, c;

    *out = NULL;
    if (vlen > ADV_JSON_MAX)
        return fail(r, "%.80s: value over %zu MiB", path, ADV_JSON_MAX >> 20);
    if ((*out = json_loadb(b + off, vlen, JSON_DECODE_ANY, &je)) != NULL)
        return 0;
    if (json_error_code(&je) == json_error_out_of_memory)
        return -ENOMEM;
    line_col(b, off + (size_t)(je.position > 0 ? je.position : 0), &l, &c);
    return fail(r, "%.80s: invalid JSON at line %u, column %u: %.80s", path, l, c, je.text);
}

typedef int (*member_fn)(struct run *r, void *arg, const char *key, const char *b, size_t off,
                         size_t vlen);

/* Calls fn for each member of the top-level object with the decoded key
 * and where its value lies; a non-zero fn return stops and is returned. */
static int members(struct run *r, const char *b, size_t len, member_fn fn, void *arg)
{
    size_t i = skip_bom_ws(b, len), end, j;
    unsigned l, c;
    int rc;

    if (i >= len)
        return fail(r, "$: empty document");
    if (b[i] != '{')
        return fail(r, "$: top level is not an object");
    i = skip_ws(b, len, i + 1);
    if (i < len && b[i] == '}') {
        i++;
        goto tail;
    }
    for (;;) {
        json_t *k;
        char path[96];

        if (i >= len)
            goto truncated;
        if (b[i] != '"') {
            line_col(b, i, &l, &c);
            return fail(r, "$: expected a member name at line %u, column %u", l, c);
        }
        if (!(end = value_end(b, len, i)))
            goto truncated;
        if ((rc = load_value(r, "$", b, i, end - i, &k)) != 0)
            return rc;
        snprintf(path, sizeof(path), "$.%.64s", json_string_value(k));
        j = skip_ws(b, len, end);
        if (j < len && b[j] == ':')
            j = skip_ws(b, len, j + 1);
        else if (j < len)
            rc = fail(r, "%s: expected ':' after the name", path);
        if (!rc && (j >= len || !(end = value_end(b, len, j))))
            rc = fail(r, "%s: value does not end (truncated?)", path);
        if (!rc)
            rc = fn(r, arg, json_string_value(k), b, j, end - j);
        json_decref(k);
        if (rc)
            return rc;
        i = skip_ws(b, len, end);
        if (i < len && b[i] == ',') {
            i = skip_ws(b, len, i + 1);
            continue;
        }
        if (i < len && b[i] == '}') {
            i++;
            break;
        }
        if (i >= len)
            goto truncated;
        line_col(b, i, &l, &c);
        return fail(r, "%s: expected ',' or '}' at line %u, column %u", path, l, c);
    }
tail:
    i = skip_ws(b, len, i);
    if (i < len) {
        line_col(b, i, &l, &c);
        return fail(r, "$: text after the top-level object at line %u, column %u", l, c);
    }
    return 0;
truncated:
    return fail(r, "$: the top-level object does not end (truncated?)");
}

/* ---- Debian Security Tracker JSON --------------------------------------- */

static int urgency_ok(const char *s)
{
    size_t n;

    for (n = 0; s[n]; n++)
        if (n >= URGENCY_MAX || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return 1;
}

static int tracker_release(struct run *r, const char *pkg, const char *bug, const char *rel,
                           json_t *rv)
{
    const char *status, *urgency = "", *fv;
    json_t *u;

    if (!json_is_object(rv)) {
        skip(r, "$.%.64s.%.32s.releases.%.32s: not an object", pkg, bug, rel);
        return 0;
    }
    if (!release_ok(rel)) {
        skip(r, "$.%.64s.%.32s.releases: bad release name", pkg, bug);
        return 0;
    }
    u = json_object_get(rv, "urgency");
    if (json_is_string(u) && urgency_ok(json_string_value(u)))
        urgency = json_string_value(u);
    status = json_string_value(json_object_get(rv, "status"));
    if (!status) {
        skip(r, "$.%.64s.%.32s.releases.%s: no status", pkg, bug, rel);
        return 0;
    }
    if (strcmp(status, "resolved") == 0) {
        fv = json_string_value(json_object_get(rv, "fixed_version"));
        if (!fv) {
            skip(r, "$.%.64s.%.32s.releases.%s: resolved without a fixed_version", pkg, bug,
                 rel);
            return 0;
        }
        if (strcmp(fv, "0") == 0) { /* not affected in this release */
            r->st->ignored++;
            return 0;
        }
        if (strlen(fv) > ADV_STR_MAX) {
            skip(r, "$.%.64s.%.32s.releases.%s.fixed_version: over %d bytes", pkg, bug, rel,
                 ADV_STR_MAX);
            return 0;
        }
        if (vg_dpkg_version_check(fv) < 0) {
            skip(r, "$.%.64s.%.32s.releases.%s.fixed_version: not a Debian version", pkg, bug,
                 rel);
            return 0;
        }
    } else if (strcmp(status, "open") == 0) {
        /* The tracker does not count these as risk: unimportant issues get
         * no fix, end-of-life packages no support. */
        if (strcmp(urgency, "unimportant") == 0 || strcmp(urgency, "end-of-life") == 0) {
            r->st->ignored++;
            return 0;
        }
        fv = "";
    } else if (strcmp(status, "undetermined") == 0) {
        r->st->ignored++;
        return 0;
    } else {
        skip(r, "$.%.64s.%.32s.releases.%s: unknown status", pkg, bug, rel);
        return 0;
    }
    {
        struct adv_fix f = {
            .release = rel,
            .package = pkg,
            .arch = "",
            .fixed_version = fv,
            .advisory = "",
            .cves = bug,
            .severity = "",
            .urgency = urgency,
            .cvss = -1,
            .released_ms = 0,
            .platforms = "",
        };
        return emit(r, &f);
    }
}

static int tracker_member(struct run *r, void *arg, const char *pkg, const char *b, size_t off,
                          size_t vlen)
{
    char path[96];
    const char *bug;
    json_t *v, *bv;
    int rc;

    (void)arg;
    snprintf(path, sizeof(path), "$.%.64s", pkg);
    if ((rc = load_value(r, path, b, off, vlen, &v)) != 0)
        return rc;
    if (!json_is_object(v)) {
        skip(r, "%s: not an object", path);
        goto out;
    }
    if (strcmp(pkg, "document") == 0 && json_object_get(v, "csaf_version")) {
        rc = fail(r, "$.document: a CSAF document, not the tracker's JSON");
        goto out;
    }
    if (!token_ok(pkg, ADV_STR_MAX)) {
        skip(r, "%s: package name over %d bytes or not printable", path, ADV_STR_MAX);
        goto out;
    }
    json_object_foreach(v, bug, bv)
    {
        json_t *rels, *rv;
        const char *rel;

        if (!is_cve(bug) && !is_temp(bug)) {
            skip(r, "%s: \"%.32s\" is not a CVE or TEMP id", path, bug);
            continue;
        }
        rels = json_object_get(bv, "releases");
        if (!json_is_object(rels)) {
            skip(r, "%s.%s: no releases object", path, bug);
            continue;
        }
        json_object_foreach(rels, rel, rv)
        {
            if ((rc = tracker_release(r, pkg, bug, rel, rv)) != 0)
                goto out;
        }
    }
out:
    json_decref(v);
    return rc;
}

static int parse_tracker(struct run *r, const char *buf, size_t len, char *doc_key)
{
    set_key(doc_key, "debian-tracker");
    return members(r, buf, len, tracker_member, NULL);
}

/* ---- Red Hat CSAF ------------------------------------------------------ */

static const char *const sev_names[] = { "", "low", "moderate", "important", "critical" };

static int sev_rank(const char *s)
{
    if (s)
        for (int i = 1; i < (int)VG_ARRAY_SIZE(sev_names); i++)
            if (strcasecmp(s, sev_names[i]) == 0)
                return i;
    return 0;
}

/* One (release, name, arch, version) over the whole document. */
struct cfix {
    char *release, *name, *arch, *evr;
    struct strset cves, plats;
    int sev;          /* sev_rank, highest over its vulnerabilities */
    double cvss;      /* highest, -1 none */
    int64_t released; /* earliest vendor_fix date, 0 none */
};

struct csaf {
    struct run *r;
    json_t *cpe;    /* product_id -> CPE string (borrowed from the document) */
    json_t *rel;    /* full product_id -> relationship object (borrowed) */
    json_t *byname; /* "release\037name\037arch\037evr" -> index in v */
    struct cfix *v;
    size_t n, cap;
    int agg;         /* aggregate severity */
    int64_t initial; /* initial_release_date */
};

static int walk_product(struct csaf *c, json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "product_id"));
    json_t *cpe = json_object_get(json_object_get(p, "product_identification_helper"), "cpe");

    if (id && json_is_string(cpe) && json_object_set(c->cpe, id, cpe) < 0)
        return -ENOMEM;
    return 0;
}

static int walk_branches(struct csaf *c, json_t *branches, int depth)
{
    size_t i;
    json_t *b;
    int rc;

    if (!json_is_array(branches))
        return 0;
    if (depth >= BRANCH_DEPTH_MAX) {
        skip(c->r, "$.product_tree.branches: nested deeper than %d", BRANCH_DEPTH_MAX);
        return 0;
    }
    json_array_foreach(branches, i, b)
    {
        if ((rc = walk_product(c, json_object_get(b, "product"))) < 0 ||
            (rc = walk_branches(c, json_object_get(b, "branches"), depth + 1)) < 0)
            return rc;
    }
    return 0;
}

static int walk_tree(struct csaf *c, json_t *tree)
{
    size_t i;
    json_t *x;
    int rc;

    if ((rc = walk_branches(c, json_object_get(tree, "branches"), 0)) < 0)
        return rc;
    json_array_foreach(json_object_get(tree, "full_product_names"), i, x)
    {
        if ((rc = walk_product(c, x)) < 0)
            return rc;
    }
    json_array_foreach(json_object_get(tree, "relationships"), i, x)
    {
        const char *fid =
            json_string_value(json_object_get(json_object_get(x, "full_product_name"), "product_id"));
        if (!fid || !json_is_string(json_object_get(x, "product_reference")) ||
            !json_is_string(json_object_get(x, "relates_to_product_reference"))) {
            skip(c->r, "$.product_tree.relationships[%zu]: incomplete", i);
            continue;
        }
        if (json_object_set(c->rel, fid, x) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* The RHEL major of a platform CPE: 0 (*major set), 1 not a RHEL platform,
 * -1 not understood.  CPE 2.2 "cpe:/o:redhat:enterprise_linux:9::baseos"
 * or 2.3 "cpe:2.3:o:redhat:enterprise_linux:9:...". */
static int el_of_cpe(const char *cpe, int *major)
{
    char buf[ADV_STR_MAX + 1], *f[16], *p;
    size_t nf = 0, base;
    int m = 0, n;

    if (vg_strlcpy(buf, cpe, sizeof(buf)) >= sizeof(buf))
        return -1;
    for (p = buf, f[nf++] = p; *p && nf < VG_ARRAY_SIZE(f); p++)
        if (*p == ':') {
            *p = '\0';
            f[nf++] = p + 1;
        }
    if (nf < 5 || strcmp(f[0], "cpe") != 0)
        return -1;
    base = strcmp(f[1], "2.3") == 0 ? 3 : 2;
    if (nf < base + 3)
        return -1;
    if (strcmp(f[base], "redhat") != 0 ||
        (strcmp(f[base + 1], "enterprise_linux") != 0 && strncmp(f[base + 1], "rhel_", 5) != 0))
        return 1;
    /* Layered products name the RHEL they are built for ("::el8"). */
    for (size_t i = base + 3; i < nf; i++)
        if (f[i][0] == 'e' && f[i][1] == 'l' && dig(f[i][2]))
            return 1;
    for (p = f[base + 2], n = 0; dig(*p) && n < 3; p++, n++)
        m = m * 10 + (*p - '0');
    if (!n)
        return -1;
    *major = m;
    return 0;
}

/* The RHEL major from a platform id alone: "7Server-7.4.AUS", "8Base-...",
 * else the first "-<digits>" ("AppStream-9.2.0.Z.MAIN").  -1 if none. */
static int el_of_id(const char *id)
{
    const char *p = id;
    int m = 0, n = 0;

    for (; dig(*p) && n < 3; p++, n++)
        m = m * 10 + (*p - '0');
    if (n && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
        return m;
    for (p = id; (p = strchr(p, '-')) != NULL; p++)
        if (dig(p[1])) {
            for (p++, m = 0, n = 0; dig(*p) && n < 3; p++, n++)
                m = m * 10 + (*p - '0');
            return m;
        }
    return -1;
}

/* "el<major>" into out: 0, 1 not RHEL (ignored), -1 unknown. */
static int el_of(struct csaf *c, const char *plat, char *out, size_t outlen)
{
    const char *cpe = json_string_value(json_object_get(c->cpe, plat));
    int major = -1, rc;

    if (cpe && (rc = el_of_cpe(cpe, &major)) > 0)
        return 1;
    if (major < 0)
        major = el_of_id(plat);
    if (major < 1 || major > 99)
        return -1;
    snprintf(out, outlen, "el%d", major);
    return 0;
}

static int arch_ok(const char *a)
{
    static const char *const archs[] = {
        "x86_64", "i686",    "i586",         "i486",         "i386",    "athlon", "ia32e",
        "ia64",   "aarch64", "armv7hl",      "ppc",          "ppc64",   "ppc64le", "ppc64p7",
        "s390",   "s390x",   "ppc64pseries", "ppc64iseries", "riscv64", "noarch", "src",
        "nosrc",
    };
    for (size_t i = 0; i < VG_ARRAY_SIZE(archs); i++)
        if (strcmp(a, archs[i]) == 0)
            return 1;
    return 0;
}

/* "name-[epoch:]version-release.arch", in place.  Red Hat writes the
 * epoch always ("openssl-1:3.0.7-17.el9_2.x86_64", "kernel-0:..."). */
static int split_nevra(char *s, char **name, char **epoch, char **ver, char **rel, char **arch)
{
    char *dot = strrchr(s, '.'), *d1, *d2, *colon, *c2;

    if (!dot || dot == s || !dot[1])
        return -1;
    *dot = '\0';
    *arch = dot + 1;
    if (!arch_ok(*arch))
        return -1;
    if (!(d1 = strrchr(s, '-')) || d1 == s || !d1[1])
        return -1;
    *d1 = '\0';
    *rel = d1 + 1;
    if (!(d2 = strrchr(s, '-')) || d2 == s || !d2[1])
        return -1;
    *d2 = '\0';
    *name = s;
    *ver = d2 + 1;
    *epoch = NULL;
    if ((colon = strchr(*ver, ':')) != NULL) {
        *colon = '\0';
        *epoch = *ver;
        *ver = colon + 1;
        if (!**epoch || strlen(*epoch) > 9)
            return -1;
        for (const char *p = *epoch; *p; p++)
            if (!dig(*p))
                return -1;
    }
    /* Module ids without a relationship: "nodejs:18:8080020230531150546:63b34585:nodejs". */
    if ((c2 = strrchr(*name, ':')) != NULL)
        *name = c2 + 1;
    if (!**name || !**ver || strchr(*ver, ':') || strchr(*rel, ':'))
        return -1;
    return 0;
}

/* Per vulnerability: severity, score and vendor_fix date by product. */
struct vmaps {
    json_t *sev, *score, *date;
    int sev_all;      /* from threats that list no products */
    double score_all; /* -1 none */
    int64_t date_all; /* 0 none */
};

static int csaf_fixed(struct csaf *c, size_t vi, const char *pid, const char *cve,
                      const struct vmaps *m)
{
    /* key: rel, name and arch (both inside comp), evr and separators. */
    char plat[ADV_STR_MAX + 1], comp[4 * ADV_STR_MAX + 1], rel[16], evr[2 * ADV_STR_MAX + 16],
        key[16 + 2 * (4 * ADV_STR_MAX + 1) + 2 * ADV_STR_MAX + 16 + 4];
    char *name, *epoch, *ver, *rl, *arch;
    const char *platform, *component;
    json_t *x, *y;
    struct cfix *f;
    size_t idx;
    int sev, rc;
    double score;
    int64_t date;

    if ((x = json_object_get(c->rel, pid)) != NULL) {
        component = json_string_value(json_object_get(x, "product_reference"));
        platform = json_string_value(json_object_get(x, "relates_to_product_reference"));
        for (int hops = 0; hops < REL_HOPS_MAX && (y = json_object_get(c->rel, platform)); hops++)
            platform = json_string_value(json_object_get(y, "relates_to_product_reference"));
        if (vg_strlcpy(plat, platform, sizeof(plat)) >= sizeof(plat))
            goto long_id;
    } else {
        const char *colon = strchr(pid, ':');
        if (!colon || colon == pid) {
            skip(c->r, "$.vulnerabilities[%zu].product_status.fixed: \"%.64s\" names no platform",
                 vi, pid);
            return 0;
        }
        if ((size_t)(colon - pid) >= sizeof(plat))
            goto long_id;
        memcpy(plat, pid, (size_t)(colon - pid));
        plat[colon - pid] = '\0';
        component = colon + 1;
    }
    if (!token_ok(plat, ADV_STR_MAX)) {
        skip(c->r, "$.vulnerabilities[%zu]: platform \"%.64s\" not printable", vi, plat);
        return 0;
    }
    if (vg_strlcpy(comp, component, sizeof(comp)) >= sizeof(comp))
        goto long_id;
    if ((rc = el_of(c, plat, rel, sizeof(rel))) > 0) { /* a layered product's build */
        c->r->st->ignored++;
        return 0;
    }
    if (rc < 0) {
        skip(c->r, "$.vulnerabilities[%zu]: no RHEL version for platform \"%.64s\"", vi, plat);
        return 0;
    }
    if (split_nevra(comp, &name, &epoch, &ver, &rl, &arch) < 0) {
        skip(c->r, "$.vulnerabilities[%zu]: \"%.64s\" is not name-epoch:version-release.arch",
             vi, component);
        return 0;
    }
    if (strcmp(arch, "src") == 0 || strcmp(arch, "nosrc") == 0) {
        c->r->st->ignored++;
        return 0;
    }
    if (epoch)
        epoch += strspn(epoch, "0"); /* rpm prints the epoch as a number */
    if (epoch && *epoch)
        snprintf(evr, sizeof(evr), "%s:%s-%s", epoch, ver, rl);
    else
        snprintf(evr, sizeof(evr), "%s-%s", ver, rl);
    if (!token_ok(name, ADV_STR_MAX) || !token_ok(evr, ADV_STR_MAX)) {
        skip(c->r, "$.vulnerabilities[%zu]: \"%.64s\": name or version over %d bytes", vi,
             component, ADV_STR_MAX);
        return 0;
    }
    snprintf(key, sizeof(key), "%s\037%s\037%s\037%s", rel, name, arch, evr);
    if ((x = json_object_get(c->byname, key)) != NULL) {
        idx = (size_t)json_integer_value(x);
    } else {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            struct cfix *nv = realloc(c->v, cap * sizeof(*nv));
            if (!nv)
                return -ENOMEM;
            c->v = nv;
            c->cap = cap;
        }
        f = &c->v[c->n];
        memset(f, 0, sizeof(*f));
        f->cvss = -1;
        c->n++; /* freed with the rest, even if half made */
        f->release = strdup(rel);
        f->name = strdup(name);
        f->arch = strdup(arch);
        f->evr = strdup(evr);
        if (!f->release || !f->name || !f->arch || !f->evr ||
            json_object_set_new(c->byname, key, json_integer((json_int_t)(c->n - 1))) < 0)
            return -ENOMEM;
        idx = c->n - 1;
    }
    f = &c->v[idx];
    if ((cve && (rc = set_add(&f->cves, cve)) < 0) || (rc = set_add(&f->plats, plat)) < 0)
        return rc;

    sev = (int)json_integer_value(json_object_get(m->sev, pid));
    if (m->sev_all > sev)
        sev = m->sev_all;
    if (!sev)
        sev = c->agg;
    if (sev > f->sev)
        f->sev = sev;
    score = m->score_all;
    if ((x = json_object_get(m->score, pid)) != NULL && json_real_value(x) > score)
        score = json_real_value(x);
    if (score > f->cvss)
        f->cvss = score;
    date = m->date_all;
    if ((x = json_object_get(m->date, pid)) != NULL &&
        (!date || json_integer_value(x) < date))
        date = json_integer_value(x);
    if (date && (!f->released || date < f->released))
        f->released = date;
    return 0;
long_id:
    skip(c->r, "$.vulnerabilities[%zu]: product id \"%.64s\" too long", vi, pid);
    return 0;
}

static int csaf_vuln(struct csaf *c, size_t vi, json_t *v)
{
    struct vmaps m = { NULL, NULL, NULL, 0, -1, 0 };
    const char *cve;
    json_t *x, *ids, *idv;
    size_t j, k;
    int rc = -ENOMEM;

    if (!json_is_object(v)) {
        skip(c->r, "$.vulnerabilities[%zu]: not an object", vi);
        return 0;
    }
    cve = json_string_value(json_object_get(v, "cve"));
    if (cve && !is_cve(cve)) {
        skip(c->r, "$.vulnerabilities[%zu].cve: not a CVE id", vi);
        cve = NULL; /* its fixes still count */
    }
    if (!(m.sev = json_object()) || !(m.score = json_object()) || !(m.date = json_object()))
        goto out;

    json_array_foreach(json_object_get(v, "threats"), j, x)
    {
        const char *cat = json_string_value(json_object_get(x, "category"));
        int rank = sev_rank(json_string_value(json_object_get(x, "details")));

        if (!cat || strcmp(cat, "impact") != 0 || !rank)
            continue;
        ids = json_object_get(x, "product_ids");
        if (!json_array_size(ids) && rank > m.sev_all)
            m.sev_all = rank;
        json_array_foreach(ids, k, idv)
        {
            const char *id = json_string_value(idv);
            if (id && rank > json_integer_value(json_object_get(m.sev, id)) &&
                json_object_set_new(m.sev, id, json_integer(rank)) < 0)
                goto out;
        }
    }
    json_array_foreach(json_object_get(v, "scores"), j, x)
    {
        json_t *bs = json_object_get(json_object_get(x, "cvss_v3"), "baseScore");
        double s;

        if (!json_is_number(bs) || !((s = json_number_value(bs)) >= 0 && s <= 10))
            continue;
        ids = json_object_get(x, "products");
        if (!json_array_size(ids) && s > m.score_all)
            m.score_all = s;
        json_array_foreach(ids, k, idv)
        {
            const char *id = json_string_value(idv);
            json_t *cur = id ? json_object_get(m.score, id) : NULL;
            if (id && (!cur || s > json_real_value(cur)) &&
                json_object_set_new(m.score, id, json_real(s)) < 0)
                goto out;
        }
    }
    json_array_foreach(json_object_get(v, "remediations"), j, x)
    {
        const char *cat = json_string_value(json_object_get(x, "category"));
        const char *ds = json_string_value(json_object_get(x, "date"));
        int64_t ms;

        if (!cat || strcmp(cat, "vendor_fix") != 0 || !ds)
            continue;
        if (vg_time_parse(ds, &ms) < 0 || ms <= 0) {
            skip(c->r, "$.vulnerabilities[%zu].remediations[%zu].date: not a date", vi, j);
            continue;
        }
        ids = json_object_get(x, "product_ids");
        if (!json_array_size(ids) && (!m.date_all || ms < m.date_all))
            m.date_all = ms;
        json_array_foreach(ids, k, idv)
        {
            const char *id = json_string_value(idv);
            json_t *cur = id ? json_object_get(m.date, id) : NULL;
            if (id && (!cur || ms < json_integer_value(cur)) &&
                json_object_set_new(m.date, id, json_integer(ms)) < 0)
                goto out;
        }
    }
    rc = 0;
    json_array_foreach(json_object_get(json_object_get(v, "product_status"), "fixed"), j, x)
    {
        const char *pid = json_string_value(x);
        if (!pid) {
            skip(c->r, "$.vulnerabilities[%zu].product_status.fixed[%zu]: not a string", vi, j);
            continue;
        }
        if ((rc = csaf_fixed(c, vi, pid, cve, &m)) < 0)
            break;
    }
out:
    json_decref(m.sev);
    json_decref(m.score);
    json_decref(m.date);
    return rc;
}

static int cfix_cmp(const void *a, const void *b)
{
    const struct cfix *x = a, *y = b;
    int c;

    if ((c = strcmp(x->release, y->release)) != 0 || (c = strcmp(x->name, y->name)) != 0 ||
        (c = strcmp(x->arch, y->arch)) != 0)
        return c;
    return strcmp(x->evr, y->evr);
}

static int csaf_emit(struct csaf *c, const char *advisory)
{
    int rc = 0;

    if (c->n)
        qsort(c->v, c->n, sizeof(*c->v), cfix_cmp);
    for (size_t i = 0; i < c->n && !rc; i++) {
        struct cfix *x = &c->v[i];
        char *cves = NULL, *plats = NULL;

        if (set_join(&x->cves, bug_cmp, &cves) < 0 || set_join(&x->plats, str_cmp, &plats) < 0) {
            rc = -ENOMEM;
        } else {
            struct adv_fix f = {
                .release = x->release,
                .package = x->name,
                .arch = x->arch,
                .fixed_version = x->evr,
                .advisory = advisory,
                .cves = cves,
                .severity = sev_names[x->sev],
                .urgency = "",
                .cvss = x->cvss,
                .released_ms = x->released ? x->released : c->initial,
                .platforms = plats,
            };
            rc = emit(c->r, &f);
        }
        free(cves);
        free(plats);
    }
    return rc;
}

static int parse_csaf(struct run *r, const char *buf, size_t len, char *doc_key)
{
    struct csaf c;
    json_error_t je;
    json_t *root, *doc, *tracking, *vulns, *v;
    const char *s, *id, *cat;
    size_t i;
    int rc;

    if (len > ADV_JSON_MAX)
        return fail(r, "$: document over %zu MiB", ADV_JSON_MAX >> 20);
    if (!(root = json_loadb(buf, len, 0, &je))) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return -ENOMEM;
        return fail(r, "$: invalid JSON at line %d, column %d: %.80s", je.line, je.column,
                    je.text);
    }
    memset(&c, 0, sizeof(c));
    c.r = r;
    rc = VG_EPROTO;
    if (!json_is_object(root)) {
        fail(r, "$: top level is not an object");
        goto out;
    }
    if (!json_is_object(doc = json_object_get(root, "document"))) {
        fail(r, "$.document: missing or not an object");
        goto out;
    }
    s = json_string_value(json_object_get(doc, "csaf_version"));
    if (!s || strncmp(s, "2.", 2) != 0) {
        fail(r, "$.document.csaf_version: missing or not 2.x");
        goto out;
    }
    cat = json_string_value(json_object_get(doc, "category"));
    if (cat && strcmp(cat, "csaf_vex") == 0) {
        fail(r, "$.document.category: a VEX file (one per CVE), not an advisory: import the "
                "RHSA's CSAF file");
        goto out;
    }
    if (!cat || strcmp(cat, "csaf_security_advisory") != 0) {
        fail(r, "$.document.category: \"%.40s\" is not csaf_security_advisory", cat ? cat : "");
        goto out;
    }
    tracking = json_object_get(doc, "tracking");
    id = json_string_value(json_object_get(tracking, "id"));
    if (!id || !token_ok(id, ID_MAX)) {
        fail(r, "$.document.tracking.id: missing, not a string or not an id");
        goto out;
    }
    s = json_string_value(json_object_get(tracking, "initial_release_date"));
    if (!s || vg_time_parse(s, &c.initial) < 0 || c.initial <= 0) {
        fail(r, "$.document.tracking.initial_release_date: missing or not an ISO 8601 time");
        goto out;
    }
    c.agg = sev_rank(json_string_value(json_object_get(json_object_get(doc, "aggregate_severity"),
                                                       "text")));
    set_key(doc_key, id);

    rc = -ENOMEM;
    if (!(c.cpe = json_object()) || !(c.rel = json_object()) || !(c.byname = json_object()))
        goto out;
    if ((rc = walk_tree(&c, json_object_get(root, "product_tree"))) < 0)
        goto out;
    vulns = json_object_get(root, "vulnerabilities");
    if (vulns && !json_is_array(vulns))
        skip(r, "$.vulnerabilities: not an array");
    json_array_foreach(vulns, i, v)
    {
        if ((rc = csaf_vuln(&c, i, v)) < 0)
            goto out;
    }
    rc = csaf_emit(&c, id);
out:
    for (i = 0; i < c.n; i++) {
        free(c.v[i].release);
        free(c.v[i].name);
        free(c.v[i].arch);
        free(c.v[i].evr);
        set_free(&c.v[i].cves);
        set_free(&c.v[i].plats);
    }
    free(c.v);
    json_decref(c.cpe);
    json_decref(c.rel);
    json_decref(c.byname);
    json_decref(root);
    return rc;
}

/* ---- detection and entry points ---------------------------------------- */

struct detect {
    int csaf_keys; /* "$schema", "product_tree" or "vulnerabilities" seen */
    int found;     /* ADV_* once known */
};

static int detect_member(struct run *r, void *arg, const char *key, const char *b, size_t off,
                         size_t vlen)
{
    struct detect *d = arg;
    json_t *v, *k1;
    const char *bug;
    int rc;

    if (strcmp(key, "$schema") == 0 || strcmp(key, "product_tree") == 0 ||
        strcmp(key, "vulnerabilities") == 0) {
        d->csaf_keys = 1;
        return 0;
    }
    if (strcmp(key, "document") == 0) {
        if ((rc = load_value(r, "$.document", b, off, vlen, &v)) != 0)
            return rc;
        rc = json_is_string(json_object_get(v, "csaf_version"));
        json_decref(v);
        if (!rc)
            return fail(r, "$.document: no csaf_version, so not a CSAF document");
        d->found = ADV_CSAF;
        return 1;
    }
    if (d->csaf_keys)
        return 0; /* a CSAF member of no interest; "document" may come later */
    /* A tracker package: an object keyed by CVE/TEMP ids. */
    if (b[off] != '{')
        return fail(r, "$.%.64s: neither a tracker package (object of CVE ids) nor CSAF", key);
    if ((rc = load_value(r, "$", b, off, vlen, &v)) != 0)
        return rc;
    {
        void *it = json_object_iter(v);
        bug = it ? json_object_iter_key(it) : NULL;
        k1 = it ? json_object_iter_value(it) : NULL;
        rc = !bug || ((is_cve(bug) || is_temp(bug)) && json_is_object(k1));
    }
    json_decref(v);
    if (!rc)
        return fail(r, "$.%.64s: neither a tracker package (object of CVE ids) nor CSAF", key);
    d->found = ADV_DEBIAN_JSON;
    return 1;
}

static int detect(struct run *r, const char *buf, size_t len, enum adv_format *out)
{
    size_t i = skip_bom_ws(buf, len);
    struct detect d = { 0, ADV_AUTO };
    int rc;

    if (i >= len)
        return fail(r, "empty input");
    if (buf[i] == '{') {
        if ((rc = members(r, buf, len, detect_member, &d)) < 0)
            return rc;
        if (d.found == ADV_AUTO)
            return fail(r, "%s",
                        d.csaf_keys ? "$.document: missing, so not a CSAF document"
                                    : "$: an empty object: neither tracker JSON nor CSAF");
        *out = (enum adv_format)d.found;
        return 0;
    }
    if (buf[i] == '[') {
        /* A list starts "[21 Nov 2023] DSA-...", a JSON array "[{", "[\"", "[]". */
        struct entry e;
        char line[128];
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (buf + i)) : len - i, j = skip_ws(buf, len, i + 1);
        unsigned l, c;
        int kind = LIST_NONE;

        if (j < len && (buf[j] == '{' || buf[j] == '"' || buf[j] == '[' || buf[j] == ']'))
            return fail(r, "a JSON array: neither tracker JSON (an object) nor CSAF");
        if (n >= sizeof(line))
            n = sizeof(line) - 1;
        memcpy(line, buf + i, n);
        while (n && (line[n - 1] == '\r' || is_ws(line[n - 1])))
            n--;
        line[n] = '\0';
        memset(&e, 0, sizeof(e));
        line_col(buf, i, &l, &c);
        r->name = "dsa-list";
        if ((rc = list_header(r, l, line, &e, &kind)) != 0)
            return rc;
        *out = ADV_DSA_LIST;
        return 0;
    }
    {
        char start[9];
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(start, buf + i, n);
        start[n] = '\0';
        return fail(r, "not a Debian tracker JSON, a DSA/DLA list or a CSAF document (starts "
                       "with \"%s\")",
                    start);
    }
}

int adv_format_parse(const char *s, enum adv_format *out)
{
    static const struct {
        const char *name;
        enum adv_format f;
    } names[] = { { "auto", ADV_AUTO },
                  { "debian-json", ADV_DEBIAN_JSON },
                  { "dsa-list", ADV_DSA_LIST },
                  { "csaf", ADV_CSAF } };

    for (size_t i = 0; s && i < VG_ARRAY_SIZE(names); i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].f;
            return 0;
        }
    return -EINVAL;
}

const char *adv_format_name(enum adv_format f)
{
    switch (f) {
    case ADV_AUTO:
        return "auto";
    case ADV_DEBIAN_JSON:
        return "debian-json";
    case ADV_DSA_LIST:
        return "dsa-list";
    case ADV_CSAF:
        return "csaf";
    }
    return "?";
}

int adv_detect(const char *buf, size_t len, enum adv_format *out, char *err, size_t errlen)
{
    struct adv_stats st;
    struct run r = { NULL, NULL, &st, "advisory", err, errlen };

    memset(&st, 0, sizeof(st));
    if (err && errlen)
        err[0] = '\0';
    if (!buf)
        len = 0;
    if (len > ADV_INPUT_MAX)
        return fail(&r, "input over %zu MiB", ADV_INPUT_MAX >> 20);
    return detect(&r, buf ? buf : "", len, out);
}

int adv_parse_stats(enum adv_format fmt, const char *buf, size_t len,
                    int (*cb)(void *ctx, const struct adv_fix *f), void *ctx, char *doc_key,
                    size_t keylen, struct adv_stats *st, char *err, size_t errlen)
{
    struct adv_stats local;
    struct run r = { cb, ctx, st ? st : &local, "advisory", err, errlen };
    int rc;

    memset(r.st, 0, sizeof(*r.st));
    if (err && errlen)
        err[0] = '\0';
    if (doc_key) {
        if (keylen < ADV_DOC_KEY_MAX)
            return -EINVAL;
        doc_key[0] = '\0';
    }
    if (!buf)
        len = 0;
    if (!buf)
        buf = "";
    if (len > ADV_INPUT_MAX) {
        fail(&r, "input over %zu MiB", ADV_INPUT_MAX >> 20);
        return VG_ETOOBIG;
    }
    if (fmt == ADV_AUTO && (rc = detect(&r, buf, len, &fmt)) != 0)
        return rc;
    r.name = adv_format_name(fmt);
    switch (fmt) {
    case ADV_DEBIAN_JSON:
        return parse_tracker(&r, buf, len, doc_key);
    case ADV_DSA_LIST:
        return parse_list(&r, buf, len, doc_key);
    case ADV_CSAF:
        return parse_csaf(&r, buf, len, doc_key);
    case ADV_AUTO:
        break;
    }
    return -EINVAL;
}

int adv_parse(enum adv_format fmt, const char *buf, size_t len,
              int (*cb)(void *ctx, const struct adv_fix *f), void *ctx, char *doc_key,
              size_t keylen, char *err, size_t errlen)
{
    return adv_parse_stats(fmt, buf, len, cb, ctx, doc_key, keylen, NULL, err, errlen);
}
