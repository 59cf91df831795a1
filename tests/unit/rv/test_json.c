/* Unit tests for the RV JSON format (docs/RV-JSON.md): a full round trip,
 * every id encoding, and the refusals that keep a typo from weakening
 * appraisal (unknown fields, digest lengths, bad base64, private keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/rv.h"

#define D32 "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"
#define D48 D32 "0102030405060708090a0b0c0d0e0f10"

static vmesh_key *gen_public(vmesh_buf *jwk, vmesh_buf *pem)
{
    vmesh_key *priv = NULL, *pub = NULL;
    vmesh_buf spki = {0};

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &priv), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(priv, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    if (jwk != NULL)
        assert_int_equal(vmesh_crypto_key_to_jwk(pub, false, jwk), VMESH_OK);
    if (pem != NULL)
        assert_int_equal(vmesh_crypto_key_to_pem(pub, false, pem), VMESH_OK);
    vmesh_buf_free(&spki);
    vmesh_crypto_key_free(priv);
    return pub;
}

/* JSON string escaping of a PEM (newlines). */
static void json_escape(const vmesh_buf *in, char *out, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < in->len && o + 3 < max; i++) {
        if (in->data[i] == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = (char)in->data[i];
        }
    }
    out[o] = '\0';
}

static vmesh_err load(vmesh_rv_store *s, const char *doc)
{
    return vmesh_rv_load_json(s, (const uint8_t *)doc, strlen(doc), "test.json");
}

static void round_trip(void **state)
{
    vmesh_buf jwk = {0}, pem = {0}, out1 = {0}, out2 = {0};
    vmesh_key *k1 = gen_public(&jwk, NULL), *k2 = gen_public(NULL, &pem), *keys[4];
    vmesh_rv_store *s = NULL, *t = NULL;
    const vmesh_rv_measurement *ms[8];
    const char *vals[4];
    char pem_esc[1024], *doc;
    const uint8_t cls[] = "acme-implementation-id-000000001";
    const uint8_t ueid[] = {0x01, 0xce, 0xeb, 0xae};
    size_t cap = 8192;

    (void)state;
    json_escape(&pem, pem_esc, sizeof(pem_esc));
    doc = malloc(cap);
    assert_non_null(doc);
    snprintf(doc, cap,
             "{\"format\": \"vmesh-rv/1\", \"rvp\": \"acme\",\n"
             " \"epochs\": [{\"rvp\": \"acme\", \"epoch\": 42}],\n"
             " \"reference-values\": [\n"
             "  {\"scheme\": \"psa\", \"class-id\": \"text:acme-implementation-id-000000001\",\n"
             "   \"measurements\": [\n"
             "     {\"name\": \"BL\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"" D32 "\"},\n"
             "      \"version\": \"2.1.0\", \"signer-id\": \"U3h5YwdTXfPsjYsVouLcVkFBnD0wYM/jIjjA+pc/eqM=\"},\n"
             "     {\"name\": \"PRoT\", \"digests\": [{\"alg\": \"sha-256\", \"value\": \"" D32 "\"},\n"
             "                                 {\"alg\": \"sha-384\", \"value\": \"" D48 "\"}]},\n"
             "     {\"name\": \"cfg\", \"raw-value\": \"00ff\"}],\n"
             "   \"attributes\": {\"lifecycle\": [\"secured\", \"non-psa-rot-debug\"], \"x\": \"y\"}},\n"
             "  {\"scheme\": \"psa\", \"class-id\": \"YWNtZS1pbXBsZW1lbnRhdGlvbi1pZC0wMDAwMDAwMDE\",\n"
             "   \"instance-id\": {\"hex\": \"01CEebae\"}, \"keys\": [%s]},\n"
             "  {\"scheme\": \"tpm2\", \"class-id\": {\"hex\": \"00ff10\"}, \"keys\": [\"%s\"]}\n"
             " ]}\n",
             (const char *)jwk.data, pem_esc);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(load(s, doc), VMESH_OK);
    assert_int_equal(vmesh_rv_store_size(s), 9);
    assert_int_equal(vmesh_rv_find_measurements(s, "psa", cls, sizeof(cls) - 1, ms, 8), 4);
    assert_string_equal(ms[0]->name, "BL");
    assert_string_equal(ms[0]->version, "2.1.0");
    assert_int_equal(ms[0]->signer_id_len, 32);
    assert_int_equal(ms[0]->signer_id[0], 0x53);
    assert_int_equal(ms[0]->digest[0], 0x87);
    assert_string_equal(ms[1]->name, "PRoT");
    assert_string_equal(ms[2]->name, "PRoT");
    assert_int_equal(ms[2]->digest_alg, VMESH_HASH_SHA384);
    assert_int_equal(ms[2]->digest_len, 48);
    assert_int_equal(ms[3]->digest_alg, 0);
    assert_int_equal(ms[3]->digest_len, 2);
    assert_int_equal(vmesh_rv_find_attrs(s, "psa", cls, sizeof(cls) - 1, "lifecycle", vals, 4), 2);
    assert_string_equal(vals[1], "non-psa-rot-debug");
    /* base64 class id == text class id; the instance id came from hex */
    assert_int_equal(vmesh_rv_find_keys(s, "psa", cls, sizeof(cls) - 1, ueid, sizeof(ueid), keys, 4), 1);
    assert_true(vmesh_crypto_key_equal(keys[0], k1));
    assert_int_equal(vmesh_rv_find_keys(s, "psa", cls, sizeof(cls) - 1, NULL, 0, keys, 4), 0);
    assert_int_equal(vmesh_rv_find_keys(s, "tpm2", (const uint8_t *)"\x00\xff\x10", 3, NULL, 0, keys, 4), 1);
    assert_true(vmesh_crypto_key_equal(keys[0], k2));
    assert_int_equal(vmesh_rv_epoch_count(s), 1);

    assert_int_equal(vmesh_rv_store_to_json(s, &out1), VMESH_OK);
    assert_non_null(strstr((char *)out1.data, "\"format\": \"vmesh-rv/1\""));
    assert_non_null(strstr((char *)out1.data, "\"class-id\": \"text:acme-implementation-id-000000001\""));
    assert_non_null(strstr((char *)out1.data, "\"raw-value\": \"00ff\""));
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_int_equal(vmesh_rv_load_json(t, out1.data, out1.len, "out1"), VMESH_OK);
    assert_int_equal(vmesh_rv_store_size(t), 9);
    assert_int_equal(vmesh_rv_store_to_json(t, &out2), VMESH_OK);
    assert_string_equal((char *)out1.data, (char *)out2.data);

    free(doc);
    vmesh_buf_free(&jwk);
    vmesh_buf_free(&pem);
    vmesh_buf_free(&out1);
    vmesh_buf_free(&out2);
    vmesh_crypto_key_free(k1);
    vmesh_crypto_key_free(k2);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
}

struct bad_case {
    const char *doc;
    vmesh_err code;
    const char *msg;
};

#define ENTRY(x) "{\"format\": \"vmesh-rv/1\", \"reference-values\": [" x "]}"
#define GOOD_M "{\"name\": \"BL\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"" D32 "\"}}"

static void refusals(void **state)
{
    static const struct bad_case cases[] = {
        {"{\"format\": \"vmesh-rv/2\", \"reference-values\": []}", VMESH_ERR_UNSUPPORTED,
         "format \"vmesh-rv/2\" is not supported"},
        {"{\"reference-values\": []}", VMESH_ERR_PARSE, "\"format\" is missing"},
        {"{\"format\": \"vmesh-rv/1\", \"reference-value\": []}", VMESH_ERR_PARSE,
         "unknown field \"reference-value\" in the document"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurement\": [" GOOD_M "]}"),
         VMESH_ERR_PARSE, "reference-values[0]: unknown field \"measurement\""},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": [" GOOD_M ","
               "{\"name\": \"X\", \"signerid\": \"AA==\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"" D32 "\"}}]}"),
         VMESH_ERR_PARSE, "measurements[1]: unknown field \"signerid\" in measurement"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": ["
               "{\"name\": \"BL\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"" D32 "\", \"x\": 1}}]}"),
         VMESH_ERR_PARSE, "unknown field \"x\" in digest"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": ["
               "{\"name\": \"BL\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"" D32 "00\"}}]}"),
         VMESH_ERR_PARSE,
         "RV JSON test.json: reference-values[0]: measurements[0]: measurement \"BL\": digest value is 33 bytes, sha-256 needs 32"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": ["
               "{\"name\": \"BL\", \"digests\": [{\"alg\": \"sha-384\", \"value\": \"" D32 "\"}]}]}"),
         VMESH_ERR_PARSE, "digests[0]: digest value is 32 bytes, sha-384 needs 48"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": ["
               "{\"name\": \"BL\", \"digest\": {\"alg\": \"md5\", \"value\": \"00\"}}]}"),
         VMESH_ERR_UNSUPPORTED, "digest alg \"md5\" is not supported"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": ["
               "{\"name\": \"BL\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"zz\"}}]}"),
         VMESH_ERR_PARSE, "digest value: invalid hex digit"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"not*base64\", \"measurements\": [" GOOD_M "]}"),
         VMESH_ERR_PARSE, "reference-values[0]: \"class-id\" is not valid base64"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": ["
               "{\"name\": \"BL\", \"signer-id\": \"@@\", \"digest\": {\"alg\": \"sha-256\", \"value\": \"" D32 "\"}}]}"),
         VMESH_ERR_PARSE, "\"signer-id\" is not valid base64"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": {\"hex\": \"0g\"}, \"measurements\": [" GOOD_M "]}"),
         VMESH_ERR_PARSE, "\"class-id\".hex"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": {\"hex\": \"00\", \"b64\": \"AA\"}, \"measurements\": [" GOOD_M "]}"),
         VMESH_ERR_PARSE, "unknown field \"b64\" in class-id"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\"}"), VMESH_ERR_PARSE,
         "entry has no measurements, keys or attributes"},
        {ENTRY("{\"scheme\": \"psa\", \"measurements\": [" GOOD_M "]}"), VMESH_ERR_PARSE,
         "\"class-id\" is missing"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": [{\"name\": \"BL\"}]}"),
         VMESH_ERR_PARSE, "needs exactly one of \"digest\", \"digests\" or \"raw-value\""},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"instance-id\": \"text:i\", \"measurements\": [" GOOD_M "]}"),
         VMESH_ERR_UNSUPPORTED, "instance id is only allowed for keys"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"keys\": [\"not a key\"]}"),
         VMESH_ERR_PARSE, "keys[0]"},
        {ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"attributes\": {\"a\": 1}}"),
         VMESH_ERR_PARSE, "attribute \"a\" must be a string"},
        {"{\"format\": \"vmesh-rv/1\", \"format\": \"vmesh-rv/1\", \"reference-values\": []}",
         VMESH_ERR_PARSE, "duplicate"},
        {"{\"format\": \"vmesh-rv/1\", \"epochs\": [{\"rvp\": \"a\", \"epoch\": -1}], \"reference-values\": []}",
         VMESH_ERR_PARSE, "epochs[0]: \"epoch\" must be a non-negative integer"},
        {"[1,2", VMESH_ERR_PARSE, "RV JSON test.json: line 1"},
    };
    vmesh_rv_store *s = NULL;

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmesh_err rc = load(s, cases[i].doc);
        if (rc != cases[i].code || strstr(vmesh_err_detail(), cases[i].msg) == NULL)
            fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, rc, vmesh_err_detail(),
                     cases[i].code, cases[i].msg);
        assert_int_equal(vmesh_rv_store_size(s), 0); /* nothing half-loaded */
    }
    vmesh_rv_store_free(s);
}

static void private_jwk_refused(void **state)
{
    vmesh_key *priv = NULL;
    vmesh_buf jwk = {0};
    vmesh_rv_store *s = NULL;
    char doc[2048];

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &priv), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_jwk(priv, true, &jwk), VMESH_OK);
    snprintf(doc, sizeof(doc), ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"keys\": [%s]}"),
             (const char *)jwk.data);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(load(s, doc), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "keys[0]: this is a private key"));
    assert_int_equal(vmesh_rv_store_size(s), 0);
    vmesh_buf_free(&jwk);
    vmesh_crypto_key_free(priv);
    vmesh_rv_store_free(s);
}

static void nothing_added_on_late_failure(void **state)
{
    vmesh_rv_store *s = NULL;
    const char *doc = ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": [" GOOD_M "]},"
                            "{\"scheme\": \"psa\", \"class-id\": \"text:b\", \"measurements\": [{\"name\": \"BL\", \"digest\": {}}]}");

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(load(s, doc), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "reference-values[1]"));
    assert_int_equal(vmesh_rv_store_size(s), 0);
    /* and two good documents accumulate */
    assert_int_equal(load(s, ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:a\", \"measurements\": [" GOOD_M "]}")), VMESH_OK);
    assert_int_equal(load(s, ENTRY("{\"scheme\": \"psa\", \"class-id\": \"text:b\", \"measurements\": [" GOOD_M "]}")), VMESH_OK);
    assert_int_equal(vmesh_rv_store_size(s), 2);
    vmesh_rv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(refusals),
        cmocka_unit_test(private_jwk_refused),
        cmocka_unit_test(nothing_added_on_late_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
