/*
 * vmesh corim: Concise Reference Integrity Manifests (draft-ietf-rats-corim)
 * read into an RV store, signed (COSE_Sign1, tag 18) or unsigned (tag 501),
 * and written from one (for RVPs and tests). Profiles mapped: Arm PSA
 * ("tag:arm.com,2025:psa#1.0.0" and the older "http://arm.com/psa/iot/1").
 * Anything malformed, or that vmesh could not enforce, is refused with the
 * position of the problem; nothing of a refused CoRIM reaches the store.
 */
#ifndef VMESH_CORIM_H
#define VMESH_CORIM_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/rv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CBOR tags (draft-ietf-rats-corim) and the media type of a CoRIM. */
#define VMESH_CORIM_TAG 501       /* tagged-unsigned-corim-map */
#define VMESH_CORIM_COMID_TAG 506 /* tagged-concise-mid-tag */
#define VMESH_CORIM_MEDIA_TYPE "application/rim+cbor"

#define VMESH_CORIM_PROFILE_PSA "tag:arm.com,2025:psa#1.0.0"
#define VMESH_CORIM_PROFILE_PSA_IOT1 "http://arm.com/psa/iot/1"

#define VMESH_CORIM_MAX_SIZE ((size_t)4 * 1024 * 1024) /* a whole (signed) CoRIM */
#define VMESH_CORIM_MAX_DEPTH 24                        /* CBOR nesting */

/* Flags of vmesh_corim_load. */
/* Accept a signed CoRIM without checking its signature (signer NULL). Only
 * for inspection and tests: the content is then not authenticated. */
#define VMESH_CORIM_ALLOW_UNVERIFIED 0x1u
/* Accept an unsigned CoRIM even though a signer key was given. Without it,
 * a signer key means "this must be signed by that key". */
#define VMESH_CORIM_ALLOW_UNSIGNED 0x2u

/* What a load found (optional output). */
typedef struct {
    char id[128];      /* corim-id: text, or the UUID as 8-4-4-4-12 hex */
    char profile[128]; /* profile URI or OID in dotted form; "" if none */
    bool was_signed;   /* a COSE_Sign1 envelope was present */
    bool verified;     /* ... and its signature was checked with the signer key */
    size_t comids;     /* CoMID tags read */
    size_t measurements; /* store entries added */
    size_t keys;
} vmesh_corim_info;

/* True when p starts like a CoRIM: tag 501 (unsigned) or tag 18
 * (COSE_Sign1, i.e. possibly signed CoRIM). A cheap sniff, no validation. */
bool vmesh_corim_is_corim(const uint8_t *p, size_t n);

/* Reads a CoRIM and adds its reference values and endorsed keys to s, all
 * or nothing.
 *   signer != NULL: the CoRIM must be a COSE_Sign1 signed by that key with
 *     content type "application/rim+cbor"; an unsigned CoRIM is refused
 *     unless flags has VMESH_CORIM_ALLOW_UNSIGNED.
 *   signer == NULL: an unsigned CoRIM is read; a signed one is refused
 *     unless flags has VMESH_CORIM_ALLOW_UNVERIFIED.
 * `source` names the input in error messages ("CoRIM rv.cbor: CoMID 0,
 * reference triple 0, measurement 0: measurement value has no digests").
 * rim-validity and signature-validity are checked against vmesh_time_now().
 * info may be NULL. */
vmesh_err vmesh_corim_load(vmesh_rv_store *s, const uint8_t *p, size_t n,
                           const vmesh_key *signer, unsigned flags, const char *source,
                           vmesh_corim_info *info) VMESH_WUR;

/* Checks a signed CoRIM (COSE_Sign1, tag 18, content type
 * application/rim+cbor, corim-meta or CWT claims in the protected header,
 * signature by key) and copies out its payload: the tagged-unsigned-corim-map
 * (tag 501) bytes. Does not look inside the payload. */
vmesh_err vmesh_corim_verify_signed(const uint8_t *p, size_t n, const vmesh_key *key,
                                    vmesh_buf *payload) VMESH_WUR;

/* Writes the entries of scheme "psa" in s as an unsigned CoRIM (tag 501)
 * with profile VMESH_CORIM_PROFILE_PSA: one CoMID with a reference triple
 * per implementation id, one CoMID with an attest-key triple per key (keys
 * must have an instance id). Attributes and other schemes are refused (RV
 * JSON carries them). id: the corim-id text. Appends to out. */
vmesh_err vmesh_corim_encode_psa(const vmesh_rv_store *s, const char *id,
                                 vmesh_buf *out) VMESH_WUR;

/* Wraps an unsigned CoRIM (tag 501) in a COSE_Sign1 signed with key:
 * protected header alg, content type "application/rim+cbor" and corim-meta
 * (8) naming signer_name. Appends to out. */
vmesh_err vmesh_corim_sign(const uint8_t *corim, size_t n, const vmesh_key *key,
                           const char *signer_name, vmesh_buf *out) VMESH_WUR;

#ifdef __cplusplus
}
#endif
#endif
