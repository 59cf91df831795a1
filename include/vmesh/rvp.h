/*
 * vmesh rvp: what Reference Value Providers publish and what verifiers pull
 * (DESIGN §5, docs/BUNDLES.md). Two parts: the trust bundle (a signed
 * manifest.jws naming content-addressed sets, its publisher and a small
 * static HTTP server for it; below the bell) and the epoch bell — a signed, periodically rotated
 * {bell, id, nonce, issued_at, valid_until} (draft-ietf-rats-epoch-markers,
 * epoch-tick style) that attesters bind their evidence to and relying
 * parties use to judge freshness. A bell is accepted only with a valid
 * signature from the configured key; ids only go up.
 */
#ifndef VMESH_RVP_H
#define VMESH_RVP_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_BELL_NONCE_LEN 32
#define VMESH_BELL_NAME_MAX 128
#define VMESH_BELL_JWS_MAX ((size_t)8 * 1024)

typedef struct {
    char name[VMESH_BELL_NAME_MAX + 1]; /* "bell": who rings it */
    uint64_t id;                         /* tick number, strictly increasing */
    uint8_t nonce[VMESH_BELL_NONCE_LEN]; /* 32 random bytes */
    int64_t issued_at;
    int64_t valid_until;
} vmesh_bell;

/* Signs a bell as a compact JWS (typ "vmesh-bell+jwt"). */
vmesh_err vmesh_rvp_bell_sign(const vmesh_bell *b, const vmesh_key *key, vmesh_buf *jws) VMESH_WUR;
/* Makes the next tick: id = prev_id + 1, fresh random nonce, issued now,
 * valid for `period` * 2 seconds (so that the previous tick stays usable
 * for one period after rotation). */
vmesh_err vmesh_rvp_bell_next(const char *name, uint64_t prev_id, int64_t period, vmesh_bell *out) VMESH_WUR;
/* Verifies signature and content; refuses a bell whose valid_until has
 * passed at `now` (VMESH_ERR_EXPIRED) or that is issued in the future by
 * more than 300 s. */
vmesh_err vmesh_rvp_bell_verify(const char *jws, size_t n, const vmesh_key *key, int64_t now,
                                vmesh_bell *out) VMESH_WUR;

/* Signature and content only, no time checks (e.g. to continue numbering). */
vmesh_err vmesh_rvp_bell_read(const char *jws, size_t n, const vmesh_key *key, vmesh_bell *out) VMESH_WUR;

/* A relying party's view of a bell: the current tick and the previous one.
 * Evidence bound to either is fresh (DESIGN §5). Thread-safe. */
typedef struct vmesh_bell_view vmesh_bell_view;
vmesh_err vmesh_bell_view_new(const vmesh_key *key, vmesh_bell_view **out) VMESH_WUR;
void vmesh_bell_view_free(vmesh_bell_view *v);
/* Offers a newly fetched bell.jws. Accepts it when it verifies and its id
 * is higher than the current one (the current becomes previous); the same
 * id again is a no-op; a lower id is refused (rollback). */
vmesh_err vmesh_bell_view_update(vmesh_bell_view *v, const char *jws, size_t n, int64_t now) VMESH_WUR;
/* The previous tick; VMESH_ERR_NOT_FOUND when there is none. */
vmesh_err vmesh_bell_view_previous(vmesh_bell_view *v, vmesh_bell *out) VMESH_WUR;
/* The current tick (for attesters); VMESH_ERR_NOT_FOUND before the first. */
vmesh_err vmesh_bell_view_current(vmesh_bell_view *v, vmesh_bell *out) VMESH_WUR;
/* Is (id, nonce) the current or the previous tick, and still valid? On
 * success *issued_at (may be NULL) is that tick's issue time: evidence bound
 * to it cannot be older. */
vmesh_err vmesh_bell_view_check(vmesh_bell_view *v, uint64_t id, const uint8_t *nonce, size_t nonce_len,
                                int64_t now, int64_t *issued_at) VMESH_WUR;
/* Changes whenever the current tick changes (cache invalidation). */
uint64_t vmesh_bell_view_generation(vmesh_bell_view *v);

/* ---- trust bundles (docs/BUNDLES.md) --------------------------------------
 * An RVP's web directory:
 *   manifest.jws   JWS (typ "vmesh-manifest+jwt") of {rvp, epoch, issued_at,
 *                  expires_at, sets: [{kind, scheme, media_type, sha256, size,
 *                  path}]}; epochs strictly increase
 *   sets/<sha256>  the payloads, named by the lowercase hex SHA-256 of their
 *                  bytes (path is always exactly "sets/" + sha256)
 *   bell.jws       the epoch bell (above)
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
    VMESH_SET_TRUST_ANCHOR,     /* PEM certificates / public keys, a JWK or JWK set */
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

typedef struct {
    const char *name;       /* the manifest's "rvp"; NULL: the previous manifest's name, else "rvp" */
    uint64_t epoch;         /* 0: the published epoch + 1 (1 for a new directory) */
    int64_t validity;       /* seconds until expires_at; 0: 86400 */
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

/* ---- the static bundle server ----------------------------------------------
 * Serves the regular files under root over HTTP/1.1 (libmicrohttpd, own
 * threads): GET and HEAD only (405 otherwise), no directory listing (404),
 * paths with "..", "//", hidden components, or characters outside
 * [A-Za-z0-9._/-] refused (400), symlinks not followed; strong ETag = the
 * quoted hex SHA-256 of the file, If-None-Match -> 304; Cache-Control
 * "no-cache" for the mutable files (manifest.jws, bell.jws, anything not
 * under sets/) and "public, max-age=31536000, immutable" under sets/. */
typedef struct vmesh_rvp_server vmesh_rvp_server;
/* listen: "HOST:PORT" (IPv4 address), "[IPv6]:PORT" or ":PORT" (all
 * IPv4 interfaces); port 0 picks a free port (see vmesh_rvp_server_port). */
vmesh_err vmesh_rvp_server_start(const char *root, const char *listen, vmesh_rvp_server **out) VMESH_WUR;
uint16_t vmesh_rvp_server_port(const vmesh_rvp_server *s);
/* Stops serving and frees; NULL is fine. */
void vmesh_rvp_server_stop(vmesh_rvp_server *s);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
