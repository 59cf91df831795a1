/*
 * Internal helpers of the cca module (not installed): a bounded CBOR pull
 * reader and a small deterministic writer, shared by the claims, token and
 * scheme files. Nothing here may trust a length read from input before it
 * is checked against the bytes that remain.
 */
#ifndef VMESH_CCA_INT_H
#define VMESH_CCA_INT_H

#include "vmesh/cca.h"

enum { CB_UINT, CB_NEGINT, CB_BSTR, CB_TSTR, CB_ARRAY, CB_MAP, CB_TAG, CB_SIMPLE };

typedef struct {
    const uint8_t *p;
    size_t n;
    size_t off;
    const char *ctx; /* "CCA platform claims", ... for error details */
} cca_rd;

#define CCA_MAX_DEPTH 16

const char *cca_mt_name(unsigned mt);
vmesh_err cca_rd_head(cca_rd *r, unsigned *mt, uint64_t *val) VMESH_WUR;
vmesh_err cca_rd_skip(cca_rd *r, int depth) VMESH_WUR;
size_t cca_rd_left(const cca_rd *r);
/* A string item of type mt (CB_BSTR or CB_TSTR): pointer into the input. */
vmesh_err cca_rd_string(cca_rd *r, unsigned mt, const char *what, const uint8_t **p, size_t *n) VMESH_WUR;
/* A byte string of at most cap bytes copied into dst. */
vmesh_err cca_rd_bytes(cca_rd *r, const char *what, uint8_t *dst, size_t cap, size_t *len) VMESH_WUR;
/* A text string (valid UTF-8, no NUL, <= VMESH_CCA_MAX_TEXT) duplicated. */
vmesh_err cca_rd_text(cca_rd *r, const char *what, char **out) VMESH_WUR;
vmesh_err cca_rd_int(cca_rd *r, const char *what, int64_t *out) VMESH_WUR;
/* Reads a map key: sets *key and *is_int (false for non-integer keys,
 * which are skipped by the caller). */
vmesh_err cca_rd_key(cca_rd *r, int64_t *key, bool *is_int) VMESH_WUR;

vmesh_err cca_text_dup(const char *p, size_t n, const char *what, char **out) VMESH_WUR;

vmesh_err cca_w_head(vmesh_buf *b, unsigned mt, uint64_t v) VMESH_WUR;
vmesh_err cca_w_int(vmesh_buf *b, int64_t v) VMESH_WUR;
vmesh_err cca_w_bstr(vmesh_buf *b, const uint8_t *p, size_t n) VMESH_WUR;
vmesh_err cca_w_tstr(vmesh_buf *b, const char *s) VMESH_WUR;

void cca_sw_clear(vmesh_psa_sw_component *sc);

#endif
