/* libFuzzer target: an agent's Hello (vigil.v1.Hello) through the
 * Envelope decoder and the collector's session code (checks, host row,
 * certificate seen, HelloAck, queued commands delivered), then a
 * heartbeat and a goodbye on the session it opened. */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t hb[] = { 0x08, 0x01 }; /* Heartbeat{1: 1} */
    struct conn *c = fz_conn(VG_ROLE_AGENT, FZ_AGENT, CONN_AGENT);
    Vigil__V1__Envelope *env = fz_decode("hello", data, size);

    if (env)
        server_on_env(c, env);
    if (c->hello_done && !c->closing && (env = fz_decode("heartbeat", hb, sizeof(hb))))
        server_on_env(c, env);
    if (c->hello_done && !c->closing && (env = fz_decode("goodbye", NULL, 0)))
        server_on_env(c, env);
    fz_conn_drop(c);
    return 0;
}
