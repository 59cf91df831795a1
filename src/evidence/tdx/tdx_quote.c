/*
 * Intel TDX quote decoding (versions 4 and 5) and, for tests and
 * simulators, building a signed quote. Layout: Intel DCAP "Quote Format"
 * (header 48 bytes, TD quote body 584 bytes for TD report 1.0 / 648 for
 * 1.5, v5 body descriptor {type u16, size u32}, then the signature data:
 * signature 64, attestation key 64, certification data type 6 holding the
 * QE report 384, its signature 64, QE auth data {size u16, data} and
 * certification data type 5, the PCK chain as PEM); offsets cross-checked
 * with google/go-tdx-guest abi/abi.go. Every length read from the quote is
 * checked against the bytes that remain before it is used; nothing here
 * verifies signatures.
 */
#include "vmesh/tdx.h"

#include <string.h>

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void body_fields(vmesh_tdx_quote *q, const uint8_t *b, uint16_t type)
{
    memcpy(q->tee_tcb_svn, b + VMESH_TDX_BODY_TEE_TCB_SVN, 16);
    memcpy(q->mrseam, b + VMESH_TDX_BODY_MRSEAM, 48);
    memcpy(q->mrsignerseam, b + VMESH_TDX_BODY_MRSIGNERSEAM, 48);
    memcpy(q->seam_attributes, b + VMESH_TDX_BODY_SEAM_ATTRIBUTES, 8);
    memcpy(q->td_attributes, b + VMESH_TDX_BODY_TD_ATTRIBUTES, 8);
    memcpy(q->xfam, b + VMESH_TDX_BODY_XFAM, 8);
    memcpy(q->mrtd, b + VMESH_TDX_BODY_MRTD, 48);
    memcpy(q->mrconfigid, b + VMESH_TDX_BODY_MRCONFIGID, 48);
    memcpy(q->mrowner, b + VMESH_TDX_BODY_MROWNER, 48);
    memcpy(q->mrownerconfig, b + VMESH_TDX_BODY_MROWNERCONFIG, 48);
    for (int i = 0; i < 4; i++)
        memcpy(q->rtmr[i], b + VMESH_TDX_BODY_RTMR0 + 48 * i, 48);
    memcpy(q->report_data, b + VMESH_TDX_BODY_REPORT_DATA, 64);
    if (type == 3) {
        memcpy(q->tee_tcb_svn2, b + 584, 16);
        memcpy(q->mrservicetd, b + 600, 48);
    }
}

/* A cursor over the signature data. */
typedef struct {
    const uint8_t *p;
    size_t n, off;
} cur;

static vmesh_err take(cur *c, size_t k, const char *what, const uint8_t **out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(c->n - c->off >= k, VMESH_ERR_PARSE, "TDX quote: %s (%zu bytes) runs past the signature data", what,
                 k);
    *out = c->p + c->off;
    c->off += k;
out:
    return rc;
}

vmesh_err vmesh_tdx_quote_parse(const uint8_t *p, size_t n, vmesh_tdx_quote *q)
{
    vmesh_err rc = VMESH_OK;
    size_t off, body_len = 584;
    uint32_t sig_len, cert_size, inner_size;
    uint16_t cert_type, inner_type;
    const uint8_t *b = NULL, *x = NULL;
    cur c;

    memset(q, 0, sizeof(*q));
    VMESH_ENSURE(p != NULL && n >= VMESH_TDX_HEADER_SIZE + 584 + 4, VMESH_ERR_PARSE,
                 "TDX quote is %zu bytes, shorter than a header and a TD quote body", n);
    VMESH_ENSURE(n <= VMESH_TDX_MAX_QUOTE, VMESH_ERR_TOO_LARGE, "TDX quote is %zu bytes (cap %zu)", n,
                 VMESH_TDX_MAX_QUOTE);
    q->version = le16(p);
    q->att_key_type = le16(p + 2);
    q->tee_type = le32(p + 4);
    VMESH_ENSURE(q->version == 4 || q->version == 5, VMESH_ERR_UNSUPPORTED,
                 "TDX quote version %u is not supported (4 or 5)", q->version);
    VMESH_ENSURE(q->att_key_type == 2, VMESH_ERR_UNSUPPORTED,
                 "TDX quote: attestation key type %u is not ECDSA-256-with-P-256 (2)", q->att_key_type);
    VMESH_ENSURE(q->tee_type == 0x81, VMESH_ERR_UNSUPPORTED, "TDX quote: TEE type 0x%x is not TDX (0x81)",
                 q->tee_type);
    off = VMESH_TDX_HEADER_SIZE;
    q->body_type = 2;
    if (q->version == 5) {
        uint32_t bsize;

        q->body_type = le16(p + off);
        bsize = le32(p + off + 2);
        VMESH_ENSURE(q->body_type == 2 || q->body_type == 3, VMESH_ERR_UNSUPPORTED,
                     "TDX quote v5: body type %u is not a TD report 1.0 (2) or 1.5 (3)", q->body_type);
        body_len = q->body_type == 2 ? 584 : 648;
        VMESH_ENSURE(bsize == body_len, VMESH_ERR_PARSE, "TDX quote v5: body size %u, expected %zu for type %u",
                     bsize, body_len, q->body_type);
        off += 6;
    }
    VMESH_ENSURE(n - off >= body_len + 4, VMESH_ERR_PARSE, "TDX quote: the body is cut off");
    b = p + off;
    body_fields(q, b, q->body_type);
    off += body_len;
    q->signed_part = p;
    q->signed_len = off;
    sig_len = le32(p + off);
    off += 4;
    VMESH_ENSURE(sig_len <= n - off, VMESH_ERR_PARSE,
                 "TDX quote: signature data length %u exceeds the %zu bytes that follow", sig_len, n - off);
    q->trailing = n - off - sig_len;
    VMESH_ENSURE(q->trailing <= VMESH_TDX_MAX_TRAILING, VMESH_ERR_PARSE,
                 "TDX quote: %zu bytes follow the signature data (cap %d)", q->trailing, VMESH_TDX_MAX_TRAILING);
    c.p = p + off;
    c.n = sig_len;
    c.off = 0;
    VMESH_GUARD(take(&c, 64, "the quote signature", &q->signature));
    VMESH_GUARD(take(&c, 64, "the attestation key", &q->att_key));
    VMESH_GUARD(take(&c, 6, "the certification data header", &x));
    cert_type = le16(x);
    cert_size = le32(x + 2);
    VMESH_ENSURE(cert_type == 6, VMESH_ERR_UNSUPPORTED,
                 "TDX quote: certification data type %u; only 6 (QE report certification data) is supported",
                 cert_type);
    VMESH_ENSURE(cert_size == c.n - c.off, VMESH_ERR_PARSE,
                 "TDX quote: certification data size %u, but %zu bytes remain in the signature data", cert_size,
                 c.n - c.off);
    VMESH_GUARD(take(&c, VMESH_TDX_QE_REPORT_SIZE, "the QE report", &q->qe_report));
    VMESH_GUARD(take(&c, 64, "the QE report signature", &q->qe_report_sig));
    VMESH_GUARD(take(&c, 2, "the QE auth data size", &x));
    q->qe_auth_len = le16(x);
    VMESH_GUARD(take(&c, q->qe_auth_len, "the QE auth data", &q->qe_auth));
    VMESH_GUARD(take(&c, 6, "the PCK certification data header", &x));
    inner_type = le16(x);
    inner_size = le32(x + 2);
    VMESH_ENSURE(inner_type == 5, VMESH_ERR_UNSUPPORTED,
                 "TDX quote: inner certification data type %u; only 5 (PCK certificate chain) is supported",
                 inner_type);
    VMESH_ENSURE(inner_size == c.n - c.off, VMESH_ERR_PARSE,
                 "TDX quote: PCK chain size %u, but %zu bytes remain in the signature data", inner_size,
                 c.n - c.off);
    VMESH_GUARD(take(&c, inner_size, "the PCK certificate chain", &q->pck_chain));
    q->pck_chain_len = inner_size;
out:
    return rc;
}

static vmesh_err put_le(vmesh_buf *b, uint64_t v, size_t k)
{
    uint8_t t[8];

    for (size_t i = 0; i < k; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return vmesh_buf_append(b, t, k);
}

vmesh_err vmesh_tdx_quote_build(const vmesh_tdx_quote_spec *s, const vmesh_key *att_key, const vmesh_key *pck_key,
                                vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf sig = {0}, pub = {0}, qe_sig = {0}, tmp = {0};
    uint8_t qe[VMESH_TDX_QE_REPORT_SIZE];
    size_t body_len = (s->version == 5 && s->body_type == 3) ? 648 : 584, chain_len;
    size_t cert_size, sig_len;

    VMESH_ENSURE(s->version == 4 || s->version == 5, VMESH_ERR_ARG, "TDX quote version must be 4 or 5");
    VMESH_ENSURE(s->qe_auth_len <= 0xffff && s->pck_chain != NULL, VMESH_ERR_ARG, "TDX quote: bad QE auth data or chain");
    chain_len = strlen(s->pck_chain);
    /* attestation key: uncompressed point without the 0x04 prefix */
    VMESH_GUARD(vmesh_crypto_key_to_spki(att_key, &tmp));
    VMESH_ENSURE(tmp.len >= 65 && tmp.data[tmp.len - 65] == 0x04, VMESH_ERR_ARG,
                 "TDX quote: the attestation key must be P-256");
    VMESH_GUARD(vmesh_buf_append(&pub, tmp.data + tmp.len - 64, 64));
    /* QE report data = SHA-256(attestation key || QE auth data) || 32 zero bytes */
    memcpy(qe, s->qe_report, sizeof(qe));
    vmesh_buf_reset(&tmp);
    VMESH_GUARD(vmesh_buf_append(&tmp, pub.data, 64));
    if (s->qe_auth_len > 0)
        VMESH_GUARD(vmesh_buf_append(&tmp, s->qe_auth, s->qe_auth_len));
    vmesh_crypto_sha256(tmp.data, tmp.len, qe + 320);
    memset(qe + 352, 0, 32);
    VMESH_GUARD(vmesh_crypto_sign(pck_key, qe, sizeof(qe), &qe_sig));
    VMESH_ENSURE(qe_sig.len == 64, VMESH_ERR_ARG, "TDX quote: the PCK key must be P-256");

    vmesh_buf_reset(out);
    VMESH_GUARD(put_le(out, s->version, 2));
    VMESH_GUARD(put_le(out, 2, 2));
    VMESH_GUARD(put_le(out, 0x81, 4));
    VMESH_GUARD(put_le(out, 0, 4));
    {
        static const uint8_t intel_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                                 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
        uint8_t user[20] = {0};

        VMESH_GUARD(vmesh_buf_append(out, intel_vendor, 16));
        VMESH_GUARD(vmesh_buf_append(out, user, 20));
    }
    if (s->version == 5) {
        VMESH_GUARD(put_le(out, s->body_type, 2));
        VMESH_GUARD(put_le(out, body_len, 4));
    }
    VMESH_GUARD(vmesh_buf_append(out, s->body, body_len));
    VMESH_GUARD(vmesh_crypto_sign(att_key, out->data, out->len, &sig));
    VMESH_ENSURE(sig.len == 64, VMESH_ERR_ARG, "TDX quote: the attestation key must be P-256");
    cert_size = VMESH_TDX_QE_REPORT_SIZE + 64 + 2 + s->qe_auth_len + 6 + chain_len;
    sig_len = 64 + 64 + 6 + cert_size;
    VMESH_GUARD(put_le(out, sig_len, 4));
    VMESH_GUARD(vmesh_buf_append(out, sig.data, 64));
    VMESH_GUARD(vmesh_buf_append(out, pub.data, 64));
    VMESH_GUARD(put_le(out, 6, 2));
    VMESH_GUARD(put_le(out, cert_size, 4));
    VMESH_GUARD(vmesh_buf_append(out, qe, sizeof(qe)));
    VMESH_GUARD(vmesh_buf_append(out, qe_sig.data, 64));
    VMESH_GUARD(put_le(out, s->qe_auth_len, 2));
    if (s->qe_auth_len > 0)
        VMESH_GUARD(vmesh_buf_append(out, s->qe_auth, s->qe_auth_len));
    VMESH_GUARD(put_le(out, 5, 2));
    VMESH_GUARD(put_le(out, chain_len, 4));
    VMESH_GUARD(vmesh_buf_append(out, s->pck_chain, chain_len));
out:
    vmesh_buf_free(&sig);
    vmesh_buf_free(&pub);
    vmesh_buf_free(&qe_sig);
    vmesh_buf_free(&tmp);
    return rc;
}
