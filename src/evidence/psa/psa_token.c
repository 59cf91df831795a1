/*
 * PSA attestation token = COSE_Sign1 over the claims-set (RFC 9783 §5.1.1).
 * Decoding here checks structure and claims only; the signature is checked
 * by the appraisal against an endorsed IAK, never against a key named by
 * the token itself. Signing refuses claims that do not validate, so vmesh
 * never emits a token that a strict verifier would reject.
 */
#include "vmesh/psa.h"

#include <string.h>

vmesh_err vmesh_psa_token_decode(const uint8_t *p, size_t n, vmesh_cose_sign1 **msg, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1 *m = NULL;
    const uint8_t *payload;
    size_t plen = 0;

    if (msg != NULL)
        *msg = NULL;
    vmesh_psa_claims_free(c);
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "PSA token: empty input");
    VMESH_ENSURE(n <= VMESH_PSA_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "PSA token: %zu bytes, the limit is %d", n,
                 VMESH_PSA_MAX_TOKEN);
    /* RFC 9783 §5.1.1: "For asymmetric key algorithms, the signature
     * structure MUST be a tagged (18) COSE_Sign1." Untagged tokens from
     * older attesters are accepted too (the cose module takes both). */
    rc = vmesh_cose_sign1_decode(p, n, VMESH_PSA_MAX_TOKEN, &m);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "PSA token");
        goto out;
    }
    payload = vmesh_cose_sign1_payload(m, &plen);
    VMESH_ENSURE(payload != NULL && plen > 0, VMESH_ERR_PARSE, "PSA token: the COSE_Sign1 payload is empty");
    VMESH_GUARD(vmesh_psa_claims_decode(payload, plen, c));
    if (msg != NULL) {
        *msg = m;
        m = NULL;
    }
out:
    vmesh_cose_sign1_free(m);
    return rc;
}

vmesh_err vmesh_psa_token_sign(const vmesh_psa_claims *c, const vmesh_key *iak, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf payload;

    vmesh_buf_init(&payload, VMESH_PSA_MAX_TOKEN);
    VMESH_ENSURE(iak != NULL && vmesh_crypto_key_is_private(iak), VMESH_ERR_ARG,
                 "PSA token: the IAK must be a private key to sign");
    VMESH_GUARD(vmesh_psa_claims_encode(c, &payload));
    VMESH_GUARD(vmesh_cose_sign1_create(iak, payload.data, payload.len, NULL, out));
out:
    vmesh_buf_free(&payload);
    return rc;
}

vmesh_err vmesh_psa_instance_id_from_key(const vmesh_key *iak, uint8_t out[33])
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf spki;

    vmesh_buf_init(&spki, 4096);
    VMESH_ENSURE(iak != NULL, VMESH_ERR_ARG, "PSA instance id: no key");
    VMESH_GUARD(vmesh_crypto_key_to_spki(iak, &spki));
    /* RFC 9783 §4.2.1: "The first byte MUST be 0x01 (RAND) followed by the
     * 32-byte unique identifier of the IAK." */
    out[0] = 0x01;
    vmesh_crypto_sha256(spki.data, spki.len, out + 1);
out:
    vmesh_buf_free(&spki);
    return rc;
}
