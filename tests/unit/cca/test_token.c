/* Unit tests for the cca token codec: the shared Veraison vector decodes to
 * the claims of its JSON, both collection formats, sign/decode round trip,
 * binding, COSE_Key and raw RAKs, and the errors of malformed input (each
 * asserted by code and message). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include "cca_test_util.h"

static void read_vec(const char *name, vmesh_buf *out)
{
    char path[1024];

    if (vec_path(name, path, sizeof(path)) == NULL)
        skip();
    assert_int_equal(vmesh_file_read(path, 0, out), VMESH_OK);
}

static void test_vector_decodes_to_its_json(void **state)
{
    (void)state;
    vmesh_buf tok = {0}, js = {0}, mine = {0};
    vmesh_cca_token *t = NULL;
    json_t *want, *got;
    const vmesh_cca_claims *c;

    read_vec("cca-good.cbor", &tok);
    read_vec("cca-good.json", &js);
    assert_int_equal(vmesh_cca_token_decode(tok.data, tok.len, &t), VMESH_OK);
    assert_int_equal(vmesh_cca_token_format(t), 399);
    c = vmesh_cca_token_claims(t);
    assert_int_equal(c->platform.profile, VMESH_CCA_PLATFORM_PROFILE_SSD);
    assert_int_equal(c->realm.profile, VMESH_CCA_REALM_PROFILE_2023);
    assert_int_equal(c->platform.lifecycle, 0x3000);
    assert_int_equal(c->platform.sw_count, 4);
    assert_int_equal(c->realm.rak_len, 107);
    assert_int_equal(c->realm.rem_count, 4);
    assert_int_equal(vmesh_cca_claims_to_json(c, false, &mine), VMESH_OK);
    want = json_loadb((const char *)js.data, js.len, 0, NULL);
    got = json_loadb((const char *)mine.data, mine.len, 0, NULL);
    assert_non_null(want);
    assert_non_null(got);
    /* the vector's JSON predates the realm profile claim its CBOR carries */
    assert_string_equal(json_string_value(json_object_get(json_object_get(got, "cca-realm-delegated-token"),
                                                          "cca-realm-profile")),
                        VMESH_CCA_REALM_PROFILE_NAME);
    json_object_del(json_object_get(got, "cca-realm-delegated-token"), "cca-realm-profile");
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    vmesh_cca_token_free(t);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&js);
    vmesh_buf_free(&mine);
}

static void test_vector_verifies_and_rak_is_the_jwk(void **state)
{
    (void)state;
    vmesh_buf tok = {0}, jwk = {0};
    vmesh_cca_token *t = NULL;
    vmesh_key *cpak = NULL, *rak_jwk = NULL, *rak = NULL, *other = NULL;
    char path[1024];

    read_vec("cca-good.cbor", &tok);
    assert_non_null(vec_path("cpak.ec.p256.jwk", path, sizeof(path)));
    assert_int_equal(vmesh_crypto_key_load(path, &cpak), VMESH_OK);
    assert_non_null(vec_path("rak.ec.p384.jwk", path, sizeof(path)));
    assert_int_equal(vmesh_crypto_key_load(path, &rak_jwk), VMESH_OK);
    assert_int_equal(vmesh_cca_token_decode(tok.data, tok.len, &t), VMESH_OK);
    assert_int_equal(vmesh_cca_realm_key(&vmesh_cca_token_claims(t)->realm, &rak), VMESH_OK);
    assert_true(vmesh_crypto_key_equal(rak, rak_jwk));
    assert_int_equal(vmesh_cca_token_verify(t, cpak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    assert_int_equal(vmesh_cca_token_verify(t, other), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "platform token signature"));
    vmesh_cca_token_free(t);
    vmesh_crypto_key_free(cpak);
    vmesh_crypto_key_free(rak_jwk);
    vmesh_crypto_key_free(rak);
    vmesh_crypto_key_free(other);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&jwk);
}

/* Rewraps the vector's two tokens as a CMW collection (tag 907). */
static void test_vector_as_cmw_collection(void **state)
{
    (void)state;
    vmesh_buf tok = {0}, cmw = {0};
    vmesh_cca_token *t = NULL, *t2 = NULL;
    /* d9018f a2 19acca 59 0273 <627 bytes> 19acd1 59 02ee <750 bytes> */
    read_vec("cca-good.cbor", &tok);
    assert_int_equal(tok.len, 10 + 627 + 6 + 750);
    assert_int_equal(vmesh_cca_collection_encode(907, tok.data + 10, 627, tok.data + 10 + 627 + 6, 750, &cmw),
                     VMESH_OK);
    assert_int_equal(vmesh_cca_token_decode(cmw.data, cmw.len, &t2), VMESH_OK);
    assert_int_equal(vmesh_cca_token_format(t2), 907);
    assert_int_equal(vmesh_cca_token_decode(tok.data, tok.len, &t), VMESH_OK);
    assert_memory_equal(vmesh_cca_token_claims(t)->realm.rim, vmesh_cca_token_claims(t2)->realm.rim, 64);
    vmesh_cca_token_free(t);
    vmesh_cca_token_free(t2);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&cmw);
}

static void sign_generated(vmesh_cca_realm_profile prof, vmesh_key_type rak_type, const char *hash,
                           size_t want_challenge)
{
    vmesh_key *cpak = NULL, *rak = NULL, *rak2 = NULL;
    vmesh_cca_claims c;
    vmesh_buf tok = {0};
    vmesh_cca_token *t = NULL;
    const vmesh_cca_claims *d;

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &cpak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(rak_type, &rak), VMESH_OK);
    make_claims(&c, cpak, 0x3000);
    c.realm.profile = prof;
    free(c.realm.rak_hash_algo);
    c.realm.rak_hash_algo = strdup(hash);
    assert_int_equal(vmesh_cca_token_sign(&c, cpak, rak, &tok), VMESH_OK);
    assert_int_equal(tok.data[0], 0xd9);
    assert_int_equal(vmesh_cca_token_decode(tok.data, tok.len, &t), VMESH_OK);
    d = vmesh_cca_token_claims(t);
    assert_int_equal(d->platform.challenge_len, want_challenge);
    assert_int_equal(d->realm.profile, prof);
    assert_int_equal(d->realm.rak_len, prof == VMESH_CCA_REALM_PROFILE_LEGACY ? 97 : c.realm.rak_len);
    assert_memory_equal(d->realm.challenge, c.realm.challenge, 64);
    assert_string_equal(d->platform.sw[1].measurement_type, "M1");
    assert_int_equal(vmesh_cca_realm_key(&d->realm, &rak2), VMESH_OK);
    assert_true(vmesh_crypto_key_equal(rak, rak2));
    assert_int_equal(vmesh_cca_token_verify(t, cpak), VMESH_OK);
    vmesh_cca_token_free(t);
    vmesh_cca_claims_free(&c);
    vmesh_crypto_key_free(cpak);
    vmesh_crypto_key_free(rak);
    vmesh_crypto_key_free(rak2);
    vmesh_buf_free(&tok);
}

static void test_sign_roundtrip_variants(void **state)
{
    (void)state;
    sign_generated(VMESH_CCA_REALM_PROFILE_2023, VMESH_KEY_EC_P384, "sha-256", 32);
    sign_generated(VMESH_CCA_REALM_PROFILE_2023, VMESH_KEY_EC_P256, "sha-512", 64);
    sign_generated(VMESH_CCA_REALM_PROFILE_LEGACY, VMESH_KEY_EC_P384, "sha-384", 48);
}

static void test_legacy_needs_p384(void **state)
{
    (void)state;
    vmesh_key *cpak = NULL, *rak = NULL;
    vmesh_cca_claims c;
    vmesh_buf tok = {0};

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &cpak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &rak), VMESH_OK);
    make_claims(&c, cpak, 0x3000);
    c.realm.profile = VMESH_CCA_REALM_PROFILE_LEGACY;
    assert_int_equal(vmesh_cca_token_sign(&c, cpak, rak, &tok), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "raw P-384 RAK"));
    vmesh_cca_claims_free(&c);
    vmesh_crypto_key_free(cpak);
    vmesh_crypto_key_free(rak);
    vmesh_buf_free(&tok);
}

static void expect_decode(const uint8_t *p, size_t n, vmesh_err code, const char *msg)
{
    vmesh_cca_token *t = NULL;

    assert_int_equal(vmesh_cca_token_decode(p, n, &t), code);
    assert_null(t);
    if (strstr(vmesh_err_detail(), msg) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", vmesh_err_detail(), msg);
}

static void test_collection_errors(void **state)
{
    (void)state;
    static const uint8_t wrong_tag[] = {0xd8, 0x18, 0xa0};
    static const uint8_t no_realm[] = {0xd9, 0x01, 0x8f, 0xa2, 0x19, 0xac, 0xca, 0x41, 0x00, 0x19, 0xac, 0xca, 0x41, 0x00};
    static const uint8_t one[] = {0xd9, 0x01, 0x8f, 0xa1, 0x19, 0xac, 0xca, 0x41, 0x00};
    static const uint8_t other_key[] = {0xd9, 0x01, 0x8f, 0xa2, 0x19, 0xac, 0xca, 0x41, 0x00, 0x01, 0x41, 0x00};
    static const uint8_t indef[] = {0xd9, 0x01, 0x8f, 0xbf, 0xff};
    static const uint8_t huge[] = {0xd9, 0x01, 0x8f, 0xa2, 0x19, 0xac, 0xca, 0x5b, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bad_tokens[] = {0xd9, 0x01, 0x8f, 0xa2, 0x19, 0xac, 0xca, 0x41, 0x00, 0x19, 0xac, 0xd1, 0x41, 0x00};
    uint8_t trailing[sizeof(bad_tokens) + 1];

    expect_decode(wrong_tag, sizeof(wrong_tag), VMESH_ERR_PARSE, "expected CBOR tag 399");
    expect_decode(no_realm, sizeof(no_realm), VMESH_ERR_PARSE, "two platform tokens");
    expect_decode(one, sizeof(one), VMESH_ERR_PARSE, "has 1 entries");
    expect_decode(other_key, sizeof(other_key), VMESH_ERR_PARSE, "unknown entry at offset 9");
    expect_decode(indef, sizeof(indef), VMESH_ERR_PARSE, "indefinite-length");
    expect_decode(huge, sizeof(huge), VMESH_ERR_PARSE, "truncated");
    expect_decode(bad_tokens, sizeof(bad_tokens), VMESH_ERR_PARSE, "CCA platform token");
    memcpy(trailing, bad_tokens, sizeof(bad_tokens));
    trailing[sizeof(bad_tokens)] = 0;
    expect_decode(trailing, sizeof(trailing), VMESH_ERR_PARSE, "1 trailing bytes after the collection");
    expect_decode(NULL, 0, VMESH_ERR_PARSE, "empty input");
}

static void test_claims_errors(void **state)
{
    (void)state;
    vmesh_key *cpak = NULL;
    vmesh_cca_claims c;
    vmesh_buf b = {0};
    vmesh_cca_realm_claims r;
    vmesh_cca_platform_claims p;

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &cpak), VMESH_OK);
    make_claims(&c, cpak, 0x3000);
    c.realm.rak_len = 97;
    c.realm.rak[0] = 4;
    c.platform.challenge_len = 32;
    /* realm: 3 REMs */
    c.realm.rem_count = 3;
    assert_int_equal(vmesh_cca_realm_encode(&c.realm, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "has 3 entries, expected exactly 4"));
    c.realm.rem_count = 4;
    c.realm.challenge_len = 32;
    assert_int_equal(vmesh_cca_realm_encode(&c.realm, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "challenge (key 10) is 32 bytes, expected 64"));
    c.realm.challenge_len = 64;
    assert_int_equal(vmesh_cca_realm_encode(&c.realm, &b), VMESH_OK);
    /* decode what we encoded, then a copy with an unknown claim appended is still fine */
    memset(&r, 0, sizeof(r));
    assert_int_equal(vmesh_cca_realm_decode(b.data, b.len, &r), VMESH_OK);
    assert_int_equal(r.profile, VMESH_CCA_REALM_PROFILE_2023);
    free(r.hash_algo);
    free(r.rak_hash_algo);
    vmesh_buf_reset(&b);
    /* platform */
    c.platform.instance_id[0] = 2;
    assert_int_equal(vmesh_cca_platform_encode(&c.platform, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "starting with 0x02"));
    c.platform.instance_id[0] = 1;
    c.platform.lifecycle = 0x7000;
    assert_int_equal(vmesh_cca_platform_encode(&c.platform, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "0x7000 is in no lifecycle state range"));
    c.platform.lifecycle = 0x3000;
    c.platform.sw[0].signer_id_len = 0;
    assert_int_equal(vmesh_cca_platform_encode(&c.platform, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "software component 0: signer-id (key 5) is missing"));
    c.platform.sw[0].signer_id_len = 32;
    assert_int_equal(vmesh_cca_platform_encode(&c.platform, &b), VMESH_OK);
    memset(&p, 0, sizeof(p));
    /* a duplicated key: the map claims one more entry, repeating the last pair */
    {
        vmesh_buf d = {0};
        uint8_t cnt = b.data[0];

        assert_int_equal(cnt, 0xa9); /* 9 claims */
        assert_int_equal(vmesh_buf_append_u8(&d, 0xaa), VMESH_OK);
        assert_int_equal(vmesh_buf_append(&d, b.data + 1, b.len - 1), VMESH_OK);
        /* hash algo id 2402 "sha-256" again */
        assert_int_equal(vmesh_buf_append(&d, "\x19\x09\x62\x67sha-256", 11), VMESH_OK);
        assert_int_equal(vmesh_cca_platform_decode(d.data, d.len, &p), VMESH_ERR_PARSE);
        assert_non_null(strstr(vmesh_err_detail(), "claim key 2402 appears twice"));
        vmesh_buf_free(&d);
    }
    assert_int_equal(vmesh_cca_platform_decode(b.data, b.len - 1, &p), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "truncated"));
    assert_int_equal(vmesh_cca_platform_decode(b.data, b.len, &p), VMESH_OK);
    assert_int_equal(p.sw_count, 2);
    {
        vmesh_cca_claims tmp;
        vmesh_cca_claims_init(&tmp);
        tmp.platform = p;
        vmesh_cca_claims_free(&tmp);
    }
    vmesh_cca_claims_free(&c);
    vmesh_crypto_key_free(cpak);
    vmesh_buf_free(&b);
}

static void test_json_template_errors(void **state)
{
    (void)state;
    vmesh_cca_claims c;
    const char *bad_key = "{\"cca-platform-token\": {\"cca-platform-lifecyle\": 12288}}";
    const char *bad_rems = "{\"cca-realm-delegated-token\": {\"cca-realm-extensible-measurements\": [\"AA==\",\"AA==\",\"AA==\",\"AA==\",\"AA==\"]}}";
    const char *bad_prof = "{\"cca-platform-token\": {\"cca-platform-profile\": \"http://arm.com/psa/2.0.0\"}}";
    const char *ok = "{\"cca-platform-token\": {\"cca-platform-lifecycle\": 16384, \"cca-platform-config\": \"\"}}";

    vmesh_cca_claims_init(&c);
    assert_int_equal(vmesh_cca_claims_from_json(bad_key, strlen(bad_key), &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "unknown key \"cca-platform-lifecyle\""));
    assert_int_equal(vmesh_cca_claims_from_json(bad_rems, strlen(bad_rems), &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "array of 4"));
    assert_int_equal(vmesh_cca_claims_from_json(bad_prof, strlen(bad_prof), &c), VMESH_ERR_UNSUPPORTED);
    assert_int_equal(vmesh_cca_claims_from_json("[1", 2, &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "line 1"));
    assert_int_equal(vmesh_cca_claims_from_json(ok, strlen(ok), &c), VMESH_OK);
    assert_int_equal(c.platform.profile, VMESH_CCA_PLATFORM_PROFILE_2023);
    assert_true(c.platform.config_present);
    assert_int_equal(c.platform.config_len, 0);
    assert_int_equal(c.platform.lifecycle, 0x4000);
    vmesh_cca_claims_free(&c);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(vmesh_cca_lifecycle_name(0x3000), "secured");
    assert_string_equal(vmesh_cca_lifecycle_name(0x40ff), "non-cca-platform-rot-debug");
    assert_string_equal(vmesh_cca_lifecycle_name(0x5001), "recoverable-cca-platform-rot-debug");
    assert_null(vmesh_cca_lifecycle_name(0x3100));
    assert_null(vmesh_cca_lifecycle_name(0x7000));
    assert_string_equal(vmesh_cca_platform_profile_name(VMESH_CCA_PLATFORM_PROFILE_SSD), "http://arm.com/CCA-SSD/1.0.0");
    assert_null(vmesh_cca_platform_profile_name(VMESH_CCA_PLATFORM_PROFILE_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_decodes_to_its_json),
        cmocka_unit_test(test_vector_verifies_and_rak_is_the_jwk),
        cmocka_unit_test(test_vector_as_cmw_collection),
        cmocka_unit_test(test_sign_roundtrip_variants),
        cmocka_unit_test(test_legacy_needs_p384),
        cmocka_unit_test(test_collection_errors),
        cmocka_unit_test(test_claims_errors),
        cmocka_unit_test(test_json_template_errors),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
