/*
 * Fuzz target for CoRIM decoding with the PSA profile (unsigned tag 501 and
 * COSE_Sign1 tag 18, read without a key under VMESH_CORIM_ALLOW_UNVERIFIED,
 * and signature checking with a fixed key). Whatever loads must re-encode and load again
 * to the same number of entries. It must never crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vmesh/corim.h"
#include "vmesh/psa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vmesh_key *fixed_key(void)
{
    static vmesh_key *k;

    if (k == NULL && vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k) != VMESH_OK)
        abort();
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_rv_store *s = NULL, *t = NULL;
    vmesh_buf again = {0}, payload = {0};
    vmesh_corim_info info;

    if (vmesh_rv_store_new(&s) != VMESH_OK)
        return 0;
    if (vmesh_corim_load(s, data, size, NULL, VMESH_CORIM_ALLOW_UNVERIFIED, vmesh_psa_corim_profiles, "fuzz",
                         &info) ==
        VMESH_OK) {
        if (vmesh_rv_store_size(s) != info.measurements + info.keys)
            abort();
        if (vmesh_psa_corim_encode(s, "fuzz", &again) != VMESH_OK)
            abort();
        if (vmesh_rv_store_new(&t) != VMESH_OK)
            abort();
        if (vmesh_corim_load(t, again.data, again.len, NULL, 0, vmesh_psa_corim_profiles, "again", NULL) != VMESH_OK)
            abort();
        if (vmesh_rv_store_size(t) != vmesh_rv_store_size(s))
            abort();
    }
    if (size > 0 && data[0] == 0xd2 &&
        vmesh_corim_verify_signed(data, size, fixed_key(), &payload) == VMESH_OK)
        abort(); /* nobody else holds this key */
    vmesh_buf_free(&again);
    vmesh_buf_free(&payload);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
    return 0;
}
