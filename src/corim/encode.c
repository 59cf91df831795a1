/*
 * Writing CoRIM: the PSA entries of an RV store as an unsigned CoRIM (PSA
 * profile), and the COSE_Sign1 envelope of a signed CoRIM. Used by RVPs to
 * publish and by tests to build inputs. It must never write something the
 * decoder of this module would read back differently: what it cannot
 * express (attributes, raw values, other schemes) is refused, not dropped.
 */
#include "corim_int.h"

#include <stdlib.h>
#include <string.h>

#include "vmesh/cose.h"

#define MT_UINT 0
#define MT_BYTES 2
#define MT_TEXT 3
#define MT_ARRAY 4
#define MT_MAP 5
#define MT_TAG 6

static vmesh_err text(vmesh_buf *b, const char *s)
{
    return vmesh_corim__bytes(b, MT_TEXT, s, strlen(s));
}

static vmesh_err uint_key(vmesh_buf *b, uint64_t k)
{
    return vmesh_corim__head(b, MT_UINT, k);
}

/* Distinct values in first-seen order (small n: quadratic is fine). */
typedef struct {
    const vmesh_rv_env **v;
    size_t n;
} env_list;

static bool same_env(const vmesh_rv_env *a, const vmesh_rv_env *b, bool with_instance)
{
    if (a->class_id_len != b->class_id_len ||
        memcmp(a->class_id, b->class_id, a->class_id_len) != 0)
        return false;
    if (!with_instance)
        return true;
    return a->instance_id_len == b->instance_id_len &&
           (a->instance_id_len == 0 ||
            memcmp(a->instance_id, b->instance_id, a->instance_id_len) == 0);
}

/* environment-map = { 0: { 0: 560(impl-id) } ? , 1: 550(ueid) } */
static vmesh_err env_map(vmesh_buf *b, const vmesh_rv_env *e, bool with_instance)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_corim__head(b, MT_MAP, with_instance ? 2 : 1));
    VMESH_GUARD(uint_key(b, 0));
    VMESH_GUARD(vmesh_corim__head(b, MT_MAP, 1));
    VMESH_GUARD(uint_key(b, 0));
    VMESH_GUARD(vmesh_corim__head(b, MT_TAG, 560));
    VMESH_GUARD(vmesh_corim__bytes(b, MT_BYTES, e->class_id, e->class_id_len));
    if (with_instance) {
        VMESH_GUARD(uint_key(b, 1));
        VMESH_GUARD(vmesh_corim__head(b, MT_TAG, 550));
        VMESH_GUARD(vmesh_corim__bytes(b, MT_BYTES, e->instance_id, e->instance_id_len));
    }
out:
    return rc;
}

/* measurement-map = { 0: "psa.software-component",
 *   1: { ? 0: { 0: version }, 2: [[alg, digest]], 11: name, ? 13: [560(signer)] } } */
static vmesh_err measurement_map(vmesh_buf *b, const vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;
    uint64_t nv = 2 + (m->version != NULL) + (m->signer_id != NULL);

    VMESH_GUARD(vmesh_corim__head(b, MT_MAP, 2));
    VMESH_GUARD(uint_key(b, 0));
    VMESH_GUARD(text(b, "psa.software-component"));
    VMESH_GUARD(uint_key(b, 1));
    VMESH_GUARD(vmesh_corim__head(b, MT_MAP, nv));
    if (m->version != NULL) {
        VMESH_GUARD(uint_key(b, 0));
        VMESH_GUARD(vmesh_corim__head(b, MT_MAP, 1));
        VMESH_GUARD(uint_key(b, 0));
        VMESH_GUARD(text(b, m->version));
    }
    VMESH_GUARD(uint_key(b, 2));
    VMESH_GUARD(vmesh_corim__head(b, MT_ARRAY, 1));
    VMESH_GUARD(vmesh_corim__head(b, MT_ARRAY, 2));
    VMESH_GUARD(vmesh_corim__int(b, m->digest_alg));
    VMESH_GUARD(vmesh_corim__bytes(b, MT_BYTES, m->digest, m->digest_len));
    VMESH_GUARD(uint_key(b, 11));
    VMESH_GUARD(text(b, m->name));
    if (m->signer_id != NULL) {
        VMESH_GUARD(uint_key(b, 13));
        VMESH_GUARD(vmesh_corim__head(b, MT_ARRAY, 1));
        VMESH_GUARD(vmesh_corim__head(b, MT_TAG, 560));
        VMESH_GUARD(vmesh_corim__bytes(b, MT_BYTES, m->signer_id, m->signer_id_len));
    }
out:
    return rc;
}

/* A CoMID { 0: "en", 1: { 0: tag-id }, 4: { kind: [triples] } } with one
 * triple per distinct environment of the selected entries. */
static vmesh_err comid(const vmesh_rv_store *s, bool keys, const char *tag_id, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t n = vmesh_rv_store_size(s), ne = 0;
    vmesh_rv_entry *envs = NULL;
    vmesh_buf b = {0};

    envs = calloc(n > 0 ? n : 1, sizeof(*envs));
    VMESH_ENSURE(envs != NULL, VMESH_ERR_NOMEM, "out of memory encoding a CoRIM");
    for (size_t i = 0; i < n; i++) {
        vmesh_rv_entry e;
        bool seen = false;
        (void)vmesh_rv_entry_at(s, i, &e);
        if (strcmp(e.env.scheme, "psa") != 0 || (e.kind == VMESH_RV_KEY) != keys)
            continue;
        for (size_t j = 0; j < ne && !seen; j++)
            seen = same_env(&envs[j].env, &e.env, keys);
        if (!seen)
            envs[ne++] = e;
    }
    if (ne == 0)
        goto out; /* nothing of this kind: no CoMID */
    VMESH_GUARD(vmesh_corim__head(&b, MT_MAP, 3));
    VMESH_GUARD(uint_key(&b, 0));
    VMESH_GUARD(text(&b, "en"));
    VMESH_GUARD(uint_key(&b, 1));
    VMESH_GUARD(vmesh_corim__head(&b, MT_MAP, 1));
    VMESH_GUARD(uint_key(&b, 0));
    VMESH_GUARD(text(&b, tag_id));
    VMESH_GUARD(uint_key(&b, 4));
    VMESH_GUARD(vmesh_corim__head(&b, MT_MAP, 1));
    VMESH_GUARD(uint_key(&b, keys ? 3 : 0));
    VMESH_GUARD(vmesh_corim__head(&b, MT_ARRAY, ne));
    for (size_t j = 0; j < ne; j++) {
        size_t count = 0;
        VMESH_GUARD(vmesh_corim__head(&b, MT_ARRAY, 2));
        VMESH_GUARD(env_map(&b, &envs[j].env, keys));
        for (size_t i = 0; i < n; i++) {
            vmesh_rv_entry e;
            (void)vmesh_rv_entry_at(s, i, &e);
            if (strcmp(e.env.scheme, "psa") == 0 && (e.kind == VMESH_RV_KEY) == keys &&
                same_env(&envs[j].env, &e.env, keys))
                count++;
        }
        VMESH_GUARD(vmesh_corim__head(&b, MT_ARRAY, count));
        for (size_t i = 0; i < n; i++) {
            vmesh_rv_entry e;
            (void)vmesh_rv_entry_at(s, i, &e);
            if (strcmp(e.env.scheme, "psa") != 0 || (e.kind == VMESH_RV_KEY) != keys ||
                !same_env(&envs[j].env, &e.env, keys))
                continue;
            if (keys) {
                vmesh_buf pem = {0};
                rc = vmesh_crypto_key_to_pem(e.key, false, &pem);
                if (rc == VMESH_OK)
                    rc = vmesh_corim__head(&b, MT_TAG, 554);
                if (rc == VMESH_OK)
                    rc = vmesh_corim__bytes(&b, MT_TEXT, pem.data, pem.len);
                vmesh_buf_free(&pem);
                if (rc != VMESH_OK)
                    goto out;
            } else {
                VMESH_GUARD(measurement_map(&b, e.m));
            }
        }
    }
    /* tagged-concise-mid-tag = #6.506(bytes .cbor concise-mid-tag) */
    VMESH_GUARD(vmesh_corim__head(out, MT_TAG, VMESH_CORIM_COMID_TAG));
    VMESH_GUARD(vmesh_corim__bytes(out, MT_BYTES, b.data, b.len));
out:
    vmesh_buf_free(&b);
    free(envs);
    return rc;
}

static vmesh_err check_encodable(const vmesh_rv_store *s, size_t *n_meas, size_t *n_keys)
{
    vmesh_err rc = VMESH_OK;

    *n_meas = *n_keys = 0;
    for (size_t i = 0; i < vmesh_rv_store_size(s); i++) {
        vmesh_rv_entry e;
        (void)vmesh_rv_entry_at(s, i, &e);
        VMESH_ENSURE(strcmp(e.env.scheme, "psa") == 0, VMESH_ERR_UNSUPPORTED,
                     "entry %zu is of scheme %s; the PSA CoRIM carries only scheme psa", i,
                     e.env.scheme);
        VMESH_ENSURE(e.env.class_id_len == 32, VMESH_ERR_UNSUPPORTED,
                     "entry %zu: the class id is %zu bytes; a PSA implementation id is 32", i,
                     e.env.class_id_len);
        VMESH_ENSURE(e.kind != VMESH_RV_ATTR, VMESH_ERR_UNSUPPORTED,
                     "entry %zu is an attribute (%s); CoRIM has no place for it, use RV JSON", i,
                     e.attr_name);
        if (e.kind == VMESH_RV_MEASUREMENT) {
            VMESH_ENSURE(e.m->digest_alg != 0, VMESH_ERR_UNSUPPORTED,
                         "entry %zu (%s) is a raw value; the PSA profile takes digests", i,
                         e.m->name);
            VMESH_ENSURE(e.m->signer_id == NULL || e.m->signer_id_len == 32 ||
                             e.m->signer_id_len == 48 || e.m->signer_id_len == 64,
                         VMESH_ERR_UNSUPPORTED,
                         "entry %zu (%s): a PSA signer id is 32, 48 or 64 bytes", i, e.m->name);
            (*n_meas)++;
        } else {
            VMESH_ENSURE(e.env.instance_id != NULL && e.env.instance_id_len >= 7 &&
                             e.env.instance_id_len <= 33,
                         VMESH_ERR_UNSUPPORTED,
                         "entry %zu: a PSA attestation key needs an instance id (UEID, 7 to 33 "
                         "bytes)",
                         i);
            (*n_keys)++;
        }
    }
    VMESH_ENSURE(*n_meas + *n_keys > 0, VMESH_ERR_ARG, "nothing to encode: the store is empty");
out:
    return rc;
}

vmesh_err vmesh_corim_encode_psa(const vmesh_rv_store *s, const char *id, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf tags = {0}, tag_id = {0};
    size_t nm, nk;

    VMESH_ENSURE(s != NULL && id != NULL && out != NULL && id[0] != '\0', VMESH_ERR_ARG,
                 "vmesh_corim_encode_psa: missing store, id or output");
    rc = check_encodable(s, &nm, &nk);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "encoding a PSA CoRIM");
        goto out;
    }
    VMESH_GUARD(vmesh_buf_append(&tag_id, id, strlen(id)));
    VMESH_GUARD(vmesh_buf_append(&tag_id, "/reference-values", 17));
    VMESH_GUARD(vmesh_buf_terminate(&tag_id));
    VMESH_GUARD(comid(s, false, (const char *)tag_id.data, &tags));
    vmesh_buf_reset(&tag_id);
    VMESH_GUARD(vmesh_buf_append(&tag_id, id, strlen(id)));
    VMESH_GUARD(vmesh_buf_append(&tag_id, "/attestation-keys", 17));
    VMESH_GUARD(vmesh_buf_terminate(&tag_id));
    VMESH_GUARD(comid(s, true, (const char *)tag_id.data, &tags));
    /* tagged-unsigned-corim-map = #6.501({ 0: id, 1: [tags], 3: 32(profile) }) */
    VMESH_GUARD(vmesh_corim__head(out, MT_TAG, VMESH_CORIM_TAG));
    VMESH_GUARD(vmesh_corim__head(out, MT_MAP, 3));
    VMESH_GUARD(uint_key(out, 0));
    VMESH_GUARD(text(out, id));
    VMESH_GUARD(uint_key(out, 1));
    VMESH_GUARD(vmesh_corim__head(out, MT_ARRAY, (nm > 0) + (nk > 0)));
    VMESH_GUARD(vmesh_buf_append(out, tags.data, tags.len));
    VMESH_GUARD(uint_key(out, 3));
    VMESH_GUARD(vmesh_corim__head(out, MT_TAG, 32));
    VMESH_GUARD(text(out, VMESH_CORIM_PROFILE_PSA));
out:
    vmesh_buf_free(&tags);
    vmesh_buf_free(&tag_id);
    return rc;
}

vmesh_err vmesh_corim_sign(const uint8_t *corim, size_t n, const vmesh_key *key,
                           const char *signer_name, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf meta = {0}, extra = {0};
    vmesh_cose_sign1_opts opts;

    VMESH_ENSURE(corim != NULL && key != NULL && out != NULL && signer_name != NULL &&
                     signer_name[0] != '\0',
                 VMESH_ERR_ARG, "vmesh_corim_sign: missing CoRIM, key, signer name or output");
    VMESH_ENSURE(vmesh_corim_is_corim(corim, n) && corim[0] != 0xd2, VMESH_ERR_ARG,
                 "vmesh_corim_sign: the input must be an unsigned CoRIM (tag 501)");
    /* corim-meta-map = { 0: corim-signer-map { 0: signer-name } } */
    VMESH_GUARD(vmesh_corim__head(&meta, MT_MAP, 1));
    VMESH_GUARD(uint_key(&meta, 0));
    VMESH_GUARD(vmesh_corim__head(&meta, MT_MAP, 1));
    VMESH_GUARD(uint_key(&meta, 0));
    VMESH_GUARD(text(&meta, signer_name));
    /* corim-meta-identity = (&(corim-meta: 8) => bstr .cbor corim-meta-map) */
    VMESH_GUARD(vmesh_corim__head(&extra, MT_MAP, 1));
    VMESH_GUARD(uint_key(&extra, 8));
    VMESH_GUARD(vmesh_corim__bytes(&extra, MT_BYTES, meta.data, meta.len));
    memset(&opts, 0, sizeof(opts));
    opts.content_type = VMESH_CORIM_MEDIA_TYPE;
    opts.extra_protected_map = extra.data;
    opts.extra_protected_map_len = extra.len;
    VMESH_GUARD(vmesh_cose_sign1_create(key, corim, n, &opts, out));
out:
    vmesh_buf_free(&meta);
    vmesh_buf_free(&extra);
    return rc;
}
