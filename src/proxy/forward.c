/*
 * The forwarding path (forward.h). Each side is read into the worker's
 * scratch buffer and written straight to the other side; only what the
 * other side does not take is copied into that direction's pending buffer,
 * and while a direction has pending bytes its source is not read, so TCP
 * flow control slows the sender (backpressure). EOF on one side becomes a
 * half-close on the other: close_notify on TLS, shutdown(SHUT_WR) on the
 * plain socket. It must never block, never read a side whose peer buffer
 * is full, and never be reached before the attested handshake completed.
 */
#define _GNU_SOURCE
#include "forward.h"

#include "vmesh/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Sends to the plain side; returns bytes sent, 0 on EAGAIN, -1 on error. */
static ssize_t plain_send(px_pipe *pp, const uint8_t *b, size_t n)
{
    ssize_t s;

    do
        s = send(pp->pl_fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (s < 0 && errno == EINTR);
    if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pp->pl_w = false;
        return 0;
    }
    return s;
}

/* A TLS read that could not go on: which readiness it waits for. */
static void tls_wait(px_pipe *pp, vmesh_err rc)
{
    if (rc == VMESH_ERR_WANT_READ) {
        pp->tls_r = false;
    } else if (rc == VMESH_ERR_WANT_WRITE) {
        pp->tls_w = pp->tls_r = false;
        pp->tls_rd_on_w = true;
    }
}

/* TLS -> plain: the pending bytes first, then one batch of records. */
static px_fwd tls_to_plain(px_pipe *pp, uint8_t *buf, size_t bufsz, bool *progress)
{
    vmesh_err rc;
    size_t got = 0, more;

    if (pp->down_len > pp->down_off && pp->pl_w) {
        ssize_t s = plain_send(pp, pp->down + pp->down_off, pp->down_len - pp->down_off);
        if (s < 0)
            return PX_FWD_ERR_PLAIN;
        if (s > 0) {
            pp->down_off += (size_t)s;
            *progress = true;
            if (pp->down_off == pp->down_len) {
                free(pp->down);
                pp->down = NULL;
                pp->down_len = pp->down_off = 0;
            }
        }
    }
    if (pp->down_len != 0 || pp->tls_eof || !pp->tls_r)
        return PX_FWD_OPEN;
    /* One TLS record per read: gather what is there up to the buffer
     * size, then one send. */
    rc = vmesh_atls_read(pp->tls, buf, bufsz, &got);
    while (rc == VMESH_OK && got > 0 && got + 4096 <= bufsz) {
        vmesh_err rc2 = vmesh_atls_read(pp->tls, buf + got, bufsz - got, &more);
        if (rc2 != VMESH_OK) {
            tls_wait(pp, rc2); /* EOF and errors are seen again by the next read */
            break;
        }
        got += more;
    }
    if (rc == VMESH_OK && got > 0) {
        ssize_t s = pp->pl_w ? plain_send(pp, buf, got) : 0;
        if (s < 0)
            return PX_FWD_ERR_PLAIN;
        pp->from_peer += got;
        if ((size_t)s < got) {
            pp->down = malloc(got - (size_t)s);
            if (pp->down == NULL)
                return PX_FWD_ERR_PLAIN;
            memcpy(pp->down, buf + s, got - (size_t)s);
            pp->down_len = got - (size_t)s;
            pp->down_off = 0;
        }
        *progress = true;
    } else if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
        tls_wait(pp, rc);
    } else if (rc == VMESH_ERR_CLOSED) {
        pp->tls_eof = true;
        *progress = true;
    } else if (rc == VMESH_ERR_POLICY) {
        return PX_FWD_REFUSED;
    } else if (rc != VMESH_OK) {
        return PX_FWD_ERR_TLS_READ;
    }
    return PX_FWD_OPEN;
}

/* plain -> TLS: the pending bytes first, then one read. */
static px_fwd plain_to_tls(px_pipe *pp, uint8_t *buf, size_t bufsz, bool *progress)
{
    vmesh_err rc;
    ssize_t n;

    if (pp->up_len > pp->up_off && pp->tls_w) {
        rc = vmesh_atls_write(pp->tls, pp->up + pp->up_off, pp->up_len - pp->up_off);
        if (rc == VMESH_OK) {
            free(pp->up);
            pp->up = NULL;
            pp->up_len = pp->up_off = 0;
            *progress = true;
        } else if (rc == VMESH_ERR_WANT_WRITE) {
            pp->tls_w = false;
        } else {
            return PX_FWD_ERR_TLS;
        }
    }
    if (pp->up_len != 0 || pp->pl_eof || !pp->pl_r)
        return PX_FWD_OPEN;
    do
        n = recv(pp->pl_fd, buf, bufsz, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        pp->to_peer += (size_t)n;
        *progress = true;
        rc = vmesh_atls_write(pp->tls, buf, (size_t)n);
        if (rc == VMESH_ERR_WANT_WRITE) {
            pp->up = malloc((size_t)n);
            if (pp->up == NULL)
                return PX_FWD_ERR_PLAIN;
            memcpy(pp->up, buf, (size_t)n);
            pp->up_len = (size_t)n;
            pp->up_off = 0;
            pp->tls_w = false;
        } else if (rc != VMESH_OK) {
            return PX_FWD_ERR_TLS;
        }
    } else if (n == 0) {
        pp->pl_eof = true;
        *progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pp->pl_r = false;
    } else {
        return PX_FWD_ERR_PLAIN;
    }
    return PX_FWD_OPEN;
}

px_fwd px_forward(px_pipe *pp, uint8_t *buf, size_t bufsz)
{
    bool progress = true;
    px_fwd r;
    vmesh_err rc;

    while (progress) {
        progress = false;
        r = tls_to_plain(pp, buf, bufsz, &progress);
        if (r != PX_FWD_OPEN)
            goto fail;
        if (pp->tls_eof && pp->down_len == 0 && !pp->pl_shut) {
            (void)shutdown(pp->pl_fd, SHUT_WR);
            pp->pl_shut = true;
            progress = true;
        }
        r = plain_to_tls(pp, buf, bufsz, &progress);
        if (r != PX_FWD_OPEN)
            goto fail;
        if (pp->pl_eof && pp->up_len == 0 && !pp->tls_shut) {
            rc = vmesh_atls_shutdown(pp->tls);
            if (rc != VMESH_OK && rc != VMESH_ERR_WANT_WRITE)
                return PX_FWD_ERR_TLS;
            pp->tls_shut = true;
            progress = true;
        }
        if (progress)
            pp->t_last = vmesh_time_mono_ns();
    }
    if (pp->tls_w) {
        rc = vmesh_atls_flush(pp->tls);
        if (rc == VMESH_ERR_WANT_WRITE)
            pp->tls_w = false;
        else if (rc != VMESH_OK)
            return PX_FWD_ERR_TLS;
    }
    if (pp->tls_eof && pp->pl_shut && pp->pl_eof && pp->tls_shut)
        return vmesh_atls_flush(pp->tls) == VMESH_ERR_WANT_WRITE ? PX_FWD_FLUSH : PX_FWD_CLOSED;
    return PX_FWD_OPEN;
fail:
    if (r == PX_FWD_ERR_PLAIN)
        pp->err = errno;
    return r;
}

void px_pipe_clear(px_pipe *pp)
{
    free(pp->up);
    free(pp->down);
    pp->up = pp->down = NULL;
    pp->up_len = pp->up_off = pp->down_len = pp->down_off = 0;
}
