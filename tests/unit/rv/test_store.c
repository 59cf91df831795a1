/* Unit tests for the RV store: copies, lookups before and after freeze,
 * instance matching of keys, frozen stores, reference counting across
 * threads, generations, caps, and all-or-nothing merges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/rv.h"

static const uint8_t cls_a[] = "acme-implementation-id-000000001";
static const uint8_t cls_b[] = "other-class";
static const uint8_t inst1[] = {0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t inst2[] = {0x01, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66};

static vmesh_rv_env env_of(const char *scheme, const uint8_t *cls, size_t n)
{
    vmesh_rv_env e = {scheme, cls, n, NULL, 0};
    return e;
}

static vmesh_key *public_key(void)
{
    vmesh_key *priv = NULL, *pub = NULL;
    vmesh_buf spki = {0};

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &priv), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(priv, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    vmesh_buf_free(&spki);
    vmesh_crypto_key_free(priv);
    return pub;
}

static void add_digest(vmesh_rv_store *s, const uint8_t *cls, size_t n, const char *name,
                       uint8_t fill)
{
    uint8_t d[32];
    vmesh_rv_env env = env_of("psa", cls, n);
    vmesh_rv_measurement m = {name, NULL, NULL, 0, VMESH_HASH_SHA256, d, sizeof(d)};

    memset(d, fill, sizeof(d));
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_OK);
}

static void lookups_before_and_after_freeze(void **state)
{
    vmesh_rv_store *s = NULL;
    const vmesh_rv_measurement *ms[8];
    const char *vals[4];
    vmesh_rv_env env = env_of("psa", cls_a, sizeof(cls_a) - 1);
    char name[8];

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    add_digest(s, cls_a, sizeof(cls_a) - 1, "BL", 1);
    add_digest(s, cls_b, sizeof(cls_b) - 1, "BL", 9);
    add_digest(s, cls_a, sizeof(cls_a) - 1, "PRoT", 2);
    add_digest(s, cls_a, sizeof(cls_a) - 1, "BL", 3); /* alternative */
    assert_int_equal(vmesh_rv_add_attr(s, &env, "lifecycle", "secured"), VMESH_OK);
    assert_int_equal(vmesh_rv_add_attr(s, &env, "lifecycle", "non-psa-rot-debug"), VMESH_OK);
    for (int pass = 0; pass < 2; pass++) {
        /* The same answers from the scan (pass 0) and the index (pass 1). */
        assert_int_equal(vmesh_rv_find_measurements(s, "psa", cls_a, sizeof(cls_a) - 1, ms, 8), 3);
        assert_string_equal(ms[0]->name, "BL");
        assert_int_equal(ms[0]->digest[0], 1);
        assert_string_equal(ms[1]->name, "PRoT");
        assert_string_equal(ms[2]->name, "BL");
        assert_int_equal(ms[2]->digest[0], 3);
        assert_int_equal(ms[0]->digest_alg, VMESH_HASH_SHA256);
        assert_int_equal(ms[0]->digest_len, 32);
        /* max limits what is filled, not what is counted */
        assert_int_equal(vmesh_rv_find_measurements(s, "psa", cls_a, sizeof(cls_a) - 1, ms, 1), 3);
        assert_int_equal(vmesh_rv_find_measurements(s, "psa", cls_b, sizeof(cls_b) - 1, ms, 8), 1);
        assert_int_equal(ms[0]->digest[0], 9);
        assert_int_equal(vmesh_rv_find_measurements(s, "tpm2", cls_a, sizeof(cls_a) - 1, ms, 8), 0);
        assert_int_equal(vmesh_rv_find_measurements(s, "psa", cls_a, sizeof(cls_a) - 2, ms, 8), 0);
        assert_true(vmesh_rv_has_class(s, "psa", cls_b, sizeof(cls_b) - 1));
        assert_false(vmesh_rv_has_class(s, "psa", (const uint8_t *)"nope", 4));
        assert_int_equal(vmesh_rv_find_attrs(s, "psa", cls_a, sizeof(cls_a) - 1, "lifecycle", vals, 4), 2);
        assert_string_equal(vals[0], "secured");
        assert_string_equal(vals[1], "non-psa-rot-debug");
        assert_int_equal(vmesh_rv_find_attrs(s, "psa", cls_a, sizeof(cls_a) - 1, "other", vals, 4), 0);
        assert_int_equal(vmesh_rv_store_size(s), 6);
        vmesh_rv_store_freeze(s);
    }
    /* Many classes: the index still finds each one. */
    vmesh_rv_store_free(s);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    for (int i = 0; i < 300; i++) {
        char cls[16];
        snprintf(cls, sizeof(cls), "class-%03d", (i * 7) % 300);
        snprintf(name, sizeof(name), "m%d", i % 3);
        add_digest(s, (const uint8_t *)cls, strlen(cls), name, (uint8_t)i);
    }
    vmesh_rv_store_freeze(s);
    for (int i = 0; i < 300; i++) {
        char cls[16];
        snprintf(cls, sizeof(cls), "class-%03d", i);
        assert_int_equal(vmesh_rv_find_measurements(s, "psa", (const uint8_t *)cls, strlen(cls), ms, 8), 1);
    }
    vmesh_rv_store_free(s);
}

static void keys_match_instances(void **state)
{
    vmesh_rv_store *s = NULL;
    vmesh_key *k_any = public_key(), *k_1 = public_key(), *out[4];
    vmesh_rv_env env = env_of("psa", cls_a, sizeof(cls_a) - 1);

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_add_key(s, &env, k_any), VMESH_OK);
    env.instance_id = inst1;
    env.instance_id_len = sizeof(inst1);
    assert_int_equal(vmesh_rv_add_key(s, &env, k_1), VMESH_OK);
    /* the store holds its own references */
    vmesh_crypto_key_free(k_any);
    vmesh_crypto_key_free(k_1);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(vmesh_rv_find_keys(s, "psa", cls_a, sizeof(cls_a) - 1, inst1, sizeof(inst1), out, 4), 2);
        assert_int_equal(vmesh_rv_find_keys(s, "psa", cls_a, sizeof(cls_a) - 1, inst2, sizeof(inst2), out, 4), 1);
        assert_int_equal(vmesh_rv_find_keys(s, "psa", cls_a, sizeof(cls_a) - 1, NULL, 0, out, 4), 1);
        assert_int_equal(vmesh_rv_find_keys(s, "psa", cls_b, sizeof(cls_b) - 1, inst1, sizeof(inst1), out, 4), 0);
        vmesh_rv_store_freeze(s);
    }
    assert_int_equal(vmesh_crypto_key_type(out[0]), VMESH_KEY_EC_P256);
    vmesh_rv_store_free(s);
}

static void frozen_store_refuses_changes(void **state)
{
    vmesh_rv_store *s = NULL, *t = NULL;
    vmesh_rv_env env = env_of("psa", cls_a, sizeof(cls_a) - 1);
    vmesh_key *k = public_key();
    uint8_t d[32] = {0};
    vmesh_rv_measurement m = {"BL", NULL, NULL, 0, VMESH_HASH_SHA256, d, 32};
    uint64_t g;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_int_equal(vmesh_rv_add_measurement(t, &env, &m), VMESH_OK);
    vmesh_rv_store_freeze(s);
    assert_true(vmesh_rv_store_is_frozen(s));
    g = vmesh_rv_store_generation(s);
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_STATE);
    assert_non_null(strstr(vmesh_err_detail(), "frozen"));
    assert_int_equal(vmesh_rv_add_key(s, &env, k), VMESH_ERR_STATE);
    assert_int_equal(vmesh_rv_add_attr(s, &env, "a", "b"), VMESH_ERR_STATE);
    assert_int_equal(vmesh_rv_set_epoch(s, "rvp", 3), VMESH_ERR_STATE);
    assert_int_equal(vmesh_rv_store_merge(s, t), VMESH_ERR_STATE);
    assert_int_equal(vmesh_rv_load_json(s, (const uint8_t *)"{}", 2, "x"), VMESH_ERR_STATE);
    assert_int_equal(vmesh_rv_store_size(s), 0);
    assert_true(vmesh_rv_store_generation(s) == g);
    vmesh_crypto_key_free(k);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
}

static void generations_change(void **state)
{
    vmesh_rv_store *s = NULL, *t = NULL;
    vmesh_rv_env env = env_of("psa", cls_a, sizeof(cls_a) - 1);
    uint64_t g0, g1, g2;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_true(vmesh_rv_store_generation(s) != vmesh_rv_store_generation(t));
    g0 = vmesh_rv_store_generation(s);
    assert_int_equal(vmesh_rv_add_attr(s, &env, "a", "b"), VMESH_OK);
    g1 = vmesh_rv_store_generation(s);
    assert_true(g1 > g0);
    assert_int_equal(vmesh_rv_set_epoch(s, "acme", 7), VMESH_OK);
    assert_int_equal(vmesh_rv_set_epoch(s, "acme", 8), VMESH_OK);
    assert_int_equal(vmesh_rv_set_epoch(s, "other", 1), VMESH_OK);
    vmesh_rv_store_freeze(s);
    g2 = vmesh_rv_store_generation(s);
    assert_true(g2 > g1);
    assert_int_equal(vmesh_rv_epoch_count(s), 2);
    {
        const char *rvp;
        uint64_t ep;
        assert_true(vmesh_rv_epoch_at(s, 0, &rvp, &ep));
        assert_string_equal(rvp, "acme");
        assert_true(ep == 8);
        assert_false(vmesh_rv_epoch_at(s, 2, &rvp, &ep));
    }
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
}

static void *ref_worker(void *arg)
{
    vmesh_rv_store *s = arg;
    const vmesh_rv_measurement *m[2];

    for (int i = 0; i < 20000; i++) {
        vmesh_rv_store *r = vmesh_rv_store_ref(s);
        if (vmesh_rv_find_measurements(r, "psa", cls_a, sizeof(cls_a) - 1, m, 2) != 1)
            abort();
        vmesh_rv_store_free(r);
    }
    vmesh_rv_store_free(s); /* the reference the main thread took for us */
    return NULL;
}

static void refcount_across_threads(void **state)
{
    vmesh_rv_store *s = NULL;
    pthread_t th[4];

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    add_digest(s, cls_a, sizeof(cls_a) - 1, "BL", 1);
    vmesh_rv_store_freeze(s);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ref_worker, vmesh_rv_store_ref(s)), 0);
    vmesh_rv_store_free(s); /* the threads keep it alive */
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    /* LeakSanitizer reports it if the last free did not release it. */
}

static void caps_and_validation(void **state)
{
    vmesh_rv_store *s = NULL;
    uint8_t big[VMESH_RV_MAX_ID + 1], d[65];
    vmesh_rv_env env = env_of("psa", big, sizeof(big));
    vmesh_rv_measurement m = {"BL", NULL, NULL, 0, VMESH_HASH_SHA256, d, 31};
    vmesh_key *priv = NULL;

    (void)state;
    memset(big, 'x', sizeof(big));
    memset(d, 0, sizeof(d));
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_add_attr(s, &env, "a", "b"), VMESH_ERR_TOO_LARGE);
    assert_non_null(strstr(vmesh_err_detail(), "class id is 257 bytes, the cap is 256"));
    env.class_id_len = 4;
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "sha-256 digest is 31 bytes, expected 32"));
    m.digest_len = 65;
    m.digest_alg = 0;
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_TOO_LARGE);
    m.digest_len = 32;
    m.digest_alg = 99;
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_UNSUPPORTED);
    m.digest_alg = VMESH_HASH_SHA256;
    m.name = "";
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_ARG);
    m.name = "bad\x01name";
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_ARG);
    m.name = "BL";
    env.scheme = "PSA";
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "a-z, 0-9"));
    env.scheme = "psa";
    env.instance_id = inst1;
    env.instance_id_len = sizeof(inst1);
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "instance id is only allowed for keys"));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &priv), VMESH_OK);
    assert_int_equal(vmesh_rv_add_key(s, &env, priv), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "private key"));
    vmesh_crypto_key_free(priv);
    assert_int_equal(vmesh_rv_store_size(s), 0);

    /* The entry cap. */
    env.instance_id = NULL;
    env.instance_id_len = 0;
    for (int i = 0; i < VMESH_RV_MAX_ENTRIES; i++)
        assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_OK);
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_ERR_TOO_LARGE);
    assert_non_null(strstr(vmesh_err_detail(), "more than 100000 entries"));
    {
        /* merge is all or nothing */
        vmesh_rv_store *t = NULL;
        assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
        assert_int_equal(vmesh_rv_add_measurement(t, &env, &m), VMESH_OK);
        assert_int_equal(vmesh_rv_store_merge(s, t), VMESH_ERR_TOO_LARGE);
        assert_int_equal(vmesh_rv_store_size(s), VMESH_RV_MAX_ENTRIES);
        vmesh_rv_store_free(t);
    }
    vmesh_rv_store_free(s);
}

static void merge_and_iterate(void **state)
{
    vmesh_rv_store *s = NULL, *t = NULL;
    vmesh_rv_env env = env_of("psa", cls_a, sizeof(cls_a) - 1);
    vmesh_key *k = public_key();
    vmesh_rv_entry e;
    const char *rvp;
    uint64_t ep;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    add_digest(s, cls_a, sizeof(cls_a) - 1, "BL", 1);
    assert_int_equal(vmesh_rv_set_epoch(s, "acme", 1), VMESH_OK);
    add_digest(t, cls_a, sizeof(cls_a) - 1, "PRoT", 2);
    assert_int_equal(vmesh_rv_add_key(t, &env, k), VMESH_OK);
    assert_int_equal(vmesh_rv_add_attr(t, &env, "n", "v"), VMESH_OK);
    assert_int_equal(vmesh_rv_set_epoch(t, "acme", 5), VMESH_OK);
    assert_int_equal(vmesh_rv_set_epoch(t, "beta", 2), VMESH_OK);
    assert_int_equal(vmesh_rv_store_merge(s, t), VMESH_OK);
    vmesh_rv_store_free(t); /* s owns copies */
    assert_int_equal(vmesh_rv_store_size(s), 4);
    assert_true(vmesh_rv_entry_at(s, 1, &e));
    assert_int_equal(e.kind, VMESH_RV_MEASUREMENT);
    assert_string_equal(e.m->name, "PRoT");
    assert_true(vmesh_rv_entry_at(s, 2, &e));
    assert_int_equal(e.kind, VMESH_RV_KEY);
    assert_true(vmesh_crypto_key_equal(e.key, k));
    assert_true(vmesh_rv_entry_at(s, 3, &e));
    assert_string_equal(e.attr_value, "v");
    assert_memory_equal(e.env.class_id, cls_a, sizeof(cls_a) - 1);
    assert_false(vmesh_rv_entry_at(s, 4, &e));
    assert_int_equal(vmesh_rv_epoch_count(s), 2);
    assert_true(vmesh_rv_epoch_at(s, 0, &rvp, &ep));
    assert_true(ep == 5);
    assert_int_equal(vmesh_rv_store_merge(s, s), VMESH_ERR_ARG);
    vmesh_crypto_key_free(k);
    vmesh_rv_store_free(s);
}

static void hash_names(void **state)
{
    (void)state;
    assert_int_equal(vmesh_rv_hash_alg_from_name("sha-384"), VMESH_HASH_SHA384);
    assert_int_equal(vmesh_rv_hash_alg_from_name("sha384"), 0);
    assert_string_equal(vmesh_rv_hash_alg_name(VMESH_HASH_SHA512), "sha-512");
    assert_null(vmesh_rv_hash_alg_name(2));
    assert_int_equal(vmesh_rv_hash_alg_len(VMESH_HASH_SHA256), 32);
}

/* Every value of an unsigned attribute counts (no cap), any base strtoull
 * reads; a value that is not an unsigned integer names itself. */
static void u64_attributes(void **state)
{
    vmesh_rv_store *s = NULL;
    vmesh_rv_env env = env_of("sev-snp", cls_a, sizeof(cls_a) - 1);
    char v[32];
    int res = 7;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_attr_u64_accepts(s, "sev-snp", cls_a, sizeof(cls_a) - 1, "policy", 5, &res), VMESH_OK);
    assert_int_equal(res, 0);
    for (int i = 0; i < 40; i++) { /* more than any fixed array the schemes used to read into */
        snprintf(v, sizeof(v), "0x%x", 0x30000 + i);
        assert_int_equal(vmesh_rv_add_attr(s, &env, "policy", v), VMESH_OK);
    }
    assert_int_equal(vmesh_rv_attr_u64_accepts(s, "sev-snp", cls_a, sizeof(cls_a) - 1, "policy", 0x30000 + 39, &res),
                     VMESH_OK);
    assert_int_equal(res, 1);
    assert_int_equal(vmesh_rv_attr_u64_accepts(s, "sev-snp", cls_a, sizeof(cls_a) - 1, "policy", 1, &res), VMESH_OK);
    assert_int_equal(res, -1);
    /* another class or scheme sees none of them */
    assert_int_equal(vmesh_rv_attr_u64_accepts(s, "tdx", cls_a, sizeof(cls_a) - 1, "policy", 0x30000, &res), VMESH_OK);
    assert_int_equal(res, 0);
    assert_int_equal(vmesh_rv_add_attr(s, &env, "vmpl", "-1"), VMESH_OK);
    assert_int_equal(vmesh_rv_attr_u64_accepts(s, "sev-snp", cls_a, sizeof(cls_a) - 1, "vmpl", 0, &res),
                     VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "vmpl"));
    assert_int_equal(vmesh_rv_add_attr(s, &env, "xfam", "99999999999999999999999"), VMESH_OK);
    assert_int_equal(vmesh_rv_attr_u64_accepts(s, "sev-snp", cls_a, sizeof(cls_a) - 1, "xfam", 0, &res),
                     VMESH_ERR_PARSE);
    vmesh_rv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lookups_before_and_after_freeze),
        cmocka_unit_test(keys_match_instances),
        cmocka_unit_test(frozen_store_refuses_changes),
        cmocka_unit_test(generations_change),
        cmocka_unit_test(refcount_across_threads),
        cmocka_unit_test(caps_and_validation),
        cmocka_unit_test(merge_and_iterate),
        cmocka_unit_test(hash_names),
        cmocka_unit_test(u64_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
