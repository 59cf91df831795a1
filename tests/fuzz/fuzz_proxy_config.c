/* Fuzz target: the proxy's YAML configuration parser must refuse or accept,
 * never crash, hang (aliases) or leak. */
#include "vmesh/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_proxy_config *c = NULL;

    if (vmesh_proxy_config_parse((const char *)data, size, "fuzz.yaml", &c) == VMESH_OK) {
        (void)vmesh_proxy_config_listen(c, 0);
        vmesh_proxy_config_free(c);
    }
    return 0;
}
