/*
 * Commands across collectors.  Several collectors share one PostgreSQL
 * database ([store] url) behind a load balancer; an operator's command
 * may be queued through one collector for an agent connected to another.
 * The queuing collector NOTIFYs STORE_NOTIFY_CHANNEL with the agent id in
 * the transaction that stores the command (store_command_notify: sent at
 * commit, dropped on rollback); every collector LISTENs on a connection
 * of its own, driven by the loop, and the one that holds the agent sends
 * its queued commands at once.  Delivery claims a command before sending
 * it (command.c), so two collectors never both send one, and a cancel
 * wins or loses cleanly.
 *
 * A notification sent while the listener was away is lost: after every
 * (re)connection, and every 30 s besides, the collector looks up the
 * agents with queued commands (store_commands_queued_agents) and delivers
 * to those it holds.
 *
 * Nothing of this runs on SQLite: one file has one collector.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "collector.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define RESCAN_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define RESCAN_MAX 10000 /* agents with queued commands looked at per rescan */

struct npoll {
    uv_poll_t h;
    struct notify *n; /* NULL once closed */
};

struct notify {
    struct server *s;
    char *url;
    char where[300]; /* the URL without its password, for logs */
    PGconn *c;
    struct npoll *poll;
    int fd;
    int up;       /* LISTEN acknowledged */
    uv_timer_t timer; /* reconnection, and the rescans */
    unsigned backoff_ms;
    uint64_t lost; /* listener connections lost */
    int stopping;
};

static void npoll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void poll_drop(struct notify *n)
{
    if (!n->poll)
        return;
    uv_poll_stop(&n->poll->h);
    n->poll->n = NULL;
    uv_close((uv_handle_t *)&n->poll->h, npoll_closed);
    n->poll = NULL;
    n->fd = -1;
}

static void connect_cb(uv_poll_t *h, int status, int events);
static void read_cb(uv_poll_t *h, int status, int events);

/* Watches the connection's socket for events with cb; a new socket (libpq
 * may move to another address while connecting) gets a new handle. */
static int poll_on(struct notify *n, int events, uv_poll_cb cb)
{
    int fd = PQsocket(n->c);
    if (fd < 0)
        return -EBADF;
    if (n->poll && n->fd != fd)
        poll_drop(n);
    if (!n->poll) {
        struct npoll *p = calloc(1, sizeof(*p));
        if (!p)
            return -ENOMEM;
        if (uv_poll_init_socket(n->s->loop, &p->h, fd) != 0) {
            free(p);
            return -EIO;
        }
        p->h.data = p;
        p->n = n;
        n->poll = p;
        n->fd = fd;
    }
    return uv_poll_start(&n->poll->h, events, cb);
}

static void timer_cb(uv_timer_t *t);

static void arm(struct notify *n, uint64_t ms)
{
    if (!n->stopping)
        uv_timer_start(&n->timer, timer_cb, ms, 0);
}

/* The listener is gone: try again after a while (100 ms, doubling to 5 s). */
static void lost(struct notify *n, const char *why)
{
    if (n->up || n->lost == 0)
        log_warnx("[store] notifications from the other collectors (%s): %s; reconnecting",
                  n->where, why);
    n->lost++;
    n->up = 0;
    poll_drop(n);
    if (n->c)
        PQfinish(n->c);
    n->c = NULL;
    arm(n, n->backoff_ms);
    n->backoff_ms = n->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : n->backoff_ms * 2;
}

static int rescan_cb(void *ctx, const char *agent_id)
{
    struct notify *n = ctx;
    struct conn *agent = conn_find_agent(n->s, agent_id);
    if (agent && !agent->closing)
        commands_deliver_queued(n->s, agent);
    return 0;
}

/* Commands queued while no notification could arrive. */
static void rescan(struct notify *n)
{
    if (store_commands_queued_agents(n->s->store, RESCAN_MAX, rescan_cb, n) < 0)
        log_warnx("[store] cannot look for queued commands: %s", store_last_error(n->s->store));
}

static void start(struct notify *n)
{
    n->c = PQconnectStart(n->url);
    if (!n->c || PQstatus(n->c) == CONNECTION_BAD) {
        lost(n, n->c ? PQerrorMessage(n->c) : "out of memory");
        return;
    }
    if (PQsetnonblocking(n->c, 1) != 0 || poll_on(n, UV_WRITABLE, connect_cb) != 0)
        lost(n, "cannot watch its socket");
}

/* The backstop rescan's interval (a test sets it so long that only a
 * notification can deliver). */
static uint64_t rescan_ms(void)
{
#ifdef VG_TEST_HOOKS
    const char *t = getenv("VIGIL_TEST_RESCAN_MS");
    if (t && t[0])
        return strtoull(t, NULL, 10);
#endif
    return RESCAN_MS;
}

static void timer_cb(uv_timer_t *t)
{
    struct notify *n = t->data;
    if (n->stopping)
        return;
    if (!n->c) {
        start(n);
        return;
    }
    if (n->up) {
        rescan(n);
        arm(n, rescan_ms());
    }
}

static void first_line(const char *m, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)strcspn(m, "\n"), m);
}

static void connect_cb(uv_poll_t *h, int status, int events)
{
    struct npoll *p = h->data;
    struct notify *n = p->n;
    char why[300];
    (void)events;

    if (!n)
        return;
    if (status < 0) {
        lost(n, uv_strerror(status));
        return;
    }
    switch (PQconnectPoll(n->c)) {
    case PGRES_POLLING_READING:
        if (poll_on(n, UV_READABLE, connect_cb) != 0)
            lost(n, "cannot watch its socket");
        return;
    case PGRES_POLLING_WRITING:
        if (poll_on(n, UV_WRITABLE, connect_cb) != 0)
            lost(n, "cannot watch its socket");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        first_line(PQerrorMessage(n->c), why, sizeof(why));
        lost(n, why);
        return;
    }
    if (!PQsendQuery(n->c, "LISTEN " STORE_NOTIFY_CHANNEL) ||
        poll_on(n, UV_READABLE, read_cb) != 0) {
        first_line(PQerrorMessage(n->c), why, sizeof(why));
        lost(n, why);
    }
}

static void read_cb(uv_poll_t *h, int status, int events)
{
    struct npoll *p = h->data;
    struct notify *n = p->n;
    PGresult *r;
    PGnotify *note;
    char why[300];
    (void)events;

    if (!n)
        return;
    if (status < 0 || !PQconsumeInput(n->c)) {
        first_line(status < 0 ? uv_strerror(status) : PQerrorMessage(n->c), why, sizeof(why));
        lost(n, why);
        return;
    }
    while (!PQisBusy(n->c) && (r = PQgetResult(n->c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK) {
            first_line(PQresultErrorMessage(r), why, sizeof(why));
            PQclear(r);
            lost(n, why);
            return;
        }
        PQclear(r);
        if (!n->up) {
            /* LISTEN holds from here: what was queued before is found now. */
            if (n->lost)
                log_info("[store] notifications from the other collectors (%s): back",
                         n->where);
            n->up = 1;
            n->backoff_ms = BACKOFF_MIN_MS;
            rescan(n);
            arm(n, rescan_ms());
        }
    }
    while ((note = PQnotifies(n->c)) != NULL) {
        if (note->extra && note->extra[0])
            rescan_cb(n, note->extra);
        PQfreemem(note);
    }
}

int notify_start(struct server *s, char *err, size_t errlen)
{
    const char *target = conf_store_target(s->conf);
    struct notify *n;

    if (!db_is_url(target))
        return 0;
    if (!(n = calloc(1, sizeof(*n))) || !(n->url = strdup(target))) {
        free(n);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    n->s = s;
    n->fd = -1;
    n->backoff_ms = BACKOFF_MIN_MS;
    db_target_display(target, n->where, sizeof(n->where));
    uv_timer_init(s->loop, &n->timer);
    n->timer.data = n;
    s->notify = n;
    start(n);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct notify *n = h->data;
    free(n->url);
    free(n);
}

void notify_stop(struct server *s)
{
    struct notify *n = s->notify;
    if (!n)
        return;
    s->notify = NULL;
    n->stopping = 1;
    poll_drop(n);
    if (n->c)
        PQfinish(n->c);
    n->c = NULL;
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, timer_closed);
}

