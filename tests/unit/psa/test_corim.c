/* Unit tests for the PSA profile of CoRIM (through the corim module): the
 * Veraison PSA CoRIM vectors (good and malformed), signed CoRIM round trips
 * with right and wrong keys, the signed/unsigned policy, truncation at every
 * length, and hand-built CoMIDs that must be refused with their position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/corim.h"
#include "vmesh/psa.h"

/* The profiles every load here maps. */
#define P vmesh_psa_corim_profiles

static const uint8_t impl_id[] = "acme-implementation-id-000000001";
#define IMPL_LEN 32

static bool read_vector(const char *rel, vmesh_buf *out)
{
    const char *dir = getenv("VMESH_VECTORS");
    char path[1024];

    if (dir == NULL)
        return false;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    return vmesh_file_read(path, 0, out) == VMESH_OK;
}

static void hex(const char *h, uint8_t *out, size_t n)
{
    vmesh_buf b = {0};
    assert_int_equal(vmesh_hex_decode(h, strlen(h), &b), VMESH_OK);
    assert_int_equal(b.len, n);
    memcpy(out, b.data, n);
    vmesh_buf_free(&b);
}

static vmesh_key *gen_public(vmesh_key **priv_out)
{
    vmesh_key *priv = NULL, *pub = NULL;
    vmesh_buf spki = {0};

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &priv), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(priv, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    vmesh_buf_free(&spki);
    if (priv_out != NULL)
        *priv_out = priv;
    else
        vmesh_crypto_key_free(priv);
    return pub;
}

static void psa_vector_loads(void **state)
{
    vmesh_buf cbor = {0}, jwk = {0};
    vmesh_rv_store *s = NULL;
    const vmesh_rv_measurement *ms[8];
    vmesh_key *keys[4], *iak = NULL;
    vmesh_corim_info info;
    static const char *names[] = {"BL", "PRoT", "ARoT"};
    static const char *digests[] = {
        "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7",
        "0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f",
        "a3a5e715f0cc574a73c3f9bebb6bc24f32ffd5b67b387244c2c909da779a1478"};
    uint8_t d[32], signer[32], ueid1[33], ueid2[33];

    (void)state;
    if (!read_vector("corim/corim-psa-valid.cbor", &cbor) ||
        !read_vector("psa/iak.ec.p256.jwk", &jwk)) {
        print_message("VMESH_VECTORS not set or vectors absent: skipping\n");
        skip();
    }
    hex("5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3", signer, 32);
    hex("01ceebae7b8927a3227e5303cf5e0f1f7b34bb542ad7250ac03fbcde36ec2f1508", ueid1, 33);
    hex("014ca3e4f50bf248c39787020d68ffd05c88767751bf2645ca923f57a98becd296", ueid2, 33);
    assert_true(vmesh_corim_is_corim(cbor.data, cbor.len));
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_corim_load(s, cbor.data, cbor.len, NULL, 0, P, "corim-psa-valid.cbor", &info),
                     VMESH_OK);
    assert_string_equal(info.id, "00000000-0000-0000-065a-0000000000001");
    assert_string_equal(info.profile, "tag:arm.com,2025:psa#1.0.0");
    assert_false(info.was_signed);
    assert_int_equal(info.comids, 2);
    assert_int_equal(info.measurements, 3);
    assert_int_equal(info.keys, 2);
    vmesh_rv_store_freeze(s);
    assert_int_equal(vmesh_rv_store_size(s), 5);
    assert_int_equal(vmesh_rv_find_measurements(s, "psa", impl_id, IMPL_LEN, ms, 8), 3);
    for (int i = 0; i < 3; i++) {
        hex(digests[i], d, 32);
        assert_string_equal(ms[i]->name, names[i]);
        assert_int_equal(ms[i]->digest_alg, VMESH_HASH_SHA256);
        assert_int_equal(ms[i]->digest_len, 32);
        assert_memory_equal(ms[i]->digest, d, 32);
        assert_int_equal(ms[i]->signer_id_len, 32);
        assert_memory_equal(ms[i]->signer_id, signer, 32);
        assert_null(ms[i]->version);
    }
    assert_int_equal(vmesh_rv_find_keys(s, "psa", impl_id, IMPL_LEN, ueid1, 33, keys, 4), 1);
    assert_int_equal(vmesh_crypto_key_from_jwk((const char *)jwk.data, jwk.len, &iak), VMESH_OK);
    assert_true(vmesh_crypto_key_equal(keys[0], iak));
    assert_int_equal(vmesh_rv_find_keys(s, "psa", impl_id, IMPL_LEN, ueid2, 33, keys, 4), 1);
    assert_false(vmesh_crypto_key_equal(keys[0], iak));
    assert_int_equal(vmesh_rv_find_keys(s, "psa", impl_id, IMPL_LEN, NULL, 0, keys, 4), 0);
    vmesh_crypto_key_free(iak);
    vmesh_buf_free(&cbor);
    vmesh_buf_free(&jwk);
    vmesh_rv_store_free(s);
}

static void psa_bad_mval_refused(void **state)
{
    vmesh_buf cbor = {0};
    vmesh_rv_store *s = NULL;

    (void)state;
    if (!read_vector("corim/corim-psa-bad-refval-mval.cbor", &cbor))
        skip();
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_corim_load(s, cbor.data, cbor.len, NULL, 0, P, "bad.cbor", NULL),
                     VMESH_ERR_PARSE);
    assert_string_equal(vmesh_err_detail(),
                        "CoRIM bad.cbor: CoMID 0, reference triple 0, measurement 0: measurement "
                        "value has no digests (it has an svn; PSA reference values are digests of "
                        "software components)");
    assert_int_equal(vmesh_rv_store_size(s), 0);
    vmesh_buf_free(&cbor);
    vmesh_rv_store_free(s);
}

/* A store with PSA reference values and one key, built in the test. */
static vmesh_rv_store *sample_store(vmesh_key *pub)
{
    vmesh_rv_store *s = NULL;
    vmesh_rv_env env = {"psa", impl_id, IMPL_LEN, NULL, 0};
    uint8_t d1[32], d2[48], sig[32], ueid[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    vmesh_rv_measurement m1 = {"BL", "1.2.3", sig, 32, VMESH_HASH_SHA256, d1, 32};
    vmesh_rv_measurement m2 = {"PRoT", NULL, NULL, 0, VMESH_HASH_SHA384, d2, 48};

    memset(d1, 0x11, sizeof(d1));
    memset(d2, 0x22, sizeof(d2));
    memset(sig, 0x33, sizeof(sig));
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m1), VMESH_OK);
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m2), VMESH_OK);
    d1[0] = 0x99;
    assert_int_equal(vmesh_rv_add_measurement(s, &env, &m1), VMESH_OK); /* alternative */
    env.instance_id = ueid;
    env.instance_id_len = sizeof(ueid);
    assert_int_equal(vmesh_rv_add_key(s, &env, pub), VMESH_OK);
    return s;
}

static void to_json(const vmesh_rv_store *s, vmesh_buf *out)
{
    vmesh_buf_reset(out);
    assert_int_equal(vmesh_rv_store_to_json(s, out), VMESH_OK);
}

static void signed_round_trip(void **state)
{
    vmesh_key *priv = NULL, *pub = gen_public(&priv), *other_priv = NULL;
    vmesh_key *other = gen_public(&other_priv);
    vmesh_rv_store *s = sample_store(pub), *t = NULL;
    vmesh_buf unsigned_c = {0}, signed_c = {0}, j1 = {0}, j2 = {0}, payload = {0};
    vmesh_corim_info info;

    (void)state;
    assert_int_equal(vmesh_psa_corim_encode(s, "corim-test-1", &unsigned_c), VMESH_OK);
    assert_int_equal(vmesh_corim_sign(unsigned_c.data, unsigned_c.len, priv, "ACME RVP", &signed_c),
                     VMESH_OK);
    assert_true(vmesh_corim_is_corim(signed_c.data, signed_c.len));
    assert_int_equal(signed_c.data[0], 0xd2);

    /* right key */
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_int_equal(vmesh_corim_load(t, signed_c.data, signed_c.len, pub, 0, P, "signed", &info), VMESH_OK);
    assert_true(info.was_signed);
    assert_true(info.verified);
    assert_string_equal(info.id, "corim-test-1");
    assert_int_equal(info.measurements, 3);
    assert_int_equal(info.keys, 1);
    to_json(s, &j1);
    to_json(t, &j2);
    assert_string_equal((char *)j1.data, (char *)j2.data);
    vmesh_rv_store_free(t);
    t = NULL;

    /* verify_signed gives back the unsigned CoRIM */
    assert_int_equal(vmesh_corim_verify_signed(signed_c.data, signed_c.len, pub, &payload), VMESH_OK);
    assert_int_equal(payload.len, unsigned_c.len);
    assert_memory_equal(payload.data, unsigned_c.data, payload.len);
    assert_int_equal(vmesh_corim_verify_signed(signed_c.data, signed_c.len, other, &payload),
                     VMESH_ERR_SIGNATURE);

    /* wrong key */
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_int_equal(vmesh_corim_load(t, signed_c.data, signed_c.len, other, 0, P, "signed", NULL),
                     VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "CoRIM signed: signature envelope"));
    assert_int_equal(vmesh_rv_store_size(t), 0);
    /* a flipped payload byte */
    signed_c.data[signed_c.len / 2] ^= 1;
    assert_int_not_equal(vmesh_corim_load(t, signed_c.data, signed_c.len, pub, 0, P, "signed", NULL),
                         VMESH_OK);
    signed_c.data[signed_c.len / 2] ^= 1;
    /* no key: refused unless explicitly allowed */
    assert_int_equal(vmesh_corim_load(t, signed_c.data, signed_c.len, NULL, 0, P, "signed", NULL),
                     VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "no key was given"));
    assert_int_equal(vmesh_rv_store_size(t), 0);
    assert_int_equal(vmesh_corim_load(t, signed_c.data, signed_c.len, NULL,
                                      VMESH_CORIM_ALLOW_UNVERIFIED, P, "signed", &info),
                     VMESH_OK);
    assert_true(info.was_signed);
    assert_false(info.verified);
    assert_int_equal(vmesh_rv_store_size(t), 4);
    vmesh_rv_store_free(t);
    t = NULL;

    /* unsigned CoRIM where a signer key is expected */
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_int_equal(vmesh_corim_load(t, unsigned_c.data, unsigned_c.len, pub, 0, P, "u", NULL),
                     VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "unsigned, but a signer key was given"));
    assert_int_equal(vmesh_corim_load(t, unsigned_c.data, unsigned_c.len, pub,
                                      VMESH_CORIM_ALLOW_UNSIGNED, P, "u", NULL),
                     VMESH_OK);
    to_json(t, &j2);
    assert_string_equal((char *)j1.data, (char *)j2.data);

    vmesh_buf_free(&unsigned_c);
    vmesh_buf_free(&signed_c);
    vmesh_buf_free(&j1);
    vmesh_buf_free(&j2);
    vmesh_buf_free(&payload);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
    vmesh_crypto_key_free(priv);
    vmesh_crypto_key_free(pub);
    vmesh_crypto_key_free(other);
    vmesh_crypto_key_free(other_priv);
}

static void truncations_refused(void **state)
{
    vmesh_key *priv = NULL, *pub = gen_public(&priv);
    vmesh_rv_store *s = sample_store(pub), *t = NULL;
    vmesh_buf inputs[3] = {{0}, {0}, {0}};

    (void)state;
    assert_int_equal(vmesh_psa_corim_encode(s, "trunc", &inputs[0]), VMESH_OK);
    assert_int_equal(vmesh_corim_sign(inputs[0].data, inputs[0].len, priv, "rvp", &inputs[1]), VMESH_OK);
    if (!read_vector("corim/corim-psa-valid.cbor", &inputs[2]))
        print_message("vectors absent: truncating only our own CoRIMs\n");
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    for (int k = 0; k < 3; k++) {
        for (size_t len = 0; len < inputs[k].len; len++) {
            uint8_t *copy = malloc(len > 0 ? len : 1); /* exact size: ASan sees overreads */
            assert_non_null(copy);
            memcpy(copy, inputs[k].data, len);
            if (vmesh_corim_load(t, copy, len, k == 1 ? pub : NULL, 0, P, "trunc", NULL) == VMESH_OK)
                fail_msg("input %d truncated to %zu of %zu bytes was accepted", k, len, inputs[k].len);
            assert_true(strlen(vmesh_err_detail()) > 0);
            free(copy);
        }
        if (inputs[k].len > 0)
            assert_int_equal(vmesh_corim_load(t, inputs[k].data, inputs[k].len, k == 1 ? pub : NULL,
                                              0, P, "whole", NULL),
                             VMESH_OK);
    }
    for (int k = 0; k < 3; k++)
        vmesh_buf_free(&inputs[k]);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
    vmesh_crypto_key_free(priv);
    vmesh_crypto_key_free(pub);
}

static void vector_reencodes(void **state)
{
    vmesh_buf cbor = {0}, again = {0}, j1 = {0}, j2 = {0};
    vmesh_rv_store *s = NULL, *t = NULL;

    (void)state;
    if (!read_vector("corim/corim-psa-valid.cbor", &cbor))
        skip();
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&t), VMESH_OK);
    assert_int_equal(vmesh_corim_load(s, cbor.data, cbor.len, NULL, 0, P, "v", NULL), VMESH_OK);
    assert_int_equal(vmesh_psa_corim_encode(s, "again", &again), VMESH_OK);
    assert_int_equal(vmesh_corim_load(t, again.data, again.len, NULL, 0, P, "again", NULL), VMESH_OK);
    to_json(s, &j1);
    to_json(t, &j2);
    assert_string_equal((char *)j1.data, (char *)j2.data);
    vmesh_buf_free(&cbor);
    vmesh_buf_free(&again);
    vmesh_buf_free(&j1);
    vmesh_buf_free(&j2);
    vmesh_rv_store_free(s);
    vmesh_rv_store_free(t);
}

/* ---- hand-built CoRIMs ------------------------------------------------------ */

#define H(mt, v) assert_int_equal(vmesh_cbor_put_head(b, mt, v), VMESH_OK)
#define TXT(s) assert_int_equal(vmesh_cbor_put_text(b, s), VMESH_OK)
#define BYT(p, n) assert_int_equal(vmesh_cbor_put_bstr(b, p, n), VMESH_OK)

enum variant {
    V_GOOD,
    V_SVN_AND_DIGEST,
    V_REFVAL_INSTANCE,
    V_CERT_KEY,
    V_KEY_NO_INSTANCE,
    V_CLASS_UUID,
    V_SHORT_DIGEST,
    V_ENDORSED_TRIPLE,
    V_MKEY_UINT,
    V_EXPIRED,
    V_NO_PROFILE,
    V_OTHER_PROFILE,
    V_OLD_PROFILE,
    V_COUNT
};

static void class_env(vmesh_buf *b, enum variant v, bool instance)
{
    H(5, instance ? 2 : 1);
    H(0, 0);
    H(5, 1);
    H(0, 0);
    if (v == V_CLASS_UUID) {
        H(6, 37);
        BYT("0123456789abcdef", 16);
    } else {
        H(6, 560);
        BYT(impl_id, IMPL_LEN);
    }
    if (instance) {
        H(0, 1);
        H(6, 550);
        BYT("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    }
}

static void build_comid(vmesh_buf *b, enum variant v, const char *pem)
{
    uint8_t d[32];

    memset(d, 0x44, sizeof(d));
    H(5, 2);
    H(0, 1); /* tag-identity */
    H(5, 1);
    H(0, 0);
    TXT("comid-1");
    H(0, 4); /* triples */
    H(5, v == V_ENDORSED_TRIPLE ? 3 : 2);
    H(0, 0); /* reference-triples */
    H(4, 1);
    H(4, 2);
    class_env(b, v, v == V_REFVAL_INSTANCE);
    H(4, 1);
    H(5, 2);
    H(0, 0);
    if (v == V_MKEY_UINT) {
        H(0, 7);
    } else if (v == V_OLD_PROFILE) {
        /* psa.refval-id = 601({ 1: label, 4: version, 5: signer-id }) */
        H(6, 601);
        H(5, 3);
        H(0, 1);
        TXT("BL");
        H(0, 4);
        TXT("3.4");
        H(0, 5);
        BYT(d, 32);
    } else
        TXT("psa.software-component");
    H(0, 1);
    H(5, v == V_SVN_AND_DIGEST ? 3 : (v == V_OLD_PROFILE ? 1 : 2));
    if (v == V_SVN_AND_DIGEST) {
        H(0, 1);
        H(6, 552);
        H(0, 3);
    }
    H(0, 2);
    H(4, 1);
    H(4, 2);
    H(0, 1);
    BYT(d, v == V_SHORT_DIGEST ? 31 : 32);
    if (v != V_OLD_PROFILE) {
        H(0, 11);
        TXT("BL");
    }
    if (v == V_ENDORSED_TRIPLE) {
        H(0, 1);
        H(4, 0);
    }
    H(0, 3); /* attest-key-triples */
    H(4, 1);
    H(4, 2);
    class_env(b, v, v != V_KEY_NO_INSTANCE);
    H(4, 1);
    H(6, v == V_CERT_KEY ? 555 : 554);
    TXT(pem);
}

static void build_corim(vmesh_buf *out, enum variant v, const char *pem)
{
    vmesh_buf comid = {0}, *b = out;

    build_comid(&comid, v, pem);
    H(6, 501);
    H(5, v == V_NO_PROFILE ? 2 : (v == V_EXPIRED ? 4 : 3));
    H(0, 0);
    TXT("hand-built");
    H(0, 1);
    H(4, 1);
    H(6, 506);
    BYT(comid.data, comid.len);
    if (v != V_NO_PROFILE) {
        H(0, 3);
        H(6, 32);
        TXT(v == V_OTHER_PROFILE  ? "http://example.com/other"
            : v == V_OLD_PROFILE ? VMESH_PSA_CORIM_PROFILE_IOT1
                                 : VMESH_PSA_CORIM_PROFILE);
    }
    if (v == V_EXPIRED) {
        H(0, 4);
        H(5, 1);
        H(0, 1);
        H(6, 1);
        H(0, 1600000000);
    }
    vmesh_buf_free(&comid);
}

static void hand_built_refusals(void **state)
{
    static const struct {
        vmesh_err code;
        const char *msg;
    } want[V_COUNT] = {
        [V_GOOD] = {VMESH_OK, ""},
        [V_SVN_AND_DIGEST] = {VMESH_ERR_UNSUPPORTED,
                              "CoMID 0, reference triple 0, measurement 0: measurement value key 1 (svn) is not supported"},
        [V_REFVAL_INSTANCE] = {VMESH_ERR_PARSE,
                               "CoMID 0, reference triple 0, environment: instance set for a reference value"},
        [V_CERT_KEY] = {VMESH_ERR_UNSUPPORTED,
                        "CoMID 0, attest-key triple 0, key 0: the attestation key must be a PKIX base64 key (tag 554), found pkix-base64-cert (tag 555)"},
        [V_KEY_NO_INSTANCE] = {VMESH_ERR_PARSE,
                               "CoMID 0, attest-key triple 0, environment: instance not set for an attestation key"},
        [V_CLASS_UUID] = {VMESH_ERR_PARSE, "class-id must be a PSA implementation id (tagged-bytes, tag 560), found a UUID (tag 37)"},
        [V_SHORT_DIGEST] = {VMESH_ERR_PARSE, "measurement 0: digest 0: sha-256 digest is 31 bytes, expected 32"},
        [V_ENDORSED_TRIPLE] = {VMESH_ERR_UNSUPPORTED, "CoMID 0: triples: key 1 (endorsed-triples) is not supported"},
        [V_MKEY_UINT] = {VMESH_ERR_PARSE, "measurement key must be \"psa.software-component\" or a psa.refval-id (tag 601), found an unsigned integer"},
        [V_EXPIRED] = {VMESH_ERR_EXPIRED, "rim-validity: not-after (1600000000) has passed"},
        [V_NO_PROFILE] = {VMESH_ERR_UNSUPPORTED, "CoRIM has no profile"},
        [V_OTHER_PROFILE] = {VMESH_ERR_UNSUPPORTED, "profile \"http://example.com/other\" is not supported"},
        [V_OLD_PROFILE] = {VMESH_OK, ""},
    };
    vmesh_key *pub = gen_public(NULL);
    vmesh_buf pem = {0};
    vmesh_rv_store *s = NULL;

    (void)state;
    assert_int_equal(vmesh_crypto_key_to_pem(pub, false, &pem), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    for (int v = 0; v < V_COUNT; v++) {
        vmesh_buf c = {0};
        vmesh_err rc;
        build_corim(&c, (enum variant)v, (const char *)pem.data);
        rc = vmesh_corim_load(s, c.data, c.len, NULL, 0, P, "hand", NULL);
        if (rc != want[v].code || strstr(vmesh_err_detail(), want[v].msg) == NULL)
            fail_msg("variant %d: got %d \"%s\", want %d \"%s\"", v, rc, vmesh_err_detail(),
                     want[v].code, want[v].msg);
        if (v == V_GOOD) {
            assert_int_equal(vmesh_rv_store_size(s), 2);
            /* trailing bytes after a good CoRIM */
            assert_int_equal(vmesh_buf_append_u8(&c, 0), VMESH_OK);
            assert_int_equal(vmesh_corim_load(s, c.data, c.len, NULL, 0, P, "hand", NULL), VMESH_ERR_PARSE);
            assert_non_null(strstr(vmesh_err_detail(), "trailing"));
        } else if (v == V_OLD_PROFILE) {
            const vmesh_rv_measurement *ms[4];
            assert_int_equal(vmesh_rv_store_size(s), 4);
            assert_int_equal(vmesh_rv_find_measurements(s, "psa", impl_id, IMPL_LEN, ms, 4), 2);
            assert_string_equal(ms[1]->name, "BL");
            assert_string_equal(ms[1]->version, "3.4");
            assert_int_equal(ms[1]->signer_id_len, 32);
            assert_int_equal(ms[1]->signer_id[0], 0x44);
            assert_null(ms[0]->version);
        } else {
            assert_int_equal(vmesh_rv_store_size(s), 2); /* nothing added */
        }
        vmesh_buf_free(&c);
    }
    vmesh_buf_free(&pem);
    vmesh_crypto_key_free(pub);
    vmesh_rv_store_free(s);
}

static void hostile_cbor(void **state)
{
    vmesh_rv_store *s = NULL;
    vmesh_buf b = {0};
    static const uint8_t huge_array[] = {0xd9, 0x01, 0xf5, 0x9b, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff};
    static const uint8_t huge_bstr[] = {0xd9, 0x01, 0xf5, 0x5b, 0x7f, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff};

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&b, "\xd9\x01\xf5", 3), VMESH_OK);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(vmesh_buf_append_u8(&b, 0x81), VMESH_OK);
    assert_int_equal(vmesh_buf_append_u8(&b, 0x00), VMESH_OK);
    assert_int_equal(vmesh_corim_load(s, b.data, b.len, NULL, 0, P, "deep", NULL), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "nested deeper than 24"));
    assert_int_equal(vmesh_corim_load(s, huge_array, sizeof(huge_array), NULL, 0, P, "a", NULL), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "declares"));
    assert_int_equal(vmesh_corim_load(s, huge_bstr, sizeof(huge_bstr), NULL, 0, P, "b", NULL), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_corim_load(s, (const uint8_t *)"{}", 2, NULL, 0, P, "json", NULL), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not a CoRIM"));
    assert_false(vmesh_corim_is_corim((const uint8_t *)"\xd9\x01", 2));
    assert_int_equal(vmesh_rv_store_size(s), 0);
    vmesh_rv_store_freeze(s);
    assert_int_equal(vmesh_corim_load(s, huge_array, sizeof(huge_array), NULL, 0, P, "a", NULL), VMESH_ERR_STATE);
    vmesh_buf_free(&b);
    vmesh_rv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(psa_vector_loads),
        cmocka_unit_test(psa_bad_mval_refused),
        cmocka_unit_test(signed_round_trip),
        cmocka_unit_test(truncations_refused),
        cmocka_unit_test(vector_reencodes),
        cmocka_unit_test(hand_built_refusals),
        cmocka_unit_test(hostile_cbor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
