/* Audit checkpoints (lib/acp.c): a signed line parses back to what was
 * signed and verifies with the key or its public half only; any edited
 * field, another key or a non-canonical line fails; a syslog prefix is
 * allowed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acp.h"
#include "crypto.h"
#include "err.h"
#include "util.h"

#define HEAD "75a42ae92452337b0aa360723b691ff12ef8e790affad435010e3fc96a673e5d"

static void make(struct vg_acp *cp, uint64_t seq, const char *prev)
{
    memset(cp, 0, sizeof(*cp));
    cp->seq = seq;
    cp->time_ms = 1796392500123LL;
    cp->entries = 310;
    cp->last = 310;
    vg_strlcpy(cp->head, HEAD, sizeof(cp->head));
    vg_strlcpy(cp->prev, prev, sizeof(cp->prev));
    vg_strlcpy(cp->reason, "interval", sizeof(cp->reason));
}

static struct vg_key *public_half(const struct vg_key *k)
{
    char pem[1024];
    struct vg_key *pub = NULL;
    assert_int_equal(vg_key_public_pem(k, pem, sizeof(pem)), 0);
    assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
    assert_int_equal(vg_key_parse_public((uint8_t *)pem, strlen(pem), &pub), 0);
    return pub;
}

static void test_round_trip(void **state)
{
    struct vg_key *k = NULL, *pub, *other = NULL;
    struct vg_acp cp, got, next;
    char line[VG_ACP_LINE_MAX], line2[VG_ACP_LINE_MAX], why[200], prefixed[VG_ACP_LINE_MAX + 64];
    uint8_t sig[VG_SIG_MAX];
    size_t siglen;
    (void)state;

    assert_int_equal(vg_key_generate(&k), 0);
    assert_int_equal(vg_key_generate(&other), 0);
    pub = public_half(k);
    make(&cp, 1, VG_ACP_GENESIS);
    assert_int_equal(vg_acp_sign(&cp, k, line, sizeof(line)), 0);
    assert_true(strncmp(line, VG_ACP_MAGIC "seq=1 time=", strlen(VG_ACP_MAGIC) + 11) == 0);
    assert_non_null(strstr(line, " entries=310 last=310 head=" HEAD " prev=" VG_ACP_GENESIS
                                 " reason=interval sig="));
    assert_int_equal(vg_acp_parse(line, strlen(line), &got, why, sizeof(why)), 0);
    assert_int_equal(got.seq, 1);
    assert_int_equal(got.time_ms, cp.time_ms);
    assert_int_equal(got.entries, 310);
    assert_int_equal(got.last, 310);
    assert_string_equal(got.head, HEAD);
    assert_string_equal(got.reason, "interval");
    assert_string_equal(got.link, cp.link);
    assert_int_equal(vg_acp_verify(&got, k), 0);
    assert_int_equal(vg_acp_verify(&got, pub), 0);
    assert_int_equal(vg_acp_verify(&got, other), VG_ECRYPTO);
    /* The public half cannot sign. */
    assert_int_not_equal(vg_sign(pub, "x", 1, sig, &siglen), 0);

    /* From a syslog file, with its newline. */
    snprintf(prefixed, sizeof(prefixed), "Dec  4 14:07:00 box vigil-collector[42]: %s\n", line);
    assert_int_equal(vg_acp_parse(prefixed, strlen(prefixed), &got, why, sizeof(why)), 0);
    assert_int_equal(vg_acp_verify(&got, pub), 0);

    /* The next one links to it. */
    make(&next, 2, cp.link);
    assert_int_equal(vg_acp_sign(&next, k, line2, sizeof(line2)), 0);
    assert_int_equal(vg_acp_parse(line2, strlen(line2), &got, why, sizeof(why)), 0);
    assert_string_equal(got.prev, cp.link);
    assert_string_not_equal(got.link, cp.link);

    vg_key_free(k);
    vg_key_free(pub);
    vg_key_free(other);
}

/* Each field changed in the text: the line no longer verifies (or no
 * longer parses). */
static void test_tamper(void **state)
{
    static const struct {
        const char *from, *to;
    } edits[] = {
        { "seq=1 ", "seq=2 " },
        { "entries=310 ", "entries=311 " },
        { "last=310 ", "last=309 " },
        { "head=75a4", "head=85a4" },
        { "reason=interval", "reason=stop" },
    };
    struct vg_key *k = NULL;
    struct vg_acp cp, got;
    char line[VG_ACP_LINE_MAX], edited[VG_ACP_LINE_MAX], why[200];
    (void)state;

    assert_int_equal(vg_key_generate(&k), 0);
    make(&cp, 1, VG_ACP_GENESIS);
    assert_int_equal(vg_acp_sign(&cp, k, line, sizeof(line)), 0);
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *at = strstr(line, edits[i].from);
        size_t off;
        assert_non_null(at);
        off = (size_t)(at - line);
        snprintf(edited, sizeof(edited), "%.*s%s%s", (int)off, line, edits[i].to,
                 at + strlen(edits[i].from));
        assert_int_equal(vg_acp_parse(edited, strlen(edited), &got, why, sizeof(why)), 0);
        assert_int_equal(vg_acp_verify(&got, k), VG_ECRYPTO);
    }
    /* A later time. */
    {
        char *at = strstr(line, ".123Z");
        assert_non_null(at);
        vg_strlcpy(edited, line, sizeof(edited));
        edited[at - line + 3] = '4';
        assert_int_equal(vg_acp_parse(edited, strlen(edited), &got, why, sizeof(why)), 0);
        assert_int_equal(vg_acp_verify(&got, k), VG_ECRYPTO);
    }
    /* Non-canonical forms do not parse: upper-case hex, a leading zero,
     * two spaces, a missing or unknown field, a cut line. */
    {
        static const char *bad[] = { "seq=01 ", "reason=later", "  entries", "last=" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            const char *from = i == 0 ? "seq=1 " : i == 1 ? "reason=interval"
                               : i == 2 ? " entries" : "last=310";
            char *at = strstr(line, from);
            size_t off = (size_t)(at - line);
            snprintf(edited, sizeof(edited), "%.*s%s%s", (int)off, line, bad[i],
                     at + strlen(from));
            assert_int_equal(vg_acp_parse(edited, strlen(edited), &got, why, sizeof(why)),
                             VG_EPROTO);
        }
        vg_strlcpy(edited, line, sizeof(edited));
        for (char *p = strstr(edited, "head=") + 5; *p != ' '; p++)
            if (*p >= 'a' && *p <= 'f')
                *p = (char)(*p - 'a' + 'A');
        assert_int_equal(vg_acp_parse(edited, strlen(edited), &got, why, sizeof(why)),
                         VG_EPROTO);
        assert_false(vg_acp_parse(line, strlen(line) - 10, &got, why, sizeof(why)) == 0 &&
                     vg_acp_verify(&got, k) == 0);
        assert_int_equal(vg_acp_parse("no checkpoint here", 18, &got, why, sizeof(why)),
                         VG_EPROTO);
    }
    vg_key_free(k);
}

static void test_refuses_to_sign_bad_fields(void **state)
{
    struct vg_key *k = NULL;
    struct vg_acp cp;
    char line[VG_ACP_LINE_MAX];
    (void)state;

    assert_int_equal(vg_key_generate(&k), 0);
    make(&cp, 1, VG_ACP_GENESIS);
    vg_strlcpy(cp.reason, "whenever", sizeof(cp.reason));
    assert_int_equal(vg_acp_sign(&cp, k, line, sizeof(line)), -EINVAL);
    make(&cp, 1, "abc");
    assert_int_equal(vg_acp_sign(&cp, k, line, sizeof(line)), -EINVAL);
    make(&cp, 0, VG_ACP_GENESIS);
    assert_int_equal(vg_acp_sign(&cp, k, line, sizeof(line)), -EINVAL);
    make(&cp, 1, VG_ACP_GENESIS);
    assert_int_equal(vg_acp_sign(&cp, k, line, 100), -ENOSPC);
    vg_key_free(k);
}

/* The chain's entry hash, against vectors from an independent
 * implementation (tests/e2e/audit_rechain.py). */
static void test_entry_hash(void **state)
{
    char h[VG_SHA256_HEX];
    (void)state;
    vg_acp_entry_hash(VG_ACP_GENESIS, 1, 1796392500123LL, "agent agent-1 (127.0.0.1)", "connect",
                      "127.0.0.1", "wrong role", "refused", h);
    assert_string_equal(h, "b681c64bedda1c754e7e0cd2787d5c326c1b50c1034441bdfea3f17513042f76");
    vg_acp_entry_hash(VG_ACP_GENESIS, 2, 5, NULL, "", NULL, "\xc3\xa9", "", h);
    assert_string_equal(h, "a1a807424decba638c1c62b8b42d88187e5506af115b8b67f0fc7c3614e5edff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_hash),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_refuses_to_sign_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
