/*
 * The iptables back end of isolation, for hosts without nftables: three
 * chains of the agent's own per family (VIGIL-ISO-IN, -OUT, -FWD, in the
 * filter table of iptables and ip6tables), each ending in DROP, and a
 * jump to them as the first rule of INPUT, OUTPUT and FORWARD.
 *
 * In iptables an ACCEPT ends a packet's walk of the chain, so the jump
 * must stay first: the fingerprint includes the first rule of each
 * built-in chain, and the tamper check puts the jump back on top.
 *
 * Each family is loaded with one `iptables-restore --noflush` (chains
 * refilled, old jumps deleted, one inserted on top), which the kernel
 * takes as one table replacement; IPv4 and IPv6 are two steps.  The helpers run without a shell, from a file in the state
 * directory.  [isolation] iptables names them: "iptables" or
 * "iptables-legacy" (then ip6tables-legacy, iptables-legacy-restore...).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "isolation.h"
#include "run.h"
#include "util.h"

#define RUN_TIMEOUT_MS 15000
#define OUT_MAX (4 * 1024 * 1024)

static const char *const chains[3][2] = {
    { "INPUT", "VIGIL-ISO-IN" }, { "OUTPUT", "VIGIL-ISO-OUT" }, { "FORWARD", "VIGIL-ISO-FWD" } };

/* "iptables-legacy" -> "ip6tables-legacy", "iptables-legacy-save". */
static void tool(const struct agent_conf *c, int family, const char *suffix, char *out,
                 size_t len)
{
    const char *base = c->isolation_iptables ? c->isolation_iptables : "iptables";
    if (family == AF_INET6 && strncmp(base, "ip", 2) == 0)
        snprintf(out, len, "ip6%s%s", base + 2, suffix);
    else
        snprintf(out, len, "%s%s", base, suffix);
}

static int rule(struct vg_buf *b, const char *chain, const struct iso_addr *a, const char *dir,
                const char *portdir)
{
    char txt[INET6_ADDRSTRLEN];
    int rc = 0;
    inet_ntop(a->family, a->addr, txt, sizeof(txt));
    if (!a->port)
        return vg_buf_printf(b, "-A %s %s %s/%u -j ACCEPT\n", chain, dir, txt, a->prefix);
    if (a->proto != IPPROTO_UDP)
        rc = vg_buf_printf(b, "-A %s %s %s/%u -p tcp %s %u -j ACCEPT\n", chain, dir, txt,
                           a->prefix, portdir, a->port);
    if (rc == 0 && a->proto != IPPROTO_TCP)
        rc = vg_buf_printf(b, "-A %s %s %s/%u -p udp %s %u -j ACCEPT\n", chain, dir, txt,
                           a->prefix, portdir, a->port);
    return rc;
}

static int rules(struct vg_buf *b, const char *chain, const struct iso_addr *v, size_t n,
                 int family, const char *dir, const char *portdir, int both_ends)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (v[i].family != family)
            continue;
        rc = rule(b, chain, &v[i], dir, portdir);
        if (rc == 0 && both_ends && v[i].port)
            rc = rule(b, chain, &v[i], dir, strcmp(portdir, "--sport") ? "--sport" : "--dport");
    }
    return rc;
}

/* DHCPv4 with the servers of the leases in force at isolation only (no
 * broadcast: a way out to anyone on the link). */
static int dhcp4(struct vg_buf *b, const struct iso_spec *sp, const char *chain, const char *dir,
                 const char *ports)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sp->ndhcp; i++) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET, sp->dhcp[i].addr, a, sizeof(a));
        rc = vg_buf_printf(b, "-A %s %s %s/32 -p udp %s -j ACCEPT\n", chain, dir, a, ports);
    }
    return rc;
}

/* The collector connection: opened only by the network process's sockets
 * (owner match), which mark it (CONNMARK); inbound, replies of a marked
 * connection only, so spoofed or NATed packets from the collector's
 * address and port to other ports are dropped (see cmd_isolate_nft.c). */
static int collector_rules(struct vg_buf *b, const struct iso_spec *sp, int family, int out)
{
    int rc = 0;
    if (!sp->has_uid)
        return out ? rules(b, "VIGIL-ISO-OUT", sp->collectors, sp->ncollectors, family, "-d",
                           "--dport", 0)
                   : rules(b, "VIGIL-ISO-IN", sp->collectors, sp->ncollectors, family, "-s",
                           "--sport", 0);
    for (size_t i = 0; rc == 0 && i < sp->ncollectors; i++) {
        const struct iso_addr *a = &sp->collectors[i];
        char txt[INET6_ADDRSTRLEN];
        if (a->family != family)
            continue;
        inet_ntop(a->family, a->addr, txt, sizeof(txt));
        if (out)
            rc = vg_buf_printf(b, "-A VIGIL-ISO-OUT -d %s/%u -p tcp --dport %u -m owner "
                                  "--uid-owner %u -j CONNMARK --set-mark " ISO_CTMARK "\n"
                                  "-A VIGIL-ISO-OUT -d %s/%u -p tcp --dport %u -m connmark "
                                  "--mark " ISO_CTMARK " -m conntrack --ctdir ORIGINAL -j ACCEPT\n",
                               txt, a->prefix, a->port, (unsigned)sp->uid, txt, a->prefix,
                               a->port);
        else
            rc = vg_buf_printf(b, "-A VIGIL-ISO-IN -s %s/%u -p tcp --sport %u -m connmark "
                                  "--mark " ISO_CTMARK " -m conntrack --ctdir REPLY -j ACCEPT\n",
                               txt, a->prefix, a->port);
    }
    return rc;
}

int iso_ipt_script(const struct iso_spec *sp, int family, const unsigned njumps[3], char **out)
{
    struct vg_buf b;
    int v6 = family == AF_INET6, rc;
    size_t len;

    vg_buf_init(&b, 1024 * 1024);
    rc = vg_buf_printf(&b, "*filter\n:VIGIL-ISO-IN - [0:0]\n:VIGIL-ISO-OUT - [0:0]\n"
                           ":VIGIL-ISO-FWD - [0:0]\n"
                           "-A VIGIL-ISO-IN -i lo -j ACCEPT\n");
    /* ICMP errors about the collector connection (its mark) and
     * connections to the allowed addresses only (path MTU). */
    if (rc == 0 && sp->has_uid)
        rc = vg_buf_printf(&b, "-A VIGIL-ISO-IN -p %s -m conntrack --ctstate RELATED "
                               "-m connmark --mark " ISO_CTMARK " -j ACCEPT\n",
                           v6 ? "ipv6-icmp" : "icmp");
    for (size_t i = sp->has_uid ? sp->ncollectors : 0; rc == 0 && i < sp->ncollectors + sp->nallow;
         i++) {
        const struct iso_addr *a =
            i < sp->ncollectors ? &sp->collectors[i] : &sp->allow[i - sp->ncollectors];
        char txt[INET6_ADDRSTRLEN];
        if (a->family != family)
            continue;
        inet_ntop(a->family, a->addr, txt, sizeof(txt));
        rc = vg_buf_printf(&b, "-A VIGIL-ISO-IN -p %s -m conntrack --ctstate RELATED "
                               "--ctorigdst %s/%u -j ACCEPT\n",
                           v6 ? "ipv6-icmp" : "icmp", txt, a->prefix);
    }
    /* Neighbour discovery from this link only (hop limit 255). */
    if (rc == 0 && v6)
        rc = vg_buf_printf(&b,
                           "-A VIGIL-ISO-IN -p ipv6-icmp --icmpv6-type neighbour-solicitation "
                           "-m hl --hl-eq 255 -j ACCEPT\n"
                           "-A VIGIL-ISO-IN -p ipv6-icmp --icmpv6-type neighbour-advertisement "
                           "-m hl --hl-eq 255 -j ACCEPT\n"
                           "-A VIGIL-ISO-IN -p ipv6-icmp --icmpv6-type router-advertisement "
                           "-m hl --hl-eq 255 -j ACCEPT\n");
    else if (rc == 0)
        rc = dhcp4(&b, sp, "VIGIL-ISO-IN", "-s", "--sport 67 --dport 68");
    if (rc == 0)
        rc = collector_rules(&b, sp, family, 0);
    if (rc == 0)
        rc = rules(&b, "VIGIL-ISO-IN", sp->allow, sp->nallow, family, "-s", "--sport", 1);
    if (rc == 0)
        rc = rules(&b, "VIGIL-ISO-IN", sp->dns, sp->ndns, family, "-s", "--sport", 0);
    if (rc == 0)
        rc = vg_buf_printf(&b, "-A VIGIL-ISO-IN -j DROP\n-A VIGIL-ISO-OUT -o lo -j ACCEPT\n");
    if (rc == 0 && v6)
        rc = vg_buf_printf(&b,
                           "-A VIGIL-ISO-OUT -p ipv6-icmp --icmpv6-type neighbour-solicitation "
                           "-m hl --hl-eq 255 -j ACCEPT\n"
                           "-A VIGIL-ISO-OUT -p ipv6-icmp --icmpv6-type neighbour-advertisement "
                           "-m hl --hl-eq 255 -j ACCEPT\n"
                           "-A VIGIL-ISO-OUT -p ipv6-icmp --icmpv6-type router-solicitation "
                           "-m hl --hl-eq 255 -j ACCEPT\n");
    else if (rc == 0)
        rc = dhcp4(&b, sp, "VIGIL-ISO-OUT", "-d", "--sport 68 --dport 67");
    if (rc == 0)
        rc = collector_rules(&b, sp, family, 1);
    if (rc == 0)
        rc = rules(&b, "VIGIL-ISO-OUT", sp->allow, sp->nallow, family, "-d", "--dport", 1);
    if (rc == 0)
        rc = rules(&b, "VIGIL-ISO-OUT", sp->dns, sp->ndns, family, "-d", "--dport", 0);
    if (rc == 0)
        rc = vg_buf_printf(&b, "-A VIGIL-ISO-OUT -j DROP\n-A VIGIL-ISO-FWD -j DROP\n");
    /* The jumps go (back) on top, in the same transaction. */
    for (int i = 0; rc == 0 && i < 3; i++) {
        for (unsigned k = 0; rc == 0 && njumps && k < njumps[i]; k++)
            rc = vg_buf_printf(&b, "-D %s -j %s\n", chains[i][0], chains[i][1]);
        if (rc == 0)
            rc = vg_buf_printf(&b, "-I %s 1 -j %s\n", chains[i][0], chains[i][1]);
    }
    if (rc == 0)
        rc = vg_buf_printf(&b, "COMMIT\n");
    if (rc) {
        vg_buf_free(&b);
        return rc;
    }
    *out = (char *)vg_buf_take(&b, &len);
    return *out ? 0 : -ENOMEM;
}

/* Runs argv; on failure err says what the helper said. */
static int run(char *const argv[], char **out, char *err, size_t errlen)
{
    char *o = NULL;
    size_t len;
    int status, rc = vg_run_capture_all(argv, OUT_MAX, RUN_TIMEOUT_MS, &o, &len, &status);

    if (rc) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], vg_strerror(rc));
        free(o);
        return rc;
    }
    if (status != 0) {
        size_t n;
        snprintf(err, errlen, "%s failed (exit %d): %s", argv[0], status, o && o[0] ? o : "");
        n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        free(o);
        return -EIO;
    }
    if (out)
        *out = o;
    else
        free(o);
    return 0;
}

/* The filter table as -save prints it; NULL-free on success. */
static int save_table(const struct agent_conf *c, int family, char **out, char *err,
                      size_t errlen)
{
    char cmd[80];
    char *argv[] = { cmd, "-t", "filter", NULL };
    tool(c, family, "-save", cmd, sizeof(cmd));
    return run(argv, out, err, errlen);
}

/* Our lines, and the first rule of each built-in chain (ours must be). */
static int family_fingerprint(const struct agent_conf *c, int family, struct vg_buf *b,
                              int *present, char *err, size_t errlen)
{
    char *text = NULL, *line, *save = NULL;
    int first[3] = { 0, 0, 0 }, rc;

    if ((rc = save_table(c, family, &text, err, errlen)) != 0)
        return rc;
    for (line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        if (strstr(line, "VIGIL-ISO")) {
            if (strncmp(line, ":VIGIL-ISO-IN ", 14) == 0)
                *present = 1;
            rc = vg_buf_printf(b, "%s\n", line);
            continue;
        }
        for (int i = 0; i < 3; i++) {
            char head[32];
            snprintf(head, sizeof(head), "-A %s ", chains[i][0]);
            if (!first[i] && strncmp(line, head, strlen(head)) == 0) {
                first[i] = 1;
                rc = vg_buf_printf(b, "first in %s: %s\n", chains[i][0], line);
            }
        }
    }
    free(text);
    return rc;
}

static int ipt_fingerprint(const struct agent_conf *c, char **out, char *err, size_t errlen)
{
    struct vg_buf b;
    int present = 0, rc;
    size_t len;

    *out = NULL;
    vg_buf_init(&b, OUT_MAX);
    rc = family_fingerprint(c, AF_INET, &b, &present, err, errlen);
    if (rc == 0)
        rc = vg_buf_printf(&b, "--- ipv6\n");
    if (rc == 0)
        rc = family_fingerprint(c, AF_INET6, &b, &present, err, errlen);
    if (rc == 0 && present)
        *out = (char *)vg_buf_take(&b, &len);
    vg_buf_free(&b);
    return rc;
}

static int ipt_available(const struct agent_conf *c)
{
    char err[256], *out = NULL;
    int ok = save_table(c, AF_INET, &out, err, sizeof(err)) == 0;
    free(out);
    return ok;
}

/* Deletes every jump to our chains, then the chains. */
static int remove_family(const struct agent_conf *c, int family, char *err, size_t errlen)
{
    char cmd[80], *text = NULL;
    int rc;

    tool(c, family, "", cmd, sizeof(cmd));
    if ((rc = save_table(c, family, &text, err, errlen)) != 0)
        return rc;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char jump[64];
        snprintf(jump, sizeof(jump), "-A %s -j %s\n", chains[i][0], chains[i][1]);
        for (const char *p = text; rc == 0 && (p = strstr(p, jump)) != NULL; p += strlen(jump)) {
            char *argv[] = { cmd, "-w", "-t", "filter", "-D", (char *)chains[i][0], "-j",
                             (char *)chains[i][1], NULL };
            rc = run(argv, NULL, err, errlen);
        }
    }
    for (int i = 0; i < 3 && rc == 0; i++) {
        char decl[64];
        snprintf(decl, sizeof(decl), ":%s ", chains[i][1]);
        if (!strstr(text, decl))
            continue;
        {
            char *flush[] = { cmd, "-w", "-t", "filter", "-F", (char *)chains[i][1], NULL };
            char *del[] = { cmd, "-w", "-t", "filter", "-X", (char *)chains[i][1], NULL };
            rc = run(flush, NULL, err, errlen);
            if (rc == 0)
                rc = run(del, NULL, err, errlen);
        }
    }
    free(text);
    return rc;
}

static int ipt_remove(const struct agent_conf *c, char *err, size_t errlen)
{
    int rc = remove_family(c, AF_INET, err, errlen);
    if (rc == 0)
        rc = remove_family(c, AF_INET6, err, errlen);
    return rc;
}

static int apply_family(const struct agent_conf *c, const struct iso_spec *sp, int family,
                        char *err, size_t errlen)
{
    char cmd[80], path[4096], *script = NULL, *text = NULL;
    char *argv[] = { cmd, "-w", "--noflush", path, NULL };
    unsigned njumps[3] = { 0, 0, 0 };
    int rc;

    /* Jumps already there are deleted and one inserted on top, in one
     * transaction with the chains' new contents. */
    if ((rc = save_table(c, family, &text, err, errlen)) != 0)
        return rc;
    for (int i = 0; i < 3; i++) {
        char jump[64];
        snprintf(jump, sizeof(jump), "-A %s -j %s\n", chains[i][0], chains[i][1]);
        for (const char *p = text; (p = strstr(p, jump)) != NULL; p += strlen(jump))
            njumps[i]++;
    }
    free(text);
    if ((rc = iso_ipt_script(sp, family, njumps, &script)) != 0) {
        snprintf(err, errlen, "cannot build the rules: %s", vg_strerror(rc));
        return rc;
    }
    snprintf(path, sizeof(path), "%s/isolation.ipt%d", c->state_dir, family == AF_INET ? 4 : 6);
    if ((rc = vg_file_write_atomic(path, script, strlen(script), 0600, 0)) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, vg_strerror(rc));
        free(script);
        return rc;
    }
    free(script);
    tool(c, family, "-restore", cmd, sizeof(cmd));
    rc = run(argv, NULL, err, errlen);
    unlink(path);
    return rc;
}

static int ipt_apply(const struct agent_conf *c, const struct iso_spec *sp, char *err,
                     size_t errlen)
{
    int rc = apply_family(c, sp, AF_INET, err, errlen);
    if (rc == 0)
        rc = apply_family(c, sp, AF_INET6, err, errlen);
    return rc;
}

const struct iso_backend iso_ipt_backend = {
    .name = "iptables",
    .available = ipt_available,
    .apply = ipt_apply,
    .remove = ipt_remove,
    .fingerprint = ipt_fingerprint,
};
