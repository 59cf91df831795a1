/*
 * vmesh cca: the Arm CCA attestation token, a collection of two COSE_Sign1
 * tokens: the CCA platform token (signed by the platform attestation key,
 * CPAK, endorsed in the RV store) and the realm token (signed by the realm
 * attestation key, RAK, carried inside the realm claims and bound to the
 * platform by the platform challenge = hash of the RAK). This module
 * decodes (bounded reader, no trust in declared lengths), validates,
 * encodes and signs tokens, converts claims to and from Veraison's JSON
 * form (veraison/ccatoken, evcli), and implements the "cca" evidence
 * scheme: the software attester "cca-sim" (a simulator, not a realm) and
 * the verifier side. A decoded token is never trusted until both
 * signatures and the binding have been checked; nothing here logs keys.
 */
#ifndef VMESH_CCA_H
#define VMESH_CCA_H

#include "vmesh/core.h"
#include "vmesh/cose.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"
#include "vmesh/psa.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Profiles (claim 265). */
#define VMESH_CCA_PLATFORM_PROFILE_NAME "tag:arm.com,2023:cca_platform#1.0.0"
#define VMESH_CCA_PLATFORM_PROFILE_SSD_NAME "http://arm.com/CCA-SSD/1.0.0"
#define VMESH_CCA_REALM_PROFILE_NAME "tag:arm.com,2023:realm#1.0.0"

/* The evidence media type (Veraison arm-cca scheme). */
#define VMESH_CCA_MEDIA_TYPE "application/eat-collection; profile=\"http://arm.com/CCA-SSD/1.0.0\""

/* Outer collection formats. */
#define VMESH_CCA_TAG_COLLECTION 399 /* {44234: bstr, 44241: bstr} (RMM, Veraison) */
#define VMESH_CCA_TAG_CMW 907        /* {44234: [type, bstr], 44241: [type, bstr]} */
#define VMESH_CCA_KEY_PLATFORM 44234
#define VMESH_CCA_KEY_REALM 44241

typedef enum {
    VMESH_CCA_PLATFORM_PROFILE_NONE = 0,
    VMESH_CCA_PLATFORM_PROFILE_2023, /* tag:arm.com,2023:cca_platform#1.0.0 */
    VMESH_CCA_PLATFORM_PROFILE_SSD,  /* http://arm.com/CCA-SSD/1.0.0 */
} vmesh_cca_platform_profile;

typedef enum {
    VMESH_CCA_REALM_PROFILE_2023 = 0, /* tag:arm.com,2023:realm#1.0.0: RAK is a COSE_Key */
    VMESH_CCA_REALM_PROFILE_LEGACY,   /* no profile claim: RAK is a raw P-384 point (97 bytes) */
} vmesh_cca_realm_profile;

/* Caps that keep hostile input bounded. */
#define VMESH_CCA_MAX_TOKEN (64 * 1024) /* whole collection */
#define VMESH_CCA_MAX_SW_COMPONENTS 64
#define VMESH_CCA_MAX_CONFIG 4096 /* platform config claim bytes */
#define VMESH_CCA_MAX_TEXT 1024
#define VMESH_CCA_MAX_RAK 256 /* encoded realm public key bytes */
#define VMESH_CCA_MAX_HASH 64
#define VMESH_CCA_NUM_REMS 4

/* Platform claims. Byte claims carry a length (0 = absent); text claims
 * are owned NUL-terminated strings (NULL = absent). Software components
 * use the PSA component type (same CBOR map, same JSON names). */
typedef struct {
    vmesh_cca_platform_profile profile;
    uint8_t challenge[VMESH_CCA_MAX_HASH]; /* 10: hash of the RAK */
    size_t challenge_len;
    uint8_t implementation_id[32]; /* 2396 */
    size_t implementation_id_len;
    uint8_t instance_id[33]; /* 256: UEID 0x01 || 32 bytes */
    size_t instance_id_len;
    uint8_t *config; /* 2401 (owned, may be 0 bytes when present) */
    size_t config_len;
    bool config_present;
    bool lifecycle_present;
    uint16_t lifecycle; /* 2395 */
    vmesh_psa_sw_component *sw; /* 2399 */
    size_t sw_count;
    char *verification_service; /* 2400 (optional) */
    char *hash_algo;            /* 2402, e.g. "sha-256" */
} vmesh_cca_platform_claims;

/* Realm claims. */
typedef struct {
    vmesh_cca_realm_profile profile;
    uint8_t challenge[64]; /* 10 */
    size_t challenge_len;
    uint8_t personalization[64]; /* 44235 */
    size_t personalization_len;
    uint8_t rim[VMESH_CCA_MAX_HASH]; /* 44238 */
    size_t rim_len;
    uint8_t rem[VMESH_CCA_NUM_REMS][VMESH_CCA_MAX_HASH]; /* 44239 */
    size_t rem_len[VMESH_CCA_NUM_REMS];
    size_t rem_count;
    char *hash_algo;                 /* 44236 */
    uint8_t rak[VMESH_CCA_MAX_RAK];  /* 44237, as encoded in the token */
    size_t rak_len;
    char *rak_hash_algo;             /* 44240 */
} vmesh_cca_realm_claims;

typedef struct {
    vmesh_cca_platform_claims platform;
    vmesh_cca_realm_claims realm;
} vmesh_cca_claims;

void vmesh_cca_claims_init(vmesh_cca_claims *c);
void vmesh_cca_claims_free(vmesh_cca_claims *c); /* leaves c initialised */
/* Appends a zeroed software component (strings must be malloc'ed). */
vmesh_err vmesh_cca_platform_add_sw(vmesh_cca_platform_claims *p, vmesh_psa_sw_component **out) VMESH_WUR;
vmesh_err vmesh_cca_claims_copy(vmesh_cca_claims *dst, const vmesh_cca_claims *src) VMESH_WUR;

/* Completeness and size checks; the detail names the claim. */
vmesh_err vmesh_cca_platform_validate(const vmesh_cca_platform_claims *p) VMESH_WUR;
vmesh_err vmesh_cca_realm_validate(const vmesh_cca_realm_claims *r) VMESH_WUR;

/* Claims-set CBOR (the COSE payloads). Decoding ignores unknown claims,
 * refuses duplicates, indefinite lengths and trailing bytes, validates. */
vmesh_err vmesh_cca_platform_decode(const uint8_t *p, size_t n, vmesh_cca_platform_claims *c) VMESH_WUR;
vmesh_err vmesh_cca_realm_decode(const uint8_t *p, size_t n, vmesh_cca_realm_claims *c) VMESH_WUR;
vmesh_err vmesh_cca_platform_encode(const vmesh_cca_platform_claims *c, vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_cca_realm_encode(const vmesh_cca_realm_claims *c, vmesh_buf *out) VMESH_WUR;

/* Veraison's JSON (cca-good.json): {"cca-platform-token": {...},
 * "cca-realm-delegated-token": {...}}. from_json checks syntax and sizes,
 * not completeness (a template may omit challenges, the RAK, the instance
 * id); unknown keys are refused. Without a platform profile the 2023 one
 * is used; without "cca-realm-profile" the realm profile is the 2023 one. */
vmesh_err vmesh_cca_claims_from_json(const char *json, size_t n, vmesh_cca_claims *c) VMESH_WUR;
vmesh_err vmesh_cca_claims_to_json(const vmesh_cca_claims *c, bool pretty, vmesh_buf *out) VMESH_WUR;

/* ---- tokens ------------------------------------------------------------- */

typedef struct vmesh_cca_token vmesh_cca_token;

/* Decodes the collection (tag 399 or 907), both COSE_Sign1 and both claims
 * sets, WITHOUT checking signatures or the binding. */
vmesh_err vmesh_cca_token_decode(const uint8_t *p, size_t n, vmesh_cca_token **out) VMESH_WUR;
const vmesh_cca_claims *vmesh_cca_token_claims(const vmesh_cca_token *t);
const vmesh_cose_sign1 *vmesh_cca_token_platform(const vmesh_cca_token *t);
const vmesh_cose_sign1 *vmesh_cca_token_realm(const vmesh_cca_token *t);
/* The outer tag the token used (399 or 907). */
unsigned vmesh_cca_token_format(const vmesh_cca_token *t);
void vmesh_cca_token_free(vmesh_cca_token *t);

/* The RAK as a key (COSE_Key EC2 P-256/P-384 for the 2023 profile, a raw
 * uncompressed P-384 point for the legacy one). */
vmesh_err vmesh_cca_realm_key(const vmesh_cca_realm_claims *r, vmesh_key **out) VMESH_WUR;
/* Checks, in this order: platform signature with cpak (VMESH_ERR_SIGNATURE,
 * detail "platform token ..."), realm signature with the RAK
 * (VMESH_ERR_SIGNATURE, "realm token ..."), binding (VMESH_ERR_MISMATCH). */
vmesh_err vmesh_cca_token_verify(const vmesh_cca_token *t, const vmesh_key *cpak) VMESH_WUR;
/* Hash of the encoded RAK with the realm's public-key hash algorithm
 * ("sha-256", "sha-384", "sha-512"): the expected platform challenge. */
vmesh_err vmesh_cca_binding(const vmesh_cca_realm_claims *r, uint8_t out[VMESH_CCA_MAX_HASH],
                            size_t *out_len) VMESH_WUR;

/* Encodes a RAK for claim 44237 (COSE_Key {1:2, -1:crv, -2:x, -3:y} for
 * the 2023 profile, raw point for legacy, which needs P-384). */
vmesh_err vmesh_cca_rak_encode(const vmesh_key *rak, vmesh_cca_realm_profile profile,
                               vmesh_buf *out) VMESH_WUR;
/* Wraps two signed tokens into a collection (format 399 or 907). */
vmesh_err vmesh_cca_collection_encode(unsigned format, const uint8_t *platform, size_t plen,
                                      const uint8_t *realm, size_t rlen, vmesh_buf *out) VMESH_WUR;
/* Rewrites a token (399 or 907) as the untagged RFC 9999 CBOR collection
 * {44234: [263, platform], 44241: [263, realm]} (263: the CoAP
 * Content-Format of the tokens, as veraison/ccatoken writes inside tag
 * 907); vmesh_cca_token_decode reads that form too. Appended to out. */
vmesh_err vmesh_cca_token_to_cmw(const uint8_t *p, size_t n, vmesh_buf *out) VMESH_WUR;
/* Sets c->realm's RAK claim from rak, the platform challenge to the
 * binding, validates both, signs the platform token with cpak and the
 * realm token with rak, and writes a tag-399 collection (appended). */
vmesh_err vmesh_cca_token_sign(vmesh_cca_claims *c, const vmesh_key *cpak, const vmesh_key *rak,
                               vmesh_buf *out) VMESH_WUR;

/* Names. */
const char *vmesh_cca_platform_profile_name(vmesh_cca_platform_profile p);
/* Lifecycle state name ("secured", "non-cca-platform-rot-debug", ...) or NULL. */
const char *vmesh_cca_lifecycle_name(uint16_t v);

/* The evidence scheme "cca" (docs/CCA.md). Media type VMESH_CCA_MEDIA_TYPE.
 * Attester "cca-sim" (a SIMULATOR: software keys, claims from a template;
 * it proves nothing about hardware): configuration keys "cpak" (private key
 * file, P-256 or P-384), "rak" (optional private P-384/P-256 key file;
 * generated per attester when absent), "claims" (JSON template, format
 * above). attest() takes a nonce of 1..64 bytes: the realm challenge is
 * the nonce zero-padded to 64 bytes (as the RMM pads a shorter challenge).
 * The appraisal reports as out->nonce the realm challenge without that
 * padding when its last 32 bytes are zero (vmesh's 32-byte nonces), else
 * all 64 bytes.
 * Appraisal: CPAK = RV key of ("cca", implementation-id, instance-id);
 * none, a bad platform or realm signature, a broken binding or a realm
 * challenge other than the padded expected nonce -> every claim 99; else
 * hardware 2; lifecycle secured / non-CCA-platform-RoT debug ->
 * instance-identity, runtime-opaque, storage-opaque 2, else 96;
 * configuration 2 when an RV "config" matches, else 32; executables from
 * the platform software components (class = implementation id) and the
 * realm RIM/REMs/personalization value (class = RIM): see docs/CCA.md. */
extern const vmesh_evidence_scheme vmesh_scheme_cca;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
