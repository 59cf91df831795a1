/*
 * Fuzz target for the batch appraisal's wire format (src/service/batch.c,
 * DECISIONS D53): the request body a verifier reads from any client
 * (svc_batch_request_decode) and the answer body a relying party reads
 * from its verifier (svc_batch_response_decode). Invariants: no crash, no
 * leak, no read outside the input; an accepted request has 1..64 items,
 * each with a nonce of 8..64 bytes, a media type and evidence inside the
 * input, and encodes back to exactly the bytes it was read from (the
 * format is deterministic CBOR: one encoding per value); an accepted
 * answer list has the announced count, statuses 200..599 and texts inside
 * the input; the item count peek agrees with the decoder.
 */
#include "service/service_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    const uint8_t *q = p;

    if (n > 0 && (q < data || q + n > data + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    svc_batch_item it[SVC_BATCH_MAX];
    svc_batch_answer a[SVC_BATCH_MAX];
    vmesh_buf back = {0};
    size_t n = 0;

    if (svc_batch_request_decode(data, size, it, &n) == VMESH_OK) {
        if (n < 1 || n > SVC_BATCH_MAX || svc_batch_request_count(data, size) != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            if (it[i].nonce_len < VMESH_SERVICE_MIN_NONCE || it[i].nonce_len > VMESH_SERVICE_MAX_NONCE ||
                it[i].media_type_len == 0 || it[i].evidence_len == 0)
                abort();
            inside(it[i].nonce, it[i].nonce_len, data, size);
            inside(it[i].media_type, it[i].media_type_len, data, size);
            inside(it[i].evidence, it[i].evidence_len, data, size);
            inside(it[i].ak, it[i].ak_len, data, size);
            inside(it[i].peer, it[i].peer_len, data, size);
        }
        if (svc_batch_request_encode(it, n, &back) != VMESH_OK || back.len != size ||
            memcmp(back.data, data, size) != 0)
            abort();
    }
    /* the answers to as many items as the array announces (else 1) */
    n = svc_batch_request_count(data, size);
    if (n < 1 || n > SVC_BATCH_MAX)
        n = 1;
    if (svc_batch_response_decode(data, size, a, n) == VMESH_OK)
        for (size_t i = 0; i < n; i++) {
            if (a[i].status < 200 || a[i].status > 599)
                abort();
            inside(a[i].text, a[i].text_len, data, size);
        }
    vmesh_buf_free(&back);
    vmesh_err_clear();
    return 0;
}
