/* conf: table-driven INI.  Defaults, every key type, errors that name the
 * file, the right line and what is wrong, hostile input, path resolution,
 * required keys, overrides and freeing (leaks are caught under LSan).
 * In-memory cases use vg_conf_parse; file cases use vg_conf_load in a
 * private mkdtemp directory that must be empty again at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"
#include "util.h"

struct cfg {
    char *name;
    char *label;
    char *data_dir;
    int verbose;
    uint64_t workers;
    uint64_t interval;
    uint64_t max_size;
    struct vg_strlist servers;
    int mode;
    char *ca;
    uint64_t port;
};

#define O(f) offsetof(struct cfg, f)
static const struct vg_conf_key keys[] = {
    { "main", "name", VG_CONF_STR, NULL, O(name), 0, 0, NULL, VG_CONF_REQUIRED, "agent name" },
    { "main", "label", VG_CONF_STR, "vigil", O(label), 0, 0, NULL, 0, "free text" },
    { "main", "data_dir", VG_CONF_PATH, "/var/lib/vigil", O(data_dir), 0, 0, NULL, 0, "state" },
    { "main", "verbose", VG_CONF_BOOL, "no", O(verbose), 0, 0, NULL, 0, "chatty logs" },
    { "main", "workers", VG_CONF_UINT, "4", O(workers), 1, 64, NULL, 0, "threads" },
    { "net", "interval", VG_CONF_DURATION, "30s", O(interval), 1000, 86400000, NULL, 0, "period" },
    { "net", "max_size", VG_CONF_SIZE, "64K", O(max_size), 1024, 1 << 30, NULL, 0, "batch cap" },
    { "net", "servers", VG_CONF_LIST, "c1.example.org:7443, c2.example.org:7443", O(servers), 0,
      0, NULL, 0, "collectors" },
    { "net", "mode", VG_CONF_ENUM, "batch", O(mode), 0, 0, "always|batch|interval", 0, "sending" },
    { "tls", "ca", VG_CONF_PATH, NULL, O(ca), 0, 0, NULL, 0, "CA bundle" },
    { "tls", "port", VG_CONF_UINT, "7443", O(port), 0, 0, NULL, 0, "no upper bound" },
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};

#define NAME "test.conf"
#define LINE_MAX_CONTENT (INI_MAX_LINE - 2) /* bytes a line may hold, without "\n\0" */

#define TMPDIR_TAG "conf"
#include "tmpdir.h"

static void cfg_init(struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(vg_conf_defaults(keys, c), 0);
}

static int parse_n(struct cfg *c, const char *text, size_t len, char *err, size_t errlen)
{
    return vg_conf_parse(keys, c, NAME, text, len, err, errlen);
}

static int parse(struct cfg *c, const char *text, char *err, size_t errlen)
{
    return parse_n(c, text, strlen(text), err, errlen);
}

/* Parses text as if read from a file called name (for path resolution). */
static int parse_as(struct cfg *c, const char *name, const char *text, char *err,
                    size_t errlen)
{
    return vg_conf_parse(keys, c, name, text, strlen(text), err, errlen);
}

/* Parses text into a defaulted cfg and expects success. */
static void parse_ok(struct cfg *c, const char *text)
{
    char err[512] = "";
    cfg_init(c);
    if (parse(c, text, err, sizeof(err)) != 0)
        fail_msg("unexpected error: %s", err);
    assert_string_equal(err, "");
}

/* Expects VG_ECONFIG with "test.conf:<line>: " and then phrase in the text. */
static void expect_error_n(const char *text, size_t len, int line, const char *phrase)
{
    struct cfg c;
    char err[512], prefix[64];
    int rc;

    cfg_init(&c);
    rc = parse_n(&c, text, len, err, sizeof(err));
    vg_conf_free(keys, &c);
    if (rc != VG_ECONFIG)
        fail_msg("rc %d (want VG_ECONFIG) for:\n%s", rc, text);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", NAME, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
    if (!strstr(err + strlen(prefix), phrase))
        fail_msg("error \"%s\" does not say \"%s\"", err, phrase);
}

static void expect_error(const char *text, int line, const char *phrase)
{
    expect_error_n(text, strlen(text), line, phrase);
}

/* ---- defaults and a good file -------------------------------------------- */

static void test_defaults(void **state)
{
    struct cfg c;
    (void)state;

    cfg_init(&c);
    assert_null(c.name);
    assert_string_equal(c.label, "vigil");
    assert_string_equal(c.data_dir, "/var/lib/vigil");
    assert_int_equal(c.verbose, 0);
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.interval, 30000);
    assert_int_equal(c.max_size, 65536);
    assert_int_equal(c.servers.n, 2);
    assert_string_equal(c.servers.v[0], "c1.example.org:7443");
    assert_string_equal(c.servers.v[1], "c2.example.org:7443");
    assert_int_equal(c.mode, 1);
    assert_null(c.ca);
    assert_int_equal(c.port, 7443);
    /* Applying defaults again replaces (and frees) what was there. */
    assert_int_equal(vg_conf_defaults(keys, &c), 0);
    assert_int_equal(c.servers.n, 2);
    vg_conf_free(keys, &c);
}

static void test_good_file(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "# Vigil agent\n"
                 "[main]\n"
                 "name = host-17\n"
                 "label = web tier\n"
                 "data_dir = /srv/vigil\n"
                 "verbose = yes\n"
                 "workers = 64\n"
                 "\n"
                 "[net]\n"
                 "interval = 1h30m\n"
                 "max_size = 1MiB\n"
                 "servers = a.example:1, b.example:2\n"
                 "mode = interval\n"
                 "[tls]\n"
                 "ca = /etc/vigil/ca.pem\n"
                 "port = 18446744073709551615\n");
    assert_string_equal(c.name, "host-17");
    assert_string_equal(c.label, "web tier");
    assert_string_equal(c.data_dir, "/srv/vigil");
    assert_int_equal(c.verbose, 1);
    assert_int_equal(c.workers, 64);
    assert_int_equal(c.interval, 5400000);
    assert_int_equal(c.max_size, 1048576);
    assert_int_equal(c.servers.n, 2); /* the file replaces the default list */
    assert_string_equal(c.servers.v[0], "a.example:1");
    assert_string_equal(c.servers.v[1], "b.example:2");
    assert_int_equal(c.mode, 2);
    assert_string_equal(c.ca, "/etc/vigil/ca.pem");
    assert_true(c.port == UINT64_MAX); /* max 0: no upper bound */
    vg_conf_free(keys, &c);
}

/* Keys the file does not mention keep their defaults; bounds are inclusive. */
static void test_partial_file_and_bounds(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[main]\nworkers = 1\n[net]\ninterval = 1s\nmax_size = 1G\n");
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.interval, 1000);
    assert_int_equal(c.max_size, 1 << 30);
    assert_null(c.name);
    assert_string_equal(c.label, "vigil");
    assert_int_equal(c.servers.n, 2);
    assert_int_equal(c.mode, 1);
    vg_conf_free(keys, &c);

    parse_ok(&c, "[net]\ninterval = 24h\nmax_size = 1K\nmode = always\n");
    assert_int_equal(c.interval, 86400000);
    assert_int_equal(c.max_size, 1024);
    assert_int_equal(c.mode, 0);
    vg_conf_free(keys, &c);
}

/* ---- errors: file, line and what is wrong ----------------------------------- */

static void test_err_unknown_section(void **state)
{
    (void)state;
    expect_error("[main]\nname = x\n\n[bogus]\nfoo = 1\n", 4, "unknown section [bogus]");
    expect_error("[main]\nname = x\n\n[bogus]\nfoo = 1\n", 4, "(known: [main], [net], [tls])");
    expect_error("[Main]\n", 1, "unknown section [Main]"); /* names are case-sensitive */
    expect_error("[ main ]\n", 1, "unknown section [ main ]");
}

static void test_err_unknown_key(void **state)
{
    (void)state;
    expect_error("[main]\nname = x\nbogus = 1\n", 3, "unknown key 'bogus' in section [main]");
    /* A key of another section is unknown here. */
    expect_error("[main]\nmode = batch\n", 2, "unknown key 'mode' in section [main]");
    expect_error("[main]\nName = x\n", 2, "unknown key 'Name' in section [main]");
}

static void test_err_key_outside_section(void **state)
{
    (void)state;
    expect_error("name = x\n[main]\n", 1, "key 'name' is outside any section");
    expect_error("; comment\n\n# more\nworkers = 2\n", 4, "key 'workers' is outside any section");
}

static void test_err_duplicate(void **state)
{
    (void)state;
    expect_error("[main]\nname = a\nworkers = 2\nname = b\n", 4, "[main] name is set twice");
    /* Also across a reopened section, and when the value is the same. */
    expect_error("[main]\nworkers = 2\n[net]\nmode = batch\n[main]\nworkers = 2\n", 6,
                 "[main] workers is set twice");
    expect_error("[net]\nmode = batch\nmode = batch\n", 3, "[net] mode is set twice");
}

static void test_err_bad_bool(void **state)
{
    (void)state;
    expect_error("[main]\nverbose = maybe\n", 2,
                 "[main] verbose: 'maybe' is not a boolean (use yes or no)");
    expect_error("[main]\nverbose = 2\n", 2, "'2' is not a boolean");
}

static void test_err_uint(void **state)
{
    (void)state;
    expect_error("[main]\nname = x\nworkers = 65\n", 3,
                 "[main] workers: '65' is out of range (1 to 64)");
    expect_error("[main]\nworkers = 0\n", 2, "'0' is out of range (1 to 64)");
    expect_error("[main]\nworkers = 99999999999999999999999\n", 2,
                 "'99999999999999999999999' is out of range (1 to 64)");
    expect_error("[main]\nworkers = many\n", 2, "[main] workers: 'many' is not a whole number");
    expect_error("[main]\nworkers = -1\n", 2, "'-1' is not a whole number");
    expect_error("[main]\nworkers = 8 threads\n", 2, "'8 threads' is not a whole number");
    expect_error("[tls]\nport = 18446744073709551616\n", 2,
                 "'18446744073709551616' is out of range (0 to 18446744073709551615)");
}

static void test_err_duration(void **state)
{
    (void)state;
    expect_error("[net]\ninterval = 5x\n", 2,
                 "[net] interval: '5x' is not a duration (e.g. 30s, 5m, 24h)");
    expect_error("[net]\ninterval = 500ms\n", 2,
                 "[net] interval: '500ms' is out of range (1000ms to 86400000ms)");
    expect_error("[net]\ninterval = 2d\n", 2, "'2d' is out of range");
    expect_error("[net]\ninterval = 99999999999999999999999s\n", 2, "is out of range");
}

static void test_err_size(void **state)
{
    (void)state;
    expect_error("[net]\nmax_size = 12Q\n", 2,
                 "[net] max_size: '12Q' is not a size (e.g. 64K, 100M, 1G)");
    expect_error("[net]\nmax_size = 2G\n", 2, "'2G' is out of range (1024 to 1073741824)");
    expect_error("[net]\nmax_size = 1023\n", 2, "'1023' is out of range (1024 to 1073741824)");
}

static void test_err_enum(void **state)
{
    (void)state;
    expect_error("[net]\nmode = sometimes\n", 2,
                 "[net] mode: 'sometimes' is not one of always|batch|interval");
    expect_error("[net]\nmode = Batch\n", 2, "'Batch' is not one of always|batch|interval");
    expect_error("[net]\nmode = bat\n", 2, "'bat' is not one of");
    expect_error("[net]\nmode = batches\n", 2, "'batches' is not one of");
    expect_error("[net]\nmode = always|batch\n", 2, "is not one of");
}

static void test_err_empty_value(void **state)
{
    (void)state;
    expect_error("[main]\nname = x\nworkers =\n", 3, "[main] workers has an empty value");
    expect_error("[main]\nworkers = ; none\n", 2, "[main] workers has an empty value");
    expect_error("[main]\nverbose =\n", 2, "[main] verbose has an empty value");
    expect_error("[net]\ninterval =\n", 2, "[net] interval has an empty value");
    expect_error("[net]\nmax_size =\n", 2, "[net] max_size has an empty value");
    expect_error("[net]\nmode =\n", 2, "[net] mode has an empty value");
}

static void test_err_syntax(void **state)
{
    (void)state;
    expect_error("[main]\nname = x\njust some words\n", 3,
                 "syntax error (expected [section], key = value or a comment)");
    expect_error("[main]\nworkers\n", 2, "syntax error");
    expect_error("[main\nname = x\n", 1, "syntax error");
}

static void test_err_long_line(void **state)
{
    char text[600], msg[128];
    int n;
    (void)state;

    n = snprintf(text, sizeof(text), "[main]\nlabel = %0250d\n", 0);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    snprintf(msg, sizeof(msg), "line too long (258 bytes, at most %d)", LINE_MAX_CONTENT);
    expect_error(text, 2, msg);
    expect_error(text, 2, "split a long list over several lines");

    /* The longest line allowed, and one byte more. */
    {
        struct cfg c;
        int vl = LINE_MAX_CONTENT - (int)strlen("label = ");
        snprintf(text, sizeof(text), "[main]\nlabel = %0*d\n", vl, 0);
        parse_ok(&c, text);
        assert_int_equal(strlen(c.label), (size_t)vl);
        vg_conf_free(keys, &c);
        snprintf(text, sizeof(text), "[main]\nlabel = %0*d\n", vl + 1, 0);
        snprintf(msg, sizeof(msg), "(%d bytes, at most %d)", LINE_MAX_CONTENT + 1,
                 LINE_MAX_CONTENT);
        expect_error(text, 2, msg);
        /* The "\r" of a CRLF line does not count. */
        snprintf(text, sizeof(text), "[main]\r\nlabel = %0*d\r\n", vl, 0);
        parse_ok(&c, text);
        assert_int_equal(strlen(c.label), (size_t)vl);
        vg_conf_free(keys, &c);
    }

    /* A long comment is refused too: inih would cut it and read the rest
     * as a line of its own. */
    snprintf(text, sizeof(text), "[main]\n\n# %0300d\n", 0);
    expect_error(text, 3, "line too long");
    /* The last line, without a newline. */
    snprintf(text, sizeof(text), "[main]\nname = x\nlabel = %0300d", 0);
    expect_error(text, 3, "line too long");
}

static void test_err_nul_byte(void **state)
{
    static const char text[] = "[main]\nname = a\0b\nworkers = 2\n";
    static const char text2[] = "[main]\n\0\n";
    (void)state;
    expect_error_n(text, sizeof(text) - 1, 2, "NUL byte in line");
    expect_error_n(text2, sizeof(text2) - 1, 2, "NUL byte in line");
}

/* Whichever error comes first in the file is the one reported, whether
 * inih found it (syntax) or we did (reader or handler). */
static void test_err_first_line_wins(void **state)
{
    char text[600];
    (void)state;

    expect_error("[main]\nthis is junk\nbogus = 1\n", 2, "syntax error");
    expect_error("[main]\nbogus = 1\nthis is junk\n", 2, "unknown key 'bogus'");
    expect_error("[main]\nworkers = 0\nverbose = maybe\n", 2, "'0' is out of range");
    expect_error("[main]\nverbose = maybe\n[nope]\n", 2, "'maybe' is not a boolean");
    expect_error("[main]\njunk\n[nope]\n", 2, "syntax error");
    expect_error("[nope]\n[main]\njunk\n", 1, "unknown section [nope]");
    expect_error("[main]\n[net]\nmode = x\n\nworkers\n", 3, "'x' is not one of");
    snprintf(text, sizeof(text), "[main]\njunk\nlabel = %0300d\n", 0);
    expect_error(text, 2, "syntax error");
    snprintf(text, sizeof(text), "[main]\nlabel = %0300d\njunk\n", 0);
    expect_error(text, 2, "line too long");
    {
        static const char nul_first[] = "[main]\nname = \0\njunk\n";
        static const char nul_last[] = "[main]\njunk\nname = \0\n";
        expect_error_n(nul_first, sizeof(nul_first) - 1, 2, "NUL byte in line");
        expect_error_n(nul_last, sizeof(nul_last) - 1, 2, "syntax error");
    }
}

/* ---- what parses ------------------------------------------------------------ */

static void test_list_append(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[net]\nservers = a, b\nservers = c\n\nservers =  d ,\te \n");
    assert_int_equal(c.servers.n, 5);
    assert_string_equal(c.servers.v[0], "a");
    assert_string_equal(c.servers.v[1], "b");
    assert_string_equal(c.servers.v[2], "c");
    assert_string_equal(c.servers.v[3], "d");
    assert_string_equal(c.servers.v[4], "e");
    vg_conf_free(keys, &c);

    parse_ok(&c, "[net]\nservers = only\n");
    assert_int_equal(c.servers.n, 1);
    assert_string_equal(c.servers.v[0], "only");
    vg_conf_free(keys, &c);

    /* An empty value clears the default list. */
    parse_ok(&c, "[net]\nservers =\n");
    assert_int_equal(c.servers.n, 0);
    vg_conf_free(keys, &c);

    expect_error("[net]\nservers = a,,b\n", 2, "[net] servers: empty item in list");
    expect_error("[net]\nservers = a\nservers = , b\n", 3, "empty item in list");
}

static void list_text(char *text, size_t textlen, int lines, int per_line, int last)
{
    size_t used = (size_t)snprintf(text, textlen, "[net]\n");
    for (int l = 0; l < lines + (last > 0); l++) {
        int n = l < lines ? per_line : last;
        used += (size_t)snprintf(text + used, textlen - used, "servers = ");
        for (int i = 0; i < n; i++)
            used += (size_t)snprintf(text + used, textlen - used, "%s%c", i ? "," : "",
                                     'a' + i % 26);
        used += (size_t)snprintf(text + used, textlen - used, "\n");
        assert_true(used < textlen);
    }
}

static void test_list_max(void **state)
{
    char text[4096];
    struct cfg c;
    (void)state;

    assert_int_equal(VG_CONF_MAX_LIST, 256);
    /* 5 lines of 50 and one of 6: exactly the maximum. */
    list_text(text, sizeof(text), 5, 50, 6);
    parse_ok(&c, text);
    assert_int_equal(c.servers.n, VG_CONF_MAX_LIST);
    vg_conf_free(keys, &c);

    /* Item 257 is on line 7 ([net] is line 1). */
    list_text(text, sizeof(text), 5, 50, 7);
    expect_error(text, 7, "[net] servers: more than 256 items");
    /* 300 items: item 257 is still on line 7, not the last one. */
    list_text(text, sizeof(text), 6, 50, 0);
    expect_error(text, 7, "more than 256 items");
    list_text(text, sizeof(text), 8, 50, 0);
    expect_error(text, 7, "more than 256 items");
}

/* Leading blanks are stripped: an indented line is a key of its own, never
 * a continuation of the previous value. */
static void test_indented_keys(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[main]\n    name = indented\n\tworkers = 8\n  [net]\n    mode = always\n"
                 "    servers = x\n\t  servers = y\n");
    assert_string_equal(c.name, "indented");
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.mode, 0);
    assert_int_equal(c.servers.n, 2);
    assert_string_equal(c.servers.v[0], "x");
    assert_string_equal(c.servers.v[1], "y");
    vg_conf_free(keys, &c);

    expect_error("[main]\nname = x\n    workers = 8\n    name = y\n", 4, "name is set twice");
    expect_error("[net]\nservers = a,\n    b\n", 3, "syntax error");
}

static void test_inline_comments(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[main] ; the main section\n"
                 "name = hello ; the name\n"
                 "workers = 8\t; eight\n"
                 "; a full-line comment\n"
                 "# another\n"
                 "   ; indented comment\n"
                 "label = a;b\n" /* no blank before ';': not a comment */
                 "[net]\n"
                 "servers = a, b ; two\n"
                 "mode = always ; fastest\n");
    assert_string_equal(c.name, "hello");
    assert_int_equal(c.workers, 8);
    assert_string_equal(c.label, "a;b");
    assert_int_equal(c.servers.n, 2);
    assert_string_equal(c.servers.v[1], "b");
    assert_int_equal(c.mode, 0);
    vg_conf_free(keys, &c);
}

static void test_quotes(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[main]\nname = \"hello world\"\nlabel = \"\"\ndata_dir = \"/x y/z\"\n");
    assert_string_equal(c.name, "hello world");
    assert_null(c.label); /* "" is empty: unset */
    assert_string_equal(c.data_dir, "/x y/z");
    vg_conf_free(keys, &c);

    /* Exactly one surrounding pair goes. */
    parse_ok(&c, "[main]\nname = \"\"x\"\"\nlabel = \"\n");
    assert_string_equal(c.name, "\"x\"");
    assert_string_equal(c.label, "\"");
    vg_conf_free(keys, &c);

    parse_ok(&c, "[main]\nname = \"a\" b\nlabel = a \"b\"\n");
    assert_string_equal(c.name, "\"a\" b");
    assert_string_equal(c.label, "a \"b\"");
    vg_conf_free(keys, &c);

    /* An empty value unsets a string with a default. */
    parse_ok(&c, "[main]\nlabel =\n");
    assert_null(c.label);
    vg_conf_free(keys, &c);
}

static void test_crlf(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[main]\r\nname = x\r\nworkers = 8\r\n\r\n; c\r\n[net]\r\nservers = a, b\r\n"
                 "mode = always\r\n");
    assert_string_equal(c.name, "x");
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.servers.n, 2);
    assert_string_equal(c.servers.v[1], "b");
    assert_int_equal(c.mode, 0);
    vg_conf_free(keys, &c);
    expect_error("[main]\r\nname = x\r\nbogus = 1\r\n", 3, "unknown key 'bogus'");
}

static void test_hostile_small(void **state)
{
    struct cfg c;
    char err[512];
    (void)state;

    /* Empty text, blank lines, only comments: fine, defaults stay. */
    cfg_init(&c);
    assert_int_equal(parse_n(&c, "", 0, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 4);
    vg_conf_free(keys, &c);
    parse_ok(&c, "\n\n\n");
    vg_conf_free(keys, &c);
    parse_ok(&c, "# only\n; comments\n   # here\n");
    assert_string_equal(c.label, "vigil");
    assert_int_equal(c.servers.n, 2);
    vg_conf_free(keys, &c);
    parse_ok(&c, "[main]\n[net]\n[tls]\n"); /* sections without keys */
    vg_conf_free(keys, &c);
    parse_ok(&c, "\xef\xbb\xbf[main]\nname = bom\n"); /* UTF-8 BOM */
    assert_string_equal(c.name, "bom");
    vg_conf_free(keys, &c);
    parse_ok(&c, "[main]\nname = last"); /* no final newline */
    assert_string_equal(c.name, "last");
    vg_conf_free(keys, &c);

    expect_error("[", 1, "syntax error");
    expect_error("[\n", 1, "syntax error");
    expect_error("[]\n", 1, "unknown section []");
    expect_error("]\n", 1, "syntax error");
    expect_error("[main]\n=\n", 2, "unknown key '' in section [main]");
    expect_error("[main]\n= x\n", 2, "unknown key ''");
    expect_error("\n\n\n\n[main]\n\x01\x02\x03\n", 6, "syntax error");
    expect_error("\r\n\r\n[main]\r\n[x\r\n", 4, "syntax error");

    /* No error buffer, or a tiny one: still an error, never an overflow. */
    cfg_init(&c);
    assert_int_equal(parse(&c, "[main]\nbogus = 1\n", NULL, 0), VG_ECONFIG);
    vg_conf_free(keys, &c);
    cfg_init(&c);
    memset(err, 'X', sizeof(err));
    assert_int_equal(parse(&c, "[main]\nbogus = 1\n", err, 8), VG_ECONFIG);
    assert_string_equal(err, "test.co");
    assert_int_equal(err[8], 'X');
    vg_conf_free(keys, &c);
}

/* ---- paths ------------------------------------------------------------------ */

static void test_paths_in_memory(void **state)
{
    static const char text[] = "[main]\ndata_dir = spool\n[tls]\nca = /abs/ca.pem\n";
    struct cfg c;
    char err[512], cwd[PATH_MAX], want[PATH_MAX + 64];
    (void)state;

    cfg_init(&c);
    assert_int_equal(parse_as(&c, "/etc/vigil/agent.conf", text, err, sizeof(err)), 0);
    assert_string_equal(c.data_dir, "/etc/vigil/spool");
    assert_string_equal(c.ca, "/abs/ca.pem");
    vg_conf_free(keys, &c);

    /* A relative file name: relative to the current directory, made absolute. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    cfg_init(&c);
    assert_int_equal(parse_as(&c, "conf/agent.conf", "[tls]\nca = certs/ca.pem\n", err,
                              sizeof(err)),
                     0);
    snprintf(want, sizeof(want), "%s/conf/certs/ca.pem", cwd);
    assert_string_equal(c.ca, want);
    vg_conf_free(keys, &c);

    cfg_init(&c);
    assert_int_equal(parse_as(&c, "agent.conf", "[tls]\nca = ca.pem\n", err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/ca.pem", cwd);
    assert_string_equal(c.ca, want);
    vg_conf_free(keys, &c);

    /* Strings are never treated as paths. */
    cfg_init(&c);
    assert_int_equal(parse_as(&c, "/etc/vigil/agent.conf", "[main]\nlabel = x/y\n", err,
                              sizeof(err)),
                     0);
    assert_string_equal(c.label, "x/y");
    vg_conf_free(keys, &c);
}

static void test_load_relative_path(void **state)
{
    static const char text[] = "[main]\n"
                               "name = a\n"
                               "data_dir = spool\n"
                               "[tls]\n"
                               "ca = \"certs/my ca.pem\"\n";
    char path[PATH_MAX], err[512], want[PATH_MAX + 64];
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "agent.conf");
    write_raw(path, text, sizeof(text) - 1);
    memset(&c, 0, sizeof(c));
    if (vg_conf_load(keys, &c, path, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    snprintf(want, sizeof(want), "%s/spool", tmpdir);
    assert_string_equal(c.data_dir, want);
    snprintf(want, sizeof(want), "%s/certs/my ca.pem", tmpdir);
    assert_string_equal(c.ca, want);
    assert_string_equal(c.label, "vigil"); /* defaults applied by load */
    assert_int_equal(c.workers, 4);
    vg_conf_free(keys, &c);
    assert_int_equal(unlink(path), 0);
}

/* ---- vg_conf_load ------------------------------------------------------------ */

static void test_load_required(void **state)
{
    char path[PATH_MAX], err[512], want[PATH_MAX + 128];
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "noname.conf");
    write_str(path, "[main]\nworkers = 2\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "%s: [main] name is required (agent name)", path);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);

    /* An empty value does not count as set. */
    write_str(path, "[main]\nname =\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);

    /* vg_conf_parse leaves the check to the caller. */
    cfg_init(&c);
    assert_int_equal(parse(&c, "[main]\nworkers = 2\n", err, sizeof(err)), 0);
    assert_int_equal(vg_conf_check_required(keys, &c, NAME, err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, "test.conf: [main] name is required (agent name)");
    vg_conf_free(keys, &c);

    write_str(path, "[main]\nname = n\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), 0);
    assert_string_equal(c.name, "n");
    vg_conf_free(keys, &c);
    assert_int_equal(unlink(path), 0);
}

static void test_load_error_names_file(void **state)
{
    char path[PATH_MAX], err[512], want[PATH_MAX + 128];
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "bad.conf");
    write_str(path, "[main]\nname = x\n\n[net]\nmode = never\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "%s:5: [net] mode: 'never' is not one of always|batch|interval",
             path);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);
    assert_int_equal(unlink(path), 0);
}

static void test_load_missing_file(void **state)
{
    char path[PATH_MAX], err[512], want[PATH_MAX + 128];
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "nope.conf");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want),
             "cannot read %s: %s (give another with -c FILE; --example-config prints one with "
             "every key)",
             path, strerror(ENOENT));
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);

    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, tmpdir, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "cannot read %s: %s", tmpdir, strerror(EISDIR));
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);
}

static void test_load_size_limit(void **state)
{
    char path[PATH_MAX], err[512], want[PATH_MAX + 128];
    const size_t big = 2 * 1024 * 1024;
    char *text = malloc(big);
    struct cfg c;
    (void)state;

    assert_non_null(text);
    tpath(path, sizeof(path), "huge.conf");

    /* Exactly the maximum: a key, then 64-byte comment lines. */
    memset(text, '\n', VG_CONF_MAX_FILE);
    for (size_t i = 0; i + 64 <= VG_CONF_MAX_FILE; i += 64)
        memset(text + i, '#', 63);
    memcpy(text, "[main]\nname = z\n", 16);
    write_raw(path, text, VG_CONF_MAX_FILE);
    memset(&c, 0, sizeof(c));
    if (vg_conf_load(keys, &c, path, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    assert_string_equal(c.name, "z");
    vg_conf_free(keys, &c);

    /* One byte more, and 2 MB: refused before parsing. */
    write_raw(path, text, VG_CONF_MAX_FILE + 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "%s: larger than %d bytes; is this a configuration file?", path,
             VG_CONF_MAX_FILE);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);

    memset(text, 'A', big);
    write_raw(path, text, big);
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);

    free(text);
    assert_int_equal(unlink(path), 0);
}

/* ---- drop-ins ---------------------------------------------------------------- */

/* tmpdir/d.conf.d/name, written with text (NULL: a directory). */
static void dropin(const char *name, const char *text)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/d.conf.d/%s", tmpdir, name);
    if (text)
        write_str(path, text);
    else
        assert_int_equal(mkdir(path, 0755), 0);
}

static void dropin_rm(const char *name)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/d.conf.d/%s", tmpdir, name);
    if (unlink(path) != 0)
        assert_int_equal(rmdir(path), 0);
}

static void test_dropins_order(void **state)
{
    char path[PATH_MAX], dir[PATH_MAX + 8], err[512], want[PATH_MAX + 128];
    size_t n = 99;
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "d.conf");
    snprintf(dir, sizeof(dir), "%s.d", path);
    write_str(path, "[main]\nname = main\nlabel = main\nworkers = 2\n"
                    "[net]\nservers = m1\nservers = m2\n");
    /* No directory: the file alone. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load_ex(keys, &c, path, 0, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    assert_int_equal(c.servers.n, 2);
    vg_conf_free(keys, &c);

    assert_int_equal(mkdir(dir, 0755), 0);
    /* Written out of order: read as 10-, 20-, 9- (strcmp, not numeric). */
    dropin("9-last.conf", "[main]\nworkers = 9\n");
    dropin("20-b.conf", "[main]\nlabel = b\nworkers = 20\n[tls]\nca = ca.pem\n");
    dropin("10-a.conf", "[main]\nlabel = a\nworkers = 10\n[net]\nservers = d1\nservers = d2, d3\n");
    memset(&c, 0, sizeof(c));
    if (vg_conf_load_ex(keys, &c, path, 0, &n, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    assert_int_equal(n, 3);
    assert_string_equal(c.name, "main"); /* set by the main file alone */
    assert_string_equal(c.label, "b");   /* 20- after 10- */
    assert_int_equal(c.workers, 9);      /* "9-" sorts after "20-" */
    /* A list set in a drop-in replaces the earlier list; its lines there add up. */
    assert_int_equal(c.servers.n, 3);
    assert_string_equal(c.servers.v[0], "d1");
    assert_string_equal(c.servers.v[2], "d3");
    /* Relative to the drop-in's directory. */
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    assert_string_equal(c.ca, want);
    vg_conf_free(keys, &c);

    /* A key given twice in one drop-in is still an error, naming it. */
    dropin("15-twice.conf", "[main]\nlabel = x\nlabel = y\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "%s/15-twice.conf:3: [main] label is set twice", dir);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);
    dropin_rm("15-twice.conf");

    /* VG_CONF_NO_DROPINS: the file alone. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load_ex(keys, &c, path, VG_CONF_NO_DROPINS, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(c.workers, 2);
    vg_conf_free(keys, &c);

    dropin_rm("9-last.conf");
    dropin_rm("10-a.conf");
    dropin_rm("20-b.conf");
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(unlink(path), 0);
}

static void test_dropins_ignored(void **state)
{
    char path[PATH_MAX], dir[PATH_MAX + 8], fifo[PATH_MAX + 64], err[512];
    size_t n = 0;
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "d.conf");
    snprintf(dir, sizeof(dir), "%s.d", path);
    write_str(path, "[main]\nname = main\n");
    assert_int_equal(mkdir(dir, 0755), 0);
    dropin("50-good.conf", "[main]\nlabel = good\n");
    /* Not drop-ins: each would fail the load if it were read. */
    dropin("README", "not a configuration\n");
    dropin("60-old.conf.bak", "[main]\nbogus = 1\n");
    dropin("70-new.conf~", "[main]\nbogus = 1\n");
    dropin(".80-hidden.conf", "[main]\nbogus = 1\n");
    dropin(".conf", "[main]\nbogus = 1\n");
    dropin("90-dir.conf", NULL);
    snprintf(fifo, sizeof(fifo), "%s/95-fifo.conf", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0); /* and never waited on */
    memset(&c, 0, sizeof(c));
    if (vg_conf_load_ex(keys, &c, path, 0, &n, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    assert_int_equal(n, 1);
    assert_string_equal(c.label, "good");
    vg_conf_free(keys, &c);

    /* A required key may come from a drop-in; it is checked on the merge. */
    write_str(path, "[main]\nworkers = 3\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "(+1 drop-in): [main] name is required"));
    vg_conf_free(keys, &c);
    dropin("55-name.conf", "[main]\nname = from-dropin\n");
    memset(&c, 0, sizeof(c));
    if (vg_conf_load(keys, &c, path, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    assert_string_equal(c.name, "from-dropin");
    vg_conf_free(keys, &c);

    dropin_rm("55-name.conf");
    dropin_rm("50-good.conf");
    dropin_rm("README");
    dropin_rm("60-old.conf.bak");
    dropin_rm("70-new.conf~");
    dropin_rm(".80-hidden.conf");
    dropin_rm(".conf");
    dropin_rm("90-dir.conf");
    dropin_rm("95-fifo.conf");
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(unlink(path), 0);
}

static void test_dropins_errors(void **state)
{
    char path[PATH_MAX], dir[PATH_MAX + 8], err[512], want[PATH_MAX + 128], name[32];
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "d.conf");
    snprintf(dir, sizeof(dir), "%s.d", path);
    write_str(path, "[main]\nname = main\n");

    /* path.d is a file, not a directory. */
    write_str(dir, "x");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "cannot read the drop-in directory %s: %s", dir,
             strerror(ENOTDIR));
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);
    assert_int_equal(unlink(dir), 0);

    /* A bad line names the drop-in and the line. */
    assert_int_equal(mkdir(dir, 0755), 0);
    dropin("10-ok.conf", "[main]\nlabel = ok\n");
    dropin("20-bad.conf", "# comment\n[net]\nmode = never\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want),
             "%s/20-bad.conf:3: [net] mode: 'never' is not one of always|batch|interval", dir);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);
    dropin_rm("20-bad.conf");

    /* A dangling symbolic link cannot be read: named too. */
    snprintf(want, sizeof(want), "%s/30-gone.conf", dir);
    assert_int_equal(symlink("nowhere.conf", want), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    assert_non_null(strstr(err, "30-gone.conf: "));
    vg_conf_free(keys, &c);
    dropin_rm("30-gone.conf");

    /* At most VG_CONF_MAX_DROPINS. */
    for (int i = 1; i < VG_CONF_MAX_DROPINS; i++) {
        snprintf(name, sizeof(name), "n%03d.conf", i);
        dropin(name, "");
    }
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), 0);
    vg_conf_free(keys, &c);
    dropin("n999.conf", "");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), VG_ECONFIG);
    snprintf(want, sizeof(want), "%s: more than %d drop-in files", dir, VG_CONF_MAX_DROPINS);
    assert_string_equal(err, want);
    vg_conf_free(keys, &c);
    dropin_rm("n999.conf");
    for (int i = 1; i < VG_CONF_MAX_DROPINS; i++) {
        snprintf(name, sizeof(name), "n%03d.conf", i);
        dropin_rm(name);
    }

    dropin_rm("10-ok.conf");
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(unlink(path), 0);
}

/* Loading twice into the same object frees the first values (LSan checks). */
static void test_load_twice(void **state)
{
    char path[PATH_MAX], err[512];
    struct cfg c;
    (void)state;

    tpath(path, sizeof(path), "twice.conf");
    write_str(path, "[main]\nname = one\n[net]\nservers = a\n[tls]\nca = /ca\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), 0);
    write_str(path, "[main]\nname = two\n");
    assert_int_equal(vg_conf_load(keys, &c, path, err, sizeof(err)), 0);
    assert_string_equal(c.name, "two");
    assert_null(c.ca);                /* back to its (empty) default */
    assert_int_equal(c.servers.n, 2); /* back to the default list */
    vg_conf_free(keys, &c);
    assert_int_equal(unlink(path), 0);
}

/* ---- vg_conf_set, vg_conf_free, dump ----------------------------------------- */

static void test_set(void **state)
{
    struct cfg c;
    char err[512];
    (void)state;

    cfg_init(&c);
    assert_int_equal(vg_conf_set(keys, &c, "main", "name", "cli", err, sizeof(err)), 0);
    assert_string_equal(c.name, "cli");
    assert_int_equal(vg_conf_set(keys, &c, "main", "name", "again", err, sizeof(err)), 0);
    assert_string_equal(c.name, "again");
    assert_int_equal(vg_conf_set(keys, &c, "main", "workers", "16", err, sizeof(err)), 0);
    assert_int_equal(c.workers, 16);
    assert_int_equal(vg_conf_set(keys, &c, "main", "verbose", "on", err, sizeof(err)), 0);
    assert_int_equal(c.verbose, 1);
    assert_int_equal(vg_conf_set(keys, &c, "net", "interval", "5m", err, sizeof(err)), 0);
    assert_int_equal(c.interval, 300000);
    assert_int_equal(vg_conf_set(keys, &c, "net", "mode", "always", err, sizeof(err)), 0);
    assert_int_equal(c.mode, 0);
    assert_int_equal(vg_conf_set(keys, &c, "net", "servers", "x, y, z", err, sizeof(err)), 0);
    assert_int_equal(c.servers.n, 3); /* replaces */
    assert_string_equal(c.servers.v[2], "z");

    assert_int_equal(vg_conf_set(keys, &c, "main", "workers", "65", err, sizeof(err)),
                     VG_ECONFIG);
    assert_string_equal(err, "[main] workers: '65' is out of range (1 to 64)");
    assert_int_equal(c.workers, 16); /* unchanged */
    assert_int_equal(vg_conf_set(keys, &c, "main", "workers", "", err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, "[main] workers: '' is not a whole number");
    assert_int_equal(vg_conf_set(keys, &c, "net", "mode", "x", err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, "[net] mode: 'x' is not one of always|batch|interval");
    assert_int_equal(c.mode, 0);

    assert_int_equal(vg_conf_set(keys, &c, "main", "bogus", "1", err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, "unknown configuration key [main] bogus");
    assert_int_equal(vg_conf_set(keys, &c, "nope", "name", "1", err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, "unknown configuration key [nope] name");
    assert_int_equal(vg_conf_set(keys, &c, "net", "name", "1", err, sizeof(err)), VG_ECONFIG);
    assert_string_equal(err, "unknown configuration key [net] name");
    vg_conf_free(keys, &c);
}

static void test_conf_free_all(void **state)
{
    struct cfg c;
    (void)state;

    parse_ok(&c, "[main]\nname = n\ndata_dir = /d\n[net]\nservers = a,b,c\n[tls]\nca = /ca\n");
    vg_conf_free(keys, &c);
    assert_null(c.name);
    assert_null(c.label);
    assert_null(c.data_dir);
    assert_null(c.ca);
    assert_null(c.servers.v);
    assert_int_equal(c.servers.n, 0);
    vg_conf_free(keys, &c); /* twice is harmless */

    /* After an error part-way through, what was set is still freed. */
    cfg_init(&c);
    assert_int_equal(parse(&c, "[main]\nname = n\n[net]\nservers = a\nservers = b,,c\n", NULL, 0),
                     VG_ECONFIG);
    vg_conf_free(keys, &c);
    assert_null(c.name);
    assert_int_equal(c.servers.n, 0);

    /* A never-defaulted, zeroed object. */
    memset(&c, 0, sizeof(c));
    vg_conf_free(keys, &c);
}

/* vg_conf_dump writes INI that reads back to the same values. */
static void test_dump_round_trip(void **state)
{
    struct cfg a, b;
    char *out = NULL;
    size_t outlen = 0;
    char err[512];
    FILE *f;
    (void)state;

    parse_ok(&a, "[main]\nname = n1\nverbose = yes\nworkers = 7\n"
                 "[net]\ninterval = 1500ms\nmax_size = 2M\nservers = p, q\nmode = interval\n");
    f = open_memstream(&out, &outlen);
    assert_non_null(f);
    vg_conf_dump(keys, &a, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(out, "[net]\ninterval = 1500ms\nmax_size = 2097152\nservers = p,q\n"
                                "mode = interval\n"));
    cfg_init(&b);
    if (vg_conf_parse(keys, &b, "/dump.conf", out, outlen, err, sizeof(err)) != 0)
        fail_msg("dump does not parse: %s\n%s", err, out);
    assert_string_equal(b.name, a.name);
    assert_string_equal(b.label, a.label);
    assert_string_equal(b.data_dir, a.data_dir);
    assert_int_equal(b.verbose, a.verbose);
    assert_int_equal(b.workers, a.workers);
    assert_int_equal(b.interval, a.interval);
    assert_int_equal(b.max_size, a.max_size);
    assert_int_equal(b.servers.n, 2);
    assert_string_equal(b.servers.v[0], "p");
    assert_string_equal(b.servers.v[1], "q");
    assert_int_equal(b.mode, a.mode);
    assert_null(b.ca);
    assert_int_equal(b.port, a.port);
    free(out);
    vg_conf_free(keys, &a);
    vg_conf_free(keys, &b);

    /* The example file is all comments: it parses to the defaults. */
    out = NULL;
    f = open_memstream(&out, &outlen);
    assert_non_null(f);
    vg_conf_print_example(keys, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(out, "# agent name (required)\n#name =\n"));
    assert_non_null(strstr(out, "# one of: always|batch|interval\n#mode = batch\n"));
    cfg_init(&b);
    assert_int_equal(vg_conf_parse(keys, &b, NAME, out, outlen, err, sizeof(err)), 0);
    assert_int_equal(b.workers, 4);
    free(out);
    vg_conf_free(keys, &b);
}

/* A reload compares keys by vg_conf_value and keeps a value with
 * vg_conf_swap: every type's value moves whole, what it owns with it. */
static void test_value_and_swap(void **state)
{
    struct cfg a, b;
    char x[64], y[64];
    (void)state;

    parse_ok(&a, "[main]\nname = one\nverbose = yes\nworkers = 7\n"
                 "[net]\ninterval = 1500ms\nservers = p, q\nmode = interval\n");
    parse_ok(&b, "[main]\nname = two\n[net]\nservers = r\n");
    for (const struct vg_conf_key *k = keys; k->key; k++) {
        char before_a[64], before_b[64];
        vg_conf_value(k, &a, before_a, sizeof(before_a));
        vg_conf_value(k, &b, before_b, sizeof(before_b));
        assert_int_equal(vg_conf_same(k, &a, &b), strcmp(before_a, before_b) == 0);
        vg_conf_swap(k, &a, &b);
        vg_conf_value(k, &a, x, sizeof(x));
        vg_conf_value(k, &b, y, sizeof(y));
        assert_string_equal(x, before_b);
        assert_string_equal(y, before_a);
    }
    vg_conf_value(&keys[0], &a, x, sizeof(x));
    assert_string_equal(x, "two");
    vg_conf_value(&keys[7], &a, x, sizeof(x)); /* servers */
    assert_string_equal(x, "r");
    vg_conf_value(&keys[7], &b, x, sizeof(x));
    assert_string_equal(x, "p,q");
    vg_conf_value(&keys[5], &b, x, sizeof(x)); /* interval */
    assert_string_equal(x, "1500ms");
    /* Cut to the buffer, terminated. */
    vg_conf_value(&keys[7], &b, x, 2);
    assert_string_equal(x, "p");
    vg_conf_free(keys, &a);
    vg_conf_free(keys, &b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_partial_file_and_bounds),
        cmocka_unit_test(test_err_unknown_section),
        cmocka_unit_test(test_err_unknown_key),
        cmocka_unit_test(test_err_key_outside_section),
        cmocka_unit_test(test_err_duplicate),
        cmocka_unit_test(test_err_bad_bool),
        cmocka_unit_test(test_err_uint),
        cmocka_unit_test(test_err_duration),
        cmocka_unit_test(test_err_size),
        cmocka_unit_test(test_err_enum),
        cmocka_unit_test(test_err_empty_value),
        cmocka_unit_test(test_err_syntax),
        cmocka_unit_test(test_err_long_line),
        cmocka_unit_test(test_err_nul_byte),
        cmocka_unit_test(test_err_first_line_wins),
        cmocka_unit_test(test_list_append),
        cmocka_unit_test(test_list_max),
        cmocka_unit_test(test_indented_keys),
        cmocka_unit_test(test_inline_comments),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_hostile_small),
        cmocka_unit_test(test_paths_in_memory),
        cmocka_unit_test(test_load_relative_path),
        cmocka_unit_test(test_load_required),
        cmocka_unit_test(test_load_error_names_file),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_size_limit),
        cmocka_unit_test(test_load_twice),
        cmocka_unit_test(test_dropins_order),
        cmocka_unit_test(test_dropins_ignored),
        cmocka_unit_test(test_dropins_errors),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_conf_free_all),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_value_and_swap),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
