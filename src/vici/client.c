/*
 * The vici client: one unix-socket connection to charon, one command at a
 * time ("There is no sequence number to associate responses to requests,
 * so only one command can be active at a time on a single connection"),
 * streamed events delivered while a command runs. Every read and write has
 * a deadline; a segment length is checked against 512 KiB before anything
 * is allocated. After a transport or framing error the connection is
 * marked broken, since we can no longer tell where the next packet starts.
 */
#define _GNU_SOURCE
#include "vmesh/vici.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct vmesh_vici {
    int fd;
    int timeout_ms;
    bool broken;
};

void vmesh_vici_set_timeout(vmesh_vici *v, int timeout_ms)
{
    v->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
}

vmesh_err vmesh_vici_connect(const char *uri, int timeout_ms, vmesh_vici **out)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_un sa;
    const char *path = uri;
    vmesh_vici *v = NULL;

    *out = NULL;
    if (uri != NULL && strncmp(uri, "unix://", 7) == 0)
        path = uri + 7;
    VMESH_ENSURE(path != NULL && path[0] == '/', VMESH_ERR_ARG,
                 "vici socket \"%s\": give unix:///path/to/charon.vici or an absolute path",
                 uri ? uri : "");
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    VMESH_ENSURE(strlen(path) < sizeof(sa.sun_path), VMESH_ERR_ARG,
                 "vici socket path \"%s\" is too long", path);
    memcpy(sa.sun_path, path, strlen(path));
    v = calloc(1, sizeof(*v));
    VMESH_ENSURE(v != NULL, VMESH_ERR_NOMEM, "out of memory");
    vmesh_vici_set_timeout(v, timeout_ms);
    v->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    VMESH_ENSURE(v->fd >= 0, VMESH_ERR_IO, "vici: socket: %s", strerror(errno));
    /* A unix connect does not block on a listening socket (the backlog
     * answers); a full backlog returns EAGAIN only for non-blocking
     * sockets, so a blocking connect here is bounded by charon itself. */
    VMESH_ENSURE(
        connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, VMESH_ERR_IO,
        "cannot connect to charon's vici socket %s: %s (is charon running with the vici plugin, "
        "and is this its plugins.vici.socket?)",
        path, strerror(errno));
    *out = v;
    v = NULL;
out:
    vmesh_vici_close(v);
    return rc;
}

void vmesh_vici_close(vmesh_vici *v)
{
    if (v == NULL)
        return;
    if (v->fd >= 0)
        close(v->fd);
    free(v);
}

static vmesh_err wait_fd(vmesh_vici *v, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = vmesh_time_mono_ns();
        struct pollfd pfd = {v->fd, events, 0};
        int left, r;

        if (now >= deadline)
            return vmesh_err_set(VMESH_ERR_TIMEOUT, "vici: charon did not answer within %d ms",
                                 v->timeout_ms);
        left = (int)((deadline - now) / 1000000u) + 1;
        r = poll(&pfd, 1, left);
        if (r > 0)
            return VMESH_OK;
        if (r < 0 && errno != EINTR)
            return vmesh_err_set(VMESH_ERR_IO, "vici: poll: %s", strerror(errno));
    }
}

static vmesh_err write_all(vmesh_vici *v, const uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(v->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            vmesh_err rc = wait_fd(v, POLLOUT, deadline);
            if (rc != VMESH_OK)
                return rc;
            continue;
        }
        return vmesh_err_set(VMESH_ERR_IO, "vici: write: %s",
                             w < 0 ? strerror(errno) : "nothing written");
    }
    return VMESH_OK;
}

static vmesh_err read_all(vmesh_vici *v, uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        ssize_t r = recv(v->fd, p, n, MSG_DONTWAIT);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0)
            return vmesh_err_set(VMESH_ERR_CLOSED, "vici: charon closed the connection");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            vmesh_err rc = wait_fd(v, POLLIN, deadline);
            if (rc != VMESH_OK)
                return rc;
            continue;
        }
        return vmesh_err_set(VMESH_ERR_IO, "vici: read: %s", strerror(errno));
    }
    return VMESH_OK;
}

static uint64_t deadline_of(const vmesh_vici *v)
{
    return vmesh_time_mono_ns() + (uint64_t)v->timeout_ms * 1000000u;
}

/* Sends one segment: type, optional name, optional message. */
static vmesh_err send_packet(vmesh_vici *v, uint8_t type, const char *name, const vmesh_buf *msg)
{
    vmesh_err rc = VMESH_OK;
    size_t nl = name ? strlen(name) : 0, ml = msg ? msg->len : 0, total;
    uint8_t hdr[4 + 2 + VMESH_VICI_NAME_MAX];
    size_t hl = 0;

    VMESH_ENSURE(nl <= VMESH_VICI_NAME_MAX, VMESH_ERR_ARG, "vici: name \"%s\" too long", name);
    total = 1 + (name ? 1 + nl : 0) + ml;
    VMESH_ENSURE(total <= VMESH_VICI_PACKET_MAX, VMESH_ERR_TOO_LARGE,
                 "vici: request of %zu bytes (at most %zu)", total, VMESH_VICI_PACKET_MAX);
    hdr[hl++] = (uint8_t)(total >> 24);
    hdr[hl++] = (uint8_t)(total >> 16);
    hdr[hl++] = (uint8_t)(total >> 8);
    hdr[hl++] = (uint8_t)total;
    hdr[hl++] = type;
    if (name) {
        hdr[hl++] = (uint8_t)nl;
        memcpy(hdr + hl, name, nl);
        hl += nl;
    }
    {
        uint64_t dl = deadline_of(v);
        VMESH_GUARD(write_all(v, hdr, hl, dl));
        if (ml)
            VMESH_GUARD(write_all(v, msg->data, ml, dl));
    }
out:
    return rc;
}

/* Reads one segment into buf (reset first). */
static vmesh_err recv_packet(vmesh_vici *v, vmesh_buf *buf, vmesh_vici_packet *pkt)
{
    vmesh_err rc = VMESH_OK;
    uint8_t hdr[4];
    size_t len;
    uint64_t dl = deadline_of(v);

    vmesh_buf_reset(buf);
    VMESH_GUARD(read_all(v, hdr, 4, dl));
    len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    VMESH_ENSURE(len > 0 && len <= VMESH_VICI_PACKET_MAX, VMESH_ERR_PARSE,
                 "vici: segment length %zu (1..%zu allowed)", len, VMESH_VICI_PACKET_MAX);
    VMESH_GUARD(vmesh_buf_reserve(buf, len));
    VMESH_GUARD(read_all(v, buf->data, len, dl));
    buf->len = len;
    VMESH_GUARD(vmesh_vici_packet_parse(buf->data, buf->len, pkt));
out:
    return rc;
}

/* Registers or unregisters an event; events of other kinds that arrive in
 * between cannot happen (we register for nothing else). */
static vmesh_err event_ctl(vmesh_vici *v, uint8_t type, const char *event, vmesh_buf *buf)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_packet pkt;

    VMESH_GUARD(send_packet(v, type, event, NULL));
    for (;;) {
        VMESH_GUARD(recv_packet(v, buf, &pkt));
        if (pkt.type == VMESH_VICI_EVENT)
            continue; /* a late event of the stream we are leaving */
        break;
    }
    if (pkt.type == VMESH_VICI_EVENT_UNKNOWN) {
        rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED, "vici: charon does not know the event \"%s\"",
                           event);
        goto out; /* well-formed answer: the connection stays usable */
    }
    VMESH_ENSURE(pkt.type == VMESH_VICI_EVENT_CONFIRM, VMESH_ERR_PARSE,
                 "vici: expected an event confirmation for \"%s\", got packet type %u", event,
                 pkt.type);
    return VMESH_OK;
out:
    if (rc != VMESH_ERR_UNSUPPORTED)
        v->broken = true;
    return rc;
}

vmesh_err vmesh_vici_call_stream(vmesh_vici *v, const char *cmd, const vmesh_vici_builder *req,
                                 const char *event, vmesh_vici_event_fn cb, void *ctx,
                                 vmesh_vici_msg **resp)
{
    vmesh_err rc = VMESH_OK, cb_rc = VMESH_OK;
    vmesh_buf buf;
    vmesh_vici_packet pkt;
    vmesh_vici_msg *m = NULL;
    bool registered = false;

    *resp = NULL;
    vmesh_buf_init(&buf, VMESH_VICI_PACKET_MAX);
    VMESH_ENSURE(!v->broken, VMESH_ERR_STATE,
                 "vici: the connection is out of step after an earlier error");
    if (req != NULL)
        VMESH_GUARD(vmesh_vici_build_end(req));
    if (event != NULL) {
        VMESH_GUARD(event_ctl(v, VMESH_VICI_EVENT_REGISTER, event, &buf));
        registered = true;
    }
    rc = send_packet(v, VMESH_VICI_CMD_REQUEST, cmd, req ? &req->buf : NULL);
    if (rc != VMESH_OK) {
        v->broken = true;
        goto out;
    }
    for (;;) {
        rc = recv_packet(v, &buf, &pkt);
        if (rc != VMESH_OK) {
            v->broken = true;
            goto out;
        }
        if (pkt.type == VMESH_VICI_EVENT && event != NULL && strcmp(pkt.name, event) == 0) {
            vmesh_vici_msg *ev = NULL;
            rc = vmesh_vici_msg_parse(pkt.msg, pkt.msg_len, &ev);
            if (rc != VMESH_OK) {
                v->broken = true;
                goto out;
            }
            if (cb_rc == VMESH_OK && cb != NULL)
                cb_rc = cb(ctx, ev);
            vmesh_vici_msg_free(ev);
            continue;
        }
        if (pkt.type == VMESH_VICI_CMD_UNKNOWN) {
            rc = vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                               "vici: charon does not know the command \"%s\"", cmd);
            break;
        }
        if (pkt.type != VMESH_VICI_CMD_RESPONSE) {
            v->broken = true;
            VMESH_FAIL(VMESH_ERR_PARSE,
                       "vici: unexpected packet type %u while waiting for the answer to \"%s\"",
                       pkt.type, cmd);
        }
        rc = vmesh_vici_msg_parse(pkt.msg, pkt.msg_len, &m);
        if (rc != VMESH_OK)
            v->broken = true;
        break;
    }
out:
    if (registered && !v->broken) {
        vmesh_err urc = event_ctl(v, VMESH_VICI_EVENT_UNREGISTER, event, &buf);
        if (rc == VMESH_OK)
            rc = urc;
    }
    if (rc == VMESH_OK && cb_rc != VMESH_OK)
        rc = cb_rc;
    if (rc == VMESH_OK) {
        *resp = m;
        m = NULL;
    }
    vmesh_vici_msg_free(m);
    vmesh_buf_free(&buf);
    return rc;
}

vmesh_err vmesh_vici_call(vmesh_vici *v, const char *cmd, const vmesh_vici_builder *req,
                          vmesh_vici_msg **resp)
{
    return vmesh_vici_call_stream(v, cmd, req, NULL, NULL, NULL, resp);
}

vmesh_err vmesh_vici_check(const vmesh_vici_msg *resp, const char *what)
{
    const vmesh_vici_node *root = vmesh_vici_msg_root(resp);
    const char *ok = vmesh_vici_node_str(root, "success");
    const char *msg = vmesh_vici_node_str(root, "errmsg");

    if (ok != NULL && strcmp(ok, "yes") == 0)
        return VMESH_OK;
    return vmesh_err_set(VMESH_ERR_STATE, "%s: charon says: %s", what,
                         msg ? msg : "failed (no errmsg)");
}
