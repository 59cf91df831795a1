/*
 * Per-peer policy rules of the agent (vmesh_agent_set_rules, policy_for,
 * provider_for) and the paths of vmesh_agent_reappraise that need no
 * platform: unattested peers against their rule, results whose kept
 * evidence is missing or damaged, modes a new policy no longer accepts.
 * (Re-appraisal of real evidence and revocation: proxy.revocation.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/agent.h"

static vmesh_policy *pol(const char *json)
{
    vmesh_policy *p = NULL;

    assert_int_equal(vmesh_policy_parse((const uint8_t *)json, strlen(json), "test", &p), VMESH_OK);
    return p;
}

static vmesh_verifier *v; /* the local verifier the agents borrow */

static int setup(void **state)
{
    vmesh_verifier_config vc;

    (void)state;
    memset(&vc, 0, sizeof(vc));
    return vmesh_verifier_new(&vc, &v) == VMESH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vmesh_verifier_free(v);
    return 0;
}

static vmesh_agent *agent_with_rules(void)
{
    vmesh_agent_config cfg;
    vmesh_agent *a = NULL;
    vmesh_policy *legacy = pol("{\"format\":\"vmesh-policy/1\",\"id\":\"legacy\",\"allow-unattested\":true}");
    vmesh_policy *pp = pol("{\"format\":\"vmesh-policy/1\",\"id\":\"pp\",\"modes\":[\"passport\"]}");
    vmesh_agent_rule rules[] = {
        {"spiffe://td/legacy", legacy},
        {"spiffe://td/pp/*", pp},
    };

    memset(&cfg, 0, sizeof(cfg));
    cfg.verifier = v;
    assert_int_equal(vmesh_agent_new(&cfg, &a), VMESH_OK);
    assert_int_equal(vmesh_agent_set_rules(a, rules, 2), VMESH_OK);
    vmesh_policy_free(legacy);
    vmesh_policy_free(pp);
    return a;
}

static void policy_for(void **state)
{
    vmesh_agent *a = agent_with_rules();
    vmesh_policy *p;

    (void)state;
    p = vmesh_agent_policy_for(a, "spiffe://td/legacy");
    assert_string_equal(vmesh_policy_id(p), "legacy");
    vmesh_policy_free(p);
    p = vmesh_agent_policy_for(a, "spiffe://td/pp/x/y");
    assert_string_equal(vmesh_policy_id(p), "pp");
    vmesh_policy_free(p);
    p = vmesh_agent_policy_for(a, "spiffe://td/pp"); /* a prefix pattern matches strictly below */
    assert_string_equal(vmesh_policy_id(p), "policy:vmesh/default");
    vmesh_policy_free(p);
    p = vmesh_agent_policy_for(a, NULL);
    assert_string_equal(vmesh_policy_id(p), "policy:vmesh/default");
    vmesh_policy_free(p);
    vmesh_agent_free(a);
}

static void provider_for(void **state)
{
    vmesh_agent *a = agent_with_rules();
    vmesh_atls_provider p;

    (void)state;
    vmesh_agent_provider_for(a, NULL, &p); /* unknown peer: the union */
    assert_true(p.allow_unattested);
    vmesh_agent_provider_for(a, "spiffe://td/other", &p); /* exact ID, default policy */
    assert_false(p.allow_unattested);
    vmesh_agent_provider_for(a, "spiffe://td/legacy", &p);
    assert_true(p.allow_unattested);
    vmesh_agent_provider_for(a, "spiffe://td/pp/x", &p); /* passport only */
    assert_int_equal(p.n_accept_modes, 1);
    assert_int_equal(p.accept_modes[0], VMESH_ATLS_MODE_PASSPORT);
    vmesh_agent_free(a);
}

static void bad_rules(void **state)
{
    vmesh_agent *a = agent_with_rules();
    vmesh_agent_rule r = {"http://not-spiffe", NULL};
    vmesh_policy *p = pol("{\"format\":\"vmesh-policy/1\"}");

    (void)state;
    assert_int_equal(vmesh_agent_set_rules(a, &r, 1), VMESH_ERR_ARG); /* no policy */
    r.policy = p;
    assert_int_not_equal(vmesh_agent_set_rules(a, &r, 1), VMESH_OK);
    assert_non_null(strstr(vmesh_err_detail(), "policy rule 0"));
    /* the old rules stay in force */
    vmesh_policy_free(p);
    p = vmesh_agent_policy_for(a, "spiffe://td/legacy");
    assert_string_equal(vmesh_policy_id(p), "legacy");
    vmesh_policy_free(p);
    assert_int_equal(vmesh_agent_set_rules(a, NULL, 0), VMESH_OK);
    p = vmesh_agent_policy_for(a, "spiffe://td/legacy");
    assert_string_equal(vmesh_policy_id(p), "policy:vmesh/default");
    vmesh_policy_free(p);
    vmesh_agent_free(a);
}

static void reappraise_paths(void **state)
{
    vmesh_agent *a = agent_with_rules();
    vmesh_atls_peer_result r;
    char why[300];

    (void)state;
    vmesh_atls_peer_result_init(&r);
    r.mode = VMESH_ATLS_MODE_NONE;
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/legacy", &r, why, sizeof(why)), VMESH_ATLS_R_NONE);
    assert_string_equal(why, "");
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/other", &r, why, sizeof(why)),
                     VMESH_ATLS_R_UNATTESTED_REFUSED);
    assert_non_null(strstr(why, "refuses unattested"));
    /* background-check result without kept evidence */
    r.mode = VMESH_ATLS_MODE_EPOCH_FRESH;
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/other", &r, why, sizeof(why)), VMESH_ATLS_R_MALFORMED);
    assert_non_null(strstr(why, "not kept"));
    /* kept evidence of a media type no scheme appraises */
    assert_int_equal(vmesh_buf_set(&r.accepted.cmw, "\xd2\x84", 2), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&r.accepted.media_type, "application/psa-attestation-token; v=2", 38), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&r.accepted.media_type), VMESH_OK);
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/other", &r, why, sizeof(why)),
                     VMESH_ATLS_R_MEDIA_TYPE_REFUSED);
    /* kept evidence that does not parse is a result, not a crash */
    assert_int_equal(vmesh_buf_set(&r.accepted.media_type, "application/psa-attestation-token", 33), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&r.accepted.media_type), VMESH_OK);
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/other", &r, why, sizeof(why)), VMESH_ATLS_R_MALFORMED);
    assert_non_null(strstr(why, "cannot be appraised"));
    /* a mode the peer's rule does not accept (any more) */
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/pp/x", &r, why, sizeof(why)), VMESH_ATLS_R_MODE_REFUSED);
    assert_non_null(strstr(why, "no longer accepted by policy pp"));
    /* passport whose EAR was not kept / does not parse */
    r.mode = VMESH_ATLS_MODE_PASSPORT;
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/pp/x", &r, why, sizeof(why)), VMESH_ATLS_R_MALFORMED);
    vmesh_buf_reset(&r.accepted.cmw);
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/pp/x", &r, why, sizeof(why)), VMESH_ATLS_R_MALFORMED);
    assert_non_null(strstr(why, "not kept"));
    r.mode = 7;
    assert_int_equal(vmesh_agent_reappraise(a, "spiffe://td/pp/x", &r, why, sizeof(why)), VMESH_ATLS_R_INTERNAL);
    vmesh_atls_peer_result_free(&r);
    vmesh_agent_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy_for),
        cmocka_unit_test(provider_for),
        cmocka_unit_test(bad_rules),
        cmocka_unit_test(reappraise_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
