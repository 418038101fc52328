/* Limits on misbehaving peers: summarising tallies, token buckets,
 * failures per address (see limit.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "limit.h"

int vg_tally_add(struct vg_tally *t, uint64_t now)
{
    if (!t->started || now - t->window_start >= t->interval_ms) {
        t->started = 1;
        t->window_start = now;
        t->shown = 0;
    }
    /* Events reported one by one a while ago do not belong to a period
     * that starts now. */
    if (t->n && !t->counted && now - t->last_ms >= t->interval_ms)
        t->n = 0;
    if (!t->n)
        t->first_ms = now;
    t->n++;
    t->last_ms = now;
    t->total++;
    /* Once counting has begun, nothing is shown until the summary, and
     * for an interval after it: a steady flood gives one line per
     * interval. */
    if (!t->counted && t->shown < t->burst && now >= t->hush_until) {
        t->shown++;
        return 1;
    }
    t->counted++;
    return 0;
}

int vg_tally_take(struct vg_tally *t, uint64_t now, int force, struct vg_tally_sum *out)
{
    if (!t->counted || (!force && now - t->first_ms < t->interval_ms))
        return 0;
    out->n = t->n;
    out->counted = t->counted;
    out->span_ms = t->last_ms - t->first_ms;
    t->n = 0;
    t->counted = 0;
    t->hush_until = now + t->interval_ms;
    return 1;
}

static void refill(struct vg_bucket *b, uint64_t now)
{
    uint64_t cap = (uint64_t)b->burst * 1000;
    if (!b->started) {
        b->started = 1;
        b->level = cap;
        b->last_ms = now;
        return;
    }
    if (now > b->last_ms && b->interval_ms) {
        /* burst tokens per interval: burst * 1000 / interval thousandths a ms */
        uint64_t add = (now - b->last_ms) * b->burst * 1000 / b->interval_ms;
        if (add) {
            b->level = b->level + add > cap ? cap : b->level + add;
            b->last_ms = now;
        }
    }
}

int vg_bucket_ok(struct vg_bucket *b, uint64_t now)
{
    refill(b, now);
    return b->level >= 1000;
}

int vg_bucket_take(struct vg_bucket *b, uint64_t now)
{
    if (!vg_bucket_ok(b, now))
        return 0;
    b->level -= 1000;
    return 1;
}

int vg_addrlim_key(const char *addr, uint8_t key[16])
{
    char buf[64];
    const char *p = addr;
    size_t n;
    struct in_addr a4;

    memset(key, 0, 16);
    if (*p == '[') {
        const char *end = strchr(++p, ']');
        n = end ? (size_t)(end - p) : strlen(p);
    } else {
        const char *colon = strchr(p, ':');
        /* One colon: IPv4 with a port; more: a bare IPv6 address. */
        n = colon && !strchr(colon + 1, ':') ? (size_t)(colon - p) : strlen(p);
    }
    if (n < sizeof(buf)) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET, buf, &a4) == 1) {
            key[10] = key[11] = 0xff; /* as IPv4-mapped */
            memcpy(key + 12, &a4, 4);
            return 0;
        }
        if (inet_pton(AF_INET6, buf, key) == 1) {
            if (memcmp(key, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) != 0)
                memset(key + 8, 0, 8); /* the /64 */
            return 0;
        }
    }
    /* Not an address: FNV-1a of the text, so that it still has a key. */
    {
        uint64_t h = 14695981039346656037ull;
        for (const char *q = addr; *q; q++)
            h = (h ^ (uint8_t)*q) * 1099511628211ull;
        key[0] = 0xfe;
        memcpy(key + 8, &h, 8);
    }
    return -EINVAL;
}

static int live(const struct vg_addrlim *l, size_t i, uint64_t now)
{
    return l->slot[i].since && now - l->slot[i].since < l->window_ms;
}

static long find(const struct vg_addrlim *l, const uint8_t key[16], uint64_t now)
{
    for (size_t i = 0; i < VG_ADDRLIM_SLOTS; i++)
        if (live(l, i, now) && memcmp(l->slot[i].key, key, 16) == 0)
            return (long)i;
    return -1;
}

unsigned vg_addrlim_count(struct vg_addrlim *l, const uint8_t key[16], uint64_t now)
{
    long i = find(l, key, now);
    return i < 0 ? 0 : l->slot[i].fails;
}

int vg_addrlim_limited(struct vg_addrlim *l, const uint8_t key[16], uint64_t now)
{
    return vg_addrlim_count(l, key, now) >= l->max;
}

unsigned vg_addrlim_fail(struct vg_addrlim *l, const uint8_t key[16], uint64_t now)
{
    long i = find(l, key, now);
    if (i < 0) {
        /* Only a slot whose window is over is reused: evicting a live
         * entry would set a limited address free. */
        for (size_t k = 0; k < VG_ADDRLIM_SLOTS && i < 0; k++)
            if (!live(l, k, now))
                i = (long)k;
        if (i < 0) {
            l->untracked++;
            return 0;
        }
        memcpy(l->slot[i].key, key, 16);
        l->slot[i].since = now ? now : 1;
        l->slot[i].fails = 0;
    }
    return ++l->slot[i].fails;
}
