/* Fuzz target: the RP policy parser must refuse or accept, never crash or leak. */
#include "vmesh/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_policy *p = NULL;

    if (vmesh_policy_parse(data, size, "fuzz", &p) == VMESH_OK) {
        vmesh_tv tv = {{2, 0, 2, 0, 2, 2, 2, 0}};
        (void)vmesh_policy_check(p, VMESH_MODE_PASSPORT, "psa", &tv, 5, NULL, 0);
        vmesh_policy_free(p);
    }
    return 0;
}
