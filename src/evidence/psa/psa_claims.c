/*
 * PSA attestation token claims-set: strict CBOR decoding into
 * vmesh_psa_claims, per-profile validation with errors that name the claim,
 * and deterministic CBOR encoding. The reader is a small bounds-checked pull
 * parser (no tree is built, no length read from input is trusted before it
 * is checked against the bytes that remain), so a hostile payload can cost
 * no more than its own size. This file must never read past its input,
 * allocate on a declared length, or accept a claim it did not check.
 */
#include "psa_int.h"

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

/* ---- owned strings ------------------------------------------------------ */

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t b = s[i];
        size_t extra;
        uint32_t cp;

        if (b == 0)
            return false;
        if (b < 0x80) {
            i++;
            continue;
        }
        if ((b & 0xe0) == 0xc0) {
            extra = 1;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            extra = 2;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            extra = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        /* no overlong forms, no surrogates, nothing past U+10FFFF */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

vmesh_err vmesh_psa_text_dup(const char *p, size_t n, const char *what, char **out)
{
    char *s;

    if (n > VMESH_PSA_MAX_TEXT)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "PSA claims: %s is %zu bytes long, the limit is %d",
                             what, n, VMESH_PSA_MAX_TEXT);
    if (!utf8_valid((const uint8_t *)p, n))
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims: %s is not valid UTF-8 text (or contains NUL)",
                             what);
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

vmesh_err vmesh_psa_claims_add_sw(vmesh_psa_claims *c, vmesh_psa_sw_component **out)
{
    vmesh_psa_sw_component *n;

    if (c->sw_count >= VMESH_PSA_MAX_SW_COMPONENTS)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "PSA claims: more than %d software components",
                             VMESH_PSA_MAX_SW_COMPONENTS);
    n = realloc(c->sw, (c->sw_count + 1) * sizeof(*n));
    if (n == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    c->sw = n;
    memset(&n[c->sw_count], 0, sizeof(*n));
    *out = &n[c->sw_count++];
    return VMESH_OK;
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

static vmesh_err dup_opt(const char *s, const char *what, char **out)
{
    if (s == NULL)
        return VMESH_OK;
    return vmesh_psa_text_dup(s, strlen(s), what, out);
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
        memcpy(sc->measurement_value, s->measurement_value, sizeof(sc->measurement_value));
        sc->measurement_value_len = s->measurement_value_len;
        memcpy(sc->signer_id, s->signer_id, sizeof(sc->signer_id));
        sc->signer_id_len = s->signer_id_len;
        VMESH_GUARD(dup_opt(s->measurement_type, "measurement-type", &sc->measurement_type));
        VMESH_GUARD(dup_opt(s->version, "version", &sc->version));
        VMESH_GUARD(dup_opt(s->measurement_desc, "measurement-desc", &sc->measurement_desc));
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

/* ---- CBOR reader ----------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
    size_t off;
} rd;

enum { MT_UINT, MT_NEGINT, MT_BSTR, MT_TSTR, MT_ARRAY, MT_MAP, MT_TAG, MT_SIMPLE };

static const char *const mt_names[] = {"unsigned integer", "negative integer", "byte string",
                                       "text string",      "array",            "map",
                                       "tag",              "simple value/float"};

#define MAX_DEPTH 16

/* Reads one item head. RFC 9783 §5.1.1: "only definite-length string,
 * arrays, and maps are allowed", so indefinite lengths are refused. */
static vmesh_err rd_head(rd *r, unsigned *mt, uint64_t *val)
{
    uint8_t ib, ai;
    size_t need;
    uint64_t v = 0;

    if (r->off >= r->n)
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims: CBOR truncated at offset %zu", r->off);
    ib = r->p[r->off];
    *mt = ib >> 5;
    ai = ib & 0x1f;
    if (ai < 24) {
        r->off++;
        *val = ai;
        return VMESH_OK;
    }
    if (ai > 27)
        return vmesh_err_set(VMESH_ERR_PARSE,
                             "PSA claims: CBOR item at offset %zu has %s (only definite lengths are allowed)",
                             r->off, ai == 31 ? "an indefinite length" : "a reserved length encoding");
    need = (size_t)1 << (ai - 24);
    if (r->n - r->off - 1 < need)
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims: CBOR truncated at offset %zu", r->off);
    for (size_t i = 0; i < need; i++)
        v = v << 8 | r->p[r->off + 1 + i];
    r->off += 1 + need;
    *val = v;
    return VMESH_OK;
}

static size_t rd_left(const rd *r)
{
    return r->n - r->off;
}

static vmesh_err rd_skip(rd *r, int depth)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_ENSURE(depth < MAX_DEPTH, VMESH_ERR_PARSE, "PSA claims: CBOR nested deeper than %d levels",
                 MAX_DEPTH);
    VMESH_GUARD(rd_head(r, &mt, &v));
    switch (mt) {
    case MT_BSTR:
    case MT_TSTR:
        VMESH_ENSURE(v <= rd_left(r), VMESH_ERR_PARSE, "PSA claims: CBOR string truncated at offset %zu",
                     r->off);
        r->off += (size_t)v;
        break;
    case MT_ARRAY:
    case MT_MAP:
        /* every item takes at least one byte: a count larger than what
         * remains cannot be honest */
        VMESH_ENSURE(v <= rd_left(r) / (mt == MT_MAP ? 2 : 1), VMESH_ERR_PARSE,
                     "PSA claims: CBOR %s at offset %zu declares %llu items, more than the input holds",
                     mt_names[mt], r->off, (unsigned long long)v);
        for (uint64_t i = 0; i < v * (mt == MT_MAP ? 2 : 1); i++)
            VMESH_GUARD(rd_skip(r, depth + 1));
        break;
    case MT_TAG:
        VMESH_GUARD(rd_skip(r, depth + 1));
        break;
    default:
        break; /* ints and simple values: the head was all */
    }
out:
    return rc;
}

static vmesh_err want(unsigned mt, unsigned expected, const char *what)
{
    if (mt != expected)
        return vmesh_err_set(VMESH_ERR_PARSE, "PSA claims: %s is a %s, expected a %s", what, mt_names[mt],
                             mt_names[expected]);
    return VMESH_OK;
}

static vmesh_err rd_string(rd *r, unsigned expected, const char *what, const uint8_t **p, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_GUARD(rd_head(r, &mt, &v));
    VMESH_GUARD(want(mt, expected, what));
    VMESH_ENSURE(v <= rd_left(r), VMESH_ERR_PARSE, "PSA claims: %s is truncated", what);
    *p = r->p + r->off;
    *n = (size_t)v;
    r->off += (size_t)v;
out:
    return rc;
}

/* A byte claim of fixed capacity: refuses more than cap bytes. Exact size
 * rules are checked by vmesh_psa_claims_validate, so the message names the
 * claim and the size found. */
static vmesh_err rd_bytes_into(rd *r, const char *what, uint8_t *dst, size_t cap, size_t *len)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *p = NULL;
    size_t n = 0;

    VMESH_GUARD(rd_string(r, MT_BSTR, what, &p, &n));
    VMESH_ENSURE(n <= cap, VMESH_ERR_PARSE, "PSA claims: %s is %zu bytes, longer than the %zu allowed", what,
                 n, cap);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "PSA claims: %s is empty", what);
    memcpy(dst, p, n);
    *len = n;
out:
    return rc;
}

static vmesh_err rd_text(rd *r, const char *what, char **out)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *p = NULL;
    size_t n = 0;

    VMESH_GUARD(rd_string(r, MT_TSTR, what, &p, &n));
    VMESH_GUARD(vmesh_psa_text_dup((const char *)p, n, what, out));
out:
    return rc;
}

/* Any CBOR integer into int64 (refuses values outside int64). */
static vmesh_err rd_int(rd *r, const char *what, int64_t *out)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t v = 0;

    VMESH_GUARD(rd_head(r, &mt, &v));
    VMESH_ENSURE(mt == MT_UINT || mt == MT_NEGINT, VMESH_ERR_PARSE, "PSA claims: %s is a %s, expected an integer",
                 what, mt_names[mt]);
    VMESH_ENSURE(v <= (uint64_t)INT64_MAX, VMESH_ERR_PARSE, "PSA claims: %s is out of range", what);
    *out = mt == MT_UINT ? (int64_t)v : -1 - (int64_t)v;
out:
    return rc;
}

/* ---- decoding ------------------------------------------------------------ */

static vmesh_err decode_component(rd *r, size_t idx, vmesh_psa_sw_component *sc)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0, seen = 0;
    uint64_t count = 0;
    char what[64];

    snprintf(what, sizeof(what), "software component %zu", idx);
    VMESH_GUARD(rd_head(r, &mt, &count));
    VMESH_GUARD(want(mt, MT_MAP, what));
    VMESH_ENSURE(count <= rd_left(r) / 2, VMESH_ERR_PARSE, "PSA claims: %s declares more entries than the input holds",
                 what);
    for (uint64_t i = 0; i < count; i++) {
        size_t key_off = r->off;
        int64_t key;
        unsigned kmt = 0;
        uint64_t kv = 0;

        VMESH_GUARD(rd_head(r, &kmt, &kv));
        if (kmt != MT_UINT || kv > 6) {
            /* an attribute we do not know: skip key and value */
            r->off = key_off;
            VMESH_GUARD(rd_skip(r, 2));
            VMESH_GUARD(rd_skip(r, 2));
            continue;
        }
        key = (int64_t)kv;
        VMESH_ENSURE(!(seen & (1u << key)), VMESH_ERR_PARSE, "PSA claims: %s has key %lld twice", what,
                     (long long)key);
        seen |= 1u << key;
        snprintf(what, sizeof(what), "software component %zu attribute %lld", idx, (long long)key);
        switch (key) {
        case 1:
            VMESH_GUARD(rd_text(r, "measurement-type", &sc->measurement_type));
            break;
        case 2:
            VMESH_GUARD(rd_bytes_into(r, "measurement-value", sc->measurement_value,
                                      sizeof(sc->measurement_value), &sc->measurement_value_len));
            break;
        case 4:
            VMESH_GUARD(rd_text(r, "version", &sc->version));
            break;
        case 5:
            VMESH_GUARD(rd_bytes_into(r, "signer-id", sc->signer_id, sizeof(sc->signer_id),
                                      &sc->signer_id_len));
            break;
        case 6:
            VMESH_GUARD(rd_text(r, "measurement-desc", &sc->measurement_desc));
            break;
        default:
            VMESH_GUARD(rd_skip(r, 2));
            break;
        }
        snprintf(what, sizeof(what), "software component %zu", idx);
    }
out:
    return rc;
}

static vmesh_err decode_components(rd *r, const char *what, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    unsigned mt = 0;
    uint64_t count = 0;

    VMESH_GUARD(rd_head(r, &mt, &count));
    VMESH_GUARD(want(mt, MT_ARRAY, what));
    VMESH_ENSURE(count <= VMESH_PSA_MAX_SW_COMPONENTS, VMESH_ERR_TOO_LARGE,
                 "PSA claims: %s has %llu entries, the limit is %d", what, (unsigned long long)count,
                 VMESH_PSA_MAX_SW_COMPONENTS);
    for (uint64_t i = 0; i < count; i++) {
        vmesh_psa_sw_component *sc;

        VMESH_GUARD(vmesh_psa_claims_add_sw(c, &sc));
        VMESH_GUARD(decode_component(r, (size_t)i, sc));
    }
out:
    return rc;
}

/* Reads the claim whose value starts at r->off into c. */
static vmesh_err decode_claim(rd *r, int cl, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    char what[64];
    int64_t v = 0;

    snprintf(what, sizeof(what), "%s (key %lld)", claims_tab[cl].name, (long long)claim_key(c->profile, cl));
    switch (cl) {
    case CL_NONCE: {
        unsigned mt = 0;
        uint64_t dummy = 0;
        size_t save = r->off;

        VMESH_GUARD(rd_head(r, &mt, &dummy));
        /* §4.1.1: "The array notation MUST NOT be used for encoding the nonce value." */
        VMESH_ENSURE(mt != MT_ARRAY, VMESH_ERR_PARSE,
                     "PSA claims: %s is an array; only a single nonce is allowed", what);
        r->off = save;
        VMESH_GUARD(rd_bytes_into(r, what, c->nonce, sizeof(c->nonce), &c->nonce_len));
        break;
    }
    case CL_INSTANCE:
        VMESH_GUARD(rd_bytes_into(r, what, c->instance_id, sizeof(c->instance_id), &c->instance_id_len));
        break;
    case CL_IMPL:
        VMESH_GUARD(rd_bytes_into(r, what, c->implementation_id, sizeof(c->implementation_id),
                                  &c->implementation_id_len));
        break;
    case CL_BOOTSEED:
        VMESH_GUARD(rd_bytes_into(r, what, c->boot_seed, sizeof(c->boot_seed), &c->boot_seed_len));
        break;
    case CL_CLIENT:
        VMESH_GUARD(rd_int(r, what, &v));
        VMESH_ENSURE(v >= INT32_MIN && v <= INT32_MAX, VMESH_ERR_PARSE,
                     "PSA claims: %s value %lld does not fit in 32 bits", what, (long long)v);
        c->client_id = (int32_t)v;
        c->client_id_present = true;
        break;
    case CL_LIFECYCLE:
        VMESH_GUARD(rd_int(r, what, &v));
        VMESH_ENSURE(v >= 0 && v <= 0xffff, VMESH_ERR_PARSE,
                     "PSA claims: %s value %lld is not a 16-bit unsigned integer", what, (long long)v);
        c->security_lifecycle = (uint16_t)v;
        c->security_lifecycle_present = true;
        break;
    case CL_CERTREF:
        VMESH_GUARD(rd_text(r, what, &c->certification_reference));
        break;
    case CL_VSI:
        VMESH_GUARD(rd_text(r, what, &c->verification_service));
        break;
    case CL_SWCOMP:
        VMESH_GUARD(decode_components(r, what, c));
        break;
    case CL_NOSW:
        VMESH_GUARD(rd_int(r, what, &v));
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

vmesh_err vmesh_psa_claims_decode(const uint8_t *cbor, size_t n, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    rd r = {cbor, n, 0};
    size_t slot_off[NSLOTS];
    bool slot_set[NSLOTS] = {false};
    unsigned mt = 0;
    uint64_t count = 0;
    int base;

    vmesh_psa_claims_free(c);
    VMESH_ENSURE(cbor != NULL && n > 0, VMESH_ERR_PARSE, "PSA claims: empty input");
    VMESH_ENSURE(n <= VMESH_PSA_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "PSA claims: %zu bytes, the limit is %d", n,
                 VMESH_PSA_MAX_TOKEN);
    VMESH_GUARD(rd_head(&r, &mt, &count));
    VMESH_GUARD(want(mt, MT_MAP, "the claims-set"));
    VMESH_ENSURE(count <= rd_left(&r) / 2, VMESH_ERR_PARSE,
                 "PSA claims: the claims map declares %llu entries, more than the input holds",
                 (unsigned long long)count);
    /* Pass 1: note where each known claim's value starts, skip the rest.
     * RFC 9783 §5.1.3: "the receiver MUST NOT error out on claims it does
     * not understand." */
    for (uint64_t i = 0; i < count; i++) {
        size_t key_off = r.off;
        unsigned kmt = 0;
        uint64_t kv = 0;
        int slot = -1;

        VMESH_GUARD(rd_head(&r, &kmt, &kv));
        if ((kmt == MT_UINT || kmt == MT_NEGINT) && kv <= (uint64_t)INT64_MAX)
            slot = key_slot(kmt == MT_UINT ? (int64_t)kv : -1 - (int64_t)kv);
        if (slot < 0) {
            r.off = key_off;
            VMESH_GUARD(rd_skip(&r, 1));
        } else {
            VMESH_ENSURE(!slot_set[slot], VMESH_ERR_PARSE, "PSA claims: claim key %s%llu appears twice",
                         kmt == MT_NEGINT ? "-" : "", (unsigned long long)(kmt == MT_NEGINT ? kv + 1 : kv));
            slot_set[slot] = true;
            slot_off[slot] = r.off;
        }
        VMESH_GUARD(rd_skip(&r, 1));
    }
    VMESH_ENSURE(r.off == n, VMESH_ERR_PARSE, "PSA claims: %zu trailing bytes after the claims map", n - r.off);

    /* The profile decides the key set: eat_profile (265) when present,
     * otherwise PSA_IOT_PROFILE_1 (whose own profile claim is optional). */
    if (slot_set[CL_PROFILE]) {
        char *name = NULL;

        r.off = slot_off[CL_PROFILE];
        rc = rd_text(&r, "profile (key 265)", &name);
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

            r.off = slot_off[base + CL_PROFILE];
            rc = rd_text(&r, "profile (key -75000)", &name);
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

static vmesh_err w_head(vmesh_buf *b, unsigned mt, uint64_t v)
{
    uint8_t h[9];
    size_t n;

    if (v < 24) {
        h[0] = (uint8_t)(mt << 5 | v);
        n = 1;
    } else if (v <= 0xff) {
        h[0] = (uint8_t)(mt << 5 | 24);
        h[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xffff) {
        h[0] = (uint8_t)(mt << 5 | 25);
        h[1] = (uint8_t)(v >> 8);
        h[2] = (uint8_t)v;
        n = 3;
    } else if (v <= 0xffffffffu) {
        h[0] = (uint8_t)(mt << 5 | 26);
        for (int i = 0; i < 4; i++)
            h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
        n = 5;
    } else {
        h[0] = (uint8_t)(mt << 5 | 27);
        for (int i = 0; i < 8; i++)
            h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        n = 9;
    }
    return vmesh_buf_append(b, h, n);
}

static vmesh_err w_int(vmesh_buf *b, int64_t v)
{
    return v >= 0 ? w_head(b, MT_UINT, (uint64_t)v) : w_head(b, MT_NEGINT, (uint64_t)(-1 - v));
}

static vmesh_err w_bstr(vmesh_buf *b, const uint8_t *p, size_t n)
{
    vmesh_err rc = w_head(b, MT_BSTR, n);

    return rc == VMESH_OK ? vmesh_buf_append(b, p, n) : rc;
}

static vmesh_err w_tstr(vmesh_buf *b, const char *s)
{
    size_t n = strlen(s);
    vmesh_err rc = w_head(b, MT_TSTR, n);

    return rc == VMESH_OK ? vmesh_buf_append(b, s, n) : rc;
}

static vmesh_err w_component(vmesh_buf *b, const vmesh_psa_sw_component *sc)
{
    vmesh_err rc = VMESH_OK;
    uint64_t n = 2 + (sc->measurement_type != NULL) + (sc->version != NULL) + (sc->measurement_desc != NULL);

    VMESH_GUARD(w_head(b, MT_MAP, n));
    if (sc->measurement_type) {
        VMESH_GUARD(w_int(b, 1));
        VMESH_GUARD(w_tstr(b, sc->measurement_type));
    }
    VMESH_GUARD(w_int(b, 2));
    VMESH_GUARD(w_bstr(b, sc->measurement_value, sc->measurement_value_len));
    if (sc->version) {
        VMESH_GUARD(w_int(b, 4));
        VMESH_GUARD(w_tstr(b, sc->version));
    }
    VMESH_GUARD(w_int(b, 5));
    VMESH_GUARD(w_bstr(b, sc->signer_id, sc->signer_id_len));
    if (sc->measurement_desc) {
        VMESH_GUARD(w_int(b, 6));
        VMESH_GUARD(w_tstr(b, sc->measurement_desc));
    }
out:
    return rc;
}

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

    VMESH_GUARD(w_int(b, claim_key(c->profile, cl)));
    switch (cl) {
    case CL_NONCE:
        rc = w_bstr(b, c->nonce, c->nonce_len);
        break;
    case CL_INSTANCE:
        rc = w_bstr(b, c->instance_id, c->instance_id_len);
        break;
    case CL_PROFILE:
        rc = w_tstr(b, vmesh_psa_profile_name(c->profile));
        break;
    case CL_CLIENT:
        rc = w_int(b, c->client_id);
        break;
    case CL_LIFECYCLE:
        rc = w_int(b, c->security_lifecycle);
        break;
    case CL_IMPL:
        rc = w_bstr(b, c->implementation_id, c->implementation_id_len);
        break;
    case CL_BOOTSEED:
        rc = w_bstr(b, c->boot_seed, c->boot_seed_len);
        break;
    case CL_CERTREF:
        rc = w_tstr(b, c->certification_reference);
        break;
    case CL_VSI:
        rc = w_tstr(b, c->verification_service);
        break;
    case CL_NOSW:
        rc = w_int(b, 1);
        break;
    case CL_SWCOMP:
        VMESH_GUARD(w_head(b, MT_ARRAY, c->sw_count));
        for (size_t i = 0; i < c->sw_count; i++)
            VMESH_GUARD(w_component(b, &c->sw[i]));
        break;
    default:
        break;
    }
out:
    return rc;
}

/* Encoded-key order of RFC 8949 §4.2.1 (core deterministic encoding):
 * shorter encodings first, then bytewise; for these keys that is positive
 * keys ascending, then negative keys by descending value. */
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
    VMESH_GUARD(w_head(out, MT_MAP, (uint64_t)count));
    for (int i = 0; i < count; i++)
        VMESH_GUARD(w_claim(out, c, order[i]));
out:
    return rc;
}
