/*
 * vmesh cc: glue for the confidential-computing schemes (sev-snp, tdx and
 * the tsm attester): turning trust-anchor files (certificates, CRLs, TDX
 * collateral, public keys) into entries of an RV store, where the schemes
 * find them (docs/CC.md, "Trust anchors"). The CLI's `--ta FILE` and the
 * bundle tooling use it; it never decides trust itself: a certificate it
 * stores is path material, trusted only when its chain ends in a pinned root.
 */
#ifndef VMESH_CC_H
#define VMESH_CC_H

#include "vmesh/core.h"
#include "vmesh/rv.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMESH_CC_MAX_TA_FILE ((size_t)1024 * 1024)

/* Adds the content of one trust-anchor file to s for `scheme`, class id =
 * the scheme name: PEM certificates and CRLs (several per file), a DER
 * certificate or CRL, TDX TCB Info / QE Identity JSON ("collateral"), or a
 * public key (PEM SubjectPublicKeyInfo or JWK). Anything else is refused
 * with an error naming `source`. */
vmesh_err vmesh_cc_ta_load(vmesh_rv_store *s, const char *scheme, const uint8_t *p, size_t n,
                           const char *source) VMESH_WUR;
vmesh_err vmesh_cc_ta_load_file(vmesh_rv_store *s, const char *scheme, const char *path) VMESH_WUR;

#ifdef __cplusplus
}
#endif
#endif
