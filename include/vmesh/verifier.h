/*
 * vmesh verifier: the appraisal engine shared by the local verifier (inside
 * every sidecar and client) and the central verifier service. It picks the
 * evidence scheme, runs its appraisal against the current reference-value
 * snapshot and turns the outcome into a signed EAR (DESIGN §4). It never
 * trusts evidence it could not appraise: errors and non-affirming results
 * are both reported, never silently upgraded.
 */
#ifndef VMESH_VERIFIER_H
#define VMESH_VERIFIER_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"
#include "vmesh/rv.h"
#include "vmesh/rvp.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* ---- reference values -------------------------------------------------------- */

/* Loads one reference-value file into s, detecting the format: CoRIM
 * (CBOR tag 501, or a signed CoRIM: COSE_Sign1 tag 18 — verified with
 * corim_key when given, refused otherwise; an unsigned CoRIM is read either
 * way, since the caller named the file) or vmesh RV JSON. */
vmesh_err vmesh_verifier_load_rv_file(vmesh_rv_store *s, const char *path,
                                      const vmesh_key *corim_key) VMESH_WUR;

/* ---- the engine ------------------------------------------------------------- */

typedef struct vmesh_verifier vmesh_verifier;

typedef struct {
    vmesh_key *ear_key;          /* signs EARs (a reference is taken); NULL: appraise only */
    int64_t ear_validity;        /* seconds an EAR is valid; 0: 3600 */
    const char *developer;       /* ear.verifier-id.developer; NULL: "vmesh" */
    const char *build;           /* ear.verifier-id.build; NULL: "vmesh-<version>" */
    const char *policy_id;       /* ear.appraisal-policy-id; NULL: default */
} vmesh_verifier_config;

vmesh_err vmesh_verifier_new(const vmesh_verifier_config *cfg, vmesh_verifier **out) VMESH_WUR;
void vmesh_verifier_free(vmesh_verifier *v);
/* What results are appraised under (issue 12.4): the policy digest
 * ("sha-256:<hex>" over the policy id, the EAR lifetime and the schemes;
 * every EAR carries it as ear.vmesh.policy-digest) and the verifier's
 * identity ("developer/build", as ear.verifier-id). Owned by v. */
#define VMESH_VERIFIER_DIGEST_MAX 80
#define VMESH_VERIFIER_ID_MAX 128
const char *vmesh_verifier_policy_digest(const vmesh_verifier *v);
const char *vmesh_verifier_id(const vmesh_verifier *v);
/* Installs a new (frozen) reference-value snapshot; takes a reference.
 * Safe to call while other threads appraise: they finish on the snapshot
 * they started with. */
void vmesh_verifier_set_rv(vmesh_verifier *v, vmesh_rv_store *s);
/* The current snapshot with a reference the caller drops. */
vmesh_rv_store *vmesh_verifier_rv(vmesh_verifier *v);

typedef struct {
    const uint8_t *evidence;
    size_t evidence_len;
    const char *media_type;      /* NULL: detect */
    const uint8_t *nonce;        /* expected nonce; NULL: not checked */
    size_t nonce_len;
    const uint8_t *akpub;        /* SPKI DER of a key the evidence binds (key attestation) */
    size_t akpub_len;
    int64_t now;                 /* 0: vmesh_time_now() */
    /* The epoch markers the result is produced under (the bells the
     * verifier follows, or the tick the evidence is bound to); written to
     * the EAR as ear.vmesh.epoch-markers. */
    const vmesh_bell_marker *markers;
    size_t nmarkers;
    /* The reference values to appraise with (scoped providers: only those
     * of the RVPs scoped to the peer); NULL: the installed snapshot. */
    vmesh_rv_store *rv;
    /* The SPIFFE ID the evidence is appraised for and the scope that chose
     * rv, written to the EAR as ear.vmesh.peer {id, scope}; NULL: none. */
    const char *peer_id;
    const char *peer_scope;
    /* The EAR leaves out ear.veraison.annotated-evidence (D46): the caller
     * is the relying party that sent the evidence and holds it already. */
    bool no_annotated;
    /* When set: the EAR is authenticated with HS256 under these
     * VMESH_JOSE_MAC_KEY_LEN bytes (the TLS session's exported key, D51)
     * instead of being signed with the verifier's EAR key. */
    const uint8_t *mac_key;
} vmesh_verifier_request;

/* Appraises evidence. Fills *out (trust vector, status, reason, claims) and,
 * when ear is not NULL, a signed EAR JWT. Returns an error only when the
 * evidence cannot be appraised at all (unknown media type, malformed). */
vmesh_err vmesh_verifier_appraise(vmesh_verifier *v, const vmesh_verifier_request *req,
                                  vmesh_appraisal *out, const vmesh_evidence_scheme **scheme,
                                  vmesh_buf *ear) VMESH_WUR;


/* ---- the attestation-result cache (local verifier) -------------------------
 * Results keyed by a digest of (media type, expected nonce, evidence) and
 * valid only for the RV snapshot generation and the epoch generation they
 * were computed under: a new snapshot or a new tick invalidates them
 * (DESIGN §3.3 epoch-fresh mode). Fixed size, direct-mapped, thread-safe. */

typedef struct vmesh_ar_cache vmesh_ar_cache;

typedef struct {
    vmesh_tv tv;
    vmesh_tier status;
    char scheme[32];
    char reason[256];
    int64_t appraised_at;
    bool binding_mismatch; /* the evidence does not carry the expected nonce */
    int64_t expires;       /* 0, or when the result stops being valid (EAR exp) */
    /* A verifier's EAR (central mode): its exp - iat, which the relying
     * party's policy bounds (0: no EAR), and, when the answer itself is
     * refused (not bound to the question), the vmesh_atls_reason. */
    int64_t lifetime;
    uint8_t refusal;
    /* Appraised under (issue 12.4): the verifier ("developer/build", and
     * for an EAR " key:" + the first 16 hex digits of its key's RFC 7638
     * thumbprint, or " (local)") and its policy digest; "" when unknown. */
    char verifier[VMESH_VERIFIER_ID_MAX];
    char policy_digest[VMESH_VERIFIER_DIGEST_MAX];
    /* The lookup journal of the appraisal (vmesh_rv_journal_encode, D43):
     * what it asked the RV store and was told; journal_len 0: none (the
     * entry is not replayable under another snapshot). */
    uint16_t journal_len;
    uint8_t journal[VMESH_RV_JOURNAL_MAX];
} vmesh_ar_entry;

vmesh_err vmesh_ar_cache_new(size_t slots, vmesh_ar_cache **out) VMESH_WUR;
void vmesh_ar_cache_free(vmesh_ar_cache *c);
/* The cache key of one appraisal request. */
void vmesh_ar_cache_key(const char *media_type, const uint8_t *nonce, size_t nonce_len,
                        const uint8_t *evidence, size_t evidence_len, uint8_t key[32]);
bool vmesh_ar_cache_get(vmesh_ar_cache *c, const uint8_t key[32], uint64_t rv_gen, uint64_t epoch_gen,
                        vmesh_ar_entry *out);
/* Like get, and also: an entry with a lookup journal stored under another
 * RV generation and this epoch generation is copied to out and left in
 * place (VMESH_AR_OTHER_RV), for the caller to replay its journal against
 * the current snapshot (vmesh_rv_journal_replay) and put it again under
 * the new generation when every answer is the same. Counted as a miss. */
typedef enum { VMESH_AR_MISS = 0, VMESH_AR_HIT, VMESH_AR_OTHER_RV } vmesh_ar_lookup;
vmesh_ar_lookup vmesh_ar_cache_lookup(vmesh_ar_cache *c, const uint8_t key[32], uint64_t rv_gen, uint64_t epoch_gen,
                                      vmesh_ar_entry *out);
void vmesh_ar_cache_put(vmesh_ar_cache *c, const uint8_t key[32], uint64_t rv_gen, uint64_t epoch_gen,
                        const vmesh_ar_entry *e);
/* Drops every entry (e.g. when the policy changes). */
void vmesh_ar_cache_clear(vmesh_ar_cache *c);
void vmesh_ar_cache_stats(vmesh_ar_cache *c, uint64_t *hits, uint64_t *misses);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
