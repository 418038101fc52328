/*
 * in_dpkg and in_rpm: the package inventory.  A full snapshot at start
 * (split into parts of PART_MAX packages), then only the delta: added,
 * removed and changed packages.
 *
 * dpkg: re-read when dpkg rewrites its status file (uv_fs_event on the
 * directory, since dpkg replaces the file by rename); off on hosts
 * without ROOT/var/lib/dpkg/status.
 * rpm: re-read when /var/lib/rpm changes, or every [inventory]
 * poll_interval where that is not the database (Debian's rpm keeps it in
 * ~/.rpmdb); off where rpm is missing or knows no packages.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent.h"
#include "../pkg.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define PART_MAX 2000
#define DEBOUNCE_MS 1000

struct source {
    const char *name;                 /* for logs: "dpkg", "rpm" */
    Vigil__V1__PackageManager manager;
    int (*read)(const char *root, struct pkg_list *out, struct pkg_report *rep);
    const char *dir;                  /* watched, under the root */
    const char *file;                 /* the file in dir whose change matters; NULL: any */
};

static const struct source dpkg_source = {
    "dpkg", VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG, pkg_dpkg_read, "/var/lib/dpkg",
    "status",
};
static const struct source rpm_source = {
    "rpm", VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_RPM, pkg_rpm_read, "/var/lib/rpm", NULL,
};

struct dpkg_in {
    const struct source *src;
    uv_fs_event_t watch;
    uv_timer_t debounce, poll;
    void (*done)(struct input *in);
    int closing;
    char root[PATH_MAX];
    char dir[PATH_MAX];
    struct pkg_list cur;
    uint64_t generation;
};

static void fill(Vigil__V1__Package *m, const struct pkg *p)
{
    vigil__v1__package__init(m);
    m->name = p->name;
    m->version = p->version;
    m->arch = p->arch;
    m->source_name = p->source;
    m->source_version = p->source_version;
    m->status = p->status;
    m->install_time_ms = p->install_time_ms;
}

static void emit_snapshot(struct input *in, struct dpkg_in *d)
{
    size_t parts = d->cur.n ? (d->cur.n + PART_MAX - 1) / PART_MAX : 1;

    d->generation++;
    for (size_t part = 0; part < parts; part++) {
        size_t from = part * PART_MAX, n = d->cur.n - from < PART_MAX ? d->cur.n - from : PART_MAX;
        Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
        Vigil__V1__PackageInventory inv = VIGIL__V1__PACKAGE_INVENTORY__INIT;
        Vigil__V1__Package *pk = calloc(n ? n : 1, sizeof(*pk));
        Vigil__V1__Package **pp = calloc(n ? n : 1, sizeof(*pp));
        if (!pk || !pp) {
            free(pk);
            free(pp);
            log_warnx("[in_dpkg] out of memory for the inventory snapshot");
            return;
        }
        for (size_t i = 0; i < n && d->cur.n; i++) {
            fill(&pk[i], &d->cur.v[from + i]);
            pp[i] = &pk[i];
        }
        inv.manager = d->src->manager;
        inv.generation = d->generation;
        inv.part = (uint32_t)part + 1;
        inv.part_count = (uint32_t)parts;
        inv.packages = pp;
        inv.n_packages = d->cur.n ? n : 0;
        ev.time_ms = vg_time_now_ms();
        ev.kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_INVENTORY;
        ev.package_inventory = &inv;
        bus_emit(in->agent, &ev);
        free(pk);
        free(pp);
    }
    log_info("[in_%s] inventory: %zu packages (generation %llu)", d->src->name, d->cur.n,
             (unsigned long long)d->generation);
}

static int cmp_key(const struct pkg *a, const struct pkg *b)
{
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->arch, b->arch);
}

/* Both lists sorted by name and arch (pkg_dpkg_parse sorts). */
static void emit_delta(struct input *in, struct dpkg_in *d, struct pkg_list *now)
{
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__PackageDelta dl = VIGIL__V1__PACKAGE_DELTA__INIT;
    size_t cap = d->cur.n + now->n + 1, i = 0, j = 0;
    Vigil__V1__Package *pk = calloc(cap, sizeof(*pk));
    Vigil__V1__Package **add = calloc(cap, sizeof(*add)), **rem = calloc(cap, sizeof(*rem)),
                       **chg = calloc(cap, sizeof(*chg));
    char **old = calloc(cap, sizeof(*old));
    size_t np = 0;

    if (!pk || !add || !rem || !chg || !old)
        goto out;
    while (i < d->cur.n || j < now->n) {
        int c = i == d->cur.n ? 1 : j == now->n ? -1 : cmp_key(&d->cur.v[i], &now->v[j]);
        if (c < 0) {
            fill(&pk[np], &d->cur.v[i++]);
            rem[dl.n_removed++] = &pk[np++];
        } else if (c > 0) {
            fill(&pk[np], &now->v[j++]);
            add[dl.n_added++] = &pk[np++];
        } else {
            if (strcmp(d->cur.v[i].version, now->v[j].version) != 0 ||
                strcmp(d->cur.v[i].status, now->v[j].status) != 0) {
                old[dl.n_changed] = d->cur.v[i].version;
                fill(&pk[np], &now->v[j]);
                chg[dl.n_changed++] = &pk[np++];
            }
            i++;
            j++;
        }
    }
    if (dl.n_added + dl.n_removed + dl.n_changed == 0)
        goto out;
    dl.manager = d->src->manager;
    dl.base_generation = d->generation;
    dl.generation = ++d->generation;
    dl.added = add;
    dl.removed = rem;
    dl.changed = chg;
    dl.old_versions = old;
    dl.n_old_versions = dl.n_changed;
    ev.time_ms = vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_DELTA;
    ev.package_delta = &dl;
    bus_emit(in->agent, &ev);
    log_info("[in_%s] packages changed: %zu added, %zu removed, %zu changed", d->src->name,
             dl.n_added, dl.n_removed, dl.n_changed);
out:
    free(pk);
    free(add);
    free(rem);
    free(chg);
    free(old);
}

static void rescan(uv_timer_t *t)
{
    struct input *in = t->data;
    struct dpkg_in *d = in->priv;
    struct pkg_list now = { NULL, 0, 0 };
    struct pkg_report rep;
    int rc = d->src->read(d->root, &now, &rep);

    if (rc == 0 && d->src == &dpkg_source)
        pkg_dpkg_log_times(d->root, &now);
    if (rc) {
        log_warnx("[in_%s] cannot read the package database under %s: %s; keeping the last "
                  "inventory", d->src->name, d->root, rc == -ENOENT ? "missing" : vg_strerror(rc));
        pkg_list_free(&now);
        return;
    }
    emit_delta(in, d, &now);
    pkg_list_free(&d->cur);
    d->cur = now;
}

static void changed(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct input *in = h->data;
    struct dpkg_in *d = in->priv;
    (void)events;
    if (status < 0 || (d->src->file && (!name || strcmp(name, d->src->file) != 0)))
        return;
    /* dpkg writes several times per run: wait for it to settle. */
    uv_timer_start(&d->debounce, rescan, DEBOUNCE_MS, 0);
}

static int pkg_init(struct input *in, const struct source *src)
{
    struct dpkg_in *d = calloc(1, sizeof(*d));
    struct pkg_report rep;
    const char *root = in->conf->inventory_root && strcmp(in->conf->inventory_root, "/") != 0
                           ? in->conf->inventory_root
                           : "";
    int rc;

    if (!d)
        return -ENOMEM;
    d->src = src;
    snprintf(d->root, sizeof(d->root), "%s", root[0] ? root : "/");
    snprintf(d->dir, sizeof(d->dir), "%s%s", root, src->dir);
    rc = src->read(d->root, &d->cur, &rep);
    if (rc == 0 && src == &dpkg_source)
        pkg_dpkg_log_times(d->root, &d->cur);
    if (rc || (src == &rpm_source && d->cur.n == 0)) {
        log_info("[in_%s] no %s package database here: input off", src->name, src->name);
        pkg_list_free(&d->cur);
        free(d);
        in->priv = NULL;
        return 0;
    }
    in->priv = d;
    uv_timer_init(in->loop, &d->debounce);
    uv_timer_init(in->loop, &d->poll);
    uv_fs_event_init(in->loop, &d->watch);
    d->debounce.data = d->watch.data = d->poll.data = in;
    rc = uv_fs_event_start(&d->watch, changed, d->dir, 0);
    if (rc) {
        /* Nothing to watch (rpm keeps its database elsewhere on some
         * hosts): look again now and then. */
        uint64_t every = in->conf->inventory_poll_ms;
        uv_timer_start(&d->poll, rescan, every, every);
        log_info("[in_%s] cannot watch %s (%s): re-reading every %llu s", src->name, d->dir,
                 uv_strerror(rc), (unsigned long long)(every / 1000));
    }
    emit_snapshot(in, d);
    return 0;
}

static int dpkg_init(struct input *in)
{
    return pkg_init(in, &dpkg_source);
}

static int rpm_init(struct input *in)
{
    return pkg_init(in, &rpm_source);
}

static void closed(uv_handle_t *h)
{
    struct input *in = h->data;
    struct dpkg_in *d = in->priv;
    void (*done)(struct input *);
    if (--d->closing > 0)
        return;
    done = d->done;
    pkg_list_free(&d->cur);
    free(d);
    in->priv = NULL;
    done(in);
}

static void dpkg_exit(struct input *in, void (*done)(struct input *in))
{
    struct dpkg_in *d = in->priv;
    if (!d) {
        done(in);
        return;
    }
    d->done = done;
    d->closing = 3;
    uv_close((uv_handle_t *)&d->watch, closed);
    uv_close((uv_handle_t *)&d->debounce, closed);
    uv_close((uv_handle_t *)&d->poll, closed);
}

const struct input_ops in_dpkg_ops = {
    .name = "dpkg",
    .init = dpkg_init,
    .exit = dpkg_exit,
};

const struct input_ops in_rpm_ops = {
    .name = "rpm",
    .init = rpm_init,
    .exit = dpkg_exit,
};
