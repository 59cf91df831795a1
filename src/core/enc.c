/*
 * Hex and base64 codecs. Decoders refuse any character outside their
 * alphabet rather than skipping it: silently ignored input hides bugs.
 */
#include "vmesh/core.h"

static const char hexd[] = "0123456789abcdef";
static const char b64std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

vmesh_err vmesh_hex_encode(const uint8_t *p, size_t n, vmesh_buf *out)
{
    vmesh_err rc;

    if (n > SIZE_MAX / 2)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "hex input too large");
    rc = vmesh_buf_reserve(out, n * 2);
    if (rc != VMESH_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = (uint8_t)hexd[p[i] >> 4];
        out->data[out->len++] = (uint8_t)hexd[p[i] & 15];
    }
    return vmesh_buf_terminate(out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

vmesh_err vmesh_hex_decode(const char *s, size_t n, vmesh_buf *out)
{
    vmesh_err rc;

    if (n % 2 != 0)
        return vmesh_err_set(VMESH_ERR_PARSE, "hex string has an odd number of digits (%zu)", n);
    rc = vmesh_buf_reserve(out, n / 2);
    if (rc != VMESH_OK)
        return rc;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return vmesh_err_set(VMESH_ERR_PARSE, "invalid hex digit at offset %zu", hi < 0 ? i : i + 1);
        out->data[out->len++] = (uint8_t)(hi << 4 | lo);
    }
    return VMESH_OK;
}

static vmesh_err b64_encode(const uint8_t *p, size_t n, vmesh_buf *out,
                            const char *alpha, bool pad)
{
    vmesh_err rc;
    size_t i;

    if (n > SIZE_MAX / 2)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "base64 input too large");
    rc = vmesh_buf_reserve(out, (n + 2) / 3 * 4);
    if (rc != VMESH_OK)
        return rc;
    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out->data[out->len++] = (uint8_t)alpha[v >> 18 & 63];
        out->data[out->len++] = (uint8_t)alpha[v >> 12 & 63];
        out->data[out->len++] = (uint8_t)alpha[v >> 6 & 63];
        out->data[out->len++] = (uint8_t)alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out->data[out->len++] = (uint8_t)alpha[v >> 18 & 63];
        out->data[out->len++] = (uint8_t)alpha[v >> 12 & 63];
        if (pad) {
            out->data[out->len++] = '=';
            out->data[out->len++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out->data[out->len++] = (uint8_t)alpha[v >> 18 & 63];
        out->data[out->len++] = (uint8_t)alpha[v >> 12 & 63];
        out->data[out->len++] = (uint8_t)alpha[v >> 6 & 63];
        if (pad)
            out->data[out->len++] = '=';
    }
    return vmesh_buf_terminate(out);
}

vmesh_err vmesh_b64_encode(const uint8_t *p, size_t n, vmesh_buf *out)
{
    return b64_encode(p, n, out, b64std, true);
}

vmesh_err vmesh_b64url_encode(const uint8_t *p, size_t n, vmesh_buf *out)
{
    return b64_encode(p, n, out, b64url, false);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

vmesh_err vmesh_b64_decode(const char *s, size_t n, vmesh_buf *out)
{
    vmesh_err rc;
    uint32_t acc = 0;
    int bits = 0;
    size_t i, data_end = n;

    while (data_end > 0 && s[data_end - 1] == '=')
        data_end--;
    if (n - data_end > 2 || (n != data_end && n % 4 != 0))
        return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 padding");
    if (data_end % 4 == 1)
        return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 length %zu", data_end);
    rc = vmesh_buf_reserve(out, data_end / 4 * 3 + 3);
    if (rc != VMESH_OK)
        return rc;
    for (i = 0; i < data_end; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 character at offset %zu", i);
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return vmesh_err_set(VMESH_ERR_PARSE, "base64 has non-zero trailing bits");
    return VMESH_OK;
}
