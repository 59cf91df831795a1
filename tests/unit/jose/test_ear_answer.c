/* vmesh_ear_check_answer: a verifier's EAR bound to the question (DESIGN §9).
 * Each property is broken alone and must be refused with its own answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/jose.h"

static const uint8_t NONCE[32] = {0x3f, 0x2a, 1, 2, 3};
static const uint8_t OTHER[32] = {0x77, 0x66, 9};
static const uint8_t AK[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce};
static const uint8_t AK2[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xcf};

/* An EAR from verifier "vmesh" for scheme (with AK akpub), nonce n, valid
 * for life seconds (0: no exp). */
static vmesh_ear *mk(const char *scheme, const uint8_t *n, int64_t life, const uint8_t *akpub)
{
    vmesh_ear *e = NULL;
    vmesh_tv tv = {{2, 0, 2, 0, 2, 2, 2, 0}};

    assert_int_equal(vmesh_ear_new(&e), VMESH_OK);
    assert_int_equal(vmesh_ear_set_iat(e, 1000000), VMESH_OK);
    if (life > 0)
        assert_int_equal(vmesh_ear_set_exp(e, 1000000 + life), VMESH_OK);
    assert_int_equal(vmesh_ear_set_verifier_id(e, "vmesh", "vmesh-test"), VMESH_OK);
    if (n != NULL)
        assert_int_equal(vmesh_ear_set_nonce(e, n, 32), VMESH_OK);
    assert_int_equal(vmesh_ear_add_submod(e, scheme, VMESH_TIER_AFFIRMING, &tv, "p", NULL, akpub,
                                          akpub ? sizeof(AK) : 0),
                     VMESH_OK);
    return e;
}

static vmesh_ear_question question(void)
{
    vmesh_ear_question q;

    memset(&q, 0, sizeof(q));
    q.nonce = NONCE;
    q.nonce_len = sizeof(NONCE);
    q.scheme = "psa";
    q.issuer = "vmesh";
    q.max_lifetime = 3600;
    return q;
}

static void check(vmesh_ear *e, const vmesh_ear_question *q, vmesh_ear_answer want, const char *msg_part)
{
    size_t sub = 99;
    vmesh_ear_answer got = vmesh_ear_check_answer(e, q, &sub);

    if (got != want)
        fail_msg("answer %s, expected %s (%s)", vmesh_ear_answer_name(got), vmesh_ear_answer_name(want),
                 vmesh_err_detail());
    if (want == VMESH_EAR_ANSWER_OK)
        assert_int_equal(sub, 0);
    else if (strstr(vmesh_err_detail(), msg_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", vmesh_err_detail(), msg_part);
    vmesh_ear_free(e);
}

static void bound_answer_accepted(void **state)
{
    vmesh_ear_question q = question();

    (void)state;
    check(mk("psa", NONCE, 3600, NULL), &q, VMESH_EAR_ANSWER_OK, NULL);
    q.akpub = AK;
    q.akpub_len = sizeof(AK);
    check(mk("psa", NONCE, 60, AK), &q, VMESH_EAR_ANSWER_OK, NULL);
}

static void each_property_refused(void **state)
{
    vmesh_ear_question q = question();

    (void)state;
    /* a genuine answer to another question: the message names both nonces */
    check(mk("psa", OTHER, 3600, NULL), &q, VMESH_EAR_ANSWER_NONCE, "eat_nonce 7766");
    check(mk("psa", OTHER, 3600, NULL), &q, VMESH_EAR_ANSWER_NONCE, "nonce sent 3f2a");
    check(mk("psa", NULL, 3600, NULL), &q, VMESH_EAR_ANSWER_NONCE, "absent");
    /* another scheme's submodule is not read in place of ours */
    check(mk("tpm2", NONCE, 3600, NULL), &q, VMESH_EAR_ANSWER_SUBMOD, "no submodule for scheme \"psa\"");
    q.issuer = "central-1";
    check(mk("psa", NONCE, 3600, NULL), &q, VMESH_EAR_ANSWER_ISSUER, "not \"central-1\"");
    q = question();
    check(mk("psa", NONCE, 3601, NULL), &q, VMESH_EAR_ANSWER_LIFETIME, "3601 s");
    check(mk("psa", NONCE, 0, NULL), &q, VMESH_EAR_ANSWER_LIFETIME, "no exp");
    q.akpub = AK;
    q.akpub_len = sizeof(AK);
    check(mk("psa", NONCE, 60, AK2), &q, VMESH_EAR_ANSWER_AK, "another key");
    check(mk("psa", NONCE, 60, NULL), &q, VMESH_EAR_ANSWER_AK, "no key");
    /* appraised for another identity (scoped providers): the EAR names the
     * peer the verifier chose reference values for */
    q = question();
    q.peer = "spiffe://x.example/ns/ai/sa/client";
    {
        vmesh_ear *e = mk("psa", NONCE, 60, NULL);
        assert_int_equal(vmesh_ear_set_peer(e, "spiffe://y.example/ns/ai/sa/client", "only RVP y"), VMESH_OK);
        check(e, &q, VMESH_EAR_ANSWER_PEER, "appraised for spiffe://y.example/ns/ai/sa/client, not");
        e = mk("psa", NONCE, 60, NULL);
        assert_int_equal(vmesh_ear_set_peer(e, "spiffe://x.example/ns/ai/sa/client", "only RVP x"), VMESH_OK);
        assert_string_equal(vmesh_ear_peer_scope(e), "only RVP x");
        check(e, &q, VMESH_EAR_ANSWER_OK, NULL);
    }
    check(mk("psa", NONCE, 60, NULL), &q, VMESH_EAR_ANSWER_PEER, "no identity");
    {
        vmesh_ear *e = mk("psa", NONCE, 60, NULL);
        assert_int_not_equal(vmesh_ear_set_peer(e, "x.example", NULL), VMESH_OK);
        vmesh_ear_free(e);
    }
    /* no question, no answer */
    q = question();
    q.nonce = NULL;
    check(mk("psa", NONCE, 60, NULL), &q, VMESH_EAR_ANSWER_NONCE, "no nonce");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bound_answer_accepted),
        cmocka_unit_test(each_property_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
