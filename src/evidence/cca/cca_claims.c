/*
 * CCA platform and realm claims-sets: strict CBOR decoding into plain
 * structs, validation that names the claim at fault, and deterministic
 * encoding. Claim keys and sizes follow veraison/ccatoken (platform
 * ClaimsV1, realm Claims) and the Arm CCA Security Model / RMM
 * specification they implement. This file must never accept a claim it
 * did not check, nor read past its input.
 */
#include "vmesh/cca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Platform claim keys (ccatoken platform/claims_v1.go). */
enum {
    PK_CHALLENGE = 10,
    PK_INSTANCE = 256,
    PK_PROFILE = 265,
    PK_LIFECYCLE = 2395,
    PK_IMPL = 2396,
    PK_SW = 2399,
    PK_VSI = 2400,
    PK_CONFIG = 2401,
    PK_HASHALG = 2402,
};
/* Realm claim keys (ccatoken realm/claims.go). */
enum {
    RK_CHALLENGE = 10,
    RK_PROFILE = 265,
    RK_RPV = 44235,
    RK_HASHALG = 44236,
    RK_RAK = 44237,
    RK_RIM = 44238,
    RK_REMS = 44239,
    RK_RAK_HASHALG = 44240,
};

/* ---- lifecycle and profiles ---------------------------------------------- */

/* ccatoken platform/lifecycle.go: ranges 0x0000-0x00ff unknown,
 * 0x1000-0x10ff assembly-and-test, ..., 0x6000-0x60ff decommissioned. */
const char *vmesh_cca_lifecycle_name(uint16_t v)
{
    static const char *const names[] = {"unknown",
                                        "assembly-and-test",
                                        "cca-platform-rot-provisioning",
                                        "secured",
                                        "non-cca-platform-rot-debug",
                                        "recoverable-cca-platform-rot-debug",
                                        "decommissioned"};
    unsigned major = v >> 8;

    if ((major & 0x0f) != 0 || (major >> 4) > 6)
        return NULL;
    return names[major >> 4];
}

const char *vmesh_cca_platform_profile_name(vmesh_cca_platform_profile p)
{
    switch (p) {
    case VMESH_CCA_PLATFORM_PROFILE_2023:
        return VMESH_CCA_PLATFORM_PROFILE_NAME;
    case VMESH_CCA_PLATFORM_PROFILE_SSD:
        return VMESH_CCA_PLATFORM_PROFILE_SSD_NAME;
    default:
        return NULL;
    }
}

/* ---- memory ---------------------------------------------------------------- */

void vmesh_cca_claims_init(vmesh_cca_claims *c)
{
    memset(c, 0, sizeof(*c));
}

static void platform_free(vmesh_cca_platform_claims *p)
{
    for (size_t i = 0; i < p->sw_count; i++)
        vmesh_psa_sw_component_clear(&p->sw[i]);
    free(p->sw);
    free(p->config);
    free(p->verification_service);
    free(p->hash_algo);
    memset(p, 0, sizeof(*p));
}

static void realm_free(vmesh_cca_realm_claims *r)
{
    free(r->hash_algo);
    free(r->rak_hash_algo);
    memset(r, 0, sizeof(*r));
}

void vmesh_cca_claims_free(vmesh_cca_claims *c)
{
    if (c == NULL)
        return;
    platform_free(&c->platform);
    realm_free(&c->realm);
}

vmesh_err vmesh_cca_platform_add_sw(vmesh_cca_platform_claims *p, vmesh_psa_sw_component **out)
{
    return vmesh_psa_sw_append(&p->sw, &p->sw_count, VMESH_CCA_MAX_SW_COMPONENTS, "CCA platform claims", out);
}

static vmesh_err dup_opt(const char *s, const char *what, char **out)
{
    *out = NULL;
    if (s == NULL)
        return VMESH_OK;
    return vmesh_psa_text_dup("CCA claims", s, strlen(s), what, out);
}

vmesh_err vmesh_cca_claims_copy(vmesh_cca_claims *dst, const vmesh_cca_claims *src)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cca_claims t;

    t = *src;
    t.platform.sw = NULL;
    t.platform.sw_count = 0;
    t.platform.config = NULL;
    t.platform.verification_service = NULL;
    t.platform.hash_algo = NULL;
    t.realm.hash_algo = NULL;
    t.realm.rak_hash_algo = NULL;
    if (src->platform.config_len > 0) {
        t.platform.config = malloc(src->platform.config_len);
        VMESH_ENSURE(t.platform.config != NULL, VMESH_ERR_NOMEM, "out of memory");
        memcpy(t.platform.config, src->platform.config, src->platform.config_len);
    }
    VMESH_GUARD(dup_opt(src->platform.verification_service, "verification service", &t.platform.verification_service));
    VMESH_GUARD(dup_opt(src->platform.hash_algo, "platform hash algorithm", &t.platform.hash_algo));
    VMESH_GUARD(dup_opt(src->realm.hash_algo, "realm hash algorithm", &t.realm.hash_algo));
    VMESH_GUARD(dup_opt(src->realm.rak_hash_algo, "RAK hash algorithm", &t.realm.rak_hash_algo));
    for (size_t i = 0; i < src->platform.sw_count; i++) {
        vmesh_psa_sw_component *sc;
        const vmesh_psa_sw_component *s = &src->platform.sw[i];

        VMESH_GUARD(vmesh_cca_platform_add_sw(&t.platform, &sc));
        VMESH_GUARD(vmesh_psa_sw_component_copy(sc, s));
    }
    vmesh_cca_claims_free(dst);
    *dst = t;
    vmesh_cca_claims_init(&t);
out:
    vmesh_cca_claims_free(&t);
    return rc;
}

/* ---- validation -------------------------------------------------------------- */

static bool hash_len(size_t n)
{
    return n == 32 || n == 48 || n == 64;
}

vmesh_err vmesh_cca_platform_validate(const vmesh_cca_platform_claims *p)
{
    vmesh_err rc = VMESH_OK;

#define PFAIL(...) VMESH_FAIL(VMESH_ERR_PARSE, "CCA platform claims: " __VA_ARGS__)
    if (p->profile != VMESH_CCA_PLATFORM_PROFILE_2023 && p->profile != VMESH_CCA_PLATFORM_PROFILE_SSD)
        PFAIL("profile (key 265) is missing");
    if (p->challenge_len == 0)
        PFAIL("challenge (key 10) is missing");
    if (!hash_len(p->challenge_len))
        PFAIL("challenge (key 10) is %zu bytes, expected 32, 48 or 64", p->challenge_len);
    if (p->implementation_id_len == 0)
        PFAIL("implementation id (key 2396) is missing");
    if (p->implementation_id_len != 32)
        PFAIL("implementation id (key 2396) is %zu bytes, expected 32", p->implementation_id_len);
    if (p->instance_id_len == 0)
        PFAIL("instance id (key 256) is missing");
    if (p->instance_id_len != 33 || p->instance_id[0] != 0x01)
        PFAIL("instance id (key 256) must be 33 bytes starting with 0x01 (RAND UEID), got %zu bytes starting "
              "with 0x%02x",
              p->instance_id_len, p->instance_id[0]);
    if (!p->config_present)
        PFAIL("config (key 2401) is missing");
    if (p->config_len > VMESH_CCA_MAX_CONFIG)
        PFAIL("config (key 2401) is %zu bytes, the limit is %d", p->config_len, VMESH_CCA_MAX_CONFIG);
    if (!p->lifecycle_present)
        PFAIL("lifecycle (key 2395) is missing");
    if (vmesh_cca_lifecycle_name(p->lifecycle) == NULL)
        PFAIL("lifecycle (key 2395) value 0x%04x is in no lifecycle state range", p->lifecycle);
    if (p->sw_count == 0)
        PFAIL("software components (key 2399) are missing or empty (at least one is required)");
    for (size_t i = 0; i < p->sw_count; i++) {
        const vmesh_psa_sw_component *sc = &p->sw[i];

        if (!hash_len(sc->measurement_value_len))
            PFAIL("software component %zu: measurement-value (key 2) is %s%zu bytes, expected 32, 48 or 64", i,
                  sc->measurement_value_len ? "" : "missing: ", sc->measurement_value_len);
        if (!hash_len(sc->signer_id_len))
            PFAIL("software component %zu: signer-id (key 5) is %s%zu bytes, expected 32, 48 or 64", i,
                  sc->signer_id_len ? "" : "missing: ", sc->signer_id_len);
    }
    if (p->verification_service != NULL && p->verification_service[0] == '\0')
        PFAIL("verification service indicator (key 2400) is empty");
    if (p->hash_algo == NULL || p->hash_algo[0] == '\0')
        PFAIL("hash algorithm id (key 2402) is missing or empty");
#undef PFAIL
out:
    return rc;
}

vmesh_err vmesh_cca_realm_validate(const vmesh_cca_realm_claims *r)
{
    vmesh_err rc = VMESH_OK;

#define RFAIL(...) VMESH_FAIL(VMESH_ERR_PARSE, "CCA realm claims: " __VA_ARGS__)
    if (r->challenge_len != 64)
        RFAIL("challenge (key 10) is %s%zu bytes, expected 64", r->challenge_len ? "" : "missing: ",
              r->challenge_len);
    if (r->personalization_len != 64)
        RFAIL("personalization value (key 44235) is %s%zu bytes, expected 64",
              r->personalization_len ? "" : "missing: ", r->personalization_len);
    if (!hash_len(r->rim_len))
        RFAIL("initial measurement (key 44238) is %s%zu bytes, expected 32, 48 or 64",
              r->rim_len ? "" : "missing: ", r->rim_len);
    if (r->rem_count != VMESH_CCA_NUM_REMS)
        RFAIL("extensible measurements (key 44239) has %zu entries, expected exactly %d", r->rem_count,
              VMESH_CCA_NUM_REMS);
    for (size_t i = 0; i < VMESH_CCA_NUM_REMS; i++)
        if (!hash_len(r->rem_len[i]))
            RFAIL("extensible measurement %zu (key 44239) is %zu bytes, expected 32, 48 or 64", i, r->rem_len[i]);
    if (r->hash_algo == NULL || r->hash_algo[0] == '\0')
        RFAIL("hash algorithm id (key 44236) is missing or empty");
    if (r->rak_len == 0)
        RFAIL("public key (key 44237) is missing");
    /* ccatoken realm/common.go: without a profile the RAK "MUST be 97
     * bytes" (an uncompressed P-384 point). */
    if (r->profile == VMESH_CCA_REALM_PROFILE_LEGACY && (r->rak_len != 97 || r->rak[0] != 0x04))
        RFAIL("public key (key 44237) of a realm token without profile must be a 97-byte uncompressed P-384 "
              "point, got %zu bytes",
              r->rak_len);
    if (r->rak_hash_algo == NULL || r->rak_hash_algo[0] == '\0')
        RFAIL("public key hash algorithm id (key 44240) is missing or empty");
#undef RFAIL
out:
    return rc;
}

/* ---- decoding ----------------------------------------------------------------- */

/* A profile string: name -> enum via the table given. */
static vmesh_err read_platform_profile(vmesh_cbor *r, vmesh_cca_platform_profile *out)
{
    vmesh_err rc = VMESH_OK;
    const char *s = NULL;
    size_t n = 0;

    VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_CCA_MAX_TEXT, &s, &n, "profile (key 265)"));
    if (n == strlen(VMESH_CCA_PLATFORM_PROFILE_NAME) && memcmp(s, VMESH_CCA_PLATFORM_PROFILE_NAME, n) == 0)
        *out = VMESH_CCA_PLATFORM_PROFILE_2023;
    else if (n == strlen(VMESH_CCA_PLATFORM_PROFILE_SSD_NAME) &&
             memcmp(s, VMESH_CCA_PLATFORM_PROFILE_SSD_NAME, n) == 0)
        *out = VMESH_CCA_PLATFORM_PROFILE_SSD;
    else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "%s: profile \"%.*s\" is not supported (expected \"%s\" or \"%s\")",
                   r->what, (int)(n > 100 ? 100 : n), s, VMESH_CCA_PLATFORM_PROFILE_NAME,
                   VMESH_CCA_PLATFORM_PROFILE_SSD_NAME);
out:
    return rc;
}

/* Bit index of a known key in a small "seen" mask, -1 for unknown keys. */
static int platform_bit(int64_t k)
{
    static const int64_t keys[] = {PK_CHALLENGE, PK_INSTANCE, PK_PROFILE, PK_LIFECYCLE, PK_IMPL,
                                   PK_SW,        PK_VSI,      PK_CONFIG,  PK_HASHALG};
    for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
        if (keys[i] == k)
            return i;
    return -1;
}

static vmesh_err map_open(vmesh_cbor *r, uint64_t *count)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(r->p != NULL && r->n > 0, VMESH_ERR_PARSE, "%s: empty input", r->what);
    VMESH_ENSURE(r->n <= VMESH_CCA_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "%s: %zu bytes, the limit is %d", r->what, r->n,
                 VMESH_CCA_MAX_TOKEN);
    VMESH_GUARD(vmesh_cbor_read_map(r, count, UINT64_MAX, "the claims-set"));
out:
    return rc;
}

vmesh_err vmesh_cca_platform_decode(const uint8_t *p, size_t n, vmesh_cca_platform_claims *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count = 0;
    unsigned seen = 0;

    platform_free(c);
    /* definite lengths only, as RFC 9783 §5.1.1 asks of the PSA token
     * this profile derives from */
    vmesh_cbor_init(&r, p, n, "CCA platform claims", 0);
    VMESH_GUARD(map_open(&r, &count));
    for (uint64_t i = 0; i < count; i++) {
        int64_t key = 0;
        bool is_int = false;
        int bit;
        int64_t v = 0;

        VMESH_GUARD(vmesh_cbor_read_int_key(&r, &key, &is_int));
        bit = is_int ? platform_bit(key) : -1;
        if (bit < 0) {
            /* unknown claims are ignored, as RFC 9783 §5.1.3 asks of the
             * PSA token this profile derives from */
            VMESH_GUARD(vmesh_cbor_skip(&r));
            continue;
        }
        VMESH_ENSURE(!(seen & (1u << bit)), VMESH_ERR_PARSE, "%s: claim key %lld appears twice", r.what,
                     (long long)key);
        seen |= 1u << bit;
        switch (key) {
        case PK_PROFILE:
            VMESH_GUARD(read_platform_profile(&r, &c->profile));
            break;
        case PK_CHALLENGE:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "challenge (key 10)", c->challenge, sizeof(c->challenge),
                                     &c->challenge_len));
            break;
        case PK_IMPL:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "implementation id (key 2396)", c->implementation_id,
                                     sizeof(c->implementation_id), &c->implementation_id_len));
            break;
        case PK_INSTANCE:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "instance id (key 256)", c->instance_id, sizeof(c->instance_id),
                                     &c->instance_id_len));
            break;
        case PK_CONFIG: {
            const uint8_t *s = NULL;
            size_t sn = 0;

            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_CCA_MAX_CONFIG, &s, &sn, "config (key 2401)"));
            if (sn > 0) {
                c->config = malloc(sn);
                VMESH_ENSURE(c->config != NULL, VMESH_ERR_NOMEM, "out of memory");
                memcpy(c->config, s, sn);
            }
            c->config_len = sn;
            c->config_present = true;
            break;
        }
        case PK_LIFECYCLE:
            VMESH_GUARD(vmesh_cbor_read_int(&r, &v, "lifecycle (key 2395)"));
            VMESH_ENSURE(v >= 0 && v <= 0xffff, VMESH_ERR_PARSE,
                         "%s: lifecycle (key 2395) value %lld is not a 16-bit unsigned integer", r.what, (long long)v);
            c->lifecycle = (uint16_t)v;
            c->lifecycle_present = true;
            break;
        case PK_SW:
            VMESH_GUARD(vmesh_psa_sw_components_decode(&r, "software components (key 2399)",
                                                       VMESH_CCA_MAX_SW_COMPONENTS, &c->sw, &c->sw_count));
            break;
        case PK_VSI:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(&r, VMESH_CCA_MAX_TEXT, &c->verification_service,
                                                 "verification service indicator (key 2400)"));
            break;
        case PK_HASHALG:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(&r, VMESH_CCA_MAX_TEXT, &c->hash_algo, "hash algorithm id (key 2402)"));
            break;
        default:
            VMESH_GUARD(vmesh_cbor_skip(&r));
            break;
        }
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the claims map"));
    VMESH_GUARD(vmesh_cca_platform_validate(c));
out:
    if (rc != VMESH_OK)
        platform_free(c);
    return rc;
}

static int realm_bit(int64_t k)
{
    static const int64_t keys[] = {RK_CHALLENGE, RK_PROFILE, RK_RPV, RK_HASHALG,
                                   RK_RAK,       RK_RIM,     RK_REMS, RK_RAK_HASHALG};
    for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
        if (keys[i] == k)
            return i;
    return -1;
}

static vmesh_err decode_rems(vmesh_cbor *r, vmesh_cca_realm_claims *c)
{
    vmesh_err rc = VMESH_OK;
    uint64_t count = 0;

    VMESH_GUARD(vmesh_cbor_read_array(r, &count, UINT64_MAX, "extensible measurements (key 44239)"));
    VMESH_ENSURE(count == VMESH_CCA_NUM_REMS, VMESH_ERR_PARSE,
                 "%s: extensible measurements (key 44239) has %llu entries, expected exactly %d", r->what,
                 (unsigned long long)count, VMESH_CCA_NUM_REMS);
    for (size_t i = 0; i < VMESH_CCA_NUM_REMS; i++)
        VMESH_GUARD(vmesh_psa_read_bytes(r, "extensible measurement (key 44239)", c->rem[i], sizeof(c->rem[i]),
                                         &c->rem_len[i]));
    c->rem_count = VMESH_CCA_NUM_REMS;
out:
    return rc;
}

vmesh_err vmesh_cca_realm_decode(const uint8_t *p, size_t n, vmesh_cca_realm_claims *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count = 0;
    unsigned seen = 0;

    realm_free(c);
    c->profile = VMESH_CCA_REALM_PROFILE_LEGACY; /* until claim 265 says otherwise */
    vmesh_cbor_init(&r, p, n, "CCA realm claims", 0);
    VMESH_GUARD(map_open(&r, &count));
    for (uint64_t i = 0; i < count; i++) {
        int64_t key = 0;
        bool is_int = false;
        int bit;

        VMESH_GUARD(vmesh_cbor_read_int_key(&r, &key, &is_int));
        bit = is_int ? realm_bit(key) : -1;
        if (bit < 0) {
            VMESH_GUARD(vmesh_cbor_skip(&r));
            continue;
        }
        VMESH_ENSURE(!(seen & (1u << bit)), VMESH_ERR_PARSE, "%s: claim key %lld appears twice", r.what,
                     (long long)key);
        seen |= 1u << bit;
        switch (key) {
        case RK_PROFILE: {
            const char *s = NULL;
            size_t sn = 0;

            VMESH_GUARD(vmesh_cbor_read_tstr(&r, VMESH_CCA_MAX_TEXT, &s, &sn, "profile (key 265)"));
            VMESH_ENSURE(sn == strlen(VMESH_CCA_REALM_PROFILE_NAME) &&
                             memcmp(s, VMESH_CCA_REALM_PROFILE_NAME, sn) == 0,
                         VMESH_ERR_UNSUPPORTED, "%s: profile \"%.*s\" is not supported (expected \"%s\")", r.what,
                         (int)(sn > 100 ? 100 : sn), s, VMESH_CCA_REALM_PROFILE_NAME);
            c->profile = VMESH_CCA_REALM_PROFILE_2023;
            break;
        }
        case RK_CHALLENGE:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "challenge (key 10)", c->challenge, sizeof(c->challenge), &c->challenge_len));
            break;
        case RK_RPV:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "personalization value (key 44235)", c->personalization,
                                     sizeof(c->personalization), &c->personalization_len));
            break;
        case RK_RIM:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "initial measurement (key 44238)", c->rim, sizeof(c->rim), &c->rim_len));
            break;
        case RK_REMS:
            VMESH_GUARD(decode_rems(&r, c));
            break;
        case RK_HASHALG:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(&r, VMESH_CCA_MAX_TEXT, &c->hash_algo, "hash algorithm id (key 44236)"));
            break;
        case RK_RAK:
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "public key (key 44237)", c->rak, sizeof(c->rak), &c->rak_len));
            break;
        case RK_RAK_HASHALG:
            VMESH_GUARD(vmesh_cbor_read_tstr_dup(&r, VMESH_CCA_MAX_TEXT, &c->rak_hash_algo,
                                                 "public key hash algorithm id (key 44240)"));
            break;
        default:
            VMESH_GUARD(vmesh_cbor_skip(&r));
            break;
        }
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the claims map"));
    VMESH_GUARD(vmesh_cca_realm_validate(c));
out:
    if (rc != VMESH_OK)
        realm_free(c);
    return rc;
}

/* ---- encoding ---------------------------------------------------------------- */

/* Keys are written in ascending order: for non-negative integer keys that
 * is the core deterministic order of RFC 8949 §4.2.1 ("sorted in the
 * bytewise lexicographic order of their deterministic encodings"). */
vmesh_err vmesh_cca_platform_encode(const vmesh_cca_platform_claims *c, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cca_platform_validate(c));
    VMESH_GUARD(vmesh_cbor_put_map(out, 8 + (c->verification_service != NULL)));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_CHALLENGE));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->challenge, c->challenge_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_INSTANCE));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->instance_id, c->instance_id_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_PROFILE));
    VMESH_GUARD(vmesh_cbor_put_text(out, vmesh_cca_platform_profile_name(c->profile)));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_LIFECYCLE));
    VMESH_GUARD(vmesh_cbor_put_int(out, c->lifecycle));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_IMPL));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->implementation_id, c->implementation_id_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_SW));
    VMESH_GUARD(vmesh_psa_sw_components_encode(c->sw, c->sw_count, out));
    if (c->verification_service != NULL) {
        VMESH_GUARD(vmesh_cbor_put_int(out, PK_VSI));
        VMESH_GUARD(vmesh_cbor_put_text(out, c->verification_service));
    }
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_CONFIG));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->config, c->config_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, PK_HASHALG));
    VMESH_GUARD(vmesh_cbor_put_text(out, c->hash_algo));
out:
    return rc;
}

vmesh_err vmesh_cca_realm_encode(const vmesh_cca_realm_claims *c, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    bool prof = c->profile == VMESH_CCA_REALM_PROFILE_2023;

    VMESH_GUARD(vmesh_cca_realm_validate(c));
    VMESH_GUARD(vmesh_cbor_put_map(out, 7 + (prof ? 1 : 0)));
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_CHALLENGE));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->challenge, c->challenge_len));
    if (prof) {
        VMESH_GUARD(vmesh_cbor_put_int(out, RK_PROFILE));
        VMESH_GUARD(vmesh_cbor_put_text(out, VMESH_CCA_REALM_PROFILE_NAME));
    }
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_RPV));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->personalization, c->personalization_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_HASHALG));
    VMESH_GUARD(vmesh_cbor_put_text(out, c->hash_algo));
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_RAK));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->rak, c->rak_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_RIM));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, c->rim, c->rim_len));
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_REMS));
    VMESH_GUARD(vmesh_cbor_put_array(out, VMESH_CCA_NUM_REMS));
    for (size_t i = 0; i < VMESH_CCA_NUM_REMS; i++)
        VMESH_GUARD(vmesh_cbor_put_bstr(out, c->rem[i], c->rem_len[i]));
    VMESH_GUARD(vmesh_cbor_put_int(out, RK_RAK_HASHALG));
    VMESH_GUARD(vmesh_cbor_put_text(out, c->rak_hash_algo));
out:
    return rc;
}
