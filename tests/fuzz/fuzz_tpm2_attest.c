/*
 * Fuzz target: the tpm2 scheme's parsers on arbitrary bytes: the input as
 * a TPMS_ATTEST, as a TPMT_SIGNATURE and as a whole evidence map; what
 * decodes must re-encode to the same bytes (the parser accepts exactly what
 * the writer produces), print as JSON, and go through the appraisal (no
 * reference values: unknown AK) without crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/tpm2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip_quote(const uint8_t *data, size_t size)
{
    vmesh_tpm2_quote q;
    vmesh_buf b = {0};

    if (vmesh_tpm2_quote_parse(data, size, &q) != VMESH_OK)
        return;
    if (vmesh_tpm2_quote_marshal(&q, &b) != VMESH_OK || b.len != size || memcmp(b.data, data, size) != 0)
        abort();
    vmesh_buf_free(&b);
}

static void roundtrip_signature(const uint8_t *data, size_t size)
{
    vmesh_tpm2_signature s;
    vmesh_buf b = {0};

    if (vmesh_tpm2_signature_parse(data, size, &s) != VMESH_OK)
        return;
    if (vmesh_tpm2_signature_marshal(&s, &b) != VMESH_OK || b.len != size || memcmp(b.data, data, size) != 0)
        abort();
    vmesh_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_tpm2_evidence ev;
    vmesh_tpm2_quote q;
    vmesh_buf b = {0}, j = {0};
    vmesh_appraisal_in in = {0};
    vmesh_appraisal a;
    uint8_t d[32];

    roundtrip_quote(data, size);
    roundtrip_signature(data, size);
    if (vmesh_tpm2_evidence_decode(data, size, &ev) == VMESH_OK) {
        if (vmesh_tpm2_evidence_encode(&ev, &b) != VMESH_OK || b.len != size || memcmp(b.data, data, size) != 0)
            abort();
        roundtrip_quote(ev.attest, ev.attest_len);
        roundtrip_signature(ev.signature, ev.signature_len);
        if (vmesh_tpm2_quote_parse(ev.attest, ev.attest_len, &q) == VMESH_OK) {
            if (vmesh_tpm2_evidence_to_json(&ev, &q, false, &j) != VMESH_OK)
                abort();
            if (vmesh_tpm2_pcr_digest(q.sel, q.nsel, ev.pcrs, ev.npcrs, d) == VMESH_OK && q.pcr_digest_len == 32)
                (void)memcmp(q.pcr_digest, d, 32);
        }
        vmesh_tpm2_evidence_free(&ev);
    }
    in.evidence = data;
    in.evidence_len = size;
    in.media_type = VMESH_TPM2_MEDIA_TYPE;
    vmesh_appraisal_init(&a);
    if (vmesh_scheme_tpm2.appraise(&in, &a) == VMESH_OK && a.status == VMESH_TIER_AFFIRMING)
        abort(); /* no reference values: nothing can be affirming */
    (void)vmesh_scheme_tpm2.detect(data, size);
    vmesh_appraisal_free(&a);
    vmesh_buf_free(&b);
    vmesh_buf_free(&j);
    return 0;
}
