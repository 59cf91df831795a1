/*
 * vmesh cose: COSE_Sign1 (RFC 9052 §4.2) over vmesh cbor and vmesh crypto, with
 * ES256, ES384 and EdDSA. Decoding checks every structural rule before any
 * signature work; a decoded object is never "trusted" until verify succeeds.
 */
#ifndef VMESH_COSE_H
#define VMESH_COSE_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_COSE_SIGN1_TAG 18
/* Header labels (RFC 9052 §3.1). */
#define VMESH_COSE_HDR_ALG 1
#define VMESH_COSE_HDR_CONTENT_TYPE 3
#define VMESH_COSE_HDR_KID 4

typedef struct vmesh_cose_sign1 vmesh_cose_sign1;

/* Options for creating a COSE_Sign1. All optional (zero = absent). */
typedef struct {
    const char *content_type;  /* protected header 3 as text, e.g. "application/rim+cbor" */
    const uint8_t *kid;        /* unprotected header 4 */
    size_t kid_len;
    bool untagged;             /* omit CBOR tag 18 */
    /* Extra protected header entries as pre-encoded CBOR: a map whose pairs
     * are merged into the protected header (e.g. CoRIM's corim-meta, 8). */
    const uint8_t *extra_protected_map;
    size_t extra_protected_map_len;
} vmesh_cose_sign1_opts;

/* Signs payload with key (alg from the key) and writes the encoded message. */
vmesh_err vmesh_cose_sign1_create(const vmesh_key *key, const uint8_t *payload, size_t n,
                                  const vmesh_cose_sign1_opts *opts, vmesh_buf *out) VMESH_WUR;

/* Decodes a COSE_Sign1 (tag 18 or untagged). Refuses: other tags, wrong
 * array size, protected header not a bstr-wrapped map, missing or
 * unsupported alg, detached payload, trailing bytes, more than max bytes
 * (0: 1 MiB). */
vmesh_err vmesh_cose_sign1_decode(const uint8_t *p, size_t n, size_t max,
                                  vmesh_cose_sign1 **out) VMESH_WUR;
/* Verifies the signature (Sig_structure "Signature1", empty external_aad)
 * with key; the message's alg must match the key's. */
vmesh_err vmesh_cose_sign1_verify(const vmesh_cose_sign1 *m, const vmesh_key *key) VMESH_WUR;

const uint8_t *vmesh_cose_sign1_payload(const vmesh_cose_sign1 *m, size_t *n);
int vmesh_cose_sign1_alg(const vmesh_cose_sign1 *m);
/* kid from the protected or unprotected header, NULL if absent. */
const uint8_t *vmesh_cose_sign1_kid(const vmesh_cose_sign1 *m, size_t *n);
/* content type (text), NULL if absent or an integer. */
const char *vmesh_cose_sign1_content_type(const vmesh_cose_sign1 *m);
/* The raw protected header bytes (the bstr contents). */
const uint8_t *vmesh_cose_sign1_protected(const vmesh_cose_sign1 *m, size_t *n);
void vmesh_cose_sign1_free(vmesh_cose_sign1 *m);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
