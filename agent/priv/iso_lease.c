/*
 * DHCP leases for isolation: which DHCP servers an isolated host may
 * still talk to.
 *
 * While isolated, DHCP goes only to and from the servers of the leases
 * in force when the isolate ran (learned then, kept in the state file).
 * A lease counts only if its file belongs to root (or systemd-networkd,
 * which writes its own) and no one else may write it, it has not expired, and the address it leases is one this
 * host holds now; of a dhclient file's lease blocks for one interface,
 * only the last (the newest) counts.  So a lease file planted by an
 * unprivileged user, a stale lease or one naming an address the host
 * does not have opens nothing.  Formats: systemd-networkd and
 * NetworkManager's internal client (ADDRESS=, SERVER_ADDRESS=, one lease
 * per file) and dhclient (lease { ... } blocks).
 */
#include <arpa/inet.h>
#include <glob.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "isolation.h"
#include "log.h"
#include "util.h"

struct lease {
    char iface[64];
    struct iso_addr addr, server;
    int have_addr, have_server, expired;
};

/* "4 2026/12/03 10:00:00;" (UTC) or "never;" */
static int lease_expired(const char *v, time_t now)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strncmp(v, "never", 5) == 0 || !strptime(v, "%w %Y/%m/%d %H:%M:%S", &tm))
        return 0; /* unreadable: the address check still applies */
    return timegm(&tm) < now;
}

static int host_has_addr(const struct ifaddrs *ifs, const struct iso_addr *a)
{
    for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        if (memcmp(&((const struct sockaddr_in *)i->ifa_addr)->sin_addr, a->addr, 4) == 0)
            return 1;
    }
    return 0;
}

static void lease_take(struct iso_spec *sp, const struct lease *l, const struct ifaddrs *ifs,
                       const char *path)
{
    char srv[INET6_ADDRSTRLEN];
    int dup = 0;
    if (!l->have_server)
        return;
    inet_ntop(AF_INET, l->server.addr, srv, sizeof(srv));
    if (!l->have_addr || l->expired || !host_has_addr(ifs, &l->addr)) {
        log_info("[iso] DHCP lease in %s (server %s) not used: %s", path, srv,
                 !l->have_addr ? "it names no address"
                 : l->expired  ? "it has expired"
                               : "this host does not hold its address");
        return;
    }
    for (size_t k = 0; k < sp->ndhcp; k++)
        dup |= vg_netaddr_equal(&sp->dhcp[k], &l->server);
    if (!dup && sp->ndhcp < ISO_MAX_DHCP)
        sp->dhcp[sp->ndhcp++] = l->server;
}

static int lease_addr(const char *v, struct iso_addr *x)
{
    char ip[64];
    vg_strlcpy(ip, v, sizeof(ip));
    ip[strcspn(ip, "; \t/")] = '\0';
    return vg_netaddr_parse(ip, x, NULL, 0) == 0 && x->family == AF_INET ? 0 : -1;
}

/* systemd-networkd writes its leases as its own user (read from
 * /etc/passwd, as the agent finds its own user: no NSS modules loaded
 * into the root process). */
static uid_t networkd_uid(void)
{
    FILE *f = fopen("/etc/passwd", "re");
    struct passwd ent, *pw;
    char buf[1024];
    uid_t uid = 0;
    if (!f)
        return 0;
    memset(&ent, 0, sizeof(ent));
    /* fgetpwent_r: this runs on a worker thread. */
    while (fgetpwent_r(f, &ent, buf, sizeof(buf), &pw) == 0)
        if (strcmp(pw->pw_name, "systemd-network") == 0) {
            uid = pw->pw_uid;
            break;
        }
    fclose(f);
    return uid;
}

static void lease_file(struct iso_spec *sp, const char *path, const struct ifaddrs *ifs)
{
    /* One slot per interface for dhclient's blocks: the last one wins. */
    struct lease blocks[8], cur;
    size_t nblocks = 0;
    char *data = NULL, *line, *save = NULL;
    size_t len;
    struct stat st;
    int in_block = 0, kv = 0;
    time_t now = time(NULL);

    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    if ((st.st_uid != 0 && st.st_uid != networkd_uid()) || (st.st_mode & 022)) {
        log_warnx("[iso] DHCP lease file %s ignored: it is not root's (or systemd-networkd's) "
                  "alone (owner %u, mode %03o)", path, (unsigned)st.st_uid,
                  (unsigned)(st.st_mode & 0777));
        return;
    }
    if (vg_file_read(path, 256 * 1024, &data, &len) != 0)
        return;
    memset(&cur, 0, sizeof(cur));
    for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, "lease {", 7) == 0) {
            memset(&cur, 0, sizeof(cur));
            in_block = 1;
        } else if (in_block && line[0] == '}') {
            size_t k;
            in_block = 0;
            for (k = 0; k < nblocks && strcmp(blocks[k].iface, cur.iface) != 0; k++)
                ;
            if (k < VG_ARRAY_SIZE(blocks)) {
                blocks[k] = cur;
                if (k == nblocks)
                    nblocks++;
            }
        } else if (in_block && strncmp(line, "interface \"", 11) == 0) {
            vg_strlcpy(cur.iface, line + 11, sizeof(cur.iface));
            cur.iface[strcspn(cur.iface, "\"")] = '\0';
        } else if (in_block && strncmp(line, "fixed-address ", 14) == 0) {
            cur.have_addr = lease_addr(line + 14, &cur.addr) == 0;
        } else if (in_block && strncmp(line, "option dhcp-server-identifier ", 30) == 0) {
            cur.have_server = lease_addr(line + 30, &cur.server) == 0;
        } else if (in_block && strncmp(line, "expire ", 7) == 0) {
            cur.expired = lease_expired(line + 7, now);
        } else if (!in_block && strncmp(line, "ADDRESS=", 8) == 0) {
            cur.have_addr = lease_addr(line + 8, &cur.addr) == 0;
            kv = 1;
        } else if (!in_block && strncmp(line, "SERVER_ADDRESS=", 15) == 0) {
            cur.have_server = lease_addr(line + 15, &cur.server) == 0;
            kv = 1;
        }
    }
    free(data);
    if (kv)
        lease_take(sp, &cur, ifs, path);
    for (size_t k = 0; k < nblocks; k++)
        lease_take(sp, &blocks[k], ifs, path);
}

const char *const iso_lease_globs[] = {
    "/run/systemd/netif/leases/*", "/var/lib/dhcp/dhclient*.leases",
    "/var/lib/dhclient/*.lease*", "/var/lib/NetworkManager/*.lease", NULL,
};

void iso_dhcp_servers(const char *const *pats, struct iso_spec *sp)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (size_t p = 0; pats[p]; p++) {
        glob_t g;
        if (glob(pats[p], 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc && i < 32; i++)
            lease_file(sp, g.gl_pathv[i], ifs);
        globfree(&g);
    }
    freeifaddrs(ifs);
}

