/*
 * vmesh pki: SPIFFE identities (spiffe-id syntax, X509-SVID checks,
 * pattern matching for policy rules) and a small file-based CA that issues
 * X509-SVIDs for tests and demos (`vmesh ca`). The CA is for tests and demos
 * only: it keeps its key in a plain 0600 file and never talks to a network.
 */
#ifndef VMESH_PKI_H
#define VMESH_PKI_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"

#include <openssl/types.h>
#include <openssl/x509.h>

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Longest SPIFFE ID we accept ("SPIFFE implementations MUST support SPIFFE
 * URIs up to 2048 bytes in length", SPIFFE-ID §2.3). */
#define VMESH_PKI_SPIFFE_ID_MAX 2048
/* "Trust domain names SHOULD NOT exceed 255 bytes" (SPIFFE-ID §2.1). */
#define VMESH_PKI_TRUST_DOMAIN_MAX 255

/* Checks a trust domain name: non-empty, at most 255 bytes, only
 * [a-z0-9.-_] (lower case). */
vmesh_err vmesh_pki_trust_domain_validate(const char *td) VMESH_WUR;
/* Checks "spiffe://<trust-domain>[/<segment>...]": scheme lower case, valid
 * trust domain, each path segment non-empty, not "." or "..", only
 * [A-Za-z0-9.-_]; no trailing "/", no query, fragment, port or userinfo. */
vmesh_err vmesh_pki_spiffe_id_validate(const char *id) VMESH_WUR;
/* Trust domain of a valid ID, as a new string (free()). */
vmesh_err vmesh_pki_spiffe_id_trust_domain(const char *id, char **out) VMESH_WUR;

/* A scope entry names whose reference values a provider's count for
 * (docs/FEDERATION.md "Scoped providers"): a trust domain ("x.example", no
 * scheme) or a SPIFFE ID prefix with a path ("spiffe://x.example/ml", a
 * trailing '/' allowed). Checks the len bytes at e; the error names the entry. */
vmesh_err vmesh_pki_scope_entry_validate(const char *e, size_t len) VMESH_WUR;
/* The first of the n entries (each valid as above) that covers peer, a
 * SPIFFE ID: a trust domain equal to the ID's, or a prefix that ends at a
 * path-segment boundary of the ID. NULL when none does (or peer is NULL or
 * not a spiffe:// ID, which only prefixes could match and none does). */
const char *vmesh_pki_scope_match(char *const *entries, size_t n, const char *peer);

/* The SPIFFE ID of an X509-SVID: the certificate must carry exactly one URI
 * SAN and it must be a valid spiffe:// ID (X509-SVID §2). *out is a new
 * string (free()). Refuses zero or several URI SANs. */
vmesh_err vmesh_pki_spiffe_id_from_cert(X509 *cert, char **out) VMESH_WUR;
/* Same for the first certificate of a PEM file. */
vmesh_err vmesh_pki_spiffe_id_from_pem_file(const char *path, char **out) VMESH_WUR;

/* Pattern match for policy rules: a pattern is either a full SPIFFE ID
 * (exact match) or a SPIFFE ID followed by "/" "*", which matches every ID
 * strictly below it (pattern "spiffe://td/ns/x/" "*" matches
 * "spiffe://td/ns/x/sa/y" but neither "spiffe://td/ns/x" nor
 * "spiffe://td/ns/xy"; "spiffe://td/" "*" matches every workload of trust
 * domain td). NULL or invalid input never matches. */
bool vmesh_pki_spiffe_match(const char *pattern, const char *id);
/* Validates a pattern (as above) so configuration errors are reported early. */
vmesh_err vmesh_pki_spiffe_pattern_validate(const char *pattern) VMESH_WUR;

/* ---- the test/demo CA ------------------------------------------------------ */

/* Files in a CA directory. */
#define VMESH_PKI_CA_CERT "ca.pem"
#define VMESH_PKI_CA_KEY "ca.key"
#define VMESH_PKI_CA_BUNDLE "bundle.pem"

/* Creates DIR (if needed) with a self-signed CA for trust_domain: ca.pem
 * (CA:true, keyCertSign+cRLSign, URI SAN spiffe://<td>), ca.key (PKCS#8 PEM,
 * mode 0600) and bundle.pem (the trust bundle: the CA certificate). Refuses
 * to overwrite an existing ca.key. days 0 means 3650. */
vmesh_err vmesh_pki_ca_init(const char *trust_domain, const char *dir, int days,
                            vmesh_key_type kt) VMESH_WUR;
/* Issues an X509-SVID for spiffe_id (whose trust domain must be the CA's):
 * PREFIX.pem (the leaf), PREFIX-chain.pem (leaf then CA), PREFIX.key
 * (PKCS#8 PEM, 0600). Leaf: CA:false, digitalSignature, EKU serverAuth and
 * clientAuth, exactly one URI SAN. days 0 means 90. kt: EC P-256 or P-384. */
vmesh_err vmesh_pki_ca_issue(const char *ca_dir, const char *spiffe_id, const char *prefix,
                             int days, vmesh_key_type kt) VMESH_WUR;
/* Issues an X509-SVID (as above) for an existing key's public half, writing
 * nothing: chain_pem (reset) receives the leaf then the CA certificate. For
 * a key that must never leave its process (key-bound attestation: the
 * agent's in-memory AK, vmesh_agent_tls_key). */
vmesh_err vmesh_pki_ca_issue_for_key(const char *ca_dir, const char *spiffe_id, int days, const vmesh_key *key,
                                     vmesh_buf *chain_pem) VMESH_WUR;
/* The same with a validity of `seconds` (1 s..36500 days; the leaf's
 * notBefore is 5 minutes back, against clock skew): the attested SVID
 * issuer's short-lived leaves (include/vmesh/issuer.h). */
vmesh_err vmesh_pki_ca_issue_for_key_seconds(const char *ca_dir, const char *spiffe_id, int64_t seconds,
                                             const vmesh_key *key, vmesh_buf *chain_pem) VMESH_WUR;
/* The trust bundle of a CA directory (PEM) appended to out. */
vmesh_err vmesh_pki_ca_bundle(const char *ca_dir, vmesh_buf *out) VMESH_WUR;

/* ---- SPIFFE bundles and federation ----------------------------------------- */

/* Caps on a SPIFFE bundle document (hostile input from a bundle endpoint). */
#define VMESH_PKI_BUNDLE_MAX (1024 * 1024)
#define VMESH_PKI_BUNDLE_KEYS_MAX 64

/* The X.509 authorities of one trust domain with the bundle's sequence
 * number and refresh hint (SPIFFE Trust Domain and Bundle §4). */
typedef struct vmesh_pki_bundle vmesh_pki_bundle;

/* Parses a SPIFFE bundle (a JWK Set, SPIFFE Trust Domain and Bundle §4):
 * "keys" required; "spiffe_sequence" and "spiffe_refresh_hint" optional
 * non-negative integers. Every key needs "use": "x509-svid" keys need
 * "kty" and an "x5c" of exactly one base64 DER certificate whose public key
 * has that kty; "jwt-svid" keys and keys of another use are skipped (§4.2.2).
 * At least one X.509 authority is required (vmesh verifies X509-SVIDs only).
 * Refuses duplicate members, more than VMESH_PKI_BUNDLE_KEYS_MAX keys and
 * documents over VMESH_PKI_BUNDLE_MAX bytes. */
vmesh_err vmesh_pki_bundle_parse(const uint8_t *p, size_t n, vmesh_pki_bundle **out) VMESH_WUR;
/* PEM certificates (at least one); no sequence, no refresh hint. */
vmesh_err vmesh_pki_bundle_parse_pem(const uint8_t *p, size_t n, vmesh_pki_bundle **out) VMESH_WUR;
/* A file in either form: a SPIFFE bundle when its first non-blank byte is
 * '{', else PEM. */
vmesh_err vmesh_pki_bundle_load(const char *path, vmesh_pki_bundle **out) VMESH_WUR;
void vmesh_pki_bundle_free(vmesh_pki_bundle *b);
size_t vmesh_pki_bundle_count(const vmesh_pki_bundle *b);
/* spiffe_sequence; *has is false when the document has none (PEM). */
uint64_t vmesh_pki_bundle_sequence(const vmesh_pki_bundle *b, bool *has);
/* spiffe_refresh_hint in seconds; 0 when absent. */
int64_t vmesh_pki_bundle_refresh_hint(const vmesh_pki_bundle *b);
void vmesh_pki_bundle_set_sequence(vmesh_pki_bundle *b, uint64_t seq);
void vmesh_pki_bundle_set_refresh_hint(vmesh_pki_bundle *b, int64_t seconds);
/* Writes the SPIFFE bundle document (JWK Set: one "x509-svid" key per
 * authority, EC keys only; sequence and refresh hint when set). */
vmesh_err vmesh_pki_bundle_to_spiffe(const vmesh_pki_bundle *b, vmesh_buf *out) VMESH_WUR;
/* Writes the authorities as PEM. */
vmesh_err vmesh_pki_bundle_to_pem(const vmesh_pki_bundle *b, vmesh_buf *out) VMESH_WUR;

/* Federation: trust domain name -> that domain's bundle. A peer's X509-SVID
 * is verified against the bundle of the trust domain its SPIFFE ID names,
 * and only that one: a CA of domain A cannot vouch for an ID in domain B.
 * Immutable once built; refcounted so TLS configurations can share it. */
typedef struct vmesh_pki_trust vmesh_pki_trust;

vmesh_err vmesh_pki_trust_new(vmesh_pki_trust **out) VMESH_WUR;
/* Adds (a copy of) the bundle of trust domain td; a domain once only. */
vmesh_err vmesh_pki_trust_add(vmesh_pki_trust *t, const char *td,
                              const vmesh_pki_bundle *b) VMESH_WUR;
vmesh_pki_trust *vmesh_pki_trust_ref(vmesh_pki_trust *t);
void vmesh_pki_trust_free(vmesh_pki_trust *t); /* drops a reference */
size_t vmesh_pki_trust_count(const vmesh_pki_trust *t);
/* Trust domain i and its bundle (borrowed); NULL past the end. */
const char *vmesh_pki_trust_domain(const vmesh_pki_trust *t, size_t i,
                                   const vmesh_pki_bundle **b);
/* The authorities of trust domain td (borrowed, for X509_STORE_CTX
 * set0_trusted_stack), or NULL when td is not trusted. */
STACK_OF(X509) *vmesh_pki_trust_authorities(const vmesh_pki_trust *t, const char *td);
/* Verifies an X509-SVID (leaf, with untrusted intermediates or NULL)
 * against its own trust domain's bundle, now. *id_out (may be NULL) gets
 * the SPIFFE ID (free()). VMESH_ERR_POLICY names the domain when it is not
 * federated; VMESH_ERR_SIGNATURE carries the X.509 error otherwise. */
vmesh_err vmesh_pki_trust_verify(const vmesh_pki_trust *t, X509 *leaf,
                                 STACK_OF(X509) *untrusted, char **id_out) VMESH_WUR;

/* The CA's trust bundle in the SPIFFE format, with the CA's sequence
 * number (DIR/sequence, 1 after init, raised by each rotation) and a
 * refresh hint (seconds, 0: none). */
vmesh_err vmesh_pki_ca_bundle_spiffe(const char *ca_dir, int64_t refresh_hint,
                                     vmesh_buf *out) VMESH_WUR;
/* Rotates the CA key: a new self-signed CA certificate and key for the same
 * trust domain replace ca.pem/ca.key (the old ones are kept as
 * ca-<seq>.pem/.key), bundle.pem holds the new CA then every earlier one
 * (SVIDs issued before keep verifying), and the sequence rises by one. */
vmesh_err vmesh_pki_ca_rotate(const char *ca_dir, int days, vmesh_key_type kt) VMESH_WUR;

/* Fetching a bundle from a SPIFFE bundle endpoint (SPIFFE Trust Domain and
 * Bundle §5). Profile https_web (§5.2.1): HTTPS authenticated by the web
 * PKI (the system roots, or ca_file when set) and the URL's host name.
 * Profile https_spiffe (§5.2.2): the endpoint presents an X509-SVID whose
 * SPIFFE ID must equal endpoint_id, verified against trust's bundle of that
 * ID's trust domain (often the bundle being refreshed); no host-name check. */
typedef enum { VMESH_PKI_ENDPOINT_HTTPS_WEB = 0, VMESH_PKI_ENDPOINT_HTTPS_SPIFFE = 1 } vmesh_pki_endpoint_profile;

typedef struct {
    const char *url;             /* https://... */
    vmesh_pki_endpoint_profile profile;
    const char *ca_file;         /* https_web: PEM roots instead of the system's; NULL: system */
    const char *endpoint_id;     /* https_spiffe: the endpoint's SPIFFE ID */
    const vmesh_pki_trust *trust;/* https_spiffe: bundles to verify the endpoint with */
    int timeout;                 /* seconds; 0: 10 */
} vmesh_pki_endpoint;

/* GETs and parses the bundle (VMESH_PKI_BUNDLE_MAX bytes at most). */
vmesh_err vmesh_pki_bundle_fetch(const vmesh_pki_endpoint *ep, vmesh_pki_bundle **out) VMESH_WUR;
/* Whether a fetched bundle may replace the current one: refused when both
 * carry a sequence and the new one is lower (rollback). *changed tells
 * whether it differs from cur (sequence or authorities). cur may be NULL. */
vmesh_err vmesh_pki_bundle_accept(const vmesh_pki_bundle *cur, const vmesh_pki_bundle *next,
                                  bool *changed) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
