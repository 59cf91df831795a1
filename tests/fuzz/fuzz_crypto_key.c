/*
 * Fuzz target: the key parser (PEM PKCS#8 / SEC1 / SPKI, DER, JWK) on
 * arbitrary bytes. It must never crash, hang or leak; a key it accepts must
 * serialise and re-parse to an equal key.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vmesh/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_key *k = NULL, *k2 = NULL;
    vmesh_buf jwk = {0};
    uint8_t tp[32];

    if (vmesh_crypto_key_parse(data, size, &k) != VMESH_OK)
        return 0;
    if (vmesh_crypto_key_to_jwk(k, vmesh_crypto_key_is_private(k), &jwk) != VMESH_OK ||
        vmesh_crypto_key_from_jwk((const char *)jwk.data, jwk.len, &k2) != VMESH_OK ||
        !vmesh_crypto_key_equal(k, k2) ||
        vmesh_crypto_key_is_private(k) != vmesh_crypto_key_is_private(k2) ||
        vmesh_crypto_key_thumbprint(k, tp) != VMESH_OK)
        abort(); /* an accepted key must round-trip */
    vmesh_buf_free(&jwk);
    vmesh_crypto_key_free(k2);
    vmesh_crypto_key_free(k);
    return 0;
}
