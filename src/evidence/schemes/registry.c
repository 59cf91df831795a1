/*
 * The evidence-scheme registry: the table of schemes beside the schemes it
 * lists (as curl keeps available_backends[] beside its TLS backends).
 * Adding a platform is one line in `schemes` below. A lookup must never
 * select a scheme by a prefix or by a media type that is not one of the
 * scheme's own under the media-type rule: an unknown parameter makes an
 * unknown media type.
 */
#include "vmesh/schemes.h"
#include "vmesh/cca.h"
#include "vmesh/psa.h"
#include "vmesh/snp.h"
#include "vmesh/tdx.h"
#include "vmesh/tpm2.h"
#include "vmesh/tsm.h"

#include <string.h>

static const vmesh_evidence_scheme *const schemes[] = {
    &vmesh_scheme_psa, &vmesh_scheme_snp, &vmesh_scheme_tdx, &vmesh_scheme_tsm, &vmesh_scheme_cca, &vmesh_scheme_tpm2,
};

#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

const vmesh_evidence_scheme *const *vmesh_schemes_all(size_t *n)
{
    *n = NSCHEMES;
    return schemes;
}

const vmesh_evidence_scheme *vmesh_schemes_by_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < NSCHEMES; i++)
        if (strcmp(schemes[i]->name, name) == 0)
            return schemes[i];
    return NULL;
}

const vmesh_evidence_scheme *vmesh_schemes_by_platform(const char *platform)
{
    const vmesh_evidence_scheme *s = vmesh_schemes_by_name(platform);

    for (size_t i = 0; s == NULL && platform != NULL && i < NSCHEMES; i++)
        if (schemes[i]->attester_name != NULL && strcmp(schemes[i]->attester_name, platform) == 0)
            s = schemes[i];
    return s;
}

const vmesh_evidence_scheme *vmesh_schemes_by_media_type(const char *media_type, const char **registered)
{
    /* Peers mostly send a scheme's own spelling: try that first, one strcmp
     * per registered media type, before canonical forms are compared. */
    for (int pass = 0; media_type != NULL && pass < 2; pass++) {
        for (size_t i = 0; i < NSCHEMES; i++) {
            int k = -1;
            if (pass == 1)
                k = vmesh_evidence_media_type_find(media_type, schemes[i]->media_types);
            else
                for (int j = 0; schemes[i]->media_types[j] != NULL && k < 0; j++)
                    k = strcmp(media_type, schemes[i]->media_types[j]) == 0 ? j : -1;
            if (k >= 0) {
                if (registered != NULL)
                    *registered = schemes[i]->media_types[k];
                return schemes[i];
            }
        }
    }
    return NULL;
}

const vmesh_evidence_scheme *vmesh_schemes_detect(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < NSCHEMES; i++)
        if (schemes[i]->detect != NULL && schemes[i]->detect(p, n))
            return schemes[i];
    return NULL;
}
