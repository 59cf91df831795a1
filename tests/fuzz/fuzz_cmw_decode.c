/* Fuzz target: RFC 9999 CMW (records and collections, CBOR and JSON):
 * strict decoding; whatever decodes re-encodes, and the CBOR encoding
 * decodes again to the same encoding; never crash, hang or leak. */
#include "vmesh/cmw.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_cmw c, d;
    vmesh_buf a = {0}, b = {0}, j = {0};

    vmesh_cmw_init(&c);
    vmesh_cmw_init(&d);
    if (vmesh_cmw_decode(data, size, &c) == VMESH_OK) {
        if (vmesh_cmw_encode_cbor(&c, &a) != VMESH_OK || vmesh_cmw_decode_cbor(a.data, a.len, &d) != VMESH_OK ||
            vmesh_cmw_encode_cbor(&d, &b) != VMESH_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort(); /* a decoded CMW must survive its own encoding */
        if (vmesh_cmw_encode_json(&c, &j) != VMESH_OK)
            vmesh_err_clear(); /* Content-Format types and integer labels have no JSON form */
    }
    vmesh_err_clear();
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    vmesh_buf_free(&j);
    vmesh_cmw_free(&c);
    vmesh_cmw_free(&d);
    return 0;
}
