/*
 * The re-attestation exchange's wire (docs/ATLS.md "Re-attestation"): the
 * request and answer payloads and the per-request binder. Pure functions
 * over bytes a hostile peer sends: strict CBOR through the one codec (no
 * unknown or duplicate keys, definite lengths, nothing after the map), every
 * length checked against its cap before use.
 */
#include "atls_int.h"

#include <string.h>

/* Reads the two keys {1: uint, 2: bstr} of a request or an answer. */
static vmesh_err rd_pair(const uint8_t *p, size_t n, const char *what, size_t bmin, size_t bmax,
                         uint64_t *counter, const uint8_t **b, size_t *blen)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, key;
    bool seen1 = false, seen2 = false;

    *counter = 0;
    *b = NULL;
    *blen = 0;
    vmesh_cbor_init(&r, p, n, what, 0);
    VMESH_GUARD(vmesh_cbor_read_map(&r, &count, 2, "the payload"));
    VMESH_ENSURE(count == 2, VMESH_ERR_PARSE, "%s: expected {1: counter, 2: bytes}", what);
    for (unsigned i = 0; i < 2; i++) {
        VMESH_GUARD(vmesh_cbor_read_uint(&r, &key, "a map key"));
        if (key == 1 && !seen1) {
            seen1 = true;
            VMESH_GUARD(vmesh_cbor_read_uint(&r, counter, "counter (key 1)"));
            VMESH_ENSURE(*counter >= 1 && *counter <= INT64_MAX, VMESH_ERR_PARSE,
                         "%s: counter %llu is outside 1..2^63-1", what, (unsigned long long)*counter);
        } else if (key == 2 && !seen2) {
            seen2 = true;
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, bmax, b, blen, "key 2"));
            VMESH_ENSURE(*blen >= bmin, VMESH_ERR_PARSE, "%s: key 2 is %zu bytes, expected %zu..%zu", what,
                         *blen, bmin, bmax);
        } else {
            VMESH_FAIL(VMESH_ERR_PARSE, "%s: %s key %llu", what, key == 1 || key == 2 ? "duplicate" : "unknown",
                       (unsigned long long)key);
        }
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the CBOR map"));
out:
    return rc;
}

static vmesh_err put_pair(uint64_t counter, const uint8_t *b, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(counter >= 1 && counter <= INT64_MAX, VMESH_ERR_ARG,
                 "re-attestation counter must be 1..2^63-1");
    VMESH_GUARD(vmesh_cbor_put_map(out, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(out, counter));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, b, n));
out:
    return rc;
}

vmesh_err vmesh_atls_reattest_request_encode(uint64_t counter, const uint8_t *nonce, size_t nonce_len,
                                             vmesh_buf *out)
{
    if (nonce_len < VMESH_ATLS_REATTEST_NONCE_MIN || nonce_len > VMESH_ATLS_REATTEST_NONCE_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "re-attestation nonce must be %d..%d bytes",
                             VMESH_ATLS_REATTEST_NONCE_MIN, VMESH_ATLS_REATTEST_NONCE_MAX);
    return put_pair(counter, nonce, nonce_len, out);
}

vmesh_err vmesh_atls_reattest_request_decode(const uint8_t *p, size_t n, uint64_t *counter, const uint8_t **nonce,
                                             size_t *nonce_len)
{
    if (n > VMESH_ATLS_REATTEST_REQUEST_MAX)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "re-attestation request of %zu bytes is above the cap of %d", n,
                             VMESH_ATLS_REATTEST_REQUEST_MAX);
    return rd_pair(p, n, "re-attestation request", VMESH_ATLS_REATTEST_NONCE_MIN, VMESH_ATLS_REATTEST_NONCE_MAX,
                   counter, nonce, nonce_len);
}

vmesh_err vmesh_atls_reattest_answer_encode(uint64_t counter, const uint8_t *msg, size_t msg_len, vmesh_buf *out)
{
    if (msg_len == 0 || msg_len > VMESH_ATLS_FRAME_MAX_LIMIT)
        return vmesh_err_set(VMESH_ERR_ARG, "re-attestation answer: message must be 1..%zu bytes",
                             VMESH_ATLS_FRAME_MAX_LIMIT);
    return put_pair(counter, msg, msg_len, out);
}

vmesh_err vmesh_atls_reattest_answer_decode(const uint8_t *p, size_t n, uint64_t *counter, const uint8_t **msg,
                                            size_t *msg_len)
{
    return rd_pair(p, n, "re-attestation answer", 1, VMESH_ATLS_FRAME_MAX_LIMIT, counter, msg, msg_len);
}

size_t vmesh_atls_reattest_context(vmesh_atls_role role, uint64_t counter, const uint8_t *nonce, size_t nonce_len,
                                   uint8_t out[1 + 8 + VMESH_ATLS_REATTEST_NONCE_MAX])
{
    size_t off = 0;

    if (nonce_len > VMESH_ATLS_REATTEST_NONCE_MAX)
        nonce_len = VMESH_ATLS_REATTEST_NONCE_MAX;
    out[off++] = (uint8_t)role;
    for (int i = 7; i >= 0; i--)
        out[off++] = (uint8_t)(counter >> (8 * i));
    memcpy(out + off, nonce, nonce_len);
    return off + nonce_len;
}

void vmesh_atls_reattest_binder_compute(vmesh_atls_role role, const uint8_t exporter[32], const uint8_t *leaf_spki,
                                        size_t leaf_spki_len, uint8_t out[32])
{
    uint8_t buf[sizeof(VMESH_ATLS_REATTEST_BINDER_LABEL) - 1 + 1 + 32 + 32];
    size_t off = 0;

    memcpy(buf, VMESH_ATLS_REATTEST_BINDER_LABEL, sizeof(VMESH_ATLS_REATTEST_BINDER_LABEL) - 1);
    off += sizeof(VMESH_ATLS_REATTEST_BINDER_LABEL) - 1;
    buf[off++] = (uint8_t)role;
    memcpy(buf + off, exporter, 32);
    off += 32;
    vmesh_crypto_sha256(leaf_spki, leaf_spki_len, buf + off);
    off += 32;
    vmesh_crypto_sha256(buf, off, out);
}
