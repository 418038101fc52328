/*
 * Advisory feed parsers: the exact fixes each fixture yields, format
 * detection, the mapping rules on small inline documents, and malformed
 * input (truncated, wrong types, bad dates, huge strings) giving
 * VG_EPROTO with a message that says where.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../collector/advisory.h"
#include "err.h"
#include "util.h"

/* Every fix as one line:
 * release|package|arch|fixed|advisory|cves|severity|urgency|cvss|released|platforms */
struct got {
    char **v;
    size_t n;
    int stop_at; /* return 7 from the stop_at-th call (1-based); 0 never */
};

static int collect(void *ctx, const struct adv_fix *f)
{
    struct got *g = ctx;
    char line[4096];

    assert_non_null(f->release);
    assert_non_null(f->package);
    assert_non_null(f->arch);
    assert_non_null(f->fixed_version);
    assert_non_null(f->advisory);
    assert_non_null(f->cves);
    assert_non_null(f->severity);
    assert_non_null(f->urgency);
    assert_non_null(f->platforms);
    snprintf(line, sizeof(line), "%s|%s|%s|%s|%s|%s|%s|%s|%.1f|%lld|%s", f->release, f->package,
             f->arch, f->fixed_version, f->advisory, f->cves, f->severity, f->urgency, f->cvss,
             (long long)f->released_ms, f->platforms);
    g->v = realloc(g->v, (g->n + 1) * sizeof(*g->v));
    assert_non_null(g->v);
    assert_non_null(g->v[g->n] = strdup(line));
    g->n++;
    return g->stop_at && (int)g->n == g->stop_at ? 7 : 0;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i]);
    free(g->v);
    memset(g, 0, sizeof(*g));
}

static int has(const struct got *g, const char *line)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->v[i], line) == 0)
            return 1;
    return 0;
}

/* Number of fixes whose line contains s. */
static size_t count(const struct got *g, const char *s)
{
    size_t c = 0;
    for (size_t i = 0; i < g->n; i++)
        c += strstr(g->v[i], s) != NULL;
    return c;
}

static char *fixture(const char *name, size_t *len)
{
    char p[PATH_MAX], *t;
    const char *base = getenv("VG_ROOT");
    snprintf(p, sizeof(p), "%s/tests/fixtures/advisories/%s", base ? base : ".", name);
    assert_int_equal(vg_file_read(p, 1u << 20, &t, len), 0);
    return t;
}

/* Parses text; returns the rc, fills g, st, key and err. */
static int parse(enum adv_format f, const char *text, size_t len, struct got *g,
                 struct adv_stats *st, char *key, char *err)
{
    return adv_parse_stats(f, text, len, collect, g, key, ADV_DOC_KEY_MAX, st, err, 256);
}

static int parse_s(enum adv_format f, const char *text, struct got *g, struct adv_stats *st,
                   char *err)
{
    char key[ADV_DOC_KEY_MAX];
    return parse(f, text, strlen(text), g, st, key, err);
}

/* ---- names and detection ------------------------------------------------ */

static void format_names(void **state)
{
    enum adv_format f = ADV_AUTO;
    (void)state;
    assert_int_equal(adv_format_parse("debian-json", &f), 0);
    assert_int_equal(f, ADV_DEBIAN_JSON);
    assert_int_equal(adv_format_parse("dsa-list", &f), 0);
    assert_int_equal(f, ADV_DSA_LIST);
    assert_int_equal(adv_format_parse("csaf", &f), 0);
    assert_int_equal(f, ADV_CSAF);
    assert_int_equal(adv_format_parse("auto", &f), 0);
    assert_int_equal(f, ADV_AUTO);
    assert_int_equal(adv_format_parse("CSAF", &f), -EINVAL);
    assert_int_equal(adv_format_parse("oval", &f), -EINVAL);
    assert_int_equal(adv_format_parse(NULL, &f), -EINVAL);
    assert_string_equal(adv_format_name(ADV_DEBIAN_JSON), "debian-json");
    assert_string_equal(adv_format_name(ADV_DSA_LIST), "dsa-list");
    assert_string_equal(adv_format_name(ADV_CSAF), "csaf");
    assert_string_equal(adv_format_name(ADV_AUTO), "auto");
}

static void detect_fixtures(void **state)
{
    static const struct {
        const char *file;
        enum adv_format f;
    } cases[] = { { "debian-tracker.json", ADV_DEBIAN_JSON },
                  { "DSA-list", ADV_DSA_LIST },
                  { "DLA-list", ADV_DSA_LIST },
                  { "rhsa-2023-0001.json", ADV_CSAF } };
    char err[256];
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(cases); i++) {
        size_t len;
        char *t = fixture(cases[i].file, &len);
        enum adv_format f = ADV_AUTO;
        assert_int_equal(adv_detect(t, len, &f, err, sizeof(err)), 0);
        assert_int_equal(f, cases[i].f);
        assert_string_equal(err, "");
        free(t);
    }
}

static void detect_structure(void **state)
{
    static const struct {
        const char *text;
        int rc;
        enum adv_format f;
        const char *msg; /* part of the message */
    } cases[] = {
        /* Blank lines and a byte order mark before the content. */
        { "\xef\xbb\xbf\n\n  {\"zlib\": {\"CVE-2023-45853\": {\"releases\": {}}}}", 0,
          ADV_DEBIAN_JSON, NULL },
        { " \n[01 Dec 2023] DLA-3672-1 ncurses - security update\n", 0, ADV_DSA_LIST, NULL },
        { "[01 Mar 2024] DSA-10000\r\n\t[sid] - x 1\r\n", 0, ADV_DSA_LIST, NULL },
        /* "document" need not come first. */
        { "{\"vulnerabilities\": [], \"document\": {\"csaf_version\": \"2.0\"}}", 0, ADV_CSAF,
          NULL },
        { "{\"openssl\": {\"TEMP-0000000-1A2B3C\": {\"releases\": {}}}}", 0, ADV_DEBIAN_JSON,
          NULL },
        { "", VG_EPROTO, ADV_AUTO, "empty input" },
        { " \n\t ", VG_EPROTO, ADV_AUTO, "empty input" },
        { "<?xml version=\"1.0\"?>", VG_EPROTO, ADV_AUTO, "starts with \"<?xml ve\"" },
        { "[{\"id\": 1}]", VG_EPROTO, ADV_AUTO, "JSON array" },
        { "{}", VG_EPROTO, ADV_AUTO, "empty object" },
        { "{\"document\": {\"title\": \"x\"}}", VG_EPROTO, ADV_AUTO, "csaf_version" },
        { "{\"product_tree\": {}}", VG_EPROTO, ADV_AUTO, "$.document: missing" },
        { "{\"foo\": 1}", VG_EPROTO, ADV_AUTO, "$.foo: neither" },
        { "{\"foo\": {\"bar\": 1}}", VG_EPROTO, ADV_AUTO, "$.foo: neither" },
        { "{\"foo\": {\"CVE-2023-1234\": ", VG_EPROTO, ADV_AUTO, "truncated" },
        { "[21 Nov 2023] USN-1-1 x - y\n", VG_EPROTO, ADV_AUTO, "line 1" },
        { "[2023-11-21] DSA-5560-1 x - y\n", VG_EPROTO, ADV_AUTO, "line 1" },
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(cases); i++) {
        enum adv_format f = ADV_AUTO;
        int rc = adv_detect(cases[i].text, strlen(cases[i].text), &f, err, sizeof(err));
        if (rc != cases[i].rc || (cases[i].msg && !strstr(err, cases[i].msg)))
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
        if (rc == 0)
            assert_int_equal(f, cases[i].f);
    }
    /* NULL with no length is empty input, not a crash. */
    assert_int_equal(adv_detect(NULL, 0, &(enum adv_format){ 0 }, err, sizeof(err)), VG_EPROTO);
}

/* ---- Debian tracker JSON ---------------------------------------------- */

static void tracker_fixture(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char key[ADV_DOC_KEY_MAX], err[256];
    size_t len;
    char *t = fixture("debian-tracker.json", &len);
    (void)state;

    assert_int_equal(parse(ADV_DEBIAN_JSON, t, len, &g, &st, key, err), 0);
    assert_string_equal(err, "");
    assert_string_equal(key, "debian-tracker");
    assert_int_equal(g.n, 13);
    assert_int_equal(st.fixes, 13);
    /* curl bullseye "0", imagemagick bullseye unimportant, libxml2
     * CVE-2023-39615 twice unimportant, linux undetermined and "0", salt
     * end-of-life. */
    assert_int_equal(st.ignored, 7);
    assert_int_equal(st.skipped, 0);
    assert_string_equal(st.skip_reason, "");

    /* In document order: packages, then issues, then releases. */
    assert_string_equal(g.v[0], "bookworm|curl||7.88.1-10+deb12u3||CVE-2023-38039||not yet "
                                "assigned|-1.0|0|");
    assert_string_equal(g.v[1], "sid|curl||8.3.0-1||CVE-2023-38039||not yet assigned|-1.0|0|");
    assert_string_equal(g.v[12], "bullseye|strongswan||5.9.1-1+deb11u4||CVE-2023-41913||not yet "
                                 "assigned|-1.0|0|");
    assert_true(has(&g, "bullseye|curl||7.74.0-1.3+deb11u10||CVE-2023-38545||high|-1.0|0|"));
    /* Open: no fix yet; TEMP ids kept; urgency as given. */
    assert_true(has(&g, "bookworm|imagemagick||||TEMP-1055926-9C5F2E||low|-1.0|0|"));
    assert_true(has(&g, "bookworm|libxml2||||CVE-2024-25062||low|-1.0|0|"));
    assert_true(has(&g, "bullseye|libxml2||2.9.10+dfsg-6.7+deb11u5||CVE-2024-25062||medium**|-1.0|"
                        "0|"));
    assert_true(has(&g, "bullseye|linux||||CVE-2024-26581||not yet assigned|-1.0|0|"));
    assert_true(has(&g, "bookworm|openssl||3.0.13-1~deb12u1||CVE-2023-5678||not yet "
                        "assigned|-1.0|0|"));
    /* What the rules drop is absent. */
    assert_int_equal(count(&g, "bullseye|curl||0|"), 0);
    assert_int_equal(count(&g, "CVE-2023-39615"), 0);
    assert_int_equal(count(&g, "CVE-2023-52452"), 0);
    assert_int_equal(count(&g, "|salt|"), 0);
    assert_int_equal(count(&g, "bullseye|imagemagick"), 0);
    got_free(&g);

    /* The real export is one compact line: the same fixes. */
    {
        char *c = malloc(len + 1), *o = c;
        int in_str = 0;
        assert_non_null(c);
        for (size_t i = 0; i < len; i++) {
            if (t[i] == '"' && (i == 0 || t[i - 1] != '\\'))
                in_str = !in_str;
            if (in_str || (t[i] != ' ' && t[i] != '\n'))
                *o++ = t[i];
        }
        assert_int_equal(parse(ADV_AUTO, c, (size_t)(o - c), &g, &st, key, err), 0);
        assert_int_equal(g.n, 13);
        assert_int_equal(st.ignored, 7);
        got_free(&g);
        free(c);
    }
    free(t);
}

static void tracker_types(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char err[256];
    const char *doc =
        "{\"pkg\": 5, \"arr\": [1, {\"x\": null}],\n"
        " \"p2\": {\"NOTACVE\": {}, \"CVE-2024-0001\": 7, \"CVE-2024-0002\": {\"releases\": []},\n"
        "  \"CVE-2024-0003\": {\"releases\": {\"bookworm\": \"x\", \"bullseye\": {\"status\": 1},\n"
        "   \"trixie\": {\"status\": \"resolved\"}, \"sid\": {\"status\": \"resolved\", "
        "\"fixed_version\": \"1.0-1\", \"urgency\": 3},\n"
        "   \"Bad Release\": {\"status\": \"open\"}, \"buster\": {\"status\": \"fixed\"},\n"
        "   \"bookworm-security\": {\"status\": \"resolved\", \"fixed_version\": \"1.0 beta\"}}}},\n"
        " \"bad name\": {\"CVE-2024-0004\": {\"releases\": {\"sid\": {\"status\": \"open\"}}}},\n"
        " \"p3\": {\"CVE-2024-0005\": {\"releases\": {\"sid\": {\"status\": \"open\", "
        "\"urgency\": \"high\", \"nodsa\": {\"odd\": true}}}}}}";
    (void)state;

    assert_int_equal(parse_s(ADV_DEBIAN_JSON, doc, &g, &st, err), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.v[0], "sid|p2||1.0-1||CVE-2024-0003|||-1.0|0|");
    assert_string_equal(g.v[1], "sid|p3||||CVE-2024-0005||high|-1.0|0|");
    /* pkg, arr, NOTACVE, 0001, 0002, bookworm, bullseye, trixie, Bad
     * Release, buster, "1.0 beta", "bad name". */
    assert_int_equal(st.skipped, 12);
    assert_string_equal(st.skip_reason, "$.pkg: not an object");
    got_free(&g);
}

static void tracker_huge_version(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char err[256], *doc, v[400];
    (void)state;

    memset(v, '1', 300);
    v[300] = '\0';
    assert_non_null(doc = malloc(1024));
    snprintf(doc, 1024,
             "{\"a\": {\"CVE-2024-1000\": {\"releases\": {\"sid\": {\"status\": \"resolved\", "
             "\"fixed_version\": \"%s\"}, \"trixie\": {\"status\": \"resolved\", "
             "\"fixed_version\": \"2.0-1\"}}}}}",
             v);
    assert_int_equal(parse_s(ADV_DEBIAN_JSON, doc, &g, &st, err), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0], "trixie|a||2.0-1||CVE-2024-1000|||-1.0|0|");
    assert_int_equal(st.skipped, 1);
    assert_non_null(strstr(st.skip_reason, "$.a.CVE-2024-1000.releases.sid.fixed_version: over "
                                           "256 bytes"));
    got_free(&g);
    free(doc);
}

static void tracker_malformed(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        { "[1, 2]", "debian-json: $: top level is not an object" },
        { "\"text\"", "$: top level is not an object" },
        { "   ", "$: empty document" },
        { "{\"a\": {\"CVE-2024-1\": {\"releases\": {,}}}}", "$.a: invalid JSON at line 1" },
        { "{\"a\": {}\n\n,\n\"b\": {\"CVE-2024-1\": tru}}", "$.b: invalid JSON at line 4" },
        { "{\"a\": {}} x", "text after the top-level object at line 1, column 11" },
        { "{\"a\" {}}", "$.a: expected ':'" },
        { "{\"a\": {} \"b\": {}}", "$.a: expected ',' or '}'" },
        { "{\"a\": {}, }", "expected a member name" },
        { "{\"a\": {\"CVE-2024-1\": {\"releases\": {}}}", "truncated" },
        { "{\"a\": \"unterminated}", "truncated" },
        { "{\"a\\u0000b\": {}}", "invalid JSON" },
        { "{\"document\": {\"csaf_version\": \"2.0\"}}", "a CSAF document" },
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(cases); i++) {
        struct got g = { 0 };
        struct adv_stats st;
        int rc = parse_s(ADV_DEBIAN_JSON, cases[i].text, &g, &st, err);
        if (rc != VG_EPROTO || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
        assert_null(strchr(err, '\n'));
        got_free(&g);
    }
}

/* Every proper prefix of a fixture is an error with a message, never a
 * crash or a silent success. */
static void truncated_fixtures(void **state)
{
    static const struct {
        const char *file;
        enum adv_format f;
        size_t step;
    } cases[] = { { "debian-tracker.json", ADV_DEBIAN_JSON, 1 },
                  { "rhsa-2023-0001.json", ADV_CSAF, 7 },
                  { "debian-tracker.json", ADV_AUTO, 3 },
                  { "rhsa-2023-0001.json", ADV_AUTO, 13 } };
    char err[256], key[ADV_DOC_KEY_MAX];
    (void)state;
    for (size_t c = 0; c < VG_ARRAY_SIZE(cases); c++) {
        size_t len, n;
        char *t = fixture(cases[c].file, &len);
        /* The fixtures end in "}\n": drop the newline first. */
        for (n = len - 2; n > 0; n -= n > cases[c].step ? cases[c].step : n) {
            struct got g = { 0 };
            struct adv_stats st;
            char *cut = malloc(n);
            int rc;
            assert_non_null(cut);
            memcpy(cut, t, n); /* not NUL-terminated: the length is what counts */
            rc = parse(cases[c].f, cut, n, &g, &st, key, err);
            if (rc != VG_EPROTO || !err[0])
                fail_msg("%s cut at %zu: rc %d err \"%s\"", cases[c].file, n, rc, err);
            got_free(&g);
            free(cut);
        }
        free(t);
    }
}

/* ---- DSA/DLA lists ----------------------------------------------------- */

static void dsa_fixture(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char key[ADV_DOC_KEY_MAX], err[256];
    size_t len;
    char *t = fixture("DSA-list", &len);
    (void)state;

    assert_int_equal(parse(ADV_DSA_LIST, t, len, &g, &st, key, err), 0);
    assert_string_equal(key, "dsa-list");
    assert_int_equal(g.n, 11);
    assert_int_equal(st.ignored, 2); /* <not-affected>, <end-of-life> */
    assert_int_equal(st.skipped, 0);
    assert_string_equal(g.v[0], "bookworm|strongswan||5.9.8-5+deb12u1|DSA-5560-1|CVE-2023-41913|||"
                                "-1.0|1700524800000|");
    assert_string_equal(g.v[1], "bullseye|strongswan||5.9.1-1+deb11u4|DSA-5560-1|CVE-2023-41913|||"
                                "-1.0|1700524800000|");
    /* Two {...} lines merged, sorted, deduplicated. */
    assert_string_equal(g.v[2], "bookworm|wireshark||4.0.11-1~deb12u1|DSA-5559-1|CVE-2023-2906 "
                                "CVE-2023-4511 CVE-2023-4512 CVE-2023-4513 CVE-2023-6175|||-1.0|"
                                "1700438400000|");
    /* The {...} line after a package line (indented with spaces) still counts. */
    assert_string_equal(g.v[3], "bullseye|netty||1:4.1.48-4+deb11u2|DSA-5558-1|CVE-2023-34462 "
                                "CVE-2023-44487|||-1.0|1700265600000|");
    assert_string_equal(g.v[4], "bookworm|netty|||DSA-5558-1|CVE-2023-34462 CVE-2023-44487|||-1.0|"
                                "1700265600000|");
    /* A regression update names no CVE. */
    assert_string_equal(g.v[5], "bookworm|webkit2gtk||2.42.2-1~deb12u1|DSA-5557-2||||-1.0|"
                                "1700092800000|");
    assert_string_equal(g.v[6], "bookworm|chromium||119.0.6045.159-1~deb12u1|DSA-5556-1|"
                                "CVE-2023-5997 CVE-2023-6112|||-1.0|1700006400000|");
    assert_string_equal(g.v[8], "etch|squid||2.6.5-6etch5|DSA-1991-1|CVE-2009-2855 "
                                "CVE-2010-0308|||-1.0|1265241600000|");
    assert_string_equal(g.v[10], "lenny|squid3||3.0.STABLE8-3+lenny3|DSA-1991-1|CVE-2009-2855 "
                                 "CVE-2010-0308|||-1.0|1265241600000|");
    assert_int_equal(count(&g, "bullseye|wireshark"), 0);
    assert_int_equal(count(&g, "bullseye|chromium"), 0);
    assert_int_equal(count(&g, "DSA-1975-1"), 0);
    got_free(&g);

    /* Detected, with the same result. */
    assert_int_equal(parse(ADV_AUTO, t, len, &g, &st, key, err), 0);
    assert_int_equal(g.n, 11);
    assert_string_equal(key, "dsa-list");
    got_free(&g);
    free(t);
}

static void dla_fixture(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char key[ADV_DOC_KEY_MAX], err[256];
    size_t len;
    char *t = fixture("DLA-list", &len);
    (void)state;

    assert_int_equal(parse(ADV_AUTO, t, len, &g, &st, key, err), 0);
    assert_string_equal(key, "dla-list");
    assert_int_equal(g.n, 4);
    assert_string_equal(g.v[0], "buster|ncurses||6.1+20181013-2+deb10u5|DLA-3672-1|CVE-2021-39537 "
                                "CVE-2023-29491|||-1.0|1701388800000|");
    assert_string_equal(g.v[3], "buster|sox||14.4.2+git20190427-1+deb10u2|DLA-3315-2||||-1.0|"
                                "1679270400000|");
    got_free(&g);
    free(t);
}

static void list_rules(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char err[256];
    const char *doc = "[29 Feb 2024] DSA-9999-1 pkg - security update\r\n"
                      "\t{CVE-2023-22809 CVE-2023-4511 DSA-1234-1 bug#1 CVE-2022-99999 "
                      "CVE-2023-4511 CVE-2023-0464}\r\n"
                      "\t[bookworm] - pkg 1.0-1 (bug #1234; low)\n"
                      "\t[bullseye]  -  pkg\n"
                      "\t[trixie] - pkg <unfixed> (bug #1234)\n"
                      "\tTODO: check\n"
                      "\n"
                      "[1 Mar 2024] DSA-10000 other - security update\n"
                      "\t[bookworm] - other 2.0\n";
    (void)state;

    assert_int_equal(parse_s(ADV_DSA_LIST, doc, &g, &st, err), 0);
    assert_int_equal(g.n, 4);
    /* Sorted by year, then number; not CVE ids dropped. */
    assert_string_equal(g.v[0], "bookworm|pkg||1.0-1|DSA-9999-1|CVE-2022-99999 CVE-2023-0464 "
                                "CVE-2023-4511 CVE-2023-22809|||-1.0|1709164800000|");
    /* A package without a version is not fixed yet, as <unfixed>. */
    assert_string_equal(g.v[1], "bullseye|pkg|||DSA-9999-1|CVE-2022-99999 CVE-2023-0464 "
                                "CVE-2023-4511 CVE-2023-22809|||-1.0|1709164800000|");
    assert_string_equal(g.v[2], "trixie|pkg|||DSA-9999-1|CVE-2022-99999 CVE-2023-0464 "
                                "CVE-2023-4511 CVE-2023-22809|||-1.0|1709164800000|");
    /* One-digit day; an id without revision. */
    assert_string_equal(g.v[3], "bookworm|other||2.0|DSA-10000||||-1.0|1709251200000|");
    got_free(&g);
}

/* A list whose second line holds a version of n bytes. */
static char *huge_list(size_t n)
{
    static const char head[] = "[21 Nov 2023] DSA-5560-1 strongswan - security update\n"
                               "\t[bookworm] - strongswan 5.";
    static const char tail[] = "\n\t[bullseye] - strongswan 5.9.1-1+deb11u4\n";
    size_t o = sizeof(head) - 1;
    char *d = malloc(o + n + sizeof(tail));

    assert_non_null(d);
    memcpy(d, head, o);
    memset(d + o, '1', n);
    memcpy(d + o + n, tail, sizeof(tail));
    return d;
}

static void list_huge_version(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char err[256], *doc;
    (void)state;

    /* Over ADV_STR_MAX: that line is skipped and counted. */
    doc = huge_list(300);
    assert_int_equal(parse_s(ADV_DSA_LIST, doc, &g, &st, err), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0], "bullseye|strongswan||5.9.1-1+deb11u4|DSA-5560-1||||-1.0|"
                                "1700524800000|");
    assert_int_equal(st.skipped, 1);
    assert_string_equal(st.skip_reason, "line 2: version over 256 bytes");
    got_free(&g);
    free(doc);

    /* Over ADV_LINE_MAX: not a list this parser reads. */
    doc = huge_list(ADV_LINE_MAX + 10);
    assert_int_equal(parse_s(ADV_DSA_LIST, doc, &g, &st, err), VG_EPROTO);
    assert_string_equal(err, "dsa-list: line 2: longer than 262144 bytes");
    assert_int_equal(g.n, 0);
    free(doc);
}

static void list_malformed(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        { "[21 Foo 2023] DSA-1-1 x - y\n", "dsa-list: line 1: unknown month \"Foo\"" },
        { "[21 Nov 2023] DSA-2-1 x - y\n\t[sid] - x 1\n[30 Feb 2023] DSA-1-1 x - y\n",
          "line 3: no such date \"30 Feb 2023\"" },
        { "[29 Feb 2023] DSA-1-1 x - y\n", "line 1: no such date" },
        { "[00 Jan 2023] DSA-1-1 x - y\n", "line 1: no such date" },
        { "[01 Jan 1969] DSA-1-1 x - y\n", "line 1: no such date" },
        { "[1 Jan 23] DSA-1-1 x - y\n", "line 1: expected \"[DD Mon YYYY]" },
        { "[01 Jan 2023]DSA-1-1 x\n", "line 1: expected" },
        { "[01 Jan 2023] DSA-x x\n", "line 1: expected" },
        { "[01 Jan 2023] DSA-1-1x y\n", "line 1: expected" },
        { "[01 Jan 2023] RHSA-2023:1 x\n", "line 1: expected a DSA- or DLA- id" },
        { "[02 Jan 2023] DSA-2-1 x - y\n[01 Jan 2023] DLA-1-1 x - y\n",
          "line 2: DLA id in a list of DSA ids" },
        { "\t[sid] - x 1\n", "line 1: indented line before the first advisory" },
        { "[01 Jan 2023] DSA-1-1 x\n\t- x 1.0\n", "line 2: package line without a [release]" },
        { "[01 Jan 2023] DSA-1-1 x\n\t[sid] - x <fixed>\n", "line 2: unknown <fixed>" },
        { "[01 Jan 2023] DSA-1-1 x\n\t[sid] - x <unfixed\n", "line 2: \"<\" without \">\"" },
        { "[01 Jan 2023] DSA-1-1 x\n\t[sid - x 1\n", "line 2: \"[\" without \"]\"" },
        { "[01 Jan 2023] DSA-1-1 x\n\t[Sid] - x 1\n", "line 2: bad release name" },
        { "[01 Jan 2023] DSA-1-1 x\n\t[sid] x 1\n", "line 2: expected \"[release] - package" },
        { "[01 Jan 2023] DSA-1-1 x\n\t[sid] - x 1 2\n", "line 2: unexpected text" },
        { "[01 Jan 2023] DSA-1-1 x\n\t{CVE-2023-1234\n", "line 2: \"{\" without a closing" },
        { "[01 Jan 2023] DSA-1-1 x\n\tNOTE: a\0b\n", "line 2: NUL byte" },
        { "\n\n", "no DSA or DLA entries" },
        { "", "no DSA or DLA entries" },
        { "{\"a\": {}}", "line 1: expected" },
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(cases); i++) {
        struct got g = { 0 };
        struct adv_stats st;
        char key[ADV_DOC_KEY_MAX];
        /* The NUL case needs its length. */
        size_t len = strlen(cases[i].text);
        int rc;
        if (strstr(cases[i].text, "NOTE: a"))
            len += 3;
        rc = parse(ADV_DSA_LIST, cases[i].text, len, &g, &st, key, err);
        if (rc != VG_EPROTO || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
        got_free(&g);
    }
}

/* ---- Red Hat CSAF ------------------------------------------------------- */

static void csaf_fixture(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char key[ADV_DOC_KEY_MAX], err[256];
    size_t len;
    char *t = fixture("rhsa-2023-0001.json", &len);
    (void)state;

    assert_int_equal(parse(ADV_CSAF, t, len, &g, &st, key, err), 0);
    assert_string_equal(err, "");
    assert_string_equal(key, "RHSA-2023:0001");
    /* openssl, openssl-libs (BaseOS), openssl-devel, openssl-perl
     * (AppStream) for their arches; the src rpm, listed in both platforms
     * by both vulnerabilities, is ignored. */
    assert_int_equal(g.n, 10);
    assert_int_equal(st.ignored, 4);
    assert_int_equal(st.skipped, 0);
    /* Sorted by release, name, arch; CVE-2023-0286 fixes it first
     * (07:00), the other at the initial release (08:41:51). */
    assert_string_equal(g.v[0], "el9|openssl|aarch64|1:3.0.1-47.el9_1|RHSA-2023:0001|CVE-2022-4304 "
                                "CVE-2023-0286|important||7.4|1677567600000|BaseOS-9.1.0.Z.MAIN");
    assert_string_equal(g.v[1], "el9|openssl|x86_64|1:3.0.1-47.el9_1|RHSA-2023:0001|CVE-2022-4304 "
                                "CVE-2023-0286|important||7.4|1677567600000|BaseOS-9.1.0.Z.MAIN");
    assert_string_equal(g.v[3], "el9|openssl-devel|i686|1:3.0.1-47.el9_1|RHSA-2023:0001|"
                                "CVE-2022-4304 CVE-2023-0286|important||7.4|1677567600000|"
                                "AppStream-9.1.0.Z.MAIN");
    assert_string_equal(g.v[6], "el9|openssl-libs|i686|1:3.0.1-47.el9_1|RHSA-2023:0001|"
                                "CVE-2022-4304 CVE-2023-0286|important||7.4|1677567600000|"
                                "BaseOS-9.1.0.Z.MAIN");
    /* openssl-perl is not affected by CVE-2023-0286: only the moderate
     * one, its score and its date; the per-vulnerability threat wins
     * over the "Important" aggregate. */
    assert_string_equal(g.v[8], "el9|openssl-perl|aarch64|1:3.0.1-47.el9_1|RHSA-2023:0001|"
                                "CVE-2022-4304|moderate||5.9|1677573711000|AppStream-9.1.0.Z.MAIN");
    assert_string_equal(g.v[9], "el9|openssl-perl|x86_64|1:3.0.1-47.el9_1|RHSA-2023:0001|"
                                "CVE-2022-4304|moderate||5.9|1677573711000|AppStream-9.1.0.Z.MAIN");
    assert_int_equal(count(&g, "|src|"), 0);
    got_free(&g);

    assert_int_equal(parse(ADV_AUTO, t, len, &g, &st, key, err), 0);
    assert_int_equal(g.n, 10);
    got_free(&g);
    free(t);
}

#define CSAF_HEAD(extra)                                                                          \
    "{\"document\": {\"category\": \"csaf_security_advisory\", \"csaf_version\": \"2.0\","       \
    " \"aggregate_severity\": {\"text\": \"Moderate\"}, " extra                                  \
    " \"tracking\": {\"id\": \"RHSA-2024:0042\","                                                \
    " \"initial_release_date\": \"2024-01-10T12:00:00.500+02:00\"}},"

/* No relationships and no CPEs: ids split at the first ':', the RHEL
 * major from the platform id. */
static void csaf_fallbacks(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char err[256];
    const char *doc =
        CSAF_HEAD("")
        " \"product_tree\": {\"full_product_names\": [{\"product_id\": \"8Base-RHOSE-4.13\","
        "   \"name\": \"OpenShift\", \"product_identification_helper\": {\"cpe\":"
        "   \"cpe:/a:redhat:openshift:4.13::el8\"}},"
        "  {\"product_id\": \"AppStream-8.6.0.Z.EUS\", \"name\": \"x\","
        "   \"product_identification_helper\": {\"cpe\": \"cpe:/a:redhat:rhel_eus:8.6::appstream\"}},"
        "  {\"product_id\": \"CRB-9.2.0.Z.MAIN\", \"name\": \"x\","
        "   \"product_identification_helper\": {\"cpe\": \"cpe:2.3:a:redhat:enterprise_linux:9:*:*:*:*:*:*:*\"}},"
        "  {\"product_id\": \"SAP-8\", \"name\": \"x\","
        "   \"product_identification_helper\": {\"cpe\": \"cpe:/a:fedora:fedora:39\"}},"
        "  {\"product_id\": \"7Server-RHSCL-3.8\", \"name\": \"x\","
        "   \"product_identification_helper\": {\"cpe\":"
        "   \"cpe:/a:redhat:rhel_software_collections:3::el7\"}}]},"
        " \"vulnerabilities\": [{\"cve\": \"CVE-2023-3341\", \"product_status\": {\"fixed\": ["
        "  \"AppStream-8.6.0.Z.EUS:bind-32:9.11.36-3.el8_6.5.x86_64\","
        "  \"7Server-7.9.Z:kernel-0:3.10.0-1160.99.1.el7.x86_64\","
        "  \"AppStream-9.2.0.Z.EUS:vim-enhanced-2:8.2.2637-20.el9_1.x86_64\","
        "  \"AppStream-9.2.0.Z.MAIN:vim-enhanced-2:8.2.2637-20.el9_1.x86_64\","
        "  \"AppStream-8.8.0.Z.MAIN:nodejs:18:8080020230531150546:63b34585:"
        "nodejs-1:18.16.1-1.module+el8.8.0+19153+f8b7df43.x86_64\","
        "  \"CRB-9.2.0.Z.MAIN:bind-devel-32:9.16.23-11.el9_2.2.noarch\","
        "  \"8Base-RHOSE-4.13:podman-3:4.4.1-5.rhaos4.13.el8.x86_64\","
        "  \"SAP-8:foo-1.0-1.el8.x86_64\","
        "  \"7Server-RHSCL-3.8:rh-nodejs14-nodejs-14.21.3-1.el7.x86_64\","
        "  \"AppStream-9.2.0.Z.MAIN:vim-2:8.2.2637-20.el9_1.src\","
        "  \"noplatform\", \"Base:bar-1-1.el9.x86_64\","
        "  \"BaseOS-9.2.0.Z.MAIN:no-arch-1.0-1.el9\", 42]}}]}";
    (void)state;

    assert_int_equal(parse_s(ADV_CSAF, doc, &g, &st, err), 0);
    assert_int_equal(g.n, 5);
    /* Epoch 0 dropped, others kept; aggregate severity; no scores; the
     * initial release date with its offset and fraction. */
    assert_string_equal(g.v[0], "el7|kernel|x86_64|3.10.0-1160.99.1.el7|RHSA-2024:0042|"
                                "CVE-2023-3341|moderate||-1.0|1704880800500|7Server-7.9.Z");
    assert_string_equal(g.v[1], "el8|bind|x86_64|32:9.11.36-3.el8_6.5|RHSA-2024:0042|CVE-2023-3341|"
                                "moderate||-1.0|1704880800500|AppStream-8.6.0.Z.EUS");
    /* A module component named without a relationship. */
    assert_string_equal(g.v[2], "el8|nodejs|x86_64|1:18.16.1-1.module+el8.8.0+19153+f8b7df43|"
                                "RHSA-2024:0042|CVE-2023-3341|moderate||-1.0|1704880800500|"
                                "AppStream-8.8.0.Z.MAIN");
    assert_string_equal(g.v[3], "el9|bind-devel|noarch|32:9.16.23-11.el9_2.2|RHSA-2024:0042|"
                                "CVE-2023-3341|moderate||-1.0|1704880800500|CRB-9.2.0.Z.MAIN");
    /* The same build in two streams: one fix, both platforms. */
    assert_string_equal(g.v[4], "el9|vim-enhanced|x86_64|2:8.2.2637-20.el9_1|RHSA-2024:0042|"
                                "CVE-2023-3341|moderate||-1.0|1704880800500|AppStream-9.2.0.Z.EUS "
                                "AppStream-9.2.0.Z.MAIN");
    /* OpenShift's podman, a non-Red Hat CPE and a collection built for
     * el7 are not RHEL's own builds; src. */
    assert_int_equal(st.ignored, 4);
    /* "noplatform", "Base" (no version), no arch, 42. */
    assert_int_equal(st.skipped, 4);
    assert_non_null(strstr(st.skip_reason, "\"noplatform\" names no platform"));
    got_free(&g);
}

/* Relationships (module layers included), severities, scores and dates
 * by product. */
static void csaf_relationships(void **state)
{
    struct got g = { 0 };
    struct adv_stats st;
    char err[256];
    const char *mod = "AppStream-8.8.0.Z.MAIN:nodejs:18:8080020230531150546:63b34585";
    const char *nevra = "nodejs-1:18.16.1-1.module+el8.8.0+19153+f8b7df43.x86_64";
    char doc[8192];
    (void)state;

    snprintf(doc, sizeof(doc),
             CSAF_HEAD("")
             " \"product_tree\": {\"branches\": [{\"category\": \"vendor\", \"name\": \"Red Hat\","
             "  \"branches\": [{\"category\": \"product_family\", \"branches\": [{\"category\":"
             "  \"product_name\", \"product\": {\"product_id\": \"AppStream-8.8.0.Z.MAIN\","
             "  \"product_identification_helper\": {\"cpe\":"
             "  \"cpe:/a:redhat:enterprise_linux:8::appstream\"}}}]}]}],"
             "  \"relationships\": ["
             "   {\"category\": \"default_component_of\", \"full_product_name\": {\"product_id\":"
             "    \"%s\"}, \"product_reference\": \"nodejs:18:8080020230531150546:63b34585\","
             "    \"relates_to_product_reference\": \"AppStream-8.8.0.Z.MAIN\"},"
             "   {\"category\": \"default_component_of\", \"full_product_name\": {\"product_id\":"
             "    \"%s:%s\"}, \"product_reference\": \"%s\", \"relates_to_product_reference\":"
             "    \"%s\"},"
             "   {\"category\": \"default_component_of\", \"full_product_name\": {\"product_id\":"
             "    \"odd-id\"}, \"product_reference\": \"npm-1:9.5.1-1.18.16.1.1.module+el8.8.0+1.x86_64\","
             "    \"relates_to_product_reference\": \"%s\"},"
             "   {\"category\": \"default_component_of\"}]},"
             " \"vulnerabilities\": ["
             "  {\"cve\": \"CVE-2023-32002\", \"product_status\": {\"fixed\": [\"%s:%s\", \"odd-id\"]},"
             "   \"threats\": [{\"category\": \"impact\", \"details\": \"Low\"},"
             "                 {\"category\": \"impact\", \"details\": \"Important\","
             "                  \"product_ids\": [\"%s:%s\"]},"
             "                 {\"category\": \"exploit_status\", \"details\": \"Critical\"}],"
             "   \"scores\": [{\"cvss_v3\": {\"baseScore\": 9.8}, \"products\": [\"%s:%s\"]},"
             "                {\"cvss_v3\": {\"baseScore\": 4.0}},"
             "                {\"cvss_v3\": {\"baseScore\": 11}},"
             "                {\"cvss_v2\": {\"baseScore\": 10.0}}],"
             "   \"remediations\": [{\"category\": \"vendor_fix\", \"date\":"
             "                       \"2024-01-09T12:00:00Z\"},"
             "                      {\"category\": \"vendor_fix\", \"date\":"
             "                       \"2024-01-09T00:00:00Z\", \"product_ids\": [\"odd-id\"]},"
             "                      {\"category\": \"vendor_fix\", \"date\": \"yesterday\"},"
             "                      {\"category\": \"workaround\", \"date\": \"2020-01-01T00:00:00Z\"}]},"
             "  {\"cve\": \"CVE-2023-32006\", \"product_status\": {\"fixed\": [\"odd-id\"]},"
             "   \"threats\": [{\"category\": \"impact\", \"details\": \"Critical\","
             "                 \"product_ids\": [\"odd-id\"]}]},"
             "  {\"cve\": \"GHSA-xxxx\", \"product_status\": {\"fixed\": [\"odd-id\"]}},"
             "  \"not an object\"]}",
             mod, mod, nevra, nevra, mod, mod, mod, nevra, mod, nevra, mod, nevra);
    assert_int_equal(parse_s(ADV_CSAF, doc, &g, &st, err), 0);
    assert_int_equal(g.n, 2);
    /* nodejs: the threat naming it (important) over the one naming none
     * (low); its own score 9.8 over the unscoped 4.0; the vendor_fix that
     * names no product. */
    assert_string_equal(g.v[0], "el8|nodejs|x86_64|1:18.16.1-1.module+el8.8.0+19153+f8b7df43|"
                                "RHSA-2024:0042|CVE-2023-32002|important||9.8|1704801600000|"
                                "AppStream-8.8.0.Z.MAIN");
    /* npm: fixed by three vulnerabilities (one without a CVE id); low from
     * the first, critical from the second; the unscoped score; its own
     * vendor_fix date, earlier than the unscoped one. */
    assert_string_equal(g.v[1], "el8|npm|x86_64|1:9.5.1-1.18.16.1.1.module+el8.8.0+1|"
                                "RHSA-2024:0042|CVE-2023-32002 CVE-2023-32006|critical||4.0|"
                                "1704758400000|AppStream-8.8.0.Z.MAIN");
    /* The incomplete relationship, "yesterday", "GHSA-xxxx", the string. */
    assert_int_equal(st.skipped, 4);
    got_free(&g);
}

static void csaf_malformed(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        { "[{}]", "csaf: $: top level is not an object" },
        { "{\"document\": {\"csaf_version\": \"2.0\",", "csaf: $: invalid JSON at line 1" },
        { "{}", "$.document: missing" },
        { "{\"document\": {\"csaf_version\": \"1.2\"}}", "$.document.csaf_version" },
        { "{\"document\": {\"csaf_version\": 2}}", "$.document.csaf_version" },
        { "{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_vex\"}}",
          "a VEX file" },
        { "{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_base\"}}",
          "\"csaf_base\" is not csaf_security_advisory" },
        { "{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_security_advisory\"}}",
          "$.document.tracking.id" },
        { "{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_security_advisory\","
          " \"tracking\": {\"id\": \"RHSA 2023:1\"}}}",
          "$.document.tracking.id" },
        { "{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_security_advisory\","
          " \"tracking\": {\"id\": \"RHSA-2023:1\"}}}",
          "$.document.tracking.initial_release_date" },
        { "{\"document\": {\"csaf_version\": \"2.0\", \"category\": \"csaf_security_advisory\","
          " \"tracking\": {\"id\": \"RHSA-2023:1\", \"initial_release_date\": \"2023-02-30\"}}}",
          "$.document.tracking.initial_release_date" },
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_SIZE(cases); i++) {
        struct got g = { 0 };
        struct adv_stats st;
        int rc = parse_s(ADV_CSAF, cases[i].text, &g, &st, err);
        if (rc != VG_EPROTO || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
        assert_int_equal(g.n, 0);
        got_free(&g);
    }
}

/* ---- entry points -------------------------------------------------------- */

static void callback_and_args(void **state)
{
    struct got g = { 0 };
    char key[ADV_DOC_KEY_MAX], err[256];
    size_t len;
    char *t = fixture("DSA-list", &len);
    (void)state;

    /* A non-zero callback return stops the parse and is returned. */
    g.stop_at = 3;
    assert_int_equal(adv_parse(ADV_DSA_LIST, t, len, collect, &g, key, sizeof(key), err,
                               sizeof(err)),
                     7);
    assert_int_equal(g.n, 3);
    got_free(&g);

    /* No key, no error buffer, no stats, no callback: all optional. */
    assert_int_equal(adv_parse(ADV_DSA_LIST, t, len, collect, &g, NULL, 0, NULL, 0), 0);
    assert_int_equal(g.n, 11);
    got_free(&g);
    assert_int_equal(adv_parse(ADV_DSA_LIST, t, len, NULL, NULL, NULL, 0, NULL, 0), 0);
    assert_int_equal(adv_parse(ADV_DSA_LIST, "x", 1, NULL, NULL, NULL, 0, NULL, 0), VG_EPROTO);
    /* A key buffer too small for every key is refused up front. */
    assert_int_equal(adv_parse(ADV_DSA_LIST, t, len, collect, &g, key, 8, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(g.n, 0);
    assert_int_equal(adv_parse((enum adv_format)42, t, len, collect, &g, NULL, 0, err,
                               sizeof(err)),
                     -EINVAL);
    /* A short error buffer still gets a terminated message. */
    assert_int_equal(adv_parse(ADV_CSAF, "[]", 2, collect, &g, NULL, 0, err, 8), VG_EPROTO);
    assert_string_equal(err, "csaf: $");
    free(t);
}

/* Random bytes and flipped bytes in the fixtures: an error or a result,
 * never a crash (the fuzz target goes further). */
static void garbage(void **state)
{
    static const char *const files[] = { "debian-tracker.json", "DSA-list", "rhsa-2023-0001.json" };
    uint32_t x = 12345;
    char err[256], key[ADV_DOC_KEY_MAX];
    (void)state;

    for (size_t f = 0; f < VG_ARRAY_SIZE(files); f++) {
        size_t len;
        char *t = fixture(files[f], &len);
        for (int round = 0; round < 300; round++) {
            struct got g = { 0 };
            struct adv_stats st;
            char *m = malloc(len);
            int rc;
            assert_non_null(m);
            memcpy(m, t, len);
            for (int k = 0; k < 1 + round % 4; k++) {
                x = x * 1103515245u + 12345u;
                m[(x >> 8) % len] = (char)(x >> 24);
            }
            rc = parse(ADV_AUTO, m, len, &g, &st, key, err);
            assert_true(rc == 0 || rc == VG_EPROTO);
            assert_true(rc == 0 || err[0]);
            got_free(&g);
            free(m);
        }
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_names),       cmocka_unit_test(detect_fixtures),
        cmocka_unit_test(detect_structure),   cmocka_unit_test(tracker_fixture),
        cmocka_unit_test(tracker_types),      cmocka_unit_test(tracker_huge_version),
        cmocka_unit_test(tracker_malformed),  cmocka_unit_test(truncated_fixtures),
        cmocka_unit_test(dsa_fixture),        cmocka_unit_test(dla_fixture),
        cmocka_unit_test(list_rules),         cmocka_unit_test(list_huge_version),
        cmocka_unit_test(list_malformed),     cmocka_unit_test(csaf_fixture),
        cmocka_unit_test(csaf_fallbacks),     cmocka_unit_test(csaf_relationships),
        cmocka_unit_test(csaf_malformed),     cmocka_unit_test(callback_and_args),
        cmocka_unit_test(garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
