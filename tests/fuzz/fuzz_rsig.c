/*
 * libFuzzer target: report manifests (lib/rsig.c), which a verifier
 * reads from wherever the report travelled.  A manifest that parses
 * formats back to bytes that parse to the same manifest; the signed
 * path refuses everything not signed by the CA's collector.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "rsig.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_cert *ca;

static void make_ca(void)
{
    struct vg_cert_req req;
    struct vg_key *k = NULL;
    char *pem = NULL;
    memset(&req, 0, sizeof(req));
    req.cn = "Fuzz CA";
    req.is_ca = 1;
    req.not_before_ms = vg_time_now_ms() - 60000;
    req.not_after_ms = vg_time_now_ms() + 86400000LL;
    if (vg_key_generate(&k) || vg_cert_issue(&req, k, NULL, k, &pem) ||
        vg_cert_parse((const uint8_t *)pem, strlen(pem) + 1, &ca))
        abort();
    vg_key_free(k);
    free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_rsig m, m2;
    char why[300], *out = NULL;
    size_t len = 0;
    int rc;

    if (!ca)
        make_ca();
    rc = vg_rsig_parse((const char *)data, size, &m, why, sizeof(why));
    if (rc != 0) {
        if (rc != VG_EPROTO || !why[0])
            abort();
    } else {
        if (m.nfiles == 0 || m.nfiles > VG_RSIG_FILES_MAX)
            abort();
        for (size_t i = 0; i < m.nfiles; i++)
            if (vg_rsig_name_check(m.files[i].name) != 0)
                abort();
        if (vg_rsig_format(&m, &out, &len) != 0)
            abort();
        if (vg_rsig_parse(out, len, &m2, why, sizeof(why)) != 0)
            abort();
        if (strcmp(m.report_id, m2.report_id) || strcmp(m.format, m2.format) ||
            strcmp(m.layout, m2.layout) || strcmp(m.collector, m2.collector) ||
            m.as_of_ms != m2.as_of_ms || m.generated_ms != m2.generated_ms ||
            m.nfiles != m2.nfiles)
            abort();
        for (size_t i = 0; i < m.nfiles; i++)
            if (strcmp(m.files[i].name, m2.files[i].name) ||
                strcmp(m.files[i].sha256, m2.files[i].sha256))
                abort();
        free(out);
    }
    /* Nobody signed these bytes: never accepted. */
    if (vg_rsig_verify((const char *)data, size, data, size < 72 ? size : 72, "", ca, &m, why,
                       sizeof(why)) == 0)
        abort();
    return 0;
}
