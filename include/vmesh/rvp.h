/*
 * vmesh rvp: what Reference Value Providers publish and what verifiers pull
 * (DESIGN §5, docs/BUNDLES.md). Two parts: the trust bundle (a signed
 * manifest.jws naming content-addressed sets, its publisher and a small
 * static HTTP server for it; below the bell) and the epoch bell: an Epoch
 * Marker (draft-ietf-rats-epoch-markers-05) rung periodically, a
 * COSE_Sign1-signed CWT (RFC 8392, RFC 9052) whose `em` claim holds an
 * epoch-tick of 32 random bytes that attesters bind their evidence to and
 * relying parties use to judge freshness (docs/BUNDLES.md, "The epoch
 * bell"). A marker is accepted only with a valid signature from a
 * configured bell key; tick numbers only go up. One view may follow several
 * bells (one per RVP) and judges a result fresh only if every bell it
 * depends on is at its current or previous tick.
 */
#ifndef VMESH_RVP_H
#define VMESH_RVP_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/rv.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_BELL_NONCE_LEN 32               /* the epoch-tick's bytes */
#define VMESH_BELL_NAME_MAX 128
#define VMESH_BELL_MAX ((size_t)8 * 1024)     /* a signed marker's bytes */
#define VMESH_BELL_JWS_MAX VMESH_BELL_MAX     /* the former name, kept for callers */
#define VMESH_BELL_FILE "bell.cwt"            /* where an RVP publishes its marker */
#define VMESH_BELL_MEDIA_TYPE "application/cwt"
#define VMESH_BELL_MAX_BELLS 16               /* bells one view follows */

/* CWT claim keys (RFC 8392 §4; the draft's suggested `em` key). The tick
 * number is a private-use claim (RFC 8392 §9.1: keys below -65536): the
 * draft's `em` claim carries one epoch id, and vmesh needs both the
 * unpredictable epoch-tick (evidence binds to it) and a strictly increasing
 * counter (rollback refusal, "the previous tick"); docs/DECISIONS.md D18. */
#define VMESH_CWT_ISS 1
#define VMESH_CWT_EXP 4
#define VMESH_CWT_NBF 5
#define VMESH_CWT_IAT 6
#define VMESH_CWT_EM 2000
#define VMESH_CWT_VMESH_TICK (-65537)
/* The previous tick, private-use too (docs/DECISIONS.md D27):
 * [id, epoch-tick (32 bytes), iat, exp] of the tick this one follows, so a
 * relying party that loads the bell for the first time also knows the one
 * tick before (evidence bound to it is still fresh). Optional on decode. */
#define VMESH_CWT_VMESH_PREV (-65538)
/* draft-ietf-rats-epoch-markers §"New CBOR Tags" (suggested numbers). */
#define VMESH_EM_TAG_EPOCH_TICK 26982
#define VMESH_EM_TAG_COUNTER 26984

/* One tick of a bell without its name (the previous tick a marker carries). */
typedef struct {
    uint64_t id;
    uint8_t nonce[VMESH_BELL_NONCE_LEN];
    int64_t issued_at;
    int64_t valid_until;
} vmesh_bell_tick;

typedef struct {
    char name[VMESH_BELL_NAME_MAX + 1]; /* CWT iss: who rings it */
    uint64_t id;                         /* tick number, strictly increasing */
    uint8_t nonce[VMESH_BELL_NONCE_LEN]; /* the em epoch-tick: 32 random bytes */
    int64_t issued_at;                   /* CWT iat (and nbf) */
    int64_t valid_until;                 /* CWT exp */
    bool has_prev;                       /* claim -65538 present: */
    vmesh_bell_tick prev;                /* the tick id - 1, as the bell rang it */
} vmesh_bell;

/* Signs a bell as an Epoch Marker CWT (COSE_Sign1, alg from the key):
 * {1 iss: name, 4 exp: valid_until, 5 nbf: issued_at, 6 iat: issued_at,
 * 2000 em: 26982(h'tick'), -65537: id[, -65538: [prev.id, h'prev tick',
 * prev.iat, prev.exp]]} (keys in deterministic order); out is reset. A prev
 * must be id - 1, issued no later and valid no longer than this tick
 * (VMESH_ERR_ARG otherwise). */
vmesh_err vmesh_rvp_bell_sign(const vmesh_bell *b, const vmesh_key *key, vmesh_buf *out) VMESH_WUR;
/* Makes the next tick: id = prev_id + 1, fresh random epoch-tick, issued
 * now, valid for `period` * 2 seconds (so that the previous tick stays
 * usable for one period after rotation). No previous tick is carried. */
vmesh_err vmesh_rvp_bell_next(const char *name, uint64_t prev_id, int64_t period, vmesh_bell *out) VMESH_WUR;
/* The ringer's way: the tick after `last` (same name, id + 1, as _next)
 * that also carries `last` as its previous tick (its exp cut to the new
 * tick's exp when that is shorter, e.g. after the period was shortened). */
vmesh_err vmesh_rvp_bell_after(const vmesh_bell *last, int64_t period, vmesh_bell *out) VMESH_WUR;
/* Verifies signature and content; refuses a marker whose exp has passed at
 * `now` (VMESH_ERR_EXPIRED) or that is issued in the future by more than
 * 300 s. `marker` is the CWT's bytes (any pointer type). */
vmesh_err vmesh_rvp_bell_verify(const void *marker, size_t n, const vmesh_key *key, int64_t now,
                                vmesh_bell *out) VMESH_WUR;
/* Signature and content only, no time checks (e.g. to continue numbering). */
vmesh_err vmesh_rvp_bell_read(const void *marker, size_t n, const vmesh_key *key, vmesh_bell *out) VMESH_WUR;
/* Content only, no signature (for display and fuzzing): every structural
 * rule of read. Never use the result for a decision. */
vmesh_err vmesh_rvp_bell_decode(const void *marker, size_t n, vmesh_bell *out) VMESH_WUR;

/* The marker a result was produced under: which bell, which tick. EARs
 * carry them ("ear.vmesh.epoch-markers"). */
typedef struct {
    char bell[VMESH_BELL_NAME_MAX + 1];
    uint64_t tick;
    uint8_t em[VMESH_BELL_NONCE_LEN];
} vmesh_bell_marker;

/* A relying party's view of one or more bells: for each, the current tick
 * and the previous one. Evidence bound to either is fresh (DESIGN §5).
 * Thread-safe. The first bell (the key given to _new) is the primary one:
 * attesters bind to its ticks. */
typedef struct vmesh_bell_view vmesh_bell_view;
vmesh_err vmesh_bell_view_new(const vmesh_key *key, vmesh_bell_view **out) VMESH_WUR;
/* Follows one more bell (another RVP's), verified with key. At most
 * VMESH_BELL_MAX_BELLS; the same key twice is refused. */
vmesh_err vmesh_bell_view_add(vmesh_bell_view *v, const vmesh_key *key) VMESH_WUR;
void vmesh_bell_view_free(vmesh_bell_view *v);
/* Number of bells followed (1 + those added). */
size_t vmesh_bell_view_bells(vmesh_bell_view *v);
/* Offers a newly fetched marker. It goes to the bell whose key verifies it
 * (VMESH_ERR_SIGNATURE when none does). Accepted when its id is higher
 * than that bell's current one: when the current was id - 1 it becomes the
 * previous tick; otherwise (first marker, or ticks were skipped) the
 * previous tick is the one the marker carries (signed with it), or none.
 * A tick older than id - 1 is never kept. The same id again is a no-op
 * (except that it installs a carried previous tick when there is none); a
 * lower id is refused (rollback); a bell whose name (iss) changes is
 * refused. */
vmesh_err vmesh_bell_view_update(vmesh_bell_view *v, const void *marker, size_t n, int64_t now) VMESH_WUR;
/* The primary bell's previous tick; VMESH_ERR_NOT_FOUND when there is none. */
vmesh_err vmesh_bell_view_previous(vmesh_bell_view *v, vmesh_bell *out) VMESH_WUR;
/* The primary bell's current tick (for attesters); VMESH_ERR_NOT_FOUND
 * before the first. */
vmesh_err vmesh_bell_view_current(vmesh_bell_view *v, vmesh_bell *out) VMESH_WUR;
/* Is (id, nonce) the current or the previous tick of a bell we follow, and
 * still valid? On success *issued_at (may be NULL) is that tick's issue
 * time: evidence bound to it cannot be older. */
vmesh_err vmesh_bell_view_check(vmesh_bell_view *v, uint64_t id, const uint8_t *nonce, size_t nonce_len,
                                int64_t now, int64_t *issued_at) VMESH_WUR;
/* The current marker of every bell that has rung (at most max); returns
 * how many were written. A result produced now was produced under them. */
size_t vmesh_bell_view_markers(vmesh_bell_view *v, vmesh_bell_marker *out, size_t max);
/* Combining bells (docs/BUNDLES.md, "Several bells"): a result is fresh
 * only if every bell it names that we follow is at the named tick's
 * current or previous tick (same epoch-tick bytes, still valid), and at
 * least one of them is a bell we follow. Markers of bells we do not follow
 * say nothing to us and are ignored. VMESH_ERR_EXPIRED names the stale
 * bell; VMESH_ERR_MISMATCH a tick we never saw; VMESH_ERR_NOT_FOUND no
 * common bell. */
vmesh_err vmesh_bell_view_check_markers(vmesh_bell_view *v, const vmesh_bell_marker *m, size_t n,
                                        int64_t now) VMESH_WUR;
/* Changes whenever the current tick of any bell changes (cache
 * invalidation). */
uint64_t vmesh_bell_view_generation(vmesh_bell_view *v);

/* ---- trust bundles (docs/BUNDLES.md) --------------------------------------
 * An RVP's web directory:
 *   manifest.jws   JWS (typ "vmesh-manifest+jwt") of {rvp, epoch, issued_at,
 *                  expires_at, sets: [{kind, scheme, media_type, sha256, size,
 *                  path}]}; epochs strictly increase
 *   sets/<sha256>  the payloads, named by the lowercase hex SHA-256 of their
 *                  bytes (path is always exactly "sets/" + sha256)
 *   bell.cwt       the epoch bell's marker (above)
 * A manifest is accepted only with a valid signature from the RVP's key and
 * a payload that passes every check of vmesh_rvp_manifest_parse. */

#define VMESH_RVP_MANIFEST_MAX ((size_t)256 * 1024)      /* manifest.jws bytes */
#define VMESH_RVP_MAX_SETS 256                           /* sets in one manifest */
#define VMESH_RVP_SET_MAX ((size_t)16 * 1024 * 1024)     /* one set's bytes */
#define VMESH_RVP_NAME_MAX 128                           /* the "rvp" name */
#define VMESH_RVP_SCHEME_MAX 128                         /* "psa" or "psa+tpm2" */
#define VMESH_RVP_MEDIA_TYPE_MAX 128
#define VMESH_RVP_MANIFEST_TYP "vmesh-manifest+jwt"
#define VMESH_RVP_RV_MEDIA_TYPE "application/vnd.vmesh.rv+json"
#define VMESH_RVP_POLICY_MEDIA_TYPE "application/vnd.vmesh.policy+json"
#define VMESH_RVP_VPOLICY_MEDIA_TYPE "application/vnd.vmesh.verifier-policy+json"

typedef enum {
    VMESH_SET_CORIM = 1,        /* CoRIM, signed or not (application/rim+cbor) */
    VMESH_SET_RV_JSON,          /* vmesh RV JSON (docs/RV-JSON.md) */
    VMESH_SET_TRUST_ANCHOR,     /* certificates, CRLs, TDX collateral, public keys (scheme "": cached only) */
    VMESH_SET_POLICY,           /* RP policy (vmesh-policy/1) or verifier policy */
} vmesh_set_kind;

/* "corim", "rv-json", "trust-anchor", "policy"; NULL when out of range. */
const char *vmesh_rvp_set_kind_name(vmesh_set_kind k);
vmesh_err vmesh_rvp_set_kind_parse(const char *s, vmesh_set_kind *out) VMESH_WUR;

typedef struct {
    vmesh_set_kind kind;
    /* The schemes whose entries the set holds, sorted, joined by '+'
     * ("psa", "psa+tpm2"); "" for sets that are not scheme-specific
     * (trust anchors, policies). Declarative: a sync client still checks
     * every entry's own scheme. */
    char scheme[VMESH_RVP_SCHEME_MAX + 1];
    char media_type[VMESH_RVP_MEDIA_TYPE_MAX + 1];
    uint8_t sha256[32];
    uint64_t size;                 /* bytes, 1..VMESH_RVP_SET_MAX */
    char path[5 + 64 + 1];         /* "sets/<64 hex>" */
} vmesh_rvp_set;

typedef struct {
    char rvp[VMESH_RVP_NAME_MAX + 1]; /* [A-Za-z0-9._-], not starting with '.' */
    uint64_t epoch;                    /* 1..INT64_MAX */
    int64_t issued_at;
    int64_t expires_at;                /* > issued_at */
    size_t nsets;
    vmesh_rvp_set *sets;               /* owned; free with vmesh_rvp_manifest_free */
} vmesh_rvp_manifest;

/* Frees m->sets and zeroes *m (a zeroed manifest is fine). */
void vmesh_rvp_manifest_free(vmesh_rvp_manifest *m);
/* True when a and b name exactly the same sets in the same order. */
bool vmesh_rvp_manifest_same_sets(const vmesh_rvp_manifest *a, const vmesh_rvp_manifest *b);
/* Checks m as parse would and signs it (compact JSON payload, typ
 * VMESH_RVP_MANIFEST_TYP); jws is reset and NUL-terminated. */
vmesh_err vmesh_rvp_manifest_sign(const vmesh_rvp_manifest *m, const vmesh_key *key,
                                  vmesh_buf *jws) VMESH_WUR;
/* Parses a manifest payload (JSON, no signature): every field required,
 * no unknown field, duplicate names refused, kinds known, sha256 64
 * lowercase hex, path == "sets/" + sha256, size 1..VMESH_RVP_SET_MAX, no
 * digest listed twice, at most VMESH_RVP_MAX_SETS sets. No time checks.
 * *out is reset first; the caller frees it. */
vmesh_err vmesh_rvp_manifest_parse(const uint8_t *json, size_t n, vmesh_rvp_manifest *out) VMESH_WUR;
/* Verifies a manifest.jws with the RVP's key (vmesh_jose_jws_verify; the
 * header "typ" must be VMESH_RVP_MANIFEST_TYP), then parses it. No time
 * checks: an expired manifest is the caller's decision (a sync client keeps
 * it and marks its snapshot stale). */
vmesh_err vmesh_rvp_manifest_verify(const char *jws, size_t n, const vmesh_key *key,
                                    vmesh_rvp_manifest *out) VMESH_WUR;

/* Tells what a bundle input is from its bytes and fills kind, scheme,
 * media_type, sha256, size and path of *out. The content is validated as a
 * verifier would read it (a CoRIM or RV JSON is loaded into a scratch store,
 * an RP policy parsed, PEM/JWK keys and certificates decoded; private keys
 * refused), so an RVP cannot publish what its verifiers would refuse.
 * `source` names the input in error messages. */
vmesh_err vmesh_rvp_classify(const uint8_t *p, size_t n, const char *source,
                             vmesh_rvp_set *out) VMESH_WUR;

/* Trust anchors and collateral of the confidential-computing schemes
 * (docs/BUNDLES.md "Trust anchors"): the schemes a trust-anchor set may be
 * published for: "sev-snp", "tdx", and "tsm" (stands for both). CCA's
 * trust anchors are CPAKs bound to an implementation-id and instance-id:
 * they travel in an RV JSON set ("keys"), not here. */
bool vmesh_rvp_ta_scheme_ok(const char *scheme);
/* Classifies one trust-anchor input for `scheme` (above): PEM certificates
 * and CRLs, a DER certificate or CRL, TDX TCB Info / QE Identity JSON as
 * Intel's PCS serves it, or a public key; loaded into a scratch store as
 * a sync client will (vmesh_ccpki_ta_load). Private keys and PEM blocks
 * of any other type are refused (the set's bytes are published as they
 * are). out->kind is VMESH_SET_TRUST_ANCHOR and out->scheme the schemes
 * whose environments receive it ("sev-snp+tdx" for "tsm"). */
vmesh_err vmesh_rvp_classify_ta(const uint8_t *p, size_t n, const char *scheme, const char *source,
                                vmesh_rvp_set *out) VMESH_WUR;

typedef struct {
    const char *name;       /* the manifest's "rvp"; NULL: the previous manifest's name, else "rvp" */
    uint64_t epoch;         /* 0: the published epoch + 1 (1 for a new directory) */
    int64_t validity;       /* seconds until expires_at; 0: 86400 */
    /* Trust-anchor inputs "SCHEME=FILE" (a directory stands for its
     * files), classified with vmesh_rvp_classify_ta. */
    const char *const *ta_inputs;
    size_t nta;
} vmesh_rvp_publish_opts;

/* Publishes inputs (files; a directory stands for its regular files not
 * starting with '.', in name order) into out_dir: sets/<sha256> first, then
 * manifest.jws (vmesh_file_write: atomic), then removes the files of sets/
 * that neither the new nor the previous manifest names (so a verifier that
 * fetched the previous manifest a moment ago still finds its sets). An
 * existing out_dir/manifest.jws must verify with key (else VMESH_ERR_STATE:
 * we never continue numbering from a manifest we did not sign); an explicit
 * epoch not above the published one is refused with VMESH_ERR_POLICY.
 * Two inputs with the same bytes are published once. out (may be NULL)
 * receives the new manifest. */
vmesh_err vmesh_rvp_publish(const vmesh_key *key, const char *const *inputs, size_t ninputs,
                            const char *out_dir, const vmesh_rvp_publish_opts *opts,
                            vmesh_rvp_manifest *out) VMESH_WUR;

/* ---- the verifier trust set (docs/BUNDLES.md "The verifier trust set", D40) ----
 * A bundle may carry one set naming the verifiers whose EAR keys relying
 * parties accept (`verifier.issuers-from: bundle`): JSON, "format":
 * "vmesh-verifiers/1", {"verifiers": [{"name", "url", "ear-key",
 * "platform": {"scheme", "class-id"}}]}. Published as a trust-anchor set
 * (scheme "", media type VMESH_RVP_VERIFIERS_MEDIA_TYPE): the manifest's
 * signature covers its digest like every other set. A relying party
 * trusts a key of the set only while the verifier at `url` attests its
 * platform as (scheme, class-id) under the reference values the same
 * bundle publishes for that class. */
#define VMESH_RVP_VERIFIERS_FORMAT "vmesh-verifiers/1"
#define VMESH_RVP_VERIFIERS_MEDIA_TYPE "application/vnd.vmesh.verifiers+json"
#define VMESH_RVP_MAX_VERIFIERS 64                       /* verifiers in one set */
#define VMESH_RVP_VERIFIERS_MAX ((size_t)256 * 1024)     /* the set's bytes */
#define VMESH_RVP_URL_MAX 511

typedef struct {
    char name[VMESH_RVP_NAME_MAX + 1];   /* [A-Za-z0-9._-], not starting with '.'; unique in the set */
    char url[VMESH_RVP_URL_MAX + 1];     /* http(s)://...: where relying parties fetch its attestation */
    vmesh_key *ear_key;                  /* its EAR-signing public key (owned reference); unique in the set */
    char scheme[33];                     /* the evidence scheme its platform attests with ("psa", "tpm2", ...) */
    uint8_t class_id[256];               /* the class whose reference values judge its platform */
    size_t class_id_len;                 /* 1..256 */
} vmesh_rvp_verifier;

typedef struct vmesh_rvp_verifiers {
    size_t n;
    vmesh_rvp_verifier *v;               /* owned; vmesh_rvp_verifiers_free */
} vmesh_rvp_verifiers;

/* Parses a verifier trust set (at most VMESH_RVP_VERIFIERS_MAX bytes):
 * every field required, no unknown field, no duplicate member, names and
 * keys unique, public keys only (PEM string or JWK object), class-id
 * base64 (as in RV JSON), at most VMESH_RVP_MAX_VERIFIERS entries, at
 * least one. `source` names the document in errors. *out is reset first
 * and left empty on error. */
vmesh_err vmesh_rvp_verifiers_parse(const uint8_t *p, size_t n, const char *source,
                                    vmesh_rvp_verifiers *out) VMESH_WUR;
/* Deep copy (keys referenced); dst is reset first. */
vmesh_err vmesh_rvp_verifiers_copy(vmesh_rvp_verifiers *dst, const vmesh_rvp_verifiers *src) VMESH_WUR;
/* True when a and b name the same verifiers with the same url, key and platform, in order. */
bool vmesh_rvp_verifiers_same(const vmesh_rvp_verifiers *a, const vmesh_rvp_verifiers *b);
/* Frees the entries and zeroes *s (NULL and a zeroed set are fine). */
void vmesh_rvp_verifiers_free(vmesh_rvp_verifiers *s);
/* The entry called name, or NULL. */
const vmesh_rvp_verifier *vmesh_rvp_verifiers_find(const vmesh_rvp_verifiers *s, const char *name);

/* ---- the static bundle server ----------------------------------------------
 * Serves the regular files under root over HTTP/1.1 (libmicrohttpd, own
 * threads): GET and HEAD only (405 otherwise), no directory listing (404),
 * paths with "..", "//", hidden components, or characters outside
 * [A-Za-z0-9._/-] refused (400), symlinks not followed; strong ETag = the
 * quoted hex SHA-256 of the file, If-None-Match -> 304; Cache-Control
 * "no-cache" for the mutable files (manifest.jws, bell.cwt, anything not
 * under sets/) and "public, max-age=31536000, immutable" under sets/. */
typedef struct vmesh_rvp_server vmesh_rvp_server;
/* listen: "HOST:PORT" (IPv4 address), "[IPv6]:PORT" or ":PORT" (all
 * IPv4 interfaces); port 0 picks a free port (see vmesh_rvp_server_port). */
vmesh_err vmesh_rvp_server_start(const char *root, const char *listen, vmesh_rvp_server **out) VMESH_WUR;
/* The same, and with coserv_key (the RVP's private signing key, the one
 * that signs manifest.jws) it also answers CoSERV (draft-ietf-rats-coserv-07,
 * docs/BUNDLES.md "CoSERV"): GET /.well-known/coserv-configuration and
 * GET /coserv/{base64url query}, reference-value and trust-anchor queries
 * by class, instance or group selector, answered from the published
 * bundle (manifest verified with the key) as COSE_Sign1-signed result sets
 * that expire with the manifest. */
vmesh_err vmesh_rvp_server_start_coserv(const char *root, const char *listen, const vmesh_key *coserv_key,
                                        vmesh_rvp_server **out) VMESH_WUR;
/* What vmesh_rvp_server_start checks before it binds (the served directory
 * opens, listen parses and resolves), with its messages; opens no socket. */
vmesh_err vmesh_rvp_server_check(const char *root, const char *listen) VMESH_WUR;
uint16_t vmesh_rvp_server_port(const vmesh_rvp_server *s);
/* Stops serving and frees; NULL is fine. */
void vmesh_rvp_server_stop(vmesh_rvp_server *s);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
