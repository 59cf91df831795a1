/*
 * CoSERV (draft-ietf-rats-coserv-07) request/result codec
 * (include/vmesh/coserv.h). It must never accept an unknown or duplicate
 * key, an indefinite length, a selector of two kinds, or a length it has
 * not checked; whatever it accepts it writes back byte for byte when the
 * input was deterministic.
 */
#include "vmesh/coserv.h"
#include "vmesh/cbor.h"

#include <stdio.h>
#include <string.h>

#define WHAT "CoSERV"
#define TAG_OID 111
#define TAG_TDATE 0

static vmesh_err dup_key(bool *seen, int64_t key, const char *where)
{
    if (*seen)
        return vmesh_err_set(VMESH_ERR_PARSE, WHAT ": key %lld appears twice in %s", (long long)key, where);
    *seen = true;
    return VMESH_OK;
}

/* One whole item as a span of the input. */
static vmesh_err raw_item(vmesh_cbor *r, vmesh_coserv_raw *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor it;

    VMESH_GUARD(vmesh_cbor_read_item(r, &it));
    out->p = it.p + it.off;
    out->n = it.n - it.off;
out:
    return rc;
}

/* class-map (CoMID): { ? 0: class-id (tagged), ? 1: vendor tstr, ? 2: model
 * tstr, ? 3: layer uint, ? 4: index uint }, not empty. */
static vmesh_err check_class_map(const vmesh_coserv_raw *raw, size_t i)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r, m;
    uint64_t pairs, u;
    bool seen[5] = {false};
    const char *s;
    size_t sn;
    char where[48];

    snprintf(where, sizeof(where), "class selector %zu", i);
    vmesh_cbor_init(&r, raw->p, raw->n, WHAT, 0);
    VMESH_GUARD(vmesh_cbor_enter(&r, 5, &m, &pairs, 5, where));
    VMESH_ENSURE(pairs > 0, VMESH_ERR_PARSE, WHAT ": %s is an empty class-map", where);
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;
        vmesh_cbor_head h;

        VMESH_GUARD(vmesh_cbor_peek(&m, &h));
        VMESH_ENSURE(h.major == 0 || h.major == 1, VMESH_ERR_PARSE, WHAT ": %s has a key that is not an integer",
                     where);
        VMESH_GUARD(vmesh_cbor_read_int_key(&m, &key, &is_int));
        VMESH_ENSURE(is_int && key >= 0 && key <= 4, VMESH_ERR_PARSE,
                     WHAT ": %s has key %lld (a class-map has 0 class-id, 1 vendor, 2 model, 3 layer, 4 index)",
                     where, (long long)key);
        VMESH_GUARD(dup_key(&seen[key], key, where));
        switch (key) {
        case 0:
            VMESH_GUARD(vmesh_cbor_peek(&m, &h));
            VMESH_ENSURE(h.major == 6, VMESH_ERR_PARSE,
                         WHAT ": %s class-id is a %s, expected a tagged value (UUID 37, OID 111, bytes 560)", where,
                         vmesh_cbor_type_name(h.major));
            VMESH_GUARD(vmesh_cbor_skip(&m));
            break;
        case 1:
        case 2:
            VMESH_GUARD(vmesh_cbor_read_tstr(&m, 1024, &s, &sn, key == 1 ? "vendor" : "model"));
            break;
        default:
            VMESH_GUARD(vmesh_cbor_read_uint(&m, &u, key == 3 ? "layer" : "index"));
            break;
        }
    }
out:
    return rc;
}

static vmesh_err read_selector(vmesh_cbor *q, vmesh_coserv *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor sel, arr;
    uint64_t pairs, count;
    int64_t key;
    bool is_int;
    vmesh_cbor_head h;

    VMESH_GUARD(vmesh_cbor_enter(q, 5, &sel, &pairs, 3, "environment-selector"));
    VMESH_ENSURE(pairs == 1, VMESH_ERR_PARSE,
                 WHAT ": the environment-selector has %llu selector kinds; exactly one (class, instance or group)",
                 (unsigned long long)pairs);
    VMESH_GUARD(vmesh_cbor_peek(&sel, &h));
    VMESH_ENSURE(h.major == 0, VMESH_ERR_PARSE, WHAT ": environment-selector key is not an unsigned integer");
    VMESH_GUARD(vmesh_cbor_read_int_key(&sel, &key, &is_int));
    VMESH_ENSURE(is_int && key >= 0 && key <= 2, VMESH_ERR_PARSE,
                 WHAT ": environment-selector key %lld (0 class, 1 instance, 2 group)", (long long)key);
    c->kind = (vmesh_coserv_selector_kind)key;
    VMESH_GUARD(vmesh_cbor_enter(&sel, 4, &arr, &count, VMESH_COSERV_MAX_SELECTORS, "selector list"));
    VMESH_ENSURE(count > 0, VMESH_ERR_PARSE, WHAT ": an empty selector list");
    for (uint64_t i = 0; i < count; i++) {
        vmesh_cbor ent;
        uint64_t n;
        vmesh_coserv_selector *s = &c->sel[c->nsel];

        VMESH_GUARD(vmesh_cbor_enter(&arr, 4, &ent, &n, 2, "selector entry"));
        VMESH_ENSURE(n >= 1, VMESH_ERR_PARSE, WHAT ": selector entry %llu is empty", (unsigned long long)i);
        VMESH_GUARD(raw_item(&ent, &s->item));
        if (n == 2) {
            VMESH_GUARD(vmesh_cbor_peek(&ent, &h));
            VMESH_ENSURE(h.major == 4, VMESH_ERR_PARSE,
                         WHAT ": selector entry %llu: measurements are a %s, expected an array",
                         (unsigned long long)i, vmesh_cbor_type_name(h.major));
            VMESH_GUARD(raw_item(&ent, &s->measurements));
        }
        if (c->kind == VMESH_COSERV_SEL_CLASS)
            VMESH_GUARD(check_class_map(&s->item, (size_t)i));
        c->nsel++;
    }
out:
    return rc;
}

static vmesh_err read_enum(vmesh_cbor *r, uint64_t max, uint64_t *v, const char *field)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_read_uint(r, v, field));
    VMESH_ENSURE(*v <= max, VMESH_ERR_PARSE, WHAT ": %s %llu is not defined (0..%llu)", field,
                 (unsigned long long)*v, (unsigned long long)max);
out:
    return rc;
}

static vmesh_err read_query(vmesh_cbor *r, vmesh_coserv *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor q;
    uint64_t pairs, v;
    bool seen[3] = {false};

    VMESH_GUARD(vmesh_cbor_enter(r, 5, &q, &pairs, 3, "query"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;
        vmesh_cbor_head h;

        VMESH_GUARD(vmesh_cbor_peek(&q, &h));
        VMESH_ENSURE(h.major == 0, VMESH_ERR_PARSE, WHAT ": a query key is not an unsigned integer");
        VMESH_GUARD(vmesh_cbor_read_int_key(&q, &key, &is_int));
        VMESH_ENSURE(is_int && key <= 2, VMESH_ERR_PARSE,
                     WHAT ": query key %lld is unknown (0 artifact-type, 1 environment-selector, 2 result-type)",
                     (long long)key);
        VMESH_GUARD(dup_key(&seen[key], key, "the query"));
        if (key == 0) {
            VMESH_GUARD(read_enum(&q, 2, &v, "artifact-type"));
            c->artifact = (vmesh_coserv_artifact)v;
        } else if (key == 1) {
            VMESH_GUARD(read_selector(&q, c));
        } else {
            VMESH_GUARD(read_enum(&q, 2, &v, "result-type"));
            c->result_type = (vmesh_coserv_result_type)v;
        }
    }
    VMESH_ENSURE(seen[0] && seen[1] && seen[2], VMESH_ERR_PARSE,
                 WHAT ": the query lacks %s", !seen[0] ? "artifact-type (key 0)"
                                              : !seen[1] ? "environment-selector (key 1)"
                                                         : "result-type (key 2)");
out:
    return rc;
}

/* results: a map whose key 10 is the expiry, #6.0(tdate); the result set
 * proper (rvq, ...) is checked as well-formed CBOR and kept. */
static vmesh_err read_results(vmesh_cbor *r, vmesh_coserv *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor res;
    uint64_t pairs, tag;
    bool have_expiry = false;
    const char *s;
    size_t sn;
    char date[64];
    vmesh_cbor_head h;

    {
        vmesh_cbor copy = *r;
        VMESH_GUARD(raw_item(&copy, &c->results));
    }
    VMESH_GUARD(vmesh_cbor_enter(r, 5, &res, &pairs, 16, "results"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;

        VMESH_GUARD(vmesh_cbor_peek(&res, &h));
        VMESH_ENSURE(h.major == 0, VMESH_ERR_PARSE, WHAT ": a results key is not an unsigned integer");
        VMESH_GUARD(vmesh_cbor_read_int_key(&res, &key, &is_int));
        VMESH_ENSURE(is_int, VMESH_ERR_PARSE, WHAT ": a results key is too large");
        if (key != 10) {
            VMESH_GUARD(vmesh_cbor_skip(&res));
            continue;
        }
        VMESH_GUARD(dup_key(&have_expiry, key, "the results"));
        VMESH_GUARD(vmesh_cbor_read_tag(&res, &tag, "expiry"));
        VMESH_ENSURE(tag == TAG_TDATE, VMESH_ERR_PARSE, WHAT ": expiry has tag %llu, expected 0 (RFC 3339 date)",
                     (unsigned long long)tag);
        VMESH_GUARD(vmesh_cbor_read_tstr(&res, sizeof(date) - 1, &s, &sn, "expiry"));
        memcpy(date, s, sn);
        date[sn] = '\0';
        rc = vmesh_time_parse_rfc3339(date, &c->expiry);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, WHAT ": expiry");
            goto out;
        }
    }
    VMESH_ENSURE(have_expiry, VMESH_ERR_PARSE, WHAT ": the results lack their expiry (key 10)");
out:
    return rc;
}

vmesh_err vmesh_coserv_decode(const uint8_t *p, size_t n, vmesh_coserv *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r, top;
    uint64_t pairs;
    bool seen[3] = {false};

    VMESH_ENSURE(p != NULL && out != NULL, VMESH_ERR_ARG, WHAT ": no input");
    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(n > 0 && n <= VMESH_COSERV_MAX, VMESH_ERR_TOO_LARGE, WHAT ": %zu bytes (1 to %zu)", n,
                 VMESH_COSERV_MAX);
    vmesh_cbor_init(&r, p, n, WHAT, 0);
    VMESH_GUARD(vmesh_cbor_enter(&r, 5, &top, &pairs, 3, "CoSERV"));
    VMESH_GUARD(vmesh_cbor_end(&r, "the CoSERV map"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;
        vmesh_cbor_head h;

        VMESH_GUARD(vmesh_cbor_peek(&top, &h));
        VMESH_ENSURE(h.major == 0, VMESH_ERR_PARSE, WHAT ": a top-level key is not an unsigned integer");
        VMESH_GUARD(vmesh_cbor_read_int_key(&top, &key, &is_int));
        VMESH_ENSURE(is_int && key <= 2, VMESH_ERR_PARSE,
                     WHAT ": top-level key %lld is unknown (0 profile, 1 query, 2 results)", (long long)key);
        VMESH_GUARD(dup_key(&seen[key], key, "the CoSERV map"));
        if (key == 0) {
            VMESH_GUARD(vmesh_cbor_peek(&top, &h));
            if (h.major == 3) {
                const char *s;
                size_t sn;
                VMESH_GUARD(vmesh_cbor_read_tstr(&top, VMESH_COSERV_MAX_PROFILE, &s, &sn, "profile"));
                VMESH_ENSURE(sn > 0, VMESH_ERR_PARSE, WHAT ": an empty profile");
                memcpy(out->profile, s, sn);
                out->profile[sn] = '\0';
            } else {
                uint64_t tag;
                const uint8_t *b;
                size_t bn;
                VMESH_GUARD(vmesh_cbor_read_tag(&top, &tag, "profile"));
                VMESH_ENSURE(tag == TAG_OID, VMESH_ERR_PARSE,
                             WHAT ": profile has tag %llu, expected a URI (text) or an OID (tag 111)",
                             (unsigned long long)tag);
                VMESH_GUARD(vmesh_cbor_read_bstr(&top, VMESH_COSERV_MAX_PROFILE, &b, &bn, "profile OID"));
                VMESH_ENSURE(bn > 0, VMESH_ERR_PARSE, WHAT ": an empty profile OID");
                memcpy(out->profile_oid, b, bn);
                out->profile_oid_len = bn;
                out->profile_is_oid = true;
            }
        } else if (key == 1) {
            VMESH_GUARD(read_query(&top, out));
        } else {
            VMESH_GUARD(read_results(&top, out));
        }
    }
    VMESH_ENSURE(seen[0] && seen[1], VMESH_ERR_PARSE, WHAT ": %s is missing",
                 !seen[0] ? "the profile (key 0)" : "the query (key 1)");
out:
    if (rc != VMESH_OK && out != NULL)
        memset(out, 0, sizeof(*out));
    return rc;
}

vmesh_err vmesh_coserv_decode_b64url(const char *s, size_t n, vmesh_buf *buf, vmesh_coserv *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(s != NULL && buf != NULL && out != NULL, VMESH_ERR_ARG, WHAT ": no input");
    VMESH_ENSURE(n <= (VMESH_COSERV_MAX / 3 + 1) * 4, VMESH_ERR_TOO_LARGE, WHAT ": the query is %zu characters", n);
    for (size_t i = 0; i < n; i++)
        VMESH_ENSURE(s[i] != '+' && s[i] != '/' && s[i] != '=', VMESH_ERR_PARSE,
                     WHAT ": the query is not base64url without padding (character %zu is '%c')", i, s[i]);
    vmesh_buf_reset(buf);
    rc = vmesh_b64_decode(s, n, buf);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, WHAT ": the query is not base64url");
        goto out;
    }
    VMESH_GUARD(vmesh_coserv_decode(buf->data, buf->len, out));
out:
    return rc;
}

static vmesh_err put_raw(vmesh_buf *b, const vmesh_coserv_raw *r)
{
    return vmesh_buf_append(b, r->p, r->n);
}

vmesh_err vmesh_coserv_encode(const vmesh_coserv *c, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(c != NULL && out != NULL, VMESH_ERR_ARG, WHAT ": nothing to encode");
    VMESH_ENSURE(c->nsel > 0 && c->nsel <= VMESH_COSERV_MAX_SELECTORS, VMESH_ERR_ARG,
                 WHAT ": %zu selector entries (1 to %d)", c->nsel, VMESH_COSERV_MAX_SELECTORS);
    VMESH_ENSURE(c->profile_is_oid ? c->profile_oid_len > 0 : c->profile[0] != '\0', VMESH_ERR_ARG,
                 WHAT ": no profile");
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cbor_put_map(out, c->results.n > 0 ? 3 : 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
    if (c->profile_is_oid) {
        VMESH_GUARD(vmesh_cbor_put_tag(out, TAG_OID));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, c->profile_oid, c->profile_oid_len));
    } else {
        VMESH_GUARD(vmesh_cbor_put_text(out, c->profile));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_map(out, 3));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
    VMESH_GUARD(vmesh_cbor_put_uint(out, (uint64_t)c->artifact));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_map(out, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(out, (uint64_t)c->kind));
    VMESH_GUARD(vmesh_cbor_put_array(out, c->nsel));
    for (size_t i = 0; i < c->nsel; i++) {
        VMESH_ENSURE(c->sel[i].item.n > 0, VMESH_ERR_ARG, WHAT ": selector entry %zu is empty", i);
        VMESH_GUARD(vmesh_cbor_put_array(out, c->sel[i].measurements.n > 0 ? 2 : 1));
        VMESH_GUARD(put_raw(out, &c->sel[i].item));
        if (c->sel[i].measurements.n > 0)
            VMESH_GUARD(put_raw(out, &c->sel[i].measurements));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, (uint64_t)c->result_type));
    if (c->results.n > 0) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
        VMESH_GUARD(put_raw(out, &c->results));
    }
out:
    return rc;
}

const char *vmesh_coserv_artifact_name(vmesh_coserv_artifact a)
{
    switch (a) {
    case VMESH_COSERV_ENDORSED_VALUES: return "endorsed-values";
    case VMESH_COSERV_TRUST_ANCHORS: return "trust-anchors";
    case VMESH_COSERV_REFERENCE_VALUES: return "reference-values";
    }
    return NULL;
}
