/* Unit tests for the crypto module: keys (PEM, DER, JWK), signatures,
 * digests, and the public vectors in ../shared/vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmesh/crypto.h"

static const vmesh_key_type all_types[] = {VMESH_KEY_EC_P256, VMESH_KEY_EC_P384, VMESH_KEY_ED25519};

static vmesh_key *gen(vmesh_key_type t)
{
    vmesh_key *k = NULL;
    assert_int_equal(vmesh_crypto_key_generate(t, &k), VMESH_OK);
    assert_non_null(k);
    return k;
}

static vmesh_key *parse_str(const char *s, vmesh_err want)
{
    vmesh_key *k = NULL;
    assert_int_equal(vmesh_crypto_key_parse((const uint8_t *)s, strlen(s), &k), want);
    return k;
}

static void type_names(void **state)
{
    vmesh_key_type t;

    (void)state;
    assert_int_equal(vmesh_crypto_key_type_parse("ec-p384", &t), VMESH_OK);
    assert_int_equal(t, VMESH_KEY_EC_P384);
    assert_int_equal(vmesh_crypto_key_type_parse("ed25519", &t), VMESH_OK);
    assert_int_equal(t, VMESH_KEY_ED25519);
    assert_int_equal(vmesh_crypto_key_type_parse("rsa", &t), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "use ec-p256, ec-p384 or ed25519"));
    assert_string_equal(vmesh_crypto_key_type_name(VMESH_KEY_EC_P256), "ec-p256");
}

static void sign_verify_all(void **state)
{
    static const size_t sizes[] = {64, 96, 64};
    static const int algs[] = {-7, -35, -8};
    static const char *jws[] = {"ES256", "ES384", "EdDSA"};
    const uint8_t msg[] = "attested channel binder";

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        vmesh_key *k = gen(all_types[i]);
        vmesh_buf sig = {0};
        uint8_t bad[200];

        assert_true(vmesh_crypto_key_is_private(k));
        assert_int_equal(vmesh_crypto_key_type(k), all_types[i]);
        assert_int_equal(vmesh_crypto_key_cose_alg(k), algs[i]);
        assert_string_equal(vmesh_crypto_key_jws_alg(k), jws[i]);
        assert_int_equal(vmesh_crypto_sign(k, msg, sizeof(msg), &sig), VMESH_OK);
        assert_int_equal(sig.len, sizes[i]);
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), sig.data, sig.len), VMESH_OK);
        /* tampered message */
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg) - 1, sig.data, sig.len),
                         VMESH_ERR_SIGNATURE);
        /* tampered signature: each half */
        memcpy(bad, sig.data, sig.len);
        bad[3] ^= 1;
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, sig.len), VMESH_ERR_SIGNATURE);
        memcpy(bad, sig.data, sig.len);
        bad[sig.len - 1] ^= 0x80;
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, sig.len), VMESH_ERR_SIGNATURE);
        assert_non_null(strstr(vmesh_err_detail(), "does not verify"));
        /* wrong lengths */
        memset(bad, 0, sizeof(bad));
        memcpy(bad, sig.data, sig.len);
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, sig.len - 1), VMESH_ERR_SIGNATURE);
        assert_non_null(strstr(vmesh_err_detail(), "expected"));
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, sig.len + 1), VMESH_ERR_SIGNATURE);
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, 0), VMESH_ERR_SIGNATURE);
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, 200), VMESH_ERR_SIGNATURE);
        /* all zero and all 0xff r||s */
        memset(bad, 0, sizeof(bad));
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, sig.len), VMESH_ERR_SIGNATURE);
        memset(bad, 0xff, sizeof(bad));
        assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), bad, sig.len), VMESH_ERR_SIGNATURE);
        /* empty message */
        vmesh_buf_reset(&sig);
        assert_int_equal(vmesh_crypto_sign(k, NULL, 0, &sig), VMESH_OK);
        assert_int_equal(vmesh_crypto_verify(k, NULL, 0, sig.data, sig.len), VMESH_OK);
        vmesh_buf_free(&sig);
        vmesh_crypto_key_free(k);
    }
}

/* The DER form the ECDSA check is given (raw_to_der): r and s with a
 * leading zero octet (stripped) or a high bit (0x00 prepended) verify like
 * any other; a signature made until r starts with a zero octet, P-256 and
 * P-384. Then the key's reused contexts across threads: two threads signing
 * and verifying with one key at once, and a signature of another key
 * refused after the first key's contexts were used. */
static void ecdsa_der_forms(void **state)
{
    const uint8_t msg[] = "der forms";

    (void)state;
    for (size_t t = 0; t < 2; t++) {
        vmesh_key *k = gen(all_types[t]);
        size_t fs = t == 0 ? 32 : 48;
        bool r0 = false, rhigh = false, shigh = false;
        vmesh_buf sig = {0};
        for (int i = 0; i < 8000 && !(r0 && rhigh && shigh); i++) {
            vmesh_buf_reset(&sig);
            assert_int_equal(vmesh_crypto_sign(k, msg, sizeof(msg), &sig), VMESH_OK);
            assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), sig.data, sig.len), VMESH_OK);
            r0 = r0 || sig.data[0] == 0;
            rhigh = rhigh || (sig.data[0] & 0x80) != 0;
            shigh = shigh || (sig.data[fs] & 0x80) != 0;
        }
        assert_true(r0 && rhigh && shigh);
        vmesh_buf_free(&sig);
        vmesh_crypto_key_free(k);
    }
}

typedef struct {
    vmesh_key *k;
    int failures;
} ctx_arg;

static void *sign_verify_loop(void *p)
{
    ctx_arg *a = p;
    const uint8_t msg[] = "one key, two threads";
    vmesh_buf sig = {0};

    for (int i = 0; i < 200; i++) {
        vmesh_buf_reset(&sig);
        if (vmesh_crypto_sign(a->k, msg, sizeof(msg), &sig) != VMESH_OK ||
            vmesh_crypto_verify(a->k, msg, sizeof(msg), sig.data, sig.len) != VMESH_OK ||
            vmesh_crypto_verify(a->k, msg, sizeof(msg) - 1, sig.data, sig.len) != VMESH_ERR_SIGNATURE)
            a->failures++;
    }
    vmesh_buf_free(&sig);
    return NULL;
}

static void key_contexts_shared(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256), *other = gen(VMESH_KEY_EC_P256);
    ctx_arg a = {k, 0}, b = {k, 0};
    pthread_t ta, tb;
    const uint8_t msg[] = "whose key";
    vmesh_buf sig = {0};

    (void)state;
    assert_int_equal(pthread_create(&ta, NULL, sign_verify_loop, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, sign_verify_loop, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures + b.failures, 0);
    assert_int_equal(vmesh_crypto_sign(other, msg, sizeof(msg), &sig), VMESH_OK);
    assert_int_equal(vmesh_crypto_verify(k, msg, sizeof(msg), sig.data, sig.len), VMESH_ERR_SIGNATURE);
    assert_int_equal(vmesh_crypto_verify(other, msg, sizeof(msg), sig.data, sig.len), VMESH_OK);
    vmesh_buf_free(&sig);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
}

static void jwk_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        vmesh_key *k = gen(all_types[i]), *k2 = NULL, *pub = NULL;
        vmesh_buf j = {0}, jp = {0}, j2 = {0}, sig = {0};

        assert_int_equal(vmesh_crypto_key_to_jwk(k, true, &j), VMESH_OK);
        assert_non_null(strstr((char *)j.data, "\"d\":\""));
        assert_int_equal(vmesh_crypto_key_from_jwk((char *)j.data, j.len, &k2), VMESH_OK);
        assert_true(vmesh_crypto_key_is_private(k2));
        assert_true(vmesh_crypto_key_equal(k, k2));
        assert_int_equal(vmesh_crypto_key_to_jwk(k2, true, &j2), VMESH_OK);
        assert_string_equal((char *)j.data, (char *)j2.data);
        /* a key imported from JWK signs, the original verifies */
        assert_int_equal(vmesh_crypto_sign(k2, (const uint8_t *)"x", 1, &sig), VMESH_OK);
        assert_int_equal(vmesh_crypto_verify(k, (const uint8_t *)"x", 1, sig.data, sig.len), VMESH_OK);

        assert_int_equal(vmesh_crypto_key_to_jwk(k, false, &jp), VMESH_OK);
        assert_null(strstr((char *)jp.data, "\"d\""));
        assert_int_equal(vmesh_crypto_key_parse(jp.data, jp.len, &pub), VMESH_OK);
        assert_false(vmesh_crypto_key_is_private(pub));
        assert_true(vmesh_crypto_key_equal(k, pub));
        assert_int_equal(vmesh_crypto_verify(pub, (const uint8_t *)"x", 1, sig.data, sig.len), VMESH_OK);
        /* a public key cannot sign or export a private part */
        vmesh_buf_reset(&sig);
        assert_int_equal(vmesh_crypto_sign(pub, (const uint8_t *)"x", 1, &sig), VMESH_ERR_ARG);
        assert_int_equal(vmesh_crypto_key_to_jwk(pub, true, &j2), VMESH_ERR_ARG);
        assert_int_equal(vmesh_crypto_key_to_pem(pub, true, &j2), VMESH_ERR_ARG);

        vmesh_buf_free(&j);
        vmesh_buf_free(&jp);
        vmesh_buf_free(&j2);
        vmesh_buf_free(&sig);
        vmesh_crypto_key_free(k);
        vmesh_crypto_key_free(k2);
        vmesh_crypto_key_free(pub);
    }
}

static void pem_der_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        vmesh_key *k = gen(all_types[i]), *k2 = NULL, *pub = NULL, *spk = NULL, *der = NULL;
        vmesh_buf pem = {0}, ppem = {0}, spki = {0};

        assert_int_equal(vmesh_crypto_key_to_pem(k, true, &pem), VMESH_OK);
        assert_non_null(strstr((char *)pem.data, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(vmesh_crypto_key_parse(pem.data, pem.len, &k2), VMESH_OK);
        assert_true(vmesh_crypto_key_is_private(k2));
        assert_true(vmesh_crypto_key_equal(k, k2));

        assert_int_equal(vmesh_crypto_key_to_pem(k, false, &ppem), VMESH_OK);
        assert_non_null(strstr((char *)ppem.data, "-----BEGIN PUBLIC KEY-----"));
        assert_int_equal(vmesh_crypto_key_parse(ppem.data, ppem.len, &pub), VMESH_OK);
        assert_false(vmesh_crypto_key_is_private(pub));
        assert_true(vmesh_crypto_key_equal(k, pub));

        assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
        assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &spk), VMESH_OK);
        assert_true(vmesh_crypto_key_equal(k, spk));
        {
            /* the second encoding comes from the key's cache: the same
             * bytes, appended like the first */
            vmesh_buf two = {0};
            assert_int_equal(vmesh_buf_append_u8(&two, 0xaa), VMESH_OK);
            assert_int_equal(vmesh_crypto_key_to_spki(k, &two), VMESH_OK);
            assert_int_equal(vmesh_crypto_key_to_spki(k, &two), VMESH_OK);
            assert_int_equal(two.len, 1 + 2 * spki.len);
            assert_int_equal(two.data[0], 0xaa);
            assert_memory_equal(two.data + 1, spki.data, spki.len);
            assert_memory_equal(two.data + 1 + spki.len, spki.data, spki.len);
            vmesh_buf_free(&two);
        }
        assert_int_equal(vmesh_crypto_key_parse(spki.data, spki.len, &der), VMESH_OK);
        assert_true(vmesh_crypto_key_equal(k, der));
        vmesh_crypto_key_free(der);
        der = NULL;
        /* trailing bytes after a DER key are refused */
        assert_int_equal(vmesh_buf_append_u8(&spki, 0), VMESH_OK);
        assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &der), VMESH_ERR_PARSE);
        assert_int_equal(vmesh_crypto_key_parse(spki.data, spki.len, &der), VMESH_ERR_PARSE);
        assert_null(der);

        vmesh_buf_free(&pem);
        vmesh_buf_free(&ppem);
        vmesh_buf_free(&spki);
        vmesh_crypto_key_free(k);
        vmesh_crypto_key_free(k2);
        vmesh_crypto_key_free(pub);
        vmesh_crypto_key_free(spk);
    }
}

/* An "EC PRIVATE KEY" (SEC1) PEM and a DER PKCS#8, made with OpenSSL. */
static void sec1_and_der(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256), *k2 = NULL;
    EVP_PKEY *pkey = vmesh_crypto_key_evp(k);
    vmesh_buf sig = {0};
    unsigned char *der = NULL;
    int len;

    (void)state;
    {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long n;
        assert_non_null(bio);
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
        n = BIO_get_mem_data(bio, &data);
        assert_non_null(strstr(data, "BEGIN EC PRIVATE KEY"));
        assert_int_equal(vmesh_crypto_key_parse((uint8_t *)data, (size_t)n, &k2), VMESH_OK);
        assert_true(vmesh_crypto_key_is_private(k2));
        assert_true(vmesh_crypto_key_equal(k, k2));
        vmesh_crypto_key_free(k2);
        k2 = NULL;
        BIO_free(bio);
    }
    len = i2d_PrivateKey(pkey, &der); /* SEC1 ECPrivateKey DER */
    assert_true(len > 0);
    assert_int_equal(vmesh_crypto_key_parse(der, (size_t)len, &k2), VMESH_OK);
    assert_true(vmesh_crypto_key_is_private(k2));
    assert_int_equal(vmesh_crypto_sign(k2, (const uint8_t *)"m", 1, &sig), VMESH_OK);
    assert_int_equal(vmesh_crypto_verify(k, (const uint8_t *)"m", 1, sig.data, sig.len), VMESH_OK);
    OPENSSL_free(der);
    vmesh_buf_free(&sig);
    vmesh_crypto_key_free(k2);
    vmesh_crypto_key_free(k);
}

/* SPKI: the fixed-prefix fast path refuses a point off the curve; a
 * compressed point goes through OpenSSL's decoder and is accepted. */
static void spki_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        vmesh_key *k = gen(all_types[i]), *k2 = NULL;
        EVP_PKEY *dup;
        vmesh_buf spki = {0};
        unsigned char *der = NULL;
        int len;

        assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
        spki.data[spki.len - 1] ^= 0x01;
        assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &k2), VMESH_ERR_PARSE);
        assert_non_null(strstr(vmesh_err_detail(), "curve"));
        assert_null(k2);
        dup = EVP_PKEY_dup(vmesh_crypto_key_evp(k));
        assert_non_null(dup);
        assert_int_equal(EVP_PKEY_set_utf8_string_param(dup, "point-format", "compressed"), 1);
        len = i2d_PUBKEY(dup, &der);
        assert_int_equal(len, (int)spki.len - (i == 0 ? 32 : 48)); /* x only */
        assert_int_equal(vmesh_crypto_key_from_spki(der, (size_t)len, &k2), VMESH_OK);
        assert_true(vmesh_crypto_key_equal(k, k2));
        OPENSSL_free(der);
        EVP_PKEY_free(dup);
        vmesh_buf_free(&spki);
        vmesh_crypto_key_free(k);
        vmesh_crypto_key_free(k2);
    }
}

static void from_evp_and_refs(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_ED25519), *k2 = NULL;
    EVP_PKEY *rsa;

    (void)state;
    assert_int_equal(vmesh_crypto_key_from_evp(vmesh_crypto_key_evp(k), &k2), VMESH_OK);
    assert_true(vmesh_crypto_key_equal(k, k2));
    assert_true(vmesh_crypto_key_is_private(k2));
    assert_ptr_equal(vmesh_crypto_key_ref(k2), k2);
    vmesh_crypto_key_free(k2);
    assert_true(vmesh_crypto_key_equal(k, k2)); /* still alive: one reference left */
    vmesh_crypto_key_free(k2);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(NULL);

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    assert_non_null(rsa);
    assert_int_equal(vmesh_crypto_key_from_evp(rsa, &k2), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "RSA"));
    assert_null(k2);
    EVP_PKEY_free(rsa);
}

/* RFC 7638 §3.1 uses an RSA key; RFC 8037 Appendix A.3 gives an Ed25519
 * thumbprint: kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k. */
static void thumbprint_rfc8037(void **state)
{
    static const char jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                              "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    static const char jwk_priv[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                                   "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                                   "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    vmesh_key *k = parse_str(jwk, VMESH_OK), *kp = parse_str(jwk_priv, VMESH_OK);
    uint8_t tp[32];
    vmesh_buf b = {0};

    (void)state;
    assert_int_equal(vmesh_crypto_key_thumbprint(k, tp), VMESH_OK);
    assert_int_equal(vmesh_b64url_encode(tp, 32, &b), VMESH_OK);
    assert_string_equal((char *)b.data, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /* the second call answers from the key's kept thumbprint: the same */
    memset(tp, 0, sizeof(tp));
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_crypto_key_thumbprint(k, tp), VMESH_OK);
    assert_int_equal(vmesh_b64url_encode(tp, 32, &b), VMESH_OK);
    assert_string_equal((char *)b.data, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /* and the private key's (its public part) is the same thumbprint */
    {
        uint8_t tp2[32];
        assert_int_equal(vmesh_crypto_key_thumbprint(kp, tp2), VMESH_OK);
        assert_memory_equal(tp, tp2, 32);
    }
    /* two EC keys: each keeps its own */
    {
        vmesh_key *e1 = gen(VMESH_KEY_EC_P256), *e2 = gen(VMESH_KEY_EC_P256);
        uint8_t a1[32], a2[32], b1[32];
        assert_int_equal(vmesh_crypto_key_thumbprint(e1, a1), VMESH_OK);
        assert_int_equal(vmesh_crypto_key_thumbprint(e2, b1), VMESH_OK);
        assert_int_equal(vmesh_crypto_key_thumbprint(e1, a2), VMESH_OK);
        assert_memory_equal(a1, a2, 32);
        assert_memory_not_equal(a1, b1, 32);
        vmesh_crypto_key_free(e1);
        vmesh_crypto_key_free(e2);
    }
    assert_true(vmesh_crypto_key_is_private(kp));
    assert_true(vmesh_crypto_key_equal(k, kp));
    vmesh_buf_free(&b);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(kp);
}

/* RFC 8037 Appendix A.4: Ed25519 signature of "Example of Ed25519 signing"
 * in JWS form, over the signing input below. */
static void ed25519_rfc8037_signature(void **state)
{
    static const char jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                              "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                              "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    static const char input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    static const char want[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt"
                               "9g7sVvpAr_MuM0KAg";
    vmesh_key *k = parse_str(jwk, VMESH_OK);
    vmesh_buf sig = {0}, b = {0};

    (void)state;
    assert_int_equal(vmesh_crypto_sign(k, (const uint8_t *)input, strlen(input), &sig), VMESH_OK);
    assert_int_equal(vmesh_b64url_encode(sig.data, sig.len, &b), VMESH_OK);
    assert_string_equal((char *)b.data, want);
    vmesh_buf_free(&sig);
    vmesh_buf_free(&b);
    vmesh_crypto_key_free(k);
}

static void jwk_refusals(void **state)
{
    static const char p256_x[] = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    static const char p256_y[] = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
    char buf[512];
    vmesh_key *k = NULL;

    (void)state;
    /* other curves and kty */
    k = parse_str("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "P-521"));
    assert_non_null(strstr(vmesh_err_detail(), "use P-256 or P-384"));
    k = parse_str("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}", VMESH_ERR_UNSUPPORTED);
    k = parse_str("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}", VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "use Ed25519"));
    k = parse_str("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"crv\":\"x\"}", VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "kty \"RSA\""));
    k = parse_str("{\"kty\":\"oct\",\"k\":\"AQAB\"}", VMESH_ERR_PARSE); /* no crv */
    assert_non_null(strstr(vmesh_err_detail(), "\"crv\" is missing"));
    /* missing, short, long, non-string coordinates */
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", p256_x);
    k = parse_str(buf, VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "\"y\" is missing"));
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%.40s\"}", p256_x, p256_y);
    k = parse_str(buf, VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "expected 32"));
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}", p256_x, p256_y);
    k = parse_str(buf, VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "expected 48"));
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":7}", p256_x);
    k = parse_str(buf, VMESH_ERR_PARSE);
    /* point not on the curve: y of another point */
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", p256_x,
             "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4");
    k = parse_str(buf, VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "curve"));
    /* d that does not match x/y (d of the EAR vector key) */
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}",
             p256_x, p256_y, "V8kgd2ZBRuh2dgyVINBUqpPDr7BOMGcF22CQMIUHtNM");
    k = parse_str(buf, VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "does not match"));
    /* the right d is accepted */
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}",
             p256_x, p256_y, "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE");
    k = parse_str(buf, VMESH_OK);
    assert_true(vmesh_crypto_key_is_private(k));
    vmesh_crypto_key_free(k);
    /* Ed25519 d that does not match x */
    k = parse_str("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                  "\"x\":\"21qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
                  VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "does not match"));
    /* bad JSON, duplicate members, not an object */
    k = parse_str("{\"kty\":\"EC\",", VMESH_ERR_PARSE);
    k = parse_str("{\"kty\":\"EC\",\"kty\":\"OKP\"}", VMESH_ERR_PARSE);
    k = parse_str("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"!!!!\"}", VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "base64url"));
    assert_null(k);
}

static void garbage_refused(void **state)
{
    vmesh_key *k = NULL;
    uint8_t zeros[64] = {0};
    static const char bad_pem[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    static const char cert[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    (void)state;
    assert_int_equal(vmesh_crypto_key_parse(zeros, sizeof(zeros), &k), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_crypto_key_parse(zeros, 0, &k), VMESH_ERR_PARSE);
    k = parse_str(bad_pem, VMESH_ERR_PARSE);
    k = parse_str(cert, VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "PUBLIC KEY"));
    k = parse_str("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                  VMESH_ERR_UNSUPPORTED);
    assert_null(k);
}

static void save_and_load(void **state)
{
    char dir[] = "/tmp/vmesh-crypto-XXXXXX";
    char path[256], path2[256];
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    snprintf(path2, sizeof(path2), "%s/key.jwk", dir);
    for (size_t i = 0; i < 3; i++) {
        vmesh_key *k = gen(all_types[i]), *k2 = NULL, *k3 = NULL;

        assert_int_equal(vmesh_crypto_key_save(k, path, true, false), VMESH_OK);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(vmesh_crypto_key_load(path, &k2), VMESH_OK);
        assert_true(vmesh_crypto_key_is_private(k2));
        assert_true(vmesh_crypto_key_equal(k, k2));
        assert_int_equal(vmesh_crypto_key_save(k, path2, false, true), VMESH_OK);
        assert_int_equal(stat(path2, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0044);
        assert_int_equal(vmesh_crypto_key_load(path2, &k3), VMESH_OK);
        assert_false(vmesh_crypto_key_is_private(k3));
        assert_true(vmesh_crypto_key_equal(k, k3));
        vmesh_crypto_key_free(k);
        vmesh_crypto_key_free(k2);
        vmesh_crypto_key_free(k3);
    }
    {
        vmesh_key *k = NULL;
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
        assert_int_not_equal(vmesh_crypto_key_load(missing, &k), VMESH_OK);
        assert_non_null(strstr(vmesh_err_detail(), "nope.pem"));
    }
    unlink(path);
    unlink(path2);
    rmdir(dir);
}

/* RFC 4231 §4.3 (test case 2) and §4.7 (test case 6: a key longer than the
 * block), and the same context reused across threads' calls in turn. */
static void hmac_sha256_rfc4231(void **state)
{
    static const uint8_t tc2[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                    0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                    0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    static const uint8_t tc6[32] = {0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26,
                                    0xaa, 0xcb, 0xf5, 0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28,
                                    0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54};
    static const char msg6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    uint8_t key6[131], out[32];

    (void)state;
    memset(key6, 0xaa, sizeof(key6));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vmesh_crypto_hmac_sha256((const uint8_t *)"Jefe", 4,
                                                  (const uint8_t *)"what do ya want for nothing?", 28, out),
                         VMESH_OK);
        assert_memory_equal(out, tc2, 32);
        assert_int_equal(vmesh_crypto_hmac_sha256(key6, sizeof(key6), (const uint8_t *)msg6, strlen(msg6), out),
                         VMESH_OK);
        assert_memory_equal(out, tc6, 32);
    }
    assert_int_equal(vmesh_crypto_hmac_sha256(NULL, 0, out, 1, out), VMESH_ERR_ARG);
}

static void digests_random(void **state)
{
    uint8_t d[48], r1[32], r2[32];
    vmesh_buf h = {0};
    char path[] = "/tmp/vmesh-sha-XXXXXX";
    int fd;

    (void)state;
    vmesh_crypto_sha256((const uint8_t *)"abc", 3, d);
    assert_int_equal(vmesh_hex_encode(d, 32, &h), VMESH_OK);
    assert_string_equal((char *)h.data, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    vmesh_buf_reset(&h);
    vmesh_crypto_sha384((const uint8_t *)"abc", 3, d);
    assert_int_equal(vmesh_hex_encode(d, 48, &h), VMESH_OK);
    assert_string_equal((char *)h.data, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                                        "8086072ba1e7cc2358baeca134c825a7");
    vmesh_buf_reset(&h);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    assert_int_equal(vmesh_crypto_sha256_file(path, d), VMESH_OK);
    assert_int_equal(vmesh_hex_encode(d, 32, &h), VMESH_OK);
    assert_string_equal((char *)h.data, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_int_equal(vmesh_crypto_sha256_file(path, d), VMESH_ERR_IO);
    vmesh_buf_free(&h);

    assert_int_equal(vmesh_crypto_random(r1, sizeof(r1)), VMESH_OK);
    assert_int_equal(vmesh_crypto_random(r2, sizeof(r2)), VMESH_OK);
    assert_false(vmesh_crypto_memeq(r1, r2, sizeof(r1)));
    assert_true(vmesh_crypto_memeq(r1, r1, sizeof(r1)));
    assert_true(vmesh_crypto_memeq(r1, r2, 0));
}

static const char *vectors(const char *rel, char *buf, size_t n)
{
    const char *v = getenv("VMESH_VECTORS");
    if (v == NULL || *v == '\0')
        return NULL;
    snprintf(buf, n, "%s/%s", v, rel);
    if (access(buf, R_OK) != 0)
        return NULL;
    return buf;
}

static void vector_psa_iak(void **state)
{
    char path[1024];
    vmesh_key *k = NULL;
    vmesh_buf j = {0};

    (void)state;
    if (vectors("psa/iak.ec.p256.jwk", path, sizeof(path)) == NULL) {
        skip();
        return;
    }
    assert_int_equal(vmesh_crypto_key_load(path, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_type(k), VMESH_KEY_EC_P256);
    assert_true(vmesh_crypto_key_is_private(k));
    assert_int_equal(vmesh_crypto_key_to_jwk(k, false, &j), VMESH_OK);
    assert_string_equal((char *)j.data, "{\"crv\":\"P-256\",\"kty\":\"EC\","
                                        "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
                                        "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"}");
    vmesh_buf_free(&j);
    vmesh_crypto_key_free(k);
}

static void vector_ear_skey(void **state)
{
    char path[1024];
    vmesh_key *k = NULL;
    vmesh_buf sig = {0};

    (void)state;
    if (vectors("ear/skey.json", path, sizeof(path)) == NULL) {
        skip();
        return;
    }
    assert_int_equal(vmesh_crypto_key_load(path, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_type(k), VMESH_KEY_EC_P256);
    assert_true(vmesh_crypto_key_is_private(k));
    assert_int_equal(vmesh_crypto_sign(k, (const uint8_t *)"ear", 3, &sig), VMESH_OK);
    assert_int_equal(vmesh_crypto_verify(k, (const uint8_t *)"ear", 3, sig.data, sig.len), VMESH_OK);
    if (vectors("ear/pkey.json", path, sizeof(path)) != NULL) {
        vmesh_key *pub = NULL;
        assert_int_equal(vmesh_crypto_key_load(path, &pub), VMESH_OK);
        assert_false(vmesh_crypto_key_is_private(pub));
        assert_true(vmesh_crypto_key_equal(k, pub));
        assert_int_equal(vmesh_crypto_verify(pub, (const uint8_t *)"ear", 3, sig.data, sig.len), VMESH_OK);
        vmesh_crypto_key_free(pub);
    }
    vmesh_buf_free(&sig);
    vmesh_crypto_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_names),
        cmocka_unit_test(sign_verify_all),
        cmocka_unit_test(ecdsa_der_forms),
        cmocka_unit_test(key_contexts_shared),
        cmocka_unit_test(jwk_round_trip),
        cmocka_unit_test(pem_der_round_trip),
        cmocka_unit_test(sec1_and_der),
        cmocka_unit_test(spki_paths),
        cmocka_unit_test(from_evp_and_refs),
        cmocka_unit_test(thumbprint_rfc8037),
        cmocka_unit_test(ed25519_rfc8037_signature),
        cmocka_unit_test(jwk_refusals),
        cmocka_unit_test(garbage_refused),
        cmocka_unit_test(save_and_load),
        cmocka_unit_test(digests_random),
        cmocka_unit_test(hmac_sha256_rfc4231),
        cmocka_unit_test(vector_psa_iak),
        cmocka_unit_test(vector_ear_skey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
