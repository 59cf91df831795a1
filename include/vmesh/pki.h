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
/* The trust bundle of a CA directory (PEM) appended to out. */
vmesh_err vmesh_pki_ca_bundle(const char *ca_dir, vmesh_buf *out) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
