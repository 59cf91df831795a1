/* Unit tests for the generic corim module with a test profile of its own
 * (the PSA profile has its tests in tests/unit/psa/test_corim.c): triples
 * reach the profile that the CoRIM names, unknown profiles and triple kinds
 * are refused, a failing triple leaves the store untouched, indefinite
 * lengths are read, hostile CBOR is refused, and the writer's envelopes are
 * deterministic CBOR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "vmesh/corim.h"

#define TEST_URI "tag:example.com,2026:vmesh-test"

/* The test profile: a reference triple is [name: text, value: text],
 * stored as an attribute; "fail" as a name makes the handler fail. */
static vmesh_err test_ref(vmesh_rv_store *s, vmesh_cbor *t, size_t ci, size_t ti, vmesh_corim_info *info)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor items, a, b;
    vmesh_rv_env env = {"test", (const uint8_t *)"class", 5, NULL, 0};
    uint64_t n = 0;
    char name[64], value[64];

    VMESH_GUARD(vmesh_corim_array(t, "test triple", false, &items, &n));
    VMESH_ENSURE(n == 2, VMESH_ERR_PARSE, "CoMID %zu, triple %zu: not [name, value]", ci, ti);
    VMESH_GUARD(vmesh_cbor_read_item(&items, &a));
    VMESH_GUARD(vmesh_cbor_read_item(&items, &b));
    VMESH_GUARD(vmesh_corim_text(&a, "name", name, sizeof(name)));
    VMESH_GUARD(vmesh_corim_text(&b, "value", value, sizeof(value)));
    VMESH_ENSURE(strcmp(name, "fail") != 0, VMESH_ERR_PARSE, "CoMID %zu, triple %zu: asked to fail", ci, ti);
    VMESH_GUARD(vmesh_rv_add_attr(s, &env, name, value));
    info->measurements++;
out:
    return rc;
}

static const char *const test_uris[] = {TEST_URI, NULL};
static const vmesh_corim_profile test_profile = {"test", test_uris, test_ref, NULL};
static const vmesh_corim_profile *const profiles[] = {&test_profile, NULL};

/* A CoRIM of the test profile with one CoMID of the given reference triples
 * (names[i] = "value"), or, with keys, an attest-key triple instead. */
static void build(vmesh_buf *out, const char *const *names, size_t n, bool keys, const char *profile)
{
    vmesh_buf triples = {0}, tags = {0};

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vmesh_cbor_put_array(&triples, 2), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_text(&triples, names[i]), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_text(&triples, "value"), VMESH_OK);
    }
    assert_int_equal(vmesh_corim_put_comid(&tags, "comid", keys ? 3 : 0, n, triples.data, triples.len), VMESH_OK);
    vmesh_buf_reset(out);
    assert_int_equal(vmesh_corim_put_unsigned(out, "test-corim", profile, 1, tags.data, tags.len), VMESH_OK);
    vmesh_buf_free(&triples);
    vmesh_buf_free(&tags);
}

static void expect(vmesh_rv_store *s, const vmesh_buf *b, vmesh_err want, const char *msg)
{
    vmesh_err rc = vmesh_corim_load(s, b->data, b->len, NULL, 0, profiles, "t", NULL);

    if (rc != want || (msg != NULL && strstr(vmesh_err_detail(), msg) == NULL))
        fail_msg("got %d \"%s\", want %d \"%s\"", rc, vmesh_err_detail(), want, msg ? msg : "");
}

static void profile_dispatch(void **state)
{
    static const char *const names[] = {"a", "b", "c"};
    static const char *const failing[] = {"a", "fail"};
    vmesh_rv_store *s = NULL;
    vmesh_buf b = {0};
    vmesh_corim_info info;
    vmesh_cbor r;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    build(&b, names, 3, false, TEST_URI);
    /* the writer's envelopes are deterministic CBOR */
    vmesh_cbor_init(&r, b.data, b.len, "test", VMESH_CBOR_DETERMINISTIC);
    assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
    assert_int_equal(vmesh_corim_load(s, b.data, b.len, NULL, 0, profiles, "t", &info), VMESH_OK);
    assert_string_equal(info.id, "test-corim");
    assert_string_equal(info.profile, TEST_URI);
    assert_int_equal(info.comids, 1);
    assert_int_equal(info.measurements, 3);
    assert_int_equal(vmesh_rv_store_size(s), 3);
    /* all or nothing: the second triple fails, the first is not kept */
    build(&b, failing, 2, false, TEST_URI);
    expect(s, &b, VMESH_ERR_PARSE, "CoRIM t: CoMID 0, triple 1: asked to fail");
    assert_int_equal(vmesh_rv_store_size(s), 3);
    /* a triple kind the profile does not map */
    build(&b, names, 1, true, TEST_URI);
    expect(s, &b, VMESH_ERR_UNSUPPORTED, "the test profile does not map attest-key-triples");
    /* a profile nobody maps, and no profiles at all */
    build(&b, names, 1, false, "tag:example.com,2026:other");
    expect(s, &b, VMESH_ERR_UNSUPPORTED, "\"tag:example.com,2026:other\" is not supported; vmesh maps CoRIM for \"" TEST_URI "\"");
    build(&b, names, 1, false, TEST_URI);
    assert_int_equal(vmesh_corim_load(s, b.data, b.len, NULL, 0, NULL, "t", NULL), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "(none)"));
    assert_int_equal(vmesh_rv_store_size(s), 3);
    vmesh_buf_free(&b);
    vmesh_rv_store_free(s);
}

/* The same CoRIM as build(names = {"x"}) by hand, with indefinite lengths
 * for the corim-map, the tags array, the CoMID map, the triples array and
 * the triple; then with an indefinite-length text (not supported). */
static void indefinite_lengths(void **state)
{
    vmesh_buf comid = {0}, b = {0};
    vmesh_rv_store *s = NULL;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    for (int variant = 0; variant < 2; variant++) {
        vmesh_buf_reset(&comid);
        vmesh_buf_reset(&b);
        /* {_ 1: {0: "c"}, 4: {0: [_ [_ "x", "value"]]}} */
        assert_int_equal(vmesh_buf_append(&comid, "\xbf\x01\xa1\x00\x61" "c" "\x04\xa1\x00\x9f\x9f", 11), VMESH_OK);
        if (variant == 0)
            assert_int_equal(vmesh_buf_append(&comid, "\x61x", 2), VMESH_OK);
        else
            assert_int_equal(vmesh_buf_append(&comid, "\x7f\x61x\xff", 4), VMESH_OK);
        assert_int_equal(vmesh_buf_append(&comid, "\x65value\xff\xff\xff", 9), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_tag(&b, VMESH_CORIM_TAG), VMESH_OK);
        assert_int_equal(vmesh_buf_append(&b, "\xbf\x00\x61i\x01\x9f", 6), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_tag(&b, VMESH_CORIM_COMID_TAG), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_bstr(&b, comid.data, comid.len), VMESH_OK);
        assert_int_equal(vmesh_buf_append_u8(&b, 0xff), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_uint(&b, 3), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_tag(&b, 32), VMESH_OK);
        assert_int_equal(vmesh_cbor_put_text(&b, TEST_URI), VMESH_OK);
        assert_int_equal(vmesh_buf_append_u8(&b, 0xff), VMESH_OK);
        if (variant == 0)
            expect(s, &b, VMESH_OK, NULL);
        else
            expect(s, &b, VMESH_ERR_UNSUPPORTED, "name: indefinite-length text strings are not supported");
    }
    assert_int_equal(vmesh_rv_store_size(s), 1);
    vmesh_buf_free(&comid);
    vmesh_buf_free(&b);
    vmesh_rv_store_free(s);
}

static void structure_refusals(void **state)
{
    static const char *const names[] = {"a"};
    vmesh_rv_store *s = NULL;
    vmesh_buf b = {0}, tags = {0}, comid = {0};

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    /* endorsed triples (key 1): vmesh could not enforce them */
    assert_int_equal(vmesh_corim_put_comid(&tags, "c", 1, 0, NULL, 0), VMESH_OK);
    assert_int_equal(vmesh_corim_put_unsigned(&b, "i", TEST_URI, 1, tags.data, tags.len), VMESH_OK);
    expect(s, &b, VMESH_ERR_UNSUPPORTED, "CoMID 0: triples: key 1 (endorsed-triples) is not supported");
    /* a CoSWID where a CoMID belongs */
    vmesh_buf_reset(&tags);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_cbor_put_tag(&tags, 505), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bstr(&tags, "\xa0", 1), VMESH_OK);
    assert_int_equal(vmesh_corim_put_unsigned(&b, "i", TEST_URI, 1, tags.data, tags.len), VMESH_OK);
    expect(s, &b, VMESH_ERR_UNSUPPORTED, "tag 0 is not a CoMID (tag 506) but a CoSWID (505)");
    /* a CoMID whose bytes are not one CBOR item */
    vmesh_buf_reset(&tags);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_cbor_put_tag(&tags, VMESH_CORIM_COMID_TAG), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bstr(&tags, "\xa0\xa0", 2), VMESH_OK);
    assert_int_equal(vmesh_corim_put_unsigned(&b, "i", TEST_URI, 1, tags.data, tags.len), VMESH_OK);
    expect(s, &b, VMESH_ERR_PARSE, "CoMID 0 is not well-formed CBOR");
    /* trailing bytes after a good CoRIM, and a good one signed */
    build(&b, names, 1, false, TEST_URI);
    assert_int_equal(vmesh_buf_append_u8(&b, 0), VMESH_OK);
    expect(s, &b, VMESH_ERR_PARSE, "1 trailing bytes");
    /* nesting deeper than VMESH_CORIM_MAX_DEPTH, and a count the input cannot hold */
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_cbor_put_tag(&b, VMESH_CORIM_TAG), VMESH_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(vmesh_buf_append_u8(&b, 0x81), VMESH_OK);
    assert_int_equal(vmesh_buf_append_u8(&b, 0), VMESH_OK);
    expect(s, &b, VMESH_ERR_PARSE, "nested deeper than 24 levels");
    expect(s, &(vmesh_buf){(uint8_t *)"\xd9\x01\xf5\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 12, 12, 0, false},
           VMESH_ERR_PARSE, "declares 18446744073709551615 entries");
    assert_int_equal(vmesh_rv_store_size(s), 0);
    vmesh_buf_free(&comid);
    vmesh_buf_free(&tags);
    vmesh_buf_free(&b);
    vmesh_rv_store_free(s);
}

static void signed_envelope(void **state)
{
    static const char *const names[] = {"a", "b"};
    vmesh_key *k = NULL;
    vmesh_rv_store *s = NULL;
    vmesh_buf b = {0}, sig = {0}, payload = {0};
    vmesh_corim_info info;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    build(&b, names, 2, false, TEST_URI);
    assert_int_equal(vmesh_corim_sign(b.data, b.len, k, "test RVP", &sig), VMESH_OK);
    assert_true(vmesh_corim_is_corim(sig.data, sig.len));
    assert_int_equal(vmesh_corim_verify_signed(sig.data, sig.len, k, &payload), VMESH_OK);
    assert_int_equal(payload.len, b.len);
    assert_memory_equal(payload.data, b.data, b.len);
    assert_int_equal(vmesh_corim_load(s, sig.data, sig.len, k, 0, profiles, "signed", &info), VMESH_OK);
    assert_true(info.was_signed && info.verified);
    assert_int_equal(vmesh_rv_store_size(s), 2);
    /* every truncation of the signed CoRIM is refused */
    for (size_t n = 0; n < sig.len; n++)
        assert_int_not_equal(vmesh_corim_load(s, sig.data, n, k, 0, profiles, "cut", NULL), VMESH_OK);
    assert_int_equal(vmesh_rv_store_size(s), 2);
    vmesh_buf_free(&b);
    vmesh_buf_free(&sig);
    vmesh_buf_free(&payload);
    vmesh_rv_store_free(s);
    vmesh_crypto_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile_dispatch),
        cmocka_unit_test(indefinite_lengths),
        cmocka_unit_test(structure_refusals),
        cmocka_unit_test(signed_envelope),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
