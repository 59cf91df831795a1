/*
 * vmesh snp: the "sev-snp" evidence scheme. AMD SEV-SNP ATTESTATION_REPORT
 * (SEV Secure Nested Paging Firmware ABI Specification, report versions 2,
 * 3 and 5; layout as in google/go-sev-guest abi/abi.go), signed with
 * ECDSA P-384 by the VCEK or VLEK, whose chain VCEK/VLEK -> ASK -> ARK ends
 * in an AMD root pinned by SHA-256 (Milan, Genoa). Evidence is either the
 * raw 1184-byte report or a small CBOR map carrying the report and its
 * certificates (docs/CC.md). The verifier side never reports a better trust
 * vector than the evidence supports; the attester side lives in the `tsm`
 * module (configfs-tsm), since only the guest kernel can ask the PSP.
 *
 * The report struct below is plain data (not opaque): a decoded view.
 */
#ifndef VMESH_SNP_H
#define VMESH_SNP_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_SNP_REPORT_SIZE 0x4A0 /* 1184 */
#define VMESH_SNP_SIGNED_SIZE 0x2A0 /* bytes covered by the signature */
#define VMESH_SNP_MAX_CERT ((size_t)16 * 1024)
#define VMESH_SNP_MAX_CHAIN 4
#define VMESH_SNP_MAX_EVIDENCE ((size_t)96 * 1024)

#define VMESH_SNP_MEDIA_TYPE "application/vnd.vmesh.sev-snp-report"
#define VMESH_SNP_MEDIA_TYPE_CBOR "application/vnd.vmesh.sev-snp+cbor"
/* RV store class id of every sev-snp reference value and trust anchor. */
#define VMESH_SNP_CLASS "sev-snp"

/* guest POLICY bits (ABI spec, GUEST_POLICY) */
#define VMESH_SNP_POLICY_SMT (1ULL << 16)
#define VMESH_SNP_POLICY_RESERVED1 (1ULL << 17) /* must be 1 */
#define VMESH_SNP_POLICY_MIGRATE_MA (1ULL << 18)
#define VMESH_SNP_POLICY_DEBUG (1ULL << 19)
#define VMESH_SNP_POLICY_SINGLE_SOCKET (1ULL << 20)

/* SIGNING_KEY in bits 4:2 of the word at 0x48 */
#define VMESH_SNP_KEY_VCEK 0
#define VMESH_SNP_KEY_VLEK 1
#define VMESH_SNP_KEY_NONE 7

typedef struct {
    uint32_t version;
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo; /* 1: ECDSA P-384 with SHA-384 */
    uint64_t current_tcb;
    uint64_t platform_info;
    uint32_t signer_info;    /* AUTHOR_KEY_EN bit 0, MASK_CHIP_KEY bit 1, SIGNING_KEY bits 4:2 */
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    uint64_t reported_tcb;
    uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step; /* version >= 3; 0 otherwise */
    uint8_t chip_id[64];
    uint64_t committed_tcb;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_tcb;
    uint8_t sig_r[72]; /* little-endian, as in the report */
    uint8_t sig_s[72];
} vmesh_snp_report;

/* Decodes a report; refuses any other size, unknown versions (only 2, 3,
 * 5), a signature algorithm other than 1, reserved bits or bytes that must
 * be zero, and a policy without its must-be-one bit. */
vmesh_err vmesh_snp_report_parse(const uint8_t *p, size_t n, vmesh_snp_report *r) VMESH_WUR;

/* SIGNING_KEY of a decoded report. */
unsigned vmesh_snp_signing_key(const vmesh_snp_report *r);

/* Evidence as the scheme reads it: pointers into the caller's bytes. */
typedef struct {
    const uint8_t *report; /* VMESH_SNP_REPORT_SIZE bytes */
    const uint8_t *cert;   /* VCEK or VLEK DER; NULL when not carried */
    size_t cert_len;
    const uint8_t *chain[VMESH_SNP_MAX_CHAIN]; /* ASK, ARK (DER), optional */
    size_t chain_len[VMESH_SNP_MAX_CHAIN];
    size_t nchain;
} vmesh_snp_evidence;

/* Raw report (exactly 1184 bytes) or the CBOR map
 * {1: report, ?2: VCEK/VLEK DER, ?3: [* certificate DER]}. */
vmesh_err vmesh_snp_evidence_decode(const uint8_t *p, size_t n, vmesh_snp_evidence *ev) VMESH_WUR;
/* Writes the CBOR form (cert and chain may be NULL / 0). */
vmesh_err vmesh_snp_evidence_encode(const uint8_t *report, const uint8_t *cert, size_t cert_len,
                                    const uint8_t *const *chain, const size_t *chain_len, size_t nchain,
                                    vmesh_buf *out) VMESH_WUR;

/* The certificate table of an extended guest request (configfs-tsm
 * auxblob for sev_guest): GUID/offset/length entries ending in a zero
 * entry. Fills the VCEK or VLEK, ASK and ARK it finds (pointers into p). */
vmesh_err vmesh_snp_certtable_parse(const uint8_t *p, size_t n, vmesh_snp_evidence *ev) VMESH_WUR;

/* Signs bytes 0x000-0x29F of report in place with a P-384 key (r and s
 * little-endian, zero-extended to 72 bytes). For tests and simulators: a
 * real report is signed by the AMD secure processor. */
vmesh_err vmesh_snp_report_sign(uint8_t *report, size_t n, const vmesh_key *key) VMESH_WUR;

/* TCB_VERSION components (Milan/Genoa layout: BOOT_LOADER byte 0, TEE
 * byte 1, SNP byte 6, MICROCODE byte 7). "bl=3,tee=0,snp=8,ucode=115". */
typedef struct {
    uint8_t bl, tee, snp, ucode;
} vmesh_snp_tcb;
vmesh_snp_tcb vmesh_snp_tcb_of(uint64_t tcb_version);
vmesh_err vmesh_snp_tcb_parse(const char *s, vmesh_snp_tcb *out) VMESH_WUR;

extern const vmesh_evidence_scheme vmesh_scheme_snp;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
