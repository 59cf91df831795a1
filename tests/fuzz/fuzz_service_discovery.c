/*
 * Fuzz target for the relying party's reader of a verifier's discovery
 * document (vmesh_service_discovery_appraise_path, DECISIONS D42): what a
 * verifier, or anyone on a plain-http path to it, answers at
 * /.well-known/veraison/verification. Invariants: no crash, no leak; an
 * accepted path is "" or an absolute path of letters, digits, "-._~/"
 * without "//", at most VMESH_SERVICE_MAX_ENDPOINT bytes, NUL-terminated
 * within the buffer; a short buffer is never overrun.
 */
#include "vmesh/service.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *p, size_t cap)
{
    size_t l = strnlen(p, cap);

    if (l == cap || l > VMESH_SERVICE_MAX_ENDPOINT)
        abort();
    if (l == 0)
        return;
    if (p[0] != '/' || strstr(p, "//") != NULL)
        abort();
    for (size_t i = 0; i < l; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '~' || c == '/'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[VMESH_SERVICE_MAX_ENDPOINT + 1], small[8];

    if (vmesh_service_discovery_appraise_path(data, size, path, sizeof(path)) == VMESH_OK)
        check(path, sizeof(path));
    if (vmesh_service_discovery_appraise_path(data, size, small, sizeof(small)) == VMESH_OK)
        check(small, sizeof(small));
    vmesh_err_clear();
    return 0;
}
