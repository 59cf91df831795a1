/*
 * The "cca" evidence scheme: the software attester cca-sim (a simulator:
 * CPAK and RAK from key files, claims from a JSON template; it proves
 * nothing about hardware) and the verifier side that appraises an Arm CCA
 * token into one AR4SI trustworthiness vector, modelled on Veraison's
 * arm-cca scheme (veraison/services scheme/arm-cca/scheme.go, which keeps
 * a platform and a realm submod; vmesh folds both into one vector, the
 * worse claim winning):
 *
 *  - malformed collection, token or claims: an error, no result;
 *  - no CPAK endorsed for ("cca", implementation id, instance id), a
 *    platform signature that no endorsed CPAK verifies, a realm signature
 *    the RAK does not verify, a platform challenge that is not the hash of
 *    the RAK, or a realm challenge other than the expected nonce
 *    zero-padded to 64 bytes (Veraison ValidateEvidenceIntegrity: "the RMM
 *    will zero-pad it") -> every claim 99;
 *  - hardware 2; lifecycle secured or non-CCA-platform-RoT debug ->
 *    instance-identity, runtime-opaque, storage-opaque 2, else 96
 *    (Veraison AppraisePlatform);
 *  - configuration 2 when an RV "config" of the platform class matches the
 *    config claim, else 32 (Veraison: UnsafeConfigClaim when unmatched);
 *  - executables: platform software components vs RVs of the class (as
 *    PSA: type, digest, version) -> 2 or 33; realm: RVs of class = RIM
 *    (Veraison GetReferenceValueIDs) with a "rim" entry -> approved boot 3,
 *    plus matching "rem0".."rem3" where given -> 2; a "rpv" that does not
 *    match the personalization value -> 96; no realm RVs -> 33. The worse
 *    of the two, and 3 when both affirm but one is only boot-approved.
 * The appraisal must never report a better vector than the evidence
 * supports.
 */
#include "vmesh/cca.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cca_media_types[] = {
    VMESH_CCA_MEDIA_TYPE,
    /* the RFC 9999 collection the attestation message carries (to_cmw_collection) */
    "application/cmw+cbor",
    NULL,
};

static bool cca_detect(const uint8_t *p, size_t n)
{
    vmesh_cca_token *t = NULL;
    bool ok;

    if (p == NULL || n < 4 ||
        !(vmesh_cbor_starts_with(p, n, VMESH_CBOR_TAG, VMESH_CCA_TAG_COLLECTION, NULL) ||
          vmesh_cbor_starts_with(p, n, VMESH_CBOR_TAG, VMESH_CCA_TAG_CMW, NULL)))
        return false;
    ok = vmesh_cca_token_decode(p, n, &t) == VMESH_OK;
    vmesh_cca_token_free(t);
    return ok;
}

/* ---- attester: cca-sim ------------------------------------------------------ */

typedef struct {
    vmesh_key *cpak;
    vmesh_key *rak;
    vmesh_cca_claims tmpl;
} cca_sim;

static void cca_attester_free(void *ctx)
{
    cca_sim *s = ctx;

    if (s == NULL)
        return;
    vmesh_crypto_key_free(s->cpak);
    vmesh_crypto_key_free(s->rak);
    vmesh_cca_claims_free(&s->tmpl);
    free(s);
}

static vmesh_err load_private(const char *path, const char *what, vmesh_key **out)
{
    vmesh_err rc = vmesh_crypto_key_load(path, out);

    if (rc != VMESH_OK)
        return vmesh_err_wrap(rc, "cca-sim: reading %s %s", what, path);
    if (!vmesh_crypto_key_is_private(*out))
        return vmesh_err_set(VMESH_ERR_ARG, "cca-sim: %s %s holds only a public key; signing needs the private key",
                             what, path);
    if (vmesh_crypto_key_type(*out) == VMESH_KEY_ED25519)
        return vmesh_err_set(VMESH_ERR_UNSUPPORTED, "cca-sim: %s %s is Ed25519; CCA uses EC P-256 or P-384", what,
                             path);
    return VMESH_OK;
}

static vmesh_err cca_attester_new(const vmesh_kv *cfg, size_t ncfg, void **ctx)
{
    vmesh_err rc = VMESH_OK;
    const char *cpak_path = NULL, *rak_path = NULL, *claims_path = NULL;
    cca_sim *s = NULL;
    vmesh_buf json, probe_tok;
    vmesh_cca_claims probe;

    vmesh_buf_init(&json, 1024 * 1024);
    vmesh_buf_init(&probe_tok, VMESH_CCA_MAX_TOKEN);
    *ctx = NULL;
    for (size_t i = 0; i < ncfg; i++) {
        if (cfg[i].key == NULL || cfg[i].value == NULL)
            VMESH_FAIL(VMESH_ERR_ARG, "cca-sim: configuration entry %zu is empty", i);
        if (strcmp(cfg[i].key, "cpak") == 0)
            cpak_path = cfg[i].value;
        else if (strcmp(cfg[i].key, "rak") == 0)
            rak_path = cfg[i].value;
        else if (strcmp(cfg[i].key, "claims") == 0)
            claims_path = cfg[i].value;
        else
            VMESH_FAIL(VMESH_ERR_ARG, "cca-sim: unknown configuration key \"%.64s\" (known: cpak, rak, claims)",
                       cfg[i].key);
    }
    VMESH_ENSURE(cpak_path != NULL, VMESH_ERR_ARG, "cca-sim: no CPAK key file given (\"cpak\")");
    VMESH_ENSURE(claims_path != NULL, VMESH_ERR_ARG, "cca-sim: no claims template given (\"claims\")");
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    vmesh_cca_claims_init(&s->tmpl);
    VMESH_GUARD(load_private(cpak_path, "CPAK", &s->cpak));
    if (rak_path != NULL) {
        VMESH_GUARD(load_private(rak_path, "RAK", &s->rak));
    } else {
        /* the RMM generates the RAK itself: a fresh P-384 key per attester */
        VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &s->rak));
    }
    rc = vmesh_file_read(claims_path, json.max, &json);
    if (rc == VMESH_OK)
        rc = vmesh_cca_claims_from_json((const char *)json.data, json.len, &s->tmpl);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "cca-sim: reading claims %s", claims_path);
        goto out;
    }
    if (s->tmpl.platform.instance_id_len == 0) {
        VMESH_GUARD(vmesh_psa_instance_id_from_key(s->cpak, s->tmpl.platform.instance_id));
        s->tmpl.platform.instance_id_len = 33;
    }
    /* Sign once now, with a stand-in challenge when the template has none,
     * so that a bad template or key fails at start-up. */
    probe = s->tmpl; /* shallow: only fixed-size fields are written */
    if (probe.realm.challenge_len == 0)
        probe.realm.challenge_len = 64;
    rc = vmesh_cca_token_sign(&probe, s->cpak, s->rak, &probe_tok);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "cca-sim: claims template %s", claims_path);
        goto out;
    }
    *ctx = s;
    s = NULL;
out:
    cca_attester_free(s);
    vmesh_buf_free(&json);
    vmesh_buf_free(&probe_tok);
    return rc;
}

static vmesh_err cca_attest(void *ctx, const uint8_t *nonce, size_t nonce_len, vmesh_buf *evidence)
{
    vmesh_err rc = VMESH_OK;
    cca_sim *s = ctx;
    vmesh_cca_claims c;

    VMESH_ENSURE(s != NULL, VMESH_ERR_STATE, "cca-sim: attester not initialised");
    c = s->tmpl; /* shallow: token_sign writes only the RAK and challenge arrays */
    if (nonce != NULL) {
        VMESH_ENSURE(nonce_len >= 1 && nonce_len <= 64, VMESH_ERR_ARG,
                     "cca-sim: the nonce is %zu bytes; a realm challenge takes 1 to 64 bytes", nonce_len);
        /* RMM: a challenge shorter than 64 bytes is zero-padded */
        memset(c.realm.challenge, 0, sizeof(c.realm.challenge));
        memcpy(c.realm.challenge, nonce, nonce_len);
        c.realm.challenge_len = 64;
    }
    VMESH_ENSURE(c.realm.challenge_len != 0, VMESH_ERR_ARG,
                 "cca-sim: no nonce given and the claims template has no \"cca-realm-challenge\"");
    VMESH_GUARD(vmesh_cca_token_sign(&c, s->cpak, s->rak, evidence));
out:
    return rc;
}

/* ---- verifier ------------------------------------------------------------------ */

#define RV_MAX 1024

static bool reserved_name(const char *n)
{
    return n != NULL && (strcmp(n, "config") == 0 || strcmp(n, "rim") == 0 || strcmp(n, "rpv") == 0 ||
                         (strncmp(n, "rem", 3) == 0 && n[3] >= '0' && n[3] <= '3' && n[4] == '\0'));
}

/* A CCA platform's software components are PSA software components
 * (draft-ffm-rats-cca-token §4.3.3), matched exactly as PSA matches them;
 * the names CCA reserves for its own measurements (config, rim, rpv,
 * rem0..3) never match a component. */
static bool sw_matches(const vmesh_psa_sw_component *sc, const vmesh_rv_measurement *m)
{
    return !reserved_name(m->name) && vmesh_psa_sw_component_matches(sc, m);
}

static bool bytes_match(const vmesh_rv_measurement *m, const uint8_t *p, size_t n)
{
    return m->digest != NULL && m->digest_len == n && vmesh_crypto_memeq(m->digest, p, n);
}

static bool config_matches(const vmesh_rv_measurement *m, const vmesh_cca_platform_claims *p)
{
    uint8_t h[64];
    unsigned hl = 0;
    const EVP_MD *md = NULL;

    if (m->digest_alg == 0)
        return m->digest_len == p->config_len &&
               (p->config_len == 0 || vmesh_crypto_memeq(m->digest, p->config, p->config_len));
    if (m->digest_alg == VMESH_HASH_SHA256)
        md = EVP_sha256();
    else if (m->digest_alg == VMESH_HASH_SHA384)
        md = EVP_sha384();
    else if (m->digest_alg == VMESH_HASH_SHA512)
        md = EVP_sha512();
    if (md == NULL || EVP_Digest(p->config, p->config_len, h, &hl, md, NULL) != 1)
        return false;
    return bytes_match(m, h, hl);
}

static vmesh_err b64_of(const uint8_t *p, size_t n, vmesh_buf *b)
{
    vmesh_err rc;

    vmesh_buf_reset(b);
    rc = vmesh_b64_encode(p, n, b);
    return rc == VMESH_OK ? vmesh_buf_terminate(b) : rc;
}

/* Digests in refusal reasons: hex, as RV JSON and sha256sum write them. */
static vmesh_err hex_of(const uint8_t *p, size_t n, vmesh_buf *b)
{
    vmesh_buf_reset(b);
    return vmesh_hex_encode(p, n, b);
}

static void all_failed(vmesh_appraisal *out, vmesh_tv_claim c, const char *reason)
{
    vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
    vmesh_appraisal_note(out, c, VMESH_AR_CRYPTO_VALIDATION_FAILED, "%s", reason);
}

/* Platform: configuration and executables (2 / 33). */
static vmesh_err appraise_platform(const vmesh_appraisal_in *in, const vmesh_cca_platform_claims *p,
                                   vmesh_appraisal *out, int8_t *exec)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_rv_measurement *rv[RV_MAX];
    size_t nrv = 0, ncfg = 0, nsw = 0;
    bool cfg_ok = false;
    vmesh_buf t;

    vmesh_buf_init(&t, 0);
    if (in->rv != NULL)
        nrv = vmesh_rv_find_measurements(in->rv, "cca", p->implementation_id, p->implementation_id_len, rv, RV_MAX);
    VMESH_ENSURE(nrv <= RV_MAX, VMESH_ERR_TOO_LARGE,
                 "CCA appraisal: %zu reference values for one implementation id, the limit is %d", nrv, RV_MAX);
    for (size_t j = 0; j < nrv; j++) {
        if (rv[j]->name != NULL && strcmp(rv[j]->name, "config") == 0) {
            ncfg++;
            cfg_ok = cfg_ok || config_matches(rv[j], p);
        } else if (!reserved_name(rv[j]->name)) {
            nsw++;
        }
    }
    if (cfg_ok)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_APPROVED_CONFIG, NULL);
    else
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSAFE_CONFIG,
                             ncfg ? "the platform config (key 2401) matches no \"config\" reference value"
                                  : "no \"config\" reference value for the platform");
    *exec = VMESH_AR_APPROVED_RUNTIME;
    if (nsw == 0) {
        VMESH_GUARD(b64_of(p->implementation_id, p->implementation_id_len, &t));
        *exec = VMESH_AR_UNRECOGNIZED_RUNTIME;
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, *exec,
                             "no reference values for the platform software of implementation-id %s",
                             (char *)t.data);
        goto out;
    }
    for (size_t i = 0; i < p->sw_count; i++) {
        bool ok = false;

        for (size_t j = 0; j < nrv && !ok; j++)
            ok = sw_matches(&p->sw[i], rv[j]);
        if (!ok) {
            const vmesh_psa_sw_component *sc = &p->sw[i];

            VMESH_GUARD(hex_of(sc->measurement_value, sc->measurement_value_len, &t));
            *exec = VMESH_AR_UNRECOGNIZED_RUNTIME;
            vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, *exec,
                                 "platform software component %zu (%s, measurement %s) matches no reference value", i,
                                 sc->measurement_type ? sc->measurement_type : "no type", (char *)t.data);
            break;
        }
    }
out:
    vmesh_buf_free(&t);
    return rc;
}

/* Realm: executables from RVs whose class is the RIM. */
static vmesh_err appraise_realm(const vmesh_appraisal_in *in, const vmesh_cca_realm_claims *r, vmesh_appraisal *out,
                                int8_t *exec)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_rv_measurement *rv[RV_MAX];
    size_t nrv = 0, nrpv = 0;
    bool rim_ok = false, rpv_ok = false;
    vmesh_buf t;

    vmesh_buf_init(&t, 0);
    VMESH_GUARD(hex_of(r->rim, r->rim_len, &t));
    if (in->rv != NULL)
        nrv = vmesh_rv_find_measurements(in->rv, "cca", r->rim, r->rim_len, rv, RV_MAX);
    VMESH_ENSURE(nrv <= RV_MAX, VMESH_ERR_TOO_LARGE,
                 "CCA appraisal: %zu reference values for one realm, the limit is %d", nrv, RV_MAX);
    for (size_t j = 0; j < nrv; j++) {
        if (rv[j]->name == NULL)
            continue;
        if (strcmp(rv[j]->name, "rim") == 0)
            rim_ok = rim_ok || bytes_match(rv[j], r->rim, r->rim_len);
        else if (strcmp(rv[j]->name, "rpv") == 0) {
            nrpv++;
            rpv_ok = rpv_ok || bytes_match(rv[j], r->personalization, r->personalization_len);
        }
    }
    if (!rim_ok) {
        *exec = VMESH_AR_UNRECOGNIZED_RUNTIME;
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, *exec,
                             "no \"rim\" reference value for the realm initial measurement %s", (char *)t.data);
        goto out;
    }
    if (nrpv > 0 && !rpv_ok) {
        /* Veraison AppraiseRealm: RPV mismatch -> ContraindicatedRuntimeClaim */
        *exec = VMESH_AR_CONTRAINDICATED_RUNTIME;
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, *exec,
                             "the realm personalization value matches no \"rpv\" reference value of realm %s",
                             (char *)t.data);
        goto out;
    }
    *exec = VMESH_AR_APPROVED_RUNTIME;
    for (size_t i = 0; i < VMESH_CCA_NUM_REMS && *exec == VMESH_AR_APPROVED_RUNTIME; i++) {
        char name[8];
        size_t given = 0;
        bool ok = false;

        snprintf(name, sizeof(name), "rem%zu", i);
        for (size_t j = 0; j < nrv; j++) {
            if (rv[j]->name == NULL || strcmp(rv[j]->name, name) != 0)
                continue;
            given++;
            ok = ok || bytes_match(rv[j], r->rem[i], r->rem_len[i]);
        }
        /* Veraison allMatch: a REM without a reference value is not
         * compared; a REM that differs leaves only the boot approved (3). */
        if (given > 0 && !ok)
            *exec = VMESH_AR_APPROVED_BOOT;
    }
out:
    vmesh_buf_free(&t);
    return rc;
}

static vmesh_err cca_appraise(const vmesh_appraisal_in *in, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cca_token *tok = NULL;
    const vmesh_cca_claims *c;
    vmesh_key *keys[8], *rak = NULL;
    size_t nkeys = 0, blen = 0;
    bool verified = false;
    uint8_t bind[VMESH_CCA_MAX_HASH], expect[64];
    int8_t pexec = 0, rexec = 0;
    uint16_t major;
    vmesh_buf t1, t2;
    char why[400];

    vmesh_buf_init(&t1, 0);
    vmesh_buf_init(&t2, 0);
    VMESH_ENSURE(in != NULL && out != NULL, VMESH_ERR_ARG, "CCA appraisal: no input or output");
    VMESH_ENSURE(in->media_type == NULL || vmesh_evidence_media_type_find(in->media_type, cca_media_types) >= 0,
                 VMESH_ERR_UNSUPPORTED,
                 "CCA appraisal: media type \"%.200s\" is not the CCA token type (%s)", in->media_type,
                 VMESH_CCA_MEDIA_TYPE);
    VMESH_GUARD(vmesh_cca_token_decode(in->evidence, in->evidence_len, &tok));
    c = vmesh_cca_token_claims(tok);
    /* a RAK that is not a usable key makes the evidence malformed */
    VMESH_GUARD(vmesh_cca_realm_key(&c->realm, &rak));

    vmesh_buf_reset(&out->claims_json);
    VMESH_GUARD(vmesh_cca_claims_to_json(c, false, &out->claims_json));
    {
        /* The nonce the evidence carries: vmesh nonces are 32 bytes, which
         * the RMM zero-pads to the 64-byte realm challenge; report them
         * without the padding so callers compare with what they sent (the
         * agent checks a 32-byte ak_nonce). Other challenges: all 64 bytes. */
        static const uint8_t zeros[32];
        size_t nlen = c->realm.challenge_len;

        if (nlen == 64 && memcmp(c->realm.challenge + 32, zeros, 32) == 0)
            nlen = 32;
        VMESH_GUARD(vmesh_buf_set(&out->nonce, c->realm.challenge, nlen));
    }
    VMESH_GUARD(vmesh_buf_set(&out->class_id, c->platform.implementation_id, c->platform.implementation_id_len));
    VMESH_GUARD(vmesh_buf_set(&out->instance_id, c->platform.instance_id, c->platform.instance_id_len));

    if (in->rv != NULL)
        nkeys = vmesh_rv_find_keys(in->rv, "cca", c->platform.implementation_id, c->platform.implementation_id_len,
                                   c->platform.instance_id, c->platform.instance_id_len, keys,
                                   sizeof(keys) / sizeof(keys[0]));
    if (nkeys == 0) {
        VMESH_GUARD(b64_of(c->platform.implementation_id, c->platform.implementation_id_len, &t1));
        VMESH_GUARD(b64_of(c->platform.instance_id, c->platform.instance_id_len, &t2));
        snprintf(why, sizeof(why), "no trust anchor (CPAK) for implementation-id %s instance-id %s",
                 (char *)t1.data, (char *)t2.data);
        all_failed(out, VMESH_TV_INSTANCE_IDENTITY, why);
        goto done;
    }
    if (nkeys > sizeof(keys) / sizeof(keys[0]))
        nkeys = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < nkeys && !verified; i++) {
        vmesh_err vr = vmesh_cose_sign1_verify(vmesh_cca_token_platform(tok), keys[i]);

        VMESH_ENSURE(vr != VMESH_ERR_NOMEM, vr, "out of memory");
        verified = vr == VMESH_OK;
        if (verified)
            vmesh_rv_journal_key_used(keys[i]); /* D43: "this key is endorsed" */
    }
    if (!verified) {
        all_failed(out, VMESH_TV_HARDWARE, "CCA platform token signature does not verify with the endorsed CPAK");
        goto done;
    }
    if (vmesh_cose_sign1_verify(vmesh_cca_token_realm(tok), rak) != VMESH_OK) {
        all_failed(out, VMESH_TV_INSTANCE_IDENTITY,
                   "CCA realm token signature does not verify with the RAK of its claims");
        goto done;
    }
    VMESH_GUARD(vmesh_cca_binding(&c->realm, bind, &blen));
    if (blen != c->platform.challenge_len || !vmesh_crypto_memeq(bind, c->platform.challenge, blen)) {
        snprintf(why, sizeof(why),
                 "CCA token binding: the platform challenge is not the %s hash of the RAK (the realm token does "
                 "not belong to this platform token)",
                 c->realm.rak_hash_algo);
        all_failed(out, VMESH_TV_INSTANCE_IDENTITY, why);
        goto done;
    }
    if (in->nonce != NULL) {
        bool ok = in->nonce_len <= sizeof(expect);

        if (ok) {
            memset(expect, 0, sizeof(expect));
            memcpy(expect, in->nonce, in->nonce_len);
            ok = vmesh_crypto_memeq(expect, c->realm.challenge, sizeof(expect));
        }
        if (!ok) {
            all_failed(out, VMESH_TV_INSTANCE_IDENTITY,
                       "evidence nonce does not match the expected nonce (realm challenge = nonce zero-padded to 64 "
                       "bytes)");
            goto done;
        }
    }

    /* Veraison AppraisePlatform: "once the signature on the token is
     * verified, we can claim the HW is authentic" */
    vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_GENUINE_HARDWARE, NULL);
    major = c->platform.lifecycle >> 8;
    if (major == 0x30 || major == 0x40) {
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_TRUSTWORTHY_INSTANCE, NULL);
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_ENCRYPTED_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_STORAGE_OPAQUE, VMESH_AR_HW_KEYS_ENCRYPTED_SECRETS, NULL);
    } else {
        const char *lc = vmesh_cca_lifecycle_name(c->platform.lifecycle);

        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_UNTRUSTWORTHY_INSTANCE,
                             "platform lifecycle 0x%04x (%s) is not a trusted state (secured or "
                             "non-cca-platform-rot-debug)",
                             c->platform.lifecycle, lc ? lc : "invalid");
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_VISIBLE_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_STORAGE_OPAQUE, VMESH_AR_UNENCRYPTED_SECRETS, NULL);
    }
    /* realm first: an affirming note never replaces an affirming one, so a
     * realm that is only boot-approved (3) keeps the combined claim at 3 */
    VMESH_GUARD(appraise_realm(in, &c->realm, out, &rexec));
    if (rexec != VMESH_AR_APPROVED_RUNTIME)
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, rexec, NULL);
    VMESH_GUARD(appraise_platform(in, &c->platform, out, &pexec));
    vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, pexec, NULL);
done:
    out->status = vmesh_tv_status(&out->tv);
out:
    vmesh_crypto_key_free(rak);
    vmesh_cca_token_free(tok);
    vmesh_buf_free(&t1);
    vmesh_buf_free(&t2);
    return rc;
}

/* `vmesh attest cca-sim --print`: both claims sets; with "cpak", the
 * platform signature checked with that key, the realm signature with the
 * RAK the token carries, and the binding between them. */
static vmesh_err cca_describe(const uint8_t *ev, size_t n, const vmesh_kv *cfg, size_t ncfg, vmesh_buf *json)
{
    vmesh_err rc = VMESH_OK;
    const char *cpak_path = NULL;
    vmesh_cca_token *tok = NULL;
    vmesh_key *cpak = NULL;

    for (size_t i = 0; i < ncfg; i++) {
        VMESH_ENSURE(cfg[i].key != NULL && cfg[i].value != NULL && strcmp(cfg[i].key, "cpak") == 0 &&
                         cpak_path == NULL,
                     VMESH_ERR_ARG, "cca: printing a token takes only \"cpak\", once (the key to check its "
                                    "platform signature with), not \"%.64s\"", cfg[i].key ? cfg[i].key : "");
        cpak_path = cfg[i].value;
    }
    VMESH_GUARD(vmesh_cca_token_decode(ev, n, &tok));
    if (cpak_path != NULL) {
        rc = vmesh_crypto_key_load(cpak_path, &cpak);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "cca: reading the CPAK %s", cpak_path);
            goto out;
        }
        rc = vmesh_cca_token_verify(tok, cpak);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "cca: the token does not verify with the CPAK %s", cpak_path);
            goto out;
        }
    }
    rc = vmesh_cca_claims_to_json(vmesh_cca_token_claims(tok), true, json);
out:
    vmesh_crypto_key_free(cpak);
    vmesh_cca_token_free(tok);
    return rc;
}

static const vmesh_evidence_option cca_options[] = {
    {"cpak", 0, "KEY", false,
     "CPAK private key (PEM or JWK), EC P-256 or P-384: signs the platform token (--print: checks it)"},
    {"rak", 0, "KEY", false,
     "RAK private key, EC P-384 (or P-256); without it a fresh P-384 RAK per attester, as the RMM does per realm"},
    {"claims", 'c', "FILE", false,
     "claims template in Veraison's format (cca-platform-token, cca-realm-delegated-token; docs/CCA.md)"},
    {NULL, 0, NULL, false, NULL},
};

const vmesh_evidence_scheme vmesh_scheme_cca = {
    .name = "cca",
    .media_types = cca_media_types,
    .detect = cca_detect,
    .to_cmw_collection = vmesh_cca_token_to_cmw,
    .attester_name = "cca-sim",
    .attester_options = cca_options,
    .attester_new = cca_attester_new,
    .attest = cca_attest,
    .attester_free = cca_attester_free,
    .appraise = cca_appraise,
    .describe = cca_describe,
};
