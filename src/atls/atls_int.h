/*
 * Internal declarations shared by the files of the atls module only.
 * Nothing outside src/atls may include this.
 */
#ifndef VMESH_ATLS_INT_H
#define VMESH_ATLS_INT_H

#include "vmesh/atls.h"
#include "vmesh/cbor.h"
#include "vmesh/crypto.h"

#include <openssl/x509.h>

/* chaincache.c: the chain-validation cache of one configuration (D52) */
typedef struct atls_chain_cache atls_chain_cache;
/* NULL when slots is 0 or memory is short (no cache: every chain validated) */
atls_chain_cache *atls_chain_cache_new(size_t slots);
void atls_chain_cache_free(atls_chain_cache *c);
void atls_chain_cache_clear(atls_chain_cache *c);
/* The key of the peer's chain in x (false: not cacheable, validate it). */
bool atls_chain_cache_key(X509_STORE_CTX *x, uint8_t key[32]);
/* A validation of this chain is on record and still good at now. */
bool atls_chain_cache_hit(atls_chain_cache *c, const uint8_t key[32], int64_t now);
/* Records x's successful validation (its built chain's validity window). */
void atls_chain_cache_put(atls_chain_cache *c, const uint8_t key[32], X509_STORE_CTX *x, int64_t now);
size_t atls_chain_cache_used(atls_chain_cache *c);
/* Counts a peer chain accepted from the cache (cached) or validated in full. */
void atls_chain_count(bool cached);

#endif
