/* Unit tests for the psa scheme: psa-sim attester and appraisal against an
 * RV store built here (trust-vector codes as Veraison's psa-iot sets them). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmesh/psa.h"

typedef struct {
    vmesh_key *iak;
    vmesh_psa_claims c;
    vmesh_rv_store *rv;
    vmesh_buf tok;
} fixture;

static void make_claims(vmesh_psa_claims *c, const vmesh_key *iak, uint16_t lifecycle)
{
    const char *types[] = {"BL", "PRoT"};

    vmesh_psa_claims_init(c);
    c->profile = VMESH_PSA_PROFILE_TFM;
    c->client_id = 1;
    c->client_id_present = true;
    c->security_lifecycle = lifecycle;
    c->security_lifecycle_present = true;
    memcpy(c->implementation_id, "vmesh-test-implementation-id-001", 32);
    c->implementation_id_len = 32;
    assert_int_equal(vmesh_psa_instance_id_from_key(iak, c->instance_id), VMESH_OK);
    c->instance_id_len = 33;
    memset(c->nonce, 0x5a, 32);
    c->nonce_len = 32;
    for (int i = 0; i < 2; i++) {
        vmesh_psa_sw_component *sc;
        assert_int_equal(vmesh_psa_claims_add_sw(c, &sc), VMESH_OK);
        sc->measurement_type = strdup(types[i]);
        memset(sc->measurement_value, 0x70 + i, 32);
        sc->measurement_value_len = 32;
        memset(sc->signer_id, 0x80, 32);
        sc->signer_id_len = 32;
        sc->version = strdup("1.2.3");
    }
}

/* RV store with the IAK and a reference value for every component. */
static vmesh_rv_store *make_rv(const vmesh_psa_claims *c, vmesh_key *iak, bool with_rvs)
{
    vmesh_rv_store *s = NULL;
    vmesh_rv_env env = {"psa", c->implementation_id, 32, c->instance_id, 33};
    vmesh_rv_env cls = {"psa", c->implementation_id, 32, NULL, 0};

    vmesh_buf spki = {0};
    vmesh_key *pub = NULL;

    /* the store holds public keys only */
    assert_int_equal(vmesh_crypto_key_to_spki(iak, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    vmesh_buf_free(&spki);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_add_key(s, &env, pub), VMESH_OK);
    vmesh_crypto_key_free(pub);
    for (size_t i = 0; with_rvs && i < c->sw_count; i++) {
        vmesh_rv_measurement m = {
            .name = c->sw[i].measurement_type,
            .version = i == 0 ? c->sw[i].version : NULL,
            .signer_id = i == 1 ? c->sw[i].signer_id : NULL,
            .signer_id_len = i == 1 ? 32 : 0,
            .digest_alg = VMESH_HASH_SHA256,
            .digest = c->sw[i].measurement_value,
            .digest_len = 32,
        };
        assert_int_equal(vmesh_rv_add_measurement(s, &cls, &m), VMESH_OK);
    }
    vmesh_rv_store_freeze(s);
    return s;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->iak), VMESH_OK);
    make_claims(&f->c, f->iak, 0x3000);
    f->rv = make_rv(&f->c, f->iak, true);
    assert_int_equal(vmesh_psa_token_sign(&f->c, f->iak, &f->tok), VMESH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vmesh_crypto_key_free(f->iak);
    vmesh_psa_claims_free(&f->c);
    vmesh_rv_store_free(f->rv);
    vmesh_buf_free(&f->tok);
    free(f);
    return 0;
}

static vmesh_err appraise(const vmesh_buf *tok, const vmesh_rv_store *rv, const uint8_t *nonce, size_t nlen,
                          vmesh_appraisal *a)
{
    vmesh_appraisal_in in = {
        .evidence = tok->data,
        .evidence_len = tok->len,
        .media_type = vmesh_scheme_psa.media_types[0],
        .nonce = nonce,
        .nonce_len = nlen,
        .rv = rv,
        .now = 0,
    };

    vmesh_appraisal_init(a);
    return vmesh_scheme_psa.appraise(&in, a);
}

static void affirming(void **state)
{
    fixture *f = *state;
    vmesh_appraisal a;

    assert_int_equal(appraise(&f->tok, f->rv, f->c.nonce, 32, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_STORAGE_OPAQUE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 0);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_string_equal(a.reason, "");
    assert_int_equal(a.nonce.len, 32);
    assert_memory_equal(a.nonce.data, f->c.nonce, 32);
    assert_memory_equal(a.class_id.data, f->c.implementation_id, 32);
    assert_memory_equal(a.instance_id.data, f->c.instance_id, 33);
    assert_non_null(strstr((char *)a.claims_json.data, "\"eat-profile\":\"tag:psacertified.org,2023:psa#tfm\""));
    assert_non_null(strstr((char *)a.claims_json.data, "\"measurement-type\":\"PRoT\""));
    vmesh_appraisal_free(&a);

    /* without an expected nonce (the caller checks it) it is affirming too */
    assert_int_equal(appraise(&f->tok, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
}

static void flipped_payload_byte(void **state)
{
    fixture *f = *state;
    vmesh_appraisal a;
    vmesh_buf t = {0};
    uint8_t *p;

    assert_int_equal(vmesh_buf_set(&t, f->tok.data, f->tok.len), VMESH_OK);
    p = memmem(t.data, t.len, f->c.sw[0].measurement_value, 32);
    assert_non_null(p);
    p[7] ^= 0x01;
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        assert_int_equal(a.tv.v[i], 99);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_string_equal(a.reason, "PSA token signature does not verify with the endorsed IAK");
    /* the claims are still reported (annotated evidence) */
    assert_true(a.claims_json.len > 0);
    vmesh_appraisal_free(&a);

    /* a flip in the signature too */
    memcpy(t.data, f->tok.data, t.len);
    t.data[t.len - 3] ^= 0x40;
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_int_not_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    vmesh_buf_free(&t);
}

static void wrong_key_endorsed(void **state)
{
    fixture *f = *state;
    vmesh_key *other = NULL;
    vmesh_rv_store *rv;
    vmesh_appraisal a;

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    rv = make_rv(&f->c, other, true);
    assert_int_equal(appraise(&f->tok, rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_string_equal(a.reason, "PSA token signature does not verify with the endorsed IAK");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_crypto_key_free(other);
}

static void wrong_nonce(void **state)
{
    fixture *f = *state;
    vmesh_appraisal a;
    uint8_t n[32];

    memset(n, 0x5b, sizeof(n));
    assert_int_equal(appraise(&f->tok, f->rv, n, sizeof(n), &a), VMESH_OK);
    assert_int_not_equal(a.status, VMESH_TIER_AFFIRMING);
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        assert_int_equal(a.tv.v[i], 99);
    assert_string_equal(a.reason, "evidence nonce does not match the expected nonce");
    vmesh_appraisal_free(&a);
    /* same prefix, other length */
    assert_int_equal(appraise(&f->tok, f->rv, f->c.nonce, 31, &a), VMESH_OK);
    assert_int_not_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
}

static void unknown_implementation_id(void **state)
{
    fixture *f = *state;
    vmesh_appraisal a;
    vmesh_psa_claims c;
    vmesh_buf t = {0};

    vmesh_psa_claims_init(&c);
    assert_int_equal(vmesh_psa_claims_copy(&c, &f->c), VMESH_OK);
    memset(c.implementation_id, 'x', 32);
    assert_int_equal(vmesh_psa_token_sign(&c, f->iak, &t), VMESH_OK);
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_not_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 99);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_non_null(strstr(a.reason, "no trust anchor for implementation-id eHh4eHh4"));
    assert_non_null(strstr(a.reason, " instance-id A"));
    vmesh_appraisal_free(&a);

    /* no store at all: the same */
    assert_int_equal(appraise(&f->tok, NULL, NULL, 0, &a), VMESH_OK);
    assert_non_null(strstr(a.reason, "no trust anchor"));
    vmesh_appraisal_free(&a);
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&t);
}

static void unmatched_measurement(void **state)
{
    fixture *f = *state;
    vmesh_appraisal a;
    vmesh_psa_claims c;
    vmesh_buf t = {0};
    vmesh_rv_store *rv;

    vmesh_psa_claims_init(&c);
    assert_int_equal(vmesh_psa_claims_copy(&c, &f->c), VMESH_OK);
    c.sw[1].measurement_value[0] ^= 0xff;
    assert_int_equal(vmesh_psa_token_sign(&c, f->iak, &t), VMESH_OK);
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    assert_non_null(strstr(a.reason, "software component 1 (PRoT"));
    vmesh_appraisal_free(&a);

    /* the RV pins the version of BL: another version does not match */
    c.sw[1].measurement_value[0] ^= 0xff;
    free(c.sw[0].version);
    c.sw[0].version = strdup("9.9.9");
    vmesh_buf_reset(&t);
    assert_int_equal(vmesh_psa_token_sign(&c, f->iak, &t), VMESH_OK);
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_non_null(strstr(a.reason, "software component 0 (BL"));
    vmesh_appraisal_free(&a);

    /* the signer id is not compared (as in Veraison's psa-iot) */
    free(c.sw[0].version);
    c.sw[0].version = strdup("1.2.3");
    c.sw[1].signer_id[3] ^= 1;
    vmesh_buf_reset(&t);
    assert_int_equal(vmesh_psa_token_sign(&c, f->iak, &t), VMESH_OK);
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
    vmesh_appraisal_free(&a);

    /* an RV without a name matches by digest alone; a named one needs the type */
    free(c.sw[1].measurement_type);
    c.sw[1].measurement_type = strdup("ARoT");
    vmesh_buf_reset(&t);
    assert_int_equal(vmesh_psa_token_sign(&c, f->iak, &t), VMESH_OK);
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_non_null(strstr(a.reason, "software component 1 (ARoT"));
    vmesh_appraisal_free(&a);

    /* a class with no reference values at all: 33 too */
    rv = make_rv(&f->c, f->iak, false);
    assert_int_equal(appraise(&f->tok, rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_non_null(strstr(a.reason, "no reference values for implementation-id"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&t);
}

static void lifecycle_states(void **state)
{
    fixture *f = *state;
    static const struct {
        uint16_t lc;
        int8_t want;
    } cases[] = {
        {0x3000, 2}, {0x30ff, 2}, {0x4000, 2}, {0x2000, 96}, {0x5000, 96}, {0x6000, 96}, {0x0000, 96}, {0x1000, 96},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmesh_psa_claims c;
        vmesh_buf t = {0};
        vmesh_appraisal a;

        vmesh_psa_claims_init(&c);
        assert_int_equal(vmesh_psa_claims_copy(&c, &f->c), VMESH_OK);
        c.security_lifecycle = cases[i].lc;
        assert_int_equal(vmesh_psa_token_sign(&c, f->iak, &t), VMESH_OK);
        assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
        assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], cases[i].want);
        assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], cases[i].want);
        assert_int_equal(a.tv.v[VMESH_TV_STORAGE_OPAQUE], cases[i].want);
        assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
        assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
        if (cases[i].want == 96) {
            assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
            assert_non_null(strstr(a.reason, "security lifecycle"));
        }
        vmesh_appraisal_free(&a);
        vmesh_psa_claims_free(&c);
        vmesh_buf_free(&t);
    }
}

static void malformed_is_an_error(void **state)
{
    fixture *f = *state;
    vmesh_appraisal a;
    vmesh_buf t = {0};
    vmesh_appraisal_in in = {0};

    assert_int_equal(vmesh_buf_set(&t, f->tok.data, f->tok.len - 1), VMESH_OK);
    assert_int_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_ERR_PARSE);
    vmesh_appraisal_free(&a);
    vmesh_buf_reset(&t);
    assert_int_equal(vmesh_buf_set(&t, "\xd2\x84\x40\xa0\x41\xa0\x40", 7), VMESH_OK);
    assert_int_not_equal(appraise(&t, f->rv, NULL, 0, &a), VMESH_OK);
    vmesh_appraisal_free(&a);
    /* a media type of another scheme */
    in.evidence = f->tok.data;
    in.evidence_len = f->tok.len;
    in.media_type = "application/vnd.amd.sev-snp.attestation-report";
    vmesh_appraisal_init(&a);
    assert_int_equal(vmesh_scheme_psa.appraise(&in, &a), VMESH_ERR_UNSUPPORTED);
    for (size_t i = 0; vmesh_scheme_psa.media_types[i]; i++) {
        in.media_type = vmesh_scheme_psa.media_types[i];
        assert_int_equal(vmesh_scheme_psa.appraise(&in, &a), VMESH_OK);
        vmesh_appraisal_free(&a);
        vmesh_appraisal_init(&a);
    }
    vmesh_appraisal_free(&a);
    vmesh_buf_free(&t);
}

/* The Veraison vector appraised with its IAK and its own measurements as
 * reference values. */
static void veraison_vector_affirming(void **state)
{
    const char *v = getenv("VMESH_VECTORS");
    char path[1024];
    vmesh_buf tok = {0};
    vmesh_key *iak = NULL;
    vmesh_psa_claims c;
    vmesh_rv_store *rv;
    vmesh_appraisal a;

    (void)state;
    if (v == NULL || v[0] == '\0')
        skip();
    snprintf(path, sizeof(path), "%s/psa/psa.good.cose", v);
    if (vmesh_file_read(path, 0, &tok) != VMESH_OK)
        skip();
    snprintf(path, sizeof(path), "%s/psa/iak.ec.p256.jwk", v);
    assert_int_equal(vmesh_crypto_key_load(path, &iak), VMESH_OK);
    vmesh_psa_claims_init(&c);
    assert_int_equal(vmesh_psa_token_decode(tok.data, tok.len, NULL, &c), VMESH_OK);
    rv = make_rv(&c, iak, true);
    assert_int_equal(appraise(&tok, rv, c.nonce, c.nonce_len, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_psa_claims_free(&c);
    vmesh_crypto_key_free(iak);
    vmesh_buf_free(&tok);
}

/* ---- psa-sim attester --------------------------------------------------- */

static void write_file(const char *path, const char *s)
{
    assert_int_equal(vmesh_file_write(path, s, strlen(s), 0600), VMESH_OK);
}

static void psa_sim_attester(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/vmesh-psa-XXXXXX";
    char key[256], claims[256], fw[256], bad[256], meas1[300], meas2[300];
    void *ctx = NULL;
    vmesh_buf ev = {0};
    vmesh_psa_claims c;
    vmesh_cose_sign1 *m = NULL;
    uint8_t nonce[48], h[32], iid[33];

    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/iak.pem", dir);
    snprintf(claims, sizeof(claims), "%s/claims.json", dir);
    snprintf(fw, sizeof(fw), "%s/fw.bin", dir);
    snprintf(bad, sizeof(bad), "%s/bad.json", dir);
    assert_int_equal(vmesh_crypto_key_save(f->iak, key, true, false), VMESH_OK);
    write_file(claims, "{\"psa-client-id\": 7, \"psa-security-lifecycle\": 12288,\n"
                       " \"psa-implementation-id\": \"dm1lc2gtdGVzdC1pbXBsZW1lbnRhdGlvbi1pZC0wMDE=\",\n"
                       " \"psa-software-components\": [{\"measurement-type\": \"BL\",\n"
                       "   \"measurement-value\": \"cHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHA=\",\n"
                       "   \"signer-id\": \"gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIA=\", \"version\": \"1.2.3\"}]}");
    write_file(fw, "firmware image");
    write_file(bad, "{\"psa-client-id\": 7,\n  \"psa-nonce\": ]");
    snprintf(meas1, sizeof(meas1), "BL=%s", fw);
    snprintf(meas2, sizeof(meas2), "NEW=%s", fw);
    {
        vmesh_kv cfg[] = {{"iak", key}, {"claims", claims}, {"measure", meas1}, {"measure", meas2}};
        assert_int_equal(vmesh_scheme_psa.attester_new(cfg, 4, &ctx), VMESH_OK);
    }
    memset(nonce, 0x42, sizeof(nonce));
    assert_int_equal(vmesh_scheme_psa.attest(ctx, nonce, sizeof(nonce), &ev), VMESH_OK);
    vmesh_psa_claims_init(&c);
    assert_int_equal(vmesh_psa_token_decode(ev.data, ev.len, &m, &c), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, f->iak), VMESH_OK);
    assert_int_equal(c.profile, VMESH_PSA_PROFILE_TFM);
    assert_int_equal(c.client_id, 7);
    assert_int_equal(c.nonce_len, 48);
    assert_memory_equal(c.nonce, nonce, 48);
    vmesh_crypto_sha256((const uint8_t *)"firmware image", 14, h);
    assert_int_equal(c.sw_count, 2);
    assert_memory_equal(c.sw[0].measurement_value, h, 32); /* replaced */
    assert_string_equal(c.sw[1].measurement_type, "NEW");  /* appended */
    assert_memory_equal(c.sw[1].measurement_value, h, 32);
    assert_string_equal(c.sw[1].measurement_desc, "sha-256");
    assert_int_equal(vmesh_psa_instance_id_from_key(f->iak, iid), VMESH_OK);
    assert_memory_equal(c.instance_id, iid, 33); /* derived */
    /* bad nonce length */
    vmesh_buf_reset(&ev);
    assert_int_equal(vmesh_scheme_psa.attest(ctx, nonce, 20, &ev), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "20 bytes"));
    /* no nonce and none in the template */
    assert_int_equal(vmesh_scheme_psa.attest(ctx, NULL, 0, &ev), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "psa-nonce"));
    vmesh_scheme_psa.attester_free(ctx);
    ctx = NULL;

    /* configuration errors name the problem */
    {
        vmesh_kv c1[] = {{"iak", key}, {"claims", bad}};
        vmesh_kv c2[] = {{"iak", "/nonexistent/iak.pem"}, {"claims", claims}};
        vmesh_kv c3[] = {{"iak", key}, {"claims", claims}, {"measure", "BL"}};
        vmesh_kv c4[] = {{"iak", key}, {"claims", claims}, {"colour", "red"}};
        vmesh_kv c5[] = {{"iak", key}};
        assert_int_equal(vmesh_scheme_psa.attester_new(c1, 2, &ctx), VMESH_ERR_PARSE);
        assert_non_null(strstr(vmesh_err_detail(), "line 2 column"));
        assert_int_equal(vmesh_scheme_psa.attester_new(c2, 2, &ctx), VMESH_ERR_IO);
        assert_non_null(strstr(vmesh_err_detail(), "reading IAK /nonexistent/iak.pem"));
        assert_int_equal(vmesh_scheme_psa.attester_new(c3, 3, &ctx), VMESH_ERR_ARG);
        assert_non_null(strstr(vmesh_err_detail(), "NAME=FILE"));
        assert_int_equal(vmesh_scheme_psa.attester_new(c4, 3, &ctx), VMESH_ERR_ARG);
        assert_non_null(strstr(vmesh_err_detail(), "colour"));
        assert_int_equal(vmesh_scheme_psa.attester_new(c5, 1, &ctx), VMESH_ERR_ARG);
        assert_null(ctx);
    }
    vmesh_cose_sign1_free(m);
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&ev);
    unlink(key);
    unlink(claims);
    unlink(fw);
    unlink(bad);
    rmdir(dir);
}

/* Enrolment from the attester's own configuration: the platform it
 * describes is affirming against what it enrols, through an RV JSON round
 * trip; once the measured file changes it no longer is; the store holds
 * the public IAK only. */
static void reference_values_enrolment(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/vmesh-psa-rv-XXXXXX";
    char key[256], claims[256], noimpl[256], fw[256], meas[300];
    void *ctx = NULL;
    vmesh_rv_store *rv = NULL, *back = NULL;
    vmesh_buf ev = {0}, json = {0}, hook = {0};
    vmesh_appraisal a;
    uint8_t nonce[32];
    vmesh_key *keys[2];

    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/iak.pem", dir);
    snprintf(claims, sizeof(claims), "%s/claims.json", dir);
    snprintf(noimpl, sizeof(noimpl), "%s/noimpl.json", dir);
    snprintf(fw, sizeof(fw), "%s/fw.bin", dir);
    snprintf(meas, sizeof(meas), "workload=%s", fw);
    assert_int_equal(vmesh_crypto_key_save(f->iak, key, true, false), VMESH_OK);
    write_file(claims, "{\"psa-client-id\": 7, \"psa-security-lifecycle\": 12288,\n"
                       " \"psa-implementation-id\": \"dm1lc2gtdGVzdC1pbXBsZW1lbnRhdGlvbi1pZC0wMDE=\",\n"
                       " \"psa-software-components\": [{\"measurement-type\": \"BL\",\n"
                       "   \"measurement-value\": \"cHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHA=\",\n"
                       "   \"signer-id\": \"gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIA=\", \"version\": \"1.2.3\"}]}");
    write_file(noimpl, "{\"psa-client-id\": 7, \"psa-security-lifecycle\": 12288}");
    write_file(fw, "workload v1");
    memset(nonce, 0x42, sizeof(nonce));
    {
        vmesh_kv cfg[] = {{"iak", key}, {"claims", claims}, {"measure", meas}};
        vmesh_kv bad[] = {{"iak", key}, {"claims", noimpl}};

        assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
        assert_int_equal(vmesh_psa_reference_values(cfg, 3, rv), VMESH_OK);
        assert_int_equal(vmesh_rv_store_size(rv), 3); /* BL, workload, the IAK */
        assert_int_equal(vmesh_psa_reference_values(bad, 2, rv), VMESH_ERR_PARSE);
        assert_non_null(strstr(vmesh_err_detail(), "implementation-id"));
        assert_int_equal(vmesh_rv_store_size(rv), 3);
        /* what an RVP would publish, read back */
        assert_int_equal(vmesh_rv_store_to_json(rv, &json), VMESH_OK);
        assert_null(strstr((const char *)json.data, "PRIVATE"));
        assert_int_equal(vmesh_rv_store_new(&back), VMESH_OK);
        assert_int_equal(vmesh_rv_load_json(back, json.data, json.len, "enrolled"), VMESH_OK);
        /* the scheme's hook (vmesh attest psa-sim --reference-values) writes the same */
        assert_int_equal(vmesh_scheme_psa.reference_values(cfg, 3, &hook), VMESH_OK);
        assert_int_equal(hook.len, json.len);
        assert_memory_equal(hook.data, json.data, json.len);
        vmesh_rv_store_freeze(back);
        assert_int_equal(vmesh_rv_find_keys(back, "psa", f->c.implementation_id, 32, f->c.instance_id, 33, keys, 2), 1);
        assert_false(vmesh_crypto_key_is_private(keys[0]));

        assert_int_equal(vmesh_scheme_psa.attester_new(cfg, 3, &ctx), VMESH_OK);
        assert_int_equal(vmesh_scheme_psa.attest(ctx, nonce, 32, &ev), VMESH_OK);
        vmesh_scheme_psa.attester_free(ctx);
        assert_int_equal(appraise(&ev, back, nonce, 32, &a), VMESH_OK);
        assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
        assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
        assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
        vmesh_appraisal_free(&a);

        /* the platform changes after enrolment: no longer recognised */
        write_file(fw, "workload v2");
        vmesh_buf_reset(&ev);
        assert_int_equal(vmesh_scheme_psa.attester_new(cfg, 3, &ctx), VMESH_OK);
        assert_int_equal(vmesh_scheme_psa.attest(ctx, nonce, 32, &ev), VMESH_OK);
        vmesh_scheme_psa.attester_free(ctx);
        assert_int_equal(appraise(&ev, back, nonce, 32, &a), VMESH_OK);
        assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
        assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
        vmesh_appraisal_free(&a);
    }
    vmesh_rv_store_free(rv);
    vmesh_rv_store_free(back);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&json);
    vmesh_buf_free(&hook);
    unlink(key);
    unlink(claims);
    unlink(noimpl);
    unlink(fw);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(affirming, setup, teardown),
        cmocka_unit_test_setup_teardown(flipped_payload_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_key_endorsed, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_implementation_id, setup, teardown),
        cmocka_unit_test_setup_teardown(unmatched_measurement, setup, teardown),
        cmocka_unit_test_setup_teardown(lifecycle_states, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_is_an_error, setup, teardown),
        cmocka_unit_test(veraison_vector_affirming),
        cmocka_unit_test_setup_teardown(psa_sim_attester, setup, teardown),
        cmocka_unit_test_setup_teardown(reference_values_enrolment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
