/*
 * The one media-type rule (vmesh_evidence_media_type_*): spellings of the
 * same media type share a canonical form; hostile spellings (duplicated or
 * unknown parameters, broken quoting, control bytes, overlong input,
 * prefixes) are refused or stay different, never matched by accident.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "vmesh/evidence.h"

#define PSA "application/eat+cwt; eat_profile=\"tag:psacertified.org,2023:psa#tfm\""
#define PSA_CANON "application/eat+cwt;eat_profile=\"tag:psacertified.org,2023:psa#tfm\""

static void canon_is(const char *in, const char *want)
{
    char out[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];

    if (vmesh_evidence_media_type_canon(in, out) != VMESH_OK)
        fail_msg("\"%s\" refused: %s", in, vmesh_err_detail());
    if (strcmp(out, want) != 0)
        fail_msg("\"%s\" -> \"%s\", expected \"%s\"", in, out, want);
}

static void refused(const char *in, vmesh_err want, const char *detail)
{
    char out[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
    vmesh_err rc = vmesh_evidence_media_type_canon(in, out);

    if (rc != want)
        fail_msg("\"%s\": %s, expected %s (%s)", in, vmesh_err_name(rc), vmesh_err_name(want), out);
    assert_string_equal(out, "");
    if (strstr(vmesh_err_detail(), detail) == NULL)
        fail_msg("\"%s\": detail \"%s\" lacks \"%s\"", in, vmesh_err_detail(), detail);
}

static void spellings(void **state)
{
    (void)state;
    canon_is("application/psa-attestation-token", "application/psa-attestation-token");
    /* RFC 9110 §8.3.1: "The type and subtype tokens are case-insensitive." */
    canon_is("Application/PSA-Attestation-Token", "application/psa-attestation-token");
    canon_is(PSA, PSA_CANON);
    /* parameter names are case-insensitive; values keep their case */
    canon_is("application/eat+cwt; EAT_Profile=\"tag:psacertified.org,2023:psa#tfm\"", PSA_CANON);
    canon_is("application/eat+cwt; eat_profile=\"TAG:psacertified.org\"", "application/eat+cwt;eat_profile=\"TAG:psacertified.org\"");
    /* whitespace around ';' and at the ends; none elsewhere */
    canon_is(" \tapplication/eat+cwt \t;\t eat_profile=\"tag:psacertified.org,2023:psa#tfm\" \t", PSA_CANON);
    /* "the quoted and unquoted values are equivalent" (§5.6.4) */
    canon_is("a/b; p=\"token\"", "a/b;p=token");
    canon_is("a/b; p=token", "a/b;p=token");
    canon_is("a/b; p=\"t\\o\\k\\en\"", "a/b;p=token");
    /* non-token values stay quoted, with '"' and '\' escaped */
    canon_is("a/b; p=\"x y\"", "a/b;p=\"x y\"");
    canon_is("a/b; p=\"a\\\"b\\\\c\"", "a/b;p=\"a\\\"b\\\\c\"");
    canon_is("a/b; p=\"\"", "a/b;p=\"\"");
    canon_is("a/b; p=\"x;q=y\"", "a/b;p=\"x;q=y\"");
    /* parameters are a set: sorted by name */
    canon_is("a/b; z=1; A=2; m=3", "a/b;a=2;m=3;z=1");
    /* empty parameters: parameters = *( OWS ";" OWS [ parameter ] ) */
    canon_is("a/b;", "a/b");
    canon_is("a/b; ;; p=1 ;", "a/b;p=1");
    canon_is("!#$%&'*+-.^_`|~0/9", "!#$%&'*+-.^_`|~0/9");
}

static void hostile(void **state)
{
    char big[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 2];
    char many[400] = "a/b";

    (void)state;
    refused("", VMESH_ERR_PARSE, "expected a type");
    refused("   ", VMESH_ERR_PARSE, "expected a type");
    refused("application", VMESH_ERR_PARSE, "expected '/'");
    refused("application/", VMESH_ERR_PARSE, "expected a subtype");
    refused("/json", VMESH_ERR_PARSE, "expected a type");
    refused("application /json", VMESH_ERR_PARSE, "expected '/'");
    refused("application/ json", VMESH_ERR_PARSE, "expected a subtype");
    refused("a/b/c", VMESH_ERR_PARSE, "expected ';'");
    refused("a/b c", VMESH_ERR_PARSE, "expected ';'");
    refused("a/b; p", VMESH_ERR_PARSE, "expected '='");
    refused("a/b; p =1", VMESH_ERR_PARSE, "expected '='");
    refused("a/b; p= 1", VMESH_ERR_PARSE, "expected a parameter value");
    refused("a/b; p=", VMESH_ERR_PARSE, "expected a parameter value");
    refused("a/b; =1", VMESH_ERR_PARSE, "expected a parameter name");
    refused("a/b; p=\"open", VMESH_ERR_PARSE, "does not end");
    refused("a/b; p=\"open\\\"", VMESH_ERR_PARSE, "does not end");
    refused("a/b; p=\"x\"y", VMESH_ERR_PARSE, "expected ';'");
    refused("a/b; p=x y", VMESH_ERR_PARSE, "expected ';'");
    refused("a/b; p=\"\x01\"", VMESH_ERR_PARSE, "control");
    refused("a/b; p=\"\x7f\"", VMESH_ERR_PARSE, "control");
    refused("a/b; p=\"\xc3\xa9\"", VMESH_ERR_PARSE, "non-ASCII");
    refused("a/b; p=\"\\\x01\"", VMESH_ERR_PARSE, "control");
    refused("a/b\r\n; p=1", VMESH_ERR_PARSE, "expected ';'");
    refused("a\x01/b", VMESH_ERR_PARSE, "expected '/'");
    refused("a/\xc3\xa9", VMESH_ERR_PARSE, "expected a subtype");
    /* two readers could pick different values: refused, also across case */
    refused("a/b; p=1; p=2", VMESH_ERR_PARSE, "twice");
    refused("a/b; p=1; P=1", VMESH_ERR_PARSE, "twice");
    /* caps */
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), ";p%d=1", i);
    refused(many, VMESH_ERR_PARSE, "more than 16 parameters");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[1] = '/';
    refused(big, VMESH_ERR_TOO_LARGE, "longer than 512");
    big[sizeof(big) - 2] = '\0'; /* exactly the cap */
    {
        char out[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
        assert_int_equal(vmesh_evidence_media_type_canon(big, out), VMESH_OK);
        assert_int_equal(strlen(out), VMESH_EVIDENCE_MEDIA_TYPE_MAX);
    }
    refused(NULL, VMESH_ERR_ARG, "no media type");
}

static void equality(void **state)
{
    static const char *const list[] = {"application/psa-attestation-token", PSA, NULL};

    (void)state;
    assert_true(vmesh_evidence_media_type_eq(PSA, "APPLICATION/EAT+CWT;eat_profile=tag:psacertified.org,2023:psa#tfm") ==
                false); /* ',' and ':' are not token characters: that value is malformed unquoted */
    assert_true(vmesh_evidence_media_type_eq(PSA, "APPLICATION/EAT+CWT;EAT_PROFILE=\"tag:psacertified.org,2023:psa#tfm\""));
    assert_true(vmesh_evidence_media_type_eq("a/b; x=1; y=2", "a/b;y=2;x=\"1\""));
    /* never a prefix match, never a match across an extra parameter */
    assert_false(vmesh_evidence_media_type_eq("application/psa-attestation-token", "application/psa-attestation-tokenx"));
    assert_false(vmesh_evidence_media_type_eq("application/psa-attestation-token",
                                              "application/psa-attestation-token; x=1"));
    assert_false(vmesh_evidence_media_type_eq(PSA, "application/eat+cwt"));
    assert_false(vmesh_evidence_media_type_eq(PSA, "application/eat+cwt; eat_profile=\"TAG:psacertified.org,2023:psa#tfm\""));
    /* a malformed spelling equals nothing, not even itself */
    assert_false(vmesh_evidence_media_type_eq("a/b; p=1; p=1", "a/b; p=1; p=1"));
    assert_false(vmesh_evidence_media_type_eq(NULL, "a/b"));
    assert_false(vmesh_evidence_media_type_eq("a/b", NULL));
    assert_int_equal(vmesh_evidence_media_type_find("application/psa-attestation-token", list), 0);
    assert_int_equal(vmesh_evidence_media_type_find(PSA, list), 1);
    assert_int_equal(vmesh_evidence_media_type_find(PSA_CANON, list), 1);
    assert_int_equal(vmesh_evidence_media_type_find(" Application/PSA-attestation-token ;", list), 0);
    assert_int_equal(vmesh_evidence_media_type_find("application/psa-attestation-token;v=2", list), -1);
    assert_int_equal(vmesh_evidence_media_type_find("", list), -1);
    assert_int_equal(vmesh_evidence_media_type_find(NULL, list), -1);
    assert_int_equal(vmesh_evidence_media_type_find("a/b", NULL), -1);
}

/* Every canonical form is a fixed point and stays a valid media type. */
static void fixed_point(void **state)
{
    static const char *const in[] = {PSA, "a/b; p=\"x y\"", "a/b; p=\"a\\\"b\\\\c\"", "A/B; Z=\"\"; a=1", NULL};

    (void)state;
    for (size_t i = 0; in[i] != NULL; i++) {
        char once[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1], twice[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
        assert_int_equal(vmesh_evidence_media_type_canon(in[i], once), VMESH_OK);
        assert_int_equal(vmesh_evidence_media_type_canon(once, twice), VMESH_OK);
        assert_string_equal(once, twice);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spellings),
        cmocka_unit_test(hostile),
        cmocka_unit_test(equality),
        cmocka_unit_test(fixed_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
