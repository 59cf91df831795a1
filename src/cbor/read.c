/*
 * The CBOR pull reader (include/vmesh/cbor.h): heads, typed items, and the
 * skip that walks a whole item with an explicit stack. This is the only
 * code in vmesh that decodes a CBOR head or trusts a CBOR length, so every
 * length and count is checked here against the bytes that remain before
 * anything uses it. It must never read past r->n, recurse on input, or
 * accept an item RFC 8949 calls not well-formed.
 */
#include "vmesh/cbor.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[8] = {"unsigned integer", "negative integer", "byte string",
                                          "text string",      "array",            "map",
                                          "tag",              "simple value or float"};
static const char *const type_articles[8] = {"an", "a", "a", "a", "an", "a", "a", "a"};

const char *vmesh_cbor_type_name(unsigned major)
{
    return major < 8 ? type_names[major] : "?";
}

void vmesh_cbor_init(vmesh_cbor *r, const uint8_t *p, size_t n, const char *what, unsigned flags)
{
    r->p = p;
    r->n = p != NULL ? n : 0;
    r->off = 0;
    r->what = what != NULL ? what : "CBOR";
    r->flags = flags;
    r->max_depth = VMESH_CBOR_DEFAULT_DEPTH;
}

size_t vmesh_cbor_left(const vmesh_cbor *r)
{
    return r->n - r->off;
}

bool vmesh_cbor_at_end(const vmesh_cbor *r)
{
    return r->off >= r->n;
}

vmesh_err vmesh_cbor_end(const vmesh_cbor *r, const char *after)
{
    if (r->off == r->n)
        return VMESH_OK;
    return vmesh_err_set(VMESH_ERR_PARSE, "%s: %zu trailing bytes after %s", r->what, r->n - r->off,
                         after != NULL ? after : "the CBOR item");
}

static const char *name_of(const char *field)
{
    return field != NULL ? field : "the item";
}

/* ---- heads --------------------------------------------------------------- */

/* Decodes the head at `off`. RFC 8949 §3: "The initial byte of each encoded
 * data item contains both information about the major type (the high-order
 * 3 bits ...) and additional information (the low-order 5 bits)". 24..27:
 * the argument follows in 1, 2, 4 or 8 bytes; 28..30 are reserved; 31 is
 * an indefinite length (major types 2..5) or the break (major type 7). A
 * break is reported as major 7 with indef set; the callers decide. */
static vmesh_err head_at(const vmesh_cbor *r, size_t off, vmesh_cbor_head *h, size_t *len)
{
    vmesh_err rc = VMESH_OK;
    uint8_t ib;
    size_t need;

    /* every output set first, also on the error paths (callers and gcc
     * -O3 alike then never see an unset head) */
    memset(h, 0, sizeof(*h));
    h->off = off;
    *len = 1;
    VMESH_ENSURE(off < r->n, VMESH_ERR_PARSE, "%s: truncated CBOR at offset %zu (an item was expected)",
                 r->what, off);
    ib = r->p[off];
    h->major = ib >> 5;
    h->ai = ib & 31u;
    if (h->ai < 24) {
        h->arg = h->ai;
        goto out;
    }
    if (h->ai == 31) {
        /* §3.2.1: "If the break stop code appears where a data item is
         * expected ... the item is not well-formed"; major types 0, 1 and 6
         * have no indefinite form (§3.2.4). */
        VMESH_ENSURE(h->major >= VMESH_CBOR_BSTR && h->major != VMESH_CBOR_TAG, VMESH_ERR_PARSE,
                     "%s: invalid additional information 31 for %s at offset %zu", r->what,
                     type_names[h->major], off);
        h->indef = true;
        if (h->major == VMESH_CBOR_SIMPLE)
            goto out; /* the break: the caller judges where it stands */
        VMESH_ENSURE((r->flags & VMESH_CBOR_INDEFINITE) && !(r->flags & VMESH_CBOR_DETERMINISTIC),
                     VMESH_ERR_PARSE, "%s: indefinite-length %s at offset %zu is not allowed here (only definite lengths)",
                     r->what, type_names[h->major], off);
        goto out;
    }
    VMESH_ENSURE(h->ai <= 27, VMESH_ERR_PARSE, "%s: reserved additional information %u at offset %zu", r->what,
                 h->ai, off);
    need = (size_t)1 << (h->ai - 24);
    VMESH_ENSURE(r->n - off - 1 >= need, VMESH_ERR_PARSE, "%s: truncated CBOR at offset %zu (the head needs %zu more bytes)",
                 r->what, off, need);
    for (size_t i = 0; i < need; i++)
        h->arg = h->arg << 8 | r->p[off + 1 + i];
    *len = 1 + need;
    if (h->major == VMESH_CBOR_SIMPLE) {
        /* §3.3: "an encoder MUST NOT issue two-byte sequences that start
         * with 0xf8 and continue with a byte less than 0x20"; 25..27 are
         * floats, whose argument is their bits. */
        VMESH_ENSURE(h->ai != 24 || h->arg >= 32, VMESH_ERR_PARSE, "%s: invalid simple value at offset %zu", r->what,
                     off);
        goto out;
    }
    /* §4.2.1: "The arguments ... for integers, lengths in major types 2
     * through 5, and tags are as short as possible". */
    if (r->flags & VMESH_CBOR_DETERMINISTIC)
        VMESH_ENSURE(h->arg >= (h->ai == 24 ? 24u : h->ai == 25 ? 0x100u : h->ai == 26 ? 0x10000u : 0x100000000ull),
                     VMESH_ERR_PARSE,
                     "%s: the head at offset %zu is not in its shortest form (deterministic CBOR required)", r->what,
                     off);
out:
    return rc;
}

vmesh_err vmesh_cbor_peek(const vmesh_cbor *r, vmesh_cbor_head *h)
{
    vmesh_err rc = VMESH_OK;
    size_t len;

    VMESH_GUARD(head_at(r, r->off, h, &len));
    VMESH_ENSURE(!(h->indef && h->major == VMESH_CBOR_SIMPLE), VMESH_ERR_PARSE,
                 "%s: unexpected break (0xff) at offset %zu", r->what, r->off);
out:
    return rc;
}

vmesh_err vmesh_cbor_read_head(vmesh_cbor *r, vmesh_cbor_head *h)
{
    vmesh_err rc = VMESH_OK;
    size_t len;

    VMESH_GUARD(head_at(r, r->off, h, &len));
    VMESH_ENSURE(!(h->indef && h->major == VMESH_CBOR_SIMPLE), VMESH_ERR_PARSE,
                 "%s: unexpected break (0xff) at offset %zu", r->what, r->off);
    r->off += len;
out:
    return rc;
}

bool vmesh_cbor_starts_with(const uint8_t *p, size_t n, unsigned major, uint64_t arg, size_t *len)
{
    vmesh_cbor r;
    vmesh_cbor_head h;
    size_t hl = 0;

    vmesh_cbor_init(&r, p, n, "sniff", 0);
    if (head_at(&r, 0, &h, &hl) != VMESH_OK || h.indef || h.major != major || h.arg != arg)
        return false;
    if (len != NULL)
        *len = hl;
    return true;
}

bool vmesh_cbor_at_null(const vmesh_cbor *r)
{
    vmesh_cbor_head h;

    return vmesh_cbor_peek(r, &h) == VMESH_OK && h.major == VMESH_CBOR_SIMPLE && h.ai < 24 &&
           h.arg == VMESH_CBOR_NULL;
}

/* The next head, of major type `want` (decoded once: this is the hot path
 * of every typed read). */
static vmesh_err expect(vmesh_cbor *r, unsigned want, vmesh_cbor_head *h, const char *field)
{
    vmesh_err rc = VMESH_OK;
    size_t len;

    VMESH_GUARD(head_at(r, r->off, h, &len));
    VMESH_ENSURE(!(h->indef && h->major == VMESH_CBOR_SIMPLE), VMESH_ERR_PARSE,
                 "%s: unexpected break (0xff) at offset %zu", r->what, r->off);
    VMESH_ENSURE(h->major == want, VMESH_ERR_PARSE, "%s: %s is %s %s, expected %s %s", r->what, name_of(field),
                 type_articles[h->major], type_names[h->major], type_articles[want], type_names[want]);
    r->off += len;
out:
    return rc;
}

/* ---- typed items ----------------------------------------------------------- */

vmesh_err vmesh_cbor_read_uint(vmesh_cbor *r, uint64_t *v, const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;

    VMESH_GUARD(expect(r, VMESH_CBOR_UINT, &h, field));
    *v = h.arg;
out:
    return rc;
}

vmesh_err vmesh_cbor_read_int(vmesh_cbor *r, int64_t *v, const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;

    VMESH_GUARD(vmesh_cbor_peek(r, &h));
    VMESH_ENSURE(h.major == VMESH_CBOR_UINT || h.major == VMESH_CBOR_NEGINT, VMESH_ERR_PARSE,
                 "%s: %s is %s %s, expected an integer", r->what, name_of(field), type_articles[h.major],
                 type_names[h.major]);
    /* §3.1: a negative integer's value is -1 minus the argument. */
    VMESH_ENSURE(h.arg <= (uint64_t)INT64_MAX, VMESH_ERR_PARSE, "%s: %s is out of range (beyond 64-bit signed)",
                 r->what, name_of(field));
    VMESH_GUARD(vmesh_cbor_read_head(r, &h));
    *v = h.major == VMESH_CBOR_UINT ? (int64_t)h.arg : -1 - (int64_t)h.arg;
out:
    return rc;
}

vmesh_err vmesh_cbor_read_int_key(vmesh_cbor *r, int64_t *key, bool *is_int)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;

    VMESH_GUARD(vmesh_cbor_peek(r, &h));
    *is_int = (h.major == VMESH_CBOR_UINT || h.major == VMESH_CBOR_NEGINT) && h.arg <= (uint64_t)INT64_MAX;
    if (*is_int)
        VMESH_GUARD(vmesh_cbor_read_int(r, key, "a map key"));
    else
        VMESH_GUARD(vmesh_cbor_skip(r));
out:
    return rc;
}

vmesh_err vmesh_cbor_read_bool(vmesh_cbor *r, bool *v, const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;

    VMESH_GUARD(vmesh_cbor_peek(r, &h));
    VMESH_ENSURE(h.major == VMESH_CBOR_SIMPLE, VMESH_ERR_PARSE, "%s: %s is %s %s, expected a boolean", r->what,
                 name_of(field), type_articles[h.major], type_names[h.major]);
    /* §3.3: simple values 20 (false) and 21 (true). */
    VMESH_ENSURE(h.ai < 24 &&
                     (h.arg == VMESH_CBOR_FALSE || h.arg == VMESH_CBOR_TRUE),
                 VMESH_ERR_PARSE, "%s: %s is not a boolean", r->what, name_of(field));
    VMESH_GUARD(vmesh_cbor_read_head(r, &h));
    *v = h.arg == VMESH_CBOR_TRUE;
out:
    return rc;
}

vmesh_err vmesh_cbor_read_tag(vmesh_cbor *r, uint64_t *tag, const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;

    VMESH_GUARD(expect(r, VMESH_CBOR_TAG, &h, field));
    *tag = h.arg;
out:
    return rc;
}

/* A definite string of major type `major`: cap first (the caller's limit),
 * then the bytes that are really there. */
static vmesh_err read_string(vmesh_cbor *r, unsigned major, size_t cap, const uint8_t **p, size_t *n,
                             const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;
    size_t at = r->off;

    VMESH_GUARD(expect(r, major, &h, field));
    VMESH_ENSURE(!h.indef, VMESH_ERR_UNSUPPORTED, "%s: %s at offset %zu is an indefinite-length string (not supported)",
                 r->what, name_of(field), h.off);
    VMESH_ENSURE(h.arg <= cap, VMESH_ERR_TOO_LARGE, "%s: %s is %llu bytes, the cap is %zu", r->what, name_of(field),
                 (unsigned long long)h.arg, cap);
    VMESH_ENSURE(h.arg <= vmesh_cbor_left(r), VMESH_ERR_PARSE,
                 "%s: %s is truncated: it declares %llu bytes at offset %zu, %zu are left", r->what,
                 name_of(field), (unsigned long long)h.arg, h.off, vmesh_cbor_left(r));
    *p = r->p + r->off;
    *n = (size_t)h.arg;
    r->off += (size_t)h.arg;
out:
    if (rc != VMESH_OK)
        r->off = at; /* a refused item is not consumed */
    return rc;
}

vmesh_err vmesh_cbor_read_bstr(vmesh_cbor *r, size_t cap, const uint8_t **p, size_t *n, const char *field)
{
    return read_string(r, VMESH_CBOR_BSTR, cap, p, n, field);
}

vmesh_err vmesh_cbor_read_tstr(vmesh_cbor *r, size_t cap, const char **p, size_t *n, const char *field)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *s = NULL;
    size_t len = 0, at = r->off;

    VMESH_GUARD(read_string(r, VMESH_CBOR_TSTR, cap, &s, &len, field));
    if (!vmesh_utf8_valid(s, len) || memchr(s, 0, len) != NULL) {
        r->off = at;
        VMESH_FAIL(VMESH_ERR_PARSE, "%s: %s is not valid UTF-8 text (or contains a NUL character)", r->what,
                   name_of(field));
    }
    *p = (const char *)s;
    *n = len;
out:
    return rc;
}

vmesh_err vmesh_cbor_read_tstr_dup(vmesh_cbor *r, size_t cap, char **out, const char *field)
{
    vmesh_err rc = VMESH_OK;
    const char *s = NULL;
    size_t n = 0;
    char *d;

    VMESH_GUARD(vmesh_cbor_read_tstr(r, cap, &s, &n, field));
    d = malloc(n + 1);
    VMESH_ENSURE(d != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    free(*out);
    *out = d;
out:
    return rc;
}

/* A definite array or map head: every item takes at least one byte (a map
 * pair two), so a count the bytes left cannot hold is refused before any
 * caller loops on it. */
static vmesh_err container(vmesh_cbor *r, unsigned major, uint64_t *count, uint64_t cap, const char *field,
                           vmesh_cbor_head *h)
{
    vmesh_err rc = VMESH_OK;
    uint64_t per = major == VMESH_CBOR_MAP ? 2 : 1;
    size_t at = r->off;

    VMESH_GUARD(expect(r, major, h, field));
    if (h->indef)
        goto out;
    VMESH_ENSURE(h->arg <= vmesh_cbor_left(r) / per, VMESH_ERR_PARSE,
                 "%s: %s at offset %zu declares %llu entries, more than the %zu bytes left can hold", r->what,
                 name_of(field), h->off, (unsigned long long)h->arg, vmesh_cbor_left(r));
    VMESH_ENSURE(h->arg <= cap, VMESH_ERR_TOO_LARGE, "%s: %s has %llu entries, the cap is %llu", r->what,
                 name_of(field), (unsigned long long)h->arg, (unsigned long long)cap);
    *count = h->arg;
out:
    if (rc != VMESH_OK)
        r->off = at;
    return rc;
}

static vmesh_err definite_container(vmesh_cbor *r, unsigned major, uint64_t *count, uint64_t cap,
                                    const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;

    VMESH_GUARD(container(r, major, count, cap, field, &h));
    if (h.indef)
        r->off = h.off;
    VMESH_ENSURE(!h.indef, VMESH_ERR_PARSE, "%s: %s at offset %zu is an indefinite-length %s (only definite lengths)",
                 r->what, name_of(field), h.off, type_names[major]);
out:
    return rc;
}

vmesh_err vmesh_cbor_read_array(vmesh_cbor *r, uint64_t *count, uint64_t cap, const char *field)
{
    return definite_container(r, VMESH_CBOR_ARRAY, count, cap, field);
}

vmesh_err vmesh_cbor_read_map(vmesh_cbor *r, uint64_t *count, uint64_t cap, const char *field)
{
    return definite_container(r, VMESH_CBOR_MAP, count, cap, field);
}

/* ---- skipping ---------------------------------------------------------------- */

/* One open level of the skip stack. */
typedef struct {
    uint64_t left;   /* items still to come (definite) */
    uint64_t pos;    /* items begun at this level; a map's keys are at even positions */
    bool indef;      /* ends at a break instead */
    bool map;
    unsigned chunks; /* indefinite string: the major type its chunks must have; 0 otherwise */
    size_t key_start, prev_start, prev_end; /* deterministic key order */
} level;

/* §4.2.1: "The keys in every map MUST be sorted in the bytewise
 * lexicographic order of their deterministic encodings." */
static vmesh_err key_order(const vmesh_cbor *r, level *l, size_t key_end)
{
    vmesh_err rc = VMESH_OK;
    size_t a = l->prev_end - l->prev_start, b = key_end - l->key_start;
    int c;

    if (l->pos > 1) {
        c = memcmp(r->p + l->prev_start, r->p + l->key_start, a < b ? a : b);
        VMESH_ENSURE(c != 0 || a != b, VMESH_ERR_PARSE, "%s: duplicate map key at offset %zu", r->what, l->key_start);
        VMESH_ENSURE(c < 0 || (c == 0 && a < b), VMESH_ERR_PARSE,
                     "%s: map key at offset %zu is not in deterministic order (RFC 8949 §4.2.1: keys sorted "
                     "bytewise)",
                     r->what, l->key_start);
    }
    l->prev_start = l->key_start;
    l->prev_end = key_end;
out:
    return rc;
}

/* Walks one item starting at r->off; *children counts the items directly
 * inside it when it is an array or map (pairs counted as two). */
static vmesh_err skip_item(vmesh_cbor *r, uint64_t *children)
{
    vmesh_err rc = VMESH_OK;
    level st[VMESH_CBOR_MAX_DEPTH + 1];
    unsigned depth = 0, max = r->max_depth;
    size_t off = r->off;

    if (max == 0 || max > VMESH_CBOR_MAX_DEPTH)
        max = VMESH_CBOR_MAX_DEPTH;
    memset(&st[0], 0, sizeof(st[0]));
    st[0].left = 1;
    *children = 0;
    for (;;) {
        level *l = &st[depth];
        vmesh_cbor_head h;
        size_t len;

        if (!l->indef && l->left == 0) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        VMESH_GUARD(head_at(r, off, &h, &len));
        if (h.indef && h.major == VMESH_CBOR_SIMPLE) {
            VMESH_ENSURE(l->indef, VMESH_ERR_PARSE, "%s: unexpected break (0xff) at offset %zu", r->what, off);
            VMESH_ENSURE(!l->map || l->pos % 2 == 0, VMESH_ERR_PARSE,
                         "%s: indefinite-length map ends at offset %zu after a key without a value", r->what, off);
            off += 1;
            depth--;
            continue;
        }
        if (l->map && (r->flags & VMESH_CBOR_DETERMINISTIC)) {
            if (l->pos % 2 == 0)
                l->key_start = off;
            else
                VMESH_GUARD(key_order(r, l, off));
        }
        l->pos++;
        if (!l->indef)
            l->left--;
        if (depth == 1)
            (*children)++;
        /* §3.2.3: the chunks of an indefinite-length string are definite
         * strings of the same major type. */
        VMESH_ENSURE(l->chunks == 0 || (h.major == l->chunks && !h.indef), VMESH_ERR_PARSE,
                     "%s: bad chunk at offset %zu in an indefinite-length string", r->what, off);
        off += len;
        if (h.major == VMESH_CBOR_BSTR || h.major == VMESH_CBOR_TSTR) {
            if (!h.indef) {
                VMESH_ENSURE(h.arg <= r->n - off, VMESH_ERR_PARSE,
                             "%s: %s at offset %zu is truncated: it declares %llu bytes, %zu are left", r->what,
                             type_names[h.major], h.off, (unsigned long long)h.arg, r->n - off);
                off += (size_t)h.arg;
                continue;
            }
        } else if (h.major == VMESH_CBOR_ARRAY || h.major == VMESH_CBOR_MAP) {
            if (!h.indef) {
                uint64_t per = h.major == VMESH_CBOR_MAP ? 2 : 1;

                VMESH_ENSURE(h.arg <= (r->n - off) / per, VMESH_ERR_PARSE,
                             "%s: %s at offset %zu declares %llu entries, more than the %zu bytes left can hold",
                             r->what, type_names[h.major], h.off, (unsigned long long)h.arg, r->n - off);
                if (h.arg == 0)
                    continue;
            }
        } else if (h.major != VMESH_CBOR_TAG) {
            continue; /* integers, simple values, floats: the head is the item */
        }
        /* a string of chunks, a non-empty array or map, or a tag's content:
         * one more level */
        VMESH_ENSURE(depth + 1 < max, VMESH_ERR_PARSE, "%s: CBOR nested deeper than %u levels at offset %zu", r->what,
                     max, h.off);
        depth++;
        memset(&st[depth], 0, sizeof(st[depth]));
        st[depth].indef = h.indef;
        st[depth].map = h.major == VMESH_CBOR_MAP;
        st[depth].chunks = h.indef && h.major <= VMESH_CBOR_TSTR ? h.major : 0;
        st[depth].left = h.major == VMESH_CBOR_TAG ? 1 : h.major == VMESH_CBOR_MAP ? h.arg * 2 : h.arg;
    }
    r->off = off;
out:
    return rc;
}

vmesh_err vmesh_cbor_skip(vmesh_cbor *r)
{
    uint64_t children;

    return skip_item(r, &children);
}

vmesh_err vmesh_cbor_read_item(vmesh_cbor *r, vmesh_cbor *item)
{
    vmesh_err rc = VMESH_OK;
    size_t start = r->off;

    VMESH_GUARD(vmesh_cbor_skip(r));
    *item = *r;
    item->p = r->p + start;
    item->n = r->off - start;
    item->off = 0;
out:
    return rc;
}

vmesh_err vmesh_cbor_check(const vmesh_cbor *r)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor t = *r;

    VMESH_GUARD(vmesh_cbor_skip(&t));
    VMESH_GUARD(vmesh_cbor_end(&t, "the CBOR item"));
out:
    return rc;
}

vmesh_err vmesh_cbor_enter(vmesh_cbor *r, unsigned major, vmesh_cbor *inner, uint64_t *count, uint64_t cap,
                           const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor t = *r;
    vmesh_cbor_head h;
    uint64_t children = 0, n = 0;
    size_t start;

    VMESH_ENSURE(major == VMESH_CBOR_ARRAY || major == VMESH_CBOR_MAP, VMESH_ERR_ARG,
                 "vmesh_cbor_enter: an array or a map");
    VMESH_GUARD(container(&t, major, &n, cap, field, &h));
    start = t.off;
    t.off = h.off;
    VMESH_GUARD(skip_item(&t, &children));
    if (h.indef) {
        n = major == VMESH_CBOR_MAP ? children / 2 : children;
        VMESH_ENSURE(n <= cap, VMESH_ERR_TOO_LARGE, "%s: %s has %llu entries, the cap is %llu", r->what,
                     name_of(field), (unsigned long long)n, (unsigned long long)cap);
    }
    *inner = *r;
    inner->p = r->p + start;
    inner->n = t.off - start - (h.indef ? 1 : 0); /* the break is not an item */
    inner->off = 0;
    inner->max_depth = r->max_depth > 1 ? r->max_depth - 1 : 1;
    *count = n;
    r->off = t.off;
out:
    return rc;
}
