/*
 * in_pending: pending updates (see pending.h), sent as one PendingUpdates
 * event at start and whenever the list changes.
 *
 * apt hosts: worked out again when apt's lists change (apt update; a
 * 10 s debounce lets it finish) or dpkg's status does (an upgrade), and
 * every [inventory] pending_interval.  rpm hosts with dnf: every
 * pending_interval.  The work (reading tens of MB of lists) runs on
 * libuv's thread pool, off the event loop.
 *
 * First-seen times are kept in STATE_DIR/pending-seen.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../agent.h"
#include "../pending.h"
#include "err.h"
#include "log.h"
#include "pb.h"
#include "util.h"

#define LISTS_DEBOUNCE_MS 10000
#define STATUS_DEBOUNCE_MS 2000
#define UPDATES_MAX 10000
/* The queue takes events up to 4 MiB; stay well inside. */
#define EVENT_BUDGET (3u * 1024 * 1024)

enum mode { MODE_APT, MODE_DNF };

struct work {
    uv_work_t req;
    struct pend_in *p;
    int rc;
    struct pending_list list;
    struct apt_report rep;
    unsigned dnf_bad;
};

struct pend_in {
    struct input *in;
    enum mode mode;
    char root[PATH_MAX];
    char lists_dir[PATH_MAX], dpkg_dir[PATH_MAX];
    char seen_path[PATH_MAX];
    struct pending_seen *seen;
    uv_fs_event_t lists_watch, dpkg_watch;
    uv_timer_t debounce, periodic;
    struct work *running;
    int again;      /* a change came while working */
    int closing;    /* handles still to close */
    int stopping;
    void (*done)(struct input *in);
    struct vg_buf last; /* the last list sent, encoded */
    int sent;
    int warned;
};

/* At stop, each closed handle and a finished work item count down; the
 * last one frees the input. */
static void release_one(struct pend_in *p)
{
    void (*done)(struct input *);
    struct input *in;
    if (--p->closing > 0)
        return;
    done = p->done;
    in = p->in;
    pending_seen_free(p->seen);
    vg_buf_free(&p->last);
    free(p);
    in->priv = NULL;
    done(in);
}

static void work_cb(uv_work_t *req)
{
    struct work *w = req->data;
    struct pend_in *p = w->p;

    memset(&w->rep, 0, sizeof(w->rep));
    if (p->mode == MODE_APT) {
        struct pkg_list inst = { NULL, 0, 0 };
        struct pkg_report rep;
        w->rc = pkg_dpkg_read(p->root, &inst, &rep);
        if (w->rc == 0)
            w->rc = pkg_apt_pending(p->root, &inst, &w->list, &w->rep);
        pkg_list_free(&inst);
    } else {
        struct pkg_list inst = { NULL, 0, 0 };
        struct pkg_report rep;
        w->rc = pkg_rpm_read(p->root, &inst, &rep);
        if (w->rc == 0)
            w->rc = pkg_dnf_pending(p->root, &w->list, &w->dnf_bad);
        if (w->rc == 0)
            pending_match_installed(&w->list, &inst);
        pkg_list_free(&inst);
    }
}

static void fill(Vigil__V1__PendingUpdate *m, const struct pending *u, char **adv)
{
    vigil__v1__pending_update__init(m);
    m->name = u->name;
    m->arch = u->arch;
    m->installed_version = u->installed;
    m->candidate_version = u->candidate;
    m->origin = u->archive;
    m->security = u->security;
    m->severity = u->severity;
    if (u->advisory && u->advisory[0]) {
        *adv = u->advisory;
        m->advisories = adv;
        m->n_advisories = 1;
    }
    m->released_time_ms = u->released_ms;
    m->release_file_time_ms = u->release_file_ms;
    m->first_seen_time_ms = u->first_seen_ms;
    m->security_first_seen_time_ms = u->security_first_seen_ms;
    m->release_label = u->label;
    m->release_origin = u->origin;
    m->site = u->site;
}

static void start_work(struct pend_in *p);

static void send_list(struct pend_in *p, struct work *w)
{
    struct input *in = p->in;
    size_t n = w->list.n > UPDATES_MAX ? UPDATES_MAX : w->list.n;
    Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT;
    Vigil__V1__PendingUpdates pu = VIGIL__V1__PENDING_UPDATES__INIT;
    Vigil__V1__PendingUpdate *m = calloc(n ? n : 1, sizeof(*m));
    Vigil__V1__PendingUpdate **mp = calloc(n ? n : 1, sizeof(*mp));
    char **adv = calloc(n ? n : 1, sizeof(*adv));
    struct vg_buf b;
    size_t nsec = 0;
    int rc;

    if (!m || !mp || !adv) {
        log_warnx("[in_pending] out of memory for %zu pending updates", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        fill(&m[i], &w->list.v[i], &adv[i]);
        mp[i] = &m[i];
        nsec += w->list.v[i].security != 0;
    }
    pu.manager = p->mode == MODE_APT ? VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG
                                     : VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_RPM;
    pu.updates = mp;
    pu.n_updates = n;
    pu.sources_refreshed_time_ms = w->rep.refreshed_ms;
    pu.sources_failed = w->rep.lists_failed + w->rep.lists_unsupported;
    pu.error = w->rep.first_error;
    pu.omitted = (uint32_t)(w->list.n - n);
    vg_buf_init(&b, 8u * 1024 * 1024);
    /* Too big for one event (thousands of updates, or absurd version
     * strings): send the first ones and say how many were left out. */
    while (vg_pb_pack(&pu.base, &b) != 0 || b.len > EVENT_BUDGET) {
        if (pu.n_updates == 0)
            break;
        pu.n_updates /= 2;
        pu.omitted = (uint32_t)(w->list.n - pu.n_updates);
        vg_buf_reset(&b);
    }
    /* Unchanged since the last one sent: nothing to say. */
    if (p->sent && b.len == p->last.len && (b.len == 0 || memcmp(b.data, p->last.data, b.len) == 0)) {
        vg_buf_free(&b);
        goto out;
    }
    ev.time_ms = vg_time_now_ms();
    ev.kind_case = VIGIL__V1__EVENT__KIND_PENDING_UPDATES;
    ev.pending_updates = &pu;
    rc = bus_emit(in->agent, &ev);
    if (rc) {
        /* Not marked sent: the next run tries again. */
        log_warnx("[in_pending] cannot queue the pending-updates list: %s", vg_strerror(rc));
        vg_buf_free(&b);
        goto out;
    }
    vg_buf_free(&p->last);
    p->last = b;
    p->sent = 1;
    log_info("[in_pending] %zu pending updates, %zu of them security%s", w->list.n, nsec,
             pu.omitted ? " (list cut to fit one event)" : "");
out:
    free(m);
    free(mp);
    free(adv);
}

static void after_work_cb(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct pend_in *p = w->p;

    p->running = NULL;
    if (status == 0 && !p->stopping) {
        if (w->rc) {
            if (!p->warned++)
                log_warnx("[in_pending] cannot work out pending updates: %s%s",
                          w->rc == -ENOENT && p->mode == MODE_DNF ? "dnf is not installed"
                                                                   : vg_strerror(w->rc),
                          "; will try again");
        } else {
            p->warned = 0;
            if (w->rep.first_error[0])
                log_warnx("[in_pending] apt data: %s", w->rep.first_error);
            if (w->dnf_bad)
                log_warnx("[in_pending] dnf: %u lines of its output could not be read "
                          "(their advisories are missing)", w->dnf_bad);
            /* With a list unreadable, its packages' updates are unknown,
             * not gone: their first-seen times are kept. */
            int partial = w->rep.lists_failed > 0;
            if (pending_seen_apply(p->seen, &w->list, vg_time_now_ms(), partial)) {
                int rc = pending_seen_save(p->seen, p->seen_path);
                if (rc)
                    log_warnx("[in_pending] cannot save %s: %s (first-seen times will "
                              "restart if the agent restarts)", p->seen_path, vg_strerror(rc));
            }
            send_list(p, w);
        }
    }
    pending_list_free(&w->list);
    free(w);
    /* The work freed tens of MB in a worker thread's malloc arena; give
     * them back rather than keep them for the next run, an hour away. */
    malloc_trim(0);
    if (p->stopping) {
        release_one(p);
        return;
    }
    if (p->again) {
        p->again = 0;
        start_work(p);
    }
}

static void start_work(struct pend_in *p)
{
    struct work *w;
    if (p->running) {
        p->again = 1;
        return;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return;
    w->p = p;
    w->req.data = w;
    if (uv_queue_work(p->in->loop, &w->req, work_cb, after_work_cb) == 0)
        p->running = w;
    else
        free(w);
}

static void timer_cb(uv_timer_t *t)
{
    start_work(t->data);
}

static void lists_changed(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct pend_in *p = h->data;
    (void)events;
    /* apt writes partial/ and lock while it works; the lists themselves
     * are renamed into place. */
    if (status < 0 || (name && (strcmp(name, "lock") == 0 || strcmp(name, "partial") == 0)))
        return;
    uv_timer_start(&p->debounce, timer_cb, LISTS_DEBOUNCE_MS, 0);
}

static void dpkg_changed(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct pend_in *p = h->data;
    (void)events;
    if (status < 0 || !name || strcmp(name, "status") != 0)
        return;
    /* Never shorten a pending lists debounce. */
    if (uv_timer_get_due_in(&p->debounce) < STATUS_DEBOUNCE_MS)
        uv_timer_start(&p->debounce, timer_cb, STATUS_DEBOUNCE_MS, 0);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int pending_init(struct input *in)
{
    struct pend_in *p;
    const char *root = in->conf->inventory_root && strcmp(in->conf->inventory_root, "/") != 0
                           ? in->conf->inventory_root
                           : "";
    char status[PATH_MAX], rpmbin[PATH_MAX];
    unsigned bad = 0;
    int rc;

    snprintf(status, sizeof(status), "%s/var/lib/dpkg/status", root);
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->in = in;
    snprintf(p->root, sizeof(p->root), "%s", root[0] ? root : "/");
    snprintf(p->lists_dir, sizeof(p->lists_dir), "%s/var/lib/apt/lists", root);
    snprintf(p->dpkg_dir, sizeof(p->dpkg_dir), "%s/var/lib/dpkg", root);
    snprintf(rpmbin, sizeof(rpmbin), "%s/usr/bin/dnf", root);
    if (exists(status) && exists(p->lists_dir)) {
        p->mode = MODE_APT;
    } else if (exists(rpmbin) || exists("/usr/bin/dnf")) {
        p->mode = MODE_DNF;
    } else {
        log_info("[in_pending] neither apt lists nor dnf here: pending updates unknown");
        free(p);
        in->priv = NULL;
        return 0;
    }
    rc = snprintf(p->seen_path, sizeof(p->seen_path), "%s/pending-seen", in->conf->state_dir);
    if (rc < 0 || (size_t)rc >= sizeof(p->seen_path)) {
        free(p);
        return -ENAMETOOLONG;
    }
    p->seen = pending_seen_load(p->seen_path, &bad);
    if (!p->seen) {
        free(p);
        return -ENOMEM;
    }
    if (bad)
        log_warnx("[in_pending] %s: %u unreadable entries skipped (their first-seen times "
                  "restart now)", p->seen_path, bad);
    vg_buf_init(&p->last, 8u * 1024 * 1024);
    in->priv = p;
    uv_timer_init(in->loop, &p->debounce);
    uv_timer_init(in->loop, &p->periodic);
    uv_fs_event_init(in->loop, &p->lists_watch);
    uv_fs_event_init(in->loop, &p->dpkg_watch);
    p->debounce.data = p->periodic.data = p->lists_watch.data = p->dpkg_watch.data = p;
    if (p->mode == MODE_APT) {
        char every[VG_FMT_MAX];
        if ((rc = uv_fs_event_start(&p->lists_watch, lists_changed, p->lists_dir, 0)))
            log_warnx("[in_pending] cannot watch %s (%s): rechecking every %s", p->lists_dir,
                      uv_strerror(rc),
                      vg_fmt_duration(in->conf->pending_interval_ms, every, sizeof(every)));
        uv_fs_event_start(&p->dpkg_watch, dpkg_changed, p->dpkg_dir, 0);
    }
    uv_timer_start(&p->periodic, timer_cb, in->conf->pending_interval_ms,
                   in->conf->pending_interval_ms);
    log_info("[in_pending] pending updates from %s", p->mode == MODE_APT ? "apt's lists" : "dnf");
    start_work(p);
    return 0;
}

static void closed(uv_handle_t *h)
{
    release_one(h->data);
}

static void pending_exit(struct input *in, void (*done)(struct input *in))
{
    struct pend_in *p = in->priv;
    if (!p) {
        done(in);
        return;
    }
    p->done = done;
    p->stopping = 1;
    /* A running work item finishes on its own; it counts as a handle. */
    p->closing = 4 + (p->running != NULL);
    uv_close((uv_handle_t *)&p->debounce, closed);
    uv_close((uv_handle_t *)&p->periodic, closed);
    uv_close((uv_handle_t *)&p->lists_watch, closed);
    uv_close((uv_handle_t *)&p->dpkg_watch, closed);
}

const struct input_ops in_pending_ops = {
    .name = "pending",
    .init = pending_init,
    .exit = pending_exit,
};
