/*
 * The forwarding path: moving bytes between the TLS side and the plain
 * side of an established connection (px_pipe), with backpressure and
 * half-close. It knows nothing of connection states, timers, generations
 * or workers: a call moves what readiness allows and says how it ended
 * (px_fwd); the state machine (conn.c) acts on that. Everything that is
 * not forwarding (handshake, attestation, appraisal) stays out of here.
 */
#ifndef VMESH_PROXY_FORWARD_H
#define VMESH_PROXY_FORWARD_H

#include "vmesh/atls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The two sides of a connection and the bytes between them. */
typedef struct {
    int tls_fd, pl_fd;
    vmesh_atls_conn *tls;
    /* Readiness: set by epoll events, cleared by EAGAIN (edge-triggered).
     * tls_rd_on_w: a TLS read wants the socket writable first. */
    bool tls_r, tls_w, pl_r, pl_w, tls_rd_on_w;
    bool tls_eof, pl_eof, pl_shut, tls_shut;
    /* Pending bytes the other side did not take: plain -> TLS (up), TLS ->
     * plain (down). Allocated on demand, freed when empty. */
    uint8_t *up, *down;
    size_t up_len, up_off, down_len, down_off;
    uint64_t from_peer, to_peer; /* bytes from / to the TLS peer */
    uint64_t t_last;             /* monotonic ns of the last byte moved */
    int err;                     /* errno of PX_FWD_ERR_PLAIN */
} px_pipe;

typedef enum {
    PX_FWD_OPEN,         /* nothing more can move until the next event */
    PX_FWD_CLOSED,       /* both directions closed, TLS output written */
    PX_FWD_FLUSH,        /* both directions closed, TLS output still queued */
    PX_FWD_REFUSED,      /* the peer's attestation verdict on us arrived: refused */
    PX_FWD_ERR_PLAIN,    /* the plain side failed (err) */
    PX_FWD_ERR_TLS_READ, /* reading the TLS side failed (vmesh_err_detail) */
    PX_FWD_ERR_TLS,      /* writing the TLS side failed (vmesh_err_detail) */
} px_fwd;

/* Moves bytes both ways until nothing more can move, reading into buf
 * (bufsz bytes, also the cap of a pending buffer). */
px_fwd px_forward(px_pipe *pp, uint8_t *buf, size_t bufsz);
/* Frees the pending buffers. */
void px_pipe_clear(px_pipe *pp);

#endif
