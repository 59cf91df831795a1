/*
 * vmesh rvp: what Reference Value Providers publish and what verifiers pull
 * (DESIGN §5). This part: the epoch bell — a signed, periodically rotated
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
/* The current tick (for attesters); VMESH_ERR_NOT_FOUND before the first. */
vmesh_err vmesh_bell_view_current(vmesh_bell_view *v, vmesh_bell *out) VMESH_WUR;
/* Is (id, nonce) the current or the previous tick, and still valid? On
 * success *issued_at (may be NULL) is that tick's issue time: evidence bound
 * to it cannot be older. */
vmesh_err vmesh_bell_view_check(vmesh_bell_view *v, uint64_t id, const uint8_t *nonce, size_t nonce_len,
                                int64_t now, int64_t *issued_at) VMESH_WUR;
/* Changes whenever the current tick changes (cache invalidation). */
uint64_t vmesh_bell_view_generation(vmesh_bell_view *v);

#ifdef __cplusplus
}
#endif
#endif
