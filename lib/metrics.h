/*
 * A Prometheus text endpoint: a tiny HTTP/1.1 server on a libuv loop that
 * answers GET /metrics (and HEAD) with what a render callback writes, and
 * helpers that write the text exposition format (version 0.0.4).
 *
 * The endpoint is unauthenticated, so it listens on loopback unless the
 * caller allows otherwise.  Each request gets one response and the
 * connection closes (Connection: close):
 *
 *   GET /metrics[?...] HTTP/1.x   200, the render callback's text
 *   HEAD /metrics                 200, headers only
 *   another method                405 (Allow: GET, HEAD)
 *   another path                  404
 *   not HTTP/1.x, bad syntax      400
 *   headers over 8 KiB            431
 *   no complete request in 5 s    the connection is closed
 *
 * At most 16 connections at once; more are accepted and closed at once.
 * Rendering runs on the loop: keep it cheap (counters already held).
 */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "buf.h"

/* A rendering in progress: the text and the first error of any append. */
struct vg_prom {
    struct vg_buf b;
    int err;
};

/* Writes every metric into p (with the helpers below).  ctx: as given to
 * vg_metrics_start. */
typedef void (*vg_metrics_render_fn)(void *ctx, struct vg_prom *p);

struct vg_metrics;

/* "HOST:PORT" (IPv4, or [IPv6]:PORT) for the endpoint into ss.  Unless
 * allow_remote, only a loopback address (127.0.0.0/8, ::1) is taken.
 * key names the setting in messages ("[metrics] listen").  Returns 0, or
 * VG_ECONFIG with the reason in err. */
int vg_metrics_parse_listen(const char *spec, int allow_remote, const char *key,
                            struct sockaddr_storage *ss, char *err, size_t errlen);
/* Listens on spec ([metrics] listen, checked as vg_metrics_parse_listen
 * does) on loop, and logs where.  Returns 0 with *out (freed by
 * vg_metrics_stop; NULL when spec is empty: no endpoint), or VG_ECONFIG
 * (a bad address, or the bind failed) with err. */
int vg_metrics_listen(uv_loop_t *loop, const char *spec, int allow_remote,
                      vg_metrics_render_fn fn, void *ctx, struct vg_metrics **out, char *err,
                      size_t errlen);
/* Closes the listener and every connection; the memory is freed once the
 * last close callback has run.  NULL: nothing.  fn is never called again. */
void vg_metrics_stop(struct vg_metrics *m);

/* ---- the text format ----
 *
 *   # HELP vigil_x_total What it counts.
 *   # TYPE vigil_x_total counter
 *   vigil_x_total{reason="a"} 3
 *
 * Names are the caller's constants ([a-zA-Z_:][a-zA-Z0-9_:]*); label
 * values are escaped here (\\, \", \n).  Errors (the buffer's maximum,
 * memory) stick in p->err; the helpers do nothing after one. */

/* The HELP and TYPE lines ("counter", "gauge", "histogram"). */
void vg_prom_family(struct vg_prom *p, const char *name, const char *type, const char *help);
/* One sample: name, then {label="value"} when label is not NULL. */
void vg_prom_u64(struct vg_prom *p, const char *name, const char *label, const char *value,
                 uint64_t v);
void vg_prom_double(struct vg_prom *p, const char *name, const char *label, const char *value,
                    double v);
/* A family of one unlabelled sample. */
void vg_prom_counter(struct vg_prom *p, const char *name, const char *help, uint64_t v);
void vg_prom_gauge(struct vg_prom *p, const char *name, const char *help, uint64_t v);
/* A histogram: n upper bounds le[] (ascending), counts[] the observations
 * in each bucket alone (not cumulative: this makes them so), over the
 * observations above the last bound, sum their total. */
void vg_prom_histogram(struct vg_prom *p, const char *name, const char *help, const double *le,
                       const uint64_t *counts, size_t n, uint64_t over, double sum);

#endif
