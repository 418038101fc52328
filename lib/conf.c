#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "err.h"
#include "util.h"

/* Parser state shared by our inih reader and handler.  We feed inih from
 * memory through a reader of our own so that we know the current line
 * number in the handler, can reject over-long lines (inih's buffer is
 * INI_MAX_LINE bytes and would split them) and unknown sections (inih
 * only reports keys), and can strip indentation (inih would treat an
 * indented line as a continuation of the previous value). */
struct parse {
    const struct vg_conf_key *table;
    void *obj;
    const char *name;
    char dir[PATH_MAX];
    const char *text;
    size_t len, pos;
    int line;
    int err_line; /* first error's line, 0 if none */
    int rc;
    char *err;
    size_t errlen;
    unsigned char *seen;
};

#define FIELD(obj, k, type) ((type *)(void *)((char *)(obj) + (k)->offset))
#define CFIELD(obj, k, type) ((const type *)(const void *)((const char *)(obj) + (k)->offset))

static size_t table_len(const struct vg_conf_key *t)
{
    size_t n = 0;
    while (t[n].key)
        n++;
    return n;
}

static int section_known(const struct vg_conf_key *t, const char *s, size_t slen)
{
    for (; t->key; t++)
        if (strlen(t->section) == slen && strncmp(t->section, s, slen) == 0)
            return 1;
    return 0;
}

static void known_sections(const struct vg_conf_key *t, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (const struct vg_conf_key *k = t; k->key; k++) {
        int dup = 0;
        for (const struct vg_conf_key *j = t; j < k; j++)
            if (strcmp(j->section, k->section) == 0)
                dup = 1;
        if (!dup && used < outlen) {
            int n = snprintf(out + used, outlen - used, "%s[%s]", used ? ", " : "", k->section);
            if (n > 0)
                used += (size_t)n;
        }
    }
}

static void perr(struct parse *p, int line, const char *fmt, ...) VG_PRINTF(3, 4);
static void perr(struct parse *p, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (p->err_line)
        return; /* keep the first error: later ones are often its echo */
    p->err_line = line ? line : -1;
    p->rc = VG_ECONFIG;
    if (!p->err || !p->errlen)
        return;
    if (line)
        n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
    else
        n = snprintf(p->err, p->errlen, "%s: ", p->name);
    if (n < 0 || (size_t)n >= p->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* fgets() over p->text, with the checks described above. */
static char *reader(char *str, int num, void *stream)
{
    struct parse *p = stream;
    size_t start, end, l;
    const char *s;

    if (p->pos >= p->len)
        return NULL;
    p->line++;
    start = p->pos;
    s = memchr(p->text + start, '\n', p->len - start);
    end = s ? (size_t)(s - p->text) : p->len;
    p->pos = s ? end + 1 : p->len;
    if (memchr(p->text + start, '\0', end - start)) {
        perr(p, p->line, "NUL byte in line");
        str[0] = '\0';
        return str;
    }
    while (start < end && (p->text[start] == ' ' || p->text[start] == '\t'))
        start++;
    if (end > start && p->text[end - 1] == '\r')
        end--;
    l = end - start;
    if (l + 2 > (size_t)num) {
        perr(p, p->line, "line too long (%zu bytes, at most %d); split a long list over "
             "several lines with the same key", l, num - 2);
        str[0] = '\0';
        return str;
    }
    if (l > 0 && p->text[start] == '[') {
        const char *close = memchr(p->text + start, ']', l);
        if (close) {
            const char *nm = p->text + start + 1;
            size_t nl = (size_t)(close - nm);
            if (!section_known(p->table, nm, nl)) {
                char known[256];
                known_sections(p->table, known, sizeof(known));
                perr(p, p->line, "unknown section [%.*s] (known: %s)", (int)nl, nm, known);
                str[0] = '\0';
                return str;
            }
        }
    }
    memcpy(str, p->text + start, l);
    str[l] = '\n';
    str[l + 1] = '\0';
    return str;
}

static const struct vg_conf_key *find_key(const struct vg_conf_key *t, const char *section,
                                          const char *key)
{
    for (; t->key; t++)
        if (strcmp(t->section, section) == 0 && strcmp(t->key, key) == 0)
            return t;
    return NULL;
}

/* Edit distance of a and b (short strings), capped at 3. */
static unsigned edits(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned d[33][33];
    if (la > 32 || lb > 32)
        return 3;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1,
                     sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            d[i][j] = del < ins ? (del < sub ? del : sub) : (ins < sub ? ins : sub);
        }
    return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* The key of section closest to key (at most two edits away), or NULL. */
static const struct vg_conf_key *near_key(const struct vg_conf_key *t, const char *section,
                                          const char *key)
{
    const struct vg_conf_key *best = NULL;
    unsigned bd = 3;
    for (; t->key; t++) {
        unsigned d;
        if (strcmp(t->section, section) == 0 && (d = edits(t->key, key)) < bd) {
            bd = d;
            best = t;
        }
    }
    return best;
}

void vg_strlist_free(struct vg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_append(struct vg_strlist *l, const char *s, size_t n)
{
    char **nv;
    char *c;

    if (l->n >= VG_CONF_MAX_LIST)
        return VG_ETOOBIG;
    c = strndup(s, n);
    if (!c)
        return -ENOMEM;
    nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv) {
        free(c);
        return -ENOMEM;
    }
    l->v = nv;
    l->v[l->n++] = c;
    return 0;
}

/* Converts value for key k and stores it.  append: a repeated list key
 * adds to the list instead of replacing it.  dir: base for relative paths
 * (NULL: leave relative).  On error returns VG_ECONFIG or -ENOMEM with a
 * reason (no location) in why. */
static int set_value(const struct vg_conf_key *k, void *obj, const char *value, int append,
                     const char *dir, char *why, size_t whylen)
{
    size_t vl = strlen(value);
    int rc;

    switch (k->type) {
    case VG_CONF_STR:
    case VG_CONF_PATH: {
        char **dst = FIELD(obj, k, char *);
        char *nv = NULL;
        /* One pair of surrounding double quotes is allowed and removed. */
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value++;
            vl -= 2;
        }
        if (vl > 0) {
            if (k->type == VG_CONF_PATH && value[0] != '/' && dir && dir[0]) {
                size_t dl = strlen(dir);
                if (dl == 1 && dir[0] == '/')
                    dl = 0; /* "/" + "x" is "/x", not "//x" */
                nv = malloc(dl + 1 + vl + 1);
                if (nv) {
                    memcpy(nv, dir, dl);
                    nv[dl] = '/';
                    memcpy(nv + dl + 1, value, vl);
                    nv[dl + 1 + vl] = '\0';
                }
            } else {
                nv = strndup(value, vl);
            }
            if (!nv)
                return -ENOMEM;
        }
        free(*dst);
        *dst = nv;
        return 0;
    }
    case VG_CONF_BOOL:
        if (vg_parse_bool(value, FIELD(obj, k, int)) < 0) {
            snprintf(why, whylen, "'%s' is not a boolean (use yes or no)", value);
            return VG_ECONFIG;
        }
        return 0;
    case VG_CONF_UINT:
    case VG_CONF_DURATION:
    case VG_CONF_SIZE: {
        uint64_t v, max = k->max ? k->max : UINT64_MAX;
        const char *what = k->type == VG_CONF_UINT ? "a whole number"
                           : k->type == VG_CONF_DURATION ? "a duration (e.g. 30s, 5m, 24h)"
                                                          : "a size (e.g. 64K, 100M, 1G)";
        rc = k->type == VG_CONF_UINT ? vg_parse_u64(value, 0, UINT64_MAX, &v)
             : k->type == VG_CONF_DURATION ? vg_parse_duration(value, &v)
                                            : vg_parse_size(value, &v);
        if (rc == -EINVAL) {
            snprintf(why, whylen, "'%s' is not %s", value, what);
            return VG_ECONFIG;
        }
        if (rc < 0 || v < k->min || v > max) {
            if (k->type == VG_CONF_DURATION)
                snprintf(why, whylen, "'%s' is out of range (%llums to %llums)", value,
                         (unsigned long long)k->min, (unsigned long long)max);
            else
                snprintf(why, whylen, "'%s' is out of range (%llu to %llu)", value,
                         (unsigned long long)k->min, (unsigned long long)max);
            return VG_ECONFIG;
        }
        *FIELD(obj, k, uint64_t) = v;
        return 0;
    }
    case VG_CONF_ENUM: {
        const char *c = k->choices;
        int idx = 0;
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == vl && strncmp(c, value, vl) == 0) {
                *FIELD(obj, k, int) = idx;
                return 0;
            }
            idx++;
            c = bar ? bar + 1 : NULL;
        }
        snprintf(why, whylen, "'%s' is not one of %s", value, k->choices);
        return VG_ECONFIG;
    }
    case VG_CONF_LIST: {
        struct vg_strlist *l = FIELD(obj, k, struct vg_strlist);
        struct vg_strlist nl = { NULL, 0 };
        const char *s = value;
        if (append) {
            nl = *l;
            l->v = NULL;
            l->n = 0;
        }
        while (*s) {
            const char *comma = strchr(s, ',');
            const char *e = comma ? comma : s + strlen(s);
            const char *b = s;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e > b) {
                rc = list_append(&nl, b, (size_t)(e - b));
                if (rc) {
                    vg_strlist_free(&nl);
                    if (rc == VG_ETOOBIG) {
                        snprintf(why, whylen, "more than %d items", VG_CONF_MAX_LIST);
                        return VG_ECONFIG;
                    }
                    return rc;
                }
            } else if (comma) {
                vg_strlist_free(&nl);
                snprintf(why, whylen, "empty item in list");
                return VG_ECONFIG;
            }
            s = comma ? comma + 1 : s + strlen(s);
        }
        vg_strlist_free(l);
        *l = nl;
        return 0;
    }
    }
    snprintf(why, whylen, "internal: bad key type");
    return VG_ECONFIG;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    const struct vg_conf_key *k;
    char why[256];
    size_t idx;
    int rc;

    if (p->err_line)
        return 1; /* already failed; let inih finish quietly */
    if (!section[0]) {
        perr(p, p->line, "key '%s' is outside any section", name);
        return 0;
    }
    k = find_key(p->table, section, name);
    if (!k) {
        const struct vg_conf_key *near = near_key(p->table, section, name);
        if (strpbrk(name, " \t"))
            perr(p, p->line, "'%s' is not KEY = VALUE (the '=' is missing)", name);
        else if (near)
            perr(p, p->line, "unknown key '%s' in section [%s]; did you mean '%s'?", name,
                 section, near->key);
        else
            perr(p, p->line, "unknown key '%s' in section [%s] (--example-config lists every key)",
                 name, section);
        return 0;
    }
    idx = (size_t)(k - p->table);
    if (p->seen[idx] && k->type != VG_CONF_LIST) {
        perr(p, p->line, "[%s] %s is set twice", section, name);
        return 0;
    }
    if (!value[0] && k->type != VG_CONF_STR && k->type != VG_CONF_PATH &&
        k->type != VG_CONF_LIST) {
        perr(p, p->line, "[%s] %s has an empty value", section, name);
        return 0;
    }
    rc = set_value(k, p->obj, value, p->seen[idx], p->dir, why, sizeof(why));
    if (rc == -ENOMEM) {
        p->rc = -ENOMEM;
        p->err_line = p->line;
        return 0;
    }
    if (rc) {
        perr(p, p->line, "[%s] %s: %s", section, name, why);
        return 0;
    }
    p->seen[idx] = 1;
    return 1;
}

int vg_conf_defaults(const struct vg_conf_key *t, void *obj)
{
    char why[256];
    for (const struct vg_conf_key *k = t; k->key; k++) {
        int rc;
        if (k->type == VG_CONF_STR || k->type == VG_CONF_PATH) {
            free(*FIELD(obj, k, char *));
            *FIELD(obj, k, char *) = NULL;
        } else if (k->type == VG_CONF_LIST) {
            vg_strlist_free(FIELD(obj, k, struct vg_strlist));
        }
        if (!k->def)
            continue;
        rc = set_value(k, obj, k->def, 0, NULL, why, sizeof(why));
        if (rc)
            return rc;
    }
    return 0;
}

int vg_conf_parse(const struct vg_conf_key *t, void *obj, const char *name, const char *text,
                  size_t len, char *err, size_t errlen)
{
    struct parse p;
    const char *slash;
    int r;

    memset(&p, 0, sizeof(p));
    p.table = t;
    p.obj = obj;
    p.name = name;
    p.text = text;
    p.len = len;
    p.err = err;
    p.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    /* Relative paths in the file are relative to the file's directory,
     * made absolute now: daemons change directory later. */
    slash = strrchr(name, '/');
    if (name[0] != '/' && !getcwd(p.dir, sizeof(p.dir)))
        p.dir[0] = '\0';
    if (slash) {
        size_t used = name[0] == '/' ? 0 : strlen(p.dir);
        size_t dl = (size_t)(slash - name);
        if (used && used + 1 + dl < sizeof(p.dir)) {
            p.dir[used++] = '/';
            memcpy(p.dir + used, name, dl);
            p.dir[used + dl] = '\0';
        } else if (!used && dl < sizeof(p.dir)) {
            memcpy(p.dir, name, dl);
            p.dir[dl] = '\0';
            if (!p.dir[0])
                vg_strlcpy(p.dir, "/", sizeof(p.dir));
        }
    }
    p.seen = calloc(table_len(t) + 1, 1);
    if (!p.seen)
        return -ENOMEM;
    r = ini_parse_stream(reader, &p, handler, &p);
    free(p.seen);
    if (r == -2)
        return -ENOMEM;
    /* inih returns the first line it refused: ours (already described) or
     * a syntax error it found by itself, which may come before ours. */
    if (r > 0 && p.rc != -ENOMEM && (!p.err_line || r < p.err_line)) {
        p.err_line = 0;
        perr(&p, r, "syntax error (expected [section], key = value or a comment)");
    }
    return p.rc;
}

int vg_conf_check_required(const struct vg_conf_key *t, const void *obj, const char *name,
                           char *err, size_t errlen)
{
    for (const struct vg_conf_key *k = t; k->key; k++) {
        int missing = 0;
        if (!(k->flags & VG_CONF_REQUIRED))
            continue;
        if (k->type == VG_CONF_STR || k->type == VG_CONF_PATH)
            missing = *CFIELD(obj, k, char *) == NULL;
        else if (k->type == VG_CONF_LIST)
            missing = CFIELD(obj, k, struct vg_strlist)->n == 0;
        if (missing) {
            snprintf(err, errlen, "%s: [%s] %s is required (%s)", name, k->section, k->key,
                     k->help ? k->help : "no default");
            return VG_ECONFIG;
        }
    }
    return 0;
}

/* Reads one file into obj (no defaults, no required check). */
static int load_one(const struct vg_conf_key *t, void *obj, const char *path, int fd,
                    char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    rc = fd >= 0 ? vg_fd_read(fd, VG_CONF_MAX_FILE, &text, &len)
                 : vg_file_read(path, VG_CONF_MAX_FILE, &text, &len);
    if (rc) {
        if (rc == VG_ETOOBIG)
            snprintf(err, errlen, "%s: larger than %d bytes; is this a configuration file?",
                     path, VG_CONF_MAX_FILE);
        else
            snprintf(err, errlen, "cannot read %s: %s%s", path, vg_strerror(rc),
                     rc == -ENOENT && fd < 0 ? " (give another with -c FILE; --example-config "
                                               "prints one with every key)"
                                             : "");
        return VG_ECONFIG;
    }
    rc = vg_conf_parse(t, obj, path, text, len, err, errlen);
    free(text);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 for a drop-in's name: NAME.conf, not hidden. */
static int dropin_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && l > 5 && strcmp(n + l - 5, ".conf") == 0;
}

/* Reads the drop-ins of path (path.d/ *.conf, in strcmp order) into obj,
 * counting them in *n.  A missing directory has none. */
static int load_dropins(const struct vg_conf_key *t, void *obj, const char *path, size_t *n,
                        char *err, size_t errlen)
{
    char dir[PATH_MAX], file[PATH_MAX + 260];
    char **names = NULL;
    size_t count = 0;
    struct dirent *de;
    DIR *d = NULL;
    int rc = 0;

    if ((size_t)snprintf(dir, sizeof(dir), "%s.d", path) >= sizeof(dir)) {
        snprintf(err, errlen, "%s: path too long", path);
        return VG_ECONFIG;
    }
    if (!(d = opendir(dir))) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read the drop-in directory %s: %s", dir, strerror(errno));
        return VG_ECONFIG;
    }
    names = calloc(VG_CONF_MAX_DROPINS, sizeof(*names));
    if (!names) {
        rc = -ENOMEM;
        goto out;
    }
    errno = 0;
    while ((de = readdir(d))) {
        if (!dropin_name(de->d_name))
            continue;
        if (count == VG_CONF_MAX_DROPINS) {
            snprintf(err, errlen, "%s: more than %d drop-in files", dir, VG_CONF_MAX_DROPINS);
            rc = VG_ECONFIG;
            goto out;
        }
        if (!(names[count] = strdup(de->d_name))) {
            rc = -ENOMEM;
            goto out;
        }
        count++;
        errno = 0;
    }
    if (errno) {
        snprintf(err, errlen, "cannot read the drop-in directory %s: %s", dir, strerror(errno));
        rc = VG_ECONFIG;
        goto out;
    }
    qsort(names, count, sizeof(*names), name_cmp);
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct stat st = { 0 };
        /* Symbolic links are followed; what is not a regular file then
         * (a directory, a device, a FIFO: never waited on) is ignored. */
        int fd = openat(dirfd(d), names[i], O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        int e = fd < 0 ? errno : fstat(fd, &st) != 0 ? errno : 0;
        snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
        if (e) {
            snprintf(err, errlen, "cannot read %s: %s", file, strerror(e));
            rc = VG_ECONFIG;
        } else if (S_ISREG(st.st_mode)) {
            rc = load_one(t, obj, file, fd, err, errlen);
            if (rc == 0)
                (*n)++;
        }
        if (fd >= 0)
            close(fd);
    }
out:
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int vg_conf_load_ex(const struct vg_conf_key *t, void *obj, const char *path, unsigned flags,
                    size_t *ndropins, char *err, size_t errlen)
{
    char name[PATH_MAX + 40];
    size_t n = 0;
    int rc;

    if (ndropins)
        *ndropins = 0;
    rc = vg_conf_defaults(t, obj);
    if (rc) {
        snprintf(err, errlen, "%s: internal: bad default", path);
        return rc;
    }
    rc = load_one(t, obj, path, -1, err, errlen);
    if (rc == 0 && !(flags & VG_CONF_NO_DROPINS))
        rc = load_dropins(t, obj, path, &n, err, errlen);
    if (rc)
        return rc;
    if (ndropins)
        *ndropins = n;
    /* Required keys are checked on the merged result: a drop-in may give
     * what the main file leaves out. */
    if (n)
        snprintf(name, sizeof(name), "%s (+%zu drop-in%s)", path, n, n == 1 ? "" : "s");
    else
        vg_strlcpy(name, path, sizeof(name));
    return vg_conf_check_required(t, obj, name, err, errlen);
}

int vg_conf_load(const struct vg_conf_key *t, void *obj, const char *path, char *err,
                 size_t errlen)
{
    return vg_conf_load_ex(t, obj, path, 0, NULL, err, errlen);
}

int vg_conf_set(const struct vg_conf_key *t, void *obj, const char *section, const char *key,
                const char *value, char *err, size_t errlen)
{
    const struct vg_conf_key *k = find_key(t, section, key);
    char why[256], cwd[PATH_MAX];
    int rc;

    if (!k) {
        snprintf(err, errlen, "unknown configuration key [%s] %s", section, key);
        return VG_ECONFIG;
    }
    /* Relative paths from the command line are relative to where it ran. */
    if (!getcwd(cwd, sizeof(cwd)))
        cwd[0] = '\0';
    rc = set_value(k, obj, value, 0, cwd, why, sizeof(why));
    if (rc == VG_ECONFIG)
        snprintf(err, errlen, "[%s] %s: %s", section, key, why);
    return rc;
}

void vg_conf_free(const struct vg_conf_key *t, void *obj)
{
    for (const struct vg_conf_key *k = t; k->key; k++) {
        if (k->type == VG_CONF_STR || k->type == VG_CONF_PATH) {
            free(*FIELD(obj, k, char *));
            *FIELD(obj, k, char *) = NULL;
        } else if (k->type == VG_CONF_LIST) {
            vg_strlist_free(FIELD(obj, k, struct vg_strlist));
        }
    }
}

static void print_value(const struct vg_conf_key *k, const void *obj, FILE *out)
{
    switch (k->type) {
    case VG_CONF_STR:
    case VG_CONF_PATH: {
        const char *s = *CFIELD(obj, k, char *);
        const char *at = s && (k->flags & VG_CONF_URL_PASSWORD) ? strrchr(s, '@') : NULL;
        const char *sep = s ? strstr(s, "://") : NULL, *colon;
        /* scheme://USER:PASSWORD@HOST: the password is not printed. */
        if (at && sep && sep < at && (colon = memchr(sep + 3, ':', (size_t)(at - sep - 3))))
            fprintf(out, "%.*s:(not shown)%s", (int)(colon - s), s, at);
        else
            fputs(s ? s : "", out);
        break;
    }
    case VG_CONF_BOOL:
        fputs(*CFIELD(obj, k, int) ? "yes" : "no", out);
        break;
    case VG_CONF_UINT:
    case VG_CONF_SIZE:
        fprintf(out, "%llu", (unsigned long long)*CFIELD(obj, k, uint64_t));
        break;
    case VG_CONF_DURATION: {
        uint64_t ms = *CFIELD(obj, k, uint64_t);
        if (ms % 1000)
            fprintf(out, "%llums", (unsigned long long)ms);
        else
            fprintf(out, "%llus", (unsigned long long)(ms / 1000));
        break;
    }
    case VG_CONF_ENUM: {
        int idx = *CFIELD(obj, k, int);
        const char *c = k->choices;
        while (idx-- > 0 && c)
            c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL;
        if (c)
            fprintf(out, "%.*s", (int)(strchr(c, '|') ? (size_t)(strchr(c, '|') - c) : strlen(c)),
                    c);
        break;
    }
    case VG_CONF_LIST: {
        const struct vg_strlist *l = CFIELD(obj, k, struct vg_strlist);
        for (size_t i = 0; i < l->n; i++)
            fprintf(out, "%s%s", i ? "," : "", l->v[i]);
        break;
    }
    }
}

void vg_conf_value(const struct vg_conf_key *k, const void *obj, char *out, size_t len)
{
    FILE *f;
    if (!len)
        return;
    out[0] = '\0';
    if (!(f = fmemopen(out, len, "w")))
        return;
    print_value(k, obj, f);
    fclose(f);
    out[len - 1] = '\0';
}

int vg_conf_same(const struct vg_conf_key *k, const void *a, const void *b)
{
    switch (k->type) {
    case VG_CONF_STR:
    case VG_CONF_PATH: {
        const char *x = *CFIELD(a, k, char *), *y = *CFIELD(b, k, char *);
        return strcmp(x ? x : "", y ? y : "") == 0;
    }
    case VG_CONF_BOOL:
    case VG_CONF_ENUM:
        return *CFIELD(a, k, int) == *CFIELD(b, k, int);
    case VG_CONF_LIST: {
        const struct vg_strlist *x = CFIELD(a, k, struct vg_strlist);
        const struct vg_strlist *y = CFIELD(b, k, struct vg_strlist);
        if (x->n != y->n)
            return 0;
        for (size_t i = 0; i < x->n; i++)
            if (strcmp(x->v[i], y->v[i]) != 0)
                return 0;
        return 1;
    }
    default:
        return *CFIELD(a, k, uint64_t) == *CFIELD(b, k, uint64_t);
    }
}

void vg_conf_swap(const struct vg_conf_key *k, void *a, void *b)
{
    size_t n;
    uint8_t t[sizeof(struct vg_strlist) > sizeof(uint64_t) ? sizeof(struct vg_strlist)
                                                            : sizeof(uint64_t)];
    switch (k->type) {
    case VG_CONF_STR:
    case VG_CONF_PATH: n = sizeof(char *); break;
    case VG_CONF_BOOL:
    case VG_CONF_ENUM: n = sizeof(int); break;
    case VG_CONF_LIST: n = sizeof(struct vg_strlist); break;
    default: n = sizeof(uint64_t); break;
    }
    memcpy(t, (uint8_t *)a + k->offset, n);
    memcpy((uint8_t *)a + k->offset, (uint8_t *)b + k->offset, n);
    memcpy((uint8_t *)b + k->offset, t, n);
}

void vg_conf_dump(const struct vg_conf_key *t, const void *obj, FILE *out)
{
    const char *cur = NULL;
    for (const struct vg_conf_key *k = t; k->key; k++) {
        if (!cur || strcmp(cur, k->section) != 0) {
            fprintf(out, "%s[%s]\n", cur ? "\n" : "", k->section);
            cur = k->section;
        }
        fprintf(out, "%s = ", k->key);
        print_value(k, obj, out);
        fputc('\n', out);
    }
}

void vg_conf_print_example(const struct vg_conf_key *t, FILE *out)
{
    const char *cur = NULL;
    for (const struct vg_conf_key *k = t; k->key; k++) {
        if (!cur || strcmp(cur, k->section) != 0) {
            fprintf(out, "%s[%s]\n", cur ? "\n" : "", k->section);
            cur = k->section;
        }
        fprintf(out, "# %s%s%s\n", k->help ? k->help : "",
                (k->flags & VG_CONF_REQUIRED) ? " (required)" : "",
                (k->flags & VG_CONF_RESTART) ? " (read at start: a reload does not change it)"
                                             : "");
        if (k->type == VG_CONF_ENUM)
            fprintf(out, "# one of: %s\n", k->choices);
        if (k->def)
            fprintf(out, "#%s = %s\n", k->key, k->def);
        else
            fprintf(out, "#%s =\n", k->key);
    }
}
