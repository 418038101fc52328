/* The session ticket keys (lib/tls-int.h): the key file is made 0600,
 * survives a reload, rotates each lifetime keeping the previous key (whose
 * tickets still open), and a readable, damaged or truncated file is
 * refused; tickets are authenticated and expire. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/stat.h>

#define TMPDIR_TAG "tls"
#include "tmpdir.h"

#include "err.h"
#include "tls-int.h"
#include "util.h"

#define T0 1700000000LL
#define LIFE 3600

static const uint8_t session[] = "a serialised TLS session, peer certificate and all";

static size_t seal(struct vg__tickets *t, int64_t now, uint8_t *out, size_t outmax)
{
    size_t n = 0;
    assert_int_equal(vg__tickets_seal(t, now, session, sizeof(session), out, outmax, &n), 0);
    assert_true(n > sizeof(session));
    return n;
}

/* 0 if the ticket opens to the session; the error otherwise.  buf is
 * copied: opening decrypts in place. */
static int open_copy(struct vg__tickets *t, int64_t now, const uint8_t *tk, size_t n)
{
    uint8_t buf[512], *pt = NULL;
    size_t ptlen = 0;
    int rc;
    assert_true(n <= sizeof(buf));
    memcpy(buf, tk, n);
    rc = vg__tickets_open(t, now, buf, n, &pt, &ptlen);
    if (rc == 0) {
        assert_int_equal(ptlen, sizeof(session));
        assert_memory_equal(pt, session, sizeof(session));
    }
    return rc;
}

static size_t file_read(const char *path, char *out, size_t max)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    assert_non_null(f);
    n = fread(out, 1, max - 1, f);
    fclose(f);
    out[n] = '\0';
    return n;
}

static void test_create_and_reload(void **state)
{
    char path[PATH_MAX], err[256], a[512], b[512];
    struct vg__tickets *t = NULL, *t2 = NULL;
    uint8_t tk[512];
    size_t n;
    struct stat st;
    (void)state;

    tpath(path, sizeof(path), "tickets.keys");
    assert_int_equal(vg__tickets_new(path, LIFE, T0, &t, err, sizeof(err)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    file_read(path, a, sizeof(a));
    assert_non_null(strstr(a, "vigil-ticket-keys 1\nkey "));
    n = seal(t, T0 + 10, tk, sizeof(tk));
    assert_int_equal(open_copy(t, T0 + 20, tk, n), 0);

    /* A restart: same keys, and the ticket opens. */
    assert_int_equal(vg__tickets_new(path, LIFE, T0 + 30, &t2, err, sizeof(err)), 0);
    assert_int_equal(open_copy(t2, T0 + 40, tk, n), 0);
    file_read(path, b, sizeof(b));
    assert_string_equal(a, b);
    vg__tickets_free(t2);

    /* In memory only: another instance's keys do not open it. */
    assert_int_equal(vg__tickets_new(NULL, LIFE, T0, &t2, err, sizeof(err)), 0);
    assert_int_equal(open_copy(t2, T0 + 40, tk, n), -ENOKEY);
    vg__tickets_free(t2);
    vg__tickets_free(t);
    vg__tickets_free(NULL);
    unlink(path);
}

static void test_rotation(void **state)
{
    char path[PATH_MAX], err[256], a[512], b[512];
    struct vg__tickets *t = NULL, *t2 = NULL;
    uint8_t old[512], mid[512];
    size_t nold, nmid;
    uint64_t rot, bad, exp;
    (void)state;

    tpath(path, sizeof(path), "rot.keys");
    assert_int_equal(vg__tickets_new(path, LIFE, T0, &t, err, sizeof(err)), 0);
    file_read(path, a, sizeof(a));
    nold = seal(t, T0 + LIFE - 10, old, sizeof(old));
    /* Due: sealing rotates and rewrites the file with both keys. */
    nmid = seal(t, T0 + LIFE, mid, sizeof(mid));
    vg__tickets_stats(t, &rot, &bad, &exp);
    assert_int_equal(rot, 2); /* the first key, then the rotation */
    file_read(path, b, sizeof(b));
    assert_string_not_equal(a, b);
    /* The old current key is now the second line. */
    assert_non_null(strstr(b, a + strlen("vigil-ticket-keys 1\n")));
    assert_memory_not_equal(old, mid, 4); /* key ids differ */
    /* The previous key still opens its ticket, until the ticket's own
     * lifetime runs out. */
    assert_int_equal(open_copy(t, T0 + LIFE + 5, old, nold), 0);
    assert_int_equal(open_copy(t, T0 + LIFE + 5, mid, nmid), 0);
    assert_int_equal(open_copy(t, T0 + 2 * LIFE - 10, old, nold), -EKEYEXPIRED);

    /* After a restart, from the file: both still open. */
    assert_int_equal(vg__tickets_new(path, LIFE, T0 + LIFE + 6, &t2, err, sizeof(err)), 0);
    assert_int_equal(open_copy(t2, T0 + LIFE + 7, old, nold), 0);
    assert_int_equal(open_copy(t2, T0 + LIFE + 7, mid, nmid), 0);
    vg__tickets_free(t2);

    /* Another rotation forgets the first key. */
    assert_int_equal(vg__tickets_rotate(t, T0 + 2 * LIFE), 0);
    assert_int_equal(open_copy(t, T0 + LIFE + 8, old, nold), -ENOKEY);
    assert_int_equal(open_copy(t, T0 + LIFE + 8, mid, nmid), 0);
    vg__tickets_free(t);

    /* A file whose current key is due is rotated at load. */
    assert_int_equal(vg__tickets_new(path, LIFE, T0 + 10 * LIFE, &t2, err, sizeof(err)), 0);
    vg__tickets_stats(t2, &rot, &bad, &exp);
    assert_int_equal(rot, 1);
    vg__tickets_free(t2);
    unlink(path);
}

static void test_tampered_and_expired(void **state)
{
    char err[256];
    struct vg__tickets *t = NULL;
    uint8_t tk[512];
    size_t n, i;
    (void)state;

    assert_int_equal(vg__tickets_new(NULL, LIFE, T0, &t, err, sizeof(err)), 0);
    n = seal(t, T0, tk, sizeof(tk));
    /* Every byte, key id aside (-ENOKEY), is authenticated. */
    for (i = 4; i < n; i++) {
        tk[i] ^= 1;
        assert_int_equal(open_copy(t, T0 + 1, tk, n), VG_ECORRUPT);
        tk[i] ^= 1;
    }
    tk[0] ^= 1;
    assert_int_equal(open_copy(t, T0 + 1, tk, n), -ENOKEY);
    tk[0] ^= 1;
    assert_int_equal(open_copy(t, T0 + 1, tk, n - 1), VG_ECORRUPT);
    assert_int_equal(open_copy(t, T0 + 1, tk, 10), VG_ECORRUPT);
    assert_int_equal(open_copy(t, T0 + LIFE - 1, tk, n), 0);
    assert_int_equal(open_copy(t, T0 + LIFE, tk, n), -EKEYEXPIRED);
    assert_int_equal(open_copy(t, T0 - 3600, tk, n), -EKEYEXPIRED); /* from the future */
    /* Too little room. */
    assert_int_equal(vg__tickets_seal(t, T0, session, sizeof(session), tk, sizeof(session), &n),
                     VG_ETOOBIG);
    vg__tickets_free(t);
}

static void test_refused_files(void **state)
{
    static const char *bad[] = {
        "",
        "vigil-ticket-keys 1\n",
        "vigil-ticket-keys 2\nkey 01020304 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "vigil-ticket-keys 1\nkey 01020304 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddee\n",
        "vigil-ticket-keys 1\nkey 0102030g 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "vigil-ticket-keys 1\nkey 01020304 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "vigil-ticket-keys 1\nkey 01020304 soon "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        /* two keys with one id */
        "vigil-ticket-keys 1\nkey 01020304 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
        "key 01020304 1700000000 "
        "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        /* three keys */
        "vigil-ticket-keys 1\nkey 01020304 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
        "key 01020305 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
        "key 01020306 1700000000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    };
    static const char good[] = "vigil-ticket-keys 1\nkey 01020304 1700000000 "
                               "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    char path[PATH_MAX], err[256], after[512];
    struct vg__tickets *t = NULL;
    (void)state;

    tpath(path, sizeof(path), "bad.keys");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_str(path, bad[i]);
        assert_int_equal(chmod(path, 0600), 0);
        err[0] = '\0';
        assert_int_equal(vg__tickets_new(path, LIFE, T0, &t, err, sizeof(err)), VG_ECORRUPT);
        assert_non_null(strstr(err, path));
        /* Left for the operator to look at, not replaced. */
        file_read(path, after, sizeof(after));
        assert_string_equal(after, bad[i]);
    }
    /* Readable by the group: refused, whatever its content. */
    write_str(path, good);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(vg__tickets_new(path, LIFE, T0, &t, err, sizeof(err)), VG_EKEYMODE);
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(vg__tickets_new(path, LIFE, T0, &t, err, sizeof(err)), VG_EKEYMODE);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(vg__tickets_new(path, LIFE, 1700000000 + 10, &t, err, sizeof(err)), 0);
    vg__tickets_free(t);
    unlink(path);
    /* A directory where the file should be. */
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_not_equal(vg__tickets_new(path, LIFE, T0, &t, err, sizeof(err)), 0);
    rmdir(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reload),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_tampered_and_expired),
        cmocka_unit_test(test_refused_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
