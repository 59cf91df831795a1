/*
 * Internal helpers shared by the files of the jose module. Not installed,
 * not for other modules.
 */
#ifndef VMESH_JOSE_INT_H
#define VMESH_JOSE_INT_H

#include "vmesh/jose.h"

/* Strict base64url (RFC 7515 §2: "with all trailing '=' characters omitted"
 * and the URL-safe alphabet only). Appends to out. `what` names the field in
 * the error detail. */
vmesh_err vmesh_jose_b64url_decode(const char *s, size_t n, const char *what,
                                   vmesh_buf *out) VMESH_WUR;

#endif
