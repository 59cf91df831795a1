/* Unit tests for the stateless session ids (seal/open, tampering, expiry,
 * another key, completed sessions) and the pure request parsers (nonce
 * query, Accept, Vmesh-AK, CMW), plus the handler without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/service.h"

#define NOW 1800000000

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void waiting(vmesh_service_session *s, size_t nonce_len)
{
    vmesh_service_session_init(s);
    memset(s->sid, 0xab, sizeof(s->sid));
    s->state = VMESH_SESSION_WAITING;
    s->created = NOW;
    s->expiry = NOW + 150;
    for (size_t i = 0; i < nonce_len; i++)
        s->nonce[i] = (uint8_t)(i * 7);
    s->nonce_len = nonce_len;
}

static void seal_open_roundtrip(void **state)
{
    vmesh_service_session s, o;
    vmesh_buf tok = {0};

    (void)state;
    waiting(&s, 32);
    vmesh_service_session_init(&o);
    assert_int_equal(vmesh_service_token_seal(KEY, &s, &tok), VMESH_OK);
    assert_true(strspn((char *)tok.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == tok.len);
    assert_int_equal(vmesh_service_token_open(KEY, (char *)tok.data, tok.len, NOW + 10, &o), VMESH_OK);
    assert_int_equal(o.state, VMESH_SESSION_WAITING);
    assert_int_equal(o.nonce_len, 32);
    assert_memory_equal(o.nonce, s.nonce, 32);
    assert_memory_equal(o.sid, s.sid, 16);
    assert_int_equal(o.created, NOW);
    assert_int_equal(o.expiry, NOW + 150);
    assert_int_equal(o.ear.len, 0);
    vmesh_buf_free(&tok);
    vmesh_service_session_free(&s);
    vmesh_service_session_free(&o);
}

static void tampered_every_position(void **state)
{
    vmesh_service_session s, o;
    vmesh_buf tok = {0};

    (void)state;
    waiting(&s, 16);
    vmesh_service_session_init(&o);
    assert_int_equal(vmesh_service_token_seal(KEY, &s, &tok), VMESH_OK);
    /* Change each character: never accepted. Changing the last character
     * may only alter padding bits, which the decoder ignores; then the
     * bytes are unchanged and it must still verify as the same session. */
    for (size_t i = 0; i < tok.len; i++) {
        char *t = strdup((char *)tok.data);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        vmesh_err rc = vmesh_service_token_open(KEY, t, tok.len, NOW, &o);
        if (rc == VMESH_OK) {
            assert_int_equal(i, tok.len - 1);
            assert_memory_equal(o.nonce, s.nonce, 16);
        } else {
            assert_true(rc == VMESH_ERR_SIGNATURE || rc == VMESH_ERR_PARSE);
        }
        free(t);
    }
    /* Truncated and extended. */
    for (size_t cut = 1; cut < 8; cut++) {
        vmesh_err rc = vmesh_service_token_open(KEY, (char *)tok.data, tok.len - cut, NOW, &o);
        assert_true(rc == VMESH_ERR_SIGNATURE || rc == VMESH_ERR_PARSE);
    }
    assert_int_equal(vmesh_service_token_open(KEY, (char *)tok.data, 12, NOW, &o), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "too short"));
    assert_int_equal(vmesh_service_token_open(KEY, "abc$def", 7, NOW, &o), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not base64url"));
    vmesh_buf_free(&tok);
    vmesh_service_session_free(&s);
    vmesh_service_session_free(&o);
}

static void other_key_and_expiry(void **state)
{
    vmesh_service_session s, o;
    vmesh_buf tok = {0};
    uint8_t other[32];

    (void)state;
    memcpy(other, KEY, 32);
    other[31] ^= 1;
    waiting(&s, 8);
    vmesh_service_session_init(&o);
    assert_int_equal(vmesh_service_token_seal(KEY, &s, &tok), VMESH_OK);
    assert_int_equal(vmesh_service_token_open(other, (char *)tok.data, tok.len, NOW, &o), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "another session key"));
    /* Expiry is exclusive: at expiry the session is gone. */
    assert_int_equal(vmesh_service_token_open(KEY, (char *)tok.data, tok.len, NOW + 149, &o), VMESH_OK);
    assert_int_equal(vmesh_service_token_open(KEY, (char *)tok.data, tok.len, NOW + 150, &o), VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "session expired 0 s ago"));
    assert_int_equal(vmesh_service_token_open(KEY, (char *)tok.data, tok.len, NOW + 1000, &o), VMESH_ERR_EXPIRED);
    /* Fields are still filled (DELETE of an expired session). */
    assert_int_equal(o.nonce_len, 8);
    vmesh_buf_free(&tok);
    vmesh_service_session_free(&s);
    vmesh_service_session_free(&o);
}

static void completed_and_limits(void **state)
{
    vmesh_service_session s, o;
    vmesh_buf tok = {0};
    const char *ear = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";

    (void)state;
    waiting(&s, 64);
    vmesh_service_session_init(&o);
    s.state = VMESH_SESSION_COMPLETE;
    snprintf(s.media_type, sizeof(s.media_type), "application/psa-attestation-token");
    assert_int_equal(vmesh_buf_set(&s.ear, ear, strlen(ear)), VMESH_OK);
    assert_int_equal(vmesh_service_token_seal(KEY, &s, &tok), VMESH_OK);
    assert_int_equal(vmesh_service_token_open(KEY, (char *)tok.data, tok.len, NOW, &o), VMESH_OK);
    assert_int_equal(o.state, VMESH_SESSION_COMPLETE);
    assert_string_equal(o.media_type, "application/psa-attestation-token");
    assert_string_equal((char *)o.ear.data, ear);
    /* Nonce sizes outside 8..64 are refused at seal time. */
    s.nonce_len = 7;
    assert_int_equal(vmesh_service_token_seal(KEY, &s, &tok), VMESH_ERR_ARG);
    s.nonce_len = 65;
    assert_int_equal(vmesh_service_token_seal(KEY, &s, &tok), VMESH_ERR_ARG);
    /* Over-long ids are refused before decoding. */
    char *big = malloc(VMESH_SERVICE_MAX_TOKEN + 2);
    memset(big, 'A', VMESH_SERVICE_MAX_TOKEN + 1);
    big[VMESH_SERVICE_MAX_TOKEN + 1] = '\0';
    assert_int_equal(vmesh_service_token_open(KEY, big, VMESH_SERVICE_MAX_TOKEN + 1, NOW, &o), VMESH_ERR_TOO_LARGE);
    free(big);
    vmesh_buf_free(&tok);
    vmesh_service_session_free(&s);
    vmesh_service_session_free(&o);
}

static void nonce_query(void **state)
{
    vmesh_buf n = {0};

    (void)state;
    assert_int_equal(vmesh_service_parse_nonce_query(NULL, NULL, &n), VMESH_OK);
    assert_int_equal(n.len, 32);
    assert_int_equal(vmesh_service_parse_nonce_query(NULL, "8", &n), VMESH_OK);
    assert_int_equal(n.len, 8);
    assert_int_equal(vmesh_service_parse_nonce_query(NULL, "64", &n), VMESH_OK);
    assert_int_equal(n.len, 64);
    const char *bad[] = {"7", "65", "0", "-8", "+8", " 8", "8 ", "abc", "99999999999999999999", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vmesh_service_parse_nonce_query(NULL, bad[i], &n), VMESH_ERR_ARG);
        assert_string_equal(vmesh_err_detail(), "nonceSize must be in range 8..64");
        assert_int_equal(n.len, 0);
    }
    assert_int_equal(vmesh_service_parse_nonce_query("AAECAwQFBgc", NULL, &n), VMESH_OK);
    assert_int_equal(n.len, 8);
    assert_int_equal(n.data[7], 7);
    assert_int_equal(vmesh_service_parse_nonce_query("AAECAwQFBg", NULL, &n), VMESH_ERR_ARG);
    assert_string_equal(vmesh_err_detail(), "nonce must be between 8 and 64 bytes long; got 7");
    assert_int_equal(vmesh_service_parse_nonce_query("AA*A", NULL, &n), VMESH_ERR_ARG);
    assert_string_equal(vmesh_err_detail(), "nonce must be valid base64");
    assert_int_equal(vmesh_service_parse_nonce_query("AAECAwQFBgc", "8", &n), VMESH_ERR_ARG);
    assert_string_equal(vmesh_err_detail(), "nonce and nonceSize are mutually exclusive");
    vmesh_buf_free(&n);
}

static void accept_header(void **state)
{
    const char *mt = VMESH_SERVICE_SESSION_MT;

    (void)state;
    assert_true(vmesh_service_accepts(NULL, mt));
    assert_true(vmesh_service_accepts("", mt));
    assert_true(vmesh_service_accepts("*/*", mt));
    assert_true(vmesh_service_accepts("application/*", mt));
    assert_true(vmesh_service_accepts("text/html, application/vnd.veraison.challenge-response-session+json;q=0.9", mt));
    assert_true(vmesh_service_accepts("Application/VND.Veraison.Challenge-Response-Session+JSON", mt));
    assert_false(vmesh_service_accepts("application/json", mt));
    assert_false(vmesh_service_accepts("text/*", mt));
    assert_false(vmesh_service_accepts("application/vnd.veraison.challenge-response-session", mt));
    assert_false(vmesh_service_accepts("application/vnd.veraison.challenge-response-session+json+x", mt));
}

static void ak_and_cmw(void **state)
{
    vmesh_key *k = NULL;
    vmesh_buf spki = {0}, enc = {0}, out = {0}, t = {0}, v = {0};
    const char *cmw = "[\"application/psa-attestation-token\", \"AAEC\"]";

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
    assert_int_equal(vmesh_b64url_encode(spki.data, spki.len, &enc), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&enc), VMESH_OK);
    assert_int_equal(vmesh_service_parse_ak((char *)enc.data, &out), VMESH_OK);
    assert_int_equal(out.len, spki.len);
    assert_memory_equal(out.data, spki.data, spki.len);
    assert_int_equal(vmesh_service_parse_ak("bm90IGEga2V5", &out), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not a SubjectPublicKeyInfo"));
    assert_int_equal(vmesh_service_parse_ak("", &out), VMESH_ERR_TOO_LARGE);

    assert_true(vmesh_service_is_cmw("application/cmw+json"));
    assert_true(vmesh_service_is_cmw("application/vnd.veraison.cmw+json; charset=utf-8"));
    assert_true(vmesh_service_is_cmw("application/cmw+cbor"));
    assert_false(vmesh_service_is_cmw("application/cbor"));
    assert_int_equal(vmesh_service_cmw_unwrap((const uint8_t *)cmw, strlen(cmw), &t, &v), VMESH_OK);
    assert_string_equal((char *)t.data, "application/psa-attestation-token");
    assert_int_equal(v.len, 3);
    /* the same record in CBOR: ["application/psa-attestation-token", h'000102'] */
    {
        vmesh_buf cb = {0};

        assert_int_equal(vmesh_hex_decode("8278216170706c69636174696f6e2f7073612d6174746573746174696f6e2d746f6b656e"
                                          "43000102", 80, &cb), VMESH_OK);
        assert_int_equal(vmesh_service_cmw_unwrap(cb.data, cb.len, &t, &v), VMESH_OK);
        assert_string_equal((char *)t.data, "application/psa-attestation-token");
        assert_int_equal(v.len, 3);
        vmesh_buf_free(&cb);
    }
    /* a JSON collection becomes application/cmw+cbor with the collection in CBOR */
    {
        const char *coll = "{\"p\":[\"a/b\",\"AAEC\"],\"r\":[\"c/d\",\"AwQ\"]}";

        assert_int_equal(vmesh_service_cmw_unwrap((const uint8_t *)coll, strlen(coll), &t, &v), VMESH_OK);
        assert_string_equal((char *)t.data, "application/cmw+cbor");
        assert_int_equal(v.data[0], 0xa2);
    }
    const char *bad[] = {"{}", "[\"a\"]", "[1, \"AAEC\"]", "[\"a\", \"AAEC\", \"x\"]", "[\"a\", \"*\"]", "[\"a\", \"\"]", "nope"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(vmesh_service_cmw_unwrap((const uint8_t *)bad[i], strlen(bad[i]), &t, &v), VMESH_ERR_PARSE);
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&enc);
    vmesh_buf_free(&out);
    vmesh_buf_free(&t);
    vmesh_buf_free(&v);
}

/* The handler without sockets: newSession, GET, DELETE, then 404. */
static void handler_session_lifecycle(void **state)
{
    vmesh_key *ear = NULL;
    vmesh_verifier *v = NULL;
    vmesh_verifier_config vc = {0};
    vmesh_service_config sc = {0};
    vmesh_service *s = NULL;
    vmesh_service_request rq = {0};
    vmesh_service_response rs;
    char path[16384];

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ear), VMESH_OK);
    vc.ear_key = ear;
    assert_int_equal(vmesh_verifier_new(&vc, &v), VMESH_OK);
    sc.verifier = v;
    sc.ear_key = ear;
    sc.session_ttl = 10;
    assert_int_equal(vmesh_service_new(&sc, &s), VMESH_OK);
    vmesh_service_response_init(&rs);

    rq.method = "POST";
    rq.path = "/challenge-response/v1/newSession";
    rq.q_nonce_size = "16";
    rq.now = NOW;
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 201);
    assert_string_equal(rs.content_type, VMESH_SERVICE_SESSION_MT);
    assert_int_equal(strncmp((char *)rs.location.data, "session/", 8), 0);
    snprintf(path, sizeof(path), "/challenge-response/v1/%s", (char *)rs.location.data);

    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    rq.path = path;
    rq.now = NOW + 9;
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr((char *)rs.body.data, "\"status\":\"waiting\""));
    rq.now = NOW + 10; /* expired */
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 404);
    assert_string_equal(rs.content_type, VMESH_SERVICE_PROBLEM_MT);
    assert_non_null(strstr((char *)rs.body.data, "session expired"));
    rq.now = NOW + 1;
    rq.accept = "text/plain";
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 406);
    rq.accept = NULL;
    rq.method = "DELETE";
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 204);
    assert_int_equal(rs.body.len, 0);
    rq.method = "GET";
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 404);
    assert_non_null(strstr((char *)rs.body.data, "deleted"));
    /* Evidence POST to a session: 415 before the session is even opened. */
    rq.method = "POST";
    rq.content_type = "text/plain";
    rq.body = (const uint8_t *)"x";
    rq.body_len = 1;
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 415);
    assert_non_null(strstr((char *)rs.accept.data, "application/psa-attestation-token"));
    rq.method = "PUT";
    assert_int_equal(vmesh_service_handle(s, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 405);

    vmesh_service_response_free(&rs);
    vmesh_service_free(s);
    vmesh_verifier_free(v);
    vmesh_crypto_key_free(ear);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_open_roundtrip),
        cmocka_unit_test(tampered_every_position),
        cmocka_unit_test(other_key_and_expiry),
        cmocka_unit_test(completed_and_limits),
        cmocka_unit_test(nonce_query),
        cmocka_unit_test(accept_header),
        cmocka_unit_test(ak_and_cmw),
        cmocka_unit_test(handler_session_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
