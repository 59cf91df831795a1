/*
 * RFC 9999 CMW: records and collections round-trip byte for byte in CBOR
 * and JSON, collections encode deterministically, and every malformed or
 * unsupported form is refused with a message naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmesh/cmw.h"

static vmesh_buf hexbuf;

static const uint8_t *hx(const char *s, size_t *n)
{
    vmesh_buf_free(&hexbuf);
    assert_int_equal(vmesh_hex_decode(s, strlen(s), &hexbuf), VMESH_OK);
    *n = hexbuf.len;
    return hexbuf.data != NULL ? hexbuf.data : (const uint8_t *)"";
}

static void expect_detail(const char *needle)
{
    if (strstr(vmesh_err_detail(), needle) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", vmesh_err_detail(), needle);
}

/* "application/eat+cwt" */
#define EAT_CWT "736170706c69636174696f6e2f6561742b637774"

static void cbor_round_trips(void **state)
{
    (void)state;
    static const char *const ok[] = {
        /* record [type, value] and [type, value, ind] */
        "82" EAT_CWT "420102",
        "83" EAT_CWT "42010204",
        /* a CoAP Content-Format type */
        "82192710" "41ff",
        /* a collection with a type and integer labels (CCA's platform + realm) */
        "a3" "19acca" "82" EAT_CWT "4101" "19acd1" "82" EAT_CWT "4102" "68" "5f5f636d77635f74" "65" "312e322e33",
        /* text labels */
        "a2" "61" "61" "82" "63612f62" "40" "61" "62" "83" "63612f62" "4100" "08",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        vmesh_cmw c;
        vmesh_buf out = {0};
        size_t n;
        const uint8_t *p = hx(ok[i], &n);

        vmesh_cmw_init(&c);
        if (vmesh_cmw_decode(p, n, &c) != VMESH_OK)
            fail_msg("vector %zu: %s", i, vmesh_err_detail());
        assert_int_equal(vmesh_cmw_encode_cbor(&c, &out), VMESH_OK);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, p, n);
        vmesh_buf_free(&out);
        vmesh_cmw_free(&c);
    }
}

static void record_fields(void **state)
{
    vmesh_cmw c;
    size_t n;
    const uint8_t *p = hx("83" EAT_CWT "42010204", &n);

    (void)state;
    vmesh_cmw_init(&c);
    assert_int_equal(vmesh_cmw_decode_cbor(p, n, &c), VMESH_OK);
    assert_false(c.collection);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.rec[0].type, "application/eat+cwt");
    assert_int_equal(c.rec[0].value.len, 2);
    assert_int_equal(c.rec[0].ind, VMESH_CMW_IND_EVIDENCE);
    vmesh_cmw_free(&c);
}

static void json_round_trips(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "[\"application/eat+jwt\",\"eyJhbGciOiJFUzI1NiJ9\"]",
        "[\"application/eat+jwt\",\"AAEC\",8]",
        ("{\"__cmwc_t\":\"tag:example.com,2026:composite\",\"platform\":[\"application/a+cbor\",\"AAEC\"],"
         "\"realm\":[\"application/c+cbor\",\"AwQ\",4]}"),
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        vmesh_cmw c, d;
        vmesh_buf out = {0}, cb = {0}, out2 = {0};

        vmesh_cmw_init(&c);
        vmesh_cmw_init(&d);
        if (vmesh_cmw_decode((const uint8_t *)ok[i], strlen(ok[i]), &c) != VMESH_OK)
            fail_msg("vector %zu: %s", i, vmesh_err_detail());
        assert_int_equal(vmesh_cmw_encode_json(&c, &out), VMESH_OK);
        assert_int_equal(out.len, strlen(ok[i]));
        assert_memory_equal(out.data, ok[i], out.len);
        /* JSON -> CBOR -> JSON keeps every field (the collection's order may change: keys sort in CBOR) */
        assert_int_equal(vmesh_cmw_encode_cbor(&c, &cb), VMESH_OK);
        assert_int_equal(vmesh_cmw_decode_cbor(cb.data, cb.len, &d), VMESH_OK);
        assert_int_equal(d.n, c.n);
        assert_int_equal(d.collection, c.collection);
        for (size_t j = 0; j < c.n; j++) {
            const vmesh_cmw_record *r = c.collection ? vmesh_cmw_find(&d, c.rec[j].label, 0) : &d.rec[0];

            assert_non_null(r);
            assert_string_equal(r->type, c.rec[j].type);
            assert_int_equal(r->ind, c.rec[j].ind);
            assert_int_equal(r->value.len, c.rec[j].value.len);
            assert_memory_equal(r->value.data, c.rec[j].value.data, r->value.len);
        }
        assert_int_equal(vmesh_cmw_encode_json(&d, &out2), VMESH_OK);
        assert_int_equal(out2.len, out.len);
        vmesh_buf_free(&out);
        vmesh_buf_free(&out2);
        vmesh_buf_free(&cb);
        vmesh_cmw_free(&c);
        vmesh_cmw_free(&d);
    }
}

/* Built through the API: keys come out in bytewise order of their encodings
 * (integers 0x19.. before the text "__cmwc_t" 0x68..), whatever the order
 * of insertion, and a second encoding of the decoded value is identical. */
static void collection_deterministic(void **state)
{
    vmesh_cmw c, d;
    vmesh_buf a = {0}, b = {0};
    static const uint8_t tok[] = {0xd2, 0x84};

    (void)state;
    vmesh_cmw_init(&c);
    vmesh_cmw_init(&d);
    c.collection = true;
    c.ctype = strdup("tag:example.com,2026:cca");
    assert_int_equal(vmesh_cmw_add(&c, NULL, 44241, "application/eat+cwt", tok, 2, 0), VMESH_OK);
    assert_int_equal(vmesh_cmw_add(&c, NULL, 44234, "application/eat+cwt", tok, 2, VMESH_CMW_IND_EVIDENCE),
                     VMESH_OK);
    assert_int_equal(vmesh_cmw_add(&c, NULL, 44234, "application/eat+cwt", tok, 2, 0), VMESH_ERR_PARSE);
    expect_detail("twice");
    assert_int_equal(vmesh_cmw_encode_cbor(&c, &a), VMESH_OK);
    assert_int_equal(a.data[0], 0xa3);
    assert_memory_equal(a.data + 1, "\x19\xac\xca", 3);
    assert_int_equal(vmesh_cmw_decode_cbor(a.data, a.len, &d), VMESH_OK);
    assert_non_null(vmesh_cmw_find(&d, NULL, 44241));
    assert_string_equal(d.ctype, "tag:example.com,2026:cca");
    assert_int_equal(vmesh_cmw_encode_cbor(&d, &b), VMESH_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    vmesh_buf_reset(&b);
    /* integer labels have no JSON form */
    assert_int_equal(vmesh_cmw_encode_json(&d, &b), VMESH_ERR_ARG);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    vmesh_cmw_free(&c);
    vmesh_cmw_free(&d);
}

static void malformed_cbor(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        vmesh_err code;
        const char *detail;
    } bad[] = {
        {"", VMESH_ERR_PARSE, "empty"},
        {"8163612f62", VMESH_ERR_PARSE, "not a record"},
        {"8463612f624001", VMESH_ERR_PARSE, "not a record"},
        {"82410040", VMESH_ERR_PARSE, "expected a media type"},
        {"8263612f626178", VMESH_ERR_PARSE, "byte string"},
        {"8363612f624000", VMESH_ERR_PARSE, "indicator is 0"},
        {"8262616240", VMESH_ERR_PARSE, "not a media type"},
        {"821a0001000040", VMESH_ERR_PARSE, "Content-Format"},
        {"8263612f624000", VMESH_ERR_PARSE, "trailing"},
        {"9f63612f6240ff", VMESH_ERR_PARSE, "CMW"},
        {"d9039082" "63612f62" "40", VMESH_ERR_UNSUPPORTED, "CBOR-tag"},
        {"a16161a1616282" "63612f62" "40", VMESH_ERR_UNSUPPORTED, "nested collection"},
        {"a1616182" "6f23636d772d6a32632d74756e6e656c" "40", VMESH_ERR_UNSUPPORTED, "tunnel"},
        {"a0", VMESH_ERR_PARSE, "empty"},
        {"a1" "685f5f636d77635f74" "6178", VMESH_ERR_PARSE, "no member"},
        {"a2" "01" "8263612f6240" "01" "8263612f6240", VMESH_ERR_PARSE, "twice"},
        {"a1" "685f5f636d77635f74" "8263612f6240", VMESH_ERR_PARSE, "text string"},
        {"a1" "f5" "8263612f6240", VMESH_ERR_PARSE, "label"},
        {"a1" "60" "8263612f6240", VMESH_ERR_PARSE, "label is empty"},
        {"825a7fffffff", VMESH_ERR_PARSE, "CMW"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmesh_cmw c;
        size_t n;
        const uint8_t *p = hx(bad[i].hex, &n);
        vmesh_err rc;

        vmesh_cmw_init(&c);
        rc = vmesh_cmw_decode(p, n, &c);
        if (rc != bad[i].code)
            fail_msg("vector %zu (%s): code %d, want %d (%s)", i, bad[i].hex, rc, bad[i].code, vmesh_err_detail());
        expect_detail(bad[i].detail);
        assert_int_equal(c.n, 0);
        vmesh_cmw_free(&c);
    }
}

static void malformed_json(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        vmesh_err code;
        const char *detail;
    } bad[] = {
        {"[\"a/b\",\"AA==\"]", VMESH_ERR_PARSE, "base64url"},
        {"[\"a/b\",\"A+B\"]", VMESH_ERR_PARSE, "base64url"},
        {"[\"a/b\",\"AB\"]", VMESH_ERR_PARSE, "trailing bits"},
        {"[\"a/b\"]", VMESH_ERR_PARSE, "not a record"},
        {"[1,\"AA\"]", VMESH_ERR_PARSE, "Content-Format"},
        {"[\"a/b\",\"AA\",0]", VMESH_ERR_PARSE, "positive integer"},
        {"[\"ab\",\"AA\"]", VMESH_ERR_PARSE, "not a media type"},
        {"[\"#cmw-c2j-tunnel\",\"AA\"]", VMESH_ERR_UNSUPPORTED, "tunnel"},
        {"{\"x\":{\"y\":[\"a/b\",\"AA\"]}}", VMESH_ERR_UNSUPPORTED, "nested"},
        {"{}", VMESH_ERR_PARSE, "empty"},
        {"{\"__cmwc_t\":\"1.2\"}", VMESH_ERR_PARSE, "no member"},
        {"{\"__cmwc_t\":7,\"a\":[\"a/b\",\"AA\"]}", VMESH_ERR_PARSE, "URI or OID"},
        {"{\"a\":[\"a/b\",\"AA\"],\"a\":[\"a/b\",\"AA\"]}", VMESH_ERR_PARSE, "not JSON"},
        {"[\"a/b\",\"AA\"] x", VMESH_ERR_PARSE, "not JSON"},
        {"\"a/b\"", VMESH_ERR_PARSE, "not JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmesh_cmw c;
        vmesh_err rc;

        vmesh_cmw_init(&c);
        rc = vmesh_cmw_decode_json(bad[i].json, strlen(bad[i].json), &c);
        if (rc != bad[i].code)
            fail_msg("vector %zu (%s): code %d, want %d (%s)", i, bad[i].json, rc, bad[i].code, vmesh_err_detail());
        expect_detail(bad[i].detail);
        assert_int_equal(c.n, 0);
        vmesh_cmw_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cbor_round_trips),         cmocka_unit_test(record_fields),
        cmocka_unit_test(json_round_trips),         cmocka_unit_test(collection_deterministic),
        cmocka_unit_test(malformed_cbor),           cmocka_unit_test(malformed_json),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    vmesh_buf_free(&hexbuf);
    return rc;
}
