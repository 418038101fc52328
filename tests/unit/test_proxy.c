/* HTTP CONNECT proxies (lib/proxy.c): the URL, the credentials file, the
 * request, and the proxy's answer read in pieces, with each refusal's
 * message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "proxy.h"
#include "util.h"

static void test_parse(void **state)
{
    static const struct {
        const char *url, *host, *port, *auth;
    } good[] = {
        { "http://proxy.example.org:3128", "proxy.example.org", "3128", "" },
        { "http://127.0.0.1:8080/", "127.0.0.1", "8080", "" },
        { "http://[2001:db8::1]:3128", "2001:db8::1", "3128", "" },
        { "http://u:p@proxy:3128", "proxy", "3128", "u:p" },
        /* '@' and ':' in the password, encoded or (for '@') raw. */
        { "http://svc-vigil:p%40ss%3Aw0rd@proxy:3128", "proxy", "3128", "svc-vigil:p@ss:w0rd" },
        { "http://u:p@ss@proxy:3128", "proxy", "3128", "u:p@ss" },
        { "http://DOMAIN%5Cuser:x@[::1]:1", "::1", "1", "DOMAIN\\user:x" },
        { "http://u:@proxy:3128", "proxy", "3128", "u:" },
    };
    static const char *bad[] = {
        "", "proxy:3128", "https://proxy:3128", "socks5://proxy:1080", "http://proxy",
        "http://proxy:", "http://proxy:0", "http://proxy:65536", "http://proxy:3128/path",
        "http://proxy:3128?x", "http://:3128", "http://2001:db8::1:3128", "http://[::1:3128",
        "http://user@proxy:3128", "http://:pass@proxy:3128", "http://u:p%4@proxy:3128",
        "http://u:p%00@proxy:3128", "http://u:p%0a@proxy:3128", "http://a b:3128",
        "http://pr%6fxy:3128",
    };
    struct vg_proxy p;
    char err[400], name[300];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        assert_int_equal(vg_proxy_parse(good[i].url, &p, err, sizeof(err)), 0);
        assert_string_equal(p.host, good[i].host);
        assert_string_equal(p.port, good[i].port);
        assert_string_equal(p.auth, good[i].auth);
        assert_int_equal(p.portnum, strtoul(good[i].port, NULL, 10));
        vg_proxy_clear(&p);
        assert_string_equal(p.auth, "");
    }
    assert_int_equal(vg_proxy_parse("http://[::1]:3128", &p, err, sizeof(err)), 0);
    assert_string_equal(vg_proxy_name(&p, name, sizeof(name)), "[::1]:3128");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(vg_proxy_parse(bad[i], &p, err, sizeof(err)), VG_ECONFIG);
        assert_true(strstr(err, "[collector] proxy") != NULL);
        assert_string_equal(p.auth, "");
    }
    /* A refused URL's message never holds the password. */
    assert_int_equal(vg_proxy_parse("http://u:s3cr%zz@proxy:3128", &p, err, sizeof(err)),
                     VG_ECONFIG);
    assert_null(strstr(err, "s3cr"));
    assert_int_equal(vg_proxy_parse("https://proxy:3128", &p, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "https:// proxies are not supported"));
}

static void test_auth_file(void **state)
{
    char path[] = "/tmp/vg-proxy-auth-XXXXXX", err[400];
    struct vg_proxy p;
    int fd;

    (void)state;
    assert_int_equal(vg_proxy_parse("http://proxy:3128", &p, err, sizeof(err)), 0);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(vg_fd_write(fd, "svc:p@ss:w0rd\nignored\n", 22), 0);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(vg_proxy_auth_file(&p, path, err, sizeof(err)), 0);
    assert_string_equal(p.auth, "svc:p@ss:w0rd");
    assert_string_equal(p.auth_from, "[collector] proxy_auth_file");
    vg_proxy_clear(&p);
    /* Readable by others: refused. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(vg_proxy_auth_file(&p, path, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "chmod 600"));
    /* No colon: refused. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(vg_fd_write(fd, "justauser\n", 10), 0);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(vg_proxy_auth_file(&p, path, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "USER:PASSWORD"));
    unlink(path);
    assert_true(vg_proxy_auth_file(&p, path, err, sizeof(err)) == -ENOENT);
}

static void test_request(void **state)
{
    struct vg_proxy p;
    struct vg_buf b;
    char err[200], *s;

    (void)state;
    assert_int_equal(vg_proxy_parse("http://Aladdin:open%20sesame@proxy:3128", &p, err,
                                    sizeof(err)), 0);
    vg_buf_init(&b, 4096);
    assert_int_equal(vg_proxy_request(&p, "collector.example.org", "7443", &b), 0);
    assert_int_equal(vg_buf_append(&b, "", 1), 0);
    s = (char *)b.data;
    assert_true(strncmp(s, "CONNECT collector.example.org:7443 HTTP/1.1\r\n"
                           "Host: collector.example.org:7443\r\n"
                           "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n",
                        strlen("CONNECT collector.example.org:7443 HTTP/1.1\r\n"
                               "Host: collector.example.org:7443\r\n"
                               "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n")) == 0);
    assert_true(vg_str_ends_with(s, "\r\n\r\n"));
    vg_buf_free(&b);
    /* IPv6 in brackets, no credentials: no header for them. */
    vg_proxy_clear(&p);
    vg_buf_init(&b, 4096);
    assert_int_equal(vg_proxy_request(&p, "2001:db8::7", "7443", &b), 0);
    assert_int_equal(vg_buf_append(&b, "", 1), 0);
    s = (char *)b.data;
    assert_true(strncmp(s, "CONNECT [2001:db8::7]:7443 HTTP/1.1\r\nHost: [2001:db8::7]:7443\r\n",
                        60) == 0);
    assert_null(strstr(s, "Proxy-Authorization"));
    vg_buf_free(&b);
}

/* Feeds text one byte more at a time, as a slow proxy would. */
static int feed(const struct vg_proxy *p, const char *text, size_t *used, char *why,
                size_t whylen)
{
    size_t n = strlen(text);
    int rc = 0;
    for (size_t i = 1; i <= n; i++) {
        rc = vg_proxy_reply((void *)p, (const uint8_t *)text, i, used, why, whylen);
        if (rc != 0)
            return rc;
    }
    return rc;
}

static void test_reply(void **state)
{
    struct vg_proxy with, without;
    char why[500], err[200], *big;
    size_t used;
    const char *ok = "HTTP/1.1 200 Connection established\r\nProxy-agent: x\r\n\r\n\x16\x03";

    (void)state;
    assert_int_equal(vg_proxy_parse("http://u:p@proxy:3128", &with, err, sizeof(err)), 0);
    assert_int_equal(vg_proxy_parse("http://proxy:3128", &without, err, sizeof(err)), 0);
    /* 200: the tunnel; what follows the blank line is not the proxy's. */
    assert_int_equal(feed(&with, ok, &used, why, sizeof(why)), 1);
    assert_int_equal(used, strlen(ok) - 2);
    assert_int_equal(feed(&with, "HTTP/1.0 200 OK\n\n", &used, why, sizeof(why)), 1);
    assert_int_equal(used, 17);
    /* A 200 with a Content-Length is still a tunnel (RFC 9110 9.3.6). */
    assert_int_equal(feed(&with, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &used, why,
                          sizeof(why)), 1);
    /* 407: with credentials, they are wrong; without, they are missing. */
    assert_int_equal(feed(&with, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
                          &used, why, sizeof(why)), -EACCES);
    assert_non_null(strstr(why, "proxy authentication failed (HTTP/1.1 407 Proxy Authentication "
                                "Required): check the credentials in [collector] proxy"));
    assert_int_equal(feed(&without, "HTTP/1.1 407 Nope\r\n\r\n", &used, why, sizeof(why)),
                     -EACCES);
    assert_non_null(strstr(why, "proxy authentication required"));
    /* tinyproxy's 401 means the same. */
    assert_int_equal(feed(&with, "HTTP/1.0 401 Unauthorized\r\n\r\n", &used, why, sizeof(why)),
                     -EACCES);
    /* Only Negotiate and NTLM offered: say the agent speaks Basic only. */
    assert_int_equal(feed(&with, "HTTP/1.1 407 Auth\r\nProxy-Authenticate: Negotiate\r\n"
                                 "proxy-authenticate: NTLM\r\n\r\n",
                          &used, why, sizeof(why)), -EACCES);
    assert_non_null(strstr(why, "asks for Negotiate, NTLM"));
    assert_non_null(strstr(why, "Basic only"));
    /* Other refusals: the status line and a hint. */
    assert_int_equal(feed(&with, "HTTP/1.1 403 Forbidden\r\n\r\n", &used, why, sizeof(why)),
                     VG_EPROTO);
    assert_non_null(strstr(why, "the proxy refused the tunnel: HTTP/1.1 403 Forbidden"));
    assert_non_null(strstr(why, "ConnectPort"));
    assert_int_equal(feed(&with, "HTTP/1.1 502 Bad Gateway\r\n\r\n", &used, why, sizeof(why)),
                     VG_EPROTO);
    assert_non_null(strstr(why, "could not reach the collector"));
    /* Not HTTP, or not a status line: refused at once. */
    assert_int_equal(vg_proxy_reply(&with, (const uint8_t *)"\x16\x03\x03", 3, &used, why,
                                    sizeof(why)), VG_EPROTO);
    assert_non_null(strstr(why, "not HTTP"));
    assert_int_equal(feed(&with, "HTTP/1.1 2000 OK\r\n\r\n", &used, why, sizeof(why)),
                     VG_EPROTO);
    assert_int_equal(feed(&with, "HTTP/2 200\r\n\r\n", &used, why, sizeof(why)), VG_EPROTO);
    /* Control characters in the status line are not logged as they are. */
    assert_int_equal(feed(&with, "HTTP/1.1 403 \x1b[31mred\r\n\r\n", &used, why, sizeof(why)),
                     VG_EPROTO);
    assert_null(strchr(why, '\x1b'));
    /* Headers without end: refused at VG_PROXY_REPLY_MAX, not before. */
    big = malloc(VG_PROXY_REPLY_MAX + 1);
    assert_non_null(big);
    memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
    memset(big + 17, 'a', VG_PROXY_REPLY_MAX - 17);
    assert_int_equal(vg_proxy_reply(&with, (uint8_t *)big, VG_PROXY_REPLY_MAX - 1, &used, why,
                                    sizeof(why)), 0);
    assert_int_equal(vg_proxy_reply(&with, (uint8_t *)big, VG_PROXY_REPLY_MAX, &used, why,
                                    sizeof(why)), VG_ETOOBIG);
    free(big);
    vg_proxy_clear(&with);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_auth_file),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
