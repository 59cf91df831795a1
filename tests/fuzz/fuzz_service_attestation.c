/*
 * Fuzz target for the relying party's parser of a verifier's attestation
 * answer (vmesh_service_attestation_parse, issue 12.2): what an https
 * verifier, or anyone before its key is pinned, sends back. Invariants: no
 * crash, no leak; an accepted answer has every member within its bound.
 */
#include "vmesh/service.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_service_attestation a;
    uint8_t bind[32];

    vmesh_service_attestation_init(&a);
    if (vmesh_service_attestation_parse(data, size, &a) == VMESH_OK) {
        if (a.media_type[0] == '\0' || strlen(a.media_type) > VMESH_SERVICE_MAX_MT)
            abort();
        if (a.nonce.len < VMESH_SERVICE_MIN_NONCE || a.nonce.len > VMESH_SERVICE_MAX_NONCE || a.evidence.len == 0 ||
            a.ear_spki.len > VMESH_SERVICE_MAX_AK || a.tls_spki.len > VMESH_SERVICE_MAX_AK)
            abort();
        vmesh_service_attestation_binding(a.nonce.data, a.nonce.len, a.ear_spki.data, a.ear_spki.len,
                                          a.tls_spki.data, a.tls_spki.len, bind);
    }
    vmesh_err_clear();
    vmesh_service_attestation_free(&a);
    return 0;
}
