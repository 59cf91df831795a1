/*
 * Fuzz target: the 0xff4d negotiation extension decoder (what a peer puts
 * in its ClientHello or EncryptedExtensions). A decoded extension must
 * re-encode and decode to the same content. The same bytes also go to
 * the 0xff4e (key-bound) decoder: one byte, flags 1..3, and to the RFC 9149
 * ticket_request decoder (two bytes in a ClientHello, one in
 * EncryptedExtensions). Nothing may crash or leak.
 */
#include <stdint.h>
#include <string.h>

#include "vmesh/atls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_atls_ext e, e2;
    vmesh_buf enc = {0};
    uint8_t kb, tr[2];

    if (vmesh_atls_kb_ext_decode(data, size, &kb) == VMESH_OK && (size != 1 || kb == 0 || kb > 3))
        __builtin_trap();
    if (vmesh_atls_ticket_request_decode(data, size, true, tr) == VMESH_OK && (size != 2 || tr[0] != data[0]))
        __builtin_trap();
    if (vmesh_atls_ticket_request_decode(data, size, false, tr) == VMESH_OK && (size != 1 || tr[1] != 0))
        __builtin_trap();
    if (vmesh_atls_ext_decode(data, size, &e) != VMESH_OK)
        return 0;
    if (e.n_modes > 3 || e.n_media_types > VMESH_ATLS_EXT_MEDIA_TYPES_MAX)
        __builtin_trap();
    if (vmesh_atls_ext_encode(&e, &enc) != VMESH_OK)
        __builtin_trap();
    if (vmesh_atls_ext_decode(enc.data, enc.len, &e2) != VMESH_OK)
        __builtin_trap();
    if (e2.n_modes != e.n_modes || memcmp(e2.modes, e.modes, e.n_modes) != 0 ||
        e2.n_media_types != e.n_media_types || e2.will_attest != e.will_attest)
        __builtin_trap();
    for (size_t i = 0; i < e.n_media_types; i++)
        if (strcmp(e.media_types[i], e2.media_types[i]) != 0)
            __builtin_trap();
    vmesh_atls_ext_free(&e);
    vmesh_atls_ext_free(&e2);
    vmesh_buf_free(&enc);
    return 0;
}
