/*
 * Signatures in the raw form COSE and JOSE use (ECDSA r||s of fixed size,
 * Ed25519's 64 bytes), digests, randomness and constant-time comparison.
 * This is on the hot path of every appraisal: it must never re-parse a key
 * per call, and verify must never accept a signature of the wrong length or
 * crash on one.
 */
#include "key_int.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Longest DER ECDSA-Sig-Value for P-384: SEQUENCE { 2 x INTEGER(49) }. */
#define DER_SIG_MAX 112

/* Digests fetched once: OpenSSL 3 resolves EVP_sha256() through the
 * provider store on every Init, which costs a quarter of a signature. */
static EVP_MD *md_sha256, *md_sha384;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    md_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
}

static const EVP_MD *key_md(vmesh_key_type t)
{
    pthread_once(&md_once, fetch_mds);
    /* RFC 9053 §2.1: ES256 uses SHA-256, ES384 uses SHA-384. EdDSA hashes
     * internally (pure Ed25519), so no digest is given. */
    switch (t) {
    case VMESH_KEY_EC_P256:
        return md_sha256 ? md_sha256 : EVP_sha256();
    case VMESH_KEY_EC_P384:
        return md_sha384 ? md_sha384 : EVP_sha384();
    case VMESH_KEY_ED25519:
        return NULL;
    }
    return NULL;
}

static size_t sig_size(vmesh_key_type t)
{
    /* RFC 9053 §2.1: the signature is r||s, each "padded to the size of
     * the curve" (32 bytes for P-256, 48 for P-384); Ed25519 is 64 bytes. */
    return 2 * vmesh_crypto_key_field_size(t);
}

/* ---- the key's reusable signature contexts ---------------------------------- */

static _Atomic(EVP_PKEY_CTX *) *ctx_slots(const vmesh_key *k, bool sign)
{
    /* the slots are the key's cache, not its value: const callers may use them */
    vmesh_key *m = (vmesh_key *)k;

    return sign ? m->sign_ctx : m->verify_ctx;
}

/* A context of k's, initialised for signing or verifying a digest: one
 * kept in a slot, else a new one. NULL (OpenSSL's error queued) on failure. */
static EVP_PKEY_CTX *ctx_take(const vmesh_key *k, bool sign)
{
    _Atomic(EVP_PKEY_CTX *) *slot = ctx_slots(k, sign);
    EVP_PKEY_CTX *c;

    for (size_t i = 0; i < VMESH_KEY_CTX_SLOTS; i++)
        if ((c = atomic_exchange(&slot[i], NULL)) != NULL)
            return c;
    c = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (c != NULL && (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) != 1) {
        EVP_PKEY_CTX_free(c);
        c = NULL;
    }
    return c;
}

/* Puts c back into an empty slot of k's, or frees it. */
static void ctx_give(const vmesh_key *k, bool sign, EVP_PKEY_CTX *c)
{
    _Atomic(EVP_PKEY_CTX *) *slot = ctx_slots(k, sign);

    for (size_t i = 0; i < VMESH_KEY_CTX_SLOTS && c != NULL; i++) {
        EVP_PKEY_CTX *empty = NULL;
        if (atomic_compare_exchange_strong(&slot[i], &empty, c))
            c = NULL;
    }
    EVP_PKEY_CTX_free(c);
}

void vmesh_crypto_key_ctx_free(vmesh_key *k)
{
    for (size_t i = 0; i < VMESH_KEY_CTX_SLOTS; i++) {
        EVP_PKEY_CTX_free(atomic_exchange(&k->sign_ctx[i], NULL));
        EVP_PKEY_CTX_free(atomic_exchange(&k->verify_ctx[i], NULL));
    }
}

/* The message's digest for an ECDSA key (SHA-256 / SHA-384). */
static vmesh_err ec_digest(const vmesh_key *k, const uint8_t *msg, size_t n, uint8_t out[EVP_MAX_MD_SIZE],
                           unsigned int *len)
{
    if (EVP_Digest(msg ? msg : (const uint8_t *)"", n, out, len, key_md(k->type), NULL) != 1)
        return vmesh_err_ssl(VMESH_ERR_CRYPTO, "digest");
    return VMESH_OK;
}

/* Ed25519 (pure: no digest first) with a context made per call. */
static vmesh_err sign_ed25519(const vmesh_key *k, const uint8_t *msg, size_t n, vmesh_buf *sig)
{
    vmesh_err rc = VMESH_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t len = 64;

    VMESH_ENSURE(md != NULL, VMESH_ERR_NOMEM, "sign: out of memory");
    if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "sign: init");
        goto out;
    }
    VMESH_GUARD(vmesh_buf_reserve(sig, 64));
    if (EVP_DigestSign(md, sig->data + sig->len, &len, msg ? msg : (const uint8_t *)"", n) != 1 || len != 64) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "sign: Ed25519");
        goto out;
    }
    sig->len += 64;
out:
    EVP_MD_CTX_free(md);
    return rc;
}

vmesh_err vmesh_crypto_sign(const vmesh_key *k, const uint8_t *msg, size_t n, vmesh_buf *sig)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY_CTX *c = NULL;
    ECDSA_SIG *es = NULL;
    uint8_t der[DER_SIG_MAX], dg[EVP_MAX_MD_SIZE];
    size_t der_len = sizeof(der);
    unsigned int dg_len = 0;
    size_t fs;

    VMESH_ENSURE(k != NULL && sig != NULL && (msg != NULL || n == 0), VMESH_ERR_ARG,
                 "sign: missing argument");
    VMESH_ENSURE(k->priv, VMESH_ERR_ARG, "sign: this is a public key, a private key is needed");
    if (k->type == VMESH_KEY_ED25519)
        return sign_ed25519(k, msg, n, sig);
    fs = vmesh_crypto_key_field_size(k->type);
    VMESH_GUARD(ec_digest(k, msg, n, dg, &dg_len));
    c = ctx_take(k, true);
    if (c == NULL) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "sign: init");
        goto out;
    }
    if (EVP_PKEY_sign(c, der, &der_len, dg, dg_len) != 1) {
        EVP_PKEY_CTX_free(c); /* not kept after a failure */
        c = NULL;
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "sign: ECDSA");
        goto out;
    }
    {
        const unsigned char *p = der;
        const BIGNUM *r, *s;
        es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
        VMESH_ENSURE(es != NULL, VMESH_ERR_CRYPTO, "sign: OpenSSL returned a malformed signature");
        ECDSA_SIG_get0(es, &r, &s);
        VMESH_GUARD(vmesh_buf_reserve(sig, 2 * fs));
        VMESH_ENSURE(BN_bn2binpad(r, sig->data + sig->len, (int)fs) == (int)fs &&
                         BN_bn2binpad(s, sig->data + sig->len + fs, (int)fs) == (int)fs,
                     VMESH_ERR_CRYPTO, "sign: ECDSA value larger than the curve");
        sig->len += 2 * fs;
    }
out:
    if (c != NULL)
        ctx_give(k, true, c);
    OPENSSL_cleanse(dg, sizeof(dg));
    ECDSA_SIG_free(es);
    return rc;
}

/* One DER INTEGER (X.690 §8.3) of the unsigned big-endian v[0..fs): no
 * leading zero octets beyond one, a 0x00 before a high bit. fs <= 48, so
 * the length is one octet (short form); writes at most fs + 3 octets. */
static size_t der_uint(const uint8_t *v, size_t fs, uint8_t *out)
{
    size_t i = 0, n;

    while (i + 1 < fs && v[i] == 0)
        i++;
    n = fs - i + (v[i] & 0x80 ? 1 : 0);
    out[0] = 0x02;
    out[1] = (uint8_t)n;
    if (v[i] & 0x80)
        out[2] = 0x00;
    memcpy(out + 2 + (n - (fs - i)), v + i, fs - i);
    return 2 + n;
}

/* Raw r||s to DER ECDSA-Sig-Value (RFC 3279 §2.2.3: SEQUENCE { r INTEGER,
 * s INTEGER }), the canonical encoding OpenSSL's check re-encodes to. */
static vmesh_err raw_to_der(const uint8_t *sig, size_t fs, uint8_t *der, size_t *der_len)
{
    vmesh_err rc = VMESH_OK;
    size_t n;

    /* 2 + 2 x (2 + 49) octets at most: within DER_SIG_MAX, content < 128 */
    VMESH_ENSURE(fs >= 1 && fs <= 48 && *der_len >= 2 + 2 * (fs + 3), VMESH_ERR_ARG,
                 "verify: a %zu-byte ECDSA value does not fit", fs);
    n = der_uint(sig, fs, der + 2);
    n += der_uint(sig + fs, fs, der + 2 + n);
    der[0] = 0x30;
    der[1] = (uint8_t)n;
    *der_len = 2 + n;
out:
    return rc;
}

/* Ed25519 (pure) with a context made per call: 1 verifies, 0 does not,
 * -1 an error. */
static int verify_ed25519(const vmesh_key *k, const uint8_t *msg, size_t n, const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = -1;

    if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1)
        ok = EVP_DigestVerify(md, sig, sig_len, msg ? msg : (const uint8_t *)"", n) == 1 ? 1 : 0;
    EVP_MD_CTX_free(md);
    return ok;
}

/* ECDSA over the message's digest with one of k's reusable contexts: 1
 * verifies, 0 does not (also when OpenSSL reports an error on the
 * signature), -1 the digest or a context could not be made. */
static int verify_ec(const vmesh_key *k, const uint8_t *msg, size_t n, const uint8_t *der, size_t der_len)
{
    uint8_t dg[EVP_MAX_MD_SIZE];
    unsigned int dg_len = 0;
    EVP_PKEY_CTX *c;
    int ok;

    if (ec_digest(k, msg, n, dg, &dg_len) != VMESH_OK || (c = ctx_take(k, false)) == NULL)
        return -1;
    ok = EVP_PKEY_verify(c, der, der_len, dg, dg_len);
    if (ok == 1 || ok == 0)
        ctx_give(k, false, c);
    else
        EVP_PKEY_CTX_free(c); /* not kept after an error */
    return ok == 1 ? 1 : 0;
}

vmesh_err vmesh_crypto_verify(const vmesh_key *k, const uint8_t *msg, size_t n, const uint8_t *sig,
                              size_t sig_len)
{
    vmesh_err rc = VMESH_OK;
    uint8_t der[DER_SIG_MAX];
    size_t der_len = sizeof(der);
    size_t want;
    int ok;

    VMESH_ENSURE(k != NULL && (sig != NULL || sig_len == 0) && (msg != NULL || n == 0),
                 VMESH_ERR_ARG, "verify: missing argument");
    want = sig_size(k->type);
    VMESH_ENSURE(sig_len == want, VMESH_ERR_SIGNATURE,
                 "signature is %zu bytes, expected %zu for %s", sig_len, want,
                 vmesh_crypto_key_jws_alg(k));
    if (k->type == VMESH_KEY_ED25519) {
        ok = verify_ed25519(k, msg, n, sig, sig_len);
    } else {
        VMESH_GUARD(raw_to_der(sig, want / 2, der, &der_len));
        ok = verify_ec(k, msg, n, der, der_len);
    }
    ERR_clear_error();
    VMESH_ENSURE(ok >= 0, VMESH_ERR_CRYPTO, "verify: %s context or digest failed", vmesh_crypto_key_jws_alg(k));
    VMESH_ENSURE(ok == 1, VMESH_ERR_SIGNATURE, "%s signature does not verify with this key",
                 vmesh_crypto_key_jws_alg(k));
out:
    return rc;
}

/* ---- digests, random, comparison --------------------------------------- */
/* SHA-256 and SHA-384 with the digests fetched once (key_md): EVP_sha256()
 * is an implicit fetch on every EVP_Digest. */

void vmesh_crypto_sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;

    if (EVP_Digest(p ? p : (const uint8_t *)"", n, out, &len, key_md(VMESH_KEY_EC_P256), NULL) != 1)
        OPENSSL_cleanse(out, 32); /* cannot happen short of a broken library */
}

void vmesh_crypto_sha384(const uint8_t *p, size_t n, uint8_t out[48])
{
    unsigned int len = 48;

    if (EVP_Digest(p ? p : (const uint8_t *)"", n, out, &len, key_md(VMESH_KEY_EC_P384), NULL) != 1)
        OPENSSL_cleanse(out, 48);
}

vmesh_err vmesh_crypto_sha256_file(const char *path, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    EVP_MD_CTX *md = NULL;
    FILE *f = NULL;
    uint8_t chunk[16384];
    size_t got;
    unsigned int len = 32;

    VMESH_ENSURE(path != NULL && out != NULL, VMESH_ERR_ARG, "sha256 file: missing argument");
    f = fopen(path, "rb");
    VMESH_ENSURE(f != NULL, VMESH_ERR_IO, "cannot open %s for reading", path);
    md = EVP_MD_CTX_new();
    VMESH_ENSURE(md != NULL && EVP_DigestInit_ex(md, key_md(VMESH_KEY_EC_P256), NULL) == 1, VMESH_ERR_CRYPTO,
                 "sha256 file: digest init failed");
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        VMESH_ENSURE(EVP_DigestUpdate(md, chunk, got) == 1, VMESH_ERR_CRYPTO,
                     "sha256 file: digest update failed");
    VMESH_ENSURE(!ferror(f), VMESH_ERR_IO, "error reading %s", path);
    VMESH_ENSURE(EVP_DigestFinal_ex(md, out, &len) == 1, VMESH_ERR_CRYPTO,
                 "sha256 file: digest final failed");
out:
    if (f != NULL)
        fclose(f);
    EVP_MD_CTX_free(md);
    return rc;
}

vmesh_err vmesh_crypto_random(uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(p != NULL || n == 0, VMESH_ERR_ARG, "random: no output buffer");
    while (n > 0) {
        int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1) {
            rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "random: RAND_bytes");
            goto out;
        }
        p += chunk;
        n -= (size_t)chunk;
    }
out:
    return rc;
}

bool vmesh_crypto_memeq(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* HMAC-SHA-256 set up once (the MAC and its digest looked up in the
 * provider store), copied per call: EVP_Q_mac would look both up each time. */
static EVP_MAC_CTX *hmac_tmpl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_setup(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    char digest[] = "SHA2-256";
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};

    hmac_tmpl = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (hmac_tmpl != NULL && EVP_MAC_CTX_set_params(hmac_tmpl, params) != 1) {
        EVP_MAC_CTX_free(hmac_tmpl);
        hmac_tmpl = NULL;
    }
    EVP_MAC_free(mac); /* the context keeps its own reference */
}

vmesh_err vmesh_crypto_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t n, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    EVP_MAC_CTX *c = NULL;
    size_t len = 0;

    VMESH_ENSURE(key != NULL && key_len > 0 && (msg != NULL || n == 0) && out != NULL, VMESH_ERR_ARG,
                 "HMAC-SHA-256: missing key, message or output");
    pthread_once(&hmac_once, hmac_setup);
    c = hmac_tmpl != NULL ? EVP_MAC_CTX_dup(hmac_tmpl) : NULL;
    VMESH_ENSURE(c != NULL, VMESH_ERR_CRYPTO, "HMAC-SHA-256 unavailable (OpenSSL)");
    VMESH_ENSURE(EVP_MAC_init(c, key, key_len, NULL) == 1 && EVP_MAC_update(c, msg, n) == 1 &&
                     EVP_MAC_final(c, out, &len, 32) == 1 && len == 32,
                 VMESH_ERR_CRYPTO, "HMAC-SHA-256 failed (OpenSSL)");
out:
    EVP_MAC_CTX_free(c);
    return rc;
}

void vmesh_crypto_cleanse(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}
