/*
 * vmesh psa: the Arm PSA attestation token (RFC 9783, profile
 * "tag:psacertified.org,2023:psa#tfm"; the earlier draft profile
 * "http://arm.com/psa/2.0.0"; and, for decoding, the legacy
 * PSA_IOT_PROFILE_1). A token is a COSE_Sign1 whose payload is a CBOR map
 * of claims. This module decodes, validates, encodes and signs tokens,
 * converts claims to and from Veraison's JSON form, and implements the
 * "psa" evidence scheme (software attester "psa-sim" and verifier side).
 * A decoded token is never trusted until its signature has been checked
 * against an endorsed IAK; nothing here logs key material.
 */
#ifndef VMESH_PSA_H
#define VMESH_PSA_H

#include "vmesh/cbor.h"
#include "vmesh/core.h"
#include "vmesh/corim.h"
#include "vmesh/cose.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Profile identifiers as they appear in the profile claim. */
#define VMESH_PSA_PROFILE_TFM_NAME "tag:psacertified.org,2023:psa#tfm"
#define VMESH_PSA_PROFILE_2_NAME "http://arm.com/psa/2.0.0"
#define VMESH_PSA_PROFILE_1_NAME "PSA_IOT_PROFILE_1"

typedef enum {
    VMESH_PSA_PROFILE_NONE = 0, /* not set (a JSON template may omit it) */
    VMESH_PSA_PROFILE_1,        /* PSA_IOT_PROFILE_1: claim keys -75000..-75010 */
    VMESH_PSA_PROFILE_2,        /* http://arm.com/psa/2.0.0: keys 10, 256, 265, 2394.. */
    VMESH_PSA_PROFILE_TFM,      /* RFC 9783: as 2.0.0, boot seed at EAT key 268 */
} vmesh_psa_profile;

/* Caps that keep hostile input bounded. */
#define VMESH_PSA_MAX_TOKEN (64 * 1024) /* whole COSE_Sign1 */
#define VMESH_PSA_MAX_SW_COMPONENTS 64
#define VMESH_PSA_MAX_TEXT 1024 /* any text claim, bytes */
#define VMESH_PSA_MAX_HASH 64   /* psa-hash-type: 32, 48 or 64 bytes */

/* One entry of the software-components claim (key 2399 / -75006).
 * Text attributes are NUL-terminated UTF-8 owned by the claims struct,
 * NULL when absent. A byte attribute is absent when its length is 0. */
typedef struct {
    char *measurement_type;                        /* 1 (optional) */
    uint8_t measurement_value[VMESH_PSA_MAX_HASH]; /* 2 (mandatory) */
    size_t measurement_value_len;
    char *version;                                 /* 4 (optional) */
    uint8_t signer_id[VMESH_PSA_MAX_HASH];         /* 5 (mandatory in 2.0.0 and TFM) */
    size_t signer_id_len;
    char *measurement_desc;                        /* 6 (optional), e.g. "sha-256" */
} vmesh_psa_sw_component;

/* Decoded claims: a plain data struct. Initialise with
 * vmesh_psa_claims_init, release with vmesh_psa_claims_free (which frees
 * the strings and the components array). Fixed-size byte claims carry a
 * length; a length of 0 means the claim is absent. */
typedef struct {
    vmesh_psa_profile profile;
    bool profile_present;        /* P1 only: the -75000 claim was present */
    bool client_id_present;
    int32_t client_id;           /* security domain; <0 NSPE, >0 SPE */
    bool security_lifecycle_present;
    uint16_t security_lifecycle; /* major[15:8] state, minor[7:0] */
    uint8_t implementation_id[32];
    size_t implementation_id_len; /* 0 or 32 */
    uint8_t instance_id[33];      /* UEID: 0x01 (RAND) || 32 bytes */
    size_t instance_id_len;       /* 0 or 33 */
    uint8_t boot_seed[32];
    size_t boot_seed_len;         /* 0, 8..32 (P1: exactly 32) */
    uint8_t nonce[VMESH_PSA_MAX_HASH];
    size_t nonce_len;             /* 0, 32, 48 or 64 */
    char *certification_reference; /* EAN-13+5 ("P1: psa-hwver", EAN-13) */
    char *verification_service;    /* verification service indicator */
    bool no_sw_measurements;       /* P1 only: -75007 = 1 instead of components */
    vmesh_psa_sw_component *sw;
    size_t sw_count;
} vmesh_psa_claims;

void vmesh_psa_claims_init(vmesh_psa_claims *c);
/* Frees owned memory and leaves c initialised (safe to call twice). */
void vmesh_psa_claims_free(vmesh_psa_claims *c);
/* Appends a zeroed software component to c (at most
 * VMESH_PSA_MAX_SW_COMPONENTS) and returns it; its strings must be
 * malloc'ed (vmesh_psa_claims_free frees them). */
vmesh_err vmesh_psa_claims_add_sw(vmesh_psa_claims *c, vmesh_psa_sw_component **out) VMESH_WUR;
/* Deep copy; dst must be initialised (its previous content is freed). */
vmesh_err vmesh_psa_claims_copy(vmesh_psa_claims *dst, const vmesh_psa_claims *src) VMESH_WUR;

/* Checks that c is a complete claims set for its profile: every mandatory
 * claim present, every size and range valid. The error detail names the
 * claim ("PSA claims: nonce (key 10) is missing"). */
vmesh_err vmesh_psa_claims_validate(const vmesh_psa_claims *c) VMESH_WUR;

/* Decodes a claims-set (the COSE payload) and validates it. The profile
 * comes from claim 265 (eat_profile); without it the map is read as
 * PSA_IOT_PROFILE_1. Unknown claims are ignored (RFC 9783 §5.1.3). On
 * error c is left initialised and empty. c must be initialised. */
vmesh_err vmesh_psa_claims_decode(const uint8_t *cbor, size_t n, vmesh_psa_claims *c) VMESH_WUR;
/* Validates and encodes c (deterministic key order) into out (appended). */
vmesh_err vmesh_psa_claims_encode(const vmesh_psa_claims *c, vmesh_buf *out) VMESH_WUR;

/* Veraison's JSON form (veraison/psatoken): "eat-profile" (or
 * "psa-profile" for P1), "psa-client-id", "psa-security-lifecycle",
 * "psa-implementation-id", "psa-instance-id", "psa-boot-seed",
 * "psa-nonce" (byte claims base64), "psa-certification-reference" (P1:
 * "psa-hwver"), "psa-verification-service-indicator",
 * "psa-no-software-measurements" (P1), "psa-software-components":
 * [{"measurement-type", "measurement-value", "version", "signer-id",
 * "measurement-description"}] ("measurement-desc" accepted on input).
 * from_json checks the syntax and size of every claim present but not
 * completeness (a template may omit nonce and instance id): call
 * vmesh_psa_claims_validate for that. Without a profile key the profile is
 * TFM. Unknown keys are refused (they are typos in a template). JSON
 * syntax errors carry jansson's line and column. */
vmesh_err vmesh_psa_claims_from_json(const char *json, size_t n, vmesh_psa_claims *c) VMESH_WUR;
/* Writes c as a JSON object (compact, or indented when pretty). Absent
 * claims are omitted. */
vmesh_err vmesh_psa_claims_to_json(const vmesh_psa_claims *c, bool pretty, vmesh_buf *out) VMESH_WUR;

/* Decodes a token (COSE_Sign1, tagged or not) and its claims, WITHOUT
 * checking the signature. *msg receives the COSE object (caller frees it
 * with vmesh_cose_sign1_free; msg may be NULL when not wanted). */
vmesh_err vmesh_psa_token_decode(const uint8_t *p, size_t n, vmesh_cose_sign1 **msg,
                                 vmesh_psa_claims *c) VMESH_WUR;
/* Validates, encodes and signs c with the IAK into a tagged COSE_Sign1
 * (alg from the key: ES256, ES384 or EdDSA). out is appended to. */
vmesh_err vmesh_psa_token_sign(const vmesh_psa_claims *c, const vmesh_key *iak,
                               vmesh_buf *out) VMESH_WUR;

/* The Instance ID psa-sim derives for an IAK: 0x01 (RAND) || SHA-256 of
 * the IAK's SubjectPublicKeyInfo DER (cf. the PSA Attestation API:
 * "InstanceID = H(IAK)" for an asymmetric IAK). */
vmesh_err vmesh_psa_instance_id_from_key(const vmesh_key *iak, uint8_t out[33]) VMESH_WUR;

/* Profile names <-> enum ("tag:psacertified.org,2019:psa#legacy" parses
 * as 2.0.0, the legacy name of the same format). */
const char *vmesh_psa_profile_name(vmesh_psa_profile p);
vmesh_err vmesh_psa_profile_parse(const char *s, vmesh_psa_profile *out) VMESH_WUR;
/* Security lifecycle major state name ("secured", "non-psa-rot-debug",
 * ...), or NULL when the value is in no defined range. */
const char *vmesh_psa_lifecycle_name(uint16_t v);

/* ---- the PSA profile of CoRIM ---------------------------------------------
 * Reference triples: environment {0: {0: 560(implementation id)}} (the
 * older tags 600 and 551 accepted) and measurements {0:
 * "psa.software-component" or 601(psa.refval-id), 1: {2: digests, 11: name,
 * ? 0: version, ? 13: [560(signer id)]}}; any other measurement value (svn,
 * flags, raw values) is refused, since vmesh could not enforce it.
 * Attest-key triples: environment with 550(UEID) instance, keys as
 * 554(PEM public key). Entries are of scheme "psa". */
#define VMESH_PSA_CORIM_PROFILE "tag:arm.com,2025:psa#1.0.0"
#define VMESH_PSA_CORIM_PROFILE_IOT1 "http://arm.com/psa/iot/1"

extern const vmesh_corim_profile vmesh_psa_corim_profile;
/* {&vmesh_psa_corim_profile, NULL}, for vmesh_corim_load. */
extern const vmesh_corim_profile *const vmesh_psa_corim_profiles[];

/* Writes the entries of scheme "psa" in s as an unsigned CoRIM (tag 501)
 * with profile VMESH_PSA_CORIM_PROFILE: one CoMID with a reference triple
 * per implementation id, one CoMID with an attest-key triple per key (keys
 * must have an instance id). Attributes and other schemes are refused (RV
 * JSON carries them). id: the corim-id text. Appends to out. */
vmesh_err vmesh_psa_corim_encode(const vmesh_rv_store *s, const char *id, vmesh_buf *out) VMESH_WUR;

/* ---- pieces shared with the cca module (whose platform token is a PSA
 * derivative with the same software components) ---------------------------- */

/* Claim text: at most VMESH_PSA_MAX_TEXT bytes of UTF-8 without NUL, copied
 * NUL-terminated into *out (whose old value is freed). ctx and what name
 * the claim in errors ("PSA claims", "version"). */
vmesh_err vmesh_psa_text_dup(const char *ctx, const char *p, size_t n, const char *what, char **out) VMESH_WUR;
/* A byte claim of 1..cap bytes (a claim that cannot fit its slot is
 * malformed: VMESH_ERR_PARSE), copied into dst. */
vmesh_err vmesh_psa_read_bytes(vmesh_cbor *r, const char *what, uint8_t *dst, size_t cap, size_t *len) VMESH_WUR;
/* Frees one component's strings and zeroes it. */
void vmesh_psa_sw_component_clear(vmesh_psa_sw_component *sc);
/* Deep copy of one component into uninitialised dst. */
vmesh_err vmesh_psa_sw_component_copy(vmesh_psa_sw_component *dst, const vmesh_psa_sw_component *src) VMESH_WUR;
/* Appends a zeroed component to (*sw, *count), at most cap of them. */
vmesh_err vmesh_psa_sw_append(vmesh_psa_sw_component **sw, size_t *count, size_t cap, const char *ctx,
                              vmesh_psa_sw_component **out) VMESH_WUR;
/* The software-components array (RFC 9783 §4.4.1): at most cap entries,
 * appended to (*sw, *count); field names the claim in errors. Unknown
 * attributes are skipped, duplicates refused. */
vmesh_err vmesh_psa_sw_components_decode(vmesh_cbor *r, const char *field, size_t cap, vmesh_psa_sw_component **sw,
                                         size_t *count) VMESH_WUR;
vmesh_err vmesh_psa_sw_components_encode(const vmesh_psa_sw_component *sw, size_t count, vmesh_buf *b) VMESH_WUR;

/* Appraisal of one software component against one reference measurement
 * (the rule PSA and CCA's platform token share): the name, when the
 * reference value gives one, equals measurement-type; the digest bytes are
 * equal (constant time) and fit the reference value's hash algorithm; the
 * version, when given, is equal. The signer id is not compared, as in
 * Veraison's psa-iot appraisal. */
bool vmesh_psa_sw_component_matches(const vmesh_psa_sw_component *sc, const vmesh_rv_measurement *m);

/* Enrolment of a psa-sim platform: adds to rv what an endorser publishes
 * for it, from the attester configuration it runs with (same keys as
 * vmesh_scheme_psa's attester, below): one measurement per software
 * component of the template after "measure" (name = measurement-type,
 * digest, version and signer id as the platform reports them) for its
 * implementation id, and the public part of its IAK for (implementation
 * id, instance id). rv must not be frozen; write it with
 * vmesh_rv_store_to_json. */
vmesh_err vmesh_psa_reference_values(const vmesh_kv *cfg, size_t ncfg, vmesh_rv_store *rv) VMESH_WUR;

/* The evidence scheme (evidence.h): name "psa"; produces
 * `application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"`,
 * also accepts `application/psa-attestation-token`,
 * `application/eat-cwt; profile="http://arm.com/psa/2.0.0"` and
 * `application/eat+cwt; eat_profile="tag:psacertified.org,2019:psa#legacy"`.
 * Attester "psa-sim" configuration keys: "iak" (key file, PEM or JWK,
 * private), "claims" (JSON template, format above), "measure"
 * (repeatable, "NAME=FILE": measurement-value of the component whose
 * measurement-type is NAME becomes SHA-256(FILE), or a new component
 * {NAME, SHA-256(FILE), "sha-256", signer-id SHA-256(IAK SPKI)} is
 * appended). Without an instance id in the template, the one of
 * vmesh_psa_instance_id_from_key is used. attest() takes a 32, 48 or
 * 64-byte nonce (NULL: the template's psa-nonce).
 * Appraisal (trust-vector codes as Veraison's psa-iot, docs/PSA.md): key
 * = RV key of ("psa", implementation-id, instance-id); none, bad signature
 * or nonce mismatch -> every claim 99; else hardware 2; lifecycle secured
 * or non-PSA-RoT debug -> instance-identity, runtime-opaque,
 * storage-opaque 2, other states 96; executables 2 when every component
 * matches a reference value of the class, else 33. out must have been
 * initialised with vmesh_appraisal_init. */
extern const vmesh_evidence_scheme vmesh_scheme_psa;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
