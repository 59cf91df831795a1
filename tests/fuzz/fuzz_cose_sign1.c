/*
 * Fuzz target: COSE_Sign1 decoding and verification on arbitrary bytes.
 * Every input must be refused or accepted cleanly: no crash, no hang, no
 * leak. The fixed public keys are those that signed the seed corpus
 * (P-256 and P-384 generated for it, Ed25519 from RFC 8037 Appendix A), so
 * mutated seeds reach both the failing and the succeeding verify paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/cose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const jwks[3] = {
    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"eSwic9YL4ahybtGzD_iV6Q390LVA_3DzdubE2WUik6Q\","
    "\"y\":\"GoI42woOsoOnhOJxMINcqj0Jxfs-QNE0PTGl0pt-99A\"}",
    "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"2sK4hel_C1Gj-qNCdhO5_JpC1XhM3sRlVzLHujdOK_sR3uCmV45XXnOo"
    "smBdaOo-\",\"y\":\"thkRsxf6hCx3tPGQzUJKPo4XoAFrg__W5gHeXbY4JUa_q4Ff_gADKE34FwiqH53A\"}",
    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
};
static vmesh_key *keys[3];
static volatile uint8_t sink;

static void touch(const uint8_t *p, size_t n)
{
    if (p != NULL && n > 0)
        sink ^= (uint8_t)(p[0] ^ p[n - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_cose_sign1 *m = NULL;
    const uint8_t *p;
    size_t n;
    const char *ct;

    if (keys[0] == NULL)
        for (int i = 0; i < 3; i++)
            if (vmesh_crypto_key_from_jwk(jwks[i], strlen(jwks[i]), &keys[i]) != VMESH_OK)
                abort();
    if (vmesh_cose_sign1_decode(data, size, 64 * 1024, &m) != VMESH_OK)
        return 0;
    p = vmesh_cose_sign1_payload(m, &n);
    touch(p, n);
    p = vmesh_cose_sign1_kid(m, &n);
    touch(p, n);
    p = vmesh_cose_sign1_protected(m, &n);
    touch(p, n);
    ct = vmesh_cose_sign1_content_type(m);
    if (ct != NULL)
        touch((const uint8_t *)ct, strlen(ct));
    /* Each key: the matching one verifies (or not), the others are
     * refused for the alg mismatch. */
    for (int i = 0; i < 3; i++) {
        vmesh_err rc = vmesh_cose_sign1_verify(m, keys[i]);
        if (rc == VMESH_OK && vmesh_cose_sign1_alg(m) != vmesh_crypto_key_cose_alg(keys[i]))
            abort();
    }
    vmesh_cose_sign1_free(m);
    return 0;
}
