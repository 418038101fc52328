/* Uploads of triage packages to the collector (upload.c). */
#ifndef VG_UPLOAD_H
#define VG_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "crypto.h"

struct uploader;

/* Opens STATE_DIR/uploads and queues what waits there.  NULL on
 * allocation failure. */
struct uploader *uploader_new(struct agent *a);
void uploader_free(struct uploader *u);
/* Where packages are written before they are queued. */
const char *uploader_dir(const struct uploader *u);
/* Queues <dir>/<id>.tar.lz4 (already written) for upload, durably.
 * Returns 0 or an error. */
int uploader_add(struct uploader *u, const char *id, const char *command_id, const char *name,
                 uint64_t size, const uint8_t sha256[VG_SHA256_LEN]);
/* Transport hooks: a new connection, room to send, an acknowledgement. */
void uploader_reset(struct uploader *u);
void uploader_pump(struct uploader *u);
void uploader_on_ack(struct uploader *u, const Vigil__V1__UploadAck *a);
/* Packages waiting. */
size_t uploader_pending(const struct uploader *u);

#endif
