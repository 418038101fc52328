/* Isolation rulesets (agent/cmd_isolate_nft.c, cmd_isolate_ipt.c): what
 * the agent installs for a spec, checked by nftables itself (a dry run
 * through libnftables: parsed and validated, nothing installed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agent/isolation.h"

static void add(struct iso_addr *v, size_t *n, const char *s, uint8_t proto)
{
    assert_int_equal(vg_netaddr_parse(s, &v[*n], NULL, 0), 0);
    v[*n].proto = proto;
    (*n)++;
}

static void spec(struct iso_spec *sp)
{
    memset(sp, 0, sizeof(*sp));
    add(sp->collectors, &sp->ncollectors, "192.0.2.10:7443", IPPROTO_TCP);
    add(sp->collectors, &sp->ncollectors, "[2001:db8::10]:7443", IPPROTO_TCP);
    add(sp->allow, &sp->nallow, "198.51.100.0/24", 0);
    add(sp->allow, &sp->nallow, "203.0.113.5:22", 0);
    add(sp->allow, &sp->nallow, "[2001:db8:1::/48]:443", IPPROTO_TCP);
    add(sp->dns, &sp->ndns, "192.0.2.53:53", 0);
}

static void test_nft(void **state)
{
    struct iso_spec sp;
    char *s = NULL;
    (void)state;
    spec(&sp);
    assert_int_equal(iso_nft_script(&sp, &s), 0);
    /* Replaces itself atomically; drops by default, all three hooks. */
    assert_non_null(strstr(s, "add table inet vigil_isolation\ndelete table inet vigil_isolation\n"));
    assert_non_null(strstr(s, "hook input priority -10; policy drop;"));
    assert_non_null(strstr(s, "hook output priority -10; policy drop;"));
    assert_non_null(strstr(s, "hook forward priority -10; policy drop;"));
    assert_non_null(strstr(s, "ip daddr 192.0.2.10 tcp dport 7443 accept"));
    assert_non_null(strstr(s, "ip saddr 192.0.2.10 tcp sport 7443 accept"));
    assert_non_null(strstr(s, "ip6 daddr 2001:db8::10 tcp dport 7443 accept"));
    assert_non_null(strstr(s, "ip daddr 198.51.100.0/24 accept"));
    /* A port: at either end. */
    assert_non_null(strstr(s, "ip daddr 203.0.113.5 meta l4proto { tcp, udp } th dport 22 accept"));
    assert_non_null(strstr(s, "ip daddr 203.0.113.5 meta l4proto { tcp, udp } th sport 22 accept"));
    assert_non_null(strstr(s, "ip6 saddr 2001:db8:1::/48 tcp sport 443 accept"));
    assert_non_null(strstr(s, "ip daddr 192.0.2.53 meta l4proto { tcp, udp } th dport 53 accept"));
    /* Nothing accepted by state: open connections must stop. */
    assert_null(strstr(s, "ct state"));

    if (geteuid() == 0) {
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        assert_non_null(ctx);
        nft_ctx_buffer_error(ctx);
        nft_ctx_set_dry_run(ctx, true);
        if (nft_run_cmd_from_buffer(ctx, s) != 0)
            fail_msg("nft refused the ruleset: %s", nft_ctx_get_error_buffer(ctx));
        nft_ctx_free(ctx);
    }
    free(s);
}

static void test_iptables(void **state)
{
    struct iso_spec sp;
    char *v4 = NULL, *v6 = NULL;
    (void)state;
    spec(&sp);
    assert_int_equal(iso_ipt_script(&sp, AF_INET, 1, &v4), 0);
    assert_int_equal(iso_ipt_script(&sp, AF_INET6, 0, &v6), 0);
    assert_non_null(strstr(v4, "*filter\n:VIGIL-ISO-IN - [0:0]\n"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-OUT -d 192.0.2.10/32 -p tcp --dport 7443 -j ACCEPT"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-OUT -d 203.0.113.5/32 -p udp --sport 22 -j ACCEPT"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-IN -j DROP\n"));
    assert_non_null(strstr(v4, "-I INPUT 1 -j VIGIL-ISO-IN\n-I OUTPUT 1 -j VIGIL-ISO-OUT\n"));
    assert_non_null(strstr(v4, "COMMIT\n"));
    /* Each family gets only its own addresses. */
    assert_null(strstr(v4, "2001:db8"));
    assert_null(strstr(v6, "192.0.2."));
    assert_non_null(strstr(v6, "-A VIGIL-ISO-IN -s 2001:db8:1::/48 -p tcp --sport 443 -j ACCEPT"));
    assert_null(strstr(v6, "-p udp --sport 443"));
    assert_non_null(strstr(v6, "neighbour-solicitation"));
    /* Jumps only when asked (they are already first on a re-apply). */
    assert_null(strstr(v6, "-I INPUT"));
    free(v4);
    free(v6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nft),
        cmocka_unit_test(test_iptables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
