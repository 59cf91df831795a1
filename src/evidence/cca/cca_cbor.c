/*
 * Bounded CBOR pull reader and deterministic writer for the cca module.
 * The reader builds no tree and trusts no declared length: every string
 * length is checked against the bytes left and every array or map count
 * against what the input could possibly hold, so a hostile token costs no
 * more than its own size. It must never read past its input.
 */
#include "cca_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const mt_names[] = {"unsigned integer", "negative integer", "byte string",
                                       "text string",      "array",            "map",
                                       "tag",              "simple value/float"};

const char *cca_mt_name(unsigned mt)
{
    return mt < 8 ? mt_names[mt] : "?";
}

size_t cca_rd_left(const cca_rd *r)
{
    return r->n - r->off;
}

/* RFC 8949 §3: initial byte = major type (3 bits) + additional info (5
 * bits); 24..27 announce 1, 2, 4 or 8 following bytes. Indefinite lengths
 * (31) are refused: CCA tokens are deterministic CBOR (RFC 9783 §5.1.1 for
 * the PSA-derived platform token: "only definite-length string, arrays,
 * and maps are allowed"). */
vmesh_err cca_rd_head(cca_rd *r, unsigned *mt, uint64_t *val)
{
    uint8_t ib, ai;
    size_t need;
    uint64_t v = 0;

    if (r->off >= r->n)
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: CBOR truncated at offset %zu", r->ctx, r->off);
    ib = r->p[r->off];
    *mt = ib >> 5;
    ai = ib & 0x1f;
    if (ai < 24) {
        r->off++;
        *val = ai;
        return VMESH_OK;
    }
    if (ai > 27)
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: CBOR item at offset %zu has %s (only definite lengths are allowed)",
                             r->ctx, r->off, ai == 31 ? "an indefinite length" : "a reserved length encoding");
    need = (size_t)1 << (ai - 24);
    if (r->n - r->off - 1 < need)
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: CBOR truncated at offset %zu", r->ctx, r->off);
    for (size_t i = 0; i < need; i++)
        v = v << 8 | r->p[r->off + 1 + i];
    r->off += 1 + need;
    *val = v;
    return VMESH_OK;
}

vmesh_err cca_rd_skip(cca_rd *r, int depth)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_ENSURE(depth < CCA_MAX_DEPTH, VMESH_ERR_PARSE, "%s: CBOR nested deeper than %d levels", r->ctx,
                 CCA_MAX_DEPTH);
    VMESH_GUARD(cca_rd_head(r, &mt, &v));
    switch (mt) {
    case CB_BSTR:
    case CB_TSTR:
        VMESH_ENSURE(v <= cca_rd_left(r), VMESH_ERR_PARSE, "%s: CBOR string truncated at offset %zu", r->ctx,
                     r->off);
        r->off += (size_t)v;
        break;
    case CB_ARRAY:
    case CB_MAP:
        /* every item takes at least one byte */
        VMESH_ENSURE(v <= cca_rd_left(r) / (mt == CB_MAP ? 2 : 1), VMESH_ERR_PARSE,
                     "%s: CBOR %s at offset %zu declares %llu items, more than the input holds", r->ctx,
                     mt_names[mt], r->off, (unsigned long long)v);
        for (uint64_t i = 0; i < v * (mt == CB_MAP ? 2 : 1); i++)
            VMESH_GUARD(cca_rd_skip(r, depth + 1));
        break;
    case CB_TAG:
        VMESH_GUARD(cca_rd_skip(r, depth + 1));
        break;
    default:
        break;
    }
out:
    return rc;
}

vmesh_err cca_rd_string(cca_rd *r, unsigned mt_want, const char *what, const uint8_t **p, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_GUARD(cca_rd_head(r, &mt, &v));
    VMESH_ENSURE(mt == mt_want, VMESH_ERR_PARSE, "%s: %s is a %s, expected a %s", r->ctx, what, mt_names[mt],
                 mt_names[mt_want]);
    VMESH_ENSURE(v <= cca_rd_left(r), VMESH_ERR_PARSE, "%s: %s is truncated", r->ctx, what);
    *p = r->p + r->off;
    *n = (size_t)v;
    r->off += (size_t)v;
out:
    return rc;
}

vmesh_err cca_rd_bytes(cca_rd *r, const char *what, uint8_t *dst, size_t cap, size_t *len)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *p = NULL;
    size_t n = 0;

    VMESH_GUARD(cca_rd_string(r, CB_BSTR, what, &p, &n));
    VMESH_ENSURE(n <= cap, VMESH_ERR_PARSE, "%s: %s is %zu bytes, longer than the %zu allowed", r->ctx, what, n,
                 cap);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "%s: %s is empty", r->ctx, what);
    memcpy(dst, p, n);
    *len = n;
out:
    return rc;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t b = s[i];
        size_t extra;
        uint32_t cp;

        if (b == 0)
            return false;
        if (b < 0x80) {
            i++;
            continue;
        }
        if ((b & 0xe0) == 0xc0) {
            extra = 1;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            extra = 2;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            extra = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

vmesh_err cca_text_dup(const char *p, size_t n, const char *what, char **out)
{
    char *s;

    if (n > VMESH_CCA_MAX_TEXT)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "CCA claims: %s is %zu bytes long, the limit is %d", what, n,
                             VMESH_CCA_MAX_TEXT);
    if (!utf8_valid((const uint8_t *)p, n))
        return vmesh_err_set(VMESH_ERR_PARSE, "CCA claims: %s is not valid UTF-8 text (or contains NUL)", what);
    s = malloc(n + 1);
    if (s == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    free(*out);
    *out = s;
    return VMESH_OK;
}

vmesh_err cca_rd_text(cca_rd *r, const char *what, char **out)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *p = NULL;
    size_t n = 0;

    VMESH_GUARD(cca_rd_string(r, CB_TSTR, what, &p, &n));
    VMESH_GUARD(cca_text_dup((const char *)p, n, what, out));
out:
    return rc;
}

vmesh_err cca_rd_int(cca_rd *r, const char *what, int64_t *out)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_GUARD(cca_rd_head(r, &mt, &v));
    VMESH_ENSURE(mt == CB_UINT || mt == CB_NEGINT, VMESH_ERR_PARSE, "%s: %s is a %s, expected an integer", r->ctx,
                 what, mt_names[mt]);
    VMESH_ENSURE(v <= (uint64_t)INT64_MAX, VMESH_ERR_PARSE, "%s: %s is out of range", r->ctx, what);
    *out = mt == CB_UINT ? (int64_t)v : -1 - (int64_t)v;
out:
    return rc;
}

vmesh_err cca_rd_key(cca_rd *r, int64_t *key, bool *is_int)
{
    vmesh_err rc = VMESH_OK;
    size_t save = r->off;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_GUARD(cca_rd_head(r, &mt, &v));
    if ((mt == CB_UINT || mt == CB_NEGINT) && v <= (uint64_t)INT64_MAX) {
        *key = mt == CB_UINT ? (int64_t)v : -1 - (int64_t)v;
        *is_int = true;
    } else {
        r->off = save;
        VMESH_GUARD(cca_rd_skip(r, 1));
        *is_int = false;
    }
out:
    return rc;
}

vmesh_err cca_w_head(vmesh_buf *b, unsigned mt, uint64_t v)
{
    uint8_t h[9];
    size_t n;

    if (v < 24) {
        h[0] = (uint8_t)(mt << 5 | v);
        n = 1;
    } else if (v <= 0xff) {
        h[0] = (uint8_t)(mt << 5 | 24);
        h[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xffff) {
        h[0] = (uint8_t)(mt << 5 | 25);
        h[1] = (uint8_t)(v >> 8);
        h[2] = (uint8_t)v;
        n = 3;
    } else if (v <= 0xffffffffu) {
        h[0] = (uint8_t)(mt << 5 | 26);
        for (int i = 0; i < 4; i++)
            h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
        n = 5;
    } else {
        h[0] = (uint8_t)(mt << 5 | 27);
        for (int i = 0; i < 8; i++)
            h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        n = 9;
    }
    return vmesh_buf_append(b, h, n);
}

vmesh_err cca_w_int(vmesh_buf *b, int64_t v)
{
    return v >= 0 ? cca_w_head(b, CB_UINT, (uint64_t)v) : cca_w_head(b, CB_NEGINT, (uint64_t)(-1 - v));
}

vmesh_err cca_w_bstr(vmesh_buf *b, const uint8_t *p, size_t n)
{
    vmesh_err rc = cca_w_head(b, CB_BSTR, n);

    return rc == VMESH_OK && n > 0 ? vmesh_buf_append(b, p, n) : rc;
}

vmesh_err cca_w_tstr(vmesh_buf *b, const char *s)
{
    size_t n = strlen(s);
    vmesh_err rc = cca_w_head(b, CB_TSTR, n);

    return rc == VMESH_OK && n > 0 ? vmesh_buf_append(b, s, n) : rc;
}

void cca_sw_clear(vmesh_psa_sw_component *sc)
{
    free(sc->measurement_type);
    free(sc->version);
    free(sc->measurement_desc);
    memset(sc, 0, sizeof(*sc));
}
