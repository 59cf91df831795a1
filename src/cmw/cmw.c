/*
 * RFC 9999 CMW: records and one-level collections, CBOR and JSON
 * (include/vmesh/cmw.h).
 */
#include "vmesh/cmw.h"

#include "vmesh/cbor.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CTYPE_KEY "__cmwc_t"

static void rec_free(vmesh_cmw_record *r)
{
    free(r->label);
    free(r->type);
    vmesh_buf_free(&r->value);
    memset(r, 0, sizeof(*r));
}

void vmesh_cmw_init(vmesh_cmw *c)
{
    memset(c, 0, sizeof(*c));
}

void vmesh_cmw_free(vmesh_cmw *c)
{
    for (size_t i = 0; i < c->n; i++)
        rec_free(&c->rec[i]);
    free(c->ctype);
    vmesh_cmw_init(c);
}

/* A media type as RFC 9999 §3.1 uses it (Content-Type of RFC 9193 §2):
 * type "/" subtype [parameters]; here: printable ASCII, a '/' after a
 * non-empty type, not starting with '#' (the tunnel sentinel, §3.3). */
static bool type_ok(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);

    if (n == 0 || n > VMESH_CMW_MAX_TYPE || s[0] == '#' || slash == NULL || slash == s || slash + 1 == s + n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static bool label_taken(const vmesh_cmw *c, const char *label, int64_t ilabel)
{
    return vmesh_cmw_find(c, label, ilabel) != NULL || (label != NULL && strcmp(label, CTYPE_KEY) == 0);
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

const vmesh_cmw_record *vmesh_cmw_find(const vmesh_cmw *c, const char *label, int64_t ilabel)
{
    for (size_t i = 0; i < c->n; i++) {
        const vmesh_cmw_record *r = &c->rec[i];

        if (label != NULL ? (!r->label_is_int && r->label != NULL && strcmp(r->label, label) == 0)
                          : (r->label_is_int && r->ilabel == ilabel))
            return r;
    }
    return NULL;
}

/* Takes a new slot; the caller fills it. */
static vmesh_err new_rec(vmesh_cmw *c, const char *label, size_t label_n, int64_t ilabel, bool is_int,
                         vmesh_cmw_record **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cmw_record *r = NULL;

    VMESH_ENSURE(c->collection || c->n == 0, VMESH_ERR_ARG, "CMW: a record holds one message");
    VMESH_ENSURE(c->n < VMESH_CMW_MAX_ITEMS, VMESH_ERR_TOO_LARGE, "CMW: a collection holds at most %d members",
                 VMESH_CMW_MAX_ITEMS);
    r = &c->rec[c->n];
    memset(r, 0, sizeof(*r));
    vmesh_buf_init(&r->value, VMESH_CMW_MAX_VALUE);
    if (c->collection) {
        if (is_int) {
            VMESH_ENSURE(!label_taken(c, NULL, ilabel), VMESH_ERR_PARSE, "CMW collection: label %lld appears twice",
                         (long long)ilabel);
            r->label_is_int = true;
            r->ilabel = ilabel;
        } else {
            VMESH_ENSURE(label_n > 0 && label_n <= VMESH_CMW_MAX_TYPE && memchr(label, 0, label_n) == NULL,
                         VMESH_ERR_PARSE, "CMW collection: a label is empty, longer than %d bytes or has a NUL",
                         VMESH_CMW_MAX_TYPE);
            r->label = dupn(label, label_n);
            VMESH_ENSURE(r->label != NULL, VMESH_ERR_NOMEM, "CMW: out of memory");
            /* the new slot is not counted yet: look for the label among the others */
            VMESH_ENSURE(!label_taken(c, r->label, 0), VMESH_ERR_PARSE,
                         strcmp(r->label, CTYPE_KEY) == 0 ? "CMW collection: \"%s\" is reserved, not a label"
                                                          : "CMW collection: label \"%s\" appears twice",
                         r->label);
        }
    }
    c->n++;
    *out = r;
out:
    if (rc != VMESH_OK && r != NULL) /* not counted yet */
        rec_free(r);
    return rc;
}

vmesh_err vmesh_cmw_add(vmesh_cmw *c, const char *label, int64_t ilabel, const char *type, const uint8_t *value,
                        size_t n, uint64_t ind)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cmw_record *r = NULL;

    VMESH_ENSURE(type != NULL && type_ok(type, strlen(type)), VMESH_ERR_ARG,
                 "CMW: the type must be a media type (type/subtype, printable ASCII, at most %d bytes)",
                 VMESH_CMW_MAX_TYPE);
    VMESH_GUARD(new_rec(c, label, label ? strlen(label) : 0, ilabel, label == NULL, &r));
    r->type = strdup(type);
    VMESH_ENSURE(r->type != NULL, VMESH_ERR_NOMEM, "CMW: out of memory");
    VMESH_GUARD(vmesh_buf_set(&r->value, value, n));
    r->ind = ind;
out:
    return rc;
}

/* ---- CBOR ----------------------------------------------------------------- */

static vmesh_err cbor_record(vmesh_cbor *r, vmesh_cmw_record *rec, const char *where)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;
    uint64_t count = 0, v = 0;
    const char *t;
    const uint8_t *p;
    size_t tn, pn;

    VMESH_GUARD(vmesh_cbor_peek(r, &h));
    VMESH_ENSURE(h.major != VMESH_CBOR_TAG, VMESH_ERR_UNSUPPORTED,
                 "%s: %s is a CBOR-tag CMW (RFC 9999 §3.2), which vmesh does not accept", r->what, where);
    VMESH_ENSURE(h.major != VMESH_CBOR_MAP, VMESH_ERR_UNSUPPORTED,
                 "%s: %s is a nested collection; vmesh accepts collections of records only", r->what, where);
    VMESH_ENSURE(h.major == VMESH_CBOR_ARRAY && !h.indef && (h.arg == 2 || h.arg == 3), VMESH_ERR_PARSE,
                 "%s: %s is not a record [type, value, ? ind] (found a %s%s)", r->what, where,
                 vmesh_cbor_type_name(h.major), h.major == VMESH_CBOR_ARRAY ? " of another length" : "");
    VMESH_GUARD(vmesh_cbor_read_array(r, &count, 3, where));
    VMESH_GUARD(vmesh_cbor_peek(r, &h));
    if (h.major == VMESH_CBOR_UINT) {
        VMESH_GUARD(vmesh_cbor_read_uint(r, &v, "the record type"));
        VMESH_ENSURE(v <= UINT16_MAX, VMESH_ERR_PARSE, "%s: %s type %llu is not a CoAP Content-Format (0..65535)",
                     r->what, where, (unsigned long long)v);
        rec->cf = (uint16_t)v;
    } else {
        VMESH_ENSURE(h.major == VMESH_CBOR_TSTR, VMESH_ERR_PARSE,
                     "%s: %s type is a %s, expected a media type or a Content-Format", r->what, where,
                     vmesh_cbor_type_name(h.major));
        VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_CMW_MAX_TYPE * 4, &t, &tn, "the record type"));
        VMESH_ENSURE(tn == 0 || t[0] != '#', VMESH_ERR_UNSUPPORTED,
                     "%s: %s is a CMW tunnel (RFC 9999 §3.3), which vmesh does not accept", r->what, where);
        VMESH_ENSURE(type_ok(t, tn), VMESH_ERR_PARSE, "%s: %s type \"%.*s\" is not a media type", r->what, where,
                     (int)(tn > 64 ? 64 : tn), t);
        rec->type = dupn(t, tn);
        VMESH_ENSURE(rec->type != NULL, VMESH_ERR_NOMEM, "CMW: out of memory");
    }
    VMESH_GUARD(vmesh_cbor_read_bstr(r, VMESH_CMW_MAX_VALUE, &p, &pn, "the record value"));
    VMESH_GUARD(vmesh_buf_set(&rec->value, p, pn));
    if (count == 3) {
        VMESH_GUARD(vmesh_cbor_read_uint(r, &rec->ind, "the record indicator"));
        VMESH_ENSURE(rec->ind != 0, VMESH_ERR_PARSE, "%s: %s indicator is 0 (omit it instead)", r->what, where);
    }
out:
    return rc;
}

static vmesh_err cbor_collection(vmesh_cbor *r, vmesh_cmw *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;
    uint64_t count = 0;
    const char *s;
    size_t sn;
    int64_t k;
    vmesh_cmw_record *rec;
    char where[48];

    c->collection = true;
    VMESH_GUARD(vmesh_cbor_read_map(r, &count, VMESH_CMW_MAX_ITEMS + 1, "the collection"));
    VMESH_ENSURE(count > 0, VMESH_ERR_PARSE, "%s: the collection is empty (RFC 9999: at least one member)", r->what);
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(vmesh_cbor_peek(r, &h));
        if (h.major == VMESH_CBOR_TSTR) {
            VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_CMW_MAX_TYPE, &s, &sn, "a collection label"));
            if (sn == strlen(CTYPE_KEY) && memcmp(s, CTYPE_KEY, sn) == 0) {
                VMESH_ENSURE(c->ctype == NULL, VMESH_ERR_PARSE, "%s: \"__cmwc_t\" appears twice", r->what);
                VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_CMW_MAX_TYPE, &s, &sn, "the collection type"));
                VMESH_ENSURE(sn > 0, VMESH_ERR_PARSE, "%s: the collection type is empty", r->what);
                c->ctype = dupn(s, sn);
                VMESH_ENSURE(c->ctype != NULL, VMESH_ERR_NOMEM, "CMW: out of memory");
                continue;
            }
            VMESH_GUARD(new_rec(c, s, sn, 0, false, &rec));
            snprintf(where, sizeof(where), "member \"%.24s\"", rec->label);
        } else {
            VMESH_ENSURE(h.major == VMESH_CBOR_UINT || h.major == VMESH_CBOR_NEGINT, VMESH_ERR_PARSE,
                         "%s: a collection label is a %s, expected text or an integer", r->what,
                         vmesh_cbor_type_name(h.major));
            VMESH_GUARD(vmesh_cbor_read_int(r, &k, "a collection label"));
            VMESH_GUARD(new_rec(c, NULL, 0, k, true, &rec));
            snprintf(where, sizeof(where), "member %lld", (long long)k);
        }
        VMESH_GUARD(cbor_record(r, rec, where));
    }
    VMESH_ENSURE(c->n > 0, VMESH_ERR_PARSE, "%s: the collection has a type but no member", r->what);
out:
    return rc;
}

vmesh_err vmesh_cmw_decode_cbor(const uint8_t *p, size_t n, vmesh_cmw *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    vmesh_cbor_head h;
    vmesh_cmw_record *rec;

    vmesh_cmw_free(c);
    vmesh_cbor_init(&r, p, n, "CMW", 0);
    VMESH_GUARD(vmesh_cbor_peek(&r, &h));
    if (h.major == VMESH_CBOR_MAP) {
        VMESH_GUARD(cbor_collection(&r, c));
    } else {
        VMESH_GUARD(new_rec(c, NULL, 0, 0, false, &rec));
        VMESH_GUARD(cbor_record(&r, rec, "the CMW"));
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the CMW"));
out:
    if (rc != VMESH_OK)
        vmesh_cmw_free(c);
    return rc;
}

static vmesh_err put_record(vmesh_buf *out, const vmesh_cmw_record *r)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_put_array(out, r->ind ? 3 : 2));
    if (r->type != NULL)
        VMESH_GUARD(vmesh_cbor_put_text(out, r->type));
    else
        VMESH_GUARD(vmesh_cbor_put_uint(out, r->cf));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, r->value.data, r->value.len));
    if (r->ind)
        VMESH_GUARD(vmesh_cbor_put_uint(out, r->ind));
out:
    return rc;
}

typedef struct {
    uint8_t key[VMESH_CMW_MAX_TYPE + 16];
    size_t len;
    int idx; /* -1: __cmwc_t */
} sort_key;

static int key_cmp(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->key, y->key, m);

    return d != 0 ? d : (x->len > y->len) - (x->len < y->len);
}

static vmesh_err put_key(sort_key *k, const char *label, bool is_int, int64_t ilabel)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b;

    vmesh_buf_init(&b, sizeof(k->key));
    if (is_int)
        VMESH_GUARD(vmesh_cbor_put_int(&b, ilabel));
    else
        VMESH_GUARD(vmesh_cbor_put_text(&b, label));
    memcpy(k->key, b.data, b.len);
    k->len = b.len;
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_cmw_encode_cbor(const vmesh_cmw *c, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    sort_key keys[VMESH_CMW_MAX_ITEMS + 1];
    size_t nk = 0;

    VMESH_ENSURE(c->n > 0 && c->n <= VMESH_CMW_MAX_ITEMS, VMESH_ERR_ARG, "CMW: nothing to encode");
    if (!c->collection)
        return put_record(out, &c->rec[0]);
    if (c->ctype != NULL) {
        VMESH_GUARD(put_key(&keys[nk], CTYPE_KEY, false, 0));
        keys[nk++].idx = -1;
    }
    for (size_t i = 0; i < c->n; i++) {
        VMESH_GUARD(put_key(&keys[nk], c->rec[i].label, c->rec[i].label_is_int, c->rec[i].ilabel));
        keys[nk++].idx = (int)i;
    }
    qsort(keys, nk, sizeof(keys[0]), key_cmp);
    VMESH_GUARD(vmesh_cbor_put_map(out, nk));
    for (size_t i = 0; i < nk; i++) {
        VMESH_GUARD(vmesh_buf_append(out, keys[i].key, keys[i].len));
        if (keys[i].idx < 0)
            VMESH_GUARD(vmesh_cbor_put_text(out, c->ctype));
        else
            VMESH_GUARD(put_record(out, &c->rec[keys[i].idx]));
    }
out:
    return rc;
}

/* ---- JSON ----------------------------------------------------------------- */

static vmesh_err json_record(json_t *a, vmesh_cmw_record *rec, const char *where)
{
    vmesh_err rc = VMESH_OK;
    const char *t, *v;
    size_t tn, vn;
    json_t *ind;

    VMESH_ENSURE(!json_is_object(a), VMESH_ERR_UNSUPPORTED,
                 "CMW: %s is a nested collection; vmesh accepts collections of records only", where);
    VMESH_ENSURE(json_is_array(a) && (json_array_size(a) == 2 || json_array_size(a) == 3), VMESH_ERR_PARSE,
                 "CMW: %s is not a record [type, value, ? ind]", where);
    VMESH_ENSURE(json_is_string(json_array_get(a, 0)) && json_is_string(json_array_get(a, 1)), VMESH_ERR_PARSE,
                 "CMW: %s: type and value must be strings (a JSON record has no Content-Format type)", where);
    t = json_string_value(json_array_get(a, 0));
    tn = json_string_length(json_array_get(a, 0));
    VMESH_ENSURE(tn == 0 || t[0] != '#', VMESH_ERR_UNSUPPORTED,
                 "CMW: %s is a CMW tunnel (RFC 9999 §3.3), which vmesh does not accept", where);
    VMESH_ENSURE(strlen(t) == tn && type_ok(t, tn), VMESH_ERR_PARSE, "CMW: %s type \"%.64s\" is not a media type",
                 where, t);
    v = json_string_value(json_array_get(a, 1));
    vn = json_string_length(json_array_get(a, 1));
    VMESH_ENSURE(vn > 0 && vn <= (size_t)VMESH_CMW_MAX_VALUE / 3 * 4 + 4, VMESH_ERR_PARSE,
                 "CMW: %s value is empty or too large", where);
    for (size_t i = 0; i < vn; i++) {
        char ch = v[i];

        VMESH_ENSURE((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                         ch == '_',
                     VMESH_ERR_PARSE,
                     "CMW: %s value is not base64url without padding (RFC 9999 §3.1; byte %zu is 0x%02x)", where, i,
                     (unsigned char)ch);
    }
    VMESH_ENSURE(vn % 4 != 1, VMESH_ERR_PARSE, "CMW: %s value has an impossible base64url length", where);
    VMESH_GUARD(vmesh_b64_decode(v, vn, &rec->value));
    rec->type = dupn(t, tn);
    VMESH_ENSURE(rec->type != NULL, VMESH_ERR_NOMEM, "CMW: out of memory");
    if (json_array_size(a) == 3) {
        ind = json_array_get(a, 2);
        VMESH_ENSURE(json_is_integer(ind) && json_integer_value(ind) > 0, VMESH_ERR_PARSE,
                     "CMW: %s indicator must be a positive integer", where);
        rec->ind = (uint64_t)json_integer_value(ind);
    }
out:
    return rc;
}

vmesh_err vmesh_cmw_decode_json(const char *s, size_t n, vmesh_cmw *c)
{
    vmesh_err rc = VMESH_OK;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *k;
    vmesh_cmw_record *rec;
    char where[48];

    vmesh_cmw_free(c);
    VMESH_ENSURE(n <= (size_t)VMESH_CMW_MAX_VALUE * 2, VMESH_ERR_TOO_LARGE, "CMW: %zu bytes of JSON is too large", n);
    root = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "CMW is not JSON: %s (line %d)", jerr.text, jerr.line);
    if (json_is_object(root)) {
        c->collection = true;
        VMESH_ENSURE(json_object_size(root) > 0, VMESH_ERR_PARSE, "CMW: the collection is empty");
        json_object_foreach(root, k, v) {
            if (strcmp(k, CTYPE_KEY) == 0) {
                VMESH_ENSURE(json_is_string(v) && json_string_length(v) > 0 &&
                                 json_string_length(v) <= VMESH_CMW_MAX_TYPE &&
                                 strlen(json_string_value(v)) == json_string_length(v),
                             VMESH_ERR_PARSE, "CMW: \"__cmwc_t\" must be a URI or OID string");
                c->ctype = strdup(json_string_value(v));
                VMESH_ENSURE(c->ctype != NULL, VMESH_ERR_NOMEM, "CMW: out of memory");
                continue;
            }
            VMESH_GUARD(new_rec(c, k, strlen(k), 0, false, &rec));
            snprintf(where, sizeof(where), "member \"%.24s\"", rec->label);
            VMESH_GUARD(json_record(v, rec, where));
        }
        VMESH_ENSURE(c->n > 0, VMESH_ERR_PARSE, "CMW: the collection has a type but no member");
    } else {
        VMESH_GUARD(new_rec(c, NULL, 0, 0, false, &rec));
        VMESH_GUARD(json_record(root, rec, "the CMW"));
    }
out:
    json_decref(root);
    if (rc != VMESH_OK)
        vmesh_cmw_free(c);
    return rc;
}

static vmesh_err put_json_record(vmesh_buf *out, const vmesh_cmw_record *r)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(r->type != NULL, VMESH_ERR_ARG, "CMW: a JSON record cannot carry a Content-Format type (%u)", r->cf);
    VMESH_GUARD(vmesh_buf_append_u8(out, '['));
    VMESH_GUARD(vmesh_json_str(out, r->type, strlen(r->type)));
    VMESH_GUARD(vmesh_buf_append(out, ",\"", 2));
    VMESH_GUARD(vmesh_b64url_encode(r->value.data, r->value.len, out));
    VMESH_GUARD(vmesh_buf_append_u8(out, '"'));
    if (r->ind)
        VMESH_GUARD(vmesh_buf_printf(out, ",%llu", (unsigned long long)r->ind));
    VMESH_GUARD(vmesh_buf_append_u8(out, ']'));
out:
    return rc;
}

vmesh_err vmesh_cmw_encode_json(const vmesh_cmw *c, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    bool first = true;

    VMESH_ENSURE(c->n > 0 && c->n <= VMESH_CMW_MAX_ITEMS, VMESH_ERR_ARG, "CMW: nothing to encode");
    if (!c->collection)
        return put_json_record(out, &c->rec[0]);
    VMESH_GUARD(vmesh_buf_append_u8(out, '{'));
    if (c->ctype != NULL) {
        VMESH_GUARD(vmesh_buf_printf(out, "\"%s\":", CTYPE_KEY));
        VMESH_GUARD(vmesh_json_str(out, c->ctype, strlen(c->ctype)));
        first = false;
    }
    for (size_t i = 0; i < c->n; i++) {
        VMESH_ENSURE(!c->rec[i].label_is_int, VMESH_ERR_ARG,
                     "CMW: a JSON collection has text labels only (member %lld)", (long long)c->rec[i].ilabel);
        if (!first)
            VMESH_GUARD(vmesh_buf_append_u8(out, ','));
        first = false;
        VMESH_GUARD(vmesh_json_str(out, c->rec[i].label, strlen(c->rec[i].label)));
        VMESH_GUARD(vmesh_buf_append_u8(out, ':'));
        VMESH_GUARD(put_json_record(out, &c->rec[i]));
    }
    VMESH_GUARD(vmesh_buf_append_u8(out, '}'));
out:
    return rc;
}

vmesh_err vmesh_cmw_decode(const uint8_t *p, size_t n, vmesh_cmw *c)
{
    vmesh_err rc = VMESH_OK;

    vmesh_cmw_free(c);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "CMW: empty");
    /* RFC 9999 names 0x82, 0x83 and maps; any other array goes to the CBOR
     * decoder too, for a message that says what is wrong with it */
    if ((p[0] >= 0x80 && p[0] <= 0xbb) || p[0] == 0x9f || p[0] == 0xbf)
        return vmesh_cmw_decode_cbor(p, n, c);
    if (p[0] == 0x5b || p[0] == 0x7b)
        return vmesh_cmw_decode_json((const char *)p, n, c);
    VMESH_ENSURE(!(p[0] >= 0xc0 && p[0] <= 0xdb), VMESH_ERR_UNSUPPORTED,
                 "CMW: a CBOR-tag CMW (RFC 9999 §3.2), which vmesh does not accept");
    VMESH_FAIL(VMESH_ERR_PARSE, "CMW: first byte 0x%02x is neither a CBOR nor a JSON record or collection", p[0]);
out:
    return rc;
}
