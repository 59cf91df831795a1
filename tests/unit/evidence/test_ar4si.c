/* Unit tests for the AR4SI helpers: claim names, tier ranges at every
 * boundary, vector status, descriptions, and the appraisal accumulator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/evidence.h"

static void claim_names(void **state)
{
    static const char *names[] = {"instance-identity", "configuration", "executables",
                                  "file-system",       "hardware",      "runtime-opaque",
                                  "storage-opaque",    "sourced-data"};

    (void)state;
    for (int i = 0; i < VMESH_TV__COUNT; i++) {
        assert_string_equal(vmesh_tv_claim_name((vmesh_tv_claim)i), names[i]);
        assert_int_equal(vmesh_tv_claim_from_name(names[i]), i);
    }
    assert_null(vmesh_tv_claim_name(VMESH_TV__COUNT));
    assert_null(vmesh_tv_claim_name((vmesh_tv_claim)-1));
    assert_int_equal(vmesh_tv_claim_from_name("Hardware"), -1);
    assert_int_equal(vmesh_tv_claim_from_name(""), -1);
    assert_int_equal(vmesh_tv_claim_from_name(NULL), -1);
}

static void tier_boundaries(void **state)
{
    static const struct {
        int v;
        vmesh_tier t;
    } cases[] = {
        {-128, VMESH_TIER_CONTRAINDICATED}, {-97, VMESH_TIER_CONTRAINDICATED},
        {-96, VMESH_TIER_WARNING},          {-33, VMESH_TIER_WARNING},
        {-32, VMESH_TIER_AFFIRMING},        {-2, VMESH_TIER_AFFIRMING},
        {-1, VMESH_TIER_NONE},              {0, VMESH_TIER_NONE},
        {1, VMESH_TIER_NONE},               {2, VMESH_TIER_AFFIRMING},
        {31, VMESH_TIER_AFFIRMING},         {32, VMESH_TIER_WARNING},
        {95, VMESH_TIER_WARNING},           {96, VMESH_TIER_CONTRAINDICATED},
        {99, VMESH_TIER_CONTRAINDICATED},   {127, VMESH_TIER_CONTRAINDICATED},
    };
    int counts[4] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (vmesh_tier_of((int8_t)cases[i].v) != cases[i].t)
            fail_msg("tier_of(%d) = %d, expected %d", cases[i].v,
                     (int)vmesh_tier_of((int8_t)cases[i].v), (int)cases[i].t);
    /* The four ranges cover all 256 values: 3 + 60 + 128 + 65. */
    for (int v = -128; v <= 127; v++) {
        switch (vmesh_tier_of((int8_t)v)) {
        case VMESH_TIER_NONE: counts[0]++; break;
        case VMESH_TIER_AFFIRMING: counts[1]++; break;
        case VMESH_TIER_WARNING: counts[2]++; break;
        case VMESH_TIER_CONTRAINDICATED: counts[3]++; break;
        }
    }
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 31 + 30);
    assert_int_equal(counts[2], 64 + 64);
    assert_int_equal(counts[3], 32 + 32);
}

static void tier_names_parse_worst(void **state)
{
    vmesh_tier t = VMESH_TIER_NONE;

    (void)state;
    assert_string_equal(vmesh_tier_name(VMESH_TIER_NONE), "none");
    assert_string_equal(vmesh_tier_name(VMESH_TIER_AFFIRMING), "affirming");
    assert_string_equal(vmesh_tier_name(VMESH_TIER_WARNING), "warning");
    assert_string_equal(vmesh_tier_name(VMESH_TIER_CONTRAINDICATED), "contraindicated");
    assert_string_equal(vmesh_tier_name((vmesh_tier)3), "invalid");
    assert_int_equal(vmesh_tier_parse("warning", &t), VMESH_OK);
    assert_int_equal(t, VMESH_TIER_WARNING);
    assert_int_equal(vmesh_tier_parse("96", &t), VMESH_OK);
    assert_int_equal(t, VMESH_TIER_CONTRAINDICATED);
    assert_int_equal(vmesh_tier_parse("Affirming", &t), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "expected none, affirming, warning or contraindicated"));
    assert_int_equal(vmesh_tier_parse("3", &t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_tier_parse("", &t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_tier_parse("2x", &t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_tier_worst(VMESH_TIER_NONE, VMESH_TIER_AFFIRMING), VMESH_TIER_AFFIRMING);
    assert_int_equal(vmesh_tier_worst(VMESH_TIER_WARNING, VMESH_TIER_AFFIRMING), VMESH_TIER_WARNING);
    assert_int_equal(vmesh_tier_worst(VMESH_TIER_WARNING, VMESH_TIER_CONTRAINDICATED),
                     VMESH_TIER_CONTRAINDICATED);
    assert_int_equal(vmesh_tier_worst(VMESH_TIER_NONE, VMESH_TIER_NONE), VMESH_TIER_NONE);
}

static void tv_status_and_set_all(void **state)
{
    vmesh_tv tv = {{0}};

    (void)state;
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_NONE);
    assert_int_equal(vmesh_tv_status(NULL), VMESH_TIER_NONE);
    tv.v[VMESH_TV_HARDWARE] = 2;
    tv.v[VMESH_TV_EXECUTABLES] = 3;
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_AFFIRMING);
    tv.v[VMESH_TV_CONFIGURATION] = -1;
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_AFFIRMING);
    tv.v[VMESH_TV_EXECUTABLES] = 33;
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_WARNING);
    tv.v[VMESH_TV_SOURCED_DATA] = 99;
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_CONTRAINDICATED);
    vmesh_tv_set_all(&tv, -1);
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        assert_int_equal(tv.v[i], -1);
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_NONE);
    vmesh_tv_set_all(&tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_int_equal(vmesh_tv_status(&tv), VMESH_TIER_CONTRAINDICATED);
}

static void descriptions(void **state)
{
    (void)state;
    assert_string_equal(vmesh_tv_describe(VMESH_TV_EXECUTABLES, 33), "unrecognized run-time");
    assert_string_equal(vmesh_tv_describe(VMESH_TV_EXECUTABLES, 2),
                        "recognized and approved boot- and run-time");
    assert_string_equal(vmesh_tv_describe(VMESH_TV_INSTANCE_IDENTITY, 97), "not recognized");
    assert_string_equal(vmesh_tv_describe(VMESH_TV_HARDWARE, 97), "unrecognized");
    assert_string_equal(vmesh_tv_describe(VMESH_TV_HARDWARE, 2), "genuine");
    assert_string_equal(vmesh_tv_describe(VMESH_TV_CONFIGURATION, 96),
                        "unacceptable security vulnerabilities");
    assert_string_equal(vmesh_tv_describe(VMESH_TV_SOURCED_DATA, 32),
                        "from unattested sources or attesters in the warning tier");
    for (int i = 0; i < VMESH_TV__COUNT; i++) {
        assert_string_equal(vmesh_tv_describe((vmesh_tv_claim)i, 99),
                            "cryptographic validation failed");
        assert_string_equal(vmesh_tv_describe((vmesh_tv_claim)i, 0), "no claim being made");
        assert_string_equal(vmesh_tv_describe((vmesh_tv_claim)i, -1), "verifier malfunction");
        assert_string_equal(vmesh_tv_describe((vmesh_tv_claim)i, 1), "unexpected evidence");
    }
    assert_string_equal(vmesh_tv_describe(VMESH_TV_EXECUTABLES, 50), "unknown code-point");
    assert_string_equal(vmesh_tv_describe(VMESH_TV__COUNT, 2), "unknown claim");
}

static void appraisal_note(void **state)
{
    vmesh_appraisal a;

    (void)state;
    vmesh_appraisal_init(&a);
    assert_int_equal(a.status, VMESH_TIER_NONE);
    assert_int_equal(a.claims_json.len, 0);
    assert_string_equal(a.reason, "");
    vmesh_appraisal_note(&a, VMESH_TV_HARDWARE, VMESH_AR_GENUINE_HARDWARE, "genuine %d", 1);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_string_equal(a.reason, ""); /* affirming notes are not problems */
    vmesh_appraisal_note(&a, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                         "measurement %s not in reference values", "BL");
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    assert_string_equal(a.reason, "measurement BL not in reference values");
    /* A better value does not overwrite a worse one... */
    vmesh_appraisal_note(&a, VMESH_TV_EXECUTABLES, VMESH_AR_APPROVED_RUNTIME, "ok");
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    /* ...a worse one does, and the first reason stays. */
    vmesh_appraisal_note(&a, VMESH_TV_EXECUTABLES, VMESH_AR_CONTRAINDICATED_RUNTIME, "second");
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 96);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_string_equal(a.reason, "measurement BL not in reference values");
    /* Same tier: first value kept. */
    vmesh_appraisal_note(&a, VMESH_TV_HARDWARE, 3, NULL);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    /* A verifier malfunction is not washed out by a later affirming note. */
    vmesh_appraisal_note(&a, VMESH_TV_CONFIGURATION, VMESH_AR_VERIFIER_MALFUNCTION, NULL);
    vmesh_appraisal_note(&a, VMESH_TV_CONFIGURATION, VMESH_AR_APPROVED_CONFIG, NULL);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], -1);
    vmesh_appraisal_note(&a, VMESH_TV_CONFIGURATION, VMESH_AR_UNSAFE_CONFIG, NULL);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 32);
    /* Out-of-range claim index: ignored. */
    vmesh_appraisal_note(&a, VMESH_TV__COUNT, 96, "x");
    assert_int_equal(vmesh_buf_append(&a.claims_json, "{}", 2), VMESH_OK);
    vmesh_appraisal_free(&a);
    assert_null(a.claims_json.data);
}

static void reason_is_bounded(void **state)
{
    vmesh_appraisal a;
    char big[2000];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vmesh_appraisal_init(&a);
    vmesh_appraisal_note(&a, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_UNRECOGNIZED_INSTANCE, "%s", big);
    assert_int_equal(strlen(a.reason), sizeof(a.reason) - 1);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    vmesh_appraisal_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_names),
        cmocka_unit_test(tier_boundaries),
        cmocka_unit_test(tier_names_parse_worst),
        cmocka_unit_test(tv_status_and_set_all),
        cmocka_unit_test(descriptions),
        cmocka_unit_test(appraisal_note),
        cmocka_unit_test(reason_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
