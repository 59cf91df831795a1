/*
 * Internal helpers of the corim module: a bounded CBOR pre-scan run before
 * libcbor sees any input, and a tiny deterministic CBOR writer for the
 * encoder. Nothing outside src/corim may include it.
 */
#ifndef VMESH_CORIM_INT_H
#define VMESH_CORIM_INT_H

#include <cbor.h>

#include "vmesh/corim.h"

/* Checks that p[0..n) is exactly one well-formed CBOR item nested at most
 * VMESH_CORIM_MAX_DEPTH deep, with every declared length and count
 * backed by bytes that are really there (so that libcbor never allocates
 * more than the input justifies), then decodes it with libcbor. */
vmesh_err vmesh_corim__decode(const uint8_t *p, size_t n, const char *what,
                              cbor_item_t **out) VMESH_WUR;

/* CBOR writer: a head (major type, argument), then raw bytes. */
vmesh_err vmesh_corim__head(vmesh_buf *b, unsigned major, uint64_t arg) VMESH_WUR;
vmesh_err vmesh_corim__bytes(vmesh_buf *b, unsigned major, const void *p, size_t n) VMESH_WUR;
vmesh_err vmesh_corim__int(vmesh_buf *b, int64_t v) VMESH_WUR;

#endif
