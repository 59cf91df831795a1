/* cc.tsm: the configfs-tsm attester against a fake configfs tree that the
 * test prepares (as the kernel would present it after mkdir: provider,
 * generation, outblob, auxblob), with an SEV-SNP report and a TDX quote the
 * test signs with generated chains for the nonce it will ask for; then the
 * CMW evidence is appraised by the tsm scheme (dispatching to sev-snp/tdx). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmesh/ccpki.h"
#include "vmesh/snp.h"
#include "vmesh/tdx.h"
#include "vmesh/tsm.h"

#include "cc_testpki.h"

#define AT 1688169600

typedef struct {
    char root[256];
    char entry[300];
} tree;

static void put(const char *dir, const char *name, const void *p, size_t n)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    if (n > 0)
        assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void tree_init(tree *t, const char *provider)
{
    char d[300];

    snprintf(t->root, sizeof(t->root), "/tmp/vmesh-tsm-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    snprintf(d, sizeof(d), "%s/report", t->root);
    assert_int_equal(mkdir(d, 0700), 0);
    snprintf(t->entry, sizeof(t->entry), "%s/report/e1", t->root);
    assert_int_equal(mkdir(t->entry, 0700), 0);
    put(t->entry, "provider", provider, strlen(provider));
    put(t->entry, "generation", "7\n", 2);
    put(t->entry, "inblob", "", 0);
}

static void tree_free(tree *t)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
    assert_int_equal(system(cmd), 0);
}

static vmesh_err attest(const tree *t, const char *entry, const uint8_t *nonce, size_t n, vmesh_buf *ev)
{
    vmesh_kv kv[2] = {{"tsm-root", t->root}, {"entry", entry}};
    void *ctx = NULL;
    vmesh_err rc = vmesh_scheme_tsm.attester_new(kv, 2, &ctx);

    if (rc == VMESH_OK)
        rc = vmesh_scheme_tsm.attest(ctx, nonce, n, ev);
    vmesh_scheme_tsm.attester_free(ctx);
    return rc;
}

static vmesh_err appraise(const vmesh_buf *ev, vmesh_rv_store *rv, const uint8_t *nonce, vmesh_appraisal *a)
{
    vmesh_appraisal_in in;

    memset(&in, 0, sizeof(in));
    in.evidence = ev->data;
    in.evidence_len = ev->len;
    in.media_type = VMESH_TSM_MEDIA_TYPE;
    in.nonce = nonce;
    in.nonce_len = 32;
    in.rv = rv;
    in.now = AT;
    vmesh_appraisal_init(a);
    return vmesh_scheme_tsm.appraise(&in, a);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_snp(void **state)
{
    static const uint8_t bl[] = {2, 1, 3}, tee[] = {2, 1, 0}, snp[] = {2, 1, 8}, uc[] = {2, 1, 0x73};
    static const uint8_t vcek_guid[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                          0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
    static const uint8_t ask_guid[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                         0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
    static const uint8_t ark_guid[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                         0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};
    uint8_t chip[64], r[VMESH_SNP_REPORT_SIZE], nonce[32], in[64];
    tp_ext ext[5] = {{"1.3.6.1.4.1.3704.1.3.1", bl, 3}, {"1.3.6.1.4.1.3704.1.3.2", tee, 3},
                     {"1.3.6.1.4.1.3704.1.3.3", snp, 3}, {"1.3.6.1.4.1.3704.1.3.8", uc, 3},
                     {"1.3.6.1.4.1.3704.1.4", chip, 64}};
    vmesh_key *ark_k, *ask_k, *vcek_k;
    X509 *ark, *ask, *vcek;
    vmesh_buf d[3] = {{0}}, aux = {0}, ev = {0}, got = {0};
    tree t;
    char fp[65], path[400];
    vmesh_rv_store *rv = NULL;
    vmesh_rv_env env = {"sev-snp", (const uint8_t *)"sev-snp", 7, NULL, 0};
    vmesh_rv_measurement m = {"measurement", NULL, NULL, 0, VMESH_HASH_SHA384, NULL, 48};
    vmesh_appraisal a;
    const uint8_t *guids[3] = {vcek_guid, ask_guid, ark_guid};
    uint64_t tcb = 0x7308000000000003ULL;
    uint32_t off;

    (void)state;
    memset(chip, 0x33, 64);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &ark_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &ask_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P384, &vcek_k), VMESH_OK);
    ark = tp_cert("ARK-Test", ark_k, ark_k, NULL, true, NULL, 0, 0, 0);
    ask = tp_cert("SEV-Test", ask_k, ark_k, ark, true, NULL, 0, 0, 0);
    vcek = tp_cert("SEV-VCEK", vcek_k, ask_k, ask, false, ext, 5, 0, 0);
    tp_fp_hex(ark, fp);
    tp_der(vcek, &d[0]);
    tp_der(ask, &d[1]);
    tp_der(ark, &d[2]);
    /* auxblob: the GHCB certificate table */
    off = 4 * 24;
    for (int i = 0; i < 3; i++) {
        uint8_t e[24];

        memcpy(e, guids[i], 16);
        put64(e + 16, (uint64_t)off | (uint64_t)d[i].len << 32);
        assert_int_equal(vmesh_buf_append(&aux, e, 24), VMESH_OK);
        off += (uint32_t)d[i].len;
    }
    {
        uint8_t z[24] = {0};

        assert_int_equal(vmesh_buf_append(&aux, z, 24), VMESH_OK);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(vmesh_buf_append(&aux, d[i].data, d[i].len), VMESH_OK);
    /* outblob: the report for the nonce the attester will be given */
    memset(nonce, 0xa5, 32);
    memset(r, 0, sizeof(r));
    r[0] = 3;
    put64(r + 0x08, 0x30000);
    put64(r + 0x180, tcb);
    memcpy(r + 0x50, nonce, 32);
    memset(r + 0x90, 0x4d, 48);
    memcpy(r + 0x1A0, chip, 64);
    assert_int_equal(vmesh_snp_report_sign(r, sizeof(r), vcek_k), VMESH_OK);
    tree_init(&t, "sev_guest\n");
    put(t.entry, "outblob", r, sizeof(r));
    put(t.entry, "auxblob", aux.data, aux.len);

    assert_int_equal(attest(&t, "e1", nonce, 32, &ev), VMESH_OK);
    snprintf(path, sizeof(path), "%s/inblob", t.entry);
    assert_int_equal(vmesh_file_read(path, 0, &got), VMESH_OK);
    memset(in, 0, 64);
    memcpy(in, nonce, 32);
    assert_int_equal(got.len, 64);
    assert_memory_equal(got.data, in, 64);
    assert_true(vmesh_scheme_tsm.detect(ev.data, ev.len));
    assert_false(vmesh_scheme_snp.detect(ev.data, ev.len));

    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    assert_int_equal(vmesh_rv_add_attr(rv, &env, "root-sha256", fp), VMESH_OK);
    memset(r, 0x4d, 48);
    m.digest = r;
    assert_int_equal(vmesh_rv_add_measurement(rv, &env, &m), VMESH_OK);
    vmesh_rv_store_freeze(rv);
    assert_int_equal(appraise(&ev, rv, nonce, &a), VMESH_OK);
    if (a.status != VMESH_TIER_AFFIRMING)
        fail_msg("%s", a.reason);
    assert_int_equal(a.nonce.len, 32);
    vmesh_appraisal_free(&a);

    /* another nonce: the prepared report does not carry it */
    nonce[0] ^= 1;
    assert_int_equal(attest(&t, "e1", nonce, 32, &ev), VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "does not carry the REPORT_DATA we wrote"));
    /* an unknown provider */
    put(t.entry, "provider", "foo_guest\n", 10);
    nonce[0] ^= 1;
    assert_int_equal(attest(&t, "e1", nonce, 32, &ev), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "provider \"foo_guest\" is not supported"));
    /* bad entry names, bad nonce sizes, no configfs */
    assert_int_equal(attest(&t, "../x", nonce, 32, &ev), VMESH_ERR_ARG);
    assert_int_equal(attest(&t, "e1", nonce, 65, &ev), VMESH_ERR_ARG);
    {
        tree none = t;

        size_t k = strlen(t.root);

        assert_true(k + 8 < sizeof(none.root));
        memcpy(none.root + k, "/absent", 8);
        assert_int_equal(attest(&none, "e1", nonce, 32, &ev), VMESH_ERR_UNSUPPORTED);
        assert_non_null(strstr(vmesh_err_detail(), "not a confidential VM with configfs-tsm"));
    }
    /* a fresh entry: the attester creates it, but nothing answers (no kernel) */
    assert_int_equal(attest(&t, "e2", nonce, 32, &ev), VMESH_ERR_IO);
    tree_free(&t);

    vmesh_rv_store_free(rv);
    for (int i = 0; i < 3; i++)
        vmesh_buf_free(&d[i]);
    vmesh_buf_free(&aux);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&got);
    X509_free(ark);
    X509_free(ask);
    X509_free(vcek);
    vmesh_crypto_key_free(ark_k);
    vmesh_crypto_key_free(ask_k);
    vmesh_crypto_key_free(vcek_k);
}

static void test_tdx(void **state)
{
    vmesh_key *root_k, *pck_k, *att_k;
    X509 *root, *pck;
    char *p1, *p2, chain[8192], fp[65];
    vmesh_tdx_quote_spec s;
    vmesh_buf q = {0}, ev = {0};
    uint8_t nonce[32];
    tree t;
    vmesh_rv_store *rv = NULL;
    vmesh_rv_env env = {"tdx", (const uint8_t *)"tdx", 3, NULL, 0};
    vmesh_appraisal a;
    /* minimal SGX extension: TCB {comp01 svn 1}, PCE-ID 0000, FMSPC 00..00 */
    static const uint8_t sgx[] = {
        0x30, 0x4a, 0x30, 0x20, 0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x02, 0x30, 0x12,
        0x30, 0x10, 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x02, 0x01, 0x02, 0x01, 0x01,
        0x30, 0x10, 0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x03, 0x04, 0x02, 0x00, 0x00,
        0x30, 0x14, 0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04, 0x04, 0x06, 0, 0, 0, 0, 0, 0};
    tp_ext e = {"1.2.840.113741.1.13.1", sgx, sizeof(sgx)};

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &root_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &pck_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &att_k), VMESH_OK);
    root = tp_cert("Test SGX Root CA", root_k, root_k, NULL, true, NULL, 0, 0, 0);
    pck = tp_cert("Intel SGX PCK Certificate", pck_k, root_k, root, false, &e, 1, 0, 0);
    tp_fp_hex(root, fp);
    p1 = tp_pem(pck);
    p2 = tp_pem(root);
    snprintf(chain, sizeof(chain), "%s%s", p1, p2);
    memset(nonce, 0x6e, 32);
    memset(&s, 0, sizeof(s));
    s.version = 4;
    memset(s.body + VMESH_TDX_BODY_MRTD, 0x7d, 48);
    memcpy(s.body + VMESH_TDX_BODY_REPORT_DATA, nonce, 32);
    s.pck_chain = chain;
    assert_int_equal(vmesh_tdx_quote_build(&s, att_k, pck_k, &q), VMESH_OK);
    tree_init(&t, "tdx_guest");
    put(t.entry, "outblob", q.data, q.len);
    assert_int_equal(attest(&t, "e1", nonce, 32, &ev), VMESH_OK);
    assert_true(vmesh_scheme_tsm.detect(ev.data, ev.len));

    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    assert_int_equal(vmesh_rv_add_attr(rv, &env, "root-sha256", fp), VMESH_OK);
    vmesh_rv_store_freeze(rv);
    assert_int_equal(appraise(&ev, rv, nonce, &a), VMESH_OK);
    /* genuine, but no collateral (TCB unknown) and no MRTD reference value */
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    vmesh_appraisal_free(&a);
    /* the wrapper refuses other media types; the inner type must be known */
    {
        vmesh_buf bad = {0};

        assert_int_equal(vmesh_tsm_cmw_encode("application/psa-attestation-token", q.data, q.len, &bad), VMESH_OK);
        assert_false(vmesh_scheme_tsm.detect(bad.data, bad.len));
        assert_int_equal(appraise(&bad, rv, nonce, &a), VMESH_ERR_UNSUPPORTED);
        vmesh_appraisal_free(&a);
        vmesh_buf_free(&bad);
    }
    tree_free(&t);
    vmesh_rv_store_free(rv);
    free(p1);
    free(p2);
    vmesh_buf_free(&q);
    vmesh_buf_free(&ev);
    X509_free(root);
    X509_free(pck);
    vmesh_crypto_key_free(root_k);
    vmesh_crypto_key_free(pck_k);
    vmesh_crypto_key_free(att_k);
}

/* --ta for the tsm wrapper goes to both inner schemes. */
static void test_ta_for_tsm(void **state)
{
    vmesh_rv_store *rv = NULL;
    const char *v[4];
    static const char tcb[] = "{\"tcbInfo\":{\"id\":\"TDX\"},\"signature\":\"00\"}";

    (void)state;
    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    assert_int_equal(vmesh_ccpki_ta_load(rv, "tsm", (const uint8_t *)tcb, sizeof(tcb) - 1, "t"), VMESH_OK);
    assert_int_equal(vmesh_rv_find_attrs(rv, "tdx", (const uint8_t *)"tdx", 3, "collateral", v, 4), 1);
    assert_int_equal(vmesh_rv_find_attrs(rv, "sev-snp", (const uint8_t *)"sev-snp", 7, "collateral", v, 4), 1);
    assert_int_equal(vmesh_ccpki_ta_load(rv, "tdx", (const uint8_t *)"junk", 4, "junk.pem"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "trust anchor junk.pem is not a certificate"));
    vmesh_rv_store_free(rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snp),
        cmocka_unit_test(test_tdx),
        cmocka_unit_test(test_ta_for_tsm),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
