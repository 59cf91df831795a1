/*
 * A verifier's answer bound to its question (DESIGN §9): after its
 * signature, an EAR a relying party asked for must answer the nonce it
 * sent, carry the submodule of the evidence's scheme, name the verifier
 * asked and live no longer than allowed; a passport must attest the key it
 * was asked for. It must never accept an answer for another nonce, and
 * never read another scheme's submodule in place of the one asked about.
 */
#include "vmesh/jose.h"

#include <stdio.h>
#include <string.h>

/* The first 8 bytes of a nonce in hex, for messages ("3f2a...(32 bytes)"). */
static void nonce_str(const uint8_t *p, size_t n, char *out, size_t out_len)
{
    size_t w = 0;

    for (size_t i = 0; i < n && i < 8 && w + 3 < out_len; i++)
        w += (size_t)snprintf(out + w, out_len - w, "%02x", p[i]);
    snprintf(out + w, out_len - w, "%s(%zu bytes)", n > 8 ? "..." : "", n);
}

vmesh_ear_answer vmesh_ear_check_answer(const vmesh_ear *e, const vmesh_ear_question *q, size_t *submod)
{
    vmesh_buf got = {0}, ak = {0};
    vmesh_ear_answer a = VMESH_EAR_ANSWER_OK;
    char want_s[40], got_s[40];
    int i;

    if (submod != NULL)
        *submod = 0;
    /* 1. the nonce sent */
    if (q->nonce == NULL || q->nonce_len == 0) {
        vmesh_err_set(VMESH_ERR_ARG, "EAR answer: no nonce to check it against");
        a = VMESH_EAR_ANSWER_NONCE;
        goto out;
    }
    nonce_str(q->nonce, q->nonce_len, want_s, sizeof(want_s));
    if (vmesh_ear_nonce(e, &got) != VMESH_OK) {
        vmesh_err_set(VMESH_ERR_MISMATCH, "EAR eat_nonce is absent or unreadable; the nonce sent was %s", want_s);
        a = VMESH_EAR_ANSWER_NONCE;
        goto out;
    }
    if (got.len != q->nonce_len || !vmesh_crypto_memeq(got.data, q->nonce, q->nonce_len)) {
        nonce_str(got.data, got.len, got_s, sizeof(got_s));
        vmesh_err_set(VMESH_ERR_MISMATCH,
                      "EAR eat_nonce %s is not the nonce sent %s: the answer was given to another question "
                      "(replayed or relayed)", got_s, want_s);
        a = VMESH_EAR_ANSWER_NONCE;
        goto out;
    }
    /* 2. the scheme's own submodule, never a fallback */
    i = q->scheme != NULL ? vmesh_ear_submod_find(e, q->scheme) : -1;
    if (i < 0) {
        const char *first = vmesh_ear_submod_name(e, 0);
        vmesh_err_set(VMESH_ERR_MISMATCH, "EAR has no submodule for scheme \"%s\" (it judges \"%.64s\"%s)",
                      q->scheme ? q->scheme : "?", first ? first : "nothing",
                      vmesh_ear_submod_count(e) > 1 ? " and others" : "");
        a = VMESH_EAR_ANSWER_SUBMOD;
        goto out;
    }
    /* 3. the verifier asked */
    if (q->issuer != NULL) {
        const char *dev = vmesh_ear_verifier_developer(e);
        if (dev == NULL || strcmp(dev, q->issuer) != 0) {
            vmesh_err_set(VMESH_ERR_MISMATCH, "EAR was issued by verifier \"%.64s\", not \"%.64s\" that was asked",
                          dev ? dev : "(none)", q->issuer);
            a = VMESH_EAR_ANSWER_ISSUER;
            goto out;
        }
    }
    /* 4. a lifetime within what the relying party allows */
    if (q->max_lifetime > 0) {
        int64_t iat = vmesh_ear_iat(e), exp = vmesh_ear_exp(e);
        if (exp == 0 || exp - iat > q->max_lifetime) {
            if (exp == 0)
                vmesh_err_set(VMESH_ERR_POLICY, "EAR has no exp; at most %lld s of validity are allowed",
                              (long long)q->max_lifetime);
            else
                vmesh_err_set(VMESH_ERR_POLICY, "EAR is valid for %lld s (iat %lld, exp %lld); at most %lld s are "
                              "allowed", (long long)(exp - iat), (long long)iat, (long long)exp,
                              (long long)q->max_lifetime);
            a = VMESH_EAR_ANSWER_LIFETIME;
            goto out;
        }
    }
    /* 5. key attestation: the key asked about */
    if (q->akpub != NULL) {
        if (vmesh_ear_submod_akpub(e, (size_t)i, &ak) != VMESH_OK || ak.len != q->akpub_len ||
            memcmp(ak.data, q->akpub, ak.len) != 0) {
            vmesh_err_set(VMESH_ERR_MISMATCH, "EAR submodule \"%s\" does not attest the key asked about (%s)",
                          q->scheme, ak.len ? "it names another key" : "it names no key");
            a = VMESH_EAR_ANSWER_AK;
            goto out;
        }
    }
    /* 6. the identity asked about (scoped providers at the central verifier) */
    if (q->peer != NULL) {
        const char *peer = vmesh_ear_peer_id(e);
        if (peer == NULL || strcmp(peer, q->peer) != 0) {
            vmesh_err_set(VMESH_ERR_MISMATCH, "EAR was appraised for %.200s, not for the peer asked about %.200s",
                          peer ? peer : "no identity (no ear.vmesh.peer)", q->peer);
            a = VMESH_EAR_ANSWER_PEER;
            goto out;
        }
    }
    if (submod != NULL)
        *submod = (size_t)i;
out:
    vmesh_buf_free(&got);
    vmesh_buf_free(&ak);
    return a;
}

const char *vmesh_ear_answer_name(vmesh_ear_answer a)
{
    switch (a) {
    case VMESH_EAR_ANSWER_OK: return "ok";
    case VMESH_EAR_ANSWER_NONCE: return "nonce";
    case VMESH_EAR_ANSWER_SUBMOD: return "submod";
    case VMESH_EAR_ANSWER_ISSUER: return "issuer";
    case VMESH_EAR_ANSWER_LIFETIME: return "lifetime";
    case VMESH_EAR_ANSWER_AK: return "ak";
    case VMESH_EAR_ANSWER_PEER: return "peer";
    }
    return "unknown";
}
