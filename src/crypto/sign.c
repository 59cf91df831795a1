/*
 * Signatures in the raw form COSE and JOSE use (ECDSA r||s of fixed size,
 * Ed25519's 64 bytes), digests, randomness and constant-time comparison.
 * This is on the hot path of every appraisal: it must never re-parse a key
 * per call, and verify must never accept a signature of the wrong length or
 * crash on one.
 */
#include "key_int.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>

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

vmesh_err vmesh_crypto_sign(const vmesh_key *k, const uint8_t *msg, size_t n, vmesh_buf *sig)
{
    vmesh_err rc = VMESH_OK;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *es = NULL;
    uint8_t der[DER_SIG_MAX];
    size_t der_len = sizeof(der);
    size_t fs;

    VMESH_ENSURE(k != NULL && sig != NULL && (msg != NULL || n == 0), VMESH_ERR_ARG,
                 "sign: missing argument");
    VMESH_ENSURE(k->priv, VMESH_ERR_ARG, "sign: this is a public key, a private key is needed");
    fs = vmesh_crypto_key_field_size(k->type);
    md = EVP_MD_CTX_new();
    VMESH_ENSURE(md != NULL, VMESH_ERR_NOMEM, "sign: out of memory");
    if (EVP_DigestSignInit(md, NULL, key_md(k->type), NULL, k->pkey) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "sign: init");
        goto out;
    }
    if (k->type == VMESH_KEY_ED25519) {
        size_t len = 64;
        VMESH_GUARD(vmesh_buf_reserve(sig, 64));
        if (EVP_DigestSign(md, sig->data + sig->len, &len, msg ? msg : (const uint8_t *)"", n) != 1 ||
            len != 64) {
            rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "sign: Ed25519");
            goto out;
        }
        sig->len += 64;
        goto out;
    }
    if (EVP_DigestSign(md, der, &der_len, msg ? msg : (const uint8_t *)"", n) != 1) {
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
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return rc;
}

/* Raw r||s to DER ECDSA-Sig-Value. */
static vmesh_err raw_to_der(const uint8_t *sig, size_t fs, uint8_t *der, size_t *der_len)
{
    vmesh_err rc = VMESH_OK;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)fs, NULL);
    BIGNUM *s = BN_bin2bn(sig + fs, (int)fs, NULL);
    unsigned char *p = der;
    int len;

    VMESH_ENSURE(es != NULL && r != NULL && s != NULL, VMESH_ERR_NOMEM, "verify: out of memory");
    VMESH_ENSURE(ECDSA_SIG_set0(es, r, s) == 1, VMESH_ERR_NOMEM, "verify: out of memory");
    r = s = NULL;
    len = i2d_ECDSA_SIG(es, NULL);
    VMESH_ENSURE(len > 0 && (size_t)len <= *der_len, VMESH_ERR_CRYPTO,
                 "verify: cannot encode the ECDSA signature");
    len = i2d_ECDSA_SIG(es, &p);
    VMESH_ENSURE(len > 0, VMESH_ERR_CRYPTO, "verify: cannot encode the ECDSA signature");
    *der_len = (size_t)len;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}

vmesh_err vmesh_crypto_verify(const vmesh_key *k, const uint8_t *msg, size_t n, const uint8_t *sig,
                              size_t sig_len)
{
    vmesh_err rc = VMESH_OK;
    EVP_MD_CTX *md = NULL;
    uint8_t der[DER_SIG_MAX];
    size_t der_len = sizeof(der);
    const uint8_t *vsig = sig;
    size_t vlen = sig_len;
    size_t want;
    int ok;

    VMESH_ENSURE(k != NULL && (sig != NULL || sig_len == 0) && (msg != NULL || n == 0),
                 VMESH_ERR_ARG, "verify: missing argument");
    want = sig_size(k->type);
    VMESH_ENSURE(sig_len == want, VMESH_ERR_SIGNATURE,
                 "signature is %zu bytes, expected %zu for %s", sig_len, want,
                 vmesh_crypto_key_jws_alg(k));
    if (k->type != VMESH_KEY_ED25519) {
        VMESH_GUARD(raw_to_der(sig, want / 2, der, &der_len));
        vsig = der;
        vlen = der_len;
    }
    md = EVP_MD_CTX_new();
    VMESH_ENSURE(md != NULL, VMESH_ERR_NOMEM, "verify: out of memory");
    if (EVP_DigestVerifyInit(md, NULL, key_md(k->type), NULL, k->pkey) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "verify: init");
        goto out;
    }
    ok = EVP_DigestVerify(md, vsig, vlen, msg ? msg : (const uint8_t *)"", n);
    ERR_clear_error();
    VMESH_ENSURE(ok == 1, VMESH_ERR_SIGNATURE, "%s signature does not verify with this key",
                 vmesh_crypto_key_jws_alg(k));
out:
    EVP_MD_CTX_free(md);
    return rc;
}

/* ---- digests, random, comparison --------------------------------------- */

void vmesh_crypto_sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;

    if (EVP_Digest(p ? p : (const uint8_t *)"", n, out, &len, EVP_sha256(), NULL) != 1)
        OPENSSL_cleanse(out, 32); /* cannot happen short of a broken library */
}

void vmesh_crypto_sha384(const uint8_t *p, size_t n, uint8_t out[48])
{
    unsigned int len = 48;

    if (EVP_Digest(p ? p : (const uint8_t *)"", n, out, &len, EVP_sha384(), NULL) != 1)
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
    VMESH_ENSURE(md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, VMESH_ERR_CRYPTO,
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
