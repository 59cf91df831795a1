/* cc.tdx: the tdx scheme against the production TDX v4 quote of
 * ../shared/vectors/tdx (skipped when absent), its TCB Info / QE Identity
 * collateral (parsed as served; for the signature, re-signed by a generated
 * "Intel SGX TCB Signing" test key under a pinned test root, since the
 * vectors lack Intel's TCB signing certificate), and quotes v4 / v5 this
 * test builds with a generated PCK chain and attestation key. */
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
#include "vmesh/tdx.h"

#include "cc_testpki.h"

#define AT_2023_07_01 1688169600

static const vmesh_rv_env tdx_env = {"tdx", (const uint8_t *)"tdx", 3, NULL, 0};

static const char *vectors(void)
{
    const char *v = getenv("VMESH_VECTORS");
    char path[1024];

    if (v == NULL)
        return NULL;
    snprintf(path, sizeof(path), "%s/tdx/tdx_prod_quote_SPR_E4.dat", v);
    return access(path, R_OK) == 0 ? v : NULL;
}

static bool vread(const char *file, vmesh_buf *b)
{
    char p[1100];

    snprintf(p, sizeof(p), "%s/tdx/%s", vectors(), file);
    return tp_read(p, b);
}

#define NEED_VECTORS()                                                                                      \
    do {                                                                                                    \
        if (vectors() == NULL) {                                                                            \
            print_message("skipped: VMESH_VECTORS/tdx absent\n");                                           \
            skip();                                                                                         \
        }                                                                                                   \
    } while (0)

static void add_attr(vmesh_rv_store *s, const char *name, const char *value)
{
    assert_int_equal(vmesh_rv_add_attr(s, &tdx_env, name, value), VMESH_OK);
}

static void add_meas(vmesh_rv_store *s, const char *name, const uint8_t *v)
{
    vmesh_rv_measurement m = {name, NULL, NULL, 0, VMESH_HASH_SHA384, v, 48};

    assert_int_equal(vmesh_rv_add_measurement(s, &tdx_env, &m), VMESH_OK);
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
    return vmesh_scheme_tdx.appraise(&in, a);
}

/* ---- a test TCB signing key that re-signs collateral --------------------------- */

typedef struct {
    vmesh_key *root_k, *sign_k;
    X509 *root, *sign;
    char fp[65];
} signer;

static void signer_init(signer *s)
{
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &s->root_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &s->sign_k), VMESH_OK);
    s->root = tp_cert("Test TCB Root", s->root_k, s->root_k, NULL, true, NULL, 0, 0, 0);
    s->sign = tp_cert("Intel SGX TCB Signing", s->sign_k, s->root_k, s->root, false, NULL, 0, 0, 0);
    tp_fp_hex(s->root, s->fp);
}

static void signer_free(signer *s)
{
    X509_free(s->root);
    X509_free(s->sign);
    vmesh_crypto_key_free(s->root_k);
    vmesh_crypto_key_free(s->sign_k);
}

static void signer_add(const signer *s, vmesh_rv_store *rv)
{
    char *pem;

    add_attr(rv, "root-sha256", s->fp);
    pem = tp_pem(s->root);
    add_attr(rv, "ta-pem", pem);
    free(pem);
    pem = tp_pem(s->sign);
    add_attr(rv, "ta-pem", pem);
    free(pem);
}

/* {"<key>":<body>,"signature":"<hex r||s over body>"} */
static char *resign(const signer *s, const char *key, const char *body)
{
    vmesh_buf sig = {0}, hex = {0};
    char *out;
    size_t n;

    assert_int_equal(vmesh_crypto_sign(s->sign_k, (const uint8_t *)body, strlen(body), &sig), VMESH_OK);
    assert_int_equal(vmesh_hex_encode(sig.data, sig.len, &hex), VMESH_OK);
    n = strlen(key) + strlen(body) + hex.len + 64;
    out = malloc(n);
    snprintf(out, n, "{\"%s\":%s,\"signature\":\"%.*s\"}", key, body, (int)hex.len, (const char *)hex.data);
    vmesh_buf_free(&sig);
    vmesh_buf_free(&hex);
    return out;
}

/* The text of the signed member of a PCS response, as a new string. */
static char *member_text(const char *doc, const char *key)
{
    char pat[64];
    const char *a, *b;

    snprintf(pat, sizeof(pat), "{\"%s\":", key);
    a = strstr(doc, pat);
    b = strstr(doc, ",\"signature\"");
    assert_non_null(a);
    assert_non_null(b);
    a += strlen(pat);
    return strndup(a, (size_t)(b - a));
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t n = strlen(s) * 2 + 64, fl = strlen(from), tl = strlen(to), o = 0;
    char *out = malloc(n);

    while (*s) {
        if (strncmp(s, from, fl) == 0) {
            memcpy(out + o, to, tl);
            o += tl;
            s += fl;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- the production quote -------------------------------------------------------- */

static void test_vector_parse(void **state)
{
    vmesh_buf b = {0};
    vmesh_tdx_quote q;
    vmesh_tdx_collateral *c = NULL;
    uint8_t fmspc[6];
    static const uint8_t want_fmspc[6] = {0x50, 0x80, 0x6f, 0, 0, 0};

    (void)state;
    NEED_VECTORS();
    assert_true(vread("tdx_prod_quote_SPR_E4.dat", &b));
    assert_int_equal(vmesh_tdx_quote_parse(b.data, b.len, &q), VMESH_OK);
    assert_int_equal(q.version, 4);
    assert_int_equal(q.body_type, 2);
    assert_int_equal(q.tee_tcb_svn[0], 3);
    assert_int_equal(q.tee_tcb_svn[2], 4);
    assert_int_equal(q.mrtd[0], 0x63);
    assert_int_equal(q.td_attributes[3], 0x40); /* SEPT_VE_DISABLE, no debug */
    assert_int_equal(q.qe_auth_len, 32);
    assert_int_equal(q.pck_chain_len, 3677);
    assert_int_equal(q.trailing, 39);
    assert_true(vmesh_scheme_tdx.detect(b.data, b.len));
    vmesh_buf_free(&b);

    assert_true(vread("sample_tcbInfo_response", &b));
    assert_int_equal(vmesh_tdx_collateral_parse((const char *)b.data, b.len, &c), VMESH_OK);
    assert_true(vmesh_tdx_collateral_is_tcb_info(c));
    assert_true(vmesh_tdx_collateral_fmspc(c, fmspc));
    assert_memory_equal(fmspc, want_fmspc, 6);
    vmesh_tdx_collateral_free(c);
    vmesh_buf_free(&b);
    assert_true(vread("sample_qeIdentity_response", &b));
    assert_int_equal(vmesh_tdx_collateral_parse((const char *)b.data, b.len, &c), VMESH_OK);
    assert_false(vmesh_tdx_collateral_is_tcb_info(c));
    vmesh_tdx_collateral_free(c);
    vmesh_buf_free(&b);
}

static vmesh_rv_store *vec_rv(const uint8_t *mrtd, const signer *s, const char *tcb_info, const char *qe_id,
                              const char *crl)
{
    vmesh_rv_store *rv = NULL;
    vmesh_buf b = {0};

    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    if (mrtd != NULL)
        add_meas(rv, "mrtd", mrtd);
    if (s != NULL)
        signer_add(s, rv);
    if (tcb_info != NULL)
        add_attr(rv, "collateral", tcb_info);
    if (qe_id != NULL)
        add_attr(rv, "collateral", qe_id);
    if (crl != NULL) {
        char p[1100];

        snprintf(p, sizeof(p), "%s/tdx/%s", vectors(), crl);
        assert_int_equal(vmesh_ccpki_ta_load_file(rv, "tdx", p), VMESH_OK);
    }
    vmesh_buf_free(&b);
    vmesh_rv_store_freeze(rv);
    return rv;
}

static void test_vector_verifies(void **state)
{
    vmesh_buf b = {0};
    vmesh_tdx_quote q;
    vmesh_appraisal a;
    vmesh_rv_store *rv;

    (void)state;
    NEED_VECTORS();
    assert_true(vread("tdx_prod_quote_SPR_E4.dat", &b));
    assert_int_equal(vmesh_tdx_quote_parse(b.data, b.len, &q), VMESH_OK);
    rv = vec_rv(q.mrtd, NULL, NULL, NULL, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, q.report_data, 64, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], 2);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 2);
    /* no collateral: TCB status unknown */
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    assert_string_equal(a.reason, "TCB status unknown: no valid TCB Info (for this FMSPC) collateral");
    assert_int_equal(a.nonce.len, 64);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    /* the CRLs of the vectors (PCK Platform CA, root): the PCK is not revoked */
    rv = vec_rv(q.mrtd, NULL, NULL, NULL, "pckcrl");
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    vmesh_appraisal_free(&a);
    /* ... but the PCK CRL's nextUpdate (2023-07-08) has passed on 2023-08-01 */
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, 1690848000, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_non_null(strstr(a.reason, "CRL has expired"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    /* another MRTD, another nonce, after the PCK certificate expired */
    rv = vec_rv(NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_EXECUTABLES], 33);
    vmesh_appraisal_free(&a);
    assert_int_equal(appraise(b.data, b.len, rv, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32,
                              AT_2023_07_01, &a),
                     VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 99);
    assert_non_null(strstr(a.reason, "REPORTDATA does not carry the expected nonce"));
    vmesh_appraisal_free(&a);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, 1885000000 /* 2029-09-25 */, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_non_null(strstr(a.reason, "expired"));
    vmesh_appraisal_free(&a);
    /* Intel's root unpinned */
    vmesh_rv_store_free(rv);
    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    add_attr(rv, "builtin-roots", "off");
    vmesh_rv_store_freeze(rv);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_non_null(strstr(a.reason, "no pinned root"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&b);
}

static void test_vector_tampered(void **state)
{
    vmesh_buf b = {0};
    vmesh_appraisal a;
    vmesh_rv_store *rv;
    struct {
        size_t off;
        const char *reason;
    } cases[] = {
        {48 + VMESH_TDX_BODY_MRTD, "quote signature does not verify"},
        {48 + VMESH_TDX_BODY_REPORT_DATA + 63, "quote signature does not verify"},
        {636 + 10, "quote signature does not verify"},                    /* the signature */
        {636 + 128 + 6 + 1, "QE report signature does not verify"},        /* QE report CPUSVN */
        {636 + 128 + 6 + 384 + 5, "QE report signature does not verify"}, /* QE report signature */
        {636 + 128 + 6 + 384 + 64 + 2 + 3, "does not bind the attestation key"}, /* QE auth data */
    };

    (void)state;
    NEED_VECTORS();
    assert_true(vread("tdx_prod_quote_SPR_E4.dat", &b));
    rv = vec_rv(NULL, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b.data[cases[i].off] ^= 1;
        assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
        for (int c = 0; c < VMESH_TV__COUNT; c++)
            assert_int_equal(a.tv.v[c], 99);
        if (strstr(a.reason, cases[i].reason) == NULL)
            fail_msg("case %zu: reason \"%s\"", i, a.reason);
        vmesh_appraisal_free(&a);
        b.data[cases[i].off] ^= 1;
    }
    /* a length field that lies */
    b.data[632] ^= 0x10;
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_ERR_PARSE);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&b);
}

/* The vector collateral re-signed by the test TCB signing key. */
static void test_vector_collateral(void **state)
{
    vmesh_buf b = {0}, ti = {0}, qi = {0};
    vmesh_tdx_quote q;
    vmesh_appraisal a;
    vmesh_rv_store *rv;
    signer s;
    char *tbody, *qbody, *tdoc, *qdoc, *tmod, *tmoddoc, *tbad;

    (void)state;
    NEED_VECTORS();
    signer_init(&s);
    assert_true(vread("tdx_prod_quote_SPR_E4.dat", &b));
    assert_int_equal(vmesh_tdx_quote_parse(b.data, b.len, &q), VMESH_OK);
    assert_true(vread("sample_tcbInfo_response", &ti));
    assert_true(vread("sample_qeIdentity_response", &qi));
    assert_int_equal(vmesh_buf_terminate(&ti), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&qi), VMESH_OK);
    tbody = member_text((const char *)ti.data, "tcbInfo");
    qbody = member_text((const char *)qi.data, "enclaveIdentity");
    tdoc = resign(&s, "tcbInfo", tbody);
    qdoc = resign(&s, "enclaveIdentity", qbody);

    /* as published: TEE_TCB_SVN 03 00 04 is below every level's TDX components (3, 0, 5) */
    rv = vec_rv(q.mrtd, &s, tdoc, qdoc, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 96);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 2);
    assert_string_equal(a.reason, "no TCB level of the TCB Info matches the platform (older than every listed level)");
    vmesh_appraisal_free(&a);
    /* after nextUpdate (2023-07-08 for the QE Identity): not usable */
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, 1689000000 /* 2023-07-10 */, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 96); /* the TCB Info still says 96 */
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    /* every level's components lowered to 0 (the vector platform's PCK SVNs are 3,3,2,2,2,1,0,2 and
     * TEE_TCB_SVN 3,0,4: below the published levels): the first level, UpToDate, matches */
    tmod = strdup(tbody);
    for (char d = '1'; d <= '9'; d++) {
        char from[16], *t;

        snprintf(from, sizeof(from), "{\"svn\":%c", d);
        t = replace_all(tmod, from, "{\"svn\":0");
        free(tmod);
        tmod = t;
    }
    assert_string_not_equal(tmod, tbody);
    tmoddoc = resign(&s, "tcbInfo", tmod);
    rv = vec_rv(q.mrtd, &s, tmoddoc, qdoc, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 2);
    assert_int_equal(a.status, VMESH_TIER_AFFIRMING);
    vmesh_appraisal_free(&a);
    /* QE Identity expired on 2023-07-10: status unknown, warning */
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, 1689000000, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    assert_non_null(strstr(a.reason, "no valid QE Identity collateral: TDX QE Identity is valid from issueDate"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    free(tmoddoc);

    /* OutOfDate / SWHardeningNeeded mapping */
    tbad = replace_all(tmod, "UpToDate", "SWHardeningNeeded");
    tmoddoc = resign(&s, "tcbInfo", tbad);
    rv = vec_rv(q.mrtd, &s, tmoddoc, qdoc, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    assert_string_equal(a.reason, "TDX TCB level 0 of the TCB Info (tcbDate 2023-02-15T00:00:00Z): SWHardeningNeeded");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    free(tmoddoc);
    free(tbad);

    /* a signature that does not verify (signed by the root key, not the TCB signing key) */
    {
        signer other = s;

        other.sign_k = s.root_k;
        tmoddoc = resign(&other, "tcbInfo", tmod);
    }
    rv = vec_rv(q.mrtd, &s, tmoddoc, qdoc, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    assert_non_null(strstr(a.reason, "the signature does not verify with the TCB signing key"));
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    free(tmoddoc);

    /* the published signatures do not verify with the test key */
    rv = vec_rv(q.mrtd, &s, (const char *)ti.data, (const char *)qi.data, NULL);
    assert_int_equal(appraise(b.data, b.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);

    free(tmod);
    free(tbody);
    free(qbody);
    free(tdoc);
    free(qdoc);
    signer_free(&s);
    vmesh_buf_free(&b);
    vmesh_buf_free(&ti);
    vmesh_buf_free(&qi);
}

/* ---- generated quotes ------------------------------------------------------------ */

/* DER helpers for the PCK SGX extension */
static void der(vmesh_buf *b, uint8_t tag, const uint8_t *p, size_t n)
{
    uint8_t h[4] = {tag};
    size_t hl = 2;

    if (n < 128) {
        h[1] = (uint8_t)n;
    } else if (n < 256) {
        h[1] = 0x81;
        h[2] = (uint8_t)n;
        hl = 3;
    } else {
        h[1] = 0x82;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    }
    assert_int_equal(vmesh_buf_append(b, h, hl), VMESH_OK);
    assert_int_equal(vmesh_buf_append(b, p, n), VMESH_OK);
}

static void oid_pair(vmesh_buf *out, const uint8_t *sub, size_t nsub, uint8_t vtag, const uint8_t *v, size_t vn)
{
    static const uint8_t base[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
    vmesh_buf oid = {0}, pair = {0}, tmp = {0};

    assert_int_equal(vmesh_buf_append(&tmp, base, sizeof(base)), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&tmp, sub, nsub), VMESH_OK);
    der(&oid, 0x06, tmp.data, tmp.len);
    assert_int_equal(vmesh_buf_append(&pair, oid.data, oid.len), VMESH_OK);
    der(&pair, vtag, v, vn);
    der(out, 0x30, pair.data, pair.len);
    vmesh_buf_free(&oid);
    vmesh_buf_free(&pair);
    vmesh_buf_free(&tmp);
}

static void sgx_ext(vmesh_buf *out, uint8_t svn, uint8_t pcesvn)
{
    vmesh_buf tcb = {0}, all = {0};
    uint8_t ppid[16] = {0}, cpusvn[16], pceid[2] = {0, 0}, fmspc[6] = {0x00, 0x90, 0x6e, 0xd5, 0, 0};

    memset(cpusvn, svn, 16);
    oid_pair(&all, (const uint8_t[]){1}, 1, 0x04, ppid, 16);
    for (uint8_t i = 1; i <= 16; i++)
        oid_pair(&tcb, (const uint8_t[]){2, i}, 2, 0x02, &svn, 1);
    oid_pair(&tcb, (const uint8_t[]){2, 17}, 2, 0x02, &pcesvn, 1);
    oid_pair(&tcb, (const uint8_t[]){2, 18}, 2, 0x04, cpusvn, 16);
    oid_pair(&all, (const uint8_t[]){2}, 1, 0x30, tcb.data, tcb.len);
    oid_pair(&all, (const uint8_t[]){3}, 1, 0x04, pceid, 2);
    oid_pair(&all, (const uint8_t[]){4}, 1, 0x04, fmspc, 6);
    der(out, 0x30, all.data, all.len);
    vmesh_buf_free(&tcb);
    vmesh_buf_free(&all);
}

typedef struct {
    vmesh_key *root_k, *ca_k, *pck_k, *att_k;
    X509 *root, *ca, *pck;
    char fp[65];
    char *chain;
    signer tcb;
} gen;

static void gen_init(gen *g, uint8_t svn)
{
    vmesh_buf ext = {0};
    tp_ext e;
    char *p1, *p2, *p3;

    memset(g, 0, sizeof(*g));
    sgx_ext(&ext, svn, 11);
    e.oid = "1.2.840.113741.1.13.1";
    e.der = ext.data;
    e.len = ext.len;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &g->root_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &g->ca_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &g->pck_k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &g->att_k), VMESH_OK);
    g->root = tp_cert("Test SGX Root CA", g->root_k, g->root_k, NULL, true, NULL, 0, 0, 0);
    g->ca = tp_cert("Test SGX PCK Platform CA", g->ca_k, g->root_k, g->root, true, NULL, 0, 0, 0);
    g->pck = tp_cert("Intel SGX PCK Certificate", g->pck_k, g->ca_k, g->ca, false, &e, 1, 0, 0);
    tp_fp_hex(g->root, g->fp);
    p1 = tp_pem(g->pck);
    p2 = tp_pem(g->ca);
    p3 = tp_pem(g->root);
    g->chain = malloc(strlen(p1) + strlen(p2) + strlen(p3) + 1);
    snprintf(g->chain, strlen(p1) + strlen(p2) + strlen(p3) + 1, "%s%s%s", p1, p2, p3);
    free(p1);
    free(p2);
    free(p3);
    vmesh_buf_free(&ext);
    signer_init(&g->tcb);
}

static void gen_free(gen *g)
{
    X509_free(g->root);
    X509_free(g->ca);
    X509_free(g->pck);
    vmesh_crypto_key_free(g->root_k);
    vmesh_crypto_key_free(g->ca_k);
    vmesh_crypto_key_free(g->pck_k);
    vmesh_crypto_key_free(g->att_k);
    free(g->chain);
    signer_free(&g->tcb);
}

static const uint8_t qe_mrsigner[32] = {0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34,
                                        0xa7, 0xfc, 0x43, 0xed, 0x03, 0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba,
                                        0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5};

static void gen_quote(const gen *g, uint16_t version, uint16_t body_type, uint64_t td_attr, vmesh_buf *out)
{
    vmesh_tdx_quote_spec s;
    static const uint8_t auth[32] = {1, 2, 3};

    memset(&s, 0, sizeof(s));
    s.version = version;
    s.body_type = body_type;
    s.body[VMESH_TDX_BODY_TEE_TCB_SVN] = 3;
    s.body[VMESH_TDX_BODY_TEE_TCB_SVN + 2] = 5;
    for (int i = 0; i < 8; i++)
        s.body[VMESH_TDX_BODY_TD_ATTRIBUTES + i] = (uint8_t)(td_attr >> (8 * i));
    memset(s.body + VMESH_TDX_BODY_MRTD, 0x7d, 48);
    memset(s.body + VMESH_TDX_BODY_MRCONFIGID, 0xc0, 48);
    memset(s.body + VMESH_TDX_BODY_RTMR0, 0x10, 48);
    memset(s.body + VMESH_TDX_BODY_REPORT_DATA, 0x5a, 32);
    if (body_type == 3)
        memset(s.body + 600, 0x5e, 48);
    /* QE report: Intel's TD_QE identity (MRSIGNER, ISVPRODID 2, ISVSVN 4, ATTRIBUTES 0x11) */
    s.qe_report[48] = 0x11;
    memcpy(s.qe_report + 128, qe_mrsigner, 32);
    s.qe_report[256] = 2;
    s.qe_report[258] = 4;
    s.qe_auth = auth;
    s.qe_auth_len = sizeof(auth);
    s.pck_chain = g->chain;
    assert_int_equal(vmesh_tdx_quote_build(&s, g->att_k, g->pck_k, out), VMESH_OK);
}

/* TCB Info for the generated platform: level 0 needs SGX SVNs 5 (UpToDate),
 * level 1 needs 0 (OutOfDate). */
static char *gen_tcb_info(const gen *g)
{
    char body[4096], sgx5[512] = "", sgx0[512] = "", tdx[512] = "";
    size_t o5 = 0, o0 = 0, ot = 0;

    for (int i = 0; i < 16; i++) {
        o5 += (size_t)snprintf(sgx5 + o5, sizeof(sgx5) - o5, "%s{\"svn\":5}", i ? "," : "");
        o0 += (size_t)snprintf(sgx0 + o0, sizeof(sgx0) - o0, "%s{\"svn\":0}", i ? "," : "");
        ot += (size_t)snprintf(tdx + ot, sizeof(tdx) - ot, "%s{\"svn\":%d}", i ? "," : "", i == 0 ? 3 : i == 2 ? 5 : 0);
    }
    snprintf(body, sizeof(body),
             "{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2023-06-18T08:42:58Z\",\"nextUpdate\":\"2023-07-18T08:42:58Z\","
             "\"fmspc\":\"00906ED50000\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":15,"
             "\"tdxModule\":{\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
             "\"tcbLevels\":[{\"tcb\":{\"sgxtcbcomponents\":[%s],\"pcesvn\":11,\"tdxtcbcomponents\":[%s]},"
             "\"tcbDate\":\"2023-02-15T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
             "{\"tcb\":{\"sgxtcbcomponents\":[%s],\"pcesvn\":5,\"tdxtcbcomponents\":[%s]},"
             "\"tcbDate\":\"2018-01-04T00:00:00Z\",\"tcbStatus\":\"OutOfDate\"}]}",
             0, sgx5, tdx, sgx0, tdx);
    return resign(&g->tcb, "tcbInfo", body);
}

static char *gen_qe_identity(const gen *g)
{
    const char *body =
        "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"2023-06-08T07:24:59Z\",\"nextUpdate\":\"2023-07-08T07:24:59Z\","
        "\"tcbEvaluationDataNumber\":15,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
        "\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\","
        "\"mrsigner\":\"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5\",\"isvprodid\":2,"
        "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2023-02-15T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}]}";

    return resign(&g->tcb, "enclaveIdentity", body);
}

static vmesh_rv_store *gen_rv(const gen *g, bool collateral, const char *attr, const char *value)
{
    vmesh_rv_store *rv = NULL;
    uint8_t mrtd[48], cfg[48], rtmr[48];
    char *t, *qe;

    memset(mrtd, 0x7d, 48);
    memset(cfg, 0xc0, 48);
    memset(rtmr, 0x10, 48);
    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    add_attr(rv, "root-sha256", g->fp);
    add_meas(rv, "mrtd", mrtd);
    add_meas(rv, "mrconfigid", cfg);
    add_meas(rv, "rtmr0", rtmr);
    if (collateral) {
        signer_add(&g->tcb, rv);
        t = gen_tcb_info(g);
        qe = gen_qe_identity(g);
        add_attr(rv, "collateral", t);
        add_attr(rv, "collateral", qe);
        free(t);
        free(qe);
    }
    if (attr != NULL)
        add_attr(rv, attr, value);
    vmesh_rv_store_freeze(rv);
    return rv;
}

static void test_gen_v4_v5(void **state)
{
    gen g;
    vmesh_buf q = {0};
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    vmesh_tdx_quote dq;
    uint8_t nonce[32];
    static const uint16_t versions[][2] = {{4, 2}, {5, 2}, {5, 3}};

    (void)state;
    gen_init(&g, 5);
    memset(nonce, 0x5a, 32);
    rv = gen_rv(&g, true, NULL, NULL);
    for (size_t i = 0; i < 3; i++) {
        gen_quote(&g, versions[i][0], versions[i][1], 0x10000000ULL, &q);
        assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len, &dq), VMESH_OK);
        assert_int_equal(dq.version, versions[i][0]);
        assert_int_equal(dq.body_type, versions[i][1]);
        assert_int_equal(dq.trailing, 0);
        if (versions[i][1] == 3)
            assert_int_equal(dq.mrservicetd[0], 0x5e);
        assert_true(vmesh_scheme_tdx.detect(q.data, q.len));
        if (appraise(q.data, q.len, rv, nonce, 32, AT_2023_07_01, &a) != VMESH_OK)
            fail_msg("v%u/%u: %s", versions[i][0], versions[i][1], vmesh_err_detail());
        if (a.status != VMESH_TIER_AFFIRMING)
            fail_msg("v%u/%u: %s", versions[i][0], versions[i][1], a.reason);
        for (int c = 0; c < VMESH_TV__COUNT; c++)
            assert_int_equal(a.tv.v[c], c == VMESH_TV_FILE_SYSTEM || c == VMESH_TV_STORAGE_OPAQUE ||
                                                c == VMESH_TV_SOURCED_DATA
                                            ? 0
                                            : 2);
        assert_int_equal(a.nonce.len, 32);
        vmesh_appraisal_free(&a);
    }
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&q);
    gen_free(&g);
}

static void test_gen_refusals(void **state)
{
    gen g, old;
    vmesh_buf q = {0};
    vmesh_rv_store *rv;
    vmesh_appraisal a;
    uint8_t nonce[32];

    (void)state;
    gen_init(&g, 5);
    memset(nonce, 0x5b, 32);
    /* REPORTDATA mismatch */
    rv = gen_rv(&g, true, NULL, NULL);
    gen_quote(&g, 4, 2, 0, &q);
    assert_int_equal(appraise(q.data, q.len, rv, nonce, 32, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_INSTANCE_IDENTITY], 99);
    vmesh_appraisal_free(&a);
    /* debug TD refused by default */
    gen_quote(&g, 4, 2, VMESH_TDX_ATTR_DEBUG, &q);
    assert_int_equal(appraise(q.data, q.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 96);
    assert_int_equal(a.tv.v[VMESH_TV_RUNTIME_OPAQUE], 96);
    assert_string_equal(a.reason, "the TD is debuggable (TDATTRIBUTES bit 0); refused unless the reference values set "
                                  "policy-debug-allowed");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    rv = gen_rv(&g, true, "policy-debug-allowed", "true");
    assert_int_equal(appraise(q.data, q.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 32);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* TD attributes not accepted */
    rv = gen_rv(&g, true, "td-attributes", "0x10000000");
    assert_int_equal(appraise(q.data, q.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_CONFIGURATION], 96);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* the PCK key of another chain signed the QE report */
    gen_init(&old, 3);
    {
        vmesh_key *keep = g.pck_k;

        g.pck_k = old.pck_k;
        gen_quote(&g, 4, 2, 0, &q);
        g.pck_k = keep;
    }
    rv = gen_rv(&g, true, NULL, NULL);
    assert_int_equal(appraise(q.data, q.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 99);
    assert_string_equal(a.reason, "the QE report signature does not verify with the PCK certificate");
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    /* TCB out of date: a platform whose PCK SVNs are 3 matches only the OutOfDate level */
    rv = gen_rv(&old, true, NULL, NULL);
    gen_quote(&old, 4, 2, 0, &q);
    assert_int_equal(appraise(q.data, q.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 96);
    assert_int_equal(a.status, VMESH_TIER_CONTRAINDICATED);
    assert_string_equal(a.reason, "TDX TCB level 1 of the TCB Info (tcbDate 2018-01-04T00:00:00Z): OutOfDate");
    vmesh_appraisal_free(&a);
    /* no collateral: warning */
    vmesh_rv_store_free(rv);
    rv = gen_rv(&old, false, NULL, NULL);
    assert_int_equal(appraise(q.data, q.len, rv, NULL, 0, AT_2023_07_01, &a), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_HARDWARE], 32);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    vmesh_appraisal_free(&a);
    vmesh_rv_store_free(rv);
    gen_free(&old);
    vmesh_buf_free(&q);
    gen_free(&g);
}

static void test_malformed(void **state)
{
    gen g;
    vmesh_buf q = {0};
    vmesh_tdx_quote d;
    vmesh_tdx_collateral *c = NULL;

    (void)state;
    gen_init(&g, 5);
    gen_quote(&g, 4, 2, 0, &q);
    assert_int_equal(vmesh_tdx_quote_parse(q.data, 100, &d), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len - 1, &d), VMESH_ERR_PARSE);
    q.data[0] = 3;
    assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len, &d), VMESH_ERR_UNSUPPORTED);
    q.data[0] = 4;
    q.data[4] = 0;
    assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len, &d), VMESH_ERR_UNSUPPORTED);
    q.data[4] = 0x81;
    q.data[636 + 128] = 5; /* certification data type */
    assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len, &d), VMESH_ERR_UNSUPPORTED);
    q.data[636 + 128] = 6;
    assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len, &d), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&q, "0123456789", 10), VMESH_OK);
    assert_int_equal(vmesh_tdx_quote_parse(q.data, q.len, &d), VMESH_OK);
    assert_int_equal(d.trailing, 10);

    assert_int_equal(vmesh_tdx_collateral_parse("{}", 2, &c), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_tdx_collateral_parse("{\"tcbInfo\":{},\"signature\":\"00\"}", 31, &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "signature is not 64 bytes"));
    assert_string_equal(vmesh_tdx_tcb_status_name(VMESH_TDX_TCB_REVOKED), "Revoked");
    assert_int_equal(vmesh_tdx_tcb_claim(VMESH_TDX_TCB_CONFIGURATION_NEEDED), 32);
    assert_int_equal(vmesh_tdx_tcb_claim(VMESH_TDX_TCB_REVOKED), 96);
    assert_int_equal(vmesh_tdx_tcb_claim(VMESH_TDX_TCB_UNKNOWN), 96);
    vmesh_buf_free(&q);
    gen_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_parse),   cmocka_unit_test(test_vector_verifies),
        cmocka_unit_test(test_vector_tampered), cmocka_unit_test(test_vector_collateral),
        cmocka_unit_test(test_gen_v4_v5),      cmocka_unit_test(test_gen_refusals),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
