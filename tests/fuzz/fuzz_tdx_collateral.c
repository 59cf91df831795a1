/* Fuzz target: TDX collateral (TCB Info / QE Identity JSON as Intel's PCS
 * serves it): parsing, locating the signed member, and TCB-level matching
 * against a fixed platform. Must never crash, hang or leak. */
#include "vmesh/tdx.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmesh_tdx_collateral *c = NULL;
    vmesh_tdx_pck_info pck;
    vmesh_tdx_quote q;
    vmesh_tdx_tcb_status st;
    uint8_t qe[VMESH_TDX_QE_REPORT_SIZE], fmspc[6];
    char why[256];

    if (vmesh_tdx_collateral_parse((const char *)data, size, &c) != VMESH_OK)
        return 0;
    memset(&pck, 0, sizeof(pck));
    memset(pck.cpusvn_components, 3, 16);
    pck.pcesvn = 11;
    memcpy(pck.fmspc, "\x50\x80\x6f\x00\x00\x00", 6);
    memset(&q, 0, sizeof(q));
    q.tee_tcb_svn[0] = 3;
    q.tee_tcb_svn[1] = (uint8_t)(size & 1);
    q.tee_tcb_svn[2] = 4;
    memset(qe, 0, sizeof(qe));
    (void)!vmesh_tdx_collateral_fmspc(c, fmspc);
    if (vmesh_tdx_collateral_is_tcb_info(c))
        (void)!vmesh_tdx_tcb_info_status(c, &pck, &q, &st, why, sizeof(why));
    else
        (void)!vmesh_tdx_qe_identity_status(c, qe, &st, why, sizeof(why));
    vmesh_tdx_collateral_free(c);
    return 0;
}
