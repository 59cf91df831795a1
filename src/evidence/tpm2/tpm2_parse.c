/*
 * TPM 2.0 structures and the tpm2 evidence map, read from untrusted bytes:
 * TPMS_ATTEST (quote) and TPMT_SIGNATURE (ECDSA) with a bounded big-endian
 * reader, and the CBOR evidence map through the one CBOR reader (every
 * length checked against what is left and against the TPM's own maximum
 * before it is used; nothing is allocated from a declared length except the
 * PCR array, capped first).
 * It must never read past its input, accept trailing bytes, or accept a
 * structure a TPM could not have produced where that matters (magic, type,
 * selection sizes). Writers exist for tests, fuzz seeds and the attester.
 */
#include "tpm2_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- big-endian reader ---------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, off;
} rd;

static vmesh_err rd_need(rd *r, size_t k, const char *what)
{
    if (r->n - r->off < k)
        return vmesh_err_set(VMESH_ERR_PARSE, "TPMS_ATTEST/TPMT_SIGNATURE: %s: %zu bytes needed at offset %zu, "
                                              "%zu left",
                             what, k, r->off, r->n - r->off);
    return VMESH_OK;
}

static vmesh_err rd_u8(rd *r, uint8_t *v, const char *what)
{
    vmesh_err rc = rd_need(r, 1, what);

    if (rc == VMESH_OK)
        *v = r->p[r->off++];
    return rc;
}

static vmesh_err rd_u16(rd *r, uint16_t *v, const char *what)
{
    vmesh_err rc = rd_need(r, 2, what);

    if (rc == VMESH_OK) {
        *v = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
        r->off += 2;
    }
    return rc;
}

static vmesh_err rd_u32(rd *r, uint32_t *v, const char *what)
{
    vmesh_err rc = rd_need(r, 4, what);

    if (rc == VMESH_OK) {
        *v = ((uint32_t)r->p[r->off] << 24) | ((uint32_t)r->p[r->off + 1] << 16) |
             ((uint32_t)r->p[r->off + 2] << 8) | r->p[r->off + 3];
        r->off += 4;
    }
    return rc;
}

static vmesh_err rd_u64(rd *r, uint64_t *v, const char *what)
{
    uint32_t hi = 0, lo = 0;
    vmesh_err rc = rd_u32(r, &hi, what);

    if (rc == VMESH_OK)
        rc = rd_u32(r, &lo, what);
    if (rc == VMESH_OK)
        *v = ((uint64_t)hi << 32) | lo;
    return rc;
}

/* A TPM2B: u16 size then size bytes, size <= cap (the TPM's own bound). */
static vmesh_err rd_2b(rd *r, uint8_t *dst, size_t cap, size_t *len, const char *what)
{
    vmesh_err rc = VMESH_OK;
    uint16_t sz = 0;

    VMESH_GUARD(rd_u16(r, &sz, what));
    VMESH_ENSURE(sz <= cap, VMESH_ERR_PARSE, "TPM structure: %s is %u bytes, at most %zu allowed", what,
                 (unsigned)sz, cap);
    VMESH_GUARD(rd_need(r, sz, what));
    memcpy(dst, r->p + r->off, sz);
    r->off += sz;
    *len = sz;
out:
    return rc;
}

/* ---- writer ----------------------------------------------------------------- */

static vmesh_err wr_u16(vmesh_buf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};

    return vmesh_buf_append(b, t, 2);
}

static vmesh_err wr_u32(vmesh_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    return vmesh_buf_append(b, t, 4);
}

static vmesh_err wr_u64(vmesh_buf *b, uint64_t v)
{
    vmesh_err rc = wr_u32(b, (uint32_t)(v >> 32));

    return rc == VMESH_OK ? wr_u32(b, (uint32_t)v) : rc;
}

static vmesh_err wr_2b(vmesh_buf *b, const uint8_t *p, size_t n)
{
    vmesh_err rc;

    if (n > 0xffff)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "TPM2B of %zu bytes", n);
    rc = wr_u16(b, (uint16_t)n);
    return rc == VMESH_OK ? vmesh_buf_append(b, p, n) : rc;
}

/* ---- algorithms ------------------------------------------------------------- */

size_t vmesh_tpm2_alg_digest_len(uint16_t alg)
{
    switch (alg) {
    case VMESH_TPM2_ALG_SHA1: return 20;
    case VMESH_TPM2_ALG_SHA256: return 32;
    case VMESH_TPM2_ALG_SHA384: return 48;
    case VMESH_TPM2_ALG_SHA512: return 64;
    default: return 0;
    }
}

const char *vmesh_tpm2_alg_name(uint16_t alg)
{
    switch (alg) {
    case VMESH_TPM2_ALG_SHA1: return "sha1";
    case VMESH_TPM2_ALG_SHA256: return "sha256";
    case VMESH_TPM2_ALG_SHA384: return "sha384";
    case VMESH_TPM2_ALG_SHA512: return "sha512";
    default: return NULL;
    }
}

uint16_t vmesh_tpm2_alg_from_name(const char *name, size_t n)
{
    static const uint16_t algs[] = {VMESH_TPM2_ALG_SHA1, VMESH_TPM2_ALG_SHA256, VMESH_TPM2_ALG_SHA384,
                                    VMESH_TPM2_ALG_SHA512};

    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        const char *s = vmesh_tpm2_alg_name(algs[i]);
        if (strlen(s) == n && memcmp(s, name, n) == 0)
            return algs[i];
    }
    return 0;
}

int vmesh_tpm2_alg_to_rv_hash(uint16_t alg)
{
    switch (alg) {
    case VMESH_TPM2_ALG_SHA256: return VMESH_HASH_SHA256;
    case VMESH_TPM2_ALG_SHA384: return VMESH_HASH_SHA384;
    case VMESH_TPM2_ALG_SHA512: return VMESH_HASH_SHA512;
    default: return 0;
    }
}

/* ---- TPMS_ATTEST --------------------------------------------------------------- */

static vmesh_err parse_selection(rd *r, vmesh_tpm2_pcr_sel *sel, size_t *nsel)
{
    vmesh_err rc = VMESH_OK;
    uint32_t count = 0;

    /* Part 2 §10.9.7 TPML_PCR_SELECTION: count {:HASH_COUNT} */
    VMESH_GUARD(rd_u32(r, &count, "pcrSelect.count"));
    VMESH_ENSURE(count <= VMESH_TPM2_MAX_BANKS, VMESH_ERR_PARSE,
                 "TPMS_ATTEST: pcrSelect has %u banks, at most %d allowed", count, VMESH_TPM2_MAX_BANKS);
    for (uint32_t i = 0; i < count; i++) {
        vmesh_tpm2_pcr_sel *s = &sel[i];

        VMESH_GUARD(rd_u16(r, &s->hash, "pcrSelect.hash"));
        VMESH_GUARD(rd_u8(r, &s->size, "pcrSelect.sizeofSelect"));
        /* Part 2 §10.6.2: sizeofSelect {PCR_SELECT_MIN:} ... pcrSelect [sizeofSelect] {:PCR_SELECT_MAX} */
        VMESH_ENSURE(s->size >= 1 && s->size <= 4, VMESH_ERR_PARSE,
                     "TPMS_ATTEST: pcrSelect[%u].sizeofSelect is %u, expected 1..4", i, (unsigned)s->size);
        VMESH_GUARD(rd_need(r, s->size, "pcrSelect.pcrSelect"));
        memset(s->select, 0, sizeof(s->select));
        memcpy(s->select, r->p + r->off, s->size);
        r->off += s->size;
        for (uint32_t j = 0; j < i; j++)
            VMESH_ENSURE(sel[j].hash != s->hash, VMESH_ERR_PARSE,
                         "TPMS_ATTEST: pcrSelect names bank 0x%04x twice", (unsigned)s->hash);
    }
    *nsel = count;
out:
    return rc;
}

vmesh_err vmesh_tpm2_quote_parse(const uint8_t *p, size_t n, vmesh_tpm2_quote *q)
{
    vmesh_err rc = VMESH_OK;
    rd r = {p, n, 0};

    memset(q, 0, sizeof(*q));
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "TPMS_ATTEST: empty");
    VMESH_ENSURE(n <= VMESH_TPM2_MAX_ATTEST, VMESH_ERR_TOO_LARGE, "TPMS_ATTEST: %zu bytes, at most %d allowed",
                 n, VMESH_TPM2_MAX_ATTEST);
    VMESH_GUARD(rd_u32(&r, &q->magic, "magic"));
    /* Part 2 §10.12.12: "magic: the indication that this structure was
     * created by a TPM (always TPM_GENERATED_VALUE)" */
    VMESH_ENSURE(q->magic == VMESH_TPM2_GENERATED_VALUE, VMESH_ERR_PARSE,
                 "TPMS_ATTEST: magic is 0x%08x, not TPM_GENERATED_VALUE 0xff544347 (not produced by a TPM)",
                 (unsigned)q->magic);
    VMESH_GUARD(rd_u16(&r, &q->type, "type"));
    VMESH_ENSURE(q->type == VMESH_TPM2_ST_ATTEST_QUOTE, VMESH_ERR_PARSE,
                 "TPMS_ATTEST: type is 0x%04x, not TPM_ST_ATTEST_QUOTE 0x8018", (unsigned)q->type);
    /* TPM2B_NAME: sizeof(TPMU_NAME) = sizeof(TPMT_HA) = 2 + 64 */
    VMESH_GUARD(rd_2b(&r, q->signer_name, 66, &q->signer_name_len, "qualifiedSigner"));
    /* TPM2B_DATA: sizeof(TPMT_HA) in the reference code; 64 is the largest digest */
    VMESH_GUARD(rd_2b(&r, q->extra_data, 64, &q->extra_data_len, "extraData"));
    VMESH_GUARD(rd_u64(&r, &q->clock, "clockInfo.clock"));
    VMESH_GUARD(rd_u32(&r, &q->reset_count, "clockInfo.resetCount"));
    VMESH_GUARD(rd_u32(&r, &q->restart_count, "clockInfo.restartCount"));
    VMESH_GUARD(rd_u8(&r, &q->safe, "clockInfo.safe"));
    VMESH_ENSURE(q->safe <= 1, VMESH_ERR_PARSE, "TPMS_ATTEST: clockInfo.safe is %u, not YES (1) or NO (0)",
                 (unsigned)q->safe);
    VMESH_GUARD(rd_u64(&r, &q->firmware_version, "firmwareVersion"));
    VMESH_GUARD(parse_selection(&r, q->sel, &q->nsel));
    VMESH_GUARD(rd_2b(&r, q->pcr_digest, 64, &q->pcr_digest_len, "pcrDigest"));
    VMESH_ENSURE(r.off == n, VMESH_ERR_PARSE, "TPMS_ATTEST: %zu bytes after the quote", n - r.off);
out:
    return rc;
}

vmesh_err vmesh_tpm2_quote_marshal(const vmesh_tpm2_quote *q, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(q->nsel <= VMESH_TPM2_MAX_BANKS && q->signer_name_len <= 66 && q->extra_data_len <= 64 &&
                     q->pcr_digest_len <= 64,
                 VMESH_ERR_ARG, "TPMS_ATTEST: field too large to marshal");
    VMESH_GUARD(wr_u32(out, q->magic));
    VMESH_GUARD(wr_u16(out, q->type));
    VMESH_GUARD(wr_2b(out, q->signer_name, q->signer_name_len));
    VMESH_GUARD(wr_2b(out, q->extra_data, q->extra_data_len));
    VMESH_GUARD(wr_u64(out, q->clock));
    VMESH_GUARD(wr_u32(out, q->reset_count));
    VMESH_GUARD(wr_u32(out, q->restart_count));
    VMESH_GUARD(vmesh_buf_append_u8(out, q->safe));
    VMESH_GUARD(wr_u64(out, q->firmware_version));
    VMESH_GUARD(wr_u32(out, (uint32_t)q->nsel));
    for (size_t i = 0; i < q->nsel; i++) {
        VMESH_ENSURE(q->sel[i].size <= 4, VMESH_ERR_ARG, "TPMS_ATTEST: sizeofSelect %u", (unsigned)q->sel[i].size);
        VMESH_GUARD(wr_u16(out, q->sel[i].hash));
        VMESH_GUARD(vmesh_buf_append_u8(out, q->sel[i].size));
        VMESH_GUARD(vmesh_buf_append(out, q->sel[i].select, q->sel[i].size));
    }
    VMESH_GUARD(wr_2b(out, q->pcr_digest, q->pcr_digest_len));
out:
    return rc;
}

/* ---- TPMT_SIGNATURE ------------------------------------------------------------- */

vmesh_err vmesh_tpm2_signature_parse(const uint8_t *p, size_t n, vmesh_tpm2_signature *s)
{
    vmesh_err rc = VMESH_OK;
    rd r = {p, n, 0};

    memset(s, 0, sizeof(*s));
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "TPMT_SIGNATURE: empty");
    VMESH_ENSURE(n <= VMESH_TPM2_MAX_SIGNATURE, VMESH_ERR_TOO_LARGE, "TPMT_SIGNATURE: %zu bytes, at most %d", n,
                 VMESH_TPM2_MAX_SIGNATURE);
    VMESH_GUARD(rd_u16(&r, &s->sig_alg, "sigAlg"));
    VMESH_ENSURE(s->sig_alg == VMESH_TPM2_ALG_ECDSA, VMESH_ERR_UNSUPPORTED,
                 "TPMT_SIGNATURE: signature algorithm 0x%04x is not supported (only TPM_ALG_ECDSA 0x0018)",
                 (unsigned)s->sig_alg);
    /* Part 2 §11.3.2 TPMS_SIGNATURE_ECC: hash, signatureR, signatureS
     * (TPM2B_ECC_PARAMETER, at most MAX_ECC_KEY_BYTES) */
    VMESH_GUARD(rd_u16(&r, &s->hash_alg, "signature.hash"));
    VMESH_GUARD(rd_2b(&r, s->r, sizeof(s->r), &s->r_len, "signatureR"));
    VMESH_GUARD(rd_2b(&r, s->s, sizeof(s->s), &s->s_len, "signatureS"));
    VMESH_ENSURE(r.off == n, VMESH_ERR_PARSE, "TPMT_SIGNATURE: %zu bytes after the signature", n - r.off);
out:
    return rc;
}

vmesh_err vmesh_tpm2_signature_marshal(const vmesh_tpm2_signature *s, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(s->r_len <= sizeof(s->r) && s->s_len <= sizeof(s->s), VMESH_ERR_ARG,
                 "TPMT_SIGNATURE: field too large");
    VMESH_GUARD(wr_u16(out, s->sig_alg));
    VMESH_GUARD(wr_u16(out, s->hash_alg));
    VMESH_GUARD(wr_2b(out, s->r, s->r_len));
    VMESH_GUARD(wr_2b(out, s->s, s->s_len));
out:
    return rc;
}

/* ---- PCR selections and digest ---------------------------------------------------- */

vmesh_err vmesh_tpm2_pcr_sel_parse(const char *spec, vmesh_tpm2_pcr_sel *sel, size_t max, size_t *nsel)
{
    vmesh_err rc = VMESH_OK;
    const char *p = spec;
    size_t k = 0;

    *nsel = 0;
    VMESH_ENSURE(spec != NULL && *spec != '\0', VMESH_ERR_ARG, "PCR selection is empty (e.g. sha256:0,1,2,7)");
    while (*p != '\0') {
        const char *colon = strchr(p, ':');
        uint16_t alg;
        vmesh_tpm2_pcr_sel *s;

        VMESH_ENSURE(colon != NULL, VMESH_ERR_ARG, "PCR selection \"%.100s\": expected BANK:INDICES (e.g. sha256:0,7)",
                     spec);
        alg = vmesh_tpm2_alg_from_name(p, (size_t)(colon - p));
        VMESH_ENSURE(alg != 0, VMESH_ERR_ARG,
                     "PCR selection \"%.100s\": unknown bank \"%.*s\" (known: sha1, sha256, sha384, sha512)", spec,
                     (int)(colon - p > 16 ? 16 : colon - p), p);
        VMESH_ENSURE(k < max, VMESH_ERR_ARG, "PCR selection \"%.100s\": more than %zu banks", spec, max);
        for (size_t j = 0; j < k; j++)
            VMESH_ENSURE(sel[j].hash != alg, VMESH_ERR_ARG, "PCR selection \"%.100s\": bank %s given twice", spec,
                         vmesh_tpm2_alg_name(alg));
        s = &sel[k];
        memset(s, 0, sizeof(*s));
        s->hash = alg;
        s->size = 3; /* PCR_SELECT_MIN for 24 PCRs; grows for 24..31 */
        p = colon + 1;
        for (;;) {
            char *end;
            long idx;

            VMESH_ENSURE(*p >= '0' && *p <= '9', VMESH_ERR_ARG, "PCR selection \"%.100s\": expected a PCR index",
                         spec);
            idx = strtol(p, &end, 10);
            VMESH_ENSURE(idx >= 0 && idx < VMESH_TPM2_MAX_PCRS && end - p <= 2, VMESH_ERR_ARG,
                         "PCR selection \"%.100s\": PCR index out of range 0..31", spec);
            s->select[idx / 8] |= (uint8_t)(1u << (idx % 8));
            if (idx >= 24)
                s->size = 4;
            p = end;
            if (*p != ',')
                break;
            p++;
        }
        k++;
        if (*p == '+')
            p++;
        else
            VMESH_ENSURE(*p == '\0', VMESH_ERR_ARG, "PCR selection \"%.100s\": unexpected \"%c\"", spec, *p);
    }
    *nsel = k;
out:
    return rc;
}

vmesh_err vmesh_tpm2_pcr_digest(const vmesh_tpm2_pcr_sel *sel, size_t nsel, const vmesh_tpm2_pcr *pcrs,
                                size_t npcrs, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t used = 0;
    unsigned int len = 32;

    VMESH_ENSURE(ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1, VMESH_ERR_CRYPTO,
                 "SHA-256 unavailable");
    /* Part 3 §18.4 (TPM2_Quote): the digest of the selected PCRs, taken
     * bank by bank in pcrSelect order, each bank's PCRs in ascending order
     * (PCRComputeCurrentDigest of the reference code). */
    for (size_t i = 0; i < nsel; i++) {
        for (unsigned idx = 0; idx < 8u * sel[i].size && idx < VMESH_TPM2_MAX_PCRS; idx++) {
            const vmesh_tpm2_pcr *v = NULL;

            if ((sel[i].select[idx / 8] & (1u << (idx % 8))) == 0)
                continue;
            for (size_t j = 0; j < npcrs && v == NULL; j++)
                if (pcrs[j].alg == sel[i].hash && pcrs[j].index == idx)
                    v = &pcrs[j];
            VMESH_ENSURE(v != NULL, VMESH_ERR_MISMATCH,
                         "the quote selects PCR %s:%u but the evidence reports no value for it",
                         vmesh_tpm2_alg_name(sel[i].hash) ? vmesh_tpm2_alg_name(sel[i].hash) : "?", idx);
            VMESH_ENSURE(EVP_DigestUpdate(ctx, v->digest, v->digest_len) == 1, VMESH_ERR_CRYPTO, "SHA-256 failed");
            used++;
        }
    }
    VMESH_ENSURE(used == npcrs, VMESH_ERR_MISMATCH,
                 "the evidence reports %zu PCR values but the quote selects %zu (values not covered by the quote)",
                 npcrs, used);
    VMESH_ENSURE(EVP_DigestFinal_ex(ctx, out, &len) == 1, VMESH_ERR_CRYPTO, "SHA-256 failed");
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

void vmesh_tpm2_instance_id(const uint8_t *spki, size_t n, uint8_t out[32])
{
    vmesh_crypto_sha256(spki, n, out);
}

/* ---- CBOR (the evidence map) --------------------------------------------------------- */

static vmesh_err decode_pcrs(vmesh_cbor *r, vmesh_tpm2_evidence *ev)
{
    vmesh_err rc = VMESH_OK;
    uint64_t count = 0, v = 0;

    VMESH_GUARD(vmesh_cbor_read_array(r, &count, UINT64_MAX, "PCR values (key 3)"));
    VMESH_ENSURE(count >= 1 && count <= VMESH_TPM2_MAX_PCR_VALUES, VMESH_ERR_PARSE, "TPM2 evidence: %llu PCR values, expected 1..%d",
                 (unsigned long long)count, VMESH_TPM2_MAX_PCR_VALUES);
    /* each value takes at least 4 bytes: refuse counts the input cannot hold before allocating */
    VMESH_ENSURE(count <= vmesh_cbor_left(r) / 4, VMESH_ERR_PARSE,
                 "TPM2 evidence: %llu PCR values declared, the input is too short", (unsigned long long)count);
    ev->pcrs = calloc((size_t)count, sizeof(*ev->pcrs));
    VMESH_ENSURE(ev->pcrs != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)count; i++) {
        vmesh_tpm2_pcr *pv = &ev->pcrs[i];
        const uint8_t *d = NULL;
        size_t dn = 0;

        VMESH_GUARD(vmesh_cbor_read_array(r, &v, UINT64_MAX, "a PCR value"));
        VMESH_ENSURE(v == 3, VMESH_ERR_PARSE, "TPM2 evidence: PCR value %zu is not [alg, index, value]", i);
        VMESH_GUARD(vmesh_cbor_read_uint(r, &v, "PCR bank"));
        VMESH_ENSURE(v <= 0xffff && vmesh_tpm2_alg_digest_len((uint16_t)v) != 0, VMESH_ERR_UNSUPPORTED,
                     "TPM2 evidence: PCR value %zu: bank 0x%llx is not supported (sha1, sha256, sha384, sha512)", i,
                     (unsigned long long)v);
        pv->alg = (uint16_t)v;
        VMESH_GUARD(vmesh_cbor_read_uint(r, &v, "PCR index"));
        VMESH_ENSURE(v < VMESH_TPM2_MAX_PCRS, VMESH_ERR_PARSE, "TPM2 evidence: PCR value %zu: index %llu > 31", i,
                     (unsigned long long)v);
        pv->index = (uint8_t)v;
        VMESH_GUARD(vmesh_cbor_read_bstr(r, 64, &d, &dn, "PCR digest"));
        VMESH_ENSURE(dn == vmesh_tpm2_alg_digest_len(pv->alg), VMESH_ERR_PARSE,
                     "TPM2 evidence: PCR %s:%u is %zu bytes, the bank's digest is %zu", vmesh_tpm2_alg_name(pv->alg),
                     (unsigned)pv->index, dn, vmesh_tpm2_alg_digest_len(pv->alg));
        memcpy(pv->digest, d, dn);
        pv->digest_len = dn;
        for (size_t j = 0; j < i; j++)
            VMESH_ENSURE(ev->pcrs[j].alg != pv->alg || ev->pcrs[j].index != pv->index, VMESH_ERR_PARSE,
                         "TPM2 evidence: PCR %s:%u reported twice", vmesh_tpm2_alg_name(pv->alg),
                         (unsigned)pv->index);
        ev->npcrs = i + 1;
    }
out:
    return rc;
}

void vmesh_tpm2_evidence_free(vmesh_tpm2_evidence *ev)
{
    if (ev == NULL)
        return;
    free(ev->pcrs);
    memset(ev, 0, sizeof(*ev));
}

vmesh_err vmesh_tpm2_evidence_decode(const uint8_t *p, size_t n, vmesh_tpm2_evidence *ev)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count = 0, key = 0;
    unsigned seen = 0;

    memset(ev, 0, sizeof(*ev));
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "TPM2 evidence: empty");
    VMESH_ENSURE(n <= VMESH_TPM2_MAX_EVIDENCE, VMESH_ERR_TOO_LARGE, "TPM2 evidence: %zu bytes, at most %zu", n,
                 VMESH_TPM2_MAX_EVIDENCE);
    /* RFC 8949 §4.2.1 core deterministic encoding (shortest heads, keys
     * sorted, no duplicates): one encoding per value keeps evidence hashes
     * (AR cache keys) meaningful. */
    vmesh_cbor_init(&r, p, n, "TPM2 evidence", VMESH_CBOR_DETERMINISTIC);
    VMESH_GUARD(vmesh_cbor_check(&r));
    VMESH_GUARD(vmesh_cbor_read_map(&r, &count, UINT64_MAX, "the evidence map"));
    VMESH_ENSURE(count >= 5 && count <= 6, VMESH_ERR_PARSE, "TPM2 evidence: map of %llu entries, expected 5 or 6",
                 (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(vmesh_cbor_read_uint(&r, &key, "a map key"));
        VMESH_ENSURE(key >= 1 && key <= 6, VMESH_ERR_PARSE, "TPM2 evidence: unknown key %llu",
                     (unsigned long long)key);
        seen |= 1u << key; /* sorted and unique: vmesh_cbor_check */
        switch (key) {
        case 1:
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_TPM2_MAX_ATTEST, &ev->attest, &ev->attest_len,
                                             "TPMS_ATTEST (key 1)"));
            break;
        case 2:
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_TPM2_MAX_SIGNATURE, &ev->signature, &ev->signature_len,
                                             "TPMT_SIGNATURE (key 2)"));
            break;
        case 3: VMESH_GUARD(decode_pcrs(&r, ev)); break;
        case 4:
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_TPM2_MAX_SPKI, &ev->ak_spki, &ev->ak_spki_len,
                                             "AK SPKI (key 4)"));
            break;
        case 5:
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_TPM2_MAX_CLASS, &ev->class_id, &ev->class_id_len,
                                             "class id (key 5)"));
            break;
        default:
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_TPM2_MAX_EVENTLOG, &ev->eventlog, &ev->eventlog_len,
                                             "event log (key 6)"));
            break;
        }
    }
    VMESH_ENSURE((seen & 0x3e) == 0x3e, VMESH_ERR_PARSE,
                 "TPM2 evidence: keys 1 (quote), 2 (signature), 3 (PCRs), 4 (AK) and 5 (class) are required");
    VMESH_ENSURE(ev->attest_len > 0 && ev->signature_len > 0 && ev->ak_spki_len > 0 && ev->class_id_len > 0,
                 VMESH_ERR_PARSE, "TPM2 evidence: an empty quote, signature, AK or class id");
    VMESH_GUARD(vmesh_cbor_end(&r, "the map"));
out:
    if (rc != VMESH_OK)
        vmesh_tpm2_evidence_free(ev);
    return rc;
}

vmesh_err vmesh_tpm2_evidence_encode(const vmesh_tpm2_evidence *ev, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(ev->attest_len > 0 && ev->attest_len <= VMESH_TPM2_MAX_ATTEST && ev->signature_len > 0 &&
                     ev->signature_len <= VMESH_TPM2_MAX_SIGNATURE && ev->ak_spki_len > 0 &&
                     ev->ak_spki_len <= VMESH_TPM2_MAX_SPKI && ev->class_id_len > 0 &&
                     ev->class_id_len <= VMESH_TPM2_MAX_CLASS && ev->npcrs >= 1 &&
                     ev->npcrs <= VMESH_TPM2_MAX_PCR_VALUES && ev->eventlog_len <= VMESH_TPM2_MAX_EVENTLOG,
                 VMESH_ERR_ARG, "TPM2 evidence: a field is empty or exceeds its cap");
    VMESH_GUARD(vmesh_cbor_put_map(out, ev->eventlog != NULL ? 6 : 5));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, ev->attest, ev->attest_len));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, ev->signature, ev->signature_len));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
    VMESH_GUARD(vmesh_cbor_put_array(out, ev->npcrs));
    for (size_t i = 0; i < ev->npcrs; i++) {
        VMESH_GUARD(vmesh_cbor_put_array(out, 3));
        VMESH_GUARD(vmesh_cbor_put_uint(out, ev->pcrs[i].alg));
        VMESH_GUARD(vmesh_cbor_put_uint(out, ev->pcrs[i].index));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, ev->pcrs[i].digest, ev->pcrs[i].digest_len));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 4));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, ev->ak_spki, ev->ak_spki_len));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 5));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, ev->class_id, ev->class_id_len));
    if (ev->eventlog != NULL) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 6));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, ev->eventlog, ev->eventlog_len));
    }
out:
    return rc;
}

/* ---- annotated evidence (JSON) --------------------------------------------------------- */

static vmesh_err json_hex(json_t *o, const char *k, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf h = {0};

    VMESH_GUARD(vmesh_hex_encode(p, n, &h));
    VMESH_GUARD(vmesh_buf_terminate(&h));
    VMESH_ENSURE(json_object_set_new(o, k, json_stringn((const char *)h.data, h.len)) == 0, VMESH_ERR_NOMEM,
                 "out of memory");
out:
    vmesh_buf_free(&h);
    return rc;
}

vmesh_err vmesh_tpm2_evidence_to_json(const vmesh_tpm2_evidence *ev, const vmesh_tpm2_quote *q, bool pretty,
                                      vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *root = json_object(), *quote = json_object(), *pcrs = json_object(), *el = NULL;
    char *s = NULL;
    uint8_t iid[32];
    char tmp[32];

    VMESH_ENSURE(root != NULL && quote != NULL && pcrs != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(json_hex(quote, "qualified-signer", q->signer_name, q->signer_name_len));
    VMESH_GUARD(json_hex(quote, "extra-data", q->extra_data, q->extra_data_len));
    VMESH_ENSURE(json_object_set_new(quote, "clock", json_integer((json_int_t)(q->clock & 0x7fffffffffffffffull))) == 0 &&
                     json_object_set_new(quote, "reset-count", json_integer(q->reset_count)) == 0 &&
                     json_object_set_new(quote, "restart-count", json_integer(q->restart_count)) == 0 &&
                     json_object_set_new(quote, "safe", json_boolean(q->safe)) == 0,
                 VMESH_ERR_NOMEM, "out of memory");
    snprintf(tmp, sizeof(tmp), "0x%016llx", (unsigned long long)q->firmware_version);
    VMESH_ENSURE(json_object_set_new(quote, "firmware-version", json_string(tmp)) == 0, VMESH_ERR_NOMEM,
                 "out of memory");
    VMESH_GUARD(json_hex(quote, "pcr-digest", q->pcr_digest, q->pcr_digest_len));
    for (size_t i = 0; i < ev->npcrs; i++) {
        const char *bank = vmesh_tpm2_alg_name(ev->pcrs[i].alg);
        json_t *b = json_object_get(pcrs, bank ? bank : "unknown");

        if (b == NULL) {
            b = json_object();
            VMESH_ENSURE(b != NULL && json_object_set_new(pcrs, bank ? bank : "unknown", b) == 0, VMESH_ERR_NOMEM,
                         "out of memory");
        }
        snprintf(tmp, sizeof(tmp), "%u", (unsigned)ev->pcrs[i].index);
        VMESH_GUARD(json_hex(b, tmp, ev->pcrs[i].digest, ev->pcrs[i].digest_len));
    }
    VMESH_ENSURE(json_object_set_new(root, "tpm2-quote", quote) == 0, VMESH_ERR_NOMEM, "out of memory");
    quote = NULL;
    VMESH_ENSURE(json_object_set_new(root, "pcrs", pcrs) == 0, VMESH_ERR_NOMEM, "out of memory");
    pcrs = NULL;
    vmesh_tpm2_instance_id(ev->ak_spki, ev->ak_spki_len, iid);
    VMESH_GUARD(json_hex(root, "ak-instance-id", iid, sizeof(iid)));
    VMESH_GUARD(json_hex(root, "class-id", ev->class_id, ev->class_id_len));
    if (ev->eventlog != NULL) {
        uint8_t d[32];

        el = json_object();
        VMESH_ENSURE(el != NULL, VMESH_ERR_NOMEM, "out of memory");
        vmesh_crypto_sha256(ev->eventlog, ev->eventlog_len, d);
        VMESH_ENSURE(json_object_set_new(el, "size", json_integer((json_int_t)ev->eventlog_len)) == 0,
                     VMESH_ERR_NOMEM, "out of memory");
        VMESH_GUARD(json_hex(el, "sha256", d, sizeof(d)));
        VMESH_ENSURE(json_object_set_new(root, "event-log", el) == 0, VMESH_ERR_NOMEM, "out of memory");
        el = NULL;
    }
    s = json_dumps(root, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_SORT_KEYS);
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_buf_append(out, s, strlen(s)));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    free(s);
    json_decref(el);
    json_decref(pcrs);
    json_decref(quote);
    json_decref(root);
    return rc;
}
