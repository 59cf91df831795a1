/*
 * vmesh tpm2: the TPM 2.0 quote evidence scheme (docs/TPM2.md). The
 * attester drives a TPM through tpm2-tss ESYS over any TCTI (device,
 * tabrmd, swtpm): a restricted ECC P-256 attestation key at a persistent
 * handle quotes a PCR selection with the caller's nonce as qualifying data.
 * The verifier side parses TPMS_ATTEST and TPMT_SIGNATURE with its own
 * bounds-checked reader (never Tss2_MU on untrusted bytes), verifies the
 * quote signature with the AK endorsed in the RV store, recomputes the PCR
 * digest and compares PCR values with reference values. Nothing decoded
 * from evidence is trusted before the signature has been checked with an
 * endorsed key.
 */
#ifndef VMESH_TPM2_H
#define VMESH_TPM2_H

#include "vmesh/core.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* The media type of the evidence this scheme produces (a CBOR map, below). */
#define VMESH_TPM2_MEDIA_TYPE "application/vnd.vmesh.tpm2-quote+cbor"
/* Class id used when the attester configuration names none. */
#define VMESH_TPM2_DEFAULT_CLASS "vmesh-tpm2-platform"
#define VMESH_TPM2_DEFAULT_AK_HANDLE 0x81010002u
#define VMESH_TPM2_DEFAULT_PCRS "sha256:0,1,2,3,4,5,6,7"

/* TPM 2.0 constants (TPM 2.0 Library Part 2). */
#define VMESH_TPM2_GENERATED_VALUE 0xff544347u /* TPM_GENERATED_VALUE */
#define VMESH_TPM2_ST_ATTEST_QUOTE 0x8018u
#define VMESH_TPM2_ALG_SHA1 0x0004u
#define VMESH_TPM2_ALG_SHA256 0x000bu
#define VMESH_TPM2_ALG_SHA384 0x000cu
#define VMESH_TPM2_ALG_SHA512 0x000du
#define VMESH_TPM2_ALG_ECDSA 0x0018u

/* Caps that keep hostile evidence bounded. */
#define VMESH_TPM2_MAX_ATTEST 2048          /* TPMS_ATTEST bytes (a quote is ~150) */
#define VMESH_TPM2_MAX_SIGNATURE 1024       /* TPMT_SIGNATURE bytes */
#define VMESH_TPM2_MAX_BANKS 16             /* TPM2_NUM_PCR_BANKS */
#define VMESH_TPM2_MAX_PCRS 32              /* PCR indices 0..31 */
#define VMESH_TPM2_MAX_PCR_VALUES (VMESH_TPM2_MAX_BANKS * VMESH_TPM2_MAX_PCRS)
#define VMESH_TPM2_MAX_CLASS 256            /* = VMESH_RV_MAX_ID */
#define VMESH_TPM2_MAX_SPKI 512
#define VMESH_TPM2_MAX_EVENTLOG ((size_t)4 * 1024 * 1024)
#define VMESH_TPM2_MAX_EVIDENCE (VMESH_TPM2_MAX_EVENTLOG + 64 * 1024)

/* One PCR selection (TPMS_PCR_SELECTION). */
typedef struct {
    uint16_t hash;       /* TPM_ALG_ID of the bank */
    uint8_t size;        /* sizeofSelect, 1..4 */
    uint8_t select[4];   /* bit i of byte j selects PCR 8j+i */
} vmesh_tpm2_pcr_sel;

/* A decoded TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
typedef struct {
    uint32_t magic;
    uint16_t type;
    uint8_t signer_name[68];     /* qualifiedSigner (TPM2B_NAME) */
    size_t signer_name_len;
    uint8_t extra_data[64];      /* extraData: the qualifying data (nonce) */
    size_t extra_data_len;
    uint64_t clock;              /* clockInfo */
    uint32_t reset_count, restart_count;
    uint8_t safe;
    uint64_t firmware_version;
    vmesh_tpm2_pcr_sel sel[VMESH_TPM2_MAX_BANKS]; /* attested.quote.pcrSelect */
    size_t nsel;
    uint8_t pcr_digest[64];      /* attested.quote.pcrDigest */
    size_t pcr_digest_len;
} vmesh_tpm2_quote;

/* A decoded TPMT_SIGNATURE (ECDSA only: other algorithms are refused). */
typedef struct {
    uint16_t sig_alg;  /* TPM_ALG_ECDSA */
    uint16_t hash_alg;
    uint8_t r[128], s[128];
    size_t r_len, s_len;
} vmesh_tpm2_signature;

/* One reported PCR value. */
typedef struct {
    uint16_t alg;     /* bank: TPM_ALG_ID */
    uint8_t index;    /* 0..31 */
    uint8_t digest[64];
    size_t digest_len; /* the bank's digest size */
} vmesh_tpm2_pcr;

/* The evidence map (docs/TPM2.md):
 *   { 1: bstr TPMS_ATTEST, 2: bstr TPMT_SIGNATURE,
 *     3: [+ [alg: uint, index: uint, value: bstr]], 4: bstr AK SPKI DER,
 *     5: bstr class id, ? 6: bstr event log }
 * Decoded byte strings point into the input (borrowed); pcrs is owned. */
typedef struct {
    const uint8_t *attest;
    size_t attest_len;
    const uint8_t *signature;
    size_t signature_len;
    vmesh_tpm2_pcr *pcrs;
    size_t npcrs;
    const uint8_t *ak_spki;
    size_t ak_spki_len;
    const uint8_t *class_id;
    size_t class_id_len;
    const uint8_t *eventlog; /* NULL when absent */
    size_t eventlog_len;
} vmesh_tpm2_evidence;

/* Parses a marshalled TPMS_ATTEST: every length checked, the whole input
 * consumed, magic TPM_GENERATED_VALUE and type TPM_ST_ATTEST_QUOTE
 * required (VMESH_ERR_PARSE naming the field otherwise). */
vmesh_err vmesh_tpm2_quote_parse(const uint8_t *p, size_t n, vmesh_tpm2_quote *q) VMESH_WUR;
/* Marshals q (big-endian, TPM 2.0 Part 2 layout; appended to out). For
 * tests, fuzz seeds and the attester's self-check. */
vmesh_err vmesh_tpm2_quote_marshal(const vmesh_tpm2_quote *q, vmesh_buf *out) VMESH_WUR;
/* Parses a marshalled TPMT_SIGNATURE; only TPM_ALG_ECDSA is accepted
 * (VMESH_ERR_UNSUPPORTED for other algorithms). */
vmesh_err vmesh_tpm2_signature_parse(const uint8_t *p, size_t n, vmesh_tpm2_signature *s) VMESH_WUR;
vmesh_err vmesh_tpm2_signature_marshal(const vmesh_tpm2_signature *s, vmesh_buf *out) VMESH_WUR;

/* Evidence CBOR. decode: strict (definite lengths, no unknown or duplicate
 * keys, every cap checked); ev must be zeroed or freed before. encode:
 * deterministic key order; appended to out. */
vmesh_err vmesh_tpm2_evidence_decode(const uint8_t *p, size_t n, vmesh_tpm2_evidence *ev) VMESH_WUR;
vmesh_err vmesh_tpm2_evidence_encode(const vmesh_tpm2_evidence *ev, vmesh_buf *out) VMESH_WUR;
void vmesh_tpm2_evidence_free(vmesh_tpm2_evidence *ev);

/* Digest size of a PCR bank (TPM_ALG_ID), 0 when unsupported. */
size_t vmesh_tpm2_alg_digest_len(uint16_t alg);
/* "sha256" <-> TPM_ALG_ID (sha1, sha256, sha384, sha512); NULL / 0 when unknown. */
const char *vmesh_tpm2_alg_name(uint16_t alg);
uint16_t vmesh_tpm2_alg_from_name(const char *name, size_t n);
/* VMESH_HASH_* id of a bank for reference values (0 for SHA-1: no RV id). */
int vmesh_tpm2_alg_to_rv_hash(uint16_t alg);

/* Parses a PCR selection "sha256:0,1,2+sha384:7" (tpm2-tools syntax; banks
 * separated by '+', indices 0..31, each bank at most once). */
vmesh_err vmesh_tpm2_pcr_sel_parse(const char *spec, vmesh_tpm2_pcr_sel *sel, size_t max, size_t *nsel) VMESH_WUR;
/* SHA-256 over the values in pcrs taken in selection order (banks in the
 * order of sel, indices ascending): the pcrDigest a TPM computes for an
 * ECDSA-SHA256 quote. VMESH_ERR_MISMATCH naming the PCR when pcrs does not
 * hold exactly the selected PCRs. */
vmesh_err vmesh_tpm2_pcr_digest(const vmesh_tpm2_pcr_sel *sel, size_t nsel, const vmesh_tpm2_pcr *pcrs,
                                size_t npcrs, uint8_t out[32]) VMESH_WUR;
/* The instance id of an AK: SHA-256 of its SubjectPublicKeyInfo DER. */
void vmesh_tpm2_instance_id(const uint8_t *spki, size_t n, uint8_t out[32]);

/* Decoded evidence as the annotated-evidence JSON object (docs/TPM2.md);
 * appended to out, NUL-terminated. */
vmesh_err vmesh_tpm2_evidence_to_json(const vmesh_tpm2_evidence *ev, const vmesh_tpm2_quote *q, bool pretty,
                                      vmesh_buf *out) VMESH_WUR;

/* Reads the current values of the configured PCR selection and the AK
 * public key from the TPM (creating and persisting the AK if absent, as
 * attester_new does) and writes RV JSON (docs/RV-JSON.md) endorsing them:
 * one entry with measurements "pcr<N>" for the class, one with the AK key
 * and instance id SHA-256(SPKI). Same configuration keys as the attester. */
vmesh_err vmesh_tpm2_reference_values(const vmesh_kv *cfg, size_t ncfg, vmesh_buf *rv_json) VMESH_WUR;

/* The evidence scheme (evidence.h): name "tpm2", media type
 * VMESH_TPM2_MEDIA_TYPE. Attester configuration keys: "tcti" (TCTI
 * configuration string for Tss2_TctiLdr_Initialize, e.g.
 * "swtpm:host=127.0.0.1,port=2321", "device:/dev/tpmrm0", "tabrmd"; absent:
 * tss2's default), "ak-handle" (persistent handle, default 0x81010002),
 * "ak-hierarchy" ("endorsement", default, or "owner": where the AK primary
 * is created when the handle is empty), "pcrs" (selection, default
 * sha256:0-7), "eventlog" (file carried as is, e.g.
 * /sys/kernel/security/tpm0/binary_bios_measurements), "class" (class id
 * text, default VMESH_TPM2_DEFAULT_CLASS). attest() takes a nonce of 1..64
 * bytes (the agent gives 32). Appraisal: docs/TPM2.md. */
extern const vmesh_evidence_scheme vmesh_scheme_tpm2;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
