/*
 * Fuzz target for the RV JSON loader (docs/RV-JSON.md). Whatever it
 * accepts must write back out and load again: a store that cannot be
 * exported would break publishing. It must never crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vmesh/rv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_rv_store *s = NULL, *t = NULL;
    vmesh_buf out = {0};

    if (vmesh_rv_store_new(&s) != VMESH_OK)
        return 0;
    if (vmesh_rv_load_json(s, data, size, "fuzz") == VMESH_OK) {
        vmesh_rv_store_freeze(s);
        if (vmesh_rv_store_to_json(s, &out) != VMESH_OK)
            abort();
        if (vmesh_rv_store_new(&t) != VMESH_OK)
            abort();
        if (vmesh_rv_load_json(t, out.data, out.len, "fuzz-out") != VMESH_OK)
            abort();
        if (vmesh_rv_store_size(t) != vmesh_rv_store_size(s))
            abort();
    }
    vmesh_buf_free(&out);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
    return 0;
}
