/*
 * vmesh keys: the refcounted wrapper around an OpenSSL EVP_PKEY restricted to
 * EC P-256, EC P-384 and Ed25519, with loading from PEM (PKCS#8, SEC1, SPKI),
 * DER and JWK, and serialisation to PEM, SPKI and JWK. It must never accept a
 * key of another type or curve, a point off the curve or a private key that
 * does not match its public part, and must never leave private key bytes in
 * memory it frees.
 */
#include "key_int.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* Key files and JWKs are small; anything larger is not a key. */
#define KEY_INPUT_MAX ((size_t)64 * 1024)

size_t vmesh_crypto_key_field_size(vmesh_key_type t)
{
    switch (t) {
    case VMESH_KEY_EC_P256:
        return 32;
    case VMESH_KEY_EC_P384:
        return 48;
    case VMESH_KEY_ED25519:
        return 32;
    }
    return 0;
}

vmesh_err vmesh_crypto_key_type_parse(const char *s, vmesh_key_type *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(s != NULL && out != NULL, VMESH_ERR_ARG, "key type: missing argument");
    if (strcmp(s, "ec-p256") == 0)
        *out = VMESH_KEY_EC_P256;
    else if (strcmp(s, "ec-p384") == 0)
        *out = VMESH_KEY_EC_P384;
    else if (strcmp(s, "ed25519") == 0)
        *out = VMESH_KEY_ED25519;
    else
        VMESH_FAIL(VMESH_ERR_ARG, "unknown key type \"%.64s\": use ec-p256, ec-p384 or ed25519", s);
out:
    return rc;
}

const char *vmesh_crypto_key_type_name(vmesh_key_type t)
{
    switch (t) {
    case VMESH_KEY_EC_P256:
        return "ec-p256";
    case VMESH_KEY_EC_P384:
        return "ec-p384";
    case VMESH_KEY_ED25519:
        return "ed25519";
    }
    return "unknown";
}

/* Which of our types an EVP_PKEY is; refuses everything else. */
static vmesh_err classify(EVP_PKEY *pkey, vmesh_key_type *t, bool *priv)
{
    vmesh_err rc = VMESH_OK;

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        size_t len = 0;
        *t = VMESH_KEY_ED25519;
        *priv = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0, &len) == 1 &&
                len > 0;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        BIGNUM *d = NULL;

        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            ERR_clear_error();
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                       "EC key without a named curve (explicit parameters?): use P-256 or P-384");
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            *t = VMESH_KEY_EC_P256;
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            *t = VMESH_KEY_EC_P384;
        else
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "EC curve %s is not supported: use P-256 or P-384",
                       group);
        *priv = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 && d != NULL;
        BN_clear_free(d);
    } else {
        const char *name = EVP_PKEY_get0_type_name(pkey);
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "key type %s is not supported: use EC P-256, EC P-384 or Ed25519",
                   name ? name : "(unknown)");
    }
out:
    ERR_clear_error();
    return rc;
}

/* Checks the key material: the public point is on the curve and, for a
 * private key, the private part matches the public part. */
static vmesh_err check_key(EVP_PKEY *pkey, bool priv)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

    VMESH_ENSURE(ctx != NULL, VMESH_ERR_NOMEM, "out of memory checking a key");
    if (EVP_PKEY_public_check_quick(ctx) != 1) {
        ERR_clear_error();
        VMESH_FAIL(VMESH_ERR_PARSE, "invalid public key (point not on the curve?)");
    }
    if (priv && EVP_PKEY_pairwise_check(ctx) != 1) {
        ERR_clear_error();
        VMESH_FAIL(VMESH_ERR_MISMATCH, "the private key does not match the public key");
    }
out:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* Wraps pkey (taking ownership of the reference on success only). */
static vmesh_err wrap(EVP_PKEY *pkey, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    vmesh_key_type t = VMESH_KEY_EC_P256;
    bool priv = false;

    VMESH_GUARD(classify(pkey, &t, &priv));
    k = calloc(1, sizeof(*k));
    VMESH_ENSURE(k != NULL, VMESH_ERR_NOMEM, "out of memory allocating a key");
    k->pkey = pkey;
    k->type = t;
    k->priv = priv;
    atomic_init(&k->refs, 1);
    *out = k;
out:
    return rc;
}

vmesh_err vmesh_crypto_key_generate(vmesh_key_type t, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY *pkey = NULL;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "key generate: no output");
    *out = NULL;
    switch (t) {
    case VMESH_KEY_EC_P256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case VMESH_KEY_EC_P384:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case VMESH_KEY_ED25519:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        VMESH_FAIL(VMESH_ERR_ARG, "key generate: unknown key type %d", (int)t);
    }
    if (pkey == NULL) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "generating a key");
        goto out;
    }
    VMESH_GUARD(wrap(pkey, out));
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    return rc;
}

vmesh_err vmesh_crypto_key_from_evp(void *evp_pkey, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY *pkey = evp_pkey;

    VMESH_ENSURE(pkey != NULL && out != NULL, VMESH_ERR_ARG, "key from EVP_PKEY: missing argument");
    *out = NULL;
    VMESH_ENSURE(EVP_PKEY_up_ref(pkey) == 1, VMESH_ERR_CRYPTO, "EVP_PKEY_up_ref failed");
    rc = wrap(pkey, out);
    if (rc != VMESH_OK)
        EVP_PKEY_free(pkey);
out:
    return rc;
}

/* ---- JWK --------------------------------------------------------------- */

/* Decodes a base64url member that must be exactly `want` bytes. */
static vmesh_err jwk_member(json_t *jwk, const char *name, size_t want, bool secret,
                            vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *v = json_object_get(jwk, name);
    const char *s;
    size_t len;

    out->secret = secret;
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "JWK: member \"%s\" is missing", name);
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_PARSE, "JWK: member \"%s\" is not a string", name);
    s = json_string_value(v);
    len = json_string_length(v);
    rc = vmesh_b64_decode(s, len, out);
    if (secret)
        OPENSSL_cleanse((char *)s, len);
    if (rc != VMESH_OK)
        VMESH_FAIL(rc, "JWK: member \"%s\" is not base64url", name);
    VMESH_ENSURE(out->len == want, VMESH_ERR_PARSE,
                 "JWK: member \"%s\" is %zu bytes, expected %zu for this curve", name, out->len,
                 want);
out:
    return rc;
}

static vmesh_err jwk_string(json_t *jwk, const char *name, const char **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *v = json_object_get(jwk, name);

    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "JWK: member \"%s\" is missing", name);
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_PARSE, "JWK: member \"%s\" is not a string", name);
    *out = json_string_value(v);
out:
    return rc;
}

static vmesh_err pkey_fromdata(const char *alg, OSSL_PARAM_BLD *bld, bool priv, EVP_PKEY **out)
{
    vmesh_err rc = VMESH_OK;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    VMESH_ENSURE(params != NULL, VMESH_ERR_NOMEM, "key import: out of memory");
    ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    VMESH_ENSURE(ctx != NULL, VMESH_ERR_CRYPTO, "key import: no OpenSSL support for %s", alg);
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        VMESH_FAIL(VMESH_ERR_PARSE, "invalid EC key (point not on the curve?)");
    }
out:
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* An EC key from a SEC1 point (and a private scalar d when given).
 * EVP_PKEY_fromdata refuses a point that is not on the curve. */
static vmesh_err ec_from_point(const char *group, const uint8_t *pt, size_t pt_len,
                               const vmesh_buf *d, EVP_PKEY **out)
{
    vmesh_err rc = VMESH_OK;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = NULL;

    VMESH_ENSURE(bld != NULL, VMESH_ERR_NOMEM, "EC key: out of memory");
    VMESH_ENSURE(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
                     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, pt_len) == 1,
                 VMESH_ERR_NOMEM, "EC key: out of memory");
    if (d != NULL) {
        bn = BN_secure_new();
        VMESH_ENSURE(bn != NULL && BN_bin2bn(d->data, (int)d->len, bn) != NULL, VMESH_ERR_NOMEM,
                     "EC key: out of memory");
        VMESH_ENSURE(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) == 1,
                     VMESH_ERR_NOMEM, "EC key: out of memory");
    }
    VMESH_GUARD(pkey_fromdata("EC", bld, d != NULL, out));
out:
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bn);
    return rc;
}

/* RFC 7518 §6.2.1.2: "The length of this octet string MUST be the full size
 * of a coordinate for the curve specified in the "crv" parameter."
 * §6.2.2.1: "The length of this octet string MUST be ceiling(log-base-2(n)/8)
 * octets (where n is the order of the curve)." */
static vmesh_err jwk_ec(json_t *jwk, const char *crv, EVP_PKEY **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf x = {0}, y = {0}, d = {0}, pt = {0};
    const char *group;
    size_t fs;
    bool priv = json_object_get(jwk, "d") != NULL;

    if (strcmp(crv, "P-256") == 0) {
        group = "P-256";
        fs = 32;
    } else if (strcmp(crv, "P-384") == 0) {
        group = "P-384";
        fs = 48;
    } else {
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "JWK: EC curve \"%.32s\" is not supported: use P-256 or P-384",
                   crv);
    }
    VMESH_GUARD(jwk_member(jwk, "x", fs, false, &x));
    VMESH_GUARD(jwk_member(jwk, "y", fs, false, &y));
    if (priv)
        VMESH_GUARD(jwk_member(jwk, "d", fs, true, &d));
    VMESH_GUARD(vmesh_buf_append_u8(&pt, 0x04)); /* SEC1 uncompressed point */
    VMESH_GUARD(vmesh_buf_append(&pt, x.data, x.len));
    VMESH_GUARD(vmesh_buf_append(&pt, y.data, y.len));
    VMESH_GUARD(ec_from_point(group, pt.data, pt.len, priv ? &d : NULL, out));
out:
    vmesh_buf_free(&x);
    vmesh_buf_free(&y);
    vmesh_buf_free(&d);
    vmesh_buf_free(&pt);
    return rc;
}

/* RFC 8037 §2: "The parameter "x" MUST be present and contain the public key
 * encoded using the base64url [RFC4648] encoding." ... "The parameter "d"
 * MUST be present for private keys and contain the private key encoded using
 * the base64url encoding." */
static vmesh_err jwk_okp(json_t *jwk, const char *crv, EVP_PKEY **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf x = {0}, d = {0};
    uint8_t pub[32];
    size_t publen = sizeof(pub);
    bool priv = json_object_get(jwk, "d") != NULL;

    VMESH_ENSURE(strcmp(crv, "Ed25519") == 0, VMESH_ERR_UNSUPPORTED,
                 "JWK: OKP curve \"%.32s\" is not supported: use Ed25519", crv);
    VMESH_GUARD(jwk_member(jwk, "x", 32, false, &x));
    if (!priv) {
        *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x.data, x.len);
        VMESH_ENSURE(*out != NULL, VMESH_ERR_PARSE, "JWK: invalid Ed25519 public key");
        goto out;
    }
    VMESH_GUARD(jwk_member(jwk, "d", 32, true, &d));
    *out = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d.data, d.len);
    VMESH_ENSURE(*out != NULL, VMESH_ERR_PARSE, "JWK: invalid Ed25519 private key");
    /* The public key is derived from d: it must be the x we were given. */
    if (EVP_PKEY_get_raw_public_key(*out, pub, &publen) != 1 || publen != 32 ||
        CRYPTO_memcmp(pub, x.data, 32) != 0) {
        EVP_PKEY_free(*out);
        *out = NULL;
        VMESH_FAIL(VMESH_ERR_MISMATCH, "JWK: \"d\" does not match \"x\" (not the same Ed25519 key)");
    }
out:
    ERR_clear_error();
    vmesh_buf_free(&x);
    vmesh_buf_free(&d);
    return rc;
}

vmesh_err vmesh_crypto_key_from_jwk(const char *json, size_t n, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *jwk = NULL;
    json_error_t jerr;
    EVP_PKEY *pkey = NULL;
    const char *kty = NULL, *crv = NULL;
    vmesh_key *k = NULL;

    VMESH_ENSURE(json != NULL && out != NULL, VMESH_ERR_ARG, "key from JWK: missing argument");
    *out = NULL;
    VMESH_ENSURE(n <= KEY_INPUT_MAX, VMESH_ERR_TOO_LARGE, "JWK of %zu bytes: the cap is %zu", n,
                 KEY_INPUT_MAX);
    jwk = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(jwk != NULL, VMESH_ERR_PARSE, "JWK: invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
    VMESH_ENSURE(json_is_object(jwk), VMESH_ERR_PARSE, "JWK: not a JSON object");
    VMESH_GUARD(jwk_string(jwk, "kty", &kty));
    VMESH_GUARD(jwk_string(jwk, "crv", &crv));
    if (strcmp(kty, "EC") == 0)
        VMESH_GUARD(jwk_ec(jwk, crv, &pkey));
    else if (strcmp(kty, "OKP") == 0)
        VMESH_GUARD(jwk_okp(jwk, crv, &pkey));
    else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "JWK: kty \"%.32s\" is not supported: use EC (P-256, P-384) or OKP (Ed25519)",
                   kty);
    VMESH_GUARD(wrap(pkey, &k));
    pkey = NULL;
    rc = check_key(k->pkey, k->priv);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "JWK");
        goto out;
    }
    VMESH_ENSURE(k->priv == (json_object_get(jwk, "d") != NULL), VMESH_ERR_CRYPTO,
                 "JWK: private part lost while importing");
    *out = k;
    k = NULL;
out:
    vmesh_crypto_key_free(k);
    EVP_PKEY_free(pkey);
    json_decref(jwk);
    return rc;
}

/* The DER SubjectPublicKeyInfo of our three key types has a fixed prefix
 * (RFC 5480 §2 with an uncompressed point, RFC 8410 §4): recognising it
 * skips OpenSSL's generic decoder, which costs more than a signature
 * check, on the per-session path that parses a peer's attestation key. */
static const uint8_t spki_p256[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                    0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
static const uint8_t spki_p384[] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                                    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04};
static const uint8_t spki_ed25519[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

/* Sets *matched when der has one of the fixed prefixes; then *out is the
 * key or an error says why the point was refused. */
static vmesh_err spki_fast(const uint8_t *der, size_t n, bool *matched, EVP_PKEY **out)
{
    vmesh_err rc = VMESH_OK;

    *matched = true;
    if (n == sizeof(spki_p256) + 64 && memcmp(der, spki_p256, sizeof(spki_p256)) == 0) {
        rc = ec_from_point("P-256", der + sizeof(spki_p256) - 1, 65, NULL, out);
    } else if (n == sizeof(spki_p384) + 96 && memcmp(der, spki_p384, sizeof(spki_p384)) == 0) {
        rc = ec_from_point("P-384", der + sizeof(spki_p384) - 1, 97, NULL, out);
    } else if (n == sizeof(spki_ed25519) + 32 &&
               memcmp(der, spki_ed25519, sizeof(spki_ed25519)) == 0) {
        *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der + sizeof(spki_ed25519), 32);
        VMESH_ENSURE(*out != NULL, VMESH_ERR_PARSE, "invalid Ed25519 public key");
    } else {
        *matched = false;
    }
out:
    ERR_clear_error();
    return rc;
}

vmesh_err vmesh_crypto_key_from_spki(const uint8_t *der, size_t n, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY *pkey = NULL;
    const unsigned char *p = der;
    bool matched = false;

    VMESH_ENSURE(der != NULL && out != NULL, VMESH_ERR_ARG, "key from SPKI: missing argument");
    *out = NULL;
    VMESH_ENSURE(n > 0 && n <= KEY_INPUT_MAX, VMESH_ERR_PARSE,
                 "SubjectPublicKeyInfo of %zu bytes: expected 1 to %zu", n, KEY_INPUT_MAX);
    VMESH_GUARD(spki_fast(der, n, &matched, &pkey));
    if (!matched) {
        pkey = d2i_PUBKEY(NULL, &p, (long)n);
        if (pkey == NULL) {
            ERR_clear_error();
            VMESH_FAIL(VMESH_ERR_PARSE, "not a DER SubjectPublicKeyInfo");
        }
    } else {
        p = der + n;
    }
    VMESH_ENSURE(p == der + n, VMESH_ERR_PARSE, "%zu trailing bytes after the SubjectPublicKeyInfo",
                 (size_t)(der + n - p));
    VMESH_GUARD(wrap(pkey, out));
    pkey = NULL;
    rc = check_key((*out)->pkey, false);
    if (rc != VMESH_OK) {
        vmesh_crypto_key_free(*out);
        *out = NULL;
    }
out:
    EVP_PKEY_free(pkey);
    return rc;
}

/* ---- PEM / DER --------------------------------------------------------- */

static bool has_label(const uint8_t *p, size_t n, const char *label)
{
    size_t l = strlen(label);

    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(p + i, label, l) == 0)
            return true;
    return false;
}

static vmesh_err parse_pem(const uint8_t *p, size_t n, EVP_PKEY **pkey, bool *want_priv)
{
    vmesh_err rc = VMESH_OK;
    BIO *bio = BIO_new_mem_buf(p, (int)n);

    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "PEM: out of memory");
    /* PKCS#8 "PRIVATE KEY" and SEC1 "EC PRIVATE KEY" are both read by
     * PEM_read_bio_PrivateKey; "PUBLIC KEY" is an SPKI. */
    if (has_label(p, n, "PRIVATE KEY-----")) {
        *want_priv = true;
        if (has_label(p, n, "ENCRYPTED PRIVATE KEY"))
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "PEM: encrypted private keys are not supported");
        *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    } else if (has_label(p, n, "-----BEGIN PUBLIC KEY-----")) {
        *want_priv = false;
        *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    } else {
        VMESH_FAIL(VMESH_ERR_PARSE,
                   "PEM: no \"PRIVATE KEY\", \"EC PRIVATE KEY\" or \"PUBLIC KEY\" block");
    }
    if (*pkey == NULL) {
        ERR_clear_error();
        VMESH_FAIL(VMESH_ERR_PARSE, "PEM: the key block could not be decoded");
    }
out:
    BIO_free(bio);
    return rc;
}

static vmesh_err parse_der(const uint8_t *p, size_t n, EVP_PKEY **pkey, bool *want_priv)
{
    vmesh_err rc = VMESH_OK;
    const unsigned char *q = p;
    bool matched = false;

    /* Our own SPKI encodings first: cheap, and exact. */
    VMESH_GUARD(spki_fast(p, n, &matched, pkey));
    if (matched) {
        *want_priv = false;
        goto out;
    }
    *pkey = d2i_AutoPrivateKey(NULL, &q, (long)n);
    *want_priv = true;
    if (*pkey == NULL || q != p + n) {
        EVP_PKEY_free(*pkey);
        ERR_clear_error();
        q = p;
        *want_priv = false;
        *pkey = d2i_PUBKEY(NULL, &q, (long)n);
        if (*pkey != NULL && q != p + n) {
            EVP_PKEY_free(*pkey);
            *pkey = NULL;
        }
    }
    if (*pkey == NULL) {
        ERR_clear_error();
        VMESH_FAIL(VMESH_ERR_PARSE,
                   "not a key: expected PEM, DER (PKCS#8, SEC1 or SubjectPublicKeyInfo) or a JWK");
    }
out:
    return rc;
}

vmesh_err vmesh_crypto_key_parse(const uint8_t *p, size_t n, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY *pkey = NULL;
    vmesh_key *k = NULL;
    bool want_priv = false;
    size_t i = 0;

    VMESH_ENSURE(p != NULL && out != NULL, VMESH_ERR_ARG, "key parse: missing argument");
    *out = NULL;
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "key: empty input");
    VMESH_ENSURE(n <= KEY_INPUT_MAX, VMESH_ERR_TOO_LARGE, "key input of %zu bytes: the cap is %zu",
                 n, KEY_INPUT_MAX);
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i < n && p[i] == '{') {
        rc = vmesh_crypto_key_from_jwk((const char *)p, n, out);
        goto out;
    }
    if (has_label(p, n, "-----BEGIN "))
        VMESH_GUARD(parse_pem(p, n, &pkey, &want_priv));
    else
        VMESH_GUARD(parse_der(p, n, &pkey, &want_priv));
    VMESH_GUARD(wrap(pkey, &k));
    pkey = NULL;
    VMESH_ENSURE(k->priv == want_priv, VMESH_ERR_PARSE, "key: %s block without %s key",
                 want_priv ? "private" : "public", want_priv ? "a private" : "a public");
    VMESH_GUARD(check_key(k->pkey, k->priv));
    *out = k;
    k = NULL;
out:
    vmesh_crypto_key_free(k);
    EVP_PKEY_free(pkey);
    return rc;
}

vmesh_err vmesh_crypto_key_load(const char *path, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    b.secret = true;
    VMESH_ENSURE(path != NULL && out != NULL, VMESH_ERR_ARG, "key load: missing argument");
    *out = NULL;
    rc = vmesh_file_read(path, KEY_INPUT_MAX, &b);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "reading key %s", path);
        goto out;
    }
    rc = vmesh_crypto_key_parse(b.data, b.len, out);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "key %s", path);
out:
    vmesh_buf_free(&b);
    return rc;
}

/* ---- serialisation ----------------------------------------------------- */

static vmesh_err bio_to_buf(BIO *bio, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);

    VMESH_ENSURE(len >= 0 && data != NULL, VMESH_ERR_CRYPTO, "empty key encoding");
    VMESH_GUARD(vmesh_buf_append(out, data, (size_t)len));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    return rc;
}

vmesh_err vmesh_crypto_key_to_pem(const vmesh_key *k, bool with_private, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    BIO *bio = NULL;
    int ok;

    VMESH_ENSURE(k != NULL && out != NULL, VMESH_ERR_ARG, "key to PEM: missing argument");
    VMESH_ENSURE(!with_private || k->priv, VMESH_ERR_ARG,
                 "key to PEM: this is a public key, there is no private key to write");
    /* Secure-heap memory BIO: cleansed when freed. */
    bio = BIO_new(with_private ? BIO_s_secmem() : BIO_s_mem());
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "key to PEM: out of memory");
    if (with_private)
        ok = PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL);
    else
        ok = PEM_write_bio_PUBKEY(bio, k->pkey);
    if (ok != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "writing PEM");
        goto out;
    }
    if (with_private)
        out->secret = true;
    VMESH_GUARD(bio_to_buf(bio, out));
out:
    BIO_free(bio);
    return rc;
}

vmesh_err vmesh_crypto_key_to_spki(const vmesh_key *k, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    unsigned char *der = NULL, *p = NULL, *cached, *expected = NULL;
    size_t n;
    int len;

    VMESH_ENSURE(k != NULL && out != NULL, VMESH_ERR_ARG, "key to SPKI: missing argument");
    cached = atomic_load_explicit(&((vmesh_key *)k)->spki, memory_order_acquire);
    if (cached != NULL) {
        memcpy(&n, cached, sizeof(n));
        return vmesh_buf_append(out, cached + sizeof(n), n);
    }
    len = i2d_PUBKEY(k->pkey, &der);
    if (len <= 0) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "encoding SubjectPublicKeyInfo");
        goto out;
    }
    VMESH_GUARD(vmesh_buf_append(out, der, (size_t)len));
    /* Keep it for the next call; another thread may have been first. */
    n = (size_t)len;
    p = malloc(sizeof(n) + n);
    if (p != NULL) {
        memcpy(p, &n, sizeof(n));
        memcpy(p + sizeof(n), der, n);
        if (atomic_compare_exchange_strong_explicit(&((vmesh_key *)k)->spki, &expected, p, memory_order_acq_rel,
                                                    memory_order_acquire))
            p = NULL;
    }
out:
    free(p);
    OPENSSL_free(der);
    return rc;
}

/* Raw key components, fixed length: x, y (EC only) and d (if asked). */
typedef struct {
    uint8_t x[48], y[48], d[48];
    size_t fs;
} raw_key;

static vmesh_err raw_components(const vmesh_key *k, bool with_d, raw_key *r)
{
    vmesh_err rc = VMESH_OK;
    BIGNUM *bx = NULL, *by = NULL, *bd = NULL;
    size_t len;

    r->fs = vmesh_crypto_key_field_size(k->type);
    if (k->type == VMESH_KEY_ED25519) {
        len = r->fs;
        VMESH_ENSURE(EVP_PKEY_get_raw_public_key(k->pkey, r->x, &len) == 1 && len == r->fs,
                     VMESH_ERR_CRYPTO, "reading the Ed25519 public key failed");
        if (with_d) {
            len = r->fs;
            VMESH_ENSURE(EVP_PKEY_get_raw_private_key(k->pkey, r->d, &len) == 1 && len == r->fs,
                         VMESH_ERR_CRYPTO, "reading the Ed25519 private key failed");
        }
        goto out;
    }
    VMESH_ENSURE(EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
                     EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1,
                 VMESH_ERR_CRYPTO, "reading the EC public point failed");
    VMESH_ENSURE(BN_bn2binpad(bx, r->x, (int)r->fs) == (int)r->fs &&
                     BN_bn2binpad(by, r->y, (int)r->fs) == (int)r->fs,
                 VMESH_ERR_CRYPTO, "EC coordinate larger than the curve");
    if (with_d) {
        VMESH_ENSURE(EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bd) == 1,
                     VMESH_ERR_CRYPTO, "reading the EC private key failed");
        VMESH_ENSURE(BN_bn2binpad(bd, r->d, (int)r->fs) == (int)r->fs, VMESH_ERR_CRYPTO,
                     "EC private key larger than the curve");
    }
out:
    ERR_clear_error();
    BN_free(bx);
    BN_free(by);
    BN_clear_free(bd);
    return rc;
}

static vmesh_err append_b64url(vmesh_buf *out, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf t = {0};

    t.secret = true;
    VMESH_GUARD(vmesh_b64url_encode(p, n, &t));
    VMESH_GUARD(vmesh_buf_append(out, t.data, t.len));
out:
    vmesh_buf_free(&t);
    return rc;
}

static vmesh_err append_str(vmesh_buf *out, const char *s)
{
    return vmesh_buf_append(out, s, strlen(s));
}

/* Writes the JWK members in the lexicographic order that RFC 7638 §3.2
 * requires for the thumbprint input ("crv", "kty", "x", "y"), then "d":
 * the same text serves as export and, without "d", as thumbprint input. */
static vmesh_err jwk_text(const vmesh_key *k, bool with_private, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    raw_key r;
    bool ec = k->type != VMESH_KEY_ED25519;

    memset(&r, 0, sizeof(r));
    VMESH_GUARD(raw_components(k, with_private, &r));
    if (with_private)
        out->secret = true;
    VMESH_GUARD(append_str(out, "{\"crv\":\""));
    VMESH_GUARD(append_str(out, k->type == VMESH_KEY_EC_P256   ? "P-256"
                                : k->type == VMESH_KEY_EC_P384 ? "P-384"
                                                               : "Ed25519"));
    VMESH_GUARD(append_str(out, ec ? "\",\"kty\":\"EC\",\"x\":\"" : "\",\"kty\":\"OKP\",\"x\":\""));
    VMESH_GUARD(append_b64url(out, r.x, r.fs));
    if (ec) {
        VMESH_GUARD(append_str(out, "\",\"y\":\""));
        VMESH_GUARD(append_b64url(out, r.y, r.fs));
    }
    if (with_private) {
        VMESH_GUARD(append_str(out, "\",\"d\":\""));
        VMESH_GUARD(append_b64url(out, r.d, r.fs));
    }
    VMESH_GUARD(append_str(out, "\"}"));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    OPENSSL_cleanse(&r, sizeof(r));
    return rc;
}

vmesh_err vmesh_crypto_key_to_jwk(const vmesh_key *k, bool with_private, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(k != NULL && out != NULL, VMESH_ERR_ARG, "key to JWK: missing argument");
    VMESH_ENSURE(!with_private || k->priv, VMESH_ERR_ARG,
                 "key to JWK: this is a public key, there is no private key to write");
    VMESH_GUARD(jwk_text(k, with_private, out));
out:
    return rc;
}

/* RFC 7638 §3: "The thumbprint of the JWK is computed as the hash of the
 * UTF-8 octets of the JSON object ... containing only the required members
 * ... with no whitespace or line breaks ... in lexicographic order". */
vmesh_err vmesh_crypto_key_thumbprint(const vmesh_key *k, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf t = {0};
    unsigned char *cached, *p = NULL, *expected = NULL;

    VMESH_ENSURE(k != NULL && out != NULL, VMESH_ERR_ARG, "key thumbprint: missing argument");
    cached = atomic_load_explicit(&((vmesh_key *)k)->thumbprint, memory_order_acquire);
    if (cached != NULL) {
        memcpy(out, cached, 32);
        return VMESH_OK;
    }
    VMESH_GUARD(jwk_text(k, false, &t));
    vmesh_crypto_sha256(t.data, t.len, out);
    /* Keep it for the next call; another thread may have been first. */
    p = malloc(32);
    if (p != NULL) {
        memcpy(p, out, 32);
        if (atomic_compare_exchange_strong_explicit(&((vmesh_key *)k)->thumbprint, &expected, p,
                                                    memory_order_acq_rel, memory_order_acquire))
            p = NULL;
    }
out:
    free(p);
    vmesh_buf_free(&t);
    return rc;
}

vmesh_err vmesh_crypto_key_save(const vmesh_key *k, const char *path, bool with_private, bool jwk)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    b.secret = true;
    VMESH_ENSURE(k != NULL && path != NULL, VMESH_ERR_ARG, "key save: missing argument");
    if (jwk) {
        VMESH_GUARD(vmesh_crypto_key_to_jwk(k, with_private, &b));
        VMESH_GUARD(vmesh_buf_append_u8(&b, '\n'));
    } else {
        VMESH_GUARD(vmesh_crypto_key_to_pem(k, with_private, &b));
    }
    rc = vmesh_file_write(path, b.data, b.len, with_private ? 0600 : 0644);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "saving key to %s", path);
out:
    vmesh_buf_free(&b);
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

vmesh_key_type vmesh_crypto_key_type(const vmesh_key *k)
{
    return k->type;
}

bool vmesh_crypto_key_is_private(const vmesh_key *k)
{
    return k != NULL && k->priv;
}

int vmesh_crypto_key_cose_alg(const vmesh_key *k)
{
    switch (k->type) {
    case VMESH_KEY_EC_P256:
        return VMESH_COSE_ALG_ES256;
    case VMESH_KEY_EC_P384:
        return VMESH_COSE_ALG_ES384;
    case VMESH_KEY_ED25519:
        return VMESH_COSE_ALG_EDDSA;
    }
    return 0;
}

const char *vmesh_crypto_key_jws_alg(const vmesh_key *k)
{
    switch (k->type) {
    case VMESH_KEY_EC_P256:
        return "ES256";
    case VMESH_KEY_EC_P384:
        return "ES384";
    case VMESH_KEY_ED25519:
        return "EdDSA";
    }
    return "none";
}

void *vmesh_crypto_key_evp(const vmesh_key *k)
{
    return k ? k->pkey : NULL;
}

bool vmesh_crypto_key_equal(const vmesh_key *a, const vmesh_key *b)
{
    bool eq;

    if (a == NULL || b == NULL)
        return false;
    eq = a->type == b->type && EVP_PKEY_eq(a->pkey, b->pkey) == 1;
    ERR_clear_error();
    return eq;
}

vmesh_key *vmesh_crypto_key_ref(vmesh_key *k)
{
    if (k != NULL)
        atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    return k;
}

void vmesh_crypto_key_free(vmesh_key *k)
{
    if (k == NULL)
        return;
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    vmesh_crypto_key_ctx_free(k);
    /* EVP_PKEY_free cleanses the key material it holds. */
    EVP_PKEY_free(k->pkey);
    free(atomic_load(&k->spki));
    free(atomic_load(&k->thumbprint));
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}
