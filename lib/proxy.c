/* HTTP CONNECT proxies: see proxy.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "err.h"
#include "proxy.h"
#include "util.h"

#define URL_HINT "expected http://[USER:PASSWORD@]HOST:PORT, e.g. http://proxy.example.org:3128"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes in[0..n) into out (NUL-terminated).  Returns 0 or -1
 * (a bad escape, a NUL or control character, or too long). */
static int pct_decode(const char *in, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval((unsigned char)in[i + 1]);
            lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f || o + 1 >= outlen)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

int vg_proxy_parse(const char *url, struct vg_proxy *p, char *err, size_t errlen)
{
    const char *s, *at, *end, *hp, *colon;
    size_t hl, ul;
    uint64_t port;
    char portstr[8];
    int bracketed = 0;

    memset(p, 0, sizeof(*p));
    if (!url || strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "[collector] proxy: %s%s", url && strstr(url, "://") &&
                 strncmp(url, "https://", 8) == 0 ? "https:// proxies are not supported; "
                                                  : "",
                 URL_HINT);
        return VG_ECONFIG;
    }
    s = url + 7;
    end = s + strcspn(s, "/?#");
    if (*end && strcmp(end, "/") != 0) {
        snprintf(err, errlen, "[collector] proxy: no path, query or fragment after HOST:PORT; "
                 "%s", URL_HINT);
        return VG_ECONFIG;
    }
    /* The last '@' before the host: a password may hold a raw one. */
    at = NULL;
    for (const char *q = s; q < end; q++)
        if (*q == '@')
            at = q;
    hp = s;
    if (at) {
        const char *uc;
        char user[VG_PROXY_AUTH_MAX], pass[VG_PROXY_AUTH_MAX];
        ul = (size_t)(at - s);
        uc = memchr(s, ':', ul);
        if (!uc || uc == s ||
            pct_decode(s, (size_t)(uc - s), user, sizeof(user)) != 0 ||
            pct_decode(uc + 1, (size_t)(at - uc - 1), pass, sizeof(pass)) != 0 ||
            strchr(user, ':') ||
            snprintf(p->auth, sizeof(p->auth), "%s:%s", user, pass) >= (int)sizeof(p->auth)) {
            vg_zeroize(user, sizeof(user));
            vg_zeroize(pass, sizeof(pass));
            vg_proxy_clear(p);
            snprintf(err, errlen, "[collector] proxy: the credentials before '@' must be "
                     "USER:PASSWORD (percent-encode ':', '@', '/' and '%%' in them; no control "
                     "characters; at most %d bytes); %s", VG_PROXY_AUTH_MAX - 1, URL_HINT);
            return VG_ECONFIG;
        }
        vg_zeroize(user, sizeof(user));
        vg_zeroize(pass, sizeof(pass));
        vg_strlcpy(p->auth_from, "[collector] proxy", sizeof(p->auth_from));
        hp = at + 1;
    }
    colon = NULL;
    for (const char *q = hp; q < end; q++)
        if (*q == ':')
            colon = q;
    hl = colon ? (size_t)(colon - hp) : 0;
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
        bracketed = 1;
    }
    portstr[0] = '\0';
    if (colon && (size_t)(end - colon - 1) < sizeof(portstr)) {
        memcpy(portstr, colon + 1, (size_t)(end - colon - 1));
        portstr[end - colon - 1] = '\0';
    }
    if (!colon || hl == 0 || hl >= sizeof(p->host) || memchr(hp, '[', hl) ||
        memchr(hp, ']', hl) || (memchr(hp, ':', hl) && !bracketed) ||
        vg_parse_u64(portstr, 1, 65535, &port) != 0) {
        vg_proxy_clear(p);
        snprintf(err, errlen, "[collector] proxy: HOST:PORT wanted after http:// (an IPv6 "
                 "address in brackets, the port given); %s", URL_HINT);
        return VG_ECONFIG;
    }
    for (size_t i = 0; i < hl; i++) {
        unsigned char ch = (unsigned char)hp[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '@') {
            vg_proxy_clear(p);
            snprintf(err, errlen, "[collector] proxy: the host holds a character no host name "
                     "has; %s", URL_HINT);
            return VG_ECONFIG;
        }
    }
    memcpy(p->host, hp, hl);
    p->host[hl] = '\0';
    p->portnum = (uint16_t)port;
    snprintf(p->port, sizeof(p->port), "%u", (unsigned)port);
    return 0;
}

int vg_proxy_auth_file(struct vg_proxy *p, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0, n;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "[collector] proxy_auth_file %s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "[collector] proxy_auth_file %s: not a regular file", path);
        return VG_ECONFIG;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(err, errlen, "[collector] proxy_auth_file %s may be read by group or others "
                 "(mode %04o): chmod 600 it", path, (unsigned)(st.st_mode & 07777));
        return VG_ECONFIG;
    }
    rc = vg_fd_read(fd, 4096, &text, &len);
    close(fd);
    if (rc) {
        snprintf(err, errlen, "[collector] proxy_auth_file %s: %s", path, vg_strerror(rc));
        return rc;
    }
    n = strcspn(text, "\r\n");
    text[n] = '\0';
    rc = 0;
    if (n == 0 || !strchr(text, ':') || text[0] == ':' || n >= sizeof(p->auth)) {
        rc = VG_ECONFIG;
    } else {
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
                rc = VG_ECONFIG;
    }
    if (rc == 0) {
        memcpy(p->auth, text, n + 1);
        vg_strlcpy(p->auth_from, "[collector] proxy_auth_file", sizeof(p->auth_from));
    } else {
        snprintf(err, errlen, "[collector] proxy_auth_file %s: its first line must be "
                 "USER:PASSWORD (as they are, not encoded; at most %d bytes)", path,
                 VG_PROXY_AUTH_MAX - 1);
    }
    vg_zeroize(text, len);
    free(text);
    return rc;
}

void vg_proxy_clear(struct vg_proxy *p)
{
    vg_zeroize(p->auth, sizeof(p->auth));
    p->auth_from[0] = '\0';
}

const char *vg_proxy_name(const struct vg_proxy *p, char *out, size_t outlen)
{
    snprintf(out, outlen, strchr(p->host, ':') ? "[%s]:%s" : "%s:%s", p->host, p->port);
    return out;
}

/* mbedtls' encoder; USER:PASSWORD is at most VG_PROXY_AUTH_MAX (512)
 * bytes, 684 in base64. */
static int base64(const char *in, size_t n, struct vg_buf *out)
{
    unsigned char enc[1024];
    size_t olen = 0;

    if (mbedtls_base64_encode(enc, sizeof(enc), &olen, (const unsigned char *)in, n) != 0)
        return VG_ETOOBIG;
    return vg_buf_append(out, enc, olen) ? VG_ETOOBIG : 0;
}

int vg_proxy_request(const struct vg_proxy *p, const char *host, const char *port,
                     struct vg_buf *out)
{
    const char *fmt = strchr(host, ':') ? "[%s]:%s" : "%s:%s";
    char target[300];
    int rc;

    if (snprintf(target, sizeof(target), fmt, host, port) >= (int)sizeof(target))
        return VG_ETOOBIG;
    rc = vg_buf_printf(out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target);
    if (rc == 0 && p->auth[0]) {
        rc = vg_buf_append_str(out, "Proxy-Authorization: Basic ");
        if (rc == 0)
            rc = base64(p->auth, strlen(p->auth), out);
        if (rc == 0)
            rc = vg_buf_append_str(out, "\r\n");
    }
    if (rc == 0)
        rc = vg_buf_printf(out, "User-Agent: vigil-agent/%s\r\n\r\n", VG_VERSION);
    return rc;
}

/* Case-insensitive prefix match on a header line. */
static int header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

/* Appends the auth schemes a Proxy-Authenticate value offers ("Basic
 * realm=..., Negotiate") to schemes; sets *basic when Basic is one. */
static void note_schemes(const char *v, size_t n, char *schemes, size_t slen, int *basic)
{
    size_t i = 0;
    while (i < n) {
        size_t j;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        j = i;
        while (j < n && v[j] != ' ' && v[j] != '\t' && v[j] != ',' && v[j] != '=')
            j++;
        if (j > i && (j >= n || v[j] != '=')) { /* a token not followed by '=': a scheme */
            size_t used = strlen(schemes);
            char tok[40];
            snprintf(tok, sizeof(tok), "%.*s", (int)(j - i < 32 ? j - i : 32), v + i);
            if (strcasecmp(tok, "basic") == 0)
                *basic = 1;
            if (!strstr(schemes, tok) && used + strlen(tok) + 3 < slen)
                snprintf(schemes + used, slen - used, "%s%s", used ? ", " : "", tok);
        }
        /* Skip to the next comma outside quotes. */
        {
            int quoted = 0;
            while (j < n && (quoted || v[j] != ',')) {
                if (v[j] == '"')
                    quoted = !quoted;
                j++;
            }
        }
        i = j;
    }
}

int vg_proxy_reply(void *ctx, const uint8_t *data, size_t len, size_t *used, char *why,
                   size_t whylen)
{
    const struct vg_proxy *p = ctx;
    const char *d = (const char *)data;
    size_t lim = len < VG_PROXY_REPLY_MAX ? len : VG_PROXY_REPLY_MAX, end = 0, sl;
    char status[128], esc[200], schemes[160] = "";
    int code, basic = 0;

    *used = 0;
    if (why && whylen)
        why[0] = '\0';
    /* Not HTTP at all (a TLS server, an SSH one): say so at once. */
    if (len > 0 && memcmp(d, "HTTP/", len < 5 ? len : 5) != 0) {
        snprintf(why, whylen, "the proxy's answer to CONNECT is not HTTP: is [collector] proxy "
                 "an HTTP proxy's address?");
        return VG_EPROTO;
    }
    /* The end of the headers: a blank line (CRLF, or a bare LF). */
    for (size_t i = 0; i + 1 < lim; i++) {
        if (d[i] != '\n')
            continue;
        if (d[i + 1] == '\n') {
            end = i + 2;
            break;
        }
        if (d[i + 1] == '\r' && i + 2 < lim && d[i + 2] == '\n') {
            end = i + 3;
            break;
        }
    }
    if (!end) {
        if (len >= VG_PROXY_REPLY_MAX) {
            snprintf(why, whylen, "the proxy's answer to CONNECT has no end within %d bytes",
                     VG_PROXY_REPLY_MAX);
            return VG_ETOOBIG;
        }
        return 0;
    }
    /* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
    for (sl = 0; sl < end && d[sl] != '\r' && d[sl] != '\n'; sl++)
        ;
    snprintf(status, sizeof(status), "%.*s", (int)(sl < sizeof(status) - 1 ? sl : sizeof(status) - 1),
             d);
    for (char *q = status; *q; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            *q = '?';
    vg_str_escape(esc, sizeof(esc), status);
    if (sl < 12 || d[8] != ' ' || d[9] < '1' || d[9] > '5' || d[10] < '0' || d[10] > '9' ||
        d[11] < '0' || d[11] > '9' || (sl > 12 && d[12] != ' ') || d[5] != '1' || d[6] != '.') {
        snprintf(why, whylen, "the proxy's answer to CONNECT is not an HTTP/1 status line: %s",
                 esc);
        return VG_EPROTO;
    }
    code = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
    if (code >= 200 && code < 300) {
        *used = end;
        return 1;
    }
    /* 407; some proxies (tinyproxy) say 401 to a CONNECT they want
     * credentials for. */
    if (code == 407 || code == 401) {
        /* Which schemes does it want? */
        size_t i = sl;
        while (i < end) {
            size_t ls, n;
            while (i < end && (d[i] == '\r' || d[i] == '\n'))
                i++;
            ls = i;
            while (i < end && d[i] != '\r' && d[i] != '\n')
                i++;
            n = i - ls;
            if (header_is(d + ls, n, "Proxy-Authenticate"))
                note_schemes(d + ls + 19, n - 19, schemes, sizeof(schemes), &basic);
            else if (code == 401 && header_is(d + ls, n, "WWW-Authenticate"))
                note_schemes(d + ls + 17, n - 17, schemes, sizeof(schemes), &basic);
        }
        for (char *q = schemes; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                *q = '?';
        if (schemes[0] && !basic)
            snprintf(why, whylen, "proxy authentication required (%s): the proxy asks for %s, "
                     "and the agent speaks Basic only: let the proxy take Basic from it, or "
                     "allow it through without", esc, schemes);
        else if (p && p->auth[0])
            snprintf(why, whylen, "proxy authentication failed (%s): check the credentials "
                     "in %s", esc, p->auth_from[0] ? p->auth_from : "[collector] proxy");
        else
            snprintf(why, whylen, "proxy authentication required (%s): give credentials in "
                     "[collector] proxy (http://USER:PASSWORD@HOST:PORT) or proxy_auth_file",
                     esc);
        return -EACCES;
    }
    snprintf(why, whylen, "the proxy refused the tunnel: %s%s", esc,
             code == 403 ? " (its rules: does it allow CONNECT to the collector's port? "
                           "tinyproxy's ConnectPort, squid's SSL_ports and http_access)"
             : code == 502 || code == 503 || code == 504
                 ? " (the proxy could not reach the collector: check the collector's name "
                   "resolves, and is reachable, from the proxy)"
                 : "");
    return VG_EPROTO;
}

int vg_proxy_tunnel(const struct vg_proxy *p, const char *host, const char *port,
                    struct vg_buf *req, struct vg_tls_tunnel *t)
{
    int rc = vg_proxy_request(p, host, port, req);
    if (rc)
        return rc;
    memset(t, 0, sizeof(*t));
    t->req = req->data;
    t->req_len = req->len;
    t->reply = vg_proxy_reply;
    t->ctx = (void *)p;
    return 0;
}
