/*
 * Installing the agent's certificate and key (certs.c): the root parent
 * writes them; the network child only obtains them.
 */
#ifndef VG_CERTS_H
#define VG_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

/* Checks a renewed key (PEM) and certificate (DER or PEM) -- they match,
 * the certificate is this agent's (CN agent_id, role agent; with
 * agent_id NULL, a first enrollment: any valid agent name) and verifies
 * against [tls] ca -- then installs them over [tls] key and [tls] cert:
 * KEY.next and CERT.next written (0600 and 0644), then renamed in that
 * order.  Returns 0, or an error with err. */
int certs_install(const struct agent_conf *c, const char *agent_id, const uint8_t *key,
                  size_t keylen, const uint8_t *cert, size_t certlen, char *err, size_t errlen);

/* A renewal stopped between its two renames (the key is new, the
 * certificate still CERT.next): finishes it.  At start, before the
 * certificate is read. */
void certs_finish_rotation(const struct agent_conf *c);

/* The agent id: the CN of [tls] cert.  Returns 0, or an error with err. */
int certs_agent_id(const struct agent_conf *c, char *out, size_t outlen, char *err,
                   size_t errlen);

#endif
