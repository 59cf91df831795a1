/*
 * The verifier trust set of a bundle (include/vmesh/rvp.h, docs/BUNDLES.md
 * "The verifier trust set"): which verifiers' EAR keys relying parties
 * accept, and what each verifier's own platform must attest. The one parser
 * of "vmesh-verifiers/1". It must never accept a private key, a name or a
 * key twice, a field it does not know, or a length it has not checked.
 */
#include "rvp_int.h"
#include "vmesh/rvp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vmesh_rvp_verifiers_free(vmesh_rvp_verifiers *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        vmesh_crypto_key_free(s->v[i].ear_key);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* http:// or https://, then printable ASCII without spaces, quotes or
 * backslashes (the URL goes into requests and log lines as it is). */
static bool url_ok(const char *s, size_t n)
{
    size_t pre;

    if (n > 8 && memcmp(s, "https://", 8) == 0)
        pre = 8;
    else if (n > 7 && memcmp(s, "http://", 7) == 0)
        pre = 7;
    else
        return false;
    if (n > VMESH_RVP_URL_MAX || n == pre)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

static bool scheme_ok(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* A string member without NUL; *s and *n borrowed from o. */
/* "ear-key": a PEM string or a JWK object; a public key. */
static vmesh_err parse_key(json_t *v, const char *source, const char *where, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    char *dump = NULL;
    const char *p;
    size_t n;

    *out = NULL;
    if (json_is_string(v)) {
        p = json_string_value(v);
        n = json_string_length(v);
        VMESH_ENSURE(n > 0 && strlen(p) == n, VMESH_ERR_PARSE, "%s: %s\"ear-key\" is empty or contains a NUL",
                     source, where);
    } else if (json_is_object(v)) {
        dump = json_dumps(v, JSON_COMPACT);
        VMESH_ENSURE(dump != NULL, VMESH_ERR_NOMEM, "out of memory");
        p = dump;
        n = strlen(dump);
    } else {
        VMESH_FAIL(VMESH_ERR_PARSE, "%s: %s\"ear-key\" must be a PEM string or a JWK object", source, where);
    }
    rc = vmesh_crypto_key_parse((const uint8_t *)p, n, out);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "%s: %s\"ear-key\" is not a public key", source, where);
        goto out;
    }
    VMESH_ENSURE(!vmesh_crypto_key_is_private(*out), VMESH_ERR_POLICY,
                 "%s: %s\"ear-key\" is a PRIVATE key: a bundle carries public keys only", source, where);
out:
    if (rc != VMESH_OK) {
        vmesh_crypto_key_free(*out);
        *out = NULL;
    }
    free(dump);
    return rc;
}

static vmesh_err parse_platform(json_t *o, const char *source, const char *where, vmesh_rvp_verifier *e)
{
    static const char *const fields[] = {"scheme", "class-id", NULL};
    vmesh_err rc = VMESH_OK;
    vmesh_buf cls = {0};
    const char *s;
    size_t n;
    char w[96];

    snprintf(w, sizeof(w), "%splatform: ", where);
    VMESH_ENSURE(json_is_object(o), VMESH_ERR_PARSE,
                 "%s: %s\"platform\" must be an object {\"scheme\", \"class-id\"}", source, where);
    VMESH_GUARD(rvp_only_fields(o, fields, source, w));
    VMESH_GUARD(rvp_get_str(o, "scheme", source, w, &s, &n));
    VMESH_ENSURE(scheme_ok(s, n), VMESH_ERR_PARSE, "%s: %s\"scheme\" must be 1..32 of [a-z0-9-] (psa, tpm2, ...)",
                 source, w);
    memcpy(e->scheme, s, n);
    e->scheme[n] = '\0';
    VMESH_GUARD(rvp_get_str(o, "class-id", source, w, &s, &n));
    rc = vmesh_b64_decode(s, n, &cls);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "%s: %s\"class-id\" is not base64", source, w);
        goto out;
    }
    VMESH_ENSURE(cls.len >= 1 && cls.len <= sizeof(e->class_id), VMESH_ERR_PARSE,
                 "%s: %s\"class-id\" must be 1..%zu bytes, is %zu", source, w, sizeof(e->class_id), cls.len);
    memcpy(e->class_id, cls.data, cls.len);
    e->class_id_len = cls.len;
out:
    vmesh_buf_free(&cls);
    return rc;
}

static vmesh_err parse_entry(json_t *o, size_t i, const char *source, vmesh_rvp_verifier *e)
{
    static const char *const fields[] = {"name", "url", "ear-key", "platform", NULL};
    vmesh_err rc = VMESH_OK;
    const char *s;
    size_t n;
    char where[48];

    snprintf(where, sizeof(where), "verifiers[%zu]: ", i);
    VMESH_ENSURE(json_is_object(o), VMESH_ERR_PARSE, "%s: %san entry must be an object", source, where);
    VMESH_GUARD(rvp_only_fields(o, fields, source, where));
    VMESH_GUARD(rvp_get_str(o, "name", source, where, &s, &n));
    VMESH_ENSURE(rvp_name_ok(s, n), VMESH_ERR_PARSE,
                 "%s: %s\"name\" must be 1..%d of [A-Za-z0-9._-], not starting with '.'", source, where,
                 VMESH_RVP_NAME_MAX);
    memcpy(e->name, s, n);
    e->name[n] = '\0';
    snprintf(where, sizeof(where), "verifier \"%.20s\": ", e->name);
    VMESH_GUARD(rvp_get_str(o, "url", source, where, &s, &n));
    VMESH_ENSURE(url_ok(s, n), VMESH_ERR_PARSE,
                 "%s: %s\"url\" must be an http:// or https:// URL of at most %d printable characters", source,
                 where, VMESH_RVP_URL_MAX);
    memcpy(e->url, s, n);
    e->url[n] = '\0';
    VMESH_ENSURE(json_object_get(o, "ear-key") != NULL, VMESH_ERR_PARSE, "%s: %s\"ear-key\" is missing", source,
                 where);
    VMESH_GUARD(parse_key(json_object_get(o, "ear-key"), source, where, &e->ear_key));
    VMESH_ENSURE(json_object_get(o, "platform") != NULL, VMESH_ERR_PARSE, "%s: %s\"platform\" is missing", source,
                 where);
    VMESH_GUARD(parse_platform(json_object_get(o, "platform"), source, where, e));
out:
    return rc;
}

vmesh_err vmesh_rvp_verifiers_parse(const uint8_t *p, size_t n, const char *source, vmesh_rvp_verifiers *out)
{
    static const char *const fields[] = {"format", "verifiers", NULL};
    vmesh_err rc = VMESH_OK;
    json_t *root = NULL, *list, *v;
    json_error_t jerr;
    const char *s;
    size_t len, i;

    memset(out, 0, sizeof(*out));
    if (source == NULL)
        source = "verifier trust set";
    VMESH_ENSURE(p != NULL || n == 0, VMESH_ERR_ARG, "%s: no data", source);
    VMESH_ENSURE(n <= VMESH_RVP_VERIFIERS_MAX, VMESH_ERR_TOO_LARGE, "%s: %zu bytes, a verifier trust set is at most %zu",
                 source, n, VMESH_RVP_VERIFIERS_MAX);
    root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "%s: line %d column %d: %s", source, jerr.line, jerr.column,
                 jerr.text);
    VMESH_ENSURE(json_is_object(root), VMESH_ERR_PARSE, "%s: not a JSON object", source);
    VMESH_GUARD(rvp_only_fields(root, fields, source, ""));
    VMESH_GUARD(rvp_get_str(root, "format", source, "", &s, &len));
    VMESH_ENSURE(strcmp(s, VMESH_RVP_VERIFIERS_FORMAT) == 0, VMESH_ERR_PARSE, "%s: \"format\" must be \"%s\"",
                 source, VMESH_RVP_VERIFIERS_FORMAT);
    list = json_object_get(root, "verifiers");
    VMESH_ENSURE(json_is_array(list), VMESH_ERR_PARSE, "%s: \"verifiers\" must be an array", source);
    VMESH_ENSURE(json_array_size(list) >= 1, VMESH_ERR_PARSE,
                 "%s: \"verifiers\" is empty (to trust no verifier, publish the bundle without this set)", source);
    VMESH_ENSURE(json_array_size(list) <= VMESH_RVP_MAX_VERIFIERS, VMESH_ERR_TOO_LARGE,
                 "%s: %zu verifiers, at most %d", source, json_array_size(list), VMESH_RVP_MAX_VERIFIERS);
    out->v = calloc(json_array_size(list), sizeof(*out->v));
    VMESH_ENSURE(out->v != NULL, VMESH_ERR_NOMEM, "out of memory");
    json_array_foreach(list, i, v) {
        vmesh_rvp_verifier *e = &out->v[i];
        out->n = i + 1; /* so that free releases a key parsed before a failure */
        VMESH_GUARD(parse_entry(v, i, source, e));
        for (size_t j = 0; j < i; j++) {
            VMESH_ENSURE(strcmp(out->v[j].name, e->name) != 0, VMESH_ERR_PARSE,
                         "%s: verifier name \"%s\" is listed twice", source, e->name);
            VMESH_ENSURE(!vmesh_crypto_key_equal(out->v[j].ear_key, e->ear_key), VMESH_ERR_PARSE,
                         "%s: verifiers \"%s\" and \"%s\" have the same ear-key (one key, one verifier)", source,
                         out->v[j].name, e->name);
        }
    }
out:
    if (rc != VMESH_OK)
        vmesh_rvp_verifiers_free(out);
    json_decref(root);
    return rc;
}

vmesh_err vmesh_rvp_verifiers_copy(vmesh_rvp_verifiers *dst, const vmesh_rvp_verifiers *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src == NULL || src->n == 0)
        return VMESH_OK;
    dst->v = calloc(src->n, sizeof(*dst->v));
    if (dst->v == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i] = src->v[i];
        dst->v[i].ear_key = vmesh_crypto_key_ref(src->v[i].ear_key);
    }
    dst->n = src->n;
    return VMESH_OK;
}

bool vmesh_rvp_verifiers_same(const vmesh_rvp_verifiers *a, const vmesh_rvp_verifiers *b)
{
    size_t na = a ? a->n : 0, nb = b ? b->n : 0;

    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        const vmesh_rvp_verifier *x = &a->v[i], *y = &b->v[i];
        if (strcmp(x->name, y->name) != 0 || strcmp(x->url, y->url) != 0 || strcmp(x->scheme, y->scheme) != 0 ||
            x->class_id_len != y->class_id_len || memcmp(x->class_id, y->class_id, x->class_id_len) != 0 ||
            !vmesh_crypto_key_equal(x->ear_key, y->ear_key))
            return false;
    }
    return true;
}

const vmesh_rvp_verifier *vmesh_rvp_verifiers_find(const vmesh_rvp_verifiers *s, const char *name)
{
    for (size_t i = 0; s != NULL && name != NULL && i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}
