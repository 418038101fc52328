/* Isolation rulesets (agent/priv/cmd_isolate_nft.c, cmd_isolate_ipt.c): what
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

#include "../../agent/priv/isolation.h"

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
    add(sp->dhcp, &sp->ndhcp, "192.0.2.67", 0);
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
    /* Nothing accepted by connection state but ICMP errors: open
     * connections must stop. */
    assert_non_null(strstr(s, "meta l4proto icmp ct state related ct original ip daddr "
                              "192.0.2.10 accept\n"));
    assert_non_null(strstr(s, "meta l4proto ipv6-icmp ct state related ct original ip6 daddr "
                              "2001:db8:1::/48 accept\n"));
    assert_null(strstr(s, "ct state related accept"));
    /* DHCP replies from any server: inbound only. */
    assert_non_null(strstr(s, "    udp sport 67 udp dport 68 accept\n"));
    assert_null(strstr(s, "ct state established"));
    /* DHCP: broadcast and the lease's server only, out. */
    assert_non_null(strstr(s, "ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept"));
    assert_non_null(strstr(s, "ip daddr 192.0.2.67 udp sport 68 udp dport 67 accept"));
    assert_null(strstr(s, "    udp sport 68 udp dport 67 accept"));
    assert_non_null(strstr(s, "table bridge vigil_isolation {"));

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
    unsigned two[3] = { 2, 0, 1 };
    assert_int_equal(iso_ipt_script(&sp, AF_INET, NULL, &v4), 0);
    assert_int_equal(iso_ipt_script(&sp, AF_INET6, two, &v6), 0);
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
    /* Old jumps go, one goes on top, in the same transaction. */
    assert_non_null(strstr(v6, "-D INPUT -j VIGIL-ISO-IN\n-D INPUT -j VIGIL-ISO-IN\n"
                               "-I INPUT 1 -j VIGIL-ISO-IN\n-I OUTPUT 1 -j VIGIL-ISO-OUT\n"
                               "-D FORWARD -j VIGIL-ISO-FWD\n-I FORWARD 1"));
    /* DHCP only to broadcast and the lease's servers; ICMP errors of
     * connections let through. */
    assert_non_null(strstr(v4, "-A VIGIL-ISO-OUT -d 255.255.255.255/32 -p udp --sport 68 --dport 67"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-OUT -d 192.0.2.67/32 -p udp --sport 68 --dport 67"));
    assert_null(strstr(v4, "-A VIGIL-ISO-OUT -p udp --sport 68"));
    assert_non_null(strstr(v4, "-p icmp -m conntrack --ctstate RELATED --ctorigdst "
                               "192.0.2.10/32 -j ACCEPT"));
    assert_null(strstr(v4, "--ctstate RELATED -j ACCEPT"));
    assert_non_null(strstr(v6, "-d ff02::1:2/128 -p udp --sport 546 --dport 547"));
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
