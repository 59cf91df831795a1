/*
 * The handshake pool (issue 13.1, 12.5): threads that run the attested
 * handshake steps of every worker's connections (TLS crypto, producing our
 * evidence, appraising the peer's, a central verifier's round trip), so
 * that a worker's thread only forwards bytes, accepts and keeps timers.
 * A worker submits a px_job (worker.h); a pool thread runs it and posts it
 * back to that worker. One FIFO queue for all workers; past
 * limits.handshake-queue waiting jobs the workers stop accepting for a
 * moment (p->hs_backlogged), so new connections wait in the kernel's
 * accept queue instead of in memory. docs/PROXY.md, "Handshakes off the
 * forwarding path".
 */
#ifndef VMESH_PROXY_HSPOOL_H
#define VMESH_PROXY_HSPOOL_H

#include "worker.h"

/* Threads when limits.handshake-threads is 0: four per CPU (at least 4),
 * sixteen per CPU with verifier.central (those threads mostly wait for
 * the verifier's answer). */
uint32_t px_hs_threads(const vmesh_proxy_config *cfg);
/* Steps that run at once (D50): the threads, at most four per CPU (at
 * least 4). The rest of a larger pool is there for steps that wait for the
 * central verifier, which do not count while they wait. */
uint32_t px_hs_running(const vmesh_proxy_config *cfg);
/* Around a pool step's blocking wait for the central verifier: while it
 * waits, another queued step may run. No-ops outside a pool thread. */
void px_hspool_wait_begin(void);
void px_hspool_wait_end(void);

/* Creates the pool for p (p->hs) and starts its threads. */
vmesh_err px_hspool_start(struct vmesh_proxy *p, const vmesh_proxy_config *cfg) VMESH_WUR;
/* Queues j (j->w set by the caller); never fails, never blocks. */
void px_hspool_submit(struct vmesh_proxy *p, px_job *j);
/* Stops the threads after their current job; jobs still queued are
 * posted back cancelled. Then frees the pool. Idempotent. */
void px_hspool_stop(struct vmesh_proxy *p);

#endif
