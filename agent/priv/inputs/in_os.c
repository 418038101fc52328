/*
 * in_os: the host's OS identity and version state, and the agent's own
 * health.
 *
 * OS state is read at start, re-read every os_check and sent when it
 * changed or at least every os_interval.  Sources: uname(2),
 * os-release(5), /etc/machine-id, /proc/sys/kernel/random/boot_id,
 * /proc/stat (btime), /run/reboot-required{,.pkgs} (Debian/Ubuntu).
 * Health (RSS, CPU time, queue sizes) is sent every health_interval.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../agent.h"
#include "../os_release.h"
#include "../pkg.h"
#include "vercmp.h"
#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "pb.h"
#include "util.h"

#define FIELD_MAX 256

struct os_priv {
    uv_timer_t check, health;
    int closing;
    void (*done)(struct input *in);
    uint8_t last_hash[VG_SHA256_LEN];
    uint64_t last_sent_ms;
    uint64_t start_ms;
};

/* Host paths are under [inventory] root (for an agent in a container
 * with the host at /host, or a test's fixture root). */
static const char *host_root = "";

static void path(char *out, size_t outlen, const char *p)
{
    snprintf(out, outlen, "%s%s", host_root, p);
}

static void read_line_at(const char *full, char *out, size_t outlen)
{
    char *buf = NULL;
    size_t len;

    out[0] = '\0';
    if (vg_file_read(full, 4096, &buf, &len) == 0) {
        buf[strcspn(buf, "\n")] = '\0';
        vg_strlcpy(out, buf, outlen);
        free(buf);
    }
}

/* A one-line host file, under the host root. */
static void read_line(const char *p, char *out, size_t outlen)
{
    char full[512];
    path(full, sizeof(full), p);
    read_line_at(full, out, outlen);
}

static int64_t boot_time_ms(void)
{
    char full[512], *buf = NULL, *p;
    size_t len;
    uint64_t v = 0;

    path(full, sizeof(full), "/proc/stat");
    if (vg_file_read(full, 1 << 20, &buf, &len))
        return 0;
    p = strstr(buf, "\nbtime ");
    if (p) {
        char num[32];
        p += 7;
        size_t n = strcspn(p, "\n");
        if (n < sizeof(num)) {
            memcpy(num, p, n);
            num[n] = '\0';
            if (vg_parse_u64(num, 0, INT64_MAX / 1000, &v))
                v = 0;
        }
    }
    free(buf);
    return (int64_t)v * 1000;
}

/* Everything the OsState message points to lives here. */
struct os_strings {
    char hostname[FIELD_MAX], fqdn[FIELD_MAX], id[FIELD_MAX], version_id[FIELD_MAX],
        pretty[FIELD_MAX], codename[FIELD_MAX], id_like[FIELD_MAX], release[FIELD_MAX],
        version[FIELD_MAX], arch[FIELD_MAX], machine_id[FIELD_MAX], boot_id[FIELD_MAX];
    char *pkgs[64];
    char newest_kernel[FIELD_MAX];
    char *pkgbuf;
};

/* The newest installed kernel image, as its release string.  dpkg:
 * linux-image-RELEASE packages (not the linux-image-amd64 meta package);
 * rpm: kernel-core (or kernel), release VERSION-RELEASE.ARCH. */
static void newest_kernel(char *out, size_t outlen)
{
    struct pkg_list l = { NULL, 0, 0 };
    struct pkg_report rep;
    const struct pkg *best = NULL;
    const char *root = host_root[0] ? host_root : "/";

    out[0] = '\0';
    if (pkg_dpkg_read_prefix(root, "linux-image-", &l, &rep) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            const struct pkg *p = &l.v[i];
            const char *rel = p->name + 12;
            if (strncmp(p->name, "linux-image-", 12) != 0 || rel[0] < '0' || rel[0] > '9' ||
                strcmp(p->status, "installed") != 0)
                continue;
            if (!best || vg_dpkg_vercmp(p->version, best->version) > 0)
                best = p;
        }
        if (best)
            vg_strlcpy(out, best->name + 12, outlen);
        pkg_list_free(&l);
        return;
    }
    if (pkg_rpm_read(root, &l, &rep) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            const struct pkg *p = &l.v[i];
            if (strcmp(p->name, "kernel-core") != 0 && strcmp(p->name, "kernel") != 0)
                continue;
            if (!best || vg_rpm_vercmp(p->version, best->version) > 0)
                best = p;
        }
        if (best) {
            /* rpm's version here is [EPOCH:]VERSION-RELEASE; uname adds .ARCH */
            const char *v = strchr(best->version, ':') ? strchr(best->version, ':') + 1
                                                       : best->version;
            snprintf(out, outlen, "%s.%s", v, best->arch);
        }
    }
    pkg_list_free(&l);
}

static int64_t mtime_ms(const char *p)
{
    char full[512];
    struct stat st;
    path(full, sizeof(full), p);
    if (stat(full, &st) < 0)
        return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

static void collect(Vigil__V1__OsState *os, struct os_strings *s)
{
    struct utsname u;
    char full[512], *osr = NULL;
    size_t len;

    memset(s, 0, sizeof(*s));
    agent_hostname(host_root, s->hostname, sizeof(s->hostname));
    if (strchr(s->hostname, '.'))
        vg_strlcpy(s->fqdn, s->hostname, sizeof(s->fqdn));
    path(full, sizeof(full), "/etc/os-release");
    if (vg_file_read(full, 64 * 1024, &osr, &len)) {
        path(full, sizeof(full), "/usr/lib/os-release");
        if (vg_file_read(full, 64 * 1024, &osr, &len))
            osr = NULL;
    }
    if (osr) {
        os_release_get(osr, "ID", s->id, sizeof(s->id));
        os_release_get(osr, "VERSION_ID", s->version_id, sizeof(s->version_id));
        os_release_get(osr, "PRETTY_NAME", s->pretty, sizeof(s->pretty));
        os_release_get(osr, "VERSION_CODENAME", s->codename, sizeof(s->codename));
        os_release_get(osr, "ID_LIKE", s->id_like, sizeof(s->id_like));
        free(osr);
    }
    if (uname(&u) == 0) {
        vg_strlcpy(s->release, u.release, sizeof(s->release));
        vg_strlcpy(s->version, u.version, sizeof(s->version));
        vg_strlcpy(s->arch, u.machine, sizeof(s->arch));
    }
    read_line("/etc/machine-id", s->machine_id, sizeof(s->machine_id));
    read_line("/proc/sys/kernel/random/boot_id", s->boot_id, sizeof(s->boot_id));

    os->hostname = s->hostname;
    os->fqdn = s->fqdn;
    os->os_id = s->id;
    os->os_version_id = s->version_id;
    os->os_pretty_name = s->pretty;
    os->os_version_codename = s->codename;
    os->os_id_like = s->id_like;
    os->kernel_release = s->release;
    os->kernel_version = s->version;
    os->arch = s->arch;
    os->machine_id = s->machine_id;
    os->boot_id = s->boot_id;
    os->boot_time_ms = boot_time_ms();
    path(full, sizeof(full), "/run/reboot-required");
    os->reboot_required = access(full, F_OK) == 0;
    os->packages_changed_time_ms = mtime_ms("/var/lib/dpkg/status");
    if (!os->packages_changed_time_ms)
        os->packages_changed_time_ms = mtime_ms("/var/lib/rpm");
    /* Reading the whole package database every check_interval is waste:
     * look again only when it changed (where its change time is unknown,
     * once per start). */
    {
        static int64_t key = -1;
        static char newest[FIELD_MAX];
        if (key < 0 || key != os->packages_changed_time_ms || !os->packages_changed_time_ms) {
            if (key < 0 || os->packages_changed_time_ms)
                newest_kernel(newest, sizeof(newest));
            key = os->packages_changed_time_ms;
        }
        vg_strlcpy(s->newest_kernel, newest, sizeof(s->newest_kernel));
    }
    os->newest_kernel = s->newest_kernel;
    os->kernel_update_pending = s->newest_kernel[0] && strcmp(s->newest_kernel, s->release) != 0;
    if (os->boot_time_ms)
        os->uptime_ms = (uint64_t)(vg_time_now_ms() - os->boot_time_ms);
    if (os->reboot_required) {
        path(full, sizeof(full), "/run/reboot-required.pkgs");
        if (vg_file_read(full, 64 * 1024, &s->pkgbuf, &len) == 0) {
            char *save = NULL, *tok = strtok_r(s->pkgbuf, "\n", &save);
            size_t n = 0;
            while (tok && n < VG_ARRAY_SIZE(s->pkgs)) {
                s->pkgs[n++] = tok;
                tok = strtok_r(NULL, "\n", &save);
            }
            os->reboot_required_packages = s->pkgs;
            os->n_reboot_required_packages = n;
        }
    }
}

struct os_snapshot {
    Vigil__V1__OsState os;
    struct os_strings s;
};

struct os_snapshot *os_snapshot_read(const char *root)
{
    struct os_snapshot *snap = calloc(1, sizeof(*snap));
    if (!snap)
        return NULL;
    /* The one-shot command runs no input: the root is its to set. */
    host_root = root && strcmp(root, "/") != 0 ? root : "";
    vigil__v1__os_state__init(&snap->os);
    collect(&snap->os, &snap->s);
    return snap;
}

const Vigil__V1__OsState *os_snapshot_state(const struct os_snapshot *s)
{
    return &s->os;
}

void os_snapshot_free(struct os_snapshot *s)
{
    if (!s)
        return;
    free(s->s.pkgbuf);
    free(s);
}

static void emit_os(struct input *in, int force)
{
    struct os_priv *p = in->priv;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__OsState os = VIGIL__V1__OS_STATE__INIT;
    struct os_strings s;
    struct vg_buf b;
    uint8_t h[VG_SHA256_LEN];
    uint64_t now = vg_time_mono_ms();
    int rc;

    collect(&os, &s);
    /* Change detection on the encoded state, uptime excluded. */
    vg_buf_init(&b, 1 << 20);
    {
        uint64_t up = os.uptime_ms;
        os.uptime_ms = 0;
        rc = vg_pb_pack(&os.base, &b);
        os.uptime_ms = up;
    }
    if (rc == 0 && vg_sha256(b.data, b.len, h) == 0) {
        int changed = memcmp(h, p->last_hash, sizeof(h)) != 0;
        if (changed || force || now - p->last_sent_ms >= in->conf->os_interval_ms) {
            ev.time_ms = vg_time_now_ms();
            ev.kind_case = VIGIL__V1__EVENT__KIND_OS_STATE;
            ev.os_state = &os;
            if (bus_emit(in->agent, &ev) == 0) {
                memcpy(p->last_hash, h, sizeof(h));
                p->last_sent_ms = now;
                log_debug("[in_os] OS state sent (%s, kernel %s%s)", s.pretty, s.release,
                          changed ? ", changed" : "");
            }
        }
    }
    vg_buf_free(&b);
    free(s.pkgbuf);
}

static unsigned count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0; /* ., .. and the DIR's own fd */
}

static void emit_health(struct input *in)
{
    struct os_priv *p = in->priv;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__AgentHealth h = VIGIL__V1__AGENT_HEALTH__INIT;
    struct agent_stats st;
    struct rusage ru;
    char line[128];
    uint64_t pages = 0;

    bus_stats(in->agent, &st);
    read_line_at("/proc/self/statm", line, sizeof(line)); /* ours, not the host's */
    {
        char *sp = strchr(line, ' ');
        if (sp) {
            char *sp2 = strchr(sp + 1, ' ');
            if (sp2)
                *sp2 = '\0';
            if (vg_parse_u64(sp + 1, 0, UINT64_MAX, &pages))
                pages = 0;
        }
    }
    h.rss_bytes = pages * (uint64_t)sysconf(_SC_PAGESIZE);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        h.cpu_user_ms = (uint64_t)ru.ru_utime.tv_sec * 1000 + (uint64_t)ru.ru_utime.tv_usec / 1000;
        h.cpu_system_ms =
            (uint64_t)ru.ru_stime.tv_sec * 1000 + (uint64_t)ru.ru_stime.tv_usec / 1000;
    }
    h.uptime_ms = vg_time_mono_ms() - p->start_ms;
    h.queued_events = st.queued_events;
    h.spool_batches = st.queued_batches;
    h.spool_bytes = st.queued_bytes;
    h.events_total = st.events_total;
    h.batches_sent = st.batches_sent;
    h.reconnects = st.reconnects;
    h.dropped_total = st.dropped_total;
    h.open_fds = count_fds();
    h.software_version = VG_VERSION;
    h.process_source = (char *)(in->agent->proc_source ? in->agent->proc_source : "off");
    h.isolation_verified_time_ms = in->agent->iso_verified_ms;
    h.confirm_interval_ms = in->agent->conf->health_interval_ms > in->agent->conf->isolation_check_ms
                                ? in->agent->conf->health_interval_ms
                                : in->agent->conf->isolation_check_ms;
    ev.time_ms = vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_AGENT_HEALTH;
    ev.agent_health = &h;
    bus_emit(in->agent, &ev);
}

static void check_cb(uv_timer_t *t)
{
    emit_os(t->data, 0);
}

static void health_cb(uv_timer_t *t)
{
    emit_health(t->data);
}

static int os_init(struct input *in)
{
    struct os_priv *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    in->priv = p;
    if (in->conf->inventory_root && strcmp(in->conf->inventory_root, "/") != 0)
        host_root = in->conf->inventory_root;
    p->start_ms = vg_time_mono_ms();
    uv_timer_init(in->loop, &p->check);
    uv_timer_init(in->loop, &p->health);
    p->check.data = p->health.data = in;
    emit_os(in, 1);
    emit_health(in);
    uv_timer_start(&p->check, check_cb, in->conf->os_check_ms, in->conf->os_check_ms);
    uv_timer_start(&p->health, health_cb, in->conf->health_interval_ms,
                   in->conf->health_interval_ms);
    return 0;
}

static void os_closed(uv_handle_t *h)
{
    struct input *in = h->data;
    struct os_priv *p = in->priv;
    if (--p->closing == 0) {
        void (*done)(struct input *) = p->done;
        free(p);
        in->priv = NULL;
        done(in);
    }
}

static void os_exit(struct input *in, void (*done)(struct input *in))
{
    struct os_priv *p = in->priv;
    p->done = done;
    p->closing = 2;
    uv_close((uv_handle_t *)&p->check, os_closed);
    uv_close((uv_handle_t *)&p->health, os_closed);
}

const struct input_ops in_os_ops = {
    .name = "os",
    .init = os_init,
    .exit = os_exit,
};
