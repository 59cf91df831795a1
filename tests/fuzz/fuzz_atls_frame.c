/*
 * Fuzz target: the attested channel's stream side. The input is a byte
 * stream as a peer would send it after the handshake; the first byte picks
 * the chunk size the stream arrives in. Every complete frame is decoded as
 * what it claims to be (attestation message, attestation-failed); a decoded
 * message must survive re-encoding unchanged. The whole input is also
 * decoded directly as an attestation message. Nothing may crash, leak or
 * read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/atls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const uint8_t *p, size_t n)
{
    vmesh_atls_msg m, m2;
    vmesh_buf enc = {0}, enc2 = {0};
    uint8_t nonce[32], binder[32] = {0};

    vmesh_atls_msg_init(&m);
    vmesh_atls_msg_init(&m2);
    if (vmesh_atls_msg_decode(p, n, &m) == VMESH_OK) {
        if (vmesh_atls_msg_encode(&m, &enc) != VMESH_OK)
            __builtin_trap();
        if (vmesh_atls_msg_decode(enc.data, enc.len, &m2) != VMESH_OK)
            __builtin_trap();
        if (vmesh_atls_msg_encode(&m2, &enc2) != VMESH_OK || enc.len != enc2.len ||
            memcmp(enc.data, enc2.data, enc.len) != 0)
            __builtin_trap();
        if (vmesh_atls_ak_nonce(m.ak_spki.data, m.ak_spki.len, m.fresh ? binder : m.epoch_nonce.data,
                                m.fresh ? 32 : m.epoch_nonce.len, nonce) != VMESH_OK)
            __builtin_trap();
        if (vmesh_atls_proof_verify(&m, binder) == VMESH_OK && m.proof.len != 64)
            __builtin_trap();
        /* version 3 (key-bound): no proof, never fresh; version 2: a proof */
        if (m.keybound != m2.keybound || (m.keybound ? (m.proof.len != 0 || m.fresh) : m.proof.len == 0))
            __builtin_trap();
    }
    vmesh_atls_msg_free(&m);
    vmesh_atls_msg_free(&m2);
    vmesh_buf_free(&enc);
    vmesh_buf_free(&enc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_atls_frame_parser fp;
    size_t chunk, off = 1, used;

    if (size < 1)
        return 0;
    chunk = (size_t)(data[0] % 16) + 1;
    check_msg(data + 1, size - 1);
    if (vmesh_atls_frame_parser_init(&fp, 4096) != VMESH_OK)
        __builtin_trap();
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        vmesh_err e = vmesh_atls_frame_parser_feed(&fp, data + off, n, &used);

        if (used > n)
            __builtin_trap();
        off += used;
        if (e == VMESH_ERR_WANT_READ) {
            if (used != n)
                __builtin_trap();
            continue;
        }
        if (e != VMESH_OK)
            break;
        if (fp.payload.len > 4096)
            __builtin_trap();
        if (fp.type == VMESH_ATLS_FRAME_ATTESTATION) {
            check_msg(fp.payload.data, fp.payload.len);
        } else if (fp.type == VMESH_ATLS_FRAME_FAILED) {
            uint32_t reason;
            char msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];

            if (vmesh_atls_failed_decode(fp.payload.data, fp.payload.len, &reason, msg) ==
                    VMESH_OK &&
                strlen(msg) > VMESH_ATLS_FAIL_MESSAGE_MAX)
                __builtin_trap();
        }
        vmesh_atls_frame_parser_reset(&fp);
    }
    vmesh_atls_frame_parser_free(&fp);
    return 0;
}
