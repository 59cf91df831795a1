/* Fuzz target: the media-type rule must refuse or canonicalise, never read
 * or write out of bounds; a canonical form is a fixed point and equal to
 * its input under vmesh_evidence_media_type_eq. */
#include "vmesh/evidence.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char once[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1], twice[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
    static const char *const list[] = {"application/psa-attestation-token",
                                       "application/eat+cwt; eat_profile=\"tag:psacertified.org,2023:psa#tfm\"", NULL};

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (vmesh_evidence_media_type_canon(s, once) == VMESH_OK) {
        if (vmesh_evidence_media_type_canon(once, twice) != VMESH_OK || strcmp(once, twice) != 0 ||
            strlen(once) > strlen(s) || !vmesh_evidence_media_type_eq(s, once))
            abort();
    } else if (vmesh_evidence_media_type_eq(s, s)) {
        abort();
    }
    (void)vmesh_evidence_media_type_find(s, list);
    free(s);
    return 0;
}
