/*
 * The two wire forms of sev-snp evidence (docs/CC.md): the raw 1184-byte
 * ATTESTATION_REPORT, or the CBOR map {1: report, ?2: VCEK/VLEK DER,
 * ?3: [* certificate DER]} that also carries the certificates the guest got
 * from the host (configfs-tsm auxblob). Decoding only points into the
 * caller's bytes; it must never accept trailing bytes, duplicate keys or a
 * length beyond its cap.
 */
#include "vmesh/snp.h"
#include "vmesh/cbor.h"

#include <string.h>

vmesh_err vmesh_snp_evidence_decode(const uint8_t *p, size_t n, vmesh_snp_evidence *ev)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor c;
    vmesh_cbor_head h;
    uint64_t count, key, nchain;
    unsigned seen = 0;
    size_t rlen = 0;

    memset(ev, 0, sizeof(*ev));
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "SEV-SNP evidence is empty");
    VMESH_ENSURE(n <= VMESH_SNP_MAX_EVIDENCE, VMESH_ERR_TOO_LARGE, "SEV-SNP evidence is %zu bytes (cap %zu)", n,
                 VMESH_SNP_MAX_EVIDENCE);
    vmesh_cbor_init(&c, p, n, "SEV-SNP evidence", 0);
    /* a raw report, unless it starts like a CBOR map */
    if (n == VMESH_SNP_REPORT_SIZE && (vmesh_cbor_peek(&c, &h) != VMESH_OK || h.major != VMESH_CBOR_MAP)) {
        ev->report = p;
        goto out;
    }
    rc = vmesh_cbor_read_map(&c, &count, 3, "the evidence");
    VMESH_ENSURE(rc == VMESH_OK && count >= 1, VMESH_ERR_PARSE,
                 "SEV-SNP evidence is neither a %d-byte report nor a CBOR map of 1 to 3 entries",
                 VMESH_SNP_REPORT_SIZE);
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(vmesh_cbor_read_uint(&c, &key, "a map key"));
        VMESH_ENSURE(key >= 1 && key <= 3, VMESH_ERR_PARSE,
                     "SEV-SNP evidence: map key %llu is not 1 (report), 2 (certificate) or 3 (chain)",
                     (unsigned long long)key);
        VMESH_ENSURE((seen & (1u << key)) == 0, VMESH_ERR_PARSE, "SEV-SNP evidence: key %llu appears twice",
                     (unsigned long long)key);
        seen |= 1u << key;
        if (key == 1) {
            VMESH_GUARD(vmesh_cbor_read_bstr(&c, VMESH_SNP_REPORT_SIZE, &ev->report, &rlen, "the report (key 1)"));
            VMESH_ENSURE(rlen == VMESH_SNP_REPORT_SIZE, VMESH_ERR_PARSE,
                         "SEV-SNP evidence: the report is %zu bytes, expected %d", rlen, VMESH_SNP_REPORT_SIZE);
        } else if (key == 2) {
            VMESH_GUARD(vmesh_cbor_read_bstr(&c, VMESH_SNP_MAX_CERT, &ev->cert, &ev->cert_len, "the certificate (key 2)"));
        } else {
            VMESH_GUARD(vmesh_cbor_read_array(&c, &nchain, VMESH_SNP_MAX_CHAIN, "the chain (key 3)"));
            for (size_t j = 0; j < nchain; j++)
                VMESH_GUARD(vmesh_cbor_read_bstr(&c, VMESH_SNP_MAX_CERT, &ev->chain[j], &ev->chain_len[j],
                                                 "a chain certificate (key 3)"));
            ev->nchain = (size_t)nchain;
        }
    }
    VMESH_ENSURE(ev->report != NULL, VMESH_ERR_PARSE, "SEV-SNP evidence: the map has no report (key 1)");
    VMESH_GUARD(vmesh_cbor_end(&c, "the CBOR map"));
    VMESH_ENSURE(ev->cert == NULL || ev->cert_len > 0, VMESH_ERR_PARSE, "SEV-SNP evidence: empty certificate");
out:
    if (rc != VMESH_OK)
        memset(ev, 0, sizeof(*ev));
    return rc;
}

vmesh_err vmesh_snp_evidence_encode(const uint8_t *report, const uint8_t *cert, size_t cert_len,
                                    const uint8_t *const *chain, const size_t *chain_len, size_t nchain,
                                    vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint64_t count = 1 + (cert != NULL ? 1 : 0) + (nchain > 0 ? 1 : 0);

    VMESH_ENSURE(report != NULL, VMESH_ERR_ARG, "SEV-SNP evidence: no report");
    VMESH_ENSURE(nchain <= VMESH_SNP_MAX_CHAIN && cert_len <= VMESH_SNP_MAX_CERT, VMESH_ERR_TOO_LARGE,
                 "SEV-SNP evidence: too many or too large certificates");
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cbor_put_map(out, count));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, report, VMESH_SNP_REPORT_SIZE));
    if (cert != NULL) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, cert, cert_len));
    }
    if (nchain > 0) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
        VMESH_GUARD(vmesh_cbor_put_array(out, nchain));
        for (size_t i = 0; i < nchain; i++) {
            VMESH_ENSURE(chain_len[i] <= VMESH_SNP_MAX_CERT, VMESH_ERR_TOO_LARGE, "certificate too large");
            VMESH_GUARD(vmesh_cbor_put_bstr(out, chain[i], chain_len[i]));
        }
    }
out:
    return rc;
}
