/* Report manifests; see rsig.h for the format. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "rsig.h"
#include "util.h"

static const char magic[] = "# vigil-report-manifest 1";

int vg_rsig_name_check(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > VG_RSIG_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
            return -EINVAL;
    return 0;
}

int vg_rsig_name_suffix(const char *name, const char *suffix, char *out, size_t len)
{
    const char *dot = strrchr(name, '.');
    int n;
    if (!dot || dot == name)
        n = snprintf(out, len, "%s%s", name, suffix);
    else
        n = snprintf(out, len, "%.*s%s%s", (int)(dot - name), name, suffix, dot);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int is_hex(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == n && s[n] == '\0';
}

static int known_format(const char *f)
{
    return strcmp(f, "csv") == 0 || strcmp(f, "json") == 0 || strcmp(f, "html") == 0;
}

static int known_layout(const char *format, const char *layout)
{
    if (strcmp(format, "html") != 0)
        return layout[0] == '\0';
    return strcmp(layout, "summary") == 0 || strcmp(layout, "full") == 0;
}

/* A value that fits one "# key: value" line. */
static int value_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int vg_rsig_format(const struct vg_rsig *m, char **out, size_t *len)
{
    struct vg_buf b;
    char asof[VG_TIME_STR_MAX], gen[VG_TIME_STR_MAX];
    int rc = 0;

    *out = NULL;
    *len = 0;
    if (!is_hex(m->report_id, 32) || !known_format(m->format) ||
        !known_layout(m->format, m->layout) || !value_ok(m->collector) || m->nfiles == 0 ||
        m->nfiles > VG_RSIG_FILES_MAX)
        return -EINVAL;
    for (size_t i = 0; i < m->nfiles; i++)
        if (vg_rsig_name_check(m->files[i].name) || !is_hex(m->files[i].sha256, 64))
            return -EINVAL;
    vg_buf_init(&b, VG_RSIG_MAX);
    rc |= vg_buf_printf(&b, "%s\n# report_id: %s\n# format: %s\n", magic, m->report_id,
                        m->format);
    if (m->layout[0])
        rc |= vg_buf_printf(&b, "# layout: %s\n", m->layout);
    rc |= vg_buf_printf(&b, "# as_of: %s\n# collector: %s\n# generated: %s\n",
                        vg_time_format(m->as_of_ms, asof, sizeof(asof)), m->collector,
                        vg_time_format(m->generated_ms, gen, sizeof(gen)));
    for (size_t i = 0; i < m->nfiles; i++)
        rc |= vg_buf_printf(&b, "%s  %s\n", m->files[i].sha256, m->files[i].name);
    if (rc) {
        vg_buf_free(&b);
        return -ENOMEM;
    }
    *out = (char *)vg_buf_take(&b, len);
    return *out ? 0 : -ENOMEM;
}

/* Copies a metadata value; 0, or -1 if it was already seen or too long. */
static int meta(const char *v, char *dst, size_t dstlen, int *seen)
{
    if (*seen || strlen(v) >= dstlen)
        return -1;
    *seen = 1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int vg_rsig_parse(const char *text, size_t len, struct vg_rsig *m, char *why, size_t whylen)
{
    char line[512], asof[VG_TIME_STR_MAX] = "", gen[VG_TIME_STR_MAX] = "";
    int s_id = 0, s_fmt = 0, s_lay = 0, s_asof = 0, s_col = 0, s_gen = 0, lineno = 0;
    size_t off = 0;

    memset(m, 0, sizeof(*m));
    if (len > VG_RSIG_MAX || memchr(text, '\0', len) || len == 0 || text[len - 1] != '\n') {
        snprintf(why, whylen, "not a Vigil report manifest (binary, too large or truncated)");
        return VG_EPROTO;
    }
    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = (size_t)(nl - (text + off));
        lineno++;
        if (n >= sizeof(line)) {
            snprintf(why, whylen, "manifest line %d is too long", lineno);
            return VG_EPROTO;
        }
        memcpy(line, text + off, n);
        line[n] = '\0';
        off += n + 1;
        if (lineno == 1) {
            if (strcmp(line, magic) != 0) {
                snprintf(why, whylen, "not a Vigil report manifest (or of a later version: "
                                      "this vigilctl reads version 1)");
                return VG_EPROTO;
            }
            continue;
        }
        if (line[0] == '#') {
            const char *colon = strstr(line, ": ");
            const char *v = colon ? colon + 2 : NULL;
            int bad = 0;
            if (m->nfiles) {
                snprintf(why, whylen, "manifest line %d: a '#' line after the files", lineno);
                return VG_EPROTO;
            }
            if (!v || strncmp(line, "# ", 2) != 0)
                continue; /* a comment */
#define KEY(k) ((size_t)(colon - line) == strlen("# " k) && strncmp(line + 2, k, strlen(k)) == 0)
            if (KEY("report_id"))
                bad = meta(v, m->report_id, sizeof(m->report_id), &s_id);
            else if (KEY("format"))
                bad = meta(v, m->format, sizeof(m->format), &s_fmt);
            else if (KEY("layout"))
                bad = meta(v, m->layout, sizeof(m->layout), &s_lay);
            else if (KEY("as_of"))
                bad = meta(v, asof, sizeof(asof), &s_asof);
            else if (KEY("collector"))
                bad = meta(v, m->collector, sizeof(m->collector), &s_col);
            else if (KEY("generated"))
                bad = meta(v, gen, sizeof(gen), &s_gen);
#undef KEY
            if (bad) {
                snprintf(why, whylen, "manifest line %d: a repeated or overlong value", lineno);
                return VG_EPROTO;
            }
            continue;
        }
        if (n < 67 || line[64] != ' ' || line[65] != ' ') {
            snprintf(why, whylen, "manifest line %d is not \"SHA256  NAME\"", lineno);
            return VG_EPROTO;
        }
        line[64] = '\0';
        if (!is_hex(line, 64) || vg_rsig_name_check(line + 66) != 0) {
            snprintf(why, whylen, "manifest line %d: a malformed hash or file name", lineno);
            return VG_EPROTO;
        }
        if (m->nfiles == VG_RSIG_FILES_MAX) {
            snprintf(why, whylen, "the manifest lists more than %d files", VG_RSIG_FILES_MAX);
            return VG_EPROTO;
        }
        for (size_t i = 0; i < m->nfiles; i++)
            if (strcmp(m->files[i].name, line + 66) == 0) {
                snprintf(why, whylen, "the manifest lists %s twice", line + 66);
                return VG_EPROTO;
            }
        memcpy(m->files[m->nfiles].sha256, line, 65);
        vg_strlcpy(m->files[m->nfiles].name, line + 66, sizeof(m->files[0].name));
        m->nfiles++;
    }
    if (!s_id || !is_hex(m->report_id, 32) || !s_fmt || !known_format(m->format) ||
        !known_layout(m->format, m->layout) || !s_col || !value_ok(m->collector) || !s_asof ||
        vg_time_parse(asof, &m->as_of_ms) != 0 || !s_gen ||
        vg_time_parse(gen, &m->generated_ms) != 0) {
        snprintf(why, whylen, "the manifest lacks or garbles its report_id, format, layout, "
                              "as_of, collector or generated line");
        return VG_EPROTO;
    }
    if (m->nfiles == 0) {
        snprintf(why, whylen, "the manifest lists no files");
        return VG_EPROTO;
    }
    return 0;
}

int vg_rsig_verify(const char *text, size_t len, const uint8_t *sig, size_t siglen,
                   const char *cert_pem, const struct vg_cert *ca, struct vg_rsig *m, char *why,
                   size_t whylen)
{
    struct vg_cert *cert = NULL;
    struct vg_cert_info ci;
    int rc;

    memset(&ci, 0, sizeof(ci));
    if ((rc = vg_rsig_parse(text, len, m, why, whylen)) != 0)
        return rc;
    /* Evidence outlives certificates: the collector's certificate must
     * have been valid when it signed, not now.  The time is the
     * manifest's own, trusted once the signature below holds. */
    if ((rc = vg_cert_collector(cert_pem, ca, m->generated_ms, &cert, why, whylen)) != 0)
        return rc;
    rc = VG_ECRYPTO;
    if (siglen == 0 || siglen > VG_SIG_MAX || vg_verify(cert, text, len, sig, siglen) != 0) {
        snprintf(why, whylen, "the signature does not match the manifest: the manifest or its "
                              "signature was altered, or another key signed it");
        goto out;
    }
    rc = VG_ECERT;
    if (vg_cert_info(cert, &ci) != 0 || strcmp(ci.cn, m->collector) != 0) {
        snprintf(why, whylen, "the manifest names collector '%s' but its certificate is '%s'",
                 m->collector, ci.cn);
        goto out;
    }
    rc = 0;
out:
    vg_cert_free(cert);
    return rc;
}
