/*
 * Vigil error codes.
 *
 * Functions return 0 on success and a negative value on failure: either a
 * negated errno (-ENOMEM, -EINVAL, ...) or one of the VG_E* codes below,
 * which live in a range no errno reaches.  vg_strerror() names either kind.
 */
#ifndef VG_ERR_H
#define VG_ERR_H

enum {
    VG_EBASE = -10000,
    VG_ETOOBIG = VG_EBASE,    /* a size is over its hard limit */
    VG_ETRUNC = VG_EBASE - 1, /* input ends inside a record/frame */
    VG_ECORRUPT = VG_EBASE - 2, /* checksum or structure is wrong */
    VG_ELZ4 = VG_EBASE - 3,   /* lz4 payload does not decompress to its stated size */
    VG_EDECODE = VG_EBASE - 4, /* protobuf payload does not decode */
    VG_EPROTO = VG_EBASE - 5, /* well-formed but not allowed here */
    VG_EVERSION = VG_EBASE - 6, /* unknown format/protocol version */
    VG_ECONFIG = VG_EBASE - 7, /* configuration is invalid */
    VG_ECRYPTO = VG_EBASE - 8, /* a cryptographic operation failed */
    VG_ECERT = VG_EBASE - 9,  /* a certificate does not verify or is unfit */
    VG_EAGAIN = VG_EBASE - 10, /* need more input */
    VG_EKEYMODE = VG_EBASE - 11, /* private key file readable by group or others */
    VG_ELAST = VG_EBASE - 12
};

/* Text for a code returned by a vg_ function (negative errno or VG_E*).
 * Returns a static string; never NULL. */
const char *vg_strerror(int err);

#endif
