/*
 * vmesh issuer: the attested SVID issuer (DECISIONS D44, docs/ATLS.md
 * "Key-bound SVIDs from an attested issuer"). A key-bound sidecar (D38)
 * needs an X509-SVID for its in-memory AK, and no CA key may sit on the
 * node. The issuer (`vmesh ca serve`) holds the CA; a node connects to it
 * over the attested channel (atls, mutual TLS 1.3) with its bootstrap SVID
 * from files and attests in fresh mode, so its evidence binds
 * ak_nonce(AK, this connection's binder). Over that connection it sends
 * one request: a PKCS#10 CSR for the AK, signed by the AK. The issuer
 * admits the connection only when its local verifier's appraisal affirms
 * under its policy, then checks that the CSR's key is the attested AK (the
 * evidence's ak_nonce recomputed from the CSR key and this connection's
 * binder), that the CSR verifies (possession), that the CSR asks for no
 * other SPIFFE ID than the client certificate's, and issues a short-lived
 * leaf for that ID. Nothing a request says chooses the identity. Every
 * refusal has a name: an atls reason for the attestation (binder-mismatch,
 * not-affirming, ...), a status and a name for the request (403
 * key-mismatch, 403 identity-refused, 409 replayed, ...).
 *
 * Wire after the attested handshake, each direction: u32 big-endian length,
 * then a CBOR map (strict: the one CBOR reader, no unknown or duplicate
 * keys, definite lengths, nothing after the map):
 *   request  {1: "keybound-svid/1", 2: CSR DER bstr, ? 3: ttl uint (seconds)}
 *   answer   {1: status uint, 2: name tstr, 3: detail tstr, ? 4: chain PEM bstr}
 * Status codes are HTTP's: 200 issued (4 present: leaf, then the CA), 400,
 * 403, 409, 413, 500.
 */
#ifndef VMESH_ISSUER_H
#define VMESH_ISSUER_H

#include "vmesh/agent.h"
#include "vmesh/atls.h"
#include "vmesh/core.h"
#include "vmesh/policy.h"
#include "vmesh/verifier.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_ISSUER_OP "keybound-svid/1"
#define VMESH_ISSUER_REQUEST_MAX ((size_t)8192)   /* request payload bytes */
#define VMESH_ISSUER_ANSWER_MAX ((size_t)65536)   /* answer payload bytes */
#define VMESH_ISSUER_CSR_MAX ((size_t)4096)       /* CSR DER bytes */
#define VMESH_ISSUER_NAME_MAX 64                  /* answer name bytes */
#define VMESH_ISSUER_DETAIL_MAX 512               /* answer detail bytes */
#define VMESH_ISSUER_DEFAULT_MAX_TTL 3600         /* seconds */
#define VMESH_ISSUER_MIN_TTL 60                   /* seconds */

/* ---- the wire (pure; fuzzed) ------------------------------------------------------ */

/* Request payload; ttl 0: not sent (the issuer's maximum). */
vmesh_err vmesh_issuer_request_encode(const uint8_t *csr, size_t csr_len, uint64_t ttl, vmesh_buf *out) VMESH_WUR;
/* Strict decode of a request payload (at most VMESH_ISSUER_REQUEST_MAX
 * bytes): key 1 must be VMESH_ISSUER_OP, key 2 a CSR of 1..VMESH_ISSUER_CSR_MAX
 * bytes (borrowed from p; not parsed here), key 3 optional. *ttl 0 when
 * absent. */
vmesh_err vmesh_issuer_request_decode(const uint8_t *p, size_t n, const uint8_t **csr, size_t *csr_len,
                                      uint64_t *ttl) VMESH_WUR;

typedef struct {
    unsigned status;
    char name[VMESH_ISSUER_NAME_MAX + 1];
    char detail[VMESH_ISSUER_DETAIL_MAX + 1];
    vmesh_buf chain; /* PEM: leaf then CA; status 200 only */
} vmesh_issuer_answer;
void vmesh_issuer_answer_init(vmesh_issuer_answer *a);
void vmesh_issuer_answer_free(vmesh_issuer_answer *a);
vmesh_err vmesh_issuer_answer_encode(unsigned status, const char *name, const char *detail, const uint8_t *chain,
                                     size_t chain_len, vmesh_buf *out) VMESH_WUR;
/* Strict decode (at most VMESH_ISSUER_ANSWER_MAX bytes): status 100..599,
 * name 1..64 bytes of [a-z0-9-], detail text, key 4 present exactly when
 * the status is 200. */
vmesh_err vmesh_issuer_answer_decode(const uint8_t *p, size_t n, vmesh_issuer_answer *a) VMESH_WUR;

/* Checks a CSR (DER PKCS#10): it parses, nothing follows it, its key is EC
 * P-256, its signature verifies with that key (possession), and it asks
 * for at most one SubjectAltName, a URI equal to `id` (an empty request
 * names no identity; the issued one is always `id`). On success spki
 * (reset) gets the key's SubjectPublicKeyInfo DER. On refusal *status and
 * *name say how to answer (400 malformed / pop-failed / unsupported-key,
 * 403 identity-refused) and the error detail why. */
vmesh_err vmesh_issuer_csr_check(const uint8_t *der, size_t n, const char *id, vmesh_buf *spki, unsigned *status,
                                 const char **name) VMESH_WUR;
/* A CSR for key (signed by it) naming `id` as a URI SAN, or no SAN when id
 * is NULL; DER into out (reset). */
vmesh_err vmesh_issuer_csr_make(const vmesh_key *key, const char *id, vmesh_buf *out) VMESH_WUR;

/* The binder of an issuance connection (what the client's fresh-mode
 * attestation binds): the atls binder of the client's role over this
 * connection (docs/ATLS.md "Binding"). conn must be established. */
vmesh_err vmesh_issuer_conn_binder(vmesh_atls_conn *conn, uint8_t out[32]) VMESH_WUR;

/* ---- the issuer (server) ------------------------------------------------------------ */

typedef struct {
    const char *ca_dir;          /* the CA (vmesh ca init): ca.pem, ca.key */
    const char *listen;          /* HOST:PORT (port 0: any) */
    const char *cert_file, *key_file; /* the issuer's own serving SVID (chain, key) */
    const char *bundle_file;     /* trust bundle for client certificates */
    /* Clients admitted: a SPIFFE ID or pattern; NULL: every ID of the CA's
     * trust domain ("spiffe://<td>/" "*"). */
    const char *clients;
    vmesh_verifier *verifier;    /* appraisal engine with the reference values (borrowed) */
    /* Appraisal policy (a reference is taken); NULL: the default policy
     * with modes ["fresh"]. Must accept fresh: issuance is bound to its
     * connection only in fresh mode. */
    vmesh_policy *policy;
    int64_t max_ttl;             /* seconds; 0: VMESH_ISSUER_DEFAULT_MAX_TTL */
    unsigned max_connections;    /* open at once; 0: 64 */
    unsigned client_connections; /* open at once per client address; 0: 4 */
    uint32_t deadline_ms;        /* handshake + request + answer; 0: 10000 */
} vmesh_issuer_config;

typedef struct vmesh_issuer vmesh_issuer;

/* Loads the CA, the serving SVID and the policy, binds the listener. */
vmesh_err vmesh_issuer_new(const vmesh_issuer_config *cfg, vmesh_issuer **out) VMESH_WUR;
/* Serves on a thread of its own (one thread per connection, capped). */
vmesh_err vmesh_issuer_start(vmesh_issuer *s) VMESH_WUR;
uint16_t vmesh_issuer_port(const vmesh_issuer *s);
/* Stops accepting, waits for open exchanges (each bounded by the deadline). */
void vmesh_issuer_stop(vmesh_issuer *s);
void vmesh_issuer_free(vmesh_issuer *s); /* stops first; NULL is fine */

typedef struct {
    uint64_t accepted;           /* connections accepted */
    uint64_t issued;             /* SVIDs issued */
    uint64_t refused_attestation;/* handshakes refused (any atls reason, TLS failures) */
    uint64_t refused_request;    /* requests answered 4xx/5xx */
    uint64_t refused_busy;       /* connections closed: over max or per-client connections */
} vmesh_issuer_stats;
void vmesh_issuer_stats_get(vmesh_issuer *s, vmesh_issuer_stats *out);

/* ---- the client ---------------------------------------------------------------------- */

typedef struct {
    const char *addr;            /* the issuer's HOST:PORT */
    const char *issuer_id;       /* its SPIFFE ID (or pattern) */
    const char *cert_file, *key_file; /* our bootstrap SVID (files): used toward the issuer only */
    const char *bundle_file;
    uint32_t timeout_ms;         /* connect + handshake + answer; 0: 10000 */
    uint64_t ttl;                /* seconds asked for; 0: the issuer's maximum */
} vmesh_issuer_client;

/* Obtains an X509-SVID for agent's key-bound AK (vmesh_agent_tls_key): a
 * connection to the issuer on which the agent attests in fresh mode, a CSR
 * signed by the AK, the answer. chain_pem (reset) gets leaf + CA,
 * *not_after (may be NULL) the leaf's expiry (unix seconds). A refusal by
 * the issuer is VMESH_ERR_POLICY with its name and detail in the message
 * (the attestation's atls reason, or the answer's status and name). */
vmesh_err vmesh_issuer_obtain(const vmesh_issuer_client *c, vmesh_agent *agent, vmesh_buf *chain_pem,
                              int64_t *not_after) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
