/*
 * PSA attestation token claims-set: strict CBOR decoding into
 * vmesh_psa_claims, per-profile validation with errors that name the claim,
 * and deterministic CBOR encoding, all through the one CBOR pull reader and
 * writer (no tree is built, no length read from input is trusted before it
 * is checked against the bytes that remain), so a hostile payload can cost
 * no more than its own size. Also the software-component codec and claim
 * helpers the cca module shares. This file must never read past its input,
 * allocate on a declared length, or accept a claim it did not check.
 */
#include "vmesh/psa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- claim table ------------------------------------------------------- */

enum {
    CL_NONCE,
    CL_INSTANCE,
    CL_PROFILE,
    CL_CLIENT,
    CL_LIFECYCLE,
    CL_IMPL,
    CL_BOOTSEED,
    CL_CERTREF,
    CL_SWCOMP,
    CL_NOSW,
    CL_VSI,
    CL__COUNT
};

#define NO_KEY INT64_MIN

typedef struct {
    const char *name;
    int64_t p1, p2, tfm; /* claim key per profile, NO_KEY if not defined */
} claim_def;

/* RFC 9783 §4.6 (Backwards Compatibility Considerations), Table "Claim Key
 * Mappings"; http://arm.com/psa/2.0.0 (draft-tschofenig-rats-psa-token-13)
 * used 2397 for the boot seed where RFC 9783 uses the EAT bootseed (268). */
static const claim_def claims_tab[CL__COUNT] = {
    [CL_NONCE] = {"nonce", -75008, 10, 10},
    [CL_INSTANCE] = {"instance-id", -75009, 256, 256},
    [CL_PROFILE] = {"profile", -75000, 265, 265},
    [CL_CLIENT] = {"client-id", -75001, 2394, 2394},
    [CL_LIFECYCLE] = {"security-lifecycle", -75002, 2395, 2395},
    [CL_IMPL] = {"implementation-id", -75003, 2396, 2396},
    [CL_BOOTSEED] = {"boot-seed", -75004, 2397, 268},
    [CL_CERTREF] = {"certification-reference", -75005, 2398, 2398},
    [CL_SWCOMP] = {"software-components", -75006, 2399, 2399},
    [CL_NOSW] = {"no-sw-measurements", -75007, NO_KEY, NO_KEY},
    [CL_VSI] = {"verification-service-indicator", -75010, 2400, 2400},
};

static int64_t claim_key(vmesh_psa_profile p, int cl)
{
    switch (p) {
    case VMESH_PSA_PROFILE_1:
        return claims_tab[cl].p1;
    case VMESH_PSA_PROFILE_2:
        return claims_tab[cl].p2;
    default:
        return claims_tab[cl].tfm;
    }
}

/* ---- profiles and lifecycle -------------------------------------------- */

const char *vmesh_psa_profile_name(vmesh_psa_profile p)
{
    switch (p) {
    case VMESH_PSA_PROFILE_1:
        return VMESH_PSA_PROFILE_1_NAME;
    case VMESH_PSA_PROFILE_2:
        return VMESH_PSA_PROFILE_2_NAME;
    case VMESH_PSA_PROFILE_TFM:
        return VMESH_PSA_PROFILE_TFM_NAME;
    default:
        return NULL;
    }
}

vmesh_err vmesh_psa_profile_parse(const char *s, vmesh_psa_profile *out)
{
    if (s == NULL || out == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "PSA profile: no value given");
    if (strcmp(s, VMESH_PSA_PROFILE_TFM_NAME) == 0)
        *out = VMESH_PSA_PROFILE_TFM;
    else if (strcmp(s, VMESH_PSA_PROFILE_2_NAME) == 0 ||
             strcmp(s, "tag:psacertified.org,2019:psa#legacy") == 0)
        *out = VMESH_PSA_PROFILE_2;
    else if (strcmp(s, VMESH_PSA_PROFILE_1_NAME) == 0)
        *out = VMESH_PSA_PROFILE_1;
    else
        return vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                             "PSA profile \"%.100s\" is not supported (expected \"%s\", \"%s\" or \"%s\")",
                             s, VMESH_PSA_PROFILE_TFM_NAME, VMESH_PSA_PROFILE_2_NAME,
                             VMESH_PSA_PROFILE_1_NAME);
    return VMESH_OK;
}

/* RFC 9783 §4.3.1 (Security Lifecycle), CDDL psa-lifecycle-type:
 * "psa-lifecycle-secured-type = 0x3000..0x30ff" etc. */
const char *vmesh_psa_lifecycle_name(uint16_t v)
{
    static const char *const names[] = {"unknown",   "assembly-and-test", "psa-rot-provisioning",
                                        "secured",   "non-psa-rot-debug", "recoverable-psa-rot-debug",
                                        "decommissioned"};
    unsigned major = v >> 8;

    if ((major & 0x0f) != 0 || (major >> 4) > 6)
        return NULL;
    return names[major >> 4];
}

/* ---- owned strings and components (shared with the cca module) ------------ */

vmesh_err vmesh_psa_text_dup(const char *ctx, const char *p, size_t n, const char *what, char **out)
{
    char *s;

    if (n > VMESH_PSA_MAX_TEXT)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "%s: %s is %zu bytes long, the limit is %d", ctx, what, n,
                             VMESH_PSA_MAX_TEXT);
    if (!vmesh_utf8_valid((const uint8_t *)p, n) || memchr(p, 0, n) != NULL)
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: %s is not valid UTF-8 text (or contains NUL)", ctx, what);
    s = malloc(n + 1);
    if (s == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    free(*out);
    *out = s;
    return VMESH_OK;
}

void vmesh_psa_sw_component_clear(vmesh_psa_sw_component *sc)
{
    free(sc->measurement_type);
    free(sc->version);
    free(sc->measurement_desc);
    memset(sc, 0, sizeof(*sc));
}

vmesh_err vmesh_psa_sw_append(vmesh_psa_sw_component **sw, size_t *count, size_t cap, const char *ctx,
                              vmesh_psa_sw_component **out)
{
    vmesh_psa_sw_component *n;

    if (*count >= cap)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "%s: more than %zu software components", ctx, cap);
    n = realloc(*sw, (*count + 1) * sizeof(*n));
    if (n == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    *sw = n;
    memset(&n[*count], 0, sizeof(*n));
    *out = &n[(*count)++];
    return VMESH_OK;
}

vmesh_err vmesh_psa_claims_add_sw(vmesh_psa_claims *c, vmesh_psa_sw_component **out)
{
    return vmesh_psa_sw_append(&c->sw, &c->sw_count, VMESH_PSA_MAX_SW_COMPONENTS, "PSA claims", out);
}

static vmesh_err dup_opt(const char *s, const char *what, char **out)
{
    if (s == NULL)
        return VMESH_OK;
    return vmesh_psa_text_dup("PSA claims", s, strlen(s), what, out);
}

vmesh_err vmesh_psa_sw_component_copy(vmesh_psa_sw_component *dst, const vmesh_psa_sw_component *src)
{
    vmesh_err rc = VMESH_OK;

    *dst = *src;
    dst->measurement_type = dst->version = dst->measurement_desc = NULL;
    VMESH_GUARD(dup_opt(src->measurement_type, "measurement-type", &dst->measurement_type));
    VMESH_GUARD(dup_opt(src->version, "version", &dst->version));
    VMESH_GUARD(dup_opt(src->measurement_desc, "measurement-desc", &dst->measurement_desc));
out:
    return rc;
}

void vmesh_psa_claims_init(vmesh_psa_claims *c)
{
    memset(c, 0, sizeof(*c));
}

void vmesh_psa_claims_free(vmesh_psa_claims *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->sw_count; i++)
        vmesh_psa_sw_component_clear(&c->sw[i]);
    free(c->sw);
    free(c->certification_reference);
    free(c->verification_service);
    memset(c, 0, sizeof(*c));
}

vmesh_err vmesh_psa_claims_copy(vmesh_psa_claims *dst, const vmesh_psa_claims *src)
{
    vmesh_err rc = VMESH_OK;
    vmesh_psa_claims t;

    vmesh_psa_claims_init(&t);
    t = *src;
    t.sw = NULL;
    t.sw_count = 0;
    t.certification_reference = NULL;
    t.verification_service = NULL;
    VMESH_GUARD(dup_opt(src->certification_reference, "certification-reference",
                        &t.certification_reference));
    VMESH_GUARD(dup_opt(src->verification_service, "verification-service-indicator",
                        &t.verification_service));
    for (size_t i = 0; i < src->sw_count; i++) {
        vmesh_psa_sw_component *sc;
        const vmesh_psa_sw_component *s = &src->sw[i];

        VMESH_GUARD(vmesh_psa_claims_add_sw(&t, &sc));
        VMESH_GUARD(vmesh_psa_sw_component_copy(sc, s));
    }
    vmesh_psa_claims_free(dst);
    *dst = t;
    vmesh_psa_claims_init(&t);
out:
    vmesh_psa_claims_free(&t);
    return rc;
}

/* ---- validation ---------------------------------------------------------- */

static bool is_hash_len(size_t n)
{
    /* RFC 9783 §4 "psa-hash-type = bytes .size 32 / bytes .size 48 / bytes .size 64" */
    return n == 32 || n == 48 || n == 64;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool certref_ok(const char *s, bool allow_ean13)
{
    size_t n = strlen(s);

    /* RFC 9783 §4.2.3: "It MUST be represented as a string made of nineteen
     * numeric characters: a thirteen-digit [EAN-13], followed by a dash "-",
     * followed by the five-digit versioning information". PSA_IOT_PROFILE_1
     * (psa-hardware-version-type) used the bare EAN-13. */
    if (n == 19)
        return digits(s, 13) && s[13] == '-' && digits(s + 14, 5);
    return allow_ean13 && n == 13 && digits(s, 13);
}

#define MISSING(cl)                                                                      \
    VMESH_FAIL(VMESH_ERR_PARSE, "PSA claims: %s (key %lld) is missing", claims_tab[cl].name, \
               (long long)claim_key(p, cl))

vmesh_err vmesh_psa_claims_validate(const vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_psa_profile p = c->profile;

    VMESH_ENSURE(p == VMESH_PSA_PROFILE_1 || p == VMESH_PSA_PROFILE_2 || p == VMESH_PSA_PROFILE_TFM,
                 VMESH_ERR_ARG, "PSA claims: no profile set");
    /* RFC 9783 §4.1.1 (Nonce): "The length MUST be either 32, 48, or 64
     * bytes." ... "This claim MUST be present in a PSA attestation token." */
    if (c->nonce_len == 0)
        MISSING(CL_NONCE);
    VMESH_ENSURE(is_hash_len(c->nonce_len), VMESH_ERR_PARSE,
                 "PSA claims: nonce (key %lld) is %zu bytes, expected 32, 48 or 64",
                 (long long)claim_key(p, CL_NONCE), c->nonce_len);
    /* §4.2.1 (Instance ID): "The length MUST be 33 bytes." "The first byte
     * MUST be 0x01 (RAND) followed by the 32-byte unique identifier of the IAK." */
    if (c->instance_id_len == 0)
        MISSING(CL_INSTANCE);
    VMESH_ENSURE(c->instance_id_len == 33, VMESH_ERR_PARSE,
                 "PSA claims: instance-id (key %lld) is %zu bytes, expected 33",
                 (long long)claim_key(p, CL_INSTANCE), c->instance_id_len);
    VMESH_ENSURE(c->instance_id[0] == 0x01, VMESH_ERR_PARSE,
                 "PSA claims: instance-id (key %lld) starts with 0x%02x, expected 0x01 (RAND UEID)",
                 (long long)claim_key(p, CL_INSTANCE), c->instance_id[0]);
    /* §4.2.2 (Implementation ID): "This claim MUST be present". */
    if (c->implementation_id_len == 0)
        MISSING(CL_IMPL);
    VMESH_ENSURE(c->implementation_id_len == 32, VMESH_ERR_PARSE,
                 "PSA claims: implementation-id (key %lld) is %zu bytes, expected 32",
                 (long long)claim_key(p, CL_IMPL), c->implementation_id_len);
    /* §4.1.2 (Client ID): "This claim MUST be present"; "The value 0 is not
     * permitted." (enforced for the RFC profile; older verifiers accept it). */
    if (!c->client_id_present)
        MISSING(CL_CLIENT);
    VMESH_ENSURE(p != VMESH_PSA_PROFILE_TFM || c->client_id != 0, VMESH_ERR_PARSE,
                 "PSA claims: client-id (key 2394) is 0, which is not permitted");
    /* §4.3.1 (Security Lifecycle): "This claim MUST be present". */
    if (!c->security_lifecycle_present)
        MISSING(CL_LIFECYCLE);
    VMESH_ENSURE(vmesh_psa_lifecycle_name(c->security_lifecycle) != NULL, VMESH_ERR_PARSE,
                 "PSA claims: security-lifecycle (key %lld) value 0x%04x is in no lifecycle state range",
                 (long long)claim_key(p, CL_LIFECYCLE), c->security_lifecycle);
    /* §4.3.2 (Boot Seed): "The length MUST be between 8 and 32 bytes." "This
     * claim MAY be present". PSA_IOT_PROFILE_1: mandatory, bytes .size 32. */
    if (p == VMESH_PSA_PROFILE_1) {
        if (c->boot_seed_len == 0)
            MISSING(CL_BOOTSEED);
        VMESH_ENSURE(c->boot_seed_len == 32, VMESH_ERR_PARSE,
                     "PSA claims: boot-seed (key -75004) is %zu bytes, expected 32", c->boot_seed_len);
    } else {
        VMESH_ENSURE(c->boot_seed_len == 0 || (c->boot_seed_len >= 8 && c->boot_seed_len <= 32),
                     VMESH_ERR_PARSE, "PSA claims: boot-seed (key %lld) is %zu bytes, expected 8 to 32",
                     (long long)claim_key(p, CL_BOOTSEED), c->boot_seed_len);
    }
    if (c->certification_reference != NULL)
        VMESH_ENSURE(certref_ok(c->certification_reference, p == VMESH_PSA_PROFILE_1), VMESH_ERR_PARSE,
                     "PSA claims: certification-reference (key %lld) \"%.40s\" is not in %s format",
                     (long long)claim_key(p, CL_CERTREF), c->certification_reference,
                     p == VMESH_PSA_PROFILE_1 ? "EAN-13 or EAN-13+5" : "EAN-13+5 (13 digits, '-', 5 digits)");
    if (c->verification_service != NULL)
        VMESH_ENSURE(c->verification_service[0] != '\0', VMESH_ERR_PARSE,
                     "PSA claims: verification-service-indicator (key %lld) is empty",
                     (long long)claim_key(p, CL_VSI));
    /* §4.4.1 (Software Components): "This claim MUST be included"; CDDL
     * "[ + psa-software-component ]". PSA_IOT_PROFILE_1 allowed instead the
     * no-sw-measurements claim (-75007), never both. */
    if (p == VMESH_PSA_PROFILE_1 && c->no_sw_measurements) {
        VMESH_ENSURE(c->sw_count == 0, VMESH_ERR_PARSE,
                     "PSA claims: software-components (key -75006) and no-sw-measurements (key -75007) "
                     "are both present");
    } else {
        VMESH_ENSURE(p == VMESH_PSA_PROFILE_1 || !c->no_sw_measurements, VMESH_ERR_PARSE,
                     "PSA claims: no-sw-measurements exists only in %s", VMESH_PSA_PROFILE_1_NAME);
        if (c->sw_count == 0)
            VMESH_FAIL(VMESH_ERR_PARSE,
                       "PSA claims: software-components (key %lld) is missing or empty (at least one "
                       "component is required)",
                       (long long)claim_key(p, CL_SWCOMP));
    }
    for (size_t i = 0; i < c->sw_count; i++) {
        const vmesh_psa_sw_component *sc = &c->sw[i];

        /* §4.4.1.2 (Measurement Value): "This attribute MUST be present in a
         * PSA software component." */
        VMESH_ENSURE(sc->measurement_value_len != 0, VMESH_ERR_PARSE,
                     "PSA claims: software component %zu: measurement-value (key 2) is missing", i);
        VMESH_ENSURE(is_hash_len(sc->measurement_value_len), VMESH_ERR_PARSE,
                     "PSA claims: software component %zu: measurement-value (key 2) is %zu bytes, "
                     "expected 32, 48 or 64",
                     i, sc->measurement_value_len);
        /* §4.4.1.4 (Signer ID): "This attribute MUST be present in a PSA
         * software component to be compliant with [PSA-SM]." */
        VMESH_ENSURE(sc->signer_id_len != 0, VMESH_ERR_PARSE,
                     "PSA claims: software component %zu: signer-id (key 5) is missing", i);
        VMESH_ENSURE(is_hash_len(sc->signer_id_len), VMESH_ERR_PARSE,
                     "PSA claims: software component %zu: signer-id (key 5) is %zu bytes, expected 32, "
                     "48 or 64",
                     i, sc->signer_id_len);
    }
out:
    return rc;
}

/* ---- software components (shared with the cca module) -------------------- */

/* psa-software-component = { ? 1 measurement-type, 2 measurement-value,
 * ? 4 version, 5 signer-id (mandatory in 2.0.0 and TFM), ? 6
 * measurement-desc }. Other attributes are skipped. */
static vmesh_err decode_component(vmesh_cbor *r, size_t idx, vmesh_psa_sw_component *sc)
{
    vmesh_err rc = VMESH_OK;
    unsigned seen = 0;
    uint64_t count = 0;
    char what[64];

    snprintf(what, sizeof(what), "software component %zu", idx);
    VMESH_GUARD(vmesh_cbor_read_map(r, &count, UINT64_MAX, what));
    for (uint64_t i = 0; i < count; i++) {
        vmesh_cbor_head h;

        VMESH_GUARD(vmesh_cbor_peek(r, &h));
        if (h.major != VMESH_CBOR_UINT || h.arg > 6) {
            /* an attribute we do not know: skip key and value */
            VMESH_GUARD(vmesh_cbor_skip(r));
            VMESH_GUARD(vmesh_cbor_skip(r));
            continue;
        }
        VMESH_GUARD(vmesh_cbor_read_head(r, &h));
        VMESH_ENSURE(!(seen & (1u << h.arg)), VMESH_ERR_PARSE, "%s: %s has key %llu twice", r->what, what,
                     (unsigned long long)h.arg);
        seen |= 1u << h.arg;
        switch (h.arg) {
        case 1:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(r, VMESH_PSA_MAX_TEXT, &sc->measurement_type, "measurement-type"));
            break;
        case 2:
            VMESH_GUARD(vmesh_psa_read_bytes(r, "measurement-value", sc->measurement_value,
                                             sizeof(sc->measurement_value), &sc->measurement_value_len));
            break;
        case 4:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(r, VMESH_PSA_MAX_TEXT, &sc->version, "version"));
            break;
        case 5:
            VMESH_GUARD(vmesh_psa_read_bytes(r, "signer-id", sc->signer_id, sizeof(sc->signer_id),
                                             &sc->signer_id_len));
            break;
        case 6:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(r, VMESH_PSA_MAX_TEXT, &sc->measurement_desc, "measurement-desc"));
            break;
        default:
            VMESH_GUARD(vmesh_cbor_skip(r));
            break;
        }
    }
out:
    return rc;
}

vmesh_err vmesh_psa_sw_components_decode(vmesh_cbor *r, const char *field, size_t cap,
                                         vmesh_psa_sw_component **sw, size_t *count)
{
    vmesh_err rc = VMESH_OK;
    uint64_t n = 0;

    VMESH_GUARD(vmesh_cbor_read_array(r, &n, cap, field));
    for (uint64_t i = 0; i < n; i++) {
        vmesh_psa_sw_component *sc;

        VMESH_GUARD(vmesh_psa_sw_append(sw, count, cap, r->what, &sc));
        VMESH_GUARD(decode_component(r, (size_t)i, sc));
    }
out:
    return rc;
}

vmesh_err vmesh_psa_sw_components_encode(const vmesh_psa_sw_component *sw, size_t count, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_put_array(b, count));
    for (size_t i = 0; i < count; i++) {
        const vmesh_psa_sw_component *sc = &sw[i];

        VMESH_GUARD(vmesh_cbor_put_map(b, 2 + (sc->measurement_type != NULL) + (sc->version != NULL) +
                                              (sc->measurement_desc != NULL)));
        if (sc->measurement_type) {
            VMESH_GUARD(vmesh_cbor_put_uint(b, 1));
            VMESH_GUARD(vmesh_cbor_put_text(b, sc->measurement_type));
        }
        VMESH_GUARD(vmesh_cbor_put_uint(b, 2));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, sc->measurement_value, sc->measurement_value_len));
        if (sc->version) {
            VMESH_GUARD(vmesh_cbor_put_uint(b, 4));
            VMESH_GUARD(vmesh_cbor_put_text(b, sc->version));
        }
        VMESH_GUARD(vmesh_cbor_put_uint(b, 5));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, sc->signer_id, sc->signer_id_len));
        if (sc->measurement_desc) {
            VMESH_GUARD(vmesh_cbor_put_uint(b, 6));
            VMESH_GUARD(vmesh_cbor_put_text(b, sc->measurement_desc));
        }
    }
out:
    return rc;
}

/* A byte claim of fixed capacity, not empty. A claim longer than its slot
 * is malformed (VMESH_ERR_PARSE); exact size rules are checked by
 * validation, so its message names the claim and the size found. */
vmesh_err vmesh_psa_read_bytes(vmesh_cbor *r, const char *what, uint8_t *dst, size_t cap, size_t *len)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *p = NULL;
    size_t n = 0;

    VMESH_GUARD(vmesh_cbor_read_bstr(r, SIZE_MAX, &p, &n, what));
    VMESH_ENSURE(n <= cap, VMESH_ERR_PARSE, "%s: %s is %zu bytes, longer than the %zu allowed", r->what, what, n, cap);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "%s: %s is empty", r->what, what);
    memcpy(dst, p, n);
    *len = n;
out:
    return rc;
}

/* ---- decoding ------------------------------------------------------------ */

/* Reads the claim whose value starts at r->off into c. */
static vmesh_err decode_claim(vmesh_cbor *r, int cl, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    char what[64];
    int64_t v = 0;

    snprintf(what, sizeof(what), "%s (key %lld)", claims_tab[cl].name, (long long)claim_key(c->profile, cl));
    switch (cl) {
    case CL_NONCE: {
        vmesh_cbor_head h;

        VMESH_GUARD(vmesh_cbor_peek(r, &h));
        /* §4.1.1: "The array notation MUST NOT be used for encoding the nonce value." */
        VMESH_ENSURE(h.major != VMESH_CBOR_ARRAY, VMESH_ERR_PARSE,
                     "PSA claims: %s is an array; only a single nonce is allowed", what);
        VMESH_GUARD(vmesh_psa_read_bytes(r, what, c->nonce, sizeof(c->nonce), &c->nonce_len));
        break;
    }
    case CL_INSTANCE:
        VMESH_GUARD(vmesh_psa_read_bytes(r, what, c->instance_id, sizeof(c->instance_id), &c->instance_id_len));
        break;
    case CL_IMPL:
        VMESH_GUARD(vmesh_psa_read_bytes(r, what, c->implementation_id, sizeof(c->implementation_id),
                                         &c->implementation_id_len));
        break;
    case CL_BOOTSEED:
        VMESH_GUARD(vmesh_psa_read_bytes(r, what, c->boot_seed, sizeof(c->boot_seed), &c->boot_seed_len));
        break;
    case CL_CLIENT:
        VMESH_GUARD(vmesh_cbor_read_int(r, &v, what));
        VMESH_ENSURE(v >= INT32_MIN && v <= INT32_MAX, VMESH_ERR_PARSE,
                     "PSA claims: %s value %lld does not fit in 32 bits", what, (long long)v);
        c->client_id = (int32_t)v;
        c->client_id_present = true;
        break;
    case CL_LIFECYCLE:
        VMESH_GUARD(vmesh_cbor_read_int(r, &v, what));
        VMESH_ENSURE(v >= 0 && v <= 0xffff, VMESH_ERR_PARSE,
                     "PSA claims: %s value %lld is not a 16-bit unsigned integer", what, (long long)v);
        c->security_lifecycle = (uint16_t)v;
        c->security_lifecycle_present = true;
        break;
    case CL_CERTREF:
        VMESH_GUARD(vmesh_cbor_read_tstr_dup(r, VMESH_PSA_MAX_TEXT, &c->certification_reference, what));
        break;
    case CL_VSI:
        VMESH_GUARD(vmesh_cbor_read_tstr_dup(r, VMESH_PSA_MAX_TEXT, &c->verification_service, what));
        break;
    case CL_SWCOMP:
        VMESH_GUARD(vmesh_psa_sw_components_decode(r, what, VMESH_PSA_MAX_SW_COMPONENTS, &c->sw, &c->sw_count));
        break;
    case CL_NOSW:
        VMESH_GUARD(vmesh_cbor_read_int(r, &v, what));
        /* PSA_IOT_PROFILE_1 CDDL: "psa-no-sw-measurements-type = 1" */
        VMESH_ENSURE(v == 1, VMESH_ERR_PARSE, "PSA claims: %s must be 1, got %lld", what, (long long)v);
        c->no_sw_measurements = true;
        break;
    default:
        break;
    }
out:
    return rc;
}

/* Index of a known claim key in any profile, -1 otherwise. The boot seed
 * has two keys in the 2.0.0/TFM family (2397, 268): slot tells which. */
#define SLOT_BOOTSEED_268 CL__COUNT
#define NSLOTS (2 * CL__COUNT + 1)

static int key_slot(int64_t key)
{
    if (key == NO_KEY)
        return -1;
    if (key == 268)
        return SLOT_BOOTSEED_268;
    for (int cl = 0; cl < CL__COUNT; cl++) {
        if (claims_tab[cl].p1 == key)
            return CL__COUNT + 1 + cl;
        if (claims_tab[cl].p2 == key)
            return cl;
    }
    return -1;
}

/* The profile claim's text (no more than the longest profile name). */
static vmesh_err read_profile(vmesh_cbor *r, size_t off, const char *what, char **name)
{
    r->off = off;
    return vmesh_cbor_read_tstr_dup(r, VMESH_PSA_MAX_TEXT, name, what);
}

vmesh_err vmesh_psa_claims_decode(const uint8_t *cbor, size_t n, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    size_t slot_off[NSLOTS];
    bool slot_set[NSLOTS] = {false};
    uint64_t count = 0;
    int base;

    vmesh_psa_claims_free(c);
    VMESH_ENSURE(cbor != NULL && n > 0, VMESH_ERR_PARSE, "PSA claims: empty input");
    VMESH_ENSURE(n <= VMESH_PSA_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "PSA claims: %zu bytes, the limit is %d", n,
                 VMESH_PSA_MAX_TOKEN);
    /* RFC 9783 §5.1.1: "only definite-length string, arrays, and maps are
     * allowed": a cursor without VMESH_CBOR_INDEFINITE. */
    vmesh_cbor_init(&r, cbor, n, "PSA claims", 0);
    VMESH_GUARD(vmesh_cbor_read_map(&r, &count, UINT64_MAX, "the claims-set"));
    /* Pass 1: note where each known claim's value starts, skip the rest.
     * RFC 9783 §5.1.3: "the receiver MUST NOT error out on claims it does
     * not understand." */
    for (uint64_t i = 0; i < count; i++) {
        vmesh_cbor_head h;
        int slot = -1;

        VMESH_GUARD(vmesh_cbor_peek(&r, &h));
        if ((h.major == VMESH_CBOR_UINT || h.major == VMESH_CBOR_NEGINT) && h.arg <= (uint64_t)INT64_MAX)
            slot = key_slot(h.major == VMESH_CBOR_UINT ? (int64_t)h.arg : -1 - (int64_t)h.arg);
        if (slot < 0) {
            VMESH_GUARD(vmesh_cbor_skip(&r));
        } else {
            VMESH_GUARD(vmesh_cbor_read_head(&r, &h));
            VMESH_ENSURE(!slot_set[slot], VMESH_ERR_PARSE, "PSA claims: claim key %s%llu appears twice",
                         h.major == VMESH_CBOR_NEGINT ? "-" : "",
                         (unsigned long long)(h.major == VMESH_CBOR_NEGINT ? h.arg + 1 : h.arg));
            slot_set[slot] = true;
            slot_off[slot] = r.off;
        }
        VMESH_GUARD(vmesh_cbor_skip(&r));
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the claims map"));

    /* The profile decides the key set: eat_profile (265) when present,
     * otherwise PSA_IOT_PROFILE_1 (whose own profile claim is optional). */
    if (slot_set[CL_PROFILE]) {
        char *name = NULL;

        rc = read_profile(&r, slot_off[CL_PROFILE], "profile (key 265)", &name);
        if (rc == VMESH_OK)
            rc = vmesh_psa_profile_parse(name, &c->profile);
        free(name);
        if (rc != VMESH_OK)
            goto out;
        VMESH_ENSURE(c->profile != VMESH_PSA_PROFILE_1, VMESH_ERR_PARSE,
                     "PSA claims: profile (key 265) names %s, which uses claim key -75000",
                     VMESH_PSA_PROFILE_1_NAME);
        base = 0;
    } else {
        c->profile = VMESH_PSA_PROFILE_1;
        base = CL__COUNT + 1;
        if (slot_set[base + CL_PROFILE]) {
            char *name = NULL;

            rc = read_profile(&r, slot_off[base + CL_PROFILE], "profile (key -75000)", &name);
            if (rc == VMESH_OK && strcmp(name, VMESH_PSA_PROFILE_1_NAME) != 0)
                rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                                   "PSA claims: profile (key -75000) is \"%.100s\", expected \"%s\"", name,
                                   VMESH_PSA_PROFILE_1_NAME);
            free(name);
            VMESH_GUARD(rc);
            c->profile_present = true;
        }
    }
    for (int cl = 0; cl < CL__COUNT; cl++) {
        int slot = base + cl;

        if (cl == CL_PROFILE)
            continue;
        if (cl == CL_BOOTSEED && c->profile == VMESH_PSA_PROFILE_TFM) {
            /* RFC 9783 §4.3.2: "The EAT bootseed (claim key 268) is used."
             * Tokens from TF-M builds of the transition period carry 2397:
             * accepted, but not both. */
            VMESH_ENSURE(!(slot_set[SLOT_BOOTSEED_268] && slot_set[slot]), VMESH_ERR_PARSE,
                         "PSA claims: boot seed present under both key 268 and key 2397");
            if (slot_set[SLOT_BOOTSEED_268])
                slot = SLOT_BOOTSEED_268;
        }
        if (!slot_set[slot])
            continue;
        r.off = slot_off[slot];
        VMESH_GUARD(decode_claim(&r, cl, c));
    }
    VMESH_GUARD(vmesh_psa_claims_validate(c));
out:
    if (rc != VMESH_OK)
        vmesh_psa_claims_free(c);
    return rc;
}

/* ---- encoding ------------------------------------------------------------ */

static bool claim_present(const vmesh_psa_claims *c, int cl)
{
    switch (cl) {
    case CL_NONCE:
        return c->nonce_len > 0;
    case CL_INSTANCE:
        return c->instance_id_len > 0;
    case CL_PROFILE:
        return c->profile != VMESH_PSA_PROFILE_1 || c->profile_present;
    case CL_CLIENT:
        return c->client_id_present;
    case CL_LIFECYCLE:
        return c->security_lifecycle_present;
    case CL_IMPL:
        return c->implementation_id_len > 0;
    case CL_BOOTSEED:
        return c->boot_seed_len > 0;
    case CL_CERTREF:
        return c->certification_reference != NULL;
    case CL_SWCOMP:
        return c->sw_count > 0;
    case CL_NOSW:
        return c->no_sw_measurements;
    case CL_VSI:
        return c->verification_service != NULL;
    default:
        return false;
    }
}

static vmesh_err w_claim(vmesh_buf *b, const vmesh_psa_claims *c, int cl)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_put_int(b, claim_key(c->profile, cl)));
    switch (cl) {
    case CL_NONCE:
        rc = vmesh_cbor_put_bstr(b, c->nonce, c->nonce_len);
        break;
    case CL_INSTANCE:
        rc = vmesh_cbor_put_bstr(b, c->instance_id, c->instance_id_len);
        break;
    case CL_PROFILE:
        rc = vmesh_cbor_put_text(b, vmesh_psa_profile_name(c->profile));
        break;
    case CL_CLIENT:
        rc = vmesh_cbor_put_int(b, c->client_id);
        break;
    case CL_LIFECYCLE:
        rc = vmesh_cbor_put_int(b, c->security_lifecycle);
        break;
    case CL_IMPL:
        rc = vmesh_cbor_put_bstr(b, c->implementation_id, c->implementation_id_len);
        break;
    case CL_BOOTSEED:
        rc = vmesh_cbor_put_bstr(b, c->boot_seed, c->boot_seed_len);
        break;
    case CL_CERTREF:
        rc = vmesh_cbor_put_text(b, c->certification_reference);
        break;
    case CL_VSI:
        rc = vmesh_cbor_put_text(b, c->verification_service);
        break;
    case CL_NOSW:
        rc = vmesh_cbor_put_int(b, 1);
        break;
    case CL_SWCOMP:
        rc = vmesh_psa_sw_components_encode(c->sw, c->sw_count, b);
        break;
    default:
        break;
    }
out:
    return rc;
}

/* Encoded-key order of RFC 8949 §4.2.1 (core deterministic encoding):
 * "sorted in the bytewise lexicographic order of their deterministic
 * encodings"; for these keys that is positive keys ascending, then
 * negative keys by descending value. */
static int key_cmp(int64_t a, int64_t b)
{
    if ((a >= 0) != (b >= 0))
        return a >= 0 ? -1 : 1;
    if (a >= 0)
        return a < b ? -1 : a > b;
    return a > b ? -1 : a < b; /* -75000 (0x3a...f7) before -75001 */
}

vmesh_err vmesh_psa_claims_encode(const vmesh_psa_claims *c, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    int order[CL__COUNT];
    int count = 0;

    VMESH_GUARD(vmesh_psa_claims_validate(c));
    for (int cl = 0; cl < CL__COUNT; cl++) {
        if (!claim_present(c, cl) || claim_key(c->profile, cl) == NO_KEY)
            continue;
        int j = count++;
        while (j > 0 && key_cmp(claim_key(c->profile, cl), claim_key(c->profile, order[j - 1])) < 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = cl;
    }
    VMESH_GUARD(vmesh_cbor_put_map(out, (uint64_t)count));
    for (int i = 0; i < count; i++)
        VMESH_GUARD(w_claim(out, c, order[i]));
out:
    return rc;
}
