/* libFuzzer target: any Envelope (vigil.v1.Envelope, whole) an agent
 * connection may send, before its hello or after it (the first byte):
 * hello, batch, heartbeat, command result, renewal request, upload chunk,
 * goodbye, and the bodies an agent may not send (operator requests,
 * answers), through the decoder, the session code and the group commit. */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"
#include "pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conn *c;
    ProtobufCMessage *m = NULL;

    if (size < 1)
        return 0;
    c = fz_conn(VG_ROLE_AGENT, FZ_AGENT, CONN_AGENT);
    if ((data[0] & 1) == 0 || fz_hello(c) == 0) {
        if (vg_pb_unpack(&vigil__v1__envelope__descriptor, data + 1, size - 1, &m) == 0) {
            server_on_env(c, (Vigil__V1__Envelope *)m);
            server_commit(c->srv);
        }
    }
    fz_conn_drop(c);
    return 0;
}
