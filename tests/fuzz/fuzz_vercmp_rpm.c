/*
 * libFuzzer differential target: vg_rpm_vercmp and vg_rpm_evr_strcmp
 * (lib/vercmp.c).
 *
 * Input: up to three versions, separated by NUL bytes.  Checks, for both
 * functions: reflexivity, antisymmetry and transitivity over the three;
 * and that vg_rpm_vercmp agrees in sign with ref_rpmvercmp below, rpm's
 * rpmvercmp (rpmio/rpmvercmp.c) written out from its algorithm:
 * alphanumeric segments, numbers newer than letters, '~' before
 * anything, '^' after the end but before anything else.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vercmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sign(int x) { return (x > 0) - (x < 0); }

static int r_digit(int c) { return c >= '0' && c <= '9'; }
static int r_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int r_alnum(int c) { return r_digit(c) || r_alpha(c); }

static int ref_rpmvercmp(const char *a, const char *b)
{
    char abuf[512], bbuf[512], oldch1, oldch2;
    char *str1 = abuf, *str2 = bbuf, *one, *two;
    int rc, isnum;

    if (strcmp(a, b) == 0)
        return 0;
    memcpy(abuf, a, strlen(a) + 1);
    memcpy(bbuf, b, strlen(b) + 1);
    one = str1;
    two = str2;
    while (*one || *two) {
        while (*one && !r_alnum(*one) && *one != '~' && *one != '^')
            one++;
        while (*two && !r_alnum(*two) && *two != '~' && *two != '^')
            two++;
        if (*one == '~' || *two == '~') {
            if (*one != '~')
                return 1;
            if (*two != '~')
                return -1;
            one++;
            two++;
            continue;
        }
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
        if (!(*one && *two))
            break;
        str1 = one;
        str2 = two;
        if (r_digit(*str1)) {
            while (*str1 && r_digit(*str1))
                str1++;
            while (*str2 && r_digit(*str2))
                str2++;
            isnum = 1;
        } else {
            while (*str1 && r_alpha(*str1))
                str1++;
            while (*str2 && r_alpha(*str2))
                str2++;
            isnum = 0;
        }
        oldch1 = *str1;
        *str1 = '\0';
        oldch2 = *str2;
        *str2 = '\0';
        if (one == str1)
            return -1; /* arbitrary */
        if (two == str2)
            return isnum ? 1 : -1;
        if (isnum) {
            size_t onelen, twolen;
            while (*one == '0')
                one++;
            while (*two == '0')
                two++;
            onelen = strlen(one);
            twolen = strlen(two);
            if (onelen > twolen)
                return 1;
            if (twolen > onelen)
                return -1;
        }
        rc = strcmp(one, two);
        if (rc)
            return rc < 1 ? -1 : 1;
        *str1 = oldch1;
        one = str1;
        *str2 = oldch2;
        two = str2;
    }
    if (!*one && !*two)
        return 0;
    return !*one ? -1 : 1;
}

static void props(int (*cmp)(const char *, const char *), char v[][512], int n)
{
    for (int i = 0; i < n; i++) {
        if (cmp(v[i], v[i]) != 0)
            abort();
        for (int j = 0; j < n; j++)
            if (sign(cmp(v[i], v[j])) != -sign(cmp(v[j], v[i])))
                abort();
    }
    if (n == 3) {
        int ab = sign(cmp(v[0], v[1])), bc = sign(cmp(v[1], v[2])), ac = sign(cmp(v[0], v[2]));
        if ((ab <= 0 && bc <= 0 && ac > 0) || (ab >= 0 && bc >= 0 && ac < 0) ||
            (ab == 0 && bc == 0 && ac != 0))
            abort();
    }
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
    props(vg_rpm_vercmp, buf, n);
    props(vg_rpm_evr_strcmp, buf, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (sign(vg_rpm_vercmp(buf[i], buf[j])) != ref_rpmvercmp(buf[i], buf[j]))
                abort();
    return 0;
}
