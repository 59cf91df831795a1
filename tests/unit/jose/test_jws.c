/* Unit tests for JWS compact serialization: round trips with every key type
 * and every way a token must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/jose.h"

static vmesh_key *gen(vmesh_key_type t)
{
    vmesh_key *k = NULL;

    assert_int_equal(vmesh_crypto_key_generate(t, &k), VMESH_OK);
    return k;
}

static vmesh_key *public_of(const vmesh_key *k)
{
    vmesh_buf spki = {0};
    vmesh_key *p = NULL;

    assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &p), VMESH_OK);
    assert_false(vmesh_crypto_key_is_private(p));
    vmesh_buf_free(&spki);
    return p;
}

/* b64url(header) "." rest-of-token-after-the-first-dot */
static char *with_header(const char *tok, const char *header_json)
{
    vmesh_buf h = {0};
    const char *dot = strchr(tok, '.');
    char *r;

    assert_non_null(dot);
    assert_int_equal(vmesh_b64url_encode((const uint8_t *)header_json, strlen(header_json), &h),
                     VMESH_OK);
    r = malloc(h.len + strlen(dot) + 1);
    assert_non_null(r);
    memcpy(r, h.data, h.len);
    memcpy(r + h.len, dot, strlen(dot) + 1);
    vmesh_buf_free(&h);
    return r;
}

static void round_trip_type(vmesh_key_type t, const char *alg, size_t siglen)
{
    static const char payload[] = "{\"hello\":\"world\"}";
    vmesh_key *k = gen(t), *pub = public_of(k);
    vmesh_buf tok = {0}, out = {0}, hdr = {0}, sig = {0};
    char want[128];
    const char *last;

    assert_int_equal(vmesh_jose_jws_sign(k, "JWT", "key-1", (const uint8_t *)payload,
                                         strlen(payload), &tok),
                     VMESH_OK);
    assert_int_equal(vmesh_jose_jws_verify((const char *)tok.data, tok.len, pub, &out), VMESH_OK);
    assert_int_equal(out.len, strlen(payload));
    assert_string_equal((const char *)out.data, payload);
    /* The private key verifies too. */
    assert_int_equal(vmesh_jose_jws_verify_full((const char *)tok.data, tok.len, k, &hdr, &out),
                     VMESH_OK);
    snprintf(want, sizeof(want), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"key-1\"}", alg);
    assert_string_equal((const char *)hdr.data, want);
    /* Signature size as RFC 7518 §3.4 / RFC 8037 say. */
    last = strrchr((const char *)tok.data, '.');
    assert_int_equal(vmesh_b64_decode(last + 1, strlen(last + 1), &sig), VMESH_OK);
    assert_int_equal(sig.len, siglen);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&out);
    vmesh_buf_free(&hdr);
    vmesh_buf_free(&sig);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(pub);
}

static void round_trip_all_types(void **state)
{
    (void)state;
    round_trip_type(VMESH_KEY_EC_P256, "ES256", 64);
    round_trip_type(VMESH_KEY_EC_P384, "ES384", 96);
    round_trip_type(VMESH_KEY_ED25519, "EdDSA", 64);
}

static void header_without_typ_kid_and_escaping(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_ED25519);
    vmesh_buf tok = {0}, hdr = {0}, pay = {0};

    (void)state;
    assert_int_equal(vmesh_jose_jws_sign(k, NULL, NULL, (const uint8_t *)"x", 1, &tok), VMESH_OK);
    assert_int_equal(vmesh_jose_jws_peek((const char *)tok.data, tok.len, &hdr, &pay), VMESH_OK);
    assert_string_equal((const char *)hdr.data, "{\"alg\":\"EdDSA\"}");
    assert_string_equal((const char *)pay.data, "x");
    assert_int_equal(vmesh_jose_jws_sign(k, "a\"b", "c\\d\n", (const uint8_t *)"", 0, &tok),
                     VMESH_OK);
    assert_int_equal(vmesh_jose_jws_verify_full((const char *)tok.data, tok.len, k, &hdr, &pay),
                     VMESH_OK);
    assert_string_equal((const char *)hdr.data,
                        "{\"alg\":\"EdDSA\",\"typ\":\"a\\\"b\",\"kid\":\"c\\\\d\\u000a\"}");
    assert_int_equal(pay.len, 0);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&hdr);
    vmesh_buf_free(&pay);
    vmesh_crypto_key_free(k);
}

static void sign_needs_private_key(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P256), *pub = public_of(k);
    vmesh_buf tok = {0};

    (void)state;
    assert_int_equal(vmesh_jose_jws_sign(pub, NULL, NULL, (const uint8_t *)"x", 1, &tok),
                     VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "public key"));
    vmesh_buf_free(&tok);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(pub);
}

typedef struct {
    vmesh_key *k;
    vmesh_buf tok;
    vmesh_buf out;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    static const char payload[] = "{\"iss\":\"vmesh\",\"n\":12345}";

    if (f == NULL || vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->k) != VMESH_OK ||
        vmesh_jose_jws_sign(f->k, "JWT", NULL, (const uint8_t *)payload, strlen(payload),
                            &f->tok) != VMESH_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vmesh_buf_free(&f->tok);
    vmesh_buf_free(&f->out);
    vmesh_crypto_key_free(f->k);
    free(f);
    return 0;
}

static vmesh_err verify_str(fixture *f, const char *s)
{
    return vmesh_jose_jws_verify(s, strlen(s), f->k, &f->out);
}

static void tampered_header_refused(void **state)
{
    fixture *f = *state;
    char *t = with_header((const char *)f->tok.data, "{\"alg\":\"ES256\",\"typ\":\"JOSE\"}");

    assert_int_equal(verify_str(f, t), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "does not verify"));
    assert_int_equal(f->out.len, 0);
    free(t);
}

static void tampered_payload_refused(void **state)
{
    fixture *f = *state;
    char *t = strdup((const char *)f->tok.data);
    char *p = strchr(t, '.') + 3;

    *p = *p == 'A' ? 'B' : 'A';
    assert_int_equal(verify_str(f, t), VMESH_ERR_SIGNATURE);
    free(t);
}

static void tampered_signature_refused(void **state)
{
    fixture *f = *state;
    char *t = strdup((const char *)f->tok.data);
    char *p = strrchr(t, '.') + 10;

    *p = *p == 'A' ? 'B' : 'A';
    assert_int_equal(verify_str(f, t), VMESH_ERR_SIGNATURE);
    /* Truncated signature: wrong size for ES256. */
    p = strrchr(t, '.') + 41; /* 40 characters: 30 bytes */
    *p = '\0';
    assert_int_equal(verify_str(f, t), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "expected 64"));
    free(t);
}

static void wrong_key_refused(void **state)
{
    fixture *f = *state;
    vmesh_key *other = gen(VMESH_KEY_EC_P256);

    assert_int_equal(vmesh_jose_jws_verify((const char *)f->tok.data, f->tok.len, other, &f->out),
                     VMESH_ERR_SIGNATURE);
    vmesh_crypto_key_free(other);
}

static void alg_mismatch_refused(void **state)
{
    fixture *f = *state;
    vmesh_key *p384 = gen(VMESH_KEY_EC_P384), *ed = gen(VMESH_KEY_ED25519);
    char *t;

    /* An ES256 token offered to a P-384 or Ed25519 key. */
    assert_int_equal(vmesh_jose_jws_verify((const char *)f->tok.data, f->tok.len, p384, &f->out),
                     VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "ES256 but the verification key is ES384"));
    assert_int_equal(vmesh_jose_jws_verify((const char *)f->tok.data, f->tok.len, ed, &f->out),
                     VMESH_ERR_MISMATCH);
    /* A header claiming another alg for our P-256 key. */
    t = with_header((const char *)f->tok.data, "{\"alg\":\"HS256\"}");
    assert_int_equal(verify_str(f, t), VMESH_ERR_MISMATCH);
    free(t);
    t = with_header((const char *)f->tok.data, "{\"alg\":\"es256\"}");
    assert_int_equal(verify_str(f, t), VMESH_ERR_MISMATCH);
    free(t);
    vmesh_crypto_key_free(p384);
    vmesh_crypto_key_free(ed);
}

/* D51: HS256 under a session's exported key. Round trip; the answer for one
 * session (or question) checked with another's key, tampering, a truncated
 * MAC; and algorithm confusion both ways: a signed token never passes the
 * MAC path, an HS256 token never passes a signature key, not even one MAC'd
 * with the bytes of that public key (the classic JWT confusion attack). */
static void hs256_channel_bound(void **state)
{
    fixture *f = *state;
    static const char payload[] = "{\"eat_nonce\":\"AAAAAAAAAAA\"}";
    uint8_t k1[VMESH_JOSE_MAC_KEY_LEN], k2[VMESH_JOSE_MAC_KEY_LEN];
    vmesh_buf tok = {0}, spki = {0}, hdr = {0};
    char *t;

    memset(k1, 0x11, sizeof(k1));
    memset(k2, 0x11, sizeof(k2));
    k2[31] ^= 1; /* another session's key: one bit apart */
    assert_int_equal(vmesh_jose_jws_mac(k1, "JWT", (const uint8_t *)payload, strlen(payload), &tok), VMESH_OK);
    assert_int_equal(vmesh_jose_jws_peek((const char *)tok.data, tok.len, &hdr, NULL), VMESH_OK);
    assert_string_equal((const char *)hdr.data, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    assert_int_equal(vmesh_jose_jws_verify_mac((const char *)tok.data, tok.len, k1, &f->out), VMESH_OK);
    assert_string_equal((const char *)f->out.data, payload);
    /* relayed to another session: its key does not check the MAC */
    assert_int_equal(vmesh_jose_jws_verify_mac((const char *)tok.data, tok.len, k2, &f->out), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "HS256 MAC does not verify"));
    /* tampered payload, truncated MAC */
    t = strdup((const char *)tok.data);
    t[strchr(t, '.') - t + 3] = t[strchr(t, '.') - t + 3] == 'A' ? 'B' : 'A';
    assert_int_equal(vmesh_jose_jws_verify_mac(t, strlen(t), k1, &f->out), VMESH_ERR_SIGNATURE);
    free(t);
    t = strdup((const char *)tok.data);
    strrchr(t, '.')[21] = '\0';
    assert_int_equal(vmesh_jose_jws_verify_mac(t, strlen(t), k1, &f->out), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "expected 32"));
    free(t);
    /* a signed token on the MAC path, an HS256 token on the signature path */
    assert_int_equal(vmesh_jose_jws_verify_mac((const char *)f->tok.data, f->tok.len, k1, &f->out),
                     VMESH_ERR_MISMATCH);
    assert_int_equal(vmesh_jose_jws_verify((const char *)tok.data, tok.len, f->k, &f->out), VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "HS256 but the verification key is ES256"));
    /* HS256 keyed with the first 32 bytes of the verifier's public key */
    assert_int_equal(vmesh_crypto_key_to_spki(f->k, &spki), VMESH_OK);
    assert_true(spki.len >= VMESH_JOSE_MAC_KEY_LEN);
    assert_int_equal(vmesh_jose_jws_mac(spki.data, "JWT", (const uint8_t *)payload, strlen(payload), &tok), VMESH_OK);
    vmesh_buf_reset(&f->out);
    assert_int_equal(vmesh_jose_jws_verify((const char *)tok.data, tok.len, f->k, &f->out), VMESH_ERR_MISMATCH);
    assert_int_equal(f->out.len, 0);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&hdr);
}

static void alg_none_refused(void **state)
{
    fixture *f = *state;
    char *t = with_header((const char *)f->tok.data, "{\"alg\":\"none\"}");
    char *last = strrchr(t, '.');

    assert_int_equal(verify_str(f, t), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "\"none\""));
    last[1] = '\0'; /* the unsecured form: empty signature */
    assert_int_equal(verify_str(f, t), VMESH_ERR_UNSUPPORTED);
    free(t);
}

static void crit_and_bad_headers_refused(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *hdr;
        vmesh_err want;
        const char *msg;
    } cases[] = {
        {"{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", VMESH_ERR_UNSUPPORTED, "crit"},
        {"{\"alg\":\"ES256\",\"b64\":false,\"crit\":[\"b64\"]}", VMESH_ERR_UNSUPPORTED, "crit"},
        {"{\"typ\":\"JWT\"}", VMESH_ERR_PARSE, "no \"alg\""},
        {"{\"alg\":256}", VMESH_ERR_PARSE, "no \"alg\""},
        {"[\"alg\",\"ES256\"]", VMESH_ERR_PARSE, "not a JSON object"},
        {"{\"alg\":\"ES256\",\"alg\":\"ES256\"}", VMESH_ERR_PARSE, "not JSON"},
        {"not json", VMESH_ERR_PARSE, "not JSON"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = with_header((const char *)f->tok.data, cases[i].hdr);
        assert_int_equal(verify_str(f, t), cases[i].want);
        assert_non_null(strstr(vmesh_err_detail(), cases[i].msg));
        free(t);
    }
}

static void malformed_compact_refused(void **state)
{
    fixture *f = *state;
    const char *tok = (const char *)f->tok.data;
    char buf[2048];

    assert_int_equal(verify_str(f, ""), VMESH_ERR_PARSE);
    assert_int_equal(verify_str(f, "abc"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "found 1"));
    assert_int_equal(verify_str(f, "a.b"), VMESH_ERR_PARSE);
    assert_int_equal(verify_str(f, "a.b.c.d"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "found 4"));
    assert_int_equal(verify_str(f, "a.b.c.d.e"), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "JWE"));
    assert_int_equal(verify_str(f, ".b.c"), VMESH_ERR_PARSE);
    /* A trailing newline is tolerated; an extra dot segment is not. */
    snprintf(buf, sizeof(buf), "%s\n", tok);
    assert_int_equal(verify_str(f, buf), VMESH_OK);
    snprintf(buf, sizeof(buf), "%s.", tok);
    assert_int_equal(verify_str(f, buf), VMESH_ERR_PARSE);
    /* Padding and the standard alphabet are not base64url (RFC 7515 §2). */
    snprintf(buf, sizeof(buf), "%s=", tok);
    assert_int_equal(verify_str(f, buf), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not base64url"));
    snprintf(buf, sizeof(buf), "%s", tok);
    memcpy(strrchr(buf, '.'), ".ab+/cd", 8);
    assert_int_equal(verify_str(f, buf), VMESH_ERR_PARSE);
    snprintf(buf, sizeof(buf), "%s", tok);
    buf[3] = '=';
    assert_int_equal(verify_str(f, buf), VMESH_ERR_PARSE);
    /* Payload with a bad character: the signature check fails first. */
    snprintf(buf, sizeof(buf), "%s", tok);
    strchr(buf, '.')[2] = '*';
    assert_int_not_equal(verify_str(f, buf), VMESH_OK);
    /* A well-formed token with a 3-byte signature. */
    assert_int_equal(verify_str(f, "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "expected 64"));
    /* Non-canonical trailing bits ("e31" is not the encoding of "{}"). */
    assert_int_equal(vmesh_jose_jws_peek("eyJhbGciOiJFUzI1NiJ9.e30.AAAA", 29, NULL, &f->out),
                     VMESH_OK);
    assert_string_equal((const char *)f->out.data, "{}");
    assert_int_equal(vmesh_jose_jws_peek("eyJhbGciOiJFUzI1NiJ9.e31.AAAA", 29, NULL, &f->out),
                     VMESH_ERR_PARSE);
}

static void oversized_refused(void **state)
{
    fixture *f = *state;
    size_t n = VMESH_JOSE_MAX_COMPACT + 1;
    char *big = malloc(n);
    vmesh_buf tok = {0};
    uint8_t *payload;

    assert_non_null(big);
    memset(big, 'A', n);
    big[10] = '.';
    big[20] = '.';
    assert_int_equal(vmesh_jose_jws_verify(big, n, f->k, &f->out), VMESH_ERR_TOO_LARGE);
    assert_int_equal(vmesh_jose_jws_peek(big, n, NULL, &f->out), VMESH_ERR_TOO_LARGE);
    free(big);
    /* A huge header is refused before it is decoded. */
    big = malloc(8192 + 32);
    assert_non_null(big);
    memset(big, 'A', 8192);
    memcpy(big + 8192, ".e30.AAAA", 10);
    assert_int_equal(verify_str(f, big), VMESH_ERR_TOO_LARGE);
    free(big);
    /* What we sign we can verify, up to the cap. */
    payload = calloc(1, 100000);
    assert_non_null(payload);
    assert_int_equal(vmesh_jose_jws_sign(f->k, NULL, NULL, payload, 100000, &tok), VMESH_OK);
    assert_int_equal(vmesh_jose_jws_verify((const char *)tok.data, tok.len, f->k, &f->out),
                     VMESH_OK);
    assert_int_equal(f->out.len, 100000);
    free(payload);
    /* ...and nothing larger is issued. */
    payload = calloc(1, 200000);
    assert_non_null(payload);
    assert_int_equal(vmesh_jose_jws_sign(f->k, NULL, NULL, payload, 200000, &tok),
                     VMESH_ERR_TOO_LARGE);
    assert_int_equal(tok.len, 0);
    free(payload);
    vmesh_buf_free(&tok);
}

static void peek_does_not_verify(void **state)
{
    fixture *f = *state;
    vmesh_buf h = {0}, p = {0};
    char *t = strdup((const char *)f->tok.data);
    char *c = strrchr(t, '.') + 5;

    *c = *c == 'A' ? 'B' : 'A';
    assert_int_equal(vmesh_jose_jws_peek(t, strlen(t), &h, &p), VMESH_OK);
    assert_string_equal((const char *)h.data, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}");
    assert_string_equal((const char *)p.data, "{\"iss\":\"vmesh\",\"n\":12345}");
    assert_int_equal(verify_str(f, t), VMESH_ERR_SIGNATURE);
    vmesh_buf_free(&h);
    vmesh_buf_free(&p);
    free(t);
}

static void shared_vector_key_interop(void **state)
{
    const char *dir = getenv("VMESH_VECTORS");
    char sk[1024], pk[1024];
    vmesh_key *s = NULL, *p = NULL;
    vmesh_buf tok = {0}, out = {0};

    (void)state;
    if (dir == NULL)
        skip();
    snprintf(sk, sizeof(sk), "%s/ear/skey.json", dir);
    snprintf(pk, sizeof(pk), "%s/ear/pkey.json", dir);
    if (vmesh_crypto_key_load(sk, &s) != VMESH_OK) {
        skip();
    }
    assert_int_equal(vmesh_crypto_key_load(pk, &p), VMESH_OK);
    assert_int_equal(vmesh_jose_jws_sign(s, "JWT", NULL, (const uint8_t *)"{}", 2, &tok), VMESH_OK);
    assert_int_equal(vmesh_jose_jws_verify((const char *)tok.data, tok.len, p, &out), VMESH_OK);
    assert_string_equal((const char *)out.data, "{}");
    vmesh_buf_free(&tok);
    vmesh_buf_free(&out);
    vmesh_crypto_key_free(s);
    vmesh_crypto_key_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_all_types),
        cmocka_unit_test(header_without_typ_kid_and_escaping),
        cmocka_unit_test(sign_needs_private_key),
        cmocka_unit_test_setup_teardown(tampered_header_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_payload_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_signature_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(alg_mismatch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(hs256_channel_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(alg_none_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(crit_and_bad_headers_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_compact_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(peek_does_not_verify, setup, teardown),
        cmocka_unit_test(shared_vector_key_interop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
