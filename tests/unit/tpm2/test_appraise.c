/*
 * Unit tests of the tpm2 scheme without a TPM: quotes are built and signed
 * here with a software P-256 key standing in for the AK (the bytes are laid
 * out exactly as a TPM marshals them), then parsed and appraised. They pin
 * the parser's refusals (magic, type, lengths, trailing bytes, CBOR shape)
 * and every branch of the trust-vector mapping of docs/TPM2.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmesh/crypto.h"
#include "vmesh/tpm2.h"

#define CLASS "test-class"

typedef struct {
    vmesh_key *ak, *other, *ak_pub;
    vmesh_buf spki;
    vmesh_tpm2_pcr pcrs[8];
    vmesh_tpm2_quote q;
    uint8_t nonce[32];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->other), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(f->ak, &f->spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(f->spki.data, f->spki.len, &f->ak_pub), VMESH_OK);
    for (int i = 0; i < 8; i++) {
        f->pcrs[i].alg = VMESH_TPM2_ALG_SHA256;
        f->pcrs[i].index = (uint8_t)i;
        memset(f->pcrs[i].digest, 0x10 + i, 32);
        f->pcrs[i].digest_len = 32;
    }
    memset(f->nonce, 0xab, sizeof(f->nonce));
    f->q.magic = VMESH_TPM2_GENERATED_VALUE;
    f->q.type = VMESH_TPM2_ST_ATTEST_QUOTE;
    f->q.signer_name_len = 34;
    memset(f->q.signer_name, 0x0b, 34);
    memcpy(f->q.extra_data, f->nonce, 32);
    f->q.extra_data_len = 32;
    f->q.clock = 1234;
    f->q.reset_count = 2;
    f->q.restart_count = 1;
    f->q.safe = 1;
    f->q.firmware_version = 0x2019102300163636ull;
    f->q.nsel = 1;
    f->q.sel[0].hash = VMESH_TPM2_ALG_SHA256;
    f->q.sel[0].size = 3;
    f->q.sel[0].select[0] = 0xff;
    assert_int_equal(vmesh_tpm2_pcr_digest(f->q.sel, 1, f->pcrs, 8, f->q.pcr_digest), VMESH_OK);
    f->q.pcr_digest_len = 32;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vmesh_crypto_key_free(f->ak);
    vmesh_crypto_key_free(f->other);
    vmesh_crypto_key_free(f->ak_pub);
    vmesh_buf_free(&f->spki);
    free(f);
    return 0;
}

/* Evidence for quote q signed by key, reporting pcrs. */
static void make_evidence(fixture *f, const vmesh_tpm2_quote *q, const vmesh_key *key, const vmesh_tpm2_pcr *pcrs,
                          size_t npcrs, vmesh_buf *out)
{
    vmesh_buf att = {0}, rs = {0}, sigb = {0};
    vmesh_tpm2_signature sig;
    vmesh_tpm2_evidence ev;

    assert_int_equal(vmesh_tpm2_quote_marshal(q, &att), VMESH_OK);
    assert_int_equal(vmesh_crypto_sign(key, att.data, att.len, &rs), VMESH_OK);
    assert_int_equal(rs.len, 64);
    memset(&sig, 0, sizeof(sig));
    sig.sig_alg = VMESH_TPM2_ALG_ECDSA;
    sig.hash_alg = VMESH_TPM2_ALG_SHA256;
    memcpy(sig.r, rs.data, 32);
    sig.r_len = 32;
    memcpy(sig.s, rs.data + 32, 32);
    sig.s_len = 32;
    assert_int_equal(vmesh_tpm2_signature_marshal(&sig, &sigb), VMESH_OK);
    memset(&ev, 0, sizeof(ev));
    ev.attest = att.data;
    ev.attest_len = att.len;
    ev.signature = sigb.data;
    ev.signature_len = sigb.len;
    ev.pcrs = (vmesh_tpm2_pcr *)pcrs;
    ev.npcrs = npcrs;
    ev.ak_spki = f->spki.data;
    ev.ak_spki_len = f->spki.len;
    ev.class_id = (const uint8_t *)CLASS;
    ev.class_id_len = strlen(CLASS);
    vmesh_buf_reset(out);
    assert_int_equal(vmesh_tpm2_evidence_encode(&ev, out), VMESH_OK);
    vmesh_buf_free(&att);
    vmesh_buf_free(&rs);
    vmesh_buf_free(&sigb);
}

/* RV store: the 8 PCRs of f (pcr7 also with an alternative), the AK
 * endorsed for its instance id, extra attributes as given. */
static vmesh_rv_store *make_rv(fixture *f, bool endorse, const char *attr, const char *attr_value)
{
    vmesh_rv_store *s = NULL;
    vmesh_rv_env env = {"tpm2", (const uint8_t *)CLASS, strlen(CLASS), NULL, 0};
    uint8_t iid[32], alt[32];

    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    for (int i = 0; i < 8; i++) {
        char name[8];
        vmesh_rv_measurement m = {0};

        snprintf(name, sizeof(name), "pcr%d", i);
        m.name = name;
        m.digest_alg = VMESH_HASH_SHA256;
        m.digest = f->pcrs[i].digest;
        m.digest_len = 32;
        assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_OK);
        if (i == 7) {
            memset(alt, 0xee, sizeof(alt));
            m.digest = alt;
            assert_int_equal(vmesh_rv_add_measurement(s, &env, &m), VMESH_OK);
        }
    }
    if (attr != NULL)
        assert_int_equal(vmesh_rv_add_attr(s, &env, attr, attr_value), VMESH_OK);
    if (endorse) {
        vmesh_tpm2_instance_id(f->spki.data, f->spki.len, iid);
        env.instance_id = iid;
        env.instance_id_len = sizeof(iid);
        assert_int_equal(vmesh_rv_add_key(s, &env, f->ak_pub), VMESH_OK);
    }
    vmesh_rv_store_freeze(s);
    return s;
}

static vmesh_err appraise(fixture *f, const vmesh_buf *ev, const vmesh_rv_store *rv, vmesh_appraisal *a)
{
    vmesh_appraisal_in in = {0};

    in.evidence = ev->data;
    in.evidence_len = ev->len;
    in.media_type = VMESH_TPM2_MEDIA_TYPE;
    in.nonce = f->nonce;
    in.nonce_len = sizeof(f->nonce);
    in.rv = rv;
    vmesh_appraisal_init(a);
    return vmesh_scheme_tpm2.appraise(&in, a);
}

static void test_affirming(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, true, NULL, NULL);
    vmesh_appraisal a;
    uint8_t iid[32];

    make_evidence(f, &f->q, f->ak, f->pcrs, 8, &ev);
    assert_true(vmesh_scheme_tpm2.detect(ev.data, ev.len));
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 0);
    assert_string_equal(a.reason, "");
    assert_int_equal(a.nonce.len, 32);
    assert_memory_equal(a.nonce.data, f->nonce, 32);
    vmesh_tpm2_instance_id(f->spki.data, f->spki.len, iid);
    assert_memory_equal(a.instance_id.data, iid, 32);
    assert_memory_equal(a.class_id.data, CLASS, strlen(CLASS));
    assert_non_null(strstr((const char *)a.claims_json.data, "\"reset-count\":2"));
    assert_non_null(strstr((const char *)a.claims_json.data, "\"firmware-version\":\"0x2019102300163636\""));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_unknown_ak(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, false, NULL, NULL);
    vmesh_appraisal a;

    make_evidence(f, &f->q, f->ak, f->pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 97);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 97);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 0);
    assert_non_null(strstr(a.reason, "no attestation key endorsed for this TPM"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_bad_signature(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, true, NULL, NULL);
    vmesh_appraisal a;

    make_evidence(f, &f->q, f->other, f->pcrs, 8, &ev); /* signed by another key, claims f->ak */
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 99);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_non_null(strstr(a.reason, "does not verify with the endorsed AK"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_nonce_mismatch(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, true, NULL, NULL);
    vmesh_tpm2_quote q = f->q;
    vmesh_appraisal a;

    q.extra_data[0] ^= 1;
    make_evidence(f, &q, f->ak, f->pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 99);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_non_null(strstr(a.reason, "qualifying data does not match the expected nonce"));
    assert_int_equal(a.nonce.len, 32);
    assert_int_equal(a.nonce.data[0], 0xab ^ 1);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_pcr_not_matching(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, true, NULL, NULL);
    vmesh_tpm2_pcr pcrs[8];
    vmesh_tpm2_quote q = f->q;
    vmesh_appraisal a;

    memcpy(pcrs, f->pcrs, sizeof(pcrs));
    memset(pcrs[3].digest, 0x77, 32);
    assert_int_equal(vmesh_tpm2_pcr_digest(q.sel, 1, pcrs, 8, q.pcr_digest), VMESH_OK);
    make_evidence(f, &q, f->ak, pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_string_equal(a.reason, "PCR sha256:3 = 7777777777777777777777777777777777777777777777777777777777777777 "
                                  "matches none of its 1 reference values");
    vmesh_appraisal_free(&a);

    /* pcr7 has two accepted values: the alternative matches */
    memcpy(pcrs, f->pcrs, sizeof(pcrs));
    memset(pcrs[7].digest, 0xee, 32);
    assert_int_equal(vmesh_tpm2_pcr_digest(q.sel, 1, pcrs, 8, q.pcr_digest), VMESH_OK);
    make_evidence(f, &q, f->ak, pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_pcr_digest_mismatch(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, true, NULL, NULL);
    vmesh_tpm2_pcr pcrs[8];
    vmesh_appraisal a;

    /* reported values differ from what the signed digest covers */
    memcpy(pcrs, f->pcrs, sizeof(pcrs));
    pcrs[0].digest[0] ^= 1;
    make_evidence(f, &f->q, f->ak, pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 99);
    assert_string_equal(a.reason, "the reported PCR values do not hash to the quoted pcrDigest");
    vmesh_appraisal_free(&a);

    /* a value the quote does not select */
    make_evidence(f, &f->q, f->ak, f->pcrs, 7, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_string_equal(a.reason, "the quote selects PCR sha256:7 but the evidence reports no value for it");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_selection_omits_constrained_pcr(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv = make_rv(f, true, NULL, NULL);
    vmesh_tpm2_quote q = f->q;
    vmesh_appraisal a;

    q.sel[0].select[0] = 0x7f; /* PCRs 0..6 */
    assert_int_equal(vmesh_tpm2_pcr_digest(q.sel, 1, f->pcrs, 7, q.pcr_digest), VMESH_OK);
    make_evidence(f, &q, f->ak, f->pcrs, 7, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    assert_string_equal(a.reason, "reference values constrain PCR sha256:7 but the quote does not cover it");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_config_attributes(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_rv_store *rv;
    vmesh_tpm2_quote q = f->q;
    vmesh_appraisal a;

    rv = make_rv(f, true, "firmware-version", "0x2019102300163636");
    make_evidence(f, &q, f->ak, f->pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 2);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    rv = make_rv(f, true, "firmware-version", "0x0000000000000001");
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 32);
    assert_string_equal(a.reason, "TPM firmware version 0x2019102300163636 is not an accepted one");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    rv = make_rv(f, true, "clock-safe", "required");
    q.safe = 0;
    make_evidence(f, &q, f->ak, f->pcrs, 8, &ev);
    assert_int_equal(appraise(f, &ev, rv, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 32);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
}

static void test_media_type(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0};
    vmesh_appraisal_in in = {0};
    vmesh_appraisal a;

    make_evidence(f, &f->q, f->ak, f->pcrs, 8, &ev);
    in.evidence = ev.data;
    in.evidence_len = ev.len;
    in.media_type = "application/eat+cwt";
    vmesh_appraisal_init(&a);
    assert_int_equal(vmesh_scheme_tpm2.appraise(&in, &a), VMESH_ERR_UNSUPPORTED);
    in.media_type = " Application/VND.vmesh.tpm2-quote+CBOR ";
    assert_int_equal(vmesh_scheme_tpm2.appraise(&in, &a), VMESH_OK); /* no RV: unknown AK */
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 97);
    vmesh_appraisal_free(&a);
    vmesh_buf_free(&ev);
}

static void test_quote_parse_refusals(void **state)
{
    fixture *f = *state;
    vmesh_buf b = {0};
    vmesh_tpm2_quote q = f->q, out;

    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &b), VMESH_OK);
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_OK);
    assert_memory_equal(&out.extra_data, f->nonce, 32);
    assert_int_equal(out.nsel, 1);
    assert_int_equal(out.sel[0].select[0], 0xff);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(vmesh_tpm2_quote_parse(b.data, n, &out), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_buf_append_u8(&b, 0), VMESH_OK);
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_ERR_PARSE);
    assert_string_equal(vmesh_err_detail(), "TPMS_ATTEST: 1 bytes after the quote");

    q.magic = 0xff544348;
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &b), VMESH_OK);
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not TPM_GENERATED_VALUE"));

    q = f->q;
    q.type = 0x8014; /* TPM_ST_ATTEST_CERTIFY */
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &b), VMESH_OK);
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not TPM_ST_ATTEST_QUOTE"));

    q = f->q;
    q.safe = 2;
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &b), VMESH_OK);
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_ERR_PARSE);

    /* extraData declared 65 bytes: offset 4+2+2+34 */
    q = f->q;
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &b), VMESH_OK);
    b.data[42] = 0;
    b.data[43] = 65;
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "extraData is 65 bytes, at most 64"));

    /* two selections of the same bank */
    q = f->q;
    q.nsel = 2;
    q.sel[1] = q.sel[0];
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_tpm2_quote_marshal(&q, &b), VMESH_OK);
    assert_int_equal(vmesh_tpm2_quote_parse(b.data, b.len, &out), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "names bank 0x000b twice"));
    vmesh_buf_free(&b);
}

static void test_signature_parse(void **state)
{
    static const uint8_t rsa[] = {0x00, 0x14, 0x00, 0x0b, 0x00, 0x00};
    vmesh_tpm2_signature s, o;
    vmesh_buf b = {0};

    (void)state;
    assert_int_equal(vmesh_tpm2_signature_parse(rsa, sizeof(rsa), &o), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "0x0014 is not supported"));
    memset(&s, 0, sizeof(s));
    s.sig_alg = VMESH_TPM2_ALG_ECDSA;
    s.hash_alg = VMESH_TPM2_ALG_SHA256;
    s.r_len = 32;
    s.s_len = 31;
    memset(s.r, 1, 32);
    memset(s.s, 2, 31);
    assert_int_equal(vmesh_tpm2_signature_marshal(&s, &b), VMESH_OK);
    assert_int_equal(b.len, 2 + 2 + 2 + 32 + 2 + 31);
    assert_int_equal(vmesh_tpm2_signature_parse(b.data, b.len, &o), VMESH_OK);
    assert_int_equal(o.s_len, 31);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(vmesh_tpm2_signature_parse(b.data, n, &o), VMESH_OK);
    b.data[4] = 0x01; /* signatureR size 288 > 128 */
    assert_int_equal(vmesh_tpm2_signature_parse(b.data, b.len, &o), VMESH_ERR_PARSE);
    vmesh_buf_free(&b);
}

static void test_evidence_cbor(void **state)
{
    fixture *f = *state;
    vmesh_buf ev = {0}, t = {0};
    vmesh_tpm2_evidence d;

    make_evidence(f, &f->q, f->ak, f->pcrs, 8, &ev);
    assert_int_equal(ev.data[0], 0xa5);
    assert_int_equal(vmesh_tpm2_evidence_decode(ev.data, ev.len, &d), VMESH_OK);
    assert_int_equal(d.npcrs, 8);
    assert_int_equal(d.pcrs[7].index, 7);
    assert_null(d.eventlog);
    vmesh_tpm2_evidence_free(&d);
    for (size_t n = 0; n < ev.len; n++)
        assert_int_not_equal(vmesh_tpm2_evidence_decode(ev.data, n, &d), VMESH_OK);

    /* trailing byte */
    assert_int_equal(vmesh_buf_set(&t, ev.data, ev.len), VMESH_OK);
    assert_int_equal(vmesh_buf_append_u8(&t, 0), VMESH_OK);
    assert_int_equal(vmesh_tpm2_evidence_decode(t.data, t.len, &d), VMESH_ERR_PARSE);
    /* indefinite-length map */
    t.data[0] = 0xbf;
    assert_int_equal(vmesh_tpm2_evidence_decode(t.data, t.len, &d), VMESH_ERR_PARSE);
    /* key 1 twice: a5 01 .. -> rewrite key 2 into 1 */
    assert_int_equal(vmesh_buf_set(&t, ev.data, ev.len), VMESH_OK);
    {
        size_t attest_len = t.data[3]; /* a5 01 58 LEN */
        t.data[4 + attest_len] = 0x01;
    }
    assert_int_equal(vmesh_tpm2_evidence_decode(t.data, t.len, &d), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "TPM2 evidence: duplicate map key"));
    /* a PCR count the input cannot hold is refused before allocating */
    {
        static const uint8_t huge[] = {0xa5, 0x03, 0x9a, 0x00, 0x01, 0x00, 0x00};
        assert_int_equal(vmesh_tpm2_evidence_decode(huge, sizeof(huge), &d), VMESH_ERR_PARSE);
    }
    vmesh_buf_free(&t);
    vmesh_buf_free(&ev);
}

static void test_pcr_sel_parse(void **state)
{
    vmesh_tpm2_pcr_sel sel[4];
    size_t n = 0;

    (void)state;
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:0,1,2,7+sha384:0,23", sel, 4, &n), VMESH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sel[0].hash, VMESH_TPM2_ALG_SHA256);
    assert_int_equal(sel[0].size, 3);
    assert_int_equal(sel[0].select[0], 0x87);
    assert_int_equal(sel[1].hash, VMESH_TPM2_ALG_SHA384);
    assert_int_equal(sel[1].select[2], 0x80);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:31", sel, 4, &n), VMESH_OK);
    assert_int_equal(sel[0].size, 4);
    assert_int_equal(sel[0].select[3], 0x80);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:32", sel, 4, &n), VMESH_ERR_ARG);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("md5:1", sel, 4, &n), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "unknown bank \"md5\""));
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:1+sha256:2", sel, 4, &n), VMESH_ERR_ARG);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:", sel, 4, &n), VMESH_ERR_ARG);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:1,", sel, 4, &n), VMESH_ERR_ARG);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:1x", sel, 4, &n), VMESH_ERR_ARG);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("sha256:-1", sel, 4, &n), VMESH_ERR_ARG);
    assert_int_equal(vmesh_tpm2_pcr_sel_parse("", sel, 4, &n), VMESH_ERR_ARG);
}

static void test_attester_config(void **state)
{
    vmesh_kv bad[] = {{"iak", "x"}};
    vmesh_kv handle[] = {{"ak-handle", "0x80000001"}};
    vmesh_kv sha1[] = {{"pcrs", "sha1:0"}};
    void *ctx = NULL;

    (void)state;
    assert_int_equal(vmesh_scheme_tpm2.attester_new(bad, 1, &ctx), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "unknown configuration key \"iak\""));
    assert_int_equal(vmesh_scheme_tpm2.attester_new(handle, 1, &ctx), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "not a persistent handle"));
    assert_int_equal(vmesh_scheme_tpm2.attester_new(sha1, 1, &ctx), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "sha1 bank cannot be quoted"));
    assert_null(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_affirming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pcr_not_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pcr_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selection_omits_constrained_pcr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_media_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quote_parse_refusals, setup, teardown),
        cmocka_unit_test(test_signature_parse),
        cmocka_unit_test_setup_teardown(test_evidence_cbor, setup, teardown),
        cmocka_unit_test(test_pcr_sel_parse),
        cmocka_unit_test(test_attester_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
