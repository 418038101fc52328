/* libFuzzer target: an agent's CommandResult (vigil.v1.CommandResult)
 * after its hello, for a command the harness queued (isolate, release or
 * collect, by the first byte; a command id of FZ_CMD_PLACEHOLDER names
 * it), through the Envelope decoder and the collector's result handling
 * (state machine, audit, isolation state). */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const actions[] = { "isolate", "release", "collect" };
    struct conn *c;
    Vigil__V1__Envelope *env;
    char id[VG_UUID_STR];

    if (size < 1)
        return 0;
    c = fz_conn(VG_ROLE_AGENT, FZ_AGENT, CONN_AGENT);
    if (fz_hello(c) == 0) {
        fz_command(actions[data[0] % 3], id);
        if ((env = fz_decode("command_result", data + 1, size - 1)) != NULL) {
            fz_placeholder(env->command_result->command_id, id);
            server_on_env(c, env);
        }
        fz_command_finish(c, id);
    }
    fz_conn_drop(c);
    return 0;
}
