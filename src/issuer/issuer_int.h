/*
 * Internals of the issuer module shared by its files (server.c, client.c,
 * wire.c) and its tests: the length-prefixed exchange over an established
 * attested connection, and the client's exchange with its parts given
 * separately so that the tests can play the attacker (a CSR for another
 * key or another identity, a request sent twice, a provider that replays a
 * captured attestation). Nothing here is exported from libvmesh.
 */
#ifndef VMESH_ISSUER_INT_H
#define VMESH_ISSUER_INT_H

#include "vmesh/issuer.h"

#include <openssl/err.h>

/* Reads one u32-length-prefixed payload of at most cap bytes from conn (a
 * non-blocking fd) before deadline_ns (vmesh_time_mono_ns). VMESH_ERR_CLOSED
 * at a clean end before the first byte; VMESH_ERR_TOO_LARGE when the length
 * is above cap (*announced holds it). */
vmesh_err iss_read_msg(vmesh_atls_conn *conn, int fd, size_t cap, uint64_t deadline_ns, vmesh_buf *out,
                       size_t *announced) VMESH_WUR;
/* Writes one u32-length-prefixed payload and flushes it. */
vmesh_err iss_write_msg(vmesh_atls_conn *conn, int fd, const uint8_t *p, size_t n, uint64_t deadline_ns) VMESH_WUR;
/* Drives the handshake of a non-blocking connection until done or deadline. */
vmesh_err iss_handshake(vmesh_atls_conn *conn, int fd) VMESH_WUR;

/* The client's exchange: connects, runs the attested handshake with prov
 * (the attester's provider, already limited to fresh mode), sends nreq
 * requests (CSR for csr_key naming csr_id, NULL: none) back to back, and
 * reads the answers; *last gets the last one. Returns VMESH_OK when every
 * answer was read (whatever their status); an error when the connection
 * failed (the atls refusal in the message). */
vmesh_err iss_client_exchange(const vmesh_issuer_client *c, const vmesh_atls_provider *prov, const vmesh_key *csr_key,
                              const char *csr_id, unsigned nreq, vmesh_issuer_answer *last) VMESH_WUR;
/* The provider an agent attests with toward the issuer: the agent's, fresh
 * mode only, asking nothing of the issuer, never key-bound. */
void iss_client_provider(vmesh_agent *agent, vmesh_atls_provider *p);

#endif
