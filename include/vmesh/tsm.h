/*
 * vmesh tsm: the attester for confidential VMs through Linux's configfs-tsm
 * report interface (Documentation/ABI/testing/configfs-tsm): create
 * <root>/report/<entry>/, write the 64-byte REPORT_DATA to inblob, read
 * provider, outblob, auxblob and generation. The provider picks the
 * evidence: "sev_guest" -> sev-snp (CBOR envelope with the certificates of
 * auxblob), "tdx_guest" -> tdx (the quote). Evidence is wrapped in a CMW
 * record [inner media type, inner evidence] (media type
 * application/vnd.vmesh.tsm+cbor) and appraised by the inner scheme.
 *
 * Attester configuration (vmesh_kv): "tsm-root" (default
 * /sys/kernel/config/tsm), "entry" (default "vmesh-<pid>"), "privlevel"
 * (written when given, SEV-SNP VMPL). It never returns evidence whose
 * REPORT_DATA is not the inblob it wrote, nor evidence read while another
 * writer changed the entry (generation moved).
 */
#ifndef VMESH_TSM_H
#define VMESH_TSM_H

#include "vmesh/core.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_TSM_MEDIA_TYPE "application/vnd.vmesh.tsm+cbor"
#define VMESH_TSM_DEFAULT_ROOT "/sys/kernel/config/tsm"
#define VMESH_TSM_MAX_BLOB ((size_t)64 * 1024)

/* CMW record (draft-ietf-rats-msg-wrap §3.1: [type, value]) with a text media type. */
vmesh_err vmesh_tsm_cmw_encode(const char *media_type, const uint8_t *p, size_t n, vmesh_buf *out) VMESH_WUR;
/* Points into p; *mt is a NUL-terminated copy in mt_buf (at most mt_cap - 1 bytes). */
vmesh_err vmesh_tsm_cmw_decode(const uint8_t *p, size_t n, char *mt_buf, size_t mt_cap, const uint8_t **value,
                               size_t *value_len) VMESH_WUR;

extern const vmesh_evidence_scheme vmesh_scheme_tsm;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
