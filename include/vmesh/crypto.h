/*
 * vmesh crypto: keys (EC P-256, EC P-384, Ed25519) loaded from PEM, DER or
 * JWK, signatures in the raw form that COSE and JOSE use (r||s for ECDSA),
 * digests and randomness, all over OpenSSL 3. Private keys are never logged
 * and are freed with their memory cleansed.
 */
#ifndef VMESH_CRYPTO_H
#define VMESH_CRYPTO_H

#include "vmesh/core.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

typedef struct vmesh_key vmesh_key;

typedef enum {
    VMESH_KEY_EC_P256 = 1,
    VMESH_KEY_EC_P384,
    VMESH_KEY_ED25519,
} vmesh_key_type;

/* COSE algorithm identifiers (RFC 9053) used by vmesh. */
#define VMESH_COSE_ALG_ES256 (-7)
#define VMESH_COSE_ALG_ES384 (-35)
#define VMESH_COSE_ALG_EDDSA (-8)

/* Parses "ec-p256", "ec-p384", "ed25519" (as on the command line). */
vmesh_err vmesh_crypto_key_type_parse(const char *s, vmesh_key_type *out) VMESH_WUR;
const char *vmesh_crypto_key_type_name(vmesh_key_type t);

vmesh_err vmesh_crypto_key_generate(vmesh_key_type t, vmesh_key **out) VMESH_WUR;
/* Loads a private or public key from a file: PEM (PKCS#8, SEC1, SPKI),
 * DER, or a JWK JSON object; the format is detected. */
vmesh_err vmesh_crypto_key_load(const char *path, vmesh_key **out) VMESH_WUR;
/* Same, from memory. */
vmesh_err vmesh_crypto_key_parse(const uint8_t *p, size_t n, vmesh_key **out) VMESH_WUR;
/* JWK (RFC 7517/7518/8037): kty EC (P-256, P-384) or OKP (Ed25519);
 * with "d" it is a private key. */
vmesh_err vmesh_crypto_key_from_jwk(const char *json, size_t n, vmesh_key **out) VMESH_WUR;
/* SubjectPublicKeyInfo DER. */
vmesh_err vmesh_crypto_key_from_spki(const uint8_t *der, size_t n, vmesh_key **out) VMESH_WUR;
/* Takes a reference on an OpenSSL key (the caller keeps its own). */
vmesh_err vmesh_crypto_key_from_evp(void *evp_pkey, vmesh_key **out) VMESH_WUR;

/* Serialisation. `with_private` is refused for a public-only key. */
vmesh_err vmesh_crypto_key_to_pem(const vmesh_key *k, bool with_private, vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_crypto_key_to_jwk(const vmesh_key *k, bool with_private, vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_crypto_key_to_spki(const vmesh_key *k, vmesh_buf *out) VMESH_WUR;
/* RFC 7638 JWK thumbprint (SHA-256) of the public key. */
vmesh_err vmesh_crypto_key_thumbprint(const vmesh_key *k, uint8_t out[32]) VMESH_WUR;
/* Writes PEM (or JWK when jwk is true) with mode 0600 for private keys. */
vmesh_err vmesh_crypto_key_save(const vmesh_key *k, const char *path, bool with_private,
                                bool jwk) VMESH_WUR;

vmesh_key_type vmesh_crypto_key_type(const vmesh_key *k);
bool vmesh_crypto_key_is_private(const vmesh_key *k);
int vmesh_crypto_key_cose_alg(const vmesh_key *k);     /* -7, -35, -8 */
const char *vmesh_crypto_key_jws_alg(const vmesh_key *k); /* "ES256", "ES384", "EdDSA" */
/* The OpenSSL EVP_PKEY (borrowed; valid while the key lives). */
void *vmesh_crypto_key_evp(const vmesh_key *k);
/* True when both hold the same public key. */
bool vmesh_crypto_key_equal(const vmesh_key *a, const vmesh_key *b);
vmesh_key *vmesh_crypto_key_ref(vmesh_key *k); /* +1 reference; returns k */
void vmesh_crypto_key_free(vmesh_key *k);        /* -1 reference; NULL is fine */

/* Signatures in COSE/JWS form: ECDSA as fixed-size r||s (64 or 96 bytes),
 * Ed25519 as its 64 bytes. The hash is SHA-256 for P-256, SHA-384 for
 * P-384 (RFC 9053 §2.1), none for Ed25519. Verify returns
 * VMESH_ERR_SIGNATURE when the signature does not match. */
vmesh_err vmesh_crypto_sign(const vmesh_key *k, const uint8_t *msg, size_t n,
                            vmesh_buf *sig) VMESH_WUR;
vmesh_err vmesh_crypto_verify(const vmesh_key *k, const uint8_t *msg, size_t n,
                              const uint8_t *sig, size_t sig_len) VMESH_WUR;

/* Digests. */
void vmesh_crypto_sha256(const uint8_t *p, size_t n, uint8_t out[32]);
void vmesh_crypto_sha384(const uint8_t *p, size_t n, uint8_t out[48]);
vmesh_err vmesh_crypto_sha256_file(const char *path, uint8_t out[32]) VMESH_WUR;
vmesh_err vmesh_crypto_random(uint8_t *p, size_t n) VMESH_WUR;
/* Constant-time comparison. */
bool vmesh_crypto_memeq(const void *a, const void *b, size_t n);
/* HMAC-SHA-256 (RFC 2104) of msg under key (key_len > 0). */
vmesh_err vmesh_crypto_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t n,
                                   uint8_t out[32]) VMESH_WUR;
/* Overwrites n bytes at p with zeros in a way the compiler keeps. */
void vmesh_crypto_cleanse(void *p, size_t n);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
