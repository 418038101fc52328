/*
 * Pending updates: the compressed-file reader, apt's lists and policy
 * with hostile input, dnf's recorded output, and first-seen state.
 */
#include <errno.h>
#include <ftw.h>
#include <lz4frame.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cmocka.h>

#define TMPDIR_TAG "pending"
#include "tmpdir.h"

#include "../../agent/priv/pending.h"
#include "../../agent/priv/zfile.h"
#include "err.h"
#include "util.h"

/* ---- compressing, with the libraries (not the tools) ------------------ */

static void put_gz(const char *path, const char *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
}

static void put_xz(const char *path, const char *data, size_t len)
{
    size_t cap = len + len / 2 + 1024, out = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, (const uint8_t *)data,
                                             len, buf, &out, cap),
                     LZMA_OK);
    write_raw(path, buf, out);
    free(buf);
}

static void put_lz4(const char *path, const char *data, size_t len)
{
    size_t cap = LZ4F_compressFrameBound(len, NULL), out;
    void *buf = malloc(cap);
    assert_non_null(buf);
    out = LZ4F_compressFrame(buf, cap, data, len, NULL);
    assert_false(LZ4F_isError(out));
    write_raw(path, buf, out);
    free(buf);
}

static char *text_of(size_t len)
{
    char *t = malloc(len + 1);
    assert_non_null(t);
    for (size_t i = 0; i < len; i++)
        t[i] = (i % 61 == 60) ? '\n' : (char)('a' + (i * 7 + i / 13) % 26);
    t[len] = '\0';
    return t;
}

static void zfile_round_trip(void **state)
{
    static const char *const names[] = { "rt.gz", "rt.xz", "rt.lz4", "rt" };
    size_t len = 3 * 1024 * 1024 + 17;
    char *t = text_of(len);
    (void)state;
    for (size_t k = 0; k < 4; k++) {
        char path[PATH_MAX], *got;
        size_t glen;
        tpath(path, sizeof(path), names[k]);
        if (k == 0)
            put_gz(path, t, len);
        else if (k == 1)
            put_xz(path, t, len);
        else if (k == 2)
            put_lz4(path, t, len);
        else
            write_raw(path, t, len);
        assert_int_equal(zfile_slurp(path, 64u << 20, &got, &glen), 0);
        assert_int_equal(glen, len);
        assert_memory_equal(got, t, len);
        free(got);
        unlink(path);
    }
    free(t);
}

/* Every compressed file cut short is an error, never a short success. */
static void zfile_truncated(void **state)
{
    static const char *const names[] = { "cut.gz", "cut.xz", "cut.lz4" };
    size_t len = 200000;
    char *t = text_of(len);
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        char path[PATH_MAX], *whole, *got;
        size_t wlen;
        tpath(path, sizeof(path), names[k]);
        if (k == 0)
            put_gz(path, t, len);
        else if (k == 1)
            put_xz(path, t, len);
        else
            put_lz4(path, t, len);
        assert_int_equal(vg_file_read(path, 1u << 24, &whole, &wlen), 0);
        for (size_t cut = 1; cut < wlen; cut += wlen / 37 + 1) {
            int rc;
            write_raw(path, whole, cut);
            rc = zfile_slurp(path, 1u << 24, &got, NULL);
            assert_int_not_equal(rc, 0);
            assert_null(got);
        }
        free(whole);
        unlink(path);
    }
    free(t);
}

/* Random bytes and flipped bytes: an error or some output, never a crash. */
static void zfile_garbage(void **state)
{
    static const char *const names[] = { "g.gz", "g.xz", "g.lz4" };
    unsigned seed = 7;
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        char path[PATH_MAX], buf[4096], *got;
        size_t len = 150000;
        char *t = text_of(len), *whole;
        size_t wlen;
        tpath(path, sizeof(path), names[k]);
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (char)rand_r(&seed);
        write_raw(path, buf, sizeof(buf));
        assert_int_not_equal(zfile_slurp(path, 1u << 24, &got, NULL), 0);
        if (k == 0)
            put_gz(path, t, len);
        else if (k == 1)
            put_xz(path, t, len);
        else
            put_lz4(path, t, len);
        assert_int_equal(vg_file_read(path, 1u << 24, &whole, &wlen), 0);
        for (int r = 0; r < 50; r++) {
            size_t at = (size_t)rand_r(&seed) % wlen;
            whole[at] ^= (char)(1 + rand_r(&seed) % 255);
            write_raw(path, whole, wlen);
            if (zfile_slurp(path, 1u << 24, &got, NULL) == 0)
                free(got);
        }
        /* gzip and xz carry checksums: a flip there is always caught. */
        if (k < 2)
            assert_int_not_equal(zfile_slurp(path, 1u << 24, &got, NULL), 0);
        free(whole);
        free(t);
        unlink(path);
    }
}

/* A small file that inflates to far more than allowed stops at the cap. */
static void zfile_bomb(void **state)
{
    size_t len = 64u * 1024 * 1024;
    char *zeros = calloc(1, len), *got;
    char path[PATH_MAX];
    (void)state;
    assert_non_null(zeros);
    tpath(path, sizeof(path), "bomb.xz");
    put_xz(path, zeros, len);
    assert_int_equal(zfile_slurp(path, 1u << 20, &got, NULL), VG_ETOOBIG);
    unlink(path);
    tpath(path, sizeof(path), "bomb.gz");
    put_gz(path, zeros, len);
    assert_int_equal(zfile_slurp(path, 1u << 20, &got, NULL), VG_ETOOBIG);
    /* Exactly at the cap is fine. */
    assert_int_equal(zfile_slurp(path, len, &got, NULL), 0);
    free(got);
    unlink(path);
    free(zeros);
}

/* gzip -c a b > ab: both members are read. */
static void zfile_gz_members(void **state)
{
    char path[PATH_MAX], *a, *b, *got;
    size_t al, bl, glen;
    (void)state;
    tpath(path, sizeof(path), "m.gz");
    put_gz(path, "first\n", 6);
    assert_int_equal(vg_file_read(path, 1u << 20, &a, &al), 0);
    put_gz(path, "second\n", 7);
    assert_int_equal(vg_file_read(path, 1u << 20, &b, &bl), 0);
    {
        char *ab = malloc(al + bl);
        assert_non_null(ab);
        memcpy(ab, a, al);
        memcpy(ab + al, b, bl);
        write_raw(path, ab, al + bl);
        free(ab);
    }
    assert_int_equal(zfile_slurp(path, 1u << 20, &got, &glen), 0);
    assert_string_equal(got, "first\nsecond\n");
    free(got);
    free(a);
    free(b);
    unlink(path);
    tpath(path, sizeof(path), "x_Packages.zst");
    write_str(path, "whatever");
    assert_int_equal(zfile_slurp(path, 1u << 20, &got, NULL), -ENOTSUP);
    unlink(path);
}

/* ---- apt ---------------------------------------------------------------- */

static char root[PATH_MAX];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

/* ROOT/rel into out. */
static void rpath(char *out, size_t n, const char *rel)
{
    assert_true((size_t)snprintf(out, n, "%s/%s", root, rel) < n);
}

static void mkroot(void)
{
    static const char *const dirs[] = { "", "/etc", "/etc/apt", "/etc/apt/preferences.d",
                                        "/var", "/var/lib", "/var/lib/dpkg", "/var/lib/apt",
                                        "/var/lib/apt/lists" };
    tpath(root, sizeof(root), "root");
    for (size_t i = 0; i < VG_ARRAY_SIZE(dirs); i++) {
        char d[PATH_MAX];
        rpath(d, sizeof(d), dirs[i][0] ? dirs[i] + 1 : "");
        assert_int_equal(mkdir(d, 0755), 0);
    }
}

static void rmroot(void)
{
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text)
{
    char p[PATH_MAX];
    rpath(p, sizeof(p), rel);
    write_str(p, text);
}

#define LISTS "var/lib/apt/lists/"
#define MAIN LISTS "deb.example.org_debian_dists_stable_"
#define SEC LISTS "sec.example.org_debian-security_dists_stable-security_"
#define BPO LISTS "deb.example.org_debian_dists_stable-backports_"
#define EXP LISTS "deb.example.org_debian_dists_experimental_"

static const char status_text[] =
    "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\n"
    "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
    "Package: b\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n\n"
    "Package: c\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
    "Package: d\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
    "Package: e\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0\n\n"
    "Package: f\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\n"
    "Package: g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n";

static void read_status(struct pkg_list *l)
{
    char p[PATH_MAX];
    char *text;
    size_t len;
    struct pkg_report rep;
    rpath(p, sizeof(p), "var/lib/dpkg/status");
    assert_int_equal(vg_file_read(p, 1u << 20, &text, &len), 0);
    assert_int_equal(pkg_dpkg_parse(text, len, l, &rep), 0);
    free(text);
}

static const struct pending *find(const struct pending_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

/* The policy's cases, one package each:
 *   a: newer in main (500): candidate, not security
 *   b: arch all, newer in security (clear-signed, dash-escaped InRelease)
 *   c: newer only in NotAutomatic experimental (1): stays
 *   d: newer in backports (NotAutomatic + ButAutomaticUpgrades, 100): taken
 *   e: only older versions: no downgrade
 *   f: config-files: not installed, never pending
 *   g: newer in security, even newer in main: security, candidate main's
 * Each carries the Date: of its candidate's Release file (0: none or
 * unreadable). */
static void apt_policy(void **state)
{
    struct pkg_list inst = { NULL, 0, 0 };
    struct pending_list out = { NULL, 0, 0 };
    struct apt_report rep;
    const struct pending *p;
    (void)state;
    mkroot();
    put("var/lib/dpkg/status", status_text);
    put(MAIN "Release", "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\n"
                        "Date: Sat, 10 Jun 2023 08:47:48 UTC\n");
    put(MAIN "main_binary-amd64_Packages",
        "Package: a\nVersion: 1.1\nArchitecture: amd64\n\n"
        "Package: e\nVersion: 1.9\nArchitecture: amd64\n\n"
        "Package: f\nVersion: 9.0\nArchitecture: amd64\n\n"
        "Package: g\nVersion: 1.2\nArchitecture: amd64\n");
    put(SEC "InRelease",
        "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n"
        "Origin: Debian\r\nLabel: Debian-Security\r\nSuite: stable-security\r\n"
        "- Codename: bookworm-security\r\n"
        "Date: Sun, 22 Nov 2026 08:32:57 +0100\r\n"
        "-----BEGIN PGP SIGNATURE-----\r\n\r\nxyz\r\n-----END PGP SIGNATURE-----\r\n");
    put(SEC "main_binary-amd64_Packages",
        "Package: b\nVersion: 1.0+deb12u1\nArchitecture: all\n\n"
        "Package: g\nVersion: 1.0+deb12u1\nArchitecture: amd64\n");
    put(EXP "Release", "Origin: Debian\nLabel: Debian\nSuite: experimental\nNotAutomatic: yes\n");
    put(EXP "main_binary-amd64_Packages", "Package: c\nVersion: 5.0\nArchitecture: amd64\n");
    put(BPO "Release", "Origin: Debian\nLabel: Debian Backports\nSuite: stable-backports\n"
                       "NotAutomatic: yes\nButAutomaticUpgrades: yes\nDate: last Tuesday\n");
    put(BPO "main_binary-amd64_Packages", "Package: d\nVersion: 1.5~bpo\nArchitecture: amd64\n");
    read_status(&inst);
    assert_int_equal(pkg_apt_pending(root, &inst, &out, &rep), 0);
    assert_int_equal(rep.lists, 4);
    assert_int_equal(rep.releases, 4);
    assert_string_equal(rep.native_arch, "amd64");
    assert_int_equal(out.n, 4);
    assert_non_null(p = find(&out, "a"));
    assert_string_equal(p->candidate, "1.1");
    assert_false(p->security);
    assert_string_equal(p->archive, "stable");
    assert_string_equal(p->site, "deb.example.org");
    assert_int_equal(p->release_file_ms, 1686386868000LL);
    assert_non_null(p = find(&out, "b"));
    assert_string_equal(p->candidate, "1.0+deb12u1");
    assert_string_equal(p->arch, "all");
    assert_true(p->security);
    assert_string_equal(p->label, "Debian-Security");
    assert_int_equal(p->release_file_ms, 1795332777000LL);
    assert_null(find(&out, "c"));
    assert_non_null(p = find(&out, "d"));
    assert_string_equal(p->candidate, "1.5~bpo");
    assert_int_equal(p->release_file_ms, 0); /* unreadable Date: */
    assert_null(find(&out, "e"));
    assert_null(find(&out, "f"));
    assert_non_null(p = find(&out, "g"));
    assert_string_equal(p->candidate, "1.2");
    assert_true(p->security);
    /* The candidate comes from main: main's date, not security's. */
    assert_int_equal(p->release_file_ms, 1686386868000LL);
    pending_list_free(&out);

    /* Pins: never for a, experimental at 600 for c, a downgrade at 1001
     * for e (not an update), and broken records apt skips. */
    put("etc/apt/preferences",
        "# comment\nPackage: a\nPin: release a=stable\nPin-Priority: -1\n\n"
        "Package: c\nPin: release a=experimental\nPin-Priority: 600\n\n"
        "Package: e\nPin: version 1.9\nPin-Priority: 1001\n\n"
        "Package: d\nPin: banana x\nPin-Priority: 600\n\n"
        "Package: d\nPin: release a=stable-backports\n\n"
        "Package:\nPin: release a=experimental\nPin-Priority: 600\n\n"
        "Pin: release a=stable\nPin-Priority: 5\n");
    assert_int_equal(pkg_apt_pending(root, &inst, &out, &rep), 0);
    assert_int_equal(rep.pins, 3);
    assert_int_equal(rep.pin_errors, 4);
    assert_true(rep.first_error[0] != '\0');
    assert_null(find(&out, "a"));
    assert_non_null(p = find(&out, "c"));
    assert_string_equal(p->candidate, "5.0");
    assert_null(find(&out, "e"));
    assert_non_null(find(&out, "d"));
    pending_list_free(&out);
    pkg_list_free(&inst);
    rmroot();
}

/* Broken lists: a truncated xz list gives what precedes the damage, a
 * 2 MiB line is skipped, NULs and stanzas without Version are ignored,
 * an unsupported compression is reported. */
static void apt_hostile(void **state)
{
    struct pkg_list inst = { NULL, 0, 0 };
    struct pending_list out = { NULL, 0, 0 };
    struct apt_report rep;
    char path[PATH_MAX], *big, *whole;
    size_t wlen, n = 0, cap = 4u << 20;
    (void)state;
    mkroot();
    put("var/lib/dpkg/status", status_text);
    put(MAIN "Release", "Origin: Debian\nSuite: stable\n");
    big = malloc(cap);
    assert_non_null(big);
    n += (size_t)snprintf(big + n, cap - n, "Package: a\nVersion: 1.1\nArchitecture: amd64\n");
    n += (size_t)snprintf(big + n, cap - n, "Description: ");
    memset(big + n, 'x', 2u << 20);
    n += 2u << 20;
    {
        static const char mid[] = "\n\nPackage: b\nArchitecture: all\n\n"
                                  "Pack\0age: junk\n\xff\xfe\n\n"
                                  "Package: g\nVersion: 1.3\nArchitecture: amd64\n\n";
        memcpy(big + n, mid, sizeof(mid) - 1);
        n += sizeof(mid) - 1;
    }
    /* Then many stanzas, so that the cut lands after g. */
    for (int i = 0; i < 20000; i++)
        n += (size_t)snprintf(big + n, cap - n, "Package: z%d\nVersion: 1\nArchitecture: amd64\n\n", i);
    n += (size_t)snprintf(big + n, cap - n, "Package: d\nVersion: 9.9\nArchitecture: amd64\n");
    rpath(path, sizeof(path), MAIN "main_binary-amd64_Packages.xz");
    put_xz(path, big, n);
    assert_int_equal(vg_file_read(path, 8u << 20, &whole, &wlen), 0);
    write_raw(path, whole, wlen - 64);
    free(whole);
    free(big);
    put(MAIN "contrib_binary-amd64_Packages.zst", "zstd data");
    read_status(&inst);
    assert_int_equal(pkg_apt_pending(root, &inst, &out, &rep), 0);
    assert_int_equal(rep.lines_too_long, 1);
    assert_int_equal(rep.lists_failed, 1);
    assert_int_equal(rep.lists_unsupported, 1);
    assert_true(rep.first_error[0] != '\0');
    assert_non_null(find(&out, "a"));
    assert_non_null(find(&out, "g"));
    assert_null(find(&out, "b"));
    assert_null(find(&out, "d")); /* after the damage */
    pending_list_free(&out);

    /* No lists at all: unknown, not "nothing pending". */
    rmroot();
    mkroot();
    put("var/lib/dpkg/status", status_text);
    assert_int_equal(pkg_apt_pending(root, &inst, &out, &rep), -ENOENT);
    rmroot();
    tpath(root, sizeof(root), "missing-root");
    assert_int_equal(pkg_apt_pending(root, &inst, &out, &rep), -ENOENT);
    pkg_list_free(&inst);
}

/* A list whose Architecture value starts with a NUL byte (found by
 * fuzz_apt): the value is cut at the NUL, so the arch is empty, which
 * apt reads as native.  The length of the uncut value was used before,
 * and the lookup read past the copy. */
static void apt_nul_in_field(void **state)
{
    static const char list[] = "Package: a\nVersion: 1.1\nArchitecture: \0amd64\n\n"
                               "Package: g\0x\nVersion: 1.2\nArchitecture: amd64\n";
    struct pkg_list inst = { NULL, 0, 0 };
    struct pending_list out = { NULL, 0, 0 };
    struct apt_report rep;
    const struct pending *p;
    char path[PATH_MAX];
    (void)state;
    mkroot();
    put("var/lib/dpkg/status", status_text);
    put(MAIN "Release", "Origin: Debian\nSuite: stable\n");
    rpath(path, sizeof(path), MAIN "main_binary-amd64_Packages");
    write_raw(path, list, sizeof(list) - 1);
    read_status(&inst);
    assert_int_equal(pkg_apt_pending(root, &inst, &out, &rep), 0);
    assert_non_null(p = find(&out, "a"));
    assert_string_equal(p->candidate, "1.1");
    assert_non_null(p = find(&out, "g")); /* "g\0x" is g */
    assert_string_equal(p->candidate, "1.2");
    pending_list_free(&out);
    pkg_list_free(&inst);
    rmroot();
}

/* ---- dnf ---------------------------------------------------------------- */

static char *fixture(const char *name)
{
    char p[PATH_MAX], *t;
    const char *base = getenv("VG_ROOT");
    snprintf(p, sizeof(p), "%s/tests/fixtures/dnf/%s", base ? base : ".", name);
    assert_int_equal(vg_file_read(p, 1u << 20, &t, NULL), 0);
    return t;
}

static void dnf4_list(void **state)
{
    struct pending_list out = { NULL, 0, 0 };
    unsigned bad;
    char *t = fixture("dnf4-updateinfo-list-security.txt");
    const struct pending *p;
    (void)state;
    assert_int_equal(pkg_dnf_parse(t, &out, &bad), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(out.n, 11);
    assert_non_null(p = find(&out, "perl-Encode"));
    assert_string_equal(p->candidate, "4:3.12-460.fc34");
    assert_string_equal(p->arch, "x86_64");
    assert_string_equal(p->advisory, "FEDORA-2021-92e07de1dd");
    assert_string_equal(p->severity, "Important");
    assert_true(p->security);
    assert_non_null(p = find(&out, "glibc-minimal-langpack"));
    assert_string_equal(p->candidate, "2.33-20.fc34");
    assert_non_null(p = find(&out, "krb5-libs"));
    assert_string_equal(p->severity, "Low");
    pending_list_free(&out);
    free(t);

    /* RHEL 9, with subscription-manager's chatter around the data. */
    t = fixture("dnf4-updateinfo-list-security-rhel9-noise.txt");
    assert_int_equal(pkg_dnf_parse(t, &out, &bad), 0);
    assert_true(out.n >= 10);
    assert_non_null(p = find(&out, "dbus"));
    assert_string_equal(p->candidate, "1:1.12.20-7.el9_1");
    assert_non_null(p = find(&out, "dhcp-common"));
    assert_string_equal(p->arch, "noarch");
    for (size_t i = 0; i < out.n; i++)
        assert_true(strncmp(out.v[i].advisory, "RHSA-", 5) == 0);
    free(t);

    /* The info blocks give dates, for the advisories they name. */
    {
        struct pending_list l = { NULL, 0, 0 };
        struct pending q;
        memset(&q, 0, sizeof(q));
        q.name = strdup("acl");
        q.arch = strdup("x86_64");
        q.installed = strdup("");
        q.candidate = strdup("2.3.1-4.el10");
        q.advisory = strdup("ALSA-2026:42739");
        assert_int_equal(pending_list_push(&l, &q), 0);
        t = fixture("dnf4-updateinfo-info-security-thirdparty.txt");
        pkg_dnf_parse_info(t, &l);
        free(t);
        assert_true(l.v[0].released_ms > 1780000000000LL); /* 2026-07-22, local time */
        pending_list_free(&l);
    }

    /* Matching the rpm inventory: installed versions filled, packages not
     * installed or already fixed dropped. */
    {
        struct pkg_list rpm = { NULL, 0, 0 };
        struct pkg k;
        const char *names[] = { "bash", "curl", "dbus" };
        const char *vers[] = { "5.1.8-4.el9", "7.76.1-19.el9_1.1", "1:1.12.20-8.el9" };
        for (int i = 0; i < 3; i++) {
            memset(&k, 0, sizeof(k));
            k.name = strdup(names[i]);
            k.version = strdup(vers[i]);
            k.arch = strdup("x86_64");
            k.status = strdup("installed");
            assert_int_equal(pkg_list_push(&rpm, &k), 0);
        }
        pending_match_installed(&out, &rpm);
        /* bash: 5.1.8-4 < 5.1.8-6.el9_1; curl: one advisory older than
         * installed, one equal; dbus: installed newer. */
        assert_int_equal(out.n, 1);
        assert_string_equal(out.v[0].name, "bash");
        assert_string_equal(out.v[0].installed, "5.1.8-4.el9");
        pkg_list_free(&rpm);
    }
    pending_list_free(&out);
}

static void dnf5_list(void **state)
{
    struct pending_list out = { NULL, 0, 0 };
    unsigned bad;
    char *t = fixture("dnf5-advisory-list-security.txt");
    (void)state;
    assert_int_equal(pkg_dnf_parse(t, &out, &bad), 0);
    free(t);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0].name, "CQRlib");
    assert_string_equal(out.v[0].candidate, "1.1.2-16.fc29");
    assert_string_equal(out.v[0].severity, "Moderate");
    assert_int_equal(out.v[0].released_ms, 1547942400000LL); /* 2019-01-20T00:00:00Z */
    pending_list_free(&out);
    /* Not security advisories: nothing. */
    t = fixture("dnf5-advisory-list-mixed.txt");
    assert_int_equal(pkg_dnf_parse(t, &out, &bad), 0);
    free(t);
    assert_int_equal(out.n, 0);
    /* Hostile: a line of garbage that looks like data is counted. */
    {
        char junk[] = "RHSA-1 Important/Sec. no-arch-here\nX Y Z\n\n\n";
        assert_int_equal(pkg_dnf_parse(junk, &out, &bad), 0);
        assert_int_equal(out.n, 0);
        assert_int_equal(bad, 1);
    }
}

/* ---- first-seen state --------------------------------------------------- */

static void add(struct pending_list *l, const char *name, const char *inst, const char *cand,
                int sec)
{
    struct pending p;
    memset(&p, 0, sizeof(p));
    p.name = strdup(name);
    p.arch = strdup("amd64");
    p.installed = strdup(inst);
    p.candidate = strdup(cand);
    p.advisory = strdup("");
    p.security = sec;
    assert_int_equal(pending_list_push(l, &p), 0);
}

/* A package name starting with '#' (found by fuzz_pending_seen): saved,
 * it was read back as a comment, so its first-seen time restarted at
 * every start.  Only lines without a tab are comments now. */
static void seen_hash_name(void **state)
{
    char path[PATH_MAX];
    struct pending_seen *s;
    struct pending_list l = { NULL, 0, 0 };
    unsigned bad;
    (void)state;
    tpath(path, sizeof(path), "pending-seen-hash");
    s = pending_seen_load(path, &bad);
    add(&l, "#url", "1.0", "1.1", 0);
    assert_int_equal(pending_seen_apply(s, &l, 1000, 0), 1);
    assert_int_equal(pending_seen_save(s, path), 0);
    pending_seen_free(s);
    s = pending_seen_load(path, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(pending_seen_apply(s, &l, 5000, 0), 0);
    assert_int_equal(l.v[0].first_seen_ms, 1000);
    pending_seen_free(s);
    pending_list_free(&l);
    assert_int_equal(unlink(path), 0);
}

static void seen_state(void **state)
{
    char path[PATH_MAX];
    struct pending_seen *s;
    struct pending_list l = { NULL, 0, 0 };
    unsigned bad;
    (void)state;
    tpath(path, sizeof(path), "pending-seen");
    s = pending_seen_load(path, &bad);
    assert_non_null(s);
    assert_int_equal(bad, 0);
    add(&l, "a", "1.0", "1.1", 0);
    add(&l, "b", "2.0", "2.1", 1);
    assert_int_equal(pending_seen_apply(s, &l, 1000, 0), 1);
    assert_int_equal(l.v[0].first_seen_ms, 1000);
    assert_int_equal(l.v[1].security_first_seen_ms, 1000);
    assert_int_equal(pending_seen_save(s, path), 0);
    pending_seen_free(s);
    pending_list_free(&l);

    /* Later, after a restart: a's candidate moved on and turned security;
     * b is gone; c is new. */
    s = pending_seen_load(path, &bad);
    assert_int_equal(bad, 0);
    add(&l, "a", "1.0", "1.2", 1);
    add(&l, "c", "3.0", "3.1", 0);
    assert_int_equal(pending_seen_apply(s, &l, 5000, 0), 1);
    assert_string_equal(l.v[0].name, "a");
    assert_int_equal(l.v[0].first_seen_ms, 1000);
    assert_int_equal(l.v[0].security_first_seen_ms, 5000);
    assert_int_equal(l.v[1].first_seen_ms, 5000);
    /* The same list again: nothing to save. */
    assert_int_equal(pending_seen_apply(s, &l, 9000, 0), 0);
    assert_int_equal(l.v[0].first_seen_ms, 1000);
    assert_int_equal(pending_seen_save(s, path), 0);
    pending_seen_free(s);
    pending_list_free(&l);

    /* A damaged file: bad lines are skipped and counted, good ones kept. */
    write_str(path, "# vigil pending-seen 1\na\tamd64\t1.0\t1000\t5000\n"
                    "broken line\nx\tamd64\t1\tNaN\t0\nc\tamd64\t3.0\t-5\t0\n"
                    "a\tamd64\t1.0\t900\t0\n");
    s = pending_seen_load(path, &bad);
    assert_int_equal(bad, 4);
    add(&l, "a", "1.0", "1.2", 1);
    pending_seen_apply(s, &l, 9000, 0);
    assert_int_equal(l.v[0].first_seen_ms, 900); /* a duplicate: the earliest */
    assert_int_equal(l.v[0].security_first_seen_ms, 5000);
    pending_seen_free(s);
    pending_list_free(&l);

    /* An incomplete list (a list file unreadable): what is missing from
     * it is kept, not forgotten. */
    write_str(path, "# vigil pending-seen 1\na\tamd64\t1.0\t1000\t0\nb\tamd64\t2.0\t2000\t0\n");
    s = pending_seen_load(path, &bad);
    add(&l, "a", "1.0", "1.1", 0);
    assert_int_equal(pending_seen_apply(s, &l, 9000, 1), 0);
    assert_int_equal(pending_seen_save(s, path), 0);
    pending_seen_free(s);
    pending_list_free(&l);
    s = pending_seen_load(path, &bad);
    add(&l, "b", "2.0", "2.1", 0);
    pending_seen_apply(s, &l, 9000, 0);
    assert_int_equal(l.v[0].first_seen_ms, 2000);
    pending_seen_free(s);
    pending_list_free(&l);

    /* Unstamped (the one-shot command): known times shown, nothing new
     * recorded. */
    s = pending_seen_load(path, &bad);
    add(&l, "b", "2.0", "2.1", 0);
    add(&l, "z", "1", "2", 1);
    pending_seen_apply(s, &l, 0, 1);
    assert_int_equal(l.v[0].first_seen_ms, 2000);
    assert_int_equal(l.v[1].first_seen_ms, 0);
    pending_seen_free(s);
    pending_list_free(&l);
    unlink(path);

    /* A file that exists but cannot be read is never overwritten. */
    assert_int_equal(mkdir(path, 0700), 0); /* a directory: read fails */
    s = pending_seen_load(path, &bad);
    assert_int_equal(bad, 1);
    assert_int_equal(pending_seen_save(s, path), -EIO);
    pending_seen_free(s);
    rmdir(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zfile_round_trip), cmocka_unit_test(zfile_truncated),
        cmocka_unit_test(zfile_garbage),    cmocka_unit_test(zfile_bomb),
        cmocka_unit_test(zfile_gz_members), cmocka_unit_test(apt_policy),
        cmocka_unit_test(apt_hostile),      cmocka_unit_test(apt_nul_in_field),
        cmocka_unit_test(dnf4_list),
        cmocka_unit_test(dnf5_list),        cmocka_unit_test(seen_state),
        cmocka_unit_test(seen_hash_name),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
