#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "util.h"

void vg_buf_init(struct vg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void vg_buf_free(struct vg_buf *b)
{
    if (b->data) {
        vg_zeroize(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

void vg_buf_reset(struct vg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int vg_buf_reserve(struct vg_buf *b, size_t extra)
{
    size_t need, ncap;
    uint8_t *nd;

    /* len + extra <= max, and room for the NUL must not wrap. */
    if (extra > b->max || b->len > b->max - extra || b->len + extra == SIZE_MAX)
        return VG_ETOOBIG;
    need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (b->max < SIZE_MAX && ncap > b->max + 1)
        ncap = b->max + 1;
    nd = realloc(b->data, ncap);
    if (!nd)
        return -ENOMEM;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int vg_buf_append(struct vg_buf *b, const void *p, size_t n)
{
    int rc = vg_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int vg_buf_append_str(struct vg_buf *b, const char *s)
{
    return vg_buf_append(b, s, strlen(s));
}

int vg_buf_printf(struct vg_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    rc = vg_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void vg_buf_shrink(struct vg_buf *b)
{
    if (b->len == 0 && b->cap > 64 * 1024)
        vg_buf_free(b); /* (keeps max) */
}

size_t vg_buf_trim(struct vg_buf *b, size_t keep)
{
    uint8_t *nd;

    if (b->cap <= keep || b->len + 1 > keep)
        return b->cap;
    if (b->len == 0) {
        vg_buf_free(b);
        return 0;
    }
    nd = malloc(keep);
    if (!nd)
        return b->cap; /* keep the larger storage; try again later */
    memcpy(nd, b->data, b->len + 1);
    vg_zeroize(b->data, b->cap);
    free(b->data);
    b->data = nd;
    b->cap = keep;
    return b->cap;
}

void vg_buf_consume(struct vg_buf *b, size_t n)
{
    if (n >= b->len) {
        vg_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

uint8_t *vg_buf_take(struct vg_buf *b, size_t *len_out)
{
    uint8_t *d = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int vg_buf_append_field(struct vg_buf *b, const char *v)
{
    char len[24];
    int n = snprintf(len, sizeof(len), "%zu:", strlen(v));
    if (vg_buf_append(b, len, (size_t)n) || vg_buf_append(b, v, strlen(v)) ||
        vg_buf_append(b, "\n", 1))
        return -ENOMEM;
    return 0;
}
