/*
 * libFuzzer differential target: vg_dpkg_vercmp (lib/vercmp.c).
 *
 * Input: up to three versions, separated by NUL bytes.  Checks, on any
 * bytes: reflexivity (cmp(a,a) == 0), antisymmetry (sign of cmp(a,b) ==
 * -sign of cmp(b,a)) and transitivity over the three (a <= b <= c =>
 * a <= c; equality too).  On versions dpkg accepts (vg_dpkg_version_check)
 * made of the characters of Debian Policy 5.6.12, the sign must agree
 * with ref_cmp below: dpkg's own verrevcmp (lib/dpkg/version.c) written
 * out from the algorithm, with the epoch as a number and the revision
 * after the last hyphen.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vercmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sign(int x) { return (x > 0) - (x < 0); }

/* ---- reference: dpkg's verrevcmp ---- */

static int ref_isdigit(int c) { return c >= '0' && c <= '9'; }
static int ref_isalpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int ref_order(int c)
{
    if (ref_isdigit(c))
        return 0;
    else if (ref_isalpha(c))
        return c;
    else if (c == '~')
        return -1;
    else if (c)
        return c + 256;
    else
        return 0;
}

static int ref_verrevcmp(const char *a, const char *b)
{
    while (*a || *b) {
        int first_diff = 0;
        while ((*a && !ref_isdigit(*a)) || (*b && !ref_isdigit(*b))) {
            int ac = ref_order(*a), bc = ref_order(*b);
            if (ac != bc)
                return ac - bc;
            a++;
            b++;
        }
        while (*a == '0')
            a++;
        while (*b == '0')
            b++;
        while (ref_isdigit(*a) && ref_isdigit(*b)) {
            if (!first_diff)
                first_diff = *a - *b;
            a++;
            b++;
        }
        if (ref_isdigit(*a))
            return 1;
        if (ref_isdigit(*b))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
}

struct ref_ver {
    unsigned long epoch;
    char up[256], rev[256];
};

/* parseversion: epoch before the first ':', revision after the last '-'.
 * Returns -1 for what the reference does not model (long parts). */
static int ref_parse(const char *s, struct ref_ver *v)
{
    const char *colon = strchr(s, ':'), *dash;
    size_t ul;

    v->epoch = 0;
    if (colon) {
        if (colon - s > 9)
            return -1;
        for (const char *p = s; p < colon; p++)
            v->epoch = v->epoch * 10 + (unsigned long)(*p - '0');
        s = colon + 1;
    }
    dash = strrchr(s, '-');
    ul = dash ? (size_t)(dash - s) : strlen(s);
    if (ul >= sizeof(v->up) || (dash && strlen(dash + 1) >= sizeof(v->rev)))
        return -1;
    memcpy(v->up, s, ul);
    v->up[ul] = '\0';
    if (dash)
        memcpy(v->rev, dash + 1, strlen(dash + 1) + 1);
    else
        v->rev[0] = '\0';
    return 0;
}

/* Returns 2 when the reference does not apply. */
static int ref_cmp(const char *a, const char *b)
{
    struct ref_ver x, y;
    int rc;

    for (const char *s = a; *s; s++)
        if (!ref_isdigit(*s) && !ref_isalpha(*s) && !strchr(".+~-:", *s))
            return 2;
    for (const char *s = b; *s; s++)
        if (!ref_isdigit(*s) && !ref_isalpha(*s) && !strchr(".+~-:", *s))
            return 2;
    if (vg_dpkg_version_check(a) || vg_dpkg_version_check(b) || ref_parse(a, &x) ||
        ref_parse(b, &y))
        return 2;
    if (x.epoch != y.epoch)
        return x.epoch > y.epoch ? 1 : -1;
    rc = ref_verrevcmp(x.up, y.up);
    if (rc)
        return sign(rc);
    return sign(ref_verrevcmp(x.rev, y.rev));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[3][512];
    const uint8_t *p = data, *end = data + size;
    int n = 0;

    while (n < 3 && p <= end) {
        const uint8_t *z = memchr(p, '\0', (size_t)(end - p));
        size_t l = z ? (size_t)(z - p) : (size_t)(end - p);
        if (l >= sizeof(buf[n]))
            return 0;
        memcpy(buf[n], p, l);
        buf[n][l] = '\0';
        n++;
        if (!z)
            break;
        p = z + 1;
    }
    for (int i = 0; i < n; i++) {
        if (vg_dpkg_vercmp(buf[i], buf[i]) != 0)
            abort();
        for (int j = 0; j < n; j++) {
            int c = sign(vg_dpkg_vercmp(buf[i], buf[j])), r;
            if (c != -sign(vg_dpkg_vercmp(buf[j], buf[i])))
                abort();
            if ((r = ref_cmp(buf[i], buf[j])) != 2 && r != c)
                abort();
        }
    }
    if (n == 3) {
        int ab = sign(vg_dpkg_vercmp(buf[0], buf[1])), bc = sign(vg_dpkg_vercmp(buf[1], buf[2])),
            ac = sign(vg_dpkg_vercmp(buf[0], buf[2]));
        if (ab <= 0 && bc <= 0 && ac > 0)
            abort();
        if (ab >= 0 && bc >= 0 && ac < 0)
            abort();
        if (ab == 0 && bc == 0 && ac != 0)
            abort();
    }
    return 0;
}
