/*
 * The lookup journal (D43) is exact for psa: for a psa-sim token appraised
 * by the verifier engine under a store, replaying the appraisal's journal
 * against a changed store says "same" if and only if a full appraisal
 * under that store gives the same trust vector, over the store changes a
 * relying party meets (an unrelated RV, an alternative digest, the matched
 * digest withdrawn, the IAK withdrawn or joined by another key, the class
 * removed, an attribute changed, the snapshot stale). For tpm2 (list
 * answers for its PCRs and attributes) it is sound: "same" always means
 * the same vector. Also: a journal that
 * read something it cannot ask again is not produced, and one that is not
 * well-formed (truncated, tampered, past its caps) fails to replay rather
 * than saying "same".
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/cbor.h"
#include "vmesh/psa.h"
#include "vmesh/tpm2.h"
#include "vmesh/verifier.h"

#define IMPL "vmesh-test-implementation-id-001"

typedef struct {
    vmesh_key *iak, *iak_pub, *other_pub;
    vmesh_psa_claims c;
    vmesh_buf tok;
    vmesh_verifier *v;
} fixture;

static vmesh_key *public_of(const vmesh_key *k)
{
    vmesh_buf spki = {0};
    vmesh_key *pub = NULL;

    assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    vmesh_buf_free(&spki);
    return pub;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    const char *types[] = {"BL", "PRoT", "ARoT"};
    vmesh_key *other = NULL;
    vmesh_verifier_config vc;

    assert_non_null(f);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->iak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    f->iak_pub = public_of(f->iak);
    f->other_pub = public_of(other);
    vmesh_crypto_key_free(other);
    vmesh_psa_claims_init(&f->c);
    f->c.profile = VMESH_PSA_PROFILE_TFM;
    f->c.client_id = 1;
    f->c.client_id_present = true;
    f->c.security_lifecycle = 0x3000;
    f->c.security_lifecycle_present = true;
    memcpy(f->c.implementation_id, IMPL, 32);
    f->c.implementation_id_len = 32;
    assert_int_equal(vmesh_psa_instance_id_from_key(f->iak, f->c.instance_id), VMESH_OK);
    f->c.instance_id_len = 33;
    memset(f->c.nonce, 0x5a, 32);
    f->c.nonce_len = 32;
    for (int i = 0; i < 3; i++) {
        vmesh_psa_sw_component *sc;
        assert_int_equal(vmesh_psa_claims_add_sw(&f->c, &sc), VMESH_OK);
        sc->measurement_type = strdup(types[i]);
        memset(sc->measurement_value, 0x70 + i, 32);
        sc->measurement_value_len = 32;
        memset(sc->signer_id, 0x80, 32);
        sc->signer_id_len = 32;
        sc->version = strdup("1.2.3");
    }
    assert_int_equal(vmesh_psa_token_sign(&f->c, f->iak, &f->tok), VMESH_OK);
    memset(&vc, 0, sizeof(vc));
    assert_int_equal(vmesh_verifier_new(&vc, &f->v), VMESH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vmesh_crypto_key_free(f->iak);
    vmesh_crypto_key_free(f->iak_pub);
    vmesh_crypto_key_free(f->other_pub);
    vmesh_psa_claims_free(&f->c);
    vmesh_buf_free(&f->tok);
    vmesh_verifier_free(f->v);
    free(f);
    return 0;
}

/* The store changes of the exactness test. */
enum {
    CH_NONE,
    CH_UNRELATED,   /* another class's measurement and key */
    CH_ALT_DIGEST,  /* an alternative digest for BL */
    CH_WITHDRAWN,   /* PRoT's digest withdrawn */
    CH_REPLACED,    /* PRoT's digest replaced by another */
    CH_VERSION,     /* BL's reference now names another version */
    CH_IAK_GONE,    /* the IAK withdrawn */
    CH_IAK_OTHER,   /* the IAK replaced by another key */
    CH_KEY_ADDED,   /* another key endorsed for the same instance too */
    CH_CLASS_GONE,  /* nothing for the class any more */
    CH_MEAS_GONE,   /* the key stays, every measurement goes */
    CH_ATTR,        /* a psa attribute changed (psa reads none) */
    CH_STALE,       /* the snapshot is stale */
    CH__COUNT
};

static const char *change_name[CH__COUNT] = {
    "none", "unrelated RV", "alternative digest", "digest withdrawn", "digest replaced", "version changed",
    "IAK withdrawn", "IAK replaced", "key added", "class removed", "measurements removed", "attribute changed",
    "stale",
};

static vmesh_rv_store *make_store(fixture *f, int ch)
{
    vmesh_rv_store *s = NULL;
    vmesh_rv_env inst = {"psa", f->c.implementation_id, 32, f->c.instance_id, 33};
    vmesh_rv_env cls = {"psa", f->c.implementation_id, 32, NULL, 0};
    static const uint8_t other_impl[32] = "another-implementation-id-000002";
    vmesh_rv_env other = {"psa", other_impl, 32, NULL, 0};
    uint8_t alt[32];

    memset(alt, 0x11, sizeof(alt));
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_set_epoch(s, "fleet", (uint64_t)ch + 1), VMESH_OK);
    if (ch != CH_CLASS_GONE) {
        if (ch != CH_IAK_GONE)
            assert_int_equal(vmesh_rv_add_key(s, &inst, ch == CH_IAK_OTHER ? f->other_pub : f->iak_pub), VMESH_OK);
        if (ch == CH_KEY_ADDED)
            assert_int_equal(vmesh_rv_add_key(s, &inst, f->other_pub), VMESH_OK);
        for (size_t i = 0; i < f->c.sw_count && ch != CH_MEAS_GONE; i++) {
            vmesh_rv_measurement m = {
                .name = f->c.sw[i].measurement_type,
                .version = i == 0 ? (ch == CH_VERSION ? "9.9.9" : "1.2.3") : NULL,
                .digest_alg = VMESH_HASH_SHA256,
                .digest = f->c.sw[i].measurement_value,
                .digest_len = 32,
            };
            if (i == 1 && (ch == CH_WITHDRAWN || ch == CH_REPLACED)) {
                if (ch == CH_WITHDRAWN)
                    continue;
                m.digest = alt;
            }
            assert_int_equal(vmesh_rv_add_measurement(s, &cls, &m), VMESH_OK);
            if (i == 0 && ch == CH_ALT_DIGEST) {
                m.digest = alt;
                assert_int_equal(vmesh_rv_add_measurement(s, &cls, &m), VMESH_OK);
            }
        }
        assert_int_equal(vmesh_rv_add_attr(s, &cls, "note", ch == CH_ATTR ? "changed" : "original"), VMESH_OK);
    }
    if (ch == CH_UNRELATED) {
        vmesh_rv_measurement m = {.name = "BL", .digest_alg = VMESH_HASH_SHA256, .digest = alt, .digest_len = 32};
        assert_int_equal(vmesh_rv_add_measurement(s, &other, &m), VMESH_OK);
        assert_int_equal(vmesh_rv_add_key(s, &other, f->other_pub), VMESH_OK);
    }
    if (ch == CH_STALE)
        assert_int_equal(vmesh_rv_store_set_stale(s, true), VMESH_OK);
    vmesh_rv_store_freeze(s);
    return s;
}

static void appraise(fixture *f, vmesh_rv_store *s, vmesh_appraisal *a)
{
    vmesh_verifier_request req;

    memset(&req, 0, sizeof(req));
    req.evidence = f->tok.data;
    req.evidence_len = f->tok.len;
    req.media_type = vmesh_scheme_psa.media_types[0];
    req.nonce = f->c.nonce;
    req.nonce_len = 32;
    req.rv = s;
    req.now = 1000;
    vmesh_appraisal_init(a);
    assert_int_equal(vmesh_verifier_appraise(f->v, &req, a, NULL, NULL), VMESH_OK);
}

/* Replays under every change: "same" iff the full appraisal's vector is. */
static void exact_for_psa(void **state)
{
    fixture *f = *state;
    /* which changes must leave the result (and so the journal) unchanged */
    static const bool expect_same[CH__COUNT] = {
        [CH_NONE] = true, [CH_UNRELATED] = true, [CH_ALT_DIGEST] = true, [CH_KEY_ADDED] = true, [CH_ATTR] = true,
    };

    for (int base = 0; base < 2; base++) {
        /* base 0: appraised affirming; base 1: appraised with PRoT unmatched */
        vmesh_rv_store *s0 = make_store(f, base == 0 ? CH_NONE : CH_WITHDRAWN);
        vmesh_appraisal a0;

        appraise(f, s0, &a0);
        assert_true(a0.journal.len > 0);
        assert_true(a0.journal.len <= VMESH_RV_JOURNAL_MAX);
        assert_int_equal(a0.status, base == 0 ? VMESH_TIER_AFFIRMING : VMESH_TIER_WARNING);
        for (int ch = 0; ch < CH__COUNT; ch++) {
            vmesh_rv_store *s = make_store(f, ch);
            vmesh_appraisal a;
            bool same = false, tv_same;
            char why[300];

            appraise(f, s, &a);
            tv_same = memcmp(&a.tv, &a0.tv, sizeof(a.tv)) == 0;
            assert_int_equal(vmesh_rv_journal_replay(a0.journal.data, a0.journal.len, s, &same, why, sizeof(why)),
                             VMESH_OK);
            /* sound always: "same" means the same vector; exact (iff) for
             * the affirming appraisal. Under base 1 a change may move the
             * first unmatched component (another reason, the same vector):
             * the replay says "changed" then, which only costs a
             * re-attestation. */
            if ((same && !tv_same) || (base == 0 && same != tv_same))
                fail_msg("base %d, change \"%s\": replay says %s, the full appraisal's vector is %s (%s)", base,
                         change_name[ch], same ? "same" : "changed", tv_same ? "the same" : "different", why);
            if (base == 0 && same != expect_same[ch])
                fail_msg("change \"%s\": replay says %s", change_name[ch], same ? "same" : "changed");
            if (!same) {
                /* the reason names the answer and the snapshot */
                assert_non_null(strstr(why, "RVP fleet epoch"));
            }
            if (base == 0 && ch == CH_WITHDRAWN)
                assert_non_null(strstr(why, "component PRoT (717171"));
            if (base == 0 && ch == CH_IAK_GONE)
                assert_non_null(strstr(why, "no longer endorsed"));
            vmesh_appraisal_free(&a);
            vmesh_rv_store_free(s);
        }
        vmesh_appraisal_free(&a0);
        vmesh_rv_store_free(s0);
    }
}

/* The AR cache hands an entry with a journal back under another RV
 * generation (for replay), never as a hit; one without is dropped. */
static void cache_other_generation(void **state)
{
    vmesh_ar_cache *c = NULL;
    vmesh_ar_entry e, out;
    uint8_t key[32] = {1}, key2[32] = {2};

    (void)state;
    assert_int_equal(vmesh_ar_cache_new(64, &c), VMESH_OK);
    memset(&e, 0, sizeof(e));
    e.journal_len = 3;
    memcpy(e.journal, "\x83\x01\x80", 3);
    vmesh_ar_cache_put(c, key, 10, 0, &e);
    assert_int_equal(vmesh_ar_cache_lookup(c, key, 10, 0, &out), VMESH_AR_HIT);
    assert_int_equal(vmesh_ar_cache_lookup(c, key, 11, 0, &out), VMESH_AR_OTHER_RV);
    assert_int_equal(out.journal_len, 3);
    assert_false(vmesh_ar_cache_get(c, key, 11, 0, &out));
    assert_int_equal(vmesh_ar_cache_lookup(c, key, 11, 1, &out), VMESH_AR_MISS); /* another tick: gone */
    assert_int_equal(vmesh_ar_cache_lookup(c, key, 10, 0, &out), VMESH_AR_MISS);
    e.journal_len = 0;
    vmesh_ar_cache_put(c, key2, 10, 0, &e);
    assert_int_equal(vmesh_ar_cache_lookup(c, key2, 11, 0, &out), VMESH_AR_MISS);
    assert_int_equal(vmesh_ar_cache_lookup(c, key2, 10, 0, &out), VMESH_AR_MISS);
    vmesh_ar_cache_free(c);
}

/* A journal that is not exactly what this build writes never says "same":
 * under a store where the IAK was withdrawn, every truncation and every
 * single-bit change of a real journal either fails to parse or replays as
 * "changed"; past the caps it fails. */
static void tampered_journals(void **state)
{
    fixture *f = *state;
    vmesh_rv_store *s0 = make_store(f, CH_NONE), *gone = make_store(f, CH_IAK_GONE);
    vmesh_appraisal a0;
    bool same;
    char why[300];
    uint8_t buf[VMESH_RV_JOURNAL_MAX + 8];
    size_t n;

    appraise(f, s0, &a0);
    n = a0.journal.len;
    memcpy(buf, a0.journal.data, n);
    for (size_t cut = 0; cut < n; cut++) {
        same = true;
        assert_int_not_equal(vmesh_rv_journal_replay(buf, cut, s0, &same, why, sizeof(why)), VMESH_OK);
        assert_false(same);
    }
    /* flipping a byte: never "same" under a store where an answer changed */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            vmesh_err rc;
            buf[i] ^= (uint8_t)(1u << bit);
            same = true;
            rc = vmesh_rv_journal_replay(buf, n, gone, &same, why, sizeof(why));
            if (same)
                fail_msg("byte %zu bit %d flipped: replay says same (rc %d)", i, bit, (int)rc);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* trailing bytes, an unknown version, past the size cap */
    buf[n] = 0;
    assert_int_equal(vmesh_rv_journal_replay(buf, n + 1, s0, &same, why, sizeof(why)), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_rv_journal_replay((const uint8_t *)"\x83\x02\x80\x80", 4, s0, &same, why, sizeof(why)),
                     VMESH_ERR_PARSE);
    assert_int_equal(vmesh_rv_journal_replay((const uint8_t *)"\x83\x01\x80\x80", 4, s0, &same, why, sizeof(why)),
                     VMESH_OK);
    assert_true(same); /* an empty journal: the appraisal asked nothing */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(vmesh_rv_journal_replay(buf, VMESH_RV_JOURNAL_MAX + 1, s0, &same, why, sizeof(why)),
                     VMESH_ERR_PARSE);
    assert_false(same);
    vmesh_appraisal_free(&a0);
    vmesh_rv_store_free(s0);
    vmesh_rv_store_free(gone);
}

/* A journal that read something it cannot ask again is not produced; one
 * past its caps neither. */
static void spoiled_and_capped(void **state)
{
    vmesh_rv_journal *j = NULL, *prev;
    vmesh_rv_store *s = NULL;
    vmesh_buf out = {0};
    static const uint8_t cls[4] = {1, 2, 3, 4};

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    vmesh_rv_store_freeze(s);
    assert_int_equal(vmesh_rv_journal_new(&j), VMESH_OK);
    prev = vmesh_rv_journal_record(j);
    (void)vmesh_rv_has_class(s, "psa", cls, 4);
    (void)vmesh_rv_store_size(s);
    vmesh_rv_journal_record(prev);
    assert_int_equal(vmesh_rv_journal_encode(j, &out), VMESH_ERR_STATE);
    assert_int_equal(out.len, 0);
    vmesh_rv_journal_free(j);

    assert_int_equal(vmesh_rv_journal_new(&j), VMESH_OK);
    prev = vmesh_rv_journal_record(j);
    for (int i = 0; i < VMESH_RV_JOURNAL_MAX_RECORDS + 1; i++)
        (void)vmesh_rv_has_class(s, "psa", cls, 4);
    vmesh_rv_journal_record(prev);
    assert_int_equal(vmesh_rv_journal_encode(j, &out), VMESH_ERR_TOO_LARGE);
    vmesh_rv_journal_free(j);

    /* nothing is recorded on a thread that does not record */
    assert_int_equal(vmesh_rv_journal_new(&j), VMESH_OK);
    (void)vmesh_rv_has_class(s, "psa", cls, 4);
    assert_int_equal(vmesh_rv_journal_encode(j, &out), VMESH_OK);
    assert_memory_equal(out.data, "\x83\x01\x80\x80", 4);
    vmesh_rv_journal_free(j);
    vmesh_buf_free(&out);
    vmesh_rv_store_free(s);
}

/* ---- tpm2: the journal is sound (list answers) -------------------------- */

#define TPM_CLASS "test-class"

typedef struct {
    vmesh_key *ak, *ak_pub, *other_pub;
    vmesh_buf spki, ev;
    vmesh_tpm2_pcr pcrs[8];
    uint8_t nonce[32];
    vmesh_verifier *v;
} tfix;

static void tpm_setup(tfix *f)
{
    vmesh_tpm2_quote q;
    vmesh_buf att = {0}, rs = {0}, sigb = {0};
    vmesh_tpm2_signature sig;
    vmesh_tpm2_evidence ev;
    vmesh_key *other = NULL;
    vmesh_verifier_config vc;

    memset(f, 0, sizeof(*f));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    f->ak_pub = public_of(f->ak);
    f->other_pub = public_of(other);
    vmesh_crypto_key_free(other);
    assert_int_equal(vmesh_crypto_key_to_spki(f->ak, &f->spki), VMESH_OK);
    for (int i = 0; i < 8; i++) {
        f->pcrs[i].alg = VMESH_TPM2_ALG_SHA256;
        f->pcrs[i].index = (uint8_t)i;
        memset(f->pcrs[i].digest, 0x10 + i, 32);
        f->pcrs[i].digest_len = 32;
    }
    memset(f->nonce, 0xab, sizeof(f->nonce));
    memset(&q, 0, sizeof(q));
    q.magic = VMESH_TPM2_GENERATED_VALUE;
    q.type = VMESH_TPM2_ST_ATTEST_QUOTE;
    q.signer_name_len = 34;
    memset(q.signer_name, 0x0b, 34);
    memcpy(q.extra_data, f->nonce, 32);
    q.extra_data_len = 32;
    q.clock = 1234;
    q.safe = 1;
    q.firmware_version = 0x2019102300163636ull;
    q.nsel = 1;
    q.sel[0].hash = VMESH_TPM2_ALG_SHA256;
    q.sel[0].size = 3;
    q.sel[0].select[0] = 0xff;
    assert_int_equal(vmesh_tpm2_pcr_digest(q.sel, 1, f->pcrs, 8, q.pcr_digest), VMESH_OK);
    q.pcr_digest_len = 32;
    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &att), VMESH_OK);
    assert_int_equal(vmesh_crypto_sign(f->ak, att.data, att.len, &rs), VMESH_OK);
    memset(&sig, 0, sizeof(sig));
    sig.sig_alg = VMESH_TPM2_ALG_ECDSA;
    sig.hash_alg = VMESH_TPM2_ALG_SHA256;
    memcpy(sig.r, rs.data, 32);
    sig.r_len = 32;
    memcpy(sig.s, rs.data + 32, 32);
    sig.s_len = 32;
    assert_int_equal(vmesh_tpm2_signature_marshal(&sig, &sigb), VMESH_OK);
    memset(&ev, 0, sizeof(ev));
    ev.attest = att.data;
    ev.attest_len = att.len;
    ev.signature = sigb.data;
    ev.signature_len = sigb.len;
    ev.pcrs = f->pcrs;
    ev.npcrs = 8;
    ev.ak_spki = f->spki.data;
    ev.ak_spki_len = f->spki.len;
    ev.class_id = (const uint8_t *)TPM_CLASS;
    ev.class_id_len = strlen(TPM_CLASS);
    assert_int_equal(vmesh_tpm2_evidence_encode(&ev, &f->ev), VMESH_OK);
    vmesh_buf_free(&att);
    vmesh_buf_free(&rs);
    vmesh_buf_free(&sigb);
    memset(&vc, 0, sizeof(vc));
    assert_int_equal(vmesh_verifier_new(&vc, &f->v), VMESH_OK);
}

static void tpm_teardown(tfix *f)
{
    vmesh_crypto_key_free(f->ak);
    vmesh_crypto_key_free(f->ak_pub);
    vmesh_crypto_key_free(f->other_pub);
    vmesh_buf_free(&f->spki);
    vmesh_buf_free(&f->ev);
    vmesh_verifier_free(f->v);
}

enum {
    TC_NONE, TC_UNRELATED, TC_KEY_ADDED, TC_ALT_DIGEST, TC_PCR_GONE, TC_AK_GONE, TC_FW_OTHER, TC_FW_SAME,
    TC_CLOCK, TC_STALE, TC__COUNT
};

static vmesh_rv_store *tpm_store(tfix *f, int ch)
{
    vmesh_rv_store *s = NULL;
    vmesh_rv_env env = {"tpm2", (const uint8_t *)TPM_CLASS, strlen(TPM_CLASS), NULL, 0};
    vmesh_rv_env other = {"tpm2", (const uint8_t *)"another-class", 13, NULL, 0};
    uint8_t iid[32], alt[32];

    memset(alt, 0xee, sizeof(alt));
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_set_epoch(s, "fleet", (uint64_t)ch + 1), VMESH_OK);
    for (int i = 0; i < 8; i++) {
        char name[8];
        vmesh_rv_measurement m = {0};
        snprintf(name, sizeof(name), "pcr%d", i);
        m.name = name;
        m.digest_alg = VMESH_HASH_SHA256;
        m.digest = f->pcrs[i].digest;
        m.digest_len = 32;
        if (!(i == 3 && ch == TC_PCR_GONE))
            assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_OK);
        if (i == 0 && ch == TC_ALT_DIGEST) {
            m.digest = alt;
            assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_OK);
        }
        if (i == 0 && ch == TC_UNRELATED)
            assert_int_equal(vmesh_rv_add_measurement(s, &other, &m), VMESH_OK);
    }
    if (ch == TC_FW_OTHER)
        assert_int_equal(vmesh_rv_add_attr(s, &env, "firmware-version", "0x0000000000000001"), VMESH_OK);
    if (ch == TC_FW_SAME)
        assert_int_equal(vmesh_rv_add_attr(s, &env, "firmware-version", "0x2019102300163636"), VMESH_OK);
    if (ch == TC_CLOCK)
        assert_int_equal(vmesh_rv_add_attr(s, &env, "clock-safe", "required"), VMESH_OK);
    vmesh_tpm2_instance_id(f->spki.data, f->spki.len, iid);
    env.instance_id = iid;
    env.instance_id_len = sizeof(iid);
    if (ch != TC_AK_GONE)
        assert_int_equal(vmesh_rv_add_key(s, &env, f->ak_pub), VMESH_OK);
    if (ch == TC_KEY_ADDED)
        assert_int_equal(vmesh_rv_add_key(s, &env, f->other_pub), VMESH_OK);
    if (ch == TC_STALE)
        assert_int_equal(vmesh_rv_store_set_stale(s, true), VMESH_OK);
    vmesh_rv_store_freeze(s);
    return s;
}

static void tpm_appraise(tfix *f, vmesh_rv_store *s, vmesh_appraisal *a)
{
    vmesh_verifier_request req;

    memset(&req, 0, sizeof(req));
    req.evidence = f->ev.data;
    req.evidence_len = f->ev.len;
    req.media_type = VMESH_TPM2_MEDIA_TYPE;
    req.nonce = f->nonce;
    req.nonce_len = 32;
    req.rv = s;
    req.now = 1000;
    vmesh_appraisal_init(a);
    assert_int_equal(vmesh_verifier_appraise(f->v, &req, a, NULL, NULL), VMESH_OK);
}

/* Sound for tpm2: "same" only with the same vector. Its PCR and attribute
 * answers are lists, so an alternative digest for a PCR is a "changed"
 * with the same vector (a false cut, asserted here so that a change of
 * that trade-off is seen); the key answer is semantic. */
static void sound_for_tpm2(void **state)
{
    static const int expect_same[TC__COUNT] = {[TC_NONE] = 1, [TC_UNRELATED] = 1, [TC_KEY_ADDED] = 1};
    tfix f;
    vmesh_rv_store *s0;
    vmesh_appraisal a0;

    (void)state;
    tpm_setup(&f);
    s0 = tpm_store(&f, TC_NONE);
    tpm_appraise(&f, s0, &a0);
    assert_int_equal(a0.status, VMESH_TIER_AFFIRMING);
    assert_true(a0.journal.len > 0);
    for (int ch = 0; ch < TC__COUNT; ch++) {
        vmesh_rv_store *s = tpm_store(&f, ch);
        vmesh_appraisal a;
        bool same = false, tv_same;
        char why[300];

        tpm_appraise(&f, s, &a);
        tv_same = memcmp(&a.tv, &a0.tv, sizeof(a.tv)) == 0;
        assert_int_equal(vmesh_rv_journal_replay(a0.journal.data, a0.journal.len, s, &same, why, sizeof(why)),
                         VMESH_OK);
        if (same && !tv_same)
            fail_msg("tpm2 change %d: replay says same, the vector differs", ch);
        if (same != (expect_same[ch] == 1))
            fail_msg("tpm2 change %d: replay says %s (%s)", ch, same ? "same" : "changed", why);
        if (ch == TC_ALT_DIGEST)
            assert_true(tv_same); /* the false cut of a list answer */
        vmesh_appraisal_free(&a);
        vmesh_rv_store_free(s);
    }
    vmesh_appraisal_free(&a0);
    vmesh_rv_store_free(s0);
    tpm_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exact_for_psa, setup, teardown),
        cmocka_unit_test(cache_other_generation),
        cmocka_unit_test_setup_teardown(tampered_journals, setup, teardown),
        cmocka_unit_test(spoiled_and_capped),
        cmocka_unit_test(sound_for_tpm2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
