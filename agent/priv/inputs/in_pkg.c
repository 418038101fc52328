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
 *
 * Install history (PackageHistory): at start, the events of the last
 * [inventory] history_days in full, then at each re-read only the new
 * ones.  What was sent is remembered in STATE_DIR/history-dpkg (or
 * -rpm), one line "TIME_MS COUNT": the newest event's time and how many
 * events of that time were sent (dpkg logs whole seconds, and more lines
 * of the same second may follow).  The mark moves once the events are in
 * the spool, which delivers them exactly once and never drops them, so a
 * restart sends only what is new.
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
#define HISTORY_PART_MAX 2000
#define DEBOUNCE_MS 1000
#define DAY_MS (24 * 3600 * 1000LL)

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
    /* History sent so far (see the top). */
    char mark_path[PATH_MAX];
    int mark_loaded, mark_valid;
    int64_t mark_ms;
    uint64_t mark_count;
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

static void mark_load(struct input *in, struct dpkg_in *d)
{
    char *text = NULL, *sp;
    size_t len;
    uint64_t t, n;

    d->mark_loaded = 1;
    snprintf(d->mark_path, sizeof(d->mark_path), "%s/history-%s", in->conf->state_dir,
             d->src->name);
    if (vg_file_read(d->mark_path, 256, &text, &len))
        return;
    text[strcspn(text, "\n")] = '\0';
    sp = strchr(text, ' ');
    if (sp) {
        *sp++ = '\0';
        if (vg_parse_u64(text, 0, INT64_MAX, &t) == 0 && vg_parse_u64(sp, 0, UINT32_MAX, &n) == 0) {
            d->mark_valid = 1;
            d->mark_ms = (int64_t)t;
            d->mark_count = n;
        }
    }
    if (!d->mark_valid)
        log_warnx("[in_%s] %s is not TIME COUNT: sending the whole history again", d->src->name,
                  d->mark_path);
    free(text);
}

static int mark_save(struct dpkg_in *d, int64_t t, uint64_t n)
{
    char line[64];
    int len = snprintf(line, sizeof(line), "%lld %llu\n", (long long)t, (unsigned long long)n);
    int rc = vg_file_write_atomic(d->mark_path, line, (size_t)len, 0600, 0);
    if (rc) {
        log_warnx("[in_%s] cannot write %s: %s (the history may be sent again)", d->src->name,
                  d->mark_path, vg_strerror(rc));
        return rc;
    }
    d->mark_valid = 1;
    d->mark_ms = t;
    d->mark_count = n;
    return 0;
}

/* Sends ev->v[from..] in parts; returns 0 once all are on the bus. */
static int emit_history_parts(struct input *in, struct dpkg_in *d, const struct pkg_events *ev,
                              size_t from, int full, int64_t since)
{
    size_t total = ev->n - from;
    size_t parts = total ? (total + HISTORY_PART_MAX - 1) / HISTORY_PART_MAX : 1;

    for (size_t part = 0; part < parts; part++) {
        size_t first = from + part * HISTORY_PART_MAX;
        size_t n = ev->n - first < HISTORY_PART_MAX ? ev->n - first : HISTORY_PART_MAX;
        Vigil__V1__Event e = VIGIL__V1__EVENT__INIT;
        Vigil__V1__PackageHistory h = VIGIL__V1__PACKAGE_HISTORY__INIT;
        Vigil__V1__PackageEvent *pe = calloc(n ? n : 1, sizeof(*pe));
        Vigil__V1__PackageEvent **pp = calloc(n ? n : 1, sizeof(*pp));
        int rc;

        if (!pe || !pp) {
            free(pe);
            free(pp);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const struct pkg_event *x = &ev->v[first + i];
            vigil__v1__package_event__init(&pe[i]);
            pe[i].time_ms = x->time_ms;
            pe[i].name = x->name;
            pe[i].arch = x->arch;
            pe[i].action = (char *)x->action;
            pe[i].old_version = x->old_version;
            pe[i].new_version = x->new_version;
            pp[i] = &pe[i];
        }
        h.manager = d->src->manager;
        h.events = pp;
        h.n_events = n;
        h.full = full;
        h.part = (uint32_t)part + 1;
        h.part_count = (uint32_t)parts;
        h.since_time_ms = since;
        h.malformed = ev->malformed;
        e.time_ms = vg_time_now_ms();
        e.kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_HISTORY;
        e.package_history = &h;
        rc = bus_emit(in->agent, &e);
        free(pe);
        free(pp);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sends the history not sent yet (all of it the first time). */
static void emit_history(struct input *in, struct dpkg_in *d)
{
    struct pkg_events ev;
    int64_t since, last;
    size_t from = 0, at_last = 0;
    int rc, full;

    if (!in->conf->history_days)
        return;
    if (!d->mark_loaded)
        mark_load(in, d);
    memset(&ev, 0, sizeof(ev));
    since = vg_time_now_ms() - (int64_t)in->conf->history_days * DAY_MS;
    rc = d->src == &dpkg_source ? pkg_dpkg_history(d->root, since, &ev)
                                : pkg_rpm_history(&d->cur, since, &ev);
    if (rc) {
        log_warnx("[in_%s] cannot read the install history: %s", d->src->name, vg_strerror(rc));
        goto out;
    }
    if (d->mark_valid) {
        uint64_t same = 0;
        while (from < ev.n && ev.v[from].time_ms < d->mark_ms)
            from++;
        while (from < ev.n && ev.v[from].time_ms == d->mark_ms && same < d->mark_count) {
            from++;
            same++;
        }
        if (from == ev.n)
            goto out; /* nothing new */
    }
    last = ev.n ? ev.v[ev.n - 1].time_ms : 0;
    for (size_t i = ev.n; i > 0 && ev.v[i - 1].time_ms == last; i--)
        at_last++;
    if (d->mark_valid && last == d->mark_ms)
        at_last = at_last > d->mark_count ? at_last : d->mark_count;
    full = !d->mark_valid;
    rc = emit_history_parts(in, d, &ev, from, full, since);
    if (rc) {
        log_warnx("[in_%s] install history not sent: %s; trying again at the next change",
                  d->src->name, vg_strerror(rc));
        goto out;
    }
    if (mark_save(d, last, at_last) == 0)
        log_info("[in_%s] install history: %zu events sent (%s)%s", d->src->name, ev.n - from,
                 full ? "the whole window" : "new since the last",
                 ev.malformed ? ", some log lines malformed" : "");
out:
    if (ev.malformed || ev.dropped)
        log_debug("[in_%s] install history: %u malformed log lines skipped, %u events over the "
                  "limit", d->src->name, ev.malformed, ev.dropped);
    pkg_events_free(&ev);
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
    emit_history(in, d);
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
        char e[VG_FMT_MAX];
        uv_timer_start(&d->poll, rescan, every, every);
        log_info("[in_%s] cannot watch %s (%s): re-reading every %s", src->name, d->dir,
                 uv_strerror(rc), vg_fmt_duration(every, e, sizeof(e)));
    }
    emit_snapshot(in, d);
    emit_history(in, d);
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
