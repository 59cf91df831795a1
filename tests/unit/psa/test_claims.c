/* Unit tests for PSA token claims: Veraison vector, round trips for every
 * profile, legacy PSA_IOT_PROFILE_1, mandatory claims, sizes, truncation. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/psa.h"

static const char *vectors(void)
{
    const char *v = getenv("VMESH_VECTORS");
    return v && v[0] ? v : NULL;
}

static bool read_vector(const char *rel, vmesh_buf *out)
{
    char path[1024];

    if (vectors() == NULL)
        return false;
    snprintf(path, sizeof(path), "%s/%s", vectors(), rel);
    return vmesh_file_read(path, 0, out) == VMESH_OK;
}

/* A complete claims set for profile p (strings owned by c). */
static void sample_claims(vmesh_psa_claims *c, vmesh_psa_profile p)
{
    vmesh_psa_sw_component *sc;
    const char *types[] = {"BL", "PRoT", "ARoT"};

    vmesh_psa_claims_init(c);
    c->profile = p;
    c->profile_present = p == VMESH_PSA_PROFILE_1;
    c->client_id = 1;
    c->client_id_present = true;
    c->security_lifecycle = 0x3000;
    c->security_lifecycle_present = true;
    memset(c->implementation_id, 0xaa, 32);
    c->implementation_id_len = 32;
    c->instance_id[0] = 0x01;
    memset(c->instance_id + 1, 0xbb, 32);
    c->instance_id_len = 33;
    memset(c->boot_seed, 0xcc, 32);
    c->boot_seed_len = p == VMESH_PSA_PROFILE_1 ? 32 : 16;
    memset(c->nonce, 0x11, 32);
    c->nonce_len = 32;
    c->verification_service = strdup("https://veraison.example/v1/challenge-response");
    c->certification_reference =
        strdup(p == VMESH_PSA_PROFILE_1 ? "1234567890123" : "1234567890123-12345");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vmesh_psa_claims_add_sw(c, &sc), VMESH_OK);
        sc->measurement_type = strdup(types[i]);
        memset(sc->measurement_value, 0x20 + i, 32);
        sc->measurement_value_len = 32;
        memset(sc->signer_id, 0x30 + i, 32);
        sc->signer_id_len = 32;
        sc->version = strdup("1.0.0");
        if (i == 0)
            sc->measurement_desc = strdup("sha-256");
    }
}

static void assert_json_equal(const char *a, const char *b)
{
    json_error_t e;
    json_t *ja = json_loads(a, 0, &e), *jb = json_loads(b, 0, &e);

    assert_non_null(ja);
    assert_non_null(jb);
    if (!json_equal(ja, jb)) {
        fprintf(stderr, "JSON differs:\n%s\n%s\n", a, b);
        fail();
    }
    json_decref(ja);
    json_decref(jb);
}

/* ---- the Veraison vector --------------------------------------------------- */

static void veraison_vector_decodes(void **state)
{
    vmesh_buf tok = {0}, want = {0}, got = {0};
    vmesh_psa_claims c;
    vmesh_cose_sign1 *m = NULL;
    vmesh_key *iak = NULL;
    char path[1024];

    (void)state;
    if (!read_vector("psa/psa.good.cose", &tok) || !read_vector("psa/psa.good.claims.json", &want)) {
        vmesh_buf_free(&tok);
        skip();
    }
    vmesh_psa_claims_init(&c);
    assert_int_equal(vmesh_psa_token_decode(tok.data, tok.len, &m, &c), VMESH_OK);
    assert_int_equal(c.profile, VMESH_PSA_PROFILE_2);
    assert_int_equal(c.client_id, 1);
    assert_int_equal(c.security_lifecycle, 0x3000);
    assert_int_equal(c.sw_count, 3);
    assert_string_equal(c.sw[1].measurement_type, "PRoT");
    assert_string_equal(c.sw[2].version, "0.1.4");
    assert_int_equal(c.nonce_len, 32);
    assert_int_equal(c.instance_id_len, 33);
    assert_memory_equal(c.implementation_id, "acme-implementation-id-000000001", 32);
    assert_int_equal(vmesh_psa_claims_to_json(&c, true, &got), VMESH_OK);
    assert_json_equal((char *)got.data, (char *)want.data);

    /* the signature verifies with the vector's IAK, and not after a flip */
    snprintf(path, sizeof(path), "%s/psa/iak.ec.p256.jwk", vectors());
    assert_int_equal(vmesh_crypto_key_load(path, &iak), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, iak), VMESH_OK);
    vmesh_cose_sign1_free(m);
    m = NULL;
    {
        /* one flipped bit inside the boot seed keeps the CBOR well-formed */
        uint8_t *bs = memmem(tok.data, tok.len, "\xde\xad\xbe\xef", 4);
        assert_non_null(bs);
        bs[5] ^= 1;
        assert_int_equal(vmesh_psa_token_decode(tok.data, tok.len, &m, &c), VMESH_OK);
        assert_int_equal(vmesh_cose_sign1_verify(m, iak), VMESH_ERR_SIGNATURE);
    }
    vmesh_cose_sign1_free(m);
    vmesh_crypto_key_free(iak);
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&want);
    vmesh_buf_free(&got);
}

/* JSON of the vector -> claims -> CBOR -> claims gives the same JSON. */
static void veraison_json_round_trip(void **state)
{
    vmesh_buf want = {0}, cbor = {0}, got = {0};
    vmesh_psa_claims c, d;

    (void)state;
    if (!read_vector("psa/psa.good.claims.json", &want))
        skip();
    vmesh_psa_claims_init(&c);
    vmesh_psa_claims_init(&d);
    assert_int_equal(vmesh_psa_claims_from_json((char *)want.data, want.len, &c), VMESH_OK);
    assert_int_equal(c.profile, VMESH_PSA_PROFILE_2);
    assert_int_equal(vmesh_psa_claims_encode(&c, &cbor), VMESH_OK);
    assert_int_equal(vmesh_psa_claims_decode(cbor.data, cbor.len, &d), VMESH_OK);
    assert_int_equal(vmesh_psa_claims_to_json(&d, false, &got), VMESH_OK);
    assert_json_equal((char *)got.data, (char *)want.data);
    vmesh_psa_claims_free(&c);
    vmesh_psa_claims_free(&d);
    vmesh_buf_free(&want);
    vmesh_buf_free(&cbor);
    vmesh_buf_free(&got);
}

/* ---- round trips ------------------------------------------------------------ */

static void round_trip(vmesh_psa_profile p)
{
    vmesh_psa_claims c, d;
    vmesh_buf a = {0}, b = {0}, ja = {0}, jb = {0}, tok = {0};
    vmesh_key *k = NULL;
    vmesh_cose_sign1 *m = NULL;

    sample_claims(&c, p);
    vmesh_psa_claims_init(&d);
    assert_int_equal(vmesh_psa_claims_encode(&c, &a), VMESH_OK);
    assert_int_equal(vmesh_psa_claims_decode(a.data, a.len, &d), VMESH_OK);
    assert_int_equal(d.profile, p);
    assert_int_equal(vmesh_psa_claims_encode(&d, &b), VMESH_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(vmesh_psa_claims_to_json(&c, false, &ja), VMESH_OK);
    assert_int_equal(vmesh_psa_claims_to_json(&d, false, &jb), VMESH_OK);
    assert_string_equal((char *)ja.data, (char *)jb.data);
    assert_string_equal(d.sw[0].measurement_desc, "sha-256");
    assert_null(d.sw[1].measurement_desc);

    /* JSON round trip */
    vmesh_psa_claims_free(&d);
    assert_int_equal(vmesh_psa_claims_from_json((char *)ja.data, ja.len, &d), VMESH_OK);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_psa_claims_encode(&d, &b), VMESH_OK);
    assert_memory_equal(a.data, b.data, a.len);

    /* signed token round trip */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_psa_token_sign(&c, k, &tok), VMESH_OK);
    assert_int_equal(tok.data[0], 0xd2); /* tag 18 */
    vmesh_psa_claims_free(&d);
    assert_int_equal(vmesh_psa_token_decode(tok.data, tok.len, &m, &d), VMESH_OK);
    assert_int_equal(vmesh_cose_sign1_verify(m, k), VMESH_OK);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_psa_claims_encode(&d, &b), VMESH_OK);
    assert_memory_equal(a.data, b.data, a.len);

    vmesh_cose_sign1_free(m);
    vmesh_crypto_key_free(k);
    vmesh_psa_claims_free(&c);
    vmesh_psa_claims_free(&d);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    vmesh_buf_free(&ja);
    vmesh_buf_free(&jb);
    vmesh_buf_free(&tok);
}

static void round_trip_tfm(void **state)
{
    (void)state;
    round_trip(VMESH_PSA_PROFILE_TFM);
}

static void round_trip_p2(void **state)
{
    (void)state;
    round_trip(VMESH_PSA_PROFILE_2);
}

static void round_trip_p1(void **state)
{
    (void)state;
    round_trip(VMESH_PSA_PROFILE_1);
}

/* RFC 9783 puts the boot seed at EAT key 268, the 2.0.0 draft at 2397. */
static void boot_seed_key_per_profile(void **state)
{
    vmesh_psa_claims c;
    vmesh_buf a = {0};
    const uint8_t k268[] = {0x19, 0x01, 0x0c}, k2397[] = {0x19, 0x09, 0x5d};

    (void)state;
    sample_claims(&c, VMESH_PSA_PROFILE_TFM);
    assert_int_equal(vmesh_psa_claims_encode(&c, &a), VMESH_OK);
    assert_non_null(memmem(a.data, a.len, k268, 3));
    assert_null(memmem(a.data, a.len, k2397, 3));
    vmesh_psa_claims_free(&c);
    vmesh_buf_reset(&a);
    sample_claims(&c, VMESH_PSA_PROFILE_2);
    assert_int_equal(vmesh_psa_claims_encode(&c, &a), VMESH_OK);
    assert_non_null(memmem(a.data, a.len, k2397, 3));
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&a);
}

/* ---- hand-built claims maps --------------------------------------------------
 * Items are built with the CBOR writer (itself checked against RFC 8949
 * Appendix A in tests/unit/cbor), entry by entry, so a test can place any
 * value under any key, in any order, independently of the claims encoder. */

typedef vmesh_buf item; /* one encoded CBOR item */

static item *item_new(void)
{
    item *i = calloc(1, sizeof(*i));

    assert_non_null(i);
    return i;
}

static item *bytes_of(uint8_t v, size_t n)
{
    uint8_t b[64];
    item *i = item_new();

    memset(b, v, n);
    if (n > 0 && v == 0x01)
        memset(b + 1, 0x42, n - 1);
    assert_int_equal(vmesh_cbor_put_bstr(i, b, n), VMESH_OK);
    return i;
}

static item *text_of(const char *s)
{
    item *i = item_new();

    assert_int_equal(vmesh_cbor_put_text(i, s), VMESH_OK);
    return i;
}

static item *int_of(int64_t v)
{
    item *i = item_new();

    assert_int_equal(vmesh_cbor_put_int(i, v), VMESH_OK);
    return i;
}

static item *uint_of(uint64_t v)
{
    item *i = item_new();

    assert_int_equal(vmesh_cbor_put_uint(i, v), VMESH_OK);
    return i;
}

/* An array of the n items given (consumed). */
static item *array_of(size_t n, item *x)
{
    item *i = item_new();

    assert_int_equal(vmesh_cbor_put_array(i, n), VMESH_OK);
    if (x != NULL) {
        assert_int_equal(vmesh_buf_append(i, x->data, x->len), VMESH_OK);
        vmesh_buf_free(x);
        free(x);
    }
    return i;
}

/* A map under construction: its pairs and their number. */
typedef struct {
    vmesh_buf pairs;
    size_t n;
} map_builder;

static void add_raw(map_builder *m, int64_t k, const uint8_t *v, size_t n)
{
    assert_int_equal(vmesh_cbor_put_int(&m->pairs, k), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&m->pairs, v, n), VMESH_OK);
    m->n++;
}

static void add(map_builder *m, int64_t k, item *v)
{
    add_raw(m, k, v->data, v->len);
    vmesh_buf_free(v);
    free(v);
}

static void map_finish(map_builder *m, vmesh_buf *out)
{
    vmesh_buf_reset(out);
    assert_int_equal(vmesh_cbor_put_map(out, m->n), VMESH_OK);
    assert_int_equal(vmesh_buf_append(out, m->pairs.data, m->pairs.len), VMESH_OK);
    vmesh_buf_free(&m->pairs);
    m->n = 0;
}

static item *component(bool with_signer)
{
    map_builder m = {0};
    item *i = item_new();

    add(&m, 1, text_of("BL"));
    add(&m, 2, bytes_of(0x03, 32));
    if (with_signer)
        add(&m, 5, bytes_of(0x04, 32));
    add(&m, 4, text_of("3.4.5"));
    map_finish(&m, i);
    return i;
}

typedef struct {
    int64_t key;
    int kind; /* 0 default value; replaced by the test */
} claim_spec;

/* A legacy PSA_IOT_PROFILE_1 claims map without `skip` (0: none), with
 * `nosw` instead of components. */
static void build_p1(int64_t skip, bool nosw, bool both, vmesh_buf *out)
{
    map_builder m = {0};

    if (skip != -75000)
        add(&m, -75000, text_of("PSA_IOT_PROFILE_1"));
    if (skip != -75001)
        add(&m, -75001, int_of(-5)); /* NSPE caller */
    if (skip != -75002)
        add(&m, -75002, uint_of(0x3001));
    if (skip != -75003)
        add(&m, -75003, bytes_of(0xaa, 32));
    if (skip != -75004)
        add(&m, -75004, bytes_of(0xbb, 32));
    if (skip != -75005)
        add(&m, -75005, text_of("1234567890123"));
    if ((!nosw || both) && skip != -75006)
        add(&m, -75006, array_of(1, component(true)));
    if (nosw)
        add(&m, -75007, uint_of(1));
    if (skip != -75008)
        add(&m, -75008, bytes_of(0x11, 32));
    if (skip != -75009)
        add(&m, -75009, bytes_of(0x01, 33));
    if (skip != -75010)
        add(&m, -75010, text_of("https://example.org"));
    map_finish(&m, out);
}

static void legacy_p1_decodes(void **state)
{
    vmesh_buf b = {0}, j = {0};
    vmesh_psa_claims c;

    (void)state;
    vmesh_psa_claims_init(&c);
    build_p1(0, false, false, &b);
    assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
    assert_int_equal(c.profile, VMESH_PSA_PROFILE_1);
    assert_true(c.profile_present);
    assert_int_equal(c.client_id, -5);
    assert_int_equal(c.security_lifecycle, 0x3001);
    assert_int_equal(c.sw_count, 1);
    assert_string_equal(c.sw[0].version, "3.4.5");
    assert_string_equal(c.certification_reference, "1234567890123");
    assert_string_equal(c.verification_service, "https://example.org");
    assert_int_equal(vmesh_psa_claims_to_json(&c, false, &j), VMESH_OK);
    assert_non_null(strstr((char *)j.data, "\"psa-profile\":\"PSA_IOT_PROFILE_1\""));
    assert_non_null(strstr((char *)j.data, "\"psa-hwver\":\"1234567890123\""));

    /* the profile claim is optional in P1 */
    build_p1(-75000, false, false, &b);
    assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
    assert_int_equal(c.profile, VMESH_PSA_PROFILE_1);
    assert_false(c.profile_present);

    /* no-sw-measurements instead of components */
    build_p1(0, true, false, &b);
    assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
    assert_true(c.no_sw_measurements);
    assert_int_equal(c.sw_count, 0);
    vmesh_buf_reset(&j);
    assert_int_equal(vmesh_psa_claims_to_json(&c, false, &j), VMESH_OK);
    assert_non_null(strstr((char *)j.data, "\"psa-no-software-measurements\":1"));

    /* ... but never both */
    build_p1(0, true, true, &b);
    assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "both present"));

    /* neither */
    build_p1(-75006, false, false, &b);
    assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "software-components (key -75006)"));

    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&b);
    vmesh_buf_free(&j);
}

static void p1_mandatory_claims(void **state)
{
    static const struct {
        int64_t key;
        const char *msg;
    } cases[] = {
        {-75001, "client-id (key -75001) is missing"},
        {-75002, "security-lifecycle (key -75002) is missing"},
        {-75003, "implementation-id (key -75003) is missing"},
        {-75004, "boot-seed (key -75004) is missing"},
        {-75008, "nonce (key -75008) is missing"},
        {-75009, "instance-id (key -75009) is missing"},
    };
    vmesh_buf b = {0};
    vmesh_psa_claims c;

    (void)state;
    vmesh_psa_claims_init(&c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        build_p1(cases[i].key, false, false, &b);
        assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_ERR_PARSE);
        if (strstr(vmesh_err_detail(), cases[i].msg) == NULL) {
            fprintf(stderr, "case %zu: got \"%s\"\n", i, vmesh_err_detail());
            fail();
        }
    }
    vmesh_buf_free(&b);
}

/* Re-encodes the sample TFM/P2 claims entry by entry, dropping key `drop`
 * and replacing key `rep` with value `v` (consumed; appended when absent). */
static void mutate(vmesh_psa_profile p, int64_t drop, int64_t rep, item *v, vmesh_buf *out)
{
    vmesh_psa_claims c;
    vmesh_buf enc = {0};
    vmesh_cbor r;
    map_builder m = {0};
    uint64_t count = 0;

    sample_claims(&c, p);
    assert_int_equal(vmesh_psa_claims_encode(&c, &enc), VMESH_OK);
    vmesh_psa_claims_free(&c);
    vmesh_cbor_init(&r, enc.data, enc.len, "test", 0);
    assert_int_equal(vmesh_cbor_read_map(&r, &count, 64, "claims"), VMESH_OK);
    for (uint64_t i = 0; i < count; i++) {
        int64_t k = 0;
        vmesh_cbor val;

        assert_int_equal(vmesh_cbor_read_int(&r, &k, "key"), VMESH_OK);
        assert_int_equal(vmesh_cbor_read_item(&r, &val), VMESH_OK);
        if (k == drop)
            continue;
        if (k == rep) {
            add(&m, k, v);
            v = NULL;
            continue;
        }
        add_raw(&m, k, val.p, val.n);
    }
    if (v != NULL)
        add(&m, rep, v);
    map_finish(&m, out);
    vmesh_buf_free(&enc);
}

static void expect_error(vmesh_buf *b, vmesh_err want, const char *msg)
{
    vmesh_psa_claims c;

    vmesh_psa_claims_init(&c);
    assert_int_equal(vmesh_psa_claims_decode(b->data, b->len, &c), want);
    if (strstr(vmesh_err_detail(), msg) == NULL) {
        fprintf(stderr, "expected \"%s\" in \"%s\"\n", msg, vmesh_err_detail());
        fail();
    }
    assert_int_equal(c.sw_count, 0); /* left empty */
}

static void tfm_mandatory_claims(void **state)
{
    static const struct {
        int64_t key;
        const char *msg;
    } cases[] = {
        {10, "nonce (key 10) is missing"},
        {256, "instance-id (key 256) is missing"},
        {2394, "client-id (key 2394) is missing"},
        {2395, "security-lifecycle (key 2395) is missing"},
        {2396, "implementation-id (key 2396) is missing"},
        {2399, "software-components (key 2399) is missing"},
    };
    vmesh_buf b = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mutate(VMESH_PSA_PROFILE_TFM, cases[i].key, 0, NULL, &b);
        expect_error(&b, VMESH_ERR_PARSE, cases[i].msg);
    }
    /* optional claims may go */
    {
        const int64_t opt[] = {268, 2398, 2400};
        for (size_t i = 0; i < 3; i++) {
            vmesh_psa_claims c;
            vmesh_psa_claims_init(&c);
            mutate(VMESH_PSA_PROFILE_TFM, opt[i], 0, NULL, &b);
            assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
            vmesh_psa_claims_free(&c);
        }
    }
    /* without eat_profile the map is read as PSA_IOT_PROFILE_1, whose keys
     * it does not have */
    mutate(VMESH_PSA_PROFILE_TFM, 265, 0, NULL, &b);
    expect_error(&b, VMESH_ERR_PARSE, "(key -75008) is missing");
    vmesh_buf_free(&b);
}

static void wrong_sizes_and_values(void **state)
{
    vmesh_buf b = {0};

    (void)state;
    mutate(VMESH_PSA_PROFILE_TFM, 0, 10, bytes_of(0x11, 16), &b);
    expect_error(&b, VMESH_ERR_PARSE, "nonce (key 10) is 16 bytes, expected 32, 48 or 64");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 10, bytes_of(0x11, 48), &b);
    {
        vmesh_psa_claims c;
        vmesh_psa_claims_init(&c);
        assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
        assert_int_equal(c.nonce_len, 48);
        vmesh_psa_claims_free(&c);
    }
    mutate(VMESH_PSA_PROFILE_TFM, 0, 10, array_of(1, bytes_of(0x11, 32)), &b);
    expect_error(&b, VMESH_ERR_PARSE, "only a single nonce");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 256, bytes_of(0x01, 32), &b);
    expect_error(&b, VMESH_ERR_PARSE, "instance-id (key 256) is 32 bytes, expected 33");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 256, bytes_of(0x02, 33), &b);
    expect_error(&b, VMESH_ERR_PARSE, "starts with 0x02, expected 0x01");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2396, bytes_of(0xaa, 31), &b);
    expect_error(&b, VMESH_ERR_PARSE, "implementation-id (key 2396) is 31 bytes, expected 32");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2396, bytes_of(0xaa, 33), &b);
    expect_error(&b, VMESH_ERR_PARSE, "implementation-id (key 2396) is 33 bytes");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2395, uint_of(0x7000), &b);
    expect_error(&b, VMESH_ERR_PARSE, "security-lifecycle (key 2395) value 0x7000");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2395, uint_of(0x13000), &b);
    expect_error(&b, VMESH_ERR_PARSE, "not a 16-bit unsigned integer");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 268, bytes_of(0xcc, 4), &b);
    expect_error(&b, VMESH_ERR_PARSE, "boot-seed (key 268) is 4 bytes, expected 8 to 32");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2398, text_of("1234567890123"), &b);
    expect_error(&b, VMESH_ERR_PARSE, "certification-reference (key 2398)");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2394, uint_of(0), &b);
    expect_error(&b, VMESH_ERR_PARSE, "client-id (key 2394) is 0");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2394, uint_of(0x100000000ull), &b);
    expect_error(&b, VMESH_ERR_PARSE, "does not fit in 32 bits");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2394, text_of("1"), &b);
    expect_error(&b, VMESH_ERR_PARSE, "client-id (key 2394) is a text string, expected an integer");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 265, text_of("http://example.com/other"), &b);
    expect_error(&b, VMESH_ERR_UNSUPPORTED, "is not supported");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2399, array_of(0, NULL), &b);
    expect_error(&b, VMESH_ERR_PARSE, "missing or empty");
    mutate(VMESH_PSA_PROFILE_TFM, 0, 2399, array_of(1, component(false)), &b);
    expect_error(&b, VMESH_ERR_PARSE, "software component 0: signer-id (key 5) is missing");
    /* unknown claims are ignored (RFC 9783 §5.1.3) */
    mutate(VMESH_PSA_PROFILE_TFM, 0, 99999, text_of("whatever"), &b);
    {
        vmesh_psa_claims c;
        vmesh_psa_claims_init(&c);
        assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
        vmesh_psa_claims_free(&c);
    }
    /* a P1 key under the TFM profile is just an unknown claim */
    mutate(VMESH_PSA_PROFILE_TFM, 0, -75008, bytes_of(0x11, 3), &b);
    {
        vmesh_psa_claims c;
        vmesh_psa_claims_init(&c);
        assert_int_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
        vmesh_psa_claims_free(&c);
    }
    vmesh_buf_free(&b);
}

static void malformed_cbor(void **state)
{
    static const struct {
        const char *hex;
        const char *msg;
    } cases[] = {
        {"a0", "nonce (key -75008) is missing"},            /* empty map: P1, nothing there */
        {"80", "the claims-set is an array, expected a map"},
        {"bf0a4100ff", "indefinite-length"},
        {"a10a5f4100ff", "indefinite-length"},
        {"bb0000000100000000", "declares 4294967296 entries"},
        {"a20a41000a4100", "appears twice"},
        {"a0a0", "trailing bytes"},
        {"a10a5a00010000", "truncated"},
        {"a1d9ffff0a0a", "missing"},                       /* tagged key: unknown, skipped */
        {"a1" "0a" "8181818181818181818181818181818181818180", "deeper than"},
        {"a11901095801ff", "profile (key 265) is a byte string"},
        {"a10a5f", "indefinite"},
        {"a10a1c", "reserved"},
    };
    vmesh_buf b = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmesh_psa_claims c;

        vmesh_psa_claims_init(&c);
        vmesh_buf_reset(&b);
        assert_int_equal(vmesh_hex_decode(cases[i].hex, strlen(cases[i].hex), &b), VMESH_OK);
        assert_int_not_equal(vmesh_psa_claims_decode(b.data, b.len, &c), VMESH_OK);
        if (strstr(vmesh_err_detail(), cases[i].msg) == NULL) {
            fprintf(stderr, "case %zu: expected \"%s\" in \"%s\"\n", i, cases[i].msg, vmesh_err_detail());
            fail();
        }
    }
    vmesh_buf_free(&b);
}

/* Every prefix of a valid token and of a valid claims-set fails cleanly. */
static void truncated_everywhere(void **state)
{
    vmesh_psa_claims c, d;
    vmesh_buf cl = {0}, tok = {0};
    vmesh_key *k = NULL;

    (void)state;
    sample_claims(&c, VMESH_PSA_PROFILE_TFM);
    vmesh_psa_claims_init(&d);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_psa_claims_encode(&c, &cl), VMESH_OK);
    assert_int_equal(vmesh_psa_token_sign(&c, k, &tok), VMESH_OK);
    for (size_t n = 0; n < cl.len; n++)
        assert_int_not_equal(vmesh_psa_claims_decode(cl.data, n, &d), VMESH_OK);
    for (size_t n = 0; n < tok.len; n++) {
        vmesh_cose_sign1 *m = (vmesh_cose_sign1 *)&m; /* must be reset to NULL */
        assert_int_not_equal(vmesh_psa_token_decode(tok.data, n, &m, &d), VMESH_OK);
        assert_null(m);
        assert_true(vmesh_err_detail()[0] != '\0');
    }
    assert_int_equal(vmesh_psa_token_decode(tok.data, tok.len, NULL, &d), VMESH_OK);
    vmesh_crypto_key_free(k);
    vmesh_psa_claims_free(&c);
    vmesh_psa_claims_free(&d);
    vmesh_buf_free(&cl);
    vmesh_buf_free(&tok);
}

static void json_errors(void **state)
{
    static const struct {
        const char *json;
        const char *msg;
    } cases[] = {
        {"{\"psa-client-id\": 1,\n \"psa-nonce\": }", "line 2 column"},
        {"[]", "must be a JSON object"},
        {"{\"psa-nonse\": \"AA==\"}", "unknown claim \"psa-nonse\""},
        {"{\"psa-nonce\": \"!!\"}", "\"psa-nonce\" is not valid base64"},
        {"{\"psa-nonce\": \"AAAA\"}", "\"psa-nonce\" is 3 bytes, expected 32, 48 or 64"},
        {"{\"psa-client-id\": \"1\"}", "\"psa-client-id\" must be an integer"},
        {"{\"psa-client-id\": 4294967296}", "outside"},
        {"{\"psa-security-lifecycle\": 28672}", "no lifecycle state range"},
        {"{\"eat-profile\": \"x\"}", "not supported"},
        {"{\"psa-software-components\": [{\"measurement-valu\": \"AA==\"}]}", "unknown key \"measurement-valu\""},
        {"{\"psa-software-components\": {}}", "must be an array"},
        {"{\"psa-client-id\": 1, \"psa-client-id\": 2}", "duplicate"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmesh_psa_claims c;

        vmesh_psa_claims_init(&c);
        assert_int_not_equal(vmesh_psa_claims_from_json(cases[i].json, strlen(cases[i].json), &c), VMESH_OK);
        if (strstr(vmesh_err_detail(), cases[i].msg) == NULL) {
            fprintf(stderr, "case %zu: expected \"%s\" in \"%s\"\n", i, cases[i].msg, vmesh_err_detail());
            fail();
        }
        vmesh_psa_claims_free(&c);
    }
}

static void misc_helpers(void **state)
{
    vmesh_psa_profile p;
    vmesh_psa_claims c, d;
    vmesh_buf a = {0}, b = {0};
    vmesh_key *k = NULL;
    uint8_t iid[33];

    (void)state;
    assert_string_equal(vmesh_psa_lifecycle_name(0x3000), "secured");
    assert_string_equal(vmesh_psa_lifecycle_name(0x40ff), "non-psa-rot-debug");
    assert_string_equal(vmesh_psa_lifecycle_name(0x6000), "decommissioned");
    assert_null(vmesh_psa_lifecycle_name(0x3100));
    assert_null(vmesh_psa_lifecycle_name(0x7000));
    assert_int_equal(vmesh_psa_profile_parse("tag:psacertified.org,2019:psa#legacy", &p), VMESH_OK);
    assert_int_equal(p, VMESH_PSA_PROFILE_2);
    assert_int_equal(vmesh_psa_profile_parse("nope", &p), VMESH_ERR_UNSUPPORTED);
    assert_string_equal(vmesh_scheme_psa.name, "psa");
    assert_string_equal(vmesh_scheme_psa.media_types[0],
                        "application/eat+cwt; eat_profile=\"tag:psacertified.org,2023:psa#tfm\"");

    sample_claims(&c, VMESH_PSA_PROFILE_TFM);
    vmesh_psa_claims_init(&d);
    assert_int_equal(vmesh_psa_claims_copy(&d, &c), VMESH_OK);
    assert_int_equal(vmesh_psa_claims_encode(&c, &a), VMESH_OK);
    vmesh_psa_claims_free(&c);
    assert_int_equal(vmesh_psa_claims_encode(&d, &b), VMESH_OK);
    assert_memory_equal(a.data, b.data, a.len);

    /* text needing JSON escapes survives the JSON round trip */
    {
        vmesh_buf j = {0};
        vmesh_psa_claims e;
        json_error_t je;
        json_t *root;

        free(d.sw[0].measurement_type);
        d.sw[0].measurement_type = strdup("a\"b\\c\x01\xc3\xa9");
        assert_int_equal(vmesh_psa_claims_to_json(&d, false, &j), VMESH_OK);
        root = json_loads((char *)j.data, 0, &je);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(root, "psa-software-components"), 0),
                                "measurement-type")),
                            "a\"b\\c\x01\xc3\xa9");
        json_decref(root);
        vmesh_psa_claims_init(&e);
        assert_int_equal(vmesh_psa_claims_from_json((char *)j.data, j.len, &e), VMESH_OK);
        assert_string_equal(e.sw[0].measurement_type, d.sw[0].measurement_type);
        vmesh_psa_claims_free(&e);
        vmesh_buf_free(&j);
    }
    /* instance id: 0x01 || SHA-256(SPKI) */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_psa_instance_id_from_key(k, iid), VMESH_OK);
    assert_int_equal(iid[0], 0x01);
    vmesh_buf_reset(&a);
    assert_int_equal(vmesh_crypto_key_to_spki(k, &a), VMESH_OK);
    {
        uint8_t h[32];
        vmesh_crypto_sha256(a.data, a.len, h);
        assert_memory_equal(iid + 1, h, 32);
    }
    /* signing with a public key is refused */
    {
        vmesh_key *pub = NULL;
        vmesh_buf tok = {0};
        assert_int_equal(vmesh_crypto_key_from_spki(a.data, a.len, &pub), VMESH_OK);
        assert_int_equal(vmesh_psa_token_sign(&d, pub, &tok), VMESH_ERR_ARG);
        vmesh_crypto_key_free(pub);
        vmesh_buf_free(&tok);
    }
    /* detection */
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_psa_token_sign(&d, k, &b), VMESH_OK);
    assert_true(vmesh_scheme_psa.detect(b.data, b.len));
    assert_false(vmesh_scheme_psa.detect(b.data, b.len - 1));
    assert_false(vmesh_scheme_psa.detect((const uint8_t *)"{}", 2));
    vmesh_crypto_key_free(k);
    vmesh_psa_claims_free(&d);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(veraison_vector_decodes),
        cmocka_unit_test(veraison_json_round_trip),
        cmocka_unit_test(round_trip_tfm),
        cmocka_unit_test(round_trip_p2),
        cmocka_unit_test(round_trip_p1),
        cmocka_unit_test(boot_seed_key_per_profile),
        cmocka_unit_test(legacy_p1_decodes),
        cmocka_unit_test(p1_mandatory_claims),
        cmocka_unit_test(tfm_mandatory_claims),
        cmocka_unit_test(wrong_sizes_and_values),
        cmocka_unit_test(malformed_cbor),
        cmocka_unit_test(truncated_everywhere),
        cmocka_unit_test(json_errors),
        cmocka_unit_test(misc_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
