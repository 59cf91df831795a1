/* Unit tests of the attested channel's wire: frames, the attestation
 * message, attestation-failed, the 0xff4d extension, binder, ak_nonce and
 * the session proof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/atls.h"
#include "vmesh/crypto.h"

static void fill_msg(vmesh_atls_msg *m, bool fresh)
{
    static const char mt[] = "application/eat+cwt";
    uint8_t spki[91], nonce[32], proof[64], cmw[10];

    memset(spki, 0x30, sizeof(spki));
    memset(nonce, 0xab, sizeof(nonce));
    memset(proof, 0x55, sizeof(proof));
    memset(cmw, 0xc0, sizeof(cmw));
    vmesh_atls_msg_init(m);
    m->role = VMESH_ATLS_CLIENT;
    assert_int_equal(vmesh_buf_set(&m->media_type, mt, strlen(mt)), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&m->cmw, cmw, sizeof(cmw)), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&m->ak_spki, spki, sizeof(spki)), VMESH_OK);
    m->fresh = fresh;
    if (!fresh) {
        m->epoch_id = 1000;
        assert_int_equal(vmesh_buf_set(&m->epoch_nonce, nonce, sizeof(nonce)), VMESH_OK);
    }
    assert_int_equal(vmesh_buf_set(&m->proof, proof, sizeof(proof)), VMESH_OK);
}

static void msg_round_trip(void **state)
{
    vmesh_atls_msg a, b;
    vmesh_buf enc = {0}, enc2 = {0};

    (void)state;
    for (int fresh = 0; fresh < 2; fresh++) {
        fill_msg(&a, fresh);
        vmesh_atls_msg_init(&b);
        assert_int_equal(vmesh_atls_msg_encode(&a, &enc), VMESH_OK);
        /* {1: 2, 2: 1, 3: [tstr ...]}: map(6), key 1, 2, key 2, 1, key 3, an RFC 9999 record */
        assert_int_equal(enc.data[0], 0xa6);
        assert_memory_equal(enc.data + 1, "\x01\x02\x02\x01\x03\x82\x73", 7);
        assert_int_equal(vmesh_atls_msg_decode(enc.data, enc.len, &b), VMESH_OK);
        assert_int_equal(b.role, VMESH_ATLS_CLIENT);
        assert_string_equal((char *)b.media_type.data, "application/eat+cwt");
        assert_int_equal(b.fresh, fresh);
        assert_int_equal(b.epoch_id, fresh ? 0 : 1000);
        assert_int_equal(b.epoch_nonce.len, fresh ? 0 : 32);
        assert_int_equal(b.ak_spki.len, 91);
        assert_int_equal(b.proof.len, 64);
        assert_int_equal(vmesh_atls_msg_encode(&b, &enc2), VMESH_OK);
        assert_int_equal(enc.len, enc2.len);
        assert_memory_equal(enc.data, enc2.data, enc.len);
        vmesh_buf_reset(&enc);
        vmesh_buf_reset(&enc2);
        vmesh_atls_msg_free(&a);
        vmesh_atls_msg_free(&b);
    }
    vmesh_buf_free(&enc);
    vmesh_buf_free(&enc2);
}

/* Composite evidence travels as an RFC 9999 collection: sent as given,
 * received with media type application/cmw+cbor and its bytes intact. */
static void msg_collection(void **state)
{
    vmesh_atls_msg a, b;
    vmesh_buf enc = {0}, enc2 = {0}, coll = {0};

    (void)state;
    fill_msg(&a, false);
    /* {44234: ["a/b", h'01'], 44241: ["a/b", h'02']} */
    assert_int_equal(vmesh_hex_decode("a219acca8263612f62410119acd18263612f624102", 42, &coll), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&a.cmw, coll.data, coll.len), VMESH_OK);
    a.collection = true;
    assert_int_equal(vmesh_atls_msg_encode(&a, &enc), VMESH_OK);
    vmesh_atls_msg_init(&b);
    assert_int_equal(vmesh_atls_msg_decode(enc.data, enc.len, &b), VMESH_OK);
    assert_true(b.collection);
    assert_string_equal((char *)b.media_type.data, "application/cmw+cbor");
    assert_int_equal(b.cmw.len, coll.len);
    assert_memory_equal(b.cmw.data, coll.data, coll.len);
    assert_int_equal(vmesh_atls_msg_encode(&b, &enc2), VMESH_OK);
    assert_int_equal(enc.len, enc2.len);
    assert_memory_equal(enc.data, enc2.data, enc.len);
    /* a record handed over as a collection is refused at encode */
    vmesh_buf_reset(&enc);
    assert_int_equal(vmesh_buf_set(&a.cmw, "\x82\x63\x61\x2f\x62\x40", 6), VMESH_OK);
    assert_int_equal(vmesh_atls_msg_encode(&a, &enc), VMESH_ERR_ARG);
    vmesh_atls_msg_free(&a);
    vmesh_atls_msg_free(&b);
    vmesh_buf_free(&enc);
    vmesh_buf_free(&enc2);
    vmesh_buf_free(&coll);
}

/* Decodes hex and expects rc with a detail containing `want`. */
static void expect_msg(const char *hex, vmesh_err rc, const char *want)
{
    vmesh_buf b = {0};
    vmesh_atls_msg m;

    vmesh_atls_msg_init(&m);
    assert_int_equal(vmesh_hex_decode(hex, strlen(hex), &b), VMESH_OK);
    vmesh_err got = vmesh_atls_msg_decode(b.data, b.len, &m);
    if (got != rc)
        fail_msg("%s: code %d, want %d (%s)", hex, got, rc, vmesh_err_detail());
    if (want && strstr(vmesh_err_detail(), want) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", vmesh_err_detail(), want);
    vmesh_atls_msg_free(&m);
    vmesh_buf_free(&b);
}

/* A valid message with a 1-byte cmw, 1-byte AK, 8-byte epoch nonce, 1-byte proof. */
#define HEAD "a6" "0102" "0201" "038263612f62" "4101" "044130"
#define FRESH_EPOCH "05a2" "0118" "64" "0248" "0102030405060708"
#define PROOF "064155"

static void msg_strict(void **state)
{
    (void)state;
    expect_msg(HEAD FRESH_EPOCH PROOF, VMESH_OK, NULL);
    expect_msg(HEAD "05a103f5" PROOF, VMESH_OK, NULL);
    expect_msg(HEAD FRESH_EPOCH PROOF "00", VMESH_ERR_PARSE, "1 trailing bytes after the CBOR map");
    expect_msg(HEAD FRESH_EPOCH, VMESH_ERR_PARSE, "truncated");
    /* duplicate key (6 entries, key 4 twice, no 6) */
    expect_msg(HEAD FRESH_EPOCH "044130", VMESH_ERR_PARSE, "duplicate key 4");
    expect_msg("a7" "0102" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH PROOF "0700",
               VMESH_ERR_PARSE, "expected exactly 6");
    expect_msg("a6" "0102" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH "0700", VMESH_ERR_PARSE,
               "unknown key 7");
    expect_msg("a6" "0101" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_UNSUPPORTED, "version 1 (before RFC 9999 CMW) is no longer accepted");
    /* version 3 (key-bound): key 6 empty, never fresh; a version-2 decoder
     * reads key 1 first and names the version ("version 3, only 2") */
    expect_msg("a6" "0103" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH "0640", VMESH_OK, NULL);
    expect_msg("a6" "0103" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_PARSE, "version 3 (key-bound) must carry an empty session proof");
    expect_msg("a6" "0103" "0201" "038263612f62" "4101" "044130" "05a103f5" "0640",
               VMESH_ERR_PARSE, "never key-bound");
    expect_msg("a5" "0103" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH,
               VMESH_ERR_PARSE, "expected exactly 6");
    expect_msg("a6" "0104" "0201" "038263612f62" "4101" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_UNSUPPORTED, "version 4, only 2 and 3 (key-bound)");
    expect_msg("a6" "0102" "0202" "038263612f62" "4101" "044130" FRESH_EPOCH PROOF, VMESH_ERR_PARSE,
               "role 2");
    /* key 3 is an RFC 9999 CMW: every malformed form is refused */
    expect_msg("a6" "0102" "0201" "03824161" "4101" "044130" FRESH_EPOCH PROOF, VMESH_ERR_PARSE,
               "type is a byte string, expected a media type");
    expect_msg("a6" "0102" "0201" "038363612f62" "4101" "00" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_PARSE, "indicator is 0");
    expect_msg("a6" "0102" "0201" "038463612f62" "4101" "04" "04" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_PARSE, "not a record");
    expect_msg("a6" "0102" "0201" "03826000" "4101" "044130" FRESH_EPOCH PROOF, VMESH_ERR_PARSE,
               "not a media type");
    expect_msg("a6" "0102" "0201" "03826100" "4101" "044130" FRESH_EPOCH PROOF, VMESH_ERR_PARSE,
               "NUL");
    /* a Content-Format type: atls needs a media type */
    expect_msg("a6" "0102" "0201" "0382190107" "4101" "044130" FRESH_EPOCH PROOF, VMESH_ERR_UNSUPPORTED,
               "Content-Format 263");
    /* an indicator that says reference values */
    expect_msg("a6" "0102" "0201" "038363612f62" "4101" "01" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_PARSE, "neither evidence nor attestation result");
    /* indicator evidence is fine */
    expect_msg("a6" "0102" "0201" "038363612f62" "4101" "04" "044130" FRESH_EPOCH PROOF, VMESH_OK, NULL);
    /* collections: empty, nested, a tag, a tunnel */
    expect_msg("a6" "0102" "0201" "03a0" "044130" FRESH_EPOCH PROOF, VMESH_ERR_PARSE, "collection is empty");
    expect_msg("a6" "0102" "0201" "03a16161a1616282" "63612f62" "40" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_UNSUPPORTED, "nested collection");
    expect_msg("a6" "0102" "0201" "03d9039082" "63612f62" "40" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_UNSUPPORTED, "CBOR-tag CMW");
    expect_msg("a6" "0102" "0201" "03a2" "01" "8263612f6240" "01" "8263612f6240" "044130" FRESH_EPOCH PROOF,
               VMESH_ERR_PARSE, "label 1 appears twice");
    expect_msg("bf" "0101", VMESH_ERR_PARSE, "indefinite-length");
    expect_msg(HEAD "05a103f4" PROOF, VMESH_ERR_PARSE, "{3: false}");
    expect_msg(HEAD "05a10301" PROOF, VMESH_ERR_PARSE, "fresh is an unsigned integer, expected a boolean");
    expect_msg(HEAD "05a103f6" PROOF, VMESH_ERR_PARSE, "not a boolean"); /* null */
    expect_msg(HEAD "05a10118" PROOF, VMESH_ERR_PARSE, "unknown key 1"); /* {1:..} alone */
    expect_msg(HEAD "05a2" "0118" "64" "0247" "01020304050607" PROOF, VMESH_ERR_PARSE,
               "expected 8..64");
    expect_msg(HEAD "05a2" "0118" "64" "0258" "41" PROOF, VMESH_ERR_TOO_LARGE, "65 bytes");
    expect_msg(HEAD "05a2" "0118" "64" "03f5" PROOF, VMESH_ERR_PARSE, "unknown key 3");
    expect_msg(HEAD FRESH_EPOCH "0640", VMESH_ERR_PARSE, "empty in a version 2 message");
    expect_msg("a6" "0102" "0201" "038263612f62" "4101" "04" "5a7fffffff" "30", VMESH_ERR_TOO_LARGE,
               "2147483647 bytes, the cap is 1024");
    expect_msg("a6" "0102" "0201" "038263612f62" "4101" "04" "5903ff" "30", VMESH_ERR_PARSE,
               "AK (key 4) is truncated");
    expect_msg("c0" "a0", VMESH_ERR_PARSE, "tag");
    expect_msg("", VMESH_ERR_PARSE, "truncated CBOR");
}

static void failed_payload(void **state)
{
    vmesh_buf b = {0};
    uint32_t reason;
    char msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];
    char big[400];

    (void)state;
    assert_int_equal(vmesh_atls_failed_encode(VMESH_ATLS_R_STALE_EPOCH, "epoch 7\nis old", &b),
                     VMESH_OK);
    assert_int_equal(vmesh_atls_failed_decode(b.data, b.len, &reason, msg), VMESH_OK);
    assert_int_equal(reason, VMESH_ATLS_R_STALE_EPOCH);
    assert_string_equal(msg, "epoch 7?is old"); /* control characters neutralised */
    vmesh_buf_reset(&b);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(vmesh_atls_failed_encode(99, big, &b), VMESH_OK); /* truncated to 256 */
    assert_int_equal(vmesh_atls_failed_decode(b.data, b.len, &reason, msg), VMESH_OK);
    assert_int_equal(strlen(msg), VMESH_ATLS_FAIL_MESSAGE_MAX);
    assert_int_equal(reason, 99);
    assert_string_equal(vmesh_atls_reason_name(reason), "unknown");
    assert_string_equal(vmesh_atls_reason_name(VMESH_ATLS_R_BINDER_MISMATCH), "binder-mismatch");
    assert_string_equal(vmesh_atls_reason_name(VMESH_ATLS_R_UNATTESTED_REFUSED),
                        "unattested-refused");
    /* Every defined code has a name. */
    for (uint32_t i = 0; i < VMESH_ATLS_R__COUNT; i++)
        assert_string_not_equal(vmesh_atls_reason_name(i), "unknown");
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_hex_decode("a2010102790101", 14, &b), VMESH_OK);
    assert_int_equal(vmesh_atls_failed_decode(b.data, b.len, &reason, msg), VMESH_ERR_TOO_LARGE);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_hex_decode("a201010101", 10, &b), VMESH_OK);
    assert_int_equal(vmesh_atls_failed_decode(b.data, b.len, &reason, msg), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "duplicate key 1"));
    vmesh_buf_free(&b);
}

static void frames(void **state)
{
    vmesh_atls_frame_parser fp;
    vmesh_buf stream = {0};
    static const uint8_t payload[] = "hello";
    size_t used, off = 0;
    int frames_seen = 0;

    (void)state;
    assert_int_equal(vmesh_atls_frame_encode(1, payload, 5, &stream), VMESH_OK);
    assert_int_equal(vmesh_atls_frame_encode(3, NULL, 0, &stream), VMESH_OK);
    assert_int_equal(stream.len, 4 + 5 + 4);
    assert_memory_equal(stream.data, "\x01\x00\x00\x05hello\x03\x00\x00\x00", 13);
    assert_int_equal(vmesh_atls_frame_encode(7, NULL, 0, &stream), VMESH_ERR_ARG);
    /* Byte by byte: need-more until complete, never past a frame. */
    assert_int_equal(vmesh_atls_frame_parser_init(&fp, 16), VMESH_OK);
    while (off < stream.len) {
        vmesh_err e = vmesh_atls_frame_parser_feed(&fp, stream.data + off, 1, &used);

        assert_int_equal(used, 1);
        off++;
        if (e == VMESH_ERR_WANT_READ)
            continue;
        assert_int_equal(e, VMESH_OK);
        if (frames_seen == 0) {
            assert_int_equal(fp.type, 1);
            assert_int_equal(fp.payload.len, 5);
            assert_memory_equal(fp.payload.data, "hello", 5);
            assert_int_equal(off, 9);
        } else {
            assert_int_equal(fp.type, 3);
            assert_int_equal(fp.payload.len, 0);
        }
        assert_int_equal(vmesh_atls_frame_parser_feed(&fp, payload, 1, &used), VMESH_ERR_STATE);
        frames_seen++;
        vmesh_atls_frame_parser_reset(&fp);
    }
    assert_int_equal(frames_seen, 2);
    /* Whole stream at once: stops at the first frame's end. */
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, stream.data, stream.len, &used), VMESH_OK);
    assert_int_equal(used, 9);
    vmesh_atls_frame_parser_reset(&fp);
    /* Caps are judged on the header alone. */
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x01\x00\x00\x11", 4, &used),
                     VMESH_ERR_TOO_LARGE);
    assert_non_null(strstr(vmesh_err_detail(), "above the cap of 16"));
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x02\x00\x04\x01", 4, &used),
                     VMESH_ERR_TOO_LARGE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x03\x00\x00\x01", 4, &used),
                     VMESH_ERR_PARSE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x01\x00\x00\x00", 4, &used),
                     VMESH_ERR_PARSE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x00\x00\x00\x00", 4, &used),
                     VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "unknown frame type 0"));
    vmesh_atls_frame_parser_free(&fp);
    assert_int_equal(vmesh_atls_frame_parser_init(&fp, VMESH_ATLS_FRAME_MAX_LIMIT + 1),
                     VMESH_ERR_ARG);
    assert_int_equal(vmesh_atls_frame_parser_init(&fp, VMESH_ATLS_FRAME_MAX_LIMIT), VMESH_OK);
    vmesh_atls_frame_parser_free(&fp);
    vmesh_buf_free(&stream);
}

static void extension(void **state)
{
    vmesh_atls_ext e, d;
    vmesh_buf b = {0};
    char *mts[2] = {"application/eat+cwt", "application/eat+jwt"};

    (void)state;
    memset(&e, 0, sizeof(e));
    e.modes[0] = 2;
    e.modes[1] = 0;
    e.n_modes = 2;
    e.media_types[0] = mts[0];
    e.media_types[1] = mts[1];
    e.n_media_types = 2;
    e.will_attest = true;
    assert_int_equal(vmesh_atls_ext_encode(&e, &b), VMESH_OK);
    assert_memory_equal(b.data, "\xa3\x01\x82\x02\x00\x02\x82\x73", 8);
    assert_int_equal(b.data[b.len - 1], 0xf5);
    assert_int_equal(vmesh_atls_ext_decode(b.data, b.len, &d), VMESH_OK);
    assert_int_equal(d.n_modes, 2);
    assert_int_equal(d.modes[0], 2);
    assert_int_equal(d.modes[1], 0);
    assert_int_equal(d.n_media_types, 2);
    assert_string_equal(d.media_types[1], "application/eat+jwt");
    assert_true(d.will_attest);
    vmesh_atls_ext_free(&d);

    struct {
        const char *hex;
        const char *want;
    } bad[] = {
        {"a3018100028003f5", NULL}, /* valid: [0], [], true */
        {"a3018103028003f5", "unknown mode 3"},
        {"a3018200000280" "03f5", "mode 0 repeated"},
        {"a301840001020002800" "3f5", "more than 3 modes"},
        {"a30180028003f5" "00", "after the CBOR map"},
        {"a2018002800" "3f5", "expected {1: modes"},
        {"a3018002800180", "duplicate key 1"},
        {"a301800280040" "0", "reattest (key 4) is an unsigned integer"}, /* 4 replaces 3 */
        {"a401800280" "03f5" "04f5", NULL},               /* reattest offered */
        {"a401800280" "03f5" "0500", "unknown key 5"},
        {"a401800280" "03f5" "03f5", "duplicate key 3"},
        {"a301800280" "04f5", "will-attest (key 3) is missing"},
        {"a30180028160" "03f5", "expected 1..256"},
        {"a301800280" "0301", "will-attest (key 3) is an unsigned integer"},
        {"a301800280" "03f7", "not a boolean"},
        {"a3019f00ff028003f5", "indefinite"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmesh_buf_reset(&b);
        assert_int_equal(vmesh_hex_decode(bad[i].hex, strlen(bad[i].hex), &b), VMESH_OK);
        if (bad[i].want == NULL) {
            assert_int_equal(vmesh_atls_ext_decode(b.data, b.len, &d), VMESH_OK);
            vmesh_atls_ext_free(&d);
            continue;
        }
        assert_int_not_equal(vmesh_atls_ext_decode(b.data, b.len, &d), VMESH_OK);
        if (strstr(vmesh_err_detail(), bad[i].want) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, vmesh_err_detail(), bad[i].want);
        assert_int_equal(d.n_media_types, 0);
    }
    vmesh_buf_free(&b);
}

static void binder_and_nonce(void **state)
{
    uint8_t exporter[32], spki[70], out[32], want[32], h[32], buf[200];
    vmesh_atls_msg m;
    size_t off = 0;

    (void)state;
    memset(exporter, 0x11, sizeof(exporter));
    memset(spki, 0x22, sizeof(spki));
    vmesh_atls_binder_compute(VMESH_ATLS_CLIENT, exporter, spki, sizeof(spki), out);
    /* Independent computation with OpenSSL. */
    SHA256(spki, sizeof(spki), h);
    memcpy(buf, "vmesh attestation v1", 20);
    off = 20;
    buf[off++] = 1;
    memcpy(buf + off, exporter, 32);
    off += 32;
    memcpy(buf + off, h, 32);
    off += 32;
    SHA256(buf, off, want);
    assert_memory_equal(out, want, 32);
    vmesh_atls_binder_compute(VMESH_ATLS_SERVER, exporter, spki, sizeof(spki), h);
    assert_memory_not_equal(out, h, 32);

    /* ak_nonce, epoch-fresh: SHA-256("vmesh ak v1" || SPKI || epoch nonce). */
    fill_msg(&m, false);
    assert_int_equal(vmesh_atls_ak_nonce(m.ak_spki.data, m.ak_spki.len, m.epoch_nonce.data, m.epoch_nonce.len, out),
                     VMESH_OK);
    memcpy(buf, "vmesh ak v1", 11);
    memcpy(buf + 11, m.ak_spki.data, m.ak_spki.len);
    memcpy(buf + 11 + m.ak_spki.len, m.epoch_nonce.data, 32);
    SHA256(buf, 11 + m.ak_spki.len + 32, want);
    assert_memory_equal(out, want, 32);
    /* The epoch id is not part of it. */
    m.epoch_id = 7;
    assert_int_equal(vmesh_atls_ak_nonce(m.ak_spki.data, m.ak_spki.len, m.epoch_nonce.data, m.epoch_nonce.len, h),
                     VMESH_OK);
    assert_memory_equal(h, want, 32);
    vmesh_atls_msg_free(&m);
    /* fresh: the binder instead; no AK or no value is refused. */
    fill_msg(&m, true);
    assert_int_equal(vmesh_atls_ak_nonce(m.ak_spki.data, m.ak_spki.len, NULL, 0, out), VMESH_ERR_ARG);
    assert_int_equal(vmesh_atls_ak_nonce(m.ak_spki.data, 0, exporter, 32, out), VMESH_ERR_ARG);
    assert_int_equal(vmesh_atls_ak_nonce(m.ak_spki.data, m.ak_spki.len, exporter, 32, out), VMESH_OK);
    memcpy(buf + 11 + m.ak_spki.len, exporter, 32);
    SHA256(buf, 11 + m.ak_spki.len + 32, want);
    assert_memory_equal(out, want, 32);
    vmesh_atls_msg_free(&m);
}

/* Key-bound: the version 3 message round trip and the 0xff4e payload. */
static void keybound_wire(void **state)
{
    vmesh_atls_msg a, b;
    vmesh_buf enc = {0};
    uint8_t f;

    (void)state;
    fill_msg(&a, false);
    a.keybound = true;
    assert_int_equal(vmesh_atls_msg_encode(&a, &enc), VMESH_ERR_ARG); /* a proof in a key-bound message */
    vmesh_buf_reset(&a.proof);
    vmesh_buf_reset(&enc);
    assert_int_equal(vmesh_atls_msg_encode(&a, &enc), VMESH_OK);
    assert_memory_equal(enc.data, "\xa6\x01\x03", 3);
    assert_memory_equal(enc.data + enc.len - 2, "\x06\x40", 2); /* key 6: empty */
    vmesh_atls_msg_init(&b);
    assert_int_equal(vmesh_atls_msg_decode(enc.data, enc.len, &b), VMESH_OK);
    assert_true(b.keybound);
    assert_int_equal(b.proof.len, 0);
    a.fresh = true;
    vmesh_buf_reset(&enc);
    assert_int_equal(vmesh_atls_msg_encode(&a, &enc), VMESH_ERR_ARG);
    vmesh_atls_msg_free(&a);
    vmesh_atls_msg_free(&b);
    vmesh_buf_free(&enc);
    for (unsigned v = 1; v <= 3; v++) {
        uint8_t x = (uint8_t)v;
        assert_int_equal(vmesh_atls_kb_ext_decode(&x, 1, &f), VMESH_OK);
        assert_int_equal(f, v);
    }
    f = 0;
    assert_int_equal(vmesh_atls_kb_ext_decode(&f, 1, &f), VMESH_ERR_PARSE);
    f = 4;
    assert_int_equal(vmesh_atls_kb_ext_decode(&f, 1, &f), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_atls_kb_ext_decode((const uint8_t *)"\x01\x01", 2, &f), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "expected exactly 1"));
    assert_int_equal(vmesh_atls_kb_ext_decode((const uint8_t *)"", 0, &f), VMESH_ERR_PARSE);
}

/* RFC 9149 ticket_request: two bytes in a ClientHello, one in
 * EncryptedExtensions, nothing else. */
static void ticket_request(void **state)
{
    uint8_t t[2];

    (void)state;
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"\x01\x00", 2, true, t), VMESH_OK);
    assert_int_equal(t[0], 1);
    assert_int_equal(t[1], 0);
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"\xff\x07", 2, true, t), VMESH_OK);
    assert_int_equal(t[0], 255);
    assert_int_equal(t[1], 7);
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"\x02", 1, false, t), VMESH_OK);
    assert_int_equal(t[0], 2);
    assert_int_equal(t[1], 0);
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"\x01", 1, true, t), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "expected exactly 2"));
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"\x01\x00\x00", 3, true, t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"\x01\x00", 2, false, t), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "EncryptedExtensions"));
    assert_int_equal(vmesh_atls_ticket_request_decode((const uint8_t *)"", 0, false, t), VMESH_ERR_PARSE);
}

static void proof(void **state)
{
    vmesh_key *ak = NULL, *other = NULL, *ed = NULL;
    vmesh_atls_msg m;
    vmesh_buf sig = {0};
    uint8_t binder[32];

    (void)state;
    memset(binder, 0x42, sizeof(binder));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_ED25519, &ed), VMESH_OK);
    vmesh_atls_msg_init(&m);
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &m.ak_spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_sign(ak, binder, 32, &sig), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&m.proof, sig.data, sig.len), VMESH_OK);
    assert_int_equal(vmesh_atls_proof_verify(&m, binder), VMESH_OK);
    binder[0] ^= 1;
    assert_int_equal(vmesh_atls_proof_verify(&m, binder), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "does not verify over this session's binder"));
    binder[0] ^= 1;
    /* Another AK's SPKI: the proof fails. */
    vmesh_buf_reset(&m.ak_spki);
    assert_int_equal(vmesh_crypto_key_to_spki(other, &m.ak_spki), VMESH_OK);
    assert_int_equal(vmesh_atls_proof_verify(&m, binder), VMESH_ERR_SIGNATURE);
    /* A non-P-256 AK is refused. */
    vmesh_buf_reset(&m.ak_spki);
    assert_int_equal(vmesh_crypto_key_to_spki(ed, &m.ak_spki), VMESH_OK);
    assert_int_equal(vmesh_atls_proof_verify(&m, binder), VMESH_ERR_UNSUPPORTED);
    /* Garbage SPKI. */
    assert_int_equal(vmesh_buf_set(&m.ak_spki, "\x30\x03\x01\x01\x00", 5), VMESH_OK);
    assert_int_equal(vmesh_atls_proof_verify(&m, binder), VMESH_ERR_PARSE);
    vmesh_atls_msg_free(&m);
    vmesh_buf_free(&sig);
    vmesh_crypto_key_free(ak);
    vmesh_crypto_key_free(other);
    vmesh_crypto_key_free(ed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msg_round_trip), cmocka_unit_test(msg_strict), cmocka_unit_test(msg_collection),
        cmocka_unit_test(failed_payload), cmocka_unit_test(frames),
        cmocka_unit_test(extension),      cmocka_unit_test(binder_and_nonce),
        cmocka_unit_test(ticket_request),
        cmocka_unit_test(proof),          cmocka_unit_test(keybound_wire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
