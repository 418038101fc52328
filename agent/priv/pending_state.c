/*
 * Pending-update lists, and when each pending update was first seen.
 *
 * The first-seen times live in STATE_DIR/pending-seen, a text file of
 * tab-separated lines, rewritten atomically when it changes:
 *
 *   # vigil pending-seen 1
 *   NAME <TAB> ARCH <TAB> INSTALLED-VERSION <TAB> FIRST-SEEN-MS <TAB> SECURITY-FIRST-SEEN-MS
 *
 * The key is the installed version, not the candidate: a host that has
 * been missing a fix since day 0 is still missing it on day 20 when a
 * newer candidate replaces the first one, and the 14-day rule auditors
 * apply counts from day 0.  Upgrading the package ends the entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pending.h"
#include "util.h"

#define SEEN_MAX (64u * 1024 * 1024)
#define SEEN_HEADER "# vigil pending-seen 1\n"

void pending_free_one(struct pending *p)
{
    free(p->name);
    free(p->arch);
    free(p->installed);
    free(p->candidate);
    free(p->archive);
    free(p->origin);
    free(p->label);
    free(p->site);
    free(p->advisory);
    free(p->severity);
    memset(p, 0, sizeof(*p));
}

void pending_list_free(struct pending_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        pending_free_one(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int pending_list_push(struct pending_list *l, struct pending *p)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct pending *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) {
            pending_free_one(p);
            return -ENOMEM;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *p;
    return 0;
}

struct seen {
    char *name, *arch, *installed;
    int64_t first, security_first;
};

struct pending_seen {
    struct seen *v;
    size_t n;
    int unreadable; /* load failed: never overwrite what we could not read */
};

static int seen_cmp(const void *x, const void *y)
{
    const struct seen *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    if (!c)
        c = strcmp(a->arch, b->arch);
    return c ? c : strcmp(a->installed, b->installed);
}

static void seen_free_entries(struct seen *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].arch);
        free(v[i].installed);
    }
    free(v);
}

void pending_seen_free(struct pending_seen *s)
{
    if (!s)
        return;
    seen_free_entries(s->v, s->n);
    free(s);
}

struct pending_seen *pending_seen_load(const char *path, unsigned *bad)
{
    struct pending_seen *s = calloc(1, sizeof(*s));
    char *text = NULL, *p, *save = NULL;
    size_t cap = 0;
    int rc;

    *bad = 0;
    if (!s)
        return NULL;
    rc = vg_file_read(path, SEEN_MAX, &text, NULL);
    if (rc) {
        if (rc != -ENOENT) {
            (*bad)++;
            s->unreadable = 1;
        }
        return s; /* start afresh */
    }
    for (p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
        char *f[5], *end1, *end2, *q = p;
        struct seen e;
        int nf = 0;
        long long a, b;
        /* Comments have no tab: a data line whose name starts with '#'
         * is data (it was saved so). */
        if (p[0] == '#' && !strchr(p, '\t'))
            continue;
        while (nf < 5 && q) {
            f[nf++] = q;
            q = strchr(q, '\t');
            if (q)
                *q++ = '\0';
        }
        if (nf != 5 || q || !f[0][0] || !f[2][0]) {
            (*bad)++;
            continue;
        }
        errno = 0;
        a = strtoll(f[3], &end1, 10);
        b = strtoll(f[4], &end2, 10);
        if (errno || *end1 || *end2 || a <= 0 || b < 0) {
            (*bad)++;
            continue;
        }
        if (s->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct seen *nv = realloc(s->v, nc * sizeof(*nv));
            if (!nv) {
                s->unreadable = 1; /* partial: do not save over the file */
                break;
            }
            s->v = nv;
            cap = nc;
        }
        e.name = strdup(f[0]);
        e.arch = strdup(f[1]);
        e.installed = strdup(f[2]);
        e.first = a;
        e.security_first = b;
        if (!e.name || !e.arch || !e.installed) {
            free(e.name);
            free(e.arch);
            free(e.installed);
            s->unreadable = 1;
            break;
        }
        s->v[s->n++] = e;
    }
    free(text);
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), seen_cmp);
    /* Duplicate keys (a hand-edited file): keep the earliest. */
    for (size_t i = 1; i < s->n;) {
        if (seen_cmp(&s->v[i - 1], &s->v[i]) == 0) {
            if (s->v[i].first < s->v[i - 1].first)
                s->v[i - 1].first = s->v[i].first;
            if (s->v[i].security_first &&
                (!s->v[i - 1].security_first || s->v[i].security_first < s->v[i - 1].security_first))
                s->v[i - 1].security_first = s->v[i].security_first;
            free(s->v[i].name);
            free(s->v[i].arch);
            free(s->v[i].installed);
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
            s->n--;
            (*bad)++;
        } else {
            i++;
        }
    }
    return s;
}

static int pending_cmp(const void *x, const void *y)
{
    const struct pending *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    if (!c)
        c = strcmp(a->arch, b->arch);
    if (!c)
        c = strcmp(a->installed, b->installed);
    if (!c)
        c = strcmp(a->candidate, b->candidate);
    return c ? c : strcmp(a->advisory ? a->advisory : "", b->advisory ? b->advisory : "");
}

void pending_list_sort(struct pending_list *l)
{
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), pending_cmp);
}

int pending_seen_apply(struct pending_seen *s, struct pending_list *l, int64_t now_ms,
                       int keep_missing)
{
    size_t cap = l->n + (keep_missing ? s->n : 0);
    struct seen *nv = calloc(cap ? cap : 1, sizeof(*nv));
    char *taken = calloc(s->n ? s->n : 1, 1);
    size_t nn = 0;
    int changed = 0;

    if (!nv || !taken) {
        free(nv);
        free(taken);
        return 0; /* keep the old times; retried next time */
    }
    pending_list_sort(l);
    for (size_t i = 0; i < l->n; i++) {
        struct pending *p = &l->v[i];
        struct seen key = { p->name, p->arch, p->installed, 0, 0 }, *e;
        /* Sorted: several advisories for one package share an entry. */
        if (nn && seen_cmp(&nv[nn - 1], &key) == 0) {
            e = &nv[nn - 1];
        } else {
            struct seen *old = s->n ? bsearch(&key, s->v, s->n, sizeof(*s->v), seen_cmp) : NULL;
            e = &nv[nn];
            e->name = strdup(p->name);
            e->arch = strdup(p->arch);
            e->installed = strdup(p->installed);
            if (!e->name || !e->arch || !e->installed) {
                seen_free_entries(nv, nn + 1);
                free(taken);
                return 0;
            }
            nn++;
            if (old) {
                e->first = old->first;
                e->security_first = old->security_first;
                taken[old - s->v] = 1;
            } else {
                e->first = now_ms;
                changed = 1;
            }
        }
        if (p->security && e->security_first == 0 && now_ms) {
            e->security_first = now_ms;
            changed = 1;
        }
        p->first_seen_ms = e->first;
        p->security_first_seen_ms = p->security ? e->security_first : 0;
    }
    /* Entries not in the list: gone, unless the list is incomplete. */
    for (size_t i = 0; i < s->n; i++) {
        if (taken[i])
            continue;
        if (keep_missing) {
            nv[nn++] = s->v[i];
            s->v[i].name = s->v[i].arch = s->v[i].installed = NULL;
        } else {
            changed = 1;
        }
    }
    /* Unstamped new ones (now_ms 0) are not recorded. */
    for (size_t i = 0; i < nn;) {
        if (nv[i].first == 0) {
            free(nv[i].name);
            free(nv[i].arch);
            free(nv[i].installed);
            nv[i] = nv[--nn];
        } else {
            i++;
        }
    }
    free(taken);
    seen_free_entries(s->v, s->n);
    s->v = nv;
    s->n = nn;
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), seen_cmp);
    return changed;
}

int pending_seen_save(struct pending_seen *s, const char *path)
{
    if (s->unreadable)
        return -EIO;
    size_t cap = strlen(SEEN_HEADER) + 1;
    char *buf, *o;
    int rc;

    for (size_t i = 0; i < s->n; i++)
        cap += strlen(s->v[i].name) + strlen(s->v[i].arch) + strlen(s->v[i].installed) + 48;
    buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    o = buf + snprintf(buf, cap, "%s", SEEN_HEADER);
    for (size_t i = 0; i < s->n; i++) {
        if (strpbrk(s->v[i].name, "\t\n") || strpbrk(s->v[i].arch, "\t\n") ||
            strpbrk(s->v[i].installed, "\t\n"))
            continue; /* cannot be written back; dpkg and rpm names never hold them */
        o += snprintf(o, cap - (size_t)(o - buf), "%s\t%s\t%s\t%lld\t%lld\n", s->v[i].name, s->v[i].arch,
                     s->v[i].installed, (long long)s->v[i].first,
                     (long long)s->v[i].security_first);
    }
    rc = vg_file_write_atomic(path, buf, (size_t)(o - buf), 0600, 0);
    free(buf);
    return rc;
}
