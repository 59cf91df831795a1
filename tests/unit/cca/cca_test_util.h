/* Shared helpers of the cca unit tests (included by each test file):
 * generated keys and claims, an RV store for them, the shared vector. */
#ifndef CCA_TEST_UTIL_H
#define CCA_TEST_UTIL_H

#include "vmesh/cca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPL_ID "vmesh-cca-implementation-id-0001"

static inline vmesh_key *pub_of(const vmesh_key *k)
{
    vmesh_buf spki = {0};
    vmesh_key *pub = NULL;

    assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    vmesh_buf_free(&spki);
    return pub;
}

/* The nonce of the generated tokens: 32 bytes 0x5a (padded to 64). */
static const uint8_t test_nonce[32] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                       0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                       0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};

static inline void make_claims(vmesh_cca_claims *c, const vmesh_key *cpak, uint16_t lifecycle)
{
    const char *types[] = {"BL", "M1"};
    vmesh_cca_platform_claims *p = &c->platform;
    vmesh_cca_realm_claims *r = &c->realm;

    vmesh_cca_claims_init(c);
    p->profile = VMESH_CCA_PLATFORM_PROFILE_2023;
    memcpy(p->implementation_id, IMPL_ID, 32);
    p->implementation_id_len = 32;
    assert_int_equal(vmesh_psa_instance_id_from_key(cpak, p->instance_id), VMESH_OK);
    p->instance_id_len = 33;
    p->config = malloc(3);
    memcpy(p->config, "\x01\x02\x03", 3);
    p->config_len = 3;
    p->config_present = true;
    p->lifecycle = lifecycle;
    p->lifecycle_present = true;
    for (int i = 0; i < 2; i++) {
        vmesh_psa_sw_component *sc;
        assert_int_equal(vmesh_cca_platform_add_sw(p, &sc), VMESH_OK);
        sc->measurement_type = strdup(types[i]);
        memset(sc->measurement_value, 0x70 + i, 32);
        sc->measurement_value_len = 32;
        memset(sc->signer_id, 0x80, 32);
        sc->signer_id_len = 32;
        sc->version = strdup("1.0.0");
    }
    p->verification_service = strdup("https://verifier.example/");
    p->hash_algo = strdup("sha-256");
    r->profile = VMESH_CCA_REALM_PROFILE_2023;
    memcpy(r->challenge, test_nonce, 32);
    r->challenge_len = 64;
    memset(r->personalization, 0x41, 64);
    r->personalization_len = 64;
    memset(r->rim, 0x43, 32);
    r->rim_len = 32;
    for (int i = 0; i < 4; i++) {
        memset(r->rem[i], 0x50 + i, 32);
        r->rem_len[i] = 32;
    }
    r->rem_count = 4;
    r->hash_algo = strdup("sha-256");
    r->rak_hash_algo = strdup("sha-256");
}

/* RV store: CPAK for (impl, instance); platform RVs (BL, M1, config);
 * realm RVs under class = RIM (rim, rem0..3, rpv). rem_bad / rpv_bad put
 * a wrong value for rem2 / rpv; with_realm false leaves the realm out. */
typedef struct {
    bool with_platform, with_realm, rem_bad, rpv_bad, config_bad;
} rv_opts;

static inline vmesh_rv_store *make_rv(const vmesh_cca_claims *c, const vmesh_key *cpak, rv_opts o)
{
    vmesh_rv_store *s = NULL;
    const vmesh_cca_platform_claims *p = &c->platform;
    const vmesh_cca_realm_claims *r = &c->realm;
    vmesh_rv_env env = {"cca", p->implementation_id, 32, p->instance_id, 33};
    vmesh_rv_env cls = {"cca", p->implementation_id, 32, NULL, 0};
    vmesh_rv_env rcls = {"cca", r->rim, r->rim_len, NULL, 0};
    vmesh_key *pub = NULL;
    uint8_t wrong[64];

    memset(wrong, 0xee, sizeof(wrong));
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    if (cpak != NULL) {
        pub = pub_of(cpak);
        assert_int_equal(vmesh_rv_add_key(s, &env, pub), VMESH_OK);
        vmesh_crypto_key_free(pub);
    }
    if (o.with_platform) {
        vmesh_rv_measurement cfg = {.name = "config",
                                    .digest_alg = 0,
                                    .digest = o.config_bad ? wrong : p->config,
                                    .digest_len = p->config_len};
        assert_int_equal(vmesh_rv_add_measurement(s, &cls, &cfg), VMESH_OK);
        for (size_t i = 0; i < p->sw_count; i++) {
            vmesh_rv_measurement m = {.name = p->sw[i].measurement_type,
                                      .version = p->sw[i].version,
                                      .digest_alg = VMESH_HASH_SHA256,
                                      .digest = p->sw[i].measurement_value,
                                      .digest_len = p->sw[i].measurement_value_len};
            assert_int_equal(vmesh_rv_add_measurement(s, &cls, &m), VMESH_OK);
        }
    }
    if (o.with_realm) {
        vmesh_rv_measurement m = {.name = "rim", .digest_alg = 0, .digest = r->rim, .digest_len = r->rim_len};
        vmesh_rv_measurement pv = {.name = "rpv",
                                   .digest_alg = 0,
                                   .digest = o.rpv_bad ? wrong : r->personalization,
                                   .digest_len = 64};
        assert_int_equal(vmesh_rv_add_measurement(s, &rcls, &m), VMESH_OK);
        assert_int_equal(vmesh_rv_add_measurement(s, &rcls, &pv), VMESH_OK);
        for (int i = 0; i < 4; i++) {
            char name[8];
            vmesh_rv_measurement rm = {.name = name,
                                       .digest_alg = 0,
                                       .digest = (o.rem_bad && i == 2) ? wrong : r->rem[i],
                                       .digest_len = r->rem_len[i]};
            snprintf(name, sizeof(name), "rem%d", i);
            assert_int_equal(vmesh_rv_add_measurement(s, &rcls, &rm), VMESH_OK);
        }
    }
    vmesh_rv_store_freeze(s);
    return s;
}

static const rv_opts RV_ALL = {true, true, false, false, false};

/* Path of a file of the shared CCA vector, or NULL (the test skips). */
static inline const char *vec_path(const char *name, char *buf, size_t n)
{
    const char *v = getenv("VMESH_VECTORS");
    FILE *f;

    if (v == NULL || *v == '\0')
        return NULL;
    snprintf(buf, n, "%s/cca/%s", v, name);
    f = fopen(buf, "rb");
    if (f == NULL)
        return NULL;
    fclose(f);
    return buf;
}

#endif
