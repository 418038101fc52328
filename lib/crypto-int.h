/*
 * Library-internal: the mbedtls objects behind struct vg_key and struct
 * vg_cert, for lib/tls.c.  Nothing outside lib/ includes this.
 */
#ifndef VG_CRYPTO_INT_H
#define VG_CRYPTO_INT_H

#include <stddef.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

struct vg_key {
    mbedtls_pk_context pk;
};

struct vg_cert {
    mbedtls_x509_crt crt;
};

/* mbedtls f_rng backed by getrandom(2). */
int vg__rng(void *ctx, unsigned char *out, size_t len);

#endif
