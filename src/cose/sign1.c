/*
 * COSE_Sign1 (RFC 9052 §4.2, §4.4) with ES256, ES384 and EdDSA: creation,
 * strict decoding through the one CBOR reader, and verification. The whole
 * input is checked to be one well-formed item (nesting capped) before any
 * field is pulled out, so a hostile length or depth can never make us
 * allocate, recurse or index past what the input holds. A decoded message
 * is never trusted until vmesh_cose_sign1_verify succeeds with a key of the
 * matching algorithm.
 */
#include "vmesh/cose.h"

#include "vmesh/cbor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COSE_MAX_DEFAULT ((size_t)1024 * 1024)
/* Nesting allowed inside a COSE_Sign1 (headers hold small structures). */
#define CBOR_MAX_DEPTH 16
/* Entries allowed in one header map. */
#define HDR_MAX_ENTRIES 64

struct vmesh_cose_sign1 {
    uint8_t *copy;           /* the message: every pointer below is into it */
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

/* A cursor for a COSE structure: definite lengths only, nesting capped. */
static void cose_cursor(vmesh_cbor *r, const uint8_t *p, size_t n, const char *what)
{
    vmesh_cbor_init(r, p, n, what, 0);
    r->max_depth = CBOR_MAX_DEPTH;
}

/* ---- encoding ---------------------------------------------------------- */

/* RFC 9052 §4.4: "Create a Sig_structure and populate it with the
 * appropriate fields. ... Sig_structure = [ context : "Signature1",
 * body_protected : empty_or_serialized_map, external_aad : bstr,
 * payload : bstr ]". vmesh uses no external data: "If the application has
 * not supplied any externally supplied data, the external_aad field is a
 * zero-length byte string". It is deterministic and the same bytes on both
 * sides. */
static vmesh_err sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                               size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_reserve(out, 12 + 9 + prot_len + 1 + 9 + n));
    VMESH_GUARD(vmesh_cbor_put_array(out, 4));
    VMESH_GUARD(vmesh_cbor_put_text(out, "Signature1"));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, prot, prot_len));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, NULL, 0)); /* external_aad = h'' */
    VMESH_GUARD(vmesh_cbor_put_bstr(out, payload, n));
out:
    return rc;
}

/* Counts the pairs of a pre-encoded CBOR map and finds where they start;
 * refuses labels that vmesh sets itself. */
static vmesh_err extra_map(const vmesh_cose_sign1_opts *o, uint64_t *count, size_t *start)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    vmesh_cbor_head h;

    cose_cursor(&r, o->extra_protected_map, o->extra_protected_map_len, "extra protected header");
    VMESH_GUARD(vmesh_cbor_check(&r));
    rc = vmesh_cbor_read_map(&r, count, HDR_MAX_ENTRIES, "the extra protected header");
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_ARG, "extra protected header: not a CBOR map of at most %d entries",
                 HDR_MAX_ENTRIES);
    *start = r.off;
    for (uint64_t i = 0; i < *count; i++) {
        VMESH_GUARD(vmesh_cbor_peek(&r, &h));
        VMESH_ENSURE(!(h.major == VMESH_CBOR_UINT &&
                       (h.arg == VMESH_COSE_HDR_ALG || h.arg == VMESH_COSE_HDR_CONTENT_TYPE ||
                        (h.arg == VMESH_COSE_HDR_KID && o->kid != NULL))),
                     VMESH_ERR_ARG,
                     "extra protected header: label %llu is set by vmesh itself (alg, content "
                     "type or kid)",
                     (unsigned long long)h.arg);
        VMESH_GUARD(vmesh_cbor_skip(&r)); /* label */
        VMESH_GUARD(vmesh_cbor_skip(&r)); /* value */
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
    VMESH_GUARD(vmesh_cbor_put_map(out, 1 + (o->content_type ? 1 : 0) + extra));
    /* RFC 9052 §3.1: alg "MUST be authenticated where the ability to do so
     * exists": it always goes in the protected bucket. */
    VMESH_GUARD(vmesh_cbor_put_int(out, VMESH_COSE_HDR_ALG));
    VMESH_GUARD(vmesh_cbor_put_int(out, alg));
    if (o->content_type != NULL) {
        VMESH_GUARD(vmesh_cbor_put_int(out, VMESH_COSE_HDR_CONTENT_TYPE));
        VMESH_GUARD(vmesh_cbor_put_tstr(out, o->content_type, ct_len));
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
        VMESH_GUARD(vmesh_cbor_put_tag(out, VMESH_COSE_SIGN1_TAG));
    VMESH_GUARD(vmesh_cbor_put_array(out, 4));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, prot.data, prot.len));
    if (opts->kid != NULL) {
        VMESH_GUARD(vmesh_cbor_put_map(out, 1));
        VMESH_GUARD(vmesh_cbor_put_int(out, VMESH_COSE_HDR_KID));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, opts->kid, opts->kid_len));
    } else {
        VMESH_GUARD(vmesh_cbor_put_map(out, 0));
    }
    VMESH_GUARD(vmesh_cbor_put_bstr(out, payload, n));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, sig.data, sig.len));
out:
    vmesh_buf_free(&prot);
    vmesh_buf_free(&tbs);
    vmesh_buf_free(&sig);
    return rc;
}

/* ---- decoding ---------------------------------------------------------- */

/* One header entry: its label (an integer as major type and argument, or
 * text) and a cursor over its value. */
typedef struct {
    unsigned major;
    uint64_t arg;
    const char *text;
    size_t text_len;
    vmesh_cbor value;
} hdr_entry;

typedef struct {
    hdr_entry e[HDR_MAX_ENTRIES];
    size_t n;
} hdr_map;

static bool same_label(const hdr_entry *a, const hdr_entry *b)
{
    if (a->major != b->major)
        return false;
    if (a->major != VMESH_CBOR_TSTR)
        return a->arg == b->arg;
    return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
}

static void label_text(const hdr_entry *l, char *buf, size_t n)
{
    if (l->major == VMESH_CBOR_TSTR)
        snprintf(buf, n, "\"%.*s\"", (int)(l->text_len > 32 ? 32 : l->text_len), l->text);
    else if (l->arg > (uint64_t)INT64_MAX)
        snprintf(buf, n, "(invalid)");
    else
        snprintf(buf, n, "%lld", l->major == VMESH_CBOR_UINT ? (long long)l->arg : -1 - (long long)l->arg);
}

/* Reads a header map: RFC 9052 §3: "Labels in each of the maps MUST be
 * unique"; a label is "int / tstr". */
static vmesh_err read_map(vmesh_cbor *r, const char *name, hdr_map *m)
{
    vmesh_err rc = VMESH_OK;
    uint64_t count = 0;
    char lt[48];

    rc = vmesh_cbor_read_map(r, &count, UINT64_MAX, name);
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE, "COSE_Sign1: %s is not a map", name);
    VMESH_ENSURE(count <= HDR_MAX_ENTRIES, VMESH_ERR_PARSE, "COSE_Sign1: %s has %llu entries, the cap is %d", name,
                 (unsigned long long)count, HDR_MAX_ENTRIES);
    m->n = 0;
    for (uint64_t i = 0; i < count; i++) {
        hdr_entry *l = &m->e[m->n];
        vmesh_cbor_head h;

        memset(l, 0, sizeof(*l));
        VMESH_GUARD(vmesh_cbor_peek(r, &h));
        l->major = h.major;
        if (h.major == VMESH_CBOR_UINT || h.major == VMESH_CBOR_NEGINT) {
            VMESH_GUARD(vmesh_cbor_read_head(r, &h));
            l->arg = h.arg;
        } else {
            VMESH_ENSURE(h.major == VMESH_CBOR_TSTR, VMESH_ERR_PARSE,
                         "COSE_Sign1: %s label #%llu is neither an integer nor text", name, (unsigned long long)i);
            VMESH_GUARD(vmesh_cbor_read_tstr(r, SIZE_MAX, &l->text, &l->text_len, "a header label"));
        }
        label_text(l, lt, sizeof(lt));
        for (size_t j = 0; j < m->n; j++)
            VMESH_ENSURE(!same_label(l, &m->e[j]), VMESH_ERR_PARSE, "COSE_Sign1: label %s appears twice in the %s",
                         lt, name);
        VMESH_GUARD(vmesh_cbor_read_item(r, &l->value));
        m->n++;
    }
out:
    return rc;
}

static vmesh_cbor *map_get(hdr_map *m, uint64_t label)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].major == VMESH_CBOR_UINT && m->e[i].arg == label)
            return &m->e[i].value;
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

static vmesh_err read_headers(vmesh_cose_sign1 *m, hdr_map *prot, hdr_map *unprot)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor *v;
    vmesh_cbor_head h;
    int64_t alg = 0;
    char lt[48];

    /* RFC 9052 §3: "The same label MUST NOT occur as a label in both the
     * protected and unprotected headers". */
    for (size_t i = 0; i < unprot->n; i++)
        for (size_t j = 0; j < prot->n; j++)
            if (same_label(&unprot->e[i], &prot->e[j])) {
                label_text(&unprot->e[i], lt, sizeof(lt));
                VMESH_FAIL(VMESH_ERR_PARSE, "COSE_Sign1: label %s is in both the protected and the unprotected header",
                           lt);
            }
    /* RFC 9052 §3.1 crit: "the recipient MUST ... reject the message if
     * it does not understand" a listed label; vmesh understands none. */
    VMESH_ENSURE(map_get(prot, 2) == NULL, VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: critical header parameters (label 2) are not supported");
    VMESH_ENSURE(map_get(unprot, VMESH_COSE_HDR_ALG) == NULL, VMESH_ERR_PARSE,
                 "COSE_Sign1: alg (1) is in the unprotected header; it must be protected");
    v = map_get(prot, VMESH_COSE_HDR_ALG);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "COSE_Sign1: no alg (1) in the protected header");
    VMESH_GUARD(vmesh_cbor_peek(v, &h));
    VMESH_ENSURE(h.major == VMESH_CBOR_UINT || h.major == VMESH_CBOR_NEGINT, VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: alg is not an integer: use ES256 (-7), ES384 (-35) or EdDSA (-8)");
    VMESH_ENSURE(vmesh_cbor_read_int(v, &alg, "alg") == VMESH_OK &&
                     (alg == VMESH_COSE_ALG_ES256 || alg == VMESH_COSE_ALG_ES384 || alg == VMESH_COSE_ALG_EDDSA),
                 VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: alg %lld is not supported: use ES256 (-7), ES384 (-35) or EdDSA (-8)",
                 (long long)alg);
    m->alg = (int)alg;

    v = map_get(prot, VMESH_COSE_HDR_KID);
    if (v == NULL)
        v = map_get(unprot, VMESH_COSE_HDR_KID);
    if (v != NULL && vmesh_cbor_read_bstr(v, SIZE_MAX, &m->kid, &m->kid_len, "kid") != VMESH_OK)
        VMESH_FAIL(VMESH_ERR_PARSE, "COSE_Sign1: kid (4) is not a byte string");
    v = map_get(prot, VMESH_COSE_HDR_CONTENT_TYPE);
    if (v == NULL)
        v = map_get(unprot, VMESH_COSE_HDR_CONTENT_TYPE);
    if (v != NULL) {
        VMESH_GUARD(vmesh_cbor_peek(v, &h));
        if (h.major == VMESH_CBOR_TSTR) {
            rc = vmesh_cbor_read_tstr_dup(v, SIZE_MAX, &m->content_type, "content type");
            VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE,
                         "COSE_Sign1: content type (3) is not valid text (or contains a NUL byte)");
        } else {
            VMESH_ENSURE(h.major == VMESH_CBOR_UINT, VMESH_ERR_PARSE,
                         "COSE_Sign1: content type (3) is neither text nor an unsigned integer");
        }
    }
out:
    return rc;
}

/* The next item is a byte string (for the caller's message). */
static vmesh_err read_bstr_or(vmesh_cbor *r, const uint8_t **p, size_t *n, const char *msg)
{
    vmesh_cbor_head h;

    if (vmesh_cbor_peek(r, &h) != VMESH_OK || h.major != VMESH_CBOR_BSTR)
        return vmesh_err_set(VMESH_ERR_PARSE, "COSE_Sign1: %s is not a byte string", msg);
    return vmesh_cbor_read_bstr(r, SIZE_MAX, p, n, msg);
}

vmesh_err vmesh_cose_sign1_decode(const uint8_t *p, size_t n, size_t max, vmesh_cose_sign1 **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1 *m = NULL;
    vmesh_cbor r, pr;
    vmesh_cbor_head h;
    uint64_t count = 0, tag = 0;
    hdr_map *maps = NULL;

    VMESH_ENSURE(out != NULL && (p != NULL || n == 0), VMESH_ERR_ARG,
                 "COSE_Sign1 decode: missing argument");
    *out = NULL;
    if (max == 0)
        max = COSE_MAX_DEFAULT;
    VMESH_ENSURE(n <= max, VMESH_ERR_TOO_LARGE, "COSE_Sign1 of %zu bytes: the cap is %zu", n, max);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "COSE_Sign1: empty input");
    m = calloc(1, sizeof(*m));
    maps = calloc(2, sizeof(*maps));
    VMESH_ENSURE(m != NULL && maps != NULL, VMESH_ERR_NOMEM, "COSE_Sign1: out of memory");
    /* The decoded object outlives the caller's buffer: it points into its
     * own copy. */
    m->copy = malloc(n);
    VMESH_ENSURE(m->copy != NULL, VMESH_ERR_NOMEM, "COSE_Sign1: out of memory");
    memcpy(m->copy, p, n);
    cose_cursor(&r, m->copy, n, "COSE_Sign1");
    VMESH_GUARD(vmesh_cbor_check(&r));
    VMESH_GUARD(vmesh_cbor_peek(&r, &h));
    if (h.major == VMESH_CBOR_TAG) {
        VMESH_GUARD(vmesh_cbor_read_tag(&r, &tag, "the tag"));
        /* RFC 9052 §2: "The CBOR tag for COSE_Sign1 is 18". */
        VMESH_ENSURE(tag == VMESH_COSE_SIGN1_TAG, VMESH_ERR_PARSE, "COSE_Sign1: CBOR tag %llu is not COSE_Sign1 (18)",
                     (unsigned long long)tag);
    }
    rc = vmesh_cbor_read_array(&r, &count, UINT64_MAX, "the message");
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE, "COSE_Sign1: not an array");
    VMESH_ENSURE(count == 4, VMESH_ERR_PARSE,
                 "COSE_Sign1: array of %llu items, expected 4 (protected, unprotected, payload, "
                 "signature)",
                 (unsigned long long)count);

    /* RFC 9052 §3: "protected ... wrapped in a bstr" (empty_or_serialized_map). */
    VMESH_GUARD(read_bstr_or(&r, &m->prot_raw, &m->prot_len, "protected header"));
    VMESH_ENSURE(m->prot_len > 0, VMESH_ERR_PARSE,
                 "COSE_Sign1: empty protected header (alg (1) must be protected)");
    cose_cursor(&pr, m->prot_raw, m->prot_len, "COSE_Sign1 protected header");
    VMESH_GUARD(vmesh_cbor_check(&pr));
    VMESH_GUARD(read_map(&pr, "protected header", &maps[0]));
    VMESH_GUARD(read_map(&r, "unprotected header", &maps[1]));
    VMESH_ENSURE(!vmesh_cbor_at_null(&r), VMESH_ERR_UNSUPPORTED,
                 "COSE_Sign1: detached payload (nil) is not supported");
    VMESH_GUARD(read_bstr_or(&r, &m->payload, &m->payload_len, "payload"));
    VMESH_GUARD(read_bstr_or(&r, &m->sig, &m->sig_len, "signature"));
    VMESH_GUARD(read_headers(m, &maps[0], &maps[1]));
    *out = m;
    m = NULL;
out:
    free(maps);
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
    free(m->copy);
    free(m->content_type);
    free(m);
}
