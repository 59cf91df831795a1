/*
 * CCA claims <-> JSON in Veraison's format (veraison/ccatoken JSON tags, as
 * in evcli templates and the arm-cca scheme's test vectors), used for the
 * cca-sim claims template and the annotated evidence of an appraisal. Byte
 * claims are standard base64. The reader refuses unknown keys (in a
 * template they are typos) and checks type and size of every value; it must
 * never accept a value the CBOR encoder could not represent.
 */
#include "vmesh/cca.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define JERR(...) VMESH_FAIL(VMESH_ERR_PARSE, "CCA claims JSON: " __VA_ARGS__)

static vmesh_err get_b64(json_t *v, const char *key, uint8_t *dst, size_t cap, size_t *len, bool allow_empty)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b;

    vmesh_buf_init(&b, VMESH_CCA_MAX_CONFIG + 16);
    if (!json_is_string(v))
        JERR("\"%s\" must be a base64 string", key);
    if (vmesh_b64_decode(json_string_value(v), json_string_length(v), &b) != VMESH_OK)
        JERR("\"%s\" is not valid base64", key);
    if (b.len == 0 && !allow_empty)
        JERR("\"%s\" is empty", key);
    if (b.len > cap)
        JERR("\"%s\" is %zu bytes, longer than the %zu allowed", key, b.len, cap);
    if (b.len > 0)
        memcpy(dst, b.data, b.len);
    *len = b.len;
out:
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err get_text(json_t *v, const char *key, char **out)
{
    if (!json_is_string(v))
        return vmesh_err_set(VMESH_ERR_PARSE, "CCA claims JSON: \"%s\" must be a string", key);
    return vmesh_psa_text_dup("CCA claims", json_string_value(v), json_string_length(v), key, out);
}

static vmesh_err component_from_json(json_t *o, size_t idx, vmesh_psa_sw_component *sc)
{
    vmesh_err rc = VMESH_OK;
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        JERR("\"cca-platform-sw-components\"[%zu] must be an object", idx);
    json_object_foreach(o, key, v) {
        if (strcmp(key, "measurement-type") == 0)
            VMESH_GUARD(get_text(v, key, &sc->measurement_type));
        else if (strcmp(key, "measurement-value") == 0)
            VMESH_GUARD(get_b64(v, key, sc->measurement_value, sizeof(sc->measurement_value),
                                &sc->measurement_value_len, false));
        else if (strcmp(key, "signer-id") == 0)
            VMESH_GUARD(get_b64(v, key, sc->signer_id, sizeof(sc->signer_id), &sc->signer_id_len, false));
        else if (strcmp(key, "version") == 0)
            VMESH_GUARD(get_text(v, key, &sc->version));
        else if (strcmp(key, "measurement-description") == 0 || strcmp(key, "measurement-desc") == 0)
            VMESH_GUARD(get_text(v, key, &sc->measurement_desc));
        else
            JERR("\"cca-platform-sw-components\"[%zu]: unknown key \"%.64s\"", idx, key);
    }
out:
    return rc;
}

static vmesh_err platform_from_json(json_t *o, vmesh_cca_platform_claims *p)
{
    vmesh_err rc = VMESH_OK;
    const char *key;
    json_t *v;
    uint8_t *cfg = NULL;

    if (!json_is_object(o))
        JERR("\"cca-platform-token\" must be an object");
    json_object_foreach(o, key, v) {
        if (strcmp(key, "cca-platform-profile") == 0) {
            const char *s = json_string_value(v);

            if (s != NULL && strcmp(s, VMESH_CCA_PLATFORM_PROFILE_NAME) == 0)
                p->profile = VMESH_CCA_PLATFORM_PROFILE_2023;
            else if (s != NULL && strcmp(s, VMESH_CCA_PLATFORM_PROFILE_SSD_NAME) == 0)
                p->profile = VMESH_CCA_PLATFORM_PROFILE_SSD;
            else
                VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "CCA claims JSON: \"%s\" must be \"%s\" or \"%s\"", key,
                           VMESH_CCA_PLATFORM_PROFILE_NAME, VMESH_CCA_PLATFORM_PROFILE_SSD_NAME);
        } else if (strcmp(key, "cca-platform-challenge") == 0) {
            VMESH_GUARD(get_b64(v, key, p->challenge, sizeof(p->challenge), &p->challenge_len, false));
        } else if (strcmp(key, "cca-platform-implementation-id") == 0) {
            VMESH_GUARD(get_b64(v, key, p->implementation_id, sizeof(p->implementation_id),
                                &p->implementation_id_len, false));
        } else if (strcmp(key, "cca-platform-instance-id") == 0) {
            VMESH_GUARD(get_b64(v, key, p->instance_id, sizeof(p->instance_id), &p->instance_id_len, false));
        } else if (strcmp(key, "cca-platform-config") == 0) {
            size_t n = 0;

            cfg = malloc(VMESH_CCA_MAX_CONFIG);
            VMESH_ENSURE(cfg != NULL, VMESH_ERR_NOMEM, "out of memory");
            VMESH_GUARD(get_b64(v, key, cfg, VMESH_CCA_MAX_CONFIG, &n, true));
            free(p->config);
            p->config = NULL;
            if (n > 0) {
                p->config = cfg;
                cfg = NULL;
            }
            p->config_len = n;
            p->config_present = true;
        } else if (strcmp(key, "cca-platform-lifecycle") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0xffff)
                JERR("\"%s\" must be an integer 0..65535", key);
            p->lifecycle = (uint16_t)json_integer_value(v);
            p->lifecycle_present = true;
        } else if (strcmp(key, "cca-platform-sw-components") == 0) {
            size_t i;
            json_t *e;

            if (!json_is_array(v))
                JERR("\"%s\" must be an array", key);
            json_array_foreach(v, i, e) {
                vmesh_psa_sw_component *sc;

                VMESH_GUARD(vmesh_cca_platform_add_sw(p, &sc));
                VMESH_GUARD(component_from_json(e, i, sc));
            }
        } else if (strcmp(key, "cca-platform-service-indicator") == 0) {
            VMESH_GUARD(get_text(v, key, &p->verification_service));
        } else if (strcmp(key, "cca-platform-hash-algo-id") == 0) {
            VMESH_GUARD(get_text(v, key, &p->hash_algo));
        } else {
            JERR("unknown key \"%.64s\" in \"cca-platform-token\"", key);
        }
    }
    if (p->profile == VMESH_CCA_PLATFORM_PROFILE_NONE)
        p->profile = VMESH_CCA_PLATFORM_PROFILE_2023;
out:
    free(cfg);
    return rc;
}

static vmesh_err realm_from_json(json_t *o, vmesh_cca_realm_claims *r)
{
    vmesh_err rc = VMESH_OK;
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        JERR("\"cca-realm-delegated-token\" must be an object");
    json_object_foreach(o, key, v) {
        if (strcmp(key, "cca-realm-profile") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), VMESH_CCA_REALM_PROFILE_NAME) != 0)
                VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "CCA claims JSON: \"%s\" must be \"%s\"", key,
                           VMESH_CCA_REALM_PROFILE_NAME);
            r->profile = VMESH_CCA_REALM_PROFILE_2023;
        } else if (strcmp(key, "cca-realm-challenge") == 0) {
            VMESH_GUARD(get_b64(v, key, r->challenge, sizeof(r->challenge), &r->challenge_len, false));
        } else if (strcmp(key, "cca-realm-personalization-value") == 0) {
            VMESH_GUARD(get_b64(v, key, r->personalization, sizeof(r->personalization), &r->personalization_len,
                                false));
        } else if (strcmp(key, "cca-realm-initial-measurement") == 0) {
            VMESH_GUARD(get_b64(v, key, r->rim, sizeof(r->rim), &r->rim_len, false));
        } else if (strcmp(key, "cca-realm-extensible-measurements") == 0) {
            size_t i;
            json_t *e;

            if (!json_is_array(v) || json_array_size(v) > VMESH_CCA_NUM_REMS)
                JERR("\"%s\" must be an array of %d base64 strings", key, VMESH_CCA_NUM_REMS);
            json_array_foreach(v, i, e)
                VMESH_GUARD(get_b64(e, key, r->rem[i], sizeof(r->rem[i]), &r->rem_len[i], false));
            r->rem_count = json_array_size(v);
        } else if (strcmp(key, "cca-realm-hash-algo-id") == 0) {
            VMESH_GUARD(get_text(v, key, &r->hash_algo));
        } else if (strcmp(key, "cca-realm-public-key") == 0) {
            VMESH_GUARD(get_b64(v, key, r->rak, sizeof(r->rak), &r->rak_len, false));
        } else if (strcmp(key, "cca-realm-public-key-hash-algo-id") == 0) {
            VMESH_GUARD(get_text(v, key, &r->rak_hash_algo));
        } else {
            JERR("unknown key \"%.64s\" in \"cca-realm-delegated-token\"", key);
        }
    }
out:
    return rc;
}

vmesh_err vmesh_cca_claims_from_json(const char *json, size_t n, vmesh_cca_claims *c)
{
    vmesh_err rc = VMESH_OK;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *key;

    vmesh_cca_claims_free(c);
    root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        JERR("line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root))
        JERR("the document must be a JSON object");
    json_object_foreach(root, key, v) {
        if (strcmp(key, "cca-platform-token") == 0)
            VMESH_GUARD(platform_from_json(v, &c->platform));
        else if (strcmp(key, "cca-realm-delegated-token") == 0)
            VMESH_GUARD(realm_from_json(v, &c->realm));
        else
            JERR("unknown key \"%.64s\" (expected \"cca-platform-token\" and \"cca-realm-delegated-token\")", key);
    }
    if (c->platform.profile == VMESH_CCA_PLATFORM_PROFILE_NONE)
        c->platform.profile = VMESH_CCA_PLATFORM_PROFILE_2023;
out:
    json_decref(root);
    if (rc != VMESH_OK)
        vmesh_cca_claims_free(c);
    return rc;
}

/* ---- writing ------------------------------------------------------------------ */

static vmesh_err set_b64(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b;

    vmesh_buf_init(&b, 0);
    VMESH_GUARD(vmesh_b64_encode(p, n, &b));
    VMESH_GUARD(vmesh_buf_terminate(&b));
    VMESH_ENSURE(json_object_set_new(o, key, json_string(n ? (const char *)b.data : "")) == 0, VMESH_ERR_NOMEM,
                 "out of memory");
out:
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err set_text(json_t *o, const char *key, const char *s)
{
    if (s == NULL)
        return VMESH_OK;
    return json_object_set_new(o, key, json_string(s)) == 0 ? VMESH_OK
                                                           : vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
}

static vmesh_err platform_to_json(const vmesh_cca_platform_claims *p, json_t *o)
{
    vmesh_err rc = VMESH_OK;
    json_t *arr = NULL;

    if (p->challenge_len)
        VMESH_GUARD(set_b64(o, "cca-platform-challenge", p->challenge, p->challenge_len));
    VMESH_GUARD(set_text(o, "cca-platform-profile", vmesh_cca_platform_profile_name(p->profile)));
    if (p->implementation_id_len)
        VMESH_GUARD(set_b64(o, "cca-platform-implementation-id", p->implementation_id, p->implementation_id_len));
    if (p->instance_id_len)
        VMESH_GUARD(set_b64(o, "cca-platform-instance-id", p->instance_id, p->instance_id_len));
    if (p->config_present)
        VMESH_GUARD(set_b64(o, "cca-platform-config", p->config, p->config_len));
    if (p->lifecycle_present)
        VMESH_ENSURE(json_object_set_new(o, "cca-platform-lifecycle", json_integer(p->lifecycle)) == 0,
                     VMESH_ERR_NOMEM, "out of memory");
    if (p->sw_count) {
        arr = json_array();
        VMESH_ENSURE(arr != NULL, VMESH_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < p->sw_count; i++) {
            const vmesh_psa_sw_component *sc = &p->sw[i];
            json_t *e = json_object();

            VMESH_ENSURE(e != NULL && json_array_append_new(arr, e) == 0, VMESH_ERR_NOMEM, "out of memory");
            VMESH_GUARD(set_text(e, "measurement-type", sc->measurement_type));
            if (sc->measurement_value_len)
                VMESH_GUARD(set_b64(e, "measurement-value", sc->measurement_value, sc->measurement_value_len));
            VMESH_GUARD(set_text(e, "version", sc->version));
            if (sc->signer_id_len)
                VMESH_GUARD(set_b64(e, "signer-id", sc->signer_id, sc->signer_id_len));
            VMESH_GUARD(set_text(e, "measurement-description", sc->measurement_desc));
        }
        VMESH_ENSURE(json_object_set_new(o, "cca-platform-sw-components", arr) == 0, VMESH_ERR_NOMEM,
                     "out of memory");
        arr = NULL;
    }
    VMESH_GUARD(set_text(o, "cca-platform-service-indicator", p->verification_service));
    VMESH_GUARD(set_text(o, "cca-platform-hash-algo-id", p->hash_algo));
out:
    json_decref(arr);
    return rc;
}

static vmesh_err realm_to_json(const vmesh_cca_realm_claims *r, json_t *o)
{
    vmesh_err rc = VMESH_OK;
    json_t *arr = NULL;

    if (r->profile == VMESH_CCA_REALM_PROFILE_2023)
        VMESH_GUARD(set_text(o, "cca-realm-profile", VMESH_CCA_REALM_PROFILE_NAME));
    if (r->challenge_len)
        VMESH_GUARD(set_b64(o, "cca-realm-challenge", r->challenge, r->challenge_len));
    if (r->personalization_len)
        VMESH_GUARD(set_b64(o, "cca-realm-personalization-value", r->personalization, r->personalization_len));
    if (r->rim_len)
        VMESH_GUARD(set_b64(o, "cca-realm-initial-measurement", r->rim, r->rim_len));
    if (r->rem_count) {
        arr = json_array();
        VMESH_ENSURE(arr != NULL, VMESH_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < r->rem_count && i < VMESH_CCA_NUM_REMS; i++) {
            vmesh_buf b;
            vmesh_err e2;

            vmesh_buf_init(&b, 0);
            e2 = vmesh_b64_encode(r->rem[i], r->rem_len[i], &b);
            if (e2 == VMESH_OK)
                e2 = vmesh_buf_terminate(&b);
            if (e2 == VMESH_OK && json_array_append_new(arr, json_string((const char *)b.data)) != 0)
                e2 = vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
            vmesh_buf_free(&b);
            VMESH_GUARD(e2);
        }
        VMESH_ENSURE(json_object_set_new(o, "cca-realm-extensible-measurements", arr) == 0, VMESH_ERR_NOMEM,
                     "out of memory");
        arr = NULL;
    }
    VMESH_GUARD(set_text(o, "cca-realm-hash-algo-id", r->hash_algo));
    if (r->rak_len)
        VMESH_GUARD(set_b64(o, "cca-realm-public-key", r->rak, r->rak_len));
    VMESH_GUARD(set_text(o, "cca-realm-public-key-hash-algo-id", r->rak_hash_algo));
out:
    json_decref(arr);
    return rc;
}

vmesh_err vmesh_cca_claims_to_json(const vmesh_cca_claims *c, bool pretty, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *root = json_object(), *p = json_object(), *r = json_object();
    char *s = NULL;

    VMESH_ENSURE(root != NULL && p != NULL && r != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(platform_to_json(&c->platform, p));
    VMESH_GUARD(realm_to_json(&c->realm, r));
    VMESH_ENSURE(json_object_set(root, "cca-platform-token", p) == 0 &&
                     json_object_set(root, "cca-realm-delegated-token", r) == 0,
                 VMESH_ERR_NOMEM, "out of memory");
    s = json_dumps(root, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_COMPACT | JSON_PRESERVE_ORDER);
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_buf_append(out, s, strlen(s)));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    free(s);
    json_decref(p);
    json_decref(r);
    json_decref(root);
    return rc;
}
