/*
 * vmesh policy: the relying party's appraisal policy for attestation
 * results — which attestation modes it accepts, the minimum tier each
 * trustworthiness claim must reach, how old evidence may be, whether an
 * unattested peer is refused (default) or admitted as tier "none", and which
 * verifier keys it trusts for passport EARs. Policies are JSON documents
 * (docs/POLICY.md) so they can be distributed as signed bundle sets. A
 * policy only ever narrows what is admitted: anything it cannot parse is an
 * error, never a permissive default.
 */
#ifndef VMESH_POLICY_H
#define VMESH_POLICY_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Attestation modes (DESIGN §3.3); values are the wire codes of the 0xff4d
 * extension. */
typedef enum {
    VMESH_MODE_EPOCH_FRESH = 0, /* background-check, evidence bound to the epoch bell */
    VMESH_MODE_FRESH = 1,       /* background-check, new evidence per session */
    VMESH_MODE_PASSPORT = 2,    /* an EAR from a trusted verifier naming the AK */
    VMESH_MODE_NONE = 3,        /* unattested (only when policy admits it) */
} vmesh_mode;

#define VMESH_MODE_BIT(m) (1u << (m))
#define VMESH_MODES_ATTESTED                                                                      \
    (VMESH_MODE_BIT(VMESH_MODE_EPOCH_FRESH) | VMESH_MODE_BIT(VMESH_MODE_FRESH) |                 \
     VMESH_MODE_BIT(VMESH_MODE_PASSPORT))

const char *vmesh_mode_name(vmesh_mode m); /* "epoch-fresh", "fresh", "passport", "none" */
vmesh_err vmesh_mode_parse(const char *s, vmesh_mode *out) VMESH_WUR;

typedef struct vmesh_policy vmesh_policy;

/* The default policy: every attested mode, overall status affirming,
 * executables and hardware affirming, evidence at most 24 h old,
 * unattested peers refused, no trusted verifier keys. */
vmesh_err vmesh_policy_default(vmesh_policy **out) VMESH_WUR;
/* Parses a policy document; `source` names it in error messages. */
vmesh_err vmesh_policy_parse(const uint8_t *json, size_t n, const char *source,
                             vmesh_policy **out) VMESH_WUR;
vmesh_err vmesh_policy_load(const char *path, vmesh_policy **out) VMESH_WUR;
vmesh_policy *vmesh_policy_ref(vmesh_policy *p);
void vmesh_policy_free(vmesh_policy *p);

const char *vmesh_policy_id(const vmesh_policy *p);
unsigned vmesh_policy_modes(const vmesh_policy *p); /* VMESH_MODE_BIT mask */
bool vmesh_policy_allows_unattested(const vmesh_policy *p);
/* "key-bound": whether a peer may attest with its TLS leaf key as AK
 * (docs/ATLS.md "Key-bound attestation", DECISIONS D38): off (default:
 * version 3 messages refused), allow (accepted, version 2 too), require
 * (a full handshake in epoch-fresh or passport mode must be key-bound). */
typedef enum { VMESH_KEYBOUND_OFF = 0, VMESH_KEYBOUND_ALLOW = 1, VMESH_KEYBOUND_REQUIRE = 2 } vmesh_keybound;
vmesh_keybound vmesh_policy_keybound(const vmesh_policy *p);
int64_t vmesh_policy_max_evidence_age(const vmesh_policy *p); /* seconds */
/* Passport mode: how many ticks of the primary epoch bell the EAR's epoch
 * marker may lag behind the tick attesters bind to now (vmesh_agent_tick_bind_at):
 * 0 = this epoch's passport only, 1 (default) = this or the previous one. */
int vmesh_policy_passport_epoch_lag(const vmesh_policy *p);
/* Trusted verifier keys for passport EARs: count, and the i-th (borrowed). */
size_t vmesh_policy_verifier_key_count(const vmesh_policy *p);
const vmesh_key *vmesh_policy_verifier_key(const vmesh_policy *p, size_t i);
/* Adds a trusted verifier key (for embedders that configure in code). */
vmesh_err vmesh_policy_add_verifier_key(vmesh_policy *p, vmesh_key *k) VMESH_WUR;
/* Verifier keys known NOT to be trusted, each with why ("verifier v-good
 * (rvp acme) left the bundle's verifier trust set"): never used to accept
 * anything; a passport signed by one is refused naming it (D40). At most
 * 64; why is copied (at most 300 bytes). */
vmesh_err vmesh_policy_add_refused_verifier(vmesh_policy *p, vmesh_key *k, const char *why) VMESH_WUR;
size_t vmesh_policy_refused_verifier_count(const vmesh_policy *p);
/* The i-th (borrowed), and its why; NULL when out of range. */
const vmesh_key *vmesh_policy_refused_verifier(const vmesh_policy *p, size_t i, const char **why);
/* True when evidence of this scheme is accepted (all, unless restricted). */
bool vmesh_policy_accepts_scheme(const vmesh_policy *p, const char *scheme);

/* Reasons a result is refused. */
typedef enum {
    VMESH_POLICY_OK = 0,
    VMESH_POLICY_MODE_REFUSED,
    VMESH_POLICY_UNATTESTED_REFUSED,
    VMESH_POLICY_STATUS_TOO_LOW,
    VMESH_POLICY_CLAIM_TOO_LOW,
    VMESH_POLICY_EVIDENCE_TOO_OLD,
    VMESH_POLICY_SCHEME_REFUSED,
} vmesh_policy_verdict;

/* Judges an appraisal outcome: mode, trust vector, evidence age (seconds,
 * < 0 when unknown). Writes a human-readable reason (may be NULL). */
vmesh_policy_verdict vmesh_policy_check(const vmesh_policy *p, vmesh_mode mode,
                                        const char *scheme, const vmesh_tv *tv,
                                        int64_t evidence_age, char *reason, size_t reason_len);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
