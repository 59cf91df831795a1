/*
 * CoSERV (draft-ietf-rats-coserv-07) request/result codec
 * (include/vmesh/coserv.h). It must never accept an unknown or duplicate
 * key, an indefinite length, a selector of two kinds, or a length it has
 * not checked; whatever it accepts it writes back byte for byte when the
 * input was deterministic.
 */
#include "vmesh/coserv.h"
#include "vmesh/cbor.h"
#include "vmesh/cose.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* ---- result sets into the RV store ---------------------------------------- */

#define MAX_QUADS 1024
#define MAX_MEAS 256

/* A tagged identifier: #6.560(bytes), #6.37(16-byte UUID), #6.111(OID),
 * #6.550(UEID): its bytes. */
static vmesh_err read_tagged_id(vmesh_cbor *r, const uint8_t **p, size_t *n, const char *field)
{
    vmesh_err rc = VMESH_OK;
    uint64_t tag;

    VMESH_GUARD(vmesh_cbor_read_tag(r, &tag, field));
    VMESH_ENSURE(tag == 560 || tag == 37 || tag == 111 || tag == 550, VMESH_ERR_UNSUPPORTED,
                 WHAT ": %s has tag %llu (supported: 560 bytes, 37 UUID, 111 OID, 550 UEID)", field,
                 (unsigned long long)tag);
    VMESH_GUARD(vmesh_cbor_read_bstr(r, VMESH_RV_MAX_ID, p, n, field));
    VMESH_ENSURE(*n > 0 && (tag != 37 || *n == 16), VMESH_ERR_PARSE, WHAT ": %s is %zu bytes", field, *n);
out:
    return rc;
}

static vmesh_err read_env(vmesh_cbor *r, vmesh_rv_env *env)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor m, cm;
    uint64_t pairs, cpairs;

    VMESH_GUARD(vmesh_cbor_enter(r, 5, &m, &pairs, 3, "environment-map"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;

        VMESH_GUARD(vmesh_cbor_read_int_key(&m, &key, &is_int));
        VMESH_ENSURE(is_int && key >= 0 && key <= 1, VMESH_ERR_UNSUPPORTED,
                     WHAT ": environment-map key %lld is not supported (0 class, 1 instance)", (long long)key);
        if (key == 1) {
            VMESH_GUARD(read_tagged_id(&m, &env->instance_id, &env->instance_id_len, "instance"));
            continue;
        }
        VMESH_GUARD(vmesh_cbor_enter(&m, 5, &cm, &cpairs, 5, "class-map"));
        for (uint64_t j = 0; j < cpairs; j++) {
            int64_t ck;
            bool ci;
            VMESH_GUARD(vmesh_cbor_read_int_key(&cm, &ck, &ci));
            if (ci && ck == 0)
                VMESH_GUARD(read_tagged_id(&cm, &env->class_id, &env->class_id_len, "class-id"));
            else
                VMESH_GUARD(vmesh_cbor_skip(&cm)); /* vendor, model, layer, index: not matched */
        }
    }
    VMESH_ENSURE(env->class_id_len > 0, VMESH_ERR_UNSUPPORTED,
                 WHAT ": a reference triple's environment has no class-id; vmesh keys reference values by it");
out:
    return rc;
}

static vmesh_err add_digest(vmesh_rv_store *s, const vmesh_rv_env *env, vmesh_rv_measurement *m, vmesh_cbor *d)
{
    vmesh_err rc = VMESH_OK;
    uint64_t n, alg;

    VMESH_GUARD(vmesh_cbor_read_array(d, &n, 2, "digest"));
    VMESH_ENSURE(n == 2, VMESH_ERR_PARSE, WHAT ": a digest is [alg, value]");
    VMESH_GUARD(vmesh_cbor_read_uint(d, &alg, "digest algorithm"));
    VMESH_ENSURE(alg == VMESH_HASH_SHA256 || alg == VMESH_HASH_SHA384 || alg == VMESH_HASH_SHA512,
                 VMESH_ERR_UNSUPPORTED,
                 WHAT ": measurement %s: digest algorithm %llu is not supported (1 sha-256, 7 sha-384, 8 sha-512)",
                 m->name, (unsigned long long)alg);
    VMESH_GUARD(vmesh_cbor_read_bstr(d, VMESH_RV_MAX_DIGEST, &m->digest, &m->digest_len, "digest value"));
    m->digest_alg = (int)alg;
    VMESH_GUARD(vmesh_rv_add_measurement(s, env, m));
out:
    return rc;
}

static vmesh_err read_measurement(vmesh_cbor *r, vmesh_rv_store *s, const vmesh_rv_env *env)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor mm, mv, digests, raw;
    uint64_t pairs, vpairs, nd = 0;
    bool have_mval = false, have_digests = false, have_raw = false;
    vmesh_rv_measurement m;
    char name[VMESH_RV_MAX_NAME + 1] = "", version[VMESH_RV_MAX_NAME + 1] = "";
    const char *sp;
    size_t sn;

    memset(&m, 0, sizeof(m));
    VMESH_GUARD(vmesh_cbor_enter(r, 5, &mm, &pairs, 3, "measurement-map"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;

        VMESH_GUARD(vmesh_cbor_read_int_key(&mm, &key, &is_int));
        VMESH_ENSURE(is_int && key == 1, VMESH_ERR_UNSUPPORTED,
                     WHAT ": measurement-map key %lld is not supported (only 1 mval)", (long long)key);
        VMESH_GUARD(dup_key(&have_mval, key, "a measurement-map"));
        VMESH_GUARD(vmesh_cbor_enter(&mm, 5, &mv, &vpairs, 8, "mval"));
        for (uint64_t j = 0; j < vpairs; j++) {
            int64_t vk;
            bool vi;
            VMESH_GUARD(vmesh_cbor_read_int_key(&mv, &vk, &vi));
            if (vi && vk == 11) {
                VMESH_GUARD(vmesh_cbor_read_tstr(&mv, VMESH_RV_MAX_NAME, &sp, &sn, "name"));
                memcpy(name, sp, sn);
                name[sn] = '\0';
            } else if (vi && vk == 0) {
                vmesh_cbor vm;
                uint64_t vmp;
                int64_t vmk;
                bool vmi;
                VMESH_GUARD(vmesh_cbor_enter(&mv, 5, &vm, &vmp, 1, "version-map"));
                VMESH_ENSURE(vmp == 1, VMESH_ERR_UNSUPPORTED,
                             WHAT ": a version-map with a version-scheme is not supported");
                VMESH_GUARD(vmesh_cbor_read_int_key(&vm, &vmk, &vmi));
                VMESH_ENSURE(vmi && vmk == 0, VMESH_ERR_PARSE, WHAT ": version-map key is not 0 (version)");
                VMESH_GUARD(vmesh_cbor_read_tstr(&vm, VMESH_RV_MAX_NAME, &sp, &sn, "version"));
                memcpy(version, sp, sn);
                version[sn] = '\0';
            } else if (vi && vk == 2) {
                VMESH_GUARD(vmesh_cbor_enter(&mv, 4, &digests, &nd, MAX_MEAS, "digests"));
                VMESH_ENSURE(nd > 0, VMESH_ERR_PARSE, WHAT ": empty digests");
                have_digests = true;
            } else if (vi && vk == 4) {
                VMESH_GUARD(vmesh_cbor_read_item(&mv, &raw));
                have_raw = true;
            } else {
                VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                           WHAT ": mval key %lld is not supported (0 version, 2 digests, 4 raw-value, 11 name): "
                           "ignoring it would widen the reference value",
                           (long long)vk);
            }
        }
    }
    VMESH_ENSURE(have_mval && name[0] != '\0', VMESH_ERR_UNSUPPORTED,
                 WHAT ": a measurement without a name (mval key 11); vmesh matches components by name");
    VMESH_ENSURE(have_digests != have_raw, VMESH_ERR_UNSUPPORTED,
                 WHAT ": measurement %s needs exactly one of digests and raw-value", name);
    m.name = name;
    m.version = version[0] ? version : NULL;
    if (have_raw) {
        uint64_t tag;
        vmesh_cbor_head h;
        VMESH_GUARD(vmesh_cbor_peek(&raw, &h));
        if (h.major == 6) {
            VMESH_GUARD(vmesh_cbor_read_tag(&raw, &tag, "raw-value"));
            VMESH_ENSURE(tag == 560, VMESH_ERR_UNSUPPORTED, WHAT ": raw-value tag %llu (expected 560 bytes)",
                         (unsigned long long)tag);
        }
        VMESH_GUARD(vmesh_cbor_read_bstr(&raw, VMESH_RV_MAX_DIGEST, &m.digest, &m.digest_len, "raw-value"));
        VMESH_GUARD(vmesh_rv_add_measurement(s, env, &m));
    } else {
        for (uint64_t i = 0; i < nd; i++)
            VMESH_GUARD(add_digest(s, env, &m, &digests));
    }
out:
    return rc;
}

/* One attest-key-triple [environment-map, [+ key]]: keys as
 * 554(PEM text), the CoMID tagged-pkix-base64-key-type. */
static vmesh_err read_ak_triple(vmesh_cbor *quad, vmesh_rv_store *s, const char *scheme)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor triple, keys;
    uint64_t tn, nk, tag;
    vmesh_rv_env env;
    vmesh_key *k = NULL;
    const char *pem;
    size_t pn;

    memset(&env, 0, sizeof(env));
    env.scheme = scheme;
    VMESH_GUARD(vmesh_cbor_enter(quad, 4, &triple, &tn, 2, "attest-key-triple"));
    VMESH_ENSURE(tn == 2, VMESH_ERR_PARSE, WHAT ": an attest-key-triple is [environment, keys]");
    VMESH_GUARD(read_env(&triple, &env));
    VMESH_GUARD(vmesh_cbor_enter(&triple, 4, &keys, &nk, MAX_MEAS, "keys"));
    VMESH_ENSURE(nk > 0, VMESH_ERR_PARSE, WHAT ": an attest-key-triple without keys");
    for (uint64_t i = 0; i < nk; i++) {
        VMESH_GUARD(vmesh_cbor_read_tag(&keys, &tag, "key"));
        VMESH_ENSURE(tag == 554, VMESH_ERR_UNSUPPORTED,
                     WHAT ": key tag %llu is not supported (554 pkix-base64-key, PEM)", (unsigned long long)tag);
        VMESH_GUARD(vmesh_cbor_read_tstr(&keys, 8192, &pem, &pn, "key"));
        VMESH_GUARD(vmesh_crypto_key_parse((const uint8_t *)pem, pn, &k));
        VMESH_ENSURE(!vmesh_crypto_key_is_private(k), VMESH_ERR_PARSE, WHAT ": a private key in a result set");
        VMESH_GUARD(vmesh_rv_add_key(s, &env, k));
        vmesh_crypto_key_free(k);
        k = NULL;
    }
out:
    vmesh_crypto_key_free(k);
    return rc;
}

vmesh_err vmesh_coserv_load_results(const vmesh_coserv *c, vmesh_rv_store *s, const char *scheme, int64_t now)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *scratch = NULL;
    vmesh_cbor r, res, quads;
    uint64_t pairs, nq = 0, total = 0;
    bool ta;

    VMESH_ENSURE(c != NULL && s != NULL && scheme != NULL, VMESH_ERR_ARG, WHAT ": missing argument");
    VMESH_ENSURE(c->results.n > 0, VMESH_ERR_NOT_FOUND, WHAT ": the answer carries no result set");
    VMESH_ENSURE(now < c->expiry, VMESH_ERR_EXPIRED, WHAT ": the result set expired at %lld (now %lld)",
                 (long long)c->expiry, (long long)now);
    VMESH_ENSURE(c->artifact != VMESH_COSERV_ENDORSED_VALUES, VMESH_ERR_UNSUPPORTED,
                 WHAT ": a result set of %s; only reference-values and trust-anchors load into the RV store",
                 vmesh_coserv_artifact_name(c->artifact));
    ta = c->artifact == VMESH_COSERV_TRUST_ANCHORS;
    VMESH_GUARD(vmesh_rv_store_new(&scratch));
    vmesh_cbor_init(&r, c->results.p, c->results.n, WHAT, 0);
    VMESH_GUARD(vmesh_cbor_enter(&r, 5, &res, &pairs, 16, "results"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;

        VMESH_GUARD(vmesh_cbor_read_int_key(&res, &key, &is_int));
        if (is_int && key == 10) {
            VMESH_GUARD(vmesh_cbor_skip(&res)); /* expiry: decoded already */
            continue;
        }
        if (ta) {
            VMESH_ENSURE(is_int && (key == 3 || key == 4), VMESH_ERR_UNSUPPORTED,
                         WHAT ": trust-anchors result-set key %lld is not supported (3 akq, 4 tas, 10 expiry)",
                         (long long)key);
        } else {
            VMESH_ENSURE(is_int && key == 0, VMESH_ERR_UNSUPPORTED,
                         WHAT ": result-set key %lld is not supported (0 rvq, 10 expiry)", (long long)key);
        }
        VMESH_GUARD(vmesh_cbor_enter(&res, 4, &quads, &nq, MAX_QUADS, key == 0 ? "rvq" : key == 3 ? "akq" : "tas"));
        VMESH_ENSURE(key != 4 || nq == 0, VMESH_ERR_UNSUPPORTED,
                     WHAT ": CoTS trust-anchor statements (tas) are not supported");
        total += nq;
        for (uint64_t q = 0; q < nq; q++) {
            vmesh_cbor quad, triple, meas;
            uint64_t qp, tn, nm;
            bool have_triple = false;

            VMESH_GUARD(vmesh_cbor_enter(&quads, 5, &quad, &qp, 2, ta ? "ak-quad" : "refval-quad"));
            for (uint64_t j = 0; j < qp; j++) {
                int64_t qk;
                bool qi;
                VMESH_GUARD(vmesh_cbor_read_int_key(&quad, &qk, &qi));
                VMESH_ENSURE(qi && (qk == 1 || qk == 2), VMESH_ERR_PARSE,
                             WHAT ": quad key %lld (1 authorities, 2 triple)", (long long)qk);
                if (qk == 1) {
                    VMESH_GUARD(vmesh_cbor_skip(&quad));
                    continue;
                }
                VMESH_ENSURE(!have_triple, VMESH_ERR_PARSE, WHAT ": a quad with two triples");
                have_triple = true;
                if (ta) {
                    VMESH_GUARD(read_ak_triple(&quad, scratch, scheme));
                    continue;
                }
                vmesh_rv_env env;
                memset(&env, 0, sizeof(env));
                env.scheme = scheme;
                VMESH_GUARD(vmesh_cbor_enter(&quad, 4, &triple, &tn, 2, "reference-triple"));
                VMESH_ENSURE(tn == 2, VMESH_ERR_PARSE, WHAT ": a reference-triple is [environment, measurements]");
                VMESH_GUARD(read_env(&triple, &env));
                VMESH_GUARD(vmesh_cbor_enter(&triple, 4, &meas, &nm, MAX_MEAS, "measurements"));
                VMESH_ENSURE(nm > 0, VMESH_ERR_PARSE, WHAT ": a reference-triple without measurements");
                for (uint64_t i = 0; i < nm; i++)
                    VMESH_GUARD(read_measurement(&meas, scratch, &env));
            }
            VMESH_ENSURE(have_triple, VMESH_ERR_PARSE, WHAT ": quad %llu has no triple", (unsigned long long)q);
        }
    }
    VMESH_ENSURE(total > 0, VMESH_ERR_NOT_FOUND, WHAT ": the result set holds no %s",
                 ta ? "trust anchors (akq)" : "reference values (rvq)");
    VMESH_GUARD(vmesh_rv_store_merge(s, scratch));
out:
    vmesh_rv_store_free(scratch);
    return rc;
}

/* ---- answering a query from an RV store ------------------------------------ */

static vmesh_err put_measurement(vmesh_buf *b, const vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;
    size_t n = 2 + (m->version != NULL);

    VMESH_ENSURE(m->signer_id == NULL, VMESH_ERR_UNSUPPORTED,
                 WHAT ": measurement %s has a signer-id, which a CoMID mval cannot carry", m->name);
    VMESH_GUARD(vmesh_cbor_put_map(b, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 1));
    VMESH_GUARD(vmesh_cbor_put_map(b, n));
    if (m->version != NULL) {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
        VMESH_GUARD(vmesh_cbor_put_map(b, 1));
        VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
        VMESH_GUARD(vmesh_cbor_put_text(b, m->version));
    }
    if (m->digest_alg != 0) {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 2));
        VMESH_GUARD(vmesh_cbor_put_array(b, 1));
        VMESH_GUARD(vmesh_cbor_put_array(b, 2));
        VMESH_GUARD(vmesh_cbor_put_uint(b, (uint64_t)m->digest_alg));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, m->digest, m->digest_len));
    } else {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 4));
        VMESH_GUARD(vmesh_cbor_put_tag(b, 560));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, m->digest, m->digest_len));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(b, 11));
    VMESH_GUARD(vmesh_cbor_put_text(b, m->name));
out:
    return rc;
}

/* The class-id of a class selector: its tag and bytes. */
static vmesh_err selector_class_id(const vmesh_coserv_raw *item, uint64_t *tag, const uint8_t **p, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r, m;
    uint64_t pairs;

    *n = 0;
    vmesh_cbor_init(&r, item->p, item->n, WHAT, 0);
    VMESH_GUARD(vmesh_cbor_enter(&r, 5, &m, &pairs, 5, "class-map"));
    for (uint64_t k = 0; k < pairs; k++) {
        int64_t key;
        bool is_int;
        VMESH_GUARD(vmesh_cbor_read_int_key(&m, &key, &is_int));
        if (is_int && key == 0) {
            VMESH_GUARD(vmesh_cbor_read_tag(&m, tag, "class-id"));
            VMESH_GUARD(vmesh_cbor_read_bstr(&m, VMESH_RV_MAX_ID, p, n, "class-id"));
        } else {
            VMESH_GUARD(vmesh_cbor_skip(&m));
        }
    }
out:
    return rc;
}

/* An instance or group selector's item: one tagged id (550 UEID, 560
 * bytes, 37 UUID, 111 OID). */
static vmesh_err selector_id(const vmesh_coserv_raw *item, const uint8_t **p, size_t *n, const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;

    vmesh_cbor_init(&r, item->p, item->n, WHAT, 0);
    VMESH_GUARD(read_tagged_id(&r, p, n, field));
out:
    return rc;
}

static bool same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool same_env(const vmesh_rv_env *a, const vmesh_rv_env *b)
{
    return same_bytes(a->class_id, a->class_id_len, b->class_id, b->class_id_len) &&
           same_bytes(a->instance_id, a->instance_id_len, b->instance_id, b->instance_id_len);
}

/* environment-map {0: {0: class-id}, ? 1: 550(instance)} */
static vmesh_err put_env(vmesh_buf *b, const vmesh_rv_env *e, uint64_t class_tag)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_put_map(b, e->instance_id_len > 0 ? 2 : 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
    VMESH_GUARD(vmesh_cbor_put_map(b, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
    VMESH_GUARD(vmesh_cbor_put_tag(b, class_tag));
    VMESH_GUARD(vmesh_cbor_put_bstr(b, e->class_id, e->class_id_len));
    if (e->instance_id_len > 0) {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 1));
        VMESH_GUARD(vmesh_cbor_put_tag(b, 550));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, e->instance_id, e->instance_id_len));
    }
out:
    return rc;
}

/* A key as CoMID tagged-pkix-base64-key-type: 554(PEM text). */
static vmesh_err put_key(vmesh_buf *b, const vmesh_key *k)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf pem = {0};

    VMESH_GUARD(vmesh_crypto_key_to_pem(k, false, &pem));
    VMESH_GUARD(vmesh_cbor_put_tag(b, 554));
    VMESH_GUARD(vmesh_cbor_put_tstr(b, (const char *)pem.data, pem.len));
out:
    vmesh_buf_free(&pem);
    return rc;
}

static bool entry_selected(const vmesh_rv_entry *e, vmesh_coserv_selector_kind kind, const uint8_t *id, size_t idn)
{
    if (kind == VMESH_COSERV_SEL_CLASS)
        return same_bytes(e->env.class_id, e->env.class_id_len, id, idn);
    return e->env.instance_id_len > 0 && same_bytes(e->env.instance_id, e->env.instance_id_len, id, idn);
}

/* The quads one selector yields: one per environment (class, instance)
 * holding entries of `want` kind, in the store's order. */
static vmesh_err answer_selector(const vmesh_coserv *q, size_t i, const vmesh_rv_store *rv, const char *scheme,
                                 vmesh_rv_kind want, const uint8_t *authority, size_t authority_len,
                                 vmesh_buf *quads, size_t *nquads)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_env envs[MAX_MEAS];
    size_t nenv = 0;
    uint64_t class_tag = 560;
    const uint8_t *id = NULL;
    size_t idn = 0;
    vmesh_rv_entry e;

    if (q->kind == VMESH_COSERV_SEL_GROUP)
        goto out; /* vmesh bundles hold no groups: nothing is selected */
    if (q->kind == VMESH_COSERV_SEL_CLASS) {
        VMESH_GUARD(selector_class_id(&q->sel[i].item, &class_tag, &id, &idn));
        if (idn == 0)
            goto out; /* by vendor/model only: vmesh keys reference values by class id */
    } else {
        VMESH_GUARD(selector_id(&q->sel[i].item, &id, &idn, "instance selector"));
    }
    for (size_t k = 0; vmesh_rv_entry_at(rv, k, &e); k++) {
        size_t j;
        if (e.kind != want || strcmp(e.env.scheme, scheme) != 0 || e.env.class_id_len == 0 ||
            !entry_selected(&e, q->kind, id, idn))
            continue;
        for (j = 0; j < nenv && !same_env(&envs[j], &e.env); j++)
            ;
        if (j == nenv) {
            VMESH_ENSURE(nenv < MAX_MEAS, VMESH_ERR_TOO_LARGE, WHAT ": more than %d environments for one selector",
                         MAX_MEAS);
            envs[nenv++] = e.env;
        }
    }
    for (size_t j = 0; j < nenv; j++) {
        size_t nitems = 0;

        VMESH_ENSURE(*nquads < MAX_QUADS, VMESH_ERR_TOO_LARGE, WHAT ": more than %d quads in one answer", MAX_QUADS);
        for (size_t k = 0; vmesh_rv_entry_at(rv, k, &e); k++)
            if (e.kind == want && strcmp(e.env.scheme, scheme) == 0 && same_env(&envs[j], &e.env))
                nitems++;
        VMESH_ENSURE(nitems <= MAX_MEAS, VMESH_ERR_TOO_LARGE, WHAT ": more than %d values for one environment",
                     MAX_MEAS);
        VMESH_GUARD(vmesh_cbor_put_map(quads, 2));
        VMESH_GUARD(vmesh_cbor_put_uint(quads, 1)); /* authorities */
        VMESH_GUARD(vmesh_cbor_put_array(quads, 1));
        VMESH_GUARD(vmesh_cbor_put_tag(quads, 560));
        VMESH_GUARD(vmesh_cbor_put_bstr(quads, authority, authority_len));
        VMESH_GUARD(vmesh_cbor_put_uint(quads, 2)); /* reference-triple / attest-key-triple */
        VMESH_GUARD(vmesh_cbor_put_array(quads, 2));
        VMESH_GUARD(put_env(quads, &envs[j], class_tag));
        VMESH_GUARD(vmesh_cbor_put_array(quads, nitems));
        for (size_t k = 0; vmesh_rv_entry_at(rv, k, &e); k++) {
            if (e.kind != want || strcmp(e.env.scheme, scheme) != 0 || !same_env(&envs[j], &e.env))
                continue;
            if (want == VMESH_RV_MEASUREMENT)
                VMESH_GUARD(put_measurement(quads, e.m));
            else
                VMESH_GUARD(put_key(quads, e.key));
        }
        (*nquads)++;
    }
out:
    return rc;
}

vmesh_err vmesh_coserv_answer(const vmesh_coserv *query, const vmesh_rv_store *rv, const char *scheme,
                              const uint8_t *authority, size_t authority_len, int64_t expiry, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf quads = {0}, res = {0};
    vmesh_coserv a;
    size_t nquads = 0;
    char date[32];
    bool ta;

    VMESH_ENSURE(query != NULL && rv != NULL && scheme != NULL && out != NULL && authority != NULL &&
                     authority_len > 0,
                 VMESH_ERR_ARG, WHAT ": missing argument");
    VMESH_ENSURE(query->artifact != VMESH_COSERV_ENDORSED_VALUES, VMESH_ERR_UNSUPPORTED,
                 WHAT ": %s are not served (reference-values and trust-anchors)",
                 vmesh_coserv_artifact_name(query->artifact));
    VMESH_ENSURE(query->result_type != VMESH_COSERV_SOURCE, VMESH_ERR_UNSUPPORTED,
                 WHAT ": source material is not offered; ask for collected material (result-type 0)");
    ta = query->artifact == VMESH_COSERV_TRUST_ANCHORS;
    {
        time_t t = (time_t)expiry;
        struct tm tm;
        VMESH_ENSURE(expiry > 0 && gmtime_r(&t, &tm) != NULL &&
                         strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0,
                     VMESH_ERR_ARG, WHAT ": expiry %lld is not a time", (long long)expiry);
    }
    for (size_t i = 0; i < query->nsel; i++)
        VMESH_GUARD(answer_selector(query, i, rv, scheme, ta ? VMESH_RV_KEY : VMESH_RV_MEASUREMENT, authority,
                                    authority_len, &quads, &nquads));
    /* reference-values = (0: rvq); trust-anchors = (3: akq, 4: tas) */
    VMESH_GUARD(vmesh_cbor_put_map(&res, ta ? 3 : 2));
    VMESH_GUARD(vmesh_cbor_put_uint(&res, ta ? 3 : 0));
    VMESH_GUARD(vmesh_cbor_put_array(&res, nquads));
    VMESH_GUARD(vmesh_buf_append(&res, quads.data, quads.len));
    if (ta) {
        VMESH_GUARD(vmesh_cbor_put_uint(&res, 4));
        VMESH_GUARD(vmesh_cbor_put_array(&res, 0));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(&res, 10));
    VMESH_GUARD(vmesh_cbor_put_tag(&res, TAG_TDATE));
    VMESH_GUARD(vmesh_cbor_put_text(&res, date));
    a = *query;
    a.results.p = res.data;
    a.results.n = res.len;
    a.expiry = expiry;
    VMESH_GUARD(vmesh_coserv_encode(&a, out));
out:
    vmesh_buf_free(&quads);
    vmesh_buf_free(&res);
    return rc;
}

/* ---- signed result sets ---------------------------------------------------- */

vmesh_err vmesh_coserv_sign(const uint8_t *coserv, size_t n, const vmesh_key *key, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1_opts o;
    uint8_t kid[32];

    VMESH_ENSURE(coserv != NULL && n > 0 && key != NULL && out != NULL, VMESH_ERR_ARG, WHAT ": missing argument");
    VMESH_GUARD(vmesh_crypto_key_thumbprint(key, kid));
    memset(&o, 0, sizeof(o));
    o.content_type = VMESH_COSERV_MEDIA_TYPE;
    o.kid = kid;
    o.kid_len = sizeof(kid);
    VMESH_GUARD(vmesh_cose_sign1_create(key, coserv, n, &o, out));
out:
    return rc;
}

vmesh_err vmesh_coserv_verify_signed(const uint8_t *p, size_t n, const vmesh_key *key, const uint8_t *query,
                                     size_t query_len, int64_t now, vmesh_buf *payload, vmesh_coserv *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1 *m = NULL;
    vmesh_buf asked = {0};
    vmesh_coserv q;
    const uint8_t *pl;
    const char *cty;
    size_t pn;

    VMESH_ENSURE(p != NULL && key != NULL && payload != NULL && out != NULL, VMESH_ERR_ARG,
                 WHAT ": missing argument");
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, WHAT ": empty answer");
    VMESH_ENSURE((p[0] & 0xe0) != 0xa0, VMESH_ERR_SIGNATURE,
                 WHAT ": unsigned result set (a bare CoSERV map, " VMESH_COSERV_MEDIA_TYPE
                      ") refused: this provider's result sets must be signed (" VMESH_COSERV_COSE_MEDIA_TYPE ")");
    VMESH_ENSURE(p[0] == 0xd2, VMESH_ERR_PARSE,
                 WHAT ": the answer is not a tagged COSE_Sign1 (tag 18), first byte 0x%02x", p[0]);
    VMESH_GUARD(vmesh_cose_sign1_decode(p, n, VMESH_COSERV_MAX + 4096, &m));
    rc = vmesh_cose_sign1_verify(m, key);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, WHAT ": signed result set refused: the signature does not verify with the provider key "
                           "configured here (signed by another key, or altered)");
        goto out;
    }
    cty = vmesh_cose_sign1_content_type(m);
    VMESH_ENSURE(cty != NULL && strcmp(cty, VMESH_COSERV_MEDIA_TYPE) == 0, VMESH_ERR_PARSE,
                 WHAT ": signed result set refused: content type \"%s\", expected \"" VMESH_COSERV_MEDIA_TYPE "\"",
                 cty ? cty : "(none)");
    pl = vmesh_cose_sign1_payload(m, &pn);
    vmesh_buf_reset(payload);
    VMESH_GUARD(vmesh_buf_append(payload, pl, pn));
    VMESH_GUARD(vmesh_coserv_decode(payload->data, payload->len, out));
    VMESH_ENSURE(out->results.n > 0, VMESH_ERR_PARSE, WHAT ": signed answer without a result set");
    VMESH_ENSURE(now < out->expiry, VMESH_ERR_EXPIRED,
                 WHAT ": signed result set refused: expired at %lld (now %lld)", (long long)out->expiry,
                 (long long)now);
    if (query != NULL) {
        q = *out;
        q.results.p = NULL;
        q.results.n = 0;
        q.expiry = 0;
        VMESH_GUARD(vmesh_coserv_encode(&q, &asked));
        VMESH_ENSURE(same_bytes(asked.data, asked.len, query, query_len), VMESH_ERR_MISMATCH,
                     WHAT ": signed result set refused: it answers another query than the one asked");
    }
out:
    vmesh_buf_free(&asked);
    vmesh_cose_sign1_free(m);
    return rc;
}

vmesh_err vmesh_coserv_class_query(const char *scheme, vmesh_coserv_artifact artifact, const uint8_t *const *classes,
                                   const size_t *lens, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    char profile[VMESH_COSERV_MAX_PROFILE + 1];
    vmesh_coserv c;

    VMESH_ENSURE(scheme != NULL && out != NULL && n > 0 && n <= VMESH_COSERV_MAX_SELECTORS, VMESH_ERR_ARG,
                 WHAT ": a class query needs a scheme and 1..%d class ids", VMESH_COSERV_MAX_SELECTORS);
    VMESH_ENSURE(snprintf(profile, sizeof(profile), VMESH_COSERV_PROFILE_PREFIX "%s", scheme) < (int)sizeof(profile),
                 VMESH_ERR_ARG, WHAT ": scheme name too long");
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cbor_put_map(out, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
    VMESH_GUARD(vmesh_cbor_put_text(out, profile));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_map(out, 3));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
    VMESH_GUARD(vmesh_cbor_put_uint(out, (uint64_t)artifact));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_map(out, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
    VMESH_GUARD(vmesh_cbor_put_array(out, n));
    for (size_t i = 0; i < n; i++) {
        VMESH_ENSURE(lens[i] > 0 && lens[i] <= VMESH_RV_MAX_ID, VMESH_ERR_ARG, WHAT ": class id %zu is %zu bytes", i,
                     lens[i]);
        VMESH_GUARD(vmesh_cbor_put_array(out, 1));
        VMESH_GUARD(vmesh_cbor_put_map(out, 1));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
        VMESH_GUARD(vmesh_cbor_put_tag(out, 560));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, classes[i], lens[i]));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, VMESH_COSERV_COLLECTED));
    VMESH_GUARD(vmesh_coserv_decode(out->data, out->len, &c)); /* what we ask must be what we accept */
out:
    return rc;
}

const char *vmesh_coserv_profile_scheme(const vmesh_coserv *c)
{
    size_t n = strlen(VMESH_COSERV_PROFILE_PREFIX);

    if (c->profile_is_oid || strncmp(c->profile, VMESH_COSERV_PROFILE_PREFIX, n) != 0 || c->profile[n] == '\0')
        return NULL;
    for (const char *s = c->profile + n; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return NULL;
    return c->profile + n;
}
