/*
 * Internal to src/rvp: checks shared by the manifest and the verifier trust
 * set parsers.
 */
#ifndef VMESH_RVP_INT_H
#define VMESH_RVP_INT_H

#include <stdbool.h>
#include <stddef.h>

/* A name as the bundle formats allow it (an RVP, a verifier of the trust
 * set): 1..VMESH_RVP_NAME_MAX characters of [A-Za-z0-9._-], not starting
 * with '.'; s need not be NUL-terminated. */
bool rvp_name_ok(const char *s, size_t n);

#endif
