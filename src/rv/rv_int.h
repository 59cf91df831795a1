/*
 * Internal view of an RV store entry, shared by the store and the RV JSON
 * codec of the rv module. Nothing outside src/rv may include it.
 */
#ifndef VMESH_RV_INT_H
#define VMESH_RV_INT_H

#include "vmesh/rv.h"

/* One entry, owning all its bytes; env and m are views into them. */
typedef struct {
    vmesh_rv_kind kind;
    size_t seq; /* insertion position, keeps lookups in insertion order */
    char *scheme;
    uint8_t *class_id;
    size_t class_len;
    uint8_t *instance_id;
    size_t instance_len;
    char *name; /* measurement or attribute name */
    char *version;
    uint8_t *signer_id;
    size_t signer_len;
    int digest_alg;
    uint8_t *digest;
    size_t digest_len;
    char *value; /* attribute value */
    vmesh_key *key;
    vmesh_rv_env env;
    vmesh_rv_measurement m;
} rv_entry;

/* UTF-8 without NUL or control characters other than tab, CR, LF. */
bool vmesh_rv_utf8_valid(const char *s, size_t n);

#endif
