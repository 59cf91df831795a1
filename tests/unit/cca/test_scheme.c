/* Unit tests for the cca scheme: appraisal of tokens built here with
 * generated CPAK and RAK (the cases the shared vector cannot show: broken
 * binding, wrong challenge, unknown CPAK, REM / RIM / RPV / software /
 * config mismatches, debug lifecycles), appraisal of the shared vector with
 * tampering and a wrong CPAK, and the cca-sim attester. Every case asserts
 * the exact trust-vector codes and a substring of the reason. Setting
 * VMESH_CCA_CORPUS_OUT=DIR writes the generated tokens there (fuzz seeds). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "cca_test_util.h"
#include "vmesh/cmw.h"

typedef struct {
    vmesh_key *cpak, *rak;
    vmesh_cca_claims c;
    vmesh_buf tok;
} fx;

static void fx_make(fx *f, uint16_t lifecycle)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->cpak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &f->rak), VMESH_OK);
    make_claims(&f->c, f->cpak, lifecycle);
    assert_int_equal(vmesh_cca_token_sign(&f->c, f->cpak, f->rak, &f->tok), VMESH_OK);
}

static void fx_free(fx *f)
{
    vmesh_crypto_key_free(f->cpak);
    vmesh_crypto_key_free(f->rak);
    vmesh_cca_claims_free(&f->c);
    vmesh_buf_free(&f->tok);
}

static void save_seed(const char *name, const vmesh_buf *b)
{
    const char *dir = getenv("VMESH_CCA_CORPUS_OUT");
    char path[1024];

    if (dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(vmesh_file_write(path, b->data, b->len, 0644), VMESH_OK);
}

static vmesh_err appraise(const vmesh_buf *tok, const vmesh_rv_store *rv, const uint8_t *nonce, size_t nlen,
                          vmesh_appraisal *a)
{
    vmesh_appraisal_in in = {tok->data, tok->len, VMESH_CCA_MEDIA_TYPE, nonce, nlen, rv, 0};

    vmesh_appraisal_init(a);
    return vmesh_scheme_cca.appraise(&in, a);
}

static void expect_tv(const vmesh_appraisal *a, int ii, int cfg, int ex, int hw, int ro, int so)
{
    assert_int_equal(a->tv.v[VMESH_TV_INSTANCE_IDENTITY], ii);
    assert_int_equal(a->tv.v[VMESH_TV_CONFIGURATION], cfg);
    assert_int_equal(a->tv.v[VMESH_TV_EXECUTABLES], ex);
    assert_int_equal(a->tv.v[VMESH_TV_HARDWARE], hw);
    assert_int_equal(a->tv.v[VMESH_TV_RUNTIME_OPAQUE], ro);
    assert_int_equal(a->tv.v[VMESH_TV_STORAGE_OPAQUE], so);
}

static void expect_all99(const vmesh_appraisal *a, const char *reason)
{
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        assert_int_equal(a->tv.v[i], 99);
    assert_int_equal(a->status, VMESH_TIER_CONTRAINDICATED);
    if (strstr(a->reason, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", a->reason, reason);
}

static void expect_reason(const vmesh_appraisal *a, const char *reason)
{
    if (strstr(a->reason, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", a->reason, reason);
}

static void test_good(void **state)
{
    (void)state;
    fx f;
    vmesh_rv_store *rv;
    vmesh_appraisal a;

    fx_make(&f, 0x3000);
    save_seed("generated-good.cbor", &f.tok);
    rv = make_rv(&f.c, f.cpak, RV_ALL);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    expect_tv(&a, 2, 2, 2, 2, 2, 2);
    assert_string_equal(a.reason, "");
    assert_int_equal(a.class_id.len, 32);
    assert_memory_equal(a.class_id.data, IMPL_ID, 32);
    assert_int_equal(a.instance_id.len, 33);
    /* the 32-byte nonce is reported without the RMM's zero padding */
    assert_int_equal(a.nonce.len, 32);
    assert_memory_equal(a.nonce.data, test_nonce, 32);
    assert_non_null(strstr((char *)a.claims_json.data, "\"cca-realm-initial-measurement\":\"Q0NDQ0"));
    vmesh_appraisal_free(&a);
    /* the same nonce given padded to 64 bytes is the same challenge */
    {
        uint8_t n64[64] = {0};
        memcpy(n64, test_nonce, 32);
        assert_int_equal(appraise(&f.tok, rv, n64, 64, &a), VMESH_OK);
        assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
        vmesh_appraisal_free(&a);
    }
    /* without an expected nonce the caller checks it: still affirming */
    assert_int_equal(appraise(&f.tok, rv, NULL, 0, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* a realm token without profile (raw P-384 RAK) appraises the same */
    vmesh_buf_reset(&f.tok);
    f.c.realm.profile = VMESH_CCA_REALM_PROFILE_LEGACY;
    assert_int_equal(vmesh_cca_token_sign(&f.c, f.cpak, f.rak, &f.tok), VMESH_OK);
    save_seed("generated-legacy-realm.cbor", &f.tok);
    rv = make_rv(&f.c, f.cpak, RV_ALL);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_null(strstr((char *)a.claims_json.data, "cca-realm-profile"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    fx_free(&f);
}

/* Realm token signed by the RAK, platform token signed by the CPAK, but the
 * platform challenge is not the hash of that RAK. */
static void test_bad_binding(void **state)
{
    (void)state;
    fx f;
    vmesh_buf enc = {0}, pay = {0}, pt = {0}, rt = {0}, tok = {0};
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    vmesh_cca_token *t = NULL;

    fx_make(&f, 0x3000);
    /* f.c now holds the RAK and the right binding: break the binding */
    f.c.platform.challenge[0] ^= 0x01;
    assert_int_equal(vmesh_cca_realm_encode(&f.c.realm, &pay), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_create(f.rak, pay.data, pay.len, NULL, &rt), VMESH_OK);
    vmesh_buf_reset(&pay);
    assert_int_equal(vmesh_cca_platform_encode(&f.c.platform, &pay), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_create(f.cpak, pay.data, pay.len, NULL, &pt), VMESH_OK);
    assert_int_equal(vmesh_cca_collection_encode(399, pt.data, pt.len, rt.data, rt.len, &tok), VMESH_OK);
    save_seed("generated-bad-binding.cbor", &tok);
    rv = make_rv(&f.c, f.cpak, RV_ALL);
    assert_int_equal(appraise(&tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_all99(&a, "binding: the platform challenge is not the sha-256 hash of the RAK");
    vmesh_appraisal_free(&a);
    assert_int_equal(vmesh_cca_token_decode(tok.data, tok.len, &t), VMESH_OK);
    assert_int_equal(vmesh_cca_token_verify(t, f.cpak), VMESH_ERR_MISMATCH);
    vmesh_cca_token_free(t);
    /* the realm token of another realm (another RAK) under this platform token */
    {
        vmesh_key *rak2 = NULL;
        vmesh_cca_claims c2;
        vmesh_buf tok2 = {0}, mixed = {0};
        vmesh_cca_token *t2 = NULL;

        assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &rak2), VMESH_OK);
        make_claims(&c2, f.cpak, 0x3000);
        assert_int_equal(vmesh_cca_token_sign(&c2, f.cpak, rak2, &tok2), VMESH_OK);
        assert_int_equal(vmesh_cca_token_decode(tok2.data, tok2.len, &t2), VMESH_OK);
        vmesh_cca_token_free(t2);
        /* platform token of f (binds f.rak), realm token of tok2 (rak2) */
        vmesh_buf_reset(&pay);
        vmesh_buf_reset(&pt);
        vmesh_buf_reset(&rt);
        f.c.platform.challenge[0] ^= 0x01; /* f's correct binding again */
        assert_int_equal(vmesh_cca_platform_encode(&f.c.platform, &pay), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_create(f.cpak, pay.data, pay.len, NULL, &pt), VMESH_OK);
        vmesh_buf_reset(&pay);
        assert_int_equal(vmesh_cca_rak_encode(rak2, VMESH_CCA_REALM_PROFILE_2023, &enc), VMESH_OK);
        memcpy(c2.realm.rak, enc.data, enc.len);
        c2.realm.rak_len = enc.len;
        assert_int_equal(vmesh_cca_realm_encode(&c2.realm, &pay), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_create(rak2, pay.data, pay.len, NULL, &rt), VMESH_OK);
        assert_int_equal(vmesh_cca_collection_encode(907, pt.data, pt.len, rt.data, rt.len, &mixed), VMESH_OK);
        save_seed("generated-cmw-mixed.cbor", &mixed);
        assert_int_equal(appraise(&mixed, rv, test_nonce, 32, &a), VMESH_OK);
        expect_all99(&a, "does not belong to this platform token");
        vmesh_appraisal_free(&a);
        vmesh_cca_claims_free(&c2);
        vmesh_crypto_key_free(rak2);
        vmesh_buf_free(&tok2);
        vmesh_buf_free(&mixed);
    }
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&enc);
    vmesh_buf_free(&pay);
    vmesh_buf_free(&pt);
    vmesh_buf_free(&rt);
    vmesh_buf_free(&tok);
    fx_free(&f);
}

static void test_wrong_challenge(void **state)
{
    (void)state;
    fx f;
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    uint8_t other[32], longer[65] = {0};

    fx_make(&f, 0x3000);
    rv = make_rv(&f.c, f.cpak, RV_ALL);
    memcpy(other, test_nonce, 32);
    other[31] ^= 1;
    assert_int_equal(appraise(&f.tok, rv, other, 32, &a), VMESH_OK);
    expect_all99(&a, "evidence nonce does not match the expected nonce");
    vmesh_appraisal_free(&a);
    /* a prefix of the nonce is not the nonce (zero padding differs) */
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 16, &a), VMESH_OK);
    expect_all99(&a, "zero-padded to 64 bytes");
    vmesh_appraisal_free(&a);
    memcpy(longer, test_nonce, 32);
    assert_int_equal(appraise(&f.tok, rv, longer, 65, &a), VMESH_OK);
    expect_all99(&a, "nonce does not match");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    fx_free(&f);
}

static void test_unknown_cpak(void **state)
{
    (void)state;
    fx f;
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    vmesh_key *other = NULL;

    fx_make(&f, 0x3000);
    /* no key at all for these ids */
    rv = make_rv(&f.c, NULL, RV_ALL);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_all99(&a, "no trust anchor (CPAK) for implementation-id dm1lc2gtY2NhLWltcGxlbWVudGF0aW9uLWlkLTAwMDE=");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* another key endorsed for the same ids */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    rv = make_rv(&f.c, other, RV_ALL);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_all99(&a, "platform token signature does not verify with the endorsed CPAK");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_crypto_key_free(other);
    fx_free(&f);
}

static void test_realm_reference_values(void **state)
{
    (void)state;
    fx f;
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    rv_opts o;

    fx_make(&f, 0x3000);
    /* REM 2 differs: boot approved only (Veraison: ApprovedBootClaim) */
    o = RV_ALL;
    o.rem_bad = true;
    rv = make_rv(&f.c, f.cpak, o);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_tv(&a, 2, 2, 3, 2, 2, 2);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* personalization value differs: contraindicated */
    o = RV_ALL;
    o.rpv_bad = true;
    rv = make_rv(&f.c, f.cpak, o);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_tv(&a, 2, 2, 96, 2, 2, 2);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    expect_reason(&a, "personalization value matches no \"rpv\"");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* no realm reference values (RIM unknown): unrecognized */
    o = RV_ALL;
    o.with_realm = false;
    rv = make_rv(&f.c, f.cpak, o);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_tv(&a, 2, 2, 33, 2, 2, 2);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    expect_reason(&a, "no \"rim\" reference value for the realm initial measurement 43434343");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    fx_free(&f);
}

static void test_platform_reference_values(void **state)
{
    (void)state;
    fx f;
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    rv_opts o;

    fx_make(&f, 0x3000);
    o = RV_ALL;
    o.with_platform = false;
    rv = make_rv(&f.c, f.cpak, o);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_tv(&a, 2, 32, 33, 2, 2, 2);
    expect_reason(&a, "no \"config\" reference value");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    o = RV_ALL;
    o.config_bad = true;
    rv = make_rv(&f.c, f.cpak, o);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_tv(&a, 2, 32, 2, 2, 2, 2);
    expect_reason(&a, "config (key 2401) matches no \"config\" reference value");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* a software component that changed */
    vmesh_buf_reset(&f.tok);
    rv = make_rv(&f.c, f.cpak, RV_ALL);
    f.c.platform.sw[1].measurement_value[0] ^= 0xff;
    assert_int_equal(vmesh_cca_token_sign(&f.c, f.cpak, f.rak, &f.tok), VMESH_OK);
    assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
    expect_tv(&a, 2, 2, 33, 2, 2, 2);
    expect_reason(&a, "platform software component 1 (M1, measurement 8e717171");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    fx_free(&f);
}

static void test_lifecycles(void **state)
{
    (void)state;
    static const struct {
        uint16_t lc;
        int ii, ro, so;
        vmesh_tier status;
    } cases[] = {
        {0x3000, 2, 2, 2, VMESH_TIER_AFFIRMING},
        {0x4001, 2, 2, 2, VMESH_TIER_AFFIRMING}, /* non-CCA-platform-RoT debug */
        {0x5000, 96, 96, 96, VMESH_TIER_CONTRAINDICATED}, /* recoverable CCA platform RoT debug */
        {0x2000, 96, 96, 96, VMESH_TIER_CONTRAINDICATED},
        {0x6000, 96, 96, 96, VMESH_TIER_CONTRAINDICATED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx f;
        vmesh_rv_store *rv;
        vmesh_appraisal a;

        fx_make(&f, cases[i].lc);
        if (cases[i].lc == 0x5000)
            save_seed("generated-debug.cbor", &f.tok);
        rv = make_rv(&f.c, f.cpak, RV_ALL);
        assert_int_equal(appraise(&f.tok, rv, test_nonce, 32, &a), VMESH_OK);
        expect_tv(&a, cases[i].ii, 2, 2, 2, cases[i].ro, cases[i].so);
        assert_int_equal(a.status, cases[i].status);
        if (cases[i].ii == 96)
            expect_reason(&a, "is not a trusted state");
        vmesh_appraisal_free(&a);
        vmesh_rv_store_free(rv);
        fx_free(&f);
    }
}

static void test_media_type_and_detect(void **state)
{
    (void)state;
    fx f;
    vmesh_appraisal_in in;
    vmesh_appraisal a;

    fx_make(&f, 0x3000);
    assert_true(vmesh_scheme_cca.detect(f.tok.data, f.tok.len));
    assert_false(vmesh_scheme_cca.detect(f.tok.data, f.tok.len - 1));
    assert_false(vmesh_scheme_cca.detect((const uint8_t *)"\xd2\x84", 2));
    memset(&in, 0, sizeof(in));
    in.evidence = f.tok.data;
    in.evidence_len = f.tok.len;
    in.media_type = "application/psa-attestation-token";
    vmesh_appraisal_init(&a);
    assert_int_equal(vmesh_scheme_cca.appraise(&in, &a), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "is not the CCA token type"));
    in.media_type = "application/eat-collection;   profile=\"http://arm.com/CCA-SSD/1.0.0\"";
    in.evidence_len = 5;
    assert_int_equal(vmesh_scheme_cca.appraise(&in, &a), VMESH_ERR_PARSE);
    vmesh_appraisal_free(&a);
    assert_string_equal(vmesh_scheme_cca.name, "cca");
    assert_string_equal(vmesh_scheme_cca.media_types[0], VMESH_CCA_MEDIA_TYPE);
    fx_free(&f);
}

/* ---- the shared vector --------------------------------------------------------- */

typedef struct {
    vmesh_buf tok;
    vmesh_key *cpak;
    vmesh_cca_claims c; /* decoded, for building reference values */
} vec;

static bool vec_load(vec *v)
{
    char path[1024];
    vmesh_cca_token *t = NULL;

    memset(v, 0, sizeof(*v));
    if (vec_path("cca-good.cbor", path, sizeof(path)) == NULL)
        return false;
    assert_int_equal(vmesh_file_read(path, 0, &v->tok), VMESH_OK);
    assert_non_null(vec_path("cpak.ec.p256.jwk", path, sizeof(path)));
    assert_int_equal(vmesh_crypto_key_load(path, &v->cpak), VMESH_OK);
    assert_int_equal(vmesh_cca_token_decode(v->tok.data, v->tok.len, &t), VMESH_OK);
    vmesh_cca_claims_init(&v->c);
    assert_int_equal(vmesh_cca_claims_copy(&v->c, vmesh_cca_token_claims(t)), VMESH_OK);
    vmesh_cca_token_free(t);
    return true;
}

static void vec_free(vec *v)
{
    vmesh_buf_free(&v->tok);
    vmesh_crypto_key_free(v->cpak);
    vmesh_cca_claims_free(&v->c);
}

/* Offset of the first occurrence of pat in the token. */
static size_t find(const vmesh_buf *b, const uint8_t *pat, size_t n)
{
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, pat, n) == 0)
            return i;
    fail_msg("pattern not found in the vector");
    return 0;
}

static void test_vector(void **state)
{
    (void)state;
    vec v;
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    vmesh_buf bad = {0};
    vmesh_key *other = NULL;
    /* lifecycle claim: key 2395 (19 095b), value 0x3000 (19 3000) */
    static const uint8_t lc_pat[] = {0x19, 0x09, 0x5b, 0x19, 0x30, 0x00};
    /* RIM claim: key 44238 (19 acce), bstr(64) (58 40), 'C' */
    static const uint8_t rim_pat[] = {0x19, 0xac, 0xce, 0x58, 0x40, 0x43};
    size_t off;

    if (!vec_load(&v))
        skip();
    rv = make_rv(&v.c, v.cpak, RV_ALL);
    assert_int_equal(appraise(&v.tok, rv, v.c.realm.challenge, 64, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    expect_tv(&a, 2, 2, 2, 2, 2, 2);
    assert_int_equal(a.nonce.len, 64); /* a random 64-byte challenge is reported whole */
    assert_memory_equal(a.nonce.data, v.c.realm.challenge, 64);
    vmesh_appraisal_free(&a);

    /* a flipped byte in the platform payload (lifecycle 0x3000 -> 0x3001) */
    assert_int_equal(vmesh_buf_set(&bad, v.tok.data, v.tok.len), VMESH_OK);
    off = find(&bad, lc_pat, sizeof(lc_pat));
    bad.data[off + 5] ^= 0x01;
    assert_int_equal(appraise(&bad, rv, v.c.realm.challenge, 64, &a), VMESH_OK);
    expect_all99(&a, "platform token signature does not verify with the endorsed CPAK");
    vmesh_appraisal_free(&a);
    /* a flipped byte in the realm payload (RIM) */
    assert_int_equal(vmesh_buf_set(&bad, v.tok.data, v.tok.len), VMESH_OK);
    off = find(&bad, rim_pat, sizeof(rim_pat));
    bad.data[off + 5] ^= 0x01;
    assert_int_equal(appraise(&bad, rv, v.c.realm.challenge, 64, &a), VMESH_OK);
    expect_all99(&a, "realm token signature does not verify with the RAK");
    vmesh_appraisal_free(&a);
    /* the last byte of the platform signature: the platform token is the
     * bstr at offset 10, 627 bytes long */
    assert_int_equal(vmesh_buf_set(&bad, v.tok.data, v.tok.len), VMESH_OK);
    assert_int_equal(bad.data[7], 0x59);
    assert_int_equal(bad.data[8] << 8 | bad.data[9], 627);
    bad.data[10 + 627 - 1] ^= 0x01;
    assert_int_equal(appraise(&bad, rv, v.c.realm.challenge, 64, &a), VMESH_OK);
    expect_all99(&a, "platform token signature");
    vmesh_appraisal_free(&a);
    /* the last byte of the realm signature (the last byte of the token) */
    assert_int_equal(vmesh_buf_set(&bad, v.tok.data, v.tok.len), VMESH_OK);
    bad.data[bad.len - 1] ^= 0x01;
    assert_int_equal(appraise(&bad, rv, v.c.realm.challenge, 64, &a), VMESH_OK);
    expect_all99(&a, "realm token signature");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    /* a wrong CPAK endorsed for the vector's ids */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    rv = make_rv(&v.c, other, RV_ALL);
    assert_int_equal(appraise(&v.tok, rv, v.c.realm.challenge, 64, &a), VMESH_OK);
    expect_all99(&a, "does not verify with the endorsed CPAK");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_crypto_key_free(other);
    vmesh_buf_free(&bad);
    vec_free(&v);
}

/* ---- the cca-sim attester --------------------------------------------------------- */

static void test_cca_sim(void **state)
{
    (void)state;
    char dir[] = "/tmp/vmesh-cca-XXXXXX", cpak_path[256], claims_path[256];
    vmesh_key *cpak = NULL;
    void *ctx = NULL;
    vmesh_buf ev = {0};
    vmesh_cca_token *t = NULL;
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    vmesh_cca_claims c;
    const char *tmpl =
        "{\"cca-platform-token\": {\"cca-platform-profile\": \"tag:arm.com,2023:cca_platform#1.0.0\","
        " \"cca-platform-implementation-id\": \"dm1lc2gtY2NhLWltcGxlbWVudGF0aW9uLWlkLTAwMDE=\","
        " \"cca-platform-config\": \"AQID\", \"cca-platform-lifecycle\": 12288,"
        " \"cca-platform-sw-components\": [{\"measurement-type\": \"BL\", \"measurement-value\":"
        " \"cHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHA=\", \"signer-id\":"
        " \"gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIA=\", \"version\": \"1.0.0\"}],"
        " \"cca-platform-hash-algo-id\": \"sha-256\"},"
        " \"cca-realm-delegated-token\": {\"cca-realm-personalization-value\":"
        " \"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==\","
        " \"cca-realm-initial-measurement\": \"Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=\","
        " \"cca-realm-extensible-measurements\": [\"UFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFA=\","
        " \"UVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVE=\", \"UlJSUlJSUlJSUlJSUlJSUlJSUlJSUlJSUlJSUlJSUlI=\","
        " \"U1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1M=\"],"
        " \"cca-realm-hash-algo-id\": \"sha-256\", \"cca-realm-public-key-hash-algo-id\": \"sha-256\"}}";
    vmesh_kv cfg[2], bad_cfg[3];

    assert_non_null(mkdtemp(dir));
    snprintf(cpak_path, sizeof(cpak_path), "%s/cpak.pem", dir);
    snprintf(claims_path, sizeof(claims_path), "%s/claims.json", dir);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &cpak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_save(cpak, cpak_path, true, false), VMESH_OK);
    assert_int_equal(vmesh_file_write(claims_path, tmpl, strlen(tmpl), 0644), VMESH_OK);
    cfg[0] = (vmesh_kv){"cpak", cpak_path};
    cfg[1] = (vmesh_kv){"claims", claims_path};
    bad_cfg[0] = cfg[0];
    bad_cfg[1] = cfg[1];
    bad_cfg[2] = (vmesh_kv){"iak", cpak_path};
    assert_int_equal(vmesh_scheme_cca.attester_new(bad_cfg, 3, &ctx), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "unknown configuration key \"iak\""));
    assert_int_equal(vmesh_scheme_cca.attester_new(cfg, 1, &ctx), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "no claims template"));
    assert_null(ctx);
    assert_int_equal(vmesh_scheme_cca.attester_new(cfg, 2, &ctx), VMESH_OK);
    {
        uint8_t n65[65] = {0};
        assert_int_equal(vmesh_scheme_cca.attest(ctx, n65, 65, &ev), VMESH_ERR_ARG);
        assert_non_null(strstr(vmesh_err_detail(), "1 to 64 bytes"));
        assert_int_equal(vmesh_scheme_cca.attest(ctx, NULL, 0, &ev), VMESH_ERR_ARG);
        assert_non_null(strstr(vmesh_err_detail(), "no nonce given"));
    }
    assert_int_equal(vmesh_scheme_cca.attest(ctx, test_nonce, 32, &ev), VMESH_OK);
    save_seed("cca-sim.cbor", &ev);
    assert_int_equal(vmesh_cca_token_decode(ev.data, ev.len, &t), VMESH_OK);
    vmesh_cca_claims_init(&c);
    assert_int_equal(vmesh_cca_claims_copy(&c, vmesh_cca_token_claims(t)), VMESH_OK);
    vmesh_cca_token_free(t);
    /* instance id derived from the CPAK as psa-sim derives it from the IAK */
    {
        uint8_t iid[33];
        assert_int_equal(vmesh_psa_instance_id_from_key(cpak, iid), VMESH_OK);
        assert_memory_equal(c.platform.instance_id, iid, 33);
    }
    {
        rv_opts o = RV_ALL;
        rv = make_rv(&c, cpak, o);
    }
    assert_int_equal(appraise(&ev, rv, test_nonce, 32, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    expect_tv(&a, 2, 2, 2, 2, 2, 2);
    vmesh_appraisal_free(&a);
    /* The same token as the RFC 9999 collection the attestation message
     * carries (issue 14.1): labels 44234 and 44241, appraised as
     * application/cmw+cbor with the same result. */
    {
        vmesh_buf coll = {0};
        vmesh_cmw cmw;
        vmesh_appraisal_in in;

        vmesh_cmw_init(&cmw);
        assert_int_equal(vmesh_scheme_cca.to_cmw_collection(ev.data, ev.len, &coll), VMESH_OK);
        assert_int_equal(vmesh_cmw_decode_cbor(coll.data, coll.len, &cmw), VMESH_OK);
        assert_true(cmw.collection);
        assert_int_equal(cmw.n, 2);
        assert_non_null(vmesh_cmw_find(&cmw, NULL, 44234));
        assert_non_null(vmesh_cmw_find(&cmw, NULL, 44241));
        in = (vmesh_appraisal_in){coll.data, coll.len, VMESH_CMW_MEDIA_TYPE_CBOR, test_nonce, 32, rv, 0};
        vmesh_appraisal_init(&a);
        assert_int_equal(vmesh_scheme_cca.appraise(&in, &a), VMESH_OK);
        assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
        expect_tv(&a, 2, 2, 2, 2, 2, 2);
        vmesh_appraisal_free(&a);
        vmesh_cmw_free(&cmw);
        vmesh_buf_free(&coll);
    }
    vmesh_rv_store_free(rv);
    vmesh_cca_claims_free(&c);
    vmesh_scheme_cca.attester_free(ctx);
    vmesh_crypto_key_free(cpak);
    vmesh_buf_free(&ev);
    unlink(cpak_path);
    unlink(claims_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad_binding),
        cmocka_unit_test(test_wrong_challenge),
        cmocka_unit_test(test_unknown_cpak),
        cmocka_unit_test(test_realm_reference_values),
        cmocka_unit_test(test_platform_reference_values),
        cmocka_unit_test(test_lifecycles),
        cmocka_unit_test(test_media_type_and_detect),
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_cca_sim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
