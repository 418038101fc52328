/*
 * The nftables back end of isolation: one table of the agent's own,
 * `inet vigil_isolation`, with input, output and forward chains whose
 * policy is drop.  A drop in any base chain is final in netfilter, so
 * the host's other tables (or iptables rules) cannot let traffic past;
 * and since the table is the agent's alone, release deletes it and
 * nothing else.
 *
 * The script is applied by libnftables as one batch, which the kernel
 * commits as one transaction: "add table; delete table; table {...}"
 * replaces an older version atomically, with no moment unfiltered.  A
 * second table, `bridge vigil_isolation`, drops frames forwarded between
 * bridge ports (VMs bridged onto the host's network).
 *
 * libnftables is opened at first use (lib/dlib.h), not linked: isolation
 * is rare, and the library and its dependencies would otherwise sit in
 * every agent's memory.  The start-up probe (available) opens it, asks
 * the kernel, and closes it again; the first apply, remove or
 * fingerprint keeps it open for the rest of the agent's life (an
 * isolated host is checked every [isolation] check_interval).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dlib.h"
#include "isolation.h"
#include "log.h"
#include "util.h"

#define TABLE "vigil_isolation"
#define KEEP_TABLE ISO_KEEP_TABLE

/* The ABI built against (the soname has been .so.1 since 0.9). */
#ifndef VG_NFT_SONAME
#define VG_NFT_SONAME "libnftables.so.1"
#endif

static VG_DLSYM(nft_ctx_new);
static VG_DLSYM(nft_ctx_free);
static VG_DLSYM(nft_ctx_buffer_output);
static VG_DLSYM(nft_ctx_buffer_error);
static VG_DLSYM(nft_ctx_get_output_buffer);
static VG_DLSYM(nft_ctx_get_error_buffer);
static VG_DLSYM(nft_run_cmd_from_buffer);
static const struct vg_dlsym nft_syms[] = {
    VG_DLSYM_ENTRY(nft_ctx_new),
    VG_DLSYM_ENTRY(nft_ctx_free),
    VG_DLSYM_ENTRY(nft_ctx_buffer_output),
    VG_DLSYM_ENTRY(nft_ctx_buffer_error),
    VG_DLSYM_ENTRY(nft_ctx_get_output_buffer),
    VG_DLSYM_ENTRY(nft_ctx_get_error_buffer),
    VG_DLSYM_ENTRY(nft_run_cmd_from_buffer),
};
static struct vg_dlib nft_lib =
    VG_DLIB_INIT(VG_NFT_SONAME, "isolation needs libnftables1 (rpm: nftables)", nft_syms);
/* Set once apply, remove or fingerprint opened the library: it stays. */
static int nft_kept;

/* Opens libnftables for good.  Returns 0, or -ENOENT with err. */
static int keep_lib(char *err, size_t errlen)
{
    int rc;
    if (nft_kept)
        return 0;
    if ((rc = vg_dlib_open(&nft_lib, err, errlen)) == 0)
        nft_kept = 1;
    return rc;
}

static int addr_expr(struct vg_buf *b, const struct iso_addr *a, const char *dir)
{
    char txt[INET6_ADDRSTRLEN];
    inet_ntop(a->family, a->addr, txt, sizeof(txt));
    if ((a->family == AF_INET && a->prefix == 32) || (a->family == AF_INET6 && a->prefix == 128))
        return vg_buf_printf(b, "%s %s %s", a->family == AF_INET ? "ip" : "ip6", dir, txt);
    return vg_buf_printf(b, "%s %s %s/%u", a->family == AF_INET ? "ip" : "ip6", dir, txt,
                         a->prefix);
}

/* One rule: address match on side `dir`, then an optional port match. */
static int rule(struct vg_buf *b, const struct iso_addr *a, const char *dir, const char *portdir)
{
    int rc = vg_buf_printf(b, "    ");
    if (rc == 0)
        rc = addr_expr(b, a, dir);
    if (rc == 0 && a->port) {
        if (a->proto)
            rc = vg_buf_printf(b, " %s %s %u", a->proto == IPPROTO_TCP ? "tcp" : "udp", portdir,
                               a->port);
        else
            rc = vg_buf_printf(b, " meta l4proto { tcp, udp } th %s %u", portdir, a->port);
    }
    if (rc == 0)
        rc = vg_buf_printf(b, " accept\n");
    return rc;
}

static int render(const struct iso_spec *sp, const char *table, int owner, int bridge,
                  char **out);

int iso_nft_script(const struct iso_spec *sp, char **out)
{
    return render(sp, TABLE, 0, 1, out);
}

int iso_nft_keep_script(const struct iso_spec *sp, char **out)
{
    return render(sp, KEEP_TABLE, 1, 1, out);
}

/* The collector connection: with the network process's uid known, only
 * its own sockets may open it (meta skuid), and each packet they send
 * marks the connection (ct mark); inbound, only replies of a marked
 * connection pass.  A packet from the collector's address and port to
 * any other port of the host, spoofed or source-NATed, belongs to no
 * marked connection and is dropped.  Kernel-made packets of the marked
 * connection (RST, TIME_WAIT ACKs) have no socket: allowed by the mark.
 * A spec without a uid (state written by an older agent) falls back to
 * address and port. */
static int collector_rules(struct vg_buf *b, const struct iso_spec *sp, int out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sp->ncollectors; i++) {
        const struct iso_addr *a = &sp->collectors[i];
        if (!sp->has_uid) {
            rc = rule(b, a, out ? "daddr" : "saddr", out ? "dport" : "sport");
            continue;
        }
        if ((rc = vg_buf_printf(b, "    ")) == 0)
            rc = addr_expr(b, a, out ? "daddr" : "saddr");
        if (rc == 0 && out)
            rc = vg_buf_printf(b, " tcp dport %u meta skuid %u ct mark set " ISO_CTMARK
                                  " accept\n    ", a->port, (unsigned)sp->uid);
        if (rc == 0 && out)
            rc = addr_expr(b, a, "daddr");
        if (rc == 0)
            rc = vg_buf_printf(b, " tcp %s %u ct direction %s ct mark " ISO_CTMARK " accept\n",
                               out ? "dport" : "sport", a->port, out ? "original" : "reply");
    }
    return rc;
}

static int render(const struct iso_spec *sp, const char *table, int owner, int bridge,
                  char **out)
{
    struct vg_buf b;
    const char *flags = owner ? "  flags owner;\n" : "";
    /* The kernel refuses a change of the owner flag, so even the "add"
     * that makes the delete safe says it. */
    const char *addflags = owner ? " { flags owner; }" : "";
    int rc;

    vg_buf_init(&b, 1024 * 1024);
    rc = vg_buf_printf(&b,
                       "add table inet %s%s\n"
                       "delete table inet %s\n"
                       "table inet %s {\n"
                       "%s"
                       "  chain input {\n"
                       "    type filter hook input priority -10; policy drop;\n"
                       "    iif \"lo\" accept\n"
                       /* IPv6 needs neighbour discovery to reach anything,
                        * the collector included; router adverts keep SLAAC
                        * addresses.  Hop limit 255: sent on this link,
                        * never routed here. */
                       "    ip6 hoplimit 255 icmpv6 type { nd-neighbor-solicit, "
                       "nd-neighbor-advert, nd-router-advert } accept\n",
                       table, addflags, table, table, flags);
    /* ICMP errors (path MTU) about the collector connection (by its mark)
     * and connections to the allowed addresses, not about others: a C2
     * server cannot reach in through its old connection's conntrack
     * entry. */
    if (rc == 0 && sp->has_uid)
        rc = vg_buf_printf(&b, "    meta l4proto { icmp, ipv6-icmp } ct state related ct mark "
                               ISO_CTMARK " accept\n");
    for (size_t i = sp->has_uid ? sp->ncollectors : 0; rc == 0 && i < sp->ncollectors + sp->nallow;
         i++) {
        const struct iso_addr *a =
            i < sp->ncollectors ? &sp->collectors[i] : &sp->allow[i - sp->ncollectors];
        struct iso_addr host = *a;
        host.port = 0;
        rc = vg_buf_printf(&b, "    meta l4proto %s ct state related ct original ",
                           a->family == AF_INET ? "icmp" : "ipv6-icmp");
        if (rc == 0)
            rc = addr_expr(&b, &host, "daddr");
        if (rc == 0)
            rc = vg_buf_printf(&b, " accept\n");
    }
    /* DHCP: only with the servers of the leases in force when the host
     * was isolated; none known, none at all. */
    for (size_t i = 0; rc == 0 && i < sp->ndhcp; i++) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET, sp->dhcp[i].addr, a, sizeof(a));
        rc = vg_buf_printf(&b, "    ip saddr %s udp sport 67 udp dport 68 accept\n", a);
    }
    if (rc == 0)
        rc = collector_rules(&b, sp, 0);
    for (size_t i = 0; rc == 0 && i < sp->nallow; i++) {
        rc = rule(&b, &sp->allow[i], "saddr", "sport");
        if (rc == 0 && sp->allow[i].port) /* the port on either end */
            rc = rule(&b, &sp->allow[i], "saddr", "dport");
    }
    for (size_t i = 0; rc == 0 && i < sp->ndns; i++)
        rc = rule(&b, &sp->dns[i], "saddr", "sport");
    if (rc == 0)
        rc = vg_buf_printf(&b,
                           "  }\n"
                           "  chain output {\n"
                           "    type filter hook output priority -10; policy drop;\n"
                           "    oif \"lo\" accept\n"
                           "    ip6 hoplimit 255 icmpv6 type { nd-neighbor-solicit, "
                           "nd-neighbor-advert, nd-router-solicit } accept\n");
    /* DHCP requests to the lease's servers (renewals); no broadcast: a
     * broadcast is a way out to anyone on the link. */
    for (size_t i = 0; rc == 0 && i < sp->ndhcp; i++) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET, sp->dhcp[i].addr, a, sizeof(a));
        rc = vg_buf_printf(&b, "    ip daddr %s udp sport 68 udp dport 67 accept\n", a);
    }
    if (rc == 0)
        rc = collector_rules(&b, sp, 1);
    for (size_t i = 0; rc == 0 && i < sp->nallow; i++) {
        rc = rule(&b, &sp->allow[i], "daddr", "dport");
        if (rc == 0 && sp->allow[i].port)
            rc = rule(&b, &sp->allow[i], "daddr", "sport");
    }
    for (size_t i = 0; rc == 0 && i < sp->ndns; i++)
        rc = rule(&b, &sp->dns[i], "daddr", "dport");
    if (rc == 0)
        rc = vg_buf_printf(&b,
                           "  }\n"
                           /* Containers and VMs behind the host are cut off too. */
                           "  chain forward {\n"
                           "    type filter hook forward priority -10; policy drop;\n"
                           "  }\n"
                           "}\n");
    /* ... and so are VMs bridged onto the host's network (frames between
     * bridge ports never reach the inet hooks). */
    if (rc == 0 && bridge)
        rc = vg_buf_printf(&b,
                           "add table bridge %s%s\n"
                           "delete table bridge %s\n"
                           "table bridge %s {\n"
                           "%s"
                           "  chain forward {\n"
                           "    type filter hook forward priority -10; policy drop;\n"
                           "  }\n"
                           "}\n",
                           table, addflags, table, table, flags);
    if (rc) {
        vg_buf_free(&b);
        return rc;
    }
    {
        size_t len;
        *out = (char *)vg_buf_take(&b, &len);
    }
    return *out ? 0 : -ENOMEM;
}

/* nft's error message, on one line, into err. */
static void nft_error(struct nft_ctx *ctx, char *err, size_t errlen)
{
    const char *e = sym_nft_ctx_get_error_buffer(ctx);
    size_t n;
    snprintf(err, errlen, "%s", e && e[0] ? e : "nft failed");
    n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* Runs an nft script (libnftables open); *out gets its output when
 * asked.  Returns 0, or -EIO with nft's error message in err. */
static int run(const char *script, char **out, char *err, size_t errlen)
{
    struct nft_ctx *ctx = sym_nft_ctx_new(NFT_CTX_DEFAULT);
    int rc;

    if (!ctx) {
        snprintf(err, errlen, "libnftables: cannot create a context");
        return -ENOMEM;
    }
    sym_nft_ctx_buffer_output(ctx);
    sym_nft_ctx_buffer_error(ctx);
    rc = sym_nft_run_cmd_from_buffer(ctx, script);
    if (rc) {
        nft_error(ctx, err, errlen);
        rc = -EIO;
    } else if (out) {
        const char *o = sym_nft_ctx_get_output_buffer(ctx);
        *out = strdup(o ? o : "");
        if (!*out)
            rc = -ENOMEM;
    }
    sym_nft_ctx_free(ctx);
    return rc;
}

/* At agent start (backend auto): the library is opened for the question
 * and closed again unless it is kept already. */
static int nft_available(const struct agent_conf *c)
{
    static int said;
    char err[256], *out = NULL;
    int ok;

    (void)c;
    if (!nft_kept && vg_dlib_open(&nft_lib, err, sizeof(err)) != 0) {
        if (!said++)
            log_info("[iso] %s", err);
        return 0;
    }
    ok = run("list tables", &out, err, sizeof(err)) == 0;
    free(out);
    if (!nft_kept)
        vg_dlib_close(&nft_lib);
    return ok;
}

/* 0 once the kernel refused the bridge table (no nf_tables bridge
 * support): isolation goes on without it, said once. */
static int bridge_ok = 1;

static int nft_apply(const struct agent_conf *c, const struct iso_spec *spec, char *err,
                     size_t errlen)
{
    char *text = NULL, e2[256];
    int rc, r2;

    (void)c;
    if ((rc = keep_lib(err, errlen)) != 0)
        return rc;
    if ((rc = render(spec, TABLE, 0, bridge_ok, &text)) != 0) {
        snprintf(err, errlen, "cannot build the ruleset: %s", strerror(-rc));
        return rc;
    }
    rc = run(text, NULL, err, errlen);
    free(text);
    if (rc == 0 || !bridge_ok)
        return rc;
    /* Would it go in without the bridge table? */
    if (render(spec, TABLE, 0, 0, &text) != 0)
        return rc;
    r2 = run(text, NULL, e2, sizeof(e2));
    free(text);
    if (r2 != 0)
        return rc; /* not the bridge table's fault */
    bridge_ok = 0;
    log_warnx("[iso] this kernel takes no nftables bridge table (%s): VMs bridged onto the "
              "host's network are not cut off", err);
    return 0;
}

static int nft_remove(const struct agent_conf *c, char *err, size_t errlen)
{
    /* "add" first makes the delete succeed when the table is absent, in
     * the same transaction. */
    char e2[256];
    int rc;

    (void)c;
    if ((rc = keep_lib(err, errlen)) != 0)
        return rc;
    rc = run("add table inet " TABLE "\ndelete table inet " TABLE "\n", NULL, err, errlen);
    /* Separately: a kernel without bridge support fails this part. */
    if (run("add table bridge " TABLE "\ndelete table bridge " TABLE "\n", NULL, e2,
            sizeof(e2)) != 0 && bridge_ok)
        log_debug("[iso] no bridge table removed: %s", e2);
    return rc;
}

static int nft_fingerprint(const struct agent_conf *c, char **out, char *err, size_t errlen)
{
    char *tables = NULL, *inet = NULL, *bridge = NULL;
    int rc;

    (void)c;
    *out = NULL;
    if ((rc = keep_lib(err, errlen)) != 0)
        return rc;
    if ((rc = run("list tables", &tables, err, errlen)) != 0)
        return rc;
    if (!strstr(tables, "table inet " TABLE "\n")) {
        free(tables);
        return 0; /* absent */
    }
    rc = run("list table inet " TABLE, &inet, err, errlen);
    if (rc == 0 && strstr(tables, "table bridge " TABLE "\n"))
        rc = run("list table bridge " TABLE, &bridge, err, errlen);
    if (rc == 0) {
        /* The bridge table missing is a change too. */
        size_t n = strlen(inet) + (bridge ? strlen(bridge) : 0) + 32;
        if ((*out = malloc(n)) != NULL)
            snprintf(*out, n, "%s--\n%s", inet, bridge ? bridge : "(no bridge table)\n");
        else
            rc = -ENOMEM;
    }
    free(tables);
    free(inet);
    free(bridge);
    return rc;
}

/* ---- the keeper's table ----
 *
 * `inet vigil_isolation_keep` (and its bridge twin) is the same ruleset
 * in a table with the owner flag (Linux 5.12): only the netlink socket
 * that made it may change or delete it, `nft flush ruleset` passes it
 * by, and it goes when that socket closes.  The keeper process holds
 * the socket (one libnftables context, never freed) for as long as the
 * host is isolated. */
static struct nft_ctx *keep_ctx;

int iso_nft_keep(const struct iso_spec *spec, char *err, size_t errlen)
{
    char *text = NULL;
    int rc;

    if ((rc = keep_lib(err, errlen)) != 0)
        return rc;
    if (!keep_ctx && !(keep_ctx = sym_nft_ctx_new(NFT_CTX_DEFAULT))) {
        snprintf(err, errlen, "libnftables: cannot create a context");
        return -ENOMEM;
    }
    sym_nft_ctx_buffer_output(keep_ctx);
    sym_nft_ctx_buffer_error(keep_ctx);
    if (!spec) {
        static const char drop_inet[] = "add table inet " KEEP_TABLE " { flags owner; }\n"
                                         "delete table inet " KEEP_TABLE "\n";
        static const char drop_bridge[] = "add table bridge " KEEP_TABLE " { flags owner; }\n"
                                           "delete table bridge " KEEP_TABLE "\n";
        size_t n = sizeof(drop_inet) + sizeof(drop_bridge);
        if ((text = malloc(n)) != NULL)
            snprintf(text, n, "%s%s", drop_inet, bridge_ok ? drop_bridge : "");
    } else if ((rc = render(spec, KEEP_TABLE, 1, bridge_ok, &text)) != 0) {
        snprintf(err, errlen, "cannot build the ruleset: %s", strerror(-rc));
        return rc;
    }
    if (!text)
        return -ENOMEM;
    rc = sym_nft_run_cmd_from_buffer(keep_ctx, text);
    if (rc && bridge_ok && spec) {
        /* A kernel without nf_tables bridge support: the inet table alone. */
        free(text);
        text = NULL;
        if (render(spec, KEEP_TABLE, 1, 0, &text) == 0 &&
            sym_nft_run_cmd_from_buffer(keep_ctx, text) == 0) {
            bridge_ok = 0;
            rc = 0;
        }
    }
    free(text);
    if (rc) {
        nft_error(keep_ctx, err, errlen);
        return -EIO;
    }
    return 0;
}

/* 1 if the keeper's table is in the ruleset. */
int iso_nft_keep_present(void)
{
    char *tables = NULL, err[256];
    int present;
    if (keep_lib(err, sizeof(err)) != 0 || run("list tables", &tables, err, sizeof(err)) != 0)
        return 0;
    present = strstr(tables, "table inet " KEEP_TABLE "\n") != NULL;
    free(tables);
    return present;
}

const struct iso_backend iso_nft_backend = {
    .name = "nft",
    .available = nft_available,
    .apply = nft_apply,
    .remove = nft_remove,
    .fingerprint = nft_fingerprint,
};
