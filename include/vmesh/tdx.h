/*
 * vmesh tdx: the "tdx" evidence scheme. Intel TDX quotes version 4 and 5
 * (body TD report 1.0 or 1.5; layout as in Intel's DCAP "Quote Format" and
 * google/go-tdx-guest abi/abi.go): ECDSA P-256 quote signature by the
 * attestation key over header and body, the QE report signed by the PCK key
 * and binding the attestation key, the PCK chain (certification data type
 * 5 inside type 6) to the Intel SGX Root CA pinned by SHA-256, and the TCB
 * status from TCB Info / QE Identity collateral that the RV store carries
 * (docs/CC.md). The attester side lives in the `tsm` module.
 *
 * The quote struct is plain data (not opaque): a decoded view whose
 * pointers point into the caller's bytes.
 */
#ifndef VMESH_TDX_H
#define VMESH_TDX_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_TDX_MEDIA_TYPE "application/vnd.vmesh.tdx-quote"
#define VMESH_TDX_CLASS "tdx"
#define VMESH_TDX_MAX_QUOTE ((size_t)64 * 1024)
#define VMESH_TDX_MAX_TRAILING 4096 /* unsigned bytes after the signature data (quote buffer padding) */
#define VMESH_TDX_HEADER_SIZE 48
#define VMESH_TDX_QE_REPORT_SIZE 384
#define VMESH_TDX_ATTR_DEBUG 1ULL /* TDATTRIBUTES bit 0: TUD.DEBUG */

typedef struct {
    uint16_t version;  /* 4 or 5 */
    uint16_t att_key_type; /* 2: ECDSA-256-with-P-256 */
    uint32_t tee_type; /* 0x81: TDX */
    uint16_t body_type; /* 2: TD report 1.0, 3: TD report 1.5 (v4 quotes: 2) */
    /* TD quote body */
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16]; /* body type 3 only */
    uint8_t mrservicetd[48];  /* body type 3 only */
    /* signature data */
    const uint8_t *signed_part; /* header and body (v5: with the body descriptor) */
    size_t signed_len;
    const uint8_t *signature;   /* 64 bytes r || s, big-endian */
    const uint8_t *att_key;     /* 64 bytes x || y */
    const uint8_t *qe_report;   /* 384 bytes (SGX report body) */
    const uint8_t *qe_report_sig; /* 64 bytes */
    const uint8_t *qe_auth;
    size_t qe_auth_len;
    const uint8_t *pck_chain;   /* PEM text, certification data type 5 */
    size_t pck_chain_len;
    size_t trailing;            /* ignored bytes after the signature data */
} vmesh_tdx_quote;

/* Decodes a quote; every length field is checked against what is left. */
vmesh_err vmesh_tdx_quote_parse(const uint8_t *p, size_t n, vmesh_tdx_quote *q) VMESH_WUR;

/* What a test or simulator needs to build a quote: the quote is signed by
 * att_key (P-256 private), the QE report (template, report data filled in)
 * by pck_key (P-256 private); pck_chain is the PEM chain to embed. */
typedef struct {
    uint16_t version;   /* 4 or 5 */
    uint16_t body_type; /* for v5: 2 or 3 */
    uint8_t body[648];  /* TD quote body as laid out in the quote (584 or 648 bytes used) */
    uint8_t qe_report[VMESH_TDX_QE_REPORT_SIZE];
    const uint8_t *qe_auth;
    size_t qe_auth_len;
    const char *pck_chain;
} vmesh_tdx_quote_spec;
vmesh_err vmesh_tdx_quote_build(const vmesh_tdx_quote_spec *spec, const vmesh_key *att_key,
                                const vmesh_key *pck_key, vmesh_buf *out) VMESH_WUR;

/* Offsets in the TD quote body (as in the quote). */
#define VMESH_TDX_BODY_TEE_TCB_SVN 0x00
#define VMESH_TDX_BODY_MRSEAM 0x10
#define VMESH_TDX_BODY_MRSIGNERSEAM 0x40
#define VMESH_TDX_BODY_SEAM_ATTRIBUTES 0x70
#define VMESH_TDX_BODY_TD_ATTRIBUTES 0x78
#define VMESH_TDX_BODY_XFAM 0x80
#define VMESH_TDX_BODY_MRTD 0x88
#define VMESH_TDX_BODY_MRCONFIGID 0xB8
#define VMESH_TDX_BODY_MROWNER 0xE8
#define VMESH_TDX_BODY_MROWNERCONFIG 0x118
#define VMESH_TDX_BODY_RTMR0 0x148
#define VMESH_TDX_BODY_REPORT_DATA 0x208

/* ---- collateral (TCB Info v3 "TDX", QE Identity v2 "TD_QE") -------------- */

typedef enum {
    VMESH_TDX_TCB_UNKNOWN = 0,
    VMESH_TDX_TCB_UP_TO_DATE,
    VMESH_TDX_TCB_SW_HARDENING_NEEDED,
    VMESH_TDX_TCB_CONFIGURATION_NEEDED,
    VMESH_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    VMESH_TDX_TCB_OUT_OF_DATE,
    VMESH_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    VMESH_TDX_TCB_REVOKED,
} vmesh_tdx_tcb_status;

const char *vmesh_tdx_tcb_status_name(vmesh_tdx_tcb_status s);
/* AR4SI hardware claim for a status: UpToDate 2; SWHardeningNeeded,
 * ConfigurationNeeded, ConfigurationAndSWHardeningNeeded 32; OutOfDate,
 * OutOfDateConfigurationNeeded, Revoked (and no matching level) 96. */
int8_t vmesh_tdx_tcb_claim(vmesh_tdx_tcb_status s);

typedef struct vmesh_tdx_collateral vmesh_tdx_collateral;

/* Parses a PCS response body {"tcbInfo": {...}, "signature": "hex"} or
 * {"enclaveIdentity": {...}, "signature": "hex"}; keeps the exact bytes of
 * the signed member. */
vmesh_err vmesh_tdx_collateral_parse(const char *json, size_t n, vmesh_tdx_collateral **out) VMESH_WUR;
void vmesh_tdx_collateral_free(vmesh_tdx_collateral *c);
bool vmesh_tdx_collateral_is_tcb_info(const vmesh_tdx_collateral *c);
/* Checks the signature (ECDSA P-256 / SHA-256 over the signed member) with
 * the public key of `signer` (an X509 *, passed as void * so that this
 * header does not need OpenSSL), and issueDate <= at <= nextUpdate. */
vmesh_err vmesh_tdx_collateral_check(const vmesh_tdx_collateral *c, void *signer, int64_t at) VMESH_WUR;

/* TCB level of a platform: PCK certificate SVNs and FMSPC/PCE-ID, and the
 * quote's TEE_TCB_SVN (TCB Info), or the QE report's ISVSVN etc. (QE
 * Identity). Explains a mismatch in why. */
typedef struct {
    uint8_t cpusvn_components[16]; /* PCK extension 1.2.840.113741.1.13.1.2.1-16 */
    uint16_t pcesvn;               /* .2.17 */
    uint8_t fmspc[6];              /* .4 */
    uint8_t pceid[2];              /* .3 */
} vmesh_tdx_pck_info;
vmesh_err vmesh_tdx_pck_info_of(void *pck_x509, vmesh_tdx_pck_info *out) VMESH_WUR;

vmesh_err vmesh_tdx_tcb_info_status(const vmesh_tdx_collateral *c, const vmesh_tdx_pck_info *pck,
                                    const vmesh_tdx_quote *q, vmesh_tdx_tcb_status *status, char *why,
                                    size_t whyn) VMESH_WUR;
/* QE Identity: MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES (masked)
 * must match (VMESH_ERR_MISMATCH otherwise); then the status of ISVSVN. */
vmesh_err vmesh_tdx_qe_identity_status(const vmesh_tdx_collateral *c, const uint8_t *qe_report,
                                       vmesh_tdx_tcb_status *status, char *why, size_t whyn) VMESH_WUR;
/* FMSPC / id of a TCB Info (for picking the collateral of a platform). */
bool vmesh_tdx_collateral_fmspc(const vmesh_tdx_collateral *c, uint8_t fmspc[6]);

extern const vmesh_evidence_scheme vmesh_scheme_tdx;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
