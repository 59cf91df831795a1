/*
 * Fuzz target for the lookup journal reader (D43, vmesh_rv_journal_replay):
 * the bytes of an AR cache entry's journal and of an EAR's
 * ear.vmesh.rv-journal claim. Replayed against a small fixed store; it must
 * never crash, hang or leak, and a journal that does not parse must never
 * come back "same".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/rv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vmesh_rv_store *store(void)
{
    static vmesh_rv_store *s;
    static const uint8_t cls[4] = {1, 2, 3, 4}, dig[32] = {0x70};
    vmesh_rv_env env = {"psa", cls, 4, NULL, 0};
    vmesh_rv_measurement m = {.name = "BL", .digest_alg = VMESH_HASH_SHA256, .digest = dig, .digest_len = 32};

    if (s != NULL)
        return s;
    if (vmesh_rv_store_new(&s) != VMESH_OK || vmesh_rv_add_measurement(s, &env, &m) != VMESH_OK ||
        vmesh_rv_add_attr(s, &env, "firmware-version", "0x10") != VMESH_OK ||
        vmesh_rv_set_epoch(s, "fleet", 3) != VMESH_OK)
        abort();
    vmesh_rv_store_freeze(s);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool same = true;
    char why[200];

    if (vmesh_rv_journal_replay(data, size, store(), &same, why, sizeof(why)) != VMESH_OK) {
        if (same || why[0] != '\0')
            abort();
        vmesh_err_clear();
    } else if (!same && why[0] == '\0') {
        abort(); /* a difference is always named */
    }
    return 0;
}
