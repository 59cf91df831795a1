/*
 * Fuzz target for the CCA token decoder: the outer collection (tags 399 and
 * 907), both COSE_Sign1, both claims-sets and the RAK key parser, plus the
 * appraisal path with an empty store (which must refuse without crashing)
 * and the JSON writer. It must never crash, leak or read out of bounds.
 */
#include "vmesh/cca.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_cca_token *t = NULL;
    vmesh_key *rak = NULL;
    vmesh_buf js = {0};
    vmesh_appraisal a;
    vmesh_appraisal_in in = {data, size, NULL, NULL, 0, NULL, 0};
    uint8_t bind[VMESH_CCA_MAX_HASH];
    size_t blen = 0;

    if (vmesh_cca_token_decode(data, size, &t) == VMESH_OK) {
        const vmesh_cca_claims *c = vmesh_cca_token_claims(t);

        if (vmesh_cca_realm_key(&c->realm, &rak) == VMESH_OK)
            (void)!vmesh_cca_token_verify(t, rak);
        (void)!vmesh_cca_binding(&c->realm, bind, &blen);
        (void)!vmesh_cca_claims_to_json(c, false, &js);
    }
    vmesh_appraisal_init(&a);
    (void)!vmesh_scheme_cca.appraise(&in, &a);
    (void)vmesh_scheme_cca.detect(data, size);
    vmesh_appraisal_free(&a);
    vmesh_crypto_key_free(rak);
    vmesh_cca_token_free(t);
    vmesh_buf_free(&js);
    return 0;
}
