/* libFuzzer target: an EnrollRequest (vigil.v1.EnrollRequest) on the
 * enrollment port, through the Envelope decoder and the collector's
 * enrollment (token lookup and limits, CSR parsing and its signature, the
 * certificate issued, records and audit).  FZ_TOKEN is a valid token;
 * the seeds carry it and a real CSR. */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conn *c = fz_conn(VG_ROLE_NONE, "", CONN_ENROLL);
    Vigil__V1__Envelope *env = fz_decode("enroll_request", data, size);

    if (env)
        server_on_env(c, env);
    fz_conn_drop(c);
    return 0;
}
