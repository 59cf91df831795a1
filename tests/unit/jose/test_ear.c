/* Unit tests for EAR (EAT Attestation Results as JWT): build, sign, verify,
 * accessors, the validity window, and Veraison's published claim sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/jose.h"

#define IAT 1700000000 /* 2023-11-14T22:13:20Z */
#define EXP (IAT + 3600)

static vmesh_key *gen(vmesh_key_type t)
{
    vmesh_key *k = NULL;

    assert_int_equal(vmesh_crypto_key_generate(t, &k), VMESH_OK);
    return k;
}

/* A complete EAR as the verifier builds one. */
static vmesh_ear *build(const vmesh_key *ak)
{
    vmesh_ear *e = NULL;
    vmesh_tv tv = {{0}};
    vmesh_buf spki = {0};
    uint8_t nonce[32];

    for (size_t i = 0; i < sizeof(nonce); i++)
        nonce[i] = (uint8_t)i;
    tv.v[VMESH_TV_INSTANCE_IDENTITY] = VMESH_AR_TRUSTWORTHY_INSTANCE;
    tv.v[VMESH_TV_EXECUTABLES] = VMESH_AR_APPROVED_RUNTIME;
    tv.v[VMESH_TV_HARDWARE] = VMESH_AR_GENUINE_HARDWARE;
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);
    assert_int_equal(vmesh_ear_new(&e), VMESH_OK);
    assert_int_equal(vmesh_ear_set_iat(e, IAT), VMESH_OK);
    assert_int_equal(vmesh_ear_set_exp(e, EXP), VMESH_OK);
    assert_int_equal(vmesh_ear_set_verifier_id(e, "https://vmesh.example", "vmesh 0.1.0"),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_set_nonce(e, nonce, sizeof(nonce)), VMESH_OK);
    assert_int_equal(vmesh_ear_add_rv_epoch(e, "rvp-a", 7), VMESH_OK);
    assert_int_equal(vmesh_ear_add_rv_epoch(e, "rvp-b", 1234567890123ULL), VMESH_OK);
    assert_int_equal(vmesh_ear_add_submod(e, "psa", VMESH_TIER_AFFIRMING, &tv,
                                          "policy:psa/default", "{\"psa-nonce\":\"AAEC\"}",
                                          spki.data, spki.len),
                     VMESH_OK);
    vmesh_buf_free(&spki);
    return e;
}

static void build_sign_verify_accessors(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256), *ak = gen(VMESH_KEY_EC_P384), *ak2 = NULL;
    vmesh_ear *e = build(ak), *v = NULL;
    vmesh_buf jwt = {0}, b = {0}, spki = {0};
    vmesh_tv tv;
    uint64_t ep = 0;

    (void)state;
    assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, IAT + 10, &v), VMESH_OK);
    assert_string_equal(vmesh_ear_profile(v), "tag:github.com,2023:veraison/ear");
    assert_int_equal(vmesh_ear_iat(v), IAT);
    assert_int_equal(vmesh_ear_exp(v), EXP);
    assert_string_equal(vmesh_ear_verifier_developer(v), "https://vmesh.example");
    assert_string_equal(vmesh_ear_verifier_build(v), "vmesh 0.1.0");
    assert_int_equal(vmesh_ear_nonce(v, &b), VMESH_OK);
    assert_int_equal(b.len, 32);
    assert_int_equal(b.data[31], 31);
    assert_int_equal(vmesh_ear_status(v), VMESH_TIER_AFFIRMING);
    assert_int_equal(vmesh_ear_submod_count(v), 1);
    assert_string_equal(vmesh_ear_submod_name(v, 0), "psa");
    assert_null(vmesh_ear_submod_name(v, 1));
    assert_int_equal(vmesh_ear_submod_find(v, "psa"), 0);
    assert_int_equal(vmesh_ear_submod_find(v, "tpm"), -1);
    assert_int_equal(vmesh_ear_submod_status(v, 0), VMESH_TIER_AFFIRMING);
    vmesh_ear_submod_tv(v, 0, &tv);
    assert_int_equal(tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_int_equal(tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(tv.v[VMESH_TV_CONFIGURATION], 0);
    assert_string_equal(vmesh_ear_submod_policy_id(v, 0), "policy:psa/default");
    assert_int_equal(vmesh_ear_submod_akpub(v, 0, &b), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(b.data, b.len, &ak2), VMESH_OK);
    assert_true(vmesh_crypto_key_equal(ak, ak2));
    assert_int_equal(vmesh_ear_submod_evidence_json(v, 0, &b), VMESH_OK);
    assert_string_equal((const char *)b.data, "{\"psa-nonce\":\"AAEC\"}");
    assert_int_equal(vmesh_ear_rv_epoch_count(v), 2);
    assert_string_equal(vmesh_ear_rv_epoch_name(v, 0), "rvp-a");
    assert_string_equal(vmesh_ear_rv_epoch_name(v, 1), "rvp-b");
    assert_null(vmesh_ear_rv_epoch_name(v, 2));
    assert_int_equal(vmesh_ear_rv_epoch(v, "rvp-b", &ep), VMESH_OK);
    assert_true(ep == 1234567890123ULL);
    assert_int_equal(vmesh_ear_rv_epoch(v, "rvp-c", &ep), VMESH_ERR_NOT_FOUND);

    /* The claims, byte for byte, in insertion order and compact form. */
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);
    assert_int_equal(vmesh_ear_to_json(v, false, &b), VMESH_OK);
    assert_non_null(strstr((const char *)b.data,
                           "{\"eat_profile\":\"tag:github.com,2023:veraison/ear\",\"iat\":1700000000,"
                           "\"exp\":1700003600,\"ear.verifier-id\":{\"developer\":\"https://"
                           "vmesh.example\",\"build\":\"vmesh 0.1.0\"},\"eat_nonce\":"
                           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\",\"ear.vmesh.rv-epochs\":"
                           "{\"rvp-a\":7,\"rvp-b\":1234567890123},\"submods\":{\"psa\":{"
                           "\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{"
                           "\"instance-identity\":2,\"executables\":2,\"hardware\":2},"
                           "\"ear.appraisal-policy-id\":\"policy:psa/default\","
                           "\"ear.veraison.annotated-evidence\":{\"psa-nonce\":\"AAEC\"},"
                           "\"ear.veraison.key-attestation\":{\"akpub\":\""));
    /* Compact JWT payload carries the same claims. */
    assert_int_equal(vmesh_jose_jws_peek((const char *)jwt.data, jwt.len, &spki, NULL), VMESH_OK);
    assert_string_equal((const char *)spki.data, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}");

    vmesh_buf_free(&jwt);
    vmesh_buf_free(&b);
    vmesh_buf_free(&spki);
    vmesh_ear_free(e);
    vmesh_ear_free(v);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(ak);
    vmesh_crypto_key_free(ak2);
}

static void all_key_types_sign(void **state)
{
    static const vmesh_key_type types[] = {VMESH_KEY_EC_P256, VMESH_KEY_EC_P384,
                                           VMESH_KEY_ED25519};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        vmesh_key *k = gen(types[i]);
        vmesh_ear *e = build(k), *v = NULL;
        vmesh_buf jwt = {0};

        assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
        assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, IAT, &v), VMESH_OK);
        vmesh_ear_free(v);
        vmesh_ear_free(e);
        vmesh_buf_free(&jwt);
        vmesh_crypto_key_free(k);
    }
}

static void expired_and_not_yet_valid(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256);
    vmesh_ear *e = build(k), *v = NULL;
    vmesh_buf jwt = {0};

    (void)state;
    assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
    /* RFC 7519 §4.1.4: valid strictly before exp. */
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, EXP - 1, &v), VMESH_OK);
    vmesh_ear_free(v);
    v = NULL;
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, EXP, &v),
                     VMESH_ERR_EXPIRED);
    assert_null(v);
    assert_non_null(strstr(vmesh_err_detail(), "expired at 2023-11-14T23:13:20Z"));
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, EXP + 86400, &v),
                     VMESH_ERR_EXPIRED);
    /* Issued in the future beyond the leeway. */
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k,
                                      IAT - VMESH_EAR_IAT_LEEWAY, &v),
                     VMESH_OK);
    vmesh_ear_free(v);
    v = NULL;
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k,
                                      IAT - VMESH_EAR_IAT_LEEWAY - 1, &v),
                     VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "in the future"));
    /* exp removed: no expiry. */
    assert_int_equal(vmesh_ear_set_exp(e, 0), VMESH_OK);
    assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, EXP + 1000000, &v),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_exp(v), 0);
    vmesh_ear_free(v);
    vmesh_buf_free(&jwt);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(k);
}

/* Signs arbitrary claims with the JWS layer, then runs EAR verification. */
static vmesh_err verify_claims(const vmesh_key *k, const char *claims, int64_t now)
{
    vmesh_buf jwt = {0};
    vmesh_ear *v = NULL;
    vmesh_err rc;

    assert_int_equal(vmesh_jose_jws_sign(k, "JWT", NULL, (const uint8_t *)claims, strlen(claims),
                                         &jwt),
                     VMESH_OK);
    rc = vmesh_ear_verify((const char *)jwt.data, jwt.len, k, now, &v);
    if (rc == VMESH_OK)
        assert_non_null(v);
    else
        assert_null(v);
    vmesh_ear_free(v);
    vmesh_buf_free(&jwt);
    return rc;
}

#define P "\"eat_profile\":\"tag:github.com,2023:veraison/ear\","
#define VID "\"ear.verifier-id\":{\"developer\":\"d\",\"build\":\"b\"},"
#define SUB "\"submods\":{\"x\":{\"ear.status\":\"affirming\"}}"

static void claims_checked(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_ED25519);
    static const struct {
        const char *claims;
        vmesh_err want;
        const char *msg;
    } cases[] = {
        {"{" P "\"iat\":1," VID SUB "}", VMESH_OK, ""},
        {"{\"iat\":1," VID SUB "}", VMESH_ERR_PARSE, "no eat_profile"},
        {"{\"eat_profile\":\"tag:github.com,2022:veraison/ear\",\"iat\":1," VID SUB "}",
         VMESH_ERR_UNSUPPORTED, "2022:veraison/ear', expected"},
        {"{" P VID SUB "}", VMESH_ERR_PARSE, "no iat"},
        {"{" P "\"iat\":\"1\"," VID SUB "}", VMESH_ERR_PARSE, "iat is not"},
        {"{" P "\"iat\":1," SUB "}", VMESH_ERR_PARSE, "no ear.verifier-id"},
        {"{" P "\"iat\":1," VID "\"submods\":{}}", VMESH_ERR_PARSE, "submods is empty"},
        {"{" P "\"iat\":1," VID "\"x\":1}", VMESH_ERR_PARSE, "no submods"},
        {"{" P "\"iat\":1," VID "\"submods\":{\"x\":{}}}", VMESH_ERR_PARSE, "has no ear.status"},
        {"{" P "\"iat\":1," VID "\"submods\":{\"x\":{\"ear.status\":\"great\"}}}",
         VMESH_ERR_PARSE, "is not none, affirming"},
        {"{" P "\"iat\":1," VID "\"submods\":{\"x\":{\"ear.status\":32}}}", VMESH_OK, ""},
        {"{" P "\"iat\":1," VID "\"submods\":{\"x\":{\"ear.status\":\"affirming\","
         "\"ear.trustworthiness-vector\":{\"executables\":300}}}}",
         VMESH_ERR_PARSE, "executables is not an integer"},
        {"{" P "\"iat\":1," VID "\"submods\":{\"x\":{\"ear.status\":\"affirming\","
         "\"ear.veraison.key-attestation\":{\"akpub\":7}}}}",
         VMESH_ERR_PARSE, "akpub is not a string"},
        {"{" P "\"iat\":1,\"eat_nonce\":\"short\"," VID SUB "}", VMESH_ERR_PARSE,
         "eat_nonce is 5 characters"},
        {"{" P "\"iat\":1,\"exp\":\"soon\"," VID SUB "}", VMESH_ERR_PARSE, "exp is not"},
        {"{" P "\"iat\":1,\"exp\":1000," VID SUB "}", VMESH_ERR_EXPIRED,
         "expired at 1970-01-01T00:16:40Z"},
        {"{" P "\"iat\":1,\"nbf\":3000," VID SUB "}", VMESH_ERR_EXPIRED, "not valid before"},
        {"{" P "\"iat\":1,\"ear.vmesh.rv-epochs\":{\"a\":-1}," VID SUB "}", VMESH_ERR_PARSE,
         "rv-epochs.a"},
        {"[1,2,3]", VMESH_ERR_PARSE, "not a JSON object"},
        {"{" P "\"iat\":1," VID SUB ",\"iat\":2}", VMESH_ERR_PARSE, "not JSON"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmesh_err rc = verify_claims(k, cases[i].claims, 2000);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %s (%s)", i, vmesh_err_name(rc), vmesh_err_detail());
        if (cases[i].msg[0] != '\0' && strstr(vmesh_err_detail(), cases[i].msg) == NULL)
            fail_msg("case %zu: detail '%s' lacks '%s'", i, vmesh_err_detail(), cases[i].msg);
    }
    vmesh_crypto_key_free(k);
}

static void wrong_key_and_tamper(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256), *other = gen(VMESH_KEY_EC_P256);
    vmesh_ear *e = build(k), *v = NULL;
    vmesh_buf jwt = {0};

    (void)state;
    assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, other, IAT, &v),
                     VMESH_ERR_SIGNATURE);
    assert_null(v);
    jwt.data[jwt.len / 2] ^= 1;
    assert_int_not_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, IAT, &v), VMESH_OK);
    assert_null(v);
    vmesh_buf_free(&jwt);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
}

/* D51: an EAR authenticated by a TLS session's exported key. Same claims and
 * checks as a signed one; another key, the signature path, an expired EAR
 * and an EAR that fails the claim checks are refused; no EAR comes out. */
static void channel_bound_mac(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256);
    vmesh_ear *e = build(k), *v = NULL;
    vmesh_buf jwt = {0};
    uint8_t key[VMESH_JOSE_MAC_KEY_LEN], other[VMESH_JOSE_MAC_KEY_LEN];

    (void)state;
    memset(key, 0x5a, sizeof(key));
    memcpy(other, key, sizeof(other));
    other[0] ^= 0x80;
    assert_int_equal(vmesh_ear_mac(e, key, &jwt), VMESH_OK);
    assert_int_equal(vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, key, IAT, &v), VMESH_OK);
    assert_int_equal(vmesh_ear_status(v), VMESH_TIER_AFFIRMING);
    assert_string_equal(vmesh_ear_verifier_developer(v), "https://vmesh.example");
    vmesh_ear_free(v);
    v = NULL;
    assert_int_equal(vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, other, IAT, &v), VMESH_ERR_SIGNATURE);
    assert_null(v);
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, IAT, &v), VMESH_ERR_MISMATCH);
    assert_null(v);
    assert_int_equal(vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, key, EXP + 1, &v), VMESH_ERR_EXPIRED);
    assert_null(v);
    /* a signed EAR offered to the MAC path */
    assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
    assert_int_equal(vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, key, IAT, &v), VMESH_ERR_MISMATCH);
    assert_null(v);
    assert_int_equal(vmesh_ear_mac(e, NULL, &jwt), VMESH_ERR_ARG);
    vmesh_buf_free(&jwt);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(k);
}

static void submod_rules(void **state)
{
    vmesh_ear *e = NULL;
    vmesh_tv tv = {{0}};
    vmesh_buf b = {0};
    vmesh_key *k = gen(VMESH_KEY_EC_P256);

    (void)state;
    assert_int_equal(vmesh_ear_new(&e), VMESH_OK);
    /* No verifier id, no submods: not signed. */
    assert_int_equal(vmesh_ear_sign(e, k, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "EAR not signed"));
    assert_int_equal(vmesh_ear_set_verifier_id(e, "d", "b"), VMESH_OK);
    assert_int_equal(vmesh_ear_sign(e, k, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "no submods"));
    /* A status better than the vector is lowered to the vector's tier. */
    tv.v[VMESH_TV_EXECUTABLES] = VMESH_AR_UNRECOGNIZED_RUNTIME;
    tv.v[VMESH_TV_HARDWARE] = VMESH_AR_GENUINE_HARDWARE;
    assert_int_equal(vmesh_ear_add_submod(e, "tpm", VMESH_TIER_AFFIRMING, &tv, NULL, NULL, NULL, 0),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_submod_status(e, 0), VMESH_TIER_WARNING);
    assert_int_equal(vmesh_ear_add_submod(e, "tpm", VMESH_TIER_AFFIRMING, NULL, NULL, NULL, NULL,
                                          0),
                     VMESH_ERR_ARG);
    assert_int_equal(vmesh_ear_add_submod(e, "psa", (vmesh_tier)5, NULL, NULL, NULL, NULL, 0),
                     VMESH_ERR_ARG);
    assert_int_equal(vmesh_ear_add_submod(e, "psa", VMESH_TIER_AFFIRMING, NULL, NULL, "[1]", NULL,
                                          0),
                     VMESH_ERR_ARG);
    assert_int_equal(vmesh_ear_add_submod(e, "psa", VMESH_TIER_AFFIRMING, NULL, NULL, "{", NULL,
                                          0),
                     VMESH_ERR_PARSE);
    assert_int_equal(vmesh_ear_add_submod(e, "psa", VMESH_TIER_AFFIRMING, NULL, NULL, NULL, NULL,
                                          0),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_submod_akpub(e, 1, &b), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_ear_submod_evidence_json(e, 1, &b), VMESH_ERR_NOT_FOUND);
    assert_null(vmesh_ear_submod_policy_id(e, 1));
    /* Overall status: the worst submod. */
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_WARNING);
    assert_int_equal(vmesh_ear_add_submod(e, "bad", VMESH_TIER_CONTRAINDICATED, NULL, NULL, NULL,
                                          NULL, 0),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_CONTRAINDICATED);
    assert_int_equal(vmesh_ear_to_json(e, false, &b), VMESH_OK);
    assert_non_null(strstr((const char *)b.data,
                           "\"submods\":{\"tpm\":{\"ear.status\":\"warning\","
                           "\"ear.trustworthiness-vector\":{\"executables\":33,\"hardware\":2}},"
                           "\"psa\":{\"ear.status\":\"affirming\"},"
                           "\"bad\":{\"ear.status\":\"contraindicated\"}}"));
    assert_int_equal(vmesh_ear_sign(e, k, &b), VMESH_OK);
    /* Escaping: quotes, backslashes and control characters; UTF-8 and '/' as is. */
    assert_int_equal(vmesh_ear_add_submod(e, "esc", VMESH_TIER_NONE, NULL,
                                          "a\"b\\c\n\x01/\xc3\xa9", "{\"k\":[1,-2,true,null,\"\\t\"]}",
                                          NULL, 0),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_to_json(e, false, &b), VMESH_OK);
    assert_non_null(strstr((const char *)b.data,
                           "\"esc\":{\"ear.status\":\"none\",\"ear.appraisal-policy-id\":"
                           "\"a\\\"b\\\\c\\u000a\\u0001/\xc3\xa9\",\"ear.veraison.annotated-evidence\":"
                           "{\"k\":[1,-2,true,null,\"\\u0009\"]}}}}"));
    /* Nonce and epoch limits. */
    assert_int_equal(vmesh_ear_set_nonce(e, (const uint8_t *)"1234567", 7), VMESH_ERR_ARG);
    assert_int_equal(vmesh_ear_add_rv_epoch(e, "r", UINT64_MAX), VMESH_ERR_ARG);
    assert_int_equal(vmesh_ear_nonce(e, &b), VMESH_ERR_NOT_FOUND);
    vmesh_buf_free(&b);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(k);
}

static void big_ear_signs_off_the_stack(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256);
    vmesh_ear *e = NULL, *v = NULL;
    vmesh_buf jwt = {0}, ev = {0};
    char tmp[64];

    (void)state;
    assert_int_equal(vmesh_ear_new(&e), VMESH_OK);
    assert_int_equal(vmesh_ear_set_verifier_id(e, "d", "b"), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&ev, "{", 1), VMESH_OK);
    for (int i = 0; i < 500; i++) {
        int n = snprintf(tmp, sizeof(tmp), "%s\"claim-%d\":\"value-%d\"", i ? "," : "", i, i);
        assert_int_equal(vmesh_buf_append(&ev, tmp, (size_t)n), VMESH_OK);
    }
    assert_int_equal(vmesh_buf_append(&ev, "}", 1), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&ev), VMESH_OK);
    assert_int_equal(vmesh_ear_add_submod(e, "big", VMESH_TIER_AFFIRMING, NULL, NULL,
                                          (const char *)ev.data, NULL, 0),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_sign(e, k, &jwt), VMESH_OK);
    assert_true(jwt.len > 10000);
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, k, vmesh_time_now(), &v),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_submod_evidence_json(v, 0, &jwt), VMESH_OK);
    assert_string_equal((const char *)jwt.data, (const char *)ev.data);
    vmesh_ear_free(v);
    vmesh_ear_free(e);
    vmesh_buf_free(&jwt);
    vmesh_buf_free(&ev);
    vmesh_crypto_key_free(k);
}

static char *vector_path(const char *name, char *buf, size_t n)
{
    const char *dir = getenv("VMESH_VECTORS");

    if (dir == NULL)
        return NULL;
    snprintf(buf, n, "%s/ear/%s", dir, name);
    return buf;
}

static vmesh_ear *load_vector(const char *name)
{
    char path[1024];
    vmesh_buf b = {0};
    vmesh_ear *e = NULL;

    if (vector_path(name, path, sizeof(path)) == NULL ||
        vmesh_file_read(path, 0, &b) != VMESH_OK)
        return NULL;
    assert_int_equal(vmesh_ear_from_json((const char *)b.data, b.len, &e), VMESH_OK);
    vmesh_buf_free(&b);
    return e;
}

static void veraison_claim_sets(void **state)
{
    vmesh_ear *e = load_vector("ear-claims-tv-ok.json"), *ka, *plain, *v = NULL;
    vmesh_key *sk = NULL, *pk = NULL, *ak = NULL;
    vmesh_buf b = {0}, jwt = {0};
    char path[1024];
    vmesh_tv tv;

    (void)state;
    if (e == NULL)
        skip();
    assert_int_equal(vmesh_ear_iat(e), 1666091373);
    assert_string_equal(vmesh_ear_verifier_developer(e), "Acme Inc.");
    assert_string_equal(vmesh_ear_verifier_build(e), "rrtrap-v1.0.0");
    assert_int_equal(vmesh_ear_submod_find(e, "test"), 0);
    vmesh_ear_submod_tv(e, 0, &tv);
    assert_int_equal(tv.v[VMESH_TV_EXECUTABLES], 3);
    assert_int_equal(tv.v[VMESH_TV_SOURCED_DATA], 2);
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_AFFIRMING);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_AFFIRMING);
    assert_string_equal(vmesh_ear_submod_policy_id(e, 0),
                        "https://veraison.example/policy/1/60a0068d");
    /* Claims we do not model survive. */
    assert_int_equal(vmesh_ear_to_json(e, true, &b), VMESH_OK);
    assert_non_null(strstr((const char *)b.data, "\"ear.raw-evidence\": \"3q2-7w\""));

    ka = load_vector("ear-claims-key-attestation-ok.json");
    assert_non_null(ka);
    assert_int_equal(vmesh_ear_submod_find(ka, "PARSEC_TPM"), 0);
    assert_int_equal(vmesh_ear_submod_akpub(ka, 0, &b), VMESH_OK);
    assert_int_equal(b.len, 91); /* P-256 SubjectPublicKeyInfo */
    assert_int_equal(vmesh_crypto_key_from_spki(b.data, b.len, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_type(ak), VMESH_KEY_EC_P256);

    /* Sign with Veraison's key, verify with its public half. */
    plain = load_vector("ear-claims.json");
    assert_non_null(plain);
    assert_int_equal(vmesh_crypto_key_load(vector_path("skey.json", path, sizeof(path)), &sk),
                     VMESH_OK);
    assert_int_equal(vmesh_crypto_key_load(vector_path("pkey.json", path, sizeof(path)), &pk),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_sign(plain, sk, &jwt), VMESH_OK);
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, pk, 1700000000, &v),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_status(v), VMESH_TIER_AFFIRMING);
    vmesh_ear_free(v);
    vmesh_ear_free(e);
    vmesh_ear_free(ka);
    vmesh_ear_free(plain);
    vmesh_crypto_key_free(sk);
    vmesh_crypto_key_free(pk);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&b);
    vmesh_buf_free(&jwt);
}

static void unverified_parse_tolerates_anything(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256);
    vmesh_buf jwt = {0}, hdr = {0}, b = {0};
    vmesh_ear *e = NULL;
    vmesh_tv tv;
    static const char claims[] = "{\"submods\":{\"x\":{\"ear.status\":7,"
                                 "\"ear.trustworthiness-vector\":[1]}},\"iat\":\"x\"}";

    (void)state;
    assert_int_equal(vmesh_jose_jws_sign(k, "JWT", "kid1", (const uint8_t *)claims,
                                         strlen(claims), &jwt),
                     VMESH_OK);
    assert_int_equal(vmesh_ear_parse_unverified((const char *)jwt.data, jwt.len, &hdr, &e),
                     VMESH_OK);
    assert_string_equal((const char *)hdr.data, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"kid1\"}");
    assert_null(vmesh_ear_profile(e));
    assert_int_equal(vmesh_ear_iat(e), 0);
    assert_int_equal(vmesh_ear_submod_count(e), 1);
    assert_int_equal(vmesh_ear_submod_status(e, 0), VMESH_TIER_NONE);
    vmesh_ear_submod_tv(e, 0, &tv);
    assert_int_equal(tv.v[0], 0);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_NONE);
    assert_null(vmesh_ear_verifier_build(e));
    assert_int_equal(vmesh_ear_submod_akpub(e, 0, &b), VMESH_ERR_NOT_FOUND);
    vmesh_ear_free(e);
    vmesh_buf_free(&jwt);
    vmesh_buf_free(&hdr);
    vmesh_buf_free(&b);
    vmesh_crypto_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_sign_verify_accessors),
        cmocka_unit_test(all_key_types_sign),
        cmocka_unit_test(expired_and_not_yet_valid),
        cmocka_unit_test(claims_checked),
        cmocka_unit_test(wrong_key_and_tamper),
        cmocka_unit_test(channel_bound_mac),
        cmocka_unit_test(submod_rules),
        cmocka_unit_test(big_ear_signs_off_the_stack),
        cmocka_unit_test(veraison_claim_sets),
        cmocka_unit_test(unverified_parse_tolerates_anything),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
