/*
 * The attestation-result cache of the local verifier: a fixed array of
 * slots indexed by the request digest. An entry is only ever returned for
 * the exact digest, RV generation and epoch generation it was stored under,
 * so a stale result can never be served after a snapshot or tick change;
 * one with a lookup journal is handed back under another RV generation for
 * its journal to be replayed (D43), never as a hit.
 */
#include "vmesh/verifier.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool used;
    uint8_t key[32];
    uint64_t rv_gen, epoch_gen;
    vmesh_ar_entry e;
} slot;

struct vmesh_ar_cache {
    pthread_mutex_t lock;
    size_t nslots;
    slot *slots;
    uint64_t hits, misses;
};

vmesh_err vmesh_ar_cache_new(size_t slots, vmesh_ar_cache **out)
{
    vmesh_ar_cache *c;

    *out = NULL;
    if (slots == 0 || slots > (1u << 22))
        return vmesh_err_set(VMESH_ERR_ARG, "AR cache size must be 1..4194304 slots");
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    c->slots = calloc(slots, sizeof(slot));
    if (c->slots == NULL) {
        free(c);
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory (%zu cache slots)", slots);
    }
    c->nslots = slots;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return VMESH_OK;
}

void vmesh_ar_cache_free(vmesh_ar_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

void vmesh_ar_cache_key(const char *media_type, const uint8_t *nonce, size_t nonce_len, const uint8_t *evidence,
                        size_t evidence_len, uint8_t key[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t lens[16];
    size_t mlen = media_type ? strlen(media_type) : 0;
    unsigned int outlen = 32;

    /* Length-prefix each part so that no two requests share a digest input. */
    for (int i = 0; i < 8; i++) {
        lens[i] = (uint8_t)(mlen >> (8 * i));
        lens[8 + i] = (uint8_t)(nonce_len >> (8 * i));
    }
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, lens, 16) != 1 ||
        (mlen && EVP_DigestUpdate(ctx, media_type, mlen) != 1) ||
        (nonce_len && EVP_DigestUpdate(ctx, nonce, nonce_len) != 1) ||
        EVP_DigestUpdate(ctx, evidence, evidence_len) != 1 || EVP_DigestFinal_ex(ctx, key, &outlen) != 1) {
        /* Cannot hash: make a key no stored entry can have (all slots are
         * compared on the full key, and this one is never put). */
        memset(key, 0xff, 32);
    }
    EVP_MD_CTX_free(ctx);
}

static slot *slot_for(vmesh_ar_cache *c, const uint8_t key[32])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return &c->slots[h % c->nslots];
}

vmesh_ar_lookup vmesh_ar_cache_lookup(vmesh_ar_cache *c, const uint8_t key[32], uint64_t rv_gen, uint64_t epoch_gen,
                                      vmesh_ar_entry *out)
{
    vmesh_ar_lookup res = VMESH_AR_MISS;
    slot *s;

    pthread_mutex_lock(&c->lock);
    s = slot_for(c, key);
    if (s->used && memcmp(s->key, key, 32) == 0) {
        if (s->rv_gen == rv_gen && s->epoch_gen == epoch_gen) {
            *out = s->e;
            res = VMESH_AR_HIT;
        } else if (s->epoch_gen == epoch_gen && s->e.journal_len > 0) {
            *out = s->e; /* the caller replays its journal (D43) */
            res = VMESH_AR_OTHER_RV;
        } else {
            s->used = false; /* computed under an older snapshot or tick */
        }
    }
    if (res == VMESH_AR_HIT)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return res;
}

bool vmesh_ar_cache_get(vmesh_ar_cache *c, const uint8_t key[32], uint64_t rv_gen, uint64_t epoch_gen,
                        vmesh_ar_entry *out)
{
    vmesh_ar_entry tmp;
    vmesh_ar_lookup res = vmesh_ar_cache_lookup(c, key, rv_gen, epoch_gen, &tmp);

    if (res == VMESH_AR_HIT)
        *out = tmp;
    return res == VMESH_AR_HIT;
}

void vmesh_ar_cache_put(vmesh_ar_cache *c, const uint8_t key[32], uint64_t rv_gen, uint64_t epoch_gen,
                        const vmesh_ar_entry *e)
{
    static const uint8_t poison[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    slot *s;

    if (memcmp(key, poison, 32) == 0)
        return;
    pthread_mutex_lock(&c->lock);
    s = slot_for(c, key);
    s->used = true;
    memcpy(s->key, key, 32);
    s->rv_gen = rv_gen;
    s->epoch_gen = epoch_gen;
    s->e = *e;
    pthread_mutex_unlock(&c->lock);
}

void vmesh_ar_cache_clear(vmesh_ar_cache *c)
{
    pthread_mutex_lock(&c->lock);
    memset(c->slots, 0, c->nslots * sizeof(slot));
    pthread_mutex_unlock(&c->lock);
}

void vmesh_ar_cache_stats(vmesh_ar_cache *c, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
