/*
 * The agent's relying party: judges a peer's attestation. Background-check
 * evidence is appraised by the local verifier (or a central one) under the
 * current RV snapshot, through the AR cache; a passport EAR is checked
 * against the verifiers the policy trusts and the RV epochs we follow; the
 * policy for the peer gives the verdict. What was accepted stays with the
 * result (vmesh_atls_accepted), typed, so that re-appraisal after an RV or
 * policy change judges the same bytes again. It must never admit a peer
 * the policy refuses, never serve a cached result computed under another
 * RV snapshot or epoch tick, and never accept evidence that does not carry
 * this session's ak_nonce.
 */
#include "agent_int.h"
#include "vmesh/jose.h"
#include "vmesh/schemes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SLOTS 4096
#define DEFAULT_CENTRAL_TTL 60
#define CENTRAL_FAILURE_TTL 2 /* a failed central appraisal is retried this soon */
/* A central verifier behind our RV snapshot (D41) is asked again after
 * 100, 200, 400, 800 ms ... for a new peer, within this much waiting (the
 * handshake deadline cuts it shorter when it is shorter). */
#define CENTRAL_BEHIND_FIRST_MS 100
#define CENTRAL_BEHIND_WAIT_MS 3000     /* default: vmesh_agent_config.central_behind_wait_ms */
#define CENTRAL_BEHIND_WAIT_MAX_MS 60000

vmesh_err agent_rp_init(agent_rp *rp, const vmesh_agent_config *cfg, agent_counters *counters)
{
    vmesh_err rc = VMESH_OK;
    size_t nmt = 0, nschemes;
    const vmesh_evidence_scheme *const *all = vmesh_schemes_all(&nschemes);

    rp->counters = counters;
    pthread_mutex_init(&rp->central_lock, NULL);
    rp->central_lock_init = true;
    rp->verifier = cfg->verifier;
    rp->rv_for = cfg->rv_for;
    rp->rv_for_ctx = cfg->rv_for_ctx;
    rp->bell = cfg->bell;
    if (cfg->central != NULL) {
        VMESH_ENSURE(cfg->central_key != NULL, VMESH_ERR_ARG, "central verifier: its EAR verification key is required");
        rp->central = cfg->central;
        rp->central_ctx = cfg->central_ctx;
        rp->central_key = vmesh_crypto_key_ref(cfg->central_key);
        rp->central_ttl = cfg->central_cache_seconds > 0 ? cfg->central_cache_seconds : DEFAULT_CENTRAL_TTL;
        rp->central_behind_wait_ms = cfg->central_behind_wait_ms < 0    ? 0
                                     : cfg->central_behind_wait_ms == 0 ? CENTRAL_BEHIND_WAIT_MS
                                     : cfg->central_behind_wait_ms > CENTRAL_BEHIND_WAIT_MAX_MS
                                         ? CENTRAL_BEHIND_WAIT_MAX_MS
                                         : (int)cfg->central_behind_wait_ms;
        if (cfg->central_issuer != NULL) {
            rp->central_issuer = strdup(cfg->central_issuer);
            VMESH_ENSURE(rp->central_issuer != NULL, VMESH_ERR_NOMEM, "out of memory");
        }
    }
    VMESH_GUARD(vmesh_ar_cache_new(cfg->cache_slots ? cfg->cache_slots : DEFAULT_SLOTS, &rp->cache));
    /* What we can appraise: EAR passports, and every registered scheme's
     * evidence when a verifier (local or central) appraises it. */
    rp->media_types[nmt++] = VMESH_EAR_MEDIA_TYPE;
    for (size_t i = 0; i < nschemes && agent_rp_appraises_evidence(rp); i++)
        for (const char *const *m = all[i]->media_types; *m != NULL && nmt < AGENT_RP_MEDIA_TYPES_MAX - 1; m++)
            rp->media_types[nmt++] = *m;
    rp->media_types[nmt] = NULL;
out:
    return rc;
}

void agent_rp_free(agent_rp *rp)
{
    vmesh_crypto_key_free(rp->central_key);
    free(rp->central_issuer);
    vmesh_ar_cache_free(rp->cache);
    if (rp->central_lock_init)
        pthread_mutex_destroy(&rp->central_lock);
}

bool agent_rp_appraises_evidence(const agent_rp *rp)
{
    return rp->verifier != NULL || rp->central != NULL;
}

void agent_rp_forget(agent_rp *rp)
{
    vmesh_ar_cache_clear(rp->cache);
}

/* The flag is set before the cache is cleared: an appraisal that was
 * asking the verifier meanwhile may still put its result, but no lookup
 * reads the cache while the flag is set (appraise_cached). */
void agent_rp_central_trust(agent_rp *rp, bool trusted, const char *why)
{
    if (rp->central == NULL)
        return;
    pthread_mutex_lock(&rp->central_lock);
    snprintf(rp->central_why, sizeof(rp->central_why), "%s", trusted ? "" : why ? why : "no reason given");
    pthread_mutex_unlock(&rp->central_lock);
    atomic_store(&rp->central_untrusted, !trusted);
    agent_rp_forget(rp);
}

/* ---- verdicts ------------------------------------------------------------------- */

static vmesh_atls_reason verdict_reason(vmesh_policy_verdict v)
{
    switch (v) {
    case VMESH_POLICY_OK: return VMESH_ATLS_R_NONE;
    case VMESH_POLICY_MODE_REFUSED: return VMESH_ATLS_R_MODE_REFUSED;
    case VMESH_POLICY_UNATTESTED_REFUSED: return VMESH_ATLS_R_UNATTESTED_REFUSED;
    case VMESH_POLICY_EVIDENCE_TOO_OLD: return VMESH_ATLS_R_EVIDENCE_TOO_OLD;
    case VMESH_POLICY_SCHEME_REFUSED: return VMESH_ATLS_R_POLICY_REFUSED;
    default: return VMESH_ATLS_R_NOT_AFFIRMING;
    }
}

static bool any_claim(const vmesh_tv *tv, int8_t v)
{
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        if (tv->v[i] == v)
            return true;
    return false;
}

static vmesh_atls_reason refuse(vmesh_atls_peer_result *out, vmesh_atls_reason r, const char *fmt, ...)
    VMESH_PRINTF(3, 4);
static vmesh_atls_reason refuse(vmesh_atls_peer_result *out, vmesh_atls_reason r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
    return r;
}

/* A verifier's result may not outlive the evidence age policy accepts. */
static vmesh_atls_reason lifetime_refused(vmesh_atls_peer_result *out, const char *who, int64_t lifetime,
                                          const vmesh_policy *pol)
{
    if (lifetime == INT64_MAX)
        return refuse(out, VMESH_ATLS_R_EAR_LIFETIME, "%s: its EAR has no exp; policy %s allows results for at "
                      "most %lld s (max-evidence-age)", who, vmesh_policy_id(pol),
                      (long long)vmesh_policy_max_evidence_age(pol));
    return refuse(out, VMESH_ATLS_R_EAR_LIFETIME, "%s: its EAR is valid for %lld s; policy %s allows results for "
                  "at most %lld s (max-evidence-age)", who, (long long)lifetime, vmesh_policy_id(pol),
                  (long long)vmesh_policy_max_evidence_age(pol));
}

static uint64_t rv_generation(const agent_rp *rp)
{
    vmesh_rv_store *rv = rp->verifier ? vmesh_verifier_rv(rp->verifier) : NULL;
    uint64_t gen = rv ? vmesh_rv_store_generation(rv) : 0;

    vmesh_rv_store_free(rv);
    return gen;
}

static void count_lookup(agent_rp *rp, bool hit)
{
    atomic_fetch_add(hit ? &rp->counters->cache_hits : &rp->counters->cache_misses, 1);
}

/* ---- passports ------------------------------------------------------------------ */

/* DESIGN §3.3: the RP checks a passport's RV epochs. For every RVP both we
 * and the EAR's verifier follow, the EAR must have been appraised under our
 * current or previous epoch (the same one-step tolerance as the epoch
 * bell): a passport issued before a revocation stops working once the
 * relying party has the revoking snapshot and one more. */
/* The epoch markers an EAR was produced under (ear.vmesh.epoch-markers)
 * against the bells we follow: every bell both follow must be at the
 * marker's tick or one further (docs/BUNDLES.md, "Several bells"). An EAR
 * that names no bell of ours is judged by its iat/exp alone. */
static vmesh_atls_reason ear_markers_check(const agent_rp *rp, const vmesh_ear *ear, vmesh_atls_peer_result *out)
{
    vmesh_bell_marker m[VMESH_EAR_MAX_MARKERS];
    size_t n = 0, len;
    const char *bell;
    vmesh_err rc;

    if (rp->bell == NULL || vmesh_ear_epoch_marker_count(ear) == 0)
        return VMESH_ATLS_R_NONE;
    for (size_t i = 0; i < vmesh_ear_epoch_marker_count(ear) && n < VMESH_EAR_MAX_MARKERS; i++) {
        memset(&m[n], 0, sizeof(m[n]));
        if (vmesh_ear_epoch_marker_at(ear, i, &bell, &m[n].tick, m[n].em, sizeof(m[n].em), &len) != VMESH_OK ||
            len != sizeof(m[n].em) || strlen(bell) > VMESH_BELL_NAME_MAX)
            continue; /* not a vmesh bell's marker: not ours to judge */
        memcpy(m[n].bell, bell, strlen(bell));
        n++;
    }
    rc = vmesh_bell_view_check_markers(rp->bell, m, n, vmesh_time_now());
    if (rc == VMESH_ERR_EXPIRED || rc == VMESH_ERR_MISMATCH)
        return refuse(out, VMESH_ATLS_R_STALE_EPOCH, "passport EAR: %s", vmesh_err_detail());
    vmesh_err_clear();
    return VMESH_ATLS_R_NONE;
}

/* passport-epoch-lag 0 (docs/POLICY.md, D32): the EAR must carry a marker
 * of our primary bell at least at the tick attesters bind to now (the
 * current tick from its bind time, vmesh_agent_tick_bind_at; the previous
 * one before): an attester fetches a passport per epoch, and one that
 * cannot (revoked: its verifier no longer affirms it) or replays its
 * previous epoch's is refused at the next re-attestation round. */
static vmesh_atls_reason ear_this_epoch_check(const agent_rp *rp, const vmesh_policy *pol, const vmesh_ear *ear,
                                              vmesh_atls_peer_result *out)
{
    vmesh_bell cur;
    int64_t now = vmesh_time_now();
    uint64_t want, best = 0;
    bool named = false;

    if (vmesh_policy_passport_epoch_lag(pol) > 0)
        return VMESH_ATLS_R_NONE;
    if (rp->bell == NULL || vmesh_bell_view_current(rp->bell, &cur) != VMESH_OK) {
        vmesh_err_clear();
        return refuse(out, VMESH_ATLS_R_STALE_EPOCH,
                      "policy %s requires this epoch's passport (passport-epoch-lag 0), but this relying party "
                      "has no epoch bell tick yet", vmesh_policy_id(pol));
    }
    want = now >= vmesh_agent_tick_bind_at(&cur) || cur.id == 0 ? cur.id : cur.id - 1;
    for (size_t i = 0; i < vmesh_ear_epoch_marker_count(ear); i++) {
        const char *bell;
        uint64_t tick;
        uint8_t em[VMESH_BELL_NONCE_LEN];
        size_t len;
        if (vmesh_ear_epoch_marker_at(ear, i, &bell, &tick, em, sizeof(em), &len) != VMESH_OK ||
            strcmp(bell, cur.name) != 0)
            continue;
        if (!named || tick > best)
            best = tick;
        named = true;
    }
    vmesh_err_clear();
    if (!named)
        return refuse(out, VMESH_ATLS_R_STALE_EPOCH,
                      "passport EAR names no epoch marker of bell %s; policy %s requires this epoch's passport "
                      "(passport-epoch-lag 0)", cur.name, vmesh_policy_id(pol));
    if (best < want)
        return refuse(out, VMESH_ATLS_R_STALE_EPOCH,
                      "passport EAR was issued under bell %s tick %llu; policy %s requires this epoch's passport "
                      "(tick %llu, passport-epoch-lag 0): the peer did not renew it", cur.name,
                      (unsigned long long)best, vmesh_policy_id(pol), (unsigned long long)want);
    return VMESH_ATLS_R_NONE;
}

static vmesh_atls_reason ear_epochs_check(const agent_rp *rp, const vmesh_policy *pol, const vmesh_ear *ear,
                                          vmesh_atls_peer_result *out)
{
    vmesh_atls_reason res = VMESH_ATLS_R_NONE;
    vmesh_rv_store *rv;

    if ((res = ear_this_epoch_check(rp, pol, ear, out)) != VMESH_ATLS_R_NONE)
        return res;
    if (rp->verifier == NULL)
        return VMESH_ATLS_R_NONE;
    rv = vmesh_verifier_rv(rp->verifier);
    for (size_t i = 0; i < vmesh_rv_epoch_count(rv); i++) {
        const char *name;
        uint64_t ours, theirs;
        if (!vmesh_rv_epoch_at(rv, i, &name, &ours) || vmesh_ear_rv_epoch(ear, name, &theirs) != VMESH_OK)
            continue;
        if (theirs + 1 < ours) {
            res = refuse(out, VMESH_ATLS_R_STALE_EPOCH,
                         "passport EAR was appraised under %s epoch %llu; the current epoch is %llu", name,
                         (unsigned long long)theirs, (unsigned long long)ours);
            break;
        }
    }
    vmesh_rv_store_free(rv);
    if (res == VMESH_ATLS_R_NONE)
        res = ear_markers_check(rp, ear, out);
    return res;
}

/* Passport mode. A verified EAR is cached by (AK, EAR bytes) until its exp:
 * the same passport is presented on every session of an attester until it
 * is renewed, and its signature need not be checked again. Cached per RV
 * snapshot (a new snapshot re-checks the EAR's epochs); the cache is
 * cleared when the policy (and so the set of trusted verifiers) changes. */
static void entry_under_ear(vmesh_ar_entry *e, const vmesh_ear *ear, const vmesh_key *key);
static void result_under(vmesh_atls_peer_result *out, const vmesh_ar_entry *e);

/* 1 from the current tick's bind time on (vmesh_agent_tick_bind_at), else 0. */
static uint64_t bind_phase(const agent_rp *rp, int64_t now)
{
    vmesh_bell cur;

    if (vmesh_bell_view_current(rp->bell, &cur) != VMESH_OK) {
        vmesh_err_clear();
        return 0;
    }
    return now >= vmesh_agent_tick_bind_at(&cur) ? 1 : 0;
}

/* Why the policy does not trust the key that signed jwt, when it is one of
 * the keys it names as untrusted (D40: a verifier that left a bundle's
 * trust set, or does not attest); NULL otherwise. */
static const char *refused_signer(const vmesh_policy *pol, const char *jwt, size_t n)
{
    vmesh_ear *unv = NULL, *e = NULL;
    const char *why = NULL, *w = NULL;

    if (vmesh_policy_refused_verifier_count(pol) == 0 || vmesh_ear_parse_unverified(jwt, n, NULL, &unv) != VMESH_OK) {
        vmesh_err_clear();
        return NULL;
    }
    for (size_t i = 0; i < vmesh_policy_refused_verifier_count(pol) && why == NULL; i++) {
        const vmesh_key *k = vmesh_policy_refused_verifier(pol, i, &w);
        if (vmesh_ear_verify(jwt, n, k, vmesh_ear_iat(unv), &e) == VMESH_OK)
            why = w;
        vmesh_ear_free(e);
        e = NULL;
    }
    vmesh_ear_free(unv);
    vmesh_err_clear();
    return why;
}

static vmesh_atls_reason appraise_passport(agent_rp *rp, const vmesh_policy *pol, const vmesh_atls_appraise_in *in,
                                           vmesh_atls_peer_result *out, int64_t now)
{
    const vmesh_atls_msg *m = in->msg;
    vmesh_ear *ear = NULL;
    const vmesh_key *issuer_key = NULL;
    vmesh_buf akpub = {0};
    vmesh_atls_reason r = VMESH_ATLS_R_NONE;
    bool expired = false, hit;
    int found = -1;
    char why[256];
    uint8_t key[32];
    vmesh_ar_entry e;
    uint64_t rv_gen = rv_generation(rp);
    /* a bell tick re-checks a cached passport's epoch markers, and so does
     * the tick's bind time under passport-epoch-lag 0 (the tick a passport
     * must name moves then) */
    uint64_t bell_gen = rp->bell ? vmesh_bell_view_generation(rp->bell) * 2 + bind_phase(rp, now) : 0;

    vmesh_ar_cache_key(VMESH_EAR_MEDIA_TYPE, m->ak_spki.data, m->ak_spki.len, m->cmw.data, m->cmw.len, key);
    hit = vmesh_ar_cache_get(rp->cache, key, rv_gen, bell_gen, &e);
    count_lookup(rp, hit);
    if (hit && e.expires != 0 && now >= e.expires) {
        r = refuse(out, VMESH_ATLS_R_EAR_EXPIRED, "passport EAR has expired or is not yet valid");
        goto out;
    }
    if (!hit) {
        for (size_t i = 0; i < vmesh_policy_verifier_key_count(pol) && ear == NULL; i++) {
            vmesh_err rc = vmesh_ear_verify((const char *)m->cmw.data, m->cmw.len, vmesh_policy_verifier_key(pol, i),
                                            now, &ear);
            if (rc == VMESH_ERR_EXPIRED)
                expired = true;
            if (ear != NULL)
                issuer_key = vmesh_policy_verifier_key(pol, i);
        }
        if (ear == NULL) {
            const char *who = expired ? NULL : refused_signer(pol, (const char *)m->cmw.data, m->cmw.len);
            r = expired ? refuse(out, VMESH_ATLS_R_EAR_EXPIRED, "passport EAR has expired or is not yet valid")
                : who   ? refuse(out, VMESH_ATLS_R_EAR_UNTRUSTED,
                                 "passport EAR is not signed by a verifier this policy trusts: its signer is %s", who)
                        : refuse(out, VMESH_ATLS_R_EAR_UNTRUSTED,
                                 "passport EAR is not signed by a verifier this policy trusts (%zu trusted keys)",
                                 vmesh_policy_verifier_key_count(pol));
            goto out;
        }
        for (size_t i = 0; i < vmesh_ear_submod_count(ear) && found < 0; i++) {
            vmesh_buf_reset(&akpub);
            if (vmesh_ear_submod_akpub(ear, i, &akpub) == VMESH_OK && akpub.len == m->ak_spki.len &&
                memcmp(akpub.data, m->ak_spki.data, akpub.len) == 0)
                found = (int)i;
        }
        if (found < 0) {
            r = refuse(out, VMESH_ATLS_R_AK_MISMATCH,
                       "passport EAR does not attest the key that signed this session (key-attestation names "
                       "another AK)");
            goto out;
        }
        /* A passport appraised for an identity (a scoped verifier names it)
         * is this peer's only: another peer's passport is not ours. */
        if (vmesh_ear_peer_id(ear) != NULL &&
            (in->peer_spiffe_id == NULL || strcmp(vmesh_ear_peer_id(ear), in->peer_spiffe_id) != 0)) {
            r = refuse(out, VMESH_ATLS_R_PEER_IDENTITY, "passport EAR was appraised for %.200s, not for this peer %.200s",
                       vmesh_ear_peer_id(ear), in->peer_spiffe_id ? in->peer_spiffe_id : "(no verified identity)");
            goto out;
        }
        if ((r = ear_epochs_check(rp, pol, ear, out)) != VMESH_ATLS_R_NONE)
            goto out;
        memset(&e, 0, sizeof(e));
        vmesh_ear_submod_tv(ear, (size_t)found, &e.tv);
        e.status = vmesh_tv_status(&e.tv);
        snprintf(e.scheme, sizeof(e.scheme), "%.31s", vmesh_ear_submod_name(ear, (size_t)found));
        e.appraised_at = vmesh_ear_iat(ear);
        e.expires = vmesh_ear_exp(ear);
        e.lifetime = e.expires != 0 ? e.expires - e.appraised_at : INT64_MAX;
        entry_under_ear(&e, ear, issuer_key);
        vmesh_ar_cache_put(rp->cache, key, rv_gen, bell_gen, &e);
    }
    result_under(out, &e);
    if (e.lifetime > vmesh_policy_max_evidence_age(pol)) {
        r = lifetime_refused(out, "passport", e.lifetime, pol);
        goto out;
    }
    out->tv = e.tv;
    out->tier = vmesh_tv_status(&e.tv);
    out->accepted.evidence_age = now - e.appraised_at;
    r = verdict_reason(vmesh_policy_check(pol, VMESH_MODE_PASSPORT, e.scheme, &out->tv, out->accepted.evidence_age,
                                          why, sizeof(why)));
    if (r != VMESH_ATLS_R_NONE)
        refuse(out, r, "%s", why);
out:
    vmesh_ear_free(ear);
    vmesh_buf_free(&akpub);
    return r;
}

/* ---- what a result was appraised under (issue 12.4) -------------------------------- */

/* From a verified EAR: its verifier-id, the key that verified it (RFC 7638
 * thumbprint, 16 hex digits) and its policy digest. */
static void entry_under_ear(vmesh_ar_entry *e, const vmesh_ear *ear, const vmesh_key *key)
{
    uint8_t tp[32];
    char hex[17] = "";
    const char *pd = vmesh_ear_policy_digest(ear);

    if (key != NULL && vmesh_crypto_key_thumbprint(key, tp) == VMESH_OK)
        for (size_t i = 0; i < 8; i++)
            snprintf(hex + 2 * i, 3, "%02x", tp[i]);
    else
        vmesh_err_clear();
    snprintf(e->verifier, sizeof(e->verifier), "%.48s/%.48s key:%s",
             vmesh_ear_verifier_developer(ear) ? vmesh_ear_verifier_developer(ear) : "?",
             vmesh_ear_verifier_build(ear) ? vmesh_ear_verifier_build(ear) : "?", hex[0] ? hex : "?");
    snprintf(e->policy_digest, sizeof(e->policy_digest), "%s", pd ? pd : "");
}

static void result_under(vmesh_atls_peer_result *out, const vmesh_ar_entry *e)
{
    snprintf(out->verifier, sizeof(out->verifier), "%s", e->verifier);
    snprintf(out->policy_digest, sizeof(out->policy_digest), "%s", e->policy_digest);
}

/* ---- background-check evidence -------------------------------------------------- */

/* Central mode: the central verifier appraises the evidence with the
 * session's ak_nonce as its session nonce (Veraison's ?nonce=), and we
 * verify its EAR and that it answers this question (DESIGN §9): our nonce,
 * the scheme's own submodule, the verifier we asked. Failures are results
 * (verifier malfunction), cached briefly so that a dead verifier does not
 * get a request per handshake; an answer to another question also keeps
 * its own reason (e->refusal). The lifetime is judged under the peer's
 * policy (judge_entry). */
static const uint8_t answer_reason[] = {
    [VMESH_EAR_ANSWER_OK] = VMESH_ATLS_R_NONE,
    [VMESH_EAR_ANSWER_NONCE] = VMESH_ATLS_R_EAR_NONCE,
    [VMESH_EAR_ANSWER_SUBMOD] = VMESH_ATLS_R_EAR_SUBMOD,
    [VMESH_EAR_ANSWER_ISSUER] = VMESH_ATLS_R_EAR_ISSUER,
    [VMESH_EAR_ANSWER_LIFETIME] = VMESH_ATLS_R_EAR_LIFETIME,
    [VMESH_EAR_ANSWER_AK] = VMESH_ATLS_R_AK_MISMATCH,
    [VMESH_EAR_ANSWER_PEER] = VMESH_ATLS_R_PEER_IDENTITY,
};

/* D41: an answer made under an older epoch than ours of an RVP both we and
 * the verifier follow (ear.vmesh.rv-epochs against our snapshot) comes
 * from a verifier that has not taken the snapshot we have yet: its
 * "affirming" may rest on reference values we revoked. Not a verdict. An
 * EAR that names none of our RVPs, or a relying party without a snapshot,
 * cannot tell (judged as before); a verifier ahead of us is fine. */
static bool central_behind(const agent_rp *rp, const vmesh_ear *ear, char *why, size_t n)
{
    vmesh_rv_store *rv = rp->verifier ? vmesh_verifier_rv(rp->verifier) : NULL;
    bool behind = false;

    for (size_t i = 0; rv != NULL && i < vmesh_rv_epoch_count(rv) && !behind; i++) {
        const char *name;
        uint64_t ours, theirs;
        if (!vmesh_rv_epoch_at(rv, i, &name, &ours) || vmesh_ear_rv_epoch(ear, name, &theirs) != VMESH_OK)
            continue;
        if (theirs < ours) {
            behind = true;
            snprintf(why, n, "central verifier behind: it appraised under RVP %.64s epoch %llu, this relying "
                     "party has epoch %llu (verifier-behind)", name, (unsigned long long)theirs,
                     (unsigned long long)ours);
        }
    }
    vmesh_err_clear();
    vmesh_rv_store_free(rv);
    return behind;
}

/* D43: the lookup journal the central verifier signed into its answer
 * (ear.vmesh.rv-journal), kept with the entry only when it replays "same"
 * under our own snapshot now: then its answers are ours too, and a later
 * snapshot whose answers are the same keeps the result without asking the
 * verifier again, while one that changes an answer closes. A journal we
 * cannot read, or whose answers our snapshot contradicts (the verifier
 * is ahead of us, or has reference values we do not sync), is not kept:
 * re-appraisal asks the verifier as before (D41). It never admits: the
 * verdict is the verifier's. */
static void central_journal(agent_rp *rp, const vmesh_ear *ear, size_t sub, vmesh_ar_entry *e)
{
    vmesh_buf j = {0};
    vmesh_rv_store *rv = rp->verifier ? vmesh_verifier_rv(rp->verifier) : NULL;
    bool same = false;
    char why[300];

    e->journal_len = 0;
    if (rv != NULL && vmesh_rv_epoch_count(rv) > 0 && vmesh_ear_submod_rv_journal(ear, sub, &j) == VMESH_OK &&
        j.len <= sizeof(e->journal)) {
        if (vmesh_rv_journal_replay(j.data, j.len, rv, &same, why, sizeof(why)) != VMESH_OK)
            atomic_fetch_add(&rp->counters->journal_unreadable, 1);
        else if (!same)
            atomic_fetch_add(&rp->counters->journal_foreign, 1);
        if (same) {
            memcpy(e->journal, j.data, j.len);
            e->journal_len = (uint16_t)j.len;
        }
    }
    vmesh_err_clear();
    vmesh_buf_free(&j);
    vmesh_rv_store_free(rv);
}

/* One question to the central verifier; *behind: its answer was made under
 * an older snapshot than ours (central_behind), e holds that refusal. */
static void ask_central(agent_rp *rp, const char *mt, const vmesh_evidence_scheme *scheme,
                        const uint8_t ak_nonce[32], const uint8_t *ev, size_t ev_len, int64_t now,
                        const char *peer, vmesh_ar_entry *e, bool *behind)
{
    vmesh_buf jwt = {0};
    vmesh_ear *ear = NULL;
    vmesh_err rc;
    vmesh_ear_question q;
    uint8_t chkey[VMESH_JOSE_MAC_KEY_LEN];
    bool channel = false;
    vmesh_ear_answer a = VMESH_EAR_ANSWER_OK;
    size_t sub = 0;

    memset(e, 0, sizeof(*e));
    e->appraised_at = now;
    e->expires = now + rp->central_ttl;
    snprintf(e->scheme, sizeof(e->scheme), "%.31s", scheme->name);
    if (peer != NULL && peer[0] == '\0')
        peer = NULL;
    rc = rp->central(rp->central_ctx, mt, ev, ev_len, ak_nonce, 32, peer, &jwt, chkey, &channel);
    if (rc == VMESH_OK) {
        /* D51: an answer authenticated by the attested TLS session it came
         * on is checked with that session's key; any other with the
         * verifier's EAR key. Each refuses the other's algorithm. */
        if (channel)
            rc = vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, chkey, now, &ear);
        else
            rc = vmesh_ear_verify((const char *)jwt.data, jwt.len, rp->central_key, now, &ear);
        if (rc == VMESH_ERR_SIGNATURE || rc == VMESH_ERR_MISMATCH)
            e->refusal = VMESH_ATLS_R_EAR_ISSUER; /* another key than the verifier's we asked */
        else if (rc == VMESH_ERR_EXPIRED)
            e->refusal = VMESH_ATLS_R_EAR_EXPIRED;
    } else if (rc == VMESH_ERR_POLICY) {
        e->refusal = VMESH_ATLS_R_EAR_UNTRUSTED; /* the verifier itself is refused (its attestation, D39) */
    }
    if (rc == VMESH_OK) {
        memset(&q, 0, sizeof(q));
        q.nonce = ak_nonce;
        q.nonce_len = 32;
        q.scheme = scheme->name;
        q.issuer = rp->central_issuer;
        /* An EAR that names a peer must name ours: a scoped central verifier
         * chose reference values for that identity (docs/FEDERATION.md). One
         * that names none (a verifier without scopes, e.g. Veraison's) was
         * appraised with unscoped values only, which count for every peer. */
        q.peer = peer != NULL && vmesh_ear_peer_id(ear) != NULL ? peer : NULL;
        a = vmesh_ear_check_answer(ear, &q, &sub);
    }
    if (rc != VMESH_OK || a != VMESH_EAR_ANSWER_OK) {
        vmesh_tv_set_all(&e->tv, VMESH_AR_VERIFIER_MALFUNCTION);
        snprintf(e->reason, sizeof(e->reason), "central verifier%s: %.200s",
                 e->refusal == VMESH_ATLS_R_EAR_UNTRUSTED ? " not trusted" : "", vmesh_err_detail());
        e->expires = now + CENTRAL_FAILURE_TTL;
        if (a != VMESH_EAR_ANSWER_OK)
            e->refusal = answer_reason[a];
    } else {
        vmesh_ear_submod_tv(ear, sub, &e->tv);
        e->lifetime = vmesh_ear_exp(ear) != 0 ? vmesh_ear_exp(ear) - vmesh_ear_iat(ear) : INT64_MAX;
        if (vmesh_ear_exp(ear) != 0 && vmesh_ear_exp(ear) < e->expires)
            e->expires = vmesh_ear_exp(ear);
        if (vmesh_ear_peer_scope(ear) != NULL && vmesh_tv_status(&e->tv) != VMESH_TIER_AFFIRMING)
            snprintf(e->reason, sizeof(e->reason), "central verifier: %s: %.200s",
                     vmesh_tier_name(vmesh_tv_status(&e->tv)), vmesh_ear_peer_scope(ear));
        else
            snprintf(e->reason, sizeof(e->reason), "central verifier: %s", vmesh_tier_name(vmesh_tv_status(&e->tv)));
        entry_under_ear(e, ear, rp->central_key);
        if (central_behind(rp, ear, e->reason, sizeof(e->reason))) {
            *behind = true;
            vmesh_tv_set_all(&e->tv, VMESH_AR_VERIFIER_MALFUNCTION);
            e->refusal = VMESH_ATLS_R_STALE_EPOCH;
            e->expires = now;
        } else {
            central_journal(rp, ear, sub, e);
        }
    }
    e->status = vmesh_tv_status(&e->tv);
    vmesh_ear_free(ear);
    vmesh_buf_free(&jwt);
    vmesh_crypto_cleanse(chkey, sizeof(chkey));
}

/* The central verifier's appraisal. Returns false when it gave no verdict
 * to keep (D41): it stayed behind our snapshot through wait_ms of asking
 * again with back-off (0: asked once; re-appraisal, whose caller asks
 * again later). Such an entry is refused (stale-epoch) and never cached. */
static bool appraise_central(agent_rp *rp, const char *mt, const vmesh_evidence_scheme *scheme,
                             const uint8_t ak_nonce[32], const uint8_t *ev, size_t ev_len, int64_t now,
                             const char *peer, vmesh_ar_entry *e, int wait_ms)
{
    int waited = 0, delay = CENTRAL_BEHIND_FIRST_MS;

    for (;;) {
        bool behind = false;
        ask_central(rp, mt, scheme, ak_nonce, ev, ev_len, now, peer, e, &behind);
        if (!behind)
            return true;
        atomic_fetch_add(&rp->counters->central_behind, 1);
        if (waited + delay > wait_ms)
            return false;
        nanosleep(&(struct timespec){.tv_sec = delay / 1000, .tv_nsec = (long)(delay % 1000) * 1000000L}, NULL);
        waited += delay;
        delay *= 2;
        now = vmesh_time_now();
    }
}

/* The local verifier's appraisal; malformed evidence is a result too. */
static void appraise_local(agent_rp *rp, const char *mt, const vmesh_evidence_scheme *scheme,
                           const uint8_t ak_nonce[32], bool fresh, const uint8_t *ev, size_t ev_len, int64_t now,
                           vmesh_rv_store *scoped, const char *scope, vmesh_ar_entry *e)
{
    vmesh_appraisal ap;
    vmesh_verifier_request req;

    vmesh_appraisal_init(&ap);
    memset(&req, 0, sizeof(req));
    req.evidence = ev;
    req.evidence_len = ev_len;
    req.media_type = mt;
    req.now = now;
    req.rv = scoped;
    memset(e, 0, sizeof(*e));
    e->appraised_at = now;
    snprintf(e->scheme, sizeof(e->scheme), "%.31s", scheme->name);
    snprintf(e->verifier, sizeof(e->verifier), "%s (local)", vmesh_verifier_id(rp->verifier));
    snprintf(e->policy_digest, sizeof(e->policy_digest), "%s", vmesh_verifier_policy_digest(rp->verifier));
    if (vmesh_verifier_appraise(rp->verifier, &req, &ap, NULL, NULL) != VMESH_OK) {
        vmesh_tv_set_all(&e->tv, VMESH_AR_UNEXPECTED_EVIDENCE);
        snprintf(e->reason, sizeof(e->reason), "evidence cannot be appraised: %.200s", vmesh_err_detail());
    } else if (ap.nonce.len != 32 || !vmesh_crypto_memeq(ap.nonce.data, ak_nonce, 32)) {
        /* DESIGN §3.2: the platform evidence carries ak_nonce; anything
         * else was produced for another AK, session, or role. */
        vmesh_tv_set_all(&e->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        snprintf(e->reason, sizeof(e->reason),
                 "evidence nonce does not bind the AK and %s of this session (relayed or diverted evidence?)",
                 fresh ? "binder" : "epoch");
        e->binding_mismatch = true;
    } else {
        e->tv = ap.tv;
        snprintf(e->reason, sizeof(e->reason), "%.255s", ap.reason);
        /* D43: what the appraisal asked the store, for replay under the
         * next snapshot */
        if (ap.journal.len > 0 && ap.journal.len <= sizeof(e->journal)) {
            memcpy(e->journal, ap.journal.data, ap.journal.len);
            e->journal_len = (uint16_t)ap.journal.len;
        }
    }
    e->status = vmesh_tv_status(&e->tv);
    if (scoped != NULL && e->status != VMESH_TIER_AFFIRMING) {
        /* Name the scope first: the peer was appraised with these
         * providers only (a long reason is cut at its end). */
        char why[sizeof(e->reason)];
        snprintf(why, sizeof(why), "%s", e->reason);
        snprintf(e->reason, sizeof(e->reason), "%.200s%s%s", scope, why[0] ? ": " : "", why);
    }
    vmesh_appraisal_free(&ap);
}

/* The appraisal of (media type, ak_nonce, evidence) under the current RV
 * snapshot, from the AR cache when it was computed under this snapshot and
 * epoch generation (and has not expired: central results). */
/* A central result without a verdict on the peer (D41): the verifier did
 * not answer (a failure entry names no verifier and no refusal of the
 * answer), or answered under an older snapshot than ours. */
static bool central_unanswered(const agent_rp *rp, const vmesh_ar_entry *e)
{
    return rp->central != NULL && !e->binding_mismatch &&
           ((e->verifier[0] == '\0' && e->refusal == VMESH_ATLS_R_NONE) ||
            (e->refusal == VMESH_ATLS_R_STALE_EPOCH && e->verifier[0] != '\0'));
}

/* Replays the lookup journal of e (computed under another snapshot) against
 * cur (D43). 1: every answer the same, the result stands; 0: an answer
 * changed (why names it); -1: cannot tell (no journal, unreadable). */
static int replay_entry(agent_rp *rp, const vmesh_ar_entry *e, const vmesh_rv_store *cur, char *why, size_t n)
{
    bool same = false;

    if (e->journal_len == 0 || cur == NULL)
        return -1;
    if (vmesh_rv_journal_replay(e->journal, e->journal_len, cur, &same, why, n) != VMESH_OK) {
        atomic_fetch_add(&rp->counters->journal_unreadable, 1);
        vmesh_err_clear();
        return -1;
    }
    atomic_fetch_add(same ? &rp->counters->journal_same : &rp->counters->journal_changed, 1);
    return same ? 1 : 0;
}

/* *undecided (may be NULL): central mode and no verdict on the peer
 * (central_unanswered). wait_ms: how long a behind verifier is asked
 * again (appraise_central). held (may be NULL): a re-appraised
 * connection's own result with its journal, replayed when the cache no
 * longer holds the entry (in central mode it can only close). changed
 * (may be NULL, re-appraisal): a journal whose answer changed under the
 * current snapshot refuses at once (*changed set) instead of appraising
 * again; at a handshake (NULL) the evidence is appraised in full as
 * before. need_full (may be NULL): neither appraise in full nor ask the
 * central verifier; set *need_full when only that could decide (e is
 * not filled then). */
static void appraise_cached(agent_rp *rp, const char *mt, const vmesh_evidence_scheme *scheme,
                            const uint8_t ak_nonce[32], bool fresh, const uint8_t *ev, size_t ev_len, int64_t now,
                            uint64_t epoch_gen, vmesh_rv_store *scoped, const char *scope, const char *peer,
                            vmesh_ar_entry *e, int wait_ms, bool *undecided, const vmesh_ar_entry *held,
                            bool *changed, bool *need_full)
{
    /* A scoped store has its own (process-unique) generation: results
     * computed with one scope's reference values never serve another. */
    vmesh_rv_store *cur = scoped != NULL && rp->central == NULL ? vmesh_rv_store_ref(scoped)
                          : rp->verifier != NULL                ? vmesh_verifier_rv(rp->verifier)
                                                                : NULL;
    uint64_t rv_gen = cur != NULL ? vmesh_rv_store_generation(cur) : 0;
    uint8_t key[32];
    bool hit, may_keep;
    vmesh_ar_lookup look;

    if (rp->central != NULL && atomic_load(&rp->central_untrusted)) {
        /* its results, cached or new, count for nothing now */
        memset(e, 0, sizeof(*e));
        e->appraised_at = now;
        snprintf(e->scheme, sizeof(e->scheme), "%.31s", scheme->name);
        vmesh_tv_set_all(&e->tv, VMESH_AR_VERIFIER_MALFUNCTION);
        e->status = vmesh_tv_status(&e->tv);
        e->refusal = VMESH_ATLS_R_EAR_UNTRUSTED;
        pthread_mutex_lock(&rp->central_lock);
        snprintf(e->reason, sizeof(e->reason), "central verifier not trusted: %.200s", rp->central_why);
        pthread_mutex_unlock(&rp->central_lock);
        goto out;
    }
    vmesh_ar_cache_key(mt, ak_nonce, 32, ev, ev_len, key);
    look = vmesh_ar_cache_lookup(rp->cache, key, rv_gen, epoch_gen, e);
    hit = look == VMESH_AR_HIT && (e->expires == 0 || now < e->expires);
    /* D43: a result from another snapshot may stand when its journal
     * replays the same: a local one always, a central one only from the
     * cache and within its lifetime (a verdict past it, or one this
     * generation's agent did not get itself, is asked again). Closing on a
     * changed answer needs neither: it is always safe. */
    may_keep = rp->central == NULL || (look == VMESH_AR_OTHER_RV && (e->expires == 0 || now < e->expires));
    if (look == VMESH_AR_MISS && held != NULL && held->journal_len > 0) {
        *e = *held; /* evicted from the cache: the connection kept its own */
        look = VMESH_AR_OTHER_RV;
    }
    if (look == VMESH_AR_OTHER_RV && (may_keep || changed != NULL)) {
        /* D43: the same questions of the current snapshot */
        char why[300];
        int r = replay_entry(rp, e, cur, why, sizeof(why));
        if (r == 1 && may_keep) {
            vmesh_ar_cache_put(rp->cache, key, rv_gen, epoch_gen, e);
            hit = true;
        } else if (r == 0 && changed != NULL) {
            *changed = true; /* the vector it was admitted with stays on record */
            e->refusal = VMESH_ATLS_R_NOT_AFFIRMING;
            snprintf(e->reason, sizeof(e->reason), "reference values changed: %.229s", why);
            count_lookup(rp, false);
            goto out;
        }
    }
    if (!hit && need_full != NULL) {
        *need_full = true; /* the caller asks again where it may block */
        vmesh_rv_store_free(cur);
        return;
    }
    count_lookup(rp, hit);
    if (!hit) {
        if (changed != NULL)
            atomic_fetch_add(&rp->counters->reappraise_full, 1);
        if (rp->central == NULL)
            appraise_local(rp, mt, scheme, ak_nonce, fresh, ev, ev_len, now, scoped, scope, e);
        else if (!appraise_central(rp, mt, scheme, ak_nonce, ev, ev_len, now, peer, e, wait_ms))
            goto out; /* behind our snapshot: not cached, asked again (D41) */
        vmesh_ar_cache_put(rp->cache, key, rv_gen, epoch_gen, e);
    }
out:
    vmesh_rv_store_free(cur);
    if (undecided != NULL)
        *undecided = central_unanswered(rp, e);
}

/* Judges an appraisal entry under a policy; fills out->tv/tier/reason. */
static vmesh_atls_reason judge_entry(const vmesh_policy *pol, vmesh_mode mode, const vmesh_ar_entry *e, int64_t age,
                                     vmesh_atls_peer_result *out)
{
    char why[256];
    vmesh_atls_reason r;

    out->tv = e->tv;
    out->tier = vmesh_tv_status(&e->tv);
    result_under(out, e);
    if (e->binding_mismatch)
        return refuse(out, VMESH_ATLS_R_AK_MISMATCH, "%s", e->reason);
    if (e->refusal != VMESH_ATLS_R_NONE)
        return refuse(out, (vmesh_atls_reason)e->refusal, "%s", e->reason);
    if (e->lifetime > vmesh_policy_max_evidence_age(pol))
        return lifetime_refused(out, "central verifier", e->lifetime, pol);
    if (any_claim(&e->tv, VMESH_AR_UNEXPECTED_EVIDENCE))
        return refuse(out, VMESH_ATLS_R_MALFORMED, "%s", e->reason);
    if (any_claim(&e->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED))
        return refuse(out, VMESH_ATLS_R_EVIDENCE_INVALID, "evidence does not verify: %s", e->reason);
    r = verdict_reason(vmesh_policy_check(pol, mode, e->scheme, &e->tv, age, why, sizeof(why)));
    if (r == VMESH_ATLS_R_NOT_AFFIRMING && e->reason[0] != '\0')
        return refuse(out, r, "%s (%s)", why, e->reason);
    if (r != VMESH_ATLS_R_NONE)
        return refuse(out, r, "%s", why);
    return VMESH_ATLS_R_NONE;
}

static vmesh_atls_reason appraise_evidence(agent_rp *rp, const vmesh_policy *pol, const vmesh_atls_appraise_in *in,
                                           vmesh_atls_peer_result *out, int64_t now)
{
    const vmesh_atls_msg *m = in->msg;
    const char *mt = (const char *)m->media_type.data;
    const vmesh_evidence_scheme *scheme = vmesh_schemes_by_media_type(mt, NULL);
    vmesh_mode mode = m->fresh ? VMESH_MODE_FRESH : VMESH_MODE_EPOCH_FRESH;
    int64_t tick_issued = now;
    uint64_t epoch_gen = 0;
    vmesh_ar_entry e;

    if (scheme == NULL)
        return refuse(out, VMESH_ATLS_R_MEDIA_TYPE_REFUSED, "cannot appraise evidence of media type \"%.200s\"", mt);
    if (!agent_rp_appraises_evidence(rp))
        return refuse(out, VMESH_ATLS_R_MODE_REFUSED, "this relying party has no local verifier: passport only");
    if (!m->fresh) {
        if (rp->bell == NULL)
            return refuse(out, VMESH_ATLS_R_STALE_EPOCH, "epoch-fresh evidence, but this relying party has no epoch bell");
        if (vmesh_bell_view_check(rp->bell, m->epoch_id, m->epoch_nonce.data, m->epoch_nonce.len, now, &tick_issued) !=
            VMESH_OK)
            return refuse(out, VMESH_ATLS_R_STALE_EPOCH, "%s", vmesh_err_detail());
        epoch_gen = vmesh_bell_view_generation(rp->bell);
    }
    out->accepted.evidence_age = now - tick_issued;
    if (rp->rv_for != NULL && rp->central == NULL) {
        char scope[200] = "";
        vmesh_rv_store *scoped = rp->rv_for(rp->rv_for_ctx, in->peer_spiffe_id, scope, sizeof(scope));
        if (scoped == NULL)
            return refuse(out, VMESH_ATLS_R_NOT_AFFIRMING, "%s", scope);
        appraise_cached(rp, mt, scheme, in->ak_nonce, m->fresh, m->cmw.data, m->cmw.len, now, epoch_gen, scoped,
                        scope, in->peer_spiffe_id, &e, rp->central_behind_wait_ms, NULL, NULL, NULL, NULL);
        vmesh_rv_store_free(scoped);
    } else
        appraise_cached(rp, mt, scheme, in->ak_nonce, m->fresh, m->cmw.data, m->cmw.len, now, epoch_gen, NULL, NULL,
                        in->peer_spiffe_id, &e, rp->central_behind_wait_ms, NULL, NULL, NULL, NULL);
    /* The connection keeps its journal (D43), after the cache key of the
     * bytes it was computed for: re-appraisal replays it even when the
     * cache entry is gone, for these very bytes only. */
    out->accepted.lifetime = e.lifetime;
    vmesh_buf_reset(&out->accepted.journal);
    if (e.journal_len > 0) {
        uint8_t key[32];
        vmesh_ar_cache_key(mt, in->ak_nonce, 32, m->cmw.data, m->cmw.len, key);
        if (vmesh_buf_set(&out->accepted.journal, key, 32) != VMESH_OK ||
            vmesh_buf_append(&out->accepted.journal, e.journal, e.journal_len) != VMESH_OK) {
            vmesh_buf_reset(&out->accepted.journal);
            vmesh_err_clear();
        }
    }
    return judge_entry(pol, mode, &e, out->accepted.evidence_age, out);
}

vmesh_atls_reason agent_rp_appraise(agent_rp *rp, const vmesh_policy *pol, const vmesh_atls_appraise_in *in,
                                    vmesh_atls_peer_result *out)
{
    int64_t now = vmesh_time_now();
    bool is_ear = vmesh_evidence_media_type_eq((const char *)in->msg->media_type.data, VMESH_EAR_MEDIA_TYPE);
    vmesh_atls_reason r;

    out->mode = is_ear ? VMESH_ATLS_MODE_PASSPORT : in->msg->fresh ? VMESH_ATLS_MODE_FRESH : VMESH_ATLS_MODE_EPOCH_FRESH;
    if ((vmesh_policy_modes(pol) & VMESH_MODE_BIT(out->mode)) == 0)
        r = refuse(out, VMESH_ATLS_R_MODE_REFUSED, "attestation mode %s is not accepted by policy %s",
                   vmesh_mode_name((vmesh_mode)out->mode), vmesh_policy_id(pol));
    else if (is_ear)
        r = appraise_passport(rp, pol, in, out, now);
    else
        r = appraise_evidence(rp, pol, in, out, now);
    atomic_fetch_add(&rp->counters->appraisals, 1);
    if (r != VMESH_ATLS_R_NONE)
        atomic_fetch_add(&rp->counters->refused, 1);
    return r;
}

/* ---- re-appraisal of what a result kept ------------------------------------------ */

/* A passport: the EAR signature against the current trusted keys (at its
 * own iat: freshness was judged when the session began), the policy for
 * this peer, and the RV epochs it was appraised under against ours
 * (current or previous epoch of each RVP we both follow, as for the bell). */
static vmesh_atls_reason reappraise_passport(agent_rp *rp, const vmesh_policy *pol, const vmesh_atls_accepted *k,
                                             vmesh_atls_peer_result *out)
{
    const char *jwt = (const char *)k->cmw.data;
    vmesh_ear *ear = NULL, *unv = NULL;
    vmesh_atls_reason res = VMESH_ATLS_R_NONE;
    size_t sub = 0;
    char why[256];

    if (k->cmw.len == 0 || vmesh_ear_parse_unverified(jwt, k->cmw.len, NULL, &unv) != VMESH_OK) {
        res = refuse(out, VMESH_ATLS_R_MALFORMED, "the passport EAR of this session was not kept");
        goto out;
    }
    for (size_t i = 0; i < vmesh_policy_verifier_key_count(pol) && ear == NULL; i++)
        if (vmesh_ear_verify(jwt, k->cmw.len, vmesh_policy_verifier_key(pol, i), vmesh_ear_iat(unv), &ear) != VMESH_OK)
            ear = NULL;
    if (ear == NULL) {
        const char *who = refused_signer(pol, jwt, k->cmw.len);
        res = who ? refuse(out, VMESH_ATLS_R_EAR_UNTRUSTED,
                           "passport EAR is no longer signed by a verifier this policy trusts: its signer is %s", who)
                  : refuse(out, VMESH_ATLS_R_EAR_UNTRUSTED,
                           "passport EAR is no longer signed by a verifier this policy trusts");
        goto out;
    }
    if (vmesh_ear_exp(ear) == 0 || vmesh_ear_exp(ear) - vmesh_ear_iat(ear) > vmesh_policy_max_evidence_age(pol)) {
        res = lifetime_refused(out, "passport",
                               vmesh_ear_exp(ear) ? vmesh_ear_exp(ear) - vmesh_ear_iat(ear) : INT64_MAX, pol);
        goto out;
    }
    for (size_t i = 0; i < vmesh_ear_submod_count(ear); i++) {
        vmesh_buf ak = {0};
        bool has = vmesh_ear_submod_akpub(ear, i, &ak) == VMESH_OK && ak.len > 0;
        vmesh_buf_free(&ak);
        if (has) {
            sub = i;
            break;
        }
    }
    vmesh_ear_submod_tv(ear, sub, &out->tv);
    out->tier = vmesh_tv_status(&out->tv);
    res = verdict_reason(vmesh_policy_check(pol, VMESH_MODE_PASSPORT, vmesh_ear_submod_name(ear, sub), &out->tv,
                                            k->evidence_age, why, sizeof(why)));
    if (res != VMESH_ATLS_R_NONE) {
        refuse(out, res, "%s", why);
        goto out;
    }
    res = ear_epochs_check(rp, pol, ear, out);
out:
    vmesh_ear_free(ear);
    vmesh_ear_free(unv);
    return res;
}

/* Background-check evidence: appraised again under the current snapshot
 * (the AR cache makes that one appraisal per distinct evidence), its nonce
 * checked against the session's ak_nonce, judged with the age it had when
 * the session began (freshness is not judged again). */
static vmesh_atls_reason reappraise_evidence(agent_rp *rp, const vmesh_policy *pol, const char *peer, vmesh_mode mode,
                                             const vmesh_atls_peer_result *r, vmesh_atls_peer_result *out,
                                             bool *undecided, bool *need_full)
{
    const vmesh_atls_accepted *k = &r->accepted;
    vmesh_rv_store *scoped = NULL;
    char scope[200] = "";
    const char *mt = k->media_type.len > 0 ? (const char *)k->media_type.data : "";
    const vmesh_evidence_scheme *scheme;
    vmesh_ar_entry e, held;
    bool changed = false;
    uint8_t key[32];

    if (!agent_rp_appraises_evidence(rp))
        return refuse(out, VMESH_ATLS_R_MODE_REFUSED, "this relying party has no local verifier any more");
    if (k->cmw.len == 0)
        return refuse(out, VMESH_ATLS_R_MALFORMED, "the evidence of this session was not kept");
    scheme = vmesh_schemes_by_media_type(mt, NULL);
    if (scheme == NULL)
        return refuse(out, VMESH_ATLS_R_MEDIA_TYPE_REFUSED, "cannot appraise evidence of media type \"%.200s\"", mt);
    if (rp->rv_for != NULL && rp->central == NULL) {
        scoped = rp->rv_for(rp->rv_for_ctx, peer, scope, sizeof(scope));
        if (scoped == NULL)
            return refuse(out, VMESH_ATLS_R_NOT_AFFIRMING, "%s", scope);
    }
    /* What the connection was admitted on, with its journal (D43) */
    memset(&held, 0, sizeof(held));
    vmesh_ar_cache_key(mt, k->ak_nonce, 32, k->cmw.data, k->cmw.len, key);
    if (k->journal.len > 32 && k->journal.len - 32 <= sizeof(held.journal) &&
        vmesh_crypto_memeq(k->journal.data, key, 32)) {
        held.tv = r->tv;
        held.status = vmesh_tv_status(&r->tv);
        snprintf(held.scheme, sizeof(held.scheme), "%.31s", scheme->name);
        snprintf(held.reason, sizeof(held.reason), "%.255s", r->reason);
        held.lifetime = k->lifetime;
        snprintf(held.verifier, sizeof(held.verifier), "%.127s", r->verifier);
        snprintf(held.policy_digest, sizeof(held.policy_digest), "%s", r->policy_digest);
        memcpy(held.journal, k->journal.data + 32, k->journal.len - 32);
        held.journal_len = (uint16_t)(k->journal.len - 32);
    }
    appraise_cached(rp, mt, scheme, k->ak_nonce, mode == VMESH_MODE_FRESH, k->cmw.data, k->cmw.len, vmesh_time_now(),
                    rp->bell ? vmesh_bell_view_generation(rp->bell) : 0, scoped, scope, peer, &e, 0, undecided,
                    held.journal_len > 0 ? &held : NULL, &changed, need_full);
    vmesh_rv_store_free(scoped);
    if (need_full != NULL && *need_full)
        return VMESH_ATLS_R_NONE; /* not judged */
    return judge_entry(pol, mode, &e, k->evidence_age, out);
}

vmesh_atls_reason agent_rp_reappraise(agent_rp *rp, const vmesh_policy *pol, const char *peer_spiffe_id,
                                      const vmesh_atls_peer_result *r, vmesh_atls_peer_result *out, bool *undecided,
                                      bool *need_full)
{
    if (undecided != NULL)
        *undecided = false;
    vmesh_atls_reason res = VMESH_ATLS_R_NONE;
    char why[256];

    switch (r->mode) {
    case VMESH_ATLS_MODE_NONE:
        /* Admitted unattested (or not asked): does this peer's policy
         * still admit that? */
        res = verdict_reason(vmesh_policy_check(pol, VMESH_MODE_NONE, NULL, &r->tv, 0, why, sizeof(why)));
        if (res != VMESH_ATLS_R_NONE)
            refuse(out, res, "%s", why);
        return res;
    case VMESH_ATLS_MODE_PASSPORT:
    case VMESH_ATLS_MODE_EPOCH_FRESH:
    case VMESH_ATLS_MODE_FRESH:
        if ((vmesh_policy_modes(pol) & VMESH_MODE_BIT(r->mode)) == 0)
            return refuse(out, VMESH_ATLS_R_MODE_REFUSED, "attestation mode %s is no longer accepted by policy %s",
                          vmesh_mode_name((vmesh_mode)r->mode), vmesh_policy_id(pol));
        if (r->mode == VMESH_ATLS_MODE_PASSPORT)
            return reappraise_passport(rp, pol, &r->accepted, out);
        return reappraise_evidence(rp, pol, peer_spiffe_id, (vmesh_mode)r->mode, r, out, undecided, need_full);
    default: return refuse(out, VMESH_ATLS_R_INTERNAL, "unknown attestation mode %d", r->mode);
    }
}
