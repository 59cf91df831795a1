/*
 * Internal to src/rvp: checks shared by the manifest and the verifier trust
 * set parsers.
 */
#ifndef VMESH_RVP_INT_H
#define VMESH_RVP_INT_H

#include "vmesh/core.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A name as the bundle formats allow it (an RVP, a verifier of the trust
 * set): 1..VMESH_RVP_NAME_MAX characters of [A-Za-z0-9._-], not starting
 * with '.'; s need not be NUL-terminated. */
bool rvp_name_ok(const char *s, size_t n);

/* Strict JSON object reading for the bundle documents. Errors read
 * "SOURCE: WHERE<problem>" (WHERE is "" or ends with ": ").
 * rvp_only_fields: every key of o is in allowed (NULL-terminated).
 * rvp_get_str: o[k] is a string without NUL; *s, *n point into o. */
vmesh_err rvp_only_fields(json_t *o, const char *const *allowed, const char *source, const char *where) VMESH_WUR;
vmesh_err rvp_get_str(json_t *o, const char *k, const char *source, const char *where, const char **s,
                      size_t *n) VMESH_WUR;

#endif
