/* libFuzzer target: an agent's Batch (vigil.v1.Batch) on a session past
 * its hello (a new stream epoch each run), through the Envelope decoder,
 * the session code (limits, queue) and the group commit: every Event
 * kind's storage path in the real SQLite store, then the acknowledgement. */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conn *c = fz_conn(VG_ROLE_AGENT, FZ_AGENT, CONN_AGENT);
    Vigil__V1__Envelope *env;

    if (fz_hello(c) == 0 && (env = fz_decode("batch", data, size)) != NULL) {
        server_on_env(c, env);
        server_commit(c->srv);
    }
    fz_conn_drop(c);
    return 0;
}
