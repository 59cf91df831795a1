/* Unit tests for the epoch bell: the Epoch Marker CWT (signing, strict
 * decoding, verification), the two-tick view, and several bells (one per
 * RVP) combined by one verifier with a stale marker refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "vmesh/cbor.h"
#include "vmesh/cose.h"
#include "vmesh/rvp.h"

static void sign_verify(void **state)
{
    vmesh_key *k = NULL, *other = NULL;
    vmesh_bell b, got;
    vmesh_buf jws = {0};

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("rvp.example", 41, 30, &b), VMESH_OK);
    assert_int_equal(b.id, 42);
    assert_int_equal(b.valid_until - b.issued_at, 60);
    assert_int_equal(vmesh_rvp_bell_sign(&b, k, &jws), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.issued_at, &got), VMESH_OK);
    assert_int_equal(got.id, 42);
    assert_string_equal(got.name, "rvp.example");
    assert_memory_equal(got.nonce, b.nonce, 32);
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, other, b.issued_at, &got), VMESH_ERR_SIGNATURE);
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.valid_until, &got), VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "expired"));
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.issued_at - 1000, &got), VMESH_ERR_EXPIRED);
    jws.data[jws.len / 2] ^= 1;
    assert_int_not_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.issued_at, &got), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("", 1, 30, &b), VMESH_ERR_ARG);
    assert_int_equal(vmesh_rvp_bell_next("x", 1, 0, &b), VMESH_ERR_ARG);
    vmesh_buf_free(&jws);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
}

static void view(void **state)
{
    vmesh_key *k = NULL;
    vmesh_bell b1, b2, b3, cur;
    vmesh_buf j1 = {0}, j2 = {0}, j3 = {0};
    vmesh_bell_view *v = NULL;
    int64_t now;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("b", 0, 60, &b1), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("b", 1, 60, &b2), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("b", 2, 60, &b3), VMESH_OK);
    now = b1.issued_at;
    assert_int_equal(vmesh_rvp_bell_sign(&b1, k, &j1), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b2, k, &j2), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b3, k, &j3), VMESH_OK);
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_current(v, &cur), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j1.data, j1.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j2.data, j2.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_generation(v), 2);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j2.data, j2.len, now), VMESH_OK); /* same tick: no-op */
    assert_int_equal(vmesh_bell_view_generation(v), 2);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_OK); /* previous tick still fresh */
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b1.nonce, 32, now, NULL), VMESH_ERR_MISMATCH);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j1.data, j1.len, now), VMESH_ERR_POLICY); /* rollback */
    assert_non_null(strstr(vmesh_err_detail(), "rollback"));
    assert_int_equal(vmesh_bell_view_update(v, (char *)j3.data, j3.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_EXPIRED); /* stale epoch */
    assert_non_null(strstr(vmesh_err_detail(), "stale epoch"));
    assert_int_equal(vmesh_bell_view_current(v, &cur), VMESH_OK);
    assert_int_equal(cur.id, 3);
    vmesh_bell_view_free(v);
    vmesh_buf_free(&j1);
    vmesh_buf_free(&j2);
    vmesh_buf_free(&j3);
    vmesh_crypto_key_free(k);
}

/* The marker is a COSE_Sign1 over a CWT with em = 26982(epoch-tick): read it
 * back with the generic COSE and CBOR readers, as another project would. */
static void marker_is_a_cwt(void **state)
{
    vmesh_key *k = NULL;
    vmesh_bell b;
    vmesh_buf m = {0};
    vmesh_cose_sign1 *msg = NULL;
    const uint8_t *p, *tick;
    size_t n, tn;
    vmesh_cbor r;
    uint64_t count, tag, u;
    int64_t key;
    bool is_int, saw_em = false;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("bell-a", 6, 30, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b, k, &m), VMESH_OK);
    assert_true(vmesh_cbor_starts_with(m.data, m.len, VMESH_CBOR_TAG, 18, NULL));
    assert_int_equal(vmesh_cose_sign1_decode(m.data, m.len, 0, &msg), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(msg, k), VMESH_OK);
    p = vmesh_cose_sign1_payload(msg, &n);
    vmesh_cbor_init(&r, p, n, "cwt", VMESH_CBOR_DETERMINISTIC);
    assert_int_equal(vmesh_cbor_check(&r), VMESH_OK); /* deterministic claims set */
    assert_int_equal(vmesh_cbor_read_map(&r, &count, 16, "claims"), VMESH_OK);
    assert_int_equal(count, 6);
    for (uint64_t i = 0; i < count; i++) {
        assert_int_equal(vmesh_cbor_read_int_key(&r, &key, &is_int), VMESH_OK);
        assert_true(is_int);
        if (key == 2000) {
            assert_int_equal(vmesh_cbor_read_tag(&r, &tag, "em"), VMESH_OK);
            assert_int_equal(tag, 26982);
            assert_int_equal(vmesh_cbor_read_bstr(&r, 64, &tick, &tn, "tick"), VMESH_OK);
            assert_int_equal(tn, 32);
            assert_memory_equal(tick, b.nonce, 32);
            saw_em = true;
        } else if (key == -65537) {
            assert_int_equal(vmesh_cbor_read_uint(&r, &u, "tick"), VMESH_OK);
            assert_int_equal(u, 7);
        } else {
            assert_int_equal(vmesh_cbor_skip(&r), VMESH_OK);
        }
    }
    assert_true(saw_em);
    vmesh_cose_sign1_free(msg);
    msg = NULL;
    /* the next tick carries this one as claim -65538, last in key order */
    {
        vmesh_bell b8;
        uint64_t items;

        assert_int_equal(vmesh_rvp_bell_after(&b, 30, &b8), VMESH_OK);
        assert_int_equal(vmesh_rvp_bell_sign(&b8, k, &m), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_decode(m.data, m.len, 0, &msg), VMESH_OK);
        p = vmesh_cose_sign1_payload(msg, &n);
        vmesh_cbor_init(&r, p, n, "cwt", VMESH_CBOR_DETERMINISTIC);
        assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
        assert_int_equal(vmesh_cbor_read_map(&r, &count, 16, "claims"), VMESH_OK);
        assert_int_equal(count, 7);
        for (uint64_t i = 0; i < 6; i++) {
            assert_int_equal(vmesh_cbor_read_int_key(&r, &key, &is_int), VMESH_OK);
            assert_int_equal(vmesh_cbor_skip(&r), VMESH_OK);
        }
        assert_int_equal(vmesh_cbor_read_int_key(&r, &key, &is_int), VMESH_OK);
        assert_int_equal(key, -65538);
        assert_int_equal(vmesh_cbor_read_array(&r, &items, 8, "prev"), VMESH_OK);
        assert_int_equal(items, 4);
        assert_int_equal(vmesh_cbor_read_uint(&r, &u, "prev id"), VMESH_OK);
        assert_int_equal(u, 7);
        assert_int_equal(vmesh_cbor_read_bstr(&r, 64, &tick, &tn, "prev tick"), VMESH_OK);
        assert_int_equal(tn, 32);
        assert_memory_equal(tick, b.nonce, 32);
        vmesh_cose_sign1_free(msg);
    }
    vmesh_buf_free(&m);
    vmesh_crypto_key_free(k);
}

/* Hand-made CWTs that must be refused, signed with the right key. */
static vmesh_err sign_claims(const vmesh_key *k, const uint8_t *cwt, size_t n, vmesh_bell *out)
{
    vmesh_buf m = {0};
    vmesh_err rc = vmesh_cose_sign1_create(k, cwt, n, NULL, &m);

    if (rc == VMESH_OK)
        rc = vmesh_rvp_bell_read(m.data, m.len, k, out);
    vmesh_buf_free(&m);
    return rc;
}

static void hostile_markers(void **state)
{
    vmesh_key *k = NULL;
    vmesh_bell b;
    /* {1:"a", 4:10, 6:5, 2000: 26984(7), -65537: 1}: a counter as em */
    static const uint8_t counter[] = {0xa5, 0x01, 0x61, 'a', 0x04, 0x0a, 0x06, 0x05, 0x19, 0x07, 0xd0,
                                      0xd9, 0x69, 0x68, 0x07, 0x3a, 0x00, 0x01, 0x00, 0x00, 0x01};
    /* no em claim */
    static const uint8_t no_em[] = {0xa4, 0x01, 0x61, 'a', 0x04, 0x0a, 0x06, 0x05, 0x3a, 0x00, 0x01, 0x00, 0x00, 0x01};
    /* iss twice */
    static const uint8_t dup[] = {0xa2, 0x01, 0x61, 'a', 0x01, 0x61, 'b'};
    /* em epoch-tick of 4 bytes */
    static const uint8_t short_tick[] = {0xa5, 0x01, 0x61, 'a', 0x04, 0x0a, 0x06, 0x05, 0x19, 0x07, 0xd0, 0xd9,
                                         0x69, 0x66, 0x44, 1, 2, 3, 4, 0x3a, 0x00, 0x01, 0x00, 0x00, 0x01};
    /* exp before iat */
    static const uint8_t backwards[] = {0xa5, 0x01, 0x61, 'a', 0x04, 0x01, 0x06, 0x05, 0x19, 0x07, 0xd0, 0xd9, 0x69,
                                        0x66, 0x58, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3a, 0x00, 0x01, 0x00, 0x00, 0x01};

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(sign_claims(k, counter, sizeof(counter), &b), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "predictable"));
    assert_int_equal(sign_claims(k, no_em, sizeof(no_em), &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "no em claim"));
    assert_int_equal(sign_claims(k, dup, sizeof(dup), &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "twice"));
    assert_int_equal(sign_claims(k, short_tick, sizeof(short_tick), &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "4 bytes"));
    assert_int_equal(sign_claims(k, backwards, sizeof(backwards), &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "exp is not after iat"));
    assert_int_equal(vmesh_rvp_bell_decode("\xa0", 1, &b), VMESH_ERR_PARSE); /* not a COSE_Sign1 */
    vmesh_crypto_key_free(k);
}

static void ring(const char *name, uint64_t prev, const vmesh_key *k, vmesh_bell *b, vmesh_buf *m)
{
    assert_int_equal(vmesh_rvp_bell_next(name, prev, 60, b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(b, k, m), VMESH_OK);
}

static vmesh_bell_marker marker_of(const vmesh_bell *b)
{
    vmesh_bell_marker m;

    memset(&m, 0, sizeof(m));
    snprintf(m.bell, sizeof(m.bell), "%s", b->name);
    m.tick = b->id;
    memcpy(m.em, b->nonce, sizeof(m.em));
    return m;
}

/* Builds a claims set like the ringer's, with a hand-made previous tick
 * (claim -65538): items elements, of which the tick is tick_len bytes. */
static void prev_cwt(vmesh_buf *c, uint64_t id, uint64_t prev_id, size_t tick_len, int64_t prev_iat,
                     int64_t prev_exp, unsigned items)
{
    static const uint8_t tick[64] = {1};
    static const uint8_t prev[64] = {2};

    vmesh_buf_reset(c);
    assert_int_equal(vmesh_cbor_put_map(c, 6), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(c, 1), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_text(c, "a"), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(c, 4), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(c, 1000), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(c, 6), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(c, 500), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(c, 2000), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_tag(c, 26982), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bstr(c, tick, 32), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(c, -65537), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(c, id), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(c, -65538), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_array(c, items), VMESH_OK);
    if (items > 0)
        assert_int_equal(vmesh_cbor_put_uint(c, prev_id), VMESH_OK);
    if (items > 1)
        assert_int_equal(vmesh_cbor_put_bstr(c, prev, tick_len), VMESH_OK);
    if (items > 2)
        assert_int_equal(vmesh_cbor_put_int(c, prev_iat), VMESH_OK);
    if (items > 3)
        assert_int_equal(vmesh_cbor_put_int(c, prev_exp), VMESH_OK);
    for (unsigned i = 4; i < items; i++)
        assert_int_equal(vmesh_cbor_put_uint(c, 0), VMESH_OK);
}

/* The previous tick a marker carries is checked strictly: id - 1, exactly
 * 32 bytes, [id, tick, iat, exp] and nothing else, validity within this
 * tick's. Each refusal names the problem. */
static void hostile_prev(void **state)
{
    vmesh_key *k = NULL;
    vmesh_bell b;
    vmesh_buf c = {0};

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    prev_cwt(&c, 5, 4, 32, 400, 900, 4); /* the sane one */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_OK);
    assert_true(b.has_prev);
    assert_int_equal(b.prev.id, 4);
    assert_int_equal(b.prev.issued_at, 400);
    assert_int_equal(b.prev.valid_until, 900);
    prev_cwt(&c, 5, 3, 32, 400, 900, 4); /* older than id - 1 */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "previous tick (claim -65538) is 3, but this is tick 5"));
    prev_cwt(&c, 5, 5, 32, 400, 900, 4); /* the tick itself */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    prev_cwt(&c, 1, 0, 32, 400, 900, 4); /* tick 1 has no previous */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    prev_cwt(&c, 5, 4, 31, 400, 900, 4);
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "previous epoch-tick (claim -65538) is 31 bytes"));
    prev_cwt(&c, 5, 4, 33, 400, 900, 4);
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    prev_cwt(&c, 5, 4, 32, 400, 400, 4); /* exp not after iat */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "exp is not after iat"));
    prev_cwt(&c, 5, 4, 32, 600, 900, 4); /* issued after this tick (iat 500) */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "issued after this tick"));
    prev_cwt(&c, 5, 4, 32, 400, 1001, 4); /* valid longer than this tick (exp 1000) */
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "valid longer than this tick"));
    prev_cwt(&c, 5, 4, 32, -1, 900, 4);
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    prev_cwt(&c, 5, 4, 32, 400, 900, 3);
    assert_int_equal(sign_claims(k, c.data, c.len, &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "3 items, needs 4"));
    prev_cwt(&c, 5, 4, 32, 400, 900, 5);
    assert_int_not_equal(sign_claims(k, c.data, c.len, &b), VMESH_OK);
    assert_non_null(strstr(vmesh_err_detail(), "previous tick (claim -65538)"));
    /* the signer refuses to sign such a tick, too */
    assert_int_equal(vmesh_rvp_bell_next("a", 4, 60, &b), VMESH_OK);
    b.has_prev = true;
    b.prev.id = 3;
    b.prev.issued_at = b.issued_at - 60;
    b.prev.valid_until = b.issued_at + 60;
    assert_int_equal(vmesh_rvp_bell_sign(&b, k, &c), VMESH_ERR_ARG);
    b.prev.id = 4;
    assert_int_equal(vmesh_rvp_bell_sign(&b, k, &c), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_read(c.data, c.len, k, &b), VMESH_OK);
    assert_true(b.has_prev);
    vmesh_buf_free(&c);
    vmesh_crypto_key_free(k);
}

static void ring_after(const vmesh_bell *last, const vmesh_key *k, vmesh_bell *b, vmesh_buf *m)
{
    assert_int_equal(vmesh_rvp_bell_after(last, 60, b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(b, k, m), VMESH_OK);
}

/* A relying party that loads the bell for the first time (fresh start,
 * restart, or a peer that fetched one tick earlier) accepts evidence bound
 * to the previous tick the marker carries, and nothing older; the carried
 * tick is covered by the signature. */
static void fresh_view_prev(void **state)
{
    vmesh_key *k = NULL, *other = NULL;
    vmesh_bell b1, b2, b3, b4, forged, prev;
    vmesh_buf m1 = {0}, m2 = {0}, m3 = {0}, m4 = {0}, mf = {0};
    vmesh_bell_view *v = NULL;
    int64_t now;
    size_t at = 0;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    ring("b", 0, k, &b1, &m1);
    assert_false(b1.has_prev);
    ring_after(&b1, k, &b2, &m2);
    ring_after(&b2, k, &b3, &m3);
    ring_after(&b3, k, &b4, &m4);
    assert_true(b3.has_prev);
    assert_int_equal(b3.prev.id, 2);
    assert_memory_equal(b3.prev.nonce, b2.nonce, 32);
    now = b1.issued_at;

    /* a fresh view that first sees tick 3 */
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, m3.data, m3.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 3, b3.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, now, NULL), VMESH_OK); /* the fix */
    assert_int_equal(vmesh_bell_view_previous(v, &prev), VMESH_OK);
    assert_int_equal(prev.id, 2);
    assert_string_equal(prev.name, "b");
    /* tick id - 2 is never fresh, even when still within its exp */
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "stale epoch"));
    /* the right id with a made-up epoch-tick */
    assert_int_equal(vmesh_bell_view_check(v, 2, b1.nonce, 32, now, NULL), VMESH_ERR_EXPIRED);
    /* the carried tick lapses at its own exp */
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, b2.valid_until - 1, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, b2.valid_until, NULL), VMESH_ERR_EXPIRED);
    /* rollback still refused */
    assert_int_equal(vmesh_bell_view_update(v, m2.data, m2.len, now), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "rollback"));
    vmesh_bell_view_free(v);

    /* a forged previous tick: bytes changed after signing */
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&mf, m3.data, m3.len), VMESH_OK);
    for (size_t i = 0; i + 32 <= mf.len && at == 0; i++)
        if (memcmp(mf.data + i, b2.nonce, 32) == 0)
            at = i;
    assert_true(at > 0);
    mf.data[at] ^= 1;
    assert_int_equal(vmesh_bell_view_update(v, mf.data, mf.len, now), VMESH_ERR_SIGNATURE);
    /* ... or signed by a key that is not the bell's */
    forged = b3;
    memcpy(forged.prev.nonce, b1.nonce, 32);
    assert_int_equal(vmesh_rvp_bell_sign(&forged, other, &mf), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, mf.data, mf.len, now), VMESH_ERR_SIGNATURE);
    assert_int_equal(vmesh_bell_view_current(v, &prev), VMESH_ERR_NOT_FOUND);
    vmesh_bell_view_free(v);

    /* a view that holds tick 2 keeps its own tick 2 when tick 3 says
     * otherwise (the bell's key signed both; what we saw stands) */
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, m2.data, m2.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_OK);
    forged = b3;
    memcpy(forged.prev.nonce, b4.nonce, 32);
    assert_int_equal(vmesh_rvp_bell_sign(&forged, k, &mf), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, mf.data, mf.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b4.nonce, 32, now, NULL), VMESH_ERR_EXPIRED);
    /* skipping a tick (2, then 4): tick 2 is now too old, even within its
     * exp; tick 3, carried by tick 4, is the previous one */
    vmesh_bell_view_free(v);
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, m2.data, m2.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, m4.data, m4.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 3, b3.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, now, NULL), VMESH_ERR_EXPIRED);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_EXPIRED);
    vmesh_bell_view_free(v);

    /* an old-style marker (no previous tick) after a jump: no previous */
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, m1.data, m1.len, now), VMESH_OK);
    forged = b3;
    forged.has_prev = false;
    assert_int_equal(vmesh_rvp_bell_sign(&forged, k, &mf), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, mf.data, mf.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_previous(v, &prev), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_EXPIRED);
    /* the same tick again, now with its previous: installed */
    assert_int_equal(vmesh_bell_view_update(v, m3.data, m3.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, now, NULL), VMESH_OK);
    vmesh_bell_view_free(v);

    vmesh_buf_free(&m1);
    vmesh_buf_free(&m2);
    vmesh_buf_free(&m3);
    vmesh_buf_free(&m4);
    vmesh_buf_free(&mf);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
}

/* Two RVPs, each ringing its own bell; one verifier follows both. A result
 * produced under (A tick 1, B tick 1) stays fresh while each bell is at
 * most one tick further, and is refused once A has moved on by two. */
static void two_bells(void **state)
{
    vmesh_key *ka = NULL, *kb = NULL, *kx = NULL;
    vmesh_bell a1, a2, a3, b1, x1;
    vmesh_buf ma1 = {0}, ma2 = {0}, ma3 = {0}, mb1 = {0}, mx1 = {0};
    vmesh_bell_view *v = NULL;
    vmesh_bell_marker got[4], res[3];
    int64_t now;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ka), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_ED25519, &kb), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &kx), VMESH_OK);
    ring("rvp-a", 0, ka, &a1, &ma1);
    ring("rvp-a", 1, ka, &a2, &ma2);
    ring("rvp-a", 2, ka, &a3, &ma3);
    ring("rvp-b", 0, kb, &b1, &mb1);
    ring("rvp-x", 0, kx, &x1, &mx1);
    now = a1.issued_at;
    assert_int_equal(vmesh_bell_view_new(ka, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_add(v, kb), VMESH_OK);
    assert_int_equal(vmesh_bell_view_add(v, ka), VMESH_ERR_ARG); /* the same bell twice */
    assert_int_equal(vmesh_bell_view_bells(v), 2);
    assert_int_equal(vmesh_bell_view_update(v, ma1.data, ma1.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, mb1.data, mb1.len, now), VMESH_OK);
    /* a bell we do not follow is refused */
    assert_int_equal(vmesh_bell_view_update(v, mx1.data, mx1.len, now), VMESH_ERR_SIGNATURE);
    assert_int_equal(vmesh_bell_view_generation(v), 2);
    /* what a result produced now carries: one marker per bell */
    assert_int_equal(vmesh_bell_view_markers(v, got, 4), 2);
    assert_string_equal(got[0].bell, "rvp-a");
    assert_string_equal(got[1].bell, "rvp-b");
    res[0] = got[0];
    res[1] = got[1];
    res[2] = marker_of(&x1); /* a bell we do not follow: ignored */
    assert_int_equal(vmesh_bell_view_check_markers(v, res, 3, now), VMESH_OK);
    /* evidence bound to either bell's tick is fresh */
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 1, a1.nonce, 32, now, NULL), VMESH_OK);
    /* A rings: its previous tick is still fresh */
    assert_int_equal(vmesh_bell_view_update(v, ma2.data, ma2.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check_markers(v, res, 2, now), VMESH_OK);
    /* A rings again: the result depends on a stale marker of A: refused */
    assert_int_equal(vmesh_bell_view_update(v, ma3.data, ma3.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check_markers(v, res, 2, now), VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "stale epoch marker: produced under bell rvp-a tick 1"));
    assert_non_null(strstr(vmesh_err_detail(), "at tick 3"));
    /* B alone is still fresh; only an unknown bell: cannot judge */
    assert_int_equal(vmesh_bell_view_check_markers(v, &res[1], 1, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check_markers(v, &res[2], 1, now), VMESH_ERR_NOT_FOUND);
    /* a forged epoch-tick for the current tick number */
    res[0] = marker_of(&a3);
    res[0].em[0] ^= 1;
    assert_int_equal(vmesh_bell_view_check_markers(v, res, 1, now), VMESH_ERR_MISMATCH);
    /* a marker past its exp is no longer fresh */
    res[0] = marker_of(&a3);
    assert_int_equal(vmesh_bell_view_check_markers(v, res, 1, a3.valid_until), VMESH_ERR_MISMATCH);
    vmesh_bell_view_free(v);
    vmesh_buf_free(&ma1);
    vmesh_buf_free(&ma2);
    vmesh_buf_free(&ma3);
    vmesh_buf_free(&mb1);
    vmesh_buf_free(&mx1);
    vmesh_crypto_key_free(ka);
    vmesh_crypto_key_free(kb);
    vmesh_crypto_key_free(kx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sign_verify),
        cmocka_unit_test(view),
        cmocka_unit_test(marker_is_a_cwt),
        cmocka_unit_test(hostile_markers),
        cmocka_unit_test(two_bells),
        cmocka_unit_test(hostile_prev),
        cmocka_unit_test(fresh_view_prev),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
