/*
 * The chain-validation cache (DECISIONS D52, docs/ATLS.md "Chain
 * validation cache"): a peer that connects again with the same certificate
 * chain is not validated again from scratch. Validating an X509-SVID chain
 * costs one ECDSA verification per certificate above the leaf, and a
 * mutual handshake validates two chains; OpenSSL repeats that work at every
 * full handshake although its outcome depends only on the chain's bytes,
 * the configuration's trust anchors and the time.
 *
 * An entry records that the chain whose certificates (as the peer sent
 * them, leaf first) hash to a key validated against this configuration's
 * trust, and the window in which every certificate of the chain that was
 * built, anchor included, is valid. A hit needs the same bytes (SHA-256
 * over each certificate's DER, length-prefixed), the current time inside
 * that window and an entry younger than CHAIN_MAX_AGE. Only successful
 * validations are stored, so a peer without a chain that validates cannot
 * fill the cache; a different certificate (one byte) is a different key
 * and is validated in full. The cache belongs to one vmesh_atls_config,
 * whose trust does not change without set_bundle or set_trust, which
 * empty it; a reload builds a new configuration with an empty cache.
 *
 * Fixed size, direct-mapped (a new entry replaces whatever held its slot),
 * one mutex held only to compare or copy one entry.
 */
#define _GNU_SOURCE
#include "atls_int.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An entry is dropped after this long whatever its certificates say, so
 * that nothing this cache did not foresee outlives ten minutes. */
#define CHAIN_MAX_AGE 600
/* Peer chains longer than this are always validated in full. */
#define CHAIN_MAX_CERTS 8
#define CHAIN_MAX_DER ((size_t)64 * 1024)

typedef struct {
    uint8_t key[32];
    int64_t not_before, not_after, stored;
    bool used;
} chain_entry;

struct atls_chain_cache {
    pthread_mutex_t lock;
    size_t slots;
    chain_entry *e;
};

/* process-wide counters, for metrics (vmesh_atls_chain_cache_stats) */
static _Atomic uint64_t g_cached, g_validated, g_stored;

void atls_chain_count(bool cached)
{
    atomic_fetch_add_explicit(cached ? &g_cached : &g_validated, 1, memory_order_relaxed);
}

atls_chain_cache *atls_chain_cache_new(size_t slots)
{
    atls_chain_cache *c;

    if (slots == 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->e = calloc(slots, sizeof(*c->e));
    if (c->e == NULL) {
        free(c);
        return NULL;
    }
    c->slots = slots;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void atls_chain_cache_free(atls_chain_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->e);
    free(c);
}

void atls_chain_cache_clear(atls_chain_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    memset(c->e, 0, c->slots * sizeof(*c->e));
    pthread_mutex_unlock(&c->lock);
}

/* SHA-256 over the peer's chain as sent (the store context's untrusted
 * stack, leaf first; the leaf on its own if there is none): per
 * certificate a 4-byte big-endian length, then its DER. False when the
 * chain is too long or too large to key (it is then validated in full). */
bool atls_chain_cache_key(X509_STORE_CTX *x, uint8_t key[32])
{
    STACK_OF(X509) *sk = X509_STORE_CTX_get0_untrusted(x);
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    int n = sk != NULL ? sk_X509_num(sk) : 0;
    vmesh_buf b = {0};
    bool ok = false;

    if (leaf == NULL || n > CHAIN_MAX_CERTS)
        return false;
    vmesh_buf_init(&b, CHAIN_MAX_DER);
    for (int i = 0; i < (n > 0 ? n : 1); i++) {
        X509 *c = n > 0 ? sk_X509_value(sk, i) : leaf;
        int len = i2d_X509(c, NULL);
        uint8_t hdr[4], *p;

        if (len <= 0 || (size_t)len > CHAIN_MAX_DER)
            goto out;
        hdr[0] = (uint8_t)(len >> 24), hdr[1] = (uint8_t)(len >> 16), hdr[2] = (uint8_t)(len >> 8),
        hdr[3] = (uint8_t)len;
        if (vmesh_buf_append(&b, hdr, 4) != VMESH_OK || vmesh_buf_reserve(&b, (size_t)len) != VMESH_OK)
            goto out;
        p = b.data + b.len;
        if (i2d_X509(c, &p) != len)
            goto out;
        b.len += (size_t)len;
    }
    /* the leaf the store context checks must be the chain's first */
    if (n > 0 && X509_cmp(sk_X509_value(sk, 0), leaf) != 0)
        goto out;
    vmesh_crypto_sha256(b.data, b.len, key);
    ok = true;
out:
    vmesh_buf_free(&b);
    return ok;
}

static chain_entry *slot_of(atls_chain_cache *c, const uint8_t key[32])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return &c->e[h % c->slots];
}

bool atls_chain_cache_hit(atls_chain_cache *c, const uint8_t key[32], int64_t now)
{
    chain_entry *e;
    bool same, hit;

    if (c == NULL)
        return false;
    pthread_mutex_lock(&c->lock);
    e = slot_of(c, key);
    same = e->used && memcmp(e->key, key, 32) == 0;
    hit = same && now >= e->not_before && now < e->not_after && now >= e->stored && now - e->stored < CHAIN_MAX_AGE;
    if (same && !hit)
        e->used = false; /* expired or aged out: validated in full again */
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static bool asn1_seconds(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

void atls_chain_cache_put(atls_chain_cache *c, const uint8_t key[32], X509_STORE_CTX *x, int64_t now)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(x);
    int64_t nb = INT64_MIN, na = INT64_MAX, t;
    chain_entry *e;

    if (c == NULL || chain == NULL || sk_X509_num(chain) <= 0)
        return;
    /* the window in which every certificate of the verified chain, the
     * anchor included, is valid */
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *cert = sk_X509_value(chain, i);

        if (!asn1_seconds(X509_get0_notBefore(cert), &t))
            return;
        if (t > nb)
            nb = t;
        if (!asn1_seconds(X509_get0_notAfter(cert), &t))
            return;
        if (t < na)
            na = t;
    }
    if (!(now >= nb && now < na))
        return;
    pthread_mutex_lock(&c->lock);
    e = slot_of(c, key);
    memcpy(e->key, key, 32);
    e->not_before = nb;
    e->not_after = na;
    e->stored = now;
    e->used = true;
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add_explicit(&g_stored, 1, memory_order_relaxed);
}

size_t atls_chain_cache_used(atls_chain_cache *c)
{
    size_t n = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->slots; i++)
        n += c->e[i].used;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void vmesh_atls_chain_cache_stats(vmesh_atls_chain_stats *out)
{
    out->cached = atomic_load_explicit(&g_cached, memory_order_relaxed);
    out->validated = atomic_load_explicit(&g_validated, memory_order_relaxed);
    out->stored = atomic_load_explicit(&g_stored, memory_order_relaxed);
}
