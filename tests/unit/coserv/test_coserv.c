/* Unit tests for the CoSERV codec (draft-ietf-rats-coserv-07): Veraison's
 * vectors (../shared/vectors/coserv) decode, re-encode byte for byte, and
 * the base64url form matches the CBOR; malformed requests are refused with
 * a message naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/coserv.h"

static bool vector(const char *rel, vmesh_buf *out)
{
    const char *dir = getenv("VMESH_VECTORS");
    char path[1024];

    if (dir == NULL)
        return false;
    snprintf(path, sizeof(path), "%s/coserv/%s", dir, rel);
    return vmesh_file_read(path, 0, out) == VMESH_OK;
}

static void roundtrip(const vmesh_buf *in, vmesh_coserv *c)
{
    vmesh_buf again = {0};

    assert_int_equal(vmesh_coserv_decode(in->data, in->len, c), VMESH_OK);
    assert_int_equal(vmesh_coserv_encode(c, &again), VMESH_OK);
    assert_int_equal(again.len, in->len);
    assert_memory_equal(again.data, in->data, in->len);
    vmesh_buf_free(&again);
}

static void vectors(void **state)
{
    vmesh_buf b = {0}, b64 = {0}, cbor = {0};
    vmesh_coserv c;

    (void)state;
    if (!vector("rv-class-simple.cbor", &b))
        skip();
    roundtrip(&b, &c);
    assert_string_equal(c.profile, "tag:example.com,2025:cc-platform#1.0.0");
    assert_int_equal(c.artifact, VMESH_COSERV_REFERENCE_VALUES);
    assert_string_equal(vmesh_coserv_artifact_name(c.artifact), "reference-values");
    assert_int_equal(c.kind, VMESH_COSERV_SEL_CLASS);
    assert_int_equal(c.nsel, 1);
    assert_int_equal(c.result_type, VMESH_COSERV_SOURCE);
    assert_int_equal(c.results.n, 0);
    vmesh_buf_free(&b);

    assert_true(vector("rv-class-simple-results.cbor", &b));
    roundtrip(&b, &c);
    assert_int_equal(c.result_type, VMESH_COSERV_COLLECTED);
    assert_true(c.results.n > 0);
    assert_int_equal(c.expiry, 1923417002); /* 2030-12-13T18:30:02Z */
    vmesh_buf_free(&b);

    assert_true(vector("example-class-selector.cbor", &b));
    roundtrip(&b, &c);
    assert_int_equal(c.nsel, 2); /* bytes class-id + vendor/model, and a UUID class-id */
    assert_int_equal(c.result_type, VMESH_COSERV_COLLECTED);
    /* the base64url form (a request path segment) is the same query */
    assert_true(vector("example-class-selector.b64u", &b64));
    while (b64.len > 0 && (b64.data[b64.len - 1] == '\n' || b64.data[b64.len - 1] == '\r'))
        b64.len--;
    assert_int_equal(vmesh_coserv_decode_b64url((const char *)b64.data, b64.len, &cbor, &c), VMESH_OK);
    assert_int_equal(cbor.len, b.len);
    assert_memory_equal(cbor.data, b.data, b.len);
    vmesh_buf_free(&b);
    vmesh_buf_free(&b64);
    vmesh_buf_free(&cbor);
}

static void expect_refused(const char *hex, const char *substr)
{
    vmesh_buf b = {0};
    vmesh_coserv c;

    assert_int_equal(vmesh_hex_decode(hex, strlen(hex), &b), VMESH_OK);
    if (vmesh_coserv_decode(b.data, b.len, &c) == VMESH_OK)
        fail_msg("accepted: %s", hex);
    if (strstr(vmesh_err_detail(), substr) == NULL)
        fail_msg("%s: detail \"%s\" lacks \"%s\"", hex, vmesh_err_detail(), substr);
    assert_int_equal(c.nsel, 0); /* nothing half-decoded */
    vmesh_buf_free(&b);
}

/* {0: "p", 1: {0: 2, 1: {0: [[{1: "V"}]]}, 2: 0}} and variations */
static void malformed(void **state)
{
    (void)state;
    /* the good one, for reference: a2 00 6170 01 a3 00 02 01 a1 00 81 81 a1 01 6156 02 00 */
    {
        vmesh_buf b = {0};
        vmesh_coserv c;
        const char *good = "a2006170" "01a3000201a1008181a101615602" "00";
        assert_int_equal(vmesh_hex_decode(good, strlen(good), &b), VMESH_OK);
        assert_int_equal(vmesh_coserv_decode(b.data, b.len, &c), VMESH_OK);
        assert_int_equal(c.nsel, 1);
        vmesh_buf_free(&b);
    }
    expect_refused("a2006170" "01a3000201a1008181a101615602" "0000", "trailing");
    expect_refused("a2006170" "01a3000301a1008181a101615602" "00", "artifact-type 3 is not defined");
    expect_refused("a2006170" "01a3000201a1008181a101615602" "03", "result-type 3 is not defined");
    expect_refused("a2006170" "01a2000201a1008181a1016156", "lacks result-type");
    expect_refused("a2006170" "01a3000201a2008181a10161560181814100" "0200", "exactly one");
    expect_refused("a2006170" "01a3000201a1008002" "00", "empty selector list");
    expect_refused("a2006170" "01a3000201a1008181a0" "0200", "empty class-map");
    expect_refused("a2006170" "01a3000201a1008181a109615602" "00", "has key 9");
    expect_refused("a2006170" "01a3000201a1008181a1004100" "0200", "expected a tagged value");
    expect_refused("a2006170" "01a3000201a1008182a101615600" "0200", "expected an array");
    expect_refused("a2006170" "01a3000201a1038181a101615602" "00", "environment-selector key 3");
    expect_refused("a2006170" "01a3000201a1008181a101615600" "02", "appears twice");
    expect_refused("a1006170", "the query (key 1) is missing");
    expect_refused("a20060" "01a3000201a1008181a101615602" "00", "empty profile");
    expect_refused("a200d8204100" "01a3000201a1008181a101615602" "00", "expected a URI");
    expect_refused("a3006170" "01a3000201a1008181a101615602" "00" "02a0", "lack their expiry");
    expect_refused("a3006170" "01a3000201a1008181a101615602" "00" "02a10ac16178", "expiry has tag 1");
    expect_refused("a3006170" "01a3000201a1008181a101615602" "00" "02a10ac06178", "expiry");
    expect_refused("a2056170" "01a3000201a1008181a101615602" "00", "top-level key 5");
    expect_refused("bf006170ff", "indefinite");
    expect_refused("80", "map");
}

static void b64url_only(void **state)
{
    vmesh_buf buf = {0};
    vmesh_coserv c;
    const char *padded = "ogBhcAGjAAIBoQCBgaEBYVYCAA==";
    const char *plus = "ogBhcAGjAAIBoQCBgaEBYVYCA+";

    (void)state;
    assert_int_equal(vmesh_coserv_decode_b64url(padded, strlen(padded) - 2, &buf, &c), VMESH_OK);
    assert_int_equal(vmesh_coserv_decode_b64url(padded, strlen(padded), &buf, &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "without padding"));
    assert_int_equal(vmesh_coserv_decode_b64url(plus, strlen(plus), &buf, &c), VMESH_ERR_PARSE);
    vmesh_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors),
        cmocka_unit_test(malformed),
        cmocka_unit_test(b64url_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
