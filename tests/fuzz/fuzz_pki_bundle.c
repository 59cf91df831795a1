/*
 * Fuzz target for the SPIFFE bundle parser (vmesh_pki_bundle_parse): the
 * document comes from another organisation's bundle endpoint. Whatever it
 * accepts must write back out in the SPIFFE format and parse again to the
 * same authorities, sequence and refresh hint. It must never crash, hang or
 * leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vmesh/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_pki_bundle *b = NULL, *c = NULL;
    vmesh_buf out = {0};
    bool h1, h2;

    if (vmesh_pki_bundle_parse(data, size, &b) == VMESH_OK) {
        /* Non-EC authorities cannot be written as JWKs by the writer: then
         * only the PEM form must work. */
        if (vmesh_pki_bundle_to_spiffe(b, &out) == VMESH_OK) {
            if (vmesh_pki_bundle_parse(out.data, out.len, &c) != VMESH_OK)
                abort();
            if (vmesh_pki_bundle_count(c) != vmesh_pki_bundle_count(b) ||
                vmesh_pki_bundle_sequence(c, &h1) != vmesh_pki_bundle_sequence(b, &h2) ||
                h1 != h2 || vmesh_pki_bundle_refresh_hint(c) != vmesh_pki_bundle_refresh_hint(b))
                abort();
        }
        vmesh_buf_reset(&out);
        if (vmesh_pki_bundle_to_pem(b, &out) != VMESH_OK)
            abort();
    }
    vmesh_buf_free(&out);
    vmesh_pki_bundle_free(b);
    vmesh_pki_bundle_free(c);
    return 0;
}
