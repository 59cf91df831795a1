/*
 * CBOR plumbing of the corim module: a pre-scan that bounds nesting and
 * checks every declared length against the bytes present before libcbor
 * decodes anything (libcbor 0.8 pre-allocates declared array sizes and
 * frees recursively), and a minimal writer of deterministic CBOR heads.
 * It must never read past the input or let hostile lengths drive memory use.
 */
#include "corim_int.h"

#include <string.h>

/* RFC 8949 §3: "the initial byte of each encoded data item contains both
 * information about the major type (the high-order 3 bits) and additional
 * information (the low-order 5 bits)". Values 28-30 are reserved (§3). */
static vmesh_err read_arg(const uint8_t *p, size_t n, size_t *i, unsigned ai, uint64_t *arg)
{
    vmesh_err rc = VMESH_OK;
    size_t len;

    if (ai < 24) {
        *arg = ai;
        goto out;
    }
    VMESH_ENSURE(ai <= 27, VMESH_ERR_PARSE, "reserved CBOR additional information %u at offset %zu",
                 ai, *i - 1);
    len = (size_t)1 << (ai - 24);
    VMESH_ENSURE(n - *i >= len, VMESH_ERR_PARSE, "CBOR truncated at offset %zu", *i);
    *arg = 0;
    for (size_t k = 0; k < len; k++)
        *arg = *arg << 8 | p[(*i)++];
out:
    return rc;
}

static vmesh_err prescan(const uint8_t *p, size_t n)
{
    struct {
        uint64_t left;
        bool indef;
        bool chunks; /* indefinite string: only definite chunks of one type */
        unsigned chunk_major;
    } st[VMESH_CORIM_MAX_DEPTH + 1];
    vmesh_err rc = VMESH_OK;
    int depth = 0;
    size_t i = 0;

    memset(st, 0, sizeof(st));
    st[0].left = 1;
    while (depth >= 0) {
        uint8_t ib;
        unsigned major, ai;
        uint64_t arg = 0;

        if (!st[depth].indef && st[depth].left == 0) {
            depth--;
            continue;
        }
        VMESH_ENSURE(i < n, VMESH_ERR_PARSE, "CBOR truncated at offset %zu", i);
        ib = p[i++];
        major = ib >> 5;
        ai = ib & 31;
        if (ib == 0xff) {
            VMESH_ENSURE(st[depth].indef, VMESH_ERR_PARSE, "unexpected CBOR break at offset %zu",
                         i - 1);
            depth--;
            continue;
        }
        if (st[depth].chunks)
            VMESH_ENSURE(major == st[depth].chunk_major && ai != 31, VMESH_ERR_PARSE,
                         "bad chunk in an indefinite-length string at offset %zu", i - 1);
        if (!st[depth].indef)
            st[depth].left--;
        if (ai == 31) {
            VMESH_ENSURE(major >= 2 && major <= 5, VMESH_ERR_PARSE,
                         "invalid indefinite length at offset %zu", i - 1);
            VMESH_ENSURE(depth < VMESH_CORIM_MAX_DEPTH, VMESH_ERR_PARSE,
                         "CBOR nested deeper than %d levels", VMESH_CORIM_MAX_DEPTH);
            depth++;
            memset(&st[depth], 0, sizeof(st[depth]));
            st[depth].indef = true;
            st[depth].chunks = major == 2 || major == 3;
            st[depth].chunk_major = major;
            continue;
        }
        VMESH_GUARD(read_arg(p, n, &i, ai, &arg));
        switch (major) {
        case 2:
        case 3:
            VMESH_ENSURE(arg <= n - i, VMESH_ERR_PARSE,
                         "CBOR string of %llu bytes at offset %zu runs past the end",
                         (unsigned long long)arg, i);
            i += (size_t)arg;
            break;
        case 4:
        case 5:
            /* Every element takes at least one byte. */
            VMESH_ENSURE(arg <= n - i && (major == 4 || arg <= (n - i) / 2), VMESH_ERR_PARSE,
                         "CBOR %s of %llu items at offset %zu is longer than the input",
                         major == 4 ? "array" : "map", (unsigned long long)arg, i);
            if (arg == 0)
                break;
            VMESH_ENSURE(depth < VMESH_CORIM_MAX_DEPTH, VMESH_ERR_PARSE,
                         "CBOR nested deeper than %d levels", VMESH_CORIM_MAX_DEPTH);
            depth++;
            memset(&st[depth], 0, sizeof(st[depth]));
            st[depth].left = major == 4 ? arg : arg * 2;
            break;
        case 6:
            VMESH_ENSURE(depth < VMESH_CORIM_MAX_DEPTH, VMESH_ERR_PARSE,
                         "CBOR nested deeper than %d levels", VMESH_CORIM_MAX_DEPTH);
            depth++;
            memset(&st[depth], 0, sizeof(st[depth]));
            st[depth].left = 1;
            break;
        default: /* 0, 1 integers; 7 simple values and floats */
            break;
        }
    }
    VMESH_ENSURE(i == n, VMESH_ERR_PARSE, "%zu trailing bytes after the CBOR item", n - i);
out:
    return rc;
}

vmesh_err vmesh_corim__decode(const uint8_t *p, size_t n, const char *what, cbor_item_t **out)
{
    vmesh_err rc = VMESH_OK;
    struct cbor_load_result res;
    cbor_item_t *item = NULL;

    *out = NULL;
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "%s is empty", what);
    VMESH_ENSURE(n <= VMESH_CORIM_MAX_SIZE, VMESH_ERR_TOO_LARGE, "%s is %zu bytes, the cap is %zu",
                 what, n, VMESH_CORIM_MAX_SIZE);
    rc = prescan(p, n);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "%s is not well-formed CBOR", what);
        goto out;
    }
    memset(&res, 0, sizeof(res));
    item = cbor_load(p, n, &res);
    VMESH_ENSURE(item != NULL && res.error.code == CBOR_ERR_NONE, VMESH_ERR_PARSE,
                 "%s: CBOR decoding failed at offset %zu (libcbor error %d)", what,
                 res.error.position, (int)res.error.code);
    VMESH_ENSURE(res.read == n, VMESH_ERR_PARSE, "%s: %zu trailing bytes", what, n - res.read);
    *out = item;
    item = NULL;
out:
    if (item != NULL)
        cbor_decref(&item);
    return rc;
}

vmesh_err vmesh_corim__head(vmesh_buf *b, unsigned major, uint64_t arg)
{
    uint8_t h[9];
    size_t n;

    /* RFC 8949 §4.2.1 preferred serialization: the shortest argument. */
    if (arg < 24) {
        h[0] = (uint8_t)(major << 5 | arg);
        n = 1;
    } else if (arg <= 0xff) {
        h[0] = (uint8_t)(major << 5 | 24);
        h[1] = (uint8_t)arg;
        n = 2;
    } else if (arg <= 0xffff) {
        h[0] = (uint8_t)(major << 5 | 25);
        h[1] = (uint8_t)(arg >> 8);
        h[2] = (uint8_t)arg;
        n = 3;
    } else if (arg <= 0xffffffffu) {
        h[0] = (uint8_t)(major << 5 | 26);
        for (int k = 0; k < 4; k++)
            h[1 + k] = (uint8_t)(arg >> (24 - 8 * k));
        n = 5;
    } else {
        h[0] = (uint8_t)(major << 5 | 27);
        for (int k = 0; k < 8; k++)
            h[1 + k] = (uint8_t)(arg >> (56 - 8 * k));
        n = 9;
    }
    return vmesh_buf_append(b, h, n);
}

vmesh_err vmesh_corim__bytes(vmesh_buf *b, unsigned major, const void *p, size_t n)
{
    vmesh_err rc = vmesh_corim__head(b, major, n);

    if (rc == VMESH_OK && n > 0)
        rc = vmesh_buf_append(b, p, n);
    return rc;
}

vmesh_err vmesh_corim__int(vmesh_buf *b, int64_t v)
{
    if (v >= 0)
        return vmesh_corim__head(b, 0, (uint64_t)v);
    return vmesh_corim__head(b, 1, (uint64_t)(-(v + 1)));
}
