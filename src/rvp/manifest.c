/*
 * Trust-bundle manifests: the signed list of an RVP's sets (DESIGN §5,
 * docs/BUNDLES.md), their strict parser, and the classifier that tells what
 * a bundle input is. The parser must never accept a manifest with a field it
 * does not understand, a path other than "sets/<its own digest>", or a
 * length it has not checked; the classifier must never let an RVP publish a
 * private key or a document its verifiers would refuse.
 */
#include "rvp_int.h"
#include "vmesh/ccpki.h"
#include "vmesh/corim.h"
#include "vmesh/jose.h"
#include "vmesh/policy.h"
#include "vmesh/psa.h"
#include "vmesh/rvp.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {NULL, "corim", "rv-json", "trust-anchor", "policy"};

const char *vmesh_rvp_set_kind_name(vmesh_set_kind k)
{
    if ((int)k < VMESH_SET_CORIM || (int)k > VMESH_SET_POLICY)
        return NULL;
    return kind_names[k];
}

vmesh_err vmesh_rvp_set_kind_parse(const char *s, vmesh_set_kind *out)
{
    for (int k = VMESH_SET_CORIM; k <= VMESH_SET_POLICY; k++) {
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (vmesh_set_kind)k;
            return VMESH_OK;
        }
    }
    return vmesh_err_set(VMESH_ERR_PARSE, "unknown set kind \"%s\" (expected corim, rv-json, trust-anchor or policy)",
                         s);
}

void vmesh_rvp_manifest_free(vmesh_rvp_manifest *m)
{
    if (m == NULL)
        return;
    free(m->sets);
    memset(m, 0, sizeof(*m));
}

bool vmesh_rvp_manifest_same_sets(const vmesh_rvp_manifest *a, const vmesh_rvp_manifest *b)
{
    if (a->nsets != b->nsets)
        return false;
    for (size_t i = 0; i < a->nsets; i++) {
        const vmesh_rvp_set *x = &a->sets[i], *y = &b->sets[i];
        if (x->kind != y->kind || x->size != y->size || memcmp(x->sha256, y->sha256, 32) != 0 ||
            strcmp(x->scheme, y->scheme) != 0 || strcmp(x->media_type, y->media_type) != 0)
            return false;
    }
    return true;
}

bool rvp_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > VMESH_RVP_NAME_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Scheme lists: [a-z0-9-] names joined by '+', or "". */
static bool scheme_ok(const char *s, size_t n)
{
    bool empty_part = true;

    if (n > VMESH_RVP_SCHEME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            if (empty_part)
                return false;
            empty_part = true;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            empty_part = false;
        } else {
            return false;
        }
    }
    return n == 0 || !empty_part;
}

/* Media types: printable ASCII without quotes or backslashes, a '/'. */
static bool media_type_ok(const char *s, size_t n)
{
    if (n < 3 || n > VMESH_RVP_MEDIA_TYPE_MAX || memchr(s, '/', n) == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

static void set_path(vmesh_rvp_set *s)
{
    static const char hex[] = "0123456789abcdef";

    memcpy(s->path, "sets/", 5);
    for (size_t i = 0; i < 32; i++) {
        s->path[5 + 2 * i] = hex[s->sha256[i] >> 4];
        s->path[5 + 2 * i + 1] = hex[s->sha256[i] & 15];
    }
    s->path[sizeof(s->path) - 1] = '\0';
}

/* Lowercase hex only, exactly 64 digits: one spelling per digest, so that
 * the path (and the cache file name) is fixed by the digest. */
static bool parse_sha256(const char *s, size_t n, uint8_t out[32])
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] = (uint8_t)(out[i / 2] | v);
    }
    return true;
}

static vmesh_err get_int(json_t *o, const char *k, const char *where, json_int_t min, json_int_t max,
                         json_int_t *out)
{
    json_t *v = json_object_get(o, k);

    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return vmesh_err_set(VMESH_ERR_PARSE, "manifest: %s\"%s\" must be an integer in %lld..%lld", where, k,
                             (long long)min, (long long)max);
    *out = json_integer_value(v);
    return VMESH_OK;
}

vmesh_err rvp_only_fields(json_t *o, const char *const *allowed, const char *source, const char *where)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(k, allowed[i]) == 0;
        if (!known)
            return vmesh_err_set(VMESH_ERR_PARSE, "%s: %sunknown field \"%.64s\"", source, where, k);
    }
    return VMESH_OK;
}

vmesh_err rvp_get_str(json_t *o, const char *k, const char *source, const char *where, const char **s,
                         size_t *n)
{
    json_t *v = json_object_get(o, k);

    if (!json_is_string(v))
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: %s\"%s\" must be a string", source, where, k);
    *s = json_string_value(v);
    *n = json_string_length(v);
    if (strlen(*s) != *n)
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: %s\"%s\" contains a NUL character", source, where, k);
    return VMESH_OK;
}

static vmesh_err parse_set(json_t *o, size_t i, vmesh_rvp_set *s)
{
    static const char *const fields[] = {"kind", "scheme", "media_type", "sha256", "size", "path", NULL};
    vmesh_err rc = VMESH_OK;
    char where[48];
    const char *str = NULL;
    size_t n = 0;
    json_int_t size = 0;

    snprintf(where, sizeof(where), "sets[%zu]: ", i);
    VMESH_ENSURE(json_is_object(o), VMESH_ERR_PARSE, "manifest: %sa set must be an object", where);
    VMESH_GUARD(rvp_only_fields(o, fields, "manifest", where));
    VMESH_GUARD(rvp_get_str(o, "kind", "manifest", where, &str, &n));
    rc = vmesh_rvp_set_kind_parse(str, &s->kind);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "manifest: %s", where);
        goto out;
    }
    VMESH_GUARD(rvp_get_str(o, "scheme", "manifest", where, &str, &n));
    VMESH_ENSURE(scheme_ok(str, n), VMESH_ERR_PARSE,
                 "manifest: %s\"scheme\" must be \"\" or scheme names [a-z0-9-] joined by '+' (at most %d bytes)",
                 where, VMESH_RVP_SCHEME_MAX);
    memcpy(s->scheme, str, n);
    s->scheme[n] = '\0';
    VMESH_GUARD(rvp_get_str(o, "media_type", "manifest", where, &str, &n));
    VMESH_ENSURE(media_type_ok(str, n), VMESH_ERR_PARSE, "manifest: %s\"media_type\" is not a media type", where);
    memcpy(s->media_type, str, n);
    s->media_type[n] = '\0';
    VMESH_GUARD(rvp_get_str(o, "sha256", "manifest", where, &str, &n));
    VMESH_ENSURE(parse_sha256(str, n, s->sha256), VMESH_ERR_PARSE,
                 "manifest: %s\"sha256\" must be 64 lowercase hex digits", where);
    VMESH_GUARD(get_int(o, "size", where, 1, (json_int_t)VMESH_RVP_SET_MAX, &size));
    s->size = (uint64_t)size;
    set_path(s);
    VMESH_GUARD(rvp_get_str(o, "path", "manifest", where, &str, &n));
    /* The path is not a free choice: it is the digest's name, so a manifest
     * can never point a client anywhere but sets/<hex>. */
    VMESH_ENSURE(n == strlen(s->path) && memcmp(str, s->path, n) == 0, VMESH_ERR_PARSE,
                 "manifest: %s\"path\" must be \"%s\" (sets are named by their sha256)", where, s->path);
out:
    return rc;
}

vmesh_err vmesh_rvp_manifest_parse(const uint8_t *json, size_t n, vmesh_rvp_manifest *out)
{
    static const char *const fields[] = {"rvp", "epoch", "issued_at", "expires_at", "sets", NULL};
    vmesh_err rc = VMESH_OK;
    json_t *root = NULL, *sets, *v;
    json_error_t jerr;
    const char *str = NULL;
    size_t len = 0, i;
    json_int_t epoch = 0, iat = 0, exp = 0;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(n <= VMESH_RVP_MANIFEST_MAX, VMESH_ERR_TOO_LARGE, "manifest larger than %zu bytes",
                 VMESH_RVP_MANIFEST_MAX);
    root = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "manifest: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    VMESH_ENSURE(json_is_object(root), VMESH_ERR_PARSE, "manifest: payload is not a JSON object");
    VMESH_GUARD(rvp_only_fields(root, fields, "manifest", ""));
    VMESH_GUARD(rvp_get_str(root, "rvp", "manifest", "", &str, &len));
    VMESH_ENSURE(rvp_name_ok(str, len), VMESH_ERR_PARSE,
                 "manifest: \"rvp\" must be 1..%d characters of [A-Za-z0-9._-], not starting with '.'",
                 VMESH_RVP_NAME_MAX);
    memcpy(out->rvp, str, len);
    VMESH_GUARD(get_int(root, "epoch", "", 1, INT64_MAX, &epoch));
    VMESH_GUARD(get_int(root, "issued_at", "", 0, INT64_MAX, &iat));
    VMESH_GUARD(get_int(root, "expires_at", "", 0, INT64_MAX, &exp));
    VMESH_ENSURE(exp > iat, VMESH_ERR_PARSE, "manifest: expires_at (%lld) is not after issued_at (%lld)",
                 (long long)exp, (long long)iat);
    out->epoch = (uint64_t)epoch;
    out->issued_at = iat;
    out->expires_at = exp;
    sets = json_object_get(root, "sets");
    VMESH_ENSURE(json_is_array(sets), VMESH_ERR_PARSE, "manifest: \"sets\" must be an array");
    VMESH_ENSURE(json_array_size(sets) <= VMESH_RVP_MAX_SETS, VMESH_ERR_TOO_LARGE,
                 "manifest: %zu sets, at most %d allowed", json_array_size(sets), VMESH_RVP_MAX_SETS);
    if (json_array_size(sets) > 0) {
        out->sets = calloc(json_array_size(sets), sizeof(*out->sets));
        VMESH_ENSURE(out->sets != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    json_array_foreach(sets, i, v) {
        VMESH_GUARD(parse_set(v, i, &out->sets[i]));
        for (size_t j = 0; j < i; j++)
            VMESH_ENSURE(memcmp(out->sets[j].sha256, out->sets[i].sha256, 32) != 0, VMESH_ERR_PARSE,
                         "manifest: sets[%zu] and sets[%zu] have the same sha256", j, i);
        out->nsets = i + 1;
    }
out:
    if (rc != VMESH_OK)
        vmesh_rvp_manifest_free(out);
    json_decref(root);
    return rc;
}

static vmesh_err check_typ(const vmesh_buf *header)
{
    vmesh_err rc = VMESH_OK;
    json_t *h = json_loadb((const char *)header->data, header->len, 0, NULL);
    json_t *typ = json_object_get(h, "typ");

    VMESH_ENSURE(json_is_string(typ) && strcmp(json_string_value(typ), VMESH_RVP_MANIFEST_TYP) == 0,
                 VMESH_ERR_PARSE, "manifest: JWS header \"typ\" must be \"%s\" (is this a manifest.jws?)",
                 VMESH_RVP_MANIFEST_TYP);
out:
    json_decref(h);
    return rc;
}

vmesh_err vmesh_rvp_manifest_verify(const char *jws, size_t n, const vmesh_key *key, vmesh_rvp_manifest *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf header = {0}, payload = {0};

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(n <= VMESH_RVP_MANIFEST_MAX, VMESH_ERR_TOO_LARGE, "manifest.jws is %zu bytes, at most %zu allowed",
                 n, VMESH_RVP_MANIFEST_MAX);
    rc = vmesh_jose_jws_verify_full(jws, n, key, &header, &payload);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "manifest signature");
        goto out;
    }
    VMESH_GUARD(check_typ(&header));
    VMESH_GUARD(vmesh_rvp_manifest_parse(payload.data, payload.len, out));
out:
    vmesh_buf_free(&header);
    vmesh_buf_free(&payload);
    return rc;
}

vmesh_err vmesh_rvp_manifest_sign(const vmesh_rvp_manifest *m, const vmesh_key *key, vmesh_buf *jws)
{
    vmesh_err rc = VMESH_OK;
    json_t *o = NULL, *sets = NULL;
    char *s = NULL, hex[65];
    vmesh_rvp_manifest check = {0};

    VMESH_ENSURE(m->epoch >= 1 && m->epoch <= (uint64_t)INT64_MAX, VMESH_ERR_ARG,
                 "manifest epoch must be 1..%lld", (long long)INT64_MAX);
    sets = json_array();
    VMESH_ENSURE(sets != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->nsets; i++) {
        const vmesh_rvp_set *st = &m->sets[i];
        const char *kind = vmesh_rvp_set_kind_name(st->kind);
        json_t *e;
        VMESH_ENSURE(kind != NULL, VMESH_ERR_ARG, "sets[%zu]: unknown kind %d", i, (int)st->kind);
        VMESH_ENSURE(st->size <= (uint64_t)VMESH_RVP_SET_MAX, VMESH_ERR_TOO_LARGE, "sets[%zu]: too large", i);
        memcpy(hex, st->path + 5, 64);
        hex[64] = '\0';
        e = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "kind", kind, "scheme", st->scheme, "media_type",
                      st->media_type, "sha256", hex, "size", (json_int_t)st->size, "path", st->path);
        VMESH_ENSURE(e != NULL && json_array_append_new(sets, e) == 0, VMESH_ERR_NOMEM, "out of memory");
    }
    o = json_pack("{s:s, s:I, s:I, s:I, s:O}", "rvp", m->rvp, "epoch", (json_int_t)m->epoch, "issued_at",
                  (json_int_t)m->issued_at, "expires_at", (json_int_t)m->expires_at, "sets", sets);
    VMESH_ENSURE(o != NULL, VMESH_ERR_NOMEM, "out of memory");
    s = json_dumps(o, JSON_COMPACT);
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    /* What we sign must be what every verifier accepts. */
    rc = vmesh_rvp_manifest_parse((const uint8_t *)s, strlen(s), &check);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "refusing to sign an invalid manifest");
        goto out;
    }
    VMESH_GUARD(vmesh_jose_jws_sign(key, VMESH_RVP_MANIFEST_TYP, NULL, (const uint8_t *)s, strlen(s), jws));
out:
    vmesh_rvp_manifest_free(&check);
    free(s);
    json_decref(o);
    json_decref(sets);
    return rc;
}

/* ---- classification ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted, '+'-joined distinct schemes of a store's entries. */
static vmesh_err store_schemes(const vmesh_rv_store *st, const char *source, char out[VMESH_RVP_SCHEME_MAX + 1])
{
    vmesh_err rc = VMESH_OK;
    const char *names[16];
    size_t nn = 0, len = 0;
    vmesh_rv_entry e;

    out[0] = '\0';
    for (size_t i = 0; vmesh_rv_entry_at(st, i, &e); i++) {
        bool seen = false;
        for (size_t j = 0; j < nn && !seen; j++)
            seen = strcmp(names[j], e.env.scheme) == 0;
        if (seen)
            continue;
        VMESH_ENSURE(nn < sizeof(names) / sizeof(names[0]), VMESH_ERR_TOO_LARGE,
                     "%s: more than %zu schemes in one file; split it", source, sizeof(names) / sizeof(names[0]));
        names[nn++] = e.env.scheme;
    }
    qsort(names, nn, sizeof(names[0]), cmp_str);
    for (size_t j = 0; j < nn; j++) {
        size_t l = strlen(names[j]);
        VMESH_ENSURE(len + l + (j > 0) <= VMESH_RVP_SCHEME_MAX, VMESH_ERR_TOO_LARGE,
                     "%s: the scheme list is longer than %d bytes; split the file", source, VMESH_RVP_SCHEME_MAX);
        if (j > 0)
            out[len++] = '+';
        memcpy(out + len, names[j], l);
        len += l;
        out[len] = '\0';
    }
out:
    return rc;
}

static vmesh_err classify_corim(const uint8_t *p, size_t n, const char *source, vmesh_rvp_set *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *st = NULL;
    vmesh_corim_info info;

    VMESH_GUARD(vmesh_rv_store_new(&st));
    /* The manifest signature authenticates the bytes for verifiers; here we
     * only make sure they are a CoRIM the verifiers can read. */
    VMESH_GUARD(vmesh_corim_load(st, p, n, NULL, VMESH_CORIM_ALLOW_UNVERIFIED, vmesh_psa_corim_profiles, source,
                                 &info));
    VMESH_GUARD(store_schemes(st, source, out->scheme));
    out->kind = VMESH_SET_CORIM;
    snprintf(out->media_type, sizeof(out->media_type), "%s",
             info.was_signed ? "application/rim+cose" : VMESH_CORIM_MEDIA_TYPE);
out:
    vmesh_rv_store_free(st);
    return rc;
}

static vmesh_err check_public_key(const uint8_t *p, size_t n, const char *source, const char *what)
{
    vmesh_key *k = NULL;
    vmesh_err rc = vmesh_crypto_key_parse(p, n, &k);

    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "%s: %s", source, what);
    } else if (vmesh_crypto_key_is_private(k)) {
        rc = vmesh_err_set(VMESH_ERR_POLICY, "%s: %s is a PRIVATE key: a bundle carries public keys only", source,
                           what);
    }
    vmesh_crypto_key_free(k);
    return rc;
}

static vmesh_err classify_json(const uint8_t *p, size_t n, const char *source, vmesh_rvp_set *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *root = NULL, *fmt, *v;
    json_error_t jerr;
    vmesh_rv_store *st = NULL;
    vmesh_policy *pol = NULL;
    char *s = NULL;
    size_t i;

    root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(json_is_object(root), VMESH_ERR_PARSE, "%s: not a JSON object (%s)", source,
                 root == NULL ? jerr.text : "another JSON value");
    fmt = json_object_get(root, "format");
    if (json_is_string(fmt) && strcmp(json_string_value(fmt), "vmesh-rv/1") == 0) {
        VMESH_GUARD(vmesh_rv_store_new(&st));
        VMESH_GUARD(vmesh_rv_load_json(st, p, n, source));
        VMESH_GUARD(store_schemes(st, source, out->scheme));
        out->kind = VMESH_SET_RV_JSON;
        snprintf(out->media_type, sizeof(out->media_type), "%s", VMESH_RVP_RV_MEDIA_TYPE);
    } else if (json_is_string(fmt) && strcmp(json_string_value(fmt), "vmesh-policy/1") == 0) {
        VMESH_GUARD(vmesh_policy_parse(p, n, source, &pol));
        out->kind = VMESH_SET_POLICY;
        snprintf(out->media_type, sizeof(out->media_type), "%s", VMESH_RVP_POLICY_MEDIA_TYPE);
    } else if (json_is_string(fmt) && strcmp(json_string_value(fmt), VMESH_RVP_VERIFIERS_FORMAT) == 0) {
        /* The EAR keys relying parties accept (D40): trust anchors for
         * results, not for any evidence scheme (scheme ""). */
        vmesh_rvp_verifiers vs;
        VMESH_GUARD(vmesh_rvp_verifiers_parse(p, n, source, &vs));
        vmesh_rvp_verifiers_free(&vs);
        out->kind = VMESH_SET_TRUST_ANCHOR;
        snprintf(out->media_type, sizeof(out->media_type), "%s", VMESH_RVP_VERIFIERS_MEDIA_TYPE);
    } else if (json_is_string(fmt) && strcmp(json_string_value(fmt), "vmesh-verifier-policy/1") == 0) {
        /* Carried for verifiers that read it; vmesh has no parser of its own yet. */
        out->kind = VMESH_SET_POLICY;
        snprintf(out->media_type, sizeof(out->media_type), "%s", VMESH_RVP_VPOLICY_MEDIA_TYPE);
    } else if (fmt == NULL && json_object_get(root, "kty") != NULL) {
        VMESH_GUARD(check_public_key(p, n, source, "JWK"));
        out->kind = VMESH_SET_TRUST_ANCHOR;
        snprintf(out->media_type, sizeof(out->media_type), "application/jwk+json");
    } else if (fmt == NULL && json_is_array(json_object_get(root, "keys"))) {
        VMESH_ENSURE(json_array_size(json_object_get(root, "keys")) > 0, VMESH_ERR_PARSE,
                     "%s: an empty JWK set", source);
        json_array_foreach(json_object_get(root, "keys"), i, v) {
            char what[32];
            s = json_dumps(v, JSON_COMPACT);
            VMESH_ENSURE(s != NULL, VMESH_ERR_PARSE, "%s: keys[%zu] is not a JWK object", source, i);
            snprintf(what, sizeof(what), "keys[%zu]", i);
            VMESH_GUARD(check_public_key((const uint8_t *)s, strlen(s), source, what));
            free(s);
            s = NULL;
        }
        out->kind = VMESH_SET_TRUST_ANCHOR;
        snprintf(out->media_type, sizeof(out->media_type), "application/jwk-set+json");
    } else {
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "%s: a JSON document vmesh cannot publish: expected \"format\" vmesh-rv/1, vmesh-policy/1, "
                   "vmesh-verifier-policy/1 or vmesh-verifiers/1, a JWK or a JWK set",
                   source);
    }
out:
    free(s);
    vmesh_policy_free(pol);
    vmesh_rv_store_free(st);
    json_decref(root);
    return rc;
}

/* The one PEM walk of this file: every block of p, at most 1000, at least
 * one. A bundle's trust-anchor set (ta_set false) carries CERTIFICATE and
 * PUBLIC KEY blocks, each parsed here; a scheme's trust-anchor set (ta_set
 * true) also X509 CRL blocks, parsed later by the scheme's loader. A
 * private key (a set is published byte for byte, so it would travel too)
 * or any other block is refused by name. */
static vmesh_err walk_pem(const uint8_t *p, size_t n, const char *source, bool ta_set, size_t *blocks,
                          size_t *certs)
{
    vmesh_err rc = VMESH_OK;
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;

    *blocks = *certs = 0;
    VMESH_ENSURE(n <= (size_t)INT32_MAX, VMESH_ERR_TOO_LARGE, "%s: too large", source);
    bio = BIO_new_mem_buf(p, (int)n);
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    while (PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
        const unsigned char *q = data;
        ++*blocks;
        VMESH_ENSURE(*blocks <= 1000, VMESH_ERR_TOO_LARGE, "%s: more than 1000 PEM blocks", source);
        if (strcmp(name, "CERTIFICATE") == 0) {
            if (!ta_set) {
                X509 *x = d2i_X509(NULL, &q, len);
                bool whole = x != NULL && q == data + len;
                X509_free(x);
                VMESH_ENSURE(whole, VMESH_ERR_PARSE, "%s: PEM block %zu is not a valid certificate", source,
                             *blocks);
            }
            ++*certs;
        } else if (strcmp(name, "PUBLIC KEY") == 0) {
            if (!ta_set) {
                vmesh_key *k = NULL;
                rc = vmesh_crypto_key_from_spki(data, (size_t)len, &k);
                vmesh_crypto_key_free(k);
                if (rc != VMESH_OK) {
                    vmesh_err_wrap(rc, "%s: PEM block %zu", source, *blocks);
                    goto out;
                }
            }
        } else if (!(ta_set && strcmp(name, "X509 CRL") == 0)) {
            VMESH_FAIL(strstr(name, "PRIVATE") ? VMESH_ERR_POLICY : VMESH_ERR_UNSUPPORTED,
                       "%s: PEM block %zu is \"%s\"; a %s carries only %s blocks", source, *blocks, name,
                       ta_set ? "trust-anchor set" : "bundle",
                       ta_set ? "CERTIFICATE, X509 CRL and PUBLIC KEY" : "CERTIFICATE and PUBLIC KEY");
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        name = header = NULL;
        data = NULL;
    }
    ERR_clear_error();
    VMESH_ENSURE(*blocks > 0, VMESH_ERR_PARSE, "%s: no readable PEM block", source);
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    return rc;
}

static vmesh_err classify_pem(const uint8_t *p, size_t n, const char *source, vmesh_rvp_set *out)
{
    vmesh_err rc = VMESH_OK;
    size_t blocks, certs;

    VMESH_GUARD(walk_pem(p, n, source, false, &blocks, &certs));
    out->kind = VMESH_SET_TRUST_ANCHOR;
    snprintf(out->media_type, sizeof(out->media_type), "%s",
             certs == blocks ? "application/pem-certificate-chain" : "application/x-pem-file");
out:
    return rc;
}

bool vmesh_rvp_ta_scheme_ok(const char *scheme)
{
    return scheme != NULL &&
           (strcmp(scheme, "sev-snp") == 0 || strcmp(scheme, "tdx") == 0 || strcmp(scheme, "tsm") == 0);
}

static bool contains(const uint8_t *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return true;
    return false;
}

/* PEM trust-anchor text of a scheme's set; *certs_only tells the media type. */
static vmesh_err check_ta_pem(const uint8_t *p, size_t n, const char *source, bool *certs_only)
{
    vmesh_err rc = VMESH_OK;
    size_t blocks, certs;

    *certs_only = true;
    VMESH_GUARD(walk_pem(p, n, source, true, &blocks, &certs));
    *certs_only = certs == blocks;
out:
    return rc;
}

vmesh_err vmesh_rvp_classify_ta(const uint8_t *p, size_t n, const char *scheme, const char *source,
                                vmesh_rvp_set *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *st = NULL;
    size_t i = 0;
    bool certs_only = false;
    const char *mt;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(p != NULL && scheme != NULL && source != NULL, VMESH_ERR_ARG, "trust anchor: missing argument");
    VMESH_ENSURE(vmesh_rvp_ta_scheme_ok(scheme), VMESH_ERR_UNSUPPORTED,
                 "%s: trust anchors for scheme \"%.40s\" do not travel as a trust-anchor set (sev-snp, tdx or tsm); "
                 "CCA's CPAKs are bound to an implementation-id and instance-id: publish them in RV JSON "
                 "(\"keys\")",
                 source, scheme);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "%s: empty file", source);
    VMESH_ENSURE(n <= VMESH_CCPKI_MAX_TA_FILE, VMESH_ERR_TOO_LARGE, "%s: %zu bytes, a trust anchor is at most %zu",
                 source, n, VMESH_CCPKI_MAX_TA_FILE);
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (n - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0) {
        VMESH_GUARD(check_ta_pem(p, n, source, &certs_only));
        mt = certs_only ? "application/pem-certificate-chain" : "application/x-pem-file";
    } else if (i < n && p[i] == '{') {
        /* TDX collateral (TCB Info / QE Identity) or a JWK: ta_load tells */
        mt = contains(p, n, "\"tcbInfo\"") || contains(p, n, "\"enclaveIdentity\"") ? "application/json"
                                                                                    : "application/jwk+json";
    } else if (p[0] == 0x30) {
        const unsigned char *q = p;
        X509 *x = d2i_X509(NULL, &q, (long)n);
        X509_CRL *crl = NULL;

        if (x != NULL && q == p + n) {
            mt = "application/pkix-cert";
        } else {
            q = p;
            crl = d2i_X509_CRL(NULL, &q, (long)n);
            mt = crl != NULL && q == p + n ? "application/pkix-crl" : "application/octet-stream";
        }
        X509_free(x);
        X509_CRL_free(crl);
        ERR_clear_error();
    } else {
        mt = "application/octet-stream";
    }
    VMESH_GUARD(vmesh_rv_store_new(&st));
    VMESH_GUARD(vmesh_ccpki_ta_load(st, scheme, p, n, source));
    VMESH_GUARD(store_schemes(st, source, out->scheme));
    out->kind = VMESH_SET_TRUST_ANCHOR;
    snprintf(out->media_type, sizeof(out->media_type), "%s", mt);
    vmesh_crypto_sha256(p, n, out->sha256);
    out->size = n;
    set_path(out);
out:
    vmesh_rv_store_free(st);
    return rc;
}

vmesh_err vmesh_rvp_classify(const uint8_t *p, size_t n, const char *source, vmesh_rvp_set *out)
{
    vmesh_err rc = VMESH_OK;
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "%s: empty file", source);
    VMESH_ENSURE(n <= VMESH_RVP_SET_MAX, VMESH_ERR_TOO_LARGE, "%s: %zu bytes, a set holds at most %zu", source, n,
                 VMESH_RVP_SET_MAX);
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (vmesh_corim_is_corim(p, n))
        VMESH_GUARD(classify_corim(p, n, source, out));
    else if (i < n && p[i] == '{')
        VMESH_GUARD(classify_json(p, n, source, out));
    else if (n - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0)
        VMESH_GUARD(classify_pem(p, n, source, out));
    else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "%s: cannot tell what this is: expected a CoRIM (CBOR tag 501 or a signed CoRIM), vmesh RV JSON, "
                   "a vmesh policy, PEM certificates or public keys, or a JWK",
                   source);
    vmesh_crypto_sha256(p, n, out->sha256);
    out->size = n;
    set_path(out);
out:
    return rc;
}
