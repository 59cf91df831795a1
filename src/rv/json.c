/*
 * The vmesh-native RV JSON format (docs/RV-JSON.md): parsing into an RV
 * store and writing a store back out. A document is parsed into a scratch
 * store and merged only when all of it is valid. It must never accept a field
 * it does not understand (a typo in a reference value must not silently
 * weaken appraisal), a digest whose length does not fit its algorithm, or a
 * private key.
 */
#include "rv_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define RV_JSON_FORMAT "vmesh-rv/1"

/* Refuses any member of obj that is not in allowed (NULL-terminated). */
static vmesh_err only_fields(json_t *obj, const char *const *allowed, const char *what)
{
    vmesh_err rc = VMESH_OK;
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(allowed[i], k) == 0;
        VMESH_ENSURE(ok, VMESH_ERR_PARSE, "unknown field \"%.64s\" in %s", k, what);
    }
out:
    return rc;
}

static vmesh_err get_string(json_t *obj, const char *field, bool required, const char **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *v = json_object_get(obj, field);

    *out = NULL;
    if (v == NULL) {
        VMESH_ENSURE(!required, VMESH_ERR_PARSE, "\"%s\" is missing", field);
        goto out;
    }
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_PARSE, "\"%s\" must be a string", field);
    VMESH_ENSURE(strlen(json_string_value(v)) == json_string_length(v), VMESH_ERR_PARSE,
                 "\"%s\" contains a NUL character", field);
    *out = json_string_value(v);
out:
    return rc;
}

/* An identifier: "text:<utf-8>", {"hex": "<hex>"} or a base64 string
 * (standard or url alphabet, padding optional). */
static vmesh_err parse_id(json_t *v, const char *field, vmesh_buf *out)
{
    static const char *const hex_fields[] = {"hex", NULL};
    vmesh_err rc = VMESH_OK;

    vmesh_buf_reset(out);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n >= 5 && memcmp(s, "text:", 5) == 0) {
            rc = vmesh_buf_set(out, s + 5, n - 5);
        } else {
            rc = vmesh_b64_decode(s, n, out);
            if (rc != VMESH_OK)
                rc = vmesh_err_wrap(rc, "\"%s\" is not valid base64 (write \"text:...\" for a "
                                        "text id or {\"hex\": \"...\"} for hex)",
                                    field);
        }
    } else if (json_is_object(v)) {
        json_t *h = json_object_get(v, "hex");
        VMESH_GUARD(only_fields(v, hex_fields, field));
        VMESH_ENSURE(json_is_string(h), VMESH_ERR_PARSE, "\"%s\": \"hex\" must be a string",
                     field);
        rc = vmesh_hex_decode(json_string_value(h), json_string_length(h), out);
        if (rc != VMESH_OK)
            rc = vmesh_err_wrap(rc, "\"%s\".hex", field);
    } else {
        VMESH_FAIL(VMESH_ERR_PARSE,
                   "\"%s\" must be a base64 string, \"text:...\" or {\"hex\": \"...\"}", field);
    }
    if (rc != VMESH_OK)
        goto out;
    VMESH_ENSURE(out->len > 0, VMESH_ERR_PARSE, "\"%s\" is empty", field);
    VMESH_ENSURE(out->len <= VMESH_RV_MAX_ID, VMESH_ERR_TOO_LARGE,
                 "\"%s\" is %zu bytes, the cap is %d", field, out->len, VMESH_RV_MAX_ID);
out:
    return rc;
}

static vmesh_err parse_digest(json_t *d, int *alg, vmesh_buf *val)
{
    static const char *const fields[] = {"alg", "value", NULL};
    vmesh_err rc = VMESH_OK;
    const char *name, *hex;
    size_t want;

    VMESH_ENSURE(json_is_object(d), VMESH_ERR_PARSE,
                 "a digest must be an object {\"alg\": ..., \"value\": ...}");
    VMESH_GUARD(only_fields(d, fields, "digest"));
    VMESH_GUARD(get_string(d, "alg", true, &name));
    VMESH_GUARD(get_string(d, "value", true, &hex));
    *alg = vmesh_rv_hash_alg_from_name(name);
    VMESH_ENSURE(*alg != 0, VMESH_ERR_UNSUPPORTED,
                 "digest alg \"%.32s\" is not supported (sha-256, sha-384, sha-512, sha3-224, "
                 "sha3-256, sha3-384, sha3-512)",
                 name);
    vmesh_buf_reset(val);
    rc = vmesh_hex_decode(hex, strlen(hex), val);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "digest value");
        goto out;
    }
    want = vmesh_rv_hash_alg_len(*alg);
    VMESH_ENSURE(val->len == want, VMESH_ERR_PARSE,
                 "digest value is %zu bytes, %s needs %zu", val->len, name, want);
out:
    return rc;
}

static vmesh_err parse_measurement(vmesh_rv_store *s, const vmesh_rv_env *env, json_t *m)
{
    static const char *const fields[] = {"name", "digest", "digests", "raw-value", "version",
                                         "signer-id", NULL};
    vmesh_err rc = VMESH_OK;
    vmesh_rv_measurement rm = {0};
    vmesh_buf signer = {0}, val = {0};
    json_t *digest, *digests, *raw, *sig;
    int forms;

    VMESH_ENSURE(json_is_object(m), VMESH_ERR_PARSE, "a measurement must be an object");
    VMESH_GUARD(only_fields(m, fields, "measurement"));
    VMESH_GUARD(get_string(m, "name", true, &rm.name));
    VMESH_GUARD(get_string(m, "version", false, &rm.version));
    sig = json_object_get(m, "signer-id");
    if (sig != NULL) {
        VMESH_GUARD(parse_id(sig, "signer-id", &signer));
        rm.signer_id = signer.data;
        rm.signer_id_len = signer.len;
    }
    digest = json_object_get(m, "digest");
    digests = json_object_get(m, "digests");
    raw = json_object_get(m, "raw-value");
    forms = (digest != NULL) + (digests != NULL) + (raw != NULL);
    VMESH_ENSURE(forms == 1, VMESH_ERR_PARSE,
                 "measurement \"%.64s\" needs exactly one of \"digest\", \"digests\" or "
                 "\"raw-value\"",
                 rm.name);
    if (raw != NULL) {
        VMESH_ENSURE(json_is_string(raw), VMESH_ERR_PARSE, "\"raw-value\" must be a hex string");
        rc = vmesh_hex_decode(json_string_value(raw), json_string_length(raw), &val);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "raw-value");
            goto out;
        }
        rm.digest_alg = 0;
        rm.digest = val.data;
        rm.digest_len = val.len;
        VMESH_GUARD(vmesh_rv_add_measurement(s, env, &rm));
    } else if (digest != NULL) {
        VMESH_GUARD(parse_digest(digest, &rm.digest_alg, &val));
        rm.digest = val.data;
        rm.digest_len = val.len;
        VMESH_GUARD(vmesh_rv_add_measurement(s, env, &rm));
    } else {
        size_t i;
        json_t *d;
        VMESH_ENSURE(json_is_array(digests) && json_array_size(digests) > 0, VMESH_ERR_PARSE,
                     "\"digests\" must be a non-empty array");
        json_array_foreach(digests, i, d) {
            rc = parse_digest(d, &rm.digest_alg, &val);
            if (rc == VMESH_OK) {
                rm.digest = val.data;
                rm.digest_len = val.len;
                rc = vmesh_rv_add_measurement(s, env, &rm);
            }
            if (rc != VMESH_OK) {
                rc = vmesh_err_wrap(rc, "digests[%zu]", i);
                goto out;
            }
        }
    }
out:
    if (rc != VMESH_OK && rm.name != NULL)
        rc = vmesh_err_wrap(rc, "measurement \"%.64s\"", rm.name);
    vmesh_buf_free(&signer);
    vmesh_buf_free(&val);
    return rc;
}

static vmesh_err parse_key(vmesh_rv_store *s, const vmesh_rv_env *env, json_t *k)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *key = NULL;
    char *jwk = NULL;

    if (json_is_string(k)) {
        rc = vmesh_crypto_key_parse((const uint8_t *)json_string_value(k), json_string_length(k),
                                    &key);
    } else if (json_is_object(k)) {
        jwk = json_dumps(k, JSON_COMPACT);
        VMESH_ENSURE(jwk != NULL, VMESH_ERR_NOMEM, "out of memory");
        rc = vmesh_crypto_key_from_jwk(jwk, strlen(jwk), &key);
    } else {
        VMESH_FAIL(VMESH_ERR_PARSE, "a key must be a PEM string or a JWK object");
    }
    if (rc != VMESH_OK)
        goto out;
    VMESH_ENSURE(!vmesh_crypto_key_is_private(key), VMESH_ERR_PARSE,
                 "this is a private key; reference values carry public keys only (remove \"d\" "
                 "or export the public key)");
    VMESH_GUARD(vmesh_rv_add_key(s, env, key));
out:
    free(jwk);
    vmesh_crypto_key_free(key);
    return rc;
}

static vmesh_err parse_attrs(vmesh_rv_store *s, const vmesh_rv_env *env, json_t *attrs)
{
    vmesh_err rc = VMESH_OK;
    const char *name = NULL;
    json_t *v;

    VMESH_ENSURE(json_is_object(attrs), VMESH_ERR_PARSE,
                 "\"attributes\" must be an object of name: value or name: [values]");
    json_object_foreach(attrs, name, v) {
        if (json_is_string(v)) {
            VMESH_ENSURE(strlen(json_string_value(v)) == json_string_length(v), VMESH_ERR_PARSE,
                         "attribute \"%.64s\" contains a NUL character", name);
            VMESH_GUARD(vmesh_rv_add_attr(s, env, name, json_string_value(v)));
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) {
                VMESH_ENSURE(json_is_string(x) &&
                                 strlen(json_string_value(x)) == json_string_length(x),
                             VMESH_ERR_PARSE, "attribute \"%.64s\"[%zu] must be a string", name,
                             i);
                VMESH_GUARD(vmesh_rv_add_attr(s, env, name, json_string_value(x)));
            }
        } else {
            VMESH_FAIL(VMESH_ERR_PARSE,
                       "attribute \"%.64s\" must be a string or a non-empty array of strings",
                       name);
        }
    }
out:
    return rc;
}

static vmesh_err parse_entry(vmesh_rv_store *s, json_t *e)
{
    static const char *const fields[] = {"scheme", "class-id", "instance-id", "measurements",
                                         "keys", "attributes", NULL};
    vmesh_err rc = VMESH_OK;
    vmesh_rv_env env = {0};
    vmesh_buf cls = {0}, inst = {0};
    json_t *ms, *ks, *as, *v;
    size_t i, useful = 0;

    VMESH_ENSURE(json_is_object(e), VMESH_ERR_PARSE, "an entry must be an object");
    VMESH_GUARD(only_fields(e, fields, "a reference-values entry"));
    VMESH_GUARD(get_string(e, "scheme", true, &env.scheme));
    v = json_object_get(e, "class-id");
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "\"class-id\" is missing");
    VMESH_GUARD(parse_id(v, "class-id", &cls));
    env.class_id = cls.data;
    env.class_id_len = cls.len;
    v = json_object_get(e, "instance-id");
    if (v != NULL) {
        VMESH_GUARD(parse_id(v, "instance-id", &inst));
        env.instance_id = inst.data;
        env.instance_id_len = inst.len;
    }
    ms = json_object_get(e, "measurements");
    ks = json_object_get(e, "keys");
    as = json_object_get(e, "attributes");
    VMESH_ENSURE(ms == NULL || json_is_array(ms), VMESH_ERR_PARSE,
                 "\"measurements\" must be an array");
    VMESH_ENSURE(ks == NULL || json_is_array(ks), VMESH_ERR_PARSE, "\"keys\" must be an array");
    if (ms != NULL) {
        json_array_foreach(ms, i, v) {
            rc = parse_measurement(s, &env, v);
            if (rc != VMESH_OK) {
                rc = vmesh_err_wrap(rc, "measurements[%zu]", i);
                goto out;
            }
        }
        useful += json_array_size(ms);
    }
    if (ks != NULL) {
        json_array_foreach(ks, i, v) {
            rc = parse_key(s, &env, v);
            if (rc != VMESH_OK) {
                rc = vmesh_err_wrap(rc, "keys[%zu]", i);
                goto out;
            }
        }
        useful += json_array_size(ks);
    }
    if (as != NULL) {
        rc = parse_attrs(s, &env, as);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "attributes");
            goto out;
        }
        useful += json_object_size(as);
    }
    VMESH_ENSURE(useful > 0, VMESH_ERR_PARSE,
                 "entry has no measurements, keys or attributes (an empty entry is a mistake)");
out:
    vmesh_buf_free(&cls);
    vmesh_buf_free(&inst);
    return rc;
}

static vmesh_err parse_epochs(vmesh_rv_store *s, json_t *eps)
{
    static const char *const fields[] = {"rvp", "epoch", NULL};
    vmesh_err rc = VMESH_OK;
    size_t i;
    json_t *e;

    VMESH_ENSURE(json_is_array(eps), VMESH_ERR_PARSE,
                 "\"epochs\" must be an array of {\"rvp\": ..., \"epoch\": ...}");
    json_array_foreach(eps, i, e) {
        const char *rvp = NULL;
        json_t *n;
        rc = json_is_object(e) ? VMESH_OK
                               : vmesh_err_set(VMESH_ERR_PARSE, "must be an object");
        if (rc == VMESH_OK)
            rc = only_fields(e, fields, "an epochs entry");
        if (rc == VMESH_OK)
            rc = get_string(e, "rvp", true, &rvp);
        n = json_object_get(e, "epoch");
        if (rc == VMESH_OK && (!json_is_integer(n) || json_integer_value(n) < 0))
            rc = vmesh_err_set(VMESH_ERR_PARSE, "\"epoch\" must be a non-negative integer");
        if (rc == VMESH_OK)
            rc = vmesh_rv_set_epoch(s, rvp, (uint64_t)json_integer_value(n));
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "epochs[%zu]", i);
            goto out;
        }
    }
out:
    return rc;
}

vmesh_err vmesh_rv_load_json(vmesh_rv_store *s, const uint8_t *p, size_t n, const char *source)
{
    static const char *const fields[] = {"format", "rvp", "epochs", "reference-values", NULL};
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *tmp = NULL;
    json_t *root = NULL, *rvs, *v;
    json_error_t jerr;
    const char *fmt, *rvp;
    size_t i;

    if (source == NULL)
        source = "(memory)";
    VMESH_ENSURE(s != NULL && (p != NULL || n == 0), VMESH_ERR_ARG, "RV JSON %s: bad arguments",
                 source);
    VMESH_ENSURE(!vmesh_rv_store_is_frozen(s), VMESH_ERR_STATE,
                 "RV JSON %s: the RV store is frozen; load into a new store", source);
    VMESH_ENSURE(n <= VMESH_RV_MAX_JSON, VMESH_ERR_TOO_LARGE,
                 "RV JSON %s: document is %zu bytes, the cap is %zu", source, n,
                 VMESH_RV_MAX_JSON);
    root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "RV JSON %s: line %d column %d: %s", source,
                 jerr.line, jerr.column, jerr.text);
    VMESH_GUARD(vmesh_rv_store_new(&tmp));
    if (!json_is_object(root)) {
        rc = vmesh_err_set(VMESH_ERR_PARSE, "the document must be a JSON object");
    } else if ((rc = only_fields(root, fields, "the document")) != VMESH_OK) {
    } else if ((rc = get_string(root, "format", true, &fmt)) != VMESH_OK) {
    } else if (strcmp(fmt, RV_JSON_FORMAT) != 0) {
        rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED, "format \"%.64s\" is not supported (expected "
                                                  "\"" RV_JSON_FORMAT "\")",
                           fmt);
    } else if ((rc = get_string(root, "rvp", false, &rvp)) != VMESH_OK) {
    } else if ((v = json_object_get(root, "epochs")) != NULL &&
               (rc = parse_epochs(tmp, v)) != VMESH_OK) {
    } else if (!json_is_array(rvs = json_object_get(root, "reference-values"))) {
        rc = vmesh_err_set(VMESH_ERR_PARSE, "\"reference-values\" must be an array");
    }
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "RV JSON %s", source);
        goto out;
    }
    json_array_foreach(rvs, i, v) {
        rc = parse_entry(tmp, v);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "RV JSON %s: reference-values[%zu]", source, i);
            goto out;
        }
    }
    rc = vmesh_rv_store_merge(s, tmp);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "RV JSON %s", source);
out:
    json_decref(root);
    vmesh_rv_store_free(tmp);
    return rc;
}

/* ---- writing -------------------------------------------------------------- */

typedef struct {
    size_t i;
    vmesh_rv_entry e;
} sorted_entry;

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    if (an != bn)
        return an < bn ? -1 : 1;
    return an == 0 ? 0 : memcmp(a, b, an);
}

static int cmp_env(const vmesh_rv_env *a, const vmesh_rv_env *b)
{
    int c = strcmp(a->scheme, b->scheme);

    if (c == 0)
        c = cmp_bytes(a->class_id, a->class_id_len, b->class_id, b->class_id_len);
    if (c == 0 && (a->instance_id == NULL) != (b->instance_id == NULL))
        c = a->instance_id == NULL ? -1 : 1;
    if (c == 0 && a->instance_id != NULL)
        c = cmp_bytes(a->instance_id, a->instance_id_len, b->instance_id, b->instance_id_len);
    return c;
}

static int cmp_sorted(const void *a, const void *b)
{
    const sorted_entry *x = a, *y = b;
    int c = cmp_env(&x->e.env, &y->e.env);

    if (c != 0)
        return c;
    return x->i < y->i ? -1 : (x->i > y->i ? 1 : 0);
}

/* Sets obj[field] to v, taking the reference; fails cleanly on NULL. */
static vmesh_err put(json_t *obj, const char *field, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, field, v) != 0)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory writing RV JSON");
    return VMESH_OK;
}

static vmesh_err append(json_t *arr, json_t *v)
{
    if (v == NULL || json_array_append_new(arr, v) != 0)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory writing RV JSON");
    return VMESH_OK;
}

static json_t *id_json(const uint8_t *p, size_t n, bool allow_text)
{
    vmesh_buf b = {0};
    json_t *v = NULL;
    bool text = allow_text;

    for (size_t i = 0; i < n && text; i++)
        text = p[i] >= 0x20 && p[i] < 0x7f;
    if (text) {
        if (vmesh_buf_append(&b, "text:", 5) == VMESH_OK && vmesh_buf_append(&b, p, n) == VMESH_OK)
            v = json_stringn((const char *)b.data, b.len);
    } else if (vmesh_b64_encode(p, n, &b) == VMESH_OK) {
        v = json_stringn((const char *)b.data, b.len);
    }
    vmesh_buf_free(&b);
    return v;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    vmesh_buf b = {0};
    json_t *v = NULL;

    if (vmesh_hex_encode(p, n, &b) == VMESH_OK)
        v = json_stringn((const char *)b.data, b.len);
    vmesh_buf_free(&b);
    return v;
}

static vmesh_err measurement_json(const vmesh_rv_measurement *m, json_t *arr)
{
    vmesh_err rc = VMESH_OK;
    json_t *o = json_object(), *d;

    VMESH_ENSURE(o != NULL, VMESH_ERR_NOMEM, "out of memory writing RV JSON");
    VMESH_GUARD(put(o, "name", json_string(m->name)));
    if (m->digest_alg == 0) {
        VMESH_GUARD(put(o, "raw-value", hex_json(m->digest, m->digest_len)));
    } else {
        d = json_object();
        VMESH_GUARD(put(o, "digest", d));
        VMESH_GUARD(put(d, "alg", json_string(vmesh_rv_hash_alg_name(m->digest_alg))));
        VMESH_GUARD(put(d, "value", hex_json(m->digest, m->digest_len)));
    }
    if (m->version != NULL)
        VMESH_GUARD(put(o, "version", json_string(m->version)));
    if (m->signer_id != NULL)
        VMESH_GUARD(put(o, "signer-id", id_json(m->signer_id, m->signer_id_len, false)));
    rc = append(arr, o);
    o = NULL;
out:
    json_decref(o);
    return rc;
}

static vmesh_err key_json(vmesh_key *k, json_t *arr)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf pem = {0};

    VMESH_GUARD(vmesh_crypto_key_to_pem(k, false, &pem));
    VMESH_GUARD(append(arr, json_stringn((const char *)pem.data, pem.len)));
out:
    vmesh_buf_free(&pem);
    return rc;
}

static vmesh_err attr_json(const char *name, const char *value, json_t *obj)
{
    vmesh_err rc = VMESH_OK;
    json_t *old = json_object_get(obj, name), *arr;

    if (old == NULL) {
        rc = put(obj, name, json_string(value));
    } else if (json_is_array(old)) {
        rc = append(old, json_string(value));
    } else {
        arr = json_array();
        VMESH_ENSURE(arr != NULL, VMESH_ERR_NOMEM, "out of memory writing RV JSON");
        if (json_array_append(arr, old) != 0) {
            json_decref(arr);
            VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory writing RV JSON");
        }
        VMESH_GUARD(put(obj, name, arr));
        rc = append(arr, json_string(value));
    }
out:
    return rc;
}

/* One reference-values object for the entries [from, to) sharing one env. */
static vmesh_err group_json(const sorted_entry *se, size_t from, size_t to, json_t *rvs)
{
    vmesh_err rc = VMESH_OK;
    json_t *g = json_object(), *ms = json_array(), *ks = json_array(), *as = json_object();
    const vmesh_rv_env *env = &se[from].e.env;

    VMESH_ENSURE(g != NULL && ms != NULL && ks != NULL && as != NULL, VMESH_ERR_NOMEM,
                 "out of memory writing RV JSON");
    VMESH_GUARD(put(g, "scheme", json_string(env->scheme)));
    VMESH_GUARD(put(g, "class-id", id_json(env->class_id, env->class_id_len, true)));
    if (env->instance_id != NULL)
        VMESH_GUARD(put(g, "instance-id", id_json(env->instance_id, env->instance_id_len, true)));
    for (size_t i = from; i < to; i++) {
        const vmesh_rv_entry *e = &se[i].e;
        if (e->kind == VMESH_RV_MEASUREMENT)
            VMESH_GUARD(measurement_json(e->m, ms));
        else if (e->kind == VMESH_RV_KEY)
            VMESH_GUARD(key_json(e->key, ks));
        else
            VMESH_GUARD(attr_json(e->attr_name, e->attr_value, as));
    }
    if (json_array_size(ms) > 0)
        VMESH_GUARD(put(g, "measurements", json_incref(ms)));
    if (json_array_size(ks) > 0)
        VMESH_GUARD(put(g, "keys", json_incref(ks)));
    if (json_object_size(as) > 0)
        VMESH_GUARD(put(g, "attributes", json_incref(as)));
    rc = append(rvs, g);
    g = NULL;
out:
    json_decref(g);
    json_decref(ms);
    json_decref(ks);
    json_decref(as);
    return rc;
}

vmesh_err vmesh_rv_store_to_json(const vmesh_rv_store *s, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t n = vmesh_rv_store_size(s), from = 0;
    sorted_entry *se = NULL;
    json_t *root = json_object(), *rvs = json_array(), *eps = NULL;
    char *text = NULL;

    VMESH_ENSURE(s != NULL && out != NULL, VMESH_ERR_ARG, "vmesh_rv_store_to_json: NULL argument");
    VMESH_ENSURE(root != NULL && rvs != NULL, VMESH_ERR_NOMEM, "out of memory writing RV JSON");
    VMESH_GUARD(put(root, "format", json_string(RV_JSON_FORMAT)));
    if (vmesh_rv_epoch_count(s) > 0) {
        eps = json_array();
        VMESH_GUARD(put(root, "epochs", eps));
        for (size_t i = 0; i < vmesh_rv_epoch_count(s); i++) {
            const char *rvp;
            uint64_t ep;
            json_t *o = json_object();
            VMESH_GUARD(append(eps, o));
            (void)vmesh_rv_epoch_at(s, i, &rvp, &ep);
            VMESH_ENSURE(ep <= (uint64_t)INT64_MAX, VMESH_ERR_UNSUPPORTED,
                         "epoch %llu of RVP %s does not fit RV JSON (max 2^63-1)",
                         (unsigned long long)ep, rvp);
            VMESH_GUARD(put(o, "rvp", json_string(rvp)));
            VMESH_GUARD(put(o, "epoch", json_integer((json_int_t)ep)));
        }
    }
    if (n > 0) {
        se = calloc(n, sizeof(*se));
        VMESH_ENSURE(se != NULL, VMESH_ERR_NOMEM, "out of memory writing RV JSON");
        for (size_t i = 0; i < n; i++) {
            se[i].i = i;
            (void)vmesh_rv_entry_at(s, i, &se[i].e);
        }
        qsort(se, n, sizeof(*se), cmp_sorted);
    }
    for (size_t i = 1; i <= n; i++) {
        if (i == n || cmp_env(&se[i].e.env, &se[from].e.env) != 0) {
            VMESH_GUARD(group_json(se, from, i, rvs));
            from = i;
        }
    }
    VMESH_GUARD(put(root, "reference-values", json_incref(rvs)));
    text = json_dumps(root, JSON_INDENT(2));
    VMESH_ENSURE(text != NULL, VMESH_ERR_NOMEM, "out of memory writing RV JSON");
    VMESH_GUARD(vmesh_buf_append(out, text, strlen(text)));
    VMESH_GUARD(vmesh_buf_append_u8(out, '\n'));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    free(text);
    free(se);
    json_decref(root);
    json_decref(rvs);
    return rc;
}
