/*
 * Internal layout of vmesh_key, shared by the files of the crypto module
 * only. Nothing outside src/crypto may include this: the struct stays opaque.
 */
#ifndef VMESH_CRYPTO_KEY_INT_H
#define VMESH_CRYPTO_KEY_INT_H

#include "vmesh/crypto.h"

#include <openssl/evp.h>
#include <stdatomic.h>

#define VMESH_KEY_CTX_SLOTS 4 /* contexts kept per key and operation: threads signing with it at once */

struct vmesh_key {
    EVP_PKEY *pkey;      /* owned reference */
    vmesh_key_type type;
    bool priv;           /* holds a private key */
    atomic_int refs;
    /* The SubjectPublicKeyInfo DER, encoded at the first
     * vmesh_crypto_key_to_spki and kept (the public key never changes):
     * a size_t length, then the bytes. Encoding it costs an OpenSSL encoder
     * look-up, and appraisals ask for it per key they consider (the RV
     * lookup journal, D43). Freed with the key. */
    _Atomic(unsigned char *) spki;
    /* The RFC 7638 thumbprint (32 bytes), kept from the first
     * vmesh_crypto_key_thumbprint the same way: a relying party names the
     * verifier key of every central result by it, and computing it reads
     * the EC point's affine coordinates (a field inversion). */
    _Atomic(unsigned char *) thumbprint;
    /* Signature contexts of this key, initialised for signing / verifying
     * and reused (sign.c): creating one looks the key's algorithm up in the
     * provider store, a tenth of a signature check's cost. A caller takes
     * one out of a slot (or makes one) and puts it back into an empty slot
     * (or frees it); freed with the key, so no context outlives its key. */
    _Atomic(EVP_PKEY_CTX *) sign_ctx[VMESH_KEY_CTX_SLOTS];
    _Atomic(EVP_PKEY_CTX *) verify_ctx[VMESH_KEY_CTX_SLOTS];
};

/* Frees the contexts kept in k's slots (key.c, when the key goes). */
void vmesh_crypto_key_ctx_free(struct vmesh_key *k);

/* Size in bytes of one coordinate / scalar (32, 48) or of an Ed25519 key. */
size_t vmesh_crypto_key_field_size(vmesh_key_type t);

#endif
