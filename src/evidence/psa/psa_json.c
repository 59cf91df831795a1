/*
 * PSA claims <-> JSON in Veraison's format (veraison/psatoken JSON tags),
 * used for attester templates, `vmesh attest psa --print` and the
 * annotated evidence of an attestation result. Byte claims are standard
 * base64. The reader refuses unknown keys (in a template they are typos)
 * and checks the type and size of every value; it must never accept a
 * value that the CBOR encoder could not represent.
 */
#include "vmesh/psa.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_ERR(...) VMESH_FAIL(VMESH_ERR_PARSE, "PSA claims JSON: " __VA_ARGS__)

static vmesh_err get_b64(json_t *v, const char *key, uint8_t *dst, size_t cap, size_t *len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b;
    const char *s;

    vmesh_buf_init(&b, 4096);
    if (!json_is_string(v))
        JSON_ERR("\"%s\" must be a base64 string", key);
    s = json_string_value(v);
    if (vmesh_b64_decode(s, json_string_length(v), &b) != VMESH_OK) {
        rc = vmesh_err_wrap(VMESH_ERR_PARSE, "PSA claims JSON: \"%s\" is not valid base64", key);
        goto out;
    }
    if (b.len == 0)
        JSON_ERR("\"%s\" is empty", key);
    if (b.len > cap)
        JSON_ERR("\"%s\" is %zu bytes, longer than the %zu allowed", key, b.len, cap);
    memcpy(dst, b.data, b.len);
    *len = b.len;
out:
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err get_text(json_t *v, const char *key, char **out)
{
    if (!json_is_string(v))
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims JSON: \"%s\" must be a string", key);
    return vmesh_psa_text_dup("PSA claims", json_string_value(v), json_string_length(v), key, out);
}

static vmesh_err get_int(json_t *v, const char *key, json_int_t lo, json_int_t hi, json_int_t *out)
{
    if (!json_is_integer(v))
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims JSON: \"%s\" must be an integer", key);
    *out = json_integer_value(v);
    if (*out < lo || *out > hi)
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims JSON: \"%s\" value %lld is outside %lld..%lld", key,
                             (long long)*out, (long long)lo, (long long)hi);
    return VMESH_OK;
}

static bool hash_len(size_t n)
{
    return n == 32 || n == 48 || n == 64;
}

static vmesh_err component_from_json(json_t *o, size_t idx, vmesh_psa_sw_component *sc)
{
    vmesh_err rc = VMESH_OK;
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        JSON_ERR("\"psa-software-components\"[%zu] must be an object", idx);
    json_object_foreach(o, key, v) {
        if (strcmp(key, "measurement-type") == 0)
            VMESH_GUARD(get_text(v, key, &sc->measurement_type));
        else if (strcmp(key, "measurement-value") == 0)
            VMESH_GUARD(get_b64(v, key, sc->measurement_value, sizeof(sc->measurement_value),
                                &sc->measurement_value_len));
        else if (strcmp(key, "signer-id") == 0)
            VMESH_GUARD(get_b64(v, key, sc->signer_id, sizeof(sc->signer_id), &sc->signer_id_len));
        else if (strcmp(key, "version") == 0)
            VMESH_GUARD(get_text(v, key, &sc->version));
        else if (strcmp(key, "measurement-description") == 0 || strcmp(key, "measurement-desc") == 0)
            VMESH_GUARD(get_text(v, key, &sc->measurement_desc));
        else
            JSON_ERR("\"psa-software-components\"[%zu]: unknown key \"%.64s\"", idx, key);
    }
    if (sc->measurement_value_len && !hash_len(sc->measurement_value_len))
        JSON_ERR("\"psa-software-components\"[%zu] \"measurement-value\" is %zu bytes, expected 32, 48 or 64",
                 idx, sc->measurement_value_len);
    if (sc->signer_id_len && !hash_len(sc->signer_id_len))
        JSON_ERR("\"psa-software-components\"[%zu] \"signer-id\" is %zu bytes, expected 32, 48 or 64", idx,
                 sc->signer_id_len);
out:
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "software component %zu", idx);
    return rc;
}

static vmesh_err claims_from_obj(json_t *root, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    const char *key;
    json_t *v;
    json_int_t iv = 0;

    if (!json_is_object(root))
        JSON_ERR("the document must be a JSON object");
    json_object_foreach(root, key, v) {
        if (strcmp(key, "eat-profile") == 0 || strcmp(key, "psa-profile") == 0) {
            if (!json_is_string(v))
                JSON_ERR("\"%s\" must be a string", key);
            VMESH_GUARD(vmesh_psa_profile_parse(json_string_value(v), &c->profile));
            c->profile_present = c->profile == VMESH_PSA_PROFILE_1;
        } else if (strcmp(key, "psa-client-id") == 0) {
            VMESH_GUARD(get_int(v, key, INT32_MIN, INT32_MAX, &iv));
            c->client_id = (int32_t)iv;
            c->client_id_present = true;
        } else if (strcmp(key, "psa-security-lifecycle") == 0) {
            VMESH_GUARD(get_int(v, key, 0, 0xffff, &iv));
            c->security_lifecycle = (uint16_t)iv;
            c->security_lifecycle_present = true;
            if (vmesh_psa_lifecycle_name(c->security_lifecycle) == NULL)
                JSON_ERR("\"%s\" value 0x%04x is in no lifecycle state range", key, c->security_lifecycle);
        } else if (strcmp(key, "psa-implementation-id") == 0) {
            VMESH_GUARD(get_b64(v, key, c->implementation_id, sizeof(c->implementation_id),
                                &c->implementation_id_len));
            if (c->implementation_id_len != 32)
                JSON_ERR("\"%s\" is %zu bytes, expected 32", key, c->implementation_id_len);
        } else if (strcmp(key, "psa-instance-id") == 0) {
            VMESH_GUARD(get_b64(v, key, c->instance_id, sizeof(c->instance_id), &c->instance_id_len));
            if (c->instance_id_len != 33 || c->instance_id[0] != 0x01)
                JSON_ERR("\"%s\" must be 33 bytes starting with 0x01 (RAND UEID)", key);
        } else if (strcmp(key, "psa-boot-seed") == 0) {
            VMESH_GUARD(get_b64(v, key, c->boot_seed, sizeof(c->boot_seed), &c->boot_seed_len));
            if (c->boot_seed_len < 8)
                JSON_ERR("\"%s\" is %zu bytes, expected 8 to 32", key, c->boot_seed_len);
        } else if (strcmp(key, "psa-nonce") == 0) {
            VMESH_GUARD(get_b64(v, key, c->nonce, sizeof(c->nonce), &c->nonce_len));
            if (!hash_len(c->nonce_len))
                JSON_ERR("\"%s\" is %zu bytes, expected 32, 48 or 64", key, c->nonce_len);
        } else if (strcmp(key, "psa-certification-reference") == 0 || strcmp(key, "psa-hwver") == 0) {
            VMESH_GUARD(get_text(v, key, &c->certification_reference));
        } else if (strcmp(key, "psa-verification-service-indicator") == 0) {
            VMESH_GUARD(get_text(v, key, &c->verification_service));
        } else if (strcmp(key, "psa-no-software-measurements") == 0) {
            VMESH_GUARD(get_int(v, key, 1, 1, &iv));
            c->no_sw_measurements = true;
        } else if (strcmp(key, "psa-software-components") == 0) {
            size_t i;
            json_t *e;

            if (!json_is_array(v))
                JSON_ERR("\"%s\" must be an array", key);
            json_array_foreach(v, i, e) {
                vmesh_psa_sw_component *sc;

                VMESH_GUARD(vmesh_psa_claims_add_sw(c, &sc));
                VMESH_GUARD(component_from_json(e, i, sc));
            }
        } else {
            JSON_ERR("unknown claim \"%.64s\"", key);
        }
    }
    if (c->profile == VMESH_PSA_PROFILE_NONE)
        c->profile = VMESH_PSA_PROFILE_TFM;
out:
    return rc;
}

vmesh_err vmesh_psa_claims_from_json(const char *json, size_t n, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    json_error_t jerr;
    json_t *root = NULL;

    vmesh_psa_claims_free(c);
    VMESH_ENSURE(json != NULL, VMESH_ERR_ARG, "PSA claims JSON: no input");
    VMESH_ENSURE(n <= VMESH_PSA_MAX_TOKEN * 4, VMESH_ERR_TOO_LARGE,
                 "PSA claims JSON: %zu bytes, the limit is %d", n, VMESH_PSA_MAX_TOKEN * 4);
    root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        JSON_ERR("line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    VMESH_GUARD(claims_from_obj(root, c));
out:
    json_decref(root);
    if (rc != VMESH_OK)
        vmesh_psa_claims_free(c);
    return rc;
}

/* ---- writer ----------------------------------------------------------------
 * The compact form is written directly (it is built on every appraisal, on
 * the verifier's hot path); the indented form re-formats it with jansson.
 * Key order is that of veraison/psatoken's P1Claims / P2Claims structs. */

static vmesh_err put(vmesh_buf *b, const char *s)
{
    return vmesh_buf_append(b, s, strlen(s));
}

/* ,"key": */
static vmesh_err put_key(vmesh_buf *b, bool *first, const char *key)
{
    vmesh_err rc = VMESH_OK;

    if (!*first)
        VMESH_GUARD(vmesh_buf_append_u8(b, ','));
    *first = false;
    VMESH_GUARD(vmesh_buf_append_u8(b, '"'));
    VMESH_GUARD(put(b, key));
    VMESH_GUARD(put(b, "\":"));
out:
    return rc;
}

static vmesh_err put_b64(vmesh_buf *b, bool *first, const char *key, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(put_key(b, first, key));
    VMESH_GUARD(vmesh_buf_append_u8(b, '"'));
    VMESH_GUARD(vmesh_b64_encode(p, n, b));
    VMESH_GUARD(vmesh_buf_append_u8(b, '"'));
out:
    return rc;
}

static vmesh_err put_text(vmesh_buf *b, bool *first, const char *key, const char *s)
{
    vmesh_err rc = put_key(b, first, key);

    return rc == VMESH_OK ? vmesh_json_str(b, s, strlen(s)) : rc;
}

static vmesh_err put_int(vmesh_buf *b, bool *first, const char *key, long long v)
{
    char num[32];
    vmesh_err rc = put_key(b, first, key);

    snprintf(num, sizeof(num), "%lld", v);
    return rc == VMESH_OK ? put(b, num) : rc;
}

static vmesh_err put_components(vmesh_buf *b, const vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_append_u8(b, '['));
    for (size_t i = 0; i < c->sw_count; i++) {
        const vmesh_psa_sw_component *sc = &c->sw[i];
        bool first = true;

        VMESH_GUARD(put(b, i ? ",{" : "{"));
        if (sc->measurement_type)
            VMESH_GUARD(put_text(b, &first, "measurement-type", sc->measurement_type));
        if (sc->measurement_value_len)
            VMESH_GUARD(put_b64(b, &first, "measurement-value", sc->measurement_value, sc->measurement_value_len));
        if (sc->version)
            VMESH_GUARD(put_text(b, &first, "version", sc->version));
        if (sc->signer_id_len)
            VMESH_GUARD(put_b64(b, &first, "signer-id", sc->signer_id, sc->signer_id_len));
        if (sc->measurement_desc)
            VMESH_GUARD(put_text(b, &first, "measurement-description", sc->measurement_desc));
        VMESH_GUARD(vmesh_buf_append_u8(b, '}'));
    }
    VMESH_GUARD(vmesh_buf_append_u8(b, ']'));
out:
    return rc;
}

static vmesh_err write_compact(const vmesh_psa_claims *c, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    bool first = true, p1 = c->profile == VMESH_PSA_PROFILE_1;

    VMESH_GUARD(vmesh_buf_append_u8(b, '{'));
    /* always written, also for a P1 token without -75000, so that the JSON
     * says which profile it is */
    if (vmesh_psa_profile_name(c->profile))
        VMESH_GUARD(put_text(b, &first, p1 ? "psa-profile" : "eat-profile", vmesh_psa_profile_name(c->profile)));
    if (c->client_id_present)
        VMESH_GUARD(put_int(b, &first, "psa-client-id", c->client_id));
    if (c->security_lifecycle_present)
        VMESH_GUARD(put_int(b, &first, "psa-security-lifecycle", c->security_lifecycle));
    if (c->implementation_id_len)
        VMESH_GUARD(put_b64(b, &first, "psa-implementation-id", c->implementation_id, c->implementation_id_len));
    if (c->boot_seed_len)
        VMESH_GUARD(put_b64(b, &first, "psa-boot-seed", c->boot_seed, c->boot_seed_len));
    if (c->certification_reference)
        VMESH_GUARD(put_text(b, &first, p1 ? "psa-hwver" : "psa-certification-reference",
                             c->certification_reference));
    if (c->sw_count) {
        VMESH_GUARD(put_key(b, &first, "psa-software-components"));
        VMESH_GUARD(put_components(b, c));
    }
    if (c->no_sw_measurements)
        VMESH_GUARD(put_int(b, &first, "psa-no-software-measurements", 1));
    if (c->nonce_len)
        VMESH_GUARD(put_b64(b, &first, "psa-nonce", c->nonce, c->nonce_len));
    if (c->instance_id_len)
        VMESH_GUARD(put_b64(b, &first, "psa-instance-id", c->instance_id, c->instance_id_len));
    if (c->verification_service)
        VMESH_GUARD(put_text(b, &first, "psa-verification-service-indicator", c->verification_service));
    VMESH_GUARD(vmesh_buf_append_u8(b, '}'));
    VMESH_GUARD(vmesh_buf_terminate(b));
out:
    return rc;
}

vmesh_err vmesh_psa_claims_to_json(const vmesh_psa_claims *c, bool pretty, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf compact;
    json_t *root = NULL;
    json_error_t jerr;
    char *s = NULL;

    vmesh_buf_init(&compact, 0);
    if (!pretty) {
        size_t mark = out->len;

        rc = write_compact(c, out);
        if (rc != VMESH_OK)
            out->len = mark;
        return rc;
    }
    VMESH_GUARD(write_compact(c, &compact));
    root = json_loadb((const char *)compact.data, compact.len, 0, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "PSA claims JSON: internal error: %s", jerr.text);
    s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "PSA claims JSON: serialisation failed");
    VMESH_GUARD(vmesh_buf_append(out, s, strlen(s)));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    free(s);
    json_decref(root);
    vmesh_buf_free(&compact);
    return rc;
}
