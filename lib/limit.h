/*
 * Limits on what peers may cost us when they misbehave, for the
 * collector's refusals and enrollment:
 *
 *   vg_tally    a summarising limiter: the first few events of a kind are
 *               reported one by one, the rest counted and reported as one
 *               summary per interval (and when the caller flushes, at a
 *               disconnect): "5000 refused upload chunks in 1.6 s".  No
 *               event goes unreported; a flood costs a few lines.
 *   vg_bucket   a token bucket: at most `burst` at once, refilled at
 *               `burst` per `interval_ms`.
 *   vg_addrlim  failures per address (IPv6 by /64) in a window, in a
 *               table of fixed size that never forgets a live entry to
 *               make room: when it is full, a new address is not tracked
 *               and the caller's global bucket is what limits it.
 *
 * Times are monotonic milliseconds passed in by the caller (tests use
 * made-up clocks).  Zero-initialise, then set the parameters (or use the
 * _INIT macros).  Not thread-safe: one event loop.
 */
#ifndef VG_LIMIT_H
#define VG_LIMIT_H

#include <stdint.h>

struct vg_tally {
    uint64_t interval_ms; /* summary period; quiet spell that ends a flood */
    unsigned burst;       /* events reported one by one per interval */
    /* state */
    int started;
    uint64_t window_start; /* of the current interval of one-by-one reports */
    unsigned shown;        /* reported one by one in it */
    uint64_t hush_until;   /* after a summary: count, do not show */
    uint64_t n;            /* events since the last summary (shown or counted) */
    uint64_t counted;      /* of them, not reported one by one */
    uint64_t first_ms, last_ms; /* of those n */
    uint64_t total;        /* all events, ever */
};
#define VG_TALLY_INIT(ms, b) { (ms), (b), 0, 0, 0, 0, 0, 0, 0, 0, 0 }

struct vg_tally_sum {
    uint64_t n;       /* events in the period summarised */
    uint64_t counted; /* of them, not reported one by one */
    uint64_t span_ms; /* from the first of them to the last */
};

/* Records one event at now.  Returns 1 if it is to be reported on its
 * own, 0 if it was counted for a summary. */
int vg_tally_add(struct vg_tally *t, uint64_t now);
/* A summary is due when counted events wait and an interval has passed
 * since the first event of the period, or at once if force (a
 * disconnect, a stop).  Then fills *out, starts a new period and returns
 * 1 (the caller reports it); else returns 0. */
int vg_tally_take(struct vg_tally *t, uint64_t now, int force, struct vg_tally_sum *out);

struct vg_bucket {
    uint64_t interval_ms; /* refill burst tokens per interval */
    unsigned burst;       /* capacity */
    /* state, in thousandths of a token */
    int started;
    uint64_t level, last_ms;
};
#define VG_BUCKET_INIT(ms, b) { (ms), (b), 0, 0, 0 }

/* 1 if a token is available at now (none taken), else 0. */
int vg_bucket_ok(struct vg_bucket *b, uint64_t now);
/* Takes one token if there is one: 1 taken, 0 empty. */
int vg_bucket_take(struct vg_bucket *b, uint64_t now);

#define VG_ADDRLIM_SLOTS 1024

struct vg_addrlim {
    uint64_t window_ms; /* failures count for this long after the first */
    unsigned max;       /* an address with this many is limited */
    struct {
        uint8_t key[16];
        uint64_t since; /* 0: free */
        unsigned fails;
    } slot[VG_ADDRLIM_SLOTS];
    uint64_t untracked; /* failures not recorded: the table was full */
};

/* The key of an address as vg_tls_peer_addr writes it ("192.0.2.1:5",
 * "[2001:db8::1]:5", or without the port): IPv4 as itself, IPv6 by its
 * /64 (one host's, or one customer's, whole prefix).  Returns 0, or
 * -EINVAL (then key holds a hash of the text, still usable). */
int vg_addrlim_key(const char *addr, uint8_t key[16]);
/* Failures of key in its current window. */
unsigned vg_addrlim_count(struct vg_addrlim *l, const uint8_t key[16], uint64_t now);
/* 1 if key has reached max in its window. */
int vg_addrlim_limited(struct vg_addrlim *l, const uint8_t key[16], uint64_t now);
/* Counts one failure of key.  Returns its count in the window, or 0 if
 * the table is full of live entries (then counted in untracked only). */
unsigned vg_addrlim_fail(struct vg_addrlim *l, const uint8_t key[16], uint64_t now);

#endif
