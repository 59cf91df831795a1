/*
 * Fuzz target: the in-band stream of re-attestation (docs/ATLS.md
 * "Re-attestation"). The input is a byte stream as a peer sends it after
 * the preamble; the first byte picks the chunk size. Data frames are
 * skipped by their announced length, request and answer payloads are
 * decoded (the answer's message too) and must re-encode to the same bytes;
 * attestation-failed payloads are decoded. The whole input is also decoded
 * directly as a request and as an answer. Nothing may crash, leak, read out
 * of bounds, or accept a frame above its cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/atls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_payloads(const uint8_t *p, size_t n)
{
    uint64_t counter;
    const uint8_t *b;
    size_t bn;
    vmesh_buf enc = {0};
    vmesh_atls_msg m;

    if (vmesh_atls_reattest_request_decode(p, n, &counter, &b, &bn) == VMESH_OK) {
        if (counter == 0 || bn < VMESH_ATLS_REATTEST_NONCE_MIN || bn > VMESH_ATLS_REATTEST_NONCE_MAX)
            __builtin_trap();
        if (vmesh_atls_reattest_request_encode(counter, b, bn, &enc) != VMESH_OK)
            __builtin_trap();
        /* strict decoding accepts non-shortest heads; the re-encoding is
         * never longer */
        if (enc.len > n)
            __builtin_trap();
        vmesh_buf_reset(&enc);
    }
    if (vmesh_atls_reattest_answer_decode(p, n, &counter, &b, &bn) == VMESH_OK) {
        if (counter == 0 || bn == 0 || b < p || b + bn > p + n)
            __builtin_trap();
        if (vmesh_atls_reattest_answer_encode(counter, b, bn, &enc) != VMESH_OK || enc.len > n)
            __builtin_trap();
        vmesh_atls_msg_init(&m);
        if (vmesh_atls_msg_decode(b, bn, &m) != VMESH_OK)
            vmesh_err_clear();
        vmesh_atls_msg_free(&m);
    }
    vmesh_buf_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_atls_frame_parser fp;
    size_t chunk, off = 1, used, skip = 0;

    if (size < 1)
        return 0;
    chunk = (size_t)(data[0] % 16) + 1;
    check_payloads(data + 1, size - 1);
    if (vmesh_atls_frame_parser_init(&fp, 4096) != VMESH_OK)
        __builtin_trap();
    fp.inband = true;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        vmesh_err e;

        if (skip > 0) {
            size_t k = skip < n ? skip : n;
            skip -= k;
            off += k;
            continue;
        }
        e = vmesh_atls_frame_parser_feed(&fp, data + off, n, &used);
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
        switch (fp.type) {
        case VMESH_ATLS_FRAME_DATA:
            if (fp.need == 0 || fp.need > VMESH_ATLS_DATA_FRAME_MAX || fp.payload.len != 0)
                __builtin_trap();
            skip = fp.need;
            break;
        case VMESH_ATLS_FRAME_REATTEST_REQUEST:
            if (fp.payload.len > VMESH_ATLS_REATTEST_REQUEST_MAX)
                __builtin_trap();
            check_payloads(fp.payload.data, fp.payload.len);
            break;
        case VMESH_ATLS_FRAME_REATTEST_ANSWER:
            if (fp.payload.len > 4096 + 64)
                __builtin_trap();
            check_payloads(fp.payload.data, fp.payload.len);
            break;
        case VMESH_ATLS_FRAME_FAILED: {
            uint32_t reason;
            char msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];

            if (vmesh_atls_failed_decode(fp.payload.data, fp.payload.len, &reason, msg) == VMESH_OK &&
                strlen(msg) > VMESH_ATLS_FAIL_MESSAGE_MAX)
                __builtin_trap();
            break;
        }
        default: __builtin_trap(); /* types 1 and 3 must be refused in-band */
        }
        vmesh_atls_frame_parser_reset(&fp);
    }
    vmesh_atls_frame_parser_free(&fp);
    return 0;
}
