/*
 * SHA-256 of executables for process events, off the event loop.
 *
 * Files are identified by (device, inode, size, mtime): a cached digest
 * is reused while the file is unchanged.  A miss queues a job on libuv's
 * thread pool (at most HASH_JOBS at once, so that other work still gets
 * threads; at most HASH_QUEUE waiting); the caller is told when it is
 * done, and events for other executables are not held up meanwhile.
 * Files above the configured size are not hashed ("too big").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "err.h"
#include "proc_hash.h"
#include "util.h"

#define CACHE_SLOTS 1024 /* power of two: 512 sets of two, the newest first */
#define HASH_JOBS 2
#define HASH_QUEUE 64

struct key {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};

struct entry {
    struct key k;
    int used;
    char sha[65];
    const char *note; /* static: "too big", "unreadable" */
};

struct job {
    uv_work_t req;
    struct proc_hasher *h;
    struct key k;
    uint64_t ticket;
    char path[4096];
    int rc;
    uint8_t digest[VG_SHA256_LEN];
    struct job *next;
};

struct proc_hasher {
    uv_loop_t *loop;
    uint64_t max_size;
    void (*ready)(void *ctx, uint64_t ticket, const char *sha, const char *note);
    void *ctx;
    struct entry cache[CACHE_SLOTS];
    struct job *queue, *queue_tail; /* waiting to start */
    struct job *running;            /* started (linked through next) */
    unsigned nqueued, nrunning;
    uint64_t next_ticket;
    int closing;
};

static uint64_t key_hash(const struct key *k)
{
    uint64_t h = k->dev * 0x9E3779B97F4A7C15ull ^ k->ino;
    h ^= (uint64_t)k->mtime_ns * 0xC2B2AE3D27D4EB4Full ^ k->size;
    return h ^ (h >> 29);
}

static int key_eq(const struct key *a, const struct key *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

/* The cache entry of k, or NULL.  A hit in the older half of its set
 * becomes the newer one. */
static struct entry *find(struct proc_hasher *h, const struct key *k)
{
    struct entry *e = &h->cache[key_hash(k) & (CACHE_SLOTS - 2)];
    if (e[0].used && key_eq(&e[0].k, k))
        return &e[0];
    if (e[1].used && key_eq(&e[1].k, k)) {
        struct entry t = e[0];
        e[0] = e[1];
        e[1] = t;
        return &e[0];
    }
    return NULL;
}

/* Where a new digest of k goes: the newer half of its set, the older
 * one (the least recently used) making room. */
static struct entry *place(struct proc_hasher *h, const struct key *k)
{
    struct entry *e = &h->cache[key_hash(k) & (CACHE_SLOTS - 2)];
    if (!(e[0].used && key_eq(&e[0].k, k)))
        e[1] = e[0];
    return &e[0];
}

struct proc_hasher *proc_hasher_new(uv_loop_t *loop, uint64_t max_size,
                                    void (*ready)(void *ctx, uint64_t ticket, const char *sha,
                                                  const char *note),
                                    void *ctx)
{
    struct proc_hasher *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->loop = loop;
    h->max_size = max_size;
    h->ready = ready;
    h->ctx = ctx;
    h->next_ticket = 1;
    return h;
}

static void work_cb(uv_work_t *req)
{
    struct job *j = req->data;
    j->rc = vg_sha256_file(j->path, j->k.size + 1, j->digest);
}

static void start_jobs(struct proc_hasher *h);

static void after_cb(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct proc_hasher *h = j->h;
    struct entry *e;
    char sha[65] = "";
    const char *note = NULL;

    /* Off the running list. */
    for (struct job **pp = &h->running; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    h->nrunning--;
    if (status == 0 && j->rc == 0) {
        vg_hex(j->digest, VG_SHA256_LEN, sha);
    } else {
        /* Changed while read (VG_ETOOBIG: it grew), or gone. */
        note = j->rc == VG_ETOOBIG ? "changed while hashed" : "unreadable";
    }
    if (!h->closing) {
        /* Failures are not cached: the next exec tries again. */
        if (!note) {
            e = place(h, &j->k);
            e->k = j->k;
            e->used = 1;
            snprintf(e->sha, sizeof(e->sha), "%s", sha);
            e->note = NULL;
        }
        h->ready(h->ctx, j->ticket, sha, note);
        start_jobs(h);
    }
    free(j);
    if (h->closing && !h->nrunning)
        free(h);
}

static void start_jobs(struct proc_hasher *h)
{
    while (h->queue && h->nrunning < HASH_JOBS) {
        struct job *j = h->queue;
        h->queue = j->next;
        if (!h->queue)
            h->queue_tail = NULL;
        h->nqueued--;
        j->req.data = j;
        if (uv_queue_work(h->loop, &j->req, work_cb, after_cb) != 0) {
            h->ready(h->ctx, j->ticket, "", "unreadable");
            free(j);
            continue;
        }
        j->next = h->running;
        h->running = j;
        h->nrunning++;
    }
}

int proc_hasher_lookup(struct proc_hasher *h, const char *path, char sha[65], const char **note,
                       uint64_t *ticket)
{
    struct stat st;
    struct key k;
    struct entry *e;
    struct job *j;

    sha[0] = '\0';
    *note = NULL;
    if (!path[0] || stat(path, &st) != 0) {
        *note = "gone";
        return 1;
    }
    if (!S_ISREG(st.st_mode)) {
        *note = "unreadable";
        return 1;
    }
    if ((uint64_t)st.st_size > h->max_size) {
        *note = "too big";
        return 1;
    }
    memset(&k, 0, sizeof(k));
    k.dev = st.st_dev;
    k.ino = st.st_ino;
    k.size = (uint64_t)st.st_size;
    k.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    e = find(h, &k);
    if (e) {
        memcpy(sha, e->sha, sizeof(e->sha));
        *note = e->note;
        return 1;
    }
    /* Being hashed already: wait for the same job. */
    for (j = h->running; j; j = j->next)
        if (key_eq(&j->k, &k)) {
            *ticket = j->ticket;
            return 0;
        }
    for (j = h->queue; j; j = j->next)
        if (key_eq(&j->k, &k)) {
            *ticket = j->ticket;
            return 0;
        }
    if (h->nqueued >= HASH_QUEUE || strlen(path) >= sizeof(j->path)) {
        *note = "busy";
        return -1;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        *note = "busy";
        return -1;
    }
    j->h = h;
    j->k = k;
    j->ticket = h->next_ticket++;
    snprintf(j->path, sizeof(j->path), "%s", path);
    if (h->queue_tail)
        h->queue_tail->next = j;
    else
        h->queue = j;
    h->queue_tail = j;
    h->nqueued++;
    *ticket = j->ticket;
    start_jobs(h);
    return 0;
}

void proc_hasher_close(struct proc_hasher *h)
{
    if (!h)
        return;
    /* Waiting jobs never start; running ones finish on their thread and
     * are dropped (the last one frees the hasher). */
    while (h->queue) {
        struct job *j = h->queue;
        h->queue = j->next;
        free(j);
    }
    h->queue_tail = NULL;
    h->nqueued = 0;
    h->closing = 1;
    if (!h->nrunning)
        free(h);
}
