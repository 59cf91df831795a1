/*
 * Fuzz target: what a peer gateway sends on the attested session (the
 * vmesh ipsec control message), and the --peer spec. The input is fed to
 * the control-message decoder as a stream in chunks whose size the first
 * byte picks; a decoded message must re-encode to the bytes it came from.
 * The whole input, NUL-terminated, is also parsed as a --peer spec.
 * Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/ipsec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t chunk = size ? (size_t)data[0] % 32 + 1 : 1, have = 0, used = 0;
    vmesh_ipsec_msg m;
    vmesh_ipsec_peer peer;
    vmesh_err rc = VMESH_ERR_WANT_READ;
    char *spec;

    if (size > 0) {
        data++;
        size--;
    }
    /* as a stream: WANT_READ until complete, never consuming a partial message */
    while (rc == VMESH_ERR_WANT_READ && have < size) {
        have = have + chunk < size ? have + chunk : size;
        rc = vmesh_ipsec_msg_decode(data, have, &m, &used);
        if (rc == VMESH_ERR_WANT_READ && used != 0)
            __builtin_trap();
    }
    if (rc == VMESH_OK) {
        vmesh_buf b = {0};
        if (used > have || vmesh_ipsec_msg_encode(&m, &b) != VMESH_OK || b.len != used ||
            memcmp(b.data, data, used) != 0)
            __builtin_trap();
        vmesh_buf_free(&b);
    }
    spec = malloc(size + 1);
    if (spec == NULL)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    if (vmesh_ipsec_peer_parse(spec, &peer) == VMESH_OK) {
        if (peer.n_local_ts == 0 || peer.n_remote_ts == 0 || peer.name[0] == '\0' ||
            peer.remote_addr[0] == '\0')
            __builtin_trap();
    }
    free(spec);
    return 0;
}
