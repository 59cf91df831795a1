/*
 * Fuzz target: PSA claims-set and PSA token decoding on arbitrary bytes
 * (vmesh_psa_claims_decode on the input as a payload, vmesh_psa_token_decode
 * on the input as a whole token), then JSON and CBOR re-encoding of what
 * decoded: every input must be refused or accepted cleanly, with no crash,
 * hang or leak, and what decodes must re-encode and decode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/psa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const vmesh_psa_claims *c)
{
    vmesh_buf j, a, b;
    vmesh_psa_claims d, e;

    vmesh_buf_init(&j, 0);
    vmesh_buf_init(&a, 0);
    vmesh_buf_init(&b, 0);
    vmesh_psa_claims_init(&d);
    vmesh_psa_claims_init(&e);
    if (vmesh_psa_claims_to_json(c, false, &j) != VMESH_OK)
        abort();
    if (vmesh_psa_claims_encode(c, &a) != VMESH_OK)
        abort(); /* decoded claims always validate, so they always encode */
    if (vmesh_psa_claims_decode(a.data, a.len, &d) != VMESH_OK)
        abort();
    if (vmesh_psa_claims_encode(&d, &b) != VMESH_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    /* JSON reads back (a P1 set gains its profile claim, so compare JSON) */
    if (vmesh_psa_claims_from_json((const char *)j.data, j.len, &e) != VMESH_OK)
        abort();
    vmesh_buf_reset(&b);
    if (vmesh_psa_claims_to_json(&e, false, &b) != VMESH_OK || b.len != j.len || memcmp(b.data, j.data, j.len) != 0)
        abort();
    vmesh_psa_claims_free(&d);
    vmesh_psa_claims_free(&e);
    vmesh_buf_free(&j);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_psa_claims c;
    vmesh_cose_sign1 *m = NULL;

    vmesh_psa_claims_init(&c);
    if (vmesh_psa_claims_decode(data, size, &c) == VMESH_OK)
        exercise(&c);
    vmesh_psa_claims_free(&c);
    if (vmesh_psa_token_decode(data, size, &m, &c) == VMESH_OK) {
        if (m == NULL)
            abort();
        exercise(&c);
    }
    vmesh_cose_sign1_free(m);
    vmesh_psa_claims_free(&c);
    (void)vmesh_scheme_psa.detect(data, size);
    return 0;
}
