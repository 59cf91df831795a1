/*
 * vmesh jose: JWS compact serialization (RFC 7515) signed and verified with
 * vmesh keys, and EAT Attestation Results (EAR, draft-ietf-rats-ear) carried
 * as JWT (RFC 7519) with Veraison's claim names (DESIGN §4). A verifier here
 * never trusts the token's header to pick a key or an algorithm: the caller
 * gives the key, and the header's "alg" must be exactly that key's algorithm.
 */
#ifndef VMESH_JOSE_H
#define VMESH_JOSE_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Hard caps on what a verifier accepts. */
#define VMESH_JOSE_MAX_COMPACT ((size_t)256 * 1024) /* a whole compact JWS */
#define VMESH_JOSE_MAX_HEADER ((size_t)4096)        /* decoded protected header */

/* ---- JWS compact serialization ------------------------------------------- */

/* Signs payload into out (reset first, NUL-terminated) as
 * BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature), with
 * the protected header {"alg": <key's alg>, "typ": typ, "kid": kid} (typ and
 * kid omitted when NULL). alg is ES256, ES384 or EdDSA as the key dictates
 * (vmesh_crypto_key_jws_alg). The key must be private. */
vmesh_err vmesh_jose_jws_sign(const vmesh_key *key, const char *typ, const char *kid,
                              const uint8_t *payload, size_t n, vmesh_buf *out) VMESH_WUR;

/* Verifies a compact JWS against key and writes the decoded payload to
 * payload_out (reset first, NUL-terminated). Refuses, with:
 *   VMESH_ERR_TOO_LARGE    input over VMESH_JOSE_MAX_COMPACT, header over
 *                          VMESH_JOSE_MAX_HEADER;
 *   VMESH_ERR_PARSE        not three segments, bad base64url (padding or the
 *                          standard alphabet included), header not a JSON
 *                          object, "alg" missing;
 *   VMESH_ERR_UNSUPPORTED  "alg":"none", a header with "crit" (we understand
 *                          no extension), a JWE (five segments);
 *   VMESH_ERR_MISMATCH     "alg" is not the key's algorithm;
 *   VMESH_ERR_SIGNATURE    the signature does not verify. */
vmesh_err vmesh_jose_jws_verify(const char *compact, size_t n, const vmesh_key *key,
                                vmesh_buf *payload_out) VMESH_WUR;
/* Same, and also returns the decoded protected header JSON (header_out may
 * be NULL). */
vmesh_err vmesh_jose_jws_verify_full(const char *compact, size_t n, const vmesh_key *key,
                                     vmesh_buf *header_out, vmesh_buf *payload_out) VMESH_WUR;
/* HS256 (RFC 7518 §3.2): a JWS authenticated by a secret shared with the one
 * recipient instead of a signature, here the key a verifier and a relying
 * party export from the TLS session that carries the answer (DECISIONS
 * D51). Compact serialization with the header {"alg":"HS256","typ":typ}. */
#define VMESH_JOSE_MAC_KEY_LEN 32
vmesh_err vmesh_jose_jws_mac(const uint8_t key[VMESH_JOSE_MAC_KEY_LEN], const char *typ, const uint8_t *payload,
                             size_t n, vmesh_buf *out) VMESH_WUR;
/* Verifies an HS256 JWS under key (constant-time comparison) with the checks
 * of vmesh_jose_jws_verify: any other "alg" is VMESH_ERR_MISMATCH, so a
 * signed token never passes here and an HS256 token never passes a
 * signature key. */
vmesh_err vmesh_jose_jws_verify_mac(const char *compact, size_t n, const uint8_t key[VMESH_JOSE_MAC_KEY_LEN],
                                    vmesh_buf *payload_out) VMESH_WUR;
/* Decodes header and payload WITHOUT verifying anything (for printing).
 * Either output may be NULL. Same size and syntax checks as verify. */
vmesh_err vmesh_jose_jws_peek(const char *compact, size_t n, vmesh_buf *header_json,
                              vmesh_buf *payload) VMESH_WUR;

/* ---- EAR: EAT Attestation Results ---------------------------------------- */

#define VMESH_EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define VMESH_EAR_MAX_SUBMODS 64
#define VMESH_EAR_MIN_NONCE 8   /* bytes, EAT eat_nonce (RFC 9711 §4.1) */
#define VMESH_EAR_MAX_NONCE 64
/* Seconds an "iat" may lie in the verifier's future (clock skew). */
#define VMESH_EAR_IAT_LEEWAY 300

typedef struct vmesh_ear vmesh_ear;

/* A new EAR: eat_profile set, iat = vmesh_time_now(), no submods. */
vmesh_err vmesh_ear_new(vmesh_ear **out) VMESH_WUR;
void vmesh_ear_free(vmesh_ear *e); /* NULL is fine */

vmesh_err vmesh_ear_set_iat(vmesh_ear *e, int64_t iat) VMESH_WUR;
/* exp = 0 removes the claim. */
vmesh_err vmesh_ear_set_exp(vmesh_ear *e, int64_t exp) VMESH_WUR;
/* "ear.verifier-id": {"developer": ..., "build": ...} (AR4SI §2.2.2). */
vmesh_err vmesh_ear_set_verifier_id(vmesh_ear *e, const char *developer,
                                    const char *build) VMESH_WUR;
/* "ear.vmesh.policy-digest": what the verifier appraised under besides the
 * reference values (vmesh_verifier_policy_digest: "sha-256:<hex>"), 1..80
 * characters, so two relying parties can tell whether two results were
 * judged under the same policy (issue 12.4). */
vmesh_err vmesh_ear_set_policy_digest(vmesh_ear *e, const char *digest) VMESH_WUR;
/* "ear.vmesh.peer": {"id": SPIFFE ID, "scope": text}: the identity the
 * evidence was appraised for (the relying party's verified peer, or the
 * attester's claim in a passport request) and which reference-value
 * providers' scope applied (docs/FEDERATION.md "Scopes at the central
 * verifier"); scope NULL: not written. id <= 2048 bytes, scope <= 512. */
vmesh_err vmesh_ear_set_peer(vmesh_ear *e, const char *id, const char *scope) VMESH_WUR;
/* "eat_nonce": base64url of 8..64 bytes. */
vmesh_err vmesh_ear_set_nonce(vmesh_ear *e, const uint8_t *nonce, size_t n) VMESH_WUR;
/* "ear.vmesh.rv-epochs": {rvp: epoch}; epoch <= INT64_MAX (a JSON integer). */
vmesh_err vmesh_ear_add_rv_epoch(vmesh_ear *e, const char *rvp, uint64_t epoch) VMESH_WUR;
/* "ear.vmesh.epoch-markers": [{"bell": name, "tick": n, "em": base64url
 * of the epoch-tick}], the epoch markers (draft-ietf-rats-epoch-markers)
 * current when the result was produced, one per bell; em_len 8..64, tick
 * 1..INT64_MAX, at most VMESH_EAR_MAX_MARKERS, no bell twice. */
#define VMESH_EAR_MAX_MARKERS 16
vmesh_err vmesh_ear_add_epoch_marker(vmesh_ear *e, const char *bell, uint64_t tick, const uint8_t *em,
                                     size_t em_len) VMESH_WUR;
size_t vmesh_ear_epoch_marker_count(const vmesh_ear *e);
/* The i-th marker: bell name (borrowed), tick, epoch-tick bytes into em
 * (cap bytes; *em_len set). */
vmesh_err vmesh_ear_epoch_marker_at(const vmesh_ear *e, size_t i, const char **bell, uint64_t *tick, uint8_t *em,
                                    size_t cap, size_t *em_len) VMESH_WUR;
/* Adds submods.<name> (refuses a name already present) with
 *   "ear.status": the worse of status and vmesh_tv_status(tv), so a result
 *                 never claims more than its vector warrants;
 *   "ear.trustworthiness-vector": non-zero claims of tv (tv may be NULL);
 *   "ear.appraisal-policy-id": policy_id (omitted when NULL);
 *   "ear.veraison.annotated-evidence": the JSON object annotated_evidence_json
 *                 (omitted when NULL or "");
 *   "ear.veraison.key-attestation": {"akpub": base64url(SPKI DER)} (omitted
 *                 when akpub is NULL). */
vmesh_err vmesh_ear_add_submod(vmesh_ear *e, const char *name, vmesh_tier status,
                               const vmesh_tv *tv, const char *policy_id,
                               const char *annotated_evidence_json, const uint8_t *akpub,
                               size_t akpub_len) VMESH_WUR;

/* "ear.vmesh.rv-journal" of submods.<name> (which must exist, D43): the
 * lookup journal of the appraisal — the questions it asked the reference
 * values and the answers it got (vmesh_rv_journal_encode; opaque bytes
 * here, at most VMESH_EAR_MAX_RV_JOURNAL), as base64url without padding. */
#define VMESH_EAR_MAX_RV_JOURNAL 1024
vmesh_err vmesh_ear_submod_set_rv_journal(vmesh_ear *e, const char *name, const uint8_t *p,
                                          size_t n) VMESH_WUR;

/* Checks the claims (as verify does, minus time) and signs them as a JWS
 * with typ "JWT" and compact JSON claims. jwt is reset, NUL-terminated. */
vmesh_err vmesh_ear_sign(const vmesh_ear *e, const vmesh_key *key, vmesh_buf *jwt) VMESH_WUR;
/* Verifies an EAR JWT: JWS signature with pubkey (vmesh_jose_jws_verify),
 * then the claims: eat_profile == VMESH_EAR_PROFILE (else UNSUPPORTED);
 * iat an integer not later than now + VMESH_EAR_IAT_LEEWAY; exp, when
 * present, later than now and nbf, when present, not later than now (else
 * VMESH_ERR_EXPIRED, naming the time); ear.verifier-id with developer and
 * build; eat_nonce, when present, a string of 8..88 characters; submods a
 * non-empty object whose members each carry a valid "ear.status" and
 * well-typed optional claims (else PARSE). */
vmesh_err vmesh_ear_verify(const char *jwt, size_t n, const vmesh_key *pubkey, int64_t now,
                           vmesh_ear **out) VMESH_WUR;
/* The same as vmesh_ear_sign / vmesh_ear_verify, authenticated with HS256
 * under a key both ends exported from their TLS session (D51): a verifier's
 * answer to the relying party on that session, which no third party can
 * check (a passport is always signed). */
vmesh_err vmesh_ear_mac(const vmesh_ear *e, const uint8_t key[VMESH_JOSE_MAC_KEY_LEN], vmesh_buf *jwt) VMESH_WUR;
vmesh_err vmesh_ear_verify_mac(const char *jwt, size_t n, const uint8_t key[VMESH_JOSE_MAC_KEY_LEN], int64_t now,
                               vmesh_ear **out) VMESH_WUR;
/* Decodes the claims without any verification (for printing); header_json
 * (may be NULL) receives the protected header. Only requires a JSON object:
 * accessors tolerate anything. */
vmesh_err vmesh_ear_parse_unverified(const char *jwt, size_t n, vmesh_buf *header_json,
                                     vmesh_ear **out) VMESH_WUR;
/* Builds an EAR from a claims JSON object and checks it as vmesh_ear_sign
 * does (unknown claims are kept). */
vmesh_err vmesh_ear_from_json(const char *json, size_t n, vmesh_ear **out) VMESH_WUR;
/* The claims object as JSON (compact, or indented by 2 when pretty); out is
 * reset, NUL-terminated. */
vmesh_err vmesh_ear_to_json(const vmesh_ear *e, bool pretty, vmesh_buf *out) VMESH_WUR;

/* Accessors. Strings are borrowed from e (valid until e changes or is
 * freed); absent or ill-typed claims read as NULL / 0 / none. */
const char *vmesh_ear_profile(const vmesh_ear *e);
int64_t vmesh_ear_iat(const vmesh_ear *e);
int64_t vmesh_ear_exp(const vmesh_ear *e); /* 0: no exp */
const char *vmesh_ear_verifier_developer(const vmesh_ear *e);
const char *vmesh_ear_verifier_build(const vmesh_ear *e);
const char *vmesh_ear_policy_digest(const vmesh_ear *e); /* NULL when absent */
const char *vmesh_ear_peer_id(const vmesh_ear *e);    /* ear.vmesh.peer.id; NULL when absent */
const char *vmesh_ear_peer_scope(const vmesh_ear *e); /* ear.vmesh.peer.scope; NULL when absent */
/* Decoded eat_nonce; VMESH_ERR_NOT_FOUND when absent, PARSE if not base64url. */
vmesh_err vmesh_ear_nonce(const vmesh_ear *e, vmesh_buf *out) VMESH_WUR;
/* Worst "ear.status" over all submods (vmesh_tier_worst); none if none. */
vmesh_tier vmesh_ear_status(const vmesh_ear *e);
size_t vmesh_ear_rv_epoch_count(const vmesh_ear *e);
const char *vmesh_ear_rv_epoch_name(const vmesh_ear *e, size_t i); /* NULL past the end */
/* VMESH_ERR_NOT_FOUND when rvp is not listed. */
vmesh_err vmesh_ear_rv_epoch(const vmesh_ear *e, const char *rvp, uint64_t *epoch) VMESH_WUR;

size_t vmesh_ear_submod_count(const vmesh_ear *e);
const char *vmesh_ear_submod_name(const vmesh_ear *e, size_t i); /* NULL past the end */
int vmesh_ear_submod_find(const vmesh_ear *e, const char *name); /* index or -1 */
vmesh_tier vmesh_ear_submod_status(const vmesh_ear *e, size_t i);
/* The trust vector (absent claims 0); all-zero when the submod has none. */
void vmesh_ear_submod_tv(const vmesh_ear *e, size_t i, vmesh_tv *out);
const char *vmesh_ear_submod_policy_id(const vmesh_ear *e, size_t i);
/* "ear.veraison.key-attestation".akpub decoded to SPKI DER (out reset);
 * VMESH_ERR_NOT_FOUND when absent, PARSE when not base64url. */
vmesh_err vmesh_ear_submod_akpub(const vmesh_ear *e, size_t i, vmesh_buf *out) VMESH_WUR;
/* The decoded ear.vmesh.rv-journal of submod i (D43) into out (reset);
 * VMESH_ERR_NOT_FOUND when it has none, VMESH_ERR_PARSE or TOO_LARGE when
 * it is not base64url of at most VMESH_EAR_MAX_RV_JOURNAL bytes. */
vmesh_err vmesh_ear_submod_rv_journal(const vmesh_ear *e, size_t i, vmesh_buf *out) VMESH_WUR;
/* "ear.veraison.annotated-evidence" as compact JSON (out reset);
 * VMESH_ERR_NOT_FOUND when absent. */
vmesh_err vmesh_ear_submod_evidence_json(const vmesh_ear *e, size_t i, vmesh_buf *out) VMESH_WUR;

/* ---- a verifier's answer, bound to its question (DESIGN §9) ----------------
 * What a relying party (or an attester fetching a passport) checks on an EAR
 * it asked a verifier for, after the signature: the EAR answers the nonce it
 * sent, has the submodule of the evidence's scheme (never another one's),
 * names the verifier asked, lives no longer than allowed and, for a
 * passport, attests the key it was asked to. One refusal per property, so
 * that each has its own reason code upstream. */
typedef enum {
    VMESH_EAR_ANSWER_OK = 0,
    VMESH_EAR_ANSWER_NONCE,    /* eat_nonce absent or not the nonce sent (replayed or relayed answer) */
    VMESH_EAR_ANSWER_SUBMOD,   /* no submodule for the evidence's scheme */
    VMESH_EAR_ANSWER_ISSUER,   /* ear.verifier-id is not the verifier asked */
    VMESH_EAR_ANSWER_LIFETIME, /* no exp, or exp - iat longer than allowed */
    VMESH_EAR_ANSWER_AK,       /* the scheme's submodule does not attest the key asked for */
    VMESH_EAR_ANSWER_PEER,     /* ear.vmesh.peer.id is absent or not the peer asked about */
} vmesh_ear_answer;

typedef struct {
    const uint8_t *nonce;       /* the nonce sent (required) */
    size_t nonce_len;
    const char *scheme;         /* the evidence's scheme: its submodule must exist (required) */
    const char *issuer;         /* expected ear.verifier-id.developer; NULL: not checked */
    int64_t max_lifetime;       /* seconds; > 0: exp required and exp - iat <= it */
    const uint8_t *akpub;       /* SPKI DER the submodule must attest; NULL: not checked */
    size_t akpub_len;
    const char *peer;           /* SPIFFE ID ear.vmesh.peer.id must be; NULL: not checked */
} vmesh_ear_question;

/* Checks a (verified) EAR against the question; returns the first property
 * that fails, with an error message naming the values (vmesh_err_detail),
 * or VMESH_EAR_ANSWER_OK and the submodule's index in *submod. */
vmesh_ear_answer vmesh_ear_check_answer(const vmesh_ear *e, const vmesh_ear_question *q, size_t *submod);
/* "nonce", "submod", "issuer", "lifetime", "ak", "peer" ("ok" for OK). */
const char *vmesh_ear_answer_name(vmesh_ear_answer a);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
