/*
 * The agent's attester: our own platform. An ephemeral P-256 attestation
 * key (AK) in memory, rotated on a schedule; platform evidence binding it
 * (per session, or per epoch tick and cached for the tick); the passport
 * (an EAR naming the AK) we present, renewed before it expires; one AK
 * signature per session. It must never sign anything but the binder of a
 * session of this process, and never present evidence or a passport made
 * for another AK.
 */
#include "agent_int.h"
#include "vmesh/cmw.h"
#include "vmesh/jose.h"
#include "vmesh/schemes.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_ROTATE 3600
#define PASSPORT_REFRESH_MARGIN 60 /* renew an EAR this long before it expires */
#define PASSPORT_RETRY 5          /* seconds between renewal attempts after a failure */
#define CHALLENGE_LEN 32

static vmesh_err new_ak_locked(agent_attester *at)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    vmesh_buf spki = {0};

    VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
    VMESH_GUARD(vmesh_crypto_key_to_spki(k, &spki));
    vmesh_crypto_key_free(at->ak);
    at->ak = k;
    k = NULL;
    vmesh_buf_free(&at->ak_spki);
    at->ak_spki = spki;
    spki.data = NULL;
    at->ak_gen++;
    at->ak_born = vmesh_time_now();
out:
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&spki);
    return rc;
}

vmesh_err agent_attester_init(agent_attester *at, const vmesh_agent_config *cfg, agent_counters *counters)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_init(&at->renew, NULL);
    pthread_mutex_init(&at->platform, NULL);
    pthread_mutex_init(&at->lock, NULL);
    at->counters = counters;
    at->rotate = cfg->ak_rotate_seconds > 0 ? cfg->ak_rotate_seconds : DEFAULT_ROTATE;
    at->keybound = cfg->keybound;
    at->bell = cfg->bell;
    at->passport = cfg->passport;
    at->passport_ctx = cfg->passport_ctx;
    if (cfg->platform == NULL)
        return VMESH_OK;
    at->scheme = vmesh_schemes_by_platform(cfg->platform);
    VMESH_ENSURE(at->scheme != NULL, VMESH_ERR_ARG, "unknown platform \"%s\"", cfg->platform);
    VMESH_ENSURE(at->scheme->attester_new != NULL, VMESH_ERR_UNSUPPORTED, "platform \"%s\" has no attester in this build",
                 cfg->platform);
    rc = at->scheme->attester_new(cfg->platform_cfg, cfg->n_platform_cfg, &at->scheme_ctx);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "platform %s", cfg->platform);
        goto out;
    }
    at->modes = cfg->attest_modes ? cfg->attest_modes : VMESH_ATLS_MODES_ALL;
    if (at->bell == NULL)
        at->modes &= ~VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH);
    if (at->passport == NULL)
        at->modes &= ~VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT);
    VMESH_ENSURE(at->modes != 0, VMESH_ERR_ARG,
                 "no attestation mode possible: epoch-fresh needs an epoch bell, passport a verifier");
    rc = new_ak_locked(at); /* nobody else sees at yet */
out:
    return rc;
}

void agent_attester_free(agent_attester *at)
{
    if (at->scheme != NULL && at->scheme_ctx != NULL)
        at->scheme->attester_free(at->scheme_ctx);
    vmesh_crypto_key_free(at->ak);
    vmesh_buf_free(&at->ak_spki);
    vmesh_buf_free(&at->epoch_evidence);
    vmesh_buf_free(&at->ear);
    pthread_mutex_destroy(&at->lock);
    pthread_mutex_destroy(&at->platform);
    pthread_mutex_destroy(&at->renew);
}

vmesh_err agent_attester_rotate(agent_attester *at)
{
    vmesh_err rc;

    pthread_mutex_lock(&at->lock);
    rc = new_ak_locked(at);
    pthread_mutex_unlock(&at->lock);
    return rc;
}

vmesh_err agent_attester_tls_key(agent_attester *at, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;

    *out = NULL;
    pthread_mutex_lock(&at->lock);
    if (at->ak == NULL || !at->keybound)
        rc = vmesh_err_set(VMESH_ERR_STATE, "this agent is not key-bound: its AK is not a TLS key");
    else
        *out = vmesh_crypto_key_ref(at->ak);
    pthread_mutex_unlock(&at->lock);
    return rc;
}

vmesh_err agent_attester_adopt(agent_attester *at, agent_attester *from)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf spki = {0};
    vmesh_key *k = NULL;
    int64_t born = 0;

    VMESH_ENSURE(at->keybound && at->scheme != NULL, VMESH_ERR_STATE,
                 "only a key-bound agent can take over a key-bound AK");
    pthread_mutex_lock(&from->lock);
    if (from->ak == NULL || !from->keybound)
        rc = vmesh_err_set(VMESH_ERR_STATE, "the agent to take over from is not key-bound");
    else if ((rc = vmesh_buf_set(&spki, from->ak_spki.data, from->ak_spki.len)) == VMESH_OK) {
        k = vmesh_crypto_key_ref(from->ak);
        born = from->ak_born;
    }
    pthread_mutex_unlock(&from->lock);
    VMESH_GUARD(rc);
    vmesh_crypto_key_free(at->ak);
    at->ak = k;
    k = NULL;
    vmesh_buf_free(&at->ak_spki);
    at->ak_spki = spki;
    spki.data = NULL;
    at->ak_gen++;
    at->ak_born = born;
out:
    vmesh_buf_free(&spki);
    return rc;
}

vmesh_err agent_attester_ak_spki(agent_attester *at, vmesh_buf *out)
{
    vmesh_err rc;

    pthread_mutex_lock(&at->lock);
    rc = at->ak ? vmesh_buf_set(out, at->ak_spki.data, at->ak_spki.len)
                : vmesh_err_set(VMESH_ERR_STATE, "this agent does not attest: it has no AK");
    pthread_mutex_unlock(&at->lock);
    return rc;
}

/* The AK a session uses, taken under the lock: a reference, its SPKI and
 * its generation. Evidence, passport and proof of one message all use the
 * same snapshot, whatever rotation happens meanwhile. */
typedef struct {
    vmesh_key *ak;
    vmesh_buf spki;
    uint64_t gen;
} ak_snap;

static vmesh_err snap_locked(const agent_attester *at, ak_snap *s)
{
    s->ak = vmesh_crypto_key_ref(at->ak);
    s->gen = at->ak_gen;
    return vmesh_buf_set(&s->spki, at->ak_spki.data, at->ak_spki.len);
}

static void snap_free(ak_snap *s)
{
    vmesh_crypto_key_free(s->ak);
    vmesh_buf_free(&s->spki);
}

/* Platform evidence carrying ak_nonce(AK, value) (DESIGN §3.2). The caller
 * holds at->platform, not at->lock. */
static vmesh_err evidence_on_platform(agent_attester *at, const ak_snap *s, const uint8_t *value, size_t value_len,
                                      vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint8_t nonce[32];

    VMESH_GUARD(vmesh_atls_ak_nonce(s->spki.data, s->spki.len, value, value_len, nonce));
    vmesh_buf_reset(out);
    atomic_fetch_add(&at->counters->evidence_generated, 1);
    rc = at->scheme->attest(at->scheme_ctx, nonce, sizeof(nonce), out);
out:
    return rc;
}

static vmesh_err make_evidence(agent_attester *at, const ak_snap *s, const uint8_t *value, size_t value_len,
                               vmesh_buf *out)
{
    vmesh_err rc;

    pthread_mutex_lock(&at->platform);
    rc = evidence_on_platform(at, s, value, value_len, out);
    pthread_mutex_unlock(&at->platform);
    return rc;
}

/* Epoch evidence for (s->gen, tick) into out: the cached one, else made
 * once (under at->platform, so that concurrent handshakes of a new tick
 * wait for one evidence instead of making one each) and cached while s is
 * still the current AK. */
static bool epoch_cached_locked(const agent_attester *at, const ak_snap *s, const vmesh_bell *tick)
{
    return at->have_epoch_ev && at->epoch_ev_ak_gen == s->gen && at->epoch_ev_id == tick->id;
}

static vmesh_err epoch_evidence(agent_attester *at, const ak_snap *s, const vmesh_bell *tick, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    bool hit;

    pthread_mutex_lock(&at->lock);
    hit = epoch_cached_locked(at, s, tick);
    rc = hit ? vmesh_buf_set(out, at->epoch_evidence.data, at->epoch_evidence.len) : VMESH_OK;
    pthread_mutex_unlock(&at->lock);
    if (hit || rc != VMESH_OK)
        return rc;
    pthread_mutex_lock(&at->platform);
    pthread_mutex_lock(&at->lock);
    hit = epoch_cached_locked(at, s, tick); /* made while we waited */
    rc = hit ? vmesh_buf_set(out, at->epoch_evidence.data, at->epoch_evidence.len) : VMESH_OK;
    pthread_mutex_unlock(&at->lock);
    if (!hit && rc == VMESH_OK)
        rc = evidence_on_platform(at, s, tick->nonce, sizeof(tick->nonce), out);
    if (!hit && rc == VMESH_OK) {
        pthread_mutex_lock(&at->lock);
        if (s->gen == at->ak_gen) { /* else the AK rotated meanwhile: ours only */
            at->have_epoch_ev = vmesh_buf_set(&at->epoch_evidence, out->data, out->len) == VMESH_OK;
            at->epoch_ev_ak_gen = s->gen;
            at->epoch_ev_id = tick->id;
            vmesh_err_clear(); /* a failed copy only costs the cache */
        }
        pthread_mutex_unlock(&at->lock);
    }
    pthread_mutex_unlock(&at->platform);
    return rc;
}

/* A verifier whose bell view lags behind ours marks the passport with an
 * older tick than the one we fetched it for: relying parties that require
 * this epoch's passport will refuse it. Said, not hidden (one line per
 * fetch, so once per epoch). */
static void warn_marker_lag(const vmesh_ear *ear, const vmesh_bell *tick)
{
    for (size_t i = 0; i < vmesh_ear_epoch_marker_count(ear); i++) {
        const char *bell;
        uint64_t t;
        uint8_t em[VMESH_BELL_NONCE_LEN];
        size_t len;
        if (vmesh_ear_epoch_marker_at(ear, i, &bell, &t, em, sizeof(em), &len) == VMESH_OK &&
            strcmp(bell, tick->name) == 0 && t < tick->id)
            vmesh_log(VMESH_LOG_WARN,
                      "the passport fetched for epoch tick %llu of bell %s names tick %llu: the verifier's bell "
                      "view lags (relying parties that require this epoch's passport refuse it)",
                      (unsigned long long)tick->id, bell, (unsigned long long)t);
    }
    vmesh_err_clear();
}

/* Asks the verifier for a passport naming s's AK (no lock held but
 * at->renew, which serialises renewals). */
static vmesh_err renew_passport(agent_attester *at, const ak_snap *s, int64_t now, const vmesh_bell *tick,
                                vmesh_buf *ear, int64_t *exp)
{
    vmesh_err rc = VMESH_OK;
    uint8_t challenge[CHALLENGE_LEN];
    vmesh_buf ev = {0};
    vmesh_ear *parsed = NULL;
    vmesh_ear_question q;
    vmesh_ear_answer a;
    uint8_t want[32];

    VMESH_ENSURE(at->passport != NULL, VMESH_ERR_STATE, "passport mode: no verifier configured to issue EARs");
    VMESH_GUARD(vmesh_crypto_random(challenge, sizeof(challenge)));
    VMESH_GUARD(make_evidence(at, s, challenge, sizeof(challenge), &ev));
    rc = at->passport(at->passport_ctx, at->scheme->media_types[0], ev.data, ev.len, challenge, sizeof(challenge),
                      s->spki.data, s->spki.len, ear);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "obtaining a passport EAR");
        goto out;
    }
    VMESH_GUARD(vmesh_ear_parse_unverified((const char *)ear->data, ear->len, NULL, &parsed));
    /* DESIGN §9: the passport answers our question: the evidence's nonce
     * ak_nonce(AK, challenge), our scheme's submodule, our AK. (Relying
     * parties check its signature against the verifiers they trust.) */
    VMESH_GUARD(vmesh_atls_ak_nonce(s->spki.data, s->spki.len, challenge, sizeof(challenge), want));
    memset(&q, 0, sizeof(q));
    q.nonce = want;
    q.nonce_len = sizeof(want);
    q.scheme = at->scheme->name;
    q.akpub = s->spki.data;
    q.akpub_len = s->spki.len;
    if ((a = vmesh_ear_check_answer(parsed, &q, NULL)) != VMESH_EAR_ANSWER_OK) {
        vmesh_err_wrap(VMESH_ERR_MISMATCH, "the passport EAR does not answer this attester's request (%s)",
                       vmesh_ear_answer_name(a));
        rc = VMESH_ERR_MISMATCH;
        goto out;
    }
    VMESH_ENSURE(vmesh_ear_status(parsed) == VMESH_TIER_AFFIRMING, VMESH_ERR_POLICY,
                 "the verifier did not affirm this platform (status %s): no passport",
                 vmesh_tier_name(vmesh_ear_status(parsed)));
    *exp = vmesh_ear_exp(parsed) ? vmesh_ear_exp(parsed) : now + 3600;
    if (tick != NULL)
        warn_marker_lag(parsed, tick);
out:
    vmesh_ear_free(parsed);
    vmesh_buf_free(&ev);
    return rc;
}

/* The passport for s into out, fetched for tick (the bell tick this
 * attestation binds to; 0 without a bell). With a bell a passport is
 * fetched once per epoch tick (issue 19.2, D32): at a new tick every caller
 * waits for the one renewal, so that handshakes and re-attestation answers
 * carry the passport of the epoch they bind to, and a peer whose verifier
 * no longer affirms it (revoked) has only older epochs' passports, which a
 * relying party with passport-epoch-lag 0 refuses. Within a tick a
 * passport within PASSPORT_REFRESH_MARGIN of its expiry is renewed by one
 * handshake while the others keep presenting it. After a failed renewal
 * the next attempt waits PASSPORT_RETRY seconds (the current passport, if
 * still valid, is presented meanwhile and the relying party judges its
 * epoch; the failure is logged once per attempt). Without a valid passport
 * every caller waits for the renewal. */
static vmesh_err passport(agent_attester *at, const ak_snap *s, int64_t now, const vmesh_bell *tick,
                          vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf ear = {0};
    int64_t exp = 0;
    uint64_t want = tick ? tick->id : 0, had = 0;
    bool valid, this_tick, fresh, wait;

    pthread_mutex_lock(&at->lock);
    valid = at->ear.len > 0 && at->ear_ak_gen == s->gen && at->ear_exp > now;
    this_tick = valid && at->ear_tick >= want;
    fresh = this_tick && at->ear_exp - PASSPORT_REFRESH_MARGIN > now;
    /* after a failure: the current passport until the retry time */
    wait = valid && now < at->renew_after && (this_tick || at->renew_failed_tick == want);
    if (fresh || wait)
        rc = vmesh_buf_set(out, at->ear.data, at->ear.len);
    pthread_mutex_unlock(&at->lock);
    if (fresh || wait || rc != VMESH_OK)
        return rc;
    if (this_tick) {
        if (pthread_mutex_trylock(&at->renew) != 0)
            goto present_current; /* another handshake is renewing it */
    } else {
        pthread_mutex_lock(&at->renew); /* no passport, or a new epoch: wait for the one renewal */
    }
    pthread_mutex_lock(&at->lock); /* renewed (or failed) while we waited? */
    valid = at->ear.len > 0 && at->ear_ak_gen == s->gen && at->ear_exp > now;
    fresh = valid && at->ear_tick >= want && at->ear_exp - PASSPORT_REFRESH_MARGIN > now;
    wait = valid && now < at->renew_after && at->renew_failed_tick == want;
    if (fresh || wait)
        rc = vmesh_buf_set(out, at->ear.data, at->ear.len);
    had = at->ear_tick;
    pthread_mutex_unlock(&at->lock);
    if (fresh || wait) {
        pthread_mutex_unlock(&at->renew);
        return rc;
    }
    rc = renew_passport(at, s, now, tick, &ear, &exp);
    pthread_mutex_lock(&at->lock);
    if (rc == VMESH_OK) {
        if (s->gen == at->ak_gen) {
            vmesh_buf_free(&at->ear);
            at->ear = ear;
            at->ear_ak_gen = s->gen;
            at->ear_exp = exp;
            at->ear_tick = want;
            rc = vmesh_buf_set(out, at->ear.data, at->ear.len);
            ear.data = NULL;
        } else {
            rc = vmesh_buf_set(out, ear.data, ear.len); /* the AK rotated meanwhile: ours only */
        }
    } else {
        at->renew_after = now + PASSPORT_RETRY;
        at->renew_failed_tick = want;
        exp = at->ear_exp;
    }
    pthread_mutex_unlock(&at->lock);
    pthread_mutex_unlock(&at->renew);
    vmesh_buf_free(&ear);
    if (rc == VMESH_OK || !valid)
        return rc;
    if (had < want)
        vmesh_log(VMESH_LOG_WARN,
                  "passport renewal for epoch tick %llu failed, presenting the passport of tick %llu (relying "
                  "parties that require this epoch's passport refuse it): %s",
                  (unsigned long long)want, (unsigned long long)had, vmesh_err_detail());
    else
        vmesh_log(VMESH_LOG_WARN, "passport renewal failed, presenting the current one until it expires in %lld s: %s",
                  (long long)(exp - now), vmesh_err_detail());
    vmesh_err_clear();
present_current:
    pthread_mutex_lock(&at->lock);
    if (at->ear.len > 0 && at->ear_ak_gen == s->gen && at->ear_exp > now)
        rc = vmesh_buf_set(out, at->ear.data, at->ear.len);
    else
        rc = vmesh_err_set(VMESH_ERR_STATE, "passport mode: the passport expired during its renewal");
    pthread_mutex_unlock(&at->lock);
    return rc;
}

static vmesh_err set_text(vmesh_buf *b, const char *s)
{
    vmesh_err rc = vmesh_buf_set(b, s, strlen(s));

    return rc == VMESH_OK ? vmesh_buf_terminate(b) : rc;
}

/* Evidence into the message's CMW (RFC 9999): one record of the scheme's
 * media type, or the collection of a composite scheme (CCA). */
static vmesh_err evidence_to_msg(const agent_attester *at, const uint8_t *ev, size_t n, vmesh_atls_msg *msg)
{
    vmesh_err rc = VMESH_OK;

    msg->collection = at->scheme->to_cmw_collection != NULL;
    if (!msg->collection) {
        VMESH_GUARD(set_text(&msg->media_type, at->scheme->media_types[0]));
        VMESH_GUARD(vmesh_buf_set(&msg->cmw, ev, n));
    } else {
        VMESH_GUARD(set_text(&msg->media_type, VMESH_CMW_MEDIA_TYPE_CBOR));
        vmesh_buf_reset(&msg->cmw);
        VMESH_GUARD(at->scheme->to_cmw_collection(ev, n, &msg->cmw));
    }
out:
    return rc;
}

int64_t vmesh_agent_tick_bind_at(const vmesh_bell *cur)
{
    int64_t period = (cur->valid_until - cur->issued_at) / 2; /* a tick is valid two periods */

    return cur->issued_at + period / 2;
}

/* The tick our epoch-bound attestations name. A relying party learns of a
 * new tick only at its next poll: for the first half of a period keep
 * binding to the previous tick, which every relying party still accepts
 * (current or previous), instead of one some have not fetched yet
 * (vmesh_agent_tick_bind_at). */
static bool tick_to_bind(const agent_attester *at, int64_t now, vmesh_bell *tick)
{
    vmesh_bell prev;

    if (at->bell == NULL || vmesh_bell_view_current(at->bell, tick) != VMESH_OK)
        return false;
    if (now < vmesh_agent_tick_bind_at(tick) && vmesh_bell_view_previous(at->bell, &prev) == VMESH_OK &&
        prev.valid_until > now)
        *tick = prev;
    return true;
}

vmesh_err agent_attester_attest(agent_attester *at, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    vmesh_err rc = VMESH_OK;
    int64_t now = vmesh_time_now();
    vmesh_bell tick;
    bool have_tick = false;
    ak_snap snap = {0};
    vmesh_buf ev = {0};

    pthread_mutex_lock(&at->lock);
    if (at->scheme == NULL)
        rc = vmesh_err_set(VMESH_ERR_STATE, "this agent does not attest");
    else if (in->keybound && !at->keybound)
        rc = vmesh_err_set(VMESH_ERR_STATE, "key-bound attestation asked of an agent whose AK is not its TLS key");
    else if (!at->keybound && now - at->ak_born >= at->rotate)
        rc = new_ak_locked(at);
    if (rc == VMESH_OK) {
        rc = snap_locked(at, &snap);
        have_tick = tick_to_bind(at, now, &tick);
    }
    pthread_mutex_unlock(&at->lock);
    if (rc != VMESH_OK)
        goto out;
    VMESH_GUARD(vmesh_buf_set(&msg->ak_spki, snap.spki.data, snap.spki.len));
    switch (in->mode) {
    case VMESH_ATLS_MODE_EPOCH_FRESH:
        VMESH_ENSURE(have_tick, VMESH_ERR_STATE, "epoch-fresh mode: no epoch bell received yet");
        VMESH_GUARD(epoch_evidence(at, &snap, &tick, &ev));
        VMESH_GUARD(evidence_to_msg(at, ev.data, ev.len, msg));
        msg->fresh = false;
        msg->epoch_id = tick.id;
        VMESH_GUARD(vmesh_buf_set(&msg->epoch_nonce, tick.nonce, sizeof(tick.nonce)));
        break;
    case VMESH_ATLS_MODE_FRESH:
        /* DESIGN §3.3: fresh mode binds new evidence to this session's binder. */
        VMESH_GUARD(make_evidence(at, &snap, in->binder, 32, &ev));
        VMESH_GUARD(evidence_to_msg(at, ev.data, ev.len, msg));
        msg->fresh = true;
        break;
    case VMESH_ATLS_MODE_PASSPORT:
        VMESH_GUARD(passport(at, &snap, now, have_tick ? &tick : NULL, &ev));
        msg->collection = false;
        VMESH_GUARD(set_text(&msg->media_type, VMESH_EAR_MEDIA_TYPE));
        VMESH_GUARD(vmesh_buf_set(&msg->cmw, ev.data, ev.len));
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
    atomic_fetch_add(&at->counters->attestations_made, 1);
    vmesh_buf_reset(&msg->proof);
    /* Key-bound: the AK is our TLS key and this handshake's CertificateVerify
     * is the session proof; atls checks the AK is our leaf's key. */
    if (in->keybound)
        goto out;
    /* One AK signature per session, over this session's binder only. */
    rc = vmesh_crypto_sign(snap.ak, in->binder, 32, &msg->proof);
out:
    vmesh_buf_free(&ev);
    snap_free(&snap);
    return rc;
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

    rc = vmesh_atls_ak_nonce(akpub, akpub_len, challenge, challenge_len, nonce);
    if (rc != VMESH_OK)
        return rc;
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
