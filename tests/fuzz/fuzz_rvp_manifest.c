/* Fuzz target: manifest.jws verification with a fixed key, and the manifest
 * payload parser directly (a signature stops the fuzzer before the parser,
 * so the parser is also fed the raw input); and the trust-anchor set
 * classifier (PEM/DER certificates and CRLs, collateral, keys, as a sync
 * client loads them); never crash or leak. */
#include "vmesh/rvp.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds in corpus/rvp_manifest were signed with the private half of this
 * key (made for the corpus and not kept), so they reach the parser. */
static const char jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"GNH7HVoeMnDDbdCXJI5lgg8sqHNMwlIErN3KVoVOcS8\",\"y\":\"83uucTxEEaAGw8GW8EAvX0mt4qdQMq774-OcxESjai0\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vmesh_key *key;
    vmesh_rvp_manifest m;
    vmesh_rvp_set set;

    if (key == NULL && vmesh_crypto_key_from_jwk(jwk, strlen(jwk), &key) != VMESH_OK)
        return 0;
    if (vmesh_rvp_manifest_verify((const char *)data, size, key, &m) == VMESH_OK)
        vmesh_rvp_manifest_free(&m);
    if (vmesh_rvp_manifest_parse(data, size, &m) == VMESH_OK) {
        /* Invariant: whatever parses has paths named by their digests. */
        for (size_t i = 0; i < m.nsets; i++)
            if (strncmp(m.sets[i].path, "sets/", 5) != 0 || strlen(m.sets[i].path) != 69)
                __builtin_trap();
        vmesh_rvp_manifest_free(&m);
    }
    if (vmesh_rvp_classify_ta(data, size, "tsm", "fuzz", &set) == VMESH_OK &&
        (set.kind != VMESH_SET_TRUST_ANCHOR || set.size != size || strcmp(set.scheme, "sev-snp+tdx") != 0))
        __builtin_trap();
    return 0;
}
