/*
 * vmesh ccpki: the helper the confidential-computing evidence schemes
 * (sev-snp, tdx, tsm) share; not a scheme itself. A pool of certificates
 * and CRLs gathered from the evidence and from the trust anchors of the RV
 * store, a set of root fingerprints that are the only trusted roots (pinned
 * by SHA-256 of the DER), path validation at a pinned time, and the loading
 * of trust-anchor files into an RV store. It never trusts a certificate
 * because it is self-signed or because it came with the evidence: a chain is
 * good only when it ends in a root whose fingerprint is pinned.
 */
#ifndef VMESH_CCPKI_H
#define VMESH_CCPKI_H

#include "vmesh/core.h"
#include "vmesh/rv.h"

#include <openssl/x509.h>

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_CCPKI_MAX_CERTS 64  /* certificates in one pool */
#define VMESH_CCPKI_MAX_CRLS 16
#define VMESH_CCPKI_MAX_PINS 32
#define VMESH_CCPKI_MAX_PEM ((size_t)256 * 1024)

/* Names of the trust-anchor attributes in the RV store (docs/CC.md). */
#define VMESH_CCPKI_ATTR_TA_PEM "ta-pem"          /* one PEM certificate */
#define VMESH_CCPKI_ATTR_CRL_PEM "crl-pem"        /* one PEM CRL */
#define VMESH_CCPKI_ATTR_ROOT_SHA256 "root-sha256" /* hex SHA-256 of a root's DER: pinned */
#define VMESH_CCPKI_ATTR_BUILTIN_ROOTS "builtin-roots" /* "off": forget the built-in pins */
#define VMESH_CCPKI_ATTR_COLLATERAL "collateral"  /* TDX TCB Info / QE Identity JSON */

typedef struct vmesh_ccpki_pool vmesh_ccpki_pool;

vmesh_err vmesh_ccpki_pool_new(vmesh_ccpki_pool **out) VMESH_WUR;
void vmesh_ccpki_pool_free(vmesh_ccpki_pool *p);
/* Adds one DER certificate. Parsed certificates are shared through a
 * bounded process-wide cache keyed by the SHA-256 of their DER (parsing
 * costs more than an ECDSA verify with OpenSSL 3.0); identical bytes give
 * the identical, reference-counted object. */
vmesh_err vmesh_ccpki_add_der(vmesh_ccpki_pool *p, const uint8_t *der, size_t n) VMESH_WUR;
/* Adds every certificate and CRL of a PEM text; refuses text without any. */
vmesh_err vmesh_ccpki_add_pem(vmesh_ccpki_pool *p, const char *pem, size_t n) VMESH_WUR;
/* Adds a certificate (a reference is taken). */
vmesh_err vmesh_ccpki_add_x509(vmesh_ccpki_pool *p, X509 *x) VMESH_WUR;
/* Pins a root by the SHA-256 of its DER encoding. */
vmesh_err vmesh_ccpki_pin(vmesh_ccpki_pool *p, const uint8_t fp[32]) VMESH_WUR;
/* Reads the trust anchors of (scheme, class) from the store: every ta-pem
 * certificate, crl-pem CRL and root-sha256 pin; the built-in pins (hex,
 * NULL-terminated) are added unless the store says builtin-roots "off". */
vmesh_err vmesh_ccpki_load_rv(vmesh_ccpki_pool *p, const vmesh_rv_store *rv, const char *scheme,
                              const uint8_t *class_id, size_t class_len,
                              const char *const *builtin_pins) VMESH_WUR;

/* Number of certificates and the i-th (borrowed). */
size_t vmesh_ccpki_count(const vmesh_ccpki_pool *p);
X509 *vmesh_ccpki_at(const vmesh_ccpki_pool *p, size_t i);

/* Validates leaf up to a pinned root, with every other certificate of the
 * pool as a possible intermediate, at time `at` (epoch seconds; also for
 * CRLs of the leaf's issuer when the pool has one). On success *root (may
 * be NULL) is the pinned root that ended the chain (borrowed). Errors:
 * VMESH_ERR_NOT_FOUND (no pinned root reachable), VMESH_ERR_EXPIRED,
 * VMESH_ERR_SIGNATURE, VMESH_ERR_POLICY (revoked), each with a detail naming
 * the certificate. */
vmesh_err vmesh_ccpki_verify(const vmesh_ccpki_pool *p, X509 *leaf, int64_t at, X509 **root) VMESH_WUR;

/* SHA-256 of a certificate's DER. */
vmesh_err vmesh_ccpki_fingerprint(X509 *x, uint8_t fp[32]) VMESH_WUR;
/* The subject's CN (or "?"), for messages. */
void vmesh_ccpki_cn(X509 *x, char *out, size_t n);
/* The DER contents of the extension with the given dotted OID, or NULL. */
const ASN1_OCTET_STRING *vmesh_ccpki_ext(X509 *x, const char *oid);
/* Converts a DER certificate or CRL to PEM text (for trust-anchor attributes). */
vmesh_err vmesh_ccpki_der_to_pem(const uint8_t *der, size_t n, vmesh_buf *out) VMESH_WUR;

/* ---- trust-anchor files ----------------------------------------------------
 * Turns trust-anchor files (certificates, CRLs, TDX collateral, public keys)
 * into entries of an RV store, where the schemes find them (docs/CC.md,
 * "Trust anchors"). The CLI's `--ta FILE` and the bundle tooling use it. It
 * never decides trust itself: a certificate it stores is path material,
 * trusted only when its chain ends in a pinned root. */
#define VMESH_CCPKI_MAX_TA_FILE ((size_t)1024 * 1024)

/* Adds the content of one trust-anchor file to s for `scheme`, class id =
 * the scheme name: PEM certificates and CRLs (several per file), a DER
 * certificate or CRL, TDX TCB Info / QE Identity JSON ("collateral"), or a
 * public key (PEM SubjectPublicKeyInfo or JWK). Anything else is refused
 * with an error naming `source`. */
vmesh_err vmesh_ccpki_ta_load(vmesh_rv_store *s, const char *scheme, const uint8_t *p, size_t n,
                              const char *source) VMESH_WUR;
vmesh_err vmesh_ccpki_ta_load_file(vmesh_rv_store *s, const char *scheme, const char *path) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
