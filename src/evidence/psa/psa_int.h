/*
 * Internal helpers shared by the files of the psa module (not installed).
 * Nothing here is part of the public API; nothing here may trust input.
 */
#ifndef VMESH_PSA_INT_H
#define VMESH_PSA_INT_H

#include "vmesh/psa.h"

/* Frees one component's strings and zeroes it. */
void vmesh_psa_sw_component_clear(vmesh_psa_sw_component *sc);
/* strndup that refuses NUL bytes, over-long and invalid UTF-8 text; what
 * names the claim for the error detail. */
vmesh_err vmesh_psa_text_dup(const char *p, size_t n, const char *what, char **out) VMESH_WUR;

#endif
