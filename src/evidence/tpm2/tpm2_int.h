/*
 * Internals of the tpm2 scheme shared by its files: the ESYS attester
 * state and helpers. Nothing here is part of the public API; it must not be
 * included outside src/evidence/tpm2 (tests and fuzz targets excepted).
 */
#ifndef VMESH_TPM2_INT_H
#define VMESH_TPM2_INT_H

#include "vmesh/cbor.h"
#include "vmesh/crypto.h"
#include "vmesh/rv.h"
#include "vmesh/tpm2.h"

#include <jansson.h>
#include <openssl/evp.h>

/* Attester configuration, parsed from vmesh_kv. */
typedef struct {
    const char *tcti;       /* NULL: tss2 default */
    uint32_t ak_handle;
    bool owner;             /* AK primary in the owner hierarchy (default: endorsement) */
    vmesh_tpm2_pcr_sel sel[VMESH_TPM2_MAX_BANKS];
    size_t nsel;
    const char *eventlog;   /* NULL: none */
    const char *class_id;   /* text */
} tpm2_config;

vmesh_err vmesh_tpm2_config_parse(const vmesh_kv *cfg, size_t ncfg, tpm2_config *c) VMESH_WUR;

/* One TPM session: open (TCTI + ESYS), make sure the AK exists, quote,
 * read PCRs, close. Implemented in tpm2_esys.c. */
typedef struct tpm2_tpm tpm2_tpm;
vmesh_err vmesh_tpm2_open(const tpm2_config *c, tpm2_tpm **out) VMESH_WUR;
void vmesh_tpm2_close(tpm2_tpm *t);
/* Loads the AK at c->ak_handle, creating and persisting it when absent;
 * returns its SPKI DER in spki (reset first). */
vmesh_err vmesh_tpm2_ak(tpm2_tpm *t, vmesh_buf *spki) VMESH_WUR;
/* Quote of c's selection with qualifying data nonce: marshalled TPMS_ATTEST
 * and TPMT_SIGNATURE (both reset first). Needs vmesh_tpm2_ak first. */
vmesh_err vmesh_tpm2_do_quote(tpm2_tpm *t, const uint8_t *nonce, size_t nonce_len, vmesh_buf *attest,
                              vmesh_buf *sig) VMESH_WUR;
/* Reads the values of the selection into a malloc'ed array (selection order). */
vmesh_err vmesh_tpm2_read_pcrs(tpm2_tpm *t, vmesh_tpm2_pcr **pcrs, size_t *npcrs) VMESH_WUR;

#endif
