/*
 * COSE_Sign1 (RFC 9052 §4.2, §4.4) with ES256, ES384 and EdDSA: creation,
 * strict decoding over libcbor, and verification. Every input byte is
 * checked by a bounded well-formedness walk before libcbor builds a tree, so
 * a hostile length or nesting depth can never make us allocate, recurse or
 * index past what the input holds. A decoded message is never trusted until
 * vmesh_cose_sign1_verify succeeds with a key of the matching algorithm.
 */
#include "vmesh/cose.h"

#include <cbor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COSE_MAX_DEFAULT ((size_t)1024 * 1024)
/* Nesting allowed inside a COSE_Sign1 (headers hold small structures). */
#define CBOR_MAX_DEPTH 16
/* Entries allowed in one header map. */
#define HDR_MAX_ENTRIES 64

struct vmesh_cose_sign1 {
    cbor_item_t *root;      /* the whole message */
    cbor_item_t *prot;      /* the decoded protected header map */
    const uint8_t *prot_raw; /* bstr contents of the protected header */
    size_t prot_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *kid;
    size_t kid_len;
    char *content_type;     /* owned, NUL-terminated, NULL if absent/int */
    int alg;
};

/* ---- a minimal CBOR reader for well-formedness checks ------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
    size_t off;
} rd;

/* Reads one item head (RFC 8949 §3): major type and argument. Indefinite
 * lengths and reserved additional information are refused. */
static vmesh_err rd_head(rd *r, int *major, uint64_t *val)
{
    vmesh_err rc = VMESH_OK;
    uint8_t ib;
    unsigned ai;
    size_t extra;

    VMESH_ENSURE(r->off < r->n, VMESH_ERR_PARSE, "CBOR: truncated at offset %zu", r->off);
    ib = r->p[r->off++];
    *major = ib >> 5;
    ai = ib & 31u;
    if (ai < 24) {
        *val = ai;
        goto out;
    }
    VMESH_ENSURE(ai != 31, VMESH_ERR_PARSE,
                 "CBOR: indefinite-length item at offset %zu is not allowed here", r->off - 1);
    VMESH_ENSURE(ai <= 27, VMESH_ERR_PARSE, "CBOR: reserved additional information %u at offset %zu",
                 ai, r->off - 1);
    extra = (size_t)1 << (ai - 24);
    VMESH_ENSURE(r->n - r->off >= extra, VMESH_ERR_PARSE, "CBOR: truncated at offset %zu", r->off);
    *val = 0;
    for (size_t i = 0; i < extra; i++)
        *val = *val << 8 | r->p[r->off++];
    /* RFC 8949 §3.3: simple values 0..31 in the one-byte form are not
     * well-formed. */
    VMESH_ENSURE(!(*major == 7 && ai == 24 && *val < 32), VMESH_ERR_PARSE,
                 "CBOR: invalid simple value at offset %zu", r->off - 2);
out:
    return rc;
}

/* Skips one well-formed item, at most `depth` levels deep. */
static vmesh_err rd_skip(rd *r, int depth)
{
    vmesh_err rc = VMESH_OK;
    int major;
    uint64_t val;

    VMESH_ENSURE(depth > 0, VMESH_ERR_PARSE, "CBOR: nested deeper than %d levels", CBOR_MAX_DEPTH);
    VMESH_GUARD(rd_head(r, &major, &val));
    switch (major) {
    case 2: /* bstr */
    case 3: /* tstr */
        VMESH_ENSURE(val <= r->n - r->off, VMESH_ERR_PARSE,
                     "CBOR: string of %llu bytes at offset %zu runs past the end (%zu left)",
                     (unsigned long long)val, r->off, r->n - r->off);
        r->off += (size_t)val;
        break;
    case 4: /* array: every item takes at least one byte */
    case 5: /* map */
        VMESH_ENSURE(val <= (r->n - r->off) / (major == 5 ? 2 : 1), VMESH_ERR_PARSE,
                     "CBOR: %s of %llu entries at offset %zu runs past the end",
                     major == 4 ? "array" : "map", (unsigned long long)val, r->off);
        for (uint64_t i = 0; i < val * (major == 5 ? 2 : 1); i++)
            VMESH_GUARD(rd_skip(r, depth - 1));
        break;
    case 6: /* tag */
        VMESH_GUARD(rd_skip(r, depth - 1));
        break;
    default: /* ints, simple values, floats: the head is the whole item */
        break;
    }
out:
    return rc;
}

/* The whole of p[0..n) is exactly one well-formed item. */
static vmesh_err check_wellformed(const uint8_t *p, size_t n, const char *what)
{
    vmesh_err rc = VMESH_OK;
    rd r = {p, n, 0};

    rc = rd_skip(&r, CBOR_MAX_DEPTH);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "%s", what);
        goto out;
    }
    VMESH_ENSURE(r.off == n, VMESH_ERR_PARSE, "%s: %zu trailing bytes after the CBOR item", what,
                 n - r.off);
out:
    return rc;
}

/* ---- encoding ---------------------------------------------------------- */

/* Appends a CBOR head in its shortest form (RFC 8949 §4.2.1). */
static vmesh_err put_head(vmesh_buf *b, int major, uint64_t val)
{
    uint8_t h[9];
    size_t len;
    uint8_t mt = (uint8_t)(major << 5);

    if (val < 24) {
        h[0] = (uint8_t)(mt | val);
        len = 1;
    } else if (val <= 0xff) {
        h[0] = mt | 24;
        h[1] = (uint8_t)val;
        len = 2;
    } else if (val <= 0xffff) {
        h[0] = mt | 25;
        h[1] = (uint8_t)(val >> 8);
        h[2] = (uint8_t)val;
        len = 3;
    } else if (val <= 0xffffffffu) {
        h[0] = mt | 26;
        for (int i = 0; i < 4; i++)
            h[1 + i] = (uint8_t)(val >> (24 - 8 * i));
        len = 5;
    } else {
        h[0] = mt | 27;
        for (int i = 0; i < 8; i++)
            h[1 + i] = (uint8_t)(val >> (56 - 8 * i));
        len = 9;
    }
    return vmesh_buf_append(b, h, len);
}

static vmesh_err put_bstr(vmesh_buf *b, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(put_head(b, 2, n));
    VMESH_GUARD(vmesh_buf_append(b, p, n));
out:
    return rc;
}

static vmesh_err put_int(vmesh_buf *b, int64_t v)
{
    if (v >= 0)
        return put_head(b, 0, (uint64_t)v);
    return put_head(b, 1, (uint64_t)(-1 - v));
}

/* RFC 9052 §4.4: "Create a Sig_structure and populate it with the
 * appropriate fields. ... Sig_structure = [ context : "Signature1",
 * body_protected : empty_or_serialized_map, external_aad : bstr,
 * payload : bstr ]". vmesh uses no external data: "If the application has
 * not supplied any externally supplied data, the external_aad field is a
 * zero-length byte string". Encoded by hand: it is deterministic and the
 * same bytes on both sides. */
static vmesh_err sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                               size_t n, vmesh_buf *out)
{
    static const uint8_t head[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_reserve(out, sizeof(head) + 9 + prot_len + 1 + 9 + n));
    VMESH_GUARD(vmesh_buf_append(out, head, sizeof(head)));
    VMESH_GUARD(put_bstr(out, prot, prot_len));
    VMESH_GUARD(vmesh_buf_append_u8(out, 0x40)); /* external_aad = h'' */
    VMESH_GUARD(put_bstr(out, payload, n));
out:
    return rc;
}

/* Counts the pairs of a pre-encoded CBOR map and finds where they start;
 * refuses labels that vmesh sets itself. */
static vmesh_err extra_map(const vmesh_cose_sign1_opts *o, uint64_t *count, size_t *start)
{
    vmesh_err rc = VMESH_OK;
    rd r = {o->extra_protected_map, o->extra_protected_map_len, 0};
    int major;
    uint64_t val;

    VMESH_GUARD(check_wellformed(r.p, r.n, "extra protected header"));
    VMESH_GUARD(rd_head(&r, &major, &val));
    VMESH_ENSURE(major == 5, VMESH_ERR_ARG, "extra protected header: not a CBOR map");
    *count = val;
    *start = r.off;
    for (uint64_t i = 0; i < val; i++) {
        size_t koff = r.off;
        int kmaj;
        uint64_t kval;
        VMESH_GUARD(rd_head(&r, &kmaj, &kval));
        VMESH_ENSURE(!(kmaj == 0 && (kval == VMESH_COSE_HDR_ALG || kval == VMESH_COSE_HDR_CONTENT_TYPE ||
                                     (kval == VMESH_COSE_HDR_KID && o->kid != NULL))),
                     VMESH_ERR_ARG,
                     "extra protected header: label %llu is set by vmesh itself (alg, content "
                     "type or kid)",
                     (unsigned long long)kval);
        r.off = koff;
        VMESH_GUARD(rd_skip(&r, CBOR_MAX_DEPTH)); /* label */
        VMESH_GUARD(rd_skip(&r, CBOR_MAX_DEPTH)); /* value */
    }
out:
    return rc;
}

static vmesh_err build_protected(int alg, const vmesh_cose_sign1_opts *o, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint64_t extra = 0;
    size_t start = 0;
    size_t ct_len = 0;

    if (o->extra_protected_map != NULL && o->extra_protected_map_len > 0)
        VMESH_GUARD(extra_map(o, &extra, &start));
    if (o->content_type != NULL)
        ct_len = strlen(o->content_type);
    VMESH_GUARD(put_head(out, 5, 1 + (o->content_type ? 1 : 0) + extra));
    /* RFC 9052 §3.1: alg "MUST be authenticated where the ability to do so
     * exists": it always goes in the protected bucket. */
    VMESH_GUARD(put_int(out, VMESH_COSE_HDR_ALG));
    VMESH_GUARD(put_int(out, alg));
    if (o->content_type != NULL) {
        VMESH_GUARD(put_int(out, VMESH_COSE_HDR_CONTENT_TYPE));
        VMESH_GUARD(put_head(out, 3, ct_len));
        VMESH_GUARD(vmesh_buf_append(out, o->content_type, ct_len));
    }
    if (extra > 0)
        VMESH_GUARD(vmesh_buf_append(out, o->extra_protected_map + start,
                                     o->extra_protected_map_len - start));
out:
    return rc;
}

vmesh_err vmesh_cose_sign1_create(const vmesh_key *key, const uint8_t *payload, size_t n,
                                  const vmesh_cose_sign1_opts *opts, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1_opts none;
    vmesh_buf prot = {0}, tbs = {0}, sig = {0};

    memset(&none, 0, sizeof(none));
    VMESH_ENSURE(key != NULL && out != NULL && (payload != NULL || n == 0), VMESH_ERR_ARG,
                 "COSE_Sign1 create: missing argument");
    VMESH_ENSURE(vmesh_crypto_key_is_private(key), VMESH_ERR_ARG,
                 "COSE_Sign1 create: the key is public, a private key is needed to sign");
    if (opts == NULL)
        opts = &none;
    VMESH_ENSURE(opts->kid != NULL || opts->kid_len == 0, VMESH_ERR_ARG,
                 "COSE_Sign1 create: kid_len without kid");
    VMESH_GUARD(build_protected(vmesh_crypto_key_cose_alg(key), opts, &prot));
    VMESH_GUARD(sig_structure(prot.data, prot.len, payload, n, &tbs));
    VMESH_GUARD(vmesh_crypto_sign(key, tbs.data, tbs.len, &sig));

    /* RFC 9052 §4.2: COSE_Sign1 = [ Headers, payload : bstr / nil,
     * signature : bstr ], Headers = ( protected, unprotected ). */
    if (!opts->untagged)
        VMESH_GUARD(put_head(out, 6, VMESH_COSE_SIGN1_TAG));
    VMESH_GUARD(put_head(out, 4, 4));
    VMESH_GUARD(put_bstr(out, prot.data, prot.len));
    if (opts->kid != NULL) {
        VMESH_GUARD(put_head(out, 5, 1));
        VMESH_GUARD(put_int(out, VMESH_COSE_HDR_KID));
        VMESH_GUARD(put_bstr(out, opts->kid, opts->kid_len));
    } else {
        VMESH_GUARD(put_head(out, 5, 0));
    }
    VMESH_GUARD(put_bstr(out, payload, n));
    VMESH_GUARD(put_bstr(out, sig.data, sig.len));
out:
    vmesh_buf_free(&prot);
    vmesh_buf_free(&tbs);
    vmesh_buf_free(&sig);
    return rc;
}

/* ---- decoding ---------------------------------------------------------- */

static bool is_int(const cbor_item_t *it)
{
    return cbor_isa_uint(it) || cbor_isa_negint(it);
}

/* Integer value of a uint/negint item, refusing what does not fit int64. */
static bool int_value(const cbor_item_t *it, int64_t *v)
{
    uint64_t u = cbor_get_int(it);

    if (u > (uint64_t)INT64_MAX)
        return false;
    *v = cbor_isa_uint(it) ? (int64_t)u : -1 - (int64_t)u;
    return true;
}

static bool same_label(const cbor_item_t *a, const cbor_item_t *b)
{
    if (cbor_typeof(a) != cbor_typeof(b))
        return false;
    if (is_int(a))
        return cbor_get_int(a) == cbor_get_int(b);
    return cbor_string_length(a) == cbor_string_length(b) &&
           memcmp(cbor_string_handle(a), cbor_string_handle(b), cbor_string_length(a)) == 0;
}

static void label_text(const cbor_item_t *l, char *buf, size_t n)
{
    int64_t v = 0;

    if (is_int(l) && int_value(l, &v))
        snprintf(buf, n, "%lld", (long long)v);
    else if (cbor_isa_string(l))
        snprintf(buf, n, "\"%.*s\"", (int)(cbor_string_length(l) > 32 ? 32 : cbor_string_length(l)),
                 (const char *)cbor_string_handle(l));
    else
        snprintf(buf, n, "(invalid)");
}

/* RFC 9052 §3: "Labels in each of the maps MUST be unique" and "The same
 * label MUST NOT occur as a label in both the protected and unprotected
 * headers"; a label is "int / tstr". */
static vmesh_err check_labels(const cbor_item_t *prot, const cbor_item_t *unprot)
{
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *maps[2] = {prot, unprot};
    const char *names[2] = {"protected", "unprotected"};
    char lt[48];

    for (int m = 0; m < 2; m++) {
        struct cbor_pair *pairs = cbor_map_handle(maps[m]);
        size_t cnt = cbor_map_size(maps[m]);
        VMESH_ENSURE(cnt <= HDR_MAX_ENTRIES, VMESH_ERR_PARSE,
                     "COSE_Sign1: %s header has %zu entries, the cap is %d", names[m], cnt,
                     HDR_MAX_ENTRIES);
        for (size_t i = 0; i < cnt; i++) {
            const cbor_item_t *l = pairs[i].key;
            VMESH_ENSURE(is_int(l) || cbor_isa_string(l), VMESH_ERR_PARSE,
                         "COSE_Sign1: %s header label #%zu is neither an integer nor text",
                         names[m], i);
            label_text(l, lt, sizeof(lt));
            for (size_t j = 0; j < i; j++)
                VMESH_ENSURE(!same_label(l, pairs[j].key), VMESH_ERR_PARSE,
                             "COSE_Sign1: label %s appears twice in the %s header", lt, names[m]);
            if (m == 1) {
                struct cbor_pair *pp = cbor_map_handle(prot);
                for (size_t j = 0; j < cbor_map_size(prot); j++)
                    VMESH_ENSURE(!same_label(l, pp[j].key), VMESH_ERR_PARSE,
                                 "COSE_Sign1: label %s is in both the protected and the "
                                 "unprotected header",
                                 lt);
            }
        }
    }
out:
    return rc;
}

static const cbor_item_t *map_get_int(const cbor_item_t *map, uint64_t label)
{
    struct cbor_pair *pairs = cbor_map_handle(map);

    for (size_t i = 0; i < cbor_map_size(map); i++)
        if (cbor_isa_uint(pairs[i].key) && cbor_get_int(pairs[i].key) == label)
            return pairs[i].value;
    return NULL;
}

static const char *alg_name(int alg)
{
    switch (alg) {
    case VMESH_COSE_ALG_ES256:
        return "ES256";
    case VMESH_COSE_ALG_ES384:
        return "ES384";
    case VMESH_COSE_ALG_EDDSA:
        return "EdDSA";
    }
    return "unsupported";
}

static vmesh_err read_headers(vmesh_cose_sign1 *m, const cbor_item_t *unprot)
{
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *v;
    int64_t alg = 0;

    VMESH_GUARD(check_labels(m->prot, unprot));
    /* RFC 9052 §3.1 crit: "the recipient MUST ... reject the message if
     * it does not understand" a listed label; vmesh understands none. */
    VMESH_ENSURE(map_get_int(m->prot, 2) == NULL, VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: critical header parameters (label 2) are not supported");
    VMESH_ENSURE(map_get_int(unprot, VMESH_COSE_HDR_ALG) == NULL, VMESH_ERR_PARSE,
                 "COSE_Sign1: alg (1) is in the unprotected header; it must be protected");
    v = map_get_int(m->prot, VMESH_COSE_HDR_ALG);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "COSE_Sign1: no alg (1) in the protected header");
    VMESH_ENSURE(is_int(v), VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: alg is not an integer: use ES256 (-7), ES384 (-35) or EdDSA (-8)");
    VMESH_ENSURE(int_value(v, &alg) &&
                     (alg == VMESH_COSE_ALG_ES256 || alg == VMESH_COSE_ALG_ES384 ||
                      alg == VMESH_COSE_ALG_EDDSA),
                 VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: alg %lld is not supported: use ES256 (-7), ES384 (-35) or EdDSA (-8)",
                 (long long)alg);
    m->alg = (int)alg;

    v = map_get_int(m->prot, VMESH_COSE_HDR_KID);
    if (v == NULL)
        v = map_get_int(unprot, VMESH_COSE_HDR_KID);
    if (v != NULL) {
        VMESH_ENSURE(cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v), VMESH_ERR_PARSE,
                     "COSE_Sign1: kid (4) is not a byte string");
        m->kid = cbor_bytestring_handle(v);
        m->kid_len = cbor_bytestring_length(v);
    }
    v = map_get_int(m->prot, VMESH_COSE_HDR_CONTENT_TYPE);
    if (v == NULL)
        v = map_get_int(unprot, VMESH_COSE_HDR_CONTENT_TYPE);
    if (v != NULL && cbor_isa_string(v)) {
        size_t len = cbor_string_length(v);
        VMESH_ENSURE(memchr(cbor_string_handle(v), 0, len) == NULL, VMESH_ERR_PARSE,
                     "COSE_Sign1: content type (3) contains a NUL byte");
        m->content_type = malloc(len + 1);
        VMESH_ENSURE(m->content_type != NULL, VMESH_ERR_NOMEM, "COSE_Sign1: out of memory");
        memcpy(m->content_type, cbor_string_handle(v), len);
        m->content_type[len] = '\0';
    } else {
        VMESH_ENSURE(v == NULL || cbor_isa_uint(v), VMESH_ERR_PARSE,
                     "COSE_Sign1: content type (3) is neither text nor an unsigned integer");
    }
out:
    return rc;
}

static vmesh_err cbor_parse(const uint8_t *p, size_t n, const char *what, cbor_item_t **out)
{
    vmesh_err rc = VMESH_OK;
    struct cbor_load_result res;

    VMESH_GUARD(check_wellformed(p, n, what));
    *out = cbor_load(p, n, &res);
    VMESH_ENSURE(*out != NULL, res.error.code == CBOR_ERR_MEMERROR ? VMESH_ERR_NOMEM : VMESH_ERR_PARSE,
                 "%s: CBOR decoding failed at offset %zu", what, res.error.position);
    VMESH_ENSURE(res.read == n, VMESH_ERR_PARSE, "%s: %zu trailing bytes", what, n - res.read);
out:
    return rc;
}

/* cbor_is_null of libcbor 0.8 asserts on floats: check the width first. */
static bool is_nil(const cbor_item_t *it)
{
    return cbor_isa_float_ctrl(it) && cbor_float_ctrl_is_ctrl(it) &&
           cbor_ctrl_value(it) == CBOR_CTRL_NULL;
}

static bool is_definite_bstr(const cbor_item_t *it)
{
    return cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

vmesh_err vmesh_cose_sign1_decode(const uint8_t *p, size_t n, size_t max, vmesh_cose_sign1 **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1 *m = NULL;
    cbor_item_t *arr, *unprot;
    cbor_item_t **items;
    size_t start = 0;

    VMESH_ENSURE(out != NULL && (p != NULL || n == 0), VMESH_ERR_ARG,
                 "COSE_Sign1 decode: missing argument");
    *out = NULL;
    if (max == 0)
        max = COSE_MAX_DEFAULT;
    VMESH_ENSURE(n <= max, VMESH_ERR_TOO_LARGE, "COSE_Sign1 of %zu bytes: the cap is %zu", n, max);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "COSE_Sign1: empty input");
    m = calloc(1, sizeof(*m));
    VMESH_ENSURE(m != NULL, VMESH_ERR_NOMEM, "COSE_Sign1: out of memory");
    VMESH_GUARD(check_wellformed(p, n, "COSE_Sign1"));
    {
        /* The tag is read here, not by libcbor: libcbor 0.8 refuses the
         * one-byte heads of tags 6..20 (0xc6..0xd4) as unassigned, and
         * 0xd2 is COSE_Sign1's. */
        rd r = {p, n, 0};
        int major;
        uint64_t val;
        VMESH_GUARD(rd_head(&r, &major, &val));
        if (major == 6) {
            /* RFC 9052 §2: "The CBOR tag for COSE_Sign1 is 18". */
            VMESH_ENSURE(val == VMESH_COSE_SIGN1_TAG, VMESH_ERR_PARSE,
                         "COSE_Sign1: CBOR tag %llu is not COSE_Sign1 (18)",
                         (unsigned long long)val);
            start = r.off;
        }
    }
    VMESH_GUARD(cbor_parse(p + start, n - start, "COSE_Sign1", &m->root));
    arr = m->root;
    VMESH_ENSURE(cbor_isa_array(arr) && cbor_array_is_definite(arr), VMESH_ERR_PARSE,
                 "COSE_Sign1: not an array");
    VMESH_ENSURE(cbor_array_size(arr) == 4, VMESH_ERR_PARSE,
                 "COSE_Sign1: array of %zu items, expected 4 (protected, unprotected, payload, "
                 "signature)",
                 cbor_array_size(arr));
    items = cbor_array_handle(arr);

    /* RFC 9052 §3: "protected ... wrapped in a bstr" (empty_or_serialized_map). */
    VMESH_ENSURE(is_definite_bstr(items[0]), VMESH_ERR_PARSE,
                 "COSE_Sign1: protected header is not a byte string");
    m->prot_raw = cbor_bytestring_handle(items[0]);
    m->prot_len = cbor_bytestring_length(items[0]);
    VMESH_ENSURE(m->prot_len > 0, VMESH_ERR_PARSE,
                 "COSE_Sign1: empty protected header (alg (1) must be protected)");
    VMESH_GUARD(cbor_parse(m->prot_raw, m->prot_len, "COSE_Sign1 protected header", &m->prot));
    VMESH_ENSURE(cbor_isa_map(m->prot) && cbor_map_is_definite(m->prot), VMESH_ERR_PARSE,
                 "COSE_Sign1: protected header is not a map");
    unprot = items[1];
    VMESH_ENSURE(cbor_isa_map(unprot) && cbor_map_is_definite(unprot), VMESH_ERR_PARSE,
                 "COSE_Sign1: unprotected header is not a map");
    VMESH_ENSURE(!is_nil(items[2]), VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: detached payload (nil) is not supported");
    VMESH_ENSURE(is_definite_bstr(items[2]), VMESH_ERR_PARSE,
                 "COSE_Sign1: payload is not a byte string");
    m->payload = cbor_bytestring_handle(items[2]);
    m->payload_len = cbor_bytestring_length(items[2]);
    if (m->payload == NULL)
        m->payload = (const uint8_t *)"";
    VMESH_ENSURE(is_definite_bstr(items[3]), VMESH_ERR_PARSE,
                 "COSE_Sign1: signature is not a byte string");
    m->sig = cbor_bytestring_handle(items[3]);
    m->sig_len = cbor_bytestring_length(items[3]);
    VMESH_GUARD(read_headers(m, unprot));
    *out = m;
    m = NULL;
out:
    vmesh_cose_sign1_free(m);
    return rc;
}

vmesh_err vmesh_cose_sign1_verify(const vmesh_cose_sign1 *m, const vmesh_key *key)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf tbs = {0};
    int kalg;

    VMESH_ENSURE(m != NULL && key != NULL, VMESH_ERR_ARG, "COSE_Sign1 verify: missing argument");
    kalg = vmesh_crypto_key_cose_alg(key);
    /* RFC 9053 §2.1: ES256 goes with P-256, ES384 with P-384; §2.2: EdDSA
     * with an OKP key (Ed25519 here). Any other pairing is refused. */
    VMESH_ENSURE(m->alg == kalg, VMESH_ERR_MISMATCH,
                 "COSE_Sign1: alg %s (%d) does not match the %s key (which needs %s)",
                 alg_name(m->alg), m->alg, vmesh_crypto_key_type_name(vmesh_crypto_key_type(key)),
                 alg_name(kalg));
    VMESH_GUARD(sig_structure(m->prot_raw, m->prot_len, m->payload, m->payload_len, &tbs));
    rc = vmesh_crypto_verify(key, tbs.data, tbs.len, m->sig, m->sig_len);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "COSE_Sign1");
out:
    vmesh_buf_free(&tbs);
    return rc;
}

const uint8_t *vmesh_cose_sign1_payload(const vmesh_cose_sign1 *m, size_t *n)
{
    if (n)
        *n = m->payload_len;
    return m->payload;
}

int vmesh_cose_sign1_alg(const vmesh_cose_sign1 *m)
{
    return m->alg;
}

const uint8_t *vmesh_cose_sign1_kid(const vmesh_cose_sign1 *m, size_t *n)
{
    if (n)
        *n = m->kid ? m->kid_len : 0;
    return m->kid;
}

const char *vmesh_cose_sign1_content_type(const vmesh_cose_sign1 *m)
{
    return m->content_type;
}

const uint8_t *vmesh_cose_sign1_protected(const vmesh_cose_sign1 *m, size_t *n)
{
    if (n)
        *n = m->prot_len;
    return m->prot_raw;
}

void vmesh_cose_sign1_free(vmesh_cose_sign1 *m)
{
    if (m == NULL)
        return;
    if (m->prot != NULL)
        cbor_decref(&m->prot);
    if (m->root != NULL)
        cbor_decref(&m->root);
    free(m->content_type);
    free(m);
}
