/* Unit tests for COSE_Sign1: round trips for ES256/ES384/EdDSA, strict
 * decoding of malformed messages, and interop with Veraison's PSA token in
 * ../shared/vectors. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmesh/cose.h"

static const vmesh_key_type all_types[] = {VMESH_KEY_EC_P256, VMESH_KEY_EC_P384, VMESH_KEY_ED25519};
static const uint8_t payload[] = "{\"claims\": \"attested\"}";

static vmesh_key *gen(vmesh_key_type t)
{
    vmesh_key *k = NULL;
    assert_int_equal(vmesh_crypto_key_generate(t, &k), VMESH_OK);
    return k;
}

static vmesh_err decode(const vmesh_buf *b, vmesh_cose_sign1 **m)
{
    return vmesh_cose_sign1_decode(b->data, b->len, 0, m);
}

/* ---- a tiny encoder to hand-craft messages ----------------------------- */

static void head(vmesh_buf *b, int major, uint64_t v)
{
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        assert_int_equal(vmesh_buf_append_u8(b, (uint8_t)(mt | v)), VMESH_OK);
    } else if (v < 256) {
        assert_int_equal(vmesh_buf_append_u8(b, mt | 24), VMESH_OK);
        assert_int_equal(vmesh_buf_append_u8(b, (uint8_t)v), VMESH_OK);
    } else {
        assert_true(v < 65536);
        assert_int_equal(vmesh_buf_append_u8(b, mt | 25), VMESH_OK);
        assert_int_equal(vmesh_buf_append_u8(b, (uint8_t)(v >> 8)), VMESH_OK);
        assert_int_equal(vmesh_buf_append_u8(b, (uint8_t)v), VMESH_OK);
    }
}

static void raw(vmesh_buf *b, const void *p, size_t n)
{
    assert_int_equal(vmesh_buf_append(b, p, n), VMESH_OK);
}

static void bstr(vmesh_buf *b, const void *p, size_t n)
{
    head(b, 2, n);
    raw(b, p, n);
}

/* d2 84 bstr(prot) unprot payload-item bstr(sig[64]) */
static void craft(vmesh_buf *out, int tag, const void *prot, size_t prot_len, const void *unprot,
                  size_t unprot_len, const void *pl_item, size_t pl_len)
{
    uint8_t sig[64] = {0};
    if (tag >= 0)
        head(out, 6, (uint64_t)tag);
    head(out, 4, 4);
    bstr(out, prot, prot_len);
    raw(out, unprot, unprot_len);
    raw(out, pl_item, pl_len);
    bstr(out, sig, sizeof(sig));
}

static void expect_decode(const vmesh_buf *b, vmesh_err want, const char *substr)
{
    vmesh_cose_sign1 *m = NULL;
    vmesh_err rc = decode(b, &m);
    if (rc != want || (substr && strstr(vmesh_err_detail(), substr) == NULL))
        fail_msg("decode: got %s \"%s\", want %s \"%s\"", vmesh_err_name(rc), vmesh_err_detail(),
                 vmesh_err_name(want), substr ? substr : "");
    assert_null(m);
}

/* ---- tests ------------------------------------------------------------- */

static void round_trip_all(void **state)
{
    static const int algs[] = {-7, -35, -8};
    static const uint8_t kid[] = {'k', 'e', 'y', '-', '1'};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        vmesh_key *k = gen(all_types[i]), *other = gen(all_types[i]);
        vmesh_cose_sign1_opts o;
        vmesh_buf b = {0};
        vmesh_cose_sign1 *m = NULL;
        const uint8_t *p;
        size_t n;

        memset(&o, 0, sizeof(o));
        o.kid = kid;
        o.kid_len = sizeof(kid);
        o.content_type = "application/eat+cwt";
        assert_int_equal(vmesh_cose_sign1_create(k, payload, sizeof(payload), &o, &b), VMESH_OK);
        assert_int_equal(b.data[0], 0xd2);
        assert_int_equal(b.data[1], 0x84);
        assert_int_equal(decode(&b, &m), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_alg(m), algs[i]);
        p = vmesh_cose_sign1_payload(m, &n);
        assert_int_equal(n, sizeof(payload));
        assert_memory_equal(p, payload, n);
        assert_true(p < b.data || p >= b.data + b.len); /* owned by m, not the input */
        p = vmesh_cose_sign1_kid(m, &n);
        assert_non_null(p);
        assert_int_equal(n, sizeof(kid));
        assert_memory_equal(p, kid, n);
        assert_string_equal(vmesh_cose_sign1_content_type(m), "application/eat+cwt");
        p = vmesh_cose_sign1_protected(m, &n);
        assert_true(n > 3);
        assert_int_equal(p[0], 0xa2); /* {1: alg, 3: ct} */
        assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_verify(m, other), VMESH_ERR_SIGNATURE);
        assert_non_null(strstr(vmesh_err_detail(), "COSE_Sign1"));
        vmesh_cose_sign1_free(m);
        m = NULL;
        /* the input may go away: the decoded object owns its bytes */
        assert_int_equal(decode(&b, &m), VMESH_OK);
        memset(b.data, 0, b.len);
        vmesh_buf_free(&b);
        assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
        vmesh_cose_sign1_free(m);
        m = NULL;

        /* no options: tagged, no kid, no content type */
        assert_int_equal(vmesh_cose_sign1_create(k, payload, sizeof(payload), NULL, &b), VMESH_OK);
        assert_int_equal(b.data[0], 0xd2);
        assert_int_equal(decode(&b, &m), VMESH_OK);
        assert_null(vmesh_cose_sign1_kid(m, &n));
        assert_int_equal(n, 0);
        assert_null(vmesh_cose_sign1_content_type(m));
        assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
        vmesh_cose_sign1_free(m);
        vmesh_buf_free(&b);
        memset(&o, 0, sizeof(o));
        o.untagged = true;
        assert_int_equal(vmesh_cose_sign1_create(k, NULL, 0, &o, &b), VMESH_OK);
        assert_int_equal(b.data[0], 0x84);
        assert_int_equal(decode(&b, &m), VMESH_OK);
        vmesh_cose_sign1_payload(m, &n);
        assert_int_equal(n, 0);
        assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
        vmesh_cose_sign1_free(m);
        vmesh_buf_free(&b);
        vmesh_crypto_key_free(k);
        vmesh_crypto_key_free(other);
    }
}

static void alg_key_mismatch(void **state)
{
    vmesh_key *p256 = gen(VMESH_KEY_EC_P256), *p384 = gen(VMESH_KEY_EC_P384),
              *ed = gen(VMESH_KEY_ED25519);
    vmesh_buf b = {0};
    vmesh_cose_sign1 *m = NULL;

    (void)state;
    assert_int_equal(vmesh_cose_sign1_create(p256, payload, sizeof(payload), NULL, &b), VMESH_OK);
    assert_int_equal(decode(&b, &m), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, p384), VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "alg ES256 (-7) does not match the ec-p384 key"));
    assert_int_equal(vmesh_cose_sign1_verify(m, ed), VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "ed25519"));
    vmesh_cose_sign1_free(m);
    vmesh_buf_free(&b);
    /* a public key cannot sign */
    {
        vmesh_buf spki = {0};
        vmesh_key *pub = NULL;
        assert_int_equal(vmesh_crypto_key_to_spki(ed, &spki), VMESH_OK);
        assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_create(pub, payload, 1, NULL, &b), VMESH_ERR_ARG);
        vmesh_crypto_key_free(pub);
        vmesh_buf_free(&spki);
    }
    vmesh_crypto_key_free(p256);
    vmesh_crypto_key_free(p384);
    vmesh_crypto_key_free(ed);
}

static void extra_protected(void **state)
{
    /* {8: h'0102', "x": [1, 2]} */
    static const uint8_t extra[] = {0xa2, 0x08, 0x42, 0x01, 0x02, 0x61, 'x', 0x82, 0x01, 0x02};
    static const uint8_t clash_alg[] = {0xa1, 0x01, 0x26};
    static const uint8_t not_map[] = {0x82, 0x01, 0x02};
    static const uint8_t trailing[] = {0xa1, 0x08, 0x01, 0x00};
    vmesh_key *k = gen(VMESH_KEY_EC_P256);
    vmesh_cose_sign1_opts o;
    vmesh_buf b = {0};
    vmesh_cose_sign1 *m = NULL;
    const uint8_t *p;
    size_t n;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.extra_protected_map = extra;
    o.extra_protected_map_len = sizeof(extra);
    o.content_type = "application/rim+cbor";
    assert_int_equal(vmesh_cose_sign1_create(k, payload, sizeof(payload), &o, &b), VMESH_OK);
    assert_int_equal(decode(&b, &m), VMESH_OK);
    p = vmesh_cose_sign1_protected(m, &n);
    /* {1: -7, 3: "application/rim+cbor", 8: h'0102', "x": [1, 2]} */
    assert_int_equal(n, 1 + 2 + 1 + 21 + sizeof(extra) - 1);
    assert_int_equal(p[0], 0xa4);
    assert_int_equal(p[1], 0x01);
    assert_int_equal(p[2], 0x26);
    assert_memory_equal(p + n - (sizeof(extra) - 1), extra + 1, sizeof(extra) - 1);
    assert_string_equal(vmesh_cose_sign1_content_type(m), "application/rim+cbor");
    assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
    vmesh_cose_sign1_free(m);
    vmesh_buf_free(&b);

    o.extra_protected_map = clash_alg;
    o.extra_protected_map_len = sizeof(clash_alg);
    assert_int_equal(vmesh_cose_sign1_create(k, payload, 1, &o, &b), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "label 1"));
    o.extra_protected_map = not_map;
    o.extra_protected_map_len = sizeof(not_map);
    assert_int_equal(vmesh_cose_sign1_create(k, payload, 1, &o, &b), VMESH_ERR_ARG);
    o.extra_protected_map = trailing;
    o.extra_protected_map_len = sizeof(trailing);
    assert_int_equal(vmesh_cose_sign1_create(k, payload, 1, &o, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "trailing"));
    vmesh_buf_free(&b);
    vmesh_crypto_key_free(k);
}

static void truncated_and_trailing(void **state)
{
    vmesh_key *k = gen(VMESH_KEY_EC_P384);
    vmesh_cose_sign1_opts o;
    vmesh_buf b = {0};
    vmesh_cose_sign1 *m = NULL;
    static const uint8_t kid[] = {1, 2, 3};

    (void)state;
    memset(&o, 0, sizeof(o));
    o.kid = kid;
    o.kid_len = sizeof(kid);
    o.content_type = "text/plain";
    assert_int_equal(vmesh_cose_sign1_create(k, payload, sizeof(payload), &o, &b), VMESH_OK);
    for (size_t i = 0; i < b.len; i++) {
        vmesh_err rc = vmesh_cose_sign1_decode(b.data, i, 0, &m);
        if (rc == VMESH_OK)
            fail_msg("a message truncated to %zu of %zu bytes decoded", i, b.len);
        assert_null(m);
    }
    assert_int_equal(vmesh_cose_sign1_decode(b.data, b.len, b.len - 1, &m), VMESH_ERR_TOO_LARGE);
    assert_int_equal(vmesh_cose_sign1_decode(b.data, b.len, b.len, &m), VMESH_OK);
    vmesh_cose_sign1_free(m);
    m = NULL;
    assert_int_equal(vmesh_buf_append_u8(&b, 0x00), VMESH_OK);
    expect_decode(&b, VMESH_ERR_PARSE, "trailing");
    vmesh_buf_free(&b);
    vmesh_crypto_key_free(k);
}

static void structural_refusals(void **state)
{
    static const uint8_t prot_es256[] = {0xa1, 0x01, 0x26};
    static const uint8_t empty_map[] = {0xa0};
    static const uint8_t pl[] = {0x43, 'a', 'b', 'c'};
    static const uint8_t nil[] = {0xf6};
    vmesh_buf b = {0};

    (void)state;
    /* the well-formed baseline decodes */
    craft(&b, 18, prot_es256, 3, empty_map, 1, pl, sizeof(pl));
    {
        vmesh_cose_sign1 *m = NULL;
        assert_int_equal(decode(&b, &m), VMESH_OK);
        vmesh_cose_sign1_free(m);
    }
    vmesh_buf_reset(&b);
    /* wrong tag (17 = COSE_Mac0) */
    craft(&b, 17, prot_es256, 3, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "tag 17 is not COSE_Sign1");
    vmesh_buf_reset(&b);
    /* detached payload */
    craft(&b, 18, prot_es256, 3, empty_map, 1, nil, 1);
    expect_decode(&b, VMESH_ERR_UNSUPPORTED, "detached");
    vmesh_buf_reset(&b);
    /* payload a float32 (a null check must not be fooled) or undefined */
    craft(&b, 18, prot_es256, 3, empty_map, 1, "\xfa\x42\x6b\x31\x40", 5);
    expect_decode(&b, VMESH_ERR_PARSE, "payload is not a byte string");
    vmesh_buf_reset(&b);
    craft(&b, 18, prot_es256, 3, empty_map, 1, "\xf7", 1);
    expect_decode(&b, VMESH_ERR_PARSE, "payload is not a byte string");
    vmesh_buf_reset(&b);
    /* payload not a bstr */
    craft(&b, 18, prot_es256, 3, empty_map, 1, "\x01", 1);
    expect_decode(&b, VMESH_ERR_PARSE, "payload is not a byte string");
    vmesh_buf_reset(&b);
    /* wrong array lengths: 3 and 5 items */
    head(&b, 6, 18);
    head(&b, 4, 3);
    bstr(&b, prot_es256, 3);
    raw(&b, empty_map, 1);
    raw(&b, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "array of 3 items, expected 4");
    vmesh_buf_reset(&b);
    head(&b, 4, 5);
    bstr(&b, prot_es256, 3);
    raw(&b, empty_map, 1);
    raw(&b, pl, sizeof(pl));
    raw(&b, pl, sizeof(pl));
    raw(&b, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "array of 5 items");
    vmesh_buf_reset(&b);
    /* not an array at all */
    raw(&b, "\xa0", 1);
    expect_decode(&b, VMESH_ERR_PARSE, "not an array");
    vmesh_buf_reset(&b);
    /* protected header as a plain map instead of a bstr */
    head(&b, 4, 4);
    raw(&b, prot_es256, 3);
    raw(&b, empty_map, 1);
    raw(&b, pl, sizeof(pl));
    bstr(&b, "xx", 2);
    expect_decode(&b, VMESH_ERR_PARSE, "protected header is not a byte string");
    vmesh_buf_reset(&b);
    /* protected bstr that is not a map / has trailing bytes / is empty */
    craft(&b, 18, "\x82\x01\x26", 3, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "protected header is not a map");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa1\x01\x26\x00", 4, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "trailing");
    vmesh_buf_reset(&b);
    craft(&b, 18, "", 0, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "empty protected header");
    vmesh_buf_reset(&b);
    /* unprotected header not a map */
    craft(&b, 18, prot_es256, 3, "\x80", 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "unprotected header is not a map");
    vmesh_buf_reset(&b);
    /* missing alg, unsupported alg (RS256 -257), alg as text, alg unprotected */
    craft(&b, 18, "\xa1\x03\x00", 3, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "no alg");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa1\x01\x39\x01\x00", 5, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_UNSUPPORTED, "alg -257 is not supported");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa1\x01\x65" "ES256", 8, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_UNSUPPORTED, "not an integer");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa1\x03\x00", 3, "\xa1\x01\x26", 3, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "unprotected");
    vmesh_buf_reset(&b);
    /* duplicate label in one map, same label in both maps, bad label type */
    craft(&b, 18, "\xa2\x01\x26\x01\x26", 5, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "appears twice");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa2\x01\x26\x04\x41k", 6, "\xa1\x04\x41k", 4, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "label 4 is in both");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa2\x01\x26\x41k\x00", 6, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "neither an integer nor text");
    vmesh_buf_reset(&b);
    /* crit */
    craft(&b, 18, "\xa2\x01\x26\x02\x81\x08", 6, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_UNSUPPORTED, "critical");
    vmesh_buf_reset(&b);
    /* kid not a bstr; content type neither text nor uint */
    craft(&b, 18, prot_es256, 3, "\xa1\x04\x61k", 4, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "kid (4) is not a byte string");
    vmesh_buf_reset(&b);
    craft(&b, 18, "\xa2\x01\x26\x03\x41x", 6, empty_map, 1, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "content type");
    vmesh_buf_free(&b);
}

static void hostile_cbor(void **state)
{
    static const uint8_t prot_es256[] = {0xa1, 0x01, 0x26};
    static const uint8_t pl[] = {0x41, 'a'};
    vmesh_buf b = {0}, u = {0};

    (void)state;
    /* indefinite-length payload */
    craft(&b, 18, prot_es256, 3, "\xa0", 1, "\x5f\x41x\xff", 4);
    expect_decode(&b, VMESH_ERR_PARSE, "indefinite-length");
    vmesh_buf_reset(&b);
    /* nesting bomb in the unprotected header: {5: [[[[...]]]]} */
    head(&u, 5, 1);
    head(&u, 0, 5);
    for (int i = 0; i < 1000; i++)
        head(&u, 4, 1);
    head(&u, 0, 0);
    craft(&b, 18, prot_es256, 3, u.data, u.len, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "nested deeper");
    vmesh_buf_reset(&b);
    /* huge declared lengths: array of 2^32 items, bstr of 2^63 bytes */
    raw(&b, "\xd2\x9a\xff\xff\xff\xff\x00", 7);
    expect_decode(&b, VMESH_ERR_PARSE, "declares");
    vmesh_buf_reset(&b);
    raw(&b, "\x84\x5b\x7f\xff\xff\xff\xff\xff\xff\xff", 10);
    expect_decode(&b, VMESH_ERR_PARSE, "declares");
    vmesh_buf_reset(&b);
    /* a map declaring 2^31 pairs inside the unprotected slot */
    craft(&b, 18, prot_es256, 3, "\xba\x7f\xff\xff\xff", 5, pl, sizeof(pl));
    expect_decode(&b, VMESH_ERR_PARSE, "declares");
    vmesh_buf_reset(&b);
    /* reserved additional information and invalid simple value */
    raw(&b, "\x1c", 1);
    expect_decode(&b, VMESH_ERR_PARSE, "reserved");
    vmesh_buf_reset(&b);
    raw(&b, "\xf8\x10", 2);
    expect_decode(&b, VMESH_ERR_PARSE, "simple value");
    vmesh_buf_free(&b);
    vmesh_buf_free(&u);
}

static const char *vector(const char *rel, char *buf, size_t n)
{
    const char *v = getenv("VMESH_VECTORS");
    if (v == NULL || *v == '\0')
        return NULL;
    snprintf(buf, n, "%s/%s", v, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* Veraison's PSA token (ES256) verifies with the public part of its IAK. */
static void psa_interop(void **state)
{
    char cpath[1024], kpath[1024];
    vmesh_buf tok = {0}, jwk = {0}, bad = {0}, plcopy = {0};
    vmesh_key *iak = NULL, *pub = NULL, *p384 = NULL;
    vmesh_cose_sign1 *m = NULL;
    const uint8_t *pl;
    size_t pl_len;
    uint8_t *at;

    (void)state;
    if (vector("psa/psa.good.cose", cpath, sizeof(cpath)) == NULL ||
        vector("psa/iak.ec.p256.jwk", kpath, sizeof(kpath)) == NULL) {
        skip();
        return;
    }
    assert_int_equal(vmesh_file_read(cpath, 0, &tok), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_load(kpath, &iak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_jwk(iak, false, &jwk), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_jwk((char *)jwk.data, jwk.len, &pub), VMESH_OK);
    assert_false(vmesh_crypto_key_is_private(pub));

    assert_int_equal(decode(&tok, &m), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_alg(m), VMESH_COSE_ALG_ES256);
    assert_null(vmesh_cose_sign1_content_type(m));
    pl = vmesh_cose_sign1_payload(m, &pl_len);
    assert_int_equal(pl_len, 470);
    assert_int_equal(pl[0], 0xa9); /* a map of 9 claims */
    assert_int_equal(vmesh_buf_set(&plcopy, pl, pl_len), VMESH_OK);
    pl = plcopy.data;
    assert_int_equal(vmesh_cose_sign1_verify(m, pub), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, iak), VMESH_OK);
    p384 = gen(VMESH_KEY_EC_P384);
    assert_int_equal(vmesh_cose_sign1_verify(m, p384), VMESH_ERR_MISMATCH);
    vmesh_cose_sign1_free(m);
    m = NULL;

    /* a flipped byte in the payload */
    assert_int_equal(vmesh_buf_set(&bad, tok.data, tok.len), VMESH_OK);
    at = memmem(bad.data, bad.len, pl, pl_len);
    assert_non_null(at);
    at[pl_len / 2] ^= 0x01;
    assert_int_equal(decode(&bad, &m), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, pub), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "does not verify"));
    vmesh_cose_sign1_free(m);
    m = NULL;
    /* a flipped byte in the signature (the last 64 bytes) */
    assert_int_equal(vmesh_buf_set(&bad, tok.data, tok.len), VMESH_OK);
    bad.data[bad.len - 10] ^= 0x40;
    assert_int_equal(decode(&bad, &m), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, pub), VMESH_ERR_SIGNATURE);
    vmesh_cose_sign1_free(m);
    m = NULL;
    /* a flipped byte in the protected header: alg -7 becomes -8 */
    assert_int_equal(vmesh_buf_set(&bad, tok.data, tok.len), VMESH_OK);
    assert_int_equal(bad.data[5], 0x26);
    bad.data[5] = 0x27;
    assert_int_equal(decode(&bad, &m), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, pub), VMESH_ERR_MISMATCH);
    vmesh_cose_sign1_free(m);

    vmesh_buf_free(&tok);
    vmesh_buf_free(&bad);
    vmesh_buf_free(&plcopy);
    vmesh_buf_free(&jwk);
    vmesh_crypto_key_free(iak);
    vmesh_crypto_key_free(pub);
    vmesh_crypto_key_free(p384);
}

/* A message built by hand (text labels, unprotected ct as an integer)
 * verifies: the Sig_structure is computed from the bytes as received. */
static void hand_built_verifies(void **state)
{
    static const uint8_t prot[] = {0xa2, 0x01, 0x27, 0x63, 'f', 'o', 'o', 0xf5};
    static const uint8_t pl[] = {'h', 'i'};
    vmesh_key *k = gen(VMESH_KEY_ED25519);
    vmesh_buf tbs = {0}, sig = {0}, msg = {0};
    vmesh_cose_sign1 *m = NULL;

    (void)state;
    /* Sig_structure = ["Signature1", h'<prot>', h'', h'6869'] */
    head(&tbs, 4, 4);
    head(&tbs, 3, 10);
    raw(&tbs, "Signature1", 10);
    bstr(&tbs, prot, sizeof(prot));
    bstr(&tbs, "", 0);
    bstr(&tbs, pl, sizeof(pl));
    assert_int_equal(vmesh_crypto_sign(k, tbs.data, tbs.len, &sig), VMESH_OK);
    head(&msg, 4, 4);
    bstr(&msg, prot, sizeof(prot));
    raw(&msg, "\xa1\x03\x18\x3c", 4); /* {3: 60} (application/cbor) */
    bstr(&msg, pl, sizeof(pl));
    bstr(&msg, sig.data, sig.len);
    assert_int_equal(decode(&msg, &m), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_alg(m), VMESH_COSE_ALG_EDDSA);
    assert_null(vmesh_cose_sign1_content_type(m));
    assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
    vmesh_cose_sign1_free(m);
    vmesh_buf_free(&tbs);
    vmesh_buf_free(&sig);
    vmesh_buf_free(&msg);
    vmesh_crypto_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_all),
        cmocka_unit_test(alg_key_mismatch),
        cmocka_unit_test(extra_protected),
        cmocka_unit_test(truncated_and_trailing),
        cmocka_unit_test(structural_refusals),
        cmocka_unit_test(hostile_cbor),
        cmocka_unit_test(psa_interop),
        cmocka_unit_test(hand_built_verifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
