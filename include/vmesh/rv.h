/*
 * vmesh rv: the reference-value store of a verifier: reference measurements
 * and endorsed attestation keys, each attached to an environment (scheme,
 * class id, optional instance id), plus the RV snapshot epoch of each
 * Reference Value Provider it was built from. Loaded from CoRIM (module
 * corim) or from the vmesh-native RV JSON format (docs/RV-JSON.md, parsed
 * here). A store is filled once, then frozen and shared read-only between
 * threads by reference counting; an update builds a new store and swaps it.
 */
#ifndef VMESH_RV_H
#define VMESH_RV_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

typedef struct vmesh_rv_store vmesh_rv_store;

/* Hash algorithm ids as in CoRIM digests (IANA Named Information registry). */
#define VMESH_HASH_SHA256 1
#define VMESH_HASH_SHA384 7
#define VMESH_HASH_SHA512 8

/* Upper bounds that keep a hostile bundle from exhausting memory. */
#define VMESH_RV_MAX_ID 256          /* class / instance id bytes */
#define VMESH_RV_MAX_DIGEST 64
#define VMESH_RV_MAX_ENTRIES 100000  /* measurements + keys + attributes */
#define VMESH_RV_MAX_SCHEME 32       /* scheme name bytes: [a-z0-9-] */
#define VMESH_RV_MAX_NAME 256        /* measurement / attribute name, version, RVP name */
#define VMESH_RV_MAX_VALUE 4096      /* attribute value bytes */
#define VMESH_RV_MAX_EPOCHS 1024     /* RVPs recorded in one store */
#define VMESH_RV_MAX_JSON ((size_t)16 * 1024 * 1024) /* RV JSON document bytes */

/* Where a reference value applies. class_id is scheme-specific: the PSA
 * implementation id, a TPM platform class, ... instance_id NULL = any. */
typedef struct {
    const char *scheme; /* "psa", "tpm2", "sev-snp", "tdx", "cca" */
    const uint8_t *class_id;
    size_t class_id_len;
    const uint8_t *instance_id;
    size_t instance_id_len;
} vmesh_rv_env;

/* One accepted measurement. Several entries with the same name are
 * alternatives (any one matching is a match). */
typedef struct {
    const char *name;       /* component: PSA measurement-type ("BL"), "pcr7", ... */
    const char *version;    /* NULL: any */
    const uint8_t *signer_id; /* NULL: any */
    size_t signer_id_len;
    int digest_alg;         /* VMESH_HASH_*; 0 for a raw value */
    const uint8_t *digest;
    size_t digest_len;
} vmesh_rv_measurement;

vmesh_err vmesh_rv_store_new(vmesh_rv_store **out) VMESH_WUR;
vmesh_rv_store *vmesh_rv_store_ref(vmesh_rv_store *s);
void vmesh_rv_store_free(vmesh_rv_store *s); /* drops one reference */
/* After freeze, adding fails with VMESH_ERR_STATE. */
void vmesh_rv_store_freeze(vmesh_rv_store *s);

/* Adding copies everything (keys get a reference). */
vmesh_err vmesh_rv_add_measurement(vmesh_rv_store *s, const vmesh_rv_env *env,
                                   const vmesh_rv_measurement *m) VMESH_WUR;
vmesh_err vmesh_rv_add_key(vmesh_rv_store *s, const vmesh_rv_env *env, vmesh_key *key) VMESH_WUR;
/* Scheme-specific named values (e.g. an accepted SNP guest policy). */
vmesh_err vmesh_rv_add_attr(vmesh_rv_store *s, const vmesh_rv_env *env, const char *name,
                            const char *value) VMESH_WUR;
/* Records that this store includes RVP `rvp`'s snapshot `epoch`. */
vmesh_err vmesh_rv_set_epoch(vmesh_rv_store *s, const char *rvp, uint64_t epoch) VMESH_WUR;

/* Queries. Returned pointers are borrowed and live as long as the store.
 * Measurements of (scheme, class): fills up to max pointers, returns how
 * many exist. */
size_t vmesh_rv_find_measurements(const vmesh_rv_store *s, const char *scheme,
                                  const uint8_t *class_id, size_t class_len,
                                  const vmesh_rv_measurement **out, size_t max);
/* Compares a value with the reference measurements called `name` of
 * (scheme, class): 1 when one of them has exactly these digest bytes, -1
 * when some exist but none matches, 0 when there are none (no reference
 * value for it). Every alternative is considered, however many. */
int vmesh_rv_match_measurement(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len, const char *name, const uint8_t *value, size_t value_len);
/* Keys endorsed for (scheme, class, instance); an entry without instance
 * id matches any instance. Same fill/return convention. */
size_t vmesh_rv_find_keys(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                          size_t class_len, const uint8_t *instance_id, size_t instance_len,
                          vmesh_key **out, size_t max);
/* True when anything (measurement, key or attribute) exists for the class. */
bool vmesh_rv_has_class(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                        size_t class_len);
/* Attribute values for (scheme, class, name): same convention. */
size_t vmesh_rv_find_attrs(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                           size_t class_len, const char *name, const char **out, size_t max);
/* Unsigned-integer attributes (an accepted SNP guest policy, a TDX xfam):
 * *res = 0 when (scheme, class) has no attribute `name`, 1 when one of
 * them equals v, -1 when some exist and none does. Every value is read
 * (strtoull base 0: decimal, 0x hex or 0 octal); one that is not an
 * unsigned integer fails with VMESH_ERR_PARSE naming scheme, name and
 * value, because a reference value the verifier cannot read must not
 * silently narrow or widen what it accepts. */
vmesh_err vmesh_rv_attr_u64_accepts(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                                    size_t class_len, const char *name, uint64_t v, int *res) VMESH_WUR;
/* Epochs: count of RVPs, and the i-th (name, epoch). */
size_t vmesh_rv_epoch_count(const vmesh_rv_store *s);
bool vmesh_rv_epoch_at(const vmesh_rv_store *s, size_t i, const char **rvp, uint64_t *epoch);
/* A number that changes whenever a store's content changes (cache key). */
uint64_t vmesh_rv_store_generation(const vmesh_rv_store *s);
size_t vmesh_rv_store_size(const vmesh_rv_store *s); /* entries of all kinds */

/* vmesh-native RV JSON (docs/RV-JSON.md): adds every entry of the document
 * to s. `source` names the document in error messages. */
vmesh_err vmesh_rv_load_json(vmesh_rv_store *s, const uint8_t *p, size_t n,
                             const char *source) VMESH_WUR;
/* Writes the whole store as RV JSON (for publishing and debugging). */
vmesh_err vmesh_rv_store_to_json(const vmesh_rv_store *s, vmesh_buf *out) VMESH_WUR;

/* ---- additions (not in the first version of this header) -------------- */

/* Copies every entry and epoch of src into dst (dst must not be frozen).
 * All or nothing: on failure dst is unchanged. Loaders parse into a
 * scratch store and merge, so a document that fails half-way adds nothing. */
vmesh_err vmesh_rv_store_merge(vmesh_rv_store *dst, const vmesh_rv_store *src) VMESH_WUR;
bool vmesh_rv_store_is_frozen(const vmesh_rv_store *s);

/* Iteration over all entries in insertion order (export, CoRIM encoding). */
typedef enum { VMESH_RV_MEASUREMENT = 1, VMESH_RV_KEY, VMESH_RV_ATTR } vmesh_rv_kind;
typedef struct {
    vmesh_rv_kind kind;
    vmesh_rv_env env;
    const vmesh_rv_measurement *m; /* kind MEASUREMENT */
    vmesh_key *key;                /* kind KEY (borrowed) */
    const char *attr_name;         /* kind ATTR */
    const char *attr_value;
} vmesh_rv_entry;
/* i in [0, vmesh_rv_store_size(s)); false when out of range. */
bool vmesh_rv_entry_at(const vmesh_rv_store *s, size_t i, vmesh_rv_entry *out);

/* Staleness (trust-bundle sync, docs/BUNDLES.md): a snapshot built from a
 * manifest past its expires_at is marked stale before it is frozen, and
 * the verifier engine then lowers every result's sourced-data claim to
 * UNTRUSTED_SOURCES (32, warning). Set before freeze (VMESH_ERR_STATE
 * after); a changed flag changes the generation. Merge does not copy it. */
vmesh_err vmesh_rv_store_set_stale(vmesh_rv_store *s, bool stale) VMESH_WUR;
bool vmesh_rv_store_is_stale(const vmesh_rv_store *s);

/* Digest length of a VMESH_HASH_* id (0 when unknown). */
size_t vmesh_rv_hash_alg_len(int alg);

/* Name <-> id of hash algorithms ("sha-256" <-> 1 ...). */
int vmesh_rv_hash_alg_from_name(const char *name);
const char *vmesh_rv_hash_alg_name(int alg);

/* ---- the lookup journal (D43) ---------------------------------------------
 * An appraisal depends on the reference values only through the questions
 * it asks the store and the answers it gets. While a journal records on a
 * thread (vmesh_rv_journal_record), every query of this header made on
 * that thread is written down with its answer: the semantic ones below as
 * yes/no, the list queries as the number found and a digest of what was
 * returned. A query the journal cannot ask again (vmesh_rv_entry_at,
 * vmesh_rv_store_size, the epochs, the generation, the JSON export)
 * spoils it. vmesh_rv_journal_replay asks the same questions of another
 * store: every answer the same means that the appraisal, run again under
 * that store with the same evidence at the same time, reaches the same
 * result, because nothing else of the store was read. The encoded form
 * (CBOR, docs/EAR.md "ear.vmesh.rv-journal") is what an AR cache entry
 * keeps and what a central verifier puts into its EAR. */

/* A claimed component (a PSA software component, ...) as the semantic
 * measurement query asks it. name/version NULL: the claim has none. */
typedef struct {
    const char *name;
    const uint8_t *value;
    size_t value_len;
    const char *version;
} vmesh_rv_claim;

/* True when reference measurement m accepts claim c: m's digest bytes are
 * c's value, of the length m's algorithm gives (alg 0: any), m's name is
 * empty or c's, m's version is NULL or c's. The signer id is not compared
 * (Veraison psa-iot does not either). */
bool vmesh_rv_measurement_accepts(const vmesh_rv_measurement *m, const vmesh_rv_claim *c);
/* True when some reference measurement of (scheme, class) accepts c: one
 * yes/no answer in the journal, so adding an alternative digest for a
 * component leaves it unchanged. */
bool vmesh_rv_claim_accepted(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                             size_t class_len, const vmesh_rv_claim *c);
/* True when (scheme, class) has any reference measurement (journaled as
 * yes/no, unlike the count of vmesh_rv_find_measurements). */
bool vmesh_rv_has_measurements(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len);

typedef struct vmesh_rv_journal vmesh_rv_journal;

#define VMESH_RV_JOURNAL_MAX 1024         /* encoded bytes */
#define VMESH_RV_JOURNAL_MAX_RECORDS 32   /* questions */
#define VMESH_RV_JOURNAL_MAX_ENVS 8       /* distinct (scheme, class) asked about */

vmesh_err vmesh_rv_journal_new(vmesh_rv_journal **out) VMESH_WUR;
void vmesh_rv_journal_free(vmesh_rv_journal *j);
/* Makes j this thread's recording journal (NULL: none); returns the one
 * it replaces. */
vmesh_rv_journal *vmesh_rv_journal_record(vmesh_rv_journal *j);
/* The scheme names the endorsed key that verified the evidence: the
 * thread journal's last vmesh_rv_find_keys answer becomes "key k is among
 * the keys found", so that endorsing another key for the same instance
 * leaves it unchanged. No effect without a recording journal. */
void vmesh_rv_journal_key_used(const vmesh_key *k);
/* The journal as CBOR into out (appended). VMESH_ERR_STATE when it was
 * spoiled, VMESH_ERR_TOO_LARGE past the caps above: no journal then (the
 * appraisal is not replayable, its result is judged as before). */
vmesh_err vmesh_rv_journal_encode(const vmesh_rv_journal *j, vmesh_buf *out) VMESH_WUR;
/* Asks the questions of an encoded journal of s. VMESH_OK and *same: every
 * answer is the one recorded; VMESH_OK and !*same: why names the first
 * answer that differs (component, digest, class, and the store's RVP
 * epochs). Anything that is not a journal this build wrote fails with
 * VMESH_ERR_PARSE naming the problem: the caller cannot decide. */
vmesh_err vmesh_rv_journal_replay(const uint8_t *p, size_t n, const vmesh_rv_store *s, bool *same, char *why,
                                  size_t why_len) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
