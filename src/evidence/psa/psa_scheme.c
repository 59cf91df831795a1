/*
 * The "psa" evidence scheme: the software attester psa-sim (IAK from a key
 * file, claims from a JSON template, measurements of local files) and the
 * verifier side that appraises a PSA token into an AR4SI trustworthiness
 * vector, modelled on Veraison's psa-iot scheme (veraison/services
 * scheme/psa-iot/scheme.go and vts/trustedservices/trustedservices_grpc.go):
 *
 *  - malformed token or claims: an error (VMESH_ERR_PARSE ...), no result;
 *  - no IAK endorsed for (implementation-id, instance-id): every claim 99
 *    (crypto validation failed), as Veraison's VTS does on ErrNoMatch for
 *    the trust anchor ("no trust anchor for ...");
 *  - signature does not verify with any endorsed IAK: every claim 99, as
 *    Veraison's VTS does when ValidateEvidenceIntegrity fails;
 *  - nonce differs from the expected one: every claim 99 (Veraison checks
 *    the psa-nonce in ValidateEvidenceIntegrity, a BadEvidence error, hence
 *    SetAllClaims(CryptoValidationFailedClaim)); checked after the
 *    signature so that a forged token is reported as such;
 *  - otherwise hardware 2 (genuine: the endorsed IAK signed it);
 *    security lifecycle secured (0x30xx) or non-PSA-RoT debug (0x40xx):
 *    instance-identity 2, runtime-opaque 2, storage-opaque 2; any other
 *    state: 96, 96, 96 (Veraison AppraiseClaims; RFC 9783 §4.3.1: "a
 *    Verifier can only trust reports from the PSA RoT when it is in
 *    SECURED or NON_PSA_ROT_DEBUG major states");
 *    executables 2 when every software component matches a reference
 *    value of the class (measurement-type when the RV names one, digest,
 *    version when the RV gives one; not the signer id, as in Veraison),
 *    else 33 (unrecognized
 *    run-time), also when the class has no reference values or the token
 *    has no software measurements.
 * The appraisal must never report a better vector than the evidence
 * supports, and never do work the hot path does not need (keys come parsed
 * from the RV store; the token is decoded once).
 */
#include "vmesh/psa.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const psa_media_types[] = {
    "application/eat+cwt; eat_profile=\"tag:psacertified.org,2023:psa#tfm\"",
    "application/psa-attestation-token",
    "application/eat-cwt; profile=\"http://arm.com/psa/2.0.0\"",
    "application/eat+cwt; eat_profile=\"tag:psacertified.org,2019:psa#legacy\"",
    NULL,
};

static bool media_type_known(const char *mt)
{
    return vmesh_evidence_media_type_find(mt, psa_media_types) >= 0;
}

static bool psa_detect(const uint8_t *p, size_t n)
{
    vmesh_psa_claims c;
    vmesh_err rc;

    size_t k = 0;

    if (p == NULL || n < 4)
        return false;
    /* tag 18 + array(4), or a bare array(4) */
    if (vmesh_cbor_starts_with(p, n, VMESH_CBOR_TAG, VMESH_COSE_SIGN1_TAG, &k))
        p += k, n -= k;
    if (!vmesh_cbor_starts_with(p, n, VMESH_CBOR_ARRAY, 4, NULL))
        return false;
    vmesh_psa_claims_init(&c);
    rc = vmesh_psa_token_decode(p, n, NULL, &c);
    vmesh_psa_claims_free(&c);
    return rc == VMESH_OK;
}

/* ---- attester: psa-sim -------------------------------------------------- */


#define PSA_SIM_MEASURE_MAX 32

/* What identifies one version of a measured file: a write changes the
 * mtime and ctime (nanoseconds), a replacement the inode, a truncation the
 * size. */
typedef struct {
    bool valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} psa_file_id;

typedef struct {
    vmesh_key *iak;
    vmesh_psa_claims tmpl;
    /* NAME=FILE specs, looked at again for every token (a changed file shows
     * in the next evidence, as a runtime measurement would); a file is
     * hashed again only when its psa_file_id changed */
    char *measure[PSA_SIM_MEASURE_MAX];
    psa_file_id seen[PSA_SIM_MEASURE_MAX];
    size_t n_measure;
} psa_sim;

static bool same_file(const psa_file_id *a, const struct stat *st)
{
    return a->valid && a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
           a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           a->ctime.tv_sec == st->st_ctim.tv_sec && a->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Applies NAME=FILE to the template. With `seen` (a token's re-measure),
 * a file whose identity did not change since the last hash keeps its
 * digest: hashing the workload (64 KiB in the benchmarks) per token was the
 * largest cost of fresh-mode evidence. */
static vmesh_err apply_measure(psa_sim *s, const char *spec, psa_file_id *seen)
{
    vmesh_err rc = VMESH_OK;
    const char *eq = strchr(spec, '=');
    char *name = NULL;
    uint8_t digest[32];
    vmesh_psa_sw_component *sc = NULL;
    struct stat before, after;
    struct timespec now;
    bool stat_ok;

    VMESH_ENSURE(eq != NULL && eq != spec && eq[1] != '\0', VMESH_ERR_ARG,
                 "psa-sim: measure \"%.200s\" is not NAME=FILE", spec);
    stat_ok = stat(eq + 1, &before) == 0;
    if (seen != NULL && stat_ok && same_file(seen, &before))
        goto out; /* unchanged: the template holds its digest */
    VMESH_GUARD(vmesh_psa_text_dup("PSA claims", spec, (size_t)(eq - spec), "measurement-type", &name));
    rc = vmesh_crypto_sha256_file(eq + 1, digest);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "psa-sim: measuring %s for %s", eq + 1, name);
        goto out;
    }
    if (seen != NULL) {
        /* Remembered only when the file did not change while it was read
         * and its last change is 2 s older than the read: file times come
         * from a coarse clock, so a second write of the same size within
         * one clock tick of the first would otherwise go unseen (git's
         * "racily clean" rule). */
        seen->valid = stat_ok && clock_gettime(CLOCK_REALTIME, &now) == 0 &&
                      before.st_ctim.tv_sec + 2 < now.tv_sec && before.st_mtim.tv_sec + 2 < now.tv_sec && stat(eq + 1, &after) == 0 && before.st_ino == after.st_ino &&
                      before.st_dev == after.st_dev && before.st_size == after.st_size &&
                      before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
                      before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
                      before.st_ctim.tv_sec == after.st_ctim.tv_sec &&
                      before.st_ctim.tv_nsec == after.st_ctim.tv_nsec;
        seen->dev = before.st_dev;
        seen->ino = before.st_ino;
        seen->size = before.st_size;
        seen->mtime = before.st_mtim;
        seen->ctime = before.st_ctim;
    }
    for (size_t i = 0; i < s->tmpl.sw_count && sc == NULL; i++)
        if (s->tmpl.sw[i].measurement_type && strcmp(s->tmpl.sw[i].measurement_type, name) == 0)
            sc = &s->tmpl.sw[i];
    if (sc == NULL) {
        uint8_t iid[33];

        VMESH_GUARD(vmesh_psa_claims_add_sw(&s->tmpl, &sc));
        sc->measurement_type = name;
        name = NULL;
        VMESH_GUARD(vmesh_psa_text_dup("PSA claims", "sha-256", 7, "measurement-desc", &sc->measurement_desc));
        /* signer-id is mandatory: psa-sim signs its own components, so the
         * signer is the IAK (same hash as the derived instance id) */
        VMESH_GUARD(vmesh_psa_instance_id_from_key(s->iak, iid));
        memcpy(sc->signer_id, iid + 1, 32);
        sc->signer_id_len = 32;
    } else if (sc->measurement_desc != NULL && strcmp(sc->measurement_desc, "sha-256") != 0) {
        VMESH_GUARD(vmesh_psa_text_dup("PSA claims", "sha-256", 7, "measurement-desc", &sc->measurement_desc));
    }
    memcpy(sc->measurement_value, digest, 32);
    sc->measurement_value_len = 32;
out:
    free(name);
    return rc;
}

static void psa_attester_free(void *ctx)
{
    psa_sim *s = ctx;

    if (s == NULL)
        return;
    vmesh_crypto_key_free(s->iak);
    vmesh_psa_claims_free(&s->tmpl);
    for (size_t i = 0; i < s->n_measure; i++)
        free(s->measure[i]);
    free(s);
}

static vmesh_err psa_attester_new(const vmesh_kv *cfg, size_t ncfg, void **ctx)
{
    vmesh_err rc = VMESH_OK;
    const char *iak_path = NULL, *claims_path = NULL;
    psa_sim *s = NULL;
    vmesh_buf json;
    vmesh_psa_claims probe;

    vmesh_buf_init(&json, 1024 * 1024);
    *ctx = NULL;
    for (size_t i = 0; i < ncfg; i++) {
        if (cfg[i].key == NULL || cfg[i].value == NULL)
            VMESH_FAIL(VMESH_ERR_ARG, "psa-sim: configuration entry %zu is empty", i);
        if (strcmp(cfg[i].key, "iak") == 0)
            iak_path = cfg[i].value;
        else if (strcmp(cfg[i].key, "claims") == 0)
            claims_path = cfg[i].value;
        else if (strcmp(cfg[i].key, "measure") != 0)
            VMESH_FAIL(VMESH_ERR_ARG, "psa-sim: unknown configuration key \"%.64s\" (known: iak, claims, measure)",
                       cfg[i].key);
    }
    VMESH_ENSURE(iak_path != NULL, VMESH_ERR_ARG, "psa-sim: no IAK key file given (\"iak\")");
    VMESH_ENSURE(claims_path != NULL, VMESH_ERR_ARG, "psa-sim: no claims template given (\"claims\")");
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    vmesh_psa_claims_init(&s->tmpl);
    rc = vmesh_crypto_key_load(iak_path, &s->iak);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "psa-sim: reading IAK %s", iak_path);
        goto out;
    }
    VMESH_ENSURE(vmesh_crypto_key_is_private(s->iak), VMESH_ERR_ARG,
                 "psa-sim: IAK %s holds only a public key; signing needs the private key", iak_path);
    rc = vmesh_file_read(claims_path, json.max, &json);
    if (rc == VMESH_OK)
        rc = vmesh_psa_claims_from_json((const char *)json.data, json.len, &s->tmpl);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "psa-sim: reading claims %s", claims_path);
        goto out;
    }
    for (size_t i = 0; i < ncfg; i++)
        if (strcmp(cfg[i].key, "measure") == 0) {
            VMESH_ENSURE(s->n_measure < PSA_SIM_MEASURE_MAX, VMESH_ERR_ARG, "psa-sim: at most %d measured files",
                         PSA_SIM_MEASURE_MAX);
            s->measure[s->n_measure] = strdup(cfg[i].value);
            VMESH_ENSURE(s->measure[s->n_measure] != NULL, VMESH_ERR_NOMEM, "out of memory");
            s->n_measure++; /* owned (freed) from here, even when the file is bad */
            VMESH_GUARD(apply_measure(s, cfg[i].value, &s->seen[s->n_measure - 1]));
        }
    if (s->tmpl.instance_id_len == 0) {
        VMESH_GUARD(vmesh_psa_instance_id_from_key(s->iak, s->tmpl.instance_id));
        s->tmpl.instance_id_len = 33;
    }
    /* Check the template now (with a stand-in nonce when it has none), so
     * that a bad template fails at start-up, not at the first attestation. */
    probe = s->tmpl;
    if (probe.nonce_len == 0)
        probe.nonce_len = 32;
    rc = vmesh_psa_claims_validate(&probe);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "psa-sim: claims template %s", claims_path);
        goto out;
    }
    *ctx = s;
    s = NULL;
out:
    psa_attester_free(s);
    vmesh_buf_free(&json);
    return rc;
}

static vmesh_err psa_attest(void *ctx, const uint8_t *nonce, size_t nonce_len, vmesh_buf *evidence)
{
    vmesh_err rc = VMESH_OK;
    psa_sim *s = ctx;
    vmesh_psa_claims c;

    VMESH_ENSURE(s != NULL, VMESH_ERR_STATE, "psa-sim: attester not initialised");
    /* The measured files as they are now (the caller serialises attest calls). */
    for (size_t i = 0; i < s->n_measure; i++)
        VMESH_GUARD(apply_measure(s, s->measure[i], &s->seen[i]));
    c = s->tmpl; /* shallow: only the nonce changes, the strings stay owned by the template */
    if (nonce != NULL) {
        VMESH_ENSURE(nonce_len == 32 || nonce_len == 48 || nonce_len == 64, VMESH_ERR_ARG,
                     "psa-sim: the nonce is %zu bytes; a PSA nonce must be 32, 48 or 64 bytes", nonce_len);
        memcpy(c.nonce, nonce, nonce_len);
        c.nonce_len = nonce_len;
    }
    VMESH_ENSURE(c.nonce_len != 0, VMESH_ERR_ARG,
                 "psa-sim: no nonce given and the claims template has no \"psa-nonce\"");
    VMESH_GUARD(vmesh_psa_token_sign(&c, s->iak, evidence));
out:
    return rc;
}

/* Enrolment: what an endorser publishes for this platform, read from the
 * same configuration the attester runs with, so the two cannot drift. */
vmesh_err vmesh_psa_reference_values(const vmesh_kv *cfg, size_t ncfg, vmesh_rv_store *rv)
{
    vmesh_err rc = VMESH_OK;
    void *ctx = NULL;
    psa_sim *s;
    vmesh_buf spki = {0};
    vmesh_key *pub = NULL;
    vmesh_rv_env env = {.scheme = "psa"};

    VMESH_GUARD(psa_attester_new(cfg, ncfg, &ctx)); /* the template is complete: an implementation id */
    s = ctx;
    env.class_id = s->tmpl.implementation_id;
    env.class_id_len = s->tmpl.implementation_id_len;
    for (size_t i = 0; i < s->tmpl.sw_count; i++) {
        const vmesh_psa_sw_component *sc = &s->tmpl.sw[i];
        int alg = sc->measurement_desc ? vmesh_rv_hash_alg_from_name(sc->measurement_desc) : 0;
        vmesh_rv_measurement m = {
            .name = sc->measurement_type,
            .version = sc->version,
            .signer_id = sc->signer_id_len ? sc->signer_id : NULL,
            .signer_id_len = sc->signer_id_len,
            .digest_alg = alg > 0 && vmesh_rv_hash_alg_len(alg) == sc->measurement_value_len ? alg : 0,
            .digest = sc->measurement_value,
            .digest_len = sc->measurement_value_len,
        };
        VMESH_ENSURE(m.name != NULL, VMESH_ERR_ARG,
                     "psa-sim: software component %zu has no measurement-type (a reference value needs a name)", i);
        VMESH_GUARD(vmesh_rv_add_measurement(rv, &env, &m));
    }
    /* The IAK for this instance, public part only. */
    VMESH_GUARD(vmesh_crypto_key_to_spki(s->iak, &spki));
    VMESH_GUARD(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub));
    env.instance_id = s->tmpl.instance_id;
    env.instance_id_len = s->tmpl.instance_id_len;
    VMESH_GUARD(vmesh_rv_add_key(rv, &env, pub));
out:
    vmesh_crypto_key_free(pub);
    vmesh_buf_free(&spki);
    psa_attester_free(ctx);
    return rc;
}

/* The scheme's reference_values (vmesh attest psa-sim --reference-values):
 * the same enrolment as RV JSON. */
static vmesh_err psa_reference_values_json(const vmesh_kv *cfg, size_t ncfg, vmesh_buf *rv_json)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = NULL;

    VMESH_GUARD(vmesh_rv_store_new(&rv));
    VMESH_GUARD(vmesh_psa_reference_values(cfg, ncfg, rv));
    VMESH_GUARD(vmesh_rv_store_to_json(rv, rv_json));
out:
    vmesh_rv_store_free(rv);
    return rc;
}

/* ---- verifier --------------------------------------------------------------- */

static void claim_of(const vmesh_psa_sw_component *sc, vmesh_rv_claim *c)
{
    c->name = sc->measurement_type;
    c->value = sc->measurement_value;
    c->value_len = sc->measurement_value_len;
    c->version = sc->version;
}

/* The signer id is NOT compared, as in Veraison's psa-iot
 * (matchClaimsToReferenceValues compares digest, label and version only):
 * Veraison's own affirming pair, corim-psa-valid.cbor and psa.good.cose,
 * carries different signer ids (CoRIM cryptokeys 5378..7aa3 vs token
 * acbb..e86b), so comparing would refuse it. The rule itself is the RV
 * store's (vmesh_rv_measurement_accepts), so that the lookup journal (D43)
 * asks again exactly what was asked here. */
bool vmesh_psa_sw_component_matches(const vmesh_psa_sw_component *sc, const vmesh_rv_measurement *m)
{
    vmesh_rv_claim c;

    claim_of(sc, &c);
    return vmesh_rv_measurement_accepts(m, &c);
}

/* Returns the index of the first component without a matching reference
 * value, or c->sw_count when all match; *any: the class has reference
 * measurements at all. One yes/no question per component (D43): adding
 * an alternative digest for a component changes no answer. */
static vmesh_err match_software(const vmesh_appraisal_in *in, const vmesh_psa_claims *c, size_t *first_bad,
                                bool *any)
{
    *first_bad = 0;
    *any = false;
    if (in->rv == NULL || c->sw_count == 0)
        return VMESH_OK;
    *any = vmesh_rv_has_measurements(in->rv, "psa", c->implementation_id, c->implementation_id_len);
    if (!*any)
        return VMESH_OK;
    for (*first_bad = 0; *first_bad < c->sw_count; (*first_bad)++) {
        vmesh_rv_claim cl;
        claim_of(&c->sw[*first_bad], &cl);
        if (!vmesh_rv_claim_accepted(in->rv, "psa", c->implementation_id, c->implementation_id_len, &cl))
            break;
    }
    return VMESH_OK;
}

static vmesh_err b64_of(const uint8_t *p, size_t n, vmesh_buf *b)
{
    vmesh_buf_reset(b);
    return vmesh_b64_encode(p, n, b);
}

static vmesh_err psa_appraise(const vmesh_appraisal_in *in, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_psa_claims c;
    vmesh_cose_sign1 *m = NULL;
    vmesh_key *keys[8];
    size_t nkeys = 0, first_bad = 0;
    bool verified = false, any_rv = false;
    vmesh_buf t1, t2;
    const char *lc;

    vmesh_psa_claims_init(&c);
    vmesh_buf_init(&t1, 0);
    vmesh_buf_init(&t2, 0);
    VMESH_ENSURE(in != NULL && out != NULL, VMESH_ERR_ARG, "PSA appraisal: no input or output");
    VMESH_ENSURE(in->media_type == NULL || media_type_known(in->media_type), VMESH_ERR_UNSUPPORTED,
                 "PSA appraisal: media type \"%.200s\" is not a PSA attestation token type", in->media_type);
    VMESH_GUARD(vmesh_psa_token_decode(in->evidence, in->evidence_len, &m, &c));

    vmesh_buf_reset(&out->claims_json);
    VMESH_GUARD(vmesh_psa_claims_to_json(&c, false, &out->claims_json));
    VMESH_GUARD(vmesh_buf_set(&out->nonce, c.nonce, c.nonce_len));
    VMESH_GUARD(vmesh_buf_set(&out->class_id, c.implementation_id, c.implementation_id_len));
    VMESH_GUARD(vmesh_buf_set(&out->instance_id, c.instance_id, c.instance_id_len));

    /* RFC 9783 §5.2 (TFM profile): "Claim-Based Key Identification ... using
     * Instance ID"; the class (implementation id) scopes the key as in
     * Veraison's GetTrustAnchorIDs. */
    if (in->rv != NULL)
        nkeys = vmesh_rv_find_keys(in->rv, "psa", c.implementation_id, c.implementation_id_len, c.instance_id,
                                   c.instance_id_len, keys, sizeof(keys) / sizeof(keys[0]));
    if (nkeys == 0) {
        VMESH_GUARD(b64_of(c.implementation_id, c.implementation_id_len, &t1));
        VMESH_GUARD(b64_of(c.instance_id, c.instance_id_len, &t2));
        vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_CRYPTO_VALIDATION_FAILED,
                             "no trust anchor for implementation-id %s instance-id %s", (char *)t1.data,
                             (char *)t2.data);
        goto done;
    }
    if (nkeys > sizeof(keys) / sizeof(keys[0]))
        nkeys = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < nkeys && !verified; i++) {
        vmesh_err vr = vmesh_cose_sign1_verify(m, keys[i]);

        if (vr == VMESH_ERR_NOMEM) {
            rc = vr;
            goto out;
        }
        verified = vr == VMESH_OK;
        if (verified)
            vmesh_rv_journal_key_used(keys[i]);
    }
    if (!verified) {
        vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_CRYPTO_VALIDATION_FAILED,
                             "PSA token signature does not verify with the endorsed IAK");
        goto done;
    }
    if (in->nonce != NULL &&
        (in->nonce_len != c.nonce_len || !vmesh_crypto_memeq(in->nonce, c.nonce, c.nonce_len))) {
        vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_CRYPTO_VALIDATION_FAILED,
                             "evidence nonce does not match the expected nonce");
        goto done;
    }

    /* Veraison psa-iot AppraiseClaims: "once the signature on the token is
     * verified, we can claim the HW is authentic". */
    vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_GENUINE_HARDWARE, NULL);

    lc = vmesh_psa_lifecycle_name(c.security_lifecycle);
    if ((c.security_lifecycle >> 8) == 0x30 || (c.security_lifecycle >> 8) == 0x40) {
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_TRUSTWORTHY_INSTANCE, NULL);
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_ENCRYPTED_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_STORAGE_OPAQUE, VMESH_AR_HW_KEYS_ENCRYPTED_SECRETS, NULL);
    } else {
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_UNTRUSTWORTHY_INSTANCE,
                             "security lifecycle 0x%04x (%s) is not a trusted state (secured or "
                             "non-psa-rot-debug)",
                             c.security_lifecycle, lc ? lc : "invalid");
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_VISIBLE_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_STORAGE_OPAQUE, VMESH_AR_UNENCRYPTED_SECRETS, NULL);
    }

    VMESH_GUARD(match_software(in, &c, &first_bad, &any_rv));
    if (c.sw_count == 0) {
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                             "the token carries no software measurements");
    } else if (!any_rv) {
        VMESH_GUARD(b64_of(c.implementation_id, c.implementation_id_len, &t1));
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                             "no reference values for implementation-id %s", (char *)t1.data);
    } else if (first_bad < c.sw_count) {
        const vmesh_psa_sw_component *sc = &c.sw[first_bad];

        /* in hex, as RV JSON and sha256sum write digests */
        vmesh_buf_reset(&t1);
        VMESH_GUARD(vmesh_hex_encode(sc->measurement_value, sc->measurement_value_len, &t1));
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                             "software component %zu (%s, measurement %s) matches no reference value",
                             first_bad, sc->measurement_type ? sc->measurement_type : "no type",
                             (char *)t1.data);
    } else {
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_APPROVED_RUNTIME, NULL);
    }
done:
    out->status = vmesh_tv_status(&out->tv);
out:
    vmesh_cose_sign1_free(m);
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&t1);
    vmesh_buf_free(&t2);
    return rc;
}

/* `vmesh attest psa --print`: the token's claims; with "iak", its
 * signature checked with that key (private or public). */
static vmesh_err psa_describe(const uint8_t *ev, size_t n, const vmesh_kv *cfg, size_t ncfg, vmesh_buf *json)
{
    vmesh_err rc = VMESH_OK;
    const char *iak_path = NULL;
    vmesh_psa_claims c;
    vmesh_cose_sign1 *m = NULL;
    vmesh_key *k = NULL;

    vmesh_psa_claims_init(&c);
    for (size_t i = 0; i < ncfg; i++) {
        VMESH_ENSURE(cfg[i].key != NULL && cfg[i].value != NULL && strcmp(cfg[i].key, "iak") == 0 && iak_path == NULL,
                     VMESH_ERR_ARG, "psa: printing a token takes only \"iak\", once (the key to check its signature "
                                    "with), not \"%.64s\"", cfg[i].key ? cfg[i].key : "");
        iak_path = cfg[i].value;
    }
    VMESH_GUARD(vmesh_psa_token_decode(ev, n, &m, &c));
    if (iak_path != NULL) {
        rc = vmesh_crypto_key_load(iak_path, &k);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "psa: reading the IAK %s", iak_path);
            goto out;
        }
        rc = vmesh_cose_sign1_verify(m, k);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "psa: the token signature does not verify with the IAK %s", iak_path);
            goto out;
        }
    }
    rc = vmesh_psa_claims_to_json(&c, true, json);
out:
    vmesh_crypto_key_free(k);
    vmesh_cose_sign1_free(m);
    vmesh_psa_claims_free(&c);
    return rc;
}

static const vmesh_evidence_option psa_options[] = {
    {"iak", 'k', "KEY", false, "IAK private key: PEM (PKCS#8, SEC1) or JWK (--print: checks the signature)"},
    {"claims", 'c', "FILE", false,
     "claims template, JSON as Veraison writes PSA claims (\"eat-profile\", \"psa-client-id\", "
     "\"psa-security-lifecycle\", \"psa-implementation-id\", \"psa-software-components\", ...); "
     "without \"psa-instance-id\" it is 0x01 || SHA-256(SPKI of the IAK)"},
    {"measure", 'm', "NAME=FILE", true,
     "the measurement-value of the component of type NAME becomes SHA-256(FILE); "
     "a component is appended if there is none"},
    {NULL, 0, NULL, false, NULL},
};

const vmesh_evidence_scheme vmesh_scheme_psa = {
    .name = "psa",
    .media_types = psa_media_types,
    .detect = psa_detect,
    .attester_name = "psa-sim",
    .attester_options = psa_options,
    .attester_new = psa_attester_new,
    .attest = psa_attest,
    .attester_free = psa_attester_free,
    .appraise = psa_appraise,
    .describe = psa_describe,
    .reference_values = psa_reference_values_json,
};
