/* Fuzz target: the verifier trust set parser (vmesh-verifiers/1, D40) and
 * the bundle classifier that publishes it; never crash or leak, and what
 * parses holds unique names and keys, public keys only. */
#include "vmesh/rvp.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_rvp_verifiers vs, copy;
    vmesh_rvp_set set;

    if (vmesh_rvp_verifiers_parse(data, size, "fuzz", &vs) == VMESH_OK) {
        if (vs.n == 0 || vs.n > VMESH_RVP_MAX_VERIFIERS)
            __builtin_trap();
        for (size_t i = 0; i < vs.n; i++) {
            if (vs.v[i].ear_key == NULL || vmesh_crypto_key_is_private(vs.v[i].ear_key) ||
                vs.v[i].class_id_len == 0 || vs.v[i].class_id_len > sizeof(vs.v[i].class_id) ||
                vmesh_rvp_verifiers_find(&vs, vs.v[i].name) != &vs.v[i])
                __builtin_trap();
            for (size_t j = 0; j < i; j++)
                if (vmesh_crypto_key_equal(vs.v[i].ear_key, vs.v[j].ear_key))
                    __builtin_trap();
        }
        if (vmesh_rvp_verifiers_copy(&copy, &vs) == VMESH_OK) {
            if (!vmesh_rvp_verifiers_same(&copy, &vs))
                __builtin_trap();
            vmesh_rvp_verifiers_free(&copy);
        }
        vmesh_rvp_verifiers_free(&vs);
    }
    vmesh_err_clear();
    if (vmesh_rvp_classify(data, size, "fuzz", &set) == VMESH_OK && set.size != size)
        __builtin_trap();
    vmesh_err_clear();
    return 0;
}
