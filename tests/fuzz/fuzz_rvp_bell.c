/* Fuzz target: the epoch bell's Epoch Marker (COSE_Sign1 over a CWT with
 * the em claim): strict decoding, verification with a fixed key and the
 * view; never crash, hang or leak. */
#include "vmesh/rvp.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"E0decbGTyhnKuhtaNaf_ino42erW6ce3eTeoDxiHjBc\",\"y\":\"lEcsZp53F5KP41OX1u0CJTuPakoZxD3KZ2HHRJouBWQ\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vmesh_key *key;
    static vmesh_bell_view *view;
    vmesh_bell b;

    if (key == NULL) {
        if (vmesh_crypto_key_from_jwk(jwk, strlen(jwk), &key) != VMESH_OK ||
            vmesh_bell_view_new(key, &view) != VMESH_OK)
            return 0;
    }
    /* Results are irrelevant here; gcc ignores (void) on warn_unused_result. */
    if (vmesh_rvp_bell_decode(data, size, &b) == VMESH_OK)
        b.id = 0;
    if (vmesh_rvp_bell_verify(data, size, key, 1700000000, &b) == VMESH_OK)
        b.id = 0;
    if (vmesh_bell_view_update(view, data, size, 1700000000) != VMESH_OK)
        vmesh_err_clear();
    return 0;
}
