/*
 * Fuzz target: the attested SVID issuer's wire (include/vmesh/issuer.h),
 * everything a hostile client or issuer sends after the attested
 * handshake. The first byte picks what the rest is: a request payload, an
 * answer payload, or a CSR (DER PKCS#10) checked against an identity. A
 * decoded request or answer must re-encode to a value that decodes the
 * same. Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/issuer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *csr, *p = data + 1;
    size_t n = size - 1, csr_len, csr_len2;
    uint64_t ttl, ttl2;
    vmesh_buf enc = {0}, spki = {0};
    vmesh_issuer_answer a, b;
    unsigned st;
    const char *name;

    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        if (vmesh_issuer_request_decode(p, n, &csr, &csr_len, &ttl) == VMESH_OK) {
            if (vmesh_issuer_request_encode(csr, csr_len, ttl, &enc) != VMESH_OK ||
                vmesh_issuer_request_decode(enc.data, enc.len, &csr, &csr_len2, &ttl2) != VMESH_OK ||
                csr_len2 != csr_len || ttl2 != ttl)
                __builtin_trap();
            (void)vmesh_issuer_csr_check(csr, csr_len, "spiffe://example.org/node", &spki, &st, &name);
        }
        break;
    case 1:
        vmesh_issuer_answer_init(&a);
        vmesh_issuer_answer_init(&b);
        if (vmesh_issuer_answer_decode(p, n, &a) == VMESH_OK) {
            if (vmesh_issuer_answer_encode(a.status, a.name, a.detail, a.chain.data, a.chain.len, &enc) != VMESH_OK ||
                vmesh_issuer_answer_decode(enc.data, enc.len, &b) != VMESH_OK || a.status != b.status ||
                strcmp(a.name, b.name) != 0 || strcmp(a.detail, b.detail) != 0 || a.chain.len != b.chain.len)
                __builtin_trap();
        }
        vmesh_issuer_answer_free(&a);
        vmesh_issuer_answer_free(&b);
        break;
    default:
        if (vmesh_issuer_csr_check(p, n, "spiffe://example.org/node", &spki, &st, &name) == VMESH_OK &&
            (st != 200 || spki.len == 0))
            __builtin_trap();
        break;
    }
    vmesh_err_clear();
    vmesh_buf_free(&enc);
    vmesh_buf_free(&spki);
    return 0;
}
