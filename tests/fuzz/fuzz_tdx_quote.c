/* Fuzz target: a TDX quote with its certification data (QE report, QE
 * auth data, PCK chain) through parsing, detection and a full appraisal
 * without trust anchors. Must never crash, hang or leak. */
#include "vmesh/tdx.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_tdx_quote q;
    vmesh_appraisal a;
    vmesh_appraisal_in in;

    (void)!vmesh_tdx_quote_parse(data, size, &q);
    (void)!vmesh_scheme_tdx.detect(data, size);
    memset(&in, 0, sizeof(in));
    in.evidence = data;
    in.evidence_len = size;
    in.now = 1688169600;
    vmesh_appraisal_init(&a);
    (void)!vmesh_scheme_tdx.appraise(&in, &a);
    vmesh_appraisal_free(&a);
    return 0;
}
