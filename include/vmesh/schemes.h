/*
 * vmesh schemes: the registry of evidence schemes, the one table that names
 * every platform vmesh can attest and appraise (DESIGN §2). It sits above
 * the scheme modules (src/evidence/<scheme>) and below everything that
 * picks a scheme by name, media type or content: the verifier engine, the
 * agent, the verifier service and the command line. Media types match by
 * the one rule of vmesh/evidence.h (vmesh_evidence_media_type_eq), never by
 * prefix.
 */
#ifndef VMESH_SCHEMES_H
#define VMESH_SCHEMES_H

#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* All registered evidence schemes, in registry order; count in *n. */
const vmesh_evidence_scheme *const *vmesh_schemes_all(size_t *n);
/* The scheme named `name` (its EAR submodule name, e.g. "psa"), or NULL. */
const vmesh_evidence_scheme *vmesh_schemes_by_name(const char *name);
/* The scheme a platform name selects: the scheme's name or its attester's
 * ("psa" or "psa-sim"), or NULL. */
const vmesh_evidence_scheme *vmesh_schemes_by_platform(const char *platform);
/* The scheme one of whose media types equals media_type under the media-type
 * rule, or NULL. When registered is not NULL it receives the scheme's own
 * spelling of that media type (a string of the registry, never freed). */
const vmesh_evidence_scheme *vmesh_schemes_by_media_type(const char *media_type, const char **registered);
/* First scheme whose detect() accepts the bytes, or NULL. */
const vmesh_evidence_scheme *vmesh_schemes_detect(const uint8_t *p, size_t n);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
