/*
 * The Arm PSA profile of CoRIM (include/vmesh/psa.h): how the reference
 * triples and attest-key triples of a CoMID become "psa" entries of an RV
 * store ("tag:arm.com,2025:psa#1.0.0", Veraison's older
 * "http://arm.com/psa/iot/1"), and the writer of such a CoRIM from a store.
 * The corim module reads the CoRIM around the triples. It must never accept
 * a triple it cannot enforce (an svn, flags, a condition): silently dropping
 * a constraint would make appraisal weaker than the RVP meant; and never
 * write something this reader would read back differently.
 */
#include "vmesh/psa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CBOR tags of CoMID (draft-ietf-rats-corim, IANA CBOR tags). */
#define TAG_UUID 37
#define TAG_OID 111
#define TAG_UEID 550
#define TAG_PKIX_KEY 554
#define TAG_BYTES 560
/* Veraison PSA profile tags: impl-id (600, older 551), psa.refval-id (601,
 * older 600). */
#define TAG_PSA_IMPL_ID 600
#define TAG_PSA_IMPL_ID_OLD 551
#define TAG_PSA_REFVAL_ID 601

#define PSA_IMPL_ID_LEN 32

#define BIT(k) (1u << (k))
#define NAMES(a) a, sizeof(a) / sizeof(a[0])

/* ---- reading ----------------------------------------------------------------- */

/* class-map = { ? 0 class-id, ? 1 vendor, ? 2 model, ? 3 layer, ? 4 index }.
 * PSA: the class id is the 32-byte implementation id. vendor and model are
 * descriptive (PSA evidence does not carry them). */
static vmesh_err psa_class(const vmesh_cbor *cls, const uint8_t **id, size_t *id_len)
{
    static const char *const names[] = {"class-id", "vendor", "model", "layer", "index"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor f[VMESH_CORIM_MAX_KEYS], inner;
    char tmp[VMESH_RV_MAX_NAME + 1];

    VMESH_GUARD(vmesh_corim_fields(cls, "class", BIT(0) | BIT(1) | BIT(2), NAMES(names), f));
    VMESH_ENSURE(f[0].n > 0, VMESH_ERR_PARSE, "class has no class-id");
    if (f[1].n > 0)
        VMESH_GUARD(vmesh_corim_text(&f[1], "class vendor", tmp, sizeof(tmp)));
    if (f[2].n > 0)
        VMESH_GUARD(vmesh_corim_text(&f[2], "class model", tmp, sizeof(tmp)));
    VMESH_ENSURE(vmesh_corim_is_tag(&f[0], TAG_BYTES) || vmesh_corim_is_tag(&f[0], TAG_PSA_IMPL_ID) ||
                     vmesh_corim_is_tag(&f[0], TAG_PSA_IMPL_ID_OLD),
                 VMESH_ERR_PARSE, "class-id must be a PSA implementation id (tagged-bytes, tag 560), found %s",
                 vmesh_corim_is_tag(&f[0], TAG_UUID)  ? "a UUID (tag 37)"
                 : vmesh_corim_is_tag(&f[0], TAG_OID) ? "an OID (tag 111)"
                                                      : "another type");
    VMESH_GUARD(vmesh_corim_untag(&f[0], &inner));
    VMESH_GUARD(vmesh_corim_bytes(&inner, "class-id", id, id_len));
    VMESH_ENSURE(*id_len == PSA_IMPL_ID_LEN, VMESH_ERR_PARSE, "class-id (PSA implementation id) is %zu bytes, expected %d",
                 *id_len, PSA_IMPL_ID_LEN);
out:
    return rc;
}

/* environment-map = { ? 0 class, ? 1 instance, ? 2 group } */
static vmesh_err psa_env(const vmesh_cbor *em, bool want_instance, vmesh_rv_env *env)
{
    static const char *const names[] = {"class", "instance", "group"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor f[VMESH_CORIM_MAX_KEYS], inner;

    memset(env, 0, sizeof(*env));
    env->scheme = "psa";
    VMESH_GUARD(vmesh_corim_fields(em, "environment", BIT(0) | BIT(1), NAMES(names), f));
    VMESH_ENSURE(f[0].n > 0, VMESH_ERR_PARSE, "environment has no class");
    VMESH_GUARD(psa_class(&f[0], &env->class_id, &env->class_id_len));
    if (!want_instance) {
        VMESH_ENSURE(f[1].n == 0, VMESH_ERR_PARSE,
                     "instance set for a reference value (PSA reference values apply to a whole "
                     "implementation)");
        goto out;
    }
    VMESH_ENSURE(f[1].n > 0, VMESH_ERR_PARSE, "instance not set for an attestation key (PSA keys belong to one instance)");
    VMESH_ENSURE(vmesh_corim_is_tag(&f[1], TAG_UEID), VMESH_ERR_PARSE, "instance must be a UEID (tag 550), found %s",
                 vmesh_corim_is_tag(&f[1], TAG_UUID) ? "a UUID (tag 37)" : "another type");
    VMESH_GUARD(vmesh_corim_untag(&f[1], &inner));
    VMESH_GUARD(vmesh_corim_bytes(&inner, "instance UEID", &env->instance_id, &env->instance_id_len));
    /* ueid-type = bytes .size (7..33) */
    VMESH_ENSURE(env->instance_id_len >= 7 && env->instance_id_len <= 33, VMESH_ERR_PARSE,
                 "instance UEID is %zu bytes, expected 7 to 33", env->instance_id_len);
out:
    return rc;
}

static vmesh_err check_signer_len(size_t n)
{
    if (n == 32 || n == 48 || n == 64)
        return VMESH_OK;
    return vmesh_err_set(VMESH_ERR_PARSE, "signer id is %zu bytes, expected 32, 48 or 64", n);
}

/* Older PSA profile mkey: psa.refval-id = { ? 1 label, ? 4 version, 5 signer-id } */
static vmesh_err psa_refval_id(const vmesh_cbor *it, char *label, char *version, const uint8_t **signer,
                               size_t *signer_len)
{
    static const char *const names[] = {NULL, "label", NULL, NULL, "version", "signer-id"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor f[VMESH_CORIM_MAX_KEYS], inner;

    VMESH_GUARD(vmesh_corim_untag(it, &inner));
    VMESH_GUARD(vmesh_corim_fields(&inner, "psa.refval-id", BIT(1) | BIT(4) | BIT(5), NAMES(names), f));
    if (f[1].n > 0)
        VMESH_GUARD(vmesh_corim_text(&f[1], "psa.refval-id label", label, VMESH_RV_MAX_NAME + 1));
    if (f[4].n > 0)
        VMESH_GUARD(vmesh_corim_text(&f[4], "psa.refval-id version", version, VMESH_RV_MAX_NAME + 1));
    VMESH_ENSURE(f[5].n > 0, VMESH_ERR_PARSE, "psa.refval-id has no signer-id");
    VMESH_GUARD(vmesh_corim_bytes(&f[5], "psa.refval-id signer-id", signer, signer_len));
    VMESH_GUARD(check_signer_len(*signer_len));
out:
    return rc;
}

/* digest = [ alg: int / text, val: bytes ], into m. */
static vmesh_err psa_digest(const vmesh_cbor *d, vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor pair, alg, val;
    vmesh_cbor_head h;
    uint64_t np = 0, a = 0;
    char algname[32];

    VMESH_GUARD(vmesh_corim_array(d, "digest", false, &pair, &np));
    VMESH_ENSURE(np == 2, VMESH_ERR_PARSE, "a digest must be [alg, value]");
    VMESH_GUARD(vmesh_cbor_read_item(&pair, &alg));
    VMESH_GUARD(vmesh_cbor_read_item(&pair, &val));
    VMESH_GUARD(vmesh_cbor_peek(&alg, &h));
    if (h.major == VMESH_CBOR_UINT && h.arg < 256) {
        VMESH_GUARD(vmesh_cbor_read_uint(&alg, &a, "digest alg"));
        m->digest_alg = (int)a;
    } else {
        VMESH_GUARD(vmesh_corim_text(&alg, "digest alg", algname, sizeof(algname)));
        m->digest_alg = vmesh_rv_hash_alg_from_name(algname);
    }
    VMESH_ENSURE(vmesh_rv_hash_alg_len(m->digest_alg) != 0, VMESH_ERR_UNSUPPORTED,
                 "digest algorithm is not supported (sha-256 1, sha-384 7, sha-512 8, sha3 9-12)");
    VMESH_GUARD(vmesh_corim_bytes(&val, "digest value", &m->digest, &m->digest_len));
    VMESH_ENSURE(m->digest_len == vmesh_rv_hash_alg_len(m->digest_alg), VMESH_ERR_PARSE,
                 "%s digest is %zu bytes, expected %zu", vmesh_rv_hash_alg_name(m->digest_alg), m->digest_len,
                 vmesh_rv_hash_alg_len(m->digest_alg));
out:
    return rc;
}

/* measurement-map = { ? 0 mkey, 1 mval, ? 2 authorized-by }
 * measurement-values-map keys: 0 version, 1 svn, 2 digests, 3 flags,
 * 4 raw-value, 5 raw-value-mask, 6 mac-addr, 7 ip-addr, 8 serial-number,
 * 9 ueid, 10 uuid, 11 name, 13 cryptokeys, 14 integrity-registers,
 * 15 int-range. */
static vmesh_err psa_measurement(vmesh_rv_store *s, const vmesh_rv_env *env, const vmesh_cbor *mm,
                                 vmesh_corim_info *info)
{
    static const char *const mnames[] = {"mkey", "mval", "authorized-by"};
    static const char *const vnames[] = {"version", "svn",  "digests", "flags",      "raw-value",
                                         "raw-value-mask", "mac-addr", "ip-addr", "serial-number",
                                         "ueid", "uuid", "name", NULL, "cryptokeys", "integrity-registers",
                                         "int-range"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor f[VMESH_CORIM_MAX_KEYS], v[VMESH_CORIM_MAX_KEYS], items, d;
    vmesh_cbor_head h;
    char label[VMESH_RV_MAX_NAME + 1] = "", version[VMESH_RV_MAX_NAME + 1] = "";
    char name[VMESH_RV_MAX_NAME + 1] = "";
    const uint8_t *signer = NULL;
    size_t signer_len = 0;
    uint64_t nd = 0;
    vmesh_rv_measurement m;

    VMESH_GUARD(vmesh_corim_fields(mm, "measurement", BIT(0) | BIT(1) | BIT(2), NAMES(mnames), f));
    VMESH_ENSURE(f[1].n > 0, VMESH_ERR_PARSE, "measurement has no value (mval)");
    if (f[0].n > 0) {
        if (vmesh_corim_is_tag(&f[0], TAG_PSA_REFVAL_ID) || vmesh_corim_is_tag(&f[0], TAG_PSA_IMPL_ID)) {
            VMESH_GUARD(psa_refval_id(&f[0], label, version, &signer, &signer_len));
        } else {
            VMESH_GUARD(vmesh_cbor_peek(&f[0], &h));
            VMESH_ENSURE(vmesh_corim_text_equals(&f[0], "psa.software-component"), VMESH_ERR_PARSE,
                         "measurement key must be \"psa.software-component\" or a psa.refval-id "
                         "(tag 601), found %s",
                         h.major == VMESH_CBOR_UINT   ? "an unsigned integer"
                         : h.major == VMESH_CBOR_TSTR ? "another text"
                                                      : "another type");
        }
    }
    /* Read everything first, then judge: an absent digest is the first
     * thing to report (it is why such a reference value cannot work). */
    VMESH_GUARD(vmesh_corim_fields(&f[1], "measurement value", 0xffffffffu, NAMES(vnames), v));
    if (v[2].n == 0)
        VMESH_FAIL(VMESH_ERR_PARSE, "measurement value has no digests%s",
                   v[1].n > 0 ? " (it has an svn; PSA reference values are digests of software components)" : "");
    for (unsigned k = 0; k < VMESH_CORIM_MAX_KEYS; k++)
        if (v[k].n > 0 && k != 0 && k != 2 && k != 11 && k != 13)
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                       "measurement value key %u (%s) is not supported by the PSA mapping; vmesh could not "
                       "enforce it",
                       k, k < sizeof(vnames) / sizeof(vnames[0]) && vnames[k] ? vnames[k] : "?");
    if (v[11].n > 0)
        VMESH_GUARD(vmesh_corim_text(&v[11], "measurement name", name, sizeof(name)));
    else
        memcpy(name, label, sizeof(name));
    VMESH_ENSURE(name[0] != '\0', VMESH_ERR_PARSE,
                 "measurement has no name (mval name, key 11, is the PSA measurement type)");
    if (v[0].n > 0) {
        static const char *const vmnames[] = {"version", "version-scheme"};
        vmesh_cbor vf[VMESH_CORIM_MAX_KEYS];
        VMESH_GUARD(vmesh_corim_fields(&v[0], "version", BIT(0) | BIT(1), NAMES(vmnames), vf));
        VMESH_ENSURE(vf[0].n > 0, VMESH_ERR_PARSE, "version map has no version");
        VMESH_GUARD(vmesh_corim_text(&vf[0], "version", version, sizeof(version)));
    }
    if (v[13].n > 0) {
        vmesh_cbor keys, k0, inner;
        uint64_t nk = 0;
        VMESH_GUARD(vmesh_corim_array(&v[13], "cryptokeys", true, &keys, &nk));
        VMESH_ENSURE(nk == 1, VMESH_ERR_PARSE,
                     "measurement value has %llu cryptokeys; the PSA profile takes one signer id",
                     (unsigned long long)nk);
        VMESH_GUARD(vmesh_cbor_read_item(&keys, &k0));
        VMESH_ENSURE(vmesh_corim_is_tag(&k0, TAG_BYTES), VMESH_ERR_PARSE,
                     "the signer id in cryptokeys must be tagged-bytes (tag 560)");
        VMESH_ENSURE(signer == NULL, VMESH_ERR_PARSE, "signer id given twice (psa.refval-id and cryptokeys)");
        VMESH_GUARD(vmesh_corim_untag(&k0, &inner));
        VMESH_GUARD(vmesh_corim_bytes(&inner, "signer id", &signer, &signer_len));
        VMESH_GUARD(check_signer_len(signer_len));
    }
    VMESH_GUARD(vmesh_corim_array(&v[2], "digests", true, &items, &nd));
    for (uint64_t i = 0; i < nd; i++) {
        memset(&m, 0, sizeof(m));
        m.name = name;
        m.version = version[0] ? version : NULL;
        m.signer_id = signer;
        m.signer_id_len = signer_len;
        rc = vmesh_cbor_read_item(&items, &d);
        if (rc == VMESH_OK)
            rc = psa_digest(&d, &m);
        if (rc == VMESH_OK)
            rc = vmesh_rv_add_measurement(s, env, &m);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "digest %llu", (unsigned long long)i);
            goto out;
        }
        info->measurements++;
    }
out:
    return rc;
}

/* The two elements of a triple record (a third is reported by the caller). */
static vmesh_err triple_parts(vmesh_cbor *t, const char *what, uint64_t *n, vmesh_cbor *a, vmesh_cbor *b)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor items;

    VMESH_GUARD(vmesh_corim_array(t, what, false, &items, n));
    if (*n >= 2) {
        VMESH_GUARD(vmesh_cbor_read_item(&items, a));
        VMESH_GUARD(vmesh_cbor_read_item(&items, b));
    }
out:
    return rc;
}

/* reference-triple-record = [ ref-env: environment-map,
 *                             ref-claims: [ + measurement-map ] ] */
static vmesh_err psa_reference_triple(vmesh_rv_store *s, vmesh_cbor *t, size_t ci, size_t ti,
                                      vmesh_corim_info *info)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor e, list, ms, mm;
    uint64_t n = 0, nm = 0;
    vmesh_rv_env env;

    rc = triple_parts(t, "reference triple", &n, &e, &list);
    if (rc == VMESH_OK && n != 2)
        rc = vmesh_err_set(VMESH_ERR_PARSE, "a reference triple must be [environment, measurements], found %llu elements",
                           (unsigned long long)n);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu", ci, ti);
        goto out;
    }
    rc = psa_env(&e, false, &env);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu, environment", ci, ti);
        goto out;
    }
    rc = vmesh_corim_array(&list, "measurements", true, &ms, &nm);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu", ci, ti);
        goto out;
    }
    for (uint64_t j = 0; j < nm; j++) {
        rc = vmesh_cbor_read_item(&ms, &mm);
        if (rc == VMESH_OK)
            rc = psa_measurement(s, &env, &mm, info);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu, measurement %llu", ci, ti,
                                (unsigned long long)j);
            goto out;
        }
    }
out:
    return rc;
}

static const char *key_tag_name(const vmesh_cbor *k)
{
    vmesh_cbor_head h;

    if (vmesh_cbor_peek(k, &h) != VMESH_OK || h.major != VMESH_CBOR_TAG)
        return "an untagged item";
    switch (h.arg) {
    case 555: return "pkix-base64-cert (tag 555)";
    case 556: return "pkix-base64-cert-path (tag 556)";
    case 557: return "key thumbprint (tag 557)";
    case 558: return "COSE_Key (tag 558)";
    case 559: return "cert thumbprint (tag 559)";
    case 560: return "tagged-bytes (tag 560)";
    case 561: return "cert-path thumbprint (tag 561)";
    case 562: return "pkix-asn1der-cert (tag 562)";
    default: return "another tag";
    }
}

/* One key of an attest-key triple: pkix-base64-key-type = #6.554(tstr). */
static vmesh_err psa_key(vmesh_rv_store *s, const vmesh_rv_env *env, const vmesh_cbor *k)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor inner;
    vmesh_cbor_head h;
    vmesh_key *key = NULL;
    const char *pem = NULL;
    size_t pem_len = 0;

    VMESH_ENSURE(vmesh_corim_is_tag(k, TAG_PKIX_KEY), VMESH_ERR_UNSUPPORTED,
                 "the attestation key must be a PKIX base64 key (tag 554), found %s", key_tag_name(k));
    VMESH_GUARD(vmesh_corim_untag(k, &inner));
    VMESH_ENSURE(vmesh_cbor_peek(&inner, &h) == VMESH_OK && h.major == VMESH_CBOR_TSTR && !h.indef,
                 VMESH_ERR_PARSE, "a PKIX base64 key must be a text string");
    VMESH_GUARD(vmesh_cbor_read_tstr(&inner, SIZE_MAX, &pem, &pem_len, "a PKIX base64 key"));
    VMESH_GUARD(vmesh_crypto_key_parse((const uint8_t *)pem, pem_len, &key));
    VMESH_ENSURE(!vmesh_crypto_key_is_private(key), VMESH_ERR_PARSE, "the key is a private key");
    VMESH_GUARD(vmesh_rv_add_key(s, env, key));
out:
    vmesh_crypto_key_free(key);
    return rc;
}

/* attest-key-triple-record = [ environment: environment-map,
 *   key-list: [ + $crypto-key-type-choice ], ? conditions: {...} ] */
static vmesh_err psa_attest_key_triple(vmesh_rv_store *s, vmesh_cbor *t, size_t ci, size_t ti,
                                       vmesh_corim_info *info)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor e, list, keys, k;
    uint64_t n = 0, nk = 0;
    vmesh_rv_env env;

    rc = triple_parts(t, "attest-key triple", &n, &e, &list);
    if (rc == VMESH_OK && n == 3)
        rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED, "attest-key triple has conditions; vmesh could not enforce them");
    else if (rc == VMESH_OK && n != 2)
        rc = vmesh_err_set(VMESH_ERR_PARSE, "an attest-key triple must be [environment, keys], found %llu elements",
                           (unsigned long long)n);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu", ci, ti);
        goto out;
    }
    rc = psa_env(&e, true, &env);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu, environment", ci, ti);
        goto out;
    }
    rc = vmesh_corim_array(&list, "key list", true, &keys, &nk);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu", ci, ti);
        goto out;
    }
    for (uint64_t j = 0; j < nk; j++) {
        rc = vmesh_cbor_read_item(&keys, &k);
        if (rc == VMESH_OK)
            rc = psa_key(s, &env, &k);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu, key %llu", ci, ti, (unsigned long long)j);
            goto out;
        }
        info->keys++;
    }
out:
    return rc;
}

static const char *const psa_uris[] = {VMESH_PSA_CORIM_PROFILE, VMESH_PSA_CORIM_PROFILE_IOT1, NULL};

const vmesh_corim_profile vmesh_psa_corim_profile = {
    .name = "Arm PSA",
    .uris = psa_uris,
    .reference_triple = psa_reference_triple,
    .attest_key_triple = psa_attest_key_triple,
};

const vmesh_corim_profile *const vmesh_psa_corim_profiles[] = {&vmesh_psa_corim_profile, NULL};

/* ---- writing ------------------------------------------------------------------ */

static bool same_env(const vmesh_rv_env *a, const vmesh_rv_env *b, bool with_instance)
{
    if (a->class_id_len != b->class_id_len || memcmp(a->class_id, b->class_id, a->class_id_len) != 0)
        return false;
    if (!with_instance)
        return true;
    return a->instance_id_len == b->instance_id_len &&
           (a->instance_id_len == 0 || memcmp(a->instance_id, b->instance_id, a->instance_id_len) == 0);
}

/* environment-map = { 0: { 0: 560(impl-id) } ? , 1: 550(ueid) } */
static vmesh_err env_map(vmesh_buf *b, const vmesh_rv_env *e, bool with_instance)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_put_map(b, with_instance ? 2 : 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
    VMESH_GUARD(vmesh_cbor_put_map(b, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
    VMESH_GUARD(vmesh_cbor_put_tag(b, TAG_BYTES));
    VMESH_GUARD(vmesh_cbor_put_bstr(b, e->class_id, e->class_id_len));
    if (with_instance) {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 1));
        VMESH_GUARD(vmesh_cbor_put_tag(b, TAG_UEID));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, e->instance_id, e->instance_id_len));
    }
out:
    return rc;
}

/* measurement-map = { 0: "psa.software-component",
 *   1: { ? 0: { 0: version }, 2: [[alg, digest]], 11: name, ? 13: [560(signer)] } } */
static vmesh_err measurement_map(vmesh_buf *b, const vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_put_map(b, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
    VMESH_GUARD(vmesh_cbor_put_text(b, "psa.software-component"));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 1));
    VMESH_GUARD(vmesh_cbor_put_map(b, 2 + (m->version != NULL) + (m->signer_id != NULL)));
    if (m->version != NULL) {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
        VMESH_GUARD(vmesh_cbor_put_map(b, 1));
        VMESH_GUARD(vmesh_cbor_put_uint(b, 0));
        VMESH_GUARD(vmesh_cbor_put_text(b, m->version));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(b, 2));
    VMESH_GUARD(vmesh_cbor_put_array(b, 1));
    VMESH_GUARD(vmesh_cbor_put_array(b, 2));
    VMESH_GUARD(vmesh_cbor_put_int(b, m->digest_alg));
    VMESH_GUARD(vmesh_cbor_put_bstr(b, m->digest, m->digest_len));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 11));
    VMESH_GUARD(vmesh_cbor_put_text(b, m->name));
    if (m->signer_id != NULL) {
        VMESH_GUARD(vmesh_cbor_put_uint(b, 13));
        VMESH_GUARD(vmesh_cbor_put_array(b, 1));
        VMESH_GUARD(vmesh_cbor_put_tag(b, TAG_BYTES));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, m->signer_id, m->signer_id_len));
    }
out:
    return rc;
}

static bool selected(const vmesh_rv_entry *e, bool keys)
{
    return strcmp(e->env.scheme, "psa") == 0 && (e->kind == VMESH_RV_KEY) == keys;
}

/* A CoMID with one triple per distinct environment of the selected entries
 * (measurements, or keys); nothing when there are none. */
static vmesh_err comid(const vmesh_rv_store *s, bool keys, const char *tag_id, size_t *ntags, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t n = vmesh_rv_store_size(s), ne = 0;
    vmesh_rv_entry *envs = NULL;
    vmesh_buf b = {0};

    envs = calloc(n > 0 ? n : 1, sizeof(*envs));
    VMESH_ENSURE(envs != NULL, VMESH_ERR_NOMEM, "out of memory encoding a CoRIM");
    /* distinct environments in first-seen order (small n: quadratic is fine) */
    for (size_t i = 0; i < n; i++) {
        vmesh_rv_entry e;
        bool seen = false;
        (void)vmesh_rv_entry_at(s, i, &e);
        if (!selected(&e, keys))
            continue;
        for (size_t j = 0; j < ne && !seen; j++)
            seen = same_env(&envs[j].env, &e.env, keys);
        if (!seen)
            envs[ne++] = e;
    }
    if (ne == 0)
        goto out;
    for (size_t j = 0; j < ne; j++) {
        size_t count = 0;
        VMESH_GUARD(vmesh_cbor_put_array(&b, 2));
        VMESH_GUARD(env_map(&b, &envs[j].env, keys));
        for (size_t i = 0; i < n; i++) {
            vmesh_rv_entry e;
            (void)vmesh_rv_entry_at(s, i, &e);
            if (selected(&e, keys) && same_env(&envs[j].env, &e.env, keys))
                count++;
        }
        VMESH_GUARD(vmesh_cbor_put_array(&b, count));
        for (size_t i = 0; i < n; i++) {
            vmesh_rv_entry e;
            (void)vmesh_rv_entry_at(s, i, &e);
            if (!selected(&e, keys) || !same_env(&envs[j].env, &e.env, keys))
                continue;
            if (keys) {
                vmesh_buf pem = {0};
                rc = vmesh_crypto_key_to_pem(e.key, false, &pem);
                if (rc == VMESH_OK)
                    rc = vmesh_cbor_put_tag(&b, TAG_PKIX_KEY);
                if (rc == VMESH_OK)
                    rc = vmesh_cbor_put_tstr(&b, (const char *)pem.data, pem.len);
                vmesh_buf_free(&pem);
                if (rc != VMESH_OK)
                    goto out;
            } else {
                VMESH_GUARD(measurement_map(&b, e.m));
            }
        }
    }
    VMESH_GUARD(vmesh_corim_put_comid(out, tag_id, keys ? 3 : 0, ne, b.data, b.len));
    (*ntags)++;
out:
    vmesh_buf_free(&b);
    free(envs);
    return rc;
}

static vmesh_err check_encodable(const vmesh_rv_store *s)
{
    vmesh_err rc = VMESH_OK;
    size_t n = 0;

    for (size_t i = 0; i < vmesh_rv_store_size(s); i++, n++) {
        vmesh_rv_entry e;
        (void)vmesh_rv_entry_at(s, i, &e);
        VMESH_ENSURE(strcmp(e.env.scheme, "psa") == 0, VMESH_ERR_UNSUPPORTED,
                     "entry %zu is of scheme %s; the PSA CoRIM carries only scheme psa", i, e.env.scheme);
        VMESH_ENSURE(e.env.class_id_len == PSA_IMPL_ID_LEN, VMESH_ERR_UNSUPPORTED,
                     "entry %zu: the class id is %zu bytes; a PSA implementation id is 32", i, e.env.class_id_len);
        VMESH_ENSURE(e.kind != VMESH_RV_ATTR, VMESH_ERR_UNSUPPORTED,
                     "entry %zu is an attribute (%s); CoRIM has no place for it, use RV JSON", i, e.attr_name);
        if (e.kind == VMESH_RV_MEASUREMENT) {
            VMESH_ENSURE(e.m->digest_alg != 0, VMESH_ERR_UNSUPPORTED,
                         "entry %zu (%s) is a raw value; the PSA profile takes digests", i, e.m->name);
            VMESH_ENSURE(e.m->signer_id == NULL || e.m->signer_id_len == 32 || e.m->signer_id_len == 48 ||
                             e.m->signer_id_len == 64,
                         VMESH_ERR_UNSUPPORTED, "entry %zu (%s): a PSA signer id is 32, 48 or 64 bytes", i,
                         e.m->name);
        } else {
            VMESH_ENSURE(e.env.instance_id != NULL && e.env.instance_id_len >= 7 && e.env.instance_id_len <= 33,
                         VMESH_ERR_UNSUPPORTED,
                         "entry %zu: a PSA attestation key needs an instance id (UEID, 7 to 33 bytes)", i);
        }
    }
    VMESH_ENSURE(n > 0, VMESH_ERR_ARG, "nothing to encode: the store is empty");
out:
    return rc;
}

vmesh_err vmesh_psa_corim_encode(const vmesh_rv_store *s, const char *id, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf tags = {0}, tag_id = {0};
    size_t ntags = 0;

    VMESH_ENSURE(s != NULL && id != NULL && out != NULL && id[0] != '\0', VMESH_ERR_ARG,
                 "vmesh_psa_corim_encode: missing store, id or output");
    rc = check_encodable(s);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "encoding a PSA CoRIM");
        goto out;
    }
    VMESH_GUARD(vmesh_buf_append(&tag_id, id, strlen(id)));
    VMESH_GUARD(vmesh_buf_append(&tag_id, "/reference-values", 17));
    VMESH_GUARD(vmesh_buf_terminate(&tag_id));
    VMESH_GUARD(comid(s, false, (const char *)tag_id.data, &ntags, &tags));
    vmesh_buf_reset(&tag_id);
    VMESH_GUARD(vmesh_buf_append(&tag_id, id, strlen(id)));
    VMESH_GUARD(vmesh_buf_append(&tag_id, "/attestation-keys", 17));
    VMESH_GUARD(vmesh_buf_terminate(&tag_id));
    VMESH_GUARD(comid(s, true, (const char *)tag_id.data, &ntags, &tags));
    VMESH_GUARD(vmesh_corim_put_unsigned(out, id, VMESH_PSA_CORIM_PROFILE, ntags, tags.data, tags.len));
out:
    vmesh_buf_free(&tags);
    vmesh_buf_free(&tag_id);
    return rc;
}
