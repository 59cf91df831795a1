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
    uint8_t key_digest[32]; /* SHA-256 of the key's SPKI DER (the lookup journal's key identity) */
    bool has_key_digest;
    vmesh_rv_env env;
    vmesh_rv_measurement m;
} rv_entry;

/* UTF-8 without NUL or control characters other than tab, CR, LF. */
bool vmesh_rv_utf8_valid(const char *s, size_t n);

/* The queries of rv.h without the lookup journal (store.c); the public
 * functions record their answer (journal.c) and call these. */
size_t rv_q_find_measurements(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                              size_t class_len, const vmesh_rv_measurement **out, size_t max);
int rv_q_match_measurement(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                           size_t class_len, const char *name, const uint8_t *value, size_t value_len);
size_t rv_q_find_keys(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                      const uint8_t *instance_id, size_t instance_len, vmesh_key **out, size_t max);
bool rv_q_has_class(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len);
size_t rv_q_find_attrs(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                       const char *name, const char **out, size_t max);
vmesh_err rv_q_attr_u64_accepts(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                                size_t class_len, const char *name, uint64_t v, int *res);
bool rv_q_claim_accepted(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                         const vmesh_rv_claim *c);
/* The SPKI SHA-256 of each endorsed key vmesh_rv_find_keys would return,
 * in the same order (NULL for a key whose public form could not be
 * encoded when it was added). */
size_t rv_q_find_key_digests(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                             const uint8_t *instance_id, size_t instance_len, const uint8_t **out, size_t max);
size_t rv_q_count_measurements(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len);

/* The lookup journal's side (journal.c): while this thread records, a
 * query that the journal cannot ask again (iteration, epochs, the
 * generation, export) spoils it. */
void rv_journal_spoil(const char *what);
bool rv_q_is_stale(const vmesh_rv_store *s);

#endif
