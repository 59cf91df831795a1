/*
 * vmesh agent: the attestation brain of one process (sidecar, client,
 * vmesh server/client). Attester side: an ephemeral P-256 attestation key
 * (AK) generated in memory and rotated on a schedule, platform evidence
 * binding it (per epoch tick, per session, or an EAR passport), one AK
 * signature per session (none in key-bound mode, where the AK is the TLS
 * leaf key and the handshake's CertificateVerify is the proof). Relying-party side: the local verifier with its AR
 * cache, the epoch bell, and the RP policy. It implements the atls provider
 * contract (vmesh_atls_provider). The AK signs only binders of this
 * process's own sessions: it is never exposed as a signing oracle. Inside,
 * the attester and the relying party are separate rooms (src/agent/
 * attester.c, rp.c) behind this one header.
 */
#ifndef VMESH_AGENT_H
#define VMESH_AGENT_H

#include "vmesh/atls.h"
#include "vmesh/evidence.h"
#include "vmesh/policy.h"
#include "vmesh/rvp.h"
#include "vmesh/verifier.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Media type of an EAR passport in the attestation message (Veraison's). */
#define VMESH_EAR_MEDIA_TYPE "application/eat+jwt; eat_profile=\"tag:github.com,2023:veraison/ear\""

/* Obtains a passport: appraise `evidence` (whose nonce is
 * SHA-256("vmesh ak v1" || akpub || challenge)) and return an EAR JWT whose
 * key-attestation names akpub. Implemented by vmesh_agent_local_passport
 * (an in-process verifier) and by the central-verifier client. */
typedef vmesh_err (*vmesh_agent_passport_fn)(void *ctx, const char *media_type, const uint8_t *evidence,
                                             size_t evidence_len, const uint8_t *challenge,
                                             size_t challenge_len, const uint8_t *akpub, size_t akpub_len,
                                             vmesh_buf *ear_jwt);

/* Appraises background-check evidence at a central verifier (DESIGN §6):
 * the evidence must carry `nonce` (the session's ak_nonce); returns the EAR
 * JWT. peer: the peer's verified SPIFFE ID (NULL: none), sent so that the
 * verifier appraises with the providers scoped to it; the EAR must name it
 * (ear.vmesh.peer). Implemented over HTTP by vmesh_service_central_client.
 * VMESH_ERR_POLICY means the verifier itself is refused (its own
 * attestation, D39): refused as VMESH_ATLS_R_EAR_UNTRUSTED; any other
 * error is a verifier malfunction. *channel (set false first) says that
 * the EAR is authenticated by the attested TLS session it came on instead
 * of a signature (D51): then it is HS256 under the VMESH_JOSE_MAC_KEY_LEN
 * bytes written to channel_key, and is checked with those. */
typedef vmesh_err (*vmesh_agent_central_fn)(void *ctx, const char *media_type, const uint8_t *evidence,
                                            size_t evidence_len, const uint8_t *nonce, size_t nonce_len,
                                            const char *peer, vmesh_buf *ear_jwt, uint8_t *channel_key,
                                            bool *channel);

typedef struct {
    /* Attester side. platform NULL: this agent does not attest. */
    const char *platform;           /* scheme or attester name: "psa-sim", "tpm2" (vmesh_schemes_by_platform) */
    const vmesh_kv *platform_cfg;   /* the scheme's attester configuration */
    size_t n_platform_cfg;
    unsigned attest_modes;          /* VMESH_ATLS_MODE_BIT mask we produce; 0: all we can */
    int64_t ak_rotate_seconds;      /* 0: 3600 */
    /* Key-bound attestation (docs/ATLS.md, DECISIONS D38): the AK is also
     * this process's TLS leaf key. The caller gets a certificate for
     * vmesh_agent_ak_spki and configures it with vmesh_agent_tls_key, so
     * the key exists only in this process's memory. The AK is then not
     * rotated on the schedule (the certificate names it): rotate it with
     * vmesh_agent_rotate_ak together with a new SVID; new evidence and a
     * new passport follow. */
    bool keybound;
    /* Key-bound only: the agent this one succeeds (a configuration reload
     * of the same process, D44): it takes over that agent's AK, so the
     * SVID issued for it stays valid; the key still never leaves the
     * process. Borrowed for the call; NULL: a new AK. */
    struct vmesh_agent *keybound_from;
    vmesh_agent_passport_fn passport; /* NULL: no passport mode */
    void *passport_ctx;
    /* Relying-party side. */
    vmesh_verifier *verifier;       /* local verifier (borrowed; outlives the agent); NULL: passport only */
    vmesh_policy *policy;           /* reference taken; NULL: vmesh_policy_default */
    vmesh_bell_view *bell;          /* borrowed; NULL: no epoch-fresh mode */
    size_t cache_slots;             /* AR cache size; 0: 4096 */
    /* Central mode: background-check evidence is appraised by a central
     * verifier instead of the local one; its EARs are verified with
     * central_key. Results are cached like local ones (per RV snapshot of
     * the local verifier when there is one, per epoch tick) and for at most
     * central_cache_seconds (0: 60). Every EAR must answer the question
     * (DESIGN §9): eat_nonce is the ak_nonce sent, the evidence's scheme
     * has its own submodule, the verifier-id developer is central_issuer
     * (when set), exp - iat is within the policy's max-evidence-age; each
     * failure is refused with its own reason (VMESH_ATLS_R_EAR_*). */
    vmesh_agent_central_fn central;
    void *central_ctx;
    vmesh_key *central_key;         /* reference taken */
    int64_t central_cache_seconds;
    /* How long a new peer's appraisal asks again, with back-off, a central
     * verifier that answered under an older RV snapshot than ours (D41)
     * before refusing it stale-epoch: 0 default (3000 ms), < 0 not at all. */
    int64_t central_behind_wait_ms;
    const char *central_issuer;     /* expected ear.verifier-id.developer (copied); NULL: not checked */
    /* Scoped providers (optional, local verifier only): the reference
     * values a peer's evidence is appraised with, chosen by its SPIFFE ID.
     * Returns a store reference the agent drops and writes into `scope` the
     * providers it holds (appended to a refusal's reason); NULL refuses the
     * peer with `scope` as the reason (no provider scoped to it). */
    vmesh_rv_store *(*rv_for)(void *ctx, const char *peer_spiffe_id, char *scope, size_t scope_len);
    void *rv_for_ctx;
} vmesh_agent_config;

typedef struct vmesh_agent vmesh_agent;

vmesh_err vmesh_agent_new(const vmesh_agent_config *cfg, vmesh_agent **out) VMESH_WUR;
void vmesh_agent_free(vmesh_agent *a);

/* Fills p with this agent's provider (ctx = a) for vmesh_atls_config_set_provider. */
void vmesh_agent_provider(vmesh_agent *a, vmesh_atls_provider *p);
/* Swaps the RP policy (SIGHUP); drops cached results. */
void vmesh_agent_set_policy(vmesh_agent *a, vmesh_policy *p);
vmesh_policy *vmesh_agent_policy(vmesh_agent *a); /* +1 reference */
/* Forces a new AK now (tests; the schedule does it otherwise). */
vmesh_err vmesh_agent_rotate_ak(vmesh_agent *a) VMESH_WUR;
/* Key-bound agents only: the current AK as a key object (+1 reference)
 * for vmesh_atls_config_set_svid_key; VMESH_ERR_STATE otherwise. */
vmesh_err vmesh_agent_tls_key(vmesh_agent *a, vmesh_key **out) VMESH_WUR;
/* The current AK's SPKI DER (out reset). */
vmesh_err vmesh_agent_ak_spki(vmesh_agent *a, vmesh_buf *out) VMESH_WUR;

/* Per-peer policy rules: the policy for a peer is that of the first rule
 * whose SPIFFE pattern (an ID, or a prefix ending in "/" "*",
 * vmesh_pki_spiffe_match) matches its ID, else the agent's policy. */
#define VMESH_AGENT_MAX_RULES 256
typedef struct {
    const char *peer;       /* SPIFFE ID or pattern (copied) */
    vmesh_policy *policy;   /* a reference is taken */
} vmesh_agent_rule;
/* Replaces the rules atomically (SIGHUP); drops cached results. */
vmesh_err vmesh_agent_set_rules(vmesh_agent *a, const vmesh_agent_rule *rules, size_t n) VMESH_WUR;
/* The policy that applies to this peer (+1 reference); NULL id: the default. */
vmesh_policy *vmesh_agent_policy_for(vmesh_agent *a, const char *peer_spiffe_id);
/* Like vmesh_agent_provider, for connections to or from `peer`: with an
 * exact SPIFFE ID (an outbound upstream), modes and allow_unattested come
 * from that peer's policy; with NULL or a pattern, from the union of the
 * policy and every rule (the appraisal applies the actual peer's rule, and
 * vmesh_agent_reappraise tells whether an unattested peer is admitted). */
void vmesh_agent_provider_for(vmesh_agent *a, const char *peer, vmesh_atls_provider *p);

/* Re-judges a result the agent produced earlier for peer_spiffe_id under
 * the current RV snapshot and the current policy for that peer
 * (re-appraisal after an update; DESIGN §5), from what the result kept of
 * the accepted attestation (r->accepted: media type, evidence or EAR bytes,
 * ak_nonce, age; docs/PROXY.md). Background-check evidence is appraised
 * again (AR cache permitting) and must still carry the ak_nonce; passports
 * are checked against the current trusted keys, the policy and the RV
 * epochs (the EAR's epoch of an RVP we follow must be our current or
 * previous one); unattested peers (mode none) against the policy's
 * allow-unattested. Freshness (epoch tick, EAR expiry) was judged when the
 * session began and is not judged again: the policy sees the age the
 * evidence had then. A result kept beyond its connection is copied with
 * vmesh_atls_peer_result_copy. Returns VMESH_ATLS_R_NONE when the peer
 * still passes; else the reason, with a message in why. */
vmesh_atls_reason vmesh_agent_reappraise(vmesh_agent *a, const char *peer_spiffe_id,
                                         const vmesh_atls_peer_result *r, char *why, size_t why_len);
/* The same, telling "no verdict" apart (central mode, D41): *undecided is
 * set when the central verifier gave none for this peer now: it did not
 * answer, or answered under an older RV snapshot than ours (such an answer
 * is never cached). The returned reason is then the refusal that stands if
 * that lasts (stale-epoch, not-affirming); the caller decides how long a
 * connection may wait for a verdict. undecided may be NULL. */
vmesh_atls_reason vmesh_agent_reappraise_central(vmesh_agent *a, const char *peer_spiffe_id,
                                                 const vmesh_atls_peer_result *r, bool *undecided, char *why,
                                                 size_t why_len);
/* The same without appraising in full or asking the central verifier
 * (D43): only what the AR cache, the lookup journal (kept with the cache
 * entry or the result) or the checks of a passport decide, in
 * microseconds, so that a caller may run it where it must not block.
 * *decided false: only a full appraisal or a verifier round trip can
 * tell (the returned reason is then meaningless). */
vmesh_atls_reason vmesh_agent_reappraise_journal(vmesh_agent *a, const char *peer_spiffe_id,
                                                 const vmesh_atls_peer_result *r, bool *decided, char *why,
                                                 size_t why_len);

/* Central mode: the central verifier's own standing (issue 12.2, D39).
 * The caller (the proxy's verifier-link watcher) judges it: its platform
 * still attests under the current reference values for its workload. While
 * it is untrusted, every appraisal and re-appraisal of background-check
 * evidence is refused with VMESH_ATLS_R_EAR_UNTRUSTED, `why` in the
 * message, without asking it; each change drops every cached result. A
 * new agent starts trusted. No-op without a central verifier. */
void vmesh_agent_central_trust(vmesh_agent *a, bool trusted, const char *why);
bool vmesh_agent_central_trusted(vmesh_agent *a);

/* Counters for metrics. */
typedef struct {
    uint64_t attestations_made;     /* messages we produced */
    uint64_t evidence_generated;    /* platform evidence generations */
    uint64_t appraisals;            /* peer messages judged */
    uint64_t cache_hits, cache_misses;
    uint64_t refused;
    uint64_t central_behind;        /* central answers made under an older RV snapshot than ours (D41) */
    /* D43: lookup journals replayed under a newer snapshot: every answer
     * the same (kept without appraising), an answer changed, unreadable
     * (appraised as before); re-appraisals that appraised in full or asked
     * the central verifier; central answers whose journal our snapshot
     * contradicted at admission (not kept). */
    uint64_t journal_same, journal_changed, journal_unreadable, journal_foreign;
    uint64_t reappraise_full;
} vmesh_agent_stats;
void vmesh_agent_stats_get(vmesh_agent *a, vmesh_agent_stats *out);

/* A passport issuer backed by an in-process verifier (ctx: vmesh_verifier*):
 * appraises the evidence with expected nonce vmesh_atls_ak_nonce(akpub,
 * challenge) and
 * signs an EAR naming akpub. For tests and single-host demos; the central
 * verifier does the same behind its HTTP API. */
vmesh_err vmesh_agent_local_passport(void *ctx, const char *media_type, const uint8_t *evidence,
                                     size_t evidence_len, const uint8_t *challenge, size_t challenge_len,
                                     const uint8_t *akpub, size_t akpub_len, vmesh_buf *ear_jwt) VMESH_WUR;

/* When an attester starts binding epoch-fresh evidence to tick `cur`
 * (unix seconds): half a period after it was issued, so that relying
 * parties that have not fetched it yet still accept the evidence (bound to
 * their current tick, our previous one). A relying party that wants
 * evidence of the new tick asks after this time (the proxy's on-tick
 * re-attestation). */
int64_t vmesh_agent_tick_bind_at(const vmesh_bell *cur);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
