/* libFuzzer target: an agent's triage upload, up to 8 UploadChunks
 * (vigil.v1.UploadChunk) for a collect command the harness queued (an
 * upload or command id of FZ_CMD_PLACEHOLDER names it), each through the
 * Envelope decoder and the collector's chunk handling (checks, .part file,
 * resume, size limit, digest on the last chunk, audit).
 *
 * Input: records of [length: 2 bytes, big-endian][UploadChunk bytes]. */
#include <stddef.h>
#include <stdint.h>

#include "collector_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conn *c = fz_conn(VG_ROLE_AGENT, FZ_AGENT, CONN_AGENT);
    char id[VG_UUID_STR];
    size_t off = 0;

    if (fz_hello(c) == 0) {
        fz_command("collect", id);
        for (int i = 0; i < 8 && off + 2 <= size && !c->closing; i++) {
            size_t n = (size_t)data[off] << 8 | data[off + 1];
            Vigil__V1__Envelope *env;
            off += 2;
            if (n > size - off)
                n = size - off;
            if ((env = fz_decode("upload_chunk", data + off, n)) != NULL) {
                fz_placeholder(env->upload_chunk->upload_id, id);
                fz_placeholder(env->upload_chunk->command_id, id);
                server_on_env(c, env);
            }
            off += n;
        }
        fz_command_finish(c, id);
    }
    fz_conn_drop(c);
    return 0;
}
