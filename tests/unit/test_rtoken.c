/* Break-glass release tokens (lib/rtoken.c) and addresses with ports
 * (lib/netaddr.c): a token verifies for its host, until it expires, and
 * only if signed by a collector of the agent's CA; any edit breaks it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "netaddr.h"
#include "rtoken.h"
#include "util.h"

#define DAY (86400LL * 1000)

struct pki {
    struct vg_key *ca_key;
    struct vg_cert *ca;
    char *ca_pem;
};

static void make_ca(struct pki *p)
{
    struct vg_cert_req req;
    memset(&req, 0, sizeof(req));
    req.cn = "Test CA";
    req.is_ca = 1;
    req.not_before_ms = vg_time_now_ms() - 60000;
    req.not_after_ms = vg_time_now_ms() + 365 * DAY;
    assert_int_equal(vg_key_generate(&p->ca_key), 0);
    assert_int_equal(vg_cert_issue(&req, p->ca_key, NULL, p->ca_key, &p->ca_pem), 0);
    assert_int_equal(vg_cert_parse((uint8_t *)p->ca_pem, strlen(p->ca_pem) + 1, &p->ca), 0);
}

static char *issue(struct pki *p, const char *cn, enum vg_role role, struct vg_key **key)
{
    struct vg_cert_req req;
    char *pem = NULL;
    memset(&req, 0, sizeof(req));
    req.cn = cn;
    req.role = role;
    req.not_before_ms = vg_time_now_ms() - 60000;
    req.not_after_ms = vg_time_now_ms() + 30 * DAY;
    assert_int_equal(vg_key_generate(key), 0);
    assert_int_equal(vg_cert_issue(&req, *key, p->ca, p->ca_key, &pem), 0);
    return pem;
}

static void free_pki(struct pki *p)
{
    vg_key_free(p->ca_key);
    vg_cert_free(p->ca);
    free(p->ca_pem);
}

static void token(struct vg_rtoken *t, const char *agent, int64_t expires)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(vg_uuid4(t->token_id), 0);
    vg_strlcpy(t->agent_id, agent, sizeof(t->agent_id));
    t->issued_ms = vg_time_now_ms();
    t->expires_ms = expires;
    vg_strlcpy(t->operator_name, "admin alice", sizeof(t->operator_name));
    vg_strlcpy(t->reason, "collector lost in the fire", sizeof(t->reason));
}

/* The token with one field replaced (a JSON edit). */
static char *edit(const char *json, const char *key, json_t *value)
{
    json_t *o = json_loads(json, 0, NULL);
    char *s;
    assert_non_null(o);
    json_object_set_new(o, key, value);
    s = json_dumps(o, 0);
    json_decref(o);
    return s;
}

static void test_token(void **state)
{
    struct pki p, other;
    struct vg_key *ck = NULL, *ak = NULL, *ok = NULL;
    char *cpem, *apem, *opem, *json = NULL, *bad, why[400];
    struct vg_rtoken t, out;
    int64_t now = vg_time_now_ms();

    (void)state;
    make_ca(&p);
    make_ca(&other);
    cpem = issue(&p, "collector", VG_ROLE_COLLECTOR, &ck);
    apem = issue(&p, "agent-1", VG_ROLE_AGENT, &ak);
    opem = issue(&other, "collector", VG_ROLE_COLLECTOR, &ok);

    token(&t, "agent-1", now + DAY);
    assert_int_equal(vg_rtoken_sign(&t, cpem, ck, &json), 0);
    assert_int_equal(vg_rtoken_verify(json, strlen(json), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), 0);
    assert_string_equal(out.token_id, t.token_id);
    assert_string_equal(out.reason, t.reason);
    assert_string_equal(out.operator_name, "admin alice");
    assert_true(out.expires_ms == t.expires_ms);

    /* Another host's. */
    assert_int_equal(vg_rtoken_verify(json, strlen(json), p.ca, "agent-2", now, &out, why,
                                      sizeof(why)), -EACCES);
    assert_non_null(strstr(why, "not this one"));
    /* Expired. */
    assert_int_equal(vg_rtoken_verify(json, strlen(json), p.ca, "agent-1", now + 2 * DAY, &out,
                                      why, sizeof(why)), -ETIME);
    /* Another CA's agent. */
    assert_int_equal(vg_rtoken_verify(json, strlen(json), other.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECERT);

    /* Any field edited after signing. */
    bad = edit(json, "reason", json_string("something else"));
    assert_int_equal(vg_rtoken_verify(bad, strlen(bad), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECRYPTO);
    free(bad);
    bad = edit(json, "expires_ms", json_integer(now + 90 * DAY));
    assert_int_equal(vg_rtoken_verify(bad, strlen(bad), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECRYPTO);
    free(bad);
    bad = edit(json, "agent_id", json_string("agent-2"));
    assert_int_equal(vg_rtoken_verify(bad, strlen(bad), p.ca, "agent-2", now, &out, why,
                                      sizeof(why)), VG_ECRYPTO);
    free(bad);
    /* The certificate swapped for the agent's own (not a collector)... */
    bad = edit(json, "collector_certificate", json_string(apem));
    assert_int_equal(vg_rtoken_verify(bad, strlen(bad), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECERT);
    assert_non_null(strstr(why, "not a collector"));
    free(bad);
    free(json);
    /* ... or signed by the agent's key with its certificate: not a collector. */
    assert_int_equal(vg_rtoken_sign(&t, apem, ak, &json), 0);
    assert_int_equal(vg_rtoken_verify(json, strlen(json), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECERT);
    free(json);
    /* A collector of another CA. */
    assert_int_equal(vg_rtoken_sign(&t, opem, ok, &json), 0);
    assert_int_equal(vg_rtoken_verify(json, strlen(json), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECERT);
    free(json);
    /* Signed with a key that does not match the certificate. */
    assert_int_equal(vg_rtoken_sign(&t, cpem, ok, &json), 0);
    assert_int_equal(vg_rtoken_verify(json, strlen(json), p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_ECRYPTO);
    free(json);
    /* Not a token at all. */
    assert_int_equal(vg_rtoken_verify("{}", 2, p.ca, "agent-1", now, &out, why, sizeof(why)),
                     VG_EPROTO);
    assert_int_equal(vg_rtoken_verify("not json", 8, p.ca, "agent-1", now, &out, why,
                                      sizeof(why)), VG_EPROTO);

    vg_key_free(ck);
    vg_key_free(ak);
    vg_key_free(ok);
    free(cpem);
    free(apem);
    free(opem);
    free_pki(&p);
    free_pki(&other);
}

static void test_netaddr(void **state)
{
    static const struct { const char *in, *canon; int family; unsigned prefix, port; } good[] = {
        { "192.0.2.7", "192.0.2.7", AF_INET, 32, 0 },
        { "192.0.2.0/24", "192.0.2.0/24", AF_INET, 24, 0 },
        { "192.0.2.7:22", "192.0.2.7:22", AF_INET, 32, 22 },
        { "10.0.0.0/8:443", "10.0.0.0/8:443", AF_INET, 8, 443 },
        { "0.0.0.0/0", "0.0.0.0/0", AF_INET, 0, 0 },
        { "2001:db8::1", "2001:db8::1", AF_INET6, 128, 0 },
        { "2001:db8::/32", "2001:db8::/32", AF_INET6, 32, 0 },
        { "[2001:db8::1]:22", "[2001:db8::1]:22", AF_INET6, 128, 22 },
        { "[2001:DB8::/32]:443", "[2001:db8::/32]:443", AF_INET6, 32, 443 },
    };
    static const char *const bad[] = {
        "", "192.0.2.7/24", "192.0.2.0/33", "192.0.2.7:0", "192.0.2.7:65536", "192.0.2",
        "host.example.org", "[2001:db8::1", "[2001:db8::1]22", "2001:db8::1/129",
        "2001:db8::1/64", "192.0.2.7:22:33", "[192.0.2.7]:x",
    };
    struct vg_netaddr a;
    char out[VG_NETADDR_STR], why[200];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(vg_netaddr_parse(good[i].in, &a, why, sizeof(why)), 0);
        assert_int_equal(a.family, good[i].family);
        assert_int_equal(a.prefix, good[i].prefix);
        assert_int_equal(a.port, good[i].port);
        assert_string_equal(vg_netaddr_format(&a, out, sizeof(out)), good[i].canon);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(vg_netaddr_parse(bad[i], &a, why, sizeof(why)), -EINVAL);
        assert_true(why[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_netaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
