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

/* Value of each base64 character, both alphabets (RFC 4648 §4 and §5); -1:
 * not one. A table: this decodes every JWS (EAR) a relying party checks. */
static const int8_t b64val[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, 62, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Offset of the first character of s[0..n) that is not base64. */
static size_t b64_bad_at(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && b64val[(unsigned char)s[i]] >= 0)
        i++;
    return i;
}

vmesh_err vmesh_b64_decode(const char *s, size_t n, vmesh_buf *out)
{
    vmesh_err rc;
    size_t i, data_end = n, rem;
    const unsigned char *u = (const unsigned char *)s;

    while (data_end > 0 && s[data_end - 1] == '=')
        data_end--;
    if (n - data_end > 2 || (n != data_end && n % 4 != 0))
        return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 padding");
    if (data_end % 4 == 1)
        return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 length %zu", data_end);
    rc = vmesh_buf_reserve(out, data_end / 4 * 3 + 3);
    if (rc != VMESH_OK)
        return rc;
    /* four characters, three bytes at a time */
    for (i = 0; i + 4 <= data_end; i += 4) {
        int32_t a = b64val[u[i]], b = b64val[u[i + 1]], c = b64val[u[i + 2]], d = b64val[u[i + 3]];
        if ((a | b | c | d) < 0)
            return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 character at offset %zu",
                                 i + b64_bad_at(s + i, 4));
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out->data[out->len++] = (uint8_t)(v >> 16);
        out->data[out->len++] = (uint8_t)(v >> 8);
        out->data[out->len++] = (uint8_t)v;
    }
    /* the last 2 or 3 characters: 1 or 2 bytes, the bits left over must be 0 */
    rem = data_end - i;
    if (rem == 0)
        return VMESH_OK;
    if (b64_bad_at(s + i, rem) < rem)
        return vmesh_err_set(VMESH_ERR_PARSE, "invalid base64 character at offset %zu", i + b64_bad_at(s + i, rem));
    {
        uint32_t a = (uint32_t)b64val[u[i]], b = (uint32_t)b64val[u[i + 1]];
        uint32_t c = rem == 3 ? (uint32_t)b64val[u[i + 2]] : 0;
        out->data[out->len++] = (uint8_t)(a << 2 | b >> 4);
        if (rem == 3)
            out->data[out->len++] = (uint8_t)((b & 15) << 4 | c >> 2);
        if ((rem == 2 && (b & 15) != 0) || (rem == 3 && (c & 3) != 0))
            return vmesh_err_set(VMESH_ERR_PARSE, "base64 has non-zero trailing bits");
    }
    return VMESH_OK;
}
