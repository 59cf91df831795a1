/*
 * vmesh sync: the trust-bundle client of a verifier (DESIGN §5,
 * docs/BUNDLES.md). It polls one or more Reference Value Providers'
 * manifest.jws (and optionally a bell.cwt) over HTTP(S) with If-None-Match,
 * accepts a manifest only with a valid signature from that RVP's key, an
 * epoch never lower than the one it holds (rollback refused) and sets whose
 * size and SHA-256 match, builds one frozen RV store from every RVP's
 * current sets (entries of schemes an RVP is not trusted for are dropped),
 * installs it atomically and tells the embedding program. The last good
 * state is kept on disk and loaded before the first poll, so a restart with
 * every RVP down still has reference values. Whatever goes wrong, the last
 * good snapshot stays installed; each refusal is one vmesh_log line naming
 * the RVP ("rvp acme: manifest epoch 3 is older than the current 5:
 * rollback refused").
 *
 * Typical use (a verifier service):
 *     vmesh_sync_config cfg = {.state_dir = "/var/lib/vmesh/sync", .interval = 30,
 *                              .on_snapshot = vmesh_sync_to_verifier, .ctx = verifier};
 *     vmesh_sync_new(&cfg, &s);
 *     vmesh_sync_add_rvp_spec(s, "https://rvp.example/bundle,rvp.jwk");
 *     vmesh_sync_start(s);      // loads the persisted state, then polls in a thread
 *     ...
 *     vmesh_sync_stop(s); vmesh_sync_free(s);
 */
#ifndef VMESH_SYNC_H
#define VMESH_SYNC_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/policy.h"
#include "vmesh/rv.h"
#include "vmesh/rvp.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_SYNC_MAX_RVPS 64
#define VMESH_SYNC_COSERV_PREFIX "coserv+"

typedef struct vmesh_sync vmesh_sync;

/* Called after every newly installed snapshot (from the thread that polled:
 * the sync thread, or the caller of vmesh_sync_load / vmesh_sync_poll_once).
 * rv is frozen; policy is the RP policy of the bundle or NULL when no RVP
 * publishes one. Both are borrowed for the call: take a reference
 * (vmesh_rv_store_ref / vmesh_policy_ref) to keep them. The proxy
 * re-appraises its open connections here. */
typedef void (*vmesh_sync_snapshot_fn)(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy);

typedef struct {
    const char *state_dir;     /* required; created if missing (one level) */
    int interval;              /* seconds between polls; 0: 30. Each wait is
                                * interval +- jitter_pct percent, at random */
    int jitter_pct;            /* 0: 10; at most 50 */
    int timeout;               /* seconds for one HTTP request; 0: 10 */
    size_t max_set_size;       /* bytes; 0: VMESH_RVP_SET_MAX */
    vmesh_sync_snapshot_fn on_snapshot; /* may be NULL */
    void *ctx;
    /* Optional epoch bell: bell.cwt is fetched (with If-None-Match) from
     * bell_url, or from the first RVP's base URL + "/bell.cwt" when
     * bell_url is NULL (from every RVP's when the view follows more than
     * one bell: one bell per RVP), and offered to this view (which verifies it with its
     * own key). Not owned; must outlive the client. */
    vmesh_bell_view *bell;
    const char *bell_url;
} vmesh_sync_config;

/* One RVP. */
typedef struct {
    /* The RVP's name; the manifest's "rvp" must equal it. NULL: taken from
     * the first manifest accepted (then pinned). */
    const char *name;
    const char *url;           /* base URL; <url>/manifest.jws, <url>/sets/<sha256> */
    vmesh_key *key;            /* trusted public key (a reference is taken) */
    /* Schemes this RVP may speak for: "psa", "psa+tpm2"; NULL or "" means
     * every scheme. Entries of other schemes are dropped, with a log line. */
    const char *schemes;
    /* A CoSERV provider (draft-ietf-rats-coserv-07, docs/BUNDLES.md
     * "CoSERV"): url is "coserv+http(s)://HOST[:PORT][/PATH]" (the base of
     * /coserv/{query}), schemes names exactly one scheme (the profile
     * tag:vmesh.dev,2026:<scheme>), name is required, and this lists the
     * class ids to ask for, hex, '+'-separated (at most 16). Each poll asks
     * for the reference values and the trust anchors of those classes;
     * only COSE_Sign1 result sets signed by key, answering exactly the
     * query asked and not expired are loaded. NULL for a bundle RVP. */
    const char *coserv_classes;
} vmesh_sync_rvp;

vmesh_err vmesh_sync_new(const vmesh_sync_config *cfg, vmesh_sync **out) VMESH_WUR;
/* Stops the thread if running, frees everything. NULL is fine. */
void vmesh_sync_free(vmesh_sync *s);
/* Adds an RVP (before start). Two RVPs with the same key are refused. */
vmesh_err vmesh_sync_add_rvp(vmesh_sync *s, const vmesh_sync_rvp *r) VMESH_WUR;
/* Same from a command-line spec:
 *   "URL,KEY"                     (name from the manifest, every scheme)
 *   "NAME,URL,KEY[,s1+s2]"
 * KEY is a file (PEM or JWK) or an inline JWK object ("{...}" — then the
 * spec is split at the first ',' only: "URL,{jwk}"). */
vmesh_err vmesh_sync_add_rvp_spec(vmesh_sync *s, const char *spec) VMESH_WUR;

/* Loads the persisted state (every RVP's last accepted manifest and its
 * cached sets, each checked again) and installs it as the first snapshot.
 * RVPs with no usable state are logged and left empty. Done once; start
 * and poll_once call it when it has not run yet. */
vmesh_err vmesh_sync_load(vmesh_sync *s) VMESH_WUR;
/* Polls every RVP once (and the bell), installs a new snapshot when
 * anything changed or the staleness changed. Returns VMESH_OK when every
 * RVP answered with a manifest it accepted or "not modified"; otherwise
 * the error of the last RVP that failed (its detail names the RVP). The
 * last good snapshot stays installed either way. Serialized with the
 * thread: safe to call while it runs. */
vmesh_err vmesh_sync_poll_once(vmesh_sync *s) VMESH_WUR;
/* Loads the state, then polls in a thread every interval (+- jitter)
 * until vmesh_sync_stop. The first poll happens at once. */
vmesh_err vmesh_sync_start(vmesh_sync *s) VMESH_WUR;
void vmesh_sync_stop(vmesh_sync *s);

/* The installed snapshot, with a reference the caller drops; NULL before
 * the first. */
vmesh_rv_store *vmesh_sync_rv(vmesh_sync *s);
/* The installed RP policy (a reference), or NULL. */
vmesh_policy *vmesh_sync_policy(vmesh_sync *s);

typedef struct {
    char name[VMESH_RVP_NAME_MAX + 1]; /* "" until known */
    char url[512];
    uint64_t epoch;          /* 0: no manifest accepted yet */
    int64_t expires_at;
    bool stale;              /* the accepted manifest is past expires_at */
    uint64_t polls, not_modified, updates, refusals, failures;
    size_t sets;
    char last_error[512];    /* "" after a good poll */
    int64_t last_success_at; /* wall time of the last poll it answered acceptably; 0: none yet */
    int64_t failing_since;   /* wall time of the first poll of the current failure run; 0: not failing */
    uint64_t consecutive_failures; /* polls failed or refused since the last good one */
} vmesh_sync_rvp_status;

size_t vmesh_sync_rvp_count(vmesh_sync *s);
/* false when i is out of range. */
bool vmesh_sync_rvp_status_at(vmesh_sync *s, size_t i, vmesh_sync_rvp_status *out);
/* The reference values of the i-th RVP alone (its current manifest's sets),
 * with a reference the caller drops; NULL when it has none yet. Call it from
 * on_snapshot (the polling thread), where the set is the one just merged. */
vmesh_rv_store *vmesh_sync_rvp_store(vmesh_sync *s, size_t i);
/* The verifier trust set (D40, docs/BUNDLES.md "The verifier trust set")
 * of the i-th RVP as of the installed snapshot: a copy the caller frees
 * with vmesh_rvp_verifiers_free; n 0 when its bundle has none. A set that
 * does not parse refuses its whole epoch, so this is always the last good
 * one. Safe from any thread. */
vmesh_err vmesh_sync_rvp_verifiers(vmesh_sync *s, size_t i, vmesh_rvp_verifiers *out) VMESH_WUR;
/* Snapshots installed so far. */
uint64_t vmesh_sync_snapshots(vmesh_sync *s);

/* ---- scoped providers (docs/FEDERATION.md "Scopes at the central verifier") ----
 * An RVP's scope says whose platforms its reference values may vouch for:
 * trust domains ("y.example") and/or SPIFFE ID prefixes
 * ("spiffe://y.example/ns/lab", matched at a path-segment boundary). An
 * RVP without a scope counts for every identity (D28). */

/* Scopes the i-th RVP added (before start): `list` is comma-separated
 * entries, each a trust domain or a SPIFFE ID prefix with a path. Given
 * twice for one RVP, the entries add up. */
vmesh_err vmesh_sync_scope_rvp(vmesh_sync *s, size_t i, const char *list) VMESH_WUR;
/* Whether any RVP has a scope. */
bool vmesh_sync_scoped(vmesh_sync *s);
/* The reference values the evidence of `peer` (a SPIFFE ID; NULL or "":
 * no identity, only unscoped RVPs count) is appraised with: the union of
 * the current sets of the RVPs whose scope covers it, with their epochs and
 * the snapshot's staleness, frozen, with a reference the caller drops;
 * built once per set of RVPs and snapshot. `why` receives "only the
 * reference values of RVP y (scope y.example) count for this peer"; NULL
 * when no RVP covers the peer, or none has sets yet (`why` says which). */
vmesh_rv_store *vmesh_sync_scoped_rv(vmesh_sync *s, const char *peer, char *why, size_t why_len);

/* A ready-made vmesh_sync_snapshot_fn: ctx is a vmesh_verifier *, into which
 * the snapshot is installed with vmesh_verifier_set_rv (the policy is not
 * the verifier's business and is ignored). */
void vmesh_sync_to_verifier(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
