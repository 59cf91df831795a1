/*
 * Fuzz target for the jose module: arbitrary bytes as a compact JWS/JWT
 * (vmesh_jose_jws_verify, vmesh_jose_jws_peek, vmesh_ear_verify,
 * vmesh_ear_parse_unverified plus every accessor; the HS256 path of D51,
 * vmesh_jose_jws_verify_mac and vmesh_ear_verify_mac, with a fixed key)
 * and as an EAR claims JSON
 * document (vmesh_ear_from_json). Verification uses a fixed P-256 key (a
 * test key, published here on purpose) so that seeds signed with it
 * (tests/fuzz/corpus/jose_jwt/, made with `vmesh ear sign --key` this key)
 * reach the claim checks. Invariant checked: claims that from_json accepts
 * sign and verify back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_jwk[] =
    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"f7G_1EVjm6hfNwBADOFjTF1QtF1BW39c3srNc9tdy_Y\","
    "\"y\":\"6YQtg6y5wVSBZQJmstkqdX402LJ1drP33fG0aJSC7rk\","
    "\"d\":\"Jhe_2dZtfs1WFM2RnmGoNPZTeA8U1LcvKQIgTdcJCHg\"}";

/* The HS256 key of the MAC path (a fixed test key). */
static const uint8_t fuzz_mac_key[VMESH_JOSE_MAC_KEY_LEN] = "vmesh fuzz channel key 32 bytes";

/* 2023-11-14T22:13:20Z: after the seeds' iat, before their exp. */
#define FUZZ_NOW 1700000000

static vmesh_key *fuzz_key(void)
{
    static vmesh_key *k;

    if (k == NULL && vmesh_crypto_key_from_jwk(fuzz_jwk, strlen(fuzz_jwk), &k) != VMESH_OK)
        abort();
    return k;
}

static void touch_all(const vmesh_ear *e)
{
    vmesh_buf b = {0};
    vmesh_tv tv;
    uint64_t ep;
    size_t n = vmesh_ear_submod_count(e), ne = vmesh_ear_rv_epoch_count(e);

    (void)vmesh_ear_profile(e);
    (void)vmesh_ear_iat(e);
    (void)vmesh_ear_exp(e);
    (void)vmesh_ear_verifier_developer(e);
    (void)vmesh_ear_verifier_build(e);
    (void)vmesh_ear_status(e);
    if (vmesh_ear_nonce(e, &b) != VMESH_OK)
        vmesh_buf_reset(&b);
    for (size_t i = 0; i < ne + 1; i++) {
        const char *r = vmesh_ear_rv_epoch_name(e, i);
        if (r != NULL && vmesh_ear_rv_epoch(e, r, &ep) != VMESH_OK)
            vmesh_buf_reset(&b);
    }
    for (size_t i = 0; i < n + 1; i++) {
        const char *name = vmesh_ear_submod_name(e, i);
        if (name != NULL && vmesh_ear_submod_find(e, name) < 0)
            abort(); /* a listed submod must be found by its name */
        (void)vmesh_ear_submod_status(e, i);
        vmesh_ear_submod_tv(e, i, &tv);
        (void)vmesh_tv_status(&tv);
        (void)vmesh_ear_submod_policy_id(e, i);
        if (vmesh_ear_submod_akpub(e, i, &b) != VMESH_OK)
            vmesh_buf_reset(&b);
        if (vmesh_ear_submod_evidence_json(e, i, &b) != VMESH_OK)
            vmesh_buf_reset(&b);
    }
    if (vmesh_ear_to_json(e, false, &b) != VMESH_OK)
        vmesh_buf_reset(&b);
    vmesh_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    vmesh_key *k = fuzz_key();
    vmesh_buf out = {0}, hdr = {0}, jwt = {0};
    vmesh_ear *e = NULL, *v = NULL;

    if (vmesh_jose_jws_verify(s, size, k, &out) == VMESH_OK && out.len > VMESH_JOSE_MAX_COMPACT)
        abort();
    if (vmesh_jose_jws_verify_mac(s, size, fuzz_mac_key, &out) == VMESH_OK && out.len > VMESH_JOSE_MAX_COMPACT)
        abort();
    if (vmesh_ear_verify_mac(s, size, fuzz_mac_key, FUZZ_NOW, &e) == VMESH_OK)
        touch_all(e);
    else if (e != NULL)
        abort();
    vmesh_ear_free(e);
    e = NULL;
    if (vmesh_jose_jws_peek(s, size, &hdr, &out) != VMESH_OK)
        vmesh_buf_reset(&out);
    if (vmesh_ear_verify(s, size, k, FUZZ_NOW, &e) == VMESH_OK) {
        /* A verified EAR always has a profile, an iat and submods. */
        if (vmesh_ear_profile(e) == NULL || vmesh_ear_submod_count(e) == 0)
            abort();
        touch_all(e);
    } else if (e != NULL) {
        abort(); /* no EAR comes out of a failed verification */
    }
    vmesh_ear_free(e);
    e = NULL;
    if (vmesh_ear_parse_unverified(s, size, &hdr, &e) == VMESH_OK)
        touch_all(e);
    vmesh_ear_free(e);
    e = NULL;
    if (vmesh_ear_from_json(s, size, &e) == VMESH_OK) {
        touch_all(e);
        /* What from_json accepts signs; what we sign verifies (time aside). */
        vmesh_err rc;
        vmesh_ear *again = NULL;

        /* Our serialiser's output parses back to the same claims. */
        if (vmesh_ear_to_json(e, false, &out) != VMESH_OK ||
            vmesh_ear_from_json((const char *)out.data, out.len, &again) != VMESH_OK ||
            vmesh_ear_to_json(again, false, &hdr) != VMESH_OK || hdr.len != out.len ||
            memcmp(hdr.data, out.data, out.len) != 0)
            abort();
        vmesh_ear_free(again);
        rc = vmesh_ear_sign(e, k, &jwt);

        if (rc != VMESH_OK && rc != VMESH_ERR_TOO_LARGE)
            abort();
        /* At now = iat only exp <= iat or nbf > iat may refuse it. */
        rc = rc != VMESH_OK ? VMESH_OK
                            : vmesh_ear_verify((const char *)jwt.data, jwt.len, k,
                                               vmesh_ear_iat(e), &v);
        if (rc != VMESH_OK && rc != VMESH_ERR_EXPIRED)
            abort();
        if (v != NULL && vmesh_ear_status(v) != vmesh_ear_status(e))
            abort();
        vmesh_ear_free(v);
        v = NULL;
        /* the same with the MAC of D51 */
        rc = vmesh_ear_mac(e, fuzz_mac_key, &jwt);
        if (rc != VMESH_OK && rc != VMESH_ERR_TOO_LARGE)
            abort();
        rc = rc != VMESH_OK ? VMESH_OK
                            : vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, fuzz_mac_key, vmesh_ear_iat(e), &v);
        if (rc != VMESH_OK && rc != VMESH_ERR_EXPIRED)
            abort();
        if (v != NULL && vmesh_ear_status(v) != vmesh_ear_status(e))
            abort();
        vmesh_ear_free(v);
    }
    vmesh_ear_free(e);
    vmesh_buf_free(&out);
    vmesh_buf_free(&hdr);
    vmesh_buf_free(&jwt);
    return 0;
}
