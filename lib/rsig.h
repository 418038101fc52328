/*
 * Report manifests: one report, one signature.  A report is a set of
 * files (the findings and hosts CSVs, or one JSON, or one HTML file);
 * vigilctl writes beside the main file FILE:
 *
 *   FILE.manifest        the set's SHA-256s, below
 *   FILE.manifest.sig    with --sign: the collector's DER ECDSA (P-256)
 *                        signature, SHA-256, of the manifest's bytes
 *   FILE.collector.pem   with --sign: the signing collector's certificate
 *
 * The manifest is what `sha256sum -c` reads in the files' directory
 * (GNU coreutils skips lines that start with '#', with no warning even
 * under --strict), so openssl and coreutils alone can check a report:
 *
 *   # vigil-report-manifest 1
 *   # report_id: 0f6e...           header.report_id, 32 lower-case hex
 *   # format: csv                  csv, json or html
 *   # layout: summary              html only: summary or full
 *   # as_of: 2026-12-01T00:00:00Z
 *   # collector: collector-1       its certificate's CN ("" if unknown)
 *   # generated: 2026-12-03T21:40:12.345Z   also the signing time
 *   <64 hex>  report.csv           the main file first
 *   <64 hex>  report-hosts.csv
 *
 * LF line ends; the first line exactly as shown; the "# key: value"
 * lines before the file lines (readers ignore keys they do not know).
 * Names are base names of at most VG_RSIG_NAME_MAX bytes: no '/', '\',
 * control characters, not "." or ".." (sha256sum would escape a '\' or
 * a newline, and a verifier opens only files beside the manifest).
 */
#ifndef VG_RSIG_H
#define VG_RSIG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define VG_RSIG_MAX (64 * 1024) /* a manifest or certificate file is refused past this */
#define VG_RSIG_NAME_MAX 200
#define VG_RSIG_FILES_MAX 8
#define VG_RSIG_ID_HEX 33 /* 16 bytes as hex, and the NUL */

struct vg_rsig_file {
    char name[VG_RSIG_NAME_MAX + 1];
    char sha256[VG_SHA256_HEX];
};

struct vg_rsig {
    char report_id[VG_RSIG_ID_HEX];
    char format[8];
    char layout[16]; /* "" unless html */
    int64_t as_of_ms;
    int64_t generated_ms; /* the signing time too */
    char collector[VG_CERT_NAME_MAX + 1];
    size_t nfiles;
    struct vg_rsig_file files[VG_RSIG_FILES_MAX];
};

/* A file name a manifest may list.  Returns 0 or -EINVAL. */
int vg_rsig_name_check(const char *name);
/* The name of a further file of the set: suffix goes before the
 * extension ("report.csv" + "-hosts" -> "report-hosts.csv"; no
 * extension: appended).  Returns 0, or -ENAMETOOLONG if out (len bytes)
 * is too small. */
int vg_rsig_name_suffix(const char *name, const char *suffix, char *out, size_t len);

/* Writes the manifest of m: *out is a new NUL-terminated string
 * (free()), *len without the NUL.  Returns 0, -EINVAL (a field or name
 * that cannot be written, no files) or -ENOMEM. */
int vg_rsig_format(const struct vg_rsig *m, char **out, size_t *len);
/* Parses a manifest (not its signature).  Returns 0 with m filled, or
 * VG_EPROTO with the reason in why. */
int vg_rsig_parse(const char *text, size_t len, struct vg_rsig *m, char *why, size_t whylen);
/* Checks a signed manifest: it parses, cert_pem is a collector's
 * certificate from the CA bundle ca valid at the manifest's generation
 * time (evidence outlives certificates), its CN is the manifest's
 * collector, and sig (DER) is its signature of the manifest's bytes.
 * The files themselves are not read.  Returns 0 with m filled; VG_EPROTO
 * (malformed), VG_ECERT (not a collector of this CA) or VG_ECRYPTO (the
 * signature does not match: manifest or signature altered, or another
 * key), with the reason in why. */
int vg_rsig_verify(const char *text, size_t len, const uint8_t *sig, size_t siglen,
                   const char *cert_pem, const struct vg_cert *ca, struct vg_rsig *m, char *why,
                   size_t whylen);

#endif
