/*
 * The deterministic CBOR writer (include/vmesh/cbor.h): shortest heads and
 * definite lengths only, appended to a vmesh_buf whose cap bounds the
 * output. Formats compose these calls; none of them writes a head by hand.
 */
#include "vmesh/cbor.h"

#include <stdint.h>
#include <string.h>

/* RFC 8949 §4.2.1: "The arguments ... for integers, lengths in major types
 * 2 through 5, and tags are as short as possible": 0..23 in the initial
 * byte, then 1, 2, 4 or 8 following bytes. */
vmesh_err vmesh_cbor_put_head(vmesh_buf *b, unsigned major, uint64_t arg)
{
    uint8_t h[9];
    size_t n, extra;
    unsigned ai;

    if (major > VMESH_CBOR_SIMPLE)
        return vmesh_err_set(VMESH_ERR_ARG, "CBOR writer: major type %u does not exist", major);
    if (arg < 24) {
        h[0] = (uint8_t)(major << 5 | arg);
        return vmesh_buf_append(b, h, 1);
    }
    if (arg <= 0xff)
        ai = 24, extra = 1;
    else if (arg <= 0xffff)
        ai = 25, extra = 2;
    else if (arg <= 0xffffffffu)
        ai = 26, extra = 4;
    else
        ai = 27, extra = 8;
    h[0] = (uint8_t)(major << 5 | ai);
    for (n = 0; n < extra; n++)
        h[1 + n] = (uint8_t)(arg >> (8 * (extra - 1 - n)));
    return vmesh_buf_append(b, h, 1 + extra);
}

vmesh_err vmesh_cbor_put_uint(vmesh_buf *b, uint64_t v)
{
    return vmesh_cbor_put_head(b, VMESH_CBOR_UINT, v);
}

vmesh_err vmesh_cbor_put_int(vmesh_buf *b, int64_t v)
{
    /* §3.1: major type 1 encodes -1 - argument. */
    if (v >= 0)
        return vmesh_cbor_put_head(b, VMESH_CBOR_UINT, (uint64_t)v);
    return vmesh_cbor_put_head(b, VMESH_CBOR_NEGINT, (uint64_t)(-(v + 1)));
}

static vmesh_err put_string(vmesh_buf *b, unsigned major, const void *p, size_t n)
{
    vmesh_err rc;

    if (n > SIZE_MAX - 9)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "CBOR writer: a string of %zu bytes", n);
    /* room for head and content first: a string is written whole or not at all */
    rc = vmesh_buf_reserve(b, 9 + n);
    if (rc == VMESH_OK)
        rc = vmesh_cbor_put_head(b, major, n);
    if (rc == VMESH_OK)
        rc = vmesh_buf_append(b, p, n);
    return rc;
}

vmesh_err vmesh_cbor_put_bstr(vmesh_buf *b, const void *p, size_t n)
{
    return put_string(b, VMESH_CBOR_BSTR, p, n);
}

vmesh_err vmesh_cbor_put_tstr(vmesh_buf *b, const char *s, size_t n)
{
    return put_string(b, VMESH_CBOR_TSTR, s, n);
}

vmesh_err vmesh_cbor_put_text(vmesh_buf *b, const char *s)
{
    return put_string(b, VMESH_CBOR_TSTR, s, strlen(s));
}

vmesh_err vmesh_cbor_put_array(vmesh_buf *b, uint64_t count)
{
    return vmesh_cbor_put_head(b, VMESH_CBOR_ARRAY, count);
}

vmesh_err vmesh_cbor_put_map(vmesh_buf *b, uint64_t pairs)
{
    return vmesh_cbor_put_head(b, VMESH_CBOR_MAP, pairs);
}

vmesh_err vmesh_cbor_put_tag(vmesh_buf *b, uint64_t tag)
{
    return vmesh_cbor_put_head(b, VMESH_CBOR_TAG, tag);
}

vmesh_err vmesh_cbor_put_bool(vmesh_buf *b, bool v)
{
    return vmesh_cbor_put_head(b, VMESH_CBOR_SIMPLE, v ? VMESH_CBOR_TRUE : VMESH_CBOR_FALSE);
}
