/*
 * The TPM side of the tpm2 scheme, through tpm2-tss ESYS over a TCTI chosen
 * by configuration: find (or create and persist) the restricted ECC P-256
 * attestation key, quote a PCR selection with the caller's qualifying data,
 * read the PCR values. A session opens the TCTI per use and closes it, so
 * the TPM (a serial device, or one swtpm socket) is not held between
 * attestations. It must never create an AK with a usable-outside-the-TPM
 * private part (fixedTPM, sensitiveDataOrigin), never take over a
 * persistent handle holding some other kind of key, and never hand out a
 * quote whose PCR values it has not checked against the quoted digest.
 */
#include "tpm2_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

struct tpm2_tpm {
    const tpm2_config *cfg;
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ak;
    bool ak_scheme_null;
};

static vmesh_err tss_fail(TSS2_RC r, const char *what)
{
    return vmesh_err_set(VMESH_ERR_IO, "TPM: %s failed: %s (0x%x)", what, Tss2_RC_Decode(r), (unsigned)r);
}

vmesh_err vmesh_tpm2_config_parse(const vmesh_kv *cfg, size_t ncfg, tpm2_config *c)
{
    vmesh_err rc = VMESH_OK;
    const char *pcrs = VMESH_TPM2_DEFAULT_PCRS;

    memset(c, 0, sizeof(*c));
    c->ak_handle = VMESH_TPM2_DEFAULT_AK_HANDLE;
    c->class_id = VMESH_TPM2_DEFAULT_CLASS;
    for (size_t i = 0; i < ncfg; i++) {
        const char *k = cfg[i].key, *v = cfg[i].value;

        VMESH_ENSURE(k != NULL && v != NULL, VMESH_ERR_ARG, "tpm2: configuration entry %zu is empty", i);
        if (strcmp(k, "tcti") == 0) {
            c->tcti = v[0] ? v : NULL;
        } else if (strcmp(k, "ak-handle") == 0) {
            char *end;
            unsigned long h = strtoul(v, &end, 0);

            /* Part 2, TPM_HC: PERSISTENT_FIRST 0x81000000 .. PERSISTENT_LAST 0x81FFFFFF */
            VMESH_ENSURE(*v != '\0' && *end == '\0' && h >= 0x81000000ul && h <= 0x81fffffful, VMESH_ERR_ARG,
                         "tpm2: ak-handle \"%.40s\" is not a persistent handle 0x81000000..0x81ffffff", v);
            c->ak_handle = (uint32_t)h;
        } else if (strcmp(k, "ak-hierarchy") == 0) {
            VMESH_ENSURE(strcmp(v, "owner") == 0 || strcmp(v, "endorsement") == 0, VMESH_ERR_ARG,
                         "tpm2: ak-hierarchy \"%.40s\" must be owner or endorsement", v);
            c->owner = strcmp(v, "owner") == 0;
        } else if (strcmp(k, "pcrs") == 0) {
            pcrs = v;
        } else if (strcmp(k, "eventlog") == 0) {
            c->eventlog = v[0] ? v : NULL;
        } else if (strcmp(k, "class") == 0) {
            VMESH_ENSURE(v[0] != '\0' && strlen(v) <= VMESH_TPM2_MAX_CLASS, VMESH_ERR_ARG,
                         "tpm2: class must be 1..%d bytes", VMESH_TPM2_MAX_CLASS);
            c->class_id = v;
        } else {
            VMESH_FAIL(VMESH_ERR_ARG,
                       "tpm2: unknown configuration key \"%.64s\" (known: tcti, ak-handle, ak-hierarchy, pcrs, "
                       "eventlog, class)",
                       k);
        }
    }
    rc = vmesh_tpm2_pcr_sel_parse(pcrs, c->sel, VMESH_TPM2_MAX_BANKS, &c->nsel);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "tpm2: pcrs");
        goto out;
    }
    for (size_t i = 0; i < c->nsel; i++)
        VMESH_ENSURE(c->sel[i].hash != VMESH_TPM2_ALG_SHA1, VMESH_ERR_ARG,
                     "tpm2: pcrs: the sha1 bank cannot be quoted (no reference-value digest id for SHA-1); use "
                     "sha256");
out:
    return rc;
}

void vmesh_tpm2_close(tpm2_tpm *t)
{
    if (t == NULL)
        return;
    if (t->esys != NULL)
        Esys_Finalize(&t->esys);
    if (t->tcti != NULL)
        Tss2_TctiLdr_Finalize(&t->tcti);
    free(t);
}

vmesh_err vmesh_tpm2_open(const tpm2_config *c, tpm2_tpm **out)
{
    vmesh_err rc = VMESH_OK;
    tpm2_tpm *t = calloc(1, sizeof(*t));
    TSS2_RC r;

    *out = NULL;
    VMESH_ENSURE(t != NULL, VMESH_ERR_NOMEM, "out of memory");
    t->cfg = c;
    t->ak = ESYS_TR_NONE;
    r = Tss2_TctiLdr_Initialize(c->tcti, &t->tcti);
    VMESH_ENSURE(r == TSS2_RC_SUCCESS, VMESH_ERR_IO,
                 "TPM: cannot open TCTI \"%s\": %s (is the TPM or swtpm running? set tcti, e.g. "
                 "swtpm:host=127.0.0.1,port=2321 or device:/dev/tpmrm0)",
                 c->tcti ? c->tcti : "(default)", Tss2_RC_Decode(r));
    r = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "Esys_Initialize"));
    *out = t;
    t = NULL;
out:
    vmesh_tpm2_close(t);
    return rc;
}

/* SubjectPublicKeyInfo DER of a P-256 point: the fixed prefix
 * SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING 04||x||y }. */
static vmesh_err p256_spki(const TPMS_ECC_POINT *pt, vmesh_buf *spki)
{
    static const uint8_t prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                     0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
                                     0x07, 0x03, 0x42, 0x00, 0x04};
    vmesh_err rc = VMESH_OK;
    uint8_t x[32] = {0}, y[32] = {0};
    vmesh_key *k = NULL;

    VMESH_ENSURE(pt->x.size <= 32 && pt->y.size <= 32, VMESH_ERR_PARSE, "TPM: AK point coordinate longer than 32 bytes");
    memcpy(x + 32 - pt->x.size, pt->x.buffer, pt->x.size);
    memcpy(y + 32 - pt->y.size, pt->y.buffer, pt->y.size);
    vmesh_buf_reset(spki);
    VMESH_GUARD(vmesh_buf_append(spki, prefix, sizeof(prefix)));
    VMESH_GUARD(vmesh_buf_append(spki, x, 32));
    VMESH_GUARD(vmesh_buf_append(spki, y, 32));
    rc = vmesh_crypto_key_from_spki(spki->data, spki->len, &k); /* checks the point is on the curve */
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "TPM: AK public key");
out:
    vmesh_crypto_key_free(k);
    return rc;
}

#define AK_ATTRS                                                                                         \
    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH)

/* True when pub is a key this scheme can quote with: ECC P-256, restricted
 * signing, fixedTPM, scheme ECDSA-SHA256 (or NULL: we then pass it). */
static vmesh_err check_ak_public(const TPMT_PUBLIC *p, uint32_t handle)
{
    vmesh_err rc = VMESH_OK;
    const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

    VMESH_ENSURE(p->type == TPM2_ALG_ECC && e->curveID == TPM2_ECC_NIST_P256, VMESH_ERR_UNSUPPORTED,
                 "TPM: the key at handle 0x%08x is not an ECC P-256 key; give another ak-handle or evict it "
                 "(tpm2_evictcontrol -c 0x%08x)",
                 (unsigned)handle, (unsigned)handle);
    VMESH_ENSURE((p->objectAttributes & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM)) ==
                         (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM) &&
                     (p->objectAttributes & TPMA_OBJECT_DECRYPT) == 0,
                 VMESH_ERR_UNSUPPORTED,
                 "TPM: the key at handle 0x%08x is not a restricted, fixedTPM signing key (attributes 0x%08x); "
                 "give another ak-handle",
                 (unsigned)handle, (unsigned)p->objectAttributes);
    VMESH_ENSURE(e->scheme.scheme == TPM2_ALG_NULL ||
                     (e->scheme.scheme == TPM2_ALG_ECDSA && e->scheme.details.ecdsa.hashAlg == TPM2_ALG_SHA256),
                 VMESH_ERR_UNSUPPORTED, "TPM: the key at handle 0x%08x signs with scheme 0x%04x, not ECDSA-SHA256",
                 (unsigned)handle, (unsigned)e->scheme.scheme);
out:
    return rc;
}

static vmesh_err handle_exists(tpm2_tpm *t, uint32_t handle, bool *exists)
{
    vmesh_err rc = VMESH_OK;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    TSS2_RC r;

    *exists = false;
    r = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, handle, 1, &more,
                           &cap);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "GetCapability(handles)"));
    for (UINT32 i = 0; i < cap->data.handles.count && i < TPM2_MAX_CAP_HANDLES; i++)
        if (cap->data.handles.handle[i] == handle)
            *exists = true;
out:
    Esys_Free(cap);
    return rc;
}

static vmesh_err create_ak(tpm2_tpm *t)
{
    vmesh_err rc = VMESH_OK;
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcr;
    ESYS_TR prim = ESYS_TR_NONE, persisted = ESYS_TR_NONE;
    TSS2_RC r;

    memset(&sens, 0, sizeof(sens));
    memset(&tmpl, 0, sizeof(tmpl));
    memset(&outside, 0, sizeof(outside));
    memset(&creation_pcr, 0, sizeof(creation_pcr));
    tmpl.publicArea.type = TPM2_ALG_ECC;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes = AK_ATTRS;
    tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    tmpl.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    /* A primary key is derived from the hierarchy seed and the template:
     * the same TPM gives the same AK again until the seed is changed. In
     * the endorsement hierarchy (the default, as TCG attestation keys) the
     * TPM reports resetCount, restartCount and firmwareVersion in clear;
     * for an owner-hierarchy key it obfuscates them (Part 3 §18.1, the
     * introduction to the attestation commands). */
    r = Esys_CreatePrimary(t->esys, t->cfg->owner ? ESYS_TR_RH_OWNER : ESYS_TR_RH_ENDORSEMENT,
                           ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &creation_pcr, &prim,
                           NULL, NULL, NULL, NULL);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "CreatePrimary (attestation key)"));
    r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          t->cfg->ak_handle, &persisted);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "EvictControl (persisting the attestation key)"));
    vmesh_log(VMESH_LOG_INFO, "tpm2: created attestation key at persistent handle 0x%08x",
              (unsigned)t->cfg->ak_handle);
    t->ak = persisted;
out:
    if (prim != ESYS_TR_NONE)
        (void)Esys_FlushContext(t->esys, prim);
    return rc;
}

vmesh_err vmesh_tpm2_ak(tpm2_tpm *t, vmesh_buf *spki)
{
    vmesh_err rc = VMESH_OK;
    bool exists = false;
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC r;

    VMESH_GUARD(handle_exists(t, t->cfg->ak_handle, &exists));
    if (!exists) {
        VMESH_GUARD(create_ak(t));
    } else {
        r = Esys_TR_FromTPMPublic(t->esys, t->cfg->ak_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->ak);
        if (r != TSS2_RC_SUCCESS)
            VMESH_GUARD(tss_fail(r, "loading the attestation key handle"));
    }
    r = Esys_ReadPublic(t->esys, t->ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "ReadPublic (attestation key)"));
    VMESH_GUARD(check_ak_public(&pub->publicArea, t->cfg->ak_handle));
    t->ak_scheme_null = pub->publicArea.parameters.eccDetail.scheme.scheme == TPM2_ALG_NULL;
    VMESH_GUARD(p256_spki(&pub->publicArea.unique.ecc, spki));
out:
    Esys_Free(pub);
    return rc;
}

static void to_tpml(const tpm2_config *c, TPML_PCR_SELECTION *s)
{
    memset(s, 0, sizeof(*s));
    s->count = (UINT32)c->nsel;
    for (size_t i = 0; i < c->nsel; i++) {
        s->pcrSelections[i].hash = c->sel[i].hash;
        s->pcrSelections[i].sizeofSelect = c->sel[i].size;
        memcpy(s->pcrSelections[i].pcrSelect, c->sel[i].select, c->sel[i].size);
    }
}

vmesh_err vmesh_tpm2_do_quote(tpm2_tpm *t, const uint8_t *nonce, size_t nonce_len, vmesh_buf *attest,
                              vmesh_buf *sig)
{
    vmesh_err rc = VMESH_OK;
    TPM2B_DATA qd;
    TPMT_SIG_SCHEME scheme;
    TPML_PCR_SELECTION sel;
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    uint8_t tmp[sizeof(TPMT_SIGNATURE)];
    size_t off = 0;
    TSS2_RC r;

    VMESH_ENSURE(t->ak != ESYS_TR_NONE, VMESH_ERR_STATE, "TPM: no attestation key loaded");
    VMESH_ENSURE(nonce_len >= 1 && nonce_len <= 64, VMESH_ERR_ARG,
                 "TPM: qualifying data is %zu bytes, expected 1..64", nonce_len);
    memset(&qd, 0, sizeof(qd));
    qd.size = (UINT16)nonce_len;
    memcpy(qd.buffer, nonce, nonce_len);
    memset(&scheme, 0, sizeof(scheme));
    /* the AK is created with ECDSA-SHA256 as its scheme; for a key with a
     * scheme, TPM2_Quote (Part 3 §18.4) wants inScheme TPM_ALG_NULL or that
     * same scheme */
    scheme.scheme = TPM2_ALG_NULL;
    to_tpml(t->cfg, &sel);
    if (t->ak_scheme_null) {
        /* a key created with scheme NULL (e.g. tpm2_createak defaults) */
        scheme.scheme = TPM2_ALG_ECDSA;
        scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    }
    r = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd, &scheme, &sel, &quoted,
                   &signature);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "Quote"));
    VMESH_GUARD(vmesh_buf_set(attest, quoted->attestationData, quoted->size));
    r = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, tmp, sizeof(tmp), &off);
    if (r != TSS2_RC_SUCCESS)
        VMESH_GUARD(tss_fail(r, "marshalling the quote signature"));
    VMESH_GUARD(vmesh_buf_set(sig, tmp, off));
out:
    Esys_Free(quoted);
    Esys_Free(signature);
    return rc;
}

vmesh_err vmesh_tpm2_read_pcrs(tpm2_tpm *t, vmesh_tpm2_pcr **pcrs_out, size_t *npcrs_out)
{
    vmesh_err rc = VMESH_OK;
    TPML_PCR_SELECTION want, *got = NULL;
    TPML_DIGEST *vals = NULL;
    vmesh_tpm2_pcr *pcrs = NULL, *pv;
    size_t total = 0, n = 0;
    UINT32 counter = 0;
    TSS2_RC r;

    *pcrs_out = NULL;
    *npcrs_out = 0;
    to_tpml(t->cfg, &want);
    for (size_t i = 0; i < want.count; i++)
        for (unsigned b = 0; b < 8u * want.pcrSelections[i].sizeofSelect; b++)
            total += (want.pcrSelections[i].pcrSelect[b / 8] >> (b % 8)) & 1u;
    pcrs = calloc(total ? total : 1, sizeof(*pcrs));
    VMESH_ENSURE(pcrs != NULL, VMESH_ERR_NOMEM, "out of memory");
    /* PCR_Read returns at most 8 digests per call (TPML_DIGEST): read, drop
     * what came back from the request, repeat until nothing is left. */
    while (n < total) {
        size_t before = n;

        r = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want, &counter, &got, &vals);
        if (r != TSS2_RC_SUCCESS)
            VMESH_GUARD(tss_fail(r, "PCR_Read"));
        size_t k = 0;
        for (UINT32 i = 0; i < got->count; i++) {
            const TPMS_PCR_SELECTION *s = &got->pcrSelections[i];
            for (unsigned b = 0; b < 8u * s->sizeofSelect && b < VMESH_TPM2_MAX_PCRS; b++) {
                if (((s->pcrSelect[b / 8] >> (b % 8)) & 1u) == 0)
                    continue;
                VMESH_ENSURE(k < vals->count && n < total, VMESH_ERR_IO, "TPM: PCR_Read returned fewer values than selected");
                pv = &pcrs[n++];
                pv->alg = s->hash;
                pv->index = (uint8_t)b;
                VMESH_ENSURE(vals->digests[k].size == vmesh_tpm2_alg_digest_len(s->hash), VMESH_ERR_IO,
                             "TPM: PCR %u of bank 0x%04x has %u bytes", b, (unsigned)s->hash,
                             (unsigned)vals->digests[k].size);
                memcpy(pv->digest, vals->digests[k].buffer, vals->digests[k].size);
                pv->digest_len = vals->digests[k].size;
                k++;
                for (UINT32 j = 0; j < want.count; j++)
                    if (want.pcrSelections[j].hash == s->hash)
                        want.pcrSelections[j].pcrSelect[b / 8] &= (uint8_t) ~(1u << (b % 8));
            }
        }
        Esys_Free(got);
        Esys_Free(vals);
        got = NULL;
        vals = NULL;
        VMESH_ENSURE(n > before, VMESH_ERR_IO,
                     "TPM: PCR_Read returned no values (is the bank of the selection allocated? see tpm2_pcrallocate)");
    }
    /* put them in selection order (banks as configured, indices ascending) */
    {
        vmesh_tpm2_pcr *sorted = calloc(total ? total : 1, sizeof(*sorted));
        size_t m = 0;

        VMESH_ENSURE(sorted != NULL, VMESH_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < t->cfg->nsel; i++)
            for (unsigned b = 0; b < VMESH_TPM2_MAX_PCRS; b++)
                for (size_t j = 0; j < n; j++)
                    if (pcrs[j].alg == t->cfg->sel[i].hash && pcrs[j].index == b)
                        sorted[m++] = pcrs[j];
        free(pcrs);
        pcrs = sorted;
    }
    *pcrs_out = pcrs;
    *npcrs_out = n;
    pcrs = NULL;
out:
    Esys_Free(got);
    Esys_Free(vals);
    free(pcrs);
    return rc;
}
