/*
 * The one JSON string escaper of the project. Whatever bytes come in (a
 * peer's SPIFFE ID, a claim, a refusal reason quoting evidence), what comes
 * out is a valid JSON string: an access log or an API answer must never be
 * broken or forged by the text it carries.
 */
#include "vmesh/core.h"

#include <string.h>

static const char hexd[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

bool vmesh_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint64_t w;
        size_t l;

        /* ASCII, the common case (media types, claim names), eight bytes
         * at a time: this runs on every text string a peer sends */
        if (n - i >= 8) {
            memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        l = utf8_len(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* The next piece of output for s[i..n): either a run of bytes to copy as
 * they are (*copy > 0) or one escape in esc (returned length). */
static size_t next_piece(const unsigned char *s, size_t n, size_t i, size_t *copy, char esc[7])
{
    size_t j = i;

    while (j < n) {
        unsigned char c = s[j];
        size_t l;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            j++;
            continue;
        }
        if (c >= 0x80 && (l = utf8_len(s + j, n - j)) > 0) {
            j += l;
            continue;
        }
        break;
    }
    *copy = j - i;
    if (j > i)
        return 0;
    if (s[i] == '"' || s[i] == '\\') {
        esc[0] = '\\';
        esc[1] = (char)s[i];
        return 2;
    }
    if (s[i] < 0x20) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hexd[s[i] >> 4];
        esc[5] = hexd[s[i] & 15];
        return 6;
    }
    memcpy(esc, "\\ufffd", 6); /* not UTF-8 */
    return 6;
}

vmesh_err vmesh_json_str(vmesh_buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    vmesh_err rc = VMESH_OK;
    size_t i = 0;

    VMESH_ENSURE(s != NULL || n == 0, VMESH_ERR_ARG, "JSON string: no text given");
    VMESH_ENSURE(n <= SIZE_MAX - 2, VMESH_ERR_TOO_LARGE, "JSON string: %zu bytes is too long", n);
    VMESH_GUARD(vmesh_buf_reserve(out, n + 2));
    out->data[out->len++] = '"';
    while (i < n) {
        size_t copy;
        char esc[7];
        size_t el = next_piece(u, n, i, &copy, esc);
        if (copy > 0) {
            VMESH_GUARD(vmesh_buf_append(out, s + i, copy));
            i += copy;
        } else {
            VMESH_GUARD(vmesh_buf_append(out, esc, el));
            i++;
        }
    }
    VMESH_GUARD(vmesh_buf_append_u8(out, '"'));
out:
    return rc;
}

size_t vmesh_json_str_to(char *out, size_t cap, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u), i = 0, o = 0;

    if (cap == 0)
        return 0;
    while (i < n) {
        size_t copy;
        char esc[7];
        size_t el = next_piece(u, n, i, &copy, esc);
        if (copy > 0) {
            /* Cut a run only at a character boundary. */
            size_t room = cap - 1 - o, take = 0;
            while (take < copy) {
                size_t l = u[i + take] < 0x80 ? 1 : utf8_len(u + i + take, n - i - take);
                if (take + l > room)
                    break;
                take += l;
            }
            memcpy(out + o, u + i, take);
            o += take;
            i += take;
            if (take < copy)
                break;
        } else {
            if (o + el > cap - 1)
                break;
            memcpy(out + o, esc, el);
            o += el;
            i++;
        }
    }
    out[o] = '\0';
    return o;
}

vmesh_err vmesh_json_hex_member(vmesh_buf *out, const char *name, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(name != NULL && (p != NULL || n == 0), VMESH_ERR_ARG, "JSON hex member: no name or no bytes");
    VMESH_GUARD(vmesh_json_str(out, name, strlen(name)));
    VMESH_GUARD(vmesh_buf_append(out, ":\"", 2));
    VMESH_GUARD(vmesh_hex_encode(p, n, out));
    VMESH_GUARD(vmesh_buf_append_u8(out, '"'));
out:
    return rc;
}
