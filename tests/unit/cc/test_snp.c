/* cc.snp: the sev-snp scheme against the real Milan report of
 * ../shared/vectors/sevsnp (skipped when absent) and against reports this
 * test builds and signs with a generated test chain (ARK -> ASK -> VCEK),
 * for what the vector does not cover (no debug, v3, nonce, TCB, host data,
 * the CBOR envelope, unpinned roots, malformed reports). */
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

#include "vmesh/ccpki.h"
#include "vmesh/snp.h"

#include "cc_testpki.h"

#define AT_2023 1672531200 /* 2023-01-01T00:00:00Z */

static const vmesh_rv_env snp_env = {"sev-snp", (const uint8_t *)"sev-snp", 7, NULL, 0};

static const char *vectors(void)
{
    const char *v = getenv("VMESH_VECTORS");
    static char path[1024];

    if (v == NULL)
        return NULL;
    snprintf(path, sizeof(path), "%s/sevsnp/attestation.bin", v);
    if (access(path, R_OK) != 0)
        return NULL;
    return v;
}

static void vpath(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/sevsnp/%s", vectors(), file);
}

static void add_attr(vmesh_rv_store *s, const char *name, const char *value)
{
    assert_int_equal(vmesh_rv_add_attr(s, &snp_env, name, value), VMESH_OK);
}

static void add_meas(vmesh_rv_store *s, const char *name, const uint8_t *v, size_t n)
{
    vmesh_rv_measurement m = {name, NULL, NULL, 0, n == 48 ? VMESH_HASH_SHA384 : 0, v, n};

    assert_int_equal(vmesh_rv_add_measurement(s, &snp_env, &m), VMESH_OK);
}

static vmesh_err appraise(const uint8_t *ev, size_t n, vmesh_rv_store *rv, const uint8_t *nonce, size_t nonce_len,
                          int64_t at, vmesh_appraisal *a)
{
    vmesh_appraisal_in in;

    memset(&in, 0, sizeof(in));
    in.evidence = ev;
    in.evidence_len = n;
    in.nonce = nonce;
    in.nonce_len = nonce_len;
    in.rv = rv;
    in.now = at;
    vmesh_appraisal_init(a);
    return vmesh_scheme_snp.appraise(&in, a);
}

/* ---- the real Milan report ------------------------------------------------ */

typedef struct {
    vmesh_buf report;
    vmesh_rv_store *rv;
} vec;

static int vec_setup(void **state)
{
    vec *v;
    char p[1100];

    if (vectors() == NULL)
        return 0;
    v = calloc(1, sizeof(*v));
    vpath(p, sizeof(p), "attestation.bin");
    assert_true(tp_read(p, &v->report));
    assert_int_equal(vmesh_rv_store_new(&v->rv), VMESH_OK);
    vpath(p, sizeof(p), "vcek.der");
    assert_int_equal(vmesh_ccpki_ta_load_file(v->rv, "sev-snp", p), VMESH_OK);
    vpath(p, sizeof(p), "ask_ark_milan.pem");
    assert_int_equal(vmesh_ccpki_ta_load_file(v->rv, "sev-snp", p), VMESH_OK);
    *state = v;
    return 0;
}

static int vec_teardown(void **state)
{
    vec *v = *state;

    if (v != NULL) {
        vmesh_buf_free(&v->report);
        vmesh_rv_store_free(v->rv);
        free(v);
    }
    return 0;
}

#define NEED_VECTORS()                                                                                      \
    do {                                                                                                    \
        if (*state == NULL) {                                                                               \
            print_message("skipped: VMESH_VECTORS/sevsnp absent\n");                                        \
            skip();                                                                                         \
        }                                                                                                   \
    } while (0)

static void test_vector_parse(void **state)
{
    vec *v = *state;
    vmesh_snp_report r;
    vmesh_snp_tcb t;

    NEED_VECTORS();
    assert_int_equal(vmesh_snp_report_parse(v->report.data, v->report.len, &r), VMESH_OK);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.policy, 0xb0000);
    assert_true(r.policy & VMESH_SNP_POLICY_DEBUG);
    assert_int_equal(vmesh_snp_signing_key(&r), VMESH_SNP_KEY_VCEK);
    assert_int_equal(r.reported_tcb, 0x4405000000000002ULL);
    t = vmesh_snp_tcb_of(r.reported_tcb);
    assert_int_equal(t.bl, 2);
    assert_int_equal(t.snp, 5);
    assert_int_equal(t.ucode, 0x44);
    assert_int_equal(r.report_data[0], 1);
    assert_int_equal(r.report_data[4], 5);
    assert_int_equal(r.measurement[0], 0xb0);
    assert_true(vmesh_scheme_snp.detect(v->report.data, v->report.len));
}

/* Signature and chain verify at a pinned time; the vector's guest allows
 * debugging, so without policy-debug-allowed it is refused. */
static void test_vector_verifies_debug_refused(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    static const uint8_t nonce[5] = {1, 2, 3, 4, 5};

    NEED_VECTORS();
    vmesh_rv_store_freeze(v->rv);
    assert_int_equal(appraise(v->report.data, v->report.len, v->rv, nonce, 5, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], VMESH_AR_TRUSTWORTHY_INSTANCE);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], VMESH_AR_UNSUPPORTABLE_CONFIG);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], VMESH_AR_VISIBLE_MEMORY_RUNTIME);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], VMESH_AR_UNRECOGNIZED_RUNTIME);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_non_null(strstr(a.reason, "allows debugging (bit 19)"));
    assert_int_equal(a.nonce.len, 32);
    assert_non_null(strstr((const char *)a.claims_json.data, "\"product\":\"Milan\""));
    assert_non_null(strstr((const char *)a.claims_json.data, "\"reported-tcb\":\"bl=2,tee=0,snp=5,ucode=68\""));
    vmesh_appraisal_free(&a);
}

static vmesh_rv_store *vec_rv(const char *measurement_hex, bool debug_ok)
{
    vmesh_rv_store *s = NULL;
    char p[1100];
    vmesh_buf m = {0};

    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    vpath(p, sizeof(p), "vcek.der");
    assert_int_equal(vmesh_ccpki_ta_load_file(s, "sev-snp", p), VMESH_OK);
    vpath(p, sizeof(p), "ask_ark_milan.pem");
    assert_int_equal(vmesh_ccpki_ta_load_file(s, "sev-snp", p), VMESH_OK);
    if (debug_ok)
        add_attr(s, "policy-debug-allowed", "true");
    if (measurement_hex != NULL) {
        assert_int_equal(vmesh_hex_decode(measurement_hex, strlen(measurement_hex), &m), VMESH_OK);
        add_meas(s, "measurement", m.data, m.len);
    }
    vmesh_buf_free(&m);
    vmesh_rv_store_freeze(s);
    return s;
}

#define VEC_MEAS "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"

static void test_vector_measurement(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    vmesh_rv_store *s;

    NEED_VECTORS();
    s = vec_rv(VEC_MEAS, true);
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], VMESH_AR_APPROVED_RUNTIME);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], VMESH_AR_UNSAFE_CONFIG);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], VMESH_AR_ISOLATED_MEMORY_RUNTIME);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    assert_non_null(strstr(a.reason, "accepted by policy-debug-allowed"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);

    /* one different digit */
    s = vec_rv("c07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
               true);
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], VMESH_AR_UNRECOGNIZED_RUNTIME);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
}

static void test_vector_flipped_byte(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    vmesh_rv_store *s;
    static const size_t offsets[] = {0x04, 0x50, 0x90, 0xC0, 0x1A0, 0x1F0};

    NEED_VECTORS();
    s = vec_rv(VEC_MEAS, true);
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        uint8_t r[VMESH_SNP_REPORT_SIZE];

        memcpy(r, v->report.data, sizeof(r));
        r[offsets[i]] ^= 0x01;
        assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
        for (int c = 0; c < VMESH_TV__COUNT; c++)
            assert_int_equal(a.tv.v[c], VMESH_AR_CRYPTO_VALIDATION_FAILED);
        assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
        /* 0x1A0 is CHIP_ID: the VCEK then no longer fits; elsewhere the signature fails */
        assert_non_null(strstr(a.reason, offsets[i] == 0x1A0 ? "hwID does not match" : "signature does not verify"));
        vmesh_appraisal_free(&a);
    }
    vmesh_rv_store_free(s);
}

static void test_vector_time_window(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    vmesh_rv_store *s;

    NEED_VECTORS();
    s = vec_rv(VEC_MEAS, true);
    /* the VCEK is valid from 2022-09-24T00:55:28Z */
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, 1663980000 /* 2022-09-24T00:40Z */, &a),
                     VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "not yet valid"));
    vmesh_appraisal_free(&a);
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, 1663981200 /* 01:00Z */, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    vmesh_appraisal_free(&a);
    /* ... until 2029-09-24T00:55:28Z */
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, 1885000000 /* 2029-09-25 */, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "expired"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
}

static void test_vector_nonce(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    vmesh_rv_store *s;
    uint8_t n32[32] = {1, 2, 3, 4, 5}, n64[64] = {1, 2, 3, 4, 5}, bad[32] = {1, 2, 3, 4, 6};

    NEED_VECTORS();
    s = vec_rv(VEC_MEAS, true);
    assert_int_equal(appraise(v->report.data, v->report.len, s, n32, 32, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    vmesh_appraisal_free(&a);
    assert_int_equal(appraise(v->report.data, v->report.len, s, n64, 64, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    vmesh_appraisal_free(&a);
    assert_int_equal(appraise(v->report.data, v->report.len, s, bad, 32, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "REPORT_DATA does not carry the expected nonce"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
}

/* A VCEK that fits the report (same chip id and TCB extensions) but holds
 * another key, issued by a generated ASK: refused. So is no VCEK at all. */
static void test_vector_wrong_vcek(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    vmesh_rv_store *s = NULL;
    vmesh_key *k = NULL;
    X509 *x;
    char p[1100], *pem;
    static const uint8_t bl[] = {2, 1, 2}, tee[] = {2, 1, 0}, snp[] = {2, 1, 5}, uc[] = {2, 1, 0x44}, z[] = {2, 1, 0};
    tp_ext ext[9] = {
        {"1.3.6.1.4.1.3704.1.3.1", bl, 3}, {"1.3.6.1.4.1.3704.1.3.2", tee, 3}, {"1.3.6.1.4.1.3704.1.3.3", snp, 3},
        {"1.3.6.1.4.1.3704.1.3.8", uc, 3}, {"1.3.6.1.4.1.3704.1.3.4", z, 3},   {"1.3.6.1.4.1.3704.1.3.5", z, 3},
        {"1.3.6.1.4.1.3704.1.3.6", z, 3},  {"1.3.6.1.4.1.3704.1.3.7", z, 3},   {"1.3.6.1.4.1.3704.1.4", NULL, 64},
    };

    NEED_VECTORS();
    ext[8].der = v->report.data + 0x1A0;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &k), VMESH_OK);
    x = tp_cert("SEV-VCEK", k, k, NULL, false, ext, 9, 0, 0);
    pem = tp_pem(x);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    add_attr(s, "ta-pem", pem);
    vpath(p, sizeof(p), "ask_ark_milan.pem");
    assert_int_equal(vmesh_ccpki_ta_load_file(s, "sev-snp", p), VMESH_OK);
    vmesh_rv_store_freeze(s);
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_string_equal(a.reason, "the report signature does not verify with the VCEK");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);

    /* only ASK and ARK: no VCEK */
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    assert_int_equal(vmesh_ccpki_ta_load_file(s, "sev-snp", p), VMESH_OK);
    vmesh_rv_store_freeze(s);
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "no VCEK certificate for this report"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    free(pem);
    X509_free(x);
    vmesh_crypto_key_free(k);
}

/* Without the ARK (only VCEK and ASK), no pinned root is reachable. */
static void test_vector_no_root(void **state)
{
    vec *v = *state;
    vmesh_appraisal a;
    vmesh_rv_store *s = NULL;
    vmesh_buf pem = {0};
    char p[1100], *cut;

    NEED_VECTORS();
    vpath(p, sizeof(p), "ask_ark_milan.pem");
    assert_true(tp_read(p, &pem));
    assert_int_equal(vmesh_buf_terminate(&pem), VMESH_OK);
    cut = strstr((char *)pem.data + 10, "-----BEGIN CERTIFICATE-----"); /* the ARK is second */
    assert_non_null(cut);
    *cut = '\0';
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    add_attr(s, "ta-pem", (const char *)pem.data);
    vpath(p, sizeof(p), "vcek.der");
    assert_int_equal(vmesh_ccpki_ta_load_file(s, "sev-snp", p), VMESH_OK);
    vmesh_rv_store_freeze(s);
    assert_int_equal(appraise(v->report.data, v->report.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "no pinned root"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    vmesh_buf_free(&pem);
}

/* ---- generated chain and reports -------------------------------------------- */

typedef struct {
    vmesh_key *ark_k, *ask_k, *vcek_k;
    X509 *ark, *ask, *vcek;
    uint8_t chip[64];
    uint64_t tcb;
    char fp[65];
} gen;

static void gen_init(gen *g)
{
    static const uint8_t bl[] = {2, 1, 3}, tee[] = {2, 1, 0}, snp[] = {2, 1, 8}, uc[] = {2, 2, 0x00, 0xd1};
    tp_ext ext[5] = {
        {"1.3.6.1.4.1.3704.1.3.1", bl, 3},
        {"1.3.6.1.4.1.3704.1.3.2", tee, 3},
        {"1.3.6.1.4.1.3704.1.3.3", snp, 3},
        {"1.3.6.1.4.1.3704.1.3.8", uc, 4},
        {"1.3.6.1.4.1.3704.1.4", NULL, 64},
    };

    memset(g, 0, sizeof(*g));
    memset(g->chip, 0x11, 64);
    ext[4].der = g->chip;
    g->tcb = 0xd108000000000003ULL; /* ucode 209, snp 8, tee 0, bl 3 */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &g->ark_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &g->ask_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &g->vcek_k), VMESH_OK);
    g->ark = tp_cert("ARK-Test", g->ark_k, g->ark_k, NULL, true, NULL, 0, 0, 0);
    g->ask = tp_cert("SEV-Test", g->ask_k, g->ark_k, g->ark, true, NULL, 0, 0, 0);
    g->vcek = tp_cert("SEV-VCEK", g->vcek_k, g->ask_k, g->ask, false, ext, 5, 0, 0);
    tp_fp_hex(g->ark, g->fp);
}

static void gen_free(gen *g)
{
    X509_free(g->ark);
    X509_free(g->ask);
    X509_free(g->vcek);
    vmesh_crypto_key_free(g->ark_k);
    vmesh_crypto_key_free(g->ask_k);
    vmesh_crypto_key_free(g->vcek_k);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A version-3 report, policy 0x30000 (SMT, no debug), nonce 0x5a.. (32 bytes). */
static void gen_report(const gen *g, uint8_t *r, uint32_t version, uint64_t policy)
{
    memset(r, 0, VMESH_SNP_REPORT_SIZE);
    r[0] = (uint8_t)version;
    put64(r + 0x08, policy);
    put64(r + 0x38, g->tcb);
    memset(r + 0x50, 0x5a, 32);
    memset(r + 0x90, 0x4d, 48);
    memset(r + 0xC0, 0x48, 32);
    put64(r + 0x180, g->tcb);
    if (version >= 3) {
        r[0x188] = 0x19;
        r[0x189] = 0x11;
        r[0x18A] = 1;
    }
    memcpy(r + 0x1A0, g->chip, 64);
    put64(r + 0x1E0, g->tcb);
    put64(r + 0x1F0, g->tcb);
    assert_int_equal(vmesh_snp_report_sign(r, VMESH_SNP_REPORT_SIZE, g->vcek_k), VMESH_OK);
}

static vmesh_rv_store *gen_rv(const gen *g, bool pin, bool tas, const char *extra_name, const char *extra_value)
{
    vmesh_rv_store *s = NULL;
    uint8_t meas[48], host[32];
    char *pem;

    memset(meas, 0x4d, 48);
    memset(host, 0x48, 32);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    if (pin)
        add_attr(s, "root-sha256", g->fp);
    if (tas) {
        X509 *all[3] = {g->vcek, g->ask, g->ark};

        for (int i = 0; i < 3; i++) {
            pem = tp_pem(all[i]);
            add_attr(s, "ta-pem", pem);
            free(pem);
        }
    }
    add_meas(s, "measurement", meas, 48);
    add_meas(s, "host-data", host, 32);
    if (extra_name != NULL)
        add_attr(s, extra_name, extra_value);
    vmesh_rv_store_freeze(s);
    return s;
}

static void test_gen_affirming_v3(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE], nonce[32];
    vmesh_appraisal a;
    vmesh_rv_store *s;
    vmesh_snp_report rep;

    (void)state;
    gen_init(&g);
    gen_report(&g, r, 3, 0x30000);
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r), &rep), VMESH_OK);
    assert_int_equal(rep.cpuid_fam_id, 0x19);
    memset(nonce, 0x5a, 32);
    s = gen_rv(&g, true, true, "min-tcb", "bl=3,tee=0,snp=8,ucode=209");
    assert_int_equal(appraise(r, sizeof(r), s, nonce, 32, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    assert_string_equal(a.reason, "");
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 2);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_STORAGE_OPAQUE], 0);
    assert_int_equal(a.nonce.len, 32);
    assert_memory_equal(a.nonce.data, nonce, 32);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);

    /* the same root unpinned: refused */
    s = gen_rv(&g, false, true, NULL, NULL);
    assert_int_equal(appraise(r, sizeof(r), s, nonce, 32, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "no pinned root"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    gen_free(&g);
}

static void test_gen_debug_policy(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE];
    vmesh_appraisal a;
    vmesh_rv_store *s;

    (void)state;
    gen_init(&g);
    gen_report(&g, r, 2, 0x30000 | VMESH_SNP_POLICY_DEBUG);
    s = gen_rv(&g, true, true, NULL, NULL);
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], VMESH_AR_UNSUPPORTABLE_CONFIG);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], VMESH_AR_VISIBLE_MEMORY_RUNTIME);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_GENUINE_HARDWARE);
    assert_string_equal(a.reason, "guest policy 0xb0000 allows debugging (bit 19); refused unless the reference "
                                  "values set policy-debug-allowed");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    gen_free(&g);
}

static void test_gen_nonce_mismatch(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE], nonce[32];
    vmesh_appraisal a;
    vmesh_rv_store *s;

    (void)state;
    gen_init(&g);
    gen_report(&g, r, 3, 0x30000);
    memset(nonce, 0x5b, 32);
    s = gen_rv(&g, true, true, NULL, NULL);
    assert_int_equal(appraise(r, sizeof(r), s, nonce, 32, AT_2023, &a), VMESH_OK);
    for (int c = 0; c < VMESH_TV__COUNT; c++)
        assert_int_equal(a.tv.v[c], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "REPORT_DATA does not carry the expected nonce"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    gen_free(&g);
}

static void test_gen_tcb_and_config(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE];
    vmesh_appraisal a;
    vmesh_rv_store *s;

    (void)state;
    gen_init(&g);
    gen_report(&g, r, 3, 0x30000);
    /* TCB out of date */
    s = gen_rv(&g, true, true, "min-tcb", "bl=3,tee=0,snp=9,ucode=209");
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_UNSAFE_HARDWARE);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    assert_string_equal(a.reason, "reported TCB bl=3,tee=0,snp=8,ucode=209 is below the minimum bl=3,tee=0,snp=9,ucode=209");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    /* a min-tcb for another product does not apply (the test root is no product) */
    s = gen_rv(&g, true, true, "min-tcb", "Genoa:bl=9");
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    /* policy not among the accepted ones */
    s = gen_rv(&g, true, true, "policy", "0x70000");
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], VMESH_AR_UNSUPPORTABLE_CONFIG);
    assert_string_equal(a.reason, "guest policy 0x30000 is not an accepted policy");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    /* VMPL not accepted */
    s = gen_rv(&g, true, true, "vmpl", "2");
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], VMESH_AR_UNSUPPORTABLE_CONFIG);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    /* HOST_DATA differs */
    r[0xC0] ^= 1;
    assert_int_equal(vmesh_snp_report_sign(r, sizeof(r), g.vcek_k), VMESH_OK);
    s = gen_rv(&g, true, true, NULL, NULL);
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], VMESH_AR_UNSUPPORTABLE_CONFIG);
    assert_string_equal(a.reason, "HOST_DATA matches no reference value");
    vmesh_appraisal_free(&a);
    /* reported TCB that the VCEK does not certify */
    put64(r + 0x180, g.tcb + 1);
    assert_int_equal(vmesh_snp_report_sign(r, sizeof(r), g.vcek_k), VMESH_OK);
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "the VCEK certifies TCB bl=3,tee=0,snp=8,ucode=209 but the report's REPORTED_TCB is bl=4"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    gen_free(&g);
}

/* The CBOR envelope carries VCEK, ASK and ARK; the store only pins the root. */
static void test_gen_cbor_envelope(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE];
    vmesh_appraisal a;
    vmesh_rv_store *s;
    vmesh_buf vcek = {0}, ask = {0}, ark = {0}, ev = {0};
    vmesh_snp_evidence dec;
    const uint8_t *chain[2];
    size_t chain_len[2];
    gen other;

    (void)state;
    gen_init(&g);
    gen_report(&g, r, 3, 0x30000);
    tp_der(g.vcek, &vcek);
    tp_der(g.ask, &ask);
    tp_der(g.ark, &ark);
    chain[0] = ask.data;
    chain_len[0] = ask.len;
    chain[1] = ark.data;
    chain_len[1] = ark.len;
    assert_int_equal(vmesh_snp_evidence_encode(r, vcek.data, vcek.len, chain, chain_len, 2, &ev), VMESH_OK);
    assert_int_equal(vmesh_snp_evidence_decode(ev.data, ev.len, &dec), VMESH_OK);
    assert_int_equal(dec.nchain, 2);
    assert_int_equal(dec.cert_len, vcek.len);
    assert_true(vmesh_scheme_snp.detect(ev.data, ev.len));
    s = gen_rv(&g, true, false, NULL, NULL);
    assert_int_equal(appraise(ev.data, ev.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);

    /* trailing byte, truncation */
    assert_int_equal(vmesh_buf_append_u8(&ev, 0), VMESH_OK);
    assert_int_equal(appraise(ev.data, ev.len, s, NULL, 0, AT_2023, &a), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "1 trailing bytes after the CBOR map"));
    vmesh_appraisal_free(&a);
    assert_int_equal(appraise(ev.data, ev.len - 100, s, NULL, 0, AT_2023, &a), VMESH_ERR_PARSE);
    vmesh_appraisal_free(&a);

    /* a VCEK of another chip carried in the evidence */
    gen_init(&other);
    memset(other.chip, 0x22, 64);
    X509_free(other.vcek);
    {
        static const uint8_t bl[] = {2, 1, 3}, tee[] = {2, 1, 0}, snp[] = {2, 1, 8}, uc[] = {2, 2, 0x00, 0xd1};
        tp_ext ext[5] = {{"1.3.6.1.4.1.3704.1.3.1", bl, 3}, {"1.3.6.1.4.1.3704.1.3.2", tee, 3},
                         {"1.3.6.1.4.1.3704.1.3.3", snp, 3}, {"1.3.6.1.4.1.3704.1.3.8", uc, 4},
                         {"1.3.6.1.4.1.3704.1.4", other.chip, 64}};
        other.vcek = tp_cert("SEV-VCEK", g.vcek_k, g.ask_k, g.ask, false, ext, 5, 0, 0);
    }
    tp_der(other.vcek, &vcek);
    assert_int_equal(vmesh_snp_evidence_encode(r, vcek.data, vcek.len, chain, chain_len, 2, &ev), VMESH_OK);
    assert_int_equal(appraise(ev.data, ev.len, s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_string_equal(a.reason, "the VCEK's hwID does not match the report's CHIP_ID (a VCEK of another chip)");
    vmesh_appraisal_free(&a);
    gen_free(&other);
    vmesh_rv_store_free(s);
    vmesh_buf_free(&vcek);
    vmesh_buf_free(&ask);
    vmesh_buf_free(&ark);
    vmesh_buf_free(&ev);
    gen_free(&g);
}

/* A VLEK-signed report (SIGNING_KEY 1): no hwID, the CN must be SEV-VLEK. */
static void test_gen_vlek(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE];
    vmesh_appraisal a;
    vmesh_rv_store *s = NULL;
    vmesh_key *vlek_k = NULL;
    X509 *vlek;
    char *pem;
    static const uint8_t bl[] = {2, 1, 3}, tee[] = {2, 1, 0}, snp[] = {2, 1, 8}, uc[] = {2, 2, 0x00, 0xd1};
    tp_ext ext[4] = {{"1.3.6.1.4.1.3704.1.3.1", bl, 3}, {"1.3.6.1.4.1.3704.1.3.2", tee, 3},
                     {"1.3.6.1.4.1.3704.1.3.3", snp, 3}, {"1.3.6.1.4.1.3704.1.3.8", uc, 4}};
    uint8_t meas[48];

    (void)state;
    gen_init(&g);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &vlek_k), VMESH_OK);
    vlek = tp_cert("SEV-VLEK", vlek_k, g.ask_k, g.ask, false, ext, 4, 0, 0);
    memset(r, 0, sizeof(r));
    r[0] = 3;
    put64(r + 0x08, 0x30000);
    r[0x48] = VMESH_SNP_KEY_VLEK << 2;
    put64(r + 0x180, g.tcb);
    memset(r + 0x90, 0x4d, 48);
    assert_int_equal(vmesh_snp_report_sign(r, sizeof(r), vlek_k), VMESH_OK);
    assert_int_equal(vmesh_rv_store_new(&s), VMESH_OK);
    add_attr(s, "root-sha256", g.fp);
    pem = tp_pem(vlek);
    add_attr(s, "ta-pem", pem);
    free(pem);
    pem = tp_pem(g.ask);
    add_attr(s, "ta-pem", pem);
    free(pem);
    pem = tp_pem(g.ark);
    add_attr(s, "ta-pem", pem);
    free(pem);
    memset(meas, 0x4d, 48);
    add_meas(s, "measurement", meas, 48);
    vmesh_rv_store_freeze(s);
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    if (a.status != VMESH_TIER_AFFIRMING)
        fail_msg("%s", a.reason);
    assert_non_null(strstr((const char *)a.claims_json.data, "\"signing-key\":\"vlek\""));
    vmesh_appraisal_free(&a);
    /* the same report claiming the VCEK signed it: the VLEK certificate does not fit, no VCEK is there */
    r[0x48] = 0;
    assert_int_equal(vmesh_snp_report_sign(r, sizeof(r), vlek_k), VMESH_OK);
    assert_int_equal(appraise(r, sizeof(r), s, NULL, 0, AT_2023, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], VMESH_AR_CRYPTO_VALIDATION_FAILED);
    assert_non_null(strstr(a.reason, "no VCEK certificate for this report"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(s);
    X509_free(vlek);
    vmesh_crypto_key_free(vlek_k);
    gen_free(&g);
}

static void test_malformed(void **state)
{
    gen g;
    uint8_t r[VMESH_SNP_REPORT_SIZE];
    vmesh_snp_report rep;
    vmesh_appraisal a;

    (void)state;
    gen_init(&g);
    gen_report(&g, r, 2, 0x30000);
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r) - 1, &rep), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "is 1183 bytes"));
    r[0x4C] = 1;
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r), &rep), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "reserved byte 0x04c"));
    r[0x4C] = 0;
    r[0x189] = 1; /* CPUID bytes are reserved in a version-2 report */
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r), &rep), VMESH_ERR_PARSE);
    r[0x189] = 0;
    r[0x0A] = 0; /* policy bit 17 must be one */
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r), &rep), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "lacks bit 17"));
    r[0x0A] = 3;
    r[0] = 6;
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r), &rep), VMESH_ERR_UNSUPPORTED);
    r[0] = 2;
    r[0x48] = 2 << 2; /* SIGNING_KEY 2 is reserved */
    assert_int_equal(vmesh_snp_report_parse(r, sizeof(r), &rep), VMESH_ERR_PARSE);
    assert_false(vmesh_scheme_snp.detect(r, sizeof(r)));
    r[0x48] = 0;
    assert_true(vmesh_scheme_snp.detect(r, sizeof(r)));
    assert_int_equal(appraise(r, 100, NULL, NULL, 0, AT_2023, &a), VMESH_ERR_PARSE);
    vmesh_appraisal_free(&a);
    /* unknown media type */
    {
        vmesh_appraisal_in in;

        memset(&in, 0, sizeof(in));
        in.evidence = r;
        in.evidence_len = sizeof(r);
        in.media_type = "application/psa-attestation-token";
        vmesh_appraisal_init(&a);
        assert_int_equal(vmesh_scheme_snp.appraise(&in, &a), VMESH_ERR_UNSUPPORTED);
        vmesh_appraisal_free(&a);
    }
    gen_free(&g);
}

static void test_tcb_parse(void **state)
{
    vmesh_snp_tcb t;

    (void)state;
    assert_int_equal(vmesh_snp_tcb_parse("bl=3,tee=1,snp=8,ucode=209", &t), VMESH_OK);
    assert_int_equal(t.bl, 3);
    assert_int_equal(t.tee, 1);
    assert_int_equal(t.snp, 8);
    assert_int_equal(t.ucode, 209);
    assert_int_equal(vmesh_snp_tcb_parse("snp=8", &t), VMESH_OK);
    assert_int_equal(t.bl, 0);
    assert_int_equal(vmesh_snp_tcb_parse("bl=256", &t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_snp_tcb_parse("fmc=1", &t), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "unknown component \"fmc\""));
    assert_int_equal(vmesh_snp_tcb_parse("bl=1,bl=2", &t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_snp_tcb_parse("", &t), VMESH_ERR_PARSE);
}

static void test_certtable(void **state)
{
    uint8_t t[24 * 3 + 10];
    vmesh_snp_evidence ev;
    static const uint8_t vcek_guid[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                          0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};

    (void)state;
    memset(t, 0, sizeof(t));
    memcpy(t, vcek_guid, 16);
    t[16] = 48; /* offset 48 */
    t[20] = 10; /* length 10 */
    memset(&ev, 0, sizeof(ev));
    /* header of 2 entries (one + terminator) = 48 bytes, data at 48.. */
    assert_int_equal(vmesh_snp_certtable_parse(t, 58, &ev), VMESH_OK);
    assert_ptr_equal(ev.cert, t + 48);
    assert_int_equal(ev.cert_len, 10);
    memset(&ev, 0, sizeof(ev));
    t[20] = 11; /* past the end */
    assert_int_equal(vmesh_snp_certtable_parse(t, 58, &ev), VMESH_ERR_PARSE);
    memset(&ev, 0, sizeof(ev));
    t[16] = 8; /* inside the header */
    t[20] = 10;
    assert_int_equal(vmesh_snp_certtable_parse(t, 58, &ev), VMESH_ERR_PARSE);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(vmesh_snp_certtable_parse(t, 30, &ev), VMESH_ERR_PARSE); /* no terminator */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vector_parse, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_verifies_debug_refused, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_measurement, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_flipped_byte, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_time_window, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_nonce, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_wrong_vcek, vec_setup, vec_teardown),
        cmocka_unit_test_setup_teardown(test_vector_no_root, vec_setup, vec_teardown),
        cmocka_unit_test(test_gen_affirming_v3),
        cmocka_unit_test(test_gen_debug_policy),
        cmocka_unit_test(test_gen_nonce_mismatch),
        cmocka_unit_test(test_gen_tcb_and_config),
        cmocka_unit_test(test_gen_cbor_envelope),
        cmocka_unit_test(test_gen_vlek),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_tcb_parse),
        cmocka_unit_test(test_certtable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
