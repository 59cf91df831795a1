/* Fuzz target: sev-snp evidence (raw report or CBOR envelope with
 * certificates) through decode, report parsing, the certificate table
 * parser and a full appraisal without trust anchors. Must never crash,
 * hang or leak. */
#include "vmesh/snp.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_snp_evidence ev;
    vmesh_snp_report r;
    vmesh_appraisal a;
    vmesh_appraisal_in in;

    if (vmesh_snp_evidence_decode(data, size, &ev) == VMESH_OK)
        (void)!vmesh_snp_report_parse(ev.report, VMESH_SNP_REPORT_SIZE, &r);
    memset(&ev, 0, sizeof(ev));
    (void)!vmesh_snp_certtable_parse(data, size, &ev);
    (void)!vmesh_scheme_snp.detect(data, size);
    memset(&in, 0, sizeof(in));
    in.evidence = data;
    in.evidence_len = size;
    in.now = 1672531200;
    vmesh_appraisal_init(&a);
    (void)!vmesh_scheme_snp.appraise(&in, &a);
    vmesh_appraisal_free(&a);
    return 0;
}
