/* Unit tests for the RP policy: parsing (strict) and verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/policy.h"

static vmesh_tv good_tv(void)
{
    vmesh_tv tv = {{0}};
    tv.v[VMESH_TV_INSTANCE_IDENTITY] = 2;
    tv.v[VMESH_TV_EXECUTABLES] = 2;
    tv.v[VMESH_TV_HARDWARE] = 2;
    tv.v[VMESH_TV_RUNTIME_OPAQUE] = 2;
    tv.v[VMESH_TV_STORAGE_OPAQUE] = 2;
    return tv;
}

static void defaults(void **state)
{
    vmesh_policy *p = NULL;
    vmesh_tv tv = good_tv();
    char why[256];

    (void)state;
    assert_int_equal(vmesh_policy_default(&p), VMESH_OK);
    assert_int_equal(vmesh_policy_passport_epoch_lag(p), 1); /* this or the previous epoch's passport */
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_EPOCH_FRESH, "psa", &tv, 10, why, sizeof(why)), VMESH_POLICY_OK);
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_NONE, NULL, &tv, -1, why, sizeof(why)),
                     VMESH_POLICY_UNATTESTED_REFUSED);
    assert_non_null(strstr(why, "refuses unattested"));
    tv.v[VMESH_TV_EXECUTABLES] = 33;
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_FRESH, "psa", &tv, 10, why, sizeof(why)),
                     VMESH_POLICY_STATUS_TOO_LOW);
    tv = good_tv();
    tv.v[VMESH_TV_EXECUTABLES] = 0; /* no claim about executables */
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_FRESH, "psa", &tv, 10, why, sizeof(why)),
                     VMESH_POLICY_CLAIM_TOO_LOW);
    assert_non_null(strstr(why, "executables"));
    tv = good_tv();
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_FRESH, "psa", &tv, 2 * 86400, why, sizeof(why)),
                     VMESH_POLICY_EVIDENCE_TOO_OLD);
    vmesh_tv_set_all(&tv, 99);
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_PASSPORT, "psa", &tv, 1, why, sizeof(why)),
                     VMESH_POLICY_STATUS_TOO_LOW);
    vmesh_policy_free(p);
}

static void parse_full(void **state)
{
    static const char doc[] =
        "{\"format\":\"vmesh-policy/1\",\"id\":\"policy:test\",\"modes\":[\"passport\"],"
        "\"allow-unattested\":true,\"min-status\":\"warning\","
        "\"min-tiers\":{\"instance-identity\":\"affirming\"},\"max-evidence-age\":60,"
        "\"passport-epoch-lag\":0,\"schemes\":[\"tpm2\"],"
        "\"trusted-verifiers\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4\"}]}";
    vmesh_policy *p = NULL;
    vmesh_tv tv = good_tv();

    (void)state;
    assert_int_equal(vmesh_policy_parse((const uint8_t *)doc, strlen(doc), "t", &p), VMESH_OK);
    assert_string_equal(vmesh_policy_id(p), "policy:test");
    assert_int_equal(vmesh_policy_modes(p), VMESH_MODE_BIT(VMESH_MODE_PASSPORT));
    assert_true(vmesh_policy_allows_unattested(p));
    assert_int_equal(vmesh_policy_max_evidence_age(p), 60);
    assert_int_equal(vmesh_policy_passport_epoch_lag(p), 0);
    assert_int_equal(vmesh_policy_verifier_key_count(p), 1);
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_EPOCH_FRESH, "tpm2", &tv, 1, NULL, 0), VMESH_POLICY_MODE_REFUSED);
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_PASSPORT, "psa", &tv, 1, NULL, 0), VMESH_POLICY_SCHEME_REFUSED);
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_NONE, NULL, &tv, -1, NULL, 0), VMESH_POLICY_OK);
    tv.v[VMESH_TV_EXECUTABLES] = 33; /* warning is enough here; executables has no minimum */
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_PASSPORT, "tpm2", &tv, 1, NULL, 0), VMESH_POLICY_OK);
    tv.v[VMESH_TV_INSTANCE_IDENTITY] = 97;
    assert_int_equal(vmesh_policy_check(p, VMESH_MODE_PASSPORT, "tpm2", &tv, 1, NULL, 0), VMESH_POLICY_STATUS_TOO_LOW);
    vmesh_policy_free(p);
}

static void parse_errors(void **state)
{
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        {"[]", "JSON object"},
        {"{\"modes\":[\"fresh\"]}", "format"},
        {"{\"format\":\"vmesh-policy/1\",\"mode\":[\"fresh\"]}", "unknown policy field \"mode\""},
        {"{\"format\":\"vmesh-policy/1\",\"modes\":[\"fast\"]}", "unknown attestation mode"},
        {"{\"format\":\"vmesh-policy/1\",\"modes\":[]}", "non-empty"},
        {"{\"format\":\"vmesh-policy/1\",\"min-tiers\":{\"exec\":\"affirming\"}}", "unknown trustworthiness claim"},
        {"{\"format\":\"vmesh-policy/1\",\"min-status\":\"great\"}", "min-status"},
        {"{\"format\":\"vmesh-policy/1\",\"max-evidence-age\":-5}", "positive"},
        {"{\"format\":\"vmesh-policy/1\",\"passport-epoch-lag\":2}", "passport-epoch-lag"},
        {"{\"format\":\"vmesh-policy/1\",\"passport-epoch-lag\":\"0\"}", "passport-epoch-lag"},
        {"{\"format\":\"vmesh-policy/1\",\"allow-unattested\":\"yes\"}", "true or false"},
        {"{\"format\":\"vmesh-policy/1\",\"trusted-verifiers\":[42]}", "PEM string or a JWK"},
        {"{\"format\":\"vmesh-policy/1\",\"format\":\"vmesh-policy/1\"}", "duplicate"},
        {"{\"format\":", "line 1"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmesh_policy *p = (vmesh_policy *)1;
        vmesh_err rc = vmesh_policy_parse((const uint8_t *)cases[i].doc, strlen(cases[i].doc), "p.json", &p);
        assert_int_not_equal(rc, VMESH_OK);
        assert_null(p);
        if (strstr(vmesh_err_detail(), cases[i].msg) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, vmesh_err_detail(), cases[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(parse_full),
        cmocka_unit_test(parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
