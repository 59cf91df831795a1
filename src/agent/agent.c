/*
 * The agent: attester and relying party of one process behind the atls
 * provider contract. Attester state (AK, cached epoch evidence, passport)
 * and RP state (policy, AR cache) are guarded by one mutex held only for
 * bookkeeping; evidence generation and appraisal run outside it only where
 * the data they use is private to the call. It must never admit a peer the
 * policy refuses, never serve a result computed under another RV snapshot
 * or epoch, and never sign anything but a binder of its own session.
 */
#include "vmesh/agent.h"
#include "vmesh/jose.h"
#include "vmesh/pki.h"
#include "vmesh/schemes.h"

#include <jansson.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ROTATE 3600
#define DEFAULT_SLOTS 4096
#define PASSPORT_REFRESH_MARGIN 60 /* renew an EAR this long before it expires */
#define CHALLENGE_LEN 32
#define RETAINED_MAX ((size_t)4 * 1024 * 1024) /* claims_json cap (atls) */

/* A per-peer policy rule (vmesh_agent_set_rules): first match wins. */
typedef struct {
    char *pattern;
    vmesh_policy *policy;
} agent_rule;

struct vmesh_agent {
    pthread_mutex_t lock;
    /* central verifier (RP side), optional */
    vmesh_agent_central_fn central;
    void *central_ctx;
    vmesh_key *central_key;
    int64_t central_ttl;
    /* attester */
    const vmesh_evidence_scheme *scheme;
    void *scheme_ctx;
    unsigned attest_modes;
    int64_t rotate;
    vmesh_key *ak;
    vmesh_buf ak_spki;
    uint64_t ak_gen;
    int64_t ak_born;
    vmesh_buf epoch_evidence; /* for (ak_gen, epoch_id) */
    uint64_t epoch_ev_ak_gen, epoch_ev_id;
    bool have_epoch_ev;
    vmesh_agent_passport_fn passport;
    void *passport_ctx;
    vmesh_buf ear;            /* passport for ak_gen ear_ak_gen */
    uint64_t ear_ak_gen;
    int64_t ear_exp;
    /* relying party */
    vmesh_verifier *verifier;
    vmesh_policy *policy;
    agent_rule *rules;
    size_t nrules;
    vmesh_bell_view *bell;
    vmesh_ar_cache *cache;
    const char *media_types[16];
    /* stats */
    vmesh_agent_stats stats;
};

void vmesh_agent_ak_nonce(const uint8_t *akpub, size_t akpub_len, const uint8_t *value, size_t value_len,
                          uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 32;

    /* DESIGN §3.2: ak_nonce = SHA-256("vmesh ak v1" || SPKI(AK) || freshness value) */
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, VMESH_ATLS_AK_LABEL, strlen(VMESH_ATLS_AK_LABEL)) != 1 ||
        EVP_DigestUpdate(ctx, akpub, akpub_len) != 1 || EVP_DigestUpdate(ctx, value, value_len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        memset(out, 0, 32); /* cannot happen with a working libcrypto; never matches real evidence */
    EVP_MD_CTX_free(ctx);
}

/* ---- attester side ----------------------------------------------------------- */

static vmesh_err new_ak_locked(vmesh_agent *a)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    vmesh_buf spki = {0};

    VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
    VMESH_GUARD(vmesh_crypto_key_to_spki(k, &spki));
    vmesh_crypto_key_free(a->ak);
    a->ak = k;
    k = NULL;
    vmesh_buf_free(&a->ak_spki);
    a->ak_spki = spki;
    spki.data = NULL;
    a->ak_gen++;
    a->ak_born = vmesh_time_now();
out:
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&spki);
    return rc;
}

vmesh_err vmesh_agent_rotate_ak(vmesh_agent *a)
{
    vmesh_err rc;

    pthread_mutex_lock(&a->lock);
    rc = new_ak_locked(a);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

vmesh_err vmesh_agent_ak_spki(vmesh_agent *a, vmesh_buf *out)
{
    vmesh_err rc;

    pthread_mutex_lock(&a->lock);
    rc = a->ak ? vmesh_buf_set(out, a->ak_spki.data, a->ak_spki.len)
               : vmesh_err_set(VMESH_ERR_STATE, "this agent does not attest: it has no AK");
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* Generates platform evidence carrying nonce. Called with the lock held:
 * platform attesters (TPM, TSM) are serial devices anyway. */
static vmesh_err platform_evidence_locked(vmesh_agent *a, const uint8_t nonce[32], vmesh_buf *out)
{
    vmesh_buf_reset(out);
    a->stats.evidence_generated++;
    return a->scheme->attest(a->scheme_ctx, nonce, 32, out);
}

static vmesh_err passport_locked(vmesh_agent *a, int64_t now)
{
    vmesh_err rc = VMESH_OK;
    uint8_t challenge[CHALLENGE_LEN], nonce[32];
    vmesh_buf ev = {0}, ear = {0};
    vmesh_ear *parsed = NULL;

    if (a->ear.len > 0 && a->ear_ak_gen == a->ak_gen && a->ear_exp - PASSPORT_REFRESH_MARGIN > now)
        return VMESH_OK;
    VMESH_ENSURE(a->passport != NULL, VMESH_ERR_STATE, "passport mode: no verifier configured to issue EARs");
    VMESH_GUARD(vmesh_crypto_random(challenge, sizeof(challenge)));
    vmesh_agent_ak_nonce(a->ak_spki.data, a->ak_spki.len, challenge, sizeof(challenge), nonce);
    VMESH_GUARD(platform_evidence_locked(a, nonce, &ev));
    rc = a->passport(a->passport_ctx, a->scheme->media_types[0], ev.data, ev.len, challenge, sizeof(challenge),
                     a->ak_spki.data, a->ak_spki.len, &ear);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "obtaining a passport EAR");
        goto out;
    }
    VMESH_GUARD(vmesh_ear_parse_unverified((const char *)ear.data, ear.len, NULL, &parsed));
    VMESH_ENSURE(vmesh_ear_status(parsed) == VMESH_TIER_AFFIRMING, VMESH_ERR_POLICY,
                 "the verifier did not affirm this platform (status %s): no passport",
                 vmesh_tier_name(vmesh_ear_status(parsed)));
    vmesh_buf_free(&a->ear);
    a->ear = ear;
    ear.data = NULL;
    a->ear_ak_gen = a->ak_gen;
    a->ear_exp = vmesh_ear_exp(parsed) ? vmesh_ear_exp(parsed) : now + 3600;
out:
    vmesh_ear_free(parsed);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&ear);
    return rc;
}

static vmesh_err set_text(vmesh_buf *b, const char *s)
{
    vmesh_err rc = vmesh_buf_set(b, s, strlen(s));

    return rc == VMESH_OK ? vmesh_buf_terminate(b) : rc;
}

static vmesh_err agent_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    vmesh_agent *a = ctx;
    vmesh_err rc = VMESH_OK;
    int64_t now = vmesh_time_now();
    uint8_t nonce[32];
    vmesh_bell tick;
    bool have_tick = false;
    vmesh_key *ak = NULL;

    pthread_mutex_lock(&a->lock);
    VMESH_ENSURE(a->scheme != NULL, VMESH_ERR_STATE, "this agent does not attest");
    if (now - a->ak_born >= a->rotate)
        VMESH_GUARD(new_ak_locked(a));
    ak = vmesh_crypto_key_ref(a->ak);
    if (a->bell != NULL && vmesh_bell_view_current(a->bell, &tick) == VMESH_OK) {
        vmesh_bell prev;
        int64_t period = (tick.valid_until - tick.issued_at) / 2;
        have_tick = true;
        /* A relying party learns of a new tick only at its next poll. For
         * the first quarter of a period keep binding to the previous tick,
         * which every relying party still accepts (current or previous),
         * instead of one some have not fetched yet. */
        if (now - tick.issued_at < period / 2 && vmesh_bell_view_previous(a->bell, &prev) == VMESH_OK &&
            prev.valid_until > now)
            tick = prev;
    }
    VMESH_GUARD(vmesh_buf_set(&msg->ak_spki, a->ak_spki.data, a->ak_spki.len));
    switch (in->mode) {
    case VMESH_ATLS_MODE_EPOCH_FRESH:
        VMESH_ENSURE(have_tick, VMESH_ERR_STATE, "epoch-fresh mode: no epoch bell received yet");
        if (!a->have_epoch_ev || a->epoch_ev_ak_gen != a->ak_gen || a->epoch_ev_id != tick.id) {
            a->have_epoch_ev = false;
            vmesh_agent_ak_nonce(a->ak_spki.data, a->ak_spki.len, tick.nonce, sizeof(tick.nonce), nonce);
            VMESH_GUARD(platform_evidence_locked(a, nonce, &a->epoch_evidence));
            a->epoch_ev_ak_gen = a->ak_gen;
            a->epoch_ev_id = tick.id;
            a->have_epoch_ev = true;
        }
        VMESH_GUARD(set_text(&msg->media_type, a->scheme->media_types[0]));
        VMESH_GUARD(vmesh_buf_set(&msg->cmw, a->epoch_evidence.data, a->epoch_evidence.len));
        msg->fresh = false;
        msg->epoch_id = tick.id;
        VMESH_GUARD(vmesh_buf_set(&msg->epoch_nonce, tick.nonce, sizeof(tick.nonce)));
        break;
    case VMESH_ATLS_MODE_FRESH:
        /* DESIGN §3.3: fresh mode binds new evidence to this session's binder. */
        vmesh_agent_ak_nonce(a->ak_spki.data, a->ak_spki.len, in->binder, 32, nonce);
        VMESH_GUARD(set_text(&msg->media_type, a->scheme->media_types[0]));
        VMESH_GUARD(platform_evidence_locked(a, nonce, &msg->cmw));
        msg->fresh = true;
        break;
    case VMESH_ATLS_MODE_PASSPORT:
        VMESH_GUARD(passport_locked(a, now));
        VMESH_GUARD(set_text(&msg->media_type, VMESH_EAR_MEDIA_TYPE));
        VMESH_GUARD(vmesh_buf_set(&msg->cmw, a->ear.data, a->ear.len));
        /* The EAR carries its own freshness (iat/exp); the epoch fields say
         * which tick we saw, or none. */
        msg->fresh = false;
        msg->epoch_id = have_tick ? tick.id : 0;
        if (have_tick)
            VMESH_GUARD(vmesh_buf_set(&msg->epoch_nonce, tick.nonce, sizeof(tick.nonce)));
        else
            VMESH_GUARD(vmesh_buf_set(&msg->epoch_nonce, "\0\0\0\0\0\0\0\0", 8));
        break;
    default:
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "cannot attest in mode %d", (int)in->mode);
    }
    a->stats.attestations_made++;
    pthread_mutex_unlock(&a->lock);
    /* One AK signature per session, over this session's binder only. */
    vmesh_buf_reset(&msg->proof);
    rc = vmesh_crypto_sign(ak, in->binder, 32, &msg->proof);
    vmesh_crypto_key_free(ak);
    return rc;
out:
    pthread_mutex_unlock(&a->lock);
    vmesh_crypto_key_free(ak);
    return rc;
}

/* ---- relying-party side ------------------------------------------------------- */

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

/* DESIGN §3.3: the RP checks a passport's RV epochs. For every RVP both we
 * and the EAR's verifier follow, the EAR must have been appraised under our
 * current or previous epoch (the same one-step tolerance as the epoch
 * bell): a passport issued before a revocation stops working once the
 * relying party has the revoking snapshot and one more. */
static vmesh_atls_reason ear_epochs_check(vmesh_agent *a, const vmesh_ear *ear, vmesh_atls_peer_result *out)
{
    vmesh_atls_reason res = VMESH_ATLS_R_NONE;
    vmesh_rv_store *rv;

    if (a->verifier == NULL)
        return VMESH_ATLS_R_NONE;
    rv = vmesh_verifier_rv(a->verifier);
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
    return res;
}

/* Passport mode. A verified EAR is cached by (AK, EAR bytes) until its exp:
 * the same passport is presented on every session of an attester until it
 * is renewed, and its signature need not be checked again. The cache is
 * cleared when the policy (and so the set of trusted verifiers) changes. */
static vmesh_atls_reason appraise_passport(vmesh_agent *a, const vmesh_policy *pol,
                                           const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                                           int64_t now)
{
    const vmesh_atls_msg *m = in->msg;
    vmesh_ear *ear = NULL;
    vmesh_buf akpub = {0};
    vmesh_atls_reason r = VMESH_ATLS_R_NONE;
    bool expired = false;
    int found = -1;
    char why[256];
    uint8_t key[32];
    vmesh_ar_entry e;

    uint64_t rv_gen = 0;

    if (a->verifier != NULL) {
        vmesh_rv_store *rv = vmesh_verifier_rv(a->verifier);
        rv_gen = vmesh_rv_store_generation(rv);
        vmesh_rv_store_free(rv);
    }
    /* Cached per RV snapshot: a new snapshot re-checks the EAR's epochs. */
    vmesh_ar_cache_key(VMESH_EAR_MEDIA_TYPE, m->ak_spki.data, m->ak_spki.len, m->cmw.data, m->cmw.len, key);
    if (vmesh_ar_cache_get(a->cache, key, rv_gen, 0, &e)) {
        pthread_mutex_lock(&a->lock);
        a->stats.cache_hits++;
        pthread_mutex_unlock(&a->lock);
        if (e.expires != 0 && now >= e.expires) {
            r = refuse(out, VMESH_ATLS_R_EAR_EXPIRED, "passport EAR has expired or is not yet valid");
            goto out;
        }
    } else {
        pthread_mutex_lock(&a->lock);
        a->stats.cache_misses++;
        pthread_mutex_unlock(&a->lock);
        for (size_t i = 0; i < vmesh_policy_verifier_key_count(pol) && ear == NULL; i++) {
            vmesh_err rc = vmesh_ear_verify((const char *)m->cmw.data, m->cmw.len,
                                            vmesh_policy_verifier_key(pol, i), now, &ear);
            if (rc == VMESH_ERR_EXPIRED)
                expired = true;
        }
        if (ear == NULL) {
            r = expired ? refuse(out, VMESH_ATLS_R_EAR_EXPIRED, "passport EAR has expired or is not yet valid")
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
        if ((r = ear_epochs_check(a, ear, out)) != VMESH_ATLS_R_NONE)
            goto out;
        memset(&e, 0, sizeof(e));
        vmesh_ear_submod_tv(ear, (size_t)found, &e.tv);
        e.status = vmesh_tv_status(&e.tv);
        snprintf(e.scheme, sizeof(e.scheme), "%.31s", vmesh_ear_submod_name(ear, (size_t)found));
        e.appraised_at = vmesh_ear_iat(ear);
        e.expires = vmesh_ear_exp(ear);
        vmesh_ar_cache_put(a->cache, key, rv_gen, 0, &e);
    }
    out->tv = e.tv;
    out->tier = vmesh_tv_status(&e.tv);
    if (vmesh_buf_set(&out->claims_json, m->cmw.data, m->cmw.len) != VMESH_OK ||
        vmesh_buf_terminate(&out->claims_json) != VMESH_OK)
        vmesh_buf_reset(&out->claims_json); /* informational only: drop it rather than fail */
    r = verdict_reason(vmesh_policy_check(pol, VMESH_MODE_PASSPORT, e.scheme, &out->tv, now - e.appraised_at, why,
                                          sizeof(why)));
    if (r != VMESH_ATLS_R_NONE)
        refuse(out, r, "%s", why);
out:
    vmesh_ear_free(ear);
    vmesh_buf_free(&akpub);
    return r;
}

/* The appraisal of (media type, ak_nonce, evidence) under the current RV
 * snapshot, from the AR cache when it was computed under this snapshot and
 * epoch generation. *claims receives the decoded claims on a cache miss. */
/* Central mode: the central verifier appraises the evidence with the
 * session's ak_nonce as its session nonce (Veraison's ?nonce=), and we
 * verify its EAR. Failures are results (verifier malfunction, -1), cached
 * briefly so that a dead verifier does not get a request per handshake. */
static void appraise_central(vmesh_agent *a, const char *mt, const vmesh_evidence_scheme *scheme,
                             const uint8_t ak_nonce[32], const uint8_t *ev, size_t ev_len, int64_t now,
                             vmesh_ar_entry *e)
{
    vmesh_buf jwt = {0};
    vmesh_ear *ear = NULL;
    vmesh_err rc;

    memset(e, 0, sizeof(*e));
    e->appraised_at = now;
    e->expires = now + a->central_ttl;
    snprintf(e->scheme, sizeof(e->scheme), "%.31s", scheme->name);
    rc = a->central(a->central_ctx, mt, ev, ev_len, ak_nonce, 32, &jwt);
    if (rc == VMESH_OK)
        rc = vmesh_ear_verify((const char *)jwt.data, jwt.len, a->central_key, now, &ear);
    if (rc != VMESH_OK) {
        vmesh_tv_set_all(&e->tv, VMESH_AR_VERIFIER_MALFUNCTION);
        snprintf(e->reason, sizeof(e->reason), "central verifier: %.200s", vmesh_err_detail());
        e->expires = now + 2;
    } else {
        int i = vmesh_ear_submod_find(ear, scheme->name);
        vmesh_ear_submod_tv(ear, i >= 0 ? (size_t)i : 0, &e->tv);
        if (vmesh_ear_exp(ear) != 0 && vmesh_ear_exp(ear) < e->expires)
            e->expires = vmesh_ear_exp(ear);
        snprintf(e->reason, sizeof(e->reason), "central verifier: %s", vmesh_tier_name(vmesh_tv_status(&e->tv)));
    }
    e->status = vmesh_tv_status(&e->tv);
    vmesh_ear_free(ear);
    vmesh_buf_free(&jwt);
}

static vmesh_err appraise_cached(vmesh_agent *a, const char *mt, const vmesh_evidence_scheme *scheme,
                                 const uint8_t ak_nonce[32], bool fresh, const uint8_t *ev, size_t ev_len,
                                 int64_t now, uint64_t epoch_gen, vmesh_ar_entry *e, vmesh_buf *claims)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = a->verifier ? vmesh_verifier_rv(a->verifier) : NULL;
    uint64_t rv_gen = rv ? vmesh_rv_store_generation(rv) : 0;
    uint8_t key[32];
    vmesh_appraisal ap;
    vmesh_verifier_request req;

    vmesh_rv_store_free(rv);
    vmesh_ar_cache_key(mt, ak_nonce, 32, ev, ev_len, key);
    if (vmesh_ar_cache_get(a->cache, key, rv_gen, epoch_gen, e) && (e->expires == 0 || now < e->expires)) {
        pthread_mutex_lock(&a->lock);
        a->stats.cache_hits++;
        pthread_mutex_unlock(&a->lock);
        return VMESH_OK;
    }
    pthread_mutex_lock(&a->lock);
    a->stats.cache_misses++;
    pthread_mutex_unlock(&a->lock);
    if (a->central != NULL) {
        appraise_central(a, mt, scheme, ak_nonce, ev, ev_len, now, e);
        vmesh_ar_cache_put(a->cache, key, rv_gen, epoch_gen, e);
        return VMESH_OK;
    }
    vmesh_appraisal_init(&ap);
    memset(&req, 0, sizeof(req));
    req.evidence = ev;
    req.evidence_len = ev_len;
    req.media_type = mt;
    req.now = now;
    rc = vmesh_verifier_appraise(a->verifier, &req, &ap, NULL, NULL);
    memset(e, 0, sizeof(*e));
    e->appraised_at = now;
    snprintf(e->scheme, sizeof(e->scheme), "%.31s", scheme->name);
    if (rc != VMESH_OK) {
        /* Malformed evidence is a result too: cache it as such. */
        vmesh_tv_set_all(&e->tv, VMESH_AR_UNEXPECTED_EVIDENCE);
        snprintf(e->reason, sizeof(e->reason), "evidence cannot be appraised: %.200s", vmesh_err_detail());
        rc = VMESH_OK;
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
    }
    e->status = vmesh_tv_status(&e->tv);
    if (ap.claims_json.len > 0 && vmesh_buf_set(claims, ap.claims_json.data, ap.claims_json.len) != VMESH_OK)
        vmesh_buf_reset(claims); /* informational only */
    vmesh_appraisal_free(&ap);
    vmesh_ar_cache_put(a->cache, key, rv_gen, epoch_gen, e);
    return rc;
}

/* Judges an appraisal entry under a policy; fills out->tv/tier/reason. */
static vmesh_atls_reason judge_entry(const vmesh_policy *pol, vmesh_mode mode, const vmesh_ar_entry *e,
                                     int64_t age, vmesh_atls_peer_result *out)
{
    char why[256];
    vmesh_atls_reason r;

    out->tv = e->tv;
    out->tier = vmesh_tv_status(&e->tv);
    if (e->binding_mismatch)
        return refuse(out, VMESH_ATLS_R_AK_MISMATCH, "%s", e->reason);
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

/* What re-appraisal of a background-check result needs is kept in the
 * result itself (claims_json), so that it lives exactly as long as the
 * connection and needs no side table (docs/PROXY.md, "Re-appraisal"):
 *   {"scheme", "media-type", "mode", "evidence-age", "ak-nonce" (hex),
 *    "evidence" (base64url), "claims" (the decoded claims, when known)} */
static vmesh_err retain(vmesh_atls_peer_result *out, const char *scheme, const char *mt, vmesh_mode mode,
                        int64_t age, const uint8_t ak_nonce[32], const uint8_t *ev, size_t ev_len,
                        const vmesh_buf *claims)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf *b = &out->claims_json, enc = {0};
    char num[32];

    vmesh_buf_reset(b);
    VMESH_GUARD(vmesh_buf_append(b, "{\"scheme\":", 10));
    VMESH_GUARD(vmesh_json_str(b, scheme, strlen(scheme)));
    VMESH_GUARD(vmesh_buf_append(b, ",\"media-type\":", 14));
    VMESH_GUARD(vmesh_json_str(b, mt, strlen(mt)));
    VMESH_GUARD(vmesh_buf_append(b, ",\"mode\":", 8));
    VMESH_GUARD(vmesh_json_str(b, vmesh_mode_name(mode), strlen(vmesh_mode_name(mode))));
    snprintf(num, sizeof(num), "%lld", (long long)age);
    VMESH_GUARD(vmesh_buf_append(b, ",\"evidence-age\":", 16));
    VMESH_GUARD(vmesh_buf_append(b, num, strlen(num)));
    VMESH_GUARD(vmesh_hex_encode(ak_nonce, 32, &enc));
    VMESH_GUARD(vmesh_buf_append(b, ",\"ak-nonce\":\"", 13));
    VMESH_GUARD(vmesh_buf_append(b, enc.data, enc.len));
    vmesh_buf_reset(&enc);
    VMESH_GUARD(vmesh_b64url_encode(ev, ev_len, &enc));
    VMESH_GUARD(vmesh_buf_append(b, "\",\"evidence\":\"", 14));
    VMESH_GUARD(vmesh_buf_append(b, enc.data, enc.len));
    VMESH_GUARD(vmesh_buf_append_u8(b, '"'));
    if (claims->len > 0) {
        VMESH_GUARD(vmesh_buf_append(b, ",\"claims\":", 10));
        VMESH_GUARD(vmesh_buf_append(b, claims->data, claims->len));
    }
    VMESH_GUARD(vmesh_buf_append_u8(b, '}'));
    VMESH_GUARD(vmesh_buf_terminate(b));
out:
    vmesh_buf_free(&enc);
    return rc;
}

static vmesh_atls_reason appraise_evidence(vmesh_agent *a, const vmesh_policy *pol,
                                           const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                                           int64_t now)
{
    const vmesh_atls_msg *m = in->msg;
    const char *mt = (const char *)m->media_type.data;
    const vmesh_evidence_scheme *scheme = vmesh_schemes_by_media_type(mt, NULL);
    vmesh_mode mode = m->fresh ? VMESH_MODE_FRESH : VMESH_MODE_EPOCH_FRESH;
    int64_t age = 0, tick_issued = now;
    uint64_t epoch_gen = 0;
    vmesh_ar_entry e;
    vmesh_buf claims = {0};
    vmesh_atls_reason r;

    if (scheme == NULL)
        return refuse(out, VMESH_ATLS_R_MEDIA_TYPE_REFUSED, "cannot appraise evidence of media type \"%.200s\"", mt);
    if (a->verifier == NULL && a->central == NULL)
        return refuse(out, VMESH_ATLS_R_MODE_REFUSED, "this relying party has no local verifier: passport only");
    if (!m->fresh) {
        vmesh_err rc;
        if (a->bell == NULL)
            return refuse(out, VMESH_ATLS_R_STALE_EPOCH, "epoch-fresh evidence, but this relying party has no epoch bell");
        rc = vmesh_bell_view_check(a->bell, m->epoch_id, m->epoch_nonce.data, m->epoch_nonce.len, now, &tick_issued);
        if (rc != VMESH_OK)
            return refuse(out, VMESH_ATLS_R_STALE_EPOCH, "%s", vmesh_err_detail());
        epoch_gen = vmesh_bell_view_generation(a->bell);
        age = now - tick_issued;
    }
    if (appraise_cached(a, mt, scheme, in->ak_nonce, m->fresh, m->cmw.data, m->cmw.len, now, epoch_gen, &e,
                        &claims) != VMESH_OK)
        return refuse(out, VMESH_ATLS_R_INTERNAL, "%s", vmesh_err_detail());
    r = judge_entry(pol, mode, &e, age, out);
    if (r == VMESH_ATLS_R_NONE && retain(out, scheme->name, mt, mode, age, in->ak_nonce, m->cmw.data, m->cmw.len,
                                         &claims) != VMESH_OK)
        r = refuse(out, VMESH_ATLS_R_INTERNAL, "keeping the evidence for re-appraisal: %s", vmesh_err_detail());
    vmesh_buf_free(&claims);
    return r;
}

static vmesh_err agent_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                                vmesh_atls_reason *reason)
{
    vmesh_agent *a = ctx;
    vmesh_policy *pol = vmesh_agent_policy_for(a, in->peer_spiffe_id);
    int64_t now = vmesh_time_now();
    bool is_ear = vmesh_evidence_media_type_eq((const char *)in->msg->media_type.data, VMESH_EAR_MEDIA_TYPE);

    out->mode = is_ear ? VMESH_ATLS_MODE_PASSPORT : in->msg->fresh ? VMESH_ATLS_MODE_FRESH : VMESH_ATLS_MODE_EPOCH_FRESH;
    if ((vmesh_policy_modes(pol) & VMESH_MODE_BIT(out->mode)) == 0)
        *reason = refuse(out, VMESH_ATLS_R_MODE_REFUSED, "attestation mode %s is not accepted by policy %s",
                         vmesh_mode_name((vmesh_mode)out->mode), vmesh_policy_id(pol));
    else if (is_ear)
        *reason = appraise_passport(a, pol, in, out, now);
    else
        *reason = appraise_evidence(a, pol, in, out, now);
    pthread_mutex_lock(&a->lock);
    a->stats.appraisals++;
    if (*reason != VMESH_ATLS_R_NONE)
        a->stats.refused++;
    pthread_mutex_unlock(&a->lock);
    vmesh_policy_free(pol);
    return VMESH_OK;
}

/* Re-appraisal of a passport: the EAR signature against the current
 * trusted keys (at its own iat: freshness was judged when the session
 * began), the policy for this peer, and the RV epochs it was appraised
 * under against ours (current or previous epoch of each RVP we both follow,
 * as for the epoch bell). */
static vmesh_atls_reason reappraise_passport(vmesh_agent *a, const vmesh_policy *pol,
                                             const vmesh_atls_peer_result *r, vmesh_atls_peer_result *out)
{
    const char *jwt = (const char *)r->claims_json.data;
    vmesh_ear *ear = NULL, *unv = NULL;
    vmesh_atls_reason res = VMESH_ATLS_R_NONE;
    size_t sub = 0;
    char why[256];

    if (r->claims_json.len == 0 ||
        vmesh_ear_parse_unverified(jwt, r->claims_json.len, NULL, &unv) != VMESH_OK) {
        res = refuse(out, VMESH_ATLS_R_MALFORMED, "the passport EAR of this session was not kept");
        goto out;
    }
    for (size_t i = 0; i < vmesh_policy_verifier_key_count(pol) && ear == NULL; i++)
        if (vmesh_ear_verify(jwt, r->claims_json.len, vmesh_policy_verifier_key(pol, i), vmesh_ear_iat(unv),
                             &ear) != VMESH_OK)
            ear = NULL;
    if (ear == NULL) {
        res = refuse(out, VMESH_ATLS_R_EAR_UNTRUSTED, "passport EAR is no longer signed by a verifier this policy trusts");
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
    res = verdict_reason(vmesh_policy_check(pol, VMESH_MODE_PASSPORT, vmesh_ear_submod_name(ear, sub), &out->tv, 0,
                                            why, sizeof(why)));
    if (res != VMESH_ATLS_R_NONE) {
        refuse(out, res, "%s", why);
        goto out;
    }
    res = ear_epochs_check(a, ear, out);
out:
    vmesh_ear_free(ear);
    vmesh_ear_free(unv);
    return res;
}

/* Re-appraisal of background-check evidence kept by retain(). */
static vmesh_atls_reason reappraise_evidence(vmesh_agent *a, const vmesh_policy *pol,
                                             const vmesh_atls_peer_result *r, vmesh_atls_peer_result *out)
{
    json_t *root = NULL;
    json_error_t jerr;
    const char *mt, *nonce_hex, *ev_b64, *mode_name;
    json_int_t age;
    const vmesh_evidence_scheme *scheme;
    vmesh_buf nonce = {0}, ev = {0}, claims = {0};
    vmesh_mode mode;
    vmesh_ar_entry e;
    vmesh_atls_reason res;

    if (a->verifier == NULL && a->central == NULL) {
        res = refuse(out, VMESH_ATLS_R_MODE_REFUSED, "this relying party has no local verifier any more");
        goto out;
    }
    root = r->claims_json.len ? json_loadb((const char *)r->claims_json.data, r->claims_json.len, 0, &jerr) : NULL;
    if (root == NULL || json_unpack(root, "{s:s, s:s, s:I, s:s, s:s}", "media-type", &mt, "mode", &mode_name,
                                    "evidence-age", &age, "ak-nonce", &nonce_hex, "evidence", &ev_b64) != 0 ||
        vmesh_mode_parse(mode_name, &mode) != VMESH_OK ||
        vmesh_hex_decode(nonce_hex, strlen(nonce_hex), &nonce) != VMESH_OK || nonce.len != 32 ||
        vmesh_b64_decode(ev_b64, strlen(ev_b64), &ev) != VMESH_OK) {
        res = refuse(out, VMESH_ATLS_R_MALFORMED, "the evidence of this session was not kept");
        goto out;
    }
    scheme = vmesh_schemes_by_media_type(mt, NULL);
    if (scheme == NULL) {
        res = refuse(out, VMESH_ATLS_R_MEDIA_TYPE_REFUSED, "cannot appraise evidence of media type \"%.200s\"", mt);
        goto out;
    }
    if (appraise_cached(a, mt, scheme, nonce.data, mode == VMESH_MODE_FRESH, ev.data, ev.len, vmesh_time_now(),
                        a->bell ? vmesh_bell_view_generation(a->bell) : 0, &e, &claims) != VMESH_OK) {
        res = refuse(out, VMESH_ATLS_R_INTERNAL, "%s", vmesh_err_detail());
        goto out;
    }
    /* Freshness (epoch, age) was judged when the session began: the age
     * the evidence had then is what the policy sees again. */
    res = judge_entry(pol, mode, &e, (int64_t)age, out);
out:
    vmesh_buf_free(&claims);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ev);
    json_decref(root);
    return res;
}

vmesh_atls_reason vmesh_agent_reappraise(vmesh_agent *a, const char *peer_spiffe_id, const vmesh_atls_peer_result *r,
                                         char *why, size_t why_len)
{
    vmesh_policy *pol = vmesh_agent_policy_for(a, peer_spiffe_id);
    vmesh_atls_peer_result out;
    vmesh_atls_reason res = VMESH_ATLS_R_NONE;
    char pwhy[256];

    vmesh_atls_peer_result_init(&out);
    switch (r->mode) {
    case VMESH_ATLS_MODE_NONE:
        /* Admitted unattested (or not asked): does this peer's policy
         * still admit that? */
        res = verdict_reason(vmesh_policy_check(pol, VMESH_MODE_NONE, NULL, &r->tv, 0, pwhy, sizeof(pwhy)));
        if (res != VMESH_ATLS_R_NONE)
            refuse(&out, res, "%s", pwhy);
        break;
    case VMESH_ATLS_MODE_PASSPORT:
    case VMESH_ATLS_MODE_EPOCH_FRESH:
    case VMESH_ATLS_MODE_FRESH:
        if ((vmesh_policy_modes(pol) & VMESH_MODE_BIT(r->mode)) == 0)
            res = refuse(&out, VMESH_ATLS_R_MODE_REFUSED, "attestation mode %s is no longer accepted by policy %s",
                         vmesh_mode_name((vmesh_mode)r->mode), vmesh_policy_id(pol));
        else if (r->mode == VMESH_ATLS_MODE_PASSPORT)
            res = reappraise_passport(a, pol, r, &out);
        else
            res = reappraise_evidence(a, pol, r, &out);
        break;
    default: res = refuse(&out, VMESH_ATLS_R_INTERNAL, "unknown attestation mode %d", r->mode); break;
    }
    if (why_len > 0)
        snprintf(why, why_len, "%s", res == VMESH_ATLS_R_NONE ? "" : out.reason);
    vmesh_atls_peer_result_free(&out);
    vmesh_policy_free(pol);
    return res;
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
    size_t nmt = 0, nschemes;
    const vmesh_evidence_scheme *const *all = vmesh_schemes_all(&nschemes);

    *out = NULL;
    a = calloc(1, sizeof(*a));
    VMESH_ENSURE(a != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    a->rotate = cfg->ak_rotate_seconds > 0 ? cfg->ak_rotate_seconds : DEFAULT_ROTATE;
    a->verifier = cfg->verifier;
    if (cfg->central != NULL) {
        VMESH_ENSURE(cfg->central_key != NULL, VMESH_ERR_ARG,
                     "central verifier: its EAR verification key is required");
        a->central = cfg->central;
        a->central_ctx = cfg->central_ctx;
        a->central_key = vmesh_crypto_key_ref(cfg->central_key);
        a->central_ttl = cfg->central_cache_seconds > 0 ? cfg->central_cache_seconds : 60;
    }
    a->bell = cfg->bell;
    a->passport = cfg->passport;
    a->passport_ctx = cfg->passport_ctx;
    if (cfg->policy != NULL)
        a->policy = vmesh_policy_ref(cfg->policy);
    else
        VMESH_GUARD(vmesh_policy_default(&a->policy));
    VMESH_GUARD(vmesh_ar_cache_new(cfg->cache_slots ? cfg->cache_slots : DEFAULT_SLOTS, &a->cache));
    if (cfg->platform != NULL) {
        a->scheme = vmesh_schemes_by_name(cfg->platform);
        VMESH_ENSURE(a->scheme != NULL, VMESH_ERR_ARG, "unknown platform \"%s\"", cfg->platform);
        VMESH_ENSURE(a->scheme->attester_new != NULL, VMESH_ERR_UNSUPPORTED,
                     "platform \"%s\" has no attester in this build", cfg->platform);
        rc = a->scheme->attester_new(cfg->platform_cfg, cfg->n_platform_cfg, &a->scheme_ctx);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "platform %s", cfg->platform);
            goto out;
        }
        a->attest_modes = cfg->attest_modes ? cfg->attest_modes : VMESH_ATLS_MODES_ALL;
        if (a->bell == NULL)
            a->attest_modes &= ~VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH);
        if (a->passport == NULL)
            a->attest_modes &= ~VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT);
        VMESH_ENSURE(a->attest_modes != 0, VMESH_ERR_ARG,
                     "no attestation mode possible: epoch-fresh needs an epoch bell, passport a verifier");
        VMESH_GUARD(new_ak_locked(a));
    }
    /* What we can appraise: EAR passports, and every registered scheme's
     * evidence when we have a local verifier. */
    a->media_types[nmt++] = VMESH_EAR_MEDIA_TYPE;
    for (size_t i = 0; i < nschemes && (a->verifier != NULL || a->central != NULL); i++)
        for (const char *const *m = all[i]->media_types; *m != NULL && nmt < 15; m++)
            a->media_types[nmt++] = *m;
    a->media_types[nmt] = NULL;
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
    if (a->scheme != NULL && a->scheme_ctx != NULL)
        a->scheme->attester_free(a->scheme_ctx);
    vmesh_crypto_key_free(a->ak);
    vmesh_crypto_key_free(a->central_key);
    vmesh_buf_free(&a->ak_spki);
    vmesh_buf_free(&a->epoch_evidence);
    vmesh_buf_free(&a->ear);
    vmesh_policy_free(a->policy);
    free_rules(a->rules, a->nrules);
    vmesh_ar_cache_free(a->cache);
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
    bool unattested = false;

    if (peer != NULL && vmesh_pki_spiffe_id_validate(peer) == VMESH_OK) {
        pol = vmesh_agent_policy_for(a, peer);
        modes = vmesh_policy_modes(pol);
        unattested = vmesh_policy_allows_unattested(pol);
    } else {
        /* Unknown peer: what any rule may accept; appraise() applies the
         * rule of the actual peer. */
        pthread_mutex_lock(&a->lock);
        modes = vmesh_policy_modes(a->policy);
        unattested = vmesh_policy_allows_unattested(a->policy);
        for (size_t i = 0; i < a->nrules; i++) {
            modes |= vmesh_policy_modes(a->rules[i].policy);
            unattested = unattested || vmesh_policy_allows_unattested(a->rules[i].policy);
        }
        pthread_mutex_unlock(&a->lock);
    }
    /* Preference: the cheapest for us to check first. */
    static const uint8_t order[] = {VMESH_ATLS_MODE_EPOCH_FRESH, VMESH_ATLS_MODE_PASSPORT, VMESH_ATLS_MODE_FRESH};

    memset(p, 0, sizeof(*p));
    p->ctx = a;
    p->attest = a->scheme ? agent_attest : NULL;
    p->appraise = agent_appraise;
    for (size_t i = 0; i < sizeof(order); i++) {
        if ((modes & VMESH_MODE_BIT(order[i])) == 0)
            continue;
        if (order[i] == VMESH_ATLS_MODE_EPOCH_FRESH && a->bell == NULL)
            continue;
        if (order[i] != VMESH_ATLS_MODE_PASSPORT && a->verifier == NULL && a->central == NULL)
            continue;
        p->accept_modes[p->n_accept_modes++] = order[i];
    }
    p->media_types = a->media_types;
    p->will_attest = a->scheme != NULL;
    p->attest_modes = a->scheme ? a->attest_modes : 0;
    p->allow_unattested = unattested;
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
    vmesh_ar_cache_clear(a->cache);
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
    vmesh_ar_cache_clear(a->cache);
out:
    free_rules(nr, have);
    return rc;
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
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->lock);
}

vmesh_err vmesh_agent_local_passport(void *ctx, const char *media_type, const uint8_t *evidence, size_t evidence_len,
                                     const uint8_t *challenge, size_t challenge_len, const uint8_t *akpub,
                                     size_t akpub_len, vmesh_buf *ear_jwt)
{
    vmesh_verifier *v = ctx;
    vmesh_verifier_request req;
    vmesh_appraisal ap;
    uint8_t nonce[32];
    vmesh_err rc;

    vmesh_agent_ak_nonce(akpub, akpub_len, challenge, challenge_len, nonce);
    memset(&req, 0, sizeof(req));
    req.evidence = evidence;
    req.evidence_len = evidence_len;
    req.media_type = media_type;
    req.nonce = nonce;
    req.nonce_len = sizeof(nonce);
    req.akpub = akpub;
    req.akpub_len = akpub_len;
    vmesh_appraisal_init(&ap);
    rc = vmesh_verifier_appraise(v, &req, &ap, NULL, ear_jwt);
    vmesh_appraisal_free(&ap);
    return rc;
}
