/*
 * In-band re-attestation of proxied connections (docs/PROXY.md
 * "Re-attestation", docs/ATLS.md "Re-attestation on an established
 * connection"). A connection that negotiated the in-band stream carries a
 * px_rt beside its state: a second timer (apart from the state timer) that
 * asks the peer for a new attestation every `reattestation.every` and, at
 * each new tick of the epoch bell, once within a jittered window; atls
 * sends the request, judges the answer as it arrives between data frames
 * and fails the connection on a refused or late answer. This file decides
 * when to ask, counts what happened (metrics) and words the cut; conn.c
 * only calls it. It must never forward a byte, never block, and never ask
 * a peer that did not attest at the handshake.
 */
#ifndef VMESH_PROXY_REATTEST_H
#define VMESH_PROXY_REATTEST_H

#include "worker.h"

typedef struct {
    px_timer timer;         /* the re-attestation clock of this connection */
    uint64_t next_ns;       /* next periodic request (monotonic ns; 0: none) */
    uint64_t tick_ns;       /* the request for a new bell tick, jittered (0: none) */
    uint64_t tick_seen;     /* the newest bell tick this connection knows of */
    uint64_t accepted_seen; /* re-attestation rounds already counted */
    bool on;                /* in-band stream negotiated and the peer attested */
} px_rt;

/* A connection's clock, not armed; fn fires it. */
void px_rt_init(px_rt *rt, px_timer_fn *fn);
/* Forwarding starts: arms the clock when cfg asks for re-attestation and
 * the connection negotiated it. False when the timer heap is out of memory. */
bool px_rt_start(px_rt *rt, px_worker *w, const vmesh_proxy_config *cfg, vmesh_atls_conn *tls);
/* The clock fired: cuts a late peer (the error: see px_rt_cut), sends what
 * is due, re-arms. */
vmesh_err px_rt_run(px_rt *rt, px_worker *w, const vmesh_proxy_config *cfg,
                    vmesh_atls_conn *tls, int dir) VMESH_WUR;
/* The bell rang tick `tick`: one request within reattestation.jitter
 * after due_ns (monotonic; when attesters bind to the tick). */
void px_rt_tick(px_rt *rt, px_worker *w, const vmesh_proxy_config *cfg, vmesh_atls_conn *tls,
                uint64_t tick, uint64_t due_ns);
/* After bytes moved: counts rounds the peer passed since the last call;
 * true when one did (the peer's result changed). */
bool px_rt_progress(px_rt *rt, struct vmesh_proxy *p, vmesh_atls_conn *tls, int dir);
void px_rt_stop(px_rt *rt, px_worker *w);
/* When the connection failed in re-attestation (atls says so): its
 * wording in reason, counted once in the metrics; false otherwise. */
bool px_rt_cut(struct vmesh_proxy *p, vmesh_atls_conn *tls, char *reason, size_t n);

/* Control thread, about every 100 ms: publishes a new bell tick to the
 * workers (p->bell_tick, with p->bell_tick_due_ns) and wakes them. */
void px_rt_watch_bell(struct vmesh_proxy *p);

#endif
