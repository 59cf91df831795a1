/*
 * Inside the agent: two rooms behind one public header (vmesh/agent.h).
 *   attester.c  our own platform: the AK and its rotation, platform
 *               evidence (per session, per epoch tick), the passport we
 *               present, the AK's one signature per session;
 *   rp.c        the relying party: appraisal of a peer's evidence or
 *               passport (local verifier, central verifier, AR cache),
 *               the verdict under a policy, re-appraisal of what a result
 *               kept (vmesh_atls_accepted);
 *   agent.c     what ties them to atls: lifecycle, the policy and per-peer
 *               rules, the provider, counters.
 * Each room owns its state and its lock; neither reads the other's. The
 * attester never sees a peer's message, the relying party never touches
 * the AK.
 */
#ifndef VMESH_AGENT_INT_H
#define VMESH_AGENT_INT_H

#include "vmesh/agent.h"

#include <pthread.h>
#include <stdatomic.h>

/* Counters both rooms add to (vmesh_agent_stats); atomics, so that neither
 * room takes a lock only to count. */
typedef struct {
    _Atomic uint64_t attestations_made, evidence_generated;
    _Atomic uint64_t appraisals, cache_hits, cache_misses, refused;
    _Atomic uint64_t central_behind; /* central answers under an older RV snapshot than ours (D41) */
    /* D43: lookup journals replayed under a new snapshot, by outcome, and
     * re-appraisals that appraised in full (or asked the central verifier) */
    _Atomic uint64_t journal_same, journal_changed, journal_unreadable, reappraise_full;
    _Atomic uint64_t journal_foreign; /* central journals our snapshot contradicts at admission (not kept) */
} agent_counters;

/* ---- the attester (attester.c) ------------------------------------------------ */

typedef struct {
    /* Three locks, always taken in this order, never the other way:
     *   renew     one passport renewal at a time (held across the
     *             verifier's round trip; nobody else waits for it while
     *             the current passport is still valid for this epoch;
     *             at a new epoch tick everyone waits for the one renewal,
     *             so that every answer carries that epoch's passport);
     *   platform  the platform's attester (scheme_ctx): TPM and TSM are
     *             serial devices; held while evidence is made;
     *   lock      the state below; held for copies and checks only, never
     *             while evidence is made or a verifier is asked, so that a
     *             slow platform or verifier does not stall handshakes that
     *             need neither (epoch evidence of the tick, a valid
     *             passport). */
    pthread_mutex_t renew, platform, lock;
    const vmesh_evidence_scheme *scheme; /* NULL: this agent does not attest */
    void *scheme_ctx;
    unsigned modes;                      /* VMESH_ATLS_MODE_BIT mask we can produce */
    int64_t rotate;                      /* AK lifetime, seconds */
    bool keybound;                       /* the AK is our TLS leaf key: rotated with the SVID
                                          * (vmesh_agent_rotate_ak), never on the schedule */
    vmesh_bell_view *bell;               /* borrowed; NULL: no epoch-fresh evidence */
    vmesh_agent_passport_fn passport;    /* NULL: no passports */
    void *passport_ctx;
    vmesh_key *ak;
    vmesh_buf ak_spki;
    uint64_t ak_gen;
    int64_t ak_born;
    vmesh_buf epoch_evidence;            /* for (epoch_ev_ak_gen, epoch_ev_id) */
    uint64_t epoch_ev_ak_gen, epoch_ev_id;
    bool have_epoch_ev;
    vmesh_buf ear;                       /* the passport, for ak_gen ear_ak_gen */
    uint64_t ear_ak_gen;
    int64_t ear_exp;
    uint64_t ear_tick;                   /* the bell tick it was fetched for (0: no bell) */
    int64_t renew_after;                 /* no renewal attempt before (after a failure) */
    uint64_t renew_failed_tick;          /* the tick whose renewal failed last */
    agent_counters *counters;            /* the agent's */
} agent_attester;

/* Sets up the platform of cfg->platform (a no-op without one) and the
 * first AK. at is zeroed by the caller; free it even after a failure. */
vmesh_err agent_attester_init(agent_attester *at, const vmesh_agent_config *cfg, agent_counters *counters) VMESH_WUR;
void agent_attester_free(agent_attester *at);
/* Fills msg for in (the atls provider's attest). */
vmesh_err agent_attester_attest(agent_attester *at, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg) VMESH_WUR;
vmesh_err agent_attester_rotate(agent_attester *at) VMESH_WUR;
vmesh_err agent_attester_tls_key(agent_attester *at, vmesh_key **out) VMESH_WUR;
vmesh_err agent_attester_ak_spki(agent_attester *at, vmesh_buf *out) VMESH_WUR;
/* Key-bound: at (not shared yet) takes over from's AK (a reference), so a
 * certificate issued for it goes on serving (a configuration reload, D44). */
vmesh_err agent_attester_adopt(agent_attester *at, agent_attester *from) VMESH_WUR;

/* ---- the relying party (rp.c) -------------------------------------------------- */

#define AGENT_RP_MEDIA_TYPES_MAX 16

typedef struct {
    vmesh_verifier *verifier;            /* borrowed; NULL: no local verifier */
    vmesh_rv_store *(*rv_for)(void *ctx, const char *peer, char *scope, size_t n); /* scoped providers */
    void *rv_for_ctx;
    vmesh_bell_view *bell;               /* borrowed; NULL: no epoch-fresh mode */
    vmesh_ar_cache *cache;
    vmesh_agent_central_fn central;      /* NULL: the local verifier appraises */
    void *central_ctx;
    vmesh_key *central_key;
    char *central_issuer;                /* NULL: not checked */
    int64_t central_ttl;
    int central_behind_wait_ms; /* vmesh_agent_config.central_behind_wait_ms, resolved */
    /* The central verifier's own standing (vmesh_agent_central_trust):
     * while untrusted, background-check evidence is refused without asking
     * it, with central_why (under central_lock). */
    _Atomic bool central_untrusted;
    pthread_mutex_t central_lock;
    bool central_lock_init;
    char central_why[300];
    /* What we can appraise (advertised in 0xff4d), NULL-terminated. */
    const char *media_types[AGENT_RP_MEDIA_TYPES_MAX];
    agent_counters *counters;
} agent_rp;

/* rp is zeroed by the caller; free it even after a failure. */
vmesh_err agent_rp_init(agent_rp *rp, const vmesh_agent_config *cfg, agent_counters *counters) VMESH_WUR;
void agent_rp_free(agent_rp *rp);
/* True when background-check evidence can be appraised (a local or a
 * central verifier); passports need neither. */
bool agent_rp_appraises_evidence(const agent_rp *rp);
/* Judges the peer's message under pol (the policy for this peer): fills
 * out (tv, tier, mode, reason, accepted.evidence_age) and returns
 * VMESH_ATLS_R_NONE to admit, else the reason. */
vmesh_atls_reason agent_rp_appraise(agent_rp *rp, const vmesh_policy *pol, const vmesh_atls_appraise_in *in,
                                    vmesh_atls_peer_result *out);
/* Judges again what r kept, under pol and the current RV snapshot
 * (vmesh_agent_reappraise_central); the message goes to out->reason;
 * *undecided (may be NULL): no verdict from the central verifier.
 * need_full (may be NULL): never appraise in full nor ask the central
 * verifier; set *need_full instead when only that could decide
 * (vmesh_agent_reappraise_journal). */
vmesh_atls_reason agent_rp_reappraise(agent_rp *rp, const vmesh_policy *pol, const char *peer_spiffe_id,
                                      const vmesh_atls_peer_result *r,
                                      vmesh_atls_peer_result *out, bool *undecided, bool *need_full);
/* Drops every cached result (the policy, hence the trusted verifiers, changed). */
void agent_rp_forget(agent_rp *rp);
/* vmesh_agent_central_trust / vmesh_agent_central_trusted */
void agent_rp_central_trust(agent_rp *rp, bool trusted, const char *why);

#endif
