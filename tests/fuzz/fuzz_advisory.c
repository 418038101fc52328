/* libFuzzer target: advisory feeds (Debian tracker JSON, DSA/DLA lists,
 * Red Hat CSAF) through detection and every parser, checking what each
 * fix and each error looks like. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../collector/advisory.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A printable one-line string of at most max bytes (empty if allowed). */
static void want(const char *s, size_t max, int empty_ok, int spaces_ok)
{
    size_t n;

    if (!s)
        abort();
    for (n = 0; s[n]; n++)
        if (n >= max || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f ||
            (!spaces_ok && s[n] == ' '))
            abort();
    if (!n && !empty_ok)
        abort();
}

/* Space-separated, no empty item, no item twice in a row. */
static void want_list(const char *s)
{
    const char *prev = NULL, *p = s;

    want(s, (size_t)1 << 30, 1, 1);
    if (!*s)
        return;
    if (s[0] == ' ' || s[strlen(s) - 1] == ' ' || strstr(s, "  "))
        abort();
    while (p) {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        if (prev && (size_t)(p - prev - 1) == l && memcmp(prev, p, l) == 0)
            abort();
        prev = p;
        p = sp ? sp + 1 : NULL;
    }
}

static int check(void *ctx, const struct adv_fix *f)
{
    size_t *n = ctx;

    want(f->release, 64, 0, 0);
    want(f->package, ADV_STR_MAX, 0, 0);
    want(f->arch, 32, 1, 0);
    want(f->fixed_version, ADV_STR_MAX, 1, 0);
    want(f->advisory, 64, 1, 0);
    want_list(f->cves);
    want_list(f->platforms);
    want(f->urgency, 64, 1, 1);
    if (strcmp(f->severity, "") && strcmp(f->severity, "low") && strcmp(f->severity, "moderate") &&
        strcmp(f->severity, "important") && strcmp(f->severity, "critical"))
        abort();
    if (!(f->cvss == -1 || (f->cvss >= 0 && f->cvss <= 10)))
        abort();
    if (f->released_ms < 0)
        abort();
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum adv_format fmts[] = { ADV_AUTO, ADV_DEBIAN_JSON, ADV_DSA_LIST, ADV_CSAF };
    const char *buf = (const char *)data;
    char err[256], key[ADV_DOC_KEY_MAX];
    enum adv_format f;

    if (adv_detect(buf, size, &f, err, sizeof(err)) != 0 && !err[0])
        abort();
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        struct adv_stats st;
        size_t n = 0;
        int rc = adv_parse_stats(fmts[i], buf, size, check, &n, key, sizeof(key), &st, err,
                                 sizeof(err));
        if (rc != 0 && rc != VG_EPROTO)
            abort();
        if (st.fixes != n || (rc && !err[0]) || (!rc && err[0]))
            abort();
        want(err, sizeof(err), 1, 1);
        want(key, ADV_DOC_KEY_MAX, 1, 0);
        want(st.skip_reason, sizeof(st.skip_reason), st.skipped == 0, 1);
    }
    return 0;
}
