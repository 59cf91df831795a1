/*
 * vmesh corim: Concise Reference Integrity Manifests (draft-ietf-rats-corim),
 * generic part: the COSE_Sign1 envelope (tag 18) of a signed CoRIM, the
 * unsigned corim-map (tag 501), its CoMID tags (tag 506) and their triples
 * maps. What a triple means belongs to a profile, which the evidence scheme
 * of that platform provides (the Arm PSA profile is in include/vmesh/psa.h):
 * the loader hands each reference-value and attest-key triple to the
 * profile the CoRIM names, and refuses a CoRIM no given profile maps.
 * Anything malformed, or that vmesh could not enforce, is refused with the
 * position of the problem; nothing of a refused CoRIM reaches the store.
 */
#ifndef VMESH_CORIM_H
#define VMESH_CORIM_H

#include "vmesh/cbor.h"
#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/rv.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* CBOR tags (draft-ietf-rats-corim) and the media type of a CoRIM. */
#define VMESH_CORIM_TAG 501       /* tagged-unsigned-corim-map */
#define VMESH_CORIM_COMID_TAG 506 /* tagged-concise-mid-tag */
#define VMESH_CORIM_MEDIA_TYPE "application/rim+cbor"

#define VMESH_CORIM_MAX_SIZE ((size_t)4 * 1024 * 1024) /* a whole (signed) CoRIM */
#define VMESH_CORIM_MAX_DEPTH 24                        /* CBOR nesting */

/* Flags of vmesh_corim_load. */
/* Accept a signed CoRIM without checking its signature (signer NULL). Only
 * for inspection and tests: the content is then not authenticated. */
#define VMESH_CORIM_ALLOW_UNVERIFIED 0x1u
/* Accept an unsigned CoRIM even though a signer key was given. Without it,
 * a signer key means "this must be signed by that key". */
#define VMESH_CORIM_ALLOW_UNSIGNED 0x2u

/* What a load found (optional output). */
typedef struct {
    char id[128];      /* corim-id: text, or the UUID as 8-4-4-4-12 hex */
    char profile[128]; /* profile URI or OID in dotted form; "" if none */
    bool was_signed;   /* a COSE_Sign1 envelope was present */
    bool verified;     /* ... and its signature was checked with the signer key */
    size_t comids;     /* CoMID tags read */
    size_t measurements; /* store entries added */
    size_t keys;
} vmesh_corim_info;

/* A profile: how the triples of a CoMID become RV store entries for one
 * family of platforms. Each handler gets a cursor over exactly one triple
 * record, the indexes of its CoMID and triple (for messages: "CoMID 0,
 * reference triple 1, ..."), and info, whose measurements and keys counters
 * it advances. A handler may be NULL: that kind of triple is then refused. */
typedef struct {
    const char *name;        /* "Arm PSA" */
    const char *const *uris; /* the profile identifiers it maps, NULL-terminated */
    vmesh_err (*reference_triple)(vmesh_rv_store *s, vmesh_cbor *record, size_t comid, size_t triple,
                                  vmesh_corim_info *info);
    vmesh_err (*attest_key_triple)(vmesh_rv_store *s, vmesh_cbor *record, size_t comid, size_t triple,
                                   vmesh_corim_info *info);
} vmesh_corim_profile;

/* True when p starts like a CoRIM: tag 501 (unsigned) or tag 18
 * (COSE_Sign1, i.e. possibly signed CoRIM). A cheap sniff, no validation. */
bool vmesh_corim_is_corim(const uint8_t *p, size_t n);

/* Reads a CoRIM and adds its reference values and endorsed keys to s, all
 * or nothing, through the profile of `profiles` (NULL-terminated) that
 * names the CoRIM's profile.
 *   signer != NULL: the CoRIM must be a COSE_Sign1 signed by that key with
 *     content type "application/rim+cbor"; an unsigned CoRIM is refused
 *     unless flags has VMESH_CORIM_ALLOW_UNSIGNED.
 *   signer == NULL: an unsigned CoRIM is read; a signed one is refused
 *     unless flags has VMESH_CORIM_ALLOW_UNVERIFIED.
 * `source` names the input in error messages ("CoRIM rv.cbor: CoMID 0,
 * reference triple 0, measurement 0: measurement value has no digests").
 * rim-validity and signature-validity are checked against vmesh_time_now().
 * info may be NULL. */
vmesh_err vmesh_corim_load(vmesh_rv_store *s, const uint8_t *p, size_t n, const vmesh_key *signer,
                           unsigned flags, const vmesh_corim_profile *const *profiles, const char *source,
                           vmesh_corim_info *info) VMESH_WUR;

/* Checks a signed CoRIM (COSE_Sign1, tag 18, content type
 * application/rim+cbor, corim-meta or CWT claims in the protected header,
 * signature by key) and copies out its payload: the tagged-unsigned-corim-map
 * (tag 501) bytes. Does not look inside the payload. */
vmesh_err vmesh_corim_verify_signed(const uint8_t *p, size_t n, const vmesh_key *key,
                                    vmesh_buf *payload) VMESH_WUR;

/* Wraps an unsigned CoRIM (tag 501) in a COSE_Sign1 signed with key:
 * protected header alg, content type "application/rim+cbor" and corim-meta
 * (8) naming signer_name. Appends to out. */
vmesh_err vmesh_corim_sign(const uint8_t *corim, size_t n, const vmesh_key *key,
                           const char *signer_name, vmesh_buf *out) VMESH_WUR;

/* ---- for profiles: reading CoMID items -------------------------------------
 * An item is a cursor over exactly one CBOR item of a CoRIM already checked
 * to be well-formed (definite or indefinite lengths, nesting at most
 * VMESH_CORIM_MAX_DEPTH). These never consume the item they are given.
 * Errors read "<what> must be a byte string", "<what> is 300 bytes, the cap
 * is 255". */
#define VMESH_CORIM_MAX_KEYS 32

bool vmesh_corim_is_tag(const vmesh_cbor *it, uint64_t tag);
/* The item inside a tag (it must be one). */
vmesh_err vmesh_corim_untag(const vmesh_cbor *it, vmesh_cbor *inner) VMESH_WUR;
/* A map with unsigned integer keys below VMESH_CORIM_MAX_KEYS: f[k] is the
 * value of key k (f[k].n == 0 when absent). Refuses other keys (naming them
 * from names[] when given), keys outside `allowed` (a bit mask) and
 * duplicates. */
vmesh_err vmesh_corim_fields(const vmesh_cbor *map, const char *what, uint32_t allowed, const char *const *names,
                             size_t n_names, vmesh_cbor f[VMESH_CORIM_MAX_KEYS]) VMESH_WUR;
/* A definite byte string, borrowed. */
vmesh_err vmesh_corim_bytes(const vmesh_cbor *it, const char *what, const uint8_t **p, size_t *n) VMESH_WUR;
/* A text string copied NUL-terminated into out (at most max-1 bytes). */
vmesh_err vmesh_corim_text(const vmesh_cbor *it, const char *what, char *out, size_t max) VMESH_WUR;
bool vmesh_corim_text_equals(const vmesh_cbor *it, const char *s);
/* An array: *items is a cursor over its elements (read each with
 * vmesh_cbor_read_item), *n their number; non_empty refuses []. */
vmesh_err vmesh_corim_array(const vmesh_cbor *it, const char *what, bool non_empty, vmesh_cbor *items,
                            uint64_t *n) VMESH_WUR;

/* ---- for profiles: writing --------------------------------------------------- */

/* Appends a tagged CoMID (#6.506(bytes .cbor concise-mid-tag)): language
 * "en", tag-id, and a triples map with the single key triples_key (0
 * reference-triples, 3 attest-key-triples) holding ntriples pre-encoded
 * triple records. */
vmesh_err vmesh_corim_put_comid(vmesh_buf *out, const char *tag_id, unsigned triples_key, uint64_t ntriples,
                                const uint8_t *triples, size_t n) VMESH_WUR;
/* Appends a tagged unsigned CoRIM (#6.501({0: id, 1: [tags], 3: 32(profile)}))
 * with ntags pre-encoded tagged CoMIDs. */
vmesh_err vmesh_corim_put_unsigned(vmesh_buf *out, const char *id, const char *profile, uint64_t ntags,
                                   const uint8_t *tags, size_t n) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
