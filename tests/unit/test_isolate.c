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
#include <sys/stat.h>
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

/* nft's own check: parsed and validated, nothing installed (root only). */
static void nft_dry_run(const char *s)
{
    if (geteuid() == 0) {
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        assert_non_null(ctx);
        nft_ctx_buffer_error(ctx);
        nft_ctx_set_dry_run(ctx, true);
        if (nft_run_cmd_from_buffer(ctx, s) != 0)
            fail_msg("nft refused the ruleset: %s\n%s", nft_ctx_get_error_buffer(ctx), s);
        nft_ctx_free(ctx);
    }
}

static void test_nft(void **state)
{
    struct iso_spec sp;
    char *s = NULL;
    (void)state;
    spec(&sp);
    sp.uid = 998;
    sp.has_uid = 1;
    assert_int_equal(iso_nft_script(&sp, &s), 0);
    /* Replaces itself atomically; drops by default, all three hooks. */
    assert_non_null(strstr(s, "add table inet vigil_isolation\ndelete table inet vigil_isolation\n"));
    assert_non_null(strstr(s, "hook input priority -10; policy drop;"));
    assert_non_null(strstr(s, "hook output priority -10; policy drop;"));
    assert_non_null(strstr(s, "hook forward priority -10; policy drop;"));
    assert_null(strstr(s, "flags owner"));
    /* The collector: opened only by the network process's sockets, which
     * mark the connection; inbound only replies of a marked connection. */
    assert_non_null(strstr(s, "ip daddr 192.0.2.10 tcp dport 7443 meta skuid 998 ct mark set "
                              "0x7669676c accept\n"));
    assert_non_null(strstr(s, "ip daddr 192.0.2.10 tcp dport 7443 ct direction original ct mark "
                              "0x7669676c accept\n"));
    assert_non_null(strstr(s, "ip saddr 192.0.2.10 tcp sport 7443 ct direction reply ct mark "
                              "0x7669676c accept\n"));
    assert_non_null(strstr(s, "ip6 daddr 2001:db8::10 tcp dport 7443 meta skuid 998"));
    assert_null(strstr(s, "ip saddr 192.0.2.10 tcp sport 7443 accept"));
    assert_non_null(strstr(s, "ip daddr 198.51.100.0/24 accept"));
    /* A port: at either end. */
    assert_non_null(strstr(s, "ip daddr 203.0.113.5 meta l4proto { tcp, udp } th dport 22 accept"));
    assert_non_null(strstr(s, "ip daddr 203.0.113.5 meta l4proto { tcp, udp } th sport 22 accept"));
    assert_non_null(strstr(s, "ip6 saddr 2001:db8:1::/48 tcp sport 443 accept"));
    assert_non_null(strstr(s, "ip daddr 192.0.2.53 meta l4proto { tcp, udp } th dport 53 accept"));
    /* Nothing accepted by connection state but ICMP errors of the marked
     * connection and the allowed addresses: open connections stop. */
    assert_non_null(strstr(s, "meta l4proto { icmp, ipv6-icmp } ct state related ct mark "
                              "0x7669676c accept\n"));
    assert_non_null(strstr(s, "meta l4proto ipv6-icmp ct state related ct original ip6 daddr "
                              "2001:db8:1::/48 accept\n"));
    assert_null(strstr(s, "ct state related ct original ip daddr 192.0.2.10"));
    assert_null(strstr(s, "ct state related accept"));
    assert_null(strstr(s, "ct state established"));
    /* DHCP with the lease's server only, both ways; no broadcast, no
     * source-port wildcard, no DHCPv6. */
    assert_non_null(strstr(s, "    ip saddr 192.0.2.67 udp sport 67 udp dport 68 accept\n"));
    assert_non_null(strstr(s, "    ip daddr 192.0.2.67 udp sport 68 udp dport 67 accept\n"));
    assert_null(strstr(s, "    udp sport 67 udp dport 68 accept"));
    assert_null(strstr(s, "255.255.255.255"));
    assert_null(strstr(s, "547"));
    /* Neighbour discovery from this link only. */
    assert_non_null(strstr(s, "ip6 hoplimit 255 icmpv6 type { nd-neighbor-solicit"));
    assert_non_null(strstr(s, "table bridge vigil_isolation {"));
    nft_dry_run(s);
    free(s);

    /* The keeper's copy: the same rules in an owned table. */
    assert_int_equal(iso_nft_keep_script(&sp, &s), 0);
    /* The kernel refuses a change of the owner flag: every add says it. */
    assert_non_null(strstr(s, "add table inet vigil_isolation_keep { flags owner; }\n"
                              "delete table inet vigil_isolation_keep\n"));
    assert_non_null(strstr(s, "table inet vigil_isolation_keep {\n  flags owner;\n  chain input {"));
    assert_non_null(strstr(s, "table bridge vigil_isolation_keep {\n  flags owner;\n"));
    assert_non_null(strstr(s, "meta skuid 998 ct mark set 0x7669676c accept"));
    nft_dry_run(s);
    free(s);

    /* A state file from before the uid was kept: address and port. */
    sp.has_uid = 0;
    sp.ndhcp = 0;
    assert_int_equal(iso_nft_script(&sp, &s), 0);
    assert_non_null(strstr(s, "ip daddr 192.0.2.10 tcp dport 7443 accept\n"));
    assert_non_null(strstr(s, "ip saddr 192.0.2.10 tcp sport 7443 accept\n"));
    assert_null(strstr(s, "skuid"));
    assert_non_null(strstr(s, "meta l4proto icmp ct state related ct original ip daddr "
                              "192.0.2.10 accept\n"));
    /* No lease: no DHCP at all. */
    assert_null(strstr(s, "dport 67"));
    assert_null(strstr(s, "sport 67"));
    nft_dry_run(s);
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
    /* DHCP with the lease's servers only; ICMP errors of connections let
     * through. */
    assert_null(strstr(v4, "255.255.255.255"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-OUT -d 192.0.2.67/32 -p udp --sport 68 --dport 67"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-IN -s 192.0.2.67/32 -p udp --sport 67 --dport 68"));
    assert_null(strstr(v4, "-A VIGIL-ISO-OUT -p udp --sport 68"));
    assert_null(strstr(v4, "-A VIGIL-ISO-IN -p udp --sport 67"));
    assert_non_null(strstr(v4, "-p icmp -m conntrack --ctstate RELATED --ctorigdst "
                               "192.0.2.10/32 -j ACCEPT"));
    assert_null(strstr(v4, "--ctstate RELATED -j ACCEPT"));
    assert_null(strstr(v6, "547"));
    free(v4);
    free(v6);
    /* With the network process's uid: owner match and connection mark. */
    sp.uid = 998;
    sp.has_uid = 1;
    assert_int_equal(iso_ipt_script(&sp, AF_INET, NULL, &v4), 0);
    assert_int_equal(iso_ipt_script(&sp, AF_INET6, NULL, &v6), 0);
    assert_non_null(strstr(v4, "-A VIGIL-ISO-OUT -d 192.0.2.10/32 -p tcp --dport 7443 -m owner "
                               "--uid-owner 998 -j CONNMARK --set-mark 0x7669676c\n"));
    assert_non_null(strstr(v4, "-A VIGIL-ISO-IN -s 192.0.2.10/32 -p tcp --sport 7443 -m connmark "
                               "--mark 0x7669676c -m conntrack --ctdir REPLY -j ACCEPT\n"));
    assert_null(strstr(v4, "-A VIGIL-ISO-IN -s 192.0.2.10/32 -p tcp --sport 7443 -j ACCEPT"));
    assert_non_null(strstr(v6, "-m hl --hl-eq 255"));
    free(v4);
    free(v6);
}

static void put(const char *dir, const char *name, const char *text, mode_t mode, uid_t uid)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    assert_int_equal(chown(path, uid, (gid_t)-1), 0);
}

static int has_server(const struct iso_spec *sp, const char *ip)
{
    struct iso_addr x;
    assert_int_equal(vg_netaddr_parse(ip, &x, NULL, 0), 0);
    for (size_t i = 0; i < sp->ndhcp; i++)
        if (vg_netaddr_equal(&sp->dhcp[i], &x))
            return 1;
    return 0;
}

/* Leases: only root's files, unexpired, for an address the host holds
 * (127.0.0.1 here), the newest dhclient block per interface. */
static void test_leases(void **state)
{
    char dir[] = "/tmp/vg-lease-XXXXXX", pat[64];
    const char *pats[] = { pat, NULL };
    struct iso_spec sp;
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    snprintf(pat, sizeof(pat), "%s/*", dir);
    /* dhclient: an older block for lo names .9; the newest names .1. */
    put(dir, "dhclient.lo.leases",
        "lease {\n  interface \"lo\";\n  fixed-address 127.0.0.1;\n"
        "  option dhcp-server-identifier 192.0.2.9;\n  expire 4 2099/01/01 00:00:00;\n}\n"
        "lease {\n  interface \"lo\";\n  fixed-address 127.0.0.1;\n"
        "  option dhcp-server-identifier 192.0.2.1;\n  expire 4 2099/01/01 00:00:00;\n}\n"
        /* another interface's lease, expired */
        "lease {\n  interface \"eth9\";\n  fixed-address 127.0.0.1;\n"
        "  option dhcp-server-identifier 192.0.2.2;\n  expire 1 2001/01/01 00:00:00;\n}\n",
        0644, 0);
    /* systemd-networkd: right, world-writable, not root's, another address. */
    put(dir, "2", "ADDRESS=127.0.0.1\nSERVER_ADDRESS=192.0.2.3\n", 0644, 0);
    put(dir, "3", "ADDRESS=127.0.0.1\nSERVER_ADDRESS=192.0.2.4\n", 0666, 0);
    put(dir, "4", "ADDRESS=127.0.0.1\nSERVER_ADDRESS=192.0.2.5\n", 0644, 65534);
    put(dir, "5", "ADDRESS=198.51.100.77\nSERVER_ADDRESS=192.0.2.6\n", 0644, 0);
    memset(&sp, 0, sizeof(sp));
    iso_dhcp_servers(pats, &sp);
    assert_true(has_server(&sp, "192.0.2.1"));
    assert_true(has_server(&sp, "192.0.2.3"));
    assert_int_equal(sp.ndhcp, 2);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leases),
        cmocka_unit_test(test_nft),
        cmocka_unit_test(test_iptables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
