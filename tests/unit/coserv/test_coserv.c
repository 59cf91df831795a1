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

#include "vmesh/cbor.h"
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

/* Result sets into the RV store. GOOD: an rvq with class-id 560(00112233),
 * "Component A" with a sha-256 and a sha-384 digest (two alternatives) and
 * "cfg" with a raw value, expiry 2030-12-13T18:30:02Z. SVN: "cfg" carries
 * an SVN (mval key 1). ALG2: "cfg" has a sha-256-128 digest (alg 2). */
#define RS_HEAD "a300617001a3000201a1008181a100d902304400112233020002a20081a20181d9023041ab0282a100a100d90230440011223382a101a2028282015820000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f820758300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000b6b436f6d706f6e656e742041a101"
#define RS_TAIL "0ac074323033302d31322d31335431383a33303a30325a"
static const char rs_good[] = RS_HEAD "a204d902304201020b63636667" RS_TAIL;
static const char rs_svn[] = RS_HEAD "a201030b63636667" RS_TAIL;
static const char rs_alg2[] = RS_HEAD "a20281820250000000000000000000000000000000000b63636667" RS_TAIL;

static size_t entries(const vmesh_rv_store *s)
{
    vmesh_rv_entry e;
    size_t n = 0;

    while (vmesh_rv_entry_at(s, n, &e))
        n++;
    return n;
}

static void load_hex(const char *hex, vmesh_buf *b, vmesh_coserv *c)
{
    vmesh_err e;
    vmesh_buf_reset(b);
    assert_int_equal(vmesh_hex_decode(hex, strlen(hex), b), VMESH_OK);
    e = vmesh_coserv_decode(b->data, b->len, c);
    if (e != VMESH_OK)
        print_error("%s: %s\n", hex, vmesh_err_detail());
    assert_int_equal(e, VMESH_OK);
}

static void results_into_rv(void **state)
{
    vmesh_buf b = {0}, v = {0};
    vmesh_coserv c;
    vmesh_rv_store *s = NULL;
    static const uint8_t cls[] = {0x00, 0x11, 0x22, 0x33};
    const vmesh_rv_measurement *m[8];

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    load_hex(rs_good, &b, &c);
    assert_int_equal(c.expiry, 1923417002);
    assert_int_equal(vmesh_coserv_load_results(&c, s, "coserv-test", 1923417001), VMESH_OK);
    assert_int_equal(entries(s), 3); /* two digests of Component A, one raw value */
    assert_int_equal(vmesh_rv_find_measurements(s, "coserv-test", cls, sizeof(cls), m, 8), 3);
    /* expired: refused, nothing added */
    assert_int_equal(vmesh_coserv_load_results(&c, s, "coserv-test", 1923417002), VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "expired"));
    assert_int_equal(entries(s), 3);
    vmesh_buf_free(&b);
    /* an SVN vmesh cannot honour, an unknown digest algorithm: refused, all or nothing */
    load_hex(rs_svn, &b, &c);
    assert_int_equal(vmesh_coserv_load_results(&c, s, "coserv-test", 0), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "mval key 1 is not supported"));
    vmesh_buf_free(&b);
    load_hex(rs_alg2, &b, &c);
    assert_int_equal(vmesh_coserv_load_results(&c, s, "coserv-test", 0), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "digest algorithm 2"));
    assert_int_equal(entries(s), 3);
    vmesh_buf_free(&b);
    /* a query without results */
    if (vector("rv-class-simple.cbor", &v)) {
        assert_int_equal(vmesh_coserv_decode(v.data, v.len, &c), VMESH_OK);
        assert_int_equal(vmesh_coserv_load_results(&c, s, "coserv-test", 0), VMESH_ERR_NOT_FOUND);
        vmesh_buf_free(&v);
    }
    /* Veraison's example result set: its digests are 1 byte under sha-256 (alg
     * 1), which no RV store accepts: refused with the length named */
    if (vector("rv-class-simple-results.cbor", &v)) {
        assert_int_equal(vmesh_coserv_decode(v.data, v.len, &c), VMESH_OK);
        assert_int_not_equal(vmesh_coserv_load_results(&c, s, "coserv-test", 0), VMESH_OK);
        assert_non_null(strstr(vmesh_err_detail(), "Component A"));
        assert_int_equal(entries(s), 3);
        vmesh_buf_free(&v);
    }
    vmesh_rv_store_free(s);
}

/* The provider's side: a store with reference values for class
 * 560(00112233) answers Veraison's example class-selector query; the
 * answer decodes, re-encodes byte for byte, carries the query as asked and
 * loads into another store with the same values. */
static void answer_roundtrip(void **state)
{
    vmesh_buf q = {0}, ans = {0}, again = {0};
    vmesh_coserv c, a;
    vmesh_rv_store *rv = NULL, *back = NULL;
    static const uint8_t cls[] = {0x00, 0x11, 0x22, 0x33}, auth[] = {0xab, 0xcd};
    uint8_t d32[32], raw[2] = {1, 2};
    vmesh_rv_env env = {.scheme = "coserv-test", .class_id = cls, .class_id_len = sizeof(cls)};
    vmesh_rv_measurement m1 = {.name = "Component A", .version = "1.2", .digest_alg = VMESH_HASH_SHA256,
                               .digest = d32, .digest_len = 32};
    vmesh_rv_measurement m2 = {.name = "cfg", .digest = raw, .digest_len = 2};
    vmesh_rv_measurement m3 = {.name = "signed", .signer_id = d32, .signer_id_len = 32,
                               .digest_alg = VMESH_HASH_SHA256, .digest = d32, .digest_len = 32};
    const vmesh_rv_measurement *found[8];

    (void)state;
    if (!vector("example-class-selector.cbor", &q))
        skip();
    memset(d32, 0x5a, sizeof(d32));
    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    assert_int_equal(vmesh_rv_add_measurement(rv, &env, &m1), VMESH_OK);
    assert_int_equal(vmesh_rv_add_measurement(rv, &env, &m2), VMESH_OK);
    assert_int_equal(vmesh_coserv_decode(q.data, q.len, &c), VMESH_OK);
    assert_int_equal(vmesh_coserv_answer(&c, rv, "coserv-test", auth, sizeof(auth), 1923417002, &ans), VMESH_OK);
    {
        vmesh_cbor r; /* deterministic CBOR: shortest heads, map keys ordered */
        vmesh_cbor_init(&r, ans.data, ans.len, "answer", VMESH_CBOR_DETERMINISTIC);
        assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
    }
    assert_int_equal(vmesh_coserv_decode(ans.data, ans.len, &a), VMESH_OK);
    assert_int_equal(vmesh_coserv_encode(&a, &again), VMESH_OK);
    assert_int_equal(again.len, ans.len);
    assert_memory_equal(again.data, ans.data, ans.len);
    assert_int_equal(a.expiry, 1923417002);
    assert_int_equal(a.nsel, c.nsel);
    assert_memory_equal(a.sel[0].item.p, c.sel[0].item.p, c.sel[0].item.n);
    assert_int_equal(vmesh_rv_store_new(&back), VMESH_OK);
    assert_int_equal(vmesh_coserv_load_results(&a, back, "coserv-test", 1923417001), VMESH_OK);
    assert_int_equal(vmesh_rv_find_measurements(back, "coserv-test", cls, sizeof(cls), found, 8), 2);
    assert_int_equal(vmesh_rv_match_measurement(back, "coserv-test", cls, sizeof(cls), "Component A", d32, 32), 1);
    /* a signer-id cannot be said in CoMID mval: refused, not dropped */
    assert_int_equal(vmesh_rv_add_measurement(rv, &env, &m3), VMESH_OK);
    assert_int_equal(vmesh_coserv_answer(&c, rv, "coserv-test", auth, sizeof(auth), 1923417002, &ans),
                     VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "signer-id"));
    /* source material is not offered */
    c.result_type = VMESH_COSERV_SOURCE;
    assert_int_equal(vmesh_coserv_answer(&c, back, "coserv-test", auth, sizeof(auth), 1923417002, &ans),
                     VMESH_ERR_UNSUPPORTED);
    vmesh_rv_store_free(rv);
    vmesh_rv_store_free(back);
    vmesh_buf_free(&q);
    vmesh_buf_free(&ans);
    vmesh_buf_free(&again);
}

static vmesh_key *public_of(const vmesh_key *k)
{
    vmesh_buf pem = {0};
    vmesh_key *pub = NULL;

    assert_int_equal(vmesh_crypto_key_to_pem(k, false, &pem), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_parse(pem.data, pem.len, &pub), VMESH_OK);
    vmesh_buf_free(&pem);
    return pub;
}

/* Trust-anchor answers (class, instance, group), signing and the
 * consumer's checks: each refusal is reached by changing one thing. */
static void signed_trust_anchors(void **state)
{
    static const char *q_class = "a200617801a3000101a1008181a100d902304400112233" "0200";
    static const char *q_inst = "a200617801a3000101a1018181d902264201020200";
    static const char *q_group = "a200617801a3000101a1028181d8255000112233445566778899aabbccddeeff0200";
    static const char *q_rv = "a200617801a3000201a1008181a100d902304400112233" "0200";
    static const uint8_t cls[] = {0x00, 0x11, 0x22, 0x33}, inst[] = {0x01, 0x02}, auth[] = {0xab};
    vmesh_rv_env env = {.scheme = "x", .class_id = cls, .class_id_len = sizeof(cls)};
    vmesh_rv_env env_i = {.scheme = "x", .class_id = cls, .class_id_len = sizeof(cls), .instance_id = inst,
                          .instance_id_len = sizeof(inst)};
    vmesh_key *k1 = NULL, *k2 = NULL, *rvp = NULL, *other = NULL, *found[4];
    vmesh_rv_store *rv = NULL, *back = NULL;
    vmesh_buf q = {0}, ans = {0}, sig = {0}, pl = {0}, bad = {0}, q2 = {0};
    vmesh_coserv c, a;
    const int64_t exp = 1923417002;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &rvp), VMESH_OK);
    k1 = public_of(rvp);
    vmesh_crypto_key_free(rvp);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &rvp), VMESH_OK);
    k2 = public_of(rvp);
    vmesh_crypto_key_free(rvp);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &rvp), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    assert_int_equal(vmesh_rv_add_key(rv, &env, k1), VMESH_OK);
    assert_int_equal(vmesh_rv_add_key(rv, &env_i, k2), VMESH_OK);

    /* by class: both keys (two environments) load back */
    load_hex(q_class, &q, &c);
    assert_int_equal(vmesh_coserv_answer(&c, rv, "x", auth, sizeof(auth), exp, &ans), VMESH_OK);
    assert_int_equal(vmesh_coserv_decode(ans.data, ans.len, &a), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&back), VMESH_OK);
    assert_int_equal(vmesh_coserv_load_results(&a, back, "x", exp - 1), VMESH_OK);
    assert_int_equal(vmesh_rv_find_keys(back, "x", cls, sizeof(cls), inst, sizeof(inst), found, 4), 2);
    assert_int_equal(vmesh_rv_find_keys(back, "x", cls, sizeof(cls), NULL, 0, found, 4), 1);
    assert_true(vmesh_crypto_key_equal(found[0], k1));
    vmesh_rv_store_free(back);
    back = NULL;

    /* signed: verifies with the RVP key, against the query asked */
    assert_int_equal(vmesh_coserv_sign(ans.data, ans.len, rvp, &sig), VMESH_OK);
    assert_int_equal(sig.data[0], 0xd2);
    assert_int_equal(vmesh_coserv_verify_signed(sig.data, sig.len, rvp, q.data, q.len, exp - 1, &pl, &a), VMESH_OK);
    assert_int_equal(a.artifact, VMESH_COSERV_TRUST_ANCHORS);
    /* another key */
    assert_int_equal(vmesh_coserv_verify_signed(sig.data, sig.len, other, q.data, q.len, exp - 1, &pl, &a),
                     VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "does not verify with the provider key"));
    /* one byte of the payload changed */
    assert_int_equal(vmesh_buf_append(&bad, sig.data, sig.len), VMESH_OK);
    bad.data[bad.len - 70] ^= 1;
    assert_int_not_equal(vmesh_coserv_verify_signed(bad.data, bad.len, rvp, q.data, q.len, exp - 1, &pl, &a),
                         VMESH_OK);
    /* expired */
    assert_int_equal(vmesh_coserv_verify_signed(sig.data, sig.len, rvp, q.data, q.len, exp, &pl, &a),
                     VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "expired"));
    /* unsigned */
    assert_int_equal(vmesh_coserv_verify_signed(ans.data, ans.len, rvp, q.data, q.len, exp - 1, &pl, &a),
                     VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "unsigned result set"));
    /* untagged COSE_Sign1 */
    assert_int_equal(vmesh_coserv_verify_signed(sig.data + 1, sig.len - 1, rvp, q.data, q.len, exp - 1, &pl, &a),
                     VMESH_ERR_PARSE);
    /* an answer to another query (a replayed, validly signed answer) */
    load_hex(q_inst, &q2, &c);
    assert_int_equal(vmesh_coserv_verify_signed(sig.data, sig.len, rvp, q2.data, q2.len, exp - 1, &pl, &a),
                     VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "another query"));

    /* by instance: only the instance's key */
    assert_int_equal(vmesh_coserv_answer(&c, rv, "x", auth, sizeof(auth), exp, &ans), VMESH_OK);
    assert_int_equal(vmesh_coserv_decode(ans.data, ans.len, &a), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&back), VMESH_OK);
    assert_int_equal(vmesh_coserv_load_results(&a, back, "x", exp - 1), VMESH_OK);
    assert_int_equal(vmesh_rv_find_keys(back, "x", cls, sizeof(cls), inst, sizeof(inst), found, 4), 1);
    assert_true(vmesh_crypto_key_equal(found[0], k2));
    vmesh_rv_store_free(back);
    back = NULL;

    /* by group: vmesh bundles hold no groups, the answer is empty */
    load_hex(q_group, &q2, &c);
    assert_int_equal(vmesh_coserv_answer(&c, rv, "x", auth, sizeof(auth), exp, &ans), VMESH_OK);
    assert_int_equal(vmesh_coserv_decode(ans.data, ans.len, &a), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&back), VMESH_OK);
    assert_int_equal(vmesh_coserv_load_results(&a, back, "x", exp - 1), VMESH_ERR_NOT_FOUND);
    /* reference values of a class with keys only: none */
    load_hex(q_rv, &q2, &c);
    assert_int_equal(vmesh_coserv_answer(&c, rv, "x", auth, sizeof(auth), exp, &ans), VMESH_OK);
    assert_int_equal(vmesh_coserv_decode(ans.data, ans.len, &a), VMESH_OK);
    assert_int_equal(vmesh_coserv_load_results(&a, back, "x", exp - 1), VMESH_ERR_NOT_FOUND);
    assert_non_null(strstr(vmesh_err_detail(), "no reference values"));

    vmesh_rv_store_free(rv);
    vmesh_rv_store_free(back);
    vmesh_crypto_key_free(k1);
    vmesh_crypto_key_free(k2);
    vmesh_crypto_key_free(rvp);
    vmesh_crypto_key_free(other);
    vmesh_buf_free(&q);
    vmesh_buf_free(&q2);
    vmesh_buf_free(&ans);
    vmesh_buf_free(&sig);
    vmesh_buf_free(&pl);
    vmesh_buf_free(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors),
        cmocka_unit_test(malformed),
        cmocka_unit_test(b64url_only),
        cmocka_unit_test(results_into_rv),
        cmocka_unit_test(answer_roundtrip),
        cmocka_unit_test(signed_trust_anchors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
