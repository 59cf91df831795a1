/*
 * Reading CoMID items for the loader and for profiles (include/vmesh/corim.h):
 * typed views of one item of a CoRIM that vmesh_cbor_check has already
 * found well-formed, with CoRIM's error wording ("class-id must be a byte
 * string"). They never consume the item they are given and never trust a
 * length the reader did not check.
 */
#include "vmesh/corim.h"

#include <string.h>

bool vmesh_corim_is_tag(const vmesh_cbor *it, uint64_t tag)
{
    vmesh_cbor_head h;

    return it != NULL && it->n > 0 && vmesh_cbor_peek(it, &h) == VMESH_OK && h.major == VMESH_CBOR_TAG &&
           h.arg == tag;
}

vmesh_err vmesh_corim_untag(const vmesh_cbor *it, vmesh_cbor *inner)
{
    vmesh_err rc = VMESH_OK;
    uint64_t tag = 0;

    *inner = *it;
    inner->off = 0;
    VMESH_GUARD(vmesh_cbor_read_tag(inner, &tag, "a tagged item"));
    /* an item cursor starts at its item */
    inner->p += inner->off;
    inner->n -= inner->off;
    inner->off = 0;
out:
    return rc;
}

/* The major type of an item, for checks and messages. */
static unsigned major_of(const vmesh_cbor *it)
{
    vmesh_cbor_head h;

    if (it == NULL || it->n == 0 || vmesh_cbor_peek(it, &h) != VMESH_OK)
        return 8; /* nothing there */
    return h.major;
}

vmesh_err vmesh_corim_fields(const vmesh_cbor *map, const char *what, uint32_t allowed, const char *const *names,
                             size_t n_names, vmesh_cbor f[VMESH_CORIM_MAX_KEYS])
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor m = *map, pairs;
    uint64_t n = 0;

    memset(f, 0, VMESH_CORIM_MAX_KEYS * sizeof(*f));
    VMESH_ENSURE(major_of(map) == VMESH_CBOR_MAP, VMESH_ERR_PARSE, "%s must be a map", what);
    m.off = 0;
    VMESH_GUARD(vmesh_cbor_enter(&m, VMESH_CBOR_MAP, &pairs, &n, UINT64_MAX, what));
    for (uint64_t i = 0; i < n; i++) {
        vmesh_cbor_head h;
        uint64_t k = 0;

        VMESH_GUARD(vmesh_cbor_peek(&pairs, &h));
        VMESH_ENSURE(h.major == VMESH_CBOR_UINT, VMESH_ERR_UNSUPPORTED,
                     "%s has a key that is not an unsigned integer (an extension vmesh does not know)", what);
        VMESH_GUARD(vmesh_cbor_read_uint(&pairs, &k, what));
        VMESH_ENSURE(k < VMESH_CORIM_MAX_KEYS && (allowed >> k & 1u), VMESH_ERR_UNSUPPORTED,
                     "%s: key %llu%s%s%s is not supported by vmesh", what, (unsigned long long)k,
                     k < n_names && names[k] ? " (" : "", k < n_names && names[k] ? names[k] : "",
                     k < n_names && names[k] ? ")" : "");
        VMESH_ENSURE(f[k].n == 0, VMESH_ERR_PARSE, "%s: duplicate key %llu", what, (unsigned long long)k);
        VMESH_GUARD(vmesh_cbor_read_item(&pairs, &f[k]));
    }
out:
    return rc;
}

vmesh_err vmesh_corim_bytes(const vmesh_cbor *it, const char *what, const uint8_t **p, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor t = *it;
    vmesh_cbor_head h;

    VMESH_ENSURE(major_of(it) == VMESH_CBOR_BSTR, VMESH_ERR_PARSE, "%s must be a byte string", what);
    t.off = 0;
    VMESH_GUARD(vmesh_cbor_peek(&t, &h));
    VMESH_ENSURE(!h.indef, VMESH_ERR_UNSUPPORTED, "%s: indefinite-length byte strings are not supported", what);
    VMESH_GUARD(vmesh_cbor_read_bstr(&t, SIZE_MAX, p, n, what));
out:
    return rc;
}

vmesh_err vmesh_corim_text(const vmesh_cbor *it, const char *what, char *out, size_t max)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor t = *it;
    vmesh_cbor_head h;
    const char *s = NULL;
    size_t n = 0;

    VMESH_ENSURE(major_of(it) == VMESH_CBOR_TSTR, VMESH_ERR_PARSE, "%s must be a text string", what);
    t.off = 0;
    VMESH_GUARD(vmesh_cbor_peek(&t, &h));
    VMESH_ENSURE(!h.indef, VMESH_ERR_UNSUPPORTED, "%s: indefinite-length text strings are not supported", what);
    VMESH_ENSURE(h.arg < max, VMESH_ERR_TOO_LARGE, "%s is %llu bytes, the cap is %zu", what,
                 (unsigned long long)h.arg, max - 1);
    rc = vmesh_cbor_read_tstr(&t, max - 1, &s, &n, what);
    VMESH_ENSURE(rc == VMESH_OK, rc, "%s is not valid UTF-8 text or contains a NUL character", what);
    memcpy(out, s, n);
    out[n] = '\0';
out:
    return rc;
}

bool vmesh_corim_text_equals(const vmesh_cbor *it, const char *s)
{
    vmesh_cbor t = *it;
    const char *p = NULL;
    size_t n = 0, k = strlen(s);

    t.off = 0;
    return major_of(it) == VMESH_CBOR_TSTR && vmesh_cbor_read_tstr(&t, k, &p, &n, NULL) == VMESH_OK && n == k &&
           memcmp(p, s, k) == 0;
}

vmesh_err vmesh_corim_array(const vmesh_cbor *it, const char *what, bool non_empty, vmesh_cbor *items, uint64_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor t = *it;

    VMESH_ENSURE(major_of(it) == VMESH_CBOR_ARRAY, VMESH_ERR_PARSE, "%s must be an array", what);
    t.off = 0;
    VMESH_GUARD(vmesh_cbor_enter(&t, VMESH_CBOR_ARRAY, items, n, UINT64_MAX, what));
    VMESH_ENSURE(!non_empty || *n > 0, VMESH_ERR_PARSE, "%s is empty", what);
out:
    return rc;
}
