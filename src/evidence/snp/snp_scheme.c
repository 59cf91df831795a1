/*
 * The "sev-snp" scheme: appraisal of an AMD SEV-SNP attestation report into
 * an AR4SI trustworthiness vector (decisions and their sources in
 * docs/CC.md):
 *
 *  - malformed evidence or trust anchors: an error, no result;
 *  - no VCEK/VLEK that fits the report (chip id, reported TCB), a report
 *    signature that does not verify with it, a chain that does not reach a
 *    pinned AMD root at the verification time, or a REPORT_DATA other than
 *    the expected nonce: every claim 99 (crypto validation failed);
 *  - otherwise hardware 2 (32 when the reported TCB is below "min-tcb"),
 *    instance-identity 2, runtime-opaque 2 (96 when the guest policy allows
 *    debugging: the hypervisor can then decrypt guest memory; 32 when the
 *    reference values accept debugging with "policy-debug-allowed"),
 *    configuration 2, 32 (debug allowed by the reference values) or 96
 *    (debug not allowed, policy / VMPL / HOST_DATA not accepted),
 *    executables 2 when MEASUREMENT matches a reference value, else 33.
 * It must never report a better vector than the evidence supports, and
 * never take the TCB from anywhere but a certificate that chains to AMD.
 */
#include "vmesh/snp.h"
#include "vmesh/ccpki.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const snp_media_types[] = {
    VMESH_SNP_MEDIA_TYPE_CBOR,
    VMESH_SNP_MEDIA_TYPE,
    NULL,
};

/* SHA-256 of the DER of AMD's root keys (ARK). Milan: computed from
 * ask_ark_milan.pem (google/go-sev-guest verify/trust, as served by AMD
 * KDS at /vcek/v1/Milan/cert_chain); Genoa: from go-sev-guest's embedded
 * ask_ark_genoa.pem (KDS /vcek/v1/Genoa/cert_chain). The VLEK chains of
 * the same product end in the same ARK. See docs/CC.md. */
static const char *const amd_roots[] = {
    "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd", /* ARK-Milan */
    "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1", /* ARK-Genoa */
    NULL,
};

#define OID_BLSPL "1.3.6.1.4.1.3704.1.3.1"
#define OID_HWID "1.3.6.1.4.1.3704.1.4"

static bool snp_media_type_known(const char *mt)
{
    return vmesh_evidence_media_type_find(mt, snp_media_types) >= 0;
}

static bool snp_detect(const uint8_t *p, size_t n)
{
    vmesh_snp_evidence ev;
    vmesh_snp_report r;

    if (p == NULL || n < 4)
        return false;
    if (vmesh_snp_evidence_decode(p, n, &ev) != VMESH_OK)
        return false;
    return vmesh_snp_report_parse(ev.report, VMESH_SNP_REPORT_SIZE, &r) == VMESH_OK;
}

/* ---- certificate extensions -------------------------------------------- */

/* A KDS SPL extension: DER INTEGER 0..255 inside the extension value. */
static bool ext_u8(X509 *x, const char *oid, uint8_t *out)
{
    const ASN1_OCTET_STRING *d = vmesh_ccpki_ext(x, oid);
    const unsigned char *q;
    ASN1_INTEGER *ai;
    long v;
    bool ok = false;

    if (d == NULL)
        return false;
    q = ASN1_STRING_get0_data(d);
    ai = d2i_ASN1_INTEGER(NULL, &q, ASN1_STRING_length(d));
    if (ai != NULL && q == ASN1_STRING_get0_data(d) + ASN1_STRING_length(d)) {
        v = ASN1_INTEGER_get(ai);
        if (v >= 0 && v <= 255) {
            *out = (uint8_t)v;
            ok = true;
        }
    }
    ASN1_INTEGER_free(ai);
    ERR_clear_error();
    return ok;
}

/* The TCB_VERSION a VCEK/VLEK certifies: SPL extensions 1.3.6.1.4.1.3704.1.3.{1..8} are the bytes
 * 0..7 of TCB_VERSION (blSPL, teeSPL, spl4..spl7, snpSPL, ucodeSPL). */
static bool cert_tcb(X509 *x, uint64_t *tcb)
{
    static const struct {
        const char *oid;
        unsigned shift;
    } spl[] = {
        {"1.3.6.1.4.1.3704.1.3.1", 0},  {"1.3.6.1.4.1.3704.1.3.2", 8},  {"1.3.6.1.4.1.3704.1.3.4", 16},
        {"1.3.6.1.4.1.3704.1.3.5", 24}, {"1.3.6.1.4.1.3704.1.3.6", 32}, {"1.3.6.1.4.1.3704.1.3.7", 40},
        {"1.3.6.1.4.1.3704.1.3.3", 48}, {"1.3.6.1.4.1.3704.1.3.8", 56},
    };
    uint64_t v = 0;

    for (size_t i = 0; i < sizeof(spl) / sizeof(spl[0]); i++) {
        uint8_t b = 0;

        /* spl4..spl7 are optional; blSPL, teeSPL, snpSPL and ucodeSPL are not */
        if (!ext_u8(x, spl[i].oid, &b) && (spl[i].shift == 0 || spl[i].shift == 8 || spl[i].shift >= 48))
            return false;
        v |= (uint64_t)b << spl[i].shift;
    }
    *tcb = v;
    return true;
}

/* hwID: the 64-byte CHIP_ID, raw or wrapped in an OCTET STRING. */
static bool cert_hwid(X509 *x, const uint8_t **id)
{
    const ASN1_OCTET_STRING *d = vmesh_ccpki_ext(x, OID_HWID);
    const uint8_t *p;
    int n;

    if (d == NULL)
        return false;
    p = ASN1_STRING_get0_data(d);
    n = ASN1_STRING_length(d);
    if (n == 64) {
        *id = p;
        return true;
    }
    if (n == 66 && p[0] == 0x04 && p[1] == 0x40) {
        *id = p + 2;
        return true;
    }
    return false;
}

static void tcb_text(uint64_t tcb, char *out, size_t n)
{
    vmesh_snp_tcb t = vmesh_snp_tcb_of(tcb);

    snprintf(out, n, "bl=%u,tee=%u,snp=%u,ucode=%u", t.bl, t.tee, t.snp, t.ucode);
}

/* Does certificate x fit report r as its signing key? Explains why not. */
static bool cert_fits(X509 *x, const vmesh_snp_report *r, unsigned key, char *why, size_t whyn)
{
    char cn[64], a[64], b[64];
    uint64_t tcb;
    const uint8_t *hwid;
    const char *want = key == VMESH_SNP_KEY_VLEK ? "SEV-VLEK" : "SEV-VCEK";

    vmesh_ccpki_cn(x, cn, sizeof(cn));
    if (strcmp(cn, want) != 0) {
        snprintf(why, whyn, "certificate \"%s\" is not a %s (the report names %s as its signing key)", cn,
                 want + 4, want + 4);
        return false;
    }
    if (!cert_tcb(x, &tcb)) {
        snprintf(why, whyn, "the %s certificate lacks its TCB extensions (1.3.6.1.4.1.3704.1.3.x)", want + 4);
        return false;
    }
    /* The VCEK is derived from the chip's secret and the TCB the report
     * names as REPORTED_TCB; a VCEK of another TCB did not sign it. */
    if (tcb != r->reported_tcb) {
        tcb_text(tcb, a, sizeof(a));
        tcb_text(r->reported_tcb, b, sizeof(b));
        snprintf(why, whyn, "the %s certifies TCB %s but the report's REPORTED_TCB is %s", want + 4, a, b);
        return false;
    }
    if (key == VMESH_SNP_KEY_VCEK && (r->signer_info & 2) == 0) {
        if (!cert_hwid(x, &hwid)) {
            snprintf(why, whyn, "the VCEK lacks its hwID extension (1.3.6.1.4.1.3704.1.4)");
            return false;
        }
        if (memcmp(hwid, r->chip_id, 64) != 0) {
            snprintf(why, whyn, "the VCEK's hwID does not match the report's CHIP_ID (a VCEK of another chip)");
            return false;
        }
    }
    return true;
}

static vmesh_err verify_report_sig(X509 *x, const uint8_t *report, bool *ok)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    uint8_t sig[96];
    const char *alg;
    EVP_PKEY *pk = X509_get0_pubkey(x);

    *ok = false;
    ERR_clear_error();
    if (pk == NULL)
        goto out;
    VMESH_GUARD(vmesh_crypto_key_from_evp(pk, &k));
    alg = vmesh_crypto_key_jws_alg(k);
    if (alg == NULL || strcmp(alg, "ES384") != 0)
        goto out;
    /* r and s are little-endian, 72 bytes each; a P-384 value fits in 48 */
    for (size_t i = 48; i < 72; i++)
        if (report[0x2A0 + i] != 0 || report[0x2A0 + 72 + i] != 0)
            goto out;
    for (size_t i = 0; i < 48; i++) {
        sig[47 - i] = report[0x2A0 + i];
        sig[95 - i] = report[0x2A0 + 72 + i];
    }
    rc = vmesh_crypto_verify(k, report, VMESH_SNP_SIGNED_SIZE, sig, sizeof(sig));
    if (rc == VMESH_ERR_SIGNATURE || rc == VMESH_ERR_CRYPTO) {
        rc = VMESH_OK;
        goto out;
    }
    VMESH_GUARD(rc);
    *ok = true;
out:
    vmesh_crypto_key_free(k);
    return rc;
}

/* ---- reference values --------------------------------------------------- */

static const uint8_t snp_class[] = VMESH_SNP_CLASS;
#define SNP_CLASS_LEN (sizeof(snp_class) - 1)

/* 0: no reference value of that name; 1: one matches; -1: none matches. */
static int match_measurement(const vmesh_rv_store *rv, const char *name, const uint8_t *v, size_t n)
{
    return vmesh_rv_match_measurement(rv, VMESH_SNP_CLASS, snp_class, SNP_CLASS_LEN, name, v, n);
}

static size_t attrs(const vmesh_rv_store *rv, const char *name, const char **v, size_t max)
{
    size_t n;

    if (rv == NULL)
        return 0;
    n = vmesh_rv_find_attrs(rv, VMESH_SNP_CLASS, snp_class, SNP_CLASS_LEN, name, v, max);
    return n > max ? max : n;
}

static bool attr_true(const vmesh_rv_store *rv, const char *name)
{
    const char *v[8];
    size_t n = attrs(rv, name, v, 8);

    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], "true") == 0)
            return true;
    return false;
}

/* Accepted unsigned values of an attribute: 0 none given, 1 v accepted, -1 not. */
static vmesh_err attr_u64_accepts(const vmesh_rv_store *rv, const char *name, uint64_t v, int *res)
{
    return vmesh_rv_attr_u64_accepts(rv, VMESH_SNP_CLASS, snp_class, SNP_CLASS_LEN, name, v, res);
}

/* min-tcb values: "bl=..,tee=..,snp=..,ucode=.." or "Product:bl=.." (only
 * for that product). Fails (*below) when any applicable one is above tcb. */
static vmesh_err check_min_tcb(const vmesh_rv_store *rv, const char *product, uint64_t tcb, bool *below,
                               char *why, size_t whyn)
{
    vmesh_err rc = VMESH_OK;
    const char *a[16];
    size_t n = attrs(rv, "min-tcb", a, 16);
    vmesh_snp_tcb have = vmesh_snp_tcb_of(tcb), min;

    *below = false;
    for (size_t i = 0; i < n && !*below; i++) {
        const char *spec = a[i], *colon = strchr(a[i], ':');

        if (colon != NULL) {
            if (product == NULL || strlen(product) != (size_t)(colon - a[i]) ||
                strncasecmp(product, a[i], (size_t)(colon - a[i])) != 0)
                continue;
            spec = colon + 1;
        }
        rc = vmesh_snp_tcb_parse(spec, &min);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "sev-snp reference value min-tcb");
            goto out;
        }
        if (have.bl < min.bl || have.tee < min.tee || have.snp < min.snp || have.ucode < min.ucode) {
            char t[64];

            tcb_text(tcb, t, sizeof(t));
            snprintf(why, whyn, "reported TCB %s is below the minimum %s", t, spec);
            *below = true;
        }
    }
out:
    return rc;
}

/* ---- claims ------------------------------------------------------------- */

static vmesh_err put_hex(vmesh_buf *b, const char *name, const uint8_t *p, size_t n, bool comma)
{
    vmesh_err rc = VMESH_OK;

    if (comma)
        VMESH_GUARD(vmesh_buf_append_u8(b, ','));
    VMESH_GUARD(vmesh_json_hex_member(b, name, p, n));
out:
    return rc;
}

static vmesh_err claims_json(const vmesh_snp_report *r, const char *product, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    char head[512], tcb[64], ctcb[64], ltcb[64];
    unsigned key = vmesh_snp_signing_key(r);
    int len;

    tcb_text(r->reported_tcb, tcb, sizeof(tcb));
    tcb_text(r->committed_tcb, ctcb, sizeof(ctcb));
    tcb_text(r->launch_tcb, ltcb, sizeof(ltcb));
    len = snprintf(head, sizeof(head),
                   "{\"version\":%u,\"guest-svn\":%u,\"policy\":\"0x%" PRIx64 "\",\"debug\":%s,\"vmpl\":%u,"
                   "\"signing-key\":\"%s\",\"reported-tcb\":\"%s\",\"committed-tcb\":\"%s\",\"launch-tcb\":\"%s\","
                   "\"product\":\"%s\"",
                   r->version, r->guest_svn, r->policy, (r->policy & VMESH_SNP_POLICY_DEBUG) ? "true" : "false",
                   r->vmpl, key == VMESH_SNP_KEY_VCEK ? "vcek" : key == VMESH_SNP_KEY_VLEK ? "vlek" : "none", tcb,
                   ctcb, ltcb, product ? product : "unknown");
    VMESH_ENSURE(len > 0 && (size_t)len < sizeof(head), VMESH_ERR_TOO_LARGE, "claims header too long");
    vmesh_buf_reset(b);
    VMESH_GUARD(vmesh_buf_append(b, head, (size_t)len));
    VMESH_GUARD(put_hex(b, "measurement", r->measurement, 48, true));
    VMESH_GUARD(put_hex(b, "host-data", r->host_data, 32, true));
    VMESH_GUARD(put_hex(b, "report-data", r->report_data, 64, true));
    VMESH_GUARD(put_hex(b, "family-id", r->family_id, 16, true));
    VMESH_GUARD(put_hex(b, "image-id", r->image_id, 16, true));
    VMESH_GUARD(put_hex(b, "chip-id", r->chip_id, 64, true));
    VMESH_GUARD(vmesh_buf_append_u8(b, '}'));
    VMESH_GUARD(vmesh_buf_terminate(b));
out:
    return rc;
}

/* ---- appraisal ---------------------------------------------------------- */

static void fail_all(vmesh_appraisal *out, vmesh_tv_claim c, const char *detail)
{
    vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
    vmesh_appraisal_note(out, c, VMESH_AR_CRYPTO_VALIDATION_FAILED, "%s", detail);
}

static const char *product_of(X509 *root)
{
    char cn[64];

    if (root == NULL)
        return NULL;
    vmesh_ccpki_cn(root, cn, sizeof(cn));
    if (strcmp(cn, "ARK-Milan") == 0)
        return "Milan";
    if (strcmp(cn, "ARK-Genoa") == 0)
        return "Genoa";
    return NULL;
}

static vmesh_err snp_appraise(const vmesh_appraisal_in *in, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK, vr;
    vmesh_snp_evidence ev;
    vmesh_snp_report r;
    vmesh_ccpki_pool *pool = NULL;
    X509 *leaf = NULL, *root = NULL;
    X509 *ev_leaf = NULL;
    const char *product = NULL;
    unsigned key;
    char why[256] = "", why2[256];
    bool sig_ok = false, below = false, debug, debug_ok;
    int m, res;

    VMESH_ENSURE(in != NULL && out != NULL, VMESH_ERR_ARG, "SEV-SNP appraisal: no input or output");
    VMESH_ENSURE(in->media_type == NULL || snp_media_type_known(in->media_type), VMESH_ERR_UNSUPPORTED,
                 "SEV-SNP appraisal: media type \"%.200s\" is not a sev-snp evidence type", in->media_type);
    VMESH_GUARD(vmesh_snp_evidence_decode(in->evidence, in->evidence_len, &ev));
    VMESH_GUARD(vmesh_snp_report_parse(ev.report, VMESH_SNP_REPORT_SIZE, &r));
    key = vmesh_snp_signing_key(&r);

    /* what the evidence says, before we judge it */
    VMESH_GUARD(vmesh_buf_set(&out->nonce, r.report_data,
                              r.report_data[32] == 0 && !memcmp(r.report_data + 32, r.report_data + 33, 31) ? 32
                                                                                                              : 64));
    VMESH_GUARD(vmesh_buf_set(&out->class_id, snp_class, SNP_CLASS_LEN));
    VMESH_GUARD(vmesh_buf_set(&out->instance_id, r.chip_id, 64));

    VMESH_GUARD(vmesh_ccpki_pool_new(&pool));
    rc = vmesh_ccpki_load_rv(pool, in->rv, VMESH_SNP_CLASS, snp_class, SNP_CLASS_LEN, amd_roots);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "SEV-SNP trust anchors");
        goto out;
    }
    if (ev.cert != NULL) {
        const unsigned char *q = ev.cert;

        ev_leaf = d2i_X509(NULL, &q, (long)ev.cert_len);
        ERR_clear_error();
        VMESH_ENSURE(ev_leaf != NULL && q == ev.cert + ev.cert_len, VMESH_ERR_PARSE,
                     "SEV-SNP evidence: the VCEK/VLEK certificate is not DER X.509");
        VMESH_GUARD(vmesh_ccpki_add_x509(pool, ev_leaf));
    }
    for (size_t i = 0; i < ev.nchain; i++) {
        rc = vmesh_ccpki_add_der(pool, ev.chain[i], ev.chain_len[i]);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "SEV-SNP evidence: chain certificate %zu", i);
            goto out;
        }
    }

    if (key == VMESH_SNP_KEY_NONE) {
        fail_all(out, VMESH_TV_HARDWARE, "the report is not signed (SIGNING_KEY 7: none)");
        goto done;
    }
    /* the signing key: the certificate the evidence carries, else any
     * VCEK/VLEK among the trust anchors that fits the report */
    if (ev_leaf != NULL) {
        if (!cert_fits(ev_leaf, &r, key, why, sizeof(why))) {
            fail_all(out, VMESH_TV_HARDWARE, why);
            goto done;
        }
        VMESH_GUARD(verify_report_sig(ev_leaf, ev.report, &sig_ok));
        leaf = ev_leaf;
    } else {
        for (size_t i = 0; i < vmesh_ccpki_count(pool) && !sig_ok; i++) {
            X509 *x = vmesh_ccpki_at(pool, i);

            if (!cert_fits(x, &r, key, why2, sizeof(why2))) {
                if (strstr(why2, "is not a") == NULL)
                    snprintf(why, sizeof(why), "%s", why2);
                continue;
            }
            leaf = x;
            VMESH_GUARD(verify_report_sig(x, ev.report, &sig_ok));
        }
        if (leaf == NULL) {
            fail_all(out, VMESH_TV_HARDWARE,
                     why[0] ? why
                            : (key == VMESH_SNP_KEY_VLEK
                                   ? "no VLEK certificate for this report (carry it in the evidence or give it as a trust anchor)"
                                   : "no VCEK certificate for this report (carry it in the evidence or give it as a trust anchor)"));
            goto done;
        }
    }
    if (!sig_ok) {
        fail_all(out, VMESH_TV_HARDWARE,
                 key == VMESH_SNP_KEY_VLEK ? "the report signature does not verify with the VLEK"
                                           : "the report signature does not verify with the VCEK");
        goto done;
    }
    vr = vmesh_ccpki_verify(pool, leaf, in->now, &root);
    if (vr == VMESH_ERR_NOMEM || vr == VMESH_ERR_CRYPTO) {
        rc = vr;
        goto out;
    }
    if (vr != VMESH_OK) {
        fail_all(out, VMESH_TV_HARDWARE, vmesh_err_detail());
        goto done;
    }
    product = product_of(root);
    if (in->nonce != NULL) {
        bool ok = in->nonce_len > 0 && in->nonce_len <= 64 &&
                  vmesh_crypto_memeq(in->nonce, r.report_data, in->nonce_len);

        for (size_t i = in->nonce_len; ok && i < 64; i++)
            ok = r.report_data[i] == 0;
        if (!ok) {
            fail_all(out, VMESH_TV_INSTANCE_IDENTITY,
                     "REPORT_DATA does not carry the expected nonce (nonce, then zero bytes)");
            goto done;
        }
    }

    /* genuine AMD hardware at a TCB that AMD certified */
    VMESH_GUARD(check_min_tcb(in->rv, product, r.reported_tcb, &below, why, sizeof(why)));
    if (below)
        vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_UNSAFE_HARDWARE, "%s", why);
    else
        vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_GENUINE_HARDWARE, NULL);
    vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_TRUSTWORTHY_INSTANCE, NULL);

    /* guest policy: DEBUG lets the hypervisor decrypt guest memory */
    debug = (r.policy & VMESH_SNP_POLICY_DEBUG) != 0;
    debug_ok = attr_true(in->rv, "policy-debug-allowed");
    if (debug && debug_ok) {
        /* accepted by the reference values: a warning, never affirming */
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_ISOLATED_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSAFE_CONFIG,
                             "guest policy 0x%" PRIx64 " allows debugging (accepted by policy-debug-allowed)",
                             r.policy);
    } else if (debug) {
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_VISIBLE_MEMORY_RUNTIME, NULL);
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                                 "guest policy 0x%" PRIx64 " allows debugging (bit 19); refused unless the reference "
                                 "values set policy-debug-allowed",
                                 r.policy);
    } else {
        vmesh_appraisal_note(out, VMESH_TV_RUNTIME_OPAQUE, VMESH_AR_ENCRYPTED_MEMORY_RUNTIME, NULL);
    }
    VMESH_GUARD(attr_u64_accepts(in->rv, "policy", r.policy, &res));
    if (res < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "guest policy 0x%" PRIx64 " is not an accepted policy", r.policy);
    VMESH_GUARD(attr_u64_accepts(in->rv, "vmpl", r.vmpl, &res));
    if (res < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "the report was requested at VMPL %u, which is not accepted", r.vmpl);
    if (match_measurement(in->rv, "host-data", r.host_data, 32) < 0)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSUPPORTABLE_CONFIG,
                             "HOST_DATA matches no reference value");
    vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_APPROVED_CONFIG, NULL);

    m = match_measurement(in->rv, "measurement", r.measurement, 48);
    if (m > 0)
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_APPROVED_RUNTIME, NULL);
    else
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME, "%s",
                             m < 0 ? "MEASUREMENT matches no reference value"
                                   : "no reference value for MEASUREMENT (class sev-snp)");
done:
    VMESH_GUARD(claims_json(&r, product, &out->claims_json));
    out->status = vmesh_tv_status(&out->tv);
out:
    X509_free(ev_leaf);
    vmesh_ccpki_pool_free(pool);
    return rc;
}

const vmesh_evidence_scheme vmesh_scheme_snp = {
    .name = "sev-snp",
    .media_types = snp_media_types,
    .detect = snp_detect,
    .attester_new = NULL,
    .attest = NULL,
    .attester_free = NULL,
    .appraise = snp_appraise,
};
