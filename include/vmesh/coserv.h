/*
 * vmesh coserv: CoSERV (draft-ietf-rats-coserv-07, Concise Selector for
 * Endorsements and Reference Values) requests and result sets in CBOR, the
 * one CoSERV codec of the project. This is the parser and writer only;
 * serving and consuming CoSERV (issue 14.3) build on it.
 *
 *   coserv = { 0: profile, 1: query, ? 2: results }
 *   profile = text (a URI) / #6.111(bytes) (an OID)
 *   query = { 0: artifact-type (0 endorsed-values, 1 trust-anchors,
 *                               2 reference-values),
 *             1: environment-selector, 2: result-type (0 collected
 *             material, 1 source material, 2 both) }
 *   environment-selector = exactly one of
 *             { 0: [+ [class-map, ? measurements]] }     class
 *             { 1: [+ [instance-id, ? measurements]] }   instance
 *             { 2: [+ [group-id, ? measurements]] }      group
 *   results = { ..., 10: #6.0(tdate) expiry } (the result set proper is
 *             kept as its bytes here)
 *
 * Decoding is strict: definite lengths, integer keys only, no unknown or
 * duplicate key, no trailing bytes, at most VMESH_COSERV_MAX_SELECTORS
 * selector entries, a class-map only with CoMID keys 0..4 of their types.
 * Selector items and measurements are kept as their encoded bytes (borrowed
 * from the input) and written back as they came, so a deterministic input
 * re-encodes byte for byte. CBOR goes through src/cbor.
 */
#ifndef VMESH_COSERV_H
#define VMESH_COSERV_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/rv.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_COSERV_MEDIA_TYPE "application/coserv+cbor"
#define VMESH_COSERV_COSE_MEDIA_TYPE "application/coserv+cose"
/* vmesh's CoSERV profiles: this prefix + a vmesh scheme name ("psa"). */
#define VMESH_COSERV_PROFILE_PREFIX "tag:vmesh.dev,2026:"
#define VMESH_COSERV_MAX_SELECTORS 64
#define VMESH_COSERV_MAX ((size_t)64 * 1024)   /* one encoded request or result */
#define VMESH_COSERV_MAX_PROFILE 256

typedef enum {
    VMESH_COSERV_ENDORSED_VALUES = 0,
    VMESH_COSERV_TRUST_ANCHORS = 1,
    VMESH_COSERV_REFERENCE_VALUES = 2,
} vmesh_coserv_artifact;

typedef enum {
    VMESH_COSERV_COLLECTED = 0,
    VMESH_COSERV_SOURCE = 1,
    VMESH_COSERV_BOTH = 2,
} vmesh_coserv_result_type;

typedef enum {
    VMESH_COSERV_SEL_CLASS = 0,
    VMESH_COSERV_SEL_INSTANCE = 1,
    VMESH_COSERV_SEL_GROUP = 2,
} vmesh_coserv_selector_kind;

/* A span of the input: one encoded CBOR item (n == 0: absent). */
typedef struct {
    const uint8_t *p;
    size_t n;
} vmesh_coserv_raw;

typedef struct {
    vmesh_coserv_raw item;          /* class-map, instance id or group id */
    vmesh_coserv_raw measurements;  /* optional */
} vmesh_coserv_selector;

typedef struct {
    /* profile: a URI (text) or an OID (tag 111 bytes) */
    bool profile_is_oid;
    char profile[VMESH_COSERV_MAX_PROFILE + 1];   /* text profile, NUL-terminated */
    uint8_t profile_oid[VMESH_COSERV_MAX_PROFILE];
    size_t profile_oid_len;
    vmesh_coserv_artifact artifact;
    vmesh_coserv_selector_kind kind;
    size_t nsel;
    vmesh_coserv_selector sel[VMESH_COSERV_MAX_SELECTORS];
    vmesh_coserv_result_type result_type;
    /* results (key 2), when present: the encoded map and its expiry */
    vmesh_coserv_raw results;
    int64_t expiry;                 /* seconds since the epoch; 0 without results */
} vmesh_coserv;

/* Decodes one CoSERV data item (the bytes must outlive *out). */
vmesh_err vmesh_coserv_decode(const uint8_t *p, size_t n, vmesh_coserv *out) VMESH_WUR;
/* Decodes the base64url form a query takes in a request path
 * (".../coserv/{query}"). buf receives the CBOR, which *out borrows. */
vmesh_err vmesh_coserv_decode_b64url(const char *s, size_t n, vmesh_buf *buf, vmesh_coserv *out) VMESH_WUR;
/* Writes c as deterministic CBOR (keys in order, the kept items as they
 * are); out is reset first. */
vmesh_err vmesh_coserv_encode(const vmesh_coserv *c, vmesh_buf *out) VMESH_WUR;
/* Loads the reference values of c's result set (rvq: reference-value
 * quads, each [environment-map, [+ measurement-map]]) into s under
 * `scheme` (the caller maps the CoSERV profile to a vmesh scheme). Refused:
 * no result set, a result set past its expiry at `now`, result kinds other
 * than rvq, an environment without a class-id (tag 560 bytes, 37 UUID or
 * 111 OID; vendor, model, layer and index are not matched), and any mval
 * key vmesh cannot honour (only 0 version-map, 2 digests, 4 raw-value and
 * 11 name: ignoring a constraint such as an SVN would widen the reference
 * value). Digests of an algorithm vmesh does not know (other than
 * sha-256/384/512) are refused, as are digests of the wrong length. The
 * quads' authorities are not checked here (the result set's signature is
 * the caller's). All or nothing: s is unchanged on error. */
vmesh_err vmesh_coserv_load_results(const vmesh_coserv *c, vmesh_rv_store *s, const char *scheme,
                                    int64_t now) VMESH_WUR;
/* The provider's side: answers a reference-values query with class
 * selectors from rv (entries of `scheme` whose class id equals a selector's
 * class-id bytes): the query as asked, plus results {0: rvq, 10: expiry}
 * with one quad per class that has reference values (authority: tag 560
 * over `authority`, e.g. the RVP key's thumbprint). Each measurement
 * becomes one measurement-map (name, version, one digest or raw value);
 * a measurement with a signer-id is refused (CoMID mval cannot say it and
 * dropping it would widen the reference value). Refused: other artifact
 * types, instance or group selectors, result type "source material". out
 * is reset first; deterministic CBOR. */
vmesh_err vmesh_coserv_answer(const vmesh_coserv *query, const vmesh_rv_store *rv, const char *scheme,
                              const uint8_t *authority, size_t authority_len, int64_t expiry,
                              vmesh_buf *out) VMESH_WUR;
/* Signs an encoded CoSERV (normally an answer) as the draft's
 * signed-coserv: a tagged COSE_Sign1 whose protected header carries alg
 * and content type "application/coserv+cbor"; kid (unprotected) is the
 * key's RFC 7638 thumbprint. */
vmesh_err vmesh_coserv_sign(const uint8_t *coserv, size_t n, const vmesh_key *key, vmesh_buf *out) VMESH_WUR;
/* The consumer's side: p must be a tagged COSE_Sign1 that verifies with
 * key, content type application/coserv+cbor, whose payload is a CoSERV
 * with a result set not expired at `now` and (query != NULL) whose query
 * re-encodes to exactly the query bytes asked. Refused by name: an
 * unsigned result set (a bare CoSERV map), another key or altered bytes,
 * another content type, an expired result set, another query. payload
 * receives the CoSERV bytes, which *out borrows. */
vmesh_err vmesh_coserv_verify_signed(const uint8_t *p, size_t n, const vmesh_key *key, const uint8_t *query,
                                     size_t query_len, int64_t now, vmesh_buf *payload,
                                     vmesh_coserv *out) VMESH_WUR;
/* A consumer's query: profile "tag:vmesh.dev,2026:<scheme>", `artifact`,
 * class selectors 560(class id) for each of the n class ids, collected
 * material. Deterministic CBOR (the request path is its base64url). */
vmesh_err vmesh_coserv_class_query(const char *scheme, vmesh_coserv_artifact artifact, const uint8_t *const *classes,
                                   const size_t *lens, size_t n, vmesh_buf *out) VMESH_WUR;
/* The vmesh scheme a profile "tag:vmesh.dev,2026:<scheme>" names (a
 * pointer into c->profile), NULL for any other profile. */
const char *vmesh_coserv_profile_scheme(const vmesh_coserv *c);
/* "endorsed-values", "trust-anchors", "reference-values". */
const char *vmesh_coserv_artifact_name(vmesh_coserv_artifact a);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
