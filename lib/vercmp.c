#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vercmp.h"

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* ---- dpkg ---- */

/* Sort weight of a character in a non-digit part. */
static int dpkg_order(int c)
{
    if (is_digit(c))
        return 0;
    if (is_alpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c)
        return c + 256;
    return 0;
}

/* Compares two upstream versions or two revisions (a..ae, b..be). */
static int dpkg_part(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae || b < be) {
        int first_diff = 0;
        while ((a < ae && !is_digit(*a)) || (b < be && !is_digit(*b))) {
            int ac = a < ae ? dpkg_order(*a) : 0;
            int bc = b < be ? dpkg_order(*b) : 0;
            if (ac != bc)
                return ac - bc;
            if (a < ae)
                a++;
            if (b < be)
                b++;
        }
        while (a < ae && *a == '0')
            a++;
        while (b < be && *b == '0')
            b++;
        while (a < ae && b < be && is_digit(*a) && is_digit(*b)) {
            if (!first_diff)
                first_diff = *a - *b;
            a++;
            b++;
        }
        if (a < ae && is_digit(*a))
            return 1;
        if (b < be && is_digit(*b))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
}

struct dver {
    uint64_t epoch;
    const char *up, *up_end, *rev, *rev_end;
};

static void dpkg_split(const char *v, struct dver *d)
{
    const char *colon, *dash, *end;

    if (!v)
        v = "";
    while (*v == ' ' || *v == '\t')
        v++;
    end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    d->epoch = 0;
    colon = memchr(v, ':', (size_t)(end - v));
    if (colon) {
        for (const char *p = v; p < colon; p++)
            if (is_digit(*p) && d->epoch < UINT64_MAX / 10)
                d->epoch = d->epoch * 10 + (uint64_t)(*p - '0');
        v = colon + 1;
    }
    dash = NULL;
    for (const char *p = v; p < end; p++)
        if (*p == '-')
            dash = p;
    d->up = v;
    if (dash) {
        d->up_end = dash;
        d->rev = dash + 1;
        d->rev_end = end;
    } else {
        d->up_end = end;
        d->rev = d->rev_end = end;
    }
}

int vg_dpkg_vercmp(const char *a, const char *b)
{
    struct dver x, y;
    int rc;

    dpkg_split(a, &x);
    dpkg_split(b, &y);
    if (x.epoch != y.epoch)
        return x.epoch < y.epoch ? -1 : 1;
    rc = dpkg_part(x.up, x.up_end, y.up, y.up_end);
    if (rc)
        return rc;
    return dpkg_part(x.rev, x.rev_end, y.rev, y.rev_end);
}

int vg_dpkg_version_check(const char *v)
{
    struct dver d;
    const char *colon = strchr(v, ':');

    if (!*v)
        return -EINVAL;
    if (colon) {
        if (colon == v)
            return -EINVAL;
        for (const char *p = v; p < colon; p++)
            if (!is_digit(*p))
                return -EINVAL;
    }
    dpkg_split(v, &d);
    if (d.up == d.up_end || !is_digit(*d.up))
        return -EINVAL;
    for (const char *p = d.up; p < d.up_end; p++)
        if (!is_digit(*p) && !is_alpha(*p) && !strchr(".-+~:", *p))
            return -EINVAL;
    if (v[strlen(v) - 1] == '-')
        return -EINVAL; /* "1.0-": empty revision */
    for (const char *p = d.rev; p < d.rev_end; p++)
        if (!is_digit(*p) && !is_alpha(*p) && !strchr(".+~", *p))
            return -EINVAL;
    return 0;
}

/* ---- rpm ---- */

int vg_rpm_vercmp(const char *a, const char *b)
{
    const char *one, *two;

    if (!a)
        a = "";
    if (!b)
        b = "";
    if (strcmp(a, b) == 0)
        return 0;
    one = a;
    two = b;
    while (*one || *two) {
        const char *s1, *s2;
        int isnum;
        size_t l1, l2;
        int rc;

        while (*one && !is_alpha(*one) && !is_digit(*one) && *one != '~' && *one != '^')
            one++;
        while (*two && !is_alpha(*two) && !is_digit(*two) && *two != '~' && *two != '^')
            two++;
        /* '~' sorts before everything, the end of the string included. */
        if (*one == '~' || *two == '~') {
            if (*one != '~')
                return 1;
            if (*two != '~')
                return -1;
            one++;
            two++;
            continue;
        }
        /* '^' sorts after the end of the string, before anything else. */
        if (*one == '^' || *two == '^') {
            if (!*one)
                return -1;
            if (!*two)
                return 1;
            if (*one != '^')
                return 1;
            if (*two != '^')
                return -1;
            one++;
            two++;
            continue;
        }
        if (!*one || !*two)
            break;
        s1 = one;
        s2 = two;
        if (is_digit(*s1)) {
            while (is_digit(*s1))
                s1++;
            while (is_digit(*s2))
                s2++;
            isnum = 1;
        } else {
            while (is_alpha(*s1))
                s1++;
            while (is_alpha(*s2))
                s2++;
            isnum = 0;
        }
        /* Segments of different types: a number is newer. */
        if (two == s2)
            return isnum ? 1 : -1;
        if (isnum) {
            while (one < s1 && *one == '0')
                one++;
            while (two < s2 && *two == '0')
                two++;
            if (s1 - one != s2 - two)
                return s1 - one > s2 - two ? 1 : -1;
        }
        l1 = (size_t)(s1 - one);
        l2 = (size_t)(s2 - two);
        rc = memcmp(one, two, l1 < l2 ? l1 : l2);
        if (rc)
            return rc < 0 ? -1 : 1;
        if (l1 != l2)
            return l1 < l2 ? -1 : 1;
        one = s1;
        two = s2;
    }
    if (!*one && !*two)
        return 0;
    return !*one ? -1 : 1;
}

static uint64_t epoch_num(const char *e)
{
    uint64_t v = 0;
    for (; e && is_digit(*e); e++)
        if (v < UINT64_MAX / 10)
            v = v * 10 + (uint64_t)(*e - '0');
    return v;
}

int vg_rpm_evrcmp(const char *ea, const char *va, const char *ra, const char *eb,
                  const char *vb, const char *rb)
{
    uint64_t x = epoch_num(ea), y = epoch_num(eb);
    int rc;

    if (x != y)
        return x < y ? -1 : 1;
    rc = vg_rpm_vercmp(va, vb);
    if (rc)
        return rc;
    return vg_rpm_vercmp(ra, rb);
}

/* Splits "[E:]V[-R]" into buf: epoch, version and release pointers. */
static void split_evr(const char *s, char *buf, size_t n, const char **e, const char **v,
                      const char **r)
{
    char *colon, *dash;
    snprintf(buf, n, "%s", s ? s : "");
    *e = "";
    *v = buf;
    *r = "";
    colon = strchr(buf, ':');
    if (colon) {
        const char *c = buf;
        while (c < colon && *c >= '0' && *c <= '9')
            c++;
        if (c == colon) {
            *colon = '\0';
            *e = buf;
            *v = colon + 1;
        }
    }
    dash = strrchr(*v, '-');
    if (dash) {
        *dash = '\0';
        *r = dash + 1;
    }
}

int vg_rpm_evr_strcmp(const char *a, const char *b)
{
    char ba[512], bb[512];
    const char *ea, *va, *ra, *eb, *vb, *rb;
    split_evr(a, ba, sizeof(ba), &ea, &va, &ra);
    split_evr(b, bb, sizeof(bb), &eb, &vb, &rb);
    return vg_rpm_evrcmp(ea, va, ra, eb, vb, rb);
}
