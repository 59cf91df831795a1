/*
 * The issuer's exchange over an established attested connection: one
 * u32-length-prefixed payload each way, on a non-blocking socket, every
 * wait bounded by the exchange's deadline, every length checked against
 * its cap before anything is allocated.
 */
#include "issuer_int.h"

#include <poll.h>

static int wait_ms(uint64_t deadline_ns)
{
    uint64_t now = vmesh_time_mono_ns();

    if (now >= deadline_ns)
        return 0;
    return (int)((deadline_ns - now) / 1000000 + 1);
}

static vmesh_err wait_io(int fd, vmesh_err want, uint64_t deadline_ns, const char *what)
{
    struct pollfd p = {fd, want == VMESH_ERR_WANT_WRITE ? POLLOUT : POLLIN, 0};
    int ms = wait_ms(deadline_ns);

    if (ms <= 0 || poll(&p, 1, ms) == 0)
        return vmesh_err_set(VMESH_ERR_TIMEOUT, "issuer exchange: no %s before the deadline", what);
    return VMESH_OK;
}

static vmesh_err read_n(vmesh_atls_conn *conn, int fd, uint8_t *p, size_t n, uint64_t deadline_ns, bool first)
{
    vmesh_err rc = VMESH_OK;
    size_t off = 0, got;

    while (off < n) {
        rc = vmesh_atls_read(conn, p + off, n - off, &got);
        if (rc == VMESH_OK) {
            off += got;
        } else if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
            VMESH_GUARD(wait_io(fd, rc, deadline_ns, "request or answer"));
        } else {
            if (rc == VMESH_ERR_CLOSED && !(first && off == 0))
                rc = vmesh_err_set(VMESH_ERR_PARSE, "issuer exchange: the peer closed in the middle of a message");
            goto out;
        }
    }
out:
    return rc;
}

vmesh_err iss_read_msg(vmesh_atls_conn *conn, int fd, size_t cap, uint64_t deadline_ns, vmesh_buf *out,
                       size_t *announced)
{
    vmesh_err rc = VMESH_OK;
    uint8_t h[4];
    size_t n;

    *announced = 0;
    vmesh_buf_reset(out);
    VMESH_GUARD(read_n(conn, fd, h, 4, deadline_ns, true));
    n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    *announced = n;
    VMESH_ENSURE(n <= cap, VMESH_ERR_TOO_LARGE, "issuer exchange: a message of %zu bytes is above the cap of %zu", n,
                 cap);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "issuer exchange: an empty message");
    VMESH_GUARD(vmesh_buf_reserve(out, n));
    VMESH_GUARD(read_n(conn, fd, out->data, n, deadline_ns, false));
    out->len = n;
out:
    return rc;
}

vmesh_err iss_write_msg(vmesh_atls_conn *conn, int fd, const uint8_t *p, size_t n, uint64_t deadline_ns)
{
    vmesh_err rc = VMESH_OK;
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

    while ((rc = vmesh_atls_write(conn, h, 4)) == VMESH_ERR_WANT_WRITE)
        VMESH_GUARD(wait_io(fd, VMESH_ERR_WANT_WRITE, deadline_ns, "room to write"));
    VMESH_GUARD(rc);
    while ((rc = vmesh_atls_write(conn, p, n)) == VMESH_ERR_WANT_WRITE)
        VMESH_GUARD(wait_io(fd, VMESH_ERR_WANT_WRITE, deadline_ns, "room to write"));
    VMESH_GUARD(rc);
    while ((rc = vmesh_atls_flush(conn)) == VMESH_ERR_WANT_WRITE)
        VMESH_GUARD(wait_io(fd, VMESH_ERR_WANT_WRITE, deadline_ns, "room to write"));
out:
    return rc;
}

vmesh_err iss_handshake(vmesh_atls_conn *conn, int fd)
{
    vmesh_err rc;

    while ((rc = vmesh_atls_handshake(conn)) == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
        struct pollfd p = {fd, rc == VMESH_ERR_WANT_READ ? POLLIN : POLLOUT, 0};
        int64_t t = vmesh_atls_timeout_ms(conn);

        (void)poll(&p, 1, t < 0 ? 1000 : (int)(t > 100000 ? 100000 : t) + 1);
    }
    return rc;
}
