/*
 * Reading CoRIM (draft-ietf-rats-corim) into an RV store: the optional
 * COSE_Sign1 envelope, the corim-map, its CoMID tags, and the Arm PSA
 * profile mapping of reference triples and attest-key triples. Everything
 * goes to a scratch store first and is merged only when the whole CoRIM is
 * valid. It must never accept something it cannot enforce (an svn, flags, a
 * condition, an unknown triple type): silently dropping a constraint would
 * make appraisal weaker than the RVP meant.
 */
#include "corim_int.h"

#include <stdio.h>
#include <string.h>

#include "vmesh/cose.h"

/* CBOR tags used by CoRIM / CoMID (draft-ietf-rats-corim, IANA CBOR tags). */
#define TAG_EPOCH_TIME 1
#define TAG_URI 32
#define TAG_UUID 37
#define TAG_OID 111
#define TAG_UEID 550
#define TAG_SVN 552
#define TAG_MIN_SVN 553
#define TAG_PKIX_KEY 554
#define TAG_BYTES 560
/* Veraison PSA profile tags: impl-id (600, older 551), psa.refval-id (601,
 * older 600). */
#define TAG_PSA_IMPL_ID 600
#define TAG_PSA_IMPL_ID_OLD 551
#define TAG_PSA_REFVAL_ID 601

#define PSA_IMPL_ID_LEN 32

typedef struct {
    const char *source;
    vmesh_corim_info *info;
} ctx;

/* ---- small accessors ------------------------------------------------------ */

/* The tagged item, borrowed from its parent (libcbor hands out a new
 * reference; the parent keeps another one alive). */
static cbor_item_t *tag_inner(const cbor_item_t *t)
{
    cbor_item_t *x = cbor_tag_item(t), *tmp = x;

    cbor_decref(&tmp);
    return x;
}

static bool is_tag(const cbor_item_t *it, uint64_t v)
{
    return it != NULL && cbor_isa_tag(it) && cbor_tag_value(it) == v;
}

static vmesh_err get_bytes(const cbor_item_t *it, const char *what, const uint8_t **p, size_t *n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(it != NULL && cbor_isa_bytestring(it), VMESH_ERR_PARSE,
                 "%s must be a byte string", what);
    VMESH_ENSURE(cbor_bytestring_is_definite(it), VMESH_ERR_UNSUPPORTED,
                 "%s: indefinite-length byte strings are not supported", what);
    *p = cbor_bytestring_handle(it);
    *n = cbor_bytestring_length(it);
out:
    return rc;
}

/* Copies a text string into out (NUL-terminated, at most max-1 bytes). */
static vmesh_err get_text(const cbor_item_t *it, const char *what, char *out, size_t max)
{
    vmesh_err rc = VMESH_OK;
    size_t n;

    VMESH_ENSURE(it != NULL && cbor_isa_string(it), VMESH_ERR_PARSE, "%s must be a text string",
                 what);
    VMESH_ENSURE(cbor_string_is_definite(it), VMESH_ERR_UNSUPPORTED,
                 "%s: indefinite-length text strings are not supported", what);
    n = cbor_string_length(it);
    VMESH_ENSURE(n < max, VMESH_ERR_TOO_LARGE, "%s is %zu bytes, the cap is %zu", what, n,
                 max - 1);
    if (n > 0)
        memcpy(out, cbor_string_handle(it), n);
    out[n] = '\0';
    VMESH_ENSURE(strlen(out) == n, VMESH_ERR_PARSE, "%s contains a NUL character", what);
out:
    return rc;
}

static bool text_equals(const cbor_item_t *it, const char *s)
{
    size_t n = strlen(s);

    return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
           memcmp(cbor_string_handle(it), s, n) == 0;
}

static vmesh_err get_array(const cbor_item_t *it, const char *what, bool non_empty,
                           cbor_item_t ***items, size_t *n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(it != NULL && cbor_isa_array(it), VMESH_ERR_PARSE, "%s must be an array", what);
    *items = cbor_array_handle(it);
    *n = cbor_array_size(it);
    VMESH_ENSURE(!non_empty || *n > 0, VMESH_ERR_PARSE, "%s is empty", what);
out:
    return rc;
}

/* Map with unsigned integer keys below 32. Fills f[key] (NULL if absent),
 * refuses duplicate keys, and keys outside `allowed` (a bit mask) with
 * `what` and the key's name from names[] when given. */
#define MAX_KEYS 32
static vmesh_err get_fields(const cbor_item_t *m, const char *what, uint32_t allowed,
                            const char *const *names, size_t n_names, const cbor_item_t **f)
{
    vmesh_err rc = VMESH_OK;
    struct cbor_pair *pairs;
    size_t n;

    memset(f, 0, MAX_KEYS * sizeof(*f));
    VMESH_ENSURE(m != NULL && cbor_isa_map(m), VMESH_ERR_PARSE, "%s must be a map", what);
    pairs = cbor_map_handle(m);
    n = cbor_map_size(m);
    for (size_t i = 0; i < n; i++) {
        uint64_t k;
        VMESH_ENSURE(cbor_isa_uint(pairs[i].key), VMESH_ERR_UNSUPPORTED,
                     "%s has a key that is not an unsigned integer (an extension vmesh does not "
                     "know)",
                     what);
        k = cbor_get_int(pairs[i].key);
        VMESH_ENSURE(k < MAX_KEYS && (allowed >> k & 1u), VMESH_ERR_UNSUPPORTED,
                     "%s: key %llu%s%s%s is not supported by vmesh", what, (unsigned long long)k,
                     k < n_names && names[k] ? " (" : "", k < n_names && names[k] ? names[k] : "",
                     k < n_names && names[k] ? ")" : "");
        VMESH_ENSURE(f[k] == NULL, VMESH_ERR_PARSE, "%s: duplicate key %llu", what,
                     (unsigned long long)k);
        f[k] = pairs[i].value;
    }
out:
    return rc;
}

#define BIT(k) (1u << (k))
#define NAMES(a) a, sizeof(a) / sizeof(a[0])

static vmesh_err get_time(const cbor_item_t *it, const char *what, int64_t *t)
{
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *v;

    /* RFC 8610 prelude: time = #6.1(number) */
    VMESH_ENSURE(is_tag(it, TAG_EPOCH_TIME), VMESH_ERR_PARSE,
                 "%s must be an epoch time (CBOR tag 1)", what);
    v = tag_inner(it);
    if (cbor_isa_uint(v) && cbor_get_int(v) <= (uint64_t)INT64_MAX)
        *t = (int64_t)cbor_get_int(v);
    else if (cbor_isa_negint(v) && cbor_get_int(v) <= (uint64_t)INT64_MAX)
        *t = -1 - (int64_t)cbor_get_int(v);
    else
        VMESH_FAIL(VMESH_ERR_PARSE, "%s must be an integer number of seconds", what);
out:
    return rc;
}

/* validity-map = { ? &(not-before: 0) => time, &(not-after: 1) => time } */
static vmesh_err check_validity(const cbor_item_t *m, const char *what)
{
    static const char *const names[] = {"not-before", "not-after"};
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *f[MAX_KEYS];
    int64_t now = vmesh_time_now(), t;

    VMESH_GUARD(get_fields(m, what, BIT(0) | BIT(1), NAMES(names), f));
    VMESH_ENSURE(f[1] != NULL, VMESH_ERR_PARSE, "%s has no not-after", what);
    VMESH_GUARD(get_time(f[1], "not-after", &t));
    VMESH_ENSURE(now <= t, VMESH_ERR_EXPIRED, "%s: not-after (%lld) has passed (now %lld)", what,
                 (long long)t, (long long)now);
    if (f[0] != NULL) {
        VMESH_GUARD(get_time(f[0], "not-before", &t));
        VMESH_ENSURE(now >= t, VMESH_ERR_EXPIRED, "%s: not valid before %lld (now %lld)", what,
                     (long long)t, (long long)now);
    }
out:
    return rc;
}

static void uuid_text(const uint8_t *u, char *out, size_t max)
{
    snprintf(out, max,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

/* ---- the PSA profile mapping --------------------------------------------- */

/* class-map = { ? 0 class-id, ? 1 vendor, ? 2 model, ? 3 layer, ? 4 index }.
 * PSA: the class id is the 32-byte implementation id. vendor and model are
 * descriptive (PSA evidence does not carry them). */
static vmesh_err psa_class(const cbor_item_t *cls, const uint8_t **id, size_t *id_len)
{
    static const char *const names[] = {"class-id", "vendor", "model", "layer", "index"};
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *f[MAX_KEYS], *cid;
    char tmp[VMESH_RV_MAX_NAME + 1];

    VMESH_GUARD(get_fields(cls, "class", BIT(0) | BIT(1) | BIT(2), NAMES(names), f));
    VMESH_ENSURE(f[0] != NULL, VMESH_ERR_PARSE, "class has no class-id");
    if (f[1] != NULL)
        VMESH_GUARD(get_text(f[1], "class vendor", tmp, sizeof(tmp)));
    if (f[2] != NULL)
        VMESH_GUARD(get_text(f[2], "class model", tmp, sizeof(tmp)));
    cid = f[0];
    VMESH_ENSURE(is_tag(cid, TAG_BYTES) || is_tag(cid, TAG_PSA_IMPL_ID) ||
                     is_tag(cid, TAG_PSA_IMPL_ID_OLD),
                 VMESH_ERR_PARSE,
                 "class-id must be a PSA implementation id (tagged-bytes, tag 560), found %s",
                 is_tag(cid, TAG_UUID) ? "a UUID (tag 37)"
                 : is_tag(cid, TAG_OID) ? "an OID (tag 111)"
                                        : "another type");
    VMESH_GUARD(get_bytes(tag_inner(cid), "class-id", id, id_len));
    VMESH_ENSURE(*id_len == PSA_IMPL_ID_LEN, VMESH_ERR_PARSE,
                 "class-id (PSA implementation id) is %zu bytes, expected %d", *id_len,
                 PSA_IMPL_ID_LEN);
out:
    return rc;
}

/* environment-map = { ? 0 class, ? 1 instance, ? 2 group } */
static vmesh_err psa_env(const cbor_item_t *em, bool want_instance, vmesh_rv_env *env)
{
    static const char *const names[] = {"class", "instance", "group"};
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *f[MAX_KEYS];

    memset(env, 0, sizeof(*env));
    env->scheme = "psa";
    VMESH_GUARD(get_fields(em, "environment", BIT(0) | BIT(1), NAMES(names), f));
    VMESH_ENSURE(f[0] != NULL, VMESH_ERR_PARSE, "environment has no class");
    VMESH_GUARD(psa_class(f[0], &env->class_id, &env->class_id_len));
    if (!want_instance) {
        VMESH_ENSURE(f[1] == NULL, VMESH_ERR_PARSE,
                     "instance set for a reference value (PSA reference values apply to a whole "
                     "implementation)");
        goto out;
    }
    VMESH_ENSURE(f[1] != NULL, VMESH_ERR_PARSE,
                 "instance not set for an attestation key (PSA keys belong to one instance)");
    VMESH_ENSURE(is_tag(f[1], TAG_UEID), VMESH_ERR_PARSE,
                 "instance must be a UEID (tag 550), found %s",
                 is_tag(f[1], TAG_UUID) ? "a UUID (tag 37)" : "another type");
    VMESH_GUARD(get_bytes(tag_inner(f[1]), "instance UEID", &env->instance_id,
                          &env->instance_id_len));
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
static vmesh_err psa_refval_id(const cbor_item_t *it, char *label, char *version,
                               const uint8_t **signer, size_t *signer_len)
{
    static const char *const names[] = {NULL, "label", NULL, NULL, "version", "signer-id"};
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *f[MAX_KEYS];

    VMESH_GUARD(get_fields(tag_inner(it), "psa.refval-id", BIT(1) | BIT(4) | BIT(5),
                           NAMES(names), f));
    if (f[1] != NULL)
        VMESH_GUARD(get_text(f[1], "psa.refval-id label", label, VMESH_RV_MAX_NAME + 1));
    if (f[4] != NULL)
        VMESH_GUARD(get_text(f[4], "psa.refval-id version", version, VMESH_RV_MAX_NAME + 1));
    VMESH_ENSURE(f[5] != NULL, VMESH_ERR_PARSE, "psa.refval-id has no signer-id");
    VMESH_GUARD(get_bytes(f[5], "psa.refval-id signer-id", signer, signer_len));
    VMESH_GUARD(check_signer_len(*signer_len));
out:
    return rc;
}

/* measurement-map = { ? 0 mkey, 1 mval, ? 2 authorized-by }
 * measurement-values-map keys: 0 version, 1 svn, 2 digests, 3 flags,
 * 4 raw-value, 5 raw-value-mask, 6 mac-addr, 7 ip-addr, 8 serial-number,
 * 9 ueid, 10 uuid, 11 name, 13 cryptokeys, 14 integrity-registers,
 * 15 int-range. */
static vmesh_err psa_measurement(vmesh_rv_store *s, const vmesh_rv_env *env,
                                 const cbor_item_t *mm, ctx *c)
{
    static const char *const mnames[] = {"mkey", "mval", "authorized-by"};
    static const char *const vnames[] = {
        "version", "svn", "digests", "flags", "raw-value", "raw-value-mask", "mac-addr",
        "ip-addr", "serial-number", "ueid", "uuid", "name", NULL, "cryptokeys",
        "integrity-registers", "int-range"};
    vmesh_err rc = VMESH_OK;
    const cbor_item_t *f[MAX_KEYS], *v[MAX_KEYS];
    char label[VMESH_RV_MAX_NAME + 1] = "", version[VMESH_RV_MAX_NAME + 1] = "";
    char name[VMESH_RV_MAX_NAME + 1] = "";
    const uint8_t *signer = NULL;
    size_t signer_len = 0, nd = 0;
    cbor_item_t **digests = NULL;
    vmesh_rv_measurement m;

    VMESH_GUARD(get_fields(mm, "measurement", BIT(0) | BIT(1) | BIT(2), NAMES(mnames), f));
    VMESH_ENSURE(f[1] != NULL, VMESH_ERR_PARSE, "measurement has no value (mval)");
    if (f[0] != NULL) {
        if (is_tag(f[0], TAG_PSA_REFVAL_ID) || is_tag(f[0], TAG_PSA_IMPL_ID)) {
            VMESH_GUARD(psa_refval_id(f[0], label, version, &signer, &signer_len));
        } else {
            VMESH_ENSURE(text_equals(f[0], "psa.software-component"), VMESH_ERR_PARSE,
                         "measurement key must be \"psa.software-component\" or a psa.refval-id "
                         "(tag 601), found %s",
                         cbor_isa_uint(f[0])     ? "an unsigned integer"
                         : cbor_isa_string(f[0]) ? "another text"
                                                 : "another type");
        }
    }
    /* Read everything first, then judge: an absent digest is the first
     * thing to report (it is why such a reference value cannot work). */
    VMESH_GUARD(get_fields(f[1], "measurement value", 0xffffffffu, NAMES(vnames), v));
    if (v[2] == NULL) {
        VMESH_FAIL(VMESH_ERR_PARSE, "measurement value has no digests%s",
                   v[1] != NULL ? " (it has an svn; PSA reference values are digests of "
                                  "software components)"
                                : "");
    }
    for (unsigned k = 0; k < MAX_KEYS; k++) {
        if (v[k] != NULL && k != 0 && k != 2 && k != 11 && k != 13)
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                       "measurement value key %u (%s) is not supported by the PSA mapping; "
                       "vmesh could not enforce it",
                       k, k < sizeof(vnames) / sizeof(vnames[0]) && vnames[k] ? vnames[k] : "?");
    }
    if (v[11] != NULL)
        VMESH_GUARD(get_text(v[11], "measurement name", name, sizeof(name)));
    else
        memcpy(name, label, sizeof(name));
    VMESH_ENSURE(name[0] != '\0', VMESH_ERR_PARSE,
                 "measurement has no name (mval name, key 11, is the PSA measurement type)");
    if (v[0] != NULL) {
        static const char *const vmnames[] = {"version", "version-scheme"};
        const cbor_item_t *vf[MAX_KEYS];
        VMESH_GUARD(get_fields(v[0], "version", BIT(0) | BIT(1), NAMES(vmnames), vf));
        VMESH_ENSURE(vf[0] != NULL, VMESH_ERR_PARSE, "version map has no version");
        VMESH_GUARD(get_text(vf[0], "version", version, sizeof(version)));
    }
    if (v[13] != NULL) {
        cbor_item_t **keys;
        size_t nk;
        VMESH_GUARD(get_array(v[13], "cryptokeys", true, &keys, &nk));
        VMESH_ENSURE(nk == 1, VMESH_ERR_PARSE,
                     "measurement value has %zu cryptokeys; the PSA profile takes one signer id",
                     nk);
        VMESH_ENSURE(is_tag(keys[0], TAG_BYTES), VMESH_ERR_PARSE,
                     "the signer id in cryptokeys must be tagged-bytes (tag 560)");
        VMESH_ENSURE(signer == NULL, VMESH_ERR_PARSE,
                     "signer id given twice (psa.refval-id and cryptokeys)");
        VMESH_GUARD(get_bytes(tag_inner(keys[0]), "signer id", &signer, &signer_len));
        VMESH_GUARD(check_signer_len(signer_len));
    }
    VMESH_GUARD(get_array(v[2], "digests", true, &digests, &nd));
    for (size_t i = 0; i < nd; i++) {
        cbor_item_t **pair;
        size_t np;
        char algname[32];

        memset(&m, 0, sizeof(m));
        m.name = name;
        m.version = version[0] ? version : NULL;
        m.signer_id = signer;
        m.signer_id_len = signer_len;
        /* digest = [ alg: int / text, val: bytes ] */
        rc = get_array(digests[i], "digest", false, &pair, &np);
        if (rc == VMESH_OK && np != 2)
            rc = vmesh_err_set(VMESH_ERR_PARSE, "a digest must be [alg, value]");
        if (rc == VMESH_OK) {
            if (cbor_isa_uint(pair[0]) && cbor_get_int(pair[0]) < 256) {
                m.digest_alg = (int)cbor_get_int(pair[0]);
            } else if ((rc = get_text(pair[0], "digest alg", algname, sizeof(algname))) ==
                       VMESH_OK) {
                m.digest_alg = vmesh_rv_hash_alg_from_name(algname);
            }
        }
        if (rc == VMESH_OK && vmesh_rv_hash_alg_len(m.digest_alg) == 0)
            rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                               "digest algorithm is not supported (sha-256 1, sha-384 7, "
                               "sha-512 8, sha3 9-12)");
        if (rc == VMESH_OK)
            rc = get_bytes(pair[1], "digest value", &m.digest, &m.digest_len);
        if (rc == VMESH_OK && m.digest_len != vmesh_rv_hash_alg_len(m.digest_alg))
            rc = vmesh_err_set(VMESH_ERR_PARSE, "%s digest is %zu bytes, expected %zu",
                               vmesh_rv_hash_alg_name(m.digest_alg), m.digest_len,
                               vmesh_rv_hash_alg_len(m.digest_alg));
        if (rc == VMESH_OK)
            rc = vmesh_rv_add_measurement(s, env, &m);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "digest %zu", i);
            goto out;
        }
        if (c->info != NULL)
            c->info->measurements++;
    }
out:
    return rc;
}

/* reference-triple-record = [ ref-env: environment-map,
 *                             ref-claims: [ + measurement-map ] ] */
static vmesh_err psa_reference_triple(vmesh_rv_store *s, const cbor_item_t *t, size_t ci,
                                      size_t ti, ctx *c)
{
    vmesh_err rc = VMESH_OK;
    cbor_item_t **rec, **ms;
    size_t n, nm;
    vmesh_rv_env env;

    rc = get_array(t, "reference triple", false, &rec, &n);
    if (rc == VMESH_OK && n != 2)
        rc = vmesh_err_set(VMESH_ERR_PARSE, "a reference triple must be [environment, "
                                            "measurements], found %zu elements",
                           n);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu", ci, ti);
        goto out;
    }
    rc = psa_env(rec[0], false, &env);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu, environment", ci, ti);
        goto out;
    }
    rc = get_array(rec[1], "measurements", true, &ms, &nm);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu", ci, ti);
        goto out;
    }
    for (size_t j = 0; j < nm; j++) {
        rc = psa_measurement(s, &env, ms[j], c);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "CoMID %zu, reference triple %zu, measurement %zu", ci, ti,
                                j);
            goto out;
        }
    }
out:
    return rc;
}

static const char *key_tag_name(const cbor_item_t *k)
{
    if (!cbor_isa_tag(k))
        return "an untagged item";
    switch (cbor_tag_value(k)) {
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

/* attest-key-triple-record = [ environment: environment-map,
 *   key-list: [ + $crypto-key-type-choice ], ? conditions: {...} ] */
static vmesh_err psa_attest_key_triple(vmesh_rv_store *s, const cbor_item_t *t, size_t ci,
                                       size_t ti, ctx *c)
{
    vmesh_err rc = VMESH_OK;
    cbor_item_t **rec, **keys;
    size_t n, nk;
    vmesh_rv_env env;
    vmesh_key *key = NULL;

    rc = get_array(t, "attest-key triple", false, &rec, &n);
    if (rc == VMESH_OK && n == 3)
        rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                           "attest-key triple has conditions; vmesh could not enforce them");
    else if (rc == VMESH_OK && n != 2)
        rc = vmesh_err_set(VMESH_ERR_PARSE,
                           "an attest-key triple must be [environment, keys], found %zu elements",
                           n);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu", ci, ti);
        goto out;
    }
    rc = psa_env(rec[0], true, &env);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu, environment", ci, ti);
        goto out;
    }
    rc = get_array(rec[1], "key list", true, &keys, &nk);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu", ci, ti);
        goto out;
    }
    for (size_t j = 0; j < nk; j++) {
        const uint8_t *pem = NULL;
        size_t pem_len = 0;
        const cbor_item_t *inner;

        if (!is_tag(keys[j], TAG_PKIX_KEY)) {
            rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                               "the attestation key must be a PKIX base64 key (tag 554), found %s",
                               key_tag_name(keys[j]));
        } else {
            inner = tag_inner(keys[j]);
            if (!cbor_isa_string(inner) || !cbor_string_is_definite(inner)) {
                rc = vmesh_err_set(VMESH_ERR_PARSE, "a PKIX base64 key must be a text string");
            } else {
                pem = cbor_string_handle(inner);
                pem_len = cbor_string_length(inner);
                rc = vmesh_crypto_key_parse(pem, pem_len, &key);
            }
        }
        if (rc == VMESH_OK && vmesh_crypto_key_is_private(key))
            rc = vmesh_err_set(VMESH_ERR_PARSE, "the key is a private key");
        if (rc == VMESH_OK)
            rc = vmesh_rv_add_key(s, &env, key);
        vmesh_crypto_key_free(key);
        key = NULL;
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "CoMID %zu, attest-key triple %zu, key %zu", ci, ti, j);
            goto out;
        }
        if (c->info != NULL)
            c->info->keys++;
    }
out:
    return rc;
}

/* concise-mid-tag = { ? 0 language, 1 tag-identity, ? 2 entities,
 *                     ? 3 linked-tags, 4 triples } */
static vmesh_err load_comid(vmesh_rv_store *s, const cbor_item_t *tag, size_t ci, ctx *c)
{
    static const char *const names[] = {"language", "tag-identity", "entities", "linked-tags",
                                        "triples"};
    static const char *const tnames[] = {
        "reference-triples", "endorsed-triples", "identity-triples", "attest-key-triples",
        "dependency-triples", "membership-triples", "coswid-triples", NULL,
        "conditional-endorsement-series-triples", NULL, "conditional-endorsement-triples"};
    vmesh_err rc = VMESH_OK;
    cbor_item_t *comid = NULL, **list;
    const cbor_item_t *f[MAX_KEYS], *t[MAX_KEYS], *idf[MAX_KEYS];
    const uint8_t *p;
    size_t n;
    char what[48], tmp[VMESH_RV_MAX_NAME + 1];

    snprintf(what, sizeof(what), "CoMID %zu", ci);
    /* tagged-concise-mid-tag = #6.506(bytes .cbor concise-mid-tag) */
    VMESH_ENSURE(is_tag(tag, VMESH_CORIM_COMID_TAG), VMESH_ERR_UNSUPPORTED,
                 "tag %zu is not a CoMID (tag 506)%s; vmesh reads only CoMID tags", ci,
                 is_tag(tag, 505)   ? " but a CoSWID (505)"
                 : is_tag(tag, 508) ? " but a CoTL (508)"
                                    : "");
    VMESH_GUARD(get_bytes(tag_inner(tag), what, &p, &n));
    VMESH_GUARD(vmesh_corim__decode(p, n, what, &comid));
    VMESH_GUARD(get_fields(comid, what, BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4), NAMES(names),
                           f));
    if (f[0] != NULL)
        VMESH_GUARD(get_text(f[0], "CoMID language", tmp, sizeof(tmp)));
    VMESH_ENSURE(f[1] != NULL, VMESH_ERR_PARSE, "%s has no tag-identity", what);
    {
        static const char *const inames[] = {"tag-id", "tag-version"};
        VMESH_GUARD(get_fields(f[1], "tag-identity", BIT(0) | BIT(1), NAMES(inames), idf));
        VMESH_ENSURE(idf[0] != NULL && (cbor_isa_string(idf[0]) || cbor_isa_bytestring(idf[0])),
                     VMESH_ERR_PARSE, "%s: tag-identity has no tag-id (text or UUID)", what);
    }
    VMESH_ENSURE(f[4] != NULL, VMESH_ERR_PARSE, "%s has no triples", what);
    rc = get_fields(f[4], "triples", BIT(0) | BIT(3), NAMES(tnames), t);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "%s", what);
        goto out;
    }
    VMESH_ENSURE(t[0] != NULL || t[3] != NULL, VMESH_ERR_PARSE, "%s: triples map is empty", what);
    if (t[0] != NULL) {
        VMESH_GUARD(get_array(t[0], "reference-triples", true, &list, &n));
        for (size_t i = 0; i < n; i++)
            VMESH_GUARD(psa_reference_triple(s, list[i], ci, i, c));
    }
    if (t[3] != NULL) {
        VMESH_GUARD(get_array(t[3], "attest-key-triples", true, &list, &n));
        for (size_t i = 0; i < n; i++)
            VMESH_GUARD(psa_attest_key_triple(s, list[i], ci, i, c));
    }
    if (c->info != NULL)
        c->info->comids++;
out:
    if (comid != NULL)
        cbor_decref(&comid);
    return rc;
}

/* profile: uri = #6.32(tstr) (older CoRIMs: a one-element array, or an
 * untagged text). Only the PSA profiles are mapped. */
static vmesh_err read_profile(const cbor_item_t *it, char *out, size_t max)
{
    vmesh_err rc = VMESH_OK;

    if (cbor_isa_array(it) && cbor_array_size(it) == 1)
        it = cbor_array_handle(it)[0];
    if (is_tag(it, TAG_URI))
        it = tag_inner(it);
    VMESH_ENSURE(!is_tag(it, TAG_OID), VMESH_ERR_UNSUPPORTED,
                 "profile is an OID; vmesh maps only the PSA profiles \"" VMESH_CORIM_PROFILE_PSA
                 "\" and \"" VMESH_CORIM_PROFILE_PSA_IOT1 "\"");
    VMESH_GUARD(get_text(it, "profile", out, max));
    VMESH_ENSURE(strcmp(out, VMESH_CORIM_PROFILE_PSA) == 0 ||
                     strcmp(out, VMESH_CORIM_PROFILE_PSA_IOT1) == 0,
                 VMESH_ERR_UNSUPPORTED,
                 "profile \"%.100s\" is not supported; vmesh maps CoRIM for \"" VMESH_CORIM_PROFILE_PSA
                 "\" and \"" VMESH_CORIM_PROFILE_PSA_IOT1 "\" (use RV JSON for other platforms)",
                 out);
out:
    return rc;
}

/* corim-map = { 0 id, 1 tags, ? 2 dependent-rims, ? 3 profile,
 *               ? 4 rim-validity, ? 5 entities } */
static vmesh_err load_corim_map(vmesh_rv_store *s, const uint8_t *p, size_t n, ctx *c)
{
    static const char *const names[] = {"id", "tags", "dependent-rims", "profile",
                                        "rim-validity", "entities"};
    vmesh_err rc = VMESH_OK;
    cbor_item_t *root = NULL, **tags;
    const cbor_item_t *f[MAX_KEYS];
    char profile[128] = "", id[128] = "";
    size_t nt;

    VMESH_GUARD(vmesh_corim__decode(p, n, "CoRIM", &root));
    VMESH_ENSURE(is_tag(root, VMESH_CORIM_TAG), VMESH_ERR_PARSE,
                 "not an unsigned CoRIM (CBOR tag 501 expected)");
    VMESH_GUARD(get_fields(tag_inner(root), "corim-map", 0x3f, NAMES(names), f));
    VMESH_ENSURE(f[0] != NULL, VMESH_ERR_PARSE, "corim-map has no id");
    if (cbor_isa_string(f[0])) {
        VMESH_GUARD(get_text(f[0], "corim id", id, sizeof(id)));
    } else {
        const uint8_t *u;
        size_t ul;
        const cbor_item_t *x = is_tag(f[0], TAG_UUID) ? tag_inner(f[0]) : f[0];
        VMESH_GUARD(get_bytes(x, "corim id (text or UUID)", &u, &ul));
        VMESH_ENSURE(ul == 16, VMESH_ERR_PARSE, "corim id UUID is %zu bytes, expected 16", ul);
        uuid_text(u, id, sizeof(id));
    }
    VMESH_ENSURE(f[3] != NULL, VMESH_ERR_UNSUPPORTED,
                 "CoRIM has no profile; vmesh maps CoRIM only for the PSA profiles \"" VMESH_CORIM_PROFILE_PSA
                 "\" and \"" VMESH_CORIM_PROFILE_PSA_IOT1 "\" (use RV JSON for other platforms)");
    VMESH_GUARD(read_profile(f[3], profile, sizeof(profile)));
    if (f[4] != NULL)
        VMESH_GUARD(check_validity(f[4], "rim-validity"));
    VMESH_ENSURE(f[1] != NULL, VMESH_ERR_PARSE, "corim-map has no tags");
    VMESH_GUARD(get_array(f[1], "corim tags", true, &tags, &nt));
    for (size_t i = 0; i < nt; i++)
        VMESH_GUARD(load_comid(s, tags[i], i, c));
    if (c->info != NULL) {
        memcpy(c->info->id, id, sizeof(c->info->id));
        memcpy(c->info->profile, profile, sizeof(c->info->profile));
    }
out:
    if (root != NULL)
        cbor_decref(&root);
    return rc;
}

/* ---- signed CoRIM ---------------------------------------------------------- */

/* protected-corim-header-map: "needs to contain at least one of corim-meta
 * (8) or CWT-Claims (15)" (cddl/protected-corim-header-map.cddl); a
 * hash-envelope payload (258) is not supported. */
static vmesh_err check_protected(const vmesh_cose_sign1 *m)
{
    vmesh_err rc = VMESH_OK;
    cbor_item_t *hdr = NULL, *meta = NULL;
    const uint8_t *p;
    size_t n, np;
    struct cbor_pair *pairs;
    bool has_meta = false, has_cwt = false;

    p = vmesh_cose_sign1_protected(m, &n);
    VMESH_GUARD(vmesh_corim__decode(p, n, "protected header", &hdr));
    VMESH_ENSURE(cbor_isa_map(hdr), VMESH_ERR_PARSE, "protected header is not a map");
    pairs = cbor_map_handle(hdr);
    np = cbor_map_size(hdr);
    for (size_t i = 0; i < np; i++) {
        if (!cbor_isa_uint(pairs[i].key))
            continue;
        switch (cbor_get_int(pairs[i].key)) {
        case 8: {
            static const char *const names[] = {"signer", "signature-validity"};
            const cbor_item_t *f[MAX_KEYS];
            const uint8_t *mp;
            size_t mn;
            VMESH_GUARD(get_bytes(pairs[i].value, "corim-meta", &mp, &mn));
            VMESH_GUARD(vmesh_corim__decode(mp, mn, "corim-meta", &meta));
            VMESH_GUARD(get_fields(meta, "corim-meta", BIT(0) | BIT(1), NAMES(names), f));
            VMESH_ENSURE(f[0] != NULL && cbor_isa_map(f[0]), VMESH_ERR_PARSE,
                         "corim-meta has no signer map");
            if (f[1] != NULL)
                VMESH_GUARD(check_validity(f[1], "corim-meta signature-validity"));
            has_meta = true;
            break;
        }
        case 15:
            has_cwt = true;
            break;
        case 258:
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                       "hash-envelope CoRIM (payload_hash_alg, 258) is not supported");
        default:
            break;
        }
    }
    VMESH_ENSURE(has_meta || has_cwt, VMESH_ERR_PARSE,
                 "protected header has neither corim-meta (8) nor CWT claims (15)");
out:
    if (hdr != NULL)
        cbor_decref(&hdr);
    if (meta != NULL)
        cbor_decref(&meta);
    return rc;
}

static vmesh_err open_signed(const uint8_t *p, size_t n, const vmesh_key *key, vmesh_buf *payload)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1 *m = NULL;
    const char *ct;
    const uint8_t *pl;
    size_t pn;

    /* signed-corim = #6.18(COSE-Sign1-corim) */
    VMESH_ENSURE(n > 0 && p[0] == 0xd2, VMESH_ERR_PARSE,
                 "a signed CoRIM must be a COSE_Sign1 with CBOR tag 18");
    VMESH_GUARD(vmesh_cose_sign1_decode(p, n, VMESH_CORIM_MAX_SIZE, &m));
    ct = vmesh_cose_sign1_content_type(m);
    VMESH_ENSURE(ct != NULL && strcmp(ct, VMESH_CORIM_MEDIA_TYPE) == 0, VMESH_ERR_PARSE,
                 "content type is %s%.64s%s, expected \"" VMESH_CORIM_MEDIA_TYPE "\"",
                 ct ? "\"" : "", ct ? ct : "absent", ct ? "\"" : "");
    VMESH_GUARD(check_protected(m));
    if (key != NULL)
        VMESH_GUARD(vmesh_cose_sign1_verify(m, key));
    pl = vmesh_cose_sign1_payload(m, &pn);
    VMESH_ENSURE(pl != NULL && pn > 0, VMESH_ERR_PARSE, "signed CoRIM has no payload");
    VMESH_GUARD(vmesh_buf_append(payload, pl, pn));
out:
    vmesh_cose_sign1_free(m);
    return rc;
}

vmesh_err vmesh_corim_verify_signed(const uint8_t *p, size_t n, const vmesh_key *key,
                                    vmesh_buf *payload)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(p != NULL && key != NULL && payload != NULL, VMESH_ERR_ARG,
                 "vmesh_corim_verify_signed: NULL argument");
    VMESH_ENSURE(n <= VMESH_CORIM_MAX_SIZE, VMESH_ERR_TOO_LARGE,
                 "signed CoRIM is %zu bytes, the cap is %zu", n, VMESH_CORIM_MAX_SIZE);
    rc = open_signed(p, n, key, payload);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "signed CoRIM");
out:
    return rc;
}

bool vmesh_corim_is_corim(const uint8_t *p, size_t n)
{
    /* 0xd9 0x01 0xf5 = tag 501; 0xd2 = tag 18 */
    if (p == NULL || n < 1)
        return false;
    if (p[0] == 0xd2)
        return true;
    return n >= 3 && p[0] == 0xd9 && p[1] == 0x01 && p[2] == 0xf5;
}

vmesh_err vmesh_corim_load(vmesh_rv_store *s, const uint8_t *p, size_t n,
                           const vmesh_key *signer, unsigned flags, const char *source,
                           vmesh_corim_info *info)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *tmp = NULL;
    vmesh_buf payload = {0};
    vmesh_corim_info local;
    ctx c;

    if (source == NULL)
        source = "(memory)";
    memset(&local, 0, sizeof(local));
    c.source = source;
    c.info = &local;
    VMESH_ENSURE(s != NULL && (p != NULL || n == 0), VMESH_ERR_ARG, "CoRIM %s: bad arguments",
                 source);
    VMESH_ENSURE(!vmesh_rv_store_is_frozen(s), VMESH_ERR_STATE,
                 "CoRIM %s: the RV store is frozen; load into a new store", source);
    VMESH_ENSURE(n <= VMESH_CORIM_MAX_SIZE, VMESH_ERR_TOO_LARGE,
                 "CoRIM %s: %zu bytes, the cap is %zu", source, n, VMESH_CORIM_MAX_SIZE);
    VMESH_ENSURE(vmesh_corim_is_corim(p, n), VMESH_ERR_PARSE,
                 "CoRIM %s: not a CoRIM (expected CBOR tag 501, or tag 18 for a signed one)",
                 source);
    if (p[0] == 0xd2) {
        local.was_signed = true;
        VMESH_ENSURE(signer != NULL || (flags & VMESH_CORIM_ALLOW_UNVERIFIED), VMESH_ERR_POLICY,
                     "CoRIM %s: signed, but no key was given to check its signature (give the "
                     "RVP's key, or explicitly allow unverified CoRIMs)",
                     source);
        rc = open_signed(p, n, signer, &payload);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "CoRIM %s: signature envelope", source);
            goto out;
        }
        local.verified = signer != NULL;
    } else {
        VMESH_ENSURE(signer == NULL || (flags & VMESH_CORIM_ALLOW_UNSIGNED), VMESH_ERR_POLICY,
                     "CoRIM %s: unsigned, but a signer key was given: refusing unauthenticated "
                     "reference values",
                     source);
        VMESH_GUARD(vmesh_buf_append(&payload, p, n));
    }
    VMESH_GUARD(vmesh_rv_store_new(&tmp));
    rc = load_corim_map(tmp, payload.data, payload.len, &c);
    if (rc == VMESH_OK)
        rc = vmesh_rv_store_merge(s, tmp);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoRIM %s", source);
        goto out;
    }
    if (info != NULL)
        *info = local;
out:
    vmesh_buf_free(&payload);
    vmesh_rv_store_free(tmp);
    return rc;
}
