/*
 * The "tdx" scheme: appraisal of an Intel TDX quote into an AR4SI
 * trustworthiness vector (decisions and sources in docs/CC.md):
 *
 *  - malformed quote, trust anchors or collateral: an error, no result;
 *  - quote signature not by the attestation key, QE report not signed by
 *    the PCK key or not binding the attestation key (REPORTDATA =
 *    SHA-256(attestation key || QE auth data) || 32 zero bytes), PCK chain
 *    not to a pinned Intel SGX Root CA at the verification time (CRLs when
 *    given), or REPORTDATA not the expected nonce: every claim 99;
 *  - otherwise hardware from the TCB status of verified collateral (TCB
 *    Info for the PCK's FMSPC and QE Identity, the worse of the two):
 *    UpToDate 2, SWHardeningNeeded / ConfigurationNeeded 32, OutOfDate /
 *    Revoked / no matching level 96; 32 when no valid collateral is
 *    available (status unknown); instance-identity 2; runtime-opaque 2
 *    (96 with TD debug, 32 when the reference values accept it);
 *    configuration 2 / 32 / 96 (debug, MRCONFIGID, MROWNER,
 *    MROWNERCONFIG, TD attributes, XFAM); executables 2 when MRTD matches
 *    and every RTMR / MRSEAM with reference values matches, else 33.
 * It must never report a better vector than the evidence supports and
 * never use collateral whose signature and validity were not checked.
 */
#include "vmesh/tdx.h"
#include "vmesh/ccpki.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tdx_media_types[] = {
    VMESH_TDX_MEDIA_TYPE,
    NULL,
};

/* SHA-256 of the DER of the Intel SGX Root CA (CN=Intel SGX Root CA,
 * valid 2018-05-21 to 2049-12-31), computed from the PCK chain embedded in
 * ../shared/vectors/tdx/tdx_prod_quote_SPR_E4.dat (docs/CC.md). */
static const char *const intel_roots[] = {
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3",
    NULL,
};

static const uint8_t tdx_class[] = VMESH_TDX_CLASS;
#define TDX_CLASS_LEN (sizeof(tdx_class) - 1)

static bool tdx_media_type_known(const char *mt)
{
    return vmesh_evidence_media_type_eq(mt, VMESH_TDX_MEDIA_TYPE);
}

static bool tdx_detect(const uint8_t *p, size_t n)
{
    vmesh_tdx_quote q;

    if (p == NULL || n < 8 || !((p[0] == 4 || p[0] == 5) && p[1] == 0 && p[2] == 2 && p[4] == 0x81))
        return false;
    return vmesh_tdx_quote_parse(p, n, &q) == VMESH_OK;
}

static void fail_all(vmesh_appraisal *out, vmesh_tv_claim c, const char *detail)
{
    vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
    vmesh_appraisal_note(out, c, VMESH_AR_CRYPTO_VALIDATION_FAILED, "%s", detail);
}

/* 0: no reference value of that name; 1: one matches; -1: none matches. */
static int match_measurement(const vmesh_rv_store *rv, const char *name, const uint8_t *v, size_t n)
{
    return vmesh_rv_match_measurement(rv, VMESH_TDX_CLASS, tdx_class, TDX_CLASS_LEN, name, v, n);
}

static size_t attrs(const vmesh_rv_store *rv, const char *name, const char **v, size_t max)
{
    size_t n;

    if (rv == NULL)
        return 0;
    n = vmesh_rv_find_attrs(rv, VMESH_TDX_CLASS, tdx_class, TDX_CLASS_LEN, name, v, max);
    return n > max ? max : n;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Accepted values of a u64 attribute: 0 none given, 1 accepted, -1 not. */
static vmesh_err attr_u64_accepts(const vmesh_rv_store *rv, const char *name, uint64_t v, int *res)
{
    return vmesh_rv_attr_u64_accepts(rv, VMESH_TDX_CLASS, tdx_class, TDX_CLASS_LEN, name, v, res);
}

static vmesh_err att_key_of(const uint8_t xy[64], vmesh_key **k)
{
    /* SubjectPublicKeyInfo of an uncompressed P-256 point (RFC 5480) */
    static const uint8_t prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                     0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
    uint8_t spki[sizeof(prefix) + 64];

    memcpy(spki, prefix, sizeof(prefix));
    memcpy(spki + sizeof(prefix), xy, 64);
    return vmesh_crypto_key_from_spki(spki, sizeof(spki), k);
}

static bool verify_with(vmesh_key *k, const uint8_t *msg, size_t n, const uint8_t *sig)
{
    return k != NULL && vmesh_crypto_verify(k, msg, n, sig, 64) == VMESH_OK;
}

/* The first certificate of a PEM chain (the PCK), through the ccpki cache. */
static X509 *first_cert(const uint8_t *pem, size_t n)
{
    vmesh_ccpki_pool *one = NULL;
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    X509 *x = NULL;

    if (b != NULL && PEM_read_bio(b, &name, &header, &data, &len) == 1 && strcmp(name, PEM_STRING_X509) == 0 &&
        vmesh_ccpki_pool_new(&one) == VMESH_OK && vmesh_ccpki_add_der(one, data, (size_t)len) == VMESH_OK) {
        x = vmesh_ccpki_at(one, 0);
        if (x != NULL && X509_up_ref(x) != 1)
            x = NULL;
    }
    vmesh_ccpki_pool_free(one);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(b);
    ERR_clear_error();
    return x;
}

static X509 *by_cn(const vmesh_ccpki_pool *pool, const char *cn)
{
    char have[96];

    for (size_t i = 0; i < vmesh_ccpki_count(pool); i++) {
        vmesh_ccpki_cn(vmesh_ccpki_at(pool, i), have, sizeof(have));
        if (strcmp(have, cn) == 0)
            return vmesh_ccpki_at(pool, i);
    }
    return NULL;
}

/* TCB status from the collateral: the worse of TCB Info and QE Identity.
 * *claim is the hardware claim; why explains anything but UpToDate. */
static vmesh_err tcb_status(const vmesh_appraisal_in *in, const vmesh_ccpki_pool *pool, const vmesh_tdx_quote *q,
                            const vmesh_tdx_pck_info *pck, int8_t *claim, char *why, size_t whyn)
{
    vmesh_err rc = VMESH_OK, vr;
    const char *docs[32];
    size_t n = attrs(in->rv, VMESH_CCPKI_ATTR_COLLATERAL, docs, 32);
    vmesh_tdx_collateral *c = NULL;
    X509 *signer = by_cn(pool, "Intel SGX TCB Signing");
    bool have_tcb = false, have_qe = false;
    char tmp[256], problem[256] = "";
    int8_t worst = 2;

    *claim = 32;
    why[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        uint8_t fmspc[6];
        vmesh_tdx_tcb_status st;
        int8_t cl;

        vmesh_tdx_collateral_free(c);
        c = NULL;
        rc = vmesh_tdx_collateral_parse(docs[i], strlen(docs[i]), &c);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "tdx collateral %zu", i);
            goto out;
        }
        if (vmesh_tdx_collateral_is_tcb_info(c) &&
            (have_tcb || !vmesh_tdx_collateral_fmspc(c, fmspc) || memcmp(fmspc, pck->fmspc, 6) != 0))
            continue;
        if (!vmesh_tdx_collateral_is_tcb_info(c) && have_qe)
            continue;
        if (signer == NULL) {
            snprintf(problem, sizeof(problem),
                     "no Intel SGX TCB Signing certificate among the trust anchors: collateral not usable");
            continue;
        }
        vr = vmesh_ccpki_verify(pool, signer, in->now, NULL);
        if (vr == VMESH_OK)
            vr = vmesh_tdx_collateral_check(c, signer, in->now);
        if (vr == VMESH_ERR_NOMEM) {
            rc = vr;
            goto out;
        }
        if (vr != VMESH_OK) {
            snprintf(problem, sizeof(problem), "%s", vmesh_err_detail());
            continue;
        }
        if (vmesh_tdx_collateral_is_tcb_info(c)) {
            vr = vmesh_tdx_tcb_info_status(c, pck, q, &st, tmp, sizeof(tmp));
            have_tcb = true;
        } else {
            vr = vmesh_tdx_qe_identity_status(c, q->qe_report, &st, tmp, sizeof(tmp));
            have_qe = true;
        }
        if (vr == VMESH_ERR_MISMATCH) {
            snprintf(tmp, sizeof(tmp), "%s", vmesh_err_detail());
            cl = 96;
        } else if (vr != VMESH_OK) {
            rc = vr;
            goto out;
        } else {
            cl = vmesh_tdx_tcb_claim(st);
        }
        if (cl > worst) {
            worst = cl;
            snprintf(why, whyn, "%s", tmp);
        }
    }
    if (!have_tcb || !have_qe) {
        snprintf(why, whyn, "TCB status unknown: no valid %s collateral%s%s",
                 !have_tcb ? "TCB Info (for this FMSPC)" : "QE Identity", problem[0] ? ": " : "", problem);
        *claim = worst > 32 ? worst : 32;
        goto out;
    }
    *claim = worst;
out:
    vmesh_tdx_collateral_free(c);
    return rc;
}

static vmesh_err put_hex(vmesh_buf *b, const char *name, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_append_u8(b, ','));
    VMESH_GUARD(vmesh_json_hex_member(b, name, p, n));
out:
    return rc;
}

static vmesh_err claims_json(const vmesh_tdx_quote *q, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    char head[160];
    int len;
    static const char *const rn[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};

    len = snprintf(head, sizeof(head), "{\"version\":%u,\"body-type\":%u,\"debug\":%s", q->version, q->body_type,
                   (q->td_attributes[0] & 1) ? "true" : "false");
    VMESH_ENSURE(len > 0 && (size_t)len < sizeof(head), VMESH_ERR_TOO_LARGE, "claims header too long");
    vmesh_buf_reset(b);
    VMESH_GUARD(vmesh_buf_append(b, head, (size_t)len));
    VMESH_GUARD(put_hex(b, "tee-tcb-svn", q->tee_tcb_svn, 16));
    VMESH_GUARD(put_hex(b, "mrseam", q->mrseam, 48));
    VMESH_GUARD(put_hex(b, "td-attributes", q->td_attributes, 8));
    VMESH_GUARD(put_hex(b, "xfam", q->xfam, 8));
    VMESH_GUARD(put_hex(b, "mrtd", q->mrtd, 48));
    VMESH_GUARD(put_hex(b, "mrconfigid", q->mrconfigid, 48));
    VMESH_GUARD(put_hex(b, "mrowner", q->mrowner, 48));
    VMESH_GUARD(put_hex(b, "mrownerconfig", q->mrownerconfig, 48));
    for (int i = 0; i < 4; i++)
        VMESH_GUARD(put_hex(b, rn[i], q->rtmr[i], 48));
    VMESH_GUARD(put_hex(b, "report-data", q->report_data, 64));
    VMESH_GUARD(vmesh_buf_append_u8(b, '}'));
    VMESH_GUARD(vmesh_buf_terminate(b));
out:
    return rc;
}

static vmesh_err tdx_appraise(const vmesh_appraisal_in *in, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK, vr;
    vmesh_tdx_quote q;
    vmesh_ccpki_pool *pool = NULL;
    X509 *pck = NULL;
    vmesh_key *ak = NULL, *pk = NULL;
    vmesh_tdx_pck_info info;
    vmesh_buf bind = {0};
    uint8_t h[32];
    char why[256];
    int8_t hw;
    int res;
    bool debug, debug_ok = false, exec_ok;
    static const char *const rn[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};

    VMESH_ENSURE(in != NULL && out != NULL, VMESH_ERR_ARG, "TDX appraisal: no input or output");
    VMESH_ENSURE(in->media_type == NULL || tdx_media_type_known(in->media_type), VMESH_ERR_UNSUPPORTED,
                 "TDX appraisal: media type \"%.200s\" is not a tdx evidence type", in->media_type);
    VMESH_GUARD(vmesh_tdx_quote_parse(in->evidence, in->evidence_len, &q));
    VMESH_GUARD(vmesh_buf_set(&out->nonce, q.report_data,
                              q.report_data[32] == 0 && !memcmp(q.report_data + 32, q.report_data + 33, 31) ? 32 : 64));
    VMESH_GUARD(vmesh_buf_set(&out->class_id, tdx_class, TDX_CLASS_LEN));
    VMESH_GUARD(claims_json(&q, &out->claims_json));

    VMESH_GUARD(vmesh_ccpki_pool_new(&pool));
    rc = vmesh_ccpki_load_rv(pool, in->rv, VMESH_TDX_CLASS, tdx_class, TDX_CLASS_LEN, intel_roots);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "TDX trust anchors");
        goto out;
    }
    pck = first_cert(q.pck_chain, q.pck_chain_len);
    VMESH_ENSURE(pck != NULL, VMESH_ERR_PARSE, "TDX quote: the PCK certificate chain has no certificate");
    rc = vmesh_ccpki_add_pem(pool, (const char *)q.pck_chain, q.pck_chain_len);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "TDX quote: PCK certificate chain");
        goto out;
    }
    VMESH_GUARD(vmesh_tdx_pck_info_of(pck, &info));

    /* the quote is signed by the attestation key ... */
    if (att_key_of(q.att_key, &ak) != VMESH_OK ||
        !verify_with(ak, q.signed_part, q.signed_len, q.signature)) {
        fail_all(out, VMESH_TV_HARDWARE, "the quote signature does not verify with its attestation key");
        goto done;
    }
    /* ... which the QE report binds ... */
    VMESH_GUARD(vmesh_buf_append(&bind, q.att_key, 64));
    if (q.qe_auth_len > 0)
        VMESH_GUARD(vmesh_buf_append(&bind, q.qe_auth, q.qe_auth_len));
    vmesh_crypto_sha256(bind.data, bind.len, h);
    if (!vmesh_crypto_memeq(h, q.qe_report + 320, 32) || q.qe_report[352] != 0 ||
        memcmp(q.qe_report + 352, q.qe_report + 353, 31) != 0) {
        fail_all(out, VMESH_TV_HARDWARE,
                 "the QE report does not bind the attestation key (REPORTDATA != SHA-256(key || QE auth data))");
        goto done;
    }
    /* ... which the PCK key signed ... */
    ERR_clear_error();
    if (X509_get0_pubkey(pck) == NULL || vmesh_crypto_key_from_evp(X509_get0_pubkey(pck), &pk) != VMESH_OK ||
        !verify_with(pk, q.qe_report, VMESH_TDX_QE_REPORT_SIZE, q.qe_report_sig)) {
        ERR_clear_error();
        fail_all(out, VMESH_TV_HARDWARE, "the QE report signature does not verify with the PCK certificate");
        goto done;
    }
    /* ... whose chain ends in Intel's root */
    vr = vmesh_ccpki_verify(pool, pck, in->now, NULL);
    if (vr == VMESH_ERR_NOMEM || vr == VMESH_ERR_CRYPTO) {
        rc = vr;
        goto out;
    }
    if (vr != VMESH_OK) {
        fail_all(out, VMESH_TV_HARDWARE, vmesh_err_detail());
        goto done;
    }
    if (in->nonce != NULL) {
        bool ok = in->nonce_len > 0 && in->nonce_len <= 64 && vmesh_crypto_memeq(in->nonce, q.report_data, in->nonce_len);

        for (size_t i = in->nonce_len; ok && i < 64; i++)
            ok = q.report_data[i] == 0;
        if (!ok) {
            fail_all(out, VMESH_TV_INSTANCE_IDENTITY,
                     "REPORTDATA does not carry the expected nonce (nonce, then zero bytes)");
            goto done;
        }
    }

    VMESH_GUARD(tcb_status(in, pool, &q, &info, &hw, why, sizeof(why)));
    vmesh_appraisal_note(out, VMESH_TV_HARDWARE, hw, "%s", why);
    vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_TRUSTWORTHY_INSTANCE, NULL);

    debug = (q.td_attributes[0] & 1) != 0;
    {
        const char *v[8];
        size_t n = attrs(in->rv, "policy-debug-allowed", v, 8);

        for (size_t i = 0; i < n; i++)
            debug_ok = debug_ok || strcmp(v[i], "true") == 0;
    }
    if (debug && debug_ok) {
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_ISOLATED_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSAFE_CONFIG,
                             "the TD is debuggable (TDATTRIBUTES.DEBUG; accepted by policy-debug-allowed)");
    } else if (debug) {
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_VISIBLE_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "the TD is debuggable (TDATTRIBUTES bit 0); refused unless the reference values set "
                             "policy-debug-allowed");
    } else {
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_ENCRYPTED_MEMORY_RUNTIME, NULL);
    }
    VMESH_GUARD(attr_u64_accepts(in->rv, "td-attributes", le64(q.td_attributes), &res));
    if (res < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "TDATTRIBUTES 0x%016" PRIx64 " are not accepted", le64(q.td_attributes));
    VMESH_GUARD(attr_u64_accepts(in->rv, "xfam", le64(q.xfam), &res));
    if (res < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "XFAM 0x%016" PRIx64 " is not accepted", le64(q.xfam));
    if (match_measurement(in->rv, "mrconfigid", q.mrconfigid, 48) < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "MRCONFIGID matches no reference value");
    if (match_measurement(in->rv, "mrowner", q.mrowner, 48) < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "MROWNER matches no reference value");
    if (match_measurement(in->rv, "mrownerconfig", q.mrownerconfig, 48) < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "MROWNERCONFIG matches no reference value");
    vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_APPROVED_CONFIG, NULL);

    res = match_measurement(in->rv, "mrtd", q.mrtd, 48);
    exec_ok = res > 0;
    if (res <= 0)
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME, "%s",
                             res < 0 ? "MRTD matches no reference value" : "no reference value for MRTD (class tdx)");
    for (int i = 0; i < 4; i++) {
        if (match_measurement(in->rv, rn[i], q.rtmr[i], 48) < 0) {
            exec_ok = false;
            vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                                 "RTMR%d matches no reference value", i);
        }
    }
    if (match_measurement(in->rv, "mrseam", q.mrseam, 48) < 0) {
        exec_ok = false;
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                             "MRSEAM (TDX module) matches no reference value");
    }
    if (exec_ok)
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_APPROVED_RUNTIME, NULL);
done:
    out->status = vmesh_tv_status(&out->tv);
out:
    X509_free(pck);
    vmesh_crypto_key_free(ak);
    vmesh_crypto_key_free(pk);
    vmesh_buf_free(&bind);
    vmesh_ccpki_pool_free(pool);
    return rc;
}

const vmesh_evidence_scheme vmesh_scheme_tdx = {
    .name = "tdx",
    .media_types = tdx_media_types,
    .detect = tdx_detect,
    .attester_new = NULL,
    .attest = NULL,
    .attester_free = NULL,
    .appraise = tdx_appraise,
};
