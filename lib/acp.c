/* Audit checkpoints; see acp.h for the format. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acp.h"
#include "err.h"
#include "util.h"

void vg_acp_entry_hash(const char *prev, int64_t id, int64_t time_ms, const char *actor,
                       const char *action, const char *target, const char *detail,
                       const char *result, char out[VG_SHA256_HEX])
{
    struct vg_sha256 *h = vg_sha256_new();
    uint8_t d[VG_SHA256_LEN];
    char num[48];
    const char *f[7];

    out[0] = '\0';
    if (!h)
        return;
    snprintf(num, sizeof(num), "%lld|%lld", (long long)id, (long long)time_ms);
    f[0] = prev;
    f[1] = num;
    f[2] = actor;
    f[3] = action;
    f[4] = target;
    f[5] = detail;
    f[6] = result;
    for (int i = 0; i < 7; i++) {
        const char *v = f[i] ? f[i] : "";
        char len[24];
        int n = snprintf(len, sizeof(len), "%zu:", strlen(v));
        vg_sha256_update(h, len, (size_t)n);
        vg_sha256_update(h, v, strlen(v));
    }
    vg_sha256_final(h, d);
    vg_hex(d, sizeof(d), out);
}

static int is_hex64(const char *s)
{
    size_t i;
    for (i = 0; i < 64 && s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == 64 && s[64] == '\0';
}

static int known_reason(const char *r)
{
    return strcmp(r, "start") == 0 || strcmp(r, "interval") == 0 || strcmp(r, "idle") == 0 ||
           strcmp(r, "stop") == 0;
}

/* The signed part of cp into out.  Returns its length, or -EINVAL or
 * -ENOSPC. */
static int signed_part(const struct vg_acp *cp, char *out, size_t outlen)
{
    char t[VG_TIME_STR_MAX];
    int n;
    if (!is_hex64(cp->head) || !is_hex64(cp->prev) || !known_reason(cp->reason) ||
        cp->last < 0 || cp->seq == 0)
        return -EINVAL;
    n = snprintf(out, outlen, VG_ACP_MAGIC "seq=%llu time=%s entries=%llu last=%lld head=%s "
                 "prev=%s reason=%s", (unsigned long long)cp->seq,
                 vg_time_format(cp->time_ms, t, sizeof(t)), (unsigned long long)cp->entries,
                 (long long)cp->last, cp->head, cp->prev, cp->reason);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : n;
}

static void link_of(const char *text, size_t len, char out[VG_SHA256_HEX])
{
    uint8_t h[VG_SHA256_LEN];
    if (vg_sha256(text, len, h) != 0) {
        out[0] = '\0';
        return;
    }
    vg_hex(h, sizeof(h), out);
}

int vg_acp_sign(struct vg_acp *cp, const struct vg_key *k, char *line, size_t linelen)
{
    char hex[2 * VG_SIG_MAX + 1];
    int n, rc;
    size_t m;

    if ((n = signed_part(cp, line, linelen)) < 0)
        return n;
    if ((rc = vg_sign(k, line, (size_t)n, cp->sig, &cp->siglen)) != 0)
        return rc;
    link_of(line, (size_t)n, cp->link);
    vg_hex(cp->sig, cp->siglen, hex);
    m = (size_t)n;
    n = snprintf(line + m, linelen - m, " sig=%s", hex);
    return n < 0 || (size_t)n >= linelen - m ? -ENOSPC : 0;
}

/* The value of "name=" at *p, up to the next space (or the end): copied
 * into out, *p moved past it and its space. */
static int field(const char **p, const char *end, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name), vl;
    const char *v, *sp;
    if ((size_t)(end - *p) < nl + 1 || memcmp(*p, name, nl) != 0 || (*p)[nl] != '=')
        return -1;
    v = *p + nl + 1;
    sp = memchr(v, ' ', (size_t)(end - v));
    vl = (size_t)((sp ? sp : end) - v);
    if (vl == 0 || vl >= outlen)
        return -1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    *p = sp ? sp + 1 : end;
    return 0;
}

int vg_acp_parse(const char *line, size_t len, struct vg_acp *cp, char *why, size_t whylen)
{
    char buf[VG_ACP_LINE_MAX + 1], v[2 * VG_SIG_MAX + 2], canon[VG_ACP_LINE_MAX];
    const char *p, *end, *start, *sigat;
    uint64_t u;
    int n;

    memset(cp, 0, sizeof(*cp));
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len > VG_ACP_LINE_MAX || memchr(line, '\0', len)) {
        snprintf(why, whylen, "not a checkpoint (too long, or a NUL byte)");
        return VG_EPROTO;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (!(start = strstr(buf, VG_ACP_MAGIC))) {
        snprintf(why, whylen, "not a checkpoint (no '%.22s')", VG_ACP_MAGIC);
        return VG_EPROTO;
    }
    end = buf + len;
    p = start + strlen(VG_ACP_MAGIC);
#define F(name)                                                                    \
    if (field(&p, end, name, v, sizeof(v)) != 0) {                                 \
        snprintf(why, whylen, "checkpoint: field '%s' missing or malformed", name); \
        return VG_EPROTO;                                                          \
    }
    F("seq");
    if (vg_parse_u64(v, 1, UINT64_MAX, &cp->seq) != 0)
        goto bad;
    F("time");
    if (vg_time_parse(v, &cp->time_ms) != 0)
        goto bad;
    F("entries");
    if (vg_parse_u64(v, 0, INT64_MAX, &cp->entries) != 0)
        goto bad;
    F("last");
    if (vg_parse_u64(v, 0, INT64_MAX, &u) != 0)
        goto bad;
    cp->last = (int64_t)u;
    F("head");
    vg_strlcpy(cp->head, v, sizeof(cp->head));
    F("prev");
    vg_strlcpy(cp->prev, v, sizeof(cp->prev));
    F("reason");
    vg_strlcpy(cp->reason, v, sizeof(cp->reason));
    sigat = p - 1;
    F("sig");
#undef F
    if (p != end || vg_unhex(v, cp->sig, sizeof(cp->sig), &cp->siglen) != 0 || !cp->siglen)
        goto bad;
    /* Only the canonical form: what is signed is what vg_acp_sign wrote. */
    n = signed_part(cp, canon, sizeof(canon));
    if (n < 0 || (size_t)n != (size_t)(sigat - start) || memcmp(canon, start, (size_t)n) != 0)
        goto bad;
    link_of(start, (size_t)n, cp->link);
    return 0;
bad:
    snprintf(why, whylen, "checkpoint: a field is malformed or not in its canonical form");
    return VG_EPROTO;
}

int vg_acp_verify(const struct vg_acp *cp, const struct vg_key *k)
{
    char text[VG_ACP_LINE_MAX];
    int n = signed_part(cp, text, sizeof(text));
    if (n < 0)
        return VG_ECRYPTO;
    return vg_key_verify(k, text, (size_t)n, cp->sig, cp->siglen);
}
