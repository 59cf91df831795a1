/*
 * The agent: the attestation brain of one process behind the atls provider
 * contract. This file ties its two rooms together (agent_int.h): the
 * attester (attester.c) and the relying party (rp.c), plus what both serve:
 * the RP policy and per-peer rules, the provider handed to atls, counters.
 * It must never hand atls a provider that accepts a mode no rule accepts,
 * and never judge a peer under another peer's rule.
 */
#include "agent_int.h"
#include "vmesh/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A per-peer policy rule (vmesh_agent_set_rules): first match wins. */
typedef struct {
    char *pattern;
    vmesh_policy *policy;
} agent_rule;

struct vmesh_agent {
    agent_attester at;
    agent_rp rp;
    agent_counters counters;
    pthread_mutex_t lock; /* policy and rules */
    vmesh_policy *policy;
    agent_rule *rules;
    size_t nrules;
};

/* ---- the provider's two callbacks -------------------------------------------- */

static vmesh_err agent_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    vmesh_agent *a = ctx;

    return agent_attester_attest(&a->at, in, msg);
}

static vmesh_err agent_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                                vmesh_atls_reason *reason)
{
    vmesh_agent *a = ctx;
    vmesh_policy *pol = vmesh_agent_policy_for(a, in->peer_spiffe_id);
    vmesh_keybound kb = vmesh_policy_keybound(pol);

    /* Key-bound attestation is the peer policy's to allow (DECISIONS D38):
     * atls has checked the binding (AK == the certificate key that signed
     * this handshake); whether this peer may use it is decided here. */
    if (in->keybound && kb == VMESH_KEYBOUND_OFF) {
        *reason = VMESH_ATLS_R_MODE_REFUSED;
        snprintf(out->reason, sizeof(out->reason),
                 "key-bound attestation is not accepted for peer %s by policy (\"key-bound\": \"off\")",
                 in->peer_spiffe_id ? in->peer_spiffe_id : "(unknown)");
    } else if (!in->keybound && kb == VMESH_KEYBOUND_REQUIRE && in->reattest == 0 && !in->resumed &&
               !in->msg->fresh) {
        *reason = VMESH_ATLS_R_MODE_REFUSED;
        snprintf(out->reason, sizeof(out->reason),
                 "policy requires key-bound attestation for peer %s (\"key-bound\": \"require\"); %s",
                 in->peer_spiffe_id ? in->peer_spiffe_id : "(unknown)",
                 in->peer_kb_capable ? "it sent a version 2 message with a session proof"
                                     : "it does not attest key-bound (no 0xff4e attest flag: older peer or "
                                       "TLS key not the attestation key)");
    } else {
        *reason = agent_rp_appraise(&a->rp, pol, in, out);
    }
    vmesh_policy_free(pol);
    return VMESH_OK;
}

vmesh_atls_reason vmesh_agent_reappraise(vmesh_agent *a, const char *peer_spiffe_id, const vmesh_atls_peer_result *r,
                                         char *why, size_t why_len)
{
    return vmesh_agent_reappraise_central(a, peer_spiffe_id, r, NULL, why, why_len);
}

vmesh_atls_reason vmesh_agent_reappraise_central(vmesh_agent *a, const char *peer_spiffe_id,
                                                 const vmesh_atls_peer_result *r, bool *undecided, char *why,
                                                 size_t why_len)
{
    vmesh_policy *pol = vmesh_agent_policy_for(a, peer_spiffe_id);
    vmesh_atls_peer_result out;
    vmesh_atls_reason res;

    vmesh_atls_peer_result_init(&out);
    res = agent_rp_reappraise(&a->rp, pol, peer_spiffe_id, r, &out, undecided, NULL);
    if (why_len > 0)
        snprintf(why, why_len, "%s", res == VMESH_ATLS_R_NONE ? "" : out.reason);
    vmesh_atls_peer_result_free(&out);
    vmesh_policy_free(pol);
    return res;
}

vmesh_atls_reason vmesh_agent_reappraise_journal(vmesh_agent *a, const char *peer_spiffe_id,
                                                 const vmesh_atls_peer_result *r, bool *decided, char *why,
                                                 size_t why_len)
{
    vmesh_policy *pol = vmesh_agent_policy_for(a, peer_spiffe_id);
    vmesh_atls_peer_result out;
    vmesh_atls_reason res;
    bool need_full = false;

    vmesh_atls_peer_result_init(&out);
    res = agent_rp_reappraise(&a->rp, pol, peer_spiffe_id, r, &out, NULL, &need_full);
    *decided = !need_full;
    if (why_len > 0)
        snprintf(why, why_len, "%s", res == VMESH_ATLS_R_NONE || need_full ? "" : out.reason);
    vmesh_atls_peer_result_free(&out);
    vmesh_policy_free(pol);
    return need_full ? VMESH_ATLS_R_NONE : res;
}

vmesh_err vmesh_agent_tls_key(vmesh_agent *a, vmesh_key **out)
{
    return agent_attester_tls_key(&a->at, out);
}

vmesh_err vmesh_agent_rotate_ak(vmesh_agent *a)
{
    return agent_attester_rotate(&a->at);
}

vmesh_err vmesh_agent_ak_spki(vmesh_agent *a, vmesh_buf *out)
{
    return agent_attester_ak_spki(&a->at, out);
}

static void free_rules(agent_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rules[i].pattern);
        vmesh_policy_free(rules[i].policy);
    }
    free(rules);
}

/* ---- lifecycle ---------------------------------------------------------------- */

vmesh_err vmesh_agent_new(const vmesh_agent_config *cfg, vmesh_agent **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_agent *a = NULL;

    *out = NULL;
    a = calloc(1, sizeof(*a));
    VMESH_ENSURE(a != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    if (cfg->policy != NULL)
        a->policy = vmesh_policy_ref(cfg->policy);
    else
        VMESH_GUARD(vmesh_policy_default(&a->policy));
    VMESH_GUARD(agent_attester_init(&a->at, cfg, &a->counters));
    if (cfg->keybound_from != NULL)
        VMESH_GUARD(agent_attester_adopt(&a->at, &cfg->keybound_from->at));
    VMESH_GUARD(agent_rp_init(&a->rp, cfg, &a->counters));
    *out = a;
    a = NULL;
out:
    vmesh_agent_free(a);
    return rc;
}

void vmesh_agent_free(vmesh_agent *a)
{
    if (a == NULL)
        return;
    agent_attester_free(&a->at);
    agent_rp_free(&a->rp);
    vmesh_policy_free(a->policy);
    free_rules(a->rules, a->nrules);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void vmesh_agent_provider(vmesh_agent *a, vmesh_atls_provider *p)
{
    vmesh_agent_provider_for(a, NULL, p);
}

void vmesh_agent_provider_for(vmesh_agent *a, const char *peer, vmesh_atls_provider *p)
{
    vmesh_policy *pol = NULL;
    unsigned modes = 0;
    bool unattested = false, kb_accept = false;

    if (peer != NULL && vmesh_pki_spiffe_id_validate(peer) == VMESH_OK) {
        pol = vmesh_agent_policy_for(a, peer);
        modes = vmesh_policy_modes(pol);
        unattested = vmesh_policy_allows_unattested(pol);
        kb_accept = vmesh_policy_keybound(pol) != VMESH_KEYBOUND_OFF;
    } else {
        /* Unknown peer: what any rule may accept; appraise() applies the
         * rule of the actual peer. */
        pthread_mutex_lock(&a->lock);
        modes = vmesh_policy_modes(a->policy);
        unattested = vmesh_policy_allows_unattested(a->policy);
        kb_accept = vmesh_policy_keybound(a->policy) != VMESH_KEYBOUND_OFF;
        for (size_t i = 0; i < a->nrules; i++) {
            modes |= vmesh_policy_modes(a->rules[i].policy);
            unattested = unattested || vmesh_policy_allows_unattested(a->rules[i].policy);
            kb_accept = kb_accept || vmesh_policy_keybound(a->rules[i].policy) != VMESH_KEYBOUND_OFF;
        }
        pthread_mutex_unlock(&a->lock);
    }
    /* Preference: the cheapest for us to check first. */
    static const uint8_t order[] = {VMESH_ATLS_MODE_EPOCH_FRESH, VMESH_ATLS_MODE_PASSPORT, VMESH_ATLS_MODE_FRESH};

    memset(p, 0, sizeof(*p));
    p->ctx = a;
    p->attest = a->at.scheme ? agent_attest : NULL;
    p->appraise = agent_appraise;
    for (size_t i = 0; i < sizeof(order); i++) {
        if ((modes & VMESH_MODE_BIT(order[i])) == 0)
            continue;
        if (order[i] == VMESH_ATLS_MODE_EPOCH_FRESH && a->rp.bell == NULL)
            continue;
        if (order[i] != VMESH_ATLS_MODE_PASSPORT && !agent_rp_appraises_evidence(&a->rp))
            continue;
        p->accept_modes[p->n_accept_modes++] = order[i];
    }
    p->media_types = a->rp.media_types;
    p->will_attest = a->at.scheme != NULL;
    p->attest_modes = a->at.scheme ? a->at.modes : 0;
    p->allow_unattested = unattested;
    p->keybound_accept = kb_accept;
    p->keybound_attest = a->at.scheme != NULL && a->at.keybound;
    vmesh_policy_free(pol);
}

void vmesh_agent_set_policy(vmesh_agent *a, vmesh_policy *p)
{
    vmesh_policy *old;

    vmesh_policy_ref(p);
    pthread_mutex_lock(&a->lock);
    old = a->policy;
    a->policy = p;
    pthread_mutex_unlock(&a->lock);
    vmesh_policy_free(old);
    agent_rp_forget(&a->rp);
}

vmesh_err vmesh_agent_set_rules(vmesh_agent *a, const vmesh_agent_rule *rules, size_t n)
{
    vmesh_err rc = VMESH_OK;
    agent_rule *nr = NULL, *old;
    size_t have = 0, nold;

    VMESH_ENSURE(n <= VMESH_AGENT_MAX_RULES, VMESH_ERR_TOO_LARGE, "more than %d policy rules",
                 VMESH_AGENT_MAX_RULES);
    if (n > 0) {
        nr = calloc(n, sizeof(*nr));
        VMESH_ENSURE(nr != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    for (; have < n; have++) {
        VMESH_ENSURE(rules[have].policy != NULL, VMESH_ERR_ARG, "policy rule %zu has no policy", have);
        rc = vmesh_pki_spiffe_pattern_validate(rules[have].peer);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "policy rule %zu", have);
            goto out;
        }
        nr[have].pattern = strdup(rules[have].peer);
        VMESH_ENSURE(nr[have].pattern != NULL, VMESH_ERR_NOMEM, "out of memory");
        nr[have].policy = vmesh_policy_ref(rules[have].policy);
    }
    pthread_mutex_lock(&a->lock);
    old = a->rules;
    nold = a->nrules;
    a->rules = nr;
    a->nrules = n;
    pthread_mutex_unlock(&a->lock);
    nr = old;
    have = nold;
    agent_rp_forget(&a->rp);
out:
    free_rules(nr, have);
    return rc;
}

void vmesh_agent_central_trust(vmesh_agent *a, bool trusted, const char *why)
{
    agent_rp_central_trust(&a->rp, trusted, why);
}

bool vmesh_agent_central_trusted(vmesh_agent *a)
{
    return !atomic_load(&a->rp.central_untrusted);
}

vmesh_policy *vmesh_agent_policy_for(vmesh_agent *a, const char *peer_spiffe_id)
{
    vmesh_policy *p = NULL;

    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; peer_spiffe_id != NULL && i < a->nrules && p == NULL; i++)
        if (vmesh_pki_spiffe_match(a->rules[i].pattern, peer_spiffe_id))
            p = vmesh_policy_ref(a->rules[i].policy);
    if (p == NULL)
        p = vmesh_policy_ref(a->policy);
    pthread_mutex_unlock(&a->lock);
    return p;
}

vmesh_policy *vmesh_agent_policy(vmesh_agent *a)
{
    vmesh_policy *p;

    pthread_mutex_lock(&a->lock);
    p = vmesh_policy_ref(a->policy);
    pthread_mutex_unlock(&a->lock);
    return p;
}

void vmesh_agent_stats_get(vmesh_agent *a, vmesh_agent_stats *out)
{
    out->attestations_made = atomic_load(&a->counters.attestations_made);
    out->evidence_generated = atomic_load(&a->counters.evidence_generated);
    out->appraisals = atomic_load(&a->counters.appraisals);
    out->cache_hits = atomic_load(&a->counters.cache_hits);
    out->cache_misses = atomic_load(&a->counters.cache_misses);
    out->refused = atomic_load(&a->counters.refused);
    out->central_behind = atomic_load(&a->counters.central_behind);
    out->journal_same = atomic_load(&a->counters.journal_same);
    out->journal_changed = atomic_load(&a->counters.journal_changed);
    out->journal_unreadable = atomic_load(&a->counters.journal_unreadable);
    out->journal_foreign = atomic_load(&a->counters.journal_foreign);
    out->reappraise_full = atomic_load(&a->counters.reappraise_full);
}

