/* libFuzzer target: an OperatorRequest (vigil.v1.OperatorRequest) from an
 * auditor, a responder or an admin (the first byte), through the Envelope
 * decoder, api.c's dispatch table and role check, and every handler
 * (queries, commands, tokens, revocation, collections, advisory imports,
 * exceptions, reports: a report runs on the thread pool and is waited
 * for).  The store holds what the other runs left: FZ_AGENT's host, its
 * commands and collections. */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum vg_role roles[] = { VG_ROLE_AUDITOR, VG_ROLE_RESPONDER, VG_ROLE_ADMIN };
    static struct conn *agent;
    struct server *s = fz_server();
    struct conn *c;
    Vigil__V1__Envelope *env;

    if (size < 1)
        return 0;
    /* A connected agent, so that commands are delivered at once; a revoke
     * closes it, and the next run connects another. */
    if (agent && agent->closing) {
        fz_conn_drop(agent);
        agent = NULL;
    }
    if (!agent) {
        agent = fz_conn(VG_ROLE_AGENT, FZ_AGENT, CONN_AGENT);
        if (fz_hello(agent) != 0) {
            fz_conn_drop(agent);
            agent = NULL;
        }
    }
    c = fz_conn(roles[data[0] % 3], "fz-operator", CONN_OPERATOR);
    if ((env = fz_decode("operator_request", data + 1, size - 1)) != NULL)
        server_on_env(c, env);
    while (s->reports_running)
        uv_run(s->loop, UV_RUN_ONCE);
    fz_conn_drop(c);
    return 0;
}
