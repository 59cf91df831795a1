/*
 * Internal layout of vmesh_key, shared by the files of the crypto module
 * only. Nothing outside src/crypto may include this: the struct stays opaque.
 */
#ifndef VMESH_CRYPTO_KEY_INT_H
#define VMESH_CRYPTO_KEY_INT_H

#include "vmesh/crypto.h"

#include <openssl/evp.h>
#include <stdatomic.h>

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
};

/* Size in bytes of one coordinate / scalar (32, 48) or of an Ed25519 key. */
size_t vmesh_crypto_key_field_size(vmesh_key_type t);

#endif
