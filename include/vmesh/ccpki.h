/*
 * vmesh ccpki: the X.509 (and tiny CBOR) part shared by the confidential-computing evidence
 * schemes (sev-snp, tdx): a pool of certificates and CRLs gathered from the
 * evidence and from the trust anchors of the RV store, a set of root
 * fingerprints that are the only trusted roots (pinned by SHA-256 of the
 * DER), and path validation at a pinned time. It never trusts a certificate
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

#define VMESH_CCPKI_MAX_CERTS 64  /* certificates in one pool */
#define VMESH_CCPKI_MAX_CRLS 16
#define VMESH_CCPKI_MAX_PINS 32
#define VMESH_CCPKI_MAX_PEM ((size_t)256 * 1024)

/* Names of the trust-anchor attributes in the RV store (docs/CC.md). */
#define VMESH_CC_ATTR_TA_PEM "ta-pem"          /* one PEM certificate */
#define VMESH_CC_ATTR_CRL_PEM "crl-pem"        /* one PEM CRL */
#define VMESH_CC_ATTR_ROOT_SHA256 "root-sha256" /* hex SHA-256 of a root's DER: pinned */
#define VMESH_CC_ATTR_BUILTIN_ROOTS "builtin-roots" /* "off": forget the built-in pins */
#define VMESH_CC_ATTR_COLLATERAL "collateral"  /* TDX TCB Info / QE Identity JSON */

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

/* ---- a bounded CBOR reader/writer for the small fixed CC envelopes --------
 * Definite lengths only, no tags, no floats; every length is checked
 * against what is left of the input before it is used. */
typedef struct {
    const uint8_t *p;
    size_t n;
    size_t off;
} vmesh_cc_cbor;

#define VMESH_CBOR_UINT 0
#define VMESH_CBOR_BSTR 2
#define VMESH_CBOR_TSTR 3
#define VMESH_CBOR_ARRAY 4
#define VMESH_CBOR_MAP 5

/* Reads one head: major type and argument (length, count or value). */
vmesh_err vmesh_cc_cbor_head(vmesh_cc_cbor *c, int *major, uint64_t *arg) VMESH_WUR;
/* Reads a byte or text string of major type `major`, at most cap bytes. */
vmesh_err vmesh_cc_cbor_string(vmesh_cc_cbor *c, int major, size_t cap, const uint8_t **p,
                               size_t *n) VMESH_WUR;
vmesh_err vmesh_cc_cbor_put_head(vmesh_buf *b, int major, uint64_t arg) VMESH_WUR;

#ifdef __cplusplus
}
#endif
#endif
